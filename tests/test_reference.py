"""Proof of the NumPy test oracle ``tests/oracles/losses.py``.

1. Golden vectors: every case of ``tests/data/tf_losses.npz`` (made by TF 2.21)
   and of ``tests/data/tf_losses_extra.npz`` (made by TF 2.21 with
   ``tests/data/make_golden.py``) is recomputed and compared element by element (loss, logits, out_labels,
   dX, every dW shard, db), tolerance float32 ``2e-4 * max(1, |ref|)``,
   float64 ``1e-9 * max(1, |ref|)``; masked logits must be exactly -FLT_MAX
   and dtypes must match TF's.
   Kinds: ``nce``, ``ssm`` (sampled_softmax_loss), ``logits``
   (``_compute_sampled_logits``; its cotangent R is stored under ``upstream``),
   ``sparse_ssm`` (contrib sampled_sparse_softmax_loss: the oracle's
   ``sampled_sparse_softmax_loss``, which is sampled softmax with NT=1) and
   ``rank_ssm`` (contrib rank_sampled_softmax_loss: the oracle's resampling
   must pick the same *set* of ids as TF; the final sampled softmax is then
   compared both with TF's column order and with the oracle's own order,
   columns permuted).
2. Discrimination: plausible wrong variants (first-occurrence masking, hard
   NCE labels, the other partition strategy, no log-q) miss the golden data,
   so the golden comparison can fail.
3. Central finite differences of the float64 losses w.r.t. X, W and b.
4. Routing tables for mod/div worked by hand, and layout errors.

The oracle is loaded from this source tree by path, so these tests need
neither the compiled extension nor a particular installed version of
pysampled (several worktrees may share one virtual environment).
"""
import json
import pathlib

import numpy as np
import pytest

HERE = pathlib.Path(__file__).resolve().parent
from oracles import losses as ref  # noqa: E402

GOLDEN = HERE / "data" / "tf_losses.npz"
GOLDEN_EXTRA = HERE / "data" / "tf_losses_extra.npz"
FLT_MAX = float(np.finfo(np.float32).max)
TOL = {"float32": 2e-4, "float64": 1e-9, "mixed": 2e-4}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _load_golden(path):
    data = np.load(path)
    index = json.loads(str(data["index"]))
    cases = {}
    for name in index:
        prefix = name + "/"
        case = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
        case["meta"] = json.loads(str(case["meta"]))
        cases[name] = case
    return str(data["tf_version"]), index, cases


TF_VERSION, INDEX, CASES = _load_golden(GOLDEN)
# Extra cases written by tests/data/make_golden.py (TF 2.21; larger problems,
# 4 uneven shards, num_true 2/3 with duplicate labels and hits).
EXTRA_TF_VERSION, EXTRA_INDEX, EXTRA_CASES = _load_golden(GOLDEN_EXTRA)


def max_scaled_error(actual, expected):
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return np.inf
    if a.size == 0:
        return 0.0
    finite = np.isfinite(e) & (np.abs(e) < FLT_MAX)
    if not np.array_equal(a[~finite], e[~finite]):      # masked / inf entries: exact
        return np.inf
    return float(np.max(np.abs(a[finite] - e[finite]) / np.maximum(1.0, np.abs(e[finite])),
                        initial=0.0))


def assert_close(actual, expected, tol, what):
    err = max_scaled_error(actual, expected)
    assert err <= tol, f"{what}: scaled error {err:.3g} > {tol:g}"


def params(case):
    meta = case["meta"]
    shards = meta["num_shards"]
    weights = [case[f"W{p}"] for p in range(shards)] if shards > 1 else case["W0"]
    if meta["bias_sharded"]:
        biases = [case[f"b{p}"] for p in range(shards)]
    else:
        biases = case["b"]
    return weights, biases


def as_list(x):
    return list(x) if isinstance(x, list) else [x]


