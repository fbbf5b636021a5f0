"""Reference of the word2vec trainer's deterministic negative-sampling mode, in NumPy.

Design:
    ``Word2Vec(deterministic=True)`` trains each chunk in one C++ call
    (``word2vec.hpp``). This module is its reference, written from what the
    deterministic mode promises, one readable step per line, in float64:

    * the chunk's training records (per kept token in corpus order: its
      context ids, and its outputs, the centre word then the negatives, -1
      for a dropped negative) are those of ``pysampled._word2vec.records``
      (the same records as ``_word2vec.windows``, proven against a
      pure-Python window list in test_word2vec_options.py; the test checks
      that the two agree);
    * the records are taken in groups of ``group_size``; every gradient of a
      group is computed from the weights as they were at the start of the
      group: the input ``h`` is the context word's input row (skip-gram, one
      prediction per context word) or the sum of the context rows, divided
      by their number with ``cbow_mean`` (CBOW, one prediction per record);
      ``z_j = h . out_j``, ``g_j = alpha (label_j - sigmoid(z_j))`` with
      label 1 for the centre word and 0 for the negatives, and the input
      gradient ``e = sum_j g_j out_j``;
    * then each touched row gets its terms added one at a time, in corpus
      order: an output row ``g_j h`` per prediction that names it, an input
      row ``e`` per context occurrence (CBOW: its window's ``e``). The
      output rows come first: their skip-gram terms use the input rows as
      they were at the start of the group.

    The loss is the summed logistic loss of the live predictions. The C++
    kernel computes in float32 with fused multiply-adds and SIMD dot
    products, so compare with a tolerance.
"""
from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def train(syn0, syn1, ctx, nctx, out, *, alpha, group_size, cbow, cbow_mean=True):
    """Train float64 copies of ``syn0``/``syn1`` on the records; returns
    ``(syn0, syn1, loss)``."""
    syn0 = syn0.astype(np.float64)
    syn1 = syn1.astype(np.float64)
    loss = 0.0
    count = len(nctx)
    for r0 in range(0, count, group_size):
        group = [r for r in range(r0, min(count, r0 + group_size)) if nctx[r] > 0]
        frozen0, frozen1 = syn0.copy(), syn1.copy()
        out_terms, in_terms = [], []  # (row, term) in corpus order
        for r in group:
            words = list(ctx[r, :nctx[r]])
            live = [j for j in range(out.shape[1]) if out[r, j] >= 0]
            if cbow:
                h = frozen0[words].sum(axis=0)
                if cbow_mean:
                    h = h / len(words)
                inputs = [(None, h)]
            else:
                inputs = [(w, frozen0[w]) for w in words]
            e_of = []
            for _, h in inputs:
                g = {}
                for j in live:
                    z = h @ frozen1[out[r, j]]
                    label = 1.0 if j == 0 else 0.0
                    loss += -np.log(_sigmoid(z)) if j == 0 else -np.log(1.0 - _sigmoid(z))
                    g[j] = alpha * (label - _sigmoid(z))
                for j in live:
                    out_terms.append((out[r, j], g[j] * h))
                e_of.append(sum(g[j] * frozen1[out[r, j]] for j in live))
            if cbow:
                in_terms += [(w, e_of[0]) for w in words]
            else:
                in_terms += list(zip(words, e_of))
        # Skip-gram's output terms read the frozen input rows, as computed
        # above; the output rows are updated before the input rows.
        for row, term in out_terms:
            syn1[row] += term
        for row, term in in_terms:
            syn0[row] += term
    return syn0, syn1, loss
