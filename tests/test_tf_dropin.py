"""pysampled as a drop-in for TensorFlow code (issue 9): every new behaviour
against TensorFlow 2.21's own outputs.

Oracle: ``tests/data/tf_dropin.npz``, written by TF 2.21 itself with
``tests/data/make_tf_dropin.py`` (TF is not needed here). Cases:
``true_expected_count`` / ``sampled_expected_count`` of every shape TF
broadcasts with one meaning, ``num_sampled`` different from the number of
explicit candidates, float labels, and ``rank_sampled_softmax_loss``
(TF 1.15 contrib, re-created from TF 2.21 ops by the generator; also checked
against the NumPy oracle ``tests/oracles/losses.py::rank_*``, written from
TF 1.15's source). Tolerances: TF's float32 ``2e-4 * max(1, |ref|)``.
"""
import json
import pathlib

import numpy as np
import pytest

import pysampled as ps
from _loss_common import GOLDEN_TOL, max_scaled_error, ref, shard_dense

DATA = pathlib.Path(__file__).resolve().parent / "data" / "tf_dropin.npz"
_Z = np.load(DATA)
INDEX = json.loads(str(_Z["index"]))
FACTS = json.loads(str(_Z["facts"]))
TOL = GOLDEN_TOL["float32"]


def _case(name):
    prefix = name + "/"
    case = {k[len(prefix):]: _Z[k] for k in _Z.files if k.startswith(prefix)}
    case["meta"] = json.loads(str(case["meta"]))
    return case


def _split(full, shards, strategy):
    if shards == 1:
        return full
    if strategy == "mod":
        return [np.ascontiguousarray(full[p::shards]) for p in range(shards)]
    rows = ref.canonical_shard_rows(full.shape[0], shards)
    starts = np.cumsum([0] + rows[:-1])
    return [full[s:s + n] for s, n in zip(starts, rows)]


def _params(case):
    m = case["meta"]
    w = _split(case["W"], m["num_shards"], m["partition_strategy"])
    b = _split(case["b"], m["num_shards"], m["partition_strategy"]) if m["bias_sharded"] \
        else case["b"]
    return w, b


def _close(what, actual, expected):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    err = max_scaled_error(actual, expected)
    assert err <= TOL, f"{what}: scaled error {err:.3g} > {TOL:g}"


def _check_grads(case, grads):
    C = case["meta"]["num_classes"]
    _close("dX", grads.inputs, case["dX"])
    _close("dW", grads.weights.to_dense(C), case["dW"])
    _close("db", grads.biases.to_dense(C), case["db"])


def _call(case):
    m = case["meta"]
    w, b = _params(case)
    kw = dict(sampled_values=(case["sampled"], case["tec"], case["sec"]),
              remove_accidental_hits=m["remove_accidental_hits"], partition_strategy="div",
              return_grads=True, upstream=case["upstream"])
    args = (w, b, case["labels"], case["X"], m["num_sampled"], m["num_classes"], m["num_true"])
    if m["kind"] == "logits":
        logits, _, grads = ps.compute_sampled_logits(*args, **kw)
        return logits, grads
    fn = ps.nce_loss if m["kind"] == "nce" else ps.sampled_softmax_loss
    return fn(*args, **kw)


LOSS_CASES = [n for n in INDEX if not n.startswith("rank")]
RANK_CASES = [n for n in INDEX if n.startswith("rank")]


def test_data_is_from_tf_2_21():
    assert str(_Z["tf_version"]) == "2.21.0"
    assert len(LOSS_CASES) == 36 and len(RANK_CASES) == 5


@pytest.mark.parametrize("name", LOSS_CASES)
def test_tf_accepted_call_matches_tf(name):
    """Expected counts that TF broadcasts (item 1), num_sampled != number of
    candidates (item 2), integral float labels (item 4): TF's outputs and
    gradients."""
    case = _case(name)
    out, grads = _call(case)
    key = "logits" if case["meta"]["kind"] == "logits" else "loss"
    _close(key, out, case[key])
    _check_grads(case, grads)


def test_float_labels_fractional_raise_where_tf_truncates():
    case = _case("floatlabels_nce")
    m = case["meta"]
    w, b = _params(case)
    bad = case["labels"] + 0.25
    with pytest.raises(ValueError, match="labels must hold integer values: got .*truncate"):
        ps.nce_loss(w, b, bad, case["X"], m["num_sampled"], m["num_classes"],
                    sampled_values=(case["sampled"], case["tec"], case["sec"]))
    for v in (np.nan, np.inf, 2.0**63):
        lab = case["labels"].copy()
        lab[0, 0] = v
        with pytest.raises(ValueError, match="labels must hold integer values"):
            ps.nce_loss(w, b, lab, case["X"], m["num_sampled"], m["num_classes"],
                        sampled_values=(case["sampled"], case["tec"], case["sec"]))


def test_learned_unigram_range_messages_are_tfs():
    # TF 2.21's Python wrapper message for range_max > 2**31 - 1 (recorded by the generator)...
    tf_msg = FACTS["learned_unigram_range_2**31"].split(": ", 1)[1]
    with pytest.raises(ValueError) as e:
        ps.learned_unigram_candidate_sampler([[0]], 1, 1, True, 2**31)
    assert str(e.value).startswith(tf_msg)
    # ... and TF's kernel check (current TF; TF 2.21 hangs building a 2**31 table).
    assert "range_max must be less than 2147483647" in str(e.value)
    for fn in (ps.learned_unigram_candidate_sampler,
               lambda *a: ps.fixed_unigram_candidate_sampler(*a, unigrams=[1.0])):
        with pytest.raises(ValueError, match=r"^range_max must be less than 2147483647 for "
                                             r"unigram samplers, got 2147483647$"):
            fn([[0]], 1, 1, True, 2**31 - 1)


