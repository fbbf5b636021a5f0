"""Regenerate ``tests/data/tf_losses_extra.npz`` with TensorFlow 2.21.

Run with an interpreter that has tensorflow-cpu 2.21 (the test suite itself
never imports TensorFlow):

    python tests/data/make_golden.py [--out tests/data/tf_losses_extra.npz]

The cases extend ``tf_losses.npz`` (same key layout, see SPEC section 13):
larger random problems (B=64, S=50, D=16) in float32 and float64, num_true=2/3
with remove_accidental_hits and duplicate labels, 4 uneven shards with "div"
and "mod", duplicate sampled ids, sharded biases and float64 weights with
float32 inputs.

Per case ``<name>/``: X, W0.. (W0 only when unsharded), b or b0..
(meta.bias_sharded), labels [B, NT], sampled [S], tec [B, NT], sec [S],
upstream (u [B] for the losses, R [B, NT+S] for kind "logits"), loss (not
for "logits"), logits, out_labels, dX, dW0.., db or db0.., meta (JSON).
Gradients are dense and are those of sum(u * loss) or sum(R * logits).
Top level: ``index`` (JSON list of names) and ``tf_version``.

Sampled values come from TF's own samplers with an op seed and no global
seed, i.e. Philox seeds (87654321, op_seed); labels that are forced to be
accidental hits get the sampler's expected count of that class (which
depends only on the class and on the call's number of tries, so it equals
the class's ``sec`` entry).
"""
import argparse
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.ops import nn_impl  # noqa: E402  (_compute_sampled_logits)

DEFAULT_SEED_HI = 87654321      # TF's seed when only an op seed is given


def canonical_rows(total, shards):
    q, r = divmod(total, shards)
    return [q + (1 if p < r else 0) for p in range(shards)]


def split(full, shards, strategy):
    """Cut a full [C, ...] table into TF's canonical shards."""
    if shards == 1:
        return [full]
    if strategy == "mod":
        return [full[p::shards] for p in range(shards)]
    rows = canonical_rows(full.shape[0], shards)
    starts = np.cumsum([0] + rows[:-1])
    return [full[s:s + n] for s, n in zip(starts, rows)]


def make_case(cfg):
    rng = np.random.default_rng(cfg["data_seed"])
    B, D, C = cfg["batch"], cfg["dim"], cfg["num_classes"]
    NT, S = cfg["num_true"], cfg["num_sampled"]
    xdt = np.float32 if cfg["dtype"] in ("float32", "mixed") else np.float64
    wdt = np.float64 if cfg["dtype"] in ("float64", "mixed") else np.float32

    X = (rng.normal(size=(B, D)) * cfg.get("x_scale", 1.0)).astype(xdt)
    W_full = (rng.normal(size=(C, D)) * 0.5).astype(wdt)
    b_full = (rng.normal(size=C) * 0.3).astype(wdt)
    labels = rng.integers(0, C, size=(B, NT)).astype(np.int64)

    sampler = getattr(tf.random, cfg["sampler"] + "_candidate_sampler")
    sampled, tec, sec = sampler(true_classes=tf.constant(labels), num_true=NT,
                                num_sampled=S, unique=cfg["unique"], range_max=C,
                                seed=cfg["op_seed"])
    sampled, tec, sec = sampled.numpy(), tec.numpy(), sec.numpy()

    # Duplicate sampled ids, accidental hits and duplicate labels where asked.
    for (to, frm) in cfg.get("dup_sampled", []):
        sampled[to], sec[to] = sampled[frm], sec[frm]
    sec_of = {int(v): float(e) for v, e in zip(sampled, sec)}
    for (i, k, pos) in cfg.get("force_hits", []):
        labels[i, k] = sampled[pos]
        tec[i, k] = np.float32(sec_of[int(sampled[pos])])
    for (i, k_from, k_to) in cfg.get("dup_labels", []):
        labels[i, k_to] = labels[i, k_from]
        tec[i, k_to] = tec[i, k_from]
    if xdt == np.float64:          # TF needs expected counts in the logits dtype
        tec, sec = tec.astype(np.float64), sec.astype(np.float64)

    shards, strategy = cfg["num_shards"], cfg["partition_strategy"]
    W_shards = split(W_full, shards, strategy)
    b_shards = split(b_full, shards, strategy) if cfg["bias_sharded"] else [b_full]
    kind = cfg["kind"]
    if kind == "logits":
        upstream = rng.normal(size=(B, NT + S)).astype(xdt)
    else:
        upstream = rng.uniform(0.5, 1.5, size=B).astype(xdt)

    X_v = tf.Variable(X)
    W_v = [tf.Variable(w) for w in W_shards]
    b_v = [tf.Variable(b) for b in b_shards]
    weights = W_v if shards > 1 else W_v[0]
    biases = b_v if cfg["bias_sharded"] else b_v[0]
    sv = (tf.constant(sampled), tf.constant(tec), tf.constant(sec))
    common = dict(weights=weights, biases=biases, labels=tf.constant(labels), inputs=X_v,
                  num_sampled=S, num_classes=C, num_true=NT, sampled_values=sv,
                  remove_accidental_hits=cfg["remove_accidental_hits"],
                  partition_strategy=strategy)

    with tf.GradientTape() as tape:
        logits, out_labels = nn_impl._compute_sampled_logits(
            subtract_log_q=cfg["subtract_log_q"], **common)
        if kind == "nce":
            loss = tf.compat.v1.nn.nce_loss(**common)
        elif kind == "ssm":
            loss = tf.compat.v1.nn.sampled_softmax_loss(**common)
        if kind == "logits":
            target = tf.reduce_sum(tf.constant(upstream) * logits)
        else:
            target = tf.reduce_sum(tf.constant(upstream) * loss)
    grads = tape.gradient(target, [X_v] + W_v + b_v)
    grads = [tf.convert_to_tensor(g).numpy() for g in grads]

    name = cfg["name"]
    out = {"X": X, "labels": labels, "sampled": sampled, "tec": tec, "sec": sec,
           "upstream": upstream, "logits": logits.numpy(), "out_labels": out_labels.numpy(),
           "dX": grads[0]}
    if kind != "logits":
        out["loss"] = loss.numpy()
    for p, (w, g) in enumerate(zip(W_shards, grads[1:1 + len(W_v)])):
        out[f"W{p}"], out[f"dW{p}"] = w, g
    b_grads = grads[1 + len(W_v):]
    if cfg["bias_sharded"]:
        for p, (b, g) in enumerate(zip(b_shards, b_grads)):
            out[f"b{p}"], out[f"db{p}"] = b, g
    else:
        out["b"], out["db"] = b_full, b_grads[0]

    meta = {k: v for k, v in cfg.items() if k not in ("data_seed", "x_scale")}
    meta.update(shard_rows=[int(w.shape[0]) for w in W_shards],
                sampled_values_explicit=True,
                upstream="R (cotangent of logits)" if kind == "logits"
                else "u (per-example loss weights)",
                philox_seed=[DEFAULT_SEED_HI, cfg["op_seed"]],
                numpy_data_seed=cfg["data_seed"])
    out["meta"] = np.array(json.dumps(meta))
    return name, out


