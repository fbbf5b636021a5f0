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
