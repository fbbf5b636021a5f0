"""Public API of the samplers: fixed-unigram weights, bulk path, state,
seeds, function caching, and every error path (SPEC §3.4, §11).

Expected values come from sampler_oracle (SPEC model, NumPy), from literals
derived by hand from SPEC §3.4/§12.15, or from TF's exact error messages.
"""
import copy
import os
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pysampled
from _sanitizer import TIMEOUT_SCALE
from oracles import samplers as O
from pysampled import _samplers

LEVELS = ("generic", "avx2", "avx512")


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def available_levels():
    best = LEVELS.index(_samplers.detected_simd_level())
    return LEVELS[: best + 1]


@pytest.fixture
def restore_simd():
    original = _samplers.simd_level()
    yield
    _samplers.set_simd_level(original)


@pytest.fixture
def fresh_cache():
    pysampled.reset_sampler_cache()
    yield
    pysampled.reset_sampler_cache()


UNIGRAMS = np.array([5.0, 1.0, 0.0, 7.0, 2.5, 3.0, 11.0, 0.5, 4.0, 9.0, 6.0], dtype=np.float32)


def make_sampler(kind, seed=(7, 8)):
    if kind == "uniform":
        return pysampled.UniformSampler(1000, seed=seed)
    if kind == "log_uniform":
        return pysampled.LogUniformSampler(1000, seed=seed)
    if kind == "fixed_unigram":
        return pysampled.FixedUnigramSampler(len(UNIGRAMS), unigrams=UNIGRAMS, distortion=0.75,
                                             seed=seed)
    s = pysampled.LearnedUnigramSampler(100, seed=seed)
    s.update(np.arange(0, 100, 3))
    return s


KINDS = ["uniform", "log_uniform", "fixed_unigram", "learned_unigram"]


# ------------------------------------------------- fixed-unigram weights (§3.4)

@pytest.mark.parametrize("correct", [False, True], ids=["tf_quirk", "corrected"])
@pytest.mark.parametrize("num_shards,shard", [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)])
@pytest.mark.parametrize("reserved", [0, 1, 2, 5])
def test_fixed_unigram_weights_vs_spec(reserved, num_shards, shard, correct):
    for distortion in (1.0, 0.75, 0.0, 2.0):
        expect = O.fixed_unigram_weights(UNIGRAMS, distortion, reserved, num_shards, shard, correct)
        if expect.sum() == 0:
            continue
        s = pysampled.FixedUnigramSampler(len(expect), unigrams=UNIGRAMS, distortion=distortion,
                                          num_reserved_ids=reserved, num_shards=num_shards,
                                          shard=shard, correct_reserved_ids=correct, seed=1)
        assert s.weights.dtype == np.float32
        np.testing.assert_array_equal(bits(s.weights), bits(expect))
        np.testing.assert_array_equal(bits(s.probability(np.arange(len(expect)))),
                                      bits(O.fixed_unigram_probs(expect)))


def test_fixed_unigram_reserved_shard_quirk_literal():
    """SPEC §12.15: reserved=2, shards=2, shard=0 keeps unigrams [1, 3, 5] (TF),
    [0, 2, 4] when corrected; shard-local ids, reserved id 0 has weight 0."""
    u = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    tf = pysampled.FixedUnigramSampler(4, unigrams=u, num_reserved_ids=2, num_shards=2, shard=0)
    np.testing.assert_array_equal(tf.weights, [0.0, 11.0, 13.0, 15.0])
    fixed = pysampled.FixedUnigramSampler(4, unigrams=u, num_reserved_ids=2, num_shards=2, shard=0,
                                          correct_reserved_ids=True)
    np.testing.assert_array_equal(fixed.weights, [0.0, 10.0, 12.0, 14.0])
    draws = tf.sample_bulk(2000)
    assert draws.min() >= 1 and draws.max() <= 3  # local ids; reserved id never drawn


def test_fixed_unigram_distortion_is_pow_in_double_then_float32():
    rs = np.random.default_rng(5)
    u = np.concatenate([rs.uniform(0, 10, 3000), rs.uniform(1e3, 1e7, 3000)]).astype(np.float32)
    for d in (0.75, 0.5, 1.7, 1e-3):
        s = pysampled.FixedUnigramSampler(len(u), unigrams=u, distortion=d, seed=1)
        expect = np.array([np.float32(float(x) ** float(np.float32(d))) for x in u], np.float32)
        np.testing.assert_array_equal(bits(s.weights), bits(expect))


def test_fixed_unigram_distortion_exact_for_every_magnitude_and_near_ties():
    """d = 3/4 and 1/2 take a square-root shortcut that must still give
    float32(pow(double)) bit for bit (oracle: NumPy's double pow). Random bit
    patterns cover every binade; the listed values put u**d within 2**-48 of a
    float32 rounding midpoint (found by scanning whole binades), where the
    shortcut must defer to pow."""
    rs = np.random.default_rng(11)
    patterns = rs.integers(1, 0x7F7FFFFF, size=200_000, dtype=np.uint32)
    near_ties = np.array([0x3F800001, 0x417FFFFE, 0x3F7FFFFE], np.uint32)
    u = np.concatenate([patterns, near_ties]).view(np.float32)
    for d in (0.75, 0.5):
        s = pysampled.FixedUnigramSampler(len(u), unigrams=u, distortion=d, seed=1)
        expect = np.power(u.astype(np.float64), float(np.float32(d))).astype(np.float32)
        np.testing.assert_array_equal(bits(s.weights), bits(expect))


def test_fixed_unigram_zero_distortion_makes_zero_counts_one():
    s = pysampled.FixedUnigramSampler(len(UNIGRAMS), unigrams=UNIGRAMS, distortion=0.0)
    np.testing.assert_array_equal(s.weights, np.ones(len(UNIGRAMS), np.float32))


def _write(tmp_path, text, name="vocab.csv"):
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


