"""Fuzz the trainer's corpus reading: ``TextCorpus`` + ``Word2Vec.build_vocab``
(+ a short ``train`` and the model's file round trips).

Input byte 0 selects the mode: ``b & 1 == 0`` the rest is one text file
(seeded with small corpora); otherwise one to three files are built from
fuzzed lines of tokens (Unicode, invalid UTF-8, NUL bytes, odd whitespace
and line endings, very long tokens) plus, sometimes, a missing path or a
directory. Word2Vec options are fuzzed (``min_count``, ``max_vocab_size``,
``max_final_vocab``, ``ns_exponent``, ``shrink_windows``, model, loss, window,
negative, sample, dim, chunk_words..., and, without max_vocab_size, reading
blocks of 1-64 bytes), and for the nce / sampled-softmax
losses sometimes the distributed path (``train(comm=...)`` on one rank).

Documented errors: ``FileNotFoundError`` (missing input), ``ValueError``
(binary file with NUL bytes, empty corpus, no word frequent enough, bad
option), ``TypeError``. Oracles: the sentences are the whitespace-split
lines of the UTF-8 decoded files (invalid bytes replaced); the vocabulary is
exactly the words with at least ``min_count`` occurrences, most frequent
first with ties by word, raised to gensim's ``max_final_vocab`` cut (ties
at the cut dropped), cut at ``max_vocab_size``, with their counts (text
files are read by the C++ reader; the same sentences given as a Python
iterable give the same vocabulary and encoded corpus); the corpus
statistics count the kept tokens; after one training chunk the
vectors are finite; ``train(comm=...)`` fails when ``train()`` does and
otherwise reaches the same position with finite vectors;
``save_word2vec_format`` / ``load_word2vec_format`` and
``save`` / ``Word2Vec.load`` give back the same words and bit-identical
vectors.
"""
import collections
import os

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps

TOKENS = ["the", "a", "cat", "naïve", "日本語", "🙂", "\ufffd", "x" * 300, "0", "-", "é", "e\u0301",
          "ſ", "İ", "\u200b", "<s>", "a,b"]
