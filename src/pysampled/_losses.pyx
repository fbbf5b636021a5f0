# distutils: language = c++
"""Cython bindings of the C++ sampled-loss kernel.

Design: no policy here. `pysampled.losses` validates shapes, dtypes and ids'
types, resolves defaults and the sampler, and passes C-contiguous int64 ids,
inputs/expected counts in the computing dtype and lists of weight/bias
shards. This module wraps the shards zero-copy (keeping the arrays alive),
releases the GIL for the whole C++ call and returns NumPy arrays. The loss
kind and the optimizer cross the boundary as the named enums below, whose
values are the C++ enumerators'.
"""
import enum
from collections import namedtuple

import numpy as np

from libc.stdint cimport int64_t, uint16_t, uint64_t
from libc.string cimport memcpy
from libcpp.vector cimport vector

from pysampled._core cimport (
    DType, Partition, Rounding, SampledLossInput, SampledLossOutput, Shard, ShardedRows,
    SparseAdamStep, SparseUpdate, amx_bf16_available, amx_bf16_enabled, bf16_dot_available,
    bf16_dot_enabled, bf16_to_float_array, float_to_bf16_array, kAdagradEpsilon, kAdagradInitialAccumulator, sampled_loss,
    set_amx_bf16_enabled, set_bf16_dot_enabled, set_bf16_dot_grads_enabled,
    bf16_dot_grads_enabled, sparse_adam_rows, update_row,
)
from pysampled._core cimport LossKind as CLossKind
from pysampled._core cimport Optimizer as COptimizer

ctypedef fused floating:
    float
    double


class LossKind(enum.IntEnum):
    """What the kernel computes (the C++ ``LossKind``)."""
    LOGITS = <int>CLossKind.kLogits
    NCE = <int>CLossKind.kNce
    SOFTMAX = <int>CLossKind.kSoftmax


class Optimizer(enum.IntEnum):
    """The in-place update fused into a call (the C++ ``Optimizer``); NONE: no update."""
    NONE = -1
    SGD = <int>COptimizer.kSgd
    ADAGRAD = <int>COptimizer.kAdagrad


#: Adagrad's defaults (one home: sparse_update.hpp): the accumulators' start
#: value and the epsilon of ``lr * g / (sqrt(acc) + epsilon)``.
ADAGRAD_INITIAL_ACCUMULATOR = kAdagradInitialAccumulator
ADAGRAD_EPSILON = kAdagradEpsilon


#: What `_run` returns. Without gradients the last four fields are None; with an
#: update (optimizer not NONE) only ``d_inputs`` of the gradients comes back.
KernelResult = namedtuple(
    "KernelResult", ["loss", "logits", "d_inputs", "grad_ids", "grad_weights", "grad_biases"])


cdef class Shards:
    """A zero-copy view of a list of 1-D or 2-D float arrays as C++ ShardedRows
    (float32, float64 or, by its 2-byte items, ml_dtypes.bfloat16)."""
    cdef ShardedRows rows
    cdef object arrays  # keeps the buffers alive
    cdef readonly int64_t total_rows
    cdef readonly int64_t cols

    def __cinit__(self, list arrays, bint div):
        cdef vector[Shard] shards
        cdef Shard s
        cdef Py_ssize_t itemsize
        self.arrays = arrays
        for a in arrays:
            itemsize = a.itemsize
            s.data = <const void*><size_t>a.__array_interface__["data"][0]
            s.rows = a.shape[0]
            s.cols = a.shape[1] if a.ndim == 2 else 1
            s.row_stride = a.strides[0] // itemsize
            s.dtype = (DType.kFloat32 if itemsize == 4 else
                       DType.kBFloat16 if itemsize == 2 else DType.kFloat64)
            shards.push_back(s)
        self.rows = ShardedRows(shards, Partition.kDiv if div else Partition.kMod)
        self.total_rows = self.rows.total_rows()
        self.cols = self.rows.cols()


