"""The corpus side of the trainer: text files read lazily, the encoded corpus
on disk, and the scratch directory that holds it.

Design: a corpus is any iterable of token lists; :class:`TextCorpus` reads
plain-text files. The trainer encodes the corpus once into two flat files
(int32 word ids and int64 sentence ends) in a per-process temporary
directory, memory-maps them and cuts chunks of whole sentences from them,
so training never depends on how the corpus was produced.

Text files are counted and encoded in C++ (``corpus.hpp``: streamed in
blocks of whole lines, one byte range per thread, memory bounded by the
vocabulary), in one pass over the text: the count writes every token's
provisional id to the scratch directory, and the encoding maps those ids to
the final vocabulary (with ``max_vocab_size``, whose pruning forgets words,
the text is read twice instead). Other iterables are counted in Python
here, the same way. Both give the same vocabulary,
ids and sentence ends for the same sentences (``tests/test_corpus.py``
holds the C++ reader to Python's reading of the same bytes).

``max_vocab_size`` bounds the vocabulary *during* the count, as gensim and
word2vec.c do: between two blocks (text files: blocks of
:data:`TEXT_BLOCK_BYTES` bytes cut at line ends, or at a space or tab
inside a longer line, every file starting a new block; iterables: sentences
totalling at least :data:`PRUNE_EVERY_TOKENS` tokens), while the vocabulary
holds more than ``max_vocab_size`` words, the words counted at most
``min_reduce`` times so far are dropped and ``min_reduce`` (starting at 1)
grows by one. Nothing is pruned after the last block; the trainer then keeps
the ``max_vocab_size`` most frequent words (ties by word). A corpus of one
block is therefore counted exactly; the block boundaries never depend on the
thread count. (So several small files, each a block, may be pruned where the
same sentences as one iterable, one block, are not.)
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from typing import (TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple, Sequence, Tuple,
                    Union, cast)

import numpy as np
import numpy.typing as npt

from .. import _word2vec
from .._atomic import remove_if_owner_gone

if TYPE_CHECKING:
    from typing_extensions import TypeGuard

__all__ = ["TextCorpus", "MAX_SENTENCE_LENGTH", "corpus_source", "encoding_dir",
           "normalize_token", "tokenize", "VocabScan", "scan_vocabulary", "encode_corpus",
           "Corpus", "PathLike"]

#: Longer sentences are cut into pieces of this many tokens (as gensim does).
MAX_SENTENCE_LENGTH = 10_000
#: Bytes per block of the C++ text reader (vocabulary pruning happens between blocks).
TEXT_BLOCK_BYTES = 32 << 20
#: Tokens per block of an iterable corpus (vocabulary pruning happens between blocks).
PRUNE_EVERY_TOKENS = 1 << 20

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


#: A file path.
PathLike = Union[str, "os.PathLike[str]"]
#: What the trainer reads as a corpus: a text file path, a sequence of them,
#: or any iterable of token lists (:class:`TextCorpus`, ``SyntheticCorpus``, lists).
Corpus = Union[PathLike, Sequence[PathLike], Iterable[Sequence[str]]]


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

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.tokens: npt.NDArray[np.int32]
        self.ends: npt.NDArray[np.int64]
        self.tokens = np.memmap(os.path.join(directory, "tokens.i32"), dtype=np.int32, mode="r") \
            if os.path.getsize(os.path.join(directory, "tokens.i32")) else np.zeros(0, np.int32)
        self.ends = np.memmap(os.path.join(directory, "ends.i64"), dtype=np.int64, mode="r") \
            if os.path.getsize(os.path.join(directory, "ends.i64")) else np.zeros(0, np.int64)

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[0])

    def chunks(self, chunk_words: int
               ) -> Iterator[Tuple[int, int, int, npt.NDArray[np.int64]]]:
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


def _native(corpus: object) -> TypeGuard[TextCorpus]:
    """Whether the C++ reader reads this corpus: text files without token
    normalisation (--lowercase / --strip-punctuation run in Python)."""
    return isinstance(corpus, TextCorpus) and not (corpus.lowercase or corpus.strip_punctuation)


class VocabScan(NamedTuple):
    """A counted corpus: words counted at least ``min_count`` times, most
    frequent first, ties by word; their counts; all tokens read."""
    words: list
    counts: np.ndarray
    tokens: int


class _ProvisionalText(NamedTuple):
    """Text files after a provisional count (C++): every token's provisional
    id and the line ends in two files, and the provisional id of each counted
    word (``ids[i]`` of ``words[i]``; ids lie in ``[0, unique)``)."""
    tokens_path: str
    ends_path: str
    words: list
    ids: np.ndarray
    unique: int


class _Provisional(NamedTuple):
    """An iterable corpus after its count: every token's provisional id in a
    file, the word of each provisional id, the ends of the sentence pieces."""
    path: str
    words: list
    ends: np.ndarray


def _prune(vocab: dict, min_reduce: int, max_size: int) -> int:
    while len(vocab) > max_size:
        for w in [w for w, c in vocab.items() if c[1] <= min_reduce]:
            del vocab[w]
        min_reduce += 1
    return min_reduce


def _scan_iterable(source, min_count, max_vocab_size, directory):
    vocab: dict[str, list[int]] = {}  # word -> [provisional id, count]
    prov_words: list[str] = []
    tok_path = os.path.join(directory, "provisional.i32")
    n_tokens = since_prune = 0
    min_reduce = 1
    ends: list[int] = []
    with open(tok_path, "wb") as tok_file:
        buf: list[int] = []
        for sentence in source:
            if isinstance(sentence, str):
                raise TypeError("a corpus is an iterable of token lists (or file paths)")
            if max_vocab_size and since_prune >= PRUNE_EVERY_TOKENS:
                min_reduce = _prune(vocab, min_reduce, max_vocab_size)
                since_prune = 0
            for start in range(0, len(sentence), MAX_SENTENCE_LENGTH):
                piece = sentence[start:start + MAX_SENTENCE_LENGTH]
                for w in piece:
                    e = vocab.get(w)
                    if e is None:
                        e = vocab[w] = [len(prov_words), 0]
                        prov_words.append(w)
                    e[1] += 1
                    buf.append(e[0])
                n_tokens += len(piece)
                ends.append(n_tokens)
            since_prune += len(sentence)
            if len(buf) >= 1 << 20:
                np.asarray(buf, dtype=np.int32).tofile(tok_file)
                buf.clear()
        np.asarray(buf, dtype=np.int32).tofile(tok_file)
    kept = sorted((w for w, e in vocab.items() if e[1] >= min_count),
                  key=lambda w: (-vocab[w][1], w))
    counts = np.array([vocab[w][1] for w in kept], dtype=np.int64)
    return (VocabScan(kept, counts, n_tokens),
            _Provisional(tok_path, prov_words, np.asarray(ends, dtype=np.int64)))


def scan_vocabulary(source: Iterable[Sequence[str]], min_count: int, max_vocab_size: int | None,
                    threads: int, directory: str
                    ) -> Tuple[VocabScan, Union[TextCorpus, _ProvisionalText, _Provisional]]:
    """Count the words of `source` (a :class:`TextCorpus` or an iterable of
    token lists). Returns the :class:`VocabScan` and what
    :func:`encode_corpus` needs to encode the same corpus."""
    if _native(source) and max_vocab_size:
        words, counts, tokens, *_ = _word2vec.scan_vocabulary(
            source.paths, min_count, max_vocab_size, threads, TEXT_BLOCK_BYTES)
        return VocabScan(words, counts, int(tokens)), source
    if _native(source):
        tok_path = os.path.join(directory, "provisional.i32")
        ends_path = os.path.join(directory, "provisional_ends.i64")
        words, counts, tokens, _, unique, ids = _word2vec.scan_vocabulary_provisional(
            source.paths, min_count, threads, TEXT_BLOCK_BYTES, tok_path, ends_path)
        return (VocabScan(words, counts, int(tokens)),
                _ProvisionalText(tok_path, ends_path, words, ids, int(unique)))
    return _scan_iterable(source, min_count, max_vocab_size, directory)


def encode_corpus(scanned: Union[TextCorpus, _ProvisionalText, _Provisional],
                  index: dict[str, int], directory: str, threads: int) -> EncodedCorpus:
    """Write the corpus counted by :func:`scan_vocabulary` as the ids of
    `index` (word -> id) into `directory`, dropping other words and the
    sentence pieces they leave empty."""
    tokens, ends = os.path.join(directory, "tokens.i32"), os.path.join(directory, "ends.i64")
    if isinstance(scanned, _ProvisionalText):
        # Every word of `index` that occurs was counted (the count's min_count
        # is 1 when a vocabulary is extended), so it has a provisional id.
        final = np.full(scanned.unique, -1, dtype=np.int32)
        for word, pid in zip(scanned.words, scanned.ids.tolist()):
            i = index.get(word)
            if i is not None:
                final[pid] = i
        try:
            _word2vec.encode_provisional(scanned.tokens_path, scanned.ends_path, final, tokens,
                                         ends, MAX_SENTENCE_LENGTH)
        finally:
            os.remove(scanned.tokens_path)
            os.remove(scanned.ends_path)
        return EncodedCorpus(directory)
    if not isinstance(scanned, _Provisional):  # text files read by the C++ reader
        words = sorted(index, key=index.__getitem__)
        _word2vec.encode_corpus(scanned.paths, words, tokens, ends, MAX_SENTENCE_LENGTH, threads,
                                TEXT_BLOCK_BYTES)
        return EncodedCorpus(directory)
    remap = np.array([index.get(w, -1) for w in scanned.words], dtype=np.int32)
    ids = remap[np.fromfile(scanned.path, dtype=np.int32)]
    os.remove(scanned.path)
    kept = ids >= 0
    cum = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
    new_ends = cum[scanned.ends]
    new_ends = new_ends[np.diff(np.concatenate([[0], new_ends])) > 0]
    ids[kept].tofile(tokens)
    new_ends.astype(np.int64).tofile(ends)
    return EncodedCorpus(directory)


def encode_with_vocabulary(source: Iterable[Sequence[str]], index: dict[str, int],
                           directory: str, threads: int) -> EncodedCorpus:
    """Encode `source` (text files or an iterable of token lists) with a given
    vocabulary, without counting it."""
    if _native(source):
        return encode_corpus(source, index, directory, threads)
    ends = []
    n = 0
    with open(os.path.join(directory, "tokens.i32"), "wb") as f:
        for sentence in source:
            if isinstance(sentence, str):
                raise TypeError("a corpus is an iterable of token lists (or file paths)")
            for start in range(0, len(sentence), MAX_SENTENCE_LENGTH):
                ids = [index[w] for w in sentence[start:start + MAX_SENTENCE_LENGTH]
                       if w in index]
                if ids:
                    np.asarray(ids, dtype=np.int32).tofile(f)
                    n += len(ids)
                    ends.append(n)
    np.asarray(ends, dtype=np.int64).tofile(os.path.join(directory, "ends.i64"))
    return EncodedCorpus(directory)


def corpus_source(corpus: Corpus) -> Iterable[Sequence[str]]:
    """A :class:`TextCorpus` for file path(s), else the iterable itself."""
    if isinstance(corpus, (str, os.PathLike)) or (
            isinstance(corpus, (list, tuple)) and corpus and isinstance(corpus[0], (str, os.PathLike))
            and not isinstance(corpus[0], list)):
        return TextCorpus(corpus)  # type: ignore[arg-type]  # a list of paths
    return cast(Iterable[Sequence[str]], corpus)

_WORKDIR_PREFIX = "pysampled-w2v-"
_WORKDIR_PATTERN = re.compile(re.escape(_WORKDIR_PREFIX) + r"(\d+)-")


def encoding_dir(workdir: Union[PathLike, None]) -> tempfile.TemporaryDirectory[str]:
    """A temporary directory for the encoded corpus, named after this process;
    directories that killed trainers left behind in the same place are
    removed first (only ours: the name pattern, and the owner's pid is gone)."""
    base = workdir if workdir is not None else tempfile.gettempdir()
    remove_if_owner_gone(base, _WORKDIR_PATTERN, lambda p: shutil.rmtree(p, ignore_errors=True))
    return tempfile.TemporaryDirectory(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-", dir=workdir)
