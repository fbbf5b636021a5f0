"""The C++ text-corpus reader (``pysampled._word2vec.scan_vocabulary`` /
``encode_corpus``) against Python's own reading of the same bytes.

Oracle: ``bytes.decode("utf-8", errors="replace")``, lines as Python's
universal-newline text mode cuts them (``io.StringIO(text, newline=None)``),
tokens from ``str.split()``; counts from ``collections.Counter``, order by
(count descending, word); pieces of at most ``max_len`` tokens. Inputs:
random byte soup, random Unicode with every whitespace and line-end character
Python knows, invalid UTF-8 at every position, long lines across block
boundaries, several files, thread counts 1 and 2 and tiny blocks.
"""
import collections
import io

import numpy as np
import pytest

from pysampled import _word2vec

WS = [c for c in map(chr, range(0x3100)) if c.isspace()]
PIECES = ["a", "b", "the", "é", "e\u0301", "日本", "🙂", "\ufffd", "x" * 40, "\u200b", "ſ", "İ",
          "\x00", "\x7f", "\u2029", "\u2028", "\x85", "\x1c", "\r", "\n", "\r\n", " ", "\t"]
BAD = [b"\x80", b"\xc0\xaf", b"\xe0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf0\x9f\x99",
       b"\xc3", b"\xe2\x82", b"\xff", b"\xf8\x88\x80\x80\x80", b"\xc2\x85", b"\xe3\x80"]


def oracle_sentences(datas):
    out = []
    for data in datas:
        for line in io.StringIO(data.decode("utf-8", errors="replace"), newline=None):
            words = line.split()
            if words:
                out.append(words)
    return out


def oracle_vocab(sentences, min_count=1):
    c = collections.Counter(w for s in sentences for w in s)
    words = sorted((w for w in c if c[w] >= min_count), key=lambda w: (-c[w], w))
    return words, [c[w] for w in words]


def oracle_encoding(sentences, vocab, max_len):
    index = {w: i for i, w in enumerate(vocab)}
    ids, ends = [], []
    for s in sentences:
        for k in range(0, len(s), max_len):
            piece = [index[w] for w in s[k:k + max_len] if w in index]
            if piece:
                ids.extend(piece)
                ends.append(len(ids))
    return ids, ends


def random_text(rng, n):
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            parts.append(rng.choice(PIECES).encode("utf-8"))
        elif r < 0.7:
            parts.append(rng.choice(WS).encode("utf-8"))
        elif r < 0.8:
            parts.append(BAD[rng.integers(len(BAD))])
        elif r < 0.9:
            parts.append(f"w{rng.integers(0, 30)}".encode())
        else:
            parts.append(bytes(rng.integers(0, 256, rng.integers(1, 5)).astype(np.uint8)))
    return b"".join(parts)


def run(tmp_path, datas, *, threads=1, block=1 << 20, min_count=1, max_len=10_000,
        single_pass=False):
    """Count and encode `datas` (one file each) with the two-pass reader, or
    with the single pass (provisional ids written while counting, then mapped
    to the vocabulary's ids) that ``Word2Vec.build_vocab`` uses."""
    paths = []
    for i, d in enumerate(datas):
        p = tmp_path / f"c{i}.txt"
        p.write_bytes(d)
        paths.append(str(p))
    t, e = str(tmp_path / "tokens.i32"), str(tmp_path / "ends.i64")
    if single_pass:
        pt, pe = str(tmp_path / "prov.i32"), str(tmp_path / "prov.i64")
        words, counts, tokens, sentences, unique, pids = _word2vec.scan_vocabulary_provisional(
            paths, min_count, threads, block, pt, pe)
        assert sorted(pids.tolist()) == sorted(set(pids.tolist()))
        assert all(0 <= x < unique for x in pids.tolist())
        final = np.full(unique, -1, np.int32)
        final[pids] = np.arange(len(words), dtype=np.int32)
        n_tok, n_sent, raw = _word2vec.encode_provisional(pt, pe, final, t, e, max_len)
    else:
        words, counts, tokens, sentences, unique, _ = _word2vec.scan_vocabulary(
            paths, min_count, 0, threads, block)
        n_tok, n_sent, raw = _word2vec.encode_corpus(paths, words, t, e, max_len, threads, block)
    return (words, counts.tolist(), tokens, sentences, unique,
            np.fromfile(t, np.int32).tolist(), np.fromfile(e, np.int64).tolist(), n_tok, n_sent,
            raw)


def check(tmp_path, datas, **kw):
    """Both readers (two passes; one pass with provisional ids) against the
    oracle."""
    for single_pass in (False, True):
        _check(tmp_path, datas, single_pass=single_pass, **kw)


def _check(tmp_path, datas, **kw):
    sents = oracle_sentences(datas)
    mc = kw.get("min_count", 1)
    words, counts = oracle_vocab(sents, mc)
    ids, ends = oracle_encoding(sents, words, kw.get("max_len", 10_000))
    got = run(tmp_path, datas, **kw)
    assert got[0] == words
    assert got[1] == counts
    assert got[2] == sum(map(len, sents))
    assert got[3] == len(sents)
    assert got[4] == len(oracle_vocab(sents)[0])
    assert got[5] == ids
    assert got[6] == ends
    assert got[7:] == (len(ids), len(ends), sum(map(len, sents)))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("threads,block", [(1, 1 << 20), (2, 7), (2, 1 << 20), (1, 1)])
