"""Sampled losses on ``torch.Tensor``s, differentiable by autograd.

Same names, arguments and numbers as :mod:`pysampled.losses` (the NumPy API,
itself TF-exact); the differences are the types and four keyword options:

``sparse_grad`` (default False)
    Gradients of the weights and biases as coalesced sparse COO tensors
    holding only the rows touched (deduplicated), as
    ``nn.Embedding(sparse=True)`` gives them, for ``torch.optim.SparseAdam``
    or ``SGD``. False: dense gradients (the touched rows ``index_add_``-ed
    into zeros).
``allow_copy`` (default False)
    Tensors are handed to the C++ core as NumPy views, never copied. A
    tensor that is not on the CPU, not contiguous, or (weights, biases,
    inputs) not float32/float64 raises; with ``allow_copy=True`` it is
    copied to a contiguous CPU tensor instead (autograd carries the
    gradient back to the original).
``num_threads``
    As in the NumPy API (None: what OpenMP allows). Results are
    bit-identical for any value and any ``torch.set_num_threads``.
``upstream`` / ``return_grads``
    Not taken: autograd supplies the upstream gradient. In eager mode a loss
    that will be differentiated gets its gradients in the forward kernel
    pass; when every example's upstream is the same ``c`` (``loss.sum()``,
    ``loss.mean()``) backward returns them times ``c`` (bit-identical to the
    NumPy API's ``upstream=c`` when ``c`` is a power of two and no partial
    sum overflows, within rounding otherwise); any other upstream runs the
    kernel again with it. :func:`in_batch_softmax_loss` does the same.

``weights`` (and ``biases``) may be one tensor or a list/tuple of row
shards (``nn.Parameter``s, typically), routed by ``partition_strategy``
("mod" or "div") exactly as in NumPy. Each shard gets its own gradient
(sparse rows in shard-local ids). Double backward raises ``RuntimeError``.
``sampled_values`` may hold tensors or NumPy arrays; with None the default
sampler (TF's log-uniform, ``unique=True``, seeded stream per ``seed``) is
called inside a custom op, so ``torch.compile`` traces it too.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import _ops

__all__ = ["compute_sampled_logits", "in_batch_softmax_loss", "nce_loss", "sampled_softmax_loss",
           "sampled_sparse_softmax_loss"]

_FLOATS = (torch.float32, torch.float64)
#: a table: one tensor, or the shards of one (``mod`` / ``div``)
_Table = Union[torch.Tensor, Sequence[torch.Tensor]]
_Seed = Union[None, int, Tuple[int, int]]
_Strategy = Literal["mod", "div"]
_Negatives = Literal["shared", "per_example"]
#: (sampled_candidates, true_expected_count, sampled_expected_count)
_SampledValues = Optional[Tuple[Any, Any, Any]]
_INTS = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class _CopyAs(torch.autograd.Function):
    """A contiguous float/CPU copy (``allow_copy=True``) whose backward hands
    the gradient back in the original dtype and device *keeping its layout*:
    a sparse weight gradient (``sparse_grad=True``) reaches a float16 or
    bfloat16 parameter as a sparse tensor (``Tensor.to``'s own backward would
    try to make it dense and fail)."""

    @staticmethod
    def forward(ctx, t, dtype):
        ctx.dtype, ctx.device = t.dtype, t.device
        return t.detach().to(device="cpu", dtype=dtype, copy=True).contiguous()

    @staticmethod
    def backward(ctx, grad):
        return grad.to(dtype=ctx.dtype).to(device=ctx.device), None


def _check_tensor(t, name, allow_copy, floats=True):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
    dtype = t.dtype
    if floats and t.dtype not in _FLOATS:
        if not (allow_copy and t.dtype.is_floating_point):
            raise TypeError(f"{name} must be float32 or float64, got {t.dtype}"
                            + ("" if not t.dtype.is_floating_point
                               else "; pass allow_copy=True to convert it to float32"))
        dtype = torch.float32
    if t.device.type != "cpu" and not allow_copy:
        raise ValueError(f"{name} is on device {t.device}; pysampled.torch computes on the CPU. "
                         "Move it with .cpu() or pass allow_copy=True (copies every call)")
    if not t.is_contiguous() and not allow_copy:
        raise ValueError(f"{name} is not contiguous (strides {tuple(t.stride())}); pass "
                         ".contiguous() or allow_copy=True (copies every call)")
    if dtype != t.dtype or t.device.type != "cpu" or not t.is_contiguous():
        t = _CopyAs.apply(t, dtype)
    return t


def _shards(value, name, ndim, allow_copy):
    parts = list(value) if isinstance(value, (list, tuple, torch.nn.ParameterList)) else [value]
    if not parts:
        raise ValueError(f"{name}: the list of shards is empty")
    out = []
    for i, t in enumerate(parts):
        where = name if len(parts) == 1 else f"{name}[{i}]"
        t = _check_tensor(t, where, allow_copy)
        if t.dim() != ndim:
            raise ValueError(f"{where} must be {ndim}-D, got shape {tuple(t.shape)}")
        out.append(t)
    if len({t.dtype for t in out}) > 1:
        raise TypeError(f"all {name} shards must have the same dtype")
    return out


def _ids(t, name, allow_copy):
    """An integer CPU tensor of ids (not differentiable), as int64."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be an integer torch.Tensor, got {type(t).__name__}")
    if t.requires_grad:
        raise ValueError(f"{name} must not require grad (class ids are not differentiable)")
    if t.dtype not in _INTS:
        raise TypeError(f"{name} must be an integer tensor, got {t.dtype}")
    t = _check_tensor(t, name, allow_copy, floats=False)
    return t if t.dtype == torch.int64 else t.to(torch.int64)  # ids: small, not the weights


