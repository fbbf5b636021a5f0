"""A word2vec-style embedding trainer on pysampled's samplers and kernels.

Design: this module owns everything around the C++ kernels: the streamed
corpus and its one-pass vocabulary, the encoded corpus on disk, the
learning-rate schedule, checkpoints and progress. Training runs chunk by
chunk (whole sentences, about ``chunk_words`` tokens each); every chunk is
one call into C++ with the GIL released:

* ``loss="negative"`` (word2vec's objective): `pysampled._word2vec`
  (skip-gram or CBOW, per-window negatives from the unigram^0.75 alias
  table, no log-Q correction).
* ``loss="nce"`` / ``"sampled_softmax"``: TF's losses with shared negatives
  and log-Q correction, through :class:`pysampled.SampledLoss` (the output
  vectors are its weights; inputs are gathered from the input vectors and
  their gradients scattered back in corpus order).

Every random choice is a function of (seed, epoch, corpus position) and
chunks are cut from the encoded corpus alone, so with ``deterministic=True``
the same seed gives bit-identical vectors for any thread count, and
resuming from a checkpoint gives the vectors of an uninterrupted run.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from typing import Iterator, Sequence

import numpy as np

from . import _word2vec
from ._atomic import atomic_write
from ._validation import as_int, resolve_num_threads

__all__ = ["Word2Vec", "TextCorpus", "MAX_SENTENCE_LENGTH"]

#: Longer sentences are cut into pieces of this many tokens (as gensim does).
MAX_SENTENCE_LENGTH = 10_000
_CHECKPOINT_VERSION = 1


class TextCorpus:
    """Plain-text files read lazily: one sentence per line, tokens separated by
    whitespace. Files are decoded as UTF-8 (invalid bytes are replaced)."""

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike]):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        if not self.paths:
            raise ValueError("no input files")
        for p in self.paths:
            if not os.path.isfile(p):
                raise FileNotFoundError(f"input file not found: {p}")

        for p in self.paths:
            with open(p, "rb") as f:
                head = f.read(1 << 16)
            if b"\x00" in head:
                raise ValueError(f"{p} looks like a binary file (it contains NUL bytes), "
                                 "not text with one sentence per line")

    def __iter__(self) -> Iterator[list[str]]:
        for p in self.paths:
            with open(p, encoding="utf-8", errors="replace") as f:
                for line in f:
                    words = line.split()
                    if words:
                        yield words


class _Encoded:
    """The corpus as int32 word ids and int64 sentence ends, in two files."""

    def __init__(self, directory: str):
        self.dir = directory
        self.tokens = np.memmap(os.path.join(directory, "tokens.i32"), dtype=np.int32, mode="r") \
            if os.path.getsize(os.path.join(directory, "tokens.i32")) else np.zeros(0, np.int32)
        self.ends = np.memmap(os.path.join(directory, "ends.i64"), dtype=np.int64, mode="r") \
            if os.path.getsize(os.path.join(directory, "ends.i64")) else np.zeros(0, np.int64)

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[0])

    def chunks(self, chunk_words: int):
        """(index, start, stop, sentence ends relative to start): whole sentences,
        cut as soon as a chunk reaches chunk_words tokens."""
        ends = self.ends
        n_sent = ends.shape[0]
        index = 0
        s0 = 0
        start = 0
        while s0 < n_sent:
            target = start + chunk_words
            s1 = int(np.searchsorted(ends, target, side="left", sorter=None)) + 1
            s1 = min(max(s1, s0 + 1), n_sent)
            stop = int(ends[s1 - 1])
            yield index, start, stop, np.asarray(ends[s0:s1]) - start
            index += 1
            s0, start = s1, stop


def _corpus_source(corpus):
    if isinstance(corpus, (str, os.PathLike)) or (
            isinstance(corpus, (list, tuple)) and corpus and isinstance(corpus[0], (str, os.PathLike))
            and not isinstance(corpus[0], list)):
        return TextCorpus(corpus)
    return corpus


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
        Keep only the most frequent words.
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
                 num_sampled=64, batch_size=128, chunk_words=100_000):
        if model not in ("skipgram", "cbow"):
            raise ValueError(f"model must be 'skipgram' or 'cbow', got {model!r}")
        if loss not in ("negative", "nce", "sampled_softmax"):
            raise ValueError(f"loss must be 'negative', 'nce' or 'sampled_softmax', got {loss!r}")
        self.model = model
        self.loss = loss
        self.dim = _positive(dim, "dim")
        self.window = _positive(window, "window")
        self.negative = as_int(negative, "negative")
        if not 0 <= self.negative <= 62:
            raise ValueError("negative must be between 0 and 62")
        if loss == "negative" and self.negative == 0:
            raise ValueError("loss='negative' needs negative >= 1")
        self.min_count = _positive(min_count, "min_count")
        self.sample = float(sample)
        if not self.sample >= 0:
            raise ValueError("sample must be >= 0")
        if alpha is None:  # word2vec's defaults; Adagrad's for the batch losses
            alpha = 1.0 if loss != "negative" else (0.05 if model == "cbow" else 0.025)
        self.alpha = float(alpha)
        self.min_alpha = float(min_alpha)
        if not (self.alpha > 0 and 0 <= self.min_alpha <= self.alpha):
            raise ValueError("need alpha > 0 and 0 <= min_alpha <= alpha")
        self.epochs = _positive(epochs, "epochs")
        self.cbow_mean = bool(cbow_mean)
        self.max_vocab_size = None if max_vocab_size is None else _positive(max_vocab_size,
                                                                             "max_vocab_size")
        self.threads = threads
        resolve_num_threads(threads)  # validate early
        self.seed = as_int(seed, "seed")
        if not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {self.seed}")
        self.deterministic = bool(deterministic)
        self.group_size = _positive(group_size, "group_size")
        self.num_sampled = _positive(num_sampled, "num_sampled")
        self.batch_size = _positive(batch_size, "batch_size")
        self.chunk_words = _positive(chunk_words, "chunk_words")
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
        self._encoded = None
        self._workdir = None

    # ------------------------------------------------------------------ config
    def config(self) -> dict:
        keys = ["model", "loss", "dim", "window", "negative", "min_count", "sample", "alpha",
                "min_alpha", "epochs", "cbow_mean", "max_vocab_size", "seed", "deterministic",
                "group_size", "num_sampled", "batch_size", "chunk_words"]
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
    def build_vocab(self, corpus, workdir: str | None = None) -> "Word2Vec":
        """Count words in one pass over ``corpus`` (file path(s) or an iterable
        of token lists), keep the frequent ones, encode the corpus to disk and
        initialise the vectors."""
        source = _corpus_source(corpus)
        self._workdir = _encoding_dir(workdir)
        tmp = self._workdir.name
        provisional: dict[str, int] = {}
        counts: list[int] = []
        tok_path = os.path.join(tmp, "provisional.i32")
        n_tokens = 0
        ends: list[int] = []
        with open(tok_path, "wb") as tok_file:
            buf: list[int] = []
            for sentence in source:
                if isinstance(sentence, str):
                    raise TypeError("a corpus is an iterable of token lists (or file paths)")
                for start in range(0, len(sentence), MAX_SENTENCE_LENGTH):
                    piece = sentence[start:start + MAX_SENTENCE_LENGTH]
                    for w in piece:
                        i = provisional.get(w)
                        if i is None:
                            i = provisional[w] = len(counts)
                            counts.append(0)
                        counts[i] += 1
                        buf.append(i)
                    n_tokens += len(piece)
                    ends.append(n_tokens)
                if len(buf) >= 1 << 20:
                    np.asarray(buf, dtype=np.int32).tofile(tok_file)
                    buf.clear()
            np.asarray(buf, dtype=np.int32).tofile(tok_file)
        if n_tokens == 0:
            raise ValueError("the corpus is empty")
        count_arr = np.asarray(counts, dtype=np.int64)
        words = np.array(list(provisional.keys()), dtype=object)
        keep = np.flatnonzero(count_arr >= self.min_count)
        # Most frequent first; ties by word so the order never depends on input order.
        order = sorted(keep.tolist(), key=lambda i: (-count_arr[i], words[i]))
        if self.max_vocab_size is not None:
            order = order[:self.max_vocab_size]
        if not order:
            raise ValueError(f"no word occurs at least min_count={self.min_count} times")
        remap = np.full(len(counts), -1, dtype=np.int32)
        remap[np.asarray(order, dtype=np.int64)] = np.arange(len(order), dtype=np.int32)
        self.words = [str(words[i]) for i in order]
        self.counts = count_arr[np.asarray(order, dtype=np.int64)]
        self.index = {w: i for i, w in enumerate(self.words)}
        self._encode(tok_path, np.asarray(ends, dtype=np.int64), remap, tmp)
        os.remove(tok_path)
        self._init_vectors()
        return self

    def _encode(self, tok_path, ends, remap, tmp):
        """Rewrite the provisional ids as final ids, dropping rare words (and
        sentences left empty)."""
        prov = np.fromfile(tok_path, dtype=np.int32)
        ids = remap[prov]
        kept = ids >= 0
        cum = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
        new_ends = cum[ends]
        new_ends = new_ends[np.diff(np.concatenate([[0], new_ends])) > 0]
        ids[kept].tofile(os.path.join(tmp, "tokens.i32"))
        new_ends.astype(np.int64).tofile(os.path.join(tmp, "ends.i64"))
        self._encoded = _Encoded(tmp)
        self.progress["corpus_tokens"] = self._encoded.num_tokens
        self.progress["corpus_sentences"] = int(self._encoded.ends.shape[0])

    def _init_vectors(self):
        v, d, stride = len(self.words), self.dim, self.stride
        rng = np.random.default_rng(self.seed)
        self.syn0 = _aligned_zeros((v, stride))
        # Uniform in [-1/dim, 1/dim), gensim's range (word2vec.c uses half of it,
        # which learns measurably slower in the first epochs).
        self.syn0[:, :d] = (rng.random((v, d), dtype=np.float32) * 2.0 - 1.0) / d
        self.syn1 = _aligned_zeros((v, stride))
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
        """The negative-sampling distribution's weights: count^0.75 (float32)."""
        return np.power(self.counts.astype(np.float64), 0.75).astype(np.float32)

    # ---------------------------------------------------------------- training
    def train(self, corpus=None, *, progress: bool | None = None, checkpoint: str | None = None,
              checkpoint_every: float = 300.0, workdir: str | None = None,
              stop_after_chunks: int | None = None) -> dict:
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
        n_tokens = enc.num_tokens
        total_words = self.epochs * n_tokens
        chunks = list(enc.chunks(self.chunk_words))
        bar = _Progress(total_words, enabled=progress)
        t_start = time.perf_counter()
        last_ckpt = t_start
        words_this_run = 0
        stopped = False
        sampled_loss = self._make_sampled_loss(threads) if self.loss != "negative" else None
        while self.progress["epoch"] < self.epochs:
            epoch = self.progress["epoch"]
            for index, start, stop, ends in chunks[self.progress["chunk"]:]:
                if stop_after_chunks is not None and stop_after_chunks <= 0:
                    stopped = True
                    break
                frac = self.progress["words_done"] / max(1, total_words)
                alpha = max(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * frac)
                tokens = enc.tokens[start:stop]  # a view of the memory-mapped corpus
                if self.loss == "negative":
                    words, kept, pairs, loss = _word2vec.train_chunk(
                        self.syn0, self.syn1, keep, noise, tokens, np.ascontiguousarray(ends),
                        start, self.seed, epoch, alpha, self.dim, self._kernel_window(),
                        self.negative,
                        self.model == "cbow", self.cbow_mean, not self.deterministic,
                        self.group_size, threads)
                else:
                    words, pairs, loss = self._train_chunk_sampled(
                        sampled_loss, keep, noise, tokens, np.ascontiguousarray(ends), start,
                        epoch, alpha, threads)
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
        source = _corpus_source(corpus)
        self._workdir = _encoding_dir(workdir)
        tmp = self._workdir.name
        ends = []
        n = 0
        with open(os.path.join(tmp, "tokens.i32"), "wb") as f:
            for sentence in source:
                for start in range(0, len(sentence), MAX_SENTENCE_LENGTH):
                    ids = [self.index[w] for w in sentence[start:start + MAX_SENTENCE_LENGTH]
                           if w in self.index]
                    if ids:
                        np.asarray(ids, dtype=np.int32).tofile(f)
                        n += len(ids)
                        ends.append(n)
        np.asarray(ends, dtype=np.int64).tofile(os.path.join(tmp, "ends.i64"))
        self._encoded = _Encoded(tmp)
        want = (self.progress["corpus_tokens"], self.progress["corpus_sentences"])
        got = (self._encoded.num_tokens, int(self._encoded.ends.shape[0]))
        if want[0] and want != got:
            raise ValueError(f"this corpus does not match the checkpoint: {got[0]} tokens in "
                             f"{got[1]} sentences, expected {want[0]} in {want[1]}")
        self.progress["corpus_tokens"], self.progress["corpus_sentences"] = got

    # ------------------------------------------- nce / sampled softmax variant
    def _make_sampled_loss(self, threads):
        from .losses import SampledLoss
        from .samplers import FixedUnigramSampler

        sampler = FixedUnigramSampler(len(self.words), unigrams=self.counts.astype(np.float32),
                                      distortion=0.75, seed=(self.seed, 1))
        if self.sampler_state is not None:  # resumed: continue the negatives' stream
            sampler.set_state({"generator": self.sampler_state})
        loss = "nce" if self.loss == "nce" else "sampled_softmax"
        model = SampledLoss([self.syn1], self.bias, num_sampled=self.num_sampled, loss=loss,
                            sampler=sampler, num_threads=threads, optimizer="adagrad")
        if self.accum1 is not None:  # resumed: continue the output accumulators
            model.accumulators[0][0][...] = self.accum1
            model.accumulators[1][0][...] = self.accum_bias
        # The optimizer state changes only once everything above has worked, so
        # a failure leaves the model as it was (and save() still writes it).
        self._sampler = sampler
        if self.accum0 is None:
            self.accum0 = np.full(self.syn0.shape, 0.1, dtype=np.float32)
        self.accum1 = model.accumulators[0][0]
        self.accum_bias = model.accumulators[1][0]
        return model

    def _train_chunk_sampled(self, model, keep, noise, tokens, ends, position, epoch, alpha,
                             threads):
        inputs, targets, offsets = _word2vec.windows(
            keep, tokens, ends, position, self.seed, epoch, self._kernel_window(),
            self.model == "cbow", threads)
        syn0 = self.syn0
        loss_sum = 0.0
        n_pred = targets.shape[0]
        for b0 in range(0, n_pred, self.batch_size):
            b1 = min(n_pred, b0 + self.batch_size)
            if self.model == "cbow":
                lo, hi = offsets[b0], offsets[b1]
                ctx = inputs[lo:hi]
                seg = offsets[b0:b1] - lo
                x = np.add.reduceat(syn0[ctx], seg, axis=0)
                n_ctx = np.diff(offsets[b0:b1 + 1]).astype(np.float32)
                if self.cbow_mean:
                    x /= n_ctx[:, None]
            else:
                x = syn0[inputs[b0:b1]]
            y = targets[b0:b1]
            res = model.step(y, x, learning_rate=alpha,
                             upstream=np.full(b1 - b0, 1.0 / (b1 - b0), dtype=np.float32))
            loss_sum += float(res.loss.sum(dtype=np.float64))
            g = res.inputs_grad
            if self.model == "cbow":
                if self.cbow_mean:
                    g = g / n_ctx[:, None]
                rows = np.repeat(np.arange(b1 - b0), np.diff(offsets[b0:b1 + 1]))
                self._adagrad_inputs(ctx, g[rows], alpha)
            else:
                self._adagrad_inputs(inputs[b0:b1], g, alpha)
        return tokens.shape[0], n_pred, loss_sum

    def _adagrad_inputs(self, rows, grads, alpha):
        """Adagrad on the input vectors, contributions of a word summed in order."""
        order = np.argsort(rows, kind="stable")
        r = rows[order]
        first = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
        ids = r[first]
        g = np.add.reduceat(grads[order], first, axis=0)
        acc = self.accum0[ids] + g * g
        self.accum0[ids] = acc
        self.syn0[ids] -= alpha * g / (np.sqrt(acc) + 1e-7)

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
        from .w2v_format import save_word2vec_format

        save_word2vec_format(path, self.words, self.vectors, binary=binary)

    def save(self, path) -> None:
        """Write a checkpoint (atomically: a temporary file, fsync, rename)."""
        if self._sampler is not None:
            self.sampler_state = [int(x) for x in self._sampler.get_state()["generator"]]
        meta = {"version": _CHECKPOINT_VERSION, "config": self.config(),
                "progress": self.progress, "history": self.history,
                "sampler_state": self.sampler_state}
        extra = {}
        if self.accum0 is not None:  # set together with accum1/accum_bias
            extra = dict(accum0=self.accum0, accum1=self.accum1, accum_bias=self.accum_bias)
        with atomic_write(path, "wb") as f:
            np.savez(f, syn0=self.syn0, syn1=self.syn1, bias=self.bias, counts=self.counts,
                     words=np.array(self.words, dtype=str), meta=np.array(json.dumps(meta)),
                     **extra)

    @classmethod
    def load(cls, path, *, threads=None) -> "Word2Vec":
        """A model from a checkpoint written by :meth:`save` (training can go on
        with :meth:`train`, given the same corpus). Anything that is not such a
        checkpoint raises ``ValueError``."""
        where = os.fspath(path)
        try:
            with np.load(where, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                _check_meta(meta)
                obj = cls(**meta["config"], threads=threads)
                arrays = {k: z[k] for k in z.files if k != "meta"}
        except ValueError as e:
            raise ValueError(f"cannot read checkpoint {where!r}: {e}") from e
        except FileNotFoundError:
            raise
        except Exception as e:  # zipfile, json, npy and constructor errors
            raise ValueError(f"cannot read checkpoint {where!r}: {type(e).__name__}: {e}") from e
        try:
            words = [str(w) for w in arrays["words"]]
            v, stride = len(words), obj.stride
            for name in ("syn0", "syn1"):
                if arrays[name].shape != (v, stride) or arrays[name].dtype != np.float32:
                    raise ValueError(f"{name} has shape {arrays[name].shape}, expected {(v, stride)}")
            if arrays["bias"].shape != (v,) or arrays["counts"].shape != (v,):
                raise ValueError("bias or counts do not match the vocabulary")
            obj.syn0 = _aligned_zeros((v, stride))
            obj.syn0[...] = arrays["syn0"]
            obj.syn1 = _aligned_zeros((v, stride))
            obj.syn1[...] = arrays["syn1"]
            obj.bias = np.array(arrays["bias"], dtype=np.float32)
            obj.counts = np.array(arrays["counts"], dtype=np.int64)
            obj.words = words
            if "accum0" in arrays:
                obj.accum0 = np.array(arrays["accum0"], dtype=np.float32)
                obj.accum1 = np.array(arrays["accum1"], dtype=np.float32)
                obj.accum_bias = np.array(arrays["accum_bias"], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"checkpoint {where!r} is inconsistent: {e}") from e
        obj.index = {w: i for i, w in enumerate(obj.words)}
        obj.progress = dict(meta["progress"])
        obj.history = [dict(h) for h in meta["history"]]
        obj.sampler_state = meta.get("sampler_state")
        return obj


def _check_meta(meta) -> None:
    """The JSON part of a checkpoint must have the fields and types save() writes."""
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    if meta.get("version") != _CHECKPOINT_VERSION:
        raise ValueError(f"unsupported checkpoint version {meta.get('version')!r}")
    config, progress, history = meta.get("config"), meta.get("progress"), meta.get("history")
    if not isinstance(config, dict):
        raise ValueError("config is not a JSON object")
    known = set(Word2Vec().config())
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    for key in ("dim", "window", "negative", "min_count", "epochs", "seed", "group_size",
                "num_sampled", "batch_size", "chunk_words"):
        if key in config and (type(config[key]) is not int):
            raise ValueError(f"config {key!r} must be an integer, got {config[key]!r}")
    if not isinstance(progress, dict):
        raise ValueError("progress is not a JSON object")
    for key in ("epoch", "chunk", "words_done", "pairs", "corpus_tokens", "corpus_sentences"):
        if type(progress.get(key)) is not int or progress[key] < 0:
            raise ValueError(f"progress {key!r} must be a non-negative integer")
    if type(progress.get("loss")) not in (int, float):
        raise ValueError("progress 'loss' must be a number")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ValueError("history must be a list of objects")
    state = meta.get("sampler_state")
    if state is not None and not (isinstance(state, list) and len(state) == 6
                                  and all(type(x) is int for x in state)):
        raise ValueError("sampler_state must be six integers")


_WORKDIR_PREFIX = "pysampled-w2v-"


def _encoding_dir(workdir):
    """A temporary directory for the encoded corpus, named after this process;
    directories that killed trainers left behind in the same place are
    removed first (only ours: the name pattern, and the owner's pid is gone)."""
    import shutil

    base = workdir if workdir is not None else tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        names = []
    for name in names:
        parts = name[len(_WORKDIR_PREFIX):].split("-", 1)
        if not name.startswith(_WORKDIR_PREFIX) or len(parts) != 2 or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # alive (or not ours to judge)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            continue
    return tempfile.TemporaryDirectory(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-", dir=workdir)


def _aligned_zeros(shape, align=64) -> np.ndarray:
    """float32 zeros whose data starts on an `align`-byte boundary (rows of a
    multiple of 16 floats then never straddle cache lines)."""
    n = int(np.prod(shape))
    raw = np.zeros(n + align // 4, dtype=np.float32)
    offset = (-raw.ctypes.data % align) // 4
    return raw[offset:offset + n].reshape(shape)


def _positive(value, name) -> int:
    v = as_int(value, name)
    if v < 1:
        raise ValueError(f"{name} must be at least 1, got {v}")
    if v >= 2**63:  # every size reaches C++ as int64
        raise ValueError(f"{name} must be less than 2**63, got {v}")
    return v


class _Progress:
    """A one-line progress display on stderr: words/s, loss, learning rate, ETA."""

    def __init__(self, total: int, enabled: bool):
        self.total = max(1, total)
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = 0.0

    def update(self, done, done_this_run, loss, alpha, epoch):
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < 0.2 and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = done_this_run / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        frac = done / self.total
        bar = "#" * int(frac * 20) + "-" * (20 - int(frac * 20))
        eta_s = "--:--" if math.isinf(eta) else f"{int(eta) // 60:d}:{int(eta) % 60:02d}"
        sys.stderr.write(f"\repoch {epoch + 1} [{bar}] {frac * 100:5.1f}%  {rate / 1e6:6.2f}M words/s"
                         f"  loss {loss:.4f}  lr {alpha:.5f}  ETA {eta_s} ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
