"""Vocabulary-parallel sampled losses: the class table's rows spread over MPI ranks.

Design (details and numbers in ``docs/DISTRIBUTED.md``):

* Rank ``r`` of ``K = comm.size`` owns shard ``r`` of TF's ``mod`` / ``div``
  routing of ``num_classes`` rows over ``K`` shards (uneven shards as in TF).
* Every rank holds the whole batch (given, or gathered with
  ``batch_split=True``) and draws the same sampled classes from the same
  seeded sampler. Each rank computes, with pysampled's C++ kernel on its
  own shard, the logits of the columns whose class it owns: the sampled
  classes it owns (shared by the batch) and the true labels it owns.
* The softmax normaliser is combined from per-rank partials of size
  ``[batch, 3]`` (row max, sum of exponentials below that max, true-logit
  term); NCE needs only the per-rank partial loss ``[batch]``. A
  reduce-scatter over example slices (alltoallv; each rank combines its
  slice's partials in rank order) and an allgather of the combined slices
  where other ranks need them: per-rank bytes do not grow with the ranks.
* With the gradient of every owned logit known, a second kernel call on the
  local shard returns this rank's part of the input gradient and applies
  SGD or Adagrad to the owned rows in place (the same fused update as
  :class:`pysampled.SampledLoss`). The input-gradient parts are summed by a
  reduce-scatter (alltoallv, then a local sum in rank order) and, for a
  shared batch, an allgather of the summed slices.

Every collective is nonblocking and polled against a deadline: a rank that
raised, died or hangs makes the others stop with a clear error within
``timeout`` seconds instead of waiting forever. The order in which partials
are added never depends on message arrival, so reruns are bit-identical.
"""
from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np

from .. import _losses
from .._threads import resolve_num_threads
from .._validation import as_ids
from ..losses import LossGrads, SparseRows, _labels_matrix
from . import _config
from ._channel import Channel, DistributedError, DistributedTimeoutError, slice_starts
from ._config import shard_rows

