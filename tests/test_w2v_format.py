"""Tests of ``pysampled.w2v_format``: word2vec text/binary files.

The gensim cross-check at the end runs only where gensim is importable.
"""
import contextlib
import os
import struct

import numpy as np
import pytest

from pysampled import w2v_format
from pysampled.w2v_format import load_word2vec_format, save_word2vec_format

WORDS = ["the", "naïve", "日本語", "emoji🙂", "a-b_c", "Ünïcødé", "x", "ſ"]


def _special_float32_rows(rng, n_rows, dim):
    """float32 rows spanning every exponent: random bit patterns (no NaN) plus edge values."""
    bits = rng.integers(0, 2**32, size=(n_rows, dim), dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32).copy()
    x[np.isnan(x)] = 1.5
    edge = np.array([0.0, -0.0, np.inf, -np.inf, 1e-45, -1e-45, 1.17549435e-38,
                     np.finfo(np.float32).max, -np.finfo(np.float32).max,
                     np.finfo(np.float32).tiny, 0.1, 1 / 3, 16777217.0], dtype=np.float32)
    x[0, : min(dim, len(edge))] = edge[:dim]
    return x


def _bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def _files(tmp_path):
    return os.listdir(tmp_path)


# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("detect", [False, True])
def test_round_trip_bit_identical(tmp_path, binary, detect):
    rng = np.random.default_rng(1)
    words = WORDS + [f"w{i}" for i in range(300)]
    x = _special_float32_rows(rng, len(words), 17)
    path = tmp_path / "vecs"
    save_word2vec_format(path, words, x, binary=binary)
    w2, x2 = load_word2vec_format(path, binary=None if detect else binary)
    assert w2 == words
    assert x2.dtype == np.float32 and x2.shape == x.shape and x2.flags.c_contiguous
    np.testing.assert_array_equal(_bits(x2), _bits(x))
    assert _files(tmp_path) == ["vecs"]


@pytest.mark.parametrize("threads", [1, 2])
def test_text_is_pythons_percent_9g(tmp_path, monkeypatch, threads):
    """The C++ formatter writes exactly what "%s %.9g ... %.9g\\n" % (word, *row)
    writes in Python (the format's definition): every exponent, subnormals,
    signed zeros, infinities, NaN of either sign, UTF-8 words, several chunks
    (one of 97 rows, formatted whole; the others in blocks of 512 rows,
    formatted on 1 or 2 threads and joined in order)."""
    monkeypatch.setattr(w2v_format, "_ROWS_PER_CHUNK", 1100)
    monkeypatch.setattr(w2v_format, "resolve_num_threads", lambda _: threads)
    rng = np.random.default_rng(7)
    words = WORDS + [f"w{i}" for i in range(2289)]
    x = _special_float32_rows(rng, len(words), 23)
    nan = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF], np.uint32).view(np.float32)
    x[1, :4] = nan  # quiet and signalling NaN, both signs: Python writes "nan"
    path = tmp_path / "v"
    save_word2vec_format(path, words, x)
    fmt = "%s " + " ".join(["%.9g"] * x.shape[1]) + "\n"
    expected = f"{len(words)} {x.shape[1]}\n" + "".join(
        fmt % (w, *row) for w, row in zip(words, x.tolist()))
    got = path.read_bytes().decode("utf-8").splitlines()
    want = expected.splitlines()
    assert len(got) == len(want)
    bad = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    assert bad is None, (bad, got[bad][:200], want[bad][:200])  # short: no diff of 60 kB


def test_round_trip_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(w2v_format, "_ROWS_PER_CHUNK", 7)
    rng = np.random.default_rng(2)
    words = [f"w{i}" for i in range(50)]
    x = rng.standard_normal((50, 3)).astype(np.float32)
    for binary in (False, True):
        save_word2vec_format(tmp_path / "v", words, x, binary=binary)
        w2, x2 = load_word2vec_format(tmp_path / "v")
        assert w2 == words
        np.testing.assert_array_equal(_bits(x2), _bits(x))


