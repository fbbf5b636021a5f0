#!/usr/bin/env python3
"""Sorts LeakSanitizer reports into pysampled's leaks and everybody else's.

    python3 scripts/lsan_filter.py LOG_DIR

Reads every ASan/LSan report file in LOG_DIR (ASAN_OPTIONS=log_path=...,
one file per process). A leak counts as pysampled's when its allocation
stack has a frame in pysampled's C++ core or in its Cython modules: then the
memory was allocated by pysampled code, or by NumPy/CPython on behalf of a
pysampled call (e.g. a result array whose reference the binding lost).
Leaks with no such frame belong to CPython, NumPy, pytest... and are only
counted (their import-time allocations that live until exit are reported as
leaks by design; scripts/lsan.supp silences the known ones).

Exits 1 if pysampled leaked or if a report holds another sanitizer error,
printing those reports in full; 0 otherwise.
"""
from __future__ import annotations

import collections
import pathlib
import re
import sys

OURS = re.compile(r"libpysampled_core\.so|/pysampled/_(?:samplers|losses|word2vec)[^/\s]*\.(?:so|cxx)"
                  r"|src/cpp/pysampled/|pysampled::")
LEAK = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)", re.M)
FRAME = re.compile(r"^\s+#\d+ ")


def leak_blocks(text: str):
    starts = [m.start() for m in LEAK.finditer(text)]
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        block = text[s:end]
        block = block.split("\nSUMMARY:")[0].rstrip()
        yield block


def site(block: str) -> str:
    """The first frame below the allocator, as a short label."""
    for line in block.splitlines()[1:]:
        if FRAME.match(line) and "interceptor" not in line and "asan_" not in line:
            return re.sub(r"^\s+#\d+ 0x[0-9a-f]+ in ", "", line).strip()[:120]
    return "?"


def main(argv) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    files = sorted(p for p in pathlib.Path(argv[1]).iterdir()
                   if p.is_file() and p.name != "stderr.log" and p.stat().st_size)
    ours, errors = [], []
    theirs = collections.Counter()
    their_bytes = 0
    processes = 0
    for path in files:
        text = path.read_text(errors="replace")
        if "ERROR: LeakSanitizer" in text:
            processes += 1
        if re.search(r"ERROR: AddressSanitizer|runtime error:", text):
            errors.append((path, text))
        for block in leak_blocks(text):
            if any(OURS.search(line) for line in block.splitlines() if FRAME.match(line)):
                ours.append((path, block))
            else:
                m = LEAK.match(block)
                theirs[site(block)] += 1
                their_bytes += int(m.group(2))
    print(f"lsan_filter: {len(files)} report file(s), {processes} process(es) with leak reports; "
          f"{sum(theirs.values())} leak record(s) ({their_bytes} bytes) outside pysampled, "
          f"{len(ours)} in pysampled", file=sys.stderr)
    for label, n in theirs.most_common(8):
        print(f"  not ours: {n:4d} x {label}", file=sys.stderr)
    for path, text in errors:
        print(f"==================== sanitizer error in {path}:\n{text}", file=sys.stderr)
    for path, block in ours:
        print(f"==================== pysampled leak ({path}):\n{block}\n", file=sys.stderr)
    return 1 if ours or errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
