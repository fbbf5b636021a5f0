"""Public behaviour of the sampled losses beyond numerical agreement.

1. Determinism: bit-identical losses and gradients for any num_threads
   (1, 2, 3, -1, None) at each SIMD level, repeated calls, calls from other
   Python threads (fresh per-thread workspaces) and concurrent calls; SIMD
   levels agree within float tolerance, and the SIMD hook really switches the
   loss kernel (test_simd_level_hook_switches_the_loss_kernel).
2. Caller's memory: nothing the caller passes is written; read-only arrays,
   non-contiguous inputs/labels/sampled values, weights whose rows are a
   column slice of a wider array (read in place, no copy), reversed or
   broadcast rows, tuples of shards; Fortran-ordered weights are refused.
3. Bad input (SPEC section 11 and beyond): exceptions and messages.
4. Default sampler: sampled_values=None with a seed equals calling
   log_uniform_candidate_sampler with that seed and passing its output.
5. sampled_sparse_softmax_loss: labels [B] and [B, 1], B = 1.
"""
import copy
import threading
import tracemalloc

import numpy as np
import pytest

import pysampled as ps
from _loss_common import (
    FLT_MAX,
    SIMD_LEVELS,
    TOL,
    Problem,
    assert_norm,
    assert_scaled,
    ref,
    simd_level,
    split,
)
from pysampled import _samplers


def outputs(p, threads=1, rah=True, **extra):
    """Every output of every public function on problem p, as a flat list of arrays."""
    kw = dict(sampled_values=p.sv, remove_accidental_hits=rah, partition_strategy=p.strategy,
              num_threads=threads, **extra)
    out = []

    def grads(g):
        out.extend([g.inputs, g.weights.ids, g.weights.values])
        if g.biases is not None:
            out.extend([g.biases.ids, g.biases.values])

    logits, labels, g = ps.compute_sampled_logits(*p.api_args(), return_grads=True,
                                                  upstream=p.R, **kw)
    out.extend([logits, labels])
    grads(g)
    for fn, more in ((ps.nce_loss, {}), (ps.nce_loss, {"true_target": 1.0}),
                     (ps.sampled_softmax_loss, {})):
        loss, g = fn(*p.api_args(), return_grads=True, upstream=p.upstream, **kw, **more)
        out.append(loss)
        grads(g)
        out.append(fn(*p.api_args(), **kw, **more))
    return out


def assert_identical(a, b, what=""):
    assert len(a) == len(b)
    for k, (x, y) in enumerate(zip(a, b)):
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what} output {k}"
        assert np.array_equal(x, y, equal_nan=True), f"{what}: output {k} differs"


def big_problem(dt, seed=1):
    # Several row tiles (8..48 rows, depending on the thread count), S above the
    # 256-wide k-blocks of dX and B above the 256-row k-blocks of dW.
    return Problem(seed, B=300, D=64, C=2000, S=500, NT=2, xdt=dt, shards=3, strategy="div",
                   bias="sharded")


# --------------------------------------------------------------- determinism
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("level", SIMD_LEVELS)
def test_bit_identical_for_any_thread_count(level, dt, restore_simd):  # noqa: F811
    _samplers.set_simd_level(level)
    p = big_problem(dt)
    base = outputs(p, threads=1)
    for threads in (2, 3, -1, None):
        assert_identical(outputs(p, threads=threads), base, f"{level} threads={threads}")
    # a second call (workspaces reused) is identical too
    assert_identical(outputs(p, threads=2), base, "repeat")


@pytest.mark.parametrize("B", [1, 9, 47, 97, 261])
def test_bit_identical_for_batch_tilings(B):
    """Batch sizes around the row-tile and micro-tile boundaries."""
    p = Problem(B, B=B, D=33, C=300, S=129, NT=1, xdt=np.float32, shards=2, strategy="mod")
    base = outputs(p, threads=1)
    for threads in (2, 3, 5):
        assert_identical(outputs(p, threads=threads), base, f"B={B} threads={threads}")


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_simd_levels_agree(dt, restore_simd):  # noqa: F811
    p = big_problem(dt, seed=2)
    with simd_level("generic"):
        base = outputs(p, threads=2)
    for level in SIMD_LEVELS[1:]:
        with simd_level(level):
            got = outputs(p, threads=2)
        for k, (x, y) in enumerate(zip(got, base)):
            assert x.dtype == y.dtype and x.shape == y.shape
            if x.dtype.kind == "i":
                np.testing.assert_array_equal(x, y)
            elif x.ndim == 2 and x.shape[1] == p.NT + p.S:   # logits: exact masks
                assert_scaled(x, y, TOL[x.dtype], f"{level} output {k}")
            else:
                assert_norm(x, y, TOL[x.dtype], f"{level} output {k}")


