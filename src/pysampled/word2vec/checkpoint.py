"""Checkpoints of the word2vec trainer: one ``.npz`` file, written atomically.

A checkpoint holds the vectors, the vocabulary and its counts, the optimizer
state of the nce / sampled-softmax variants, the negatives' stream position,
and a JSON ``meta`` record (format version, configuration, progress,
history). :func:`load_checkpoint` refuses anything else with ``ValueError``.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Dict, Optional, Type, TypeVar

import numpy as np

from .._atomic import atomic_write
from .arrays import aligned_zeros
from .corpus import PathLike
from .options import CONFIG_KEYS

if TYPE_CHECKING:
    from .state import Word2VecState

    Model = TypeVar("Model", bound=Word2VecState)

__all__ = ["CHECKPOINT_VERSION", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_VERSION = 1


def save_checkpoint(self: Word2VecState, path: PathLike) -> None:
    """Write model `self`'s checkpoint (atomically: a temporary file, fsync, rename)."""
    if self._sampler is not None:
        self.sampler_state = [int(x) for x in self._sampler.get_state()["generator"]]
    meta = {"version": CHECKPOINT_VERSION, "config": self.config(),
            "progress": self.progress, "history": self.history,
            "sampler_state": self.sampler_state}
    arrays: Dict[str, Any] = dict(syn0=self.syn0, syn1=self.syn1, bias=self.bias,
                                  counts=self.counts, words=np.array(self.words, dtype=str),
                                  meta=np.array(json.dumps(meta)))
    if self.accum0 is not None:  # set together with accum1/accum_bias
        arrays.update(accum0=self.accum0, accum1=self.accum1, accum_bias=self.accum_bias)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def load_checkpoint(cls: Type[Model], path: PathLike, *, num_threads: Optional[int] = None
                    ) -> Model:
    """A model of class `cls` from a checkpoint written by :func:`save_checkpoint`
    (training can go on, given the same corpus). Anything that is not such a
    checkpoint raises ``ValueError``."""
    where = os.fspath(path)
    try:
        if os.path.isdir(where):
            raise ValueError("it is a directory")
        with open(where, "rb") as f:
            magic = f.read(4)
        if magic != b"PK\x03\x04":
            raise ValueError("it is not a pysampled checkpoint (not an .npz file)")
        with np.load(where, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise ValueError("it is not a pysampled checkpoint (no 'meta' record)")
            meta = json.loads(str(z["meta"]))
            _check_meta(meta)
            obj = cls(**meta["config"], num_threads=num_threads)
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except ValueError as e:
        if "allow_pickle" in str(e):  # NumPy's advice would be wrong here: never unpickle
            e = ValueError("it holds Python objects, which a checkpoint never does")
        raise ValueError(f"cannot read checkpoint {where!r}: {e}") from e
    except FileNotFoundError:
        raise
    except Exception as e:  # zipfile, json, npy and constructor errors
        raise ValueError(f"cannot read checkpoint {where!r}: {type(e).__name__}: {e}") from e
    try:
        words = [str(w) for w in arrays["words"]]
        v, stride = len(words), obj.stride
        for name in ("syn0", "syn1"):
            if arrays[name].shape != (v, stride) or arrays[name].dtype != np.float32:
                raise ValueError(f"{name} has shape {arrays[name].shape}, expected {(v, stride)}")
        if arrays["bias"].shape != (v,) or arrays["counts"].shape != (v,):
            raise ValueError("bias or counts do not match the vocabulary")
        obj.syn0 = aligned_zeros((v, stride))
        obj.syn0[...] = arrays["syn0"]
        obj.syn1 = aligned_zeros((v, stride))
        obj.syn1[...] = arrays["syn1"]
        obj.bias = np.array(arrays["bias"], dtype=np.float32)
        obj.counts = np.array(arrays["counts"], dtype=np.int64)
        obj.words = words
        if "accum0" in arrays:
            obj.accum0 = np.array(arrays["accum0"], dtype=np.float32)
            obj.accum1 = np.array(arrays["accum1"], dtype=np.float32)
            obj.accum_bias = np.array(arrays["accum_bias"], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"checkpoint {where!r} is inconsistent: {e}") from e
    obj.index = {w: i for i, w in enumerate(obj.words)}
    obj.progress = dict(meta["progress"])
    obj.history = [dict(h) for h in meta["history"]]
    obj.sampler_state = meta.get("sampler_state")
    return obj


def _check_meta(meta: Any) -> None:
    """The JSON part of a checkpoint must have the fields and types save() writes."""
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"unsupported checkpoint version {meta.get('version')!r}")
    config, progress, history = meta.get("config"), meta.get("progress"), meta.get("history")
    if not isinstance(config, dict):
        raise ValueError("config is not a JSON object")
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    for key in ("dim", "window", "negative", "min_count", "epochs", "seed", "group_size",
                "num_sampled", "batch_size", "chunk_words"):
        if key in config and (type(config[key]) is not int):
            raise ValueError(f"config {key!r} must be an integer, got {config[key]!r}")
    if not isinstance(progress, dict):
        raise ValueError("progress is not a JSON object")
    for key in ("epoch", "chunk", "words_done", "pairs", "corpus_tokens", "corpus_sentences"):
        if type(progress.get(key)) is not int or progress[key] < 0:
            raise ValueError(f"progress {key!r} must be a non-negative integer")
    if type(progress.get("loss")) not in (int, float):
        raise ValueError("progress 'loss' must be a number")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ValueError("history must be a list of objects")
    state = meta.get("sampler_state")
    if state is not None and not (isinstance(state, list) and len(state) == 6
                                  and all(type(x) is int for x in state)):
        raise ValueError("sampler_state must be six integers")
