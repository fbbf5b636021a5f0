# distutils: language = c++
"""Cython bindings of the C++ word2vec chunk trainer.

Design: `pysampled.word2vec` owns the model arrays, the vocabulary, the
corpus stream and the schedule; it calls `train_chunk` (negative sampling)
or `train_chunk_sampled` (nce / sampled softmax) once per chunk of whole
sentences. Here we only wrap the arrays (zero-copy; vectors and optimizer
state are updated in place, as the trainer intends) and release the GIL.
"""
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libcpp.string cimport string
from libcpp.vector cimport vector
from cython.operator cimport dereference as deref

from pysampled._core cimport (
    AliasTable, LossKind, Word2VecChunk, Word2VecConfig, Word2VecModel, Word2VecSampledConfig,
    Word2VecPrepared, Word2VecRecordArrays, Word2VecSampledModel, Word2VecStats, Word2VecWindows,
    chunk_records, chunk_windows, prepare_chunk as cpp_prepare_chunk,
    train_chunk as cpp_train_chunk, train_chunk_sampled as cpp_train_chunk_sampled,
    train_prepared_chunk,
)
from pysampled._samplers cimport Stream
import os

import numpy as np


cdef extern from "pysampled/corpus.hpp" namespace "pysampled" nogil:
    cdef cppclass CorpusScanOptions:
        int num_threads
        int64_t block_bytes
        int64_t max_vocab_size
        int64_t min_count
        string provisional_tokens_path
        string provisional_ends_path

    cdef cppclass CorpusVocabulary:
        vector[string] words
        vector[int64_t] counts
        int64_t tokens
        int64_t sentences
        int64_t unique_words
        int64_t min_reduce
        vector[int64_t] ids

    cdef cppclass CorpusEncoding:
        int64_t tokens
        int64_t sentences
        int64_t raw_tokens

    void cpp_scan_vocabulary "pysampled::scan_vocabulary"(const vector[string]& paths, const CorpusScanOptions& options,
                         CorpusVocabulary& out) except +
    CorpusEncoding cpp_encode_corpus "pysampled::encode_corpus"(const vector[string]& paths, const vector[string]& vocabulary,
                                 const string& tokens_path, const string& ends_path,
                                 int64_t max_sentence_length, int num_threads,
                                 int64_t block_bytes) except +
    CorpusEncoding cpp_encode_provisional "pysampled::encode_provisional"(
        const string& provisional_tokens_path, const string& provisional_ends_path,
        const int32_t* final_id, int64_t num_ids, const string& tokens_path,
        const string& ends_path, int64_t max_sentence_length) except +


cdef extern from "pysampled/vectors_text.hpp" namespace "pysampled" nogil:
    void append_text_rows(const char* words, const int64_t* word_ends, const float* rows,
                          int64_t n, int64_t dim, int64_t ld, int num_threads,
                          string& out) except +


cdef class NoiseTable:
    """Alias table of the negative-sampling distribution (float32 weights)."""
    cdef AliasTable table
    cdef readonly int64_t size

    def __cinit__(self, const float[::1] weights):
        cdef vector[float] w
        cdef Py_ssize_t i
        w.resize(weights.shape[0])
        for i in range(weights.shape[0]):
            w[i] = weights[i]
        self.table = AliasTable(w)
        self.size = self.table.size()


cdef void _set_chunk(Word2VecChunk& ch, const int32_t[::1] tokens,
                     const int64_t[::1] sentence_ends, int64_t position, uint64_t seed,
                     uint64_t epoch) noexcept:
    ch.tokens = &tokens[0] if tokens.shape[0] > 0 else NULL
    ch.num_tokens = tokens.shape[0]
    ch.sentence_ends = &sentence_ends[0] if sentence_ends.shape[0] > 0 else NULL
    ch.num_sentences = sentence_ends.shape[0]
    ch.position = position
    ch.seed = seed
    ch.epoch = epoch


cdef void _set_model(Word2VecModel& m, float[:, ::1] syn0, float[:, ::1] syn1,
                     const float[::1] keep_prob, NoiseTable noise) except *:
    m.syn0 = &syn0[0, 0]
    m.syn1 = &syn1[0, 0]
    m.vocab = syn0.shape[0]
    m.stride = syn0.shape[1]
    if syn1.shape[0] != syn0.shape[0] or syn1.shape[1] != syn0.shape[1] or keep_prob.shape[0] != syn0.shape[0]:
        raise ValueError("syn0, syn1 and keep_prob must agree in shape")
    m.keep_prob = &keep_prob[0]
    m.neg_table = noise.table.columns()
    m.neg_size = <uint32_t>noise.size


