"""Bad-input sweep, area: Empty batches: empty results, also with gradients and the default sampler.

Documented outcomes (regenerate with ``python tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    empty-batch-explicit-nce-float32  returns: empty result
    empty-batch-explicit-nce-float64  returns: empty result
    empty-batch-default-sampler-nce  returns: empty result
    empty-batch-explicit-ssm-float32  returns: empty result
    empty-batch-explicit-ssm-float64  returns: empty result
    empty-batch-default-sampler-ssm  returns: empty result
    empty-batch-explicit-sparse-float32  returns: empty result
    empty-batch-explicit-sparse-float64  returns: empty result
    empty-batch-default-sampler-sparse  returns: empty result
    empty-batch-explicit-logits-float32  returns: empty result
    empty-batch-explicit-logits-float64  returns: empty result
    empty-batch-default-sampler-logits  returns: empty result
    empty-batch-gradients  returns: zero-size dX, zero dW/db
    zero-dim-embeddings  returns: finite loss (all logits are bias - log q)
    num_sampled-0-explicit-empty-sampled  returns: loss over the true classes alone
    empty-batch-sampler-uniform  returns: S candidates, tec of shape [0, NT]
    empty-batch-sampler-log_uniform  returns: S candidates, tec of shape [0, NT]
    empty-batch-sampler-learned_unigram  returns: S candidates, tec of shape [0, NT]
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

import pysampled as ps
from sweep.builders import (
    B, C, D, S,
    problem, sv_replace, LOSSES, call_loss, finite_shape,
)
from sweep.harness import returns


# ============================================================== empty batch
for _name in LOSSES:
    for _dt in (np.float32, np.float64):
        _tag = np.dtype(_dt).name
        returns(f"empty-batch-explicit-{_name}-{_tag}",
                call_loss(_name, dtype=_dt, labels=np.zeros((0, 1), np.int64),
                          inputs=np.zeros((0, D), _dt),
                          sampled_values=lambda p, dt=_dt: sv_replace(p, tec=np.zeros((0, 1), dt))),
                finite_shape((0,) if _name != "logits" else (0, 1 + S), _dt), "empty result")
    returns(f"empty-batch-default-sampler-{_name}",
            call_loss(_name, sampled_values=None, seed=1, labels=np.zeros((0, 1), np.int64),
                      inputs=np.zeros((0, D), np.float32)),
            finite_shape((0,) if _name != "logits" else (0, 1 + S), np.float32), "empty result")


def _empty_grads():
    p = problem()
    p.update(labels=np.zeros((0, 1), np.int64), inputs=np.zeros((0, D), np.float32),
             sampled_values=sv_replace(p, tec=np.zeros((0, 1), np.float32)))
    return ps.nce_loss(**p, return_grads=True)


def _check_empty_grads(r):
    loss, g = r
    assert loss.shape == (0,) and g.inputs.shape == (0, D)
    # no example: every touched row gets an exactly-zero gradient
    assert not np.any(g.weights.values) and not np.any(g.biases.values)


returns("empty-batch-gradients", _empty_grads, _check_empty_grads, "zero-size dX, zero dW/db")
returns("zero-dim-embeddings",
        call_loss("nce", weights=np.zeros((C, 0), np.float32), inputs=np.zeros((B, 0), np.float32)),
        finite_shape((B,)), "finite loss (all logits are bias - log q)")
returns("num_sampled-0-explicit-empty-sampled",
        call_loss("ssm", num_sampled=0, sampled_values=lambda p: sv_replace(
            p, sampled=np.zeros(0, np.int64), sec=np.zeros(0, np.float32))),
        finite_shape((B,)), "loss over the true classes alone")
for _name, _fn in (("uniform", ps.uniform_candidate_sampler),
                   ("log_uniform", ps.log_uniform_candidate_sampler),
                   ("learned_unigram", ps.learned_unigram_candidate_sampler)):
    returns(f"empty-batch-sampler-{_name}",
            lambda f=_fn: f(np.zeros((0, 2), np.int64), 2, 3, True, 10, seed=5),
            lambda r: (r[0].shape == (3,) and r[1].shape == (0, 2) and r[2].shape == (3,))
            or (_ for _ in ()).throw(AssertionError(r)),
            "S candidates, tec of shape [0, NT]")
