r"""Bad-input sweep, area: beyond TF (issue 11): `in_batch_softmax_loss`,
`FrequencyEstimator`, ragged labels (`label_row_splits=`) and per-example
negatives (2-D `sampled_candidates`, `negatives="per_example"`) of the sampled
losses and `SampledLoss`.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    ib-query-int  raises TypeError: /^query must be float32 or float64, got int64$/
    ib-query-float16  raises TypeError: /^query must be float32 or float64, got float16$/
    ib-query-1d  raises ValueError: /^query must be 2-D, got shape \(4,\)$/
    ib-candidates-dtype  raises TypeError: /^candidates must have the query's dtype float32, got
        float64$/
    ib-candidates-rows  raises ValueError: /^candidates must have shape \(4, 3\), got \(5, 3\)$/
    ib-candidate_ids-length  raises ValueError: /^candidate_ids must have shape \(4,\), got \(3,\)$/
    ib-candidate_ids-float  raises TypeError: /^candidate_ids must hold integers, got dtype float64$/
    ib-log_q-shape  raises ValueError: /^log_q must have shape \(4,\), got \(4, 1\)$/
    ib-log_q-inf  raises ValueError: /^log_q\[1\] = -inf is not finite$/
    ib-log_q-nan  raises ValueError: /^log_q\[2\] = nan is not finite$/
    ib-log_q-strings  raises TypeError: /^log_q must hold numbers/
    ib-extra-columns  raises ValueError: /^extra_candidates must have 3 columns like the query, got
        shape \(2, 4\)$/
    ib-extra-dtype  raises TypeError: /^extra_candidates must have the query's dtype float32, got
        float64$/
    ib-extra_ids-without-extra  raises ValueError: /^extra_ids and extra_log_q need extra_candidates$/
    ib-extra_ids-without-candidate_ids  raises ValueError: /^extra_ids need candidate_ids/
    ib-extra_ids-length  raises ValueError: /^extra_ids must have shape \(2,\), got \(1,\)$/
    ib-extra_log_q-length  raises ValueError: /^extra_log_q must have shape \(2,\), got \(1,\)$/
    ib-temperature-0  raises ValueError: /^temperature must be a positive finite number, got 0.0$/
    ib-temperature-inf  raises ValueError: /^temperature must be a positive finite number, got inf$/
    ib-temperature-tiny-float32  raises ValueError: /^temperature 1e-60 is not a positive finite
        float32$/
    ib-temperature-str  raises TypeError: /^temperature must be a number, got str$/
    ib-upstream-shape  raises ValueError: /^upstream must have shape \(4,\), got \(5,\)$/
    ib-num_threads-0  raises ValueError: /num_threads/
    ib-empty-batch  returns: empty loss
    ib-dim-0  returns: all logits 0: loss log(B)
    ib-readonly-strided-fortran  returns: works (non-unit inner strides copied, others read in place)
    ib-nan-query-row  returns: NaN stays in its own example: loss[1] NaN, the others finite
    ib-all-ids-equal  returns: every other column masked: loss 0
    freq-num_buckets-0  raises ValueError: /^num_buckets must be in \[1, 2\*\*40\], got 0$/
    freq-num_buckets-huge  raises ValueError: /^num_buckets must be in \[1, 2\*\*40\]/
    freq-num_buckets-float  raises TypeError: /^num_buckets must be an integer, got float$/
    freq-num_hashes-0  raises ValueError: /^num_hashes must be in \[1, 64\], got 0$/
    freq-alpha-0  raises ValueError: /^alpha must be in \(0, 1\], got 0.0$/
    freq-alpha-nan  raises ValueError: /^alpha must be in \(0, 1\], got nan$/
    freq-alpha-str  raises TypeError: /^alpha must be a number, got str$/
    freq-seed-float  raises TypeError: /^seed must be an integer, got float$/
    freq-update-step-backwards  raises ValueError: /^step 4 is before the last step seen \(5\)$/
    freq-update-step-negative  raises ValueError: /^step must be non-negative, got -1$/
    freq-update-step-huge  raises ValueError: /^step 4611686018427387904 is too large$/
    freq-update-step-float  raises TypeError: /^step must be an integer, got float$/
    freq-update-ids-float  raises TypeError: /^ids must hold integers, got dtype float64$/
    freq-update-ids-uint64-huge  raises ValueError: /^ids holds values beyond the int64 range$/
    freq-log_q-ids-object  raises TypeError: /^ids must hold integers, got dtype object$/
    freq-bucket-hash-index  raises ValueError: /^hash_index must be in \[0, 1\)$/
    freq-state-missing  raises ValueError: /^not a FrequencyEstimator state: missing 'num_hashes'$/
    freq-state-wrong-size  raises ValueError: /^FrequencyEstimator state: acc must be float64 of shape
        \(8,\)/
    freq-state-negative-acc  raises ValueError: /^FrequencyEstimator state: tables hold impossible
        values$/
    freq-state-steps  raises ValueError: /^FrequencyEstimator state: inconsistent first/last step$/
    freq-log_q-empty-ids  returns: empty float64 array
    freq-update-empty-ids  returns: advances the step only
    freq-extreme-ids  returns: any int64 id hashes
    freq-pickle  returns: pickles with its state
    ragged-splits-length  raises ValueError: /^label_row_splits must have batch_size \+ 1 = 4 entries/
    ragged-splits-start  raises ValueError: /^label_row_splits must start at 0, got 1$/
    ragged-splits-decreasing  raises ValueError: /^label_row_splits must be non-decreasing:
        label_row_splits\[2\] = 2 < label_row_splits\[1\] = 3$/
    ragged-splits-end  raises ValueError: /^label_row_splits must end at len\(labels\) = 4, got 5$/
    ragged-empty-row  raises ValueError: /^example 1 has no true labels \(label_row_splits\[1\] ==
        label_row_splits\[2\] == 1\); every example needs at least one$/
    ragged-empty-row-nce  raises ValueError: /^example 1 has no true labels/
    ragged-splits-float  raises TypeError: /^label_row_splits must hold integers, got dtype float64$/
    ragged-splits-2d  raises ValueError: /^label_row_splits must have 1 dimension\(s\)/
    ragged-num_true-set  raises ValueError: /^num_true must be left unset with label_row_splits/
    ragged-labels-2d  raises ValueError: /^with label_row_splits, labels must be the flat 1-D array/
    ragged-label-out-of-range  raises IndexError: /^labels\[2\] = 12 is not in \[0, 12\)$/
    ragged-label-negative  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    ragged-tec-padded-shape  raises ValueError: /^true_expected_count must have shape \(4,\), got \(3,
        2\)$/
    ragged-upstream-shape  raises ValueError: /^upstream must have shape \(3,\), got \(4,\)$/
    ragged-default-sampler  returns: works (TF's log-uniform unique draw over the flat labels)
    ragged-readonly-inputs  returns: read-only arrays are only read
    per-example-sampled-out-of-range  raises IndexError: /^sampled_candidates\[3\] = 12 is not in \[0,
        12\)$/
    per-example-sampled-rows  raises ValueError: /^sampled_candidates must have shape \(3, 2\), got \(2,
        2\)$/
    per-example-sec-shared-shape  raises ValueError: /^sampled_expected_count must have shape \(3, 2\),
        got \(2,\)$/
    per-example-sampled-3d  raises ValueError: /^sampled_candidates must have 1 dimension\(s\), got
        shape \(3, 2, 1\)$/
    per-example-negatives-bad  raises ValueError: /^negatives must be 'shared' or 'per_example', got
        'batch'$/
    per-example-negatives-1d-sampled  raises ValueError: /^negatives='per_example' needs a 2-D
        sampled_candidates/
    per-example-logits-upstream-shape  raises ValueError: /^upstream must have shape \(3, 3\), got
        \(3,\)$/
    per-example-default-num_classes-0  raises ValueError: /^Value for attr 'num_classes' of 0 must be at
        least minimum 1$/
    per-example-default-draws  returns: works (sample_bulk draws, expected counts S * p(c))
    per-example-logits-shape  returns: logits [batch, num_true + S]
    SampledLoss-negatives-bad  raises ValueError: /^negatives must be 'shared' or 'per_example', got
        'x'$/
    step-ragged-empty-row  raises ValueError: /^example 1 has no true labels/
    step-ragged-label-out-of-range  raises IndexError: /^labels\[2\] = 99 is not in \[0, 12\)$/
    step-ragged-inputs-float64  raises TypeError: /^step\(\) updates in place: weights and biases must
        be float64/
    step-ragged-per-example  returns: loss [batch], weights updated in place
RESULTS-TABLE-END
"""
from __future__ import annotations