def _ragged(labels, label_row_splits, num_true, batch, allow_copy):
    """``(flat int64 labels, int64 row splits [batch + 1])`` of a ragged call; the
    values of the splits are checked by the NumPy API (inside the op)."""
    if num_true not in (None, 1):
        raise ValueError("num_true must be left unset with label_row_splits (each example's "
                         "number of labels comes from the row splits)")
    flat = _ids(labels, "labels", allow_copy)
    if flat.dim() != 1:
        raise ValueError(f"with label_row_splits, labels must be the flat 1-D tensor of all true "
                         f"classes, got shape {tuple(flat.shape)}")
    splits = _ids(label_row_splits, "label_row_splits", allow_copy)
    if splits.dim() != 1 or splits.shape[0] != batch + 1:
        raise ValueError(f"label_row_splits must have shape [batch_size + 1] = [{batch + 1}] (one "
                         f"more than the rows of inputs), got {tuple(splits.shape)}")
    return flat, splits


def _negatives(negatives):
    if negatives not in ("shared", "per_example"):
        raise ValueError(f"negatives must be 'shared' or 'per_example', got {negatives!r}")
    return negatives


def _labels(labels, num_true, allow_copy):
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be an integer torch.Tensor, got {type(labels).__name__}")
    if labels.requires_grad:
        raise ValueError("labels must not require grad (class ids are not differentiable)")
    if labels.dtype not in _INTS:
        raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
    labels = _check_tensor(labels, "labels", allow_copy, floats=False)
    if labels.dim() == 1 and num_true == 1:
        labels = labels.reshape(-1, 1)
    if labels.dim() != 2 or labels.shape[1] != num_true:
        raise ValueError(f"labels must have shape [batch_size, num_true={num_true}], got "
                         f"{tuple(labels.shape)}")
    if labels.dtype != torch.int64:
        labels = labels.to(torch.int64)  # [batch, num_true] ids: small, not the caller's weights
    return labels


