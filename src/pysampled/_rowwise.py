"""Ragged labels and per-example negatives for the sampled losses.

Design: `pysampled.losses` keeps TF's API and sends a call here when it uses
an option TF does not have (``label_row_splits=``, a 2-D
``sampled_candidates``, ``negatives="per_example"``). This module validates
those calls, draws per-example negatives, and makes one call into the
row-wise C++ kernel (`pysampled._extensions._row_loss`, GIL released,
weights read in place).

Semantics (issue 11; the formulas are repeated in the public docstrings):

* Example ``i`` owns ``labels[row_splits[i]:row_splits[i+1]]`` (``n_i >= 1``
  labels; ``n_i = 0`` raises ValueError naming the example). Its logits are
  the ``n_i`` true logits, then ``S`` sampled logits; each true column has
  target ``1/n_i`` (NCE: ``true_target`` if given), each sampled column 0.
* Candidates: one ``[S]`` row shared by the batch, or ``[batch, S]`` (row
  ``i`` for example ``i``).
* Logits: ``x_i . w_c + b_c - log(expected_count)``; with
  ``remove_accidental_hits`` every sampled column equal to *any* of example
  ``i``'s labels gets ``-FLT_MAX`` added before the log term (TF's order).
  Unlike TF's shared path, every occurrence of a duplicated sampled id is
  masked (``mask_all_duplicates`` is implied).
* Per-example draws (``negatives="per_example"``): ``sampler.sample_bulk
  ((batch, S))`` (with replacement, thread-count invariant), expected counts
  ``S * p(c)`` for both the sampled and the true classes, with ``p`` the
  sampler's single-draw probability.
"""
from __future__ import annotations

import numpy as np

from . import _extensions
from ._threads import resolve_num_threads
from ._validation import as_ids, check_attr_min

_KIND_LOGITS, _KIND_NCE, _KIND_SOFTMAX = 0, 1, 2
NEGATIVES = ("shared", "per_example")


def row_splits_array(label_row_splits, num_labels: int, batch: int) -> np.ndarray:
    """Validated int64 row splits ``[batch + 1]`` (tf.RaggedTensor convention)."""
    s = as_ids(label_row_splits, "label_row_splits", ndim=1)
    if s.shape[0] != batch + 1:
        raise ValueError(f"label_row_splits must have batch_size + 1 = {batch + 1} entries "
                         f"(one more than the rows of inputs), got {s.shape[0]}")
    if s[0] != 0:
        raise ValueError(f"label_row_splits must start at 0, got {s[0]}")
    d = np.diff(s)
    if (d < 0).any():
        i = int(np.flatnonzero(d < 0)[0])
        raise ValueError(f"label_row_splits must be non-decreasing: label_row_splits[{i + 1}] = "
                         f"{s[i + 1]} < label_row_splits[{i}] = {s[i]}")
    if s[-1] != num_labels:
        raise ValueError(f"label_row_splits must end at len(labels) = {num_labels}, got {s[-1]}")
    if (d == 0).any():
        i = int(np.flatnonzero(d == 0)[0])
        raise ValueError(f"example {i} has no true labels (label_row_splits[{i}] == "
                         f"label_row_splits[{i + 1}] == {s[i]}); every example needs at least one")
    return s


def check_negatives(negatives) -> str:
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be 'shared' or 'per_example', got {negatives!r}")
    return negatives


def is_rowwise(label_row_splits, negatives, sampled_values) -> bool:
    """Whether a loss call needs the row-wise kernel."""
    if label_row_splits is not None or check_negatives(negatives) == "per_example":
        return True
    if sampled_values is None:
        return False
    try:
        return np.ndim(sampled_values[0]) == 2
    except (TypeError, IndexError, KeyError):
        return False  # the TF path reports the malformed triple


