"""The vocabulary of a :class:`~pysampled.word2vec.Word2Vec` model and the
vectors that follow it: counting, selecting, extending, initialising.

Design: plain functions of the model, called by its methods
(``build_vocab``, ``keep_probabilities``, ``noise_weights``) and by the
training schedule (:func:`encode_for_training`). Counting and encoding the
corpus are :mod:`.corpus`'s; this module decides which words are kept, in
which order, and what vectors they start with. The model's vocabulary is
``words`` (most frequent first), ``counts`` and ``index`` (word -> row).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from .._losses import ADAGRAD_INITIAL_ACCUMULATOR as _ADAGRAD_INITIAL  # one home: sparse_update.hpp
from .._threads import resolve_num_threads
from .arrays import aligned_zeros
from .corpus import (Corpus, PathLike, VocabScan, corpus_source, encode_corpus, encode_with_vocabulary,
                     encoding_dir, scan_vocabulary)

if TYPE_CHECKING:
    from .model import Word2Vec

__all__ = ["build", "encode_for_training", "keep_probabilities", "noise_weights"]



def build(model: Word2Vec, corpus: Corpus, workdir: Optional[PathLike], update: bool
                     ) -> None:
    """``Word2Vec.build_vocab``: count, select (or extend), encode, initialise (or grow)."""
    if update and model.syn0 is None:
        raise ValueError("build_vocab(update=True) needs a model with a vocabulary")
    source = corpus_source(corpus)
    threads = resolve_num_threads(model.num_threads)
    workdir_obj = encoding_dir(workdir)
    tmp = workdir_obj.name
    t0 = time.perf_counter()
    scan, scanned = scan_vocabulary(source, 1 if update else model.min_count,
                                    model.max_vocab_size, threads, tmp)
    if scan.tokens == 0:
        raise ValueError("the corpus is empty")
    model.tokens_read = scan.tokens  # every token read (the kept ones: progress)
    t1 = time.perf_counter()
    if update:
        words, counts = _extend(model, scan)
    else:
        words, counts = _select(model, scan.words, scan.counts)
        if not words:
            why = ""
            if model.max_final_vocab is not None and len(scan.words) > model.max_final_vocab:
                why = (f" (max_final_vocab={model.max_final_vocab} raised it to "
                       f"{int(scan.counts[model.max_final_vocab]) + 1})")
            raise ValueError(f"no word occurs at least min_count={model.min_count} times{why}")
    index = {w: i for i, w in enumerate(words)}
    encoded = encode_corpus(scanned, index, tmp, threads)
    t2 = time.perf_counter()
    old_vocab = len(model.words) if update else 0
    model._workdir, model._encoded = workdir_obj, encoded
    model.words, model.counts, model.index = words, counts, index
    if update:
        _grow_vectors(model, old_vocab)
        model.progress = {"epoch": 0, "chunk": 0, "words_done": 0, "loss": 0.0, "pairs": 0}
        model.history = []
    else:
        _init_vectors(model)
    model.progress["corpus_tokens"] = encoded.num_tokens
    model.progress["corpus_sentences"] = int(encoded.ends.shape[0])
    model.timings = {"vocabulary_s": t1 - t0, "encoding_s": t2 - t1}


def encode_for_training(model: Word2Vec, corpus: Corpus, workdir: Optional[PathLike]) -> None:
    """Encode ``corpus`` with the model's vocabulary (a loaded model given its
    corpus again); it must match the token and sentence counts recorded."""
    source = corpus_source(corpus)
    model._workdir = encoding_dir(workdir)
    tmp = model._workdir.name
    model._encoded = encode_with_vocabulary(source, model.index, tmp,
                                            resolve_num_threads(model.num_threads))
    want = (model.progress["corpus_tokens"], model.progress["corpus_sentences"])
    got = (model._encoded.num_tokens, int(model._encoded.ends.shape[0]))
    if want[0] and want != got:
        raise ValueError(f"this corpus does not match the checkpoint: {got[0]} tokens in "
                         f"{got[1]} sentences, expected {want[0]} in {want[1]}")
    model.progress["corpus_tokens"], model.progress["corpus_sentences"] = got


def keep_probabilities(model: Word2Vec) -> npt.NDArray[np.float32]:
    """word2vec's frequent-word subsampling: P(keep) per word."""
    if model.sample <= 0:
        return np.ones(len(model.words), dtype=np.float32)
    total = float(model.counts.sum())
    threshold = model.sample * total
    c = model.counts.astype(np.float64)
    p = (np.sqrt(c / threshold) + 1.0) * threshold / c
    return np.minimum(p, 1.0).astype(np.float32)


