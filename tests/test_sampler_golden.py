"""Bit-exact replay of TensorFlow's candidate-sampler streams.

Two independent sources of truth:

* ``tests/data/tf_sampler_stats.npz``: 10 configurations run through TF 2.21
  for 20 000 calls each (first 200 calls raw, statistics for all calls).
  For non-learned configs every call got ``true_classes = arange(R)[None, :]``
  (num_true = R; ``tec_class0[i]`` is the true expected count of class 0 in
  call i). For learned configs ``true_stream[i]`` (16 ids) were call i's true
  classes; both the [1, 16] and [16, 1] layouts reproduce TF, since learning
  counts every true class whatever the layout.
* ``sampler_oracle``: a pure-Python model of SPEC §2-§4 (Philox, TF's word
  adapter, rejection loop, float32 expected counts). It is first checked
  against the golden file here, then used to replay configurations the file
  does not cover (other ranges, seeds, unigram set-ups, generator positions).
"""
import json
import pathlib

import numpy as np
import pytest

import pysampled
from oracles import samplers as O

GOLDEN_PATH = pathlib.Path(__file__).parent / "data" / "tf_sampler_stats.npz"
_NPZ = np.load(GOLDEN_PATH)
CONFIGS = json.loads(str(_NPZ["index"]))
NON_LEARNED = [c for c in CONFIGS if not c.startswith("learned")]
LEARNED = [c for c in CONFIGS if c.startswith("learned")]
_CACHE = {}


def golden(name):
    """All arrays of one config (decompressed once) plus its parsed meta."""
    if name not in _CACHE:
        g = {k.split("/", 1)[1]: _NPZ[k] for k in _NPZ.files if k.startswith(name + "/")}
        g["meta"] = json.loads(str(g["meta"]))
        _CACHE[name] = g
    return _CACHE[name]


def test_golden_file_is_tf_2_21():
    assert str(_NPZ["tf_version"]) == "2.21.0"
    assert len(CONFIGS) == 10


def seeds_of(g):
    return (g["meta"]["seed"], g["meta"]["seed2"])


def make_class_sampler(g):
    m = g["meta"]
    R, seed = m["R"], seeds_of(g)
    kind = m["sampler"]
    if kind == "uniform":
        return pysampled.UniformSampler(R, seed=seed)
    if kind == "log_uniform":
        return pysampled.LogUniformSampler(R, seed=seed)
    if kind == "fixed_unigram":
        return pysampled.FixedUnigramSampler(R, unigrams=g["unigrams"],
                                             distortion=m["distortion"], seed=seed)
    return pysampled.LearnedUnigramSampler(R, seed=seed)


def make_function_caller(g, num_true):
    m = g["meta"]
    R, n, unique, seed = m["R"], m["n"], m["unique"], seeds_of(g)
    kind = m["sampler"]
    if kind == "fixed_unigram":
        return lambda tc: pysampled.fixed_unigram_candidate_sampler(
            tc, num_true, n, unique, R, unigrams=g["unigrams"], distortion=m["distortion"],
            seed=seed)
    fn = getattr(pysampled, f"{kind}_candidate_sampler")
    return lambda tc: fn(tc, num_true, n, unique, R, seed=seed)


def true_classes_for(g, i, layout="row"):
    m = g["meta"]
    if "true_stream" in g:
        ids = g["true_stream"][i]
        return ids.reshape(1, -1) if layout == "row" else ids.reshape(-1, 1)
    return np.arange(m["R"], dtype=np.int64).reshape(1, -1)


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


@pytest.fixture
def fresh_cache():
    pysampled.reset_sampler_cache()
    yield
    pysampled.reset_sampler_cache()


# ----------------------------------------------------------- the oracle itself

@pytest.mark.parametrize("name", CONFIGS)
def test_oracle_model_reproduces_tf(name):
    """The pure-Python SPEC model reproduces TF's first calls (validates the oracle)."""
    g = golden(name)
    m = g["meta"]
    R = m["R"]
    if m["sampler"] == "uniform":
        draw = O.UniformDraw(R)
    elif m["sampler"] == "log_uniform":
        draw = O.LogUniformDraw(R)
    elif m["sampler"] == "fixed_unigram":
        draw = O.FixedUnigramDraw(O.fixed_unigram_weights(g["unigrams"], m["distortion"]))
    else:
        draw = O.LearnedUnigramDraw(R)
    kernel = O.TFKernel(draw, *seeds_of(g))
    for i in range(25):
        if "true_stream" in g:
            tc = true_classes_for(g, i, "column")
        else:  # TF passed arange(R); class 0's count is all the file keeps
            tc = np.arange(8, dtype=np.int64).reshape(1, 8)
        ids, tec, sec, tries = kernel(tc, m["n"], m["unique"])
        np.testing.assert_array_equal(ids, g["first_ids"][i])
        np.testing.assert_array_equal(bits(sec), bits(g["first_sec"][i]))
        if "num_tries" in g:
            assert tries == g["num_tries"][i]
            assert bits(tec[0, 0]) == bits(g["tec_class0"][i])


