"""The word2vec trainer over MPI ranks: ``mpiexec -n K pysampled train``.

Design (the choice and its measurements: ``docs/DISTRIBUTED.md``, "The
trainer at scale"): the nce / sampled-softmax trainer with its output table
split over the ranks by the vocabulary-parallel loss
(:class:`pysampled.distributed.ShardedSampledLoss`), so that every step is
the single-process step:

* every rank builds the same vocabulary, initial vectors and sampler from the
  same corpus and seed (checked collectively at the start), and cuts the
  same chunks into the same batches of ``batch_size`` predictions;
* rank ``r`` owns the contiguous block ``r`` (TF's ``div`` routing) of the
  output rows, biases and their Adagrad accumulators; each batch is one
  :meth:`~pysampled.distributed.ShardedSampledLoss.step` with the batch
  shared by the ranks: every rank computes the logits of the sampled classes
  and labels it owns, the normaliser and the input gradient are combined
  with O(batch) collectives, and each rank updates only its own rows;
* the input table is replicated: every rank receives the whole batch's input
  gradient and applies the same Adagrad update to it (contributions of a
  word summed in a fixed order), so the replicas never diverge;
* before a checkpoint and at the end the output blocks are gathered, so
  every rank then holds the whole model; only rank 0 writes files.

Every collective is polled against a deadline (``timeout``): a rank that
dies or hangs makes the others abort the job within it. Decisions that must
be the same on every rank (stop, write a checkpoint now) are agreed on by a
collective before each chunk.
"""
from __future__ import annotations

import os
import zlib
from typing import TYPE_CHECKING, Any, Tuple

import numpy as np
import numpy.typing as npt

from .. import _word2vec
from .._losses import ADAGRAD_EPSILON, ADAGRAD_INITIAL_ACCUMULATOR
from .._rowwise import apply_update

if TYPE_CHECKING:
    from .model import Word2Vec

__all__ = ["ShardedTraining", "world_communicator"]


def world_communicator() -> Any:
    """``MPI.COMM_WORLD`` when this process runs under ``mpiexec`` with more
    than one rank, else None (mpi4py is imported only then)."""
    size = 1
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE"):
        if os.environ.get(var, "").isdigit():
            size = max(size, int(os.environ[var]))
    if size <= 1:
        return None
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("this process runs under mpiexec with several ranks but mpi4py is "
                           "not installed: pip install 'pysampled[mpi]'") from e
    return MPI.COMM_WORLD


def _fingerprint(model: Word2Vec) -> int:
    """A checksum of what every rank must have built identically."""
    h = zlib.crc32("\n".join(model.words).encode())
    for a in (model.counts, model.syn0):
        h = zlib.crc32(np.ascontiguousarray(a).tobytes(), h)
    h = zlib.crc32(repr(sorted(model.config().items())).encode(), h)
    h = zlib.crc32(repr(sorted(model.progress.items())).encode(), h)
    return h


