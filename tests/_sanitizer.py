"""What the tests need to know when they run under AddressSanitizer.

``scripts/test_sanitized.sh`` runs this suite in a Python that preloads GCC's
libasan. Two things differ there, and the tests that depend on them ask this
module:

* ASan reserves terabytes of address space for its shadow memory at start-up,
  so an ``RLIMIT_AS`` cap must be set *above* what the process already maps
  (:func:`address_space_limit`), never as a fixed number.
* ASan's ``operator new`` does not throw ``std::bad_alloc`` when an allocation
  cannot be satisfied: it reports "allocation-size-too-big" or
  "out-of-memory" and aborts the process, whatever ``allocator_may_return_null``
  says (that flag only covers malloc and ``new(std::nothrow)``). A test whose
  point is that an impossible allocation becomes ``MemoryError`` cannot run
  under ASan; it skips there (:data:`SKIP_BAD_ALLOC`) and runs in the normal
  stage of ``.ci/run``.
"""
from __future__ import annotations

import os


def _sanitized() -> bool:
    """True when an ASan runtime is loaded into this process."""
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:  # pragma: no cover - not Linux
        return False


SANITIZED: bool = _sanitized()

#: Factor for subprocess timeouts in tests (the sanitizer scripts set
#: PYSAMPLED_TEST_TIMEOUT_SCALE: instrumented imports and runs are slower).
TIMEOUT_SCALE: float = float(os.environ.get("PYSAMPLED_TEST_TIMEOUT_SCALE", "1"))

SKIP_BAD_ALLOC = ("under ASan, operator new aborts instead of throwing std::bad_alloc, so the "
                  "MemoryError path cannot run; the normal (uninstrumented) stage checks it")


def address_space_in_use() -> int:
    """Bytes of address space this process has mapped already (VmSize), 0 if unknown."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return 0


def address_space_limit(extra: int) -> int:
    """An ``RLIMIT_AS`` value that lets this process map `extra` more bytes."""
    return address_space_in_use() + extra
