"""NumPy references of the pairwise losses (float64, the whole N x N matrix:
plain formulas, for small inputs)."""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss, reduce_factor

__all__ = ["ntxent", "clip"]

_EPS = 1e-12  # torch.nn.functional.normalize's


def _unit(x):
    n = np.sqrt(np.sum(x * x, axis=1, keepdims=True))
    den = np.where(np.isnan(n), n, np.maximum(n, _EPS))
    return x / den, den, n


def _unit_back(g, x, den, n):
    # d(x / max(||x||, eps)): the clamp passes no gradient below eps
    u = x / den
    chained = (g - u * np.sum(u * g, axis=1, keepdims=True)) / den
    return np.where(n < _EPS, g / den, chained)


def _ce(S, pos):
    """Each row's cross-entropy against its column ``pos`` (``-inf`` entries
    excluded): ``(loss, P, q)``, ``P`` the row's softmax with the positive's
    entry 0 and ``q = 1 - P[pos]``.

    The positive's term is kept apart: with ``M`` the row's maximum, ``loss =
    (M - S_pos) + log(e^(S_pos - M) + r)``, ``r`` the negatives' sum, which is
    ``log1p(r)`` where the positive is the maximum, and ``q = r / sigma``:
    neither cancels near a zero loss, where ``lse - S_pos`` and ``1 - P``
    lose the digits of the loss to the log-sum-exp's size (6e-10 relative at
    a loss of 1e-7 against mpmath, where the kernel, which keeps them apart
    too, had 7e-16; tests/test_pairwise.py)."""
    idx = np.arange(S.shape[0])
    sp = S[idx, pos]
    neg = S.copy()
    neg[idx, pos] = -np.inf
    M = np.maximum(sp, np.max(neg, axis=1, initial=-np.inf))
    M = np.where(np.isfinite(M), M, 0.0)
    en = np.exp(neg - M[:, None])
    r = np.sum(en, axis=1)
    ep = np.exp(sp - M)
    sigma = ep + r
    loss = np.where(M == sp, np.log1p(r), (M - sp) + np.log(sigma))
    return loss, en / sigma[:, None], r / sigma


def _ntxent(z1, z2, reduction, sample_weight, temperature=0.5):
    z1 = np.asarray(z1, np.float64)
    z2 = np.asarray(z2, np.float64)
    n = z1.shape[0]
    if n == 0:  # no anchors: NaN mean, 0 sum, empty none (as fastloss)
        value, _ = reduce_factor(np.zeros(0), sample_weight, reduction)
        return value, (np.zeros_like(z1), np.zeros_like(z2)), None
    with np.errstate(all="ignore"):
        x = np.concatenate([z1, z2])
        u, den, nrm = _unit(x)
        S = u @ u.T / temperature
        idx = np.arange(2 * n)
        pos = (idx + n) % (2 * n)
        Sm = S.copy()
        Sm[idx, idx] = -np.inf
        l, P, q = _ce(Sm, pos)
        value, c = reduce_factor(l, sample_weight, reduction)
        G = c[:, None] * P
        G[idx, pos] = -c * q  # c (P_pos - 1)
        gu = (G + G.T) @ u / temperature
        gx = _unit_back(gu, x, den, nrm)
    return value, (gx[:n], gx[n:]), None


def _clip(image_emb, text_emb, reduction, sample_weight, logit_scale=1 / 0.07):
    a = np.asarray(image_emb, np.float64)
    b = np.asarray(text_emb, np.float64)
    s_in = np.asarray(logit_scale, np.float64)
    s = float(s_in.reshape(-1)[0])
    n = a.shape[0]
    with np.errstate(all="ignore"):
        u, du, nu = _unit(a)
        v, dv, nv = _unit(b)
        C = u @ v.T
        S = s * C
        idx = np.arange(n)
        lr, Pr, qr = _ce(S, idx)  # rows: image to text
        lc, Pc, qc = _ce(S.T, idx)  # columns: text to image
        l = (lr + lc) / 2
        value, c = reduce_factor(l, sample_weight, reduction)
        h = c / 2
        G = h[:, None] * Pr + (h[:, None] * Pc).T
        G[idx, idx] = -h * (qr + qc)  # h (P_ii - 1) + h (P'_ii - 1)
        gu = s * G @ v
        gv = s * G.T @ u
        gs = np.sum(G * C)
    ga = _unit_back(gu, a, du, nu)
    gb = _unit_back(gv, b, dv, nv)
    return value, (ga, gb, np.full(s_in.shape, gs)), None


ntxent = RefLoss("ntxent", _ntxent, wrt=("z1", "z2"))
clip = RefLoss("clip", _clip, inputs=("logit_scale",), wrt=("image_emb", "text_emb", "logit_scale"))