import pickle

import numpy as np

import pysampled as ps
from sweep.builders import C, finite_shape, readonly
from sweep.harness import raises, returns

# ============================================================== in-batch softmax

_B, _D = 4, 3


def ib(**over):
    """in_batch_softmax_loss on a fresh [4, 3] float32 problem with `over` applied."""
    def run():
        rng = np.random.default_rng(5)
        kw = {"query": rng.standard_normal((_B, _D)).astype(np.float32),
              "candidates": rng.standard_normal((_B, _D)).astype(np.float32)}
        for k, v in over.items():
            kw[k] = v(kw) if callable(v) else v
        return ps.in_batch_softmax_loss(**kw)
    return run


raises("ib-query-int", ib(query=np.ones((_B, _D), np.int64)),
       TypeError, r"^query must be float32 or float64, got int64$")
raises("ib-query-float16", ib(query=np.ones((_B, _D), np.float16)),
       TypeError, r"^query must be float32 or float64, got float16$")
raises("ib-query-1d", ib(query=np.ones(_B, np.float32)),
       ValueError, r"^query must be 2-D, got shape \(4,\)$")
raises("ib-candidates-dtype", ib(candidates=np.ones((_B, _D))),
       TypeError, r"^candidates must have the query's dtype float32, got float64$")
