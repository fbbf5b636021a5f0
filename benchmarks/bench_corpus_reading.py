#!/usr/bin/env python3
"""Corpus reading for word2vec: pysampled's C++ reader vs gensim's vocabulary scan.

Measured on the same text file(s), one after the other in this process, best
of ``--repeats``:

* ``ps count``: ``pysampled._word2vec.scan_vocabulary`` (tokenise + count +
  sort the vocabulary) at each thread count;
* ``ps encode``: ``encode_corpus`` (tokenise again + write int32 ids and
  sentence ends), the second pass of ``Word2Vec.build_vocab``;
* ``ps count + provisional ids`` and ``ps map provisional ids``: the single
  pass that ``Word2Vec.build_vocab`` uses (``scan_vocabulary_provisional``
  writes every token's provisional id while counting, ``encode_provisional``
  maps them to the vocabulary's ids: the same files as ``encode``);
* ``ps build_vocab``: the whole ``Word2Vec.build_vocab(path)`` (count, select,
  encode, vector initialisation);
* ``gensim scan``: ``gensim.models.Word2Vec().scan_vocab(corpus_file=path)``
  (gensim 4: LineSentence-style reading and a Python dict count, one thread
  whatever ``workers`` says) and, for the complete vocabulary step,
  ``build_vocab(corpus_file=path)``;
* ``word2vec.c vocabulary`` (with ``--word2vec-c PROGRAM``, e.g. the
  ``bin/word2vec`` of ``pip install word2vec``, which compiles Mikolov's C
  sources): ``word2vec -train path -save-vocab FILE -min-count N`` without
  ``-output``, which stops after its vocabulary pass (read, count, prune,
  sort, write the vocabulary); a child process, timed whole (its start-up
  included), its CPU time from the children's usage.

Reported: wall seconds, M tokens per wall second and per CPU second of this
process (the machine may be shared: the CPU figure is the per-core speed).

Corpus: any plain-text file, one sentence per line. text8 (100 MB, 17 M
tokens, one line): ``http://mattmahoney.net/dc/text8.zip``; this benchmark
never downloads anything. Without ``--corpus`` it builds a file by repeating
gensim's test corpora (``gensim/test/test_data/head500.noblanks.cor`` and
``lee_background.cor``, stemmed and plain English) ``--copies`` times.

Usage::

    python benchmarks/bench_corpus_reading.py --copies 30 --threads 1,2
    python benchmarks/bench_corpus_reading.py --corpus text8 --threads 1,2
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def _cpu(children):
    if not children:
        return time.process_time()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn, repeats, children=False):
    best = None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), _cpu(children)
        out = fn()
        w, c = time.perf_counter() - w0, _cpu(children) - c0
        if best is None or w < best[0]:
            best = (w, c, out)
    return best


def default_corpus(copies, directory):
    import gensim

    data = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
    parts = [open(os.path.join(data, n), "rb").read()
             for n in ("head500.noblanks.cor", "lee_background.cor")]
    path = os.path.join(directory, f"gensim_test_x{copies}.txt")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            for _ in range(copies):
                for p in parts:
                    f.write(p.rstrip(b"\n") + b"\n")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", nargs="+", default=None, metavar="FILE")
    p.add_argument("--copies", type=int, default=30)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--no-gensim", action="store_true")
    p.add_argument("--word2vec-c", default=None, metavar="PROGRAM",
                   help="also time word2vec.c's vocabulary pass (bin/word2vec of `pip install word2vec`)")
    p.add_argument("--workdir", default=tempfile.gettempdir())
    a = p.parse_args(argv)

    import numpy as np

    from pysampled import _word2vec
    from pysampled.word2vec import Word2Vec
    from pysampled.word2vec.corpus import MAX_SENTENCE_LENGTH, TEXT_BLOCK_BYTES

    paths = a.corpus or [default_corpus(a.copies, a.workdir)]
    size = sum(os.path.getsize(x) for x in paths)
    rows = []
    tokens = None
    for t in [int(x) for x in a.threads.split(",")]:
        w, c, out = timed(lambda: _word2vec.scan_vocabulary(paths, a.min_count, 0, t,
                                                            TEXT_BLOCK_BYTES), a.repeats)
        words, tokens = out[0], out[2]
        rows.append((f"ps count, {t} thread(s)", w, c))
        tp, ep = os.path.join(a.workdir, "bench.i32"), os.path.join(a.workdir, "bench.i64")
        w, c, _ = timed(lambda: _word2vec.encode_corpus(paths, words, tp, ep, MAX_SENTENCE_LENGTH,
                                                        t, TEXT_BLOCK_BYTES), a.repeats)
        rows.append((f"ps encode, {t} thread(s)", w, c))
        pt, pe = os.path.join(a.workdir, "bench_prov.i32"), os.path.join(a.workdir, "bench_prov.i64")
        w, c, out = timed(lambda: _word2vec.scan_vocabulary_provisional(
            paths, a.min_count, t, TEXT_BLOCK_BYTES, pt, pe), a.repeats)
        rows.append((f"ps count + provisional ids, {t} thread(s)", w, c))
        final = np.full(out[4], -1, dtype=np.int32)
        final[out[5]] = np.arange(len(out[0]), dtype=np.int32)
        w, c, _ = timed(lambda: _word2vec.encode_provisional(pt, pe, final, tp, ep,
                                                             MAX_SENTENCE_LENGTH), a.repeats)
        rows.append((f"ps map provisional ids, {t} thread(s)", w, c))
        for x in (pt, pe):
            os.remove(x)
        w, c, _ = timed(lambda: Word2Vec(min_count=a.min_count, num_threads=t).build_vocab(
            paths, workdir=a.workdir), a.repeats)
        rows.append((f"ps build_vocab (count+encode+init), {t} thread(s)", w, c))
        for x in (tp, ep):
            os.remove(x)
    if not a.no_gensim and len(paths) == 1:
        import logging

        import gensim
        from gensim.models import Word2Vec as GW

        logging.disable(logging.WARNING)
        w, c, _ = timed(lambda: GW(min_count=a.min_count, workers=1).scan_vocab(
            corpus_file=paths[0]), a.repeats)
        rows.append((f"gensim {gensim.__version__} scan_vocab(corpus_file)", w, c))
        w, c, _ = timed(lambda: GW(min_count=a.min_count, workers=1).build_vocab(
            corpus_file=paths[0]), a.repeats)
        rows.append((f"gensim {gensim.__version__} build_vocab(corpus_file)", w, c))
    if a.word2vec_c and len(paths) == 1:
        vocab_out = os.path.join(a.workdir, "bench_w2vc_vocab.txt")
        cmd = [a.word2vec_c, "-train", paths[0], "-save-vocab", vocab_out,
               "-min-count", str(a.min_count), "-threads", "1"]
        w, c, _ = timed(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL),
                        a.repeats, children=True)
        os.remove(vocab_out)
        rows.append(("word2vec.c vocabulary (-save-vocab, no -output)", w, c))
    print(f"corpus: {', '.join(paths)}: {size / 1e6:.1f} MB, {tokens:,} tokens, "
          f"vocabulary {len(words):,} (min_count {a.min_count}); best of {a.repeats}")
    print("| step | wall s | M tokens/s (wall) | M tokens/CPU-s |")
    print("|---|---:|---:|---:|")
    for name, w, c in rows:
        print(f"| {name} | {w:.3f} | {tokens / w / 1e6:.1f} | {tokens / c / 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
