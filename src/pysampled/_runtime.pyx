# distutils: language = c++
"""Runtime facts of the C++ core: OpenMP and the SIMD level of the kernels.

Design: the one home of process-wide runtime queries and switches, so that
no part of the library (or its tests) reaches into the sampler or loss
bindings to ask them. Thread *policy* (None / -1 / n, the fork guard) is
:mod:`pysampled._threads`; this module only reports and switches.
"""
from pysampled._core cimport (
    Isa, active_isa, available_cores, default_num_threads, detected_isa, openmp_enabled, set_isa,
)

#: SIMD levels in increasing order; their index is the C++ ``Isa`` value.
SIMD_LEVELS = ("generic", "avx2", "avx512")


def has_openmp():
    """Whether the core was compiled with OpenMP."""
    return openmp_enabled()


def omp_max_threads():
    """What OpenMP would use for a parallel region now (OMP_NUM_THREADS, threadpoolctl)."""
    return default_num_threads()


def num_cores():
    """Processors available to this process, as OpenMP counts them."""
    return available_cores()


def simd_level():
    """The SIMD level the kernels use now: 'generic', 'avx2' or 'avx512'."""
    return SIMD_LEVELS[<int>active_isa()]


def detected_simd_level():
    """The best SIMD level this CPU (and build) supports."""
    return SIMD_LEVELS[<int>detected_isa()]


def set_simd_level(str level):
    """Force a SIMD level (tests, benchmarks); ValueError if the CPU lacks it."""
    if level not in SIMD_LEVELS:
        raise ValueError(f"unknown SIMD level {level!r}; expected one of {SIMD_LEVELS}")
    cdef int index = SIMD_LEVELS.index(level)
    set_isa(<Isa>index)