SPACES = [" ", " ", "  ", "\t", "\u3000", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\xa0"]
ENDS = ["\n", "\n", "\r\n", "\r", "\u2029", ""]


def structured_file(g: Gen) -> bytes:
    lines = []
    for _ in range(g.int(0, 8)):
        toks = [g.pick(TOKENS) if g.chance(1, 4) else "w%d" % g.int(0, 6)
                for _ in range(g.size(8))]
        line = "".join(t + g.pick(SPACES) for t in toks)
        lines.append(line + g.pick(ENDS))
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if g.rarely():
        data += g.bytes(g.int(0, 8))  # invalid UTF-8, NUL...
    return data


def expected_sentences(paths):
    out = []
    for p in paths:
        text = open(p, "rb").read().decode("utf-8", errors="replace")
        import io
        for line in io.StringIO(text, newline=None):
            words = line.split()
            if words:
                out.append(words)
    return out


def pruned_counts(blocks, max_vocab_size):
    """word2vec.c's counting with a bounded vocabulary (corpus.py's rule):
    before every block but the first, while more than `max_vocab_size` words
    are counted, drop those counted at most `min_reduce` times and raise
    `min_reduce` (from 1) by one."""
    total = collections.Counter()
    min_reduce = 1
    for i, block in enumerate(blocks):
        if i:
            while len(total) > max_vocab_size:
                total = collections.Counter({w: c for w, c in total.items() if c > min_reduce})
                min_reduce += 1
        total.update(w for s in block for w in s)
    return total


def TestOneInput(data):
    if not data:
        return
    if data[0] & 1 == 0:
        g = Gen(b"")
        paths = [fl.write_file("corpus0.txt", data[1:])]
    else:
        g = Gen(data[1:])
        paths = [fl.write_file(f"corpus{i}.txt", structured_file(g)) for i in range(g.int(1, 3))]
        if g.rarely():
            paths.append(g.pick([fl.tmpdir() / "missing.txt", fl.tmpdir()]))
    arg = paths[0] if (len(paths) == 1 and g.chance(1, 2)) else [str(p) for p in paths]
    fl.log(arg, [open(p, "rb").read()[:200] for p in paths if p.is_file()])
    corpus = None
    with expect(ValueError, FileNotFoundError, IsADirectoryError, TypeError):
        corpus = ps.TextCorpus(arg)
    if corpus is None:
        return
    sentences = list(corpus)
    check(sentences == expected_sentences(corpus.paths), "sentences differ from the split lines")

    kw = dict(min_count=g.int(1, 3), dim=g.int(1, 6), window=g.int(1, 3), epochs=g.int(1, 2),
              chunk_words=g.pick([1, 2, 5, 50, 100_000]), num_threads=g.pick([1, 2]), seed=g.int(0, 9))
    if g.chance(1, 4):
        kw["max_vocab_size"] = g.int(1, 4)
    if g.chance(1, 4):
        kw["max_final_vocab"] = g.int(1, 5)
    if g.chance(1, 4):
        kw["ns_exponent"] = g.pick([0.0, 0.75, 1.0, -1.0, 30.0])
    if g.chance(1, 4):
        kw["shrink_windows"] = g.bool()
    if g.chance(1, 2):
        kw["model"] = g.pick(["skipgram", "cbow"])
    if g.chance(1, 2):
        kw["loss"] = g.pick(["negative", "nce", "sampled_softmax"])
        kw["num_sampled"] = g.int(1, 4)
        kw["batch_size"] = g.int(1, 8)
    if g.chance(1, 3):
        kw["negative"] = g.int(1, 6)
    if g.chance(1, 3):
        kw["sample"] = g.pick([0.0, 1e-3, 0.5, 1e-9])
    if g.chance(1, 4):
        kw["deterministic"] = g.bool()
    if g.wild:  # edge values of the integer options (work stays bounded by stop_after_chunks)
        for key in ["window", "seed", "group_size", "batch_size", "num_sampled", "chunk_words",
                    "epochs", "negative", "min_count", "max_vocab_size", "num_threads", "dim",
                    "max_final_vocab"]:
            if g.chance(1, 12):
                kw[key] = g.pick(fl.SIZE_EDGES) if key != "dim" else g.pick([0, 1, 16, 17, -1])
    # F11: the window's buffers grow with `window` itself (not the sentence length).
    fl.skip_known((fl.int_or_none(kw.get("window")) or 0) > 10**6)
    # F12: the constructor accepts seeds outside [0, 2**64); build_vocab / train then fail.
    fl.skip_known(not 0 <= (fl.int_or_none(kw.get("seed", 0)) or 0) < 2**64)
    fl.log(kw)
    model = None
    with expect():
        model = ps.Word2Vec(**kw)
    if model is None:
        return
    ok = False
    # Tiny reading blocks (lines cut at spaces when longer than a block),
    # except with max_vocab_size, whose pruning oracle below assumes one
    # block per file.
    from pysampled.word2vec import corpus as corpus_module
    saved_block = corpus_module.TEXT_BLOCK_BYTES
    if not isinstance(kw.get("max_vocab_size"), int) and g.chance(1, 2):
        corpus_module.TEXT_BLOCK_BYTES = g.int(1, 64)
    try:
        with expect(ValueError):
            model.build_vocab(corpus, workdir=str(fl.tmpdir()))
            ok = True
    finally:
        corpus_module.TEXT_BLOCK_BYTES = saved_block
    counts = collections.Counter(w for s in sentences for w in s)
    exact = dict(counts)
    if isinstance(kw.get("max_vocab_size"), int) and kw["max_vocab_size"] > 0:
        # The C++ reader prunes between blocks, and every file starts one
        # (these files are far below TEXT_BLOCK_BYTES: one block each, none
        # for an empty file): F20.
        counts = pruned_counts([expected_sentences([p]) for p in corpus.paths
                                if os.path.getsize(p) > 0], kw["max_vocab_size"])
    frequent = sorted((w for w, c in counts.items() if c >= kw["min_count"]),
                      key=lambda w: (-counts[w], w))
    if "max_final_vocab" in kw and isinstance(kw["max_final_vocab"], int) \
            and 0 < kw["max_final_vocab"] < len(frequent):
        cut = counts[frequent[kw["max_final_vocab"]]] + 1
        frequent = [w for w in frequent if counts[w] >= cut]
    if "max_vocab_size" in kw:
        frequent = frequent[:kw["max_vocab_size"]]
    if not ok:
        check(not frequent, "build_vocab failed although words are frequent enough", frequent[:5])
        return
    check(model.words == frequent, "vocabulary differs", model.words[:10], frequent[:10])
    check(model.counts.tolist() == [counts[w] for w in frequent], "counts differ")
    kept = set(frequent)
    n_kept = sum(1 for s in sentences for w in s if w in kept)
    check(model.progress["corpus_tokens"] == n_kept, "corpus token count",
          model.progress["corpus_tokens"], n_kept)
    check(model.vectors.shape == (len(frequent), kw["dim"]), "vectors shape")
    # The same sentences as one iterable (no files: one block, unless pruning
    # at the file starts changed the counts).
    if dict(counts) == exact:
        twin = ps.Word2Vec(**kw)
        twin.build_vocab(iter(sentences), workdir=str(fl.tmpdir()))
        check(twin.words == model.words and twin.counts.tolist() == model.counts.tolist(),
              "the C++ reader and the Python path disagree on the vocabulary")
        check(np.array_equal(twin._encoded.tokens, model._encoded.tokens)
              and np.array_equal(twin._encoded.ends, model._encoded.ends),
              "the C++ reader and the Python path disagree on the encoded corpus")

    dist = None
    if kw.get("loss") in ("nce", "sampled_softmax") and g.chance(1, 3):
        dist = ps.Word2Vec(**kw)  # the distributed path, on one rank
        dist.build_vocab(corpus, workdir=str(fl.tmpdir()))
    chunks = g.int(1, 3)
    trained = False
    with expect(ValueError, OverflowError):
        model.train(progress=False, stop_after_chunks=chunks)
        trained = True
    check(np.isfinite(model.vectors).all(), "non-finite vectors after training")
    if dist is not None:
        dist_error = None
        try:
            dist.train(progress=False, stop_after_chunks=chunks, comm=fl.SelfComm())
        except (ValueError, OverflowError) as e:
            dist_error = e
        check((dist_error is None) == trained, "train(comm=...) and train() disagree on failing",
              dist_error)
        # the same position; the summed loss agrees up to float32 rounding
        check({**dist.progress, "loss": 0} == {**model.progress, "loss": 0},
              "train(comm=...) progress differs", dist.progress, model.progress)
        check(np.isfinite(dist.vectors).all() and np.isfinite(dist.syn1).all(),
              "non-finite vectors after train(comm=...)")

    if g.chance(1, 2):
        out = fl.tmpdir() / "vectors.txt"
        binary = g.bool()
        try:
            model.save_word2vec_format(out, binary=binary)
        except ValueError:  # words with Unicode whitespace the format cannot hold
            return
        words, vecs = ps.load_word2vec_format(out, binary=binary)
        check(words == model.words, "word2vec format round trip: words", binary)
        check(fl.same(vecs, model.vectors.astype(np.float32)), "word2vec format round trip: vectors")
    else:
        ck = fl.tmpdir() / "model.npz"
        model.save(ck)
        back = ps.Word2Vec.load(ck)
        check(back.words == model.words and fl.same(back.vectors, model.vectors),
              "checkpoint round trip")
        check(back.progress == model.progress, "checkpoint progress", back.progress,
              model.progress)


if __name__ == "__main__":
    fl.main(TestOneInput)
