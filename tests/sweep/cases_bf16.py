r"""Bad-input sweep, area: bfloat16 (``ml_dtypes.bfloat16``) weights, biases, inputs and
expected counts, and ``SampledLoss.step`` on bfloat16 rows.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    bf16-weights-biases-float32-inputs  returns: works: float32 loss (the inputs' dtype)
    bf16-everything  returns: works: bfloat16 loss, as TF
    bf16-inputs-float64-weights  returns: works: computed in float32, bfloat16 loss
    bf16-logits  returns: works: bfloat16 logits
    bf16-mixed-shards  raises TypeError: /^all weights shards must have the same dtype$/
    bf16-weights-1d  raises ValueError: /^weights must be 2-D, got shape \(12,\)$/
    bf16-fortran-weights  raises ValueError: /^weights must have contiguous rows/
    bf16-inputs-1d  raises ValueError: /^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$/
    bf16-nan-in-sampled-weight-row  returns: every example NaN (as float32 weights)
    bf16-nan-in-input-row  returns: that example NaN only
    step-bf16-readonly-weights  raises ValueError: /^step\(\) updates in place: weights and biases must
        be writable$/
    step-bf16-weights-float64-inputs  raises TypeError: /^step\(\) updates in place: weights and biases
        must be float64 like the inputs/
    SampledLoss-bad-bf16-rounding  raises ValueError: /^bf16_rounding must be 'nearest' or 'stochastic',
        got 'truncate'$/
    step-bf16-sgd-float32-inputs  returns: float32 loss and dx; bfloat16 rows updated in place
    step-bf16-adagrad-bf16-inputs  returns: bfloat16 loss and dx; float32 accumulators
    step-bf16-stochastic-rounding  returns: works (deterministic for the seed)
    SampledLoss-bad-grad-precision  raises ValueError: /^grad_precision must be 'float32' or 'bfloat16',
        got 'bfloat16 '$/
    SampledLoss-grad-precision-per-example  raises ValueError: /^grad_precision='bfloat16' needs
        negatives='shared'$/
    step-bf16-grads-float64-inputs  raises TypeError: /^grad_precision='bfloat16' needs float32
        computing \(float32 or bfloat16 inputs\), got float64 inputs$/
    step-bf16-grads-bf16-inputs  returns: bfloat16 loss and dx; rows updated in place
    step-bf16-grads-float32-weights  returns: works: float32 kernels read the rounded G
RESULTS-TABLE-END
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

import pysampled as ps
from sweep.builders import B, D, S, call_loss, problem, readonly, set_item, set_row
from sweep.harness import raises, returns

BF16 = ml_dtypes.bfloat16


def bf(a):
    return np.asarray(a).astype(BF16)


def loss_dtype(shape, dtype):
    def check(result):
        loss = result[0] if isinstance(result, tuple) else result
        assert loss.shape == shape and loss.dtype == dtype, (loss.shape, loss.dtype)
        assert np.isfinite(loss.astype(np.float32)).all(), loss
    return check


# ------------------------------------------------------------ the functions
returns("bf16-weights-biases-float32-inputs", call_loss("ssm", weights=lambda p: bf(p["weights"]),
                                                        biases=lambda p: bf(p["biases"])),
        loss_dtype((B,), np.float32), "works: float32 loss (the inputs' dtype)")
returns("bf16-everything", call_loss(
    "ssm", weights=lambda p: bf(p["weights"]), biases=lambda p: bf(p["biases"]),
    inputs=lambda p: bf(p["inputs"]),
    sampled_values=lambda p: (p["sampled_values"][0], bf(p["sampled_values"][1]),
                              bf(p["sampled_values"][2]))),
    loss_dtype((B,), BF16), "works: bfloat16 loss, as TF")
returns("bf16-inputs-float64-weights", call_loss("nce", inputs=lambda p: bf(p["inputs"]),
                                                 weights=lambda p: p["weights"].astype(np.float64)),
        loss_dtype((B,), BF16), "works: computed in float32, bfloat16 loss")
def _bf16_logits(result):
    logits = result[0]
    assert logits.dtype == BF16 and logits.shape == (B, 1 + S), (logits.dtype, logits.shape)


returns("bf16-logits", call_loss("logits", weights=lambda p: bf(p["weights"]),
                                 inputs=lambda p: bf(p["inputs"])),
        _bf16_logits, "works: bfloat16 logits")
raises("bf16-mixed-shards", call_loss("ssm", weights=lambda p: [bf(p["weights"][:6]),
                                                                p["weights"][6:]],
                                      partition_strategy="div"),
       TypeError, r"^all weights shards must have the same dtype$")
raises("bf16-weights-1d", call_loss("ssm", weights=lambda p: bf(p["weights"][:, 0])),
       ValueError, r"^weights must be 2-D, got shape \(12,\)$")
raises("bf16-fortran-weights", call_loss("ssm", weights=lambda p: np.asfortranarray(bf(p["weights"]))),
       ValueError, r"^weights must have contiguous rows")
raises("bf16-inputs-1d", call_loss("ssm", inputs=lambda p: bf(p["inputs"][0])),
       ValueError, r"^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$")


def _nan_everywhere(result):
    loss = result[0] if isinstance(result, tuple) else result
    assert np.isnan(loss.astype(np.float32)).all(), loss


def _nan_row_1_only(result):
    loss = (result[0] if isinstance(result, tuple) else result).astype(np.float32)
    assert np.isnan(loss).tolist() == [False, True, False, False], loss


returns("bf16-nan-in-sampled-weight-row", call_loss(
    "ssm", weights=lambda p: set_row(bf(p["weights"]), 5, np.nan)),
    _nan_everywhere, "every example NaN (as float32 weights)")
returns("bf16-nan-in-input-row", call_loss("ssm", inputs=lambda p: set_item(bf(p["inputs"]), (1, 0),
                                                                            np.nan)),
        _nan_row_1_only, "that example NaN only")


# ------------------------------------------------------------ SampledLoss.step
def bf16_model(**kw):
    p = problem()
    p["weights"] = bf(p["weights"])
    p["biases"] = bf(p["biases"])
    kw.setdefault("num_sampled", S)
    kw.setdefault("seed", 1)
    return p, ps.SampledLoss(p["weights"], p["biases"], **kw)


def bf16_step(model_kw=None, expect_unchanged=False, **over):
    def run():
        p, m = bf16_model(**(model_kw or {}))
        before = (p["weights"].copy(), p["biases"].copy())
        kw = {"labels": p["labels"], "inputs": p["inputs"]}
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        try:
            return m.step(**kw), p, m
        except BaseException:
            if expect_unchanged:
                assert np.array_equal(p["weights"].view(np.uint16), before[0].view(np.uint16))
                assert np.array_equal(p["biases"].view(np.uint16), before[1].view(np.uint16))
            raise
    return run


raises("step-bf16-readonly-weights", lambda: ps.SampledLoss(readonly(np.zeros((6, 2), BF16)),
                                                            num_sampled=2, seed=1).step(
    [[0]], np.zeros((1, 2), np.float32)),
    ValueError, r"^step\(\) updates in place: weights and biases must be writable$")
raises("step-bf16-weights-float64-inputs",
       bf16_step(inputs=lambda p: p["inputs"].astype(np.float64), expect_unchanged=True),
       TypeError, r"^step\(\) updates in place: weights and biases must be float64 like the inputs")
raises("SampledLoss-bad-bf16-rounding", lambda: bf16_model(bf16_rounding="truncate"),
       ValueError, r"^bf16_rounding must be 'nearest' or 'stochastic', got 'truncate'$")


def _check_bf16_step(dtype, accum=None):
    def check(r):
        (loss, dx), p, m = r
        assert loss.dtype == dtype and dx.dtype == dtype and dx.shape == (B, D)
        assert np.isfinite(loss.astype(np.float32)).all()
        assert p["weights"].dtype == BF16  # updated in place, still bfloat16
        fresh = bf(problem()["weights"])
        assert not np.array_equal(p["weights"].view(np.uint16), fresh.view(np.uint16))
        if accum is not None:
            assert all(a.dtype == accum for a in m.accumulators[0] + m.accumulators[1])
    return check


returns("step-bf16-sgd-float32-inputs", bf16_step(), _check_bf16_step(np.float32),
        "float32 loss and dx; bfloat16 rows updated in place")
returns("step-bf16-adagrad-bf16-inputs", bf16_step(model_kw={"optimizer": "adagrad"},
                                                   inputs=lambda p: bf(p["inputs"])),
        _check_bf16_step(BF16, accum=np.float32), "bfloat16 loss and dx; float32 accumulators")
returns("step-bf16-stochastic-rounding", bf16_step(model_kw={"bf16_rounding": "stochastic",
                                                             "rounding_seed": 3}),
        _check_bf16_step(np.float32), "works (deterministic for the seed)")

# grad_precision="bfloat16" (issue 10): dL/dlogits rounded for the gradient products
def _finite_float32_step(r):
    assert r.loss.dtype == np.float32 and np.isfinite(r.loss).all()
    assert r.inputs_grad.dtype == np.float32 and np.isfinite(r.inputs_grad).all()


raises("SampledLoss-bad-grad-precision", lambda: bf16_model(grad_precision="bfloat16 "),
       ValueError, r"^grad_precision must be 'float32' or 'bfloat16', got 'bfloat16 '$")
raises("SampledLoss-grad-precision-per-example",
       lambda: bf16_model(grad_precision="bfloat16", negatives="per_example"),
       ValueError, r"^grad_precision='bfloat16' needs negatives='shared'$")
raises("step-bf16-grads-float64-inputs",
       lambda: ps.SampledLoss(problem()["weights"].astype(np.float64), num_sampled=S, seed=1,
                              grad_precision="bfloat16").step(
           problem()["labels"], problem()["inputs"].astype(np.float64)),
       TypeError, r"^grad_precision='bfloat16' needs float32 computing \(float32 or bfloat16 "
       r"inputs\), got float64 inputs$")
returns("step-bf16-grads-bf16-inputs", bf16_step(model_kw={"grad_precision": "bfloat16"},
                                                 inputs=lambda p: bf(p["inputs"])),
        _check_bf16_step(BF16), "bfloat16 loss and dx; rows updated in place")
returns("step-bf16-grads-float32-weights",
        lambda: ps.SampledLoss(problem()["weights"], num_sampled=S, seed=1,
                               grad_precision="bfloat16").step(problem()["labels"],
                                                               problem()["inputs"]),
        _finite_float32_step, "works: float32 kernels read the rounded G")
