# Type stubs of pysampled.losses (the runtime module keeps the docstrings).
# Keep in step with losses.py: tests/typing/test_typing.py runs mypy's stubtest
# on this module, so a signature that drifts from the code fails the tests.
# ``return_grads`` changes what the functions return: one overload per value
# (Literal[False], the default, and Literal[True]) plus a plain ``bool`` one.
from __future__ import annotations

from typing import Any, Literal, NamedTuple, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

from .samplers import CandidateSampler, CandidateSample, _Seed

__all__ = [
    "SparseRows",
    "LossGrads",
    "SampledLoss",
    "StepResult",
    "compute_sampled_logits",
    "nce_loss",
    "sampled_softmax_loss",
    "sampled_sparse_softmax_loss",
    "rank_sampled_softmax_loss",
]

#: Float arrays: float32 or float64 (the inputs decide the computing dtype).
_FloatArray = npt.NDArray[np.floating[Any]]
#: One weight matrix or a list of row shards (read in place, never copied).
_Weights = Union[npt.NDArray[np.floating[Any]], Sequence[npt.NDArray[np.floating[Any]]]]
#: _Biases: an array, a list of shards, or None.
_Biases = Union[npt.NDArray[np.floating[Any]], Sequence[npt.NDArray[np.floating[Any]]], None]
#: ``(sampled_candidates, true_expected_count, sampled_expected_count)``.
_SampledValues = Union[CandidateSample, Tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]]
_Strategy = Literal["mod", "div"]

class SparseRows:
    ids: npt.NDArray[np.int64]
    values: _FloatArray
    num_rows: int
    def __init__(self, ids: npt.NDArray[np.int64], values: _FloatArray, num_rows: int,
                 shard_rows: Sequence[int] | None = None, div: bool = False) -> None: ...
    def to_dense(self, num_rows: int | None = None) -> _FloatArray: ...
    def per_shard(self) -> list[SparseRows]: ...

class LossGrads(NamedTuple):
    inputs: _FloatArray
    weights: SparseRows
    biases: SparseRows | None

class StepResult(NamedTuple):
    loss: _FloatArray
    inputs_grad: _FloatArray

@overload
def nce_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike, inputs: npt.ArrayLike,
             num_sampled: int, num_classes: int, num_true: int = 1,
             sampled_values: _SampledValues | None = None, remove_accidental_hits: bool = False,
             partition_strategy: _Strategy = "mod", seed: _Seed = None, name: str | None = None,
             *, return_grads: Literal[False] = False, upstream: npt.ArrayLike | None = None,
             num_threads: int | None = None, mask_all_duplicates: bool = False,
             true_target: float | None = None,
             label_row_splits: npt.ArrayLike | None = None,
             negatives: Literal["shared", "per_example"] = "shared") -> _FloatArray: ...
@overload
def nce_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike, inputs: npt.ArrayLike,
             num_sampled: int, num_classes: int, num_true: int = 1,
             sampled_values: _SampledValues | None = None, remove_accidental_hits: bool = False,
             partition_strategy: _Strategy = "mod", seed: _Seed = None, name: str | None = None,
             *, return_grads: Literal[True], upstream: npt.ArrayLike | None = None,
             num_threads: int | None = None, mask_all_duplicates: bool = False,
             true_target: float | None = None,
             label_row_splits: npt.ArrayLike | None = None,
             negatives: Literal["shared", "per_example"] = "shared") -> tuple[_FloatArray, LossGrads]: ...
@overload
def nce_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike, inputs: npt.ArrayLike,
             num_sampled: int, num_classes: int, num_true: int = 1,
             sampled_values: _SampledValues | None = None, remove_accidental_hits: bool = False,
             partition_strategy: _Strategy = "mod", seed: _Seed = None, name: str | None = None,
             *, return_grads: bool, upstream: npt.ArrayLike | None = None,
             num_threads: int | None = None, mask_all_duplicates: bool = False,
             true_target: float | None = None,
             label_row_splits: npt.ArrayLike | None = None,
             negatives: Literal["shared", "per_example"] = "shared"
             ) -> _FloatArray | tuple[_FloatArray, LossGrads]: ...

@overload
def sampled_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                         inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                         num_true: int = 1, sampled_values: _SampledValues | None = None,
                         remove_accidental_hits: bool = True, partition_strategy: _Strategy = "mod",
                         seed: _Seed = None, name: str | None = None, *,
                         return_grads: Literal[False] = False,
                         upstream: npt.ArrayLike | None = None, num_threads: int | None = None,
                         mask_all_duplicates: bool = False,
             label_row_splits: npt.ArrayLike | None = None,
             negatives: Literal["shared", "per_example"] = "shared") -> _FloatArray: ...
