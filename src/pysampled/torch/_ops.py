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
from typing import Optional

import numpy as np
import torch

from .. import losses as _np_losses
from ..samplers import log_uniform_candidate_sampler

__all__: list = []

_KIND_LOGITS, _KIND_NCE, _KIND_SOFTMAX = 0, 1, 2


def _np(t: Optional[torch.Tensor]):
    """A NumPy view of a CPU tensor (never a copy), or None."""
    return None if t is None else t.detach().numpy()


def _call_numpy(kind, inputs, weights, biases, labels, sampled, tec, sec, num_true,
                subtract_log_q, remove_accidental_hits, mask_all_duplicates, true_target,
                partition_strategy, num_threads, upstream=None, return_grads=False):
    x = _np(inputs)
    w = [_np(t) for t in weights]
    b = None if not biases else [_np(t) for t in biases]
    lab = _np(labels)
    sampled_np = _np(sampled)
    sv = (sampled_np, _np(tec), _np(sec))
    if not subtract_log_q:  # compute_sampled_logits ignores the counts then
        sv = (sampled_np, None, None)
    S = sampled_np.shape[0]
    up = None if upstream is None else _np(upstream)
    w = w[0] if len(w) == 1 else w
    b = b if b is None or len(b) > 1 else b[0]
    kw = dict(num_true=num_true, sampled_values=sv, remove_accidental_hits=remove_accidental_hits,
              partition_strategy=partition_strategy, return_grads=return_grads, upstream=up,
              num_threads=num_threads, mask_all_duplicates=mask_all_duplicates)
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
                 partition_strategy: str, num_threads: Optional[int], sparse_grad: bool) -> torch.Tensor:
    out, _ = _call_numpy(kind, inputs, weights, biases, labels, sampled, tec, sec, num_true,
                         subtract_log_q, remove_accidental_hits, mask_all_duplicates, true_target,
                         partition_strategy, num_threads)
    return torch.from_numpy(out)


sampled_loss = torch.library.custom_op("pysampled::sampled_loss", _sampled_loss_impl,
                                       mutates_args=(), device_types="cpu")


@sampled_loss.register_fake
def _(inputs, weights, biases, labels, sampled, tec, sec, kind, num_true, subtract_log_q,
      remove_accidental_hits, mask_all_duplicates, true_target, partition_strategy, num_threads,
      sparse_grad):
    if kind == _KIND_LOGITS:
        return inputs.new_empty((inputs.shape[0], num_true + sampled.shape[0]))
    return inputs.new_empty((inputs.shape[0],))


def _sampled_loss_backward_impl(grad: torch.Tensor, inputs: torch.Tensor, weights: list[torch.Tensor],
                          biases: list[torch.Tensor], labels: torch.Tensor, sampled: torch.Tensor,
                          tec: Optional[torch.Tensor], sec: Optional[torch.Tensor], kind: int,
                          num_true: int, subtract_log_q: bool, remove_accidental_hits: bool,
                          mask_all_duplicates: bool, true_target: Optional[float],
                          partition_strategy: str, num_threads: Optional[int], sparse_grad: bool,
                          need_weights: bool, need_biases: bool) -> list[torch.Tensor]:
    """``[d_inputs]`` then, per weight shard and then per bias shard, either
    the dense gradient or ``ids, rows`` (sparse_grad); shards whose gradient
    is not needed get empty tensors in the same places."""
    _, grads = _call_numpy(kind, inputs, weights, biases, labels, sampled, tec, sec, num_true,
                           subtract_log_q, remove_accidental_hits, mask_all_duplicates, true_target,
                           partition_strategy, num_threads, upstream=grad, return_grads=True)
    return _grad_outputs(grads, weights, biases, sparse_grad, need_weights, need_biases)


def _grad_outputs(grads, weights, biases, sparse_grad, need_weights, need_biases, scale=None):
    """The backward op's flat output list from a :class:`LossGrads` (every
    gradient multiplied by `scale` when given)."""
    def scaled(a):
        return a if scale is None else a * a.dtype.type(scale)

    out = [torch.from_numpy(scaled(grads.inputs))]

    def emit(rows, shards, needed):
        parts = rows.per_shard() if len(shards) > 1 else [rows]
        for shard, part in zip(shards, parts):
            if not needed:
                out.extend([shard.new_empty((0,))] * (2 if sparse_grad else 1))
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
      sparse_grad, need_weights, need_biases):
    out = [torch.empty_like(inputs)]
    ctx = torch.library.get_ctx()
    for shards, needed in ((weights, need_weights), (biases, need_biases)):
        for shard in shards:
            if not needed:
                out.extend([shard.new_empty((0,))] * (2 if sparse_grad else 1))
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
              "partition_strategy", "num_threads", "sparse_grad")


def _setup_context(ctx, inputs, output):
    args = dict(zip(_ARG_NAMES, inputs))
    ctx.nw = len(args["weights"])
    ctx.nb = len(args["biases"])
    ctx.config = {k: args[k] for k in _ARG_NAMES[7:]}
    ctx.save_for_backward(args["inputs"], args["labels"], args["sampled"], args["tec"], args["sec"],
                          *args["weights"], *args["biases"])
    ctx.w_req = any(t.requires_grad for t in args["weights"])
    ctx.b_req = any(t.requires_grad for t in args["biases"])


