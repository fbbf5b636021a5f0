"""Two-tower retrieval losses beyond TensorFlow: in-batch (and mixed)
negatives with sampling-bias correction, and the streaming frequency
estimator that supplies that correction.

Design: this module validates, resolves defaults and documents; the work is
one call into C++ (`pysampled._extensions`) with the GIL released. The
caller's arrays are read in place (never written); arrays whose rows are not
contiguous or that are not aligned are copied once (``B * D`` elements).

References: Yi et al. 2019, "Sampling-bias-corrected neural modeling for
large corpus item recommendations" (RecSys); Yang et al. 2020, "Mixed
negative sampling for learning two-tower neural networks in
recommendations" (WWW).
"""
from __future__ import annotations

import math
import numbers
import os
import threading
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from . import _extensions
from ._atomic import atomic_write
from ._threads import resolve_num_threads
from ._validation import as_ids, as_int

__all__ = ["FrequencyEstimator", "InBatchGrads", "in_batch_softmax_loss"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class InBatchGrads(NamedTuple):
    """Dense gradients of ``sum(upstream * loss)`` from :func:`in_batch_softmax_loss`."""

    query: np.ndarray  #: ``[B, D]``
    candidates: np.ndarray  #: ``[B, D]``
    extra_candidates: np.ndarray | None  #: ``[S, D]``, None without extra candidates


def _rows(a, name, dtype, shape=None):
    """A 2-D float array of `dtype` with unit stride within rows (copied only if needed)."""
    if not isinstance(a, np.ndarray):
        a = np.asarray(a)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have the query's dtype {dtype}, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    inner_ok = a.shape[1] <= 1 or a.strides[1] == a.itemsize
    if not inner_ok or not a.flags.aligned or (a.shape[0] > 0 and a.strides[0] % a.itemsize):
        a = np.ascontiguousarray(a)
        if not a.flags.aligned:
            a = a.copy()
    if a.shape[0] <= 1 or a.shape[1] == 0:  # strides of such arrays are arbitrary
        a = np.ascontiguousarray(a)
    return a


def _vector(v, name, n, dtype, finite=False):
    a = np.asarray(v)
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    a = np.ascontiguousarray(a, dtype=dtype)
    if not a.flags.aligned:
        a = a.copy()
    if finite and not np.all(np.isfinite(a)):
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name}[{bad}] = {a[bad]} is not finite")
    return a


@overload
def in_batch_softmax_loss(query: npt.ArrayLike, candidates: npt.ArrayLike,
                          candidate_ids: npt.ArrayLike | None = ...,
                          log_q: npt.ArrayLike | None = ...,
                          extra_candidates: npt.ArrayLike | None = ...,
                          extra_ids: npt.ArrayLike | None = ...,
                          extra_log_q: npt.ArrayLike | None = ..., temperature: float = ...,
                          remove_accidental_hits: bool = ...,
                          upstream: npt.ArrayLike | None = ..., *,
                          return_grads: Literal[False] = ...,
                          num_threads: int | None = ...) -> np.ndarray: ...
@overload
def in_batch_softmax_loss(query: npt.ArrayLike, candidates: npt.ArrayLike,
                          candidate_ids: npt.ArrayLike | None = ...,
                          log_q: npt.ArrayLike | None = ...,
                          extra_candidates: npt.ArrayLike | None = ...,
                          extra_ids: npt.ArrayLike | None = ...,
                          extra_log_q: npt.ArrayLike | None = ..., temperature: float = ...,
                          remove_accidental_hits: bool = ...,
                          upstream: npt.ArrayLike | None = ..., *, return_grads: Literal[True],
                          num_threads: int | None = ...) -> tuple[np.ndarray, InBatchGrads]: ...
