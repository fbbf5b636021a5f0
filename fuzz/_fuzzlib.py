"""Shared helpers of the atheris harnesses in this directory.

Each harness is a script ``fuzz/fuzz_<name>.py`` that defines
``TestOneInput(data: bytes)`` and ends with ``fuzzlib.main(TestOneInput)``.
Inside, a :class:`Gen` turns the fuzzer's bytes into Python arguments
(scalars with edge values, arrays of any dtype / shape / memory layout,
files), the public call is made, and

* the *documented* exceptions of that call (``ValueError``, ``TypeError``,
  ``IndexError``, ``OverflowError``, ``MemoryError`` for absurd sizes, ...)
  are swallowed with :func:`expect`;
* anything else propagates, so atheris reports it (with the input saved as
  ``crash-*``); so do crashes, aborts, sanitizer reports and inputs running
  longer than libFuzzer's ``-timeout``;
* results are checked against invariants and oracles (``check``), which
  raise :class:`Finding` (an ``AssertionError``).

Environment:

``FUZZ_RLIMIT_AS_MB`` (default 3072; 0 disables)
    Address-space limit of the harness process, so that a request for an
    absurd amount of memory fails fast with ``MemoryError`` instead of
    thrashing the machine. Ignored under AddressSanitizer (which reserves
    terabytes of shadow memory).
``FUZZ_SKIP_KNOWN`` (default 0)
    1: skip inputs that trigger an already-reported finding (the Findings
    table of FUZZING.md), so that a long run on a build that still has them
    keeps looking for new ones. All are fixed, so by default every input runs.
``FUZZ_TMPDIR`` (default /dev/shm or the system temp dir)
    Where the file harnesses write their files.
``FUZZ_VERBOSE`` (default 0)
    Print each input's generated arguments (see :func:`log`).
"""
from __future__ import annotations

import contextlib
import importlib
import math
import os
import pathlib
import sys
import tempfile
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "2")

import atheris  # noqa: E402
import numpy as np  # noqa: E402

SKIP_KNOWN = os.environ.get("FUZZ_SKIP_KNOWN", "0") != "0"
VERBOSE = os.environ.get("FUZZ_VERBOSE", "0") != "0"


