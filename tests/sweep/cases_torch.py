r"""Bad-input sweep, area: pysampled.torch: devices, dtypes, layouts, shapes, requires_grad, modules.

Registered only when torch is importable and the process is not under ASan
(tests/test_torch.py fails in CI when torch is missing). Documented outcomes (regenerate with ``python
tests/test_bad_input_sweep.py --write-tables``)::

RESULTS-TABLE-START
    torch-ssm-inputs-meta-device  raises ValueError: /^inputs is on device meta; pysampled.torch
        computes on the CPU/
    torch-nce-inputs-meta-device  raises ValueError: /^inputs is on device meta; pysampled.torch
        computes on the CPU/
    torch-sparse-inputs-meta-device  raises ValueError: /^inputs is on device meta; pysampled.torch
        computes on the CPU/
    torch-logits-inputs-meta-device  raises ValueError: /^inputs is on device meta; pysampled.torch
        computes on the CPU/
    torch-weights-meta-device  raises ValueError: /^weights is on device meta/
    torch-biases-shard-meta-device  raises ValueError: /^biases\[1\] is on device meta/
    torch-inputs-float16  raises TypeError: /^inputs must be float32 or float64, got torch.float16/
    torch-inputs-bfloat16  raises TypeError: /^inputs must be float32 or float64, got torch.bfloat16/
    torch-inputs-int64  raises TypeError: /^inputs must be float32 or float64, got torch.int64/
    torch-inputs-bool  raises TypeError: /^inputs must be float32 or float64, got torch.bool/
    torch-inputs-complex64  raises TypeError: /^inputs must be float32 or float64, got torch.complex64/
    torch-weights-int  raises TypeError: /^weights must be float32 or float64, got torch.int32$/
    torch-inputs-float16-allow-copy  returns: converted to float32 (opt-in copy)
    torch-labels-requires-grad  raises ValueError: /^labels must not require grad/
    torch-labels-float  raises TypeError: /^labels must be an integer tensor, got torch.float64$/
    torch-labels-numpy  raises TypeError: /^labels must be an integer torch.Tensor, got ndarray$/
    torch-labels-int32  returns: int32 labels work
    torch-inputs-non-contiguous  raises ValueError: /^inputs is not contiguous \(strides \(1, 4\)\)/
    torch-weights-non-contiguous  raises ValueError: /^weights is not contiguous/
    torch-weights-non-contiguous-allow-copy  returns: copied (opt-in), gradient reaches the original
    torch-weights-sparse-layout  raises TypeError: /^weights must be a dense \(strided\) tensor, got
        layout torch.sparse_coo$/
    torch-inputs-1d  raises ValueError: /^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$/
    torch-labels-rows  raises ValueError: /^labels have 3 rows but inputs have 4$/
    torch-labels-columns  raises ValueError: /^labels must have shape \[batch_size, num_true=1\], got
        \(4, 2\)$/
    torch-sparse-labels-2-columns  raises ValueError: /^labels must have shape \[batch_size\] or
        \[batch_size, 1\], got \(4, 2\)$/
    torch-dim-mismatch  raises ValueError: /^Matrix size-incompatible/
    torch-weights-1d  raises ValueError: /^weights must be 2-D, got shape \(12,\)$/
    torch-shards-mixed-dtypes  raises TypeError: /^all weights shards must have the same dtype$/
    torch-shards-empty  raises ValueError: /^weights: the list of shards is empty$/
    torch-unknown-strategy  raises ValueError: /^Unrecognized partition strategy: zz/
    torch-tec-requires-grad  raises ValueError: /^true_expected_count must not require grad/
    torch-sampled-float  raises TypeError: /^sampled_candidates must be integer ids, got torch.float64$/
    torch-sampled-out-of-range  raises IndexError: /^sampled_candidates\[3\] = 12 is not in \[0, 12\)$/
    torch-label-out-of-range  raises IndexError: /^labels\[2\] = 12 is not in \[0, 12\)$/
    torch-num_sampled-0-default  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at least
        minimum 1$/
    torch-num_true-0  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum 1$/
    torch-sampled_values-not-a-triple  raises ValueError: /^sampled_values must be a triple/
    torch-double-backward  raises RuntimeError: /double backward .* is not supported/
    torch-empty-batch  returns: empty loss, backward works
    torch-module-num_classes-0  raises ValueError: /^num_classes must be a positive int, got 0$/
    torch-module-shards-beyond-classes  raises ValueError: /^num_shards=4 exceeds num_classes=3$/
    torch-module-bad-sampler-name  raises ValueError: /^sampler must be one of \['learned_unigram',
        'log_uniform', 'uniform'\]/
    torch-module-sampler-not-a-sampler  raises TypeError: /^sampler must be a name or a pysampled
        CandidateSampler$/
    torch-module-sampler-range  raises ValueError: /^the sampler draws from 11 classes but there are
        10$/
    torch-module-dtype  raises TypeError: /^dtype must be torch.float32 or torch.float64/
    torch-module-weights-shape  raises ValueError: /^weights must be 1 shard\(s\) of shapes \[\(10,
        4\)\]/
    torch-module-forward-dim  raises ValueError: /^inputs must have shape \[batch_size, 4\], got \(3,
        5\)$/
    torch-module-forward-labels-float  raises TypeError: /^labels must be an integer tensor, got
        torch.float32$/
    torch-module-unique-S>R  raises ValueError: /^Sampler's range is too small\.$/
    torch-module-label-out-of-range  raises IndexError: /out of range \[0, 10\), received 10$/
    torch-ragged-ok  returns: ragged loss and gradients
    torch-ragged-num_true-2  raises ValueError: /^num_true must be left unset with label_row_splits/
    torch-ragged-labels-2d  raises ValueError: /^with label_row_splits, labels must be the flat 1-D
        tensor/
    torch-ragged-splits-length  raises ValueError: /^label_row_splits must have shape \[batch_size \+
        1\] = \[5\]/
    torch-ragged-splits-float  raises TypeError: /^label_row_splits must be an integer tensor, got
        torch.float32$/
    torch-ragged-splits-list  raises TypeError: /^label_row_splits must be an integer torch.Tensor, got
        list$/
    torch-ragged-empty-row  raises ValueError: /^example 1 has no true labels/
    torch-ragged-decreasing  raises ValueError: /^label_row_splits must be non-decreasing/
    torch-ragged-bad-end  raises ValueError: /^label_row_splits must end at len\(labels\) = 6, got 5$/
    torch-ragged-tec-shape  raises ValueError: /^true_expected_count must have shape \(6,\), got \(4,
        1\)$/
    torch-ragged-label-out-of-range  raises IndexError: /^labels\[5\] = 12 is not in \[0, 12\)$/
    torch-per-example-ok  returns: per-example loss and gradients
    torch-negatives-unknown  raises ValueError: /^negatives must be 'shared' or 'per_example', got
        'mine'$/
    torch-per-example-1d-sampled  raises ValueError: /^negatives='per_example' needs a 2-D
        sampled_candidates/
    torch-per-example-rows  raises ValueError: /^2-D sampled_candidates must have one row per example
        \(4\)/
    torch-per-example-3d  raises ValueError: /^sampled_candidates must be 1-D \(shared\) or 2-D/
    torch-per-example-sec-shape  raises ValueError: /^sampled_expected_count must have shape \(4, 4\),
        got \(4,\)$/
    torch-per-example-out-of-range  raises IndexError: /^sampled_candidates\[3\] = 12 is not in \[0,
        12\)$/
    torch-per-example-default-num_sampled-0  raises ValueError: /^Value for attr 'num_sampled' of 0 must
        be at least minimum 1$/
    torch-module-negatives-unknown  raises ValueError: /^negatives must be 'shared' or 'per_example',
        got 'x'$/
    torch-module-ragged-splits-length  raises ValueError: /^label_row_splits must have shape
        \[batch_size \+ 1\] = \[4\]/
    torch-in-batch-ok  returns: loss and tower gradients
    torch-in-batch-query-meta  raises ValueError: /^query is on device meta; pysampled.torch computes on
        the CPU/
    torch-in-batch-query-float16  raises TypeError: /^query must be float32 or float64, got
        torch.float16/
    torch-in-batch-query-float16-allow-copy  returns: converted to float32 (opt-in copy)
    torch-in-batch-candidates-dtype  raises TypeError: /^candidates must have the query's dtype
        torch.float32, got torch.float64$/
    torch-in-batch-candidates-shape  raises ValueError: /^candidates must have shape \(4, 3\) like the
        query, got \(3, 3\)$/
    torch-in-batch-query-1d  raises ValueError: /^query must be 2-D \[B, D\], got shape \(4,\)$/
    torch-in-batch-query-non-contiguous  raises ValueError: /^query is not contiguous/
    torch-in-batch-extra-dim  raises ValueError: /^extra_candidates must be 2-D \[S, 3\], got shape \(2,
        4\)$/
    torch-in-batch-extra-ids-without-extra  raises ValueError: /^extra_ids and extra_log_q need
        extra_candidates$/
    torch-in-batch-extra-ids-without-ids  raises ValueError: /^extra_ids need candidate_ids/
    torch-in-batch-ids-shape  raises ValueError: /^candidate_ids must have shape \(4,\), got \(2,\)$/
    torch-in-batch-ids-float  raises TypeError: /^candidate_ids must be an integer tensor, got
        torch.float32$/
    torch-in-batch-ids-numpy  raises TypeError: /^candidate_ids must be an integer torch.Tensor, got
        ndarray$/
    torch-in-batch-extra-ids-shape  raises ValueError: /^extra_ids must have shape \(2,\), got \(3,\)$/
    torch-in-batch-log_q-shape  raises ValueError: /^log_q must have shape \(4,\), got \(3,\)$/
    torch-in-batch-log_q-list  raises TypeError: /^log_q must be a torch.Tensor, got list$/
    torch-in-batch-log_q-bool  raises TypeError: /^log_q must hold real numbers, got torch.bool$/
    torch-in-batch-log_q-nan  raises ValueError: /^log_q\[1\] = nan is not finite$/
    torch-in-batch-extra_log_q-shape  raises ValueError: /^extra_log_q must have shape \(2,\), got
        \(4,\)$/
    torch-in-batch-temperature-0  raises ValueError: /^temperature must be a positive finite number, got
        0.0$/
    torch-in-batch-temperature-inf  raises ValueError: /^temperature must be a positive finite number,
        got inf$/
    torch-in-batch-temperature-tensor  raises TypeError: /^temperature must be a Python number/
    torch-in-batch-temperature-str  raises TypeError: /^temperature must be a number, got str$/
    torch-in-batch-temperature-underflows-float32  raises ValueError: /^temperature 1e-60 is not a
        positive finite float32$/
    torch-in-batch-double-backward  raises RuntimeError: /double backward .* is not supported/
    torch-in-batch-empty-batch  returns: empty loss, backward works
    torch-in-batch-module-temperature  raises ValueError: /^temperature must be a positive finite
        number, got -1$/
    torch-adam-dense-grad  raises RuntimeError: /^SparseAdam does not support dense gradients, please
        consider Adam instead$/
    torch-adam-lr-negative  raises ValueError: /^Invalid learning rate: -1.0$/
    torch-adam-beta-1  raises ValueError: /^Invalid beta parameter at index 0: 1.0$/
    torch-adam-num_threads-0  raises ValueError: /^num_threads must be a positive integer, -1 \(all
        cores\) or None$/
    torch-adam-unsorted-ids-flagged-coalesced  raises ValueError: /^gradient row ids must be strictly
        increasing and in \[0, 5\): row 1 has id 1$/
    torch-adam-id-out-of-range-unchecked  raises ValueError: /^gradient row ids must be strictly
        increasing and in \[0, 5\): row 1 has id 7$/
    torch-adam-moments-share-memory  raises ValueError: /^the parameter, its two moment tables and the
        gradient rows must not share memory$/
    torch-adam-empty-gradient  returns: no row updated (step counted, as torch)
RESULTS-TABLE-END
"""
from __future__ import annotations