def bias_keys(case):
    meta = case["meta"]
    if meta["bias_sharded"]:
        return [f"db{p}" for p in range(meta["num_shards"])]
    return ["db"]


def run_case(case, sampled=None, sec=None):
    """Oracle outputs for a golden case (dict with loss/logits/out_labels/grads)."""
    meta = case["meta"]
    weights, biases = params(case)
    sampled = case["sampled"] if sampled is None else sampled
    sec = case["sec"] if sec is None else sec
    args = (weights, biases, case["labels"], case["X"], sampled, case["tec"], sec,
            case["upstream"])
    kw = dict(remove_accidental_hits=meta["remove_accidental_hits"],
              partition_strategy=meta["partition_strategy"])
    kind = meta["kind"]
    if kind == "nce":
        return ref.nce_loss_grads(*args, subtract_log_q=meta["subtract_log_q"], **kw)
    if kind == "ssm" or kind == "rank_ssm":
        return ref.sampled_softmax_loss_grads(*args, subtract_log_q=meta["subtract_log_q"], **kw)
    if kind == "sparse_ssm":
        return ref.sampled_sparse_softmax_loss_grads(*args, **kw)
    if kind == "logits":
        return ref.sampled_logits_grads(*args, subtract_log_q=meta["subtract_log_q"], **kw)
    raise AssertionError(f"unknown golden kind {kind!r}")


def compare_with_golden(case, out, column_perm=None):
    """Scaled errors of every output; column_perm reorders golden logit columns."""
    tol = TOL[case["meta"]["dtype"]]
    errors = {}

    def check(key, actual, expected):
        assert np.asarray(actual).dtype == expected.dtype, \
            f"{key}: dtype {np.asarray(actual).dtype} != TF's {expected.dtype}"
        errors[key] = max_scaled_error(actual, expected)
        assert errors[key] <= tol, f"{key}: scaled error {errors[key]:.3g} > {tol:g}"

    for key in ("logits", "out_labels"):
        expected = case[key] if column_perm is None else case[key][:, column_perm]
        check(key, out[key], expected)
    if "loss" in case:
        check("loss", out["loss"], case["loss"])
    check("dX", out["inputs"], case["dX"])
    dW = as_list(out["weights"])
    assert len(dW) == case["meta"]["num_shards"]
    for p, g in enumerate(dW):
        check(f"dW{p}", g, case[f"dW{p}"])
    db = as_list(out["biases"])
    keys = bias_keys(case)
    assert len(db) == len(keys)
    for key, g in zip(keys, db):
        check(key, g, case[key])
    return errors


# ---------------------------------------------------------------------------
# 1. golden vectors
# ---------------------------------------------------------------------------
def test_golden_file_is_the_expected_one():
    assert TF_VERSION == "2.21.0"
    assert len(INDEX) == 37
    kinds = {CASES[n]["meta"]["kind"] for n in INDEX}
    assert kinds == {"nce", "ssm", "logits", "sparse_ssm", "rank_ssm"}


def test_extra_golden_file():
    assert EXTRA_TF_VERSION == "2.21.0"
    assert len(EXTRA_INDEX) == 10 and not set(EXTRA_INDEX) & set(INDEX)
    metas = [EXTRA_CASES[n]["meta"] for n in EXTRA_INDEX]
    assert {m["kind"] for m in metas} == {"nce", "ssm", "logits"}
    assert {m["dtype"] for m in metas} == {"float32", "float64", "mixed"}
    assert any(m["batch"] == 64 and m["num_sampled"] == 50 and m["dim"] == 16 for m in metas)
    assert any(m["shard_rows"] == [51, 51, 50, 50] and m["partition_strategy"] == "div"
               for m in metas)


ALL_CASES = dict(CASES, **EXTRA_CASES)


