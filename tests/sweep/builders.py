"""Input builders and result checks shared by the sweep's case modules."""
from __future__ import annotations

import numpy as np

import pysampled as ps

FLT_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------- input builders
B, D, C, S = 4, 3, 12, 4


def problem(dtype=np.float32, B=B, D=D, C=C, NT=1):
    """A fresh small problem: weights [C, D], biases [C], labels [B, NT],
    inputs [B, D], explicit sampled values (no accidental hits)."""
    rng = np.random.default_rng(1234)
    W = rng.standard_normal((C, D)).astype(dtype)
    b = (0.1 * rng.standard_normal(C)).astype(dtype)
    X = rng.standard_normal((B, D)).astype(dtype)
    labels = (np.arange(B * NT).reshape(B, NT) % 4).astype(np.int64)
    sampled = np.array([5, 7, 9, 11][:S], dtype=np.int64)
    tec = np.full((B, NT), 0.25, dtype=dtype)
    sec = np.full(S, 0.125, dtype=dtype)
    return {"weights": W, "biases": b, "labels": labels, "inputs": X, "num_sampled": S,
            "num_classes": C, "sampled_values": (sampled, tec, sec)}


def sv_replace(p, sampled=None, tec=None, sec=None):
    s0, t0, e0 = p["sampled_values"]
    return (s0 if sampled is None else sampled, t0 if tec is None else tec,
            e0 if sec is None else sec)


LOSSES = {
    "nce": ps.nce_loss,
    "ssm": ps.sampled_softmax_loss,
    "sparse": ps.sampled_sparse_softmax_loss,
    "logits": ps.compute_sampled_logits,
}


def call_loss(name, dtype=np.float32, NT=1, **over):
    """Call loss `name` on a fresh problem; `over` values may be functions of the problem."""
    def run():
        p = problem(dtype, NT=NT)
        kw = dict(p)
        if NT != 1 and name != "sparse":
            kw["num_true"] = NT
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        return LOSSES[name](**kw)
    return run


def per_row(result) -> np.ndarray:
    """The per-example output: the loss, or the logits matrix."""
    if isinstance(result, tuple):
        result = result[0]
    return np.asarray(result)


def rows_finite(result) -> np.ndarray:
    a = per_row(result)
    return np.isfinite(a) if a.ndim == 1 else np.isfinite(a).all(axis=1)


def clean(name, dtype=np.float32, NT=1):
    return per_row(call_loss(name, dtype, NT)())


def poisoned_rows_only(name, bad_rows, dtype=np.float32, NT=1):
    """Check: rows in `bad_rows` are not finite; every other row is finite and
    bit-identical to the unpoisoned call."""
    def check(result):
        fin = rows_finite(result)
        expect = np.ones(B, dtype=bool)
        expect[list(bad_rows)] = False
        assert fin.tolist() == expect.tolist(), f"finite rows {fin.tolist()}"
        ok = clean(name, dtype, NT)
        got = per_row(result)
        np.testing.assert_array_equal(got[expect], ok[expect])
    return check


def all_rows_nan(result):
    a = per_row(result)
    if a.ndim == 1:
        assert np.isnan(a).all(), a
    else:
        assert np.isnan(a).any(axis=1).all(), a


def column_nan(col):
    def check(result):
        a = per_row(result)
        assert np.isnan(a[:, col]).all(), a
        assert np.isfinite(np.delete(a, col, axis=1)).all(), a
    return check


def finite_shape(shape, dtype=None):
    def check(result):
        a = per_row(result)
        assert a.shape == shape, a.shape
        assert np.isfinite(a).all(), a
        if dtype is not None:
            assert a.dtype == dtype, a.dtype
    return check


def same_as_clean(name, dtype=np.float32, NT=1):
    def check(result):
        np.testing.assert_array_equal(per_row(result), clean(name, dtype, NT))
    return check


def set_row(a, i, value):
    a = a.copy()
    a[i] = value
    return a


def set_item(a, idx, value):
    a = a.copy()
    a[idx] = value
    return a


def readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


def strided(a):
    """The same values, not C-contiguous (every other element of a wider array)."""
    a = np.asarray(a)
    wide = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype) if a.ndim else a
    wide[..., ::2] = a
    return wide[..., ::2]
