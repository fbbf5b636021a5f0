"""Measure what ShardedSampledLoss hands to MPI per call, through a counting
wrapper around COMM_WORLD (independent of the loss's own counter).

The wrapper sees every nonblocking collective and counts the bytes of this
rank's data that must reach other ranks: an allgather(v) block once per other
rank, an alltoallv piece once if it goes to another rank. Rank 0 prints one JSON
list, an entry per rank: {"rank", "measured": [per call], "reported": [per call]}.
"""
import argparse
import json

import numpy as np
from mpi4py import MPI

from pysampled.distributed import ShardedSampledLoss, shard_rows


class CountingComm:
    def __init__(self, comm):
        self.comm = comm
        self.bytes = 0
        self.size, self.rank = comm.Get_size(), comm.Get_rank()

    def Get_size(self):
        return self.size

    def Get_rank(self):
        return self.rank

    def Abort(self, code=1):
        self.comm.Abort(code)

    def Iallgather(self, send, recv):
        self.bytes += (self.size - 1) * np.asarray(send).nbytes
        return self.comm.Iallgather(send, recv)

    def Iallgatherv(self, send, recv):
        self.bytes += (self.size - 1) * np.asarray(send).nbytes
        return self.comm.Iallgatherv(send, recv)

    def Ialltoallv(self, send, recv):
        buf, (counts, _displs) = send
        self.bytes += sum(c for k, c in enumerate(counts) if k != self.rank) * np.asarray(buf).itemsize
        return self.comm.Ialltoallv(send, recv)


p = argparse.ArgumentParser()
p.add_argument("--loss", default="sampled_softmax")
p.add_argument("--classes", type=int, default=50)
p.add_argument("--sampled", type=int, default=8)
p.add_argument("--batch", type=int, default=9)
p.add_argument("--dim", type=int, default=5)
p.add_argument("--num-true", type=int, default=1)
p.add_argument("--dtype", default="float32")
p.add_argument("--split", action="store_true")
p.add_argument("--upstream", action="store_true")
p.add_argument("--mode", default="step", choices=["step", "loss", "grads"])
a = p.parse_args()

world = MPI.COMM_WORLD
K, r = world.size, world.rank
comm = CountingComm(world)
dt = np.dtype(a.dtype)
w = np.random.default_rng(r).normal(size=(shard_rows(a.classes, K)[r], a.dim)).astype(dt)
loss = ShardedSampledLoss(comm, w, np.zeros(w.shape[0], dt), a.classes, loss=a.loss,
                          num_sampled=a.sampled, num_true=a.num_true, seed=3, timeout=30)
rng = np.random.default_rng(7)
measured, reported = [], []
for _ in range(2):
    lab = rng.integers(0, a.classes, (a.batch, a.num_true))
    x = rng.normal(size=(a.batch, a.dim)).astype(dt)
    up = rng.uniform(size=a.batch).astype(dt) if a.upstream else None
    if a.split:
        part = np.array_split(np.arange(a.batch), K)[r]
        lab, x = lab[part], x[part]
        up = None if up is None else up[part]
    before = comm.bytes
    if a.mode == "step":
        loss.step(lab, x, batch_split=a.split, upstream=up)
    else:
        loss.loss(lab, x, batch_split=a.split, upstream=up, return_grads=a.mode == "grads")
    measured.append(comm.bytes - before)
    reported.append(sum(loss.last_traffic.values()))
got = world.gather({"rank": r, "measured": measured, "reported": reported}, root=0)
if r == 0:
    print(json.dumps(got), flush=True)