@pytest.mark.parametrize("name", INDEX + EXTRA_INDEX)
def test_golden_case(name):
    case = ALL_CASES[name]
    meta = case["meta"]
    if meta["kind"] == "rank_ssm":
        # The golden logits/gradients are those of the final sampled softmax
        # over TF's resampled ids (in TF's top_k(sorted=False) order).
        out = run_case(case, sampled=case["resampled"], sec=case["resampled_sec"])
    else:
        out = run_case(case)
    compare_with_golden(case, out)

    # The plain loss functions agree with the loss returned by the *_grads ones.
    weights, biases = params(case)
    args = (weights, biases, case["labels"], case["X"], case["sampled"], case["tec"],
            case["sec"])
    kw = dict(remove_accidental_hits=meta["remove_accidental_hits"],
              partition_strategy=meta["partition_strategy"])
    tol = TOL[meta["dtype"]]
    if meta["kind"] == "nce":
        assert_close(ref.nce_loss(*args, **kw), case["loss"], tol, "nce_loss")
    elif meta["kind"] == "ssm":
        assert_close(ref.sampled_softmax_loss(*args, **kw), case["loss"], tol, "ssm")
    elif meta["kind"] == "sparse_ssm":
        assert_close(ref.sampled_sparse_softmax_loss(*args, **kw), case["loss"], tol,
                     "sparse ssm")
        # ... which is sampled softmax with num_true = 1.
        assert_close(ref.sampled_softmax_loss(*args, **kw), case["loss"], tol, "ssm")
    elif meta["kind"] == "logits":
        logits, out_labels = ref.sampled_logits(
            *args, subtract_log_q=meta["subtract_log_q"], **kw)
        assert_close(logits, case["logits"], tol, "sampled_logits")
        assert_close(out_labels, case["out_labels"], tol, "out_labels")


def test_masked_logits_are_exactly_minus_flt_max():
    seen = 0
    for name in INDEX + EXTRA_INDEX:
        case = ALL_CASES[name]
        if not case["meta"]["remove_accidental_hits"] or case["meta"]["kind"] == "rank_ssm":
            continue
        out = run_case(case)
        rows, pos = ref.accidental_hits(case["labels"], case["sampled"])
        nt = case["labels"].shape[1]
        masked = np.zeros(out["logits"].shape, bool)
        masked[rows, nt + pos] = True
        assert np.all(out["logits"][masked] == -FLT_MAX)
        assert np.all(case["logits"][masked] == -FLT_MAX)
        assert np.all(case["logits"][~masked] > -1e30)
        seen += masked.sum()
    assert seen > 5


def test_rank_resampling_selects_tfs_ids():
    (name,) = [n for n in INDEX if CASES[n]["meta"]["kind"] == "rank_ssm"]
    case = CASES[name]
    meta = case["meta"]
    weights, biases = params(case)
    ids, sec, positions, scores = ref.rank_resample(
        weights, biases, case["X"], case["sampled"], case["sec"], meta["num_resampled"],
        meta["resampling_temperature"], meta["partition_strategy"])
    assert sorted(ids.tolist()) == sorted(case["resampled"].tolist())
    # The expected counts travel with their ids, uncorrected.
    assert dict(zip(ids.tolist(), sec.tolist())) == \
        dict(zip(case["resampled"].tolist(), case["resampled_sec"].tolist()))
    # The selection is not a near tie, so the comparison is meaningful.
    ordered = np.sort(scores)[::-1]
    k = meta["num_resampled"]
    assert ordered[k - 1] - ordered[k] > 1e-3

    # Whole contrib loss with the oracle's own order: loss and gradients are
    # order-invariant; logits are TF's columns permuted.
    out = ref.rank_sampled_softmax_loss_grads(
        weights, biases, case["labels"], case["X"], case["sampled"], case["tec"],
        case["sec"], case["upstream"], meta["num_resampled"],
        meta["resampling_temperature"], meta["remove_accidental_hits"],
        meta["partition_strategy"])
    nt = case["labels"].shape[1]
    golden_pos = {v: j for j, v in enumerate(case["resampled"].tolist())}
    perm = list(range(nt)) + [nt + golden_pos[v] for v in out["resampled"].tolist()]
    compare_with_golden(case, out, column_perm=perm)
    loss = ref.rank_sampled_softmax_loss(
        weights, biases, case["labels"], case["X"], case["sampled"], case["tec"],
        case["sec"], meta["num_resampled"], meta["resampling_temperature"],
        meta["remove_accidental_hits"], meta["partition_strategy"])
    assert_close(loss, case["loss"], TOL["float32"], "rank loss")


