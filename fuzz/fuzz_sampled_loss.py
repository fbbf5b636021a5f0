"""Fuzz :class:`pysampled.SampledLoss`: construction, ``__call__``, ``sample``
and the in-place ``step``.

Random weight / bias shards (canonical or not, float32 / float64 / other
dtypes, read-only, strided rows, broadcast), every constructor option
(``loss``, ``num_sampled``, ``num_true``, ``sampler`` of each kind with a
range below / equal to / above the number of rows or not a sampler,
``unique``, ``remove_accidental_hits``, ``subtract_log_q``,
``partition_strategy``, ``optimizer`` sgd / adagrad / unknown,
``learning_rate``, ``initial_accumulator_value``, ``epsilon``, ``hogwild``,
``num_threads``, ``seed``, ``mask_all_duplicates``, ``true_target``,
``grad_precision`` float32 / bfloat16 / unknown, with bfloat16 weight shards
half the time it is bfloat16, which takes the bfloat16 gradient products on
CPUs with AVX512-BF16 or AMX), then a
fuzzed sequence of ``__call__`` / ``step`` / ``sample`` calls with random
labels, inputs, ``upstream``, ``learning_rate`` and explicit or sampled
``sampled_values``.

Oracles: ``step`` returns the loss and input gradient that ``__call__`` gives
for the same sampled values, and updates the caller's arrays exactly as SGD
(``w -= lr * g``) or Adagrad (``acc += g * g; w -= lr * g / (sqrt(acc) +
eps)``, in the step's computing dtype) would with the gradients
``__call__(..., return_grads=True)`` reports (rows it does not touch are
unchanged); and ``step`` does not accept arguments that ``__call__`` rejects.
"""
import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import ml_dtypes
    import numpy as np
    import pysampled as ps

FLOATS = ["float32", "float64"]
OTHER_DTYPES = ["float16", "int64", "bool", "object", ">f4", "complex64"]


def shards(g: Gen, n, d, dtype):
    shape = lambda rows: (rows,) if d is None else (rows, d)  # noqa: E731
    if g.chance(1, 2):
        a = g.as_dtype(g.float_values(int(np.prod(shape(n))), -1, 1, (1, 30)), shape(n), dtype)
        return [g.layout(a)], False
    p = g.int(1, 4)
    q, r = divmod(n, p)
    rows = [q + (1 if i < r else 0) for i in range(p)]
    if g.rarely():
        rows[g.int(0, p - 1)] += 1
    out = []
    for k in rows:
        dt = dtype if not g.rarely() else g.dtype(FLOATS, OTHER_DTYPES)
        a = g.as_dtype(g.float_values(int(np.prod(shape(k))), -1, 1, (1, 30)), shape(k), dt)
        out.append(g.layout(a))
    return out, True


def make_sampler(g: Gen, n):
    k = g.int(0, 6)
    rm = g.pick([n, n, n, max(1, n - 1), n + 1, 1])
    seed = g.seed()
    if k == 0:
        return ps.UniformSampler(rm, seed=seed)
    if k == 1:
        return ps.LogUniformSampler(rm, seed=seed)
    if k == 2:
        return ps.LearnedUnigramSampler(rm, seed=seed)
    if k == 3:
        u = [abs(v) + 0.01 for v in g.float_values(rm, 0, 5, (0, 1))]
        return ps.FixedUnigramSampler(rm, unigrams=u, seed=seed, distortion=0.75)
    if k == 4:
        return g.pick(["uniform", object(), 3])
    return None


def labels_for(g: Gen, b, nt, n):
    shape = (b, nt) if not g.rarely() else g.shape()
    lab = g.as_dtype(g.int_values(int(np.prod(shape)), 0, n), shape, g.dtype("int64"))
    if nt == 1 and g.chance(1, 4) and lab.ndim == 2:
        lab = lab.reshape(-1)
    return g.layout(lab)


