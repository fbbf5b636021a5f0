"""TensorFlow's candidate-sampling losses with gradients: NCE, sampled softmax
(and TF 1.15 contrib's sparse and rank-resampled variants).

Design: this module holds the TF-shaped public API: argument validation,
dtype rules, the default sampler and the packaging of results. The work is
one call into the fused C++ kernel (`pysampled._losses`), made zero-copy on
the caller's weight shards and with the GIL released.

Conventions shared by every function here:

* ``weights`` is one ``[num_classes, dim]`` array or a list (or tuple) of
  row shards; ``biases`` one ``[num_classes]`` array or a list of shards
  (sharded or not independently of the weights), or None for no bias.
  With more than one shard, class ids are routed exactly as
  ``tf.nn.embedding_lookup`` routes them for ``partition_strategy`` "mod"
  (id -> shard ``id % P``, row ``id // P``) or "div" (contiguous blocks, the
  first ``N % P`` shards one row longer). Shard sizes must be the canonical
  layout of that strategy; TF would silently read wrong rows otherwise.
* Shards are read in place: they must be float32, float64 or
  ``ml_dtypes.bfloat16``, native byte order, aligned, with contiguous rows
  (any row stride). They are never written to (except by
  :meth:`SampledLoss.step`, which says so).
* ``inputs`` decide the computing dtype: float64 for float64 inputs, else
  float32 (bfloat16 inputs are widened exactly to float32, one copy of
  ``batch * dim`` elements); weights and biases of another dtype are
  converted row by row as TF casts them, and their gradients are returned in
  their own dtype (bfloat16 gradients rounded once, to nearest even, from
  the float32 result). The loss, logits and input gradient come back in the
  inputs' dtype, as in TF (bfloat16 for bfloat16 inputs, computed in
  float32 and rounded once). ``inputs`` that are not C-contiguous are copied.
* Sampled values: ``sampled_values=(sampled_candidates, true_expected_count,
  sampled_expected_count)`` as returned by the samplers, or None for TF's
  default: :func:`pysampled.log_uniform_candidate_sampler` with
  ``unique=True``, ``range_max=num_classes`` and ``seed``. As in TF, every
  given candidate is used: ``num_sampled`` only sizes a draw (except with
  ``remove_accidental_hits``, where it must equal their number: TF's hit
  mask has ``num_sampled`` columns). ``true_expected_count`` may have any
  shape TF broadcasts against ``[batch, num_true]`` with one meaning
  (``[batch, 1]``, ``[1, num_true]``, ``[num_true]``, scalars; a 1-D
  ``[batch]`` raises: TF would apply it along the columns), and
  ``sampled_expected_count`` ``[S]``, ``[1, S]`` or a scalar.
* Labels are integer ids of any width, or floats with integral values (TF
  casts labels to int64); a fractional, NaN or infinite label raises (TF
  truncates it silently).
* ``num_threads``: None uses what OpenMP allows (``OMP_NUM_THREADS``,
  threadpoolctl), -1 all cores. Results are bit-identical for any value.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from . import _losses, _rowwise
from ._losses import LossKind, Optimizer
from ._threads import resolve_num_threads
from ._validation import as_ids, as_int, check_attr_min
from .samplers import learned_unigram_candidate_sampler, log_uniform_candidate_sampler

__all__ = [
    "SparseRows",
    "LossGrads",
    "SampledLoss",
    "StepResult",
    "compute_sampled_logits",
    "nce_loss",
    "rank_sampled_softmax_loss",
    "sampled_softmax_loss",
    "sampled_sparse_softmax_loss",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# ==== bfloat16 storage (issue 10): shards may also be bfloat16, read in place;
# bfloat16 inputs compute in float32 and their results are rounded back.
# ml_dtypes is imported on first use, not with pysampled: its import takes
# about 0.7 s (it registers hundreds of NumPy ufunc loops), most of the
# start-up of a short run, and only bfloat16 arrays need it. An array of
# bfloat16 can only exist once ml_dtypes (or a package that loads it) has
# been imported, so the dtype's name is checked first.
@functools.cache
def _bf16() -> np.dtype:
    """``ml_dtypes.bfloat16`` as a NumPy dtype."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def _is_bf16_dtype(dtype) -> bool:
    # kind first: a cached one-letter attribute ("f" for float32), where
    # dtype.name builds a string on every call (3-4% of a call at S = 64)
    return dtype.kind == "V" and dtype.name == "bfloat16" and dtype == _bf16()


def _is_shard_dtype(dtype) -> bool:
    """float32, float64 or bfloat16: what shards and inputs may hold."""
    return dtype in _FLOATS or _is_bf16_dtype(dtype)


def _compute_dtype(dtype):
    """The dtype the kernel computes in for inputs (or shards) of `dtype`."""
    return np.dtype(np.float32) if _is_bf16_dtype(dtype) else dtype


def _is_bf16(a) -> bool:
    return isinstance(a, np.ndarray) and _is_bf16_dtype(a.dtype)


# The conversions below run in C++ on up to `threads` threads (the call's
# num_threads; large arrays only).
def _like_inputs(a, bf16, threads=1):
    """A result `a` (computed in float32) rounded to bfloat16 for bfloat16 inputs
    (the bits of ``a.astype(bfloat16)``, converted in C++); a bfloat16 `a`
    (the input gradient the kernel narrowed itself) is returned as it is."""
    if not bf16 or a is None or _is_bf16_dtype(a.dtype):
        return a
    return _losses.float32_to_bf16(a, _bf16(), threads)


def _in_dtype(a, dtype, threads=1):
    """The array `a` in `dtype` (itself when it has it); float32 to bfloat16
    in C++ (the bits of ``a.astype(dtype)``, several times faster)."""
    if a.dtype == dtype:
        return a
    if _is_bf16_dtype(dtype) and a.dtype == np.float32:
        return _losses.float32_to_bf16(a, _bf16(), threads)
    return a.astype(dtype)


def _computing_matrix(x, dtype, threads=1):
    """The 2-D array `x` C-contiguous in its computing `dtype`: copied only if
    needed; bfloat16 is widened to float32 (exactly, in C++)."""
    if _is_bf16_dtype(x.dtype):
        return _losses.bf16_to_float32(x, threads)
    return np.ascontiguousarray(x, dtype=dtype)
# ==== end bfloat16
_INT64_LIMIT = 2.0**63


class SparseRows:
    """Gradient rows for a set of classes: ``values[i]`` belongs to ``ids[i]``.

    ``ids`` are sorted, unique, global class ids (int64). Contributions of a
    class that appears several times (as a label of several examples, as a
    duplicated sampled id, ...) are already summed.
    """

    __slots__ = ("ids", "values", "num_rows", "_shard_rows", "_div")

    def __init__(self, ids, values, num_rows, shard_rows=None, div=False):
        self.ids = ids
        self.values = values
        self.num_rows = int(num_rows)
        self._shard_rows = list(shard_rows) if shard_rows is not None else [self.num_rows]
        self._div = bool(div)

    def to_dense(self, num_rows=None) -> np.ndarray:
        """The dense gradient ``[num_rows, ...]`` (zeros for untouched rows)."""
        n = self.num_rows if num_rows is None else int(num_rows)
        if self.ids.size and self.ids[-1] >= n:
            raise ValueError(f"num_rows={n} is smaller than the largest id {self.ids[-1]} + 1")
        out = np.zeros((n,) + self.values.shape[1:], dtype=self.values.dtype)
        out[self.ids] = self.values
        return out

    def per_shard(self) -> list:
        """The same rows split by shard, with *local* row ids, one
        :class:`SparseRows` per shard (what a parameter server applies).

        Routed by the kernel's own ``ShardedRows::locate`` (one home for the
        mod/div rule)."""
        shard, row = _losses.locate(as_ids(self.ids, "ids", ndim=1), self._shard_rows, self._div)
        out = []
        for p, rows in enumerate(self._shard_rows):
            sel = shard == p
            out.append(SparseRows(row[sel], self.values[sel], rows))
        return out

    def __repr__(self):
        return (f"SparseRows(ids={self.ids!r}, values=<{self.values.dtype} "
                f"{self.values.shape}>, num_rows={self.num_rows})")


