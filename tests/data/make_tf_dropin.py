"""Regenerate ``tests/data/tf_dropin.npz`` with TensorFlow 2.21 (issue 9).

Run with an interpreter that has tensorflow-cpu 2.21 (the test suite itself
never imports TensorFlow):

    python tests/data/make_tf_dropin.py [--out tests/data/tf_dropin.npz]

What TF itself computes for the calls that make pysampled a drop-in:

* ``tec_<shape>_<kind>``: ``true_expected_count`` of every shape TF
  broadcasts against the true logits ``[B, NT]`` with one meaning (scalar,
  ``[1]``, ``[NT]``, ``[1, NT]``, ``[B, 1]``, ``[1, 1]``), NT = 3, B = 4.
* ``sec_<shape>_<kind>``: ``sampled_expected_count`` as a scalar, ``[1]``,
  ``[1, S]``.
* ``nsampled<k>_<kind>``: explicit sampled values with ``num_sampled`` = k
  different from their number (``remove_accidental_hits=False``).
* ``floatlabels_<kind>``: labels given as a float32 tensor of integral values.
* ``rank_*``: TF 1.15 contrib's ``rank_sampled_softmax_loss`` is not in TF
  2.21; these cases re-create it from TF 2.21 ops following the 1.15 source
  (``embedding_lookup`` of the sampled rows, ``reduce_logsumexp`` over the
  batch of ``w . (x / T)``, plus ``b / T``, ``top_k``, then
  ``tf.compat.v1.nn.sampled_softmax_loss`` on the kept candidates), sharded
  "div"/"mod", biases sharded or not.

``<kind>`` is ``nce`` (``tf.compat.v1.nn.nce_loss``), ``ssm``
(``tf.compat.v1.nn.sampled_softmax_loss``) or ``logits``
(``nn_impl._compute_sampled_logits``). Per case ``<name>/``: ``X``, ``W``
(full ``[C, D]``; sharded cases list their layout in meta and TF received
the canonical shards), ``b``, ``labels`` (as TF received them), ``sampled``,
``tec``, ``sec`` (as TF received them), ``upstream`` (``u [B]`` for the
losses, ``R`` for logits), ``loss`` or ``logits``, dense gradients of
``sum(u * loss)`` (or ``sum(R * logits)``) ``dX``, ``dW`` ``[C, D]``,
``db`` ``[C]`` in global id order, ``meta`` (JSON). Rank cases also store
``kept`` (TF's top_k indices into ``sampled``, in TF's order).
Top level: ``index``, ``tf_version``.

TF facts recorded here but not computable in a test (``facts`` JSON):
the Python error of ``learned_unigram_candidate_sampler`` for
``range_max = 2**31``.
"""
import argparse
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.ops import nn_impl  # noqa: E402  (_compute_sampled_logits)

B, D, C, S = 4, 5, 12, 4


def canonical_rows(total, shards):
    q, r = divmod(total, shards)
    return [q + (1 if p < r else 0) for p in range(shards)]


def split(full, shards, strategy):
    if shards == 1:
        return [full]
    if strategy == "mod":
        return [full[p::shards] for p in range(shards)]
    rows = canonical_rows(full.shape[0], shards)
    starts = np.cumsum([0] + rows[:-1])
    return [full[s:s + n] for s, n in zip(starts, rows)]


def unsplit(parts, total, strategy):
    """Dense per-shard gradients back in global id order."""
    if len(parts) == 1:
        return parts[0]
    out = np.zeros((total,) + parts[0].shape[1:], dtype=parts[0].dtype)
    if strategy == "mod":
        for p, g in enumerate(parts):
            out[p::len(parts)] = g
    else:
        start = 0
        for g in parts:
            out[start:start + g.shape[0]] = g
            start += g.shape[0]
    return out


def problem(seed, nt):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, D)).astype(np.float32)
    W = (rng.normal(size=(C, D)) * 0.5).astype(np.float32)
    b = (rng.normal(size=C) * 0.3).astype(np.float32)
    labels = rng.integers(0, C, size=(B, nt)).astype(np.int64)
    sampled = rng.choice(C, size=S, replace=False).astype(np.int64)
    tec = rng.uniform(0.05, 1.5, size=(B, nt)).astype(np.float32)
    sec = rng.uniform(0.05, 1.5, size=S).astype(np.float32)
    return rng, X, W, b, labels, sampled, tec, sec


