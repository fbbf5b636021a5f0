"""The deterministic negative-sampling mode against its NumPy reference.

Oracle: ``oracles.word2vec_negative``, the frozen-weight group update written
from its definition in float64 (gradients from the weights at the start of a
group, then each row's terms added in corpus order, output rows first). The
C++ kernel (float32, fused multiply-adds, SIMD dot products) must agree to
float32 accuracy, at every SIMD level this CPU has and for 1 and 2 threads.

The learning rate is large (0.1), a few words are hot and the output rows
start non-zero, so that the order of the updates shows: the float32 error is
about 1e-6, the tolerance 1e-5, while freezing the weights one window later
(group_size + 1 in the reference) moves some element by 0.03 to 0.75, and
updating skip-gram's input rows before its output terms read them (a mutant
of the kernel, tried by hand) fails every skip-gram case.
"""
import numpy as np
import pytest

from pysampled import _word2vec

from oracles import word2vec_negative as ref

V, DIM, STRIDE, NEG = 40, 20, 32, 4


def _chunk(seed):
    """600 tokens over 40 words, four of them hot; random keep probabilities
    and noise weights; rows with zero padding past DIM, both tables non-zero."""
    rng = np.random.default_rng(seed)
    words = np.concatenate([rng.integers(0, V, 3000), rng.integers(0, 4, 600)])
    rng.shuffle(words)
    tokens = words[:600].astype(np.int32)
    ends = np.array([7, 8, 60, 61, 250, 420, 600], dtype=np.int64)
    keep = rng.uniform(0.5, 1.0, V).astype(np.float32)
    noise = np.bincount(words, minlength=V).astype(np.float32) + 1.0
    syn0 = np.zeros((V, STRIDE), np.float32)
    syn1 = np.zeros((V, STRIDE), np.float32)
    syn0[:, :DIM] = rng.normal(0, 0.4, (V, DIM))
    syn1[:, :DIM] = rng.normal(0, 0.4, (V, DIM))
    return tokens, ends, keep, _word2vec.NoiseTable(noise), syn0, syn1


def _records(syn0, syn1, keep, noise, tokens, ends, window):
    return _word2vec.records(syn0, syn1, keep, noise, tokens, ends, 0, 11, 0, DIM, window, NEG, 1)


def test_records_are_the_trainer_windows_with_their_negatives():
    tokens, ends, keep, noise, syn0, syn1 = _chunk(1)
    ctx, nctx, out = _records(syn0, syn1, keep, noise, tokens, ends, 3)
    inputs, targets, _ = _word2vec.windows(keep, tokens, ends, 0, 11, 0, 3, False, 1, True)
    pairs = [(int(c), int(out[r, 0])) for r in range(len(nctx)) for c in ctx[r, :nctx[r]]]
    assert pairs == list(zip(inputs.tolist(), targets.tolist()))
    assert out.shape == (len(nctx), 1 + NEG)
    negatives = out[:, 1:]
    assert np.all((negatives == -1) | ((negatives >= 0) & (negatives < V)))
    assert np.all(negatives != out[:, :1])  # a negative equal to the centre is dropped (-1)
    assert (negatives >= 0).mean() > 0.5


_M64 = (1 << 64) - 1
_G = 0x9E3779B97F4A7C15


