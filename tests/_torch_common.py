"""Shared preamble and helpers of the PyTorch test modules (not a test module).

Importing this module skips the importing test module where torch cannot run
here: in the sanitizer stage (its ASan venv has no torch), and, outside CI,
where torch is not installed. In CI (``CI=true``) torch must be installed:
a missing torch fails the import instead of skipping.
"""
import os

import numpy as np
import pytest

from _sanitizer import SANITIZED

if SANITIZED:
    pytest.skip("torch is not installed in the sanitizer venv", allow_module_level=True)
if os.environ.get("CI") == "true":
    import torch  # noqa: F401  (CI installs torch==2.13.0: a missing torch must fail here)
else:
    pytest.importorskip("torch")

import torch  # noqa: E402

FLT_MAX = float(np.finfo(np.float32).max)


def shard_sizes(n, p, strategy):
    if strategy == "div":
        q, r = divmod(n, p)
        return [q + 1 if i < r else q for i in range(p)]
    return [len(range(i, n, p)) for i in range(p)]


def full_table(shards, strategy):
    """The shards reassembled into the [num_classes, ...] table (class order)."""
    if len(shards) == 1 or strategy == "div":
        return torch.cat(list(shards))
    n = sum(s.shape[0] for s in shards)
    out = shards[0].new_empty((n,) + tuple(shards[0].shape[1:]))
    for p, s in enumerate(shards):
        out[p::len(shards)] = s
    return out


def params(p):
    return [p["x"]] + p["ws"] + ([] if p["bs"] is None else p["bs"])


def clear(p):
    for t in params(p):
        t.grad = None
