"""Reference overlap losses (see fastloss.overlap for the formulas).

Written straight from the formulas: sums with ``np.sum(..., keepdims=True)``
over the summed axes, the loss of each slice, and the gradient of each
element written out in full, e.g. for Dice
``d/dp_k [1 - N/D] = -(2 t_k D - N) / D**2``.
"""

from __future__ import annotations

import numpy as np

from fastloss import overlap as _family
from fastloss.reference._base import RefLoss, weights_like

# the twins of fastloss.overlap's losses, name for name
__all__ = list(_family.__all__)


def _axes(axis, ndim):
    if axis is None:
        if ndim < 2:
            raise ValueError("axis=None needs at least 2 dimensions")
        return tuple(range(1, ndim))
    axis = (axis,) if np.isscalar(axis) else tuple(axis)
    if not axis:
        raise ValueError("axis must name at least one axis")
    out = tuple(sorted(int(a) % ndim for a in axis))
    if len(set(out)) != len(out) or any(not -ndim <= a < ndim for a in axis):
        raise ValueError("bad axis")
    return out


def _reduce(l_keep, g, axes, reduction, sample_weight):
    """Per-slice losses (summed axes kept as size 1) and their gradient."""
    l = np.squeeze(l_keep, axis=axes) if axes else l_keep
    w = weights_like(sample_weight, l.shape)
    if w is not None:
        l = l * w
        g = g * np.expand_dims(w, axes)
    if reduction == "none":
        return l, g, None
    total = float(np.sum(l))
    if reduction == "sum":
        return total, g, None
    denom = float(np.sum(w)) if w is not None else float(l.size)
    return (total / denom if denom else float("nan")), g / denom, None


def _ratio_loss(num, den, dnum, dden):
    """1 - num/den and its gradient from d num/dp, d den/dp; 0 and 0 where den == 0."""
    empty = den == 0
    safe = np.where(empty, 1.0, den)
    l = np.where(empty, 0.0, 1.0 - num / safe)
    g = np.where(empty, 0.0, -(dnum * safe - num * dden) / safe**2)
    return l, g


def _slice_loss(score):
    """score(p, t, I, P, T, **params) -> (num, den, dnum/dp, dden/dp)."""

    def fn(pred, target, reduction, sample_weight, axis=None, **params):
        p = np.asarray(pred, dtype=np.float64)
        t = np.asarray(target, dtype=np.float64)
        axes = _axes(axis, p.ndim)
        with np.errstate(all="ignore"):
            I = np.sum(p * t, axis=axes, keepdims=True)
            P = np.sum(p, axis=axes, keepdims=True)
            T = np.sum(t, axis=axes, keepdims=True)
            num, den, dnum, dden = score(p, t, I, P, T, **params)
            l, g = _ratio_loss(num, den, dnum, dden)
            return _reduce(l, g, axes, reduction, sample_weight)

    return fn


def _dice(p, t, I, P, T, smooth=1e-5):
    return 2 * I + smooth, P + T + smooth, 2 * t, np.ones_like(p)


def _iou(p, t, I, P, T, smooth=1e-5):
    return I + smooth, P + T - I + smooth, t, 1 - t


def _tversky(p, t, I, P, T, alpha=0.5, beta=0.5, smooth=1e-5):
    tp, fp, fn = I, P - I, T - I  # sum(p*(1-t)) = P - I, sum((1-p)*t) = T - I
    # d tp/dp = t, d fp/dp = 1 - t, d fn/dp = -t
    return (
        tp + smooth,
        tp + alpha * fp + beta * fn + smooth,
        t,
        t + alpha * (1 - t) - beta * t,
    )


def _generalized_dice(pred, target, reduction, sample_weight, smooth=1e-5):
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.ndim < 2:
        raise ValueError("generalized_dice needs (N, C, ...)")
    spatial = tuple(range(2, p.ndim))
    with np.errstate(all="ignore"):
        I = np.sum(p * t, axis=spatial)  # (N, C)
        P = np.sum(p, axis=spatial)
        T = np.sum(t, axis=spatial)
        w = 1.0 / (T * T)
        # MONAI: infinite weights (absent classes) take the sample's largest
        # finite weight; all absent -> all 0.
        inf = np.isinf(w)
        w = np.where(inf, 0.0, w)
        w = w + inf * np.max(w, axis=1, keepdims=True)
        num = 2 * np.sum(w * I, axis=1) + smooth  # (N,)
        den = np.sum(w * (P + T), axis=1) + smooth
        ex = (slice(None),) + (None,) * (p.ndim - 1)  # (N,) -> (N, 1, 1, ...)
        wx = w.reshape(w.shape + (1,) * len(spatial))  # (N, C) -> (N, C, 1, ...)
        l, g = _ratio_loss(num[ex], den[ex], 2 * wx * t, wx + 0 * t)
        l = l.reshape(p.shape[0])
        w_s = weights_like(sample_weight, l.shape)
        if w_s is not None:
            l = l * w_s
            g = g * w_s[ex]
        if reduction == "none":
            return l, g, None
        total = float(np.sum(l))
        if reduction == "sum":
            return total, g, None
        denom = float(np.sum(w_s)) if w_s is not None else float(l.size)
        return (total / denom if denom else float("nan")), g / denom, None


dice = RefLoss("dice", _slice_loss(_dice))
iou = RefLoss("iou", _slice_loss(_iou))
tversky = RefLoss("tversky", _slice_loss(_tversky))
generalized_dice = RefLoss("generalized_dice", _generalized_dice)