def _mix(z):
    """SplitMix64's finaliser, mod 2^64."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _word(seed, epoch, tag, pos):
    """The random word of stream ``tag`` at corpus position ``pos``, as
    word2vec.hpp specifies it (written here in plain Python integers)."""
    stream = _mix(_mix(seed ^ 0x5851F42D4C957F2D) ^ ((epoch * 0xD1342543DE82EF95) & _M64)
                  ^ ((tag * _G + 0x632BE59BD9B4E019) & _M64))
    return _mix((stream + (pos + 1) * _G) & _M64)


def _expected_records(tokens, ends, keep, seed, epoch, position, window):
    """(centre words, context lists) of the chunk's records, from streams 0
    and 1 of the specification, computed here without the library."""
    expect_centre, expect_ctx = [], []
    start = 0
    for end in ends.tolist():
        kept = [(p, int(tokens[p])) for p in range(start, end)
                if (_word(seed, epoch, 0, position + p) >> 11) * 2.0 ** -53 < keep[tokens[p]]]
        for t, (p, word) in enumerate(kept):
            shrink = ((_word(seed, epoch, 1, position + p) & 0xFFFFFFFF) * window) >> 32
            radius = window - shrink
            expect_centre.append(word)
            expect_ctx.append([w for u, (_, w) in enumerate(kept)
                               if u != t and abs(u - t) <= radius])
        start = end
    return expect_centre, expect_ctx


@pytest.mark.parametrize("position,epoch", [(0, 0), (123_456_789_012, 3)])
def test_records_follow_the_specified_random_streams(position, epoch):
    """Which tokens are kept and each window's radius come from streams 0 and
    1 of the specification: recomputed here without the library, window by
    window (a change to the streams would change every trained vector)."""
    tokens, ends, keep, noise, syn0, syn1 = _chunk(3)
    window, seed = 4, 11
    ctx, nctx, out = _word2vec.records(syn0, syn1, keep, noise, tokens, ends, position, seed,
                                       epoch, DIM, window, NEG, 2)
    expect_centre, expect_ctx = _expected_records(tokens, ends, keep, seed, epoch, position, window)
    assert out[:, 0].tolist() == expect_centre
    assert [ctx[r, :nctx[r]].tolist() for r in range(len(nctx))] == expect_ctx
    assert 0.55 < len(expect_centre) / len(tokens) < 0.95  # keep_prob is uniform in [0.5, 1)


@pytest.mark.parametrize("threads", [1, 3])
def test_records_of_a_long_chunk_follow_the_streams_on_any_thread_count(threads):
    """A chunk of 12,000 tokens, cut into tasks of whole sentences of a few
    thousand tokens: sentences of 1 to 300 tokens, empty ones, and one of
    5,000 tokens (a task alone); the records are the specification's, in
    order, whatever the thread count."""
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, V, 12_000).astype(np.int32)
    cuts = np.cumsum(rng.integers(1, 300, 60))
    cuts = np.concatenate([cuts[cuts < 4000], [4000, 4000, 9000], [9001, 9001],
                           np.arange(9100, 12_000, 250), [12_000]])
    ends = np.unique(cuts).astype(np.int64)
    ends = np.insert(ends, 3, ends[2])  # an empty sentence
    keep = rng.uniform(0.5, 1.0, V).astype(np.float32)
    noise = _word2vec.NoiseTable(np.ones(V, np.float32))
    syn0 = np.zeros((V, STRIDE), np.float32)
    syn1 = np.zeros((V, STRIDE), np.float32)
    window, seed, epoch, position = 3, 5, 1, 777
    ctx, nctx, out = _word2vec.records(syn0, syn1, keep, noise, tokens, ends, position, seed,
                                       epoch, DIM, window, NEG, threads)
    expect_centre, expect_ctx = _expected_records(tokens, ends, keep, seed, epoch, position, window)
    assert out[:, 0].tolist() == expect_centre
    assert [ctx[r, :nctx[r]].tolist() for r in range(len(nctx))] == expect_ctx


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("group_size", [1, 5, 64])
@pytest.mark.parametrize("model", ["skipgram", "cbow", "cbow_sum"])
def test_deterministic_chunk_equals_reference(model, group_size, threads, each_simd_level):
    tokens, ends, keep, noise, syn0, syn1 = _chunk(2)
    window, alpha = 3, 0.1
    cbow, cbow_mean = model != "skipgram", model == "cbow"
    ctx, nctx, out = _records(syn0, syn1, keep, noise, tokens, ends, window)
    e0, e1, eloss = ref.train(syn0, syn1, ctx, nctx, out, alpha=alpha, group_size=group_size,
                              cbow=cbow, cbow_mean=cbow_mean)
    a0, a1 = syn0.copy(), syn1.copy()
    words, kept, pairs, loss = _word2vec.train_chunk(
        a0, a1, keep, noise, tokens, ends, 0, 11, 0, alpha, DIM, window, NEG, cbow,
        cbow_mean, False, group_size, threads, True)
    assert kept == len(nctx)
    assert np.all(a0[:, DIM:] == 0) and np.all(a1[:, DIM:] == 0)  # the padding stays zero
    np.testing.assert_allclose(a0[:, :DIM], e0[:, :DIM], rtol=0, atol=1e-5)
    np.testing.assert_allclose(a1[:, :DIM], e1[:, :DIM], rtol=0, atol=1e-5)
    assert loss == pytest.approx(eloss, rel=1e-5)
    # the updates are large enough for their order to matter (see the docstring)
    assert np.abs(a0 - syn0).max() > 0.05 and np.abs(a1 - syn1).max() > 0.05



@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_any_split_of_a_group_gives_the_same_bits(model):
    """A group's gradients are computed in tasks of at most 16 records, as
    many tasks as a multiple of the thread count (16 threads: 16 tasks of 4
    records of a 64-window group); the C++ pool runs them on the CPUs there
    are. Whatever the split, the vectors are bit-identical to one thread's,
    for groups that the split divides evenly and unevenly."""
    tokens, ends, keep, noise, syn0, syn1 = _chunk(2)
    cbow = model == "cbow"
    for group_size in (5, 64, 100):
        results = []
        for threads in (1, 2, 3, 16):
            a0, a1 = syn0.copy(), syn1.copy()
            _word2vec.train_chunk(a0, a1, keep, noise, tokens, ends, 0, 11, 0, 0.1, DIM, 3, NEG,
                                  cbow, True, False, group_size, threads, True)
            results.append((a0, a1))
        for a0, a1 in results[1:]:
            np.testing.assert_array_equal(a0, results[0][0])
            np.testing.assert_array_equal(a1, results[0][1])


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("cbow", [False, True])
def test_hogwild_trains_every_record_once_on_any_thread_count(cbow, threads):
    """Hogwild hands its blocks of 64 records to the threads in an order that
    spreads them over the chunk; every record must still be trained exactly
    once. The predictions counted equal the deterministic mode's, and with a
    tiny learning rate the summed loss equals one thread's to 1e-4: a block
    skipped or trained twice changes both, the loss by about 1% (one block
    of 105). Timing moves the loss by about 2e-6 (the hot rows' copies see
    the other threads' changes at merges only)."""
    rng = np.random.default_rng(7)
    n = 9001  # about 6,700 kept tokens: 105 blocks, uneven over 2 and 3 threads
    tokens = rng.integers(0, V, n).astype(np.int32)
    ends = np.unique(np.concatenate([rng.integers(1, n, 700), [n]])).astype(np.int64)
    keep = rng.uniform(0.5, 1.0, V).astype(np.float32)
    noise = _word2vec.NoiseTable(np.bincount(tokens, minlength=V).astype(np.float32) + 1.0)
    syn0 = np.zeros((V, STRIDE), np.float32)
    syn1 = np.zeros((V, STRIDE), np.float32)
    syn0[:, :DIM] = rng.normal(0, 0.4, (V, DIM))
    syn1[:, :DIM] = rng.normal(0, 0.4, (V, DIM))

    def run(hogwild, t):
        a0, a1 = syn0.copy(), syn1.copy()
        return _word2vec.train_chunk(a0, a1, keep, noise, tokens, ends, 0, 3, 0, 1e-7, DIM, 4,
                                     NEG, cbow, True, hogwild, 64, t, True)

    words, kept, pairs, loss = run(True, threads)
    words1, kept1, pairs1, loss1 = run(True, 1)
    _, kept_det, pairs_det, _ = run(False, 1)
    assert kept // 64 > 100
    assert (kept, pairs) == (kept1, pairs1) == (kept_det, pairs_det)
    assert loss == pytest.approx(loss1, rel=1e-4)


def _hogwild_zipf_change(vocab, dim, n, n_ends, rng_seed, seed, window, cbow):
    """A Hogwild training problem for the hot-row tests: `n` tokens drawn by
    Zipf's law over the vocabulary (id 0 the most frequent, as the trainer
    sorts words), every word kept, rows of dim `dim` with zero padding; and
    `change(threads)`: ``(the float64 change of [syn0; syn1], the counts)``
    after one chunk at a learning rate small enough to be linear."""
    stride = -(-dim // 16) * 16
    rng = np.random.default_rng(rng_seed)
    p = 1.0 / np.arange(1, vocab + 1) ** 1.1
    tokens = rng.choice(vocab, n, p=p / p.sum()).astype(np.int32)
    ends = np.unique(np.concatenate([rng.integers(1, n, n_ends), [n]])).astype(np.int64)
    keep = np.ones(vocab, np.float32)
    noise = _word2vec.NoiseTable(np.bincount(tokens, minlength=vocab).astype(np.float32) + 1.0)
    syn0 = np.zeros((vocab, stride), np.float32)
    syn1 = np.zeros((vocab, stride), np.float32)
    syn0[:, :dim] = rng.normal(0, 0.4, (vocab, dim))
    syn1[:, :dim] = rng.normal(0, 0.4, (vocab, dim))

    def change(threads):
        a0, a1 = syn0.copy(), syn1.copy()
        stats = _word2vec.train_chunk(a0, a1, keep, noise, tokens, ends, 0, seed, 0, 5e-7, dim, window,
                                      NEG, cbow, True, True, 64, threads, True)
        return np.concatenate([a0 - syn0, a1 - syn1]).astype(np.float64), stats
    return change


@pytest.mark.parametrize("vocab", [40, 300])
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("cbow", [False, True])
def test_hogwild_hot_rows_merge_every_change_once(cbow, threads, vocab):
    """On several threads, Hogwild trains the rows of the 256 most frequent
    words (ids below 256: the vocabulary is sorted by count) on per-thread
    copies, and merges each thread's change into the shared rows every
    4,096 of its records on 2 threads (4,096 / threads on more) and at the
    chunk's end. With a learning
    rate this small, training is linear to first order, so the tables, and
    every hot row, must change as on one thread, whatever the order of the
    updates. The differences measured: at most 0.3% of the total change and
    3% of any row's. Three merge mutants tried by hand miss by 26-41% of the total:
    overwriting the shared rows with a thread's copy, counting a change
    twice, and not refreshing a copy after its merge. 40 words are all hot;
    of 300, 44 are updated in place. About 3,100 blocks of 64 records: some
    24 (2 threads) to 48 (3 threads) merges per thread, long enough for the
    threads to overlap (on one
    thread the comparison holds trivially)."""
    change = _hogwild_zipf_change(vocab, 50, 200_000, 12_000, rng_seed=11, seed=3, window=4, cbow=cbow)
    one, many = change(1)[0], change(threads)[0]
    assert np.all(np.isfinite(many))
    assert np.linalg.norm(many - one) <= 0.02 * np.linalg.norm(one)
    row_err = np.linalg.norm(many - one, axis=1)
    row_change = np.linalg.norm(one, axis=1)
    assert row_change.min() > 0  # every row was trained
    # Row by row for the hot rows (ids below 256 in either table); the 44
    # rare words past them are plain Hogwild, whose simultaneous updates of
    # one row may lose one.
    hot = np.r_[0:min(vocab, 256), vocab:vocab + min(vocab, 256)]
    assert np.all(row_err[hot] <= 0.1 * row_change[hot])


@pytest.mark.parametrize("vocab,dim", [(1, 3), (33, 1), (65, 17), (300, 1000)])
@pytest.mark.parametrize("cbow", [False, True])
def test_hogwild_hot_rows_edge_shapes(cbow, vocab, dim):
    """The hot rows at their edges: one word, a vocabulary one row past a
    lock's stripe of 32 (and past two), a dimension of 1 (rows of one SIMD
    vector) and of 1,000 (only 32 hot rows fit the 128 KiB of copies), on 2
    and 5 threads: every record is trained once (the counts of one thread),
    the padding past `dim` stays zero, and with a small learning rate the
    change of the hot rows, in all and row by row, is one thread's to first
    order (within 2% and 10%; a stripe that leaves out its last row fails)."""
    stride = -(-dim // 16) * 16
    hot = min(vocab, 256, max(32, 128 * 1024 // (4 * stride)))  # hot_rows() in w2v_impl.hpp
    run = _hogwild_zipf_change(vocab, dim, 40_000, 3_000, rng_seed=vocab + dim, seed=5, window=3, cbow=cbow)
    one, stats1 = run(1)
    for threads in (2, 5):
        many, stats = run(threads)
        assert stats[:3] == stats1[:3]  # words, kept tokens, predictions
        assert np.all(np.isfinite(many)) and not np.any(many[:, dim:])
        # The hot rows, whose updates never race (the others are plain
        # Hogwild: two threads' updates of one row at the same time may lose
        # one, more often with rows of 1,000 floats: up to 13% of a row's
        # change in 40 runs), in all and row by row. Plus 2e-6, about 60
        # float32 roundings of a weight near 0.4: a row of dim 1 has no other
        # elements to average its rounding over.
        rows = np.r_[0:hot, vocab:vocab + hot]
        assert np.linalg.norm((many - one)[rows]) <= 0.02 * np.linalg.norm(one[rows])
        err = np.linalg.norm((many - one)[rows], axis=1)
        assert np.all(err <= 0.1 * np.linalg.norm(one[rows], axis=1) + 2e-6)


@pytest.mark.parametrize("hogwild", [False, True])
@pytest.mark.parametrize("cbow", [False, True])
def test_prepared_records_train_to_the_same_bits(cbow, hogwild):
    """Records built ahead by ``prepare_chunk`` (the trainer's pipeline) are
    the ones ``train_chunk`` would build: the vectors, the counts and the
    loss are the same bits, and the records are read, not consumed."""
    tokens, ends, keep, noise, syn0, syn1 = _chunk(4)
    args = (tokens, ends, 37, 11, 2, 0.1, DIM, 3, NEG, cbow, True, hogwild, 5, 1, True)
    a0, a1 = syn0.copy(), syn1.copy()
    own = _word2vec.train_chunk(a0, a1, keep, noise, *args)
    prepared = _word2vec.prepare_chunk(syn0, syn1, keep, noise, tokens, ends, 37, 11, 2, DIM, 3, NEG,
                                       2, True)
    for _ in range(2):
        b0, b1 = syn0.copy(), syn1.copy()
        assert _word2vec.train_chunk(b0, b1, keep, noise, *args, prepared=prepared) == own
        np.testing.assert_array_equal(b0, a0)
        np.testing.assert_array_equal(b1, a1)


@pytest.mark.parametrize("change", ["position", "epoch", "seed", "window", "negative", "shrink",
                                    "tokens", "keep", "never built"])
def test_records_prepared_for_another_chunk_are_refused(change):
    tokens, ends, keep, noise, syn0, syn1 = _chunk(4)
    p = dict(tokens=tokens, position=37, seed=11, epoch=2, window=3, negative=NEG, shrink=True,
             keep=keep)
    prepared = _word2vec.prepare_chunk(syn0, syn1, keep, noise, tokens, ends, 37, 11, 2, DIM, 3, NEG,
                                       1, True)
    q = dict(p)
    if change == "never built":  # an empty holder, never passed to prepare_chunk
        prepared = _word2vec.PreparedChunk()
    else:
        q[change] = {"position": 38, "epoch": 3, "seed": 12, "window": 2, "negative": NEG - 1,
                     "shrink": False, "tokens": tokens.copy(), "keep": keep.copy()}[change]
    a0, a1 = syn0.copy(), syn1.copy()
    with pytest.raises(ValueError, match="prepared records were built for another chunk or configuration"):
        _word2vec.train_chunk(a0, a1, q["keep"], noise, q["tokens"], ends, q["position"], q["seed"],
                              q["epoch"], 0.1, DIM, q["window"], q["negative"], False, True, False, 5,
                              1, q["shrink"], prepared=prepared)
    np.testing.assert_array_equal(a0, syn0)  # refused before any row was written
    np.testing.assert_array_equal(a1, syn1)


@pytest.mark.parametrize("cbow,mean", [(False, True), (True, True), (True, False)])
def test_hogwild_on_one_thread_is_the_deterministic_update_of_small_groups(cbow, mean,
                                                                           each_simd_level):
    """On one thread, Hogwild updates each skip-gram window, and each batch of
    4 CBOW windows, exactly as the deterministic mode updates a group of one
    window / of 4 windows (every logit from the rows as they are, then the
    output rows, then the input rows, in corpus order): the same bits, at
    every SIMD level. The deterministic mode is checked against the NumPy
    reference above, so this pins Hogwild's arithmetic where no race can
    enter. Other group sizes give other vectors (the comparison can fail)."""
    tokens, ends, keep, noise, syn0, syn1 = _chunk(5)

    def run(hogwild, group):
        a0, a1 = syn0.copy(), syn1.copy()
        out = _word2vec.train_chunk(a0, a1, keep, noise, tokens, ends, 37, 11, 2, 0.1, DIM, 3, NEG,
                                    cbow, mean, hogwild, group, 1, True)
        return a0, a1, out

    h0, h1, hog = run(True, 64)
    d0, d1, det = run(False, 4 if cbow else 1)
    np.testing.assert_array_equal(h0, d0)
    np.testing.assert_array_equal(h1, d1)
    assert hog[:3] == det[:3]  # words, kept tokens, predictions
    assert hog[3] == pytest.approx(det[3], rel=1e-6)  # the loss, summed in another order
    o0, o1, _ = run(False, 2 if cbow else 3)
    assert not np.array_equal(o1, h1)
