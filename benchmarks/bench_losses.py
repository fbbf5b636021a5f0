#!/usr/bin/env python3
"""Sampled losses: pysampled vs TensorFlow 2.21, PyTorch and NumPy.

Problem: ``N`` classes (1e5, 1e6), ``D = 128``, batch ``B = 1024``, ``S``
sampled classes (64, 512, 4096), float32, one label per example, the
sampled-softmax and NCE losses, 1 and 2 threads. Two modes:

* ``fwd+bwd``: per-example loss and the gradients w.r.t. the inputs, the
  weights and the biases (sparse rows);
* ``step``: a full training step: the same, then SGD on the weights and
  biases (in place), returning the loss and the inputs' gradient.

Every system gets the *same* sampled values (one log-uniform ``unique``
draw per configuration, made with ``pysampled.LogUniformSampler``), so all do
the same work; TF's defaults for accidental hits are kept (removed for
sampled softmax, kept for NCE) and implemented by every peer. Before timing,
each peer's loss, input gradient and deduplicated weight/bias gradients (or,
for ``step``, its updated rows) are checked against pysampled's on the same
inputs; a mismatch beyond float32 tolerance fails that configuration.

Systems:

* ``pysampled``: ``sampled_softmax_loss`` / ``nce_loss`` with
  ``return_grads=True``; ``SampledLoss(...).step(..., sampled_values=...)``.
  ``ps+sampling`` is ``step`` drawing its own negatives (sampling included).
* ``tensorflow``: ``tf.nn.sampled_softmax_loss`` / ``tf.nn.nce_loss`` in a
  ``tf.function`` with ``GradientTape`` (weights and biases are
  ``tf.Variable``; gradients are ``IndexedSlices``); step: SGD as
  ``Variable.scatter_sub(lr * grad)`` (what SGD does with sparse gradients).
* ``torch``: ``nn.Embedding(sparse=True)`` lookups of the label and sampled
  rows, log-Q subtraction, accidental-hit mask, ``F.cross_entropy`` /
  ``F.binary_cross_entropy_with_logits``, ``.backward()``; step:
  ``torch.optim.SGD``.
* ``ps bf16`` (``--bf16``): pysampled with ``ml_dtypes.bfloat16`` weights
  and biases (read in place, computed in float32; ``step`` rounds the
  updated rows back to nearest even), float32 inputs. Not checked against
  the float32 peers (it computes on other, rounded weights); its
  correctness is ``tests/test_losses_bf16.py``'s.
* ``ps bf16 in`` (``--bf16``): the same with ``bfloat16`` inputs too (on
  CPUs with AVX512-BF16 the logits product then runs on ``vdpbf16ps``);
  its loss and input gradient come back in bfloat16.
* ``--simd avx2`` runs pysampled's kernels at a lower SIMD level (peers and
  the ceilings are unchanged).
* ``numpy``: gather, matmul, stable softmax / sigmoid, explicit gradients,
  ``np.unique`` + ``np.add.at`` scatter (into the weights for ``step``).

Busy neighbour (``--busy-neighbour``): every multi-thread measurement is
repeated, for every system, while another process spins on one core (pinned
there with ``sched_setaffinity``: an ordinary day on a shared server). The
report compares it with the same system on one thread of the quiet machine.

Usage::

    python benchmarks/bench_losses.py --quick     # smoke test: N=1e5, S=64,512
    python benchmarks/bench_losses.py             # full run
    python benchmarks/bench_losses.py --busy-neighbour --threads 1,2
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

SYSTEMS = ("pysampled", "tensorflow", "torch", "numpy")
LIB_OF = {"pysampled": None, "numpy": None, "torch": "torch", "tensorflow": "tensorflow"}
LOSSES = ("sampled_softmax", "nce")
MODES = ("fwd+bwd", "step")
FLT_MAX = np.float32(np.finfo(np.float32).max)
LR = 0.05


def flops(B, S, D):
    """Three B x S x D GEMMs: sampled logits, d inputs, d sampled weights."""
    return 6.0 * B * S * D


def job_id(system, loss, mode, N, S):
    return f"{system}|{loss}|{mode}|N={C.fmt_int(N)}|S={C.fmt_int(S)}"


def make_jobs(system, a):
    jobs = []
    for N in a.classes:
        for S in a.sampled:
            for loss in a.losses:
                for mode in a.modes:
                    jobs.append({"id": job_id(system, loss, mode, N, S), "system": system,
                                 "api": system, "loss": loss, "mode": mode, "N": N, "S": S})
                    if system == "pysampled" and a.bf16:
                        for api in ("ps-bf16", "ps-bf16-in"):
                            jobs.append({"id": job_id(api, loss, mode, N, S), "system": system,
                                         "api": api, "loss": loss, "mode": mode, "N": N, "S": S})
                    if system == "pysampled" and mode == "step" and not a.no_own_sampler:
                        jobs.append({"id": job_id("ps+sampling", loss, mode, N, S),
                                     "system": system, "api": "ps+sampling", "loss": loss,
                                     "mode": mode, "N": N, "S": S})
    return jobs


def output_bytes(B, S, D, unique_rows, mode, itemsize=4):
    """What the call returns: loss, d inputs (+ weight rows, their int64 ids
    and bias rows for fwd+bwd; step returns only loss and d inputs)."""
    outs = B * itemsize + B * D * itemsize
    if mode == "fwd+bwd":
        outs += unique_rows * (D * itemsize + 8 + itemsize)
    return outs


def analytic_min_bytes(B, S, D, unique_rows, mode, itemsize=4):
    """Outputs + the B x (S + 1) logits (a fused kernel that tiles the logits
    can stay below this)."""
    return output_bytes(B, S, D, unique_rows, mode, itemsize) + B * (S + 1) * itemsize


# ------------------------------------------------------------ problem data


class Problem:
    """Deterministic data, identical in every worker."""

    def __init__(self, N, D, B):
        import pysampled as ps

        rng = np.random.default_rng(12345)
        self.N, self.D, self.B = N, D, B
        self.W0 = (rng.standard_normal((N, D), dtype=np.float32) * np.float32(0.1))
        self.b0 = (rng.standard_normal(N, dtype=np.float32) * np.float32(0.01))
        self.x = rng.standard_normal((B, D), dtype=np.float32)
        # Zipfian labels: the head classes are sampled too -> accidental hits
        self.labels = ps.LogUniformSampler(N, seed=2).sample_bulk((B, 1), num_threads=1)
        self.W = self.W0.copy()
        self.b = self.b0.copy()
        self._sv = {}
        self._bf16 = None

    def bf16(self):
        """bfloat16 copies of the weights and biases (made once, reset in place)."""
        if self._bf16 is None:
            import ml_dtypes

            self._bf16 = (self.W0.astype(ml_dtypes.bfloat16), self.b0.astype(ml_dtypes.bfloat16))
            self._bf16_0 = (self._bf16[0].copy(), self._bf16[1].copy())
        return self._bf16

    def sampled_values(self, S):
        if S not in self._sv:
            import pysampled as ps

            s, t, e = ps.LogUniformSampler(self.N, seed=1).sample(self.labels, S, unique=True)
            self._sv[S] = (s, t, e)
        return self._sv[S]

    def x16(self):
        import ml_dtypes

        return self.x.astype(ml_dtypes.bfloat16)

    def reset(self):
        np.copyto(self.W, self.W0)
        np.copyto(self.b, self.b0)
        if self._bf16 is not None:
            np.copyto(self._bf16[0], self._bf16_0[0])
            np.copyto(self._bf16[1], self._bf16_0[1])


# ----------------------------------------------------------- implementations


def numpy_fwd_bwd(W, b, x, labels, sampled, tec, sec, loss, remove_hits):
    """Loss and dense per-occurrence gradients; returns
    ``(loss, dx, all_ids, d_rows, d_bias)`` with one row per id occurrence."""
    B = x.shape[0]
    lab = labels.reshape(-1)
    ids = np.concatenate([lab, sampled])
    Wg = W[ids]
    bg = b[ids]
    tw, sw = Wg[:B], Wg[B:]
    true_logit = np.einsum("ij,ij->i", x, tw) + bg[:B] - np.log(tec.reshape(-1))
    sl = x @ sw.T
    sl += bg[B:] - np.log(sec)
    if remove_hits:
        sl[lab[:, None] == sampled[None, :]] += -FLT_MAX
    logits = np.concatenate([true_logit[:, None], sl], axis=1)
    if loss == "sampled_softmax":
        m = logits.max(axis=1, keepdims=True)
        e = np.exp(logits - m)
        s = e.sum(axis=1, keepdims=True)
        out = (np.log(s) + m)[:, 0] - logits[:, 0]
        g = e / s
        g[:, 0] -= 1
    else:
        e = np.exp(-np.abs(logits))
        out = (np.maximum(logits, 0) + np.log1p(e)).sum(axis=1) - logits[:, 0]
        g = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
        g[:, 0] -= 1
    gt, gs = g[:, 0], g[:, 1:]
    dx = gt[:, None] * tw + gs @ sw
    dW = np.empty_like(Wg)
    dW[:B] = gt[:, None] * x
    dW[B:] = gs.T @ x
    db = np.concatenate([gt, gs.sum(axis=0)])
    return out, dx, ids, dW, db


def dedup(ids, rows):
    """Sum rows of equal ids: (sorted unique ids, summed rows)."""
    ids = np.asarray(ids, dtype=np.int64)
    uniq, inv = np.unique(ids, return_inverse=True)
    out = np.zeros((uniq.size,) + rows.shape[1:], dtype=np.float64)
    np.add.at(out, inv, rows.astype(np.float64))
    return uniq, out


def _maxerr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def check(name, ref, got, tol):
    """ref/got: dicts of arrays; assert max |got - ref| <= tol * max(1, max |ref|).
    Returns the relative errors ``max |got - ref| / max(1, max |ref|)``."""
    errs = {}
    for k, r in ref.items():
        if k not in got:
            continue
        g = got[k]
        if np.shape(g) != np.shape(r):
            raise AssertionError(f"{name}: {k} has shape {np.shape(g)}, pysampled {np.shape(r)}")
        e = _maxerr(g, r)
        scale = max(1.0, float(np.max(np.abs(r)))) if np.size(r) else 1.0
        errs[k] = e / scale
        if not e <= tol * scale:
            raise AssertionError(f"{name} disagrees with pysampled on {k}: max abs diff {e:.3g} "
                                 f"(scale {scale:.3g}, tolerance {tol:g})")
    return errs


# ------------------------------------------------------------------ worker


class Worker:
    def __init__(self, a):
        self.a = a
        self.system = a.system
        self.threads = a.threads_worker
        self.limits = C.limit_threads(self.threads, LIB_OF[self.system])
        import pysampled as ps

        if getattr(a, "simd", None):
            from pysampled import _runtime

            _runtime.set_simd_level(a.simd)
        self.ps = ps
        self.problems = {}
        self.refs = {}
        if self.system == "tensorflow":
            import tensorflow as tf

            self.tf = tf
            self.tf_vars = {}
        if self.system == "torch":
            import torch

            self.torch = torch

    def meta(self):
        from pysampled import _runtime

        m = {"threads": self.threads, "system": self.system, "limits": self.limits,
             "simd_level": _runtime.simd_level(),
             "threadpools": C.threadpool_info()}
        if self.system == "torch":
            m["torch_threads"] = self.torch.get_num_threads()
        return m

    def problem(self, N):
        if N not in self.problems:
            self.problems.clear()  # one N at a time (memory)
            self.refs.clear()
            if self.system == "tensorflow":
                self.tf_vars.clear()
            self.problems[N] = Problem(N, self.a.dim, self.a.batch)
        return self.problems[N]

    def reference(self, P, loss, S):
        """pysampled's loss and gradients on the pristine weights, 1 thread."""
        key = (loss, S)
        if key not in self.refs:
            fn = self.ps.sampled_softmax_loss if loss == "sampled_softmax" else self.ps.nce_loss
            out, g = fn(P.W0, P.b0, P.labels, P.x, S, P.N, sampled_values=P.sampled_values(S),
                        return_grads=True, num_threads=1)
            self.refs[key] = {"loss": out, "dx": g.inputs, "ids": g.weights.ids,
                              "gw": g.weights.values, "gb": g.biases.values}
        return self.refs[key]

    # -- one system --------------------------------------------------------
    def build(self, job, P):
        """(call, extract): ``call()`` runs one fwd+bwd or step; ``extract(out)``
        turns its output into comparable arrays (after the call)."""
        S, loss, mode, api = job["S"], job["loss"], job["mode"], job["api"]
        sv = P.sampled_values(S)
        n = self.threads
        hits = loss == "sampled_softmax"  # TF's default remove_accidental_hits
        if api in ("ps-bf16", "ps-bf16-in"):
            # bfloat16 weights and biases, float32 inputs (ps-bf16-in: bfloat16
            # inputs too, where AVX512-BF16 runs the logits on vdpbf16ps);
            # correctness is the test suite's (tests/test_losses_bf16.py)
            ps = self.ps
            W16, b16 = P.bf16()
            x = P.x if api == "ps-bf16" else P.x16()
            if mode == "fwd+bwd":
                fn = ps.sampled_softmax_loss if loss == "sampled_softmax" else ps.nce_loss
                return (lambda: fn(W16, b16, P.labels, x, S, P.N, sampled_values=sv,
                                   return_grads=True, num_threads=n)), None
            model = ps.SampledLoss(W16, b16, num_sampled=S, loss=loss, optimizer="sgd",
                                   learning_rate=LR, num_threads=n, seed=1)
            return (lambda: model.step(P.labels, x, sampled_values=sv)), None
        if api in ("pysampled", "ps+sampling"):
            ps = self.ps
            if mode == "fwd+bwd":
                fn = ps.sampled_softmax_loss if loss == "sampled_softmax" else ps.nce_loss
                call = lambda: fn(P.W, P.b, P.labels, P.x, S, P.N, sampled_values=sv,  # noqa: E731
                                  return_grads=True, num_threads=n)

                def extract(out):
                    lo, g = out
                    return {"loss": lo, "dx": g.inputs, "ids": g.weights.ids,
                            "gw": g.weights.values, "gb": g.biases.values}
                return call, extract
            model = ps.SampledLoss(P.W, P.b, num_sampled=S, loss=loss, optimizer="sgd",
                                   learning_rate=LR, num_threads=n, seed=1)
            if api == "ps+sampling":
                return (lambda: model.step(P.labels, P.x)), None
            return (lambda: model.step(P.labels, P.x, sampled_values=sv),
                    lambda out: {"loss": out.loss, "dx": out.inputs_grad})
        if api == "numpy":
            sampled, tec, sec = sv
            if mode == "fwd+bwd":
                def call():
                    lo, dx, ids, dW, db = numpy_fwd_bwd(P.W, P.b, P.x, P.labels, sampled, tec,
                                                        sec, loss, hits)
                    uniq, inv = np.unique(ids, return_inverse=True)
                    gw = np.zeros((uniq.size, P.D), dtype=np.float32)
                    np.add.at(gw, inv, dW)
                    gb = np.zeros(uniq.size, dtype=np.float32)
                    np.add.at(gb, inv, db)
                    return lo, dx, uniq, gw, gb
                return call, lambda o: {"loss": o[0], "dx": o[1], "ids": o[2], "gw": o[3],
                                        "gb": o[4]}

            def step():
                lo, dx, ids, dW, db = numpy_fwd_bwd(P.W, P.b, P.x, P.labels, sampled, tec, sec,
                                                    loss, hits)
                dW *= -np.float32(LR)
                db *= -np.float32(LR)
                np.add.at(P.W, ids, dW)
                np.add.at(P.b, ids, db)
                return lo, dx
            return step, lambda o: {"loss": o[0], "dx": o[1]}
        if api == "torch":
            return self.build_torch(job, P, sv, hits)
        if api == "tensorflow":
            return self.build_tf(job, P, sv, hits)
        raise ValueError(api)

    def build_torch(self, job, P, sv, hits):
        torch = self.torch
        F = torch.nn.functional
        S, loss, mode = job["S"], job["loss"], job["mode"]
        B = P.B
        # the embeddings share memory with P.W / P.b (reset in place between jobs)
        emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(P.W), freeze=False, sparse=True)
        bemb = torch.nn.Embedding.from_pretrained(torch.from_numpy(P.b).view(-1, 1),
                                                  freeze=False, sparse=True)
        sampled = torch.from_numpy(sv[0])
        tec = torch.from_numpy(sv[1])
        sec = torch.from_numpy(sv[2])
        labels = torch.from_numpy(P.labels)
        x_np = P.x
        zeros = torch.zeros(B, dtype=torch.long)
        targets = torch.zeros(B, S + 1, dtype=torch.float32)
        targets[:, 0] = 1.0

        def forward():
            x = torch.from_numpy(x_np).requires_grad_()
            ids = torch.cat([labels.view(-1), sampled])
            w = emb(ids)
            bb = bemb(ids).view(-1)
            tw, sw = w[:B], w[B:]
            true_logit = (x * tw).sum(1) + bb[:B] - torch.log(tec.view(-1))
            sl = x @ sw.t() + (bb[B:] - torch.log(sec))
            if hits:
                sl = sl.masked_fill(labels == sampled.view(1, -1), -float(FLT_MAX))
            logits = torch.cat([true_logit.view(-1, 1), sl], 1)
            if loss == "sampled_softmax":
                out = F.cross_entropy(logits, zeros, reduction="none")
            else:
                out = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1)
            return x, out

        if mode == "fwd+bwd":
            def call():
                emb.weight.grad = None
                bemb.weight.grad = None
                x, out = forward()
                out.sum().backward()
                return out, x.grad, emb.weight.grad, bemb.weight.grad

            def extract(o):
                gw = o[2].coalesce()
                gb = o[3].coalesce()
                return {"loss": o[0].detach().numpy(), "dx": o[1].numpy(),
                        "ids": gw.indices()[0].numpy(), "gw": gw.values().numpy(),
                        "gb": gb.values().numpy().reshape(-1)}
            return call, extract
        opt = torch.optim.SGD([emb.weight, bemb.weight], lr=LR)

        def step():
            opt.zero_grad(set_to_none=True)
            x, out = forward()
            out.sum().backward()
            opt.step()
            return out, x.grad
        return step, lambda o: {"loss": o[0].detach().numpy(), "dx": o[1].numpy()}

    def build_tf(self, job, P, sv, hits):
        tf = self.tf
        S, loss, mode = job["S"], job["loss"], job["mode"]
        if "W" not in self.tf_vars:
            self.tf_vars["W"] = tf.Variable(P.W0)
            self.tf_vars["b"] = tf.Variable(P.b0)
        W, b = self.tf_vars["W"], self.tf_vars["b"]
        W.assign(P.W0)
        b.assign(P.b0)
        N = P.N
        x = tf.constant(P.x)
        labels = tf.constant(P.labels)
        sampled, tec, sec = (tf.constant(v) for v in sv)
        lossfn = tf.nn.sampled_softmax_loss if loss == "sampled_softmax" else tf.nn.nce_loss
        spec = [tf.TensorSpec(x.shape, tf.float32), tf.TensorSpec(labels.shape, tf.int64),
                tf.TensorSpec(sampled.shape, tf.int64), tf.TensorSpec(tec.shape, tf.float32),
                tf.TensorSpec(sec.shape, tf.float32)]

        def loss_and_grads(x, labels, sampled, tec, sec):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = lossfn(W, b, labels, x, S, N, num_true=1,
                             sampled_values=(sampled, tec, sec), remove_accidental_hits=hits)
                total = tf.reduce_sum(out)
            dx, gw, gb = tape.gradient(total, [x, W, b])
            return out, dx, gw, gb

        if mode == "fwd+bwd":
            @tf.function(input_signature=spec)
            def f(x, labels, sampled, tec, sec):
                out, dx, gw, gb = loss_and_grads(x, labels, sampled, tec, sec)
                return out, dx, gw.indices, gw.values, gb.indices, gb.values

            def extract(o):
                ids, gw = dedup(o[2].numpy(), o[3].numpy())
                _, gb = dedup(o[4].numpy(), o[5].numpy())
                return {"loss": o[0].numpy(), "dx": o[1].numpy(), "ids": ids, "gw": gw, "gb": gb}
            return (lambda: f(x, labels, sampled, tec, sec)), extract

        @tf.function(input_signature=spec)
        def step(x, labels, sampled, tec, sec):
            out, dx, gw, gb = loss_and_grads(x, labels, sampled, tec, sec)
            W.scatter_sub(tf.IndexedSlices(gw.values * LR, gw.indices))
            b.scatter_sub(tf.IndexedSlices(gb.values * LR, gb.indices))
            return out, dx
        return ((lambda: step(x, labels, sampled, tec, sec)),
                lambda o: {"loss": o[0].numpy(), "dx": o[1].numpy()})

    def reset(self, P):
        P.reset()
        if self.system == "tensorflow" and "W" in self.tf_vars:
            self.tf_vars["W"].assign(P.W0)
            self.tf_vars["b"].assign(P.b0)

    def updated_rows(self, P, ids):
        if self.system == "tensorflow":
            W = self.tf.gather(self.tf_vars["W"], ids).numpy()
            b = self.tf.gather(self.tf_vars["b"], ids).numpy()
            return W, b
        return P.W[ids], P.b[ids]

    # -- one job -------------------------------------------------------------
    def run(self, job):
        a = self.a
        P = self.problem(job["N"])
        S, mode = job["S"], job["mode"]
        ref = self.reference(P, job["loss"], S)
        self.reset(P)
        call, extract = self.build(job, P)
        # first call: checked against pysampled, and its memory measured
        out, rss_first, rss_method = C.peak_rss_increase(call)
        errs = None
        if extract is not None:
            got = extract(out)
            name = f"{job['api']} ({job['loss']}, {mode})"
            if mode == "fwd+bwd":
                if got["ids"].shape != ref["ids"].shape or np.any(got["ids"] != ref["ids"]):
                    raise AssertionError(f"{name}: gradient rows for other ids than pysampled")
                errs = check(name, {k: ref[k] for k in ("loss", "dx", "gw", "gb")}, got,
                             a.tol)
            else:
                errs = check(name, {"loss": ref["loss"], "dx": ref["dx"]}, got, a.tol)
                Wn, bn = self.updated_rows(P, ref["ids"])
                expect_w = P.W0[ref["ids"]] - np.float32(LR) * ref["gw"]
                expect_b = P.b0[ref["ids"]] - np.float32(LR) * ref["gb"]
                errs.update(check(name, {"updated_w": expect_w, "updated_b": expect_b},
                                  {"updated_w": Wn, "updated_b": bn}, a.tol))
        del out
        self.reset(P)
        res = C.measure(call, warmup=a.warmup, min_repeat=a.min_repeat, max_repeat=a.max_repeat,
                        target_s=a.target_s, max_call_s=a.max_call_s)
        _, rss_steady, _ = C.peak_rss_increase(call)
        self.reset(P)
        B, D = P.B, P.D
        out = {**job, **res, "B": B, "D": D, "threads": self.threads, "check_maxerr": errs,
               "rss_first_bytes": rss_first, "rss_steady_bytes": rss_steady,
               "rss_method": rss_method, "unique_rows": int(ref["ids"].size),
               "analytic_min_bytes": analytic_min_bytes(B, S, D, int(ref["ids"].size), mode),
               "output_bytes": output_bytes(B, S, D, int(ref["ids"].size), mode),
               "flops": flops(B, S, D)}
        if res["status"] == "ok":
            out["gflops"] = flops(B, S, D) / res["median_s"] / 1e9
            out["gflops_best"] = flops(B, S, D) / res["min_s"] / 1e9
        return out


