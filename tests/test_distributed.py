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


# ---------------------------------------------------------------- the trainer
# `Word2Vec.train(comm=...)` / `mpiexec -n K pysampled train` (docs/DISTRIBUTED.md,
# "The trainer at scale"). The reference is the single-process trainer (C++,
# itself bit-identical to tests/oracles/word2vec_sampled.py): every step of the
# distributed run is that step with the softmax normaliser and the input
# gradient combined across ranks, so the two agree up to float32 rounding.
# 20k tokens, 2 epochs, dim 8: the trained values are O(0.1 .. 1), and the
# rounding differences measured stay below 1e-6; the bound is 1e-4.

def _w2v(tmp_path, n, name, *args, timeout=180):
    out = tmp_path / f"{name}.npz"
    p, elapsed = mpirun(n, "w2v_train.py", "--out", out, *args, timeout=timeout)
    return p, out, elapsed


def _arrays(path):
    import numpy as np

    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _assert_close(a, b, tol=1e-4):
    import numpy as np

    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        err = float(np.max(np.abs(a[k] - b[k]))) if a[k].size else 0.0
        assert err <= tol * (1 + float(np.max(np.abs(b[k])))), (k, err)


@pytest.mark.parametrize("n,loss,model", [
    (2, "sampled_softmax", "skipgram"), (2, "nce", "cbow"), (4, "nce", "skipgram"),
    (4, "sampled_softmax", "cbow")])
def test_trainer_equals_the_single_process_trainer(tmp_path, n, loss, model):
    args = ["--loss", loss, "--model", model]
    p, ref, _ = _w2v(tmp_path, 1, "ref", *args, "--no-comm")
    assert p.returncode == 0, p.stderr
    p, out, _ = _w2v(tmp_path, n, "dist", *args)
    assert p.returncode == 0, p.stderr
    (res,) = json_lines(p.stdout)
    assert res["size"] == n and res["finished"]
    a, b = _arrays(out), _arrays(ref)
    _assert_close(a, b)
    # the bound is far below the trained values themselves
    import numpy as np

    assert np.max(np.abs(a["syn0"] - b["syn0"])) < 1e-4 < np.max(np.abs(a["syn0"]))


def test_trainer_reruns_are_bit_identical(tmp_path):
    outs = []
    for i, threads in enumerate((1, 1, 2)):
        p, out, _ = _w2v(tmp_path, 2, f"run{i}", "--loss", "nce", "--threads", threads)
        assert p.returncode == 0, p.stderr
        outs.append(_arrays(out))
    for k in outs[0]:
        assert outs[0][k].tobytes() == outs[1][k].tobytes() == outs[2][k].tobytes(), k


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A 2-rank run stopped after 7 chunks with a checkpoint, and the same run
    uninterrupted."""
    d = tmp_path_factory.mktemp("interrupted")
    ckpt = d / "ckpt.npz"
    p, full, _ = _w2v(d, 2, "full")
    assert p.returncode == 0, p.stderr
    p, _, _ = _w2v(d, 2, "first", "--checkpoint", ckpt, "--stop-after", 7)
    assert p.returncode == 0, p.stderr
    assert not json_lines(p.stdout)[0]["finished"]
    # only rank 0 wrote: the checkpoint (the single-process format) and its output
    assert sorted(x.name for x in d.iterdir()) == ["ckpt.npz", "first.npz", "full.npz"]
    return ckpt, _arrays(full)


@pytest.mark.parametrize("resume_ranks", [2, 4, 1])
def test_trainer_checkpoint_resumes_with_any_number_of_ranks(tmp_path, interrupted_run,
                                                             resume_ranks):
    ckpt, b = interrupted_run
    extra = ["--no-comm"] if resume_ranks == 1 else []
    p, resumed, _ = _w2v(tmp_path, resume_ranks, "resumed", "--resume", ckpt, *extra)
    assert p.returncode == 0, p.stderr
    a = _arrays(resumed)
    if resume_ranks == 2:  # the same ranks: the uninterrupted run's bits
        for k in a:
            assert a[k].tobytes() == b[k].tobytes(), k
    else:
        _assert_close(a, b)


@pytest.mark.parametrize("fault", ["kill", "raise"])
def test_trainer_a_failing_rank_ends_the_job_without_output(tmp_path, fault):
    timeout = 3.0
    ckpt = tmp_path / "ckpt.npz"
    p, out, elapsed = _w2v(tmp_path, 4, "o", "--fault", fault, "--at", 3, "--timeout", timeout,
                           "--checkpoint", ckpt, timeout=90)
    assert p.returncode != 0
    assert elapsed < timeout + 30, elapsed
    assert not out.exists()
    # a checkpoint, if one was written before the failure, is complete
    if ckpt.exists():
        from pysampled.word2vec import Word2Vec

        Word2Vec.load(ckpt)
    assert not [x for x in tmp_path.iterdir() if x.name != "ckpt.npz"], list(tmp_path.iterdir())


def _cli(n, *args, timeout=180):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [MPIEXEC, "-n", str(n), sys.executable, "-m", "pysampled", "train", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_mpiexec_pysampled_train(tmp_path):
    import numpy as np

    from pysampled.word2vec import load_word2vec_format

    args = ["--loss", "sampled_softmax", "--synthetic-tokens", 20000, "--epochs", 2, "--dim", 8,
            "--threads", 1, "--quiet", "--binary"]
    one = _cli(1, *args, "--output", tmp_path / "one.bin")
    two = _cli(2, *args, "--output", tmp_path / "two.bin")
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    # one rank reports: the summary and the planted score once
    assert two.stdout.count("planted-structure score") == 1, two.stdout
    w1, v1 = load_word2vec_format(tmp_path / "one.bin")
    w2, v2 = load_word2vec_format(tmp_path / "two.bin")
    assert w1 == w2
    assert np.max(np.abs(v1 - v2)) <= 1e-4 * (1 + np.max(np.abs(v1)))
    # word2vec's own loss is not split over ranks: a usage error, not a hang
    bad = _cli(2, "--synthetic-tokens", 20000, "--epochs", 1, "--quiet", timeout=60)
    assert bad.returncode == 2, bad.stderr
    assert "use --loss nce or --loss sampled_softmax" in bad.stderr