def _num(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def _seed_list(seed):
    if seed is None:
        return []
    if isinstance(seed, (tuple, list)):
        if len(seed) != 2:
            raise ValueError("seed must be None, an int, or a pair (global_seed, op_seed)")
        return [_num(seed[0], "global seed"), _num(seed[1], "op seed")]
    return [_num(seed, "seed")]


def _sampled_values(sampled_values, labels, num_true, num_sampled, num_classes, seed,
                    negatives="shared", ragged=False, batch=0, num_threads=None):
    """``(sampled, tec, sec)`` tensors: given, or drawn by the default sampler (TF's
    shared draw; ``LogUniformSampler(num_classes, seed).sample_bulk((batch, S))`` per
    example). Ragged shared draws are made for the flat labels as ``[len(labels), 1]``."""
    if sampled_values is None and (negatives == "per_example" or ragged):
        num_sampled = _num(num_sampled, "num_sampled")
        num_classes = _num(num_classes, "num_classes")
        if num_sampled < 1:
            raise ValueError(f"Value for attr 'num_sampled' of {num_sampled} must be at least minimum 1")
        if num_classes < 1:
            raise ValueError(f"Value for attr 'num_classes' of {num_classes} must be at least minimum 1")
        if negatives == "per_example":
            return _ops.draw_log_uniform_per_example(labels, batch, num_sampled, num_classes,
                                                     _seed_list(seed), num_threads)
        sampled, tec, sec = _ops.draw_log_uniform(labels.reshape(-1, 1), 1, num_sampled, True,
                                                  num_classes, _seed_list(seed))
        return sampled, tec.reshape(-1), sec
    if sampled_values is None:
        num_sampled = _num(num_sampled, "num_sampled")
        num_classes = _num(num_classes, "num_classes")
        if num_sampled < 1:
            raise ValueError(f"Value for attr 'num_sampled' of {num_sampled} must be at least minimum 1")
        if num_classes < 1:
            raise ValueError(f"Value for attr 'num_classes' of {num_classes} must be at least minimum 1")
        return _ops.draw_log_uniform(labels, num_true, num_sampled, True, num_classes,
                                     _seed_list(seed))
    try:
        sampled, tec, sec = sampled_values
    except (TypeError, ValueError):
        raise ValueError("sampled_values must be a triple (sampled_candidates, "
                         "true_expected_count, sampled_expected_count)") from None
    out = []
    for v, name in ((sampled, "sampled_candidates"), (tec, "true_expected_count"),
                    (sec, "sampled_expected_count")):
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(np.ascontiguousarray(v))
        elif not isinstance(v, torch.Tensor):
            v = torch.as_tensor(v)
        if v.requires_grad:
            raise ValueError(f"{name} must not require grad: pysampled.torch does not "
                             "differentiate the sampled values")
        if v.device.type != "cpu":
            raise ValueError(f"{name} is on device {v.device}; pysampled.torch computes on the CPU")
        out.append(v.contiguous())
    if out[0].dtype.is_floating_point or out[0].dtype == torch.bool:
        raise TypeError(f"sampled_candidates must be integer ids, got {out[0].dtype}")
    if out[0].dim() != 2 and negatives == "per_example":
        raise ValueError("negatives='per_example' needs a 2-D sampled_candidates "
                         "[batch_size, num_sampled]")
    if out[0].dim() not in (1, 2):
        raise ValueError(f"sampled_candidates must be 1-D (shared) or 2-D [batch_size, "
                         f"num_sampled] (per example), got shape {tuple(out[0].shape)}")
    if out[0].dim() == 2 and out[0].shape[0] != batch:
        raise ValueError(f"2-D sampled_candidates must have one row per example ({batch}), got "
                         f"shape {tuple(out[0].shape)}")
    return out[0].to(torch.int64), out[1], out[2]


def _run(kind, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
         sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
         num_threads, mask_all_duplicates, true_target, sparse_grad, allow_copy,
         label_row_splits=None, negatives="shared"):
    negatives = _negatives(negatives)
    ragged = label_row_splits is not None
    if not ragged or num_true is not None:
        num_true = _num(num_true, "num_true")
        if num_true < 1:
            raise ValueError(f"Value for attr 'num_true' of {num_true} must be at least minimum 1")
    inputs = _check_tensor(inputs, "inputs", allow_copy)
    if inputs.dim() != 2:
        raise ValueError(f"inputs must be 2-D [batch_size, dim], got shape {tuple(inputs.shape)}")
    w = _shards(weights, "weights", 2, allow_copy)
    b = [] if biases is None else _shards(biases, "biases", 1, allow_copy)
    splits = None
    if ragged:
        labels, splits = _ragged(labels, label_row_splits, num_true, inputs.shape[0], allow_copy)
        num_true = 1  # unused by the op with row splits
    else:
        labels = _labels(labels, num_true, allow_copy)
        if labels.shape[0] != inputs.shape[0]:
            raise ValueError(f"labels have {labels.shape[0]} rows but inputs have {inputs.shape[0]}")
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}."
                         "Must be one of either `mod` or `div`.")
    if num_threads is not None:
        num_threads = _num(num_threads, "num_threads")
    if true_target is not None:
        true_target = float(true_target)
    sampled, tec, sec = _sampled_values(sampled_values, labels, num_true, num_sampled,
                                        num_classes, seed, negatives, ragged, inputs.shape[0],
                                        num_threads)
    return _ops.loss(
        inputs, w, b, labels, sampled, tec, sec, kind, num_true, bool(subtract_log_q),
        bool(remove_accidental_hits), bool(mask_all_duplicates), true_target, partition_strategy,
        num_threads, bool(sparse_grad), splits)


