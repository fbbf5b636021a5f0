"""Fuzz the TF-shaped sampler functions.

Covers ``uniform_candidate_sampler``, ``log_uniform_candidate_sampler``,
``learned_unigram_candidate_sampler``, ``fixed_unigram_candidate_sampler``
(``unigrams=``; the ``vocab_file=`` parser has its own harness) and
``all_candidate_sampler``: random ``true_classes`` (any dtype, shape, layout,
ids in range, negative or huge), ``num_true`` / ``num_sampled`` /
``range_max`` from small values, edge values (0, 2**31, 2**63 - 1, 2**64,
negative) and other types (float, bool, str, NumPy scalars, 0-d arrays),
``unique`` flags, seeds (None, ints, pairs, malformed), unigram vectors with
NaN / inf / negative / zero weights, distortions, reserved ids and shards.

Each call is made twice (the second continues the cached stream) and, for a
fixed seed, checked bit for bit against the equivalent sampler class made
fresh (after ``reset_sampler_cache``). Results are checked for shapes,
dtypes, range, uniqueness, and finite, positive expected counts of the drawn
values.
"""

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps

KINDS = ["uniform", "log_uniform", "learned_unigram", "fixed_unigram", "all"]
FUNCS = {
    "uniform": ps.uniform_candidate_sampler,
    "log_uniform": ps.log_uniform_candidate_sampler,
    "learned_unigram": ps.learned_unigram_candidate_sampler,
    "fixed_unigram": ps.fixed_unigram_candidate_sampler,
    "all": ps.all_candidate_sampler,
}
CLASSES = {
    "uniform": ps.UniformSampler,
    "log_uniform": ps.LogUniformSampler,
    "learned_unigram": ps.LearnedUnigramSampler,
    "fixed_unigram": ps.FixedUnigramSampler,
}


def _small(v, default, hi):
    return v if type(v) is int and 0 <= v <= hi else default


def known_findings(kind, kw):
    """Inputs that hit an already-reported finding (FUZZING.md)."""
    if kind != "fixed_unigram":
        return False
    # F1: a huge num_reserved_ids loops over every reserved id in C++ (hang / huge memory).
    return (fl.int_or_none(kw.get("num_reserved_ids", 0)) or 0) > 10**7


def unigram_args(g: Gen, range_max):
    kw = {}
    rm = _small(range_max, g.int(0, 6), 64)
    n = g.pick([rm, rm, rm, g.size(8), 0])
    if g.chance(3, 4):
        vals = [abs(v) for v in g.float_values(n, 0.0, 100.0)]
    else:
        vals = g.float_values(n, -2.0, 100.0, p_edge=(1, 4))
    dtype = g.dtype(["float32", "float64", "int64"],
                    ["float16", "bool", "object", "uint8", "<U4", "complex64"])
    shape = (n,) if g.chance(7, 8) else g.shape(2, 4)
    u = g.layout(g.as_dtype(vals, shape, dtype))
    if g.chance(1, 10):
        u = g.pick([None, (), [], "1,2", 3.0])
    kw["unigrams"] = u
    if g.chance(1, 2):
        kw["distortion"] = g.pick([1.0, 0.75, 0.0, 2.0, -1.0, 0.5, float("nan"), float("inf"),
                                   1e10, -1e10, 1e-40, "0.5", None, np.float32(0.75)])
    if g.chance(1, 3):
        kw["num_reserved_ids"] = g.int_arg(3, lo=0)
    if g.chance(1, 3):
        kw["num_shards"] = g.int_arg(3)
        kw["shard"] = g.int_arg(2, lo=0)
    if g.chance(1, 4):
        kw["correct_reserved_ids"] = g.flag()
    return kw


def check_sample(r, kind, tc, num_sampled, range_max, unique):
    sampled, tec, sec = r
    tc = np.asarray(tc)
    check(isinstance(sampled, np.ndarray) and sampled.dtype == np.int64, "sampled dtype", sampled)
    check(sampled.shape == (num_sampled,), "sampled shape", sampled.shape, num_sampled)
    check(tec.dtype == np.float32 and tec.shape == tc.shape, "tec", tec.dtype, tec.shape, tc.shape)
    check(sec.dtype == np.float32 and sec.shape == (num_sampled,), "sec", sec.dtype, sec.shape)
    hi = num_sampled if kind == "all" else range_max
    check(sampled.size == 0 or (sampled.min() >= 0 and sampled.max() < hi),
          "sampled out of [0, range)", sampled, hi)
    if unique:
        check(np.unique(sampled).size == sampled.size, "unique=True returned duplicates", sampled)
    positive = sec > 0
    if kind == "log_uniform":
        # TF's log((k + 2) / (k + 1)) is exactly 0 in double for k >= 2**53 (not a bug).
        positive |= sampled >= 2**53
    check(np.isfinite(sec).all() and positive.all(),
          "a drawn value has a non-positive or non-finite expected count", sampled, sec)
    check(np.isfinite(tec).all() and (tec >= 0).all(), "bad true expected count", tec)
    bound = np.float32(num_sampled) * np.float32(1 + 1e-6)
    check((sec <= bound).all() and (tec <= bound).all(),
          "expected count above num_sampled", sec, tec, num_sampled)