def worker_main(a):
    jobs = C.read_worker_jobs(a.worker)
    w = Worker(a)
    C.worker_loop(jobs, w.run, meta=w.meta())


# ------------------------------------------------- interleaved A/B (--ab)


def ab_main(a):
    """pysampled variants timed in one process, calls interleaved round-robin,
    best of `reps` rounds each: on a machine shared with other jobs, the
    variants see the same conditions (medians there are the neighbours')."""
    import ml_dtypes

    import pysampled as ps
    from pysampled import _losses, _runtime

    if a.simd:
        _runtime.set_simd_level(a.simd)
    threads = a.threads[0]
    amx = _losses._amx_bf16_available()
    # vdpbf16ps for the gradient products of grad_precision="bfloat16": the
    # library's default for this CPU (on for AMD), kept for "bf16 G"
    grads_default = _losses._set_bf16_dot_grads_enabled(True)
    _losses._set_bf16_dot_grads_enabled(grads_default)
    dot_grads_possible = _losses._bf16_dot_available() and a.simd in (None, "avx512")
    print(f"# interleaved A/B, pysampled {_runtime.simd_level()}, {threads} thread(s), "
          f"bf16 dot kernel available: {_losses._bf16_dot_available()}, AMX-BF16 kernel available: {amx}, "
          f"gradient products on vdpbf16ps (no AMX): {grads_default}")
    # The variants return outputs of different sizes; with glibc's default
    # thresholds, whether a call's outputs land on fresh pages (page faults:
    # up to 30% of a call at S = 64) then depends on the other variants'
    # allocations. Fixed thresholds take that out of the comparison.
    print("# glibc MALLOC_TRIM_THRESHOLD_ / MALLOC_MMAP_THRESHOLD_: "
          f"{os.environ.get('MALLOC_TRIM_THRESHOLD_', 'default')} / "
          f"{os.environ.get('MALLOC_MMAP_THRESHOLD_', 'default')} (set both to 134217728 to compare kernels)")
    rows = []
    for N in a.classes:
        P = Problem(N, a.dim, a.batch)
        W16, b16 = P.bf16()
        x16 = P.x.astype(ml_dtypes.bfloat16)
        for S in a.sampled:
            sv = P.sampled_values(S)
            for loss in a.losses:
                fn = ps.sampled_softmax_loss if loss == "sampled_softmax" else ps.nce_loss

                def call(W, b, x, dot=True, tiles=True):
                    def run():
                        _losses._set_bf16_dot_enabled(dot)
                        _losses._set_amx_bf16_enabled(tiles)
                        fn(W, b, P.labels, x, S, N, sampled_values=sv, return_grads=True,
                           num_threads=threads)
                    return run

                def model(W, b, x, precision, dot=True, tiles=True, dot_grads=grads_default):
                    # SampledLoss.__call__ (the same work as the function) with
                    # grad_precision: "bfloat16" rounds dL/dlogits for the
                    # gradient products, which then run on bfloat16 kernels too
                    # (AMX, or vdpbf16ps where dot_grads: the default on AMD)
                    m = ps.SampledLoss(W, b, num_sampled=S, loss=loss, grad_precision=precision,
                                       num_threads=threads)

                    def run():
                        _losses._set_bf16_dot_enabled(dot)
                        _losses._set_amx_bf16_enabled(tiles)
                        _losses._set_bf16_dot_grads_enabled(dot_grads)
                        m(P.labels, x, sampled_values=sv, return_grads=True)
                    return run
                # "bf16 w+in": the best bfloat16 logits kernel this CPU has (AMX
                # where available, else vdpbf16ps); "vdpbf16ps": AMX switched off.
                variants = {"fp32": call(P.W, P.b, P.x), "bf16 weights": call(W16, b16, P.x),
                            "bf16 w+in": call(W16, b16, x16),
                            "bf16 w+in, vdpbf16ps": call(W16, b16, x16, tiles=False),
                            "bf16 w+in, no dot kernel": call(W16, b16, x16, dot=False),
                            "SampledLoss fp32": model(P.W, P.b, P.x, "float32"),
                            "SampledLoss bf16 G": model(W16, b16, x16, "bfloat16"),
                            # AMX off: logits on vdpbf16ps, the gradient products
                            # on the float32 kernels reading the rounded G
                            "SampledLoss bf16 G, AMX off": model(W16, b16, x16, "bfloat16",
                                                                  tiles=False),
                            # no AMX: the gradient products on vdpbf16ps against
                            # the float32 kernels reading the same rounded G
                            "SampledLoss bf16 G, fp32 products": model(W16, b16, x16, "bfloat16",
                                                                        dot_grads=False)}
                if not amx:
                    del variants["bf16 w+in, vdpbf16ps"]
                    del variants["SampledLoss bf16 G, AMX off"]
                if amx or not dot_grads_possible:
                    del variants["SampledLoss bf16 G, fp32 products"]
                best = {k: float("inf") for k in variants}
                shuffle = random.Random(f"{N}-{S}-{loss}")
                deadline = time.perf_counter() + a.target_s * len(variants)
                rounds = 0
                while rounds < 5 or (time.perf_counter() < deadline and rounds < 200):
                    # A call finds in cache the rows that the call before it
                    # gathered when both read the same table (bfloat16 or
                    # float32): at S = 512 on 2 threads such a call took 0.73
                    # against 0.80 ms. A fixed order would give that edge to
                    # the same variants every round; a shuffled one (seeded)
                    # gives every variant rounds after each of the others.
                    order = list(variants)
                    shuffle.shuffle(order)
                    for k in order:
                        t0 = time.perf_counter()
                        variants[k]()
                        best[k] = min(best[k], time.perf_counter() - t0)
                    rounds += 1
                _losses._set_bf16_dot_enabled(True)
                _losses._set_amx_bf16_enabled(True)
                _losses._set_bf16_dot_grads_enabled(grads_default)
                f32 = best["fp32"]
                # bfloat16 G against the same API's float32 call
                fns = [k for k in variants if not k.startswith("SampledLoss")]
                objs = [k for k in variants if k.startswith("SampledLoss bf16 G")]
                obj32 = best["SampledLoss fp32"]
                rows.append([C.fmt_int(N), C.fmt_int(S), loss, str(rounds)] +
                            [f"{best[k] * 1e3:,.2f}" for k in variants] +
                            [f"{f32 / best[k]:.2f}" for k in fns[1:]] +
                            [f"{obj32 / best[k]:.2f}" for k in objs])
    names = ["fp32", "bf16 w", "bf16 w+in (amx)" if amx else "bf16 w+in"]
    names += ["bf16 w+in vdpbf16ps"] if amx else []
    names += ["bf16 w+in no dot"]
    g_names = ["bf16 G (amx)" if amx else "bf16 G"] + (["bf16 G AMX off"] if amx else [])
    g_names += ["bf16 G fp32 products"] if (not amx and dot_grads_possible) else []
    header = (["N", "S", "loss", "rounds"] + [f"{k} ms" for k in names] +
              ["SampledLoss fp32 ms"] + [f"SampledLoss {k} ms" for k in g_names] +
              [f"×fp32 {k}" for k in names[1:]] + [f"×SampledLoss fp32 {k}" for k in g_names])
    print(f"\n### fwd+bwd, best of interleaved rounds (ms), B={a.batch}, D={a.dim}\n")
    print(C.md_table(header, rows))
    return 0