def run(kind, X, W, b, labels, sampled, tec, sec, nt, num_sampled, rah, upstream,
        shards=1, strategy="div", bias_sharded=False):
    """TF's outputs and dense gradients for one call."""
    X_v = tf.Variable(X)
    W_v = [tf.Variable(w) for w in split(W, shards, strategy)]
    b_v = [tf.Variable(x) for x in (split(b, shards, strategy) if bias_sharded else [b])]
    common = dict(weights=W_v if shards > 1 else W_v[0],
                  biases=b_v if bias_sharded else b_v[0], labels=tf.constant(labels),
                  inputs=X_v, num_sampled=num_sampled, num_classes=C, num_true=nt,
                  sampled_values=(tf.constant(sampled), tf.constant(tec), tf.constant(sec)),
                  remove_accidental_hits=rah, partition_strategy=strategy)
    with tf.GradientTape() as tape:
        if kind == "logits":
            out, _ = nn_impl._compute_sampled_logits(subtract_log_q=True, **common)
        elif kind == "nce":
            out = tf.compat.v1.nn.nce_loss(**common)
        else:
            out = tf.compat.v1.nn.sampled_softmax_loss(**common)
        target = tf.reduce_sum(tf.constant(upstream) * out)
    grads = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(target, [X_v] + W_v + b_v)]
    dW = unsplit(grads[1:1 + len(W_v)], C, strategy)
    db = unsplit(grads[1 + len(W_v):], C, strategy) if bias_sharded else grads[-1]
    return out.numpy(), grads[0], dW, db


def upstream_for(rng, kind, nt, s):
    if kind == "logits":
        return rng.normal(size=(B, nt + s)).astype(np.float32)
    return rng.uniform(0.5, 1.5, size=B).astype(np.float32)


def case(name, kind, seed, nt=3, tec_shape=None, sec_shape=None, num_sampled=S, rah=False,
         float_labels=False):
    rng, X, W, b, labels, sampled, tec, sec = problem(seed, nt)
    if tec_shape is not None:
        tec = rng.uniform(0.05, 1.5, size=tec_shape).astype(np.float32)
    if sec_shape is not None:
        sec = rng.uniform(0.05, 1.5, size=sec_shape).astype(np.float32)
    lab = labels.astype(np.float32) if float_labels else labels
    upstream = upstream_for(rng, kind, nt, S)
    out, dX, dW, db = run(kind, X, W, b, lab, sampled, tec, sec, nt, num_sampled, rah, upstream)
    meta = dict(kind=kind, num_true=nt, num_sampled=num_sampled, remove_accidental_hits=rah,
                tec_shape=list(np.shape(tec)), sec_shape=list(np.shape(sec)), data_seed=seed,
                num_classes=C, num_shards=1, partition_strategy="div", bias_sharded=False)
    d = {"X": X, "W": W, "b": b, "labels": lab, "sampled": sampled, "tec": tec, "sec": sec,
         "upstream": upstream, "dX": dX, "dW": dW, "db": db}
    d["logits" if kind == "logits" else "loss"] = out
    d["meta"] = np.array(json.dumps(meta))
    return name, d