def test_nan(tmp_path):
    x = np.array([[np.nan, 1.0], [2.0, -np.nan]], dtype=np.float32)
    x.view(np.uint32)[1, 1] = 0xFFC00123  # a NaN with a payload
    save_word2vec_format(tmp_path / "b", ["a", "b"], x, binary=True)
    np.testing.assert_array_equal(_bits(load_word2vec_format(tmp_path / "b")[1]), _bits(x))
    save_word2vec_format(tmp_path / "t", ["a", "b"], x)
    x2 = load_word2vec_format(tmp_path / "t")[1]
    np.testing.assert_array_equal(np.isnan(x2), np.isnan(x))
    assert x2[0, 1] == 1.0 and x2[1, 0] == 2.0


def test_exact_layout(tmp_path):
    x = np.array([[1.0, -0.5], [0.1, 3e-45]], dtype=np.float32)
    save_word2vec_format(tmp_path / "t", ["a", "é"], x)
    assert (tmp_path / "t").read_bytes() == "2 2\na 1 -0.5\né 0.100000001 2.80259693e-45\n".encode()
    save_word2vec_format(tmp_path / "b", ["a", "é"], x, binary=True)
    expected = (b"2 2\n" + b"a " + struct.pack("<2f", 1.0, -0.5) + b"\n"
                + "é ".encode() + x[1].astype("<f4").tobytes() + b"\n")
    assert (tmp_path / "b").read_bytes() == expected


def test_float64_input_is_stored_as_float32(tmp_path):
    x = np.array([[0.1, 1 / 3]], dtype=np.float64)
    save_word2vec_format(tmp_path / "v", ["a"], x)
    _, x2 = load_word2vec_format(tmp_path / "v")
    np.testing.assert_array_equal(x2, x.astype(np.float32))
    save_word2vec_format(tmp_path / "i", ["a"], np.array([[1, 2]]), binary=True)
    np.testing.assert_array_equal(load_word2vec_format(tmp_path / "i")[1], [[1.0, 2.0]])


@pytest.mark.parametrize("binary", [False, True])
def test_empty_vocabulary(tmp_path, binary):
    save_word2vec_format(tmp_path / "v", [], np.zeros((0, 5)), binary=binary)
    assert (tmp_path / "v").read_bytes() == b"0 5\n"
    words, x = load_word2vec_format(tmp_path / "v")
    assert words == [] and x.shape == (0, 5) and x.dtype == np.float32


def test_reads_word2vec_tool_and_gensim_variants(tmp_path):
    # word2vec.c text: trailing space after the last value; Windows line endings
    p = tmp_path / "c.txt"
    p.write_bytes(b"2 3 \r\nfoo 0.5 -1 2 \r\nbar 1e-3 0 7 \r\n")
    words, x = load_word2vec_format(p)
    assert words == ["foo", "bar"]
    np.testing.assert_array_equal(x, np.array([[0.5, -1, 2], [1e-3, 0, 7]], np.float32))
    # gensim binary: no "\n" after each vector
    v = np.array([[1.5, -2.0], [0.25, 8.0]], dtype="<f4")
    p = tmp_path / "g.bin"
    p.write_bytes(b"2 2\nfoo " + v[0].tobytes() + b"bar " + v[1].tobytes())
    for binary in (None, True):
        words, x = load_word2vec_format(p, binary=binary)
        assert words == ["foo", "bar"]
        np.testing.assert_array_equal(x, v)
    # words with non-ASCII whitespace, as in some published text files, load
    p = tmp_path / "nbsp.txt"
    p.write_text("1 1\na\u00a0b 0.5\n", encoding="utf-8")
    assert load_word2vec_format(p)[0] == ["a\u00a0b"]


# ---------------------------------------------------------------------------
# save: validation and atomicity
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["a b", "a\tb", "a\n", "\u00a0x", "x\u3000y", "", " "])
def test_save_rejects_bad_words(tmp_path, bad):
    with pytest.raises(ValueError):
        save_word2vec_format(tmp_path / "v", ["ok", bad], np.zeros((2, 3)))
    assert _files(tmp_path) == []


