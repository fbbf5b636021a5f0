"""Slow, plain-NumPy reference implementation of TF 2.21's sampled losses.

Design:
    This module is the *test oracle* of pysampled.  It was written from the
    project specification (SPEC.md sections 4-10) and is proved against
    TensorFlow-generated golden vectors (tests/test_reference.py); it is not
    derived from, and does not import, any other pysampled module, so a bug in
    the fast C++ path cannot leak into it.  Clarity beats speed everywhere:

    * Each step of TF's ``_compute_sampled_logits`` is a separate, commented
      line of NumPy (SPEC section 6), in the *inputs'* dtype, like TF.  Weights
      and biases of another dtype are cast to the inputs' dtype right after the
      lookup; their gradients are cast back to the parameter's own dtype
      before they are accumulated (SPEC section 9, "mixed dtypes").
    * Sharded parameters are a Python list of arrays.  Only TF's *canonical*
      layouts are accepted (shard p holds ``N // P + (p < N % P)`` rows for
      both strategies); anything else raises ``ValueError`` instead of
      silently reading wrong rows as TF does (SPEC section 5).  ``div`` uses an
      explicit table of contiguous row blocks, ``mod`` uses ``x % P, x // P``.
    * Accidental hits follow SPEC section 4 (last occurrence of a duplicated
      sampled id wins; ``all_duplicates=True`` is a non-TF option that masks
      every occurrence).  The mask is ADDED as ``-FLT_MAX`` cast to the logits
      dtype, before ``log q`` is subtracted.
    * Gradients are the analytic formulas of SPEC section 9, applied to the
      gathered rows and scatter-added (``np.add.at``) into dense per-shard
      arrays, so duplicates, rows and shards accumulate.
    * Sampled values (``sampled``, ``true_expected_count`` = ``tec``,
      ``sampled_expected_count`` = ``sec``) are always explicit; the number of
      sampled classes is ``len(sampled)`` and ``num_true`` is
      ``labels.shape[1]``.  ``tec``/``sec`` are converted to the logits dtype
      (TF would refuse a float32 ``tec`` with float64 inputs; the oracle does
      not model that error).

    Not modelled on purpose: samplers, TF's error messages, TF's silent
    acceptance of mis-shaped labels/tec, non-canonical shard layouts, and the
    B=1 squeeze bug of contrib ``sampled_sparse_softmax_loss``.
"""

import numpy as np

__all__ = [
    "FLT_MAX",
    "canonical_shard_rows",
    "route",
    "gather_rows",
    "accidental_hits",
    "sampled_logits",
    "sampled_logits_grads",
    "nce_loss",
    "nce_loss_grads",
    "sampled_softmax_loss",
    "sampled_softmax_loss_grads",
    "sampled_sparse_softmax_loss",
    "sampled_sparse_softmax_loss_grads",
    "rank_resample",
    "rank_sampled_softmax_loss",
    "rank_sampled_softmax_loss_grads",
]

#: Largest finite float32; TF's accidental-hit weight is ``-FLT_MAX``.
FLT_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------
# Section 5: routing ids to shards
# ---------------------------------------------------------------------------
def canonical_shard_rows(total_rows, num_shards):
    """Row counts of TF's canonical layout: the first ``N % P`` shards hold one extra row."""
    q, r = divmod(int(total_rows), int(num_shards))
    return [q + (1 if p < r else 0) for p in range(int(num_shards))]


