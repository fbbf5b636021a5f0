"""Fuzz the ``vocab_file`` parser of the fixed-unigram sampler.

Covers ``samplers.read_vocab_file`` (the parser), ``FixedUnigramSampler(
vocab_file=...)`` and ``fixed_unigram_candidate_sampler(vocab_file=...)``.
Input byte 0 selects the mode: ``b & 1 == 0`` the rest is the file (seeded
with valid vocabulary files); otherwise the file is built from fuzzed lines
``field,...,count`` with counts drawn from tricky decimal strings (float32
midpoints and their neighbours, subnormals, overflow, NaN / inf, signs,
exponents, underscores, Unicode digits and spaces) and odd line endings.

Oracles: one value per non-empty line (lines as Python's universal newlines
cut them); each value is the *correctly rounded* float32 of the decimal
(computed here independently with ``fractions.Fraction``); the sampler built
from the file has exactly the weights of the sampler built from
``unigrams=`` the parsed values, and the function draws the class's stream.
Documented errors: ``ValueError`` (a malformed line, invalid UTF-8, invalid
weights), ``TypeError`` / ``IndexError`` for bad other arguments.
"""
import fractions
import io
import math

import atheris

import _fuzzlib as fl
from _fuzzlib import Gen, check, expect

with atheris.instrument_imports(include=["pysampled"]):
    import numpy as np
    import pysampled as ps
    from pysampled.samplers import read_vocab_file

F32_MAX = fractions.Fraction(float(np.finfo(np.float32).max))
HALF_ULP_MAX = fractions.Fraction(2) ** 103


def correctly_rounded(text: str):
    """The float32 nearest to the decimal `text` (ties to even), or None if
    Fraction cannot read it."""
    try:
        d = float(text)
    except ValueError:
        return None
    if d == 0 or math.isinf(d):  # far outside float32's range (and Fraction would be slow)
        return np.float32(d)
    try:
        exact = fractions.Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        return None
    sign = -1 if exact < 0 else 1
    a = abs(exact)
    if a >= F32_MAX + HALF_ULP_MAX:
        return np.float32(sign * math.inf)
    f = np.float32(float(a)) if float(a) < 3.5e38 else np.float32(np.finfo(np.float32).max)
    best = None
    for c in (np.nextafter(f, np.float32(0)), f, np.nextafter(f, np.float32(np.inf))):
        if not np.isfinite(c):
            continue
        dist = abs(fractions.Fraction(float(c)) - a)
        key = (dist, int(np.array(c).view(np.uint32)) & 1)  # ties: even mantissa wins
        if best is None or key < best[0]:
            best = (key, c)
    return np.float32(sign * best[1])


def tricky_number(g: Gen) -> str:
    k = g.int(0, 12)
    if k == 0:  # near a float32 midpoint (including the overflow threshold FLT_MAX + ulp/2)
        f = np.float32(g.fdp.ConsumeFloatInRange(-3.5e38, 3.5e38))
        if not np.isfinite(f) or g.chance(1, 8):
            f = np.float32(g.pick([np.finfo(np.float32).max, 1.0, 1e-45, 16777216.0]))
        h = np.nextafter(f, np.float32(np.inf))
        if np.isinf(h):
            mid = F32_MAX + HALF_ULP_MAX
        else:
            mid = (fractions.Fraction(float(f)) + fractions.Fraction(float(h))) / 2
        eps = fractions.Fraction(1, 10 ** g.int(20, 60)) * g.pick([-1, 0, 1])
        return _decimal(mid + eps, g.int(17, 60))
    if k == 1:
        return g.pick(["nan", "inf", "-inf", "Infinity", "-0", "0", "1e-50", "1e39",
                       "3.4028235e38", "3.4028236e38", "3.40282357e38", "1.4e-45", "7e-46",
                       "0.7e-45", "+5", "5.", ".5", "1_0", "١٢", "1e", " 7 ", "\u00a07", "0x10",
                       "1e-400", "1e400", "--1", "1,5", "", "16777217", "16777219"])
    if k == 2:
        return str(g.int(0, 10**6))
    if k == 3:
        return "%.*e" % (g.int(0, 25), g.float(-1e38, 1e38))
    if k == 4:
        return repr(float(np.float32(g.float(0, 10))))
    return repr(abs(g.float(0, 1000)))


