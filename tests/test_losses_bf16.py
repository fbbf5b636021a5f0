"""bfloat16 storage with float32 computing (issues 9 item 6 and 10).

Oracles: TensorFlow 2.21 on bfloat16 tensors (``tests/data/tf_bf16.npz``,
made by ``tests/data/make_tf_bf16.py``; TF computes in bfloat16 throughout,
so it is compared within TF's own bfloat16 tolerance, 1e-1); the float64
NumPy oracle ``tests/oracles/losses.py`` on the same (exactly widened) values;
ml_dtypes' float32 -> bfloat16 cast for round-to-nearest-even; closed-form
binomial bounds for stochastic rounding.
"""
import json
import pathlib

import ml_dtypes
import numpy as np
import pytest

import pysampled as ps
from pysampled import _runtime as _samplers

from _loss_common import SIMD_LEVELS, ref, split

BF16 = ml_dtypes.bfloat16
HERE = pathlib.Path(__file__).resolve().parent


def _tf_cases():
    data = np.load(HERE / "data" / "tf_bf16.npz")
    out = {}
    for name in json.loads(str(data["index"])):
        p = name + "/"
        c = {k[len(p):]: data[k] for k in data.files if k.startswith(p)}
        c["meta"] = json.loads(str(c["meta"]))
        out[name] = c
    return out


TF = _tf_cases()


def _bf(bits):
    return np.ascontiguousarray(bits).view(BF16)


def _problem(seed=0, C=300, D=40, B=24, NT=2, S=30, shards=3, strategy="div"):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((C, D)) * 0.3).astype(BF16)
    b = (rng.standard_normal(C) * 0.1).astype(BF16)
    x = rng.standard_normal((B, D)).astype(np.float32)
    labels = rng.integers(0, C, size=(B, NT))
    sampled = rng.choice(C, size=S, replace=False)
    sampled[:4] = labels.reshape(-1)[:4]
    tec = rng.uniform(0.05, 0.9, size=(B, NT)).astype(np.float32)
    sec = rng.uniform(0.05, 0.9, size=S).astype(np.float32)
    return dict(W=split(W, shards, strategy), b=split(b, shards, strategy), x=x, labels=labels,
                sv=(sampled, tec, sec), C=C, S=S, NT=NT, strategy=strategy)


def _as(shards, dtype):
    return [s.astype(dtype) for s in shards] if isinstance(shards, list) else shards.astype(dtype)


LOSSES = {"softmax": ps.sampled_softmax_loss, "nce": ps.nce_loss}


# ------------------------------------------------------------ TF golden data
@pytest.mark.parametrize("name", sorted(TF))
def test_sampled_softmax_loss_bf16_against_tf(name):
    """Mirrors TF's ``testSampledSoftmaxLossBf16`` (tensorflow/python/ops/nn_test.py):
    bfloat16 weights, biases, inputs and expected counts give a bfloat16 loss
    within TF's bfloat16 tolerance (1e-1) of TF's; gradients likewise."""
    c = TF[name]
    m = c["meta"]
    W = [_bf(c[f"W{p}"]) for p in range(m["shards"])]
    b = [_bf(c[f"b{p}"]) for p in range(m["bias_shards"])]
    fn = LOSSES[m["loss"]]
    loss, g = fn(W if len(W) > 1 else W[0], b if len(b) > 1 else b[0], c["labels"], _bf(c["X"]),
                 m["S"], m["C"], num_true=m["NT"],
                 sampled_values=(c["sampled"], _bf(c["tec"]), _bf(c["sec"])),
                 remove_accidental_hits=m["remove_accidental_hits"],
                 partition_strategy=m["strategy"], return_grads=True)
    assert m["loss_dtype"] == "bfloat16"
    assert loss.dtype == BF16 and g.inputs.dtype == BF16
    assert g.weights.values.dtype == BF16 and g.biases.values.dtype == BF16
    tf_loss, tf_dx = c["loss"], c["dX"]
    if m["remove_accidental_hits"] and m["loss"] == "softmax":
        # A deliberate difference: TF masks accidental hits with -FLT_MAX cast
        # to bfloat16, which is -inf, and its softmax cross-entropy then gives
        # NaN (0 * inf) for every row with a hit. pysampled computes in
        # float32, where the mask is finite, as TF's float32 loss does.
        hit_rows = np.array([np.isin(c["sampled"], row).any() for row in c["labels"]])
        assert hit_rows.any() and not hit_rows.all()
        assert np.array_equal(np.isnan(tf_loss), hit_rows)
        assert np.all(np.isfinite(loss.astype(np.float32)))
        tf_loss, tf_dx = tf_loss[~hit_rows], tf_dx[~hit_rows]
        loss, dx = loss[~hit_rows], g.inputs[~hit_rows]
        np.testing.assert_allclose(loss.astype(np.float32), tf_loss, rtol=1e-1, atol=1e-1)
        np.testing.assert_allclose(dx.astype(np.float32), tf_dx, rtol=1e-1, atol=1e-1)
        return  # TF's weight gradients are NaN-free but mix the NaN rows' terms: not comparable
    np.testing.assert_allclose(loss.astype(np.float32), tf_loss, rtol=1e-1, atol=1e-1)
    np.testing.assert_allclose(g.inputs.astype(np.float32), tf_dx, rtol=1e-1, atol=1e-1)
    np.testing.assert_allclose(g.weights.to_dense().astype(np.float32), c["dW"], rtol=1e-1,
                               atol=1e-1)
    np.testing.assert_allclose(g.biases.to_dense().astype(np.float32), c["db"], rtol=1e-1,
                               atol=1e-1)


