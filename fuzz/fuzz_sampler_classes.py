"""Fuzz the sampler classes and their methods.

Constructs ``UniformSampler``, ``LogUniformSampler``, ``LearnedUnigramSampler``
or ``FixedUnigramSampler`` (fuzzed ``range_max``, seed, unigram options) and
runs a fuzzed sequence of operations on it: ``sample`` (any ``true_classes``,
``num_sampled``, ``unique``, ``num_true``), ``sample_bulk`` (``size`` as int
/ tuple / NumPy ints / negative / huge, ``out`` arrays of any dtype, layout,
read-only), ``probability`` (ids of any dtype, negative, huge),
``get_state`` / ``set_state`` (valid, mutated and malformed states, learned
counts), ``update`` / ``counts``, ``reset``, ``copy`` / ``copy.deepcopy`` /
``pickle`` round trips.

Oracles: a copy (any of the three ways) and a state restored into a fresh
sampler draw exactly what the original draws; ``reset`` gives the draws of a
fresh sampler; ``sample_bulk`` is identical for 1 and 2 threads; draws lie in
``[0, range_max)`` and have positive probability; probabilities are float32
in [0, 1], 0 outside the range, and sum to 1 over a small range.
"""
import copy
import pickle

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps

KINDS = ["uniform", "log_uniform", "learned_unigram", "fixed_unigram"]
CLASSES = {
    "uniform": ps.UniformSampler,
    "log_uniform": ps.LogUniformSampler,
    "learned_unigram": ps.LearnedUnigramSampler,
    "fixed_unigram": ps.FixedUnigramSampler,
}
OPS = ["sample", "sample", "bulk", "bulk", "prob", "state", "set_state_bad", "copy", "pickle",
       "reset", "update", "set_counts", "props"]


def make(g: Gen):
    kind = g.pick(KINDS)
    if kind == "learned_unigram":
        # range_max allocates 8 bytes per class: keep it small or absurd (>= 2**40).
        range_max = g.int_arg(20) if (g.chance(7, 8) or fl.ASAN) else \
            g.pick([2**40, 2**62, 2**63 - 1, 2**64])
    else:
        range_max = g.int_arg(20)
    seed = g.seed()
    kw = {}
    if kind == "fixed_unigram":
        rm = range_max if type(range_max) is int and 0 <= range_max <= 64 else g.int(0, 5)
        n = g.pick([rm, rm, rm, g.size(8)])
        if g.chance(3, 4):
            vals = [abs(v) for v in g.float_values(n, 0.0, 50.0)]
        else:
            vals = g.float_values(n, -1.0, 50.0, p_edge=(1, 3))
        u = g.layout(g.as_dtype(vals, (n,), g.dtype(["float32", "float64", "int32"],
                                                    ["float16", "object", "bool"])))
        kw["unigrams"] = u
        if g.chance(1, 3):
            kw["distortion"] = g.pick([0.75, 0.0, 2.0, -0.5, float("nan"), 40.0, 1e-3])
        if g.chance(1, 4):
            kw["num_reserved_ids"] = g.int_arg(3, lo=0)
        if g.chance(1, 4):
            kw["num_shards"] = g.int_arg(3)
            kw["shard"] = g.int_arg(2, lo=0)
        if g.chance(1, 4):
            kw["correct_reserved_ids"] = g.flag()
    return kind, range_max, seed, kw


def true_classes(g: Gen, range_max, num_true=None):
    rm = range_max if range_max <= 10**6 else 10**6
    nt = num_true if type(num_true) is int and 0 <= num_true <= 5 else g.int(0, 3)
    shape = (g.size(5), nt) if not g.rarely() else g.shape()
    vals = g.int_values(int(np.prod(shape)), 0, rm)
    return g.layout(g.as_dtype(vals, shape, g.dtype("int64")))


def same_draws(a, b, what):
    r1 = a.sample_bulk(7, num_threads=1)
    r2 = b.sample_bulk(7, num_threads=1)
    check(np.array_equal(r1, r2), f"{what}: streams differ (sample_bulk)", r1, r2)
    if a.range_max >= 2:
        tc = np.zeros((1, 1), dtype=np.int64)
        s1 = a.sample(tc, 2, unique=False)
        s2 = b.sample(tc, 2, unique=False)
        for x, y in zip(s1, s2):
            check(np.array_equal(x, y, equal_nan=True), f"{what}: streams differ (sample)", x, y)
    if isinstance(a, ps.LearnedUnigramSampler):
        check(np.array_equal(a.counts, b.counts), f"{what}: learned counts differ")


def drawn_ok(s, values, kind):
    values = np.asarray(values)
    check(values.dtype == np.int64, "draws are not int64", values.dtype)
    if values.size == 0:
        return
    check(values.min() >= 0 and values.max() < s.range_max, "draw out of [0, range_max)",
          values, s.range_max)
    p = s.probability(values.reshape(-1))
    ok = p > 0
    if kind == "log_uniform":
        ok |= values.reshape(-1) >= 2**53  # TF's formula is exactly 0 in double there
    check(ok.all(), "drew a value of probability 0", values, p)


