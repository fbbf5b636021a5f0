"""Tests of ``pysampled.evaluation`` on small hand-made benchmarks with known answers.

The gensim cross-checks at the end run only where gensim is importable.
"""
import numpy as np
import pytest

from pysampled import evaluation
from pysampled.evaluation import _pearson, _rankdata, _spearman, evaluate_analogies, evaluate_similarity


# ---------------------------------------------------------------------------
# analogies
# ---------------------------------------------------------------------------
def _nations():
    """country_i = e_i + g, capital_i = e_i + h with orthonormal e_i, g, h.

    Every vector has norm sqrt(2), so after normalisation still
    capital_j - country_j + country_k == capital_k exactly (3CosAdd cosine 1).
    Likewise adjective_i = e_i + p, adverb_i = e_i + q for the "gram" section.
    """
    names = [("france", "paris"), ("germany", "berlin"), ("italy", "rome"), ("spain", "madrid")]
    adj = [("quick", "quickly"), ("slow", "slowly"), ("calm", "calmly")]
    dim = len(names) + len(adj) + 4
    g, h, p, q = dim - 4, dim - 3, dim - 2, dim - 1
    words, vecs = [], []
    for i, (country, capital) in enumerate(names):
        for w, extra in ((country, g), (capital, h)):
            v = np.zeros(dim)
            v[i] = 1.0
            v[extra] = 1.0
            words.append(w)
            vecs.append(v)
    for i, (a, b) in enumerate(adj):
        for w, extra in ((a, p), (b, q)):
            v = np.zeros(dim)
            v[len(names) + i] = 1.0
            v[extra] = 1.0
            words.append(w)
            vecs.append(v)
    return words, np.array(vecs), names, adj


