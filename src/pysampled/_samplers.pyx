# distutils: language = c++
"""Cython bindings of the C++ candidate samplers.

Design: this module holds no policy. `pysampled.samplers` validates and
converts every argument (int64 C-contiguous ids, sizes >= 1, seeds resolved)
before calling in; here we own the C++ objects, allocate the result arrays,
release the GIL around C++ work and let `except +` turn C++ exceptions into
Python ones.
"""
import numpy as np

from cython.operator cimport dereference as deref
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libcpp.memory cimport unique_ptr
from libcpp.utility cimport move
from libcpp.vector cimport vector

from pysampled._core cimport (
    AccidentalHits, CandidateStream, FixedUnigramSampler, GeneratorState, LearnedUnigramSampler,
    LogUniformSampler, RangeSampler, UniformSampler, compute_accidental_hits,
    make_fixed_unigram_weights,
)


# Runtime queries live in pysampled._runtime; these names stay here for callers
# that imported them from this module.
from pysampled._runtime import (  # noqa: F401
    detected_simd_level, has_openmp, num_cores, omp_max_threads, set_simd_level, simd_level,
)


cdef inline const int64_t* _ptr64(const int64_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def fixed_unigram_weights(const float[::1] unigrams, float distortion, int64_t num_reserved_ids,
                          int64_t num_shards, int64_t shard, bint fix_quirk):
    """Per-id float32 weights of one shard, built as TF builds them."""
    cdef vector[float] w
    cdef const float* u = &unigrams[0] if unigrams.shape[0] > 0 else NULL
    cdef int64_t n = unigrams.shape[0]
    with nogil:
        w = make_fixed_unigram_weights(u, n, distortion, num_reserved_ids, num_shards, shard,
                                       fix_quirk)
    out = np.empty(w.size(), dtype=np.float32)
    cdef float[::1] o = out
    if w.size() > 0:
        memcpy(&o[0], w.data(), w.size() * sizeof(float))
    return out


cdef class Stream:
    """A C++ CandidateStream: a sampler and its Philox generator."""
    cdef unique_ptr[CandidateStream] ptr
    cdef readonly str kind

    @staticmethod
    def create(str kind, int64_t range_max, uint64_t seed, uint64_t seed2,
               const float[::1] weights=None):
        """A new stream; seed == seed2 == 0 means OS-random seeds."""
        cdef unique_ptr[RangeSampler] sampler
        cdef vector[float] w
        cdef Py_ssize_t i
        cdef Stream self = Stream.__new__(Stream)
        self.kind = kind
        if kind == "uniform":
            sampler.reset(<RangeSampler*>new UniformSampler(range_max))
        elif kind == "log_uniform":
            sampler.reset(<RangeSampler*>new LogUniformSampler(range_max))
        elif kind == "learned_unigram":
            sampler.reset(<RangeSampler*>new LearnedUnigramSampler(range_max))
        elif kind == "fixed_unigram":
            w.resize(weights.shape[0])
            if weights.shape[0] > 0:
                memcpy(w.data(), &weights[0], weights.shape[0] * sizeof(float))
            with nogil:  # the alias table of a big vocabulary takes milliseconds
                sampler.reset(<RangeSampler*>new FixedUnigramSampler(range_max, move(w)))
        else:
            raise ValueError(f"unknown sampler kind {kind!r}")
        self.ptr.reset(new CandidateStream(move(sampler), seed, seed2))
        return self

    @property
    def range_max(self):
        return deref(self.ptr).sampler().range()

    def sample(self, const int64_t[:, ::1] true_classes, int64_t num_sampled, bint unique):
        """TF kernel call -> (sampled int64[S], tec float32[B, NT], sec float32[S], num_tries)."""
        cdef int64_t n = true_classes.shape[0] * true_classes.shape[1]
        sampled = np.empty(num_sampled, dtype=np.int64)
        tec = np.empty((true_classes.shape[0], true_classes.shape[1]), dtype=np.float32)
        sec = np.empty(num_sampled, dtype=np.float32)
        cdef int64_t[::1] s = sampled
        cdef float[:, ::1] t = tec
        cdef float[::1] e = sec
        cdef const int64_t* tp = &true_classes[0, 0] if n > 0 else NULL
        cdef float* tecp = &t[0, 0] if n > 0 else NULL
        cdef int64_t tries
        with nogil:
            tries = deref(self.ptr).sample(tp, n, num_sampled, unique, &s[0], tecp, &e[0])
        return sampled, tec, sec, tries

    def sample_bulk(self, int64_t[::1] out, int num_threads):
        """Fill `out` (int64, C-contiguous, writable) with bulk draws."""
        with nogil:
            deref(self.ptr).sample_bulk(out.shape[0], &out[0] if out.shape[0] > 0 else NULL,
                                        num_threads)

    def probabilities(self, const int64_t[::1] values):
        out = np.empty(values.shape[0], dtype=np.float32)
        cdef float[::1] o = out
        with nogil:
            deref(self.ptr).probabilities(_ptr64(values), values.shape[0],
                                          &o[0] if values.shape[0] > 0 else NULL)
        return out

    def update(self, const int64_t[::1] values):
        with nogil:
            deref(self.ptr).update(_ptr64(values), values.shape[0])

    def learned_counts(self):
        cdef vector[int64_t] c
        with nogil:
            c = deref(self.ptr).learned_counts()
        out = np.empty(c.size(), dtype=np.int64)
        cdef int64_t[::1] o = out
        cdef size_t i
        for i in range(c.size()):
            o[i] = c[i]
        return out

    def set_learned_counts(self, const int64_t[::1] counts):
        with nogil:
            deref(self.ptr).set_learned_counts(_ptr64(counts), counts.shape[0])

    def fixed_weights(self):
        cdef const FixedUnigramSampler* f
        if self.kind != "fixed_unigram":  # before the downcast, which is UB for other kinds
            raise ValueError("only fixed-unigram samplers have weights")
        f = <const FixedUnigramSampler*>&deref(self.ptr).sampler()
        cdef const vector[float]* w = &f.weights()
        out = np.empty(w.size(), dtype=np.float32)
        cdef float[::1] o = out
        cdef size_t i
        for i in range(w.size()):
            o[i] = deref(w)[i]
        return out

    def get_state(self):
        cdef GeneratorState s = deref(self.ptr).state()
        return (s.key[0], s.key[1], s.counter[0], s.counter[1], s.counter[2], s.counter[3])

    def set_state(self, state):
        cdef GeneratorState s
        k0, k1, c0, c1, c2, c3 = state
        s.key[0] = k0
        s.key[1] = k1
        s.counter[0] = c0
        s.counter[1] = c1
        s.counter[2] = c2
        s.counter[3] = c3
        deref(self.ptr).set_state(s)

    def clone(self):
        """A deep copy: sampler, learned counts and generator position."""
        cdef Stream other = Stream.__new__(Stream)
        other.kind = self.kind
        other.ptr = move(deref(self.ptr).clone())
        return other


def accidental_hits(const int64_t[::1] true_flat, int64_t batch, int64_t num_true,
                    const int64_t[::1] sampled, bint all_duplicates):
    cdef AccidentalHits hits
    with nogil:
        hits = compute_accidental_hits(_ptr64(true_flat), batch, num_true, _ptr64(sampled),
                                       sampled.shape[0], all_duplicates)
    cdef size_t n = hits.indices.size(), i
    indices = np.empty(n, dtype=np.int32)
    ids = np.empty(n, dtype=np.int64)
    weights = np.empty(n, dtype=np.float32)
    cdef int32_t[::1] a = indices
    cdef int64_t[::1] b = ids
    cdef float[::1] c = weights
    for i in range(n):
        a[i] = hits.indices[i]
        b[i] = hits.ids[i]
        c[i] = hits.weights[i]
    return indices, ids, weights
