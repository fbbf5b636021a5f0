#!/usr/bin/env python3
"""Candidate samplers: pysampled vs NumPy, PyTorch and TensorFlow.

One run measures, for 1 and 2 threads (each (system, threads) pair in its own
fresh subprocess, see ``_common.run_jobs``):

* per-call time for ``S = 64`` (µs/call), the regime of one training step;
* throughput for bulk draws (``S = 4096`` and ``10**6``), in M draws/s;
* the setup of a fixed-unigram sampler (alias table) for ``R`` entries;

over ranges ``R = 1e5, 1e6, 1e7``, the uniform, log-uniform and fixed
unigram (``unigram ** 0.75`` of Zipfian counts) distributions, with and
without ``unique``. Systems and what they call:

=================  ==========================================================
``ps fn``          ``pysampled.<dist>_candidate_sampler(...)`` (TF-exact, stream cache)
``ps class``       ``pysampled.<Dist>Sampler(...).sample(...)`` (TF-exact, one kernel call)
``ps bulk``        ``.sample_bulk(S)`` (parallel, not TF's stream; with replacement)
``ps bulk(out)``   ``.sample_bulk(S, out=buf)`` into a preallocated buffer
``np``             uniform: ``Generator.integers`` / ``choice(R, S, replace=False)``;
                   log-uniform: inverse transform of ``Generator.random`` doubles
                   (unique: the same with rejection of repeats, TF's method);
                   unigram: ``Generator.choice(R, S, p=p[, replace=False])``
``np cdf``         unigram: ``searchsorted(cdf, Generator.random(S))`` on a prebuilt cdf
``torch``          ``torch.multinomial(weights, S, replacement=not unique)``
``tf eager``       ``tf.random.<dist>_candidate_sampler`` called eagerly
``tf fn``          the same inside a ``tf.function`` (traced once per config)
=================  ==========================================================

pysampled and TF also return expected counts (for ``--true-batch`` labels
and the S samples); the NumPy and torch calls return only the ids.

Usage::

    python benchmarks/bench_samplers.py --quick           # smoke test, ~2 min
    python benchmarks/bench_samplers.py                   # full run
    python benchmarks/bench_samplers.py --systems pysampled,numpy --threads 1
    python benchmarks/bench_samplers.py --levels          # per-SIMD-level table, ~1 min

``--levels`` is a separate, single-process run (1 thread, ``10**6`` draws into
``out=``): ``sample_bulk`` at every SIMD level the CPU has (forced with
``pysampled._samplers.set_simd_level``), interleaved round-robin with its NumPy
peers (``Generator.integers``; ``exp(random() * log R)``, allocating and into
preallocated buffers) and the machine's random-read rate (``np.take`` of
random int64 indices from an int64 table of R entries, the memory access an
alias draw makes), so that all ratios come from one run. Rates are from the
fastest of the round-robin repetitions (the machine is shared: the fastest
run is the least disturbed one) and, by default, the thread's CPU time
(``--levels-clock wall`` for wall time); medians and wall-time rates are kept
in the JSON.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

DISTS = ("uniform", "log_uniform", "unigram")
DIST_LABEL = {"uniform": "uniform", "log_uniform": "log-uniform", "unigram": "unigram^0.75"}
DISTORTION = 0.75
PER_CALL_S = 64

# api -> (system, which dists, unique allowed, sizes: "small" (S=64), "all")
APIS = {
    "ps fn": ("pysampled", DISTS, True, "small"),
    "ps class": ("pysampled", DISTS, True, "all"),
    "ps bulk": ("pysampled", DISTS, False, "all"),
    "ps bulk(out)": ("pysampled", DISTS, False, "all"),
    "np": ("numpy", DISTS, True, "all"),
    "np cdf": ("numpy", ("unigram",), False, "all"),
    "torch": ("torch", DISTS, True, "all"),
    "tf eager": ("tensorflow", ("uniform", "log_uniform"), True, "all"),
    "tf fn": ("tensorflow", DISTS, True, "all"),
}
BUILD_APIS = {  # alias table / cdf construction
    "ps FixedUnigramSampler()": "pysampled",
    "np cumsum cdf": "numpy",
    "tf fn first call": "tensorflow",
}
SYSTEMS = ("pysampled", "numpy", "torch", "tensorflow")
LIB_OF = {"pysampled": None, "numpy": None, "torch": "torch", "tensorflow": "tensorflow"}


def unigram_counts(R):
    """Zipfian word counts (the input of the fixed-unigram samplers)."""
    return (1e9 / np.arange(1, R + 1, dtype=np.float64)).astype(np.float32)


def distorted_probs(R):
    w = unigram_counts(R).astype(np.float64) ** DISTORTION
    return w / w.sum()


def log_uniform_probs(R):
    k = np.arange(R, dtype=np.float64)
    return (np.log(k + 2) - np.log(k + 1)) / np.log(R + 1)


# ------------------------------------------------------------------- jobs


def job_id(api, dist, R, S, unique):
    return f"{api}|{dist}|R={C.fmt_int(R)}|S={C.fmt_int(S)}|{'unique' if unique else 'repl'}"


def make_jobs(system, args):
    jobs, na = [], []
    for api, (sysname, dists, uniq_ok, sizes) in APIS.items():
        if sysname != system:
            continue
        for dist in dists:
            for R in args.ranges:
                for S in args.sizes:
                    if sizes == "small" and S != PER_CALL_S:
                        continue
                    for unique in (False, True):
                        jid = job_id(api, dist, R, S, unique)
                        rec = {"id": jid, "kind": "sample", "api": api, "system": system,
                               "dist": dist, "R": R, "S": S, "unique": unique}
                        if unique and not uniq_ok:
                            continue
                        if unique and S >= R:
                            na.append({**rec, "status": "n/a",
                                       "reason": "unique needs S < R"})
                            continue
                        if api == "tf fn" and dist == "unigram":
                            # the first call builds the graph with R floats as an attribute
                            rec["timeout_s"] = args.timeout + args.build_timeout
                        jobs.append(rec)
    if not args.no_build:
        for api, sysname in BUILD_APIS.items():
            if sysname != system:
                continue
            ranges = list(args.build_ranges)
            if sysname == "tensorflow":
                ranges = [10] + ranges  # tracing overhead baseline
            for R in ranges:
                jobs.append({"id": f"build|{api}|R={C.fmt_int(R)}", "kind": "build", "api": api,
                             "system": system, "R": R, "timeout_s": args.build_timeout})
    jobs.sort(key=lambda j: (j["kind"] != "build", j.get("R", 0), j.get("S", 0)))
    return jobs, na


def dominates(a, b):
    """Job ``b`` is certainly at least as slow as job ``a`` (same call,
    bigger problem): skip it once ``a`` timed out."""
    if a["kind"] == "build" and a["api"] == "tf fn first call":
        # TF's traced first call holds the whole setup: the fixed-unigram
        # samples of this range and above cannot be faster
        return (b["kind"] == "sample" and b["api"] == "tf fn" and b["dist"] == "unigram"
                and b["R"] >= a["R"])
    if a["kind"] != "sample" or b["kind"] != "sample":
        return False
    if (a["api"], a["dist"], a["unique"]) != (b["api"], b["dist"], b["unique"]):
        return False
    if b["S"] < a["S"]:
        return False
    # rejection sampling (unique) gets cheaper with a larger range: only same R
    return b["R"] == a["R"] if a["unique"] else b["R"] >= a["R"]


# ----------------------------------------------------------------- worker


class Worker:
    def __init__(self, args):
        self.args = args
        self.threads = args.threads_worker
        self.system = args.system
        self.limits = C.limit_threads(self.threads, LIB_OF[self.system])
        self.tc = np.zeros((args.true_batch, 1), dtype=np.int64)
        self._cache = {}
        self.setup_s = {}  # R -> TF fixed-unigram setup time measured by this worker
        if self.system == "tensorflow":
            import tensorflow as tf

            self.tf = tf
            self.tf_tc = tf.constant(self.tc)
        if self.system == "torch":
            import torch

            self.torch = torch
            self.gen = torch.Generator().manual_seed(1)
        import pysampled as ps

        self.ps = ps

    def cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def meta(self):
        m = {"threads": self.threads, "system": self.system, "limits": self.limits,
             "threadpools": C.threadpool_info()}
        if self.system == "torch":
            m["torch_threads"] = self.torch.get_num_threads()
            m["torch_config"] = self.torch.__config__.parallel_info()
        if self.system == "tensorflow":
            m["tf_version"] = self.tf.__version__
        return m

    # -- callables --------------------------------------------------------
    def fn_for(self, job):
        api, dist, R, S, unique = job["api"], job["dist"], job["R"], job["S"], job["unique"]
        ps, tc, n = self.ps, self.tc, self.threads
        if api == "ps fn":
            if dist == "uniform":
                return lambda: ps.uniform_candidate_sampler(tc, 1, S, unique, R, seed=1)
            if dist == "log_uniform":
                return lambda: ps.log_uniform_candidate_sampler(tc, 1, S, unique, R, seed=1)
            u = self.cached(("u", R), lambda: unigram_counts(R))
            return lambda: ps.fixed_unigram_candidate_sampler(
                tc, 1, S, unique, R, unigrams=u, distortion=DISTORTION, seed=1)
        if api.startswith("ps "):
            s = self.ps_sampler(dist, R)
            if api == "ps class":
                return lambda: s.sample(tc, S, unique)
            if api == "ps bulk":
                return lambda: s.sample_bulk(S, num_threads=n)
            out = np.empty(S, dtype=np.int64)
            return lambda: s.sample_bulk(S, num_threads=n, out=out)
        if api == "np":
            return self.numpy_fn(dist, R, S, unique)
        if api == "np cdf":
            cdf = self.cached(("cdf", R), lambda: np.cumsum(distorted_probs(R)))
            rng = np.random.default_rng(1)
            top = cdf[-1]
            return lambda: np.minimum(np.searchsorted(cdf, rng.random(S) * top, side="right"),
                                      R - 1)
        if api == "torch":
            torch, g = self.torch, self.gen
            if dist == "uniform":
                w = self.cached(("tw", dist, R), lambda: torch.ones(R, dtype=torch.float32))
            elif dist == "log_uniform":
                w = self.cached(("tw", dist, R),
                                lambda: torch.from_numpy(log_uniform_probs(R).astype(np.float32)))
            else:
                w = self.cached(("tw", dist, R),
                                lambda: torch.from_numpy(distorted_probs(R).astype(np.float32)))
            return lambda: torch.multinomial(w, S, replacement=not unique, generator=g)
        if api in ("tf eager", "tf fn"):
            tf, ttc = self.tf, self.tf_tc
            if dist == "uniform":
                call = lambda: tf.random.uniform_candidate_sampler(ttc, 1, S, unique, R, seed=1)  # noqa: E731
            elif dist == "log_uniform":
                call = lambda: tf.random.log_uniform_candidate_sampler(ttc, 1, S, unique, R, seed=1)  # noqa: E731
            else:
                ul = self.cached(("ul", R), lambda: unigram_counts(R).tolist())
                call = lambda: tf.random.fixed_unigram_candidate_sampler(  # noqa: E731
                    ttc, 1, S, unique, R, unigrams=ul, distortion=DISTORTION, seed=1)
            return call if api == "tf eager" else tf.function(call)
        raise ValueError(api)

    def ps_sampler(self, dist, R):
        ps = self.ps
        if dist == "uniform":
            return ps.UniformSampler(R, seed=1)
        if dist == "log_uniform":
            return ps.LogUniformSampler(R, seed=1)
        u = self.cached(("u", R), lambda: unigram_counts(R))
        return ps.FixedUnigramSampler(R, unigrams=u, distortion=DISTORTION, seed=1)

    def numpy_fn(self, dist, R, S, unique):
        rng = np.random.default_rng(1)
        if dist == "uniform":
            if unique:
                return lambda: rng.choice(R, S, replace=False)
            return lambda: rng.integers(0, R, S)
        if dist == "log_uniform":
            log_r1 = math.log(R + 1)

            def draw(k):  # TF's inverse transform: floor(exp(u * log(R + 1))) - 1
                return np.minimum(np.exp(rng.random(k) * log_r1).astype(np.int64) - 1, R - 1)

            if not unique:
                return lambda: draw(S)

            def draw_unique():  # rejection of repeats, first occurrences in draw order
                out, prev, k = draw(S), 0, S
                while True:
                    _, first = np.unique(out, return_index=True)
                    first.sort()
                    got = first.size
                    if got >= S:
                        return out[first[:S]]
                    # next batch sized from the last batch's rate of new values
                    rate = max((got - prev) / k, 1e-4)
                    prev, k = got, min(int((S - got) / rate * 1.25) + 16, 16 * S + 1024)
                    out = np.concatenate([out[first], draw(k)])
            return draw_unique
        p = self.cached(("p", R), lambda: distorted_probs(R))
        return lambda: rng.choice(R, S, replace=not unique, p=p)

    # -- builds -------------------------------------------------------------
    def build_fn(self, job):
        api, R = job["api"], job["R"]
        u = unigram_counts(R)
        if api == "ps FixedUnigramSampler()":
            ps = self.ps
            return lambda: ps.FixedUnigramSampler(R, unigrams=u, distortion=DISTORTION, seed=1)
        if api == "np cumsum cdf":
            def build():
                w = u.astype(np.float64) ** DISTORTION
                cdf = np.cumsum(w)
                cdf /= cdf[-1]
                return cdf
            return build
        if api == "tf fn first call":
            tf, ttc = self.tf, self.tf_tc

            def build():  # a fresh function: trace + attr conversion + kernel (alias table)
                ul = u.tolist()
                f = tf.function(lambda: tf.random.fixed_unigram_candidate_sampler(
                    ttc, 1, PER_CALL_S, False, R, unigrams=ul, distortion=DISTORTION, seed=1))
                return f()
            return build
        raise ValueError(api)

    def run(self, job):
        a = self.args
        if job["kind"] == "sample" and job["api"] == "tf fn" and job["dist"] == "unigram":
            setup = self.setup_s.get(job["R"])
            if setup is not None and setup > a.max_setup_s:
                return {**job, "status": "skipped", "setup_s": setup,
                        "reason": f"too slow: setup (first call) {setup:.1f} s > "
                                  f"{a.max_setup_s:g} s per configuration, see the setup table"}
        if job["kind"] == "build":
            fn = self.build_fn(job)
            times = []
            for _ in range(a.build_repeat):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
                if times[-1] > a.max_call_s:  # one measurement is enough for slow builds
                    break
            if job["api"] == "tf fn first call":
                self.setup_s[job["R"]] = min(times)
            return {**job, "status": "ok", "median_s": float(np.median(times)),
                    "min_s": min(times), "repeat": len(times), "number": 1}
        fn = self.fn_for(job)
        res = C.measure(fn, warmup=2, min_repeat=a.min_repeat, max_repeat=a.max_repeat,
                        target_s=a.target_s, max_call_s=a.max_call_s)
        out = {**job, **res}
        if res["status"] == "ok":
            out["draws_per_s"] = job["S"] / res["median_s"]
            out["draws_per_s_best"] = job["S"] / res["min_s"]
        return out


def worker_main(args):
    jobs = C.read_worker_jobs(args.worker)
    w = Worker(args)
    C.worker_loop(jobs, w.run, meta=w.meta())


# ----------------------------------------------------------------- report


def cell_time(r):
    if r is None:
        return "—"
    if r["status"] == "ok":
        return f"{r['median_s'] * 1e6:,.1f}"
    return _cell_status(r)


def _cell_status(r):
    if r["status"] == "n/a":
        return "n/a"
    if r["status"] == "skipped":
        return "skipped"
    return "error"


def cell_rate(r, threads):
    if r is None:
        return "—"
    if r["status"] != "ok":
        return _cell_status(r)
    rate = r["draws_per_s"] / 1e6
    return f"{rate:,.1f}" if threads == 1 else f"{rate:,.1f} ({rate / threads:,.1f})"


def report(results, args):
    """Markdown tables (also returned as one string)."""
    by = {(r["threads"], r["id"]): r for r in results}
    apis = [a for a, v in APIS.items() if v[0] in args.systems]
    out = []
    for t in args.threads:
        if PER_CALL_S in args.sizes:
            out.append(f"\n### S = {PER_CALL_S}: µs per call (median), {t} thread(s)\n")
            rows = []
            for dist in DISTS:
                for R in args.ranges:
                    for unique in (False, True):
                        rows.append([DIST_LABEL[dist], C.fmt_int(R), "yes" if unique else "no"] +
                                    [cell_time(by.get((t, job_id(a, dist, R, PER_CALL_S, unique))))
                                     for a in apis])
            out.append(C.md_table(["dist", "R", "unique"] + apis, rows,
                                  ["l", "r", "l"] + ["r"] * len(apis)))
        bulk = [S for S in args.sizes if S != PER_CALL_S]
        if bulk:
            unit = "M draws/s" if t == 1 else "M draws/s in total (per core)"
            out.append(f"\n### Bulk: {unit} (median), {t} thread(s)\n")
            rows = []
            bulk_apis = [a for a in apis if a != "ps fn"]
            for dist in DISTS:
                for R in args.ranges:
                    for S in bulk:
                        for unique in (False, True):
                            rows.append([DIST_LABEL[dist], C.fmt_int(R), C.fmt_int(S),
                                         "yes" if unique else "no"] +
                                        [cell_rate(by.get((t, job_id(a, dist, R, S, unique))), t)
                                         for a in bulk_apis])
            out.append(C.md_table(["dist", "R", "S", "unique"] + bulk_apis, rows,
                                  ["l", "r", "r", "l"] + ["r"] * len(bulk_apis)))
    if not args.no_build:
        bapis = [a for a, s in BUILD_APIS.items() if s in args.systems]
        out.append("\n### Fixed-unigram setup for R entries (ms, median)\n")
        header = ["R"] + [f"{a} [{t} thr]" for a in bapis for t in args.threads]
        rows = []
        ranges = list(args.build_ranges)
        if "tensorflow" in args.systems:
            ranges = [10] + ranges
        for R in ranges:
            row = [C.fmt_int(R) + (" (tracing baseline)" if R == 10 else "")]
            for a in bapis:
                for t in args.threads:
                    r = by.get((t, f"build|{a}|R={C.fmt_int(R)}"))
                    if r is None:
                        row.append("—")
                    elif r["status"] == "ok":
                        row.append(f"{r['median_s'] * 1e3:,.2f}" + (" (1 run)" if r["repeat"] == 1 else ""))
                    else:
                        row.append(_cell_status(r))
            rows.append(row)
        out.append(C.md_table(header, rows))
    notes = [r for r in results if r["status"] in ("skipped", "error")]
    if notes:
        out.append("\nSkipped / failed:\n")
        for r in notes:
            out.append(f"- [{r['threads']} thr] {r['id']}: {r['status']} "
                       f"({r.get('reason') or r.get('error')})")
    return "\n".join(out)


# --------------------------------------------------------- per SIMD level

LEVELS = ("generic", "avx2", "avx512")
# issue #16: (peer, ratio the best level must reach against it)
LEVEL_TARGETS = {"uniform": ("np integers", 0.6), "log_uniform": ("np exp(random*logR) out=", 1.3),
                 "unigram": ("np integers", 0.5)}


def levels_main(a):
    """Per-level bulk throughput with NumPy peers and the random-read rate."""
    import pysampled as ps
    from pysampled import _samplers

    t_start = time.perf_counter()
    info = C.machine_info(peers=())
    detected = _samplers.detected_simd_level()
    levels = LEVELS[:LEVELS.index(detected) + 1]
    n = a.levels_draws
    out = np.empty(n, dtype=np.int64)
    fbuf = np.empty(n, dtype=np.float64)
    ibuf = np.empty(n, dtype=np.int64)
    rng = np.random.default_rng(1)
    cases = {}  # (dist, R, column) -> callable

    def level_fn(sampler, level):
        def f():
            _samplers.set_simd_level(level)
            sampler.sample_bulk(n, num_threads=1, out=out)
        return f

    for dist in DISTS:
        for R in a.ranges:
            if dist == "uniform":
                s = ps.UniformSampler(R, seed=1)
            elif dist == "log_uniform":
                s = ps.LogUniformSampler(R, seed=1)
            else:
                s = ps.FixedUnigramSampler(R, unigrams=unigram_counts(R), distortion=DISTORTION,
                                           seed=1)
            for level in levels:
                cases[(dist, R, level)] = level_fn(s, level)
            if dist == "log_uniform":
                lr = math.log(R)
                cases[(dist, R, "np exp(random*logR)")] = (
                    lambda lr=lr: np.exp(rng.random(n) * lr))
                cases[(dist, R, "np exp(random*logR) out=")] = (
                    lambda lr=lr: np.exp(np.multiply(rng.random(out=fbuf), lr, out=fbuf), out=fbuf))
    for R in a.ranges:
        cases[("peer", R, "np integers")] = lambda R=R: rng.integers(0, R, n)
        table = np.arange(R, dtype=np.int64)
        idx = rng.integers(0, R, n)
        cases[("peer", R, "random read")] = (
            lambda table=table, idx=idx: np.take(table, idx, out=ibuf))
    clock = time.thread_time if a.levels_clock == "cpu" else time.perf_counter
    times = {k: [] for k in cases}
    wall = {k: [] for k in cases}
    for f in cases.values():  # warm-up: page in tables and buffers
        f()
    busy = [C.cpu_busy_fraction()]
    for _ in range(a.levels_repeat):
        for k, f in cases.items():
            w0, t0 = time.perf_counter(), clock()
            f()
            times[k].append(clock() - t0)
            wall[k].append(time.perf_counter() - w0)
    busy.append(C.cpu_busy_fraction())
    _samplers.set_simd_level(detected)
    rate = {k: n / min(v) / 1e6 for k, v in times.items()}
    median = {k: n / float(np.median(v)) / 1e6 for k, v in times.items()}
    wall_rate = {k: n / min(v) / 1e6 for k, v in wall.items()}

    rows = []
    for dist in DISTS:
        peer, target = LEVEL_TARGETS[dist]
        for R in a.ranges:
            lv = [rate[(dist, R, level)] for level in levels]
            peer_rate = rate[(dist, R, peer)] if (dist, R, peer) in rate else rate[("peer", R, peer)]
            best = max(lv)
            row = [DIST_LABEL[dist], C.fmt_int(R)] + [f"{x:,.1f}" for x in lv]
            row += [f"{x / lv[0]:.2f}×" for x in lv[1:]]
            row += [f"{peer}: {peer_rate:,.1f}", f"{best / peer_rate:.2f}× (target ≥ {target}×)",
                    f"{rate[('peer', R, 'random read')]:,.1f}"]
            if dist == "log_uniform":
                row[-3] += f" (allocating: {rate[(dist, R, 'np exp(random*logR)')]:,.1f})"
            rows.append(row)
    header = (["dist", "R"] + [f"{lv} M/s" for lv in levels] +
              [f"{lv} / generic" for lv in levels[1:]] +
              ["NumPy peer, M/s", "best level / peer", "random reads M/s"])
    md = [C.load_warning(busy),
          f"\n### Bulk draws per SIMD level: M draws/s, 1 thread, {C.fmt_int(n)} draws into `out=` "
          f"(fastest of {a.levels_repeat} round-robin repetitions)\n",
          C.md_table(header, rows, ["l", "r"] + ["r"] * (len(header) - 2))]
    report_md = "\n".join(md)
    doc = {"benchmark": "samplers_levels", "machine": info, "levels": levels, "draws": n,
           "repeat": a.levels_repeat, "other_load": busy,
           "results": [{"dist": k[0], "R": k[1], "column": k[2], "best_m_per_s": rate[k],
                        "median_m_per_s": median[k], "best_wall_m_per_s": wall_rate[k]}
                       for k in cases],
           "clock": a.levels_clock,
           "wall_s": time.perf_counter() - t_start, "markdown": report_md}
    path = a.output or Path(__file__).resolve().parent / "out" / "samplers_levels.json"
    C.write_json(path, doc)
    print(f"CPU: {info['cpu'].get('model')}, numpy {info['numpy']}, detected SIMD level {detected}",
          file=sys.stderr)
    print(report_md)
    print(f"\nJSON: {path} (wall {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


# ------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: R in {1e5, 1e6}, S in {64, 4096}, short timings")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help="comma-separated subset of " + ",".join(SYSTEMS))
    p.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    p.add_argument("--ranges", default=None, help="comma-separated R (default 1e5,1e6,1e7)")
    p.add_argument("--sizes", default=None, help="comma-separated S (default 64,4096,1e6)")
    p.add_argument("--build-ranges", default=None, help="R for the setup table (default = ranges)")
    p.add_argument("--no-build", action="store_true", help="skip the alias-table setup table")
    p.add_argument("--true-batch", type=int, default=1,
                   help="rows of true classes passed to the TF-style samplers (default 1)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per configuration before it is skipped (default 60, quick 20)")
    p.add_argument("--build-timeout", type=float, default=None,
                   help="seconds per setup configuration (default 400, quick 60)")
    p.add_argument("--max-call-s", type=float, default=None,
                   help="skip a configuration whose first two calls each take longer "
                        "(default 10, quick 3)")
    p.add_argument("--max-setup-s", type=float, default=None,
                   help="skip TF fixed-unigram configurations whose measured setup (traced "
                        "first call) takes longer than this (default 30, quick 10)")
    p.add_argument("--levels", action="store_true",
                   help="per-SIMD-level bulk table with NumPy peers and the random-read rate "
                        "(one process, 1 thread)")
    p.add_argument("--levels-draws", type=int, default=10**6, help="draws per call for --levels")
    p.add_argument("--levels-repeat", type=int, default=None,
                   help="round-robin repetitions for --levels (default 40, quick 8)")
    p.add_argument("--levels-clock", choices=("cpu", "wall"), default="cpu",
                   help="--levels timer: the thread's CPU time (default; leaves out the time "
                        "the scheduler gives to other processes on a shared machine) or wall time")
    p.add_argument("--output", default=None, help="JSON path (default benchmarks/out/samplers[_quick].json)")
    # worker mode (internal)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--system", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads-worker", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    def ints(s):
        return [int(float(x)) for x in s.split(",") if x.strip()]

    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    for s in a.systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}")
    a.threads = ints(a.threads)
    a.ranges = ints(a.ranges) if a.ranges else ([10**5, 10**6] if a.quick else [10**5, 10**6, 10**7])
    a.sizes = ints(a.sizes) if a.sizes else ([64, 4096] if a.quick else [64, 4096, 10**6])
    a.build_ranges = ints(a.build_ranges) if a.build_ranges else list(a.ranges)
    a.timeout = a.timeout or (20.0 if a.quick else 60.0)
    a.build_timeout = a.build_timeout or (60.0 if a.quick else 400.0)
    a.max_call_s = a.max_call_s or (3.0 if a.quick else 10.0)
    a.max_setup_s = a.max_setup_s or (10.0 if a.quick else 30.0)
    a.target_s = 0.2 if a.quick else 1.0
    a.min_repeat = 3 if a.quick else 7
    a.max_repeat = 20 if a.quick else 100
    a.build_repeat = 2 if a.quick else 5
    a.levels_repeat = a.levels_repeat or (8 if a.quick else 40)
    return a


def worker_args(a, system, threads):
    args = ["--system", system, "--threads-worker", str(threads),
            "--true-batch", str(a.true_batch), "--max-call-s", str(a.max_call_s),
            "--max-setup-s", str(a.max_setup_s),
            "--ranges", ",".join(map(str, a.ranges)), "--sizes", ",".join(map(str, a.sizes))]
    if a.quick:
        args.append("--quick")
    return args


def main(argv=None):
    a = parse_args(argv)
    if a.worker:
        return worker_main(a)
    if a.levels:
        return levels_main(a)
    t_start = time.perf_counter()
    info = C.machine_info()
    print(f"# pysampled sampler benchmark{' (quick)' if a.quick else ''}", flush=True)
    print(f"CPU: {info['cpu'].get('model')} ({info['os_cpu_count']} logical CPUs), "
          f"numpy {info['numpy']}, TF {info.get('tensorflow')}, torch {info.get('torch')}, "
          f"pysampled {info['pysampled'].get('version')} "
          f"(SIMD {info['pysampled'].get('simd_level')}, OpenMP {info['pysampled'].get('openmp')})",
          file=sys.stderr, flush=True)
    results, metas, busy = [], {}, []
    for system in a.systems:
        jobs, na = make_jobs(system, a)
        for t in a.threads:
            busy.append(C.cpu_busy_fraction())
            print(f"[{system}, {t} thread(s)]: {len(jobs)} configurations "
                  f"(other load: {100 * (busy[-1] or 0):.0f}% of CPUs)", file=sys.stderr, flush=True)
            res, meta = C.run_jobs(Path(__file__), worker_args(a, system, t), jobs, threads=t,
                                   timeout_s=a.timeout, dominates=dominates)
            metas[f"{system}/{t}"] = {**(meta or {}), "other_load_before": busy[-1]}
            for j in jobs:
                r = res.get(j["id"], {"id": j["id"], "status": "error", "error": "no result"})
                results.append({**j, **r, "threads": t})
            for r in na:
                results.append({**r, "threads": t})
    busy.append(C.cpu_busy_fraction())
    report_md = C.load_warning(busy) + report(results, a)
    doc = {"benchmark": "samplers", "quick": a.quick, "machine": info,
           "settings": {k: v for k, v in vars(a).items() if k not in ("worker",)},
           "workers": metas, "other_load": busy, "results": results,
           "wall_s": time.perf_counter() - t_start,
           "markdown": report_md}
    path = a.output or Path(__file__).resolve().parent / "out" / (
        "samplers_quick.json" if a.quick else "samplers.json")
    C.write_json(path, doc)
    print(report_md)
    print(f"\nJSON: {path} (wall {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