# ------------------------------------------------------------------- rank
@pytest.mark.parametrize("name", RANK_CASES)
def test_rank_sampled_softmax_loss_matches_tf(name):
    """TF 1.15 contrib's function, as TF 2.21 ops compute it: the same kept
    candidates (TF's top_k order is unspecified; compared as sets), loss and
    gradients, over 1-3 shards with "div" and "mod", sharded biases."""
    case = _case(name)
    m = case["meta"]
    w, b = _params(case)
    args = (w, b, case["labels"], case["X"], m["num_sampled"], m["num_resampled"],
            m["num_classes"], m["num_true"], (case["sampled"], case["tec"], case["sec"]),
            m["resampling_temperature"], m["remove_accidental_hits"], m["partition_strategy"])
    loss, grads = ps.rank_sampled_softmax_loss(*args, return_grads=True,
                                               upstream=case["upstream"])
    _close("loss", loss, case["loss"])
    _check_grads(case, grads)
    np.testing.assert_array_equal(ps.rank_sampled_softmax_loss(*args), loss)
    # The NumPy oracle (from TF 1.15's source) keeps the same candidates.
    _, _, positions, scores = ref.rank_resample(
        case["W"], case["b"], case["X"], case["sampled"], case["sec"], m["num_resampled"],
        m["resampling_temperature"])
    assert sorted(positions) == sorted(case["kept"].tolist())
    np.testing.assert_allclose(scores, case["scores"], rtol=1e-5)


def test_rank_golden_case36_resampled_ids():
    """``tests/data/tf_losses.npz`` case 36 (TF 2.21 ops, div over 2 shards,
    remove_accidental_hits): the public function resamples TF's ids."""
    from _loss_common import golden_cases, golden_params
    _, cases = golden_cases()
    case = cases["case36_rank_ssm_f32_div2_rah"]
    m = case["meta"]
    w, b = golden_params(case)
    loss, grads = ps.rank_sampled_softmax_loss(
        w, b, case["labels"], case["X"], m["num_sampled"], m["num_resampled"],
        m["num_classes"], m["num_true"], (case["sampled"], case["tec"], case["sec"]),
        m["resampling_temperature"], m["remove_accidental_hits"], m["partition_strategy"],
        return_grads=True, upstream=case["upstream"])
    _close("loss", loss, case["loss"])
    _close("dX", grads.inputs, case["dX"])
    for p, g in enumerate(shard_dense(grads.weights, w)):
        _close(f"dW{p}", g, case[f"dW{p}"])


def test_rank_default_sampler_is_learned_unigram():
    """TF's default: learned_unigram_candidate_sampler(unique=True,
    range_max=num_classes); with a seed the stream is that function's."""
    rng = np.random.default_rng(3)
    W = rng.normal(size=(20, 4)).astype(np.float32)
    b = rng.normal(size=20).astype(np.float32)
    X = rng.normal(size=(3, 4)).astype(np.float32)
    lab = np.array([[1], [5], [7]])
    ps.reset_sampler_cache()
    got = ps.rank_sampled_softmax_loss(W, b, lab, X, 8, 3, 20, 1, None, 1.0, True, "mod", seed=9)
    ps.reset_sampler_cache()
    sv = ps.learned_unigram_candidate_sampler(lab, 1, 8, True, 20, seed=9)
    want = ref.rank_sampled_softmax_loss(W, b, lab, X, sv[0], sv[1], sv[2], 3, 1.0, True, "mod")
    _close("loss", got, want.astype(np.float32))
    ps.reset_sampler_cache()


@pytest.mark.parametrize("strategy,shards", [("div", 1), ("div", 3), ("mod", 3), ("mod", 4)])
@pytest.mark.parametrize("temperature", [0.3, 1.0, 4.0])
def test_rank_random_problems_vs_numpy_oracle(strategy, shards, temperature):
    rng = np.random.default_rng(shards * 10 + int(temperature * 10))
    C, D, B, NT, S, R = 17, 6, 5, 2, 9, 4
    W = rng.normal(size=(C, D)).astype(np.float32)
    b = rng.normal(size=C).astype(np.float32)
    X = rng.normal(size=(B, D)).astype(np.float32)
    lab = rng.integers(0, C, size=(B, NT))
    sampled = rng.choice(C, size=S, replace=False)
    lab[1, 0] = sampled[0]
    tec = rng.uniform(0.1, 1.0, size=(B, NT)).astype(np.float32)
    sec = rng.uniform(0.1, 1.0, size=S).astype(np.float32)
    u = rng.uniform(0.5, 1.5, size=B).astype(np.float32)
    w_sh, b_sh = _split(W, shards, strategy), _split(b, shards, strategy)
    loss, grads = ps.rank_sampled_softmax_loss(
        w_sh, b_sh, lab, X, S, R, C, NT, (sampled, tec, sec), temperature, True, strategy,
        return_grads=True, upstream=u)
    want = ref.rank_sampled_softmax_loss_grads(W, b, lab, X, sampled, tec, sec, u, R,
                                               temperature, True, "div")
    _close("loss", loss, want["loss"].astype(np.float32))
    _close("dX", grads.inputs, want["inputs"].astype(np.float32))
    dW = want["weights"][0] if isinstance(want["weights"], list) else want["weights"]
    db = want["biases"][0] if isinstance(want["biases"], list) else want["biases"]
    _close("dW", grads.weights.to_dense(C), np.asarray(dW).astype(np.float32))
    _close("db", grads.biases.to_dense(C), np.asarray(db).astype(np.float32))
