#!/usr/bin/env python3
"""Calls every public entry point of pysampled a few times, for leak checkers.

    python scripts/leak_workload.py [CALLS]     (default: 30 calls of each case)

The cases are those of tests/test_memory.py (samplers, sample_bulk,
compute_accidental_hits, the four losses with gradients, SampledLoss and its
step, C++ errors through the bindings, word2vec files and tiny trainings).
scripts/check_leaks.sh runs it under LeakSanitizer; it works the same under
valgrind (see README, "Sanitizers").
"""
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_memory  # noqa: E402


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with tempfile.TemporaryDirectory() as tmp:
        cases = test_memory._cases(pathlib.Path(tmp))
        for _, _, fn in cases:
            for _ in range(calls):
                fn()
        print(f"leak_workload: {calls} calls of each of {len(cases)} cases")
        del cases


if __name__ == "__main__":
    main()
