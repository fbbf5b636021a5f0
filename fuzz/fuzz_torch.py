"""Fuzz pysampled.torch: the four loss functions, forward and backward.

Random sizes (batch, dim, classes, ``num_true``, ``num_sampled``, 0 and edge
values), tensors of any dtype (float16/32/64, bfloat16, int, bool, mixed
shards), layouts (contiguous, transposed, sliced), weights and biases as one
tensor or shard lists (canonical and not, ``mod`` / ``div``), labels and
sampled ids in range, negative or huge, labels that require grad, every flag
(``sparse_grad``, ``allow_copy``, ``remove_accidental_hits``,
``subtract_log_q``, ``mask_all_duplicates``, ``true_target``), explicit and
default sampled values.

Oracles: only the documented exceptions (``ValueError``, ``TypeError``,
``IndexError``, ...) and never a crash; the caller's tensors are never
written; when the call succeeds, the output and every gradient (after
``backward`` with a random upstream) equal, bit for bit, the NumPy API
(``pysampled.losses`` with ``return_grads=True, upstream=``) on the same
values.

Needs torch (``pip install torch==2.13.0``) next to atheris.
"""
import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps
    import pysampled.torch as pt
    import torch

torch.set_num_threads(1)
DTYPES = ["float32", "float64"] * 4 + ["float16", "bfloat16", "int64", "bool"]
FUNCS = {"softmax": (pt.sampled_softmax_loss, ps.sampled_softmax_loss),
         "nce": (pt.nce_loss, ps.nce_loss),
         "sparse": (pt.sampled_sparse_softmax_loss, ps.sampled_sparse_softmax_loss),
         "logits": (pt.compute_sampled_logits, ps.compute_sampled_logits)}


def tensor(g: Gen, shape, dtype):
    t = torch.from_numpy(np.array([g.float(-3, 3) for _ in range(int(np.prod(shape)))],
                                  dtype=np.float64).reshape(shape))
    t = t.to(getattr(torch, dtype))
    if g.chance(1, 8) and t.dim() == 2 and t.shape[0] > 1 and t.shape[1] > 1:
        t = t.T.contiguous().T  # non-contiguous, same values
    return t


def wrap64(values):
    """Edge ids (beyond int64) wrapped into int64, as a C cast would."""
    return [((v + 2**63) % 2**64) - 2**63 for v in values]


def shard_rows(g: Gen, n, p):
    q, r = divmod(n, p)
    rows = [q + (1 if i < r else 0) for i in range(p)]
    if g.rarely() and p > 1:
        rows[0] += 1
        rows[-1] = max(0, rows[-1] - 1)
    return rows


def TestOneInput(data):
    g = Gen(data)
    name = g.pick(sorted(FUNCS))
    B, D, N = g.int(0, 6), g.int(1, 6), g.int(1, 24)
    nt = 1 if name == "sparse" else g.int(1, 3)
    S = g.int(0 if g.bool() else 1, min(N, 8))
    dtype = g.pick(DTYPES)
    P = g.int(1, min(3, N))
    strategy = g.pick(["mod", "div"])
    rows = shard_rows(g, N, P)
    ws = [tensor(g, (r, D), dtype if g.chance(7, 8) else g.pick(DTYPES)) for r in rows]
    bs = None if g.chance(1, 4) else [tensor(g, (r,), dtype) for r in rows]
    x = tensor(g, (B, D), dtype if g.chance(7, 8) else g.pick(DTYPES))
    hi = N + (5 if g.rarely() else 0)
    labels = torch.tensor(wrap64(g.int_values(B * nt, -1 if g.rarely() else 0, hi)), dtype=torch.int64)
    labels = labels.reshape(B) if name == "sparse" else labels.reshape(B, nt)
    if g.rarely():
        labels = labels.double().requires_grad_()
    explicit = g.chance(3, 4)
    if explicit:
        sampled = np.array(wrap64(g.int_values(S, 0, N + (3 if g.rarely() else 0))), dtype=np.int64)
        sv = (sampled, np.full((B, nt), 0.25, np.float32), np.full(S, 0.125, np.float32))
    else:
        sv = None
    kw = dict(sampled_values=sv, sparse_grad=g.bool(), allow_copy=g.chance(1, 4),
              remove_accidental_hits=g.bool(), partition_strategy=strategy,
              mask_all_duplicates=g.chance(1, 4))
    if name != "sparse":
        kw["num_true"] = nt
    if name == "nce" and g.chance(1, 4):
        kw["true_target"] = 1.0
    if name == "logits":
        kw["subtract_log_q"] = g.bool()
    if not explicit:
        kw["seed"] = g.int(0, 5)
    for t in ws + (bs or []) + [x]:
        if t.dtype.is_floating_point and g.chance(1, 2):
            t.requires_grad_()
    before = [t.detach().clone() for t in ws + (bs or []) + [x]]
    fn, np_fn = FUNCS[name]
    w_arg = ws[0] if P == 1 and g.bool() else ws
    b_arg = None if bs is None else (bs[0] if P == 1 and g.bool() else bs)
    fl.log(name, B, D, N, nt, S, dtype, rows, strategy, kw)
    try:
        out = fn(w_arg, b_arg, labels, x, S, N, **kw)
    except fl.DOCUMENTED:
        return
    main = out[0] if isinstance(out, tuple) else out
    up = torch.from_numpy(np.array([g.float(-1, 1) for _ in range(main.numel())],
                                   dtype=np.float64).reshape(tuple(main.shape))).to(main.dtype)
    if main.requires_grad:
        (main * up).sum().backward()
    for t, b in zip(ws + (bs or []) + [x], before):
        check(np.array_equal(t.detach().double().numpy(), b.double().numpy(), equal_nan=True),
              "a loss function wrote to its arguments", t, b)
    if not explicit or not all(t.dtype in (torch.float32, torch.float64) and t.is_contiguous()
                               for t in ws + (bs or []) + [x]):
        return  # converted copies (allow_copy) or the default sampler: shapes were checked above
    np_kw = {k: v for k, v in kw.items() if k not in ("sparse_grad", "allow_copy")}
    wn = [t.detach().numpy() for t in ws]
    bn = None if bs is None else [t.detach().numpy() for t in bs]
    res = np_fn(wn[0] if P == 1 else wn, None if bn is None else (bn[0] if P == 1 else bn),
                labels.detach().numpy().astype(np.int64), x.detach().numpy(), S, N,
                return_grads=True, upstream=up.numpy(), **np_kw)
    want, grads = (res[0], res[2]) if name == "logits" else res
    check(np.array_equal(main.detach().numpy(), want, equal_nan=True), "output differs from NumPy API")
    if x.grad is not None:
        check(np.array_equal(x.grad.numpy(), grads.inputs, equal_nan=True), "inputs grad differs")
    for shards, rows_ in ((ws, grads.weights), (bs, grads.biases)):
        if shards is None:
            continue
        parts = rows_.per_shard() if P > 1 else [rows_]
        for t, part in zip(shards, parts):
            if t.grad is not None:
                check(np.array_equal(t.grad.to_dense().numpy(), part.to_dense(t.shape[0]),
                                     equal_nan=True), "weight/bias grad differs")


if __name__ == "__main__":
    fl.main(TestOneInput)
