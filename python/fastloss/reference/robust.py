"""NumPy reference of Barron's robust loss (float64, the paper's formulas
written plainly: u^(alpha/2) as a power, not the kernel's expm1/log1p)."""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss, weights_like

__all__ = ["barron"]


def _sum_to(g, shape):
    """A broadcast input's gradient: summed over the axes it was broadcast along."""
    nd = g.ndim
    padded = (1,) * (nd - len(shape)) + tuple(shape)
    axes = tuple(i for i in range(nd) if padded[i] == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True).reshape(shape)


def _barron(pred, target, reduction, sample_weight, alpha=None, scale=None):
    p = np.asarray(pred, dtype=np.float64)
    x = p - np.asarray(target, dtype=np.float64)
    a0 = 1.0 if alpha is None else np.asarray(alpha, dtype=np.float64)
    c0 = 1.0 if scale is None else np.asarray(scale, dtype=np.float64)
    a = np.broadcast_to(a0, x.shape)
    c = np.broadcast_to(c0, x.shape)
    with np.errstate(all="ignore"):
        z = (x / c) ** 2
        b = np.abs(a - 2)
        s = np.sign(a - 2)
        u = z / b + 1
        P = u ** (a / 2)
        general = (b / a) * (P - 1)
        fz_general = 0.5 * u ** (a / 2 - 1)
        fa_general = (
            (2 * s / a**2) * (P - 1) + (b / (2 * a)) * P * np.log(u) - (s * z / (2 * b)) * P / u
        )
        L0 = np.log(z / 2 + 1)
        eps = np.finfo(np.float64).eps
        near0, near2 = np.abs(a) < eps, np.abs(a - 2) < eps
        neg, pos = a == -np.inf, a == np.inf
        l = np.select(
            [neg, pos, near0, near2],
            [1 - np.exp(-z / 2), np.exp(z / 2) - 1, L0, z / 2],
            general,
        )
        fz = np.select(
            [neg, pos, near0, near2],
            [0.5 * np.exp(-z / 2), 0.5 * np.exp(z / 2), 0.5 / (z / 2 + 1), 0.5 * np.ones_like(z)],
            fz_general,
        )
        fa = np.select(
            [neg | pos | near2, near0],
            [np.zeros_like(z), L0**2 / 4 - L0 / 2 + z / (4 * (1 + z / 2))],
            fa_general,
        )
        gx = fz * 2 * x / c**2
        gc = -fz * 2 * z / c
        w = weights_like(sample_weight, x.shape)
        if w is not None:
            l, gx, fa, gc = l * w, gx * w, fa * w, gc * w
        if reduction == "none":
            v = l
        elif reduction == "sum":
            v = float(np.sum(l))
        else:
            denom = float(np.sum(w)) if w is not None else float(l.size)
            v = float(np.sum(l)) / denom if denom else float("nan")
            gx, fa, gc = gx / denom, fa / denom, gc / denom
    g_alpha = None if alpha is None else _sum_to(fa, np.shape(a0))
    g_scale = None if scale is None else _sum_to(gc, np.shape(c0))
    return v, (gx, g_alpha, g_scale), None


barron = RefLoss("barron", _barron, inputs=("alpha", "scale"), wrt=("pred", "alpha", "scale"))