def oracle(name: str):
    """The test oracle module ``tests/oracles/<name>.py`` (NumPy references
    written from the spec), imported as ``oracles.<name>`` as the tests do."""
    tests = str(pathlib.Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    return importlib.import_module(f"oracles.{name}")


def log(*args, **kwargs):
    """Print the generated arguments when FUZZ_VERBOSE=1 (to replay one input:
    ``FUZZ_VERBOSE=1 python fuzz/fuzz_x.py crash-file``)."""
    if VERBOSE:
        def r(v):
            return " ".join(repr(v).split())[:600]
        print("FUZZ:", *[r(a) for a in args], *[f"{k}={r(v)}" for k, v in kwargs.items()],
              file=sys.stderr, flush=True)

#: What the public API documents it may raise on bad arguments.
DOCUMENTED = (ValueError, TypeError, IndexError, OverflowError, MemoryError)
FILE_ERRORS = DOCUMENTED + (FileNotFoundError, IsADirectoryError, UnicodeError)


class Finding(AssertionError):
    """An invariant or oracle violated by a result the library returned."""


def check(cond, msg="invariant violated", *info):
    if not cond:
        raise Finding(msg + ("" if not info else ": " + " | ".join(repr(i)[:400] for i in info)))


@contextlib.contextmanager
def expect(*types):
    """Swallow the documented exceptions `types` (default: DOCUMENTED)."""
    try:
        yield
    except (types or DOCUMENTED):
        pass


class Skip(Exception):
    """Raised by a harness to drop an input (e.g. one that hits a known finding)."""


def int_or_none(v):
    """`v` as an int if the library would take it as one (operator.index), else None."""
    import operator
    if isinstance(v, (bool, np.bool_)):
        return None
    try:
        return operator.index(v)
    except Exception:
        return None


def slow_unique(sampler, num_sampled) -> bool:
    """F4: whether ``sample(..., unique=True)`` may need millions of rejection
    draws (up to 2**31 - 1, about 30 s, then RuntimeError): the
    ``num_sampled``-th most likely value has a tiny probability."""
    n = int_or_none(num_sampled)
    if n is None or n < 1 or sampler.range_max > 1 << 20 or n > sampler.range_max:
        return False
    p = np.sort(sampler.probability(np.arange(sampler.range_max)))[::-1]
    return bool(p[n - 1] < 1e-5)


def same(a, b) -> bool:
    """Bitwise-ish equality of two arrays of any dtype (NaN == NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype.kind == "O":
        return all(x is y or x == y or (x != x and y != y) for x, y in zip(a.ravel(), b.ravel()))
    # other kinds, ml_dtypes' bfloat16 (kind "V") included: equal values or
    # equal bytes (a bfloat16 NaN is not equal to itself under array_equal)
    return bool(np.array_equal(a, b)) or np.ascontiguousarray(a).tobytes() == \
        np.ascontiguousarray(b).tobytes()


def skip_known(cond):
    if cond and SKIP_KNOWN:
        raise Skip


# ----------------------------------------------------------------- generation

#: Scalar edge values for integer arguments (sizes, ids, seeds...).
INT_EDGES = [0, 1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 100, 1000,
             2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**53 + 1, 2**62, 2**63 - 1,
             2**63, 2**64 - 1, 2**64, 2**100,
             -1, -2, -(2**31), -(2**31) - 1, -(2**32), -(2**63), -(2**63) - 1]

#: Under AddressSanitizer a failed C++ ``new`` aborts the process instead of raising
#: ``std::bad_alloc`` (GCC's libasan ignores allocator_may_return_null for the
#: throwing operator new), so sizes stay below what could ask for gigabytes.
ASAN = "asan" in os.environ.get("LD_PRELOAD", "")
SIZE_EDGES = [v for v in INT_EDGES if -(2**63) - 1 <= v <= 2**16] if ASAN else INT_EDGES

FLOAT_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-7, 1e-30, 1e-45, 1.4e-45, 5e-324,
               3.4028235e38, 3.5e38, 1.7976931348623157e308, -3.4028235e38, 65504.0,
               1e10, -1e10, float("inf"), float("-inf"), float("nan"), 16777217.0, 0.1]

DTYPES_ALL = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64", "bool", "object", "complex64", ">i8", ">f4",
              ">f8", "<U4", "datetime64[s]", "longdouble"]

LAYOUTS = ["c", "c", "c", "f", "strided", "reversed", "readonly", "broadcast", "unaligned",
           "list", "tuple", "noncontig_rows"]


class Gen:
    """Argument generator on top of atheris.FuzzedDataProvider."""

    def __init__(self, data: bytes):
        self.fdp = atheris.FuzzedDataProvider(data)
        #: One input in three is "wild": edge values, odd types, dtypes and
        #: layouts are frequent. The others mostly stay valid, to get deep.
        self.wild = self.chance(1, 3)

    # -- scalars
    def bool(self) -> bool:
        return self.fdp.ConsumeBool()

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)

    def pick(self, seq):
        return seq[self.fdp.ConsumeIntInRange(0, len(seq) - 1)]

    def chance(self, num: int, den: int) -> bool:
        """True with probability num/den (for uniformly random bytes); False
        once the input is exhausted."""
        return self.fdp.ConsumeIntInRange(0, den - 1) >= den - num

    def rarely(self) -> bool:
        """True for about 1 in 8 wild inputs and 1 in 40 tame ones."""
        return self.chance(1, 8 if self.wild else 40)

    def float(self, lo=-10.0, hi=10.0) -> float:
        if self.chance(1, 8):
            return self.pick(FLOAT_EDGES)
        return self.fdp.ConsumeFloatInRange(lo, hi)

    def size(self, hi=8) -> int:
        """A small non-negative size, biased to 0..3."""
        if self.chance(3, 4):
            return self.int(0, 3)
        return self.int(0, hi)

    def edge_int(self, small_hi=10, p_edge=None, lo=1) -> int:
        """An int: mostly in [lo, small_hi], sometimes an edge value (0, huge, negative)."""
        if p_edge is None:
            p_edge = (1, 6) if self.wild else (1, 40)
        if self.chance(*p_edge):
            return self.pick(SIZE_EDGES)
        return self.int(lo, max(lo, small_hi))

    def int_arg(self, small_hi=10, p_edge=None, p_type=None, lo=1):
        """An integer argument, sometimes of another Python/NumPy type."""
        v = self.edge_int(small_hi, p_edge, lo)
        if p_type is None:
            p_type = (1, 10) if self.wild else (1, 80)
        if not self.chance(*p_type):
            return v
        kind = self.int(0, 9)
        if kind == 0:
            return float(v)
        if kind == 1:
            return bool(v & 1)
        if kind == 2:
            return None
        if kind == 3:
            return str(v)
        if kind == 4:
            return np.bool_(v & 1)
        if kind == 5:
            return np.float32(v) if abs(v) < 2**100 else np.float64(v)
        if kind == 6:
            return [v]
        if kind == 7 and -(2**63) <= v < 2**63:
            return np.array(v)  # 0-d integer array: operator.index() accepts it
        # numpy integer types, wrapped to fit
        dt = self.pick(["int8", "int32", "int64", "uint32", "uint64"])
        info = np.iinfo(dt)
        return np.dtype(dt).type(info.min + (v - info.min) % (int(info.max) - int(info.min) + 1))

    def seed(self):
        k = self.int(0, 9)
        if k <= 2:
            return None
        if k <= 5:
            return self.edge_int(1000)
        if k <= 7:
            return (self.edge_int(1000), self.edge_int(1000))
        return self.pick([[1, 2], (0, 0), (1,), (1, 2, 3), "7", 1.5, np.int32(3), (np.int64(2), 5),
                          (True, 1), (None, 1), np.uint64(2**64 - 1), True])

    def flag(self):
        """A bool-ish flag argument."""
        return self.pick([True, False, True, False, 0, 1, np.bool_(True), np.bool_(False), None, 2,
                          "no", [], [0]])

    def bytes(self, n=None) -> bytes:
        if n is None:
            return self.fdp.ConsumeBytes(self.fdp.remaining_bytes())
        return self.fdp.ConsumeBytes(n)

    def remaining(self) -> int:
        return self.fdp.remaining_bytes()

    # -- arrays
    def int_values(self, n: int, lo: int, hi: int):
        """n Python ints: mostly in [lo, hi), some edge values."""
        out = []
        for _ in range(n):
            if self.chance(1, 12):
                out.append(self.pick(INT_EDGES))
            else:
                out.append(self.int(lo, max(lo, hi - 1)))
        return out

    def float_values(self, n: int, lo=-3.0, hi=3.0, p_edge=(1, 20)):
        out = []
        for _ in range(n):
            if self.chance(*p_edge):
                out.append(self.pick(FLOAT_EDGES))
            else:
                out.append(self.fdp.ConsumeFloatInRange(lo, hi))
        return out

    def as_dtype(self, values, shape, dtype):
        """`values` (Python numbers) as an array of `dtype` and `shape`, wrapping ints."""
        dt = np.dtype(dtype)
        n = int(np.prod(shape)) if len(shape) else 1
        vals = list(values)[:n] + [0] * max(0, n - len(values))
        if dt.kind == "O":
            arr = np.empty(n, dtype=object)
            for i, v in enumerate(vals):
                arr[i] = v
            return arr.reshape(shape)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            span = int(info.max) - int(info.min) + 1
            vals = [int(info.min) + (int(v) - int(info.min)) % span
                    if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)) else 0
                    for v in vals]
            return np.array(vals, dtype=object).astype(dt).reshape(shape)
        if dt.kind == "b":
            return np.array([bool(v == v and v) for v in vals], dtype=bool).reshape(shape)
        if dt.kind in "fc":
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.array([float(v) for v in vals], dtype=np.float64).astype(dt).reshape(shape)
        if dt.kind == "U":
            return np.array([str(v)[:4] for v in vals], dtype=dt).reshape(shape)
        if dt.kind == "M":
            return np.array([int(v) % 10**9 if isinstance(v, int) else 0 for v in vals],
                            dtype=np.int64).astype(dt).reshape(shape)
        return np.array(vals).astype(dt).reshape(shape)

    def dtype(self, usual, others=DTYPES_ALL):
        """`usual` (a dtype or list of them), or in wild inputs sometimes any other."""
        if self.chance(1, 4 if self.wild else 50):
            return self.pick(others)
        return usual if isinstance(usual, str) else self.pick(usual)

    def layout(self, arr: np.ndarray, choice=None):
        """The values of `arr` in another memory layout / container ("broadcast"
        repeats the first row: oracles must read the values back from the result)."""
        if choice is None and not self.wild and self.chance(4, 5):
            choice = "c"
        lay = choice or self.pick(LAYOUTS)
        if lay == "unaligned" and ASAN and SKIP_KNOWN:
            lay = "c"  # F13: misaligned int64 / float arrays reach C++ (UBSan reports it)
        if lay == "c":
            return np.ascontiguousarray(arr)
        if lay == "f":
            return np.asfortranarray(arr)
        if lay == "strided":
            big = np.repeat(arr[..., None], 2, axis=-1) if arr.ndim else arr
            return big[..., 0] if arr.ndim else big
        if lay == "reversed":
            if arr.ndim == 0:
                return arr
            return np.ascontiguousarray(arr[::-1])[::-1]
        if lay == "readonly":
            a = np.array(arr)
            a.setflags(write=False)
            return a
        if lay == "broadcast":  # stride 0, read-only; values: copies of the first row
            if arr.ndim and arr.shape[0] > 0:
                return np.broadcast_to(arr[:1], arr.shape)
            return arr
        if lay == "unaligned":
            if arr.dtype.kind == "O" or arr.itemsize < 2:
                return arr
            raw = np.zeros(arr.nbytes + 1, dtype=np.uint8)
            view = raw[1:].view(arr.dtype).reshape(arr.shape)
            view[...] = arr
            return view
        if lay == "list":
            return arr.tolist()
        if lay == "tuple":
            return tuple(arr.tolist()) if arr.ndim else arr.tolist()
        if lay == "noncontig_rows":
            if arr.ndim == 2:
                wide = np.zeros((arr.shape[0], arr.shape[1] + self.int(1, 3)), dtype=arr.dtype)
                wide[:, :arr.shape[1]] = arr
                return wide[:, :arr.shape[1]]
            return arr
        return arr

    def shape(self, ndim_hi=3, dim_hi=6):
        return tuple(self.size(dim_hi) for _ in range(self.int(0, ndim_hi)))


# ------------------------------------------------------------------- files

_TMP = None


def tmpdir() -> pathlib.Path:
    global _TMP
    if _TMP is None:
        base = os.environ.get("FUZZ_TMPDIR") or (
            "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None)
        # libFuzzer leaves with exit(), so this may outlive the process: run_all.py
        # points FUZZ_TMPDIR at a directory it removes afterwards.
        _TMP = tempfile.TemporaryDirectory(prefix="pysampled-fuzz-", dir=base)
    return pathlib.Path(_TMP.name)


def write_file(name: str, data: bytes) -> pathlib.Path:
    p = tmpdir() / name
    p.write_bytes(data)
    return p


# ------------------------------------------------------------------- running

def _limit_memory():
    mb = int(os.environ.get("FUZZ_RLIMIT_AS_MB", "3072"))
    if mb <= 0 or ASAN:
        return
    import resource
    lim = mb * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        lim = min(lim, hard)
    resource.setrlimit(resource.RLIMIT_AS, (lim, hard))


def wrap(test_one_input):
    """The harness body with Skip handled and NumPy warnings silenced."""
    def run(data):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                test_one_input(data)
            except Skip:
                pass
    return run


def main(test_one_input):
    _limit_memory()
    atheris.Setup(sys.argv, wrap(test_one_input))
    atheris.Fuzz()


class SelfComm:
    """A size-1 stand-in for an mpi4py communicator: one-rank distributed code
    never communicates, so any collective (or an abort) is a finding."""

    def Get_size(self):
        return 1

    def Get_rank(self):
        return 0

    def _never(self, *args, **kwargs):
        raise Finding("a one-rank distributed call communicated")

    Iallgather = Iallgatherv = Ialltoallv = _never

    def Abort(self, code=1):
        raise Finding("a one-rank distributed call aborted")