cdef inline const floating* _ptr(const floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def _run(kind, const floating[:, ::1] inputs, const int64_t[::1] labels, int64_t num_true,
         const int64_t[::1] sampled, const floating[::1] tec, const floating[::1] sec,
         Shards weights, Shards biases, bint subtract_log_q, bint remove_accidental_hits,
         bint mask_all_duplicates, double true_target, const floating[::1] upstream,
         bint want_grads, bint want_logits, int num_threads, optimizer=Optimizer.NONE,
         double learning_rate=0.0, double epsilon=0.0, Shards weight_accum=None,
         Shards bias_accum=None, bint hogwild=False, int rounding=0, uint64_t rounding_seed=0,
         uint64_t rounding_step=0, bint bf16_grads=False, bf16_weight_rows=None,
         bf16_bias_rows=None, inputs16=None):
    """One kernel call (``kind``: a `LossKind`), returning a `KernelResult`.

    With an ``optimizer`` other than NONE the gradient is applied in place to
    the weights/biases (which the caller checked are writable arrays of the
    computing dtype or bfloat16; bfloat16 rows are narrowed with ``rounding``
    0: to nearest even, 1: stochastic, from the stream (rounding_seed,
    rounding_step)). ``true_target`` 0 means NCE's ``1 / num_true``.
    ``bf16_grads`` (float32 computing): the gradient products read the
    sampled columns of dLoss/dlogits rounded to bfloat16.
    ``bf16_weight_rows`` / ``bf16_bias_rows`` (the bfloat16 dtype, float32
    computing): those gradient rows come back in it, narrowed by the kernel
    (the bits of ``astype``).
    ``inputs16`` (float32 computing): bfloat16 inputs, a C-contiguous 2-D
    array of the bfloat16 dtype, in place of ``inputs`` (then an empty
    float32 array that only selects the computing dtype): the kernel widens
    them while it gathers, and the input gradient comes back as bfloat16,
    narrowed by the kernel (the bits of ``astype``).
    """
    cdef int c_kind = kind  # IntEnum members convert without a lookup
    cdef int c_optimizer = optimizer
    if not (<int>CLossKind.kLogits <= c_kind <= <int>CLossKind.kSoftmax):
        raise ValueError(f"unknown loss kind {kind!r}")
    if not (c_optimizer == -1 or <int>COptimizer.kSgd <= c_optimizer <= <int>COptimizer.kAdagrad):
        raise ValueError(f"unknown optimizer {optimizer!r}")
    cdef bint update = c_optimizer != -1
    cdef SampledLossInput[floating] inp
    cdef SampledLossOutput[floating] out
    cdef SparseUpdate[floating] up
    cdef SparseUpdate[floating]* up_ptr = NULL
    cdef int64_t B = inputs.shape[0], D = inputs.shape[1], S = sampled.shape[0]
    dtype = np.float32 if floating is float else np.float64
    cdef const uint16_t[:, ::1] x16_v
    cdef uint16_t[:, ::1] dx16_v
    if inputs16 is not None:
        if floating is not float or inputs.size != 0:
            raise TypeError("bfloat16 inputs go with an empty float32 inputs array")
        x16_v = inputs16.view(np.uint16)
        B = x16_v.shape[0]
        D = x16_v.shape[1]
    cdef floating[::1] loss_v
    cdef floating[:, ::1] logits_v
    cdef floating[:, ::1] dx_v
    inp.kind = <CLossKind>c_kind
    inp.batch = B
    inp.dim = D
    inp.num_true = num_true
    inp.num_sampled = S
    if inputs16 is None:
        inp.inputs = &inputs[0, 0] if B > 0 and D > 0 else NULL
    else:
        inp.inputs = NULL
        inp.inputs_bf16 = &x16_v[0, 0] if B > 0 and D > 0 else NULL
    inp.inputs_stride = D
    inp.labels = &labels[0] if labels.shape[0] > 0 else NULL
    inp.sampled = &sampled[0] if S > 0 else NULL
    inp.true_expected = _ptr(tec) if tec is not None else NULL
    inp.sampled_expected = _ptr(sec) if sec is not None else NULL
    inp.weights = &weights.rows
    inp.biases = &biases.rows if biases is not None else NULL
    inp.subtract_log_q = subtract_log_q
    inp.remove_accidental_hits = remove_accidental_hits
    inp.mask_all_duplicates = mask_all_duplicates
    inp.true_target = <floating>true_target
    inp.upstream = _ptr(upstream) if upstream is not None else NULL
    inp.want_grads = want_grads
    inp.bf16_grads = bf16_grads
    inp.num_threads = num_threads

    loss = logits = dx = ids = gw = gb = None
    cdef int64_t cap = labels.shape[0] + S
    cdef int64_t[::1] ids_v
    cdef floating[:, ::1] gw_v
    cdef floating[::1] gb_v
    cdef uint16_t[:, ::1] gw16_v
    cdef uint16_t[::1] gb16_v
    if c_kind != <int>CLossKind.kLogits:
        loss = np.empty(B, dtype=dtype)
        loss_v = loss
        out.loss = &loss_v[0] if B > 0 else NULL
    if want_logits:
        logits = np.empty((B, num_true + S), dtype=dtype)
        logits_v = logits
        out.logits = &logits_v[0, 0] if logits.size > 0 else NULL
    if update:
        up.optimizer = <COptimizer>c_optimizer
        up.learning_rate = <floating>learning_rate
        up.epsilon = <floating>epsilon
        up.weights = &weights.rows
        up.biases = &biases.rows if biases is not None else NULL
        up.weight_accum = &weight_accum.rows if weight_accum is not None else NULL
        up.bias_accum = &bias_accum.rows if bias_accum is not None else NULL
        up.hogwild = hogwild
        up.rounding = <Rounding>rounding
        up.rounding_seed = rounding_seed
        up.rounding_step = rounding_step
        up_ptr = &up
    if want_grads and inputs16 is not None:
        dx = np.empty((B, D), dtype=np.uint16)
        dx16_v = dx
        out.d_inputs16 = &dx16_v[0, 0] if dx.size > 0 else NULL
        dx = dx.view(inputs16.dtype)
    elif want_grads:
        dx = np.empty((B, D), dtype=dtype)
        dx_v = dx
        out.d_inputs = &dx_v[0, 0] if dx.size > 0 else NULL
    if want_grads and not update:
        # Room for every row a batch can touch; the result is a view of the used part.
        ids = np.empty(cap, dtype=np.int64)
        ids_v = ids
        if cap > 0:
            out.grad_ids = &ids_v[0]
        if bf16_weight_rows is not None and floating is float:
            gw = np.empty((cap, D), dtype=np.uint16)
            gw16_v = gw
            if cap > 0 and D > 0:
                out.grad_weights16 = &gw16_v[0, 0]
            gw = gw.view(bf16_weight_rows)
        else:
            gw = np.empty((cap, D), dtype=dtype)
            gw_v = gw
            if cap > 0 and D > 0:
                out.grad_weights = &gw_v[0, 0]
        if biases is not None and bf16_bias_rows is not None and floating is float:
            gb = np.empty(cap, dtype=np.uint16)
            gb16_v = gb
            if cap > 0:
                out.grad_biases16 = &gb16_v[0]
            gb = gb.view(bf16_bias_rows)
        elif biases is not None:
            gb = np.empty(cap, dtype=dtype)
            gb_v = gb
            out.grad_biases = &gb_v[0] if cap > 0 else NULL
    with nogil:
        sampled_loss(inp, out, up_ptr)
    if not want_grads or update:
        return KernelResult(loss, logits, dx, None, None, None)
    cdef int64_t U = out.grad_rows
    return KernelResult(loss, logits, dx, ids[:U], gw[:U], gb[:U] if gb is not None else None)


def locate(const int64_t[::1] ids, shard_rows, bint div, str what="ids"):
    """``(shard, row)``: int64 arrays routing global class ids to shards of
    ``shard_rows`` rows with the kernel's own ``ShardedRows::locate``.

    The layout must be canonical for the strategy (ValueError otherwise) and
    ids must lie in ``[0, sum(shard_rows))`` (IndexError naming ``what``).
    """
    cdef bytes name = what.encode()
    cdef const char* c_name = name
    cdef vector[Shard] shards
    cdef Shard s
    for n in shard_rows:
        s.data = NULL  # routing only: no row is read
        s.rows = n
        s.cols = 1
        s.row_stride = 1
        s.dtype = DType.kFloat32
        shards.push_back(s)
    cdef ShardedRows table = ShardedRows(shards, Partition.kDiv if div else Partition.kMod)
    cdef Py_ssize_t count = ids.shape[0], i
    shard = np.empty(count, dtype=np.int64)
    row = np.empty(count, dtype=np.int64)
    cdef int64_t[::1] shard_v = shard
    cdef int64_t[::1] row_v = row
    with nogil:
        for i in range(count):
            table.check_id(ids[i], c_name, i)
            table.locate(ids[i], shard_v[i], row_v[i])
    return shard, row


# ==== the sparse row update on one row (issue 8/10): tests and trainers
def _update_row(int optimizer, double learning_rate, double epsilon, row, acc, grad,
                int rounding=0, uint64_t seed=0, uint64_t step=0, int64_t row_id=0):
    """Apply one optimizer step to the 1-D array `row` (float32, float64 or
    bfloat16, updated in place) by `grad` (float32 or float64: the computing
    dtype), with Adagrad accumulators `acc` (float32/float64, 1-D, or None
    for SGD). The caller checks shapes, dtypes and writability."""
    cdef int64_t n = grad.shape[0]
    cdef DType rdt = (DType.kFloat32 if row.itemsize == 4 else
                      DType.kBFloat16 if row.itemsize == 2 else DType.kFloat64)
    cdef DType adt = DType.kFloat32
    cdef size_t rp = row.__array_interface__["data"][0]
    cdef size_t ap = 0
    cdef size_t gp = grad.__array_interface__["data"][0]
    if acc is not None:
        adt = DType.kFloat32 if acc.itemsize == 4 else DType.kFloat64
        ap = acc.__array_interface__["data"][0]
    if grad.itemsize == 4:
        with nogil:
            update_row[float](<COptimizer>optimizer, <float>learning_rate, <float>epsilon, rdt,
                              <void*>rp, adt, <void*>ap, <const float*>gp, n, <Rounding>rounding,
                              seed, step, row_id, 0)
    else:
        with nogil:
            update_row[double](<COptimizer>optimizer, learning_rate, epsilon, rdt, <void*>rp, adt,
                               <void*>ap, <const double*>gp, n, <Rounding>rounding, seed, step,
                               row_id, 0)


# ==== PyTorch's SparseAdam step, fused (issue 12): pysampled.torch.SparseAdam
def sparse_adam_step(floating[:, ::1] param, floating[:, ::1] exp_avg,
                     floating[:, ::1] exp_avg_sq, const int64_t[::1] ids,
                     const floating[:, ::1] grad, double one_minus_beta1, double one_minus_beta2,
                     double eps, double neg_step_size, bint maximize, int num_threads):
    """One SparseAdam step on the rows `ids` (strictly increasing) of `param`
    and its moments, in place, by the gradient rows `grad` (C++
    ``sparse_adam_rows``: bit-identical to ``torch.optim.SparseAdam``). The
    scalars are rounded to the arrays' dtype. The caller resolves
    `num_threads` (>= 1); shapes are checked here, ids in C++."""
    cdef SparseAdamStep[floating] st
    cdef floating* pp = NULL
    cdef floating* mp = NULL
    cdef floating* vp = NULL
    cdef const floating* gp = NULL
    cdef int64_t rows = param.shape[0], cols = param.shape[1], n = ids.shape[0]
    if (exp_avg.shape[0] != rows or exp_avg_sq.shape[0] != rows or exp_avg.shape[1] != cols
            or exp_avg_sq.shape[1] != cols or grad.shape[1] != cols or grad.shape[0] != n):
        raise ValueError("sparse_adam_step: the tables, moments and gradient rows disagree in shape")
    if n == 0:
        return
    st.one_minus_beta1 = <floating>one_minus_beta1
    st.one_minus_beta2 = <floating>one_minus_beta2
    st.eps = <floating>eps
    st.neg_step_size = <floating>neg_step_size
    st.maximize = maximize
    if rows > 0 and cols > 0:
        pp, mp, vp, gp = &param[0, 0], &exp_avg[0, 0], &exp_avg_sq[0, 0], &grad[0, 0]
    with nogil:
        sparse_adam_rows(pp, mp, vp, rows, cols, &ids[0], gp, n, st, num_threads)


# ==== bfloat16 <-> float32 arrays (the Python layer's conversions of inputs and results)
def bf16_to_float32(a, int num_threads=1):
    """A new C-contiguous float32 array with the values of the bfloat16 array
    `a` (exact; `a` is read, never written), on up to `num_threads` threads."""
    src = np.ascontiguousarray(a)
    if src.dtype.itemsize != 2 or src.dtype.kind != "V":
        raise TypeError(f"expected a bfloat16 array, got {src.dtype}")
    out = np.empty(src.shape, dtype=np.float32)
    cdef const uint16_t[::1] s = src.reshape(-1).view(np.uint16)
    cdef float[::1] d = out.reshape(-1)
    cdef int64_t n = s.shape[0]
    if n > 0:
        with nogil:
            bf16_to_float_array(&s[0], &d[0], n, num_threads)
    return out


def float32_to_bf16(a, dtype, int num_threads=1):
    """A new C-contiguous array of `dtype` (ml_dtypes.bfloat16) holding the
    float32 array `a` rounded to nearest even (NaNs: the quiet NaN of their
    sign), the bits of ``a.astype(dtype)``, on up to `num_threads` threads."""
    src = np.ascontiguousarray(a, dtype=np.float32)
    out = np.empty(src.shape, dtype=dtype)
    cdef const float[::1] s = src.reshape(-1)
    cdef uint16_t[::1] d = out.reshape(-1).view(np.uint16)
    cdef int64_t n = s.shape[0]
    if n > 0:
        with nogil:
            float_to_bf16_array(&s[0], &d[0], n, num_threads)
    return out


# ==== the AVX512-BF16 logits kernel (issue 10): queries for tests and benchmarks
def _bf16_dot_available():
    """True if this CPU and build run the vdpbf16ps logits kernel (used for
    bfloat16 weights with bfloat16-valued inputs at the avx512 SIMD level)."""
    return bool(bf16_dot_available())


def _set_bf16_dot_enabled(bint enabled):
    """Switch the vdpbf16ps kernel on (default) or off; returns the old state."""
    old = bool(bf16_dot_enabled())
    set_bf16_dot_enabled(enabled)
    return old


def _set_bf16_dot_grads_enabled(bint enabled):
    """Switch the gradient products of ``grad_precision="bfloat16"`` on
    vdpbf16ps (used where AMX is not; on by default on AMD CPUs) on or off
    (the float32 kernels reading the rounded G instead); returns the old
    state."""
    old = bool(bf16_dot_grads_enabled())
    set_bf16_dot_grads_enabled(enabled)
    return old


def _amx_bf16_available():
    """True if this CPU, the OS and the build run the AMX-BF16 logits kernel,
    which replaces the vdpbf16ps one (under the same conditions) when the
    padded row length is a multiple of 32."""
    return bool(amx_bf16_available())


def _set_amx_bf16_enabled(bint enabled):
    """Switch the AMX kernel on (default) or off (vdpbf16ps instead); returns
    the old state."""
    old = bool(amx_bf16_enabled())
    set_amx_bf16_enabled(enabled)
    return old
