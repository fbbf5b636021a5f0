"""Tests of ``pysampled.synthetic``: the planted-structure corpus and its score.

Statistical checks use fixed seeds, so they are deterministic; each bound is
chosen so that, over random seeds, it would fail with the probability stated
next to it (normal approximation to the binomial, two-sided).
"""
import math
import os

import numpy as np
import pytest

from pysampled.synthetic import SyntheticCorpus, chance_level, planted_score


def _ids(corpus):
    blocks = list(corpus.blocks())
    if not blocks:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    return (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]))


def _zipf_p(n, s):
    w = np.arange(1, n + 1, dtype=np.float64) ** -s
    return w / w.sum()


# ---------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------
def test_deterministic_per_seed():
    a = list(SyntheticCorpus(num_tokens=50_000, seed=3).sentences())
    b = list(SyntheticCorpus(num_tokens=50_000, seed=3).sentences())
    c = list(SyntheticCorpus(num_tokens=50_000, seed=4).sentences())
    assert a == b
    assert a != c


def test_reiterable_and_iter_matches_sentences():
    corpus = SyntheticCorpus(num_tokens=5_000, seed=2)
    assert list(corpus) == list(corpus.sentences()) == list(corpus)


@pytest.mark.parametrize("n", [0, 1, 7, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 5, 2_500_001])
def test_exact_token_count_and_lengths(n):
    corpus = SyntheticCorpus(num_tokens=n, seed=1)
    assert corpus.num_tokens == n
    ids, lengths = _ids(corpus)
    assert len(ids) == n == int(lengths.sum())
    assert ids.dtype == np.int32
    if n:
        assert np.all(lengths[:-1] >= 8) and np.all(lengths <= 24) and lengths[-1] >= 1
        assert ids.min() >= 0 and ids.max() < len(corpus.vocab)


def test_prefix_property_across_num_tokens():
    small, _ = _ids(SyntheticCorpus(num_tokens=1_100_000, seed=5))
    big, _ = _ids(SyntheticCorpus(num_tokens=2_200_000, seed=5))
    np.testing.assert_array_equal(small, big[: len(small)])


def test_sentences_match_ids_and_vocab():
    corpus = SyntheticCorpus(num_tokens=20_000, num_topics=3, words_per_topic=5, num_common=7, seed=9)
    vocab = corpus.vocab
    assert vocab[:7] == [f"c{i}" for i in range(7)]
    assert vocab[7:12] == corpus.groups[0] == [f"t0_w{r}" for r in range(5)]
    assert len(vocab) == 7 + 15 and len(set(vocab)) == len(vocab)
    ids, lengths = _ids(corpus)
    flat = [w for s in corpus.sentences() for w in s]
    assert flat == [vocab[i] for i in ids]
    assert [len(s) for s in corpus.sentences()] == lengths.tolist()


def test_one_topic_per_sentence():
    corpus = SyntheticCorpus(num_tokens=100_000, topic_share=0.5, seed=0)
    for sent in corpus.sentences():
        topics = {w.split("_")[0] for w in sent if w.startswith("t")}
        assert len(topics) <= 1


def test_topic_share_is_binomial():
    # Every token is independently a topic word with probability topic_share, so
    # the count is Binomial(N, share). |z| < 5 fails with probability 5.7e-7.
    n, share = 400_000, 0.3
    corpus = SyntheticCorpus(num_tokens=n, topic_share=share, num_common=50, seed=11)
    ids, _ = _ids(corpus)
    k = int(np.count_nonzero(ids >= corpus.num_common))
    z = (k - n * share) / math.sqrt(n * share * (1 - share))
    assert abs(z) < 5, z


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_topic_share_extremes(share):
    corpus = SyntheticCorpus(num_tokens=10_000, topic_share=share, seed=0)
    ids, _ = _ids(corpus)
    is_topic = ids >= corpus.num_common
    assert np.all(is_topic) if share == 1.0 else not np.any(is_topic)


def test_rank_frequencies_follow_zipf():
    # Given a token is a topic (common) word, its rank is drawn from the Zipf law
    # independently, so the count of each rank is Binomial(n, p_r). Bonferroni
    # over the 40 + 30 ranks checked at |z| < 5.5: false-failure rate <= 70 * 3.8e-8 = 2.7e-6.
    zipf_s = 1.1
    corpus = SyntheticCorpus(num_tokens=600_000, num_topics=3, words_per_topic=40, num_common=500,
                             topic_share=0.4, zipf_s=zipf_s, seed=21)
    ids, _ = _ids(corpus)
    C, W = corpus.num_common, corpus.words_per_topic
    topic_rank = (ids[ids >= C] - C) % W
    common_rank = ids[ids < C]
    for ranks, n_ranks, check in ((topic_rank, W, W), (common_rank, C, 30)):
        p = _zipf_p(n_ranks, zipf_s)[:check]
        counts = np.bincount(ranks, minlength=n_ranks)[:check]
        n = len(ranks)
        z = (counts - n * p) / np.sqrt(n * p * (1 - p))
        assert np.max(np.abs(z)) < 5.5, z


