"""Type stubs of the compiled loss bindings (see _losses.pyx)."""
from typing import Any, Optional, Tuple

import numpy as np

class Shards:
    total_rows: int
    cols: int
    def __init__(self, arrays: list, div: bool) -> None: ...

def _run(kind: int, inputs: np.ndarray, labels: np.ndarray, num_true: int, sampled: np.ndarray,
         tec: Optional[np.ndarray], sec: Optional[np.ndarray], weights: Shards,
         biases: Optional[Shards], subtract_log_q: bool, remove_accidental_hits: bool,
         mask_all_duplicates: bool, nce_true_target: float, upstream: Optional[np.ndarray],
         want_grads: bool, want_logits: bool, num_threads: int, optimizer: int = ...,
         learning_rate: float = ..., epsilon: float = ..., weight_accum: Optional[Shards] = ...,
         bias_accum: Optional[Shards] = ..., hogwild: bool = ...) -> Tuple[Any, ...]: ...
