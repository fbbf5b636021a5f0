"""The public sampled losses of pysampled against TensorFlow 2.21's own outputs.

Every case of ``tests/data/tf_losses.npz`` and ``tests/data/tf_losses_extra.npz``
goes through the public API (``nce_loss``, ``sampled_softmax_loss``,
``sampled_sparse_softmax_loss``, ``compute_sampled_logits``), at every SIMD
level this CPU has and with 1 and 2 threads. Compared: loss (or logits),
logits and out_labels (through ``compute_sampled_logits`` for the loss
kinds), dX, every dW shard (``per_shard()``) and the global dense dW
(``to_dense()``), db. Tolerances: float32 ``2e-4 * max(1, |ref|)``, float64
``1e-9 * max(1, |ref|)``; masked logits must be exactly -FLT_MAX; gradient
dtypes must be TF's (mixed W64/X32: dW and db float64).

Kinds: ``nce``, ``ssm``, ``sparse_ssm``, ``logits`` (cotangent R stored under
``upstream``) and ``rank_ssm`` (pysampled has no rank variant: the golden
outputs are those of the final sampled softmax over TF's resampled ids,
``resampled``/``resampled_sec``, which is what is checked here).
Case 27 (default in-loss sampler, TF global seed 4321, op seed 77) is also
run *without* explicit sampled values, with ``seed=(4321, 77)``.
"""
import numpy as np
import pytest

import pysampled as ps
from _loss_common import (
    FLT_MAX,
    GOLDEN_TOL,
    SIMD_LEVELS,
    as_list,
    golden_cases,
    golden_params,
    max_scaled_error,
    ref,
    shard_dense,
)
from pysampled import _samplers

NAMES, CASES = golden_cases()
_LOSS_FN = {
    "nce": ps.nce_loss,
    "ssm": ps.sampled_softmax_loss,
    "rank_ssm": ps.sampled_softmax_loss,
}


def _sampled_values(case):
    if case["meta"]["kind"] == "rank_ssm":
        return case["resampled"], case["tec"], case["resampled_sec"]
    return case["sampled"], case["tec"], case["sec"]


def _run(case, num_threads, **extra):
    """(loss or None, logits, out_labels, grads) from the public API."""
    meta = case["meta"]
    weights, biases = golden_params(case)
    sv = _sampled_values(case)
    S = len(sv[0])
    kw = dict(sampled_values=sv, remove_accidental_hits=meta["remove_accidental_hits"],
              partition_strategy=meta["partition_strategy"], num_threads=num_threads, **extra)
    args = (weights, biases, case["labels"], case["X"], S, meta["num_classes"])
    nt = meta["num_true"]
    kind = meta["kind"]
    if kind == "logits":
        logits, out_labels, grads = ps.compute_sampled_logits(
            *args, nt, subtract_log_q=meta["subtract_log_q"], return_grads=True,
            upstream=case["upstream"], **kw)
        return None, logits, out_labels, grads
    if kind == "sparse_ssm":
        loss, grads = ps.sampled_sparse_softmax_loss(*args, return_grads=True,
                                                     upstream=case["upstream"], **kw)
        plain = ps.sampled_sparse_softmax_loss(*args, **kw)
    else:
        fn = _LOSS_FN[kind]
        loss, grads = fn(*args, nt, return_grads=True, upstream=case["upstream"], **kw)
        plain = fn(*args, nt, **kw)
    # The loss does not depend on whether gradients were asked for.
    np.testing.assert_array_equal(plain, loss)
    assert meta["subtract_log_q"]
    logits, out_labels = ps.compute_sampled_logits(*args, nt, **kw)
    return loss, logits, out_labels, grads


def _check(case, loss, logits, out_labels, grads):
    meta = case["meta"]
    tol = GOLDEN_TOL[meta["dtype"]]

    def check(what, actual, expected):
        actual = np.asarray(actual)
        assert actual.dtype == expected.dtype, \
            f"{what}: dtype {actual.dtype} != TF's {expected.dtype}"
        err = max_scaled_error(actual, expected)
        assert err <= tol, f"{what}: scaled error {err:.3g} > {tol:g}"

    if loss is not None:
        check("loss", loss, case["loss"])
    check("logits", logits, case["logits"])
    check("out_labels", out_labels, case["out_labels"])
    check("dX", grads.inputs, case["dX"])

    weights, biases = golden_params(case)
    dW = shard_dense(grads.weights, weights)
    assert len(dW) == meta["num_shards"]
    for p, g in enumerate(dW):
        check(f"dW{p}", g, case[f"dW{p}"])
    # The global view: to_dense() routed to shards gives the same rows.
    total = sum(w.shape[0] for w in as_list(weights))
    dense = grads.weights.to_dense(total)
    assert dense.dtype == case["dW0"].dtype and dense.shape == (total, meta["dim"])
    rows = np.arange(total)
    shard, local = ref.route(rows, [w.shape[0] for w in as_list(weights)],
                             meta["partition_strategy"])
    np.testing.assert_array_equal(dense, np.stack([dW[s][r] for s, r in zip(shard, local)]))
    assert np.all(np.diff(grads.weights.ids) > 0)

    assert grads.biases is not None
    db = shard_dense(grads.biases, biases)
    keys = [f"db{p}" for p in range(meta["num_shards"])] if meta["bias_sharded"] else ["db"]
    assert len(db) == len(keys)
    for key, g in zip(keys, db):
        check(key, g, case[key])


