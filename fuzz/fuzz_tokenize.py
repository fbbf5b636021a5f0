"""Fuzz the tokeniser of ``--lowercase`` / ``--strip-punctuation``
(``pysampled.word2vec.corpus.tokenize`` and ``normalize_token``).

The input is decoded as UTF-8 (invalid bytes replaced, lone surrogates kept
through ``surrogatepass`` when byte 0 is odd) and split into a line; byte 0
also picks the options. Oracles, from the documented rule: ``tokenize`` of a
line equals ``normalize_token`` of each whitespace-split token with empty
results dropped; with ``strip_punctuation`` no output character is of a
Unicode ``P*`` category (checked per character with ``unicodedata``); with
``lowercase`` the output is a fixed point of ``str.lower``; no output token
is empty or contains whitespace; ``normalize_token`` is idempotent. Nothing
may escape (the input is always a str).
"""
import unicodedata

import atheris

import _fuzzlib as fl
from _fuzzlib import check

with atheris.instrument_imports(include=["pysampled"]):
    from pysampled.word2vec.corpus import normalize_token, tokenize


def TestOneInput(data):
    if not data:
        return
    mode, body = data[0], data[1:]
    lowercase, strip = bool(mode & 2), bool(mode & 4)
    try:
        text = body.decode("utf-8", "surrogatepass" if mode & 1 else "replace")
    except UnicodeDecodeError:
        text = body.decode("utf-8", "replace")
    fl.log(repr(text[:200]), lowercase, strip)
    out = tokenize(text, lowercase=lowercase, strip_punctuation=strip)
    expected = [t for t in (normalize_token(w, lowercase=lowercase, strip_punctuation=strip)
                            for w in text.split()) if t]
    check(out == expected, "tokenize differs from per-token normalisation", out, expected)
    for t in out:
        check(t != "" and t.split() == [t], "empty token or token with whitespace", t)
        if strip:
            check(not any(unicodedata.category(c).startswith("P") for c in t),
                  "punctuation left", t)
        if lowercase:
            check(t.lower() == t, "not lowercased", t)
        again = normalize_token(t, lowercase=lowercase, strip_punctuation=strip)
        check(again == t, "normalize_token is not idempotent", t, again)


if __name__ == "__main__":
    fl.main(TestOneInput)