def per_example_draws(sampler, batch, num_sampled, labels_flat, dtype, num_threads):
    """``(sampled [B, S], tec [NL], sec [B, S])``: ``sampler.sample_bulk((B, S))``,
    expected counts ``S * p(c)`` computed in float64, then cast to ``dtype``."""
    sampled = sampler.sample_bulk((batch, num_sampled), num_threads=num_threads)
    tec = (num_sampled * sampler.probability(labels_flat).astype(np.float64)).astype(dtype)
    sec = (num_sampled * sampler.probability(sampled).astype(np.float64)).astype(dtype)
    return sampled, tec, sec


def prepare(labels, inputs_batch, num_true, label_row_splits):
    """``(flat labels, row splits, uniform num_true or None)``."""
    if label_row_splits is not None:
        if num_true not in (None, 1):
            raise ValueError("num_true must be left unset with label_row_splits (each example's "
                             "number of labels comes from the row splits)")
        flat = as_ids(labels, "labels")
        if flat.ndim != 1:
            raise ValueError(f"with label_row_splits, labels must be the flat 1-D array of all "
                             f"true classes, got shape {flat.shape}")
        return flat, row_splits_array(label_row_splits, flat.shape[0], inputs_batch), None
    nt = check_attr_min(1 if num_true is None else num_true, "num_true")
    a = as_ids(labels, "labels")
    if a.ndim == 1 and nt == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[1] != nt:
        raise ValueError(f"labels must have shape [batch_size, num_true={nt}], got {a.shape}")
    if a.shape[0] != inputs_batch:
        raise ValueError(f"labels have {a.shape[0]} rows but inputs have {inputs_batch}")
    return a.reshape(-1), np.arange(inputs_batch + 1, dtype=np.int64) * nt, nt


def compute(kind, w_shards, b_shards, w_div, b_div, x, labels, num_true, label_row_splits,
            num_sampled, sampled_values, negatives, sampler_factory, subtract_log_q,
            remove_accidental_hits, true_target, upstream, want_grads, want_logits,
            num_threads, floats):
    """The row-wise path of nce_loss / sampled_softmax_loss / compute_sampled_logits /
    SampledLoss. ``w_shards``/``b_shards`` are validated shard lists, ``x`` a
    C-contiguous float array; ``sampler_factory()`` returns the sampler for
    per-example draws; ``floats(value, name, shape, dtype)`` converts arrays.
    Returns ``(loss, logits (flat), dx, ids, gw, gb, row_splits, num_true)``."""
    dtype = x.dtype
    batch = x.shape[0]
    flat, splits, nt = prepare(labels, batch, num_true, label_row_splits)
    nl = flat.shape[0]
    check_negatives(negatives)
    threads = resolve_num_threads(num_threads)
    if sampled_values is None:
        num_sampled = check_attr_min(num_sampled, "num_sampled")
        if negatives == "per_example":
            sampled, tec, sec = per_example_draws(sampler_factory(), batch, num_sampled, flat,
                                                  dtype, threads)
        else:
            sampled, tec, sec = sampler_factory(shared_labels=flat)
            if nt is None:
                tec = np.asarray(tec).reshape(-1)  # drawn for the flat labels as [NL, 1]
    else:
        num_sampled = check_attr_min(num_sampled, "num_sampled", minimum=0)
        try:
            sampled, tec, sec = sampled_values
        except (TypeError, ValueError):
            raise ValueError("sampled_values must be a triple (sampled_candidates, "
                             "true_expected_count, sampled_expected_count)") from None
        sampled = as_ids(sampled, "sampled_candidates")
        if sampled.ndim == 1 and negatives == "per_example":
            raise ValueError("negatives='per_example' needs a 2-D sampled_candidates "
                             "[batch_size, num_sampled]")
        if sampled.ndim not in (1, 2):
            raise ValueError(f"sampled_candidates must be 1-D (shared) or 2-D [batch_size, "
                             f"num_sampled] (per example), got shape {sampled.shape}")
    per_example = sampled.ndim == 2
    want_shape = (batch, num_sampled) if per_example else (num_sampled,)
    if sampled.shape != want_shape:
        raise ValueError(f"sampled_candidates must have shape {want_shape}, got {sampled.shape}")
    if subtract_log_q:
        tec_shape = (batch, nt) if nt is not None and np.ndim(tec) == 2 else (nl,)
        tec = floats(tec, "true_expected_count", tec_shape, dtype).reshape(-1)
        sec = floats(sec, "sampled_expected_count", want_shape, dtype).reshape(-1)
    else:
        tec = sec = None
    if upstream is not None:
        if kind == _KIND_LOGITS:
            if nt is None:
                raise ValueError("compute_sampled_logits does not take label_row_splits")
            upstream = floats(upstream, "upstream", (batch, nt + num_sampled), dtype).reshape(-1)
        else:
            upstream = floats(upstream, "upstream", (batch,), dtype)
    elif kind == _KIND_LOGITS and want_grads:
        upstream = np.ones(nl + batch * num_sampled, dtype=dtype)
    if true_target is None:
        true_target = 0.0
    elif not (np.isfinite(true_target) and true_target > 0):
        raise ValueError("true_target must be a positive number")
    w_view = _extensions.Shards(w_shards, w_div)
    b_view = None if b_shards is None else _extensions.Shards(b_shards, b_div)
    loss, logits, dx, ids, gw, gb = _extensions._row_loss(
        int(kind), x, flat, splits, sampled.reshape(-1), per_example, num_sampled, tec, sec, w_view,
        b_view, bool(subtract_log_q), bool(remove_accidental_hits), float(true_target), upstream,
        bool(want_grads), bool(want_logits), threads)
    return loss, logits, dx, ids, gw, gb, splits, nt


