"""Fuzz the APIs beyond TensorFlow (issue 11).

Each input exercises one of:

* ``in_batch_softmax_loss``: random batch, dim, extra candidates (0 or
  more), ids from a tiny alphabet (many accidental hits), ``log_q`` /
  ``extra_log_q`` (finite, NaN/inf, wrong shapes), temperature edge values,
  upstream, ``num_threads``, any dtype and layout of every array;
* ``FrequencyEstimator``: random sizes and alpha (edge values included), a
  sequence of ``update`` calls (repeated / decreasing / huge steps, any id
  dtype and value) and ``log_q`` queries, a pickle round trip;
* the ragged / per-example sampled losses: ``label_row_splits`` (valid,
  empty rows, decreasing, wrong ends and lengths), per-example 2-D
  ``sampled_candidates`` (ids in and out of range), every loss and flag.

Oracles: documented exceptions only; caller arrays never written; for
finite moderate float64 inputs, the results (losses, logits, gradients, the
estimator's log-Q) agree with the NumPy twins in ``tests/oracles/beyond_tf.py``.
"""
import pickle

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps


R = fl.oracle("beyond_tf")
FLOATS = ["float32", "float64"]


def _floats(g, shape, dtype, moderate):
    n = int(np.prod(shape)) if len(shape) else 1
    vals = g.float_values(n, -2.0, 2.0, p_edge=(0, 1) if moderate else (1, 15))
    return g.layout(g.as_dtype(vals, shape, g.dtype(dtype)))


def _close(got, ref, what):
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    check(got.shape == ref.shape, f"{what}: shape", got.shape, ref.shape)
    if ref.size:
        scale = max(1.0, float(np.abs(ref).max()))
        check(np.allclose(got, ref, rtol=0, atol=1e-9 * scale), f"{what} differs from the oracle",
              got, ref)


def _snapshot(*arrays):
    return [(a, np.array(a, copy=True)) for a in arrays if isinstance(a, np.ndarray)]


def _unchanged(snaps):
    for a, before in snaps:
        same = (np.array_equal(a, before, equal_nan=True) if a.dtype.kind in "fc"
                else a.dtype.kind == "O" or np.array_equal(a, before))
        check(same, "a caller array was written")


