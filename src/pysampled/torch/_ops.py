"""The ``torch.library`` custom ops behind :mod:`pysampled.torch`.

Design: four ops, all CPU, all thin shells around the NumPy API.

* ``pysampled::sampled_loss`` — forward: logits (kind 0), NCE (1) or sampled
  softmax (2) loss through :mod:`pysampled.losses`, on zero-copy NumPy views
  of the tensors (``.detach().numpy()``); the C++ kernel releases the GIL.
* ``pysampled::sampled_loss_backward`` — the kernel again with
  ``return_grads=True, upstream=grad``: it returns the dense input gradient
  and, per weight and bias shard, either the dense gradient (``index_add_``
  of the deduplicated rows into zeros) or the pair ``(local row ids,
  rows)`` that the autograd formula turns into a coalesced sparse COO
  tensor. Its own autograd formula raises (no double backward).
* ``pysampled::sample`` — one draw of a registered sampler object (modules);
  ``pysampled::log_uniform_sample`` — the functions' default sampler (TF's
  cached per-seed stream). Both are tagged ``nondeterministic_seeded`` so the
  compiler never merges or re-runs a draw.

Every op has a fake (meta) implementation, so ``torch.compile`` traces them
without graph breaks; data-dependent sizes (the number of distinct rows
touched) are declared as unbacked sizes.
"""
from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any, Optional

import numpy as np
import torch

from .. import _extensions, _rowwise
from .. import losses as _np_losses
from .. import retrieval as _np_retrieval
from .._threads import resolve_num_threads
from ..samplers import LogUniformSampler, log_uniform_candidate_sampler

__all__: list = []

_KIND_LOGITS, _KIND_NCE, _KIND_SOFTMAX = 0, 1, 2


def _np(t: Optional[torch.Tensor]):
    """A NumPy view of a CPU tensor (never a copy), or None."""
    return None if t is None else t.detach().numpy()


def _call_numpy(kind, inputs, weights, biases, labels, sampled, tec, sec, row_splits, num_true,
                subtract_log_q, remove_accidental_hits, mask_all_duplicates, true_target,
                partition_strategy, num_threads, upstream=None, return_grads=False):
    """One call of the NumPy API on views of the tensors. ``row_splits`` (ragged
    labels, flat ``labels``) and a 2-D ``sampled`` (per-example negatives) take
    its row-wise path (issue 11)."""
    x = _np(inputs)
    w = [_np(t) for t in weights]
    b = None if not biases else [_np(t) for t in biases]
    lab = _np(labels)
    sampled_np = _np(sampled)
    sv = (sampled_np, _np(tec), _np(sec))
    if not subtract_log_q:  # compute_sampled_logits ignores the counts then
        sv = (sampled_np, None, None)
    S = sampled_np.shape[-1]
    up = None if upstream is None else _np(upstream)
    w = w[0] if len(w) == 1 else w
    b = b if b is None or len(b) > 1 else b[0]
    kw = dict(num_true=num_true, sampled_values=sv, remove_accidental_hits=remove_accidental_hits,
              partition_strategy=partition_strategy, return_grads=return_grads, upstream=up,
              num_threads=num_threads, mask_all_duplicates=mask_all_duplicates)
    if row_splits is not None:  # ragged labels (beyond TF): num_true comes from the splits
        kw.update(num_true=None, label_row_splits=_np(row_splits))
    if kind == _KIND_LOGITS:
        out = _np_losses.compute_sampled_logits(w, b, lab, x, S, None, subtract_log_q=subtract_log_q,
                                                **kw)
        return (out[0], out[2]) if return_grads else (out[0], None)
    if kind == _KIND_NCE:
        out = _np_losses.nce_loss(w, b, lab, x, S, None, true_target=true_target, **kw)
    else:
        out = _np_losses.sampled_softmax_loss(w, b, lab, x, S, None, **kw)
    return out if return_grads else (out, None)


