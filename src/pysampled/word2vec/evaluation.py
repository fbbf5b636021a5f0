"""Evaluate word embeddings on standard benchmarks (analogies, word similarity).

Both functions take the embeddings as ``words`` (a list of str, most frequent
first, as in word2vec files) and ``vectors`` (a ``[V, D]`` float array, one
row per word), read the benchmark file themselves, and return a plain dict.
They follow gensim's ``KeyedVectors.evaluate_word_analogies`` and
``evaluate_word_pairs`` conventions (vocabulary restriction, case folding,
OOV handling) but need only NumPy.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__all__ = ["evaluate_analogies", "evaluate_similarity"]

#: Upper bound on the number of similarities computed per batch (memory).
_MAX_BATCH_ELEMENTS = 1 << 25


def _prepare(words, vectors, restrict_vocab, case_insensitive):
    """Normalised rows of the restricted vocabulary and a key -> row lookup.

    Returns ``(unit, key_to_row, canon, variants)``: ``unit`` the L2-normalised
    first ``n`` rows (zero rows stay zero), ``key_to_row`` maps a (case-folded)
    key to the row of its first (most frequent) occurrence, ``canon[row]`` is
    that first row for every row, and ``variants`` maps a first row to all
    rows sharing its key, for keys that occur more than once.
    """
    if isinstance(words, (str, bytes)):
        raise TypeError("words must be a sequence of str, not a single string")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [V, D], got shape {vectors.shape}")
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{len(words)} words but {vectors.shape[0]} vector rows")
    n = len(words)
    if restrict_vocab is not None:
        if int(restrict_vocab) < 0:
            raise ValueError(f"restrict_vocab must be >= 0 or None, got {restrict_vocab}")
        n = min(n, int(restrict_vocab))
    dtype = np.result_type(vectors.dtype, np.float32)
    if dtype.kind != "f":
        raise TypeError(f"vectors must be real numbers, got dtype {vectors.dtype}")
    unit = np.array(vectors[:n], dtype=dtype)
    if not np.all(np.isfinite(unit)):
        raise ValueError("vectors must be finite")
    norms = np.linalg.norm(unit, axis=1, keepdims=True)
    unit /= np.where(norms > 0, norms, 1)
    key_to_row: Dict[str, int] = {}
    canon = np.empty(n, dtype=np.intp)
    variants: Dict[int, List[int]] = {}
    for i in range(n):
        key = words[i].upper() if case_insensitive else words[i]
        first = key_to_row.setdefault(key, i)
        canon[i] = first
        if first != i:
            variants.setdefault(first, [first]).append(i)
    return unit, key_to_row, canon, variants


def _accuracy(correct, total):
    return correct / total if total else float("nan")


def evaluate_analogies(
    words: Sequence[str],
    vectors: npt.ArrayLike,
    path: Union[str, os.PathLike[str]],
    restrict_vocab: Optional[int] = 300000,
    case_insensitive: bool = True,
    normalize: Optional[Callable[[str], str]] = None,
) -> Dict[str, Any]:
    """Word-analogy accuracy with 3CosAdd, on a ``questions-words.txt`` style file.

    Each question ``a b c d`` ("a is to b as c is to d") is answered by the
    word ``x`` of the restricted vocabulary, other than ``a``, ``b`` and
    ``c``, that maximises ``cos(x, b - a + c)`` over L2-normalised vectors
    (Mikolov et al.'s 3CosAdd; the same ranking as gensim's
    ``most_similar(positive=[b, c], negative=[a])``). The answer is correct
    if it is ``d``.

    Parameters
    ----------
    words : sequence of str
        Vocabulary aligned with the rows of ``vectors``, most frequent first.
    vectors : array_like of float, shape (len(words), D)
        Embeddings (finite). Computation runs in float32 for float32 input,
        else float64, in batches of matrix products.
    path : str or os.PathLike
        UTF-8 file. A line starting with ``:`` opens a section named by the
        rest of the line (``": capital-common-countries"``); any other
        non-blank line is a question of four whitespace-separated words.
    restrict_vocab : int or None, default 300000
        Only the first ``restrict_vocab`` words are used, both to look up
        question words and as candidate answers (None: all words).
    case_insensitive : bool, default True
        Compare words upper-cased. A key that several words share (``Paris``,
        ``paris``) uses the vector of its first (most frequent) word, and
        every word with the same key as ``a``, ``b`` or ``c`` is excluded
        from the answers.
    normalize : callable, optional
        Applied to every word of the question file before the lookup: the
        token normalisation the vectors were trained with (for example
        ``TextCorpus(..., lowercase=True).normalizer()``).

    Returns
    -------
    dict
        ``accuracy``
            correct / answered questions over all sections (NaN if none
            was answered).
        ``correct``, ``total``
            Numbers of correctly answered and of answered questions.
        ``oov``
            Questions skipped because a word is outside the restricted
            vocabulary (not counted in ``total``).
        ``oov_ratio``
            ``oov / (total + oov)`` (NaN if there are no questions).
        ``invalid``
            Lines skipped because they are not four words.
        ``sections``
            ``{name: {"accuracy", "correct", "total", "oov"}}`` in file
            order; repeated section names are merged.
        ``semantic_accuracy``, ``syntactic_accuracy``
            Accuracy over sections whose names do not / do start with
            ``gram`` (the convention of ``questions-words.txt``); NaN where
            no such question was answered.

    Raises
    ------
    ValueError
        If a question comes before the first section header, the file is not
        UTF-8, or ``words`` and ``vectors`` do not match.

    Examples
    --------
    >>> res = evaluate_analogies(words, vectors, "questions-words.txt")  # doctest: +SKIP
    >>> res["accuracy"], res["sections"]["capital-common-countries"]["accuracy"]  # doctest: +SKIP
    """
    unit, key_to_row, canon, variants = _prepare(words, vectors, restrict_vocab, case_insensitive)
    names, sec_oov, questions, invalid = _read_questions(path, key_to_row, case_insensitive,
                                                         normalize)
    sec_correct, sec_total = _answer_questions(unit, canon, variants, questions, len(names))
    sections = {}
    for s, name in enumerate(names):
        sections[name] = {
            "accuracy": _accuracy(int(sec_correct[s]), int(sec_total[s])),
            "correct": int(sec_correct[s]),
            "total": int(sec_total[s]),
            "oov": int(sec_oov[s]),
        }
    correct, total, oov = int(sec_correct.sum()), int(sec_total.sum()), int(sum(sec_oov))
    syn = np.array([name.startswith("gram") for name in names], dtype=bool)
    return {
        "accuracy": _accuracy(correct, total),
        "correct": correct,
        "total": total,
        "oov": oov,
        "oov_ratio": oov / (total + oov) if total + oov else float("nan"),
        "invalid": invalid,
        "sections": sections,
        "semantic_accuracy": _accuracy(int(sec_correct[~syn].sum()), int(sec_total[~syn].sum())),
        "syntactic_accuracy": _accuracy(int(sec_correct[syn].sum()), int(sec_total[syn].sum())),
    }


def _read_questions(path, key_to_row, case_insensitive, normalize=None):
    """Parse a questions-words file: section names (file order, repeats
    merged), per-section OOV counts, the questions as (section, a, b, c, d)
    rows of the restricted vocabulary, and the count of invalid lines."""
    names: List[str] = []
    sec_index: Dict[str, int] = {}
    sec_oov: List[int] = []
    questions: List[Tuple[int, int, int, int, int]] = []
    invalid = 0
    current = None
    where = os.fspath(path)
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith(":"):
                name = line[1:].strip()
                if name not in sec_index:
                    sec_index[name] = len(names)
                    names.append(name)
                    sec_oov.append(0)
                current = sec_index[name]
                continue
            fields = line.split()
            if not fields:
                continue
            if current is None:
                raise ValueError(f"{where}: line {lineno}: question before the first ': section' header")
            if len(fields) != 4:
                invalid += 1
                continue
            if normalize is not None:
                fields = [normalize(w) for w in fields]
            if case_insensitive:
                fields = [w.upper() for w in fields]
            rows = [key_to_row.get(w) for w in fields]
            if None in rows:
                sec_oov[current] += 1
                continue
            questions.append((current, *rows))
    return names, sec_oov, questions, invalid


def _answer_questions(unit, canon, variants, questions, nsec):
    """Per-section counts of correct and answered questions (3CosAdd, the
    question words and their case variants excluded), in batches."""
    sec_correct = np.zeros(nsec, dtype=np.int64)
    sec_total = np.zeros(nsec, dtype=np.int64)
    if not questions:
        return sec_correct, sec_total
    q = np.array(questions, dtype=np.intp)
    sec, ia, ib, ic, id_ = q.T
    n = unit.shape[0]
    batch = max(1, _MAX_BATCH_ELEMENTS // max(n, 1))
    hits = np.empty(len(q), dtype=bool)
    for start in range(0, len(q), batch):
        stop = min(len(q), start + batch)
        a, b, c = ia[start:stop], ib[start:stop], ic[start:stop]
        target = unit[b] - unit[a] + unit[c]
        sims = target @ unit.T
        r = np.arange(stop - start)
        sims[r, a] = -np.inf
        sims[r, b] = -np.inf
        sims[r, c] = -np.inf
        if variants:
            for j in range(stop - start):
                for row in (a[j], b[j], c[j]):
                    extra = variants.get(int(row))
                    if extra is not None:
                        sims[j, extra] = -np.inf
        pred = np.argmax(sims, axis=1)
        hits[start:stop] = canon[pred] == id_[start:stop]
    np.add.at(sec_total, sec, 1)
    np.add.at(sec_correct, sec, hits.astype(np.int64))
    return sec_correct, sec_total


# ---------------------------------------------------------------------------
# word similarity
# ---------------------------------------------------------------------------
def _rankdata(x) -> np.ndarray:
    """Ranks 1..n of ``x``, ties getting the average of the ranks they span."""
    x = np.asarray(x, dtype=np.float64).ravel()
    n = len(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new_value = np.empty(n, dtype=bool)
    if n:
        new_value[0] = True
        np.not_equal(xs[1:], xs[:-1], out=new_value[1:])
    group = np.cumsum(new_value) - 1  # group id per sorted position
    bounds = np.append(np.flatnonzero(new_value), n)  # group g spans [bounds[g], bounds[g+1])
    # positions p..q-1 (0-based) hold ranks p+1..q, whose mean is (p + 1 + q) / 2
    avg = 0.5 * (bounds[:-1] + 1 + bounds[1:])
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = avg[group]
    return ranks


def _pearson(x, y) -> float:
    """Pearson correlation; NaN for fewer than 2 points or a constant input."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return float("nan")
    dx = x - x.mean()
    dy = y - y.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if den == 0.0:
        return float("nan")
    return float(min(1.0, max(-1.0, float(dx @ dy) / den)))