class LossGrads(NamedTuple):
    """Gradients of ``sum(upstream * loss)`` (or of ``sum(upstream * logits)``)."""

    inputs: np.ndarray  #: dense ``[batch, dim]``
    weights: SparseRows  #: deduplicated rows of the weights
    biases: SparseRows | None  #: deduplicated entries of the biases (None without biases)


def _shard_list(value, name, ndim):
    """The shards of `value` as a list of validated arrays (never copied)."""
    parts = list(value) if isinstance(value, (list, tuple)) else [value]
    if not parts:
        raise ValueError(f"{name}: the list of shards is empty")
    out = []
    for i, a in enumerate(parts):
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
            if a.dtype not in _FLOATS:  # plain lists of numbers become float64 arrays
                a = a.astype(np.float64)
        where = f"{name}" if len(parts) == 1 else f"{name}[{i}]"
        if not a.dtype.isnative and a.dtype.newbyteorder("=") in _FLOATS:
            raise ValueError(f"{where} must be in native byte order, got {a.dtype}; "
                             "convert it once with a.astype(a.dtype.newbyteorder('='))")
        if not _is_shard_dtype(a.dtype):
            raise TypeError(f"{where} must be float32 or float64, got {a.dtype}")  # or bfloat16
        if a.ndim != ndim:
            raise ValueError(f"{where} must be {ndim}-D, got shape {a.shape}")
        if not a.flags.aligned:
            raise ValueError(f"{where} must be aligned")
        # A shard without rows is never read: NumPy gives fresh empty arrays
        # zero strides, which must not count as non-contiguous rows.
        if ndim == 2 and a.shape[0] > 0 and a.shape[1] > 1 and a.strides[1] != a.itemsize:
            raise ValueError(f"{where} must have contiguous rows (unit stride within a row); "
                             "pass np.ascontiguousarray(...) once, outside the training loop")
        if a.strides and a.strides[0] % a.itemsize:
            raise ValueError(f"{where} has a row stride that is not a multiple of its item size")
        out.append(a)
    if len({a.dtype for a in out}) > 1:
        raise TypeError(f"all {name} shards must have the same dtype")
    return out


def _uses_div(partition_strategy, num_shards) -> bool:
    """Whether ids are routed with "div" (True) or "mod" (False). With one
    shard the strategy is ignored, as in TF."""
    if num_shards == 1:
        return False
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}."
                         "Must be one of either `mod` or `div`.")
    return partition_strategy == "div"


class _Params:
    """Validated weight and bias shards with their zero-copy kernel views."""

    __slots__ = ("w", "b", "w_div", "b_div", "w_view", "b_view", "bf16_rows")

    def __init__(self, weights, biases, partition_strategy):
        self.w = _shard_list(weights, "weights", 2)
        self.b = None if biases is None else _shard_list(biases, "biases", 1)
        self.w_div = _uses_div(partition_strategy, len(self.w))
        self.b_div = False if self.b is None else _uses_div(partition_strategy, len(self.b))
        self.w_view = _losses.Shards(self.w, self.w_div)
        self.b_view = None if self.b is None else _losses.Shards(self.b, self.b_div)
        # bfloat16 parameters get their gradient rows narrowed by the kernel
        # (float32 computing; the same bits as converting them afterwards)
        self.bf16_rows = {
            "bf16_weight_rows": self.w[0].dtype if _is_bf16_dtype(self.w[0].dtype) else None,
            "bf16_bias_rows": (self.b[0].dtype if self.b is not None and _is_bf16_dtype(self.b[0].dtype)
                               else None)}

    def check_dim(self, x, sep=","):
        if x.shape[1] != self.w_view.cols:
            raise ValueError(f"Matrix size-incompatible: inputs are [{x.shape[0]}{sep}{x.shape[1]}]"
                             f" but weights have {self.w_view.cols} columns")

    def grads(self, result, threads=1) -> LossGrads:
        """The kernel's gradient rows as a :class:`LossGrads` in the shards' dtypes."""
        ids, gw, gb = result.grad_ids, result.grad_weights, result.grad_biases
        w_dtype = self.w[0].dtype
        gw = _in_dtype(gw, w_dtype, threads)
        w_rows = SparseRows(ids, gw, self.w_view.total_rows, [a.shape[0] for a in self.w],
                            self.w_div)
        b_rows = None
        if self.b is not None:
            b_dtype = self.b[0].dtype
            gb = _in_dtype(gb, b_dtype, threads)
            b_rows = SparseRows(ids, gb, self.b_view.total_rows, [a.shape[0] for a in self.b],
                                self.b_div)
        return LossGrads(result.d_inputs, w_rows, b_rows)

    def gather(self, ids, dtype):
        """Weight rows and biases (or zeros) of `ids`, in `dtype`, routed by the kernel."""
        w = np.empty((ids.shape[0], self.w_view.cols), dtype=dtype)
        b = np.zeros(ids.shape[0], dtype=dtype)
        shard, row = _losses.locate(ids, [a.shape[0] for a in self.w], self.w_div,
                                    "sampled_candidates")
        for p, a in enumerate(self.w):
            sel = shard == p
            w[sel] = a[row[sel]]
        if self.b is not None:
            shard, row = _losses.locate(ids, [a.shape[0] for a in self.b], self.b_div,
                                        "sampled_candidates")
            for p, a in enumerate(self.b):
                sel = shard == p
                b[sel] = a[row[sel]]
        return w, b


class _Bf16Inputs:
    """bfloat16 inputs handed to the kernel as they are (float32 computing):
    it widens them while it gathers their rows and narrows the input
    gradient itself. Stands in for the inputs matrix where only its shape
    and computing dtype are read (`_prepare`, `check_dim`)."""

    __slots__ = ("array", "shape")
    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, a):
        self.array = np.ascontiguousarray(a)
        self.shape = self.array.shape


_NO_FLOAT_INPUTS = np.empty((0, 0), dtype=np.float32)


def _run_inputs(x):
    """The kernel's inputs arguments for `x`: ``(inputs, {"inputs16": ...})``."""
    if isinstance(x, _Bf16Inputs):
        return _NO_FLOAT_INPUTS, {"inputs16": x.array}
    return x, {}


def _inputs_matrix(inputs, threads=1, keep_bf16=False):
    """`inputs` as a C-contiguous float32/float64 matrix (copied only if needed;
    bfloat16 inputs are widened to float32, their computing dtype, on up to
    `threads` threads, or with `keep_bf16` handed to the kernel as they are)."""
    x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
    if not _is_shard_dtype(x.dtype):
        raise TypeError(f"inputs must be float32 or float64, got {x.dtype}")  # or bfloat16
    if x.ndim != 2:
        raise ValueError(f"inputs must be 2-D [batch_size, dim], got shape {x.shape}")
    if keep_bf16 and _is_bf16_dtype(x.dtype):
        return _Bf16Inputs(x)
    return _computing_matrix(x, _compute_dtype(x.dtype), threads)


