r"""Table-driven sweep of bad (and borderline) input, each case crash-isolated.

Every case below builds its own inputs, calls one public function and states
the outcome: an exception type plus a regular expression its message must
match, or a documented non-error result checked by a predicate. The cases
cover every row of SPEC section 11 and go beyond it: NaN/Inf in inputs,
weights, biases and expected counts (propagated as TF propagates them), empty
batches, ids beyond int32/int64, zero and negative sizes, ``num_sampled``
larger than the support, wrong dtypes (object, float16, bool, complex, int),
non-contiguous / read-only / Fortran-ordered / big-endian arrays, empty and
mixed-dtype shard lists, shard sizes that contradict the strategy, labels and
expected counts of the wrong shape, for the samplers (functions and classes),
``compute_accidental_hits``, the four losses and ``SampledLoss``.

Isolation: all cases run in ONE worker subprocess (``python
test_bad_input_sweep.py --worker``) that receives case ids on stdin and
answers one JSON line per case on stdout. The parent waits at most
``CASE_TIMEOUT`` seconds per case; if the worker dies (signal, abort,
``os._exit``) or does not answer in time, that case fails with the signal or
"timed out" and the worker is restarted for the remaining cases. The worker
caps its address space (``RLIMIT_AS``, 4 GiB above what it maps at
start-up), so a case that tries to allocate without bound gets
``MemoryError`` (or is reported) instead of waking the OOM killer on a
shared machine. ``test_harness_isolates_crashes_and_hangs``
proves the isolation with a segfault, an abort, an ``os._exit`` and a hang.

Layout: the machinery (case registry, worker, isolation) is
``tests/sweep/harness.py``, shared input builders ``tests/sweep/builders.py``,
and the cases live in one module per area, ``tests/sweep/cases_<area>.py``,
each with its own table of documented outcomes (``raises``: exception and
message pattern; ``returns``: the documented result, no exception) in its
docstring. This file discovers every ``cases_*.py`` module; to add an area,
add a module (a new public API adds its cases in the same change).
Regenerate the tables with ``python tests/test_bad_input_sweep.py
--write-tables`` (``test_docstring_tables_list_every_case`` keeps them in sync).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the worker runs this file

try:  # the worker only needs numpy and pysampled
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

import sweep  # noqa: E402
from _sanitizer import SANITIZED, SKIP_BAD_ALLOC, TIMEOUT_SCALE  # noqa: E402
from sweep.harness import (  # noqa: E402
    CASE_TIMEOUT, CASES, HARNESS_CASES, _worker_main, all_cases, results_table, run_isolated,
)

#: Every area module, imported once (registration happens on import).
AREAS = {name: importlib.import_module(f"sweep.{name}")
         for _, name, _ in sorted(pkgutil.iter_modules(sweep.__path__)) if name.startswith("cases_")}
_ALL = all_cases()


def _table_span(doc):
    return doc.index("RESULTS-TABLE-START"), doc.index("RESULTS-TABLE-END")


def write_tables():
    """Rewrite every area module's docstring table from its registered cases."""
    for name, module in AREAS.items():
        path = module.__file__
        text = open(path, encoding="utf-8").read()
        a, b = _table_span(text)
        table = results_table([c for c in CASES if c.area == module.__name__])
        text = text[:a] + "RESULTS-TABLE-START\n" + table + "\n" + text[b:]
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


# ================================================================= pytest
if pytest is not None:
    _RESULTS: dict = {}

    def _result(cid):
        if not _RESULTS:
            _RESULTS.update(run_isolated([c.id for c in CASES
                                          if not (SANITIZED and c.bad_alloc)]))
        return _RESULTS[cid]

    @pytest.mark.parametrize(
        "cid", [pytest.param(c.id, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                             if c.xfail else []) for c in CASES])
    def test_case(cid):
        if SANITIZED and _ALL[cid].bad_alloc:
            pytest.skip(SKIP_BAD_ALLOC)
        res = _result(cid)
        assert res["ok"], f"{cid}: {res['detail']}"
        assert res["seconds"] < CASE_TIMEOUT

    @pytest.mark.parametrize("area", sorted(AREAS))
    def test_docstring_tables_list_every_case(area):
        module = AREAS[area]
        a, b = _table_span(module.__doc__)
        table = module.__doc__[a:b]
        missing = [c.id for c in CASES if c.area == module.__name__ and f"\n    {c.id}  " not in table]
        assert not missing, ("regenerate the tables with python tests/test_bad_input_sweep.py "
                             f"--write-tables; missing: {missing}")

    def test_every_case_belongs_to_an_area_module():
        assert {c.area for c in CASES} <= {m.__name__ for m in AREAS.values()}
        assert len(AREAS) >= 6

    def test_every_spec11_row_has_a_case():
        """One or more cases per row of SPEC section 11 (ids start with spec11-)."""
        ids = " ".join(c.id for c in CASES)
        for key in ("label-", "label-out-of-range-explicit", "label-beyond-num_classes",
                    "unique-S>R", "unique-support<S", "num_sampled-0-default",
                    "num_classes-0", "true_classes-rank", "true_classes-columns", "labels-1d",
                    "len-sampled", "tec-shape-[B]", "labels-[B,1]-with-NT2",
                    "sampled-id-out-of-range", "dim-mismatch", "bias-shorter",
                    "div-fewer-rows", "unknown-strategy", "fixed-unigram-size-mismatch",
                    "fixed-unigram-neither", "fixed-unigram-both", "vocab-line-unparsable",
                    "learned-unigram-range-too-large", "hits-non-matrix"):
            assert f"spec11-{key}" in ids, key
        assert any(c.id.startswith("nan-in-input-row") for c in CASES)

    def test_harness_isolates_crashes_and_hangs():
        ids = [c.id for c in HARNESS_CASES]
        # Under ASan the deliberate segfault would be caught and reported by
        # ASan's own handler (a sanitizer report fails the stage); here the
        # harness must see the plain signal, as in an uninstrumented build.
        env = ({"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0"}
               if SANITIZED else None)
        res = run_isolated(ids, timeout=2.0 * TIMEOUT_SCALE, env_extra=env)
        assert res["harness-segfault"].get("crashed") == "signal SIGSEGV", res["harness-segfault"]
        assert res["harness-abort"].get("crashed") == "signal SIGABRT", res["harness-abort"]
        assert res["harness-exit"].get("crashed") == "exit status 3", res["harness-exit"]
        assert res["harness-hang"].get("crashed") == "timeout", res["harness-hang"]
        assert res["harness-ok"]["ok"] and "crashed" not in res["harness-ok"]
        for cid in ("harness-wrong-exception", "harness-wrong-message", "harness-no-exception"):
            assert not res[cid]["ok"] and "crashed" not in res[cid], res[cid]
        assert "expected TypeError, got ValueError" in res["harness-wrong-exception"]["detail"]
        assert "does not match" in res["harness-wrong-message"]["detail"]
        assert "got no exception" in res["harness-no-exception"]["detail"]


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _worker_main()
    elif sys.argv[1:] == ["--table"]:
        print(results_table(CASES))
    elif sys.argv[1:] == ["--write-tables"]:
        write_tables()
    else:
        for cid, res in run_isolated([c.id for c in CASES]).items():
            print(f"{'ok ' if res['ok'] else 'FAIL'} {res['seconds']:6.3f}s {cid}: {res['detail']}")