@pytest.mark.skipif("avx512" not in SIMD_LEVELS, reason="needs an AVX-512 CPU")
def test_simd_level_hook_switches_the_loss_kernel(restore_simd):  # noqa: F811
    """A true logit whose float32 dot product depends on the kernel's summation
    order: terms x_0 = 2**24, x_16 = 1, x_32 = -2**24 (D = 48, others 0). The
    dot product keeps two vector accumulators over 2*lanes columns, then one
    for a last vector, then adds the lanes by halving. With 16 lanes (avx512)
    lane 0 sums (x_0 + x_32) + x_16 = 1; with 8 lanes (avx2) it sums
    (x_0 + x_16) + x_32, and 2**24 + 1 rounds to 2**24, giving 0; the 4-lane
    generic level accumulates x_0, x_8, ..., x_40 in order, also 0."""
    W = np.zeros((3, 48), np.float32)
    W[0, 0], W[0, 16], W[0, 32] = 2.0**24, 1.0, -(2.0**24)
    X = np.ones((1, 48), np.float32)
    sv = (np.array([2]), np.ones((1, 1), np.float32), np.ones(1, np.float32))
    got = {}
    for level in SIMD_LEVELS:
        _samplers.set_simd_level(level)
        logits, _ = ps.compute_sampled_logits(W, None, [[0]], X, 1, 3, sampled_values=sv)
        got[level] = float(logits[0, 0])
    assert got["avx512"] == 1.0
    assert got["generic"] == 0.0 and got["avx2"] == 0.0, got


def test_workspace_reuse_and_other_threads():
    """Per-thread buffers: results do not depend on earlier, bigger calls."""
    small = Problem(3, B=5, D=7, C=40, S=9, NT=3, xdt=np.float64, shards=2, strategy="div")
    big = big_problem(np.float64)
    fresh = {}

    def in_new_thread():
        fresh["small"] = outputs(small, threads=1)

    t = threading.Thread(target=in_new_thread)
    t.start()
    t.join()
    outputs(big, threads=2)
    assert_identical(outputs(small, threads=1), fresh["small"], "after a big call")
    assert_identical(outputs(small, threads=2), fresh["small"], "after a big call, 2 threads")


def test_concurrent_calls_from_python_threads():
    problems = [Problem(40 + k, B=120, D=24, C=500, S=150, NT=k % 3 + 1,
                        xdt=(np.float32, np.float64)[k % 2], shards=k % 4 + 1,
                        strategy=("mod", "div")[k % 2]) for k in range(4)]
    expected = [outputs(p, threads=1) for p in problems]
    got = [None] * len(problems)
    errors = []

    def work(k):
        try:
            for _ in range(3):
                got[k] = outputs(problems[k], threads=2)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(problems))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(len(problems)):
        assert_identical(got[k], expected[k], f"problem {k}")


# ------------------------------------------------------------ caller's memory
def _arrays(obj):
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [a for o in obj for a in _arrays(o)]
    return []


def _call_all(p, **kw):
    """All four functions, with and without gradients."""
    base = dict(sampled_values=p.sv, partition_strategy=p.strategy, **kw)
    res = []
    res.append(ps.nce_loss(*p.api_args(), remove_accidental_hits=True, **base))
    res.append(ps.nce_loss(*p.api_args(), return_grads=True, upstream=p.upstream, **base)[0])
    res.append(ps.sampled_softmax_loss(*p.api_args(), **base))
    res.append(ps.sampled_softmax_loss(*p.api_args(), return_grads=True, upstream=p.upstream,
                                       **base)[1].inputs)
    res.append(ps.compute_sampled_logits(*p.api_args(), remove_accidental_hits=True,
                                         return_grads=True, upstream=p.R, **base)[0])
    res.append(ps.compute_sampled_logits(*p.api_args(), subtract_log_q=False, **base)[0])
    if p.NT == 1:
        res.append(ps.sampled_sparse_softmax_loss(p.weights, p.biases, p.labels, p.X, p.S, p.C,
                                                  return_grads=True, upstream=p.upstream,
                                                  **base)[0])
    return res


@pytest.mark.parametrize("xdt,wdt,NT,shards", [
    (np.float32, np.float32, 1, 1), (np.float64, np.float64, 3, 3),
    (np.float32, np.float64, 1, 2), (np.float64, np.float32, 2, 4)])
