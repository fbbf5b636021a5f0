# distutils: language = c++
"""Cython bindings of the C++ kernels beyond TensorFlow's API: in-batch
softmax, the streaming frequency estimator and the row-wise sampled losses
(ragged labels, per-example negatives).

Design: no policy here. `pysampled.retrieval` (and `pysampled.losses`)
validate shapes, dtypes and values and pass arrays of the computing dtype
with unit stride within rows; this module passes pointers and row strides to
C++ zero-copy, releases the GIL for the whole call and returns NumPy arrays.
"""
import numpy as np

from libc.stdint cimport int64_t, uint64_t

from pysampled._core cimport (
    FrequencyTables, InBatchInput, InBatchOutput, RowLossInput, RowLossKind, RowLossOutput,
    frequency_bucket, frequency_log_q, frequency_update, in_batch_softmax, row_loss,
)
from libcpp.vector cimport vector

from pysampled._core cimport DType, Partition, Shard, ShardedRows

ctypedef fused floating:
    float
    double


cdef inline const floating* _p1(const floating[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def _in_batch(const floating[:, :] query, const floating[:, :] candidates,
              const floating[:, :] extra, const floating[::1] log_q,
              const floating[::1] extra_log_q, const int64_t[::1] candidate_ids,
              const int64_t[::1] extra_ids, bint remove_accidental_hits, double temperature,
              const floating[::1] upstream, bint want_grads, bint want_logits, int num_threads):
    """One in-batch softmax call. 2-D arrays need unit stride within a row
    (checked by the caller); `extra` may have zero rows. Returns
    (loss, logits or None, d_query, d_candidates, d_extra) (grads None without want_grads)."""
    cdef InBatchInput[floating] inp
    cdef InBatchOutput[floating] out
    cdef int64_t B = query.shape[0], D = query.shape[1], S = extra.shape[0]
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] loss_v
    cdef floating[:, ::1] lg_v, dq_v, dc_v, de_v
    cdef Py_ssize_t isz = sizeof(floating)
    inp.batch = B
    inp.dim = D
    inp.num_extra = S
    inp.query = &query[0, 0] if B > 0 and D > 0 else NULL
    inp.query_stride = query.strides[0] // isz
    inp.candidates = &candidates[0, 0] if B > 0 and D > 0 else NULL
    inp.candidates_stride = candidates.strides[0] // isz
    inp.extra = &extra[0, 0] if S > 0 and D > 0 else NULL
    inp.extra_stride = extra.strides[0] // isz
    inp.log_q = _p1(log_q) if log_q is not None else NULL
    inp.extra_log_q = _p1(extra_log_q) if extra_log_q is not None else NULL
    inp.candidate_ids = &candidate_ids[0] if candidate_ids is not None and B > 0 else NULL
    inp.extra_ids = &extra_ids[0] if extra_ids is not None and S > 0 else NULL
    inp.remove_accidental_hits = remove_accidental_hits
    inp.temperature = <floating>temperature
    inp.upstream = _p1(upstream) if upstream is not None else NULL
    inp.want_grads = want_grads
    inp.num_threads = num_threads
    loss = np.empty(B, dtype=dtype)
    loss_v = loss
    out.loss = &loss_v[0] if B > 0 else NULL
    logits = dq = dc = de = None
    if want_logits:
        logits = np.empty((B, B + S), dtype=dtype)
        lg_v = logits
        out.logits = &lg_v[0, 0] if logits.size > 0 else NULL
    if want_grads:
        dq = np.empty((B, D), dtype=dtype)
        dc = np.empty((B, D), dtype=dtype)
        de = np.empty((S, D), dtype=dtype)
        dq_v = dq
        dc_v = dc
        de_v = de
        out.d_query = &dq_v[0, 0] if dq.size > 0 else NULL
        out.d_candidates = &dc_v[0, 0] if dc.size > 0 else NULL
        out.d_extra = &de_v[0, 0] if de.size > 0 else NULL
    with nogil:
        in_batch_softmax(inp, out)
    return loss, logits, dq, dc, de


cdef FrequencyTables _tables(int64_t num_buckets, int64_t num_hashes, uint64_t seed, double alpha,
                             int64_t[::1] last, double[::1] acc, int64_t[::1] count):
    cdef FrequencyTables t
    t.num_buckets = num_buckets
    t.num_hashes = num_hashes
    t.seed = seed
    t.alpha = alpha
    t.last = &last[0]
    t.acc = &acc[0]
    t.count = &count[0]
    return t


def _freq_update(int64_t num_buckets, int64_t num_hashes, uint64_t seed, double alpha,
                 int64_t[::1] last, double[::1] acc, int64_t[::1] count,
                 const int64_t[::1] ids, int64_t step):
    """Folds one step's ids into the tables (in place)."""
    cdef FrequencyTables t = _tables(num_buckets, num_hashes, seed, alpha, last, acc, count)
    cdef int64_t n = ids.shape[0]
    cdef const int64_t* p = &ids[0] if n > 0 else NULL
    with nogil:
        frequency_update(t, p, n, step)


def _freq_log_q(int64_t num_buckets, int64_t num_hashes, uint64_t seed, double alpha,
                int64_t[::1] last, double[::1] acc, int64_t[::1] count,
                const int64_t[::1] ids, double default_gap, int num_threads):
    """-log(estimated gap) per id, float64."""
    cdef FrequencyTables t = _tables(num_buckets, num_hashes, seed, alpha, last, acc, count)
    cdef int64_t n = ids.shape[0]
    res = np.empty(n, dtype=np.float64)
    cdef double[::1] r = res
    cdef const int64_t* p = &ids[0] if n > 0 else NULL
    cdef double* o = &r[0] if n > 0 else NULL
    with nogil:
        frequency_log_q(t, p, n, default_gap, o, num_threads)
    return res


def _freq_bucket(uint64_t seed, int64_t h, int64_t num_buckets, int64_t id):
    """The bucket of `id` under hash `h` (for tests)."""
    return frequency_bucket(seed, h, num_buckets, id)


cdef class Shards:
    """A zero-copy view of a list of 1-D or 2-D float arrays as C++ ShardedRows
    (the arrays were validated by the caller: aligned, native, contiguous rows)."""
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
            s.dtype = DType.kFloat32 if itemsize == 4 else DType.kFloat64
            shards.push_back(s)
        self.rows = ShardedRows(shards, Partition.kDiv if div else Partition.kMod)
        self.total_rows = self.rows.total_rows()
        self.cols = self.rows.cols()


def _row_loss(int kind, const floating[:, ::1] inputs, const int64_t[::1] labels,
              const int64_t[::1] row_splits, const int64_t[::1] sampled, bint per_example,
              int64_t num_sampled, const floating[::1] tec, const floating[::1] sec,
              Shards weights, Shards biases, bint subtract_log_q, bint remove_accidental_hits,
              double true_target, const floating[::1] upstream, bint want_grads,
              bint want_logits, int num_threads):
    """One row-wise kernel call (kind 0 logits, 1 NCE, 2 softmax). `sampled`
    is flat: [num_sampled] shared or [batch * num_sampled] per example.
    Returns (loss, flat logits, dx, ids, gw, gb)."""
    cdef RowLossInput[floating] inp
    cdef RowLossOutput[floating] out
    cdef int64_t B = inputs.shape[0], D = inputs.shape[1], S = num_sampled
    cdef int64_t NL = labels.shape[0]
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] loss_v, logits_v, gb_v
    cdef floating[:, ::1] dx_v, gw_v
    cdef int64_t[::1] ids_v
    if row_splits.shape[0] != B + 1 or row_splits[B] != NL:
        raise ValueError("row splits do not match the labels")
    if sampled.shape[0] != (B * S if per_example else S):
        raise ValueError("sampled candidates do not match num_sampled")
    inp.kind = <RowLossKind>kind
    inp.batch = B
    inp.dim = D
    inp.num_sampled = S
    inp.inputs = &inputs[0, 0] if B > 0 and D > 0 else NULL
    inp.inputs_stride = D
    inp.labels = &labels[0] if NL > 0 else NULL
    inp.row_splits = &row_splits[0]
    inp.sampled = &sampled[0] if sampled.shape[0] > 0 else NULL
    inp.per_example = per_example
    inp.true_expected = _p1(tec) if tec is not None else NULL
    inp.sampled_expected = _p1(sec) if sec is not None else NULL
    inp.weights = &weights.rows
    inp.biases = &biases.rows if biases is not None else NULL
    inp.subtract_log_q = subtract_log_q
    inp.remove_accidental_hits = remove_accidental_hits
    inp.true_target = <floating>true_target
    inp.upstream = _p1(upstream) if upstream is not None else NULL
    inp.want_grads = want_grads
    inp.num_threads = num_threads
    loss = logits = dx = ids = gw = gb = None
    cdef int64_t cap = NL + sampled.shape[0]
    if kind != 0:
        loss = np.empty(B, dtype=dtype)
        loss_v = loss
        out.loss = &loss_v[0] if B > 0 else NULL
    if want_logits:
        logits = np.empty(NL + B * S, dtype=dtype)
        logits_v = logits
        out.logits = &logits_v[0] if logits.size > 0 else NULL
    if want_grads:
        dx = np.empty((B, D), dtype=dtype)
        dx_v = dx
        out.d_inputs = &dx_v[0, 0] if dx.size > 0 else NULL
        ids = np.empty(cap, dtype=np.int64)
        gw = np.empty((cap, D), dtype=dtype)
        ids_v = ids
        gw_v = gw
        if cap > 0:
            out.grad_ids = &ids_v[0]
            out.grad_weights = &gw_v[0, 0] if D > 0 else NULL
        if biases is not None:
            gb = np.empty(cap, dtype=dtype)
            gb_v = gb
            out.grad_biases = &gb_v[0] if cap > 0 else NULL
    with nogil:
        row_loss(inp, out)
    if not want_grads:
        return loss, logits, None, None, None, None
    cdef int64_t U = out.grad_rows
    return loss, logits, dx, ids[:U], gw[:U], (gb[:U] if gb is not None else None)