def test_save_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="2 words but 3"):
        save_word2vec_format(tmp_path / "v", ["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        save_word2vec_format(tmp_path / "v", ["a"], np.zeros(3))
    with pytest.raises(ValueError, match="at least one column"):
        save_word2vec_format(tmp_path / "v", ["a"], np.zeros((1, 0)))
    with pytest.raises(TypeError):
        save_word2vec_format(tmp_path / "v", ["a", 3], np.zeros((2, 2)))
    with pytest.raises(TypeError):
        save_word2vec_format(tmp_path / "v", "ab", np.zeros((2, 2)))
    with pytest.raises(TypeError):
        save_word2vec_format(tmp_path / "v", ["a"], np.array([["x"]]))
    assert _files(tmp_path) == []


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_save_is_atomic(tmp_path, monkeypatch, binary, exc, where):
    path = tmp_path / "vecs"
    path.write_bytes(b"old")

    def boom(*args):
        raise exc

    monkeypatch.setattr(os, where, boom)
    with pytest.raises(type(exc)):
        save_word2vec_format(path, ["a", "b"], np.ones((2, 4)), binary=binary)
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert _files(tmp_path) == ["vecs"]


def test_save_interrupted_mid_write_leaves_no_file(tmp_path, monkeypatch):
    # the third write (header, chunk 1, chunk 2) is interrupted
    monkeypatch.setattr(w2v_format, "_ROWS_PER_CHUNK", 2)
    real = w2v_format.atomic_write

    class Flaky:
        def __init__(self, f):
            self.f, self.calls = f, 0

        def write(self, data):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return self.f.write(data)

    @contextlib.contextmanager
    def flaky_atomic_write(path, mode):
        with real(path, mode) as f:
            yield Flaky(f)

    monkeypatch.setattr(w2v_format, "atomic_write", flaky_atomic_write)
    for binary in (False, True):
        with pytest.raises(KeyboardInterrupt):
            save_word2vec_format(tmp_path / "v", list("abcdefgh"), np.ones((8, 2)), binary=binary)
        assert _files(tmp_path) == []


# ---------------------------------------------------------------------------
# load: malformed files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty file"),
        (b"3 2", "header"),
        (b"x" * 1000, "header"),
        (b"a b\n", "header"),
        (b"3\nfoo 1 2 3\n", "header"),
        (b"1 2 3\nfoo 1 2\n", "header"),
        (b"-1 2\n", "header"),
        (b"1 0\nfoo\n", "header"),
        (b"1.5 2\nfoo 1 2\n", "header"),
        (b"\xff\xfe 2\n", "header"),
        (b"1000000000000 300\nfoo 1\n", "too short"),
        (b"2 2\nfoo 1 2\n", "too short|lines"),
        (b"2 2\nfoo 1 2\nbar 3 4\nbaz 5 6\n", "3 lines"),
        (b"2 2\nfoo 1 2\nbar 3\n", "line 3: expected a word and 2 values, got 2"),
        (b"2 2\nfoo 1 2\nbar 3 4 5\n", "line 3"),
        (b"2 2\nfoo 1 2\nbar 3 x4\n", "line 3: non-numeric value 'x4'"),
        (b"2 2\nfoo 1 2\nbar 3 1,5\n", "non-numeric"),
        (b"1 2\nfo\xffo 1 2\n", "UTF-8"),
    ],
)
def test_load_malformed_text(tmp_path, content, match):
    p = tmp_path / "bad"
    p.write_bytes(content)
    for binary in (None, False):
        with pytest.raises(ValueError, match=match):
            load_word2vec_format(p, binary=binary)


def _binary_file(tmp_path, n=3, dim=2):
    words = ["alpha", "β", "c"][:n]
    x = np.arange(n * dim, dtype=np.float32).reshape(n, dim) + 0.5
    save_word2vec_format(tmp_path / "b", words, x, binary=True)
    return (tmp_path / "b").read_bytes(), words, x


def test_load_truncated_binary_every_cut(tmp_path):
    data, words, x = _binary_file(tmp_path)
    p = tmp_path / "cut"
    for cut in range(len(data)):
        p.write_bytes(data[:cut])
        if cut == len(data) - 1:  # only the final "\n" is gone: still valid
            w2, x2 = load_word2vec_format(p)
            assert w2 == words
            np.testing.assert_array_equal(x2, x)
            continue
        for binary in (None, True):
            with pytest.raises(ValueError):
                load_word2vec_format(p, binary=binary)


