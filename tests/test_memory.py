"""Memory: nothing leaks over many calls, and nothing scales with the class count.

1. Leaks. Every public entry point (the sampler functions, the sampler
   classes and their methods including ``sample_bulk``,
   ``compute_accidental_hits``, the four losses with ``return_grads=True``,
   ``SampledLoss`` calls and ``step`` with SGD/Adagrad/Hogwild, C++ errors
   raised through the bindings, the word2vec text/binary writers and
   readers, a tiny ``Word2Vec`` training of each model and loss) is called
   ``TOTAL_CALLS`` = 100,000 times in all (15 s on a busy 2-core machine;
   the tiny trainings, file round trips and multi-threaded calls get a
   fixed, smaller number of calls, the cheap calls the rest; see
   ``_cases``), in 10 interleaved rounds; on a slower machine the rounds stop
   once ``TIME_BUDGET`` (45 s) has passed, after at least 3 (30,000 calls).
   After a warm-up of ``WARMUP`` calls of each, three measures of the
   process must stay flat:

   * resident memory (``/proc/self/statm``): growth at most ``RSS_TOL``
     (4 MiB) over the whole run;
   * the C heap (glibc ``mallinfo2``: bytes in use by malloc, which is where
     the C++ core and NumPy's data live): at most ``HEAP_TOL`` (2 MiB)
     above its warm state (CPython grows its interned-string table by about
     1 MiB once in a while: NumPy's ``__array_interface__`` churns it);
   * Python objects (``sys.getallocatedblocks()``, after ``gc.collect()``):
     at most ``BLOCKS_TOL`` (1,000) more blocks, i.e. far fewer than one
     leaked object per call of any case.

   ``test_each_case_alone_keeps_the_heap_flat`` then runs each case on its
   own and fails on a leak of 64 bytes (or half a Python object) per call,
   naming the case: finer than RSS (page granularity, allocator caches).

2. Nothing proportional to ``range_max`` / ``num_classes``. The peak
   resident memory of one call (``VmHWM`` after resetting it through
   ``/proc/self/clear_refs``) must stay below ``PEAK_TOL`` (16 MiB) for:
   log-uniform and uniform samplers with ``range_max = 10**12`` (functions,
   classes, ``sample_bulk``), and the four losses, ``SampledLoss`` and its
   ``step`` over a 10**7-row float32 weight matrix and bias vector (which
   stay untouched, never copied: only the ``B*NT + S`` rows used are read,
   and the workspace is O((B*NT + S) * D)). A copy of the weights would
   cost 1.3 GB, and one float per class 40 MB.

   Documented exceptions, by design O(range_max) when the sampler is built:
   ``FixedUnigramSampler`` (float32 weights and an 8-byte alias column per
   id) and ``LearnedUnigramSampler`` (8-byte counts per id; ``get_state``
   and ``counts`` return them). Their *calls* allocate nothing
   proportional to ``range_max``; checked below with 10**7 ids.

Under AddressSanitizer (scripts/test_sanitized.sh) RSS and heap figures
mean nothing (quarantine, shadow memory, PYTHONMALLOC=malloc): every case
and every big-range call still runs, so the sanitizers see each code path,
but nothing is measured; LeakSanitizer (scripts/check_leaks.sh) checks
leaks there.
"""
from __future__ import annotations

import copy
import ctypes
import gc
import os
import pickle
import sys
import time

import numpy as np
import pytest

import pysampled as ps
from _sanitizer import SANITIZED
from pysampled import _losses

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self (Linux)")

TOTAL_CALLS = 100_000
TIME_BUDGET = 45.0  # seconds; on a slower machine fewer rounds run (at least 3 of 10)
WARMUP = 20
RSS_TOL = 4 << 20
HEAP_TOL = 2 << 20
BLOCKS_TOL = 1_000
PEAK_TOL = 16 << 20
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096




def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo2():
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    return fn