def _sampled_loss_impl(inputs: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor],
                 labels: torch.Tensor, sampled: torch.Tensor, tec: Optional[torch.Tensor],
                 sec: Optional[torch.Tensor], kind: int, num_true: int, subtract_log_q: bool,
                 remove_accidental_hits: bool, mask_all_duplicates: bool, true_target: Optional[float],
                 partition_strategy: str, num_threads: Optional[int], sparse_grad: bool,
                       row_splits: Optional[torch.Tensor]) -> torch.Tensor:
    out, _ = _call_numpy(kind, inputs, weights, biases, labels, sampled, tec, sec, row_splits,
                         num_true, subtract_log_q, remove_accidental_hits, mask_all_duplicates, true_target,
                         partition_strategy, num_threads)
    return torch.from_numpy(out)


sampled_loss = torch.library.custom_op("pysampled::sampled_loss", _sampled_loss_impl,
                                       mutates_args=(), device_types="cpu")


@sampled_loss.register_fake
def _(inputs, weights, biases, labels, sampled, tec, sec, kind, num_true, subtract_log_q,
      remove_accidental_hits, mask_all_duplicates, true_target, partition_strategy, num_threads,
      sparse_grad, row_splits):
    if kind == _KIND_LOGITS:  # sampled: [S] shared or [batch, S] per example
        return inputs.new_empty((inputs.shape[0], num_true + sampled.shape[-1]))
    return inputs.new_empty((inputs.shape[0],))


def _sampled_loss_backward_impl(grad: torch.Tensor, inputs: torch.Tensor, weights: list[torch.Tensor],
                          biases: list[torch.Tensor], labels: torch.Tensor, sampled: torch.Tensor,
                          tec: Optional[torch.Tensor], sec: Optional[torch.Tensor], kind: int,
                          num_true: int, subtract_log_q: bool, remove_accidental_hits: bool,
                          mask_all_duplicates: bool, true_target: Optional[float],
                          partition_strategy: str, num_threads: Optional[int], sparse_grad: bool,
                          need_weights: bool, need_biases: bool,
                          row_splits: Optional[torch.Tensor]) -> list[torch.Tensor]:
    """``[d_inputs]`` then, per weight shard and then per bias shard, either
    the dense gradient or ``ids, rows`` (sparse_grad); shards whose gradient
    is not needed get empty tensors in the same places."""
    _, grads = _call_numpy(kind, inputs, weights, biases, labels, sampled, tec, sec, row_splits,
                           num_true, subtract_log_q, remove_accidental_hits, mask_all_duplicates, true_target,
                           partition_strategy, num_threads, upstream=grad, return_grads=True)
    return _grad_outputs(grads, weights, biases, sparse_grad, need_weights, need_biases)


def _grad_outputs(grads, weights, biases, sparse_grad, need_weights, need_biases, scale=None):
    """The backward op's flat output list from a :class:`LossGrads` (every
    gradient multiplied by `scale` when given)."""
    def scaled(a):  # in place: the arrays are this call's own (the kernel's new outputs)
        if scale is not None:
            a *= a.dtype.type(scale)
        return a

    out = [torch.from_numpy(scaled(grads.inputs))]

    def emit(rows, shards, needed):
        parts = rows.per_shard() if len(shards) > 1 else [rows]
        for shard, part in zip(shards, parts):
            if not needed:
                out.extend(shard.new_empty((0,)) for _ in range(2 if sparse_grad else 1))
            elif sparse_grad:
                out.append(torch.from_numpy(part.ids))
                out.append(torch.from_numpy(scaled(part.values)))
            else:
                dense = torch.zeros(shard.shape, dtype=shard.dtype)
                dense.index_add_(0, torch.from_numpy(part.ids), torch.from_numpy(scaled(part.values)))
                out.append(dense)

    emit(grads.weights, weights, need_weights)
    if biases:
        emit(grads.biases, biases, need_biases)
    return out


sampled_loss_backward = torch.library.custom_op("pysampled::sampled_loss_backward",
                                                _sampled_loss_backward_impl, mutates_args=(),
                                                device_types="cpu")


