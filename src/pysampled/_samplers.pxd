# The sampler extension's types that other extensions use: the word2vec
# trainer's nce / sampled-softmax variants draw their negatives from a
# sampler's C++ stream (pysampled._word2vec.train_chunk_sampled) without a
# Python call per batch.
from libcpp.memory cimport unique_ptr

from pysampled._core cimport CandidateStream


cdef class Stream:
    cdef unique_ptr[CandidateStream] ptr
    cdef readonly str kind
