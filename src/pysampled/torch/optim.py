"""``SparseAdam`` with its step fused into one C++ pass over the touched rows.

``torch.optim.SparseAdam`` updates the rows a sparse gradient touches with
about a dozen separate tensor operations (gathers of both moments, elementwise
passes, three scatter-adds), each a pass over the rows plus its dispatch
cost. :class:`SparseAdam` here is the same optimizer (a subclass: the same
arguments, state, ``state_dict`` and numbers, bit for bit) whose step reads
and writes each touched row of the parameter and of its two moments once, in
C++, with the GIL released. It serves any parameter with sparse gradients:
the pysampled modules' weights and biases, ``nn.Embedding(sparse=True)``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional, Tuple

import numpy as np
import torch
from torch.optim import _functional as _torch_functional

from .. import _losses
from .._threads import resolve_num_threads

__all__ = ["SparseAdam"]

_FUSED_DTYPES = (torch.float32, torch.float64)


def _fused_ok(p: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor,
              exp_avg_sq: torch.Tensor) -> bool:
    """Whether the fused kernel can take this parameter (else PyTorch's own step)."""
    return (p.device.type == "cpu" and p.dtype in _FUSED_DTYPES and p.dim() >= 1
            and p.is_contiguous() and grad.sparse_dim() == 1 and grad.dtype == p.dtype
            and all(t.dtype == p.dtype and t.device.type == "cpu" and t.is_contiguous()
                    and t.shape == p.shape for t in (exp_avg, exp_avg_sq)))


def _strictly_increasing(ids: np.ndarray) -> bool:
    """Whether sparse indices are already what ``coalesce()`` would make them
    (sorted, no duplicates), so that it would return the same values. Gradients
    of the pysampled modules are, but autograd's accumulation into ``.grad``
    drops their coalesced flag, and ``coalesce()`` (a sort) costs more than
    the whole update at S = 64."""
    return ids.size < 2 or bool((ids[1:] > ids[:-1]).all())


class SparseAdam(torch.optim.SparseAdam):
    """``torch.optim.SparseAdam``, fused: the same optimizer, faster.

    A drop-in replacement: the same arguments as ``torch.optim.SparseAdam``
    (``lr``, ``betas``, ``eps``, ``maximize``), the same per-parameter state
    (``step``, ``exp_avg``, ``exp_avg_sq``), so ``state_dict`` files load in
    either class, and the same updated parameters and moments bit for bit (the
    kernel applies PyTorch's float operations in PyTorch's order). Like
    PyTorch's, it updates only the rows present in each sparse gradient and
    raises ``RuntimeError`` for a dense gradient.

    Parameters on the CPU, float32 or float64, C-contiguous, with sparse
    gradients over their first dimension (what ``nn.Embedding(sparse=True)``
    and the pysampled modules give) take the fused path; any other parameter
    (another device or dtype, a non-contiguous layout) is updated by PyTorch's
    own implementation, with the same result.

    Parameters
    ----------
    params, lr, betas, eps, maximize
        As ``torch.optim.SparseAdam``.
    num_threads : int or None, optional
        Threads of the fused step: None (default) as many as OpenMP allows
        now, -1 all cores, or a count. The result does not depend on it.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False, *, num_threads: Optional[int] = None) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, maximize=maximize)
        resolve_num_threads(num_threads)  # a bad value fails here, not at the first step
        self.num_threads = num_threads

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        """Perform one optimization step (see ``torch.optim.SparseAdam.step``)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        threads = resolve_num_threads(self.num_threads)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            maximize = group.get("maximize", False)
            lr = group["lr"]
            lr = lr.item() if isinstance(lr, torch.Tensor) else lr
            eps = group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not grad.is_sparse:
                    raise RuntimeError(
                        "SparseAdam does not support dense gradients, please consider Adam instead")
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                if not _fused_ok(p, grad, exp_avg, exp_avg_sq):
                    _torch_functional.sparse_adam(
                        [p], [grad], [exp_avg], [exp_avg_sq], [step], eps=eps, beta1=beta1,
                        beta2=beta2, lr=lr, maximize=maximize)
                    continue
                ids = grad._indices()[0].contiguous()
                if not grad.is_coalesced() and not _strictly_increasing(ids.numpy()):
                    # duplicates or unsorted ids: sum and sort them, as PyTorch's step does
                    grad = grad.coalesce()
                    ids = grad._indices()[0].contiguous()
                values = grad._values()
                if values.numel() == 0:
                    continue
                rows, cols = p.shape[0], math.prod(p.shape[1:])  # explicit: rows may be 0
                # PyTorch's scalars: bias corrections and step size in double
                bias_correction1 = 1 - beta1 ** step
                bias_correction2 = 1 - beta2 ** step
                step_size = lr * math.sqrt(bias_correction2) / bias_correction1
                _losses.sparse_adam_step(
                    p.detach().view(rows, cols).numpy(), exp_avg.view(rows, cols).numpy(),
                    exp_avg_sq.view(rows, cols).numpy(), ids.numpy(),
                    values.detach().reshape(ids.shape[0], cols).contiguous().numpy(),
                    1 - beta1, 1 - beta2, eps, -step_size, maximize, threads)
        return loss