def class_kwargs(kind, kw):
    # The class takes ``unigrams`` exactly as the function does (F21: converting
    # them here made ``None`` a valid ``[nan]``).
    ckw = dict(kw)
    if kind == "fixed_unigram":
        if "distortion" in ckw:
            ckw["distortion"] = float(ckw["distortion"])
    return ckw


def function_rejects_what_class_accepts(kind, error, tc, num_true, num_sampled, unique,
                                        range_max, seed, kw):
    """The function must accept what the class (+ its sample()) accepts."""
    nt, ns, rm = (fl.int_or_none(v) for v in (num_true, num_sampled, range_max))
    if nt is None or nt < 1 or ns is None or rm is None:
        return  # the class does not look at num_true's type; sizes are checked by both
    if kind == "learned_unigram" and rm > 2**31 - 1:
        return  # documented: the function's learned sampler stops at 2**31 - 1
    try:
        sampler = CLASSES[kind](range_max, seed=seed, **class_kwargs(kind, kw))
        sampler.sample(tc, num_sampled, unique, num_true=num_true)
    except Exception:  # noqa: BLE001 - the class rejects it too: consistent
        return
    # F10: 0-d integer arrays for num_reserved_ids / num_shards / shard are unhashable.
    fl.skip_known("unhashable" in str(error))
    check(False, "the function rejects arguments its class accepts", repr(error))


def TestOneInput(data):
    g = Gen(data)
    kind = g.pick(KINDS)
    num_true = g.int_arg(4)
    num_sampled = g.int_arg(12)
    range_max = g.int_arg(20) if kind != "all" else None
    unique = g.flag()
    seed = g.seed()

    nt = _small(num_true, g.int(0, 3), 6)
    if g.chance(1, 10):
        nt = g.int(0, 4)
    batch = g.size(6)
    shape = (batch, nt) if not g.rarely() else g.shape()
    rm = _small(range_max if kind != "all" else num_sampled, 10, 10**6)
    vals = g.int_values(int(np.prod(shape)), 0, max(rm, 1))
    tc = g.layout(g.as_dtype(vals, shape, g.dtype("int64")))

    kw = {}
    if kind == "fixed_unigram":
        kw = unigram_args(g, range_max)
    fl.skip_known(known_findings(kind, kw))
    if kind == "fixed_unigram" and fl.SKIP_KNOWN:
        try:  # F4: unique draws of near-zero-probability values (see _fuzzlib.slow_unique)
            probe = ps.FixedUnigramSampler(
                int(range_max), unigrams=np.ascontiguousarray(kw["unigrams"], np.float32),
                **{k: v for k, v in kw.items() if k != "unigrams"})
        except Exception:
            probe = None
        fl.skip_known(probe is not None and bool(unique) and fl.slow_unique(probe, num_sampled))
    fn = FUNCS[kind]
    args = (tc, num_true, num_sampled, unique) + (() if kind == "all" else (range_max,))

    fl.log(kind, *args, seed=seed, **kw)
    ps.reset_sampler_cache()
    results = []
    error = None
    try:
        for _ in range(2):
            results.append(fn(*args, seed=seed, **kw))
    except fl.DOCUMENTED as e:
        error = e
    if not results:
        if kind != "all":
            function_rejects_what_class_accepts(kind, error, tc, num_true, num_sampled, unique,
                                                range_max, seed, kw)
        return
    # The call succeeded: the arguments were valid.
    nt_i, ns_i = int(num_true), int(num_sampled)
    rm_i = None if kind == "all" else int(range_max)
    for r in results:
        check_sample(r, kind, tc, ns_i, rm_i, bool(unique))
    if kind == "all":
        return
    if len(results) == 2 and seed is not None:
        # Same stream as the class made fresh with the same seed and attributes.
        sampler = CLASSES[kind](rm_i, seed=seed, **class_kwargs(kind, kw))
        for r in results:
            c = sampler.sample(tc, ns_i, bool(unique), num_true=nt_i)
            for a, b, name in zip(r, c, ("sampled", "tec", "sec")):
                check(np.array_equal(a, b, equal_nan=True),
                      f"function and class streams differ ({name})", a, b)


if __name__ == "__main__":
    fl.main(TestOneInput)
