"""compute_accidental_hits against a brute-force NumPy oracle (SPEC §4).

TF builds a value -> position map over `sampled` in order, so for a sampled
value that occurs several times only its LAST position is reported; a label
repeated within a row is reported once per repetition. `all_duplicates=True`
reports every position (increasing). Hits are listed row by row, label by
label. Outputs: int32 row indices, int64 positions, float32 weights -FLT_MAX.
"""
import re

import numpy as np
import pytest

import pysampled

NEG_FLT_MAX = np.float32(-np.finfo(np.float32).max)


def oracle(true_classes, sampled, all_duplicates=False):
    rows, ids = [], []
    for i, row in enumerate(np.asarray(true_classes)):
        for label in row:
            positions = [j for j, v in enumerate(sampled) if v == label]
            if not positions:
                continue
            for j in (positions if all_duplicates else positions[-1:]):
                rows.append(i)
                ids.append(j)
    return (np.array(rows, dtype=np.int32), np.array(ids, dtype=np.int64),
            np.full(len(rows), NEG_FLT_MAX, dtype=np.float32))


def check(true_classes, sampled, num_true, all_duplicates=False):
    got = pysampled.compute_accidental_hits(true_classes, sampled, num_true,
                                            mask_all_duplicates=all_duplicates)
    expect = oracle(true_classes, list(np.asarray(sampled)), all_duplicates)
    assert len(got) == 3
    for g, e, dtype in zip(got, expect, (np.int32, np.int64, np.float32)):
        assert g.dtype == dtype and g.ndim == 1
        np.testing.assert_array_equal(g, e)
    return got


def test_spec_example_last_occurrence_wins():
    tc = np.array([[3, 7], [7, 7], [1, 2]], dtype=np.int64)
    sampled = np.array([7, 3, 5, 7, 9], dtype=np.int64)
    idx, ids, w = check(tc, sampled, 2)
    # hand-derived from SPEC §4
    np.testing.assert_array_equal(idx, [0, 0, 1, 1])
    np.testing.assert_array_equal(ids, [1, 3, 3, 3])
    assert np.all(w == NEG_FLT_MAX) and w[0] == -3.4028234663852886e38


def test_all_duplicates_reports_every_position():
    tc = np.array([[3, 7], [7, 7], [1, 2]], dtype=np.int64)
    sampled = np.array([7, 3, 5, 7, 9], dtype=np.int64)
    idx, ids, _ = check(tc, sampled, 2, all_duplicates=True)
    np.testing.assert_array_equal(idx, [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(ids, [1, 0, 3, 0, 3, 0, 3])


@pytest.mark.parametrize("all_duplicates", [False, True])
@pytest.mark.parametrize("seed", range(25))
def test_random_inputs_vs_brute_force(seed, all_duplicates):
    rs = np.random.default_rng(seed)
    B = int(rs.integers(0, 12))
    NT = int(rs.integers(1, 5))
    S = int(rs.integers(0, 30))
    R = int(rs.integers(1, 40))  # small ranges: many duplicates and hits
    tc = rs.integers(0, R, size=(B, NT))
    sampled = rs.integers(0, R, size=S)
    if seed % 3 == 0:  # wide values too (negative ones are not TF inputs, but are just values)
        tc = tc * 10**12 - 5
        sampled = sampled * 10**12 - 5
    check(tc.astype(np.int64), sampled.astype(np.int64), NT, all_duplicates)


def test_no_hits_and_empty_inputs():
    for tc, sampled, nt in [(np.array([[1, 2]]), np.array([3, 4]), 2),
                            (np.zeros((0, 3), np.int64), np.array([1, 2]), 3),
                            (np.array([[1]]), np.array([], dtype=np.int64), 1)]:
        idx, ids, w = check(tc, sampled, nt)
        assert idx.shape == ids.shape == w.shape == (0,)


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8])
def test_integer_input_dtypes(dtype):
    tc = np.array([[1, 2], [2, 2]], dtype=dtype)
    sampled = np.array([2, 1, 2], dtype=dtype)
    check(tc, sampled, 2)
    check(tc.tolist(), sampled.tolist(), 2)


def test_seed_and_name_are_ignored():
    tc = np.array([[1, 2]])
    a = pysampled.compute_accidental_hits(tc, [2, 1], 2, seed=5, name="x")
    b = pysampled.compute_accidental_hits(tc, [2, 1], 2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("tc,num_true", [([1, 2], 1), ([1, 2], 2), ([[1, 2]], 1), ([[1, 2]], 3),
                                         ([[[1]]], 1), (5, 1)],
                         ids=["1d_nt1", "1d_nt2", "cols_lt", "cols_gt", "3d", "scalar"])
def test_not_a_batch_by_num_true_matrix(tc, num_true):
    with pytest.raises(ValueError, match=re.escape("true_candidates must be a batch_size * num_true matrix")):
        pysampled.compute_accidental_hits(tc, [1, 2], num_true)


def test_bad_arguments():
    with pytest.raises(ValueError,
                       match=re.escape("Value for attr 'num_true' of 0 must be at least minimum 1")):
        pysampled.compute_accidental_hits(np.zeros((1, 0), np.int64), [1], 0)
    with pytest.raises(TypeError):
        pysampled.compute_accidental_hits([[1.0, 2.0]], [1], 2)
    with pytest.raises(TypeError):
        pysampled.compute_accidental_hits([[1, 2]], [1.5], 2)
    with pytest.raises(ValueError):  # sampled must be 1-D
        pysampled.compute_accidental_hits([[1, 2]], [[1]], 2)


def test_with_sampler_output():
    """Typical use: mask the sampled logits that hit a true class."""
    s = pysampled.LogUniformSampler(20, seed=3)
    tc = np.array([[0, 1], [2, 3], [0, 0]], dtype=np.int64)
    for _ in range(20):
        sampled = s.sample(tc, 10, unique=False)[0]  # duplicates likely
        check(tc, sampled, 2)
        check(tc, sampled, 2, all_duplicates=True)
