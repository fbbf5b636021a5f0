"""Ragged labels and per-example negatives of the sampled losses (issue 11, parts 1-2).

Oracles: the plain-NumPy twin ``pysampled._reference_beyond.row_loss``
(written from the formulas, dense weights, ``np.add.at`` scatter), float64
central finite differences, the TF-exact shared path (uniform row splits
with unique sampled ids must agree with it to rounding), and the documented
per-example draw (``sample_bulk`` + ``S * p(c)``).

Tolerances: float32 ``5e-5 * max(1, |ref|)`` (gradients: relative to the
largest reference entry), float64 ``1e-11`` likewise.
"""

import numpy as np
import pytest

import pysampled as ps
from oracles import beyond_tf as R

FLT_MAX = float(np.finfo(np.float32).max)


def _close(got, ref, dt, what):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    if ref.size == 0:
        return
    scale = max(1.0, float(np.abs(ref).max()))
    tol = 5e-5 if dt == np.float32 else 1e-11
    err = float(np.abs(got - ref).max())
    assert err <= tol * scale, f"{what}: max error {err} (scale {scale})"


class P:
    """A random problem: dense W [N, D], b [N], ragged labels, candidates."""

    def __init__(self, seed, N=60, D=9, B=14, S=11, dt=np.float64, per_example=False,
                 max_true=4, hits=True, w_dtype=None):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.N, self.D, self.B, self.S, self.dt = N, D, B, S, dt
        self.W = rng.standard_normal((N, D)).astype(w_dtype or dt)
        self.b = rng.standard_normal(N).astype(w_dtype or dt)
        self.x = rng.standard_normal((B, D)).astype(dt)
        n = rng.integers(1, max_true + 1, B)
        self.splits = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.labels = rng.integers(0, N, self.splits[-1])
        self.tec = rng.uniform(0.05, 2.0, self.splits[-1])
        shape = (B, S) if per_example else (S,)
        self.sampled = rng.integers(0, N, shape)
        if hits and B and S:  # plant accidental hits
            if per_example:
                self.sampled[0, 0] = self.labels[0]
                self.sampled[-1, -1] = self.labels[self.splits[-2]]
            else:
                self.sampled[0] = self.labels[0]
        self.sec = rng.uniform(0.05, 2.0, shape)
        self.upstream = rng.uniform(0.2, 2.0, B)

    @property
    def sv(self):
        return (self.sampled, self.tec, self.sec)

    def ref(self, kind, rah=True, true_target=None, bias=True, upstream=True):
        return R.row_loss(kind, self.W, self.b if bias else None, self.labels, self.splits,
                          self.x, self.sampled, self.tec, self.sec, True, rah, true_target,
                          self.upstream if upstream else None)


FNS = {"softmax": ps.sampled_softmax_loss, "nce": ps.nce_loss}


def _check(p, kind, got_loss, grads, rah=True, true_target=None, bias=True, upstream=True):
    rl, _, dX, dW, db = p.ref(kind, rah, true_target, bias, upstream)
    _close(got_loss, rl, p.dt, "loss")
    _close(grads.inputs, dX, p.dt, "d_inputs")
    _close(grads.weights.to_dense(), dW, p.dt, "d_weights")
    assert grads.weights.values.dtype == p.W.dtype
    ids = grads.weights.ids
    assert np.all(np.diff(ids) > 0)  # sorted, deduplicated
    if bias:
        _close(grads.biases.to_dense(), db, p.dt, "d_biases")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("per_example", [False, True])