@sampled_loss_backward.register_fake
def _(grad, inputs, weights, biases, labels, sampled, tec, sec, kind, num_true, subtract_log_q,
      remove_accidental_hits, mask_all_duplicates, true_target, partition_strategy, num_threads,
      sparse_grad, need_weights, need_biases, row_splits):
    out = [torch.empty_like(inputs)]
    ctx = torch.library.get_ctx()
    for shards, needed in ((weights, need_weights), (biases, need_biases)):
        for shard in shards:
            if not needed:
                out.extend(shard.new_empty((0,)) for _ in range(2 if sparse_grad else 1))
            elif sparse_grad:
                u = ctx.new_dynamic_size()
                out.append(shard.new_empty((u,), dtype=torch.int64))
                out.append(shard.new_empty((u,) + tuple(shard.shape[1:])))
            else:
                out.append(torch.empty_like(shard))
    return out


def _no_double_backward(ctx, grads):
    raise RuntimeError("pysampled.torch: double backward (create_graph=True through a sampled loss "
                       "gradient) is not supported")


sampled_loss_backward.register_autograd(_no_double_backward)


_ARG_NAMES = ("inputs", "weights", "biases", "labels", "sampled", "tec", "sec", "kind", "num_true",
              "subtract_log_q", "remove_accidental_hits", "mask_all_duplicates", "true_target",
              "partition_strategy", "num_threads", "sparse_grad", "row_splits")


def _setup_context(ctx, inputs, output):
    args = dict(zip(_ARG_NAMES, inputs))
    ctx.n_inputs = len(inputs)
    ctx.nw = len(args["weights"])
    ctx.nb = len(args["biases"])
    ctx.config = {k: args[k] for k in _ARG_NAMES[7:-1]}
    ctx.save_for_backward(args["inputs"], args["labels"], args["sampled"], args["tec"], args["sec"],
                          args["row_splits"], *args["weights"], *args["biases"])
    ctx.w_req = any(t.requires_grad for t in args["weights"])
    ctx.b_req = any(t.requires_grad for t in args["biases"])


def _backward(ctx, grad):
    x, labels, sampled, tec, sec, splits, *rest = ctx.saved_tensors
    weights, biases = rest[:ctx.nw], rest[ctx.nw:]
    cfg = ctx.config
    need_x = ctx.needs_input_grad[0]
    need_w = bool(ctx.needs_input_grad[1]) and ctx.w_req
    need_b = bool(ctx.needs_input_grad[2]) and ctx.b_req
    if not (need_x or need_w or need_b):
        return (None,) * ctx.n_inputs
    sparse = cfg["sparse_grad"]
    out = torch.ops.pysampled.sampled_loss_backward(
        grad, x, list(weights), list(biases), labels, sampled, tec, sec, cfg["kind"],
        cfg["num_true"], cfg["subtract_log_q"], cfg["remove_accidental_hits"],
        cfg["mask_all_duplicates"], cfg["true_target"], cfg["partition_strategy"],
        cfg["num_threads"], sparse, need_w, need_b, splits)
    gw, gb = _assemble(out, weights, biases, need_w, need_b, sparse)
    return (out[0] if need_x else None, gw, gb) + (None,) * (ctx.n_inputs - 3)


sampled_loss.register_autograd(_backward, setup_context=_setup_context)


# ------------------------------------------------------------------ sampling

_SAMPLERS: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()
_HANDLES = itertools.count(1)
_LOCK = threading.Lock()


def register_sampler(sampler) -> int:
    """A handle for `sampler` usable by ``pysampled::sample`` (weakly held)."""
    with _LOCK:
        handle = next(_HANDLES)
        _SAMPLERS[handle] = sampler
    return handle


def _sample_outputs(cs):
    return (torch.from_numpy(np.ascontiguousarray(cs[0])), torch.from_numpy(cs[1]),
            torch.from_numpy(cs[2]))


