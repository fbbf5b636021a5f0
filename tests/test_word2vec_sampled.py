"""The word2vec trainer's nce / sampled-softmax variants (one C++ call per chunk).

Oracle: ``oracles.word2vec_sampled``, a NumPy reference of the same training
(batches of predictions through ``SampledLoss.step`` and Adagrad on the input
rows in NumPy, sums left to right). The trainer promises the reference's
bits; learning quality is tested in test_word2vec.py. Old checkpoints
(tests/data, written by the trainer that ran its batches in Python) must
resume.
"""
import os

import numpy as np
import pytest

from oracles import word2vec_sampled as ref
from pysampled import _losses
from pysampled.word2vec import Word2Vec, vocabulary

DATA = os.path.join(os.path.dirname(__file__), "data")


def corpus():
    # The sentences of tests/data/make_w2v_sampled_checkpoints.py: lengths 3..13
    # (CBOW contexts of every size), a repeated word in some windows.
    return [[f"w{(i * 7 + j * j * 3) % 53}" for j in range(3 + i % 11)] for i in range(400)]


def make(**kw):
    args = dict(dim=8, window=3, min_count=1, epochs=2, seed=5, chunk_words=300, num_sampled=6,
                batch_size=20, num_threads=1)
    args.update(kw)
    return Word2Vec(**args)


STATE = ("syn0", "syn1", "bias", "accum0", "accum1", "accum_bias")

CASES = [dict(model="skipgram", loss="sampled_softmax"), dict(model="skipgram", loss="nce"),
         dict(model="cbow", loss="sampled_softmax"), dict(model="cbow", loss="nce"),
         dict(model="cbow", loss="sampled_softmax", cbow_mean=False),
         dict(model="skipgram", loss="nce", batch_size=1, shrink_windows=False, sample=1e-2),
         dict(model="cbow", loss="sampled_softmax", batch_size=1000, num_sampled=52, dim=20)]


@pytest.mark.parametrize("cfg", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("threads", [1, 2])
def test_trainer_gives_the_reference_bits(cfg, threads):
    got = make(num_threads=threads, **cfg)
    got.build_vocab(corpus())
    want = make(**cfg)
    want.build_vocab(corpus())
    np.testing.assert_array_equal(got.syn0, want.syn0)  # the same start
    res = got.train(progress=False)
    ref_losses = ref.train(want, threads=1)
    for name in STATE:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    assert np.abs(got.syn0 - make(**cfg).build_vocab(corpus()).syn0).max() > 0  # it trained
    # The loss per prediction and epoch: the same numbers, summed in float64 in another order.
    want_loss = [loss / pairs for loss, pairs in ref_losses]
    np.testing.assert_allclose([e["loss"] for e in res["epochs"]], want_loss, rtol=1e-12)


def test_accumulators_start_at_the_one_adagrad_default():
    assert _losses.ADAGRAD_INITIAL_ACCUMULATOR == ref.INITIAL_ACCUMULATOR
    assert _losses.ADAGRAD_EPSILON == ref.EPSILON
    m = make(loss="nce", epochs=1)
    m.train(corpus(), progress=False, stop_after_chunks=0)
    for name in ("accum0", "accum1", "accum_bias"):
        a = getattr(m, name)
        assert a.dtype == np.float32 and np.all(a == np.float32(0.1)), name


@pytest.mark.parametrize("name", ["skipgram_sampled_softmax", "cbow_nce"])
def test_old_checkpoints_resume(name):
    """Checkpoints of the trainer that ran its batches in Python load and
    resume: to the reference's bits, and to an uninterrupted run up to the
    last bits of the first chunks (summed in NumPy's order then)."""
    path = os.path.join(DATA, f"w2v_sampled_ckpt_{name}.npz")
    got, want = Word2Vec.load(path), Word2Vec.load(path)
    assert got.progress["chunk"] == 3 and got.sampler_state is not None
    assert got.accum0 is not None
    got.train(corpus(), progress=False)
    vocabulary.encode_for_training(want, corpus(), None)
    ref.train(want)
    for attr in STATE:
        np.testing.assert_array_equal(getattr(got, attr), getattr(want, attr), err_msg=attr)
    model, loss = name.split("_", 1)
    full = make(model=model, loss=loss)
    full.train(corpus(), progress=False)
    for attr in STATE:
        np.testing.assert_allclose(getattr(got, attr), getattr(full, attr), rtol=1e-4, atol=1e-6,
                                   err_msg=attr)


def test_resume_continues_the_negatives_stream(tmp_path):
    full = make(loss="sampled_softmax", model="cbow")
    full.train(corpus(), progress=False)
    ckpt = str(tmp_path / "m.npz")
    part = make(loss="sampled_softmax", model="cbow")
    part.train(corpus(), progress=False, checkpoint=ckpt, stop_after_chunks=5)
    back = Word2Vec.load(ckpt)
    assert back.sampler_state == [int(x) for x in part._sampler.get_state()["generator"]]
    back.train(corpus(), progress=False)
    for attr in STATE:
        np.testing.assert_array_equal(getattr(back, attr), getattr(full, attr), err_msg=attr)


def test_num_sampled_beyond_the_vocabulary_is_refused_before_any_update():
    m = make(loss="sampled_softmax", num_sampled=54)  # 53 words
    m.build_vocab(corpus())
    syn0, syn1 = m.syn0.copy(), m.syn1.copy()
    with pytest.raises(ValueError, match="Sampler's range is too small"):
        m.train(progress=False)
    np.testing.assert_array_equal(m.syn0, syn0)
    np.testing.assert_array_equal(m.syn1, syn1)


def test_binding_checks_shapes():
    from pysampled import _word2vec
    from pysampled.samplers import FixedUnigramSampler

    v, d = 4, 16
    a = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    s = FixedUnigramSampler(v, unigrams=np.ones(v), seed=1)
    args = dict(keep_prob=np.ones(v, np.float32), negatives=s._stream,
                tokens=np.array([0, 1, 2], np.int32), sentence_ends=np.array([3], np.int64),
                position=0, seed=1, epoch=0, alpha=0.1, window=2, cbow=False, cbow_mean=True,
                nce=True, num_sampled=2, batch_size=4, num_threads=1)
    with pytest.raises(ValueError, match="same shape"):
        _word2vec.train_chunk_sampled(a(v, d), a(v, d), a(v), a(v, d), a(v + 1, d), a(v), **args)
    with pytest.raises(ValueError, match="one entry per word"):
        _word2vec.train_chunk_sampled(a(v, d), a(v, d), a(v), a(v, d), a(v, d), a(v - 1), **args)
    with pytest.raises(IndexError, match="token id"):
        _word2vec.train_chunk_sampled(a(v, d), a(v, d), a(v), a(v, d), a(v, d), a(v),
                                      **{**args, "tokens": np.array([0, 1, 9], np.int32)})
    big = FixedUnigramSampler(v + 1, unigrams=np.ones(v + 1), seed=1)
    with pytest.raises(ValueError, match="beyond the vocabulary"):
        _word2vec.train_chunk_sampled(a(v, d), a(v, d), a(v), a(v, d), a(v, d), a(v),
                                      **{**args, "negatives": big._stream})
    with pytest.raises(TypeError):
        _word2vec.train_chunk_sampled(a(v, d), a(v, d), a(v), a(v, d), a(v, d), a(v),
                                      **{**args, "negatives": s})
