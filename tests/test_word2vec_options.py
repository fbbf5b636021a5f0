"""Word2Vec's gensim options that change the work, and the two corpus paths.

Oracles: vocabularies and encodings computed here from the sentences with
``collections.Counter`` and the documented rules (gensim's max_final_vocab
rule, word2vec.c's pruning between blocks); the window pairs of
``shrink_windows=False`` enumerated directly; noise weights in float64
closed form. Text files (read in C++) and the same sentences as a Python
iterable must give the same model bit for bit.
"""
import collections

import numpy as np
import pytest

from pysampled import _word2vec
from pysampled.word2vec import Word2Vec, corpus as corpus_mod

from test_corpus import random_text, oracle_sentences


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def encoded(m):
    return np.asarray(m._encoded.tokens).tolist(), np.asarray(m._encoded.ends).tolist()


def gensim_select(sentences, min_count, max_final_vocab=None, max_vocab_size=None):
    c = collections.Counter(w for s in sentences for w in s)
    order = sorted(c, key=lambda w: (-c[w], w))
    eff = min_count
    if max_final_vocab is not None and max_final_vocab < len(order):
        eff = max(eff, c[order[max_final_vocab]] + 1)
    words = [w for w in order if c[w] >= eff]
    if max_vocab_size is not None:
        words = words[:max_vocab_size]
    return words, [c[w] for w in words]


@pytest.mark.parametrize("seed", range(6))
def test_text_file_and_iterable_give_the_same_model(tmp_path, seed):
    rng = np.random.default_rng(seed)
    data = random_text(rng, 3000)
    path = write(tmp_path, "c.txt", data.replace(b"\x00", b" "))
    sents = oracle_sentences([open(path, "rb").read()])
    kw = dict(dim=8, window=3, min_count=int(rng.integers(1, 4)), epochs=1, seed=seed,
              chunk_words=300, num_threads=2)
    if seed % 2:
        kw["max_final_vocab"] = int(rng.integers(1, 20))
    a, b = Word2Vec(**kw), Word2Vec(**kw)
    a.build_vocab(path, workdir=str(tmp_path))
    b.build_vocab(iter(sents), workdir=str(tmp_path))
    words, counts = gensim_select(sents, kw["min_count"], kw.get("max_final_vocab"))
    assert a.words == b.words == words
    assert a.counts.tolist() == b.counts.tolist() == counts
    assert encoded(a) == encoded(b)
    a.train(progress=False)
    b.train(progress=False)
    np.testing.assert_array_equal(a.syn0, b.syn0)


def test_max_final_vocab_drops_ties_at_the_cut():
    sents = [["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"]]
    for mfv, expect in [(1, ["a"]), (2, ["a"]), (3, ["a", "b", "c"]), (4, ["a", "b", "c", "d"]),
                        (10, ["a", "b", "c", "d", "e"])]:
        m = Word2Vec(min_count=1, dim=4, max_final_vocab=mfv)
        m.build_vocab(sents)
        assert m.words == expect, mfv
    m = Word2Vec(min_count=3, dim=4, max_final_vocab=4)
    m.build_vocab(sents)
    assert m.words == ["a", "b", "c"]


def prune_oracle(blocks, max_size):
    """word2vec.c's ReduceVocab between blocks (not after the last)."""
    vocab, min_reduce = collections.Counter(), 1
    for k, block in enumerate(blocks):
        if k > 0:
            while len(vocab) > max_size:
                vocab = collections.Counter({w: c for w, c in vocab.items() if c > min_reduce})
                min_reduce += 1
        vocab.update(w for s in block for w in s)
    return vocab


