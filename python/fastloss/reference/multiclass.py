"""Reference multiclass losses (see fastloss.multiclass for the formulas).

Plain NumPy in float64, class axis last. Each function returns
``(value, grad, None)``: the reduced value (or per-sample array for
``"none"``) and the gradient with respect to the scores.
"""

from __future__ import annotations

import numpy as np

from fastloss import multiclass as _family
from fastloss.reference._base import RefLoss, weights_like

# the twins of fastloss.multiclass's losses, name for name
__all__ = list(_family.__all__)


def _log_softmax(z):
    m = np.max(z, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    lse = m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    return z - lse


def _reduce(l, g, reduction, sample_weight, norm=None, h=None):
    """Weights, then the reduction. ``l``: per-sample losses; ``g``: their
    per-sample gradients (shape (..., C)); ``norm``: per-sample weight of
    the mean's denominator (default 1); ``h``: the diagonal Hessian, scaled
    as ``g`` (or None)."""
    w = weights_like(sample_weight, l.shape)
    if w is None:
        w = np.ones(l.shape)
    l = l * w
    g = g * w[..., None]
    h = None if h is None else h * w[..., None]
    if reduction == "none":
        return l, g, h
    total = float(np.sum(l))
    if reduction == "sum":
        return total, g, h
    n = np.ones(l.shape) if norm is None else norm
    denom = float(np.sum(w * n))
    h = None if h is None else h / denom
    return (total / denom if denom else float("nan")), g / denom, h


def _onehot(y, c):
    return (y[..., None] == np.arange(c)).astype(np.float64)


def _cross_entropy(
    pred,
    target,
    reduction,
    sample_weight,
    class_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
):
    z = np.asarray(pred, dtype=np.float64)
    c = z.shape[-1]
    t = np.asarray(target)
    cw = np.ones(c) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    eps = label_smoothing
    with np.errstate(all="ignore"):
        logp = _log_softmax(z)
        p = np.exp(logp)
        if t.dtype.kind == "f" and t.shape == z.shape:
            q = cw * (t.astype(np.float64) * (1 - eps) + eps / c)
            norm = None
        else:
            y = t.astype(np.int64)
            keep = y != ignore_index
            ys = np.where(keep, y, 0)
            onehot = _onehot(ys, c)
            q = (1 - eps) * cw[ys][..., None] * onehot + (eps / c) * cw
            q = q * keep[..., None]
            norm = cw[ys] * keep
        l = np.sum(np.where(q == 0, 0.0, -q * logp), axis=-1)
        s = np.sum(q, axis=-1, keepdims=True)
        g = s * p - q
        h = s * p * (1.0 - p)  # the diagonal of the Hessian
        return _reduce(l, g, reduction, sample_weight, norm, h)


def _multiclass_hinge(
    pred, target, reduction, sample_weight, margin=1.0, variant="crammer_singer", p=1
):
    s = np.asarray(pred, dtype=np.float64)
    c = s.shape[-1]
    y = np.asarray(target).astype(np.int64)
    onehot = _onehot(y, c).astype(bool)
    sy = np.take_along_axis(s, y[..., None], axis=-1)
    with np.errstate(all="ignore"):
        if variant == "weston_watkins":
            d = margin - sy + s
            active = (d > 0) & ~onehot
            dp = np.where(active, d, 0.0)
            if p == 2:
                l = np.sum(dp * dp, axis=-1) / c
                gj = 2.0 * dp / c
                g = gj - onehot * np.sum(gj, axis=-1, keepdims=True)
                hj = 2.0 * active / c
                h = hj + onehot * np.sum(hj, axis=-1, keepdims=True)
            else:
                l = np.sum(dp, axis=-1) / c
                g = active / c - onehot * (np.sum(active, axis=-1, keepdims=True) / c)
                h = 0.0 * g
        else:
            others = np.where(onehot, -np.inf, s)
            j = np.argmax(others, axis=-1)
            d = margin + np.max(others, axis=-1) - sy[..., 0]
            l = np.maximum(d, 0.0)
            on = (d > 0)[..., None]
            g = on * (_onehot(j, c) - onehot)
            if p == 2:
                h = 2.0 * np.abs(g)
                g = 2.0 * l[..., None] * g
                l = l * l
            else:
                h = 0.0 * g
        bad = np.any(np.isnan(s), axis=-1)
        l = np.where(bad, np.nan, l)
        g = np.where(bad[..., None], np.nan, g)
        h = np.where(bad[..., None], np.nan, h)
        return _reduce(l, g, reduction, sample_weight, h=h)


def _softmax_focal(pred, target, reduction, sample_weight, gamma=2.0, class_weight=None):
    z = np.asarray(pred, dtype=np.float64)
    c = z.shape[-1]
    y = np.asarray(target).astype(np.int64)
    cw = np.ones(c) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    onehot = _onehot(y, c)
    with np.errstate(all="ignore"):
        logp = _log_softmax(z)
        p = np.exp(logp)
        lpy = np.sum(logp * onehot, axis=-1)
        py = np.exp(lpy)
        u = np.sum(p * (1 - onehot), axis=-1)  # 1 - p_y without cancellation
        pw = u**gamma
        cwy = cw[y]
        l = -cwy * pw * lpy
        # d l / d z_k = cw_y (p_k - [k=y]) (u^gamma - gamma p_y u^(gamma-1) log p_y)
        b = np.where(u > 0, gamma * py * u ** (gamma - 1) * lpy, 0.0) if gamma else 0.0
        a = cwy * (pw - b)
        g = a[..., None] * (p - onehot)
        # diagonal Hessian: A = pw - b depends on z through p_y alone,
        # d p_y / d z_k = p_y ([k=y] - p_k):
        # H_kk = cw_y (A p_k (1 - p_k) - A'(p_y) p_y (p_k - [k=y])^2)
        if gamma:
            da = (
                -2.0 * gamma * u ** (gamma - 1)
                - gamma * u ** (gamma - 1) * lpy
                + gamma * (gamma - 1) * py * u ** (gamma - 2) * lpy
            )
        else:
            da = 0.0 * u
        h = cwy[..., None] * (
            (pw - b)[..., None] * p * (1 - p) - (da * py)[..., None] * (p - onehot) ** 2
        )
        return _reduce(l, g, reduction, sample_weight, cwy, h)


def _kl_div(pred, target, reduction, sample_weight, log_target=False):
    lp = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    with np.errstate(all="ignore"):
        if log_target:
            pt, logt = np.exp(t), t
        else:
            pt, logt = t, np.log(t)
        term = np.where((pt == 0) & ~np.isnan(lp), 0.0, pt * (logt - lp))
        l = np.sum(term, axis=-1)
        g = np.where(np.isnan(lp), np.nan, -pt)
        return _reduce(l, g, reduction, sample_weight, h=0.0 * g)  # linear in log_pred


def _brier(pred, target, reduction, sample_weight):
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target)
    if t.shape == p.shape:  # binary, element-wise: rows of one class
        d = p - t.astype(np.float64)
        h = (2.0 + 0.0 * d)[..., None]
        v, g, h = _reduce(d * d, (2 * d)[..., None], reduction, sample_weight, h=h)
        return v, g[..., 0], h[..., 0]
    d = p - _onehot(t.astype(np.int64), p.shape[-1])
    return _reduce(np.sum(d * d, axis=-1), 2 * d, reduction, sample_weight, h=2.0 + 0.0 * d)


