"""The collectives of one :class:`ShardedSampledLoss`: nonblocking, polled
against a deadline, counted.

Design: MPI only moves bytes here (no MPI reduction operator is used); the
callers add the pieces they receive in rank order, never in message-arrival
order, so reruns are bit-identical. Every collective is nonblocking and
polled: when a peer raised, died or hangs, this rank stops within the
timeout (``comm.Abort(1)``, or :class:`DistributedTimeoutError`) instead of
waiting forever. ``bytes_sent`` counts the bytes of this rank's data
delivered to the other ranks, as ``docs/DISTRIBUTED.md`` defines them.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

__all__ = ["Channel", "DistributedError", "DistributedTimeoutError", "slice_starts"]


class DistributedError(RuntimeError):
    """Another rank rejected its arguments, or the ranks disagree on them."""


class DistributedTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete within the timeout (``on_timeout="raise"``).

    The communicator is unusable afterwards (a nonblocking collective is still
    pending on it); end the job, e.g. with ``comm.Abort()``.
    """


def slice_starts(counts):
    """``[0, c0, c0 + c1, ...]``: where each rank's block of ``counts`` starts (int64)."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


class Channel:
    """The collectives of one loss: nonblocking, polled against a deadline,
    counted (bytes this rank's data must deliver to the other ranks)."""

    def __init__(self, comm, timeout: float, on_timeout: str) -> None:
        self.comm = comm
        self.size = int(comm.Get_size())
        self.rank = int(comm.Get_rank())
        self.timeout = timeout
        self.on_timeout = on_timeout
        self.bytes_sent = 0
        self.log: dict = {}
        self.wait_s = 0.0
        self.what = ""

    def begin(self, what):
        """Start a call: ``what`` names it in timeout messages; the per-call
        traffic log and wait time start from zero."""
        self.what = what
        self.log = {}
        self.wait_s = 0.0

    def _count(self, name, nbytes):
        self.bytes_sent += int(nbytes)
        self.log[name] = self.log.get(name, 0) + int(nbytes)

    def _wait(self, req, name):
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        try:
            self._poll(req, name, deadline)
        finally:
            self.wait_s += time.monotonic() - t0

    def _poll(self, req, name, deadline):
        polls = 0
        spin_until = time.monotonic() + 2e-3
        while not req.Test():
            polls += 1
            if polls > 64:
                now = time.monotonic()
                if now > deadline:
                    self._fail(name)
                if now < spin_until:
                    # Yield the core (to a rank sharing it, in oversubscribed
                    # runs) but come back at once when none is waiting: a
                    # sleep would add its ~0.1 ms wake-up to every collective.
                    os.sched_yield()
                else:  # a long wait: back off
                    time.sleep(min(1e-3, 2e-6 * (polls - 64)))

    def _fail(self, name):
        msg = (f"pysampled.distributed: rank {self.rank} of {self.size}: the collective "
               f"'{name}' of {self.what} did not complete within {self.timeout:g} s "
               "(another rank raised, died, hangs or called with other arguments)")
        if self.on_timeout == "abort":
            sys.stderr.write(msg + "; aborting the job\n")
            sys.stderr.flush()
            time.sleep(0.5)  # let mpiexec forward the message before the job is torn down
            self.comm.Abort(1)
        raise DistributedTimeoutError(msg)

    def allgather(self, send, name):
        """Equal blocks: ``[size, *send.shape]``."""
        send = np.ascontiguousarray(send)
        out = np.empty((self.size,) + send.shape, dtype=send.dtype)
        if self.size == 1:
            out[0] = send
            return out
        self._wait(self.comm.Iallgather(send, out), name)
        self._count(name, (self.size - 1) * send.nbytes)
        return out

    def allgatherv(self, send, rows, name):
        """Blocks of ``rows[k]`` rows from rank ``k``, concatenated in rank order."""
        send = np.ascontiguousarray(send)
        per_row = int(np.prod(send.shape[1:], dtype=np.int64))
        out = np.empty((int(sum(rows)),) + send.shape[1:], dtype=send.dtype)
        if self.size == 1:
            out[...] = send
            return out
        counts = [int(r) * per_row for r in rows]
        displs = [int(d) * per_row for d in slice_starts(rows)[:-1]]
        self._wait(self.comm.Iallgatherv(send, [out, (counts, displs)]), name)
        self._count(name, (self.size - 1) * send.nbytes)
        return out

    def exchange_slices(self, part, rows, name):
        """Reduce-scatter transport: rank ``k`` gets rows ``rows[k]`` of every
        rank's ``part`` (``[sum(rows), ...]``), as ``[size, rows[rank], ...]``
        in rank order (the caller combines them in that fixed order)."""
        part = np.ascontiguousarray(part)
        if self.size == 1:
            return part[None]
        per_row = int(np.prod(part.shape[1:], dtype=np.int64))
        mine = int(rows[self.rank])
        starts = slice_starts(rows)
        recv = np.empty((self.size, mine) + part.shape[1:], dtype=part.dtype)
        scounts = [int(r) * per_row for r in rows]
        sdispls = [int(s) * per_row for s in starts[:-1]]
        rcounts = [mine * per_row] * self.size
        rdispls = [k * mine * per_row for k in range(self.size)]
        self._wait(self.comm.Ialltoallv([part, (scounts, sdispls)], [recv, (rcounts, rdispls)]), name)
        self._count(name, (int(sum(rows)) - mine) * per_row * part.itemsize)
        return recv

    def reduce_scatter(self, part, rows, name):
        """Sum of every rank's ``part``, this rank's ``rows[rank]`` rows only,
        the pieces added in rank order."""
        recv = self.exchange_slices(part, rows, name)
        out = recv[0].copy()
        for k in range(1, self.size):
            out += recv[k]
        return out