def test_inputs_are_not_modified(xdt, wdt, NT, shards):
    p = Problem(7, B=33, D=18, C=50, S=27, NT=NT, xdt=xdt, wdt=wdt, shards=shards,
                strategy="div", bias="sharded")
    everything = [p.weights, p.biases, p.labels, p.X, p.sampled, p.tec, p.sec, p.upstream, p.R]
    before = copy.deepcopy(everything)
    _call_all(p, num_threads=2)
    for a, b in zip(_arrays(everything), _arrays(before)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_read_only_arrays_work():
    p = Problem(8, B=20, D=9, C=30, S=12, NT=1, shards=2, strategy="mod", bias="sharded")
    expected = _call_all(p)
    for a in _arrays([p.weights, p.biases, p.labels, p.X, p.sampled, p.tec, p.sec,
                      p.upstream, p.R]):
        a.flags.writeable = False
    got = _call_all(p)
    assert_identical(got, expected, "read-only")


def test_non_contiguous_inputs_give_the_same_results():
    p = Problem(9, B=21, D=10, C=30, S=12, NT=2, xdt=np.float64, shards=3, strategy="mod")
    expected = _call_all(p)
    rng = np.random.default_rng(0)
    wide = rng.normal(size=(p.B, 2 * p.D))
    wide[:, ::2] = p.X
    p.X = wide[:, ::2]
    assert not p.X.flags.c_contiguous
    assert_identical(_call_all(p), expected, "X[:, ::2]")
    p.X = np.asfortranarray(p.X)
    assert_identical(_call_all(p), expected, "Fortran X")
    p.labels = np.asfortranarray(p.labels)
    longer = np.repeat(p.sampled, 2)
    p.sampled = longer[::2]
    p.tec = np.asfortranarray(p.tec)
    p.sec = np.repeat(p.sec, 3)[::3]
    p.upstream = np.repeat(p.upstream, 2)[::2]
    p.R = np.asfortranarray(p.R)
    assert not (p.labels.flags.c_contiguous or p.sampled.flags.c_contiguous
                or p.sec.flags.c_contiguous or p.tec.flags.c_contiguous)
    assert_identical(_call_all(p), expected, "non-contiguous ids and counts")
    # int32 labels / sampled ids are accepted too
    p.labels = p.labels.astype(np.int32)
    p.sampled = p.sampled.astype(np.int32)
    assert_identical(_call_all(p), expected, "int32 ids")


def _misaligned(a):
    """A C-contiguous copy of `a` at an odd address (NumPy allows it; C++ may not read it)."""
    a = np.ascontiguousarray(a)
    buf = np.zeros(a.nbytes + 1, np.uint8)
    m = np.frombuffer(buf.data, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    m[...] = a
    assert not m.flags.aligned and m.flags.c_contiguous
    return m


def test_misaligned_ids_and_counts_give_the_same_results():
    """Unaligned (but contiguous) ids, expected counts and upstream weights are
    copied before the C++ core reads them (reading them in place is undefined
    behaviour, reported by UBSan)."""
    p = Problem(11, B=13, D=10, C=30, S=12, NT=2, xdt=np.float32, shards=2, strategy="div")
    expected = _call_all(p)
    for name in ("labels", "sampled", "tec", "sec", "upstream", "R", "X"):
        setattr(p, name, _misaligned(getattr(p, name)))
    assert_identical(_call_all(p), expected, "misaligned")
    model, ref_model = (ps.SampledLoss([a.copy() for a in p.weights], None, num_sampled=p.S,
                                       num_true=p.NT, partition_strategy="div", num_threads=1)
                        for _ in range(2))
    got = model.step(p.labels, p.X, sampled_values=(p.sampled, p.tec, p.sec), upstream=p.upstream)
    want = ref_model.step(np.ascontiguousarray(p.labels), np.ascontiguousarray(p.X),
                          sampled_values=(p.sampled.copy(), p.tec.copy(), p.sec.copy()),
                          upstream=p.upstream.copy())
    assert_identical(list(got), list(want), "step")


@pytest.mark.parametrize("shards", [1, 3])
def test_weights_rows_sliced_from_a_wider_array(shards):
    p = Problem(10, B=16, D=12, C=40, S=10, NT=1, shards=shards, strategy="div",
                bias="sharded")
    expected = _call_all(p)
    rng = np.random.default_rng(1)

    def widen(a):
        if a.ndim == 1:   # biases: every other element of a longer vector
            w = rng.normal(size=2 * a.shape[0]).astype(a.dtype)
            w[::2] = a
            return w[::2]
        w = rng.normal(size=(a.shape[0], a.shape[1] + 7)).astype(a.dtype)
        w[:, 3:3 + a.shape[1]] = a
        return w[:, 3:3 + a.shape[1]]

    p.weights = [widen(w) for w in p.weights] if shards > 1 else widen(p.weights)
    p.biases = [widen(b) for b in p.biases]
    for w in (p.weights if shards > 1 else [p.weights]):
        assert w.strides[0] > w.shape[1] * w.itemsize
    assert_identical(_call_all(p), expected, "row stride > dim")


def test_reversed_and_broadcast_weight_rows():
    p = Problem(11, B=16, D=12, C=40, S=10, NT=2, xdt=np.float64)
    expected = _call_all(p)
    p.weights = p.W[::-1].copy()[::-1]       # negative row stride
    p.biases = p.b[::-1].copy()[::-1]
    assert p.weights.strides[0] < 0 and p.biases.strides[0] < 0
    assert_identical(_call_all(p), expected, "negative strides")
    # rows of stride 0 (read-only broadcast view) are read in place
    row = p.W[3]
    p.weights = np.broadcast_to(row, p.W.shape)
    loss = ps.nce_loss(*p.api_args(), sampled_values=p.sv)
    exp = ref.nce_loss(np.array(p.weights), p.biases, p.labels, p.X, p.sampled, p.tec, p.sec)
    assert_scaled(loss, exp, 1e-11, "broadcast rows")


@pytest.mark.parametrize("wdt", [np.float32, np.float64])
def test_weights_are_read_in_place_without_copy(wdt):
    """A large table viewed through a column slice is not copied (tracemalloc
    sees every NumPy allocation; a copy would be > 12 MB)."""
    rng = np.random.default_rng(2)
    C, D = 50_000, 64
    wide = rng.normal(size=(C, D + 16)).astype(wdt)
    W = wide[:, :D]
    X = rng.normal(size=(8, D)).astype(np.float32)       # mixed dtype for wdt=float64
    labels = rng.integers(0, C, size=(8, 1))
    sampled = rng.choice(C, size=20, replace=False)
    sv = (sampled, np.ones((8, 1), np.float32), np.ones(20, np.float32))
    b = rng.normal(size=C).astype(wdt)
    for weights in (W, [W[:C // 2], W[C // 2:]]):
        tracemalloc.start()
        try:
            ps.sampled_softmax_loss(weights, b, labels, X, 20, C, sampled_values=sv,
                                    partition_strategy="div", return_grads=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < W.nbytes // 20, f"peak {peak} bytes: the weights were copied"


@pytest.mark.parametrize("as_shards", [False, True])
def test_fortran_order_weights_raise(as_shards):
    p = Problem(12, B=4, D=5, C=10, S=3, NT=1)
    W = np.asfortranarray(p.W)
    weights = [W[:5], W[5:]] if as_shards else W
    with pytest.raises(ValueError, match="contiguous rows"):
        ps.nce_loss(weights, p.b, p.labels, p.X, 3, 10, sampled_values=p.sv,
                    partition_strategy="div")


def test_tuple_of_shards_behaves_like_a_list():
    p = Problem(13, B=12, D=6, C=23, S=8, NT=2, shards=3, strategy="mod", bias="sharded")
    expected = _call_all(p)
    p.weights = tuple(p.weights)
    p.biases = tuple(p.biases)
    assert_identical(_call_all(p), expected, "tuples")


# ------------------------------------------------------------------ bad input
@pytest.fixture
def small():
    return Problem(14, B=3, D=4, C=10, S=4, NT=1, hits=False, dups=False)


def _nce(p, **kw):
    args = dict(weights=p.weights, biases=p.biases, labels=p.labels, inputs=p.X,
                num_sampled=p.S, num_classes=p.C, sampled_values=p.sv)
    args.update(kw)
    return ps.nce_loss(**args)


ALL_FUNCS = [
    lambda p, **kw: ps.nce_loss(**_kwargs(p, kw)),
    lambda p, **kw: ps.sampled_softmax_loss(**_kwargs(p, kw)),
    lambda p, **kw: ps.compute_sampled_logits(**_kwargs(p, kw)),
]


def _kwargs(p, kw):
    args = dict(weights=p.weights, biases=p.biases, labels=p.labels, inputs=p.X,
                num_sampled=p.S, num_classes=p.C, sampled_values=p.sv)
    args.update(kw)
    return args


@pytest.mark.parametrize("fn", ALL_FUNCS)
@pytest.mark.parametrize("bad,pos", [(10, 1), (-1, 2), (2**40, 0)])
def test_label_out_of_range(small, fn, bad, pos):
    labels = small.labels.copy()
    labels[pos, 0] = bad
    with pytest.raises(IndexError, match=rf"labels\[{pos}\] = {bad} is not in \[0, 10\)"):
        fn(small, labels=labels)


def test_label_out_of_range_names_the_flat_position():
    p = Problem(15, B=3, D=4, C=10, S=4, NT=2, hits=False)
    labels = p.labels.copy()
    labels[1, 1] = 12
    with pytest.raises(IndexError, match=r"labels\[3\] = 12 is not in \[0, 10\)"):
        _nce(p, labels=labels, num_true=2)
    # sharded weights: still global ids
    p = Problem(15, B=3, D=4, C=10, S=4, NT=2, hits=False, shards=3, strategy="div")
    with pytest.raises(IndexError, match=r"labels\[3\] = 12 is not in \[0, 10\)"):
        _nce(p, labels=labels, num_true=2, partition_strategy="div")


@pytest.mark.parametrize("bad,pos", [(10, 3), (-6, 0)])
def test_sampled_id_out_of_range(small, bad, pos):
    sampled = small.sampled.copy()
    sampled[pos] = bad
    for fn in ALL_FUNCS:
        with pytest.raises(IndexError,
                           match=rf"sampled_candidates\[{pos}\] = {bad} is not in \[0, 10\)"):
            fn(small, sampled_values=(sampled, small.tec, small.sec))


def test_label_beyond_num_classes_but_in_table_is_accepted(small):
    """num_classes is only used by the default sampler (TF)."""
    np.testing.assert_array_equal(_nce(small, num_classes=2), _nce(small))


def test_input_dim_mismatch(small):
    for fn in ALL_FUNCS:
        with pytest.raises(ValueError, match="Matrix size-incompatible"):
            fn(small, inputs=small.X[:, :3])


def test_bias_shorter_than_needed(small):
    ids = np.concatenate([small.labels.ravel(), small.sampled])
    short = small.b[: int(ids.max())]
    with pytest.raises(IndexError, match=rf"is not in \[0, {short.shape[0]}\)"):
        _nce(small, biases=short)
    # a bias covering every used id is fine
    _nce(small, biases=small.b[: int(ids.max()) + 1])


def test_div_with_fewer_rows_than_shards(small):
    W = small.W[:2]
    with pytest.raises(ValueError, match="Integer division by zero"):
        _nce(small, weights=[W[:1], W[1:2], W[2:2]], biases=None, partition_strategy="div",
             labels=np.zeros((3, 1), np.int64),
             sampled_values=(np.array([0, 1, 0, 1]), small.tec, small.sec))


def test_unknown_partition_strategy(small):
    shards = split(small.W, 2, "mod")
    with pytest.raises(ValueError, match=r"Unrecognized partition strategy: foo\.Must be one "
                                         r"of either `mod` or `div`\."):
        _nce(small, weights=shards, partition_strategy="foo")
    with pytest.raises(ValueError, match="Unrecognized partition strategy: bar"):
        _nce(small, biases=split(small.b, 2, "mod"), partition_strategy="bar")
    # one shard: the strategy is ignored, as in TF
    np.testing.assert_array_equal(_nce(small, partition_strategy="foo"), _nce(small))
    np.testing.assert_array_equal(_nce(small, partition_strategy=None), _nce(small))


@pytest.mark.parametrize("rows,strategy,layout", [
    ([3, 3, 4], "div", r"\[4, 3, 3\]"), ([4, 4, 2], "mod", r"\[4, 3, 3\]"),
    ([4, 6], "div", r"\[5, 5\]"), ([6, 4], "mod", r"\[5, 5\]")])
def test_non_canonical_shard_sizes(small, rows, strategy, layout):
    starts = np.cumsum([0] + rows[:-1])
    shards = [small.W[s:s + n] for s, n in zip(starts, rows)]
    with pytest.raises(ValueError, match=layout):
        _nce(small, weights=shards, partition_strategy=strategy)
    bias_shards = [small.b[s:s + n] for s, n in zip(starts, rows)]
    with pytest.raises(ValueError, match=layout):
        _nce(small, biases=bias_shards, partition_strategy=strategy)


def test_labels_of_wrong_shape(small):
    with pytest.raises(ValueError, match="labels must have shape"):
        _nce(small, labels=np.ones((3, 2), np.int64))
    with pytest.raises(ValueError, match="labels must have shape"):
        _nce(small, labels=small.labels[:, :, None])
    with pytest.raises(ValueError, match="rows"):
        _nce(small, labels=small.labels[:2])
    with pytest.raises(ValueError, match="labels must have shape"):
        _nce(small, labels=np.ones((3, 1), np.int64), num_true=2,
             sampled_values=(small.sampled, np.ones((3, 2)), small.sec))
    # [B] is fine with num_true=1
    np.testing.assert_array_equal(_nce(small, labels=small.labels[:, 0]), _nce(small))


def test_tec_of_shape_batch_is_refused(small):
    """TF silently broadcasts a [B] tec to [B, B]; pysampled refuses it."""
    for fn in ALL_FUNCS:
        with pytest.raises(ValueError, match=r"true_expected_count must have shape \(3, 1\)"):
            fn(small, sampled_values=(small.sampled, small.tec[:, 0], small.sec))
    with pytest.raises(ValueError, match=r"sampled_expected_count must have shape \(4,\)"):
        _nce(small, sampled_values=(small.sampled, small.tec, small.sec[:3]))


def test_num_sampled_only_sizes_a_draw(small):
    """TF's rule (issue 9): with explicit sampled values every candidate is
    used whatever num_sampled says; with remove_accidental_hits TF's hit mask
    has num_sampled columns, so a different count raises here."""
    for fn in ALL_FUNCS:
        base = fn(small, remove_accidental_hits=False)
        for S in (1, 3, 5):
            got = fn(small, num_sampled=S, remove_accidental_hits=False)
            for a, b in zip(np.atleast_1d(base) if not isinstance(base, tuple) else base,
                            got if isinstance(got, tuple) else np.atleast_1d(got)):
                np.testing.assert_array_equal(a, b)
            with pytest.raises(ValueError, match=f"num_sampled={S}"):
                fn(small, num_sampled=S, remove_accidental_hits=True)


def test_sampled_values_must_be_a_triple(small):
    with pytest.raises(ValueError, match="triple"):
        _nce(small, sampled_values=small.sv[:2])


def test_float_ids_are_refused(small):
    # Integral float labels are TF's cast to int64 (issue 9); fractional ones raise.
    np.testing.assert_array_equal(_nce(small, labels=small.labels.astype(np.float64)),
                                  _nce(small))
    with pytest.raises(ValueError, match="labels must hold integer values"):
        _nce(small, labels=small.labels + 0.5)
    with pytest.raises(TypeError, match="sampled_candidates must hold integers"):
        _nce(small, sampled_values=(small.sampled.astype(np.float32), small.tec, small.sec))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, np.complex64, bool])
def test_non_float_inputs_are_refused(small, dtype):
    for fn in ALL_FUNCS:
        with pytest.raises(TypeError, match="inputs must be float32 or float64"):
            fn(small, inputs=small.X.astype(dtype))


def test_bad_weight_dtypes_and_shapes(small):
    with pytest.raises(TypeError, match="weights must be float32 or float64"):
        _nce(small, weights=small.W.astype(np.float16))
    with pytest.raises(TypeError, match="same dtype"):
        _nce(small, weights=[small.W[:5], small.W[5:].astype(np.float64)],
             partition_strategy="div")
    with pytest.raises(ValueError, match="same number of columns"):
        _nce(small, weights=[small.W[:5], small.W[5:, :3]], partition_strategy="div")
    with pytest.raises(ValueError, match="2-D"):
        _nce(small, weights=small.W[0])
    with pytest.raises(ValueError, match="1-D"):
        _nce(small, biases=small.b[:, None])
    with pytest.raises(ValueError, match="empty"):
        _nce(small, weights=[])
    with pytest.raises(ValueError, match="2-D"):
        _nce(small, inputs=small.X[0])


def test_bad_threads_upstream_and_target(small):
    for n in (0, -2):
        with pytest.raises(ValueError, match="num_threads"):
            _nce(small, num_threads=n)
    with pytest.raises(ValueError, match=r"upstream must have shape \(3,\)"):
        ps.nce_loss(**_kwargs(small, {}), return_grads=True, upstream=np.ones(4))
    with pytest.raises(ValueError, match=r"upstream must have shape \(3, 5\)"):
        ps.compute_sampled_logits(**_kwargs(small, {}), return_grads=True, upstream=np.ones(3))
    for t in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="true_target"):
            _nce(small, true_target=t)


def test_default_sampler_attr_minimums(small):
    with pytest.raises(ValueError, match="num_sampled' of 0 must be at least minimum 1"):
        _nce(small, sampled_values=None, num_sampled=0, seed=1)
    with pytest.raises(ValueError, match="num_classes' of 0 must be at least minimum 1"):
        _nce(small, sampled_values=None, num_classes=0, seed=1)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_empty_batch_loss(dt):
    p = Problem(16, B=0, D=5, C=10, S=4, NT=2, xdt=dt, shards=2, strategy="mod",
                bias="sharded")
    for fn in (ps.nce_loss, ps.sampled_softmax_loss):
        loss = fn(*p.api_args(), sampled_values=p.sv)
        assert loss.shape == (0,) and loss.dtype == dt
        loss, g = fn(*p.api_args(), sampled_values=p.sv, return_grads=True)
        assert loss.shape == (0,) and g.inputs.shape == (0, 5) and g.inputs.dtype == dt
        assert not g.weights.values.any() and not g.biases.values.any()
        # default sampler too (TF: empty loss)
        loss = fn(*p.api_args(), seed=3)
        assert loss.shape == (0,)
    logits, labels = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv)
    assert logits.shape == (0, 6) and labels.shape == (0, 6) and logits.dtype == dt
    loss = ps.sampled_sparse_softmax_loss(p.weights, p.biases, np.zeros(0, np.int64), p.X,
                                          4, 10, sampled_values=(p.sampled, np.zeros((0, 1)),
                                                                 p.sec))
    assert loss.shape == (0,)


@pytest.mark.parametrize("explicit_upstream", [False, True])
def test_empty_batch_logits_gradients(explicit_upstream):
    p = Problem(16, B=0, D=5, C=10, S=4, NT=2, xdt=np.float32)
    up = np.zeros((0, 6), np.float32) if explicit_upstream else None
    logits, labels, g = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv,
                                                  return_grads=True, upstream=up)
    assert logits.shape == (0, 6)
    assert g.inputs.shape == (0, 5)
    assert not g.weights.values.any()


def test_default_sampler_with_float64_inputs():
    """TF cannot (float32 expected counts); pysampled casts them."""
    p = Problem(17, B=6, D=5, C=30, S=8, NT=1, xdt=np.float64)
    ps.reset_sampler_cache()
    loss = ps.sampled_softmax_loss(*p.api_args(), seed=5)
    ps.reset_sampler_cache()
    sv = ps.log_uniform_candidate_sampler(p.labels, 1, 8, True, 30, seed=5)
    ps.reset_sampler_cache()
    assert loss.dtype == np.float64 and np.all(np.isfinite(loss))
    exp = ref.sampled_softmax_loss(p.weights, p.biases, p.labels, p.X, *sv)
    assert_scaled(loss, exp, 1e-11, "f64 default sampler")


def test_nan_in_a_sampled_weight_row_poisons_every_example():
    p = Problem(18, B=5, D=4, C=20, S=6, NT=1, hits=False, dups=False)
    p.weights = p.W.copy()
    p.weights[p.sampled[2], 1] = np.nan
    for fn in (ps.nce_loss, ps.sampled_softmax_loss):
        assert np.all(np.isnan(fn(*p.api_args(), sampled_values=p.sv)))
    # ... even when that sampled id is a masked accidental hit of row 0
    p.labels[0, 0] = p.sampled[2]
    for fn in (ps.nce_loss, ps.sampled_softmax_loss):
        assert np.all(np.isnan(fn(*p.api_args(), sampled_values=p.sv,
                                  remove_accidental_hits=True)))


def test_nan_in_a_true_weight_row_poisons_its_rows_only():
    p = Problem(19, B=5, D=4, C=20, S=6, NT=1, hits=False, dups=False)
    free = sorted(set(range(20)) - set(p.sampled.tolist()))
    p.labels[:, 0] = free[:5]
    p.labels[3, 0] = free[0]
    p.weights = p.W.copy()
    p.weights[free[0], 2] = np.nan
    for fn in (ps.nce_loss, ps.sampled_softmax_loss):
        loss = fn(*p.api_args(), sampled_values=p.sv)
        np.testing.assert_array_equal(np.isnan(loss), [True, False, False, True, False])


def test_nan_in_one_input_row_poisons_only_that_row():
    p = Problem(20, B=5, D=4, C=20, S=6, NT=2, xdt=np.float64)
    p.X = p.X.copy()
    p.X[2, 3] = np.nan
    for fn in (ps.nce_loss, ps.sampled_softmax_loss):
        for rah in (False, True):
            loss = fn(*p.api_args(), sampled_values=p.sv, remove_accidental_hits=rah)
            np.testing.assert_array_equal(np.isnan(loss), [False, False, True, False, False])
    logits, _ = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv)
    assert np.all(np.isnan(logits[2])) and np.all(np.isfinite(np.delete(logits, 2, axis=0)))


