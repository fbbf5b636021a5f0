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


# ---------------------------------------------------------------- issue 14: a CLI that respects its user
def test_version_prints_the_package_version():
    import pysampled

    for flag in ("--version", "-V"):
        r = run(flag)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"pysampled {pysampled.__version__}"


def test_help_shows_the_defaults_and_explains_alpha():
    r = run("train", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split("options:", 1)[1].split())  # after the usage; unwrapped
    for option, default in [("--dim DIM", 100), ("--window WINDOW", 5),
                            ("--min-count MIN_COUNT", 5), ("--epochs EPOCHS", 5),
                            ("--checkpoint-every SECONDS", 300.0)]:
        part = text.split(option, 1)[1].split(" --", 1)[0]
        assert f"(default: {default})" in part, (option, part)
    alpha = text.split("--alpha ALPHA", 1)[1].split(" --", 1)[0]
    assert "0.025" in alpha and "0.05" in alpha and "None" not in alpha
    assert "None" not in text


def test_a_misspelt_option_shows_the_subcommand_usage_and_a_suggestion():
    r = run("train", "--dimm", "3")
    assert r.returncode == 2
    assert "usage: pysampled train" in r.stderr
    assert "did you mean --dim?" in r.stderr
    r = run("--epcohs", "3")  # implicit train
    assert r.returncode == 2 and "usage: pysampled train" in r.stderr
    assert "did you mean --epochs?" in r.stderr
    r = run("eval-similarity", "v.txt", "p.txt", "--delimeter", ",")
    assert r.returncode == 2 and "usage: pysampled eval-similarity" in r.stderr
    assert "did you mean --delimiter?" in r.stderr


def test_a_misspelt_command_gets_a_suggestion():
    r = run("trian", "--epochs", "1")
    assert r.returncode == 2
    assert "unknown command 'trian'" in r.stderr and "did you mean 'train'?" in r.stderr


def test_the_default_run_says_how_to_save_the_vectors():
    r = run("--synthetic-tokens", "20000", "--epochs", "1", "--dim", "8", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "not saved" in r.stderr and "--output FILE" in r.stderr


def test_a_directory_as_input_is_named_as_such(tmp_path):
    r = run("--input", str(tmp_path), "--quiet")
    assert r.returncode == 2
    assert "is a directory" in r.stderr and "not found" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [b"hello, not a checkpoint\n", b"",
                                     b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': "
                                     b"False, 'shape': (1,), }"])
def test_resume_from_a_file_that_is_not_a_checkpoint(tmp_path, content):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(content)
    r = run("--synthetic-tokens", "2000", "--resume", str(bad), "--quiet")
    assert r.returncode == 2
    assert "not a pysampled checkpoint" in r.stderr
    assert "allow_pickle" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_resume_from_a_checkpoint_holding_objects_gives_no_pickle_advice(tmp_path):
    bad = tmp_path / "objects.npz"
    np.savez(bad, meta=np.array([{"version": 1}], dtype=object))
    r = run("--synthetic-tokens", "2000", "--resume", str(bad), "--quiet")
    assert r.returncode == 2
    assert "cannot read checkpoint" in r.stderr and "allow_pickle" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_files_of_the_eval_commands_are_clear_errors(tmp_path):
    r = run("eval-similarity", str(tmp_path / "missing.vec"), str(tmp_path / "pairs.txt"))
    assert r.returncode == 2
    assert "vectors file not found" in r.stderr and "Errno" not in r.stderr
    (tmp_path / "v.txt").write_text("1 2\na 0.5 0.5\n")
    r = run("eval-analogy", str(tmp_path / "v.txt"), str(tmp_path / "missing.txt"))
    assert r.returncode == 2
    assert "questions file not found" in r.stderr and "Errno" not in r.stderr
    r = run("--synthetic-tokens", "2000", "--similarity", str(tmp_path / "nope.tsv"))
    assert r.returncode == 2 and "pairs file not found" in r.stderr  # checked before training


def test_the_vocabulary_line_counts_every_token_read_and_the_kept_ones(tmp_path):
    text = "a a a b b c\nd a b\n\n  e  a b b\n"
    (tmp_path / "c.txt").write_text(text)
    tokens = text.split()
    counts = {w: tokens.count(w) for w in set(tokens)}
    kept = sum(c for c in counts.values() if c >= 3)
    kept_words = sum(1 for c in counts.values() if c >= 3)
    r = run("--input", str(tmp_path / "c.txt"), "--min-count", "3", "--dim", "4",
            "--epochs", "1", "--sample", "0")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stderr.splitlines() if "tokens read" in x)
    assert f": {len(tokens)} tokens read, {kept} kept" in line
    assert f"vocabulary {kept_words} words (min count 3)" in line


