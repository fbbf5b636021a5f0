"""The word2vec trainer across MPI ranks (``mpiexec -n K pysampled train``)
against the same training in one process.

For each batch size, runs ``pysampled train --loss sampled_softmax`` on the
built-in synthetic corpus in one process (no ``mpiexec``) and under
``mpiexec -n K`` for K = 2, 4 (one OpenMP thread per rank; on a 2-core
machine K = 4 is oversubscribed), and reports the training rate (words/s, as
the command prints it), the loss per epoch, the planted-structure score and
the largest difference of the written vectors from the one-process run.

Usage (from the repository root, with ``pip install ".[mpi]"``)::

    python benchmarks/bench_distributed_trainer.py                 # 10^6 tokens, 3 epochs
    python benchmarks/bench_distributed_trainer.py --tokens 200000 --epochs 1   # quicker

Prints Markdown on stdout; writes benchmarks/out/distributed_trainer.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else "mpiexec"


def _vectors(path):
    from pysampled.word2vec import load_word2vec_format

    return load_word2vec_format(path, binary=True)


def run(ranks, args, out):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "pysampled", "train", *args, "--output", out, "--binary"]
    if ranks:
        cmd = [_mpiexec(), "-n", str(ranks)] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    rate = float(re.search(r"([\d.]+) M words/s", p.stdout).group(1)) * 1e6
    losses = re.search(r"loss per prediction by epoch: (.*)", p.stdout).group(1)
    score = float(re.search(r"planted-structure score .*?: ([\d.]+)", p.stdout).group(1))
    return {"ranks": ranks or 1, "mpiexec": bool(ranks), "words_per_s": rate, "losses": losses,
            "score": score}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--dim", type=int, default=50)
    ap.add_argument("--batch-sizes", default="128,1024")
    ap.add_argument("--ranks", default="2,4")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for bs in [int(x) for x in a.batch_sizes.split(",")]:
            args = ["--loss", "sampled_softmax", "--synthetic-tokens", str(a.tokens), "--epochs",
                    str(a.epochs), "--dim", str(a.dim), "--threads", "1", "--quiet",
                    "--batch-size", str(bs)]
            ref_path = os.path.join(d, f"one{bs}.bin")
            ref = run(0, args, ref_path)
            ref.update(batch_size=bs, max_diff=0.0)
            rows.append(ref)
            words, v0 = _vectors(ref_path)
            print(f"batch {bs}: one process {ref['words_per_s'] / 1e6:.3f} M words/s",
                  file=sys.stderr)
            for k in [int(x) for x in a.ranks.split(",")]:
                path = os.path.join(d, f"k{k}_{bs}.bin")
                r = run(k, args, path)
                w, v = _vectors(path)
                assert w == words
                r.update(batch_size=bs, max_diff=float(np.max(np.abs(v - v0))))
                rows.append(r)
                print(f"batch {bs}: K={k} {r['words_per_s'] / 1e6:.3f} M words/s", file=sys.stderr)
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"CPU: {cpu}, {os.cpu_count()} logical CPUs; {a.tokens:,} synthetic tokens, "
          f"{a.epochs} epochs, dim {a.dim}, sampled softmax, 64 negatives\n")
    print("| batch | run | words/s | vs one process | planted score | loss per epoch "
          "| max \\|Δ vector\\| |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(x for x in rows if x["batch_size"] == r["batch_size"] and not x["mpiexec"])
        name = f"mpiexec -n {r['ranks']}" if r["mpiexec"] else "one process"
        print(f"| {r['batch_size']} | {name} | {r['words_per_s'] / 1e6:.3f} M "
              f"| {r['words_per_s'] / base['words_per_s']:.2f}× | {r['score']:.3f} "
              f"| {r['losses']} | {r['max_diff']:.1e} |")
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "distributed_trainer.json").write_text(
        json.dumps({"cpu": cpu, "args": vars(a), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