def test_zero_or_negative_expected_counts_give_nan_or_inf():
    p = Problem(21, B=4, D=4, C=20, S=5, NT=1, xdt=np.float64, hits=False, dups=False)
    sec = p.sec.copy()
    sec[1] = 0.0     # log 0 = -inf -> sampled logit +inf -> every row NaN/inf
    loss = ps.sampled_softmax_loss(*p.api_args(), sampled_values=(p.sampled, p.tec, sec))
    assert not np.any(np.isfinite(loss))
    tec = p.tec.copy()
    tec[2, 0] = -1.0   # log of a negative count: NaN in that row only
    loss = ps.nce_loss(*p.api_args(), sampled_values=(p.sampled, tec, p.sec))
    np.testing.assert_array_equal(np.isnan(loss), [False, False, True, False])


# ------------------------------------------------------------ default sampler
def _default_vs_explicit(fn, p, seed, **kw):
    ps.reset_sampler_cache()
    r1 = fn(*p.api_args(), seed=seed, **kw)
    r2 = fn(*p.api_args(), seed=seed, **kw)      # the stream continues
    ps.reset_sampler_cache()
    sv1 = ps.log_uniform_candidate_sampler(p.labels, p.NT, p.S, True, p.C, seed=seed)
    sv2 = ps.log_uniform_candidate_sampler(p.labels, p.NT, p.S, True, p.C, seed=seed)
    ps.reset_sampler_cache()
    e1 = fn(*p.api_args(), sampled_values=sv1, **kw)
    e2 = fn(*p.api_args(), sampled_values=sv2, **kw)
    return (r1, r2), (e1, e2), (sv1, sv2)


