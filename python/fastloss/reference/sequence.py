"""NumPy references of the sequence losses (float64, plain formulas)."""

from __future__ import annotations

import numpy as np

from fastloss import sequence as _family
from fastloss.reference._base import RefLoss

# the twins of fastloss.sequence's losses, name for name
__all__ = list(_family.__all__)


def _lse3(a, b, c):
    m = np.maximum(np.maximum(a, b), c)
    m = np.where(np.isneginf(m), 0.0, m)
    return m + np.log(np.exp(a - m) + np.exp(b - m) + np.exp(c - m))


def _ctc(
    logits,
    targets,
    reduction,
    sample_weight,
    input_lengths,
    target_lengths,
    blank=0,
    zero_infinity=False,
    batch_first=False,
):
    """CTC by the forward-backward recursion over the whole batch at once
    (sequences padded to the longest; steps past a sequence's end leave its
    variables as they are)."""
    x = np.asarray(logits, dtype=np.float64)
    if not batch_first:
        x = x.transpose(1, 0, 2)  # (N, T, C)
    n, t_max, c = x.shape
    il = np.asarray(input_lengths, dtype=np.int64)
    tl = np.asarray(target_lengths, dtype=np.int64)
    tg = np.asarray(targets, dtype=np.int64)
    if tg.ndim == 1:  # concatenated: pad
        lm = int(tl.max()) if n else 0
        pad = np.full((n, lm), blank, dtype=np.int64)
        off = np.concatenate([[0], np.cumsum(tl)])
        for i in range(n):
            pad[i, : tl[i]] = tg[off[i] : off[i + 1]]
        tg = pad
    lm = int(tl.max()) if n else 0
    s_max = 2 * lm + 1
    sl = 2 * tl + 1
    ninf = -np.inf
    with np.errstate(all="ignore"):
        lse = np.log(np.sum(np.exp(x - x.max(-1, keepdims=True)), -1)) + x.max(-1)
        lp = x - lse[..., None]  # log_softmax, (N, T, C)
        ext = np.full((n, s_max), blank, dtype=np.int64)
        ext[:, 1::2] = np.where(np.arange(lm) < tl[:, None], tg[:, :lm], blank)
        s_idx = np.arange(s_max)
        valid = s_idx < sl[:, None]
        skip = np.zeros((n, s_max), dtype=bool)
        skip[:, 3::2] = ext[:, 3::2] != ext[:, 1:-2:2]
        smask = np.where(skip & valid, 0.0, ninf)
        E = np.take_along_axis(lp, np.broadcast_to(ext[:, None, :], (n, t_max, s_max)), axis=2)
        E = np.where(valid[:, None, :], E, ninf)

        def shift(a, k):  # a[s - k], -inf in front
            out = np.full_like(a, ninf)
            out[:, k:] = a[:, : a.shape[1] - k]
            return out

        def back(a, k):  # a[s + k], -inf behind
            out = np.full_like(a, ninf)
            out[:, : a.shape[1] - k] = a[:, k:]
            return out

        alpha = np.full((n, s_max), ninf)
        alpha[:, 0] = 0.0  # alpha_{-1}
        alphas = np.empty((t_max, n, s_max))
        for t in range(t_max):
            new = E[:, t] + _lse3(alpha, shift(alpha, 1), shift(alpha, 2) + smask)
            alpha = np.where((t < il)[:, None], new, alpha)
            alphas[t] = alpha
        rows = np.arange(n)
        last = alpha[rows, sl - 1]
        prev = np.where(sl >= 2, alpha[rows, np.maximum(sl - 2, 0)], ninf)
        nll = -np.logaddexp(last, prev)
        # backward: B holds E_t + beta'_t, first the virtual B_T
        B = np.where(s_idx == (sl - 1)[:, None], 0.0, ninf)
        mask2 = back(smask, 2)
        onehot = ext[:, :, None] == np.arange(c)  # (N, S, C)
        grad = np.zeros((n, t_max, c))
        for t in range(t_max - 1, -1, -1):
            bp = _lse3(B, back(B, 1), back(B, 2) + mask2)
            live = t < il
            post = np.exp(alphas[t] + bp + nll[:, None])
            post = np.where(valid, post, 0.0)
            acc = np.einsum("ns,nsc->nc", post, onehot)
            grad[:, t] = np.where(live[:, None], np.exp(lp[:, t]) - acc, 0.0)
            B = np.where(live[:, None], E[:, t] + bp, B)
        impossible = np.isposinf(nll)
        grad[impossible] = 0.0  # inf - inf: no gradient (torch: NaN)
        loss = np.where(impossible & bool(zero_infinity), 0.0, nll)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        ww = np.ones(n) if w is None else np.broadcast_to(w, (n,))
        if reduction == "none":
            value = loss * ww
            scale = ww
        elif reduction == "sum":
            value = float(np.sum(loss * ww))
            scale = ww
        else:
            per = 1.0 / np.maximum(tl, 1)
            denom = float(np.sum(ww)) if w is not None else float(n)
            value = float(np.sum(loss * per * ww)) / denom if denom else float("nan")
            scale = ww * per / denom
        grad = grad * scale[:, None, None]
        if not batch_first:
            grad = grad.transpose(1, 0, 2)
    return value, grad, None


ctc = RefLoss("ctc", _ctc, inputs=("input_lengths", "target_lengths"))