def test_vocab_file_parsing(tmp_path):
    """Last comma-separated field of each non-empty line; blank lines skipped."""
    p = _write(tmp_path, "the,1000\nof,500\n\nand,250\r\nweird,name,with,commas,7.5\n42\n\n")
    s = pysampled.FixedUnigramSampler(5, vocab_file=str(p), distortion=0.75, seed=3)
    expect = O.fixed_unigram_weights([1000, 500, 250, 7.5, 42], 0.75)
    np.testing.assert_array_equal(bits(s.weights), bits(expect))
    # os.PathLike works, and equals the unigrams route
    s2 = pysampled.FixedUnigramSampler(5, vocab_file=p, distortion=0.75, seed=3)
    s3 = pysampled.FixedUnigramSampler(5, unigrams=[1000, 500, 250, 7.5, 42], distortion=0.75,
                                       seed=3)
    np.testing.assert_array_equal(s2.sample_bulk(100), s3.sample_bulk(100))


def test_vocab_file_with_reserved_ids_and_shards(tmp_path):
    p = _write(tmp_path, "".join(f"w{i},{u}\n" for i, u in enumerate(UNIGRAMS)))
    expect = O.fixed_unigram_weights(UNIGRAMS, 1.0, 3, 2, 1)
    s = pysampled.FixedUnigramSampler(len(expect), vocab_file=p, num_reserved_ids=3, num_shards=2,
                                      shard=1)
    np.testing.assert_array_equal(bits(s.weights), bits(expect))


def test_vocab_file_function_api(tmp_path, fresh_cache):
    p = _write(tmp_path, "a,3\nb,1\nc,0\nd,4\n")
    w = O.fixed_unigram_weights([3, 1, 0, 4], 0.75)
    k = O.TFKernel(O.FixedUnigramDraw(w), *O.kernel_seeds(9))
    for _ in range(3):
        got = pysampled.fixed_unigram_candidate_sampler([[0], [3]], 1, 2, True, 4,
                                                        vocab_file=str(p), distortion=0.75, seed=9)
        ids, tec, sec, _ = k(np.array([[0], [3]]), 2, True)
        np.testing.assert_array_equal(got[0], ids)
        np.testing.assert_array_equal(bits(got[1]), bits(tec))
        np.testing.assert_array_equal(bits(got[2]), bits(sec))


@pytest.mark.parametrize("line", ["foo,bar", "x,", "1,2,three", "1.5.5"])
def test_vocab_file_bad_line(tmp_path, line):
    p = _write(tmp_path, f"a,1\n{line}\nb,2\n")
    with pytest.raises(ValueError, match=re.escape(f"Wrong vocabulary format at line: {line}")):
        pysampled.FixedUnigramSampler(3, vocab_file=p)


def test_vocab_file_counts_are_correctly_rounded_to_float32(tmp_path):
    text = "18014399583223809"
    p = _write(tmp_path, f"a,{text}\nb,1\n")
    s = pysampled.FixedUnigramSampler(2, vocab_file=p)
    expect = O.correctly_rounded_f32(text)
    assert float(expect) == 2.0**54 + 2.0**31  # the oracle itself
    assert bits(s.weights[0]) == bits(expect)


def test_fixed_unigram_range_mismatch_message():
    with pytest.raises(ValueError, match=re.escape("range is 12 must be equal to weights size  11")):
        pysampled.FixedUnigramSampler(12, unigrams=UNIGRAMS)
    # with sharding the size is this shard's: 6 of 11
    with pytest.raises(ValueError, match=re.escape("range is 11 must be equal to weights size  6")):
        pysampled.FixedUnigramSampler(11, unigrams=UNIGRAMS, num_shards=2, shard=0)
    with pytest.raises(ValueError, match=re.escape("range is 3 must be equal to weights size  2")):
        pysampled.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 3, unigrams=[1.0, 2.0])


def test_fixed_unigram_source_messages(tmp_path):
    p = _write(tmp_path, "a,1\n")
    with pytest.raises(ValueError, match=re.escape("Must provide either vocab_file or unigrams.")):
        pysampled.FixedUnigramSampler(1)
    with pytest.raises(ValueError, match=re.escape("Must provide either vocab_file or unigrams.")):
        pysampled.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 1)
    with pytest.raises(ValueError, match=re.escape("Must only provide one of vocab_file and unigrams.")):
        pysampled.FixedUnigramSampler(1, unigrams=[1.0], vocab_file=p)
    with pytest.raises(ValueError, match=re.escape("Must only provide one of vocab_file and unigrams.")):
        pysampled.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 1, unigrams=[1.0],
                                                  vocab_file=str(p))


@pytest.mark.parametrize("bad", [[1.0, -1.0, 2.0], [1.0, np.nan], [np.inf, 1.0], [0.0, 0.0],
                                 [0.0]], ids=["negative", "nan", "inf", "all_zero", "single_zero"])
def test_fixed_unigram_bad_weights(bad):
    with pytest.raises(ValueError):
        pysampled.FixedUnigramSampler(len(bad), unigrams=bad, seed=1)
    with pytest.raises(ValueError):
        pysampled.fixed_unigram_candidate_sampler([[0]], 1, 1, False, len(bad), unigrams=bad, seed=1)


def test_fixed_unigram_negative_with_fractional_distortion():
    with pytest.raises(ValueError):  # pow(-1, 0.75) is NaN
        pysampled.FixedUnigramSampler(2, unigrams=[1.0, -1.0], distortion=0.75)
    with pytest.raises(ValueError):  # float32 overflow: (1e30)^2 = inf
        pysampled.FixedUnigramSampler(2, unigrams=[1.0, 1e30], distortion=2.0)