# ---------------------------------------------------------------------------
# 2. the golden comparison discriminates plausible mistakes
# ---------------------------------------------------------------------------
def test_first_occurrence_masking_would_fail_golden():
    case = CASES["case13_nce_f32_nonunique_dups_rah"]
    weights, biases = params(case)
    # Mask the first occurrence instead: rebuild by reversing sampled order.
    rev = slice(None, None, -1)
    logits, _ = ref.sampled_logits(weights, biases, case["labels"], case["X"],
                                   case["sampled"][rev], case["tec"], case["sec"][rev],
                                   remove_accidental_hits=True)
    nt = case["labels"].shape[1]
    wrong = np.concatenate([logits[:, :nt], logits[:, nt:][:, rev]], axis=1)
    assert max_scaled_error(wrong, case["logits"]) > 1.0
    # all_duplicates masks even more -> also different from TF.
    logits_all, _ = ref.sampled_logits(weights, biases, case["labels"], case["X"],
                                       case["sampled"], case["tec"], case["sec"],
                                       remove_accidental_hits=True, all_duplicates=True)
    assert max_scaled_error(logits_all, case["logits"]) > 1.0


def test_hard_nce_labels_would_fail_golden():
    case = CASES["case02_nce_f32_nt3"]
    out = run_case(case)
    L, Z = out["logits"].astype(np.float64), out["out_labels"].astype(np.float64)
    hard = np.where(Z > 0, 1.0, 0.0)
    wrong = (np.maximum(L, 0) - L * hard + np.log1p(np.exp(-np.abs(L)))).sum(axis=1)
    assert max_scaled_error(wrong, case["loss"]) > 1e-2
    assert max_scaled_error(out["loss"], case["loss"]) <= 2e-4


@pytest.mark.parametrize("name", ["case07_nce_f32_div3_rah", "case19_ssm_f32_nt3_mod2"])
def test_other_partition_strategy_would_fail_golden(name):
    case = CASES[name]
    flipped = {"mod": "div", "div": "mod"}[case["meta"]["partition_strategy"]]
    weights, biases = params(case)
    logits, _ = ref.sampled_logits(weights, biases, case["labels"], case["X"],
                                   case["sampled"], case["tec"], case["sec"],
                                   remove_accidental_hits=case["meta"]["remove_accidental_hits"],
                                   partition_strategy=flipped)
    assert max_scaled_error(logits, case["logits"]) > 1e-2


def test_missing_log_q_would_fail_golden():
    case = CASES["case17_ssm_f32_nt1"]
    weights, biases = params(case)
    logits, _ = ref.sampled_logits(weights, biases, case["labels"], case["X"],
                                   case["sampled"], case["tec"], case["sec"],
                                   subtract_log_q=False)
    assert max_scaled_error(logits, case["logits"]) > 1e-2


def test_tolerance_helper_rejects_errors():
    a = np.array([1.0, -FLT_MAX], np.float32)
    assert max_scaled_error(a, a) == 0.0
    assert max_scaled_error(np.array([1.001, -FLT_MAX]), a) > 2e-4
    assert max_scaled_error(np.array([1.0, -1e30]), a) == np.inf
    assert max_scaled_error(np.zeros(3), np.zeros(2)) == np.inf