raises("ib-candidates-rows", ib(candidates=np.ones((_B + 1, _D), np.float32)),
       ValueError, r"^candidates must have shape \(4, 3\), got \(5, 3\)$")
raises("ib-candidate_ids-length", ib(candidate_ids=[1, 2, 3]),
       ValueError, r"^candidate_ids must have shape \(4,\), got \(3,\)$")
raises("ib-candidate_ids-float", ib(candidate_ids=np.ones(_B)),
       TypeError, r"^candidate_ids must hold integers, got dtype float64$")
raises("ib-log_q-shape", ib(log_q=np.zeros((_B, 1))),
       ValueError, r"^log_q must have shape \(4,\), got \(4, 1\)$")
raises("ib-log_q-inf", ib(log_q=[0.0, -np.inf, 0.0, 0.0]),
       ValueError, r"^log_q\[1\] = -inf is not finite$")
raises("ib-log_q-nan", ib(log_q=[0.0, 0.0, np.nan, 0.0]),
       ValueError, r"^log_q\[2\] = nan is not finite$")
raises("ib-log_q-strings", ib(log_q=np.array(["a"] * _B)),
       TypeError, r"^log_q must hold numbers")
raises("ib-extra-columns", ib(extra_candidates=np.ones((2, _D + 1), np.float32)),
       ValueError, r"^extra_candidates must have 3 columns like the query, got shape \(2, 4\)$")
raises("ib-extra-dtype", ib(extra_candidates=np.ones((2, _D))),
       TypeError, r"^extra_candidates must have the query's dtype float32, got float64$")
raises("ib-extra_ids-without-extra", ib(extra_ids=[1]),
       ValueError, r"^extra_ids and extra_log_q need extra_candidates$")
raises("ib-extra_ids-without-candidate_ids",
       ib(extra_candidates=np.ones((2, _D), np.float32), extra_ids=[1, 2]),
       ValueError, r"^extra_ids need candidate_ids")
