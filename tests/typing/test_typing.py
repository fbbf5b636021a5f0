"""Type tests, numpy-style: the public API as a type checker sees it.

* ``tests/typing/pass/*.py`` must pass ``mypy --strict`` (``assert_type``
  pins the types the overloads return);
* in ``tests/typing/fail/*.py`` every line marked ``# E: <text>`` must get a
  mypy error containing ``<text>``, and no unmarked line may get one;
* ``mypy.stubtest`` checks that the stubs (``samplers.pyi``, ``losses.pyi``)
  match the runtime modules: a parameter added to the code but not to the
  stub fails here.

mypy checks the *installed* pysampled (the one this interpreter imports), so
this works the same against a wheel. To cover a new module, add a stub or
inline annotations, a pass file and a fail file, and name the module in
STUBBED if it has a ``.pyi`` (docs/contributing.rst).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

HERE = Path(__file__).parent
PASS = sorted((HERE / "pass").glob("*.py"))
FAIL = sorted((HERE / "fail").glob("*.py"))
#: Modules whose types come from a stub next to them (checked against the runtime).
STUBBED = ["pysampled.samplers", "pysampled.losses"]
MARK = re.compile(r"#\s*E:\s*(.+?)\s*$")


@pytest.fixture(scope="module")
def mypy_args(tmp_path_factory, request):
    config = tmp_path_factory.mktemp("mypy") / "mypy.ini"
    config.write_text("[mypy]\n")  # isolated from the project's own [tool.mypy]
    cache = request.config.cache.mkdir("mypy") if getattr(request.config, "cache", None) \
        else config.parent
    return ["--config-file", str(config), "--cache-dir", str(cache), "--no-error-summary",
            "--hide-error-context", "--no-color-output", "--show-absolute-path"]


def _errors(output):
    """{(path, line): [messages]} from mypy's output."""
    found = {}
    for line in output.splitlines():
        m = re.match(r"^(.*?):(\d+): error: (.*)$", line)
        if m:
            found.setdefault((os.path.realpath(m.group(1)), int(m.group(2))), []).append(m.group(3))
    return found


@pytest.mark.parametrize("path", PASS, ids=[p.name for p in PASS])
def test_pass_files_pass_mypy_strict(path, mypy_args):
    out, err, status = api.run(["--strict", *mypy_args, str(path)])
    assert status == 0, out + err


@pytest.mark.parametrize("path", FAIL, ids=[p.name for p in FAIL])
def test_marked_lines_of_fail_files_fail_mypy(path, mypy_args):
    out, err, status = api.run(["--strict", *mypy_args, str(path)])
    assert status == 1, out + err
    found = _errors(out)
    real = os.path.realpath(path)
    lines = path.read_text().splitlines()
    marked = {i: MARK.search(text).group(1) for i, text in enumerate(lines, 1)
              if MARK.search(text)}
    assert marked, f"{path.name} marks no line"
    for lineno, expected in marked.items():
        messages = found.get((real, lineno), [])
        assert any(expected in m for m in messages), (
            f"{path.name}:{lineno}: expected an error containing {expected!r}, got {messages}")
    unexpected = {k: v for k, v in found.items() if k[0] == real and k[1] not in marked}
    assert not unexpected, f"errors on unmarked lines: {unexpected}"


def test_stubs_match_the_runtime_modules(tmp_path):
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", *STUBBED, "--mypy-config-file",
                        str(config)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_public_name_of_a_stubbed_module_is_in_its_stub():
    import importlib

    for name in STUBBED:
        module = importlib.import_module(name)
        stub = Path(module.__file__).with_suffix(".pyi").read_text()
        for public in module.__all__:
            assert re.search(rf"^\s*(def|class) {public}\b|^{public}\b", stub, re.M), (
                f"{name}.{public} is public but not in {name.split('.')[-1]}.pyi")


SRC = HERE.parent.parent / "src" / "pysampled"


@pytest.mark.skipif(not SRC.is_dir(), reason="no source tree (src/pysampled): a wheel test")
def test_the_package_source_is_mypy_clean(request):
    """``mypy`` with the project's own configuration (pyproject.toml
    ``[tool.mypy]``) finds no error in the package's sources, stubs and
    inline annotations included (so the types users see are consistent)."""
    root = SRC.parent.parent
    cache = request.config.cache.mkdir("mypy-src") if getattr(request.config, "cache", None) \
        else None
    args = ["--config-file", str(root / "pyproject.toml"), "--no-color-output"]
    if cache is not None:
        args += ["--cache-dir", str(cache)]
    out, err, status = api.run([*args, str(SRC)])
    assert status == 0, out + err
