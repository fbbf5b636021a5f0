"""The distributed word2vec trainer (``Word2Vec.train(comm=...)``) in one process.

With the size-1 communicator of tests/_self_comm.py the trainer runs its
distributed path (the vocabulary-parallel ``ShardedSampledLoss`` step, the
replicated input table's Adagrad in NumPy, the agreement and gathering) with
no collective; here it runs without mpi4py, under the sanitizers too. The
reference is the single-process trainer (C++, bit-identical to
tests/oracles/word2vec_sampled.py): the same steps, so the same values up to
float32 rounding (measured below 1e-6 here; the bound is 1e-4). The runs
under ``mpiexec -n 2 / 4`` are in tests/test_distributed.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from _self_comm import SelfComm
from pysampled.word2vec import SyntheticCorpus, Word2Vec

KEYS = ("syn0", "syn1", "bias", "accum0", "accum1", "accum_bias")


def _model(loss="sampled_softmax", model="skipgram", corpus=None):
    m = Word2Vec(model=model, loss=loss, dim=8, epochs=2, chunk_words=2000, num_sampled=16,
                 batch_size=32, seed=5, num_threads=1)
    m.build_vocab(corpus or SyntheticCorpus(num_tokens=12000, seed=3))
    return m


def _state(m):
    return {k: np.array(getattr(m, k), copy=True) for k in KEYS}


@pytest.mark.parametrize("loss", ["sampled_softmax", "nce"])
@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_one_rank_equals_the_single_process_trainer(loss, model):
    ref, dist = _model(loss, model), _model(loss, model)
    r1 = ref.train(progress=False)
    r2 = dist.train(progress=False, comm=SelfComm())
    a, b = _state(dist), _state(ref)
    for k in KEYS:
        err = float(np.max(np.abs(a[k] - b[k])))
        assert err <= 1e-4 * (1 + float(np.max(np.abs(b[k])))), (k, err)
    assert np.max(np.abs(a["syn0"])) > 1e-2  # the bound is far below the values themselves
    for e1, e2 in zip(r1["epochs"], r2["epochs"]):
        assert e2["loss"] == pytest.approx(e1["loss"], rel=1e-5)


def test_checkpoint_and_resume_give_the_uninterrupted_bits(tmp_path):
    corpus = SyntheticCorpus(num_tokens=12000, seed=3)
    full = _model(corpus=corpus)
    full.train(progress=False, comm=SelfComm())
    part = _model(corpus=corpus)
    ckpt = tmp_path / "c.npz"
    s = part.train(progress=False, comm=SelfComm(), checkpoint=ckpt, stop_after_chunks=5)
    assert not s["finished"]
    resumed = Word2Vec.load(ckpt, num_threads=1)
    resumed.train(corpus, progress=False, comm=SelfComm())
    a, b = _state(resumed), _state(full)
    for k in KEYS:
        assert a[k].tobytes() == b[k].tobytes(), k
    # the checkpoint of the distributed path is the single-process format:
    # the single-process trainer resumes it too, within rounding
    single = Word2Vec.load(ckpt, num_threads=1)
    single.train(corpus, progress=False)
    assert np.max(np.abs(single.syn0 - full.syn0)) <= 1e-4


def test_world_communicator_is_none_outside_a_multi_rank_job(monkeypatch):
    from pysampled.word2vec.distributed import world_communicator

    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert world_communicator() is None  # not under mpiexec
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):  # MPICH's / Open MPI's one-rank job
        monkeypatch.setenv(var, "1")
        assert world_communicator() is None