def _sample_impl(labels: torch.Tensor, handle: int, num_sampled: int,
           unique: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    sampler = _SAMPLERS.get(handle)
    if sampler is None:
        raise RuntimeError(f"pysampled.torch: sampler handle {handle} is no longer alive")
    return _sample_outputs(sampler.sample(_np(labels), num_sampled, unique))


sample = torch.library.custom_op("pysampled::sample", _sample_impl, mutates_args=(),
                                 device_types="cpu", tags=(torch.Tag.nondeterministic_seeded,))


@sample.register_fake
def _(labels, handle, num_sampled, unique):
    return (labels.new_empty((num_sampled,), dtype=torch.int64),
            labels.new_empty(tuple(labels.shape), dtype=torch.float32),
            labels.new_empty((num_sampled,), dtype=torch.float32))


def _log_uniform_sample_impl(labels: torch.Tensor, num_true: int, num_sampled: int, unique: bool,
                       range_max: int, seed: list[int]) -> tuple[torch.Tensor, torch.Tensor,
                                                                 torch.Tensor]:
    return _sample_outputs(log_uniform_candidate_sampler(_np(labels), num_true, num_sampled, unique,
                                                         range_max, _seed_arg(seed)))


log_uniform_sample = torch.library.custom_op("pysampled::log_uniform_sample",
                                             _log_uniform_sample_impl, mutates_args=(),
                                             device_types="cpu",
                                             tags=(torch.Tag.nondeterministic_seeded,))


@log_uniform_sample.register_fake
def _(labels, num_true, num_sampled, unique, range_max, seed):
    return (labels.new_empty((num_sampled,), dtype=torch.int64),
            labels.new_empty(tuple(labels.shape), dtype=torch.float32),
            labels.new_empty((num_sampled,), dtype=torch.float32))


def _seed_arg(seed):
    return None if not seed else (seed[0] if len(seed) == 1 else (seed[0], seed[1]))


def _per_example_outputs(sampler, labels, batch, num_sampled, num_threads):
    """``(sampled [batch, S] int64, tec [len(labels)] float64, sec [batch, S] float64)``: the
    NumPy API's per-example draw (``sample_bulk``, counts ``S * p(c)`` in float64; the loss
    casts them to the computing dtype exactly as the NumPy API does)."""
    sampled, tec, sec = _rowwise.per_example_draws(sampler, batch, num_sampled,
                                                   _np(labels).reshape(-1), np.float64,
                                                   resolve_num_threads(num_threads))
    return (torch.from_numpy(np.ascontiguousarray(sampled, dtype=np.int64)),
            torch.from_numpy(tec), torch.from_numpy(sec))


def _per_example_fake(labels, batch, num_sampled):
    return (labels.new_empty((batch, num_sampled), dtype=torch.int64),
            labels.new_empty((labels.numel(),), dtype=torch.float64),
            labels.new_empty((batch, num_sampled), dtype=torch.float64))


def _sample_per_example_impl(labels: torch.Tensor, handle: int, batch: int, num_sampled: int,
                             num_threads: Optional[int]) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
    sampler = _SAMPLERS.get(handle)
    if sampler is None:
        raise RuntimeError(f"pysampled.torch: sampler handle {handle} is no longer alive")
    return _per_example_outputs(sampler, labels, batch, num_sampled, num_threads)


sample_per_example = torch.library.custom_op(
    "pysampled::sample_per_example", _sample_per_example_impl, mutates_args=(),
    device_types="cpu", tags=(torch.Tag.nondeterministic_seeded,))


@sample_per_example.register_fake
def _(labels, handle, batch, num_sampled, num_threads):
    return _per_example_fake(labels, batch, num_sampled)


def _log_uniform_per_example_impl(labels: torch.Tensor, batch: int, num_sampled: int,
                                  range_max: int, seed: list[int], num_threads: Optional[int]
                                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    sampler = LogUniformSampler(range_max, seed=_seed_arg(seed))
    return _per_example_outputs(sampler, labels, batch, num_sampled, num_threads)


log_uniform_per_example = torch.library.custom_op(
    "pysampled::log_uniform_per_example", _log_uniform_per_example_impl, mutates_args=(),
    device_types="cpu", tags=(torch.Tag.nondeterministic_seeded,))


@log_uniform_per_example.register_fake
def _(labels, batch, num_sampled, range_max, seed, num_threads):
    return _per_example_fake(labels, batch, num_sampled)


# ------------------------------------------------------------ eager fast path

class _EagerLoss(torch.autograd.Function):
    """The same forward and backward as the custom ops, called directly.

    ``torch.library`` custom ops cost ~0.1-0.3 ms of Python dispatch per call
    (pytree flattening, the dispatcher's autograd wrapper); in eager mode a
    plain ``autograd.Function`` over the same implementation functions gives
    the same bits at a fraction of that. Under ``torch.compile`` the custom
    ops are used (they are what the compiler can trace)."""

    @staticmethod
    def forward(ctx, inputs, nw, nb, cfg, *rest):
        weights, biases = list(rest[:nw]), list(rest[nw:nw + nb])
        labels, sampled, tec, sec, splits = rest[nw + nb:]
        fuse = ctx.fuse = cfg["fuse"]
        out, ctx.pre = _call_numpy(cfg["kind"], inputs, weights, biases, labels, sampled, tec, sec,
                                   splits, cfg["num_true"], cfg["subtract_log_q"],
                                   cfg["remove_accidental_hits"], cfg["mask_all_duplicates"],
                                   cfg["true_target"], cfg["partition_strategy"],
                                   cfg["num_threads"], return_grads=fuse)
        ctx.nw, ctx.nb, ctx.config = nw, nb, cfg
        ctx.w_req = any(t.requires_grad for t in weights)
        ctx.b_req = any(t.requires_grad for t in biases)
        ctx.save_for_backward(inputs, labels, sampled, tec, sec, splits, *weights, *biases)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad):
        x, labels, sampled, tec, sec, splits, *rest = ctx.saved_tensors
        weights, biases = rest[:ctx.nw], rest[ctx.nw:]
        cfg = ctx.config
        nx = ctx.needs_input_grad
        need_x = nx[0]
        need_w = any(nx[4:4 + ctx.nw]) and ctx.w_req
        need_b = any(nx[4 + ctx.nw:4 + ctx.nw + ctx.nb]) and ctx.b_req
        none_tail = (None,) * 5
        if not (need_x or need_w or need_b):
            return (None, None, None, None) + (None,) * (ctx.nw + ctx.nb) + none_tail
        pre, ctx.pre = ctx.pre, None
        c = _uniform_value(grad) if pre is not None and not torch.is_grad_enabled() else None
        if c is not None:
            # every example's upstream is the same c (loss.sum(), loss.mean()): the gradients
            # of the sum, computed in the forward pass, times c
            out = _grad_outputs(pre, weights, biases, cfg["sparse_grad"], need_w, need_b,
                                None if c == 1.0 else c)
            gw, gb = _assemble(out, weights, biases, need_w, need_b, cfg["sparse_grad"])
            return (out[0] if need_x else None, None, None, None) + tuple(gw) + tuple(gb) + none_tail
        # create_graph=True: go through the op, whose own backward raises (no double backward)
        fn = sampled_loss_backward if torch.is_grad_enabled() else _sampled_loss_backward_impl
        out = fn(
            grad, x, list(weights), list(biases), labels, sampled, tec, sec, cfg["kind"],
            cfg["num_true"], cfg["subtract_log_q"], cfg["remove_accidental_hits"],
            cfg["mask_all_duplicates"], cfg["true_target"], cfg["partition_strategy"],
            cfg["num_threads"], cfg["sparse_grad"], need_w, need_b, splits)
        gw, gb = _assemble(out, weights, biases, need_w, need_b, cfg["sparse_grad"])
        return (out[0] if need_x else None, None, None, None) + tuple(gw) + tuple(gb) + none_tail


def _uniform_value(grad: torch.Tensor) -> Optional[float]:
    """The value every element of `grad` holds, or None (not all equal, empty,
    or NaN). Read through a NumPy view where the dtype allows: a few torch
    reductions cost more than the whole check."""
    if grad.numel() == 0:
        return None
    if grad.dtype in (torch.float32, torch.float64) and not grad.is_neg():
        g = grad.detach().reshape(-1).numpy()
        c = g[0]
        return float(c) if bool((g == c).all()) else None
    flat = grad.reshape(-1)
    return flat[0].item() if bool((flat == flat[0]).all()) else None


def _assemble(out, weights, biases, need_w, need_b, sparse):
    """Per-shard gradients from the backward op's flat output list."""
    pos = 1
    res = []
    for shards, needed in ((weights, need_w), (biases, need_b)):
        part = []
        for shard in shards:
            if sparse:
                ids, rows = out[pos], out[pos + 1]
                pos += 2
                part.append(torch.sparse_coo_tensor(ids.unsqueeze(0), rows, shard.shape,
                                                    is_coalesced=True, check_invariants=False)
                            if needed else None)
            else:
                part.append(out[pos] if needed else None)
                pos += 1
        res.append(part)
    return res


def loss(inputs, weights, biases, labels, sampled, tec, sec, kind, num_true, subtract_log_q,
         remove_accidental_hits, mask_all_duplicates, true_target, partition_strategy, num_threads,
         sparse_grad, row_splits):
    """The loss op: the custom op under ``torch.compile``, the eager path otherwise.
    ``row_splits``: ragged labels (``labels`` flat); a 2-D ``sampled``: per-example
    negatives (beyond TF, issue 11)."""
    args = (kind, num_true, subtract_log_q, remove_accidental_hits, mask_all_duplicates,
            true_target, partition_strategy, num_threads, sparse_grad)
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.sampled_loss(inputs, weights, biases, labels, sampled, tec, sec,
                                                *args, row_splits)
    cfg = dict(zip(_ARG_NAMES[7:-1], args))
    # Losses whose gradient will be wanted: compute it in the same kernel pass (used when the
    # upstream gradient is uniform, see _EagerLoss.backward); the logits are left alone.
    cfg["fuse"] = (kind != _KIND_LOGITS and torch.is_grad_enabled()
                   and any(t.requires_grad for t in [inputs, *weights, *biases]))
    return _EagerLoss.apply(inputs, len(weights), len(biases), cfg, *weights, *biases, labels,
                            sampled, tec, sec, row_splits)


def draw(labels, handle, num_sampled, unique):
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.sample(labels, handle, num_sampled, unique)
    return _sample_impl(labels, handle, num_sampled, unique)


def draw_log_uniform(labels, num_true, num_sampled, unique, range_max, seed):
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.log_uniform_sample(labels, num_true, num_sampled, unique,
                                                      range_max, seed)
    return _log_uniform_sample_impl(labels, num_true, num_sampled, unique, range_max, seed)


def draw_per_example(labels, handle, batch, num_sampled, num_threads):
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.sample_per_example(labels, handle, batch, num_sampled,
                                                      num_threads)
    return _sample_per_example_impl(labels, handle, batch, num_sampled, num_threads)


def draw_log_uniform_per_example(labels, batch, num_sampled, range_max, seed, num_threads):
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.log_uniform_per_example(labels, batch, num_sampled, range_max,
                                                           seed, num_threads)
    return _log_uniform_per_example_impl(labels, batch, num_sampled, range_max, seed, num_threads)


# ------------------------------------------------------------- in-batch softmax

def _in_batch_call(query, candidates, extra, candidate_ids, log_q, extra_ids, extra_log_q,
                   temperature, remove_accidental_hits, num_threads, upstream=None,
                   return_grads=False):
    """:func:`pysampled.in_batch_softmax_loss` on NumPy views of the tensors."""
    return _np_retrieval.in_batch_softmax_loss(
        _np(query), _np(candidates), _np(candidate_ids), _np(log_q), _np(extra), _np(extra_ids),
        _np(extra_log_q), temperature, remove_accidental_hits, upstream=_np(upstream),
        return_grads=return_grads, num_threads=num_threads)


def _in_batch_grad_outputs(grads, scale, extra, grad, query, candidates, candidate_ids, log_q,
                           extra_ids, extra_log_q, temperature, remove_accidental_hits,
                           num_threads, need_log_q, need_extra_log_q):
    """``[d_query, d_candidates, d_extra, d_log_q, d_extra_log_q]`` (empty tensors where
    there is nothing or nothing is needed) from an :class:`InBatchGrads`."""
    def scaled(a):
        return torch.from_numpy(a if scale is None else a * a.dtype.type(scale))

    def empty():  # a new one each time: op outputs may not alias each other
        return query.new_empty((0,))

    out = [scaled(grads.query), scaled(grads.candidates),
           empty() if extra is None else scaled(grads.extra_candidates), empty(), empty()]
    if need_log_q or need_extra_log_q:
        # d loss_i / d l_ij = p_ij - [j == i]; every log-Q enters its column with sign -1.
        q = _np(query)
        batch, dim = q.shape
        e = np.zeros((0, dim), q.dtype) if extra is None else _np(extra)
        _, logits, _, _, _ = _extensions._in_batch(
            q, _np(candidates), e, _np(log_q), _np(extra_log_q), _np(candidate_ids),
            _np(extra_ids), bool(remove_accidental_hits), float(temperature), None, False, True,
            resolve_num_threads(num_threads))
        if logits.size:
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(batch), np.arange(batch)] -= 1
            p *= _np(grad)[:, None]
        colsum = -p.sum(axis=0) if logits.size else np.zeros(logits.shape[1], q.dtype)
        if need_log_q:
            out[3] = torch.from_numpy(np.ascontiguousarray(colsum[:batch]))
        if need_extra_log_q:
            out[4] = torch.from_numpy(np.ascontiguousarray(colsum[batch:]))
    return out