def test_fixed_unigram_huge_finite_weights():
    """Each weight and the total are finite but weight * n overflows float32 in
    TF's alias construction: those columns get probability inf, i.e. are always
    kept. (A total that overflows is refused: test_f18_* in
    test_fuzz_regressions.py.)"""
    s = pysampled.FixedUnigramSampler(3, unigrams=[1.5e38, 1.5e38, 1.0], seed=1)
    tf_draws = s.sample([[0]], 2000, unique=False).sampled_candidates
    bulk = s.sample_bulk(2000)
    for draws in (tf_draws, bulk):
        assert set(np.unique(draws)) == {0, 1}


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(num_shards=0), ValueError, "Value for attr 'num_shards' of 0 must be at least minimum 1"),
    (dict(num_shards=2, shard=2), ValueError, "shard"),
    (dict(shard=-1), ValueError, "shard"),
    (dict(num_reserved_ids=-1), ValueError, "num_reserved_ids"),
    (dict(num_shards=1.0), TypeError, "num_shards"),
], ids=["zero_shards", "shard_too_big", "negative_shard", "negative_reserved", "float_shards"])
def test_fixed_unigram_bad_shard_arguments(kwargs, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        pysampled.FixedUnigramSampler(len(UNIGRAMS), unigrams=UNIGRAMS, **kwargs)


def test_fixed_unigram_bad_unigram_container():
    with pytest.raises(TypeError):
        pysampled.FixedUnigramSampler(4, unigrams=np.ones((2, 2)))
    with pytest.raises(TypeError):
        pysampled.FixedUnigramSampler(2, unigrams=["a", "b"])


# ------------------------------------------------------------------ bulk path

@pytest.mark.parametrize("n", [1, 7, 2**14 + 3, 100001])
@pytest.mark.parametrize("kind", KINDS)
def test_bulk_identical_for_threads_and_simd_levels(kind, n, restore_simd):
    results = {}
    for level in available_levels():
        _samplers.set_simd_level(level)
        assert _samplers.simd_level() == level
        for threads in (1, 2, -1, None):
            results[(level, threads)] = make_sampler(kind).sample_bulk(n, num_threads=threads)
    ref = results[("generic", 1)]
    assert ref.shape == (n,) and ref.dtype == np.int64
    for key, r in results.items():
        np.testing.assert_array_equal(r, ref, err_msg=str(key))


@pytest.mark.parametrize("level", LEVELS)
def test_bulk_every_simd_level_matches_oracle(level, restore_simd):
    """Each kernel level against the documented mapping (not only each other)."""
    if level not in available_levels():
        pytest.skip(f"CPU lacks {level}")
    _samplers.set_simd_level(level)
    n = 4099
    seed = (5, 6)
    key, counter = O.initial_generator(*O.kernel_seeds(seed))
    words = O.bulk_words(key, counter, n)
    for R in (1000, 2**33 + 1):
        got = pysampled.UniformSampler(R, seed=seed).sample_bulk(n, num_threads=2)
        np.testing.assert_array_equal(got, O.bulk_uniform(words, R))
    u = UNIGRAMS
    got = pysampled.FixedUnigramSampler(len(u), unigrams=u, seed=seed).sample_bulk(n, num_threads=2)
    np.testing.assert_array_equal(got, O.bulk_alias(words, *O.alias_table(u)))
    got = pysampled.LogUniformSampler(10**6, seed=seed).sample_bulk(n, num_threads=2)
    expect, x = O.bulk_log_uniform(words, 10**6)
    bad = got != expect
    assert np.all(np.abs(x[bad] - np.round(x[bad])) <= 1e-13 * x[bad]) and bad.sum() <= 1


def test_set_simd_level_rejects_unknown_and_unsupported(restore_simd):
    with pytest.raises(ValueError):
        _samplers.set_simd_level("sse9")
    for level in LEVELS:
        if level not in available_levels():
            with pytest.raises(ValueError):
                _samplers.set_simd_level(level)


@pytest.mark.parametrize("kind", KINDS)
def test_bulk_out_argument(kind):
    a, b = make_sampler(kind), make_sampler(kind)
    out = np.full((3, 5), -7, dtype=np.int64)
    res = a.sample_bulk(999, out=out)  # size is ignored when out is given
    assert res is out
    np.testing.assert_array_equal(out.reshape(-1), b.sample_bulk(15))
    # streams stay in step afterwards
    np.testing.assert_array_equal(a.sample_bulk(10), b.sample_bulk(10))


@pytest.mark.parametrize("bad", [
    np.zeros(5, dtype=np.int32),
    np.zeros(5, dtype=np.float64),
    np.zeros((5, 2), dtype=np.int64)[:, 0],  # not contiguous
    [0, 0, 0],
], ids=["int32", "float64", "strided", "list"])
def test_bulk_out_rejects_bad_arrays(bad):
    with pytest.raises(TypeError):
        make_sampler("uniform").sample_bulk(5, out=bad)


def _misaligned(a):
    """A C-contiguous copy of `a` at an odd address (NumPy allows it; C++ may not read it)."""
    a = np.ascontiguousarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    m = np.frombuffer(buf.data, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned and m.flags.c_contiguous
    return m


def test_bulk_out_rejects_misaligned():
    with pytest.raises(TypeError, match="aligned"):
        make_sampler("uniform").sample_bulk(5, out=_misaligned(np.zeros(5, np.int64)))


@pytest.mark.parametrize("kind", KINDS)
def test_misaligned_ids_are_copied_before_the_core_reads_them(kind):
    """Unaligned int64 ids (contiguous, so NumPy passes them through) give the
    same results as aligned ones; reading them in place from C++ is undefined
    behaviour (UBSan: misaligned load)."""
    tc = np.array([[1, 2], [3, 1], [0, 7]])
    ids = np.array([0, 3, 7, 9])
    a, b = make_sampler(kind), make_sampler(kind)
    for got, want in ((a.sample(_misaligned(tc), 4), b.sample(tc, 4)),
                      (a.probability(_misaligned(ids)), b.probability(ids))):
        for x, y in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            np.testing.assert_array_equal(x, y)
    if kind == "learned_unigram":
        a.update(_misaligned(tc))
        b.update(tc)
        state = b.get_state()
        state["counts"] = _misaligned(state["counts"])
        a.set_state(state)
        np.testing.assert_array_equal(a.counts, b.counts)
    hits = pysampled.compute_accidental_hits(_misaligned(tc), _misaligned(ids), 2,
                                             mask_all_duplicates=True)
    want = pysampled.compute_accidental_hits(tc, ids, 2, mask_all_duplicates=True)
    for x, y in zip(hits, want):
        np.testing.assert_array_equal(x, y)
    fn = {"uniform": pysampled.uniform_candidate_sampler,
          "log_uniform": pysampled.log_uniform_candidate_sampler,
          "learned_unigram": pysampled.learned_unigram_candidate_sampler}.get(kind)
    if fn is not None:
        pysampled.reset_sampler_cache()
        got = fn(_misaligned(tc), 2, 3, True, 10, seed=5)
        pysampled.reset_sampler_cache()
        want = fn(tc, 2, 3, True, 10, seed=5)
        for x, y in zip(got, want):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("kind", ["uniform", "log_uniform", "learned_unigram"])
def test_binding_fixed_weights_of_another_kind_raises(kind):
    """The binding checks the kind before downcasting (a wrong downcast is UB)."""
    with pytest.raises(ValueError, match="only fixed-unigram"):
        _samplers.Stream.create(kind, 10, 1, 2).fixed_weights()


def test_bulk_out_rejects_read_only():
    out = np.zeros(5, dtype=np.int64)
    out.flags.writeable = False
    with pytest.raises(TypeError):
        make_sampler("uniform").sample_bulk(5, out=out)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [2, 10, 2**14, 50000])
def test_bulk_stream_continuation_even(kind, n):
    a, b = make_sampler(kind), make_sampler(kind)
    first, second = a.sample_bulk(n), a.sample_bulk(n)
    both = b.sample_bulk(2 * n)
    np.testing.assert_array_equal(np.concatenate([first, second]), both)


@pytest.mark.parametrize("n", [1, 9, 2**14 + 1])
def test_bulk_stream_continuation_odd(n):
    """An odd call uses half of its last block; the next call starts on a new block."""
    a, b = make_sampler("uniform"), make_sampler("uniform")
    first, second = a.sample_bulk(n), a.sample_bulk(n)
    both = b.sample_bulk(2 * n + 1)
    np.testing.assert_array_equal(first, both[:n])
    np.testing.assert_array_equal(second, both[n + 1:])


@pytest.mark.parametrize("size,shape", [(0, (0,)), (5, (5,)), (np.int64(4), (4,)), ((2, 3), (2, 3)),
                                        ((2, 0, 3), (2, 0, 3)), ((), ()), ([4], (4,))])
def test_bulk_shapes(size, shape):
    a, b = make_sampler("log_uniform"), make_sampler("log_uniform")
    out = a.sample_bulk(size)
    assert out.shape == shape and out.dtype == np.int64
    np.testing.assert_array_equal(out.reshape(-1), b.sample_bulk(int(np.prod(shape))))


@pytest.mark.parametrize("size,exc", [(-1, ValueError), ((2, -1), ValueError), (2.0, TypeError),
                                      ("3", TypeError), (True, TypeError)])
def test_bulk_bad_sizes(size, exc):
    with pytest.raises(exc):
        make_sampler("uniform").sample_bulk(size)


@pytest.mark.parametrize("threads,exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                         (True, TypeError)])
def test_bulk_bad_num_threads(threads, exc):
    with pytest.raises(exc):
        make_sampler("uniform").sample_bulk(10, num_threads=threads)


@pytest.mark.parametrize("path", ["bulk", "tf"])
def test_concurrent_calls_on_one_sampler_are_atomic(path):
    """Calls from several Python threads are serialised: each thread gets whole
    calls of the sequential stream, every call exactly once."""
    import threading

    s = make_sampler("log_uniform")
    per_thread, threads, n = 25, 4, 1000
    outputs = [[] for _ in range(threads)]
    tc = np.zeros((1, 1), np.int64)

    def work(k):
        for _ in range(per_thread):
            if path == "bulk":
                outputs[k].append(s.sample_bulk(n, num_threads=1).tobytes())
            else:
                outputs[k].append(s.sample(tc, 50, unique=True)[0].tobytes())

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ref = make_sampler("log_uniform")
    if path == "bulk":
        expected = [ref.sample_bulk(n).tobytes() for _ in range(per_thread * threads)]
    else:
        expected = [ref.sample(tc, 50, unique=True)[0].tobytes() for _ in range(per_thread * threads)]
    assert sorted(sum(outputs, [])) == sorted(expected)


def test_openmp_enabled_on_linux():
    if sys.platform.startswith("linux"):
        assert pysampled.openmp_enabled() is True
    else:
        assert isinstance(pysampled.openmp_enabled(), bool)


# --------------------------------------------------------------------- state

def _next_outputs(s):
    """One TF-path call with and without unique, and a bulk call."""
    R = s.range_max
    tc = np.array([[0], [R - 1]], dtype=np.int64)
    S = min(3, R)
    a = s.sample(tc, S, unique=False)
    b = s.sample(tc, 2, unique=True) if R >= 2 else a
    return [a.sampled_candidates, bits(a.true_expected_count), bits(a.sampled_expected_count),
            b.sampled_candidates, bits(b.sampled_expected_count), s.sample_bulk(33)]


def _assert_same(x, y):
    assert len(x) == len(y)
    for u, v in zip(x, y):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("kind", KINDS)
def test_get_set_state_round_trip(kind):
    s = make_sampler(kind)
    _next_outputs(s)
    state = s.get_state()
    first = _next_outputs(s)
    s.set_state(state)
    _assert_same(_next_outputs(s), first)
    # another sampler of the same configuration (other seed) continues identically
    other = make_sampler(kind, seed=12345)
    other.set_state(state)
    s.set_state(state)
    _assert_same(_next_outputs(other), _next_outputs(s))


def test_state_is_plain_data():
    s = make_sampler("learned_unigram")
    st = s.get_state()
    assert len(st["generator"]) == 6 and all(0 <= int(x) < 2**32 for x in st["generator"])
    np.testing.assert_array_equal(st["counts"], s.counts)
    # the state is a snapshot: later learning does not change it
    s.sample([[1, 1]], 2)
    assert st["counts"][1] == s.counts[1] - 2


@pytest.mark.parametrize("bad", [{"generator": (1, 2, 3)}, {"generator": (0, 0, 0, 0, 0, 2**32)},
                                 {"generator": (0, 0, 0, 0, 0, -1)}])
def test_set_state_rejects_bad_generator(bad):
    with pytest.raises(ValueError):
        make_sampler("uniform").set_state(bad)


def test_set_state_rejects_bad_counts():
    s = make_sampler("learned_unigram")
    st = s.get_state()
    with pytest.raises(ValueError):
        s.set_state(dict(st, counts=np.ones(99, np.int64)))
    with pytest.raises(ValueError):
        s.set_state(dict(st, counts=-np.ones(100, np.int64)))
    with pytest.raises(ValueError):
        s.set_state(dict(st, counts=np.zeros(100, np.int64)))


@pytest.mark.parametrize("kind", KINDS)
def test_pickle_round_trip(kind):
    s = make_sampler(kind)
    _next_outputs(s)
    t = pickle.loads(pickle.dumps(s))
    assert type(t) is type(s) and t.range_max == s.range_max
    if kind == "learned_unigram":
        np.testing.assert_array_equal(t.counts, s.counts)
    if kind == "fixed_unigram":
        np.testing.assert_array_equal(bits(t.weights), bits(s.weights))
        np.testing.assert_array_equal(bits(t.probability(np.arange(s.range_max))),
                                      bits(s.probability(np.arange(s.range_max))))
    _assert_same(_next_outputs(t), _next_outputs(s))
    # reset() of the copy goes back to the original's start
    t.reset()
    s.reset()
    _assert_same(_next_outputs(t), _next_outputs(s))


def test_pickle_fixed_unigram_with_reserved_shards_and_vocab(tmp_path):
    p = _write(tmp_path, "".join(f"w{i},{u}\n" for i, u in enumerate(UNIGRAMS)))
    expect = O.fixed_unigram_weights(UNIGRAMS, 0.75, 2, 2, 1)
    s = pysampled.FixedUnigramSampler(len(expect), vocab_file=p, distortion=0.75, num_reserved_ids=2,
                                      num_shards=2, shard=1, seed=(3, 3))
    t = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(bits(t.weights), bits(expect))
    _assert_same(_next_outputs(t), _next_outputs(s))


@pytest.mark.parametrize("how", ["method", "copy", "deepcopy"])
@pytest.mark.parametrize("kind", KINDS)
def test_copy_is_independent(kind, how):
    s = make_sampler(kind)
    _next_outputs(s)
    c = {"method": s.copy, "copy": lambda: copy.copy(s), "deepcopy": lambda: copy.deepcopy(s)}[how]()
    ref_a, ref_b = make_sampler(kind), make_sampler(kind)
    _next_outputs(ref_a)
    _next_outputs(ref_b)
    # the copy continues where s was ...
    _assert_same(_next_outputs(c), _next_outputs(ref_a))
    # ... and s has not moved (nor learned)
    _assert_same(_next_outputs(s), _next_outputs(ref_b))


@pytest.mark.parametrize("kind", KINDS)
def test_copy_does_not_share_stream_or_counts(kind):
    s = make_sampler(kind)
    c = s.copy()
    expected_next = make_sampler(kind).sample_bulk(20)
    for _ in range(3):
        c.sample([[0]], 2, unique=False)
        c.sample_bulk(7)
    if kind == "learned_unigram":
        c.update([5, 5, 5])
        assert s.counts[5] == make_sampler(kind).counts[5]
    np.testing.assert_array_equal(s.sample_bulk(20), expected_next)


@pytest.mark.parametrize("kind", KINDS)
def test_reset_restarts_stream_and_counts(kind):
    s = make_sampler(kind, seed=(1, 99))
    fresh = make_sampler(kind, seed=(1, 99))
    if kind == "learned_unigram":
        fresh = pysampled.LearnedUnigramSampler(100, seed=(1, 99))  # counts all 1
    for _ in range(3):
        _next_outputs(s)
    s.reset()
    if kind == "learned_unigram":
        np.testing.assert_array_equal(s.counts, np.ones(100, np.int64))
    _assert_same(_next_outputs(s), _next_outputs(fresh))


def test_learned_update_counts_like_spec():
    s = pysampled.LearnedUnigramSampler(10, seed=1)
    s.update([[1, 2], [2, 9]])
    s.update(np.array([9, 9, 0], dtype=np.int32))
    np.testing.assert_array_equal(s.counts, [2, 2, 3, 1, 1, 1, 1, 1, 1, 4])
    s.sample([[3, 3, 3]], 4, unique=True)  # learns after drawing
    np.testing.assert_array_equal(s.counts, [2, 2, 3, 4, 1, 1, 1, 1, 1, 4])
    with pytest.raises(IndexError, match=re.escape("`true_candidate` out of range [0, 10), received 10")):
        s.update([10])
    with pytest.raises(TypeError):
        s.update([1.5])


# --------------------------------------------------------------------- seeds

@pytest.mark.parametrize("kind", KINDS)
def test_seed_none_gives_different_streams(kind):
    a, b = make_sampler(kind, seed=None), make_sampler(kind, seed=None)
    assert tuple(a.kernel_seeds) == (0, 0)
    assert not np.array_equal(a.sample_bulk(64), b.sample_bulk(64))  # P(equal) ~ 1e-100


@pytest.mark.parametrize("s", [0, 1, 77, 2**31 - 2, 2**31 - 1, 2**31 + 5, -3, np.int64(12)])
def test_int_seed_is_default_graph_seed_pair(s):
    a = pysampled.LogUniformSampler(1000, seed=s)
    b = pysampled.LogUniformSampler(1000, seed=(87654321, int(s)))
    assert tuple(a.kernel_seeds) == (87654321, int(s) % (2**31 - 1))
    _assert_same(_next_outputs(a), _next_outputs(b))


def test_seed_zero_zero_is_zero_maxint():
    a = pysampled.UniformSampler(1000, seed=(0, 0))
    b = pysampled.UniformSampler(1000, seed=(0, 2**31 - 1))
    c = pysampled.UniformSampler(1000, seed=(2**31 - 1, 2 * (2**31 - 1)))  # both reduce to 0
    assert tuple(a.kernel_seeds) == (0, 2**31 - 1) == tuple(c.kernel_seeds)
    _assert_same(_next_outputs(a), _next_outputs(b))
    _assert_same(_next_outputs(c), _next_outputs(pysampled.UniformSampler(1000, seed=(0, 2**31 - 1))))


def test_seed_pair_as_list():
    a = pysampled.UniformSampler(1000, seed=[3, 4])
    b = pysampled.UniformSampler(1000, seed=(3, 4))
    _assert_same(_next_outputs(a), _next_outputs(b))


@pytest.mark.parametrize("seed,exc", [(1.5, TypeError), ("7", TypeError), (True, TypeError),
                                      ((1, 2, 3), ValueError), ((1,), ValueError),
                                      ((1.0, 2), TypeError), ((1, None), TypeError),
                                      (np.array([1, 2]), TypeError)],
                         ids=["float", "str", "bool", "triple", "single", "float_in_pair",
                              "none_in_pair", "ndarray"])
def test_bad_seeds(seed, exc, fresh_cache):
    with pytest.raises(exc):
        pysampled.UniformSampler(10, seed=seed)
    with pytest.raises(exc):
        pysampled.uniform_candidate_sampler([[0]], 1, 1, True, 10, seed=seed)
    with pytest.raises(exc):
        pysampled.all_candidate_sampler([[0]], 1, 1, True, seed=seed)


@pytest.mark.parametrize("bad", [1.0, True])
def test_bad_seed_rejected_even_after_cache_hit(bad, fresh_cache):
    pysampled.uniform_candidate_sampler([[0]], 1, 2, True, 10, seed=1)
    with pytest.raises(TypeError):
        pysampled.uniform_candidate_sampler([[0]], 1, 2, True, 10, seed=bad)


# ------------------------------------------------------- function stream cache

def test_function_streams_continue_and_reset(fresh_cache):
    tc = np.array([[1, 2]], dtype=np.int64)

    def call(S=4, seed=5):
        return pysampled.log_uniform_candidate_sampler(tc, 2, S, True, 1000, seed=seed)

    def check(got, kernel, S=4):
        ids, tec, sec, _ = kernel(tc, S, True)
        np.testing.assert_array_equal(got[0], ids)
        np.testing.assert_array_equal(bits(got[1]), bits(tec))
        np.testing.assert_array_equal(bits(got[2]), bits(sec))

    k = O.TFKernel(O.LogUniformDraw(1000), *O.kernel_seeds(5))
    for _ in range(3):
        check(call(), k)
    # other attributes or seeds: separate, fresh streams (TF caches kernels by attrs)
    check(call(S=5), O.TFKernel(O.LogUniformDraw(1000), *O.kernel_seeds(5)), S=5)
    check(call(seed=(87654321, 6)), O.TFKernel(O.LogUniformDraw(1000), *O.kernel_seeds(6)))
    # the same seed written as a pair shares the int seed's stream
    check(call(seed=(87654321, 5)), k)
    check(pysampled.log_uniform_candidate_sampler(tc, 2, 4, True, 1000, seed=5), k)
    pysampled.reset_sampler_cache()
    check(call(), O.TFKernel(O.LogUniformDraw(1000), *O.kernel_seeds(5)))


def test_function_learned_stream_shares_counts(fresh_cache):
    draw = O.LearnedUnigramDraw(20)
    k = O.TFKernel(draw, *O.kernel_seeds((1, 2)))
    rs = np.random.default_rng(0)
    for _ in range(30):
        tc = np.minimum(rs.zipf(1.5, size=(4, 2)) - 1, 19)
        got = pysampled.learned_unigram_candidate_sampler(tc, 2, 3, False, 20, seed=(1, 2))
        ids, tec, sec, _ = k(tc, 3, False)
        np.testing.assert_array_equal(got[0], ids)
        np.testing.assert_array_equal(bits(got[1]), bits(tec))
        np.testing.assert_array_equal(bits(got[2]), bits(sec))


def test_function_fixed_unigram_streams_keyed_by_unigrams(fresh_cache):
    u1, u2 = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]
    k1 = O.TFKernel(O.FixedUnigramDraw(O.fixed_unigram_weights(u1)), *O.kernel_seeds(3))
    k2 = O.TFKernel(O.FixedUnigramDraw(O.fixed_unigram_weights(u2)), *O.kernel_seeds(3))
    for _ in range(3):
        for u, k in ((u1, k1), (u2, k2)):
            got = pysampled.fixed_unigram_candidate_sampler([[0]], 1, 2, False, 3, unigrams=u, seed=3)
            np.testing.assert_array_equal(got[0], k(np.array([[0]]), 2, False)[0])


def test_function_outputs_are_candidate_sample(fresh_cache):
    r = pysampled.uniform_candidate_sampler([[1, 2], [3, 4], [5, 6]], 2, 4, True, 10, seed=1)
    assert isinstance(r, pysampled.CandidateSample)
    sampled, tec, sec = r
    assert sampled.shape == (4,) and sampled.dtype == np.int64
    assert tec.shape == (3, 2) and tec.dtype == np.float32
    assert sec.shape == (4,) and sec.dtype == np.float32
    assert r.sampled_candidates is sampled


def test_empty_batch(fresh_cache):
    tc = np.zeros((0, 3), dtype=np.int64)
    for kind in KINDS:
        s = make_sampler(kind)
        ids, tec, sec = s.sample(tc, 2, unique=True, num_true=3)
        assert ids.shape == (2,) and tec.shape == (0, 3) and sec.shape == (2,)
    r = pysampled.log_uniform_candidate_sampler(tc, 3, 2, True, 10, seed=1)
    assert r[1].shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint32, np.uint64])
