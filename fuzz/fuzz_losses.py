"""Fuzz the sampled-loss functions.

Covers ``nce_loss``, ``sampled_softmax_loss``, ``sampled_sparse_softmax_loss``,
``compute_sampled_logits`` and ``rank_sampled_softmax_loss`` with random problem sizes (batch, dim,
classes, ``num_true``, ``num_sampled``, including 0 and edge values),
``inputs`` / weights / biases of any dtype (float16/32/64, bfloat16, mixed, ints, bool,
object, big-endian) and layout (non-contiguous, strided rows, reversed,
read-only, broadcast, unaligned, plain lists), weights and biases as one
array or as shard lists in canonical and non-canonical ``mod`` / ``div``
layouts, labels and sampled ids in range, negative or huge, malformed
``sampled_values``, NaN / inf values, every flag (``remove_accidental_hits``,
``subtract_log_q``, ``mask_all_duplicates``, ``return_grads``, ``upstream``,
``true_target``, ``num_threads``, ``partition_strategy``) and the default
sampler (``sampled_values=None`` with seeds). TF drop-in inputs (issue 9):
``true_expected_count`` / ``sampled_expected_count`` in every shape TF
broadcasts, labels as floats (integral or not), ``num_sampled`` different
from the number of explicit candidates, and the rank loss's own arguments
(``num_resampled``, ``resampling_temperature``, a required strategy).

Oracles: output shapes and dtypes; weights and biases are never written;
and, for finite moderate inputs with explicit ``sampled_values``, losses,
logits and gradients agree with the plain-NumPy reference implementation
``tests/oracles/losses.py`` (which is proved against TensorFlow's goldens);
for the rank loss only where the kept candidates are not a near tie.
"""

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import ml_dtypes  # noqa: F401  (registers the "bfloat16" dtype name)
    import numpy as np
    import pysampled as ps


ref = fl.oracle("losses")
FLOATS = ["float32", "float64"]
PARAM_DTYPES = FLOATS * 6 + ["bfloat16"] * 3 + [
    "float16", "int64", "bool", "object", ">f4", ">f8", "int32", "complex64", "longdouble"]
DIMS = [0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33]


def dim(g: Gen):
    return g.pick(DIMS) if g.chance(1, 4) else g.int(1, 4)


def canonical_rows(n, p, strategy):
    q, r = divmod(n, p)
    return [q + (1 if i < r else 0) for i in range(p)]  # the same for "mod" and "div"


def param(g: Gen, n, d, dtype, moderate):
    """A [n, d] (or [n] when d is None) parameter array with its values."""
    shape = (n,) if d is None else (n, d)
    count = int(np.prod(shape))
    vals = g.float_values(count, -2.0, 2.0, p_edge=(0, 1) if moderate else (1, 8))
    return g.as_dtype(vals, shape, dtype)


def sharded(g: Gen, n, d, moderate):
    """(object passed as weights/biases, list of shard arrays as passed, strategy hint)."""
    dtype = g.dtype(FLOATS, PARAM_DTYPES)
    if g.chance(1, 2):
        arr = g.layout(param(g, n, d, dtype, moderate))
        return arr, [arr], 1
    p = g.int(1, 4)
    rows = canonical_rows(n, p, None)
    if g.chance(1, 8):  # non-canonical layout
        i = g.int(0, p - 1)
        rows[i] = max(0, rows[i] + g.pick([-1, 1, 2]))
    shards = []
    for r in rows:
        dt = dtype if not g.rarely() else g.dtype(FLOATS, PARAM_DTYPES)
        dd = d if (d is None or not g.rarely()) else d + 1
        shards.append(g.layout(param(g, r, dd, dt, moderate),
                               None if g.chance(2, 3) else g.pick(fl.LAYOUTS)))
    return (shards if g.chance(4, 5) else tuple(shards)), shards, p


