"""pysampled.distributed under real MPI: each test launches ``mpiexec -n K``
(K = 1, 2, 4; oversubscribed on a 2-core machine) on a script in tests/mpi/.

* Equivalence: ShardedSampledLoss against the single-process SampledLoss over
  the concatenated shards (same seed, same routing) within the float32 bound
  of docs/DISTRIBUTED.md (float64 runs within 1e-12, showing the algorithms
  agree and only rounding differs), for sampled softmax and NCE, mod and div,
  even and uneven shards, shared and split batches, SGD and Adagrad, several
  steps (tests/mpi/equivalence.py checks every rank and exits 3 otherwise).
* Bit-identical reruns, also with another OpenMP thread count.
* Traffic: bytes handed to MPI, measured by a counting communicator wrapper,
  equal the design's formula and do not grow with num_classes or num_sampled.
* Faults: a rank that raises, swallows an error and stalls, hangs, is killed
  or passes bad arguments ends the job with an error within the timeout plus
  a margin, and no rank writes its output.

Skipped when mpi4py or mpiexec is missing, except under CI=true, where that
is a failure (CI installs ``.[mpi]``) unless the suite runs under the
sanitizers (scripts/test_sanitized.sh builds a venv with ``.[test]`` only;
tests/test_distributed_local.py covers the algorithm there in one process).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "mpi"
_IN_CI = os.environ.get("CI") == "true"


def _find_mpiexec():
    """The mpiexec of the MPICH wheel installed with this Python, else one on PATH."""
    import sysconfig

    dirs = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    try:
        dirs.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")))
    except KeyError:
        pass
    for d in dirs:
        if (d / "mpiexec").exists():
            return str(d / "mpiexec")
    return shutil.which("mpiexec")


def _missing():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install '.[mpi]')"
    if _find_mpiexec() is None:
        return "mpiexec not found (pip install '.[mpi]' brings MPICH's)"
    return None


_WHY = _missing()
if _WHY is not None:
    from _sanitizer import SANITIZED

    if SANITIZED:  # scripts/test_sanitized.sh installs ".[test]" only; the normal stage runs these
        pytest.skip(f"{_WHY}; the MPI jobs run in the normal (uninstrumented) stage of .ci/run; "
                    "tests/test_distributed_local.py runs the algorithm in one process here",
                    allow_module_level=True)
    if _IN_CI:
        raise RuntimeError(f"CI=true but the MPI tests cannot run: {_WHY}")
    pytest.skip(_WHY, allow_module_level=True)

MPIEXEC = _find_mpiexec()


def mpirun(n, script, *args, timeout=120, threads=1, python_args=()):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *python_args, str(HERE / script), *map(str, args)]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p, time.monotonic() - t0


def json_lines(out):
    return [json.loads(line) for line in out.splitlines() if line.startswith(("{", "["))]


def test_mpiexec_runs_the_ranks_of_this_python():
    p, _ = mpirun(2, "hello.py")
    assert p.returncode == 0, p.stderr
    (sizes,) = json_lines(p.stdout)
    assert [d["rank"] for d in sizes] == [0, 1] and all(d["size"] == 2 for d in sizes), p.stdout


EQUIV = [
    # n, args
    (1, "--loss sampled_softmax --strategy div"),
    (1, "--loss nce --strategy mod --optimizer adagrad --split"),
    (2, "--loss sampled_softmax --strategy div --classes 40"),
    (2, "--loss sampled_softmax --strategy mod --classes 37 --split --optimizer adagrad"),
    (2, "--loss nce --strategy div --classes 37 --optimizer adagrad"),
    (2, "--loss nce --strategy mod --classes 40 --split"),
    (2, "--loss sampled_softmax --strategy mod --no-biases --steps 4"),
    (4, "--loss sampled_softmax --strategy div --classes 37 --optimizer adagrad"),
    (4, "--loss sampled_softmax --strategy mod --classes 40 --split"),
    (4, "--loss nce --strategy div --classes 40 --split --optimizer adagrad"),
    (4, "--loss nce --strategy mod --classes 37"),
    (4, "--loss sampled_softmax --strategy mod --num-true 2 --upstream --split"),
    (4, "--loss nce --strategy div --num-true 3 --upstream --optimizer adagrad"),
    # a rank with no examples
    (4, "--loss sampled_softmax --strategy div --batch 3 --split --optimizer adagrad"),
    (4, "--loss nce --strategy mod --classes 3 --sampled 2 --batch 3"),  # a rank with no rows
    (4, "--loss sampled_softmax --strategy mod --classes 500 --dim 16 --batch 32 --sampled 50 --steps 4 "
        "--optimizer adagrad --split"),
    # the forms without the update: loss and gradients (per-shard rows)
    (2, "--mode grads --loss sampled_softmax --strategy mod --upstream"),
    (4, "--mode grads --loss nce --strategy div --split --num-true 2"),
    (4, "--mode loss --loss sampled_softmax --strategy div --split --upstream"),
    # float64: the same algorithm up to rounding (bound 1e-12)
    (4, "--dtype float64 --loss sampled_softmax --strategy mod --split --optimizer adagrad"),
    (2, "--dtype float64 --loss nce --strategy div --classes 37"),
]


@pytest.mark.parametrize("n,args", EQUIV, ids=[f"n{n}:{a}" for n, a in EQUIV])
def test_equivalence_with_single_process(n, args):
    p, _ = mpirun(n, "equivalence.py", *args.split())
    assert p.returncode == 0, p.stdout + p.stderr
    (res,) = json_lines(p.stdout)
    assert res["ok"], res["worst"]
    assert all(v <= 1.0 for v in res["worst"].values()), res["worst"]


@pytest.mark.parametrize("n,args", [
    (4, "--loss sampled_softmax --strategy mod --split --optimizer adagrad --steps 4"),
    (2, "--loss nce --strategy div --upstream --steps 4"),
])
def test_bit_identical_reruns(n, args):
    digests = []
    for threads in (1, 1, 2):
        p, _ = mpirun(n, "equivalence.py", *args.split(), "--classes", 300, "--dim", 24, "--batch", 20,
                      "--sampled", 40, threads=threads)
        assert p.returncode == 0, p.stderr
        digests.append(json_lines(p.stdout)[0]["digest"])
    assert digests[0] == digests[1] == digests[2]
    # and the digest does see the results: another seed changes it
    p, _ = mpirun(n, "equivalence.py", *args.split(), "--classes", 300, "--dim", 24, "--batch", 20,
                  "--sampled", 40, "--seed", 6)
    assert json_lines(p.stdout)[0]["digest"] != digests[0]


def expected_bytes(K, r, B, D, T, f, loss, mode, split, upstream):
    """Bytes rank r's data delivers to other ranks in one call (docs/DISTRIBUTED.md)."""
    import numpy as np

    rows = [len(s) for s in np.array_split(np.arange(B), K)]
    b = rows[r]
    total = (K - 1) * 6 * 8  # agreement header: six int64
    if split:
        total += (K - 1) * b * (T * 8 + D * f + (f if upstream else 0))
    # normaliser / NCE loss: reduce-scatter of per-example partials, then an
    # allgather of the combined slices when other ranks need them
    if loss == "sampled_softmax":
        total += 3 * (B - b) * f
        if mode != "loss" or not split:
            total += (K - 1) * b * 3 * f
    else:
        total += (B - b) * f
        if not split:
            total += (K - 1) * b * f
    if mode != "loss":
        total += (B - b) * D * f  # reduce-scatter of the input gradient
        if not split:
            total += (K - 1) * b * D * f  # allgather of the reduced slices
    return total if K > 1 else 0


