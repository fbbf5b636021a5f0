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
    FrequencyTables, InBatchInput, InBatchOutput, frequency_bucket, frequency_log_q,
    frequency_update, in_batch_softmax,
)

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
