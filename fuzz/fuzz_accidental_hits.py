"""Fuzz ``compute_accidental_hits``.

Random ``true_classes`` and ``sampled_candidates`` (any dtype, shape, layout;
ids drawn from a tiny alphabet so hits and duplicates are frequent, plus
negative and huge ids), ``num_true`` (edge values and other types) and
``mask_all_duplicates`` (or its deprecated alias ``all_duplicates``). A successful
result is compared with a brute-force
Python implementation of the documented rule: hits listed row by row, in
label order, a repeated label reported once per repetition, and for a
sampled value occurring several times only its last position (TF) or every
position (``all_duplicates=True``); weights are ``-FLT_MAX`` float32.
"""
import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps

FLT_MAX = np.finfo(np.float32).max


def brute(tc, sc, all_duplicates):
    rows, pos = [], []
    sc = [int(v) for v in sc]
    for i, row in enumerate(tc):
        for v in row:
            hits = [j for j, s in enumerate(sc) if s == int(v)]
            if hits and not all_duplicates:
                hits = hits[-1:]
            for j in hits:
                rows.append(i)
                pos.append(j)
    return rows, pos


def TestOneInput(data):
    g = Gen(data)
    num_true = g.int_arg(4)
    nt = num_true if type(num_true) is int and 0 <= num_true <= 6 else g.int(0, 3)
    alphabet = g.int(1, 6)
    shape = (g.size(6), nt) if not g.rarely() else g.shape()
    tc = g.layout(g.as_dtype(g.int_values(int(np.prod(shape)), -1, alphabet), shape,
                             g.dtype("int64")))
    sshape = (g.size(10),) if not g.rarely() else g.shape()
    sc = g.layout(g.as_dtype(g.int_values(int(np.prod(sshape)), -1, alphabet), sshape,
                             g.dtype("int64")))
    all_dup = g.flag() if g.chance(1, 2) else False
    key = "mask_all_duplicates" if g.chance(3, 4) else "all_duplicates"  # (deprecated alias)
    kw = {key: all_dup} if g.chance(3, 4) else {}
    seed = g.seed() if g.chance(1, 4) else None
    fl.log(tc, sc, num_true, seed=seed, **kw)
    res = None
    with expect():
        res = ps.compute_accidental_hits(tc, sc, num_true, seed=seed, **kw)
    if res is None:
        return
    indices, ids, weights = res
    check(indices.dtype == np.int32 and ids.dtype == np.int64 and weights.dtype == np.float32,
          "dtypes", indices.dtype, ids.dtype, weights.dtype)
    check(indices.shape == ids.shape == weights.shape and indices.ndim == 1, "shapes")
    check((weights == -FLT_MAX).all(), "weights are not -FLT_MAX", weights)
    tca = np.asarray(tc).astype(np.int64)
    sca = np.asarray(sc).astype(np.int64).reshape(-1)
    eff = bool(kw.get(key, False))
    rows, pos = brute(tca.tolist(), sca.tolist(), eff)
    check(indices.tolist() == rows and ids.tolist() == pos, "hits differ from the documented rule",
          tca, sca, eff, indices, ids, rows, pos)


if __name__ == "__main__":
    fl.main(TestOneInput)