def test_resuming_a_finished_run_says_it_is_finished(corpus_file, tmp_path):
    ckpt = tmp_path / "ck.npz"
    r = run("--input", str(corpus_file), "--dim", "8", "--min-count", "2", "--epochs", "1",
            "--checkpoint", str(ckpt), "--quiet")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "v.txt"
    r = run("--input", str(corpus_file), "--resume", str(ckpt), "--output", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "finished run (1 of 1 epochs trained)" in r.stderr
    assert "epoch 2" not in r.stderr + r.stdout and "0 words in" not in r.stdout
    words, vectors = load_word2vec_format(out)  # the finished run's vectors, still written
    from pysampled import Word2Vec

    model = Word2Vec.load(ckpt)
    assert words == model.words and np.array_equal(vectors, model.vectors)


def test_tokenizer_rules():
    from pysampled.word2vec.corpus import normalize_token, tokenize

    assert tokenize("  Don't   stop--me \u00abnow\u00bb.  \n") == ["Don't", "stop--me", "\u00abnow\u00bb."]
    assert tokenize("Don't stop--me \u00abNow\u00bb . \u2014 $5 e-mail U.S.",
                    lowercase=True, strip_punctuation=True) == [
        "dont", "stopme", "now", "$5", "email", "us"]  # '.' and the em dash vanish
    assert tokenize("\u00c9COLE Stra\u00dfe", lowercase=True) == ["\u00e9cole", "stra\u00dfe"]
    assert normalize_token("\u00bfQu\u00e9?", strip_punctuation=True) == "Qu\u00e9"
    assert normalize_token("A_B", strip_punctuation=True) == "AB"  # '_' is Pc
    assert normalize_token("a+b=c", strip_punctuation=True) == "a+b=c"  # symbols (S*) stay
    # every punctuation character of the Basic Latin block, by its Unicode category
    ascii_p = "!\"#%&'()*,-./:;?@[\\]_{}"
    assert normalize_token("x" + ascii_p + "y", strip_punctuation=True) == "xy"
    assert normalize_token("$+<=>^`|~", strip_punctuation=True) == "$+<=>^`|~"


def test_tokenisation_options_apply_to_training_and_evaluation_alike(tmp_path):
    rng = np.random.default_rng(1)
    base = ["The", "the", "THE,", "Cat.", "cat", "\u00abdog\u00bb", "Dog"]
    lines = [" ".join(rng.choice(base, 8)) for _ in range(300)]
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("THE,\tcat.\t5\n\u00abDog\u00bb\tthe\t3\nCAT\tdog!\t1\n", encoding="utf-8")
    out = tmp_path / "v.txt"
    opts = ["--lowercase", "--strip-punctuation"]
    r = run("--input", str(tmp_path / "c.txt"), "--output", str(out), "--min-count", "1",
            "--dim", "4", "--epochs", "1", "--quiet", "--similarity", str(pairs), *opts)
    assert r.returncode == 0, r.stderr
    words, _ = load_word2vec_format(out)
    assert sorted(words) == ["cat", "dog", "the"]
    assert "(3 pairs, 0 out of vocabulary)" in r.stdout
    # the same normalisation in the eval command, even case-sensitively
    r = run("eval-similarity", str(out), str(pairs), "--case-sensitive", *opts)
    assert r.returncode == 0, r.stderr
    assert "(3 pairs, 0 out of vocabulary)" in r.stdout
    r = run("eval-similarity", str(out), str(pairs), "--case-sensitive")
    assert r.returncode == 2 or "3 out of vocabulary" in r.stdout


def test_word2vec_repr():
    from pysampled import Word2Vec

    m = Word2Vec(model="cbow", dim=7, epochs=3)
    assert repr(m) == ("<Word2Vec model='cbow', loss='negative', dim=7, window=5, epochs=3; "
                       "no vocabulary yet>")
    m.build_vocab([["a", "b", "a"]] * 5)
    assert repr(m).endswith("; vocabulary=2 words, trained 0 of 3 epochs>")


def _start_training(args, cwd):
    import signal  # noqa: F401

    return subprocess.Popen([sys.executable, "-m", "pysampled", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_writes_a_final_checkpoint_and_prints_a_working_resume_command(tmp_path, signame):
    """Interrupt a training run after its first epoch's checkpoint: it must stop
    within a chunk, leave a checkpoint of the interrupted position, and print a
    command that resumes it; the resumed run ends with the vectors of an
    uninterrupted one (deterministic mode), which is the oracle here."""
    import shlex
    import signal
    import time

    common = ["--synthetic-tokens", "20000", "--epochs", "30", "--dim", "8", "--threads", "2",
              "--sample", "0", "--min-count", "1"]
    ckpt = tmp_path / "run.npz"
    out = tmp_path / "resumed.bin"
    p = _start_training(common + ["--checkpoint", "run.npz", "--checkpoint-every", "1e9",
                                  "--output", "resumed.bin", "--binary", "--quiet"], tmp_path)
    deadline = time.monotonic() + 240
    while not ckpt.exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the first epoch's checkpoint: training is under way
    assert p.poll() is None, p.communicate()
    p.send_signal(getattr(signal, signame))
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 128 + getattr(signal, signame), stderr
    assert f"interrupted by {signame}" in stderr and not out.exists()
    from pysampled import Word2Vec

    model = Word2Vec.load(ckpt)
    assert 1 <= model.progress["epoch"] < 30  # stopped mid-run, position recorded
    command = stderr.split("Resume with:\n", 1)[1].strip().splitlines()[0]
    r = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "resuming run.npz" in r.stderr
    r = run(*common, "--output", str(tmp_path / "straight.bin"), "--binary", "--quiet")
    assert r.returncode == 0, r.stderr
    w1, v1 = load_word2vec_format(out)
    w2, v2 = load_word2vec_format(tmp_path / "straight.bin")
    assert w1 == w2 and np.array_equal(v1, v2)
