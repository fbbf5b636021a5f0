"""One training step of a sampled-softmax head in PyTorch: pysampled.torch vs
the best pure-PyTorch implementation (and TF when a TF interpreter is given).

A step = draw the batch's negatives + forward + backward + optimizer step on
the class weights and biases (and the inputs' gradient, as for a layer below):

* ``pysampled``: ``pysampled.torch.SampledSoftmax(N, D, S, sparse_grad=True)``
  + ``torch.optim.SparseAdam``.
* ``pysampled-fused``: the same head + ``pysampled.torch.SparseAdam`` (the
  same optimizer with its step fused in C++).
* ``torch``: the same math in plain PyTorch: ``nn.Embedding(sparse=True)``
  for weights and biases, one lookup of ``cat(labels, sampled)``, the true
  logit as a row dot product, the sampled logits as one matmul, ``- log Q``,
  the accidental-hit mask (``masked_fill`` of ``-FLT_MAX``),
  ``F.cross_entropy``, ``SparseAdam``. The negatives come from the same
  pysampled ``LogUniformSampler`` (unique, TF's), drawn inside the step.
* ``tensorflow`` (``--tf-python PATH``): ``tf.nn.sampled_softmax_loss`` (its
  own log-uniform sampler) under ``tf.function``, ``GradientTape``, Keras
  ``Adam`` on the weight and bias variables (IndexedSlices gradients).

Each (system, N, threads) runs in a fresh subprocess whose environment and
library APIs fix the thread count (``_common.thread_env`` /
``limit_threads``). B = 256, D = 64, float32, labels uniform over N.

    python benchmarks/bench_torch.py [--quick] [--no-optimizer] [--tf-python /path/to/tf/python]

``--in-batch``: instead, the two-tower in-batch softmax (forward + backward
of ``loss.mean()`` w.r.t. query and candidates, log-Q correction and the
same-id mask, temperature 0.05, float32), ``B`` in 1024..8192, ``D`` in
64..256, 1 and 2 threads: ``pysampled.torch.in_batch_softmax_loss`` vs the
same math in plain PyTorch (``q @ c.T / t``, ``masked_fill`` of the
accidental hits with ``-FLT_MAX``, ``- log_q``, ``F.cross_entropy``,
``backward``). Both run in one worker process per (B, D, threads), their
losses are checked against each other, and they are timed round-robin (one
call each per round; medians of wall and CPU time), so machine load hits
them alike.

    python benchmarks/bench_torch.py --in-batch [--quick]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402

B, D = 256, 64
FLT_MAX = 3.4028234663852886e38


def cpu_per_call(fn, min_s=0.5, max_calls=200):
    """CPU seconds (this process, all its threads) per call: less sensitive than
    wall time to other processes on a shared machine."""
    import time

    calls, t0 = 0, time.process_time()
    w0 = time.perf_counter()
    while calls < max_calls and (calls < 3 or time.perf_counter() - w0 < min_s):
        fn()
        calls += 1
    return (time.process_time() - t0) / calls


def worker(system, N, S_list, threads, target_s, optimizer=True):
    import numpy as np

    if system != "tensorflow":
        import pysampled  # first: its OpenMP spin policy applies to the shared libgomp
    _common.limit_threads(threads, "tensorflow" if system == "tensorflow" else "torch")
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((B, D)).astype(np.float32)
    out = []
    if system == "tensorflow":
        import tensorflow as tf

        W = tf.Variable(tf.random.truncated_normal((N, D), stddev=1 / D ** 0.5))
        b = tf.Variable(tf.zeros(N))
        x = tf.Variable(x_np)
        opt = tf.keras.optimizers.Adam(1e-3)
        for S in S_list:
            labels = tf.constant(rng.integers(0, N, (B, 1)), tf.int64)

            @tf.function
            def step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.nn.sampled_softmax_loss(W, b, labels, x, S, N))
                gw, gb, gx = tape.gradient(loss, [W, b, x])
                if optimizer:
                    opt.apply_gradients([(gw, W), (gb, b)])
                return gx

            r = _common.measure(lambda: step().numpy(), warmup=3, target_s=target_s)
            r["cpu_s"] = cpu_per_call(lambda: step().numpy(), target_s / 2)
            out.append(dict(system=system, N=N, S=S, threads=threads, **r))
        return out

    import torch
    import torch.nn.functional as F
    import pysampled.torch as pt

    torch.manual_seed(0)
    x = torch.from_numpy(x_np).requires_grad_()
    if system.startswith("pysampled"):
        head = pt.SampledSoftmax(N, D, 1, seed=1, num_threads=threads)
        adam = pt.SparseAdam if system == "pysampled-fused" else torch.optim.SparseAdam
        opt = adam(list(head.parameters()), lr=1e-3)
    else:
        sampler = pysampled.LogUniformSampler(N, seed=1)
        emb = torch.nn.Embedding(N, D, sparse=True)
        bemb = torch.nn.Embedding(N, 1, sparse=True)
        with torch.no_grad():
            torch.nn.init.trunc_normal_(emb.weight, std=D ** -0.5, a=-2 * D ** -0.5, b=2 * D ** -0.5)
            bemb.weight.zero_()
        opt = torch.optim.SparseAdam(list(emb.parameters()) + list(bemb.parameters()), lr=1e-3)
        zeros = torch.zeros(B, dtype=torch.long)
    for S in S_list:
        labels = torch.from_numpy(rng.integers(0, N, B))
        if system.startswith("pysampled"):
            head.num_sampled = S

            def step():
                opt.zero_grad()
                x.grad = None
                head(x, labels).mean().backward()
                if optimizer:
                    opt.step()
        else:
            def step():
                sampled, tec, sec = sampler.sample(labels.numpy().reshape(-1, 1), S, True)
                sampled, tec, sec = (torch.from_numpy(sampled), torch.from_numpy(tec),
                                     torch.from_numpy(sec))
                opt.zero_grad()
                x.grad = None
                ids = torch.cat([labels, sampled])
                w, bb = emb(ids), bemb(ids).view(-1)
                true_logit = (x * w[:B]).sum(1) + bb[:B] - torch.log(tec.view(-1))
                samp = x @ w[B:].T + (bb[B:] - torch.log(sec))
                samp = samp.masked_fill(labels[:, None] == sampled[None, :], -FLT_MAX)
                logits = torch.cat([true_logit[:, None], samp], 1)
                F.cross_entropy(logits, zeros).backward()
                if optimizer:
                    opt.step()
        r = _common.measure(step, warmup=3, target_s=target_s)
        r["cpu_s"] = cpu_per_call(step, target_s / 2)
        out.append(dict(system=system, N=N, S=S, threads=threads, **r))
    return out


def in_batch_worker(B_, D_, threads, rounds):
    """Median wall / CPU seconds of one forward + backward, pysampled.torch vs plain torch."""
    import time

    import numpy as np
    import pysampled  # noqa: F401  (first: its OpenMP spin policy)
    _common.limit_threads(threads, "torch")
    import torch
    import torch.nn.functional as F
    import pysampled.torch as pt

    rng = np.random.default_rng(B_ * 7 + D_)
    q = torch.from_numpy((0.3 * rng.standard_normal((B_, D_))).astype(np.float32)).requires_grad_()
    c = torch.from_numpy((0.3 * rng.standard_normal((B_, D_))).astype(np.float32)).requires_grad_()
    ids = torch.from_numpy(rng.integers(0, 4 * B_, B_))
    log_q = torch.from_numpy(rng.uniform(-9, -2, B_).astype(np.float32))
    tau = 0.05
    target = torch.arange(B_)
    hit = (ids[:, None] == ids[None, :]) & ~torch.eye(B_, dtype=torch.bool)

    def ps_step():
        q.grad = c.grad = None
        loss = pt.in_batch_softmax_loss(q, c, ids, log_q, temperature=tau,
                                        num_threads=threads).mean()
        loss.backward()
        return loss

    def torch_step():
        q.grad = c.grad = None
        logits = (q @ c.T / tau).masked_fill(hit, -FLT_MAX) - log_q
        loss = F.cross_entropy(logits, target)
        loss.backward()
        return loss

    a, b = ps_step().item(), torch_step().item()
    if abs(a - b) > 1e-4 * max(1.0, abs(b)):
        raise AssertionError(f"losses differ: pysampled {a}, torch {b}")
    times = {"pysampled": ([], []), "torch": ([], [])}
    for r in range(rounds + 2):
        for name, fn in (("pysampled", ps_step), ("torch", torch_step)):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            if r >= 2:  # two warm-up rounds
                times[name][0].append(time.perf_counter() - w0)
                times[name][1].append(time.process_time() - c0)
    return [dict(system=name, B=B_, D=D_, threads=threads, median_s=float(np.median(w)),
                 cpu_s=float(np.median(cpu)), rounds=rounds)
            for name, (w, cpu) in times.items()]


def in_batch_main(a):
    Bs = [1024, 4096] if a.quick else [1024, 2048, 4096, 8192]
    Ds = [64, 256] if a.quick else [64, 128, 256]
    results, busy, rows = [], [], []
    for threads in [int(t) for t in a.threads.split(",")]:
        for B_ in Bs:
            for D_ in Ds:
                rounds = max(5, min(40, int((8 if a.quick else 30) * 1024 / B_)))
                job = dict(B_=B_, D_=D_, threads=threads, rounds=rounds)
                busy.append(_common.cpu_busy_fraction())
                env = _common.thread_env(threads)
                env["PYTHONPATH"] = str(HERE)
                p = subprocess.run([sys.executable, __file__, "--in-batch-worker", json.dumps(job)],
                                   env=env, capture_output=True, text=True, timeout=1800)
                if p.returncode:
                    print(p.stderr[-3000:], file=sys.stderr)
                    continue
                res = json.loads(p.stdout.strip().splitlines()[-1])
                results.extend(res)
                ps_, th = res
                rows.append([threads, B_, D_, f"{1e3 * ps_['median_s']:.2f}",
                             f"{1e3 * th['median_s']:.2f}", f"{th['median_s'] / ps_['median_s']:.2f}x",
                             f"{1e3 * ps_['cpu_s']:.2f}", f"{1e3 * th['cpu_s']:.2f}",
                             f"{th['cpu_s'] / ps_['cpu_s']:.2f}x"])
                print(" | ".join(str(v) for v in rows[-1]), flush=True)
    _common.write_json(a.out.replace("torch.json", "torch_in_batch.json"),
                       {"machine": _common.machine_info(), "results": results, "cpu_busy": busy})
    print(_common.md_table(["threads", "B", "D", "ps wall ms", "torch wall ms", "torch/ps wall",
                            "ps CPU ms", "torch CPU ms", "torch/ps CPU"], rows))
    print(_common.load_warning(busy))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 10^5 only, shorter timings")
    ap.add_argument("--tf-python", help="a Python with tensorflow-cpu installed")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--no-optimizer", action="store_true",
                    help="forward + backward only (no optimizer step): the loss itself")
    ap.add_argument("--out", default=str(HERE / "out" / "torch.json"))
    ap.add_argument("--in-batch", action="store_true",
                    help="the two-tower in-batch softmax vs plain PyTorch instead")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--in-batch-worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        job = json.loads(a.worker)
        print(json.dumps(worker(**job)))
        return
    if a.in_batch_worker:
        print(json.dumps(in_batch_worker(**json.loads(a.in_batch_worker))))
        return
    if a.in_batch:
        in_batch_main(a)
        return
    Ns = [10**5] if a.quick else [10**5, 10**6]
    S_list = [64, 512, 4096]
    systems = (["pysampled", "pysampled-fused", "torch"] + (["tensorflow"] if a.tf_python else []))
    if a.no_optimizer:
        systems.remove("pysampled-fused")  # the same loss as "pysampled"
    results, busy = [], []
    for threads in [int(t) for t in a.threads.split(",")]:
        for N in Ns:
            for system in systems:
                py = a.tf_python if system == "tensorflow" else sys.executable
                job = dict(system=system, N=N, S_list=S_list, threads=threads,
                           target_s=0.5 if a.quick else 1.5, optimizer=not a.no_optimizer)
                busy.append(_common.cpu_busy_fraction())
                env = _common.thread_env(threads)
                env["PYTHONPATH"] = str(HERE)
                p = subprocess.run([py, __file__, "--worker", json.dumps(job)], env=env,
                                   capture_output=True, text=True, timeout=1800)
                if p.returncode:
                    print(p.stderr[-3000:], file=sys.stderr)
                    results.append(dict(system=system, N=N, threads=threads, status="failed"))
                    continue
                res = json.loads(p.stdout.strip().splitlines()[-1])
                for r in res:
                    print(f"{system:10s} N={N:>8} S={r['S']:>5} threads={threads}: "
                          f"{1e3 * r['median_s']:8.2f} ms wall, {1e3 * r['cpu_s']:8.2f} ms CPU", flush=True)
                results.extend(res)
    info = _common.machine_info()
    _common.write_json(a.out, {"machine": info, "B": B, "D": D, "results": results,
                               "cpu_busy": busy})
    rows = []
    key = {(r["system"], r["N"], r.get("S"), r["threads"]): r for r in results if "median_s" in r}
    for threads in sorted({r["threads"] for r in results}):
        for N in Ns:
            for S in S_list:
                ps_ = key.get(("pysampled", N, S, threads))
                fu = key.get(("pysampled-fused", N, S, threads))
                th = key.get(("torch", N, S, threads))
                tf_ = key.get(("tensorflow", N, S, threads))
                def ms(r, k):
                    return "-" if r is None else f"{1e3 * r[k]:.2f}"

                def ratio(r, k, base=None):
                    base = base or ps_
                    return "-" if not (base and r) else f"{r[k] / base[k]:.2f}x"

                rows.append([threads, f"{N:,}", S, ms(ps_, "median_s"), ms(th, "median_s"),
                             ratio(th, "median_s"), ms(ps_, "cpu_s"), ms(th, "cpu_s"),
                             ratio(th, "cpu_s"), ms(fu, "median_s"),
                             ratio(th, "median_s", fu) if fu else "-", ms(fu, "cpu_s"),
                             ratio(th, "cpu_s", fu) if fu else "-",
                             ms(tf_, "median_s"), ratio(tf_, "median_s")])
    print(_common.md_table(["threads", "N", "S", "ps wall ms", "torch wall ms", "torch/ps wall",
                            "ps CPU ms", "torch CPU ms", "torch/ps CPU", "ps+fused wall ms",
                            "torch/(ps+fused) wall", "ps+fused CPU ms", "torch/(ps+fused) CPU",
                            "TF wall ms",
                            "TF/ps wall"], rows))
    print(_common.load_warning(busy))


if __name__ == "__main__":
    main()