# --------------------------------------------- exact widening, one rounding
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_bf16_weights_read_exactly(loss, level, restore_simd):
    """bfloat16 shards widen exactly: the results equal those of float32
    shards holding the same values (bit for bit, every SIMD level); gradient
    rows come back in bfloat16, rounded once to nearest even (ml_dtypes' cast)."""
    _samplers.set_simd_level(level)
    p = _problem()
    fn = LOSSES[loss]
    args = dict(sampled_values=p["sv"], num_true=p["NT"], partition_strategy=p["strategy"],
                return_grads=True, remove_accidental_hits=True)
    l16, g16 = fn(p["W"], p["b"], p["labels"], p["x"], p["S"], p["C"], **args)
    l32, g32 = fn(_as(p["W"], np.float32), _as(p["b"], np.float32), p["labels"], p["x"], p["S"],
                  p["C"], **args)
    assert l16.dtype == np.float32 and np.array_equal(l16, l32)
    assert np.array_equal(g16.inputs, g32.inputs)
    assert np.array_equal(g16.weights.ids, g32.weights.ids)
    assert g16.weights.values.dtype == BF16
    assert np.array_equal(g16.weights.values.view(np.uint16),
                          g32.weights.values.astype(BF16).view(np.uint16))
    assert np.array_equal(g16.biases.values.view(np.uint16),
                          g32.biases.values.astype(BF16).view(np.uint16))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_bf16_against_float64_oracle(loss):
    """bfloat16 weights and inputs against the float64 oracle on the same
    values: the float32 computation rounded once to bfloat16 is within a
    few bfloat16 ulps (2**-8 relative) of the exact result."""
    p = _problem(seed=3)
    x16 = p["x"].astype(BF16)
    fn = LOSSES[loss]
    l16, g16 = fn(p["W"], p["b"], p["labels"], x16, p["S"], p["C"], sampled_values=p["sv"],
                  num_true=p["NT"], partition_strategy=p["strategy"], return_grads=True,
                  remove_accidental_hits=True)
    W64 = _as(p["W"], np.float64)
    b64 = _as(p["b"], np.float64)
    x64 = x16.astype(np.float64)
    s, tec, sec = p["sv"]
    kw = dict(remove_accidental_hits=True, partition_strategy=p["strategy"])
    if loss == "softmax":
        e = ref.sampled_softmax_loss_grads(W64, b64, p["labels"], x64, s, tec.astype(np.float64),
                                           sec.astype(np.float64), np.ones(x64.shape[0]), **kw)
    else:
        e = ref.nce_loss_grads(W64, b64, p["labels"], x64, s, tec.astype(np.float64),
                               sec.astype(np.float64), np.ones(x64.shape[0]), **kw)
    assert l16.dtype == BF16 and g16.inputs.dtype == BF16
    np.testing.assert_allclose(l16.astype(np.float64), e["loss"], rtol=2**-7, atol=1e-6)
    scale = np.abs(e["inputs"]).max()
    assert np.abs(g16.inputs.astype(np.float64) - e["inputs"]).max() <= 2**-7 * scale
    # gradient rows (bfloat16, like the weights) per shard, dense
    for got, want in ((g16.weights.per_shard(), e["weights"]), (g16.biases.per_shard(), e["biases"])):
        for rows, full in zip(got, want):
            dense = np.zeros(np.shape(full))
            dense[rows.ids] = rows.values.astype(np.float64)
            scale = max(1e-3, np.abs(full).max())
            assert np.abs(dense - full).max() <= 2**-7 * scale


