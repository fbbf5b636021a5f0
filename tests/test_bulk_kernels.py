"""The bulk-sampling kernels of every SIMD level on adversarial inputs.

Each level (generic, avx2, avx512) has its own body of every kernel (Philox
words, uniform, log-uniform, alias; see src/cpp/pysampled/kernels/bulk_impl.hpp).
The documented bulk stream must be the same bits at every level, so each
vector level is compared with the generic level on words chosen to hit the
edges of each mapping (all-zero and all-one words, the words where
floor(w * R / 2^64) steps, coins at the alias thresholds, exps next to an
integer, counters that carry), at lengths that exercise the vector tails;
the generic level itself is compared with the independent oracle of
tests/oracles/samplers.py. The kernels are called directly through the private
``_samplers._bulk_kernel`` hook, without changing the active level.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from oracles import samplers as O
from pysampled import _samplers

LEVELS = ("generic", "avx2", "avx512")
VECTOR_LEVELS = ("avx2", "avx512")
MASK64 = (1 << 64) - 1

# Lengths around the vector widths (4 and 8 words), the unrolled steps (16,
# 32, 64 words) and the alias batch (64).
LENGTHS = (0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 1000)

RANGES = (1, 2, 3, 7, 1000, 10**6, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**33 + 1,
          2**40 + 3, 2**51 - 1, 2**51, 2**51 + 1, 2**52, 2**53 + 5, 2**62, 2**63 - 1)


def have(level):
    return LEVELS.index(level) <= LEVELS.index(_samplers.detected_simd_level())


def need(level):
    if not have(level):
        pytest.skip(f"this CPU lacks {level} (detected level: "
                    f"{_samplers.detected_simd_level()}), so its kernels cannot run here")


def kernel(level, name, *args):
    return _samplers._bulk_kernel(level, name, *args)


def as_words(values):
    return np.array([v & MASK64 for v in values], dtype=np.uint64)


def fixed_words():
    """Words that are edges for any mapping."""
    v = [0, 1, 2, 0xFFF, 0x1000, 0x1001, (1 << 32) - 1, 1 << 32, (1 << 32) + 1,
         (1 << 40) - 1, 1 << 40, (1 << 52) - 1, 1 << 52, ((1 << 52) - 1) << 12,
         (1 << 63) - 1, 1 << 63, (1 << 63) + 1, MASK64 - 1, MASK64,
         0x5555555555555555, 0xAAAAAAAAAAAAAAAA, 0xFFFFFFFF00000000, 0x00000000FFFFFFFF,
         0x8000000080000000, 0x7FFFFFFF7FFFFFFF, 0xFFFFF00000000FFF]
    return v


def step_words(R, rng, count=24):
    """The first word of column k of the multiply-shift mapping
    floor(w * R / 2^64), and its neighbours, for edge and random k."""
    ks = {0, 1, R // 2, R - 1} | {int(k) for k in rng.integers(0, R, size=count, dtype=np.uint64)
                                  if R > 1}
    out = []
    for k in ks:
        if not 0 <= k < R:
            continue
        w = -(-(k << 64) // R)  # ceil(k 2^64 / R)
        out += [w - 1, w, w + 1]
    return [w for w in out if 0 <= w <= MASK64]


def adversarial(R, rng, n_random=300):
    v = fixed_words() + step_words(R, rng)
    v += [int(x) for x in rng.integers(0, 2**63, size=n_random, dtype=np.uint64) * 2
          + rng.integers(0, 2, size=n_random, dtype=np.uint64)]
    words = as_words(v)
    rng.shuffle(words)
    return words


def near_integer_words(R, rng):
    """Words whose u = (w >> 12) / 2^52 puts exp(u log(R+1)) within a few ulps
    of an integer k (the floor steps there), and the top of the range."""
    log_range = math.log1p(R)
    ks = {1, 2, 3, R, R + 1}
    ks |= {int(k) for k in rng.integers(1, R + 2, size=20, dtype=np.uint64)}
    ks |= {max(1, int(math.exp(u * log_range))) for u in rng.random(40)}  # every scale
    out = []
    for k in ks:
        u = math.log(k) / log_range
        if not 0 <= u < 1:
            continue
        m = int(round(u * 2**52))
        for d in range(-3, 4):
            if 0 <= m + d < 2**52:
                out.append(((m + d) << 12) | int(rng.integers(0, 4096)))
    return as_words(out)


def run_lengths(words):
    """The words cut into pieces of every length in LENGTHS (tails everywhere)."""
    pieces, i = [], 0
    for n in LENGTHS:
        pieces.append(words[i:i + n])
        i += n
        if i >= len(words):
            i = 0
    return pieces


def alias_tables():
    rng = np.random.default_rng(3)
    tables = []
    for size in (1, 2, 3, 7, 1000, (1 << 18) + 3):
        prob = rng.random(size).astype(np.float32)
        prob[rng.random(size) < 0.2] = 0.0
        prob[rng.random(size) < 0.2] = 1.0
        if size > 2:
            prob[1] = np.float32(2.0**-24)  # threshold 1
            prob[2] = np.nextafter(np.float32(1.0), np.float32(0.0))  # threshold 2^24 - 1
        alias = rng.integers(0, size, size=size).astype(np.int32)
        tables.append((prob, alias))
    return tables


def coin_words(prob, rng, count=60):
    """Words that land in column k with a 24-bit coin at T - 1, T, T + 1 for
    that column's threshold T = ceil(prob * 2^24)."""
    size = len(prob)
    out = []
    for k in {0, size - 1} | {int(x) for x in rng.integers(0, size, size=count)}:
        T = math.ceil(float(prob[k]) * 2**24)
        for c in (T - 1, T, T + 1, 0, 2**24 - 1):
            if 0 <= c < 2**24:
                w = -(-((k << 64) + (c << 40)) // size)  # smallest w with that column and coin
                if w <= MASK64:
                    out.append(w)
    return as_words(out)


# ------------------------------------------------------------------ levels


@pytest.mark.parametrize("level", LEVELS)
def test_level_available_or_skipped(level):
    """Every level either runs (its kernels agree with generic on one call) or
    is skipped with the reason; an unsupported level is refused, not run."""
    if not have(level):
        with pytest.raises(ValueError, match="does not support"):
            kernel(level, "uniform", as_words([1, 2, 3]), 10)
        need(level)
    w = as_words([0, 1, MASK64])
    np.testing.assert_array_equal(kernel(level, "uniform", w, 10),
                                  kernel("generic", "uniform", w, 10))


@pytest.mark.parametrize("level", VECTOR_LEVELS)
@pytest.mark.parametrize("R", RANGES)
def test_uniform_level_matches_generic(level, R):
    need(level)
    rng = np.random.default_rng(R % 1000003)
    words = adversarial(R, rng)
    for piece in run_lengths(words) + [words]:
        np.testing.assert_array_equal(kernel(level, "uniform", piece, R),
                                      kernel("generic", "uniform", piece, R), err_msg=f"R={R}")


@pytest.mark.parametrize("R", RANGES)
def test_uniform_generic_matches_oracle(R):
    words = adversarial(R, np.random.default_rng(R % 1000003))
    np.testing.assert_array_equal(kernel("generic", "uniform", words, R), O.bulk_uniform(words, R))


@pytest.mark.parametrize("level", VECTOR_LEVELS)
@pytest.mark.parametrize("R", RANGES)
def test_log_uniform_level_matches_generic(level, R):
    need(level)
    rng = np.random.default_rng(R % 1000003 + 1)
    words = np.concatenate([adversarial(R, rng), near_integer_words(R, rng)])
    lr = math.log1p(R)
    for piece in run_lengths(words) + [words]:
        np.testing.assert_array_equal(kernel(level, "log_uniform", piece, lr, R),
                                      kernel("generic", "log_uniform", piece, lr, R),
                                      err_msg=f"R={R}")


@pytest.mark.parametrize("R", RANGES)
def test_log_uniform_generic_matches_oracle(R):
    """NumPy's exp as the oracle, floor(x) - 1 clamped to [0, R) taken in
    integers: a draw may differ only where exp() lands within a relative
    1e-13 of an integer (an ulp-level tie), and then by at most one plus
    1e-13 x (above 2^53 an ulp of x is several integers)."""
    rng = np.random.default_rng(R % 1000003 + 1)
    words = np.concatenate([adversarial(R, rng), near_integer_words(R, rng)])
    got = kernel("generic", "log_uniform", words, math.log1p(R), R)
    u = (words >> np.uint64(12)).astype(np.float64) * 2.0**-52
    x = np.exp(u * math.log1p(R))
    expect = np.array([min(max(int(v) - 1, 0), R - 1) for v in x], dtype=np.int64)
    assert got.min() >= 0 and got.max() <= R - 1
    bad = got != expect
    near = np.abs(x - np.round(x)) <= 1e-13 * x
    assert np.all(near[bad]), (words[bad][:5], got[bad][:5], expect[bad][:5])
    assert np.all(np.abs(got[bad] - expect[bad]) <= 1 + 1e-13 * x[bad])


def test_log_uniform_edges_exact():
    """u = 0 gives exp = 1 -> 0; the largest u, (2^52 - 1) / 2^52, gives
    floor((R + 1)^u) - 1, just below the top of the range."""
    for R in (1, 2, 10**6, 2**51 - 1, 2**51, 2**63 - 1):
        for level in LEVELS:
            if not have(level):
                continue
            got = kernel(level, "log_uniform", as_words([0, 0xFFF] * 5), math.log1p(R), R)
            np.testing.assert_array_equal(got, 0)
            top = kernel(level, "log_uniform", as_words([MASK64] * 9), math.log1p(R), R)
            e = math.exp((2**52 - 1) / 2**52 * math.log1p(R))  # libm's exp as the oracle
            expect = min(max(int(e) - 1, 0), R - 1)
            assert np.all(top == top[0]) and top[0] <= R - 1, (level, R, top)
            assert abs(int(top[0]) - expect) <= 1 + 1e-13 * e, (level, R, top[0], expect)


@pytest.mark.parametrize("level", VECTOR_LEVELS)
def test_alias_level_matches_generic(level):
    need(level)
    rng = np.random.default_rng(11)
    for prob, alias in alias_tables():
        size = len(prob)
        words = np.concatenate([adversarial(size, rng), coin_words(prob, rng)])
        for piece in run_lengths(words) + [words]:
            np.testing.assert_array_equal(kernel(level, "alias", piece, prob, alias),
                                          kernel("generic", "alias", piece, prob, alias),
                                          err_msg=f"size={size}")


def test_alias_generic_matches_oracle():
    rng = np.random.default_rng(11)
    for prob, alias in alias_tables():
        size = len(prob)
        words = np.concatenate([adversarial(size, rng, n_random=100), coin_words(prob, rng)])
        np.testing.assert_array_equal(kernel("generic", "alias", words, prob, alias),
                                      O.bulk_alias(words, prob, alias), err_msg=f"size={size}")


COUNTERS = [
    (0, 0, 0, 0),
    (1, 2, 3, 4),
    (0xFFFFFFFF - 5, 0, 7, 9),            # low word carries into word 1 inside a call
    (0xFFFFFFF0, 0xFFFFFFFF, 5, 0),       # low 64 bits wrap: carry into word 2
    (0xFFFFFFF0, 0xFFFFFFFF, 0xFFFFFFFF, 9),  # ... and on into word 3
    (0xFFFFFFF0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),  # the 128-bit counter wraps
    (0x12345678, 0x9ABCDEF0, 0x0FEDCBA9, 0x87654321),
]
KEYS = [(0, 0), (0xFFFFFFFF, 0xFFFFFFFF), (0x243F6A88, 0x85A308D3)]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("counter", COUNTERS)
def test_philox_words_level_matches_oracle(level, counter):
    """Every level (generic included) against the Philox4x32-10 oracle, over
    counters whose 32-, 64- and 128-bit parts carry inside one call."""
    need(level)
    for key in KEYS:
        for first_block in (0, 1, 3, 2**32 - 2, 2**63):
            for nblocks in (0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 100, 256):
                got = kernel(level, "philox", np.array(key, np.uint32),
                             np.array(counter, np.uint32), first_block, nblocks)
                start = (O.counter_from_words(*counter) + first_block) % 2**128
                b = O.philox_blocks(key, start, nblocks).astype(np.uint64)
                expect = np.stack([b[:, 0] | (b[:, 1] << np.uint64(32)),
                                   b[:, 2] | (b[:, 3] << np.uint64(32))], axis=1).reshape(-1)
                np.testing.assert_array_equal(got, expect,
                                              err_msg=f"{key} {counter} +{first_block} x{nblocks}")


def test_bulk_kernel_hook_refuses_bad_arguments():
    with pytest.raises(ValueError):
        kernel("sse9", "uniform", as_words([1]), 3)
    with pytest.raises(ValueError):
        kernel("generic", "nope", as_words([1]), 3)
    with pytest.raises(ValueError):
        kernel("generic", "uniform", as_words([1]), 0)
    with pytest.raises(ValueError):
        kernel("generic", "alias", as_words([1]), np.ones(3, np.float32), np.array([0, 1, 3], np.int32))
    with pytest.raises(ValueError):
        kernel("generic", "philox", np.zeros(2, np.uint32), np.zeros(4, np.uint32), 0, -1)
