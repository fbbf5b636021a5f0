"""Durability of the word2vec trainer under SIGKILL at random moments.

The trainer (``python -m pysampled train``) writes its checkpoint after every
chunk with ``--checkpoint-every 0`` and its vectors at the end, both through
``pysampled._atomic.atomic_write`` (temporary file in the same directory,
fsync, rename, fsync of the directory). ``test_sigkill_at_random_moments``
starts a run (fresh, or resumed from the checkpoint), SIGKILLs it after a
seeded random delay, many times, and after every kill asserts:

* the checkpoint, if it exists, always loads (``Word2Vec.load``) and its
  progress is sane and never goes backwards within a chain of resumes;
* the output path never holds a half-written file: it is absent or
  byte-identical to the output of an uninterrupted run (deterministic mode:
  every completed run ends with the same vectors);
* a run resumed from that checkpoint (a copy, so the chain goes on)
  completes, and its final checkpoint's ``syn0`` is bit-identical to the
  uninterrupted run's (so is its output file);
* temporary files: a kill during a write leaves that write's
  ``.<name>.<pid>.<host>.<hex>.tmp`` behind (nothing can run at SIGKILL); it is
  never mistaken for the target, and the next successful write of the same
  target removes the leftovers of writers that are no longer alive, so they
  never outlive a completed run (only runs killed since the last completed
  one can have leftovers; a final uninterrupted run leaves none).

``test_resumed_run_is_bit_identical`` is the plain statement of the last
guarantee without kills: stop after a few chunks, resume, compare ``syn0``
with an uninterrupted run.
"""
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from pysampled import Word2Vec, load_word2vec_format
from pysampled import _atomic
from pysampled._atomic import atomic_write

from _sanitizer import SANITIZED

# Fewer kills under the sanitizers, where each run is several times slower:
# there the point is that the kill-and-resume path stays memory-safe; the
# normal stage's 22 kills cover more moments of the runs.
N_KILLS = 8 if SANITIZED else 22
SEED = 20240617
# One thread: on a small, busy machine OpenMP barriers would make run times
# erratic (the results are the same for any thread count). A small window and
# few negatives keep each run near one second; dim 50 keeps the files large
# enough (0.8 MB checkpoint, 1.1 MB text) that some kills land inside a write.
MODEL = {"dim": 50, "window": 2, "negative": 2}
TRAIN = ["train", "--synthetic-tokens", "200000", "--epochs", "3", "--quiet", "--threads", "1",
         "--seed", "5", "--checkpoint-every", "0",
         *(x for k, v in MODEL.items() for x in (f"--{k}", str(v)))]


def _cmd(workdir, checkpoint, output=None, resume=False):
    args = [sys.executable, "-m", "pysampled", *TRAIN, "--checkpoint", str(checkpoint),
            "--workdir", str(workdir)]
    if output is not None:
        args += ["--output", str(output)]
    if resume:
        args += ["--resume", str(checkpoint)]
    return args


def _run(args, timeout=120):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args}: rc={r.returncode}\n{r.stderr[-3000:]}"
    return r


def _tmp_files(directory):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, ".*.tmp")))


def _parse_tmp(name):
    """(target, writer pid) of a temporary file '.<target>.<pid>.<host>.<hex>.tmp'."""
    m = re.fullmatch(r"\.(.+)\.(\d+)\.[0-9a-f]{8}\.[0-9a-f]{12}\.tmp", name)
    assert m, f"unexpected temporary file name {name}"
    return m.group(1), int(m.group(2))


def _load_checkpoint(path):
    m = Word2Vec.load(path)
    assert m.syn0.shape == (len(m.words), m.stride) and np.isfinite(m.syn0).all()
    assert 0 <= m.progress["epoch"] <= m.epochs
    assert 0 <= m.progress["words_done"] <= m.epochs * m.progress["corpus_tokens"]
    return m


