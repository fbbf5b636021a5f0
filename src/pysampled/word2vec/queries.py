"""Queries on trained vectors: nearest words by cosine similarity."""
from __future__ import annotations

from typing import Any, List, Mapping, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__all__ = ["most_similar"]


def most_similar(words: Sequence[str], index: Mapping[str, int],
                 vectors: npt.NDArray[np.floating[Any]], word: str, topn: int = 10
                 ) -> List[Tuple[str, float]]:
    """The ``topn`` words of ``words`` (rows of ``vectors``, ``index``: word ->
    row) with the highest cosine similarity to ``word``, best first, ``word``
    itself excluded; zero vectors have similarity 0. ``KeyError`` for a word
    not in ``index``."""
    if word not in index:
        raise KeyError(f"word {word!r} not in vocabulary")
    row = index[word]
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1
    q = vectors[row] / norms[row]
    sims = (vectors @ q) / norms
    sims[row] = -np.inf
    best = np.argsort(-sims)[:topn]
    return [(words[i], float(sims[i])) for i in best]