def _flat(r):
    if isinstance(r, np.ndarray):
        return [r]
    out = []
    for x in r:
        if isinstance(x, ps.LossGrads):
            out += [x.inputs, x.weights.ids, x.weights.values]
            if x.biases is not None:
                out += [x.biases.ids, x.biases.values]
        else:
            out += _flat(x)
    return out


@pytest.mark.parametrize("seed", [7, (4321, 77), (0, 0)])
@pytest.mark.parametrize("which", ["nce", "ssm", "logits", "nce_grads", "ssm_grads"])
def test_default_sampler_equals_explicit_sampler_call(which, seed):
    p = Problem(22, B=9, D=6, C=60, S=12, NT=2)
    fn = {"nce": ps.nce_loss, "ssm": ps.sampled_softmax_loss,
          "logits": ps.compute_sampled_logits, "nce_grads": ps.nce_loss,
          "ssm_grads": ps.sampled_softmax_loss}[which]
    kw = {"return_grads": True} if which.endswith("grads") else {}
    (r1, r2), (e1, e2), (sv1, sv2) = _default_vs_explicit(fn, p, seed, **kw)
    assert not np.array_equal(sv1[0], sv2[0])     # fresh negatives on the second call
    assert_identical(_flat(r1), _flat(e1), "first call")
    assert_identical(_flat(r2), _flat(e2), "second call")


