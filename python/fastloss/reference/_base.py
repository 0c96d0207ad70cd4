"""The reference machinery: plain NumPy, float64, written for clarity.

A reference loss is built from one function ``fn(pred, target, reduction,
sample_weight, **params) -> (value, grad, hess)`` that computes in float64
and returns the reduced value (a float, or the per-sample array for
``"none"``), the gradient with respect to ``pred`` and, where the loss has
one, the diagonal Hessian (else None). ``elementwise`` builds such a
function from per-element formulas, with the reduction rules every
element-wise loss shares.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RefLoss", "elementwise", "weights_like"]


def weights_like(sample_weight, shape):
    """Weights broadcast as fastloss does (a prefix shape weighs whole samples)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != tuple(shape) and 0 < w.ndim < len(shape) and w.shape == tuple(shape[: w.ndim]):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    return np.broadcast_to(w, shape)


def elementwise(per_element):
    """``per_element(p, y, **params) -> (l, g, h)`` on float64 arrays -> a reference fn."""

    def fn(pred, target, reduction, sample_weight, **params):
        p = np.asarray(pred, dtype=np.float64)
        y = np.asarray(target, dtype=np.float64)
        with np.errstate(all="ignore"):
            l, g, h = per_element(p, y, **params)
            w = weights_like(sample_weight, p.shape)
            if w is not None:
                l, g = l * w, g * w
                h = None if h is None else h * w
            if reduction == "none":
                return l, g, h
            total = float(np.sum(l))
            if reduction == "sum":
                return total, g, h
            denom = float(np.sum(w)) if w is not None else float(p.size)
            h = None if h is None else h / denom
            return (total / denom if denom else float("nan")), g / denom, h

    return fn


class RefLoss:
    """Same verbs and keywords as fastloss.Loss, computed by NumPy in float64."""

    def __init__(self, name, fn, *, has_hess=False):
        self.name = name
        self._fn = fn
        self.has_hess = has_hess

    def __call__(self, pred, target, /, *, reduction="mean", sample_weight=None, **params):
        return self._fn(pred, target, reduction, sample_weight, **params)[0]

    def grad(self, pred, target, /, *, reduction="mean", sample_weight=None, **params):
        return self._fn(pred, target, reduction, sample_weight, **params)[1]

    def value_and_grad(self, pred, target, /, *, reduction="mean", sample_weight=None, **params):
        v, g, _ = self._fn(pred, target, reduction, sample_weight, **params)
        return v, g

    def grad_hess(self, pred, target, /, *, reduction="mean", sample_weight=None, **params):
        if not self.has_hess:
            raise TypeError(f"{self.name} has no Hessian")
        _, g, h = self._fn(pred, target, reduction, sample_weight, **params)
        return g, h

    def __repr__(self):
        return f"<fastloss.reference.{self.name}>"
