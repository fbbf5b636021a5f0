"""Fuzz :class:`pysampled.distributed.ShardedSampledLoss` on one rank.

The communicator is a size-1 stand-in (one rank never communicates, so no
mpi4py is needed and every collective call would be a finding). Random local
shards (float32 / float64 / other dtypes, any layout), every constructor
option (``num_classes`` matching the rows or not, ``partition_strategy``,
``loss``, ``num_sampled``, ``num_true``, ``sampler`` (seeded, unseeded, not
a sampler, range beyond the table), ``remove_accidental_hits``,
``subtract_log_q``, ``optimizer``, ``learning_rate``,
``initial_accumulator_value``, ``epsilon``, ``seed``, ``true_target``,
``timeout``, ``on_timeout``), then a fuzzed sequence of ``step`` / ``loss``
(with and without gradients) calls with random labels, inputs, ``upstream``
and ``batch_split``.

Oracles: only documented exceptions; result shapes; ``loss()`` never writes
the weights, a failed call changes nothing; and, while both accept the same
calls, the losses, input gradients, gradient rows and updated weights equal
those of :class:`pysampled.SampledLoss` over the same table with the same
seed (checked when inputs and results are finite and moderate).
"""
import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps
    from pysampled.distributed import ShardedSampledLoss

FLOATS = ["float32", "float64"]
OTHER_DTYPES = ["float16", "int64", "bool", "object", ">f4", "complex64"]



def close(a, b, tol):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = 1 + float(np.abs(np.where(np.isfinite(b), b, 0)).max(initial=0))
    return bool(np.allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True))


def moderate(*arrays):
    for a in arrays:
        if a is None:
            continue
        try:
            v = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if v.size and not (np.all(np.isfinite(v)) and np.abs(v).max() <= 100):
            return False
    return True


