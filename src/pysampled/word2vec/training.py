"""The training schedule of a :class:`~pysampled.word2vec.Word2Vec` model:
epochs of chunks, the learning rate, checkpoints, progress, stopping.

Design: :func:`train` is ``Word2Vec.train``'s body. It cuts the
encoded corpus into chunks of whole sentences (fixed by the corpus and
``chunk_words`` alone) and makes one kernel call per chunk with the GIL
released: ``_word2vec.train_chunk`` for ``loss="negative"``, the model's
nce / sampled-softmax step otherwise. The learning rate decays linearly per
chunk over all epochs; ``model.progress`` records the position, so a
checkpoint resumes at the chunk after the last one trained. With an MPI
communicator the nce / sampled-softmax chunks run over its ranks
(:mod:`.distributed`); decisions every rank must share (stop, checkpoint
now) are agreed on before they act.
:class:`_ThreadChooser` picks the thread count per chunk of the deterministic
mode, where it changes the speed but never the vectors; when it picks one
thread of several, :class:`_RecordPipeline` builds the next chunk's training
records on a second thread meanwhile (they do not depend on the weights).
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple, TypedDict

import numpy as np
import numpy.typing as npt

from .. import _word2vec
from .._threads import resolve_num_threads
from .corpus import Corpus, PathLike
from .progress import Progress
from .vocabulary import encode_for_training

if TYPE_CHECKING:
    from .model import Word2Vec

__all__ = ["TrainSummary", "train"]


class TrainSummary(TypedDict):
    """What ``Word2Vec.train`` returns."""
    #: Tokens trained in this call (before subsampling).
    words: int
    seconds: float
    words_per_second: float
    #: ``{"epoch": e, "loss": mean loss}`` for every finished epoch of the run.
    epochs: List[Dict[str, float]]
    #: False when stopped early (``stop_after_chunks``, ``should_stop``).
    finished: bool


class _ThreadChooser:
    """Thread count per chunk of the deterministic mode. Its results are the
    same for any thread count, but its synchronous groups make every thread
    wait for the slowest: with a busy neighbour on one core, `threads`
    threads can be far slower than one. So both counts are timed and the
    faster per word is used; the other is run now and then (a probe) in
    case the machine has changed. A probe comes `probe_every` chunks after
    the last one, times how much slower the other count was, times a
    back-off that doubles each time a probe confirms the choice (reset when
    one does not), and at most `max_period` chunks after it: a count that
    stays slower costs little once the choice has held. Several threads
    must be `margin` faster per word than one to be chosen: a one-thread
    chunk lets :class:`_RecordPipeline` build the next chunk's records on
    the idle core, a gain its own time does not show, and it leaves that
    core to other processes. Only the speed depends on this choice, never
    the vectors."""

    def __init__(self, threads: int, adaptive: bool, probe_every: int = 8,
                 max_period: int = 64, margin: float = 0.05) -> None:
        self.threads = threads
        self.options = (threads, 1) if adaptive and threads > 1 else (threads,)
        self.cost: Dict[int, Optional[float]] = {t: None for t in self.options}  # s per word
        # costs compared after this factor (1 + margin for several threads)
        self.weight = {t: 1.0 + margin if t > 1 else 1.0 for t in self.options}
        self.probe_every = probe_every
        self.max_period = max_period
        self.calls = 0
        self.last_probe = 0
        self.backoff = 1
        self.probing: Optional[int] = None  # the count a probe is running

    def pick(self) -> int:
        self.calls += 1
        if len(self.options) == 1:
            return self.threads
        known = {t: c for t, c in self.cost.items() if c is not None}
        unknown = [t for t in self.options if t not in known]
        if unknown:
            return unknown[0]
        best = min(self.options, key=lambda t: known[t] * self.weight[t])
        other = next(t for t in self.options if t != best)
        period = min(self.max_period,
                     int(self.probe_every * known[other] / known[best] * self.backoff))
        if self.calls - self.last_probe >= max(self.probe_every, period):
            self.last_probe = self.calls
            self.probing = other
            return other
        return best

    def record(self, threads: int, seconds: float, words: int) -> None:
        if words <= 0 or len(self.options) == 1:
            return
        c = seconds / words
        old = self.cost[threads]
        mine = c if old is None else 0.5 * old + 0.5 * c
        self.cost[threads] = mine
        if self.probing == threads:
            self.probing = None
            slower = all(mine * self.weight[threads] > x * self.weight[t]
                         for t, x in self.cost.items() if t != threads and x is not None)
            self.backoff = min(2 * self.backoff, self.max_period) if slower else 1


class _RecordPipeline:
    """The next chunk's training records, built on a helper thread while the
    current chunk trains (``_word2vec.prepare_chunk``; the GIL is released on
    both sides). Used in the deterministic mode when its thread chooser runs
    a chunk on one thread of several, where the other core would otherwise
    wait: subsampling, window radii and negatives are 8% (skip-gram) to 18%
    (CBOW) of a one-thread chunk. The records depend on the chunk's position,
    the seed and the epoch, not on the weights, so the vectors are the same
    bits as without it."""

    def __init__(self, model: Word2Vec, keep: npt.NDArray[np.float32],
                 noise: _word2vec.NoiseTable) -> None:
        self.model, self.keep, self.noise = model, keep, noise
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pysampled-records")
        self.pending: Optional[Tuple[Tuple[int, int], Future]] = None

    def take(self, key: Tuple[int, int]) -> Optional[_word2vec.PreparedChunk]:
        """The records started for chunk `key` ((epoch, index)), or None."""
        if self.pending is None:
            return None
        started, future = self.pending
        self.pending = None
        records = future.result()  # waits; a failure surfaces here, as it would in training
        return records if started == key else None

    def start(self, key: Tuple[int, int], tokens: npt.NDArray[np.int32],
              ends: npt.NDArray[np.int64], position: int, epoch: int) -> None:
        m = self.model
        assert m.syn0 is not None and m.syn1 is not None
        self.pending = (key, self.pool.submit(
            _word2vec.prepare_chunk, m.syn0, m.syn1, self.keep, self.noise, tokens, ends,
            position, m.seed, epoch, m.dim, m._kernel_window(), m.negative, 1, m.shrink_windows))

    def close(self) -> None:
        self.pending = None
        self.pool.shutdown(wait=True)  # a build still running finishes before train() returns


def train(model: Word2Vec, corpus: Optional[Corpus], *, progress: Optional[bool],
          checkpoint: Optional[PathLike], checkpoint_every: float,
          workdir: Optional[PathLike], stop_after_chunks: Optional[int],
          should_stop: Optional[Callable[[], bool]], comm: Any = None,
          timeout: float = 60.0) -> TrainSummary:
    """``Word2Vec.train``: the remaining epochs (all of them unless resumed);
    with ``comm``, this rank's part of a run over its ranks (:mod:`.distributed`)."""
    if model._encoded is None:
        if corpus is None:
            raise ValueError("train() needs a corpus (the vocabulary was built elsewhere)")
        if model.syn0 is None:
            model.build_vocab(corpus, workdir=workdir)
        else:
            encode_for_training(model, corpus, workdir)
    enc = model._encoded
    assert enc is not None
    if comm is not None:  # checked before anything changes
        from ..distributed._config import check_comm

        timeout = check_comm(comm, timeout, "abort")
        if model.loss == "negative":
            raise ValueError(
                "training over MPI ranks needs loss='nce' or 'sampled_softmax' (the "
                "vocabulary-parallel loss); loss='negative' trains in one process")
    if progress is None:
        progress = sys.stderr.isatty()
    threads = resolve_num_threads(model.num_threads)
    keep = model.keep_probabilities()
    noise = _word2vec.NoiseTable(model.noise_weights())
    # Deterministic results do not depend on the thread count, so it may
    # follow the machine's load; Hogwild keeps the threads asked for.
    chooser = _ThreadChooser(threads, adaptive=model.deterministic)
    total_words = model.epochs * enc.num_tokens
    chunks = list(enc.chunks(model.chunk_words))
    sampler = model._make_sampled_loss() if model.loss != "negative" else None
    dist = None
    if comm is not None:
        from .distributed import ShardedTraining

        dist = ShardedTraining(model, comm, sampler, threads, timeout)
        progress = progress and dist.rank == 0

    pipeline = (_RecordPipeline(model, keep, noise)
                if model.loss == "negative" and model.deterministic and threads > 1 else None)
    try:
        return _run_epochs(model, enc, chunks, chooser, pipeline, keep, noise, sampler, dist, threads,
                           progress, checkpoint, checkpoint_every, stop_after_chunks, should_stop,
                           total_words)
    finally:
        if pipeline is not None:
            pipeline.close()


