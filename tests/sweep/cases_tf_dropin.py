"""Bad-input sweep, area: TF drop-in (issue 9): expected-count broadcasts, float labels, unigram range limits, rank_sampled_softmax_loss, kernel routing of SparseRows.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    dropin-tec-shape-[]-NT3  returns: TF's broadcast over [B, 3]
    dropin-tec-shape-[1]-NT3  returns: TF's broadcast over [B, 3]
    dropin-tec-shape-[1, 3]-NT3  returns: TF's broadcast over [B, 3]
    dropin-tec-shape-[4, 1]-NT3  returns: TF's broadcast over [B, 3]
    dropin-tec-shape-[1, 1]-NT3  returns: TF's broadcast over [B, 3]
    dropin-tec-shape-[3]-NT3  returns: TF's broadcast over [B, 3]
    dropin-tec-shape-rank3  raises ValueError: /^true_expected_count must have shape \(4, 1\), got \(1,
        4, 1\)$/
    dropin-tec-shape-[NT+1]-NT3  raises ValueError: /^true_expected_count must have shape \(4, 3\), got
        \(4,\)$/
    dropin-tec-shape-[B]-B==NT  raises ValueError: /^true_expected_count must have shape \(4, 4\), got
        \(4,\)$/
    dropin-sec-shape-[]  returns: one count per candidate (TF's broadcast)
    dropin-sec-shape-[1]  returns: one count per candidate (TF's broadcast)
    dropin-sec-shape-[1, 4]  returns: one count per candidate (TF's broadcast)
    dropin-sec-shape-[1, 1]  returns: one count per candidate (TF's broadcast)
    dropin-sec-shape-per-example-[B,S]  raises ValueError: /^sampled_expected_count must have shape
        \(4,\), got \(4, 4\)$/
    dropin-labels-float-fraction  raises ValueError: /^labels must hold integer values: got .* \(TF
        would truncate a float label toward zero silently\)$/
    dropin-labels-float-nan  raises ValueError: /^labels must hold integer values: got .* \(TF would
        truncate a float label toward zero silently\)$/
    dropin-labels-float-inf  raises ValueError: /^labels must hold integer values: got .* \(TF would
        truncate a float label toward zero silently\)$/
    dropin-labels-float-2**63  raises ValueError: /^labels must hold integer values: got .* \(TF would
        truncate a float label toward zero silently\)$/
    dropin-labels-float-python-list  returns: integral floats cast to int64 as TF does
    dropin-labels-float-out-of-range  raises IndexError: /^labels\[3\] = 1000000000 is not in \[0,
        12\)$/
    dropin-learned-unigram-range-2**31-1  raises ValueError: /^range_max must be less than 2147483647
        for unigram samplers, got 2147483647$/
    dropin-fixed-unigram-range-2**31-1  raises ValueError: /^range_max must be less than 2147483647 for
        unigram samplers, got 2147483647$/
    dropin-fixed-class-table-beyond-memory  raises MemoryError: /^FixedUnigramSampler: a table of
        2147483647 entries needs at least 25769803764 bytes, more than this process can use/
    dropin-learned-class-table-beyond-memory  raises MemoryError: /^LearnedUnigramSampler: a table of
        1152921504606846977 entries needs/
    rank-explicit  returns: per-example loss
    rank-default-sampler-seeded  returns: learned-unigram draw, then resampling
    rank-empty-sampled-values-tuple-is-default  returns: TF's `if not sampled_values`
    rank-biases-none  returns: no bias
    rank-float64  returns: float64 loss
    rank-empty-batch  returns: empty result
    rank-num_sampled-above-num_classes  raises ValueError: /^num_sampled \(13\) cannot be greater than
        num_classes \(12\)$/
    rank-num_resampled-not-below-num_sampled  raises ValueError: /^num_resampled \(4\) must be less than
        num_sampled \(4\)$/
    rank-partition-none  raises ValueError: /^unsupported partition_strategy \(None\)$/
    rank-partition-unknown-one-shard  raises ValueError: /^unsupported partition_strategy \(foo\)$/
    rank-num_resampled-negative  raises ValueError: /^num_resampled must be at least 0, got -1$/
    rank-num_resampled-above-candidates  raises ValueError: /^num_resampled \(5\) is more than the 4
        sampled candidates$/
    rank-temperature-0.0  raises ValueError: /^resampling_temperature must be finite and nonzero, got /
    rank-temperature-nan  raises ValueError: /^resampling_temperature must be finite and nonzero, got /
    rank-temperature-inf  raises ValueError: /^resampling_temperature must be finite and nonzero, got /
    rank-sampled-out-of-range  raises IndexError: /^sampled_candidates\[3\] = 12 is not in \[0, 12\)$/
    rank-num_sampled-float  raises TypeError: /^num_sampled must be an integer, got float$/
    rank-inputs-int  raises TypeError: /^inputs must be float32 or float64, got int64$/
    rank-labels-columns  raises ValueError: /^labels must have shape \[batch_size, num_true=1\], got
        \(4, 2\)$/
    sparse-rows-per-shard-non-canonical  raises ValueError: /^shard sizes \[2, 4\] are not the 'div'
        layout of 6 rows/
    hits-all_duplicates-deprecated-alias  returns: DeprecationWarning; same as mask_all_duplicates=True
        (both positions)
RESULTS-TABLE-END
"""
from __future__ import annotations

