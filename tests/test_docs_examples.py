"""The documentation's examples run as written.

* Every ```python block of README.md runs *on its own* (fresh namespace, a
  temporary working directory): a reader can paste any one of them.
* The ``python`` code blocks of each docs/**/*.rst page run in order in one
  namespace (a guide builds on its earlier blocks); a block captioned
  ``TensorFlow`` is shown for comparison and not run.
* Every public name is in the API reference (docs/api.rst).

Skipped where the source tree is not there (the wheel test copies tests/ only).
A block that imports an optional peer (torch, mpi4py, gensim: the extras
``torch``, ``mpi``, ``gensim``) is skipped where that peer is not installed,
except in CI (``CI=true``), which installs them and must run every block.
"""
import importlib.util
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
#: Modules whose __all__ must appear in docs/api.rst (add new public modules here).
API_MODULES = ["pysampled", "pysampled.word2vec"]


def readme_blocks():
    if not README.exists():
        return []
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def rst_blocks(path):
    """The python code blocks of an .rst file, without TensorFlow-captioned ones."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. code-block:: python\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent = len(m.group(1))
        i += 1
        options = []
        while i < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[i]):
            options.append(lines[i].strip())
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        code = "\n".join(body)
        width = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
        code = "\n".join(x[width:] for x in body)
        if not any(o.startswith(":caption: TensorFlow") for o in options):
            blocks.append(code)
    return blocks


RST = sorted(DOCS.rglob("*.rst")) if DOCS.exists() else []
# Only the pages that have Python examples (the others have nothing to run).
RST_WITH_EXAMPLES = [p for p in RST if rst_blocks(p)]


#: optional peer -> the pattern of a block that needs it
PEERS = {"torch": r"^\s*(import|from) (torch|pysampled\.torch)\b",
         "mpi4py": r"^\s*(import|from) (mpi4py|pysampled\.distributed)\b|mpiexec",
         "gensim": r"^\s*(import|from) gensim\b"}


def skip_without_peers(code, where):
    """Skip (outside CI) a block whose optional peer is not installed."""
    if os.environ.get("CI") == "true":
        return
    for peer, pattern in PEERS.items():
        if re.search(pattern, code, re.M) and importlib.util.find_spec(peer) is None:
            pytest.skip(f"{where} needs {peer}, which is not installed (an optional extra)")


@pytest.mark.skipif(not README.exists(), reason="no source tree (README.md)")
@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_readme_python_block_runs_alone(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = readme_blocks()[index]
    skip_without_peers(code, f"README.md python block {index + 1}")
    exec(compile(code, f"README.md python block {index + 1}", "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("path", RST_WITH_EXAMPLES, ids=[str(p.relative_to(DOCS)) for p in RST_WITH_EXAMPLES])
def test_rst_python_blocks_run_in_order(path, tmp_path, monkeypatch):
    blocks = rst_blocks(path)
    skip_without_peers("\n".join(blocks), str(path.relative_to(DOCS)))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for k, code in enumerate(blocks, 1):
        exec(compile(code, f"{path.name} python block {k}", "exec"), namespace)


@pytest.mark.skipif(not (DOCS / "api.rst").exists(), reason="no source tree (docs/)")
def test_every_public_name_is_in_the_api_reference():
    import importlib

    text = (DOCS / "api.rst").read_text(encoding="utf-8")
    missing = [f"{m}.{name}" for m in API_MODULES for name in importlib.import_module(m).__all__
               if not re.search(rf"\b{re.escape(name)}\b", text)]
    assert not missing, f"not in docs/api.rst: {missing}"


def test_the_extractors_find_blocks():
    """The extraction itself: a TensorFlow block is left out, options are skipped."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.rst"
        p.write_text("T\n=\n\n.. code-block:: python\n   :caption: TensorFlow\n\n   import tensorflow\n\n"
                     ".. code-block:: python\n   :caption: pysampled\n\n   a = 1\n\n   b = a + 1\n\ntext\n")
        assert rst_blocks(p) == ["\na = 1\n\nb = a + 1\n"]