raises("ib-extra_ids-length",
       ib(extra_candidates=np.ones((2, _D), np.float32), candidate_ids=[0, 1, 2, 3],
          extra_ids=[1]), ValueError, r"^extra_ids must have shape \(2,\), got \(1,\)$")
raises("ib-extra_log_q-length", ib(extra_candidates=np.ones((2, _D), np.float32),
                                   extra_log_q=[0.0]),
       ValueError, r"^extra_log_q must have shape \(2,\), got \(1,\)$")
raises("ib-temperature-0", ib(temperature=0.0),
       ValueError, r"^temperature must be a positive finite number, got 0.0$")
raises("ib-temperature-inf", ib(temperature=np.inf),
       ValueError, r"^temperature must be a positive finite number, got inf$")
raises("ib-temperature-tiny-float32", ib(temperature=1e-60),
       ValueError, r"^temperature 1e-60 is not a positive finite float32$")
raises("ib-temperature-str", ib(temperature="1"),
       TypeError, r"^temperature must be a number, got str$")
raises("ib-upstream-shape", ib(upstream=np.ones(_B + 1)),
       ValueError, r"^upstream must have shape \(4,\), got \(5,\)$")
raises("ib-num_threads-0", ib(num_threads=0), ValueError, r"num_threads")
returns("ib-empty-batch", ib(query=np.zeros((0, _D), np.float32),
                             candidates=np.zeros((0, _D), np.float32)),
        finite_shape((0,)), "empty loss")
returns("ib-dim-0", ib(query=np.zeros((_B, 0), np.float32),
                       candidates=np.zeros((_B, 0), np.float32)),
        lambda r: np.testing.assert_allclose(r, np.log(_B), rtol=1e-6),
        "all logits 0: loss log(B)")
returns("ib-readonly-strided-fortran", ib(query=lambda kw: readonly(kw["query"][:, ::-1]),
                                          candidates=lambda kw: np.asfortranarray(kw["candidates"])),
        finite_shape((_B,)), "works (non-unit inner strides copied, others read in place)")
returns("ib-nan-query-row", ib(query=lambda kw: np.where(np.arange(_B)[:, None] == 1, np.nan,
                                                         kw["query"]).astype(np.float32)),
        lambda r: np.testing.assert_array_equal(np.isnan(r), [False, True, False, False]),
        "NaN stays in its own example: loss[1] NaN, the others finite")
returns("ib-all-ids-equal", ib(candidate_ids=[7, 7, 7, 7]),
        lambda r: np.testing.assert_allclose(r, 0.0, atol=1e-6),
        "every other column masked: loss 0")

# ============================================================== FrequencyEstimator

raises("freq-num_buckets-0", lambda: ps.FrequencyEstimator(0),
       ValueError, r"^num_buckets must be in \[1, 2\*\*40\], got 0$")
raises("freq-num_buckets-huge", lambda: ps.FrequencyEstimator(2**41),
       ValueError, r"^num_buckets must be in \[1, 2\*\*40\]")
raises("freq-num_buckets-float", lambda: ps.FrequencyEstimator(10.0),
       TypeError, r"^num_buckets must be an integer, got float$")
raises("freq-num_hashes-0", lambda: ps.FrequencyEstimator(10, 0),
       ValueError, r"^num_hashes must be in \[1, 64\], got 0$")
raises("freq-alpha-0", lambda: ps.FrequencyEstimator(10, alpha=0.0),
       ValueError, r"^alpha must be in \(0, 1\], got 0.0$")
raises("freq-alpha-nan", lambda: ps.FrequencyEstimator(10, alpha=float("nan")),
       ValueError, r"^alpha must be in \(0, 1\], got nan$")
raises("freq-alpha-str", lambda: ps.FrequencyEstimator(10, alpha="0.1"),
       TypeError, r"^alpha must be a number, got str$")
raises("freq-seed-float", lambda: ps.FrequencyEstimator(10, seed=1.5),
       TypeError, r"^seed must be an integer, got float$")