def finite_moderate(*arrays):
    for a in arrays:
        try:
            x = np.asarray(a)
            if x.dtype.kind not in "fiu" or x.dtype.itemsize > 8:
                return False
            x = x.astype(np.float64)
        except Exception:
            return False
        if x.size and not (np.isfinite(x).all() and np.abs(x).max() <= 10):
            return False
    return True


def as_f(a):
    return np.asarray(a)


def dense_from_ref(ref_grads, shards, strategy):
    """Global dense gradient from the reference's per-shard dense list."""
    gl = ref_grads if isinstance(ref_grads, list) else [ref_grads]
    rows = [np.asarray(s).shape[0] for s in shards]
    n = sum(rows)
    shard, row = ref.route(np.arange(n), rows, strategy)
    out = np.zeros((n,) + gl[0].shape[1:], dtype=np.float64)
    for i in range(n):
        out[i] = gl[shard[i]][row[i]]
    return out


def TestOneInput(data):
    g = Gen(data)
    fn_name = g.pick(["nce", "softmax", "sparse", "logits", "rank"])
    moderate = g.chance(3, 4)
    B, D = g.size(6), dim(g)
    N = g.int(1, 12) if g.chance(7, 8) else g.pick([1, 2, 40, 100])
    if fn_name == "rank" and not g.chance(1, 4):  # (also once the input is exhausted)
        N = max(N, 8)  # room for num_sampled > num_resampled >= 1
    num_true = 1 if fn_name == "sparse" else g.int_arg(3)
    nt = num_true if type(num_true) is int and 1 <= num_true <= 4 else 1

    xdtype = g.dtype(FLOATS, PARAM_DTYPES)
    x = g.as_dtype(g.float_values(B * D, -2, 2, p_edge=(0, 1) if moderate else (1, 8)), (B, D),
                   xdtype)
    if g.chance(1, 12):
        x = g.as_dtype([0.5] * 8, g.shape(3, 4), xdtype)
    x = g.layout(x, None if g.chance(1, 3) else "c")

    weights, w_shards, wp = sharded(g, N, D, moderate)
    bias_kind = g.int(0, 3)
    if bias_kind == 0:
        biases, b_shards, bp = None, None, 0
    else:
        biases, b_shards, bp = sharded(g, N, None, moderate)
    strategy = g.pick(["mod", "div", "mod", "div", "bad", None, "MOD"])

    lshape = (B, nt) if not g.rarely() else g.shape()
    labels = g.as_dtype(g.int_values(int(np.prod(lshape)), 0, N), lshape, g.dtype("int64"))
    if nt == 1 and g.chance(1, 4):
        labels = labels.reshape(-1) if labels.ndim == 2 else labels
    labels = g.layout(labels, None if g.chance(1, 4) else "c")
    if g.chance(1, 10):  # TF casts float labels; fractional ones raise here
        labels = np.asarray(labels).astype(g.pick(["float64", "float32", "float16"]))
        if g.chance(1, 3) and labels.size:
            labels.flat[0] = g.pick([0.5, np.nan, np.inf, -1.5, 2.0**70])

    explicit = g.chance(2, 3)
    num_sampled = g.int_arg(6)
    if fn_name == "rank" and not g.chance(1, 4):  # (also once the input is exhausted)
        num_sampled = g.int(2, 6)
    S = num_sampled if type(num_sampled) is int and 0 <= num_sampled <= 64 else g.int(0, 5)
    if explicit:
        sampled = g.as_dtype(g.int_values(S, 0, N), (S,), g.dtype("int64"))
        tec = g.as_dtype([abs(v) + 1e-3 for v in g.float_values(B * nt, 0, 2, (0, 1))], (B, nt),
                         g.pick(FLOATS))
        sec = g.as_dtype([abs(v) + 1e-3 for v in g.float_values(S, 0, 2, (0, 1))], (S,),
                         g.pick(FLOATS))
        if not moderate:
            if g.chance(1, 3):
                tec = g.as_dtype(g.float_values(B * nt, -1, 2, (1, 2)), (B, nt), g.pick(FLOATS))
            if g.chance(1, 3):
                sec = g.as_dtype(g.float_values(S, -1, 2, (1, 2)), (S,), g.pick(FLOATS))
        if g.chance(1, 6):  # the shapes TF broadcasts (and some it does not)
            tshape = g.pick([(), (1,), (nt,), (1, nt), (B, 1), (1, 1), (B,), (1, B, nt)])
            tec = g.as_dtype([0.25 + 0.5 * (i % 3) for i in range(int(np.prod(tshape)))],
                             tshape, g.pick(FLOATS))
        if g.chance(1, 6):
            sshape = g.pick([(), (1,), (1, S), (1, 1), (B, S), (S, 1)])
            sec = g.as_dtype([0.125 + 0.25 * (i % 4) for i in range(int(np.prod(sshape)))],
                             sshape, g.pick(FLOATS))
        sampled_values = (g.layout(sampled), g.layout(tec), g.layout(sec))
        if g.chance(1, 16):
            sampled_values = g.pick([sampled_values[:2], list(sampled_values), 5, "abc",
                                     sampled_values + (None,), (sampled, None, None),
                                     ps.CandidateSample(*sampled_values)])
    else:
        sampled_values = None
    if fn_name == "rank":
        num_classes = N if not g.chance(1, 8) else g.int_arg(12)
    else:
        num_classes = N if g.chance(7, 8) else g.int_arg(12)

    kw = {}
    for flag in ["remove_accidental_hits", "mask_all_duplicates"]:
        if g.chance(1, 2):
            kw[flag] = g.flag() if g.chance(1, 4) else g.bool()
    if fn_name == "logits" and g.chance(1, 2):
        kw["subtract_log_q"] = g.bool()
    if fn_name == "nce" and g.chance(1, 3):
        kw["true_target"] = g.pick([None, 1.0, 0.5, 0.0, -1.0, float("nan"), float("inf"), 2.0,
                                    "1", np.float32(1)])
    kw["return_grads"] = g.bool()
    if g.chance(1, 3):
        ushape = (B, nt + S) if fn_name == "logits" else (B,)
        if g.chance(1, 10):
            ushape = g.shape()
        kw["upstream"] = g.layout(g.as_dtype(g.float_values(int(np.prod(ushape)), -2, 2, (0, 1)),
                                             ushape, g.pick(FLOATS + ["int64", "bool"])))
    if g.chance(1, 4):
        kw["num_threads"] = g.pick([1, 2, -1, None, 0, 3, -3, 2**31, 1.0])
    if g.chance(1, 2):
        kw["partition_strategy"] = strategy
    seed = g.seed() if not explicit else None
    if seed is not None:
        kw["seed"] = seed

    # F14: with dim 0 the kernel calls memcpy(dst, NULL + offset, 0) (UBSan reports it).
    fl.skip_known(fl.ASAN and D == 0 and B > 0)
    fn = {"nce": ps.nce_loss, "softmax": ps.sampled_softmax_loss,
          "sparse": ps.sampled_sparse_softmax_loss, "logits": ps.compute_sampled_logits,
          "rank": ps.rank_sampled_softmax_loss}[fn_name]
    num_resampled = temperature = None
    if fn_name == "rank":
        num_resampled = (g.int(1, max(1, S - 1)) if not g.chance(1, 4)
                         else g.int(0, 4) if g.chance(7, 8) else g.int_arg(6))
        temperature = g.pick([1.0, 0.5, 2.0, 0.05, 10.0, -1.0, 0.0, float("nan"), "2"])
        kw.pop("true_target", None)
        kw.pop("subtract_log_q", None)
        strategy_r = kw.pop("partition_strategy", g.pick(["div", "mod"]))
        rah_r = kw.pop("remove_accidental_hits", g.bool())
        args = (weights, biases, labels, x, num_sampled, num_resampled, num_classes, num_true,
                sampled_values, temperature, rah_r, strategy_r)
        fl.log(fn_name, *args, **kw)
        run_rank(g, fn, args, kw, w_shards, b_shards, explicit, moderate)
        return
    if fn_name == "sparse":
        args = (weights, biases, labels, x, num_sampled, num_classes)
    else:
        args = (weights, biases, labels, x, num_sampled, num_classes, num_true)
    fl.log(fn_name, *args, sampled_values=sampled_values, **kw)

    snapshot = [np.array(a, copy=True) for a in (w_shards or []) + (b_shards or [])
                if isinstance(a, np.ndarray)]
    out = None
    with expect():
        out = fn(*args, sampled_values=sampled_values, **kw)
    # Never written, even on failure.
    for a, b in zip([a for a in (w_shards or []) + (b_shards or []) if isinstance(a, np.ndarray)],
                    snapshot):
        check(fl.same(a, b), "a loss function wrote to its parameters")
    if out is None:
        return

    # ---- the call succeeded: check the outputs
    xa = np.asarray(x)
    dt = xa.dtype
    B, D = xa.shape  # the generated shape may have been replaced by an odd one
    nt = int(num_true)
    grads = None
    if fn_name == "logits":
        logits, out_labels = out[0], out[1]
        grads = out[2] if kw["return_grads"] else None
        S_eff = logits.shape[1] - nt
        check(logits.shape == (B, nt + S_eff) and logits.dtype == dt, "logits shape/dtype",
              logits.shape, logits.dtype, (B, nt))
        check(out_labels.shape == logits.shape, "labels shape")
        main = logits
    else:
        loss = out[0] if kw["return_grads"] else out
        grads = out[1] if kw["return_grads"] else None
        check(isinstance(loss, np.ndarray) and loss.shape == (B,) and loss.dtype == dt,
              "loss shape/dtype", getattr(loss, "shape", None), getattr(loss, "dtype", None))
        main = loss
    if grads is not None:
        check(grads.inputs.shape == (B, D) and grads.inputs.dtype == dt, "dx shape/dtype")
        ids = grads.weights.ids
        check(ids.ndim == 1 and (np.diff(ids) > 0).all(), "grad ids not sorted/unique", ids)
        NW = sum(np.asarray(a).shape[0] for a in w_shards)
        check(ids.size == 0 or (ids[0] >= 0 and ids[-1] < NW), "grad ids out of range", ids, NW)
        check(grads.weights.values.shape == (ids.size, D), "grad rows shape")
        w0 = w_shards[0]
        wdt = w0.dtype if isinstance(w0, np.ndarray) else np.asarray(w0).dtype
        if wdt not in (np.float32, np.float64, np.dtype("bfloat16")):
            wdt = np.dtype(np.float64)  # lists of numbers become float64
        check(grads.weights.values.dtype == wdt, "grad dtype != weights dtype",
              grads.weights.values.dtype, wdt)
        check((biases is None) == (grads.biases is None), "bias grads presence")
        # per_shard must route every row to a valid local row
        for p, sr in enumerate(grads.weights.per_shard()):
            check(sr.ids.size == 0 or (sr.ids.min() >= 0 and sr.ids.max() < sr.num_rows),
                  "per_shard local ids out of range", p, sr.ids, sr.num_rows)

    # ---- differential check against the reference implementation
    if not (explicit and moderate and isinstance(sampled_values, tuple)
            and len(sampled_values) == 3):
        return
    sv, tc, sc = sampled_values
    if not kw.get("subtract_log_q", True):  # expected counts are not even looked at
        tc, sc = np.ones((B, nt)), np.ones(len(sv))
    w_list = [np.asarray(a) for a in w_shards]
    if not finite_moderate(xa, tc, sc, *w_list, *(b_shards or [])):
        return
    if any(np.asarray(a).dtype.kind != "f" for a in [xa] + w_list + list(b_shards or [])):
        return
    b_obj = biases
    b_list = b_shards
    if biases is None:
        b_list = [np.zeros(np.asarray(a).shape[0], dtype=np.asarray(a).dtype) for a in w_list]
        b_obj = b_list if isinstance(weights, (list, tuple)) else b_list[0]
    strat = kw.get("partition_strategy", "mod")
    w_obj = [np.asarray(a) for a in w_list] if isinstance(weights, (list, tuple)) else w_list[0]
    b_obj = [np.asarray(a) for a in b_list] if isinstance(b_obj, (list, tuple)) else \
        np.asarray(b_list[0])
    lab = np.asarray(labels).astype(np.int64).reshape(B, nt)
    tc = np.broadcast_to(np.asarray(tc), (B, nt))  # the call accepted TF's broadcast
    sc = np.broadcast_to(np.asarray(sc).reshape(-1) if np.ndim(sc) == 2 else np.asarray(sc),
                         (len(sv),))
    rah = bool(kw.get("remove_accidental_hits", fn_name != "nce" and fn_name != "logits"))
    mad = bool(kw.get("mask_all_duplicates", False))
    up = kw.get("upstream")
    all64 = all(np.asarray(a).dtype == np.float64 for a in [xa] + w_list + list(b_list))
    tol = 1e-9 if all64 else 2e-3
    common = dict(remove_accidental_hits=rah, partition_strategy=strat, all_duplicates=mad)
    r_args = (w_obj, b_obj, lab, xa, np.asarray(sv).astype(np.int64), np.asarray(tc),
              np.asarray(sc))
    if fn_name == "nce":
        target = kw.get("true_target")
        if target is not None:
            return  # the reference models TF's 1/num_true targets only
        r = ref.nce_loss_grads(*r_args, np.ones(B) if up is None else np.asarray(up), **common)
    elif fn_name in ("softmax", "sparse"):
        r = ref.sampled_softmax_loss_grads(*r_args, np.ones(B) if up is None else np.asarray(up),
                                           **common)
    else:
        R = np.ones((B, nt + len(sv))) if up is None else np.asarray(up)
        r = ref.sampled_logits_grads(*r_args, R, subtract_log_q=bool(kw.get("subtract_log_q", True)),
                                     **common)
    want = r["logits"] if fn_name == "logits" else r["loss"]
    lg = np.abs(r["logits"])
    scale = 1 + float(np.where(lg > 1e30, 0, lg).max(initial=0)) * (nt + len(sv))
    check(np.allclose(main, want, rtol=tol, atol=tol * scale, equal_nan=True),
          "result differs from the reference", fn_name, main, want)
    if grads is None:
        return
    # Bounds of the sums behind each gradient entry (cancellation makes results tiny).
    umax = 1 + (0 if up is None else float(np.abs(np.asarray(up, dtype=np.float64)).max(initial=0)))
    xmax = float(np.abs(xa).max(initial=0))
    wmax = max([float(np.abs(np.asarray(a, dtype=np.float64)).max(initial=0)) for a in w_list])
    terms = (B * nt + len(sv)) * umax
    gscale = 1 + terms * wmax
    check(np.allclose(grads.inputs, r["inputs"], rtol=tol, atol=tol * gscale),
          "inputs gradient differs from the reference", grads.inputs, r["inputs"])
    gw = grads.weights.to_dense().astype(np.float64)
    want_w = dense_from_ref(r["weights"], w_list, strat if len(w_list) > 1 else "mod")
    wscale = 1 + terms * xmax
    check(np.allclose(gw, want_w, rtol=tol, atol=tol * wscale),
          "weights gradient differs from the reference", gw, want_w)
    if grads.biases is not None:
        gb = grads.biases.to_dense().astype(np.float64)
        want_b = dense_from_ref(r["biases"], b_list, strat if len(b_list) > 1 else "mod")
        bscale = 1 + terms
        check(np.allclose(gb, want_b, rtol=tol, atol=tol * bscale),
              "biases gradient differs from the reference", gb, want_b)


