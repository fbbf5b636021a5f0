"""The options of a :class:`~pysampled.word2vec.Word2Vec` model: their types,
checks and defaults, and the deprecated ``threads`` name.

Design: :class:`Word2Vec`'s constructor takes every option by keyword and
calls the checks here, in the order of its signature, so a wrong value fails
before any work with the message the bad-input sweep expects; the model then
holds each option as an attribute of the same name. :data:`CONFIG_KEYS` are
the options a checkpoint records (all but the thread count, which belongs to
the machine, not to the model).
"""
from __future__ import annotations

import warnings
from typing import Any, Generic, Literal, Optional, TypeVar, cast, overload

import numpy as np

from .._validation import as_int, int_at_least

__all__ = ["ModelName", "LossName", "CONFIG_KEYS", "check_model", "check_loss",
           "check_negative", "check_sample", "learning_rates", "optional_size", "check_finite",
           "check_seed", "thread_keyword", "DeprecatedAlias"]

#: The architectures: skip-gram predicts the context from a word, CBOW the word from its context.
ModelName = Literal["skipgram", "cbow"]
#: The objectives: word2vec's negative sampling, or TF's NCE / sampled softmax.
LossName = Literal["negative", "nce", "sampled_softmax"]

#: The options a checkpoint records, in the order ``Word2Vec.config()`` lists them.
CONFIG_KEYS = ("model", "loss", "dim", "window", "negative", "min_count", "sample", "alpha",
               "min_alpha", "epochs", "cbow_mean", "max_vocab_size", "seed", "deterministic",
               "group_size", "num_sampled", "batch_size", "chunk_words", "max_final_vocab",
               "ns_exponent", "shrink_windows")


def check_model(model: str) -> ModelName:
    if model not in ("skipgram", "cbow"):
        raise ValueError(f"model must be 'skipgram' or 'cbow', got {model!r}")
    return cast(ModelName, model)


def check_loss(loss: str) -> LossName:
    if loss not in ("negative", "nce", "sampled_softmax"):
        raise ValueError(f"loss must be 'negative', 'nce' or 'sampled_softmax', got {loss!r}")
    return cast(LossName, loss)


def check_negative(negative: int, loss: LossName) -> int:
    """Noise words per window: 0..62, and at least 1 for negative sampling."""
    n = as_int(negative, "negative")
    if not 0 <= n <= 62:
        raise ValueError("negative must be between 0 and 62")
    if loss == "negative" and n == 0:
        raise ValueError("loss='negative' needs negative >= 1")
    return n


def check_sample(sample: float) -> float:
    value = float(sample)
    if not value >= 0:
        raise ValueError("sample must be >= 0")
    return value


def learning_rates(alpha: Optional[float], min_alpha: float, model: ModelName, loss: LossName
                   ) -> tuple[float, float]:
    """(alpha, min_alpha), with word2vec's default alpha (0.025 for skip-gram,
    0.05 for CBOW) for negative sampling and Adagrad's 1.0 for the batch losses."""
    if alpha is None:
        alpha = 1.0 if loss != "negative" else (0.05 if model == "cbow" else 0.025)
    a, lo = float(alpha), float(min_alpha)
    if not (a > 0 and 0 <= lo <= a):
        raise ValueError("need alpha > 0 and 0 <= min_alpha <= alpha")
    return a, lo


def optional_size(value: Optional[int], name: str) -> Optional[int]:
    """None, or an integer >= 1."""
    return None if value is None else int_at_least(value, name)


def check_finite(value: float, name: str) -> float:
    x = float(value)
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite")
    return x


def check_seed(seed: int) -> int:
    s = as_int(seed, "seed")
    if not 0 <= s < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {s}")
    return s


def thread_keyword(num_threads: Optional[int], threads: Optional[int], where: str
                   ) -> Optional[int]:
    """``num_threads``, or the deprecated ``threads`` given in its place
    (a DeprecationWarning; both at once is a TypeError)."""
    if threads is None:
        return num_threads
    if num_threads is not None:
        raise TypeError(f"{where} got both num_threads= and its deprecated name threads=")
    warnings.warn(f"{where}(threads=...) is deprecated; use num_threads=...",
                  DeprecationWarning, stacklevel=3)
    return threads


T = TypeVar("T")


class DeprecatedAlias(Generic[T]):
    """A class attribute that reads and writes another attribute under an old
    name, with a DeprecationWarning (``Word2Vec.threads`` -> ``num_threads``)."""

    def __init__(self, new_name: str) -> None:
        self.new_name = new_name
        self.old_name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.old_name = name

    def _warn(self) -> None:
        warnings.warn(f"the attribute {self.old_name!r} is deprecated; use {self.new_name!r}",
                      DeprecationWarning, stacklevel=3)

    @overload
    def __get__(self, obj: None, owner: Any = None) -> DeprecatedAlias[T]: ...
    @overload
    def __get__(self, obj: object, owner: Any = None) -> T: ...

    def __get__(self, obj: object, owner: Any = None) -> Any:
        if obj is None:
            return self
        self._warn()
        return getattr(obj, self.new_name)

    def __set__(self, obj: object, value: T) -> None:
        self._warn()
        setattr(obj, self.new_name, value)