@pytest.mark.parametrize("threads", [1, 2])
def test_max_vocab_size_prunes_between_blocks(tmp_path, monkeypatch, threads):
    # Every line is 6 bytes and 2 tokens: blocks of 6*k bytes hold k lines,
    # the same sentences as blocks of 2*k tokens of the iterable path.
    rng = np.random.default_rng(3)
    zipf = np.minimum(rng.zipf(1.4, 4000), 99) - 1
    toks = [f"{i:02d}" for i in zipf]
    lines = [toks[i:i + 2] for i in range(0, len(toks), 2)]
    path = write(tmp_path, "c.txt", "".join(f"{a} {b}\n" for a, b in lines).encode())
    k = 50
    monkeypatch.setattr(corpus_mod, "TEXT_BLOCK_BYTES", 6 * k)
    monkeypatch.setattr(corpus_mod, "PRUNE_EVERY_TOKENS", 2 * k)
    expect = prune_oracle([lines[i:i + k] for i in range(0, len(lines), k)], 20)
    assert len(expect) < len(set(toks))  # pruning happened
    order = sorted(expect, key=lambda w: (-expect[w], w))[:20]
    for source in (path, lines):
        m = Word2Vec(min_count=1, dim=4, max_vocab_size=20, num_threads=threads)
        m.build_vocab(source, workdir=str(tmp_path))
        assert m.words == order
        assert m.counts.tolist() == [expect[w] for w in order]
    words, counts, *_ = _word2vec.scan_vocabulary([path], 1, 20, threads, 6 * k)
    assert sorted(zip(words, counts.tolist())) == sorted(expect.items())


def test_max_vocab_size_on_one_block_is_the_most_frequent_words():
    sents = [["a", "b", "b", "c", "c", "c", "d", "d"]]
    m = Word2Vec(min_count=1, dim=4, max_vocab_size=2)
    m.build_vocab(sents)
    assert m.words == ["c", "b"] and m.counts.tolist() == [3, 2]


@pytest.mark.parametrize("exponent", [0.0, 0.75, 1.0, -0.5])
def test_ns_exponent_sets_the_noise_distribution(exponent):
    m = Word2Vec(min_count=1, dim=4, ns_exponent=exponent)
    m.build_vocab([["a"] * 9 + ["b"] * 3 + ["c"]])
    np.testing.assert_allclose(m.noise_weights(), np.array([9.0, 3.0, 1.0]) ** exponent,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="ns_exponent"):
        Word2Vec(ns_exponent=float("nan"))


def test_ns_exponent_changes_the_negatives_drawn():
    # Uniform noise (exponent 0) over a vocabulary where one word has 90% of the
    # mass: the share of negatives equal to that word is ~1/V, not ~0.9**0.75-ish.
    sents = [["a"] * 90 + [f"w{i}" for i in range(10)]] * 20
    res = {}
    for e in (0.0, 1.0):
        m = Word2Vec(min_count=1, dim=4, ns_exponent=e, negative=20, epochs=1, sample=0,
                     window=1, seed=3)
        m.build_vocab(sents)
        before = m.syn1.copy()
        m.train(progress=False)
        # rows of syn1 touched as outputs: all words with uniform noise
        res[e] = np.count_nonzero(np.any(m.syn1 != before, axis=1))
    assert res[0.0] == 11


def pairs_without_shrink(ends, tokens, window):
    out, start = [], 0
    for e in ends:
        s = tokens[start:e]
        for t in range(len(s)):
            for u in range(max(0, t - window), min(len(s), t + window + 1)):
                if u != t:
                    out.append((s[u], s[t]))
        start = e
    return out


