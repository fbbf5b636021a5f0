"""Slow, plain-NumPy references of the losses and estimators beyond TF's API.

Design:
    The test oracle of ``pysampled.retrieval`` (and of the ragged and
    per-example options of the sampled losses), written from the formulas in
    issue 11 and the public docstrings, one commented NumPy step per formula
    term. Like ``oracles/losses.py`` it imports no other pysampled module, so a
    bug in the C++ path cannot leak into it. It computes in the inputs' dtype
    (float64 for finite differences), with the accidental-hit mask ADDED as
    ``-FLT_MAX`` cast to that dtype before log-Q is subtracted (TF's order).
"""

import math

import numpy as np

FLT_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------------------ in-batch softmax

def in_batch_logits(query, candidates, candidate_ids=None, log_q=None, extra=None,
                    extra_ids=None, extra_log_q=None, temperature=1.0,
                    remove_accidental_hits=True):
    """The ``[B, B + S]`` logits and the boolean mask of accidental hits."""
    q = np.asarray(query)
    dt = q.dtype
    c = np.asarray(candidates, dtype=dt)
    B, D = q.shape
    e = np.zeros((0, D), dt) if extra is None else np.asarray(extra, dtype=dt)
    S = e.shape[0]
    # scores: every query row against every candidate row, then every extra row
    cols = np.concatenate([c, e], axis=0)
    dots = (q @ cols.T).astype(dt)
    scaled = (dots / dt.type(temperature)).astype(dt)
    # accidental hits: same item as the example's own positive (not the diagonal)
    hit = np.zeros((B, B + S), dtype=bool)
    if remove_accidental_hits and candidate_ids is not None:
        ids = np.asarray(candidate_ids)
        hit[:, :B] = ids[:, None] == ids[None, :]
        hit[np.arange(B), np.arange(B)] = False
        if extra_ids is not None:
            hit[:, B:] = ids[:, None] == np.asarray(extra_ids)[None, :]
    masked = np.where(hit, scaled + dt.type(-FLT_MAX), scaled).astype(dt)
    # sampling-bias correction: subtract log Q of each column
    lq = np.zeros(B + S, dt)
    if log_q is not None:
        lq[:B] = np.asarray(log_q, dtype=dt)
    if extra_log_q is not None:
        lq[B:] = np.asarray(extra_log_q, dtype=dt)
    if log_q is None and extra_log_q is None:
        return masked, hit
    return (masked - lq[None, :]).astype(dt), hit


def in_batch_softmax_loss(query, candidates, candidate_ids=None, log_q=None, extra=None,
                          extra_ids=None, extra_log_q=None, temperature=1.0,
                          remove_accidental_hits=True, upstream=None):
    """``(loss [B], (d_query, d_candidates, d_extra))`` of ``sum(upstream * loss)``."""
    q = np.asarray(query)
    dt = q.dtype
    B, D = q.shape
    L, _ = in_batch_logits(query, candidates, candidate_ids, log_q, extra, extra_ids,
                           extra_log_q, temperature, remove_accidental_hits)
    # softmax cross-entropy with target column i, stabilised by the row max
    m = L.max(axis=1, keepdims=True) if B else np.zeros((0, 1), dt)
    z = np.exp(L - m)
    s = z.sum(axis=1, keepdims=True)
    diag = L[np.arange(B), np.arange(B)]
    loss = (np.log(s[:, 0]) - (diag - m[:, 0])).astype(dt)
    # dLoss/dlogits = upstream * (softmax - onehot(i)); d logits / d dot = 1 / temperature
    u = np.ones(B, dt) if upstream is None else np.asarray(upstream, dtype=dt)
    G = z / s
    G[np.arange(B), np.arange(B)] -= 1
    G = G * u[:, None] / dt.type(temperature)
    c = np.asarray(candidates, dtype=dt)
    e = np.zeros((0, D), dt) if extra is None else np.asarray(extra, dtype=dt)
    cols = np.concatenate([c, e], axis=0)
    d_query = G @ cols
    d_cols = G.T @ q
    return loss, (d_query.astype(dt), d_cols[:B].astype(dt), d_cols[B:].astype(dt))


# ------------------------------------------------------------ frequency estimator

_M64 = (1 << 64) - 1