def test_default_sampler_labels_as_vector():
    p = Problem(23, B=9, D=6, C=60, S=12, NT=1)
    ps.reset_sampler_cache()
    a = ps.sampled_softmax_loss(p.weights, p.biases, p.labels[:, 0], p.X, 12, 60, seed=4)
    ps.reset_sampler_cache()
    b = ps.sampled_softmax_loss(p.weights, p.biases, p.labels, p.X, 12, 60, seed=4)
    ps.reset_sampler_cache()
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------- sampled_sparse_softmax
@pytest.mark.parametrize("B", [1, 2, 37])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_sparse_softmax_equals_sampled_softmax(B, dt):
    p = Problem(24 + B, B=B, D=11, C=40, S=17, NT=1, xdt=dt, shards=2, strategy="div",
                bias="sharded")
    kw = dict(sampled_values=p.sv, partition_strategy="div", return_grads=True,
              upstream=p.upstream)
    expected = ps.sampled_softmax_loss(*p.api_args(), **kw)
    for labels in (p.labels, p.labels[:, 0]):
        got = ps.sampled_sparse_softmax_loss(p.weights, p.biases, labels, p.X, p.S, p.C, **kw)
        assert_identical(_flat(got), _flat(expected), f"labels {labels.shape}")
    e = ref.sampled_sparse_softmax_loss_grads(p.weights, p.biases, p.labels, p.X, p.sampled,
                                              p.tec, p.sec, p.upstream, partition_strategy="div")
    assert_scaled(expected[0], e["loss"], TOL[np.dtype(dt)], "loss")


