"""Distributions of the samplers against exact probabilities.

Frequencies are checked with chi-square goodness-of-fit tests (bins expecting
fewer than 5 draws merged with their neighbours) and exact binomial tests.
Every statistical test fails when its p-value is below
``sampler_oracle.P_THRESHOLD`` = 1e-6; there are fewer than 100 of them in the
suite, so the chance of a false failure is below 1e-4 per run, and the seeds
are fixed so a run is reproducible.

`.probability()` and the expected counts are compared bit for bit with
float32 closed forms written from SPEC §3 in NumPy (see sampler_oracle).
"""
import math

import numpy as np
import pytest

import pysampled
from oracles import samplers as O

P_MIN = O.P_THRESHOLD
NO_TRUE = np.zeros((0, 1), dtype=np.int64)  # empty batch: learned samplers stay put


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def draw_tf(sampler, n_draws, per_call=2000):
    """n_draws TF-path draws with replacement (sample(..., unique=False) calls)."""
    calls = n_draws // per_call
    return np.concatenate([sampler.sample(NO_TRUE, per_call, unique=False)[0]
                           for _ in range(calls)])


def fit_pvalue(draws, probs):
    draws = np.asarray(draws)
    assert draws.min() >= 0 and draws.max() < len(probs)
    return O.chisquare_pvalue(np.bincount(draws, minlength=len(probs)), probs)


def interval_pvalue(draws, edges, interval_prob):
    """Goodness of fit over the bins [edges[i], edges[i+1])."""
    counts = np.histogram(draws, bins=np.asarray(edges, dtype=np.float64))[0]
    # np.histogram's last bin is closed: edges are integers, draws < edges[-1]
    assert counts.sum() == len(draws)
    probs = np.array([interval_prob(a, b) for a, b in zip(edges[:-1], edges[1:])])
    return O.chisquare_pvalue(counts, probs)


def zipf_weights(rs, R, zero_fraction=0.0):
    w = (1.0 / (np.arange(R) + 1.0) ** 1.05 * rs.uniform(0.5, 1.5, R)).astype(np.float32)
    if zero_fraction:
        w[rs.random(R) < zero_fraction] = 0.0
        w[0] = 1.0
    return w


# ------------------------------------------------------------ probability()