import warnings

import numpy as np

import pysampled as ps
from sweep.builders import B, C, D, S, call_loss, finite_shape, problem, sv_replace
from sweep.harness import raises, returns


# ------------------------------------------------ expected counts (item 1)
for _shape in ((), (1,), (1, 3), (B, 1), (1, 1), (3,)):
    returns(f"dropin-tec-shape-{list(_shape)}-NT3",
            call_loss("ssm", NT=3, sampled_values=lambda p, sh=_shape: sv_replace(
                p, tec=np.full(sh, 0.5, np.float32))),
            finite_shape((B,), np.float32), "TF's broadcast over [B, 3]")
raises("dropin-tec-shape-rank3", call_loss("nce", sampled_values=lambda p: sv_replace(
    p, tec=np.ones((1, B, 1), np.float32))),
    ValueError, r"^true_expected_count must have shape \(4, 1\), got \(1, 4, 1\)$")
raises("dropin-tec-shape-[NT+1]-NT3", call_loss("nce", NT=3, sampled_values=lambda p: sv_replace(
    p, tec=np.ones(4, np.float32))),
    ValueError, r"^true_expected_count must have shape \(4, 3\), got \(4,\)$")
raises("dropin-tec-shape-[B]-B==NT", call_loss("nce", NT=4, sampled_values=lambda p: sv_replace(
    p, tec=np.ones(B, np.float32))),
    ValueError, r"^true_expected_count must have shape \(4, 4\), got \(4,\)$")
for _shape in ((), (1,), (1, S), (1, 1)):
    returns(f"dropin-sec-shape-{list(_shape)}",
            call_loss("nce", sampled_values=lambda p, sh=_shape: sv_replace(
                p, sec=np.full(sh, 0.125, np.float32))),
            finite_shape((B,), np.float32), "one count per candidate (TF's broadcast)")
raises("dropin-sec-shape-per-example-[B,S]", call_loss("nce", sampled_values=lambda p: sv_replace(
    p, sec=np.ones((B, S), np.float32))),
    ValueError, r"^sampled_expected_count must have shape \(4,\), got \(4, 4\)$")

# ------------------------------------------------------ labels (item 4)
for _tag, _v in (("fraction", 1.5), ("nan", np.nan), ("inf", np.inf), ("2**63", 2.0**63)):
    raises(f"dropin-labels-float-{_tag}",
           call_loss("ssm", labels=lambda p, v=_v: np.where(np.arange(B)[:, None] == 2, v,
                                                            p["labels"]).astype(np.float64)),
           ValueError, r"^labels must hold integer values: got .* \(TF would truncate a float "
           r"label toward zero silently\)$")
returns("dropin-labels-float-python-list",
        call_loss("nce", labels=[[0.0], [1.0], [2.0], [3.0]]),
        finite_shape((B,), np.float32), "integral floats cast to int64 as TF does")
raises("dropin-labels-float-out-of-range",
       call_loss("nce", labels=np.array([[0.0], [1.0], [2.0], [1e9]])),
       IndexError, r"^labels\[3\] = 1000000000 is not in \[0, 12\)$")

# --------------------------------------------- unigram range limits (item 3)
raises("dropin-learned-unigram-range-2**31-1",
       lambda: ps.learned_unigram_candidate_sampler([[0]], 1, 1, True, 2**31 - 1),
       ValueError, r"^range_max must be less than 2147483647 for unigram samplers, got 2147483647$")
raises("dropin-fixed-unigram-range-2**31-1",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 2**31 - 1, unigrams=[1.0]),
       ValueError, r"^range_max must be less than 2147483647 for unigram samplers, got 2147483647$")
raises("dropin-fixed-class-table-beyond-memory",
       lambda: ps.FixedUnigramSampler(2**31 - 1, unigrams=[1.0], num_reserved_ids=2**31 - 2),
       MemoryError, r"^FixedUnigramSampler: a table of 2147483647 entries needs at least "
       r"25769803764 bytes, more than this process can use")