def route(ids, shard_rows, partition_strategy):
    """Map global ids to ``(shard_index, local_row)`` like ``tf.nn.embedding_lookup``.

    ``shard_rows`` lists the row count of every shard.  One shard: identity
    (the strategy string is ignored).  Several shards: ``"mod"`` puts id x in
    shard ``x % P`` at row ``x // P``; ``"div"`` cuts ``[0, N)`` into ``P``
    contiguous blocks, the first ``N % P`` of them one row longer.

    Raises ``ValueError`` for an unknown strategy or a non-canonical layout and
    ``IndexError`` for an id outside ``[0, N)``.
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got {ids.dtype}")
    ids = ids.astype(np.int64)
    shard_rows = [int(n) for n in shard_rows]
    num_shards = len(shard_rows)
    if num_shards == 0:
        raise ValueError("need at least one shard")
    if any(n < 0 for n in shard_rows):
        raise ValueError(f"negative shard size in {shard_rows}")
    total = sum(shard_rows)

    if ids.size and (ids.min() < 0 or ids.max() >= total):
        bad = ids[(ids < 0) | (ids >= total)].ravel()[0]
        raise IndexError(f"id {bad} is not in [0, {total})")

    if num_shards == 1:
        return np.zeros_like(ids), ids.copy()

    if partition_strategy not in ("mod", "div"):
        raise ValueError(
            f"unrecognized partition strategy {partition_strategy!r}; "
            "must be 'mod' or 'div'")
    canonical = canonical_shard_rows(total, num_shards)
    if shard_rows != canonical:
        raise ValueError(
            f"non-canonical shard layout {shard_rows} for {total} rows in "
            f"{num_shards} shards (TF's layout is {canonical})")

    if partition_strategy == "mod":
        return ids % num_shards, ids // num_shards

    # "div": explicit table of contiguous blocks [start_p, start_p + rows_p).
    if total < num_shards:
        # TF computes N // P == 0 and fails with "Integer division by zero".
        raise ValueError(
            f"'div' needs at least one row per shard ({total} rows, "
            f"{num_shards} shards)")
    starts = np.cumsum([0] + shard_rows[:-1])
    shard = np.empty_like(ids)
    row = np.empty_like(ids)
    for p in range(num_shards):
        inside = (ids >= starts[p]) & (ids < starts[p] + shard_rows[p])
        shard[inside] = p
        row[inside] = ids[inside] - starts[p]
    return shard, row


def _as_shards(params):
    """``(list_of_arrays, was_a_list)``; a tuple is accepted as a list here."""
    if isinstance(params, (list, tuple)):
        return [np.asarray(s) for s in params], True
    return [np.asarray(params)], False


def gather_rows(shards, ids, partition_strategy="mod"):
    """Rows ``params[ids]`` of a sharded (list) or plain parameter, stacked.

    Works for 2-D weights (result ``ids.shape + (D,)``) and 1-D biases
    (result ``ids.shape``).  The result keeps the parameters' dtype.
    """
    shards, _ = _as_shards(shards)
    ids = np.asarray(ids)
    shard, row = route(ids, [s.shape[0] for s in shards], partition_strategy)
    trailing = shards[0].shape[1:]
    for s in shards:
        if s.shape[1:] != trailing:
            raise ValueError("shards disagree on their trailing shape")
    dtype = np.result_type(*shards)
    out = np.empty(ids.shape + trailing, dtype=dtype)
    for p, s in enumerate(shards):
        here = shard == p
        out[here] = s[row[here]]
    return out


def _scatter_add_rows(shards, ids, row_grads, partition_strategy):
    """Dense gradient of ``gather_rows``: per shard, add each row's gradient at its slot.

    ``row_grads`` is cast to each shard's dtype *before* accumulating (the
    gradient of the cast that follows the lookup).
    """
    shard_list, was_list = _as_shards(shards)
    shard, row = route(np.asarray(ids), [s.shape[0] for s in shard_list],
                       partition_strategy)
    grads = []
    for p, s in enumerate(shard_list):
        g = np.zeros(s.shape, dtype=s.dtype)
        here = shard == p
        np.add.at(g, row[here], row_grads[here].astype(s.dtype))
        grads.append(g)
    return grads if was_list else grads[0]


# ---------------------------------------------------------------------------
# Section 4: accidental hits
# ---------------------------------------------------------------------------
def accidental_hits(labels, sampled, all_duplicates=False):
    """Positions where a row's true label was also sampled.

    Returns ``(rows, positions)`` (int64 arrays, emitted for i in rows, then k
    in label columns).  TF rule: for a sampled value that occurs several
    times only its *last* position counts; a label repeated in a row emits the
    same ``(i, pos)`` again.  ``all_duplicates=True`` (not TF) emits every
    position of the value instead.
    """
    labels = np.asarray(labels)
    sampled = np.asarray(sampled).reshape(-1)
    if labels.ndim != 2:
        raise ValueError("labels must be a [batch, num_true] matrix")
    last_position = {}
    all_positions = {}
    for pos, value in enumerate(sampled.tolist()):
        last_position[value] = pos  # later positions overwrite earlier ones
        all_positions.setdefault(value, []).append(pos)
    rows, positions = [], []
    for i in range(labels.shape[0]):
        for k in range(labels.shape[1]):
            value = int(labels[i, k])
            if value not in last_position:
                continue
            hits = all_positions[value] if all_duplicates else [last_position[value]]
            for pos in hits:
                rows.append(i)
                positions.append(pos)
    return np.array(rows, dtype=np.int64), np.array(positions, dtype=np.int64)


# ---------------------------------------------------------------------------
# Section 6: _compute_sampled_logits
# ---------------------------------------------------------------------------
class _Forward:
    """Everything the forward pass computed (kept for the backward pass)."""


def _forward(weights, biases, labels, inputs, sampled, tec, sec,
             subtract_log_q, remove_accidental_hits, partition_strategy,
             all_duplicates):
    X = np.asarray(inputs)
    if X.ndim != 2:
        raise ValueError("inputs must be [batch, dim]")
    if X.dtype.kind != "f":
        raise TypeError(f"inputs must be floating point, got {X.dtype}")
    dt = X.dtype
    batch = X.shape[0]

    # Step 1: labels as int64 (floats truncate toward zero), flattened row-major.
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[0] != batch:
        raise ValueError("labels must be [batch, num_true]")
    labels = labels.astype(np.int64)
    num_true = labels.shape[1]
    labels_flat = labels.reshape(-1)

    # Step 3: sampled values (explicit; no gradient flows into them).
    sampled = np.asarray(sampled).astype(np.int64).reshape(-1)
    num_sampled = sampled.shape[0]
    tec = np.asarray(tec, dtype=dt)
    sec = np.asarray(sec, dtype=dt)
    if tec.shape != (batch, num_true):
        raise ValueError(f"true_expected_count must be {(batch, num_true)}")
    if sec.shape != (num_sampled,):
        raise ValueError(f"sampled_expected_count must be {(num_sampled,)}")

    # Step 4: one lookup of [true ids..., sampled ids...] in weights and biases,
    # each cast to the inputs' dtype.
    all_ids = np.concatenate([labels_flat, sampled])
    W_all = gather_rows(weights, all_ids, partition_strategy).astype(dt)
    b_all = gather_rows(biases, all_ids, partition_strategy).astype(dt)
    if W_all.ndim != 2 or W_all.shape[1] != X.shape[1]:
        raise ValueError("weights must be [rows, dim] with dim == inputs.shape[1]")
    if b_all.ndim != 1:
        raise ValueError("biases must be 1-D")
    W_true = W_all[: batch * num_true].reshape(batch, num_true, X.shape[1])
    b_true = b_all[: batch * num_true].reshape(batch, num_true)
    W_samp = W_all[batch * num_true:]
    b_samp = b_all[batch * num_true:]

    # Step 5: true logits (row-wise dot products) and sampled logits (matmul).
    true_logits = np.einsum("id,ikd->ik", X, W_true) + b_true
    sampled_logits_ = X @ W_samp.T + b_samp[None, :]

    # Step 6: accidental hits -> ADD -FLT_MAX (assigned, so never twice).
    mask = np.zeros((batch, num_sampled), dtype=np.float64)
    if remove_accidental_hits:
        rows, positions = accidental_hits(labels, sampled, all_duplicates)
        mask[rows, positions] = -FLT_MAX
        with np.errstate(over="ignore"):
            sampled_logits_ = sampled_logits_ + mask.astype(dt)

    # Step 7: subtract log Q.
    if subtract_log_q:
        with np.errstate(divide="ignore", invalid="ignore"):
            true_logits = true_logits - np.log(tec)
            sampled_logits_ = sampled_logits_ - np.log(sec)

    # Step 8: concatenate; soft labels 1/NT on the true columns.
    logits = np.concatenate([true_logits, sampled_logits_], axis=1).astype(dt)
    out_labels = np.concatenate(
        [np.full((batch, num_true), dt.type(1) / dt.type(num_true), dtype=dt),
         np.zeros((batch, num_sampled), dtype=dt)],
        axis=1)

    f = _Forward()
    f.dtype = dt
    f.X, f.W_true, f.W_samp = X, W_true, W_samp
    f.all_ids, f.num_true, f.num_sampled = all_ids, num_true, num_sampled
    f.logits, f.out_labels, f.mask = logits, out_labels, mask
    f.weights, f.biases, f.partition_strategy = weights, biases, partition_strategy
    return f


def sampled_logits(weights, biases, labels, inputs, sampled, tec, sec,
                   subtract_log_q=True, remove_accidental_hits=False,
                   partition_strategy="mod", all_duplicates=False):
    """``(logits [B, NT+S], out_labels [B, NT+S])`` of TF's ``_compute_sampled_logits``."""
    f = _forward(weights, biases, labels, inputs, sampled, tec, sec,
                 subtract_log_q, remove_accidental_hits, partition_strategy,
                 all_duplicates)
    return f.logits, f.out_labels


