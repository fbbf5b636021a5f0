"""ShardedSampledLoss across MPI ranks vs SampledLoss in one process.

Measures, for one training configuration (sampled softmax, SGD, float32):

* steps/s of ``pysampled.SampledLoss.step`` in one process (1 and 2 OpenMP
  threads) over the whole table;
* steps/s of ``pysampled.distributed.ShardedSampledLoss.step`` under
  ``mpiexec -n K`` for K = 1, 2, 4 (one OpenMP thread per rank; on a 2-core
  machine K = 4 is oversubscribed: two ranks per core), with a shared batch
  and with ``batch_split=True``;
* per rank: bytes handed to MPI per step (``last_traffic``, checked against
  the formula of docs/DISTRIBUTED.md by tests/test_distributed.py), the
  fraction of the step spent waiting in collectives, memory of the shard.

Usage (from the repository root, with ``pip install ".[mpi]"``)::

    python benchmarks/bench_distributed.py            # full: N = 500k, D = 128, B = 256, S = 2048
    python benchmarks/bench_distributed.py --quick    # smoke test, seconds

Prints Markdown on stdout, progress on stderr; writes benchmarks/out/distributed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    import shutil

    return shutil.which("mpiexec")


def _batches(cfg, steps):
    rng = np.random.default_rng(11)
    N, B, D = cfg["classes"], cfg["batch"], cfg["dim"]
    # Zipf-like labels, as word2vec / language-model targets are.
    out = []
    for _ in range(steps):
        labels = np.minimum((rng.pareto(1.0, B) * 10).astype(np.int64), N - 1)
        x = rng.normal(0, 0.3, (B, D)).astype(np.float32)
        out.append((labels, x))
    return out


def _time_steps(step_fn, batches, warmup):
    times = []
    for i, (lab, x) in enumerate(batches):
        t0 = time.perf_counter()
        step_fn(lab, x)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def worker_single(cfg):
    import pysampled

    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.05, (cfg["classes"], cfg["dim"])).astype(np.float32)
    b = np.zeros(cfg["classes"], np.float32)
    loss = pysampled.SampledLoss(W, b, num_sampled=cfg["sampled"], seed=1, learning_rate=0.05,
                                 num_threads=cfg["threads"])
    batches = _batches(cfg, cfg["steps"] + cfg["warmup"])
    times = _time_steps(lambda lab, x: loss.step(lab, x), batches, cfg["warmup"])
    med = statistics.median(times)
    print(json.dumps({"steps_per_s": 1 / med, "median_ms": med * 1e3}), flush=True)


def worker_mpi(cfg):
    from mpi4py import MPI

    from pysampled.distributed import ShardedSampledLoss, shard_rows

    comm = MPI.COMM_WORLD
    K, r = comm.size, comm.rank
    rows = shard_rows(cfg["classes"], K)[r]
    W = np.random.default_rng(r).normal(0, 0.05, (rows, cfg["dim"])).astype(np.float32)
    b = np.zeros(rows, np.float32)
    loss = ShardedSampledLoss(comm, W, b, cfg["classes"], num_sampled=cfg["sampled"], seed=1,
                              learning_rate=0.05, partition_strategy="mod", num_threads=1)
    batches = _batches(cfg, cfg["steps"] + cfg["warmup"])
    split = cfg["split"]
    parts = np.array_split(np.arange(cfg["batch"]), K)
    waits, traffic = [], None

    def step(lab, x):
        nonlocal traffic
        if split:
            lab, x = lab[parts[r]], x[parts[r]]
        loss.step(lab, x, batch_split=split)
        waits.append(loss.last_wait_seconds)
        traffic = sum(loss.last_traffic.values())

    comm.Barrier()
    times = _time_steps(step, batches, cfg["warmup"])
    # A step ends when the slowest rank ends: report the slowest rank's median.
    med = comm.allreduce(statistics.median(times), op=MPI.MAX)
    wait = statistics.median(waits[cfg["warmup"]:])
    got = comm.gather({"rank": r, "bytes_per_step": traffic, "wait_ms": wait * 1e3,
                       "shard_MiB": (W.nbytes + b.nbytes) / 2**20}, root=0)
    if r == 0:
        print(json.dumps({"steps_per_s": 1 / med, "median_ms": med * 1e3, "ranks": got}), flush=True)


def run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{p.stderr[-3000:]}")
    return json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", choices=["single", "mpi"])
    ap.add_argument("--cfg")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.worker:
        cfg = json.loads(a.cfg)
        (worker_single if a.worker == "single" else worker_mpi)(cfg)
        return
    cfg = dict(classes=500_000, dim=128, batch=256, sampled=2048, steps=30, warmup=3)
    if a.quick:
        cfg = dict(classes=20_000, dim=32, batch=64, sampled=256, steps=5, warmup=1)
        a.rounds = 1
    mpiexec = _mpiexec()
    results = {"config": cfg, "rounds": a.rounds, "single": {}, "mpi": {}, "load_before": os.getloadavg()}
    me = [sys.executable, str(Path(__file__).resolve())]
    # Every configuration once per round, rounds interleaved: on a shared,
    # noisy machine each configuration sees the same mix of conditions; the
    # table reports the median round.
    raw_single, raw_mpi = {}, {}
    for rnd in range(a.rounds):
        for threads in (1, 2):
            c = dict(cfg, threads=threads)
            print(f"round {rnd}: single process, {threads} thread(s)", file=sys.stderr, flush=True)
            raw_single.setdefault(threads, []).append(
                run(me + ["--worker", "single", "--cfg", json.dumps(c)], threads))
        for split in (False, True):
            for K in (1, 2, 4):
                c = dict(cfg, split=split)
                print(f"round {rnd}: mpiexec -n {K} split={split}", file=sys.stderr, flush=True)
                raw_mpi.setdefault(f"{K}-{split}", []).append(
                    run([mpiexec, "-n", str(K)] + me + ["--worker", "mpi", "--cfg", json.dumps(c)], 1))

    def median_round(rs):
        rs = sorted(rs, key=lambda r: r["median_ms"])
        out = dict(rs[len(rs) // 2])
        out["all_ms"] = [r["median_ms"] for r in rs]
        return out

    results["single"] = {k: median_round(v) for k, v in raw_single.items()}
    results["mpi"] = {k: median_round(v) for k, v in raw_mpi.items()}
    try:
        cpu = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
               if ln.startswith("model name")][0]
    except (OSError, IndexError):
        cpu = "unknown"
    results["cpu"], results["cores"] = cpu, os.cpu_count()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "distributed.json").write_text(json.dumps(results, indent=1))

    print(f"CPU: {cpu}, {os.cpu_count()} cores. Config: N = {cfg['classes']:,} classes, "
          f"D = {cfg['dim']}, B = {cfg['batch']}, S = {cfg['sampled']}, sampled softmax, SGD, float32; "
          f"median of {cfg['steps']} steps per run, median of {a.rounds} interleaved rounds "
          f"(all rounds' ms/step in brackets). Load average before/after: "
          f"{results.get('load_before')} / {os.getloadavg()}.\n")
    print("| run | steps/s | ms/step [rounds] | bytes sent per rank per step | "
          "waiting in collectives (ms, rank 0) | shard MiB per rank |")
    print("|---|---|---|---|---|---|")
    fmt = lambda r: f"{r['median_ms']:.1f} [{', '.join(f'{v:.1f}' for v in r['all_ms'])}]"  # noqa: E731
    for t, r in results["single"].items():
        print(f"| SampledLoss, 1 process, {t} thread(s) | {r['steps_per_s']:.1f} | {fmt(r)} | 0 | - | "
              f"{cfg['classes'] * (cfg['dim'] + 1) * 4 / 2**20:.0f} |")
    for key, r in results["mpi"].items():
        K, split = key.split("-")
        note = " (oversubscribed: 2 ranks per core)" if int(K) > (os.cpu_count() or 1) else ""
        ranks = r["ranks"]
        mode = "batch_split" if split == "True" else "shared batch"
        print(f"| ShardedSampledLoss, {K} rank(s){note}, {mode} | "
              f"{r['steps_per_s']:.1f} | {fmt(r)} | "
              f"{max(x['bytes_per_step'] or 0 for x in ranks):,} | {ranks[0]['wait_ms']:.1f} | "
              f"{max(x['shard_MiB'] for x in ranks):.0f} |")


if __name__ == "__main__":
    main()