import numpy as np

from sweep.builders import C, D, problem
from sweep.harness import raises, returns

from _sanitizer import SANITIZED

torch = None
if not SANITIZED:  # torch is not run under ASan (the sanitizer venv may still see a system torch)
    try:
        import torch
        import pysampled.torch as pt
    except ImportError:  # pragma: no cover - an environment without torch
        torch = None


def tproblem(dtype="float32"):
    p = problem(getattr(np, dtype))
    out = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in p.items()}
    out["sampled_values"] = tuple(torch.from_numpy(a) for a in p["sampled_values"])
    out["inputs"].requires_grad_()
    return out


FUNCS = {} if torch is None else {
    "ssm": pt.sampled_softmax_loss, "nce": pt.nce_loss,
    "sparse": pt.sampled_sparse_softmax_loss, "logits": pt.compute_sampled_logits,
}


def tcall(name="ssm", backward=False, **over):
    def run():
        kw = tproblem()
        if name == "sparse":
            kw["labels"] = kw["labels"].reshape(-1)
        for k, v in over.items():
            kw[k] = v(kw) if callable(v) else v
        out = FUNCS[name](**kw)
        if backward:
            (out[0] if isinstance(out, tuple) else out).sum().backward()
        return out
    return run


def _finite_loss(out):
    out = out[0] if isinstance(out, tuple) else out
    assert torch.isfinite(out).all()