def _position(m):
    return (m.progress["epoch"], m.progress["chunk"], m.progress["words_done"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its final checkpoint, output bytes and duration."""
    d = tmp_path_factory.mktemp("reference")
    t0 = time.perf_counter()
    _run(_cmd(d, d / "ck.npz", d / "out.txt"))
    seconds = time.perf_counter() - t0
    final = _load_checkpoint(d / "ck.npz")
    assert final.progress["epoch"] == final.epochs
    # fixed cost of a run (start, corpus, vocabulary): resume the finished run
    shutil.copyfile(d / "ck.npz", d / "done.npz")
    t0 = time.perf_counter()
    _run(_cmd(d, d / "done.npz", resume=True))
    startup = time.perf_counter() - t0
    return {"syn0": final.syn0.copy(), "out": (d / "out.txt").read_bytes(), "seconds": seconds,
            "startup": min(startup, seconds), "words": final.words}


def test_sigkill_at_random_moments(tmp_path, reference):
    rng = random.Random(SEED)
    main = tmp_path / "main"
    verify = tmp_path / "verify"
    work = tmp_path / "work"
    for d in (main, verify, work):
        d.mkdir()
    ck, out = main / "ck.npz", main / "out.txt"
    log = []
    last = None  # position of the checkpoint chain
    pid_round = {}  # subject pid -> round
    last_completed = -1
    most_leftovers = 0
    # Run times follow the machine's load: `scale` maps the reference run's
    # timings to the current ones. It is re-measured whenever a run ends
    # before its kill (a run that took t seconds sets the scale so that the
    # next delays fall inside t) and grows a little after each kill (so that
    # kills keep reaching training and the writes when the machine slows
    # down again).
    scale = 1.0
    i = -1
    while sum(r["killed"] for r in log) < N_KILLS:
        i += 1
        assert i < 2 * N_KILLS, f"too few runs were killed: {log}"
        state = _load_checkpoint(ck) if ck.exists() else None
        resume = state is not None and state.progress["epoch"] < 3 and rng.random() < 0.75
        before = _position(state) if resume else None
        expected = reference["seconds"]  # how long this run would take
        if resume:
            left = 1 - state.progress["words_done"] / (3 * state.progress["corpus_tokens"])
            expected = reference["startup"] + left * (expected - reference["startup"])
        # mostly while training and writing, sometimes while starting up
        startup = scale * reference["startup"]
        expected *= scale
        delay = (rng.uniform(0.0, startup) if rng.random() < 0.15
                 else startup + rng.uniform(0.0, expected - startup))
        proc = subprocess.Popen(_cmd(work, ck, out, resume), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        while proc.poll() is None and (elapsed := time.perf_counter() - t0) < delay:
            time.sleep(min(0.01, delay - elapsed))
        ran_for = time.perf_counter() - t0
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)  # our own child, by its handle
        rc = proc.wait(timeout=60)
        # it may have exited on its own between poll() and the kill
        finished = finished or rc == 0
        assert finished or rc == -signal.SIGKILL, rc
        if finished:
            assert rc == 0, f"round {i}: the run failed with rc={rc}"
            scale *= min(0.8, 0.9 * ran_for / expected)
        else:
            scale = min(1.5, scale * 1.05)

        # 1. the checkpoint always loads; resumed chains never go backwards
        pos = None
        if ck.exists():
            pos = _position(_load_checkpoint(ck))
            if before is not None:
                assert pos >= before, f"round {i}: checkpoint went back from {before} to {pos}"
        else:
            assert not resume
        # 2. the output is absent or complete (= the uninterrupted run's bytes)
        if out.exists():
            assert out.read_bytes() == reference["out"], f"round {i}: output differs"
            words, vectors = load_word2vec_format(out)
            assert words == reference["words"] and np.isfinite(vectors).all()
        # 3. leftovers of killed writes: only temporary files of the two
        #    targets, each from a run killed since the last run that completed
        #    (a completed run's writes removed all older ones), and none at
        #    all right after a completed run
        pid_round[proc.pid] = i
        if finished:
            last_completed = i
        leftovers = _tmp_files(main)
        for name in leftovers:
            target, pid = _parse_tmp(name)
            assert target in ("ck.npz", "out.txt"), name
            assert pid_round.get(pid, -1) > last_completed, (
                f"round {i}: {name} (round {pid_round.get(pid)}) survived the completed run of "
                f"round {last_completed}")
        most_leftovers = max(most_leftovers, len(leftovers))
        # 4. a run resumed from this checkpoint completes with the reference vectors
        if pos is not None:
            for f in verify.iterdir():
                f.unlink()
            shutil.copyfile(ck, verify / "ck.npz")
            _run(_cmd(work, verify / "ck.npz", verify / "out.txt", resume=True))
            final = _load_checkpoint(verify / "ck.npz")
            assert final.progress["epoch"] == final.epochs
            np.testing.assert_array_equal(final.syn0, reference["syn0"],
                                          err_msg=f"round {i}: resumed from {pos}")
            assert (verify / "out.txt").read_bytes() == reference["out"]
        log.append({"round": i, "delay": round(delay, 3), "resumed": resume, "killed": not finished,
                    "checkpoint": pos, "leftover_tmp": leftovers})
        last = pos
    kills = sum(r["killed"] for r in log)
    print(f"\n{kills} kills in {len(log)} rounds; rounds that left a temporary file: "
          f"{sum(bool(r['leftover_tmp']) for r in log)}")
    for r in log:
        print(r)
    assert last is not None
    # a last, uninterrupted run removes every leftover of the killed ones
    print(f"most temporary files left at once: {most_leftovers}; before the last run: "
          f"{_tmp_files(main)}")
    _run(_cmd(work, ck, out))
    assert _tmp_files(main) == []
    assert out.read_bytes() == reference["out"]
    # the encoded-corpus work directories of killed runs are left behind
    # (TemporaryDirectory cannot clean up at SIGKILL); completed runs remove theirs
    print("leftover work directories:", len(os.listdir(work)))


def test_resumed_run_is_bit_identical(tmp_path, reference):
    """Deterministic mode: stop after some chunks (the CLI is killed just
    after a checkpoint, here simulated in-process), resume in a new process,
    and compare the final checkpoint's syn0 with the uninterrupted run."""
    from pysampled import SyntheticCorpus

    ck = tmp_path / "ck.npz"
    corpus = SyntheticCorpus(num_tokens=200_000, seed=5)
    m = Word2Vec(epochs=3, num_threads=1, seed=5, **MODEL)
    m.build_vocab(corpus, workdir=str(tmp_path))
    summary = m.train(corpus, checkpoint=str(ck), checkpoint_every=0, stop_after_chunks=3,
                      workdir=str(tmp_path))
    assert not summary["finished"]
    p = _load_checkpoint(ck).progress
    assert 0 < p["words_done"] < 3 * p["corpus_tokens"]
    _run(_cmd(tmp_path, ck, tmp_path / "out.txt", resume=True))
    final = _load_checkpoint(ck)
    np.testing.assert_array_equal(final.syn0, reference["syn0"])
    assert (tmp_path / "out.txt").read_bytes() == reference["out"]


def test_atomic_write_leftovers_are_cleaned_safely(tmp_path):
    """After a successful write, only temporary files of *this* target, made on
    this host by a writer that is gone, are removed."""
    target = tmp_path / "data.bin"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = _atomic._HOST
    other_host = f"{(int(host, 16) + 1) % 2**32:08x}"
    stale = tmp_path / f".data.bin.{dead.pid}.{host}.0123456789ab.tmp"
    keep = [
        tmp_path / f".data.bin.{os.getpid()}.{host}.0123456789ab.tmp",  # a live writer
        tmp_path / f".data.bin.{dead.pid}.{other_host}.0123456789ab.tmp",  # another host
        tmp_path / f".other.bin.{dead.pid}.{host}.0123456789ab.tmp",  # another target
        tmp_path / f".data.bin.{dead.pid}.{host}.0123456789ab.tmp.bak",  # not the pattern
        tmp_path / ".data.bin.0123456789ab.tmp",  # the old format
        tmp_path / f"data.bin.{dead.pid}.{host}.0123456789ab.tmp",  # not hidden
    ]
    for p in [stale] + keep:
        p.write_bytes(b"partial")
    with atomic_write(target) as f:
        f.write(b"complete")
    assert target.read_bytes() == b"complete"
    assert not stale.exists()
    assert all(p.exists() for p in keep)
    # a failing write removes its own temporary file and cleans nothing else
    stale.write_bytes(b"partial")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"x")
            raise RuntimeError
    assert target.read_bytes() == b"complete" and stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".data.bin.")
                  and p.name.endswith(".tmp")) == sorted(
        [stale.name] + [p.name for p in keep if p.name.startswith(".data.bin.")
                        and p.name.endswith(".tmp")])
