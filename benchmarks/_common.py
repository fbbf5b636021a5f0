"""Shared helpers of the pysampled benchmarks.

* :func:`machine_info`: CPU, cores, library versions, pysampled's SIMD level
  and OpenMP build.
* :func:`measure`: warm-up, then repeated timing; median and min per call.
* Threads: every (library, thread count) measurement runs in a fresh
  subprocess (:func:`run_jobs`) whose environment fixes the thread count
  before any library initialises (:func:`thread_env`), and
  :func:`limit_threads` sets it again through each library's own API
  (threadpoolctl, ``torch.set_num_threads``, TF's threading config, which
  only works before TF initialises its runtime).
* :func:`calibrate`: the same-run compute ceilings: float32 sgemm GFLOP/s of
  NumPy's BLAS, and a register-resident C++ FMA loop compiled at run time.
* :func:`write_json`, :func:`md_table`: output.

Everything here is standard library + NumPy (+ threadpoolctl if installed),
so the driver processes stay light; only the workers import the peers.
"""
from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# ----------------------------------------------------------------- machine


def _cpuinfo() -> dict:
    info = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine()}
    first = text.split("\n\n")[0]
    fields = {}
    for line in first.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    info["model"] = fields.get("model name", platform.processor())
    for key, name in (("vendor_id", "vendor_id"), ("cpu family", "family"), ("model", "model_number"),
                      ("stepping", "stepping"), ("cpu MHz", "mhz"), ("cache size", "cache_size")):
        if key in fields:
            info[name] = fields[key]
    flags = set(fields.get("flags", "").split())
    info["simd_flags"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw",
                                      "avx512vl", "avx512_bf16", "avx512_vnni", "amx_bf16") if f in flags]
    info["logical_cpus"] = text.count("processor\t:")
    return info


def _version(module: str):
    try:
        mod = __import__(module)
        return getattr(mod, "__version__", "?")
    except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
        return None


def _pip_version(dist: str):
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty(src)" if dirty else "") if out.returncode == 0 else None
    except Exception:  # noqa: BLE001
        return None


def machine_info(peers=("tensorflow", "torch")) -> dict:
    """CPU, cores, library versions and pysampled's build (no peer is imported
    here: their versions come from the installed distributions)."""
    info = {
        "cpu": _cpuinfo(),
        "os_cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "loadavg_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        # thread/runtime settings inherited by the workers (the *_NUM_THREADS
        # ones are overridden per worker, see thread_env)
        "env": {k: v for k, v in sorted(os.environ.items())
                if k.split("_")[0] in ("OMP", "GOMP", "KMP", "OPENBLAS", "MKL", "TF", "PYSAMPLED")},
    }
    dists = {"tensorflow": ("tensorflow-cpu", "tensorflow"), "torch": ("torch",),
             "threadpoolctl": ("threadpoolctl",), "scipy": ("scipy",)}
    for name in tuple(peers) + ("threadpoolctl",):
        info[name] = next((v for d in dists.get(name, (name,)) if (v := _pip_version(d))), None)
    try:
        np_cfg = np.show_config(mode="dicts")
        blas = np_cfg.get("Build Dependencies", {}).get("blas", {})
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001
        info["numpy_blas"] = None
    try:
        import pysampled as ps

        info["pysampled"] = {
            "version": ps.__version__,
            "path": os.path.dirname(ps.__file__),
            "simd_level": ps._samplers.simd_level(),
            "openmp": ps.openmp_enabled(),
            "omp_max_threads": ps._samplers.omp_max_threads(),
            "checkout_commit": git_commit(),  # of the checkout holding these scripts
        }
    except Exception as e:  # noqa: BLE001
        info["pysampled"] = {"error": repr(e)}
    return info


def _cpu_jiffies():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(v) for v in parts[:8]]
    idle = vals[3] + vals[4]  # idle + iowait
    return sum(vals), idle


