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

Beyond TF (issue 11 in torch): ragged labels (``label_row_splits``, valid or
broken: wrong length, decreasing, empty rows, wrong end, float, lists),
per-example negatives (2-D ``sampled_candidates`` of any shape, or drawn by
``negatives="per_example"``) on ``nce_loss`` / ``sampled_softmax_loss`` /
``compute_sampled_logits``, and ``in_batch_softmax_loss`` (any B, D, S,
dtypes, layouts, ids with duplicates, log-Q with NaN/Inf, temperatures,
tensors that require grad), with the same oracles: documented exceptions
only, arguments never written, and when a call succeeds the output and every
gradient equal the NumPy API's bit for bit.

``SparseAdam`` (the fused ``torch.optim.SparseAdam``): parameters of any
shape, dtype and layout, sparse gradients with duplicate, unsorted or
out-of-range ids (some falsely flagged coalesced), dense gradients, edge
``lr`` / ``betas`` / ``eps`` / ``maximize``, several steps. Oracles: the
documented exceptions only, the gradient never written, rows outside the
gradient unchanged, and on the fused path (float32/float64, contiguous) the
parameter and moments equal ``tests/oracles/sparse_adam.py`` bit for bit.

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

adam_ref = fl.oracle("sparse_adam")

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


def upstream(g: Gen, out):
    """A random upstream gradient of powers of two (and 0): when every example's
    upstream is the same c (always so with one example), backward scales the
    gradients of the sum by c, bit-identical to the NumPy API's ``upstream=c``
    only for powers of two and without overflow (documented in
    pysampled.torch.functional), so a uniform upstream is +1 or -1 here."""
    vals = [g.pick([-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0]) for _ in range(out.numel())]
    if len(set(vals)) == 1:  # a scaled sum may overflow where NumPy's upstream=c does not: c = +-1
        vals = [g.pick([1.0, -1.0])] * len(vals)
    return torch.tensor(vals, dtype=torch.float64).reshape(tuple(out.shape)).to(out.dtype)


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
    which = g.int(0, 4)
    if which == 0:
        return fuzz_rowwise(g)
    if which == 1:
        return fuzz_in_batch(g)
    if which == 4:
        return fuzz_sparse_adam(g)
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
    up = upstream(g, main)
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


def ids_tensor(g: Gen, n, hi):
    t = torch.tensor(wrap64(g.int_values(n, -1 if g.rarely() else 0, hi)), dtype=torch.int64)
    if g.rarely():
        t = t.to(g.pick([torch.int32, torch.float32, torch.uint8]))
    return t