@pytest.mark.parametrize("kind", ["softmax", "nce"])
@pytest.mark.parametrize("B,S,D", [(1, 1, 1), (14, 11, 9), (50, 0, 5), (70, 40, 33), (9, 300, 17)])
def test_ragged_matches_reference(dt, per_example, kind, B, S, D):
    p = P(B * 100 + S + D, B=B, S=S, D=D, dt=dt, per_example=per_example)
    for rah in (True, False):
        loss, g = FNS[kind](p.W, p.b, p.labels, p.x, S, p.N, sampled_values=p.sv,
                            remove_accidental_hits=rah, label_row_splits=p.splits,
                            upstream=p.upstream, return_grads=True)
        assert loss.dtype == dt
        _check(p, kind, loss, g, rah)


@pytest.mark.parametrize("per_example", [False, True])
def test_ragged_options(per_example):
    p = P(3, per_example=per_example, w_dtype=np.float64, dt=np.float32)
    # NCE true_target, no biases, no upstream, mixed weight dtype
    loss, g = ps.nce_loss(p.W, None, p.labels, p.x, p.S, p.N, sampled_values=p.sv,
                          label_row_splits=p.splits, true_target=1.0, return_grads=True)
    _check(p, "nce", loss, g, rah=False, true_target=1.0, bias=False, upstream=False)
    assert g.biases is None


@pytest.mark.parametrize("strategy", ["mod", "div"])
@pytest.mark.parametrize("per_example", [False, True])
def test_ragged_sharded_weights(strategy, per_example):
    p = P(4, N=61, per_example=per_example)
    idx = np.arange(61)
    if strategy == "mod":
        parts = [idx[idx % 3 == k] for k in range(3)]
    else:
        parts = np.array_split(idx, 3)
    w_sh = [p.W[r] for r in parts]
    b_sh = [p.b[r] for r in parts[:]]
    loss, g = ps.sampled_softmax_loss(w_sh, b_sh, p.labels, p.x, p.S, p.N, sampled_values=p.sv,
                                      partition_strategy=strategy, label_row_splits=p.splits,
                                      upstream=p.upstream, return_grads=True)
    _check(p, "softmax", loss, g)


@pytest.mark.parametrize("per_example", [False, True])
@pytest.mark.parametrize("D", [21, 40])
def test_every_simd_level(each_simd_level, per_example, D):
    # D = 40: the input-gradient product's column panels (tile_grads.hpp)
    # end partly filled at every level (padded width 40 or 48).
    p = P(5, B=30, S=37, D=D, dt=np.float32, per_example=per_example)
    loss, g = ps.sampled_softmax_loss(p.W, p.b, p.labels, p.x, p.S, p.N, sampled_values=p.sv,
                                      label_row_splits=p.splits, upstream=p.upstream,
                                      return_grads=True)
    _check(p, "softmax", loss, g)


@pytest.mark.parametrize("kind", ["softmax", "nce"])
@pytest.mark.parametrize("per_example", [False, True])
def test_thread_count_bit_equality(kind, per_example):
    p = P(6, N=500, B=200, S=64, D=40, dt=np.float32, per_example=per_example)
    runs = [FNS[kind](p.W, p.b, p.labels, p.x, p.S, p.N, sampled_values=p.sv,
                      label_row_splits=p.splits, return_grads=True, num_threads=t)
            for t in (1, 2, 3)]
    for loss, g in runs[1:]:
        assert np.array_equal(loss, runs[0][0])
        assert np.array_equal(g.inputs, runs[0][1].inputs)
        assert np.array_equal(g.weights.ids, runs[0][1].weights.ids)
        assert np.array_equal(g.weights.values, runs[0][1].weights.values)
        assert np.array_equal(g.biases.values, runs[0][1].biases.values)


