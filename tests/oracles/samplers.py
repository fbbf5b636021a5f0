"""Independent oracles for the candidate-sampler tests.

Everything here is written from SPEC §2-§4 (TensorFlow 2.21's behaviour) and
from the documented pysampled contract, in pure Python / NumPy. Nothing in this
module imports or calls pysampled, so the tests can compare the package with
it. The oracles themselves are checked against the TF golden file in
test_sampler_golden.py before anything relies on them.

Contents
--------
* Philox4x32-10 (scalar and vectorised over blocks) and TF's seeding.
* ``WordStream``: TF's single-word adapter and its primitives (Rand32,
  Rand64, RandFloat, RandDouble, exact Uniform / Uniform64).
* ``TFKernel``: one TF candidate-sampler op (per-call reservation of
  512*S blocks, unique rejection loop, float32 expected counts, learning).
* Samplers' single draws and float32 probabilities, TF's alias table, TF's
  fixed-unigram weight construction.
* ``bulk_words`` and the documented bulk mappings of ``sample_bulk``.
* Statistics helpers: chi-square goodness of fit with merged bins.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from fractions import Fraction

import numpy as np
from scipy import stats

MAXINT32 = 2**31 - 1
DEFAULT_GRAPH_SEED = 87654321
MASK32 = 0xFFFFFFFF
MASK64 = 2**64 - 1
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85

# A p-value below this fails a statistical test. Every statistical test in
# the suite uses it; with fewer than 100 such tests the whole suite's
# false-failure rate is below 100 * 1e-6 = 1e-4 (and the seeds are fixed,
# so a run is reproducible anyway).
P_THRESHOLD = 1e-6

FLT_MAX = float(np.finfo(np.float32).max)


# ----------------------------------------------------------------- seeds

def kernel_seeds(seed):
    """TF's (seed, seed2) op attributes for the pysampled `seed` argument."""
    if isinstance(seed, tuple):
        g, s = seed[0] % MAXINT32, seed[1] % MAXINT32
    else:
        g, s = DEFAULT_GRAPH_SEED, seed % MAXINT32
    if (g, s) == (0, 0):
        s = MAXINT32
    return g, s


def initial_generator(seed, seed2):
    """Philox key (k0, k1) and 128-bit counter (as an int) of a fresh TF kernel."""
    key = (seed & MASK32, (seed >> 32) & MASK32)
    counter = (seed2 & MASK64) << 64  # words (0, 0, lo32(seed2), hi32(seed2))
    return key, counter


def counter_words(counter):
    return tuple((counter >> (32 * i)) & MASK32 for i in range(4))


def counter_from_words(c0, c1, c2, c3):
    return c0 | (c1 << 32) | (c2 << 64) | (c3 << 96)


# ---------------------------------------------------------------- philox

def philox_block(key, counter):
    """One Philox4x32-10 block (four 32-bit words) at a 128-bit counter."""
    c0, c1, c2, c3 = counter_words(counter)
    k0, k1 = key
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
        k0 = (k0 + W0) & MASK32
        k1 = (k1 + W1) & MASK32
    return c0, c1, c2, c3


def philox_blocks(key, counter, n):
    """Blocks counter, counter+1, ..., counter+n-1 as a uint32 array [n, 4]."""
    lo0 = counter & MASK64
    hi0 = counter >> 64
    idx = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        lo = np.uint64(lo0) + idx
        carry = (lo < np.uint64(lo0)).astype(np.uint64)
        hi = np.uint64(hi0) + carry
        m = np.uint64(MASK32)
        c0, c1, c2, c3 = lo & m, lo >> np.uint64(32), hi & m, hi >> np.uint64(32)
        k0, k1 = key
        for _ in range(10):
            p0 = np.uint64(M0) * c0
            p1 = np.uint64(M1) * c2
            c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & m,
                              (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & m)
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
    return np.stack([c0, c1, c2, c3], axis=1).astype(np.uint32)


