r"""Bad-input sweep, area: Dtypes and memory layouts of ids, inputs, weights,
biases and expected counts; shard lists.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    dtype-inputs-float16  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-object  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-bool  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-complex128  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-int64  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-int32  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs->f4  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-weights-float16  raises TypeError: /^weights must be float32 or float64, got float16$/
    dtype-biases-float16  raises TypeError: /^biases must be float32 or float64, got float16$/
    dtype-weights-object  raises TypeError: /^weights must be float32 or float64, got object$/
    dtype-biases-object  raises TypeError: /^biases must be float32 or float64, got object$/
    dtype-weights-bool  raises TypeError: /^weights must be float32 or float64, got bool$/
    dtype-biases-bool  raises TypeError: /^biases must be float32 or float64, got bool$/
    dtype-weights-complex128  raises TypeError: /^weights must be float32 or float64, got complex128$/
    dtype-biases-complex128  raises TypeError: /^biases must be float32 or float64, got complex128$/
    dtype-weights-int64  raises TypeError: /^weights must be float32 or float64, got int64$/
    dtype-biases-int64  raises TypeError: /^biases must be float32 or float64, got int64$/
    dtype-weights-big-endian  raises ValueError: /^weights must be in native byte order, got >f4/
    dtype-labels-float64  returns: same result as int64 labels (TF's cast)
    dtype-labels-float16  returns: same result as int64 labels (TF's cast)
    dtype-sampled-float64  raises TypeError: /^sampled_candidates must hold integers, got dtype
        float64$/
    dtype-sampled-float16  raises TypeError: /^sampled_candidates must hold integers, got dtype
        float16$/
    dtype-labels-bool  raises TypeError: /^labels must hold integers, got dtype bool$/
    dtype-sampled-bool  raises TypeError: /^sampled_candidates must hold integers, got dtype bool$/
    dtype-labels-object  raises TypeError: /^labels must hold integers, got dtype object$/
    dtype-sampled-object  raises TypeError: /^sampled_candidates must hold integers, got dtype object$/
    dtype-labels-complex128  raises TypeError: /^labels must hold integers, got dtype complex128$/
    dtype-sampled-complex128  raises TypeError: /^sampled_candidates must hold integers, got dtype
        complex128$/
    dtype-tec-bool  raises TypeError: /^true_expected_count must hold numbers, got dtype bool$/
    dtype-upstream-bool  raises TypeError: /^upstream must hold numbers, got dtype bool$/
    dtype-tec-object  raises TypeError: /^true_expected_count must hold numbers, got dtype object$/
    dtype-upstream-object  raises TypeError: /^upstream must hold numbers, got dtype object$/
    dtype-tec-complex128  raises TypeError: /^true_expected_count must hold numbers, got dtype
        complex128$/
    dtype-upstream-complex128  raises TypeError: /^upstream must hold numbers, got dtype complex128$/
    dtype-labels-int32-accepted  returns: same result as int64 labels
    dtype-labels-uint8-accepted  returns: same result as int64 labels
    dtype-labels-int16-accepted  returns: same result as int64 labels
    dtype-labels-uint64-accepted  returns: same result as int64 labels
    dtype-tec-float16-and-int-accepted  returns: expected counts converted to the inputs' dtype
    dtype-float64-inputs-float32-weights  returns: float64 loss (weights converted row by row, as TF
        casts)
    dtype-mixed-weight-shards  raises TypeError: /^all weights shards must have the same dtype$/
    dtype-mixed-bias-shards  raises TypeError: /^all biases shards must have the same dtype$/
    shards-empty-list-weights  raises ValueError: /^weights: the list of shards is empty$/
    shards-empty-list-biases  raises ValueError: /^biases: the list of shards is empty$/
    shards-columns-differ  raises ValueError: /^all shards must have the same number of columns: shard 0
        has 3, shard 1 has 2$/
    shards-1d-weight-shard  raises ValueError: /^weights must be 2-D, got shape \(3,\)$/
    shards-2d-bias  raises ValueError: /^biases must be 1-D, got shape \(12, 1\)$/
    shards-non-canonical-div-3-9  raises ValueError: /^shard sizes \[3, 9\] are not the 'div' layout of
        12 rows/
    shards-non-canonical-div-7-5  raises ValueError: /^shard sizes \[7, 5\] are not the 'div' layout of
        12 rows/
    shards-non-canonical-mod-7-5  raises ValueError: /^shard sizes \[7, 5\] are not the 'mod' layout of
        12 rows/
    shards-non-canonical-mod-4-4-4-0  raises ValueError: /^shard sizes \[4, 4, 4, 0\] are not the 'mod'
        layout of 12 rows/
    shards-non-canonical-div-6-6-0  raises ValueError: /^shard sizes \[6, 6, 0\] are not the 'div'
        layout of 12 rows/
    shards-biases-non-canonical  raises ValueError: /^shard sizes \[4, 8\] are not the 'div'/
    shards-empty-shard-canonical-mod  returns: finite loss
    layout-fortran-weights  raises ValueError: /^weights must have contiguous rows \(unit stride within
        a row\)/
    layout-column-strided-weights  raises ValueError: /^weights must have contiguous rows/
    layout-unaligned-weights  raises ValueError: /^weights must be aligned$/
    layout-fortran-readonly-strided-nce  returns: same bits as C-contiguous writable arrays
    layout-fortran-readonly-strided-ssm  returns: same bits as C-contiguous writable arrays
    layout-fortran-readonly-strided-sparse  returns: same bits as C-contiguous writable arrays
    layout-fortran-readonly-strided-logits  returns: same bits as C-contiguous writable arrays
    layout-reversed-weight-rows  returns: same bits
    layout-list-inputs-and-weights  returns: nested lists become float64 arrays
    layout-biases-as-flat-list  raises ValueError: /^biases\[0\] must be 1-D, got shape \(\)$/
    inputs-1d  raises ValueError: /^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$/
    upstream-wrong-shape  raises ValueError: /^upstream must have shape \(4,\), got \(5,\)$/
    upstream-logits-wrong-shape  raises ValueError: /^upstream must have shape \(4, 5\), got \(4,\)$/
    sampled_values-not-a-triple  raises ValueError: /^sampled_values must be a triple/
    nce-true_target-zero  raises ValueError: /^true_target must be a positive number$/
    nce-true_target-nan  raises ValueError: /^true_target must be a positive number$/
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

import pysampled as ps
from sweep.builders import (
    B, C, D, S,
    sv_replace, LOSSES, call_loss, finite_shape, same_as_clean, readonly, strided,
)
from sweep.harness import raises, returns


# =========================================================== dtypes / layouts
for _dt in ("float16", "object", "bool", "complex128", "int64", "int32", ">f4"):
    raises(f"dtype-inputs-{_dt}", call_loss("ssm", inputs=lambda p, dt=_dt: p["inputs"].astype(dt)),
           TypeError, r"^inputs must be float32 or float64, got ")
for _dt in ("float16", "object", "bool", "complex128", "int64"):
    raises(f"dtype-weights-{_dt}", call_loss("nce", weights=lambda p, dt=_dt: p["weights"].astype(dt)),
           TypeError, rf"^weights must be float32 or float64, got {np.dtype(_dt)}$")
    raises(f"dtype-biases-{_dt}", call_loss("logits", biases=lambda p, dt=_dt: p["biases"].astype(dt)),
           TypeError, rf"^biases must be float32 or float64, got {np.dtype(_dt)}$")
raises("dtype-weights-big-endian", call_loss("nce", weights=lambda p: p["weights"].astype(">f4")),
       ValueError, r"^weights must be in native byte order, got >f4")
for _dt in ("float64", "float16"):
    # TF casts labels to int64: integral float labels are accepted (issue 9, item 4).
    returns(f"dtype-labels-{_dt}", call_loss("nce", labels=lambda p, dt=_dt: p["labels"].astype(dt)),
            same_as_clean("nce"), "same result as int64 labels (TF's cast)")
for _dt in ("float64", "float16", "bool", "object", "complex128"):
    if _dt not in ("float64", "float16"):
        raises(f"dtype-labels-{_dt}", call_loss("nce", labels=lambda p, dt=_dt: p["labels"].astype(dt)),
               TypeError, rf"^labels must hold integers, got dtype {_dt}$")
    raises(f"dtype-sampled-{_dt}", call_loss("ssm", sampled_values=lambda p, dt=_dt: sv_replace(
        p, sampled=p["sampled_values"][0].astype(dt))),
        TypeError, rf"^sampled_candidates must hold integers, got dtype {_dt}$")
for _dt in ("bool", "object", "complex128"):
    raises(f"dtype-tec-{_dt}", call_loss("nce", sampled_values=lambda p, dt=_dt: sv_replace(
        p, tec=p["sampled_values"][1].astype(dt))),
        TypeError, rf"^true_expected_count must hold numbers, got dtype {_dt}$")
    raises(f"dtype-upstream-{_dt}", call_loss("nce", return_grads=True,
                                              upstream=np.ones(B, dtype=_dt)),
           TypeError, rf"^upstream must hold numbers, got dtype {_dt}$")
for _dt in ("int32", "uint8", "int16", "uint64"):
    returns(f"dtype-labels-{_dt}-accepted",
            call_loss("ssm", labels=lambda p, dt=_dt: p["labels"].astype(dt)),
            same_as_clean("ssm"), "same result as int64 labels")
returns("dtype-tec-float16-and-int-accepted",
        call_loss("nce", sampled_values=lambda p: (p["sampled_values"][0].astype(np.int32),
                                                   p["sampled_values"][1].astype(np.float16),
                                                   np.full(S, 0.125, np.float64))),
        same_as_clean("nce"), "expected counts converted to the inputs' dtype")
returns("dtype-float64-inputs-float32-weights",
        call_loss("ssm", inputs=lambda p: p["inputs"].astype(np.float64)),
        lambda r: (r.dtype == np.float64 and np.isfinite(r).all()) or (_ for _ in ()).throw(
            AssertionError(r)), "float64 loss (weights converted row by row, as TF casts)")
raises("dtype-mixed-weight-shards", call_loss("nce", partition_strategy="div", weights=lambda p: [
    p["weights"][:6], p["weights"][6:].astype(np.float64)]),
    TypeError, r"^all weights shards must have the same dtype$")
raises("dtype-mixed-bias-shards", call_loss("nce", partition_strategy="mod", biases=lambda p: [
    p["biases"][::2], p["biases"][1::2].astype(np.float64)]),
    TypeError, r"^all biases shards must have the same dtype$")
raises("shards-empty-list-weights", call_loss("nce", weights=[]),
       ValueError, r"^weights: the list of shards is empty$")
raises("shards-empty-list-biases", call_loss("ssm", biases=()),
       ValueError, r"^biases: the list of shards is empty$")
raises("shards-columns-differ", call_loss("nce", partition_strategy="div", weights=lambda p: [
    p["weights"][:6], np.ascontiguousarray(p["weights"][6:, :2])]),
    ValueError, r"^all shards must have the same number of columns: shard 0 has 3, shard 1 has 2$")
raises("shards-1d-weight-shard", call_loss("nce", weights=lambda p: [p["weights"][0]]),
       ValueError, r"^weights must be 2-D, got shape \(3,\)$")
raises("shards-2d-bias", call_loss("nce", biases=lambda p: p["biases"][:, None]),
       ValueError, r"^biases must be 1-D, got shape \(12, 1\)$")
for _strat, _sizes in (("div", (3, 9)), ("div", (7, 5)), ("mod", (7, 5)), ("mod", (4, 4, 4, 0)),
                       ("div", (6, 6, 0))):
    def _shards(p, sizes=_sizes):
        cut = np.cumsum((0,) + sizes)
        return [p["weights"][a:b] for a, b in zip(cut[:-1], cut[1:])]
    raises(f"shards-non-canonical-{_strat}-{'-'.join(map(str, _sizes))}",
           call_loss("nce", partition_strategy=_strat, weights=_shards, biases=None),
           ValueError, rf"^shard sizes \[{', '.join(map(str, _sizes))}\] are not the '{_strat}' "
           rf"layout of 12 rows")
raises("shards-biases-non-canonical", call_loss("ssm", partition_strategy="div", biases=lambda p: [
    p["biases"][:4], p["biases"][4:]]), ValueError, r"^shard sizes \[4, 8\] are not the 'div'")
returns("shards-empty-shard-canonical-mod",  # 2 rows over 3 shards: the last one empty
        lambda: ps.nce_loss([np.ones((1, 2), np.float32), np.ones((1, 2), np.float32),
                             np.zeros((0, 2), np.float32)], None, [[0]], np.ones((1, 2), np.float32),
                            1, 2, sampled_values=([1], [[0.5]], [0.5]), partition_strategy="mod"),
        finite_shape((1,)), "finite loss")
raises("layout-fortran-weights", call_loss("nce", weights=lambda p: np.asfortranarray(p["weights"])),
       ValueError, r"^weights must have contiguous rows \(unit stride within a row\)")
raises("layout-column-strided-weights", call_loss("nce", weights=lambda p: strided(p["weights"])),
       ValueError, r"^weights must have contiguous rows")
raises("layout-unaligned-weights", call_loss("nce", weights=lambda p: np.frombuffer(
    b"\0" + p["weights"].tobytes(), dtype=np.float32, offset=1).reshape(C, D)),
    ValueError, r"^weights must be aligned$")
for _name in LOSSES:
    returns(f"layout-fortran-readonly-strided-{_name}", call_loss(
        _name, inputs=lambda p: readonly(np.asfortranarray(p["inputs"])),
        labels=lambda p: strided(p["labels"].astype(np.int32)),
        weights=lambda p: readonly(p["weights"]), biases=lambda p: strided(p["biases"]),
        sampled_values=lambda p: tuple(readonly(a) for a in p["sampled_values"])),
        same_as_clean(_name), "same bits as C-contiguous writable arrays")
returns("layout-reversed-weight-rows", call_loss("nce", weights=lambda p: p["weights"][::-1][::-1]),
        same_as_clean("nce"), "same bits")
returns("layout-list-inputs-and-weights",
        call_loss("nce", dtype=np.float64, inputs=lambda p: p["inputs"].tolist(),
                  weights=lambda p: [p["weights"].tolist()], biases=lambda p: [p["biases"].tolist()]),
        same_as_clean("nce", np.float64), "nested lists become float64 arrays")
# A flat Python list is a list of shards (TF's convention): a list of numbers
# as biases is refused, not silently reinterpreted.
raises("layout-biases-as-flat-list", call_loss("nce", biases=lambda p: p["biases"].tolist()),
       ValueError, r"^biases\[0\] must be 1-D, got shape \(\)$")
raises("inputs-1d", call_loss("nce", inputs=lambda p: p["inputs"][0]),
       ValueError, r"^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$")
raises("upstream-wrong-shape", call_loss("ssm", return_grads=True, upstream=np.ones(B + 1)),
       ValueError, r"^upstream must have shape \(4,\), got \(5,\)$")
raises("upstream-logits-wrong-shape", call_loss("logits", return_grads=True, upstream=np.ones(B)),
       ValueError, r"^upstream must have shape \(4, 5\), got \(4,\)$")
raises("sampled_values-not-a-triple", call_loss("nce", sampled_values=(np.arange(4),)),
       ValueError, r"^sampled_values must be a triple")
raises("nce-true_target-zero", call_loss("nce", true_target=0.0),
       ValueError, r"^true_target must be a positive number$")
raises("nce-true_target-nan", call_loss("nce", true_target=np.nan),
       ValueError, r"^true_target must be a positive number$")