def test_sentence_lengths_and_topics_uniform():
    # Sentence lengths are i.i.d. uniform on {8..24}: mean 16, variance 24.
    # Topics i.i.d. uniform: with topic_share=1 a sentence's topic is visible;
    # each topic's sentence count is Binomial(S, 1/5). Bonferroni over
    # 1 + 5 checks at |z| < 5.5: false-failure rate <= 2.3e-7.
    corpus = SyntheticCorpus(num_tokens=800_000, num_topics=5, topic_share=1.0, seed=8)
    ids, lengths = _ids(corpus)
    lengths = lengths[:-1]
    s = len(lengths)
    z = (lengths.mean() - 16.0) / math.sqrt(24.0 / s)
    assert abs(z) < 5.5
    assert set(np.unique(lengths)) == set(range(8, 25))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    topic = (ids[starts] - corpus.num_common) // corpus.words_per_topic
    counts = np.bincount(topic, minlength=5)
    z = (counts - s / 5) / math.sqrt(s * 0.2 * 0.8)
    assert np.max(np.abs(z)) < 5.5, z


def test_invalid_parameters():
    with pytest.raises(ValueError):
        SyntheticCorpus(topic_share=1.5)
    with pytest.raises(ValueError):
        SyntheticCorpus(words_per_topic=1)
    with pytest.raises(ValueError):
        SyntheticCorpus(sentence_length=(5, 4))
    with pytest.raises(ValueError):
        SyntheticCorpus(sentence_length=(0, 4))
    with pytest.raises(ValueError):
        SyntheticCorpus(sentence_length=8)
    with pytest.raises(ValueError):
        SyntheticCorpus(num_tokens=-1)
    with pytest.raises(ValueError):
        SyntheticCorpus(zipf_s=float("nan"))
    with pytest.raises(TypeError):
        SyntheticCorpus(num_tokens=1.5)


def test_default_corpus_shape():
    corpus = SyntheticCorpus()
    assert corpus.num_tokens == 3_000_000
    groups = corpus.groups
    assert len(groups) == 50 and all(len(g) == 40 for g in groups)
    assert groups[12][7] == "t12_w7"
    assert corpus.chance_level() == pytest.approx(39 / 1999)


# ---------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------
def test_write_round_trip(tmp_path):
    corpus = SyntheticCorpus(num_tokens=30_000, seed=4)
    path = tmp_path / "corpus.txt"
    corpus.write(path)
    data = path.read_bytes()
    assert data.endswith(b"\n") and b"\r" not in data and b"  " not in data
    lines = data.decode("utf-8").split("\n")[:-1]
    assert [line.split(" ") for line in lines] == list(corpus.sentences())
    assert os.listdir(tmp_path) == ["corpus.txt"]
    corpus.write(str(path))  # overwrite, str path
    assert path.read_bytes() == data


def test_write_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    SyntheticCorpus(num_tokens=0).write(path)
    assert path.read_bytes() == b""