__all__ = ["DistributedError", "DistributedTimeoutError", "ShardedSampledLoss",
           "ShardedStepResult", "shard_rows"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KIND_LOGITS = _losses.LossKind.LOGITS
_FLT_MAX = float(np.finfo(np.float32).max)


class ShardedStepResult(NamedTuple):
    """What :meth:`ShardedSampledLoss.step` returns (as :class:`pysampled.StepResult`)."""

    #: ``[batch]`` per-example loss before the update (this rank's slice with ``batch_split``)
    loss: np.ndarray
    inputs_grad: np.ndarray  #: ``[batch, dim]`` gradient of ``sum(upstream * loss)`` w.r.t. the inputs


_OPTIMIZERS = {"sgd": _losses.Optimizer.SGD, "adagrad": _losses.Optimizer.ADAGRAD}


class ShardedSampledLoss:
    """A sampled loss whose class table is sharded over the ranks of an MPI
    communicator (vocabulary parallelism).

    Rank ``r`` of ``K = comm.size`` owns shard ``r`` of TF's routing of
    ``num_classes`` classes over ``K`` shards (:func:`shard_rows` gives the
    sizes): ``local_weights`` ``[rows_r, dim]`` and ``local_biases``
    ``[rows_r]`` are that shard, updated **in place** by :meth:`step`. The
    results equal those of :class:`pysampled.SampledLoss` over the
    concatenated shards (same seed, same routing) within floating-point
    rounding; only O(batch) numbers cross the network.

    Construct it on every rank of ``comm`` with the same arguments (except
    the local arrays); the constructor checks this collectively and every
    rank raises if one rank's arguments are wrong or differ.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Intracommunicator (``MPI.COMM_WORLD``, ``MPI.COMM_SELF``, a split).
    local_weights : ndarray
        This rank's ``[rows_r, dim]`` shard, float32 or float64, contiguous
        rows, writable for :meth:`step`. Never copied.
    local_biases : ndarray or None
        This rank's ``[rows_r]`` bias shard (same dtype), or None.
    num_classes : int
        Rows of the whole table (the sum of the shards).
    partition_strategy : {"div", "mod"}
        TF's routing of class ids to shards.
    loss : {"sampled_softmax", "nce"}
    num_sampled : int
        Classes sampled per batch, shared by its examples and by the ranks.
    num_true : int
        Labels per example.
    sampler : CandidateSampler, optional
        Default: :class:`pysampled.LogUniformSampler` over ``num_classes``
        seeded with ``seed`` (what :class:`pysampled.SampledLoss` draws).
        A sampler given here must be built identically (same type, range and
        explicit seed) on every rank. Draws are always unique within a batch.
    remove_accidental_hits : bool, optional
        Default True for sampled softmax, False for NCE (TF's defaults).
    subtract_log_q : bool
        TF's correction of the logits by the sampling probability.
    optimizer : {"sgd", "adagrad"}
        As :class:`pysampled.SampledLoss` (Adagrad accumulators of the
        local rows start at ``initial_accumulator_value``).
    learning_rate, initial_accumulator_value, epsilon : float
    seed : None, int or (int, int)
        Seed of the default sampler; None draws one on rank 0 and shares it.
    true_target : float, optional
        NCE target of the true columns (None: ``1 / num_true``, as TF).
    timeout : float
        Seconds any collective may wait for the other ranks (default 60).
    on_timeout : {"abort", "raise"}
        "abort" (default): print the reason and ``comm.Abort(1)``, which ends
        every rank of the job. "raise": raise
        :class:`DistributedTimeoutError` (the communicator is then unusable).
    num_threads : int, optional
        OpenMP threads of the local kernels (None: what OpenMP allows).

    Notes
    -----
    Weights, biases and inputs must share one dtype. Results are
    bit-identical across reruns with the same number of ranks and the same
    arguments, for any thread count.
    """

    def __init__(self, comm, local_weights, local_biases=None, num_classes=None, *,
                 partition_strategy="div", loss="sampled_softmax", num_sampled, num_true=1,
                 sampler=None, remove_accidental_hits=None, subtract_log_q=True, optimizer="sgd",
                 learning_rate=0.1, initial_accumulator_value=0.1, epsilon=1e-7, seed=None,
                 true_target=None, timeout=60.0, on_timeout="abort", num_threads=None):
        from ..samplers import LogUniformSampler

        timeout = _config.check_comm(comm, timeout, on_timeout)
        self._ch = Channel(comm, timeout, on_timeout)
        self._ch.what = "ShardedSampledLoss()"
        self.comm = comm
        settings, agreed = _config.agreed_settings(
            self._ch, local_weights, local_biases, num_classes,
            partition_strategy=partition_strategy, loss=loss, num_sampled=num_sampled,
            num_true=num_true, sampler=sampler, remove_accidental_hits=remove_accidental_hits,
            subtract_log_q=subtract_log_q, optimizer=optimizer, learning_rate=learning_rate,
            initial_accumulator_value=initial_accumulator_value, epsilon=epsilon, seed=seed,
            true_target=true_target, num_threads=num_threads)
        self.num_classes = settings.num_classes
        self.num_sampled = settings.num_sampled
        self.num_true = settings.num_true
        self.learning_rate = settings.learning_rate
        self.epsilon = settings.epsilon
        self.num_threads = num_threads
        self._rows = settings.rows
        w, b, init = settings.weights, settings.biases, settings.initial_accumulator_value
        self._w, self._b = w, b
        self._div = partition_strategy == "div"
        self.partition_strategy = partition_strategy
        self.loss_kind = loss
        self.optimizer = optimizer
        self.remove_accidental_hits = (loss == "sampled_softmax" if remove_accidental_hits is None
                                       else bool(remove_accidental_hits))
        self.subtract_log_q = bool(subtract_log_q)
        self.true_target = true_target
        if sampler is None:
            if seed is None:
                seed = agreed[_config.SEED_DRAWN]
            sampler = LogUniformSampler(self.num_classes, seed=seed)
        self.seed = seed
        self.sampler = sampler
        self._w_view = _losses.Shards([w], False) if w.shape[0] else None
        self._b_view = _losses.Shards([b], False) if (b is not None and b.shape[0]) else None
        self._acc_w = self._acc_b = None
        if optimizer == "adagrad":
            self._acc_w = np.full(w.shape, init, dtype=w.dtype)
            self._acc_b = None if b is None else np.full(b.shape, init, dtype=b.dtype)
        self._calls = 0

    # -- properties
    @property
    def rank(self) -> int:
        """This process's rank in ``comm`` (the shard it owns)."""
        return self._ch.rank

    @property
    def size(self) -> int:
        """Number of ranks (= number of shards)."""
        return self._ch.size

    @property
    def shard_sizes(self) -> list:
        """Rows of every rank's shard (:func:`shard_rows`)."""
        return list(self._rows)

    @property
    def local_weights(self) -> np.ndarray:
        """This rank's weight shard (the caller's array, updated in place by :meth:`step`)."""
        return self._w

    @property
    def local_biases(self):
        """This rank's bias shard (the caller's array), or None."""
        return self._b

    @property
    def accumulators(self):
        """Adagrad accumulators ``(weights, biases)`` of the local rows, or None for SGD."""
        return None if self._acc_w is None else (self._acc_w, self._acc_b)

    @property
    def bytes_sent(self) -> int:
        """Bytes of this rank's data delivered to other ranks by all collectives so far
        (counted as in ``docs/DISTRIBUTED.md``: an allgather block counts once per
        other rank; an alltoallv counts the pieces for other ranks)."""
        return self._ch.bytes_sent

    @property
    def last_wait_seconds(self) -> float:
        """Seconds the last :meth:`step` / :meth:`loss` call spent waiting for
        collectives to complete (communication plus waiting for slower ranks)."""
        return self._ch.wait_s

    @property
    def last_traffic(self) -> dict:
        """Bytes per collective of the last :meth:`step` / :meth:`loss` call."""
        return dict(self._ch.log)

    def global_ids(self, local_rows) -> np.ndarray:
        """Class ids of this rank's local rows."""
        return _config.global_ids(local_rows, self._rows, self._ch.rank, self._div)

    # -- the work
    def step(self, labels, inputs, *, batch_split=False, learning_rate=None, upstream=None):
        """Sample, compute the loss and the gradients, update the local rows in
        place (SGD or Adagrad) and reduce the input gradient over the ranks.

        Parameters
        ----------
        labels : array_like of int
            ``[batch, num_true]`` (``[batch]`` when ``num_true == 1``).
        inputs : ndarray
            ``[batch, dim]`` of the weights' dtype.
        batch_split : bool
            False: every rank passes the same batch and gets the whole batch's
            results. True: rank ``r`` passes the ``r``-th contiguous slice of
            the batch (slices may have any sizes, e.g. ``numpy.array_split``)
            and gets its slice's results.
        learning_rate : float, optional
            This step's learning rate (default the constructor's).
        upstream : array_like, optional
            ``[batch]`` weights of the per-example losses (default ones),
            sliced like the batch.

        Returns
        -------
        ShardedStepResult
            ``(loss, inputs_grad)`` before the update.
        """
        lr = self.learning_rate if learning_rate is None else float(learning_rate)
        loss, dx, _ = self._run(labels, inputs, batch_split, upstream, "step", lr)
        return ShardedStepResult(loss, dx)

    def loss(self, labels, inputs, *, batch_split=False, return_grads=False, upstream=None):
        """The per-example loss (and gradients) without updating anything.

        Arguments as :meth:`step`. With ``return_grads=True`` also returns a
        :class:`pysampled.LossGrads` whose ``inputs`` is the reduced input
        gradient and whose ``weights`` / ``biases`` are this rank's gradient
        rows with *local* row ids (as :meth:`pysampled.SparseRows.per_shard`
        gives them); :meth:`global_ids` maps them to class ids. The sampler
        advances as in :meth:`step`.
        """
        loss, dx, grads = self._run(labels, inputs, batch_split, upstream,
                                    "grads" if return_grads else "loss", None)
        return (loss, grads) if return_grads else loss

    __call__ = loss

    def _run(self, labels, inputs, batch_split, upstream, mode, lr):
        ch = self._ch
        K, r = ch.size, ch.rank
        self._calls += 1
        ch.begin(f"{mode} call {self._calls}")
        T = self.num_true
        batch_split = bool(batch_split)
        error = None
        x = lab = up = None
        try:
            x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
            if x.dtype not in _FLOATS or x.ndim != 2:
                raise TypeError(f"inputs must be a 2-D float32 or float64 array, got {x.dtype} "
                                f"of shape {x.shape}")
            if x.dtype != self._w.dtype:
                raise TypeError(f"inputs must have the dtype of the weights ({self._w.dtype}), "
                                f"got {x.dtype}")
            if x.shape[1] != self._w.shape[1]:
                raise ValueError(f"Matrix size-incompatible: inputs are {list(x.shape)} but the "
                                 f"weights have {self._w.shape[1]} columns")
            if mode == "step":
                for a in (self._w, self._b):
                    if a is not None and not a.flags.writeable:
                        raise ValueError("step() updates in place: local weights and biases "
                                         "must be writable")
            x = np.ascontiguousarray(x)
            lab = _labels_matrix(labels, T)
            if lab.shape[0] != x.shape[0]:
                raise ValueError(f"labels have {lab.shape[0]} rows but inputs have {x.shape[0]}")
            if upstream is not None:
                up = np.asarray(upstream)
                if up.dtype.kind not in "fiu" or up.dtype == np.bool_:
                    raise TypeError(f"upstream must hold numbers, got dtype {up.dtype}")
                if up.shape != (x.shape[0],):
                    raise ValueError(f"upstream must have shape {(x.shape[0],)}, got {up.shape}")
                up = np.ascontiguousarray(up, dtype=x.dtype)
        except Exception as e:
            error = e
        # Agreement: validity, sizes, and (shared batch) a checksum of the batch.
        head = np.zeros(6, dtype=np.int64)
        if error is None:
            head[:5] = (1, x.shape[0], int(batch_split), int(upstream is not None),
                        {"step": 0, "loss": 1, "grads": 2}[mode])
            if not batch_split:
                crc = zlib.crc32(lab.tobytes())
                crc = zlib.crc32(x.tobytes(), crc)
                if up is not None:
                    crc = zlib.crc32(up.tobytes(), crc)
                head[5] = crc
        allh = ch.allgather(head, "agree on the batch")
        if error is not None:
            raise error
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
        if batch_split:
            counts = [int(c) for c in allh[:, 1]]
            lab = ch.allgatherv(lab, counts, "gather labels")
            x = ch.allgatherv(x, counts, "gather inputs")
            if up is not None:
                up = ch.allgatherv(up, counts, "gather upstream")
            out_rows = counts
        else:
            out_rows = [len(a) for a in np.array_split(np.empty(x.shape[0]), K)]
        B, D = x.shape
        dtype = x.dtype
        starts = slice_starts(out_rows)

        sampled, tec, sec = self.sampler.sample(lab, self.num_sampled, True)
        sampled = as_ids(sampled, "sampled_candidates", ndim=1)
        tec = np.ascontiguousarray(tec, dtype=dtype).reshape(B, T)
        sec = np.ascontiguousarray(sec, dtype=dtype)

        # Columns this rank owns: true labels it owns (per example), sampled classes it owns.
        owner_l, row_l = _losses.locate(np.ascontiguousarray(lab.reshape(-1)), self._rows,
                                        self._div, "labels")
        own_t = (owner_l == r).reshape(B, T)
        owner_s, row_s = _losses.locate(sampled, self._rows, self._div, "sampled_candidates")
        sel = owner_s == r
        loc_s = np.ascontiguousarray(row_s[sel])
        sec_loc = np.ascontiguousarray(sec[sel])
        Sr = loc_s.shape[0]
        active = self._w_view is not None and B > 0 and (Sr > 0 or bool(own_t.any()))
        lab_loc = np.ascontiguousarray(np.where(own_t, row_l.reshape(B, T), 0))
        threads = resolve_num_threads(self.num_threads)
        tec_k = tec.reshape(-1) if self.subtract_log_q else None
        sec_k = sec_loc if self.subtract_log_q else None
        ninf = dtype.type(-np.inf)
        if active:
            _, logits, _, _, _, _ = _losses._run(
                _KIND_LOGITS, x, lab_loc.reshape(-1), T, loc_s, tec_k, sec_k, self._w_view,
                self._b_view, self.subtract_log_q, False, False, 0.0, None, False, True, threads)
            # Columns this rank does not own (true labels of other ranks, which
            # the kernel computed on a placeholder row) and accidental hits get
            # -inf: they then add exactly 0 to every sum and get gradient 0, as
            # TF's -FLT_MAX mask gives in the single-process loss.
            true_part = logits[:, :T]
            true_part[~own_t] = ninf
            if self.remove_accidental_hits and Sr:
                hb, hs = np.nonzero((lab[:, :, None] == sampled[sel][None, None, :]).any(axis=1))
                logits[hb, T + hs] = ninf
        else:
            logits = np.full((B, T + Sr), ninf, dtype=dtype)
        own_true = np.where(own_t, logits[:, :T], dtype.type(0))  # finite where owned
        if self.loss_kind == "sampled_softmax":
            zt = dtype.type(1.0 / T)
        else:
            zt = dtype.type(1.0 / T if self.true_target is None else self.true_target)
        z_t = np.where(own_t, zt, dtype.type(0))
        # Per-example partials of this rank, combined over the ranks by a
        # reduce-scatter over example slices (each rank combines its slice in
        # rank order), then an allgather of the combined slices where needed.
        lo, hi = starts[r], starts[r + 1]
        need_all = mode != "loss" or not batch_split  # gradients need every example's normaliser
        u = np.ones(B, dtype=dtype) if up is None else up
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if self.loss_kind == "sampled_softmax":
                m_r = logits.max(axis=1) if logits.shape[1] else np.full(B, ninf, dtype=dtype)
                m_safe = np.where(m_r == ninf, dtype.type(0), m_r)
                e = logits - m_safe[:, None]  # the kernel's logits are not needed any more
                np.exp(e, out=e)
                s_r = e.sum(axis=1, dtype=dtype)
                t_r = (z_t * own_true).sum(axis=1, dtype=dtype)
                parts = ch.exchange_slices(np.stack([m_r, s_r, t_r], axis=1).astype(dtype, copy=False),
                                           out_rows, "softmax normaliser")
                M = parts[:, :, 0].max(axis=0)
                Ssum = np.zeros(M.shape, dtype=dtype)
                Tsum = np.zeros(M.shape, dtype=dtype)
                for k in range(K):
                    Ssum += parts[k, :, 1] * np.exp(parts[k, :, 0] - M)
                    Tsum += parts[k, :, 2]
                mine = np.stack([M, Ssum, M + np.log(Ssum) - Tsum], axis=1)
                if need_all:
                    full = ch.allgatherv(mine, out_rows, "gather normaliser") if K > 1 else mine
                    M, Ssum, loss = full[:, 0], full[:, 1], full[:, 2]
                else:
                    loss = np.zeros(B, dtype=dtype)
                    loss[lo:hi] = mine[:, 2]
                if mode != "loss":
                    # softmax_j = exp(l_j - m_r) * exp(m_r - M) / S; g = u * (softmax - z)
                    scale = u * np.where(m_r == ninf, dtype.type(0), np.exp(m_safe - M) / Ssum)
                    e *= scale[:, None]
                    e[:, :T] -= u[:, None] * z_t
                    g = e
            else:
                a_ = np.abs(logits)
                np.negative(a_, out=a_)
                np.exp(a_, out=a_)  # exp(-|l|): 0 on -inf columns
                term = np.log1p(a_)
                term += np.maximum(logits, dtype.type(0))
                l_r = term.sum(axis=1, dtype=dtype) - (own_true * z_t).sum(axis=1, dtype=dtype)
                mine = ch.reduce_scatter(l_r, out_rows, "nce loss")
                if not batch_split:  # NCE gradients are local: only a shared batch needs every loss
                    loss = ch.allgatherv(mine, out_rows, "gather nce loss") if K > 1 else mine
                else:
                    loss = np.zeros(B, dtype=dtype)
                    loss[lo:hi] = mine
                if mode != "loss":
                    # sigmoid(l) = 1/(1+e) for l >= 0, e/(1+e) below, with e = exp(-|l|)
                    g = np.where(logits >= 0, dtype.type(1), a_)
                    g /= dtype.type(1) + a_
                    g[:, :T] -= z_t
                    if up is not None:
                        g *= u[:, None]
        loss = loss.astype(dtype, copy=False)
        if mode == "loss":
            return loss[lo:hi] if batch_split else loss, None, None
        g = np.ascontiguousarray(g, dtype=dtype)
        ids = gw = gb = None
        if active:
            if mode == "step":
                accw = None if self._acc_w is None else _losses.Shards([self._acc_w], False)
                accb = None if (self._acc_b is None or self._b_view is None) else \
                    _losses.Shards([self._acc_b], False)
                _, _, dx_r, _, _, _ = _losses._run(
                    _KIND_LOGITS, x, lab_loc.reshape(-1), T, loc_s, tec_k, sec_k, self._w_view,
                    self._b_view, self.subtract_log_q, False, False, 0.0, g.reshape(-1), True,
                    False, threads, _OPTIMIZERS[self.optimizer], lr, self.epsilon, accw, accb, False)
            else:
                _, _, dx_r, ids, gw, gb = _losses._run(
                    _KIND_LOGITS, x, lab_loc.reshape(-1), T, loc_s, tec_k, sec_k, self._w_view,
                    self._b_view, self.subtract_log_q, False, False, 0.0, g.reshape(-1), True,
                    False, threads)
                touched = np.union1d(loc_s, row_l.reshape(B, T)[own_t])
                keep = np.isin(ids, touched)
                ids, gw = ids[keep], gw[keep]
                gb = None if gb is None else gb[keep]
        else:
            dx_r = np.zeros((B, D), dtype=dtype)
            if mode == "grads":
                ids = np.zeros(0, dtype=np.int64)
                gw = np.zeros((0, D), dtype=dtype)
                gb = None if self._b is None else np.zeros(0, dtype=dtype)
        dx_mine = ch.reduce_scatter(dx_r, out_rows, "reduce input gradient")
        if batch_split:
            dx = dx_mine
            loss = loss[lo:hi]
        else:
            dx = dx_mine if K == 1 else ch.allgatherv(dx_mine, out_rows, "gather input gradient")
        grads = None
        if mode == "grads":
            n = self._w.shape[0]
            grads = LossGrads(dx, SparseRows(ids, gw, n),
                              None if self._b is None else SparseRows(ids, gb, n))
        return loss, dx, grads