def apply_update(shards, accum, div, ids, rows, lr, epsilon, optimizer):
    """SGD / Adagrad on the deduplicated rows ``ids`` (in place, shard by shard):
    SGD ``w -= lr * g``; Adagrad ``acc += g * g; w -= lr * g / (sqrt(acc) + epsilon)``."""
    from . import _losses

    shard, local = _losses.locate(ids, [a.shape[0] for a in shards], div)
    for p, a in enumerate(shards):
        sel = shard == p
        if not sel.any():
            continue
        r = local[sel]
        g = rows[sel].astype(a.dtype, copy=False)
        if optimizer == "sgd":
            a[r] -= a.dtype.type(lr) * g
        else:
            acc = accum[p]
            acc[r] += g * g
            a[r] -= a.dtype.type(lr) * g / (np.sqrt(acc[r]) + a.dtype.type(epsilon))


def run_loss(kind, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
             sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
             want_grads, upstream, num_threads, true_target, want_logits, label_row_splits,
             negatives):
    """The functions' row-wise path: ``(loss, logits [B, nt + S] or None, LossGrads or None)``.
    The default samplers: TF's log-uniform ``unique=True`` draw over the flat
    labels (shared), or ``LogUniformSampler(num_classes, seed)`` (per example)."""
    from . import losses as L
    from .samplers import LogUniformSampler, log_uniform_candidate_sampler

    x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
    if x.dtype not in L._FLOATS:
        raise TypeError(f"inputs must be float32 or float64, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"inputs must be 2-D [batch_size, dim], got shape {x.shape}")
    x = np.ascontiguousarray(x)
    params = L._Params(weights, biases, partition_strategy)
    w_shards, b_shards, w_div, b_div = params.w, params.b, params.w_div, params.b_div
    if w_shards[0].shape[1] != x.shape[1]:
        raise ValueError(f"Matrix size-incompatible: inputs are [{x.shape[0]},{x.shape[1]}] but "
                         f"weights have {w_shards[0].shape[1]} columns")

    def sampler_factory(shared_labels=None):
        n = check_attr_min(num_classes, "num_classes")
        if shared_labels is None:
            return LogUniformSampler(n, seed=seed)
        return log_uniform_candidate_sampler(shared_labels.reshape(-1, 1), 1, num_sampled, True,
                                             n, seed)

    loss, logits, dx, ids, gw, gb, splits, nt = compute(
        kind, w_shards, b_shards, w_div, b_div, x, labels, num_true, label_row_splits,
        num_sampled, sampled_values, negatives, sampler_factory, subtract_log_q,
        remove_accidental_hits, true_target, upstream, want_grads, want_logits, num_threads,
        L._floats)
    if logits is not None and nt is not None:
        logits = logits.reshape(x.shape[0], -1)
    grads = None
    if want_grads:
        grads = pack_grads(L, w_shards, b_shards, w_div, b_div, ids, gw, gb, dx)
    return loss, logits, grads


def pack_grads(L, w_shards, b_shards, w_div, b_div, ids, gw, gb, dx):
    w_dtype = w_shards[0].dtype
    gw = L._in_dtype(gw, w_dtype)
    total_w = sum(a.shape[0] for a in w_shards)
    w_rows = L.SparseRows(ids, gw, total_w, [a.shape[0] for a in w_shards], w_div)
    b_rows = None
    if b_shards is not None:
        b_dtype = b_shards[0].dtype
        gb = L._in_dtype(gb, b_dtype)
        total_b = sum(a.shape[0] for a in b_shards)
        b_rows = L.SparseRows(ids, gb, total_b, [a.shape[0] for a in b_shards], b_div)
    return L.LossGrads(dx, w_rows, b_rows)


def sampled_loss_call(obj, labels, inputs, sampled_values, return_grads, upstream,
                      label_row_splits, update_lr=None):
    """``SampledLoss.__call__`` / ``step`` on the row-wise path. With
    ``update_lr`` the gradient is applied in place (SGD/Adagrad, see
    :func:`apply_update`) and ``(loss, dx)`` is returned."""
    from . import losses as L

    x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
    if x.dtype not in L._FLOATS or x.ndim != 2:
        raise TypeError("inputs must be a 2-D float32 or float64 array")
    x = np.ascontiguousarray(x)
    w_div, b_div = obj._params.w_div, obj._params.b_div
    if x.shape[1] != obj._params.w_view.cols:
        raise ValueError(f"Matrix size-incompatible: inputs are {list(x.shape)} but weights "
                         f"have {obj._params.w_view.cols} columns")
    if update_lr is not None:
        for a in obj._w + (obj._b or []):
            if a.dtype != x.dtype:
                raise TypeError(f"step() updates in place: weights and biases must be {x.dtype} "
                                f"like the inputs, got {a.dtype}")
            if not a.flags.writeable:
                raise ValueError("step() updates in place: weights and biases must be writable")

    def sampler_factory(shared_labels=None):
        if shared_labels is None:
            return obj.sampler
        return obj.sampler.sample(shared_labels.reshape(-1, 1), obj.num_sampled, obj.unique)

    num_true = None if label_row_splits is not None else obj.num_true
    loss, _, dx, ids, gw, gb, _, _ = compute(
        obj._kind, obj._w, obj._b, w_div, b_div, x, labels, num_true,
        label_row_splits, obj.num_sampled, sampled_values, obj.negatives, sampler_factory,
        obj.subtract_log_q, obj.remove_accidental_hits, obj.true_target, upstream,
        return_grads or update_lr is not None, False, obj.num_threads, L._floats)
    if update_lr is not None:
        accw = accb = None
        if obj._accum_w is not None:
            accw, accb = obj._accum_w, obj._accum_b
        apply_update(obj._w, accw, w_div, ids, gw, update_lr, obj.epsilon, obj.optimizer)
        if obj._b is not None:
            apply_update(obj._b, accb, b_div, ids, gb, update_lr, obj.epsilon, obj.optimizer)
        return loss, dx
    if not return_grads:
        return loss
    return loss, pack_grads(L, obj._w, obj._b, w_div, b_div, ids, gw, gb, dx)
