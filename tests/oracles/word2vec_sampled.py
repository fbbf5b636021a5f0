"""Reference of the word2vec trainer's nce / sampled-softmax variants, in NumPy.

Design:
    The trainer (``Word2Vec(loss="nce" | "sampled_softmax")``) trains each
    chunk in one C++ call (``word2vec_sampled.hpp``). This module is its
    reference, written from what that training means, one readable step per
    line, in float32 like the trainer:

    * a chunk's predictions are those of ``pysampled._word2vec.windows``
      (proven against a pure-Python window list in test_word2vec_options.py),
      cut into batches of ``batch_size`` predictions in corpus order;
    * the input of a prediction is the context word's input row (skip-gram)
      or the sum of its context rows in context order, divided by their
      number with ``cbow_mean`` (CBOW);
    * each batch's loss is TF's loss with ``num_sampled`` negatives from the
      model's :class:`~pysampled.FixedUnigramSampler` (one draw per batch,
      unique, log-Q corrected; accidental hits removed for sampled softmax),
      minimised as the batch's mean with Adagrad on the output rows and
      biases: one :meth:`pysampled.SampledLoss.step` (the library's public
      step, proven against TF and ``oracles.losses`` by its own tests);
    * the inputs' gradient is applied to the input rows with Adagrad: the
      contributions of each word (CBOW: the prediction's gradient, divided by
      the context size with ``cbow_mean``, for every context word) summed in
      order of (word id, position), then ``acc += g * g`` and
      ``w -= lr * g / (sqrt(acc) + eps)``.

    Every sum of rows runs left to right (``np.add.accumulate``), the order
    the C++ trainer promises, so :func:`train` and ``Word2Vec.train`` give
    the same bits; the reported loss is summed in float64 in another order
    (compare it with a tolerance). (The trainer before the C++ path used
    ``np.add.reduceat``, which adds the first row to a *pairwise* sum of the
    others, eight interleaved partial sums past eight rows: a NumPy
    implementation detail, so its last bits differ.)
"""
from __future__ import annotations

import numpy as np

EPSILON = 1e-7  # Adagrad's epsilon and initial accumulator, TF's and SampledLoss's defaults
INITIAL_ACCUMULATOR = 0.1


def _segment_sums(rows, starts):
    """Sums of ``rows[starts[i]:starts[i+1]]`` (the last to the end), left to right."""
    ends = list(starts[1:]) + [rows.shape[0]]
    return np.stack([np.add.accumulate(rows[a:b], axis=0)[-1] for a, b in zip(starts, ends)])


def _adagrad_rows(table, accum, rows, grads, lr):
    """Adagrad on ``table[rows]`` by ``grads``, each row's contributions summed in order."""
    order = np.argsort(rows, kind="stable")
    r = rows[order]
    first = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
    ids = r[first]
    g = _segment_sums(grads[order], first)
    acc = accum[ids] + g * g
    accum[ids] = acc
    table[ids] -= np.float32(lr) * g / (np.sqrt(acc) + np.float32(EPSILON))


def train_chunk(model, step_model, keep, tokens, ends, position, epoch, alpha, threads):
    """One chunk of ``model`` (a Word2Vec) through ``step_model`` (a
    SampledLoss over model.syn1 / model.bias). Returns (words, pairs, loss)."""
    from pysampled import _word2vec

    cbow = model.model == "cbow"
    inputs, targets, offsets = _word2vec.windows(
        keep, tokens, ends, position, model.seed, epoch, model._kernel_window(), cbow, threads,
        model.shrink_windows)
    syn0 = model.syn0
    loss_sum = 0.0
    n_pred = targets.shape[0]
    for b0 in range(0, n_pred, model.batch_size):
        b1 = min(n_pred, b0 + model.batch_size)
        if cbow:
            lo, hi = offsets[b0], offsets[b1]
            ctx = inputs[lo:hi]
            x = _segment_sums(syn0[ctx], offsets[b0:b1] - lo)
            n_ctx = np.diff(offsets[b0:b1 + 1]).astype(np.float32)
            if model.cbow_mean:
                x /= n_ctx[:, None]
        else:
            x = syn0[inputs[b0:b1]]
        upstream = np.full(b1 - b0, 1.0 / (b1 - b0), dtype=np.float32)  # the batch's mean
        res = step_model.step(targets[b0:b1], x, learning_rate=alpha, upstream=upstream)
        loss_sum += float(res.loss.sum(dtype=np.float64))
        g = res.inputs_grad
        if cbow:
            if model.cbow_mean:
                g = g / n_ctx[:, None]
            owner = np.repeat(np.arange(b1 - b0), np.diff(offsets[b0:b1 + 1]))
            _adagrad_rows(model.syn0, model.accum0, ctx, g[owner], alpha)
        else:
            _adagrad_rows(model.syn0, model.accum0, inputs[b0:b1], g, alpha)
    return tokens.shape[0], n_pred, loss_sum


def train(model, threads=1):
    """The remaining epochs of ``model`` (after ``build_vocab``, or loaded from
    a checkpoint and given its corpus), with the trainer's schedule: chunks of
    whole sentences, the learning rate decaying linearly per chunk from alpha
    to min_alpha over all epochs; a loaded model goes on from its chunk, its
    accumulators and its negatives' stream. Returns ``(summed loss,
    predictions)`` per epoch trained."""
    import pysampled

    sampler = pysampled.FixedUnigramSampler(
        len(model.words), unigrams=model.counts.astype(np.float32),
        distortion=model.ns_exponent, seed=(model.seed, 1))
    if model.sampler_state is not None:
        sampler.set_state({"generator": model.sampler_state})
    step_model = pysampled.SampledLoss(
        [model.syn1], model.bias, num_sampled=model.num_sampled, loss=model.loss,
        sampler=sampler, num_threads=threads, optimizer="adagrad",
        initial_accumulator_value=INITIAL_ACCUMULATOR, epsilon=EPSILON)
    if model.accum0 is None:
        model.accum0 = np.full(model.syn0.shape, INITIAL_ACCUMULATOR, dtype=np.float32)
    else:
        step_model.accumulators[0][0][...] = model.accum1
        step_model.accumulators[1][0][...] = model.accum_bias
    keep = model.keep_probabilities()
    enc = model._encoded
    total = model.epochs * enc.num_tokens
    done = model.progress["words_done"]
    losses = []
    for epoch in range(model.progress["epoch"], model.epochs):
        epoch_loss, epoch_pairs = model.progress["loss"], model.progress["pairs"]
        for index, start, stop, ends in enc.chunks(model.chunk_words):
            if epoch == model.progress["epoch"] and index < model.progress["chunk"]:
                continue  # trained before the checkpoint
            frac = done / max(1, total)
            alpha = max(model.min_alpha, model.alpha - (model.alpha - model.min_alpha) * frac)
            words, pairs, loss = train_chunk(model, step_model, keep, enc.tokens[start:stop],
                                             np.ascontiguousarray(ends), start, epoch, alpha,
                                             threads)
            done += words
            epoch_loss += loss
            epoch_pairs += pairs
        losses.append((epoch_loss, epoch_pairs))
        model.progress.update(loss=0.0, pairs=0)
    model.accum1, model.accum_bias = step_model.accumulators[0][0], step_model.accumulators[1][0]
    return losses
