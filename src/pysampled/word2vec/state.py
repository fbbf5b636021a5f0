"""What a :class:`~pysampled.word2vec.Word2Vec` model holds: its options,
vocabulary, vectors, the optimizer state of the batch losses and the
training position. A checkpoint (:mod:`.checkpoint`) saves exactly this.

Design: :class:`Word2VecState` is the base of :class:`Word2Vec`; it owns the
constructor (every option by keyword, checked by :mod:`.options` in the
order of the signature) and the attributes, with their types. ``Word2Vec``
adds the operations, each delegated to the module owning its concern.
The options are documented on :class:`Word2Vec`.
"""
from __future__ import annotations

import tempfile
from typing import Any, Dict, List, Optional

import numpy as np
import numpy.typing as npt

from .._threads import resolve_num_threads
from .._validation import int_at_least
from .corpus import MAX_SENTENCE_LENGTH, EncodedCorpus
from .options import (CONFIG_KEYS, DeprecatedAlias, LossName, ModelName, check_finite,
                      check_loss, check_model, check_negative, check_sample, check_seed,
                      learning_rates, optional_size, thread_keyword)

__all__ = ["Word2VecState", "Rows"]

#: Rows of vectors: float32, ``stride`` floats per row (the first ``dim`` used).
Rows = npt.NDArray[np.float32]


class Word2VecState:
    """The options and state of a word2vec model (the options are documented
    on :class:`~pysampled.word2vec.Word2Vec`, the class to use).

    Attributes
    ----------
    words, counts, index :
        The vocabulary, most frequent first; its counts; word -> row.
    syn0, syn1, bias :
        Input and output vectors (``[vocab_size, stride]``, float32) and the
        output biases; None until the vocabulary is built.
    accum0, accum1, accum_bias, sampler_state :
        Adagrad's accumulators and the negatives' stream position of the
        nce / sampled-softmax variants (None for ``loss="negative"``).
    progress, history :
        Training position (epoch, chunk, words done, running loss) and the
        mean loss of every finished epoch.
    """

    #: Deprecated name of ``num_threads`` (reading or writing it warns).
    threads = DeprecatedAlias[Optional[int]]("num_threads")

    def __init__(self, *, model: ModelName = "skipgram", loss: LossName = "negative",
                 dim: int = 100, window: int = 5, negative: int = 5, min_count: int = 5,
                 sample: float = 1e-3, alpha: Optional[float] = None, min_alpha: float = 1e-4,
                 epochs: int = 5, cbow_mean: bool = True, max_vocab_size: Optional[int] = None,
                 num_threads: Optional[int] = None, seed: int = 1, deterministic: bool = True,
                 group_size: int = 64, num_sampled: int = 64, batch_size: int = 128,
                 chunk_words: int = 100_000, max_final_vocab: Optional[int] = None,
                 ns_exponent: float = 0.75, shrink_windows: bool = True,
                 threads: Optional[int] = None) -> None:
        num_threads = thread_keyword(num_threads, threads, "Word2Vec")
        self.model = check_model(model)
        self.loss = check_loss(loss)
        self.dim = int_at_least(dim, "dim")
        self.window = int_at_least(window, "window")
        self.negative = check_negative(negative, self.loss)
        self.min_count = int_at_least(min_count, "min_count")
        self.sample = check_sample(sample)
        self.alpha, self.min_alpha = learning_rates(alpha, min_alpha, self.model, self.loss)
        self.epochs = int_at_least(epochs, "epochs")
        self.cbow_mean = bool(cbow_mean)
        self.max_vocab_size = optional_size(max_vocab_size, "max_vocab_size")
        self.max_final_vocab = optional_size(max_final_vocab, "max_final_vocab")
        self.ns_exponent = check_finite(ns_exponent, "ns_exponent")
        self.shrink_windows = bool(shrink_windows)
        resolve_num_threads(num_threads)  # validate early
        self.num_threads = num_threads
        self.seed = check_seed(seed)
        self.deterministic = bool(deterministic)
        self.group_size = int_at_least(group_size, "group_size")
        self.num_sampled = int_at_least(num_sampled, "num_sampled")
        self.batch_size = int_at_least(batch_size, "batch_size")
        self.chunk_words = int_at_least(chunk_words, "chunk_words")
        self.words: List[str] = []
        self.counts: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        self.index: Dict[str, int] = {}
        self.syn0: Optional[Rows] = None
        self.syn1: Optional[Rows] = None
        self.bias: Optional[npt.NDArray[np.float32]] = None
        # Adagrad accumulators and negatives' stream of the nce / sampled-softmax variants.
        self.accum0: Optional[Rows] = None
        self.accum1: Optional[Rows] = None
        self.accum_bias: Optional[npt.NDArray[np.float32]] = None
        self.sampler_state: Optional[List[int]] = None
        self._sampler: Any = None
        self.progress: Dict[str, Any] = {"epoch": 0, "chunk": 0, "words_done": 0, "loss": 0.0,
                                         "pairs": 0, "corpus_tokens": 0, "corpus_sentences": 0}
        self.history: List[Dict[str, Any]] = []
        self.tokens_read: Optional[int] = None  # set by build_vocab
        self._encoded: Optional[EncodedCorpus] = None
        self._workdir: Optional[tempfile.TemporaryDirectory[str]] = None
        #: Seconds spent by the last build_vocab: counting, then encoding.
        self.timings: Dict[str, float] = {}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}"
                          for k in ("model", "loss", "dim", "window", "epochs"))
        if self.syn0 is None:
            state = "no vocabulary yet"
        else:
            state = (f"vocabulary={len(self.words):,} words, "
                     f"trained {self.progress['epoch']} of {self.epochs} epochs")
        return f"<Word2Vec {shown}; {state}>"

    # ------------------------------------------------------------------ config
    def config(self) -> Dict[str, Any]:
        """The options a checkpoint records: every constructor keyword but the threads."""
        return {k: getattr(self, k) for k in CONFIG_KEYS}

    @property
    def vectors(self) -> Rows:
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
        """Floats per row of the vector arrays: ``dim`` rounded up to 16."""
        return (self.dim + 15) // 16 * 16

