"""A word2vec-style embedding trainer on pysampled's samplers and kernels.

Design: this module owns the model (configuration, vocabulary, vectors) and
the training schedule around the C++ kernels; the corpus and its encoding
live in :mod:`.corpus`, checkpoints in :mod:`.checkpoint`, the progress line
in :mod:`.progress`. Training runs chunk by
chunk (whole sentences, about ``chunk_words`` tokens each); every chunk is
one call into C++ with the GIL released:

* ``loss="negative"`` (word2vec's objective): `pysampled._word2vec`
  (skip-gram or CBOW, per-window negatives from the unigram^0.75 alias
  table, no log-Q correction).
* ``loss="nce"`` / ``"sampled_softmax"``: TF's losses with shared negatives
  and log-Q correction, `pysampled._word2vec.train_chunk_sampled` (batches
  of predictions through the loss kernel of :class:`pysampled.SampledLoss`,
  the output vectors as its weights, Adagrad on output and input rows by
  the one C++ sparse row update; negatives from a
  :class:`~pysampled.FixedUnigramSampler` stream kept across chunks).

Every random choice is a function of (seed, epoch, corpus position) and
chunks are cut from the encoded corpus alone, so with ``deterministic=True``
the same seed gives bit-identical vectors for any thread count, and
resuming from a checkpoint gives the vectors of an uninterrupted run.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np

from .. import _word2vec
from .._losses import ADAGRAD_INITIAL_ACCUMULATOR
from .._validation import as_int, int_at_least, resolve_num_threads
from .arrays import aligned_zeros
from .checkpoint import load_checkpoint, save_checkpoint
from .corpus import (MAX_SENTENCE_LENGTH, TextCorpus, VocabScan, corpus_source, encode_corpus,
                     encode_with_vocabulary, encoding_dir, scan_vocabulary)
from .progress import Progress

__all__ = ["Word2Vec", "TextCorpus", "MAX_SENTENCE_LENGTH"]


class _ThreadChooser:
    """Thread count per chunk of the deterministic mode. Its results are the
    same for any thread count, but its synchronous groups make every thread
    wait for the slowest: with a busy neighbour on one core, `threads`
    threads can be far slower than one. So both counts are timed (every
    `probe_every`-th chunk, or less often the slower the other count was,
    runs the other one) and the faster per word is used. Only the speed depends on this choice, never the vectors."""

    def __init__(self, threads: int, adaptive: bool, probe_every: int = 8):
        self.threads = threads
        self.options = (threads, 1) if adaptive and threads > 1 else (threads,)
        self.cost = {t: None for t in self.options}  # smoothed seconds per word
        self.probe_every = probe_every
        self.calls = 0

    def pick(self) -> int:
        self.calls += 1
        if len(self.options) == 1:
            return self.threads
        unknown = [t for t in self.options if self.cost[t] is None]
        if unknown:
            return unknown[0]
        best = min(self.options, key=lambda t: self.cost[t])
        other = next(t for t in self.options if t != best)
        # Probe the slower count less often the slower it is (at most 1/64 of the chunks).
        period = min(64, int(self.probe_every * self.cost[other] / self.cost[best]))
        if self.calls % max(self.probe_every, period) == 0:
            return other
        return best

    def record(self, threads: int, seconds: float, words: int) -> None:
        if words <= 0 or len(self.options) == 1:
            return
        c = seconds / words
        old = self.cost[threads]
        self.cost[threads] = c if old is None else 0.5 * old + 0.5 * c


class Word2Vec:
    """Skip-gram / CBOW word embeddings (word2vec, gensim-compatible options).

    Parameters
    ----------
    model : {"skipgram", "cbow"}
    loss : {"negative", "nce", "sampled_softmax"}
        "negative": word2vec's negative sampling (``negative`` noise words per
        training window, drawn from the unigram^0.75 distribution, no log-Q).
        "nce" / "sampled_softmax": TF's losses, ``num_sampled`` negatives
        shared by a batch of ``batch_size`` predictions, log-Q corrected.
    dim, window, negative, min_count, sample, alpha, min_alpha, epochs :
        As in word2vec/gensim: vector size; maximal window radius (each
        window is shrunk by a random 0..window-1); noise words per window;
        words rarer than min_count are dropped; frequent-word subsampling
        threshold (0 disables); initial and final learning rate (linear
        decay over all epochs; alpha defaults to 0.025 for skip-gram and
        0.05 for CBOW with loss="negative", and to 1.0 for "nce" and
        "sampled_softmax", which minimise each batch's mean loss with
        Adagrad); passes over the corpus.
    cbow_mean : bool
        CBOW input is the mean (True) or sum of the context vectors.
    max_vocab_size : int, optional
        Bound the vocabulary while counting, as gensim and word2vec.c do
        (between blocks of the corpus, the rarest words so far are pruned:
        see :mod:`pysampled.word2vec.corpus` for the rule), then keep the
        ``max_vocab_size`` most frequent words (ties by word).
    max_final_vocab : int, optional
        gensim's rule: raise ``min_count`` to one more than the count of the
        word ranked ``max_final_vocab`` (0-based), so that at most that many
        words are kept and words tied at the cut are all dropped.
    ns_exponent : float
        The noise distribution is count^ns_exponent (word2vec's 0.75; 0 is
        uniform, 1 the unigram distribution, negative values favour rare
        words). Also the distortion of the nce / sampled-softmax sampler.
    shrink_windows : bool
        True (word2vec, gensim's default): each window's radius is drawn
        uniformly from 1..window. False: every window has radius ``window``.
    threads : int, optional
        None: what OpenMP allows; -1: all cores.
    seed : int
        Seed of every random choice (initial vectors, subsampling, windows,
        negatives).
    deterministic : bool
        True: training windows are processed in groups whose updates are
        computed from the same weights and summed per word in corpus order,
        so results are bit-identical for any thread count. False: lock-free
        "Hogwild" updates as in word2vec.c (faster, timing-dependent).
    group_size : int
        Windows per synchronous update in deterministic mode.
    num_sampled, batch_size :
        Negatives per batch and predictions per batch for "nce" and
        "sampled_softmax" (the batch's mean loss is minimised).
    chunk_words : int
        Tokens per kernel call (the learning rate is updated per chunk).
    """

    def __init__(self, *, model="skipgram", loss="negative", dim=100, window=5, negative=5,
                 min_count=5, sample=1e-3, alpha=None, min_alpha=1e-4, epochs=5, cbow_mean=True,
                 max_vocab_size=None, threads=None, seed=1, deterministic=True, group_size=64,
                 num_sampled=64, batch_size=128, chunk_words=100_000, max_final_vocab=None,
                 ns_exponent=0.75, shrink_windows=True):
        if model not in ("skipgram", "cbow"):
            raise ValueError(f"model must be 'skipgram' or 'cbow', got {model!r}")
        if loss not in ("negative", "nce", "sampled_softmax"):
            raise ValueError(f"loss must be 'negative', 'nce' or 'sampled_softmax', got {loss!r}")
        self.model = model
        self.loss = loss
        self.dim = int_at_least(dim, "dim")
        self.window = int_at_least(window, "window")
        self.negative = as_int(negative, "negative")
        if not 0 <= self.negative <= 62:
            raise ValueError("negative must be between 0 and 62")
        if loss == "negative" and self.negative == 0:
            raise ValueError("loss='negative' needs negative >= 1")
        self.min_count = int_at_least(min_count, "min_count")
        self.sample = float(sample)
        if not self.sample >= 0:
            raise ValueError("sample must be >= 0")
        if alpha is None:  # word2vec's defaults; Adagrad's for the batch losses
            alpha = 1.0 if loss != "negative" else (0.05 if model == "cbow" else 0.025)
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        if not (self.alpha > 0 and 0 <= self.min_alpha <= self.alpha):
            raise ValueError("need alpha > 0 and 0 <= min_alpha <= alpha")
        self.epochs = int_at_least(epochs, "epochs")
        self.cbow_mean = bool(cbow_mean)
        self.max_vocab_size = None if max_vocab_size is None else int_at_least(max_vocab_size,
                                                                             "max_vocab_size")
        self.max_final_vocab = None if max_final_vocab is None else int_at_least(
            max_final_vocab, "max_final_vocab")
        self.ns_exponent = float(ns_exponent)
        if not np.isfinite(self.ns_exponent):
            raise ValueError("ns_exponent must be finite")
        self.shrink_windows = bool(shrink_windows)
        self.threads = threads
        resolve_num_threads(threads)  # validate early
        self.seed = as_int(seed, "seed")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {self.seed}")
        self.deterministic = bool(deterministic)
        self.group_size = int_at_least(group_size, "group_size")
        self.num_sampled = int_at_least(num_sampled, "num_sampled")
        self.batch_size = int_at_least(batch_size, "batch_size")
        self.chunk_words = int_at_least(chunk_words, "chunk_words")
        self.words: list[str] = []
        self.counts = np.zeros(0, np.int64)
        self.index: dict[str, int] = {}
        self.syn0 = self.syn1 = self.bias = None
        # Adagrad accumulators and negatives' stream of the nce / sampled-softmax variants.
        self.accum0 = self.accum1 = self.accum_bias = None
        self.sampler_state = None
        self._sampler = None
        self.progress = {"epoch": 0, "chunk": 0, "words_done": 0, "loss": 0.0, "pairs": 0,
                         "corpus_tokens": 0, "corpus_sentences": 0}
        self.history: list[dict] = []
        self.tokens_read: int | None = None  # set by build_vocab
        self._encoded = None
        self._workdir = None
        #: Seconds spent by the last build_vocab: counting, then encoding.
        self.timings: dict = {}

    def __repr__(self) -> str:
        cfg = self.config()
        shown = ", ".join(f"{k}={cfg[k]!r}" for k in ("model", "loss", "dim", "window", "epochs"))
        if self.syn0 is None:
            state = "no vocabulary yet"
        else:
            state = (f"vocabulary={len(self.words):,} words, "
                     f"trained {self.progress['epoch']} of {self.epochs} epochs")
        return f"<Word2Vec {shown}; {state}>"

    # ------------------------------------------------------------------ config
    def config(self) -> dict:
        keys = ["model", "loss", "dim", "window", "negative", "min_count", "sample", "alpha",
                "min_alpha", "epochs", "cbow_mean", "max_vocab_size", "seed", "deterministic",
                "group_size", "num_sampled", "batch_size", "chunk_words", "max_final_vocab",
                "ns_exponent", "shrink_windows"]
        return {k: getattr(self, k) for k in keys}

    @property
    def vectors(self) -> np.ndarray:
        """The input vectors, ``[vocab_size, dim]`` (a view into the model)."""
        if self.syn0 is None:
            raise RuntimeError("the model has no vectors yet: build_vocab() or train() first")
        return self.syn0[:, :self.dim]

    def _kernel_window(self) -> int:
        # No window reaches past a sentence, and sentences are cut at
        # MAX_SENTENCE_LENGTH tokens: larger windows all behave the same.
        return min(self.window, MAX_SENTENCE_LENGTH)

    @property
    def stride(self) -> int:
        return (self.dim + 15) // 16 * 16

    # ------------------------------------------------------------------- vocab
    def build_vocab(self, corpus, workdir: str | None = None, *, update: bool = False
                    ) -> "Word2Vec":
        """Count words in one pass over ``corpus`` (file path(s) or an iterable
        of token lists), keep the frequent ones, encode the corpus to disk and
        initialise the vectors.

        Text files are read, counted and encoded in C++ (in parallel, memory
        bounded by the vocabulary); other iterables in Python, with the same
        result for the same sentences.

        Parameters
        ----------
        update : bool
            Continue training on new text (gensim's ``build_vocab(update=True)``):
            words of ``corpus`` not yet in the model that pass ``min_count``
            (and ``max_final_vocab`` / ``max_vocab_size``, applied to the new
            words) are appended after the existing ones, most frequent first,
            with new random input vectors and zero output vectors; the counts
            of words already in the model grow by their occurrences in
            ``corpus``. The training schedule restarts: the next
            :meth:`train` runs all ``epochs`` over ``corpus``.
        """
        if update and self.syn0 is None:
            raise ValueError("build_vocab(update=True) needs a model with a vocabulary")
        source = corpus_source(corpus)
        threads = resolve_num_threads(self.threads)
        workdir_obj = encoding_dir(workdir)
        tmp = workdir_obj.name
        t0 = time.perf_counter()
        scan, scanned = scan_vocabulary(source, 1 if update else self.min_count,
                                        self.max_vocab_size, threads, tmp)
        if scan.tokens == 0:
            raise ValueError("the corpus is empty")
        self.tokens_read = scan.tokens  # every token read (the kept ones: progress)
        t1 = time.perf_counter()
        if update:
            words, counts = self._extend_vocabulary(scan)
        else:
            words, counts = self._select(scan.words, scan.counts)
            if not words:
                why = ""
                if self.max_final_vocab is not None and len(scan.words) > self.max_final_vocab:
                    why = (f" (max_final_vocab={self.max_final_vocab} raised it to "
                           f"{int(scan.counts[self.max_final_vocab]) + 1})")
                raise ValueError(f"no word occurs at least min_count={self.min_count} times{why}")
        index = {w: i for i, w in enumerate(words)}
        encoded = encode_corpus(scanned, index, tmp, threads)
        t2 = time.perf_counter()
        old_vocab = len(self.words) if update else 0
        self._workdir, self._encoded = workdir_obj, encoded
        self.words, self.counts, self.index = words, counts, index
        if update:
            self._grow_vectors(old_vocab)
            self.progress = {"epoch": 0, "chunk": 0, "words_done": 0, "loss": 0.0, "pairs": 0}
            self.history = []
        else:
            self._init_vectors()
        self.progress["corpus_tokens"] = encoded.num_tokens
        self.progress["corpus_sentences"] = int(encoded.ends.shape[0])
        self.timings = {"vocabulary_s": t1 - t0, "encoding_s": t2 - t1}
        return self

    def _select(self, words: list, counts: np.ndarray) -> tuple[list, np.ndarray]:
        """The vocabulary out of words counted at least min_count times (most
        frequent first): gensim's ``max_final_vocab`` rule (raise the minimum
        count until at most that many words are left, dropping ties at the
        cut), then at most ``max_vocab_size`` words."""
        n = len(words)
        if self.max_final_vocab is not None and n > self.max_final_vocab:
            effective = int(counts[self.max_final_vocab]) + 1
            n = int(np.count_nonzero(counts >= effective))
        if self.max_vocab_size is not None:
            n = min(n, self.max_vocab_size)
        return list(words[:n]), np.asarray(counts[:n], dtype=np.int64)

    def _extend_vocabulary(self, scan: VocabScan) -> tuple[list, np.ndarray]:
        counts = self.counts.copy()
        new_w, new_c = [], []
        for w, c in zip(scan.words, scan.counts.tolist()):
            i = self.index.get(w)
            if i is not None:
                counts[i] += c
            elif c >= self.min_count:
                new_w.append(w)
                new_c.append(c)
        new_w, new_c_arr = self._select(new_w, np.asarray(new_c, dtype=np.int64))
        return self.words + new_w, np.concatenate([counts, new_c_arr])

    def _grow_vectors(self, old: int):
        v, d, stride = len(self.words), self.dim, self.stride
        if v == old:
            return
        rng = np.random.default_rng([self.seed, old])
        syn0, syn1 = aligned_zeros((v, stride)), aligned_zeros((v, stride))
        syn0[:old], syn1[:old] = self.syn0, self.syn1
        syn0[old:, :d] = (rng.random((v - old, d), dtype=np.float32) * 2.0 - 1.0) / d
        self.syn0, self.syn1 = syn0, syn1
        self.bias = np.concatenate([self.bias, np.zeros(v - old, np.float32)])
        if self.accum0 is not None:  # nce / sampled softmax: Adagrad's initial accumulators
            grow, init = v - old, ADAGRAD_INITIAL_ACCUMULATOR
            self.accum0 = np.concatenate([self.accum0, np.full((grow, stride), init, np.float32)])
            self.accum1 = np.concatenate([self.accum1, np.full((grow, stride), init, np.float32)])
            self.accum_bias = np.concatenate([self.accum_bias, np.full(grow, init, np.float32)])
        self.sampler_state = None  # a new noise distribution: a new stream

    def _init_vectors(self):
        v, d, stride = len(self.words), self.dim, self.stride
        rng = np.random.default_rng(self.seed)
        self.syn0 = aligned_zeros((v, stride))
        # Uniform in [-1/dim, 1/dim), gensim's range (word2vec.c uses half of it,
        # which learns measurably slower in the first epochs).
        self.syn0[:, :d] = (rng.random((v, d), dtype=np.float32) * 2.0 - 1.0) / d
        self.syn1 = aligned_zeros((v, stride))
        self.bias = np.zeros(v, dtype=np.float32)

    def keep_probabilities(self) -> np.ndarray:
        """word2vec's frequent-word subsampling: P(keep) per word."""
        if self.sample <= 0:
            return np.ones(len(self.words), dtype=np.float32)
        total = float(self.counts.sum())
        threshold = self.sample * total
        c = self.counts.astype(np.float64)
        p = (np.sqrt(c / threshold) + 1.0) * threshold / c
        return np.minimum(p, 1.0).astype(np.float32)

    def noise_weights(self) -> np.ndarray:
        """The negative-sampling distribution's weights: count^ns_exponent (float32)."""
        return np.power(self.counts.astype(np.float64), self.ns_exponent).astype(np.float32)

    # ---------------------------------------------------------------- training
    def train(self, corpus=None, *, progress: bool | None = None, checkpoint: str | None = None,
              checkpoint_every: float = 300.0, workdir: str | None = None,
              stop_after_chunks: int | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict:
        """Train for the remaining epochs (all of them unless resumed).

        Parameters
        ----------
        corpus : path(s) or iterable of token lists, optional
            Needed unless the vocabulary was built in this process (then the
            encoded corpus is reused). After :meth:`load`, the same corpus
            must be given again; it is encoded with the loaded vocabulary and
            checked against the recorded token and sentence counts.
        progress : bool, optional
            Show a progress line on stderr (default: when stderr is a TTY).
        checkpoint : str, optional
            Path of a checkpoint written atomically every ``checkpoint_every``
            seconds and at the end of each epoch; :meth:`load` resumes from it.
        stop_after_chunks : int, optional
            Stop after this many chunks (for tests and time-boxed runs).
        should_stop : callable, optional
            Called before every chunk; when it returns True training stops
            there, as with ``stop_after_chunks`` (the command line's SIGINT /
            SIGTERM handler sets it, so the final checkpoint is consistent).

        Returns
        -------
        dict
            Summary: words, seconds, words per second, mean loss per epoch.
        """
        if self._encoded is None:
            if corpus is None:
                raise ValueError("train() needs a corpus (the vocabulary was built elsewhere)")
            if self.syn0 is None:
                self.build_vocab(corpus, workdir=workdir)
            else:
                self._encode_with_vocab(corpus, workdir)
        if progress is None:
            progress = sys.stderr.isatty()
        threads = resolve_num_threads(self.threads)
        keep = self.keep_probabilities()
        noise = _word2vec.NoiseTable(self.noise_weights())
        enc = self._encoded
        # Deterministic results do not depend on the thread count, so it may
        # follow the machine's load; Hogwild keeps the threads asked for.
        chooser = _ThreadChooser(threads, adaptive=self.deterministic)
        n_tokens = enc.num_tokens
        total_words = self.epochs * n_tokens
        chunks = list(enc.chunks(self.chunk_words))
        bar = Progress(total_words, enabled=progress)
        t_start = time.perf_counter()
        last_ckpt = t_start
        words_this_run = 0
        stopped = False
        sampler = self._make_sampled_loss() if self.loss != "negative" else None
        while self.progress["epoch"] < self.epochs:
            epoch = self.progress["epoch"]
            for index, start, stop, ends in chunks[self.progress["chunk"]:]:
                if (stop_after_chunks is not None and stop_after_chunks <= 0) or (
                        should_stop is not None and should_stop()):
                    stopped = True
                    break
                frac = self.progress["words_done"] / max(1, total_words)
                alpha = max(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * frac)
                tokens = enc.tokens[start:stop]  # a view of the memory-mapped corpus
                if self.loss == "negative":
                    chunk_threads = chooser.pick()
                    t_chunk = time.perf_counter()
                    words, kept, pairs, loss = _word2vec.train_chunk(
                        self.syn0, self.syn1, keep, noise, tokens, np.ascontiguousarray(ends),
                        start, self.seed, epoch, alpha, self.dim, self._kernel_window(),
                        self.negative,
                        self.model == "cbow", self.cbow_mean, not self.deterministic,
                        self.group_size, chunk_threads, self.shrink_windows)
                    chooser.record(chunk_threads, time.perf_counter() - t_chunk, int(words))
                else:
                    words, pairs, loss = self._train_chunk_sampled(
                        sampler, keep, tokens, np.ascontiguousarray(ends), start, epoch, alpha,
                        threads)
                self.progress["chunk"] = index + 1
                self.progress["words_done"] += int(words)
                self.progress["loss"] += float(loss)
                self.progress["pairs"] += int(pairs)
                words_this_run += int(words)
                if stop_after_chunks is not None:
                    stop_after_chunks -= 1
                bar.update(self.progress["words_done"], words_this_run,
                           self.progress["loss"] / max(1, self.progress["pairs"]), alpha, epoch)
                if checkpoint and time.perf_counter() - last_ckpt >= checkpoint_every:
                    self.save(checkpoint)
                    last_ckpt = time.perf_counter()
            if stopped:
                if checkpoint:
                    self.save(checkpoint)
                break
            self.history.append({"epoch": epoch,
                                 "loss": self.progress["loss"] / max(1, self.progress["pairs"])})
            self.progress.update(epoch=epoch + 1, chunk=0, loss=0.0, pairs=0)
            if checkpoint:
                self.save(checkpoint)
                last_ckpt = time.perf_counter()
        seconds = time.perf_counter() - t_start
        bar.close()
        return {"words": words_this_run, "seconds": seconds,
                "words_per_second": words_this_run / seconds if seconds > 0 else float("nan"),
                "epochs": [dict(h) for h in self.history], "finished": not stopped}

    def _encode_with_vocab(self, corpus, workdir):
        source = corpus_source(corpus)
        self._workdir = encoding_dir(workdir)
        tmp = self._workdir.name
        self._encoded = encode_with_vocabulary(source, self.index, tmp,
                                               resolve_num_threads(self.threads))
        want = (self.progress["corpus_tokens"], self.progress["corpus_sentences"])
        got = (self._encoded.num_tokens, int(self._encoded.ends.shape[0]))
        if want[0] and want != got:
            raise ValueError(f"this corpus does not match the checkpoint: {got[0]} tokens in "
                             f"{got[1]} sentences, expected {want[0]} in {want[1]}")
        self.progress["corpus_tokens"], self.progress["corpus_sentences"] = got

    # ------------------------------------------- nce / sampled softmax variant
    def _make_sampled_loss(self):
        """The negatives' sampler and the Adagrad accumulators of the nce /
        sampled-softmax variants, continued from a checkpoint when resumed."""
        from ..samplers import FixedUnigramSampler

        sampler = FixedUnigramSampler(len(self.words), unigrams=self.counts.astype(np.float32),
                                      distortion=self.ns_exponent, seed=(self.seed, 1))
        if self.sampler_state is not None:  # resumed: continue the negatives' stream
            sampler.set_state({"generator": self.sampler_state})
        # The optimizer state changes only once everything above has worked, so
        # a failure leaves the model as it was (and save() still writes it).
        self._sampler = sampler
        if self.accum0 is None:  # set together with accum1 / accum_bias
            init = ADAGRAD_INITIAL_ACCUMULATOR
            self.accum0 = np.full(self.syn0.shape, init, dtype=np.float32)
            self.accum1 = np.full(self.syn1.shape, init, dtype=np.float32)
            self.accum_bias = np.full(self.bias.shape, init, dtype=np.float32)
        return sampler

    def _train_chunk_sampled(self, sampler, keep, tokens, ends, position, epoch, alpha, threads):
        """One chunk in C++: batches of ``batch_size`` predictions, TF's loss
        with ``num_sampled`` negatives from ``sampler``'s stream, Adagrad on
        the output rows, biases and input rows (word2vec_sampled.hpp)."""
        words, _, pairs, loss = _word2vec.train_chunk_sampled(
            self.syn0, self.syn1, self.bias, self.accum0, self.accum1, self.accum_bias, keep,
            sampler._stream, tokens, ends, position, self.seed, epoch, alpha,
            self._kernel_window(), self.model == "cbow", self.cbow_mean, self.loss == "nce",
            self.num_sampled, self.batch_size, threads, self.shrink_windows)
        return words, pairs, loss

    # ----------------------------------------------------------------- queries
    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words with the highest cosine similarity to ``word``."""
        if word not in self.index:
            raise KeyError(f"word {word!r} not in vocabulary")
        v = self.vectors
        norms = np.linalg.norm(v, axis=1)
        norms[norms == 0] = 1
        q = v[self.index[word]] / norms[self.index[word]]
        sims = (v @ q) / norms
        sims[self.index[word]] = -np.inf
        best = np.argsort(-sims)[:topn]
        return [(self.words[i], float(sims[i])) for i in best]

    # ------------------------------------------------------------------- files
    def save_word2vec_format(self, path, binary: bool = False) -> None:
        """Write the vectors in word2vec's text or binary format (atomically)."""
        from .formats import save_word2vec_format

        save_word2vec_format(path, self.words, self.vectors, binary=binary)

    def save(self, path) -> None:
        """Write a checkpoint (atomically: a temporary file, fsync, rename)."""
        save_checkpoint(self, path)

    @classmethod
    def load(cls, path, *, threads=None) -> "Word2Vec":
        """A model from a checkpoint written by :meth:`save` (training can go on
        with :meth:`train`, given the same corpus). Anything that is not such a
        checkpoint raises ``ValueError``."""
        return load_checkpoint(cls, path, threads=threads)
