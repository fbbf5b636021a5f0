"""This rank's shard and the C++ kernel calls on it: the local logits, the
local gradients, and the fused SGD / Adagrad update of the owned rows.

Design: every call is pysampled's ``compute_sampled_logits`` kernel
(``LossKind.LOGITS``) on the local shard with *local* row ids (the
:class:`Columns` this rank owns); the loss itself is formed from the
logits by the caller (``_step``), because its normaliser spans the ranks.
The update is the one :class:`pysampled.SampledLoss` applies (same kernel,
same optimizer arguments); the Adagrad accumulators of the local rows live
here.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .. import _losses

__all__ = ["Columns", "LocalShard"]

_OPTIMIZERS = {"sgd": _losses.Optimizer.SGD, "adagrad": _losses.Optimizer.ADAGRAD}


class Columns(NamedTuple):
    """The logit columns this rank owns in one call: per example, the true
    labels it owns (the others sit on a placeholder row 0), and the sampled
    classes it owns (shared by the batch)."""

    own_true: np.ndarray  # [B, T] bool: the true label is on this rank
    label_rows: np.ndarray  # [B * T] local row of every label (meaningful where owned)
    local_labels: np.ndarray  # [B, T] label_rows where owned, else 0
    sampled: np.ndarray  # [S_r] class ids of the owned sampled classes
    local_sampled: np.ndarray  # [S_r] their local rows
    tec: Optional[np.ndarray]  # [B * T] true expected counts (None: no log-Q correction)
    sec: Optional[np.ndarray]  # [S_r] sampled expected counts (None: no log-Q correction)
    active: bool  # this rank has rows and owns at least one column of a non-empty batch


class LocalShard:
    """This rank's ``[rows_r, dim]`` weights and ``[rows_r]`` biases (the
    caller's arrays, never copied), the optimizer state of those rows, and
    the kernel calls on them."""

    def __init__(self, weights, biases, optimizer, initial_accumulator_value, epsilon,
                 subtract_log_q):
        self.weights, self.biases = weights, biases
        self.w_view = _losses.Shards([weights], False) if weights.shape[0] else None
        self.b_view = (_losses.Shards([biases], False)
                       if (biases is not None and biases.shape[0]) else None)
        self.optimizer = optimizer
        self.epsilon = epsilon
        self.subtract_log_q = subtract_log_q
        self.acc_w = self.acc_b = None
        if optimizer == "adagrad":
            init = initial_accumulator_value
            self.acc_w = np.full(weights.shape, init, dtype=weights.dtype)
            self.acc_b = None if biases is None else np.full(biases.shape, init, dtype=biases.dtype)

    def check_writable(self):
        for a in (self.weights, self.biases):
            if a is not None and not a.flags.writeable:
                raise ValueError("step() updates in place: local weights and biases "
                                 "must be writable")

    def _kernel(self, x, cols, num_true, threads, *, upstream, want_grads, want_logits,
                **update):
        return _losses._run(
            _losses.LossKind.LOGITS, x, cols.local_labels.reshape(-1), num_true,
            cols.local_sampled, cols.tec, cols.sec, self.w_view, self.b_view,
            subtract_log_q=self.subtract_log_q, remove_accidental_hits=False,
            mask_all_duplicates=False, true_target=0.0, upstream=upstream,
            want_grads=want_grads, want_logits=want_logits, num_threads=threads, **update)

    def logits(self, x, cols, num_true, threads):
        """``[B, T + S_r]`` logits of the owned columns (placeholder rows included)."""
        return self._kernel(x, cols, num_true, threads, upstream=None, want_grads=False,
                            want_logits=True).logits

    def apply_update(self, x, cols, num_true, threads, g, learning_rate):
        """Apply the logit gradient ``g`` to the owned rows in place (SGD or
        Adagrad, fused in the kernel); returns this rank's ``[B, D]`` part of
        the input gradient."""
        accw = None if self.acc_w is None else _losses.Shards([self.acc_w], False)
        accb = None if (self.acc_b is None or self.b_view is None) else \
            _losses.Shards([self.acc_b], False)
        return self._kernel(
            x, cols, num_true, threads, upstream=g.reshape(-1), want_grads=True,
            want_logits=False, optimizer=_OPTIMIZERS[self.optimizer],
            learning_rate=learning_rate, epsilon=self.epsilon, weight_accum=accw,
            bias_accum=accb, hogwild=False).d_inputs

    def gradients(self, x, cols, num_true, threads, g):
        """``(d_inputs part, ids, weight rows, bias rows)`` of the logit gradient
        ``g``, with local row ids, restricted to the rows this rank owns."""
        res = self._kernel(x, cols, num_true, threads, upstream=g.reshape(-1), want_grads=True,
                           want_logits=False)
        ids, gw, gb = res.grad_ids, res.grad_weights, res.grad_biases
        B, T = cols.own_true.shape
        touched = np.union1d(cols.local_sampled, cols.label_rows.reshape(B, T)[cols.own_true])
        keep = np.isin(ids, touched)
        ids, gw = ids[keep], gw[keep]
        gb = None if gb is None else gb[keep]
        return res.d_inputs, ids, gw, gb