cdef void _set_windows(Word2VecConfig& cfg, int64_t dim, int window, int negative,
                       bint shrink_windows):
    cfg.dim = dim
    cfg.window = window
    cfg.negative = negative
    cfg.shrink_windows = shrink_windows


cdef class PreparedChunk:
    """A chunk's training records built ahead of its training
    (:func:`prepare_chunk`), for :func:`train_chunk`'s ``prepared``. Keeps the
    arrays it was built from alive (the records refer to them by identity)."""
    cdef Word2VecPrepared* p
    cdef object _keep  # the arrays behind the pointers the C++ side compares

    def __cinit__(self):
        self.p = new Word2VecPrepared()

    def __dealloc__(self):
        del self.p


def prepare_chunk(float[:, ::1] syn0, float[:, ::1] syn1, const float[::1] keep_prob,
                  NoiseTable noise, const int32_t[::1] tokens, const int64_t[::1] sentence_ends,
                  int64_t position, uint64_t seed, uint64_t epoch, int64_t dim, int window,
                  int negative, int num_threads, bint shrink_windows=True):
    """The records `train_chunk` would build for this chunk, built now (on
    `num_threads` threads, the GIL released) so that another thread can train
    the chunk before it. Only reads the arrays."""
    cdef Word2VecModel m
    cdef Word2VecConfig cfg
    cdef Word2VecChunk ch
    cdef PreparedChunk out = PreparedChunk()
    _set_model(m, syn0, syn1, keep_prob, noise)
    _set_windows(cfg, dim, window, negative, shrink_windows)
    _set_chunk(ch, tokens, sentence_ends, position, seed, epoch)
    with nogil:
        cpp_prepare_chunk(m, cfg, ch, num_threads, out.p[0])
    out._keep = (keep_prob, noise, tokens)
    return out


def train_chunk(float[:, ::1] syn0, float[:, ::1] syn1, const float[::1] keep_prob,
                NoiseTable noise, const int32_t[::1] tokens, const int64_t[::1] sentence_ends,
                int64_t position, uint64_t seed, uint64_t epoch, float alpha, int64_t dim,
                int window, int negative, bint cbow, bint cbow_mean, bint hogwild,
                int64_t group_size, int num_threads, bint shrink_windows=True,
                PreparedChunk prepared=None):
    """Train on one chunk; returns (words, kept, pairs, loss). `prepared`:
    its records from :func:`prepare_chunk` (ValueError if they were prepared
    for another chunk or configuration), the same bits as without."""
    cdef Word2VecModel m
    cdef Word2VecConfig cfg
    cdef Word2VecChunk ch
    cdef Word2VecStats st
    cdef Word2VecPrepared* pre = NULL
    if prepared is not None:
        pre = prepared.p
    _set_model(m, syn0, syn1, keep_prob, noise)
    _set_windows(cfg, dim, window, negative, shrink_windows)
    cfg.cbow = cbow
    cfg.cbow_mean = cbow_mean
    cfg.hogwild = hogwild
    cfg.group_size = group_size
    _set_chunk(ch, tokens, sentence_ends, position, seed, epoch)
    ch.alpha = alpha
    with nogil:
        if pre == NULL:
            st = cpp_train_chunk(m, cfg, ch, num_threads)
        else:
            st = train_prepared_chunk(m, cfg, ch, num_threads, pre[0])
    return st.words, st.kept, st.pairs, st.loss