class WordStream:
    """TF's single-sample adapter: words 0..3 of each block, in order."""

    def __init__(self, key, counter):
        self.key = key
        self.counter = counter
        self._buf = ()
        self._used = 4

    def next32(self):
        if self._used == 4:
            self._buf = philox_block(self.key, self.counter)
            self.counter = (self.counter + 1) % 2**128
            self._used = 0
        w = self._buf[self._used]
        self._used += 1
        return w

    def next64(self):
        lo = self.next32()
        hi = self.next32()
        return lo | (hi << 32)

    def rand_float(self):
        """f32(1.m) - 1 from 23 low bits: exactly m / 2^23."""
        return (self.next32() & 0x7FFFFF) / 2.0**23

    def rand_double(self):
        x0 = self.next32()
        x1 = self.next32()
        return (((x0 & 0xFFFFF) << 32) | x1) / 2.0**52

    def _uniform(self, n, bits, nxt):
        if n == 0:
            nxt()
            return 0
        if n & (n - 1) == 0:
            return nxt() & (n - 1)
        reject_below = ((2**bits - 1) % n) + 1
        while True:
            w = nxt()
            if w >= reject_below:
                return w % n

    def uniform32(self, n):
        return self._uniform(n, 32, self.next32)

    def uniform64(self, n):
        return self._uniform(n, 64, self.next64)


# ----------------------------------------------------- float32 arithmetic

def _load_libm():
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        f1, f2 = lib.log1pf, lib.expm1f
    except (OSError, AttributeError):
        return None
    for f in (f1, f2):
        f.restype = ctypes.c_float
        f.argtypes = [ctypes.c_float]
    return f1, f2


_LIBM = _load_libm()
# SPEC §3.1: glibc's log1pf/expm1f reproduce TF exactly. Without glibc we
# fall back to NumPy's float32 functions and allow 1 ulp.
EXPECTED_COUNT_ULPS = 0 if _LIBM is not None else 1


def log1pf(x):
    if _LIBM is not None:
        return np.float32(_LIBM[0](float(np.float32(x))))
    return np.log1p(np.float32(x))


def expm1f(x):
    if _LIBM is not None:
        return np.float32(_LIBM[1](float(np.float32(x))))
    return np.expm1(np.float32(x))


def expected_count(p, num_sampled, num_tries):
    """TF's float32 expected count of a value of single-draw probability p."""
    p = np.float32(p)
    if num_tries == num_sampled:
        return np.float32(p * np.float32(num_sampled))
    return np.float32(-expm1f(np.float32(np.float32(num_tries) * log1pf(-p))))


