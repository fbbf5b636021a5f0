"""TensorFlow's own unit tests for the candidate-sampling ops, run against pysampled.

Each test mirrors one TF test, named after it, with TF's inputs and expected
numbers (facts); the code is this project's. Sources (tensorflow/tensorflow):

* ``tensorflow/python/ops/nn_test.py``, class ``ComputeSampledLogitsTest``
  (TF 2.x revision) and its TF 1.x revision with ``_ComputeSampledLogitsNP``
  (tests named ``test_v1_...``). TF's inputs come from ``np.random.seed(0)``;
  the legacy ``RandomState(0)`` below draws the same values in the same
  order. The expected logits/losses are computed here with NumPy from their
  definitions, as TF's tests do.
* ``tensorflow/python/kernel_tests/random/candidate_sampler_ops_test.py``,
  class ``RangeSamplerOpsTest``.
* ``tensorflow/core/kernels/range_sampler_test.cc``, ``RangeSamplerTest``
  (C++ samplers, exercised through the pysampled sampler classes).
* ``tensorflow/core/ops/candidate_sampling_ops_test.cc`` (shape functions:
  checked as the output shapes and errors of the calls).
* r1.15 ``tensorflow/contrib/nn/python/ops/sampling_ops_test.py``,
  ``RankSampledSoftmaxLossTest``.

TF 1.x graph behaviour (a fresh stream for every ``Session.run`` with a
fixed seed) is tested through its documented equivalents:
``reset_sampler_cache()`` for the functions, a sampler object's ``reset()``
or a fresh object. Not ported (no pysampled counterpart): bfloat16
(``testSampledSoftmaxLossBf16``, another change), ``RangeSampler::
SampleBatchGetExpectedCountAvoid`` (``Avoid``; not in TF's Python API),
``testTrueCandidates`` (tests TF's reshape only).
"""
import os

import numpy as np
import pytest

import pysampled as ps

FLT_MAX = float(np.finfo(np.float32).max)


# ======================================================================
# tensorflow/python/ops/nn_test.py :: ComputeSampledLogitsTest (TF 2.x)
# ======================================================================
NUM_CLASSES, BATCH, DIM = 5, 3, 10
SAMPLED = [1, 0, 2, 3]


def _generate(rs, labels, sampled, num_true, subtract_log_q):
    """TF's _GenerateTestData: inputs from `rs`, expected logits from their definition."""
    weights = rs.randn(NUM_CLASSES, DIM).astype(np.float32)
    biases = rs.randn(NUM_CLASSES).astype(np.float32)
    hidden = rs.randn(BATCH, DIM).astype(np.float32)
    true_exp = np.full([BATCH, 1], 0.5, dtype=np.float32)   # [B, 1] for every num_true
    sampled_exp = np.full([len(sampled)], 0.5, dtype=np.float32)
    labels = np.asarray(labels).reshape(BATCH, num_true)
    w64, b64, x64 = (a.astype(np.float64) for a in (weights, biases, hidden))
    true_logits = np.einsum("bd,bkd->bk", x64, w64[labels]) + b64[labels]
    sampled_logits = x64 @ w64[sampled].T + b64[sampled]
    if subtract_log_q:
        true_logits -= np.log(0.5)
        sampled_logits -= np.log(0.5)
    exp_logits = np.concatenate([true_logits, sampled_logits], axis=1)
    exp_labels = np.hstack([np.full(true_logits.shape, 1.0 / num_true),
                            np.zeros(sampled_logits.shape)])
    return weights, biases, hidden, (sampled, true_exp, sampled_exp), exp_logits, exp_labels


def _div_shards(a, num_shards):
    """TF's fixed_size_partitioner layout: contiguous, the first shards one longer."""
    q, r = divmod(a.shape[0], num_shards)
    sizes = [q + (1 if p < r else 0) for p in range(num_shards)]
    return np.split(a, np.cumsum(sizes)[:-1])


def _logits_cases(subtract_log_q):
    rs = np.random.RandomState(0)
    for num_true in range(1, 5):
        labels = rs.randint(low=0, high=NUM_CLASSES, size=BATCH * num_true)
        yield num_true, labels, _generate(rs, labels, SAMPLED, num_true, subtract_log_q)


def _sampled_logits(w, b, labels, x, num_true, sv, subtract_log_q, rah, **kw):
    return ps.compute_sampled_logits(
        weights=w, biases=b, labels=np.asarray(labels, np.int64).reshape(BATCH, num_true),
        inputs=x, num_sampled=4, num_classes=NUM_CLASSES, num_true=num_true,
        sampled_values=sv, subtract_log_q=subtract_log_q, remove_accidental_hits=rah,
        partition_strategy="div", **kw)