def _backward(f, G):
    """Dense gradients of ``sum(G * logits)`` w.r.t. inputs, weights and biases."""
    dt = f.dtype
    G = np.asarray(G, dtype=dt)
    batch, nt = G.shape[0], f.num_true
    G_true, G_samp = G[:, :nt], G[:, nt:]

    # dX_i = sum_j G_ij * W[id(i, j)]
    dX = np.einsum("ik,ikd->id", G_true, f.W_true) + G_samp @ f.W_samp

    # Gradient of every looked-up row, in lookup order (true ids, then sampled).
    dW_true_rows = G_true[:, :, None] * f.X[:, None, :]          # [B, NT, D]
    dW_samp_rows = G_samp.T @ f.X                                # [S, D]
    dW_rows = np.concatenate(
        [dW_true_rows.reshape(batch * nt, f.X.shape[1]), dW_samp_rows], axis=0)
    db_rows = np.concatenate([G_true.reshape(-1), G_samp.sum(axis=0)])

    return {
        "inputs": dX.astype(dt),
        "weights": _scatter_add_rows(f.weights, f.all_ids, dW_rows,
                                     f.partition_strategy),
        "biases": _scatter_add_rows(f.biases, f.all_ids, db_rows,
                                    f.partition_strategy),
    }


def sampled_logits_grads(weights, biases, labels, inputs, sampled, tec, sec, R,
                         subtract_log_q=True, remove_accidental_hits=False,
                         partition_strategy="mod", all_duplicates=False):
    """Gradients of ``sum(R * logits)``; the mask is a constant, so G = R everywhere."""
    f = _forward(weights, biases, labels, inputs, sampled, tec, sec,
                 subtract_log_q, remove_accidental_hits, partition_strategy,
                 all_duplicates)
    R = np.asarray(R, dtype=f.dtype)
    if R.shape != f.logits.shape:
        raise ValueError(f"R must have shape {f.logits.shape}")
    out = _backward(f, R)
    out["logits"], out["out_labels"] = f.logits, f.out_labels
    return out


