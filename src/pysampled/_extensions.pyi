"""Type stubs of the compiled beyond-TF bindings (see _extensions.pyx)."""
from typing import Any, Optional, Tuple

import numpy as np

class Shards:
    total_rows: int
    cols: int
    def __init__(self, arrays: list, div: bool) -> None: ...

def _in_batch(query: np.ndarray, candidates: np.ndarray, extra: np.ndarray,
              log_q: Optional[np.ndarray], extra_log_q: Optional[np.ndarray],
              candidate_ids: Optional[np.ndarray], extra_ids: Optional[np.ndarray],
              remove_accidental_hits: bool, temperature: float, upstream: Optional[np.ndarray],
              want_grads: bool, want_logits: bool, num_threads: int) -> Tuple[Any, ...]: ...
def _freq_update(num_buckets: int, num_hashes: int, seed: int, alpha: float, last: np.ndarray,
                 acc: np.ndarray, count: np.ndarray, ids: np.ndarray, step: int) -> None: ...
def _freq_log_q(num_buckets: int, num_hashes: int, seed: int, alpha: float, last: np.ndarray,
                acc: np.ndarray, count: np.ndarray, ids: np.ndarray, default_gap: float,
                num_threads: int) -> np.ndarray: ...
def _freq_bucket(seed: int, h: int, num_buckets: int, id: int) -> int: ...
def _row_loss(kind: int, inputs: np.ndarray, labels: np.ndarray, row_splits: np.ndarray,
              sampled: np.ndarray, per_example: bool, num_sampled: int,
              tec: Optional[np.ndarray], sec: Optional[np.ndarray], weights: Shards,
              biases: Optional[Shards], subtract_log_q: bool, remove_accidental_hits: bool,
              true_target: float, upstream: Optional[np.ndarray], want_grads: bool,
              want_logits: bool, num_threads: int) -> Tuple[Any, ...]: ...