def _write(tmp_path, text, name="q.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_analogies_exact(tmp_path):
    words, vecs, names, adj = _nations()
    lines = [": capital-common-countries"]
    for c1, k1 in names:
        for c2, k2 in names:
            if c1 != c2:
                lines.append(f"{c1} {k1} {c2} {k2}")  # 12 questions, all correct
    lines += [": gram3-adverbs"]
    for a1, b1 in adj:
        for a2, b2 in adj:
            if a1 != a2:
                lines.append(f"{a1} {b1} {a2} {b2}")  # 6 correct
    lines += ["quick quickly slow calmly",  # wrong expected answer: incorrect
              "quick quickly slow zebra",  # OOV
              "quick quickly slow",  # invalid line
              "", "   "]
    res = evaluate_analogies(words, vecs, _write(tmp_path, "\n".join(lines) + "\n"))
    assert res["correct"] == 18 and res["total"] == 19 and res["oov"] == 1 and res["invalid"] == 1
    assert res["accuracy"] == pytest.approx(18 / 19)
    assert res["oov_ratio"] == pytest.approx(1 / 20)
    assert list(res["sections"]) == ["capital-common-countries", "gram3-adverbs"]
    assert res["sections"]["capital-common-countries"] == {"accuracy": 1.0, "correct": 12, "total": 12,
                                                            "oov": 0}
    assert res["sections"]["gram3-adverbs"] == {"accuracy": 6 / 7, "correct": 6, "total": 7, "oov": 1}
    assert res["semantic_accuracy"] == 1.0
    assert res["syntactic_accuracy"] == pytest.approx(6 / 7)


def test_analogies_never_answer_a_b_or_c(tmp_path):
    words, vecs, _, _ = _nations()
    # b - a + c == paris (b itself) and == france (c itself); both are excluded,
    # so the answer can never be the expected word here
    text = ": s\nfrance paris france paris\nparis paris france france\n"
    res = evaluate_analogies(words, vecs, _write(tmp_path, text))
    assert res["total"] == 2 and res["correct"] == 0


def test_analogies_case_handling(tmp_path):
    words, vecs, _, _ = _nations()
    path = _write(tmp_path, ":s\nFrance PARIS germany Berlin\n")
    assert evaluate_analogies(words, vecs, path)["correct"] == 1
    res = evaluate_analogies(words, vecs, path, case_insensitive=False)
    assert res["total"] == 0 and res["oov"] == 1 and np.isnan(res["accuracy"])


def test_analogies_case_variants_of_inputs_are_excluded(tmp_path):
    words, vecs, _, _ = _nations()
    words, vecs = list(words), vecs.copy()
    ib = words.index("berlin")
    target = vecs[ib].copy()
    vecs[ib] += 0.05 * vecs[words.index("rome")]  # berlin is now slightly off the target
    # a rarer spelling of c ("germany") sits exactly on the target b - a + c
    words.append("GERMANY")
    vecs = np.vstack([vecs, target])
    path = _write(tmp_path, ": s\nfrance paris germany berlin\n")
    # case-insensitive: GERMANY shares c's key, so it is excluded -> berlin, correct
    assert evaluate_analogies(words, vecs, path)["correct"] == 1
    # case-sensitive: GERMANY is another word and wins
    res = evaluate_analogies(words, vecs, path, case_insensitive=False)
    assert res["total"] == 1 and res["correct"] == 0


def test_analogies_first_variant_supplies_the_vector(tmp_path):
    words, vecs, _, _ = _nations()
    # a more frequent "Berlin" (row 0) carries rome's vector; case-insensitive
    # lookups of "berlin" use it: france - paris + rome == italy, not germany
    words = ["Berlin"] + list(words)
    vecs = np.vstack([vecs[words.index("rome") - 1], vecs])
    path = _write(tmp_path, ": s\nparis france berlin germany\n")
    res = evaluate_analogies(words, vecs, path)
    assert (res["total"], res["correct"]) == (1, 0)
    path = _write(tmp_path, ": s\nparis france berlin italy\n", "q2.txt")
    assert evaluate_analogies(words, vecs, path)["correct"] == 1
    # case-sensitive: "berlin" is its own word, e2 + h -> germany
    path = _write(tmp_path, ": s\nparis france berlin germany\n", "q3.txt")
    assert evaluate_analogies(words, vecs, path, case_insensitive=False)["correct"] == 1


def test_analogies_restrict_vocab(tmp_path):
    words, vecs, _, _ = _nations()
    path = _write(tmp_path, ": s\nfrance paris germany berlin\nitaly rome spain madrid\n")
    res = evaluate_analogies(words, vecs, path, restrict_vocab=6)  # spain/madrid cut off
    assert (res["correct"], res["total"], res["oov"]) == (1, 1, 1)
    res = evaluate_analogies(words, vecs, path, restrict_vocab=None)
    assert (res["correct"], res["total"], res["oov"]) == (2, 2, 0)


def test_analogies_restricted_candidates(tmp_path):
    words, vecs, _, _ = _nations()
    # the answer must be among the first restrict_vocab words: move berlin to the end
    i = words.index("berlin")
    order = [j for j in range(len(words)) if j != i] + [i]
    words2 = [words[j] for j in order]
    path = _write(tmp_path, ": s\nfrance paris germany berlin\n")
    assert evaluate_analogies(words2, vecs[order], path)["correct"] == 1
    res = evaluate_analogies(words2, vecs[order], path, restrict_vocab=len(words) - 1)
    assert res["oov"] == 1 and res["total"] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_analogies_batching_and_dtypes(tmp_path, monkeypatch, dtype):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    vecs = rng.standard_normal((200, 16)).astype(dtype)
    # questions answered by the brute-force definition below
    q = rng.integers(0, 200, size=(300, 4))
    path = _write(tmp_path, ": r\n" + "\n".join(" ".join(words[j] for j in row) for row in q) + "\n")
    unit = vecs.astype(np.float64) / np.linalg.norm(vecs.astype(np.float64), axis=1, keepdims=True)
    expected = 0
    for a, b, c, d in q:
        s = unit @ (unit[b] - unit[a] + unit[c])
        s[[a, b, c]] = -np.inf
        expected += int(np.argmax(s) == d)
    for max_elems in (1 << 25, 1000, 1):  # 1 question per batch at the end
        monkeypatch.setattr(evaluation, "_MAX_BATCH_ELEMENTS", max_elems)
        res = evaluate_analogies(words, vecs, path)
        assert res["total"] == 300 and res["correct"] == expected
    # the random "answers" d are mostly wrong; make some right: d := brute-force answer
    fixed = []
    for a, b, c, d in q[:50]:
        s = unit @ (unit[b] - unit[a] + unit[c])
        s[[a, b, c]] = -np.inf
        fixed.append((a, b, c, int(np.argmax(s))))
    path = _write(tmp_path, ": r\n" + "\n".join(" ".join(words[j] for j in row) for row in fixed) + "\n")
    assert evaluate_analogies(words, vecs, path)["correct"] == 50


def test_analogies_errors(tmp_path):
    words, vecs, _, _ = _nations()
    with pytest.raises(ValueError, match="before the first"):
        evaluate_analogies(words, vecs, _write(tmp_path, "france paris germany berlin\n"))
    ok = _write(tmp_path, ": s\nfrance paris germany berlin\n", "ok.txt")
    with pytest.raises(ValueError, match="rows"):
        evaluate_analogies(words[:-1], vecs, ok)
    bad = vecs.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        evaluate_analogies(words, bad, ok)
    empty = evaluate_analogies(words, vecs, _write(tmp_path, "", "empty.txt"))
    assert empty["total"] == 0 and empty["sections"] == {} and np.isnan(empty["accuracy"])


# ---------------------------------------------------------------------------
# ranks and correlations
# ---------------------------------------------------------------------------
def test_rankdata_average_ties():
    x = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
    # sorted: 1 1 | 2 | 3 3 | 4 | 5 5 5 | 6 | 9 -> 1.5, 3, 4.5, 6, 8, 10, 11
    np.testing.assert_array_equal(_rankdata(x), [4.5, 1.5, 6, 1.5, 8, 11, 3, 10, 8, 4.5, 8])
    np.testing.assert_array_equal(_rankdata([2.0, 2.0, 2.0]), [2, 2, 2])
    np.testing.assert_array_equal(_rankdata([]), [])
    np.testing.assert_array_equal(_rankdata([-0.0, 0.0]), [1.5, 1.5])


def test_rankdata_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 8, size=rng.integers(1, 60)).astype(float)
        np.testing.assert_array_equal(_rankdata(x), stats.rankdata(x))
        y = rng.standard_normal(len(x))
        if len(x) > 2 and np.ptp(x) > 0:
            assert _spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
            assert _pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)