@overload
def sampled_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                         inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                         num_true: int = 1, sampled_values: _SampledValues | None = None,
                         remove_accidental_hits: bool = True, partition_strategy: _Strategy = "mod",
                         seed: _Seed = None, name: str | None = None, *,
                         return_grads: Literal[True],
                         upstream: npt.ArrayLike | None = None, num_threads: int | None = None,
                         mask_all_duplicates: bool = False,
             label_row_splits: npt.ArrayLike | None = None,
             negatives: Literal["shared", "per_example"] = "shared") -> tuple[_FloatArray, LossGrads]: ...
@overload
def sampled_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                         inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                         num_true: int = 1, sampled_values: _SampledValues | None = None,
                         remove_accidental_hits: bool = True, partition_strategy: _Strategy = "mod",
                         seed: _Seed = None, name: str | None = None, *, return_grads: bool,
                         upstream: npt.ArrayLike | None = None, num_threads: int | None = None,
                         mask_all_duplicates: bool = False,
             label_row_splits: npt.ArrayLike | None = None,
             negatives: Literal["shared", "per_example"] = "shared"
             ) -> _FloatArray | tuple[_FloatArray, LossGrads]: ...

@overload
def sampled_sparse_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                                inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                                sampled_values: _SampledValues | None = None,
                                remove_accidental_hits: bool = True,
                                partition_strategy: _Strategy = "mod", name: str | None = None, *,
                                seed: _Seed = None, return_grads: Literal[False] = False,
                                upstream: npt.ArrayLike | None = None,
                                num_threads: int | None = None,
                                mask_all_duplicates: bool = False) -> _FloatArray: ...
@overload
def sampled_sparse_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                                inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                                sampled_values: _SampledValues | None = None,
                                remove_accidental_hits: bool = True,
                                partition_strategy: _Strategy = "mod", name: str | None = None, *,
                                seed: _Seed = None, return_grads: Literal[True],
                                upstream: npt.ArrayLike | None = None,
                                num_threads: int | None = None,
                                mask_all_duplicates: bool = False
                                ) -> tuple[_FloatArray, LossGrads]: ...
@overload
def sampled_sparse_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                                inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                                sampled_values: _SampledValues | None = None,
                                remove_accidental_hits: bool = True,
                                partition_strategy: _Strategy = "mod", name: str | None = None, *,
                                seed: _Seed = None, return_grads: bool,
                                upstream: npt.ArrayLike | None = None,
                                num_threads: int | None = None,
                                mask_all_duplicates: bool = False
                                ) -> _FloatArray | tuple[_FloatArray, LossGrads]: ...

@overload
def rank_sampled_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                              inputs: npt.ArrayLike, num_sampled: int, num_resampled: int,
                              num_classes: int, num_true: int,
                              sampled_values: _SampledValues | None,
                              resampling_temperature: float, remove_accidental_hits: bool,
                              partition_strategy: _Strategy, name: str | None = None, *,
                              seed: _Seed = None, return_grads: Literal[False] = False,
                              upstream: npt.ArrayLike | None = None,
                              num_threads: int | None = None,
                              mask_all_duplicates: bool = False) -> _FloatArray: ...
@overload
def rank_sampled_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                              inputs: npt.ArrayLike, num_sampled: int, num_resampled: int,
                              num_classes: int, num_true: int,
                              sampled_values: _SampledValues | None,
                              resampling_temperature: float, remove_accidental_hits: bool,
                              partition_strategy: _Strategy, name: str | None = None, *,
                              seed: _Seed = None, return_grads: Literal[True],
                              upstream: npt.ArrayLike | None = None,
                              num_threads: int | None = None,
                              mask_all_duplicates: bool = False) -> tuple[_FloatArray, LossGrads]: ...
@overload
def rank_sampled_softmax_loss(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                              inputs: npt.ArrayLike, num_sampled: int, num_resampled: int,
                              num_classes: int, num_true: int,
                              sampled_values: _SampledValues | None,
                              resampling_temperature: float, remove_accidental_hits: bool,
                              partition_strategy: _Strategy, name: str | None = None, *,
                              seed: _Seed = None, return_grads: bool,
                              upstream: npt.ArrayLike | None = None,
                              num_threads: int | None = None,
                              mask_all_duplicates: bool = False
                              ) -> _FloatArray | tuple[_FloatArray, LossGrads]: ...

@overload
def compute_sampled_logits(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                           inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                           num_true: int = 1, sampled_values: _SampledValues | None = None,
                           subtract_log_q: bool = True, remove_accidental_hits: bool = False,
                           partition_strategy: _Strategy = "mod", seed: _Seed = None,
                           name: str | None = None, *, return_grads: Literal[False] = False,
                           upstream: npt.ArrayLike | None = None, num_threads: int | None = None,
                           mask_all_duplicates: bool = False,
             negatives: Literal["shared", "per_example"] = "shared") -> tuple[_FloatArray, _FloatArray]: ...
