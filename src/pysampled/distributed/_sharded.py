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

Where each part lives: this module holds the public class (configuration,
properties, the sequence of one call); ``_config`` the shard layout and the
constructor's validation and agreement; ``_channel`` the collectives;
``_local`` the local shard, its kernel calls and optimizer state; ``_step``
the phases of one call.
"""
from __future__ import annotations

from typing import Any, Literal, NamedTuple, Sequence

import numpy as np
import numpy.typing as npt

from .. import _losses
from .._threads import resolve_num_threads
from ..losses import LossGrads, SparseRows
from . import _config, _step
from ._channel import Channel, DistributedError, DistributedTimeoutError
from ._config import shard_rows
from ._local import LocalShard

__all__ = ["DistributedError", "DistributedTimeoutError", "ShardedSampledLoss",
           "ShardedStepResult", "shard_rows"]


class ShardedStepResult(NamedTuple):
    """What :meth:`ShardedSampledLoss.step` returns (as :class:`pysampled.StepResult`)."""

    #: ``[batch]`` per-example loss before the update (this rank's slice with ``batch_split``)
    loss: np.ndarray
    inputs_grad: np.ndarray  #: ``[batch, dim]`` gradient of ``sum(upstream * loss)`` w.r.t. the inputs


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

    def __init__(self, comm: Any, local_weights: np.ndarray,
                 local_biases: np.ndarray | None = None, num_classes: int | None = None, *,
                 partition_strategy: Literal["div", "mod"] = "div",
                 loss: Literal["sampled_softmax", "nce"] = "sampled_softmax", num_sampled: int,
                 num_true: int = 1, sampler: Any = None,
                 remove_accidental_hits: bool | None = None, subtract_log_q: bool = True,
                 optimizer: Literal["sgd", "adagrad"] = "sgd", learning_rate: float = 0.1,
                 initial_accumulator_value: float = _losses.ADAGRAD_INITIAL_ACCUMULATOR,
                 epsilon: float = _losses.ADAGRAD_EPSILON, seed: int | Sequence[int] | None = None,
                 true_target: float | None = None, timeout: float = 60.0,
                 on_timeout: Literal["abort", "raise"] = "abort",
                 num_threads: int | None = None) -> None:
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
        self._shard = LocalShard(settings.weights, settings.biases, optimizer,
                                 settings.initial_accumulator_value, self.epsilon,
                                 self.subtract_log_q)
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
        return self._shard.weights

    @property
    def local_biases(self):
        """This rank's bias shard (the caller's array), or None."""
        return self._shard.biases

    @property
    def accumulators(self):
        """Adagrad accumulators ``(weights, biases)`` of the local rows, or None for SGD."""
        acc = self._shard
        return None if acc.acc_w is None else (acc.acc_w, acc.acc_b)

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

    def global_ids(self, local_rows: npt.ArrayLike) -> np.ndarray:
        """Class ids of this rank's local rows."""
        return _config.global_ids(local_rows, self._rows, self._ch.rank, self._div)

    # -- the work
    def step(self, labels: npt.ArrayLike, inputs: npt.ArrayLike, *, batch_split: bool = False,
             learning_rate: float | None = None,
             upstream: npt.ArrayLike | None = None) -> ShardedStepResult:
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

    def loss(self, labels: npt.ArrayLike, inputs: npt.ArrayLike, *, batch_split: bool = False,
             return_grads: bool = False, upstream: npt.ArrayLike | None = None) -> Any:
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
        """One call on every rank, in the phases of ``_step``."""
        ch, shard, r = self._ch, self._shard, self._ch.rank
        self._calls += 1
        ch.begin(f"{mode} call {self._calls}")
        batch = _step.agree_on_batch(ch, labels, inputs, upstream, mode, bool(batch_split),
                                     shard, self.num_true)
        cols = _step.own_columns(batch, self.sampler, self.num_sampled, self._rows, self._div, r,
                                 self.subtract_log_q, shard.w_view is not None)
        threads = resolve_num_threads(self.num_threads)
        logits = _step.local_logits(shard, batch, cols, threads, self.remove_accidental_hits)
        z_t = _step.true_targets(self.loss_kind, self.true_target, cols.own_true,
                                 batch.inputs.dtype)
        loss, g = _step.loss_and_logit_grads(ch, self.loss_kind, logits, cols.own_true, z_t,
                                             batch, mode)
        if mode == "loss":
            return batch.mine(loss, r) if batch.split else loss, None, None
        dx_r, ids, gw, gb = _step.local_backward(shard, batch, cols, threads, g, mode, lr)
        dx = _step.reduce_input_gradient(ch, dx_r, batch)
        if batch.split:
            loss = batch.mine(loss, r)
        grads = None
        if mode == "grads":
            n = shard.weights.shape[0]
            grads = LossGrads(dx, SparseRows(ids, gw, n),
                              None if shard.biases is None else SparseRows(ids, gb, n))
        return loss, dx, grads
