#!/usr/bin/env python3
"""word2vec training on a shared machine: 2 threads beside a busy neighbour.

Issue 13 asks that the trainer's 2 threads not collapse when another
process keeps one core busy (an ordinary day on a shared server). For each
system, model and mode this times training (``train()`` after
``build_vocab()``, one fresh worker process per measurement) in three
conditions:

* 1 thread on the quiet machine (the reference);
* T threads (``--threads``, default 2) on the quiet machine;
* T threads while another process spins on one core (``_common.BusyNeighbour``:
  pinned there with ``sched_setaffinity``; started before the worker).

Systems: pysampled's deterministic mode (its per-chunk chooser and the
pool's load probe may run fewer threads than asked; the vectors do not
depend on it), pysampled ``--hogwild`` and gensim 4.4 (``corpus_file``),
the same hyper-parameters as ``bench_word2vec.py``. Reported: training
seconds and the ratio to the same system's quiet single thread (≤ 1 means
the extra thread still helps; well above 1, that it collapsed).

Usage::

    python benchmarks/bench_word2vec_neighbour.py --corpus gcide.txt
    python benchmarks/bench_word2vec_neighbour.py --corpus gcide.txt --epochs 1 --models cbow
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SYSTEMS = ("pysampled-det", "pysampled-hogwild", "gensim")
MODELS = ("skipgram", "cbow")


def worker(a):
    """Builds the vocabulary, trains, prints {"train_s": ...} as JSON."""
    sg = a.model == "skipgram"
    alpha = 0.025 if sg else 0.05
    if a.system == "gensim":
        from gensim.models import Word2Vec as GensimWord2Vec
        m = GensimWord2Vec(vector_size=a.dim, window=5, negative=5, min_count=5, sample=1e-3,
                           sg=int(sg), hs=0, alpha=alpha, min_alpha=1e-4, workers=a.threads,
                           seed=1, epochs=a.epochs)
        m.build_vocab(corpus_file=a.corpus)
        t0 = time.perf_counter()
        m.train(corpus_file=a.corpus, epochs=a.epochs, total_examples=m.corpus_count,
                total_words=m.corpus_total_words)
    else:
        from pysampled.word2vec import Word2Vec
        m = Word2Vec(model=a.model, dim=a.dim, window=5, negative=5, min_count=5, sample=1e-3,
                     alpha=alpha, min_alpha=1e-4, seed=1, epochs=a.epochs,
                     num_threads=a.threads, deterministic=a.system == "pysampled-det")
        m.build_vocab([a.corpus])
        t0 = time.perf_counter()
        m.train(progress=False)
    print(json.dumps({"train_s": time.perf_counter() - t0}))
    return 0


def run(a, system, model, threads, busy):
    cmd = [sys.executable, __file__, "--worker", "--system", system, "--model", model,
           "--threads", str(threads), "--corpus", a.corpus, "--epochs", str(a.epochs),
           "--dim", str(a.dim)]
    env = C.thread_env(threads)
    if busy:
        with C.BusyNeighbour():
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    else:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["train_s"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, metavar="FILE")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--repeats", type=int, default=1, help="best of this many per cell")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--system", default=None, help=argparse.SUPPRESS)
    p.add_argument("--model", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        a.threads = int(a.threads)
        return worker(a)
    info = C.machine_info(peers=())
    cpu = info["cpu"]
    print(f"CPU: {cpu.get('model')} (family {cpu.get('family')} model {cpu.get('model_number')}), "
          f"{os.cpu_count()} logical CPUs; corpus {a.corpus}, "
          f"{a.epochs} epoch(s), best of {a.repeats}; other load before the run: "
          f"{100 * C.cpu_busy_fraction():.0f}% of the CPUs", file=sys.stderr)
    T = a.threads
    rows = []
    for model in a.models.split(","):
        for system in a.systems.split(","):
            cells = {}
            for cond, threads, busy in (("1", 1, False), ("T", T, False), ("T busy", T, True)):
                cells[cond] = min(run(a, system, model, threads, busy) for _ in range(a.repeats))
                print(f"[{system}|{model}|{cond}] {cells[cond]:.2f} s", file=sys.stderr)
            rows.append((model, system, cells))
    print(f"\nTraining seconds ({a.epochs} epoch(s)); ratio = time / the same system's quiet "
          f"1-thread time\n")
    print(f"| model | system | 1 thread, quiet | {T} threads, quiet | {T} threads, busy "
          f"neighbour | ratio quiet | ratio busy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model, system, c in rows:
        print(f"| {model} | {system} | {c['1']:.2f} | {c['T']:.2f} | {c['T busy']:.2f} | "
              f"{c['T'] / c['1']:.2f} | {c['T busy'] / c['1']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