def _floats(value, name, shape, dtype):
    if (type(value) is np.ndarray and value.dtype == dtype and value.shape == shape
            and value.flags.c_contiguous and value.flags.aligned):
        return value  # what the samplers return: nothing to check or convert
    a = np.asarray(value)
    if a.dtype.kind not in "fiu" and not _is_bf16_dtype(a.dtype):  # bool is kind "b"
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.aligned else a.copy()  # the C++ core reads them as float/double


def _true_expected(value, batch, num_true, dtype):
    """``true_expected_count`` as a contiguous ``[batch * num_true]`` vector.

    Every shape TF broadcasts against the true logits ``[batch, num_true]``
    with the same meaning is accepted: ``[batch, num_true]``, ``[batch, 1]``
    (one count per example), ``[1, num_true]`` or ``[num_true]`` (one per
    column), ``[1, 1]``, ``[1]`` and a scalar. A 1-D array of ``batch``
    entries (``batch > 1``) raises: TF broadcasts it along the *columns*, so
    with ``num_true == 1`` it silently computes a ``[batch, batch]`` result
    and with ``num_true == batch`` it applies entry ``k`` to column ``k``.
    """
    shape = (batch, num_true)
    if (type(value) is np.ndarray and value.shape == shape and value.dtype == dtype
            and value.flags.c_contiguous and value.flags.aligned):
        return value.reshape(-1)  # what the samplers return
    a = value if type(value) is np.ndarray else np.asarray(value)
    if a.dtype.kind not in "fiu" and not _is_bf16_dtype(a.dtype):  # bool is kind "b"
        raise TypeError(f"true_expected_count must hold numbers, got dtype {a.dtype}")
    if a.shape != shape:
        if a.ndim == 1 and a.shape[0] == batch and batch > 1:
            # TF broadcasts a 1-D vector along the true columns, not the
            # examples (with num_true == 1 it silently computes [batch, batch]).
            raise ValueError(f"true_expected_count must have shape {shape}, got {a.shape}")
        if a.ndim > 2 or any(d not in (1, t) for d, t in zip(a.shape[::-1], shape[::-1])):
            raise ValueError(f"true_expected_count must have shape {shape}, got {a.shape}")
        a = np.broadcast_to(a, shape)
    return _floats(a, "true_expected_count", shape, dtype).reshape(-1)


def _sampled_expected(value, num_candidates, dtype):
    """``sampled_expected_count`` as a contiguous ``[num_candidates]`` vector.

    Accepted as in TF: ``[S]``, ``[1, S]``, ``[1]``, ``[1, 1]``, a scalar.
    Per-example shapes (``[batch, S]``, ``[batch, 1]``), which TF applies
    row by row, raise: the candidates and their counts are shared by the
    whole batch here.
    """
    shape = (num_candidates,)
    if (type(value) is np.ndarray and value.shape == shape and value.dtype == dtype
            and value.flags.c_contiguous and value.flags.aligned):
        return value  # what the samplers return
    a = value if type(value) is np.ndarray else np.asarray(value)
    if a.dtype.kind not in "fiu" and not _is_bf16_dtype(a.dtype):  # bool is kind "b"
        raise TypeError(f"sampled_expected_count must hold numbers, got dtype {a.dtype}")
    if a.shape != shape:
        if a.ndim > 2 or (a.ndim == 2 and a.shape[0] != 1) or (
                a.ndim >= 1 and a.shape[-1] not in (1, num_candidates)):
            raise ValueError(f"sampled_expected_count must have shape {shape}, got {a.shape}")
        a = np.broadcast_to(a.reshape(-1) if a.ndim == 2 else a, shape)
    return _floats(a, "sampled_expected_count", shape, dtype)


def _label_ids(labels, name="labels"):
    """Label ids as int64. Floating-point labels are accepted when every value
    is an integer (TF casts labels to int64); a fractional, NaN or infinite
    label raises where TF would truncate it silently."""
    a = labels if type(labels) is np.ndarray else np.asarray(labels)
    if a.dtype.kind == "f" and a.size:
        f = a.astype(np.float64, copy=False)  # float16 cannot hold 2**63
        bad = ~np.isfinite(f) | (f != np.trunc(f)) | (np.abs(f) >= _INT64_LIMIT)
        if bad.any():
            v = f[bad].flat[0]
            raise ValueError(f"{name} must hold integer values: got {float(v)!r} (TF would truncate "
                             "a float label toward zero silently)")
        a = a.astype(np.int64)
    return as_ids(a, name)


def _labels_matrix(labels, num_true):
    a = _label_ids(labels)
    if a.ndim == 1 and num_true == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[1] != num_true:
        raise ValueError(f"labels must have shape [batch_size, num_true={num_true}], got {a.shape}")
    return a


def _true_target(value) -> float:
    """NCE's target of the true columns; 0.0 stands for TF's ``1 / num_true``."""
    if value is None:
        return 0.0
    if not (np.isfinite(value) and value > 0):
        raise ValueError("true_target must be a positive number")
    return float(value)


def _unpack_sampled_values(sampled_values):
    try:
        sampled, tec, sec = sampled_values
    except (TypeError, ValueError):
        raise ValueError("sampled_values must be a triple (sampled_candidates, "
                         "true_expected_count, sampled_expected_count)") from None
    return as_ids(sampled, "sampled_candidates", ndim=1), tec, sec


class _Batch(NamedTuple):
    """One batch, validated and converted for the kernel."""

    labels: np.ndarray  #: int64 [batch * num_true]
    sampled: np.ndarray  #: int64 [S]
    tec: np.ndarray | None  #: [batch * num_true] in the computing dtype (None: no log-Q)
    sec: np.ndarray | None  #: [S] in the computing dtype (None: no log-Q)
    upstream: np.ndarray | None  #: flattened cotangent in the computing dtype, or None


def _prepare(*, kind, x, labels, num_true, sampled_values, draw, subtract_log_q, upstream,
             want_grads, num_sampled=None) -> _Batch:
    """The preparation shared by the loss functions and :meth:`SampledLoss.step`.

    ``x`` is the validated inputs matrix; ``labels`` are coerced to
    ``[batch, num_true]`` int64; ``draw(labels)`` gives the sampled values
    when ``sampled_values`` is None. With explicit sampled values every
    candidate is used, whatever ``num_sampled`` says (TF's rule), except
    that ``num_sampled`` given here must equal their number: the functions
    pass it when ``remove_accidental_hits`` is on, where TF's mask has
    ``num_sampled`` columns and a different count errors or broadcasts
    the mask over the wrong columns.
    """
    batch = x.shape[0]
    lab = _labels_matrix(labels, num_true)
    if lab.shape[0] != batch:
        raise ValueError(f"labels have {lab.shape[0]} rows but inputs have {batch}")
    if sampled_values is None:
        sampled, tec, sec = draw(lab)
    else:
        sampled, tec, sec = _unpack_sampled_values(sampled_values)
        if num_sampled is not None and sampled.shape[0] != num_sampled:
            raise ValueError(
                f"sampled_candidates has {sampled.shape[0]} entries but num_sampled="
                f"{num_sampled}, which must agree with remove_accidental_hits=True (TF masks "
                f"hits in a [batch, num_sampled] grid)")
    if subtract_log_q:
        tec = _true_expected(tec, batch, num_true, x.dtype)
        sec = _sampled_expected(sec, sampled.shape[0], x.dtype)
    else:
        tec = sec = None
    if upstream is not None:
        shape = (batch, num_true + sampled.shape[0]) if kind == LossKind.LOGITS else (batch,)
        upstream = _floats(upstream, "upstream", shape, x.dtype).reshape(-1)
    elif kind == LossKind.LOGITS and want_grads:
        upstream = np.ones(batch * (num_true + sampled.shape[0]), dtype=x.dtype)
    return _Batch(lab.reshape(-1), sampled, tec, sec, upstream)