def fuzz_rowwise(g: Gen):
    """Ragged labels and per-example negatives."""
    name = g.pick(["softmax", "nce", "logits"])
    B, D, N = g.int(0, 5), g.int(1, 5), g.int(1, 20)
    S = g.int(0 if g.rarely() else 1, 6)
    dtype = g.pick(DTYPES[:8] + ["float16"])
    P = g.int(1, min(3, N))
    strategy = g.pick(["mod", "div"])
    rows = shard_rows(g, N, P)
    ws = [tensor(g, (r, D), dtype) for r in rows]
    bs = None if g.chance(1, 4) else [tensor(g, (r,), dtype) for r in rows]
    x = tensor(g, (B, D), dtype)
    hi = N + (4 if g.rarely() else 0)
    ragged = name != "logits" and g.chance(2, 3)
    kw = dict(sparse_grad=g.bool(), allow_copy=g.chance(1, 6),
              remove_accidental_hits=g.bool(), partition_strategy=strategy)
    if ragged:
        counts = [g.int(0 if g.rarely() else 1, 3) for _ in range(B)]
        splits = [0]
        for c in counts:
            splits.append(splits[-1] + c)
        if g.rarely() and len(splits) > 1:
            splits[g.int(0, len(splits) - 1)] += g.pick([-1, 1, 5])
        if g.rarely():
            splits = splits[:-1]
        labels = ids_tensor(g, max(0, splits[-1] if splits else 0), hi)
        kw["label_row_splits"] = (torch.tensor(splits, dtype=torch.int64) if not g.rarely()
                                  else g.pick([splits, torch.tensor(splits, dtype=torch.float64)]))
        nl = labels.shape[0]
        if g.rarely():
            kw["num_true"] = 2
    else:
        nt = g.int(1, 2)
        labels = ids_tensor(g, B * nt, hi).reshape(B, nt)
        kw["num_true"] = nt
        nl = B * nt
    explicit = g.chance(3, 4)
    if explicit:
        rows_s = B if not g.rarely() else g.int(0, 6)
        sampled = torch.tensor(wrap64(g.int_values(rows_s * S, 0, hi)), dtype=torch.int64)
        sampled = sampled.reshape(rows_s, S) if not g.rarely() else sampled
        sec_shape = tuple(sampled.shape) if not g.rarely() else (S,)
        tec = torch.full((nl,) if ragged else (B, kw["num_true"]), 0.25)
        if g.rarely():
            tec = torch.full((max(0, nl - 1),), 0.25)
        kw["sampled_values"] = (sampled, tec, torch.full(sec_shape, 0.125))
        if g.chance(1, 3):
            kw["negatives"] = "per_example"
    else:
        kw["negatives"] = g.pick(["per_example"] * 3 + ["shared", "each"])
        kw["seed"] = g.int(0, 5)
    if name == "nce" and g.chance(1, 4):
        kw["true_target"] = 1.0
    if name == "logits":
        kw["subtract_log_q"] = g.bool()
    for t in ws + (bs or []) + [x]:
        if t.dtype.is_floating_point and g.chance(1, 2):
            t.requires_grad_()
    before = [t.detach().clone() for t in ws + (bs or []) + [x]]
    fn, np_fn = FUNCS[name]
    fl.log("rowwise", name, B, D, N, S, dtype, rows, strategy, labels, kw)
    try:
        out = fn(ws if P > 1 else ws[0], None if bs is None else (bs if P > 1 else bs[0]),
                 labels, x, S, N, **kw)
    except fl.DOCUMENTED:
        return
    main = out[0] if isinstance(out, tuple) else out
    up = upstream(g, main)
    if main.requires_grad:
        (main * up).sum().backward()
    for t, b in zip(ws + (bs or []) + [x], before):
        check(np.array_equal(t.detach().double().numpy(), b.double().numpy(), equal_nan=True),
              "a loss function wrote to its arguments", t, b)
    if not all(t.dtype in (torch.float32, torch.float64) and t.is_contiguous()
               for t in ws + (bs or []) + [x]):
        return  # converted copies (allow_copy): shapes were checked above
    if not explicit and kw["negatives"] != "per_example":
        return  # TF's cached shared stream moved on; per-example draws use a fresh sampler
    np_kw = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()
             if k not in ("sparse_grad", "allow_copy", "sampled_values")}
    if explicit:
        np_kw["sampled_values"] = tuple(v.numpy() for v in kw["sampled_values"])
    wn = [t.detach().numpy() for t in ws]
    bn = None if bs is None else [t.detach().numpy() for t in bs]
    res = np_fn(wn[0] if P == 1 else wn, None if bn is None else (bn[0] if P == 1 else bn),
                labels.numpy().astype(np.int64), x.detach().numpy(),
                kw["sampled_values"][0].shape[-1] if explicit else S, N,  # torch: S from the shape
                return_grads=True, upstream=up.numpy(), **np_kw)
    want, grads = (res[0], res[2]) if name == "logits" else res
    check(np.array_equal(main.detach().numpy(), want, equal_nan=True),
          "row-wise output differs from NumPy API")
    if x.grad is not None:
        check(np.array_equal(x.grad.numpy(), grads.inputs, equal_nan=True), "inputs grad differs")
    for shards, rows_ in ((ws, grads.weights), (bs, grads.biases)):
        if shards is None:
            continue
        parts = rows_.per_shard() if P > 1 else [rows_]
        for t, part in zip(shards, parts):
            if t.grad is not None:
                check(np.array_equal(t.grad.to_dense().numpy(), part.to_dense(t.shape[0]),
                                     equal_nan=True), "row-wise weight/bias grad differs")