def _est_then(fn):
    def run():
        est = ps.FrequencyEstimator(64)
        est.update([1, 2, 3], 5)
        return fn(est)
    return run


raises("freq-update-step-backwards", _est_then(lambda e: e.update([1], 4)),
       ValueError, r"^step 4 is before the last step seen \(5\)$")
raises("freq-update-step-negative", _est_then(lambda e: e.update([1], -1)),
       ValueError, r"^step must be non-negative, got -1$")
raises("freq-update-step-huge", _est_then(lambda e: e.update([1], 2**62)),
       ValueError, r"^step 4611686018427387904 is too large$")
raises("freq-update-step-float", _est_then(lambda e: e.update([1], 6.0)),
       TypeError, r"^step must be an integer, got float$")
raises("freq-update-ids-float", _est_then(lambda e: e.update([1.5])),
       TypeError, r"^ids must hold integers, got dtype float64$")
raises("freq-update-ids-uint64-huge", _est_then(lambda e: e.update(np.array([2**64 - 1],
                                                                            np.uint64))),
       ValueError, r"^ids holds values beyond the int64 range$")
raises("freq-log_q-ids-object", _est_then(lambda e: e.log_q(np.array([object()]))),
       TypeError, r"^ids must hold integers, got dtype object$")
raises("freq-bucket-hash-index", _est_then(lambda e: e.bucket(1, 1)),
       ValueError, r"^hash_index must be in \[0, 1\)$")
raises("freq-state-missing", lambda: ps.FrequencyEstimator.from_state_dict({"num_buckets": 4}),
       ValueError, r"^not a FrequencyEstimator state: missing 'num_hashes'$")


def _bad_state(**over):
    def run():
        st = ps.FrequencyEstimator(8).state_dict()
        st.update(over)
        return ps.FrequencyEstimator.from_state_dict(st)
    return run


raises("freq-state-wrong-size", _bad_state(acc=np.zeros(7)),
       ValueError, r"^FrequencyEstimator state: acc must be float64 of shape \(8,\)")
raises("freq-state-negative-acc", _bad_state(acc=np.full(8, -1.0)),
       ValueError, r"^FrequencyEstimator state: tables hold impossible values$")
raises("freq-state-steps", _bad_state(first_step=3, last_step=1),
       ValueError, r"^FrequencyEstimator state: inconsistent first/last step$")
returns("freq-log_q-empty-ids", _est_then(lambda e: e.log_q([])), finite_shape((0,)),
        "empty float64 array")
returns("freq-update-empty-ids", _est_then(lambda e: (e.update([], 6), e.log_q([1]))[1]),
        finite_shape((1,)), "advances the step only")
returns("freq-extreme-ids", _est_then(lambda e: (e.update([-2**63, 2**63 - 1], 6),
                                                 e.log_q([-2**63, 2**63 - 1]))[1]),
        finite_shape((2,)), "any int64 id hashes")
returns("freq-pickle", _est_then(lambda e: pickle.loads(pickle.dumps(e)).log_q([1, 2])),
        finite_shape((2,)), "pickles with its state")

# ============================================================== ragged labels

_RB, _RS = 3, 2
_DROP = object()  # an override that removes the argument


def ragged(fn=ps.sampled_softmax_loss, **over):
    """A 3-example ragged problem (labels [0], [1, 2], [3]) over C = 12 classes."""
    def run():
        rng = np.random.default_rng(7)
        kw = {"weights": rng.standard_normal((C, 3)).astype(np.float32),
              "biases": np.zeros(C, np.float32), "labels": np.array([0, 1, 2, 3]),
              "inputs": rng.standard_normal((_RB, 3)).astype(np.float32),
              "num_sampled": _RS, "num_classes": C,
              "sampled_values": (np.array([5, 6]), np.full(4, 0.5), np.full(2, 0.5)),
              "label_row_splits": np.array([0, 1, 3, 4])}
        for k, v in over.items():
            kw[k] = v(kw) if callable(v) else v
        return fn(**{k: v for k, v in kw.items() if v is not _DROP})
    return run


