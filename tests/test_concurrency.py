"""Thread and process safety of pysampled.

What is guaranteed (and proven here):

(a) Calls from many Python threads at once on shared, read-only weights give
    bit-identical results to the same calls made serially: losses with
    gradients, the sampler functions with distinct seeds, and bulk sampling
    on distinct sampler objects (test_parallel_calls_equal_serial_calls).
(b) The GIL is released during C++ work: two long single-threaded loss (or
    bulk-sampling) calls in two Python threads overlap in time
    (test_gil_released_two_threads_overlap, best of a few tries, skipped with
    fewer than 2 CPUs), and a pure-Python thread keeps running while a long
    C++ call is in progress (test_gil_released_python_thread_progresses).
(c) A sampler object (or a function stream, same seed and attributes) shared
    between threads is safe: concurrent ``sample`` / ``sample_bulk`` calls
    are serialised, so every call's output equals exactly one output of a
    serial replay of as many calls (a bijection), and the stream ends where
    the serial replay ends (test_shared_sampler_calls_are_serialised).
(d) ``SampledLoss.step`` called concurrently on one model: no crash, no
    exception, finite losses, gradients and weights, and the sampler
    advanced by exactly one draw per call. Bit-exactness (and even that no
    update is lost) is only promised for serial use: concurrent steps update
    the same rows without a lock between calls
    (test_concurrent_steps_are_safe_but_not_exact).
(e) Processes: with GNU OpenMP, a child forked after the parent ran OpenMP
    threads would hang in its first parallel region; pysampled detects such
    a child (``os.register_at_fork``) and runs it single-threaded (same bits,
    a RuntimeWarning), so it finishes; 'spawn' and 'forkserver' children
    keep all their threads. Recommended start method for parallel workers:
    'spawn' (or 'forkserver'). A forked child also inherits the parent's
    cached function streams and sampler positions: reseed or reset them in
    each worker (test_fork_child_does_not_hang, test_spawn_child).
"""
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import pysampled as ps

N_THREADS = 8


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _bits(a):
    a = np.asarray(a)
    return a.view(np.uint8).tobytes() + str((a.dtype, a.shape)).encode()


def _flat(result):
    """Every array in a (nested) result, for bit comparison."""
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, ps.SparseRows):
        return [result.ids, result.values]
    if result is None:
        return []
    out = []
    for x in result:
        out += _flat(x)
    return out


def assert_bit_identical(a, b, what):
    fa, fb = _flat(a), _flat(b)
    assert len(fa) == len(fb), what
    for i, (x, y) in enumerate(zip(fa, fb)):
        assert _bits(x) == _bits(y), f"{what}: output {i} differs"


def run_threads(fns, timeout=120):
    """Run fns[i]() in thread i, all released at once; return their results."""
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)
    errors = []

    def body(i):
        try:
            barrier.wait()
            results[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001
            errors.append((i, e))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0][1]
    return results


# --------------------------------------------------------------------- data
def _readonly(a):
    a.setflags(write=False)
    return a


def shared_problem(C=3000, D=24, shards=3):
    rng = np.random.default_rng(99)
    W = _readonly(rng.standard_normal((C, D)).astype(np.float32))
    parts = [_readonly(W[p::shards].copy()) for p in range(shards)]  # canonical 'mod' shards
    b = _readonly(rng.standard_normal(C).astype(np.float32))
    return W, parts, b


def _task(k, W, parts, b):
    """Thread k's work: several losses and samplers, all deterministic."""
    rng = np.random.default_rng(k)
    C, D = W.shape
    B, S, NT = 64 + 8 * k, 50 + k, 1 + k % 3
    X = rng.standard_normal((B, D)).astype(np.float32 if k % 2 else np.float64)
    labels = rng.integers(0, C, (B, NT))
    out = []
    seed = 1000 + k  # distinct seeds: independent function streams
    for rep in range(2):
        sv = ps.log_uniform_candidate_sampler(labels, NT, S, True, C, seed=seed)
        out.append(sv)
        out.append(ps.learned_unigram_candidate_sampler(labels, NT, S, False, C, seed=seed))
        out.append(ps.uniform_candidate_sampler(labels, NT, S, True, C, seed=seed))
        if X.dtype == np.float64:  # float64 losses need float64 expected counts
            sv = (sv[0], sv[1].astype(np.float64), sv[2].astype(np.float64))
        th = 1 + (k + rep) % 2
        out.append(ps.nce_loss(parts, b, labels, X, S, C, num_true=NT, sampled_values=sv,
                               return_grads=True, num_threads=th))
        out.append(ps.sampled_softmax_loss(W, b, labels, X, S, C, num_true=NT, sampled_values=sv,
                                           return_grads=True, num_threads=th))
        out.append(ps.compute_sampled_logits(parts, None, labels, X, S, C, num_true=NT,
                                             sampled_values=sv, remove_accidental_hits=True,
                                             num_threads=th))
    sampler = ps.FixedUnigramSampler(C, unigrams=np.arange(1, C + 1), distortion=0.75, seed=k)
    out.append(sampler.sample_bulk(20_000 + k, num_threads=2))
    out.append(sampler.sample_bulk((3, 777), num_threads=1))
    return out


