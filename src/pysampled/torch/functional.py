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
    NumPy API's ``upstream=c`` when ``c`` is a power of two, within rounding
    otherwise); any other upstream runs the kernel again with it.

``weights`` (and ``biases``) may be one tensor or a list/tuple of row
shards (``nn.Parameter``s, typically), routed by ``partition_strategy``
("mod" or "div") exactly as in NumPy. Each shard gets its own gradient
(sparse rows in shard-local ids). Double backward raises ``RuntimeError``.
``sampled_values`` may hold tensors or NumPy arrays; with None the default
sampler (TF's log-uniform, ``unique=True``, seeded stream per ``seed``) is
called inside a custom op, so ``torch.compile`` traces it too.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from . import _ops

__all__ = ["compute_sampled_logits", "nce_loss", "sampled_softmax_loss",
           "sampled_sparse_softmax_loss"]

_FLOATS = (torch.float32, torch.float64)
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


def _sampled_values(sampled_values, labels, num_true, num_sampled, num_classes, seed):
    if sampled_values is None:
        num_sampled = _num(num_sampled, "num_sampled")
        num_classes = _num(num_classes, "num_classes")
        if num_sampled < 1:
            raise ValueError(f"Value for attr 'num_sampled' of {num_sampled} must be at least minimum 1")
        if num_classes < 1:
            raise ValueError(f"Value for attr 'num_classes' of {num_classes} must be at least minimum 1")
        if seed is None:
            s = []
        elif isinstance(seed, (tuple, list)):
            if len(seed) != 2:
                raise ValueError("seed must be None, an int, or a pair (global_seed, op_seed)")
            s = [_num(seed[0], "global seed"), _num(seed[1], "op seed")]
        else:
            s = [_num(seed, "seed")]
        return _ops.draw_log_uniform(labels, num_true, num_sampled, True, num_classes, s)
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
    return out[0].to(torch.int64), out[1], out[2]


def _run(kind, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
         sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
         num_threads, mask_all_duplicates, true_target, sparse_grad, allow_copy):
    num_true = _num(num_true, "num_true")
    if num_true < 1:
        raise ValueError(f"Value for attr 'num_true' of {num_true} must be at least minimum 1")
    inputs = _check_tensor(inputs, "inputs", allow_copy)
    if inputs.dim() != 2:
        raise ValueError(f"inputs must be 2-D [batch_size, dim], got shape {tuple(inputs.shape)}")
    w = _shards(weights, "weights", 2, allow_copy)
    b = [] if biases is None else _shards(biases, "biases", 1, allow_copy)
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
                                        num_classes, seed)
    return _ops.loss(
        inputs, w, b, labels, sampled, tec, sec, kind, num_true, bool(subtract_log_q),
        bool(remove_accidental_hits), bool(mask_all_duplicates), true_target, partition_strategy,
        num_threads, bool(sparse_grad))


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


def _doc(fn):
    fn.__doc__ = fn.__doc__.replace("    %(params)s\n", _PARAMS.strip("\n") + "\n")
    return fn


@_doc
def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             seed=None, name=None, *, num_threads=None, mask_all_duplicates=False,
             true_target=None, sparse_grad=False, allow_copy=False) -> torch.Tensor:
    """NCE loss per example (:func:`pysampled.nce_loss`, ``tf.nn.nce_loss``).

    %(params)s
    true_target : float, optional
        As in :func:`pysampled.nce_loss`.

    Returns
    -------
    Tensor ``[batch_size]`` of the inputs' dtype.
    """
    return _run(_ops._KIND_NCE, weights, biases, labels, inputs, num_sampled, num_classes,
                num_true, sampled_values, True, remove_accidental_hits, partition_strategy, seed,
                num_threads, mask_all_duplicates, true_target, sparse_grad, allow_copy)


@_doc
def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", seed=None, name=None, *, num_threads=None,
                         mask_all_duplicates=False, sparse_grad=False,
                         allow_copy=False) -> torch.Tensor:
    """Sampled softmax loss per example (:func:`pysampled.sampled_softmax_loss`).

    %(params)s
    Returns
    -------
    Tensor ``[batch_size]`` of the inputs' dtype.
    """
    return _run(_ops._KIND_SOFTMAX, weights, biases, labels, inputs, num_sampled, num_classes,
                num_true, sampled_values, True, remove_accidental_hits, partition_strategy, seed,
                num_threads, mask_all_duplicates, None, sparse_grad, allow_copy)


def sampled_sparse_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                                sampled_values=None, remove_accidental_hits=True,
                                partition_strategy="mod", name=None, *, seed=None,
                                num_threads=None, mask_all_duplicates=False, sparse_grad=False,
                                allow_copy=False) -> torch.Tensor:
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
def compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                           sampled_values=None, subtract_log_q=True, remove_accidental_hits=False,
                           partition_strategy="mod", seed=None, name=None, *, num_threads=None,
                           mask_all_duplicates=False, sparse_grad=False, allow_copy=False):
    """Logits and labels of a sampled loss (:func:`pysampled.compute_sampled_logits`).

    %(params)s
    subtract_log_q : bool
        Subtract ``log(expected_count)`` (TF's correction).

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
                  allow_copy)
    nt = int(num_true)
    out_labels = torch.zeros(logits.shape, dtype=logits.dtype)
    out_labels[:, :nt] = 1.0 / nt
    return logits, out_labels