def train_chunk_sampled(float[:, ::1] syn0, float[:, ::1] syn1, float[::1] bias,
                        float[:, ::1] accum0, float[:, ::1] accum1, float[::1] accum_bias,
                        const float[::1] keep_prob, Stream negatives not None,
                        const int32_t[::1] tokens, const int64_t[::1] sentence_ends,
                        int64_t position, uint64_t seed, uint64_t epoch, float alpha, int window,
                        bint cbow, bint cbow_mean, bint nce, int64_t num_sampled,
                        int64_t batch_size, int num_threads, bint shrink_windows=True):
    """Train on one chunk with nce (``nce``) or sampled softmax and Adagrad,
    drawing the negatives from the sampler stream ``negatives`` (advanced in
    place); returns (words, kept, pairs, loss). See word2vec_sampled.hpp."""
    cdef Word2VecSampledModel m
    cdef Word2VecSampledConfig cfg
    cdef Word2VecChunk ch
    cdef Word2VecStats st
    cdef Py_ssize_t v = syn0.shape[0], d = syn0.shape[1]
    if v == 0 or d == 0:
        raise ValueError("the model has no vectors")
    if not (syn1.shape[0] == accum0.shape[0] == accum1.shape[0] == v
            and syn1.shape[1] == accum0.shape[1] == accum1.shape[1] == d):
        raise ValueError("syn0, syn1, accum0 and accum1 must have the same shape")
    if bias.shape[0] != v or accum_bias.shape[0] != v or keep_prob.shape[0] != v:
        raise ValueError("bias, accum_bias and keep_prob must have one entry per word")
    m.syn0 = &syn0[0, 0]
    m.syn1 = &syn1[0, 0]
    m.bias = &bias[0]
    m.accum0 = &accum0[0, 0]
    m.accum1 = &accum1[0, 0]
    m.accum_bias = &accum_bias[0]
    m.vocab = v
    m.stride = d
    m.keep_prob = &keep_prob[0]
    cfg.kind = LossKind.kNce if nce else LossKind.kSoftmax
    cfg.window = window
    cfg.cbow = cbow
    cfg.cbow_mean = cbow_mean
    cfg.shrink_windows = shrink_windows
    cfg.num_sampled = num_sampled
    cfg.batch_size = batch_size
    _set_chunk(ch, tokens, sentence_ends, position, seed, epoch)
    ch.alpha = alpha
    with nogil:
        st = cpp_train_chunk_sampled(m, cfg, ch, deref(negatives.ptr), num_threads)
    return st.words, st.kept, st.pairs, st.loss


def records(float[:, ::1] syn0, float[:, ::1] syn1, const float[::1] keep_prob,
            NoiseTable noise, const int32_t[::1] tokens, const int64_t[::1] sentence_ends,
            int64_t position, uint64_t seed, uint64_t epoch, int64_t dim, int window,
            int negative, int num_threads, bint shrink_windows=True):
    """The chunk's training records as `train_chunk` draws them (for tests):
    ``(ctx [kept, 2 window], nctx [kept], out [kept, 1 + negative])``; see
    chunk_records in C++. The arrays are only read."""
    cdef Word2VecModel m
    cdef Word2VecConfig cfg
    cdef Word2VecChunk ch
    cdef Word2VecRecordArrays r
    _set_model(m, syn0, syn1, keep_prob, noise)
    _set_windows(cfg, dim, window, negative, shrink_windows)
    _set_chunk(ch, tokens, sentence_ends, position, seed, epoch)
    with nogil:
        chunk_records(m, cfg, ch, num_threads, r)
    return (_copy32(r.ctx).reshape(-1, r.max_ctx), _copy32(r.nctx),
            _copy32(r.out).reshape(-1, r.outs))


def windows(const float[::1] keep_prob, const int32_t[::1] tokens,
            const int64_t[::1] sentence_ends, int64_t position, uint64_t seed, uint64_t epoch,
            int window, bint cbow, int num_threads, bint shrink_windows=True):
    """The chunk's predictions (inputs, targets, offsets); see chunk_windows in C++."""
    cdef Word2VecChunk ch
    cdef Word2VecWindows w
    _set_chunk(ch, tokens, sentence_ends, position, seed, epoch)
    with nogil:
        chunk_windows(&keep_prob[0], keep_prob.shape[0], window, cbow, ch, num_threads, w,
                      shrink_windows)
    return _copy32(w.inputs), _copy32(w.targets), _copy64(w.offsets)


cdef _copy32(vector[int32_t]& v):
    return np.asarray(<int32_t[:v.size()]>v.data()).copy() if v.size() else np.zeros(0, np.int32)


cdef _copy64(vector[int64_t]& v):
    return np.asarray(<int64_t[:v.size()]>v.data()).copy() if v.size() else np.zeros(0, np.int64)


cdef vector[string] _paths(paths) except *:
    cdef vector[string] out
    for p in paths:
        out.push_back(os.fsencode(p))
    return out