def ulp_distance(a, b):
    """|a - b| in float32 ulps (elementwise, for finite values of one sign)."""
    a = np.asarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    b = np.asarray(b, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.abs(a - b)


def correctly_rounded_f32(text):
    """The float32 nearest to the decimal string (ties to even), exactly."""
    x = Fraction(text.strip())
    if x == 0:
        return np.float32(0.0)
    lo = np.float32(float(x))  # within a few ulps; refine exactly
    cands = set()
    for c in (lo, np.nextafter(lo, np.float32(np.inf)), np.nextafter(lo, np.float32(-np.inf))):
        cands.add(c)
        cands.add(np.nextafter(c, np.float32(np.inf)))
        cands.add(np.nextafter(c, np.float32(-np.inf)))
    best = sorted(cands, key=lambda c: (abs(Fraction(float(c)) - x),
                                        int(np.float32(c).view(np.uint32)) & 1))
    return np.float32(best[0])


# ---------------------------------------------------------------- samplers

def uniform_prob(R):
    return np.float32(1.0 / R)


def log_uniform_prob(k, R):
    """SPEC §3.3: f32(log((k+2)/(k+1)) / log1p(R)), in double (glibc via math)."""
    return np.float32(math.log((k + 2.0) / (k + 1.0)) / math.log1p(R))


def log_uniform_probs(R):
    L = math.log1p(R)
    return np.array([np.float32(math.log((k + 2.0) / (k + 1.0)) / L) for k in range(R)],
                    dtype=np.float32)


def log_uniform_exact(R):
    """The (double) distribution of log-uniform draws, for goodness of fit."""
    k = np.arange(R, dtype=np.float64)
    return (np.log(k + 2.0) - np.log(k + 1.0)) / np.log(R + 1.0)


def log_uniform_interval_prob(a, b, R):
    """P(a <= draw < b) for the log-uniform sampler."""
    return (math.log(b + 1.0) - math.log(a + 1.0)) / math.log(R + 1.0)


def fixed_unigram_weights(unigrams, distortion=1.0, num_reserved_ids=0, num_shards=1, shard=0,
                          correct_reserved_ids=False):
    """SPEC §3.4 steps 1-2: the float32 weight list of one shard."""
    d = float(np.float32(distortion))
    w = []
    for i in range(num_reserved_ids):
        if i % num_shards == shard:
            w.append(np.float32(0.0))
    i = num_reserved_ids if correct_reserved_ids else len(w)  # TF's quirk (§12.15)
    for u in unigrams:
        if i % num_shards == shard:
            w.append(np.float32(math.pow(float(np.float32(u)), d)))
        i += 1
    return np.array(w, dtype=np.float32)


def float32_total(weights):
    """Sequential float32 accumulation (TF's `total += w`)."""
    return np.cumsum(np.asarray(weights, dtype=np.float32), dtype=np.float32)[-1]


def fixed_unigram_probs(weights):
    w = np.asarray(weights, dtype=np.float32)
    return (w / float32_total(w)).astype(np.float32)


def learned_probs(counts):
    c = np.asarray(counts)
    return (c.astype(np.float32) / np.float32(c.sum())).astype(np.float32)


def alias_table(weights):
    """TF's Walker alias table (SPEC §3.4): float32 prob[] and int alt[]."""
    w = np.asarray(weights, dtype=np.float32)
    n = len(w)
    total = 0.0
    for x in w:
        total += float(x)
    nf = np.float32(n)
    pr = [float(np.float32(x * nf)) / total for x in w]
    alt = list(range(n))
    low = [i for i in range(n) if pr[i] < 1.0]
    high = [i for i in range(n) if pr[i] >= 1.0]
    while low and high:
        lo = low.pop()
        hi = high.pop()
        alt[lo] = hi
        pr[hi] -= 1.0 - pr[lo]
        (low if pr[hi] < 1.0 else high).append(hi)
    prob = np.array([np.float32(p) for p in pr], dtype=np.float32)
    for i in low + high:
        prob[i] = np.float32(1.0)
        alt[i] = i
    return prob, np.array(alt, dtype=np.int64)


class UniformDraw:
    def __init__(self, R):
        self.R = R

    def __call__(self, ws):
        return ws.uniform64(self.R)

    def prob(self, v):
        return uniform_prob(self.R)


class LogUniformDraw:
    def __init__(self, R):
        self.R = R
        self.log_range = math.log1p(R)

    def __call__(self, ws):
        return (int(math.exp(ws.rand_double() * self.log_range)) - 1) % self.R

    def prob(self, v):
        return log_uniform_prob(v, self.R)


class FixedUnigramDraw:
    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=np.float32)
        self.n = len(self.weights)
        self.prob_table, self.alt = alias_table(self.weights)
        self.probs = fixed_unigram_probs(self.weights)

    def __call__(self, ws):
        r = ws.rand_float()
        i = ws.uniform32(self.n)
        return i if r < float(self.prob_table[i]) else int(self.alt[i])

    def prob(self, v):
        return self.probs[v]


class LearnedUnigramDraw:
    def __init__(self, R, counts=None):
        self.counts = np.ones(R, dtype=np.int64) if counts is None else np.array(counts, np.int64)

    def __call__(self, ws):
        t = ws.uniform32(int(self.counts.sum()))
        return int(np.searchsorted(np.cumsum(self.counts), t, side="right"))

    def prob(self, v):
        return np.float32(np.float32(self.counts[v]) / np.float32(self.counts.sum()))

    def learn(self, true_classes):
        np.add.at(self.counts, np.asarray(true_classes).reshape(-1), 1)