def sampled_values_for(g: Gen, model, lab, b, nt, n, S):
    k = g.int(0, 5)
    if k == 0:
        return None
    if k == 1:
        with expect():
            return tuple(model.sample(lab))
        return None
    s = S if (S <= 64 and not g.rarely()) else g.size(6)
    sv = g.as_dtype(g.int_values(s, 0, n), (s,), g.dtype("int64"))
    tec = g.as_dtype([abs(v) + 1e-3 for v in g.float_values(b * nt, 0, 1, (0, 1))], (b, nt),
                     g.pick(FLOATS))
    sec = g.as_dtype([abs(v) + 1e-3 for v in g.float_values(s, 0, 1, (0, 1))], (s,),
                     g.pick(FLOATS))
    if g.rarely():
        tec = g.as_dtype([0.5] * 4, g.shape(), g.pick(FLOATS))
    return (g.layout(sv), g.layout(tec), g.layout(sec))


def expected_update(model, pre_w, pre_b, pre_acc, grads, lr, ct):
    """The weight / bias / accumulator shards after one optimizer step, in the
    step's computing dtype `ct` and the documented order (``acc = acc + g*g``
    stored, then ``w - lr*g / (sqrt(acc) + eps)``): a float32 model's g*g can
    overflow to inf where float64 would not (F19)."""
    adagrad = model.optimizer == "adagrad"
    with np.errstate(all="ignore"):
        lr_t, eps_t = ct.type(lr), ct.type(model.epsilon)

        def upd(w, acc, ids, g):
            g = g.astype(ct)
            if adagrad:
                acc[ids] = (acc[ids].astype(ct) + g * g).astype(acc.dtype)
                w[ids] = w[ids] - lr_t * g / (np.sqrt(acc[ids].astype(ct)) + eps_t)
            else:
                w[ids] = w[ids] - lr_t * g

        out_w = [w.astype(ct) for w in pre_w]
        out_b = None if pre_b is None else [b.astype(ct) for b in pre_b]
        acc_w = acc_b = None
        if adagrad:
            acc_w = [a.copy() for a in pre_acc[0]]
            acc_b = None if pre_acc[1] is None else [a.copy() for a in pre_acc[1]]
        for p, sr in enumerate(grads.weights.per_shard()):
            upd(out_w[p], None if acc_w is None else acc_w[p], sr.ids, sr.values)
        if grads.biases is not None:
            for p, sr in enumerate(grads.biases.per_shard()):
                upd(out_b[p], None if acc_b is None else acc_b[p], sr.ids, sr.values)
    return out_w, out_b, acc_w, acc_b


def close(a, b, tol):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = 1 + float(np.abs(np.where(np.isfinite(b), b, 0)).max(initial=0))
    return bool(np.allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True))


def input_dtype(g: Gen, dtype):
    """The inputs' dtype: mostly the model's; with float32 computing a
    quarter of the time bfloat16 (which the kernel reads as it is); rarely
    anything."""
    if g.rarely():
        return g.dtype(FLOATS, OTHER_DTYPES)
    if dtype == "float32" and g.chance(1, 4):
        return ml_dtypes.bfloat16
    return dtype