raises("ragged-splits-length", ragged(label_row_splits=[0, 1, 4]),
       ValueError, r"^label_row_splits must have batch_size \+ 1 = 4 entries")
raises("ragged-splits-start", ragged(label_row_splits=[1, 1, 3, 4]),
       ValueError, r"^label_row_splits must start at 0, got 1$")
raises("ragged-splits-decreasing", ragged(label_row_splits=[0, 3, 2, 4]),
       ValueError, r"^label_row_splits must be non-decreasing: label_row_splits\[2\] = 2 < "
                   r"label_row_splits\[1\] = 3$")
raises("ragged-splits-end", ragged(label_row_splits=[0, 1, 3, 5]),
       ValueError, r"^label_row_splits must end at len\(labels\) = 4, got 5$")
raises("ragged-empty-row", ragged(label_row_splits=[0, 1, 1, 4]),
       ValueError, r"^example 1 has no true labels \(label_row_splits\[1\] == "
                   r"label_row_splits\[2\] == 1\); every example needs at least one$")
raises("ragged-empty-row-nce", ragged(ps.nce_loss, label_row_splits=[0, 4, 4, 4]),
       ValueError, r"^example 1 has no true labels")
raises("ragged-splits-float", ragged(label_row_splits=np.array([0.0, 1.0, 3.0, 4.0])),
       TypeError, r"^label_row_splits must hold integers, got dtype float64$")
raises("ragged-splits-2d", ragged(label_row_splits=np.array([[0, 1, 3, 4]])),
       ValueError, r"^label_row_splits must have 1 dimension\(s\)")
raises("ragged-num_true-set", ragged(num_true=2),
       ValueError, r"^num_true must be left unset with label_row_splits")
raises("ragged-labels-2d", ragged(labels=np.array([[0], [1], [2], [3]])),
       ValueError, r"^with label_row_splits, labels must be the flat 1-D array")
raises("ragged-label-out-of-range", ragged(labels=np.array([0, 1, 12, 3])),
       IndexError, r"^labels\[2\] = 12 is not in \[0, 12\)$")
raises("ragged-label-negative", ragged(labels=np.array([0, -1, 2, 3])),
       IndexError, r"^labels\[1\] = -1 is not in \[0, 12\)$")
raises("ragged-tec-padded-shape", ragged(sampled_values=(np.array([5, 6]), np.full((3, 2), 0.5),
                                                         np.full(2, 0.5))),
       ValueError, r"^true_expected_count must have shape \(4,\), got \(3, 2\)$")
raises("ragged-upstream-shape", ragged(upstream=np.ones(4)),
       ValueError, r"^upstream must have shape \(3,\), got \(4,\)$")
returns("ragged-default-sampler", ragged(sampled_values=None, seed=1),
        finite_shape((_RB,)), "works (TF's log-uniform unique draw over the flat labels)")
returns("ragged-readonly-inputs", ragged(inputs=lambda kw: readonly(kw["inputs"]),
                                         weights=lambda kw: readonly(kw["weights"])),
        finite_shape((_RB,)), "read-only arrays are only read")

# ============================================================== per-example negatives


def per_ex(fn=ps.sampled_softmax_loss, **over):
    """The same problem with one label per example and per-example candidates."""
    over.setdefault("label_row_splits", _DROP)
    over.setdefault("labels", np.array([0, 1, 2]))
    over.setdefault("sampled_values", (np.array([[5, 6], [7, 8], [9, 10]]), np.full((3, 1), 0.5),
                                       np.full((3, 2), 0.5)))
    return ragged(fn, **over)


raises("per-example-sampled-out-of-range",
       per_ex(sampled_values=(np.array([[5, 6], [7, 12], [9, 10]]), np.full((3, 1), 0.5),
                              np.full((3, 2), 0.5))),
       IndexError, r"^sampled_candidates\[3\] = 12 is not in \[0, 12\)$")
