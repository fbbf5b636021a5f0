r"""Bad-input sweep, area: TF behaviours of SPEC section 11 (docs/SPEC.md), one or more cases per row.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    spec11-label-12-default-sampler-nce  raises IndexError: /^`true_candidate` out of range \[0, 12\),
        received 12$/
    spec11-label--1-default-sampler-nce  raises IndexError: /^`true_candidate` out of range \[0, 12\),
        received -1$/
    spec11-label-1099511627776-default-sampler-nce  raises IndexError: /^`true_candidate` out of range
        \[0, 12\), received 1099511627776$/
    spec11-label-out-of-range-explicit-nce  raises IndexError: /^labels\[2\] = 12 is not in \[0, 12\)$/
    ids-2**40-label-explicit-nce  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0, 12\)$/
    ids-negative-label-explicit-nce  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-out-of-range-explicit-ssm  raises IndexError: /^labels\[2\] = 12 is not in \[0, 12\)$/
    ids-2**40-label-explicit-ssm  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0, 12\)$/
    ids-negative-label-explicit-ssm  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-out-of-range-explicit-sparse  raises IndexError: /^labels\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-label-explicit-sparse  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-label-explicit-sparse  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-out-of-range-explicit-logits  raises IndexError: /^labels\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-label-explicit-logits  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-label-explicit-logits  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-beyond-num_classes-in-table  returns: finite loss [B] (num_classes only feeds the
        default sampler)
    spec11-unique-S>R-function  raises ValueError: /^Sampler's range is too small\.$/
    spec11-unique-S>R-default-sampler  raises ValueError: /^Sampler's range is too small\.$/
    spec11-unique-S>R-huge-S-no-allocation  raises ValueError: /^Sampler's range is too small\.$/
    spec11-unique-support<S-fixed-unigram  raises ValueError: /num_sampled \(3\) exceeds the number of
        values the sampler can draw \(2 with nonzero probability\)/
    spec11-unique-support<S-fixed-unigram-function  raises ValueError: /exceeds the number of values the
        sampler can draw/
    spec11-unique-support<S-learned-unigram  raises ValueError: /exceeds the number of values the
        sampler can draw/
    spec11-num_sampled-0-default-nce  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    spec11-num_sampled-0-default-ssm  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    spec11-num_sampled-0-default-logits  raises ValueError: /^Value for attr 'num_sampled' of 0 must be
        at least minimum 1$/
    spec11-num_sampled-0-default-sparse  raises ValueError: /^Value for attr 'num_sampled' of 0 must be
        at least minimum 1$/
    spec11-num_classes-0-default  raises ValueError: /^Value for attr 'num_classes' of 0 must be at
        least minimum 1$/
    spec11-range_max-0-function  raises ValueError: /^Value for attr 'range_max' of 0 must be at least
        minimum 1$/
    spec11-num_sampled-0-function  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    spec11-true_classes-rank1-function  raises ValueError: /^true_classes must be a matrix$/
    spec11-true_classes-rank3-function  raises ValueError: /^true_classes must be a matrix$/
    spec11-true_classes-rank0-function  raises ValueError: /^true_classes must be a matrix$/
    spec11-true_classes-columns-function  raises ValueError: /^true_classes must have num_true columns,
        expected: 2 was: 3$/
    spec11-labels-columns-default-sampler-nce  raises ValueError: /labels must have shape \[batch_size,
        num_true=2\], got \(4, 3\)/
    spec11-labels-1d-nce  returns: same result as labels [B, 1]
    spec11-labels-1d-ssm  returns: same result as labels [B, 1]
    spec11-labels-1d-sparse  returns: same result as labels [B, 1]
    spec11-labels-1d-logits  returns: same result as labels [B, 1]
    spec11-labels-1d-ssm-rah  returns: same result as labels [B, 1]
    spec11-len-sampled-gt-num_sampled-nce  returns: every candidate used (TF: num_sampled only sizes a
        draw)
    spec11-len-sampled-gt-num_sampled-nce-rah  raises ValueError: /^sampled_candidates has 4 entries but
        num_sampled=3, which must agree with remove_accidental_hits=True \(TF masks hits in a \[batch,
        num_sampled\] grid\)$/
    spec11-len-sampled-gt-num_sampled-ssm  returns: every candidate used (TF: num_sampled only sizes a
        draw)
    spec11-len-sampled-gt-num_sampled-ssm-rah  raises ValueError: /^sampled_candidates has 4 entries but
        num_sampled=3, which must agree with remove_accidental_hits=True \(TF masks hits in a \[batch,
        num_sampled\] grid\)$/
    spec11-len-sampled-gt-num_sampled-sparse  returns: every candidate used (TF: num_sampled only sizes
        a draw)
    spec11-len-sampled-gt-num_sampled-sparse-rah  raises ValueError: /^sampled_candidates has 4 entries
        but num_sampled=3, which must agree with remove_accidental_hits=True \(TF masks hits in a
        \[batch, num_sampled\] grid\)$/
    spec11-len-sampled-gt-num_sampled-logits  returns: every candidate used (TF: num_sampled only sizes
        a draw)
    spec11-len-sampled-gt-num_sampled-logits-rah  raises ValueError: /^sampled_candidates has 4 entries
        but num_sampled=3, which must agree with remove_accidental_hits=True \(TF masks hits in a
        \[batch, num_sampled\] grid\)$/
    spec11-len-sampled-lt-num_sampled-nce-rah-false  returns: every candidate used (TF: num_sampled only
        sizes a draw)
    spec11-tec-shape-[B]-nce  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-tec-shape-[B]-ssm  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-tec-shape-[B]-sparse  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-tec-shape-[B]-logits  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-sec-shape-[S,1]  raises ValueError: /^sampled_expected_count must have shape \(4,\), got \(4,
        1\)$/
    spec11-tec-shape-[B,1]-vs-NT2  returns: same as the count repeated over the true columns (TF's
        broadcast)
    spec11-labels-[B,1]-with-NT2-nce  raises ValueError: /labels must have shape \[batch_size,
        num_true=2\], got \(4, 1\)/
    spec11-labels-[1,2]-with-NT2-nce-no-silent-broadcast  raises ValueError: /labels have 1 rows but
        inputs have 4/
    labels-rows-mismatch-ssm  raises ValueError: /^labels have 5 rows but inputs have 4$/
    labels-3d-logits  raises ValueError: /labels must have shape \[batch_size, num_true=1\], got \(4, 1,
        1\)/
    labels-scalar-nce  raises ValueError: /labels must have shape \[batch_size, num_true=1\], got \(\)/
    labels-2-columns-sparse  raises ValueError: /^labels must have shape \[batch_size\] or \[batch_size,
        1\], got \(4, 2\)$/
    spec11-sampled-id-out-of-range-nce  raises IndexError: /^sampled_candidates\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-sampled-nce  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-sampled-nce  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    spec11-sampled-id-out-of-range-ssm  raises IndexError: /^sampled_candidates\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-sampled-ssm  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-sampled-ssm  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    spec11-sampled-id-out-of-range-sparse  raises IndexError: /^sampled_candidates\[2\] = 12 is not in
        \[0, 12\)$/
    ids-2**40-sampled-sparse  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in
        \[0, 12\)$/
    ids-negative-sampled-sparse  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    spec11-sampled-id-out-of-range-logits  raises IndexError: /^sampled_candidates\[2\] = 12 is not in
        \[0, 12\)$/
    ids-2**40-sampled-logits  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in
        \[0, 12\)$/
    ids-negative-sampled-logits  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    ids-2**63-1-label  raises IndexError: /^labels\[3\] = 9223372036854775807 is not in \[0, 12\)$/
    ids-uint64-beyond-int64-label  raises ValueError: /^labels holds values beyond the int64 range$/
    ids-2**40-default-sampler-num_classes-beyond-weights  raises IndexError: /^sampled_candidates\[\d\]
        = \d+ is not in \[0, 12\)$/
    spec11-dim-mismatch-nce  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-dim-mismatch-ssm  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-dim-mismatch-sparse  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-dim-mismatch-logits  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-bias-shorter-than-needed  raises IndexError: /^sampled_candidates \(biases\)\[2\] = 9 is not
        in \[0, 8\)$/
    bias-shorter-label  raises IndexError: /^labels \(biases\)\[2\] = 2 is not in \[0, 2\)$/
    spec11-div-fewer-rows-than-shards  raises ValueError: /partition_strategy='div' needs at least one
        row per shard: 1 rows over 3 shards \(TF fails with 'Integer division by zero'\)/
    spec11-unknown-strategy  raises ValueError: /^Unrecognized partition strategy: foo\.Must be one of
        either `mod` or `div`\.$/
    unknown-strategy-one-shard-ignored  returns: strategy ignored with one shard (as TF)
    spec11-fixed-unigram-size-mismatch  raises ValueError: /^range is 4 must be equal to weights size
        3$/
    spec11-fixed-unigram-neither-source  raises ValueError: /^Must provide either vocab_file or
        unigrams\.$/
    spec11-fixed-unigram-both-sources  raises ValueError: /^Must only provide one of vocab_file and
        unigrams\.$/
    spec11-vocab-line-unparsable  raises ValueError: /^Wrong vocabulary format at line: b,x2$/
    vocab-file-missing  raises FileNotFoundError: /vocab\.csv/
    spec11-learned-unigram-range-too-large  raises ValueError: /^Value of range_max:2147483648 is too
        large to handle \(range_max must be less than 2147483647 for unigram samplers\)$/
    spec11-hits-non-matrix-ndim1  raises ValueError: /^true_candidates must be a batch_size \* num_true
        matrix$/
    spec11-hits-non-matrix-ndim3  raises ValueError: /^true_candidates must be a batch_size \* num_true
        matrix$/
    hits-num_true-mismatch  raises ValueError: /^true_candidates must be a batch_size \* num_true
        matrix$/
    hits-sampled-2d  raises ValueError: /^sampled_candidates must have 1 dimension\(s\), got shape \(1,
        1\)$/
    hits-float-true  raises TypeError: /^true_classes must hold integers, got dtype float64$/
    hits-bool-sampled  raises TypeError: /^sampled_candidates must hold integers, got dtype bool$/
    hits-object-true  raises TypeError: /^true_classes must hold integers, got dtype object$/
    hits-num_true-0  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum 1$/
    hits-ids-2**40-no-range-check  returns: hit (row 0, position 1): ids are compared, never
        range-checked
    hits-negative-ids  returns: hit (row 0, position 0): negative ids compared like others
    hits-empty-batch  returns: no hits, typed empty arrays
    hits-empty-sampled  returns: no hits, typed empty arrays
    hits-int32-uint8-fortran-readonly  returns: same hits as int64 C-contiguous input
RESULTS-TABLE-END
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

import pysampled as ps
from sweep.builders import (
    B, C, D, S,
    FLT_MAX, sv_replace, LOSSES, call_loss, finite_shape, per_row, same_as_clean, readonly,
    strided,
)
from sweep.harness import raises, returns


def _same_as(reference_call):
    """Check: the per-example result equals, bit for bit, that of `reference_call`."""
    def check(result):
        np.testing.assert_array_equal(per_row(result), per_row(reference_call()))
    return check


# ============================================================ SPEC section 11
# (1) label out of range, default sampler
for _v in (C, -1, 2**40):
    raises(f"spec11-label-{_v}-default-sampler-nce",
           call_loss("nce", sampled_values=None, seed=1, labels=np.array([[0], [1], [_v], [2]])),
           IndexError, rf"^`true_candidate` out of range \[0, {C}\), received {_v}$")
# (2) same with explicit sampled values: gather error naming the flat position
for _name in LOSSES:
    raises(f"spec11-label-out-of-range-explicit-{_name}",
           call_loss(_name, labels=np.array([[0], [1], [C], [2]])),
           IndexError, rf"^labels\[2\] = {C} is not in \[0, {C}\)$")
    raises(f"ids-2**40-label-explicit-{_name}",
           call_loss(_name, labels=np.array([[0], [1], [2], [2**40]])),
           IndexError, rf"^labels\[3\] = {2**40} is not in \[0, {C}\)$")
    raises(f"ids-negative-label-explicit-{_name}",
           call_loss(_name, labels=np.array([[0], [-1], [2], [3]])),
           IndexError, rf"^labels\[1\] = -1 is not in \[0, {C}\)$")
# (3) num_classes < label < rows(W) with explicit sampled values: accepted
returns("spec11-label-beyond-num_classes-in-table",
        call_loss("nce", num_classes=3, labels=np.array([[0], [10], [2], [3]])),
        finite_shape((B,)), "finite loss [B] (num_classes only feeds the default sampler)")
# (4) unique and S > R
raises("spec11-unique-S>R-function",
       lambda: ps.uniform_candidate_sampler([[1]], 1, 11, True, 10, seed=1),
       ValueError, r"^Sampler's range is too small\.$")
raises("spec11-unique-S>R-default-sampler",
       call_loss("ssm", sampled_values=None, seed=1, num_sampled=C + 1),
       ValueError, r"^Sampler's range is too small\.$")
raises("spec11-unique-S>R-huge-S-no-allocation",
       lambda: ps.LogUniformSampler(10, seed=1).sample([[1]], 2**62),
       ValueError, r"^Sampler's range is too small\.$")
# (5) unique and support < S <= R (TF: 2^31 draws, then abort)
raises("spec11-unique-support<S-fixed-unigram",
       lambda: ps.FixedUnigramSampler(5, unigrams=[1, 0, 2, 0, 0], seed=1).sample([[0]], 3),
       ValueError, r"num_sampled \(3\) exceeds the number of values the sampler can draw "
       r"\(2 with nonzero probability\)")
raises("spec11-unique-support<S-fixed-unigram-function",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 3, True, 5, unigrams=[1, 0, 2, 0, 0],
                                                  seed=1),
       ValueError, r"exceeds the number of values the sampler can draw")


def _learned_small_support():
    s = ps.LearnedUnigramSampler(5, seed=1)
    s.set_state({"generator": s.get_state()["generator"], "counts": [3, 0, 0, 1, 0]})
    return s.sample([[0]], 3)


raises("spec11-unique-support<S-learned-unigram", _learned_small_support,
       ValueError, r"exceeds the number of values the sampler can draw")
# (6) S = 0 / C = 0 with the default sampler
for _name in ("nce", "ssm", "logits", "sparse"):
    raises(f"spec11-num_sampled-0-default-{_name}",
           call_loss(_name, sampled_values=None, num_sampled=0),
           ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("spec11-num_classes-0-default",
       call_loss("nce", sampled_values=None, num_classes=0),
       ValueError, r"^Value for attr 'num_classes' of 0 must be at least minimum 1$")
raises("spec11-range_max-0-function", lambda: ps.log_uniform_candidate_sampler([[0]], 1, 1, True, 0),
       ValueError, r"^Value for attr 'range_max' of 0 must be at least minimum 1$")
raises("spec11-num_sampled-0-function", lambda: ps.uniform_candidate_sampler([[0]], 1, 0, True, 5),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
# (7) labels rank != 2 for a sampler
for _shape in ((3,), (2, 1, 1), ()):
    raises(f"spec11-true_classes-rank{len(_shape)}-function",
           lambda _s=_shape: ps.log_uniform_candidate_sampler(np.zeros(_s, np.int64), 1, 2, True, 5,
                                                              seed=1),
           ValueError, r"^true_classes must be a matrix$")
# (8) labels [B, k], k != num_true (TF's message with the values put right)
raises("spec11-true_classes-columns-function",
       lambda: ps.uniform_candidate_sampler(np.zeros((2, 3), np.int64), 2, 2, True, 5, seed=1),
       ValueError, r"^true_classes must have num_true columns, expected: 2 was: 3$")
raises("spec11-labels-columns-default-sampler-nce",
       call_loss("nce", NT=2, sampled_values=None, seed=1, labels=np.zeros((B, 3), np.int64)),
       ValueError, r"labels must have shape \[batch_size, num_true=2\], got \(4, 3\)")
# (9) labels 1-D [B] with explicit sampled values: works (num_true = 1), also with rah
for _name in LOSSES:
    returns(f"spec11-labels-1d-{_name}", call_loss(_name, labels=lambda p: p["labels"].ravel()),
            same_as_clean(_name), "same result as labels [B, 1]")
returns("spec11-labels-1d-ssm-rah", call_loss("ssm", remove_accidental_hits=True,
                                              labels=lambda p: p["labels"].ravel()),
        same_as_clean("ssm"), "same result as labels [B, 1]")
# (10, 11) len(sampled) != num_sampled: refused (TF: silent, or a shape error with rah)
for _name in LOSSES:
    # TF uses every given candidate (num_sampled only sizes a draw), except
    # with remove_accidental_hits, whose [B, num_sampled] mask errors or
    # masks the wrong columns: pysampled raises there (issue 9, item 2).
    returns(f"spec11-len-sampled-gt-num_sampled-{_name}",
            call_loss(_name, num_sampled=S - 1, remove_accidental_hits=False),
            _same_as(call_loss(_name, remove_accidental_hits=False)),
            "every candidate used (TF: num_sampled only sizes a draw)")
    raises(f"spec11-len-sampled-gt-num_sampled-{_name}-rah",
           call_loss(_name, num_sampled=S - 1, remove_accidental_hits=True),
           ValueError, rf"^sampled_candidates has {S} entries but num_sampled={S - 1}, which "
           r"must agree with remove_accidental_hits=True \(TF masks hits in a \[batch, "
           r"num_sampled\] grid\)$")
returns("spec11-len-sampled-lt-num_sampled-nce-rah-false",
        call_loss("nce", num_sampled=S + 1, remove_accidental_hits=False),
        _same_as(call_loss("nce", remove_accidental_hits=False)),
        "every candidate used (TF: num_sampled only sizes a draw)")
# (12) tec of shape [B] instead of [B, NT] (TF: silently broadcast to [B, B])
for _name in LOSSES:
    raises(f"spec11-tec-shape-[B]-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, tec=p["sampled_values"][1].ravel())),
           ValueError, r"^true_expected_count must have shape \(4, 1\), got \(4,\)$")
raises("spec11-sec-shape-[S,1]",
       call_loss("ssm", sampled_values=lambda p: sv_replace(p, sec=p["sampled_values"][2][:, None])),
       ValueError, r"^sampled_expected_count must have shape \(4,\), got \(4, 1\)$")
# [B, 1] with NT=2: TF broadcasts one count per example across its true
# columns, with that meaning (issue 9, item 1).
returns("spec11-tec-shape-[B,1]-vs-NT2",
        call_loss("nce", NT=2, sampled_values=lambda p: sv_replace(
            p, tec=np.ones((B, 1), np.float32))),
        _same_as(call_loss("nce", NT=2, sampled_values=lambda p: sv_replace(
            p, tec=np.ones((B, 2), np.float32)))),
        "same as the count repeated over the true columns (TF's broadcast)")
# (13) labels [B, k], k != NT, explicit sampled values
raises("spec11-labels-[B,1]-with-NT2-nce", call_loss("nce", NT=2, labels=np.zeros((B, 1), np.int64)),
       ValueError, r"labels must have shape \[batch_size, num_true=2\], got \(4, 1\)")
raises("spec11-labels-[1,2]-with-NT2-nce-no-silent-broadcast",
       call_loss("nce", NT=2, labels=np.array([[1, 2]])),
       ValueError, r"labels have 1 rows but inputs have 4")
raises("labels-rows-mismatch-ssm", call_loss("ssm", labels=np.zeros((B + 1, 1), np.int64)),
       ValueError, r"^labels have 5 rows but inputs have 4$")
raises("labels-3d-logits", call_loss("logits", labels=np.zeros((B, 1, 1), np.int64)),
       ValueError, r"labels must have shape \[batch_size, num_true=1\], got \(4, 1, 1\)")
raises("labels-scalar-nce", call_loss("nce", labels=3),
       ValueError, r"labels must have shape \[batch_size, num_true=1\], got \(\)")
raises("labels-2-columns-sparse", call_loss("sparse", labels=np.zeros((B, 2), np.int64)),
       ValueError, r"^labels must have shape \[batch_size\] or \[batch_size, 1\], got \(4, 2\)$")
# (14) sampled id out of range
for _name in LOSSES:
    raises(f"spec11-sampled-id-out-of-range-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, sampled=np.array([5, 7, C, 11]))),
           IndexError, rf"^sampled_candidates\[2\] = {C} is not in \[0, {C}\)$")
    raises(f"ids-2**40-sampled-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, sampled=np.array([2**40, 7, 9, 11]))),
           IndexError, rf"^sampled_candidates\[0\] = {2**40} is not in \[0, {C}\)$")
    raises(f"ids-negative-sampled-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, sampled=np.array([5, 7, 9, -3]))),
           IndexError, rf"^sampled_candidates\[3\] = -3 is not in \[0, {C}\)$")
raises("ids-2**63-1-label", call_loss("nce", labels=np.array([[0], [1], [2], [2**63 - 1]])),
       IndexError, r"^labels\[3\] = 9223372036854775807 is not in \[0, 12\)$")
raises("ids-uint64-beyond-int64-label",
       call_loss("nce", labels=np.array([[0], [1], [2], [2**64 - 1]], dtype=np.uint64)),
       ValueError, r"^labels holds values beyond the int64 range$")
raises("ids-2**40-default-sampler-num_classes-beyond-weights",
       call_loss("nce", sampled_values=None, seed=3, num_classes=2**40),
       IndexError, r"^sampled_candidates\[\d\] = \d+ is not in \[0, 12\)$")
# (15) input dim != weight dim
for _name in LOSSES:
    raises(f"spec11-dim-mismatch-{_name}", call_loss(_name, inputs=np.ones((B, D + 1), np.float32)),
           ValueError, r"^Matrix size-incompatible: inputs are \[4,4\] but weights have 3 columns$")
# (16) bias shorter than needed
raises("spec11-bias-shorter-than-needed", call_loss("nce", biases=lambda p: p["biases"][:8]),
       IndexError, r"^sampled_candidates \(biases\)\[2\] = 9 is not in \[0, 8\)$")
raises("bias-shorter-label", call_loss("ssm", biases=lambda p: p["biases"][:2]),
       IndexError, r"^labels \(biases\)\[2\] = 2 is not in \[0, 2\)$")
# (17) div with fewer rows than shards
raises("spec11-div-fewer-rows-than-shards",
       call_loss("nce", weights=lambda p: [p["weights"][:1], p["weights"][1:1], p["weights"][1:1]],
                 partition_strategy="div", labels=np.zeros((B, 1), np.int64),
                 sampled_values=lambda p: sv_replace(p, sampled=np.zeros(S, np.int64)),
                 biases=None),
       ValueError, r"partition_strategy='div' needs at least one row per shard: 1 rows over 3 "
       r"shards \(TF fails with 'Integer division by zero'\)")
# (18) unknown strategy with more than one shard (one shard: ignored, as TF)
raises("spec11-unknown-strategy",
       call_loss("nce", weights=lambda p: [p["weights"][::2], p["weights"][1::2]],
                 partition_strategy="foo"),
       ValueError, r"^Unrecognized partition strategy: foo\.Must be one of either `mod` or `div`\.$")
returns("unknown-strategy-one-shard-ignored", call_loss("nce", partition_strategy="foo"),
        same_as_clean("nce"), "strategy ignored with one shard (as TF)")
# (19-21) fixed unigram sources
raises("spec11-fixed-unigram-size-mismatch",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 4, unigrams=[1, 2, 3], seed=1),
       ValueError, r"^range is 4 must be equal to weights size  3$")
raises("spec11-fixed-unigram-neither-source",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 3, seed=1),
       ValueError, r"^Must provide either vocab_file or unigrams\.$")


_TMP: list = []  # one temporary directory per worker, removed when it exits


def _vocab_file(text):
    if not _TMP:
        _TMP.append(tempfile.TemporaryDirectory(prefix="pysampled-sweep-"))
    path = os.path.join(_TMP[0].name, f"vocab{len(os.listdir(_TMP[0].name))}.csv")
    with open(path, "w") as f:
        f.write(text)
    return path


raises("spec11-fixed-unigram-both-sources",
       lambda: ps.FixedUnigramSampler(2, unigrams=[1, 2], vocab_file=_vocab_file("a,1\nb,2\n")),
       ValueError, r"^Must only provide one of vocab_file and unigrams\.$")
raises("spec11-vocab-line-unparsable",
       lambda: ps.FixedUnigramSampler(2, vocab_file=_vocab_file("a,1\nb,x2\n")),
       ValueError, r"^Wrong vocabulary format at line: b,x2$")
raises("vocab-file-missing",
       lambda: ps.FixedUnigramSampler(2, vocab_file="/nonexistent/pysampled/vocab.csv"),
       FileNotFoundError, r"vocab\.csv")
# (22) learned unigram range beyond int32 (function)
raises("spec11-learned-unigram-range-too-large",
       lambda: ps.learned_unigram_candidate_sampler([[0]], 1, 1, True, 2**31, seed=1),
       ValueError, r"^Value of range_max:2147483648 is too large to handle \(range_max must be "
       r"less than 2147483647 for unigram samplers\)$")
# (23) non-matrix to compute_accidental_hits
for _tc in ([1, 2], [[[1]]]):
    raises(f"spec11-hits-non-matrix-ndim{np.ndim(_tc)}",
           lambda _t=_tc: ps.compute_accidental_hits(np.array(_t), np.array([1]), 1),
           ValueError, r"^true_candidates must be a batch_size \* num_true matrix$")
raises("hits-num_true-mismatch", lambda: ps.compute_accidental_hits([[1, 2]], [1], 1),
       ValueError, r"^true_candidates must be a batch_size \* num_true matrix$")
raises("hits-sampled-2d", lambda: ps.compute_accidental_hits([[1]], [[1]], 1),
       ValueError, r"^sampled_candidates must have 1 dimension\(s\), got shape \(1, 1\)$")
raises("hits-float-true", lambda: ps.compute_accidental_hits(np.array([[1.0]]), [1], 1),
       TypeError, r"^true_classes must hold integers, got dtype float64$")
raises("hits-bool-sampled", lambda: ps.compute_accidental_hits([[1]], np.array([True]), 1),
       TypeError, r"^sampled_candidates must hold integers, got dtype bool$")
raises("hits-object-true", lambda: ps.compute_accidental_hits(np.array([[1]], dtype=object), [1], 1),
       TypeError, r"^true_classes must hold integers, got dtype object$")
raises("hits-num_true-0", lambda: ps.compute_accidental_hits(np.zeros((2, 0), np.int64), [1], 0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")


def _hits_check(rows, ids):
    def check(r):
        ind, pos, w = r
        assert ind.dtype == np.int32 and pos.dtype == np.int64 and w.dtype == np.float32
        assert ind.tolist() == rows and pos.tolist() == ids, (ind, pos)
        assert np.all(w == -FLT_MAX)
    return check


returns("hits-ids-2**40-no-range-check",
        lambda: ps.compute_accidental_hits([[2**40], [3]], [7, 2**40], 1),
        _hits_check([0], [1]), "hit (row 0, position 1): ids are compared, never range-checked")
returns("hits-negative-ids", lambda: ps.compute_accidental_hits([[-1]], [-1, 0], 1),
        _hits_check([0], [0]), "hit (row 0, position 0): negative ids compared like others")
returns("hits-empty-batch", lambda: ps.compute_accidental_hits(np.zeros((0, 2), np.int64), [1], 2),
        _hits_check([], []), "no hits, typed empty arrays")
returns("hits-empty-sampled", lambda: ps.compute_accidental_hits([[1]], np.zeros(0, np.int64), 1),
        _hits_check([], []), "no hits, typed empty arrays")
returns("hits-int32-uint8-fortran-readonly",
        lambda: ps.compute_accidental_hits(readonly(np.asfortranarray([[1, 2], [3, 1]], np.int32)),
                                           strided(np.array([1, 3], np.uint8)), 2),
        _hits_check([0, 1, 1], [0, 1, 0]), "same hits as int64 C-contiguous input")
# (24) NaN inputs propagate -- see the NaN / Inf block below.