@pytest.mark.parametrize("window", [1, 3, 7])
def test_shrink_windows_false_uses_the_full_window(window):
    rng = np.random.default_rng(window)
    tokens = rng.integers(0, 50, 400).astype(np.int32)
    ends = np.array([5, 6, 40, 41, 200, 400], dtype=np.int64)
    keep = np.ones(50, np.float32)
    full = _word2vec.windows(keep, tokens, ends, 0, 1, 0, window, False, 1, False)
    assert list(zip(full[0].tolist(), full[1].tolist())) == pairs_without_shrink(
        ends.tolist(), tokens.tolist(), window)
    shrunk = _word2vec.windows(keep, tokens, ends, 0, 1, 0, window, False, 1, True)
    assert set(zip(shrunk[0].tolist(), shrunk[1].tolist())) <= set(
        zip(full[0].tolist(), full[1].tolist()))
    if window > 1:
        assert len(shrunk[0]) < len(full[0])


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
@pytest.mark.parametrize("loss", ["negative", "nce"])
def test_new_options_keep_thread_count_determinism(model, loss):
    sents = [[f"w{(i * 7 + j) % 40}" for j in range(12)] for i in range(300)]
    out = []
    for threads in (1, 2):
        m = Word2Vec(model=model, loss=loss, dim=8, min_count=1, epochs=1, num_threads=threads,
                     shrink_windows=False, ns_exponent=0.5, chunk_words=500, seed=4,
                     num_sampled=8)
        m.train(sents, progress=False)
        out.append(m.syn0.copy())
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("loss", ["negative", "sampled_softmax"])
def test_build_vocab_update_extends_the_vocabulary(tmp_path, loss):
    first = [["a", "b", "a", "c"]] * 30
    second = [["a", "d", "d", "e", "f", "f", "f"]] * 2 + [["g"]]
    m = Word2Vec(min_count=2, dim=8, epochs=1, seed=2, loss=loss, num_threads=2, num_sampled=2)
    m.train(first, progress=False)
    old_syn0, old_words, old_counts = m.syn0.copy(), list(m.words), m.counts.copy()
    m.build_vocab(second, update=True)
    assert m.words[:len(old_words)] == old_words
    assert m.words[len(old_words):] == ["f", "d", "e"]  # 6, 4, 2 (g: 1 < min_count)
    c = collections.Counter(w for s in second for w in s)
    assert m.counts.tolist() == [old_counts[i] + c[w] for i, w in enumerate(old_words)] + [6, 4, 2]
    np.testing.assert_array_equal(m.syn0[:len(old_words)], old_syn0)
    new = m.vectors[len(old_words):]
    assert np.all(np.abs(new) <= 1.0 / 8) and np.all(new != 0)
    assert not m.syn1[len(old_words):].any()
    assert m.progress["epoch"] == 0 and m.progress["corpus_tokens"] == 14
    # Training continues, resumable from a checkpoint like any run.
    ck = str(tmp_path / "ck.npz")
    m.save(ck)
    m.train(progress=False)
    back = Word2Vec.load(ck)
    back.train(second, progress=False)
    np.testing.assert_array_equal(back.syn0, m.syn0)
    with pytest.raises(ValueError, match="update"):
        Word2Vec().build_vocab(first, update=True)


def test_build_vocab_records_its_timings(tmp_path):
    path = write(tmp_path, "c.txt", b"a b c\na b\n")
    m = Word2Vec(min_count=1, dim=4)
    m.build_vocab(path)
    assert set(m.timings) == {"vocabulary_s", "encoding_s"}
    assert all(v >= 0 for v in m.timings.values())


def test_command_line_options(tmp_path):
    import subprocess
    import sys

    from pysampled.word2vec.formats import load_word2vec_format

    def run(*args):
        return subprocess.run([sys.executable, "-m", "pysampled", "train", *args],
                              capture_output=True, text=True, timeout=300)

    first = write(tmp_path, "a.txt", b"a b a c a b\n" * 50)
    second = write(tmp_path, "b.txt", b"a d d e e x\n" * 50)
    ck, out = str(tmp_path / "ck.npz"), str(tmp_path / "v.txt")
    r = run("--input", first, "--dim", "8", "--min-count", "1", "--epochs", "1", "--quiet",
            "--max-final-vocab", "2", "--ns-exponent", "0.5", "--no-shrink-windows",
            "--checkpoint", ck)
    assert r.returncode == 0, r.stderr
    m = Word2Vec.load(ck)
    assert m.words == ["a", "b"]  # 150, 100; c (50) cut
    assert m.ns_exponent == 0.5 and m.shrink_windows is False and m.max_final_vocab == 2
    r = run("--input", second, "--extend", ck, "--output", out, "--quiet")
    assert r.returncode == 0, r.stderr
    words, _ = load_word2vec_format(out)
    assert words == ["a", "b", "d", "e"]  # new words: max_final_vocab=2 cuts x (50 < 100)
    r = run("--extend", ck, "--quiet")
    assert r.returncode == 2 and "--extend needs --input" in r.stderr


def test_thread_chooser_follows_the_faster_count_and_keeps_probing():
    from pysampled.word2vec.model import _ThreadChooser

    ch = _ThreadChooser(2, adaptive=True, probe_every=4)
    speed = {2: 3.0, 1: 1.0}  # seconds per word: one thread is faster (busy neighbour)
    picks = []
    for _ in range(40):
        t = ch.pick()
        picks.append(t)
        ch.record(t, speed[t] * 100, 100)
    assert picks[:2] == [2, 1]
    assert picks[2:].count(1) > 0.7 * len(picks[2:])  # mostly the faster count
    assert 2 in picks[10:]  # the other count is still probed
    assert set(_ThreadChooser(2, adaptive=False).pick() for _ in range(5)) == {2}
    assert _ThreadChooser(1, adaptive=True).options == (1,)


