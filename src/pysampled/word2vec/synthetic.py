"""A synthetic corpus with planted related-word groups, and its quality score.

:class:`SyntheticCorpus` is the word2vec trainer's built-in default corpus:
fast to generate (vectorised NumPy), deterministic for a seed, and with a known
answer, namely which words belong together. :func:`planted_score` measures how
well a set of embeddings recovers those groups (precision@k of cosine nearest
neighbours), and :func:`chance_level` says what random embeddings score.

Difficulty. The defaults (3M tokens, 50 topics x 40 words, 10% topic words) are
tuned to be learnable but not trivially so: the rarest topic word occurs
only about 35 times, and gensim 4.4 skip-gram (window 5, dim 100,
5 negatives, default learning rate, seed 1) scores, by epochs:

==================  =======  =======  =======  =======
subsampling         1        2        3        5
==================  =======  =======  =======  =======
``sample=1e-3``     0.61     0.99     1.00     1.00
``sample=0``        0.26     --       0.996    1.00
==================  =======  =======  =======  =======

while random vectors score the chance level ``39 / 1999 ≈ 0.0195``
(:meth:`SyntheticCorpus.chance_level`). Lower ``topic_share`` makes it harder (0.065: 0.04,
0.33, 0.87 and 0.99 after 1, 2, 3 and 5 epochs with ``sample=1e-3``).
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from .._atomic import atomic_write
from .._validation import int_at_least

__all__ = ["SyntheticCorpus", "planted_score", "chance_level"]

#: Tokens generated per block; block ``i`` depends only on ``(seed, i)``.
_BLOCK_TOKENS = 1 << 20


def _zipf_cdf(n: int, s: float) -> np.ndarray:
    """Cumulative distribution of ranks ``0..n-1`` with ``P(r) ∝ (r + 1) ** -s``."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -s
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return cdf