# --------------------------------------------------------------- SampledLoss.step
def _step_pair(optimizer, threads=1, rounding="nearest", seed=0, steps=1):
    """A bfloat16 model and its float32 twin (same values), after `steps` steps."""
    p = _problem(seed=5, shards=2, strategy="mod")
    W16 = [a.copy() for a in p["W"]]
    b16 = [a.copy() for a in p["b"]]
    m16 = ps.SampledLoss(W16, b16, num_sampled=p["S"], num_true=p["NT"], optimizer=optimizer,
                         learning_rate=0.3, num_threads=threads, bf16_rounding=rounding,
                         rounding_seed=seed)
    outs = [m16.step(p["labels"], p["x"], sampled_values=p["sv"]) for _ in range(steps)]
    return p, m16, outs


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_step_bf16_rows_round_to_nearest_even(optimizer):
    """One step on bfloat16 rows equals the float32 update computed in NumPy
    from the float32 path's gradient, then cast by ml_dtypes (RNE); Adagrad's
    accumulators stay float32 and equal init + g**2."""
    p, m16, (out,) = _step_pair(optimizer)
    W32 = [a.astype(np.float32) for a in p["W"]]
    b32 = [a.astype(np.float32) for a in p["b"]]
    loss32, g = ps.sampled_softmax_loss(W32, b32, p["labels"], p["x"], p["S"], p["C"],
                                        num_true=p["NT"], sampled_values=p["sv"],
                                        partition_strategy="mod", return_grads=True)
    assert out.loss.dtype == np.float32 and np.array_equal(out.loss, loss32)
    lr = np.float32(0.3)
    full_w = np.concatenate([a.astype(np.float32)[None] for a in []] or [np.zeros(0)])  # noqa: F841
    ids = g.weights.ids
    shard, row = ids % 2, ids // 2
    w_before = np.stack([W32[s][r] for s, r in zip(shard, row)])
    b_before = np.array([b32[s][r] for s, r in zip(shard, row)], dtype=np.float32)
    gw, gb = g.weights.values, g.biases.values
    if optimizer == "sgd":
        w_new, b_new = w_before - lr * gw, b_before - lr * gb
    else:
        init, eps = np.float32(0.1), np.float32(1e-7)
        aw, ab = init + gw * gw, init + gb * gb
        w_new = w_before - lr * gw / (np.sqrt(aw) + eps)
        b_new = b_before - lr * gb / (np.sqrt(ab) + eps)
        accw, accb = m16.accumulators
        assert all(a.dtype == np.float32 for a in accw + accb)
        got_aw = np.stack([accw[s][r] for s, r in zip(shard, row)])
        assert np.array_equal(got_aw, aw)
    got_w = np.stack([m16.weights[s][r] for s, r in zip(shard, row)])
    got_b = np.array([m16.biases[s][r] for s, r in zip(shard, row)])
    assert got_w.dtype == BF16
    assert np.array_equal(got_w.view(np.uint16), w_new.astype(BF16).view(np.uint16))
    assert np.array_equal(got_b.view(np.uint16), b_new.astype(BF16).view(np.uint16))
    # rows no class touched are unchanged
    untouched = np.setdiff1d(np.arange(p["C"]), ids)
    for i in untouched[:20]:
        assert np.array_equal(m16.weights[i % 2][i // 2].view(np.uint16),
                              p["W"][i % 2][i // 2].view(np.uint16))


def _neighbours(v32):
    """The bfloat16 values just toward zero and just away from zero of float32 v."""
    bits = v32.view(np.uint32)
    down = (bits & np.uint32(0xFFFF0000)).view(np.float32)
    up = ((bits & np.uint32(0xFFFF0000)) + np.uint32(0x10000)).view(np.float32)
    frac = (bits & np.uint32(0xFFFF)).astype(np.float64) / 65536.0
    return down, up, frac


def test_step_bf16_stochastic_rounding():
    """Stochastic rounding: every element is one of the two bfloat16
    neighbours of the float32 update (exact values stay exact), rounded away
    from zero with probability = the dropped fraction: the count of elements
    rounded away is within 6 standard deviations of its binomial mean
    (false-failure rate < 1e-8). Deterministic for a seed, other seeds differ."""
    p, m16, _ = _step_pair("sgd", rounding="stochastic", seed=11)
    W32 = [a.astype(np.float32) for a in p["W"]]
    b32 = [a.astype(np.float32) for a in p["b"]]
    _, g = ps.sampled_softmax_loss(W32, b32, p["labels"], p["x"], p["S"], p["C"],
                                   num_true=p["NT"], sampled_values=p["sv"],
                                   partition_strategy="mod", return_grads=True)
    ids = g.weights.ids
    w_new = np.stack([W32[i % 2][i // 2] for i in ids]) - np.float32(0.3) * g.weights.values
    got = np.stack([m16.weights[i % 2][i // 2] for i in ids]).astype(np.float32)
    down, up, frac = _neighbours(w_new)
    is_up = got == up
    assert np.all(is_up | (got == down))
    assert np.all(got[frac == 0] == down[frac == 0])
    mean = frac.sum()
    sd = np.sqrt((frac * (1 - frac)).sum())
    assert abs(is_up.sum() - mean) <= 6 * sd + 1, (is_up.sum(), mean, sd)
    assert 0.2 < frac.mean() < 0.8 and sd > 5  # the check has power
    # same seed: same bits; another seed: other bits
    _, again, _ = _step_pair("sgd", rounding="stochastic", seed=11)
    _, other, _ = _step_pair("sgd", rounding="stochastic", seed=12)
    same = all(np.array_equal(a.view(np.uint16), b.view(np.uint16))
               for a, b in zip(m16.weights, again.weights))
    diff = any(not np.array_equal(a.view(np.uint16), b.view(np.uint16))
               for a, b in zip(m16.weights, other.weights))
    assert same and diff


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_step_bf16_bit_identical_for_any_thread_count(optimizer, rounding):
    _, m1, o1 = _step_pair(optimizer, threads=1, rounding=rounding, steps=3)
    _, m2, o2 = _step_pair(optimizer, threads=2, rounding=rounding, steps=3)
    for a, b in zip(o1, o2):
        assert np.array_equal(a.loss, b.loss) and np.array_equal(a.inputs_grad, b.inputs_grad)
    for a, b in zip(m1.weights + m1.biases, m2.weights + m2.biases):
        assert np.array_equal(a.view(np.uint16), b.view(np.uint16))


def test_step_bf16_inputs_return_bf16():
    p = _problem(seed=7, shards=1)
    W = p["W"].copy()
    m = ps.SampledLoss(W, None, num_sampled=p["S"], num_true=p["NT"])
    out = m.step(p["labels"], p["x"].astype(BF16), sampled_values=p["sv"])
    assert out.loss.dtype == BF16 and out.inputs_grad.dtype == BF16


def test_step_refuses_bf16_weights_with_float64_inputs():
    p = _problem(seed=8, shards=1)
    m = ps.SampledLoss(p["W"].copy(), None, num_sampled=p["S"], num_true=p["NT"])
    with pytest.raises(TypeError, match="bfloat16 weights"):
        m.step(p["labels"], p["x"].astype(np.float64), sampled_values=p["sv"])


def test_step_refuses_read_only_bf16_weights():
    p = _problem(seed=9, shards=1)
    W = p["W"].copy()
    W.flags.writeable = False
    m = ps.SampledLoss(W, None, num_sampled=p["S"], num_true=p["NT"])
    before = W.copy()
    with pytest.raises(ValueError, match="writable"):
        m.step(p["labels"], p["x"], sampled_values=p["sv"])
    assert np.array_equal(W.view(np.uint16), before.view(np.uint16))


def _sgd_into_zero_row(values, dtype=np.float32, rounding=0, seed=0, step=0, row_id=0):
    """A bfloat16 row of zeros after SGD with lr 1 and gradient -values: the
    narrowing of `values` (computed in `dtype`) by the sparse row update."""
    from pysampled import _losses

    g = -np.asarray(values, dtype=dtype)
    row = np.zeros(g.size, dtype=BF16)
    _losses._update_row(0, 1.0, 0.0, row, None, g, rounding, seed, step, row_id)
    return row


def test_bf16_round_to_nearest_even_edge_values():
    """The update's float32 -> bfloat16 narrowing equals ml_dtypes' cast on
    ties (to even, both directions), NaN, infinities, the largest finite
    values, overflow, subnormals and signed zeros."""
    one = np.float32(1.0)
    ulp = np.float32(2.0**-7)
    v = np.array([one + ulp / 2, one + 3 * ulp / 2, -(one + ulp / 2), one + ulp / 2 + 2**-20,
                  np.inf, -np.inf, np.nan, 3.3895314e38, 3.3961776e38, 3.4e38, -3.4e38, 1e-40,
                  -1e-40, 9.2e-41, 0.0, 1.0, -2.5, 1e-45], dtype=np.float32)
    got = _sgd_into_zero_row(v)
    want = v.astype(BF16)
    assert np.array_equal(np.isnan(got.astype(np.float32)), np.isnan(v))
    ok = ~np.isnan(v)
    assert np.array_equal(got.view(np.uint16)[ok], want.view(np.uint16)[ok])
    # ties by hand: 1 + ulp/2 -> 1 (even), 1 + 3ulp/2 -> 1 + 2ulp (even)
    assert got.astype(np.float32)[0] == 1.0 and got.astype(np.float32)[1] == 1 + 2 * ulp


def test_bf16_from_float64_rounds_once():
    """float64 computing narrows straight to bfloat16 (no double rounding
    through float32): 1 + 2**-8 + 2**-30 is above the tie between 1 and
    1 + 2**-7, though its float32 rounding is the tie itself."""
    v = np.array([1 + 2**-8 + 2**-30, 1 + 2**-8 - 2**-30, 1 + 2**-8, -(1 + 2**-8 + 2**-30),
                  1 + 3 * 2**-8], dtype=np.float64)
    got = _sgd_into_zero_row(v, dtype=np.float64).astype(np.float64)
    assert got.tolist() == [1 + 2**-7, 1.0, 1.0, -(1 + 2**-7), 1 + 2 * 2**-7]


def test_bf16_stochastic_rounding_of_one_value():
    """Stochastic rounding of 1 + ulp/4 over many (step) streams rounds up
    in a fraction within 6 sd of 1/4 (false-failure rate < 1e-8); NaN and
    infinities pass through; exact values never move."""
    n = 4096
    v = np.full(n, 1 + 2.0**-9, dtype=np.float32)
    ups = 0
    for step in range(8):
        got = _sgd_into_zero_row(v, rounding=1, seed=5, step=step).astype(np.float32)
        assert np.all((got == 1.0) | (got == 1 + 2.0**-7))
        ups += int((got > 1).sum())
    total = 8 * n
    assert abs(ups - total / 4) <= 6 * np.sqrt(total * 0.25 * 0.75)
    special = np.array([np.inf, -np.inf, np.nan, 1.0, -2.5, 0.0], dtype=np.float32)
    got = _sgd_into_zero_row(special, rounding=1, seed=1).astype(np.float32)
    assert np.array_equal(got, special, equal_nan=True)


def test_update_row_adagrad_mixed_dtypes():
    """Adagrad on a bfloat16 row with float32 accumulators: acc += g*g, then
    row -= lr g / (sqrt(acc) + eps), in float32 (NumPy), rounded by ml_dtypes."""
    from pysampled import _losses

    rng = np.random.default_rng(4)
    row = rng.standard_normal(37).astype(BF16)
    acc = rng.uniform(0.1, 2, 37).astype(np.float32)
    g = rng.standard_normal(37).astype(np.float32)
    lr, eps = np.float32(0.05), np.float32(1e-7)
    acc_want = acc + g * g
    row_want = (row.astype(np.float32) - lr * g / (np.sqrt(acc_want) + eps)).astype(BF16)
    _losses._update_row(1, 0.05, 1e-7, row, acc, g)
    assert np.array_equal(acc, acc_want)
    assert np.array_equal(row.view(np.uint16), row_want.view(np.uint16))


def test_bf16_invalid_rounding_option():
    with pytest.raises(ValueError, match="bf16_rounding"):
        ps.SampledLoss(np.zeros((4, 2), BF16), None, num_sampled=2, bf16_rounding="up")


def test_bf16_weights_are_read_in_place_without_copy():
    """A bfloat16 table viewed through a column slice (row stride != dim) is
    neither copied nor widened (tracemalloc sees every NumPy allocation; a
    copy would be > 6 MB, a float32 widening > 12 MB), and gives the same
    bits as its contiguous float32 twin."""
    import tracemalloc

    rng = np.random.default_rng(2)
    C, D = 50_000, 64
    wide = rng.normal(size=(C, D + 16)).astype(BF16)
    W = wide[:, :D]
    b = rng.normal(size=C).astype(BF16)
    X = rng.normal(size=(8, D)).astype(np.float32)
    labels = rng.integers(0, C, size=(8, 1))
    sampled = rng.choice(C, size=20, replace=False)
    sv = (sampled, np.ones((8, 1), np.float32), np.ones(20, np.float32))
    for weights in (W, [W[:C // 2], W[C // 2:]]):
        tracemalloc.start()
        try:
            loss, g = ps.sampled_softmax_loss(weights, b, labels, X, 20, C, sampled_values=sv,
                                              partition_strategy="div", return_grads=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < W.nbytes // 20, f"peak {peak} bytes: the weights were copied"
    l32, g32 = ps.sampled_softmax_loss(np.ascontiguousarray(W.astype(np.float32)),
                                       b.astype(np.float32), labels, X, 20, C, sampled_values=sv,
                                       return_grads=True)
    assert np.array_equal(loss, l32) and np.array_equal(g.inputs, g32.inputs)


def test_bf16_step_updates_the_callers_array():
    """step() writes the caller's bfloat16 array itself (a strided view too)."""
    p = _problem(seed=12, shards=1)
    wide = np.zeros((p["C"], 48), dtype=BF16)
    wide[:, :40] = p["W"]
    W = wide[:, :40]
    m = ps.SampledLoss(W, None, num_sampled=p["S"], num_true=p["NT"], learning_rate=0.5)
    m.step(p["labels"], p["x"], sampled_values=p["sv"])
    assert m.weights[0] is W
    assert not np.array_equal(W.view(np.uint16), p["W"].view(np.uint16))
    assert np.all(wide[:, 40:].astype(np.float32) == 0)  # the columns beyond the view untouched


def test_bf16_mixed_shard_dtypes_refused():
    p = _problem(seed=13, shards=2, strategy="mod")
    with pytest.raises(TypeError, match="same dtype"):
        ps.sampled_softmax_loss([p["W"][0], p["W"][1].astype(np.float32)], None, p["labels"],
                                p["x"], p["S"], p["C"], num_true=p["NT"], sampled_values=p["sv"])


# ------------------------------------------ the AVX512-BF16 (vdpbf16ps) kernel
from pysampled import _losses  # noqa: E402

needs_bf16_dot = pytest.mark.skipif(
    not _losses._bf16_dot_available(),
    reason="this CPU (or compiler) lacks AVX512-BF16 (vdpbf16ps): the bf16 dot kernel cannot run")


needs_amx = pytest.mark.skipif(
    not _losses._amx_bf16_available(),
    reason="this CPU, OS or compiler lacks AMX-BF16 tiles: the AMX logits kernel cannot run")


class _dot_kernel:
    """Context: the bfloat16 logits kernel on or off; `amx` picks AMX tiles
    (where available) or vdpbf16ps; without AMX, `grads` runs the gradient
    products of grad_precision="bfloat16" on vdpbf16ps too (else on the
    float32 kernels)."""

    def __init__(self, enabled, amx=False, grads=True):
        self.enabled, self.amx, self.grads = enabled, amx, grads

    def __enter__(self):
        self.old = _losses._set_bf16_dot_enabled(self.enabled)
        self.old_amx = _losses._set_amx_bf16_enabled(self.amx)
        self.old_grads = _losses._set_bf16_dot_grads_enabled(self.grads)

    def __exit__(self, *exc):
        _losses._set_bf16_dot_enabled(self.old)
        _losses._set_amx_bf16_enabled(self.old_amx)
        _losses._set_bf16_dot_grads_enabled(self.old_grads)


def _bf16_valued(shape, rng, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(BF16).astype(np.float32)


def _all_outputs(W, b, labels, x, S, C, sv, NT, threads=1):
    out = []
    for fn in (ps.sampled_softmax_loss, ps.nce_loss):
        loss, g = fn(W, b, labels, x, S, C, num_true=NT, sampled_values=sv, return_grads=True,
                     num_threads=threads, remove_accidental_hits=True)
        out += [loss, g.inputs, g.weights.values.astype(np.float32)]
        if g.biases is not None:
            out.append(g.biases.values.astype(np.float32))
    out.append(ps.compute_sampled_logits(W, b, labels, x, S, C, num_true=NT, sampled_values=sv,
                                         num_threads=threads)[0])
    return out


_KERNELS = [pytest.param("vdpbf16ps", marks=needs_bf16_dot),
            pytest.param("amx", marks=[needs_bf16_dot, needs_amx])]


@pytest.mark.parametrize("kernel", _KERNELS)
@pytest.mark.parametrize("B,D,S", [(1, 2, 1), (13, 33, 31), (40, 64, 97), (130, 128, 64),
                                   (33, 96, 33), (70, 256, 200)])
def test_bf16_dot_kernel_agrees_with_float32_path(B, D, S, kernel, restore_simd):
    """bfloat16 weights with bfloat16-valued float32 inputs: the vdpbf16ps
    logits kernel, or the AMX one (both exact products, in another summation
    order; AMX only where the padded row length is a multiple of 32, else
    vdpbf16ps), agrees with the float32 path (avx512 and generic levels) to
    float32 rounding, and with the float64 oracle; bit-identical for 1 and 2
    threads."""
    amx = kernel == "amx"
    rng = np.random.default_rng(B * 1000 + S)
    C, NT = 400, 2
    W = (rng.standard_normal((C, D)) * 0.3).astype(BF16)
    b = (rng.standard_normal(C) * 0.1).astype(BF16)
    x = _bf16_valued((B, D), rng)
    labels = rng.integers(0, C, size=(B, NT))
    sampled = rng.choice(C, size=S, replace=False)
    sv = (sampled, rng.uniform(0.1, 0.9, (B, NT)), rng.uniform(0.1, 0.9, S))
    _samplers.set_simd_level("avx512")
    with _dot_kernel(True, amx=amx):
        fast = _all_outputs(W, b, labels, x, S, C, sv, NT)
        fast2 = _all_outputs(W, b, labels, x, S, C, sv, NT, threads=2)
    for a, c in zip(fast, fast2):
        assert np.array_equal(a, c), "not bit-identical for 1 and 2 threads"
    if amx:
        with _dot_kernel(True, amx=False):
            other = _all_outputs(W, b, labels, x, S, C, sv, NT)
        same = all(np.array_equal(a, c) for a, c in zip(fast, other))
        if -(-D // 16) * 16 % 32 != 0:  # the padded row length is not a multiple of 32
            assert same, "AMX must leave these shapes to vdpbf16ps"
        else:  # the AMX kernel ran: its summation order shows
            assert not same
    for level in ("avx512", "generic"):
        _samplers.set_simd_level(level)
        with _dot_kernel(False):
            slow = _all_outputs(W, b, labels, x, S, C, sv, NT)
        for k, (a, c) in enumerate(zip(fast, slow)):
            scale = max(1.0, float(np.abs(c).max()))
            tol = 2e-5 * scale
            if k in (2, 3, 6, 7):
                # gradient rows of the bfloat16 weights and biases, rounded to
                # bfloat16 once: a float32 difference at a rounding boundary
                # may move them to the neighbouring bfloat16 (2**-7 relative)
                tol = tol + 2.0**-7 * np.maximum(np.abs(a), np.abs(c))
            assert np.all(np.abs(a - c) <= tol), (level, k)
        if level == "avx512" and D >= 64:  # the kernel ran: its summation order shows
            assert any(not np.array_equal(a, c) for a, c in zip(fast, slow))
    logits = ref.sampled_logits(W.astype(np.float64), b.astype(np.float64), labels,
                                x.astype(np.float64), sampled, sv[1], sv[2],
                                remove_accidental_hits=True)
    logits = logits[0] if isinstance(logits, tuple) else logits
    finite = np.abs(logits) < 1e30
    assert np.abs(fast[-1][finite] - logits[finite]).max() <= 2e-5 * max(1, np.abs(logits[finite]).max())


@pytest.mark.parametrize("kernel", _KERNELS)
@pytest.mark.parametrize("case,xarray", [
    (c, "float32") for c in ("float32-inputs", "subnormal-input", "subnormal-weight",
                             "float32-input-late-row", "subnormal-input-late-row")] + [
    (c, "bfloat16") for c in ("subnormal-input", "subnormal-weight", "subnormal-input-late-row")])
def test_bf16_dot_kernel_only_for_plain_bf16_operands(case, kernel, xarray, restore_simd):
    """The kernel is used only when it computes the float32 path's products:
    inputs that are not bfloat16 values, or a subnormal bfloat16 operand
    (which vdpbf16ps flushes to zero), take the float32 path: the same bits
    as with the kernel switched off. The inputs are checked in blocks of 64
    rows: the late-row cases put the one offending value in the last block
    of B = 150 rows. Inputs given as bfloat16 arrays (which the kernel reads
    as they are, checking them while it gathers) are checked the same way."""
    rng = np.random.default_rng(21)
    late = case.endswith("late-row")
    C, D, B, S = 200, 32, 150 if late else 20, 40
    row = 140 if late else 3
    W = (rng.standard_normal((C, D)) * 0.3).astype(BF16)
    x = _bf16_valued((B, D), rng)
    labels = rng.integers(0, C, size=(B, 1))
    sampled = rng.choice(C, size=S, replace=False)
    # Expected counts of 1 (log Q = 0) and a subnormal operand alone in its
    # row: its logits are then exactly its products, subnormal on the
    # float32 path and zero where a kernel flushed it.
    sv = (sampled, np.ones((B, 1)), np.ones(S))
    if case.startswith("float32-input"):
        x[row, 5] = np.float32(1.0 + 2.0**-20)
    elif case.startswith("subnormal-input"):
        x[row] = 0
        x[row, 5] = np.float32(np.array([1e-39], dtype=np.float32).astype(BF16).astype(np.float32)[0])
    else:
        W[sampled[0]] = 0
        W[sampled[0], 0] = np.array([1e-39], dtype=np.float32).astype(BF16)[0]
    if xarray == "bfloat16":
        x = x.astype(BF16)
    _samplers.set_simd_level("avx512")
    with _dot_kernel(True, amx=kernel == "amx"):
        on = _all_outputs(W, None, labels, x, S, C, sv, 1)
    with _dot_kernel(False):
        off = _all_outputs(W, None, labels, x, S, C, sv, 1)
    for a, c in zip(on, off):
        assert np.array_equal(a, c)


# --------------------------- bfloat16 <-> float32 conversions of the Python layer
def test_bf16_conversions_equal_ml_dtypes_bits(each_simd_level):
    """The C++ conversions the Python layer uses for bfloat16 inputs and
    results give the bits of ml_dtypes' casts (the oracle), at every SIMD
    level this CPU has: widening every one of the 65536 bfloat16 bit
    patterns, and rounding 10^6 random float32 bit patterns plus the edge
    values (ties both ways, the largest finite values, subnormals,
    infinities, NaNs with payloads of either sign: ml_dtypes makes them the
    quiet NaN of their sign). Sources are read only. Odd lengths reach the
    vector loops' tails."""
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(BF16)
    every.flags.writeable = False
    wide = _losses.bf16_to_float32(every)
    assert wide.dtype == np.float32 and wide.flags.c_contiguous
    with np.errstate(invalid="ignore"):
        assert np.array_equal(wide.view(np.uint32), every.astype(np.float32).view(np.uint32))
    rng = np.random.default_rng(5)
    edges = np.array([0x3f808000, 0x3f818000, 0x3f80c000, 0x3f807fff, 0x7f7f7fff, 0x7f7f8000,
                      0x7f7fffff, 0xff7fffff, 0x00000001, 0x807fffff, 0x00008000, 0x00018000,
                      0, 0x80000000, 0x7f800000, 0xff800000, 0x7f800001, 0xff812345,
                      0x7fc00000, 0xffffffff, 0x7fbfffff], dtype=np.uint32)
    bits = np.concatenate([rng.integers(0, 2**32, 10**6, dtype=np.uint64).astype(np.uint32), edges])
    spaced = np.zeros(2 * bits.size, dtype=np.uint32)
    spaced[::2] = bits
    f = spaced.view(np.float32)[::2]  # strided: copied to contiguous first
    f.flags.writeable = False
    narrow = _losses.float32_to_bf16(f, BF16)
    assert narrow.dtype == BF16 and narrow.shape == f.shape
    with np.errstate(invalid="ignore", over="ignore"):
        expected = f.astype(BF16)
    assert np.array_equal(narrow.view(np.uint16), expected.view(np.uint16))
    assert np.array_equal(_losses.bf16_to_float32(np.zeros((0, 3), BF16)), np.zeros((0, 3), np.float32))
    for n in (1, 7, 15, 17, 33, 63):
        part = f[:n]
        assert np.array_equal(_losses.float32_to_bf16(part, BF16).view(np.uint16),
                              expected[:n].view(np.uint16))
        assert np.array_equal(_losses.bf16_to_float32(every[-n:]).view(np.uint32),
                              every[-n:].astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("D,B", [(40, 24), (128, 70), (32, 0), (0, 5)])
@pytest.mark.parametrize("entry", ["sampled_softmax_loss", "nce_loss", "call", "call-bf16-grads",
                                   "step", "step-bf16-grads"])
def test_bf16_inputs_results_are_ml_dtypes_rounding_of_float32_results(entry, D, B, threads):
    """End to end: bfloat16 inputs (which the kernel widens while it gathers
    their rows, and whose input gradient it narrows itself) give the float32
    computation on the widened inputs, rounded by ml_dtypes: the loss, the
    input gradient, the gradient rows of bfloat16 weights and, for `step`,
    the updated rows, bit for bit; with rows that need padding (D = 40) and
    rows used in place (D = 128), an empty batch and an empty dimension, on
    1 and 3 threads. The caller's inputs are untouched, also when they are
    not contiguous."""
    p = _problem(seed=31, shards=2, strategy="div", D=max(D, 1), B=max(B, 4))
    if D == 0:
        p["W"] = [w[:, :0] for w in p["W"]]
        p["x"] = p["x"][:, :0]
    if B == 0:
        p["x"] = p["x"][:0]
        p["labels"] = p["labels"][:0]
        p["sv"] = (p["sv"][0], p["sv"][1][:0], p["sv"][2])
    wide = np.zeros((p["x"].shape[0], 2 * p["x"].shape[1]), BF16)
    wide[:, ::2] = p["x"].astype(BF16)
    x16 = wide[:, ::2]  # not contiguous
    before = wide.copy()
    x32 = x16.astype(np.float32)

    def run(x):
        if entry in ("sampled_softmax_loss", "nce_loss"):
            fn = getattr(ps, entry)
            loss, g = fn(p["W"], p["b"], p["labels"], x, p["S"], p["C"], num_true=p["NT"],
                         sampled_values=p["sv"], return_grads=True, num_threads=threads)
            return loss, g.inputs, g.weights.values, None
        precision = "bfloat16" if entry.endswith("bf16-grads") else "float32"
        W = [w.copy() for w in p["W"]]
        m = ps.SampledLoss(W, None, num_sampled=p["S"], num_true=p["NT"], num_threads=threads,
                           grad_precision=precision, partition_strategy=p["strategy"])
        if entry.startswith("step"):
            out = m.step(p["labels"], x, sampled_values=p["sv"])
            return out.loss, out.inputs_grad, None, W
        loss, g = m(p["labels"], x, sampled_values=p["sv"], return_grads=True)
        return loss, g.inputs, g.weights.values, None

    loss16, dx16, gw16, w16 = run(x16)
    loss32, dx32, gw32, w32 = run(x32)
    assert loss16.dtype == BF16 and dx16.dtype == BF16 and dx16.shape == x16.shape
    assert np.array_equal(loss16.view(np.uint16), loss32.astype(BF16).view(np.uint16))
    assert np.array_equal(dx16.view(np.uint16), dx32.astype(BF16).view(np.uint16))
    if gw16 is not None:
        assert np.array_equal(gw16.view(np.uint16), gw32.view(np.uint16))
    if w16 is not None:
        for a, b in zip(w16, w32):
            assert np.array_equal(a.view(np.uint16), b.view(np.uint16))
    if B > 0 and D > 0:
        assert np.any(dx16.view(np.uint16) != 0)
    assert np.array_equal(wide.view(np.uint16), before.view(np.uint16))


def _nan_bits(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


@pytest.mark.parametrize("optimizer", [0, 1])
@pytest.mark.parametrize("n", [1, 7, 127, 128, 129, 300])
def test_bf16_row_update_bits_at_every_simd_level(each_simd_level, optimizer, n):
    """A bfloat16 row after one float32 SGD or Adagrad step equals the same
    step written in NumPy float32 and cast by ml_dtypes, bit for bit, NaN
    payloads of both signs included (the update narrows blocks of 128
    columns with the active level's array conversion; rows of 1-300
    columns cover whole blocks and tails)."""
    from pysampled import _losses

    rng = np.random.default_rng(n + 17 * optimizer)
    w = (rng.standard_normal(n) * 3).astype(np.float32).astype(BF16)
    g = (rng.standard_normal(n) * 2).astype(np.float32)
    g[::11] = _nan_bits([0x7fa12345, 0xffc00001, 0x7f800001] * 10)[: g[::11].size]
    acc = (rng.random(n) + 0.1).astype(np.float32) if optimizer else None
    lr, eps = np.float32(0.25), np.float32(1e-7)
    w_f32 = w.astype(np.float32)
    with np.errstate(invalid="ignore"):
        if optimizer:
            acc_want = acc + g * g
            want = (w_f32 - lr * g / (np.sqrt(acc_want) + eps)).astype(BF16)
        else:
            want = (w_f32 - lr * g).astype(BF16)
    row = w.copy()
    acc_got = None if acc is None else acc.copy()
    with np.errstate(invalid="ignore"):
        _losses._update_row(optimizer, float(lr), float(eps), row, acc_got, g)
    np.testing.assert_array_equal(row.view(np.uint16), want.view(np.uint16))
    if optimizer:
        np.testing.assert_array_equal(acc_got.view(np.uint32), acc_want.view(np.uint32))


def test_bf16_update_nan_is_the_quiet_nan_of_its_sign():
    """NaN updates narrow to 0x7fc0 / 0xffc0, as ml_dtypes' cast, nearest even
    and stochastic rounding alike (the payload is not kept)."""
    from pysampled import _losses

    g = -_nan_bits([0x7fa12345, 0xffa12345, 0x7f800001, 0xff800001])
    for rounding in (0, 1):
        row = np.zeros(g.size, dtype=BF16)
        _losses._update_row(0, 1.0, 0.0, row, None, g, rounding, 3, 4, 5)
        with np.errstate(invalid="ignore"):
            want = (np.float32(0) - np.float32(1) * g).astype(BF16)
        np.testing.assert_array_equal(row.view(np.uint16), want.view(np.uint16))
        assert set(row.view(np.uint16).tolist()) == {0x7fc0, 0xffc0}


# ------------------ grad_precision="bfloat16": dL/dlogits rounded for the gradient products
def _grad_oracle(loss, W, b, labels, x, sv, rounded):
    """Float64 gradients (dX, dense dW, dense db) of the loss from the spec's
    G, with its sampled columns rounded to bfloat16 (ml_dtypes) when
    `rounded`: the documented meaning of grad_precision="bfloat16"."""
    sampled, tec, sec = sv
    f = ref._forward(W.astype(np.float64), b.astype(np.float64), labels, x.astype(np.float64),
                     sampled, tec, sec, True, loss == "sampled_softmax", "mod", False)
    if loss == "sampled_softmax":
        G = ref._softmax_ce(f.logits, f.out_labels)[1] - f.out_labels
    else:
        G = ref._sigmoid(f.logits) - f.out_labels
    NT = labels.shape[1]
    if rounded:
        G[:, NT:] = G[:, NT:].astype(BF16).astype(np.float64)
    g = ref._backward(f, G)
    return g["inputs"], g["weights"], g["biases"], G


def _bf16_grads_problem(seed, B=70, D=64, S=96, C=500, NT=1):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((C, D)) * 0.3).astype(BF16)
    b = (rng.standard_normal(C) * 0.5).astype(np.float32)  # float32 biases: db is not rounded
    x = _bf16_valued((B, D), rng)
    labels = rng.integers(0, C, size=(B, NT))
    sampled = rng.choice(C, size=S, replace=False)
    sampled[:3] = labels.reshape(-1)[:3]  # accidental hits
    sv = (sampled, rng.uniform(0.05, 0.9, (B, NT)), rng.uniform(0.05, 0.9, S))
    return W, b, labels, x, sv


def _bf16_grads_call(loss, W, b, labels, x, sv, precision="bfloat16", threads=1):
    sl = ps.SampledLoss(W, b, num_sampled=len(sv[0]), loss=loss, grad_precision=precision,
                        num_threads=threads)
    out, g = sl(labels, x, sampled_values=sv, return_grads=True)
    C = W.shape[0]
    return (out, g.inputs, g.weights.to_dense(C).astype(np.float64),
            g.biases.to_dense(C).astype(np.float64))


# The paths whose gradient products run on bfloat16 operands.
_BF16_PRODUCT_PATHS = [pytest.param("amx", marks=[needs_bf16_dot, needs_amx]),
                       pytest.param("vdpbf16ps", marks=needs_bf16_dot)]
_BF16_GRAD_PATHS = (_BF16_PRODUCT_PATHS + [pytest.param("vdpbf16ps-logits", marks=needs_bf16_dot)] +
                    [f"float32-{level}" for level in SIMD_LEVELS])


def _on_path(path):
    """Context: the kernels of `path`: "amx", the logits and gradient
    products on AMX tiles; "vdpbf16ps", the same on vdpbf16ps (the default
    on AMD CPUs); "vdpbf16ps-logits", the logits on vdpbf16ps and the
    gradient products on the float32 kernels (the default on Intel CPUs
    without AMX); "float32-<level>", the float32 kernels of one SIMD level
    reading the rounded G."""
    if path.startswith("float32-"):
        _samplers.set_simd_level(path.split("-", 1)[1])
        return _dot_kernel(False)
    _samplers.set_simd_level("avx512")
    return _dot_kernel(True, amx=path == "amx", grads=path == "vdpbf16ps")


@pytest.mark.parametrize("path", _BF16_GRAD_PATHS)
@pytest.mark.parametrize("loss", ["sampled_softmax", "nce"])
@pytest.mark.parametrize("B,D,S", [(70, 64, 96), (33, 48, 37), (1, 32, 1), (130, 128, 64)])
def test_bf16_grads_follow_rounded_G(loss, path, B, D, S, restore_simd):
    """grad_precision="bfloat16" on every path this machine has: the
    gradients match the float64 oracle fed G with its sampled columns rounded
    to bfloat16 and are far closer to it than to the oracle with G
    unrounded (float32 arithmetic is ~2**-24 relative, the rounding 2**-9);
    the loss is not rounded; the same bits for 1 and 3 threads.

    Tolerance: a float32 G at a bfloat16 rounding tie may round the other
    way than the float64 one (rare), moving a term by 2**-8 of itself; the
    bound allows 2**-8 of the absolute-sum of the terms, which a wrong layout
    or a missing term exceeds."""
    W, b, labels, x, sv = _bf16_grads_problem(B * 7 + S, B=B, D=D, S=S)
    with _on_path(path):
        got = _bf16_grads_call(loss, W, b, labels, x, sv)
        got3 = _bf16_grads_call(loss, W, b, labels, x, sv, threads=3)
    for a, c in zip(got, got3):
        assert np.array_equal(a, c), "not bit-identical for 1 and 3 threads"
    loss_v, dx, dw, db = got
    dx_r, dw_r, db_r, G = _grad_oracle(loss, W, b, labels, x, sv, rounded=True)
    dx_u, _, db_u, _ = _grad_oracle(loss, W, b, labels, x, sv, rounded=False)
    Wf, xf = W.astype(np.float64), x.astype(np.float64)
    NT = labels.shape[1]
    absG = np.abs(G)
    sampled = sv[0]
    # |dX| bound: sum_j |G_ij| |W_j|; |dW_c| bound: sum_i |G_ic| |x_i|; |db_c|: sum_i |G_ic|
    bx = absG[:, NT:] @ np.abs(Wf[sampled]) + np.einsum(
        "ik,ikd->id", absG[:, :NT], np.abs(Wf[labels]))
    assert np.all(np.abs(dx - dx_r) <= 2.0**-8 * bx + 1e-6), path
    bw = np.zeros_like(Wf)
    np.add.at(bw, sampled, absG[:, NT:].T @ np.abs(xf))
    np.add.at(bw, labels.reshape(-1), (absG[:, :NT].reshape(-1, 1) * np.abs(xf).repeat(NT, 0)))
    # dW is returned in the weights' dtype (bfloat16): one more rounding, 2**-9 relative
    assert np.all(np.abs(dw - dw_r) <= 2.0**-8 * bw + 2.0**-8 * np.abs(dw_r) + 1e-6), path
    bb = np.zeros(W.shape[0])
    np.add.at(bb, sampled, absG[:, NT:].sum(0))
    np.add.at(bb, labels.reshape(-1), absG[:, :NT].reshape(-1))
    assert np.all(np.abs(db - db_r) <= 2.0**-8 * bb + 1e-6), path
    # rounding happened (a path computing with the unrounded G fails here)
    for ours, r, u in ((dx, dx_r, dx_u), (db, db_r, db_u)):
        if np.linalg.norm(r - u) > 1e-5:
            assert np.linalg.norm(ours - r) < 0.1 * np.linalg.norm(r - u), path
    # the loss is the float32 path's
    f32 = _bf16_grads_call(loss, W, b, labels, x, sv, precision="float32")[0]
    assert np.allclose(loss_v, f32, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", _BF16_PRODUCT_PATHS)
def test_bf16_grads_products_agree_with_float32_kernels(path, restore_simd):
    """The gradient products on bfloat16 operands (AMX tiles, vdpbf16ps)
    and the float32 kernels reading the same rounded G give the same
    gradients up to float32 summation order (and rare rounding ties, see
    above), at B and S not multiples of 32, at a large batch and at S in the
    thousands (tiles capped in rows); the bfloat16 products ran (their
    summation order shows)."""
    for B, D, S in [(77, 64, 45), (1030, 128, 512), (200, 128, 4100)]:
        W, b, labels, x, sv = _bf16_grads_problem(B + S, B=B, D=D, S=S, C=9000)
        with _on_path(path):
            fast = _bf16_grads_call("sampled_softmax", W, b, labels, x, sv, threads=2)
        with _on_path("float32-avx512"):
            slow = _bf16_grads_call("sampled_softmax", W, b, labels, x, sv, threads=2)
        assert any(not np.array_equal(a, c) for a, c in zip(fast[1:], slow[1:]))
        for a, c in zip(fast, slow):
            scale = float(np.abs(c).max())
            assert np.all(np.abs(a - c) <= 1e-4 * scale + 2.0**-7 * np.abs(c)), (B, S)


def test_bf16_grads_step_applies_the_call_gradients(restore_simd):
    """step() with grad_precision="bfloat16" applies (SGD) the gradients that
    __call__ reports for the same batch, on bfloat16 weights, and is
    bit-identical for 1 and 2 threads."""
    W, b, labels, x, sv = _bf16_grads_problem(5, B=64, D=64, S=64)
    x16 = x.astype(BF16)
    sl = ps.SampledLoss(W.copy(), b.copy(), num_sampled=64, grad_precision="bfloat16")
    _, g = sl(labels, x16, sampled_values=sv, return_grads=True)
    results = []
    for threads in (1, 2):
        W1, b1 = W.copy(), b.copy()
        m = ps.SampledLoss(W1, b1, num_sampled=64, grad_precision="bfloat16", learning_rate=0.5,
                           num_threads=threads)
        m.step(labels, x16, sampled_values=sv)
        results.append((W1.view(np.uint16).copy(), b1.copy()))
    assert np.array_equal(results[0][0], results[1][0]) and np.array_equal(results[0][1], results[1][1])
    gw = g.weights.to_dense(W.shape[0]).astype(np.float32)
    want_w = W.astype(np.float32) - 0.5 * gw
    want_b = b - np.float32(0.5) * g.biases.to_dense(W.shape[0]).astype(np.float32)
    got_w = results[0][0].view(BF16).astype(np.float32)
    # the update rounds once to bfloat16 from float32 (2**-9 of the result);
    # the reported gradient rows are bfloat16, one rounding (2**-9 of g)
    # away from the float32 rows the update applied
    assert np.any(gw != 0)
    assert np.all(np.abs(got_w - want_w) <= 2.0**-8 * (np.abs(want_w) + 0.5 * np.abs(gw)) + 1e-6)
    assert np.allclose(results[0][1], want_b, rtol=1e-5, atol=1e-6)


def test_bf16_grads_option_errors():
    W, b, labels, x, sv = _bf16_grads_problem(6, B=8, D=16, S=8)
    with pytest.raises(ValueError, match="^grad_precision must be 'float32' or 'bfloat16', got 'bf16'$"):
        ps.SampledLoss(W, b, num_sampled=8, grad_precision="bf16")
    with pytest.raises(ValueError, match="needs negatives='shared'"):
        ps.SampledLoss(W, b, num_sampled=8, grad_precision="bfloat16", negatives="per_example")
    sl = ps.SampledLoss(W.astype(np.float64), b.astype(np.float64), num_sampled=8,
                        grad_precision="bfloat16")
    with pytest.raises(TypeError, match="needs float32 computing"):
        sl(labels, x.astype(np.float64), sampled_values=sv, return_grads=True)
    assert sl(labels, x.astype(np.float64), sampled_values=sv).dtype == np.float64  # no gradients
    sl32 = ps.SampledLoss(W, b, num_sampled=8, grad_precision="bfloat16")
    with pytest.raises(ValueError, match="applies to shared negatives"):
        sl32(labels, x, sampled_values=(np.zeros((8, 8), np.int64), np.ones((8, 1)),
                                        np.ones((8, 8))), return_grads=True)


@pytest.mark.parametrize("path", _BF16_PRODUCT_PATHS)
@pytest.mark.parametrize("B,D,S,NT", [(0, 17, 33, 1), (3, 1, 2, 3), (3, 17, 33, 3), (33, 16, 31, 1),
                                      (2, 33, 1, 1)])
@pytest.mark.parametrize("step", [False, True])
def test_bf16_grads_edge_shapes_agree_with_float32_kernels(B, D, S, NT, step, path, restore_simd):
    """Empty and one-row batches, dimensions below one panel (padded to 16
    floats), odd batch and sample counts, several labels: the bfloat16
    gradient products (2 threads) and the float32 kernels reading the same
    rounded G (1 thread) give the same loss, input gradient, and gradient
    rows or updated rows, up to float32 order and one bfloat16 step."""
    rng = np.random.default_rng(B * 100 + D * 10 + S)
    C = 80
    W = (rng.standard_normal((C, D)) * 0.5).astype(BF16)
    b = rng.standard_normal(C).astype(BF16)
    x = _bf16_valued((B, D), rng)
    labels = rng.integers(0, C, size=(B, NT))
    sv = (rng.choice(C, S, replace=False), np.full((B, NT), 0.3), np.full(S, 0.2))

    def run(path, threads):
        with _on_path(path):
            sl = ps.SampledLoss(W.copy(), b.copy(), num_sampled=S, num_true=NT,
                                grad_precision="bfloat16", num_threads=threads)
            if step:
                r = sl.step(labels, x, sampled_values=sv)
                return [r.loss, r.inputs_grad] + [a.astype(np.float32) for a in sl.weights + sl.biases]
            loss, g = sl(labels, x, sampled_values=sv, return_grads=True)
            return [loss, g.inputs, g.weights.to_dense(C).astype(np.float32),
                    g.biases.to_dense(C).astype(np.float32)]

    fast, slow = run(path, 2), run("float32-avx512", 1)
    for a, c in zip(fast, slow):
        assert a.shape == c.shape
        scale = 1 + float(np.abs(c).max(initial=0))
        assert np.all(np.abs(a - c) <= 1e-4 * scale + 2.0**-7 * np.abs(c))


@pytest.mark.parametrize("path", _BF16_PRODUCT_PATHS)
@pytest.mark.parametrize("case", ["float32-inputs", "subnormal-weight"])
def test_bf16_grads_fall_back_to_float32_after_a_small_call(case, path, restore_simd):
    """bfloat16 weights with inputs that are not bfloat16 values (or a
    subnormal weight) leave the bfloat16 kernels after the bfloat16 gradient
    products were chosen: the float32 path then packs its operands into
    buffers sized for this call, not the last one (a call with S = 2 first;
    this wrote past the buffer before the fix, which ASan's exact-size
    buffers in the sanitizer stage report), and equals the float32 kernels
    reading the rounded G with the bfloat16 kernels off, bit for bit."""
    rng = np.random.default_rng(3)
    C, D, B, S = 3000, 64, 64, 2000
    W = (rng.standard_normal((C, D)) * 0.3).astype(BF16)
    x = rng.standard_normal((B, D)).astype(np.float32)
    if case == "subnormal-weight":
        x = _bf16_valued((B, D), rng)
    labels = rng.integers(0, C, size=(B, 1))
    sv = (rng.choice(C, S, replace=False), np.full((B, 1), 0.5), np.full(S, 0.5))
    if case == "subnormal-weight":
        W[sv[0][0], 0] = np.array([1e-39], dtype=np.float32).astype(BF16)[0]
    small = (np.array([1, 2]), np.full((B, 1), 0.5), np.full(2, 0.5))
    ps.SampledLoss(W.astype(np.float32), num_sampled=2)(labels, x, sampled_values=small,
                                                      return_grads=True)
    with _on_path(path):
        got = _bf16_grads_call("sampled_softmax", W, np.zeros(C, np.float32), labels, x, sv)
    with _on_path("float32-avx512"):
        want = _bf16_grads_call("sampled_softmax", W, np.zeros(C, np.float32), labels, x, sv)
    for a, c in zip(got, want):
        assert np.array_equal(a, c)
