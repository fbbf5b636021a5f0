"""Shared pytest fixtures.

* ``restore_simd``: puts the kernels' SIMD level back after the test.
* ``each_simd_level``: parametrises a test over every SIMD level this CPU
  can run (lowest first), with the level switched on for the test; levels
  the CPU lacks do not appear (their absence is reported by
  ``test_runtime.py::test_simd_levels_report``).

The levels are switched through :mod:`pysampled._runtime`, the one home of
runtime switches, for every kernel family (bulk samplers, losses, word2vec).
"""
import pytest

from pysampled import _runtime

#: SIMD levels this CPU can run, lowest first.
SIMD_LEVELS = list(_runtime.SIMD_LEVELS[: _runtime.SIMD_LEVELS.index(
    _runtime.detected_simd_level()) + 1])


@pytest.fixture
def restore_simd():
    """Put the SIMD level back to what it was after the test."""
    old = _runtime.simd_level()
    yield
    _runtime.set_simd_level(old)


@pytest.fixture(params=SIMD_LEVELS)
def each_simd_level(request):
    """The test runs once per available SIMD level, with that level active."""
    old = _runtime.simd_level()
    _runtime.set_simd_level(request.param)
    yield request.param
    _runtime.set_simd_level(old)