def test_integer_true_class_dtypes_accepted(dtype, fresh_cache):
    tc = np.array([[1, 2]], dtype=dtype)
    a = make_sampler("uniform").sample(tc, 3)
    b = make_sampler("uniform").sample(tc.astype(np.int64), 3)
    _assert_same([a[0], bits(a[1]), bits(a[2])], [b[0], bits(b[1]), bits(b[2])])
    # non-contiguous and Fortran-ordered input too
    tcf = np.asfortranarray(np.array([[1, 2], [3, 4]], dtype=np.int64))
    a = make_sampler("uniform").sample(tcf, 3)
    b = make_sampler("uniform").sample(np.ascontiguousarray(tcf), 3)
    _assert_same([a[0], bits(a[1])], [b[0], bits(b[1])])


def test_all_candidate_sampler():
    tc = np.array([[0, 4], [2, 2], [3, 1]], dtype=np.int64)
    ids, tec, sec = pysampled.all_candidate_sampler(tc, 2, 5, True, seed=3)
    np.testing.assert_array_equal(ids, np.arange(5))
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(tec, np.ones((3, 2), np.float32))
    assert tec.dtype == np.float32 and sec.dtype == np.float32
    np.testing.assert_array_equal(sec, np.ones(5, np.float32))
    # unique and seed have no effect
    again = pysampled.all_candidate_sampler(tc, 2, 5, False)
    np.testing.assert_array_equal(again[0], ids)
    with pytest.raises(IndexError, match=re.escape("`true_candidate` out of range [0, 5), received 5")):
        pysampled.all_candidate_sampler([[5]], 1, 5, True)
    with pytest.raises(IndexError, match=re.escape("`true_candidate` out of range [0, 5), received -1")):
        pysampled.all_candidate_sampler([[-1]], 1, 5, True)
    with pytest.raises(ValueError, match="must be at least minimum 1"):
        pysampled.all_candidate_sampler([[0]], 1, 0, True)


