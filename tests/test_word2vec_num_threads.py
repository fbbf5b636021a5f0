"""One name per concept: ``Word2Vec(num_threads=)`` like the rest of the
library, with ``threads=`` kept as a deprecated alias (issue 8)."""
import warnings

import numpy as np
import pytest

from pysampled import Word2Vec
from pysampled.cli import _parser

SENTENCES = [["a", "b", "c", "d", "a", "b"], ["c", "d", "a", "e"]] * 20


def test_num_threads_is_the_keyword_and_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Word2Vec(dim=4, min_count=1, num_threads=2)
    assert m.num_threads == 2
    assert "num_threads" not in m.config() and "threads" not in m.config()


def test_threads_is_a_deprecated_alias():
    with pytest.warns(DeprecationWarning, match=r"threads=.*num_threads=") as caught:
        m = Word2Vec(dim=4, min_count=1, threads=2)
    assert caught[0].filename == __file__  # the warning names the caller's line
    assert m.num_threads == 2
    with pytest.warns(DeprecationWarning, match="num_threads"):
        assert m.threads == 2
    with pytest.warns(DeprecationWarning, match="num_threads"):
        m.threads = 1
    assert m.num_threads == 1


@pytest.mark.parametrize("num_threads", [1, -1])
def test_giving_both_names_is_a_type_error(num_threads):
    with pytest.raises(TypeError, match="both num_threads= and its deprecated name threads="):
        Word2Vec(num_threads=num_threads, threads=1)


def test_alias_validates_like_num_threads():
    for bad in (0, -2):
        with pytest.raises(ValueError, match="num_threads"):
            Word2Vec(num_threads=bad)
        with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="num_threads"):
            Word2Vec(threads=bad)


def test_load_takes_num_threads_and_the_alias(tmp_path):
    m = Word2Vec(dim=4, window=2, min_count=1, epochs=1, num_threads=1, seed=3)
    m.train(SENTENCES, progress=False)
    path = tmp_path / "m.ckpt"
    m.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = Word2Vec.load(path, num_threads=2)
    assert a.num_threads == 2
    with pytest.warns(DeprecationWarning, match=r"load\(threads=\.\.\.\)"):
        b = Word2Vec.load(path, threads=2)
    assert b.num_threads == 2
    # The thread count is the machine's, not the model's: the vectors are the saved ones.
    np.testing.assert_array_equal(a.vectors, m.vectors)
    np.testing.assert_array_equal(b.vectors, m.vectors)
    with pytest.raises(TypeError, match="both"):
        Word2Vec.load(path, num_threads=1, threads=1)


def test_both_names_train_the_same_vectors():
    """The alias is the same setting: the same seed gives the same bits."""
    a = Word2Vec(dim=4, window=2, min_count=1, epochs=1, num_threads=2, seed=5)
    with pytest.warns(DeprecationWarning):
        b = Word2Vec(dim=4, window=2, min_count=1, epochs=1, threads=2, seed=5)
    a.train(SENTENCES, progress=False)
    b.train(SENTENCES, progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)


@pytest.mark.parametrize("flag", ["--threads", "--num-threads"])
def test_cli_accepts_both_spellings(flag):
    parser, _ = _parser()
    args = parser.parse_args(["train", flag, "3"])
    assert args.threads == 3