raises("dropin-learned-class-table-beyond-memory",
       lambda: ps.LearnedUnigramSampler(2**60),
       MemoryError, r"^LearnedUnigramSampler: a table of 1152921504606846977 entries needs")


# ------------------------------------------- rank_sampled_softmax_loss (item 5)
def rank(**over):
    def run():
        p = problem()
        kw = dict(weights=p["weights"], biases=p["biases"], labels=p["labels"],
                  inputs=p["inputs"], num_sampled=S, num_resampled=2, num_classes=C,
                  num_true=1, sampled_values=p["sampled_values"], resampling_temperature=1.0,
                  remove_accidental_hits=True, partition_strategy="div")
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        return ps.rank_sampled_softmax_loss(**kw)
    return run


returns("rank-explicit", rank(), finite_shape((B,), np.float32), "per-example loss")
returns("rank-default-sampler-seeded", rank(sampled_values=None, seed=3),
        finite_shape((B,), np.float32), "learned-unigram draw, then resampling")
returns("rank-empty-sampled-values-tuple-is-default", rank(sampled_values=(), seed=3),
        finite_shape((B,), np.float32), "TF's `if not sampled_values`")
returns("rank-biases-none", rank(biases=None), finite_shape((B,), np.float32), "no bias")
returns("rank-float64", lambda: ps.rank_sampled_softmax_loss(
    *[problem(np.float64)[k] for k in ("weights", "biases", "labels", "inputs")], S, 2, C, 1,
    problem(np.float64)["sampled_values"], 0.5, True, "mod"),
    finite_shape((B,), np.float64), "float64 loss")
returns("rank-empty-batch", rank(labels=np.zeros((0, 1), np.int64), inputs=np.zeros((0, D),
                                                                                    np.float32),
                                 sampled_values=lambda p: sv_replace(p, tec=np.zeros((0, 1)))),
        finite_shape((0,), np.float32), "empty result")
raises("rank-num_sampled-above-num_classes", rank(num_sampled=C + 1),
       ValueError, r"^num_sampled \(13\) cannot be greater than num_classes \(12\)$")
raises("rank-num_resampled-not-below-num_sampled", rank(num_resampled=S),
       ValueError, r"^num_resampled \(4\) must be less than num_sampled \(4\)$")
raises("rank-partition-none", rank(partition_strategy=None),
       ValueError, r"^unsupported partition_strategy \(None\)$")
raises("rank-partition-unknown-one-shard", rank(partition_strategy="foo"),
       ValueError, r"^unsupported partition_strategy \(foo\)$")
raises("rank-num_resampled-negative", rank(num_resampled=-1),
       ValueError, r"^num_resampled must be at least 0, got -1$")
raises("rank-num_resampled-above-candidates", rank(num_sampled=8, num_resampled=5),
       ValueError, r"^num_resampled \(5\) is more than the 4 sampled candidates$")
for _t in (0.0, float("nan"), float("inf")):
    raises(f"rank-temperature-{_t}", rank(resampling_temperature=_t),
           ValueError, r"^resampling_temperature must be finite and nonzero, got ")
raises("rank-sampled-out-of-range", rank(sampled_values=lambda p: sv_replace(
    p, sampled=np.array([5, 7, 9, 12]))),
    IndexError, r"^sampled_candidates\[3\] = 12 is not in \[0, 12\)$")
raises("rank-num_sampled-float", rank(num_sampled=4.0),
       TypeError, r"^num_sampled must be an integer, got float$")
raises("rank-inputs-int", rank(inputs=lambda p: p["inputs"].astype(np.int64)),
       TypeError, r"^inputs must be float32 or float64, got int64$")
raises("rank-labels-columns", rank(labels=np.zeros((B, 2), np.int64)),
       ValueError, r"^labels must have shape \[batch_size, num_true=1\], got \(4, 2\)$")


# ------------------------------------------------ routing and deprecations
raises("sparse-rows-per-shard-non-canonical",
       lambda: ps.SparseRows(np.array([0, 5]), np.zeros((2, 1)), 6, [2, 4], div=True).per_shard(),
       ValueError, r"^shard sizes \[2, 4\] are not the 'div' layout of 6 rows")


def _deprecated_all_duplicates():
    import pysampled.samplers
    pysampled.samplers._warned_all_duplicates = False  # the warning comes once per process
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = ps.compute_accidental_hits([[5]], [5, 5], 1, all_duplicates=True)
    assert any(issubclass(x.category, DeprecationWarning) for x in w), w
    return out


returns("hits-all_duplicates-deprecated-alias", _deprecated_all_duplicates,
        lambda r: (len(r[0]) == 2) or (_ for _ in ()).throw(AssertionError(r)),
        "DeprecationWarning; same as mask_all_duplicates=True (both positions)")
