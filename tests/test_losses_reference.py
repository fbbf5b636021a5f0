"""The C++ sampled-loss kernel against the NumPy oracle on many random problems.

The oracle (``tests/oracles/losses.py``, proven against TF by
tests/test_reference.py) computes in the inputs' dtype like TF. Problems vary
float32/float64 and mixed W/X dtypes, num_true, num_sampled S (around the
kernel's block sizes 16/32/48/256 and beyond), dim D (1, 5, 17, 100, 130,
...), batch B (around the row tiles 8/48 and the 256-row k-blocks), 1-4
shards with mod/div routing (canonical uneven sizes), biases unsharded /
sharded (also with another shard count than the weights) / None (compared
with zero biases), remove_accidental_hits with planted hits and duplicated
sampled ids, mask_all_duplicates, subtract_log_q, NCE's true_target and
per-example upstream weights. Outputs compared: loss, logits (masked ones
exactly -FLT_MAX), out_labels, dX, every dW and db shard.

Tolerances: float32 ``5e-5 * max(1, |ref|)`` for losses/logits and
``5e-5 * max(1, max|ref|)`` for gradients (sums with cancellation); float64
``1e-11`` likewise. Central finite differences on the kernel's float64 loss
check the gradients independently of the oracle.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pysampled as ps
from _loss_common import (
    FLT_MAX,
    SIMD_LEVELS,
    Problem,
    as_list,
    assert_norm,
    assert_scaled,
    ref,
    shard_dense,
    simd_level,
)

def check_grads(p, grads, expected, tol, what=""):
    """Kernel LossGrads vs oracle dict (dense per-shard gradients)."""
    assert grads.inputs.dtype == p.X.dtype
    assert_norm(grads.inputs, expected["inputs"], tol, f"{what} dX")
    dW = shard_dense(grads.weights, p.weights)
    for k, (g, e) in enumerate(zip(dW, as_list(expected["weights"]))):
        assert g.dtype == p.W.dtype, f"{what} dW{k} dtype {g.dtype}"
        assert_norm(g, e, tol, f"{what} dW{k}")
    if p.biases is None:
        assert grads.biases is None
    else:
        db = shard_dense(grads.biases, p.biases)
        eb = as_list(expected["biases"])
        assert len(db) == len(eb)
        for k, (g, e) in enumerate(zip(db, eb)):
            assert g.dtype == p.b.dtype, f"{what} db{k} dtype {g.dtype}"
            assert_norm(g, e, tol, f"{what} db{k}")
    # Only ids that were looked up carry gradient rows.
    used = np.unique(np.concatenate([p.labels.reshape(-1), p.sampled]))
    np.testing.assert_array_equal(grads.weights.ids, used)


def check_mask(p, logits, rah, all_duplicates=False):
    masked = np.zeros(logits.shape, bool)
    if rah:
        rows, pos = ref.accidental_hits(p.labels, p.sampled, all_duplicates)
        masked[rows, p.NT + pos] = True
    assert np.all(logits[masked] == -FLT_MAX)
    assert np.all(logits[~masked] > -1e30)
    return int(masked.sum())


def compare_all(p, *, rah, all_dups=False, slq=True, threads=1):
    """Every public function on problem p vs the oracle."""
    tol = p.tol
    kw = dict(sampled_values=p.sv, remove_accidental_hits=rah, partition_strategy=p.strategy,
              num_threads=threads, mask_all_duplicates=all_dups)
    rkw = dict(remove_accidental_hits=rah, partition_strategy=p.strategy,
               all_duplicates=all_dups)

    # compute_sampled_logits: logits, labels, gradients of sum(R * logits)
    logits, out_labels, g = ps.compute_sampled_logits(*p.api_args(), subtract_log_q=slq,
                                                      return_grads=True, upstream=p.R, **kw)
    e = ref.sampled_logits_grads(*p.ref_args(), p.R, subtract_log_q=slq, **rkw)
    assert logits.dtype == p.X.dtype and logits.shape == (p.B, p.NT + p.S)
    assert_scaled(logits, e["logits"], tol, "logits")
    np.testing.assert_array_equal(out_labels, e["out_labels"])
    check_mask(p, logits, rah, all_dups)
    check_grads(p, g, e, tol, "logits")
    # without gradients: the same logits, bit for bit
    logits2, _ = ps.compute_sampled_logits(*p.api_args(), subtract_log_q=slq, **kw)
    np.testing.assert_array_equal(logits2, logits)

    for fn, rfn in ((ps.nce_loss, ref.nce_loss_grads),
                    (ps.sampled_softmax_loss, ref.sampled_softmax_loss_grads)):
        loss, g = fn(*p.api_args(), return_grads=True, upstream=p.upstream, **kw)
        e = rfn(*p.ref_args(), p.upstream, **rkw)
        assert loss.dtype == p.X.dtype and loss.shape == (p.B,)
        assert_scaled(loss, e["loss"], tol, fn.__name__)
        check_grads(p, g, e, tol, fn.__name__)
        np.testing.assert_array_equal(fn(*p.api_args(), **kw), loss)

    if p.NT == 1:
        loss, g = ps.sampled_sparse_softmax_loss(
            p.weights, p.biases, p.labels[:, 0], p.X, p.S, p.C, return_grads=True,
            upstream=p.upstream, **kw)
        e = ref.sampled_sparse_softmax_loss_grads(*p.ref_args(), p.upstream, **rkw)
        assert_scaled(loss, e["loss"], tol, "sparse ssm")
        check_grads(p, g, e, tol, "sparse ssm")


# ------------------------------------------------------- parametrized grid
_S = [1, 2, 7, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 255, 256, 257, 300]
_D = [1, 5, 8, 16, 17, 32, 33, 100, 130]
_B = [1, 2, 7, 8, 9, 47, 48, 49, 97, 200]
_DT = [(np.float32, np.float32), (np.float64, np.float64), (np.float32, np.float64),
       (np.float64, np.float32)]
_SHARDS = [(1, "mod"), (2, "mod"), (2, "div"), (3, "mod"), (3, "div"), (4, "mod"), (4, "div")]
_BIAS = ["full", "sharded", "none"]


def _grid(n=80, seed=2024):
    """n configurations covering every value of every axis (round robin + shuffles)."""
    rng = np.random.default_rng(seed)
    axes = [_S, _D, _B, _DT, _SHARDS, _BIAS, [1, 2, 3], [True, False], [True, False]]
    perms = [rng.permutation(len(a)) for a in axes]
    out = []
    for i in range(n):
        S, D, B, dts, (shards, strat), bias, NT, rah, slq = (
            a[perm[i % len(a)]] for a, perm in zip(axes, perms))
        C = int(max(S // 2, 4 * shards, 10) + rng.integers(0, 40))
        bias_shards = int(rng.integers(1, 5)) if bias == "sharded" else None
        out.append(dict(seed=i, B=B, D=D, C=C, S=S, NT=NT, xdt=dts[0], wdt=dts[1],
                        shards=shards, strategy=strat, bias=bias, bias_shards=bias_shards,
                        rah=rah, slq=slq))
    return out


GRID = _grid()


def _id(cfg):
    x = "f32" if cfg["xdt"] is np.float32 else "f64"
    w = "f32" if cfg["wdt"] is np.float32 else "f64"
    return (f"B{cfg['B']}-D{cfg['D']}-S{cfg['S']}-NT{cfg['NT']}-X{x}W{w}-"
            f"{cfg['shards']}{cfg['strategy']}-b{cfg['bias']}{cfg['bias_shards'] or ''}-"
            f"rah{int(cfg['rah'])}-q{int(cfg['slq'])}")


def test_grid_covers_every_axis_value():
    for key, values in (("S", _S), ("D", _D), ("B", _B), ("bias", _BIAS), ("NT", [1, 2, 3])):
        assert {c[key] for c in GRID} == set(values), key
    assert {(c["xdt"], c["wdt"]) for c in GRID} == set(_DT)
    assert {(c["shards"], c["strategy"]) for c in GRID} == set(_SHARDS)


@pytest.mark.parametrize("cfg", GRID, ids=_id)
def test_kernel_matches_reference(cfg):
    cfg = dict(cfg)
    rah, slq = cfg.pop("rah"), cfg.pop("slq")
    p = Problem(**cfg)
    compare_all(p, rah=rah, slq=slq, threads=2 if cfg["seed"] % 2 else 1)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_kernel_matches_reference_at_every_simd_level(level, dt, restore_simd):  # noqa: F811
    p = Problem(11, B=53, D=37, C=90, S=71, NT=2, xdt=dt, shards=3, strategy="div",
                bias="sharded")
    with simd_level(level):
        compare_all(p, rah=True, threads=2)
        compare_all(p, rah=True, all_dups=True, slq=False, threads=1)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_unpadded_rows_at_every_simd_level(level, dt, restore_simd):  # noqa: F811
    """D = 32 needs no padding at any level, so the kernel reads the caller's
    inputs and writes dX and the gradient rows in place; 1 + 64 logit columns
    end in a one-lane tail at every level (the masked loads and stores)."""
    p = Problem(12, B=97, D=32, C=300, S=64, NT=1, xdt=dt, shards=2, strategy="mod",
                bias="full")
    x_before = p.X.copy()
    with simd_level(level):
        compare_all(p, rah=True, threads=2)
        compare_all(p, rah=False, slq=False, threads=1)
    np.testing.assert_array_equal(p.X, x_before)


@pytest.mark.parametrize("NT", [1, 3])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_mask_all_duplicates(NT, dt):
    p = Problem(5, B=40, D=9, C=30, S=20, NT=NT, xdt=dt, shards=2, strategy="mod")
    # make sure the duplicated sampled ids are hit
    assert p.sampled[0] == p.sampled[-1] and p.labels[0, 0] == p.sampled[0]
    compare_all(p, rah=True, all_dups=True)
    logits, _ = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv,
                                          remove_accidental_hits=True, mask_all_duplicates=True)
    last, _ = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv,
                                        remove_accidental_hits=True)
    n_all = check_mask(p, logits, True, all_duplicates=True)
    n_last = check_mask(p, last, True)
    assert n_all > n_last
    # TF's rule: the first position of a duplicated hit id stays unmasked.
    assert last[0, NT] > -1e30 and last[0, NT + p.S - 1] == -FLT_MAX
    assert logits[0, NT] == -FLT_MAX and logits[0, NT + p.S - 1] == -FLT_MAX


def test_mask_all_duplicates_without_rah_is_inert():
    p = Problem(6, B=10, D=4, C=12, S=8, NT=1)
    a = ps.nce_loss(*p.api_args(), sampled_values=p.sv, mask_all_duplicates=True)
    b = ps.nce_loss(*p.api_args(), sampled_values=p.sv)
    np.testing.assert_array_equal(a, b)


def test_no_sampled_classes():
    """num_sampled=0 with explicit (empty) sampled values: only the true logits."""
    p = Problem(9, B=6, D=5, C=10, S=0, NT=2, xdt=np.float64, hits=False, dups=False)
    compare_all(p, rah=True)


def test_zero_dim():
    """D=0: logits are the biases minus log Q."""
    p = Problem(10, B=4, D=0, C=10, S=5, NT=1, xdt=np.float64)
    compare_all(p, rah=True)


@pytest.mark.parametrize("NT", [9, 20])
def test_many_true_classes(NT):
    """num_true beyond one SIMD vector of true columns."""
    for dt in (np.float32, np.float64):
        p = Problem(NT, B=13, D=7, C=60, S=19, NT=NT, xdt=dt, shards=2, strategy="div")
        compare_all(p, rah=True)


@pytest.mark.parametrize("scale", [8.0, 40.0])
def test_large_logits(scale):
    """Logits of several hundred: the softmax/logistic stabilisation must hold."""
    p = Problem(3, B=30, D=16, C=80, S=40, NT=2, xdt=np.float64, scale=scale)
    logits, _ = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv)
    assert np.abs(logits).max() > 10 * scale
    compare_all(p, rah=True)
    p32 = Problem(3, B=30, D=16, C=80, S=40, NT=2, xdt=np.float32, scale=scale)
    for fn, rfn in ((ps.nce_loss, ref.nce_loss),
                    (ps.sampled_softmax_loss, ref.sampled_softmax_loss)):
        got = fn(*p32.api_args(), sampled_values=p32.sv, remove_accidental_hits=True)
        # against the float64 oracle on the same float32 data: scaled error of float32 math
        args64 = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                  else a for a in p32.ref_args()]
        exp = rfn(*args64, remove_accidental_hits=True)
        assert np.all(np.isfinite(got))
        assert_scaled(got, exp, 2e-5 * scale, fn.__name__)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_logits_gradients_pass_through_masked_columns(dt):
    """The accidental-hit mask is an additive constant (TF): gradients of
    sum(R * logits) are the same with and without it."""
    p = Problem(31, B=25, D=10, C=40, S=18, NT=2, xdt=dt, shards=3, strategy="mod",
                bias="sharded")
    kw = dict(sampled_values=p.sv, partition_strategy="mod", return_grads=True, upstream=p.R)
    lm, _, gm = ps.compute_sampled_logits(*p.api_args(), remove_accidental_hits=True, **kw)
    lp, _, gp = ps.compute_sampled_logits(*p.api_args(), remove_accidental_hits=False, **kw)
    assert np.sum(lm == -FLT_MAX) >= 3 and not np.any(lp == -FLT_MAX)
    np.testing.assert_array_equal(gm.inputs, gp.inputs)
    np.testing.assert_array_equal(gm.weights.values, gp.weights.values)
    np.testing.assert_array_equal(gm.biases.values, gp.biases.values)


# --------------------------------------------------------- NCE true_target
def _nce_target_expected(p, target, rah, all_dups=False):
    """Loss and gradients of NCE with target `target` on the true columns, from
    the oracle's logits: stable logistic loss per element, G = u (sigmoid - z)."""
    logits, _ = ref.sampled_logits(*p.ref_args(), remove_accidental_hits=rah,
                                   partition_strategy=p.strategy, all_duplicates=all_dups)
    L = logits.astype(np.float64)
    Z = np.zeros_like(L)
    Z[:, :p.NT] = target
    with np.errstate(over="ignore"):
        loss = (np.maximum(L, 0) - L * Z + np.log1p(np.exp(-np.abs(L)))).sum(axis=1)
        e = np.exp(-np.abs(L))
    sig = np.where(L >= 0, 1 / (1 + e), e / (1 + e))
    G = p.upstream.astype(np.float64)[:, None] * (sig - Z)
    grads = ref.sampled_logits_grads(*p.ref_args(), G, remove_accidental_hits=rah,
                                     partition_strategy=p.strategy, all_duplicates=all_dups)
    return loss, grads


