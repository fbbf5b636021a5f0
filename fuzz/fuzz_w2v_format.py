"""Fuzz ``load_word2vec_format`` (and ``save_word2vec_format`` round trips).

Input byte 0 selects the mode: ``b & 3 == 0`` the rest is the file itself
(seeded with valid text and binary files, see make_seeds.py) and bits 2-3
pick ``binary=None / False / True``; otherwise the file is *built* from a
fuzzed structure: a header with edge-value counts and dimensions (0,
negative, 2**31, 2**63, huge, non-numeric), text or binary records with
random words (Unicode, whitespace, invalid UTF-8, empty) and values (NaN,
inf, hex, huge, non-numeric), record counts that disagree with the header,
truncations and trailing junk.

Documented: a malformed file raises ``ValueError`` (``UnicodeDecodeError`` is
one), quickly and without allocating what the header claims. Oracles: the
result is ``(list of str, float32 C-contiguous [V, D])`` matching the
header; and saving it again (text and binary) and loading it back gives the
same words and bit-identical vectors.
"""
import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    from pysampled import load_word2vec_format, save_word2vec_format

WORDS = ["a", "the", "naïve", "日本語", "emoji🙂", "x y", "", "\u3000", "a\x85b", "\ufeffbom",
         "tab\tword", "0", "-1.5", "nan", "\r", "ſ", "a\x00b", "long" * 20]
VALUES = ["0", "1", "-1.5", "1e10", "1e39", "-1e39", "nan", "NaN", "inf", "-Infinity", "0x10",
          "1_0", "abc", "", "1e-50", "3.4028235e38", "3.4028236e38", "+.5", "٣", "1.0e+", "--1"]


def structured(g: Gen) -> bytes:
    count = g.edge_int(4, lo=0)
    dim = g.edge_int(4, lo=1)
    header_fields = [str(count), str(dim)]
    if g.rarely():
        header_fields = g.pick([[str(count)], [str(count), str(dim), "3"], ["x", "1"],
                                [str(count) + ".0", str(dim)], ["+1", " 2"], ["1e3", "2"]])
    sep = " " if not g.rarely() else g.pick(["\t", "  ", " \r", "\x0b"])
    out = [sep.join(header_fields).encode() + (b"\n" if not g.rarely() else b"")]
    binary = g.bool()
    n_rec = count if (count <= 8 and not g.rarely()) else g.size(6)
    d = dim if (1 <= dim <= 8 and not g.rarely()) else g.int(1, 4)
    for _ in range(n_rec):
        w = g.pick(WORDS) if g.chance(1, 3) else "w%d" % g.int(0, 5)
        wb = w.encode("utf-8", "surrogatepass")
        if g.rarely():
            wb = g.bytes(g.int(0, 4))
        nv = d if not g.rarely() else g.size(6)
        if binary:
            vals = np.array(g.float_values(nv, -5, 5, (1, 10)), dtype="<f4").tobytes()
            out.append(wb + b" " + vals + (b"\n" if not g.rarely() else b""))
        else:
            vals = [g.pick(VALUES) if g.rarely() else repr(v) for v in g.float_values(nv, -5, 5)]
            s = " ".join([w] + vals) if not g.rarely() else "  ".join([w] + vals) + " "
            out.append(s.encode("utf-8", "surrogatepass") + g.pick([b"\n", b"\n", b"\r\n", b" \n"]))
    data = b"".join(out)
    if g.rarely():
        data = data[:g.int(0, len(data))]
    if g.rarely():
        data += g.bytes(g.int(0, 8))
    return data


def TestOneInput(data):
    if not data:
        return
    mode = data[0]
    if mode & 3 == 0:
        body = data[1:]
        binary = [None, False, True, None][(mode >> 2) & 3]
        g = None
    else:
        g = Gen(data[1:])
        body = structured(g)
        binary = g.pick([None, None, False, True])
    path = fl.write_file("vectors.bin", body)
    fl.log(body[:200], binary=binary)
    res = None
    with expect(ValueError, MemoryError):  # MemoryError only if the file itself is absurd
        res = load_word2vec_format(path, binary=binary)
    if res is None:
        return
    words, vectors = res
    check(isinstance(words, list) and all(isinstance(w, str) and w for w in words),
          "words must be non-empty str", words[:5])
    check(isinstance(vectors, np.ndarray) and vectors.dtype == np.float32 and vectors.ndim == 2
          and vectors.flags.c_contiguous, "vectors must be float32 C-contiguous 2-D",
          getattr(vectors, "dtype", None))
    check(vectors.shape[0] == len(words), "one row per word", vectors.shape, len(words))
    header = body.split(b"\n", 1)[0].decode("ascii").split()
    check(vectors.shape == (int(header[0]), int(header[1])), "shape differs from the header",
          vectors.shape, header)
    # Round trip through both formats.
    for fmt in (False, True):
        out = fl.tmpdir() / "roundtrip.bin"
        try:
            save_word2vec_format(out, words, vectors, binary=fmt)
        except ValueError:  # e.g. a loaded word holds non-ASCII whitespace (allowed on load)
            continue
        w2, v2 = load_word2vec_format(out, binary=fmt)
        check(w2 == words, "round trip changed the words", fmt, words[:5], w2[:5])
        same = (v2.view(np.uint32) == vectors.view(np.uint32)) | (np.isnan(v2) & np.isnan(vectors))
        check(v2.shape == vectors.shape and same.all(), "round trip changed the vectors", fmt,
              vectors, v2)
        w3, v3 = load_word2vec_format(out)  # detection must find the format it was saved in
        check(w3 == words and v3.shape == vectors.shape, "format detection failed on a saved file",
              fmt, words[:5], w3[:5])


if __name__ == "__main__":
    fl.main(TestOneInput)
