"""Reference regression losses (see fastloss.regression for the formulas)."""

from __future__ import annotations

import math

import numpy as np

from fastloss import regression as _family
from fastloss.reference._base import RefLoss, elementwise, weights_like

# the twins of fastloss.regression's losses, name for name
__all__ = list(_family.__all__)


def _mse(p, y):
    r = p - y
    return r * r, 2 * r, np.full_like(r, 2.0) + 0 * r


def _mae(p, y):
    r = p - y
    return np.abs(r), np.sign(r), 0 * r


def _huber(p, y, delta=1.0):
    r = p - y
    inside = np.abs(r) < delta
    l = np.where(inside, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    g = np.where(inside, r, delta * np.sign(r))
    h = np.where(inside, 1.0, 0.0) + 0 * r
    return l, g, h


def _smooth_l1(p, y, beta=1.0):
    r = p - y
    inside = np.abs(r) < beta
    l = np.where(inside, 0.5 * r * r / beta, np.abs(r) - 0.5 * beta)
    g = np.where(inside, r / beta, np.sign(r))
    return l, g, np.where(inside, 1.0 / beta, 0.0) + 0 * r


mse = RefLoss("mse", elementwise(_mse), has_hess=True)
mae = RefLoss("mae", elementwise(_mae), has_hess=True)
huber = RefLoss("huber", elementwise(_huber), has_hess=True)
smooth_l1 = RefLoss("smooth_l1", elementwise(_smooth_l1), has_hess=True)


def _log_cosh(p, y):
    r = p - y
    a = np.abs(r)
    # log cosh r = log1p(cosh r - 1) = log1p(2 sinh(r/2)^2): accurate near 0;
    # |r| + log1p(exp(-2|r|)) - log 2 beyond, where cosh would overflow.
    small = np.log1p(2.0 * np.sinh(0.5 * a) ** 2)
    big = a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)
    l = np.where(a < 1.0, small, big)
    t = np.tanh(r)
    h = 1.0 / np.cosh(np.minimum(a, 700.0)) ** 2  # sech^2; underflows to 0 far out
    return l, t, h + 0 * r


def _quantile(p, y, quantile=0.5):
    q = quantile
    d = y - p
    l = np.maximum(q * d, (q - 1.0) * d)
    g = np.where(d >= 0, -q, 1.0 - q) + 0 * d
    return l, g, 0 * d


def _mape(p, y):
    den = np.maximum(np.abs(y), np.finfo(np.float64).eps)
    r = p - y
    return np.abs(r) / den, np.sign(r) / den, 0 * r


def _msle(p, y):
    d = np.log1p(p) - np.log1p(y)
    return d * d, 2.0 * d / (1.0 + p), 2.0 * (1.0 - d) / (1.0 + p) ** 2


def _poisson_nll(p, y, log_input=True, full=False, eps=1e-8):
    if log_input:
        l = np.exp(p) - y * p
        g = np.exp(p) - y
        h = np.exp(p)
    else:
        l = p - y * np.log(p + eps)
        g = 1.0 - y / (p + eps)
        h = y / (p + eps) ** 2
    if full:
        ys = np.where(y > 1, y, 1.0)
        stirling = ys * np.log(ys) - ys + 0.5 * np.log(2 * np.pi * ys)
        l = l + np.where(y > 1, stirling, 0.0)
    return l, g, h


def _var_like(var, shape):
    v = np.asarray(var, dtype=np.float64)
    if v.shape != tuple(shape) and v.ndim >= 1 and v.shape == tuple(shape[:-1]):
        v = v[..., None]
    return np.broadcast_to(v, shape)


def _gaussian_nll_elem(p, y, var=None, full=False, eps=1e-6):
    v = np.maximum(_var_like(var, p.shape), eps)
    r = p - y
    l = 0.5 * (np.log(v) + r**2 / v)
    if full:
        l = l + 0.5 * np.log(2 * np.pi)
    # d/dvar: the clamp passes the gradient unchanged (torch clamps under no_grad)
    return l, (r / v, 0.5 * (1.0 / v - (r / v) ** 2)), 1.0 / v + 0 * r


def _gaussian_nll(pred, target, reduction, sample_weight, var=None, **params):
    if var is None:
        raise TypeError("gaussian_nll: var is required")
    v, (gp, gv), h = elementwise(_gaussian_nll_elem)(
        pred, target, reduction, sample_weight, var=var, **params
    )
    var = np.asarray(var, dtype=np.float64)
    p = np.asarray(pred)
    vs = (
        var[..., None]
        if (var.shape != p.shape and var.ndim >= 1 and var.shape == p.shape[:-1])
        else var
    )
    # autograd's rule for a broadcast input: sum over the broadcast axes
    padded = (1,) * (gv.ndim - vs.ndim) + vs.shape
    axes = tuple(i for i in range(gv.ndim) if padded[i] == 1 and gv.shape[i] != 1)
    gv = np.sum(gv, axis=axes, keepdims=True).reshape(var.shape) if axes else gv.reshape(var.shape)
    return v, (gp, gv), h


