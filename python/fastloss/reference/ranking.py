"""NumPy references of the ranking losses (float64, plain formulas).

Written from rax's definitions (rax/_src/losses.py, lambdaweights.py,
t12n.py, metrics.py), one list per row, with the whole
``(n_lists, list_size, list_size)`` pair arrays a reference can afford, and
rax's reduce_fn=jnp.mean over the whole batch: the sum over the lists
divided by the number of valid pairs (pairwise losses) or of lists with a
valid item (listwise ones), each list's count weighted by its weight; 0
where there is none (rax's safe_reduce).
"""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss, weights_like

__all__ = ["pairwise_logistic", "pairwise_hinge", "listnet", "approx_ndcg", "lambda_rank"]


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _lists(pred, target, mask):
    s = np.asarray(pred, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    L = s.shape[-1]
    v = np.ones(s.shape, bool) if mask is None else np.asarray(mask) != 0
    return s.reshape(-1, L), y.reshape(-1, L), v.reshape(-1, L), s.shape


def _reduce(values, grads, counts, shape, reduction, sample_weight):
    lead = shape[:-1]
    lv, g, c = values.reshape(lead), grads.reshape(shape), counts.reshape(lead)
    w = weights_like(sample_weight, lead)
    if w is not None:
        lv, g, c = lv * w, g * w[..., None], c * w
    if reduction == "none":
        return lv, g, None
    total = float(np.sum(lv))
    if reduction == "sum":
        return total, g, None
    if lv.size == 0:  # no list: the mean of nothing
        return float("nan"), g, None
    if not np.any(counts):  # no valid pair (or list): rax's safe_reduce
        return 0.0, np.zeros_like(g), None
    denom = float(np.sum(c))
    return (total / denom if denom else float("nan")), g / denom, None


def _any_valid(v):
    """1 for a list with a valid item: what rax's listwise mean counts."""
    return np.any(v, axis=-1).astype(np.float64)


def _gains_ideal(y, v):
    """2^y - 1 on valid items (0 elsewhere) and the ideal DCG (0 -> 1)."""
    gain = np.where(v, 2.0**y - 1.0, 0.0)
    # valid gains first, decreasing, masked ones after them as 0: an
    # infinite (+inf label) or NaN gain stays in the ideal DCG and makes the
    # NDCG NaN, as rax's
    order = np.lexsort((-gain, ~v), axis=-1)
    srt = np.take_along_axis(gain, order, axis=-1)
    disc = 1.0 / np.log2(np.arange(y.shape[-1]) + 2.0)
    ideal = np.sum(srt * disc, axis=-1)
    return gain, np.where(ideal == 0.0, 1.0, ideal)


def _pairwise(kind):
    def fn(pred, target, reduction, sample_weight, mask=None):
        s, y, v, shape = _lists(pred, target, mask)
        L = s.shape[-1]
        with np.errstate(all="ignore"):
            d = s[:, :, None] - s[:, None, :]  # s_i - s_j
            pair = (y[:, :, None] > y[:, None, :]) & v[:, :, None] & v[:, None, :]
            if kind == "hinge":
                h = 1.0 - d
                t = np.maximum(h, 0.0)
                dd = np.where(np.isnan(h), h, np.where(h > 0, -1.0, 0.0))
            else:
                t = np.logaddexp(0.0, -d)
                dd = -_sigmoid(-d)
            if kind == "lambda":
                gain, ideal = _gains_ideal(y, v)
                gn = gain / ideal[:, None]
                j_lt_k = np.arange(L)[:, None] < np.arange(L)[None, :]  # [j, k]: j < k
                before = (s[:, :, None] > s[:, None, :]) | (
                    (s[:, :, None] == s[:, None, :]) & j_lt_k
                )  # [r, j, k]: j ranks before k
                rank = 1 + np.sum(before & v[:, :, None], axis=1)
                disc = np.where(v, 1.0 / np.log2(1.0 + rank), 0.0)
                lam = (
                    np.abs(gn[:, :, None] - gn[:, None, :])
                    * np.abs(disc[:, :, None] - disc[:, None, :])
                    * L
                )
                t, dd = t * lam, dd * lam
            t = np.where(pair, t, 0.0)
            dd = np.where(pair, dd, 0.0)
            cnt = pair.sum(axis=(1, 2)).astype(np.float64)
            values = t.sum(axis=(1, 2))  # the list's pair sum
            grads = dd.sum(axis=2) - dd.sum(axis=1)
            return _reduce(values, grads, cnt, shape, reduction, sample_weight)

    return fn


def _listnet(pred, target, reduction, sample_weight, mask=None):
    s, y, v, shape = _lists(pred, target, mask)
    if np.any(v & (y < 0)):
        raise ValueError("labels: listnet takes labels >= 0")
    with np.errstate(all="ignore"):
        ysum = np.sum(np.where(v, y, 0.0), axis=-1)
        p = np.where(v, y, 0.0) / np.where(ysum == 0, 1.0, ysum)[:, None]
        mx = np.max(np.where(v, s, -np.inf), axis=-1)
        mx = np.where(np.any(v & np.isnan(s), axis=-1), np.nan, mx)
        e = np.where(v, np.exp(s - mx[:, None]), 0.0)
        z = e.sum(axis=-1)
        lse = mx + np.log(z)
        values = np.sum(np.where(v, p * (lse[:, None] - s), 0.0), axis=-1)
        grads = np.where(v, e / z[:, None] - p, 0.0)
        zero = ysum == 0
        values = np.where(zero, 0.0, values)
        grads = np.where(zero[:, None], 0.0, grads)
    return _reduce(values, grads, _any_valid(v), shape, reduction, sample_weight)


def _approx_ndcg(pred, target, reduction, sample_weight, mask=None, temperature=1.0):
    s, y, v, shape = _lists(pred, target, mask)
    L = s.shape[-1]
    with np.errstate(all="ignore"):
        gain, ideal = _gains_ideal(y, v)
        x = (s[:, None, :] - s[:, :, None]) / temperature  # [r, i, j]: (s_j - s_i) / t
        pm = v[:, :, None] & v[:, None, :] & ~np.eye(L, dtype=bool)
        sig = _sigmoid(x)
        rhat = 1.0 + np.sum(np.where(pm, sig, 0.0), axis=-1)
        dcg = np.sum(np.where(v, gain / np.log2(1.0 + rhat), 0.0), axis=-1)
        values = -dcg / ideal
        lr = np.log1p(rhat)
        a = np.where(v, gain * np.log(2.0) / ((1.0 + rhat) * lr * lr) / ideal[:, None], 0.0)
        # sigmoid'(x) = e / (1 + e)^2, e = exp(-|x|): sig * (1 - sig) loses
        # the digits of 1 - sig where sig is near 1 (small temperatures)
        e = np.exp(-np.abs(x))
        sp = np.where(pm, e / (1.0 + e) ** 2, 0.0)  # [r, k, j]
        grads = np.sum(sp * (a[:, None, :] - a[:, :, None]), axis=-1) / temperature
        grads = np.where(v, grads, 0.0)
    return _reduce(values, grads, _any_valid(v), shape, reduction, sample_weight)


pairwise_logistic = RefLoss("pairwise_logistic", _pairwise("logistic"), inputs=("mask",))
pairwise_hinge = RefLoss("pairwise_hinge", _pairwise("hinge"), inputs=("mask",))
lambda_rank = RefLoss("lambda_rank", _pairwise("lambda"), inputs=("mask",))
listnet = RefLoss("listnet", _listnet, inputs=("mask",))
approx_ndcg = RefLoss("approx_ndcg", _approx_ndcg, inputs=("mask",))