def _check_mask(case, logits):
    """Masked sampled logits are exactly -FLT_MAX, and only those."""
    meta = case["meta"]
    masked = np.zeros(logits.shape, bool)
    if meta["remove_accidental_hits"]:
        sampled = _sampled_values(case)[0]
        rows, pos = ref.accidental_hits(case["labels"], sampled)
        masked[rows, meta["num_true"] + pos] = True
    assert np.all(logits[masked] == -FLT_MAX)
    assert np.all(logits[~masked] > -1e30)
    return int(masked.sum())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("level", SIMD_LEVELS)
@pytest.mark.parametrize("name", NAMES)
def test_golden_case(name, level, threads, restore_simd):  # noqa: F811
    _samplers.set_simd_level(level)
    case = CASES[name]
    loss, logits, out_labels, grads = _run(case, threads)
    _check(case, loss, logits, out_labels, grads)
    _check_mask(case, logits)


def test_golden_covers_masks_and_kinds():
    kinds = {CASES[n]["meta"]["kind"] for n in NAMES}
    assert kinds == {"nce", "ssm", "logits", "sparse_ssm", "rank_ssm"}
    assert len(NAMES) == 47
    masked = 0
    for name in NAMES:
        case = CASES[name]
        _, logits, _, _ = _run(case, 1)
        masked += _check_mask(case, logits)
    assert masked > 20


def test_golden_mixed_dtype_gradients_are_float64():
    mixed = [n for n in NAMES if CASES[n]["meta"]["dtype"] == "mixed"]
    assert len(mixed) == 2
    for name in mixed:
        case = CASES[name]
        assert case["X"].dtype == np.float32 and case["W0"].dtype == np.float64
        loss, _, _, grads = _run(case, 1)
        assert loss.dtype == np.float32 and grads.inputs.dtype == np.float32
        assert grads.weights.values.dtype == np.float64
        assert grads.biases.values.dtype == np.float64


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n]["meta"]["kind"] == "sparse_ssm"])
def test_golden_sparse_ssm_labels_1d(name):
    """The contrib loss also takes labels of shape [B]."""
    case = CASES[name]
    loss, _, _, grads = _run(case, 1)
    weights, biases = golden_params(case)
    meta = case["meta"]
    loss1, grads1 = ps.sampled_sparse_softmax_loss(
        weights, biases, case["labels"].reshape(-1), case["X"], len(case["sampled"]),
        meta["num_classes"], sampled_values=_sampled_values(case),
        remove_accidental_hits=meta["remove_accidental_hits"],
        partition_strategy=meta["partition_strategy"], return_grads=True,
        upstream=case["upstream"], num_threads=1)
    np.testing.assert_array_equal(loss1, loss)
    np.testing.assert_array_equal(grads1.inputs, grads.inputs)
    np.testing.assert_array_equal(grads1.weights.values, grads.weights.values)


DEFAULT_SAMPLER_CASES = [n for n in NAMES if not CASES[n]["meta"]["sampled_values_explicit"]]


def test_default_sampler_case_exists():
    assert DEFAULT_SAMPLER_CASES == ["case27_ssm_f32_default_sampler_seeded"]


@pytest.mark.parametrize("name", DEFAULT_SAMPLER_CASES)
def test_golden_default_sampler_reproduces_tf(name):
    """TF's in-loss default sampler (global seed 4321, op seed 77) = seed=(4321, 77)."""
    case = CASES[name]
    meta = case["meta"]
    assert meta["kind"] == "ssm" and meta["tf_random_set_seed"] == 4321
    seed = (meta["tf_random_set_seed"], meta["op_seed"])
    weights, biases = golden_params(case)
    S, C, NT = meta["num_sampled"], meta["num_classes"], meta["num_true"]

    # The stored sampled values are exactly what the sampler draws.
    ps.reset_sampler_cache()
    sampled, tec, sec = ps.log_uniform_candidate_sampler(case["labels"], NT, S, True, C, seed=seed)
    np.testing.assert_array_equal(sampled, case["sampled"])
    np.testing.assert_array_equal(tec, case["tec"])
    np.testing.assert_array_equal(sec, case["sec"])

    ps.reset_sampler_cache()
    loss, grads = ps.sampled_softmax_loss(
        weights, biases, case["labels"], case["X"], S, C, NT,
        remove_accidental_hits=meta["remove_accidental_hits"],
        partition_strategy=meta["partition_strategy"], seed=seed, return_grads=True,
        upstream=case["upstream"])
    ps.reset_sampler_cache()  # a fresh stream again (function streams continue across calls)
    logits, out_labels = ps.compute_sampled_logits(
        weights, biases, case["labels"], case["X"], S, C, NT,
        remove_accidental_hits=meta["remove_accidental_hits"],
        partition_strategy=meta["partition_strategy"], seed=seed)
    ps.reset_sampler_cache()
    _check(case, loss, logits, out_labels, grads)
    _check_mask(case, logits)