def cpu_busy_fraction(window_s=0.5):
    """Fraction of all CPUs busy during ``window_s`` while this process sleeps:
    the load of *other* processes (None where /proc/stat is unavailable)."""
    try:
        t0, i0 = _cpu_jiffies()
        time.sleep(window_s)
        t1, i1 = _cpu_jiffies()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def load_warning(samples, threshold=0.1) -> str:
    """A Markdown warning when other processes kept the CPUs busy."""
    vals = [v for v in samples if v is not None]
    if not vals or max(vals) <= threshold:
        return ""
    return (f"\n> **Warning: the machine was not quiet**: other processes kept up to "
            f"{100 * max(vals):.0f}% of the CPUs busy between measurements "
            f"(loadavg {os.getloadavg()[0]:.1f}). Treat these timings, 2-thread ones most of "
            f"all, as smoke-test numbers.\n")


# ------------------------------------------------------------------ timing


def measure(fn, *, warmup=2, min_repeat=5, max_repeat=50, target_s=1.0, min_batch_s=0.01,
            max_call_s=None) -> dict:
    """Time ``fn()``: median and min seconds per call.

    The first call is timed on its own (``first_s``: it includes tracing,
    first touches and cache misses), then ``warmup - 1`` more untimed calls.
    Calls shorter than ``min_batch_s`` are timed in batches of ``number``
    calls (per-call time = batch time / number). The number of repeats aims
    at ``target_s`` in total, between ``min_repeat`` and ``max_repeat``.

    With ``max_call_s``: when the first call and the second call are both
    slower than that, it stops there (``status="skipped"``, with both times).
    """
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    done_warmup = 1
    if max_call_s is not None and first > max_call_s:
        # the first call may hold one-time setup (tracing, tables): judge the second
        t0 = time.perf_counter()
        fn()
        second = time.perf_counter() - t0
        done_warmup = 2
        if second > max_call_s:
            return {"status": "skipped",
                    "reason": f"too slow: {second:.1f} s per call > {max_call_s:g} s",
                    "first_s": first, "second_s": second}
    for _ in range(max(0, warmup - done_warmup)):
        fn()
    # estimate one call
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_batch_s or number >= 1 << 20:
            break
        number *= max(2, min(100, int(min_batch_s / max(dt, 1e-7) * 1.2) + 1))
    per_batch = dt
    repeat = int(min(max_repeat, max(min_repeat, target_s / max(per_batch, 1e-9))))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return {"status": "ok", "median_s": statistics.median(times), "min_s": min(times),
            "max_s": max(times), "repeat": repeat, "number": number, "first_s": first}


# ------------------------------------------------------------------ memory


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


_libc = None


def release_free_memory():
    """Give freed heap memory back to the OS (glibc ``malloc_trim(0)``), so
    that memory a call reuses from earlier calls shows up as new pages."""
    global _libc
    gc.collect()
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
        _libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def peak_rss_increase(fn):
    """(result, bytes, method): run ``fn()`` and return the increase of the
    process's peak resident set over its resident set just before the call.

    Freed heap memory is first returned to the OS (:func:`release_free_memory`)
    so that buffers recycled from earlier calls count as new; allocators that
    keep their own caches (a framework's pool, thread-local scratch of a C++
    library) still hide what they reuse, which is what a training loop sees.

    Linux: resets the high-water mark by writing ``5`` to
    ``/proc/self/clear_refs`` and reads ``VmHWM`` after the call (exact, no
    sampling). Elsewhere: ``ru_maxrss`` growth (0 when an earlier peak was
    higher), reported with ``method="ru_maxrss"``.
    """
    release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rss0 = _status_kb("VmRSS")
        res = fn()
        hwm = _status_kb("VmHWM")
        if rss0 is not None and hwm is not None:
            return res, max(0, hwm - rss0) * 1024, "VmHWM"
    except OSError:
        pass
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return res, max(0, after - before) * 1024, "ru_maxrss"


