"""Regenerate ``tests/data/tf_bf16.npz``: TensorFlow 2.21's sampled losses on
bfloat16 weights, biases and inputs (issue 9 item 6).

Run with an interpreter that has tensorflow-cpu 2.21 and ml_dtypes (the test
suite itself never imports TensorFlow):

    python tests/data/make_tf_bf16.py [--out tests/data/tf_bf16.npz]

Cases (all tensors bfloat16, as TF's rule requires: weights, biases, inputs
and the expected counts share the inputs' dtype; labels and sampled ids
int64):

* ``tf_test_bf16``: the shape of TF's ``testSampledSoftmaxLossBf16``
  (nn_test.py): 5 classes, dim 10, batch 3, labels [0, 1, 2], sampled
  [1, 0, 2, 3], expected counts 0.5, no accidental-hit removal; our own
  random data (NumPy seed 0).
* ``softmax_div3``: sampled softmax, 200 classes, dim 32, batch 16,
  num_true 2, 20 sampled ids, 3 "div" shards, accidental hits removed.
* ``nce_mod2``: NCE, 200 classes, dim 32, batch 16, num_true 1, 20
  sampled ids, 2 "mod" shards, sharded biases.

Per case ``<name>/``: X, W0.., b0.. (bfloat16 bits as uint16), labels,
sampled, tec, sec (bfloat16 bits), loss, dX, dW (dense, all shards
concatenated in global id order), db (float32 copies of TF's bfloat16
results; gradients of sum(loss)), meta (JSON). Top level: ``index``,
``tf_version``.
"""
import argparse
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BF16 = ml_dtypes.bfloat16


def canonical_rows(total, shards):
    q, r = divmod(total, shards)
    return [q + (1 if p < r else 0) for p in range(shards)]


def split(full, shards, strategy):
    if shards == 1:
        return [full]
    if strategy == "mod":
        return [full[p::shards] for p in range(shards)]
    out, start = [], 0
    for n in canonical_rows(full.shape[0], shards):
        out.append(full[start:start + n])
        start += n
    return out


def global_order(shards_rows, total, strategy):
    """Global ids of the concatenated shard rows (to undo the sharding)."""
    p = len(shards_rows)
    if p == 1 or strategy == "div":
        return np.arange(total)
    return np.concatenate([np.arange(s, total, p) for s in range(p)])


def case(name, loss, C, D, B, NT, S, shards, strategy, bias_sharded, hits, rng,
         labels=None, sampled=None, counts=None):
    W = (rng.standard_normal((C, D)) * 0.5).astype(BF16)
    b = (rng.standard_normal(C) * 0.1).astype(BF16)
    X = rng.standard_normal((B, D)).astype(BF16)
    if labels is None:
        labels = rng.integers(0, C, size=(B, NT))
    labels = np.asarray(labels, dtype=np.int64).reshape(B, NT)
    if sampled is None:
        sampled = rng.choice(C, size=S, replace=False)
        sampled[:3] = labels.reshape(-1)[:3]  # accidental hits
    sampled = np.asarray(sampled, dtype=np.int64)
    if counts is None:
        tec = rng.uniform(0.05, 0.9, size=(B, NT)).astype(BF16)
        sec = rng.uniform(0.05, 0.9, size=S).astype(BF16)
    else:
        tec = np.full((B, NT), counts, dtype=BF16)
        sec = np.full(S, counts, dtype=BF16)
    w_sh = split(W, shards, strategy)
    b_sh = split(b, shards, strategy) if bias_sharded else [b]
    w_vars = [tf.Variable(s) for s in w_sh]
    b_vars = [tf.Variable(s) for s in b_sh]
    x = tf.constant(X)
    # tf.compat.v1: the TF 2 functions fix partition_strategy to "div"
    fn = tf.compat.v1.nn.sampled_softmax_loss if loss == "softmax" else tf.compat.v1.nn.nce_loss
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = fn(weights=w_vars if shards > 1 else w_vars[0],
                 biases=b_vars if len(b_vars) > 1 else b_vars[0],
                 labels=tf.constant(labels), inputs=x, num_sampled=S, num_classes=C,
                 num_true=NT, sampled_values=(tf.constant(sampled), tf.constant(tec),
                                              tf.constant(sec)),
                 remove_accidental_hits=hits, partition_strategy=strategy)
        total = tf.reduce_sum(out)
    grads = tape.gradient(total, [x] + w_vars + b_vars)
    dense = [tf.convert_to_tensor(g).numpy().astype(np.float32) for g in grads]
    dX = dense[0]
    dW_sh = dense[1:1 + len(w_vars)]
    db_sh = dense[1 + len(w_vars):]
    dW = np.empty((C, D), np.float32)
    dW[global_order([s.shape[0] for s in w_sh], C, strategy)] = np.concatenate(dW_sh)
    db = np.empty(C, np.float32)
    db[global_order([s.shape[0] for s in b_sh], C, strategy if bias_sharded else "div")] = \
        np.concatenate(db_sh)
    arrays = {"X": X.view(np.uint16), "labels": labels, "sampled": sampled,
              "tec": tec.view(np.uint16), "sec": sec.view(np.uint16),
              "loss": out.numpy().astype(np.float32), "dX": dX, "dW": dW, "db": db}
    for p, s in enumerate(w_sh):
        arrays[f"W{p}"] = np.ascontiguousarray(s).view(np.uint16)
    for p, s in enumerate(b_sh):
        arrays[f"b{p}"] = np.ascontiguousarray(s).view(np.uint16)
    meta = {"loss": loss, "C": C, "D": D, "B": B, "NT": NT, "S": S, "shards": shards,
            "strategy": strategy, "bias_shards": len(b_sh), "remove_accidental_hits": hits,
            "loss_dtype": out.dtype.name}
    return {f"{name}/{k}": v for k, v in arrays.items()} | {f"{name}/meta": json.dumps(meta)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(pathlib.Path(__file__).with_name("tf_bf16.npz")))
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    data = {}
    data |= case("tf_test_bf16", "softmax", 5, 10, 3, 1, 4, 1, "mod", False, False, rng,
                 labels=[0, 1, 2], sampled=[1, 0, 2, 3], counts=0.5)
    data |= case("softmax_div3", "softmax", 200, 32, 16, 2, 20, 3, "div", False, True, rng)
    data |= case("nce_mod2", "nce", 200, 32, 16, 1, 20, 2, "mod", True, False, rng)
    names = sorted({k.split("/")[0] for k in data})
    np.savez_compressed(a.out, index=json.dumps(names), tf_version=tf.__version__, **data)
    print(f"wrote {a.out}: {names} (TF {tf.__version__})")


if __name__ == "__main__":
    main()
