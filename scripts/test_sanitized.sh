#!/usr/bin/env bash
# Runs the whole test suite against a build of pysampled instrumented with
# AddressSanitizer and UndefinedBehaviorSanitizer (see README, "Sanitizers").
#
#   bash scripts/test_sanitized.sh [pytest arguments...]
#
# Builds into build/asan-venv (created on first use; later runs rebuild
# incrementally from build/asan), preloads GCC's libasan/libubsan into the
# uninstrumented Python, and exits non-zero on a test failure or on any
# sanitizer report, including reports from subprocesses the tests start.
# Needs only Python >= 3.9, GCC with its sanitizer runtimes and the package
# registry. Variables: see scripts/_sanitized_env.sh.
set -euo pipefail
source "$(dirname "$0")/_sanitized_env.sh"

# The sanitizers stop (abort) at the first error. ASan reports go to files,
# one per process, subprocesses included; UBSan's ignore log_path when ASan
# is linked too and go to stderr (collected below). Leaks are checked
# separately (scripts/check_leaks.sh): CPython and NumPy keep allocations
# alive until exit by design. PYTHONMALLOC=malloc puts Python objects under
# ASan's redzones too. libgomp is not instrumented: ASan only sees the
# OpenMP threads' accesses made from pysampled's own (instrumented) code,
# which is what we want; data races would need TSan (out of scope).
# detect_stack_use_after_return stays off: ASan's fake stack frames are not
# aligned for 64-byte locals (llvm/llvm-project#152819, fixed in 2025, not in
# GCC 12's libasan), and the AVX-512 kernels' aligned stores then fault.
# allocator_may_return_null=1: an impossible malloc returns NULL as glibc's
# does (NumPy then raises MemoryError, which tests check) instead of aborting;
# operator new still aborts under ASan (tests/_sanitizer.py skips those cases).
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:halt_on_error=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0:log_path=$SAN_LOG_DIR/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$SAN_LOG_DIR/ubsan"
export PYTHONMALLOC=malloc
export PYTHONFAULTHANDLER=1
# The tests that start an instrumented interpreter of their own
# (tests/test_fuzz_regressions.py, F13/F14) run here, not in the plain stage.
export PYSAMPLED_SANITIZED_PYTHON="$SAN_PY"
export PYSAMPLED_TEST_TIMEOUT_SCALE=${PYSAMPLED_TEST_TIMEOUT_SCALE:-4}  # subprocess timeouts in tests

# Learning-quality tests on large data take minutes each when instrumented;
# small-data tests run the same code (pytest marker slow_statistical).
# The type tests (mypy over the sources and the typing files) run no
# pysampled C++: they run in the normal stage only.
select=(-m "not slow_statistical" --ignore=tests/typing)
[ "${SAN_FULL:-0}" = 1 ] && select=()

san_log "running the test suite under ASan+UBSan (reports: $SAN_LOG_DIR)"
start=$SECONDS
status=0
# --capture=sys: pytest captures Python's sys.stdout/stderr only, so what the
# C/C++ runtimes write to file descriptor 2 (UBSan, libstdc++ assertions)
# reaches stderr.log even when the process aborts in the middle of a test.
LD_PRELOAD="$SAN_PRELOAD" "$SAN_PY" -m pytest -p no:cacheprovider --capture=sys \
  --durations=15 ${select[@]+"${select[@]}"} "$@" \
  2> >(tee "$SAN_LOG_DIR/stderr.log" >&2) || status=$?
wait  # for tee
san_log "pytest finished with status $status in $((SECONDS - start)) s"

if ! san_reports; then
  echo "FAILED: the sanitizers reported errors (above)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "FAILED: pytest exited with status $status" >&2
  exit "$status"
fi
echo "OK: test suite passed under AddressSanitizer + UndefinedBehaviorSanitizer, no reports" >&2
