"""Wrong calls of the word2vec application that mypy must reject: every line
ending in an "E:" comment must produce an error containing the comment's text,
and no other line may produce one."""
from pathlib import Path

import numpy as np

from pysampled import TextCorpus, Word2Vec, evaluate_similarity, load_word2vec_format

Word2Vec(dim="10")  # E: incompatible type "str"; expected "int"
Word2Vec(model="fasttext")  # E: incompatible type "Literal['fasttext']"
Word2Vec(loss="hinge")  # E: incompatible type "Literal['hinge']"
Word2Vec(num_threads="all")  # E: incompatible type "str"
Word2Vec(sample="1e-3")  # E: incompatible type "str"; expected "float"
Word2Vec(10)  # E: Too many positional arguments
Word2Vec(dims=10)  # E: Unexpected keyword argument "dims"
Word2Vec(dim=10).most_similar(3)  # E: incompatible type "int"; expected "str"
Word2Vec(dim=10).most_similar("king", topn="3")  # E: incompatible type "str"; expected "int"
Word2Vec(dim=10).train(progress="yes")  # E: incompatible type "str"
Word2Vec(dim=10).train(stop_after_chunks=1.5)  # E: incompatible type "float"
Word2Vec(dim=10).train(timeout="60")  # E: incompatible type "str"
Word2Vec(dim=10).build_vocab(["a.txt"], update=1.0)  # E: incompatible type "float"
Word2Vec.load(Path("run.ckpt"), num_threads=1.0)  # E: incompatible type "float"
Word2Vec.load(3)  # E: incompatible type "int"
n: str = Word2Vec(dim=10).most_similar("king")[0][1]  # E: Incompatible types in assignment
TextCorpus(["a.txt"], lowercase="yes")  # E: incompatible type "str"; expected "bool"
load_word2vec_format(7)  # E: incompatible type "int"
evaluate_similarity(["a"], np.zeros((1, 2)), "pairs.tsv", delimiter=3)  # E: incompatible type "int"