@pytest.mark.parametrize("target", [1.0, 0.3])
@pytest.mark.parametrize("NT,dt,rah", [(1, np.float64, True), (2, np.float64, False),
                                       (3, np.float32, True), (3, np.float64, True)])
def test_nce_true_target(target, NT, dt, rah):
    p = Problem(17 + NT, B=37, D=19, C=50, S=33, NT=NT, xdt=dt, shards=2, strategy="mod",
                bias="sharded")
    loss, g = ps.nce_loss(*p.api_args(), sampled_values=p.sv, remove_accidental_hits=rah,
                          partition_strategy=p.strategy, true_target=target,
                          return_grads=True, upstream=p.upstream)
    e_loss, e = _nce_target_expected(p, target, rah)
    assert_scaled(loss, e_loss, p.tol, "loss")
    check_grads(p, g, e, p.tol, "nce target")
    if NT > 1:   # differs from TF's soft labels 1/NT
        tf = ps.nce_loss(*p.api_args(), sampled_values=p.sv, remove_accidental_hits=rah,
                         partition_strategy=p.strategy)
        assert np.max(np.abs(tf - loss)) > 1e-3


def test_nce_true_target_one_equals_tf_for_num_true_1():
    p = Problem(23, B=20, D=6, C=30, S=12, NT=1, xdt=np.float64)
    a = ps.nce_loss(*p.api_args(), sampled_values=p.sv, true_target=1.0)
    b = ps.nce_loss(*p.api_args(), sampled_values=p.sv)
    np.testing.assert_allclose(a, b, rtol=1e-14)