_MALLINFO2 = _mallinfo2()


def heap() -> int | None:
    """Bytes in use in the C heap (malloc'ed and mmap'ed chunks), or None."""
    if _MALLINFO2 is None:
        return None
    m = _MALLINFO2()
    return m.uordblks + m.hblkhd


def blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


@pytest.fixture
def frozen_gc():
    """Objects alive now go to the GC's permanent generation, so the many
    gc.collect() calls of a test scan only what the test creates."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


def reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_growth(fn) -> int:
    """Peak resident memory of fn() above the resident memory before it."""
    gc.collect()
    if not reset_peak():
        pytest.skip("cannot reset the peak RSS (/proc/self/clear_refs not writable)")
    before = rss()
    fn()
    return peak() - before


# ------------------------------------------------------------------ the cases

def _cases(tmp_path):
    """(name, weight, callable): weight is the share of TOTAL_CALLS."""
    rng = np.random.default_rng(0)
    C, D, B, NT, S = 1000, 16, 32, 2, 40
    labels = rng.integers(0, C, (B, NT))
    labels1 = labels[:, :1].copy()
    unigrams = rng.random(C).astype(np.float32) + 0.1
    vocab_file = tmp_path / "vocab.csv"
    vocab_file.write_text("".join(f"w{i},{int(u * 100) + 1}\n" for i, u in enumerate(unigrams)))
    sampled = rng.integers(0, C, S)
    x = rng.standard_normal((B, D)).astype(np.float32)
    w_shards = [rng.standard_normal((C // 2, D)).astype(np.float32) for _ in range(2)]
    b_shards = [np.zeros(C // 2, np.float32) for _ in range(2)]
    bad_labels = labels.copy()
    bad_labels[3, 1] = C  # out of range: the C++ check throws through the binding
    adam_p = rng.standard_normal((C, D)).astype(np.float32)  # the fused SparseAdam kernel
    adam_m, adam_v = np.zeros_like(adam_p), np.zeros_like(adam_p)
    adam_ids = np.arange(0, C, 3, dtype=np.int64)
    adam_g = rng.standard_normal((adam_ids.size, D)).astype(np.float32)

    samplers = {
        "uniform": ps.UniformSampler(C, seed=1),
        "log_uniform": ps.LogUniformSampler(C, seed=2),
        "learned": ps.LearnedUnigramSampler(C, seed=3),
        "fixed": ps.FixedUnigramSampler(C, unigrams=unigrams, distortion=0.75, seed=4),
    }
    bulk_out = np.empty(4096, np.int64)

    def raises(fn, exc):
        def call():
            try:
                fn()
            except exc:
                return
            raise AssertionError(f"{fn} did not raise {exc}")
        return call

    loss_kw = dict(num_sampled=S, num_classes=C, num_true=NT, partition_strategy="div", seed=5,
                   return_grads=True, num_threads=1)
    sl = {
        "sgd": ps.SampledLoss([a.copy() for a in w_shards], [a.copy() for a in b_shards],
                              num_sampled=S, num_true=NT, partition_strategy="div", seed=6,
                              num_threads=1),
        "adagrad": ps.SampledLoss([a.copy() for a in w_shards], [a.copy() for a in b_shards],
                                  num_sampled=S, num_true=NT, loss="nce", partition_strategy="div",
                                  optimizer="adagrad", learning_rate=0.01, seed=7,
                                  num_threads=1),
        "hogwild": ps.SampledLoss(w_shards[0].copy(), None, num_sampled=S, num_true=NT,
                                  hogwild=True, seed=8, num_threads=2,
                                  sampler=ps.UniformSampler(C // 2, seed=9)),
    }
    hog_labels = labels % (C // 2)
    from _self_comm import SelfComm
    from pysampled.distributed import ShardedSampledLoss

    sharded = ShardedSampledLoss(SelfComm(), np.concatenate(w_shards).copy(),
                                 np.concatenate(b_shards).copy(), C, num_sampled=S, num_true=NT,
                                 partition_strategy="mod", optimizer="adagrad", seed=10,
                                 num_threads=1)

    words = [f"w{i}" for i in range(50)]
    vecs = rng.standard_normal((50, 8)).astype(np.float32)
    txt, binf = tmp_path / "v.txt", tmp_path / "v.bin"
    sentences = [[f"t{(i * 7 + j) % 23}" for j in range(10)] for i in range(40)]

    def train(**kw):
        def call():
            m = ps.Word2Vec(dim=8, window=2, min_count=1, epochs=1, num_threads=1, seed=1,
                            chunk_words=200, num_sampled=8, batch_size=32, **kw)
            m.train(sentences)
        return call

    def w2v_roundtrip(binary, path):
        def call():
            ps.save_word2vec_format(path, words, vecs, binary=binary)
            w, v = ps.load_word2vec_format(path)
            assert len(w) == 50 and v.shape == (50, 8)
        return call

    def fresh_function_streams():
        ps.reset_sampler_cache()
        ps.uniform_candidate_sampler(labels, NT, S, True, C, seed=11)
        ps.log_uniform_candidate_sampler(labels, NT, S, True, C, seed=12)
        ps.learned_unigram_candidate_sampler(labels, NT, S, True, C, seed=13)
        ps.fixed_unigram_candidate_sampler(labels, NT, S, True, C, unigrams=unigrams, seed=14)

    cases = [
        # sampler functions (cached streams) and their error path
        ("uniform_candidate_sampler", 6,
         lambda: ps.uniform_candidate_sampler(labels, NT, S, True, C, seed=1)),
        ("log_uniform_candidate_sampler", 6,
         lambda: ps.log_uniform_candidate_sampler(labels, NT, S, False, C, seed=2)),
        ("learned_unigram_candidate_sampler", 6,
         lambda: ps.learned_unigram_candidate_sampler(labels, NT, S, True, C, seed=3)),
        ("fixed_unigram_candidate_sampler(unigrams)", 6,
         lambda: ps.fixed_unigram_candidate_sampler(labels, NT, S, True, C, unigrams=unigrams,
                                                    distortion=0.75, seed=4)),
        ("fixed_unigram_candidate_sampler(vocab_file)", 1,
         lambda: ps.fixed_unigram_candidate_sampler(labels, NT, S, True, C,
                                                    vocab_file=str(vocab_file), seed=4)),
        ("all_candidate_sampler", 4, lambda: ps.all_candidate_sampler(labels, NT, C, True)),
        ("sampler functions after reset_sampler_cache", 1, fresh_function_streams),
        ("sampler error (C++ out_of_range)", 3,
         raises(lambda: ps.log_uniform_candidate_sampler(bad_labels, NT, S, True, C, seed=2),
                IndexError)),
        ("compute_accidental_hits", 6, lambda: ps.compute_accidental_hits(labels, sampled, NT)),
        ("compute_accidental_hits(mask_all_duplicates)", 3,
         lambda: ps.compute_accidental_hits(labels, sampled, NT, mask_all_duplicates=True)),
        # sampler classes
        ("sampler construction (4 classes)", 1, lambda: (
            ps.UniformSampler(C, seed=1), ps.LogUniformSampler(C, seed=2),
            ps.LearnedUnigramSampler(C, seed=3),
            ps.FixedUnigramSampler(C, unigrams=unigrams, seed=4))),
    ]
    for name, s in samplers.items():
        cases += [
            (f"{name}.sample", 4, lambda s=s: s.sample(labels, S)),
            (f"{name}.sample_bulk", 3, lambda s=s: s.sample_bulk((64, 8), num_threads=1)),
            (f"{name}.sample_bulk(out=)", 1, lambda s=s: s.sample_bulk(0, num_threads=1, out=bulk_out)),
            (f"{name}.probability", 2, lambda s=s: s.probability(sampled)),
            (f"{name}.get_state/set_state", 2, lambda s=s: s.set_state(s.get_state())),
            (f"{name}.copy/pickle/reset", 1, lambda s=s: (
                copy.deepcopy(s), pickle.loads(pickle.dumps(s)), s.copy().reset())),
        ]
    cases += [
        ("LearnedUnigramSampler.update/counts", 2, lambda: (
            samplers["learned"].update(labels), samplers["learned"].counts)),
        # losses, gradients included
        ("nce_loss", 5, lambda: ps.nce_loss(w_shards, b_shards, labels, x, **loss_kw)),
        ("sampled_softmax_loss", 5,
         lambda: ps.sampled_softmax_loss(w_shards, b_shards, labels, x, **loss_kw)),
        ("sampled_sparse_softmax_loss", 5, lambda: ps.sampled_sparse_softmax_loss(
            w_shards, b_shards, labels1, x, **{k: v for k, v in loss_kw.items() if k != "num_true"})),
        ("compute_sampled_logits", 5,
         lambda: ps.compute_sampled_logits(w_shards, b_shards, labels, x, **loss_kw)),
        ("nce_loss(float64 inputs, forward)", 2, lambda: ps.nce_loss(
            w_shards, None, labels, x.astype(np.float64), S, C, NT, seed=5, num_threads=1)),
        ("loss error (C++ out_of_range)", 2,
         raises(lambda: ps.nce_loss(w_shards, b_shards, bad_labels, x, **loss_kw), IndexError)),
        ("SampledLoss.__call__", 3, lambda: sl["sgd"](labels, x, return_grads=True)),
        ("SampledLoss.step(sgd)", 5, lambda: sl["sgd"].step(labels, x)),
        ("SampledLoss.step(adagrad, nce)", 5, lambda: sl["adagrad"].step(labels, x)),
        ("SparseAdam kernel (_losses.sparse_adam_step)", 3, lambda: _losses.sparse_adam_step(
            adam_p, adam_m, adam_v, adam_ids, adam_g, 0.1, 0.001, 1e-8, -1e-3, False, 1)),
        ("SparseAdam kernel error (C++ invalid_argument)", 2, raises(
            lambda: _losses.sparse_adam_step(adam_p, adam_m, adam_v, adam_ids[::-1].copy(),
                                             adam_g, 0.1, 0.001, 1e-8, -1e-3, False, 1),
            ValueError)),
        ("ShardedSampledLoss.step (one rank)", 5, lambda: sharded.step(labels, x)),
        ("ShardedSampledLoss.loss(return_grads) (one rank)", 3,
         lambda: sharded.loss(labels, x, return_grads=True)),
        # word2vec formats and trainer
    ]
    # Slow ones (fsync'ed files, whole trainings) and the multi-threaded ones
    # (OpenMP workers spin after each parallel region, which slows every call
    # on a busy 2-core machine): a fixed number of calls.
    fixed = [
        ("sampled_softmax_loss(2 threads)", 300, lambda: ps.sampled_softmax_loss(
            w_shards, b_shards, labels, x, **{**loss_kw, "num_threads": 2})),
        ("SampledLoss.step(hogwild, 2 threads)", 300, lambda: sl["hogwild"].step(hog_labels, x)),
        ("sample_bulk(2 threads, 4 kinds)", 300, lambda: [
            s.sample_bulk(0, num_threads=2, out=bulk_out) for s in samplers.values()]),
        ("save/load_word2vec_format(text)", 100, w2v_roundtrip(False, txt)),
        ("save/load_word2vec_format(binary)", 100, w2v_roundtrip(True, binf)),
        ("Word2Vec(skipgram, negative).train", 20, train(model="skipgram")),
        ("Word2Vec(cbow, negative, hogwild).train", 20, train(model="cbow", deterministic=False)),
        ("Word2Vec(skipgram, nce).train", 10, train(loss="nce")),
        ("Word2Vec(cbow, sampled_softmax).train", 10, train(model="cbow", loss="sampled_softmax")),
    ]
    rest = TOTAL_CALLS - sum(n for _, n, _ in fixed)
    total_weight = sum(w for _, w, _ in cases)
    return [(name, max(1, round(rest * w / total_weight)), fn) for name, w, fn in cases] + fixed


def test_no_leak_over_many_calls(tmp_path, frozen_gc):
    cases = _cases(tmp_path)
    total = sum(n for _, n, _ in cases)
    assert abs(total - TOTAL_CALLS) < 0.01 * TOTAL_CALLS
    for _, _, fn in cases:  # warm-up: thread pools, workspaces, caches, lazy imports
        for _ in range(WARMUP):
            fn()
    if SANITIZED:
        # Every path once more under the sanitizers; leaks are LeakSanitizer's job.
        b0 = blocks()
        for _, n, fn in cases:
            for _ in range(min(n, 50)):
                fn()
        assert blocks() - b0 <= BLOCKS_TOL
        return

    # Run the cases interleaved in rounds, so a late leak shows in the trend.
    # On a slow or busy machine the rounds stop after TIME_BUDGET seconds.
    rounds = 10
    r0, h0, b0 = rss(), heap(), blocks()
    t0 = time.perf_counter()
    history = []
    done = 0
    for r in range(rounds):
        for name, n, fn in cases:
            k = n // rounds + (1 if r < n % rounds else 0)
            for _ in range(k):
                fn()
            done += k
        history.append((rss() - r0, None if h0 is None else heap() - h0))
        if r >= 2 and time.perf_counter() - t0 > TIME_BUDGET:
            break
    elapsed = time.perf_counter() - t0
    b1 = blocks()
    report = (f"{done} calls in {elapsed:.1f} s; growth per round (RSS, heap) in KiB: "
              + ", ".join(f"({a >> 10}, {'-' if b is None else b >> 10})" for a, b in history)
              + f"; Python blocks +{b1 - b0}")
    print(report)
    assert max(a for a, _ in history) <= RSS_TOL, report
    if h0 is not None:
        assert max(b for _, b in history) <= HEAP_TOL, report
    assert b1 - b0 <= BLOCKS_TOL, report


def test_each_case_alone_keeps_the_heap_flat(tmp_path, frozen_gc):
    """A per-case heap check, so a failure names the leaking function.

    Each case runs in three windows of n calls. A leak grows the heap in
    every window; a one-off growth (a cache filling up, CPython resizing its
    table of interned strings, which NumPy's ``__array_interface__`` churns)
    happens in one window only, so the smallest of the three growths is the
    one compared with the threshold (64 bytes or 1/2 Python block per call).
    """
    if SANITIZED or heap() is None:
        pytest.skip("needs glibc mallinfo2 and no sanitizer")
    failures = []
    for name, n, fn in _cases(tmp_path):
        for _ in range(WARMUP):
            fn()
        n = max(10, min(n // 10, 200))
        growth = []
        for _ in range(3):
            h0, b0 = heap(), blocks()
            for _ in range(n):
                fn()
            growth.append((heap() - h0, blocks() - b0))
        dh, db = min(g[0] for g in growth), min(g[1] for g in growth)
        if dh > max(64 << 10, 64 * n) or db > max(100, n // 2):
            failures.append(f"{name}: 3 x {n} calls, (heap bytes, Python blocks) grew by {growth}")
    assert not failures, "\n".join(failures)


# ------------------------------------------------- nothing O(range_max) per call

BIG_RANGE = 10**12


@pytest.mark.parametrize("what", ["log_uniform function", "uniform function",
                                  "LogUniformSampler", "UniformSampler", "sample_bulk"])
def test_huge_range_max_allocates_nothing_proportional(what):
    labels = np.array([[0], [5], [BIG_RANGE - 1]], dtype=np.int64)
    if what == "log_uniform function":
        fn = lambda: ps.log_uniform_candidate_sampler(labels, 1, 256, True, BIG_RANGE, seed=1)
    elif what == "uniform function":
        fn = lambda: ps.uniform_candidate_sampler(labels, 1, 256, True, BIG_RANGE, seed=1)
    elif what == "LogUniformSampler":
        fn = lambda: ps.LogUniformSampler(BIG_RANGE, seed=2).sample(labels, 256)
    elif what == "UniformSampler":
        fn = lambda: ps.UniformSampler(BIG_RANGE, seed=2).sample(labels, 256)
    else:
        s = ps.LogUniformSampler(BIG_RANGE, seed=3)
        fn = lambda: s.sample_bulk(1000, num_threads=2)
    out = fn()
    out = out[0] if isinstance(out, tuple) else out
    assert out.max() < BIG_RANGE
    if SANITIZED:
        return
    grew = peak_growth(fn)
    assert grew <= PEAK_TOL, f"{what}: peak RSS +{grew >> 20} MiB with range_max=10**12"


def _big_weights(rows, dim):
    # np.zeros maps untouched zero pages: the matrix costs no resident memory
    # until someone reads (or copies) it, so any O(rows) work shows in the RSS.
    return np.zeros((rows, dim), np.float32), np.zeros(rows, np.float32)


@pytest.mark.parametrize("fn_name", ["nce_loss", "sampled_softmax_loss",
                                     "sampled_sparse_softmax_loss", "compute_sampled_logits",
                                     "SampledLoss", "SampledLoss.step"])
def test_loss_over_10m_rows_allocates_only_the_rows_it_uses(fn_name):
    rows, D, B, NT, S = 10**7, 32, 64, 1, 512
    w, b = _big_weights(rows, D)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, rows, (B, NT))
    x = rng.standard_normal((B, D)).astype(np.float32)
    if fn_name.startswith("SampledLoss"):
        model = ps.SampledLoss(w, b, num_sampled=S, num_true=NT, seed=1)
        # step() writes the rows it updates, which maps their pages for good:
        # fixed sampled values make the warm-up call map the same pages.
        sv = model.sample(labels)
        fn = ((lambda: model.step(labels, x, sampled_values=sv)) if fn_name.endswith("step")
              else (lambda: model(labels, x, return_grads=True)))
    else:
        f = getattr(ps, fn_name)
        kw = {} if fn_name == "sampled_sparse_softmax_loss" else {"num_true": NT}
        fn = lambda: f(w, b, labels, x, S, rows, seed=1, return_grads=True, **kw)
    fn()  # warm: thread pool and the O((B*NT + S) * D) workspace
    if SANITIZED:
        return
    grew = peak_growth(fn)
    # the rows used: (B*NT + S) * D floats read, a few copies of that in the workspace
    assert grew <= PEAK_TOL, f"{fn_name}: peak RSS +{grew >> 20} MiB over {rows} rows"


@pytest.mark.parametrize("kind", ["fixed", "learned"])
def test_table_samplers_allocate_per_call_nothing_proportional(kind):
    """Built once at O(range_max) (documented); each call allocates O(S + batch)."""
    n = 10**7
    labels = np.array([[0], [n - 1]], dtype=np.int64)
    if kind == "fixed":
        s = ps.FixedUnigramSampler(n, unigrams=np.ones(n, np.float32), seed=1)
    else:
        s = ps.LearnedUnigramSampler(n, seed=1)
    calls = [lambda: s.sample(labels, 256), lambda: s.sample_bulk(1000, num_threads=2),
             lambda: s.probability([0, 5, n - 1])]
    for fn in calls:
        fn()
    if SANITIZED:
        return
    for fn in calls:
        grew = peak_growth(fn)
        assert grew <= PEAK_TOL, f"{kind}: peak RSS +{grew >> 20} MiB per call"
