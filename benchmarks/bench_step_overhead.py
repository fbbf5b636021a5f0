"""Per-call cost of ``SampledLoss.step`` (the Python side of a training step).

Measures ``step`` at S=64, B=1024, D=128, N=10**5 (float32, SGD, 1 thread,
explicit and default sampled values) and at a tiny problem (B=1, S=1, D=1,
N=16) where the Python work dominates. Run one installation per process:

    python benchmarks/bench_step_overhead.py            # the installed pysampled
    PYTHONPATH=/path/to/other python benchmarks/bench_step_overhead.py

and compare the two outputs of the same session (the machine is shared; see
benchmarks/RESULTS.md for the recorded numbers).
"""
import json
import statistics
import sys
import time

import numpy as np

import pysampled as ps


def per_call(fn, repeat=7, number=None):
    fn()
    if number is None:
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-7)
        number = max(1, int(0.05 / one))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times), min(times)


def problem(N, D, B, S, seed=0):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((N, D)) * 0.01).astype(np.float32)
    b = np.zeros(N, dtype=np.float32)
    x = rng.standard_normal((B, D)).astype(np.float32)
    y = rng.integers(0, N, (B, 1))
    model = ps.SampledLoss(W, b, num_sampled=S, loss="sampled_softmax", optimizer="sgd",
                           learning_rate=1e-3, num_threads=1, seed=1)
    sv = model.sample(y)
    return model, x, y, sv


def main():
    out = {"pysampled": ps.__file__}
    for name, (N, D, B, S) in {"S64_B1024_D128_N1e5": (10**5, 128, 1024, 64),
                               "tiny_B1_S1_D1_N16": (16, 1, 1, 1)}.items():
        model, x, y, sv = problem(N, D, B, S)
        med, best = per_call(lambda: model.step(y, x, sampled_values=sv))
        out[f"{name}/explicit_sv"] = {"median_us": med * 1e6, "min_us": best * 1e6}
        med, best = per_call(lambda: model.step(y, x))
        out[f"{name}/default_sampler"] = {"median_us": med * 1e6, "min_us": best * 1e6}
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