def test_load_truncated_binary_messages(tmp_path):
    data, _, _ = _binary_file(tmp_path, n=2, dim=40)
    p = tmp_path / "cut"
    p.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated|too short"):
        load_word2vec_format(p, binary=True)
    p.write_bytes(data + b"junk " + b"\0" * 160)
    with pytest.raises(ValueError, match="extra data"):
        load_word2vec_format(p, binary=True)
    p.write_bytes(data.replace(b"2 40\n", b"1 40\n", 1))
    with pytest.raises(ValueError, match="extra data"):
        load_word2vec_format(p, binary=True)
    # a text file read as binary
    p.write_bytes(b"2 2\nfoo 0.125 -2.5\nbar 3.5 4.5\n")
    with pytest.raises(ValueError, match="whitespace"):
        load_word2vec_format(p, binary=True)
    assert load_word2vec_format(p)[0] == ["foo", "bar"]
    # ambiguity: when every text line after the word is exactly 4*D bytes, the
    # text is also valid binary; detection prefers text, binary=True obeys
    p.write_bytes(b"2 2\nfoo 1.5 2.5\nbar 3.5 4.5\n")
    np.testing.assert_array_equal(load_word2vec_format(p)[1], [[1.5, 2.5], [3.5, 4.5]])
    _, x = load_word2vec_format(p, binary=True)
    assert x[0].tobytes() == b"1.5 2.5\n"


def test_load_truncated_text_never_crashes(tmp_path):
    words = ["a", "bb", "ccc"]
    x = np.array([[0.125, -1.5], [2.0, 3.25], [1e-3, 7.0]], np.float32)
    save_word2vec_format(tmp_path / "t", words, x)
    data = (tmp_path / "t").read_bytes()
    p = tmp_path / "cut"
    for cut in range(len(data)):
        p.write_bytes(data[:cut])
        for binary in (None, False):
            try:
                w2, x2 = load_word2vec_format(p, binary=binary)
            except ValueError:
                continue
            # cutting digits off the last value can leave a valid, shorter number
            assert w2 == words and x2.shape == (3, 2) and cut >= len(data) - 3


@pytest.mark.parametrize("binary", [None, True, False])
def test_garbage_never_crashes(tmp_path, binary):
    rng = np.random.default_rng(5)
    data, _, _ = _binary_file(tmp_path, n=3, dim=4)
    save_word2vec_format(tmp_path / "t", ["a", "b", "c"], np.ones((3, 4)) / 3)
    text = (tmp_path / "t").read_bytes()
    p = tmp_path / "g"
    for trial in range(300):
        kind = trial % 3
        if kind == 0:  # random bytes, sometimes behind a plausible header
            body = rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes()
            content = (b"3 4\n" if trial % 2 else b"") + body
        else:  # a valid file with a few bytes changed
            content = bytearray(data if kind == 1 else text)
            for pos in rng.integers(0, len(content), 3):
                content[pos] = int(rng.integers(0, 256))
            content = bytes(content)
        p.write_bytes(content)
        try:
            w2, x2 = load_word2vec_format(p, binary=binary)
        except ValueError:
            continue
        assert x2.dtype == np.float32 and x2.ndim == 2 and len(w2) == x2.shape[0]


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(OSError):
        load_word2vec_format(tmp_path / "nope")


# ---------------------------------------------------------------------------
# gensim compatibility (optional)
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_and_writes_the_same(tmp_path, binary):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    rng = np.random.default_rng(3)
    words = WORDS + [f"w{i}" for i in range(200)]
    x = _special_float32_rows(rng, len(words), 23)
    x[~np.isfinite(x)] = 0.0
    path = tmp_path / "ours"
    save_word2vec_format(path, words, x, binary=binary)
    kv = gensim_kv.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(_bits(kv.vectors), _bits(x))
    theirs = tmp_path / "theirs"
    kv.save_word2vec_format(str(theirs), binary=binary)
    w2, x2 = load_word2vec_format(theirs)
    assert w2 == words
    np.testing.assert_array_equal(_bits(x2), _bits(x))