def op_sample(g, s, kind):
    num_true = g.int_arg(3)
    tc = true_classes(g, s.range_max, num_true)
    num_sampled = g.int_arg(10)
    unique = g.flag()
    nt_arg = g.pick([None, None, num_true, g.int_arg(3)])
    fl.log("sample", tc, num_sampled, unique, nt_arg)
    fl.skip_known(bool(unique) and fl.slow_unique(s, num_sampled))
    before = s.counts if kind == "learned_unigram" else None
    with expect():
        r = s.sample(tc, num_sampled, unique, num_true=nt_arg)
        tca = np.asarray(tc)
        sampled, tec, sec = r
        check(sampled.shape == (int(num_sampled),) and tec.shape == tca.shape, "shapes",
              sampled.shape, tec.shape, tca.shape)
        drawn_ok(s, sampled, kind)
        if bool(unique):
            check(np.unique(sampled).size == sampled.size, "duplicates with unique=True", sampled)
        check(np.isfinite(sec).all() and np.isfinite(tec).all() and (tec >= 0).all()
              and (sec >= 0).all(), "bad expected counts", tec, sec)
        if before is not None:  # the draw's true classes are learned afterwards
            # learning stops once the total reaches 2**63 - 1 (saturates: no overflow)
            learned = tca.astype(np.int64).reshape(-1)
            room = (2**63 - 1) - sum(int(c) for c in before)
            want = before + np.bincount(learned[:max(0, room)], minlength=s.range_max)
            check(np.array_equal(s.counts, want), "learned counts after sample", s.counts, want)


def op_bulk(g, s, kind):
    threads = g.pick([None, 1, 2, -1, 0, -2, 2**40, True, 1.0])
    if g.chance(2, 3):
        size = g.pick([g.size(50), g.size(5), (g.size(4), g.size(4)), (), [3, 2], np.int32(5),
                       np.array(4), -1, (2, -1), 2**62, 2**63, (2**31, 2**31), 3.0, "4", None,
                       (np.uint8(3),), (1.5,), 2**31])
        fl.log("bulk", size, threads)
        with expect():
            a = s.copy()
            out = s.sample_bulk(size, num_threads=threads)
            drawn_ok(s, out, kind)
            ref = a.sample_bulk(size, num_threads=1)
            check(np.array_equal(out, ref), "sample_bulk depends on num_threads", out, ref)
    else:
        shape = g.shape(3, 8)
        dtype = g.dtype("int64")
        out = g.layout(g.as_dtype([0] * int(np.prod(shape)), shape, dtype))
        fl.log("bulk out", out, threads)
        with expect():
            res = s.sample_bulk(None, num_threads=threads, out=out)
            check(res is out, "sample_bulk(out=...) did not return out")
            drawn_ok(s, out, kind)


def op_prob(g, s, kind):
    shape = g.shape(3, 6)
    vals = g.int_values(int(np.prod(shape)), -2, min(s.range_max, 10**6) + 2)
    ids = g.layout(g.as_dtype(vals, shape, g.dtype("int64")))
    fl.log("prob", ids)
    with expect():
        p = s.probability(ids)
        ia = np.asarray(ids).astype(np.int64)
        check(p.dtype == np.float32 and p.shape == ia.shape, "probability dtype/shape", p.dtype,
              p.shape, ia.shape)
        check(((p >= 0) & (p <= 1)).all(), "probability outside [0, 1]", ia, p)
        outside = (ia < 0) | (ia >= s.range_max)
        check((p[outside] == 0).all(), "nonzero probability outside the range", ia, p)
    if s.range_max <= 4096:
        total = float(s.probability(np.arange(s.range_max)).astype(np.float64).sum())
        check(abs(total - 1) < 1e-3, "probabilities do not sum to 1", total, s.range_max)


def op_state(g, s, kind):
    st = s.get_state()
    fresh = make_like(s)
    fresh.set_state(st)
    same_draws(s, fresh, "get_state/set_state")


def op_set_state_bad(g, s, kind):
    st = s.get_state()
    gen = list(st["generator"])
    k = g.int(0, 9)
    if k == 0:
        gen = gen[:g.int(0, 7)]
    elif k == 1:
        gen = gen + [0]
    elif k <= 5:
        gen[g.int(0, 5)] = g.pick(fl.INT_EDGES + [1.5, "3", None, np.uint64(7), True])
    elif k == 6:
        st = g.pick([{}, {"generator": None}, {"generator": "abcdef"}, None, [], 3])
    elif k == 7:
        gen = np.array(gen, dtype=g.pick(["uint32", "int64", "float64", "uint64", "object"]))
    if isinstance(st, dict) and "generator" in st and k not in (6,):
        st = dict(st, generator=gen)
    if kind == "learned_unigram" and isinstance(st, dict) and g.chance(1, 2):
        n = g.pick([s.range_max, s.range_max, g.size(6)])
        vals = g.int_values(n, 0, 5)
        st = dict(st, counts=g.layout(g.as_dtype(vals, (n,) if g.chance(7, 8) else g.shape(),
                                                 g.dtype("int64"))))
    fl.log("set_state", st)
    # F3: LearnedUnigramSampler.set_state(non-dict) raises AttributeError (others: TypeError).
    fl.skip_known(kind == "learned_unigram" and not isinstance(st, dict))
    with expect(*fl.DOCUMENTED, KeyError):
        s.set_state(st)
        if kind == "learned_unigram":
            c = s.counts
            check((c >= 0).all() and c.sum() > 0, "invalid learned counts accepted", c)
        drawn_ok(s, s.sample_bulk(5), kind)