def _categorical_hinge(pred, target, reduction, sample_weight):
    s = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    c = s.shape[-1]
    with np.errstate(all="ignore"):
        pos = np.sum(t * s, axis=-1)
        negs = (1 - t) * s
        k = np.argmax(negs, axis=-1)
        d = np.max(negs, axis=-1) - pos + 1
        l = np.maximum(d, 0.0)
        on = (d > 0)[..., None]
        kk = _onehot(k, c)
        g = on * (kk * (1 - t) - t)
        bad = np.isnan(d) | np.any(np.isnan(s), axis=-1)
        l = np.where(bad, np.nan, l)
        g = np.where(bad[..., None], np.nan, g)
        return _reduce(l, g, reduction, sample_weight, h=0.0 * g)  # piecewise linear


def _nll(pred, target, reduction, sample_weight, class_weight=None, ignore_index=-100):
    z = np.asarray(pred, dtype=np.float64)
    c = z.shape[-1]
    y = np.asarray(target).astype(np.int64)
    cw = np.ones(c) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    keep = y != ignore_index
    ys = np.where(keep, y, 0)
    q = _onehot(ys, c) * (cw[ys] * keep)[..., None]
    with np.errstate(all="ignore"):
        # the label's entry alone (not sum(q * z): 0 * inf = NaN would let an
        # infinity elsewhere in the row reach the loss, which torch does not)
        zy = np.take_along_axis(z, ys[..., None], axis=-1)[..., 0]
        l = np.where(keep, -cw[ys] * zy, 0.0)
        g = -q
        bad = np.any(np.isnan(z), axis=-1) & keep
        l = np.where(bad, np.nan, l)
        g = np.where(bad[..., None], np.nan, g)
        return _reduce(l, g, reduction, sample_weight, cw[ys] * keep, h=0.0 * g)  # linear