def fuzz_in_batch(g: Gen):
    """The two-tower in-batch softmax."""
    B, D, S = g.int(0, 5), g.int(0 if g.rarely() else 1, 5), g.int(0, 4)
    dtype = g.pick(DTYPES[:8] + ["float16", "int64"])
    q = tensor(g, (B, D), dtype)
    c = tensor(g, (B if not g.rarely() else g.int(0, 5), D), dtype if g.chance(7, 8) else
               g.pick(DTYPES))
    kw = {}
    if g.chance(1, 2):
        kw["extra_candidates"] = tensor(g, (S, D if not g.rarely() else D + 1), dtype)
    if g.chance(2, 3):
        kw["candidate_ids"] = ids_tensor(g, B if not g.rarely() else B + 1, 4)
    if "extra_candidates" in kw and g.chance(1, 2) and (g.rarely() or "candidate_ids" in kw):
        kw["extra_ids"] = ids_tensor(g, S, 4)
    if g.chance(1, 2):
        kw["log_q"] = torch.tensor([g.float(-5, 2) for _ in range(B if not g.rarely() else B + 1)],
                                   dtype=torch.float64)
    if "extra_candidates" in kw and g.chance(1, 2):
        kw["extra_log_q"] = torch.tensor([g.float(-5, 2) for _ in range(S)])
    if g.chance(1, 2):
        kw["temperature"] = g.pick([1.0, 0.5, 2.0, 0.05]) if not g.rarely() else g.float(-2, 2)
    kw["remove_accidental_hits"] = g.bool()
    kw["allow_copy"] = g.chance(1, 6)
    floats = [t for t in (q, c, kw.get("extra_candidates"), kw.get("log_q"), kw.get("extra_log_q"))
              if t is not None]
    for t in floats:
        if t.dtype.is_floating_point and g.chance(1, 2):
            t.requires_grad_()
    before = [t.detach().clone() for t in floats]
    fl.log("in_batch", B, D, S, dtype, kw)
    try:
        out = pt.in_batch_softmax_loss(q, c, **kw)
    except fl.DOCUMENTED:
        return
    up = upstream(g, out)
    if out.requires_grad:
        (out * up).sum().backward()
    for t, b in zip(floats, before):
        check(np.array_equal(t.detach().double().numpy(), b.double().numpy(), equal_nan=True),
              "in_batch_softmax_loss wrote to its arguments", t, b)
    towers = [q, c] + ([kw["extra_candidates"]] if "extra_candidates" in kw else [])
    if not all(t.dtype in (torch.float32, torch.float64) and t.is_contiguous() for t in towers):
        return  # converted copies (allow_copy)
    np_kw = {k: (v.detach().numpy() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()
             if k != "allow_copy"}
    want, grads = ps.in_batch_softmax_loss(q.detach().numpy(), c.detach().numpy(),
                                           return_grads=True, upstream=up.numpy(), **np_kw)
    check(np.array_equal(out.detach().numpy(), want, equal_nan=True),
          "in-batch output differs from NumPy API")
    for t, want_g in ((q, grads.query), (c, grads.candidates),
                      (kw.get("extra_candidates"), grads.extra_candidates)):
        if t is not None and t.grad is not None:
            check(np.array_equal(t.grad.numpy(), want_g, equal_nan=True),
                  "in-batch tower grad differs")
    for name in ("log_q", "extra_log_q"):
        t = kw.get(name)
        if t is not None and t.grad is not None:
            check(t.grad.shape == t.shape, "log-Q grad shape", t.grad.shape)


def _same(a, b):
    """Equal shapes and values, NaN equal to NaN (any float dtype)."""
    return a.shape == b.shape and np.array_equal(a.detach().double().numpy(),
                                                 b.detach().double().numpy(), equal_nan=True)


def fuzz_sparse_adam(g: Gen):
    """pysampled.torch.SparseAdam against the NumPy SparseAdam oracle."""
    R, D = g.int(0, 6), g.int(0, 4)
    shape = (R, D) if g.chance(2, 3) else (R,)
    dtype = g.pick(["float32", "float64"] * 3 + ["float16", "bfloat16"])
    base = tensor(g, shape, dtype)
    if base.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        return
    p = torch.nn.Parameter(base.detach().clone())
    kw = {}
    if g.chance(1, 2):
        kw["lr"] = g.pick([1e-3, 0.1, 1.0, 1e-30, 0.0, -1.0, float("nan")])
    if g.chance(1, 3):
        kw["betas"] = (g.pick([0.9, 0.0, 0.5, 1.0]), g.pick([0.999, 0.0, 0.9, 1.0]))
    if g.chance(1, 3):
        kw["eps"] = g.pick([1e-8, 1e-30, 1.0, 0.0])
    kw["maximize"] = g.bool()
    if g.chance(1, 4):
        kw["num_threads"] = g.pick([1, 2, -1, 0, None])
    fl.log("sparse_adam", shape, dtype, kw)
    try:
        opt = pt.SparseAdam([p], **kw)
    except fl.DOCUMENTED:
        return
    fused = p.dtype in (torch.float32, torch.float64) and p.is_contiguous()
    rows = max(R, 1)
    cols = shape[1] if len(shape) == 2 else 1
    ref = base.detach().double().numpy().reshape(R, cols).astype(
        np.float32 if p.dtype == torch.float32 else np.float64).copy()
    m, v = np.zeros_like(ref), np.zeros_like(ref)
    for step in range(1, g.int(1, 3) + 1):
        n = g.int(0, 5)
        ids = [g.int(0, rows - 1) if not g.rarely() else g.pick([-1, R, R + 3]) for _ in range(n)]
        vals = tensor(g, (n,) + tuple(shape[1:]), dtype if g.chance(7, 8) else g.pick(DTYPES))
        if vals.dtype != p.dtype or any(i < 0 or i >= R for i in ids):
            claim = g.chance(1, 2)  # torch itself would fail or misbehave on the rest
            if not claim:
                return
        else:
            claim = g.rarely()
        if g.rarely():
            grad = torch.zeros(shape, dtype=p.dtype)  # dense: documented RuntimeError
        else:
            grad = torch.sparse_coo_tensor(torch.tensor(ids, dtype=torch.long).view(1, -1), vals,
                                           shape, is_coalesced=claim, check_invariants=False)
        values_before = grad._values().clone() if grad.is_sparse else grad.clone()
        p_before = p.detach().clone()
        try:
            p.grad = grad
        except RuntimeError:  # torch refuses a gradient of another dtype: not ours to test
            return
        try:
            opt.step()
        except fl.DOCUMENTED:
            check(_same(p.detach(), p_before) or not fused, "a refused step wrote rows")
            return
        except RuntimeError as e:  # documented, as torch's: dense gradients
            check(not grad.is_sparse and "does not support dense gradients" in str(e),
                  "undocumented RuntimeError", e)
            return
        after = grad._values() if grad.is_sparse else grad
        check(_same(after, values_before), "SparseAdam wrote the gradient")
        touched = sorted(set(ids))
        untouched = [i for i in range(R) if i not in touched]
        check(_same(p.detach()[untouched], p_before[untouched]),
              "SparseAdam changed rows outside the gradient")
        if not fused or grad._values().numel() == 0:
            check(grad._values().numel() or _same(p.detach(), p_before),
                  "an empty gradient changed the parameter")
            continue
        cg = grad.coalesce()
        gvals = cg._values().detach().numpy().reshape(len(touched), cols)
        adam_ref.sparse_adam_step(ref, m, v, cg._indices()[0].numpy(), gvals, step,
                                  lr=kw.get("lr", 1e-3), betas=kw.get("betas", (0.9, 0.999)),
                                  eps=kw.get("eps", 1e-8), maximize=kw["maximize"])
        check(np.array_equal(p.detach().numpy().reshape(R, cols), ref, equal_nan=True),
              "SparseAdam differs from the NumPy oracle", p, ref)


if __name__ == "__main__":
    fl.main(TestOneInput)
