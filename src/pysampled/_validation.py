"""Argument checking and conversion shared by the public modules.

Design: every public function validates here, before any C++ call, so the
Cython layer receives only int64/float C-contiguous arrays and sizes that
are already checked. Error messages follow TensorFlow's wording where TF has
one (SPEC §11), with TF's swapped "expected/was" values put right.
"""
from __future__ import annotations

import operator

import numpy as np


MAXINT32 = 2**31 - 1
_INT64_MAX = np.iinfo(np.int64).max
_DEFAULT_GRAPH_SEED = 87654321


def as_int(value, name: str) -> int:
    """`value` as a Python int (numpy integers accepted, bool and float refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


def int_at_least(value, name: str, minimum: int = 1) -> int:
    """An integer argument in ``[minimum, 2**63)`` (every size reaches C++ as int64)."""
    v = as_int(value, name)
    if v < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {v}")
    if v >= 2**63:
        raise ValueError(f"{name} must be less than 2**63, got {v}")
    return v


def check_attr_min(value, name: str, minimum: int = 1) -> int:
    v = as_int(value, name)
    if v < minimum:
        raise ValueError(f"Value for attr '{name}' of {v} must be at least minimum {minimum}")
    if v > _INT64_MAX:
        raise ValueError(f"Value for attr '{name}' of {v} does not fit in 64 bits")
    return v


def kernel_seeds(seed) -> tuple[int, int]:
    """TF's (seed, seed2) kernel attributes for a pysampled `seed` argument.

    None -> (0, 0): fresh OS-random seeds. An int s -> (87654321, s mod 2^31-1),
    what TF uses for op seed s with no global seed. A pair (g, s) -> TF's seeds
    for global seed g and op seed s; (0, 0) becomes (0, 2^31-1) as in TF.
    """
    if seed is None:
        return (0, 0)
    if isinstance(seed, (tuple, list)):
        if len(seed) != 2:
            raise ValueError("seed must be None, an int, or a pair (global_seed, op_seed)")
        g = as_int(seed[0], "global seed") % MAXINT32
        s = as_int(seed[1], "op seed") % MAXINT32
    else:
        g = _DEFAULT_GRAPH_SEED
        s = as_int(seed, "seed") % MAXINT32
    if g == 0 and s == 0:
        s = MAXINT32
    return (g, s)


def as_ids(values, name: str, ndim: int | None = None) -> np.ndarray:
    """Integer ids as an int64 array (copied only when not already int64, C-contiguous and aligned)."""
    a = values if type(values) is np.ndarray else np.asarray(values)
    if a.dtype != np.int64:
        if a.dtype.kind == "u":
            if a.size and a.max() > _INT64_MAX:
                raise ValueError(f"{name} holds values beyond the int64 range")
        elif a.dtype.kind != "i":
            if not (a.size == 0 and a.dtype.kind == "f"):  # np.asarray([]) is float64
                raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    if not a.flags.aligned:  # the C++ core reads them as int64_t
        a = a.copy()
    return a


def true_classes_matrix(true_classes, num_true: int) -> np.ndarray:
    """[batch, num_true] int64 ids, with TF's messages for bad shapes."""
    a = as_ids(true_classes, "true_classes")
    if a.ndim != 2:
        raise ValueError("true_classes must be a matrix")
    if a.shape[1] != num_true:
        raise ValueError(
            f"true_classes must have num_true columns, expected: {num_true} was: {a.shape[1]}"
        )
    return a


def __getattr__(name):
    # The thread policy moved to pysampled._threads; these names stay
    # importable from here for existing callers.
    if name in ("resolve_num_threads", "MAX_THREADS"):
        from . import _threads
        return getattr(_threads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