# ---------------------------------------------------------------------------
# 3. analytic gradients vs central finite differences (float64)
# ---------------------------------------------------------------------------
def _random_problem(seed, num_true, strategy, shards, bias_sharded):
    rng = np.random.default_rng(seed)
    batch, dim, classes = 3, 4, 10
    W = rng.normal(size=(classes, dim))
    b = rng.normal(size=classes)
    X = rng.normal(size=(batch, dim))
    labels = rng.integers(0, classes, size=(batch, num_true))
    # Duplicate sampled ids (5 twice, 2 twice) and a guaranteed accidental hit.
    sampled = np.array([5, 2, 7, 5, 0, 2])
    labels[0, 0] = 5
    labels[1, -1] = 2
    if num_true > 1:
        labels[2, 1] = labels[2, 0]                     # duplicate label in a row
    tec = rng.uniform(0.05, 1.5, size=(batch, num_true))
    sec = rng.uniform(0.05, 1.5, size=sampled.shape)
    upstream = rng.uniform(0.5, 1.5, size=batch)

    def split(a):
        if shards == 1:
            return a
        rows = ref.canonical_shard_rows(classes, shards)
        if strategy == "mod":
            return [a[p::shards] for p in range(shards)]
        starts = np.cumsum([0] + rows[:-1])
        return [a[s:s + n] for s, n in zip(starts, rows)]

    return dict(weights=split(W), biases=split(b) if bias_sharded else b, X=X,
                labels=labels, sampled=sampled, tec=tec, sec=sec, upstream=upstream,
                strategy=strategy)


def _numeric_grad(f, arrays):
    """Central differences of scalar f() w.r.t. every entry of every array (in place)."""
    h = 1e-6
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + h
            up = f()
            a[idx] = old - h
            down = f()
            a[idx] = old
            g[idx] = (up - down) / (2 * h)
        grads.append(g)
    return grads


FD_CONFIGS = [
    # (loss, num_true, strategy, shards, bias_sharded, rah)
    ("nce", 1, "mod", 1, False, True),
    ("nce", 3, "div", 3, True, True),
    ("nce", 3, "mod", 2, False, False),
    ("ssm", 1, "div", 2, True, True),
    ("ssm", 3, "mod", 3, True, True),
    ("ssm", 3, "div", 1, False, False),
]


@pytest.mark.parametrize("loss,num_true,strategy,shards,bias_sharded,rah", FD_CONFIGS)
def test_gradients_match_finite_differences(loss, num_true, strategy, shards,
                                            bias_sharded, rah):
    p = _random_problem(7 * num_true + shards, num_true, strategy, shards, bias_sharded)
    loss_fn = {"nce": ref.nce_loss, "ssm": ref.sampled_softmax_loss}[loss]
    grad_fn = {"nce": ref.nce_loss_grads, "ssm": ref.sampled_softmax_loss_grads}[loss]
    args = lambda: (p["weights"], p["biases"], p["labels"], p["X"], p["sampled"],  # noqa: E731
                    p["tec"], p["sec"])
    kw = dict(remove_accidental_hits=rah, partition_strategy=strategy)

    if rah:   # the problem really contains masked columns
        logits, _ = ref.sampled_logits(*args(), remove_accidental_hits=True,
                                       partition_strategy=strategy)
        assert np.sum(logits == -FLT_MAX) >= 2

    def objective():
        return float(np.dot(p["upstream"], loss_fn(*args(), **kw)))

    w_list, b_list = as_list(p["weights"]), as_list(p["biases"])
    numeric = _numeric_grad(objective, [p["X"]] + w_list + b_list)
    analytic = grad_fn(*args(), p["upstream"], **kw)
    got = [analytic["inputs"]] + as_list(analytic["weights"]) + as_list(analytic["biases"])
    assert len(got) == len(numeric)
    for g, n in zip(got, numeric):
        assert g.shape == n.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-7)
    # Gradients are not trivially zero.
    assert np.abs(analytic["inputs"]).max() > 1e-3