def op_copy(g, s, kind):
    how = g.int(0, 2)
    c = s.copy() if how == 0 else copy.copy(s) if how == 1 else copy.deepcopy(s)
    same_draws(s, c, "copy")


def op_pickle(g, s, kind):
    c = pickle.loads(pickle.dumps(s, protocol=g.int(0, pickle.HIGHEST_PROTOCOL)))
    check(type(c) is type(s) and c.range_max == s.range_max, "pickle: type/range")
    same_draws(s, c, "pickle")
    if s.seed is None:
        return
    c.reset()
    s2 = make_like(s)
    s2.reset()
    same_draws(c, s2, "pickle then reset")


def op_reset(g, s, kind):
    s.reset()
    if s.seed is not None:
        fresh = make_like(s)
        same_draws(s, fresh, "reset vs fresh")


def op_update(g, s, kind):
    shape = g.shape(2, 5)
    vals = g.int_values(int(np.prod(shape)), 0, min(s.range_max, 10**6))
    ids = g.layout(g.as_dtype(vals, shape, g.dtype("int64")))
    fl.log("update", ids)
    if kind != "learned_unigram":
        with expect(AttributeError):
            s.update(ids)
        return
    before = s.counts
    with expect():
        s.update(ids)
        want = before + np.bincount(np.asarray(ids).astype(np.int64).reshape(-1),
                                    minlength=s.range_max)
        check(np.array_equal(s.counts, want), "counts after update", s.counts, want)


def op_set_counts(g, s, kind):
    if kind != "learned_unigram":
        return
    n = g.pick([s.range_max] * 4 + [g.size(5)])
    vals = [abs(v) if g.chance(3, 4) else v for v in g.int_values(n, 0, 4)]
    counts = g.layout(g.as_dtype(vals, (n,), g.dtype("int64")))
    fl.log("set counts", counts)
    st = dict(s.get_state(), counts=counts)
    with expect():
        s.set_state(st)
        c = s.counts
        check(np.array_equal(c, np.asarray(counts).astype(np.int64)), "counts not restored", c,
              counts)
        drawn_ok(s, s.sample_bulk(9), kind)
        k = g.int(1, 3)
        fl.skip_known(fl.slow_unique(s, k))
        with expect():  # unique=True may need more distinct values than have nonzero counts
            drawn_ok(s, s.sample(np.zeros((0, 1), np.int64), k, unique=True)[0], kind)


def op_props(g, s, kind):
    repr(s)
    s.kernel_seeds, s.seed, s.range_max  # noqa: B018
    if kind == "fixed_unigram":
        w = s.weights
        check(w.shape == (s.range_max,) and np.isfinite(w).all() and (w >= 0).all(),
              "bad fixed weights", w)


OPS_FN = {"sample": op_sample, "bulk": op_bulk, "prob": op_prob, "state": op_state,
          "set_state_bad": op_set_state_bad, "copy": op_copy, "pickle": op_pickle,
          "reset": op_reset, "update": op_update, "set_counts": op_set_counts, "props": op_props}

_CONFIG = {}


def make_like(s):
    """A fresh sampler with the constructor arguments of `s`."""
    cls, rm, seed, kw = _CONFIG[id(s)]
    new = cls(rm, seed=seed, **kw)
    _CONFIG[id(new)] = _CONFIG[id(s)]
    return new


def known_findings(kind, range_max, kw):
    if kind == "fixed_unigram":
        # F1: num_reserved_ids is looped over in C++ before any check
        return (fl.int_or_none(kw.get("num_reserved_ids", 0)) or 0) > 10**7
    if kind == "learned_unigram":
        # F2: range_max above std::vector's max_size raises RuntimeError (length_error).
        return (fl.int_or_none(range_max) or 0) >= 2**60
    return False


def TestOneInput(data):
    g = Gen(data)
    kind, range_max, seed, kw = make(g)
    fl.skip_known(known_findings(kind, range_max, kw))
    fl.log("make", kind, range_max, seed=seed, **kw)
    s = None
    with expect():
        s = CLASSES[kind](range_max, seed=seed, **kw)
    if s is None:
        return
    _CONFIG.clear()
    # Rebuild from the final weights so make_like() reproduces the sampler exactly.
    ckw = {"unigrams": s.weights} if kind == "fixed_unigram" else {}
    _CONFIG[id(s)] = (CLASSES[kind], s.range_max, s.seed, ckw)
    check(s.range_max == int(range_max), "range_max property", s.range_max, range_max)
    for _ in range(g.int(1, 6)):
        if g.remaining() == 0:
            break
        name = g.pick(OPS)
        OPS_FN[name](g, s, kind)


if __name__ == "__main__":
    fl.main(TestOneInput)