def run_rank(g, fn, args, kw, w_shards, b_shards, explicit, moderate):
    """rank_sampled_softmax_loss: invariants, and the NumPy oracle away from near ties."""
    snapshot = [np.array(a, copy=True) for a in (w_shards or []) + (b_shards or [])
                if isinstance(a, np.ndarray)]
    out = None
    with expect():
        out = fn(*args, **kw)
    for a, b in zip([a for a in (w_shards or []) + (b_shards or []) if isinstance(a, np.ndarray)],
                    snapshot):
        check(fl.same(a, b), "rank loss wrote to its parameters")
    if out is None:
        return
    (weights, biases, labels, x, num_sampled, num_resampled, num_classes, num_true,
     sampled_values, temperature, rah, strategy) = args
    xa = np.asarray(x)
    B = xa.shape[0]
    loss = out[0] if kw.get("return_grads") else out
    check(loss.shape == (B,) and loss.dtype == xa.dtype, "rank loss shape/dtype", loss.shape)
    check(int(num_resampled) < int(num_sampled) <= int(num_classes), "rank accepted bad sizes",
          num_sampled, num_resampled, num_classes)
    check(strategy in ("div", "mod"), "rank accepted a strategy TF refuses", strategy)
    if not (explicit and moderate and isinstance(sampled_values, tuple)
            and len(sampled_values) == 3 and biases is not None
            and not kw.get("mask_all_duplicates")):
        return
    sv, tc, sc = sampled_values
    w_list, b_list = [np.asarray(a) for a in w_shards], [np.asarray(a) for a in b_shards]
    arrays = [xa, tc, sc] + w_list + b_list
    if not finite_moderate(*arrays) or any(np.asarray(a).dtype.kind != "f" for a in arrays):
        return
    if any(np.asarray(a).dtype != xa.dtype for a in w_list + b_list):
        return
    nt = int(num_true)
    if (B == 0 or np.shape(tc) != (B, nt) or np.shape(sc) != (len(sv),)
            or not 0 < num_resampled < len(sv)):
        return
    full_w = dense_from_ref(w_list, w_list, strategy if len(w_list) > 1 else "mod")
    full_b = dense_from_ref(b_list, b_list, strategy if len(b_list) > 1 else "mod")
    lab = np.asarray(labels).astype(np.int64).reshape(B, nt)
    ids = np.asarray(sv).astype(np.int64)
    t = float(temperature)
    _, _, _, scores = ref.rank_resample(full_w.astype(xa.dtype), full_b.astype(xa.dtype), xa,
                                        ids, np.asarray(sc), num_resampled, t)
    top = np.sort(scores)[::-1]
    if abs(top[num_resampled - 1] - top[num_resampled]) <= 1e-3 * (1 + abs(top[0])):
        return  # a near tie: float rounding may pick either candidate
    up = kw.get("upstream")
    up = np.ones(B) if up is None else np.asarray(up, dtype=np.float64)
    if up.shape != (B,):
        return
    r = ref.rank_sampled_softmax_loss_grads(
        full_w.astype(xa.dtype), full_b.astype(xa.dtype), lab, xa, ids, np.asarray(tc),
        np.asarray(sc), up, num_resampled, t, bool(rah), "mod")
    tol = 1e-9 if xa.dtype == np.float64 else 2e-3
    want = r["loss"]
    check(np.allclose(loss, want, rtol=tol, atol=tol * (1 + float(np.abs(want).max(initial=0)))),
          "rank loss differs from the reference", loss, want)
    if kw.get("return_grads"):
        gx = out[1].inputs
        scale = 1 + float(np.abs(r["inputs"]).max(initial=0)) + float(np.abs(up).max()) * len(ids)
        check(np.allclose(gx, r["inputs"], rtol=tol, atol=tol * scale),
              "rank inputs gradient differs from the reference", gx, r["inputs"])


if __name__ == "__main__":
    fl.main(TestOneInput)
