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

__all__ = ["RefLoss", "elementwise", "weights_like", "reduce_weighted", "reduce_factor"]


def weights_like(sample_weight, shape):
    """Weights broadcast as fastloss does (a prefix shape weighs whole samples)."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != tuple(shape) and 0 < w.ndim < len(shape) and w.shape == tuple(shape[: w.ndim]):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    return np.broadcast_to(w, shape)


def reduce_weighted(l, g, w, reduction):
    """One part's reduced value and gradient: ``l`` the per-sample losses,
    ``g`` d l_i / d x_i per sample, ``w`` the weights broadcast to ``l``
    (:func:`weights_like`) or None."""
    if w is not None:
        l, g = l * w, g * w
    if reduction == "none":
        return l, g
    if reduction == "sum":
        return float(np.sum(l)), g
    denom = float(np.sum(w)) if w is not None else float(l.size)
    return (float(np.sum(l)) / denom if denom else float("nan")), g / denom


def reduce_factor(l, sample_weight, reduction):
    """``(value, c)``: the reduced value of the per-sample losses ``l`` and
    d value / d l_i (a scalar weight weighs every sample)."""
    w = np.ones_like(l) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = np.broadcast_to(w, l.shape)
    if reduction == "none":
        return l * w, w
    if reduction == "sum":
        return float(np.sum(l * w)), w
    denom = float(np.sum(w))
    return (float(np.sum(l * w)) / denom if denom else float("nan")), w / denom


def elementwise(per_element):
    """``per_element(p, y, **params) -> (l, g, h)`` on float64 arrays -> a reference fn."""

    def fn(pred, target, reduction, sample_weight, **params):
        p = np.asarray(pred, dtype=np.float64)
        y = np.asarray(target, dtype=np.float64)
        with np.errstate(all="ignore"):
            l, g, h = per_element(p, y, **params)
            multi = isinstance(g, tuple)  # one gradient per differentiable input
            gs = g if multi else (g,)
            w = weights_like(sample_weight, p.shape)
            if w is not None:
                l, gs = l * w, tuple(gi * w for gi in gs)
                h = None if h is None else h * w
            if reduction == "none":
                return l, (gs if multi else gs[0]), h
            total = float(np.sum(l))
            if reduction == "sum":
                return total, (gs if multi else gs[0]), h
            denom = float(np.sum(w)) if w is not None else float(p.size)
            h = None if h is None else h / denom
            gs = tuple(gi / denom for gi in gs)
            return (total / denom if denom else float("nan")), (gs if multi else gs[0]), h

    return fn


class RefLoss:
    """Same verbs and keywords as fastloss.Loss, computed by NumPy in float64.

    ``inputs`` names the positional inputs beyond (pred, target) -- the
    reference function takes them as keywords -- and a loss with several
    differentiable inputs returns a tuple of gradients (``wrt`` selects, as
    in fastloss)."""

    def __init__(self, name, fn, *, has_hess=False, inputs=(), wrt=None, one_input=False):
        self.name = name
        # a loss of one input: fn(x, reduction, sample_weight, **params)
        self.one_input = one_input
        self._fn = fn
        self.has_hess = has_hess
        self._extra = tuple(inputs)
        self.wrt = tuple(wrt) if wrt else None

    def _call(self, inputs, reduction, sample_weight, params):
        if self.one_input:
            return self._fn(inputs[0], reduction, sample_weight, **params)
        pred, target, *rest = inputs
        params = dict(params)
        params.update(zip(self._extra, rest))
        return self._fn(pred, target, reduction, sample_weight, **params)

    def _pick(self, g, wrt):
        if wrt is None or self.wrt is None:
            return g
        if isinstance(wrt, str):
            return g[self.wrt.index(wrt)]
        return tuple(g[self.wrt.index(n)] for n in sorted(wrt, key=self.wrt.index))

    def __call__(self, *inputs, reduction="mean", sample_weight=None, **params):
        return self._call(inputs, reduction, sample_weight, params)[0]

    def grad(self, *inputs, reduction="mean", sample_weight=None, wrt=None, **params):
        return self._pick(self._call(inputs, reduction, sample_weight, params)[1], wrt)

    def value_and_grad(self, *inputs, reduction="mean", sample_weight=None, wrt=None, **params):
        v, g, _ = self._call(inputs, reduction, sample_weight, params)
        return v, self._pick(g, wrt)

    def grad_hess(self, *inputs, reduction="mean", sample_weight=None, **params):
        if not self.has_hess:
            raise TypeError(f"{self.name} has no Hessian")
        _, g, h = self._call(inputs, reduction, sample_weight, params)
        return (g[0] if isinstance(g, tuple) else g), h

    def __repr__(self):
        return f"<fastloss.reference.{self.name}>"