class TFKernel:
    """One TF candidate-sampler op instance (SPEC §2 'Per call', §3.1)."""

    def __init__(self, draw, seed, seed2):
        self.draw = draw
        self.key, self.counter = initial_generator(seed, seed2)

    def __call__(self, true_classes, num_sampled, unique):
        tc = np.asarray(true_classes, dtype=np.int64)
        ws = WordStream(self.key, self.counter)
        self.counter = (self.counter + 512 * num_sampled) % 2**128
        S = num_sampled
        if not unique:
            ids = [self.draw(ws) for _ in range(S)]
            tries = S
        else:
            ids, seen, tries = [], set(), 0
            while len(ids) < S:
                v = self.draw(ws)
                tries += 1
                if v not in seen:
                    seen.add(v)
                    ids.append(v)
        sec = np.array([expected_count(self.draw.prob(v), S, tries) for v in ids], np.float32)
        tec = np.array([expected_count(self.draw.prob(v), S, tries) for v in tc.reshape(-1)],
                       np.float32).reshape(tc.shape)
        if hasattr(self.draw, "learn"):
            self.draw.learn(tc)
        return np.array(ids, dtype=np.int64), tec, sec, tries


# --------------------------------------------------------------- bulk path

def bulk_words(key, counter, n):
    """The 64-bit words of `sample_bulk(n)` at a generator position: draw i
    uses word pair i % 2 (w0 | w1 << 32, then w2 | w3 << 32) of block
    counter + i // 2."""
    nb = (n + 1) // 2
    b = philox_blocks(key, counter, nb).astype(np.uint64)
    pair0 = b[:, 0] | (b[:, 1] << np.uint64(32))
    pair1 = b[:, 2] | (b[:, 3] << np.uint64(32))
    return np.stack([pair0, pair1], axis=1).reshape(-1)[:n]


def bulk_uniform(words, R):
    return np.array([(int(w) * R) >> 64 for w in words], dtype=np.int64)


def bulk_log_uniform(words, R):
    """floor(exp(u * log(R+1))) - 1 clamped to [0, R), u = (w >> 12) / 2^52.
    Returns the draws and the exp() values (to spot float boundary cases)."""
    u = (words >> np.uint64(12)).astype(np.float64) * 2.0**-52
    x = np.exp(u * math.log1p(R))
    v = np.clip(np.floor(x) - 1.0, 0, R - 1).astype(np.int64)
    return v, x


def bulk_alias(words, prob, alt):
    n = len(prob)
    out = np.empty(len(words), dtype=np.int64)
    for j, w in enumerate(words):
        prod = int(w) * n
        col = prod >> 64
        coin = (prod & MASK64) >> 40
        out[j] = col if coin < float(prob[col]) * 2.0**24 else alt[col]
    return out


def bulk_learned(words, counts):
    total = int(np.sum(counts))
    t = np.array([(int(w) * total) >> 64 for w in words], dtype=np.int64)
    return np.searchsorted(np.cumsum(counts), t, side="right").astype(np.int64)


# -------------------------------------------------------------- statistics

def merge_small_bins(observed, expected, min_expected=5.0):
    """Merge consecutive bins (in the given order) until each expects >= min_expected."""
    obs_out, exp_out = [], []
    o_acc = e_acc = 0.0
    for o, e in zip(observed, expected):
        o_acc += o
        e_acc += e
        if e_acc >= min_expected:
            obs_out.append(o_acc)
            exp_out.append(e_acc)
            o_acc = e_acc = 0.0
    if e_acc > 0 or o_acc > 0:
        if obs_out:
            obs_out[-1] += o_acc
            exp_out[-1] += e_acc
        else:
            obs_out.append(o_acc)
            exp_out.append(e_acc)
    return np.array(obs_out), np.array(exp_out)


def chisquare_pvalue(observed, probs, min_expected=5.0):
    """Goodness-of-fit p-value of bin counts against exact bin probabilities.

    Bins with probability 0 must be empty (asserted) and are dropped; bins
    expecting fewer than `min_expected` are merged with their neighbours.
    """
    observed = np.asarray(observed, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    assert observed.shape == probs.shape
    zero = probs == 0
    assert observed[zero].sum() == 0, "a value of probability 0 was drawn"
    observed, probs = observed[~zero], probs[~zero]
    probs = probs / probs.sum()
    n = observed.sum()
    obs, exp = merge_small_bins(observed, probs * n, min_expected)
    if len(obs) < 2:
        return 1.0
    exp = exp * (obs.sum() / exp.sum())
    return stats.chisquare(obs, exp).pvalue


def binomial_pvalue(k, n, p):
    return stats.binomtest(int(k), int(n), float(p)).pvalue