def _compute(kind, *, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
             sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
             want_grads, upstream, num_threads, mask_all_duplicates, true_target, want_logits):
    """``(loss, logits, grads)`` of one loss-function call (see the public functions)."""
    bf16 = _is_bf16(inputs)
    threads = resolve_num_threads(num_threads)
    x = _inputs_matrix(inputs, threads, keep_bf16=True)
    num_true = check_attr_min(num_true, "num_true")
    if sampled_values is None:
        num_sampled = check_attr_min(num_sampled, "num_sampled")
    elif remove_accidental_hits:
        num_sampled = check_attr_min(num_sampled, "num_sampled", minimum=0)
    else:
        num_sampled = None  # only sizes a draw (TF's rule)
    params = _Params(weights, biases, partition_strategy)
    params.check_dim(x)

    def draw(lab):
        n = check_attr_min(num_classes, "num_classes")
        return log_uniform_candidate_sampler(lab, num_true, num_sampled, True, n, seed)

    batch = _prepare(kind=kind, x=x, labels=labels, num_true=num_true,
                     sampled_values=sampled_values, draw=draw, subtract_log_q=subtract_log_q,
                     upstream=upstream, want_grads=want_grads,
                     num_sampled=None if sampled_values is None else num_sampled)
    xin, x16 = _run_inputs(x)
    result = _losses._run(
        kind, xin, batch.labels, num_true, batch.sampled, batch.tec, batch.sec, params.w_view,
        params.b_view, subtract_log_q=bool(subtract_log_q),
        remove_accidental_hits=bool(remove_accidental_hits),
        mask_all_duplicates=bool(mask_all_duplicates), true_target=_true_target(true_target),
        upstream=batch.upstream, want_grads=bool(want_grads), want_logits=bool(want_logits),
        num_threads=threads, **params.bf16_rows, **x16)
    grads = params.grads(result, threads) if want_grads else None
    if bf16:
        grads = grads if grads is None else grads._replace(
            inputs=_like_inputs(grads.inputs, True, threads))
        return (_like_inputs(result.loss, True), _like_inputs(result.logits, True, threads),
                grads)
    return result.loss, result.logits, grads


_COMMON_PARAMS = """
    Parameters
    ----------
    weights : ndarray or list of ndarray
        ``[num_classes, dim]`` class embeddings, or a list of row shards.
    biases : ndarray or list of ndarray or None
        ``[num_classes]`` class biases, or a list of shards, or None.
    labels : array_like of int
        ``[batch_size, num_true]`` target classes (``[batch_size]`` allowed
        when ``num_true == 1``); integral floats are accepted (TF's cast).
    inputs : ndarray
        ``[batch_size, dim]`` forward activations (float32 or float64).
    num_sampled : int
        Number of classes to sample per batch (shared by all examples).
        With explicit ``sampled_values`` it is not used (TF), except that
        ``remove_accidental_hits=True`` needs it to equal their number.
    num_classes : int
        Number of possible classes; only used by the default sampler.
    num_true : int
        Number of target classes per example.
    sampled_values : tuple, optional
        ``(sampled_candidates, true_expected_count, sampled_expected_count)``;
        None samples with the log-uniform sampler (``unique=True``). The
        expected counts may take the shapes TF broadcasts (module docstring).
    remove_accidental_hits : bool
        Mask sampled classes equal to one of the example's labels by adding
        ``-FLT_MAX`` to their logits (TF's rule: for a duplicated sampled id
        only its last position is masked, see ``mask_all_duplicates``).
    partition_strategy : {"mod", "div"}
        How ids map to shards when there is more than one.
    seed : None, int or (int, int)
        Seed of the default sampler (see :mod:`pysampled.samplers`).
    name : ignored (TF compatibility).
    return_grads : bool
        Also return a :class:`LossGrads` with the gradients of
        ``sum(upstream * loss)``.
    upstream : array_like, optional
        ``[batch_size]`` per-example weights of the loss for the gradients
        (default ones).
    num_threads : int, optional
        None: what OpenMP allows; -1: all cores.
    mask_all_duplicates : bool
        With ``remove_accidental_hits``, mask every position of a duplicated
        sampled id (TF masks only the last one).
"""


# ---- beyond TF (issue 11): ragged labels and per-example negatives, see _rowwise
_BEYOND_TF_PARAMS = """    label_row_splits : array_like of int, optional
        Ragged labels (beyond TF): int64 ``[batch_size + 1]`` row splits in
        the ``tf.RaggedTensor`` convention (start at 0, non-decreasing, end
        at ``len(labels)``); ``labels`` is then the flat 1-D array of all true
        classes, example ``i`` owns ``labels[s[i]:s[i+1]]`` (``n_i >= 1``;
        an empty row raises ValueError naming the example) and ``num_true``
        must be left unset. Each of example ``i``'s ``n_i`` true columns has
        target ``1/n_i``; ``true_expected_count`` (given) is flat
        ``[len(labels)]``. This is not a padded TF call with
        ``num_true = max n_i``: padding by repeating ids adds weight to the
        repeated ids.
    negatives : {"shared", "per_example"}
        "shared" (TF): one set of sampled classes for the batch.
        "per_example" (beyond TF): without ``sampled_values``, each example
        draws its own ``num_sampled`` classes from
        ``LogUniformSampler(num_classes, seed).sample_bulk((batch, S))``
        (with replacement, the same for any thread count), with expected
        counts ``S * p(c)`` (``p`` the sampler's single-draw probability,
        for the sampled and the true classes). A 2-D ``sampled_candidates``
        ``[batch, S]`` in ``sampled_values`` (with ``sampled_expected_count``
        ``[batch, S]``) means per-example negatives too. With either
        beyond-TF option, example ``i``'s sampled logits are
        ``((x_i . w_c + b_c) + m) - log(expected_count)`` over its own
        candidates, with ``m = -FLT_MAX`` on *every* sampled column equal
        to any of its labels (when accidental hits are removed;
        ``mask_all_duplicates`` is implied); gradients are deduplicated
        sparse rows as usual.
"""
# ----


def _doc(extra=""):
    def deco(fn):
        fn.__doc__ = fn.__doc__.replace("    %(params)s\n", _COMMON_PARAMS.strip("\n") + "\n" + extra)
        return fn
    return deco


