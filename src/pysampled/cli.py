"""Command line: ``pysampled`` (or ``python -m pysampled``), the word2vec application's front end.

``pysampled train`` (the default) trains word embeddings; with no ``--input``
it trains on a built-in synthetic corpus with planted topic groups and ends by
printing how well the groups were recovered. ``eval-analogy`` and
``eval-similarity`` evaluate saved vectors; ``demo`` shows the samplers and
the fused loss.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

SUBCOMMANDS = ("train", "eval-analogy", "eval-similarity", "demo")
DEFAULT_SYNTHETIC_TOKENS = 8_000_000


class UsageError(Exception):
    """Bad arguments or input: exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pysampled", description="Word embeddings and candidate-sampling losses on CPU.",
        epilog="Without a subcommand, 'train' is assumed (try: pysampled train --help).")
    sub = p.add_subparsers(dest="command", metavar="{train,eval-analogy,eval-similarity,demo}")

    t = sub.add_parser("train", help="train word vectors (default)",
                       description="Train skip-gram or CBOW word vectors. Without --input, "
                       "trains on a built-in synthetic corpus and reports its planted-structure "
                       "score.")
    io = t.add_argument_group("input and output")
    io.add_argument("--input", nargs="+", metavar="FILE",
                    help="text files, one sentence per line, tokens separated by whitespace")
    io.add_argument("--output", metavar="FILE", help="write the vectors (word2vec text format)")
    io.add_argument("--binary", action="store_true", help="write word2vec's binary format")
    io.add_argument("--synthetic-tokens", type=int, default=DEFAULT_SYNTHETIC_TOKENS,
                    metavar="N", help="size of the built-in corpus (default %(default)s)")
    io.add_argument("--checkpoint", metavar="FILE",
                    help="write a resumable checkpoint here (atomically) during training")
    io.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                    help="seconds between checkpoints (default %(default)s; also at each epoch end)")
    io.add_argument("--resume", metavar="FILE",
                    help="continue from a checkpoint (give the same --input)")
    io.add_argument("--extend", metavar="FILE",
                    help="continue training a saved checkpoint on --input, adding the new "
                    "words of --input to its vocabulary (gensim's build_vocab(update=True))")
    io.add_argument("--workdir", metavar="DIR",
                    help="where to keep the encoded corpus (default: the system temp dir)")
    m = t.add_argument_group("model")
    m.add_argument("--model", choices=("skipgram", "cbow"), default="skipgram")
    m.add_argument("--loss", choices=("negative", "nce", "sampled_softmax"), default="negative")
    m.add_argument("--dim", type=int, default=100)
    m.add_argument("--window", type=int, default=5)
    m.add_argument("--negative", type=int, default=5, help="noise words per window (negative loss)")
    m.add_argument("--num-sampled", type=int, default=64,
                   help="shared negatives per batch (nce and sampled_softmax losses)")
    m.add_argument("--min-count", type=int, default=5)
    m.add_argument("--max-vocab-size", type=int, default=None,
                   help="bound the vocabulary while counting (prune the rarest words between "
                   "blocks, as word2vec.c), then keep this many most frequent words")
    m.add_argument("--max-final-vocab", type=int, default=None,
                   help="raise min-count until at most this many words are left (gensim)")
    m.add_argument("--ns-exponent", type=float, default=0.75,
                   help="noise distribution count^EXP (default %(default)s)")
    m.add_argument("--no-shrink-windows", action="store_true",
                   help="every window has the full radius (default: uniform in 1..window)")
    m.add_argument("--sample", type=float, default=1e-3, help="frequent-word subsampling threshold")
    m.add_argument("--alpha", type=float, default=None, help="initial learning rate")
    m.add_argument("--min-alpha", type=float, default=1e-4, help="final learning rate")
    m.add_argument("--epochs", type=int, default=5)
    m.add_argument("--cbow-sum", action="store_true", help="CBOW sums the context (default: mean)")
    r = t.add_argument_group("execution")
    r.add_argument("--threads", type=int, default=None, help="default: all that OpenMP allows")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--hogwild", action="store_true",
                   help="lock-free updates: faster, but results depend on timing "
                   "(default: deterministic, the same vectors for any thread count)")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    e = t.add_argument_group("evaluation after training")
    e.add_argument("--analogies", metavar="FILE", help="questions-words.txt style file")
    e.add_argument("--similarity", metavar="FILE", help="tab-separated word pairs with scores")

    a = sub.add_parser("eval-analogy", help="word-analogy accuracy of saved vectors")
    a.add_argument("vectors", help="word2vec text or binary file")
    a.add_argument("questions", help="questions-words.txt style file")
    a.add_argument("--restrict-vocab", type=int, default=300_000)
    a.add_argument("--case-sensitive", action="store_true")

    s = sub.add_parser("eval-similarity", help="Spearman correlation with human similarity scores")
    s.add_argument("vectors", help="word2vec text or binary file")
    s.add_argument("pairs", help="file of 'word1<TAB>word2<TAB>score' lines")
    s.add_argument("--delimiter", default="\t")
    s.add_argument("--case-sensitive", action="store_true")

    sub.add_parser("demo", help="samplers and losses on a built-in example")
    return p