# ---------------------------------------------------------------------------
# Section 7: nce_loss
# ---------------------------------------------------------------------------
def _sigmoid(x):
    """Logistic function without overflow warnings (exact 0/1 at the extremes)."""
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


def _nce_per_element(x, z):
    """TF's stable sigmoid cross-entropy: max(x, 0) - x*z + log1p(exp(-|x|))."""
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def nce_loss(weights, biases, labels, inputs, sampled, tec, sec,
             remove_accidental_hits=False, partition_strategy="mod",
             all_duplicates=False, subtract_log_q=True):
    """Per-example NCE loss [B] (TF default: no accidental-hit removal)."""
    f = _forward(weights, biases, labels, inputs, sampled, tec, sec,
                 subtract_log_q, remove_accidental_hits, partition_strategy,
                 all_duplicates)
    return _nce_per_element(f.logits, f.out_labels).sum(axis=1).astype(f.dtype)


def nce_loss_grads(weights, biases, labels, inputs, sampled, tec, sec, upstream,
                   remove_accidental_hits=False, partition_strategy="mod",
                   all_duplicates=False, subtract_log_q=True):
    """Gradients of ``sum(upstream * nce_loss)``: G = u * (sigmoid(L) - Z)."""
    f = _forward(weights, biases, labels, inputs, sampled, tec, sec,
                 subtract_log_q, remove_accidental_hits, partition_strategy,
                 all_duplicates)
    u = np.asarray(upstream, dtype=f.dtype).reshape(-1, 1)
    G = u * (_sigmoid(f.logits) - f.out_labels)
    out = _backward(f, G)
    out["loss"] = _nce_per_element(f.logits, f.out_labels).sum(axis=1).astype(f.dtype)
    out["logits"], out["out_labels"] = f.logits, f.out_labels
    return out