def _decimal(v: fractions.Fraction, digits: int) -> str:
    """`v` written as a decimal with `digits` significant digits (truncated)."""
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    v = abs(v)
    e = 0
    while v >= 10:
        v /= 10
        e += 1
    while v < 1:
        v *= 10
        e -= 1
    mant = int(v * 10 ** (digits - 1))
    s = str(mant)
    return f"{sign}{s[0]}.{s[1:]}e{e}"


def structured(g: Gen) -> bytes:
    lines = []
    for _ in range(g.int(0, 8)):
        fields = ["w%d" % g.int(0, 9)] * g.int(0, 2)
        lines.append(",".join(fields + [tricky_number(g)]))
    ends = [g.pick(["\n", "\n", "\r\n", "\r", "\x0b", "\u2028", ""]) for _ in lines]
    text = "".join(a + b for a, b in zip(lines, ends))
    if g.rarely():
        text += "\n\n"
    data = text.encode("utf-8")
    if g.rarely():
        data += g.bytes(g.int(0, 6))
    return data


def TestOneInput(data):
    if not data:
        return
    if data[0] & 1 == 0:
        body = data[1:]
        g = Gen(b"")
    else:
        g = Gen(data[1:])
        body = structured(g)
    path = fl.write_file("vocab.csv", body)
    fl.log(body[:300])
    values = None
    with expect(ValueError):
        values = read_vocab_file(path)
    if values is None:
        return
    text = body.decode("utf-8")
    lines = [ln.rstrip("\r\n") for ln in io.StringIO(text, newline=None)]
    lines = [ln for ln in lines if ln]
    check(values.dtype == np.float32 and values.shape == (len(lines),),
          "one float32 per non-empty line", values.shape, len(lines))
    for ln, v in zip(lines, values):
        field = ln.rsplit(",", 1)[-1]
        want = correctly_rounded(field)
        if want is None:
            continue
        # F8: just below the overflow midpoint (FLT_MAX + ulp/2) the parser returns inf.
        fl.skip_known(np.isinf(v) and abs(float(want)) == float(np.finfo(np.float32).max))
        check(np.array(v).view(np.uint32) == np.array(want).view(np.uint32)
              or (v == 0 and want == 0),  # the sign of a zero is not checked
              "not the correctly rounded float32", field, float(v), float(want))

    # The sampler from the file equals the sampler from the parsed values.
    rm = len(values) if not g.rarely() else g.int_arg(4)
    kw = {}
    if g.chance(1, 3):
        kw["distortion"] = g.pick([0.75, 0.0, 2.0, -1.0, float("nan")])
    if g.chance(1, 4):
        kw["num_reserved_ids"] = g.int(0, 3)
    if g.chance(1, 4):
        kw["num_shards"] = g.int(1, 3)
        kw["shard"] = g.int(0, 2)
    seed = g.seed() if g.chance(1, 2) else 5
    a = None
    with expect():
        a = ps.FixedUnigramSampler(rm, vocab_file=path, seed=seed, **kw)
    if a is None:
        return
    b = ps.FixedUnigramSampler(rm, unigrams=values, seed=seed, **kw)
    check(fl.same(a.weights, b.weights), "vocab_file and unigrams give different weights",
          a.weights, b.weights)
    if seed is None:
        return
    ps.reset_sampler_cache()
    k = g.int(1, 3)
    unique = g.bool() and not fl.slow_unique(a, k)
    with expect():
        r = ps.fixed_unigram_candidate_sampler([[0]], 1, k, unique, rm, vocab_file=str(path),
                                               seed=seed, **kw)
        s = b.sample([[0]], k, unique)
        check(fl.same(r.sampled_candidates, s.sampled_candidates),
              "function with vocab_file and class with unigrams differ", r, s)


if __name__ == "__main__":
    fl.main(TestOneInput)