_PARAMS = """
    Parameters
    ----------
    weights : Tensor or list of Tensor
        ``[num_classes, dim]`` class embeddings or a list of row shards
        (float32/float64, CPU, contiguous).
    biases : Tensor or list of Tensor or None
        ``[num_classes]`` biases, a list of shards, or None.
    labels : Tensor
        Integer ``[batch_size, num_true]`` (``[batch_size]`` when
        ``num_true == 1``).
    inputs : Tensor
        ``[batch_size, dim]`` activations; their dtype is the computing dtype.
    num_sampled, num_classes, num_true, sampled_values, remove_accidental_hits,
    partition_strategy, seed, name, num_threads, mask_all_duplicates :
        As in :mod:`pysampled.losses`.
    sparse_grad : bool
        Sparse COO gradients (deduplicated rows) for weights and biases.
    allow_copy : bool
        Copy non-CPU / non-contiguous / other-float tensors instead of raising.
"""


_BEYOND = """
    label_row_splits : Tensor, optional
        Ragged labels (beyond TF, issue 11): integer ``[batch_size + 1]``
        row splits (``tf.RaggedTensor`` convention: start at 0,
        non-decreasing, end at ``len(labels)``); ``labels`` is then the flat
        1-D tensor of all true classes, example ``i`` owns
        ``labels[s[i]:s[i+1]]`` (at least one) and ``num_true`` must be left
        at 1 (or None). Each of example ``i``'s ``n_i`` true columns has
        target ``1/n_i``. Without ``sampled_values`` the default shared draw
        is made for the flat labels (``[len(labels), 1]``), as in NumPy.
    negatives : {"shared", "per_example"}
        "per_example" (beyond TF): without ``sampled_values`` each example
        draws its own ``num_sampled`` classes,
        ``LogUniformSampler(num_classes, seed).sample_bulk((batch_size, S))``
        (with replacement) with expected counts ``S * p(c)``; a 2-D
        ``sampled_candidates`` ``[batch_size, S]`` (and
        ``sampled_expected_count`` ``[batch_size, S]``) means per-example
        negatives too. With either option every sampled column equal to one
        of the example's labels is masked (``mask_all_duplicates`` implied),
        exactly as :func:`pysampled.sampled_softmax_loss`.
"""


def _doc(fn):
    fn.__doc__ = fn.__doc__.replace("    %(params)s\n", _PARAMS.strip("\n") + "\n").replace(
        "    %(beyond)s\n", _BEYOND.strip("\n") + "\n")
    return fn