def do_step(g: Gen, model, dtype, n, d, nt):
    b = g.size(5)
    lab = labels_for(g, b, nt, n)
    xd = input_dtype(g, dtype)
    xshape = (b, d) if not g.rarely() else g.shape()
    x = g.layout(g.as_dtype(g.float_values(int(np.prod(xshape)), -1, 1, (1, 30)), xshape, xd))
    S = model.num_sampled
    sv = sampled_values_for(g, model, lab, b, nt, n, S)
    up = None
    if g.chance(1, 3):
        ushape = (b,) if not g.rarely() else g.shape()
        up = g.layout(g.as_dtype(g.float_values(int(np.prod(ushape)), -1, 2, (0, 1)), ushape,
                                 g.dtype(FLOATS, ["int64", "bool", "object"])))
    lr = None if g.chance(1, 2) else g.pick([0.1, 0.0, 1.0, -0.5, 1e-3, float("nan"), 2.0])
    fl.log("step", lab, x, sampled_values=sv, upstream=up, learning_rate=lr)

    # What __call__ says about these arguments (and the gradients step should apply).
    call = None
    call_error = None
    if sv is not None:
        try:
            call = model(lab, x, sampled_values=sv, return_grads=True, upstream=up)
        except fl.DOCUMENTED as e:
            call_error = e
    pre_w = [np.array(w, copy=True) for w in model.weights]
    pre_b = None if model.biases is None else [np.array(a, copy=True) for a in model.biases]
    acc = model.accumulators
    pre_acc = None if acc is None else ([a.copy() for a in acc[0]],
                                        None if acc[1] is None else [a.copy() for a in acc[1]])
    res = None
    with expect():
        res = model.step(lab, x, learning_rate=lr, upstream=up, sampled_values=sv)
    if res is None:
        for w, pw in zip(model.weights, pre_w):
            check(fl.same(w, pw), "a failed step() changed the weights")
        return
    # F5: step() applies an invalid true_target (<= 0, NaN, inf) that __call__ rejects.
    fl.skip_known(call_error is not None and "true_target" in str(call_error))
    # F6: step(sampled_values=...) does not check len(sampled_candidates) == num_sampled.
    fl.skip_known(call_error is not None and "entries but num_sampled" in str(call_error))
    check(call_error is None, "step() accepted arguments that __call__ rejects",
          repr(call_error), sv)
    check(res.loss.shape == (np.asarray(x).shape[0],), "step loss shape")
    if call is None:
        return
    loss, grads = call
    tol = 1e-9 if res.loss.dtype == np.float64 else 2e-4
    check(close(res.loss, loss, tol), "step() loss differs from __call__", res.loss, loss)
    check(close(res.inputs_grad, grads.inputs, tol), "step() inputs_grad differs from __call__",
          res.inputs_grad, grads.inputs)
    eff_lr = model.learning_rate if lr is None else float(lr)
    if model.hogwild:
        # Contributions are applied one by one (documented): only check that rows
        # without a gradient are untouched.
        for p, (w, pw, sr) in enumerate(zip(model.weights, pre_w, grads.weights.per_shard())):
            keep = np.ones(pw.shape[0], dtype=bool)
            keep[sr.ids] = False
            check(fl.same(np.asarray(w)[keep], pw[keep]), "hogwild step() changed untouched rows",
                  p, w, pw, sr.ids)
        return
    if not np.isfinite(eff_lr):
        return
    want_w, want_b, want_aw, want_ab = expected_update(model, pre_w, pre_b, pre_acc, grads, eff_lr,
                                                         np.dtype(np.float64 if tol < 1e-6
                                                                  else np.float32))
    for p, (w, ww) in enumerate(zip(model.weights, want_w)):
        check(close(w, ww, tol * 10), "weights after step() differ from the optimizer rule",
              model.optimizer, p, w, ww)
    if want_b is not None:
        for p, (bb, wb) in enumerate(zip(model.biases, want_b)):
            check(close(bb, wb, tol * 10), "biases after step() differ from the optimizer rule",
                  model.optimizer, p, bb, wb)
    if want_aw is not None:
        for p, (a, wa) in enumerate(zip(model.accumulators[0], want_aw)):
            check(close(a, wa, tol * 10), "adagrad accumulators differ", p, a, wa)


def do_call(g: Gen, model, dtype, n, d, nt):
    b = g.size(5)
    lab = labels_for(g, b, nt, n)
    x = g.layout(g.as_dtype(g.float_values(b * d, -1, 1, (1, 30)), (b, d), input_dtype(g, dtype)))
    sv = sampled_values_for(g, model, lab, b, nt, n, model.num_sampled)
    rg = g.bool()
    fl.log("call", lab, x, sampled_values=sv, return_grads=rg)
    snapshot = [np.array(w, copy=True) for w in model.weights]
    with expect():
        out = model(lab, x, sampled_values=sv, return_grads=rg)
        loss = out[0] if rg else out
        check(loss.shape == (b,), "__call__ loss shape", loss.shape, b)
    for w, s in zip(model.weights, snapshot):
        check(fl.same(w, s), "__call__ changed the weights")