def fuzz_in_batch(g: Gen):
    moderate = g.chance(2, 3)
    dt = "float64" if moderate and g.chance(1, 2) else g.pick(FLOATS)
    B, D = g.size(7), g.size(6)
    S = g.size(5) if g.chance(1, 2) else None
    kw = {}
    q = _floats(g, (B, D), dt, moderate)
    c = _floats(g, (B, D) if not g.rarely() else (g.size(7), D), dt, moderate)
    alphabet = g.int(1, 4)
    if g.chance(2, 3):
        kw["candidate_ids"] = g.layout(g.as_dtype(g.int_values(B, 0, alphabet), (B,),
                                                  g.dtype("int64")))
    if g.chance(1, 2):
        kw["log_q"] = _floats(g, (B,) if not g.rarely() else (B + 1,), "float64", moderate)
    if S is not None:
        kw["extra_candidates"] = _floats(g, (S, D), dt, moderate)
        if "candidate_ids" in kw and g.chance(2, 3):
            kw["extra_ids"] = g.as_dtype(g.int_values(S, 0, alphabet), (S,), g.dtype("int64"))
        if g.chance(1, 2):
            kw["extra_log_q"] = _floats(g, (S,), "float64", moderate)
    if g.chance(1, 3):
        kw["temperature"] = g.pick([1.0, 0.5, 2.0, 1e-3, 0.0, -1.0, float("inf"), float("nan"),
                                    1e-50, 7])
    if g.chance(1, 4):
        kw["remove_accidental_hits"] = g.flag()
    if g.chance(1, 3):
        kw["upstream"] = _floats(g, (B,), "float64", moderate)
    if g.chance(1, 4):
        kw["num_threads"] = g.pick([1, 2, 3, None, -1, 0])
    want = g.flag() if g.chance(1, 2) else False
    fl.log("in_batch", q, c, return_grads=want, **kw)
    snaps = _snapshot(q, c, *kw.values())
    res = None
    with expect():
        res = ps.in_batch_softmax_loss(q, c, return_grads=want, **kw)
    _unchanged(snaps)
    if res is None:
        return
    loss, grads = res if want else (res, None)  # any truthy return_grads asks for grads
    qa = np.asarray(q)
    check(loss.shape == (qa.shape[0],) and loss.dtype == qa.dtype, "loss shape/dtype")
    arrays = [qa, np.asarray(c)] + [np.asarray(kw[k]) for k in ("extra_candidates", "log_q",
                                                                 "extra_log_q", "upstream")
                                    if k in kw]
    finite = all(np.isfinite(a.astype(np.float64)).all() and np.abs(a).max(initial=0) < 100
                 for a in arrays)
    temp = kw.get("temperature", 1.0)
    if qa.dtype != np.float64 or not finite or not (0.1 <= temp <= 10):
        return
    rl, (dq, dc, de) = R.in_batch_softmax_loss(
        qa, np.asarray(c, dtype=np.float64), kw.get("candidate_ids"), kw.get("log_q"),
        kw.get("extra_candidates"), kw.get("extra_ids"), kw.get("extra_log_q"), temp,
        kw.get("remove_accidental_hits", True), kw.get("upstream"))
    _close(loss, rl, "in-batch loss")
    if grads is not None:
        _close(grads.query, dq, "d_query")
        _close(grads.candidates, dc, "d_candidates")
        if S is not None:
            _close(grads.extra_candidates, de, "d_extra")


def fuzz_frequency(g: Gen):
    nb = g.int_arg(64) if g.rarely() else g.int(1, 64)
    nh = g.int(1, 3) if not g.rarely() else g.int_arg(4)
    alpha = g.pick([0.01, 0.1, 0.5, 1.0, 1e-9, 0.0, -0.1, 1.5, float("nan")]) \
        if g.chance(1, 3) else g.fdp.ConsumeFloatInRange(0.01, 1.0)
    seed = g.int_values(1, -5, 5)[0]
    est = ref = None
    with expect():
        est = ps.FrequencyEstimator(nb, nh, alpha, seed)
    if est is None:
        return
    ref = R.FrequencyEstimatorReference(nb, nh, alpha, seed)
    step = 0
    for _ in range(g.int(0, 6)):
        n = g.size(8)
        ids = g.layout(g.as_dtype(g.int_values(n, -3, 20), (n,), g.dtype("int64")))
        if g.chance(1, 5):
            step = g.pick([step - 1, 2**62, -1, step])
        else:
            step += g.int(0, 3)
        done = None
        with expect():
            done = est.update(ids, step)
        if done is not None:
            ref.update(np.asarray(ids).astype(np.int64), step)
    probe = np.arange(-3, 20)
    got = est.log_q(probe)
    check(np.all(np.isfinite(got)), "non-finite log_q", got)
    _close(got, ref.log_q(probe), "log_q")
    clone = pickle.loads(pickle.dumps(est))
    check(np.array_equal(clone.log_q(probe), got), "pickle round trip changed log_q")