def _spearman(x, y) -> float:
    """Spearman rank correlation: Pearson of average-tie ranks."""
    return _pearson(_rankdata(x), _rankdata(y))


def evaluate_similarity(
    words: Sequence[str],
    vectors: npt.ArrayLike,
    path: Union[str, os.PathLike[str]],
    delimiter: Optional[str] = "\t",
    case_insensitive: bool = True,
    restrict_vocab: Optional[int] = 300000,
    normalize: Optional[Callable[[str], str]] = None,
) -> Dict[str, Any]:
    """Correlation between cosine similarities and human word-pair ratings.

    Parameters
    ----------
    words : sequence of str
        Vocabulary aligned with the rows of ``vectors``, most frequent first.
    vectors : array_like of float, shape (len(words), D)
        Embeddings (finite). Zero vectors have cosine 0 with everything.
    path : str or os.PathLike
        UTF-8 file of lines ``word1<delimiter>word2<delimiter>score``
        (e.g. WordSim-353, MEN, SimLex-999 reduced to three columns). Blank
        lines and lines starting with ``#`` are ignored; other lines that do
        not have exactly three fields with a numeric score are skipped and
        counted as ``invalid`` (a header line, for instance).
    delimiter : str or None, default "\\t"
        Field separator; None splits on runs of whitespace.
    case_insensitive : bool, default True
        Compare words upper-cased; a key shared by several words uses the
        first (most frequent) one.
    restrict_vocab : int or None, default 300000
        Only the first ``restrict_vocab`` words are looked up (None: all);
        as in gensim's ``evaluate_word_pairs``.
    normalize : callable, optional
        Applied to both words of every pair before the lookup (the token
        normalisation the vectors were trained with).

    Returns
    -------
    dict
        ``spearman``
            Spearman rank correlation (ties get average ranks) between the
            cosine similarities and the scores of the in-vocabulary pairs.
        ``pearson``
            Pearson correlation of the same.
        ``pairs``
            Number of in-vocabulary pairs used.
        ``oov``
            Pairs skipped because a word is out of the restricted vocabulary.
        ``oov_ratio``
            ``oov / (pairs + oov)`` as a fraction (gensim reports percent).
        ``invalid``
            Non-comment lines skipped as malformed.

        Correlations are NaN with fewer than two pairs or when either side
        is constant. p-values are not computed.

    Raises
    ------
    ValueError
        If the file holds no valid line at all (wrong delimiter?), a score
        is not finite, the file is not UTF-8, or ``words`` and ``vectors``
        do not match.
    """
    unit, key_to_row, _, _ = _prepare(words, vectors, restrict_vocab, case_insensitive)
    where = os.fspath(path)
    left: List[int] = []
    right: List[int] = []
    gold: List[float] = []
    oov = invalid = 0
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            fields = line.rstrip("\r\n").split(delimiter)
            if delimiter is not None:
                fields = [x.strip() for x in fields]
            if len(fields) != 3 or not fields[0] or not fields[1]:
                invalid += 1
                continue
            try:
                score = float(fields[2])
            except ValueError:
                invalid += 1
                continue
            if not math.isfinite(score):
                raise ValueError(f"{where}: line {lineno}: score {fields[2]!r} is not finite")
            a, b = fields[0], fields[1]
            if normalize is not None:
                a, b = normalize(a), normalize(b)
            if case_insensitive:
                a, b = a.upper(), b.upper()
            ra, rb = key_to_row.get(a), key_to_row.get(b)
            if ra is None or rb is None:
                oov += 1
                continue
            left.append(ra)
            right.append(rb)
            gold.append(score)
    pairs = len(gold)
    if pairs + oov == 0:
        raise ValueError(
            f"{where}: no valid 'word1 word2 score' line split by delimiter={delimiter!r} "
            f"({invalid} malformed); wrong delimiter?"
        )
    if pairs:
        sims = np.einsum("ij,ij->i", unit[left], unit[right], dtype=np.float64)
    else:
        sims = np.zeros(0)
    return {
        "spearman": _spearman(sims, gold),
        "pearson": _pearson(sims, gold),
        "pairs": pairs,
        "oov": oov,
        "oov_ratio": oov / (pairs + oov),
        "invalid": invalid,
    }