def test_write_is_atomic_on_error(tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text("old contents\n")
    corpus = SyntheticCorpus(num_tokens=3_000_000, seed=0)
    real_blocks = corpus.blocks

    def failing_blocks():
        for i, block in enumerate(real_blocks()):
            if i == 1:
                raise KeyboardInterrupt
            yield block

    monkeypatch.setattr(corpus, "blocks", failing_blocks)
    with pytest.raises(KeyboardInterrupt):
        corpus.write(path)
    assert path.read_text() == "old contents\n"
    assert os.listdir(tmp_path) == ["corpus.txt"]


# ---------------------------------------------------------------------------
# planted_score / chance_level
# ---------------------------------------------------------------------------
def test_planted_score_hand_computed():
    # Unit vectors: a1=(1,0) a2=(.6,.8) b1=(.8,.6) b2=(0,1); groups {a1,a2}, {b1,b2}.
    # cos: a1a2=.6 a1b1=.8 a1b2=0 a2b1=.96 a2b2=.8 b1b2=.6
    # k=1: a1->b1, a2->b1, b1->a2, b2->a2: all wrong -> 0
    # k=2: a1{b1,a2}=1/2, a2{b1,b2}=0, b1{a2,a1}=0, b2{a2,b1}=1/2 -> 1/4
    # k=3 (= P-1, also what larger k is capped to): 1/3 each.
    words = ["a1", "x", "a2", "b1", "b2"]
    vecs = np.array([[1, 0], [0.7, 0.7], [0.6, 0.8], [0.8, 0.6], [0, 1]])
    groups = [["a1", "a2"], ["b1", "b2"]]
    assert planted_score(words, vecs, groups, k=1) == 0.0
    assert planted_score(words, vecs, groups, k=2) == 0.25
    assert planted_score(words, vecs, groups, k=3) == pytest.approx(1 / 3)
    assert planted_score(words, vecs, groups, k=50) == pytest.approx(1 / 3)
    # cosine: invariant to positive row scaling; the non-planted row is ignored
    scaled = vecs * np.array([[3.0], [-100.0], [0.5], [7.0], [2.0]])
    assert planted_score(words, scaled, groups, k=2) == 0.25
    # a planted word missing from `words`: b2 absent -> P=3, k=1:
    # a1->b1 (wrong), a2->b1 (wrong), b1->a2 (wrong)
    assert planted_score(words[:4], vecs[:4], groups, k=1) == 0.0
    # k=2 takes all others: a1 1/2, a2 1/2, b1 0
    assert planted_score(words[:4], vecs[:4], groups, k=2) == pytest.approx(1 / 3)


def test_planted_score_perfect_embeddings():
    corpus = SyntheticCorpus()
    words = corpus.vocab
    rng = np.random.default_rng(0)
    vecs = 0.05 * rng.standard_normal((len(words), 64))
    for g, group in enumerate(corpus.groups):
        for w in group:
            vecs[words.index(w), g] += 1.0
    assert planted_score(words, vecs.astype(np.float32), corpus.groups) == 1.0
    assert corpus.score(words, vecs, k=39) == 1.0


def test_planted_score_random_is_chance():
    # 2000 planted words, k=10. Over 50 seeds the score of Gaussian random
    # vectors had mean 0.01948 (chance 0.01951) and sd 0.0012, so the bound
    # 0.008 is more than 6 sd (false-failure rate < 1e-8 under normality).
    corpus = SyntheticCorpus()
    words = corpus.vocab[::-1]  # order must not matter
    vecs = np.random.default_rng(123).standard_normal((len(words), 100)).astype(np.float32)
    chance = chance_level(corpus.groups, words)
    assert chance == pytest.approx(39 / 1999)
    assert abs(planted_score(words, vecs, corpus.groups) - chance) < 0.008


def test_planted_score_block_boundaries():
    # more planted words than one block (4M / P rows) holds: P = 3000 -> blocks of 1398
    groups = [[f"g{g}_{i}" for i in range(30)] for g in range(100)]
    words = [w for grp in groups for w in grp]
    vecs = np.zeros((len(words), 100))
    for g in range(100):
        vecs[g * 30:(g + 1) * 30, g] = 1.0
    vecs += 1e-3 * np.random.default_rng(1).standard_normal(vecs.shape)
    assert planted_score(words, vecs, groups, k=5) == 1.0


def test_chance_level_subset():
    groups = [["a", "b", "c"], ["d", "e"]]
    # all present: P=5; a,b,c: 2/4; d,e: 1/4 -> (3*.5 + 2*.25)/5
    assert chance_level(groups) == pytest.approx((3 * 0.5 + 2 * 0.25) / 5)
    # present a, b, d, z: P=3; a,b: 1/2; d: 0
    assert chance_level(groups, ["a", "b", "d", "z"]) == pytest.approx(1 / 3)


def test_planted_score_errors():
    groups = [["a", "b"], ["c", "d"]]
    words = ["a", "b", "c", "d"]
    vecs = np.eye(4)
    with pytest.raises(ValueError, match="rows"):
        planted_score(words, vecs[:3], groups)
    with pytest.raises(ValueError, match="2-D"):
        planted_score(words, vecs[0], groups)
    with pytest.raises(ValueError, match="more than one group"):
        planted_score(words, vecs, [["a", "b"], ["b", "c"]])
    with pytest.raises(ValueError, match="at least 2"):
        planted_score(["a", "x"], vecs[:2], groups)
    bad = vecs.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        planted_score(words, bad, groups)
    with pytest.raises(ValueError):
        planted_score(words, vecs, groups, k=0)
    with pytest.raises(TypeError):
        planted_score(words, vecs, ["ab", "cd"])