raises("per-example-sampled-rows",
       per_ex(sampled_values=(np.array([[5, 6], [7, 8]]), np.full((3, 1), 0.5),
                              np.full((2, 2), 0.5))),
       ValueError, r"^sampled_candidates must have shape \(3, 2\), got \(2, 2\)$")
raises("per-example-sec-shared-shape",
       per_ex(sampled_values=(np.array([[5, 6], [7, 8], [9, 10]]), np.full((3, 1), 0.5),
                              np.full(2, 0.5))),
       ValueError, r"^sampled_expected_count must have shape \(3, 2\), got \(2,\)$")
raises("per-example-sampled-3d",
       per_ex(sampled_values=(np.zeros((3, 2, 1), np.int64), np.full((3, 1), 0.5),
                              np.full((3, 2, 1), 0.5))),
       ValueError, r"^sampled_candidates must have 1 dimension\(s\), got shape \(3, 2, 1\)$")
raises("per-example-negatives-bad", per_ex(negatives="batch"),
       ValueError, r"^negatives must be 'shared' or 'per_example', got 'batch'$")
raises("per-example-negatives-1d-sampled",
       per_ex(negatives="per_example",
              sampled_values=(np.array([5, 6]), np.full((3, 1), 0.5), np.full(2, 0.5))),
       ValueError, r"^negatives='per_example' needs a 2-D sampled_candidates")
raises("per-example-logits-upstream-shape",
       per_ex(ps.compute_sampled_logits, upstream=np.ones(3), return_grads=True),
       ValueError, r"^upstream must have shape \(3, 3\), got \(3,\)$")
raises("per-example-default-num_classes-0", per_ex(sampled_values=None, negatives="per_example",
                                                   num_classes=0),
       ValueError, r"^Value for attr 'num_classes' of 0 must be at least minimum 1$")
returns("per-example-default-draws", per_ex(sampled_values=None, negatives="per_example", seed=3),
        finite_shape((_RB,)), "works (sample_bulk draws, expected counts S * p(c))")
returns("per-example-logits-shape", per_ex(ps.compute_sampled_logits),
        lambda r: finite_shape((_RB, 3))(r[0]), "logits [batch, num_true + S]")
raises("SampledLoss-negatives-bad", lambda: ps.SampledLoss(np.zeros((4, 2), np.float32),
                                                           num_sampled=1, negatives="x"),
       ValueError, r"^negatives must be 'shared' or 'per_example', got 'x'$")


def _step_unchanged(**over):
    """SampledLoss.step on the row-wise path; a failure must leave the weights untouched."""
    def run():
        rng = np.random.default_rng(2)
        W = rng.standard_normal((C, 3)).astype(np.float32)
        b = np.zeros(C, np.float32)
        before = (W.copy(), b.copy())
        m = ps.SampledLoss(W, b, num_sampled=2, seed=1, negatives="per_example")
        kw = {"labels": np.array([0, 1, 2, 3]), "inputs": np.ones((3, 3), np.float32),
              "label_row_splits": np.array([0, 1, 3, 4])}
        kw.update(over)
        try:
            return m.step(**kw)
        except BaseException:
            np.testing.assert_array_equal(W, before[0])
            np.testing.assert_array_equal(b, before[1])
            raise
    return run


raises("step-ragged-empty-row", _step_unchanged(label_row_splits=np.array([0, 2, 2, 4])),
       ValueError, r"^example 1 has no true labels")
raises("step-ragged-label-out-of-range", _step_unchanged(labels=np.array([0, 1, 99, 3])),
       IndexError, r"^labels\[2\] = 99 is not in \[0, 12\)$")
raises("step-ragged-inputs-float64", _step_unchanged(inputs=np.ones((3, 3))),
       TypeError, r"^step\(\) updates in place: weights and biases must be float64")
returns("step-ragged-per-example", _step_unchanged(),
        lambda r: finite_shape((_RB,))(r.loss), "loss [batch], weights updated in place")
