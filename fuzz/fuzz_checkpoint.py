"""Fuzz ``Word2Vec.load`` (checkpoints) and what a loaded model can do.

Input byte 0 selects the mode: ``b & 1 == 0`` the rest is the checkpoint
file itself (seeded with real checkpoints of the "negative" and "nce"
trainers, see make_seeds.py; libFuzzer mutates the zip / npy bytes; with
``b & 2`` the loaded model is always trained, on a corpus of its recorded
size, which reaches the nce / sampled-softmax trainer's C++ entry
``train_chunk_sampled`` from the ``train_*`` seeds);
otherwise a checkpoint is *built* with ``np.savez`` from a fuzzed structure:
``meta`` JSON (version, config with missing / extra / mistyped / edge-value
keys, progress and history of odd types and values, sampler state), arrays
``syn0`` / ``syn1`` / ``bias`` / ``counts`` / ``words`` / Adagrad
accumulators with consistent or inconsistent shapes, other dtypes (object
arrays need pickle), missing members.

Documented: an unreadable or inconsistent checkpoint raises ``ValueError``
("cannot read checkpoint ..."). Anything else escaping ``load`` is a finding.
A loaded model is then used: ``vectors``, ``most_similar``,
``save_word2vec_format`` and a short ``train`` on a corpus of its own words
(``ValueError`` / ``TypeError`` / ``IndexError`` are accepted there: the
model may be inconsistent in ways ``load`` does not check; a crash is not).
"""
import json

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps

CONFIG = {"model": "skipgram", "loss": "negative", "dim": 3, "window": 2, "negative": 2,
          "min_count": 1, "sample": 0.001, "alpha": 0.025, "min_alpha": 0.0001, "epochs": 2,
          "cbow_mean": True, "max_vocab_size": None, "seed": 1, "deterministic": True,
          "group_size": 64, "num_sampled": 2, "batch_size": 4, "chunk_words": 4}
ODD = [None, -1, 0, 2**31, 2**63, 1.5, "x", [], {}, True, float("nan"), 10**30, "skipgram"]


def fuzz_value(g: Gen, v):
    if g.chance(3, 4):
        return v
    return g.pick(ODD)


def structured(g: Gen) -> bytes:
    words = ["w%d" % i for i in range(g.int(0, 5))]
    if g.rarely():
        words = g.pick([["a", "a"], ["", "b"], ["a b"], ["\udcff"]])
    v = len(words)
    cfg = dict(CONFIG)
    cfg["loss"] = g.pick(["negative", "nce", "sampled_softmax"])
    cfg["model"] = g.pick(["skipgram", "cbow"])
    cfg["dim"] = g.int(1, 20)
    if cfg["loss"] != "negative":
        cfg["alpha"] = 1.0
    if g.chance(1, 3):
        for k in list(cfg):
            cfg[k] = fuzz_value(g, cfg[k])
    if g.rarely():
        cfg.pop(g.pick(sorted(cfg)))
    if g.rarely():
        cfg["bogus"] = 1
    n_tokens = g.pick([0, 0, g.int(1, 20)])
    progress = {"epoch": g.int(0, 2), "chunk": g.int(0, 3), "words_done": g.int(0, 30),
                "loss": 0.0, "pairs": g.int(0, 10), "corpus_tokens": n_tokens,
                "corpus_sentences": g.int(0, 3) if n_tokens else 0}
    if g.chance(1, 4):
        for k in list(progress):
            progress[k] = fuzz_value(g, progress[k])
    meta = {"version": 1 if not g.rarely() else g.pick([0, 2, "1", None]),
            "config": cfg if not g.rarely() else g.pick([None, [], "x"]),
            "progress": progress if not g.rarely() else g.pick([None, [], {}]),
            "history": [] if not g.rarely() else g.pick([None, {}, [{"epoch": 0}]]),
            "sampler_state": None if g.chance(2, 3) else g.pick(
                [[1, 2, 3, 4, 5, 6], [1, 2], [-1] * 6, [2**40] * 6, "x", [1.5] * 6])}
    if g.rarely():
        meta = g.pick([[], 3, "x", None])
    dim = cfg["dim"] if isinstance(cfg.get("dim"), int) and 1 <= cfg["dim"] <= 64 else 3
    stride = (dim + 15) // 16 * 16

    def arr(shape, dtype=np.float32):
        if g.rarely():
            shape = g.shape(2, 5)
        if g.rarely():
            dtype = g.pick([np.float64, np.int64, np.float16, bool, "<U2", object])
        n = int(np.prod(shape))
        return g.as_dtype(g.float_values(n, -1, 1, (1, 20)), shape, dtype)

    members = {
        "syn0": arr((v, stride)),
        "syn1": arr((v, stride)),
        "bias": arr((v,)),
        "counts": g.as_dtype(g.int_values(v, 1, 10), (v,), g.dtype("int64")),
        "words": np.array(words, dtype=str) if not g.rarely() else np.array(words, dtype=object),
        "meta": np.array(json.dumps(meta)),
    }
    if cfg.get("loss") != "negative" or g.rarely():
        members.update(accum0=arr((v, stride)), accum1=arr((v, stride)), accum_bias=arr((v,)))
    if g.rarely():
        members.pop(g.pick(sorted(members)))
    if g.rarely():
        members["meta"] = g.pick([np.array(b"\xff"), np.array(["{}"] * 2), np.array(3),
                                  np.array("not json"), np.array("{\"version\": 1}")])
    path = fl.tmpdir() / "built.npz"
    with open(path, "wb") as f:
        try:
            np.savez(f, **members)
        except ValueError:
            pass
    return path.read_bytes()