def _in_batch_impl(query: torch.Tensor, candidates: torch.Tensor, extra: Optional[torch.Tensor],
                   candidate_ids: Optional[torch.Tensor], log_q: Optional[torch.Tensor],
                   extra_ids: Optional[torch.Tensor], extra_log_q: Optional[torch.Tensor],
                   temperature: float, remove_accidental_hits: bool,
                   num_threads: Optional[int]) -> torch.Tensor:
    return torch.from_numpy(_in_batch_call(query, candidates, extra, candidate_ids, log_q,
                                           extra_ids, extra_log_q, temperature,
                                           remove_accidental_hits, num_threads))


in_batch_loss = torch.library.custom_op("pysampled::in_batch_loss", _in_batch_impl,
                                        mutates_args=(), device_types="cpu")


@in_batch_loss.register_fake
def _(query, candidates, extra, candidate_ids, log_q, extra_ids, extra_log_q, temperature,
      remove_accidental_hits, num_threads):
    return query.new_empty((query.shape[0],))


def _in_batch_backward_impl(grad: torch.Tensor, query: torch.Tensor, candidates: torch.Tensor,
                            extra: Optional[torch.Tensor], candidate_ids: Optional[torch.Tensor],
                            log_q: Optional[torch.Tensor], extra_ids: Optional[torch.Tensor],
                            extra_log_q: Optional[torch.Tensor], temperature: float,
                            remove_accidental_hits: bool, num_threads: Optional[int],
                            need_log_q: bool, need_extra_log_q: bool) -> list[torch.Tensor]:
    """``[d_query, d_candidates, d_extra, d_log_q, d_extra_log_q]`` of ``sum(grad * loss)``."""
    _, grads = _in_batch_call(query, candidates, extra, candidate_ids, log_q, extra_ids,
                              extra_log_q, temperature, remove_accidental_hits, num_threads,
                              upstream=grad, return_grads=True)
    return _in_batch_grad_outputs(grads, None, extra, grad, query, candidates, candidate_ids,
                                  log_q, extra_ids, extra_log_q, temperature,
                                  remove_accidental_hits, num_threads, need_log_q,
                                  need_extra_log_q)


