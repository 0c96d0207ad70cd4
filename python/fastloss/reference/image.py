"""NumPy references of the image losses (float64, plain formulas).

SSIM on the valid region of a separable Gaussian blur, its gradient by the
chain rule through the blurs written out (the adjoint of a valid blur is a
full one with the flipped window), and MS-SSIM on pytorch_msssim's pyramid
(avg_pool2d, kernel 2, padding ``s % 2``, zeros counted). The perceptual
loss on lists of feature maps, its formula written out per layer.
"""

from __future__ import annotations

import numpy as np

from fastloss import image as _family
from fastloss.reference._base import RefLoss, reduce_factor

# the twins of fastloss.image's losses, name for name
__all__ = list(_family.__all__)

_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _window(win_size, sigma):
    x = np.arange(win_size, dtype=np.float64) - win_size // 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _constants(k1, k2, data_range):
    """(k1 R)^2 and (k2 R)^2 in float64: inf where they overflow (a Python
    float's ** raises OverflowError there)."""
    with np.errstate(over="ignore"):
        return np.float64(k1 * data_range) ** 2, np.float64(k2 * data_range) ** 2


def _blur(a, g):
    """Valid separable blur of (..., H, W): rows, then columns."""
    k = g.size
    Wo, Ho = a.shape[-1] - k + 1, a.shape[-2] - k + 1
    h = sum(g[j] * a[..., :, j : j + Wo] for j in range(k))
    return sum(g[j] * h[..., j : j + Ho, :] for j in range(k))


def _blur_adjoint(G, g, H, W):
    k = g.size
    Ho, Wo = G.shape[-2], G.shape[-1]
    t = np.zeros(G.shape[:-2] + (H, Wo))
    for j in range(k):
        t[..., j : j + Ho, :] += g[j] * G
    out = np.zeros(G.shape[:-2] + (H, W))
    for j in range(k):
        out[..., :, j : j + Wo] += g[j] * t
    return out


def _level(X, Y, g, C1, C2, a_s, a_c):
    """Per-(image, channel) mean SSIM and mean CS, and d/dX of
    a_s mean(S) + a_c mean(CS) (a_s, a_c of shape (N, C); None: no gradient)."""
    mx, my = _blur(X, g), _blur(Y, g)
    exx, eyy, exy = _blur(X * X, g), _blur(Y * Y, g), _blur(X * Y, g)
    B1 = mx * mx + my * my + C1
    L = (2 * mx * my + C1) / B1
    B2 = (exx - mx * mx) + (eyy - my * my) + C2
    CS = (2 * (exy - mx * my) + C2) / B2
    s_mean = (L * CS).mean(axis=(-2, -1))
    cs_mean = CS.mean(axis=(-2, -1))
    if a_s is None:
        return s_mean, cs_mean, None
    P = L.shape[-2] * L.shape[-1]
    a_s = (a_s / P)[..., None, None]
    a_c = (a_c / P)[..., None, None]
    u = 2 * (a_s * L + a_c) / B2
    G1 = a_s * CS * 2 * (my - L * mx) / B1 + u * (CS * mx - my)
    G2 = -u * CS / 2
    H, W = X.shape[-2:]
    gX = (
        _blur_adjoint(G1, g, H, W)
        + 2 * X * _blur_adjoint(G2, g, H, W)
        + Y * _blur_adjoint(u, g, H, W)
    )
    return s_mean, cs_mean, gX


def _ssim(
    pred, target, reduction, sample_weight, data_range=1.0, win_size=11, sigma=1.5, k1=0.01, k2=0.03
):
    X = np.asarray(pred, dtype=np.float64)
    Y = np.asarray(target, dtype=np.float64)
    g = _window(win_size, sigma)
    C1, C2 = _constants(k1, k2, data_range)
    N, C = X.shape[:2]
    s, _, _ = _level(X, Y, g, C1, C2, None, None)
    v, f = reduce_factor(1.0 - s.mean(axis=1), sample_weight, reduction)
    a = np.broadcast_to(-f[:, None] / C, (N, C))
    _, _, gX = _level(X, Y, g, C1, C2, a, np.zeros((N, C)))
    return v, gX, None