def test_sparse_softmax_rejects_several_labels():
    p = Problem(25, B=4, D=3, C=20, S=5, NT=2)
    with pytest.raises(ValueError, match=r"\[batch_size\] or \[batch_size, 1\]"):
        ps.sampled_sparse_softmax_loss(p.weights, p.biases, p.labels, p.X, p.S, p.C,
                                       sampled_values=p.sv)


def test_sparse_softmax_default_sampler():
    p = Problem(26, B=5, D=3, C=20, S=5, NT=1)
    ps.reset_sampler_cache()
    a = ps.sampled_sparse_softmax_loss(p.weights, p.biases, p.labels[:, 0], p.X, 5, 20, seed=9)
    ps.reset_sampler_cache()
    b = ps.sampled_softmax_loss(*p.api_args(), seed=9)
    ps.reset_sampler_cache()
    np.testing.assert_array_equal(a, b)


def test_masked_logits_exact_in_both_dtypes():
    for dt in (np.float32, np.float64):
        p = Problem(27, B=12, D=8, C=25, S=10, NT=2, xdt=dt)
        logits, _ = ps.compute_sampled_logits(*p.api_args(), sampled_values=p.sv,
                                              remove_accidental_hits=True)
        rows, pos = ref.accidental_hits(p.labels, p.sampled)
        assert rows.size >= 3
        assert np.all(logits[rows, p.NT + pos] == -FLT_MAX)


