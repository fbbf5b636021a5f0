"""ShardedSampledLoss in one process (one rank), without mpiexec.

The one-rank case runs the whole algorithm of pysampled.distributed except the
transport: the kernel calls on the local shard, the masks, the normaliser and
NCE terms combined from partials, the gradient pass and the fused update. The
oracle is SampledLoss over the same table (same seed), within the float32
bound of docs/DISTRIBUTED.md (1e-12 in float64). Runs without mpi4py (a
size-1 stand-in communicator, tests/_self_comm.py); with mpi4py installed,
MPI.COMM_SELF gives the same bits.
"""
import numpy as np
import pytest

import pysampled as ps
from pysampled.distributed import DistributedError, ShardedSampledLoss, shard_rows
from _self_comm import SelfComm

N, D, B = 60, 6, 9


def tables(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.5, (N, D)).astype(dtype), rng.normal(0, 0.5, N).astype(dtype)


def batches(dtype, T=1, n=3, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, N, (B, T)), rng.normal(size=(B, D)).astype(dtype),
             rng.uniform(0.5, 2, B).astype(dtype)) for _ in range(n)]


def bound(dtype):
    return (2e-5, 2e-6) if dtype == np.float32 else (1e-12, 1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["sampled_softmax", "nce"])
@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
@pytest.mark.parametrize("T", [1, 2])
def test_one_rank_step_equals_sampled_loss(dtype, loss, optimizer, T):
    W, b = tables(dtype)
    W2, b2 = W.copy(), b.copy()
    ref = ps.SampledLoss(W2, b2, num_sampled=7, loss=loss, num_true=T, optimizer=optimizer,
                         learning_rate=0.3, seed=4)
    dist = ShardedSampledLoss(SelfComm(), W, b, N, loss=loss, num_sampled=7, num_true=T,
                              optimizer=optimizer, learning_rate=0.3, seed=4)
    rtol, atol = bound(dtype)
    for lab, x, up in batches(dtype, T):
        want = ref.step(lab, x, upstream=up)
        got = dist.step(lab, x, upstream=up)
        np.testing.assert_allclose(got.loss, want.loss, rtol=rtol, atol=atol)
        np.testing.assert_allclose(got.inputs_grad, want.inputs_grad, rtol=rtol, atol=atol)
        np.testing.assert_allclose(W, W2, rtol=rtol, atol=atol)
        np.testing.assert_allclose(b, b2, rtol=rtol, atol=atol)
    if optimizer == "adagrad":
        np.testing.assert_allclose(dist.accumulators[0], ref.accumulators[0][0], rtol=rtol, atol=atol)


@pytest.mark.parametrize("loss", ["sampled_softmax", "nce"])
def test_one_rank_loss_and_grads_equal_sampled_loss_and_write_nothing(loss):
    W, b = tables(np.float32)
    W0, b0 = W.copy(), b.copy()
    ref = ps.SampledLoss(W.copy(), b.copy(), num_sampled=5, loss=loss, seed=2)
    dist = ShardedSampledLoss(SelfComm(), W, b, N, loss=loss, num_sampled=5, seed=2)
    for lab, x, up in batches(np.float32):
        x0, lab0 = x.copy(), lab.copy()
        want_loss, want = ref(lab, x, return_grads=True, upstream=up)
        got_loss, got = dist.loss(lab, x, return_grads=True, upstream=up)
        np.testing.assert_allclose(got_loss, want_loss, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(got.inputs, want.inputs, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(got.weights.to_dense(N), want.weights.to_dense(N), rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(got.biases.to_dense(N), want.biases.to_dense(N), rtol=2e-5, atol=2e-6)
        # every row the single-process call touches with a nonzero gradient is listed
        nz = want.weights.ids[np.abs(want.weights.values).sum(axis=1) > 0]
        assert set(nz) <= set(got.weights.ids)
        np.testing.assert_allclose(dist.loss(lab, x), ref(lab, x), rtol=2e-5, atol=2e-6)
        assert np.array_equal(x, x0) and np.array_equal(lab, lab0)
    assert np.array_equal(W, W0) and np.array_equal(b, b0)


def test_one_rank_is_bit_identical_for_any_thread_count():
    out = []
    for threads in (1, 2):
        W, b = tables(np.float32)
        dist = ShardedSampledLoss(SelfComm(), W, b, N, num_sampled=20, optimizer="adagrad", seed=3,
                                  num_threads=threads)
        res = [dist.step(lab, x) for lab, x, _ in batches(np.float32, n=4)]
        out.append((W.tobytes(), b.tobytes(), [r.loss.tobytes() + r.inputs_grad.tobytes() for r in res]))
    assert out[0] == out[1]


def test_batch_split_with_one_rank_is_the_whole_batch():
    W, b = tables(np.float32)
    a = ShardedSampledLoss(SelfComm(), W.copy(), b.copy(), N, num_sampled=5, seed=2)
    c = ShardedSampledLoss(SelfComm(), W.copy(), b.copy(), N, num_sampled=5, seed=2)
    for lab, x, _ in batches(np.float32):
        r1, r2 = a.step(lab, x), c.step(lab, x, batch_split=True)
        assert np.array_equal(r1.loss, r2.loss) and np.array_equal(r1.inputs_grad, r2.inputs_grad)


def test_mpi_comm_self_gives_the_same_bits_as_the_stand_in():
    MPI = pytest.importorskip("mpi4py.MPI")
    res = []
    for comm in (SelfComm(), MPI.COMM_SELF):
        W, b = tables(np.float32)
        dist = ShardedSampledLoss(comm, W, b, N, num_sampled=5, loss="nce", seed=9)
        r = [dist.step(lab, x, upstream=up) for lab, x, up in batches(np.float32)]
        res.append((W.tobytes(), [t.loss.tobytes() + t.inputs_grad.tobytes() for t in r]))
    assert res[0] == res[1]


def test_shard_rows_and_global_ids():
    assert shard_rows(10, 4) == [3, 3, 2, 2]
    assert shard_rows(3, 4) == [1, 1, 1, 0]
    W, _ = tables(np.float32)
    dist = ShardedSampledLoss(SelfComm(), W, None, N, num_sampled=3, seed=1)
    assert np.array_equal(dist.global_ids([0, 5, 59]), [0, 5, 59])
    assert dist.rank == 0 and dist.size == 1 and dist.shard_sizes == [N]


def test_seed_none_draws_a_seed_once():
    W, _ = tables(np.float32)
    dist = ShardedSampledLoss(SelfComm(), W, None, N, num_sampled=3)
    assert isinstance(dist.seed, int)
    again = ShardedSampledLoss(SelfComm(), W.copy(), None, N, num_sampled=3, seed=dist.seed)
    lab, x, _ = batches(np.float32)[0]
    assert np.array_equal(dist.loss(lab, x), again.loss(lab, x))


def test_distributed_error_is_a_runtime_error():
    assert issubclass(DistributedError, RuntimeError)
