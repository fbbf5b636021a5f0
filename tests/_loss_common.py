"""Shared helpers of the sampled-loss test modules (not a test module itself).

* ``ref``: the NumPy oracle ``tests/oracles/losses.py`` (it is proven
  against TF by tests/test_reference.py).
* Golden files: ``tests/data/tf_losses.npz`` and ``tests/data/tf_losses_extra.npz``.
* Error measures, SIMD levels available on this CPU, canonical sharding
  (the ``restore_simd`` fixture is in conftest.py).
"""
import contextlib
import json
import pathlib

import numpy as np

from oracles import losses as ref  # noqa: F401  (re-exported to the loss tests)
from pysampled import _runtime as _samplers

HERE = pathlib.Path(__file__).resolve().parent

FLT_MAX = float(np.finfo(np.float32).max)
GOLDEN_TOL = {"float32": 2e-4, "float64": 1e-9, "mixed": 2e-4}

#: SIMD levels this CPU can run, lowest first (see conftest.py).
SIMD_LEVELS = list(_samplers.SIMD_LEVELS[: _samplers.SIMD_LEVELS.index(
    _samplers.detected_simd_level()) + 1])


@contextlib.contextmanager
def simd_level(level):
    old = _samplers.simd_level()
    _samplers.set_simd_level(level)
    try:
        yield
    finally:
        _samplers.set_simd_level(old)


# ---------------------------------------------------------------- golden data
def load_golden(path):
    data = np.load(path)
    index = json.loads(str(data["index"]))
    cases = {}
    for name in index:
        prefix = name + "/"
        case = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
        case["meta"] = json.loads(str(case["meta"]))
        cases[name] = case
    return index, cases


def golden_cases():
    """``(names, {name: case})`` of both golden files."""
    i1, c1 = load_golden(HERE / "data" / "tf_losses.npz")
    i2, c2 = load_golden(HERE / "data" / "tf_losses_extra.npz")
    return i1 + i2, dict(c1, **c2)


def golden_params(case):
    """``(weights, biases)`` as TF got them: one array or a list of shards."""
    meta = case["meta"]
    shards = meta["num_shards"]
    weights = [case[f"W{p}"] for p in range(shards)] if shards > 1 else case["W0"]
    if meta["bias_sharded"]:
        biases = [case[f"b{p}"] for p in range(shards)]
    else:
        biases = case["b"]
    return weights, biases


# ------------------------------------------------------------------- errors
def max_scaled_error(actual, expected):
    """max |a - e| / max(1, |e|); entries of e that are +-inf/NaN/+-FLT_MAX must match exactly."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return np.inf
    if a.size == 0:
        return 0.0
    special = ~np.isfinite(e) | (np.abs(e) >= FLT_MAX)
    if not np.array_equal(a[special], e[special], equal_nan=True):
        return np.inf
    if np.any(~np.isfinite(a[~special])) or np.any(np.abs(a[~special]) >= FLT_MAX):
        return np.inf
    return float(np.max(np.abs(a[~special] - e[~special]) / np.maximum(1.0, np.abs(e[~special])),
                        initial=0.0))


def max_norm_error(actual, expected):
    """max |a - e| / max(1, max |e|): for sums with cancellation (gradients)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return np.inf
    if a.size == 0:
        return 0.0
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(e))):
        return 0.0 if np.array_equal(a, e, equal_nan=True) else np.inf
    return float(np.max(np.abs(a - e)) / max(1.0, float(np.max(np.abs(e)))))


def assert_scaled(actual, expected, tol, what):
    err = max_scaled_error(actual, expected)
    assert err <= tol, f"{what}: scaled error {err:.3g} > {tol:g}"


def assert_norm(actual, expected, tol, what):
    err = max_norm_error(actual, expected)
    assert err <= tol, f"{what}: norm-scaled error {err:.3g} > {tol:g}"


# ----------------------------------------------------------------- sharding
def canonical_rows(total, shards):
    q, r = divmod(total, shards)
    return [q + (p < r) for p in range(shards)]