TRAFFIC = [
    (4, "sampled_softmax", "step", False, False, 1, "float32"),
    (4, "sampled_softmax", "step", True, True, 2, "float32"),
    (4, "nce", "grads", False, True, 1, "float64"),
    (4, "nce", "loss", True, False, 3, "float32"),
    (2, "sampled_softmax", "loss", False, False, 1, "float64"),
    (2, "nce", "step", True, False, 1, "float32"),
    (1, "sampled_softmax", "step", False, False, 1, "float32"),
]


@pytest.mark.parametrize("n,loss,mode,split,upstream,T,dtype", TRAFFIC)
def test_traffic_matches_formula(n, loss, mode, split, upstream, T, dtype):
    B, D = 9, 5
    f = 4 if dtype == "float32" else 8
    per_size = []
    for classes, sampled in ((50, 8), (400, 30)):  # num_classes and num_sampled must not matter
        args = ["--loss", loss, "--mode", mode, "--num-true", T, "--dtype", dtype, "--batch", B,
                "--dim", D, "--classes", classes, "--sampled", sampled]
        args += ["--split"] if split else []
        args += ["--upstream"] if upstream else []
        p, _ = mpirun(n, "traffic.py", *args)
        assert p.returncode == 0, p.stderr
        (res,) = json_lines(p.stdout)
        assert len(res) == n
        for d in res:
            want = expected_bytes(n, d["rank"], B, D, T, f, loss, mode, split, upstream)
            assert d["measured"] == [want, want], (d, want)
            assert d["reported"] == d["measured"]
        per_size.append([d["measured"] for d in res])
    assert per_size[0] == per_size[1]