def _zipf_draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Map uniforms ``u`` in [0, 1) to ranks by inverting ``cdf``."""
    r = np.searchsorted(cdf, u, side="right")
    np.minimum(r, len(cdf) - 1, out=r)  # guard against cdf[-1] rounding below 1
    return r


class SyntheticCorpus:
    """A corpus of random sentences with planted groups of related words.

    Generative model (all draws independent, from a NumPy ``PCG64`` stream):

    1. Sentence lengths are uniform integers in
       ``[sentence_length[0], sentence_length[1]]`` (both inclusive).
    2. Each sentence picks one topic ``t`` uniformly from ``num_topics``.
    3. Each token of the sentence is, with probability ``topic_share``, a
       *topic word* of ``t``: rank ``r`` in ``0..words_per_topic-1`` drawn
       Zipf-like, ``P(r) ∝ (r + 1) ** -zipf_s``, giving the string
       ``f"t{t}_w{r}"``. Otherwise it is a *common word*: rank ``c`` in
       ``0..num_common-1`` drawn from the same Zipf law over ``num_common``
       ranks, giving ``f"c{c}"``.

    The planted groups (:attr:`groups`) are the topics' word lists: words of a
    group co-occur within sentences and share no context with other groups
    except through the common words, which are noise shared by everyone. A
    good embedding puts each topic word's nearest neighbours in its own
    group; :meth:`score` (:func:`planted_score`) measures that.

    How hard the default corpus is, and what gensim scores on it: see the
    module documentation.

    Parameters
    ----------
    num_tokens : int, default 3_000_000
        Exact number of tokens in the corpus.
    num_topics : int, default 50
        Number of planted groups.
    words_per_topic : int, default 40
        Words per group (at least 2).
    num_common : int, default 2000
        Size of the shared "common" vocabulary.
    topic_share : float, default 0.1
        Probability that a token is a topic word, in ``[0, 1]``.
    sentence_length : (int, int), default (8, 24)
        Inclusive range of sentence lengths.
    zipf_s : float, default 1.0
        Zipf exponent for ranks within a topic and within the common words
        (0 gives uniform draws).
    seed : int, default 0
        Non-negative seed; the corpus is a deterministic function of it and
        of the other arguments.

    Notes
    -----
    Tokens are generated in blocks of about 2**20 tokens (whole sentences);
    block ``i`` depends only on ``seed``, ``i`` and the distribution
    parameters. The corpus for ``num_tokens=n`` is therefore a prefix of the
    corpus for any larger ``num_tokens``: generation stops at the sentence
    reaching ``n`` tokens and truncates that last sentence, so only the
    final sentence may be shorter than ``sentence_length[0]``.

    Examples
    --------
    >>> corpus = SyntheticCorpus(num_tokens=1000, seed=1)
    >>> sum(len(s) for s in corpus.sentences())
    1000
    >>> corpus.groups[0][:3]
    ['t0_w0', 't0_w1', 't0_w2']
    """

    def __init__(
        self,
        num_tokens: int = 3_000_000,
        num_topics: int = 50,
        words_per_topic: int = 40,
        num_common: int = 2000,
        topic_share: float = 0.1,
        sentence_length: Tuple[int, int] = (8, 24),
        zipf_s: float = 1.0,
        seed: int = 0,
    ):
        self._num_tokens = int_at_least(num_tokens, "num_tokens", 0)
        self.num_topics = int_at_least(num_topics, "num_topics", 1)
        self.words_per_topic = int_at_least(words_per_topic, "words_per_topic", 2)
        self.num_common = int_at_least(num_common, "num_common", 1)
        topic_share = float(topic_share)
        if not 0.0 <= topic_share <= 1.0:
            raise ValueError(f"topic_share must be in [0, 1], got {topic_share}")
        self.topic_share = topic_share
        try:
            lo, hi = sentence_length
        except (TypeError, ValueError):
            raise ValueError(
                f"sentence_length must be a pair (min, max), got {sentence_length!r}"
            ) from None
        lo = int_at_least(lo, "sentence_length[0]", 1)
        hi = int_at_least(hi, "sentence_length[1]", lo)
        self.sentence_length = (lo, hi)
        zipf_s = float(zipf_s)
        if not (np.isfinite(zipf_s) and zipf_s >= 0):
            raise ValueError(f"zipf_s must be finite and >= 0, got {zipf_s}")
        self.zipf_s = zipf_s
        self.seed = int_at_least(seed, "seed", 0)
        self._topic_cdf = _zipf_cdf(self.words_per_topic, zipf_s)
        self._common_cdf = _zipf_cdf(self.num_common, zipf_s)
        self._vocab: Optional[List[str]] = None

    def __repr__(self) -> str:
        return (
            f"SyntheticCorpus(num_tokens={self._num_tokens}, num_topics={self.num_topics}, "
            f"words_per_topic={self.words_per_topic}, num_common={self.num_common}, "
            f"topic_share={self.topic_share}, sentence_length={self.sentence_length}, "
            f"zipf_s={self.zipf_s}, seed={self.seed})"
        )

    # ------------------------------------------------------------------
    # vocabulary
    # ------------------------------------------------------------------
    @property
    def num_tokens(self) -> int:
        """int: Exact number of tokens the corpus yields."""
        return self._num_tokens

    @property
    def vocab(self) -> List[str]:
        """list of str: Every possible word, indexed by the ids of :meth:`blocks`.

        Ids ``0..num_common-1`` are the common words ``c0, c1, ...``; id
        ``num_common + t * words_per_topic + r`` is topic word ``t{t}_w{r}``.
        Words that happen never to be drawn are included.
        """
        if self._vocab is None:
            words = [f"c{c}" for c in range(self.num_common)]
            for t in range(self.num_topics):
                words.extend(f"t{t}_w{r}" for r in range(self.words_per_topic))
            self._vocab = words
        return list(self._vocab)

    @property
    def groups(self) -> List[List[str]]:
        """list of list of str: The planted groups of related words (one per topic)."""
        return [
            [f"t{t}_w{r}" for r in range(self.words_per_topic)]
            for t in range(self.num_topics)
        ]

    # ------------------------------------------------------------------
    # generation
    # ------------------------------------------------------------------
    def _block(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """Generate block ``index``: (token ids int32, sentence lengths int64)."""
        return _generate_block(self, index)

    def blocks(self) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Stream the corpus as integer ids, block by block.

        Yields
        ------
        ids : numpy.ndarray of int32
            Token ids (indices into :attr:`vocab`) of a run of whole
            sentences, about 2**20 tokens.
        lengths : numpy.ndarray of int64
            Lengths of those sentences; ``lengths.sum() == len(ids)``.
        """
        remaining = self._num_tokens
        index = 0
        while remaining > 0:
            ids, lengths = self._block(index)
            if len(ids) >= remaining:
                ends = np.cumsum(lengths)
                last = int(np.searchsorted(ends, remaining, side="left"))
                lengths = lengths[: last + 1].copy()
                lengths[last] -= int(ends[last]) - remaining
                ids = ids[:remaining]
            remaining -= len(ids)
            index += 1
            yield ids, lengths

    def sentences(self) -> Iterator[List[str]]:
        """Stream the sentences as lists of word strings.

        Strings are made one block (about 2**20 tokens) at a time, so memory
        stays bounded for any ``num_tokens``.

        Yields
        ------
        list of str
            One sentence.
        """
        vocab = np.array(self.vocab, dtype=object)
        for ids, lengths in self.blocks():
            yield from _split(vocab.take(ids).tolist(), lengths)

    def __iter__(self) -> Iterator[List[str]]:
        """Iterate over sentences (same as :meth:`sentences`); re-iterable."""
        return self.sentences()

    def write(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the corpus as UTF-8 text, one sentence per line, words separated by one space.

        The file is written to a temporary file in the same directory,
        fsynced, then moved over ``path`` with :func:`os.replace`, so ``path``
        never holds a partial corpus.

        Parameters
        ----------
        path : str or os.PathLike
            Destination file.
        """
        vocab = np.array(self.vocab, dtype=object)
        with atomic_write(path, "w", encoding="utf-8", newline="\n") as f:
            for ids, lengths in self.blocks():
                lines = [" ".join(s) for s in _split(vocab.take(ids).tolist(), lengths)]
                lines.append("")
                f.write("\n".join(lines))

    # ------------------------------------------------------------------
    # scoring
    # ------------------------------------------------------------------
    def score(self, words: Sequence[str], vectors: npt.ArrayLike, k: int = 10) -> float:
        """:func:`planted_score` against this corpus's :attr:`groups`.

        Parameters
        ----------
        words : sequence of str
            Vocabulary aligned with the rows of ``vectors``.
        vectors : array_like of float, shape (len(words), D)
            Embeddings.
        k : int, default 10
            Neighbours per planted word.

        Returns
        -------
        float
            Mean precision@k; compare with :meth:`chance_level`.
        """
        return planted_score(words, vectors, self.groups, k=k)

    def chance_level(self, words: Optional[Sequence[str]] = None) -> float:
        """:func:`chance_level` of this corpus's :attr:`groups`.

        Parameters
        ----------
        words : sequence of str, optional
            The vocabulary being scored; by default every planted word.

        Returns
        -------
        float
            ``(words_per_topic - 1) / (num_topics * words_per_topic - 1)``
            when every planted word is present.
        """
        return chance_level(self.groups, words)


def _generate_block(corpus: "SyntheticCorpus", index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Block ``index`` of `corpus`: (token ids int32, sentence lengths int64);
    a function of ``(corpus.seed, index)`` and the corpus parameters only."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(corpus.seed, spawn_key=(index,))))
    lo, hi = corpus.sentence_length
    mean = 0.5 * (lo + hi)
    parts = []
    total = 0
    while total < _BLOCK_TOKENS:  # one pass in practice
        n = int((_BLOCK_TOKENS - total) / mean * 1.05) + 16
        lengths = rng.integers(lo, hi + 1, size=n)
        parts.append(lengths)
        total += int(lengths.sum())
    lengths = np.concatenate(parts)
    ends = np.cumsum(lengths)
    keep = int(np.searchsorted(ends, _BLOCK_TOKENS, side="left")) + 1
    lengths = lengths[:keep]
    ntok = int(ends[keep - 1])

    topics = rng.integers(0, corpus.num_topics, size=keep)
    u = rng.random(ntok)
    v = rng.random(ntok)
    is_topic = u < corpus.topic_share
    ids = np.empty(ntok, dtype=np.int32)
    tok_topic = np.repeat(topics, lengths)
    t_idx = np.flatnonzero(is_topic)
    ids[t_idx] = (
        corpus.num_common
        + tok_topic[t_idx] * corpus.words_per_topic
        + _zipf_draw(corpus._topic_cdf, v[t_idx])
    )
    c_idx = np.flatnonzero(~is_topic)
    ids[c_idx] = _zipf_draw(corpus._common_cdf, v[c_idx])
    return ids, lengths


def _split(tokens: List[str], lengths) -> Iterator[List[str]]:
    """Cut a block's tokens into its sentences."""
    start = 0
    for end in np.cumsum(lengths).tolist():
        yield tokens[start:end]
        start = end


def _planted_rows(words, groups):
    """Rows of ``words`` that are planted words (first occurrence) and their group labels."""
    label = {}
    for g, group in enumerate(groups):
        if isinstance(group, str):
            raise TypeError("groups must be a sequence of sequences of words, not of strings")
        for w in group:
            if label.setdefault(w, g) != g:
                raise ValueError(f"word {w!r} is in more than one group")
    rows, labels, seen = [], [], set()
    for i, w in enumerate(words):
        g = label.get(w)
        if g is not None and w not in seen:
            seen.add(w)
            rows.append(i)
            labels.append(g)
    return np.asarray(rows, dtype=np.intp), np.asarray(labels, dtype=np.intp)


def chance_level(groups: Sequence[Sequence[str]], words: Optional[Sequence[str]] = None) -> float:
    """Expected :func:`planted_score` of embeddings that carry no information.

    If the ``k`` neighbours of each planted word were a uniformly random subset
    of the other planted words, a word of a group with ``n_g`` present members
    among ``P`` present planted words would score ``(n_g - 1) / (P - 1)`` in
    expectation, for any ``k``. This returns the mean of that over the present
    planted words; random i.i.d. vectors score it in expectation (by symmetry).

    Parameters
    ----------
    groups : sequence of sequence of str
        Disjoint groups of related words.
    words : sequence of str, optional
        The vocabulary being scored; by default every word of ``groups``.

    Returns
    -------
    float
        With every word present and equal groups of size ``m`` among ``P``
        planted words: ``(m - 1) / (P - 1)``, e.g. ``39 / 1999 ≈ 0.0195`` for 50
        groups of 40.
    """
    if words is None:
        words = [w for group in groups for w in group]
    _, labels = _planted_rows(words, groups)
    p = len(labels)
    if p < 2:
        raise ValueError(f"need at least 2 planted words present, got {p}")
    sizes = np.bincount(labels)
    return float(np.mean((sizes[labels] - 1) / (p - 1)))


def planted_score(words: Sequence[str], vectors: npt.ArrayLike, groups: Sequence[Sequence[str]],
                  k: int = 10) -> float:
    """Precision@k of cosine nearest neighbours against planted word groups.

    For every planted word (a word of some group) present in ``words``, take its
    ``k`` nearest neighbours by cosine similarity among all *present planted*
    words other than itself, and count the fraction that belong to its own
    group. Returns the mean of that fraction over the present planted words.

    Parameters
    ----------
    words : sequence of str
        Vocabulary, aligned with the rows of ``vectors``. Words outside the
        groups are ignored; for a repeated word only the first row counts.
    vectors : array_like of float, shape (len(words), D)
        Embeddings (finite). Zero rows have cosine 0 with everything.
    groups : sequence of sequence of str
        Disjoint groups of related words, e.g. :attr:`SyntheticCorpus.groups`.
    k : int, default 10
        Neighbours per word; capped at (number of present planted words - 1).

    Returns
    -------
    float
        In ``[0, 1]``; 1 for embeddings that separate the groups perfectly
        (when every group has more than ``k`` present members). Random
        embeddings score about :func:`chance_level` ``(groups, words)``, i.e.
        ``(words_per_topic - 1) / (total planted words - 1)``.

    Notes
    -----
    Computed with blocked matrix products in float64 (blocks of at most about
    4M similarities); 2000 planted words take about 0.1 s.
    Neighbours tied in similarity are broken arbitrarily.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [V, D], got shape {vectors.shape}")
    if len(words) != vectors.shape[0]:
        raise ValueError(f"{len(words)} words but {vectors.shape[0]} vector rows")
    k = int_at_least(k, "k", 1)
    rows, labels = _planted_rows(words, groups)
    p = len(rows)
    if p < 2:
        raise ValueError(f"need at least 2 planted words present, got {p}")
    k = min(k, p - 1)
    x = vectors[rows].astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("vectors of planted words must be finite")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.where(norms > 0, norms, 1.0)
    block = max(1, min(p, (1 << 22) // p))
    hits = 0
    for start in range(0, p, block):
        stop = min(p, start + block)
        sims = x[start:stop] @ x.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        hits += int(np.count_nonzero(labels[nn] == labels[start:stop, None]))
    return hits / (p * k)