# ---------------------------------------------------------------------------
# Section 8: sampled_softmax_loss and contrib variants
# ---------------------------------------------------------------------------
def _softmax_ce(L, Z):
    """``(loss [B], softmax [B, C])`` as TF's CPU kernel: shift by the row max."""
    shifted = L - L.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        # 0 * (log s - shifted) is 0 for masked columns: shifted stays finite (-FLT_MAX).
        loss = (Z * (np.log(s) - shifted)).sum(axis=1)
    return loss.astype(L.dtype), (e / s).astype(L.dtype)


def sampled_softmax_loss(weights, biases, labels, inputs, sampled, tec, sec,
                         remove_accidental_hits=True, partition_strategy="mod",
                         all_duplicates=False, subtract_log_q=True):
    """Per-example sampled softmax loss [B] with targets 1/NT on the true columns."""
    f = _forward(weights, biases, labels, inputs, sampled, tec, sec,
                 subtract_log_q, remove_accidental_hits, partition_strategy,
                 all_duplicates)
    return _softmax_ce(f.logits, f.out_labels)[0]


def sampled_softmax_loss_grads(weights, biases, labels, inputs, sampled, tec, sec,
                               upstream, remove_accidental_hits=True,
                               partition_strategy="mod", all_duplicates=False,
                               subtract_log_q=True):
    """Gradients of ``sum(upstream * sampled_softmax_loss)``: G = u * (softmax(L) - Z)."""
    f = _forward(weights, biases, labels, inputs, sampled, tec, sec,
                 subtract_log_q, remove_accidental_hits, partition_strategy,
                 all_duplicates)
    loss, probs = _softmax_ce(f.logits, f.out_labels)
    u = np.asarray(upstream, dtype=f.dtype).reshape(-1, 1)
    out = _backward(f, u * (probs - f.out_labels))
    out["loss"], out["logits"], out["out_labels"] = loss, f.logits, f.out_labels
    return out


def _require_single_label(labels):
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != 1:
        raise ValueError("sampled_sparse_softmax_loss needs labels of shape [batch, 1]")
    return labels


