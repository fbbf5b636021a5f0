"""The command line: `python -m pysampled [train] ...`, eval commands, errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

from pysampled.w2v_format import load_word2vec_format


def run(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "pysampled", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(3000):
        topic = rng.integers(0, 5)
        words = [f"t{topic}_{rng.integers(0, 8)}" if rng.random() < 0.5 else f"c{rng.zipf(1.5) % 50}"
                 for _ in range(10)]
        lines.append(" ".join(words))
    p = tmp_path_factory.mktemp("cli") / "corpus.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@pytest.mark.slow_statistical  # same code as test_default_run_on_a_small_builtin_corpus
def test_default_run_trains_on_the_builtin_corpus_and_reports_the_score():
    r = run("--synthetic-tokens", "1000000", "--epochs", "3", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "planted-structure score" in r.stdout
    score = float(r.stdout.split("planted-structure score")[1].split(":")[1].split()[0])
    assert score > 0.2  # chance is ~0.02; three short epochs already find half the groups


def test_default_run_on_a_small_builtin_corpus():
    r = run("--synthetic-tokens", "30000", "--epochs", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    score = float(r.stdout.split("planted-structure score")[1].split(":")[1].split()[0])
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize("binary", [False, True])
def test_train_writes_loadable_vectors(corpus_file, tmp_path, binary):
    out = tmp_path / ("v.bin" if binary else "v.txt")
    args = ["train", "--input", str(corpus_file), "--output", str(out), "--dim", "16",
            "--min-count", "2", "--epochs", "2", "--quiet"] + (["--binary"] if binary else [])
    r = run(*args)
    assert r.returncode == 0, r.stderr
    words, vectors = load_word2vec_format(out)
    assert vectors.shape == (len(words), 16)
    assert np.isfinite(vectors).all()
    assert "t0_0" in words


def test_cbow_nce_and_hogwild_options(corpus_file):
    r = run("--input", str(corpus_file), "--model", "cbow", "--loss", "nce", "--dim", "8",
            "--min-count", "2", "--epochs", "1", "--hogwild", "--threads", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "cbow (nce)" in r.stdout


def test_checkpoint_and_resume(corpus_file, tmp_path):
    ckpt = tmp_path / "ck.npz"
    r = run("--input", str(corpus_file), "--dim", "8", "--min-count", "2", "--epochs", "2",
            "--checkpoint", str(ckpt), "--quiet")
    assert r.returncode == 0, r.stderr and ckpt.exists()
    r = run("--input", str(corpus_file), "--resume", str(ckpt), "--quiet")
    assert r.returncode == 0, r.stderr  # nothing left to do: already finished


def test_eval_commands(tmp_path):
    from pysampled.w2v_format import save_word2vec_format

    words = ["a", "b", "c", "d", "e"]
    vecs = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]], np.float32)
    vfile = tmp_path / "v.txt"
    save_word2vec_format(vfile, words, vecs)
    q = tmp_path / "q.txt"
    q.write_text(": test\na b c d\n")
    r = run("eval-analogy", str(vfile), str(q))
    assert r.returncode == 0, r.stderr
    assert "accuracy 1.0000 (1/1" in r.stdout
    pairs = tmp_path / "p.txt"
    pairs.write_text("a\tc\t9\na\tb\t1\na\te\t5\n")  # cosines 0.71, 0, 0.58
    r = run("eval-similarity", str(vfile), str(pairs))
    assert r.returncode == 0, r.stderr
    assert "Spearman 1.0000" in r.stdout


def test_bad_input_gives_a_clear_error_and_status_2(tmp_path, corpus_file):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run("--input", str(empty), "--quiet")
    assert r.returncode == 2 and "empty" in r.stderr
    garbage = tmp_path / "garbage.dat"
    garbage.write_bytes(os.urandom(4096) + b"\x00")
    r = run("--input", str(garbage), "--quiet")
    assert r.returncode == 2 and "binary" in r.stderr
    r = run("--input", str(tmp_path / "missing.txt"))
    assert r.returncode == 2 and "not found" in r.stderr
    r = run("--no-such-option")
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    r = run("--input", str(corpus_file), "--output", str(tmp_path / "nodir" / "v.txt"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run("--input", str(corpus_file), "--output", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr
    r = run("--dim", "0", "--synthetic-tokens", "2000")
    assert r.returncode == 2 and "dim" in r.stderr


def test_demo_runs():
    r = run("demo")
    assert r.returncode == 0, r.stderr
    assert "M draws/s" in r.stdout
