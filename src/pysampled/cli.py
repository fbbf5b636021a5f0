"""Command line: ``pysampled`` (or ``python -m pysampled``), the word2vec application's front end.

``pysampled train`` (the default) trains word embeddings; with no ``--input``
it trains on a built-in synthetic corpus with planted topic groups and ends by
printing how well the groups were recovered. ``eval-analogy`` and
``eval-similarity`` evaluate saved vectors; ``demo`` shows the samplers and
the fused loss.
"""
from __future__ import annotations

import argparse
import difflib
import os
import shlex
import shutil
import signal
import sys
import time
from typing import Any, Callable, Mapping, NoReturn, Optional, Sequence

SUBCOMMANDS = ("train", "eval-analogy", "eval-similarity", "demo")
DEFAULT_SYNTHETIC_TOKENS = 8_000_000
DEFAULT_CHECKPOINT_EVERY = 300.0
DEFAULT_MPI_TIMEOUT = 60.0
ALPHA_HELP = ("initial learning rate (default: 0.025 for skipgram and 0.05 for cbow with "
              "--loss negative, as in word2vec; 1.0 with nce and sampled_softmax, which use "
              "Adagrad)")


class UsageError(Exception):
    """Bad arguments or input: exit status 2."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every meaningful default: not None (explained in the help text
    instead), not False (switches), not when the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or "default:" in text or action.default is None
                or action.default is False or action.default is argparse.SUPPRESS
                or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose unknown-option errors name the closest option."""

    def unknown(self, extras: Sequence[str]) -> NoReturn:
        known = [o for a in self._actions for o in a.option_strings]
        hints = []
        for x in extras:
            if x.startswith("-"):
                close = difflib.get_close_matches(x.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"{x}: did you mean {close[0]}?")
        msg = "unrecognized arguments: " + " ".join(extras)
        self.error(msg + ("; " + "; ".join(hints) if hints else ""))


def _version() -> str:
    from . import __version__

    return f"pysampled {__version__}"