in_batch_loss_backward = torch.library.custom_op("pysampled::in_batch_loss_backward",
                                                 _in_batch_backward_impl, mutates_args=(),
                                                 device_types="cpu")


@in_batch_loss_backward.register_fake
def _(grad, query, candidates, extra, candidate_ids, log_q, extra_ids, extra_log_q, temperature,
      remove_accidental_hits, num_threads, need_log_q, need_extra_log_q):
    def empty():
        return query.new_empty((0,))

    return [torch.empty_like(query), torch.empty_like(candidates),
            empty() if extra is None else torch.empty_like(extra),
            query.new_empty((query.shape[0],)) if need_log_q else empty(),
            extra.new_empty((extra.shape[0],)) if need_extra_log_q and extra is not None
            else empty()]


in_batch_loss_backward.register_autograd(_no_double_backward)

_IB_ARGS = ("query", "candidates", "extra", "candidate_ids", "log_q", "extra_ids", "extra_log_q",
            "temperature", "remove_accidental_hits", "num_threads")


def _ib_setup_context(ctx, inputs, output):
    args = dict(zip(_IB_ARGS, inputs))
    ctx.config = (args["temperature"], args["remove_accidental_hits"], args["num_threads"])
    ctx.has_extra = args["extra"] is not None
    ctx.save_for_backward(args["query"], args["candidates"], args["extra"], args["candidate_ids"],
                          args["log_q"], args["extra_ids"], args["extra_log_q"])


