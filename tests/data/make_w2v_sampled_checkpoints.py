"""Writes w2v_sampled_ckpt_<model>_<loss>.npz: checkpoints of the word2vec
trainer's nce / sampled-softmax variants, stopped after 3 chunks, written by
the trainer of commit 13103d8 (the last one whose variants ran their batches
in Python, through SampledLoss.step and NumPy Adagrad). The files are test
data: test_word2vec_sampled.py resumes them with the current trainer.

Run with that version of pysampled first on the path:
    PYTHONPATH=<old install> python tests/data/make_w2v_sampled_checkpoints.py tests/data
"""
import sys

import pysampled


def corpus():
    """The sentences test_word2vec_sampled.py trains on."""
    return [[f"w{(i * 7 + j * j * 3) % 53}" for j in range(3 + i % 11)] for i in range(400)]


CONFIGS = {"skipgram_sampled_softmax": dict(model="skipgram", loss="sampled_softmax"),
           "cbow_nce": dict(model="cbow", loss="nce")}


def make(**kw):
    return pysampled.Word2Vec(dim=8, window=3, min_count=1, epochs=2, seed=5, chunk_words=300,
                              num_sampled=6, batch_size=20, threads=1, **kw)


if __name__ == "__main__":
    out = sys.argv[1]
    for name, cfg in CONFIGS.items():
        m = make(**cfg)
        m.train(corpus(), progress=False, checkpoint=f"{out}/w2v_sampled_ckpt_{name}.npz",
                stop_after_chunks=3)
