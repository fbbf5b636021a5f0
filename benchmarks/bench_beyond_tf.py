#!/usr/bin/env python3
"""Beyond TF (issue 11): in-batch softmax, per-example negatives, ragged labels.

Sections (float32, 1 and 2 threads; each configuration runs in a fresh worker
process limited to that many threads, where all its peers get the same
inputs, are checked against pysampled, and are then timed round-robin, one
call each per round, so that the load of a shared machine hits them alike):

* ``in_batch``: two-tower softmax over in-batch negatives with sampling-bias
  correction and accidental-hit masking, loss + gradients w.r.t. query and
  candidates, ``B`` in 1024..8192, ``D`` in 64..256 (ids drawn from ``4B``
  items, so some duplicates). Peers: ``pysampled.in_batch_softmax_loss``;
  ``torch``: ``q @ c.T - log_q``, ``masked_fill`` of same-id columns,
  ``F.cross_entropy(reduction="none")``, ``.sum().backward()``.
* ``per_example``: sampled softmax with each example's own ``S`` negatives,
  ``N = 1e6`` classes, ``D = 64``, ``B = 1024``, ``S`` in 16..256: loss +
  input gradient + deduplicated sparse weight / bias gradients. Peers:
  pysampled (2-D ``sampled_values``); ``numpy`` (gather, ``einsum``, stable
  softmax, explicit gradients, ``np.unique`` + ``np.add.at``); ``torch``
  (``F.embedding(sparse=True)``, ``einsum``, ``cross_entropy``, backward,
  ``coalesce()`` of the sparse gradients). ``gather`` is the floor: one
  ``np.take`` of the ``B * (S + 1)`` rows (single-threaded).
* ``ragged``: ``N = 1e5``, ``D = 128``, ``B = 1024``, ``S = 512`` shared
  unique negatives, ``n_i`` uniform in 1..8 labels per example. Peers:
  pysampled with ``label_row_splits`` (ragged) and pysampled's TF-exact path
  on the same batch padded to ``num_true = 8`` by repeating each example's
  last label (what a TF user must do; more columns, and not the same loss).
  TensorFlow is timed too when it is installed.

Usage::

    python benchmarks/bench_beyond_tf.py --quick      # smoke test, ~1 min
    python benchmarks/bench_beyond_tf.py              # full run
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

FLT_MAX = float(np.finfo(np.float32).max)
LIB_OF = {"torch": "torch", "tensorflow": "tensorflow"}


# ------------------------------------------------------------------ jobs

def make_jobs(section, systems, a):
    """One job per configuration; a job times every system of its section,
    interleaved round by round in one worker (same thread limit, same drift)."""
    jobs = []
    if section == "in_batch":
        Bs = [1024, 2048] if a.quick else [1024, 2048, 4096, 8192]
        Ds = [64, 256] if a.quick else [64, 128, 256]
        for B in Bs:
            for D in Ds:
                jobs.append({"id": f"in_batch/B{B}/D{D}", "section": section,
                             "systems": systems, "B": B, "D": D,
                             "timeout_s": 900})
    elif section == "per_example":
        Ss = [16, 64] if a.quick else [16, 64, 256]
        for S in Ss:
            jobs.append({"id": f"per_example/S{S}", "section": section, "systems": systems,
                         "N": 100_000 if a.quick else 1_000_000, "D": 64, "B": 1024, "S": S})
    elif section == "ragged":
        jobs.append({"id": "ragged", "section": section, "systems": systems,
                     "N": 100_000, "D": 128, "B": 1024, "S": 512, "max_true": 8})
    return jobs


SYSTEMS = {"in_batch": ["pysampled", "torch"],
           "per_example": ["pysampled", "numpy", "torch", "gather"],
           "ragged": ["pysampled-ragged", "pysampled-padded", "tensorflow-padded"]}


# ------------------------------------------------------------------ problems

def in_batch_problem(B, D):
    rng = np.random.default_rng(B * 7 + D)
    q = (0.3 * rng.standard_normal((B, D))).astype(np.float32)
    c = (0.3 * rng.standard_normal((B, D))).astype(np.float32)
    ids = rng.integers(0, 4 * B, B)
    log_q = rng.uniform(-9, -2, B).astype(np.float32)
    return q, c, ids, log_q


def per_example_problem(N, D, B, S):
    rng = np.random.default_rng(11)
    W = (0.1 * rng.standard_normal((N, D))).astype(np.float32)
    b = (0.01 * rng.standard_normal(N)).astype(np.float32)
    x = rng.standard_normal((B, D)).astype(np.float32)
    labels = rng.integers(0, N, B)
    sampler_p = 1.0 / N
    sampled = rng.integers(0, N, (B, S))
    sampled[0, 0] = labels[0]  # one accidental hit
    tec = np.full((B, 1), S * sampler_p, np.float32)
    sec = np.full((B, S), S * sampler_p, np.float32)
    return W, b, x, labels, sampled, tec, sec


def ragged_problem(N, D, B, S, max_true):
    rng = np.random.default_rng(13)
    W = (0.1 * rng.standard_normal((N, D))).astype(np.float32)
    b = np.zeros(N, np.float32)
    x = rng.standard_normal((B, D)).astype(np.float32)
    n = rng.integers(1, max_true + 1, B)
    splits = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    labels = rng.integers(0, N, splits[-1])
    sampled = rng.choice(N, S, replace=False)
    tec = np.full(splits[-1], 0.01, np.float32)
    sec = np.full(S, 0.01, np.float32)
    padded = np.empty((B, max_true), np.int64)
    for i in range(B):
        row = labels[splits[i]:splits[i + 1]]
        padded[i, :row.size] = row
        padded[i, row.size:] = row[-1]
    return W, b, x, labels, splits, padded, sampled, tec, sec


# ------------------------------------------------------------------ worker

def check(name, ref, got, tol=2e-3):
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    err = float(np.abs(ref - got).max()) / max(1.0, float(np.abs(ref).max()))
    if not err <= tol:
        raise AssertionError(f"{name}: relative error {err:.2e} > {tol}")
    return err


def build(job, system, threads):
    import pysampled as ps
    sec_name = job["section"]
    if sec_name == "in_batch":
        q, c, ids, log_q = in_batch_problem(job["B"], job["D"])
        ref_loss, ref_g = ps.in_batch_softmax_loss(q, c, candidate_ids=ids, log_q=log_q,
                                                   return_grads=True, num_threads=threads)
        if system == "pysampled":
            return lambda: ps.in_batch_softmax_loss(q, c, candidate_ids=ids, log_q=log_q,
                                                    return_grads=True, num_threads=threads), {}
        import torch
        import torch.nn.functional as F
        B = job["B"]
        tq = torch.from_numpy(q).requires_grad_()
        tc = torch.from_numpy(c).requires_grad_()
        tid, tlq = torch.from_numpy(ids), torch.from_numpy(log_q)
        eye = torch.eye(B, dtype=torch.bool)
        target = torch.arange(B)
        fill = torch.finfo(torch.float32).min

        def run():
            tq.grad = None
            tc.grad = None
            logits = tq @ tc.T - tlq[None, :]
            mask = (tid[:, None] == tid[None, :]) & ~eye
            logits = logits.masked_fill(mask, fill)
            loss = F.cross_entropy(logits, target, reduction="none")
            loss.sum().backward()
            return loss, tq.grad, tc.grad

        loss, gq, gc = run()
        errs = {"loss": check("loss", ref_loss, loss.detach().numpy()),
                "d_query": check("d_query", ref_g.query, gq.numpy()),
                "d_candidates": check("d_candidates", ref_g.candidates, gc.numpy())}
        return run, {"max_rel_err": errs}
    if sec_name == "per_example":
        W, b, x, labels, sampled, tec, sec = per_example_problem(job["N"], job["D"], job["B"],
                                                                 job["S"])
        ref_loss, ref_g = ps.sampled_softmax_loss(W, b, labels, x, job["S"], job["N"],
                                                  sampled_values=(sampled, tec, sec),
                                                  return_grads=True, num_threads=threads)
        if system == "pysampled":
            return lambda: ps.sampled_softmax_loss(W, b, labels, x, job["S"], job["N"],
                                                   sampled_values=(sampled, tec, sec),
                                                   return_grads=True, num_threads=threads), {}
        cols = np.concatenate([labels[:, None], sampled], axis=1)  # [B, 1 + S]
        if system == "gather":
            flat = cols.reshape(-1)
            return lambda: np.take(W, flat, axis=0), {}
        hit = np.concatenate([np.zeros((len(labels), 1), bool),
                              sampled == labels[:, None]], axis=1)
        logq = np.log(np.concatenate([tec, sec], axis=1))
        if system == "numpy":
            def run():
                w = W[cols]  # [B, 1+S, D]
                logits = np.einsum("bd,bkd->bk", x, w) + b[cols]
                logits = np.where(hit, logits + np.float32(-FLT_MAX), logits) - logq
                m = logits.max(axis=1, keepdims=True)
                e = np.exp(logits - m)
                s = e.sum(axis=1, keepdims=True)
                loss = np.log(s[:, 0]) - (logits[:, 0] - m[:, 0])
                g = e / s
                g[:, 0] -= 1
                dx = np.einsum("bk,bkd->bd", g, w)
                uniq, inv = np.unique(cols.reshape(-1), return_inverse=True)
                dw = np.zeros((uniq.size, W.shape[1]), np.float32)
                np.add.at(dw, inv, (g[:, :, None] * x[:, None, :]).reshape(-1, W.shape[1]))
                db = np.zeros(uniq.size, np.float32)
                np.add.at(db, inv, g.reshape(-1))
                return loss, dx, uniq, dw, db
            loss, dx, uniq, dw, db = run()
            errs = {"loss": check("loss", ref_loss, loss), "dx": check("dx", ref_g.inputs, dx),
                    "dw": check("dw", ref_g.weights.values, dw)}
            assert np.array_equal(uniq, ref_g.weights.ids)
            return run, {"max_rel_err": errs}
        import torch
        import torch.nn.functional as F
        tW = torch.from_numpy(W).requires_grad_()
        tb = torch.from_numpy(b[:, None].copy()).requires_grad_()
        tx = torch.from_numpy(x).requires_grad_()
        tcols = torch.from_numpy(cols)
        thit = torch.from_numpy(hit)
        tlogq = torch.from_numpy(logq.astype(np.float32))
        target = torch.zeros(len(labels), dtype=torch.long)

        def run():
            tW.grad = tb.grad = tx.grad = None
            w = F.embedding(tcols, tW, sparse=True)
            bb = F.embedding(tcols, tb, sparse=True)[..., 0]
            logits = torch.einsum("bd,bkd->bk", tx, w) + bb
            logits = torch.where(thit, logits - FLT_MAX, logits) - tlogq
            loss = F.cross_entropy(logits, target, reduction="none")
            loss.sum().backward()
            return loss, tx.grad, tW.grad.coalesce(), tb.grad.coalesce()

        loss, gx, gw, gb = run()
        errs = {"loss": check("loss", ref_loss, loss.detach().numpy()),
                "dx": check("dx", ref_g.inputs, gx.numpy()),
                "dw": check("dw", ref_g.weights.values, gw.values().numpy())}
        return run, {"max_rel_err": errs}
    # ragged
    W, b, x, labels, splits, padded, sampled, tec, sec = ragged_problem(
        job["N"], job["D"], job["B"], job["S"], job["max_true"])
    S, N, nt = job["S"], job["N"], job["max_true"]
    if system == "pysampled-ragged":
        return lambda: ps.sampled_softmax_loss(W, b, labels, x, S, N,
                                               sampled_values=(sampled, tec, sec),
                                               label_row_splits=splits, return_grads=True,
                                               num_threads=threads), {}
    ptec = np.full(padded.shape, 0.01, np.float32)
    if system == "pysampled-padded":
        return lambda: ps.sampled_softmax_loss(W, b, padded, x, S, N, num_true=nt,
                                               sampled_values=(sampled, ptec, sec),
                                               return_grads=True, num_threads=threads), {}
    import tensorflow as tf
    tW, tb = tf.Variable(W), tf.Variable(b)
    tx = tf.constant(x)
    tl, ts, tt, tsec = (tf.constant(padded), tf.constant(sampled), tf.constant(ptec),
                        tf.constant(sec))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(tx)
            loss = tf.nn.sampled_softmax_loss(tW, tb, tl, tx, S, N, nt,
                                              sampled_values=(ts, tt, tsec))
        return loss, tape.gradient(loss, [tW, tb, tx])

    return step, {}


def measure_interleaved(fns, *, min_rounds=3, max_rounds=15, target_s=6.0):
    """Time every ``fns[name]()`` once per round, round after round (so machine
    load hits all systems alike). Per system: median and min seconds."""
    for fn in fns.values():  # warm-up (first touches, tracing)
        fn()
    times = {k: [] for k in fns}
    t0 = time.perf_counter()
    for r in range(max_rounds):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
        if r + 1 >= min_rounds and time.perf_counter() - t0 > target_s:
            break
    import statistics
    return {k: {"status": "ok", "median_s": statistics.median(v), "min_s": min(v),
                "repeat": len(v)} for k, v in times.items()}


def run_one_factory(threads):
    def run_one(job):
        C.limit_threads(threads, "torch" if any(s.startswith("torch") for s in job["systems"])
                        else None)
        fns, out = {}, {}
        for system in job["systems"]:
            try:
                fn, extra = build(job, system, threads)
                fns[system] = fn
                out[system] = extra
            except Exception as e:  # noqa: BLE001 - a failing peer is reported, not fatal
                out[system] = {"status": "error", "error": f"{type(e).__name__}: {e}"}
        for k, m in measure_interleaved(fns).items():
            out[k] = {**out[k], **m}
        return {"status": "ok", "systems": out}
    return run_one


def worker_main(a):
    jobs = C.read_worker_jobs(a.worker)
    C.worker_loop(jobs, run_one_factory(a.worker_threads))
    return 0


# ------------------------------------------------------------------ driver

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sections", nargs="+", default=["in_batch", "per_example", "ragged"])
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--output", type=Path)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def have(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


def report(results, a):
    out = []

    def t(r, system):
        m = r.get("systems", {}).get(system, {})
        return m.get("median_s") if m.get("status") == "ok" else None

    def cell(x):
        return C.fmt_time(x) if x is not None else "-"

    def ratio(a_, b_, digits=2):
        return f"{a_ / b_:.{digits}f}x" if a_ and b_ else "-"

    rows = [[r["B"], r["D"], r["threads"], cell(t(r, "pysampled")), cell(t(r, "torch")),
             ratio(t(r, "torch"), t(r, "pysampled"))]
            for r in results if r["section"] == "in_batch"]
    if rows:
        out.append("### In-batch softmax (loss + dQ + dC), float32\n")
        out.append(C.md_table(["B", "D", "threads", "pysampled", "torch", "torch / pysampled"],
                              rows))
    rows = []
    for r in results:
        if r["section"] != "per_example":
            continue
        ps_t = t(r, "pysampled")
        gb = r["B"] * (r["S"] + 1) * r["D"] * 4 / 1e9
        rows.append([r["S"], r["threads"], cell(ps_t), cell(t(r, "numpy")), cell(t(r, "torch")),
                     cell(t(r, "gather")), f"{gb / ps_t:.2f}" if ps_t else "-",
                     ratio(ps_t, t(r, "gather"), 1), ratio(t(r, "numpy"), ps_t, 1),
                     ratio(t(r, "torch"), ps_t, 1)])
    if rows:
        out.append("\n### Per-example negatives (sampled softmax, loss + all gradients), float32\n")
        out.append(C.md_table(["S", "threads", "pysampled", "numpy", "torch",
                               "gather floor (np.take, 1 thread)", "pysampled GB/s of rows",
                               "ps / floor", "numpy / ps", "torch / ps"], rows))
    rows = []
    for r in results:
        if r["section"] != "ragged":
            continue
        rg, pd = t(r, "pysampled-ragged"), t(r, "pysampled-padded")
        rows.append([r["threads"], cell(rg), cell(pd), cell(t(r, "tensorflow-padded")),
                     ratio(pd, rg)])
    if rows:
        out.append("\n### Ragged labels vs a padded TF-style call (sampled softmax + grads)\n")
        out.append(C.md_table(["threads", "pysampled ragged", "pysampled padded (TF path)",
                               "TensorFlow padded", "padded / ragged"], rows))
    return "\n".join(out)


def main(argv=None):
    a = parse_args(argv)
    if a.worker:
        return worker_main(a)
    t0 = time.perf_counter()
    info = C.machine_info(peers=("torch", "tensorflow"))
    print(f"CPU: {info['cpu'].get('model')} ({info['os_cpu_count']} CPUs), torch "
          f"{info.get('torch')}, TF {info.get('tensorflow')}", file=sys.stderr, flush=True)
    results, busy = [], []
    for section in a.sections:
        systems = []
        for system in SYSTEMS[section]:
            lib = system.split("-")[0]
            if lib in ("torch", "tensorflow") and not have(lib):
                print(f"[{section}/{system}] skipped: {lib} is not installed", file=sys.stderr)
                continue
            systems.append(system)
        jobs = make_jobs(section, systems, a)
        for th in a.threads:
            busy.append(C.cpu_busy_fraction())
            print(f"[{section}: {', '.join(systems)}; {th} thread(s)] {len(jobs)} jobs "
                  f"(other load {100 * (busy[-1] or 0):.0f}%)", file=sys.stderr, flush=True)
            res, _ = C.run_jobs(Path(__file__), ["--worker-threads", str(th)], jobs,
                                threads=th, timeout_s=a.timeout)
            for j in jobs:
                r = res.get(j["id"], {"status": "error", "error": "no result"})
                if r.get("status") != "ok":
                    print(f"  {j['id']}: {r.get('status')} {r.get('error', '')}", file=sys.stderr)
                for sname, m in r.get("systems", {}).items():
                    if m.get("status") != "ok":
                        print(f"  {j['id']}/{sname}: {m.get('error')}", file=sys.stderr)
                results.append({**j, **r, "threads": th})
    busy.append(C.cpu_busy_fraction())
    md = C.load_warning(busy) + report(results, a)
    path = a.output or Path(__file__).resolve().parent / "out" / (
        "beyond_tf_quick.json" if a.quick else "beyond_tf.json")
    C.write_json(path, {"benchmark": "beyond_tf", "machine": info, "results": results,
                        "other_load": busy, "wall_s": time.perf_counter() - t0, "markdown": md})
    print(md)
    print(f"\nJSON: {path} (wall {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
