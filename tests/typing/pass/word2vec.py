"""The word2vec application as the README uses it: must pass ``mypy --strict``;
assert_type pins what the trainer, the queries and the file helpers return."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import pysampled as ps
from pysampled import TextCorpus, Word2Vec
from pysampled.word2vec import MAX_SENTENCE_LENGTH, SyntheticCorpus, chance_level
from pysampled.word2vec.training import TrainSummary

corpus = TextCorpus(["corpus.txt"], lowercase=True, strip_punctuation=True)
model = Word2Vec(model="skipgram", dim=32, epochs=3, min_count=2, num_threads=-1)
assert_type(model, Word2Vec)
summary = model.train(corpus, progress=False)
assert_type(summary, TrainSummary)
assert_type(summary["words_per_second"], float)
assert_type(summary["finished"], bool)
assert_type(model.most_similar("king", topn=3), list[tuple[str, float]])
model.save_word2vec_format("vectors.txt")
model.save_word2vec_format(Path("vectors.bin"), binary=True)
assert_type(model.build_vocab(TextCorpus("more.txt"), update=True), Word2Vec)
model.train()

# every option by keyword, the way the command line builds a model
cbow = Word2Vec(model="cbow", loss="sampled_softmax", dim=8, window=3, negative=0, min_count=1,
                sample=0.0, alpha=None, min_alpha=1e-4, epochs=1, cbow_mean=False,
                max_vocab_size=None, num_threads=None, seed=7, deterministic=False,
                group_size=8, num_sampled=4, batch_size=16, chunk_words=1000,
                max_final_vocab=100, ns_exponent=0.5, shrink_windows=False)
cbow.build_vocab([["a", "b"], ["c", "a"]], workdir="/tmp")
cbow.train([["a", "b"]], checkpoint=Path("run.ckpt"), checkpoint_every=60.0,
           stop_after_chunks=1, should_stop=lambda: False)
cbow.train([["a", "b"]], comm=None, timeout=30.0)  # comm: an mpi4py communicator

# state and queries
assert_type(model.vectors, npt.NDArray[np.float32])
assert_type(model.words, list[str])
assert_type(model.index, dict[str, int])
assert_type(model.counts, npt.NDArray[np.int64])
assert_type(model.num_threads, Optional[int])
assert_type(model.stride, int)
assert_type(model.keep_probabilities(), npt.NDArray[np.float32])
assert_type(model.noise_weights(), npt.NDArray[np.float32])
assert_type(model.config(), dict[str, Any])
assert_type(repr(model), str)

# checkpoints
model.save("run.ckpt")
assert_type(Word2Vec.load("run.ckpt", num_threads=2), Word2Vec)
assert_type(Word2Vec.load(Path("run.ckpt")), Word2Vec)

# files and evaluation
words, vectors = ps.load_word2vec_format("vectors.txt")
assert_type(words, list[str])
assert_type(vectors, npt.NDArray[np.float32])
ps.save_word2vec_format("copy.txt", words, vectors, binary=False)
analogies = ps.evaluate_analogies(words, vectors, "questions-words.txt",
                                  normalize=corpus.normalizer())
assert_type(analogies, dict[str, Any])
ps.evaluate_similarity(words, vectors, Path("wordsim353.tsv"), delimiter=None,
                       restrict_vocab=None)

# the synthetic corpus
synthetic = SyntheticCorpus(num_tokens=10_000, num_topics=4, seed=1)
assert_type(synthetic.score(model.words, model.vectors, k=5), float)
assert_type(ps.planted_score(words, vectors, synthetic.groups), float)
assert_type(chance_level(synthetic.groups), float)
synthetic.write("synthetic.txt")
assert_type(MAX_SENTENCE_LENGTH, int)
