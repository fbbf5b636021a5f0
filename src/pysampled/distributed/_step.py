"""One call of :class:`ShardedSampledLoss` (``step``, ``loss``, ``loss``
with gradients), in the phases it runs on every rank:

1. :func:`agree_on_batch`: validate this rank's batch, agree on it with the
   other ranks (one allgather of a small header), gather the slices of a
   split batch so that every rank holds the whole batch.
2. :func:`own_columns`: draw the sampled classes (the same on every rank)
   and find the logit columns this rank owns.
3. :func:`local_logits`: the owned logits from the C++ kernel on the local
   shard; columns of other ranks and accidental hits get ``-inf``.
4. :func:`loss_and_logit_grads`: the loss (softmax normaliser or NCE terms
   combined over the ranks) and the gradient of every owned logit.
5. :func:`local_backward`: this rank's part of the input gradient and, for
   ``step``, the SGD / Adagrad update of the owned rows.
6. :func:`reduce_input_gradient`: the parts summed over the ranks.

Design: what crosses the network has the size of the batch, never of
``num_classes`` or ``num_sampled`` rows; every sum over ranks is taken in
rank order on the rank that owns the example slice (``Channel``), so
reruns are bit-identical.
"""
from __future__ import annotations

import zlib
from typing import NamedTuple, Optional

import numpy as np

from .. import _losses
from .._validation import as_ids
# losses.pyi types the public API only, not this private helper
from ..losses import _labels_matrix  # type: ignore[attr-defined]
from ._channel import DistributedError, slice_starts
from ._local import Columns

