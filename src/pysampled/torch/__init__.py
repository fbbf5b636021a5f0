"""pysampled inside PyTorch: sampled losses as autograd ops and modules.

Install with ``pip install "pysampled[torch]"``. The functions
(:func:`sampled_softmax_loss`, :func:`nce_loss`,
:func:`sampled_sparse_softmax_loss`, :func:`compute_sampled_logits`,
:func:`in_batch_softmax_loss`) take and return ``torch.Tensor``s with the
NumPy API's names, arguments and numbers (ragged labels and per-example
negatives included); the modules :class:`SampledSoftmax` and
:class:`NCELoss` own the class weights, biases and sampler, and
:class:`InBatchSoftmax` is the two-tower in-batch loss as a module;
:class:`SparseAdam` is ``torch.optim.SparseAdam`` with its step fused in C++
(the same numbers, bit for bit). Everything runs on the CPU through
``torch.library`` custom ops (``torch.ops.pysampled.*``), zero-copy on the
tensors' memory, with the GIL released, and traces under ``torch.compile``.
"""
from . import _ops  # noqa: F401  (registers torch.ops.pysampled.*)
from .functional import (
    compute_sampled_logits,
    in_batch_softmax_loss,
    nce_loss,
    sampled_softmax_loss,
    sampled_sparse_softmax_loss,
)
from .modules import InBatchSoftmax, NCELoss, SampledSoftmax
from .optim import SparseAdam

__all__ = [
    "InBatchSoftmax",
    "NCELoss",
    "SampledSoftmax",
    "SparseAdam",
    "compute_sampled_logits",
    "in_batch_softmax_loss",
    "nce_loss",
    "sampled_softmax_loss",
    "sampled_sparse_softmax_loss",
]