# ------------------------------------------------------------ ids and shapes
@pytest.mark.parametrize("strategy", ["mod", "div"])
def test_ids_beyond_32_bits(strategy):
    """Two broadcast shards of 2**32 rows each (stride 0, no memory): ids up to
    2**33 - 1 are routed, masked and reported as int64."""
    N, A, Bv = 2**32, np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    W = [np.broadcast_to(A, (N, 3)), np.broadcast_to(Bv, (N, 3))]
    b = [np.broadcast_to(np.float64(0.5), (N,)), np.broadcast_to(np.float64(-2.0), (N,))]
    labels = np.array([[N + 1], [2 * N - 2], [5]])
    sampled = np.array([3, N + 7, 2 * N - 1, 2 * N - 2])
    X = np.eye(3)
    sv = (sampled, np.ones((3, 1)), np.ones(4))
    logits, _, g = ps.compute_sampled_logits(W, b, labels, X, 4, 2 * N, sampled_values=sv,
                                             remove_accidental_hits=True,
                                             partition_strategy=strategy, return_grads=True,
                                             upstream=np.ones((3, 5)))

    def row(i):
        first = i % 2 == 0 if strategy == "mod" else i < N
        return (A, 0.5) if first else (Bv, -2.0)

    ids = np.concatenate([labels, np.broadcast_to(sampled, (3, 4))], axis=1)
    expected = np.array([[X[i] @ row(ids[i, j])[0] + row(ids[i, j])[1] for j in range(5)]
                         for i in range(3)])
    expected[1, 1 + 3] = -FLT_MAX
    np.testing.assert_array_equal(logits, expected)
    np.testing.assert_array_equal(g.weights.ids, np.unique(ids))
    parts = g.weights.per_shard()
    if strategy == "mod":
        assert parts[0].ids.tolist() == [N - 1]
        assert parts[1].ids.tolist() == [1, 2, N // 2, N // 2 + 3, N - 1]
    else:
        assert parts[0].ids.tolist() == [3, 5]
        assert parts[1].ids.tolist() == [1, 7, N - 2, N - 1]
    assert all(p.num_rows == N for p in parts)


def test_sparse_rows_to_dense_too_small():
    p = Problem(28, B=4, D=3, C=20, S=5, NT=1)
    _, g = ps.nce_loss(*p.api_args(), sampled_values=p.sv, return_grads=True)
    top = int(g.weights.ids[-1])
    assert g.weights.to_dense().shape == (20, 3)
    assert g.weights.to_dense(top + 1).shape == (top + 1, 3)
    with pytest.raises(ValueError, match="num_rows"):
        g.weights.to_dense(top)


def test_step_refuses_mixed_weight_and_bias_dtypes_for_float64_inputs():
    """Weights float32 and biases float64 cannot be updated in place by a
    float64 step (found by fuzz_sampled_loss: np.dtype == None is float64)."""
    W = np.array([[-0.5]], np.float32)
    b = np.array([-0.5])
    model = ps.SampledLoss(W, b, num_sampled=2, loss="nce", optimizer="adagrad")
    for x in (np.array([[-1.0]]), np.array([[-1.0]], np.float32)):
        with pytest.raises(TypeError, match="step\\(\\) updates in place"):
            model.step([[0]], x, sampled_values=([0, 0], [[0.5]], [0.5, 0.5]))
    assert W[0, 0] == np.float32(-0.5) and b[0] == -0.5


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_step_reads_inputs_that_are_a_view_of_the_updated_table_before_updating(optimizer, dtype):
    """The kernel reads unpadded inputs in place unless the step's update can
    write them: inputs that are a view of the table being updated must give
    the result of a private copy of them taken before the step. D = 32 needs
    no padding at any SIMD level. bfloat16 inputs (a view of a bfloat16
    table), which the kernel reads as they are, too."""
    if dtype == "bfloat16":
        import ml_dtypes
        dtype = ml_dtypes.bfloat16
    rng = np.random.default_rng(5)
    C, D, B, S = 200, 32, 40, 16
    W0 = (rng.normal(size=(C, D)) * 0.3).astype(dtype)
    labels = rng.integers(0, C, size=(B, 1))
    labels[::2, 0] = np.arange(0, B, 2)  # the step updates rows it also reads as inputs

    def run(alias):
        W = W0.copy()
        m = ps.SampledLoss(W, None, num_sampled=S, loss="sampled_softmax", optimizer=optimizer,
                           learning_rate=0.5, num_threads=2, seed=3)
        x = W[:B] if alias else W[:B].copy()
        loss, dx = m.step(labels, x)
        return W, loss, dx

    aliased, copied = run(True), run(False)
    assert not np.array_equal(aliased[0], W0)  # the step did update the table
    for a, c in zip(aliased, copied):
        np.testing.assert_array_equal(a, c)
