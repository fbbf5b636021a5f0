"""pysampled.torch.SparseAdam: torch.optim.SparseAdam with a fused C++ step.

Oracles: (1) ``torch.optim.SparseAdam`` itself. Its float square root goes
through MKL's vector math, which is not correctly rounded (on the CPUs seen
here 10-20% of float32 results, ~1% of float64 ones, are 1 ulp off), while
the fused kernel's is; so the two agree bit for bit wherever PyTorch takes
its scalar path (one element per step), and to rounding otherwise.
(2) ``oracles.sparse_adam`` (NumPy from PyTorch's algorithm), bit for bit,
through the optimizer as users call it. (3) Training a pysampled
``SampledSoftmax`` head with either optimizer gives the same losses to
rounding.
"""
import copy

import numpy as np
import pytest

from _torch_common import FLT_MAX  # noqa: F401  (skips without torch; fails in CI)

import torch  # noqa: E402

import pysampled.torch as pt  # noqa: E402
from oracles import sparse_adam as ref  # noqa: E402


def pair(shape, dtype, seed=0, **kw):
    torch.manual_seed(seed)
    a = torch.nn.Parameter(torch.randn(*shape, dtype=dtype))
    b = torch.nn.Parameter(a.detach().clone())
    return a, b, torch.optim.SparseAdam([a], **kw), pt.SparseAdam([b], **kw)


def sparse(ids, values, shape, coalesce=True):
    g = torch.sparse_coo_tensor(torch.as_tensor(ids).view(1, -1), values, shape,
                                check_invariants=True)
    return g.coalesce() if coalesce else g


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("maximize", [False, True])
def test_bit_equal_to_torch_where_torch_takes_its_scalar_path(dtype, maximize):
    """One element per step: PyTorch's square root is then the correctly
    rounded one, and every result must be identical."""
    a, b, oa, ob = pair((40,), dtype, lr=0.05, betas=(0.8, 0.95), eps=1e-6, maximize=maximize)
    rng = np.random.default_rng(3)
    for _ in range(60):
        i = int(rng.integers(40))
        val = torch.tensor([float(rng.standard_normal()) * 10.0 ** int(rng.integers(-3, 2))],
                           dtype=dtype)
        for p, o in ((a, oa), (b, ob)):
            p.grad = sparse([i], val, (40,))
            o.step()
        assert torch.equal(a, b)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(oa.state[a][key], ob.state[b][key])
    assert oa.state[a]["step"] == ob.state[b]["step"] == 60


@pytest.mark.parametrize("dtype,rtol,atol", [(torch.float32, 1e-5, 1e-8),
                                             (torch.float64, 1e-13, 1e-17)])
def test_equal_to_torch_sparse_adam_to_rounding_on_embeddings(dtype, rtol, atol):
    torch.manual_seed(0)
    emb = torch.nn.Embedding(500, 16, sparse=True).to(dtype)
    bias = torch.nn.Embedding(500, 1, sparse=True).to(dtype)
    e2, b2 = copy.deepcopy(emb), copy.deepcopy(bias)
    oa = torch.optim.SparseAdam(list(emb.parameters()) + list(bias.parameters()), lr=0.01)
    ob = pt.SparseAdam(list(e2.parameters()) + list(b2.parameters()), lr=0.01)
    for _ in range(25):
        ids = torch.randint(0, 500, (200,))  # duplicates: uncoalesced gradients
        x = torch.randn(200, 16, dtype=dtype)
        for e, bb, o in ((emb, bias, oa), (e2, b2, ob)):
            o.zero_grad()
            ((e(ids) * x).sum(1) + bb(ids).view(-1)).pow(2).mean().backward()
            o.step()
    for p, q in ((emb.weight, e2.weight), (bias.weight, b2.weight)):
        torch.testing.assert_close(q, p, rtol=rtol, atol=atol)
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(ob.state[q][key], oa.state[p][key], rtol=rtol * 10,
                                       atol=atol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(60,), (60, 5), (60, 2, 3), (60, 37)])  # 37: SIMD body + tail