@pytest.mark.parametrize("subtract_log_q", [True, False])
def test_sampled_logits_gradients(subtract_log_q):
    p = _random_problem(3, 2, "div", 3, True)
    R = np.random.default_rng(0).normal(size=(3, 2 + 6))
    args = lambda: (p["weights"], p["biases"], p["labels"], p["X"], p["sampled"],  # noqa: E731
                    p["tec"], p["sec"])
    kw = dict(subtract_log_q=subtract_log_q, partition_strategy="div")

    def objective():
        return float(np.sum(R * ref.sampled_logits(*args(), **kw)[0]))

    numeric = _numeric_grad(objective, [p["X"]] + p["weights"] + p["biases"])
    analytic = ref.sampled_logits_grads(*args(), R, **kw)
    got = [analytic["inputs"]] + analytic["weights"] + analytic["biases"]
    for g, n in zip(got, numeric):
        np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-7)
    # The mask is an additive constant: with hits removed the gradients of
    # sum(R * logits) are unchanged (masked columns still pass R through).
    masked = ref.sampled_logits_grads(*args(), R, remove_accidental_hits=True, **kw)
    for g, h in zip(got, [masked["inputs"]] + masked["weights"] + masked["biases"]):
        np.testing.assert_array_equal(g, h)


def test_masked_columns_have_zero_loss_gradient():
    p = _random_problem(11, 1, "mod", 1, False)
    for fn in (ref.nce_loss_grads, ref.sampled_softmax_loss_grads):
        with_mask = fn(p["weights"], p["biases"], p["labels"], p["X"], p["sampled"],
                       p["tec"], p["sec"], p["upstream"], remove_accidental_hits=True)
        L = with_mask["logits"]
        assert np.sum(L == -FLT_MAX) >= 2
        # Rebuild dX by hand from G (zero where masked) and compare.
        if fn is ref.nce_loss_grads:
            with np.errstate(over="ignore"):
                sig = 1 / (1 + np.exp(-L))
            G = p["upstream"][:, None] * (sig - with_mask["out_labels"])
        else:
            e = np.exp(L - L.max(axis=1, keepdims=True))
            G = p["upstream"][:, None] * (e / e.sum(axis=1, keepdims=True)
                                          - with_mask["out_labels"])
        assert np.all(G[L == -FLT_MAX] == 0)
        ids = np.concatenate([p["labels"], np.broadcast_to(p["sampled"], (3, 6))], axis=1)
        dX = np.einsum("ij,ijd->id", G, p["weights"][ids])
        np.testing.assert_allclose(with_mask["inputs"], dX, rtol=1e-12, atol=1e-12)