def test_thread_chooser_probes_less_often_while_its_choice_holds():
    """Each probe that confirms the choice doubles the wait before the next
    one, up to max_period chunks; when the machine changes (the probed count
    is now the faster), the chooser switches to it."""
    from pysampled.word2vec.model import _ThreadChooser

    ch = _ThreadChooser(2, adaptive=True, probe_every=8, max_period=64)
    speed = {2: 1.5, 1: 1.0}  # seconds per word: 2 threads slower (as on a 2-vCPU VM)
    picks = []
    for _ in range(600):
        t = ch.pick()
        picks.append(t)
        ch.record(t, speed[t] * 100, 100)
    probes = [i for i, t in enumerate(picks) if t == 2][1:]  # the first pick measures 2
    gaps = [b - a for a, b in zip(probes, probes[1:])]
    assert gaps[:3] == [24, 48, 64]  # 12 chunks after the first, then doubling, capped
    assert set(gaps[3:]) == {64}
    assert len(probes) < 600 / 12 / 2  # under half the probes of a fixed period of 12
    speed = {2: 0.5, 1: 1.0}  # the neighbour left: 2 threads now faster
    for _ in range(150):  # two probes: the costs are running means
        t = ch.pick()
        picks.append(t)
        ch.record(t, speed[t] * 100, 100)
    assert picks[-20:].count(2) >= 18  # 2 threads, but for a probe of one


@pytest.mark.parametrize("two, chosen", [(0.98, 1), (1.0, 1), (0.9, 2)])
def test_thread_chooser_wants_several_threads_clearly_faster(two, chosen):
    """Two threads are chosen only when more than 5% faster per word than one
    (one thread lets the records pipeline use the other core)."""
    from pysampled.word2vec.model import _ThreadChooser

    ch = _ThreadChooser(2, adaptive=True)
    speed = {2: two, 1: 1.0}
    picks = []
    for _ in range(200):
        t = ch.pick()
        picks.append(t)
        ch.record(t, speed[t] * 100, 100)
    assert picks[2:].count(chosen) > 0.9 * len(picks[2:])


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_records_pipeline_gives_the_one_thread_vectors(model, monkeypatch):
    """Deterministic mode on two threads whose chooser runs chunks on one:
    the next chunk's records are built on a helper thread meanwhile (also
    across an epoch boundary, and after a stop and resume); the vectors are
    the bits of a one-thread run, and the pipeline was really used."""
    from pysampled.word2vec import training

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(60)]
    sentences = [[words[int(j)] for j in rng.zipf(1.3, int(rng.integers(3, 30))) % 60]
                 for _ in range(300)]

    def fresh(threads):
        m = Word2Vec(model=model, dim=16, window=3, negative=3, min_count=1, epochs=2, seed=5,
                     num_threads=threads, chunk_words=400)
        m.build_vocab(sentences)
        return m

    one = fresh(1)
    one.train(progress=False)
    used = []
    real_take = training._RecordPipeline.take

    def take(self, key):
        records = real_take(self, key)
        used.append(records is not None)
        return records

    monkeypatch.setattr(training._ThreadChooser, "pick", lambda self: 1)
    monkeypatch.setattr(training._RecordPipeline, "take", take)
    two = fresh(2)
    two.train(progress=False)
    n_chunks = len(list(two._encoded.chunks(two.chunk_words)))
    assert n_chunks >= 4 and len(used) == 2 * n_chunks
    assert used[0] is False and all(used[1:])  # every chunk after the first was prepared ahead
    np.testing.assert_array_equal(two.syn0, one.syn0)
    np.testing.assert_array_equal(two.syn1, one.syn1)
    used.clear()
    resumed = fresh(2)
    resumed.train(progress=False, stop_after_chunks=n_chunks + 1)  # stops inside epoch 2
    resumed.train(progress=False)
    assert used.count(True) == 2 * n_chunks - 2  # the first chunk of each call builds its own
    np.testing.assert_array_equal(resumed.syn0, one.syn0)
    np.testing.assert_array_equal(resumed.syn1, one.syn1)