@_doc("""    true_target : float, optional
        Target of each true column. None (TF) uses ``1 / num_true``, which
        also pushes the true logits *down* when ``num_true > 1``
        (tensorflow/tensorflow#10267); 1.0 gives plain multi-label NCE.
""" + _BEYOND_TF_PARAMS)
def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             seed=None, name=None, *, return_grads=False, upstream=None, num_threads=None,
             mask_all_duplicates=False, true_target=None, label_row_splits=None,
             negatives="shared"):
    """Noise-contrastive estimation loss, per example (``tf.nn.nce_loss``).

    %(params)s
    Returns
    -------
    loss : ndarray ``[batch_size]``
        ``sum_j max(x_j, 0) - x_j z_j + log1p(exp(-|x_j|))`` over the logits
        ``x`` of :func:`compute_sampled_logits` (log-Q corrected) and targets
        ``z`` (``1/num_true`` on the true columns, 0 on the sampled ones).
    grads : LossGrads
        Only with ``return_grads=True``.

    Notes
    -----
    ``partition_strategy`` defaults to TF 1's "mod"; ``tf.nn.nce_loss`` in
    TF 2 always uses "div". TF's NCE has no ``seed`` argument.
    """
    if _rowwise.is_rowwise(label_row_splits, negatives, sampled_values):  # beyond TF (issue 11)
        loss, _, grads = _rowwise.run_loss(
            LossKind.NCE, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
            sampled_values, True, remove_accidental_hits, partition_strategy, seed, return_grads,
            upstream, num_threads, true_target, False, label_row_splits, negatives)
        return (loss, grads) if return_grads else loss
    loss, _, grads = _compute(
        LossKind.NCE, weights=weights, biases=biases, labels=labels, inputs=inputs,
        num_sampled=num_sampled, num_classes=num_classes, num_true=num_true,
        sampled_values=sampled_values, subtract_log_q=True,
        remove_accidental_hits=remove_accidental_hits, partition_strategy=partition_strategy,
        seed=seed, want_grads=return_grads, upstream=upstream, num_threads=num_threads,
        mask_all_duplicates=mask_all_duplicates, true_target=true_target, want_logits=False)
    return (loss, grads) if return_grads else loss


@_doc(_BEYOND_TF_PARAMS)
def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", seed=None, name=None, *, return_grads=False,
                         upstream=None, num_threads=None, mask_all_duplicates=False,
                         label_row_splits=None, negatives="shared"):
    """Sampled softmax cross-entropy, per example (``tf.nn.sampled_softmax_loss``).

    %(params)s
    Returns
    -------
    loss : ndarray ``[batch_size]``
        ``logsumexp(x) - mean(x_true)`` over the logits of
        :func:`compute_sampled_logits` (log-Q corrected, accidental hits
        masked by default).
    grads : LossGrads
        Only with ``return_grads=True``.

    Notes
    -----
    ``partition_strategy`` defaults to TF 1's "mod"; TF 2 always uses "div".
    """
    if _rowwise.is_rowwise(label_row_splits, negatives, sampled_values):  # beyond TF (issue 11)
        loss, _, grads = _rowwise.run_loss(
            LossKind.SOFTMAX, weights, biases, labels, inputs, num_sampled, num_classes,
            num_true, sampled_values, True, remove_accidental_hits, partition_strategy, seed,
            return_grads, upstream, num_threads, None, False, label_row_splits, negatives)
        return (loss, grads) if return_grads else loss
    loss, _, grads = _compute(
        LossKind.SOFTMAX, weights=weights, biases=biases, labels=labels, inputs=inputs,
        num_sampled=num_sampled, num_classes=num_classes, num_true=num_true,
        sampled_values=sampled_values, subtract_log_q=True,
        remove_accidental_hits=remove_accidental_hits, partition_strategy=partition_strategy,
        seed=seed, want_grads=return_grads, upstream=upstream, num_threads=num_threads,
        mask_all_duplicates=mask_all_duplicates, true_target=None, want_logits=False)
    return (loss, grads) if return_grads else loss


def sampled_sparse_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                                sampled_values=None, remove_accidental_hits=True,
                                partition_strategy="mod", name=None, *, seed=None,
                                return_grads=False, upstream=None, num_threads=None,
                                mask_all_duplicates=False):
    """Sampled softmax with one label per example (TF contrib's
    ``sampled_sparse_softmax_loss``).

    ``labels`` is ``[batch_size]`` or ``[batch_size, 1]``; numerically this
    is :func:`sampled_softmax_loss` with ``num_true=1``. Unlike TF, a batch
    of one example works. Other arguments as :func:`sampled_softmax_loss`.
    """
    lab = _label_ids(labels)
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab.reshape(-1)
    if lab.ndim != 1:
        raise ValueError(f"labels must have shape [batch_size] or [batch_size, 1], got {lab.shape}")
    return sampled_softmax_loss(weights, biases, lab.reshape(-1, 1), inputs, num_sampled,
                                num_classes, num_true=1, sampled_values=sampled_values,
                                remove_accidental_hits=remove_accidental_hits,
                                partition_strategy=partition_strategy, seed=seed,
                                return_grads=return_grads, upstream=upstream,
                                num_threads=num_threads, mask_all_duplicates=mask_all_duplicates)


def rank_sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_resampled,
                              num_classes, num_true, sampled_values, resampling_temperature,
                              remove_accidental_hits, partition_strategy, name=None, *, seed=None,
                              return_grads=False, upstream=None, num_threads=None,
                              mask_all_duplicates=False):
    """Sampled softmax with rank-based adaptive resampling (TF 1.15 contrib's
    ``tf.contrib.nn.rank_sampled_softmax_loss``, TAPAS, arXiv:1707.03073).

    Two phases, as in TF: ``num_sampled`` candidates come from
    ``sampled_values`` (default: :func:`learned_unigram_candidate_sampler`
    with ``unique=True``, ``range_max=num_classes`` and ``seed``); each
    candidate ``c`` is scored ``logsumexp_j(w_c . (x_j / T)) + b_c / T`` over
    the examples ``j`` of the batch (``T = resampling_temperature``), and the
    ``num_resampled`` best-scored candidates, with their sampled expected
    counts, are the sampled values of :func:`sampled_softmax_loss`.

    Parameters
    ----------
    weights, biases, labels, inputs, num_classes, num_true, remove_accidental_hits :
        As for :func:`sampled_softmax_loss` (all required, as in TF).
        ``biases`` may be None here (no bias), which TF does not accept.
    num_sampled : int
        Candidates of the first phase; must not exceed ``num_classes``.
    num_resampled : int
        Candidates kept; must be less than ``num_sampled`` (and at most the
        number of candidates given in ``sampled_values``).
    sampled_values : tuple or None
        ``(sampled_candidates, true_expected_count, sampled_expected_count)``
        or None for the default sampler.
    resampling_temperature : float
        Lower is more adaptive. Must be finite and nonzero (TF divides by it
        without a check and ranks NaN scores).
    partition_strategy : {"mod", "div"}
        Required and checked even for one shard, as in TF.
    seed : None, int or (int, int)
        Seed of the default sampler (TF's contrib function has none).
    return_grads, upstream, num_threads, mask_all_duplicates :
        As for :func:`sampled_softmax_loss`.

    Returns
    -------
    loss : ndarray ``[batch_size]``
    grads : LossGrads
        Only with ``return_grads=True``: the gradients of the final sampled
        softmax; the selection has none (TF stops the gradient at the
        sampled values, and top-k indices carry none).

    Raises
    ------
    ValueError
        TF's errors: ``num_sampled (S) cannot be greater than num_classes
        (C)``, ``num_resampled (R) must be less than num_sampled (S)``,
        ``unsupported partition_strategy (P)``, in that order.

    Notes
    -----
    Ties of the score keep the lower candidate position (TF's ``top_k``
    rule); the kept candidates stay in their sampled order. TF's
    ``top_k(sorted=False)`` leaves their order unspecified: the loss does
    not depend on it, except through TF's duplicate-hit rule (only the last
    position of a duplicated sampled id is masked). NaN scores rank last.
    """
    num_sampled = as_int(num_sampled, "num_sampled")
    num_resampled = as_int(num_resampled, "num_resampled")
    num_classes = as_int(num_classes, "num_classes")
    if num_sampled > num_classes:
        raise ValueError(f"num_sampled ({num_sampled}) cannot be greater than num_classes "
                         f"({num_classes})")
    if num_sampled <= num_resampled:
        raise ValueError(f"num_resampled ({num_resampled}) must be less than num_sampled "
                         f"({num_sampled})")
    if partition_strategy not in ("div", "mod"):
        raise ValueError(f"unsupported partition_strategy ({partition_strategy})")
    if num_resampled < 0:
        raise ValueError(f"num_resampled must be at least 0, got {num_resampled}")
    num_true = check_attr_min(num_true, "num_true")
    t = float(resampling_temperature)
    if not (np.isfinite(t) and t != 0):
        raise ValueError(f"resampling_temperature must be finite and nonzero, got {t}")
    x = _inputs_matrix(inputs, resolve_num_threads(num_threads))
    params = _Params(weights, biases, partition_strategy)
    params.check_dim(x)
    lab = _labels_matrix(labels, num_true)
    if lab.shape[0] != x.shape[0]:
        raise ValueError(f"labels have {lab.shape[0]} rows but inputs have {x.shape[0]}")
    if sampled_values is None or (isinstance(sampled_values, (tuple, list))
                                  and len(sampled_values) == 0):  # TF: `if not sampled_values`
        sampled_values = learned_unigram_candidate_sampler(lab, num_true, num_sampled, True,
                                                           num_classes, seed)
    sampled, tec, sec = _unpack_sampled_values(sampled_values)
    if num_resampled > sampled.shape[0]:
        raise ValueError(f"num_resampled ({num_resampled}) is more than the "
                         f"{sampled.shape[0]} sampled candidates")
    sec = _sampled_expected(sec, sampled.shape[0], x.dtype)
    keep = _rank_resample(params, x, sampled, t, num_resampled)
    resampled = (sampled[keep], tec, sec[keep])
    # the caller's inputs (not x): bfloat16 inputs give a bfloat16 loss, as in every loss
    return sampled_softmax_loss(
        weights, biases, lab, inputs, num_resampled, num_classes, num_true=num_true,
        sampled_values=resampled, remove_accidental_hits=remove_accidental_hits,
        partition_strategy=partition_strategy, return_grads=return_grads, upstream=upstream,
        num_threads=num_threads, mask_all_duplicates=mask_all_duplicates)