@pytest.mark.parametrize("R", [1, 3, 64, 1000, 2**31 - 1, 2**40 + 3])
def test_uniform_probability_closed_form(R):
    ids = np.unique(np.array([0, R // 3, R // 2, R - 1], dtype=np.int64))
    p = pysampled.UniformSampler(R, seed=1).probability(ids)
    assert p.dtype == np.float32 and p.shape == ids.shape
    np.testing.assert_array_equal(bits(p), bits(np.full(len(ids), O.uniform_prob(R))))


@pytest.mark.parametrize("R", [1, 2, 64, 1000, 123457, 2**40])
def test_log_uniform_probability_closed_form(R):
    rs = np.random.default_rng(R)
    ids = np.unique(np.concatenate([np.arange(min(R, 300)), [R - 1],
                                    rs.integers(0, R, 300)])).astype(np.int64)
    p = pysampled.LogUniformSampler(R, seed=1).probability(ids)
    expect = np.array([O.log_uniform_prob(int(k), R) for k in ids], dtype=np.float32)
    np.testing.assert_array_equal(bits(p), bits(expect))
    # shape is kept
    grid = np.zeros((2, 3), dtype=np.int64)
    assert pysampled.LogUniformSampler(R, seed=1).probability(grid).shape == (2, 3)


@pytest.mark.parametrize("distortion", [0.0, 0.75, 1.0, 1.3])
@pytest.mark.parametrize("R", [1, 5, 1000])
def test_fixed_unigram_probability_closed_form(R, distortion):
    rs = np.random.default_rng(R)
    u = rs.gamma(0.5, 100.0, size=R).astype(np.float32)
    u[rs.random(R) < 0.2] = 0
    u[-1] = 3.0
    s = pysampled.FixedUnigramSampler(R, unigrams=u, distortion=distortion, seed=1)
    w = O.fixed_unigram_weights(u, distortion)
    expect = O.fixed_unigram_probs(w)  # w / (sequential float32 total), in float32
    np.testing.assert_array_equal(bits(s.probability(np.arange(R))), bits(expect))
    np.testing.assert_array_equal(s.probability([-1, R, R + 7]), np.zeros(3, np.float32))


def test_fixed_unigram_total_is_sequential_float32():
    """Weights where pairwise and sequential float32 sums differ."""
    w = np.array([1.0] + [2.0**-25] * 4096, dtype=np.float32)
    seq = O.float32_total(w)
    assert seq != np.float32(np.sum(w.astype(np.float64)))  # the test discriminates
    s = pysampled.FixedUnigramSampler(len(w), unigrams=w, seed=1)
    assert bits(s.probability([0]))[0] == bits(np.float32(1.0) / seq)


def test_learned_unigram_probability_after_updates():
    R = 200
    rs = np.random.default_rng(3)
    s = pysampled.LearnedUnigramSampler(R, seed=1)
    counts = np.ones(R, dtype=np.int64)
    np.testing.assert_array_equal(bits(s.probability(np.arange(R))), bits(O.learned_probs(counts)))
    for _ in range(5):
        tc = np.minimum(rs.zipf(1.4, size=(30, 3)) - 1, R - 1)
        s.sample(tc, 4, unique=True)
        counts += np.bincount(tc.reshape(-1), minlength=R)
    np.testing.assert_array_equal(s.counts, counts)
    np.testing.assert_array_equal(bits(s.probability(np.arange(R))), bits(O.learned_probs(counts)))
    np.testing.assert_array_equal(s.probability([-1, R]), np.zeros(2, np.float32))


@pytest.mark.parametrize("cls", [pysampled.UniformSampler, pysampled.LogUniformSampler])
def test_probability_is_zero_outside_range(cls):
    p = cls(10, seed=1).probability([-2, -1, 10, 11])
    np.testing.assert_array_equal(p, np.zeros(4, np.float32))


# ---------------------------------------------------- frequencies, TF path

TF_PATH = {
    # name: (factory, exact double probabilities, draws)
    "uniform_R1": (lambda: pysampled.UniformSampler(1, seed=11), np.ones(1), 2000),
    "uniform_R7": (lambda: pysampled.UniformSampler(7, seed=12), np.full(7, 1 / 7), 70000),
    "uniform_R1000": (lambda: pysampled.UniformSampler(1000, seed=13), np.full(1000, 1e-3), 200000),
    "log_uniform_R64": (lambda: pysampled.LogUniformSampler(64, seed=14),
                        O.log_uniform_exact(64), 100000),
    "log_uniform_R5000": (lambda: pysampled.LogUniformSampler(5000, seed=15),
                          O.log_uniform_exact(5000), 200000),
}


@pytest.mark.parametrize("name", sorted(TF_PATH))
def test_tf_path_frequencies(name):
    factory, probs, n = TF_PATH[name]
    draws = draw_tf(factory(), n, per_call=min(n, 2000))
    assert len(draws) == n
    assert fit_pvalue(draws, probs) > P_MIN


@pytest.mark.parametrize("path", ["tf", "bulk"])
@pytest.mark.parametrize("R", [2**32 + 5, 3 * 2**40 + 1])
def test_uniform_large_range_frequencies(R, path):
    s = pysampled.UniformSampler(R, seed=(R % 97, 1))
    draws = draw_tf(s, 100000) if path == "tf" else s.sample_bulk(200000)
    edges = [int(round(R * i / 64)) for i in range(65)]  # 64 equal-width intervals
    assert interval_pvalue(draws, edges, lambda a, b: (b - a) / R) > P_MIN
    # the low bits are uniform too (a bias-free Uniform64 / multiply-shift)
    assert O.chisquare_pvalue(np.bincount(draws % 16, minlength=16), np.full(16, 1 / 16)) > P_MIN


@pytest.mark.parametrize("path", ["tf", "bulk"])
@pytest.mark.parametrize("R", [10**6, 2**40])
def test_log_uniform_large_range_frequencies(R, path):
    """Head ids one bin each, then log-spaced intervals over the tail."""
    s = pysampled.LogUniformSampler(R, seed=(R % 89, 2))
    draws = draw_tf(s, 100000) if path == "tf" else s.sample_bulk(400000)
    edges = sorted(set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50]
                       + [int(x) for x in np.geomspace(100, R, 40)] + [R]))
    assert interval_pvalue(draws, edges, lambda a, b: O.log_uniform_interval_prob(a, b, R)) > P_MIN


FIXED = {
    # name: (unigrams, distortion)
    "d1": (np.random.default_rng(1).gamma(0.6, 30.0, 300).astype(np.float32), 1.0),
    "d075_with_zeros": (zipf_weights(np.random.default_rng(2), 300, 0.3), 0.75),
    "d0_with_zeros": (zipf_weights(np.random.default_rng(3), 50, 0.5), 0.0),
    "d1_integer_counts": (np.round(np.random.default_rng(4).gamma(0.3, 1000.0, 100))
                          .astype(np.float32) + np.eye(1, 100, 7, dtype=np.float32)[0], 1.0),
}


def _fixed(name, seed):
    u, d = FIXED[name]
    w = O.fixed_unigram_weights(u, d)
    s = pysampled.FixedUnigramSampler(len(u), unigrams=u, distortion=d, seed=seed)
    return s, w.astype(np.float64) / w.astype(np.float64).sum()


@pytest.mark.parametrize("path", ["tf", "bulk"])
@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_unigram_frequencies(name, path):
    s, probs = _fixed(name, seed=(5, len(name)))
    draws = draw_tf(s, 150000) if path == "tf" else s.sample_bulk(400000)
    assert fit_pvalue(draws, probs) > P_MIN  # also asserts zero-weight ids never occur


def test_fixed_unigram_distortion_zero_draws_zero_counts():
    """0^0 = 1: with distortion 0 every id, including zero counts, has P = 1/R."""
    u, _ = FIXED["d0_with_zeros"]
    s, probs = _fixed("d0_with_zeros", seed=3)
    assert (u == 0).sum() > 5
    np.testing.assert_allclose(probs, 1 / len(u))
    draws = s.sample_bulk(20000)
    assert set(np.unique(draws)) == set(range(len(u)))


@pytest.mark.parametrize("path", ["tf_unique_false", "tf_unique_true", "bulk"])
def test_fixed_unigram_single_nonzero_weight(path):
    u = np.zeros(50, dtype=np.float32)
    u[17] = 3.0
    s = pysampled.FixedUnigramSampler(50, unigrams=u, distortion=0.75, seed=8)
    if path == "bulk":
        draws = s.sample_bulk(5001)
    elif path == "tf_unique_false":
        draws = draw_tf(s, 5000, per_call=100)
    else:
        draws, tec, sec = s.sample([[17, 3]], 1, unique=True)
        np.testing.assert_array_equal(tec, [[1.0, 0.0]])
        np.testing.assert_array_equal(sec, [1.0])
    assert np.all(draws == 17)
    np.testing.assert_array_equal(s.probability([17, 16, 18]), [1.0, 0.0, 0.0])


@pytest.mark.parametrize("path", ["tf", "bulk"])
def test_fixed_unigram_two_million_alias_table(path):
    """R = 2*10**6: head ids one bin each, the tail merged into bins of >= 5."""
    R = 2 * 10**6
    w = zipf_weights(np.random.default_rng(6), R, zero_fraction=0.1)
    s = pysampled.FixedUnigramSampler(R, unigrams=w, seed=77)
    probs = w.astype(np.float64) / w.astype(np.float64).sum()
    if path == "tf":
        draws = np.concatenate([s.sample(NO_TRUE, 50000, unique=False)[0] for _ in range(6)])
    else:
        draws = s.sample_bulk(2 * 10**6, num_threads=2)
    counts = np.bincount(draws, minlength=R)
    assert counts[w == 0].sum() == 0
    assert O.chisquare_pvalue(counts, probs) > P_MIN
    # the 20 most likely ids, individually (binomial tests)
    for k in range(20):
        assert O.binomial_pvalue(counts[k], len(draws), probs[k]) > P_MIN / 20


@pytest.mark.parametrize("path", ["tf", "bulk"])
def test_learned_unigram_frequencies_after_updates(path):
    R = 500
    rs = np.random.default_rng(9)
    s = pysampled.LearnedUnigramSampler(R, seed=10)
    counts = np.ones(R, dtype=np.int64)
    for _ in range(20):
        tc = np.minimum(rs.zipf(1.3, size=(64, 2)) - 1, R - 1)
        s.sample(tc, 8, unique=bool(rs.random() < 0.5))
        counts += np.bincount(tc.reshape(-1), minlength=R)
    extra = np.minimum(rs.zipf(1.2, size=3000) - 1, R - 1)
    s.update(extra)
    counts += np.bincount(extra, minlength=R)
    np.testing.assert_array_equal(s.counts, counts)
    draws = draw_tf(s, 150000) if path == "tf" else s.sample_bulk(400000)
    np.testing.assert_array_equal(s.counts, counts)  # empty batches learn nothing
    assert fit_pvalue(draws, counts / counts.sum()) > P_MIN


@pytest.mark.parametrize("path", ["tf", "bulk"])
def test_learned_unigram_counts_beyond_32_bits(path):
    """pysampled keeps 64-bit counts (TF stops learning at 2^31-1): with a total
    above 2^32 the draws still follow counts / total."""
    s = pysampled.LearnedUnigramSampler(3, seed=12)
    counts = np.array([2**40, 3 * 2**40, 2**33 + 1], dtype=np.int64)
    state = s.get_state()
    state["counts"] = counts
    s.set_state(state)
    np.testing.assert_array_equal(bits(s.probability([0, 1, 2])), bits(O.learned_probs(counts)))
    draws = draw_tf(s, 100000) if path == "tf" else s.sample_bulk(200000)
    assert fit_pvalue(draws, counts / counts.sum()) > P_MIN


@pytest.mark.parametrize("make", [
    lambda: pysampled.UniformSampler(1000, seed=21),
    lambda: pysampled.LogUniformSampler(1000, seed=22),
], ids=["uniform", "log_uniform"])
def test_bulk_frequencies_small_ranges(make):
    s = make()
    R = s.range_max
    probs = np.full(R, 1 / R) if isinstance(s, pysampled.UniformSampler) else O.log_uniform_exact(R)
    assert fit_pvalue(s.sample_bulk(500000), probs) > P_MIN


# -------------------------------------------- unique=True and expected counts

def decode_num_tries(p_sampled, sec, S):
    """The num_tries that makes the SPEC formula give these expected counts
    (None if no count of draws does)."""
    p = np.asarray(p_sampled, dtype=np.float32)
    if all(O.ulp_distance(O.expected_count(pi, S, S), e) <= O.EXPECTED_COUNT_ULPS
           for pi, e in zip(p, sec)):
        return S
    # invert 1 - (1 - p)^T on the value with the largest p, then search nearby
    j = int(np.argmax(p))
    est = math.log1p(-float(sec[j])) / math.log1p(-float(p[j])) if sec[j] < 1 else 10 * S
    for T in sorted(range(max(S + 1, int(est) - 4), int(est) + 6), key=lambda t: abs(t - est)):
        if all(O.ulp_distance(O.expected_count(pi, S, T), e) <= O.EXPECTED_COUNT_ULPS
               for pi, e in zip(p, sec)):
            return T
    return None


_LOG_UNIFORM_1000 = O.log_uniform_probs(1000)
UNIQUE = {
    # name: (factory, float32 probability oracle of an id array, exact probs, S, calls)
    "uniform_R64_S8": (lambda: pysampled.UniformSampler(64, seed=31),
                       lambda ids: np.full(len(ids), O.uniform_prob(64)), np.full(64, 1 / 64), 8,
                       3000),
    "log_uniform_R1000_S32": (lambda: pysampled.LogUniformSampler(1000, seed=32),
                              lambda ids: _LOG_UNIFORM_1000[ids], O.log_uniform_exact(1000),
                              32, 3000),
    "fixed_d075_zeros_R64_S8": (
        lambda: pysampled.FixedUnigramSampler(64, unigrams=FIXED["d075_with_zeros"][0][:64],
                                              distortion=0.75, seed=33),
        lambda ids: O.fixed_unigram_probs(
            O.fixed_unigram_weights(FIXED["d075_with_zeros"][0][:64], 0.75))[ids],
        (lambda w: w / w.sum())(O.fixed_unigram_weights(FIXED["d075_with_zeros"][0][:64], 0.75)
                                .astype(np.float64)), 8, 3000),
}


@pytest.mark.parametrize("name", sorted(UNIQUE))
def test_unique_sampling(name):
    """Distinct values, no zero-probability value, first value distributed as
    one draw, expected counts = SPEC formula with one num_tries >= S per call."""
    factory, prob_of, probs, S, calls = UNIQUE[name]
    s = factory()
    R = s.range_max
    firsts = np.empty(calls, dtype=np.int64)
    tc = np.array([[0, R - 1], [1, 2]], dtype=np.int64)
    tries_seen = set()
    for i in range(calls):
        ids, tec, sec = s.sample(tc, S, unique=True)
        assert len(np.unique(ids)) == S
        assert np.all(probs[ids] > 0)
        firsts[i] = ids[0]
        if i >= 300:  # expected counts: the first 300 calls (the slow part)
            continue
        T = decode_num_tries(prob_of(ids), sec, S)
        assert T is not None, f"call {i}: no num_tries explains {sec}"
        tries_seen.add(T == S)
        expect_tec = np.array([O.expected_count(p, S, T) for p in prob_of(tc.reshape(-1))],
                              dtype=np.float32).reshape(tc.shape)
        assert O.ulp_distance(tec, expect_tec).max() <= O.EXPECTED_COUNT_ULPS
    if name != "log_uniform_R1000_S32":  # there P(no rejection) is tiny (p0 = 0.1, S = 32)
        assert tries_seen == {True, False}  # both branches of the formula were exercised
    assert fit_pvalue(firsts, probs) > P_MIN


def test_unique_no_rejection_gives_p_times_s():
    """R = 10**9, S = 5: (with this seed) no draw is rejected, so every expected
    count is exactly f32(p * S), the branch that can exceed 1."""
    s = pysampled.UniformSampler(10**9, seed=41)
    p = O.uniform_prob(10**9)
    for _ in range(50):
        ids, tec, sec = s.sample([[0, 5]], 5, unique=True)
        assert len(set(ids.tolist())) == 5
        np.testing.assert_array_equal(bits(sec), bits(np.full(5, np.float32(p * np.float32(5)))))
        np.testing.assert_array_equal(bits(tec), bits(np.full((1, 2), np.float32(p * np.float32(5)))))


def test_unique_expected_count_can_exceed_one():
    """SPEC §3.7: log-uniform R=64, S=8 reports p0*S = 1.33 for class 0 when no
    draw is rejected."""
    s = pysampled.LogUniformSampler(64, seed=42)
    p0 = O.log_uniform_prob(0, 64)
    values = [s.sample([[0]], 8, unique=True)[1][0, 0] for _ in range(400)]
    assert np.float32(p0 * np.float32(8)) in values
    assert np.float32(p0 * np.float32(8)) > 1


@pytest.mark.parametrize("R", [5, 20])
def test_unique_whole_range_rejection(R):
    """S = R: every value is drawn. A call without rejection has probability
    R!/R^R (4 % for R=5, 2e-8 for R=20); otherwise the expected counts follow
    -expm1(T log1p(-1/R)) with T > S."""
    s = pysampled.UniformSampler(R, seed=43)
    p = O.uniform_prob(R)
    tries = []
    for _ in range(100):
        ids, tec, sec = s.sample([[0]], R, unique=True)
        assert sorted(ids.tolist()) == list(range(R))
        T = decode_num_tries(np.full(R, p), sec, R)
        assert T is not None and T >= R
        tries.append(T)
        assert np.all(sec == sec[0]) and tec[0, 0] == sec[0]
    if R == 20:
        assert min(tries) > R
    # E[T] = R * H_R (coupon collector); T > R in most calls
    assert sum(t > R for t in tries) > 80


def test_unique_ordered_pairs_and_num_tries_exact_distribution():
    """Fixed unigram over 3 values with S=2 (unique): the ordered pair (a, b)
    and the number of draws T have P(a, b, T=2+j) = p_a * p_a^j * p_b.
    Chi-square over (a, b, min(j, 4))."""
    u = np.array([6.0, 3.0, 1.0], dtype=np.float32)
    s = pysampled.FixedUnigramSampler(3, unigrams=u, seed=44)
    p = u.astype(np.float64) / u.sum()
    pf = O.fixed_unigram_probs(u)
    J = 4
    cells = {}
    for a in range(3):
        for b in range(3):
            if a != b:
                for j in range(J + 1):
                    pj = p[a] ** j if j < J else p[a] ** J / (1 - p[a])
                    cells[(a, b, j)] = p[a] * pj * p[b]
    assert abs(sum(cells.values()) - 1) < 1e-12
    keys = sorted(cells)
    observed = dict.fromkeys(keys, 0)
    for _ in range(6000):
        ids, _, sec = s.sample(NO_TRUE, 2, unique=True)
        T = decode_num_tries(pf[ids], sec, 2)
        assert T is not None
        observed[(int(ids[0]), int(ids[1]), min(T - 2, J))] += 1
    pval = O.chisquare_pvalue([observed[k] for k in keys], [cells[k] for k in keys])
    assert pval > P_MIN


@pytest.mark.parametrize("make,prob", [
    (lambda: pysampled.UniformSampler(100, seed=51), lambda ids: np.full(len(ids), O.uniform_prob(100))),
    (lambda: pysampled.LogUniformSampler(100, seed=52), lambda ids: O.log_uniform_probs(100)[ids]),
], ids=["uniform", "log_uniform"])
def test_non_unique_expected_counts_are_p_times_s(make, prob):
    s = make()
    tc = np.array([[0, 99, 5], [7, 7, 1]], dtype=np.int64)
    for S in (1, 3, 100, 333):
        ids, tec, sec = s.sample(tc, S, unique=False)
        np.testing.assert_array_equal(bits(sec), bits(prob(ids) * np.float32(S)))
        np.testing.assert_array_equal(bits(tec),
                                      bits((prob(tc.reshape(-1)) * np.float32(S)).reshape(tc.shape)))
