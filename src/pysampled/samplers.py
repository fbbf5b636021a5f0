"""TensorFlow's candidate samplers, bit for bit, plus a fast bulk path.

Design: this module owns the public, TF-shaped API: argument validation,
seeds, defaults and the per-function stream cache. Sampling itself happens in
C++ (`pysampled._samplers.Stream`), with the GIL released.

Seed contract (the same for functions and classes):

* ``seed=None``: non-deterministic (fresh OS-random Philox seeds).
* ``seed=s`` (int): the stream TF draws for op seed ``s`` with no global
  seed, i.e. kernel seeds ``(87654321, s % (2**31 - 1))``.
* ``seed=(g, s)``: the stream TF draws for global seed ``g`` and op seed ``s``
  (``tf.random.set_seed(g)`` then ``seed=s``).

The functions behave like TF's cached eager kernels: repeated calls with the
same seed *and* the same attributes (num_true, num_sampled, unique,
range_max, and the unigram settings) continue one stream instead of
repeating the first draw, so a training loop that passes a fixed seed gets
fresh negatives each step. :func:`reset_sampler_cache` starts every stream
over. The classes (:class:`LogUniformSampler`, ...) own their stream
explicitly and can be copied, pickled, saved and reset.
"""
from __future__ import annotations

import fractions
import math
import os
import threading
import warnings
from typing import NamedTuple

import numpy as np

from . import _samplers
from ._validation import (
    MAXINT32,
    as_ids,
    as_int,
    check_attr_min,
    kernel_seeds,
    resolve_num_threads,
    true_classes_matrix,
)

_INT64 = np.dtype(np.int64)

__all__ = [
    "CandidateSample",
    "CandidateSampler",
    "UniformSampler",
    "LogUniformSampler",
    "FixedUnigramSampler",
    "LearnedUnigramSampler",
    "uniform_candidate_sampler",
    "log_uniform_candidate_sampler",
    "fixed_unigram_candidate_sampler",
    "learned_unigram_candidate_sampler",
    "all_candidate_sampler",
    "compute_accidental_hits",
    "reset_sampler_cache",
]


class CandidateSample(NamedTuple):
    """What a candidate sampler returns (unpacks like TF's triple)."""

    sampled_candidates: np.ndarray  #: int64 [num_sampled]
    true_expected_count: np.ndarray  #: float32 [batch, num_true]
    sampled_expected_count: np.ndarray  #: float32 [num_sampled]


_NOTES_EXPECTED = """
    Expected counts follow TF exactly (float32): with ``num_tries`` the number
    of draws made, a value of single-draw probability ``p`` gets ``p * S`` if
    ``num_tries == S`` (always when ``unique=False``), else
    ``-expm1(num_tries * log1p(-p))``. With ``unique=True`` this is TF's
    approximation of the inclusion probability and can exceed 1.
"""


def _expected_count_notes(fn):
    fn.__doc__ = fn.__doc__.rstrip() + "\n\n    Notes\n    -----" + _NOTES_EXPECTED
    return fn