def _fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("kind", ["softmax", "nce"])
@pytest.mark.parametrize("per_example", [False, True])
def test_finite_differences(kind, per_example):
    p = P(7, N=12, D=3, B=5, S=4, per_example=per_example)

    def f():
        return float(np.dot(p.upstream, FNS[kind](p.W, p.b, p.labels, p.x, p.S, p.N,
                                                  sampled_values=p.sv, label_row_splits=p.splits,
                                                  remove_accidental_hits=True)))

    _, g = FNS[kind](p.W, p.b, p.labels, p.x, p.S, p.N, sampled_values=p.sv,
                     label_row_splits=p.splits, remove_accidental_hits=True,
                     upstream=p.upstream, return_grads=True)
    np.testing.assert_allclose(g.inputs, _fd(f, p.x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g.weights.to_dense(p.N), _fd(f, p.W), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g.biases.to_dense(p.N), _fd(f, p.b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["softmax", "nce"])
def test_uniform_rows_equal_tf_path(kind):
    """Ragged splits with the same n for every example and unique sampled
    ids give TF's fixed-num_true result (to rounding)."""
    rng = np.random.default_rng(8)
    N, D, B, NT, S = 80, 6, 12, 3, 10
    W, b = rng.standard_normal((N, D)), rng.standard_normal(N)
    x = rng.standard_normal((B, D))
    labels = rng.integers(0, N, (B, NT))
    sampled = rng.choice(N, S, replace=False)
    sampled[0] = labels[0, 1]
    tec, sec = rng.uniform(0.1, 1, (B, NT)), rng.uniform(0.1, 1, S)
    tf_loss, tf_g = FNS[kind](W, b, labels, x, S, N, NT, sampled_values=(sampled, tec, sec),
                              remove_accidental_hits=True, return_grads=True)
    splits = np.arange(B + 1) * NT
    r_loss, r_g = FNS[kind](W, b, labels.reshape(-1), x, S, N,
                            sampled_values=(sampled, tec.reshape(-1), sec),
                            remove_accidental_hits=True, label_row_splits=splits,
                            return_grads=True)
    np.testing.assert_allclose(r_loss, tf_loss, rtol=1e-12)
    np.testing.assert_allclose(r_g.inputs, tf_g.inputs, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(r_g.weights.to_dense(), tf_g.weights.to_dense(), atol=1e-12)


def test_per_example_rows_all_equal_shared_path():
    rng = np.random.default_rng(9)
    N, D, B, S = 40, 5, 7, 6
    W, b, x = rng.standard_normal((N, D)), rng.standard_normal(N), rng.standard_normal((B, D))
    labels = rng.integers(0, N, B)
    shared = rng.choice(N, S, replace=False)
    tec, sec = rng.uniform(0.1, 1, (B, 1)), rng.uniform(0.1, 1, S)
    a = ps.sampled_softmax_loss(W, b, labels, x, S, N, sampled_values=(shared, tec, sec))
    c = ps.sampled_softmax_loss(W, b, labels, x, S, N,
                                sampled_values=(np.tile(shared, (B, 1)), tec, np.tile(sec, (B, 1))))
    np.testing.assert_allclose(c, a, rtol=1e-12)


def test_padded_tf_call_is_not_ragged():
    """Padding example 0's single label a to [a, a] (a TF call with
    num_true = 2) doubles a's weight in its softmax: the losses differ, and
    the padded result is the oracle's for the duplicated label list."""
    rng = np.random.default_rng(10)
    N, D, S = 30, 4, 5
    W, b = rng.standard_normal((N, D)), rng.standard_normal(N)
    x = rng.standard_normal((2, D))
    sampled = np.array([20, 21, 22, 23, 24])
    flat = np.array([3, 5, 6])  # example 0: [3]; example 1: [5, 6]
    splits = np.array([0, 1, 3])
    tec_flat = np.full(3, 0.5)
    sec = np.full(S, 0.5)
    ragged = ps.sampled_softmax_loss(W, b, flat, x, S, N, sampled_values=(sampled, tec_flat, sec),
                                     label_row_splits=splits)
    padded_labels = np.array([[3, 3], [5, 6]])
    padded = ps.sampled_softmax_loss(W, b, padded_labels, x, S, N, num_true=2,
                                     sampled_values=(sampled, np.full((2, 2), 0.5), sec))
    assert abs(ragged[0] - padded[0]) > 0.1  # padding changed example 0
    np.testing.assert_allclose(ragged[1], padded[1], rtol=1e-12)  # full rows agree
    # the padded loss of example 0 is the ragged loss of the label list [3, 3]
    ref, _, _, _, _ = R.row_loss("softmax", W, b, np.array([3, 3, 5, 6]), [0, 2, 4], x, sampled,
                                 np.full(4, 0.5), sec)
    np.testing.assert_allclose(padded, ref, rtol=1e-12)
    ref1, _, _, _, _ = R.row_loss("softmax", W, b, flat, splits, x, sampled, tec_flat, sec)
    np.testing.assert_allclose(ragged, ref1, rtol=1e-12)


def test_masked_logits_and_every_duplicate():
    """compute_sampled_logits with per-example candidates: every sampled
    column equal to one of the example's labels is ((x.w + b) + -FLT_MAX) - log Q."""
    p = P(11, B=6, S=8, per_example=True)
    labels = p.rng.integers(0, p.N, (6, 2))
    p.sampled[2, [1, 4]] = labels[2, 0]  # a duplicated hit: both masked
    tec = p.rng.uniform(0.1, 1, (6, 2))
    logits, out_labels = ps.compute_sampled_logits(p.W, p.b, labels, p.x, p.S, p.N, num_true=2,
                                                   sampled_values=(p.sampled, tec, p.sec),
                                                   remove_accidental_hits=True)
    rows, masks = R.row_logits(p.W, p.b, labels.reshape(-1), np.arange(7) * 2, p.x, p.sampled,
                               tec.reshape(-1), p.sec, True, True)
    assert masks[2][1] and masks[2][4]
    ref = np.stack(rows)
    hit = np.concatenate([np.zeros((6, 2), bool), np.stack(masks)], axis=1)
    assert np.all(logits[hit] <= -FLT_MAX * 0.99)
    _close(logits[~hit], ref[~hit], np.float64, "logits")
    assert np.all(out_labels[:, :2] == 0.5) and not out_labels[:, 2:].any()


def test_compute_sampled_logits_per_example_grads():
    p = P(12, B=8, S=5, per_example=True)
    labels = p.rng.integers(0, p.N, (8, 1))
    tec = p.rng.uniform(0.1, 1, (8, 1))
    cot = p.rng.standard_normal((8, 6))
    logits, _, g = ps.compute_sampled_logits(p.W, p.b, labels, p.x, p.S, p.N,
                                             sampled_values=(p.sampled, tec, p.sec),
                                             upstream=cot, return_grads=True)
    _, rows, dX, dW, db = R.row_loss("logits", p.W, p.b, labels.reshape(-1), np.arange(9), p.x,
                                     p.sampled, tec.reshape(-1), p.sec, logits_cotangent=list(cot))
    _close(logits, np.stack(rows), np.float64, "logits")
    _close(g.inputs, dX, np.float64, "dX")
    _close(g.weights.to_dense(), dW, np.float64, "dW")
    _close(g.biases.to_dense(), db, np.float64, "db")


def test_default_per_example_draws():
    """negatives='per_example' without sampled_values: LogUniformSampler(N,
    seed).sample_bulk((B, S)) and expected counts S * p(c)."""
    rng = np.random.default_rng(13)
    N, D, B, S = 1000, 6, 9, 7
    W, b, x = rng.standard_normal((N, D)), rng.standard_normal(N), rng.standard_normal((B, D))
    labels = rng.integers(0, N, (B, 1))
    logits, _ = ps.compute_sampled_logits(W, b, labels, x, S, N, seed=42, negatives="per_example")
    smp = ps.LogUniformSampler(N, seed=42)
    drawn = smp.sample_bulk((B, S))
    tec = S * smp.probability(labels).astype(np.float64)
    sec = S * smp.probability(drawn).astype(np.float64)
    rows, _ = R.row_logits(W, b, labels.reshape(-1), np.arange(B + 1), x, drawn,
                           tec.reshape(-1), sec, True, False)
    _close(logits, np.stack(rows), np.float64, "logits")
    again = [ps.sampled_softmax_loss(W, b, labels, x, S, N, seed=42, negatives="per_example",
                                     num_threads=t) for t in (1, 2)]
    assert np.array_equal(again[0], again[1])


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
@pytest.mark.parametrize("per_example", [False, True])
def test_sampled_loss_step(optimizer, per_example):
    p = P(14, per_example=per_example, hits=False)
    W, b = p.W.copy(), p.b.copy()
    sl = ps.SampledLoss(W, b, num_sampled=p.S, optimizer=optimizer, learning_rate=0.3,
                        negatives="per_example" if per_example else "shared")
    res = sl.step(p.labels, p.x, sampled_values=p.sv, label_row_splits=p.splits,
                  upstream=p.upstream)
    rl, _, dX, dW, db = p.ref("softmax", rah=True)
    _close(res.loss, rl, np.float64, "loss")
    _close(res.inputs_grad, dX, np.float64, "dX")
    touched = np.unique(np.concatenate([p.labels, p.sampled.reshape(-1)]))
    if optimizer == "sgd":
        expect_w, expect_b = p.W - 0.3 * dW, p.b - 0.3 * db
    else:
        acc_w, acc_b = 0.1 + dW * dW, 0.1 + db * db
        expect_w = p.W - 0.3 * dW / (np.sqrt(acc_w) + 1e-7)
        expect_b = p.b - 0.3 * db / (np.sqrt(acc_b) + 1e-7)
    untouched = np.setdiff1d(np.arange(p.N), touched)
    assert np.array_equal(W[untouched], p.W[untouched])
    np.testing.assert_allclose(W, expect_w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(b, expect_b, rtol=1e-12, atol=1e-13)
    # __call__ does not update
    before = W.copy()
    sl(p.labels, p.x, sampled_values=p.sv, label_row_splits=p.splits)
    assert np.array_equal(W, before)


def test_sampled_loss_per_example_draws_from_its_sampler():
    p = P(15, N=200, B=6, S=4)
    sampler = ps.UniformSampler(200, seed=3)
    sl = ps.SampledLoss(p.W, p.b, num_sampled=4, sampler=sampler, negatives="per_example")
    loss = sl(p.labels, p.x, label_row_splits=p.splits)
    twin = ps.UniformSampler(200, seed=3)
    drawn = twin.sample_bulk((6, 4))
    sec = np.full((6, 4), 4 / 200)
    ref, _, _, _, _ = R.row_loss("softmax", p.W, p.b, p.labels, p.splits, p.x, drawn,
                                 np.full(p.labels.shape, 4 / 200), sec, True, True)
    np.testing.assert_allclose(loss, ref, rtol=1e-6)  # p is float32: 4 * p(c) rounds


def test_read_only_and_strided_inputs_not_written():
    p = P(16, per_example=True)
    expect, eg = ps.sampled_softmax_loss(p.W, p.b, p.labels, p.x, p.S, p.N, sampled_values=p.sv,
                                         label_row_splits=p.splits, return_grads=True)
    big = np.zeros((p.B, 2 * p.D))
    big[:, ::2] = p.x
    xs = big[:, ::2]
    Wbig = np.zeros((p.N, p.D + 3))
    Wbig[:, :p.D] = p.W
    Ws = Wbig[:, :p.D]  # row stride != dim: read in place
    arrays = [xs, Ws, p.b, p.labels, p.splits, p.sampled, p.tec, p.sec]
    for a in arrays:
        a.flags.writeable = False
    snap = [a.copy() for a in arrays]
    got, g = ps.sampled_softmax_loss(Ws, p.b, p.labels, xs, p.S, p.N,
                                     sampled_values=(p.sampled, p.tec, p.sec),
                                     label_row_splits=p.splits, return_grads=True)
    assert np.array_equal(got, expect)
    assert np.array_equal(g.weights.values, eg.weights.values)
    for a, s in zip(arrays, snap):
        assert np.array_equal(a, s)


def _bad(**over):
    p = P(17, B=3, S=2, N=10, max_true=2, hits=False)
    args = dict(weights=p.W, biases=p.b, labels=p.labels, inputs=p.x, num_sampled=2,
                num_classes=10, sampled_values=p.sv, label_row_splits=p.splits)
    args.update(over)
    return args, p


@pytest.mark.parametrize("over,exc,match", [
    ({"label_row_splits": [0, 1, 2]}, ValueError, "batch_size \\+ 1 = 4 entries"),
    ({"label_row_splits": "SPLIT_START"}, ValueError, "must start at 0"),
    ({"label_row_splits": "SPLIT_DECREASE"}, ValueError, "non-decreasing"),
    ({"label_row_splits": "SPLIT_END"}, ValueError, "must end at len\\(labels\\)"),
    ({"label_row_splits": "SPLIT_EMPTY"}, ValueError, "example 1 has no true labels"),
    ({"label_row_splits": [0.0, 1.0, 2.0, 3.0]}, TypeError, "label_row_splits must hold integers"),
    ({"num_true": 2}, ValueError, "num_true must be left unset"),
    ({"labels": "LABELS_2D"}, ValueError, "flat 1-D array"),
    ({"labels": "LABEL_OOR"}, IndexError, r"labels\[0\] = 10 is not in \[0, 10\)"),
    ({"sampled_values": "SAMPLED_OOR"}, IndexError, r"sampled_candidates\[3\] = -1 is not in"),
    ({"sampled_values": "SAMPLED_SHAPE"}, ValueError, r"sampled_candidates must have shape \(3, 2\)"),
    ({"sampled_values": "SEC_SHAPE"}, ValueError, "sampled_expected_count must have shape"),
    ({"sampled_values": "TEC_SHAPE"}, ValueError, "true_expected_count must have shape"),
    ({"sampled_values": "SAMPLED_3D"}, ValueError, "1-D \\(shared\\) or 2-D"),
    ({"negatives": "all"}, ValueError, "negatives must be 'shared' or 'per_example'"),
    ({"negatives": "per_example"}, ValueError, "needs a 2-D sampled_candidates"),
])
def test_bad_inputs(over, exc, match):
    args, p = _bad()
    v = next(iter(over.values()))
    key = next(iter(over))
    B, NL = p.B, p.splits[-1]
    per = (p.rng.integers(0, 10, (B, 2)), p.tec, np.ones((B, 2)))
    table = {
        "SPLIT_START": np.r_[1, p.splits[1:]],
        "SPLIT_DECREASE": np.array([0, 2, 1, NL]),
        "SPLIT_END": np.r_[p.splits[:-1], NL + 1],
        "SPLIT_EMPTY": np.array([0, 1, 1, NL]),
        "LABELS_2D": p.labels.reshape(-1, 1),
        "LABEL_OOR": np.r_[10, p.labels[1:]],
        "SAMPLED_OOR": (np.array([[1, 2], [3, -1], [5, 6]]), p.tec, np.ones((B, 2))),
        "SAMPLED_SHAPE": (np.ones((B, 3), np.int64), p.tec, np.ones((B, 3))),
        "SEC_SHAPE": (per[0], p.tec, np.ones(2)),
        "TEC_SHAPE": (per[0], np.ones(NL + 1), per[2]),
        "SAMPLED_3D": (np.ones((B, 2, 1), np.int64), p.tec, np.ones((B, 2, 1))),
    }
    args[key] = table[v] if isinstance(v, str) and v in table else v
    with pytest.raises(exc, match=match):
        ps.sampled_softmax_loss(**args)