# ------------------------------------------------------------ error paths (§11)

def _function(kind):
    if kind == "fixed_unigram":
        return lambda tc, nt, S, u, R, **kw: pysampled.fixed_unigram_candidate_sampler(
            tc, nt, S, u, R, unigrams=np.ones(R, np.float32), **kw)
    return getattr(pysampled, f"{kind}_candidate_sampler")


def _class(kind, R):
    if kind == "fixed_unigram":
        return pysampled.FixedUnigramSampler(R, unigrams=np.ones(R, np.float32), seed=1)
    return {"uniform": pysampled.UniformSampler, "log_uniform": pysampled.LogUniformSampler,
            "learned_unigram": pysampled.LearnedUnigramSampler}[kind](R, seed=1)


@pytest.mark.parametrize("value", [10, 11, -1, 2**40])
@pytest.mark.parametrize("kind", KINDS)
def test_true_class_out_of_range(kind, value, fresh_cache):
    msg = re.escape(f"`true_candidate` out of range [0, 10), received {value}")
    with pytest.raises(IndexError, match=msg):
        _function(kind)([[0, value]], 2, 3, False, 10, seed=1)
    s = _class(kind, 10)
    with pytest.raises(IndexError, match=msg):
        s.sample([[0], [value]], 3)


@pytest.mark.parametrize("kind", KINDS)
def test_failed_call_does_not_advance_or_learn(kind):
    s = _class(kind, 10)
    fresh = _class(kind, 10)
    with pytest.raises(IndexError):
        s.sample([[0, 10]], 3)
    with pytest.raises(ValueError):
        s.sample([[0]], 11, unique=True)
    _assert_same(_next_outputs(s), _next_outputs(fresh))


