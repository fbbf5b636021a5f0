"""Typical library calls: must pass ``mypy --strict``; assert_type pins what
the overloads return (``return_grads`` changes the return type)."""
from __future__ import annotations

from typing import Any, Union

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import pysampled as ps
from pysampled.losses import LossGrads, SparseRows, StepResult
from pysampled.samplers import CandidateSample

F = npt.NDArray[np.floating[Any]]
rng = np.random.default_rng(0)
weights = rng.standard_normal((100, 8), dtype=np.float32)
shards = [weights[:50], weights[50:]]
biases = np.zeros(100, dtype=np.float32)
inputs = rng.standard_normal((4, 8), dtype=np.float32)
labels = rng.integers(0, 100, (4, 1))

# samplers: functions, classes, state
s = ps.log_uniform_candidate_sampler(labels, 1, 8, True, 100, seed=(1, 2))
assert_type(s, CandidateSample)
assert_type(s.sampled_candidates, npt.NDArray[np.int64])
sampled, true_ec, sampled_ec = ps.uniform_candidate_sampler(labels, 1, 8, False, 100, seed=3)
assert_type(true_ec, npt.NDArray[np.float32])
ps.fixed_unigram_candidate_sampler(labels, 1, 8, True, 100, unigrams=np.ones(100), seed=None)
ps.learned_unigram_candidate_sampler(labels, 1, 8, True, 100)
ps.all_candidate_sampler(labels, 1, 100, True)
idx, ids, w = ps.compute_accidental_hits(labels, sampled, 1)
assert_type(idx, npt.NDArray[np.int32])
sampler = ps.LogUniformSampler(range_max=100, seed=7)
assert_type(sampler.sample(labels, num_sampled=8), CandidateSample)
assert_type(sampler.sample_bulk((10, 5), num_threads=-1), npt.NDArray[np.int64])
assert_type(sampler.copy(), ps.LogUniformSampler)
state = sampler.get_state()
sampler.set_state(state)
sampler.reset()
unigram = ps.FixedUnigramSampler(100, unigrams=np.arange(1, 101), distortion=0.75, seed=1)
assert_type(unigram.weights, npt.NDArray[np.float32])
assert_type(ps.LearnedUnigramSampler(100).counts, npt.NDArray[np.int64])
ps.reset_sampler_cache()

# losses: the return type follows return_grads
loss = ps.sampled_softmax_loss(weights, biases, labels, inputs, 8, 100, seed=1)
assert_type(loss, F)
loss, grads = ps.sampled_softmax_loss(shards, biases, labels, inputs, num_sampled=8,
                                      num_classes=100, partition_strategy="div",
                                      return_grads=True)
assert_type(grads, LossGrads)
assert_type(grads.weights, SparseRows)
assert_type(grads.weights.per_shard(), list[SparseRows])
assert_type(ps.nce_loss(weights, biases, labels, inputs, 8, 100), F)
assert_type(ps.nce_loss(weights, biases, labels, inputs, 8, 100, return_grads=True)[1], LossGrads)
assert_type(ps.sampled_sparse_softmax_loss(weights, biases, labels[:, 0], inputs, 8, 100), F)
logits, targets = ps.compute_sampled_logits(weights, None, labels, inputs, 8, 100,
                                            subtract_log_q=False)
assert_type(logits, F)
flag: bool = bool(rng.integers(2))
either = ps.nce_loss(weights, biases, labels, inputs, 8, 100, return_grads=flag)
assert_type(either, Union[F, tuple[F, LossGrads]])

# SampledLoss
model = ps.SampledLoss(weights, biases, num_sampled=8, loss="nce", optimizer="adagrad",
                       learning_rate=0.1, seed=1)
assert_type(model.step(labels, inputs), StepResult)
assert_type(model(labels, inputs), F)
assert_type(model(labels, inputs, return_grads=True), tuple[F, LossGrads])
assert_type(ps.openmp_enabled(), bool)
assert_type(ps.rank_sampled_softmax_loss(weights, biases, labels, inputs, 16, 8, 100, 1, None, 1.0,
                                         True, "mod", seed=1), F)
