"""The fused SparseAdam kernel (``_losses.sparse_adam_step``, C++
``sparse_adam_rows``) on NumPy arrays, without torch, so that the sanitizer
stage runs it too. Oracle: ``oracles.sparse_adam``, NumPy written from
PyTorch's algorithm; the results must be equal bit for bit (the same IEEE
operations in the same order). ``tests/test_torch_optim.py`` covers the
PyTorch optimizer built on it.
"""
import math

import numpy as np
import pytest

from oracles import sparse_adam as ref
from pysampled import _losses


def kernel(p, m, v, ids, g, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False,
           threads=1):
    size = lr * math.sqrt(1 - betas[1] ** step) / (1 - betas[0] ** step)
    _losses.sparse_adam_step(p, m, v, ids, g, 1 - betas[0], 1 - betas[1], eps, -size, maximize,
                             threads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("cols", [1, 3, 16, 67])
def test_bit_equal_to_the_numpy_reference_over_many_steps(dtype, maximize, cols):
    rng = np.random.default_rng(cols)
    rows = 300
    p = rng.standard_normal((rows, cols)).astype(dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    rp, rm, rv = p.copy(), m.copy(), v.copy()
    for step in range(1, 31):
        ids = np.sort(rng.choice(rows, size=int(rng.integers(1, 200)), replace=False))
        g = (rng.standard_normal((ids.size, cols)) * 10.0 ** rng.integers(-4, 2)).astype(dtype)
        g_before = g.copy()
        kernel(p, m, v, ids, g, step, lr=0.01, betas=(0.8, 0.99), eps=1e-6, maximize=maximize)
        ref.sparse_adam_step(rp, rm, rv, ids, g, step, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                             maximize=maximize)
        np.testing.assert_array_equal(g, g_before)  # the gradient is read, never written
    np.testing.assert_array_equal(p, rp)
    np.testing.assert_array_equal(m, rm)
    np.testing.assert_array_equal(v, rv)


def test_untouched_rows_stay_bit_identical_and_thread_count_does_not_matter():
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((5000, 32)).astype(np.float32)
    ids = np.sort(rng.choice(5000, size=3000, replace=False))
    g = rng.standard_normal((3000, 32)).astype(np.float32)
    out = []
    for threads in (1, 2, 3):
        p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
        for step in (1, 2):
            kernel(p, m, v, ids, g, step, threads=threads)
        out.append((p, m, v))
    for p, m, v in out[1:]:
        for a, b in zip((p, m, v), out[0]):
            np.testing.assert_array_equal(a, b)
    untouched = np.setdiff1d(np.arange(5000), ids)
    np.testing.assert_array_equal(out[0][0][untouched], p0[untouched])
    assert not out[0][1][untouched].any() and not out[0][2][untouched].any()


@pytest.mark.parametrize("ids,match", [
    ([0, 5, 5], "strictly increasing"),   # a duplicate
    ([3, 1], "strictly increasing"),      # unsorted
    ([0, 10], r"in \[0, 10\): row 1 has id 10"),
    ([-1, 2], r"row 0 has id -1"),
])
def test_bad_ids_raise_before_any_row_is_written(ids, match):
    p = np.ones((10, 4), np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    g = np.ones((len(ids), 4), np.float32)
    with pytest.raises(ValueError, match=match):
        kernel(p, m, v, np.array(ids, np.int64), g, 1)
    assert (p == 1).all() and not m.any() and not v.any()


@pytest.mark.parametrize("alias", ["m is p", "v is m", "g in p", "g in v", "m overlaps p"])
def test_buffers_that_share_memory_raise_before_any_row_is_written(alias):
    """The kernel reads and writes the four buffers as non-overlapping
    (restrict) rows, so sharing memory must be refused, not computed."""
    base = np.arange(1, 81, dtype=np.float32)
    p = base[:40].reshape(10, 4)
    m, v = np.zeros_like(p), np.zeros_like(p)
    g = np.ones((2, 4), np.float32)
    if alias == "m is p":
        m = p
    elif alias == "v is m":
        v = m
    elif alias == "g in p":
        g = p[2:4]
    elif alias == "g in v":
        g = v[8:]
    else:  # a moment table starting inside the parameter's memory
        m = base[4:44].reshape(10, 4)
    before = [a.copy() for a in (p, m, v, g)]
    with pytest.raises(ValueError, match="must not share memory"):
        kernel(p, m, v, np.array([1, 7], np.int64), g, 1)
    for a, b in zip((p, m, v, g), before):
        np.testing.assert_array_equal(a, b)


def test_shape_mismatch_raises():
    p = np.ones((10, 4), np.float32)
    with pytest.raises(ValueError, match="disagree in shape"):
        kernel(p, np.zeros((10, 3), np.float32), np.zeros_like(p), np.array([1], np.int64),
               np.ones((1, 4), np.float32), 1)
    with pytest.raises(ValueError, match="disagree in shape"):
        kernel(p, np.zeros_like(p), np.zeros_like(p), np.array([1, 2], np.int64),
               np.ones((1, 4), np.float32), 1)


def test_empty_and_zero_width_updates_are_no_ops():
    p = np.ones((10, 0), np.float32)
    kernel(p, np.zeros_like(p), np.zeros_like(p), np.array([1, 2], np.int64),
           np.ones((2, 0), np.float32), 1)
    q = np.ones((10, 4), np.float32)
    kernel(q, np.zeros_like(q), np.zeros_like(q), np.zeros(0, np.int64),
           np.ones((0, 4), np.float32), 1)
    assert (q == 1).all()