# ---------------------------------------------------------- busy neighbour


class BusyNeighbour:
    """A process spinning on one CPU (the last one this process may use)."""

    def __init__(self):
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
        self.cpu = cpus[-1]
        code = (f"import os\nos.sched_setaffinity(0, {{{self.cpu}}})\n"
                "x = 0\nwhile True:\n    x += 1\n")
        self.proc = None
        self.code = code

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", self.code])
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


# ----------------------------------------------------------------- threads

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                   "TF_NUM_INTRAOP_THREADS")


def thread_env(threads: int, base=None) -> dict:
    """Environment of a worker limited to ``threads`` compute threads."""
    env = dict(os.environ if base is None else base)
    for k in THREAD_ENV_VARS:
        env[k] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("PYTHONWARNINGS", "ignore")
    env["PYTHONUNBUFFERED"] = "1"
    return env


_limiters = []


def limit_threads(threads: int, lib: str | None = None) -> dict:
    """Limit every thread pool this process may use to ``threads``.

    Call at the start of a worker, *before* importing TensorFlow's runtime
    (its threading config cannot change once initialised). Returns what was
    set, for the record.
    """
    done = {"threads": threads}
    try:
        from threadpoolctl import threadpool_limits

        _limiters.append(threadpool_limits(limits=threads))
        done["threadpoolctl"] = True
    except ImportError:
        done["threadpoolctl"] = False
    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        done["torch_threads"] = torch.get_num_threads()
    if lib == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        done["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        done["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    return done


def threadpool_info() -> list:
    try:
        from threadpoolctl import threadpool_info as info

        return [{k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                          "filepath")} for d in info()]
    except ImportError:
        return []


# -------------------------------------------------------- worker protocol

_START, _RESULT = "@@START ", "@@RESULT "


def worker_loop(jobs, run_one, meta=None):
    """Worker side: run each job in ``jobs`` (dicts with an ``id``), printing
    start and result markers the driver reads. Exceptions become error results."""
    if meta is not None:
        print(_RESULT + json.dumps({"id": "__meta__", **meta}, default=_json_default), flush=True)
    for job in jobs:
        print(_START + job["id"], flush=True)
        try:
            res = run_one(job)
        except Exception as e:  # noqa: BLE001 - recorded, next job goes on
            res = {"status": "error", "error": f"{type(e).__name__}: {e}",
                   "traceback": traceback.format_exc(limit=6)}
        res = dict(res)
        res["id"] = job["id"]
        print(_RESULT + json.dumps(res, default=_json_default), flush=True)