def _rank_resample(params, x, sampled, temperature, k):
    """Positions (ascending) of the `k` candidates with the largest scores
    ``logsumexp_j(w_c . (x_j / T)) + b_c / T``, computed in the inputs' dtype
    in TF's order (inputs scaled first, biases added after the reduction)."""
    w, b = params.gather(sampled, x.dtype)  # validates the ids (IndexError)
    scaled = x / x.dtype.type(temperature)
    if x.shape[0] == 0:
        scores = np.full(sampled.shape[0], -np.inf, dtype=x.dtype)
    else:
        z = w @ scaled.T  # [S, B]
        top = np.max(z, axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            scores = np.log(np.sum(np.exp(z - top), axis=1)) + top[:, 0]
    with np.errstate(over="ignore", invalid="ignore"):
        scores = scores + b / x.dtype.type(temperature)
    # Largest first; ties (and equal NaNs) keep the lower position; NaN last.
    order = np.lexsort((np.arange(scores.shape[0]), np.isnan(scores),
                        -np.nan_to_num(scores, nan=0.0, posinf=np.inf, neginf=-np.inf)))
    return np.sort(order[:k])


@_doc()
def compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                           sampled_values=None, subtract_log_q=True, remove_accidental_hits=False,
                           partition_strategy="mod", seed=None, name=None, *, return_grads=False,
                           upstream=None, num_threads=None, mask_all_duplicates=False,
                           negatives="shared"):
    """Logits and labels for a sampled loss (TF's ``_compute_sampled_logits``).

    %(params)s
    subtract_log_q : bool
        Subtract ``log(expected_count)`` from every logit (TF's correction
        for the sampling distribution). False gives the logits of
        "negative sampling".
    negatives : {"shared", "per_example"}
        Beyond TF: "per_example" (or a 2-D ``sampled_candidates``
        ``[batch, S]``) scores example ``i`` against its own row of
        candidates, as for :func:`sampled_softmax_loss`; the logits are
        still ``[batch_size, num_true + num_sampled]``.

    With ``return_grads=True``, ``upstream`` is the cotangent of the logits,
    ``[batch_size, num_true + num_sampled]`` (default ones), and the
    gradients are those of ``sum(upstream * logits)``; the accidental-hit
    mask is a constant, so masked columns still pass gradient (as in TF).

    Returns
    -------
    logits : ndarray ``[batch_size, num_true + num_sampled]``
        True columns first (in label order), then one column per sampled
        class: ``x . w_c + b_c - log(expected_count_c)``, masked hits at
        ``-FLT_MAX`` (exactly, in float32 and float64).
    labels : ndarray ``[batch_size, num_true + num_sampled]``
        ``1 / num_true`` on the true columns, 0 elsewhere.
    grads : LossGrads
        Only with ``return_grads=True``.
    """
    if _rowwise.is_rowwise(None, negatives, sampled_values):  # beyond TF (issue 11)
        _, logits, grads = _rowwise.run_loss(
            LossKind.LOGITS, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
            sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
            return_grads, upstream, num_threads, None, True, None, negatives)
    else:
        _, logits, grads = _compute(
            LossKind.LOGITS, weights=weights, biases=biases, labels=labels, inputs=inputs,
            num_sampled=num_sampled, num_classes=num_classes, num_true=num_true,
            sampled_values=sampled_values, subtract_log_q=subtract_log_q,
            remove_accidental_hits=remove_accidental_hits, partition_strategy=partition_strategy,
            seed=seed, want_grads=return_grads, upstream=upstream, num_threads=num_threads,
            mask_all_duplicates=mask_all_duplicates, true_target=None, want_logits=True)
    nt = check_attr_min(num_true, "num_true")
    out_labels = np.zeros(logits.shape, dtype=logits.dtype)
    out_labels[:, :nt] = 1.0 / nt
    return (logits, out_labels, grads) if return_grads else (logits, out_labels)


class StepResult(NamedTuple):
    """What :meth:`SampledLoss.step` returns."""

    loss: np.ndarray  #: ``[batch_size]`` per-example loss before the update
    inputs_grad: np.ndarray  #: ``[batch_size, dim]`` gradient for the layers below