def do_sample(g: Gen, model, dtype, n, d, nt):
    lab = labels_for(g, g.size(5), nt, n)
    with expect():
        sv = model.sample(lab)
        check(sv.sampled_candidates.shape == (model.num_sampled,), "sample() shape")


def TestOneInput(data):
    g = Gen(data)
    n = g.int(1, 10) if not g.rarely() else g.pick([1, 2, 33])
    d = g.int(1, 5) if not g.rarely() else g.pick([0, 16, 17])
    dtype = g.pick(FLOATS) if not g.rarely() else g.dtype(FLOATS, OTHER_DTYPES)
    fl.skip_known(fl.ASAN and d == 0)  # F14 (see fuzz_losses.py)
    w, _ = shards(g, n, d, dtype)
    b = None
    if g.chance(2, 3):
        b, _ = shards(g, n, None, dtype if not g.rarely() else g.pick(FLOATS))
    weights = w if (len(w) > 1 or g.chance(1, 3)) else w[0]
    biases = b if (b is None or len(b) > 1 or g.chance(1, 3)) else b[0]
    kw = {"num_sampled": g.int_arg(4)}
    if g.chance(1, 2):
        kw["loss"] = g.pick(["sampled_softmax", "nce", "nce", "softmax"])
    if g.chance(1, 3):
        kw["num_true"] = g.int_arg(2)
    sampler = None
    if g.chance(1, 2):
        with expect():
            sampler = make_sampler(g, n)
        if sampler is not None:
            kw["sampler"] = sampler
    for flag in ["unique", "remove_accidental_hits", "subtract_log_q", "hogwild",
                 "mask_all_duplicates"]:
        if g.chance(1, 3):
            kw[flag] = g.bool() if not g.rarely() else g.flag()
    if g.chance(1, 3):
        kw["partition_strategy"] = g.pick(["mod", "div", "div", "bad"])
    if g.chance(1, 2):
        kw["optimizer"] = g.pick(["sgd", "adagrad", "adagrad", "adam"])
    if g.chance(1, 3):
        kw["learning_rate"] = g.pick([0.1, 1.0, 0.0, -1.0, 1e-3, float("nan"), "0.1"])
    if g.chance(1, 4):
        kw["initial_accumulator_value"] = g.pick([0.1, 1.0, 0.0, -1.0, float("nan"), 1e-30])
    if g.chance(1, 4):
        kw["epsilon"] = g.pick([1e-7, 0.0, 1.0, -1.0, float("nan")])
    if g.chance(1, 4):
        kw["num_threads"] = g.pick([1, 2, -1, None, 0])
    if g.chance(1, 4):
        kw["seed"] = g.seed()
    if g.chance(1, 4):
        kw["true_target"] = g.pick([None, 1.0, 0.5, 0.0, -1.0, float("nan"), float("inf")])
    if g.chance(1, 4):
        kw["grad_precision"] = g.pick(["float32", "bfloat16", "bfloat16", "bf16"])
        if kw["grad_precision"] == "bfloat16" and g.chance(1, 2):
            # bfloat16 rows (every shard, as the model requires one dtype)
            cast = lambda a: np.asarray(a, dtype=np.float32).astype(ml_dtypes.bfloat16)  # noqa: E731
            with expect():
                weights = [cast(a) for a in weights] if isinstance(weights, list) else cast(weights)
                if biases is not None:
                    biases = [cast(a) for a in biases] if isinstance(biases, list) else cast(biases)
    fl.log("SampledLoss", weights, biases, **kw)
    model = None
    with expect():
        model = ps.SampledLoss(weights, biases, **kw)
    if model is None:
        return
    nt = model.num_true
    if nt > 4:
        return
    fl.skip_known(model.unique and fl.slow_unique(model.sampler, model.num_sampled))
    for _ in range(g.int(1, 4)):
        if g.remaining() == 0:
            break
        op = g.pick([do_step, do_step, do_call, do_sample])
        op(g, model, dtype, n, d, nt)


if __name__ == "__main__":
    fl.main(TestOneInput)
