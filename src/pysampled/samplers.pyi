# Type stubs of pysampled.samplers (the runtime module keeps the docstrings).
# Keep in step with samplers.py: tests/typing/test_typing.py runs mypy's stubtest
# on this module, so a signature that drifts from the code fails the tests.
from __future__ import annotations

import os
from typing import Any, NamedTuple, Sequence, Tuple, TypeVar, Union

import numpy as np
import numpy.typing as npt

__all__ = [
    "CandidateSample",
    "CandidateSampler",
    "UniformSampler",
    "LogUniformSampler",
    "LearnedUnigramSampler",
    "FixedUnigramSampler",
    "uniform_candidate_sampler",
    "log_uniform_candidate_sampler",
    "fixed_unigram_candidate_sampler",
    "learned_unigram_candidate_sampler",
    "all_candidate_sampler",
    "compute_accidental_hits",
    "reset_sampler_cache",
]

#: A sampler seed: None (OS-random), an op seed, or (global seed, op seed).
_Seed = Union[None, int, Tuple[int, int], Sequence[int]]
#: Integer class ids: an array, a nested sequence or a scalar.
_Ids = npt.ArrayLike
_S = TypeVar("_S", bound="CandidateSampler")

class CandidateSample(NamedTuple):
    sampled_candidates: npt.NDArray[np.int64]
    true_expected_count: npt.NDArray[np.float32]
    sampled_expected_count: npt.NDArray[np.float32]

class CandidateSampler:
    kind: str
    def __init__(self, range_max: int, seed: _Seed = None) -> None: ...
    @property
    def range_max(self) -> int: ...
    @property
    def seed(self) -> _Seed: ...
    @property
    def kernel_seeds(self) -> tuple[int, int]: ...
    def sample(self, true_classes: _Ids, num_sampled: int, unique: bool = True,
               num_true: int | None = None) -> CandidateSample: ...
    def sample_bulk(self, size: int | Sequence[int], num_threads: int | None = None,
                    out: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]: ...
    def probability(self, ids: _Ids) -> npt.NDArray[np.float32]: ...
    def get_state(self) -> dict[str, Any]: ...
    def set_state(self, state: dict[str, Any]) -> None: ...
    def reset(self) -> None: ...
    def copy(self: _S) -> _S: ...
    def __copy__(self: _S) -> _S: ...
    def __deepcopy__(self: _S, memo: Any) -> _S: ...
    def __reduce__(self) -> tuple[Any, ...]: ...

class UniformSampler(CandidateSampler): ...
class LogUniformSampler(CandidateSampler): ...

class LearnedUnigramSampler(CandidateSampler):
    @property
    def counts(self) -> npt.NDArray[np.int64]: ...
    def update(self, true_classes: _Ids) -> None: ...

class FixedUnigramSampler(CandidateSampler):
    def __init__(self, range_max: int, unigrams: npt.ArrayLike | None = None,
                 vocab_file: str | os.PathLike[str] | None = None, distortion: float = 1.0,
                 num_reserved_ids: int = 0, num_shards: int = 1, shard: int = 0,
                 seed: _Seed = None, correct_reserved_ids: bool = False) -> None: ...
    @property
    def weights(self) -> npt.NDArray[np.float32]: ...

def read_vocab_file(path: str | os.PathLike[str]) -> npt.NDArray[np.float32]: ...
def reset_sampler_cache() -> None: ...
def uniform_candidate_sampler(true_classes: _Ids, num_true: int, num_sampled: int, unique: bool,
                              range_max: int, seed: _Seed = None,
                              name: str | None = None) -> CandidateSample: ...
def log_uniform_candidate_sampler(true_classes: _Ids, num_true: int, num_sampled: int,
                                  unique: bool, range_max: int, seed: _Seed = None,
                                  name: str | None = None) -> CandidateSample: ...
def learned_unigram_candidate_sampler(true_classes: _Ids, num_true: int, num_sampled: int,
                                      unique: bool, range_max: int, seed: _Seed = None,
                                      name: str | None = None) -> CandidateSample: ...
def fixed_unigram_candidate_sampler(true_classes: _Ids, num_true: int, num_sampled: int,
                                    unique: bool, range_max: int,
                                    vocab_file: str | os.PathLike[str] = "",
                                    distortion: float = 1.0, num_reserved_ids: int = 0,
                                    num_shards: int = 1, shard: int = 0,
                                    unigrams: npt.ArrayLike = (), seed: _Seed = None,
                                    name: str | None = None,
                                    correct_reserved_ids: bool = False) -> CandidateSample: ...
def all_candidate_sampler(true_classes: _Ids, num_true: int, num_sampled: int, unique: bool,
                          seed: _Seed = None, name: str | None = None) -> CandidateSample: ...
def compute_accidental_hits(
    true_classes: _Ids, sampled_candidates: _Ids, num_true: int, seed: _Seed = None,
    name: str | None = None, mask_all_duplicates: bool = False, *,
    all_duplicates: bool | None = None,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
