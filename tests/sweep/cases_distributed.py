r"""Bad-input sweep, area: `pysampled.distributed.ShardedSampledLoss` on one rank
(construction, `step`, `loss`; a failing step leaves the shard untouched).

The communicator is the size-1 stand-in of tests/_self_comm.py (no mpi4py):
with one rank the constructor's and each call's agreement between ranks are
local, so every argument check runs here exactly as on every rank of a job.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    Sharded-comm-not-a-comm  raises TypeError: /^comm must be an mpi4py intracommunicator \(it has no
        Get_size\(\)\)$/
    Sharded-bad-loss  raises ValueError: /^loss must be 'sampled_softmax' or 'nce', got 'hinge'$/
    Sharded-bad-optimizer  raises ValueError: /^optimizer must be 'sgd' or 'adagrad', got 'adam'$/
    Sharded-bad-strategy  raises ValueError: /^Unrecognized partition strategy: range\.Must be one of
        either `mod` or `div`\.$/
    Sharded-num_classes-missing  raises TypeError: /^num_classes is required \(the rows of the whole
        table\)$/
    Sharded-num_classes-0  raises ValueError: /^Value for attr 'num_classes' of 0 must be at least
        minimum 1$/
    Sharded-num_classes-not-the-rows  raises ValueError: /^rank 0 of 1 owns 13 of the 13 classes, but
        local_weights has 12 rows$/
    Sharded-biases-rows  raises ValueError: /^rank 0 of 1 owns 12 of the 12 classes, but local_biases
        has 11 entries$/
    Sharded-biases-dtype  raises TypeError: /^local_biases must have the dtype of local_weights
        \(float32\), got float64$/
    Sharded-weights-float16  raises TypeError: /^local_weights must be float32 or float64, got float16$/
    Sharded-weights-1d  raises ValueError: /^local_weights must be 2-D, got shape \(12,\)$/
    Sharded-weights-fortran  raises ValueError: /^local_weights must have contiguous rows/
    Sharded-num_sampled-0  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at least
        minimum 1$/
    Sharded-num_true-0  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum 1$/
    Sharded-sampler-not-a-sampler  raises TypeError: /^sampler must be a pysampled CandidateSampler$/
    Sharded-sampler-unseeded  raises ValueError: /^a sampler shared by the ranks needs an explicit seed/
    Sharded-sampler-range-beyond  raises ValueError: /^the sampler draws from 13 classes but the table
        has 12 rows$/
    Sharded-adagrad-init-0  raises ValueError: /^initial_accumulator_value must be positive$/
    Sharded-true_target-0  raises ValueError: /^true_target must be a positive number$/
    Sharded-timeout-0  raises ValueError: /^timeout must be a positive number of seconds, got/
    Sharded-timeout--1.0  raises ValueError: /^timeout must be a positive number of seconds, got/
    Sharded-timeout-nan  raises ValueError: /^timeout must be a positive number of seconds, got/
    Sharded-timeout-inf  raises ValueError: /^timeout must be a positive number of seconds, got/
    Sharded-on_timeout-ignore  raises ValueError: /^on_timeout must be 'abort' or 'raise', got
        'ignore'$/
    Sharded-seed-bad  raises TypeError: /seed/
    Sharded-seed-none  returns: a seed drawn (on rank 0) and shared: an int
    Sharded-step-readonly-weights  raises ValueError: /^step\(\) updates in place: local weights and
        biases must be writable$/
    Sharded-loss-readonly-weights  returns: loss() only reads: works
    Sharded-step-float64-inputs-float32-weights  raises TypeError: /^inputs must have the dtype of the
        weights \(float32\), got float64$/
    Sharded-step-inputs-float16  raises TypeError: /^inputs must be a 2-D float32 or float64 array/
    Sharded-step-inputs-int64  raises TypeError: /^inputs must be a 2-D float32 or float64 array/
    Sharded-step-inputs-bool  raises TypeError: /^inputs must be a 2-D float32 or float64 array/
    Sharded-step-inputs-object  raises TypeError: /^inputs must be a 2-D float32 or float64 array/
    Sharded-step-inputs-1d  raises TypeError: /^inputs must be a 2-D float32 or float64 array/
    Sharded-step-labels-rows-mismatch  raises ValueError: /^labels have 3 rows but inputs have 4$/
    Sharded-step-labels-columns  raises ValueError: /^labels must have shape \[batch_size, num_true=1\],
        got \(4, 2\)$/
    Sharded-step-labels-float  raises ValueError: /^labels must hold integer values: got 0\.5 \(TF would
        truncate a float label toward zero silently\)$/
    Sharded-step-labels-integral-float  returns: integral floats cast to int64 as TF does
    Sharded-step-dim-mismatch  raises ValueError: /^Matrix size-incompatible: inputs are \[4, 5\] but
        the weights have 3 columns$/
    Sharded-step-label-2**40  raises IndexError: /out of range \[0, 12\), received 1099511627776$/
    Sharded-step-label--1-split  raises IndexError: /out of range \[0, 12\), received -1$/
    Sharded-step-upstream-wrong-shape  raises ValueError: /^upstream must have shape \(4,\), got \(4,
        1\)$/
    Sharded-step-upstream-object  raises TypeError: /^upstream must hold numbers, got dtype object$/
    Sharded-loss-upstream-wrong-shape  raises ValueError: /^upstream must have shape \(4,\), got
        \(5,\)$/
    Sharded-step-empty-batch  returns: empty loss and input gradient; shard unchanged
    Sharded-step-empty-batch-split  returns: empty loss and input gradient; shard unchanged
    Sharded-loss-return-grads  returns: loss, input gradient, sorted unique local gradient rows; shard
        unchanged
    Sharded-step-int32-labels-readonly-fortran-inputs  returns: works (labels [B] accepted when num_true
        = 1)
    Sharded-step-float64  returns: float64 loss, finite
    w2v-train-comm-negative-loss  raises ValueError: /^training over MPI ranks needs loss='nce' or
        'sampled_softmax'/
    w2v-train-comm-not-a-comm  raises TypeError: /^comm must be an mpi4py intracommunicator/
    w2v-train-comm-timeout-0  raises ValueError: /^timeout must be a positive number of seconds/
    w2v-train-comm-timeout-nan  raises ValueError: /^timeout must be a positive number of seconds/
    w2v-train-comm-one-rank  returns: trains through the distributed path on one rank
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

import pysampled as ps
from pysampled.distributed import ShardedSampledLoss
from _self_comm import SelfComm
from sweep.builders import B, C, D, S, problem, readonly
from sweep.harness import raises, returns


def dist(dtype=np.float32, comm=None, num_classes=C, weights=None, biases="default", **kw):
    p = problem(dtype)
    kw.setdefault("num_sampled", S)
    kw.setdefault("seed", 1)
    w = p["weights"] if weights is None else weights
    b = p["biases"] if isinstance(biases, str) else biases
    return p, ShardedSampledLoss(SelfComm() if comm is None else comm, w, b, num_classes, **kw)


def call(method="step", dtype=np.float32, model_kw=None, expect_unchanged=False, **over):
    """Build a one-rank loss, call `method` with `over` (functions of the problem
    allowed). With expect_unchanged, a failing call must leave the shard untouched."""
    def run():
        p, m = dist(dtype, **(model_kw or {}))
        before = (p["weights"].copy(), p["biases"].copy())
        kw = {"labels": p["labels"], "inputs": p["inputs"]}
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        try:
            return getattr(m, method)(**kw), p
        except BaseException:
            if expect_unchanged:
                np.testing.assert_array_equal(p["weights"], before[0])
                np.testing.assert_array_equal(p["biases"], before[1])
            raise
    return run


# ================================================================ constructor
raises("Sharded-comm-not-a-comm", lambda: dist(comm=object()),
       TypeError, r"^comm must be an mpi4py intracommunicator \(it has no Get_size\(\)\)$")
raises("Sharded-bad-loss", lambda: dist(loss="hinge"),
       ValueError, r"^loss must be 'sampled_softmax' or 'nce', got 'hinge'$")
raises("Sharded-bad-optimizer", lambda: dist(optimizer="adam"),
       ValueError, r"^optimizer must be 'sgd' or 'adagrad', got 'adam'$")
raises("Sharded-bad-strategy", lambda: dist(partition_strategy="range"),
       ValueError, r"^Unrecognized partition strategy: range\.Must be one of either `mod` or `div`\.$")
raises("Sharded-num_classes-missing", lambda: dist(num_classes=None),
       TypeError, r"^num_classes is required \(the rows of the whole table\)$")
raises("Sharded-num_classes-0", lambda: dist(num_classes=0),
       ValueError, r"^Value for attr 'num_classes' of 0 must be at least minimum 1$")
raises("Sharded-num_classes-not-the-rows", lambda: dist(num_classes=C + 1),
       ValueError, r"^rank 0 of 1 owns 13 of the 13 classes, but local_weights has 12 rows$")
raises("Sharded-biases-rows", lambda: dist(biases=np.zeros(C - 1, np.float32)),
       ValueError, r"^rank 0 of 1 owns 12 of the 12 classes, but local_biases has 11 entries$")
raises("Sharded-biases-dtype", lambda: dist(biases=np.zeros(C)),
       TypeError, r"^local_biases must have the dtype of local_weights \(float32\), got float64$")
raises("Sharded-weights-float16", lambda: dist(weights=np.zeros((C, D), np.float16)),
       TypeError, r"^local_weights must be float32 or float64, got float16$")
raises("Sharded-weights-1d", lambda: dist(weights=np.zeros(C, np.float32)),
       ValueError, r"^local_weights must be 2-D, got shape \(12,\)$")
raises("Sharded-weights-fortran", lambda: dist(weights=np.asfortranarray(np.zeros((C, D), np.float32))),
       ValueError, r"^local_weights must have contiguous rows")
raises("Sharded-num_sampled-0", lambda: dist(num_sampled=0),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("Sharded-num_true-0", lambda: dist(num_true=0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")
raises("Sharded-sampler-not-a-sampler", lambda: dist(sampler="log_uniform"),
       TypeError, r"^sampler must be a pysampled CandidateSampler$")
raises("Sharded-sampler-unseeded", lambda: dist(sampler=ps.UniformSampler(C)),
       ValueError, r"^a sampler shared by the ranks needs an explicit seed")
raises("Sharded-sampler-range-beyond", lambda: dist(sampler=ps.UniformSampler(C + 1, seed=1)),
       ValueError, r"^the sampler draws from 13 classes but the table has 12 rows$")
raises("Sharded-adagrad-init-0", lambda: dist(optimizer="adagrad", initial_accumulator_value=0.0),
       ValueError, r"^initial_accumulator_value must be positive$")
raises("Sharded-true_target-0", lambda: dist(loss="nce", true_target=0.0),
       ValueError, r"^true_target must be a positive number$")
for _t in (0, -1.0, float("nan"), float("inf")):
    raises(f"Sharded-timeout-{_t}", lambda t=_t: dist(timeout=t),
           ValueError, r"^timeout must be a positive number of seconds, got")
raises("Sharded-on_timeout-ignore", lambda: dist(on_timeout="ignore"),
       ValueError, r"^on_timeout must be 'abort' or 'raise', got 'ignore'$")
raises("Sharded-seed-bad", lambda: dist(seed="7"),
       TypeError, r"seed")
returns("Sharded-seed-none", lambda: dist(seed=None)[1].seed,
        lambda s: isinstance(s, int), "a seed drawn (on rank 0) and shared: an int")

# ======================================================================= calls
raises("Sharded-step-readonly-weights",
       lambda: dist(weights=readonly(np.zeros((C, D), np.float32)))[1].step(
           [[0]], np.zeros((1, D), np.float32)),
       ValueError, r"^step\(\) updates in place: local weights and biases must be writable$")
returns("Sharded-loss-readonly-weights",
        lambda: dist(weights=readonly(np.ones((C, D), np.float32)))[1].loss(
            [[0]], np.ones((1, D), np.float32)),
        lambda r: r.shape == (1,) and np.isfinite(r).all(), "loss() only reads: works")
raises("Sharded-step-float64-inputs-float32-weights",
       call(inputs=lambda p: p["inputs"].astype(np.float64), expect_unchanged=True),
       TypeError, r"^inputs must have the dtype of the weights \(float32\), got float64$")
for _dt in ("float16", "int64", "bool", "object"):
    raises(f"Sharded-step-inputs-{_dt}", call(inputs=lambda p, dt=_dt: p["inputs"].astype(dt),
                                              expect_unchanged=True),
           TypeError, r"^inputs must be a 2-D float32 or float64 array")
raises("Sharded-step-inputs-1d", call(inputs=lambda p: p["inputs"][0], expect_unchanged=True),
       TypeError, r"^inputs must be a 2-D float32 or float64 array")
raises("Sharded-step-labels-rows-mismatch",
       call(labels=np.zeros((B - 1, 1), np.int64), expect_unchanged=True),
       ValueError, r"^labels have 3 rows but inputs have 4$")
raises("Sharded-step-labels-columns", call(labels=np.zeros((B, 2), np.int64), expect_unchanged=True),
       ValueError, r"^labels must have shape \[batch_size, num_true=1\], got \(4, 2\)$")
raises("Sharded-step-labels-float", call(labels=lambda p: p["labels"] + 0.5, expect_unchanged=True),
       ValueError, r"^labels must hold integer values: got 0\.5 \(TF would truncate a float "
       r"label toward zero silently\)$")
returns("Sharded-step-labels-integral-float", call(labels=lambda p: p["labels"].astype(float)),
        lambda r: np.isfinite(r[0][0]).all(), "integral floats cast to int64 as TF does")
raises("Sharded-step-dim-mismatch", call(inputs=np.zeros((B, D + 2), np.float32), expect_unchanged=True),
       ValueError, r"^Matrix size-incompatible: inputs are \[4, 5\] but the weights have 3 columns$")
raises("Sharded-step-label-2**40", call(labels=np.array([[0], [1], [2**40], [2]]), expect_unchanged=True),
       IndexError, r"out of range \[0, 12\), received 1099511627776$")
raises("Sharded-step-label--1-split", call(labels=np.array([[0], [1], [-1], [2]]), expect_unchanged=True,
                                           batch_split=True),
       IndexError, r"out of range \[0, 12\), received -1$")
raises("Sharded-step-upstream-wrong-shape", call(expect_unchanged=True, upstream=np.ones((B, 1))),
       ValueError, r"^upstream must have shape \(4,\), got \(4, 1\)$")
raises("Sharded-step-upstream-object", call(expect_unchanged=True, upstream=np.array([None] * B)),
       TypeError, r"^upstream must hold numbers, got dtype object$")
raises("Sharded-loss-upstream-wrong-shape", call("loss", expect_unchanged=True, upstream=np.ones(B + 1)),
       ValueError, r"^upstream must have shape \(4,\), got \(5,\)$")


def _check_empty(r):
    (loss, dx), p = r
    fresh = problem()
    assert loss.shape == (0,) and dx.shape == (0, D)
    np.testing.assert_array_equal(p["weights"], fresh["weights"])
    np.testing.assert_array_equal(p["biases"], fresh["biases"])


returns("Sharded-step-empty-batch",
        call(labels=np.zeros((0, 1), np.int64), inputs=np.zeros((0, D), np.float32)),
        _check_empty, "empty loss and input gradient; shard unchanged")
returns("Sharded-step-empty-batch-split", call(labels=np.zeros((0, 1), np.int64),
                                               inputs=np.zeros((0, D), np.float32), batch_split=True),
        _check_empty, "empty loss and input gradient; shard unchanged")


def _check_grads(r):
    (loss, grads), p = r
    assert loss.shape == (B,) and grads.inputs.shape == (B, D)
    ids = grads.weights.ids
    assert ids.dtype == np.int64 and np.all(np.diff(ids) > 0) and ids.min() >= 0 and ids.max() < C
    assert grads.weights.values.shape == (ids.size, D) and grads.biases.values.shape == (ids.size,)
    np.testing.assert_array_equal(p["weights"], problem()["weights"])  # loss() never writes


returns("Sharded-loss-return-grads", call("loss", return_grads=True), _check_grads,
        "loss, input gradient, sorted unique local gradient rows; shard unchanged")
returns("Sharded-step-int32-labels-readonly-fortran-inputs",
        call(labels=lambda p: p["labels"].astype(np.int32).reshape(-1),
             inputs=lambda p: readonly(np.asfortranarray(p["inputs"]))),
        lambda r: np.isfinite(r[0][0]).all(), "works (labels [B] accepted when num_true = 1)")
returns("Sharded-step-float64", call(dtype=np.float64),
        lambda r: r[0][0].dtype == np.float64 and np.isfinite(r[0][0]).all(), "float64 loss, finite")


# ====================================================== Word2Vec.train(comm=...)
def _w2v_train(loss="sampled_softmax", comm="self", **kw):
    from pysampled.word2vec import Word2Vec

    m = Word2Vec(dim=4, min_count=1, epochs=1, loss=loss, num_sampled=3, seed=2)
    m.build_vocab([["a", "b", "c", "d", "a", "b"]] * 20)
    before = m.syn0.copy()
    try:
        return m.train(progress=False, comm=SelfComm() if comm == "self" else comm, **kw), m
    except Exception:
        # a refused call changes nothing: no optimizer state, vectors as built
        assert m.accum0 is None and np.array_equal(m.syn0, before)
        raise


raises("w2v-train-comm-negative-loss", lambda: _w2v_train(loss="negative"), ValueError,
       "^training over MPI ranks needs loss='nce' or 'sampled_softmax'")
raises("w2v-train-comm-not-a-comm", lambda: _w2v_train(comm=object()), TypeError,
       "^comm must be an mpi4py intracommunicator")
raises("w2v-train-comm-timeout-0", lambda: _w2v_train(timeout=0), ValueError,
       "^timeout must be a positive number of seconds")
raises("w2v-train-comm-timeout-nan", lambda: _w2v_train(timeout=float("nan")), ValueError,
       "^timeout must be a positive number of seconds")
returns("w2v-train-comm-one-rank", lambda: _w2v_train(loss="nce"),
        lambda r: r[0]["finished"] and np.isfinite(r[0]["epochs"][0]["loss"])
        and np.isfinite(r[1].syn1).all(), "trains through the distributed path on one rank")
