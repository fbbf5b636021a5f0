"""``nn.Module``s owning the class weights, biases and sampler of a sampled loss."""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from .. import samplers as _samplers
from . import _ops
from .functional import _check_tensor, _labels, _negatives, _ragged, in_batch_softmax_loss

__all__ = ["InBatchSoftmax", "SampledSoftmax", "NCELoss"]

_SAMPLER_NAMES = {
    "log_uniform": _samplers.LogUniformSampler,
    "uniform": _samplers.UniformSampler,
    "learned_unigram": _samplers.LearnedUnigramSampler,
}


def _shard_sizes(num_classes, num_shards, strategy):
    if strategy == "div":
        q, r = divmod(num_classes, num_shards)
        return [q + 1 if p < r else q for p in range(num_shards)]
    return [len(range(p, num_classes, num_shards)) for p in range(num_shards)]


class _SampledBase(nn.Module):
    _kind = _ops._KIND_SOFTMAX
    _default_hits = True

    def __init__(self, num_classes: int, dim: int, num_sampled: int, sampler: Any = "log_uniform",
                 num_shards: int = 1, partition_strategy: str = "div", sparse_grad: bool = True,
                 remove_accidental_hits: Optional[bool] = None, seed: Any = None, *,
                 num_true: int = 1, unique: bool = True, subtract_log_q: bool = True,
                 bias: bool = True,
                 weights: Any = None,
                 biases: Any = None,
                 mask_all_duplicates: bool = False, true_target: Optional[float] = None,
                 num_threads: Optional[int] = None, dtype: torch.dtype = torch.float32,
                 negatives: str = "shared") -> None:
        super().__init__()
        self.negatives = _negatives(negatives)
        for value, name in ((num_classes, "num_classes"), (dim, "dim"), (num_sampled, "num_sampled"),
                            (num_shards, "num_shards"), (num_true, "num_true")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.biases: Optional[nn.ParameterList]
        if num_shards > num_classes:
            raise ValueError(f"num_shards={num_shards} exceeds num_classes={num_classes}")
        if partition_strategy not in ("mod", "div"):
            raise ValueError(f"partition_strategy must be 'mod' or 'div', got {partition_strategy!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.num_classes, self.dim, self.num_sampled = num_classes, dim, num_sampled
        self.num_shards, self.partition_strategy = num_shards, partition_strategy
        self.num_true, self.unique = num_true, bool(unique)
        self.sparse_grad = bool(sparse_grad)
        self.remove_accidental_hits = (self._default_hits if remove_accidental_hits is None
                                       else bool(remove_accidental_hits))
        self.subtract_log_q = bool(subtract_log_q)
        self.mask_all_duplicates = bool(mask_all_duplicates)
        self.true_target = None if true_target is None else float(true_target)
        self.num_threads = num_threads
        sizes = _shard_sizes(num_classes, num_shards, partition_strategy)
        std = 1.0 / math.sqrt(dim)
        if weights is None:
            ws = []
            for rows in sizes:
                w = torch.empty(rows, dim, dtype=dtype)
                nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)  # TF's truncated_normal
                ws.append(nn.Parameter(w))
        else:
            ws = list(weights) if isinstance(weights, (list, tuple)) else [weights]
            if [tuple(w.shape) for w in ws] != [(r, dim) for r in sizes]:
                raise ValueError(f"weights must be {num_shards} shard(s) of shapes "
                                 f"{[(r, dim) for r in sizes]}, got {[tuple(w.shape) for w in ws]}")
            ws = [w if isinstance(w, nn.Parameter) else nn.Parameter(w) for w in ws]
        self.weights = nn.ParameterList(ws)
        if biases is not None:
            bs = list(biases) if isinstance(biases, (list, tuple)) else [biases]
            if [tuple(b.shape) for b in bs] != [(r,) for r in sizes]:
                raise ValueError(f"biases must be {num_shards} shard(s) of shapes "
                                 f"{[(r,) for r in sizes]}, got {[tuple(b.shape) for b in bs]}")
            self.biases = nn.ParameterList([b if isinstance(b, nn.Parameter) else nn.Parameter(b)
                                            for b in bs])
        elif bias:
            self.biases = nn.ParameterList([nn.Parameter(torch.zeros(r, dtype=dtype)) for r in sizes])
        else:
            self.biases = None
        if isinstance(sampler, str):
            if sampler not in _SAMPLER_NAMES:
                raise ValueError(f"sampler must be one of {sorted(_SAMPLER_NAMES)} or a pysampled "
                                 f"sampler object, got {sampler!r}")
            sampler = _SAMPLER_NAMES[sampler](num_classes, seed=seed)
        elif not isinstance(sampler, _samplers.CandidateSampler):
            raise TypeError("sampler must be a name or a pysampled CandidateSampler")
        if sampler.range_max > num_classes:
            raise ValueError(f"the sampler draws from {sampler.range_max} classes but there are "
                             f"{num_classes}")
        self.sampler = sampler

    @property
    def sampler(self):
        """The sampler drawing each batch's negatives (its stream advances per forward)."""
        return self._sampler

    @sampler.setter
    def sampler(self, value):
        if not isinstance(value, _samplers.CandidateSampler):
            raise TypeError("sampler must be a pysampled CandidateSampler")
        self._sampler = value
        self._handle = _ops.register_sampler(value)  # the custom op finds it by this number

    def __setstate__(self, state):  # copy.deepcopy and pickle: the copy gets its own handle
        super().__setstate__(state)
        self._handle = _ops.register_sampler(self._sampler)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, dim={self.dim}, num_sampled={self.num_sampled}, "
                f"num_shards={self.num_shards}, partition_strategy={self.partition_strategy!r}, "
                f"sparse_grad={self.sparse_grad}, sampler={type(self.sampler).__name__}"
                + ("" if self.negatives == "shared" else f", negatives={self.negatives!r}"))

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor,
                label_row_splits: torch.Tensor | None = None) -> torch.Tensor:
        """Per-example loss ``[batch_size]``; draws this batch's negatives
        from the sampler (one call, as :meth:`pysampled.SampledLoss.__call__`).

        ``label_row_splits`` (beyond TF): ragged labels, ``labels`` then flat
        (the module's ``num_true`` is ignored, as in
        :meth:`pysampled.SampledLoss.__call__`); shared negatives are drawn for
        the flat labels as ``[len(labels), 1]``. With ``negatives="per_example"``
        the draw is ``sampler.sample_bulk((batch_size, num_sampled))`` with
        expected counts ``num_sampled * p(c)``."""
        inputs = _check_tensor(inputs, "inputs", False)
        if inputs.dim() != 2 or inputs.shape[1] != self.dim:
            raise ValueError(f"inputs must have shape [batch_size, {self.dim}], got "
                             f"{tuple(inputs.shape)}")
        splits = None
        if label_row_splits is not None:
            labels, splits = _ragged(labels, label_row_splits, None, inputs.shape[0], False)
        else:
            labels = _labels(labels, self.num_true, False)
            if labels.shape[0] != inputs.shape[0]:
                raise ValueError(f"labels have {labels.shape[0]} rows but inputs have "
                                 f"{inputs.shape[0]}")
        if self.negatives == "per_example":
            sampled, tec, sec = _ops.draw_per_example(labels, self._handle, inputs.shape[0],
                                                      self.num_sampled, self.num_threads)
        elif splits is not None:
            sampled, tec, sec = _ops.draw(labels.reshape(-1, 1), self._handle, self.num_sampled,
                                          self.unique)
            tec = tec.reshape(-1)
        else:
            sampled, tec, sec = _ops.draw(labels, self._handle, self.num_sampled, self.unique)
        return _ops.loss(
            inputs, list(self.weights), [] if self.biases is None else list(self.biases), labels,
            sampled, tec, sec, self._kind, self.num_true if splits is None else 1,
            self.subtract_log_q, self.remove_accidental_hits, self.mask_all_duplicates,
            self.true_target, self.partition_strategy, self.num_threads, self.sparse_grad, splits)

    def full_logits(self, inputs: torch.Tensor, chunk_size: int = 65536) -> torch.Tensor:
        """``inputs @ W.T + b`` over all classes ``[batch_size, num_classes]``
        (plain, differentiable torch ops; no log-Q), computed ``chunk_size``
        class rows at a time: the full softmax for evaluation."""
        n, p = self.num_classes, self.num_shards
        out = inputs.new_empty((inputs.shape[0], n))
        start = 0
        for s, w in enumerate(self.weights):
            b = None if self.biases is None else self.biases[s]
            for lo in range(0, w.shape[0], chunk_size):
                hi = min(lo + chunk_size, w.shape[0])
                part = inputs @ w[lo:hi].to(inputs.dtype).T
                if b is not None:
                    part = part + b[lo:hi].to(inputs.dtype)
                if self.partition_strategy == "div" or p == 1:
                    out[:, start + lo:start + hi] = part
                else:  # class c lives in shard c % p, row c // p
                    out[:, s + lo * p:s + hi * p:p] = part
            start += w.shape[0]
        return out

    # -- sampler state travels with the parameters
    def get_extra_state(self):
        state = self.sampler.get_state()
        out = {"generator": torch.tensor(np.asarray(state["generator"], dtype=np.int64))}
        if "counts" in state:
            out["counts"] = torch.from_numpy(np.array(state["counts"]))
        return out

    def set_extra_state(self, state):
        new = {"generator": tuple(int(v) for v in state["generator"].tolist())}
        if "counts" in state:
            new["counts"] = state["counts"].numpy()
        self.sampler.set_state(new)


