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
    AccidentalHits, BulkKernels, CandidateStream, FixedUnigramSampler, GeneratorState, Isa,
    LearnedUnigramSampler, LogUniformSampler, RangeSampler, UniformSampler, bulk_kernels,
    compute_accidental_hits, detected_isa, make_fixed_unigram_weights, pack_alias,
)


# Runtime queries live in pysampled._runtime; these names stay here for callers
# that imported them from this module.
from pysampled._runtime import (  # noqa: F401
    SIMD_LEVELS, detected_simd_level, has_openmp, num_cores, omp_max_threads, set_simd_level,
    simd_level,
)


def _bulk_kernel(str level, str kernel, *args):
    """Run one bulk-sampling kernel of one SIMD level directly (for tests).

    ``("philox", key[2] uint32, counter[4] uint32, first_block, nblocks)`` -> uint64 words;
    ``("uniform", words uint64, range)``, ``("log_uniform", words, log_range, range)``,
    ``("alias", words, prob float32, alias int32)`` -> int64 draws. Private: the
    arguments are trusted beyond the checks here (range >= 1, alias values in range).
    """
    if level not in SIMD_LEVELS:
        raise ValueError(f"unknown SIMD level {level!r}; expected one of {SIMD_LEVELS}")
    cdef int index = SIMD_LEVELS.index(level)
    if index > <int>detected_isa():
        raise ValueError(f"this CPU does not support {level}")
    cdef const BulkKernels* k = &bulk_kernels(<Isa>index)
    cdef const uint32_t[::1] key
    cdef const uint32_t[::1] counter
    cdef const uint64_t[::1] words
    cdef const float[::1] prob
    cdef const int32_t[::1] alias
    cdef uint64_t[::1] wout
    cdef int64_t[::1] out
    cdef uint64_t first_block
    cdef int64_t nblocks, n, i, rng
    cdef double log_range
    cdef vector[uint64_t] table
    if kernel == "philox":
        key = np.ascontiguousarray(args[0], dtype=np.uint32)
        counter = np.ascontiguousarray(args[1], dtype=np.uint32)
        if key.shape[0] != 2 or counter.shape[0] != 4:
            raise ValueError("key has 2 words, counter 4")
        first_block = args[2]
        nblocks = args[3]
        if nblocks < 0:
            raise ValueError("nblocks must be non-negative")
        result = np.empty(2 * nblocks + 1, dtype=np.uint64)
        wout = result
        with nogil:
            k.philox_words(&key[0], &counter[0], first_block, nblocks, &wout[0])
        return result[:2 * nblocks]
    words = np.ascontiguousarray(args[0], dtype=np.uint64)
    n = words.shape[0]
    result = np.empty(n + 1, dtype=np.int64)
    out = result
    cdef const uint64_t* wp = &words[0] if n > 0 else NULL
    if kernel == "uniform":
        rng = args[1]
        if rng < 1:
            raise ValueError("range must be at least 1")
        with nogil:
            k.uniform(wp, n, <uint64_t>rng, &out[0])
    elif kernel == "log_uniform":
        log_range = args[1]
        rng = args[2]
        if rng < 1:
            raise ValueError("range must be at least 1")
        with nogil:
            k.log_uniform(wp, n, log_range, rng, &out[0])
    elif kernel == "alias":
        prob = np.ascontiguousarray(args[1], dtype=np.float32)
        alias = np.ascontiguousarray(args[2], dtype=np.int32)
        if prob.shape[0] < 1 or prob.shape[0] != alias.shape[0] or prob.shape[0] > 0xFFFFFFFF:
            raise ValueError("prob and alias need the same length, at least 1")
        for i in range(alias.shape[0]):
            if alias[i] < 0 or alias[i] >= prob.shape[0]:
                raise ValueError("alias values must index the table")
        table.resize(prob.shape[0])
        for i in range(prob.shape[0]):
            table[i] = pack_alias(prob[i], alias[i])
        with nogil:
            k.alias(wp, n, table.data(), <uint32_t>table.size(), &out[0])
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    return result[:n]


cdef inline const int64_t* _ptr64(const int64_t[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] > 0 else NULL


def fixed_unigram_weights(const float[::1] unigrams, float distortion, int64_t num_reserved_ids,
                          int64_t num_shards, int64_t shard, bint correct_reserved_ids):
    """Per-id float32 weights of one shard, built as TF builds them."""
    cdef vector[float] w
    cdef const float* u = &unigrams[0] if unigrams.shape[0] > 0 else NULL
    cdef int64_t n = unigrams.shape[0]
    with nogil:
        w = make_fixed_unigram_weights(u, n, distortion, num_reserved_ids, num_shards, shard,
                                       correct_reserved_ids)
    out = np.empty(w.size(), dtype=np.float32)
    cdef float[::1] o = out
    if w.size() > 0:
        memcpy(&o[0], w.data(), w.size() * sizeof(float))
    return out


cdef class Stream:
    """A C++ CandidateStream: a sampler and its Philox generator (attributes
    declared in _samplers.pxd)."""

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
                    const int64_t[::1] sampled, bint mask_all_duplicates):
    cdef AccidentalHits hits
    with nogil:
        hits = compute_accidental_hits(_ptr64(true_flat), batch, num_true, _ptr64(sampled),
                                       sampled.shape[0], mask_all_duplicates)
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
