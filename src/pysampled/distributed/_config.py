"""Construction of a :class:`ShardedSampledLoss`: the shard layout, the
validation of one rank's arguments, and the ranks' agreement on them.

Design: each rank validates its own arguments without communicating, then
every rank (valid or not) takes part in one allgather of a fixed-size int64
header: a validity flag and the fields every rank must share. A rank whose
arguments are bad raises its own error; the others raise
:class:`DistributedError` naming it, instead of hanging in a later
collective. ``seed=None`` is resolved here too: rank 0's draw is shared.
"""
from __future__ import annotations

import zlib
from typing import NamedTuple, Optional

import numpy as np

from .._threads import resolve_num_threads
from .._validation import check_attr_min, kernel_seeds
# losses.pyi types the public API only, not this private helper
from ..losses import _shard_list  # type: ignore[attr-defined]
from ._channel import DistributedError, slice_starts

__all__ = ["Settings", "agree_on_arguments", "agreed_settings", "check_comm", "global_ids",
           "shard_rows", "validate_arguments"]

_NFIELDS = 24  # room for the agreed constructor arguments (18 today)
_LOSS_CODES = {"sampled_softmax": 0, "nce": 1}
_OPT_CODES = {"sgd": 0, "adagrad": 1}  # in the agreement header
SEED_DRAWN = "seed drawn on rank 0"  # the one field the ranks do not compare


def shard_rows(num_classes: int, num_shards: int) -> list:
    """Rows of each shard for ``num_classes`` classes over ``num_shards``
    shards: the first ``num_classes % num_shards`` shards have one row more.

    This is the layout of both TF strategies: ``mod`` (class ``c`` on shard
    ``c % num_shards``, row ``c // num_shards``) and ``div`` (contiguous
    blocks).
    """
    n = check_attr_min(num_classes, "num_classes")
    k = check_attr_min(num_shards, "num_shards")
    q, r = divmod(n, k)
    return [q + 1 if i < r else q for i in range(k)]


def global_ids(local_rows, rows, rank, div):
    """Class ids of rank ``rank``'s local rows (``rows``: every shard's size)."""
    local = np.asarray(local_rows, dtype=np.int64)
    K = len(rows)
    if not div or K == 1:
        return local * K + rank if K > 1 else local.copy()
    return slice_starts(rows)[rank] + local


def check_comm(comm, timeout, on_timeout):
    """The checks made before any collective can run; returns ``timeout`` as a float."""
    for attr in ("Get_size", "Get_rank", "Iallgather", "Iallgatherv", "Ialltoallv", "Abort"):
        if not callable(getattr(comm, attr, None)):
            raise TypeError(f"comm must be an mpi4py intracommunicator (it has no {attr}())")
    timeout = float(timeout)
    if not (np.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    if on_timeout not in ("abort", "raise"):
        raise ValueError(f"on_timeout must be 'abort' or 'raise', got {on_timeout!r}")
    return timeout


class Settings(NamedTuple):
    """One rank's validated constructor arguments."""

    num_classes: int
    num_sampled: int
    num_true: int
    weights: np.ndarray
    biases: Optional[np.ndarray]
    rows: list  # every shard's size (shard_rows)
    learning_rate: float
    epsilon: float
    initial_accumulator_value: float
    fields: dict  # what every rank must agree on, as int64 values


def validate_arguments(K, r, local_weights, local_biases, num_classes, *, partition_strategy,
                       loss, num_sampled, num_true, sampler, remove_accidental_hits,
                       subtract_log_q, optimizer, learning_rate, initial_accumulator_value,
                       epsilon, seed, true_target, num_threads):
    """Check rank ``r``'s arguments (``K`` ranks), in the order of the messages users see."""
    _check_choices(loss, optimizer, partition_strategy)
    if num_classes is None:
        raise TypeError("num_classes is required (the rows of the whole table)")
    n = check_attr_min(num_classes, "num_classes")
    n_sampled = check_attr_min(num_sampled, "num_sampled")
    n_true = check_attr_min(num_true, "num_true")
    w, b, rows = _check_shards(local_weights, local_biases, n, partition_strategy, K, r)
    lr, eps = float(learning_rate), float(epsilon)
    init = float(initial_accumulator_value)
    if optimizer == "adagrad" and not init > 0:
        raise ValueError("initial_accumulator_value must be positive")
    if true_target is not None and not (np.isfinite(true_target) and true_target > 0):
        raise ValueError("true_target must be a positive number")
    kind, srange, seeds = _sampler_identity(sampler, seed, n)
    resolve_num_threads(num_threads)
    fields = {
        "num_classes": n, "partition_strategy": int(partition_strategy == "div"),
        "loss": _LOSS_CODES[loss], "optimizer": _OPT_CODES[optimizer],
        "num_sampled": n_sampled, "num_true": n_true, "dim": w.shape[1],
        "dtype": int(w.dtype == np.float64), "biases": int(b is not None),
        "sampler": kind, "sampler range": srange, "seed": seeds[0], "seed2": seeds[1],
        "learning_rate": int(np.float64(lr).view(np.int64)),
        "remove_accidental_hits": (-1 if remove_accidental_hits is None
                                   else int(bool(remove_accidental_hits))),
        "subtract_log_q": int(bool(subtract_log_q)),
        "true_target": 0 if true_target is None else int(np.float64(true_target).view(np.int64)),
        SEED_DRAWN: int(np.random.SeedSequence().entropy % (2**31 - 1))
        if (sampler is None and seed is None) else 0,
    }
    return Settings(n, n_sampled, n_true, w, b, rows, lr, eps, init, fields)


def _check_choices(loss, optimizer, partition_strategy):
    if loss not in _LOSS_CODES:
        raise ValueError(f"loss must be 'sampled_softmax' or 'nce', got {loss!r}")
    if optimizer not in _OPT_CODES:
        raise ValueError(f"optimizer must be 'sgd' or 'adagrad', got {optimizer!r}")
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}."
                         "Must be one of either `mod` or `div`.")