class SampledSoftmax(_SampledBase):
    """Sampled softmax head over ``num_classes`` classes (``tf.nn.sampled_softmax_loss``).

    Owns the weight shards (``self.weights``, a ``ParameterList``), the bias
    shards (``self.biases``) and a sampler. ``forward(inputs, labels)`` gives
    the per-example loss; :meth:`full_logits` the full softmax logits for
    evaluation. Same sampler state, weights and inputs give the same bits as
    :class:`pysampled.SampledLoss` (``loss="sampled_softmax"``).

    Parameters
    ----------
    num_classes, dim, num_sampled : int
    sampler : str or CandidateSampler
        "log_uniform" (default, TF's), "uniform", "learned_unigram", or any
        pysampled sampler object over ``num_classes`` classes.
    num_shards : int
        Split the weights into this many row shards (each its own Parameter).
    partition_strategy : {"div", "mod"}
    sparse_grad : bool
        Sparse COO gradients for the weights/biases (for ``SparseAdam``).
    remove_accidental_hits : bool, optional
        Default True for sampled softmax, False for NCE (TF's defaults).
    seed : None, int or (int, int)
        Seed of a sampler made from its name (weights use torch's RNG).
    num_true, unique, subtract_log_q, mask_all_duplicates, true_target, num_threads :
        As in :class:`pysampled.SampledLoss`.
    negatives : {"shared", "per_example"}
        "per_example" (beyond TF): each example draws its own negatives
        (see :meth:`forward`), as :class:`pysampled.SampledLoss` does.
    bias : bool
        Create zero biases (default). ``weights`` / ``biases``: initial
        tensors (lists of shards) instead of TF's ``truncated_normal(stddev=
        1/sqrt(dim))`` weights and zero biases.
    dtype : torch.dtype
        float32 (default) or float64 parameters.

    ``state_dict()`` includes the sampler's stream state (and learned counts),
    so a run resumed with ``load_state_dict`` draws the same negatives.
    """