def _next_chunk(chunks: List[Any], epoch: int, index: int, epochs: int) -> Optional[Tuple[int, int]]:
    """(epoch, index) of the chunk trained after chunk `index` of `epoch`, or None."""
    if index + 1 < len(chunks):
        return epoch, index + 1
    return (epoch + 1, 0) if epoch + 1 < epochs else None


def _run_epochs(model: Word2Vec, enc: Any, chunks: List[Any], chooser: _ThreadChooser,
                pipeline: Optional[_RecordPipeline], keep: npt.NDArray[np.float32],
                noise: _word2vec.NoiseTable, sampler: Any, dist: Any, threads: int,
                progress: bool, checkpoint: Optional[PathLike], checkpoint_every: float,
                stop_after_chunks: Optional[int], should_stop: Optional[Callable[[], bool]],
                total_words: int) -> TrainSummary:
    """The chunk loop of :func:`train`, over the remaining epochs."""
    def save() -> None:  # every rank calls it; rank 0 writes the whole model
        assert checkpoint
        if dist is not None:
            dist.gather()
            if dist.rank != 0:
                return
        model.save(checkpoint)

    bar = Progress(total_words, enabled=progress)
    t_start = time.perf_counter()
    last_ckpt = t_start
    words_this_run = 0
    stopped = False
    while model.progress["epoch"] < model.epochs:
        epoch = model.progress["epoch"]
        for index, start, stop, ends in chunks[model.progress["chunk"]:]:
            halt = (stop_after_chunks is not None and stop_after_chunks <= 0) or (
                should_stop is not None and should_stop())
            if dist is not None:
                halt, _ = dist.agree(halt, False)
            if halt:
                stopped = True
                break
            frac = model.progress["words_done"] / max(1, total_words)
            alpha = max(model.min_alpha, model.alpha - (model.alpha - model.min_alpha) * frac)
            tokens = enc.tokens[start:stop]  # a view of the memory-mapped corpus
            if model.loss == "negative":
                chunk_threads = chooser.pick()
                prepared = None
                if pipeline is not None:
                    prepared = pipeline.take((epoch, index))
                    nxt = _next_chunk(chunks, epoch, index, model.epochs)
                    if chunk_threads == 1 and nxt is not None:
                        _, n_start, n_stop, n_ends = chunks[nxt[1]]
                        pipeline.start(nxt, enc.tokens[n_start:n_stop], np.ascontiguousarray(n_ends),
                                       n_start, nxt[0])
                words, pairs, loss = _negative_sampling_chunk(
                    model, chooser, chunk_threads, keep, noise, tokens, np.ascontiguousarray(ends),
                    start, epoch, alpha, prepared)
            elif dist is not None:
                words, pairs, loss = dist.train_chunk(keep, tokens, np.ascontiguousarray(ends),
                                                      start, epoch, alpha)
            else:
                words, pairs, loss = model._train_chunk_sampled(
                    sampler, keep, tokens, np.ascontiguousarray(ends), start, epoch, alpha,
                    threads)
            model.progress["chunk"] = index + 1
            model.progress["words_done"] += int(words)
            model.progress["loss"] += float(loss)
            model.progress["pairs"] += int(pairs)
            words_this_run += int(words)
            if stop_after_chunks is not None:
                stop_after_chunks -= 1
            bar.update(model.progress["words_done"], words_this_run,
                       model.progress["loss"] / max(1, model.progress["pairs"]), alpha, epoch)
            due = bool(checkpoint) and time.perf_counter() - last_ckpt >= checkpoint_every
            if dist is not None and checkpoint:
                _, due = dist.agree(False, due)
            if due:
                save()
                last_ckpt = time.perf_counter()
        if stopped:
            if checkpoint:
                save()
            break
        model.history.append({"epoch": epoch,
                              "loss": model.progress["loss"] / max(1, model.progress["pairs"])})
        model.progress.update(epoch=epoch + 1, chunk=0, loss=0.0, pairs=0)
        if checkpoint:
            save()
            last_ckpt = time.perf_counter()
    if dist is not None:
        dist.gather()  # every rank then holds the whole model
    seconds = time.perf_counter() - t_start
    bar.close()
    return {"words": words_this_run, "seconds": seconds,
            "words_per_second": words_this_run / seconds if seconds > 0 else float("nan"),
            "epochs": [dict(h) for h in model.history], "finished": not stopped}


def _negative_sampling_chunk(model: Word2Vec, chooser: _ThreadChooser, chunk_threads: int,
                             keep: npt.NDArray[np.float32], noise: _word2vec.NoiseTable,
                             tokens: npt.NDArray[np.int32], ends: npt.NDArray[np.int64],
                             position: int, epoch: int, alpha: float,
                             prepared: Optional[_word2vec.PreparedChunk]) -> Tuple[int, int, float]:
    """One chunk of word2vec's objective in C++ on `chunk_threads` threads
    (on `prepared` records when given): (words, pairs, loss sum)."""
    assert model.syn0 is not None and model.syn1 is not None
    t_chunk = time.perf_counter()
    words, kept, pairs, loss = _word2vec.train_chunk(
        model.syn0, model.syn1, keep, noise, tokens, ends, position, model.seed, epoch, alpha,
        model.dim, model._kernel_window(), model.negative, model.model == "cbow", model.cbow_mean,
        not model.deterministic, model.group_size, chunk_threads, model.shrink_windows, prepared)
    chooser.record(chunk_threads, time.perf_counter() - t_chunk, int(words))
    return int(words), int(pairs), float(loss)