def split(a, shards, strategy):
    """TF's canonical shards of a full table (a list; the array itself for 1 shard)."""
    if shards == 1:
        return a
    if strategy == "mod":
        return [a[p::shards].copy() for p in range(shards)]
    rows = canonical_rows(a.shape[0], shards)
    starts = np.cumsum([0] + rows[:-1])
    return [a[s:s + n].copy() for s, n in zip(starts, rows)]


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def shard_dense(sparse_rows, shards):
    """Per-shard dense arrays of a SparseRows gradient (list, one per shard)."""
    parts = sparse_rows.per_shard()
    shards = as_list(shards)
    assert len(parts) == len(shards)
    return [p.to_dense(s.shape[0]) for p, s in zip(parts, shards)]


# ------------------------------------------------------------ random problems
#: Kernel vs oracle tolerance (same dtype on both sides).
TOL = {np.dtype(np.float32): 5e-5, np.dtype(np.float64): 1e-11}


class Problem:
    """A random problem: full tables plus the sharded views given to both sides."""

    def __init__(self, seed, *, B, D, C, S, NT, xdt=np.float32, wdt=None, bdt=None,
                 shards=1, strategy="mod", bias="full", bias_shards=None, hits=True,
                 dups=True, scale=0.5):
        rng = np.random.default_rng(seed)
        wdt = xdt if wdt is None else wdt
        bdt = wdt if bdt is None else bdt
        self.B, self.D, self.C, self.S, self.NT = B, D, C, S, NT
        self.strategy = strategy
        self.W = (rng.normal(size=(C, D)) * scale).astype(wdt)
        self.b = rng.normal(size=C).astype(bdt)
        self.X = rng.normal(size=(B, D)).astype(xdt)
        self.labels = rng.integers(0, C, size=(B, NT))
        if S <= C:
            self.sampled = rng.choice(C, size=S, replace=False)
        else:
            self.sampled = rng.integers(0, C, size=S)
        if dups and S >= 3:
            # duplicated sampled ids: positions (0, last) and (1, middle)
            self.sampled[-1] = self.sampled[0]
            self.sampled[S // 2] = self.sampled[1]
        if hits and S >= 1 and B >= 1:
            # planted accidental hits, including the duplicated ids
            for _ in range(max(2, B // 3)):
                i, k, j = rng.integers(B), rng.integers(NT), rng.integers(S)
                self.labels[i, k] = self.sampled[j]
            self.labels[0, 0] = self.sampled[0]
            self.labels[B - 1, NT - 1] = self.sampled[1 % S]
            if NT > 1:
                self.labels[B // 2, 1] = self.labels[B // 2, 0]  # duplicate label in a row
        self.tec = rng.uniform(0.05, 2.0, size=(B, NT)).astype(xdt)
        self.sec = rng.uniform(0.05, 2.0, size=S).astype(xdt)
        self.upstream = rng.uniform(0.25, 2.0, size=B).astype(xdt)
        self.R = rng.normal(size=(B, NT + S)).astype(xdt)

        self.weights = split(self.W, shards, strategy)
        bias_shards = shards if bias_shards is None else bias_shards
        if bias == "none":
            self.biases = None
        elif bias == "sharded":
            self.biases = split(self.b, bias_shards, strategy) if bias_shards > 1 else [self.b]
        else:
            self.biases = self.b
        # The oracle has no "no bias": zero biases of the weights' dtype.
        self.ref_biases = np.zeros(C, wdt) if bias == "none" else self.biases

    @property
    def sv(self):
        return (self.sampled, self.tec, self.sec)

    def api_args(self):
        return (self.weights, self.biases, self.labels, self.X, self.S, self.C, self.NT)

    def ref_args(self):
        return (self.weights, self.ref_biases, self.labels, self.X, self.sampled, self.tec,
                self.sec)

    @property
    def tol(self):
        dts = {self.X.dtype, self.W.dtype, self.b.dtype}
        return max(TOL[np.dtype(d)] for d in dts)
