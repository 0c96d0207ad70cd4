"""NumPy references of the auxiliary and regularization losses (float64)."""

from __future__ import annotations

import numpy as np

from fastloss import regularization as _family
from fastloss.reference._base import RefLoss, weights_like

# the twins of fastloss.regularization's losses, name for name
__all__ = list(_family.__all__)


def _reduce(l, g, w, reduction, bshape=None):
    """Reduce per-sample losses l; g is the gradient of each sample's loss
    (broadcast by bshape: the per-sample factor's shape against g)."""
    if w is not None:
        l = l * w
        g = g * (w if bshape is None else w.reshape(bshape))
    if reduction == "none":
        return l, g
    if reduction == "sum":
        return float(np.sum(l)), g
    denom = float(np.sum(w)) if w is not None else float(np.size(l))
    return (float(np.sum(l)) / denom if denom else float("nan")), g / denom


def _penalty(a_of):
    def fn(w, reduction, sample_weight, **params):
        a, b = a_of(params)
        x = np.asarray(w, dtype=np.float64)
        l = (a * np.abs(x) if a else 0.0) + (b * 0.5 * x * x if b else 0.0)
        g = (a * np.sign(x) if a else 0.0) + (b * x if b else 0.0)
        l, g = np.broadcast_to(l, x.shape), np.broadcast_to(g, x.shape)
        return (*_reduce(l, g, weights_like(sample_weight, x.shape), reduction), None)

    return fn


def _softmax_rows(z_loss):
    def fn(logits, reduction, sample_weight):
        z = np.asarray(logits, dtype=np.float64)
        with np.errstate(all="ignore"):
            m = np.max(z, axis=-1, keepdims=True)
            lse = m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
            if z_loss:  # torch.logsumexp's lse of a row whose max is +-inf
                lse = np.where(np.isinf(m), m, lse)
            lp = z - lse
            p = np.exp(lp)
            if z_loss:
                l = lse[..., 0] ** 2
                g = 2 * lse * p
            else:
                terms = np.where(p == 0, 0.0, -p * lp)
                h = np.sum(terms, axis=-1, keepdims=True)
                l = h[..., 0]
                g = np.where(p == 0, 0.0, -p * (lp + h))
        w = weights_like(sample_weight, l.shape)
        return (*_reduce(l, g, w, reduction, None if w is None else w.shape + (1,)), None)

    return fn


def _center(features, labels, reduction, sample_weight, centers):
    x = np.asarray(features, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    d = x - c[y]
    l = 0.5 * np.sum(d * d, axis=1)
    w = weights_like(sample_weight, l.shape)
    v, gx = _reduce(l, d, w, reduction, None if w is None else (-1, 1))
    gc = np.zeros_like(c)
    np.add.at(gc, y, -gx)
    return v, (gx, gc), None


def _single(v, g, sample_weight, reduction):
    """One value per call, times a scalar weight's factor (w / w for a mean)."""
    f = 1.0
    if sample_weight is not None:
        # a NumPy scalar, not a float: w / w of a zero weight is NaN, not ZeroDivisionError
        w = np.float64(np.asarray(sample_weight, dtype=np.float64))
        with np.errstate(all="ignore"):
            f = w / w if reduction == "mean" else w
    v, g = v * f, g * f
    return (np.array(v) if reduction == "none" else v), g, None


def _orthogonality(W, reduction, sample_weight):
    W = np.asarray(W, dtype=np.float64)
    r, c = W.shape
    if r <= c:
        M = W @ W.T - np.eye(r)
        g = 4 * M @ W
    else:
        M = W.T @ W - np.eye(c)
        g = 4 * W @ M
    return _single(float(np.sum(M * M)), g, sample_weight, reduction)


def _kl_sparsity(activations, reduction, sample_weight, rho=0.05):
    a = np.asarray(activations, dtype=np.float64)
    n = a.shape[0]
    with np.errstate(all="ignore"):
        q = np.mean(a, axis=0)
        l = rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))
        d = (-rho / q + (1 - rho) / (1 - q)) / n
    g = np.broadcast_to(d, a.shape)
    return (*_reduce(l, g, weights_like(sample_weight, l.shape), reduction), None)


def _moe(router_probs, expert_index, reduction, sample_weight):
    p = np.asarray(router_probs, dtype=np.float64)
    n, e = p.shape
    idx = np.asarray(expert_index, dtype=np.int64)
    # (N,) or (N, k); no tokens: reshape(0, -1) cannot infer k
    idx = idx.reshape(n, idx.size // n if n else 1)
    with np.errstate(all="ignore"):  # no tokens: 0 / 0, the mean over none is NaN
        f = np.bincount(idx.ravel(), minlength=e) / n
        v = float(e * np.sum(f * p.mean(axis=0)))
    with np.errstate(invalid="ignore"):
        g = np.broadcast_to(e * f / n, p.shape) + (p - p)  # NaN propagates
    return _single(v, g, sample_weight, reduction)


l1_penalty = RefLoss("l1_penalty", _penalty(lambda p: (1.0, 0.0)), one_input=True)
l2_penalty = RefLoss("l2_penalty", _penalty(lambda p: (0.0, 1.0)), one_input=True)
elastic_net = RefLoss(
    "elastic_net",
    _penalty(lambda p: (p.get("l1_ratio", 0.5), 1 - p.get("l1_ratio", 0.5))),
    one_input=True,
)
entropy = RefLoss("entropy", _softmax_rows(False), one_input=True)
router_z_loss = RefLoss("router_z_loss", _softmax_rows(True), one_input=True)
center = RefLoss("center", _center, inputs=("centers",), wrt=("features", "centers"))
orthogonality = RefLoss("orthogonality", _orthogonality, one_input=True)
kl_sparsity = RefLoss("kl_sparsity", _kl_sparsity, one_input=True)
moe_load_balancing = RefLoss("moe_load_balancing", _moe)
