#!/usr/bin/env bash
# Leak check: LeakSanitizer over every public entry point and a subset of the
# test suite, with the ASan build of scripts/test_sanitized.sh (see README,
# "Sanitizers").
#
#   bash scripts/check_leaks.sh [CALLS]    (calls of each workload case, default 30)
#
# Runs scripts/leak_workload.py (every public function and class, CALLS
# times each) and pytest on the sampler, loss, accidental-hit and word2vec
# format tests, in processes where LeakSanitizer checks the heap at exit.
# PYTHONMALLOC=malloc gives every Python object its own malloc block, so a
# lost reference to an object pysampled created is a leak LSan can see.
# scripts/lsan_filter.py then fails if any leak was allocated with
# pysampled's C++ core or Cython bindings on the stack; CPython's and NumPy's
# own exit-time leftovers are counted only (scripts/lsan.supp hides the
# known ones).
set -euo pipefail
source "$(dirname "$0")/_sanitized_env.sh"

calls=${1:-30}
# fast_unwind_on_malloc=0: full stacks through CPython and NumPy (built
# without frame pointers), so a leak allocated by NumPy on behalf of a
# pysampled call still shows the pysampled frame. exitcode=0: leaks do not
# change exit statuses, lsan_filter.py decides.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:fast_unwind_on_malloc=0:malloc_context_size=40:log_path=$SAN_LOG_DIR/lsan"
export LSAN_OPTIONS="suppressions=$SAN_ROOT/scripts/lsan.supp:print_suppressions=0:exitcode=0"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export PYTHONMALLOC=malloc
export PYSAMPLED_TEST_TIMEOUT_SCALE=${PYSAMPLED_TEST_TIMEOUT_SCALE:-10}

status=0
san_log "leak workload: $calls calls of each public entry point"
LD_PRELOAD="$SAN_PRELOAD" "$SAN_PY" scripts/leak_workload.py "$calls" \
  2> >(tee "$SAN_LOG_DIR/stderr.log" >&2) || status=$?
wait
san_log "pytest subset under LeakSanitizer"
LD_PRELOAD="$SAN_PRELOAD" "$SAN_PY" -m pytest -q -p no:cacheprovider --capture=sys \
  tests/test_sampler_api.py tests/test_losses_api.py tests/test_accidental_hits.py \
  tests/test_w2v_format.py "${@:2}" \
  2> >(tee -a "$SAN_LOG_DIR/stderr.log" >&2) || status=$?
wait

leak_status=0
"$SAN_PY" scripts/lsan_filter.py "$SAN_LOG_DIR" || leak_status=$?
grep -qE "$SAN_PATTERN" "$SAN_LOG_DIR/stderr.log" && { san_reports || true; leak_status=1; }
if [ "$leak_status" -ne 0 ]; then
  echo "FAILED: pysampled leaked memory or a sanitizer reported an error (above)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "FAILED: the workload or pytest exited with status $status" >&2
  exit "$status"
fi
echo "OK: no leak allocated by pysampled" >&2