class ShardedTraining:
    """The per-chunk work of one rank of a distributed nce / sampled-softmax run."""

    def __init__(self, model: Word2Vec, comm: Any, sampler: Any, threads: int,
                 timeout: float) -> None:
        from ..distributed import ShardedSampledLoss, shard_rows
        from ..distributed._channel import Channel

        assert model.loss != "negative"  # refused by training.train
        assert model.syn0 is not None and model.syn1 is not None and model.bias is not None
        assert model.accum0 is not None and model.accum1 is not None
        assert model.accum_bias is not None  # set by _make_sampled_loss
        self.model = model
        self.ch = Channel(comm, timeout, "abort")
        self.ch.what = "the distributed word2vec trainer"
        fp = self.ch.allgather(np.array([_fingerprint(model)], np.int64), "fingerprint")
        if len(set(fp[:, 0].tolist())) != 1:
            raise ValueError(
                "the ranks built different models (vocabulary, counts, initial vectors, options "
                "or progress differ): give every rank the same corpus, options and checkpoint")
        V = len(model.words)
        self.rows = shard_rows(V, self.ch.size)
        lo = int(sum(self.rows[:self.ch.rank]))
        self.lo, self.hi = lo, lo + self.rows[self.ch.rank]
        self.loss = ShardedSampledLoss(
            comm, model.syn1[self.lo:self.hi], model.bias[self.lo:self.hi], V,
            partition_strategy="div", loss=model.loss, num_sampled=model.num_sampled,
            sampler=sampler, optimizer="adagrad", learning_rate=model.alpha,
            initial_accumulator_value=ADAGRAD_INITIAL_ACCUMULATOR, epsilon=ADAGRAD_EPSILON,
            timeout=timeout, num_threads=threads)
        # The accumulators of the owned rows are the model's own (views), so
        # a checkpoint saves and a resume continues them.
        shard = self.loss._shard
        shard.acc_w = model.accum1[self.lo:self.hi]
        shard.acc_b = model.accum_bias[self.lo:self.hi]
        self.threads = threads

    @property
    def rank(self) -> int:
        return self.ch.rank

    def agree(self, stop: bool, checkpoint_due: bool) -> Tuple[bool, bool]:
        """Stop / write a checkpoint when any rank wants to (one tiny collective)."""
        self.ch.begin("the agreement before a chunk")
        flags = self.ch.allgather(np.array([stop, checkpoint_due], np.int8), "agree")
        return bool(flags[:, 0].any()), bool(flags[:, 1].any())

    def gather(self) -> None:
        """Copy every rank's output rows, biases and accumulators into every
        rank's model, which then holds the whole table."""
        m = self.model
        self.ch.begin("gathering the output table")
        for a in (m.syn1, m.bias, m.accum1, m.accum_bias):
            assert a is not None
            a[...] = self.ch.allgatherv(a[self.lo:self.hi], self.rows, "gather")

    def train_chunk(self, keep: npt.NDArray[np.float32], tokens: npt.NDArray[np.int32],
                    ends: npt.NDArray[np.int64], position: int, epoch: int,
                    alpha: float) -> Tuple[int, int, float]:
        """One chunk: ``(words, predictions, summed loss)``, as the
        single-process trainer's ``_train_chunk_sampled``."""
        m = self.model
        cbow = m.model == "cbow"
        inputs, targets, offsets = _word2vec.windows(
            keep, tokens, ends, position, m.seed, epoch, m._kernel_window(), cbow,
            self.threads, m.shrink_windows)
        syn0 = m.syn0
        assert syn0 is not None
        n_pred = int(targets.shape[0])
        loss_sum = 0.0
        for b0 in range(0, n_pred, m.batch_size):
            b1 = min(n_pred, b0 + m.batch_size)
            nb = b1 - b0
            if cbow:
                lo, hi = int(offsets[b0]), int(offsets[b1])
                ctx = inputs[lo:hi]
                starts = offsets[b0:b1] - lo
                x = np.add.reduceat(syn0[ctx], starts, axis=0)
                n_ctx = np.diff(offsets[b0:b1 + 1]).astype(np.float32)
                if m.cbow_mean:
                    x /= n_ctx[:, None]
            else:
                ctx = inputs[b0:b1]
                x = syn0[ctx]
            upstream = np.full(nb, 1.0 / nb, dtype=np.float32)  # the batch's mean
            res = self.loss.step(targets[b0:b1], x, learning_rate=alpha, upstream=upstream)
            loss_sum += float(res.loss.sum(dtype=np.float64))
            g = res.inputs_grad
            if cbow:
                if m.cbow_mean:
                    g = g / n_ctx[:, None]
                g = g[np.repeat(np.arange(nb), np.diff(offsets[b0:b1 + 1]))]
            self._adagrad_inputs(ctx, g, alpha)
        return int(tokens.shape[0]), n_pred, loss_sum

    def _adagrad_inputs(self, rows: np.ndarray, grads: np.ndarray, alpha: float) -> None:
        """Adagrad on the replicated input rows: each word's contributions
        summed (in a fixed order), then the library's row update."""
        m = self.model
        assert m.syn0 is not None and m.accum0 is not None
        order = np.argsort(rows, kind="stable")
        r = rows[order]
        first = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
        g = np.add.reduceat(grads[order], first, axis=0)
        apply_update([m.syn0], [m.accum0], True, r[first].astype(np.int64), g, alpha,
                     ADAGRAD_EPSILON, "adagrad")
