"""Read and write embeddings in the word2vec text and binary formats.

Both formats start with an ASCII header line ``"V D\\n"`` (number of vectors
and their dimension). Then, for each of the ``V`` words, in order:

* text: ``word v1 v2 ... vD\\n``, UTF-8, values separated by single spaces;
* binary: the UTF-8 word, one space, ``D`` little-endian float32 values
  (``4 * D`` bytes), and ``\\n``, as written by the original word2vec tool
  and read by gensim's ``KeyedVectors.load_word2vec_format(binary=True)``.

Values are stored as float32. The text writer uses ``%.9g``, which is enough
digits for every float32 to survive the round trip bit for bit (NaN payloads
excepted, NaN stays NaN).
"""
from __future__ import annotations

import os
import re
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from .. import _word2vec
from .._atomic import atomic_write
from .._threads import resolve_num_threads

__all__ = ["save_word2vec_format", "load_word2vec_format"]

_WHITESPACE = re.compile(r"\s")
_ASCII_WHITESPACE = re.compile(r"[ \t\n\v\f\r]")
_ROWS_PER_CHUNK = 8192
_MAX_HEADER = 256


def _check_words(words, n_rows):
    if isinstance(words, (str, bytes)):
        raise TypeError("words must be a sequence of str, not a single string")
    words = list(words)
    if len(words) != n_rows:
        raise ValueError(f"{len(words)} words but {n_rows} vector rows")
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise TypeError(f"words[{i}] is {type(w).__name__}, not str")
        if not w:
            raise ValueError(f"words[{i}] is empty")
        if _WHITESPACE.search(w):
            raise ValueError(f"words[{i}] = {w!r} contains whitespace")
    return words


