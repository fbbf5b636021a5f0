# Shared by scripts/test_sanitized.sh and scripts/check_leaks.sh (sourced,
# not run): builds pysampled with AddressSanitizer + UndefinedBehaviorSanitizer
# into its own virtual environment and prepares the environment variables a
# non-instrumented Python needs to load it.
#
# Inputs (environment, all optional):
#   PYTHON              interpreter that creates the venv (default: python3)
#   CXX                 C++ compiler; must be GCC (default: g++)
#   SAN_VENV            the venv (default: build/asan-venv)
#   SAN_BUILD_DIR       CMake build folder, kept for incremental rebuilds
#                       (default: build/asan)
#   SAN_SYSTEM_SITE     1 (default): the venv sees the system site-packages,
#                       so NumPy/SciPy/pytest already installed there are
#                       reused; anything missing is installed from the package
#                       registry. 0: a fully isolated venv, everything from the
#                       registry.
#   SAN_SKIP_BUILD      1: reuse the venv and the installed build as they are.
#
# Outputs: SAN_PY (the venv's python), SAN_LOG_DIR (an empty folder for the
# sanitizer reports), SAN_PRELOAD (what LD_PRELOAD must hold).

set -euo pipefail

SAN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$SAN_ROOT"

PYTHON=${PYTHON:-python3}
export CXX=${CXX:-g++}
SAN_VENV=${SAN_VENV:-build/asan-venv}
SAN_BUILD_DIR=${SAN_BUILD_DIR:-build/asan}
SAN_SYSTEM_SITE=${SAN_SYSTEM_SITE:-1}
SAN_PY="$SAN_VENV/bin/python"

san_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if ! "$CXX" --version 2>/dev/null | head -n1 | grep -qiE 'g\+\+|gcc'; then
  echo "error: CXX=$CXX is not GCC; the preload logic below needs GCC's libasan/libubsan" >&2
  exit 2
fi

# The sanitizer runtimes of the compiler that builds the extension. Python
# itself is not instrumented, so libasan must be the first library loaded
# into the process (LD_PRELOAD); libubsan comes along for the UBSan checks.
san_runtime() {
  local lib
  lib=$("$CXX" -print-file-name="$1")
  if [ "$lib" = "$1" ] || [ ! -e "$lib" ]; then
    echo "error: $CXX has no $1 (install the compiler's sanitizer runtime, e.g. libasan8/libubsan1)" >&2
    exit 2
  fi
  readlink -f "$lib"
}
SAN_PRELOAD="$(san_runtime libasan.so) $(san_runtime libubsan.so)"

if [ "${SAN_SKIP_BUILD:-0}" != 1 ]; then
  if [ ! -x "$SAN_PY" ]; then
    san_log "creating $SAN_VENV"
    if [ "$SAN_SYSTEM_SITE" = 1 ]; then
      "$PYTHON" -m venv --system-site-packages "$SAN_VENV"
    else
      "$PYTHON" -m venv "$SAN_VENV"
    fi
  fi
  # The build requirements, read from pyproject.toml, go into the venv so the
  # build runs without isolation and the CMake build folder can be reused.
  mapfile -t san_build_reqs < <("$SAN_PY" - <<'EOF'
import re
text = open("pyproject.toml", encoding="utf-8").read()
block = re.search(r"^\[build-system\][^\[]*?requires\s*=\s*\[(.*?)\]", text, re.S | re.M)
print("\n".join(re.findall(r"\"([^\"]+)\"", block.group(1))))
EOF
  )
  san_log "installing build requirements: ${san_build_reqs[*]} cmake ninja"
  "$SAN_PY" -m pip install -q "${san_build_reqs[@]}" "cmake>=3.21" ninja
  san_log "building pysampled with -fsanitize=address,undefined (build folder $SAN_BUILD_DIR)"
  "$SAN_PY" -m pip install -q --no-build-isolation \
    -Cbuild-dir="$SAN_BUILD_DIR" \
    -Ccmake.build-type=RelWithDebInfo \
    -Ccmake.define.PYSAMPLED_SANITIZE=ON \
    ".[test]"
fi

# Refuse to run the tests against anything but the instrumented build.
# (find_spec locates the package without importing it: importing needs the preload.)
SAN_CORE=$("$SAN_PY" -c 'import importlib.util as u; print(u.find_spec("pysampled").submodule_search_locations[0])' \
  2>/dev/null || true)
case "$SAN_CORE" in
  "$SAN_ROOT/$SAN_VENV"/*|"$(readlink -f "$SAN_VENV")"/*) ;;
  *) echo "error: $SAN_PY imports pysampled from '$SAN_CORE', not from $SAN_VENV" >&2; exit 2 ;;
esac
for so in "$SAN_CORE"/libpysampled_core.so "$SAN_CORE"/_*.so; do
  if ! LC_ALL=C readelf -d "$so" | grep -q 'NEEDED.*libasan'; then
    echo "error: $so is not built with AddressSanitizer" >&2
    exit 2
  fi
done

SAN_LOG_DIR="$SAN_ROOT/build/sanitizer-logs"
rm -rf "$SAN_LOG_DIR"
mkdir -p "$SAN_LOG_DIR"

# Prints every sanitizer report: ASan/LSan write theirs to files in
# SAN_LOG_DIR (log_path, one per process, subprocesses included); UBSan, in
# GCC's combined ASan+UBSan runtime, ignores log_path and writes to stderr,
# which the callers tee into $SAN_LOG_DIR/stderr.log. libstdc++'s assertion
# failures (_GLIBCXX_ASSERTIONS) also go to stderr. Returns 1 if any.
SAN_PATTERN='runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|Assertion .* failed|AddressSanitizer:DEADLYSIGNAL'
SAN_ALLOC_WARNING='^==[0-9]+==WARNING: AddressSanitizer failed to allocate 0x[0-9a-f]+ bytes$'
san_reports() {
  local found=0 f
  for f in "$SAN_LOG_DIR"/*; do
    [ -s "$f" ] || continue
    if [ "$(basename "$f")" = stderr.log ]; then
      grep -qE "$SAN_PATTERN" "$f" || continue
      echo "==================== sanitizer/assertion messages on stderr ($f):" >&2
      grep -nE -A 12 "$SAN_PATTERN" "$f" | head -n 400 >&2
    elif ! grep -qvE "$SAN_ALLOC_WARNING" "$f"; then
      # Only "failed to allocate" warnings: a test asked for an impossible
      # malloc and got NULL (allocator_may_return_null=1), i.e. MemoryError.
      san_log "allocation-failure warnings only (expected): $f"
      continue
    else
      echo "==================== sanitizer report: $f" >&2
      cat "$f" >&2
    fi
    found=1
  done
  return $found
}