if torch is not None:
    for _name in FUNCS:
        raises(f"torch-{_name}-inputs-meta-device", tcall(_name, inputs=torch.empty(4, D, device="meta")),
               ValueError, r"^inputs is on device meta; pysampled.torch computes on the CPU")
    raises("torch-weights-meta-device", tcall(weights=torch.empty(C, D, device="meta")),
           ValueError, r"^weights is on device meta")
    raises("torch-biases-shard-meta-device",
           tcall(biases=[torch.zeros(6), torch.empty(6, device="meta")], partition_strategy="div",
                 weights=lambda p: [p["weights"][:6], p["weights"][6:]]),
           ValueError, r"^biases\[1\] is on device meta")
    for _dt in ("float16", "bfloat16", "int64", "bool", "complex64"):
        raises(f"torch-inputs-{_dt}",
               tcall(inputs=lambda p, dt=_dt: p["inputs"].detach().to(getattr(torch, dt))),
               TypeError, rf"^inputs must be float32 or float64, got torch.{_dt}")
    raises("torch-weights-int", tcall(weights=torch.zeros(C, D, dtype=torch.int32)),
           TypeError, r"^weights must be float32 or float64, got torch.int32$")
    returns("torch-inputs-float16-allow-copy",
            tcall(inputs=lambda p: p["inputs"].detach().half(), allow_copy=True),
            _finite_loss, "converted to float32 (opt-in copy)")
    raises("torch-labels-requires-grad", tcall(labels=lambda p: p["labels"].double().requires_grad_()),
           ValueError, r"^labels must not require grad")
    raises("torch-labels-float", tcall(labels=lambda p: p["labels"].double()),
           TypeError, r"^labels must be an integer tensor, got torch.float64$")
    raises("torch-labels-numpy", tcall(labels=lambda p: p["labels"].numpy()),
           TypeError, r"^labels must be an integer torch.Tensor, got ndarray$")
    returns("torch-labels-int32", tcall(labels=lambda p: p["labels"].int(), backward=True),
            _finite_loss, "int32 labels work")
    raises("torch-inputs-non-contiguous", tcall(inputs=torch.zeros(D, 4).T),
           ValueError, r"^inputs is not contiguous \(strides \(1, 4\)\)")
    raises("torch-weights-non-contiguous", tcall(weights=torch.zeros(D, C).T),
           ValueError, r"^weights is not contiguous")
    returns("torch-weights-non-contiguous-allow-copy",
            tcall(weights=lambda p: p["weights"].T.contiguous().T, allow_copy=True, backward=True),
            _finite_loss, "copied (opt-in), gradient reaches the original")
    raises("torch-weights-sparse-layout", tcall(weights=lambda p: p["weights"].to_sparse()),
           TypeError, r"^weights must be a dense \(strided\) tensor, got layout torch.sparse_coo$")
    raises("torch-inputs-1d", tcall(inputs=torch.zeros(D)),
           ValueError, r"^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$")
    raises("torch-labels-rows", tcall(labels=torch.zeros(3, 1, dtype=torch.long)),
           ValueError, r"^labels have 3 rows but inputs have 4$")
    raises("torch-labels-columns", tcall(labels=torch.zeros(4, 2, dtype=torch.long)),
           ValueError, r"^labels must have shape \[batch_size, num_true=1\], got \(4, 2\)$")
    raises("torch-sparse-labels-2-columns", tcall("sparse", labels=torch.zeros(4, 2, dtype=torch.long)),
           ValueError, r"^labels must have shape \[batch_size\] or \[batch_size, 1\], got \(4, 2\)$")
    raises("torch-dim-mismatch", tcall(weights=torch.zeros(C, D + 1)),
           ValueError, r"^Matrix size-incompatible")
    raises("torch-weights-1d", tcall(weights=torch.zeros(C)),
           ValueError, r"^weights must be 2-D, got shape \(12,\)$")
    raises("torch-shards-mixed-dtypes",
           tcall(weights=[torch.zeros(6, D), torch.zeros(6, D, dtype=torch.float64)],
                 partition_strategy="div"),
           TypeError, r"^all weights shards must have the same dtype$")
    raises("torch-shards-empty", tcall(weights=[]), ValueError, r"^weights: the list of shards is empty$")
    raises("torch-unknown-strategy", tcall(partition_strategy="zz"),
           ValueError, r"^Unrecognized partition strategy: zz")
    raises("torch-tec-requires-grad",
           tcall(sampled_values=lambda p: (p["sampled_values"][0], p["sampled_values"][1].requires_grad_(),
                                           p["sampled_values"][2])),
           ValueError, r"^true_expected_count must not require grad")
    raises("torch-sampled-float", tcall(sampled_values=lambda p: (p["sampled_values"][0].double(),
                                                                  *p["sampled_values"][1:])),
           TypeError, r"^sampled_candidates must be integer ids, got torch.float64$")
    raises("torch-sampled-out-of-range", tcall(sampled_values=lambda p: (torch.tensor([5, 7, 9, 12]),
                                                                         *p["sampled_values"][1:])),
           IndexError, r"^sampled_candidates\[3\] = 12 is not in \[0, 12\)$")
    raises("torch-label-out-of-range", tcall(labels=torch.tensor([[0], [1], [12], [2]])),
           IndexError, r"^labels\[2\] = 12 is not in \[0, 12\)$")
    raises("torch-num_sampled-0-default", tcall(sampled_values=None, num_sampled=0),
           ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
    raises("torch-num_true-0", tcall(num_true=0),
           ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")
    raises("torch-sampled_values-not-a-triple", tcall(sampled_values=3),
           ValueError, r"^sampled_values must be a triple")

    def _double_backward():
        kw = tproblem("float64")
        loss = pt.sampled_softmax_loss(**kw).sum()
        (g,) = torch.autograd.grad(loss, kw["inputs"], create_graph=True)
        g.sum().backward()

    raises("torch-double-backward", _double_backward, RuntimeError, r"double backward .* is not supported")
    returns("torch-empty-batch", tcall(inputs=lambda p: p["inputs"][:0].detach().requires_grad_(),
                                       labels=lambda p: p["labels"][:0],
                                       sampled_values=lambda p: (p["sampled_values"][0],
                                                                 p["sampled_values"][1][:0],
                                                                 p["sampled_values"][2]),
                                       backward=True),
            lambda out: out.shape == (0,) or (_ for _ in ()).throw(AssertionError(out.shape)),
            "empty loss, backward works")

    # ---- modules
    raises("torch-module-num_classes-0", lambda: pt.SampledSoftmax(0, 4, 2),
           ValueError, r"^num_classes must be a positive int, got 0$")
    raises("torch-module-shards-beyond-classes", lambda: pt.SampledSoftmax(3, 4, 2, num_shards=4),
           ValueError, r"^num_shards=4 exceeds num_classes=3$")
    raises("torch-module-bad-sampler-name", lambda: pt.NCELoss(10, 4, 2, sampler="zipf"),
           ValueError, r"^sampler must be one of \['learned_unigram', 'log_uniform', 'uniform'\]")
    raises("torch-module-sampler-not-a-sampler", lambda: pt.NCELoss(10, 4, 2, sampler=object()),
           TypeError, r"^sampler must be a name or a pysampled CandidateSampler$")
    raises("torch-module-sampler-range", lambda: pt.SampledSoftmax(
        10, 4, 2, sampler=__import__("pysampled").UniformSampler(11, seed=1)),
           ValueError, r"^the sampler draws from 11 classes but there are 10$")
    raises("torch-module-dtype", lambda: pt.SampledSoftmax(10, 4, 2, dtype=torch.float16),
           TypeError, r"^dtype must be torch.float32 or torch.float64")
    raises("torch-module-weights-shape", lambda: pt.SampledSoftmax(10, 4, 2, weights=torch.zeros(9, 4)),
           ValueError, r"^weights must be 1 shard\(s\) of shapes \[\(10, 4\)\]")
    raises("torch-module-forward-dim", lambda: pt.SampledSoftmax(10, 4, 2, seed=1)(
        torch.zeros(3, 5), torch.zeros(3, dtype=torch.long)),
           ValueError, r"^inputs must have shape \[batch_size, 4\], got \(3, 5\)$")
    raises("torch-module-forward-labels-float", lambda: pt.SampledSoftmax(10, 4, 2, seed=1)(
        torch.zeros(3, 4), torch.zeros(3)),
           TypeError, r"^labels must be an integer tensor, got torch.float32$")
    raises("torch-module-unique-S>R", lambda: pt.SampledSoftmax(3, 4, 5, seed=1)(
        torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
           ValueError, r"^Sampler's range is too small\.$")
    raises("torch-module-label-out-of-range", lambda: pt.SampledSoftmax(10, 4, 2, seed=1)(
        torch.zeros(2, 4), torch.tensor([3, 10])),
           IndexError, r"out of range \[0, 10\), received 10$")

    # ---- beyond TF (issue 11 in torch): ragged labels, per-example negatives
    def _ragged(**over):
        def run():
            kw = tproblem()
            kw["labels"] = torch.tensor([1, 2, 3, 4, 5, 6])  # 4 examples own 1, 2, 1, 2 labels
            kw["label_row_splits"] = torch.tensor([0, 1, 3, 4, 6])
            kw["sampled_values"] = (kw["sampled_values"][0], torch.full((6,), 0.25),
                                    kw["sampled_values"][2])
            for k, v in over.items():
                kw[k] = v(kw) if callable(v) else v
            out = pt.sampled_softmax_loss(**kw)
            out.sum().backward()
            return out
        return run

    def _per_example(**over):
        def run():
            kw = tproblem()
            kw["sampled_values"] = (torch.tensor([[0, 1, 2, 3]] * 4), torch.full((4, 1), 0.25),
                                    torch.full((4, 4), 0.125))
            for k, v in over.items():
                kw[k] = v(kw) if callable(v) else v
            out = pt.nce_loss(**kw)
            out.sum().backward()
            return out
        return run

    returns("torch-ragged-ok", _ragged(), _finite_loss, "ragged loss and gradients")
    raises("torch-ragged-num_true-2", _ragged(num_true=2),
           ValueError, r"^num_true must be left unset with label_row_splits")
    raises("torch-ragged-labels-2d", _ragged(labels=lambda p: p["labels"].reshape(2, 3)),
           ValueError, r"^with label_row_splits, labels must be the flat 1-D tensor")
    raises("torch-ragged-splits-length", _ragged(label_row_splits=torch.tensor([0, 1, 6])),
           ValueError, r"^label_row_splits must have shape \[batch_size \+ 1\] = \[5\]")
    raises("torch-ragged-splits-float", _ragged(label_row_splits=torch.tensor([0., 1, 3, 4, 6])),
           TypeError, r"^label_row_splits must be an integer tensor, got torch.float32$")
    raises("torch-ragged-splits-list", _ragged(label_row_splits=[0, 1, 3, 4, 6]),
           TypeError, r"^label_row_splits must be an integer torch.Tensor, got list$")
    raises("torch-ragged-empty-row", _ragged(label_row_splits=torch.tensor([0, 1, 1, 4, 6])),
           ValueError, r"^example 1 has no true labels")
    raises("torch-ragged-decreasing", _ragged(label_row_splits=torch.tensor([0, 3, 1, 4, 6])),
           ValueError, r"^label_row_splits must be non-decreasing")
    raises("torch-ragged-bad-end", _ragged(label_row_splits=torch.tensor([0, 1, 3, 4, 5])),
           ValueError, r"^label_row_splits must end at len\(labels\) = 6, got 5$")
    raises("torch-ragged-tec-shape", _ragged(sampled_values=lambda p: (
        p["sampled_values"][0], torch.full((4, 1), 0.25), p["sampled_values"][2])),
           ValueError, r"^true_expected_count must have shape \(6,\), got \(4, 1\)$")
    raises("torch-ragged-label-out-of-range", _ragged(labels=torch.tensor([1, 2, 3, 4, 5, 12])),
           IndexError, r"^labels\[5\] = 12 is not in \[0, 12\)$")
    returns("torch-per-example-ok", _per_example(), _finite_loss, "per-example loss and gradients")
    raises("torch-negatives-unknown", _per_example(negatives="mine"),
           ValueError, r"^negatives must be 'shared' or 'per_example', got 'mine'$")
    raises("torch-per-example-1d-sampled", _per_example(
        negatives="per_example", sampled_values=lambda p: (torch.tensor([0, 1, 2, 3]),
                                                           *p["sampled_values"][1:])),
           ValueError, r"^negatives='per_example' needs a 2-D sampled_candidates")
    raises("torch-per-example-rows", _per_example(sampled_values=lambda p: (
        torch.tensor([[0, 1, 2, 3]] * 3), *p["sampled_values"][1:])),
           ValueError, r"^2-D sampled_candidates must have one row per example \(4\)")
    raises("torch-per-example-3d", _per_example(sampled_values=lambda p: (
        torch.zeros(4, 2, 2, dtype=torch.long), *p["sampled_values"][1:])),
           ValueError, r"^sampled_candidates must be 1-D \(shared\) or 2-D")
    raises("torch-per-example-sec-shape", _per_example(sampled_values=lambda p: (
        p["sampled_values"][0], p["sampled_values"][1], torch.full((4,), 0.125))),
           ValueError, r"^sampled_expected_count must have shape \(4, 4\), got \(4,\)$")
    raises("torch-per-example-out-of-range", _per_example(sampled_values=lambda p: (
        torch.tensor([[0, 1, 2, 12]] * 4), *p["sampled_values"][1:])),
           IndexError, r"^sampled_candidates\[3\] = 12 is not in \[0, 12\)$")
    raises("torch-per-example-default-num_sampled-0", _per_example(
        negatives="per_example", sampled_values=None, num_sampled=0),
           ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
    raises("torch-module-negatives-unknown", lambda: pt.NCELoss(10, 4, 2, negatives="x"),
           ValueError, r"^negatives must be 'shared' or 'per_example', got 'x'$")
    raises("torch-module-ragged-splits-length", lambda: pt.SampledSoftmax(10, 4, 2, seed=1)(
        torch.zeros(3, 4), torch.tensor([1, 2, 3]), torch.tensor([0, 3])),
           ValueError, r"^label_row_splits must have shape \[batch_size \+ 1\] = \[4\]")

    # ---- in-batch softmax (two towers)
    def _ib(**over):
        def run():
            g = torch.Generator().manual_seed(0)
            kw = dict(query=torch.randn(4, D, generator=g, requires_grad=True),
                      candidates=torch.randn(4, D, generator=g, requires_grad=True),
                      candidate_ids=torch.tensor([1, 2, 1, 3]), log_q=torch.full((4,), -1.0),
                      extra_candidates=torch.randn(2, D, generator=g),
                      extra_ids=torch.tensor([2, 5]), extra_log_q=torch.zeros(2))
            for k, v in over.items():
                kw[k] = v(kw) if callable(v) else v
            out = pt.in_batch_softmax_loss(**kw)
            out.sum().backward()
            return out
        return run

    returns("torch-in-batch-ok", _ib(), _finite_loss, "loss and tower gradients")
    raises("torch-in-batch-query-meta", _ib(query=torch.empty(4, D, device="meta")),
           ValueError, r"^query is on device meta; pysampled.torch computes on the CPU")
    raises("torch-in-batch-query-float16", _ib(query=lambda p: p["query"].detach().half()),
           TypeError, r"^query must be float32 or float64, got torch.float16")
    returns("torch-in-batch-query-float16-allow-copy",
            _ib(query=lambda p: p["query"].detach().half().requires_grad_(),
                candidates=lambda p: p["candidates"].detach().half(),
                extra_candidates=lambda p: p["extra_candidates"].half(), allow_copy=True),
            _finite_loss, "converted to float32 (opt-in copy)")
    raises("torch-in-batch-candidates-dtype", _ib(candidates=lambda p: p["candidates"].double()),
           TypeError, r"^candidates must have the query's dtype torch.float32, got torch.float64$")
    raises("torch-in-batch-candidates-shape", _ib(candidates=torch.zeros(3, D)),
           ValueError, r"^candidates must have shape \(4, 3\) like the query, got \(3, 3\)$")
    raises("torch-in-batch-query-1d", _ib(query=torch.zeros(4)),
           ValueError, r"^query must be 2-D \[B, D\], got shape \(4,\)$")
    raises("torch-in-batch-query-non-contiguous", _ib(query=torch.zeros(D, 4).T),
           ValueError, r"^query is not contiguous")
    raises("torch-in-batch-extra-dim", _ib(extra_candidates=torch.zeros(2, D + 1)),
           ValueError, r"^extra_candidates must be 2-D \[S, 3\], got shape \(2, 4\)$")
    raises("torch-in-batch-extra-ids-without-extra", _ib(extra_candidates=None),
           ValueError, r"^extra_ids and extra_log_q need extra_candidates$")
    raises("torch-in-batch-extra-ids-without-ids", _ib(candidate_ids=None),
           ValueError, r"^extra_ids need candidate_ids")
    raises("torch-in-batch-ids-shape", _ib(candidate_ids=torch.tensor([1, 2])),
           ValueError, r"^candidate_ids must have shape \(4,\), got \(2,\)$")
    raises("torch-in-batch-ids-float", _ib(candidate_ids=torch.tensor([1., 2, 3, 4])),
           TypeError, r"^candidate_ids must be an integer tensor, got torch.float32$")
    raises("torch-in-batch-ids-numpy", _ib(candidate_ids=np.array([1, 2, 3, 4])),
           TypeError, r"^candidate_ids must be an integer torch.Tensor, got ndarray$")
    raises("torch-in-batch-extra-ids-shape", _ib(extra_ids=torch.tensor([1, 2, 3])),
           ValueError, r"^extra_ids must have shape \(2,\), got \(3,\)$")
    raises("torch-in-batch-log_q-shape", _ib(log_q=torch.zeros(3)),
           ValueError, r"^log_q must have shape \(4,\), got \(3,\)$")
    raises("torch-in-batch-log_q-list", _ib(log_q=[0.0] * 4),
           TypeError, r"^log_q must be a torch.Tensor, got list$")
    raises("torch-in-batch-log_q-bool", _ib(log_q=torch.ones(4, dtype=torch.bool)),
           TypeError, r"^log_q must hold real numbers, got torch.bool$")
    raises("torch-in-batch-log_q-nan", _ib(log_q=torch.tensor([0.0, float("nan"), 0.0, 0.0])),
           ValueError, r"^log_q\[1\] = nan is not finite$")
    raises("torch-in-batch-extra_log_q-shape", _ib(extra_log_q=torch.zeros(4)),
           ValueError, r"^extra_log_q must have shape \(2,\), got \(4,\)$")
    raises("torch-in-batch-temperature-0", _ib(temperature=0.0),
           ValueError, r"^temperature must be a positive finite number, got 0.0$")
    raises("torch-in-batch-temperature-inf", _ib(temperature=float("inf")),
           ValueError, r"^temperature must be a positive finite number, got inf$")
    raises("torch-in-batch-temperature-tensor", _ib(temperature=torch.tensor(0.5)),
           TypeError, r"^temperature must be a Python number")
    raises("torch-in-batch-temperature-str", _ib(temperature="1"),
           TypeError, r"^temperature must be a number, got str$")
    raises("torch-in-batch-temperature-underflows-float32", _ib(temperature=1e-60),
           ValueError, r"^temperature 1e-60 is not a positive finite float32$")

    def _ib_double_backward():
        q = torch.randn(3, D, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(pt.in_batch_softmax_loss(q, torch.randn(3, D, dtype=torch.float64))
                                   .sum(), q, create_graph=True)
        g.sum().backward()

    raises("torch-in-batch-double-backward", _ib_double_backward,
           RuntimeError, r"double backward .* is not supported")
    returns("torch-in-batch-empty-batch",
            _ib(query=torch.zeros(0, D, requires_grad=True), candidates=torch.zeros(0, D),
                candidate_ids=torch.zeros(0, dtype=torch.long), log_q=torch.zeros(0)),
            lambda out: out.shape == (0,) or (_ for _ in ()).throw(AssertionError(out.shape)),
            "empty loss, backward works")
    raises("torch-in-batch-module-temperature", lambda: pt.InBatchSoftmax(temperature=-1),
           ValueError, r"^temperature must be a positive finite number, got -1$")

    # ---------------------------------------------------------- SparseAdam
    def _adam_step(grad, shape=(5, 2), **kw):
        def call():
            p = torch.nn.Parameter(torch.zeros(*shape))
            o = pt.SparseAdam([p], **kw)
            p.grad = grad() if callable(grad) else grad
            o.step()
            return p
        return call

    raises("torch-adam-dense-grad", _adam_step(torch.ones(5, 2)),
           RuntimeError, r"^SparseAdam does not support dense gradients, please consider Adam instead$")
    raises("torch-adam-lr-negative", _adam_step(None, lr=-1.0),
           ValueError, r"^Invalid learning rate: -1.0$")
    raises("torch-adam-beta-1", _adam_step(None, betas=(1.0, 0.999)),
           ValueError, r"^Invalid beta parameter at index 0: 1.0$")
    raises("torch-adam-num_threads-0", _adam_step(None, num_threads=0),
           ValueError, r"^num_threads must be a positive integer, -1 \(all cores\) or None$")
    raises("torch-adam-unsorted-ids-flagged-coalesced",
           _adam_step(lambda: torch.sparse_coo_tensor(torch.tensor([[3, 1]]), torch.ones(2, 2),
                                                      (5, 2), is_coalesced=True,
                                                      check_invariants=False)),
           ValueError, r"^gradient row ids must be strictly increasing and in \[0, 5\): row 1 has "
                       r"id 1$")
    raises("torch-adam-id-out-of-range-unchecked",
           _adam_step(lambda: torch.sparse_coo_tensor(torch.tensor([[1, 7]]), torch.ones(2, 2),
                                                      (5, 2), is_coalesced=True,
                                                      check_invariants=False)),
           ValueError, r"^gradient row ids must be strictly increasing and in \[0, 5\): row 1 has "
                       r"id 7$")
    def _adam_shared_moments():
        p = torch.nn.Parameter(torch.zeros(5, 2))
        o = pt.SparseAdam([p])
        o.state[p].update(step=0, exp_avg=torch.zeros(5, 2))
        o.state[p]["exp_avg_sq"] = o.state[p]["exp_avg"]  # a hand-edited state
        p.grad = torch.sparse_coo_tensor(torch.tensor([[1, 3]]), torch.ones(2, 2), (5, 2),
                                         check_invariants=True)
        o.step()

    raises("torch-adam-moments-share-memory", _adam_shared_moments,
           ValueError, r"^the parameter, its two moment tables and the gradient rows must not "
                       r"share memory$")
    returns("torch-adam-empty-gradient",
            _adam_step(lambda: torch.sparse_coo_tensor(torch.zeros(1, 0, dtype=torch.long),
                                                       torch.zeros(0, 2), (5, 2))),
            lambda p: (not p.detach().any()) or (_ for _ in ()).throw(AssertionError(p)),
            "no row updated (step counted, as torch)")