@pytest.mark.parametrize("kind", KINDS)
def test_unique_range_too_small(kind, fresh_cache):
    with pytest.raises(ValueError, match=re.escape("Sampler's range is too small.")):
        _function(kind)([[0]], 1, 11, True, 10, seed=1)
    with pytest.raises(ValueError, match=re.escape("Sampler's range is too small.")):
        _class(kind, 10).sample([[0]], 11, unique=True)
    # checked before the true classes (SPEC §3.1 validation order)
    with pytest.raises(ValueError, match=re.escape("Sampler's range is too small.")):
        _class(kind, 10).sample([[99]], 11, unique=True)
    # without unique, S > R is fine
    assert _class(kind, 10).sample([[0]], 11, unique=False)[0].shape == (11,)


def test_validation_order_rank_then_columns(fresh_cache):
    with pytest.raises(ValueError, match="true_classes must be a matrix"):
        pysampled.uniform_candidate_sampler([0, 99], 3, 11, True, 10)
    with pytest.raises(ValueError, match="true_classes must have num_true columns"):
        pysampled.uniform_candidate_sampler([[0, 99]], 3, 11, True, 10)


# seconds; a correct check answers in well under 1 s after import (the
# sanitizer scripts scale it: instrumented imports and exit-time leak checks are slow)
_SUBPROCESS_TIMEOUT = 5 * TIMEOUT_SCALE