FAULTS = [
    # fault, n, extra args, what the survivors must say
    ("hang", 4, [], "did not complete within 3 s"),
    ("caught", 2, [], "did not complete within 3 s"),
    ("raise", 4, [], "did not complete within 3 s"),
    ("kill", 4, [], None),
    ("badarg", 4, ["--split"], "rejected their arguments to step"),
    ("hang", 2, ["--on-timeout", "raise"], "DistributedTimeoutError"),
]


@pytest.mark.parametrize("fault,n,extra,message", FAULTS,
                         ids=[f"{f[0]}-n{f[1]}-{''.join(f[2])}" for f in FAULTS])
def test_a_failing_rank_ends_the_job_without_output(tmp_path, fault, n, extra, message):
    timeout = 3.0
    out = tmp_path / "o"
    p, elapsed = mpirun(n, "faults.py", "--fault", fault, "--timeout", timeout, "--out", out, *extra,
                        timeout=90)
    assert p.returncode != 0
    assert elapsed < timeout + 30, elapsed  # bounded: the timeout plus start-up and teardown
    if message is not None:
        assert message in p.stderr, p.stderr[-3000:]
    assert not list(tmp_path.iterdir()), ("a rank wrote output although the job failed",
                                          p.stderr[-3000:])


def test_under_python_m_mpi4py_an_uncaught_exception_aborts_at_once(tmp_path):
    # The README's recommended launch: mpi4py's runner calls MPI_Abort on an
    # uncaught exception, so the job ends before any peer's 60 s timeout.
    p, elapsed = mpirun(4, "faults.py", "--fault", "raise", "--timeout", 60, "--out", tmp_path / "o",
                        python_args=("-m", "mpi4py"), timeout=90)
    assert p.returncode != 0
    assert "injected failure on the last rank" in p.stderr
    assert "did not complete within" not in p.stderr
    assert elapsed < 45, elapsed
    assert not list(tmp_path.iterdir())


def test_the_fault_script_writes_output_when_nothing_fails(tmp_path):
    p, _ = mpirun(4, "faults.py", "--fault", "none", "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == [f"o.rank{r}.npy" for r in range(4)]


def test_default_timeout_is_at_most_60_seconds():
    import inspect

    from pysampled.distributed import ShardedSampledLoss

    default = inspect.signature(ShardedSampledLoss).parameters["timeout"].default
    assert 0 < default <= 60
