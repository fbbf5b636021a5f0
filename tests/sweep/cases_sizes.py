r"""Bad-input sweep, area: Sizes and attributes (zero, negative, beyond 64
bits), sampler true classes and ids, fixed-unigram sources.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    size-num_true-0-function  raises ValueError: /^Value for attr 'num_true' of 0 must be at least
        minimum 1$/
    size-num_sampled--1-function  raises ValueError: /^Value for attr 'num_sampled' of -1 must be at
        least minimum 1$/
    size-range_max--5-function  raises ValueError: /^Value for attr 'range_max' of -5 must be at least
        minimum 1$/
    size-range_max-0-UniformSampler  raises ValueError: /^Value for attr 'range_max' of 0 must be at
        least minimum 1$/
    size-range_max-0-LogUniformSampler  raises ValueError: /^Value for attr 'range_max' of 0 must be at
        least minimum 1$/
    size-range_max-0-LearnedUnigramSampler  raises ValueError: /^Value for attr 'range_max' of 0 must be
        at least minimum 1$/
    size-num_sampled-0-sample-method  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    size-num_true-0-loss  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum
        1$/
    size-num_sampled-negative-explicit  returns: num_sampled unused with explicit sampled values (TF)
    size-num_sampled-negative-explicit-rah  raises ValueError: /^Value for attr 'num_sampled' of -1 must
        be at least minimum 0$/
    size-range_max-float  raises TypeError: /^range_max must be an integer, got float$/
    size-num_sampled-bool  raises TypeError: /^num_sampled must be an integer, got bool$/
    size-range_max-beyond-int64  raises ValueError: /^Value for attr 'range_max' of 9223372036854775808
        does not fit in 64 bits$/
    size-num_threads-0  raises ValueError: /^num_threads must be a positive integer, -1 \(all cores\) or
        None$/
    size-num_threads-beyond-int  raises ValueError: /^num_threads=1099511627776 is more than pysampled
        will start \(1024\); use -1 for all cores$/
    size-num_threads-more-than-work  returns: same bits as one thread (threads capped by the work)
    size-bulk-negative  raises ValueError: /^size must be non-negative, got \(2, -1\)$/
    size-bulk-beyond-memory  raises ValueError: /array is too big/
    size-bulk-beyond-address-space  raises MemoryError: /Unable to allocate/
    size-bulk-zero  returns: empty array
    size-nonunique-S-beyond-memory  raises MemoryError: /Unable to allocate/
    size-nonunique-S>R  returns: 10 draws with replacement from 3 classes
    size-range_max-2**62-log-uniform  returns: draws in [0, 2**62); expected count of class 2**62-1 is 0
        (TF's formula cancels)
    size-learned-class-range-beyond-memory  raises MemoryError: //
    size-all-candidate-S-0  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at least
        minimum 1$/
    all-candidate-true-out-of-range  raises IndexError: /^`true_candidate` out of range \[0, 3\),
        received 3$/
    sampler-true-class-10-uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-uniform  raises IndexError: /^`true_candidate` out of range \[0,
        10\), received 1099511627776$/
    sampler-true-classes-float64-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        float64$/
    sampler-true-classes-float16-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        float16$/
    sampler-true-classes-bool-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        bool$/
    sampler-true-classes-complex128-uniform  raises TypeError: /^true_classes must hold integers, got
        dtype complex128$/
    sampler-true-classes-object-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        object$/
    sampler-true-classes-layouts-uniform  returns: int32/uint16, Fortran, read-only, strided, list: same
        draws as int64 C order
    sampler-true-class-10-log_uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-log_uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-log_uniform  raises IndexError: /^`true_candidate` out of range
        \[0, 10\), received 1099511627776$/
    sampler-true-classes-float64-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype float64$/
    sampler-true-classes-float16-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype float16$/
    sampler-true-classes-bool-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype bool$/
    sampler-true-classes-complex128-log_uniform  raises TypeError: /^true_classes must hold integers,
        got dtype complex128$/
    sampler-true-classes-object-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype object$/
    sampler-true-classes-layouts-log_uniform  returns: int32/uint16, Fortran, read-only, strided, list:
        same draws as int64 C order
    sampler-true-class-10-learned_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-learned_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-learned_unigram  raises IndexError: /^`true_candidate` out of range
        \[0, 10\), received 1099511627776$/
    sampler-true-classes-float64-learned_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype float64$/
    sampler-true-classes-float16-learned_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype float16$/
    sampler-true-classes-bool-learned_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype bool$/
    sampler-true-classes-complex128-learned_unigram  raises TypeError: /^true_classes must hold
        integers, got dtype complex128$/
    sampler-true-classes-object-learned_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype object$/
    sampler-true-classes-layouts-learned_unigram  returns: int32/uint16, Fortran, read-only, strided,
        list: same draws as int64 C order
    sampler-true-class-10-fixed_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-fixed_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-fixed_unigram  raises IndexError: /^`true_candidate` out of range
        \[0, 10\), received 1099511627776$/
    sampler-true-classes-float64-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype float64$/
    sampler-true-classes-float16-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype float16$/
    sampler-true-classes-bool-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype bool$/
    sampler-true-classes-complex128-fixed_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype complex128$/
    sampler-true-classes-object-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype object$/
    sampler-true-classes-layouts-fixed_unigram  returns: int32/uint16, Fortran, read-only, strided,
        list: same draws as int64 C order
    sampler-true-classes-uint64-beyond-int64  raises ValueError: /^true_classes holds values beyond the
        int64 range$/
    sampler-true-classes-num_true-arg-mismatch  raises ValueError: /^true_classes must have num_true
        columns, expected: 1 was: 2$/
    sampler-true-class-2**40-function  raises IndexError: /^`true_candidate` out of range \[0, 5\),
        received 1099511627776$/
    sampler-seed-float  raises TypeError: /^seed must be an integer, got float$/
    sampler-seed-triple  raises ValueError: /^seed must be None, an int, or a pair \(global_seed,
        op_seed\)$/
    bulk-out-readonly  raises TypeError: /^out must be a writable, aligned, C-contiguous int64 numpy
        array$/
    bulk-out-int32  raises TypeError: /^out must be a writable, aligned, C-contiguous int64 numpy
        array$/
    bulk-out-strided  raises TypeError: /^out must be a writable, aligned, C-contiguous int64 numpy
        array$/
    set_state-bad-generator  raises ValueError: /^generator state must be six 32-bit words$/
    set_state-counts-negative  raises ValueError: /^counts must be non-negative$/
    set_state-counts-all-zero  raises ValueError: /^counts sum to zero$/
    set_state-counts-float  raises TypeError: /^counts must hold integers, got dtype float64$/
    set_state-counts-overflow  raises ValueError: /^counts overflow int64$/
    fixed-unigram-weights-nan  raises ValueError: /^unigram weights (must be finite and non-negative|sum
        to zero: nothing can be sampled)$/
    fixed-unigram-weights-inf  raises ValueError: /^unigram weights (must be finite and non-negative|sum
        to zero: nothing can be sampled)$/
    fixed-unigram-weights-negative  raises ValueError: /^unigram weights (must be finite and
        non-negative|sum to zero: nothing can be sampled)$/
    fixed-unigram-weights-all-zero  raises ValueError: /^unigram weights (must be finite and
        non-negative|sum to zero: nothing can be sampled)$/
    fixed-unigram-total-overflows  raises ValueError: /^unigram weights sum to more than the largest
        float32 \(3\.4e38\): every probability would be 0; scale the counts down$/
    fixed-unigram-dtype-complex128  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-dtype-object  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-dtype-bool  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-2d  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-fn-scalar  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-fn-dtype-bool  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-distortion-nan  raises ValueError: /^unigram weights must be finite and non-negative$/
    fixed-unigram-distortion-nan-on-ones  returns: weights [1, 1, 1]
    fixed-unigram-reserved-negative  raises ValueError: /^num_reserved_ids must be >= 0$/
    fixed-unigram-shard-out-of-range  raises ValueError: /^shard must be in \[0, num_shards\)$/
    fixed-unigram-num_shards-0  raises ValueError: /^Value for attr 'num_shards' of 0 must be at least
        minimum 1$/
    fixed-unigram-reserved-2**40  raises ValueError: /^range is 3 must be equal to weights size
        1099511627779$/
    fixed-unigram-reserved-2**40-shards-2**40  raises ValueError: /^range is 3 must be equal to weights
        size  2$/
    fixed-unigram-reserved-2**40-shards-2**20  raises ValueError: /^range is 3 must be equal to weights
        size  1048577$/
    fixed-unigram-reserved-2**40-shards-2**20-right-size-correct-False  returns: built quickly: 2**20
        reserved zeros then one unigram, always drawn
    fixed-unigram-reserved-2**40-shards-2**20-right-size-correct-True  returns: built quickly: 2**20
        reserved zeros then one unigram, always drawn
    fixed-unigram-range-beyond-alias-table  raises ValueError: /at most 2\^31-1 entries/
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

import pysampled as ps
from sweep.builders import (
    call_loss, same_as_clean, readonly, strided,
)
from sweep.harness import raises, returns


# ======================================================= sizes and attributes
for _attr, _val in (("num_true", 0), ("num_sampled", -1), ("range_max", -5)):
    _args = {"num_true": 1, "num_sampled": 2, "range_max": 10}
    _args[_attr] = _val
    raises(f"size-{_attr}-{_val}-function",
           lambda a=dict(_args): ps.uniform_candidate_sampler(
               np.zeros((1, max(a["num_true"], 1)), np.int64), a["num_true"], a["num_sampled"],
               True, a["range_max"], seed=1),
           ValueError, rf"^Value for attr '{_attr}' of {_val} must be at least minimum 1$")
for _cls in ("UniformSampler", "LogUniformSampler", "LearnedUnigramSampler"):
    raises(f"size-range_max-0-{_cls}", lambda c=_cls: getattr(ps, c)(0),
           ValueError, r"^Value for attr 'range_max' of 0 must be at least minimum 1$")
raises("size-num_sampled-0-sample-method", lambda: ps.UniformSampler(5, seed=1).sample([[0]], 0),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("size-num_true-0-loss", call_loss("nce", num_true=0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")
# With explicit sampled values num_sampled is not used (TF), except with
# remove_accidental_hits, where it must be a count and match them.
returns("size-num_sampled-negative-explicit", call_loss("nce", num_sampled=-1),
        same_as_clean("nce"), "num_sampled unused with explicit sampled values (TF)")
raises("size-num_sampled-negative-explicit-rah", call_loss("ssm", num_sampled=-1),
       ValueError, r"^Value for attr 'num_sampled' of -1 must be at least minimum 0$")
raises("size-range_max-float", lambda: ps.uniform_candidate_sampler([[0]], 1, 1, True, 10.0),
       TypeError, r"^range_max must be an integer, got float$")
raises("size-num_sampled-bool", lambda: ps.uniform_candidate_sampler([[0]], 1, True, True, 10),
       TypeError, r"^num_sampled must be an integer, got bool$")
raises("size-range_max-beyond-int64", lambda: ps.UniformSampler(2**63, seed=1),
       ValueError, r"^Value for attr 'range_max' of 9223372036854775808 does not fit in 64 bits$")
raises("size-num_threads-0", call_loss("nce", num_threads=0),
       ValueError, r"^num_threads must be a positive integer, -1 \(all cores\) or None$")
raises("size-num_threads-beyond-int", call_loss("nce", num_threads=2**40),
       ValueError,
       r"^num_threads=1099511627776 is more than pysampled will start \(1024\); use -1 for all cores$")
returns("size-num_threads-more-than-work", call_loss("ssm", num_threads=64),
        same_as_clean("ssm"), "same bits as one thread (threads capped by the work)")
raises("size-bulk-negative", lambda: ps.UniformSampler(5, seed=1).sample_bulk((2, -1)),
       ValueError, r"^size must be non-negative, got \(2, -1\)$")
raises("size-bulk-beyond-memory", lambda: ps.UniformSampler(5, seed=1).sample_bulk(2**62),
       ValueError, r"array is too big")
raises("size-bulk-beyond-address-space", lambda: ps.UniformSampler(5, seed=1).sample_bulk(2**40),
       MemoryError, r"Unable to allocate")
returns("size-bulk-zero", lambda: ps.UniformSampler(5, seed=1).sample_bulk(0),
        lambda r: r.shape == (0,) or (_ for _ in ()).throw(AssertionError(r.shape)), "empty array")
raises("size-nonunique-S-beyond-memory",
       lambda: ps.UniformSampler(10, seed=1).sample([[1]], 2**40, unique=False),
       MemoryError, r"Unable to allocate")
returns("size-nonunique-S>R", lambda: ps.UniformSampler(3, seed=1).sample([[1]], 10, unique=False),
        lambda r: (r[0].shape == (10,) and r[0].max() < 3) or (_ for _ in ()).throw(AssertionError(r)),
        "10 draws with replacement from 3 classes")
# TF's P(k) = (log(k + 2) - log(k + 1)) / log(R + 1) cancels to 0 in double
# for k beyond ~2**50, so such classes get expected count 0 (as in TF).
returns("size-range_max-2**62-log-uniform",
        lambda: ps.LogUniformSampler(2**62, seed=1).sample([[2**62 - 1]], 3),
        lambda r: (r[0].min() >= 0 and r[0].max() < 2**62 and r[1][0, 0] == 0
                   and np.all(r[2] >= 0)) or (_ for _ in ()).throw(AssertionError(r)),
        "draws in [0, 2**62); expected count of class 2**62-1 is 0 (TF's formula cancels)")
raises("size-learned-class-range-beyond-memory", lambda: ps.LearnedUnigramSampler(2**40, seed=1),
       MemoryError, r"", bad_alloc=True)
raises("size-all-candidate-S-0", lambda: ps.all_candidate_sampler([[0]], 1, 0, True),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("all-candidate-true-out-of-range", lambda: ps.all_candidate_sampler([[0], [3]], 1, 3, True),
       IndexError, r"^`true_candidate` out of range \[0, 3\), received 3$")

# ------------------------------------------------- sampler true classes / ids
for _kind, _make in (("uniform", lambda: ps.UniformSampler(10, seed=1)),
                     ("log_uniform", lambda: ps.LogUniformSampler(10, seed=1)),
                     ("learned_unigram", lambda: ps.LearnedUnigramSampler(10, seed=1)),
                     ("fixed_unigram", lambda: ps.FixedUnigramSampler(10, unigrams=np.arange(1, 11),
                                                                       seed=1))):
    for _v in (10, -1, 2**40):
        raises(f"sampler-true-class-{_v}-{_kind}", lambda m=_make, v=_v: m().sample([[0, v]], 2),
               IndexError, rf"^`true_candidate` out of range \[0, 10\), received {_v}$")
    for _dt in ("float64", "float16", "bool", "complex128", "object"):
        raises(f"sampler-true-classes-{_dt}-{_kind}",
               lambda m=_make, dt=_dt: m().sample(np.ones((2, 1), dtype=dt), 2),
               TypeError, rf"^true_classes must hold integers, got dtype {_dt}$")

    def _layouts(m=_make):
        ref_ = m().sample(np.array([[1, 2], [3, 4]]), 3)
        for tc in (np.array([[1, 2], [3, 4]], np.int32), np.asfortranarray([[1, 2], [3, 4]]),
                   readonly([[1, 2], [3, 4]]), strided(np.array([[1, 2], [3, 4]], np.uint16)),
                   [[1, 2], [3, 4]]):
            got = m().sample(tc, 3)
            for a, e in zip(got, ref_):
                np.testing.assert_array_equal(a, e)
        return ref_

    returns(f"sampler-true-classes-layouts-{_kind}", _layouts, lambda r: None,
            "int32/uint16, Fortran, read-only, strided, list: same draws as int64 C order")
raises("sampler-true-classes-uint64-beyond-int64",
       lambda: ps.uniform_candidate_sampler(np.array([[2**64 - 1]], np.uint64), 1, 1, True, 5, seed=1),
       ValueError, r"^true_classes holds values beyond the int64 range$")
raises("sampler-true-classes-num_true-arg-mismatch",
       lambda: ps.UniformSampler(5, seed=1).sample([[1, 2]], 1, num_true=1),
       ValueError, r"^true_classes must have num_true columns, expected: 1 was: 2$")
raises("sampler-true-class-2**40-function",
       lambda: ps.log_uniform_candidate_sampler([[2**40]], 1, 1, True, 5, seed=1),
       IndexError, rf"^`true_candidate` out of range \[0, 5\), received {2**40}$")
raises("sampler-seed-float", lambda: ps.uniform_candidate_sampler([[0]], 1, 1, True, 5, seed=1.5),
       TypeError, r"^seed must be an integer, got float$")
raises("sampler-seed-triple", lambda: ps.uniform_candidate_sampler([[0]], 1, 1, True, 5,
                                                                   seed=(1, 2, 3)),
       ValueError, r"^seed must be None, an int, or a pair \(global_seed, op_seed\)$")
raises("bulk-out-readonly", lambda: ps.UniformSampler(5, seed=1).sample_bulk(
    None, out=readonly(np.zeros(4, np.int64))),
    TypeError, r"^out must be a writable, aligned, C-contiguous int64 numpy array$")
raises("bulk-out-int32", lambda: ps.UniformSampler(5, seed=1).sample_bulk(
    None, out=np.zeros(4, np.int32)),
    TypeError, r"^out must be a writable, aligned, C-contiguous int64 numpy array$")
raises("bulk-out-strided", lambda: ps.UniformSampler(5, seed=1).sample_bulk(
    None, out=np.zeros(8, np.int64)[::2]),
    TypeError, r"^out must be a writable, aligned, C-contiguous int64 numpy array$")
raises("set_state-bad-generator", lambda: ps.UniformSampler(5).set_state({"generator": (1, 2)}),
       ValueError, r"^generator state must be six 32-bit words$")
raises("set_state-counts-negative", lambda: ps.LearnedUnigramSampler(3).set_state(
    {"generator": (0,) * 6, "counts": [1, -1, 1]}), ValueError, r"^counts must be non-negative$")
raises("set_state-counts-all-zero", lambda: ps.LearnedUnigramSampler(3).set_state(
    {"generator": (0,) * 6, "counts": [0, 0, 0]}), ValueError, r"^counts sum to zero$")
raises("set_state-counts-float", lambda: ps.LearnedUnigramSampler(3).set_state(
    {"generator": (0,) * 6, "counts": [1.0, np.nan, 1.0]}),
    TypeError, r"^counts must hold integers, got dtype float64$")
raises("set_state-counts-overflow", lambda: ps.LearnedUnigramSampler(2).set_state(
    {"generator": (0,) * 6, "counts": [2**62, 2**62]}), ValueError, r"^counts overflow int64$")

# ------------------------------------------------------------- fixed unigram
for _tag, _u in (("nan", [1.0, np.nan, 2.0]), ("inf", [1.0, np.inf, 2.0]),
                 ("negative", [1.0, -1.0, 2.0]), ("all-zero", [0.0, 0.0, 0.0])):
    raises(f"fixed-unigram-weights-{_tag}", lambda u=_u: ps.FixedUnigramSampler(3, unigrams=u),
           ValueError, r"^unigram weights (must be finite and non-negative|sum to zero: "
           r"nothing can be sampled)$")
raises("fixed-unigram-total-overflows",  # each weight finite, the float32 total is not
       lambda: ps.FixedUnigramSampler(3, unigrams=np.full(3, 3e38, np.float32)),
       ValueError, r"^unigram weights sum to more than the largest float32 \(3\.4e38\): every "
       r"probability would be 0; scale the counts down$")
for _dt in ("complex128", "object", "bool"):
    raises(f"fixed-unigram-dtype-{_dt}",
           lambda dt=_dt: ps.FixedUnigramSampler(3, unigrams=np.ones(3, dtype=dt)),
           TypeError, r"^unigrams must be a 1-D sequence of numbers$")
raises("fixed-unigram-2d", lambda: ps.FixedUnigramSampler(3, unigrams=np.ones((3, 1))),
       TypeError, r"^unigrams must be a 1-D sequence of numbers$")
# the function takes the class's values (F21: it used to promote a scalar or bools)
raises("fixed-unigram-fn-scalar", lambda: ps.fixed_unigram_candidate_sampler(
    np.zeros((1, 1), np.int64), 1, 1, True, 1, unigrams=3.0),
    TypeError, r"^unigrams must be a 1-D sequence of numbers$")
raises("fixed-unigram-fn-dtype-bool", lambda: ps.fixed_unigram_candidate_sampler(
    np.zeros((1, 1), np.int64), 1, 1, True, 2, unigrams=[True, True]),
    TypeError, r"^unigrams must be a 1-D sequence of numbers$")
raises("fixed-unigram-distortion-nan", lambda: ps.FixedUnigramSampler(
    3, unigrams=[2.0, 3.0, 1.0], distortion=np.nan),
    ValueError, r"^unigram weights must be finite and non-negative$")
returns("fixed-unigram-distortion-nan-on-ones",  # pow(1, NaN) == 1 in C
        lambda: ps.FixedUnigramSampler(3, unigrams=[1.0, 1.0, 1.0], distortion=np.nan).weights,
        lambda w: np.testing.assert_array_equal(w, [1, 1, 1]), "weights [1, 1, 1]")
raises("fixed-unigram-reserved-negative",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=-1),
       ValueError, r"^num_reserved_ids must be >= 0$")
raises("fixed-unigram-shard-out-of-range",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_shards=2, shard=2),
       ValueError, r"^shard must be in \[0, num_shards\)$")
raises("fixed-unigram-num_shards-0", lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3],
                                                                    num_shards=0),
       ValueError, r"^Value for attr 'num_shards' of 0 must be at least minimum 1$")
# Huge reserved-id counts or shard counts must be refused by arithmetic, not
# by building (or looping over) a table of 2**40 entries first (this OOM-killed
# or hung before the fix).
raises("fixed-unigram-reserved-2**40",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=2**40),
       ValueError, rf"^range is 3 must be equal to weights size  {2**40 + 3}$")
raises("fixed-unigram-reserved-2**40-shards-2**40",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=2**40,
                                      num_shards=2**40, shard=1),
       ValueError, r"^range is 3 must be equal to weights size  2$")
raises("fixed-unigram-reserved-2**40-shards-2**20",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=2**40,
                                      num_shards=2**20, shard=0),
       ValueError, rf"^range is 3 must be equal to weights size  {2**20 + 1}$")
for _correct in (False, True):
    returns(f"fixed-unigram-reserved-2**40-shards-2**20-right-size-correct-{_correct}",
            lambda c=_correct: ps.FixedUnigramSampler(
                2**20 + 1, unigrams=[1, 2, 3], num_reserved_ids=2**40, num_shards=2**20, shard=0,
                correct_reserved_ids=c, seed=1).sample([[0]], 2, unique=False),
            lambda r: np.testing.assert_array_equal(r[0], [2**20, 2**20]),
            "built quickly: 2**20 reserved zeros then one unigram, always drawn")
raises("fixed-unigram-range-beyond-alias-table",
       lambda: ps.FixedUnigramSampler(2**40 + 3, unigrams=[1, 2, 3], num_reserved_ids=2**40),
       ValueError, r"at most 2\^31-1 entries")