def test_parallel_calls_equal_serial_calls():
    W, parts, b = shared_problem()
    ps.reset_sampler_cache()
    serial = [_task(k, W, parts, b) for k in range(N_THREADS)]
    ps.reset_sampler_cache()
    parallel = run_threads([lambda k=k: _task(k, W, parts, b) for k in range(N_THREADS)])
    ps.reset_sampler_cache()
    for k in range(N_THREADS):
        assert_bit_identical(parallel[k], serial[k], f"thread {k}")
    # the shared weights were read-only all along: nothing wrote to them
    assert not W.flags.writeable and all(not p.flags.writeable for p in parts)


# ------------------------------------------------------------ GIL release
def _long_loss_call(min_seconds=0.2):
    """A single sampled-softmax call that runs at least ``min_seconds`` on this
    machine: the batch doubles until one call is that long (a fixed size went
    under 50 ms once the kernel got faster on a fast CPU)."""
    rng = np.random.default_rng(5)
    C, D, S = 20_000, 128, 2048
    W = rng.standard_normal((C, D)).astype(np.float32)
    B = 2048
    while True:
        X = rng.standard_normal((B, D)).astype(np.float32)
        labels = rng.integers(0, C, (B, 1))
        sv = ps.log_uniform_candidate_sampler(labels, 1, S, True, C, seed=(3, 4))

        def call(X=X, labels=labels, sv=sv):
            return ps.sampled_softmax_loss(W, None, labels, X, S, C, sampled_values=sv,
                                           return_grads=True, num_threads=1)
        call()  # warm up (workspaces, page faults)
        t0 = time.perf_counter()
        call()
        if time.perf_counter() - t0 >= min_seconds or B >= 65536:
            return call
        B *= 2


def _long_bulk_call():
    buffers = {}

    def call():
        s, out = buffers.setdefault(threading.get_ident(), (
            ps.LogUniformSampler(10**6, seed=1), np.empty(2_000_000, np.int64)))
        for _ in range(12):
            s.sample_bulk(None, num_threads=1, out=out)
        return out
    return call


def _timed(call):
    def run():
        c0, t0 = time.thread_time(), time.perf_counter()
        call()
        return t0, time.perf_counter(), time.thread_time() - c0
    return run


@pytest.mark.skipif(_cpus() < 2, reason="needs 2 CPUs to run two calls at once")
@pytest.mark.parametrize("which", ["loss", "bulk"])
def test_gil_released_two_threads_overlap(which):
    """Two single-threaded C++ calls in two Python threads take well under
    twice one call (best of a few tries); with the GIL held they would take
    2x. Each try also checks that the two calls' intervals overlap (with the
    GIL held they could not): that part holds even on a busy machine, where
    the timing part is skipped if the two threads never got 1.5 CPUs."""
    call = _long_loss_call() if which == "loss" else _long_bulk_call()
    timed = _timed(call)
    timed()  # warm up (workspaces, page faults)
    tries = []
    for _ in range(5):
        single = timed()
        (a0, a1, ca), (b0, b1, cb) = run_threads([timed, timed])
        overlap = (min(a1, b1) - max(a0, b0)) / min(a1 - a0, b1 - b0)
        assert overlap > 0.5, f"the two calls ran one after the other (overlap {overlap:.2f})"
        wall = max(a1, b1) - min(a0, b0)
        tries.append({"ratio": round(wall / (single[1] - single[0]), 2),
                      "cpus": round((ca + cb) / wall, 2)})
        if tries[-1]["ratio"] < 1.7:
            return
    if max(t["cpus"] for t in tries) < 1.5:
        pytest.skip(f"machine busy: the two overlapping calls never got 1.5 CPUs ({tries})")
    pytest.fail(f"two concurrent calls took too long relative to one call: {tries}")


def test_gil_released_python_thread_progresses():
    """While one thread is inside a long C++ call, another Python thread runs
    (works on one CPU too: the OS time-slices threads that do not hold the GIL)."""
    call = _long_loss_call()
    call()
    ticks = []
    stop = threading.Event()
    inside = threading.Event()

    def counter():
        inside.wait()
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=counter)
    t.start()
    try:
        t0 = time.perf_counter()
        inside.set()
        call()
        t1 = time.perf_counter()
    finally:
        stop.set()
        t.join()
    during = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 > 0.05
    # with the GIL held for the whole call there would be at most ~1 tick
    assert len(during) >= 10, (len(during), t1 - t0)