def test_sharded_equals_unsharded_and_mixed_dtype():
    p = _random_problem(5, 2, "mod", 1, False)
    common = (p["labels"], p["X"], p["sampled"], p["tec"], p["sec"], p["upstream"])
    full = ref.sampled_softmax_loss_grads(p["weights"], p["biases"], *common)
    for strategy in ("mod", "div"):
        q = _random_problem(5, 2, strategy, 3, True)
        sh = ref.sampled_softmax_loss_grads(q["weights"], q["biases"], *common,
                                            partition_strategy=strategy)
        np.testing.assert_allclose(sh["loss"], full["loss"], rtol=1e-14)
        rows = np.arange(10)
        shard, local = ref.route(rows, [w.shape[0] for w in q["weights"]], strategy)
        dW = np.stack([sh["weights"][s][r] for s, r in zip(shard, local)])
        db = np.array([sh["biases"][s][r] for s, r in zip(shard, local)])
        np.testing.assert_allclose(dW, full["weights"], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(db, full["biases"], rtol=1e-14, atol=1e-15)

    # float32 inputs with float64 parameters: computed in float32, dW/db in float64.
    X32 = p["X"].astype(np.float32)
    mixed = ref.nce_loss_grads(p["weights"], p["biases"], p["labels"], X32, p["sampled"],
                               p["tec"], p["sec"], p["upstream"])
    assert mixed["loss"].dtype == np.float32 and mixed["inputs"].dtype == np.float32
    assert mixed["weights"].dtype == np.float64 and mixed["biases"].dtype == np.float64
    exact = ref.nce_loss_grads(p["weights"], p["biases"], p["labels"], p["X"], p["sampled"],
                               p["tec"], p["sec"], p["upstream"])
    np.testing.assert_allclose(mixed["weights"], exact["weights"], rtol=1e-4, atol=1e-5)


def test_empty_batch():
    W, b = np.ones((5, 2)), np.zeros(5)
    out = ref.nce_loss_grads(W, b, np.zeros((0, 1), np.int64), np.zeros((0, 2)),
                             [1, 2], np.zeros((0, 1)), [0.5, 0.5], np.zeros(0))
    assert out["loss"].shape == (0,) and out["logits"].shape == (0, 3)
    assert not out["weights"].any()


# ---------------------------------------------------------------------------
# 4. routing and accidental hits
# ---------------------------------------------------------------------------
# (shard_rows, strategy, ids 0..N-1 -> shard, -> local row), worked by hand.
ROUTING_TABLES = [
    ([4, 3, 3], "mod", [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]),
    ([4, 3, 3], "div", [0, 0, 0, 0, 1, 1, 1, 2, 2, 2], [0, 1, 2, 3, 0, 1, 2, 0, 1, 2]),
    ([6, 5], "mod", [0, 1] * 5 + [0], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5]),
    ([6, 5], "div", [0] * 6 + [1] * 5, [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4]),
    ([3, 2, 2], "div", [0, 0, 0, 1, 1, 2, 2], [0, 1, 2, 0, 1, 0, 1]),
    ([3, 2, 2], "mod", [0, 1, 2, 0, 1, 2, 0], [0, 0, 0, 1, 1, 1, 2]),
    ([3, 3, 2, 2], "div", [0, 0, 0, 1, 1, 1, 2, 2, 3, 3], [0, 1, 2, 0, 1, 2, 0, 1, 0, 1]),
    ([3, 3, 2, 2], "mod", [0, 1, 2, 3] * 2 + [0, 1], [0] * 4 + [1] * 4 + [2, 2]),
    ([2, 2, 2], "div", [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1]),
]


@pytest.mark.parametrize("rows,strategy,shard,local", ROUTING_TABLES)
def test_routing_tables(rows, strategy, shard, local):
    ids = np.arange(sum(rows))
    s, r = ref.route(ids, rows, strategy)
    assert s.tolist() == shard and r.tolist() == local
    # Every (shard, row) slot is used exactly once.
    assert len({(a, b) for a, b in zip(s.tolist(), r.tolist())}) == len(ids)


@pytest.mark.parametrize("total,shards", [(n, p) for n in range(1, 40) for p in range(2, 8)
                                           if n >= p])