class SampledLoss:
    """A sampled loss over fixed class weights, for training loops.

    Holds the (possibly sharded) weights and biases, a sampler and the loss
    settings once; each call samples ``num_sampled`` classes for the batch
    and computes the loss, and :meth:`step` also updates the weights and
    biases **in place** with SGD or Adagrad in the same fused pass.

    Parameters
    ----------
    weights, biases : ndarray or list of ndarray
        As for :func:`sampled_softmax_loss` (biases may be None). For
        :meth:`step` they must be writable and of the computing dtype
        (float64 for float64 inputs, else float32) or bfloat16 with float32
        computing (float32 or bfloat16 inputs); they are updated in place,
        never copied. bfloat16 rows are updated in float32 and rounded back
        as set by ``bf16_rounding``.
    num_sampled : int
        Classes sampled per batch (shared by its examples).
    loss : {"sampled_softmax", "nce"}
    num_true : int
        Labels per example.
    sampler : CandidateSampler, optional
        Default: :class:`~pysampled.LogUniformSampler` over all rows of the
        weights with ``seed`` (TF's default sampler). Any pysampled sampler
        works; its stream advances with every call.
    unique : bool
        Sample without replacement within a batch (TF's default).
    remove_accidental_hits : bool, optional
        Default: True for sampled softmax, False for NCE (TF's defaults).
    subtract_log_q : bool
        TF's correction of the logits by the sampling probability.
    partition_strategy : {"mod", "div"}
    optimizer : {"sgd", "adagrad"}
        Adagrad keeps one accumulator per weight, starting at
        ``initial_accumulator_value``, and updates
        ``w -= lr * g / (sqrt(acc) + epsilon)`` after ``acc += g * g``.
        Accumulators have the weights' dtype, float32 for bfloat16 weights,
        and the update is computed in that dtype: in float32 a ``g * g``
        above 3.4e38 makes the accumulator ``inf`` and stops the row, as
        TF's float32 Adagrad does.
    learning_rate : float
    hogwild : bool
        False (default): each class's contributions are summed first and
        every row is updated by one thread, so the same seed gives the same
        bits for any thread count. True: contributions are applied as they
        come, from all threads without locks; a little faster, but racing
        updates to the same row may be lost and results depend on timing.
    num_threads : int, optional
        None: what OpenMP allows; -1: all cores.
    seed : None, int or (int, int)
        Seed of the default sampler.
    mask_all_duplicates, true_target :
        As for :func:`nce_loss` / :func:`sampled_softmax_loss`.
    bf16_rounding : {"nearest", "stochastic"}
        How :meth:`step` rounds updated bfloat16 rows (and biases) back from
        float32: "nearest" (default), round to nearest, ties to even (NumPy /
        ml_dtypes' cast); "stochastic": round up with probability equal to
        the dropped fraction, so that small updates survive on average. The
        random bits are a hash of (``rounding_seed``, step number, class id,
        column): deterministic and independent of the thread count. Ignored
        for float32/float64 rows.
    rounding_seed : int
        Seed of stochastic rounding.
    negatives : {"shared", "per_example"}
        Beyond TF: "per_example" draws ``[batch, num_sampled]`` classes per
        call with ``sampler.sample_bulk`` (expected counts ``S * p(c)``), see
        :func:`sampled_softmax_loss`. :meth:`__call__` and :meth:`step` also
        take ``label_row_splits=`` (ragged labels; ``num_true`` is then
        ignored). On these paths :meth:`step` computes the deduplicated
        gradient in C++ and applies SGD/Adagrad with NumPy (same formulas,
        deterministic; ``hogwild`` has no effect).
    grad_precision : {"float32", "bfloat16"}
        "float32" (default): every gradient product is float32 arithmetic.
        "bfloat16" (float32 computing, shared negatives): the sampled columns
        of dLoss/dlogits are rounded to bfloat16 (nearest, ties to even;
        float32 subnormals to zero) before the input-gradient product
        ``dX = G Ws``, the weight-gradient product ``dWs = G^T X`` and the
        bias gradient read them, with float32 accumulation, as in
        mixed-precision training. With bfloat16 weights, bfloat16-valued
        inputs and a CPU with AMX-BF16 (Intel Sapphire Rapids and later) the
        products then run on AMX tiles (2.0-2.4x the float32 call at
        ``num_sampled`` >= 512 on one thread of an Intel Xeon), on AMD CPUs
        with AVX512-BF16 (Zen 4 and later) on ``vdpbf16ps`` (1.6-1.7x on a
        Zen 4); other machines compute the same sums with float32 kernels
        (Intel's ``vdpbf16ps`` is slower than its float32 FMAs). The loss,
        the logits and the true columns' gradients are not rounded. Results
        differ from "float32" by about 2**-9 relative per gradient term.
    """

    def __init__(self, weights, biases=None, *, num_sampled, loss="sampled_softmax", num_true=1,
                 sampler=None, unique=True, remove_accidental_hits=None, subtract_log_q=True,
                 partition_strategy="mod", optimizer="sgd", learning_rate=0.1,
                 initial_accumulator_value=_losses.ADAGRAD_INITIAL_ACCUMULATOR,
                 epsilon=_losses.ADAGRAD_EPSILON, hogwild=False, num_threads=None,
                 seed=None, mask_all_duplicates=False, true_target=None, bf16_rounding="nearest",
                 rounding_seed=0, negatives="shared", grad_precision="float32"):
        from .samplers import CandidateSampler, LogUniformSampler

        self.negatives = _rowwise.check_negatives(negatives)  # beyond TF (issue 11)
        if grad_precision not in ("float32", "bfloat16"):
            raise ValueError(f"grad_precision must be 'float32' or 'bfloat16', got {grad_precision!r}")
        if grad_precision == "bfloat16" and self.negatives != "shared":
            raise ValueError("grad_precision='bfloat16' needs negatives='shared'")
        self.grad_precision = grad_precision
        self._bf16_grads = grad_precision == "bfloat16"

        if loss not in ("sampled_softmax", "nce"):
            raise ValueError(f"loss must be 'sampled_softmax' or 'nce', got {loss!r}")
        if optimizer not in ("sgd", "adagrad"):
            raise ValueError(f"optimizer must be 'sgd' or 'adagrad', got {optimizer!r}")
        if bf16_rounding not in ("nearest", "stochastic"):
            raise ValueError(f"bf16_rounding must be 'nearest' or 'stochastic', got {bf16_rounding!r}")
        self.bf16_rounding = bf16_rounding
        self._rounding = 0 if bf16_rounding == "nearest" else 1
        self.rounding_seed = int(rounding_seed) & (2**64 - 1)
        self._steps = 0  # stochastic rounding's stream position
        # The model is validated once, here; step() only checks what a caller
        # can change between calls (the arrays' writeable flags).
        self._params = _Params(weights, biases, partition_strategy)
        self._w, self._b = self._params.w, self._params.b
        dtypes = {a.dtype for a in self._w + (self._b or [])}
        # The computing dtypes step() accepts: the parameters' one dtype, or
        # float32 for bfloat16 (mixed with float32) parameters.
        if all(d == np.float32 or _is_bf16_dtype(d) for d in dtypes):
            self._step_dtype = np.dtype(np.float32)
        else:
            self._step_dtype = dtypes.pop() if len(dtypes) == 1 else None
        self.loss = loss
        self._kind = LossKind.SOFTMAX if loss == "sampled_softmax" else LossKind.NCE
        self.num_sampled = check_attr_min(num_sampled, "num_sampled")
        self.num_true = check_attr_min(num_true, "num_true")
        self.unique = bool(unique)
        self.remove_accidental_hits = (loss == "sampled_softmax" if remove_accidental_hits is None
                                       else bool(remove_accidental_hits))
        self.subtract_log_q = bool(subtract_log_q)
        self.partition_strategy = partition_strategy
        self.optimizer = optimizer
        self._optimizer = Optimizer.SGD if optimizer == "sgd" else Optimizer.ADAGRAD
        self.learning_rate = float(learning_rate)
        self.epsilon = float(epsilon)
        self.hogwild = bool(hogwild)
        self.num_threads = num_threads
        self.mask_all_duplicates = bool(mask_all_duplicates)
        self._target = _true_target(true_target)
        self.true_target = true_target
        total_rows = self._params.w_view.total_rows
        if sampler is None:
            sampler = LogUniformSampler(total_rows, seed=seed)
        elif not isinstance(sampler, CandidateSampler):
            raise TypeError("sampler must be a pysampled CandidateSampler")
        if sampler.range_max > total_rows:
            raise ValueError(f"the sampler draws from {sampler.range_max} classes but the weights "
                             f"have {total_rows} rows")
        self.sampler = sampler
        self._accum_w = self._accum_b = None
        self._accum_w_view = self._accum_b_view = None
        if optimizer == "adagrad":
            init = float(initial_accumulator_value)
            if not init > 0:
                raise ValueError("initial_accumulator_value must be positive")
            self._accum_w = [np.full(a.shape, init, dtype=_compute_dtype(a.dtype)) for a in self._w]
            self._accum_b = None if self._b is None else [
                np.full(a.shape, init, dtype=_compute_dtype(a.dtype)) for a in self._b]
            self._accum_w_view = _losses.Shards(self._accum_w, self._params.w_div)
            self._accum_b_view = (None if self._accum_b is None
                                  else _losses.Shards(self._accum_b, self._params.b_div))

    @property
    def weights(self) -> list:
        """The weight shards (the caller's arrays, updated in place by :meth:`step`)."""
        return list(self._w)

    @property
    def biases(self) -> list | None:
        """The bias shards (the caller's arrays), or None."""
        return None if self._b is None else list(self._b)

    @property
    def accumulators(self):
        """Adagrad accumulators ``(weights, biases)`` as lists of arrays, or None for SGD."""
        return None if self._accum_w is None else (self._accum_w, self._accum_b)

    def sample(self, labels):
        """Draw this batch's sampled values from the sampler."""
        lab = _labels_matrix(labels, self.num_true)
        return self.sampler.sample(lab, self.num_sampled, self.unique)

    def _draw(self, lab):  # `lab` already validated by _prepare
        return self.sampler.sample(lab, self.num_sampled, self.unique)

    def _batch(self, labels, x, sampled_values, upstream, want_grads, sep=","):
        self._params.check_dim(x, sep)
        return _prepare(kind=self._kind, x=x, labels=labels, num_true=self.num_true,
                        sampled_values=sampled_values, draw=self._draw,
                        subtract_log_q=self.subtract_log_q, upstream=upstream,
                        want_grads=want_grads,
                        # the functions' rule: counts must agree when hits are masked
                        num_sampled=self.num_sampled if self.remove_accidental_hits else None)

    def _check_rowwise_precision(self):
        if self._bf16_grads:
            raise ValueError("grad_precision='bfloat16' applies to shared negatives; ragged labels "
                             "and per-example sampled_values use float32 products")

    def _kernel(self, x, batch, *, want_grads, **update):
        """One kernel call on a prepared batch (``update``: step()'s optimizer arguments)."""
        if self._bf16_grads and want_grads and x.dtype != np.float32:
            raise TypeError("grad_precision='bfloat16' needs float32 computing (float32 or "
                            f"bfloat16 inputs), got {x.dtype} inputs")
        xin, x16 = _run_inputs(x)
        return _losses._run(
            self._kind, xin, batch.labels, self.num_true, batch.sampled, batch.tec, batch.sec,
            self._params.w_view, self._params.b_view, subtract_log_q=self.subtract_log_q,
            remove_accidental_hits=self.remove_accidental_hits,
            mask_all_duplicates=self.mask_all_duplicates, true_target=self._target,
            upstream=batch.upstream, want_grads=want_grads, want_logits=False,
            num_threads=resolve_num_threads(self.num_threads), bf16_grads=self._bf16_grads,
            **self._params.bf16_rows, **x16, **update)

    def __call__(self, labels, inputs, *, sampled_values=None, return_grads=False, upstream=None,
                 label_row_splits=None):
        """The per-example loss (and gradients), without updating anything.

        ``sampled_values`` given explicitly may hold any number of candidates
        (``num_sampled`` only sizes the sampler's draw), except with
        ``remove_accidental_hits``, where the counts must agree (the rule of
        the loss functions, after TF's)."""
        if _rowwise.is_rowwise(label_row_splits, self.negatives, sampled_values):  # beyond TF
            self._check_rowwise_precision()
            return _rowwise.sampled_loss_call(self, labels, inputs, sampled_values, return_grads,
                                              upstream, label_row_splits)
        bf16 = _is_bf16(inputs)
        threads = resolve_num_threads(self.num_threads)
        x = _inputs_matrix(inputs, threads, keep_bf16=True)
        batch = self._batch(labels, x, sampled_values, upstream, return_grads)
        result = self._kernel(x, batch, want_grads=bool(return_grads))
        if return_grads:
            grads = self._params.grads(result, threads)
            if bf16:
                grads = grads._replace(inputs=_like_inputs(grads.inputs, True, threads))
            return _like_inputs(result.loss, bf16), grads
        return _like_inputs(result.loss, bf16)

    def step(self, labels, inputs, *, learning_rate=None, upstream=None, sampled_values=None,
             label_row_splits=None):
        """Sample, compute the loss and its gradients, and update the weights
        and biases in place, in one pass.

        Returns
        -------
        StepResult
            ``(loss, inputs_grad)``: the loss before the update and the
            gradient of ``sum(upstream * loss)`` w.r.t. ``inputs``.
        """
        if _rowwise.is_rowwise(label_row_splits, self.negatives, sampled_values):  # beyond TF
            self._check_rowwise_precision()
            lr = self.learning_rate if learning_rate is None else float(learning_rate)
            return StepResult(*_rowwise.sampled_loss_call(
                self, labels, inputs, sampled_values, False, upstream, label_row_splits, lr))
        x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
        if not _is_shard_dtype(x.dtype) or x.ndim != 2:
            raise TypeError("inputs must be a 2-D float32 or float64 array")  # or bfloat16
        bf16 = _is_bf16_dtype(x.dtype)
        ct = _compute_dtype(x.dtype)
        if self._step_dtype is None or ct != self._step_dtype:  # (dtype == None is float64)
            bad = next(a.dtype for a in self._w + (self._b or [])
                       if a.dtype != ct and not (_is_bf16_dtype(a.dtype) and ct == np.float32))
            raise TypeError(f"step() updates in place: weights and biases must be {ct} like the "
                            f"inputs (their computing dtype; bfloat16 weights and biases need "
                            f"float32 or bfloat16 inputs), got {bad}")
        if not all(a.flags.writeable for a in self._w + (self._b or [])):
            raise ValueError("step() updates in place: weights and biases must be writable")
        threads = resolve_num_threads(self.num_threads)
        x = _Bf16Inputs(x) if bf16 else _computing_matrix(x, ct, threads)
        lr = self.learning_rate if learning_rate is None else float(learning_rate)
        batch = self._batch(labels, x, sampled_values, upstream, True, sep=", ")
        result = self._kernel(
            x, batch, want_grads=True, optimizer=self._optimizer, learning_rate=lr,
            epsilon=self.epsilon, weight_accum=self._accum_w_view, bias_accum=self._accum_b_view,
            hogwild=self.hogwild, rounding=self._rounding, rounding_seed=self.rounding_seed,
            rounding_step=self._steps)
        self._steps += 1
        if bf16:
            return StepResult(_like_inputs(result.loss, True),
                              _like_inputs(result.d_inputs, True, threads))
        return StepResult(result.loss, result.d_inputs)