def _mix64(z):
    """splitmix64's finaliser on a Python int modulo 2**64."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def frequency_bucket(seed, h, num_buckets, item):
    key = _mix64((seed + (h + 1) * 0x9E3779B97F4A7C15) & _M64)
    return _mix64((item & _M64) ^ key) % num_buckets


class FrequencyEstimatorReference:
    """Dictionary-based twin of ``pysampled.FrequencyEstimator`` (same hash)."""

    def __init__(self, num_buckets, num_hashes=1, alpha=0.01, seed=0):
        self.nb, self.nh = int(num_buckets), int(num_hashes)
        self.alpha, self.seed = float(alpha), int(seed) % 2**64
        self.last, self.acc, self.count = {}, {}, {}
        self.first_step = self.last_step = None

    def update(self, ids, step):
        for item in np.asarray(ids).reshape(-1).tolist():
            for h in range(self.nh):
                b = (h, frequency_bucket(self.seed, h, self.nb, item))
                if b in self.last:
                    gap = step - self.last[b]
                    self.acc[b] = (1 - self.alpha) * self.acc.get(b, 0.0) + self.alpha * gap
                    self.count[b] = self.count.get(b, 0) + 1
                self.last[b] = step
        if self.first_step is None:
            self.first_step = step
        self.last_step = step

    def log_q(self, ids):
        steps = 0 if self.first_step is None else self.last_step - self.first_step + 1
        out = []
        for item in np.asarray(ids).reshape(-1).tolist():
            gaps = []
            for h in range(self.nh):
                b = (h, frequency_bucket(self.seed, h, self.nb, item))
                n = self.count.get(b, 0)
                a = self.acc.get(b, 0.0)
                if n > 0 and a > 0:
                    gaps.append(a / (1 - (1 - self.alpha) ** n))
            gap = max(gaps) if gaps else max(1, steps)
            out.append(-math.log(gap))
        return np.array(out, dtype=np.float64).reshape(np.shape(ids))


# ------------------------------------------------------------ row-wise sampled losses

def row_logits(weights, biases, labels, row_splits, inputs, sampled, tec, sec,
               subtract_log_q=True, remove_accidental_hits=False):
    """Per-example logits of the ragged / per-example sampled losses.

    ``weights`` is one dense ``[N, D]`` array, ``biases`` ``[N]`` or None;
    example ``i`` owns ``labels[row_splits[i]:row_splits[i+1]]``; ``sampled``
    is ``[S]`` (shared) or ``[B, S]`` (per example) with ``sec`` of the same
    shape; ``tec`` is flat like ``labels``. Returns a list of 1-D rows (true
    columns first) and a list of boolean masks of the sampled columns.
    """
    x = np.asarray(inputs)
    dt = x.dtype
    W = np.asarray(weights).astype(dt)  # lookup, then cast to the inputs' dtype (as TF)
    b = None if biases is None else np.asarray(biases).astype(dt)
    labels = np.asarray(labels, dtype=np.int64)
    sampled = np.asarray(sampled, dtype=np.int64)
    rows, masks = [], []
    for i in range(x.shape[0]):
        own = labels[row_splits[i]:row_splits[i + 1]]
        if own.size == 0:
            raise ValueError(f"example {i} has no true labels")
        cand = sampled[i] if sampled.ndim == 2 else sampled
        # true logits: x . w + b - log(tec)
        t = (W[own] @ x[i]).astype(dt)
        if b is not None:
            t = (t + b[own]).astype(dt)
        if subtract_log_q:
            t = (t - np.log(np.asarray(tec, dtype=dt)[row_splits[i]:row_splits[i + 1]])).astype(dt)
        # sampled logits: ((x . w + b) + mask) - log(sec)
        s = (W[cand] @ x[i]).astype(dt)
        if b is not None:
            s = (s + b[cand]).astype(dt)
        hit = np.isin(cand, own) if remove_accidental_hits else np.zeros(cand.shape, bool)
        s = np.where(hit, s + dt.type(-FLT_MAX), s).astype(dt)
        if subtract_log_q:
            q = np.asarray(sec, dtype=dt)
            q = q[i] if q.ndim == 2 else q
            s = (s - np.log(q)).astype(dt)
        rows.append(np.concatenate([t, s]).astype(dt))
        masks.append(hit)
    return rows, masks


def _row_targets(n_true, n_cols, dt, true_target=None):
    z = np.zeros(n_cols, dt)
    z[:n_true] = (1.0 / n_true) if true_target is None else true_target
    return z


def row_loss(kind, weights, biases, labels, row_splits, inputs, sampled, tec, sec,
             subtract_log_q=True, remove_accidental_hits=False, true_target=None, upstream=None,
             logits_cotangent=None):
    """``(loss [B] or None, rows, dX, dW [N, D], db [N] or None)`` for kind
    "softmax", "nce" or "logits" (then the gradients are those of
    ``sum(cotangent * logits)`` with ``logits_cotangent`` a list of rows).

    softmax: loss_i = -sum_t z_t log softmax(row_i)_t with z = 1/n_i on the
    true columns; nce: loss_i = sum_j max(x, 0) - x z + log1p(exp(-|x|)).
    dL/drow = upstream_i (softmax - z) or upstream_i (sigmoid - z).
    """
    x = np.asarray(inputs)
    dt = x.dtype
    W = np.asarray(weights).astype(dt)
    rows, _ = row_logits(weights, biases, labels, row_splits, x, sampled, tec, sec,
                         subtract_log_q, remove_accidental_hits)
    B = x.shape[0]
    u = np.ones(B, dt) if upstream is None else np.asarray(upstream, dtype=dt)
    losses = np.zeros(B, dt)
    dX = np.zeros_like(x)
    dW = np.zeros(W.shape, dt)
    db = np.zeros(W.shape[0], dt)
    labels = np.asarray(labels, dtype=np.int64)
    sampled = np.asarray(sampled, dtype=np.int64)
    for i, r in enumerate(rows):
        own = labels[row_splits[i]:row_splits[i + 1]]
        cand = sampled[i] if sampled.ndim == 2 else sampled
        cols = np.concatenate([own, cand])
        z = _row_targets(own.size, r.size, dt, true_target if kind == "nce" else None)
        if kind == "softmax":
            m = r.max()
            e = np.exp(r - m)
            s = e.sum()
            losses[i] = -(z * ((r - m) - np.log(s))).sum()
            g = u[i] * (e / s - z)
        elif kind == "nce":
            losses[i] = (np.maximum(r, 0) - r * z + np.log1p(np.exp(-np.abs(r)))).sum()
            with np.errstate(over="ignore"):
                sig = np.where(r >= 0, 1.0 / (1.0 + np.exp(-np.abs(r))),
                               np.exp(-np.abs(r)) / (1.0 + np.exp(-np.abs(r)))).astype(dt)
            g = u[i] * (sig - z)
        else:
            g = np.asarray(logits_cotangent[i], dtype=dt)
        dX[i] = g @ W[cols]
        np.add.at(dW, cols, g[:, None] * x[i][None, :])
        np.add.at(db, cols, g)
    return (None if kind == "logits" else losses), rows, dX, dW, (None if biases is None else db)
