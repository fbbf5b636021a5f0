"""Bad-input sweep, area: word2vec corpus reading and the gensim options (C++
text reader, max_final_vocab, ns_exponent, shrink_windows,
build_vocab(update=True), num_threads and its deprecated name threads).

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    w2v-corpus-empty-file  raises ValueError: /empty/
    w2v-corpus-only-whitespace  raises ValueError: /empty/
    w2v-corpus-nul-bytes  raises ValueError: /binary/
    w2v-corpus-invalid-utf8  returns: invalid bytes replaced as Python's errors='replace'
    w2v-corpus-unicode-whitespace  returns: Python's str.split() whitespace separates words
    w2v-corpus-missing-file  raises FileNotFoundError: /not found/
    w2v-corpus-directory  raises IsADirectoryError: /is a directory: give the text files in it/
    w2v-max-final-vocab-0  raises ValueError: /max_final_vocab/
    w2v-max-final-vocab-float  raises TypeError: /max_final_vocab/
    w2v-max-final-vocab-all-tied  raises ValueError: /max_final_vocab=2 raised it to 2/
    w2v-max-final-vocab-ties-dropped  returns: words tied at the cut are all dropped (gensim's rule)
    w2v-ns-exponent-nan  raises ValueError: /ns_exponent/
    w2v-ns-exponent-inf  raises ValueError: /ns_exponent/
    w2v-ns-exponent-str  raises ValueError: //
    w2v-shrink-windows-false  returns: trains with full windows
    w2v-update-without-vocabulary  raises ValueError: /update/
    w2v-update-empty-corpus  raises ValueError: /empty/
    w2v-num-threads-0  raises ValueError: /num_threads must be a positive/
    w2v-num-threads-and-threads  raises TypeError: /both num_threads= and its deprecated name threads=/
    w2v-load-num-threads-and-threads  raises TypeError: /both num_threads= and its deprecated name
        threads=/
RESULTS-TABLE-END
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from sweep.harness import raises, returns


def _file(data: bytes) -> str:
    fd, path = tempfile.mkstemp(suffix=".txt")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def _w2v(**kw):
    from pysampled.word2vec import Word2Vec

    return Word2Vec(dim=4, min_count=1, **kw)


def _build(data: bytes, **kw):
    m = _w2v(**kw)
    m.build_vocab(_file(data), workdir=tempfile.gettempdir())
    return m


def _words(expect):
    def check(m):
        assert m.words == expect, m.words
    return check


# ================================================================ word2vec corpus
raises("w2v-corpus-empty-file", lambda: _build(b""), ValueError, "empty")
raises("w2v-corpus-only-whitespace", lambda: _build(b" \t\r\n\x0b\x1c\n"), ValueError, "empty")
raises("w2v-corpus-nul-bytes", lambda: _build(b"a b\x00c\n"), ValueError, "binary")
returns("w2v-corpus-invalid-utf8", lambda: _build(b"a \xff\xfe b\n\xc3"),
        _words(["a", "b", "\ufffd", "\ufffd\ufffd"]), "invalid bytes replaced as Python's errors='replace'")
returns("w2v-corpus-unicode-whitespace", lambda: _build("a\u3000b\u2028c\x85d".encode()),
        _words(["a", "b", "c", "d"]), "Python's str.split() whitespace separates words")
raises("w2v-corpus-missing-file",
       lambda: _w2v().build_vocab([os.path.join(tempfile.gettempdir(), "no-such-pysampled.txt")]),
       FileNotFoundError, "not found")
raises("w2v-corpus-directory", lambda: _w2v().build_vocab([tempfile.gettempdir()]),
       IsADirectoryError, "is a directory: give the text files in it")
raises("w2v-max-final-vocab-0", lambda: _w2v(max_final_vocab=0), ValueError, "max_final_vocab")
raises("w2v-max-final-vocab-float", lambda: _w2v(max_final_vocab=2.5), TypeError, "max_final_vocab")
raises("w2v-max-final-vocab-all-tied", lambda: _build(b"a b c\n", max_final_vocab=2),
       ValueError, "max_final_vocab=2 raised it to 2")
returns("w2v-max-final-vocab-ties-dropped", lambda: _build(b"a a b c\n", max_final_vocab=2),
        _words(["a"]), "words tied at the cut are all dropped (gensim's rule)")
raises("w2v-ns-exponent-nan", lambda: _w2v(ns_exponent=float("nan")), ValueError, "ns_exponent")
raises("w2v-ns-exponent-inf", lambda: _w2v(ns_exponent=float("inf")), ValueError, "ns_exponent")
raises("w2v-ns-exponent-str", lambda: _w2v(ns_exponent="x"), ValueError, "")
returns("w2v-shrink-windows-false", lambda: _build(b"a b c d\n" * 5, shrink_windows=False,
                                                     epochs=1).train(progress=False),
        lambda r: np.isfinite(r["epochs"][0]["loss"]), "trains with full windows")
raises("w2v-update-without-vocabulary", lambda: _w2v().build_vocab([["a"]], update=True),
       ValueError, "update")
raises("w2v-update-empty-corpus",
       lambda: _build(b"a b\n").build_vocab([[]], update=True), ValueError, "empty")
raises("w2v-num-threads-0", lambda: _w2v(num_threads=0), ValueError, "num_threads must be a positive")
raises("w2v-num-threads-and-threads", lambda: _w2v(num_threads=1, threads=1), TypeError,
       "both num_threads= and its deprecated name threads=")
raises("w2v-load-num-threads-and-threads",
       lambda: _w2v().load("no-such.ckpt", num_threads=1, threads=1),
       TypeError, "both num_threads= and its deprecated name threads=")