def test_spearman_hand_computed_with_ties():
    model = [0.9, 0.5, 0.5, 0.1, -0.2]
    gold = [10, 7, 8, 8, 1]
    # ranks: model [5, 3.5, 3.5, 2, 1], gold [5, 2, 3.5, 3.5, 1]; centred (mean 3):
    # dx = [2, .5, .5, -1, -2], dy = [2, -1, .5, .5, -2]
    # dx.dy = 4 - .5 + .25 - .5 + 4 = 7.25; |dx|^2 = |dy|^2 = 9.5
    assert _spearman(model, gold) == pytest.approx(7.25 / 9.5, abs=1e-15)
    assert _spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert np.isnan(_spearman([1, 1, 1], [1, 2, 3]))
    assert np.isnan(_pearson([1.0], [2.0]))


# ---------------------------------------------------------------------------
# similarity
# ---------------------------------------------------------------------------
def _sim_setup(tmp_path, lines, **kw):
    # anchor = (1, 0); x_i = (s_i, sqrt(1 - s_i^2)) so cos(anchor, x_i) = s_i
    s = [0.9, 0.5, 0.5, 0.1, -0.2]
    words = ["anchor", "x1", "x2", "x3", "x4", "x5"]
    vecs = np.array([[1.0, 0.0]] + [[v, np.sqrt(1 - v * v)] for v in s])
    path = _write(tmp_path, "\n".join(lines) + "\n", "pairs.txt")
    return evaluate_similarity(words, vecs, path, **kw)


def test_similarity_hand_computed(tmp_path):
    lines = ["# WordSim-style comment", "", "anchor\tx1\t10", "anchor\tx2\t7", "x3\tanchor\t8",
             "ANCHOR\tX4\t8.0", "anchor\tx5\t1", "anchor\tunknown\t5", "bad line", "a\tb\tnotanumber",
             "a\tb\t1\textra"]
    res = _sim_setup(tmp_path, lines)
    assert res["spearman"] == pytest.approx(7.25 / 9.5, abs=1e-12)
    expected_pearson = np.corrcoef([0.9, 0.5, 0.5, 0.1, -0.2], [10, 7, 8, 8, 1])[0, 1]
    assert res["pearson"] == pytest.approx(expected_pearson, abs=1e-12)
    assert (res["pairs"], res["oov"], res["invalid"]) == (5, 1, 3)
    assert res["oov_ratio"] == pytest.approx(1 / 6)
    # case-sensitive: "ANCHOR X4" is now OOV -> 4 pairs
    # model [.9,.5,.5,-.2] -> ranks [4,2.5,2.5,1]; gold [10,7,8,1] -> [4,2,3,1]
    # dx=[1.5,0,0,-1.5] dy=[1.5,-.5,.5,-1.5]: 4.5 / sqrt(4.5 * 5)
    res = _sim_setup(tmp_path, lines, case_insensitive=False)
    assert (res["pairs"], res["oov"]) == (4, 2)
    assert res["spearman"] == pytest.approx(4.5 / np.sqrt(4.5 * 5.0), abs=1e-12)


