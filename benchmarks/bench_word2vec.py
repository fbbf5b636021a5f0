#!/usr/bin/env python3
"""word2vec training: pysampled vs gensim, same corpus, same hyper-parameters.

Corpus: pysampled's built-in :class:`~pysampled.SyntheticCorpus` (planted
topic groups; default 10M tokens, fixed seed), written once to a text file
in a cache directory so that every system reads the same text; or any text
file (``--corpus``, one sentence per line), optionally evaluated on word
analogies (``--analogies``) and word-pair similarities (``--similarity``).

Systems, each (system, model, threads) in a fresh worker subprocess:

* ``gensim file``: ``gensim.models.Word2Vec(sg=..., workers=T)``,
  ``build_vocab(corpus_file=...)`` then ``train(corpus_file=...)`` (each worker
  thread reads its own part of the file, no Python producer thread);
* ``gensim list``: the same on an in-memory list of token lists
  (``train(corpus_iterable=...)``: a Python producer thread feeds batches of
  ``batch_words`` words to the worker threads);
* ``ps det``: ``pysampled.Word2Vec(deterministic=True)`` (the default:
  bit-identical vectors for any thread count);
* ``ps hogwild``: ``pysampled.Word2Vec(deterministic=False)`` (lock-free
  updates as in word2vec.c);
* ``word2vec.c`` and ``fastText`` (optional, when ``--word2vec-c`` /
  ``--fasttext`` name their programs): the original tools as command-line
  programs, timed end to end only (reading, vocabulary, training and writing
  the text vectors happen in one process that reports no split); their
  vectors are read back and scored by the same evaluators. word2vec.c
  builds from PyPI (``pip install word2vec`` compiles Mikolov's C sources
  with ``-Ofast -march=native``; its ``bin/word2vec``); fastText is Debian's
  ``fasttext`` package, run with subwords off (``-minn 0 -maxn 0 -bucket 0``)
  so it trains plain word2vec.

Both gensim input paths are measured (``--gensim-input``) and speed-ups are
against the faster of them at the same model and thread count, named in the
tables.

Only training is timed (``train()`` after ``build_vocab()``, for both);
vocabulary building (counting, encoding, vector initialisation) is timed
separately. words/s = corpus tokens x epochs / training seconds, with the
same token count (the raw tokens of the corpus file) for every system.
Quality: the planted-structure score (``SyntheticCorpus.score``: precision@10
of same-topic nearest neighbours) and, when given, analogy accuracy and
similarity Spearman, all computed by ``pysampled.evaluation`` on both
systems' vectors.

Usage::

    python benchmarks/bench_word2vec.py --quick   # smoke test: 2M tokens, 2 epochs
    python benchmarks/bench_word2vec.py           # full run: 10M tokens, 5 epochs
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SYSTEMS = ("gensim", "pysampled", "pysampled-hogwild")
EXTERNAL = ("word2vec.c", "fasttext")  # command-line peers, end to end only
MODELS = ("skipgram", "cbow")
LABEL = {("gensim", "file"): "gensim file", ("gensim", "list"): "gensim list",
         ("pysampled", None): "ps det", ("pysampled-hogwild", None): "ps hogwild",
         ("word2vec.c", None): "word2vec.c", ("fasttext", None): "fastText"}
MODEL_LABEL = {"skipgram": "skip-gram", "cbow": "CBOW"}
TARGETS = {"skipgram": 3.0, "cbow": 2.0}  # from the issue: speed-up per core at equal quality
OUT = Path(__file__).resolve().parent / "out"


def label(job):
    return LABEL[(job["system"], job.get("input"))]


def job_id(system, gensim_input, model, threads):
    name = LABEL[(system, gensim_input)].replace(" ", "-")
    return f"{name}|{model}|{threads}thr"


# ------------------------------------------------------------------ corpus


def prepare_corpus(a, log):
    """The corpus file and its raw token count (the synthetic one is written
    once into the cache directory and reused while its parameters match)."""
    if a.corpus:
        path = Path(a.corpus).resolve()
        if not path.is_file():
            raise SystemExit(f"--corpus: no such file: {path}")
        t0 = time.perf_counter()
        n_tok = n_sent = 0
        with open(path, "rb") as f:
            for line in f:
                k = len(line.split())
                if k:
                    n_tok += k
                    n_sent += 1
        log(f"corpus {path}: {n_tok:,} tokens, {n_sent:,} sentences (counted in "
            f"{time.perf_counter() - t0:.1f} s)")
        return path, {"source": "file", "path": str(path), "tokens": n_tok, "sentences": n_sent,
                      "bytes": path.stat().st_size}
    from pysampled import SyntheticCorpus

    params = synthetic_params(a)
    cache = Path(a.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    stem = (f"synthetic_n{a.tokens}_s{a.corpus_seed}"
            f"{'' if a.topic_share == 0.1 else f'_ts{a.topic_share:g}'}")
    path, side = cache / f"{stem}.txt", cache / f"{stem}.json"
    info = None
    if path.is_file() and side.is_file():
        try:
            info = json.loads(side.read_text())
            if info.get("params") != params or info.get("bytes") != path.stat().st_size:
                info = None
        except (OSError, ValueError):
            info = None
    if info is None:
        t0 = time.perf_counter()
        corpus = SyntheticCorpus(**params)
        corpus.write(path)
        n_sent = sum(len(lengths) for _, lengths in corpus.blocks())
        info = {"source": "synthetic", "path": str(path), "params": params,
                "tokens": corpus.num_tokens, "sentences": n_sent, "bytes": path.stat().st_size}
        side.write_text(json.dumps(info, indent=1))
        log(f"wrote {path} ({info['bytes'] / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s")
    else:
        log(f"reusing {path}")
    return path, info


def synthetic_params(a):
    return {"num_tokens": a.tokens, "seed": a.corpus_seed, "topic_share": a.topic_share}


# ------------------------------------------------------------------ worker


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Worker:
    def __init__(self, a):
        self.a = a
        self.threads = a.threads_worker
        self.limits = C.limit_threads(self.threads)
        self._sentences = None
        self.synthetic = None
        if a.synthetic_json:
            from pysampled import SyntheticCorpus

            params = json.loads(a.synthetic_json)
            self.synthetic = SyntheticCorpus(**params)

    def meta(self):
        m = {"threads": self.threads, "limits": self.limits, "threadpools": C.threadpool_info()}
        import pysampled as ps

        m["pysampled"] = {"version": ps.__version__, "simd": ps._samplers.simd_level(),
                          "openmp": ps.openmp_enabled()}
        if self.a.system == "gensim":
            import gensim
            from gensim.models import word2vec_inner

            m["gensim"] = {"version": gensim.__version__,
                           "FAST_VERSION": word2vec_inner.FAST_VERSION,
                           "MAX_WORDS_IN_BATCH": word2vec_inner.MAX_WORDS_IN_BATCH}
        return m

    def sentences(self):
        """The corpus as a list of token lists (strings shared through a dict, so
        the list costs pointers, not one string object per token)."""
        if self._sentences is None:
            words = {}
            out = []
            with open(self.a.corpus_path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    toks = line.split()
                    if toks:
                        out.append([words.setdefault(w, w) for w in toks])
            self._sentences = out
        return self._sentences

    def run(self, job):
        a = self.a
        model = job["model"]
        alpha = a.alpha_sg if model == "skipgram" else a.alpha_cbow
        runs = []
        load_s = None
        for rep in range(a.repeats):
            r = {}
            if job["system"] in EXTERNAL:
                words, vectors = self.run_external(job["system"], model, alpha, r)
            elif job["system"] == "gensim":
                from gensim.models import Word2Vec as GensimWord2Vec

                m = GensimWord2Vec(vector_size=a.dim, window=a.window, negative=a.negative, hs=0,
                                   min_count=a.min_count, sample=a.sample, alpha=alpha,
                                   min_alpha=a.min_alpha, epochs=a.epochs, seed=a.seed,
                                   workers=self.threads, sg=int(model == "skipgram"),
                                   cbow_mean=1, ns_exponent=0.75)
                if job["input"] == "list":
                    if load_s is None:
                        t0 = time.perf_counter()
                        self.sentences()
                        load_s = time.perf_counter() - t0
                    src = {"corpus_iterable": self.sentences()}
                else:
                    src = {"corpus_file": str(a.corpus_path)}
                t0 = time.perf_counter()
                m.build_vocab(**src)
                r["vocab_s"] = time.perf_counter() - t0
                kw = ({"total_words": m.corpus_total_words} if job["input"] == "file"
                      else {"total_examples": m.corpus_count})
                c0 = cpu_seconds()
                t0 = time.perf_counter()
                trained, raw = m.train(**src, epochs=a.epochs, **kw)
                r["train_s"] = time.perf_counter() - t0
                r["cpu_s"] = cpu_seconds() - c0
                r["effective_words"] = int(trained)  # after subsampling
                r["processed_words"] = int(raw)
                words, vectors = list(m.wv.index_to_key), m.wv.vectors
                t0 = time.perf_counter()
                m.wv.save_word2vec_format(os.path.join(a.workdir or "/tmp", f"gensim-{os.getpid()}.txt"))
                r["write_s"] = time.perf_counter() - t0
            else:
                from pysampled import Word2Vec

                m = Word2Vec(model=model, dim=a.dim, window=a.window, negative=a.negative,
                             min_count=a.min_count, sample=a.sample, alpha=alpha,
                             min_alpha=a.min_alpha, epochs=a.epochs, seed=a.seed,
                             num_threads=self.threads, cbow_mean=True,
                             deterministic=job["system"] == "pysampled")
                t0 = time.perf_counter()
                m.build_vocab(str(a.corpus_path), workdir=a.workdir)
                r["vocab_s"] = time.perf_counter() - t0
                r["count_s"] = m.timings.get("vocabulary_s")  # read + tokenise + count
                r["encode_s"] = m.timings.get("encoding_s")
                c0 = cpu_seconds()
                t0 = time.perf_counter()
                summary = m.train(progress=False)
                r["train_s"] = time.perf_counter() - t0
                r["cpu_s"] = cpu_seconds() - c0
                r["processed_words"] = int(summary["words"])  # after min_count, before subsampling
                r["epoch_loss"] = [e["loss"] for e in summary["epochs"]]
                words, vectors = m.words, m.vectors
                t0 = time.perf_counter()
                m.save_word2vec_format(os.path.join(a.workdir or "/tmp", f"ps-{os.getpid()}.txt"))
                r["write_s"] = time.perf_counter() - t0
            if "end_to_end_s" not in r:
                r["end_to_end_s"] = r["vocab_s"] + r["train_s"] + r["write_s"]
            r["vocab_size"] = len(words)
            r.update(self.quality(words, np.asarray(vectors)))
            runs.append(r)
            m = None  # free the model before the next repeat
        if job["system"] in EXTERNAL:
            res = {"status": "ok", "runs": runs, "train_s": None,
                   "end_to_end_s": statistics.median(x["end_to_end_s"] for x in runs),
                   "cpu_util": statistics.median(x["cpu_s"] / x["end_to_end_s"] for x in runs),
                   "vocab_size": runs[0]["vocab_size"], "command": runs[0]["command"]}
            for k in ("score", "analogy", "similarity"):
                vals = [x[k] for x in runs if x.get(k) is not None]
                res[k] = statistics.median(vals) if vals else None
            return res
        med = statistics.median(x["train_s"] for x in runs)
        res = {"status": "ok", "runs": runs, "train_s": med,
               "train_s_min": min(x["train_s"] for x in runs),
               "vocab_s": statistics.median(x["vocab_s"] for x in runs),
               "write_s": statistics.median(x["write_s"] for x in runs),
               "end_to_end_s": statistics.median(x["end_to_end_s"] for x in runs),
               "count_s": runs[0].get("count_s"), "encode_s": runs[0].get("encode_s"),
               "cpu_util": statistics.median(x["cpu_s"] / x["train_s"] for x in runs),
               "vocab_size": runs[0]["vocab_size"], "max_rss_mib":
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if load_s is not None:
            res["list_load_s"] = load_s
        for k in ("score", "analogy", "similarity"):
            vals = [x[k] for x in runs if x.get(k) is not None]
            res[k] = statistics.median(vals) if vals else None
        return res

    def external_command(self, system, model, alpha, out):
        """The peer's command line with the benchmark's hyper-parameters."""
        a, t = self.a, str(self.threads)
        if system == "word2vec.c":
            # learning rate: linear decay to alpha * 1e-4 (fixed in word2vec.c)
            return [a.word2vec_c, "-train", str(a.corpus_path), "-output", f"{out}.txt",
                    "-cbow", str(int(model == "cbow")), "-size", str(a.dim),
                    "-window", str(a.window), "-negative", str(a.negative), "-hs", "0",
                    "-sample", repr(a.sample), "-threads", t, "-iter", str(a.epochs),
                    "-min-count", str(a.min_count), "-alpha", repr(alpha), "-binary", "0"]
        # learning rate: linear decay to 0 (fixed in fastText)
        return [a.fasttext, "skipgram" if model == "skipgram" else "cbow",
                "-input", str(a.corpus_path), "-output", str(out), "-dim", str(a.dim),
                "-ws", str(a.window), "-neg", str(a.negative), "-loss", "ns",
                "-t", repr(a.sample), "-thread", t, "-epoch", str(a.epochs),
                "-minCount", str(a.min_count), "-lr", repr(alpha), "-minn", "0", "-maxn", "0",
                "-wordNgrams", "1", "-bucket", "0", "-verbose", "0"]

    def run_external(self, system, model, alpha, r):
        """Run a command-line peer end to end; its text vectors, read back."""
        import subprocess
        import tempfile

        from pysampled.word2vec import load_word2vec_format

        with tempfile.TemporaryDirectory(dir=self.a.workdir) as tmp:
            out = Path(tmp) / "vectors"
            cmd = self.external_command(system, model, alpha, out)
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            r["end_to_end_s"] = time.perf_counter() - t0
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise RuntimeError(f"{system} exited with {proc.returncode}: "
                                   f"{proc.stderr.decode(errors='replace')[-500:]}")
            r["cpu_s"] = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
            r["command"] = " ".join(Path(cmd[0]).name if i == 0 else x for i, x in enumerate(cmd))
            words, vectors = load_word2vec_format(f"{out}.txt" if system == "word2vec.c"
                                                  else f"{out}.vec")[:2]
        # word2vec.c keeps its sentence-end token "</s>" in the vocabulary
        keep = [i for i, w in enumerate(words) if w != "</s>"]
        return [words[i] for i in keep], np.asarray(vectors)[keep]

    def quality(self, words, vectors):
        from pysampled.evaluation import evaluate_analogies, evaluate_similarity

        q = {}
        if self.synthetic is not None:
            q["score"] = self.synthetic.score(words, vectors)
            q["chance"] = self.synthetic.chance_level(words)
        if self.a.analogies:
            r = evaluate_analogies(words, vectors, self.a.analogies)
            q["analogy"] = r["accuracy"]
            q["analogy_detail"] = {k: r[k] for k in ("correct", "total", "oov",
                                                     "semantic_accuracy", "syntactic_accuracy")}
        if self.a.similarity:
            r = evaluate_similarity(words, vectors, self.a.similarity)
            q["similarity"] = r["spearman"]
            q["similarity_detail"] = {k: r[k] for k in ("pearson", "pairs", "oov")}
        return q


def worker_main(a):
    jobs = C.read_worker_jobs(a.worker)
    w = Worker(a)
    C.worker_loop(jobs, w.run, meta=w.meta())
    return 0


# ------------------------------------------------------------------ report


def _ok(r):
    return bool(r) and r.get("status") == "ok"


def _timed(r):
    """A run with a training time of its own (not an end-to-end-only peer)."""
    return _ok(r) and r.get("train_s") is not None


def words_per_s(r, corpus_tokens, epochs):
    return corpus_tokens * epochs / r["train_s"] if _timed(r) else None


def _m(x, digits=3):
    return "—" if x is None else C.fmt_num(x / 1e6, digits)


def _q(x):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def baselines(results, model, t):
    """The faster gensim input path at (model, threads): (result, label)."""
    best = None
    for r in results:
        if (r["system"] == "gensim" and r["model"] == model and r["threads"] == t and _ok(r)
                and (best is None or r["train_s"] < best["train_s"])):
            best = r
    return best


def hyper_params(a):
    return {"dim": a.dim, "window": a.window, "negative": a.negative, "min_count": a.min_count,
            "sample": a.sample, "epochs": a.epochs, "alpha_skipgram": a.alpha_sg,
            "alpha_cbow": a.alpha_cbow, "min_alpha": a.min_alpha, "seed": a.seed,
            "cbow_mean": True, "hs": 0, "ns_exponent": 0.75, "shrink_windows": True}


def report(results, corpus, a, busy, metas):
    n_tok, E = corpus["tokens"], a.epochs
    out = [f"## word2vec training: pysampled vs gensim{' (quick)' if a.quick else ''}\n"]
    if corpus["source"] == "synthetic":
        out.append(f"Corpus: `SyntheticCorpus({', '.join(f'{k}={v}' for k, v in corpus['params'].items())})`"
                   f", {n_tok:,} tokens, {corpus['sentences']:,} sentences, written once to "
                   f"`{Path(corpus['path']).name}` and read by every system.")
    else:
        out.append(f"Corpus: `{corpus['path']}`, {n_tok:,} tokens, {corpus['sentences']:,} "
                   "sentences.")
    hp = hyper_params(a)
    out.append("Same hyper-parameters for every system: "
               + ", ".join(f"{k}={v}" for k, v in hp.items())
               + "; negative sampling (hs=0), learning rate decayed linearly to min_alpha.")
    gmeta = next((m.get("gensim") for m in metas.values() if m.get("gensim")), None)
    if gmeta:
        compiled = (", i.e. compiled BLAS routines" if gmeta["FAST_VERSION"] >= 0
                    else " — NOT compiled, slow")
        out.append(f"gensim {gmeta['version']} (FAST_VERSION {gmeta['FAST_VERSION']}{compiled}).")
    out.append("\nwords/s = corpus tokens × epochs / training seconds (training only: "
               "`train()` after `build_vocab()`; one subprocess per system × model × threads; "
               f"{a.repeats} run(s) each, median). × gensim: speed-up over the faster gensim "
               "input path at the same model and thread count (named in the targets table); "
               "per thread it is the same ratio. CPU util = process CPU seconds / wall seconds "
               "during training.\n")
    cols = ["model", "thr", "system", "train s", "M words/s", "M words/s/thread", "× gensim",
            "vocab s", "CPU util"]
    has_score = any(r.get("score") is not None for r in results)
    has_an = any(r.get("analogy") is not None for r in results)
    has_sim = any(r.get("similarity") is not None for r in results)
    cols += (["planted score"] if has_score else []) + (["analogy acc"] if has_an else []) + \
        (["similarity ρ"] if has_sim else [])
    rows = []
    for model in a.models:
        for t in a.threads:
            base = baselines(results, model, t)
            for r in results:
                if r["model"] != model or r["threads"] != t or r["system"] in EXTERNAL:
                    continue
                if not _ok(r):
                    rows.append([MODEL_LABEL[model], t, label(r)] + [r.get("status", "?")] +
                                ["—"] * (len(cols) - 4))
                    continue
                wps = words_per_s(r, n_tok, E)
                sp = base["train_s"] / r["train_s"] if base else None
                row = [MODEL_LABEL[model], t, label(r), f"{r['train_s']:.2f}", _m(wps),
                       _m(wps / t), "—" if sp is None else f"{sp:.2f}", f"{r['vocab_s']:.2f}",
                       f"{r['cpu_util']:.2f}"]
                if has_score:
                    row.append(_q(r.get("score")))
                if has_an:
                    row.append(_q(r.get("analogy")))
                if has_sim:
                    row.append(_q(r.get("similarity")))
                rows.append(row)
    out.append(C.md_table(cols, rows, ["l", "r", "l"] + ["r"] * (len(cols) - 3)))
    chance = next((x.get("chance") for r in results if _ok(r) for x in r["runs"]
                   if x.get("chance") is not None), None)
    if chance is not None:
        out.append(f"\nPlanted score: precision@10 of same-topic nearest neighbours over the "
                   f"planted words (chance {chance:.3f}, perfect 1.000).")

    # Targets
    out.append("\n### Targets from the issue (reported, not asserted)\n")
    out.append("skip-gram ≥ 3× gensim's words/s per core, CBOW ≥ 2×, at equal or better "
               "quality. Quality column: pysampled minus gensim baseline (planted score; "
               "analogy accuracy / similarity ρ when given).\n")
    qkey = "score" if has_score else ("analogy" if has_an else ("similarity" if has_sim else None))
    rows = []
    for model in a.models:
        for t in a.threads:
            base = baselines(results, model, t)
            for sysname in ("pysampled", "pysampled-hogwild"):
                r = next((x for x in results if x["system"] == sysname and x["model"] == model
                          and x["threads"] == t), None)
                if r is None:
                    continue
                if not (_ok(r) and base):
                    rows.append([MODEL_LABEL[model], t, label(r), label(base) if base else "—",
                                 "—", f"≥ {TARGETS[model]:g}×", "—", "—", "—"])
                    continue
                sp = base["train_s"] / r["train_s"]
                dq = (r[qkey] - base[qkey]) if qkey and r.get(qkey) is not None and \
                    base.get(qkey) is not None else None
                met = sp >= TARGETS[model] and (dq is None or dq >= -0.005)
                rows.append([MODEL_LABEL[model], t, label(r), label(base), f"{sp:.2f}×",
                             f"≥ {TARGETS[model]:g}×",
                             f"{_q(base.get(qkey))} → {_q(r.get(qkey))}" if qkey else "—",
                             "—" if dq is None else f"{dq:+.3f}", "yes" if met else "no"])
    out.append(C.md_table(["model", "thr", "pysampled", "gensim baseline", "speed-up", "target",
                           f"{qkey or 'quality'} gensim → ps", "Δ quality", "met"], rows,
                          ["l", "r", "l", "l", "r", "r", "r", "r", "l"]))
    out.append("\n(`met`: speed-up ≥ target and quality no more than 0.005 below gensim's.)")

    # Scaling
    if len(a.threads) > 1:
        t_lo, t_hi = min(a.threads), max(a.threads)
        out.append(f"\n### Thread scaling: words/s at {t_hi} threads / ({t_hi // t_lo}× words/s "
                   f"at {t_lo}) (1.00 = perfect)\n")
        names = []
        for r in results:
            if label(r) not in names and r["system"] not in EXTERNAL:
                names.append(label(r))
        rows = []
        for model in a.models:
            row = [MODEL_LABEL[model]]
            for n in names:
                r1 = next((x for x in results if label(x) == n and x["model"] == model
                           and x["threads"] == t_lo), None)
                r2 = next((x for x in results if label(x) == n and x["model"] == model
                           and x["threads"] == t_hi), None)
                row.append(f"{r1['train_s'] / r2['train_s'] * t_lo / t_hi:.2f}"
                           if _ok(r1) and _ok(r2) else "—")
            rows.append(row)
        out.append(C.md_table(["model"] + names, rows))
    out.append("\nKnown differences under the same hyper-parameters:\n")
    out.append("- skip-gram negatives: pysampled draws `negative` noise words per training window, "
               "shared by the window's context words; gensim (like word2vec.c) draws them per "
               "(context, centre) pair.")
    out.append("- sigmoid: gensim reads a 1000-entry table and skips output words whose logit "
               "is beyond ±6; pysampled computes the exact sigmoid.")
    if any(r["system"] == "gensim" and r.get("input") == "file" and r["threads"] > 1
           for r in results):
        out.append("- gensim `corpus_file` with T > 1 workers: each worker decays its learning "
                   "rate by its own words / all words of the epoch (word2vec_corpusfile.pyx), so "
                   "within an epoch alpha falls only 1/T of the way: a higher learning rate than "
                   "with 1 worker, the list path or pysampled (it can change short runs' scores).")
    out.append("\nEnd to end (build_vocab + train + write the text vectors, median seconds; "
               "pysampled's build_vocab split into reading/counting and encoding):\n")
    e2e = []
    for r in results:
        if not _ok(r) or r.get("end_to_end_s") is None:
            continue
        split = (f"{r['count_s']:.2f} + {r['encode_s']:.2f}" if r.get("count_s") is not None
                 else "")
        if r["system"] in EXTERNAL:
            parts = ["—", "", "—", "—"]
        else:
            parts = [f"{r['vocab_s']:.2f}", split, f"{r['train_s']:.2f}", f"{r['write_s']:.2f}"]
        e2e.append([r["model"], str(r["threads"]), label(r), *parts,
                    f"{r['end_to_end_s']:.2f}", _q(r.get("analogy")), _q(r.get("similarity"))])
    if e2e:
        out.append(C.md_table(["model", "thr", "system", "vocab s", "count + encode s",
                               "train s", "write s", "end-to-end s", "analogy acc",
                               "similarity ρ"], e2e))
    peers = [n for n in ("gensim file", "gensim list", "word2vec.c", "fastText")
             if any(_ok(r) and label(r) == n for r in results)]
    rows = []
    for model in a.models:
        for t in a.threads:
            for sysname in ("pysampled", "pysampled-hogwild"):
                r = next((x for x in results if x["system"] == sysname and x["model"] == model
                          and x["threads"] == t and _ok(x)), None)
                if r is None:
                    continue
                row = [MODEL_LABEL[model], t, label(r)]
                for n in peers:
                    b = next((x for x in results if label(x) == n and x["model"] == model
                              and x["threads"] == t and _ok(x)), None)
                    row.append(f"{b['end_to_end_s'] / r['end_to_end_s']:.2f}×" if b else "—")
                rows.append(row)
    if rows and peers:
        out.append("\nEnd-to-end speed-up of pysampled over each peer (peer seconds / "
                   "pysampled seconds, same model and threads):\n")
        out.append(C.md_table(["model", "thr", "pysampled"] + peers, rows,
                              ["l", "r", "l"] + ["r"] * len(peers)))
    cmds = {label(r): r["command"] for r in results if _ok(r) and r.get("command")}
    for n, c in cmds.items():
        out.append(f"\n{n} command (one of them): `{c}`")
    list_loads = [r["list_load_s"] for r in results if r.get("list_load_s") is not None]
    if list_loads:
        out.append(f"\n`gensim list` reads the file into a list of token lists first "
                   f"({statistics.median(list_loads):.1f} s, not counted in vocab s or train s).")
    notes = [r for r in results if not _ok(r)]
    if notes:
        out.append("\nSkipped / failed:\n")
        for r in notes:
            out.append(f"- {r['id']}: {r.get('status')} ({r.get('reason') or r.get('error')})")
    return C.load_warning(busy) + "\n".join(out)


def plot(results, corpus, a, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return None
    names = []
    for r in results:
        if label(r) not in names and r["system"] not in EXTERNAL:
            names.append(label(r))
    cats = [(m, t) for m in a.models for t in a.threads]
    has_score = any(r.get("score") is not None for r in results)
    qkey, qname = (("score", "planted score (precision@10)") if has_score else
                   ("analogy", "analogy accuracy") if any(r.get("analogy") is not None
                                                          for r in results) else
                   ("similarity", "similarity Spearman ρ"))
    colors = {"gensim file": "#9e9e9e", "gensim list": "#616161", "ps det": "#1f77b4",
              "ps hogwild": "#ff7f0e"}
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(names))
    x = np.arange(len(cats))
    for k, n in enumerate(names):
        wps, qual = [], []
        for m, t in cats:
            r = next((y for y in results if label(y) == n and y["model"] == m
                      and y["threads"] == t), None)
            wps.append(words_per_s(r, corpus["tokens"], a.epochs) / 1e6 if _ok(r) else 0.0)
            qual.append(r.get(qkey) if _ok(r) and r.get(qkey) is not None else 0.0)
        off = (k - (len(names) - 1) / 2) * width
        bars = axes[0].bar(x + off, wps, width, label=n, color=colors.get(n))
        axes[0].bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        bars = axes[1].bar(x + off, qual, width, label=n, color=colors.get(n))
        axes[1].bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ticks = [f"{MODEL_LABEL[m]}\n{t} thread{'s' if t > 1 else ''}" for m, t in cats]
    for ax in axes:
        ax.set_xticks(x, ticks)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("M words/s (corpus tokens × epochs / training s)")
    axes[0].set_title("Training speed")
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel(qname)
    axes[1].set_title("Quality")
    chance = next((x.get("chance") for r in results if _ok(r) for x in r["runs"]
                   if x.get("chance") is not None), None)
    if chance is not None and qkey == "score":
        axes[1].axhline(chance, color="k", lw=0.8, ls="--")
        axes[1].text(x[-1] + 0.45, chance, "chance", va="bottom", ha="right", fontsize=7)
        axes[1].set_ylim(0, 1.1)
    src = (f"synthetic corpus, {corpus['tokens'] / 1e6:g}M tokens" if corpus["source"] == "synthetic"
           else f"{Path(corpus['path']).name}, {corpus['tokens'] / 1e6:.3g}M tokens")
    epochs = f"{a.epochs} epoch{'s' if a.epochs > 1 else ''}"
    fig.suptitle(f"word2vec: pysampled vs gensim — {src}, {epochs}, dim {a.dim}, "
                 f"window {a.window}, negative {a.negative}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: 2M tokens, 2 epochs")
    g = p.add_argument_group("corpus")
    g.add_argument("--corpus", default=None, metavar="FILE",
                   help="text file, one sentence per line (default: the synthetic corpus)")
    g.add_argument("--analogies", default=None, metavar="FILE", help="questions-words.txt style")
    g.add_argument("--similarity", default=None, metavar="FILE",
                   help="word1<TAB>word2<TAB>score lines")
    g.add_argument("--tokens", type=float, default=None,
                   help="synthetic corpus size (default 10M, quick 2M)")
    g.add_argument("--corpus-seed", type=int, default=0, help="synthetic corpus seed (default 0)")
    g.add_argument("--topic-share", type=float, default=0.1,
                   help="synthetic corpus: share of topic words (default 0.1; lower is harder)")
    g.add_argument("--cache-dir", default=str(OUT / "cache"),
                   help="where the synthetic corpus file is kept (default benchmarks/out/cache)")
    g.add_argument("--workdir", default=None,
                   help="pysampled's encoded-corpus directory (default: the system temp dir)")
    h = p.add_argument_group("hyper-parameters (the same for every system)")
    h.add_argument("--dim", type=int, default=100)
    h.add_argument("--window", type=int, default=5)
    h.add_argument("--negative", type=int, default=5)
    h.add_argument("--min-count", type=int, default=5)
    h.add_argument("--sample", type=float, default=1e-3)
    h.add_argument("--epochs", type=int, default=None, help="default 5, quick 2")
    h.add_argument("--alpha-sg", type=float, default=0.025, help="skip-gram learning rate")
    h.add_argument("--alpha-cbow", type=float, default=0.05, help="CBOW learning rate")
    h.add_argument("--min-alpha", type=float, default=1e-4)
    h.add_argument("--seed", type=int, default=1)
    r = p.add_argument_group("runs")
    r.add_argument("--systems", default=",".join(SYSTEMS), help="subset of " + ",".join(SYSTEMS))
    r.add_argument("--models", default=",".join(MODELS), help="subset of " + ",".join(MODELS))
    r.add_argument("--threads", default="1,2")
    r.add_argument("--word2vec-c", default=None, metavar="PROGRAM",
                   help="also run word2vec.c (e.g. the bin/word2vec of `pip install word2vec`)")
    r.add_argument("--fasttext", default=None, metavar="PROGRAM",
                   help="also run fastText (e.g. /usr/bin/fasttext of Debian's package)")
    r.add_argument("--gensim-input", choices=("file", "list", "both"), default="both",
                   help="gensim's corpus_file path, its in-memory list path, or both (default)")
    r.add_argument("--repeats", type=int, default=1,
                   help="trainings per configuration, median reported (default 1)")
    r.add_argument("--timeout", type=float, default=None,
                   help="seconds per configuration before it is skipped (default 3600, quick 600)")
    r.add_argument("--calibrate", action="store_true",
                   help="also record the FMA-loop / sgemm ceilings in the JSON")
    o = p.add_argument_group("output")
    o.add_argument("--output", default=None,
                   help="JSON path (default benchmarks/out/word2vec[_quick].json)")
    o.add_argument("--plot", default=None,
                   help="PNG path (default benchmarks/out/word2vec[_quick].png); 'none' for no plot")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--system", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads-worker", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--corpus-path", default=None, help=argparse.SUPPRESS)
    p.add_argument("--synthetic-json", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    a.models = [s.strip() for s in a.models.split(",") if s.strip()]
    a.systems += [s for s, path in (("word2vec.c", a.word2vec_c), ("fasttext", a.fasttext))
                  if path and s not in a.systems]
    if set(a.systems) - set(SYSTEMS) - set(EXTERNAL):
        p.error(f"unknown system in {a.systems}")
    for s, path in (("word2vec.c", a.word2vec_c), ("fasttext", a.fasttext)):
        if s in a.systems and not path:
            p.error(f"system {s} needs --{'word2vec-c' if s == 'word2vec.c' else 'fasttext'}")
    if set(a.models) - set(MODELS):
        p.error(f"unknown model in {a.models}")
    a.threads = [int(x) for x in a.threads.split(",") if x.strip()]
    a.tokens = int(a.tokens) if a.tokens else (2_000_000 if a.quick else 10_000_000)
    a.epochs = a.epochs or (2 if a.quick else 5)
    a.timeout = a.timeout or (600.0 if a.quick else 3600.0)
    if a.repeats < 1:
        p.error("--repeats must be >= 1")
    return a


def worker_args(a, system, threads, corpus_path, corpus):
    args = ["--system", system, "--threads-worker", str(threads), "--corpus-path", str(corpus_path),
            "--dim", str(a.dim), "--window", str(a.window), "--negative", str(a.negative),
            "--min-count", str(a.min_count), "--sample", repr(a.sample), "--epochs", str(a.epochs),
            "--alpha-sg", repr(a.alpha_sg), "--alpha-cbow", repr(a.alpha_cbow),
            "--min-alpha", repr(a.min_alpha), "--seed", str(a.seed), "--repeats", str(a.repeats)]
    if corpus["source"] == "synthetic":
        args += ["--synthetic-json", json.dumps(corpus["params"])]
    for k in ("analogies", "similarity", "workdir", "word2vec_c", "fasttext"):
        if getattr(a, k):
            args += [f"--{k.replace('_', '-')}", str(Path(getattr(a, k)).resolve())]
    return args


def make_jobs(a):
    jobs = []
    inputs = ["file", "list"] if a.gensim_input == "both" else [a.gensim_input]
    for model in a.models:
        for t in a.threads:
            for system in a.systems:
                for inp in (inputs if system == "gensim" else [None]):
                    jobs.append({"id": job_id(system, inp, model, t), "system": system,
                                 "input": inp, "model": model, "threads": t})
    return jobs


def main(argv=None):
    a = parse_args(argv)
    if a.worker:
        return worker_main(a)
    t_start = time.perf_counter()

    def log(*msg):
        print(*msg, file=sys.stderr, flush=True)

    os.environ.setdefault("PYTHONHASHSEED", "0")  # inherited by the workers
    info = C.machine_info(peers=("gensim", "scipy"))
    log(f"CPU: {info['cpu'].get('model')} ({info['os_cpu_count']} logical CPUs), numpy "
        f"{info['numpy']}, gensim {info.get('gensim')}, pysampled "
        f"{info['pysampled'].get('version')} (SIMD {info['pysampled'].get('simd_level')}, "
        f"OpenMP {info['pysampled'].get('openmp')})")
    corpus_path, corpus = prepare_corpus(a, log)
    calib = C.calibrate(tuple(a.threads), quick=True) if a.calibrate else None
    jobs = make_jobs(a)
    results, metas, busy = [], {}, []
    for j in jobs:
        busy.append(C.cpu_busy_fraction())
        log(f"[{j['id']}] (other load: {100 * (busy[-1] or 0):.0f}% of CPUs)")
        res, meta = C.run_jobs(Path(__file__),
                               worker_args(a, j["system"], j["threads"], corpus_path, corpus),
                               [{k: v for k, v in j.items()}], threads=j["threads"],
                               timeout_s=a.timeout)
        r = res.get(j["id"], {"status": "error", "error": "no result"})
        metas[j["id"]] = {**(meta or {}), "other_load_before": busy[-1]}
        if _ok(r) and j["system"] in EXTERNAL:
            log(f"    end to end {r['end_to_end_s']:.2f} s, CPU util {r['cpu_util']:.2f}")
        elif _ok(r):
            wps = words_per_s(r, corpus["tokens"], a.epochs)
            log(f"    train {r['train_s']:.2f} s = {wps / 1e6:.3f} M words/s, vocab "
                f"{r['vocab_s']:.2f} s, CPU util {r['cpu_util']:.2f}"
                + (f", score {r['score']:.3f}" if r.get("score") is not None else ""))
        results.append({**j, **r})
    busy.append(C.cpu_busy_fraction())
    report_md = report(results, corpus, a, busy, metas)
    for r in results:
        if _timed(r):
            r["words_per_s"] = words_per_s(r, corpus["tokens"], a.epochs)
            r["words_per_s_per_thread"] = r["words_per_s"] / r["threads"]
            base = baselines(results, r["model"], r["threads"])
            r["speedup_vs_gensim"] = base["train_s"] / r["train_s"] if base else None
            r["gensim_baseline"] = label(base) if base else None
    suffix = "_quick" if a.quick else ""
    plot_path = None
    if (a.plot or "").lower() != "none":
        plot_path = plot(results, corpus, a, a.plot or OUT / f"word2vec{suffix}.png")
    doc = {"benchmark": "word2vec", "quick": a.quick, "machine": info, "calibration": calib,
           "corpus": corpus, "hyper_parameters": hyper_params(a),
           "settings": {k: v for k, v in vars(a).items()
                        if k not in ("worker", "system", "threads_worker", "corpus_path",
                                     "synthetic_json")},
           "timing": "training only: gensim Word2Vec.train() / pysampled Word2Vec.train() after "
                     "build_vocab(); words_per_s = corpus tokens * epochs / train_s",
           "workers": metas, "other_load": busy, "results": results, "plot": plot_path,
           "wall_s": time.perf_counter() - t_start, "markdown": report_md}
    path = a.output or OUT / f"word2vec{suffix}.json"
    C.write_json(path, doc)
    print(report_md)
    log(f"\nJSON: {path}" + (f", plot: {plot_path}" if plot_path else "")
        + f" (wall {time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