# ------------------------------------------------------ shared sampler (c)
def _make(kind):
    if kind == "uniform":
        return ps.UniformSampler(5000, seed=(11, 12))
    if kind == "log_uniform":
        return ps.LogUniformSampler(5000, seed=(11, 12))
    if kind == "fixed_unigram":
        return ps.FixedUnigramSampler(5000, unigrams=np.arange(5000) % 17 + 1.0, seed=(11, 12))
    return ps.LearnedUnigramSampler(5000, seed=(11, 12))


def _key(sample):
    return b"".join(_bits(a) for a in _flat(sample))


@pytest.mark.parametrize("op", ["sample", "sample_bulk", "function"])
@pytest.mark.parametrize("kind", ["uniform", "log_uniform", "fixed_unigram", "learned_unigram"])
def test_shared_sampler_calls_are_serialised(kind, op):
    calls_per_thread = 6
    n_calls = N_THREADS * calls_per_thread
    tc = np.array([[1, 2], [3, 4], [5, 6]])

    if op == "function":
        if kind == "fixed_unigram":
            def fn(*args, **kw):
                return ps.fixed_unigram_candidate_sampler(
                    *args, unigrams=np.arange(5000) % 17 + 1.0, **kw)
        else:
            fn = {"uniform": ps.uniform_candidate_sampler,
                  "log_uniform": ps.log_uniform_candidate_sampler,
                  "learned_unigram": ps.learned_unigram_candidate_sampler}[kind]

        def one():
            return fn(tc, 2, 40, True, 5000, seed=(11, 12))

        ps.reset_sampler_cache()
        replay = [_key(one()) for _ in range(n_calls)]
        ps.reset_sampler_cache()
        shared = None
    else:
        shared = _make(kind)
        replayer = shared.copy()
        if op == "sample":
            def one(s=shared):
                return s.sample(tc, 40, unique=True)
            replay = [_key(replayer.sample(tc, 40, unique=True)) for _ in range(n_calls)]
        else:
            def one(s=shared):
                return s.sample_bulk(3001, num_threads=2)
            replay = [_key(replayer.sample_bulk(3001, num_threads=2)) for _ in range(n_calls)]

    got = run_threads([lambda: [_key(one()) for _ in range(calls_per_thread)]] * N_THREADS)
    got = [k for per_thread in got for k in per_thread]
    index = {k: i for i, k in enumerate(replay)}
    assert len(index) == n_calls, "the serial replay repeats itself"
    used = sorted(index.get(k, -1) for k in got)
    assert used == list(range(n_calls)), "a concurrent call matches no serial call, or two the same"
    if shared is not None:  # and the stream ends where the serial replay ends
        assert shared.get_state()["generator"] == replayer.get_state()["generator"]
        if kind == "learned_unigram":
            np.testing.assert_array_equal(shared.counts, replayer.counts)
    else:
        assert _key(one()) not in index  # the stream went on past the replayed calls
        ps.reset_sampler_cache()