@_doc
def nce_loss(weights: _Table, biases: Optional[_Table], labels: torch.Tensor,
             inputs: torch.Tensor, num_sampled: int, num_classes: int, num_true: int = 1,
             sampled_values: _SampledValues = None, remove_accidental_hits: bool = False,
             partition_strategy: _Strategy = "mod", seed: _Seed = None,
             name: Optional[str] = None, *, num_threads: Optional[int] = None,
             mask_all_duplicates: bool = False, true_target: Optional[float] = None,
             sparse_grad: bool = False, allow_copy: bool = False,
             label_row_splits: Optional[torch.Tensor] = None,
             negatives: _Negatives = "shared") -> torch.Tensor:
    """NCE loss per example (:func:`pysampled.nce_loss`, ``tf.nn.nce_loss``).

    %(params)s
    true_target : float, optional
        As in :func:`pysampled.nce_loss`.
    %(beyond)s

    Returns
    -------
    Tensor ``[batch_size]`` of the inputs' dtype.
    """
    return _run(_ops._KIND_NCE, weights, biases, labels, inputs, num_sampled, num_classes,
                num_true, sampled_values, True, remove_accidental_hits, partition_strategy, seed,
                num_threads, mask_all_duplicates, true_target, sparse_grad, allow_copy,
                label_row_splits, negatives)


@_doc
def sampled_softmax_loss(weights: _Table, biases: Optional[_Table], labels: torch.Tensor,
                         inputs: torch.Tensor, num_sampled: int, num_classes: int,
                         num_true: int = 1, sampled_values: _SampledValues = None,
                         remove_accidental_hits: bool = True,
                         partition_strategy: _Strategy = "mod", seed: _Seed = None,
                         name: Optional[str] = None, *, num_threads: Optional[int] = None,
                         mask_all_duplicates: bool = False, sparse_grad: bool = False,
                         allow_copy: bool = False,
                         label_row_splits: Optional[torch.Tensor] = None,
                         negatives: _Negatives = "shared") -> torch.Tensor:
    """Sampled softmax loss per example (:func:`pysampled.sampled_softmax_loss`).

    %(params)s
    %(beyond)s
    Returns
    -------
    Tensor ``[batch_size]`` of the inputs' dtype.
    """
    return _run(_ops._KIND_SOFTMAX, weights, biases, labels, inputs, num_sampled, num_classes,
                num_true, sampled_values, True, remove_accidental_hits, partition_strategy, seed,
                num_threads, mask_all_duplicates, None, sparse_grad, allow_copy,
                label_row_splits, negatives)


def sampled_sparse_softmax_loss(weights: _Table, biases: Optional[_Table], labels: torch.Tensor,
                                inputs: torch.Tensor, num_sampled: int, num_classes: int,
                                sampled_values: _SampledValues = None,
                                remove_accidental_hits: bool = True,
                                partition_strategy: _Strategy = "mod", name: Optional[str] = None,
                                *, seed: _Seed = None, num_threads: Optional[int] = None,
                                mask_all_duplicates: bool = False, sparse_grad: bool = False,
                                allow_copy: bool = False) -> torch.Tensor:
    """Sampled softmax with one label per example (``[batch_size]`` or
    ``[batch_size, 1]`` labels); other arguments as :func:`sampled_softmax_loss`."""
    if isinstance(labels, torch.Tensor) and labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels.reshape(-1)
    if isinstance(labels, torch.Tensor) and labels.dim() != 1:
        raise ValueError(f"labels must have shape [batch_size] or [batch_size, 1], got "
                         f"{tuple(labels.shape)}")
    return sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, 1,
                                sampled_values, remove_accidental_hits, partition_strategy, seed,
                                num_threads=num_threads, mask_all_duplicates=mask_all_duplicates,
                                sparse_grad=sparse_grad, allow_copy=allow_copy)