def base(name, kind, dtype, **kw):
    cfg = dict(name=name, kind=kind, dtype=dtype, batch=64, dim=16, num_classes=200,
               num_true=1, num_sampled=50, num_shards=1, partition_strategy="mod",
               bias_sharded=False, remove_accidental_hits=kind == "ssm",
               subtract_log_q=True, sampler="log_uniform", unique=True)
    cfg.update(kw)
    return cfg


def configs():
    hits = [(0, 0, 3), (5, 0, 0), (9, 0, 49), (63, 0, 10)]
    hits2 = [(0, 0, 3), (0, 1, 7), (1, 1, 0), (4, 0, 2)]
    return [
        base("x00_nce_f32_big", "nce", "float32", op_seed=501, data_seed=1),
        base("x01_ssm_f32_big_rah", "ssm", "float32", op_seed=502, data_seed=2,
             force_hits=hits),
        base("x02_nce_f64_big_div4_biasshard", "nce", "float64", op_seed=503, data_seed=3,
             num_classes=203, num_shards=4, partition_strategy="div", bias_sharded=True),
        base("x03_ssm_f64_big_nt2_mod4_rah", "ssm", "float64", op_seed=504, data_seed=4,
             num_classes=203, num_true=2, num_shards=4, force_hits=hits),
        base("x04_nce_f32_nt2_rah_duplabels", "nce", "float32", op_seed=505, data_seed=5,
             batch=8, dim=6, num_classes=30, num_true=2, num_sampled=10,
             remove_accidental_hits=True, sampler="uniform", unique=False,
             force_hits=hits2, dup_labels=[(2, 0, 1), (0, 0, 1)]),
        base("x05_ssm_f32_nt2_rah_duplabels_dupsampled_div4", "ssm", "float32",
             op_seed=506, data_seed=6, batch=8, dim=6, num_classes=30, num_true=2,
             num_sampled=10, num_shards=4, partition_strategy="div", sampler="uniform",
             unique=False, dup_sampled=[(7, 3), (9, 0)], force_hits=hits2,
             dup_labels=[(2, 0, 1), (0, 0, 1)]),
        base("x06_logits_f32_nt2_rah_dupsampled_div4", "logits", "float32", op_seed=507,
             data_seed=7, batch=8, dim=6, num_classes=30, num_true=2, num_sampled=10,
             num_shards=4, partition_strategy="div", remove_accidental_hits=True,
             dup_sampled=[(7, 3), (9, 0)], force_hits=hits2),
        base("x07_nce_mixed_w64_x32_div4_biasshard", "nce", "mixed", op_seed=508,
             data_seed=8, num_classes=202, num_shards=4, partition_strategy="div",
             bias_sharded=True, remove_accidental_hits=True, force_hits=hits),
        base("x08_ssm_f32_big_nt3_div4_rah", "ssm", "float32", op_seed=509, data_seed=9,
             num_classes=202, num_true=3, num_shards=4, partition_strategy="div",
             force_hits=hits, dup_labels=[(1, 0, 2)]),
        base("x09_nce_f64_big_nt3_mod4_rah_uniform", "nce", "float64", op_seed=510,
             data_seed=10, num_classes=201, num_true=3, num_shards=4,
             remove_accidental_hits=True, sampler="uniform", unique=True,
             force_hits=hits),
    ]


def main():
    here = pathlib.Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(here / "tf_losses_extra.npz"))
    args = parser.parse_args()
    assert tf.__version__ == "2.21.0", tf.__version__
    arrays, index = {}, []
    for cfg in configs():
        name, case = make_case(cfg)
        index.append(name)
        for key, value in case.items():
            arrays[f"{name}/{key}"] = value
    arrays["index"] = np.array(json.dumps(index))
    arrays["tf_version"] = np.array(tf.__version__)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {len(index)} cases to {args.out}")


if __name__ == "__main__":
    main()
