"""pysampled.torch beyond TF (issue 12 x issue 11): ragged labels, per-example
negatives and the two-tower in-batch softmax loss.

Oracles: (1) the NumPy API (bit for bit: same kernels, zero-copy views, same
draws for the same seed), (2) independent pure-PyTorch references written
here from the semantics of issue 11 / the docstrings (an explicit loop over
examples for the ragged and per-example losses; matmul + log-Q + hit mask +
``F.cross_entropy`` for the in-batch loss), with autograd gradients,
(3) float64 finite differences (``torch.autograd.gradcheck``).

In CI (``CI=true``) torch must be installed: a missing torch fails instead of
skipping. The sanitizer stage (ASan venv without torch) skips this module.
"""
import copy

import numpy as np
import pytest

# skips this module where torch cannot run (fails instead in CI)
from _torch_common import FLT_MAX, clear, full_table, params, shard_sizes  # noqa: F401

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import pysampled  # noqa: E402
import pysampled.torch as pt  # noqa: E402


# --------------------------------------------------------------------- helpers
def problem(B=6, D=5, N=40, S=7, shards=1, strategy="mod", dtype=torch.float64, seed=0,
            bias=True, ragged=True, per_example=True, hits=True, nt=2):
    """Random weights/inputs, labels (ragged: 1..3 per example, else [B, nt]) and
    explicit sampled values (2-D per example, or 1-D shared)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    sizes = shard_sizes(N, shards, strategy)
    x = torch.randn(B, D, generator=g, dtype=dtype, requires_grad=True)
    ws = [torch.randn(r, D, generator=g, dtype=dtype, requires_grad=True) for r in sizes]
    bs = [torch.randn(r, generator=g, dtype=dtype, requires_grad=True) for r in sizes] if bias else None
    if ragged:
        counts = rng.integers(1, 4, B)
        splits = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        labels = torch.from_numpy(rng.integers(0, N, int(counts.sum())).astype(np.int64))
    else:
        splits = None
        labels = torch.from_numpy(rng.integers(0, N, (B, nt)).astype(np.int64))
    flat = labels.reshape(-1)
    nl = flat.shape[0]
    tec = (rng.random(nl) * 0.9 + 0.05).astype(np.float32)
    if per_example:
        sampled = rng.integers(0, N, (B, S)).astype(np.int64)
        sec = (rng.random((B, S)) * 0.9 + 0.05).astype(np.float32)
        if hits:  # accidental hits: an example's own labels among its candidates (twice)
            for i in range(B):
                own = flat[splits[i]].item() if ragged else labels[i, -1].item()
                sampled[i, 0] = own
                sampled[i, S - 1] = own
    else:
        sampled = rng.choice(N, S, replace=False).astype(np.int64)
        sec = (rng.random(S) * 0.9 + 0.05).astype(np.float32)
        if hits:
            sampled[0] = flat[0].item()
    if not ragged:
        tec = tec.reshape(B, nt)
    sv = (torch.from_numpy(sampled), torch.from_numpy(tec), torch.from_numpy(sec))
    return dict(x=x, ws=ws, bs=bs, labels=labels, splits=splits, sv=sv, S=S, N=N, B=B,
                strategy=strategy, ragged=ragged, nt=nt)


def call(kind, p, **kw):
    """The torch function on problem `p` (ragged through label_row_splits)."""
    fn = {"softmax": pt.sampled_softmax_loss, "nce": pt.nce_loss,
          "logits": pt.compute_sampled_logits}[kind]
    if p["ragged"]:
        kw["label_row_splits"] = p["splits"]
    else:
        kw["num_true"] = p["nt"]
    kw.setdefault("sampled_values", p["sv"])
    out = fn(p["ws"], p["bs"], p["labels"], p["x"], p["S"], p["N"],
             partition_strategy=p["strategy"], **kw)
    return out[0] if kind == "logits" else out


def call_numpy(kind, p, **kw):
    fn = {"softmax": pysampled.sampled_softmax_loss, "nce": pysampled.nce_loss,
          "logits": pysampled.compute_sampled_logits}[kind]
    ws = [w.detach().numpy() for w in p["ws"]]
    bs = None if p["bs"] is None else [b.detach().numpy() for b in p["bs"]]
    if p["ragged"]:
        kw["label_row_splits"] = p["splits"].numpy()
    else:
        kw["num_true"] = p["nt"]
    if "sampled_values" not in kw:
        kw["sampled_values"] = tuple(t.numpy() for t in p["sv"])
    res = fn(ws[0] if len(ws) == 1 else ws, None if bs is None else (bs[0] if len(bs) == 1 else bs),
             p["labels"].numpy(), p["x"].detach().numpy(), p["S"], p["N"],
             partition_strategy=p["strategy"], **kw)
    return (res[0], res[2]) if kind == "logits" and kw.get("return_grads") else res


def assert_grads_equal_numpy(p, grads, sparse):
    assert np.array_equal(p["x"].grad.numpy(), grads.inputs)
    for got, rows in ((p["ws"], grads.weights), (p["bs"], grads.biases)):
        if got is None:
            assert rows is None
            continue
        parts = rows.per_shard() if len(got) > 1 else [rows]
        for t, part in zip(got, parts):
            assert t.grad.layout == (torch.sparse_coo if sparse else torch.strided)
            if sparse:
                ids = t.grad._indices()[0]
                assert torch.all(ids[1:] > ids[:-1])  # sorted, deduplicated rows
                assert np.array_equal(ids.numpy(), part.ids)
                assert np.array_equal(t.grad._values().numpy(), part.values)
            assert np.array_equal(t.grad.to_dense().numpy(), part.to_dense(t.shape[0]))


def reference(kind, x, W, b, flat, splits, sampled, tec, sec, remove_hits, true_target=None,
              subtract_log_q=True):
    """Issue 11's semantics, one example at a time: example i has n_i true logits
    (target 1/n_i, or true_target for NCE) then its S sampled logits
    ((x.w + b) + mask) - log Q, masked (-FLT_MAX) on every sampled column equal to
    one of its own labels. Returns [B] losses (or the [B, n + S] logits)."""
    sampled = torch.as_tensor(sampled)
    tec = torch.as_tensor(tec, dtype=x.dtype).reshape(-1)
    sec = torch.as_tensor(sec, dtype=x.dtype)
    out = []
    for i in range(x.shape[0]):
        lab = flat[splits[i]:splits[i + 1]]
        cand = sampled[i] if sampled.dim() == 2 else sampled
        q_s = sec[i] if sec.dim() == 2 else sec
        true = W[lab] @ x[i] + (0 if b is None else b[lab])
        samp = W[cand] @ x[i] + (0 if b is None else b[cand])
        hit = (cand[:, None] == lab[None, :]).any(1)
        if remove_hits:
            samp = samp + hit.to(x.dtype) * (-FLT_MAX)
        if subtract_log_q:
            true = true - torch.log(tec[splits[i]:splits[i + 1]])
            samp = samp - torch.log(q_s)
        row = torch.cat([true, samp])
        n = lab.shape[0]
        target = torch.zeros_like(row)
        target[:n] = 1.0 / n if true_target is None else true_target
        if kind == "logits":
            out.append(row)
        elif kind == "softmax":
            out.append(-(target * torch.log_softmax(row, 0)).sum())
        else:
            out.append(F.binary_cross_entropy_with_logits(row, target, reduction="sum"))
    return torch.stack(out)


def splits_of(p):
    if p["ragged"]:
        return p["splits"]
    return torch.arange(p["B"] + 1) * p["nt"]


CASES = [  # (ragged, per_example, shards, strategy, bias, hits)
    (True, False, 1, "mod", True, True),
    (True, True, 3, "div", True, True),
    (False, True, 2, "mod", True, True),
    (True, True, 1, "div", False, False),
    (False, True, 3, "mod", False, True),
]
# compute_sampled_logits takes no label_row_splits (as in NumPy): logits only with uniform labels
KIND_CASES = [(k, c) for k in ("softmax", "nce", "logits") for c in CASES
              if not (k == "logits" and c[0])]


# ------------------------------------------- ragged / per-example: NumPy bit equality
@pytest.mark.parametrize("kind,case", KIND_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_rowwise_bit_equal_to_numpy_api(kind, case, dtype, sparse):
    ragged, per_example, shards, strategy, bias, hits = case
    p = problem(shards=shards, strategy=strategy, bias=bias, hits=hits, dtype=dtype,
                ragged=ragged, per_example=per_example, seed=3)
    kw = {"remove_accidental_hits": hits}
    if kind == "nce":
        kw["true_target"] = 1.0 if per_example else None
    out = call(kind, p, sparse_grad=sparse, **kw)
    up = torch.rand(out.shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    (out * up).sum().backward()
    want, grads = call_numpy(kind, p, return_grads=True, upstream=up.numpy(), **kw)
    assert np.array_equal(out.detach().numpy(), want)
    assert_grads_equal_numpy(p, grads, sparse)


def test_default_per_example_draws_equal_the_numpy_api():
    """negatives="per_example" without sampled_values: the same
    LogUniformSampler(num_classes, seed).sample_bulk draw as NumPy (each call
    makes a fresh sampler, so equal seeds give equal negatives)."""
    for kind in ("softmax", "nce", "logits"):
        for ragged in (False, True):
            if kind == "logits" and ragged:
                continue
            p = problem(ragged=ragged, seed=11, dtype=torch.float32, N=60, S=9)
            out = call(kind, p, sampled_values=None, negatives="per_example", seed=(4, 2))
            out.sum().backward()
            want, grads = call_numpy(kind, p, sampled_values=None, negatives="per_example",
                                     seed=(4, 2), return_grads=True)
            assert np.array_equal(out.detach().numpy(), want)
            assert_grads_equal_numpy(p, grads, False)


def test_default_ragged_shared_draws_follow_the_numpy_stream():
    """Ragged labels with shared negatives and no sampled_values: TF's cached
    log-uniform stream for the flat labels, as in NumPy (the stream continues
    from call to call)."""
    p = problem(ragged=True, per_example=False, seed=5)
    pysampled.reset_sampler_cache()
    a = [call("softmax", p, sampled_values=None, seed=(3, 4)) for _ in range(2)]
    pysampled.reset_sampler_cache()
    b = [call_numpy("softmax", p, sampled_values=None, seed=(3, 4)) for _ in range(2)]
    for x, y in zip(a, b):
        assert np.array_equal(x.detach().numpy(), y)
    assert not np.array_equal(b[0], b[1])


# --------------------------------------- ragged / per-example: pure-PyTorch reference
@pytest.mark.parametrize("kind,case", KIND_CASES + [("nce1", c) for c in CASES])
def test_rowwise_matches_pure_pytorch_reference(kind, case):
    ragged, per_example, shards, strategy, bias, hits = case
    kind, true_target = ("nce", 1.0) if kind == "nce1" else (kind, None)
    p = problem(shards=shards, strategy=strategy, bias=bias, hits=hits, ragged=ragged,
                per_example=per_example, seed=8)
    kw = {"remove_accidental_hits": hits}
    if true_target is not None:
        kw["true_target"] = true_target
    out = call(kind, p, **kw)
    up = torch.rand(out.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (out * up).sum().backward()
    got = [t.grad.clone() for t in params(p)]
    clear(p)
    W = full_table(p["ws"], p["strategy"])
    b = None if p["bs"] is None else full_table(p["bs"], p["strategy"])
    ref = reference(kind, p["x"], W, b, p["labels"].reshape(-1), splits_of(p), *p["sv"], hits,
                    true_target)
    (ref * up).sum().backward()
    if kind == "logits" and hits:
        masked = ref.detach() < -1e37
        assert masked.any()
        assert torch.equal(out.detach()[masked], ref.detach()[masked])
        torch.testing.assert_close(out.detach()[~masked], ref.detach()[~masked], rtol=1e-12,
                                   atol=1e-12)
    else:
        torch.testing.assert_close(out.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
    for g, t in zip(got, params(p)):
        torch.testing.assert_close(g.to_dense(), t.grad, rtol=1e-10, atol=1e-12)


def test_ragged_rows_get_weight_one_over_n():
    """A ragged example with labels (a, b) is not the padded TF row (a, b, b):
    padding adds weight to the repeated id. Checked on the reference numbers."""
    p = problem(ragged=True, per_example=False, hits=False, seed=4, B=1)
    p["splits"] = torch.tensor([0, 2])
    p["labels"] = torch.tensor([3, 17])
    p["sv"] = (p["sv"][0], torch.tensor([0.25, 0.5], dtype=torch.float32), p["sv"][2])
    ragged = call("softmax", p, remove_accidental_hits=False)
    padded = pt.sampled_softmax_loss(
        p["ws"], p["bs"], torch.tensor([[3, 17, 17]]), p["x"], p["S"], p["N"], num_true=3,
        sampled_values=(p["sv"][0], torch.tensor([[0.25, 0.5, 0.5]]), p["sv"][2]),
        remove_accidental_hits=False, partition_strategy=p["strategy"])
    W = full_table(p["ws"], p["strategy"])
    b = full_table(p["bs"], p["strategy"])
    want = reference("softmax", p["x"], W, b, p["labels"], p["splits"], *p["sv"], False)
    torch.testing.assert_close(ragged.detach(), want.detach(), rtol=1e-12, atol=1e-12)
    assert abs(ragged.item() - padded.item()) > 1e-6


# ---------------------------------------------------- ragged / per-example: gradcheck
@pytest.mark.parametrize("kind,case", KIND_CASES)
def test_rowwise_gradcheck_float64(kind, case):
    ragged, per_example, shards, strategy, bias, hits = case
    p = problem(B=4, D=3, N=17, S=5, shards=shards, strategy=strategy, bias=bias, hits=hits,
                ragged=ragged, per_example=per_example, seed=7)
    nw = len(p["ws"])

    def fn(x, *rest):
        q = dict(p, x=x, ws=list(rest[:nw]), bs=None if p["bs"] is None else list(rest[nw:]))
        out = call(kind, q, remove_accidental_hits=hits)
        if kind == "logits":  # a masked logit is exactly -FLT_MAX: no finite difference
            out = out.masked_fill(out.detach() == -FLT_MAX, 0.0)
        return out

    assert torch.autograd.gradcheck(fn, tuple(params(p)), eps=1e-6, atol=1e-7, rtol=1e-6)


# ------------------------------------------------------------ determinism, compile
def test_rowwise_bit_identical_for_any_thread_count():
    p = problem(B=150, D=48, N=3000, S=200, shards=2, dtype=torch.float32, seed=12)
    results = []
    old = torch.get_num_threads()
    try:
        for torch_threads, threads in ((1, 1), (2, 2), (1, 2), (2, None)):
            torch.set_num_threads(torch_threads)
            for kind in ("softmax", "nce"):
                clear(p)
                out = call(kind, p, num_threads=threads, sparse_grad=True,
                           remove_accidental_hits=True)
                (out * torch.linspace(0.5, 2, 150)).sum().backward()
                results.append([out.detach()] + [t.grad.to_dense() for t in params(p)])
            clear(p)
            out = call("softmax", p, num_threads=threads, sampled_values=None,
                       negatives="per_example", seed=3)
            out.sum().backward()
            results.append([out.detach()] + [t.grad.to_dense() for t in params(p)])
    finally:
        torch.set_num_threads(old)
    for start in range(3):
        for r in results[start + 3::3]:
            for a, b in zip(r, results[start]):
                assert torch.equal(a, b)


@pytest.mark.needs_cxx_compiler  # inductor compiles C++
def test_rowwise_torch_compile_equals_eager():
    """Ragged labels and per-example negatives (explicit and drawn by the default
    sampler inside a custom op) trace with fullgraph=True and give the eager bits."""
    p = problem(shards=2, strategy="div", seed=21, dtype=torch.float32)

    def fn(x, w0, w1, b0, b1, labels, splits, sampled, tec, sec):
        a = pt.sampled_softmax_loss([w0, w1], [b0, b1], labels, x, 7, 40, label_row_splits=splits,
                                    sampled_values=(sampled, tec, sec), partition_strategy="div")
        b = pt.nce_loss([w0, w1], [b0, b1], labels, x, 7, 40, label_row_splits=splits,
                        negatives="per_example", seed=9, partition_strategy="div")
        c = pt.compute_sampled_logits([w0, w1], [b0, b1], labels[:6], x, 7, 40,
                                      sampled_values=(sampled, tec[:6].reshape(6, 1), sec),
                                      partition_strategy="div", remove_accidental_hits=True)[0]
        return a, b, c

    args = (p["x"], *p["ws"], *p["bs"], p["labels"], p["splits"], *p["sv"])
    compiled = torch.compile(fn, fullgraph=True)
    grads = []
    for f in (fn, compiled):
        clear(p)
        a, b, c = f(*args)
        (a * torch.arange(6.0) + b * 0.5).sum().backward()
        grads.append(([a.detach(), b.detach(), c.detach()], [t.grad.clone() for t in params(p)]))
    for x, y in zip(grads[0][0], grads[1][0]):
        assert torch.equal(x, y)
    for x, y in zip(grads[0][1], grads[1][1]):
        assert torch.equal(x, y)


@pytest.mark.parametrize("cls,loss", [(pt.SampledSoftmax, "sampled_softmax"), (pt.NCELoss, "nce")])
@pytest.mark.parametrize("negatives", ["shared", "per_example"])
def test_module_rowwise_equals_sampled_loss(cls, loss, negatives):
    """Modules with ragged labels / per-example negatives give the bits of a
    SampledLoss with the same sampler state, step after step."""
    torch.manual_seed(0)
    m = cls(300, 8, 20, num_shards=2, partition_strategy="mod", seed=42, negatives=negatives)
    ref = pysampled.SampledLoss([w.detach().numpy() for w in m.weights],
                                [b.detach().numpy() for b in m.biases], num_sampled=20, loss=loss,
                                sampler=pysampled.LogUniformSampler(300, seed=42),
                                partition_strategy="mod", negatives=negatives)
    rng = np.random.default_rng(1)
    for step in range(3):
        x = torch.randn(16, 8, requires_grad=True)
        counts = rng.integers(1, 4, 16)
        splits = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        y = torch.randint(0, 300, (int(counts.sum()),))
        out = m(x, y, splits) if step != 1 else m(x, y[:16])
        if step != 1:
            want, grads = ref(y.numpy(), x.detach().numpy(), return_grads=True,
                              label_row_splits=splits.numpy())
        else:
            want, grads = ref(y[:16].numpy(), x.detach().numpy(), return_grads=True)
        assert np.array_equal(out.detach().numpy(), want)
        out.sum().backward()
        assert np.array_equal(x.grad.numpy(), grads.inputs)
        dense = torch.cat([w.grad.to_dense() for w in m.weights]).numpy()
        parts = grads.weights.per_shard()
        assert np.array_equal(dense, np.concatenate([pt_.to_dense(w.shape[0]) for pt_, w in
                                                     zip(parts, m.weights)]))
        m.zero_grad()
    assert m.sampler.get_state() == ref.sampler.get_state()


def test_module_per_example_compiles_and_resumes():
    m = pt.SampledSoftmax(200, 8, 12, seed=3, negatives="per_example", sparse_grad=False)
    c = copy.deepcopy(m)
    f = torch.compile(c, fullgraph=True)
    for _ in range(2):
        x, y = torch.randn(8, 8), torch.randint(0, 200, (11,))
        splits = torch.tensor([0, 1, 2, 4, 5, 6, 8, 9, 11])
        assert torch.equal(m(x, y, splits), f(x, y, splits))
        assert torch.equal(m(x, y[:8]), f(x, y[:8]))
    state = m.state_dict()
    r = pt.SampledSoftmax(200, 8, 12, seed=99, negatives="per_example")
    r.load_state_dict(state)
    x, y = torch.randn(4, 8), torch.randint(0, 200, (4,))
    assert torch.equal(m(x, y), r(x, y))
    assert "negatives='per_example'" in repr(m)


# ------------------------------------------------------------ ragged: bad inputs
def test_rowwise_bad_inputs_raise_clear_errors():
    p = problem(seed=1)

    def run(**kw):
        q = dict(p)
        for k in ("labels", "splits"):
            if k in kw:
                q[k] = kw.pop(k)
        return call("softmax", q, **kw)

    with pytest.raises(ValueError, match="num_true must be left unset with label_row_splits"):
        run(num_true=2)
    with pytest.raises(ValueError, match="labels must be the flat 1-D tensor"):
        run(labels=p["labels"].reshape(1, -1))
    with pytest.raises(ValueError, match=r"label_row_splits must have shape \[batch_size \+ 1\]"):
        run(splits=p["splits"][:-1])
    with pytest.raises(TypeError, match="label_row_splits must be an integer tensor"):
        run(splits=p["splits"].double())
    with pytest.raises(TypeError, match="label_row_splits must be an integer torch.Tensor"):
        run(splits=p["splits"].tolist())
    bad = p["splits"].clone()
    bad[2] = bad[1]
    with pytest.raises(ValueError, match="example 1 has no true labels"):
        run(splits=bad)
    bad = p["splits"].clone()
    bad[-1] += 1
    with pytest.raises(ValueError, match="must end at len"):
        run(splits=bad)
    with pytest.raises(ValueError, match="negatives must be 'shared' or 'per_example'"):
        run(negatives="each")
    with pytest.raises(ValueError, match="negatives='per_example' needs a 2-D sampled_candidates"):
        run(sampled_values=(p["sv"][0][0], p["sv"][1], p["sv"][2][0]), negatives="per_example")
    with pytest.raises(ValueError, match="2-D sampled_candidates must have one row per example"):
        run(sampled_values=(p["sv"][0][:3], p["sv"][1], p["sv"][2][:3]))
    with pytest.raises(ValueError, match="sampled_expected_count"):
        run(sampled_values=(p["sv"][0], p["sv"][1], p["sv"][2][:, :3]))
    with pytest.raises(IndexError):
        run(sampled_values=(p["sv"][0] + 40, p["sv"][1], p["sv"][2]))
    with pytest.raises(ValueError, match="negatives must be 'shared' or 'per_example'"):
        pt.NCELoss(10, 4, 2, negatives="mine")
    m = pt.SampledSoftmax(40, 5, 3, seed=1)
    with pytest.raises(ValueError, match=r"label_row_splits must have shape \[batch_size \+ 1\]"):
        m(p["x"], p["labels"], p["splits"][:3])


# ===================================================================== in-batch
def ib_problem(B=6, D=4, S=3, dtype=torch.float64, seed=0, extra=True, ids=True, log_q=True,
               dup=True):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, D, generator=g, dtype=dtype, requires_grad=True)
    c = torch.randn(B, D, generator=g, dtype=dtype, requires_grad=True)
    out = dict(query=q, candidates=c)
    if ids:
        cid = torch.randint(0, 4 if dup else 10**6, (B,), generator=g)
        out["candidate_ids"] = cid
    if log_q:
        out["log_q"] = (torch.rand(B, generator=g, dtype=dtype) * -3).requires_grad_()
    if extra:
        out["extra_candidates"] = torch.randn(S, D, generator=g, dtype=dtype, requires_grad=True)
        if ids:
            eid = torch.randint(0, 6, (S,), generator=g)
            eid[0] = out["candidate_ids"][1]  # at least one extra hit
            out["extra_ids"] = eid
        if log_q:
            out["extra_log_q"] = (torch.rand(S, generator=g, dtype=dtype) * -3).requires_grad_()
    return out


def ib_float_args(kw):
    return [kw[k] for k in ("query", "candidates", "extra_candidates", "log_q", "extra_log_q")
            if kw.get(k) is not None]


def ib_reference(query, candidates, candidate_ids=None, log_q=None, extra_candidates=None,
                 extra_ids=None, extra_log_q=None, temperature=1.0, remove_accidental_hits=True):
    """Two-tower softmax from issue 11: logits_ij = (q_i . c_j / tau + m_ij) - log_q_j,
    extra columns likewise; m = -FLT_MAX on accidental hits; target column i."""
    B = query.shape[0]
    logits = query @ candidates.T / temperature
    if remove_accidental_hits and candidate_ids is not None:
        hit = (candidate_ids[:, None] == candidate_ids[None, :]) & ~torch.eye(B, dtype=torch.bool)
        logits = logits + hit.to(query.dtype) * (-FLT_MAX)
    if log_q is not None:
        logits = logits - log_q[None, :]
    if extra_candidates is not None:
        ex = query @ extra_candidates.T / temperature
        if remove_accidental_hits and extra_ids is not None:
            ex = ex + (candidate_ids[:, None] == extra_ids[None, :]).to(query.dtype) * (-FLT_MAX)
        if extra_log_q is not None:
            ex = ex - extra_log_q[None, :]
        logits = torch.cat([logits, ex], 1)
    return F.cross_entropy(logits, torch.arange(B), reduction="none")


IB_OPTIONS = [  # (extra, ids, log_q, temperature, hits)
    (True, True, True, 0.5, True),
    (True, True, True, 1.0, False),
    (False, True, False, 2.0, True),
    (True, False, True, 1.0, True),
    (False, False, False, 1.0, True),
]


def ib_numpy(kw, **extra):
    a = {k: (v.detach().numpy() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()}
    return pysampled.in_batch_softmax_loss(**a, **extra)


@pytest.mark.parametrize("opt", IB_OPTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("upstream", ["random", "ones"])
def test_in_batch_bit_equal_to_numpy_api(opt, dtype, upstream):
    extra, ids, log_q, tau, hits = opt
    kw = ib_problem(dtype=dtype, extra=extra, ids=ids, log_q=log_q, seed=2)
    kw.update(temperature=tau, remove_accidental_hits=hits)
    out = pt.in_batch_softmax_loss(**kw)
    up = (torch.rand(6, generator=torch.Generator().manual_seed(3), dtype=dtype)
          if upstream == "random" else torch.ones(6, dtype=dtype))
    (out * up).sum().backward() if upstream == "random" else out.sum().backward()
    want, grads = ib_numpy(kw, return_grads=True,
                           upstream=None if upstream == "ones" else up.numpy())
    assert np.array_equal(out.detach().numpy(), want)
    assert np.array_equal(kw["query"].grad.numpy(), grads.query)
    assert np.array_equal(kw["candidates"].grad.numpy(), grads.candidates)
    if extra:
        assert np.array_equal(kw["extra_candidates"].grad.numpy(), grads.extra_candidates)


@pytest.mark.parametrize("opt", IB_OPTIONS)
def test_in_batch_matches_pure_pytorch_reference(opt):
    extra, ids, log_q, tau, hits = opt
    kw = ib_problem(extra=extra, ids=ids, log_q=log_q, seed=4)
    kw.update(temperature=tau, remove_accidental_hits=hits)
    out = pt.in_batch_softmax_loss(**kw)
    up = torch.rand(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (out * up).sum().backward()
    floats = ib_float_args(kw)
    got = [t.grad.clone() for t in floats]
    for t in floats:
        t.grad = None
    ref = ib_reference(**kw)
    (ref * up).sum().backward()
    torch.testing.assert_close(out.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
    for g, t in zip(got, floats):
        torch.testing.assert_close(g, t.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opt", IB_OPTIONS)
def test_in_batch_gradcheck_float64(opt):
    extra, ids, log_q, tau, hits = opt
    kw = ib_problem(B=5, D=3, S=2, extra=extra, ids=ids, log_q=log_q, seed=6)
    names = [k for k in ("query", "candidates", "extra_candidates", "log_q", "extra_log_q")
             if kw.get(k) is not None]

    def fn(*ts):
        return pt.in_batch_softmax_loss(**dict(kw, **dict(zip(names, ts))), temperature=tau,
                                        remove_accidental_hits=hits)

    assert torch.autograd.gradcheck(fn, tuple(kw[k] for k in names), eps=1e-6, atol=1e-7,
                                    rtol=1e-6)


def test_in_batch_module_and_compile_equal_eager():
    kw = ib_problem(B=8, dtype=torch.float32, seed=9)
    m = pt.InBatchSoftmax(temperature=0.25)
    f = torch.compile(pt.InBatchSoftmax(temperature=0.25), fullgraph=True)
    floats = ib_float_args(kw)
    runs = []
    for fn in (m, f):
        for t in floats:
            t.grad = None
        out = fn(**kw)
        (out * torch.linspace(-1, 2, 8)).sum().backward()
        runs.append([out.detach()] + [t.grad.clone() for t in floats])
    for a, b in zip(*runs):
        assert torch.equal(a, b)
    assert torch.equal(runs[0][0], pt.in_batch_softmax_loss(**kw, temperature=0.25).detach())
    assert "temperature=0.25" in repr(m)


@pytest.mark.needs_cxx_compiler  # inductor compiles C++
def test_in_batch_two_tower_model_compiles_without_graph_breaks():
    torch.manual_seed(0)

    class TwoTower(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.q = torch.nn.Linear(6, 8)
            self.c = torch.nn.EmbeddingBag(50, 8, mode="mean")
            self.loss = pt.InBatchSoftmax(temperature=0.1)

        def forward(self, feats, items, ids, log_q):
            return self.loss(self.q(feats), self.c(items), ids, log_q).mean()

    eager = TwoTower()
    comp = copy.deepcopy(eager)
    compiled = torch.compile(comp, fullgraph=True)
    for _ in range(2):
        feats, items = torch.randn(16, 6), torch.randint(0, 50, (16, 3))
        ids, log_q = items[:, 0].contiguous(), torch.rand(16) * -2
        a, b = eager(feats, items, ids, log_q), compiled(feats, items, ids, log_q)
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
        a.backward()
        b.backward()
        for p1, p2 in zip(eager.parameters(), comp.parameters()):
            # the towers are compiled by inductor (its own matmul/reduction order)
            torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-5, atol=1e-6)


def test_in_batch_bit_identical_for_any_thread_count():
    kw = ib_problem(B=300, D=64, S=100, dtype=torch.float32, seed=13)
    floats = ib_float_args(kw)
    results = []
    old = torch.get_num_threads()
    try:
        for torch_threads, threads in ((1, 1), (2, 2), (1, 2), (2, None)):
            torch.set_num_threads(torch_threads)
            for t in floats:
                t.grad = None
            out = pt.in_batch_softmax_loss(**kw, num_threads=threads)
            (out * torch.linspace(0, 1, 300)).sum().backward()
            results.append([out.detach()] + [t.grad.clone() for t in floats])
    finally:
        torch.set_num_threads(old)
    for r in results[1:]:
        for a, b in zip(r, results[0]):
            assert torch.equal(a, b)


def test_in_batch_towers_reach_the_numpy_api_without_copies(monkeypatch):
    import pysampled.retrieval as R
    seen = []
    real = R.in_batch_softmax_loss

    def spy(query, candidates, candidate_ids=None, log_q=None, extra_candidates=None, *a, **kw):
        seen.append((query, candidates, extra_candidates))
        return real(query, candidates, candidate_ids, log_q, extra_candidates, *a, **kw)

    monkeypatch.setattr(R, "in_batch_softmax_loss", spy)
    kw = ib_problem(dtype=torch.float32)
    (pt.in_batch_softmax_loss(**kw) * torch.arange(6.0)).sum().backward()
    assert len(seen) == 2  # forward, backward (non-uniform upstream)
    for q, c, e in seen:
        assert np.shares_memory(q, kw["query"].detach().numpy())
        assert np.shares_memory(c, kw["candidates"].detach().numpy())
        assert np.shares_memory(e, kw["extra_candidates"].detach().numpy())


def test_in_batch_gradients_only_where_wanted_and_no_double_backward():
    kw = ib_problem(seed=3)
    kw["log_q"] = kw["log_q"].detach()
    kw["candidates"] = kw["candidates"].detach()
    pt.in_batch_softmax_loss(**kw).sum().backward()
    assert kw["query"].grad is not None and kw["extra_log_q"].grad is not None
    assert kw["candidates"].grad is None and kw["log_q"].grad is None
    (gq,) = torch.autograd.grad(pt.in_batch_softmax_loss(**kw).sum(), kw["query"],
                                create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        gq.sum().backward()
    with torch.no_grad():
        assert not pt.in_batch_softmax_loss(**kw).requires_grad


def test_in_batch_allow_copy_carries_gradients_back():
    kw = ib_problem(extra=False, seed=5)
    base = kw["query"].detach().clone().T.contiguous().requires_grad_()
    q = base.T  # non-contiguous view
    with pytest.raises(ValueError, match="query is not contiguous"):
        pt.in_batch_softmax_loss(q, kw["candidates"])
    out = pt.in_batch_softmax_loss(q, kw["candidates"], kw["candidate_ids"], kw["log_q"],
                                   allow_copy=True)
    out.sum().backward()
    ref = ib_reference(q.detach().requires_grad_(), kw["candidates"].detach(),
                       kw["candidate_ids"], kw["log_q"].detach())
    torch.testing.assert_close(out.detach(), ref.detach(), rtol=1e-12, atol=1e-12)
    assert base.grad is not None and base.grad.shape == base.shape


def test_in_batch_bad_inputs_raise_clear_errors():
    kw = ib_problem(dtype=torch.float32)

    def run(**over):
        return pt.in_batch_softmax_loss(**dict(kw, **over))

    with pytest.raises(ValueError, match="query is on device meta"):
        run(query=torch.empty(6, 4, device="meta"))
    with pytest.raises(TypeError, match="query must be float32 or float64, got torch.float16"):
        run(query=kw["query"].detach().half())
    with pytest.raises(TypeError, match="candidates must have the query's dtype"):
        run(candidates=kw["candidates"].detach().double())
    with pytest.raises(ValueError, match=r"candidates must have shape \(6, 4\)"):
        run(candidates=kw["candidates"][:5])
    with pytest.raises(ValueError, match="query must be 2-D"):
        run(query=torch.zeros(6))
    with pytest.raises(ValueError, match=r"extra_candidates must be 2-D \[S, 4\]"):
        run(extra_candidates=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="extra_ids and extra_log_q need extra_candidates"):
        run(extra_candidates=None)
    with pytest.raises(ValueError, match="extra_ids need candidate_ids"):
        run(candidate_ids=None)
    with pytest.raises(ValueError, match=r"candidate_ids must have shape \(6,\)"):
        run(candidate_ids=kw["candidate_ids"][:4])
    with pytest.raises(TypeError, match="candidate_ids must be an integer tensor"):
        run(candidate_ids=kw["candidate_ids"].float())
    with pytest.raises(ValueError, match="candidate_ids must not require grad"):
        run(candidate_ids=kw["candidate_ids"].double().requires_grad_())
    with pytest.raises(ValueError, match=r"extra_ids must have shape \(3,\)"):
        run(extra_ids=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"log_q must have shape \(6,\)"):
        run(log_q=torch.zeros(5))
    with pytest.raises(TypeError, match="log_q must be a torch.Tensor"):
        run(log_q=[0.0] * 6)
    with pytest.raises(ValueError, match=r"log_q\[2\] = inf is not finite"):
        run(log_q=torch.tensor([0, 0, float("inf"), 0, 0, 0]))
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        run(temperature=0.0)
    with pytest.raises(TypeError, match="temperature must be a Python number"):
        run(temperature=torch.tensor(1.0, requires_grad=True))
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        pt.InBatchSoftmax(temperature=-1.0)
    with pytest.raises(TypeError, match="temperature must be a number"):
        pt.InBatchSoftmax(temperature="1")


def test_in_batch_edge_sizes():
    """B = 1 without extras: loss 0 and zero gradients; B = 0: empty loss."""
    q = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    lq = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    out = pt.in_batch_softmax_loss(q, c, log_q=lq)
    out.sum().backward()
    assert out.item() == 0.0 and not q.grad.any() and not c.grad.any() and not lq.grad.any()
    z = torch.zeros(0, 3, requires_grad=True)
    out = pt.in_batch_softmax_loss(z, torch.zeros(0, 3), extra_candidates=torch.ones(2, 3))
    assert out.shape == (0,)
    out.sum().backward()
    assert z.grad.shape == (0, 3)

