"""The trainer's one-line progress display."""
from __future__ import annotations

import math
import sys
import time

__all__ = ["Progress"]


class Progress:
    """A one-line progress display on stderr: words/s, loss, learning rate, ETA."""

    def __init__(self, total: int, enabled: bool):
        self.total = max(1, total)
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = 0.0

    def update(self, done, done_this_run, loss, alpha, epoch):
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < 0.2 and done < self.total:
            return
        self.last = now
        elapsed = now - self.t0
        rate = done_this_run / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        frac = done / self.total
        bar = "#" * int(frac * 20) + "-" * (20 - int(frac * 20))
        eta_s = "--:--" if math.isinf(eta) else f"{int(eta) // 60:d}:{int(eta) % 60:02d}"
        sys.stderr.write(f"\repoch {epoch + 1} [{bar}] {frac * 100:5.1f}%  {rate / 1e6:6.2f}M words/s"
                         f"  loss {loss:.4f}  lr {alpha:.5f}  ETA {eta_s} ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