def test_div_matches_spec_formula(total, shards):
    """The block table equals SPEC 5's closed form max(x//(q+1), (x-r)//q)."""
    q, r = divmod(total, shards)
    x = np.arange(total)
    shard = np.maximum(x // (q + 1), (x - r) // q)
    row = np.where(shard < r, x % (q + 1), (x - r) % q)
    s, loc = ref.route(x, ref.canonical_shard_rows(total, shards), "div")
    np.testing.assert_array_equal(s, shard)
    np.testing.assert_array_equal(loc, row)
    s, loc = ref.route(x, ref.canonical_shard_rows(total, shards), "mod")
    np.testing.assert_array_equal(s, x % shards)
    np.testing.assert_array_equal(loc, x // shards)


def test_single_shard_is_identity_and_ignores_strategy():
    ids = np.array([[3, 0], [4, 4]])
    for strategy in ("mod", "div", "foo"):
        s, r = ref.route(ids, [5], strategy)
        assert s.shape == ids.shape and not s.any()
        np.testing.assert_array_equal(r, ids)


@pytest.mark.parametrize("rows,strategy", [([4, 4, 2], "mod"), ([3, 3, 4], "div"),
                                           ([5, 6], "div"), ([5, 6], "mod"),
                                           ([2, 3, 3], "mod")])
def test_non_canonical_layout_raises(rows, strategy):
    with pytest.raises(ValueError):
        ref.route(np.array([0]), rows, strategy)


def test_bad_strategy_and_too_few_rows_raise():
    with pytest.raises(ValueError):
        ref.route(np.array([0]), [2, 2], "foo")
    with pytest.raises(ValueError):           # TF: "Integer division by zero"
        ref.route(np.array([0]), [1, 1, 0], "div")
    s, r = ref.route(np.array([0, 1]), [1, 1, 0], "mod")
    assert s.tolist() == [0, 1] and r.tolist() == [0, 0]


@pytest.mark.parametrize("rows,strategy", [([10], "mod"), ([4, 3, 3], "mod"),
                                           ([4, 3, 3], "div")])
@pytest.mark.parametrize("bad", [-1, 10, 11])
def test_out_of_range_ids_raise(rows, strategy, bad):
    with pytest.raises(IndexError):
        ref.route(np.array([0, bad]), rows, strategy)


@pytest.mark.parametrize("strategy", ["mod", "div"])
@pytest.mark.parametrize("shards", [1, 2, 3, 4])
def test_gather_rows_equals_full_table(strategy, shards):
    rng = np.random.default_rng(shards)
    full_W = rng.normal(size=(11, 3)).astype(np.float32)
    full_b = rng.normal(size=11)
    rows = ref.canonical_shard_rows(11, shards)
    if strategy == "mod":
        W = [full_W[p::shards] for p in range(shards)]
        b = [full_b[p::shards] for p in range(shards)]
    else:
        starts = np.cumsum([0] + rows[:-1])
        W = [full_W[s:s + n] for s, n in zip(starts, rows)]
        b = [full_b[s:s + n] for s, n in zip(starts, rows)]
    assert [w.shape[0] for w in W] == rows
    ids = np.array([[10, 0, 3], [3, 7, 5]])
    got = ref.gather_rows(W, ids, strategy)
    assert got.dtype == np.float32 and got.shape == (2, 3, 3)
    np.testing.assert_array_equal(got, full_W[ids])
    np.testing.assert_array_equal(ref.gather_rows(b, ids, strategy), full_b[ids])
    np.testing.assert_array_equal(ref.gather_rows(full_b, ids, strategy), full_b[ids])


def test_accidental_hits_last_occurrence_rule():
    labels = np.array([[3, 9], [7, 7], [1, 3]])
    sampled = np.array([3, 7, 3, 1, 7, 7])
    rows, pos = ref.accidental_hits(labels, sampled)
    assert rows.tolist() == [0, 1, 1, 2, 2]
    assert pos.tolist() == [2, 5, 5, 3, 2]          # duplicate label -> emitted twice
    rows, pos = ref.accidental_hits(labels, sampled, all_duplicates=True)
    assert list(zip(rows.tolist(), pos.tolist())) == [
        (0, 0), (0, 2), (1, 1), (1, 4), (1, 5), (1, 1), (1, 4), (1, 5), (2, 3),
        (2, 0), (2, 2)]
    rows, pos = ref.accidental_hits(np.array([[4]]), sampled)
    assert rows.size == 0 and pos.size == 0


def test_mask_is_assigned_not_summed():
    """A duplicated label hits the same slot twice; the logit is -FLT_MAX, not -inf."""
    W, b = np.eye(4, dtype=np.float32), np.zeros(4, np.float32)
    logits, labels = ref.sampled_logits(
        W, b, np.array([[2, 2]]), np.ones((1, 4), np.float32), [2, 1],
        np.ones((1, 2), np.float32), np.ones(2, np.float32), remove_accidental_hits=True)
    assert logits.dtype == np.float32
    assert logits[0, 2] == -FLT_MAX and logits[0, 3] == 1.0
    np.testing.assert_array_equal(labels, [[0.5, 0.5, 0, 0]])
