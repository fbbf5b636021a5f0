"""Thread policy: how many threads a call uses, the fork guard, the spin policy.

Design: the one home of thread decisions. Every public function takes
``num_threads`` (None: what OpenMP allows now, so ``OMP_NUM_THREADS`` and
``threadpoolctl`` work; -1: all cores; n >= 1) and passes it through
:func:`resolve_num_threads`, which returns the explicit count the C++ core is
given. Results never depend on that count (fixed chunking, fixed reduction
order), so the policies below only change speed, never bits.

Spin policy. OpenMP threads that wait at the end of a parallel region spin
for a while before sleeping (GNU OpenMP: 300,000 spins by default). On a
busy machine that spinning steals the cores the other threads need, and
short kernels can run many times slower. When pysampled is the first library
to load GNU OpenMP, :func:`load_core` loads it with ``GOMP_SPINCOUNT=10000``
and then puts the process environment back exactly as it was (so child
processes and other libraries see the user's environment, not ours). It does
nothing if the user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``, or
``PYSAMPLED_SPIN_POLICY=default`` (the opt-out: keep GNU OpenMP's defaults).
"""
from __future__ import annotations

import importlib
import os
import warnings

from ._validation import as_int

#: The most threads one call may ask for (OpenMP would try to start them all).
MAX_THREADS = 1024
#: GOMP_SPINCOUNT applied while the core loads (see the module docstring).
SPIN_COUNT = "10000"


def load_core():
    """Import the runtime extension (which loads the C++ core and its OpenMP
    runtime) under the spin policy; returns the ``_runtime`` module."""
    env = os.environ
    apply = ("OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env
             and env.get("PYSAMPLED_SPIN_POLICY", "") != "default")
    if not apply:
        return importlib.import_module("pysampled._runtime")
    env["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        return importlib.import_module("pysampled._runtime")
    finally:
        del env["GOMP_SPINCOUNT"]


_runtime = load_core()

# GNU OpenMP is not fork-safe: a child forked after the parent ran parallel
# regions hangs in its first parallel region (the pool's threads were not
# copied). Results do not depend on the thread count, so such a child runs
# pysampled single-threaded instead ('spawn'/'forkserver' children are free).
_fork = {"threads_used": False, "unsafe_child": False}


def _after_fork_in_child():
    if _fork["threads_used"]:
        _fork["unsafe_child"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def resolve_num_threads(num_threads) -> int:
    """None -> what OpenMP allows now (OMP_NUM_THREADS, threadpoolctl); -1 -> all cores.

    In a process forked after pysampled ran OpenMP threads: 1 (see above).
    """
    if num_threads is None:
        n = max(1, _runtime.omp_max_threads())
    else:
        n = as_int(num_threads, "num_threads")
        if n == -1:
            n = _runtime.num_cores()
        elif n < 1:
            raise ValueError("num_threads must be a positive integer, -1 (all cores) or None")
        elif n > MAX_THREADS:
            raise ValueError(f"num_threads={n} is more than pysampled will start "
                             f"({MAX_THREADS}); use -1 for all cores")
    if n > 1 and not _runtime.has_openmp():
        if num_threads is not None:
            warnings.warn("pysampled was built without OpenMP: running single-threaded",
                          RuntimeWarning, stacklevel=3)
        return 1
    if n > 1:
        if _fork["unsafe_child"]:
            warnings.warn("pysampled runs single-threaded in a process forked after it used "
                          "OpenMP threads (GNU OpenMP would hang); start workers with the "
                          "'spawn' or 'forkserver' method to use threads", RuntimeWarning,
                          stacklevel=3)
            return 1
        _fork["threads_used"] = True
    return n