def noise_weights(model: Word2Vec) -> npt.NDArray[np.float32]:
    """The negative-sampling distribution's weights: count^ns_exponent (float32)."""
    return np.power(model.counts.astype(np.float64), model.ns_exponent).astype(np.float32)


def _select(model: Word2Vec, words: Sequence[str], counts: npt.NDArray[np.int64]
            ) -> Tuple[List[str], npt.NDArray[np.int64]]:
    """The vocabulary out of words counted at least min_count times (most
    frequent first): gensim's ``max_final_vocab`` rule (raise the minimum
    count until at most that many words are left, dropping ties at the
    cut), then at most ``max_vocab_size`` words."""
    n = len(words)
    if model.max_final_vocab is not None and n > model.max_final_vocab:
        effective = int(counts[model.max_final_vocab]) + 1
        n = int(np.count_nonzero(counts >= effective))
    if model.max_vocab_size is not None:
        n = min(n, model.max_vocab_size)
    return list(words[:n]), np.asarray(counts[:n], dtype=np.int64)


def _extend(model: Word2Vec, scan: VocabScan) -> Tuple[List[str], npt.NDArray[np.int64]]:
    """The model's words with their counts grown by ``scan``, then the new
    words that pass the model's rules, most frequent first."""
    counts = model.counts.copy()
    new_w, new_c = [], []
    for w, c in zip(scan.words, scan.counts.tolist()):
        i = model.index.get(w)
        if i is not None:
            counts[i] += c
        elif c >= model.min_count:
            new_w.append(w)
            new_c.append(c)
    kept_w, kept_c = _select(model, new_w, np.asarray(new_c, dtype=np.int64))
    return model.words + kept_w, np.concatenate([counts, kept_c])


def _init_vectors(model: Word2Vec) -> None:
    v, d, stride = len(model.words), model.dim, model.stride
    rng = np.random.default_rng(model.seed)
    model.syn0 = aligned_zeros((v, stride))
    # Uniform in [-1/dim, 1/dim), gensim's range (word2vec.c uses half of it,
    # which learns measurably slower in the first epochs).
    model.syn0[:, :d] = (rng.random((v, d), dtype=np.float32) * 2.0 - 1.0) / d
    model.syn1 = aligned_zeros((v, stride))
    model.bias = np.zeros(v, dtype=np.float32)


def _grow_vectors(model: Word2Vec, old: int) -> None:
    """Rows for the words appended after the first ``old``: random input
    vectors (a stream of its own), zero output vectors and biases."""
    v, d, stride = len(model.words), model.dim, model.stride
    if v == old:
        return
    assert model.syn0 is not None and model.syn1 is not None and model.bias is not None
    rng = np.random.default_rng([model.seed, old])
    syn0, syn1 = aligned_zeros((v, stride)), aligned_zeros((v, stride))
    syn0[:old], syn1[:old] = model.syn0, model.syn1
    syn0[old:, :d] = (rng.random((v - old, d), dtype=np.float32) * 2.0 - 1.0) / d
    model.syn0, model.syn1 = syn0, syn1
    model.bias = np.concatenate([model.bias, np.zeros(v - old, np.float32)])
    if model.accum0 is not None:  # nce / sampled softmax: Adagrad's initial accumulators
        assert model.accum1 is not None and model.accum_bias is not None
        grow = v - old
        model.accum0 = np.concatenate(
            [model.accum0, np.full((grow, stride), _ADAGRAD_INITIAL, np.float32)])
        model.accum1 = np.concatenate(
            [model.accum1, np.full((grow, stride), _ADAGRAD_INITIAL, np.float32)])
        model.accum_bias = np.concatenate(
            [model.accum_bias, np.full(grow, _ADAGRAD_INITIAL, np.float32)])
    model.sampler_state = None  # a new noise distribution: a new stream