def in_batch_softmax_loss(query: npt.ArrayLike, candidates: npt.ArrayLike,
                          candidate_ids: npt.ArrayLike | None = None,
                          log_q: npt.ArrayLike | None = None,
                          extra_candidates: npt.ArrayLike | None = None,
                          extra_ids: npt.ArrayLike | None = None,
                          extra_log_q: npt.ArrayLike | None = None, temperature: float = 1.0,
                          remove_accidental_hits: bool = True,
                          upstream: npt.ArrayLike | None = None, return_grads: bool = False,
                          num_threads: int | None = None
                          ) -> np.ndarray | tuple[np.ndarray, InBatchGrads]:
    """Softmax cross-entropy over in-batch (and extra shared) negatives.

    The loss of two-tower retrieval models: example ``i``'s positive is row
    ``i`` of ``candidates`` and every other row of the batch is one of its
    negatives, optionally with ``S`` extra negatives shared by all examples
    (mixed negative sampling, Yang et al. 2020). ``log_q`` corrects for how
    often each candidate appears as a negative (Yi et al. 2019).

    Parameters
    ----------
    query : ndarray ``[B, D]``
        Query-tower outputs, float32 or float64 (decides the dtype of
        everything else).
    candidates : ndarray ``[B, D]``
        Candidate-tower outputs, same dtype; row ``i`` is example ``i``'s positive.
    candidate_ids : array_like of int ``[B]``, optional
        Item ids of the candidates, for ``remove_accidental_hits``.
    log_q : array_like ``[B]``, optional
        Log sampling probability of each in-batch candidate (for example
        :meth:`FrequencyEstimator.log_q`); omitted means 0. Must be finite.
    extra_candidates : ndarray ``[S, D]``, optional
        Extra negatives shared by every example (same dtype as ``query``).
    extra_ids : array_like of int ``[S]``, optional
        Their item ids (needs ``candidate_ids``).
    extra_log_q : array_like ``[S]``, optional
        Their log sampling probabilities; omitted means 0. Must be finite.
    temperature : float
        Positive divisor of the dot products.
    remove_accidental_hits : bool
        With ids given, mask out of example ``i``'s softmax every column whose
        item is example ``i``'s positive item (see Notes).
    upstream : array_like ``[B]``, optional
        Per-example weights for the gradients (default ones).
    return_grads : bool
        Also return :class:`InBatchGrads`, the dense gradients of
        ``sum(upstream * loss)``.
    num_threads : int, optional
        None: what OpenMP allows; -1: all cores. Results are bit-identical
        for any value.

    Returns
    -------
    loss : ndarray ``[B]``
        ``loss_i = logsumexp(l_i) - l_ii`` (see Notes).
    grads : InBatchGrads
        Only with ``return_grads=True``.

    Notes
    -----
    Example ``i``'s logits (``B + S`` columns) are::

        l_ij     = ((query_i . candidates_j) / temperature + m_ij) - log_q_j     for j < B
        l_i,B+k  = ((query_i . extra_k) / temperature + m_i,B+k) - extra_log_q_k

    The mask ``m`` is ``-FLT_MAX`` (float32's largest finite value, also in
    float64: TensorFlow's treatment of accidental hits) where
    ``remove_accidental_hits`` is set and the column is an accidental hit, 0
    elsewhere. An in-batch column ``j != i`` is a hit when
    ``candidate_ids[j] == candidate_ids[i]``; an extra column ``k`` when
    ``extra_ids[k] == candidate_ids[i]``. The target column ``i`` is never
    masked. A masked column's softmax weight is exactly 0, so it passes no
    gradient. With ``B == 1`` and no extra candidates the loss is 0.

    Memory: ``B * (B + S)`` logits of the computing dtype, plus padded copies
    of the rows, held in a per-thread workspace reused across calls.
    """
    q = _rows(query, "query", None)
    dtype = q.dtype
    batch, dim = q.shape
    c = _rows(candidates, "candidates", dtype, (batch, dim))
    if extra_candidates is None:
        if extra_ids is not None or extra_log_q is not None:
            raise ValueError("extra_ids and extra_log_q need extra_candidates")
        e = np.zeros((0, dim), dtype=dtype)
    else:
        e = _rows(extra_candidates, "extra_candidates", dtype)
        if e.shape[1] != dim:
            raise ValueError(f"extra_candidates must have {dim} columns like the query, "
                             f"got shape {e.shape}")
    num_extra = e.shape[0]
    ids = None
    if candidate_ids is not None:
        ids = as_ids(candidate_ids, "candidate_ids", ndim=1)
        if ids.shape[0] != batch:
            raise ValueError(f"candidate_ids must have shape ({batch},), got {ids.shape}")
    eids = None
    if extra_ids is not None:
        if ids is None:
            raise ValueError("extra_ids need candidate_ids (a hit is an extra id equal to "
                             "the example's candidate id)")
        eids = as_ids(extra_ids, "extra_ids", ndim=1)
        if eids.shape[0] != num_extra:
            raise ValueError(f"extra_ids must have shape ({num_extra},), got {eids.shape}")
    lq = None if log_q is None else _vector(log_q, "log_q", batch, dtype, finite=True)
    elq = None if extra_log_q is None else _vector(extra_log_q, "extra_log_q", num_extra, dtype,
                                                   finite=True)
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    tau = float(temperature)
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature}")
    if float(np.asarray(tau, dtype=dtype)) <= 0 or not np.isfinite(np.asarray(tau, dtype=dtype)):
        raise ValueError(f"temperature {temperature} is not a positive finite {dtype}")
    up = None if upstream is None else _vector(upstream, "upstream", batch, dtype)
    threads = resolve_num_threads(num_threads)
    loss, _, dq, dc, de = _extensions._in_batch(
        q, c, e, lq, elq, ids, eids, bool(remove_accidental_hits), tau, up, bool(return_grads),
        False, threads)
    if not return_grads:
        return loss
    return loss, InBatchGrads(dq, dc, de if extra_candidates is not None else None)


