"""Bad-input sweep, area: the command line and the tokeniser (issue 14).

``pysampled.cli.main`` returns the exit status (2 for bad input, one line on
stderr) or raises SystemExit(2) from argparse; its output is captured, so the
cases return ``(status, stderr)``. The tokeniser (``tokenize``,
``normalize_token``) takes str only.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    cli-unknown-option  returns: status 2, subcommand usage, 'did you mean --dim?'
    cli-unknown-command  returns: status 2, 'did you mean'
    cli-bad-int-option  returns: status 2, names the option
    cli-input-is-a-directory  returns: status 2, 'is a directory'
    cli-input-missing  returns: status 2, 'input file not found'
    cli-resume-text-file  returns: status 2, 'not a pysampled checkpoint'
    cli-resume-pickled-npy  returns: status 2, no allow_pickle advice
    cli-resume-missing  returns: status 2, 'checkpoint file not found'
    cli-eval-similarity-missing-vectors  returns: status 2, 'vectors file not found'
    cli-eval-analogy-binary-garbage  returns: status 2, one line
    cli-output-in-missing-dir  returns: status 2, checked before training
    tokenize-bytes  raises TypeError: /takes a str/
    tokenize-none  raises TypeError: /takes a str, got NoneType/
    normalize-token-int  raises TypeError: /is a str, got int/
    tokenize-only-punctuation  returns: [] (every token dropped)
    tokenize-lone-surrogate  returns: kept as is (not punctuation)
RESULTS-TABLE-END
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile

from sweep.harness import raises, returns  # noqa: E402


def _cli(*argv):
    """Run the command line in this process; (status, stderr)."""
    from pysampled.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as e:  # argparse's own errors
            status = e.code
    return status, err.getvalue()


def _one_line_status_2(*needles):
    def check(result):
        status, err = result
        assert status == 2, (status, err)
        last = err.strip().splitlines()[-1]
        assert last.startswith("pysampled"), err
        for n in needles:
            assert n in err, (n, err)
        assert "Traceback" not in err and "Errno" not in err and "allow_pickle" not in err, err
    return check


def _in_tmp(fn):
    def call():
        with tempfile.TemporaryDirectory() as d:
            return fn(d)
    return call


def _write(d, name, data):
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


returns("cli-unknown-option", lambda: _cli("train", "--dimm", "3"),
        _one_line_status_2("did you mean --dim?", "usage: pysampled train"),
        "status 2, subcommand usage, 'did you mean --dim?'")
returns("cli-unknown-command", lambda: _cli("evl-analogy", "v", "q"),
        _one_line_status_2("did you mean 'eval-analogy'?"), "status 2, 'did you mean'")
returns("cli-bad-int-option", lambda: _cli("train", "--epochs", "many"),
        _one_line_status_2("--epochs", "invalid int value"), "status 2, names the option")
returns("cli-input-is-a-directory", _in_tmp(lambda d: _cli("--input", d, "--quiet")),
        _one_line_status_2("is a directory"), "status 2, 'is a directory'")
returns("cli-input-missing", _in_tmp(lambda d: _cli("--input", os.path.join(d, "x.txt"))),
        _one_line_status_2("input file not found"), "status 2, 'input file not found'")
returns("cli-resume-text-file",
        _in_tmp(lambda d: _cli("--synthetic-tokens", "2000", "--resume",
                               _write(d, "ck.npz", b"hello\n"), "--quiet")),
        _one_line_status_2("not a pysampled checkpoint"), "status 2, 'not a pysampled checkpoint'")
returns("cli-resume-pickled-npy",
        _in_tmp(lambda d: _cli("--synthetic-tokens", "2000", "--resume",
                               _write(d, "ck.npy", b"\x93NUMPY\x01\x00v\x00{'descr': '|O', "
                                      b"'fortran_order': False, 'shape': (1,), }"), "--quiet")),
        _one_line_status_2("not a pysampled checkpoint"), "status 2, no allow_pickle advice")
returns("cli-resume-missing", _in_tmp(lambda d: _cli("--resume", os.path.join(d, "ck.npz"))),
        _one_line_status_2("checkpoint file not found"), "status 2, 'checkpoint file not found'")
returns("cli-eval-similarity-missing-vectors",
        _in_tmp(lambda d: _cli("eval-similarity", os.path.join(d, "missing.vec"),
                               _write(d, "p.tsv", b"a\tb\t1\n"))),
        _one_line_status_2("vectors file not found"), "status 2, 'vectors file not found'")
returns("cli-eval-analogy-binary-garbage",
        _in_tmp(lambda d: _cli("eval-analogy", _write(d, "v.bin", b"\x00\xff" * 64),
                               _write(d, "q.txt", b": s\na b c d\n"))),
        _one_line_status_2(), "status 2, one line")
returns("cli-output-in-missing-dir",
        _in_tmp(lambda d: _cli("--output", os.path.join(d, "no", "v.txt"))),
        _one_line_status_2("does not exist"), "status 2, checked before training")


def _tokenize(*args, **kw):
    from pysampled.word2vec.corpus import tokenize

    return tokenize(*args, **kw)


def _normalize(*args, **kw):
    from pysampled.word2vec.corpus import normalize_token

    return normalize_token(*args, **kw)


raises("tokenize-bytes", lambda: _tokenize(b"a b", lowercase=True), TypeError, "takes a str")
raises("tokenize-none", lambda: _tokenize(None), TypeError, "takes a str, got NoneType")
raises("normalize-token-int", lambda: _normalize(3, lowercase=True), TypeError, "is a str, got int")
returns("tokenize-only-punctuation", lambda: _tokenize("... -- !?", strip_punctuation=True),
        lambda r: r == [] or (_ for _ in ()).throw(AssertionError(r)), "[] (every token dropped)")
returns("tokenize-lone-surrogate", lambda: _tokenize("a\udcff b", lowercase=True,
                                                     strip_punctuation=True),
        lambda r: r == ["a\udcff", "b"] or (_ for _ in ()).throw(AssertionError(r)),
        "kept as is (not punctuation)")