def _tokenization_options(group: Any) -> None:
    group.add_argument("--lowercase", action="store_true",
                       help="lowercase every token (str.lower) in the input and in the "
                       "evaluation files")
    group.add_argument("--strip-punctuation", action="store_true",
                       help="delete Unicode punctuation (categories P*) from every token "
                       "(\"don't\" -> \"dont\"); tokens left empty are dropped; applied to "
                       "the evaluation files too")


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    p = _Parser(
        prog="pysampled", description="Word embeddings and candidate-sampling losses on CPU.",
        epilog="Without a subcommand, 'train' is assumed (try: pysampled train --help).",
        formatter_class=_Formatter)
    p.add_argument("-V", "--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="{train,eval-analogy,eval-similarity,demo}",
                           parser_class=_Parser)

    t = sub.add_parser("train", help="train word vectors (default)", formatter_class=_Formatter,
                       description="Train skip-gram or CBOW word vectors. Without --input, "
                       "trains on a built-in synthetic corpus and reports its planted-structure "
                       "score.")
    io = t.add_argument_group("input and output")
    io.add_argument("--input", nargs="+", metavar="FILE",
                    help="text files, one sentence per line, tokens separated by whitespace "
                    "(default: the built-in synthetic corpus)")
    io.add_argument("--output", metavar="FILE",
                    help="write the vectors here (word2vec text format; default: not saved)")
    io.add_argument("--binary", action="store_true", help="write word2vec's binary format")
    io.add_argument("--synthetic-tokens", type=int, default=DEFAULT_SYNTHETIC_TOKENS,
                    metavar="N", help="size of the built-in corpus")
    io.add_argument("--checkpoint", metavar="FILE",
                    help="write a resumable checkpoint here (atomically) during training, "
                    "and on Ctrl-C / SIGTERM")
    io.add_argument("--checkpoint-every", type=float, default=DEFAULT_CHECKPOINT_EVERY,
                    metavar="SECONDS", help="seconds between checkpoints (also at each epoch end)")
    io.add_argument("--resume", metavar="FILE",
                    help="continue from a checkpoint (give the same --input)")
    io.add_argument("--extend", metavar="FILE",
                    help="continue training a saved checkpoint on --input, adding the new "
                    "words of --input to its vocabulary (gensim's build_vocab(update=True))")
    io.add_argument("--workdir", metavar="DIR",
                    help="where to keep the encoded corpus (default: the system temp dir)")
    _tokenization_options(t.add_argument_group("tokenisation (text input)"))
    m = t.add_argument_group("model")
    m.add_argument("--model", choices=("skipgram", "cbow"), default="skipgram",
                   help="predict context words from the centre word, or the reverse")
    m.add_argument("--loss", choices=("negative", "nce", "sampled_softmax"), default="negative",
                   help="word2vec's negative sampling, or TF's losses")
    m.add_argument("--dim", type=int, default=100, help="vector size")
    m.add_argument("--window", type=int, default=5, help="maximal context radius")
    m.add_argument("--negative", type=int, default=5, help="noise words per window (negative loss)")
    m.add_argument("--num-sampled", type=int, default=64,
                   help="shared negatives per batch (nce and sampled_softmax losses)")
    m.add_argument("--batch-size", type=int, default=128,
                   help="predictions per batch (nce and sampled_softmax losses; larger batches "
                   "make fewer, larger steps: fewer collectives per word under mpiexec)")
    m.add_argument("--min-count", type=int, default=5, help="drop words rarer than this")
    m.add_argument("--max-vocab-size", type=int, default=None, metavar="N",
                   help="bound the vocabulary while counting (prune the rarest words between "
                   "blocks, as word2vec.c), then keep the N most frequent words (default: no limit)")
    m.add_argument("--max-final-vocab", type=int, default=None, metavar="N",
                   help="raise min-count until at most N words are left (gensim; default: no limit)")
    m.add_argument("--ns-exponent", type=float, default=0.75,
                   help="noise distribution count^EXP")
    m.add_argument("--no-shrink-windows", action="store_true",
                   help="every window has the full radius (default: uniform in 1..window)")
    m.add_argument("--sample", type=float, default=1e-3,
                   help="frequent-word subsampling threshold (0: off)")
    m.add_argument("--alpha", type=float, default=None, help=ALPHA_HELP)
    m.add_argument("--min-alpha", type=float, default=1e-4, help="final learning rate")
    m.add_argument("--epochs", type=int, default=5, help="passes over the corpus")
    m.add_argument("--cbow-sum", action="store_true", help="CBOW sums the context (default: mean)")
    r = t.add_argument_group("execution")
    r.add_argument("--threads", "--num-threads", dest="threads", type=int, default=None,
                   help="default: what OpenMP allows (OMP_NUM_THREADS); -1: all cores")
    r.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    r.add_argument("--hogwild", action="store_true",
                   help="lock-free updates: faster, but results depend on timing "
                   "(default: deterministic, the same vectors for any thread count)")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    r.add_argument("--mpi-timeout", type=float, default=DEFAULT_MPI_TIMEOUT, metavar="SECONDS",
                   help="under 'mpiexec -n K' (K > 1; --loss nce or sampled_softmax): seconds a "
                   "rank waits for the others before the job is aborted with an error")
    e = t.add_argument_group("evaluation after training")
    e.add_argument("--analogies", metavar="FILE", help="questions-words.txt style file")
    e.add_argument("--similarity", metavar="FILE", help="tab-separated word pairs with scores")

    a = sub.add_parser("eval-analogy", help="word-analogy accuracy of saved vectors",
                       formatter_class=_Formatter)
    a.add_argument("vectors", help="word2vec text or binary file")
    a.add_argument("questions", help="questions-words.txt style file")
    a.add_argument("--restrict-vocab", type=int, default=300_000,
                   help="only the N most frequent words")
    a.add_argument("--case-sensitive", action="store_true")
    _tokenization_options(a)

    s = sub.add_parser("eval-similarity", help="Spearman correlation with human similarity scores",
                       formatter_class=_Formatter)
    s.add_argument("vectors", help="word2vec text or binary file")
    s.add_argument("pairs", help="file of 'word1<TAB>word2<TAB>score' lines")
    s.add_argument("--delimiter", default="\t", help="field separator")
    s.add_argument("--case-sensitive", action="store_true")
    _tokenization_options(s)

    d = sub.add_parser("demo", help="samplers and losses on a built-in example",
                       formatter_class=_Formatter)
    return p, {"train": t, "eval-analogy": a, "eval-similarity": s, "demo": d}


