"""A word2vec-style embedding trainer on pysampled's samplers and kernels.

Design: :class:`Word2Vec` is the model: its options (checked by
:mod:`.options`), its vocabulary and vectors, and the public methods. Each
method hands its work to the module that owns the concern: the vocabulary
(:mod:`.vocabulary`), the training schedule (:mod:`.training`), queries
(:mod:`.queries`), checkpoints (:mod:`.checkpoint`), word2vec files
(:mod:`.formats`); the corpus and its encoding live in :mod:`.corpus`.
Training runs chunk by chunk (whole sentences, about ``chunk_words`` tokens
each); every chunk is one call into C++ with the GIL released:

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

from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

from .. import _word2vec
from .._losses import ADAGRAD_INITIAL_ACCUMULATOR
from . import queries, training, vocabulary
from .checkpoint import load_checkpoint, save_checkpoint
from .corpus import MAX_SENTENCE_LENGTH, Corpus, PathLike, TextCorpus
from .options import thread_keyword
from .state import Word2VecState
from .training import TrainSummary, _ThreadChooser  # noqa: F401  (tests import it from here)

__all__ = ["Word2Vec", "TextCorpus", "MAX_SENTENCE_LENGTH"]


class Word2Vec(Word2VecState):
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
    num_threads : int, optional
        None: what OpenMP allows; -1: all cores. ``threads`` is its
        deprecated name (a DeprecationWarning; giving both is a TypeError).
    seed : int
        Seed of every random choice (initial vectors, subsampling, windows,
        negatives).
    deterministic : bool
        True: training windows are processed in groups whose updates are
        computed from the same weights and added to each word's rows in
        corpus order, so results are bit-identical for any thread count. A
        skip-gram group keeps the input gradient of each context word:
        ``group_size`` x 2 ``window`` rows of ``dim`` floats (0.27 MiB with
        the defaults). False: lock-free "Hogwild" updates from all threads
        at once, as in word2vec.c, each skip-gram window (and each batch of
        4 CBOW windows) computed from the rows as they are and then applied
        (timing-dependent on several threads; on one thread the same bits as
        ``deterministic=True`` with ``group_size`` 1, or 4 for CBOW). On
        several threads each thread trains the rows of the 256 most
        frequent words on its own copies, merged into the shared rows every
        4,096 / threads of its windows and at each chunk's end, so that
        those rows stop moving between cores.
    group_size : int
        Windows per synchronous update in deterministic mode.
    num_sampled, batch_size :
        Negatives per batch and predictions per batch for "nce" and
        "sampled_softmax" (the batch's mean loss is minimised).
    chunk_words : int
        Tokens per kernel call (the learning rate is updated per chunk).
    """

    # ------------------------------------------------------------------- vocab
    def build_vocab(self, corpus: Corpus, workdir: Optional[PathLike] = None, *,
                    update: bool = False) -> Word2Vec:
        """Count words in one pass over ``corpus`` (file path(s) or an iterable
        of token lists), keep the frequent ones, encode the corpus to disk and
        initialise the vectors.

        Text files are read, counted and encoded in C++ (in parallel, memory
        bounded by the vocabulary); other iterables in Python, with the same
        result for the same sentences. The count writes every token's
        provisional id to ``workdir`` (4 bytes per token, beside the encoded
        corpus, until the vocabulary is chosen), so the text is read once;
        with ``max_vocab_size``, whose pruning forgets words, text files are
        read a second time to encode them instead.

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
        vocabulary.build(self, corpus, workdir, update)
        return self

    def keep_probabilities(self) -> npt.NDArray[np.float32]:
        """word2vec's frequent-word subsampling: P(keep) per word."""
        return vocabulary.keep_probabilities(self)

    def noise_weights(self) -> npt.NDArray[np.float32]:
        """The negative-sampling distribution's weights: count^ns_exponent (float32)."""
        return vocabulary.noise_weights(self)

    # ---------------------------------------------------------------- training
    def train(self, corpus: Optional[Corpus] = None, *, progress: Optional[bool] = None,
              checkpoint: Optional[PathLike] = None, checkpoint_every: float = 300.0,
              workdir: Optional[PathLike] = None, stop_after_chunks: Optional[int] = None,
              should_stop: Optional[Callable[[], bool]] = None, comm: Any = None,
              timeout: float = 60.0) -> TrainSummary:
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
        comm : mpi4py.MPI.Comm, optional
            Train over the ranks of this communicator (``loss="nce"`` or
            ``"sampled_softmax"`` only): call ``train`` on every rank with the
            same corpus and arguments. The output table is split over the
            ranks (vocabulary-parallel loss), the input table is replicated;
            every step is the single-process step up to float32 rounding in
            the combined softmax. Afterwards every rank holds the whole
            model; only rank 0 writes the checkpoint. See
            ``docs/DISTRIBUTED.md``.
        timeout : float
            With ``comm``: seconds any collective may wait for the other
            ranks before the job is aborted with an error (default 60).

        Returns
        -------
        dict
            Summary: words, seconds, words per second, mean loss per epoch.
        """
        return training.train(self, corpus, progress=progress, checkpoint=checkpoint,
                              checkpoint_every=checkpoint_every, workdir=workdir,
                              stop_after_chunks=stop_after_chunks, should_stop=should_stop,
                              comm=comm, timeout=timeout)

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
    def most_similar(self, word: str, topn: int = 10) -> List[Tuple[str, float]]:
        """The ``topn`` words with the highest cosine similarity to ``word``."""
        return queries.most_similar(self.words, self.index, self.vectors, word, topn)

    # ------------------------------------------------------------------- files
    def save_word2vec_format(self, path: PathLike, binary: bool = False) -> None:
        """Write the vectors in word2vec's text or binary format (atomically)."""
        from .formats import save_word2vec_format

        save_word2vec_format(path, self.words, self.vectors, binary=binary)

    def save(self, path: PathLike) -> None:
        """Write a checkpoint (atomically: a temporary file, fsync, rename)."""
        save_checkpoint(self, path)

    @classmethod
    def load(cls, path: PathLike, *, num_threads: Optional[int] = None,
             threads: Optional[int] = None) -> Word2Vec:
        """A model from a checkpoint written by :meth:`save` (training can go on
        with :meth:`train`, given the same corpus). Anything that is not such a
        checkpoint raises ``ValueError``. ``threads`` is the deprecated name of
        ``num_threads``."""
        num_threads = thread_keyword(num_threads, threads, "Word2Vec.load")
        return load_checkpoint(cls, path, num_threads=num_threads)
