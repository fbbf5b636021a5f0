"""SparseAdam's step in NumPy, written from PyTorch's documented algorithm
(``torch.optim.SparseAdam``: Adam restricted to the rows a sparse gradient
touches; the moments and the parameter of the other rows are left alone),
one IEEE operation at a time in the parameter's dtype:

    g = -g if maximize else g
    dm = (g - m) * (1 - beta1);   m <- m + dm
    dv = (g * g - v) * (1 - beta2);   v <- v + dv
    step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)      (Python floats)
    p <- p + ((dm + m_old) / (sqrt(dv + v_old) + eps)) * (-step_size)

Scalars are rounded to the dtype, as PyTorch's CPU kernels round a Python
number. The square root here is the correctly rounded one.
"""
import math

import numpy as np


def sparse_adam_step(param, exp_avg, exp_avg_sq, ids, grad, step, lr=1e-3, betas=(0.9, 0.999),
                     eps=1e-8, maximize=False):
    """Update param, exp_avg, exp_avg_sq (2-D [rows, cols], in place) at the
    distinct row ids `ids` by the gradient rows `grad` ([len(ids), cols]) for
    the 1-based step count `step`."""
    dt = param.dtype.type
    beta1, beta2 = betas
    c1, c2, e = dt(1 - beta1), dt(1 - beta2), dt(eps)
    step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
    s = dt(-step_size)
    for k, i in enumerate(ids):
        g = -grad[k] if maximize else grad[k]
        m0, v0 = exp_avg[i].copy(), exp_avg_sq[i].copy()
        dm = (g - m0) * c1
        dv = (g * g - v0) * c2
        exp_avg[i] = m0 + dm
        exp_avg_sq[i] = v0 + dv
        param[i] = param[i] + ((dm + m0) / (np.sqrt(dv + v0) + e)) * s