def scan_vocabulary(paths, int64_t min_count, int64_t max_vocab_size, int num_threads,
                    int64_t block_bytes):
    """Count the words of text files (see corpus.hpp). Returns (words, counts,
    tokens, sentences, unique_words, min_reduce): the words counted at least
    min_count times, most frequent first, ties by code points."""
    cdef CorpusScanOptions opt
    cdef CorpusVocabulary v
    cdef vector[string] cpaths = _paths(paths)
    opt.num_threads = num_threads
    opt.block_bytes = block_bytes
    opt.max_vocab_size = max_vocab_size
    opt.min_count = min_count
    with nogil:
        cpp_scan_vocabulary(cpaths, opt, v)
    words = [w.decode("utf-8") for w in v.words]
    counts = _copy64(v.counts)
    return words, counts, v.tokens, v.sentences, v.unique_words, v.min_reduce


def scan_vocabulary_provisional(paths, int64_t min_count, int num_threads, int64_t block_bytes,
                                provisional_tokens_path, provisional_ends_path):
    """scan_vocabulary that also writes every token's provisional id and the
    line ends to the two files, for encode_provisional (see corpus.hpp).
    Returns (words, counts, tokens, sentences, unique_words, ids): ids[i] is
    the provisional id of words[i]; provisional ids lie in [0, unique_words)."""
    cdef CorpusScanOptions opt
    cdef CorpusVocabulary v
    cdef vector[string] cpaths = _paths(paths)
    opt.num_threads = num_threads
    opt.block_bytes = block_bytes
    opt.max_vocab_size = 0
    opt.min_count = min_count
    opt.provisional_tokens_path = os.fsencode(provisional_tokens_path)
    opt.provisional_ends_path = os.fsencode(provisional_ends_path)
    with nogil:
        cpp_scan_vocabulary(cpaths, opt, v)
    words = [w.decode("utf-8") for w in v.words]
    return (words, _copy64(v.counts), v.tokens, v.sentences, v.unique_words, _copy64(v.ids))


def encode_provisional(provisional_tokens_path, provisional_ends_path,
                       const int32_t[::1] final_id, tokens_path, ends_path,
                       int64_t max_sentence_length):
    """Encode a provisionally counted corpus (see corpus.hpp): provisional
    id i becomes final_id[i] (< 0: dropped). Returns (tokens, sentences,
    raw_tokens), as encode_corpus."""
    cdef string pt = os.fsencode(provisional_tokens_path)
    cdef string pe = os.fsencode(provisional_ends_path)
    cdef string tp = os.fsencode(tokens_path)
    cdef string ep = os.fsencode(ends_path)
    cdef CorpusEncoding r
    cdef int64_t n = final_id.shape[0]
    cdef const int32_t* f = &final_id[0] if n else NULL
    with nogil:
        r = cpp_encode_provisional(pt, pe, f, n, tp, ep, max_sentence_length)
    return r.tokens, r.sentences, r.raw_tokens


def encode_corpus(paths, vocabulary, tokens_path, ends_path, int64_t max_sentence_length,
                  int num_threads, int64_t block_bytes):
    """Write the corpus as word ids and sentence ends (see corpus.hpp).
    Returns (tokens, sentences, raw_tokens)."""
    cdef vector[string] cpaths = _paths(paths)
    cdef vector[string] vocab
    cdef string tp = os.fsencode(tokens_path)
    cdef string ep = os.fsencode(ends_path)
    cdef CorpusEncoding r
    for w in vocabulary:
        vocab.push_back(w.encode("utf-8"))
    with nogil:
        r = cpp_encode_corpus(cpaths, vocab, tp, ep, max_sentence_length, num_threads, block_bytes)
    return r.tokens, r.sentences, r.raw_tokens


def text_rows(const unsigned char[::1] words, const int64_t[::1] word_ends,
              const float[:, ::1] rows, int num_threads):
    """The word2vec text lines of `rows` (see vectors_text.hpp): row i is
    words[word_ends[i-1]:word_ends[i]] (UTF-8), then its values as %.9g."""
    cdef string out
    cdef Py_ssize_t n = rows.shape[0]
    if word_ends.shape[0] != n:
        raise ValueError("one word end per row")
    if n and (word_ends[n - 1] > words.shape[0] or word_ends[0] < 0):
        raise ValueError("word ends beyond the words")
    if n == 0:
        return b""
    cdef const unsigned char* w = &words[0] if words.shape[0] else <const unsigned char*>b""
    with nogil:
        append_text_rows(<const char*>w, &word_ends[0], &rows[0, 0], n, rows.shape[1],
                         rows.shape[1], num_threads, out)
    return out