def _check_writable(path: str, what: str) -> None:
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {what} {path!r}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write {what} {path!r}: directory {directory!r} is not writable")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {what} {path!r}: it is a directory")


def _train(args) -> int:
    from .word2vec.synthetic import SyntheticCorpus
    from .word2vec import TextCorpus, Word2Vec

    for path, what in ((args.output, "the vectors"), (args.checkpoint, "the checkpoint")):
        if path:
            _check_writable(path, what)
    synthetic = None
    corpus: object
    if args.input:
        try:
            corpus = TextCorpus(args.input)
        except FileNotFoundError as e:
            raise UsageError(str(e)) from None
        source = ", ".join(args.input)
    else:
        if args.synthetic_tokens < 1000:
            raise UsageError("--synthetic-tokens must be at least 1000")
        synthetic = SyntheticCorpus(num_tokens=args.synthetic_tokens, seed=args.seed)
        corpus = synthetic
        source = f"built-in synthetic corpus ({args.synthetic_tokens:,} tokens, " \
                 f"{len(synthetic.groups)} planted topic groups)"
    progress = not args.quiet and sys.stderr.isatty()
    t0 = time.perf_counter()
    if args.extend:
        if not args.input:
            raise UsageError("--extend needs --input (the new text)")
        model = Word2Vec.load(args.extend, threads=args.threads)
        model.build_vocab(corpus, workdir=args.workdir, update=True)
    elif args.resume:
        model = Word2Vec.load(args.resume, threads=args.threads)
        print(f"resuming {args.resume}: epoch {model.progress['epoch'] + 1}, "
              f"{model.progress['words_done']:,} words done", file=sys.stderr)
    else:
        model = Word2Vec(model=args.model, loss=args.loss, dim=args.dim, window=args.window,
                         negative=args.negative, num_sampled=args.num_sampled,
                         min_count=args.min_count, max_vocab_size=args.max_vocab_size,
                         sample=args.sample, alpha=args.alpha, min_alpha=args.min_alpha,
                         epochs=args.epochs, cbow_mean=not args.cbow_sum, threads=args.threads,
                         seed=args.seed, deterministic=not args.hogwild,
                         max_final_vocab=args.max_final_vocab, ns_exponent=args.ns_exponent,
                         shrink_windows=not args.no_shrink_windows)
        model.build_vocab(corpus, workdir=args.workdir)
    t_vocab = time.perf_counter() - t0
    if not args.quiet:
        print(f"{source}: {model.progress['corpus_tokens']:,} tokens, vocabulary "
              f"{len(model.words):,} words ({t_vocab:.1f} s)", file=sys.stderr)
    summary = model.train(corpus, progress=progress, checkpoint=args.checkpoint,
                          checkpoint_every=args.checkpoint_every, workdir=args.workdir)
    if args.output:
        model.save_word2vec_format(args.output, binary=args.binary)
    print(f"trained {model.model} ({model.loss}) dim={model.dim}: {summary['words']:,} words in "
          f"{summary['seconds']:.1f} s, {summary['words_per_second'] / 1e6:.2f} M words/s; "
          f"loss per prediction by epoch: "
          + ", ".join(f"{e['loss']:.4f}" for e in summary["epochs"]))
    if args.output:
        print(f"vectors written to {args.output} ({'binary' if args.binary else 'text'})")
    if synthetic is not None:
        score = synthetic.score(model.words, model.vectors)
        print(f"planted-structure score (precision@10 of same-topic neighbours): {score:.3f} "
              f"(chance {synthetic.chance_level(model.words):.3f}, perfect 1.000)")
    _evaluate(model.words, model.vectors, args.analogies, args.similarity)
    return 0