def memory_limit_bytes() -> int | None:
    """The most memory one table may take: the smaller of the machine's
    physical memory and this process's address-space limit (RLIMIT_AS), or
    None where neither is known."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    limits = [x for x in limits if x > 0]
    return min(limits) if limits else None


def check_table_fits(entries: int, bytes_per_entry: int, what: str) -> None:
    """Refuse, before allocating, a sampler table that cannot fit.

    The rule: a table of ``entries * bytes_per_entry`` bytes (a lower bound
    of what it needs) larger than :func:`memory_limit_bytes` raises
    ``MemoryError``; so does one beyond the address space (2**63 bytes).
    Without the check, Linux's overcommit lets the allocation succeed and
    the process is killed while the table is filled.
    """
    need = entries * bytes_per_entry
    limit = memory_limit_bytes()
    cap = 2**63 if limit is None else min(limit, 2**63)
    if need > cap:
        raise MemoryError(f"{what}: a table of {entries} entries needs at least {need} bytes, "
                          f"more than this process can use ({cap} bytes: physical memory or "
                          f"RLIMIT_AS)")


# --------------------------------------------------------------------- classes


class CandidateSampler:
    """Base class: a distribution over ``[0, range_max)`` with its own stream.

    Calling :meth:`sample` with the arguments of successive TF kernel calls
    reproduces that kernel's outputs bit for bit (same seeds). Instances are
    thread-safe: concurrent calls are serialised on the C++ side.
    """

    kind: str = ""

    def __init__(self, range_max, seed=None):
        self._range_max = check_attr_min(range_max, "range_max")
        self._seed = seed
        self._seeds = kernel_seeds(seed)
        self._stream = self._make_stream()
        self._initial_state = self._stream.get_state()

    def _make_stream(self):
        return _samplers.Stream.create(self.kind, self._range_max, *self._seeds)

    # -- properties
    @property
    def range_max(self) -> int:
        """Number of classes: values are drawn from ``[0, range_max)``."""
        return self._range_max

    @property
    def seed(self):
        """The ``seed`` argument this sampler was made with."""
        return self._seed

    @property
    def kernel_seeds(self) -> tuple[int, int]:
        """TF's ``(seed, seed2)`` attributes for this sampler (``(0, 0)``: OS-random)."""
        return self._seeds

    # -- sampling
    def sample(self, true_classes, num_sampled, unique=True, num_true=None) -> CandidateSample:
        """Draw ``num_sampled`` candidates as one call of TF's sampler kernel.

        Parameters
        ----------
        true_classes : array_like of int, shape [batch, num_true]
            Target classes. They never influence which values are drawn,
            only their expected counts (and, for learned samplers, the
            counts learned after the draw).
        num_sampled : int
            Number of candidates to draw (>= 1).
        unique : bool
            Draw without replacement (rejection sampling, TF's method).
        num_true : int, optional
            Checked against ``true_classes.shape[1]`` when given.

        Returns
        -------
        CandidateSample
            ``(sampled_candidates int64[S], true_expected_count
            float32[batch, num_true], sampled_expected_count float32[S])``.

        Raises
        ------
        IndexError
            A true class outside ``[0, range_max)``.
        ValueError
            ``unique=True`` with ``num_sampled`` above the range ("Sampler's
            range is too small.") or above the number of values with nonzero
            probability (where TF would loop for 2^31 draws and abort).
        """
        tc = true_classes
        if not (type(tc) is np.ndarray and tc.dtype == _INT64 and tc.ndim == 2
                and tc.flags.c_contiguous and tc.flags.aligned):
            tc = as_ids(tc, "true_classes")
            if tc.ndim != 2:
                raise ValueError("true_classes must be a matrix")
        if num_true is not None and tc.shape[1] != num_true:
            raise ValueError(
                f"true_classes must have num_true columns, expected: {num_true} was: {tc.shape[1]}"
            )
        if type(num_sampled) is not int or num_sampled < 1:
            num_sampled = check_attr_min(num_sampled, "num_sampled")
        return self._sample(tc, num_sampled, unique is True or bool(unique))

    def _sample(self, tc, num_sampled, unique) -> CandidateSample:
        if unique and num_sampled > self._range_max:
            # Checked before the outputs are allocated: a huge num_sampled must
            # give TF's error, not a MemoryError.
            raise ValueError("Sampler's range is too small.")
        sampled, tec, sec, _ = self._stream.sample(tc, num_sampled, unique)
        return CandidateSample(sampled, tec, sec)

    def sample_bulk(self, size, num_threads=None, out=None) -> np.ndarray:
        """Many independent draws (with replacement), in parallel.

        This is the path for per-example negatives (word2vec style): it does
        *not* follow TF's stream. Draw ``i`` (in C order) is a fixed function
        of the 64-bit Philox word pair ``i % 2`` of block ``counter + i // 2``,
        so the output is identical for any ``num_threads`` (and any SIMD
        level); the stream then advances by ``ceil(n / 2)`` blocks, so later
        calls give fresh draws.

        Each draw is computed from one uniform 64-bit word ``w``:
        uniform ``floor(w * R / 2^64)``; log-uniform
        ``floor(exp(u * log(R + 1))) - 1`` with ``u = (w >> 12) / 2^52``;
        fixed unigram: alias column ``floor(w * n / 2^64)``, kept when bits
        40..63 of ``w * n mod 2^64``, read as a fraction of ``2^24``, fall below
        its probability; learned unigram: the class whose cumulative-count
        interval holds ``floor(w * total / 2^64)``. The relative bias of the
        multiply-shift mapping is at most ``range / 2^64``.

        Parameters
        ----------
        size : int or tuple of int
            Output shape (ignored when ``out`` is given).
        num_threads : int, optional
            None: what OpenMP allows (``OMP_NUM_THREADS``, threadpoolctl);
            -1: all cores.
        out : numpy.ndarray, optional
            A writable, aligned, C-contiguous int64 array to fill in place (saves
            allocating and page-faulting a new array in training loops).

        Returns
        -------
        numpy.ndarray of int64
        """
        threads = resolve_num_threads(num_threads)
        if out is None:
            shape = ((as_int(size, "size"),) if np.ndim(size) == 0
                     else tuple(as_int(s, "size") for s in size))
            if any(d < 0 for d in shape):
                raise ValueError(f"size must be non-negative, got {shape}")
            out = np.empty(shape, dtype=np.int64)
        elif not (isinstance(out, np.ndarray) and out.dtype == _INT64 and out.flags.c_contiguous
                  and out.flags.writeable and out.flags.aligned):
            raise TypeError("out must be a writable, aligned, C-contiguous int64 numpy array")
        self._stream.sample_bulk(out.reshape(-1), threads)
        return out

    def probability(self, ids) -> np.ndarray:
        """TF's float32 single-draw probability of each id (0 outside the range)."""
        a = as_ids(ids, "ids")
        return self._stream.probabilities(a.reshape(-1)).reshape(a.shape)

    # -- state
    def get_state(self) -> dict:
        """Everything needed to continue this stream elsewhere (see :meth:`set_state`)."""
        return {"generator": self._stream.get_state()}

    def set_state(self, state: dict) -> None:
        """Continue from a state returned by :meth:`get_state`."""
        if not isinstance(state, dict) or "generator" not in state:
            raise TypeError("state must be a dict returned by get_state()")
        gen = tuple(int(x) for x in state["generator"])
        if len(gen) != 6 or not all(0 <= x < 2**32 for x in gen):
            raise ValueError("generator state must be six 32-bit words")
        self._stream.set_state(gen)

    def reset(self) -> None:
        """Go back to the state right after construction."""
        self._stream.set_state(self._initial_state)

    def copy(self):
        """An independent sampler at the same position of the same stream."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._stream = self._stream.clone()
        return new

    __copy__ = copy

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        return (_restore, (type(self), self._config(), self.get_state(), self._initial_state))

    def _config(self) -> dict:
        return {"range_max": self._range_max, "seed": self._seed}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items() if k not in ("unigrams",))
        return f"{type(self).__name__}({args})"


def _restore(cls, config, state, initial_state):
    obj = cls(**config)
    obj.set_state(state)
    obj._initial_state = tuple(initial_state)
    return obj


class UniformSampler(CandidateSampler):
    """Uniform over ``[0, range_max)`` (TF's ``uniform_candidate_sampler``).

    ``P(k) = 1 / range_max``; one draw is ``Uniform64(range_max)`` on TF's
    Philox word stream.
    """

    kind = "uniform"


class LogUniformSampler(CandidateSampler):
    """Zipfian over ``[0, range_max)`` (TF's ``log_uniform_candidate_sampler``).

    ``P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1)``: class ids must
    be sorted by decreasing frequency for this to approximate a unigram
    distribution.
    """

    kind = "log_uniform"


class LearnedUnigramSampler(CandidateSampler):
    """Unigram over counts learned from the true classes it sees.

    Counts start at 1 and each call adds 1 for every true class (after
    drawing and computing expected counts), as TF's
    ``learned_unigram_candidate_sampler``. ``P(k) = count[k] / total``.
    Counts are 64-bit: where TF stops learning once the total reaches
    2**31 - 1, pysampled keeps counting (streams agree until then) up to a
    total of 2**63 - 1, where it stops learning in the same way (no overflow).
    """

    kind = "learned_unigram"

    def __init__(self, range_max, seed=None):
        # One 64-bit count per class (a Fenwick tree of range_max + 1 entries).
        check_table_fits(check_attr_min(range_max, "range_max") + 1, 8, "LearnedUnigramSampler")
        super().__init__(range_max, seed)

    @property
    def counts(self) -> np.ndarray:
        """A copy of the current int64 counts."""
        return self._stream.learned_counts()

    def update(self, true_classes) -> None:
        """Count these classes without drawing (TF only updates inside a draw)."""
        a = as_ids(true_classes, "true_classes")
        self._stream.update(a.reshape(-1))

    def get_state(self) -> dict:
        state = super().get_state()
        state["counts"] = self.counts
        return state

    def set_state(self, state: dict) -> None:
        if not isinstance(state, dict) or "generator" not in state:
            raise TypeError("state must be a dict returned by get_state()")
        counts = state.get("counts")
        if counts is not None:
            c = as_ids(counts, "counts", ndim=1)
            if c.shape[0] != self._range_max:
                raise ValueError(f"counts must have range_max={self._range_max} entries, got {c.shape[0]}")
            self._stream.set_learned_counts(c)
        super().set_state(state)

    def reset(self) -> None:
        self._stream.set_learned_counts(np.ones(self._range_max, dtype=np.int64))
        super().reset()


def _parse_float32(field: str) -> np.float32:
    """A decimal string rounded once, correctly, to float32 (as TF's
    safe_strtof does); surrounding whitespace allowed, underscores not."""
    text = field.strip()
    if not text or "_" in text:
        raise ValueError(field)
    d = float(text)
    with np.errstate(over="ignore"):
        f = np.float32(d)
    if not np.isfinite(d) or float(f) == d:
        return f
    # Rounding to double first can only mislead when the double lands exactly
    # on the midpoint of two floats; then decide with the exact decimal value.
    g = np.nextafter(f, np.float32(np.inf if d > float(f) else -np.inf))
    if np.isinf(g) or np.isinf(f):  # between FLT_MAX and "the next float": 2^128 - 2^103
        mid = math.ldexp(1.0, 128) - math.ldexp(1.0, 103)
        mid = mid if d > 0 else -mid
    else:
        mid = (float(f) + float(g)) / 2
    if mid != d:
        return f
    exact = fractions.Fraction(text)
    if exact == fractions.Fraction(d):
        return f  # a true tie: the cast already rounded half to even
    return max(f, g) if exact > fractions.Fraction(d) else min(f, g)


def read_vocab_file(path) -> np.ndarray:
    """Unigram counts from a TF vocabulary file: the last comma-separated field
    of every non-empty line, correctly rounded to float32."""
    values = []
    with open(os.fspath(path), encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if not line:
                continue
            try:
                values.append(_parse_float32(line.rsplit(",", 1)[-1]))
            except ValueError:
                raise ValueError(f"Wrong vocabulary format at line: {line}") from None
    return np.asarray(values, dtype=np.float32)


def _unigram_vector(unigrams) -> np.ndarray:
    """``unigrams`` as a contiguous float32 vector (the class and the function
    accept the same values: a 1-D sequence of integers or floats)."""
    u = np.asarray(unigrams)
    if u.dtype.kind not in "iuf" or u.ndim != 1:
        raise TypeError("unigrams must be a 1-D sequence of numbers")
    return np.ascontiguousarray(u, dtype=np.float32)


class FixedUnigramSampler(CandidateSampler):
    """Unigram over given counts, with a Walker alias table (TF's
    ``fixed_unigram_candidate_sampler``).

    Parameters
    ----------
    range_max : int
        Must equal the number of ids this shard holds.
    unigrams : array_like of float, optional
        Counts or probabilities, one per id (after the reserved ids).
    vocab_file : str or path, optional
        Instead of ``unigrams``: a CSV whose lines end in the count.
    distortion : float
        Each weight is raised to this power (0.75 for word2vec's noise).
    num_reserved_ids : int
        Ids ``0..num_reserved_ids-1`` get weight 0 (never drawn).
    num_shards, shard : int
        Keep only the ids with ``id % num_shards == shard``; sampled ids are
        then *local* indices into this shard's list.
    seed : None, int or (int, int)
        See the module documentation.
    correct_reserved_ids : bool
        TF numbers the unigrams from the count of reserved ids *kept by this
        shard* instead of ``num_reserved_ids``, so with ``num_shards > 1`` and
        reserved ids shards get the wrong unigrams (SPEC §12.15). False (the
        default) reproduces TF; True numbers them from ``num_reserved_ids``.

    Notes
    -----
    Weights are built in float32 as TF does (``w = pow(u, distortion)``,
    total accumulated in float32) and ``P(k) = w[k] / total``. Negative, NaN
    or infinite weights, an all-zero vector, and weights whose float32 total
    overflows (above about 3.4e38), raise ``ValueError`` (TF accepts them and
    returns garbage, NaN, or expected counts of 0).
    """

    kind = "fixed_unigram"

    def __init__(self, range_max, unigrams=None, vocab_file=None, distortion=1.0,
                 num_reserved_ids=0, num_shards=1, shard=0, seed=None, correct_reserved_ids=False):
        has_unigrams = unigrams is not None and np.size(unigrams) > 0
        has_file = vocab_file is not None and vocab_file != ""
        if has_unigrams == has_file:
            raise ValueError("Must provide either vocab_file or unigrams." if not has_unigrams
                             else "Must only provide one of vocab_file and unigrams.")
        if has_file:
            u = read_vocab_file(vocab_file)
        else:
            u = _unigram_vector(unigrams)
        self._distortion = float(distortion)
        self._num_reserved_ids = as_int(num_reserved_ids, "num_reserved_ids")
        self._num_shards = check_attr_min(num_shards, "num_shards")
        self._shard = as_int(shard, "shard")
        self._correct_reserved_ids = bool(correct_reserved_ids)
        self._vocab_file = vocab_file
        if self._num_reserved_ids >= 0 and 0 <= self._shard < self._num_shards:
            # Check the table's size by arithmetic before building it: a huge
            # num_reserved_ids must not allocate (or loop over) that many ids.
            size = _fixed_unigram_size(u.shape[0], self._num_reserved_ids, self._num_shards,
                                       self._shard, self._correct_reserved_ids)
            rmax = check_attr_min(range_max, "range_max")
            if size != rmax:
                raise ValueError(f"range is {rmax} must be equal to weights size  {size}")
            if size > MAXINT32:
                raise ValueError(f"range_max={rmax}: the alias table supports at most 2^31-1 entries")
            # float32 weights + one 64-bit alias column per id, at the least.
            check_table_fits(size, 12, "FixedUnigramSampler")
        self._weights = _samplers.fixed_unigram_weights(
            u, self._distortion, self._num_reserved_ids, self._num_shards, self._shard,
            self._correct_reserved_ids)
        super().__init__(range_max, seed)
        del self._weights  # the C++ sampler keeps them

    def _make_stream(self):
        return _samplers.Stream.create(self.kind, self._range_max, *self._seeds, self._weights)

    @property
    def weights(self) -> np.ndarray:
        """A copy of the final float32 per-id weights (after distortion)."""
        return self._stream.fixed_weights()

    def _config(self) -> dict:
        # Pickles rebuild from the final weights: pow(w, 1.0) == w exactly, so
        # the alias table and probabilities come out identical.
        return {"range_max": self._range_max, "unigrams": self.weights, "seed": self._seed}

    def __repr__(self):
        return (f"FixedUnigramSampler(range_max={self._range_max}, distortion={self._distortion}, "
                f"seed={self._seed!r})")


def _fixed_unigram_size(n, num_reserved_ids, num_shards, shard, correct_reserved_ids) -> int:
    """How many ids a fixed-unigram shard holds (as built by TF, see
    :class:`FixedUnigramSampler`): its reserved ids, then its unigrams."""
    def upto(m):  # ids in [0, m) with id % num_shards == shard
        return (m - shard - 1) // num_shards + 1 if m > shard else 0
    reserved = upto(num_reserved_ids)
    start = num_reserved_ids if correct_reserved_ids else reserved
    return reserved + upto(start + n) - upto(start)


_CLASSES = {
    "uniform": UniformSampler,
    "log_uniform": LogUniformSampler,
    "learned_unigram": LearnedUnigramSampler,
    "fixed_unigram": FixedUnigramSampler,
}


# ------------------------------------------------------------------- functions

_CACHE_SIZE = 256
_cache: dict = {}
_cache_lock = threading.Lock()


def reset_sampler_cache() -> None:
    """Forget every stream the sampler functions have started (they start over)."""
    with _cache_lock:
        _cache.clear()


def _true_matrix_fast(tc, num_true):
    if (type(tc) is np.ndarray and tc.dtype == _INT64 and tc.ndim == 2 and tc.flags.c_contiguous
            and tc.flags.aligned and tc.shape[1] == num_true):
        return tc
    return true_classes_matrix(tc, num_true)


def _sample_fn(kind, true_classes, num_true, num_sampled, unique, range_max, seed, extra=(),
               factory=None) -> CandidateSample:
    # Fast path: a stream made earlier for exactly these (already validated)
    # attributes. The exact-int checks keep 2.0 or True from matching 2 or 1.
    if (type(num_true) is int and type(num_sampled) is int and type(range_max) is int
            and (seed is None or type(seed) is int
                 or (type(seed) is tuple and len(seed) == 2
                     and type(seed[0]) is int and type(seed[1]) is int))):
        try:
            sampler = _cache.get((kind, num_true, num_sampled, unique, range_max, seed, extra))
        except TypeError:  # unhashable extra attributes: take the slow path
            sampler = None
        if sampler is not None:
            return sampler._sample(_true_matrix_fast(true_classes, num_true), num_sampled, unique)

    num_true = check_attr_min(num_true, "num_true")
    num_sampled = check_attr_min(num_sampled, "num_sampled")
    range_max = check_attr_min(range_max, "range_max")
    if kind == "learned_unigram" and range_max > MAXINT32:
        # TF 2.21's Python wrapper, then the check of TF's current kernel.
        raise ValueError(f"Value of range_max:{range_max} is too large to handle (range_max "
                         f"must be less than {MAXINT32} for unigram samplers)")
    if kind in ("learned_unigram", "fixed_unigram") and range_max >= MAXINT32:  # TF's kernel
        raise ValueError(f"range_max must be less than {MAXINT32} for unigram samplers, "
                         f"got {range_max}")
    tc = true_classes_matrix(true_classes, num_true)
    unique = bool(unique)
    seed_key = kernel_seeds(seed)  # validates; None/int/pair keep TF's identity of kernels
    key = (kind, num_true, num_sampled, unique, range_max, seed_key, extra)
    with _cache_lock:
        sampler = _cache.get(key)
    if sampler is None:
        sampler = factory() if factory else _CLASSES[kind](range_max, seed)
    with _cache_lock:
        sampler = _cache.setdefault(key, sampler)
        if isinstance(seed, (int, tuple)) or seed is None:
            raw = (kind, num_true, num_sampled, unique, range_max, seed, extra)
            if raw != key:
                _cache.setdefault(raw, sampler)
        while len(_cache) > _CACHE_SIZE:  # drop the oldest streams first
            _cache.pop(next(iter(_cache)))
    return sampler._sample(tc, num_sampled, unique)


@_expected_count_notes
def uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None,
                              name=None) -> CandidateSample:
    """Sample candidates uniformly from ``[0, range_max)`` (TF's function).

    Parameters
    ----------
    true_classes : array_like of int, shape [batch, num_true]
    num_true, num_sampled, range_max : int
    unique : bool
        Without replacement within this call.
    seed : None, int or (int, int)
        See :mod:`pysampled.samplers`; a fixed seed continues one stream
        across calls with the same attributes, as TF's eager kernels do.
    name : ignored (TF compatibility).

    Returns
    -------
    CandidateSample
        ``(sampled_candidates, true_expected_count, sampled_expected_count)``.
    """
    return _sample_fn("uniform", true_classes, num_true, num_sampled, unique, range_max, seed)


@_expected_count_notes
def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None,
                                  name=None) -> CandidateSample:
    """Sample candidates from the log-uniform (Zipfian) distribution (TF's function).

    ``P(k) = (log(k + 2) - log(k + 1)) / log(range_max + 1)``; ids must be
    sorted by decreasing frequency. Arguments and return value as
    :func:`uniform_candidate_sampler`.
    """
    return _sample_fn("log_uniform", true_classes, num_true, num_sampled, unique, range_max, seed)


@_expected_count_notes
def learned_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                      seed=None, name=None) -> CandidateSample:
    """Sample from counts learned from the true classes seen so far (TF's function).

    Counts start at 1; every call adds the batch's true classes *after*
    drawing. Like TF's eager kernels, calls with the same seed and attributes
    share the learned counts and the stream. Arguments and return value as
    :func:`uniform_candidate_sampler`; ``range_max`` must be at most 2**31 - 1
    here (use :class:`LearnedUnigramSampler` for larger ranges).
    """
    return _sample_fn("learned_unigram", true_classes, num_true, num_sampled, unique, range_max,
                      seed)


@_expected_count_notes
def fixed_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                    vocab_file="", distortion=1.0, num_reserved_ids=0,
                                    num_shards=1, shard=0, unigrams=(), seed=None, name=None,
                                    correct_reserved_ids=False) -> CandidateSample:
    """Sample from given unigram counts with an alias table (TF's function).

    See :class:`FixedUnigramSampler` for ``vocab_file``, ``unigrams``,
    ``distortion``, ``num_reserved_ids``, ``num_shards``, ``shard`` and
    ``correct_reserved_ids``. The table is built once per distinct set of
    attributes and cached with its stream; finding that stream again still
    reads the whole ``unigrams`` vector on every call (O(range_max), about
    1 ms at 10**6 entries), as TF's eager kernel cache does. In a training
    loop, hold a :class:`FixedUnigramSampler` instead (a few µs per call).
    """
    source: tuple
    if unigrams is not None and np.size(unigrams) > 0:
        u = _unigram_vector(unigrams)
        source = ("unigrams", u.tobytes())
    else:
        u = None
        source = ("vocab_file", os.fspath(vocab_file) if vocab_file else "")
    extra = (source, float(distortion), as_int(num_reserved_ids, "num_reserved_ids"),
             as_int(num_shards, "num_shards"), as_int(shard, "shard"), bool(correct_reserved_ids))
    range_max_i = check_attr_min(range_max, "range_max")
    if range_max_i >= MAXINT32:  # TF's kernel check, before any table is built
        raise ValueError(f"range_max must be less than {MAXINT32} for unigram samplers, "
                         f"got {range_max_i}")

    def factory():
        return FixedUnigramSampler(range_max_i, unigrams=u, vocab_file=vocab_file or None,
                                   distortion=distortion, num_reserved_ids=num_reserved_ids,
                                   num_shards=num_shards, shard=shard, seed=seed,
                                   correct_reserved_ids=correct_reserved_ids)

    return _sample_fn("fixed_unigram", true_classes, num_true, num_sampled, unique, range_max,
                      seed, extra, factory)


def all_candidate_sampler(true_classes, num_true, num_sampled, unique, seed=None,
                          name=None) -> CandidateSample:
    """Return every class ``0 .. num_sampled-1`` (TF's test sampler).

    All expected counts are 1. ``num_sampled`` acts as the range: true
    classes must lie in ``[0, num_sampled)``. ``unique`` and ``seed`` are
    accepted for TF compatibility and have no effect.
    """
    num_true = check_attr_min(num_true, "num_true")
    num_sampled = check_attr_min(num_sampled, "num_sampled")
    tc = true_classes_matrix(true_classes, num_true)
    kernel_seeds(seed)  # validate only
    if tc.size:
        lo, hi = int(tc.min()), int(tc.max())
        if lo < 0 or hi >= num_sampled:
            bad = lo if lo < 0 else hi
            raise IndexError(f"`true_candidate` out of range [0, {num_sampled}), received {bad}")
    return CandidateSample(np.arange(num_sampled, dtype=np.int64),
                           np.ones(tc.shape, dtype=np.float32),
                           np.ones(num_sampled, dtype=np.float32))


_warned_all_duplicates = False


def _warn_all_duplicates():
    global _warned_all_duplicates
    _warned_all_duplicates = True
    warnings.warn("compute_accidental_hits(all_duplicates=...) is deprecated; use "
                  "mask_all_duplicates=...", DeprecationWarning, stacklevel=3)


def compute_accidental_hits(true_classes, sampled_candidates, num_true, seed=None, name=None,
                            mask_all_duplicates=False, *, all_duplicates=None):
    """Find sampled candidates that equal one of an example's true classes.

    Parameters
    ----------
    true_classes : array_like of int, shape [batch, num_true]
    sampled_candidates : array_like of int, shape [S]
    num_true : int
    seed, name : ignored (TF compatibility).
    mask_all_duplicates : bool
        TF (False) reports, for a sampled value that occurs more than once,
        only its *last* position, so earlier duplicates are never masked
        (SPEC §12.11). True reports every position (the same option as the
        losses' ``mask_all_duplicates``).
    all_duplicates : bool, optional
        Deprecated name of ``mask_all_duplicates`` (a DeprecationWarning, once per process).

    Returns
    -------
    indices : int32 [K]
        Example (row) of each hit.
    ids : int64 [K]
        Position of the hit in ``sampled_candidates``.
    weights : float32 [K]
        ``-FLT_MAX`` each: add them to the sampled logits to mask the hits.

    Notes
    -----
    Hits are listed row by row, and within a row in label order; a label
    repeated in a row is reported once per repetition.
    """
    num_true = check_attr_min(num_true, "num_true")
    tc = as_ids(true_classes, "true_classes")
    if tc.ndim != 2 or tc.shape[1] != num_true:
        raise ValueError("true_candidates must be a batch_size * num_true matrix")
    sc = as_ids(sampled_candidates, "sampled_candidates", ndim=1)
    if all_duplicates is not None:
        if not _warned_all_duplicates:  # once per process: a loop must not pile up warnings
            _warn_all_duplicates()
        mask_all_duplicates = all_duplicates
    return _samplers.accidental_hits(tc.reshape(-1), tc.shape[0], num_true, sc,
                                     bool(mask_all_duplicates))
