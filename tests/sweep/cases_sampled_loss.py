r"""Bad-input sweep, area: `SampledLoss` construction and `step` (a failing
step leaves the weights untouched).

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    SampledLoss-bad-loss  raises ValueError: /^loss must be 'sampled_softmax' or 'nce', got 'hinge'$/
    SampledLoss-bad-optimizer  raises ValueError: /^optimizer must be 'sgd' or 'adagrad', got 'adam'$/
    SampledLoss-num_sampled-0  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at least
        minimum 1$/
    SampledLoss-num_true-0  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum
        1$/
    SampledLoss-sampler-not-a-sampler  raises TypeError: /^sampler must be a pysampled
        CandidateSampler$/
    SampledLoss-sampler-range-beyond-rows  raises ValueError: /^the sampler draws from 13 classes but
        the weights have 12 rows$/
    SampledLoss-adagrad-init-0  raises ValueError: /^initial_accumulator_value must be positive$/
    SampledLoss-empty-shards  raises ValueError: /^weights: the list of shards is empty$/
    SampledLoss-mixed-shards  raises TypeError: /^all weights shards must have the same dtype$/
    SampledLoss-non-canonical-shards  raises ValueError: /^shard sizes \[1, 3\] are not the 'mod'
        layout/
    SampledLoss-fortran-weights  raises ValueError: /^weights must have contiguous rows/
    SampledLoss-unique-S>R  raises ValueError: /^Sampler's range is too small\.$/
    step-readonly-weights  raises ValueError: /^step\(\) updates in place: weights and biases must be
        writable$/
    call-readonly-weights  returns: __call__ only reads: works
    step-float64-inputs-float32-weights  raises TypeError: /^step\(\) updates in place: weights and
        biases must be float64 like the inputs/
    step-inputs-float16  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-int64  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-bool  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-object  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-1d  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-labels-rows-mismatch  raises ValueError: /^labels have 3 rows but inputs have 4$/
    step-labels-columns  raises ValueError: /^labels must have shape \[batch_size, num_true=1\], got
        \(4, 2\)$/
    step-labels-float  raises ValueError: /^labels must hold integer values: got 0\.5 \(TF would
        truncate a float label toward zero silently\)$/
    step-dim-mismatch  raises ValueError: /^Matrix size-incompatible: inputs are \[4, 5\] but weights
        have 3 columns$/
    step-label-2**40  raises IndexError: /out of range \[0, 12\), received 1099511627776$/
    step-label-2**40-explicit-sv  raises IndexError: /^labels\[2\] = 1099511627776 is not in \[0, 12\)$/
    step-sampled-out-of-range-explicit-sv  raises IndexError: /^sampled_candidates\[3\] = 12 is not in
        \[0, 12\)$/
    step-sampled-wrong-length  raises ValueError: /^sampled_candidates has 2 entries but num_sampled=4,
        which must agree with remove_accidental_hits=True/
    step-tec-wrong-shape  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    step-upstream-wrong-shape  raises ValueError: /^upstream must have shape \(4,\), got \(4, 1\)$/
    step-sampled_values-not-a-triple  raises ValueError: /^sampled_values must be a triple/
    step-empty-batch  returns: empty loss; weights and biases unchanged
    step-nan-input-row  returns: loss/dx NaN in that row; NaN written to its label row and the sampled
        rows only (garbage in, garbage out)
    step-int32-labels-readonly-fortran-inputs  returns: works (labels [B] accepted when num_true = 1)
    step-float64-model  returns: float64 loss, finite
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

import pysampled as ps
from sweep.builders import (
    B, C, D, S,
    problem, sv_replace, finite_shape, set_item, readonly,
)
from sweep.harness import raises, returns


# ============================================================== SampledLoss


def model(dtype=np.float32, **kw):
    p = problem(dtype)
    kw.setdefault("num_sampled", S)
    kw.setdefault("seed", 1)
    return p, ps.SampledLoss(p["weights"], p["biases"], **kw)


def step_call(dtype=np.float32, model_kw=None, expect_unchanged=False, **over):
    """Build a model, call step with `over` (functions of the problem allowed).
    With expect_unchanged, a failing step must leave weights and biases untouched."""
    def run():
        p, m = model(dtype, **(model_kw or {}))
        before = (p["weights"].copy(), p["biases"].copy())
        kw = {"labels": p["labels"], "inputs": p["inputs"]}
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        try:
            return m.step(**kw), p
        except BaseException:
            if expect_unchanged:
                np.testing.assert_array_equal(p["weights"], before[0])
                np.testing.assert_array_equal(p["biases"], before[1])
            raise
    return run


raises("SampledLoss-bad-loss", lambda: model(loss="hinge"),
       ValueError, r"^loss must be 'sampled_softmax' or 'nce', got 'hinge'$")
raises("SampledLoss-bad-optimizer", lambda: model(optimizer="adam"),
       ValueError, r"^optimizer must be 'sgd' or 'adagrad', got 'adam'$")
raises("SampledLoss-num_sampled-0", lambda: model(num_sampled=0),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("SampledLoss-num_true-0", lambda: model(num_true=0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")
raises("SampledLoss-sampler-not-a-sampler", lambda: model(sampler=object()),
       TypeError, r"^sampler must be a pysampled CandidateSampler$")
raises("SampledLoss-sampler-range-beyond-rows",
       lambda: model(sampler=ps.UniformSampler(C + 1, seed=1)),
       ValueError, r"^the sampler draws from 13 classes but the weights have 12 rows$")
raises("SampledLoss-adagrad-init-0", lambda: model(optimizer="adagrad",
                                                   initial_accumulator_value=0.0),
       ValueError, r"^initial_accumulator_value must be positive$")
raises("SampledLoss-empty-shards", lambda: ps.SampledLoss([], num_sampled=2),
       ValueError, r"^weights: the list of shards is empty$")
raises("SampledLoss-mixed-shards", lambda: ps.SampledLoss(
    [np.zeros((2, 2), np.float32), np.zeros((2, 2))], num_sampled=1, partition_strategy="div"),
    TypeError, r"^all weights shards must have the same dtype$")
raises("SampledLoss-non-canonical-shards", lambda: ps.SampledLoss(
    [np.zeros((1, 2), np.float32), np.zeros((3, 2), np.float32)], num_sampled=1,
    partition_strategy="mod"), ValueError, r"^shard sizes \[1, 3\] are not the 'mod' layout")
raises("SampledLoss-fortran-weights", lambda: ps.SampledLoss(
    np.asfortranarray(np.zeros((4, 3), np.float32)), num_sampled=1),
    ValueError, r"^weights must have contiguous rows")
raises("SampledLoss-unique-S>R", lambda: ps.SampledLoss(
    np.zeros((3, 2), np.float32), num_sampled=4, seed=1)([[0]], np.zeros((1, 2), np.float32)),
    ValueError, r"^Sampler's range is too small\.$")
raises("step-readonly-weights", lambda: ps.SampledLoss(readonly(np.zeros((6, 2), np.float32)),
                                                       num_sampled=2, seed=1).step(
    [[0]], np.zeros((1, 2), np.float32)),
    ValueError, r"^step\(\) updates in place: weights and biases must be writable$")
returns("call-readonly-weights", lambda: ps.SampledLoss(readonly(np.ones((6, 2), np.float32)),
                                                        num_sampled=2, seed=1)(
    [[0]], np.ones((1, 2), np.float32)), finite_shape((1,)), "__call__ only reads: works")
raises("step-float64-inputs-float32-weights",
       step_call(inputs=lambda p: p["inputs"].astype(np.float64), expect_unchanged=True),
       TypeError, r"^step\(\) updates in place: weights and biases must be float64 like the inputs")
for _dt in ("float16", "int64", "bool", "object"):
    raises(f"step-inputs-{_dt}", step_call(inputs=lambda p, dt=_dt: p["inputs"].astype(dt),
                                           expect_unchanged=True),
           TypeError, r"^inputs must be a 2-D float32 or float64 array$")
raises("step-inputs-1d", step_call(inputs=lambda p: p["inputs"][0], expect_unchanged=True),
       TypeError, r"^inputs must be a 2-D float32 or float64 array$")
raises("step-labels-rows-mismatch", step_call(labels=np.zeros((B - 1, 1), np.int64),
                                              expect_unchanged=True),
       ValueError, r"^labels have 3 rows but inputs have 4$")
raises("step-labels-columns", step_call(labels=np.zeros((B, 2), np.int64), expect_unchanged=True),
       ValueError, r"^labels must have shape \[batch_size, num_true=1\], got \(4, 2\)$")
raises("step-labels-float", step_call(labels=lambda p: p["labels"] + 0.5, expect_unchanged=True),
       ValueError, r"^labels must hold integer values: got 0\.5 \(TF would truncate a float "
       r"label toward zero silently\)$")
raises("step-dim-mismatch", step_call(inputs=np.zeros((B, D + 2), np.float32), expect_unchanged=True),
       ValueError, r"^Matrix size-incompatible: inputs are \[4, 5\] but weights have 3 columns$")
raises("step-label-2**40", step_call(labels=np.array([[0], [1], [2**40], [2]]),
                                     expect_unchanged=True),
       IndexError, r"out of range \[0, 12\), received 1099511627776$")
raises("step-label-2**40-explicit-sv",
       step_call(labels=np.array([[0], [1], [2**40], [2]]), expect_unchanged=True,
                 sampled_values=lambda p: p["sampled_values"]),
       IndexError, rf"^labels\[2\] = {2**40} is not in \[0, 12\)$")
raises("step-sampled-out-of-range-explicit-sv",
       step_call(expect_unchanged=True, sampled_values=lambda p: sv_replace(
           p, sampled=np.array([5, 7, 9, 12]))),
       IndexError, r"^sampled_candidates\[3\] = 12 is not in \[0, 12\)$")
# Any number of explicit candidates is used (num_sampled sizes draws only),
# but their expected counts must match them.
raises("step-sampled-wrong-length", step_call(expect_unchanged=True, sampled_values=lambda p: sv_replace(
    p, sampled=np.array([5, 7]))), ValueError,
    r"^sampled_candidates has 2 entries but num_sampled=4, which must agree with "
    r"remove_accidental_hits=True")
raises("step-tec-wrong-shape", step_call(expect_unchanged=True, sampled_values=lambda p: sv_replace(
    p, tec=np.ones(B, np.float32))),
    ValueError, r"^true_expected_count must have shape \(4, 1\), got \(4,\)$")
raises("step-upstream-wrong-shape", step_call(expect_unchanged=True, upstream=np.ones((B, 1))),
       ValueError, r"^upstream must have shape \(4,\), got \(4, 1\)$")
raises("step-sampled_values-not-a-triple", step_call(expect_unchanged=True, sampled_values=3),
       ValueError, r"^sampled_values must be a triple")


def _check_step_empty(r):
    (loss, dx), p = r
    fresh = problem()
    assert loss.shape == (0,) and dx.shape == (0, D)
    np.testing.assert_array_equal(p["weights"], fresh["weights"])  # a zero update
    np.testing.assert_array_equal(p["biases"], fresh["biases"])


returns("step-empty-batch", step_call(labels=np.zeros((0, 1), np.int64),
                                      inputs=np.zeros((0, D), np.float32)),
        _check_step_empty, "empty loss; weights and biases unchanged")


def _check_step_nan(r):
    (loss, dx), p = r
    assert np.isnan(loss).tolist() == [False, True, False, False]
    assert np.isnan(dx[1]).all() and np.isfinite(np.delete(dx, 1, axis=0)).all()
    # the NaN row's gradient reaches its label's row and every sampled row;
    # untouched rows keep their values
    bad = np.flatnonzero(np.isnan(p["weights"]).any(axis=1))
    assert 1 in bad.tolist() and 0 not in bad.tolist(), bad
    assert len(bad) <= 1 + S


returns("step-nan-input-row", step_call(inputs=lambda p: set_item(p["inputs"], (1, 2), np.nan)),
        _check_step_nan, "loss/dx NaN in that row; NaN written to its label row and the "
        "sampled rows only (garbage in, garbage out)")
returns("step-int32-labels-readonly-fortran-inputs",
        step_call(labels=lambda p: p["labels"].astype(np.int32).ravel(),
                  inputs=lambda p: readonly(np.asfortranarray(p["inputs"]))),
        lambda r: np.isfinite(r[0].loss).all() or (_ for _ in ()).throw(AssertionError(r)),
        "works (labels [B] accepted when num_true = 1)")
returns("step-float64-model", step_call(dtype=np.float64, model_kw={"optimizer": "adagrad"}),
        lambda r: (r[0].loss.dtype == np.float64 and np.isfinite(r[0].loss).all())
        or (_ for _ in ()).throw(AssertionError(r)), "float64 loss, finite")
