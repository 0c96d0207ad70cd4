"""NumPy references of the RL and physics losses (float64, plain formulas)."""

from __future__ import annotations

import numpy as np

from fastloss import control as _family
from fastloss.reference._base import RefLoss, reduce_weighted, weights_like

# the twins of fastloss.control's losses, name for name
__all__ = list(_family.__all__)


def _td_error(q, rewards, reduction, sample_weight, next_q, dones, gamma=0.99, loss="huber"):
    q = np.asarray(q, dtype=np.float64)
    r = np.asarray(rewards, dtype=np.float64)
    nq = np.asarray(next_q, dtype=np.float64)
    d = np.asarray(dones, dtype=np.float64)
    with np.errstate(all="ignore"):
        delta = q - (r + gamma * (1 - d) * nq)
        if loss == "huber":
            a = np.abs(delta)
            l = np.where(a < 1, 0.5 * delta * delta, a - 0.5)
            g = np.where(a <= 1, delta, np.sign(delta))
        else:
            l, g = delta * delta, 2 * delta
        v, g = reduce_weighted(l, g, weights_like(sample_weight, q.shape), reduction)
    return v, g, None


def _pinn(residual, boundary, reduction, sample_weight, data=None, weights=(1.0, 1.0, 1.0)):
    parts = [residual, boundary, data]
    xs = [None if x is None else np.asarray(x, dtype=np.float64) for x in parts]
    total = sum(0 if x is None else x.size for x in xs)
    w = weights_like(sample_weight, (total,))
    values, grads, off = [], [], 0
    with np.errstate(all="ignore"):
        for x, c in zip(xs, weights):
            if x is None:
                grads.append(None)
                continue
            n = x.size
            flat = x.ravel()
            v, g = reduce_weighted(
                c * flat * flat, 2 * c * flat, None if w is None else w[off : off + n], reduction
            )
            values.append(v)
            grads.append(g.reshape(x.shape))
            off += n
    v = np.concatenate(values) if reduction == "none" else sum(values)
    return v, tuple(grads), None


td_error = RefLoss("td_error", _td_error, inputs=("next_q", "dones"))
pinn = RefLoss("pinn", _pinn, inputs=("data",), wrt=("residual", "boundary", "data"))