# ------------------------------------------------- SampledLoss.step (d)
@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
@pytest.mark.parametrize("hogwild", [False, True])
def test_concurrent_steps_are_safe_but_not_exact(optimizer, hogwild):
    rng = np.random.default_rng(7)
    C, D, B, S = 400, 16, 64, 32
    W = [(0.1 * rng.standard_normal((C // 2, D))).astype(np.float32) for _ in range(2)]
    b = np.zeros(C, np.float32)
    model = ps.SampledLoss(W, b, num_sampled=S, loss="sampled_softmax", partition_strategy="div",
                           optimizer=optimizer, learning_rate=0.05, seed=3, hogwild=hogwild,
                           num_threads=2)
    start = model.sampler.copy()
    steps = 10
    batches = [(rng.integers(0, C, (B, 1)), rng.standard_normal((B, D)).astype(np.float32))
               for _ in range(N_THREADS * steps)]

    def worker(k):
        out = []
        for y, x in batches[k * steps:(k + 1) * steps]:
            out.append(model.step(y, x))
        return out

    results = run_threads([lambda k=k: worker(k) for k in range(N_THREADS)])
    for per_thread in results:
        for loss, dx in per_thread:
            assert loss.shape == (B,) and np.isfinite(loss).all()
            assert dx.shape == (B, D) and np.isfinite(dx).all()
    assert all(np.isfinite(w).all() for w in W) and np.isfinite(b).all()
    if optimizer == "adagrad":
        assert all(np.isfinite(a).all() and (a > 0).all() for a in model.accumulators[0])
    # the shared sampler made exactly one draw per step, none lost or repeated
    for _ in range(N_THREADS * steps):
        start.sample(np.zeros((1, 1), np.int64), S)
    assert model.sampler.get_state() == start.get_state()
    # serial use after the concurrent phase is still deterministic
    twin = ps.SampledLoss([w.copy() for w in W], b.copy(), num_sampled=S,
                          loss="sampled_softmax", partition_strategy="div", optimizer="sgd",
                          sampler=model.sampler.copy(), learning_rate=0.05, num_threads=1)
    mine = ps.SampledLoss([w.copy() for w in W], b.copy(), num_sampled=S,
                          loss="sampled_softmax", partition_strategy="div", optimizer="sgd",
                          sampler=model.sampler.copy(), learning_rate=0.05, num_threads=2)
    for y, x in batches[:3]:
        assert_bit_identical(twin.step(y, x), mine.step(y, x), "serial steps after threads")
    assert_bit_identical(twin.weights, mine.weights, "weights")


def test_serial_steps_are_bit_exact_for_any_thread_count():
    """The contrast to (d): the serial use that *is* bit-exact."""
    rng = np.random.default_rng(8)
    C, D, B, S = 300, 8, 32, 16
    W0 = (0.1 * rng.standard_normal((C, D))).astype(np.float32)
    batches = [(rng.integers(0, C, (B, 1)), rng.standard_normal((B, D)).astype(np.float32))
               for _ in range(5)]
    runs = []
    for threads in (1, 2, 3):
        W = W0.copy()
        m = ps.SampledLoss(W, None, num_sampled=S, optimizer="adagrad", seed=5, num_threads=threads)
        runs.append(([m.step(y, x) for y, x in batches], W))
    for r in runs[1:]:
        assert_bit_identical(r, runs[0], "serial steps")


# ------------------------------------------------------------ processes (e)
_CHILD_SCRIPT = textwrap.dedent("""
    import multiprocessing as mp, sys, warnings
    import numpy as np
    import pysampled as ps

    def work(q):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = ps.UniformSampler(1000, seed=1).sample_bulk(1 << 20, num_threads=2)
            rng = np.random.default_rng(0)
            W = rng.standard_normal((5000, 32)).astype(np.float32)
            X = rng.standard_normal((512, 32)).astype(np.float32)
            y = rng.integers(0, 5000, (512, 1))
            sv = ps.LogUniformSampler(5000, seed=2).sample(y, 256)
            loss = ps.sampled_softmax_loss(W, None, y, X, 256, 5000, sampled_values=sv,
                                           num_threads=2)
        q.put((int(out.sum()), loss.tobytes().hex(), [str(x.message) for x in w]))

    if __name__ == "__main__":
        method = sys.argv[1]

        class Box:
            def put(self, v):
                self.v = v

        parent = Box()
        work(parent)  # the parent runs OpenMP threads first
        ctx = mp.get_context(method)
        q = ctx.Queue()
        p = ctx.Process(target=work, args=(q,))
        p.start()
        try:
            child = q.get(timeout=60)
        except Exception:
            print("HUNG")
            p.kill()
            sys.exit(3)
        p.join(30)
        same = child[:2] == parent.v[:2]
        print("SAME" if same else "DIFFERENT", p.exitcode, "|".join(child[2]))
""")


def _run_child_script(method, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(_CHILD_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    try:
        r = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True,
                           timeout=120, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{method}: the parent script hung (timeout)")
    assert r.returncode == 0, f"{method}: rc={r.returncode} {r.stdout} {r.stderr[-2000:]}"
    return r.stdout.strip()


@pytest.mark.skipif(not ps.openmp_enabled(), reason="no OpenMP in this build")
def test_fork_child_does_not_hang(tmp_path):
    out = _run_child_script("fork", tmp_path)
    # finished, same bits as the parent, and told to use spawn for threads
    assert out.startswith("SAME 0"), out
    assert "single-threaded in a process forked" in out and "'spawn'" in out


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawn_child(method, tmp_path):
    out = _run_child_script(method, tmp_path)
    assert out == "SAME 0", out  # no warning: the child keeps its threads


def test_fork_child_of_a_parent_without_threads_keeps_threads():
    """Only a parent that ran OpenMP threads makes its forked children serial."""
    code = textwrap.dedent("""
        import os, warnings
        import pysampled as ps
        ps.UniformSampler(10, seed=1).sample_bulk(1000, num_threads=1)
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                ps.UniformSampler(10, seed=1).sample_bulk(1 << 18, num_threads=2)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "0", (r.stdout, r.stderr[-1000:])