# --------------------------------------------------------- busy neighbour


def isa_line(info, simd=None):
    """The CPU's ISA flags and the SIMD level pysampled's kernels run at
    (``simd``: the level ``--simd`` forces in the workers)."""
    flags = set(info["cpu"].get("simd_flags") or [])
    want = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")
    have = [f for f in want if f in flags]
    detected = info["pysampled"].get("simd_level")
    level = f"{simd} (--simd; detected {detected})" if simd else detected
    return ("ISA: " + (", ".join(have) if have else "none of " + ", ".join(want)) +
            f"; pysampled kernels: {level}")


# ------------------------------------------------------------------ report

PEERS = ("tensorflow", "torch", "numpy")
SHORT = {"pysampled": "ps", "tensorflow": "TF", "torch": "torch", "numpy": "numpy",
         "ps+sampling": "ps+sampling", "ps-bf16": "ps bf16", "ps-bf16-in": "ps bf16 in"}


def _ms(r):
    if r is None:
        return "—"
    if r.get("status") == "ok":
        return f"{r['median_s'] * 1e3:,.2f}"
    if r.get("status") == "skipped":
        return "skipped"
    if "disagrees" in str(r.get("error", "")) or "AssertionError" in str(r.get("error", "")):
        return "MISMATCH"
    return "error"