def use(g: Gen, model, force_train=False):
    """Exercise a loaded model (``force_train``: always train it, on sentences of
    the token and sentence counts its checkpoint recorded, when they are small)."""
    with expect(ValueError, TypeError, IndexError, RuntimeError, KeyError, AttributeError):
        model.vectors  # noqa: B018
    if model.words:
        with expect(ValueError, TypeError, IndexError, KeyError):
            model.most_similar(model.words[0], topn=g.int(0, 3))
    out = fl.tmpdir() / "loaded.txt"
    with expect(ValueError, TypeError, RuntimeError):
        model.save_word2vec_format(out, binary=g.bool())
    if not model.words or not (force_train or g.chance(1, 2)):
        return
    sentences = [[g.pick(model.words) for _ in range(g.int(1, 6))] for _ in range(g.int(1, 4))]
    tokens, count = model.progress.get("corpus_tokens"), model.progress.get("corpus_sentences")
    if force_train and type(tokens) is int and type(count) is int and 1 <= count <= tokens <= 256:
        lengths = [1] * count
        for _ in range(tokens - count):
            lengths[g.int(0, count - 1)] += 1
        sentences = [[g.pick(model.words) for _ in range(n)] for n in lengths]
    fl.log("train", sentences)
    try:
        with expect(ValueError, TypeError, IndexError, OverflowError, MemoryError):
            model.num_threads = 1
            model.train(sentences, progress=False, stop_after_chunks=g.int(1, 2),
                        workdir=str(fl.tmpdir()))
    except (AttributeError, KeyError):
        # F9: load() accepts meta fields of the wrong type / shape (history, progress,
        # sampler_state, accumulators...), and train() then fails on them.
        fl.skip_known(True)
        raise


def known_findings(e: BaseException) -> bool:
    """F7: malformed checkpoints raise other exceptions than ValueError from load()."""
    import struct
    import zipfile
    return isinstance(e, (zipfile.BadZipFile, TypeError, AttributeError, KeyError,
                          OverflowError, MemoryError, UnicodeError, IndexError,
                          NotImplementedError, RuntimeError, struct.error))


def TestOneInput(data):
    if not data:
        return
    if data[0] & 1 == 0:
        body = data[1:]
        g = Gen(body[-16:])
    else:
        g = Gen(data[1:])
        body = structured(g)
    path = fl.write_file("checkpoint.npz", body)
    fl.log(body[:100])
    model = None
    try:
        model = ps.Word2Vec.load(path, num_threads=1)
    except ValueError:
        return
    except Exception as e:  # noqa: BLE001
        fl.skip_known(known_findings(e))
        raise
    check(len(model.words) == model.syn0.shape[0], "loaded model: words vs rows")
    use(g, model, force_train=data[0] & 3 == 2)


if __name__ == "__main__":
    fl.main(TestOneInput)