class NCELoss(_SampledBase):
    """NCE head (``tf.nn.nce_loss``); arguments as :class:`SampledSoftmax`
    (``remove_accidental_hits`` defaults to False, as in TF)."""

    _kind = _ops._KIND_NCE
    _default_hits = False


class InBatchSoftmax(nn.Module):
    """Two-tower in-batch softmax loss (:func:`pysampled.torch.in_batch_softmax_loss`)
    as a module (it owns no parameters: the towers are the caller's).

    ``forward(query, candidates, candidate_ids=None, log_q=None,
    extra_candidates=None, extra_ids=None, extra_log_q=None)`` returns the
    per-example loss ``[B]``.

    Parameters
    ----------
    temperature : float
        Positive divisor of the dot products.
    remove_accidental_hits : bool
        Mask example ``i``'s columns that hold its own positive item (needs ids).
    num_threads : int, optional
        As in the NumPy API (bit-identical results for any value).
    """

    def __init__(self, temperature: float = 1.0, remove_accidental_hits: bool = True,
                 num_threads: Optional[int] = None) -> None:
        super().__init__()
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {temperature}")
        self.temperature = float(temperature)
        self.remove_accidental_hits = bool(remove_accidental_hits)
        self.num_threads = num_threads

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, "
                f"remove_accidental_hits={self.remove_accidental_hits}")

    def forward(self, query: torch.Tensor, candidates: torch.Tensor,
                candidate_ids: torch.Tensor | None = None, log_q: torch.Tensor | None = None,
                extra_candidates: torch.Tensor | None = None,
                extra_ids: torch.Tensor | None = None,
                extra_log_q: torch.Tensor | None = None) -> torch.Tensor:
        """Per-example loss ``[B]`` (arguments as
        :func:`pysampled.torch.in_batch_softmax_loss`)."""
        return in_batch_softmax_loss(query, candidates, candidate_ids, log_q, extra_candidates,
                                     extra_ids, extra_log_q, self.temperature,
                                     self.remove_accidental_hits, num_threads=self.num_threads)