@_doc
def compute_sampled_logits(weights: _Table, biases: Optional[_Table], labels: torch.Tensor,
                           inputs: torch.Tensor, num_sampled: int, num_classes: int,
                           num_true: int = 1, sampled_values: _SampledValues = None,
                           subtract_log_q: bool = True, remove_accidental_hits: bool = False,
                           partition_strategy: _Strategy = "mod", seed: _Seed = None,
                           name: Optional[str] = None, *, num_threads: Optional[int] = None,
                           mask_all_duplicates: bool = False, sparse_grad: bool = False,
                           allow_copy: bool = False, negatives: _Negatives = "shared"
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of a sampled loss (:func:`pysampled.compute_sampled_logits`).

    %(params)s
    subtract_log_q : bool
        Subtract ``log(expected_count)`` (TF's correction).
    negatives : {"shared", "per_example"}
        "per_example" (or a 2-D ``sampled_candidates``) scores example ``i``
        against its own row of candidates (see :func:`sampled_softmax_loss`);
        the logits are still ``[batch_size, num_true + num_sampled]``.
        Ragged labels are not taken here (the rows would differ in length).

    Returns
    -------
    logits : Tensor ``[batch_size, num_true + num_sampled]``
        Differentiable w.r.t. inputs, weights and biases (the accidental-hit
        mask is a constant, as in TF).
    labels : Tensor ``[batch_size, num_true + num_sampled]``
        ``1 / num_true`` on the true columns, 0 elsewhere.
    """
    logits = _run(_ops._KIND_LOGITS, weights, biases, labels, inputs, num_sampled, num_classes,
                  num_true, sampled_values, subtract_log_q, remove_accidental_hits,
                  partition_strategy, seed, num_threads, mask_all_duplicates, None, sparse_grad,
                  allow_copy, None, negatives)
    nt = int(num_true)
    out_labels = torch.zeros(logits.shape, dtype=logits.dtype)
    out_labels[:, :nt] = 1.0 / nt
    return logits, out_labels


def _log_q(v, name, n, dtype):
    if v is None:
        return None
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    if v.dtype == torch.bool or v.is_complex():
        raise TypeError(f"{name} must hold real numbers, got {v.dtype}")
    if v.device.type != "cpu":
        raise ValueError(f"{name} is on device {v.device}; pysampled.torch computes on the CPU")
    if tuple(v.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(v.shape)}")
    # a [n] vector (not a weight): converted to the query's dtype, differentiably
    return v.to(dtype).contiguous()


def in_batch_softmax_loss(query: torch.Tensor, candidates: torch.Tensor,
                          candidate_ids: Optional[torch.Tensor] = None,
                          log_q: Optional[torch.Tensor] = None,
                          extra_candidates: Optional[torch.Tensor] = None,
                          extra_ids: Optional[torch.Tensor] = None,
                          extra_log_q: Optional[torch.Tensor] = None, temperature: float = 1.0,
                          remove_accidental_hits: bool = True, *,
                          num_threads: Optional[int] = None,
                          allow_copy: bool = False) -> torch.Tensor:
    """Softmax cross-entropy over in-batch (and extra shared) negatives
    (:func:`pysampled.in_batch_softmax_loss`, beyond TF: two-tower retrieval).

    Example ``i``'s positive is row ``i`` of ``candidates``; every other row
    of the batch is one of its negatives, plus ``S`` optional
    ``extra_candidates`` shared by all examples (mixed negative sampling).
    Its logits are ``((query_i . candidates_j) / temperature + m_ij) -
    log_q_j`` for the ``B`` in-batch columns, then the same with
    ``extra_candidates`` and ``extra_log_q`` for the ``S`` extra columns;
    ``m`` is ``-FLT_MAX`` on accidental hits (with ``remove_accidental_hits``
    and ids: a column ``j != i`` whose id equals ``candidate_ids[i]``), else
    0. The loss is the softmax cross-entropy with target column ``i``.

    Parameters
    ----------
    query : Tensor ``[B, D]``
        Query-tower outputs, float32 or float64 (CPU, contiguous); decides
        the computing dtype.
    candidates : Tensor ``[B, D]``
        Candidate-tower outputs, same dtype.
    candidate_ids : Tensor of int ``[B]``, optional
        Item ids, for ``remove_accidental_hits`` (not differentiable).
    log_q : Tensor ``[B]``, optional
        Log sampling probability of each in-batch candidate (e.g.
        ``torch.from_numpy(FrequencyEstimator.log_q(ids))``); omitted means 0.
        Converted to the query's dtype; differentiable (its gradient is
        ``-sum_i upstream_i (p_ij - [i == j])``), usually a constant.
    extra_candidates : Tensor ``[S, D]``, optional
        Extra negatives shared by every example.
    extra_ids : Tensor of int ``[S]``, optional
        Their item ids (needs ``candidate_ids``).
    extra_log_q : Tensor ``[S]``, optional
        Their log sampling probabilities; omitted means 0.
    temperature : float
        Positive divisor of the dot products (a Python number).
    remove_accidental_hits : bool
        Mask the columns of example ``i`` holding its own positive item.
    num_threads : int, optional
        As in the NumPy API; results are bit-identical for any value.
    allow_copy : bool
        Copy non-CPU / non-contiguous / other-float tower outputs instead of
        raising.

    Returns
    -------
    Tensor ``[B]``
        Per-example loss, differentiable w.r.t. ``query``, ``candidates``,
        ``extra_candidates`` (dense gradients, the NumPy API's
        ``InBatchGrads`` times the upstream gradient) and ``log_q`` /
        ``extra_log_q``. Double backward raises ``RuntimeError``.
    """
    q = _check_tensor(query, "query", allow_copy)
    if q.dim() != 2:
        raise ValueError(f"query must be 2-D [B, D], got shape {tuple(q.shape)}")
    batch, dim = q.shape
    c = _check_tensor(candidates, "candidates", allow_copy)
    if c.dtype != q.dtype:
        raise TypeError(f"candidates must have the query's dtype {q.dtype}, got {c.dtype}")
    if tuple(c.shape) != (batch, dim):
        raise ValueError(f"candidates must have shape ({batch}, {dim}) like the query, got "
                         f"{tuple(c.shape)}")
    e = None
    num_extra = 0
    if extra_candidates is None:
        if extra_ids is not None or extra_log_q is not None:
            raise ValueError("extra_ids and extra_log_q need extra_candidates")
    else:
        e = _check_tensor(extra_candidates, "extra_candidates", allow_copy)
        if e.dtype != q.dtype:
            raise TypeError(f"extra_candidates must have the query's dtype {q.dtype}, got {e.dtype}")
        if e.dim() != 2 or e.shape[1] != dim:
            raise ValueError(f"extra_candidates must be 2-D [S, {dim}], got shape {tuple(e.shape)}")
        num_extra = e.shape[0]
    ids = None
    if candidate_ids is not None:
        ids = _ids(candidate_ids, "candidate_ids", allow_copy)
        if tuple(ids.shape) != (batch,):
            raise ValueError(f"candidate_ids must have shape ({batch},), got {tuple(ids.shape)}")
    eids = None
    if extra_ids is not None:
        if ids is None:
            raise ValueError("extra_ids need candidate_ids (a hit is an extra id equal to the "
                             "example's candidate id)")
        eids = _ids(extra_ids, "extra_ids", allow_copy)
        if tuple(eids.shape) != (num_extra,):
            raise ValueError(f"extra_ids must have shape ({num_extra},), got {tuple(eids.shape)}")
    lq = _log_q(log_q, "log_q", batch, q.dtype)
    elq = None if e is None else _log_q(extra_log_q, "extra_log_q", num_extra, q.dtype)
    if isinstance(temperature, torch.Tensor):
        raise TypeError("temperature must be a Python number (a learnable temperature tensor is "
                        "not supported: scale the query instead)")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    tau = float(temperature)
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    if num_threads is not None:
        num_threads = _num(num_threads, "num_threads")
    return _ops.in_batch(q, c, e, ids, lq, eids, elq, tau, bool(remove_accidental_hits),
                         num_threads)