def _evaluate(words, vectors, analogies, similarity, case_insensitive=True, restrict=300_000):
    from .word2vec.evaluation import evaluate_analogies, evaluate_similarity

    if analogies:
        r = evaluate_analogies(words, vectors, analogies, restrict_vocab=restrict,
                               case_insensitive=case_insensitive)
        print(f"analogies: accuracy {r['accuracy']:.4f} ({r['correct']}/{r['total']}; "
              f"semantic {r['semantic_accuracy']:.4f}, syntactic {r['syntactic_accuracy']:.4f}; "
              f"{r['oov']} questions skipped as out of vocabulary)")
    if similarity:
        r = evaluate_similarity(words, vectors, similarity, case_insensitive=case_insensitive)
        print(f"similarity: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f} "
              f"({r['pairs']} pairs, {r['oov']} out of vocabulary)")


def _eval_analogy(args) -> int:
    from .word2vec.formats import load_word2vec_format

    words, vectors = load_word2vec_format(args.vectors)
    _evaluate(words, vectors, args.questions, None, not args.case_sensitive, args.restrict_vocab)
    return 0


def _eval_similarity(args) -> int:
    from .word2vec.evaluation import evaluate_similarity
    from .word2vec.formats import load_word2vec_format

    words, vectors = load_word2vec_format(args.vectors)
    r = evaluate_similarity(words, vectors, args.pairs, delimiter=args.delimiter,
                            case_insensitive=not args.case_sensitive)
    print(f"similarity: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f} "
          f"({r['pairs']} pairs, {r['oov']} out of vocabulary)")
    return 0


def _demo(args) -> int:
    import numpy as np

    import pysampled as ps

    print(f"pysampled {ps.__version__}: OpenMP {'on' if ps.openmp_enabled() else 'off'}, "
          f"SIMD {ps._runtime.simd_level()}, {ps._runtime.omp_max_threads()} thread(s)")
    labels = np.array([[0], [3], [7]])
    s = ps.log_uniform_candidate_sampler(labels, 1, 8, True, 64, seed=(20245, 842))
    print("\nTF's log-uniform stream for seeds (20245, 842), R=64, S=8, unique:")
    print("  sampled:", s.sampled_candidates.tolist())
    print("  sampled expected counts:", [round(float(v), 4) for v in s.sampled_expected_count])
    n = 10_000_000
    print(f"\nBulk draws ({n:,}, all threads):")
    out = np.empty(n, dtype=np.int64)
    for name, sampler in [
        ("uniform", ps.UniformSampler(1_000_000, seed=1)),
        ("log_uniform", ps.LogUniformSampler(1_000_000, seed=1)),
        ("unigram^0.75 (alias)", ps.FixedUnigramSampler(
            100_000, unigrams=1.0 / np.arange(1, 100_001), distortion=0.75, seed=1)),
    ]:
        sampler.sample_bulk(n, out=out, num_threads=-1)
        t0 = time.perf_counter()
        sampler.sample_bulk(n, out=out, num_threads=-1)
        print(f"  {name:<22} {n / (time.perf_counter() - t0) / 1e6:8.1f} M draws/s")
    rng = np.random.default_rng(0)
    num_classes, dim, batch, num_sampled = 100_000, 128, 1024, 512
    weights = rng.standard_normal((num_classes, dim), dtype=np.float32) * 0.05
    biases = np.zeros(num_classes, dtype=np.float32)
    x = rng.standard_normal((batch, dim), dtype=np.float32)
    y = rng.integers(0, num_classes, (batch, 1))
    model = ps.SampledLoss(weights, biases, num_sampled=num_sampled, seed=1)
    model.step(y, x)
    t0 = time.perf_counter()
    for _ in range(20):
        res = model.step(y, x)
    dt = (time.perf_counter() - t0) / 20
    print(f"\nSampled softmax step (C={num_classes:,}, D={dim}, B={batch}, S={num_sampled}): "
          f"{dt * 1e3:.2f} ms, mean loss {res.loss.mean():.4f}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["train"] + argv
    args = _parser().parse_args(argv)
    handlers = {"train": _train, "eval-analogy": _eval_analogy,
                "eval-similarity": _eval_similarity, "demo": _demo}
    try:
        return handlers[args.command](args)
    except UsageError as e:
        print(f"pysampled: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, PermissionError,
            UnicodeError) as e:
        print(f"pysampled: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pysampled: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