def TestOneInput(data):
    g = Gen(data)
    n = g.int(1, 10) if not g.rarely() else g.pick([1, 2, 33])
    d = g.int(1, 5) if not g.rarely() else g.pick([0, 16])
    dtype = g.pick(FLOATS) if not g.rarely() else g.dtype(FLOATS, OTHER_DTYPES)
    w = g.layout(g.as_dtype(g.float_values(n * d, -1, 1, (1, 30)), (n, d), dtype))
    b = None
    if g.chance(2, 3):
        bd = dtype if not g.rarely() else g.pick(FLOATS)
        b = g.layout(g.as_dtype(g.float_values(n, -1, 1, (1, 30)), (n,), bd))
    num_classes = n if not g.rarely() else g.int_arg(n + 1)
    seed = g.seed() if not g.rarely() else None
    kw = {"num_sampled": g.int_arg(4), "seed": seed}
    if g.chance(1, 2):
        kw["loss"] = g.pick(["sampled_softmax", "nce", "nce", "softmax"])
    if g.chance(1, 3):
        kw["num_true"] = g.int_arg(2)
    if g.chance(1, 3):
        kw["partition_strategy"] = g.pick(["div", "mod", "mod", "range"])
    if g.chance(1, 4):
        k = g.int(0, 3)
        rm = g.pick([n, n, max(1, n - 1), n + 1])
        makers = [lambda: ps.LogUniformSampler(rm, seed=g.seed()), lambda: ps.UniformSampler(rm, seed=None),
                  lambda: "log_uniform", lambda: ps.UniformSampler(rm, seed=3)]
        with expect():
            kw["sampler"] = makers[k]()
    for flag in ["remove_accidental_hits", "subtract_log_q"]:
        if g.chance(1, 3):
            kw[flag] = g.bool() if not g.rarely() else g.flag()
    if g.chance(1, 3):
        kw["optimizer"] = g.pick(["sgd", "adagrad", "adagrad", "adam"])
    if g.chance(1, 3):
        kw["learning_rate"] = g.pick([0.1, 0.0, 1.0, -0.5, 2.0])
    if g.chance(1, 5):
        kw["initial_accumulator_value"] = g.pick([0.1, 0.0, -1.0, float("nan"), 1e-30])
    if g.chance(1, 5):
        kw["true_target"] = g.pick([None, 1.0, 0.5, 0.0, -1.0, float("nan"), float("inf")])
    if g.chance(1, 6):
        kw["timeout"] = g.pick([60, 1e-3, 0, -1, float("nan"), float("inf"), "soon"])
    if g.chance(1, 6):
        kw["on_timeout"] = g.pick(["abort", "raise", "ignore"])
    fl.log("ctor", np.shape(w), getattr(w, "dtype", type(w)), getattr(b, "dtype", type(b)), num_classes, kw)

    dist = None
    with expect():
        dist = ShardedSampledLoss(fl.SelfComm(), w, b, num_classes, **kw)
    if dist is None:
        return
    check(dist.size == 1 and dist.rank == 0, "rank / size of a one-rank loss")
    # The single-process reference over a copy of the same table (same seed).
    ref = None
    # The arrays the loss updates (the caller's, unless they were lists).
    w, b = dist.local_weights, dist.local_biases
    ref_w = np.array(w, copy=True)
    ref_b = None if b is None else np.array(b, copy=True)
    rkw = {k: v for k, v in kw.items() if k not in ("timeout", "on_timeout")}
    rkw["seed"] = dist.seed
    if isinstance(rkw.get("sampler"), ps.CandidateSampler):
        s = rkw["sampler"]
        rkw["sampler"] = type(s)(s.range_max, seed=s.seed)
    try:
        ref = ps.SampledLoss(ref_w, ref_b, **rkw)
    except fl.DOCUMENTED:
        ref = None
    in_step = ref is not None and num_classes == n
    for _ in range(g.int(1, 4)):
        B = g.size(5)
        T = dist.num_true
        shape = (B, T) if (T <= 8 and not g.rarely()) else g.shape()
        lab = g.layout(g.as_dtype(g.int_values(int(np.prod(shape)), 0, n), shape, g.dtype("int64")))
        xd = dtype if not g.rarely() else g.dtype(FLOATS, OTHER_DTYPES)
        xshape = (B, d) if not g.rarely() else g.shape()
        x = g.layout(g.as_dtype(g.float_values(int(np.prod(xshape)), -1, 1, (1, 30)), xshape, xd))
        up = None
        if g.chance(1, 3):
            ushape = (B,) if not g.rarely() else g.shape()
            up = g.layout(g.as_dtype(g.float_values(int(np.prod(ushape)), -1, 2, (0, 1)), ushape,
                                     g.dtype(FLOATS, ["int64", "bool", "object"])))
        split = g.chance(1, 3)
        what = g.pick(["step", "step", "loss", "grads"])
        fl.log(what, lab, x, upstream=up, batch_split=split)
        pre_w = np.array(w, copy=True)
        pre_b = None if b is None else np.array(b, copy=True)
        res = err = None
        try:
            if what == "step":
                res = dist.step(lab, x, upstream=up, batch_split=split)
            else:
                res = dist.loss(lab, x, upstream=up, batch_split=split, return_grads=what == "grads")
        except fl.DOCUMENTED as e:
            err = e
        if err is not None or what != "step":
            check(fl.same(w, pre_w) and (b is None or fl.same(b, pre_b)),
                  "loss() or a failed call changed the weights", what, err)
        want = None
        if in_step:
            try:
                if what == "step":
                    want = ref.step(lab, x, upstream=up)
                else:
                    want = ref(lab, x, upstream=up, return_grads=what == "grads")
            except fl.DOCUMENTED:
                want = None
        if err is not None:
            # SampledLoss.__call__ draws before it validates the inputs (step()
            # does not), so after any failed call the two streams may differ.
            in_step = False
            continue
        xb = np.asarray(x).shape[0]
        loss = res[0] if what != "loss" else res
        check(np.shape(loss) == (xb,), "loss shape", np.shape(loss), xb)
        if what == "step":
            check(np.shape(res.inputs_grad) == (xb, d), "inputs_grad shape")
        if not in_step or want is None:
            in_step = False
            continue
        want_loss = want[0] if what != "loss" else want
        if not (moderate(pre_w, pre_b, x, up, want_loss) and
                (what == "loss" or moderate(want[1] if what == "step" else want[1].inputs))):
            continue
        tol = 1e-9 if np.asarray(loss).dtype == np.float64 else 2e-4
        check(close(loss, want_loss, tol), "loss differs from SampledLoss", loss, want_loss)
        if what == "step":
            check(close(res.inputs_grad, want.inputs_grad, tol), "inputs_grad differs from SampledLoss")
            check(close(w, ref_w, tol * 10), "weights after step differ from SampledLoss", w, ref_w)
            if b is not None:
                check(close(b, ref_b, tol * 10), "biases after step differ from SampledLoss", b, ref_b)
        elif what == "grads":
            check(close(res[1].inputs, want[1].inputs, tol), "input gradient differs from SampledLoss")
            check(close(res[1].weights.to_dense(n), want[1].weights.to_dense(n), tol),
                  "weight gradient rows differ from SampledLoss")


if __name__ == "__main__":
    fl.main(TestOneInput)