def _pseudo_huber(p, y, delta=1.0):
    # the kernel's overflow-free form: k = min(u, 1/u), t = sqrt(1 + k^2)
    r = p - y
    u = np.abs(r) / delta
    big = u > 1
    k = np.where(big, 1.0 / u, u)
    t = np.sqrt(1.0 + k * k)
    l = np.where(big, delta * delta * u / (t + k), delta * delta * (k * k / (t + 1.0)))
    g = np.where(big, delta * np.sign(r) / t, r / t)
    s = np.where(big, u * t, t)
    return l, g, 1.0 / (s * s * s)


def _tweedie_mean(mu, y, power):
    """Deviance, d/dmu and d2/dmu2 (scikit-learn's unit deviance, factor 2)."""
    p = power
    if p == 0:
        dev = (y - mu) ** 2
    elif p == 1:
        ylog = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
        dev = 2 * (ylog - y + mu) + 0 * y
    elif p == 2:
        dev = 2 * (np.log(mu / y) + y / mu - 1)
    else:
        yp = np.where(y > 0, y, 0.0) ** (2 - p) if p < 0 else y ** (2 - p)
        dev = 2 * (yp / ((1 - p) * (2 - p)) - y * mu ** (1 - p) / (1 - p) + mu ** (2 - p) / (2 - p))
    d1 = 2 * (mu - y) * mu ** (-p)
    d2 = 2 * (p * y + (1 - p) * mu) * mu ** (-p - 1)
    return dev, d1, d2


def _tweedie_at_inf(mu, y, power, dev, d1, d2):
    """The limits at mu = +inf, where the formulas meet inf - inf or inf * 0:
    the deviance is +inf for p <= 2 and 2 y^(2-p) / ((1-p)(2-p)) for p > 2;
    d/dmu = 2 (mu^(1-p) - y mu^-p) is 0 for p > 1, 2 at p = 1, +inf for
    p < 1; d2/dmu2 = 2 (p y mu^(-p-1) + (1-p) mu^-p) is 0 for p > 0 and
    +inf for p < 0. A NaN or infinite y keeps NaN (y - y). (p = 0, (y -
    mu)^2, has no such term.)"""
    p = power
    at = np.isposinf(mu)
    if p == 0 or not np.any(at):
        return dev, d1, d2
    nan_y = y - y  # 0, or NaN for a NaN or infinite y
    if p > 2:
        lim_dev = 2 * np.where(y > 0, y, 0.0) ** (2 - p) / ((1 - p) * (2 - p))
    else:
        lim_dev = np.inf
    lim_d1 = 0.0 if p > 1 else 2.0 if p == 1 else np.inf
    lim_d2 = 0.0 if p > 0 else np.inf
    dev = np.where(at, lim_dev + nan_y, dev)
    d1 = np.where(at, lim_d1 + nan_y, d1)
    d2 = np.where(at, lim_d2 + nan_y, d2)
    return dev, d1, d2


def _tweedie(s, y, power=1.5, link="identity"):
    if link == "identity":
        return _tweedie_at_inf(s, y, power, *_tweedie_mean(s, y, power))
    mu = np.exp(s)  # chain rule: dmu/ds = d2mu/ds2 = mu
    dev, d1, d2 = _tweedie_mean(mu, y, power)
    return dev, d1 * mu, d2 * mu * mu + d1 * mu


def _rmse(pred, target, reduction, sample_weight):
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    w = weights_like(sample_weight, p.shape)
    w = np.ones_like(p) if w is None else w
    r = p - y
    sq = w * r * r
    W = float(np.sum(w))
    with np.errstate(all="ignore"):
        m = float(np.sum(sq)) / W if W else float("nan")
        # a negative mean (negative weights) has no root: NaN, as fastloss's
        root = math.sqrt(m) if m >= 0 else float("nan")
        if reduction == "sum" and p.size == 0:
            return 0.0, np.zeros_like(r), None
        # d sqrt(sum(w r^2) / W) / dp = w r / (W sqrt(...)); 0 at a zero RMSE
        g_mean = np.zeros_like(r) if root == 0 else w * r / (W * root)
        if reduction == "mean":
            return root, g_mean, None
        if reduction == "sum":
            return W * root, W * g_mean, None
        shares = np.zeros_like(sq) if root == 0 else sq / root
        return shares, W * g_mean, None


log_cosh = RefLoss("log_cosh", elementwise(_log_cosh), has_hess=True)
quantile = RefLoss("quantile", elementwise(_quantile), has_hess=True)
mape = RefLoss("mape", elementwise(_mape), has_hess=True)
msle = RefLoss("msle", elementwise(_msle), has_hess=True)
rmse = RefLoss("rmse", _rmse)
poisson_nll = RefLoss("poisson_nll", elementwise(_poisson_nll), has_hess=True)
gaussian_nll = RefLoss(
    "gaussian_nll", _gaussian_nll, inputs=("var",), wrt=("pred", "var"), has_hess=True
)
pseudo_huber = RefLoss("pseudo_huber", elementwise(_pseudo_huber), has_hess=True)
tweedie = RefLoss("tweedie", elementwise(_tweedie), has_hess=True)