def _ok(r):
    return r is not None and r.get("status") == "ok"


def _mib(x):
    return "—" if x is None else f"{x / 2**20:,.1f}"


def report(results, calib, a):
    by = {(r["api"], r["loss"], r["mode"], r["N"], r["S"], r["threads"]): r for r in results
          if not r.get("busy")}
    busy_by = {(r["api"], r["loss"], r["mode"], r["N"], r["S"], r["threads"]): r
               for r in results if r.get("busy")}
    fma = calib["fma"].get("best", {}) if isinstance(calib.get("fma"), dict) else {}
    sg = calib.get("sgemm", {})
    apis = [s for s in SYSTEMS if s in a.systems]
    out = []
    cal_rows = [[f"{t}", C.fmt_num(fma.get(str(t))), C.fmt_num(sg.get(str(t)))] for t in a.threads]
    out.append("\n### Same-run compute ceilings (GFLOP/s, float32)\n")
    out.append(C.md_table(["threads", "FMA loop peak", "NumPy sgemm 2048³"], cal_rows))
    for loss in a.losses:
        for mode in a.modes:
            extra = ["ps+sampling"] if (mode == "step" and "pysampled" in apis
                                        and not a.no_own_sampler) else []
            if a.bf16 and "pysampled" in apis:
                extra = extra + ["ps-bf16", "ps-bf16-in"]
            out.append(f"\n### {loss}, {mode}: ms per call (median), B={a.batch}, D={a.dim}\n")
            header = (["N", "S", "thr"] + [f"{SHORT[s]} ms" for s in apis + extra] +
                      ["ps GFLOP/s", "% FMA peak", "% sgemm"] +
                      [f"×{SHORT[p]}" for p in PEERS if p in apis] +
                      (["bf16 speed-up", "bf16-in speed-up"] if a.bf16 and "pysampled" in apis
                       else []))
            rows = []
            for N in a.classes:
                for S in a.sampled:
                    for t in a.threads:
                        rs = {s: by.get((s, loss, mode, N, S, t)) for s in apis + extra}
                        ps_r = rs.get("pysampled")
                        row = [C.fmt_int(N), C.fmt_int(S), str(t)] + [_ms(rs[s]) for s in apis + extra]
                        if _ok(ps_r):
                            g = ps_r["gflops"]
                            row += [C.fmt_num(g),
                                    f"{100 * g / fma[str(t)]:.0f}%" if fma.get(str(t)) else "—",
                                    f"{100 * g / sg[str(t)]:.0f}%" if sg.get(str(t)) else "—"]
                        else:
                            row += ["—"] * 3
                        for p in PEERS:
                            if p not in apis:
                                continue
                            pr = rs.get(p)
                            row.append(f"{pr['median_s'] / ps_r['median_s']:.1f}"
                                       if _ok(pr) and _ok(ps_r) else "—")
                        if a.bf16 and "pysampled" in apis:
                            for b_api in ("ps-bf16", "ps-bf16-in"):
                                rb = rs.get(b_api)
                                row.append(f"{ps_r['median_s'] / rb['median_s']:.2f}"
                                           if _ok(rb) and _ok(ps_r) else "—")
                        rows.append(row)
            out.append(C.md_table(header, rows))
    if 1 in a.threads and 2 in a.threads:
        out.append("\n### 2-thread efficiency t1 / (2 t2) (1.0 = perfect scaling)\n")
        rows = []
        names = apis + (["ps+sampling"] if "pysampled" in apis and not a.no_own_sampler else [])
        names += ["ps-bf16", "ps-bf16-in"] if a.bf16 and "pysampled" in apis else []
        for loss in a.losses:
            for mode in a.modes:
                for N in a.classes:
                    for S in a.sampled:
                        row = [loss, mode, C.fmt_int(N), C.fmt_int(S)]
                        for s in names:
                            r1, r2 = by.get((s, loss, mode, N, S, 1)), by.get((s, loss, mode, N, S, 2))
                            row.append(f"{r1['median_s'] / (2 * r2['median_s']):.2f}"
                                       if _ok(r1) and _ok(r2) else "—")
                        rows.append(row)
        out.append(C.md_table(["loss", "mode", "N", "S"] + [SHORT[s] for s in names], rows,
                              ["l", "l", "r", "r"] + ["r"] * len(names)))
    busy_threads = [t for t in a.threads if t >= 2] if a.busy_neighbour else []
    if busy_threads and 1 in a.threads:
        names = apis + (["ps+sampling"] if "pysampled" in apis and not a.no_own_sampler else [])
        names += ["ps-bf16", "ps-bf16-in"] if a.bf16 and "pysampled" in apis else []
        for t in busy_threads:
            out.append(f"\n### Busy neighbour: {t} threads with a process spinning on one core, "
                       f"time / (1 thread, quiet) (target <= 1.1)\n")
            rows = []
            for loss in a.losses:
                for mode in a.modes:
                    for N in a.classes:
                        for S in a.sampled:
                            row = [loss, mode, C.fmt_int(N), C.fmt_int(S)]
                            for s_ in names:
                                r1 = by.get((s_, loss, mode, N, S, 1))
                                rb = busy_by.get((s_, loss, mode, N, S, t))
                                row.append(f"{rb['median_s'] / r1['median_s']:.2f} "
                                           f"({rb['median_s'] * 1e3:,.2f} ms)"
                                           if _ok(r1) and _ok(rb) else "—")
                            rows.append(row)
            out.append(C.md_table(["loss", "mode", "N", "S"] + [SHORT[s_] for s_ in names], rows,
                                  ["l", "l", "r", "r"] + ["r"] * len(names)))
    out.append("\n### Extra memory: peak RSS increase during one call (MiB)\n")
    header = ["loss", "mode", "N", "S", "thr", "ps first", "ps steady", "outputs",
              "outputs + logits"] + \
             [f"{SHORT[p]} steady" for p in PEERS if p in apis]
    rows = []
    for loss in a.losses:
        for mode in a.modes:
            for N in a.classes:
                for S in a.sampled:
                    for t in a.threads:
                        rs = [by.get((s, loss, mode, N, S, t)) for s in apis]
                        if not any(rs):
                            continue
                        ps_r = by.get(("pysampled", loss, mode, N, S, t)) or {}
                        any_r = next(r for r in rs if r)
                        row = [loss, mode, C.fmt_int(N), C.fmt_int(S), str(t),
                               _mib(ps_r.get("rss_first_bytes")), _mib(ps_r.get("rss_steady_bytes")),
                               _mib(any_r.get("output_bytes")), _mib(any_r.get("analytic_min_bytes"))]
                        for p in PEERS:
                            if p in apis:
                                pr = by.get((p, loss, mode, N, S, t))
                                row.append(_mib(pr.get("rss_steady_bytes")) if pr else "—")
                        rows.append(row)
    out.append(C.md_table(header, rows, ["l", "l", "r", "r", "r"] + ["r"] * (len(header) - 5)))
    notes = [r for r in results if r.get("status") != "ok"]
    if notes:
        out.append("\nSkipped / failed:\n")
        for r in notes:
            out.append(f"- [{r['threads']} thr] {r['id']}: {r['status']} "
                       f"({r.get('reason') or r.get('error')})")
    worst = {}
    for r in results:
        for k, v in (r.get("check_maxerr") or {}).items():
            key = (r["api"], k)
            worst[key] = max(worst.get(key, 0.0), v)
    worst = {k: v for k, v in worst.items() if k[0] != "pysampled" or v > 0}
    if worst:
        out.append("\nLargest relative difference to pysampled in the checks, "
                   "max|peer - ps| / max(1, max|ps|) (passed: <= " f"{a.tol:g}):\n")
        for (api, k), v in sorted(worst.items()):
            out.append(f"- {api} {k}: {v:.2e}")
    return "\n".join(out)


