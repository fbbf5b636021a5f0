"""Per-call cost of ``SampledLoss.step`` (the Python side of a training step).

Measures ``step`` at S=64, B=1024, D=128, N=10**5 (float32, SGD, 1 thread,
explicit and default sampled values) and at a tiny problem (B=1, S=1, D=1,
N=16) where the Python work dominates. Run one installation per process:

    python benchmarks/bench_step_overhead.py            # the installed pysampled
    PYTHONPATH=/path/to/other python benchmarks/bench_step_overhead.py

and compare the two outputs of the same session (the machine is shared; see
benchmarks/RESULTS.md for the recorded numbers).

    python benchmarks/bench_step_overhead.py --split

measures instead, in one process and interleaved, what the Python layer adds
to the kernel (issue 10: at most 15 % at S=64, B=1024): the kernel call alone
on prepared batches (fresh draws, as step sees them), the batch preparation (label checks, the sampler's draw,
expected counts), the whole ``step`` and the whole ``sampled_softmax_loss(...,
return_grads=True)``, as the best process-CPU time per call over 30 rounds
(CPU time, so that a busy machine's waiting is not counted).
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


def split(rounds=30, number=5, N=10**5, D=128, B=1024, S=64):
    model, x, y, _ = problem(N, D, B, S)
    W, b = model.weights[0], model.biases[0]
    # The kernel alone runs on prepared batches with fresh draws, as step()
    # sees them (the same 64 rows every call would sit in the cache).
    batches = [model._batch(y, x, None, None, True, sep=", ") for _ in range(64)]
    nxt = iter(batches * (2 * rounds * number + 8)).__next__
    update = dict(optimizer=model._optimizer, learning_rate=1e-9, epsilon=model.epsilon,
                  weight_accum=None, bias_accum=None, hogwild=False, rounding=0, rounding_seed=0,
                  rounding_step=0)
    fns = {
        "kernel, fwd+bwd+SGD update (prepared batch)": lambda: model._kernel(x, nxt(), want_grads=True,
                                                                            **update),
        "kernel, fwd+bwd (prepared batch)": lambda: model._kernel(x, nxt(), want_grads=True),
        "batch preparation incl. the draw": lambda: model._batch(y, x, None, None, True, sep=", "),
        "the sampler's draw": lambda: model.sampler.sample(y, S, True),
        "SampledLoss.step": lambda: model.step(y, x, learning_rate=1e-9),
        "sampled_softmax_loss(return_grads=True)": lambda: ps.sampled_softmax_loss(
            W, b, y, x, S, N, return_grads=True, num_threads=1, seed=1),
    }
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.process_time()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.process_time() - t0) / number)
    print(f"N={N} D={D} B={B} S={S}, float32, 1 thread; best process-CPU microseconds per call")
    for name, t in best.items():
        print(f"  {name:45s} {t * 1e6:9.1f}")
    k_step = best["kernel, fwd+bwd+SGD update (prepared batch)"]
    k_fn = best["kernel, fwd+bwd (prepared batch)"]
    print(f"  step adds {100 * (best['SampledLoss.step'] / k_step - 1):.1f}% to its kernel; "
          f"the function adds {100 * (best['sampled_softmax_loss(return_grads=True)'] / k_fn - 1):.1f}%")


def main():
    if "--split" in sys.argv[1:]:
        split()
        return
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
