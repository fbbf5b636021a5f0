"""Same-run A/B of two pysampled installations: does a change slow anything down?

    python benchmarks/bench_regression.py --python /path/to/old/bin/python \
                                          --python /path/to/new/bin/python [--rounds 5]

Each round starts one fresh process per installation, alternating A, B, A, B,
...; each process times a fixed set of workloads (public APIs that both
versions have) and reports the best process-CPU time per call (CPU time, so a
busy machine's waiting is not counted). The table gives, per workload, the
best over the rounds for each installation and the ratio new / old
(> 1: the new one is slower). Workloads, all float32 and 1 thread:

* ``softmax S=64`` / ``S=512``: ``sampled_softmax_loss(..., return_grads=True)``,
  N = 10^5, D = 128, B = 1024;
* ``nce S=512``: ``nce_loss`` likewise;
* ``step adagrad S=512``: ``SampledLoss.step`` with Adagrad;
* ``log-uniform S=64``: ``log_uniform_candidate_sampler`` (unique, 10^6 classes, B = 1024);
* ``unigram S=64``: ``FixedUnigramSampler.sample`` over 10^5 Zipf weights;
* ``word2vec``: ``Word2Vec`` skip-gram, dim 50, one epoch over a 300k-token
  synthetic corpus (seconds per run, training only).
"""
import argparse
import json
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
import pysampled as ps

def best(fn, rounds=7, number=3):
    fn()
    t = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(number):
            fn()
        t = min(t, (time.process_time() - t0) / number)
    return t

rng = np.random.default_rng(0)
N, D, B = 10**5, 128, 1024
W = (rng.standard_normal((N, D)) * 0.05).astype(np.float32)
b = np.zeros(N, np.float32)
x = rng.standard_normal((B, D)).astype(np.float32)
y = rng.integers(0, N, (B, 1))
out = {}
for S in (64, 512):
    out[f"softmax S={S}"] = best(lambda: ps.sampled_softmax_loss(W, b, y, x, S, N, return_grads=True,
                                                                 num_threads=1, seed=1))
out["nce S=512"] = best(lambda: ps.nce_loss(W, b, y, x, 512, N, return_grads=True, num_threads=1, seed=1))
model = ps.SampledLoss(W.copy(), b.copy(), num_sampled=512, optimizer="adagrad", learning_rate=1e-3,
                       num_threads=1, seed=1)
out["step adagrad S=512"] = best(lambda: model.step(y, x))
tc = rng.integers(0, 10**6, (B, 1))
out["log-uniform S=64"] = best(lambda: ps.log_uniform_candidate_sampler(tc, 1, 64, True, 10**6, seed=3),
                               number=50)
weights = (1.0 / np.arange(1, N + 1)).astype(np.float32)
sampler = ps.FixedUnigramSampler(N, unigrams=weights, seed=4)
out["unigram S=64"] = best(lambda: sampler.sample(y, 64, True), number=50)
corpus = ps.SyntheticCorpus(num_tokens=300_000, seed=5)
w2v = ps.Word2Vec(dim=50, epochs=1, seed=5, min_count=1, num_threads=1)
w2v.build_vocab(corpus)
t0 = time.process_time()
w2v.train(corpus, progress=False)
out["word2vec"] = time.process_time() - t0
print(json.dumps({"file": ps.__file__, "times": out}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", action="append", required=True,
                    help="interpreter of an installation (give two: old, then new)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if len(args.python) != 2:
        ap.error("give --python twice: the old installation, then the new one")
    best = [{}, {}]
    files = ["", ""]
    for r in range(args.rounds):
        for k, py in enumerate(args.python):
            res = json.loads(subprocess.run([py, "-c", WORKER], check=True, capture_output=True,
                                            text=True, cwd="/").stdout.strip().splitlines()[-1])
            files[k] = res["file"]
            for name, t in res["times"].items():
                best[k][name] = min(best[k].get(name, float("inf")), t)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"old: {files[0]}\nnew: {files[1]}")
    print(f"best process-CPU time over {args.rounds} alternating rounds (ms)\n")
    print("| workload | old ms | new ms | new / old |\n|---|---|---|---|")
    for name in best[0]:
        o, n = best[0][name] * 1e3, best[1][name] * 1e3
        print(f"| {name} | {o:.3f} | {n:.3f} | {n / o:.2f} |")


if __name__ == "__main__":
    main()
