"""Bad-input sweep, area: NaN and Inf in inputs, weights, biases and expected
counts: propagated as TF propagates them.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    nan-in-input-row-nce  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-nce  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-nce  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-nce  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-nce  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-nce  returns: only the example whose label is that class
    nan-in-sampled-bias-nce  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-nce  returns: only that example
    nan-in-sec-nce  returns: every example
    zero-sec-nce  returns: every example NaN (logits: +inf column)
    negative-tec-nce  returns: NaN in that example only (log of a negative)
    nan-in-input-row-ssm  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-ssm  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-ssm  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-ssm  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-ssm  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-ssm  returns: only the example whose label is that class
    nan-in-sampled-bias-ssm  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-ssm  returns: only that example
    nan-in-sec-ssm  returns: every example
    zero-sec-ssm  returns: every example NaN (logits: +inf column)
    negative-tec-ssm  returns: NaN in that example only (log of a negative)
    nan-in-input-row-sparse  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-sparse  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-sparse  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-sparse  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-sparse  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-sparse  returns: only the example whose label is that class
    nan-in-sampled-bias-sparse  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-sparse  returns: only that example
    nan-in-sec-sparse  returns: every example
    zero-sec-sparse  returns: every example NaN (logits: +inf column)
    negative-tec-sparse  returns: NaN in that example only (log of a negative)
    nan-in-input-row-logits  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-logits  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-logits  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-logits  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-logits  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-logits  returns: only the example whose label is that class
    nan-in-sampled-bias-logits  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-logits  returns: only that example
    nan-in-sec-logits  returns: every example
    zero-sec-logits  returns: every example NaN (logits: +inf column)
    negative-tec-logits  returns: NaN in that example only (log of a negative)
    inf-element-in-sampled-weight-nce  returns: every example NaN (TF)
    -inf-sampled-bias-nce  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-sec-nce  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-element-in-sampled-weight-ssm  returns: every example NaN (TF)
    -inf-sampled-bias-ssm  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-sec-ssm  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-element-in-sampled-weight-sparse  returns: every example NaN (TF)
    -inf-sampled-bias-sparse  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-sec-sparse  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    -inf-sampled-bias-ssm-gradients  returns: loss NaN (TF) but gradients finite, 0 for the -inf class
        (TF)
    nan-in-masked-hit-weight-row-ssm  returns: every example NaN, the masked row too
    nan-in-input-float64-ssm-rah  returns: row 0 NaN only
    nan-input-row-gradients  returns: loss and dX NaN in that row only; dW NaN on its label and every
        sampled class
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

import pysampled as ps
from sweep.builders import (
    problem, sv_replace, LOSSES, call_loss, per_row, poisoned_rows_only, all_rows_nan, column_nan, set_row,
    set_item,
)
from sweep.harness import returns


# ================================================================ NaN and Inf
_BAD = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}
for _name in LOSSES:
    for _tag, _v in _BAD.items():
        # a value in one input row: that row only; the others are bit-identical
        returns(f"{_tag}-in-input-row-{_name}", call_loss(_name, inputs=lambda p, v=_v: set_item(
            p["inputs"], (2, 1), v)), poisoned_rows_only(_name, [2]),
            "row 2 not finite; other rows bit-identical to the clean call")
    for _tag in ("nan", "inf"):
        # a whole sampled weight row of NaN/Inf (x.w = NaN): poisons every example
        _chk = all_rows_nan if _name != "logits" else column_nan(1 + 1)
        returns(f"{_tag}-in-sampled-weight-row-{_name}",
                call_loss(_name, weights=lambda p, v=_BAD[_tag]: set_row(p["weights"], 7, v)),
                _chk, "every example NaN (logits: the column of that class)")
    # NaN in a true weight row: only the rows with that label
    returns(f"nan-in-true-weight-row-{_name}",
            call_loss(_name, weights=lambda p: set_item(p["weights"], (1, 0), np.nan)),
            poisoned_rows_only(_name, [1]), "only the example whose label is that class")
    returns(f"nan-in-sampled-bias-{_name}",
            call_loss(_name, biases=lambda p: set_item(p["biases"], 9, np.nan)),
            all_rows_nan if _name != "logits" else column_nan(1 + 2),
            "every example NaN (logits: the column of that class)")
    returns(f"nan-in-tec-row-{_name}",
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, tec=set_item(p["sampled_values"][1], (3, 0), np.nan))),
            poisoned_rows_only(_name, [3]), "only that example")
    returns(f"nan-in-sec-{_name}",
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, sec=set_item(p["sampled_values"][2], 0, np.nan))),
            all_rows_nan if _name != "logits" else column_nan(1 + 0), "every example")
    returns(f"zero-sec-{_name}",  # log 0 = -inf -> sampled logit +inf
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, sec=set_item(p["sampled_values"][2], 0, 0.0))),
            (lambda r: np.testing.assert_array_equal(np.isfinite(per_row(r)[:, 1]), False))
            if _name == "logits" else all_rows_nan,
            "every example NaN (logits: +inf column)")
    returns(f"negative-tec-{_name}",
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, tec=set_item(p["sampled_values"][1], (0, 0), -1.0))),
            poisoned_rows_only(_name, [0]), "NaN in that example only (log of a negative)")
for _name in ("nce", "ssm", "sparse"):
    # An infinite sampled weight element: the logit is +inf or -inf depending
    # on the sign of x.w. TF's kernels turn both into NaN for every example
    # (softmax: 0 * (log s - (-inf)) = NaN; NCE: -x * 0 = NaN).
    returns(f"inf-element-in-sampled-weight-{_name}",
            call_loss(_name, weights=lambda p: set_item(p["weights"], (7, 0), np.inf)),
            all_rows_nan, "every example NaN (TF)")
    returns(f"-inf-sampled-bias-{_name}",
            call_loss(_name, biases=lambda p: set_item(p["biases"], 9, -np.inf)),
            all_rows_nan, "every example NaN (TF: 0 * inf in the cross-entropy sum)")
    returns(f"inf-sec-{_name}",  # log inf = inf -> sampled logit -inf
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, sec=set_item(p["sampled_values"][2], 3, np.inf))),
            all_rows_nan, "every example NaN (TF: 0 * inf in the cross-entropy sum)")


def _neg_inf_grads():
    p = problem()
    p["biases"] = set_item(p["biases"], 9, -np.inf)
    return ps.sampled_softmax_loss(**p, return_grads=True)


def _check_neg_inf_grads(r):
    loss, g = r
    assert np.isnan(loss).all()
    # TF's gradient exp(L - m) / s - z stays finite: 0 on the -inf column
    assert np.isfinite(g.inputs).all() and np.isfinite(g.weights.values).all()
    assert g.biases.values[g.biases.ids.tolist().index(9)] == 0.0


returns("-inf-sampled-bias-ssm-gradients", _neg_inf_grads, _check_neg_inf_grads,
        "loss NaN (TF) but gradients finite, 0 for the -inf class (TF)")
returns("nan-in-masked-hit-weight-row-ssm",  # -FLT_MAX + NaN = NaN: still poisons all rows
        call_loss("ssm", labels=np.array([[0], [1], [7], [3]]),
                  weights=lambda p: set_row(p["weights"], 7, np.nan)),
        all_rows_nan, "every example NaN, the masked row too")
returns("nan-in-input-float64-ssm-rah",
        call_loss("ssm", dtype=np.float64, remove_accidental_hits=True,
                  inputs=lambda p: set_item(p["inputs"], (0, 0), np.nan)),
        poisoned_rows_only("ssm", [0], np.float64), "row 0 NaN only")


def _nan_grads():
    p = problem()
    p["inputs"] = set_item(p["inputs"], (2, 0), np.nan)
    return ps.sampled_softmax_loss(**p, return_grads=True)


def _check_nan_grads(r):
    loss, g = r
    assert np.isnan(loss).tolist() == [False, False, True, False]
    # the NaN row's gradient is NaN; it reaches every sampled class and its own label
    assert np.isnan(g.inputs[2]).all() and np.isfinite(np.delete(g.inputs, 2, axis=0)).all()
    bad = set(g.weights.ids[np.isnan(g.weights.values).any(axis=1)].tolist())
    assert bad == {2, 5, 7, 9, 11}, bad


returns("nan-input-row-gradients", _nan_grads, _check_nan_grads,
        "loss and dX NaN in that row only; dW NaN on its label and every sampled class")