def test_similarity_delimiters(tmp_path):
    lines = ["anchor x1 3", "anchor  x2   2", "anchor x4 1"]
    res = _sim_setup(tmp_path, lines, delimiter=None)
    assert res["pairs"] == 3 and res["spearman"] == pytest.approx(1.0)
    res = _sim_setup(tmp_path, [ln.replace(" ", ",") for ln in lines[:1]] + ["anchor,x4,1"], delimiter=",")
    assert res["pairs"] == 2 and res["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="wrong delimiter"):
        _sim_setup(tmp_path, lines)  # tab delimiter on space-separated lines


def test_similarity_restrict_vocab_and_degenerate(tmp_path):
    res = _sim_setup(tmp_path, ["anchor\tx1\t3", "anchor\tx5\t1"], restrict_vocab=3)
    assert (res["pairs"], res["oov"]) == (1, 1) and np.isnan(res["spearman"])
    res = _sim_setup(tmp_path, ["anchor\tzzz\t3"])
    assert (res["pairs"], res["oov"], res["oov_ratio"]) == (0, 1, 1.0) and np.isnan(res["pearson"])
    with pytest.raises(ValueError, match="not finite"):
        _sim_setup(tmp_path, ["anchor\tx1\tnan"])


# ---------------------------------------------------------------------------
# gensim cross-checks (optional)
# ---------------------------------------------------------------------------
def _noisy_nations(seed=0, noise=0.8):
    rng = np.random.default_rng(seed)
    n, dim = 40, 30
    e = rng.standard_normal((n, dim))
    g, h = rng.standard_normal(dim), rng.standard_normal(dim)
    words, vecs = [], []
    for i in range(n):
        words += [f"country{i}", f"Capital{i}"]
        vecs += [e[i] + g + noise * rng.standard_normal(dim), e[i] + h + noise * rng.standard_normal(dim)]
    words += [f"filler{i}" for i in range(100)]
    vecs += list(rng.standard_normal((100, dim)))
    return words, np.array(vecs, dtype=np.float32)


def test_analogies_match_gensim(tmp_path):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    words, vecs = _noisy_nations()
    rng = np.random.default_rng(1)
    lines = [": capitals"]
    for _ in range(400):
        i, j = rng.choice(40, 2, replace=False)
        lines.append(f"country{i} capital{i} COUNTRY{j} capital{j}")
    lines += [": gram-oov", "country1 capital1 country2 nowhere"]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    kv = gensim_kv.KeyedVectors(vecs.shape[1])
    kv.add_vectors(words, vecs)
    for restrict in (300000, 150):
        score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict)
        ours = evaluate_analogies(words, vecs, path, restrict_vocab=restrict)
        total = sections[-1]
        assert ours["correct"] == len(total["correct"])
        assert ours["total"] == len(total["correct"]) + len(total["incorrect"])
        assert 0 < ours["correct"] < ours["total"]
        assert ours["accuracy"] == pytest.approx(score)


def test_similarity_matches_gensim(tmp_path):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    words, vecs = _noisy_nations()
    rng = np.random.default_rng(2)
    lines = ["# comment"]
    for _ in range(300):
        # distinct words: self-similarities are all 1 up to rounding, so their
        # ranks depend on float32 vs float64 arithmetic
        i, j = rng.choice(len(words), 2, replace=False)
        lines.append(f"{words[i].lower()}\t{words[j]}\t{rng.integers(0, 5)}")  # many ties
    lines.append("country0\tnowhere\t3")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    kv = gensim_kv.KeyedVectors(vecs.shape[1])
    kv.add_vectors(words, vecs)
    pearson, spearman, oov_pct = kv.evaluate_word_pairs(str(path))
    ours = evaluate_similarity(words, vecs, path)
    assert ours["pearson"] == pytest.approx(pearson[0], abs=1e-6)
    assert ours["spearman"] == pytest.approx(spearman[0], abs=1e-6)
    assert ours["oov_ratio"] * 100 == pytest.approx(oov_pct)
