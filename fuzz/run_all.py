#!/usr/bin/env python3
"""Run every atheris harness in fuzz/ one after the other and summarise.

Examples::

    # CI smoke run: about 6 s per harness (~1 minute), non-zero exit on any finding
    python fuzz/run_all.py --seconds-per-harness 6

    # a fixed number of inputs per harness
    python fuzz/run_all.py --runs-per-harness 20000

    # long mode: 30 minutes per harness, restarting a harness after a finding
    nice python fuzz/run_all.py --long --keep-going

    # only some harnesses; under AddressSanitizer (a PYSAMPLED_SANITIZE=ON build)
    python fuzz/run_all.py --harness losses --harness sampled_loss --asan

Each harness runs as its own process (libFuzzer stops at the first finding):
``python fuzz/fuzz_<name>.py CORPUS SEEDS -max_total_time=S -timeout=T ...``.
New interesting inputs go to ``build/fuzz/corpus/<name>/`` (reused by later
runs), findings to ``build/fuzz/artifacts/<name>-crash-*`` (or ``timeout-*``,
``oom-*``); replay one with ``FUZZ_VERBOSE=1 python fuzz/fuzz_<name>.py FILE``.
A finding is an uncaught exception (anything the harness does not accept as
documented), a failed oracle, a crash / abort / sanitizer report, an input
running longer than ``--timeout`` seconds or using more than ``--rss-limit-mb``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
HARNESSES = [
    "sampler_functions",
    "sampler_classes",
    "accidental_hits",
    "losses",
    "sampled_loss",
    "text_corpus",
    "w2v_format",
    "vocab_file",
    "checkpoint",
    "beyond_tf",
    "distributed",
    "torch",
    "tokenize",
]
MAX_LEN = {"checkpoint": 20000, "w2v_format": 8192, "text_corpus": 8192, "vocab_file": 4096}

_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"stat::number_of_executed_units:\s*(\d+)")
_PROGRESS = re.compile(r"^#(\d+)\s", re.M)
_ARTIFACT = re.compile(r"Test unit written to (\S+)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--seconds-per-harness", type=float, metavar="S",
                        help="fuzz each harness for S seconds (default 6)")
    budget.add_argument("--runs-per-harness", type=int, metavar="N",
                        help="fuzz each harness for N inputs")
    budget.add_argument("--long", action="store_true",
                        help="long mode: 1800 s per harness (implies nothing else)")
    p.add_argument("--harness", action="append", choices=HARNESSES, metavar="NAME",
                   help=f"run only this harness (repeatable); one of {', '.join(HARNESSES)}")
    p.add_argument("--timeout", type=int, default=10,
                   help="seconds one input may take before it is a finding (default 10)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="libFuzzer's -seed (default: from the clock). With a fixed seed and no "
                        "stored corpus every run explores the same sequence of inputs, so a "
                        "time-limited run covers a prefix of it: CI's smoke run is reproducible")
    p.add_argument("--rss-limit-mb", type=int, default=4096, help="libFuzzer's RSS limit")
    p.add_argument("--keep-going", action="store_true",
                   help="after a finding, restart the harness until its budget is spent")
    p.add_argument("--python", default=sys.executable, help="interpreter with atheris + pysampled")
    p.add_argument("--work-dir", default=str(ROOT / "build" / "fuzz"),
                   help="corpus and artifacts directory (default build/fuzz)")
    p.add_argument("--no-corpus", action="store_true",
                   help="start from the seeds only (do not reuse or grow build/fuzz/corpus)")
    p.add_argument("--asan", action="store_true",
                   help="preload libasan (for a -Ccmake.define.PYSAMPLED_SANITIZE=ON build)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--verbose", action="store_true", help="stream libFuzzer's output")
    return p.parse_args(argv)


def asan_env(env):
    def lib(name):
        return subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                              text=True).stdout.strip()
    # libstdc++ too: otherwise ASan's __cxa_throw interceptor finds no real __cxa_throw
    # (python does not link libstdc++) and the first C++ exception aborts with
    # "CHECK failed: asan_interceptors.cpp ... real___cxa_throw".
    env["LD_PRELOAD"] = f"{lib('libasan.so')} {lib('libstdc++.so')}"
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:allocator_may_return_null=1:"
                   "max_allocation_size_mb=3072:handle_segv=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def run_once(args, name, budget_s, budget_runs, env, log):
    work = pathlib.Path(args.work_dir)
    corpus = work / "corpus" / name
    arts = work / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    arts.mkdir(parents=True, exist_ok=True)
    cmd = [args.python, str(HERE / f"fuzz_{name}.py")]
    if not args.no_corpus:
        cmd.append(str(corpus))
    else:
        # libFuzzer writes new inputs into its first corpus directory: give it
        # an empty one of its own, so that fuzz/seeds (tracked) is only read.
        fresh = work / "fresh-corpus" / name
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        cmd.append(str(fresh))
    seeds = HERE / "seeds" / name
    if seeds.is_dir():
        cmd.append(str(seeds))
    cmd += [f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_limit_mb}",
            f"-max_len={MAX_LEN.get(name, 4096)}", f"-artifact_prefix={arts}/{name}-",
            "-print_final_stats=1"]
    if args.seed is not None:
        cmd.append(f"-seed={args.seed}")
    if budget_runs is not None:
        cmd.append(f"-runs={budget_runs}")
    else:
        cmd.append(f"-max_total_time={max(1, int(round(budget_s)))}")
    log.write("$ " + " ".join(cmd) + "\n")
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", env=env, cwd=str(ROOT))
    out = []
    for line in proc.stdout:
        out.append(line)
        log.write(line)
        if args.verbose:
            sys.stdout.write(line)
    rc = proc.wait()
    elapsed = time.time() - t0
    text = "".join(out)
    runs = None
    for rx in (_DONE, _STAT):
        m = rx.findall(text)
        if m:
            runs = int(m[-1][0] if isinstance(m[-1], tuple) else m[-1])
            break
    if runs is None:
        m = _PROGRESS.findall(text)
        runs = int(m[-1]) if m else 0
    finding = rc != 0 or "ERROR: libFuzzer" in text or "Uncaught Python exception" in text
    artifacts = _ARTIFACT.findall(text)
    summary = ""
    if finding:
        for key in ("=== Uncaught Python exception: ===", "ERROR: libFuzzer", "ERROR: AddressSanitizer",
                    "runtime error:", "=== Timeout"):
            i = text.find(key)
            if i >= 0:
                summary = " ".join(text[i:i + 400].split())
                break
    return {"runs": runs, "seconds": elapsed, "rc": rc, "finding": finding,
            "artifacts": artifacts, "summary": summary}


def main(argv=None):
    args = parse_args(argv)
    if args.long:
        budget_s, budget_runs = 1800.0, None
    elif args.runs_per_harness is not None:
        budget_s, budget_runs = None, args.runs_per_harness
    else:
        budget_s, budget_runs = args.seconds_per_harness or 6.0, None
    names = args.harness or HARNESSES
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "2")
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    if args.asan:
        env = asan_env(env)
    tmp = tempfile.mkdtemp(prefix="pysampled-fuzz-run-",
                           dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    env["FUZZ_TMPDIR"] = tmp
    work = pathlib.Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "last_run.log"
    results = {}
    t_start = time.time()
    try:
        with open(log_path, "w") as log:
            for name in names:
                total = {"runs": 0, "seconds": 0.0, "findings": []}
                left_s, left_runs = budget_s, budget_runs
                while True:
                    r = run_once(args, name, left_s, left_runs, env, log)
                    total["runs"] += r["runs"]
                    total["seconds"] += r["seconds"]
                    if r["finding"]:
                        total["findings"].append({"artifacts": r["artifacts"],
                                                  "summary": r["summary"]})
                    print(f"{name:18s} {r['runs']:>9d} inputs {r['seconds']:7.1f} s"
                          + (f"  FINDING: {r['summary'][:160]} {r['artifacts']}" if r["finding"]
                             else ""), flush=True)
                    if not (r["finding"] and args.keep_going):
                        break
                    if left_runs is not None:
                        left_runs -= r["runs"]
                        if left_runs <= 0:
                            break
                    else:
                        left_s -= r["seconds"]
                        if left_s < 2:
                            break
                results[name] = total
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.time() - t_start
    n_find = sum(len(r["findings"]) for r in results.values())
    print("\nharness              inputs   seconds  inputs/s  findings")
    for name, r in results.items():
        rate = r["runs"] / r["seconds"] if r["seconds"] else 0
        print(f"{name:18s} {r['runs']:>9d} {r['seconds']:9.1f} {rate:9.0f} {len(r['findings']):9d}")
    total_runs = sum(r["runs"] for r in results.values())
    print(f"{'TOTAL':18s} {total_runs:>9d} {wall:9.1f} {total_runs / wall if wall else 0:9.0f} "
          f"{n_find:9d}")
    print(f"(libFuzzer output: {log_path})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"harnesses": results, "total_runs": total_runs, "wall_seconds": wall,
                       "findings": n_find, "argv": sys.argv}, f, indent=2)
    return 1 if n_find else 0


if __name__ == "__main__":
    sys.exit(main())
