"""The corpus side of the trainer: text files read lazily, the encoded corpus
on disk, and the scratch directory that holds it.

Design: a corpus is any iterable of token lists; :class:`TextCorpus` reads
plain-text files. The trainer encodes the corpus once into two flat files
(int32 word ids and int64 sentence ends) in a per-process temporary
directory, memory-maps them and cuts chunks of whole sentences from them,
so training never depends on how the corpus was produced.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from typing import Callable, Iterator, Sequence, Union

import numpy as np

from .._atomic import remove_if_owner_gone

__all__ = ["TextCorpus", "MAX_SENTENCE_LENGTH", "corpus_source", "encoding_dir",
           "normalize_token", "tokenize"]

#: Longer sentences are cut into pieces of this many tokens (as gensim does).
MAX_SENTENCE_LENGTH = 10_000

@functools.lru_cache(maxsize=None)
def _punctuation_table() -> dict[int, None]:
    """Every code point of a Unicode "P*" general category, for str.translate."""
    return {cp: None for cp in range(sys.maxunicode + 1)
            if unicodedata.category(chr(cp)).startswith("P")}


def normalize_token(token: str, *, lowercase: bool = False,
                    strip_punctuation: bool = False) -> str:
    """One token as the trainer and the evaluations see it.

    ``strip_punctuation`` deletes every character of the Unicode general
    categories ``Pc Pd Pe Pf Pi Po Ps`` (``"don't"`` -> ``"dont"``,
    ``"U.S."`` -> ``"US"``, ``"--"`` -> ``""``); ``lowercase`` then applies
    Python's ``str.lower`` (the Unicode default case mapping). A token that
    becomes empty is dropped by :func:`tokenize`. The rule is per token, so a
    word of an evaluation file maps to exactly one key.
    """
    if not isinstance(token, str):
        raise TypeError(f"a token is a str, got {type(token).__name__}")
    if strip_punctuation:
        token = token.translate(_punctuation_table())
    if lowercase:
        token = token.lower()
    return token


def tokenize(line: str, *, lowercase: bool = False, strip_punctuation: bool = False) -> list[str]:
    """The tokens of one line of text: split at Unicode whitespace (``str.split``),
    each token passed through :func:`normalize_token`, empty ones dropped."""
    if not isinstance(line, str):
        raise TypeError(f"tokenize() takes a str, got {type(line).__name__}")
    words = line.split()
    if not (lowercase or strip_punctuation):
        return words
    out = []
    for w in words:
        w = normalize_token(w, lowercase=lowercase, strip_punctuation=strip_punctuation)
        if w:
            out.append(w)
    return out


PathLike = Union[str, "os.PathLike[str]"]


class TextCorpus:
    """Plain-text files read lazily: one sentence per line, tokens separated by
    whitespace. Files are decoded as UTF-8 (invalid bytes are replaced).

    Parameters
    ----------
    paths : path or sequence of paths
        Text files (directories are refused).
    lowercase, strip_punctuation : bool, default False
        Token normalisation, see :func:`normalize_token`.
    """

    def __init__(self, paths: PathLike | Sequence[PathLike], *, lowercase: bool = False,
                 strip_punctuation: bool = False) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        self.lowercase = bool(lowercase)
        self.strip_punctuation = bool(strip_punctuation)
        if not self.paths:
            raise ValueError("no input files")
        for p in self.paths:
            if os.path.isdir(p):
                raise IsADirectoryError(f"input {p} is a directory: give the text files in it "
                                        f"(for example {os.path.join(p, '*.txt')})")
            if not os.path.isfile(p):
                raise FileNotFoundError(f"input file not found: {p}")

        for p in self.paths:
            with open(p, "rb") as f:
                head = f.read(1 << 16)
            if b"\x00" in head:
                raise ValueError(f"{p} looks like a binary file (it contains NUL bytes), "
                                 "not text with one sentence per line")

    def normalizer(self) -> Callable[[str], str]:
        """The per-word normalisation of this corpus (for evaluation files)."""
        return lambda w: normalize_token(w, lowercase=self.lowercase,
                                         strip_punctuation=self.strip_punctuation)

    def __repr__(self) -> str:
        opts = "".join(f", {k}=True" for k in ("lowercase", "strip_punctuation") if getattr(self, k))
        return f"TextCorpus({self.paths!r}{opts})"

    def __iter__(self) -> Iterator[list[str]]:
        for p in self.paths:
            with open(p, encoding="utf-8", errors="replace") as f:
                for line in f:
                    words = tokenize(line, lowercase=self.lowercase,
                                     strip_punctuation=self.strip_punctuation)
                    if words:
                        yield words


class EncodedCorpus:
    """The corpus as int32 word ids and int64 sentence ends, in two files."""

    def __init__(self, directory: str):
        self.dir = directory
        self.tokens = np.memmap(os.path.join(directory, "tokens.i32"), dtype=np.int32, mode="r") \
            if os.path.getsize(os.path.join(directory, "tokens.i32")) else np.zeros(0, np.int32)
        self.ends = np.memmap(os.path.join(directory, "ends.i64"), dtype=np.int64, mode="r") \
            if os.path.getsize(os.path.join(directory, "ends.i64")) else np.zeros(0, np.int64)

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[0])

    def chunks(self, chunk_words: int):
        """(index, start, stop, sentence ends relative to start): whole sentences,
        cut as soon as a chunk reaches chunk_words tokens."""
        ends = self.ends
        n_sent = ends.shape[0]
        index = 0
        s0 = 0
        start = 0
        while s0 < n_sent:
            target = start + chunk_words
            s1 = int(np.searchsorted(ends, target, side="left", sorter=None)) + 1
            s1 = min(max(s1, s0 + 1), n_sent)
            stop = int(ends[s1 - 1])
            yield index, start, stop, np.asarray(ends[s0:s1]) - start
            index += 1
            s0, start = s1, stop


def corpus_source(corpus):
    if isinstance(corpus, (str, os.PathLike)) or (
            isinstance(corpus, (list, tuple)) and corpus and isinstance(corpus[0], (str, os.PathLike))
            and not isinstance(corpus[0], list)):
        return TextCorpus(corpus)
    return corpus

_WORKDIR_PREFIX = "pysampled-w2v-"
_WORKDIR_PATTERN = re.compile(re.escape(_WORKDIR_PREFIX) + r"(\d+)-")


def encoding_dir(workdir):
    """A temporary directory for the encoded corpus, named after this process;
    directories that killed trainers left behind in the same place are
    removed first (only ours: the name pattern, and the owner's pid is gone)."""
    base = workdir if workdir is not None else tempfile.gettempdir()
    remove_if_owner_gone(base, _WORKDIR_PATTERN, lambda p: shutil.rmtree(p, ignore_errors=True))
    return tempfile.TemporaryDirectory(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-", dir=workdir)