def _check_shards(local_weights, local_biases, num_classes, partition_strategy, K, r):
    """The local arrays against the layout of ``num_classes`` rows over ``K`` ranks."""
    (w,) = _shard_list(local_weights, "local_weights", 2)
    b = None
    if local_biases is not None:
        (b,) = _shard_list(local_biases, "local_biases", 1)
        if b.dtype != w.dtype:
            raise TypeError(f"local_biases must have the dtype of local_weights ({w.dtype}), "
                            f"got {b.dtype}")
    if partition_strategy == "div" and 1 < K and num_classes < K:
        raise ValueError(f"partition_strategy='div' needs at least one row per shard: "
                         f"{num_classes} rows over {K} shards (TF fails with "
                         "'Integer division by zero'); use 'mod' or fewer ranks")
    rows = shard_rows(num_classes, K)
    if w.shape[0] != rows[r]:
        raise ValueError(f"rank {r} of {K} owns {rows[r]} of the {num_classes} "
                         f"classes, but local_weights has {w.shape[0]} rows")
    if b is not None and b.shape[0] != rows[r]:
        raise ValueError(f"rank {r} of {K} owns {rows[r]} of the {num_classes} "
                         f"classes, but local_biases has {b.shape[0]} entries")
    return w, b, rows


def _sampler_identity(sampler, seed, num_classes):
    """``(kind, range, seeds)`` the ranks compare: 0 and the table for the default
    sampler, else a checksum of the sampler's type, its range and its seeds."""
    from ..samplers import CandidateSampler

    if sampler is None:
        return 0, num_classes, kernel_seeds(seed)
    if not isinstance(sampler, CandidateSampler):
        raise TypeError("sampler must be a pysampled CandidateSampler")
    if sampler.range_max > num_classes:
        raise ValueError(f"the sampler draws from {sampler.range_max} classes but the "
                         f"table has {num_classes} rows")
    if tuple(sampler.kernel_seeds) == (0, 0):
        raise ValueError("a sampler shared by the ranks needs an explicit seed (seed=None "
                         "draws different OS-random seeds on each rank)")
    seeds = tuple(int(s) for s in sampler.kernel_seeds)
    return zlib.crc32(type(sampler).__name__.encode()), sampler.range_max, seeds


def agreed_settings(ch, local_weights, local_biases, num_classes, **options):
    """This rank's :class:`Settings` and rank 0's agreed fields, once every
    rank has validated its arguments (``options``: the keyword arguments of
    :func:`validate_arguments`) and the ranks agree; else every rank raises."""
    settings = error = None
    try:
        settings = validate_arguments(ch.size, ch.rank, local_weights, local_biases, num_classes,
                                      **options)
    except Exception as e:  # every rank must still take part in the agreement
        error = e
    agreed = agree_on_arguments(ch, {} if settings is None else settings.fields, error)
    assert settings is not None  # agree_on_arguments raised otherwise
    return settings, agreed


def agree_on_arguments(ch, fields, error):
    """Allgather every rank's validity and ``fields``; raise ``error`` (this
    rank's own) or :class:`DistributedError` (another rank's, or a
    disagreement). Returns rank 0's fields."""
    names = list(fields) if fields else []
    header = np.zeros(1 + _NFIELDS, dtype=np.int64)
    header[0] = 0 if error is not None else 1
    for i, name in enumerate(names):
        header[1 + i] = fields[name]
    allh = ch.allgather(header, "agree on the arguments")
    if error is not None:
        raise error
    K = ch.size
    bad = [k for k in range(K) if allh[k, 0] != 1]
    if bad:
        raise DistributedError(f"rank(s) {bad} of {K} rejected their arguments to "
                               "ShardedSampledLoss (see their error)")
    for i, name in enumerate(names):
        if name == SEED_DRAWN:
            continue
        col = allh[:, 1 + i]
        if np.any(col != col[0]):
            raise DistributedError(f"the ranks disagree on {name}: every rank must construct "
                                   "ShardedSampledLoss with the same arguments")
    return {name: int(allh[0, 1 + i]) for i, name in enumerate(names)}
