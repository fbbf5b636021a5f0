#!/usr/bin/env python3
"""Two row kernels around the losses, alone, at every SIMD level this CPU has.

* The fused SparseAdam step (``pysampled.torch.SparseAdam``'s C++ kernel,
  ``_losses.sparse_adam_step``): a training step's sparse gradient of R
  distinct rows (R = 320: B = 256 + S = 64 of ``bench_torch.py``; R = 4,400:
  S = 4096) of width 64, in tables of 10^5 and 10^6 rows, each call on the
  next of 64 prepared id sets (as training sees them: scattered rows). One
  level: the kernel is compiled once (plain C++ the compiler vectorises).
* The bfloat16 <-> float32 array conversions the NumPy API runs on bfloat16
  inputs and results (``_losses.float32_to_bf16`` / ``bf16_to_float32``) on
  1,088 x 128 values, the gradient rows of one S = 64, B = 1024, D = 128
  call; per SIMD level (``kernels/convert.hpp``).

Best of 7 rounds of timed loops, 1 thread, microseconds per call. Usage::

    python benchmarks/bench_row_kernels.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from pysampled import _losses, _runtime  # noqa: E402


def best_us(fn, number, rounds=7):
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best * 1e6


def sparse_adam_rows():
    rng = np.random.default_rng(0)
    rows = []
    for n in (10**5, 10**6):
        p = rng.random((n, 64), dtype=np.float32)
        m, v = np.zeros_like(p), np.zeros_like(p)
        for r in (320, 4400):
            sets = [np.unique(rng.integers(0, n, r)) for _ in range(64)]
            g = rng.standard_normal((r, 64)).astype(np.float32)
            nxt = iter(sets * 10**6).__next__

            def step():
                ids = nxt()
                _losses.sparse_adam_step(p, m, v, ids, g[:len(ids)], 0.1, 0.001, 1e-8, -1e-3,
                                         False, 1)

            rows.append([f"{n:,}", r, f"{best_us(step, 2000 if r < 1000 else 200):.1f}"])
    return C.md_table(["table rows", "gradient rows", "µs per step"], rows)


def conversions():
    import ml_dtypes

    bf16 = ml_dtypes.bfloat16
    a = np.random.default_rng(1).standard_normal((1088, 128)).astype(np.float32)
    b = a.astype(bf16)
    old = _runtime.simd_level()
    top = _runtime.SIMD_LEVELS.index(_runtime.detected_simd_level())
    rows = []
    try:
        for level in _runtime.SIMD_LEVELS[:top + 1]:  # lowest first
            _runtime.set_simd_level(level)
            narrow = best_us(lambda: _losses.float32_to_bf16(a, bf16), 2000)
            wide = best_us(lambda: _losses.bf16_to_float32(b), 2000)
            rows.append([level, f"{narrow:.1f}", f"{wide:.1f}"])
    finally:
        _runtime.set_simd_level(old)
    rows.append(["ml_dtypes astype", f"{best_us(lambda: a.astype(bf16), 200):.1f}",
                 f"{best_us(lambda: b.astype(np.float32), 200):.1f}"])
    return C.md_table(["level", "float32 -> bfloat16 µs", "bfloat16 -> float32 µs"], rows)


def main():
    info = C.machine_info(peers=())
    levels = _runtime.SIMD_LEVELS[:_runtime.SIMD_LEVELS.index(_runtime.detected_simd_level()) + 1]
    print(f"CPU: {info['cpu'].get('model')}; SIMD levels: {', '.join(levels)}; "
          "1 thread, best of 7 rounds\n")
    print("Fused SparseAdam step, width 64 (one call per step)\n")
    print(sparse_adam_rows())
    print("\nbfloat16 conversions of 1,088 x 128 values (fresh output array per call)\n")
    print(conversions())


if __name__ == "__main__":
    main()