def fuzz_rowwise(g: Gen):
    moderate = g.chance(2, 3)
    dt = "float64" if moderate and g.chance(1, 2) else g.pick(FLOATS)
    N, D, B = g.int(1, 12), g.size(4), g.size(5)
    S = g.size(4)
    per_example = g.chance(1, 2)
    ragged = g.chance(2, 3) or not per_example
    W = _floats(g, (N, D), dt, moderate)
    b = _floats(g, (N,), dt, moderate) if g.chance(3, 4) else None
    x = _floats(g, (B, D), dt, moderate)
    if ragged:
        n = [g.int(1, 3) if not g.rarely() else g.int(0, 3) for _ in range(B)]
        splits = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        if g.rarely():
            splits = g.as_dtype(g.int_values(len(splits), -1, 8), splits.shape, "int64")
        nl = int(sum(n))
        labels = g.as_dtype(g.int_values(nl, 0, N), (nl,), g.dtype("int64"))
        tec = np.full(nl, 0.5)
    else:
        splits = None
        labels = g.as_dtype(g.int_values(B, 0, N), (B, 1), g.dtype("int64"))
        tec = np.full((B, 1), 0.5)
    shape = (B, S) if per_example else (S,)
    sampled = g.as_dtype(g.int_values(int(np.prod(shape)), 0, N), shape, g.dtype("int64"))
    sec = np.full(shape, 0.25) if not g.rarely() else np.full((S + 1,), 0.25)
    kind = g.pick(["softmax", "nce", "logits"]) if not ragged else g.pick(["softmax", "nce"])
    fn = {"softmax": ps.sampled_softmax_loss, "nce": ps.nce_loss,
          "logits": ps.compute_sampled_logits}[kind]
    kw = {"sampled_values": (sampled, tec, sec)}
    if ragged:
        kw["label_row_splits"] = splits
    if g.chance(1, 3):
        kw["remove_accidental_hits"] = g.flag()
    if g.chance(1, 4):
        kw["num_threads"] = g.pick([1, 2, 3])
    if g.chance(1, 5):
        kw["sampled_values"] = None
        kw["negatives"] = g.pick(["per_example", "shared", "bogus"])
        kw["seed"] = g.int(0, 5)
    want = g.chance(1, 2)
    fl.log(kind, W, b, labels, x, S, N, return_grads=want, **kw)
    snaps = _snapshot(W, b, x, labels, sampled, splits)
    res = None
    with expect():
        res = fn(W, b, labels, x, S, N, return_grads=want, **kw)
    _unchanged(snaps)
    if res is None or kw["sampled_values"] is None:
        return
    arrays = [np.asarray(a) for a in (W, x) + ((b,) if b is not None else ())]
    if np.asarray(x).dtype != np.float64 or not all(
            np.isfinite(a.astype(np.float64)).all() and np.abs(a).max(initial=0) < 100
            for a in arrays):
        return
    rah = kw.get("remove_accidental_hits", kind == "softmax")
    lab = np.asarray(labels).astype(np.int64).reshape(-1)
    sp = np.asarray(splits) if ragged else np.arange(B + 1)
    rk = "logits" if kind == "logits" else kind
    if kind == "logits":
        logits = res[0]
        rows, _ = R.row_logits(np.asarray(W), b, lab, sp, np.asarray(x), sampled,
                               np.asarray(tec).reshape(-1), sec, True, rah)
        masked = logits <= -3e38
        ref = np.stack(rows) if rows else np.zeros((0, 1 + S))
        check(np.array_equal(masked, ref <= -3e38), "masked columns differ")
        _close(np.where(masked, 0, logits), np.where(masked, 0, ref), "logits")
        return
    loss = res[0] if want else res
    rl, _, dX, dW, db = R.row_loss(rk, np.asarray(W), b, lab, sp, np.asarray(x), sampled,
                                   np.asarray(tec).reshape(-1), sec, True, rah)
    _close(loss, rl, "row loss")
    if want:
        _close(res[1].inputs, dX, "dX")
        _close(res[1].weights.to_dense(N), dW.astype(np.asarray(W).dtype), "dW")


def TestOneInput(data):
    g = Gen(data)
    which = g.int(0, 2)
    if which == 0:
        fuzz_in_batch(g)
    elif which == 1:
        fuzz_frequency(g)
    else:
        fuzz_rowwise(g)


if __name__ == "__main__":
    fl.main(TestOneInput)
