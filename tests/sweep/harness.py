"""The bad-input sweep's machinery: the case registry, result checks, and the
crash-isolated worker that runs cases.

Design: a case module (``tests/sweep/cases_<area>.py``) registers cases with
:func:`raises` / :func:`returns`; each case remembers its module (its area),
whose docstring holds that area's table of documented outcomes between
``RESULTS-TABLE-START`` and ``RESULTS-TABLE-END``. The driver
(``tests/test_bad_input_sweep.py``) imports every case module, runs all cases
in one worker subprocess (``python tests/test_bad_input_sweep.py --worker``)
and turns each into a pytest test; ``--write-tables`` regenerates the tables.
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from _sanitizer import address_space_limit

CASE_TIMEOUT = 5.0  # seconds per case
STARTUP_TIMEOUT = 60.0  # worker start (imports)
WORKER_AS_LIMIT = 4 << 30  # bytes of address space the worker may add to what it maps at start
#: The driver script the worker runs (it imports every case module).
DRIVER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "test_bad_input_sweep.py")


@dataclass
class Case:
    id: str
    call: Callable[[], Any]
    raises: tuple | None = None  # (exception type, message regex)
    check: Callable[[Any], Any] | None = None  # result predicate (asserts)
    doc: str = ""  # the documented result, for the table
    xfail: str | None = None  # "BUG: ..." reason: a known bug, strict xfail
    bad_alloc: bool = False  # the point is std::bad_alloc -> MemoryError (not under ASan)
    area: str = ""  # the case module that registered it

    def expected(self) -> str:
        if self.raises is not None:
            return f"raises {self.raises[0].__name__}: /{self.raises[1]}/"
        return f"returns: {self.doc}"


#: Every registered case, in registration order.
CASES: list[Case] = []


def _caller_module() -> str:
    return sys._getframe(2).f_globals.get("__name__", "")


def raises(cid, call, exc, pattern, xfail=None, bad_alloc=False):
    """Register a case whose call must raise `exc` with a message matching `pattern`."""
    CASES.append(Case(cid, call, raises=(exc, pattern), xfail=xfail, bad_alloc=bad_alloc,
                      area=_caller_module()))


def returns(cid, call, check, doc, xfail=None):
    """Register a case whose call must return a result that passes `check`."""
    CASES.append(Case(cid, call, check=check, doc=doc, xfail=xfail, area=_caller_module()))


#: Cases that prove the isolation itself (crash, abort, exit, hang).
HARNESS_CASES = [
    Case("harness-segfault", lambda: os.kill(os.getpid(), signal.SIGSEGV), check=lambda r: None),
    Case("harness-abort", lambda: os.abort(), check=lambda r: None),
    Case("harness-exit", lambda: os._exit(3), check=lambda r: None),
    Case("harness-hang", lambda: time.sleep(60), check=lambda r: None),
    Case("harness-ok", lambda: 1, check=lambda r: None),
    Case("harness-wrong-exception", lambda: int("x"), raises=(TypeError, "")),
    Case("harness-wrong-message", lambda: int("x"), raises=(ValueError, "^nope$")),
    Case("harness-no-exception", lambda: 1, raises=(ValueError, "")),
]


def all_cases() -> dict:
    """Every case by id (the registered ones and the harness's own)."""
    out = {c.id: c for c in CASES + HARNESS_CASES}
    assert len(out) == len(CASES) + len(HARNESS_CASES), "duplicate case ids"
    return out


def run_case_here(case: Case) -> dict:
    """Run one case in this process; never raises."""
    try:
        result = case.call()
    except BaseException as e:  # noqa: BLE001 - the point is to classify it
        if case.raises is None:
            return {"ok": False, "detail": f"raised {type(e).__name__}: {e}"}
        exc, pattern = case.raises
        if not isinstance(e, exc):
            return {"ok": False, "detail": f"expected {exc.__name__}, got {type(e).__name__}: {e}"}
        if not re.search(pattern, str(e)):
            return {"ok": False, "detail": f"{type(e).__name__} message {str(e)!r} does not match "
                                           f"/{pattern}/"}
        return {"ok": True, "detail": f"{type(e).__name__}: {e}"}
    if case.raises is not None:
        return {"ok": False, "detail": f"expected {case.raises[0].__name__}, got no exception"}
    try:
        case.check(result)
    except BaseException as e:  # noqa: BLE001
        return {"ok": False, "detail": f"result check failed: {type(e).__name__}: {e}"}
    return {"ok": True, "detail": "returned"}


def _worker_main():
    import resource
    try:
        limit = address_space_limit(WORKER_AS_LIMIT)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # pragma: no cover
        pass
    import warnings
    warnings.simplefilter("ignore")
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    for line in sys.stdin:
        cid = line.strip()
        if not cid:
            continue
        res = run_case_here(all_cases()[cid])
        res["id"] = cid
        out.write(json.dumps(res) + "\n")
        out.flush()


class Worker:
    """One worker subprocess speaking the line protocol."""

    def __init__(self, env_extra=None):
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
                   PYTHONFAULTHANDLER="1", **(env_extra or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", DRIVER, "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            cwd=os.path.dirname(DRIVER))
        self._buf = b""
        line = self._readline(STARTUP_TIMEOUT)
        if line != "READY":
            raise RuntimeError(f"worker did not start: {line!r}; stderr: {self.stderr_tail()}")

    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None  # timed out
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return ""  # EOF: the worker died
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def stderr_tail(self, n=600):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-n:]

    def run(self, cid, timeout) -> dict:
        try:
            self.proc.stdin.write((cid + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._readline(timeout)
        if line:
            return json.loads(line)
        if line is None:
            self.kill()
            return {"id": cid, "ok": False, "crashed": "timeout",
                    "detail": f"timed out after {timeout:.1f} s (worker killed and restarted)"}
        rc = self.proc.wait()
        how = (f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}")
        return {"id": cid, "ok": False, "crashed": how,
                "detail": f"worker died ({how}); stderr tail: {self.stderr_tail()}"}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its handle
        self.proc.wait()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.stderr.close()


def run_isolated(ids, timeout=CASE_TIMEOUT, env_extra=None) -> dict:
    """Run the cases `ids` in one worker, restarting it after a crash or hang."""
    results = {}
    worker = None
    try:
        for cid in ids:
            if worker is None:
                worker = Worker(env_extra)
            res = run_isolated_one(worker, cid, timeout)
            results[cid] = res
            if "crashed" in res:
                worker.close()
                worker = None
    finally:
        if worker is not None:
            worker.close()
    return results


def run_isolated_one(worker, cid, timeout):
    t0 = time.monotonic()
    res = worker.run(cid, timeout)
    res["seconds"] = time.monotonic() - t0
    return res


def results_table(cases, width=104) -> str:
    """One entry per case: ``<id>  <expected outcome>``, wrapped to `width`."""
    import textwrap
    lines = []
    for c in cases:
        exp = c.expected()
        if c.xfail:
            exp += f"  [xfail: {c.xfail}]"
        lines += textwrap.wrap(f"{c.id}  {exp}", width, initial_indent="    ",
                               subsequent_indent="        ", break_on_hyphens=False)
    return "\n".join(lines)
