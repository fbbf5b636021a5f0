"""What a plain training loop pays for fresh output arrays (glibc heap trimming).

A loop that calls ``sampled_softmax_loss(..., return_grads=True)`` frees the
previous call's outputs (dX, the gradient rows: about 1 MiB at B=1024, D=128,
S=64) as it receives the next ones. glibc gives the freed top of its heap back
to the kernel once it exceeds ``M_TRIM_THRESHOLD``, so the next call's outputs
are fresh pages, and writing them costs one page fault per 4 KiB (expensive
under a hypervisor). ``SampledLoss.step`` returns only the per-example loss and
does not pay this.

Each configuration runs in a fresh process (glibc reads its tuning variables at
start-up), once with the default allocator settings and once with
``MALLOC_TRIM_THRESHOLD_`` and ``MALLOC_MMAP_THRESHOLD_`` at 128 MiB, the
processes alternating; the best per-call wall time of each is reported with
the minor page faults per call::

    python benchmarks/bench_output_faults.py [--sampled 64,512] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

KEEP = {"MALLOC_TRIM_THRESHOLD_": str(128 << 20), "MALLOC_MMAP_THRESHOLD_": str(128 << 20)}


def worker(api: str, S: int, N: int, D: int, B: int, calls: int, repeats: int) -> dict:
    import numpy as np

    import pysampled as ps

    rng = np.random.default_rng(0)
    W = (rng.random((N, D), dtype=np.float32) - 0.5) * 0.1
    b = np.zeros(N, np.float32)
    x = rng.random((B, D), dtype=np.float32)
    y = rng.integers(0, N, (B, 1))
    if api == "function":
        sv = ps.log_uniform_candidate_sampler(y, 1, S, True, N, seed=3)

        def call():
            return ps.sampled_softmax_loss(W, b, y, x, S, N, sampled_values=sv, return_grads=True,
                                           num_threads=1)
    else:
        model = ps.SampledLoss(W, b, num_sampled=S, loss="sampled_softmax", optimizer="sgd",
                               learning_rate=1e-9, num_threads=1, seed=1)

        def call():
            return model.step(y, x)
    for _ in range(3):
        out = call()
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = call()  # noqa: F841 (the previous outputs are freed here, as in a loop)
        best = min(best, (time.perf_counter() - t0) / calls)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / (calls * repeats)
    return {"best_ms": best * 1e3, "faults_per_call": faults}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sampled", default="64,512")
    p.add_argument("--classes", type=float, default=1e6)
    p.add_argument("--rounds", type=int, default=3, help="alternating process pairs per cell")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(**json.loads(a.worker))))
        return
    sys.path.insert(0, os.path.dirname(__file__))
    import _common as C

    info = C.machine_info(peers=())
    print(f"CPU: {info['cpu'].get('model')}; N={int(a.classes):,}, B=1024, D=128, float32, 1 thread; "
          f"best wall ms per call of {a.rounds} alternating process pairs")
    print("\n| API | S | default ms | default faults/call | trim+mmap 128 MiB ms | faults/call "
          "| default / kept |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for S in (int(s) for s in a.sampled.split(",")):
        for api in ("function", "step"):
            calls = max(10, 3200 // S)
            job = json.dumps(dict(api=api, S=S, N=int(a.classes), D=128, B=1024, calls=calls, repeats=10))
            res = {"default": [], "kept": []}
            for _ in range(a.rounds):
                for name, extra in (("default", {}), ("kept", KEEP)):
                    env = {k: v for k, v in os.environ.items() if k not in KEEP}
                    env.update(extra)
                    out = subprocess.run([sys.executable, __file__, "--worker", job], env=env,
                                         capture_output=True, text=True, check=True)
                    res[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            d = min(res["default"], key=lambda r: r["best_ms"])
            k = min(res["kept"], key=lambda r: r["best_ms"])
            label = "sampled_softmax_loss(return_grads=True)" if api == "function" else "SampledLoss.step"
            print(f"| {label} | {S} | {d['best_ms']:.3f} | {d['faults_per_call']:.0f} | {k['best_ms']:.3f} | "
                  f"{k['faults_per_call']:.0f} | {d['best_ms'] / k['best_ms']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