# -------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: N=1e5, S=64,512, fewer repeats")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--classes", default=None, help="N values (default 1e5,1e6)")
    p.add_argument("--sampled", default=None, help="S values (default 64,512,4096)")
    p.add_argument("--losses", default=",".join(LOSSES), help="subset of " + ",".join(LOSSES))
    p.add_argument("--modes", default=",".join(MODES), help="subset of " + ",".join(MODES))
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--tol", type=float, default=2e-4,
                   help="agreement tolerance, relative to max(1, max |pysampled|) (default 2e-4)")
    p.add_argument("--no-own-sampler", action="store_true",
                   help="omit the ps+sampling column (step drawing its own negatives)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per configuration before it is skipped (default 300, quick 120)")
    p.add_argument("--max-call-s", type=float, default=None)
    p.add_argument("--no-calibrate", action="store_true", help="skip the FMA / sgemm ceilings")
    p.add_argument("--bf16", action="store_true",
                   help="add pysampled with bfloat16 weights and biases, with float32 inputs "
                        "(ps bf16) and with bfloat16 inputs (ps bf16 in)")
    p.add_argument("--simd", default=None, choices=("generic", "avx2", "avx512"),
                   help="run pysampled's kernels at this SIMD level (default: the best)")
    p.add_argument("--ab", action="store_true",
                   help="interleaved A/B of pysampled's fp32 and bfloat16 paths in one process "
                        "(first --threads value), best of rounds")
    p.add_argument("--busy-neighbour", action="store_true",
                   help="repeat every multi-thread measurement beside a process spinning on one core")
    p.add_argument("--output", default=None)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--system", default=None, help=argparse.SUPPRESS)
    p.add_argument("--threads-worker", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args(argv)

    def ints(s):
        return [int(float(x)) for x in s.split(",") if x.strip()]

    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    for s in a.systems:
        if s not in SYSTEMS:
            p.error(f"unknown system {s!r}")
    a.losses = [x for x in a.losses.split(",") if x]
    a.modes = [x for x in a.modes.split(",") if x]
    if set(a.losses) - set(LOSSES) or set(a.modes) - set(MODES):
        p.error("unknown loss or mode")
    a.threads = ints(a.threads)
    a.classes = ints(a.classes) if a.classes else ([10**5] if a.quick else [10**5, 10**6])
    a.sampled = ints(a.sampled) if a.sampled else ([64, 512] if a.quick else [64, 512, 4096])
    a.timeout = a.timeout or (120.0 if a.quick else 300.0)
    a.max_call_s = a.max_call_s or (10.0 if a.quick else 30.0)
    a.warmup = 2 if a.quick else 3
    a.min_repeat = 3 if a.quick else 7
    a.max_repeat = 15 if a.quick else 60
    a.target_s = 0.3 if a.quick else 2.0
    return a


def worker_args(a, system, threads):
    args = ["--system", system, "--threads-worker", str(threads), "--dim", str(a.dim),
            "--batch", str(a.batch), "--tol", str(a.tol), "--max-call-s", str(a.max_call_s)]
    if a.quick:
        args.append("--quick")
    if a.bf16:
        args.append("--bf16")
    if a.simd:
        args += ["--simd", a.simd]
    return args


def main(argv=None):
    a = parse_args(argv)
    if a.worker:
        return worker_main(a)
    if a.ab:
        return ab_main(a)
    t_start = time.perf_counter()
    info = C.machine_info()
    print(f"# pysampled loss benchmark{' (quick)' if a.quick else ''}", flush=True)
    print(f"CPU: {info['cpu'].get('model')} ({info['os_cpu_count']} logical CPUs), "
          f"numpy {info['numpy']}, TF {info.get('tensorflow')}, torch {info.get('torch')}, "
          f"pysampled {info['pysampled'].get('version')} "
          f"(SIMD {info['pysampled'].get('simd_level')}, OpenMP {info['pysampled'].get('openmp')})",
          file=sys.stderr, flush=True)
    print(isa_line(info, a.simd), file=sys.stderr, flush=True)
    calib = {} if a.no_calibrate else C.calibrate(tuple(a.threads), quick=a.quick)
    if calib:
        print(f"calibration: {calib}", file=sys.stderr, flush=True)
    results, metas, busy = [], {}, []
    for system in a.systems:
        jobs = make_jobs(system, a)
        for t in a.threads:
            busy.append(C.cpu_busy_fraction())
            print(f"[{system}, {t} thread(s)]: {len(jobs)} configurations "
                  f"(other load: {100 * (busy[-1] or 0):.0f}% of CPUs)", file=sys.stderr, flush=True)
            res, meta = C.run_jobs(Path(__file__), worker_args(a, system, t), jobs, threads=t,
                                   timeout_s=a.timeout)
            metas[f"{system}/{t}"] = {**(meta or {}), "other_load_before": busy[-1]}
            for j in jobs:
                r = res.get(j["id"], {"status": "error", "error": "no result"})
                results.append({**j, **r, "threads": t})
            if a.busy_neighbour and t >= 2:
                with C.BusyNeighbour() as nb:
                    print(f"[{system}, {t} thread(s), busy neighbour on CPU {nb.cpu}]",
                          file=sys.stderr, flush=True)
                    res, meta = C.run_jobs(Path(__file__), worker_args(a, system, t), jobs,
                                           threads=t, timeout_s=a.timeout)
                metas[f"{system}/{t}/busy"] = meta or {}
                for j in jobs:
                    r = res.get(j["id"], {"status": "error", "error": "no result"})
                    results.append({**j, **r, "threads": t, "busy": True})
    calib_end = None
    if calib and not a.quick:
        calib_end = C.calibrate(tuple(a.threads), quick=True)  # drift check on a shared machine
    busy.append(C.cpu_busy_fraction())
    report_md = (f"\n{isa_line(info, a.simd)}\n" + C.load_warning(busy) + report(results, calib, a))
    doc = {"benchmark": "losses", "quick": a.quick, "machine": info, "calibration": calib,
           "calibration_end": calib_end,
           "settings": {k: v for k, v in vars(a).items() if k != "worker"},
           "workers": metas, "other_load": busy, "results": results,
           "wall_s": time.perf_counter() - t_start,
           "markdown": report_md}
    path = a.output or Path(__file__).resolve().parent / "out" / (
        "losses_quick.json" if a.quick else "losses.json")
    C.write_json(path, doc)
    print(report_md)
    print(f"\nJSON: {path} (wall {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
