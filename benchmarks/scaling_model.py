#!/usr/bin/env python3
"""A contention model of the word2vec trainer's thread scaling (issue 13).

Where no machine with many cores is at hand, this predicts words/s at 4-16
threads from what can be measured on two: the trainer's own per-record cost
on one thread, the cost of a row that moves between cores (fitted on one
2-thread measurement), and, from the real training records of the corpus,
how many rows move between cores per record at each thread count.

**Row movements.** The records (context rows, output rows: the centre word
and the negatives) are those ``train_chunk`` draws, taken from evenly spaced
chunks of the corpus with ``_word2vec.records``. Each thread's work is
replayed in lock step:

* Hogwild: thread t trains span t of the chunk (the blocks of 64 records
  that ``hogwild`` hands it, in its order), one *event* per step: skip-gram,
  one context word of a record with all of the record's output rows (the
  kernel updates the output rows once per context word); CBOW, one record.
  A row access is a *movement* when the previous access to that row was
  made by another thread no more than ``horizon`` events before (the line is
  still modified in the other core's private cache; an older one has left
  it, and one thread alone would have fetched it from L3 too).
  On several threads the rows of the most frequent words (ids below 256
  at dim 100) are trained on each thread's own copies, so their accesses
  never move; each merge of a thread's copies (every 4,096 / T of its
  records) moves those rows of both tables instead (``hot_rows``).
* deterministic: per group of 64 records, phase 1 cuts the records into
  tasks as ``DeterministicGroup::gradients`` does (at most 16 records, as
  many tasks as a multiple of T; task i on thread i mod T), which read the
  rows and save the gradients; phase 2 gives each row to thread ``id % T``.
  A thread's first read in a group of a row that it does not own moves it,
  if the row was written within the horizon (phase 1: every row of the
  record; phase 2, skip-gram: the output rows' owners read the windows'
  context rows); a phase-2 write of a row that another thread read in the
  group moves it back (the other copies are invalidated); and every saved
  gradient read by a thread that did not compute it moves (skip-gram: one
  row per context word, read by its owner; CBOW: the window's input
  gradient, read by each other owner of its context rows, and its h, by
  each other owner of its output rows).

The horizon is the private cache (``--cache-bytes``, default 2 MiB, the L2
per core of the Xeons measured here) divided by the distinct rows of
``dim`` floats touched per event (measured on the records, windows of
1,000 events); for the deterministic mode it is counted in groups.

**Time.** Per record: ``t(T) = (a + b m(T)) / T`` of wall time, with ``a``
the one-thread time per record and ``m(T)`` the movements per record.
``b``, the cost of one row movement (7 cache lines at dim 100), is fitted
per model on its measured 2-thread Hogwild time of the same run; nothing
else is fitted. The deterministic mode adds that every thread scans all of
a group's records for the rows it owns: ``--scan-ns`` per record (25 ns,
measured on GCIDE by running one thread through 16 partitions instead of 1:
skip-gram 2.47 -> 3.69 s, CBOW 1.03 -> 2.10 s per epoch, 15 extra scans of
3.2 M records), and the fixed cost of its 2 (CBOW) or 3 (skip-gram) pool
calls per group (``--sync-us``, 0.7 µs per call on 2 threads, measured by
``benchmarks/pool_barrier.cpp``), so ``t(T) = (a + b m(T)) / T + scan (1 -
1/T) + calls sync / 64``. The
model's 2-thread predictions for the cells it was not fitted on (the
deterministic mode of both models) are printed beside their measurements:
that is its check. "Hottest row busy" is the share of the wall time that
the most-moved row spends moving at the predicted speed: near 100% that
row would serialise the threads, which the model does not include.

What it leaves out: memory bandwidth (at dim 100 the rows of a record are
about 5 KB; 16 threads at 1 µs per record read 80 GB/s only if nothing is
cached, which the hot rows are), the shared L3's capacity, a pool call's
fixed cost growing with the threads it wakes, queueing on a hot row, and any
difference between the cost of a movement on this VM and on a 16-core
server (``benchmarks/cacheline_pingpong.c`` measures it: 63-167 ns one way
on the VMs seen).

Usage::

    python benchmarks/scaling_model.py --corpus gcide.txt
    python benchmarks/scaling_model.py --corpus gcide.txt --threads 1,2,4,8,16 --chunks 6
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

GROUP = 64         # deterministic mode's default group_size
PHASE1_BLOCK = 16  # most records per phase-1 task (DeterministicGroup::gradients)
HOGWILD_BLOCK = 64
# Hogwild's hot rows (src/cpp/pysampled/kernels/w2v_impl.hpp)
HOT_ROWS_MAX, HOT_STRIPE, HOT_BYTES, HOT_MERGE_RECORDS = 256, 32, 128 * 1024, 4096


def hot_merge_records(T):
    """Records of one thread between its merges on T threads (w2v_impl.hpp's
    hot_merge_records)."""
    return HOT_MERGE_RECORDS if T <= 2 else HOT_MERGE_RECORDS // T


def chunk_records(model, keep, noise, start, stop, ends, epoch=0):
    """The records train_chunk draws for one chunk: ctx [R, W], nctx [R], out [R, K]."""
    from pysampled import _word2vec
    tokens = np.ascontiguousarray(model._encoded.tokens[start:stop])
    return _word2vec.records(model.syn0, model.syn1, keep, noise, tokens,
                             np.ascontiguousarray(ends), start, model.seed, epoch, model.dim,
                             model._kernel_window(), model.negative, 1, model.shrink_windows)


def events(ctx, nctx, out, vocab, cbow):
    """The row accesses of a chunk as (event, record, key) arrays. An event is
    one step of a thread's work that reads and writes its rows together:
    skip-gram, one context word of a record with all the record's output rows
    (the kernel's inner loop updates the output rows once per context word);
    CBOW, one record (its context rows, then its output rows)."""
    R, W = ctx.shape
    K = out.shape[1]
    live_c = np.arange(W)[None, :] < nctx[:, None]
    rc = np.broadcast_to(np.arange(R)[:, None], ctx.shape)[live_c]
    kc = ctx[live_c].astype(np.int64)
    live_o = (out >= 0) & (nctx[:, None] > 0)
    if cbow:
        ro = np.broadcast_to(np.arange(R)[:, None], out.shape)[live_o]
        ko = out[live_o].astype(np.int64) + vocab
        ev = np.concatenate([rc, ro])
        return ev, ev, np.concatenate([kc, ko])
    # skip-gram: event e = the e-th (record, context word) pair
    ev_c = np.arange(len(rc))
    ev_o = np.repeat(ev_c, K)
    rec_o = np.repeat(rc, K)
    ko = out[rec_o, np.tile(np.arange(K), len(rc))].astype(np.int64)
    ok = ko >= 0
    ev = np.concatenate([ev_c, ev_o[ok]])
    return ev, np.concatenate([rc, rec_o[ok]]), np.concatenate([kc, ko[ok] + vocab])


def horizon_events(ev, key, cache_rows, window=1000):
    """Events whose distinct rows fill the private cache, and the distinct rows
    per event (windows of `window` events)."""
    order = np.argsort(ev, kind="stable")
    ev, key = ev[order], key[order]
    n = int(ev.max()) + 1
    distinct = []
    cuts = np.searchsorted(ev, np.arange(0, n + 1, window))
    for i in range(len(cuts) - 1):
        if ev[cuts[i]:cuts[i + 1]].size:
            distinct.append(len(np.unique(key[cuts[i]:cuts[i + 1]])) / window)
    per_event = float(np.mean(distinct[:-1] or distinct))
    return max(1, int(cache_rows / per_event)), per_event


def movements(key, time_, thread, horizon):
    """Accesses whose previous access to the same key was by another thread
    at most `horizon` time units before."""
    order = np.lexsort((thread, time_, key))
    k, t, th = key[order], time_[order], thread[order]
    same = k[1:] == k[:-1]
    moved = same & (th[1:] != th[:-1]) & (t[1:] - t[:-1] <= horizon)
    return int(moved.sum())


def hottest(key, time_, thread, horizon):
    """The largest number of movements of any one row."""
    order = np.lexsort((thread, time_, key))
    k, t, th = key[order], time_[order], thread[order]
    moved = (k[1:] == k[:-1]) & (th[1:] != th[:-1]) & (t[1:] - t[:-1] <= horizon)
    if not moved.any():
        return 0
    return int(np.unique(k[1:][moved], return_counts=True)[1].max())


def hot_rows(vocab, dim):
    """Rows per table that Hogwild trains on per-thread copies on several
    threads (`hot_rows` in src/cpp/pysampled/kernels/w2v_impl.hpp)."""
    stride = -(-dim // 16) * 16
    return min(vocab, HOT_ROWS_MAX, max(HOT_STRIPE, HOT_BYTES // (stride * 4)))


def hogwild_movements(ev, rec, key, R, T, horizon, vocab=0, hot=0):
    """Thread t trains the blocks of span t in order (as `hogwild` does until
    a span runs out); its clock counts its events.
    On several threads the rows of ids below `hot`, in either table, live in
    each thread's own copies and never move between training accesses;
    instead every merge (each thread's, every hot_merge_records(T) of its
    records) moves the 2 `hot` shared rows, which the previous merge, by
    another thread, wrote."""
    if T > 1 and hot > 0:
        keep = (key % vocab) >= hot
        ev, rec, key = ev[keep], rec[keep], key[keep]
    nblocks = -(-R // HOGWILD_BLOCK)
    spans = max(1, min(T, nblocks))
    per = -(-nblocks // spans)
    thread = np.minimum(rec // HOGWILD_BLOCK // per, spans - 1)
    # events are numbered in record order: a thread's clock is its event
    # number minus that of its span's first event
    first_event = np.full(spans, np.iinfo(np.int64).max)
    np.minimum.at(first_event, thread, ev)
    clock = ev - first_event[thread]
    merges = 0
    if T > 1 and hot > 0:
        merges = 2 * hot * int(round(R / hot_merge_records(T)))
    return movements(key, clock, thread, horizon) + merges, hottest(key, clock, thread, horizon)


def deterministic_movements(ctx, nctx, out, vocab, T, horizon_groups, cbow):
    """(phase-1 movements, phase-2 movements) of a chunk at T threads.

    A read of a row by a thread that neither owns it (the owner wrote it in
    phase 2) nor read it earlier in the same group moves it, if the row was
    written within the horizon; a phase-2 write moves the row back (its
    other copies invalidated) if another thread read it in this group; every
    saved gradient read by a thread that did not compute it moves."""
    if T == 1:
        return 0, 0
    R, W = ctx.shape
    K = out.shape[1]
    width = 2 * vocab + 1
    # phase-1 tasks as DeterministicGroup::gradients cuts them
    tasks = T * (-(-(-(-GROUP // PHASE1_BLOCK)) // T))
    per = -(-GROUP // tasks)
    rec_ids = np.arange(R)
    reader = ((rec_ids % GROUP) // per) % T
    group = rec_ids // GROUP
    live_c = (np.arange(W)[None, :] < nctx[:, None])
    live_o = (out >= 0) & (nctx[:, None] > 0)
    rc = np.broadcast_to(rec_ids[:, None], ctx.shape)[live_c]
    kc = ctx[live_c].astype(np.int64)
    ro = np.broadcast_to(rec_ids[:, None], out.shape)[live_o]
    ko = out[live_o].astype(np.int64) + vocab
    own = lambda k: (k % vocab) % T  # noqa: E731 (row id % T, either table)
    # Rows touched per group, and whether the previous group touching them is
    # within the horizon (then the owner's phase-2 write is still cached).
    gk = np.unique(np.concatenate([group[rc] * width + kc, group[ro] * width + ko]))
    g_of, k_of = gk // width, gk % width
    order = np.lexsort((g_of, k_of))
    g_s, k_s = g_of[order], k_of[order]
    recent = np.zeros(len(g_s), bool)
    recent[1:] = (k_s[1:] == k_s[:-1]) & (g_s[1:] - g_s[:-1] <= horizon_groups)
    recent_keys = (g_s * width + k_s)[recent]
    # Phase-1 reads: the record's thread reads all its rows.
    reads1 = [(group[rc], kc, reader[rc]), (group[ro], ko, reader[ro])]
    # Phase-2a reads of rows: skip-gram's output-row owners read the context
    # rows of each window they update (CBOW reads the saved h instead).
    reads2 = []
    if not cbow:
        pr = np.repeat(rc, K)
        pk = np.repeat(kc, K)
        pj = out[pr, np.tile(np.arange(K), len(rc))]
        ok = pj >= 0
        reads2.append((group[pr[ok]], pk[ok], own(pj[ok].astype(np.int64) + vocab)))

    def first_reads(parts, already):
        g = np.concatenate([x[0] for x in parts])
        k = np.concatenate([x[1] for x in parts])
        th = np.concatenate([x[2] for x in parts])
        ident = np.unique((g * width + k) * T + th)
        new = ident if already is None else np.setdiff1d(ident, already, assume_unique=True)
        return ident, new

    ident1, new1 = first_reads(reads1, None)
    ident_all = ident1
    new2 = np.zeros(0, np.int64)
    if reads2:
        ident2, new2 = first_reads(reads2, ident1)
        ident_all = np.union1d(ident1, ident2)

    def count_moves(ident):
        gkey, th = ident // T, ident % T
        k = gkey % width
        foreign = th != own(k)
        return int((foreign & np.isin(gkey, recent_keys)).sum())

    p1 = count_moves(new1)
    p2 = count_moves(new2)
    # Phase-2 writes of rows that another thread read in this group.
    gkey_all, th_all = ident_all // T, ident_all % T
    p2 += len(np.unique(gkey_all[th_all != own(gkey_all % width)]))
    # Saved gradients read by another thread: skip-gram, one row per context
    # word, read by that word's owner; CBOW, the window's input gradient read
    # by each other owner of its context rows, and its h by each other owner
    # of its output rows.
    if not cbow:
        p2 += int((own(kc) != reader[rc]).sum())
    else:
        for r, k in ((rc, kc), (ro, ko)):
            o = own(k)
            sel = o != reader[r]
            p2 += len(np.unique(r[sel] * T + o[sel]))
    return p1, p2


def measure(model, keep, noise, chunks, T, hogwild, repeats):
    """Seconds per kernel call over the chunks, best of `repeats`, at T threads."""
    from pysampled import _word2vec
    best = float("inf")
    for _ in range(repeats):
        syn0, syn1 = model.syn0.copy(), model.syn1.copy()
        t0 = time.perf_counter()
        for start, stop, ends in chunks:
            _word2vec.train_chunk(syn0, syn1, keep, noise,
                                  np.ascontiguousarray(model._encoded.tokens[start:stop]),
                                  np.ascontiguousarray(ends), start, model.seed, 0, model.alpha,
                                  model.dim, model._kernel_window(), model.negative,
                                  model.model == "cbow", model.cbow_mean, hogwild,
                                  model.group_size, T, model.shrink_windows)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="plain text, one sentence per line")
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--chunks", type=int, default=4, help="evenly spaced chunks replayed and timed")
    ap.add_argument("--repeats", type=int, default=3, help="timings: best of this many")
    ap.add_argument("--cache-bytes", type=int, default=2 << 20, help="private cache per core")
    ap.add_argument("--scan-ns", type=float, default=25.0,
                    help="deterministic mode: ns per record for one thread to scan a group's "
                         "records for the rows it owns (both update passes)")
    ap.add_argument("--sync-us", type=float, default=0.7,
                    help="deterministic mode: fixed cost of one pool call on several threads "
                         "(benchmarks/pool_barrier.cpp)")
    ap.add_argument("--dim", type=int, default=100)
    a = ap.parse_args(argv)
    os.environ.setdefault("PYSAMPLED_ADAPTIVE_THREADS", "0")  # both threads always work
    from pysampled import _word2vec
    from pysampled.word2vec import Word2Vec

    threads = [int(x) for x in a.threads.split(",")]
    print(f"CPU: {cpu_model()}; corpus {a.corpus}")
    results = {}
    for model_name in ("skipgram", "cbow"):
        m = Word2Vec(model=model_name, dim=a.dim, seed=1, epochs=1)
        m.build_vocab([a.corpus])
        keep = m.keep_probabilities()
        noise = _word2vec.NoiseTable(m.noise_weights())
        all_chunks = list(m._encoded.chunks(m.chunk_words))
        pick = np.linspace(0, len(all_chunks) - 1, min(a.chunks, len(all_chunks))).astype(int)
        chunks = [all_chunks[i][1:] for i in pick]
        vocab = m.syn0.shape[0]
        row_bytes = m.syn0.shape[1] * 4
        mov_h = {T: 0 for T in threads}
        hot_h = {T: 0.0 for T in threads}
        mov_d = {T: (0, 0) for T in threads}
        n_rec = n_words = 0
        for start, stop, ends in chunks:
            ctx, nctx, out = chunk_records(m, keep, noise, start, stop, ends)
            ev, rec, key = events(ctx, nctx, out, vocab, model_name == "cbow")
            R = ctx.shape[0]
            h_ev, rows_per_ev = horizon_events(ev, key, a.cache_bytes // row_bytes)
            ev_per_rec = (int(ev.max()) + 1) / max(1, int((nctx > 0).sum()))
            h_groups = max(1, int(h_ev / ev_per_rec) // GROUP)
            n_rec += int((nctx > 0).sum())
            n_words += stop - start
            for T in threads:
                mv, hot = hogwild_movements(ev, rec, key, R, T, h_ev, vocab,
                                            hot_rows(vocab, a.dim))
                mov_h[T] += mv
                hot_h[T] = max(hot_h[T], hot / max(1, int((nctx > 0).sum())))
                p1, p2 = deterministic_movements(ctx, nctx, out, vocab, T, h_groups,
                                                 model_name == "cbow")
                mov_d[T] = (mov_d[T][0] + p1, mov_d[T][1] + p2)
        timing = {}
        for hog in (True, False):
            for T in (1, 2):
                timing[(hog, T)] = measure(m, keep, noise, chunks, T, hog, a.repeats)
        results[model_name] = dict(mov_h=mov_h, hot_h=hot_h, mov_d=mov_d, n_rec=n_rec, n_words=n_words,
                                   timing=timing, horizon=h_ev, rows_per_ev=rows_per_ev,
                                   horizon_groups=h_groups)
    # Fit b, per model, on its Hogwild 2-thread time.
    for name, r in results.items():
        a1 = r["timing"][(True, 1)] / r["n_rec"]
        t2 = r["timing"][(True, 2)] * 2 / r["n_rec"]  # thread-seconds per record
        m2 = r["mov_h"][2] / r["n_rec"]
        r["b"] = max(0.0, (t2 - a1) / m2) if m2 > 0 else 0.0
        print(f"{name}: fitted cost of one row movement {r['b'] * 1e9:.0f} ns (Hogwild: "
              f"{a1 * 1e9:.0f} ns per record on 1 thread, {t2 * 1e9:.0f} thread-ns on 2, "
              f"{m2:.2f} movements per record)")
    print()
    print("| model | mode | T | movements / record | hottest row busy | predicted M words/s "
          "| measured M words/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        wpr = r["n_words"] / r["n_rec"]
        b = r["b"]
        for hog in (True, False):
            a1 = r["timing"][(hog, 1)] / r["n_rec"]
            for T in threads:
                busy = ""
                if hog:
                    mv = r["mov_h"][T] / r["n_rec"]
                    t = (a1 + b * mv) / T
                    # the hottest row's movements per record (of one chunk),
                    # each holding that row for b: its share of the wall time
                    busy = f"{r['hot_h'][T] * b / t:.0%}"
                else:
                    p1, p2 = (x / r["n_rec"] for x in r["mov_d"][T])
                    mv = p1 + p2
                    # every thread scans all the group's records for its rows,
                    # and a group makes 2 (CBOW) or 3 (skip-gram) pool calls
                    calls = 2 if name == "cbow" else 3
                    sync = a.sync_us * 1e-6 * calls / GROUP if T > 1 else 0.0
                    t = (a1 + b * (p1 + p2)) / T + a.scan_ns * 1e-9 * (1 - 1 / T) + sync
                meas = ""
                if T in (1, 2):
                    meas = f"{r['n_words'] / r['timing'][(hog, T)] / 1e6:.2f}"
                pred = wpr / t / 1e6
                print(f"| {name} | {'Hogwild' if hog else 'deterministic'} | {T} | {mv:.2f} | "
                      f"{busy} | {pred:.2f} | {meas} |")
    print()
    for name, r in results.items():
        print(f"{name}: {r['n_rec']:,} records ({r['n_words']:,} words) in {len(chunks)} chunks; "
              f"{r['rows_per_ev']:.1f} distinct rows per event over 1,000 events; "
              f"horizon {r['horizon']:,} events (Hogwild), {r['horizon_groups']} groups")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    sys.exit(main())