# ------------------------------------------------------------- hypothesis
@st.composite
def problems(draw):
    S = draw(st.integers(1, 120))
    shards = draw(st.integers(1, 4))
    C = draw(st.integers(max(4, shards), 150))
    cfg = dict(
        seed=draw(st.integers(0, 2**31)),
        B=draw(st.integers(1, 70)),
        D=draw(st.sampled_from([1, 3, 5, 16, 17, 31, 64, 65])),
        C=C, S=S, NT=draw(st.integers(1, 3)),
        xdt=draw(st.sampled_from([np.float32, np.float64])),
        wdt=draw(st.sampled_from([np.float32, np.float64])),
        shards=shards, strategy=draw(st.sampled_from(["mod", "div"])),
        bias=draw(st.sampled_from(["full", "sharded", "none"])),
        bias_shards=draw(st.integers(1, 4)),
        hits=draw(st.booleans()), dups=draw(st.booleans()),
    )
    flags = dict(rah=draw(st.booleans()), all_dups=draw(st.booleans()),
                 slq=draw(st.booleans()), threads=draw(st.sampled_from([1, 2])))
    return cfg, flags


@settings(max_examples=100, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_kernel_matches_reference_hypothesis(problem):
    cfg, flags = problem
    compare_all(Problem(**cfg), **flags)


# ------------------------------------------------- finite differences
def _fd_problem(NT, shards, strategy, bias):
    return Problem(100 + NT + shards, B=3, D=4, C=11, S=6, NT=NT, xdt=np.float64,
                   shards=shards, strategy=strategy, bias=bias)


FD_CONFIGS = [
    # (kind, NT, shards, strategy, bias, rah, extra)
    ("nce", 1, 1, "mod", "full", True, {}),
    ("nce", 3, 3, "div", "sharded", True, {}),
    ("nce", 2, 2, "mod", "full", False, {"true_target": 1.0}),
    ("ssm", 1, 2, "div", "sharded", True, {}),
    ("ssm", 3, 3, "mod", "none", True, {}),
    ("ssm", 2, 1, "mod", "full", False, {"mask_all_duplicates": True}),
    ("logits", 2, 3, "div", "sharded", True, {}),
    ("logits", 1, 2, "mod", "full", False, {"subtract_log_q": False}),
]


@pytest.mark.parametrize("kind,NT,shards,strategy,bias,rah,extra", FD_CONFIGS)
def test_kernel_gradients_match_finite_differences(kind, NT, shards, strategy, bias, rah,
                                                   extra):
    p = _fd_problem(NT, shards, strategy, bias)
    kw = dict(sampled_values=p.sv, remove_accidental_hits=rah, partition_strategy=strategy,
              num_threads=1, **extra)
    if kind == "logits":
        # Masked logits are -FLT_MAX whatever the parameters, so differences
        # cannot see through them: use a cotangent that is 0 there (the
        # kernel passes R through masked columns, tested separately).
        logits, _ = ps.compute_sampled_logits(*p.api_args(), **kw)
        R = np.where(logits == -FLT_MAX, 0.0, p.R)

        def objective():
            logits, _ = ps.compute_sampled_logits(*p.api_args(), **kw)
            return float(np.sum(R * np.where(logits == -FLT_MAX, 0.0, logits)))
        _, _, g = ps.compute_sampled_logits(*p.api_args(), return_grads=True, upstream=R, **kw)
    else:
        fn = ps.nce_loss if kind == "nce" else ps.sampled_softmax_loss

        def objective():
            return float(np.dot(p.upstream, fn(*p.api_args(), **kw)))
        _, g = fn(*p.api_args(), return_grads=True, upstream=p.upstream, **kw)

    if rah:
        logits, _ = ps.compute_sampled_logits(*p.api_args(), **kw) if kind == "logits" else \
            ps.compute_sampled_logits(*p.api_args(), **{k: v for k, v in kw.items()
                                                        if k != "true_target"})
        assert np.sum(logits == -FLT_MAX) >= 1

    h = 1e-6
    params = [p.X] + as_list(p.weights) + ([] if p.biases is None else as_list(p.biases))
    analytic = [g.inputs] + shard_dense(g.weights, p.weights) + \
        ([] if p.biases is None else shard_dense(g.biases, p.biases))
    assert len(params) == len(analytic)
    for a, ga in zip(params, analytic):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = objective()
            a[idx] = old - h
            down = objective()
            a[idx] = old
            num[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(ga, num, rtol=1e-6, atol=1e-7)
    assert np.abs(g.inputs).max() > 1e-3


# ------------------------------------------------- biases of their own dtype
@pytest.mark.parametrize("xdt,wdt,bdt", [(np.float32, np.float32, np.float64),
                                         (np.float64, np.float64, np.float32),
                                         (np.float32, np.float64, np.float32)])
def test_bias_dtype_independent_of_weights(xdt, wdt, bdt):
    p = Problem(41, B=29, D=13, C=45, S=21, NT=2, xdt=xdt, wdt=wdt, bdt=bdt, shards=2,
                strategy="div", bias="sharded", bias_shards=3)
    compare_all(p, rah=True)


def test_mod_layout_with_an_empty_shard():
    """2 classes over 3 'mod' shards: the canonical layout is [1, 1, 0]."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(2, 3))
    b = rng.normal(size=2)
    shards = [W[0:1], W[1:2], W[2:2]]
    bias = [b[0:1], b[1:2], b[2:2]]
    X = rng.normal(size=(3, 3))
    labels = np.array([[0], [1], [1]])
    sv = (np.array([1, 0]), np.full((3, 1), 0.5), np.full(2, 0.5))
    loss, g = ps.sampled_softmax_loss(shards, bias, labels, X, 2, 2, sampled_values=sv,
                                      return_grads=True)
    e = ref.sampled_softmax_loss_grads(shards, bias, labels, X, *sv, np.ones(3))
    assert_scaled(loss, e["loss"], 1e-12, "loss")
    for got, exp in zip(shard_dense(g.weights, shards), e["weights"]):
        assert got.shape == exp.shape
        assert_norm(got, exp, 1e-12, "dW")


# ------------------------------------------------------------- precision
@pytest.mark.parametrize("NT", [2, 3])
def test_softmax_large_logits_num_true_above_one(NT):
    """Exactly representable float32 logits near 1e5 (D=1, X=1, no bias, Q=1):
    both sides see the same logits; TF's float32 result is accurate to ~1e-7."""
    rng = np.random.default_rng(0)
    C = 20
    W = (1e5 + rng.uniform(0, 1, size=(C, 1))).astype(np.float32)
    b = np.zeros(C, np.float32)
    X = np.ones((4, 1), np.float32)
    labels = np.array([rng.choice(15, NT, replace=False) for _ in range(4)])
    sampled = np.arange(15, 20)
    tec, sec = np.ones((4, NT), np.float32), np.ones(5, np.float32)
    sv = (sampled, tec, sec)
    logits, _ = ps.compute_sampled_logits(W, b, labels, X, 5, C, NT, sampled_values=sv)
    exact = np.concatenate([W[labels, 0], np.broadcast_to(W[sampled, 0], (4, 5))], axis=1)
    np.testing.assert_array_equal(logits, exact)         # the logits themselves are exact
    got = ps.sampled_softmax_loss(W, b, labels, X, 5, C, NT, sampled_values=sv)
    expected = ref.sampled_softmax_loss(W, b, labels, X, *sv)   # float32, TF's algorithm
    assert_scaled(got, expected, 2e-4, "loss")                  # TF's golden tolerance


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_wide_logits_weight_gradient_blocks(dt):
    """S = 1030: rows of dLoss/dlogits 4 KiB or more apart, so the weight
    gradient copies each block of them before its product (tile_grads.hpp);
    B = 300 spans two 256-row blocks. Against the oracle, at 1 and 2 threads."""
    p = Problem(13, B=300, D=16, C=3000, S=1030, NT=2, xdt=dt, shards=2, strategy="div",
                bias="full")
    compare_all(p, rah=True, threads=1)
    compare_all(p, rah=True, threads=2)


def assert_same_bits_for_1_2_3_threads(p):
    """Sampled softmax (accidental hits removed) with gradients gives the same
    bits for 1, 2 and 3 threads."""
    runs = [ps.sampled_softmax_loss(*p.api_args(), sampled_values=p.sv, return_grads=True,
                                    remove_accidental_hits=True, partition_strategy=p.strategy,
                                    num_threads=t) for t in (1, 2, 3)]
    for loss, grads in runs[1:]:
        np.testing.assert_array_equal(loss, runs[0][0])
        np.testing.assert_array_equal(grads.inputs, runs[0][1].inputs)
        for a, b in zip(grads.weights.values, runs[0][1].weights.values):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_wide_logits_tiles_capped_in_rows(dt):
    """S = 4100: a batch tile's logits rows (16 KiB float32, 32 KiB float64
    each) would not fit the tile budget (256 KiB), so tiles hold fewer rows
    (8) than at small S. Against the oracle, and the same bits at 1, 2 and 3
    threads (the tiling only balances the work)."""
    p = Problem(15, B=100, D=24, C=9000, S=4100, NT=2, xdt=dt, shards=2, strategy="div",
                bias="full")
    compare_all(p, rah=True, threads=2)
    assert_same_bits_for_1_2_3_threads(p)


@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("D", [40, 72])
def test_column_panels_at_every_simd_level(level, dt, D, restore_simd):  # noqa: F811
    """The input-gradient product reads the sampled rows, and (S >= 1024) the
    weight-gradient product reads the inputs, as column panels of
    LossKernels::panel_width columns (tile_grads.hpp: pack_column_panels).
    D = 40 and 72 leave the last panel partly filled at every level
    (padded widths 40/48/48 and 72/80/80 against panels of 8/16/32 floats or
    4/8/16 doubles). S = 1030 takes the packed weight-gradient path, B = 300
    two of its 256-row blocks. Against the oracle, and the same bits at 1, 2
    and 3 threads."""
    p = Problem(14, B=300, D=D, C=3000, S=1030, NT=2, xdt=dt, shards=2, strategy="mod",
                bias="full")
    with simd_level(level):
        compare_all(p, rah=True, threads=2)
        assert_same_bits_for_1_2_3_threads(p)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_nce_column_loss_is_accurate_to_a_few_ulps(dt, each_simd_level):
    """One sampled column's NCE term, max(t, 0) + log1p(exp(-|t|)) for a
    logit t (target 0), against the float64 oracle (long double for float64):
    within 4 ulp of the result at every SIMD level, for logits from -80 to
    30, including those whose exp(-|t|) is below half an ulp of 1 (where
    log1p(e) is e itself, which log(1 + e) would lose). The label column's
    logit is 200 (its term underflows to exactly 0), so each row's loss is
    the one term. exp itself contributes about an ulp."""
    t = np.concatenate([-np.logspace(-9, np.log10(80), 700), np.linspace(-17, 30, 701)])
    t = t.astype(dt)
    B = t.size
    x = np.stack([t, np.ones(B, dt)], axis=1)
    W = np.array([[1.0, 0.0], [0.0, 200.0]], dtype=dt)  # row 0 sampled, row 1 the label
    labels = np.ones((B, 1), np.int64)
    sv = (np.array([0]), np.ones((B, 1)), np.ones(1))
    got = ps.nce_loss(W, None, labels, x, 1, 2, sampled_values=sv, remove_accidental_hits=False)
    wide = np.longdouble if dt == np.float64 else np.float64
    tw = t.astype(wide)
    want = np.maximum(tw, 0) + np.log1p(np.exp(-np.abs(tw)))
    ulps = np.abs(got.astype(wide) - want) / np.spacing(want.astype(dt)).astype(wide)
    assert ulps.max() <= 4, (each_simd_level, float(t[np.argmax(ulps)]), float(ulps.max()))