def _pool(a):
    ph, pw = a.shape[-2] % 2, a.shape[-1] % 2
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(ph, ph), (pw, pw)])
    H2, W2 = p.shape[-2] // 2, p.shape[-1] // 2
    p = p[..., : 2 * H2, : 2 * W2]
    return (p[..., 0::2, 0::2] + p[..., 0::2, 1::2] + p[..., 1::2, 0::2] + p[..., 1::2, 1::2]) / 4


def _pool_adjoint(gb, H, W):
    ph, pw = H % 2, W % 2
    r = (np.arange(H) + ph) // 2
    c = (np.arange(W) + pw) // 2
    return gb[..., r[:, None], c[None, :]] / 4


def _ms_ssim(
    pred,
    target,
    reduction,
    sample_weight,
    data_range=1.0,
    win_size=11,
    sigma=1.5,
    k1=0.01,
    k2=0.03,
    weights=_MS_WEIGHTS,
):
    X = np.asarray(pred, dtype=np.float64)
    Y = np.asarray(target, dtype=np.float64)
    g = _window(win_size, sigma)
    C1, C2 = _constants(k1, k2, data_range)
    w = np.asarray(weights, dtype=np.float64)
    n_lev = w.size
    xs, ys, raw = [X], [Y], []
    for lev in range(n_lev):
        if lev:
            xs.append(_pool(xs[-1]))
            ys.append(_pool(ys[-1]))
        s, cs, _ = _level(xs[lev], ys[lev], g, C1, C2, None, None)
        raw.append(cs if lev + 1 < n_lev else s)
    raw = np.stack(raw)  # (levels, N, C)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.maximum(raw, 0.0) ** w[:, None, None]
        prod = f.prod(axis=0)
    N, C = X.shape[:2]
    v, fac = reduce_factor(1.0 - prod.mean(axis=1), sample_weight, reduction)
    scale = (
        -np.broadcast_to(np.asarray(fac, dtype=np.float64), (N,))[:, None] / C
    )  # a scalar weight: one factor
    gl = None
    for lev in range(n_lev - 1, -1, -1):
        others = np.prod(np.delete(f, lev, axis=0), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(raw[lev] <= 0, 0.0, w[lev] * np.maximum(raw[lev], 0) ** (w[lev] - 1))
        a = scale * d * others
        last = lev + 1 == n_lev
        zero = np.zeros_like(a)
        _, _, own = _level(xs[lev], ys[lev], g, C1, C2, a if last else zero, zero if last else a)
        if gl is not None:
            own = own + _pool_adjoint(gl, *xs[lev].shape[-2:])
        gl = own
    return v, gl, None


ssim = RefLoss("ssim", _ssim)
ms_ssim = RefLoss("ms_ssim", _ms_ssim)


def _perceptual(pred_features, target_features, reduction, sample_weight, layer_weights=None, p=2):
    """sum_l w_l mean(|f_l - g_l|^p) and its per-layer gradients, in float64."""
    if sample_weight is not None:
        raise TypeError("sample_weight: not supported by perceptual")
    n = len(pred_features)
    w = [1.0] * n if layer_weights is None else [float(x) for x in layer_weights]
    values, grads = [], []
    with np.errstate(all="ignore"):
        for wl, f, g in zip(w, pred_features, target_features):
            r = np.asarray(f, dtype=np.float64) - np.asarray(g, dtype=np.float64)
            if p == 2:
                l, d = r * r, 2.0 * r
            elif p == 1:
                l, d = np.abs(r), np.sign(r)
            else:  # |r|^p, p |r|^(p-1) sign(r); 0 at r = 0 for every p
                a = np.abs(r)
                l = a**p
                d = np.where(r == 0, 0.0, p * a ** (p - 1) * np.sign(r))
            if reduction == "none":
                values.append(wl * l)
                grads.append(wl * d)
            elif reduction == "sum":
                values.append(wl * float(np.sum(l)))
                grads.append(wl * d)
            else:
                values.append(wl * (float(np.sum(l)) / r.size if r.size else float("nan")))
                grads.append(wl * d / r.size if r.size else d)
    value = values if reduction == "none" else float(sum(values))
    return value, grads, None


perceptual = RefLoss("perceptual", _perceptual)