def _check_writable(path: str, what: str) -> None:
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {what} {path!r}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write {what} {path!r}: directory {directory!r} is not writable")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {what} {path!r}: it is a directory")


def _check_readable(path: Optional[str], what: str) -> None:
    if path is None:
        return
    if os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a directory, not a file")
    if not os.path.exists(path):
        raise UsageError(f"{what} not found: {path}")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{what} {path!r} is not readable (permission denied)")


def _normalizer(args: argparse.Namespace) -> Optional[Callable[[str], str]]:
    from .word2vec.corpus import normalize_token

    if not (args.lowercase or args.strip_punctuation):
        return None
    return lambda w: normalize_token(w, lowercase=args.lowercase,
                                     strip_punctuation=args.strip_punctuation)


def _program() -> list[str]:
    """How this process was started, for the resume command we print."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) in ("__main__.py", "-m", "-c", ""):
        return [sys.executable, "-m", "pysampled"]
    found = shutil.which("pysampled")
    if found and os.path.exists(argv0) and os.path.samefile(found, argv0):
        return ["pysampled"]
    return [argv0]


def _resume_command(args: argparse.Namespace) -> str:
    cmd = _program() + ["train"]
    if args.input:
        cmd += ["--input", *args.input]
    else:
        cmd += ["--synthetic-tokens", str(args.synthetic_tokens), "--seed", str(args.seed)]
    cmd += ["--resume", args.checkpoint, "--checkpoint", args.checkpoint]
    if args.checkpoint_every != DEFAULT_CHECKPOINT_EVERY:
        cmd += ["--checkpoint-every", repr(args.checkpoint_every)]
    for flag in ("output", "workdir", "threads", "analogies", "similarity"):
        value = getattr(args, flag)
        if value is not None:
            cmd += [f"--{flag}", str(value)]
    for flag in ("binary", "lowercase", "strip_punctuation", "quiet"):
        if getattr(args, flag):
            cmd.append("--" + flag.replace("_", "-"))
    ranks = getattr(args, "mpi_ranks", 1)
    if ranks > 1:  # resumable with any number of ranks; the same one shown
        cmd = ["mpiexec", "-n", str(ranks)] + cmd
        if args.mpi_timeout != DEFAULT_MPI_TIMEOUT:
            cmd += ["--mpi-timeout", repr(args.mpi_timeout)]
    return shlex.join(cmd)


class _StopOnSignal:
    """SIGINT / SIGTERM during training: finish the current chunk, then stop
    (the trainer writes the checkpoint). Before training starts, or on a
    second signal, the usual KeyboardInterrupt / termination happens."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.training = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_StopOnSignal":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: object) -> None:
        if not self.training or self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        os.write(2, f"\npysampled: {signal.Signals(signum).name}: stopping after the current "
                    f"chunk (again to abort at once)\n".encode())


