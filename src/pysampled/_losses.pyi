"""Type stubs of the compiled loss bindings (see _losses.pyx)."""
import enum
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

class LossKind(enum.IntEnum):
    LOGITS = 0
    NCE = 1
    SOFTMAX = 2

class Optimizer(enum.IntEnum):
    NONE = -1
    SGD = 0
    ADAGRAD = 1

ADAGRAD_INITIAL_ACCUMULATOR: float
ADAGRAD_EPSILON: float

class KernelResult(NamedTuple):
    loss: Optional[np.ndarray]
    logits: Optional[np.ndarray]
    d_inputs: Optional[np.ndarray]
    grad_ids: Optional[np.ndarray]
    grad_weights: Optional[np.ndarray]
    grad_biases: Optional[np.ndarray]

class Shards:
    total_rows: int
    cols: int
    def __init__(self, arrays: list, div: bool) -> None: ...

def _run(kind: LossKind, inputs: np.ndarray, labels: np.ndarray, num_true: int,
         sampled: np.ndarray, tec: Optional[np.ndarray], sec: Optional[np.ndarray],
         weights: Shards, biases: Optional[Shards], subtract_log_q: bool,
         remove_accidental_hits: bool, mask_all_duplicates: bool, true_target: float,
         upstream: Optional[np.ndarray], want_grads: bool, want_logits: bool, num_threads: int,
         optimizer: Optimizer = ..., learning_rate: float = ..., epsilon: float = ...,
         weight_accum: Optional[Shards] = ..., bias_accum: Optional[Shards] = ...,
         hogwild: bool = ..., rounding: int = ..., rounding_seed: int = ...,
         rounding_step: int = ..., bf16_grads: bool = ...,
         bf16_weight_rows: Optional[np.dtype] = ...,
         bf16_bias_rows: Optional[np.dtype] = ...,
         inputs16: Optional[np.ndarray] = ...) -> KernelResult: ...

def locate(ids: np.ndarray, shard_rows: Sequence[int], div: bool,
           what: str = ...) -> Tuple[np.ndarray, np.ndarray]: ...

def sparse_adam_step(param: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                     ids: np.ndarray, grad: np.ndarray, one_minus_beta1: float,
                     one_minus_beta2: float, eps: float, neg_step_size: float, maximize: bool,
                     num_threads: int) -> None: ...

def bf16_to_float32(a: np.ndarray, num_threads: int = ...) -> np.ndarray: ...
def float32_to_bf16(a: np.ndarray, dtype: np.dtype, num_threads: int = ...) -> np.ndarray: ...
def _bf16_dot_available() -> bool: ...
def _set_bf16_dot_enabled(enabled: bool) -> bool: ...
def _set_bf16_dot_grads_enabled(enabled: bool) -> bool: ...
def _amx_bf16_available() -> bool: ...
def _set_amx_bf16_enabled(enabled: bool) -> bool: ...