def rank_case(name, seed, nt, num_sampled, num_resampled, temperature, rah, shards, strategy,
              bias_sharded):
    """TF 1.15's rank_sampled_softmax_loss, from TF 2.21 ops (see the module doc)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, D)).astype(np.float32)
    W = rng.normal(size=(C, D)).astype(np.float32)
    b = (rng.normal(size=C) * 0.5).astype(np.float32)
    labels = rng.integers(0, C, size=(B, nt)).astype(np.int64)
    sampled = rng.choice(C, size=num_sampled, replace=False).astype(np.int64)
    if rah:
        labels[0, 0] = sampled[1]
        labels[2, nt - 1] = sampled[num_sampled - 1]
    tec = rng.uniform(0.05, 1.5, size=(B, nt)).astype(np.float32)
    sec = rng.uniform(0.05, 1.5, size=num_sampled).astype(np.float32)
    upstream = rng.uniform(0.5, 1.5, size=B).astype(np.float32)

    W_sh = split(W, shards, strategy)
    b_sh = split(b, shards, strategy) if bias_sharded else [b]
    weights = [tf.constant(w) for w in W_sh] if shards > 1 else tf.constant(W)
    biases = [tf.constant(x) for x in b_sh] if bias_sharded else tf.constant(b)
    # Phase 2 of TF 1.15 (_rank_resample): logsumexp over the batch of
    # embeddings . (inputs / T), plus biases / T, then top_k(sorted=False).
    reweighted = tf.constant(X) / temperature
    emb = tf.compat.v1.nn.embedding_lookup(weights, tf.constant(sampled), partition_strategy=strategy) \
        if shards > 1 else tf.gather(weights, sampled)
    scores = tf.reduce_logsumexp(tf.matmul(emb, reweighted, transpose_b=True), axis=1)
    sb = tf.compat.v1.nn.embedding_lookup(biases, tf.constant(sampled), partition_strategy=strategy) \
        if bias_sharded else tf.gather(biases, sampled)
    scores = scores + tf.reshape(sb, [-1]) / temperature
    _, kept = tf.math.top_k(scores, k=num_resampled, sorted=False)
    kept = kept.numpy()
    out, dX, dW, db = run("ssm", X, W, b, labels, sampled[kept], tec, sec[kept], nt,
                          num_resampled, rah, upstream, shards, strategy, bias_sharded)
    meta = dict(kind="rank", num_true=nt, num_sampled=num_sampled, num_resampled=num_resampled,
                resampling_temperature=temperature, remove_accidental_hits=rah,
                num_classes=C, num_shards=shards, partition_strategy=strategy,
                bias_sharded=bias_sharded, data_seed=seed,
                note="TF 1.15 contrib re-created from TF 2.21 ops")
    d = {"X": X, "W": W, "b": b, "labels": labels, "sampled": sampled, "tec": tec, "sec": sec,
         "upstream": upstream, "loss": out, "dX": dX, "dW": dW, "db": db, "kept": kept,
         "scores": scores.numpy()}
    d["meta"] = np.array(json.dumps(meta))
    return name, d


def all_cases():
    shapes = {"scalar": (), "1": (1,), "NT": (3,), "1xNT": (1, 3), "Bx1": (B, 1), "1x1": (1, 1)}
    seed = 100
    for sname, shape in shapes.items():
        for kind in ("nce", "ssm", "logits"):
            seed += 1
            yield case(f"tec_{sname}_{kind}", kind, seed, tec_shape=shape,
                       rah=(kind == "ssm"))
    for sname, shape in {"scalar": (), "1": (1,), "1xS": (1, S)}.items():
        for kind in ("nce", "ssm", "logits"):
            seed += 1
            yield case(f"sec_{sname}_{kind}", kind, seed, sec_shape=shape)
    for k in (1, S + 2):
        for kind in ("nce", "ssm", "logits"):
            seed += 1
            yield case(f"nsampled{k}_{kind}", kind, seed, num_sampled=k)
    for kind, rah in (("nce", False), ("ssm", True), ("logits", True)):
        seed += 1
        yield case(f"floatlabels_{kind}", kind, seed, nt=1, float_labels=True, rah=rah)
    ranks = [
        ("rank_unsharded_t1", 1, 6, 3, 1.0, False, 1, "div", False),
        ("rank_div3_t05_rah", 2, 8, 4, 0.5, True, 3, "div", False),
        ("rank_div3_biasshard_t2", 1, 8, 5, 2.0, False, 3, "div", True),
        ("rank_mod3_biasshard_t07_rah", 2, 7, 3, 0.7, True, 3, "mod", True),
        ("rank_mod2_t3", 1, 6, 2, 3.0, True, 2, "mod", False),
    ]
    for i, args in enumerate(ranks):
        yield rank_case(args[0], 500 + i, *args[1:])


def facts():
    out = {}
    try:
        tf.random.learned_unigram_candidate_sampler(tf.constant([[0]], tf.int64), 1, 1, True,
                                                    2**31)
    except ValueError as e:
        out["learned_unigram_range_2**31"] = f"ValueError: {e}"
    return out


def main():
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(here / "tf_dropin.npz"))
    args = parser.parse_args()
    assert tf.__version__ == "2.21.0", tf.__version__
    arrays, index = {}, []
    for name, d in all_cases():
        index.append(name)
        for key, value in d.items():
            arrays[f"{name}/{key}"] = value
    arrays["index"] = np.array(json.dumps(index))
    arrays["facts"] = np.array(json.dumps(facts()))
    arrays["tf_version"] = np.array(tf.__version__)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {len(index)} cases to {args.out}")


if __name__ == "__main__":
    main()
