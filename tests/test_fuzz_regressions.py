"""Regression tests for what the atheris harnesses in fuzz/ found (see FUZZING.md).

Plain pytest, no atheris needed. A finding that is not fixed yet is marked
``xfail(strict=True)``: the test describes the *expected* behaviour, so it
starts passing (and the strict xfail fails, asking for the mark to go) once
the bug is fixed. The finding ids (F1, F2, ...) are those of FUZZING.md.
"""
import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import pysampled as ps
from _sanitizer import TIMEOUT_SCALE
from pysampled.samplers import read_vocab_file

FLT_MAX = float(np.finfo(np.float32).max)


def run_limited(code, timeout=10, memory_mb=2048):
    """Run `code` in a fresh interpreter that may map at most `memory_mb` MiB
    more than it has mapped at start-up (``RLIMIT_AS``; relative, because
    under ASan the shadow memory alone maps terabytes); return (returncode,
    stdout+stderr), or (None, "timeout") if it ran too long."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        from _sanitizer import address_space_limit
        resource.setrlimit(resource.RLIMIT_AS,
                           (address_space_limit({memory_mb} << 20), resource.RLIM_INFINITY))
    """)
    timeout *= TIMEOUT_SCALE
    try:
        p = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    return p.returncode, p.stdout + p.stderr


# ------------------------------------------------------------------ samplers

@pytest.mark.parametrize("kwargs", [
    "num_reserved_ids=2**62, num_shards=2**62, shard=5",  # 2**62 iterations, no memory: a hang
    "num_reserved_ids=2**40",  # pushes 2**40 zeros: GBs, then MemoryError after seconds
])
def test_f1_huge_num_reserved_ids_fails_fast(kwargs):
    rc, out = run_limited(f"""
        import pysampled as ps
        try:
            ps.FixedUnigramSampler(3, unigrams=[1.0, 2.0, 3.0], {kwargs}, seed=1)
        except ValueError as e:
            print("ValueError", e)
    """, timeout=5)
    assert rc == 0 and "ValueError" in out, out


@pytest.mark.parametrize("range_max", [2**61, 2**62, 2**63 - 1])
def test_f2_learned_sampler_absurd_range_max(range_max):
    with pytest.raises((ValueError, MemoryError)):
        ps.LearnedUnigramSampler(range_max)


def test_f3_learned_set_state_non_dict_is_type_error():
    with pytest.raises(TypeError):
        ps.LearnedUnigramSampler(3).set_state(3)


def test_f4_unique_sampling_of_near_zero_probabilities_fails_fast():
    rc, out = run_limited("""
        import pysampled as ps
        s = ps.LearnedUnigramSampler(3, seed=1)
        s.set_state(dict(s.get_state(), counts=[1, 2**31 - 1, 1]))
        try:
            s.sample([[0]], 3, unique=True)
            print("sampled")
        except ValueError as e:
            print("ValueError", e)
    """, timeout=5)
    assert rc == 0, out


@pytest.mark.parametrize("name", ["num_reserved_ids", "num_shards", "shard"])
def test_f10_fixed_unigram_function_accepts_0d_int_arrays(name):
    value = {"num_reserved_ids": 0, "num_shards": 1, "shard": 0}[name]
    r = ps.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 3, unigrams=[1.0, 2.0, 3.0],
                                           seed=1, **{name: np.array(value)})
    assert r.sampled_candidates.shape == (1,)


# -------------------------------------------------------------- vocab files

def test_f8_vocab_value_just_below_overflow_threshold(tmp_path):
    path = tmp_path / "vocab.csv"
    # < FLT_MAX + 2**103 (exactly 3.40282356779733661637...e38)
    path.write_text("a,1\nb,3.4028235677973366e38\n")
    values = read_vocab_file(path)
    assert values[1] == np.float32(FLT_MAX)
    assert ps.FixedUnigramSampler(2, vocab_file=path).weights[1] == np.float32(FLT_MAX)


def test_f8_vocab_exact_overflow_midpoint_is_inf(tmp_path):
    # The exact midpoint rounds to even, i.e. up to inf (as strtof does): not a bug.
    path = tmp_path / "vocab.csv"
    path.write_text("a,340282356779733661637539395458142568448\n")
    assert np.isinf(read_vocab_file(path)[0])