def _multilabel_soft_margin(pred, target, reduction, sample_weight, class_weight=None):
    z = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    c = z.shape[-1]
    cw = np.ones(c) if class_weight is None else np.asarray(class_weight, dtype=np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(z))
        sp = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))  # sigmoid(z)
        sm = np.where(z >= 0, e / (1.0 + e), 1.0 / (1.0 + e))  # sigmoid(-z)
        bce = t * np.logaddexp(0.0, -z) + (1.0 - t) * np.logaddexp(0.0, z)
        l = np.sum(cw * bce, axis=-1) / c
        g = cw * ((1.0 - t) * sp - t * sm) / c
        h = cw * sp * sm / c
        return _reduce(l, g, reduction, sample_weight, h=h)


def _multilabel_margin(pred, target, reduction, sample_weight):
    s = np.asarray(pred, dtype=np.float64)
    c = s.shape[-1]
    t = np.asarray(target).astype(np.int64).reshape(-1, c)
    flat = s.reshape(-1, c)
    l = np.zeros(flat.shape[0])
    g = np.zeros(flat.shape)
    for r in range(flat.shape[0]):  # the loops of ATen's multilabel_margin_loss
        listed = []
        for j in t[r]:
            if j < 0:
                break
            listed.append(int(j))
        others = np.ones(c, bool)
        others[listed] = False
        for j in listed:
            d = 1.0 - flat[r, j] + flat[r]
            on = others & (d > 0)
            l[r] += np.sum(d[on])
            g[r, on] += 1.0
            g[r, j] -= np.sum(on)
        if np.isnan(flat[r]).any():
            l[r], g[r] = np.nan, np.nan
    l, g = l.reshape(s.shape[:-1]) / c, g.reshape(s.shape) / c
    return _reduce(l, g, reduction, sample_weight, h=0.0 * g)  # piecewise linear


cross_entropy = RefLoss("cross_entropy", _cross_entropy, has_hess=True)
multiclass_hinge = RefLoss("multiclass_hinge", _multiclass_hinge, has_hess=True)
softmax_focal = RefLoss("softmax_focal", _softmax_focal, has_hess=True)
kl_div = RefLoss("kl_div", _kl_div, has_hess=True)
brier = RefLoss("brier", _brier, has_hess=True)
categorical_hinge = RefLoss("categorical_hinge", _categorical_hinge, has_hess=True)
nll = RefLoss("nll", _nll, has_hess=True)
multilabel_soft_margin = RefLoss("multilabel_soft_margin", _multilabel_soft_margin, has_hess=True)
multilabel_margin = RefLoss("multilabel_margin", _multilabel_margin, has_hess=True)
