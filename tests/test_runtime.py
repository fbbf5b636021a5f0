"""Runtime queries and policies: SIMD levels, OpenMP, the spin policy, lazy imports."""
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pysampled
from pysampled import _runtime


def test_simd_levels_report():
    detected = _runtime.detected_simd_level()
    assert detected in _runtime.SIMD_LEVELS
    # Every level up to the detected one can be switched on; the next one is refused.
    old = _runtime.simd_level()
    try:
        for level in _runtime.SIMD_LEVELS:
            if _runtime.SIMD_LEVELS.index(level) <= _runtime.SIMD_LEVELS.index(detected):
                _runtime.set_simd_level(level)
                assert _runtime.simd_level() == level
            else:
                try:
                    _runtime.set_simd_level(level)
                except ValueError as e:
                    assert "does not support" in str(e)
                else:
                    raise AssertionError(f"{level} accepted on a {detected} CPU")
    finally:
        _runtime.set_simd_level(old)


def test_each_simd_level_fixture_switches_the_level(each_simd_level):
    assert _runtime.simd_level() == each_simd_level


def _run(code, **env):
    full = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
                                                              "PYSAMPLED_SPIN_POLICY")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                          timeout=120, check=True).stdout.strip()


def test_import_leaves_the_environment_unchanged():
    code = ("import os, pysampled; "
            "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))")
    assert _run(code) == "None None"
    # A user's own settings are kept as they were.
    assert _run(code, GOMP_SPINCOUNT="123") == "123 None"
    assert _run(code, OMP_WAIT_POLICY="passive") == "None passive"
    assert _run(code, PYSAMPLED_SPIN_POLICY="default") == "None None"


def test_library_import_does_not_import_the_application():
    code = ("import sys, pysampled; "
            "print(sorted(m for m in sys.modules if m.startswith('pysampled.word2vec')"
            " or m == 'pysampled.cli'))")
    assert _run(code) == "[]"
    code = "import sys, pysampled; pysampled.Word2Vec; print('pysampled.word2vec' in sys.modules)"
    assert _run(code) == "True"


def test_ml_dtypes_is_imported_only_for_bfloat16_arrays():
    """Importing ml_dtypes takes about 0.7 s (it registers hundreds of NumPy
    ufunc loops): pysampled, its losses and its trainer do not import it; a
    bfloat16 array (which needs ml_dtypes loaded) is still recognised."""
    code = ("import sys, pysampled, pysampled.losses, pysampled.word2vec, pysampled.samplers; "
            "print('ml_dtypes' in sys.modules)")
    assert _run(code) == "False"
    code = ("import numpy as np, ml_dtypes, pysampled as ps; "
            "w = (np.arange(40, dtype=np.float32).reshape(10, 4) / 40).astype(ml_dtypes.bfloat16); "
            "x = np.ones((2, 4), np.float32); lab = np.zeros((2, 1), np.int64); "
            "sv = ps.log_uniform_candidate_sampler(lab, 1, 3, True, 10, seed=(1, 2)); "
            "a = ps.sampled_softmax_loss(w, None, lab, x, 3, 10, sampled_values=sv); "
            "b = ps.sampled_softmax_loss(w.astype(np.float32), None, lab, x, 3, 10, sampled_values=sv); "
            "print(a.dtype, bool(np.array_equal(a, b)))")
    assert _run(code) == "float32 True"


def test_moved_modules_are_the_same_objects():
    import pysampled.evaluation
    import pysampled.synthetic
    import pysampled.w2v_format
    import pysampled.word2vec.evaluation
    import pysampled.word2vec.formats
    import pysampled.word2vec.synthetic

    assert pysampled.evaluation is pysampled.word2vec.evaluation
    assert pysampled.w2v_format is pysampled.word2vec.formats
    assert pysampled.synthetic is pysampled.word2vec.synthetic
    from pysampled import Word2Vec, evaluate_similarity, load_word2vec_format

    assert Word2Vec is pysampled.word2vec.Word2Vec
    assert evaluate_similarity is pysampled.word2vec.evaluation.evaluate_similarity
    assert load_word2vec_format is pysampled.word2vec.formats.load_word2vec_format


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="reads x86-64 instructions in the built library")
def test_row_prefetches_are_in_the_library():
    """The word2vec trainer fetches its rows ahead with prefetcht1
    (prefetch.hpp). Written as __builtin_prefetch, GCC deleted every one of
    them (a function whose only effect is a prefetch counts as const, and
    its calls as dead code): the library held no prefetcht1 at all. Without
    them the results are the same and only the speed shows it, so this looks
    for the instructions: the word2vec kernels of each SIMD level (generic,
    avx2, avx512) prefetch the rows of the next records."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not on PATH: cannot disassemble the library")
    lib = Path(pysampled.__file__).parent / "libpysampled_core.so"
    if not lib.exists():
        pytest.skip(f"no {lib.name} beside the package (a build that links the core statically)")
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                          check=True).stdout
    assert text.count("prefetcht1") >= 3
