"""Fault scenarios for ShardedSampledLoss (run under mpiexec by tests/test_distributed.py).

``--fault`` picks what the last rank does at step ``--at`` (the others keep
calling step()):
  raise   raise an exception and let it propagate (uncaught: the process exits 1)
  caught  raise, catch it and go on sleeping (a rank that swallowed an error)
  hang    sleep far longer than the timeout without calling step()
  kill    SIGKILL itself
  badarg  call step() with labels of the wrong shape (a validation error on one rank)
Every rank writes its output file only after all steps succeeded, through a
temporary file renamed at the end: a failed job must leave no output at all.
"""
import argparse
import os
import signal
import sys
import time

import numpy as np
from mpi4py import MPI

from pysampled.distributed import ShardedSampledLoss, shard_rows

p = argparse.ArgumentParser()
p.add_argument("--fault", required=True)
p.add_argument("--at", type=int, default=2)
p.add_argument("--steps", type=int, default=4)
p.add_argument("--timeout", type=float, default=3.0)
p.add_argument("--on-timeout", default="abort")
p.add_argument("--out", required=True)
p.add_argument("--split", action="store_true")
a = p.parse_args()

comm = MPI.COMM_WORLD
K, r = comm.size, comm.rank
N, D, B = 40, 4, 6
w = np.zeros((shard_rows(N, K)[r], D), dtype=np.float32)
loss = ShardedSampledLoss(comm, w, None, N, num_sampled=5, seed=1, timeout=a.timeout,
                          on_timeout=a.on_timeout)
rng = np.random.default_rng(0)
victim = K - 1
results = []
for step in range(a.steps):
    labels = rng.integers(0, N, B)
    x = rng.normal(size=(B, D)).astype(np.float32)
    if a.split:
        parts = np.array_split(np.arange(B), K)
        labels, x = labels[parts[r]], x[parts[r]]
    if r == victim and step == a.at:
        if a.fault == "raise":
            raise RuntimeError("injected failure on the last rank")
        if a.fault == "caught":
            try:
                raise RuntimeError("injected failure")
            except RuntimeError:
                time.sleep(600)
        if a.fault == "hang":
            time.sleep(600)
        if a.fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if a.fault == "badarg":
            labels = np.zeros((len(labels), 3), dtype=np.int64)
    try:
        res = loss.step(labels, x, batch_split=a.split)
    except Exception as e:  # report, then exit non-zero without writing anything
        sys.stderr.write(f"rank {r}: {type(e).__name__}: {e}\n")
        sys.stderr.flush()
        time.sleep(0.5)  # let mpiexec forward the message before the job is torn down
        comm.Abort(2)
        # MPI_Abort does not return; should it ever (a sanitizer-stage run once
        # left output files behind), this rank still must not go on to write one
        sys.stderr.write(f"rank {r}: MPI_Abort returned\n")
        os._exit(3)
    results.append(res.loss)
tmp = f"{a.out}.rank{r}.tmp"
np.save(tmp, np.concatenate(results))
os.replace(tmp + ".npy", f"{a.out}.rank{r}.npy")
