"""Array helpers of the trainer."""
from __future__ import annotations

import numpy as np

__all__ = ["aligned_zeros"]


def aligned_zeros(shape, align=64) -> np.ndarray:
    """float32 zeros whose data starts on an `align`-byte boundary (rows of a
    multiple of 16 floats then never straddle cache lines)."""
    n = int(np.prod(shape))
    raw = np.zeros(n + align // 4, dtype=np.float32)
    offset = (-raw.ctypes.data % align) // 4
    return raw[offset:offset + n].reshape(shape)