def test_bit_equal_to_the_numpy_reference(dtype, shape):
    a, b, _, ob = pair(shape, dtype, seed=1, lr=0.02, betas=(0.85, 0.98), eps=1e-7)
    np_dtype = np.float32 if dtype == torch.float32 else np.float64
    p = b.detach().numpy().reshape(60, -1).copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    rng = np.random.default_rng(2)
    for step in range(1, 21):
        ids = np.sort(rng.choice(60, size=int(rng.integers(1, 40)), replace=False))
        vals = rng.standard_normal((ids.size,) + shape[1:]).astype(np_dtype)
        b.grad = sparse(ids, torch.from_numpy(vals), shape)
        ob.step()
        ref.sparse_adam_step(p, m, v, ids, vals.reshape(ids.size, -1), step, lr=0.02,
                             betas=(0.85, 0.98), eps=1e-7)
    np.testing.assert_array_equal(b.detach().numpy().reshape(60, -1), p)
    np.testing.assert_array_equal(ob.state[b]["exp_avg_sq"].numpy().reshape(60, -1), v)


def test_state_dict_moves_between_the_two_classes():
    a, b, oa, ob = pair((30, 4), torch.float64, lr=0.01)
    g = sparse([1, 7, 9], torch.randn(3, 4, dtype=torch.float64), (30, 4))
    for p, o in ((a, oa), (b, ob)):
        p.grad = g.clone()
        o.step()
    # ours -> torch's and torch's -> ours: both continue from the loaded state
    oa2, ob2 = torch.optim.SparseAdam([b], lr=0.01), pt.SparseAdam([a], lr=0.01)
    oa2.load_state_dict(ob.state_dict())
    ob2.load_state_dict(oa.state_dict())
    assert oa2.state[b]["step"] == ob2.state[a]["step"] == 1
    g2 = sparse([7], torch.randn(1, 4, dtype=torch.float64), (30, 4))
    for p, o in ((a, ob2), (b, oa2)):
        p.grad = g2.clone()
        o.step()
    torch.testing.assert_close(a, b, rtol=1e-13, atol=0)


def test_same_result_for_any_thread_count():
    out = []
    for threads in (1, 2, -1):
        torch.manual_seed(5)
        p = torch.nn.Parameter(torch.randn(4000, 24))
        o = pt.SparseAdam([p], lr=0.01, num_threads=threads)
        g = torch.Generator().manual_seed(6)
        for _ in range(3):
            ids = torch.randperm(4000, generator=g)[:2500].sort().values
            p.grad = sparse(ids, torch.randn(2500, 24, generator=g), (4000, 24))
            o.step()
        out.append(p.detach().clone())
    assert all(torch.equal(x, out[0]) for x in out[1:])


def test_gradient_is_not_written_and_untouched_rows_stay():
    a, b, _, ob = pair((50, 3), torch.float32)
    before = b.detach().clone()
    vals = torch.randn(2, 3)
    b.grad = sparse([4, 20], vals.clone(), (50, 3))
    ob.step()
    assert torch.equal(b.grad._values(), vals)
    rest = [i for i in range(50) if i not in (4, 20)]
    assert torch.equal(b.detach()[rest], before[rest])
    assert not torch.equal(b.detach()[[4, 20]], before[[4, 20]])


def test_parameters_the_kernel_cannot_take_use_torchs_own_step():
    """float16 and non-contiguous parameters: PyTorch's implementation, same result."""
    torch.manual_seed(0)
    base = torch.randn(20, 8)
    makers = {"float16": lambda: base[:10].clone().half(),
              "non-contiguous": lambda: base.clone().t().contiguous().t()[:10]}
    for name, make in makers.items():
        a, b = torch.nn.Parameter(make()), torch.nn.Parameter(make())
        assert b.is_contiguous() == (name != "non-contiguous")
        oa, ob = torch.optim.SparseAdam([a], lr=0.1), pt.SparseAdam([b], lr=0.1)
        vals = torch.randn(2, 8).to(a.dtype)
        for p, o in ((a, oa), (b, ob)):
            p.grad = sparse([1, 3], vals, tuple(a.shape))
            o.step()
        assert torch.equal(a, b), name