def test_random_text_matches_python(tmp_path, seed, threads, block):
    rng = np.random.default_rng(seed)
    datas = [random_text(rng, int(rng.integers(0, 400))) for _ in range(int(rng.integers(1, 4)))]
    check(tmp_path, datas, threads=threads, block=block, min_count=int(rng.integers(1, 3)),
          max_len=int(rng.integers(1, 6)))


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("where", ["alone", "start", "middle", "end", "eof"])
def test_invalid_utf8_is_replaced_as_python_does(tmp_path, bad, where):
    data = {"alone": bad, "start": bad + b"ab cd\n", "middle": b"ab" + bad + b"cd ef\n",
            "end": b"ab cd" + bad + b"\nx", "eof": b"ab cd " + bad}[where]
    check(tmp_path, [data])


@pytest.mark.parametrize("ch", WS + ["\u200b", "\ufeff", "\x00"])
def test_every_whitespace_character(tmp_path, ch):
    check(tmp_path, [f"a{ch}b{ch}{ch}c\nd{ch}\n{ch}\n".encode("utf-8")])


@pytest.mark.parametrize("special", [b" ", b"\n", b"\x1c", b"\x01", b"\x7f", b"!", b"~",
                                     "\u00e9".encode(), "\u3000".encode(), b"\xff", b"\xe2\x82"])
def test_a_special_byte_at_every_offset_of_a_long_token(tmp_path, special):
    """The reader skips the plain ASCII bytes of a token many at a time (16 on
    x86-64): a separator, a control byte that belongs to the word, a
    multi-byte or invalid character at every offset of a 40-byte token, and
    at the very end of the file."""
    toks = [b"y" * k + special + b"z" * (40 - k) for k in range(41)]
    for end in (b" ", b""):
        check(tmp_path, [b" ".join(toks) + end, b"q" * 33 + special])


def test_large_text_across_blocks_and_threads(tmp_path):
    # Several blocks, lines longer than a block, and a sentence of more than max_len tokens.
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(3000)] + ["ü", "日本語"]
    zipf = np.minimum(rng.zipf(1.3, 60_000), len(words)) - 1
    toks = [words[i] for i in zipf]
    lines, k = [], 0
    while k < len(toks):
        n = int(rng.integers(1, 40)) if rng.random() < 0.95 else 2500
        lines.append(" ".join(toks[k:k + n]))
        k += n
    data = ("\n".join(lines) + "\r\n").encode()
    for threads, block in [(1, 1 << 20), (2, 4096), (2, 1 << 16)]:
        check(tmp_path, [data, data[:1000]], threads=threads, block=block, min_count=2,
              max_len=1000)


@pytest.mark.parametrize("threads", [1, 2])
def test_lines_longer_than_a_block_are_read_in_pieces(tmp_path, threads):
    """A line longer than the block (text8 is one 100 MB line) is read in
    pieces cut after a space or tab, so the reader's memory stays bounded by
    the block; the line, its sentence count and its pieces of max_len tokens
    are those of the whole line, and lines around it are unaffected."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(50)] + ["\u00fc", "\u65e5\u672c", "x" * 30]
    long_line = " \t".join(words[i] for i in rng.integers(0, len(words), 3000)).encode()
    data = b"a b\n" + long_line + b"\nc d e\n" + long_line + b"  "
    for block, max_len in [(64, 7), (64, 1000), (1000, 10_000), (9, 3)]:
        check(tmp_path, [data, long_line], threads=threads, block=block, max_len=max_len)
    # a block that would end exactly where the file does, after a space
    for block in range(1, 12):
        check(tmp_path, [b"aaaa bbbb ", b"aaaa bbbb", b"aa \t", b"a b c d "], threads=threads,
              block=block, max_len=2)


def test_empty_files_and_missing_file(tmp_path):
    check(tmp_path, [b"", b"\n\n\r\n", b" \t "])
    with pytest.raises(OSError):
        _word2vec.scan_vocabulary([str(tmp_path / "missing")], 1, 0, 1, 1 << 20)
    with pytest.raises(OSError):
        _word2vec.scan_vocabulary_provisional([str(tmp_path / "missing")], 1, 1, 1 << 20,
                                              str(tmp_path / "p.i32"), str(tmp_path / "p.i64"))


def _provisional(tmp_path, text=b"a b c\nb c\n\nc\n"):
    p = tmp_path / "c.txt"
    p.write_bytes(text)
    pt, pe = tmp_path / "p.i32", tmp_path / "p.i64"
    words, _, _, _, unique, pids = _word2vec.scan_vocabulary_provisional(
        [str(p)], 1, 1, 1 << 20, str(pt), str(pe))
    final = np.full(unique, -1, np.int32)
    final[pids] = np.arange(len(words), dtype=np.int32)
    return pt, pe, final


def test_provisional_files_that_do_not_fit_are_rejected(tmp_path):
    """encode_provisional checks its inputs instead of reading past them: an id
    outside the map, line ends beyond the tokens or not increasing, tokens
    after the last line end."""
    pt, pe, final = _provisional(tmp_path)
    t, e = str(tmp_path / "t.i32"), str(tmp_path / "e.i64")
    assert _word2vec.encode_provisional(str(pt), str(pe), final, t, e, 100) == (6, 3, 6)
    with pytest.raises(ValueError, match="out of range"):
        _word2vec.encode_provisional(str(pt), str(pe), final[:1], t, e, 100)
    ends = np.fromfile(pe, np.int64)
    bad = [ends + 1, ends[::-1].copy(), ends[:-1]]
    messages = ["beyond its tokens", "must increase", "after the last line end"]
    for b, msg in zip(bad, messages):
        b.tofile(pe)
        with pytest.raises(ValueError, match=msg):
            _word2vec.encode_provisional(str(pt), str(pe), final, t, e, 100)
    with pytest.raises(ValueError, match="max_sentence_length"):
        _word2vec.encode_provisional(str(pt), str(pe), final, t, e, 0)
    with pytest.raises(OSError):
        _word2vec.encode_provisional(str(tmp_path / "none"), str(pe), final, t, e, 100)