# ------------------------------------------------------------------- losses

W = np.zeros((4, 2), np.float32)
X = np.ones((2, 2), np.float32)
LABELS = np.array([[0], [1]])


@pytest.mark.parametrize("target", [-1.0, 0.0, float("nan"), float("inf")])
def test_f5_sampled_loss_invalid_true_target(target):
    with pytest.raises(ValueError):
        model = ps.SampledLoss(W.copy(), num_sampled=1, loss="nce", true_target=target, seed=1)
        model.step(LABELS, X)


def test_f6_step_checks_the_number_of_sampled_values():
    # step() and __call__ agree: with accidental hits masked (sampled softmax's
    # default) the counts must match, as in the loss functions (TF's mask has
    # num_sampled columns); without masking every given candidate is used.
    model = ps.SampledLoss(W.copy(), num_sampled=2, seed=1)
    sv = (np.array([3]), np.ones((2, 1)), np.ones(1))
    with pytest.raises(ValueError, match="num_sampled"):
        model(LABELS, X, sampled_values=sv)
    with pytest.raises(ValueError, match="num_sampled"):
        model.step(LABELS, X, sampled_values=sv)
    free = ps.SampledLoss(W.copy(), num_sampled=2, seed=1, remove_accidental_hits=False)
    loss = free(LABELS, X, sampled_values=sv)
    np.testing.assert_array_equal(free.step(LABELS, X, sampled_values=sv).loss, loss)


# -------------------------------------------------------------- checkpoints

def _checkpoint(tmp_path):
    m = ps.Word2Vec(dim=3, window=2, min_count=1, epochs=1, num_threads=1)
    m.build_vocab([["a", "b", "a"], ["b", "c"]], workdir=str(tmp_path))
    path = tmp_path / "model.npz"
    m.save(path)
    return path