@pytest.mark.parametrize("name", NON_LEARNED)
def test_oracle_expected_count_formula_matches_tf_for_all_calls(name):
    """SPEC §3.1 expected-count formula (float32 glibc log1pf/expm1f) applied to
    TF's own num_tries reproduces TF's tec_class0 for all 20 000 calls."""
    g = golden(name)
    m = g["meta"]
    p0 = O.FixedUnigramDraw(O.fixed_unigram_weights(g["unigrams"], m["distortion"])).prob(0) \
        if m["sampler"] == "fixed_unigram" else \
        (O.uniform_prob(m["R"]) if m["sampler"] == "uniform" else O.log_uniform_prob(0, m["R"]))
    tries = g["num_tries"]
    table = {int(t): O.expected_count(p0, m["n"], int(t)) for t in np.unique(tries)}
    expect = np.array([table[int(t)] for t in tries], dtype=np.float32)
    diff = O.ulp_distance(expect, g["tec_class0"])
    assert diff.max() <= O.EXPECTED_COUNT_ULPS
    if not m["unique"]:
        assert np.all(tries == m["n"])


# ------------------------------------------------------------- golden replay

@pytest.mark.parametrize("api", ["class", "function"])
@pytest.mark.parametrize("name", CONFIGS)
def test_golden_first_200_calls_bit_exact(name, api, fresh_cache):
    g = golden(name)
    m = g["meta"]
    if api == "class":
        s = make_class_sampler(g)
        call = lambda tc: s.sample(tc, m["n"], unique=m["unique"])  # noqa: E731
    else:
        call = make_function_caller(g, true_classes_for(g, 0).shape[1])
    for i in range(200):
        sampled, tec, sec = call(true_classes_for(g, i))
        assert sampled.dtype == np.int64 and sec.dtype == np.float32 and tec.dtype == np.float32
        np.testing.assert_array_equal(sampled, g["first_ids"][i], err_msg=f"call {i}")
        np.testing.assert_array_equal(bits(sec), bits(g["first_sec"][i]), err_msg=f"call {i}")


@pytest.mark.parametrize("layout", ["row", "column"])
@pytest.mark.parametrize("name", LEARNED)
def test_golden_learned_layouts_agree_with_tf(name, layout, fresh_cache):
    """true_stream as [1, 16] (num_true=16) or [16, 1] (num_true=1): both are TF."""
    g = golden(name)
    num_true = 16 if layout == "row" else 1
    call = make_function_caller(g, num_true)
    for i in range(200):
        sampled, tec, sec = call(true_classes_for(g, i, layout))
        assert tec.shape == ((1, 16) if layout == "row" else (16, 1))
        np.testing.assert_array_equal(sampled, g["first_ids"][i], err_msg=f"call {i}")
        np.testing.assert_array_equal(bits(sec), bits(g["first_sec"][i]), err_msg=f"call {i}")


def _replay_all(g, call):
    """Run all golden calls; return the statistics the golden file holds."""
    m = g["meta"]
    R = m["R"]
    count = np.zeros(R, dtype=np.int64)
    incl = np.zeros(R, dtype=np.int64)
    distinct = np.empty(m["calls"], dtype=np.int64)
    tec0 = np.empty(m["calls"], dtype=np.float32)
    tec_sum = np.zeros(R, dtype=np.float64)
    learned = "true_stream" in g
    tc = true_classes_for(g, 0)
    for i in range(m["calls"]):
        if learned:
            tc = g["true_stream"][i].reshape(1, -1)
        sampled, tec, _ = call(tc)
        c = np.bincount(sampled, minlength=R)
        count += c
        present = c > 0
        incl += present
        distinct[i] = np.count_nonzero(present)
        if not learned:
            tec0[i] = tec[0, 0]
            tec_sum += tec[0]
    return count, incl, distinct, tec0, tec_sum / m["calls"]