def _in_batch_logits(query, candidates, **kwargs):
    """The ``[B, B + S]`` logits of :func:`in_batch_softmax_loss` (for tests)."""
    q = np.ascontiguousarray(query)
    c = np.ascontiguousarray(candidates)
    e = kwargs.get("extra_candidates")
    e = np.zeros((0, q.shape[1]), q.dtype) if e is None else np.ascontiguousarray(e)

    def vec(name, dt):
        v = kwargs.get(name)
        return None if v is None else np.ascontiguousarray(v, dtype=dt)

    _, logits, _, _, _ = _extensions._in_batch(
        q, c, e, vec("log_q", q.dtype), vec("extra_log_q", q.dtype),
        vec("candidate_ids", np.int64), vec("extra_ids", np.int64),
        bool(kwargs.get("remove_accidental_hits", True)), float(kwargs.get("temperature", 1.0)),
        None, False, True, 1)
    return logits


class FrequencyEstimator:
    """Streaming estimate of how often each item id appears per training step.

    The estimator of Yi et al. 2019 (Algorithm 1): each id is hashed to one
    bucket per hash function; a bucket remembers the last step it was seen
    (``A``) and a moving average of the gap between sightings (``B``). The
    estimated probability of an id per batch step is ``1 / B``, so
    :meth:`log_q` (``-log B``) is the sampling-bias correction for
    :func:`in_batch_softmax_loss`.

    Parameters
    ----------
    num_buckets : int
        Buckets per hash function (memory: 24 bytes per bucket and hash).
    num_hashes : int
        Hash functions; more make collisions (which inflate the estimate of
        an id sharing a bucket with a frequent one) rarer.
    alpha : float in (0, 1]
        Weight of the newest gap in the moving average. Smaller is smoother
        and slower to adapt: the average spans about ``1 / alpha`` sightings.
    seed : int
        Chooses the hash functions.

    Notes
    -----
    Update rule, for every id of ``update(ids, step)`` in order and every
    hash ``h`` with bucket ``b = bucket_h(id)``::

        if A[h, b] was set:  B[h, b] <- (1 - alpha) * B[h, b] + alpha * (step - A[h, b])
                             n[h, b] <- n[h, b] + 1
        A[h, b] <- step

    An id seen ``k`` times in one step folds one gap and ``k - 1`` zero gaps,
    so ``B`` tends to ``1 / (expected occurrences per step)`` also for ids
    more frequent than once per step (then ``log_q > 0``).

    Initial state: ``A`` unset, ``B = 0``, ``n = 0`` (no gap seen). The
    estimate divides the zero start out, ``gap = B / (1 - (1 - alpha)**n)``
    (as Adam corrects its moments), so the first gap is used as it is rather
    than pulled towards 0. A bucket with no gap yet (``n = 0``), or whose gaps
    were all 0, has no estimate.

    Several hashes: an id's gap is the *largest* estimate over its hashes
    that have one (a collision can only shorten a bucket's gaps, as the
    paper notes); an id none of whose buckets has an estimate gets
    ``gap = steps_seen`` (the number of steps from the first update to the
    last, at least 1), i.e. "at most once so far".

    Hash: ``bucket_h(id) = mix(id ^ mix(seed + (h + 1) * 0x9E3779B97F4A7C15)) mod num_buckets``
    with ``mix`` the splitmix64 finaliser, on the id's 64-bit two's complement.

    Thread safety: every method holds an internal lock (the C++ work runs
    with the GIL released). Instances pickle (with their state) and
    :meth:`save` / :meth:`load` write and read them as ``.npz`` files.
    """

    _params: "tuple[int, int, float, int]"  # num_buckets, num_hashes, alpha, seed
    _last: np.ndarray
    _acc: np.ndarray
    _count: np.ndarray
    _first_step: int
    _last_step: int
    _lock: "threading.Lock"

    def __init__(self, num_buckets: int = 2**20, num_hashes: int = 1, alpha: float = 0.01,
                 seed: int = 0):
        nb = as_int(num_buckets, "num_buckets")
        nh = as_int(num_hashes, "num_hashes")
        if nb < 1 or nb > 2**40:
            raise ValueError(f"num_buckets must be in [1, 2**40], got {nb}")
        if nh < 1 or nh > 64:
            raise ValueError(f"num_hashes must be in [1, 64], got {nh}")
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
            raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
        a = float(alpha)
        if not (0.0 < a <= 1.0):
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        s = as_int(seed, "seed")
        self._params = (nb, nh, a, s % 2**64)
        size = nb * nh
        self._last = np.full(size, -1, dtype=np.int64)
        self._acc = np.zeros(size, dtype=np.float64)
        self._count = np.zeros(size, dtype=np.int64)
        self._first_step = -1
        self._last_step = -1
        self._lock = threading.Lock()

    # ------------------------------------------------------------ properties
    @property
    def num_buckets(self) -> int:
        return self._params[0]

    @property
    def num_hashes(self) -> int:
        return self._params[1]

    @property
    def alpha(self) -> float:
        return self._params[2]

    @property
    def seed(self) -> int:
        return self._params[3]

    @property
    def last_step(self) -> int | None:
        """The step of the latest :meth:`update`, or None before the first."""
        return None if self._last_step < 0 else self._last_step

    @property
    def steps_seen(self) -> int:
        """``last_step - first_step + 1`` (0 before the first update)."""
        return 0 if self._last_step < 0 else self._last_step - self._first_step + 1

    def _args(self) -> "tuple[int, int, int, float, np.ndarray, np.ndarray, np.ndarray]":
        nb, nh, a, s = self._params
        return nb, nh, s, a, self._last, self._acc, self._count

    # --------------------------------------------------------------- methods
    def update(self, ids: npt.ArrayLike, step: int | None = None) -> int:
        """Record the ids of one training step.

        Parameters
        ----------
        ids : array_like of int
            The items of this step's batch (any shape; duplicates count).
        step : int, optional
            The step number, ``>=`` the previous one (several calls may share
            a step). None: one more than the previous step (0 at first).

        Returns
        -------
        int
            The step used.
        """
        a = as_ids(ids, "ids").reshape(-1)
        with self._lock:
            if step is None:
                t = self._last_step + 1
            else:
                t = as_int(step, "step")
                if t < 0:
                    raise ValueError(f"step must be non-negative, got {t}")
                if t < self._last_step:
                    raise ValueError(f"step {t} is before the last step seen ({self._last_step})")
                if t >= 2**62:
                    raise ValueError(f"step {t} is too large")
            _extensions._freq_update(*self._args(), a, t)
            if self._first_step < 0:
                self._first_step = t
            self._last_step = t
        return t

    def log_q(self, ids: npt.ArrayLike, num_threads: int | None = None) -> np.ndarray:
        """Estimated log probability per step of each id (float64, shape of ``ids``).

        ``-log(gap)`` with the gap rule of the class notes; ``log_q`` of an
        id seen about ``k`` times per step is about ``log k``.
        """
        a = as_ids(ids, "ids")
        shape = a.shape
        threads = resolve_num_threads(num_threads)
        with self._lock:
            default_gap = float(max(1, self.steps_seen))
            out = _extensions._freq_log_q(*self._args(), a.reshape(-1), default_gap, threads)
        return out.reshape(shape)

    def probability(self, ids: npt.ArrayLike, num_threads: int | None = None) -> np.ndarray:
        """``exp(log_q(ids))``: the estimated expected occurrences per step."""
        return np.exp(self.log_q(ids, num_threads))

    def bucket(self, id_: int, hash_index: int = 0) -> int:
        """The bucket of ``id_`` under hash ``hash_index`` (the documented hash)."""
        h = as_int(hash_index, "hash_index")
        if not 0 <= h < self.num_hashes:
            raise ValueError(f"hash_index must be in [0, {self.num_hashes})")
        i = as_int(id_, "id")
        if not -2**63 <= i < 2**63:
            raise ValueError("id must fit in int64")
        return int(_extensions._freq_bucket(self.seed, h, self.num_buckets, i))

    # --------------------------------------------------------------- state
    def state_dict(self) -> dict:
        """A copy of the parameters and tables as plain values and arrays."""
        with self._lock:
            nb, nh, a, s = self._params
            return {"num_buckets": nb, "num_hashes": nh, "alpha": a, "seed": s,
                    "first_step": self._first_step, "last_step": self._last_step,
                    "last": self._last.copy(), "acc": self._acc.copy(),
                    "count": self._count.copy()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "FrequencyEstimator":
        """Rebuild an estimator from :meth:`state_dict` (validated)."""
        try:
            est = cls(int(state["num_buckets"]), int(state["num_hashes"]), float(state["alpha"]),
                      int(state["seed"]))
            first, last_step = int(state["first_step"]), int(state["last_step"])
            arrays = [np.asarray(state[k]) for k in ("last", "acc", "count")]
        except KeyError as err:
            raise ValueError(f"not a FrequencyEstimator state: missing {err}") from None
        size = est.num_buckets * est.num_hashes
        for name, arr, dt in zip(("last", "acc", "count"), arrays,
                                 (np.int64, np.float64, np.int64)):
            if arr.shape != (size,) or arr.dtype != dt:
                raise ValueError(f"FrequencyEstimator state: {name} must be {np.dtype(dt)} "
                                 f"of shape ({size},), got {arr.dtype} {arr.shape}")
        last, acc, count = arrays
        if (first < 0) != (last_step < 0) or first > last_step:
            raise ValueError("FrequencyEstimator state: inconsistent first/last step")
        if (last < -1).any() or (last > last_step).any() or (count < 0).any() or \
                not np.isfinite(acc).all() or (acc < 0).any():
            raise ValueError("FrequencyEstimator state: tables hold impossible values")
        est._last[:] = last
        est._acc[:] = acc
        est._count[:] = count
        est._first_step, est._last_step = first, last_step
        return est

    def __getstate__(self):
        return self.state_dict()

    def __setstate__(self, state):
        other = FrequencyEstimator.from_state_dict(state)
        self.__dict__.update(other.__dict__)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the estimator to ``path`` (an ``.npz`` file, replaced atomically)."""
        state = self.state_dict()
        with atomic_write(os.fspath(path), "wb") as f:
            arrays: "dict[str, Any]" = {k: np.asarray(v) for k, v in state.items()}
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path) -> "FrequencyEstimator":
        """Read an estimator written by :meth:`save`."""
        with np.load(os.fspath(path), allow_pickle=False) as z:
            return cls.from_state_dict({k: z[k] for k in z.files})

    def __repr__(self):
        return (f"FrequencyEstimator(num_buckets={self.num_buckets}, num_hashes={self.num_hashes}, "
                f"alpha={self.alpha}, seed={self.seed}, last_step={self.last_step})")