def _train(args: argparse.Namespace) -> int:
    from .word2vec import TextCorpus, Word2Vec
    from .word2vec.distributed import world_communicator
    from .word2vec.synthetic import SyntheticCorpus

    if not (args.mpi_timeout > 0 and args.mpi_timeout < float("inf")):
        raise UsageError("--mpi-timeout must be a positive number of seconds")
    comm = world_communicator()  # None unless under mpiexec with several ranks
    rank = 0 if comm is None else int(comm.Get_rank())
    # (checked before the vocabulary is built; a resumed or extended model's
    # loss is checked by Word2Vec.train)
    if comm is not None and not args.resume and not args.extend and args.loss == "negative":
        raise UsageError("under mpiexec with several ranks, use --loss nce or --loss "
                         "sampled_softmax (the output table is split over the ranks by the "
                         "vocabulary-parallel loss); --loss negative trains in one process")
    args.quiet = args.quiet or rank != 0  # one rank reports
    args.mpi_ranks = 1 if comm is None else int(comm.Get_size())

    for path, what in ((args.output, "the vectors"), (args.checkpoint, "the checkpoint")):
        if path:
            _check_writable(path, what)
    _check_readable(args.resume, "checkpoint file")
    _check_readable(args.analogies, "analogy questions file")
    _check_readable(args.similarity, "similarity pairs file")
    synthetic = None
    corpus: object
    if args.input:
        try:
            corpus = TextCorpus(args.input, lowercase=args.lowercase,
                                strip_punctuation=args.strip_punctuation)
        except (FileNotFoundError, IsADirectoryError) as e:
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
    with _StopOnSignal() as stop:
        t0 = time.perf_counter()
        if args.extend:
            if not args.input:
                raise UsageError("--extend needs --input (the new text)")
            model = Word2Vec.load(args.extend, num_threads=args.threads)
            model.build_vocab(corpus, workdir=args.workdir, update=True)
        elif args.resume:
            model = Word2Vec.load(args.resume, num_threads=args.threads)
            done, total = model.progress["epoch"], model.epochs
            if done >= total:
                if rank != 0:
                    return 0
                print(f"{args.resume} is a finished run ({total} of {total} epochs trained): "
                      "nothing left to train", file=sys.stderr)
                return _finish(args, model, None, synthetic)
            at = f", chunk {model.progress['chunk']}" if model.progress["chunk"] else ""
            if rank == 0:
                print(f"resuming {args.resume}: epoch {done + 1} of {total}{at}, "
                      f"{model.progress['words_done']:,} words done, vocabulary "
                      f"{len(model.words):,} words", file=sys.stderr)
        else:
            model = Word2Vec(model=args.model, loss=args.loss, dim=args.dim, window=args.window,
                             negative=args.negative, num_sampled=args.num_sampled,
                             batch_size=args.batch_size,
                             min_count=args.min_count, max_vocab_size=args.max_vocab_size,
                             sample=args.sample, alpha=args.alpha, min_alpha=args.min_alpha,
                             epochs=args.epochs, cbow_mean=not args.cbow_sum,
                             num_threads=args.threads, seed=args.seed, deterministic=not args.hogwild,
                             max_final_vocab=args.max_final_vocab, ns_exponent=args.ns_exponent,
                             shrink_windows=not args.no_shrink_windows)
            model.build_vocab(corpus, workdir=args.workdir)
            if not args.quiet:
                kept, read = model.progress["corpus_tokens"], model.tokens_read or 0
                print(f"{source}: {read:,} tokens read, {kept:,} kept "
                      f"({kept / max(1, read):.1%}); vocabulary "
                      f"{len(model.words):,} words (min count {model.min_count}) "
                      f"({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr)
        stop.training = True
        summary = model.train(corpus, progress=progress, checkpoint=args.checkpoint,
                              checkpoint_every=args.checkpoint_every, workdir=args.workdir,
                              should_stop=stop, comm=comm, timeout=args.mpi_timeout)
        stop.training = False
    if rank != 0:
        return 0 if summary["finished"] or stop.signum is None else 128 + stop.signum
    if stop.signum is not None and not summary["finished"]:
        name = signal.Signals(stop.signum).name
        where = (f"epoch {model.progress['epoch'] + 1} of {model.epochs}, "
                 f"{model.progress['words_done']:,} words done")
        if args.checkpoint:
            print(f"pysampled: interrupted by {name} at {where}; checkpoint written to "
                  f"{args.checkpoint}. Resume with:\n  {_resume_command(args)}", file=sys.stderr)
        else:
            print(f"pysampled: interrupted by {name} at {where}; nothing was saved "
                  "(with --checkpoint FILE an interrupted run can be resumed)", file=sys.stderr)
        return 128 + stop.signum
    return _finish(args, model, summary, synthetic)


def _finish(args: argparse.Namespace, model: Any, summary: Optional[Mapping[str, Any]],
            synthetic: Any) -> int:
    if args.output:
        model.save_word2vec_format(args.output, binary=args.binary)
    if summary is not None:
        print(f"trained {model.model} ({model.loss}) dim={model.dim}: {summary['words']:,} words "
              f"in {summary['seconds']:.1f} s, {summary['words_per_second'] / 1e6:.2f} M words/s; "
              f"loss per prediction by epoch: "
              + ", ".join(f"{e['loss']:.4f}" for e in summary["epochs"]))
    if args.output:
        print(f"vectors written to {args.output} ({'binary' if args.binary else 'text'})")
    else:
        print("the vectors were not saved: add --output FILE to write them "
              "(word2vec text format; --binary for the binary one)", file=sys.stderr)
    if synthetic is not None:
        score = synthetic.score(model.words, model.vectors)
        print(f"planted-structure score (precision@10 of same-topic neighbours): {score:.3f} "
              f"(chance {synthetic.chance_level(model.words):.3f}, perfect 1.000)")
    _evaluate(model.words, model.vectors, args.analogies, args.similarity,
              normalize=_normalizer(args))
    return 0


def _evaluate(words: Sequence[str], vectors: Any, analogies: Optional[str],
              similarity: Optional[str], case_insensitive: bool = True,
              restrict: int = 300_000, normalize: Optional[Callable[[str], str]] = None) -> None:
    from .word2vec.evaluation import evaluate_analogies, evaluate_similarity

    if analogies:
        r = evaluate_analogies(words, vectors, analogies, restrict_vocab=restrict,
                               case_insensitive=case_insensitive, normalize=normalize)
        print(f"analogies: accuracy {r['accuracy']:.4f} ({r['correct']}/{r['total']}; "
              f"semantic {r['semantic_accuracy']:.4f}, syntactic {r['syntactic_accuracy']:.4f}; "
              f"{r['oov']} questions skipped as out of vocabulary)")
    if similarity:
        r = evaluate_similarity(words, vectors, similarity, case_insensitive=case_insensitive,
                                normalize=normalize)
        print(f"similarity: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f} "
              f"({r['pairs']} pairs, {r['oov']} out of vocabulary)")


def _eval_analogy(args: argparse.Namespace) -> int:
    from .word2vec.formats import load_word2vec_format

    _check_readable(args.vectors, "vectors file")
    _check_readable(args.questions, "analogy questions file")
    words, vectors = load_word2vec_format(args.vectors)
    _evaluate(words, vectors, args.questions, None, not args.case_sensitive, args.restrict_vocab,
              normalize=_normalizer(args))
    return 0


def _eval_similarity(args: argparse.Namespace) -> int:
    from .word2vec.evaluation import evaluate_similarity
    from .word2vec.formats import load_word2vec_format

    _check_readable(args.vectors, "vectors file")
    _check_readable(args.pairs, "similarity pairs file")
    words, vectors = load_word2vec_format(args.vectors)
    r = evaluate_similarity(words, vectors, args.pairs, delimiter=args.delimiter,
                            case_insensitive=not args.case_sensitive, normalize=_normalizer(args))
    print(f"similarity: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f} "
          f"({r['pairs']} pairs, {r['oov']} out of vocabulary)")
    return 0


def _demo(args: argparse.Namespace) -> int:
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = _parser()
    if argv and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS:
        close = difflib.get_close_matches(argv[0], SUBCOMMANDS, n=1)
        parser.error(f"unknown command {argv[0]!r}"
                     + (f" (did you mean {close[0]!r}?)" if close else "")
                     + f"; choose from {', '.join(SUBCOMMANDS)}")
    if not argv or argv[0] not in SUBCOMMANDS + ("-h", "--help", "-V", "--version"):
        argv = ["train"] + argv
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.error("no command given")
    if extras:
        subparsers[args.command].unknown(extras)
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
        print("pysampled: interrupted (nothing to save yet)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