def run_jobs(script, worker_args, jobs, *, threads, timeout_s, startup_timeout_s=300,
             dominates=None, log=None):
    """Driver side: run ``jobs`` in a fresh ``python script --worker ...``
    subprocess limited to ``threads`` threads.

    A job that takes longer than ``timeout_s`` (from its start marker) has its
    worker killed and is recorded as ``skipped (too slow: >timeout_s s)``;
    jobs it ``dominates(job, other)`` (certainly slower) are skipped too, and
    a new worker continues with the rest. Returns ``(results_by_id, meta)``.
    """
    log = log or (lambda *a: print(*a, file=sys.stderr, flush=True))
    limit = {j["id"]: j.get("timeout_s", timeout_s) for j in jobs}
    results, meta = {}, None
    remaining = list(jobs)
    while remaining:
        ids_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(remaining, ids_file)
        ids_file.close()
        err_file = tempfile.TemporaryFile("w+")
        cmd = [sys.executable, str(script), "--worker", ids_file.name, *worker_args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err_file,
                                env=thread_env(threads), start_new_session=True)
        fd = proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        current, deadline = None, time.monotonic() + startup_timeout_s
        timed_out, eof = False, False
        pending = b""
        while not eof:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not sel.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                eof = True
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if eof and pending:
                lines.append(pending)
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if line.startswith(_START):
                    current = line[len(_START):].strip()
                    deadline = time.monotonic() + limit.get(current, timeout_s)
                elif line.startswith(_RESULT):
                    res = json.loads(line[len(_RESULT):])
                    if res["id"] == "__meta__":
                        meta = res
                    else:
                        results[res["id"]] = res
                        log(f"    [{threads} thr] {res['id']}: {_short(res)}")
                    current = None
                    deadline = time.monotonic() + timeout_s
                elif line.strip():
                    log(f"    (worker) {line}")
        if timed_out or proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
        proc.wait()
        sel.close()
        proc.stdout.close()
        os.unlink(ids_file.name)
        done_ids = set(results)
        err_file.seek(0)
        tail = err_file.read()[-3000:]
        if current is None:
            # finished, or crashed / hung outside a job (e.g. at import)
            lost = [j for j in remaining if j["id"] not in done_ids]
            why = ("worker start timed out" if timed_out
                   else f"worker exited with {proc.returncode} before this job")
            for j in lost:
                results[j["id"]] = {"id": j["id"], "status": "error", "error": why,
                                    "stderr_tail": tail}
            if lost:
                log(f"    [{threads} thr] {why}; {len(lost)} job(s) lost; stderr tail:\n{tail}")
            remaining = []
        else:
            cur_job = next(j for j in remaining if j["id"] == current)
            lim = limit.get(current, timeout_s)
            if timed_out:
                results[current] = {"id": current, "status": "skipped",
                                    "reason": f"too slow: >{lim:g} s"}
                log(f"    [{threads} thr] {current}: skipped (too slow: >{lim:g} s), worker restarted")
            else:
                results[current] = {"id": current, "status": "error",
                                    "error": f"worker died with {proc.returncode}",
                                    "stderr_tail": tail}
                log(f"    [{threads} thr] {current}: worker died ({proc.returncode})")
            for j in remaining:
                if (j["id"] not in results and timed_out and dominates is not None
                        and dominates(cur_job, j)):
                    results[j["id"]] = {"id": j["id"], "status": "skipped",
                                        "reason": f"too slow: >{lim:g} s (implied by {current})"}
            remaining = [j for j in remaining if j["id"] not in results]
        err_file.close()
    return results, meta


def _short(res):
    if res.get("status") == "ok":
        if "median_s" in res:
            return f"median {fmt_time(res['median_s'])} (min {fmt_time(res['min_s'])}, " \
                   f"{res['repeat']}x{res['number']})"
        return "ok"
    return f"{res.get('status')}: {res.get('reason') or res.get('error')}"


def read_worker_jobs(path):
    with open(path) as f:
        return json.load(f)


# ------------------------------------------------------------- calibration

_FMA_SRC = r"""
#include <immintrin.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
#ifdef USE_AVX512
typedef __m512 V;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define LANES 16
static float hsum(V v) { return _mm512_reduce_add_ps(v); }
#else
typedef __m256 V;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define LANES 8
static float hsum(V v) {
  alignas(32) float t[8]; _mm256_store_ps(t, v);
  float s = 0; for (int i = 0; i < 8; ++i) s += t[i]; return s;
}
#endif
// 12 independent accumulators: enough to cover FMA latency x ports.
static float kernel(long iters, float seed) {
  V a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3),
    a4 = SET1(seed + 4), a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7),
    a8 = SET1(seed + 8), a9 = SET1(seed + 9), a10 = SET1(seed + 10), a11 = SET1(seed + 11);
  const V m = SET1(0.9999999f), c = SET1(1e-7f);
  for (long i = 0; i < iters; ++i) {
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
    a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
    a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
  }
  V s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
  s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));
  return hsum(s);
}
int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  long iters = argc > 2 ? atol(argv[2]) : 200000000L;
  int reps = argc > 3 ? atoi(argv[3]) : 5;
  double best = 0; float sink = 0;
  for (int r = 0; r < reps; ++r) {
    std::atomic<int> ready{0}; std::atomic<bool> go{false};
    std::vector<float> out(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { ready++; while (!go) {} out[t] = kernel(iters, 1.0f + t); });
    while (ready < threads) {}
    auto t0 = std::chrono::steady_clock::now();
    go = true;
    for (auto& th : pool) th.join();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : out) sink += v;
    double gf = 2.0 * 12 * LANES * (double)iters * threads / dt / 1e9;
    if (gf > best) best = gf;
  }
  printf("%.3f %g\n", best, (double)sink);
  return 0;
}
"""