def test_errors_as_torch_and_for_bad_gradients():
    p = torch.nn.Parameter(torch.zeros(5, 2))
    o = pt.SparseAdam([p])
    p.grad = torch.ones(5, 2)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        o.step()
    with pytest.raises(ValueError, match="Invalid learning rate"):
        pt.SparseAdam([p], lr=-1.0)
    with pytest.raises(ValueError, match="num_threads"):
        pt.SparseAdam([p], num_threads=0)
    # a gradient that claims to be coalesced but is not: refused, nothing written
    bad = torch.sparse_coo_tensor(torch.tensor([[3, 1]]), torch.ones(2, 2), (5, 2),
                                  is_coalesced=True, check_invariants=False)
    p.grad = bad
    with pytest.raises(ValueError, match="strictly increasing"):
        o.step()
    assert not p.detach().any()
    # moment tables that share memory (a hand-edited state): refused, nothing written
    p.grad = torch.sparse_coo_tensor(torch.tensor([[1, 3]]), torch.ones(2, 2), (5, 2),
                                     check_invariants=True)
    o.state[p]["exp_avg_sq"] = o.state[p]["exp_avg"]
    with pytest.raises(ValueError, match="must not share memory"):
        o.step()
    assert not p.detach().any() and not o.state[p]["exp_avg"].any()


def test_training_a_sampled_softmax_head_matches_torch_sparse_adam():
    torch.manual_seed(0)
    head_a = pt.SampledSoftmax(2000, 16, 20, seed=3)
    head_b = copy.deepcopy(head_a)
    x = torch.randn(64, 16)
    labels = torch.randint(0, 2000, (64,))
    oa = torch.optim.SparseAdam(head_a.parameters(), lr=0.01)
    ob = pt.SparseAdam(head_b.parameters(), lr=0.01)
    losses = {"a": [], "b": []}
    for _ in range(30):
        for key, head, o in (("a", head_a, oa), ("b", head_b, ob)):
            o.zero_grad()
            loss = head(x, labels).mean()
            loss.backward()
            o.step()
            losses[key].append(loss.item())
    np.testing.assert_allclose(losses["b"], losses["a"], rtol=1e-5)
    assert losses["b"][-1] < 0.7 * losses["b"][0]


@pytest.mark.parametrize("order", ["sorted", "unsorted", "duplicates"])
def test_uncoalesced_gradients_give_the_coalesced_result(order, monkeypatch):
    """A gradient not flagged coalesced (what autograd leaves in ``.grad``)
    whose ids are already sorted and unique is used as it is, without the
    cost of ``coalesce()``; unsorted or duplicated ids are coalesced first,
    as PyTorch's step does. Either way the parameter and moments equal those
    of a step on the coalesced gradient, bit for bit."""
    shape = (50, 4)
    rng = np.random.default_rng(11)
    ids = np.sort(rng.choice(50, size=12, replace=False))
    if order == "unsorted":
        ids = ids[::-1].copy()
    elif order == "duplicates":
        ids[3] = ids[4]
    vals = torch.from_numpy(rng.standard_normal((ids.size, 4)).astype(np.float32))
    _, b, _, ob = pair(shape, torch.float32, seed=4, lr=0.03)
    c, d, _, od = pair(shape, torch.float32, seed=4, lr=0.03)
    calls = []
    real = torch.Tensor.coalesce
    monkeypatch.setattr(torch.Tensor, "coalesce", lambda self: calls.append(1) or real(self))
    b.grad = sparse(ids, vals, shape, coalesce=False)
    assert not b.grad.is_coalesced()
    ob.step()
    assert len(calls) == (0 if order == "sorted" else 1)
    d.grad = sparse(ids, vals, shape, coalesce=True)
    od.step()
    assert torch.equal(b, d)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(ob.state[b][key], od.state[d][key])
