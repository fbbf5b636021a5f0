"""Run ShardedSampledLoss on every rank of COMM_WORLD and compare it with the
single-process pysampled.SampledLoss over the concatenated shards.

Every rank builds the same full table from a fixed NumPy seed, takes its own
shard (a copy) and runs ``--steps`` steps; every rank also runs the
single-process reference over all shards (same seed, same routing) and checks
its own results against it within the bounds of docs/DISTRIBUTED.md. Rank 0
prints one JSON line: the largest deviations seen, the traffic per call and a
digest of everything the ranks computed (for the bit-identical rerun test).
Exit status 0 when every rank is within the bounds, 3 otherwise.
"""
import argparse
import hashlib
import json
import sys

import numpy as np
from mpi4py import MPI

import pysampled
from pysampled.distributed import ShardedSampledLoss, shard_rows

p = argparse.ArgumentParser()
p.add_argument("--loss", default="sampled_softmax")
p.add_argument("--strategy", default="div")
p.add_argument("--classes", type=int, default=37)
p.add_argument("--dim", type=int, default=8)
p.add_argument("--batch", type=int, default=7)
p.add_argument("--sampled", type=int, default=6)
p.add_argument("--num-true", type=int, default=1)
p.add_argument("--optimizer", default="sgd")
p.add_argument("--split", action="store_true")
p.add_argument("--steps", type=int, default=3)
p.add_argument("--dtype", default="float32")
p.add_argument("--no-biases", action="store_true")
p.add_argument("--mode", default="step", choices=["step", "grads", "loss"])
p.add_argument("--upstream", action="store_true")
p.add_argument("--seed", type=int, default=5)
p.add_argument("--lr", type=float, default=0.5)
a = p.parse_args()

comm = MPI.COMM_WORLD
K, r = comm.size, comm.rank
dt = np.dtype(a.dtype)
N, D, B, T = a.classes, a.dim, a.batch, a.num_true
rng = np.random.default_rng(1234)
# Full table in class-id order, then split into TF's shards.
W_full = rng.normal(0, 0.5, (N, D)).astype(dt)
b_full = rng.normal(0, 0.5, N).astype(dt)
rows = shard_rows(N, K)
if a.strategy == "mod" and K > 1:
    ids_of = [np.arange(k, N, K) for k in range(K)]
else:
    starts = np.concatenate([[0], np.cumsum(rows)])
    ids_of = [np.arange(starts[k], starts[k + 1]) for k in range(K)]
ref_w = [W_full[i].copy() for i in ids_of]
ref_b = [b_full[i].copy() for i in ids_of]
my_w = W_full[ids_of[r]].copy()
my_b = None if a.no_biases else b_full[ids_of[r]].copy()

ref = pysampled.SampledLoss(ref_w, None if a.no_biases else ref_b, num_sampled=a.sampled,
                            loss=a.loss, num_true=T, partition_strategy=a.strategy,
                            optimizer=a.optimizer, learning_rate=a.lr, seed=a.seed)
dist = ShardedSampledLoss(comm, my_w, my_b, N, partition_strategy=a.strategy, loss=a.loss,
                          num_sampled=a.sampled, num_true=T, optimizer=a.optimizer,
                          learning_rate=a.lr, seed=a.seed, timeout=30)

if dt == np.float32:
    rtol, atol = 2e-5, 2e-6
else:
    rtol, atol = 1e-12, 1e-13


def excess(got, want):
    """max |got - want| / (atol + rtol |want|); <= 1 is within the bound."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - want) / (atol + rtol * np.abs(want))))


worst = {}
h = hashlib.sha256()
traffic = []
data_rng = np.random.default_rng(99)
for step in range(a.steps):
    labels = data_rng.integers(0, N, (B, T))
    x = data_rng.normal(0, 1, (B, D)).astype(dt)
    up = data_rng.uniform(0.5, 2.0, B).astype(dt) if a.upstream else None
    bounds = np.cumsum([0] + [len(s) for s in np.array_split(np.arange(B), K)])
    sl = slice(bounds[r], bounds[r + 1]) if a.split else slice(0, B)
    kw = dict(batch_split=a.split, upstream=None if up is None else up[sl])
    if a.mode == "step":
        want_loss, want_dx = ref.step(labels, x, upstream=up)
        got_loss, got_dx = dist.step(labels[sl], x[sl], **kw)
    elif a.mode == "grads":
        want_loss, want_g = ref(labels, x, return_grads=True, upstream=up)
        got_loss, got_g = dist.loss(labels[sl], x[sl], return_grads=True, **kw)
        want_dx, got_dx = want_g.inputs, got_g.inputs
        want_rows = want_g.weights.per_shard()[r].to_dense(len(ids_of[r])) if K > 1 else \
            want_g.weights.to_dense(N)
        got_rows = got_g.weights.to_dense(len(ids_of[r]))
        worst["grad_w"] = max(worst.get("grad_w", 0), excess(got_rows, want_rows))
        assert np.array_equal(dist.global_ids(got_g.weights.ids),
                              ids_of[r][got_g.weights.ids]), "global_ids"
        h.update(got_rows.tobytes())
        if not a.no_biases:
            wb = want_g.biases.per_shard()[r].to_dense(len(ids_of[r])) if K > 1 else \
                want_g.biases.to_dense(N)
            worst["grad_b"] = max(worst.get("grad_b", 0), excess(got_g.biases.to_dense(len(ids_of[r])), wb))
    else:
        want_loss = ref(labels, x, upstream=up)
        got_loss = dist.loss(labels[sl], x[sl], **kw)
        want_dx = got_dx = np.zeros(0)
    want_dx = want_dx[sl] if want_dx.size else want_dx
    worst["loss"] = max(worst.get("loss", 0), excess(got_loss, want_loss[sl]))
    worst["dx"] = max(worst.get("dx", 0), excess(got_dx, want_dx))
    w_ref_now = ref.weights[r] if K > 1 else ref.weights[0]
    worst["weights"] = max(worst.get("weights", 0), excess(my_w, w_ref_now))
    if not a.no_biases:
        b_ref_now = ref.biases[r] if K > 1 else ref.biases[0]
        worst["biases"] = max(worst.get("biases", 0), excess(my_b, b_ref_now))
    for arr in (got_loss, got_dx, my_w, my_b):
        if arr is not None:
            h.update(np.ascontiguousarray(arr).tobytes())
    traffic.append(dist.last_traffic)

all_worst = comm.gather(worst, root=0)
digests = comm.gather(h.hexdigest(), root=0)
sent = comm.gather(dist.bytes_sent, root=0)
ok = all(v <= 1.0 for v in worst.values())
all_ok = comm.allreduce(int(ok), op=MPI.MIN)
if r == 0:
    merged = {k: max(w[k] for w in all_worst) for k in all_worst[0]}
    print(json.dumps({"ok": bool(all_ok), "worst": merged, "digest": hashlib.sha256(
        "".join(digests).encode()).hexdigest(), "traffic": traffic, "bytes_sent": sent,
        "rows": rows}), flush=True)
sys.exit(0 if all_ok else 3)
