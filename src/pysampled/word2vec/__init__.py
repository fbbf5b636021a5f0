"""The word2vec application: a skip-gram / CBOW trainer built on the library.

Design: this subpackage is an application of pysampled, not part of the
TF-shaped library (``pysampled.samplers``, ``pysampled.losses``), which never
imports it. Each concern has one module:

* :mod:`.model`: :class:`Word2Vec`, the public class: its methods hand
  each concern to the module that owns it:

  - :mod:`.state`: the options and attributes (what a checkpoint saves),
    with the option checks and the deprecated ``threads`` name in
    :mod:`.options`;
  - :mod:`.vocabulary`: counting, selecting and extending the vocabulary,
    initial vectors;
  - :mod:`.training`: the schedule of epochs and chunks (the chunk kernel is
    ``pysampled._word2vec``), checkpoints during training, the thread chooser;
  - :mod:`.queries`: ``most_similar``;

* :mod:`.corpus`: :class:`TextCorpus`, the encoded corpus on disk;
* :mod:`.checkpoint`: atomic, resumable checkpoints;
* :mod:`.formats`: word2vec text / binary files;
* :mod:`.evaluation`: analogy and word-similarity benchmarks;
* :mod:`.synthetic`: the built-in corpus with planted topic groups;
* :mod:`.progress`: the progress line.

The command line (``pysampled train``) lives in :mod:`pysampled.cli`.
"""
from .corpus import MAX_SENTENCE_LENGTH, TextCorpus
from .evaluation import evaluate_analogies, evaluate_similarity
from .formats import load_word2vec_format, save_word2vec_format
from .model import Word2Vec
from .synthetic import SyntheticCorpus, chance_level, planted_score

__all__ = [
    "MAX_SENTENCE_LENGTH",
    "SyntheticCorpus",
    "TextCorpus",
    "Word2Vec",
    "chance_level",
    "evaluate_analogies",
    "evaluate_similarity",
    "load_word2vec_format",
    "planted_score",
    "save_word2vec_format",
]