def _rewrite_meta(path, edit):
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files}
    meta = json.loads(str(members["meta"]))
    meta = edit(meta)
    members["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **members)


def _flip_byte_in_member(path, member):
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside the member's data
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "not_a_zip_after_magic": lambda p: p.write_bytes(b"PK\x03\x04" + bytes(range(200))),
    "crc_error_in_syn0": lambda p: _flip_byte_in_member(p, "syn0.npy"),
    "meta_not_a_dict": lambda p: _rewrite_meta(p, lambda m: [m]),
    "config_not_a_dict": lambda p: _rewrite_meta(p, lambda m: dict(m, config=[1])),
    "config_unknown_key": lambda p: _rewrite_meta(p, lambda m: dict(m, config=dict(m["config"],
                                                                                   bogus=1))),
    "config_wrong_type": lambda p: _rewrite_meta(p, lambda m: dict(m, config=dict(m["config"],
                                                                                  dim="3"))),
    "progress_missing": lambda p: _rewrite_meta(p, lambda m: {k: v for k, v in m.items()
                                                              if k != "progress"}),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_f7_load_corrupt_checkpoint_raises_value_error(tmp_path, corruption):
    path = _checkpoint(tmp_path)
    CORRUPTIONS[corruption](path)
    with pytest.raises(ValueError):
        ps.Word2Vec.load(path)


@pytest.mark.parametrize("edit", ["history_dict", "progress_str"])
def test_f9_load_validates_meta_types(tmp_path, edit):
    path = _checkpoint(tmp_path)
    if edit == "history_dict":
        _rewrite_meta(path, lambda m: dict(m, history={}))
    else:
        _rewrite_meta(path, lambda m: dict(m, progress=dict(m["progress"], epoch="0")))
    with pytest.raises(ValueError):
        model = ps.Word2Vec.load(path)
        model.train([["a", "b", "a"], ["b", "c"]], progress=False, workdir=str(tmp_path))


def test_load_valid_checkpoint_still_works(tmp_path):
    path = _checkpoint(tmp_path)
    model = ps.Word2Vec.load(path)
    assert model.words == ["a", "b", "c"]
    assert os.path.exists(path)


# ------------------------------------------------------------------ trainer

@pytest.mark.parametrize("window", [10**8, 2**31 - 1])
def test_f11_huge_window_is_cheap_or_rejected(window):
    rc, out = run_limited(f"""
        import pysampled as ps
        try:
            w = ps.Word2Vec(window={window}, min_count=1, dim=4, epochs=1, num_threads=1)
            w.train([["a", "b", "c"]] * 3, progress=False)
            print("trained")
        except ValueError as e:
            print("ValueError", e)
    """, timeout=20, memory_mb=1024)
    assert rc == 0, out


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_f12_word2vec_seed_range_checked_up_front(seed):
    with pytest.raises(ValueError):
        ps.Word2Vec(seed=seed)


# ------------------------------------------------- undefined behaviour (UBSan)

def _misaligned(a):
    """A copy of `a` whose data starts one byte past an aligned address."""
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    view = raw[1:].view(a.dtype).reshape(a.shape)
    view[...] = a
    assert not view.flags.aligned
    return view


def test_f13_ids_passed_to_cpp_are_aligned():
    from pysampled._validation import as_ids
    assert as_ids(_misaligned(np.arange(6, dtype=np.int64).reshape(3, 2)), "ids").flags.aligned


def test_f13_misaligned_arrays_give_the_aligned_results():
    # What the fix must keep: results do not depend on alignment.
    tc = np.array([[0, 1], [2, 3]], dtype=np.int64)
    a = ps.UniformSampler(10, seed=3).sample(tc, 4)
    b = ps.UniformSampler(10, seed=3).sample(_misaligned(tc), 4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    hits = ps.compute_accidental_hits(_misaligned(tc), _misaligned(np.array([1, 3, 5])), 2)
    np.testing.assert_array_equal(hits[1], [0, 1])


SANITIZED_PYTHON = os.environ.get("PYSAMPLED_SANITIZED_PYTHON")


def _run_sanitized(code):
    def lib(name):
        return subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True,
                              text=True).stdout.strip()
    env = dict(os.environ, LD_PRELOAD=f"{lib('libasan.so')} {lib('libstdc++.so')}",
               ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="halt_on_error=1")
    p = subprocess.run([SANITIZED_PYTHON, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env=env, timeout=120)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.skipif(not SANITIZED_PYTHON, reason="needs PYSAMPLED_SANITIZED_PYTHON, a python "
                    "with a -Ccmake.define.PYSAMPLED_SANITIZE=ON build of pysampled: the sanitizer stage "
                    "(scripts/test_sanitized.sh) sets it and runs this test")
def test_f13_misaligned_ids_under_ubsan():
    rc, out = _run_sanitized("""
        import numpy as np, pysampled as ps
        raw = np.zeros(17, np.uint8)
        tc = raw[1:].view(np.int64).reshape(2, 1)
        ps.UniformSampler(5, seed=1).sample(tc, 2)
    """)
    assert rc == 0 and "runtime error" not in out, out


@pytest.mark.skipif(not SANITIZED_PYTHON, reason="needs PYSAMPLED_SANITIZED_PYTHON, a python "
                    "with a -Ccmake.define.PYSAMPLED_SANITIZE=ON build of pysampled: the sanitizer stage "
                    "(scripts/test_sanitized.sh) sets it and runs this test")
def test_f14_zero_dim_inputs_under_ubsan():
    rc, out = _run_sanitized("""
        import numpy as np, pysampled as ps
        w = np.zeros((3, 0), np.float32)
        x = np.zeros((2, 0), np.float32)
        ps.sampled_softmax_loss(w, None, [[0], [1]], x, 1, 3,
                                sampled_values=([2], np.ones((2, 1)), np.ones(1)))
    """)
    assert rc == 0 and "runtime error" not in out, out


def test_f14_zero_dim_inputs_work():
    w = np.zeros((3, 0), np.float32)
    x = np.zeros((2, 0), np.float32)
    loss = ps.sampled_softmax_loss(w, None, [[0], [1]], x, 1, 3,
                                   sampled_values=([2], np.ones((2, 1)), np.ones(1)))
    np.testing.assert_allclose(loss, np.log(2.0), rtol=1e-6)


# F15: a failed train() (num_sampled beyond int64, rejected only by SampledLoss)
# left accum0 set and accum1/accum_bias None; save() then wrote object arrays
# and the checkpoint could not be loaded.
def test_f15_sizes_beyond_int64_rejected_up_front():
    for key in ("num_sampled", "window", "dim", "batch_size", "chunk_words", "epochs"):
        with pytest.raises(ValueError, match=f"{key} must be less than 2\\*\\*63"):
            ps.Word2Vec(**{key: 2**64 - 1})


def test_f15_failed_train_leaves_a_loadable_checkpoint(tmp_path, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("w2 w6 w1\nw1 w2\n")
    m = ps.Word2Vec(min_count=1, dim=3, window=1, epochs=1, loss="nce", num_sampled=2,
                    num_threads=1, seed=0)
    m.build_vocab([str(corpus)], workdir=str(tmp_path))
    import pysampled.samplers as S

    class Boom(Exception):
        pass

    def fail(*a, **k):
        raise Boom("the negatives' sampler failed")
    # Fail where the optimizer state is made (the trainer's negatives' sampler;
    # the trainer used SampledLoss there before its batches moved to C++).
    monkeypatch.setattr(S, "FixedUnigramSampler", fail)
    with pytest.raises(Boom):
        m.train(progress=False)
    assert m.accum0 is None and m.accum1 is None and m.accum_bias is None
    m.save(tmp_path / "m.npz")
    back = ps.Word2Vec.load(tmp_path / "m.npz")
    assert back.words == m.words
    np.testing.assert_array_equal(back.vectors, m.vectors)
    monkeypatch.undo()
    back.train([str(corpus)], progress=False)  # and training can go on
    assert np.isfinite(back.vectors).all()


# F16 (CI fuzz smoke run, losses): rank_sampled_softmax_loss handed the final
# sampled softmax its float32 working copy of bfloat16 inputs, so it returned
# a float32 loss where every other loss returns the inputs' bfloat16.
def test_f16_rank_loss_keeps_bfloat16_inputs_dtype():
    import ml_dtypes
    bf16 = np.dtype(ml_dtypes.bfloat16)
    rng = np.random.default_rng(16)
    w = rng.standard_normal((50, 4)).astype(np.float32)
    x32 = rng.standard_normal((3, 4)).astype(np.float32)
    x = x32.astype(bf16)
    labels = np.array([[1], [7], [9]])
    sv = (np.arange(10, 20), np.full((3, 1), 0.5), np.full(10, 0.5))
    loss, grads = ps.rank_sampled_softmax_loss(w, None, labels, x, 10, 4, 50, 1, sv, 1.0, True,
                                               "div", return_grads=True)
    assert loss.dtype == bf16 and loss.shape == (3,) and grads.inputs.dtype == bf16
    # the same numbers as the float32 call on the same (bfloat16-exact) inputs, rounded once
    want = ps.rank_sampled_softmax_loss(w, None, labels, x.astype(np.float32), 10, 4, 50, 1, sv,
                                        1.0, True, "div")
    np.testing.assert_array_equal(loss, want.astype(bf16))


# F18 (CI fuzz smoke run, sampler_functions): unigram weights that are each
# finite but whose float32 total overflows gave every drawn value an expected
# count of 0 (TF does the same; log-Q then makes the logits -inf).
@pytest.mark.parametrize("distortion", [1.0, 2.0])
def test_f18_unigram_total_overflow_is_refused(distortion):
    u = np.full(10, 3e38 if distortion == 1.0 else 1.5e19, np.float32)  # 1.5e19**2 = 2.25e38
    with pytest.raises(ValueError, match="sum to more than the largest float32"):
        ps.fixed_unigram_candidate_sampler(np.zeros((1, 1), np.int64), 1, 8, False, 10,
                                           unigrams=u, distortion=distortion, seed=1)
    # one step below the overflow still samples, with positive expected counts
    u = np.full(10, 3.4e37 if distortion == 1.0 else 5.8e18, np.float32)
    s, t, e = ps.FixedUnigramSampler(10, unigrams=u, distortion=distortion, seed=1).sample(
        np.zeros((1, 1), np.int64), 8, False)
    assert np.isfinite(e).all() and (e > 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_f19_adagrad_accumulates_in_the_computing_dtype(dtype):
    # A weight gradient of 2**100 (one NCE sample of class 0 with a saturated
    # logit: coefficient 1 times the input 2**100). Its square, 2**200, overflows
    # float32: the float32 accumulator becomes inf and the step
    # lr * g / (sqrt(inf) + eps) is 0, so the row stays where it was (the
    # arithmetic TF's float32 Adagrad does). In float64 nothing overflows:
    # acc = 0.1 + 2**200 = 2**200 and the row moves by lr * g / sqrt(acc) = lr.
    w = np.array([[0.5]], dtype)
    model = ps.SampledLoss(w, None, loss="nce", num_sampled=1, optimizer="adagrad",
                           learning_rate=0.25, initial_accumulator_value=0.1, epsilon=1e-7)
    sv = (np.array([0]), np.ones((1, 1)), np.ones(1))
    model.step(np.array([[0]]), np.array([[2.0**100]], dtype), sampled_values=sv)
    acc = model.accumulators[0][0]
    if dtype == np.float32:
        assert np.isinf(acc[0, 0]) and w[0, 0] == np.float32(0.5)
    else:
        assert acc[0, 0] == 2.0**200
        assert w[0, 0] == 0.25


def test_f20_every_text_file_starts_a_pruning_block(tmp_path):
    # word2vec.c's bounded count, block by block; each file is a block. File 1
    # counts w6 twice and w5 once; before file 2 the vocabulary (2 words)
    # exceeds max_vocab_size=1, so the words counted at most once go (w5).
    # File 2 then counts w5 four times: 4, not the 5 occurrences in the text.
    files = [b"w6 w6 w5\n", b"w5 w5 w5\nw4 w6\nw1\nw5\n", b"w4\n"]
    paths = []
    for i, data in enumerate(files):
        paths.append(tmp_path / f"c{i}.txt")
        paths[-1].write_bytes(data)
    m = ps.Word2Vec(min_count=1, dim=4, max_vocab_size=1)
    m.build_vocab(ps.TextCorpus([str(p) for p in paths]), workdir=str(tmp_path))
    assert m.words == ["w5"] and m.counts.tolist() == [4]
    # the same text in one file is one block: counted exactly
    one = tmp_path / "all.txt"
    one.write_bytes(b"".join(files))
    m = ps.Word2Vec(min_count=1, dim=4, max_vocab_size=1)
    m.build_vocab(ps.TextCorpus(str(one)), workdir=str(tmp_path))
    assert m.words == ["w5"] and m.counts.tolist() == [5]


@pytest.mark.parametrize("unigrams, error, match", [
    (None, ValueError, "Must provide either vocab_file or unigrams"),
    ((), ValueError, "Must provide either vocab_file or unigrams"),
    (3.0, TypeError, "1-D sequence of numbers"),
    (np.float32(2.0), TypeError, "1-D sequence of numbers"),
    ([True], TypeError, "1-D sequence of numbers"),
    ([[1.0]], TypeError, "1-D sequence of numbers"),
])
def test_f21_function_and_class_take_the_same_unigrams(unigrams, error, match):
    # F21 was the harness's oracle turning None into [nan] (valid with
    # distortion 0: nan**0 == 1); checking it showed the function promoting a
    # scalar and bools that the class refuses. Both now refuse the same values.
    with pytest.raises(error, match=match):
        ps.FixedUnigramSampler(1, unigrams=unigrams, distortion=0.0)
    with pytest.raises(error, match=match):
        ps.fixed_unigram_candidate_sampler(np.zeros((1, 1), np.int64), 1, 1, True, 1,
                                           unigrams=unigrams, distortion=0.0, seed=1)


def test_f21_function_and_class_take_integer_unigrams():
    # the conversion both share keeps integer counts: the same final weights
    assert ps.FixedUnigramSampler(3, unigrams=[1, 2, 3]).weights.tolist() == [1.0, 2.0, 3.0]
    sampled, _, expected = ps.fixed_unigram_candidate_sampler(
        np.zeros((1, 1), np.int64), 1, 2, True, 3, unigrams=[1, 2, 3], seed=5)
    assert sorted(set(sampled.tolist())) == sorted(sampled.tolist()) and sampled.max() < 3
    assert expected.dtype == np.float32 and (expected > 0).all()
