#!/usr/bin/env python3
"""Every SIMD level against the generic level for the loss and word2vec kernels.

One process, 1 thread, the levels forced in turn with
``pysampled._samplers.set_simd_level`` and measured round-robin (so that
the ratios come from one run on a shared machine). Timed with the thread's
CPU time by default (``--clock wall`` for wall time); the fastest of
``--repeat`` rounds is reported. Cases:

* ``sampled_softmax_loss`` / ``nce_loss`` with ``return_grads=True`` (forward
  and backward), N = 1e5 classes, D = 128, B = 1024, S sampled classes given
  as ``sampled_values`` (so only the loss kernels are timed);
* ``SampledLoss.step`` (the same plus the SGD update, in place);
* ``Word2Vec.train`` for one epoch over a synthetic Zipfian corpus
  (skip-gram and CBOW, negative sampling), from the same initial model.

The bulk samplers have their own per-level table: ``bench_samplers.py --levels``.

Usage::

    python benchmarks/bench_simd_levels.py            # ~2 min
    python benchmarks/bench_simd_levels.py --quick
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

LEVELS = ("generic", "avx2", "avx512")


def loss_cases(ps, a):
    rng = np.random.default_rng(0)
    N, D, B = a.classes, a.dim, a.batch
    W = (rng.standard_normal((N, D)) * 0.05).astype(np.float32)
    b = np.zeros(N, dtype=np.float32)
    x = rng.standard_normal((B, D)).astype(np.float32)
    labels = rng.integers(0, N, size=(B, 1)).astype(np.int64)
    cases = {}
    for S in a.sampled:
        sv = ps.LogUniformSampler(N, seed=1).sample(labels, S, True)
        for loss, fn in (("sampled_softmax", ps.sampled_softmax_loss), ("nce", ps.nce_loss)):
            cases[f"{loss} fwd+bwd, S={S}"] = (
                lambda fn=fn, S=S, sv=sv: fn(W, b, labels, x, S, N, sampled_values=sv,
                                             return_grads=True, num_threads=1))
            Wc, bc = W.copy(), b.copy()
            model = ps.SampledLoss(Wc, bc, num_sampled=S, loss=loss, optimizer="sgd",
                                   learning_rate=1e-4, num_threads=1, seed=1)
            cases[f"{loss} SampledLoss.step, S={S}"] = (
                lambda model=model, sv=sv: model.step(labels, x, sampled_values=sv))
    return cases


def w2v_cases(ps, a):
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(a.vocab)]
    p = 1.0 / np.arange(1, a.vocab + 1)
    p /= p.sum()
    ids = rng.choice(a.vocab, size=a.tokens, p=p)
    corpus = [[vocab[i] for i in ids[s:s + 20]] for s in range(0, a.tokens, 20)]
    cases = {}
    for model in ("skipgram", "cbow"):
        def run(model=model):
            m = ps.Word2Vec(model=model, loss="negative", dim=a.dim, window=5, negative=5,
                            min_count=1, epochs=1, threads=1, seed=1)
            m.build_vocab(corpus)
            t0 = time.thread_time() if a.clock == "cpu" else time.perf_counter()
            m.train(progress=False)
            return (time.thread_time() if a.clock == "cpu" else time.perf_counter()) - t0
        cases[f"word2vec {model} negative=5, dim={a.dim}, {C.fmt_int(a.tokens)} tokens"] = run
    return cases


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=None, help="rounds (default 7, quick 3)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    p.add_argument("--output", default=None)
    a = p.parse_args(argv)
    a.repeat = a.repeat or (3 if a.quick else 7)
    a.classes, a.dim, a.batch = 10**5, 128, 1024
    a.sampled = (64, 512) if not a.quick else (512,)
    a.vocab, a.tokens = 10_000, (100_000 if a.quick else 300_000)
    import pysampled as ps
    from pysampled import _samplers

    info = C.machine_info(peers=())
    detected = _samplers.detected_simd_level()
    levels = LEVELS[:LEVELS.index(detected) + 1]
    clock = time.thread_time if a.clock == "cpu" else time.perf_counter
    cases = {**loss_cases(ps, a), **w2v_cases(ps, a)}
    times = {(c, lv): [] for c in cases for lv in levels}
    busy = [C.cpu_busy_fraction()]
    for r in range(a.repeat + 1):  # round 0 is a warm-up
        for name, fn in cases.items():
            for lv in levels:
                _samplers.set_simd_level(lv)
                t0 = clock()
                got = fn()
                dt = got if isinstance(got, float) else clock() - t0
                if r:
                    times[(name, lv)].append(dt)
    _samplers.set_simd_level(detected)
    busy.append(C.cpu_busy_fraction())
    rows = []
    for name in cases:
        best = [min(times[(name, lv)]) for lv in levels]
        rows.append([name] + [f"{t * 1e3:,.2f}" for t in best] +
                    [f"{best[0] / t:.2f}×" for t in best[1:]])
    header = ["case"] + [f"{lv} ms" for lv in levels] + [f"{lv} speed-up" for lv in levels[1:]]
    md = (C.load_warning(busy) +
          f"\n### Loss and word2vec kernels per SIMD level (1 thread, fastest of {a.repeat}, "
          f"{'CPU time of the thread' if a.clock == 'cpu' else 'wall time'})\n\n" +
          C.md_table(header, rows, ["l"] + ["r"] * (len(header) - 1)))
    path = a.output or Path(__file__).resolve().parent / "out" / "simd_levels.json"
    C.write_json(path, {"benchmark": "simd_levels", "machine": info, "levels": levels,
                        "clock": a.clock, "other_load": busy,
                        "results": [{"case": c, "level": lv, "seconds": v}
                                    for (c, lv), v in times.items()], "markdown": md})
    print(f"CPU: {info['cpu'].get('model')}, detected SIMD level {detected}", file=sys.stderr)
    print(md)
    print(f"\nJSON: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
