"""Calls beyond TF's API (in-batch softmax, the frequency estimator, the
vocabulary-parallel loss): must pass ``mypy --strict``."""
from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import pysampled as ps
from pysampled.distributed import ShardedSampledLoss, ShardedStepResult
from pysampled.retrieval import InBatchGrads

rng = np.random.default_rng(0)
q = rng.standard_normal((4, 8), dtype=np.float32)
c = rng.standard_normal((4, 8), dtype=np.float32)
ids = rng.integers(0, 100, 4)

est = ps.FrequencyEstimator(num_buckets=1024)
assert_type(est.update(ids), int)
log_q = est.log_q(ids, num_threads=1)
assert_type(log_q, np.ndarray)
assert_type(ps.in_batch_softmax_loss(q, c, ids, log_q, temperature=0.05), np.ndarray)
loss, grads = ps.in_batch_softmax_loss(q, c, return_grads=True)
assert_type(grads, InBatchGrads)
assert_type(grads.extra_candidates, "np.ndarray | None")


def sharded(comm: Any, w: npt.NDArray[np.float32]) -> ShardedStepResult:
    model = ShardedSampledLoss(comm, w, None, 100, num_sampled=8, optimizer="adagrad", seed=1)
    labels = rng.integers(0, 100, (4, 1))
    return model.step(labels, q, batch_split=True)