def _backward(ctx, grad):
    x, labels, sampled, tec, sec, *rest = ctx.saved_tensors
    weights, biases = rest[:ctx.nw], rest[ctx.nw:]
    cfg = ctx.config
    need_x = ctx.needs_input_grad[0]
    need_w = bool(ctx.needs_input_grad[1]) and ctx.w_req
    need_b = bool(ctx.needs_input_grad[2]) and ctx.b_req
    if not (need_x or need_w or need_b):
        return (None,) * len(_ARG_NAMES)
    sparse = cfg["sparse_grad"]
    out = torch.ops.pysampled.sampled_loss_backward(
        grad, x, list(weights), list(biases), labels, sampled, tec, sec, cfg["kind"],
        cfg["num_true"], cfg["subtract_log_q"], cfg["remove_accidental_hits"],
        cfg["mask_all_duplicates"], cfg["true_target"], cfg["partition_strategy"],
        cfg["num_threads"], sparse, need_w, need_b)
    gw, gb = _assemble(out, weights, biases, need_w, need_b, sparse)
    return (out[0] if need_x else None, gw, gb) + (None,) * (len(_ARG_NAMES) - 3)


sampled_loss.register_autograd(_backward, setup_context=_setup_context)


# ------------------------------------------------------------------ sampling

_SAMPLERS: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
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
    s = None if not seed else (seed[0] if len(seed) == 1 else (seed[0], seed[1]))
    return _sample_outputs(log_uniform_candidate_sampler(_np(labels), num_true, num_sampled, unique,
                                                         range_max, s))


log_uniform_sample = torch.library.custom_op("pysampled::log_uniform_sample",
                                             _log_uniform_sample_impl, mutates_args=(),
                                             device_types="cpu",
                                             tags=(torch.Tag.nondeterministic_seeded,))


@log_uniform_sample.register_fake
def _(labels, num_true, num_sampled, unique, range_max, seed):
    return (labels.new_empty((num_sampled,), dtype=torch.int64),
            labels.new_empty(tuple(labels.shape), dtype=torch.float32),
            labels.new_empty((num_sampled,), dtype=torch.float32))


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
        labels, sampled, tec, sec = rest[nw + nb:]
        fuse = ctx.fuse = cfg["fuse"]
        out, ctx.pre = _call_numpy(cfg["kind"], inputs, weights, biases, labels, sampled, tec, sec,
                                   cfg["num_true"], cfg["subtract_log_q"],
                                   cfg["remove_accidental_hits"], cfg["mask_all_duplicates"],
                                   cfg["true_target"], cfg["partition_strategy"],
                                   cfg["num_threads"], return_grads=fuse)
        ctx.nw, ctx.nb, ctx.config = nw, nb, cfg
        ctx.w_req = any(t.requires_grad for t in weights)
        ctx.b_req = any(t.requires_grad for t in biases)
        ctx.save_for_backward(inputs, labels, sampled, tec, sec, *weights, *biases)
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad):
        x, labels, sampled, tec, sec, *rest = ctx.saved_tensors
        weights, biases = rest[:ctx.nw], rest[ctx.nw:]
        cfg = ctx.config
        nx = ctx.needs_input_grad
        need_x = nx[0]
        need_w = any(nx[4:4 + ctx.nw]) and ctx.w_req
        need_b = any(nx[4 + ctx.nw:4 + ctx.nw + ctx.nb]) and ctx.b_req
        none_tail = (None,) * 4
        if not (need_x or need_w or need_b):
            return (None, None, None, None) + (None,) * (ctx.nw + ctx.nb) + none_tail
        pre, ctx.pre = ctx.pre, None
        flat = grad.reshape(-1)
        if (pre is not None and not torch.is_grad_enabled() and flat.numel() > 0
                and bool((flat == flat[0]).all())):
            # every example's upstream is the same c (loss.sum(), loss.mean()): the gradients
            # of the sum, computed in the forward pass, times c
            c = flat[0].item()
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
            cfg["num_threads"], cfg["sparse_grad"], need_w, need_b)
        gw, gb = _assemble(out, weights, biases, need_w, need_b, cfg["sparse_grad"])
        return (out[0] if need_x else None, None, None, None) + tuple(gw) + tuple(gb) + none_tail


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
         sparse_grad):
    """The loss op: the custom op under ``torch.compile``, the eager path otherwise."""
    args = (kind, num_true, subtract_log_q, remove_accidental_hits, mask_all_duplicates,
            true_target, partition_strategy, num_threads, sparse_grad)
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.sampled_loss(inputs, weights, biases, labels, sampled, tec, sec,
                                                *args)
    cfg = dict(zip(_ARG_NAMES[7:], args))
    # Losses whose gradient will be wanted: compute it in the same kernel pass (used when the
    # upstream gradient is uniform, see _EagerLoss.backward); the logits are left alone.
    cfg["fuse"] = (kind != _KIND_LOGITS and torch.is_grad_enabled()
                   and any(t.requires_grad for t in [inputs, *weights, *biases]))
    return _EagerLoss.apply(inputs, len(weights), len(biases), cfg, *weights, *biases, labels,
                            sampled, tec, sec)


def draw(labels, handle, num_sampled, unique):
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.sample(labels, handle, num_sampled, unique)
    return _sample_impl(labels, handle, num_sampled, unique)


def draw_log_uniform(labels, num_true, num_sampled, unique, range_max, seed):
    if torch.compiler.is_compiling():
        return torch.ops.pysampled.log_uniform_sample(labels, num_true, num_sampled, unique,
                                                      range_max, seed)
    return _log_uniform_sample_impl(labels, num_true, num_sampled, unique, range_max, seed)