def fma_peak(threads_list=(1, 2), quick=False) -> dict:
    """Build and run the C++ FMA loop (AVX2+FMA and, where the CPU and the
    compiler allow, AVX-512); GFLOP/s for each thread count (best of 5)."""
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        return {"error": "no C++ compiler found"}
    flags = set(_cpuinfo().get("simd_flags", []))
    variants = [("avx2_fma", ["-mavx2", "-mfma"])] if {"avx2", "fma"} <= flags else []
    if "avx512f" in flags:
        variants.append(("avx512f", ["-mavx512f", "-DUSE_AVX512"]))
    out = {"compiler": cxx, "loop": "12 independent FMA accumulators, register resident"}
    iters = str(30_000_000 if quick else 150_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "fma.cpp")
        src.write_text(_FMA_SRC)
        for name, extra in variants:
            exe = Path(tmp, f"fma_{name}")
            cc = subprocess.run([cxx, "-O3", "-std=c++17", "-pthread", *extra, str(src), "-o",
                                 str(exe)], capture_output=True, text=True)
            if cc.returncode != 0:
                out[name] = {"error": cc.stderr[-500:]}
                continue
            res = {}
            for t in threads_list:
                r = subprocess.run([str(exe), str(t), iters, "3" if quick else "5"],
                                   capture_output=True, text=True)
                res[str(t)] = float(r.stdout.split()[0]) if r.returncode == 0 else None
            out[name] = res
    best = {}
    for t in threads_list:
        vals = [out[n][str(t)] for n, _ in variants
                if isinstance(out.get(n), dict) and out[n].get(str(t))]
        best[str(t)] = max(vals) if vals else None
    out["best"] = best
    return out


def sgemm_gflops(threads_list=(1, 2), n=2048, quick=False) -> dict:
    """NumPy float32 ``a @ b`` (n x n x n) GFLOP/s, median of repeats, per thread
    count (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    out = {"n": n}
    for t in threads_list:
        ctx = threadpool_limits(limits=t) if threadpool_limits else contextlib.nullcontext()
        with ctx:
            r = measure(lambda: np.matmul(a, b, out=c), warmup=2, min_repeat=3 if quick else 7,
                        max_repeat=20, target_s=0.5 if quick else 2.0)
        out[str(t)] = 2.0 * n**3 / r["median_s"] / 1e9
        out[f"{t}_best"] = 2.0 * n**3 / r["min_s"] / 1e9
    return out


def calibrate(threads_list=(1, 2), quick=False) -> dict:
    return {"sgemm": sgemm_gflops(threads_list, quick=quick),
            "fma": fma_peak(threads_list, quick=quick)}


# ------------------------------------------------------------------ output


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def write_json(path, obj):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=_json_default, allow_nan=True))
    tmp.replace(path)
    return path


def md_table(header, rows, align=None) -> str:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(map(str, header)) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_time(s) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_num(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "—"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    dec = max(0, digits - 1 - mag)
    return f"{x:.{dec}f}"


def fmt_int(n) -> str:
    """10**k as 1e5 etc., other ints with separators."""
    n = int(n)
    k = round(math.log10(n)) if n > 0 else 0
    if n > 0 and 10**k == n and k >= 4:
        return f"1e{k}"
    return f"{n:,}"