def test_ComputeSampledLogitsTest_testShapes():
    for num_true, labels, (w, b, x, sv, exp_logits, exp_labels) in _logits_cases(False):
        got_logits, got_labels = _sampled_logits(w, b, labels, x, num_true, sv, False, False)
        assert got_logits.shape == exp_logits.shape
        assert got_labels.shape == exp_labels.shape


def test_ComputeSampledLogitsTest_testBasic():
    for num_true, labels, (w, b, x, sv, exp_logits, exp_labels) in _logits_cases(False):
        got_logits, got_labels = _sampled_logits(w, b, labels, x, num_true, sv, False, False)
        np.testing.assert_allclose(got_logits, exp_logits, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(got_labels, exp_labels, rtol=1e-3, atol=1e-6)


def test_ComputeSampledLogitsTest_testAccidentalHitRemoval():
    for num_true, labels, (w, b, x, sv, _, _) in _logits_cases(False):
        got_logits, _ = _sampled_logits(w, b, labels, x, num_true, sv, False, True)
        rows = np.asarray(labels).reshape(BATCH, num_true)
        hits = 0
        for row in range(BATCH):
            for col, c in enumerate(SAMPLED):
                if c in rows[row]:
                    hits += 1
                    assert abs(np.exp(got_logits[row, col + num_true])) < 1e-3
        assert hits > 0  # the random labels do hit sampled classes


def test_ComputeSampledLogitsTest_testSubtractLogQ():
    # true_expected_count is [batch, 1] for num_true up to 4: TF broadcasts it (issue 9, item 1).
    for num_true, labels, (w, b, x, sv, exp_logits, exp_labels) in _logits_cases(True):
        got_logits, got_labels = _sampled_logits(w, b, labels, x, num_true, sv, True, False)
        np.testing.assert_allclose(got_logits, exp_logits, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(got_labels, exp_labels, rtol=1e-3, atol=1e-6)


def test_ComputeSampledLogitsTest_testSharded():
    for num_true, labels, (w, b, x, sv, exp_logits, exp_labels) in _logits_cases(False):
        got_logits, got_labels = _sampled_logits(_div_shards(w, 3), _div_shards(b, 3), labels,
                                                 x, num_true, sv, False, False)
        np.testing.assert_allclose(got_logits, exp_logits, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(got_labels, exp_labels, rtol=1e-3, atol=1e-6)


def _sigmoid_ce(logits, targets):
    pred = 1.0 / (1.0 + np.exp(-logits))
    pred = np.minimum(np.maximum(pred, 1e-4), 1 - 1e-4)   # TF's test clips at 1e-4
    return -targets * np.log(pred) - (1.0 - targets) * np.log(1.0 - pred)


def _softmax_ce(logits, targets):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return -np.sum(targets * np.log(e / e.sum(axis=1, keepdims=True) + 1e-20), axis=1)


def _loss_case():
    rs = np.random.RandomState(0)
    labels = [0, 1, 2]
    return labels, _generate(rs, labels, SAMPLED, 1, True)


def test_ComputeSampledLogitsTest_testNCELoss():
    labels, (w, b, x, sv, exp_logits, exp_labels) = _loss_case()
    want = np.sum(_sigmoid_ce(exp_logits, exp_labels), 1)
    lab = np.array(labels).reshape(BATCH, 1)
    for ws, bs in ((w, b), (_div_shards(w, 3), _div_shards(b, 3))):
        # nce_loss_v2 always routes "div".
        got = ps.nce_loss(ws, bs, lab, x, num_sampled=4, num_classes=NUM_CLASSES, num_true=1,
                          sampled_values=sv, partition_strategy="div")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_ComputeSampledLogitsTest_testSampledSoftmaxLoss():
    labels, (w, b, x, sv, exp_logits, exp_labels) = _loss_case()
    want = _softmax_ce(exp_logits, exp_labels)
    lab = np.array(labels).reshape(BATCH, 1)
    for ws, bs in ((w, b), (_div_shards(w, 3), _div_shards(b, 3))):
        got = ps.sampled_softmax_loss(ws, bs, lab, x, num_sampled=4, num_classes=NUM_CLASSES,
                                      num_true=1, sampled_values=sv,
                                      remove_accidental_hits=False, partition_strategy="div")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


# ======================================================================
# tensorflow/python/ops/nn_test.py :: ComputeSampledLogitsTest (TF 1.x
# revision, with _ComputeSampledLogitsNP). Argument order is TF 2's
# (weights, biases, labels, inputs); TF 0.x/1.0 put inputs before labels.
# ======================================================================
def _v1_inputs():
    rs = np.random.RandomState(0)
    weights = rs.randn(NUM_CLASSES, DIM).astype(np.float32)
    biases = rs.randn(NUM_CLASSES).astype(np.float32)
    hidden = rs.randn(BATCH, DIM).astype(np.float32)
    return rs, weights, biases, hidden


def _v1_logits_np(w, b, labels, x, num_true, true_expected=None, sampled_expected=None):
    labels = np.asarray(labels).reshape(BATCH, num_true)
    w64, b64, x64 = (a.astype(np.float64) for a in (w, b, x))
    true_logits = np.einsum("bd,bkd->bk", x64, w64[labels]) + b64[labels]
    sampled_logits = x64 @ w64[SAMPLED].T + b64[SAMPLED]
    if true_expected is not None:
        true_logits -= np.log(true_expected)
    if sampled_expected is not None:
        sampled_logits -= np.log(np.asarray(sampled_expected)[np.newaxis, :])
    return (np.concatenate([true_logits, sampled_logits], axis=1),
            np.hstack([np.ones_like(true_logits) / num_true, np.zeros_like(sampled_logits)]))


def test_v1_ComputeSampledLogitsTest_testComputeSampledLogitsShapes():
    # true_exp is 1-D of length 4 for every num_true; unused (subtract_log_q=False).
    rs, w, b, x = _v1_inputs()
    sv = (SAMPLED, [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
    for num_true in range(1, 5):
        labels = rs.randint(low=0, high=NUM_CLASSES, size=BATCH * num_true)
        exp_logits, exp_labels = _v1_logits_np(w, b, labels, x, num_true)
        got_logits, got_labels = _sampled_logits(w, b, labels, x, num_true, sv, False, True)
        assert got_logits.shape == exp_logits.shape and got_labels.shape == exp_labels.shape


def test_v1_ComputeSampledLogitsTest_testComputeSampledLogitsValues():
    rs, w, b, x = _v1_inputs()
    true_exp = np.full([BATCH, 1], 0.5, np.float32)
    sampled_exp = np.full([len(SAMPLED)], 0.5, np.float32)
    sv = (SAMPLED, true_exp, sampled_exp)
    for num_true in range(1, 5):
        labels = rs.randint(low=0, high=NUM_CLASSES, size=BATCH * num_true)
        # Test 1: without accidental hit removal or subtract_log_q
        exp_logits, exp_labels = _v1_logits_np(w, b, labels, x, num_true)
        got_logits, got_labels = _sampled_logits(w, b, labels, x, num_true, sv, False, False)
        np.testing.assert_allclose(got_logits, exp_logits, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(got_labels, exp_labels, rtol=1e-3, atol=1e-6)
        # Test 2: with accidental hit removal, no subtract_log_q
        got_logits, _ = _sampled_logits(w, b, labels, x, num_true, sv, False, True)
        rows = labels.reshape(BATCH, num_true)
        for row in range(BATCH):
            for col, c in enumerate(SAMPLED):
                if c in rows[row]:
                    assert abs(np.exp(got_logits[row, col + num_true])) < 1e-3
        # Test 3: with subtract_log_q, no accidental hit removal
        exp_logits, exp_labels = _v1_logits_np(w, b, labels, x, num_true, true_exp, sampled_exp)
        got_logits, got_labels = _sampled_logits(w, b, labels, x, num_true, sv, True, False)
        np.testing.assert_allclose(got_logits, exp_logits, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(got_labels, exp_labels, rtol=1e-3, atol=1e-6)


def _v1_loss_inputs():
    _, w, b, x = _v1_inputs()
    labels = [0, 1, 2]
    true_exp = np.full([BATCH, 1], 0.5, np.float32)
    sampled_exp = np.full([len(SAMPLED)], 0.5, np.float32)
    exp_logits, exp_labels = _v1_logits_np(w, b, labels, x, 1, true_exp, sampled_exp)
    return w, b, x, labels, (SAMPLED, true_exp, sampled_exp), exp_logits, exp_labels


def test_v1_ComputeSampledLogitsTest_testNCELoss():
    # num_sampled=1 with four explicit candidates: all four are used (issue 9, item 2).
    w, b, x, labels, sv, exp_logits, exp_labels = _v1_loss_inputs()
    want = np.sum(_sigmoid_ce(exp_logits, exp_labels), 1)
    got = ps.nce_loss(w, b, np.array(labels).reshape(BATCH, 1), x, num_sampled=1,
                      num_classes=NUM_CLASSES, num_true=1, sampled_values=sv)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_v1_ComputeSampledLogitsTest_testSampledSoftmaxLoss():
    w, b, x, labels, sv, exp_logits, exp_labels = _v1_loss_inputs()
    want = _softmax_ce(exp_logits, exp_labels)
    got = ps.sampled_softmax_loss(w, b, np.array(labels).reshape(BATCH, 1), x, num_sampled=1,
                                  num_classes=NUM_CLASSES, num_true=1, sampled_values=sv,
                                  remove_accidental_hits=False)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_v1_float_labels_as_tf_1_tests_pass_them():
    # TF casts labels to int64; its tests pass Python floats through constants.
    w, b, x, labels, sv, _, _ = _v1_loss_inputs()
    lab = np.array(labels, np.int64).reshape(BATCH, 1)
    for fn in (ps.nce_loss, ps.sampled_softmax_loss):
        np.testing.assert_array_equal(
            fn(w, b, lab.astype(np.float32), x, 4, NUM_CLASSES, sampled_values=sv),
            fn(w, b, lab, x, 4, NUM_CLASSES, sampled_values=sv))
        np.testing.assert_array_equal(
            fn(w, b, [[0.0], [1.0], [2.0]], x, 4, NUM_CLASSES, sampled_values=sv),
            fn(w, b, lab, x, 4, NUM_CLASSES, sampled_values=sv))


# ======================================================================
# tensorflow/python/kernel_tests/random/candidate_sampler_ops_test.py
# :: RangeSamplerOpsTest
# ======================================================================
TRUE_LABELS = [[1, 2], [0, 4], [3, 3]]
NUM_TRUE, RANGE = 2, 5


def test_RangeSamplerOpsTest_testSampledCandidates():
    sampled, _, _ = ps.all_candidate_sampler(TRUE_LABELS, NUM_TRUE, RANGE, True)
    np.testing.assert_array_equal(sampled, [0, 1, 2, 3, 4])
    assert sampled.shape == (RANGE,)


def test_RangeSamplerOpsTest_testTrueLogExpectedCount():
    _, tec, _ = ps.all_candidate_sampler(TRUE_LABELS, NUM_TRUE, RANGE, True)
    np.testing.assert_array_equal(np.log(tec), [[0.0] * NUM_TRUE] * 3)
    assert tec.shape == (3, NUM_TRUE)


def test_RangeSamplerOpsTest_testSampledLogExpectedCount():
    _, _, sec = ps.all_candidate_sampler(TRUE_LABELS, NUM_TRUE, RANGE, True)
    np.testing.assert_array_equal(np.log(sec), [0.0] * RANGE)
    assert sec.shape == (RANGE,)


def test_RangeSamplerOpsTest_testAccidentalHits():
    sampled, _, _ = ps.all_candidate_sampler(TRUE_LABELS, NUM_TRUE, RANGE, True)
    indices, ids, weights = ps.compute_accidental_hits(TRUE_LABELS, sampled, NUM_TRUE)
    assert indices.ndim == ids.ndim == weights.ndim == 1
    assert len(indices) == 6  # every label is a candidate (3 and 3 both hit in row 2)
    for index, id_, weight in zip(indices, ids, weights):
        assert sampled[id_] in TRUE_LABELS[index]
        assert weight < -1.0e37


def test_RangeSamplerOpsTest_testSeed():
    # TF 1.x: each Session.run of a graph with a fixed seed starts the stream
    # over. pysampled functions continue one stream per seed (TF 2 eager);
    # reset_sampler_cache() starts it over, as does a fresh sampler object.
    def draw(seed):
        return ps.log_uniform_candidate_sampler(TRUE_LABELS, NUM_TRUE, RANGE, True, 5,
                                                seed=seed)[0]

    for seed in [1, 12, 123, 1234]:
        ps.reset_sampler_cache()
        first = draw(seed)
        ps.reset_sampler_cache()
        np.testing.assert_array_equal(draw(seed), first)
        s1, s2 = ps.LogUniformSampler(5, seed=seed), ps.LogUniformSampler(5, seed=seed)
        np.testing.assert_array_equal(s1.sample(TRUE_LABELS, RANGE)[0],
                                      s2.sample(TRUE_LABELS, RANGE)[0])
        s1.reset()
        np.testing.assert_array_equal(s1.sample(TRUE_LABELS, RANGE)[0],
                                      s2.reset() or s2.sample(TRUE_LABELS, RANGE)[0])
    ps.reset_sampler_cache()
    # seed=None: fresh OS-random seeds. With RANGE == num_sampled and unique
    # draws, every draw is a permutation of 0..4, so compare the order of
    # draws of 5 of 1000 classes instead (equal by chance with p ~ 1e-13).
    same = sum(np.array_equal(
        ps.log_uniform_candidate_sampler(TRUE_LABELS, NUM_TRUE, 5, True, 1000)[0],
        ps.log_uniform_candidate_sampler(TRUE_LABELS, NUM_TRUE, 5, True, 1000)[0])
        for _ in range(10))
    assert same <= 2


@pytest.mark.parametrize("range_max", [2**32 + 1, 2**31 - 1, 2**63 - 1])
def test_RangeSamplerOpsTest_testUnigramRangeTooLarge(range_max):
    # raw_ops.LearnedUnigramCandidateSampler / ThreadUnsafeUnigramCandidateSampler
    # (the same sampler): pysampled's TF-named function.
    with pytest.raises(ValueError, match="range_max must be less than 2147483647"):
        ps.learned_unigram_candidate_sampler([[0]], 1, 1, False, range_max)


@pytest.mark.parametrize("range_max", [2**31 - 1, 2**32 + 1])
def test_RangeSamplerOpsTest_testLearnedUnigramRangeTooLarge(range_max):
    with pytest.raises(ValueError, match="range_max must be less than 2147483647"):
        ps.learned_unigram_candidate_sampler(true_classes=[[0]], num_true=1, num_sampled=1,
                                             unique=False, range_max=range_max)


@pytest.mark.parametrize("range_max", [0, -1])
def test_RangeSamplerOpsTest_testUnigramNonpositiveRange(range_max):
    with pytest.raises(ValueError, match="range_max"):
        ps.learned_unigram_candidate_sampler([[0]], 1, 1, False, range_max)
    with pytest.raises(ValueError, match="range_max"):
        ps.LearnedUnigramSampler(range_max)


@pytest.mark.parametrize("unique", [False, True])
def test_RangeSamplerOpsTest_testUnigramSingleClass(unique):
    for sample in (lambda: ps.learned_unigram_candidate_sampler([[0]], 1, 1, unique, 1),
                   lambda: ps.LearnedUnigramSampler(1).sample([[0]], 1, unique)):
        sampled, true_count, sampled_count = sample()
        np.testing.assert_array_equal(sampled, [0])
        np.testing.assert_array_equal(true_count, [[1.0]])
        np.testing.assert_array_equal(sampled_count, [1.0])


@pytest.mark.parametrize("fn", [ps.uniform_candidate_sampler, ps.log_uniform_candidate_sampler])
@pytest.mark.parametrize("unique", [False, True])
def test_RangeSamplerOpsTest_testLargeUniformRange(fn, unique):
    range_max = 2**32 + 1
    sampled, true_count, sampled_count = fn([[0]], 1, 2, unique, range_max, seed=123)
    assert np.all(sampled >= 0) and np.all(sampled < range_max)
    for count in (true_count, sampled_count):
        assert np.all(np.isfinite(count)) and np.all(count > 0)


def test_RangeSamplerOpsTest_testCandidateOutOfRange():
    for bad in (10, -10):
        with pytest.raises((ValueError, IndexError), match="out of range"):
            ps.log_uniform_candidate_sampler(true_classes=[[0, bad]], num_true=2,
                                             num_sampled=1000, unique=False, range_max=2)


# ======================================================================
# tensorflow/core/kernels/range_sampler_test.cc :: RangeSamplerTest
# ======================================================================
def _check_probabilities_sum_to_one(sampler):
    assert abs(float(np.sum(sampler.probability(np.arange(sampler.range_max)),
                            dtype=np.float64)) - 1.0) <= 1e-4


def _check_histogram(sampler, num_samples=1000, tolerance=0.05):
    # TF draws with Philox(123, 17); seed=(123, 17) gives those kernel seeds.
    draws = sampler.copy().sample([[0]], num_samples, unique=False)[0]
    assert draws.min() >= 0 and draws.max() < sampler.range_max
    h = np.bincount(draws, minlength=sampler.range_max) / num_samples
    np.testing.assert_allclose(h, sampler.probability(np.arange(sampler.range_max)),
                               rtol=0, atol=tolerance)


def test_RangeSamplerTest_UniformProbabilities():
    p = ps.UniformSampler(10).probability(np.arange(10))
    assert np.all(p == p[0])


def test_RangeSamplerTest_UniformChecksum():
    _check_probabilities_sum_to_one(ps.UniformSampler(10))


def test_RangeSamplerTest_UniformHistogram():
    _check_histogram(ps.UniformSampler(10, seed=(123, 17)))


def test_RangeSamplerTest_LogUniformProbabilities():
    s = ps.LogUniformSampler(1000000)
    i = 100
    while i < 1000000:
        ratio = s.probability([i])[0] / s.probability([i // 2])[0]
        assert abs(ratio - 0.5) <= 0.1
        i *= 2


def test_RangeSamplerTest_LogUniformChecksum():
    _check_probabilities_sum_to_one(ps.LogUniformSampler(10))


def test_RangeSamplerTest_LogUniformHistogram():
    _check_histogram(ps.LogUniformSampler(10, seed=(123, 17)))


def _update1(s):
    s.update(np.full(10, 3))          # the value 3, ten times


def _update2(s):
    a = np.arange(10)
    for i in range(1, 10):
        s.update(a[i:])               # value i is added i times


def test_RangeSamplerTest_UnigramProbabilities1():
    s = ps.LearnedUnigramSampler(10)
    _update1(s)
    p = s.probability(np.arange(10))
    assert abs(p[3] - 0.55) <= 1e-4
    assert np.all(np.abs(np.delete(p, 3) - 0.05) <= 1e-4)


def test_RangeSamplerTest_UnigramProbabilities2():
    s = ps.LearnedUnigramSampler(10)
    _update2(s)
    np.testing.assert_allclose(s.probability(np.arange(10)), (np.arange(10) + 1) / 55.0,
                               rtol=0, atol=1e-4)


def test_RangeSamplerTest_UnigramChecksum():
    s = ps.LearnedUnigramSampler(10)
    _update1(s)
    _check_probabilities_sum_to_one(s)


def test_RangeSamplerTest_UnigramHistogram():
    s = ps.LearnedUnigramSampler(10, seed=(123, 17))
    _update1(s)
    _check_histogram(s)


VOCAB = "w1,1\nw2,2\nw3,4\nw4,8\nw5,16\nw6,32\nw7,64\nw8,128\nw9,256"
WEIGHTS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "vocab_file"
    path.write_text(VOCAB)
    return str(path)


def _fixed(source, range_max, reserved=0, seed=None):
    kw = {"vocab_file": source} if isinstance(source, str) else {"unigrams": source}
    return ps.FixedUnigramSampler(range_max, distortion=0.8, num_reserved_ids=reserved,
                                  seed=seed, **kw)


def _check_fixed_probabilities(s, reserved):
    p = s.probability(np.arange(9 + reserved))
    assert np.all(np.abs(p[:reserved]) <= 1e-4)
    # 1^0.8 + 2^0.8 + 4^0.8 + ... + 256^0.8 = 197.05
    want = np.power(2.0, np.arange(9) * 0.8) / 197.05
    np.testing.assert_allclose(p[reserved:], want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("source", ["file", "vector"])
def test_RangeSamplerTest_FixedUnigramProbabilities(source, vocab_file):
    # also FixedUnigramProbabilitiesFromVector
    _check_fixed_probabilities(_fixed(vocab_file if source == "file" else WEIGHTS, 9), 0)


def test_RangeSamplerTest_FixedUnigramNoExistingFilename():
    with pytest.raises(FileNotFoundError):
        _fixed(os.path.join("no", "such", "NoExistingFile"), 9)


def test_RangeSamplerTest_FixedUnigramNoMatchingRangeWeights(vocab_file):
    with pytest.raises(ValueError, match="must be equal to weights size"):
        _fixed(vocab_file, 8)


@pytest.mark.parametrize("source", ["file", "vector"])
def test_RangeSamplerTest_FixedUnigramChecksum(source, vocab_file):
    # also FixedUnigramChecksumFromVector
    _check_probabilities_sum_to_one(_fixed(vocab_file if source == "file" else WEIGHTS, 9))


@pytest.mark.parametrize("source", ["file", "vector"])
def test_RangeSamplerTest_FixedUnigramHistogram(source, vocab_file):
    # also FixedUnigramHistogramFromVector
    _check_histogram(_fixed(vocab_file if source == "file" else WEIGHTS, 9, seed=(123, 17)))


@pytest.mark.parametrize("source", ["file", "vector"])
@pytest.mark.parametrize("reserved", [1, 2])
def test_RangeSamplerTest_FixedUnigramProbabilitiesReserve(source, reserved, vocab_file):
    # FixedUnigramProbabilitiesReserve1/2 and their FromVector variants
    s = _fixed(vocab_file if source == "file" else WEIGHTS, 9 + reserved, reserved)
    _check_fixed_probabilities(s, reserved)


def test_RangeSamplerTest_All():
    batch, true_ec, sampled_ec = ps.all_candidate_sampler([[0, 9]], 2, 10, False)
    np.testing.assert_array_equal(batch, np.arange(10))
    np.testing.assert_array_equal(sampled_ec, np.ones(10))
    np.testing.assert_array_equal(true_ec, [[1, 1]])


def test_RangeSamplerTest_Unique():
    # Batches of 50 unique draws from log-uniform over 100: the expected counts
    # of all values agree between batches (within 50%) and with the average
    # observed counts (within 0.2).
    s = ps.LogUniformSampler(100, seed=(123, 17))
    all_values = np.arange(100).reshape(1, 100)
    batch, expected, _ = s.sample(all_values, 50, unique=True)
    assert len(set(batch.tolist())) == 50
    expected = expected[0]
    histogram = np.zeros(100)
    for _ in range(100):
        batch, trial_expected, _ = s.sample(all_values, 50, unique=True)
        assert np.all(np.abs(expected - trial_expected[0]) <= expected * 0.5)
        histogram[batch] += 1
    np.testing.assert_allclose(expected, histogram / 100, rtol=0, atol=0.2)


# ======================================================================
# tensorflow/core/ops/candidate_sampling_ops_test.cc (shape functions)
# ======================================================================
_SAMPLERS = {
    "AllCandidateSampler": lambda tc, nt, ns: ps.all_candidate_sampler(tc, nt, ns, True),
    "FixedUnigramCandidateSampler": lambda tc, nt, ns: ps.fixed_unigram_candidate_sampler(
        tc, nt, ns, True, 100, unigrams=np.ones(100)),
    "LearnedUnigramCandidateSampler": lambda tc, nt, ns: ps.learned_unigram_candidate_sampler(
        tc, nt, ns, True, 100),
    "LogUniformCandidateSampler": lambda tc, nt, ns: ps.log_uniform_candidate_sampler(
        tc, nt, ns, True, 100),
    "UniformCandidateSampler": lambda tc, nt, ns: ps.uniform_candidate_sampler(
        tc, nt, ns, True, 100),
}


@pytest.mark.parametrize("op", sorted(_SAMPLERS))
def test_CandidateSamplerOpsTest_CandidateSampler_ShapeFn(op):
    # num_sampled = 5, num_true = 10: outputs [5], [batch, 10], [5]; rank checked.
    tc = np.arange(80).reshape(8, 10) % 5
    sampled, tec, sec = _SAMPLERS[op](tc, 10, 5)
    assert sampled.shape == (5,) and tec.shape == (8, 10) and sec.shape == (5,)
    with pytest.raises(ValueError, match="must be a matrix"):
        _SAMPLERS[op](np.arange(10) % 5, 10, 5)


@pytest.mark.parametrize("range_max", [2**31 - 1, 2**32 + 1, 2**63 - 1])
def test_CandidateSamplerOpsTest_UnigramRange_ShapeFn(range_max):
    with pytest.raises(ValueError, match="range_max must be less than 2147483647"):
        ps.learned_unigram_candidate_sampler([[0]], 1, 1, True, range_max)


def test_CandidateSamplerOpsTest_ComputeAccidentalHits_ShapeFn():
    tc = np.arange(50).reshape(5, 10)
    out = ps.compute_accidental_hits(tc, [3, 7, 60], 10)
    assert all(a.ndim == 1 and a.shape == out[0].shape for a in out)
    with pytest.raises(ValueError, match="batch_size \\* num_true matrix"):
        ps.compute_accidental_hits([1, 2], [1], 10)          # rank 1
    with pytest.raises(ValueError, match="batch_size \\* num_true matrix"):
        ps.compute_accidental_hits(np.zeros((2, 11), np.int64), [1], 10)   # dim 1 != 10


# ======================================================================
# r1.15 tensorflow/contrib/nn/python/ops/sampling_ops_test.py
# :: RankSampledSoftmaxLossTest
# ======================================================================
_R_SAMPLED = [3, 4, 5, 6, 7]
_R_RESAMPLED = [5, 6, 7]   # logits grow with class id, so these are kept
_R_SV = (_R_SAMPLED, [[0.5], [0.5]], [0.5] * 5)   # [B, 1] counts with num_true=2
_R_RESAMPLED_SV = (_R_RESAMPLED, [[0.5], [0.5]], [0.5] * 3)


def _r_weights():
    return np.array([[i + 0.1 * j for j in range(5)] for i in range(10)], np.float32)


def _r_biases():
    return np.array([0.1 * i for i in range(10)], np.float32)


def _r_labels():
    return np.array([[0, 1], [1, 2]], np.int64)


def _r_inputs():
    return np.array([[0., 1., 2., 3., 4.], [10., 11., 12., 13., 14.]], np.float32)


def _r_div(a):
    return [a[2 * p:2 * p + 2] for p in range(5)]


def _r_mod(a):
    return [a[p::5] for p in range(5)]


def _rank_kwargs(**over):
    kw = dict(weights=_r_weights(), biases=_r_biases(), labels=_r_labels(), inputs=_r_inputs(),
              num_sampled=3, num_resampled=3, num_classes=10, num_true=2, sampled_values=None,
              resampling_temperature=1., remove_accidental_hits=True, partition_strategy="div")
    kw.update(over)
    return kw


def test_RankSampledSoftmaxLossTest_testInvalidNumSampled0():
    with pytest.raises(ValueError, match=r"num_resampled \(3\) must be less than num_sampled \(3\)"):
        ps.rank_sampled_softmax_loss(**_rank_kwargs())


def test_RankSampledSoftmaxLossTest_testInvalidNumSampled1():
    with pytest.raises(ValueError, match=r"num_resampled \(3\) must be less than num_sampled \(2\)"):
        ps.rank_sampled_softmax_loss(**_rank_kwargs(num_sampled=2))


def test_RankSampledSoftmaxLossTest_testMissingPartitionStrategy():
    with pytest.raises(ValueError, match=r"unsupported partition_strategy \(None\)"):
        ps.rank_sampled_softmax_loss(**_rank_kwargs(num_sampled=2, num_resampled=1,
                                                    partition_strategy=None))


@pytest.mark.parametrize("variant,weights,biases,strategy", [
    ("Unsharded", _r_weights, _r_biases, "div"),
    ("ShardWeightsDiv", lambda: _r_div(_r_weights()), _r_biases, "div"),
    ("ShardWeightsAndBiasesDiv", lambda: _r_div(_r_weights()), lambda: _r_div(_r_biases()),
     "div"),
    ("ShardWeightsMod", lambda: _r_mod(_r_weights()), _r_biases, "mod"),
    ("ShardWeightsAndBiasesMod", lambda: _r_mod(_r_weights()), lambda: _r_mod(_r_biases()),
     "mod"),
])
def test_RankSampledSoftmaxLossTest_testCompareWithNN(variant, weights, biases, strategy):
    loss = ps.rank_sampled_softmax_loss(
        weights=weights(), biases=biases(), labels=_r_labels(), inputs=_r_inputs(),
        num_sampled=5, num_resampled=3, num_classes=10, num_true=2, sampled_values=_R_SV,
        resampling_temperature=1., remove_accidental_hits=False, partition_strategy=strategy)
    loss_nn = ps.sampled_softmax_loss(
        weights=weights(), biases=biases(), labels=_r_labels(), inputs=_r_inputs(),
        num_sampled=3, num_classes=10, num_true=2, sampled_values=_R_RESAMPLED_SV,
        remove_accidental_hits=False, partition_strategy=strategy)
    np.testing.assert_allclose(loss, loss_nn, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,temperature,resampled", [
    ("Lo1", 1., 0), ("Lo2", 2.12, 0), ("Hi1", 2.13, 1), ("Hi2", 3., 1)])
def test_RankSampledSoftmaxLossTest_testCompareWithNNTemperature(name, temperature, resampled):
    # w0.x0 = 1, w0.x1 = 10, w1.x0 = 8, w1.x1 = 9: keeping one class picks
    # w0 (exp(1/t) + exp(10/t)) below t ~ 2.12 and w1 above t ~ 2.13.
    weights = np.array([[1., 2.], [3., 4.]], np.float32)
    inputs = np.array([[6., -5. / 2.], [-11., 21. / 2.]], np.float32)
    biases = np.zeros(2, np.float32)
    labels = np.array([[0], [1]], np.int64)
    loss = ps.rank_sampled_softmax_loss(
        weights=weights, biases=biases, labels=labels, inputs=inputs, num_sampled=2,
        num_resampled=1, num_classes=2, num_true=1,
        sampled_values=([0, 1], [[1.], [1.]], [1., 1.]), resampling_temperature=temperature,
        remove_accidental_hits=False, partition_strategy="div")
    loss_nn = ps.sampled_softmax_loss(
        weights=weights, biases=biases, labels=labels, inputs=inputs, num_sampled=1,
        num_classes=2, num_true=1, sampled_values=([resampled], [[1.], [1.]], [1.]),
        remove_accidental_hits=False, partition_strategy="div")
    np.testing.assert_allclose(loss, loss_nn, rtol=1e-6, atol=1e-6)