__all__ = ["Batch", "agree_on_batch", "local_backward", "local_logits",
           "loss_and_logit_grads", "own_columns", "reduce_input_gradient", "true_targets"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_MODES = {"step": 0, "loss": 1, "grads": 2}  # in the agreement header


class Batch(NamedTuple):
    """The whole batch of one call, held by every rank."""

    labels: np.ndarray  # [B, T]
    inputs: np.ndarray  # [B, D], contiguous
    upstream: Optional[np.ndarray]  # [B] of the inputs' dtype, or None
    split: bool  # batch_split: each rank passed (and gets back) one slice
    out_rows: list  # examples of every rank's slice, in rank order
    starts: np.ndarray  # slice_starts(out_rows)

    def mine(self, per_example, rank):
        """This rank's slice of a ``[B, ...]`` array."""
        return per_example[self.starts[rank]:self.starts[rank + 1]]


# -- 1. the batch

def check_batch(labels, inputs, upstream, mode, shard, num_true):
    """This rank's ``(inputs, labels, upstream)`` as arrays, or the error users see."""
    x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
    w = shard.weights
    if x.dtype not in _FLOATS or x.ndim != 2:
        raise TypeError(f"inputs must be a 2-D float32 or float64 array, got {x.dtype} "
                        f"of shape {x.shape}")
    if x.dtype != w.dtype:
        raise TypeError(f"inputs must have the dtype of the weights ({w.dtype}), "
                        f"got {x.dtype}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"Matrix size-incompatible: inputs are {list(x.shape)} but the "
                         f"weights have {w.shape[1]} columns")
    if mode == "step":
        shard.check_writable()
    x = np.ascontiguousarray(x)
    lab = _labels_matrix(labels, num_true)
    if lab.shape[0] != x.shape[0]:
        raise ValueError(f"labels have {lab.shape[0]} rows but inputs have {x.shape[0]}")
    up = None
    if upstream is not None:
        up = np.asarray(upstream)
        if up.dtype.kind not in "fiu" or up.dtype == np.bool_:
            raise TypeError(f"upstream must hold numbers, got dtype {up.dtype}")
        if up.shape != (x.shape[0],):
            raise ValueError(f"upstream must have shape {(x.shape[0],)}, got {up.shape}")
        up = np.ascontiguousarray(up, dtype=x.dtype)
    return x, lab, up


def _batch_header(x, lab, up, batch_split, mode):
    """Validity, sizes, and (shared batch) a checksum of the batch."""
    head = np.zeros(6, dtype=np.int64)
    head[:5] = (1, x.shape[0], int(batch_split), int(up is not None), _MODES[mode])
    if not batch_split:
        crc = zlib.crc32(lab.tobytes())
        crc = zlib.crc32(x.tobytes(), crc)
        if up is not None:
            crc = zlib.crc32(up.tobytes(), crc)
        head[5] = crc
    return head


def _check_agreement(allh, mode, batch_split):
    K = allh.shape[0]
    bad = [k for k in range(K) if allh[k, 0] != 1]
    if bad:
        raise DistributedError(f"rank(s) {bad} of {K} rejected their arguments to {mode} "
                               "(see their error)")
    for i, what in ((2, "batch_split"), (3, "whether upstream is given"), (4, "the method called")):
        if np.any(allh[:, i] != allh[0, i]):
            raise DistributedError(f"the ranks disagree on {what}")
    if not batch_split and (np.any(allh[:, 1] != allh[0, 1]) or np.any(allh[:, 5] != allh[0, 5])):
        raise DistributedError("batch_split=False needs the same labels, inputs and upstream on "
                               "every rank, but they differ (pass batch_split=True for per-rank "
                               "slices)")


def agree_on_batch(ch, labels, inputs, upstream, mode, batch_split, shard, num_true):
    """Phase 1: the validated whole batch, or an error on every rank."""
    error = None
    x = lab = up = None
    try:
        x, lab, up = check_batch(labels, inputs, upstream, mode, shard, num_true)
    except Exception as e:  # every rank must still take part in the agreement below
        error = e
    head = np.zeros(6, dtype=np.int64) if error is not None else \
        _batch_header(x, lab, up, batch_split, mode)
    allh = ch.allgather(head, "agree on the batch")
    if error is not None:
        raise error
    _check_agreement(allh, mode, batch_split)
    if batch_split:
        counts = [int(c) for c in allh[:, 1]]
        lab = ch.allgatherv(lab, counts, "gather labels")
        x = ch.allgatherv(x, counts, "gather inputs")
        if up is not None:
            up = ch.allgatherv(up, counts, "gather upstream")
        out_rows = counts
    else:
        out_rows = [len(a) for a in np.array_split(np.empty(x.shape[0]), ch.size)]
    return Batch(lab, x, up, batch_split, out_rows, slice_starts(out_rows))


# -- 2. the columns this rank owns

def own_columns(batch, sampler, num_sampled, rows, div, rank, subtract_log_q, has_rows):
    """Phase 2: draw the batch's sampled classes and route them and the labels."""
    lab = batch.labels
    B, T = lab.shape
    dtype = batch.inputs.dtype
    sampled, tec, sec = sampler.sample(lab, num_sampled, True)
    sampled = as_ids(sampled, "sampled_candidates", ndim=1)
    tec = np.ascontiguousarray(tec, dtype=dtype).reshape(B, T)
    sec = np.ascontiguousarray(sec, dtype=dtype)
    owner_l, row_l = _losses.locate(np.ascontiguousarray(lab.reshape(-1)), rows, div, "labels")
    own_t = (owner_l == rank).reshape(B, T)
    owner_s, row_s = _losses.locate(sampled, rows, div, "sampled_candidates")
    sel = owner_s == rank
    loc_s = np.ascontiguousarray(row_s[sel])
    sec_loc = np.ascontiguousarray(sec[sel])
    active = has_rows and B > 0 and (loc_s.shape[0] > 0 or bool(own_t.any()))
    lab_loc = np.ascontiguousarray(np.where(own_t, row_l.reshape(B, T), 0))
    return Columns(own_t, row_l, lab_loc, sampled[sel], loc_s,
                   tec.reshape(-1) if subtract_log_q else None,
                   sec_loc if subtract_log_q else None, active)


# -- 3. the owned logits

def local_logits(shard, batch, cols, threads, remove_accidental_hits):
    """Phase 3: ``[B, T + S_r]`` logits; -inf where this rank does not own the
    true label and on accidental hits (they then add exactly 0 to every sum
    and get gradient 0, as TF's -FLT_MAX mask gives in the single-process loss)."""
    lab = batch.labels
    B, T = lab.shape
    dtype = batch.inputs.dtype
    ninf = dtype.type(-np.inf)
    Sr = cols.local_sampled.shape[0]
    if not cols.active:
        return np.full((B, T + Sr), ninf, dtype=dtype)
    # The kernel computed the true labels of other ranks on a placeholder row.
    logits = shard.logits(batch.inputs, cols, T, threads)
    true_part = logits[:, :T]
    true_part[~cols.own_true] = ninf
    if remove_accidental_hits and Sr:
        hb, hs = np.nonzero((lab[:, :, None] == cols.sampled[None, None, :]).any(axis=1))
        logits[hb, T + hs] = ninf
    return logits


# -- 4. the loss and the gradient of the owned logits

def true_targets(loss_kind, true_target, own_t, dtype):
    """``[B, T]`` target of every owned true column (0 elsewhere)."""
    T = own_t.shape[1]
    if loss_kind == "sampled_softmax":
        zt = dtype.type(1.0 / T)
    else:
        zt = dtype.type(1.0 / T if true_target is None else true_target)
    return np.where(own_t, zt, dtype.type(0))


def loss_and_logit_grads(ch, loss_kind, logits, own_t, z_t, batch, mode):
    """Phase 4: ``([B] loss, [B, T + S_r] logit gradient or None for mode "loss")``.

    Per-example partials of this rank are combined over the ranks by a
    reduce-scatter over example slices (each rank combines its slice in
    rank order), then an allgather of the combined slices where needed. With
    ``batch_split`` the loss is valid on this rank's slice only when only
    the loss is wanted.
    """
    dtype = batch.inputs.dtype
    T = own_t.shape[1]
    own_true = np.where(own_t, logits[:, :T], dtype.type(0))  # finite where owned
    u = np.ones(logits.shape[0], dtype=dtype) if batch.upstream is None else batch.upstream
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if loss_kind == "sampled_softmax":
            need_all = mode != "loss" or not batch.split  # gradients need every normaliser
            loss, g = _softmax(ch, logits, own_true, z_t, u, batch, need_all, mode != "loss")
        else:
            loss, g = _nce(ch, logits, own_true, z_t, u, batch, mode != "loss")
    return loss.astype(dtype, copy=False), g


def _softmax(ch, logits, own_true, z_t, u, batch, need_all, want_grads):
    dtype = logits.dtype
    B, T = own_true.shape
    ninf = dtype.type(-np.inf)
    m_r = logits.max(axis=1) if logits.shape[1] else np.full(B, ninf, dtype=dtype)
    m_safe = np.where(m_r == ninf, dtype.type(0), m_r)
    e = logits - m_safe[:, None]  # the kernel's logits are not needed any more
    np.exp(e, out=e)
    s_r = e.sum(axis=1, dtype=dtype)
    t_r = (z_t * own_true).sum(axis=1, dtype=dtype)
    parts = ch.exchange_slices(np.stack([m_r, s_r, t_r], axis=1).astype(dtype, copy=False),
                               batch.out_rows, "softmax normaliser")
    M = parts[:, :, 0].max(axis=0)
    Ssum = np.zeros(M.shape, dtype=dtype)
    Tsum = np.zeros(M.shape, dtype=dtype)
    for k in range(ch.size):  # rank order
        Ssum += parts[k, :, 1] * np.exp(parts[k, :, 0] - M)
        Tsum += parts[k, :, 2]
    mine = np.stack([M, Ssum, M + np.log(Ssum) - Tsum], axis=1)
    if need_all:
        full = ch.allgatherv(mine, batch.out_rows, "gather normaliser") if ch.size > 1 else mine
        M, Ssum, loss = full[:, 0], full[:, 1], full[:, 2]
    else:
        loss = np.zeros(B, dtype=dtype)
        batch.mine(loss, ch.rank)[:] = mine[:, 2]
    if not want_grads:
        return loss, None
    # softmax_j = exp(l_j - m_r) * exp(m_r - M) / S; g = u * (softmax - z)
    scale = u * np.where(m_r == ninf, dtype.type(0), np.exp(m_safe - M) / Ssum)
    e *= scale[:, None]
    e[:, :T] -= u[:, None] * z_t
    return loss, e


def _nce(ch, logits, own_true, z_t, u, batch, want_grads):
    dtype = logits.dtype
    B, T = own_true.shape
    a_ = np.abs(logits)
    np.negative(a_, out=a_)
    np.exp(a_, out=a_)  # exp(-|l|): 0 on -inf columns
    term = np.log1p(a_)
    term += np.maximum(logits, dtype.type(0))
    l_r = term.sum(axis=1, dtype=dtype) - (own_true * z_t).sum(axis=1, dtype=dtype)
    mine = ch.reduce_scatter(l_r, batch.out_rows, "nce loss")
    if not batch.split:  # NCE gradients are local: only a shared batch needs every loss
        loss = ch.allgatherv(mine, batch.out_rows, "gather nce loss") if ch.size > 1 else mine
    else:
        loss = np.zeros(B, dtype=dtype)
        batch.mine(loss, ch.rank)[:] = mine
    if not want_grads:
        return loss, None
    # sigmoid(l) = 1/(1+e) for l >= 0, e/(1+e) below, with e = exp(-|l|)
    g = np.where(logits >= 0, dtype.type(1), a_)
    g /= dtype.type(1) + a_
    g[:, :T] -= z_t
    if batch.upstream is not None:
        g *= u[:, None]
    return loss, g


# -- 5. backward on the local shard, 6. the input gradient over the ranks

def local_backward(shard, batch, cols, threads, g, mode, learning_rate):
    """Phase 5: ``(d_inputs part, ids, weight rows, bias rows)``; for ``step``
    the owned rows are updated in place and the gradient rows are None."""
    x = batch.inputs
    B, D = x.shape
    T = batch.labels.shape[1]
    g = np.ascontiguousarray(g, dtype=x.dtype)
    if cols.active:
        if mode == "step":
            return shard.apply_update(x, cols, T, threads, g, learning_rate), None, None, None
        return shard.gradients(x, cols, T, threads, g)
    dx_r = np.zeros((B, D), dtype=x.dtype)
    if mode != "grads":
        return dx_r, None, None, None
    gb = None if shard.biases is None else np.zeros(0, dtype=x.dtype)
    return dx_r, np.zeros(0, dtype=np.int64), np.zeros((0, D), dtype=x.dtype), gb


def reduce_input_gradient(ch, dx_r, batch):
    """Phase 6: the sum of every rank's part, in rank order: this rank's slice
    with ``batch_split``, else the whole batch."""
    dx_mine = ch.reduce_scatter(dx_r, batch.out_rows, "reduce input gradient")
    if batch.split or ch.size == 1:
        return dx_mine
    return ch.allgatherv(dx_mine, batch.out_rows, "gather input gradient")