def _run_isolated(code):
    """Run code in a fresh interpreter with a hard timeout (a hang fails the test)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    try:
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=_SUBPROCESS_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {_SUBPROCESS_TIMEOUT} s (TF would loop 2^31 times)")
    return proc


def test_unique_with_small_support_fails_fast_fixed_unigram():
    proc = _run_isolated("""
        import numpy as np, pysampled
        s = pysampled.FixedUnigramSampler(5, unigrams=[1, 0, 2, 0, 0], seed=1)
        for call in (lambda: s.sample([[0]], 3, unique=True),
                     lambda: pysampled.fixed_unigram_candidate_sampler(
                         [[0]], 1, 3, True, 5, unigrams=[1, 0, 2, 0, 0], seed=1)):
            try:
                call()
            except ValueError as e:
                print("ValueError", e)
        print(s.sample([[0]], 2, unique=True)[0].tolist() in ([0, 2], [2, 0]))
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("ValueError") and lines[1].startswith("ValueError")
    assert lines[2] == "True"


def test_unique_with_small_support_fails_fast_learned_unigram():
    proc = _run_isolated("""
        import numpy as np, pysampled
        s = pysampled.LearnedUnigramSampler(4, seed=1)
        st = s.get_state()
        st["counts"] = np.array([1, 0, 0, 0])
        s.set_state(st)
        try:
            s.sample([[0]], 2, unique=True)
        except ValueError as e:
            print("ValueError", e)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ValueError")


@pytest.mark.parametrize("attr", ["num_sampled", "range_max", "num_true"])
@pytest.mark.parametrize("kind", KINDS)
def test_attr_zero(kind, attr, fresh_cache):
    args = dict(num_true=1, num_sampled=2, range_max=10)
    args[attr] = 0
    tc = np.zeros((1, max(args["num_true"], 1)), np.int64)
    with pytest.raises(
            ValueError, match=re.escape(f"Value for attr '{attr}' of 0 must be at least minimum 1")):
        if kind == "fixed_unigram":
            pysampled.fixed_unigram_candidate_sampler(tc, args["num_true"], args["num_sampled"], True,
                                                      args["range_max"], unigrams=[1.0] * 10)
        else:
            _function(kind)(tc, args["num_true"], args["num_sampled"], True, args["range_max"])


@pytest.mark.parametrize("kind", KINDS)
def test_class_attr_minimums(kind):
    with pytest.raises(
            ValueError, match=re.escape("Value for attr 'num_sampled' of 0 must be at least minimum 1")):
        _class(kind, 10).sample([[0]], 0)
    with pytest.raises(
            ValueError, match=re.escape("Value for attr 'num_sampled' of -3 must be at least minimum 1")):
        _class(kind, 10).sample([[0]], -3)
    if kind != "fixed_unigram":
        with pytest.raises(
                ValueError, match=re.escape("Value for attr 'range_max' of 0 must be at least minimum 1")):
            type(_class(kind, 1))(0)
    with pytest.raises(TypeError):
        _class(kind, 10).sample([[0]], 2.0)
    with pytest.raises(TypeError):
        _class(kind, 10).sample([[0]], True)


@pytest.mark.parametrize("tc", [[0, 1], 3, [[[0]]]], ids=["1d", "scalar", "3d"])
@pytest.mark.parametrize("kind", KINDS)
def test_true_classes_not_a_matrix(kind, tc, fresh_cache):
    with pytest.raises(ValueError, match=re.escape("true_classes must be a matrix")):
        _function(kind)(tc, 1, 2, False, 10)
    with pytest.raises(ValueError, match=re.escape("true_classes must be a matrix")):
        _class(kind, 10).sample(tc, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_true_classes_wrong_columns(kind, fresh_cache):
    msg = re.escape("true_classes must have num_true columns, expected: 2 was: 3")
    with pytest.raises(ValueError, match=msg):
        _function(kind)([[0, 1, 2]], 2, 2, False, 10)
    with pytest.raises(ValueError, match=msg):
        _class(kind, 10).sample([[0, 1, 2]], 2, num_true=2)


@pytest.mark.parametrize("tc", [np.array([[0.0, 1.0]]), np.array([[True, False]]),
                                np.array([[0, 1]], dtype=object), [["a", "b"]], [[0.5, 1]]],
                         ids=["float", "bool", "object", "str", "list_float"])
@pytest.mark.parametrize("kind", KINDS)
def test_true_classes_non_integer(kind, tc, fresh_cache):
    with pytest.raises(TypeError):
        _function(kind)(tc, 2, 2, False, 10)
    with pytest.raises(TypeError):
        _class(kind, 10).sample(tc, 2)


def test_uint64_true_classes_beyond_int64(fresh_cache):
    with pytest.raises(ValueError):
        make_sampler("uniform").sample(np.array([[2**63]], dtype=np.uint64), 2)


def test_learned_function_range_too_large(fresh_cache):
    with pytest.raises(ValueError, match=re.escape("Value of range_max:2147483648 is too large to handle")):
        pysampled.learned_unigram_candidate_sampler([[0]], 1, 1, False, 2**31)
    with pytest.raises(ValueError, match=re.escape("Value of range_max:10000000000 is too large to handle")):
        pysampled.learned_unigram_candidate_sampler([[0]], 1, 1, True, 10**10)


@pytest.mark.parametrize("name,value,exc", [("num_true", 1.0, TypeError), ("num_true", True, TypeError),
                                            ("num_sampled", 2.0, TypeError), ("range_max", "10", TypeError),
                                            ("range_max", -5, ValueError)])
def test_function_attr_types(name, value, exc, fresh_cache):
    args = dict(true_classes=[[0]], num_true=1, num_sampled=2, unique=False, range_max=10)
    args[name] = value
    with pytest.raises(exc):
        pysampled.uniform_candidate_sampler(**args)


def test_learned_counts_saturate_at_int64_max_instead_of_overflowing():
    """The learned counts stop growing once their total reaches 2**63 - 1 (a
    fuzz-harness oracle once expected NumPy's wrap-around): the classes learned
    before the total saturates are counted, the rest are not, and nothing wraps."""
    s = pysampled.LearnedUnigramSampler(2, seed=1)
    state = s.get_state()
    state["counts"] = np.array([2**63 - 4, 1], dtype=np.int64)  # total 2**63 - 3: room for 2
    s.set_state(state)
    s.sample(np.array([[1, 1], [0, 1]]), 1, True)
    np.testing.assert_array_equal(s.counts, [2**63 - 4, 3])  # the first two true classes only
    s.sample(np.array([[0, 0]]), 1, True)
    np.testing.assert_array_equal(s.counts, [2**63 - 4, 3])