@pytest.mark.parametrize("api", ["class", "function"])
@pytest.mark.parametrize("name", CONFIGS)
def test_golden_all_20000_calls_exact(name, api, fresh_cache):
    """Per-class counts, inclusion counts and distinct counts over all 20 000
    calls, and (non-learned) class 0's true expected count in every call."""
    g = golden(name)
    m = g["meta"]
    if api == "class":
        s = make_class_sampler(g)
        call = lambda tc: s.sample(tc, m["n"], unique=m["unique"])  # noqa: E731
    else:
        call = make_function_caller(g, true_classes_for(g, 0).shape[1])
    count, incl, distinct, tec0, mean_tec = _replay_all(g, call)
    np.testing.assert_array_equal(count, g["count"])
    np.testing.assert_array_equal(incl, g["incl"])
    np.testing.assert_array_equal(distinct, g["distinct"])
    if "tec_class0" in g:
        np.testing.assert_array_equal(bits(tec0), bits(g["tec_class0"]))
        np.testing.assert_allclose(mean_tec, g["mean_true_ec"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", NON_LEARNED)
def test_golden_num_tries_all_calls(name):
    """num_tries of every call. It is not part of the public output, so this
    goes through the C++ stream the class wraps (`_stream.sample` returns it
    after the same three outputs)."""
    g = golden(name)
    m = g["meta"]
    s = make_class_sampler(g)
    tc = true_classes_for(g, 0)
    tries = np.array([s._stream.sample(tc, m["n"], m["unique"])[3] for _ in range(m["calls"])])
    np.testing.assert_array_equal(tries, g["num_tries"])


@pytest.mark.parametrize("name", CONFIGS)
def test_golden_probabilities_match_theory(name):
    """`.probability` agrees with the golden file's double-precision theory
    (float32 rounding; for fixed unigram also float32 weights and total, so a
    few ulps). The exact float32 values are checked in test_sampler_stats."""
    g = golden(name)
    p = make_class_sampler(g).probability(np.arange(g["meta"]["R"]))
    rtol = 2**-23 if g["meta"]["sampler"] != "fixed_unigram" else 2e-6
    np.testing.assert_allclose(p, g["p_theory"], rtol=rtol, atol=0)


# ---------------------------------------- replay of configurations beyond the file

def _compare_with_model(sampler, kernel, calls, make_tc, num_sampled, unique):
    for i in range(calls):
        tc = make_tc(i)
        exp_ids, exp_tec, exp_sec, exp_tries = kernel(tc, num_sampled, unique)
        ids, tec, sec = sampler.sample(tc, num_sampled, unique=unique)
        np.testing.assert_array_equal(ids, exp_ids, err_msg=f"call {i}")
        np.testing.assert_array_equal(bits(sec), bits(exp_sec), err_msg=f"call {i}")
        np.testing.assert_array_equal(bits(tec), bits(exp_tec), err_msg=f"call {i}")


UNIFORM_CASES = [
    # (R, S, unique, seed)
    (1, 1, True, 5),
    (2, 2, True, 6),
    (3, 3, True, 7),  # must draw every value: rejection almost surely
    (7, 5, False, (1, 2)),
    (1000, 40, True, 123),
    (2**31 - 1, 8, True, (2**40, -3)),
    (2**32 + 5, 8, False, 99),  # 64-bit exact-uniform rejection threshold
    (3 * 2**40 + 1, 6, True, 100),
    (2**62, 6, False, 101),  # power of two: a mask
    (2**63 - 1, 6, True, 102),  # the largest int64 range
]


@pytest.mark.parametrize("R,S,unique,seed", UNIFORM_CASES)
def test_uniform_stream_matches_model(R, S, unique, seed):
    s = pysampled.UniformSampler(R, seed=seed)
    k = O.TFKernel(O.UniformDraw(R), *O.kernel_seeds(seed))
    tc = np.array([[0], [R - 1], [R // 2]], dtype=np.int64)
    _compare_with_model(s, k, 6, lambda i: tc, S, unique)


LOG_UNIFORM_CASES = [
    (1, 1, True, 1),
    (2, 2, True, 2),
    (10, 10, True, 3),
    (10, 30, False, 4),
    (10**6, 64, True, (7, 8)),
    (2**40, 16, False, 5),
    (2**40, 16, True, 6),
    (2**63 - 1, 8, True, 7),
]


@pytest.mark.parametrize("R,S,unique,seed", LOG_UNIFORM_CASES)
def test_log_uniform_stream_matches_model(R, S, unique, seed):
    s = pysampled.LogUniformSampler(R, seed=seed)
    k = O.TFKernel(O.LogUniformDraw(R), *O.kernel_seeds(seed))
    tc = np.array([[0, R - 1]], dtype=np.int64)
    _compare_with_model(s, k, 6, lambda i: tc, S, unique)


def _random_fixed_config(rs):
    n = int(rs.integers(1, 300))
    u = rs.gamma(0.7, 50.0, size=n).astype(np.float32)
    u[rs.random(n) < 0.2] = 0.0
    u = np.round(u) if rs.random() < 0.5 else u
    cfg = dict(
        distortion=float(rs.choice([0.0, 0.5, 0.75, 1.0, 1.5])),
        num_reserved_ids=int(rs.choice([0, 0, 1, 3])),
        num_shards=int(rs.choice([1, 1, 2, 3])),
        correct_reserved_ids=bool(rs.random() < 0.3),
    )
    cfg["shard"] = int(rs.integers(0, cfg["num_shards"]))
    return u, cfg


@pytest.mark.parametrize("case", range(12))
def test_fixed_unigram_stream_matches_model(case):
    rs = np.random.default_rng(1000 + case)
    while True:
        u, cfg = _random_fixed_config(rs)
        w = O.fixed_unigram_weights(u, **cfg)
        if len(w) and w.sum() > 0:
            break
    support = int((w > 0).sum())
    S = int(rs.integers(1, min(support, 20) + 1))
    unique = bool(rs.random() < 0.6)
    seed = int(rs.integers(0, 2**40))
    s = pysampled.FixedUnigramSampler(len(w), unigrams=u, seed=seed, **cfg)
    np.testing.assert_array_equal(bits(s.weights), bits(w))
    k = O.TFKernel(O.FixedUnigramDraw(w), *O.kernel_seeds(seed))
    tc = np.arange(len(w), dtype=np.int64).reshape(-1, 1)
    _compare_with_model(s, k, 8, lambda i: tc, S, unique)


@pytest.mark.parametrize("R,S,unique,B,NT", [(5, 2, True, 3, 2), (64, 8, False, 4, 4),
                                               (300, 20, True, 16, 1), (1, 1, True, 2, 3)])
def test_learned_unigram_stream_matches_model(R, S, unique, B, NT):
    rs = np.random.default_rng(R)
    seed = (R, 17)
    s = pysampled.LearnedUnigramSampler(R, seed=seed)
    draw = O.LearnedUnigramDraw(R)
    k = O.TFKernel(draw, *O.kernel_seeds(seed))
    # skewed true classes so the learned distribution moves far from uniform
    stream = np.minimum(rs.zipf(1.5, size=(40, B, NT)) - 1, R - 1).astype(np.int64)
    _compare_with_model(s, k, 40, lambda i: stream[i], S, unique)
    np.testing.assert_array_equal(s.counts, draw.counts)


@pytest.mark.parametrize("seed", [0, 1, 2**31 - 2, 2**31 - 1, 2**31, 2**63 + 11, -5,
                                  (0, 0), (0, 2**31 - 1), (2**31 - 1, 0), (-1, -1),
                                  (12345, 2**64 + 3), (2**31 - 1, 2**31 - 1)])
def test_seed_contract_matches_model(seed):
    """int s -> TF seeds (87654321, s mod 2^31-1); (g, s) -> (g mod M, s mod M);
    (0, 0) -> (0, 2^31-1)."""
    s = pysampled.LogUniformSampler(1000, seed=seed)
    expected_seeds = O.kernel_seeds(seed)
    assert tuple(s.kernel_seeds) == expected_seeds
    k = O.TFKernel(O.LogUniformDraw(1000), *expected_seeds)
    tc = np.zeros((1, 1), dtype=np.int64)
    _compare_with_model(s, k, 3, lambda i: tc, 16, True)


@pytest.mark.parametrize("counter_words", [
    (0xFFFFFFF0, 0xFFFFFFFF, 5, 0),            # low 64 bits wrap: carry into word 2
    (0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF, 9),   # carry through word 2 into word 3
    (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),  # 128-bit wrap to zero
])
def test_stream_across_counter_carries_matches_model(counter_words):
    """A generator state near a 64/96/128-bit counter boundary (via set_state)."""
    seed = (3, 4)
    s = pysampled.UniformSampler(10**9 + 7, seed=seed)
    state = s.get_state()
    key = tuple(state["generator"][:2])
    state["generator"] = key + tuple(counter_words)
    s.set_state(state)
    k = O.TFKernel(O.UniformDraw(10**9 + 7), 0, 0)
    k.key, k.counter = key, O.counter_from_words(*counter_words)
    # 40 two-word draws span 20 blocks: the first call crosses the boundary
    tc = np.zeros((1, 1), dtype=np.int64)
    _compare_with_model(s, k, 3, lambda i: tc, 40, False)


# ------------------------------------------------------------ bulk path, exact

def _fresh_position(seed):
    return O.initial_generator(*O.kernel_seeds(seed))


def _bulk_expected(kind, words, info):
    if kind == "uniform":
        return O.bulk_uniform(words, info)
    if kind == "learned":
        return O.bulk_learned(words, info)
    prob, alt = info
    return O.bulk_alias(words, prob, alt)


BULK_EXACT = [
    ("uniform", 1), ("uniform", 3), ("uniform", 1000), ("uniform", 2**32 - 1),
    ("uniform", 2**32 + 1), ("uniform", 5 * 2**50 + 3),
    ("fixed", 1), ("fixed", 7), ("fixed", 500),
    ("learned", 1), ("learned", 37),
]


@pytest.mark.parametrize("kind,R", BULK_EXACT)
@pytest.mark.parametrize("n", [1, 2, 1001])
def test_bulk_draws_follow_documented_mapping(kind, R, n):
    """sample_bulk's draw i = documented function of word pair i%2 of block i//2
    (checked on a fresh stream, after a TF-path call, and after a bulk call)."""
    seed = (R % 1000, n)
    rs = np.random.default_rng(R + n)
    if kind == "uniform":
        s = pysampled.UniformSampler(R, seed=seed)
        info = R
    elif kind == "fixed":
        u = rs.gamma(0.5, 10.0, size=R).astype(np.float32)
        u[rs.random(R) < 0.3] = 0
        u[0] = 1.5
        s = pysampled.FixedUnigramSampler(R, unigrams=u, seed=seed)
        info = O.alias_table(O.fixed_unigram_weights(u))
    else:
        s = pysampled.LearnedUnigramSampler(R, seed=seed)
        updates = np.minimum(rs.zipf(1.3, size=500) - 1, R - 1)
        s.update(updates)
        info = 1 + np.bincount(updates, minlength=R)
    key, counter = _fresh_position(seed)
    got = s.sample_bulk(n)
    np.testing.assert_array_equal(got, _bulk_expected(kind, O.bulk_words(key, counter, n), info))
    counter += (n + 1) // 2
    # a TF-path call advances the generator by 512*S blocks
    tc = np.zeros((1, 1), dtype=np.int64)
    s.sample(tc, 3, unique=False)
    counter += 512 * 3
    if kind == "learned":
        info = info.copy()
        info[0] += 1
    got = s.sample_bulk(n)
    np.testing.assert_array_equal(got, _bulk_expected(kind, O.bulk_words(key, counter, n), info))


@pytest.mark.parametrize("R", [1, 2, 1000, 10**6, 2**31 - 1, 2**45])
def test_bulk_log_uniform_follows_documented_mapping(R):
    """floor(exp(u log(R+1))) - 1, u = (w >> 12) / 2^52. pysampled uses its own
    exp(); a draw may differ from NumPy's only where exp() lands within a
    relative 1e-13 of an integer (an ulp-level tie), and then by one."""
    seed = 42
    n = 20001
    s = pysampled.LogUniformSampler(R, seed=seed)
    key, counter = _fresh_position(seed)
    expect, x = O.bulk_log_uniform(O.bulk_words(key, counter, n), R)
    got = s.sample_bulk(n)
    bad = got != expect
    near_integer = np.abs(x - np.round(x)) <= 1e-13 * x
    assert np.all(near_integer[bad]), np.nonzero(bad)[0][:10]
    assert np.all(np.abs(got[bad] - expect[bad]) <= 1)
    assert bad.sum() <= 2


@pytest.mark.parametrize("counter_words", [
    (0xFFFFFFF0, 0xFFFFFFFF, 5, 0),
    (0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF, 9),
    (0xFFFFFF00, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
])
def test_bulk_across_counter_carries(counter_words):
    R = 1000
    s = pysampled.UniformSampler(R, seed=(1, 1))
    st = s.get_state()
    key = tuple(st["generator"][:2])
    st["generator"] = key + tuple(counter_words)
    s.set_state(st)
    n = 3000  # 1500 blocks: crosses the boundary
    words = O.bulk_words(key, O.counter_from_words(*counter_words), n)
    np.testing.assert_array_equal(s.sample_bulk(n, num_threads=2), O.bulk_uniform(words, R))
