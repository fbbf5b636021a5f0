#!/usr/bin/env bash
# Cross-compile the C++ core for aarch64 and check that no x86 flag was used.
#
#   bash scripts/check_cross_build.sh     # needs Debian's g++-aarch64-linux-gnu:
#                                         # apt-get install -y g++-aarch64-linux-gnu
#
# Builds only the core (-DPYSAMPLED_PYTHON=OFF: no Python, no Cython) with
# the cross compiler in build/cross-aarch64, then fails if
# * the configure step did not select the generic (non-x86) kernels,
# * any compile command carries an x86 ISA flag (-mavx*, -mamx*, -mfma, -mbmi*,
#   -msse*, -mprefer-vector-width, -march=x86-64*),
# * the library is not an AArch64 ELF file, or OpenMP was not found.
# CXX selects the compiler (default aarch64-linux-gnu-g++).
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-aarch64-linux-gnu-g++}
OUT=build/cross-aarch64
command -v "$CXX" >/dev/null || {
  echo "check_cross_build.sh: $CXX not found (apt-get install -y g++-aarch64-linux-gnu)" >&2; exit 2; }
rm -rf "$OUT"
cmake -S . -B "$OUT" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER -DPYSAMPLED_PYTHON=OFF | tee "$OUT.configure.log"
grep -q "target aarch64, x86 ISA levels: OFF" "$OUT.configure.log" || {
  echo "FAIL: configure did not select the non-x86 path" >&2; exit 1; }
grep -q "Found OpenMP_CXX" "$OUT.configure.log" || { echo "FAIL: OpenMP not found for aarch64" >&2; exit 1; }
cmake --build "$OUT" -j "$(nproc)"
if grep -Eo -- '-m(avx[0-9a-z]*|amx[a-z0-9-]*|fma|bmi[0-9]*|sse[0-9.a-z]*|prefer-vector-width=[0-9]+|arch=x86-64[a-z0-9-]*)' \
     "$OUT/compile_commands.json" | sort -u | grep .; then
  echo "FAIL: x86 flags in the aarch64 build (above)" >&2; exit 1
fi
lib=$(find "$OUT" -name 'libpysampled_core.so' | head -1)
readelf -h "$lib" | grep -q "Machine:.*AArch64" || { echo "FAIL: $lib is not AArch64" >&2; exit 1; }
n=$(grep -c '"file"' "$OUT/compile_commands.json")
echo "OK: $lib is AArch64; $n translation units compiled, no x86 flag"