def sampled_sparse_softmax_loss(weights, biases, labels, inputs, sampled, tec, sec,
                                remove_accidental_hits=True,
                                partition_strategy="mod", all_duplicates=False):
    """contrib ``sampled_sparse_softmax_loss``: sparse CE with target column 0.

    With labels [B, 1] the one-hot target of column 0 equals the soft labels
    of ``sampled_softmax_loss`` (1/NT = 1), so the two are the same function.
    """
    return sampled_softmax_loss(weights, biases, _require_single_label(labels),
                                inputs, sampled, tec, sec, remove_accidental_hits,
                                partition_strategy, all_duplicates)


def sampled_sparse_softmax_loss_grads(weights, biases, labels, inputs, sampled,
                                      tec, sec, upstream,
                                      remove_accidental_hits=True,
                                      partition_strategy="mod",
                                      all_duplicates=False):
    """Gradients of ``sum(upstream * sampled_sparse_softmax_loss)``."""
    return sampled_softmax_loss_grads(weights, biases, _require_single_label(labels),
                                      inputs, sampled, tec, sec, upstream,
                                      remove_accidental_hits, partition_strategy,
                                      all_duplicates)


def rank_resample(weights, biases, inputs, sampled, sec, num_resampled,
                  resampling_temperature=1.0, partition_strategy="mod"):
    """contrib rank resampling: keep the ``num_resampled`` best sampled classes.

    Score of sampled class c (position p): ``logsumexp_j((w_c . x_j + b_c) / tau)``
    over the batch rows j (= ``LSE_j(w_c . x_j / tau) + b_c / tau``).  Returns
    ``(resampled_ids, resampled_sec, positions, scores)``; ``positions`` are in
    decreasing score order (ties: lower position first).  TF's
    ``top_k(sorted=False)`` leaves the order unspecified; the loss does not
    depend on it.  The expected counts are the original ones (no correction).
    """
    X = np.asarray(inputs)
    dt = X.dtype
    sampled = np.asarray(sampled).astype(np.int64).reshape(-1)
    sec = np.asarray(sec).reshape(-1)
    if not 0 < num_resampled < sampled.shape[0]:
        raise ValueError("need 0 < num_resampled < num_sampled")
    W_s = gather_rows(weights, sampled, partition_strategy).astype(dt)
    b_s = gather_rows(biases, sampled, partition_strategy).astype(dt)
    z = (X @ W_s.T + b_s[None, :]) / dt.type(resampling_temperature)   # [B, S]
    m = z.max(axis=0)
    scores = m + np.log(np.exp(z - m).sum(axis=0))
    order = sorted(range(sampled.shape[0]), key=lambda p: (-scores[p], p))
    positions = np.array(order[:num_resampled], dtype=np.int64)
    return sampled[positions], sec[positions], positions, scores


def rank_sampled_softmax_loss(weights, biases, labels, inputs, sampled, tec, sec,
                              num_resampled, resampling_temperature=1.0,
                              remove_accidental_hits=True, partition_strategy="mod"):
    """contrib ``rank_sampled_softmax_loss`` given explicit sampled values."""
    resampled, resampled_sec, _, _ = rank_resample(
        weights, biases, inputs, sampled, sec, num_resampled,
        resampling_temperature, partition_strategy)
    return sampled_softmax_loss(weights, biases, labels, inputs, resampled, tec,
                                resampled_sec, remove_accidental_hits,
                                partition_strategy)


def rank_sampled_softmax_loss_grads(weights, biases, labels, inputs, sampled, tec,
                                    sec, upstream, num_resampled,
                                    resampling_temperature=1.0,
                                    remove_accidental_hits=True,
                                    partition_strategy="mod"):
    """Gradients: the resampled ids are integers, so only the final loss contributes."""
    resampled, resampled_sec, _, _ = rank_resample(
        weights, biases, inputs, sampled, sec, num_resampled,
        resampling_temperature, partition_strategy)
    out = sampled_softmax_loss_grads(weights, biases, labels, inputs, resampled,
                                     tec, resampled_sec, upstream,
                                     remove_accidental_hits, partition_strategy)
    out["resampled"], out["resampled_sec"] = resampled, resampled_sec
    return out