def save_word2vec_format(path: Union[str, os.PathLike[str]], words: Sequence[str],
                         vectors: npt.ArrayLike, binary: bool = False) -> None:
    """Save embeddings in the word2vec text or binary format, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    words : sequence of str
        One word per row of ``vectors``, in file order (word2vec files are
        conventionally sorted by decreasing frequency). Words must be
        non-empty and contain no whitespace (``str.isspace`` characters).
    vectors : array_like of real, shape (len(words), D)
        Embeddings, ``D >= 1``; stored as float32 (values are cast).
    binary : bool, default False
        Write the binary format (``word``, a space, ``D`` little-endian
        float32, ``\\n``) instead of text (``word v1 ... vD``, ``%.9g``).

    Raises
    ------
    ValueError
        On a shape mismatch, an empty word or a word with whitespace.
    TypeError
        If a word is not a str.

    Notes
    -----
    Text rows are formatted in C++, in parallel on the threads OpenMP allows
    (``OMP_NUM_THREADS``; the text is the same for any number).
    The file is written to a temporary file in the same directory, flushed
    and fsynced, then moved over ``path`` with :func:`os.replace`. If
    anything fails (or the process is interrupted by an exception such as
    ``KeyboardInterrupt``), the temporary file is removed and an existing
    ``path`` is left as it was; ``path`` never holds a partial file.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D [V, D], got shape {vectors.shape}")
    if vectors.dtype.kind not in "fiub":
        raise TypeError(f"vectors must be real numbers, got dtype {vectors.dtype}")
    n, dim = vectors.shape
    if dim < 1:
        raise ValueError("vectors must have at least one column")
    words = _check_words(words, n)
    header = f"{n} {dim}\n".encode("ascii")
    with atomic_write(path, "wb") as f:
        f.write(header)
        for start in range(0, n, _ROWS_PER_CHUNK):
            stop = min(n, start + _ROWS_PER_CHUNK)
            block = np.asarray(vectors[start:stop], dtype="<f4")
            if binary:
                rows = block.tobytes()
                step = 4 * dim
                out = []
                for i, w in enumerate(words[start:stop]):
                    out.append(w.encode("utf-8"))
                    out.append(b" ")
                    out.append(rows[i * step:(i + 1) * step])
                    out.append(b"\n")
                f.write(b"".join(out))
            else:  # formatted in C++: the same text as "%s %.9g ... %.9g\n" % (w, *row)
                encoded = [w.encode("utf-8") for w in words[start:stop]]
                ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
                f.write(_word2vec.text_rows(b"".join(encoded), ends,
                                            np.ascontiguousarray(block, dtype=np.float32),
                                            resolve_num_threads(None)))


def _read_header(data: bytes, where: str) -> Tuple[int, int, int]:
    end = data.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        if not data:
            raise ValueError(f"{where}: empty file, expected a 'V D' header line")
        raise ValueError(f"{where}: bad header: no 'V D' line in the first {_MAX_HEADER} bytes")
    line = data[:end]
    try:
        fields = line.decode("ascii").split()
        if len(fields) != 2:
            raise ValueError
        count, dim = int(fields[0]), int(fields[1])
    except ValueError:
        raise ValueError(
            f"{where}: bad header {line[:80]!r}: expected two integers 'V D'"
        ) from None
    if count < 0 or dim < 1:
        raise ValueError(f"{where}: bad header {line[:80]!r}: need V >= 0 and D >= 1")
    return count, dim, end + 1


def _split_fields(line: str) -> List[str]:
    """Split a text record on spaces, like the word2vec tool and gensim.

    Only ASCII spaces separate fields (so words may hold other Unicode
    whitespace, as in some published files); runs of spaces, a trailing
    space (the word2vec tool writes one) and ``\r`` / ``\t`` at the end are
    tolerated.
    """
    parts = line.rstrip(" \t\r").split(" ")
    if "" in parts:
        parts = [p for p in parts if p]
    return parts


def _looks_like_text(data: bytes, pos: int, dim: int) -> bool:
    """Whether the first record after the header parses as a text line."""
    end = data.find(b"\n", pos)
    line = data[pos:] if end < 0 else data[pos:end]
    try:
        parts = _split_fields(line.decode("utf-8"))
        if len(parts) != dim + 1:
            return False
        with np.errstate(over="ignore"):
            np.array(parts[1:], dtype=np.float32)
    except ValueError:  # includes UnicodeDecodeError
        return False
    return True


def _parse_text(data: bytes, pos: int, count: int, dim: int, where: str):
    body_len = len(data) - pos
    # shortest line: 1-char word, then D times " 0"; newlines between lines
    if count and body_len < count * (2 * dim + 2) - 1:
        raise ValueError(
            f"{where}: file too short for {count} text vectors of dimension {dim} "
            f"({body_len} bytes after the header): truncated file or wrong counts in header?"
        )
    try:
        text = data[pos:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not valid UTF-8 text ({e})") from None
    lines = text.split("\n")
    while lines and not lines[-1].strip():  # trailing newline(s) / blank tail
        lines.pop()
    if len(lines) != count:
        raise ValueError(
            f"{where}: header says {count} vectors but the file has {len(lines)} lines after it"
        )
    words: List[str] = []
    vectors = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, _ROWS_PER_CHUNK):
        stop = min(count, start + _ROWS_PER_CHUNK)
        values: List[str] = []
        for lineno in range(start, stop):
            parts = _split_fields(lines[lineno])
            if len(parts) != dim + 1:
                raise ValueError(
                    f"{where}: line {lineno + 2}: expected a word and {dim} values, "
                    f"got {len(parts)} fields"
                )
            words.append(parts[0])
            values.extend(parts[1:])
        try:
            with np.errstate(over="ignore"):
                vectors[start:stop] = np.array(values, dtype=np.float32).reshape(stop - start, dim)
        except ValueError:
            for lineno in range(start, stop):
                for tok in _split_fields(lines[lineno])[1:]:
                    try:
                        float(tok)
                    except ValueError:
                        raise ValueError(
                            f"{where}: line {lineno + 2}: non-numeric value {tok[:40]!r}"
                        ) from None
            raise  # pragma: no cover - float() and NumPy disagree
    return words, vectors


def _parse_binary(data: bytes, pos: int, count: int, dim: int, where: str):
    nbytes = 4 * dim
    body_len = len(data) - pos
    # shortest record: 1-byte word, space, 4 * D bytes (final newline optional)
    if count and body_len < count * (nbytes + 2):
        raise ValueError(
            f"{where}: file too short for {count} binary vectors of dimension {dim} "
            f"({body_len} bytes after the header): truncated file or wrong counts in header?"
        )
    words: List[str] = []
    vectors = np.empty((count, dim), dtype=np.float32)
    n = len(data)
    for i in range(count):
        while pos < n and data[pos] == 0x0A:  # "\n" ending the previous record
            pos += 1
        space = data.find(b" ", pos)
        if space < 0:
            raise ValueError(
                f"{where}: truncated binary data: record {i} of {count} has no word "
                f"(no space found after byte {pos})"
            )
        if space == pos:
            raise ValueError(f"{where}: record {i}: empty word at byte {pos}")
        try:
            word = data[pos:space].decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{where}: record {i}: word is not valid UTF-8 ({e})") from None
        if _ASCII_WHITESPACE.search(word):
            raise ValueError(
                f"{where}: record {i}: word {word[:40]!r} contains whitespace "
                "(not a word2vec binary file, or wrong dimension in header?)"
            )
        start = space + 1
        if n - start < nbytes:
            raise ValueError(
                f"{where}: truncated binary data: record {i} of {count} ({word[:40]!r}) "
                f"needs {nbytes} bytes of vector, {n - start} left"
            )
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=start)
        words.append(word)
        pos = start + nbytes
    if data[pos:].strip():
        raise ValueError(
            f"{where}: {n - pos} bytes of extra data after {count} binary vectors "
            "(wrong count in header?)"
        )
    return words, vectors


def load_word2vec_format(path: Union[str, os.PathLike[str]], binary: Optional[bool] = None
                         ) -> Tuple[List[str], npt.NDArray[np.float32]]:
    """Load embeddings from a word2vec text or binary file.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save_word2vec_format`, the word2vec tool or
        gensim (``KeyedVectors.save_word2vec_format``).
    binary : bool or None, default None
        Format; ``None`` detects it: the file is read as text if the first
        line after the header decodes as UTF-8 and holds a word and ``D``
        numbers, else as binary. If the detected format fails to parse, the
        other one is tried before giving up with the first error. (A file
        can be valid in both formats only by accident, e.g. when float bytes
        happen to spell digits; pass ``binary`` explicitly to be sure.)

    Returns
    -------
    words : list of str
        The words, in file order (duplicates are kept).
    vectors : numpy.ndarray of float32, shape (V, D)
        The vectors, C-contiguous, native byte order.

    Raises
    ------
    ValueError
        On a malformed file: bad or missing header, fewer or more records
        than the header says, truncated binary data, a wrong number of
        fields, non-numeric values, or invalid UTF-8. The message names the
        file and the line (text) or record (binary). Garbage input is
        rejected after at most one linear pass; sizes in the header are
        checked against the file size before any allocation.
    OSError
        If the file cannot be read.
    """
    where = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    count, dim, pos = _read_header(data, where)
    if binary is not None:
        parse = _parse_binary if binary else _parse_text
        return parse(data, pos, count, dim, where)
    if _looks_like_text(data, pos, dim):
        first, second = _parse_text, _parse_binary
    else:
        first, second = _parse_binary, _parse_text
    try:
        return first(data, pos, count, dim, where)
    except ValueError as err:
        try:
            return second(data, pos, count, dim, where)
        except ValueError as err2:
            other = "text" if second is _parse_text else "binary"
            raise ValueError(f"{err} [read as {other} instead: {err2}]") from None