def _ib_backward(ctx, grad):
    q, c, e, ids, lq, eids, elq = ctx.saved_tensors
    n = ctx.needs_input_grad
    if not any(n):
        return (None,) * len(_IB_ARGS)
    out = torch.ops.pysampled.in_batch_loss_backward(grad, q, c, e, ids, lq, eids, elq,
                                                     *ctx.config, bool(n[4]), bool(n[6]))
    return _ib_grads(out, n, ctx.has_extra)


def _ib_grads(out, n, has_extra):
    return (out[0] if n[0] else None, out[1] if n[1] else None,
            out[2] if has_extra and n[2] else None, None, out[3] if n[4] else None, None,
            out[4] if n[6] else None, None, None, None)


in_batch_loss.register_autograd(_ib_backward, setup_context=_ib_setup_context)


class _EagerInBatch(torch.autograd.Function):
    """The in-batch op's eager twin (see :class:`_EagerLoss`): the gradients of
    ``loss.sum()`` are computed in the forward kernel pass when they will be wanted."""

    @staticmethod
    def forward(ctx, query, candidates, extra, candidate_ids, log_q, extra_ids, extra_log_q,
                temperature, remove_accidental_hits, num_threads, fuse):
        res = _in_batch_call(query, candidates, extra, candidate_ids, log_q, extra_ids,
                             extra_log_q, temperature, remove_accidental_hits, num_threads,
                             return_grads=fuse)
        loss, ctx.pre = res if fuse else (res, None)
        ctx.config = (temperature, remove_accidental_hits, num_threads)
        ctx.has_extra = extra is not None
        ctx.save_for_backward(query, candidates, extra, candidate_ids, log_q, extra_ids,
                              extra_log_q)
        return torch.from_numpy(loss)

    @staticmethod
    def backward(ctx, grad):
        q, c, e, ids, lq, eids, elq = ctx.saved_tensors
        n = ctx.needs_input_grad[:len(_IB_ARGS)]
        if not any(n):
            return (None,) * (len(_IB_ARGS) + 1)
        pre, ctx.pre = ctx.pre, None
        flat = grad.reshape(-1)
        if (pre is not None and not torch.is_grad_enabled() and flat.numel() > 0
                and bool((flat == flat[0]).all())):
            c0 = flat[0].item()
            out = _in_batch_grad_outputs(pre, None if c0 == 1.0 else c0, e, grad, q, c, ids, lq,
                                         eids, elq, *ctx.config, bool(n[4]), bool(n[6]))
        else:
            fn = in_batch_loss_backward if torch.is_grad_enabled() else _in_batch_backward_impl
            out = fn(grad, q, c, e, ids, lq, eids, elq, *ctx.config, bool(n[4]), bool(n[6]))
        return _ib_grads(out, n, ctx.has_extra) + (None,)


def in_batch(query, candidates, extra, candidate_ids, log_q, extra_ids, extra_log_q, temperature,
             remove_accidental_hits, num_threads):
    """The in-batch loss: the custom op under ``torch.compile``, the eager path otherwise."""
    args = (query, candidates, extra, candidate_ids, log_q, extra_ids, extra_log_q, temperature,
            remove_accidental_hits, num_threads)
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.in_batch_loss(*args)
    fuse = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (query, candidates, extra, log_q, extra_log_q))
    return _EagerInBatch.apply(*args, fuse)