@overload
def compute_sampled_logits(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                           inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                           num_true: int = 1, sampled_values: _SampledValues | None = None,
                           subtract_log_q: bool = True, remove_accidental_hits: bool = False,
                           partition_strategy: _Strategy = "mod", seed: _Seed = None,
                           name: str | None = None, *, return_grads: Literal[True],
                           upstream: npt.ArrayLike | None = None, num_threads: int | None = None,
                           mask_all_duplicates: bool = False,
             negatives: Literal["shared", "per_example"] = "shared"
             ) -> tuple[_FloatArray, _FloatArray, LossGrads]: ...
@overload
def compute_sampled_logits(weights: _Weights, biases: _Biases, labels: npt.ArrayLike,
                           inputs: npt.ArrayLike, num_sampled: int, num_classes: int,
                           num_true: int = 1, sampled_values: _SampledValues | None = None,
                           subtract_log_q: bool = True, remove_accidental_hits: bool = False,
                           partition_strategy: _Strategy = "mod", seed: _Seed = None,
                           name: str | None = None, *, return_grads: bool,
                           upstream: npt.ArrayLike | None = None, num_threads: int | None = None,
                           mask_all_duplicates: bool = False,
             negatives: Literal["shared", "per_example"] = "shared") -> (tuple[_FloatArray, _FloatArray]
                                 | tuple[_FloatArray, _FloatArray, LossGrads]): ...

class SampledLoss:
    num_sampled: int
    loss: Literal["sampled_softmax", "nce"]
    num_true: int
    sampler: CandidateSampler
    unique: bool
    remove_accidental_hits: bool
    subtract_log_q: bool
    partition_strategy: _Strategy
    optimizer: Literal["sgd", "adagrad"]
    learning_rate: float
    epsilon: float
    hogwild: bool
    num_threads: int | None
    mask_all_duplicates: bool
    true_target: float | None
    grad_precision: Literal["float32", "bfloat16"]
    def __init__(self, weights: _Weights, biases: _Biases = None, *, num_sampled: int,
                 loss: Literal["sampled_softmax", "nce"] = "sampled_softmax", num_true: int = 1,
                 sampler: CandidateSampler | None = None, unique: bool = True,
                 remove_accidental_hits: bool | None = None, subtract_log_q: bool = True,
                 partition_strategy: _Strategy = "mod",
                 optimizer: Literal["sgd", "adagrad"] = "sgd", learning_rate: float = 0.1,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7,
                 hogwild: bool = False, num_threads: int | None = None, seed: _Seed = None,
                 mask_all_duplicates: bool = False, true_target: float | None = None,
                 bf16_rounding: Literal["nearest", "stochastic"] = "nearest",
                 rounding_seed: int = 0,
                 negatives: Literal["shared", "per_example"] = "shared",
                 grad_precision: Literal["float32", "bfloat16"] = "float32") -> None: ...
    @property
    def weights(self) -> list[_FloatArray]: ...
    @property
    def biases(self) -> list[_FloatArray] | None: ...
    @property
    def accumulators(self) -> tuple[list[_FloatArray], list[_FloatArray] | None] | None: ...
    def sample(self, labels: npt.ArrayLike) -> CandidateSample: ...
    @overload
    def __call__(self, labels: npt.ArrayLike, inputs: npt.ArrayLike, *,
                 sampled_values: _SampledValues | None = None, return_grads: Literal[False] = False,
                 upstream: npt.ArrayLike | None = None,
                 label_row_splits: npt.ArrayLike | None = None) -> _FloatArray: ...
    @overload
    def __call__(self, labels: npt.ArrayLike, inputs: npt.ArrayLike, *,
                 sampled_values: _SampledValues | None = None, return_grads: Literal[True],
                 upstream: npt.ArrayLike | None = None,
                 label_row_splits: npt.ArrayLike | None = None) -> tuple[_FloatArray, LossGrads]: ...
    @overload
    def __call__(self, labels: npt.ArrayLike, inputs: npt.ArrayLike, *,
                 sampled_values: _SampledValues | None = None, return_grads: bool,
                 upstream: npt.ArrayLike | None = None,
                 label_row_splits: npt.ArrayLike | None = None
                 ) -> _FloatArray | tuple[_FloatArray, LossGrads]: ...
    def step(self, labels: npt.ArrayLike, inputs: npt.ArrayLike, *,
             learning_rate: float | None = None, upstream: npt.ArrayLike | None = None,
             sampled_values: _SampledValues | None = None,
             label_row_splits: npt.ArrayLike | None = None) -> StepResult: ...
