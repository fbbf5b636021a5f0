"""Command line: ``python -m pysampled`` (or the ``pysampled`` script).

``demo`` (the default) shows the samplers and the fused loss on a small
built-in problem and prints their throughput on this machine.
"""
from __future__ import annotations

import argparse
import sys
import time


def _demo(args) -> int:
    import numpy as np

    import pysampled as ps

    print(f"pysampled {ps.__version__}: OpenMP {'on' if ps.openmp_enabled() else 'off'}, "
          f"SIMD {ps._samplers.simd_level()}, {ps._samplers.omp_max_threads()} thread(s)")
    labels = np.array([[0], [3], [7]])
    s = ps.log_uniform_candidate_sampler(labels, 1, 8, True, 64, seed=(20245, 842))
    print("\nTF's log-uniform stream for seeds (20245, 842), R=64, S=8, unique:")
    print("  sampled:", s.sampled_candidates.tolist())
    print("  sampled expected counts:", [round(float(v), 4) for v in s.sampled_expected_count])
    print("  true expected counts:", [round(float(v), 4) for v in s.true_expected_count.ravel()])

    n = 10_000_000
    print(f"\nBulk draws ({n:,}, all threads):")
    for name, sampler in [
        ("uniform", ps.UniformSampler(1_000_000, seed=1)),
        ("log_uniform", ps.LogUniformSampler(1_000_000, seed=1)),
        ("unigram^0.75 (alias)", ps.FixedUnigramSampler(
            100_000, unigrams=1.0 / np.arange(1, 100_001), distortion=0.75, seed=1)),
    ]:
        out = np.empty(n, dtype=np.int64)
        sampler.sample_bulk(n, out=out, num_threads=-1)
        t0 = time.perf_counter()
        sampler.sample_bulk(n, out=out, num_threads=-1)
        dt = time.perf_counter() - t0
        print(f"  {name:<22} {n / dt / 1e6:8.1f} M draws/s")

    rng = np.random.default_rng(0)
    num_classes, dim, batch, num_sampled = 100_000, 128, 1024, 512
    weights = rng.standard_normal((num_classes, dim), dtype=np.float32) * 0.05
    biases = np.zeros(num_classes, dtype=np.float32)
    x = rng.standard_normal((batch, dim), dtype=np.float32)
    y = rng.integers(0, num_classes, (batch, 1))
    model = ps.SampledLoss(weights, biases, num_sampled=num_sampled, seed=1, learning_rate=0.1)
    model.step(y, x)
    steps = 20
    t0 = time.perf_counter()
    for _ in range(steps):
        res = model.step(y, x)
    dt = (time.perf_counter() - t0) / steps
    print(f"\nSampled softmax step (C={num_classes:,}, D={dim}, B={batch}, S={num_sampled}): "
          f"{dt * 1e3:.2f} ms, mean loss {res.loss.mean():.4f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pysampled", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="samplers and losses on a built-in example (default)")
    args = parser.parse_args(argv)
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
