"""What the benchmark measures: inputs for every loss and each peer's version of it.

Every loss of fastloss's catalogue has here

* an input maker ``make(rng, dtype, shape) -> Inputs`` (valid inputs: labels
  in range, probabilities in (0, 1), positive means, valid boxes), and
* the peers that compute **the same quantity** with the same reduction
  (``mean``, fastloss's default) on the same inputs:

  - PyTorch: the library function where PyTorch has one (``TORCH_LIB``),
    else the formula written with torch ops (``_expr_*`` below through
    :class:`Torch`);
  - JAX: the same formula written with ``jax.numpy`` (``Jax``), jitted by
    the runner;
  - scikit-learn metrics (value only) and ``sklearn._loss`` losses (value and
    value+grad, ``n_threads``), where one corresponds. ``sklearn._loss``
    losses return per-sample values and gradients *not* divided by n, and the
    ``Half*`` losses are half deviances: each entry in ``SK_LOSS`` states the
    constant factors (``vfactor``, ``gfactor``) that map the peer's result
    onto fastloss's. The runner uses the factors only to *check* that the
    peer agrees; it does not time them (applying a constant is not the
    library's work).

The runner compares every peer's value (and a slice of its gradient) with
fastloss's before trusting its timing: a peer that disagrees is marked and
left out of the "fastest peer" column.

Sizes (``ROWS``): the issue-3 table rows, then one row for each other loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "Inputs",
    "Row",
    "ROWS",
    "MAKERS",
    "EXPR",
    "TORCH_LIB",
    "SK_METRIC",
    "SK_LOSS",
    "BANDWIDTH_BOUND",
    "ALL_GRADS",
    "SCALING",
]


@dataclass
class Inputs:
    """Arrays for one call: ``loss(pred, target, **params)``."""

    pred: np.ndarray
    target: np.ndarray
    params: dict = field(default_factory=dict)

    def arrays(self):
        out = [self.pred, self.target]
        out += [v for v in self.params.values() if isinstance(v, np.ndarray)]
        return out

    @property
    def bytes_read(self) -> int:
        return sum(a.nbytes for a in self.arrays())

    @property
    def bytes_written_grad(self) -> int:
        return self.pred.nbytes


# --------------------------------------------------------------------------
# input makers


def _normal(rng, dtype, shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(dtype, copy=False)


def _uniform(rng, dtype, shape, lo, hi):
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def _bits(rng, dtype, shape):
    return (rng.random(shape, dtype=np.float32) < 0.5).astype(dtype)


def _regression(rng, dtype, shape, **params):
    return Inputs(_normal(rng, dtype, shape), _normal(rng, dtype, shape), params)


def _positive_pair(rng, dtype, shape, **params):
    return Inputs(
        _uniform(rng, dtype, shape, 0.0, 3.0), _uniform(rng, dtype, shape, 0.0, 3.0), params
    )


def _mape(rng, dtype, shape):
    return Inputs(_normal(rng, dtype, shape), _uniform(rng, dtype, shape, 0.5, 2.0))


def _poisson(rng, dtype, shape):
    log_rate = _normal(rng, dtype, shape, 0.5)
    counts = rng.poisson(np.exp(log_rate.astype(np.float64))).astype(dtype)
    return Inputs(log_rate, counts)


def _gaussian(rng, dtype, shape):
    return Inputs(
        _normal(rng, dtype, shape),
        _normal(rng, dtype, shape),
        {"var": _uniform(rng, dtype, shape, 0.5, 2.0)},
    )


def _views(rng, dtype, shape, **params):
    # two correlated views of N embeddings (ntxent's z1, z2; clip's image, text)
    a = _normal(rng, dtype, shape)
    b = (a + _normal(rng, dtype, shape)).astype(dtype, copy=False)
    return Inputs(a, b, params)


def _tweedie(rng, dtype, shape):
    mu = _uniform(rng, dtype, shape, 0.1, 3.0)
    y = rng.gamma(1.0, 1.0, size=shape) * (rng.random(shape) < 0.8)  # some exact zeros
    return Inputs(mu, y.astype(dtype), {"power": 1.5})


def _probs_bits(rng, dtype, shape):
    return Inputs(_uniform(rng, dtype, shape, 0.01, 0.99), _bits(rng, dtype, shape))


def _logits_bits(rng, dtype, shape, **params):
    return Inputs(_normal(rng, dtype, shape, 2.0), _bits(rng, dtype, shape), params)


def _scores_signs(rng, dtype, shape):
    return Inputs(_normal(rng, dtype, shape), 2 * _bits(rng, dtype, shape) - 1)


def _logits_labels(rng, dtype, shape, **params):
    n, c = shape
    return Inputs(
        _normal(rng, dtype, shape, 2.0), rng.integers(0, c, size=n, dtype=np.int64), params
    )


def _kl(rng, dtype, shape):
    z = _normal(rng, np.float64, shape)
    log_pred = z - np.log(np.exp(z).sum(-1, keepdims=True))
    w = np.exp(_normal(rng, np.float64, shape))
    target = w / w.sum(-1, keepdims=True)
    return Inputs(log_pred.astype(dtype), target.astype(dtype))


def _one_hot(rng, dtype, shape):
    n, c = shape
    t = np.zeros(shape, dtype)
    t[np.arange(n), rng.integers(0, c, size=n)] = 1
    return Inputs(_normal(rng, dtype, shape), t)


def _log_probs_labels(rng, dtype, shape):
    n, c = shape
    z = _normal(rng, np.float64, shape, 2.0)
    log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return Inputs(log_probs.astype(dtype), rng.integers(0, c, size=n, dtype=np.int64))


def _distances_signs(rng, dtype, shape, **params):
    return Inputs(_uniform(rng, dtype, shape, 0.0, 2.0), 2 * _bits(rng, dtype, shape) - 1, params)


def _multilabel_indices(rng, dtype, shape):
    # each row lists 1..C-1 distinct target classes, then -1 (torch's layout)
    n, c = shape
    k = rng.integers(1, c, size=n)
    order = np.argsort(rng.random(shape), axis=1)
    target = np.where(np.arange(c) < k[:, None], order, -1).astype(np.int64)
    return Inputs(_normal(rng, dtype, shape), target)


def _masks(rng, dtype, shape, **params):
    return Inputs(
        rng.random(shape, dtype=np.float32).astype(dtype), _bits(rng, dtype, shape), params
    )


def _lists(rng, dtype, shape):
    # (n_lists, list_size) scores and graded labels 0..4 (every list has a
    # relevant item: listnet's peers divide by the label sum)
    labels = rng.integers(0, 5, size=shape).astype(dtype)
    labels[..., 0] = 4
    return Inputs(_normal(rng, dtype, shape), labels)


def _boxes(rng, dtype, shape):
    # target boxes, and predictions near them (most overlap, some do not)
    n = shape[0]
    xy = rng.uniform(0, 100, size=(n, 2))
    wh = rng.uniform(1, 50, size=(n, 2))
    target = np.concatenate([xy, xy + wh], axis=1)
    jitter = rng.normal(0, 10, size=(n, 4))
    pred = target + jitter
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 0.5)  # x2 > x1, y2 > y1
    return Inputs(pred.astype(dtype), target.astype(dtype))


def _margin_ranking(rng, dtype, shape):
    x1, x2 = _normal(rng, dtype, shape), _normal(rng, dtype, shape)
    y = np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dtype)
    return Inputs(x1, x2, {"y": y, "margin": 0.1})


def _triplet(rng, dtype, shape):
    # (N, D) anchors, positives and negatives: about half the rows active
    a, p, n = (_normal(rng, dtype, shape) for _ in range(3))
    return Inputs(a, p, {"negative": n})


def _pairs_signs(rng, dtype, shape):
    x1, x2 = _normal(rng, dtype, shape), _normal(rng, dtype, shape)
    y = np.where(rng.random(shape[0]) < 0.5, -1.0, 1.0).astype(dtype)
    return Inputs(x1, x2, {"y": y})


def _pairs_same(rng, dtype, shape):
    # margin about the typical distance sqrt(2 D): both sides of the hinge
    x1, x2 = _normal(rng, dtype, shape), _normal(rng, dtype, shape)
    same = (rng.random(shape[0]) < 0.5).astype(dtype)
    return Inputs(x1, x2, {"same": same, "margin": float(np.sqrt(2 * shape[1]))})


def _ctc(rng, dtype, shape):
    # (N, T, C, L): logits (T, N, C), N padded targets of L labels in [1, C)
    # (0 is the blank), every sequence T steps and L labels long; the batch
    # first, so --quick divides it; L at most T // 3, so the small shapes of
    # the tests stay possible alignments
    n, t, c, L = shape
    L = min(L, t // 3)
    params = {
        "input_lengths": np.full(n, t, dtype=np.int64),
        "target_lengths": np.full(n, L, dtype=np.int64),
    }
    return Inputs(
        _normal(rng, dtype, (t, n, c), 2.0),
        rng.integers(1, c, size=(n, L), dtype=np.int64),
        params,
    )


MAKERS: dict[str, Callable[..., Inputs]] = {
    "mse": _regression,
    "mae": _regression,
    "huber": lambda r, d, s: _regression(r, d, s, delta=1.0),
    "smooth_l1": lambda r, d, s: _regression(r, d, s, beta=1.0),
    "pseudo_huber": lambda r, d, s: _regression(r, d, s, delta=1.0),
    "log_cosh": _regression,
    "quantile": lambda r, d, s: _regression(r, d, s, quantile=0.3),
    "rmse": _regression,
    "mape": _mape,
    "msle": _positive_pair,
    "poisson_nll": _poisson,
    "gaussian_nll": _gaussian,
    "tweedie": _tweedie,
    "binary_cross_entropy": _probs_bits,
    "binary_cross_entropy_with_logits": _logits_bits,
    "hinge": _scores_signs,
    "squared_hinge": _scores_signs,
    "sigmoid_focal": lambda r, d, s: _logits_bits(r, d, s, alpha=0.25, gamma=2.0),
    "brier": _probs_bits,
    "cross_entropy": _logits_labels,
    "softmax_focal": lambda r, d, s: _logits_labels(r, d, s, gamma=2.0),
    "multiclass_hinge": _logits_labels,
    "kl_div": _kl,
    "categorical_hinge": _one_hot,
    "dice": _masks,
    "iou": _masks,
    "tversky": lambda r, d, s: _masks(r, d, s, alpha=0.3, beta=0.7),
    "generalized_dice": _masks,
    "box_iou_loss": _boxes,
    "giou_loss": _boxes,
    "diou_loss": _boxes,
    "ciou_loss": _boxes,
    "nll": _log_probs_labels,
    "soft_margin": _scores_signs,
    "hinge_embedding": lambda r, d, s: _distances_signs(r, d, s, margin=1.0),
    "multilabel_soft_margin": _logits_bits,
    "multilabel_margin": _multilabel_indices,
    "margin_ranking": _margin_ranking,
    "triplet_margin": _triplet,
    "triplet_margin_with_distance": _triplet,
    "cosine_embedding": _pairs_signs,
    "contrastive": _pairs_same,
    "ctc": _ctc,
    "pairwise_logistic": _lists,
    "pairwise_hinge": _lists,
    "listnet": _lists,
    "approx_ndcg": _lists,
    "lambda_rank": _lists,
    "ntxent": lambda r, d, s: _views(r, d, s, temperature=0.5),
    "clip": lambda r, d, s: _views(r, d, s, logit_scale=1 / 0.07),
}


# --------------------------------------------------------------------------
# one formula, two array libraries


class Torch:
    """The few array operations the formulas need, spelled with torch."""

    def __init__(self):
        import torch
        import torch.nn.functional as F

        self.t, self.F = torch, F
        self.abs, self.exp, self.log, self.log1p = torch.abs, torch.exp, torch.log, torch.log1p
        self.sqrt, self.sigmoid, self.atan, self.where = (
            torch.sqrt,
            torch.sigmoid,
            torch.atan,
            torch.where,
        )
        self.minimum, self.maximum, self.xlogy = torch.minimum, torch.maximum, torch.xlogy

    def softplus(self, x):
        # log(1 + exp(x)) without overflow (F.softplus switches to x above 20: same in float32)
        return self.F.softplus(x)

    def relu(self, x):
        return self.t.clamp_min(x, 0)

    def clamp_min(self, x, v):
        return self.t.clamp_min(x, v)

    def sum(self, x, axis=None):
        return x.sum() if axis is None else x.sum(dim=axis)

    def mean(self, x):
        return x.mean()

    def amax(self, x, axis):
        return self.t.amax(x, dim=axis)

    def log_softmax(self, x):
        return self.F.log_softmax(x, dim=-1)

    def take_label(self, x, labels):
        return x.gather(-1, labels.unsqueeze(-1)).squeeze(-1)

    def mask_label(self, x, labels, fill):
        return x.scatter(-1, labels.unsqueeze(-1), fill)

    def multi_hot(self, t, c):
        # 1.0 at the classes listed in each row of t (entries < 0 list none)
        hit = t.unsqueeze(-1) == self.t.arange(c)
        return hit.any(-2).to(self.t.get_default_dtype())

    def stop_gradient(self, x):
        return x.detach()

    def sort_desc(self, x):
        return self.t.sort(x, dim=-1, descending=True).values

    def arange(self, n, like):
        return self.t.arange(n, dtype=like.dtype)

    # the pairwise losses' few matrix operations
    def unit_rows(self, x):
        return self.F.normalize(x, dim=1)

    def cat_rows(self, a, b):
        return self.t.cat([a, b])

    def gram(self, a, b):
        return a @ b.T

    def indices(self, n):
        return self.t.arange(n)

    def mask_diagonal(self, s, fill):
        return s.masked_fill(self.t.eye(s.shape[0], dtype=self.t.bool), fill)


class Jax:
    """The same operations, spelled with jax.numpy."""

    def __init__(self):
        import jax
        import jax.numpy as jnp
        import jax.scipy.special as jsp

        self.jax, self.jnp = jax, jnp
        self.abs, self.exp, self.log, self.log1p = jnp.abs, jnp.exp, jnp.log, jnp.log1p
        self.sqrt, self.sigmoid, self.atan, self.where = (
            jnp.sqrt,
            jax.nn.sigmoid,
            jnp.arctan,
            jnp.where,
        )
        self.minimum, self.maximum, self.xlogy = jnp.minimum, jnp.maximum, jsp.xlogy
        self.softplus = jax.nn.softplus  # logaddexp(x, 0): stable
        self.log_softmax = jax.nn.log_softmax
        self.stop_gradient = jax.lax.stop_gradient

    def relu(self, x):
        return self.jnp.maximum(x, 0)

    def clamp_min(self, x, v):
        return self.jnp.maximum(x, v)

    def sum(self, x, axis=None):
        return self.jnp.sum(x, axis=axis)

    def mean(self, x):
        return self.jnp.mean(x)

    def amax(self, x, axis):
        return self.jnp.max(x, axis=axis)

    def unit_rows(self, x):
        n = self.jnp.sqrt(self.jnp.sum(x * x, axis=1, keepdims=True))
        return x / self.jnp.maximum(n, 1e-12)

    def cat_rows(self, a, b):
        return self.jnp.concatenate([a, b])

    def gram(self, a, b):
        return a @ b.T

    def indices(self, n):
        return self.jnp.arange(n)

    def mask_diagonal(self, s, fill):
        return self.jnp.where(self.jnp.eye(s.shape[0], dtype=bool), fill, s)

    def take_label(self, x, labels):
        return self.jnp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]

    def mask_label(self, x, labels, fill):
        onehot = labels[..., None] == self.jnp.arange(x.shape[-1])
        return self.jnp.where(onehot, fill, x)

    def multi_hot(self, t, c):
        return self.jnp.any(t[..., None] == self.jnp.arange(c), axis=-2).astype(self.jnp.float32)

    def sort_desc(self, x):
        return -self.jnp.sort(-x, axis=-1)

    def arange(self, n, like):
        return self.jnp.arange(n, dtype=like.dtype)


# Formulas: f(B, pred, target, **params) -> scalar mean loss, B a Torch or Jax.
# Each one restates the definition fastloss documents for the loss.


def _slice_axes(x):
    return tuple(range(1, x.ndim))  # the default axis rule: every axis but the first


def _dice(B, p, t, smooth=1e-5):
    ax = _slice_axes(p)
    inter = B.sum(p * t, ax)
    return B.mean(1 - (2 * inter + smooth) / (B.sum(p, ax) + B.sum(t, ax) + smooth))


def _iou(B, p, t, smooth=1e-5):
    ax = _slice_axes(p)
    inter = B.sum(p * t, ax)
    union = B.sum(p, ax) + B.sum(t, ax) - inter
    return B.mean(1 - (inter + smooth) / (union + smooth))


def _tversky(B, p, t, alpha=0.5, beta=0.5, smooth=1e-5):
    ax = _slice_axes(p)
    tp = B.sum(p * t, ax)
    fp = B.sum(p * (1 - t), ax)
    fn = B.sum((1 - p) * t, ax)
    return B.mean(1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth))


def _generalized_dice(B, p, t, smooth=1e-5):
    # (N, C, ...): per-class weights 1 / (sum of target)^2. The benchmark's
    # random masks contain every class, so MONAI's absent-class rule never fires.
    ax = tuple(range(2, p.ndim))
    w = 1 / B.sum(t, ax) ** 2
    inter = B.sum(w * B.sum(p * t, ax), 1)
    denom = B.sum(w * (B.sum(p, ax) + B.sum(t, ax)), 1)
    return B.mean(1 - (2 * inter + smooth) / (denom + smooth))


def _box_terms(B, p, t, eps):
    px1, py1, px2, py2 = (p[:, i] for i in range(4))
    tx1, ty1, tx2, ty2 = (t[:, i] for i in range(4))
    iw = B.relu(B.minimum(px2, tx2) - B.maximum(px1, tx1))
    ih = B.relu(B.minimum(py2, ty2) - B.maximum(py1, ty1))
    inter = iw * ih
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
    iou = inter / (union + eps)
    cw = B.maximum(px2, tx2) - B.minimum(px1, tx1)
    ch = B.maximum(py2, ty2) - B.minimum(py1, ty1)
    return (px1, py1, px2, py2, tx1, ty1, tx2, ty2), iou, union, cw, ch


def _box_iou(B, p, t, eps=1e-7):
    _, iou, _, _, _ = _box_terms(B, p, t, eps)
    return B.mean(1 - iou)


def _giou(B, p, t, eps=1e-7):
    _, iou, union, cw, ch = _box_terms(B, p, t, eps)
    area_c = cw * ch
    return B.mean(1 - iou + (area_c - union) / (area_c + eps))


def _diou_parts(B, p, t, eps):
    c, iou, _, cw, ch = _box_terms(B, p, t, eps)
    px1, py1, px2, py2, tx1, ty1, tx2, ty2 = c
    diag = cw**2 + ch**2 + eps
    dist = ((px1 + px2) / 2 - (tx1 + tx2) / 2) ** 2 + ((py1 + py2) / 2 - (ty1 + ty2) / 2) ** 2
    return c, iou, 1 - iou + dist / diag


def _diou(B, p, t, eps=1e-7):
    return B.mean(_diou_parts(B, p, t, eps)[2])


def _ciou(B, p, t, eps=1e-7):
    # torchvision complete_box_iou_loss: alpha computed without gradient
    c, iou, d = _diou_parts(B, p, t, eps)
    px1, py1, px2, py2, tx1, ty1, tx2, ty2 = c
    shape_gap = B.atan((tx2 - tx1) / (ty2 - ty1)) - B.atan((px2 - px1) / (py2 - py1))
    v = (4 / math.pi**2) * shape_gap**2
    alpha = B.stop_gradient(v / (1 - iou + v + eps))
    return B.mean(d + alpha * v)


def _tweedie_dev(B, mu, y, power=1.5):
    # mean Tweedie deviance, 1 < power < 2 (sklearn.metrics.mean_tweedie_deviance)
    p = power
    dev = 2 * (
        B.relu(y) ** (2 - p) / ((1 - p) * (2 - p))
        - y * mu ** (1 - p) / (1 - p)
        + mu ** (2 - p) / (2 - p)
    )
    return B.mean(dev)


def _sigmoid_focal(B, x, t, alpha=0.25, gamma=2.0):
    # torchvision.ops.sigmoid_focal_loss, reduction="mean"
    pr = B.sigmoid(x)
    ce = B.softplus(x) - t * x
    p_t = pr * t + (1 - pr) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return B.mean(loss)


def _softmax_focal(B, x, y, gamma=2.0):
    lpy = B.take_label(B.log_softmax(x), y)
    return B.mean(-((1 - B.exp(lpy)) ** gamma) * lpy)


def _crammer_singer(B, s, y, margin=1.0):
    # sklearn.metrics.hinge_loss on multiclass labels
    sy = B.take_label(s, y)
    other = B.amax(B.mask_label(s, y, -math.inf), -1)
    return B.mean(B.relu(margin - sy + other))


def _categorical_hinge(B, s, t):
    # Keras CategoricalHinge
    pos = B.sum(t * s, -1)
    neg = B.amax((1 - t) * s, -1)
    return B.mean(B.relu(neg - pos + 1))


def _log_cosh(B, p, t):
    r = B.abs(p - t)
    return B.mean(r + B.softplus(-2 * r) - math.log(2.0))


def _multilabel_margin(B, s, t):
    # targets: distinct indices then -1 (the maker's layout); every pair of a
    # target class j and a non-target class i, as a (N, C, C) array
    m = B.multi_hot(t, s.shape[-1])
    pair = B.relu(1 - s[..., :, None] + s[..., None, :]) * (m[..., :, None] * (1 - m[..., None, :]))
    return B.mean(B.sum(pair, (-2, -1))) / s.shape[-1]


def _l2(B, u):
    """The Euclidean norm of each row."""
    return B.sqrt(B.sum(u * u, axis=-1))


def _cosine_embedding(B, x1, x2, y, margin=0.0):
    # torch's EPSILON = 1e-12 on the squared norms
    den = B.sqrt((B.sum(x1 * x1, axis=-1) + 1e-12) * (B.sum(x2 * x2, axis=-1) + 1e-12))
    cos = B.sum(x1 * x2, axis=-1) / den
    zero = 0.0 * cos
    return B.mean(B.where(y == 1, 1 - cos, B.where(y == -1, B.relu(cos - margin), zero)))


# Ranking (rax's definitions and reduction, lists without a mask; see
# fastloss.ranking): the pair arrays (n_lists, list_size, list_size) are what
# the peers compute; a pairwise loss's mean is over all the batch's valid
# pairs (rax's reduce_fn=jnp.mean on the whole batch).
def _pairs(B, s, y):
    d = s[:, :, None] - s[:, None, :]  # s_i - s_j
    pair = y[:, :, None] > y[:, None, :]
    return d, pair, B.sum(pair * 1.0)


def _pairwise_logistic(B, s, y):
    d, pair, cnt = _pairs(B, s, y)
    return B.sum(B.where(pair, B.softplus(-d), 0 * d)) / cnt


def _pairwise_hinge(B, s, y):
    d, pair, cnt = _pairs(B, s, y)
    return B.sum(B.where(pair, B.relu(1 - d), 0 * d)) / cnt


def _listnet(B, s, y):
    p = y / B.sum(y, -1)[:, None]
    return B.mean(-B.sum(p * B.log_softmax(s), -1))


def _ideal_dcg(B, g):
    disc = math.log(2.0) / B.log(B.arange(g.shape[-1], g) + 2.0)  # 1 / log2(rank + 1)
    ideal = B.sum(B.sort_desc(g) * disc, -1)
    return B.where(ideal == 0, 1.0 + 0 * ideal, ideal)


def _approx_ndcg(B, s, y, temperature=1.0):
    g = 2.0**y - 1.0
    sig = B.sigmoid((s[:, None, :] - s[:, :, None]) / temperature)
    rhat = 0.5 + B.sum(sig, -1)  # 1 + the sum over j != i (sigmoid(0) = 1/2)
    dcg = B.sum(g * math.log(2.0) / B.log(1.0 + rhat), -1)
    return B.mean(-dcg / _ideal_dcg(B, g))


def _lambda_rank(B, s, y):
    d, pair, cnt = _pairs(B, s, y)
    g = 2.0**y - 1.0
    gn = g / _ideal_dcg(B, g)[:, None]
    ss = B.stop_gradient(s)
    rank = 1.0 + B.sum((ss[:, None, :] > ss[:, :, None]) * 1.0, -1)  # ties: none in floats
    disc = math.log(2.0) / B.log(1.0 + rank)
    lam = B.abs(gn[:, :, None] - gn[:, None, :]) * B.abs(disc[:, :, None] - disc[:, None, :])
    t = B.where(pair, B.softplus(-d) * lam * s.shape[-1], 0 * d)
    return B.sum(t) / cnt


def _ntxent_expr(B, z1, z2, temperature=0.5):
    # the (2N x 2N) cosine similarities, self masked, each view's pair its label
    n = z1.shape[0]
    z = B.unit_rows(B.cat_rows(z1, z2))
    s = B.mask_diagonal(B.gram(z, z) / temperature, float("-inf"))
    pos = B.cat_rows(B.indices(n) + n, B.indices(n))
    return -B.mean(B.take_label(B.log_softmax(s), pos))


def _clip_expr(B, img, txt, logit_scale=1 / 0.07):
    u, v = B.unit_rows(img), B.unit_rows(txt)
    labels = B.indices(img.shape[0])
    rows = -B.mean(B.take_label(B.log_softmax(logit_scale * B.gram(u, v)), labels))
    cols = -B.mean(B.take_label(B.log_softmax(logit_scale * B.gram(v, u)), labels))
    return (rows + cols) / 2


EXPR: dict[str, Callable] = {
    "mse": lambda B, p, t: B.mean((p - t) ** 2),
    "mae": lambda B, p, t: B.mean(B.abs(p - t)),
    "huber": lambda B, p, t, delta=1.0: B.mean(
        B.where(B.abs(p - t) < delta, 0.5 * (p - t) ** 2, delta * (B.abs(p - t) - 0.5 * delta))
    ),
    "smooth_l1": lambda B, p, t, beta=1.0: B.mean(
        B.where(B.abs(p - t) < beta, 0.5 * (p - t) ** 2 / beta, B.abs(p - t) - 0.5 * beta)
    ),
    "log_cosh": _log_cosh,
    # XGBoost's reg:pseudohubererror value (mphe), the textbook form
    "pseudo_huber": lambda B, p, t, delta=1.0: B.mean(
        delta * delta * (B.sqrt(1 + ((p - t) / delta) ** 2) - 1)
    ),
    "quantile": lambda B, p, t, quantile=0.5: B.mean(
        B.maximum(quantile * (t - p), (quantile - 1) * (t - p))
    ),
    "rmse": lambda B, p, t: B.sqrt(B.mean((p - t) ** 2)),
    # sklearn's epsilon floor: np.finfo(np.float64).eps
    "mape": lambda B, p, t: B.mean(B.abs(p - t) / B.clamp_min(B.abs(t), 2.220446049250313e-16)),
    "msle": lambda B, p, t: B.mean((B.log1p(p) - B.log1p(t)) ** 2),
    "poisson_nll": lambda B, x, t: B.mean(B.exp(x) - t * x),
    "gaussian_nll": lambda B, p, t, var: B.mean(
        0.5 * (B.log(B.clamp_min(var, 1e-6)) + (p - t) ** 2 / B.clamp_min(var, 1e-6))
    ),
    "tweedie": _tweedie_dev,
    "binary_cross_entropy": lambda B, p, t: B.mean(
        -(t * B.clamp_min(B.log(p), -100.0) + (1 - t) * B.clamp_min(B.log(1 - p), -100.0))
    ),
    "binary_cross_entropy_with_logits": lambda B, x, t: B.mean(B.softplus(x) - t * x),
    "hinge": lambda B, s, t, margin=1.0: B.mean(B.relu(margin - t * s)),
    "squared_hinge": lambda B, s, t, margin=1.0: B.mean(B.relu(margin - t * s) ** 2),
    "sigmoid_focal": _sigmoid_focal,
    "brier": lambda B, p, t: B.mean((p - t) ** 2),
    "cross_entropy": lambda B, x, y: -B.mean(B.take_label(B.log_softmax(x), y)),
    "softmax_focal": _softmax_focal,
    "multiclass_hinge": _crammer_singer,
    "kl_div": lambda B, lp, t: B.sum(B.xlogy(t, t) - t * lp) / lp.shape[0],
    "categorical_hinge": _categorical_hinge,
    "dice": _dice,
    "iou": _iou,
    "tversky": _tversky,
    "generalized_dice": _generalized_dice,
    "box_iou_loss": _box_iou,
    "giou_loss": _giou,
    "diou_loss": _diou,
    "ciou_loss": _ciou,
    "nll": lambda B, lp, y: -B.mean(B.take_label(lp, y)),
    "soft_margin": lambda B, s, t: B.mean(B.softplus(-t * s)),
    "hinge_embedding": lambda B, x, t, margin=1.0: B.mean(B.where(t == 1, x, B.relu(margin - x))),
    "multilabel_soft_margin": lambda B, x, t: B.mean(B.softplus(x) - t * x),
    "multilabel_margin": _multilabel_margin,
    # the embedding losses, rows (N, D): the formulas of their docstrings
    "margin_ranking": lambda B, x1, x2, y, margin=0.0: B.mean(B.relu(-y * (x1 - x2) + margin)),
    "triplet_margin": lambda B, a, p, negative: B.mean(
        B.relu(1.0 + _l2(B, a - p + 1e-6) - _l2(B, a - negative + 1e-6))
    ),
    "triplet_margin_with_distance": lambda B, a, p, negative: B.mean(
        B.relu(1.0 + _l2(B, a - p + 1e-6) - _l2(B, a - negative + 1e-6))
    ),
    "cosine_embedding": _cosine_embedding,
    "contrastive": lambda B, x1, x2, same, margin=1.0: B.mean(
        same * B.sum((x1 - x2) ** 2, axis=-1) / 2
        + (1 - same) * B.relu(margin - _l2(B, x1 - x2)) ** 2 / 2
    ),
    "pairwise_logistic": _pairwise_logistic,
    "pairwise_hinge": _pairwise_hinge,
    "listnet": _listnet,
    "approx_ndcg": _approx_ndcg,
    "lambda_rank": _lambda_rank,
    "ntxent": _ntxent_expr,
    "clip": _clip_expr,
}

# PyTorch's own functions, where PyTorch has the loss: f(F, pred, target, **params).
TORCH_LIB: dict[str, Callable] = {
    "mse": lambda F, p, t: F.mse_loss(p, t),
    "mae": lambda F, p, t: F.l1_loss(p, t),
    "huber": lambda F, p, t, delta=1.0: F.huber_loss(p, t, delta=delta),
    "smooth_l1": lambda F, p, t, beta=1.0: F.smooth_l1_loss(p, t, beta=beta),
    "poisson_nll": lambda F, x, t: F.poisson_nll_loss(x, t, log_input=True, full=False),
    "gaussian_nll": lambda F, p, t, var: F.gaussian_nll_loss(p, t, var),
    "binary_cross_entropy": lambda F, p, t: F.binary_cross_entropy(p, t),
    "binary_cross_entropy_with_logits": lambda F, x, t: F.binary_cross_entropy_with_logits(x, t),
    "cross_entropy": lambda F, x, y: F.cross_entropy(x, y),
    "margin_ranking": lambda F, x1, x2, y, margin=0.0: F.margin_ranking_loss(
        x1, x2, y, margin=margin
    ),
    "triplet_margin": lambda F, a, p, negative: F.triplet_margin_loss(a, p, negative),
    "triplet_margin_with_distance": lambda F, a, p, negative: F.triplet_margin_with_distance_loss(
        a, p, negative
    ),
    "cosine_embedding": lambda F, x1, x2, y: F.cosine_embedding_loss(x1, x2, y),
    # torch has no contrastive loss: the formula, with torch ops
    "contrastive": lambda F, x1, x2, same, margin=1.0: (
        same * ((x1 - x2) ** 2).sum(-1) / 2
        + (1 - same) * F.relu(margin - ((x1 - x2) ** 2).sum(-1).sqrt()) ** 2 / 2
    ).mean(),
    "kl_div": lambda F, lp, t: F.kl_div(lp, t, reduction="batchmean"),
    "nll": lambda F, lp, y: F.nll_loss(lp, y),
    "soft_margin": lambda F, s, t: F.soft_margin_loss(s, t),
    "hinge_embedding": lambda F, x, t, margin=1.0: F.hinge_embedding_loss(x, t, margin=margin),
    "multilabel_soft_margin": lambda F, x, t: F.multilabel_soft_margin_loss(x, t),
    "multilabel_margin": lambda F, s, t: F.multilabel_margin_loss(s, t),
    # ctc takes logits: torch's ctc_loss on their log_softmax (its "mean")
    "ctc": lambda F, x, y, input_lengths, target_lengths: F.ctc_loss(
        F.log_softmax(x, -1), y, input_lengths, target_lengths
    ),
    "ntxent": lambda F, a, b, temperature=0.5: _torch_ntxent(F, a, b, temperature),
    "clip": lambda F, a, b, logit_scale=1 / 0.07: _torch_clip(F, a, b, logit_scale),
}


def _torch_ntxent(F, z1, z2, temperature):
    # SimCLR's NT-Xent written with torch ops, the usual way: the (2N x 2N)
    # cosine-similarity matrix, the self-similarity masked, cross-entropy
    # against each view's pair (= pytorch-metric-learning's NTXentLoss,
    # which needs all 2N x (2N - 2) negative pairs as index arrays and does
    # not fit in memory at the benchmark's size)
    import torch

    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = (z @ z.T) / temperature
    s = s.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    pos = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(s, pos)


def _torch_clip(F, img, txt, logit_scale):
    # open_clip's ClipLoss (both logit matrices, as it computes them), on
    # embeddings normalized first (open_clip's model does that)
    import torch

    u, v = F.normalize(img, dim=1), F.normalize(txt, dim=1)
    labels = torch.arange(img.shape[0])
    per_image = logit_scale * u @ v.T
    per_text = logit_scale * v @ u.T
    return (F.cross_entropy(per_image, labels) + F.cross_entropy(per_text, labels)) / 2


# scikit-learn metrics: f(sklearn.metrics, pred, target, **params) -> float (value only).
def _sk_hinge_multi(m, s, y, margin=1.0):
    return m.hinge_loss(y, s, labels=np.arange(s.shape[1]))


SK_METRIC: dict[str, Callable] = {
    "mse": lambda m, p, t: m.mean_squared_error(t, p),
    "mae": lambda m, p, t: m.mean_absolute_error(t, p),
    "rmse": lambda m, p, t: m.root_mean_squared_error(t, p),
    "mape": lambda m, p, t: m.mean_absolute_percentage_error(t, p),
    "msle": lambda m, p, t: m.mean_squared_log_error(t, p),
    "quantile": lambda m, p, t, quantile=0.5: m.mean_pinball_loss(t, p, alpha=quantile),
    "tweedie": lambda m, p, t, power=1.5: m.mean_tweedie_deviance(t, p, power=power),
    "binary_cross_entropy": lambda m, p, t: m.log_loss(t, p),
    "hinge": lambda m, s, t: m.hinge_loss(t, s),
    "multiclass_hinge": _sk_hinge_multi,
    "brier": lambda m, p, t: m.brier_score_loss(t, p),
}


@dataclass
class SkLoss:
    """An ``sklearn._loss`` loss that corresponds to a fastloss loss.

    ``make(inputs) -> BaseLoss``; ``y(inputs)`` its y_true; ``vfactor`` and
    ``gfactor(n)``: fastloss value = vfactor * mean(per-sample loss), fastloss
    grad = gfactor(n_samples) * sklearn gradient.
    """

    make: Callable[[Inputs], Any]
    vfactor: float = 1.0
    gfactor: Callable[[int], float] = lambda n: 1.0 / n
    y: Callable[[Inputs], np.ndarray] = lambda inp: inp.target
    note: str = ""


def _sk(name, **kw):
    """A maker for ``sklearn._loss.loss.<name>(**kw)``."""

    def make(inp):
        import sklearn._loss.loss as L

        return getattr(L, name)(**kw)

    return make


SK_LOSS: dict[str, SkLoss] = {
    # HalfSquaredError = (y - raw)^2 / 2: half of mse, gradient not divided by n
    "mse": SkLoss(_sk("HalfSquaredError"), 2.0, lambda n: 2.0 / n, note="x2 (half squared error)"),
    "mae": SkLoss(_sk("AbsoluteError")),
    "huber": SkLoss(_sk("HuberLoss", delta=1.0)),  # fixed delta: the quantile is only for fit
    "quantile": SkLoss(lambda inp: _sk("PinballLoss", quantile=inp.params["quantile"])(inp)),
    # HalfPoissonLoss = exp(raw) - y raw: exactly poisson_nll(log_input=True, full=False)
    "poisson_nll": SkLoss(_sk("HalfPoissonLoss")),
    # HalfTweedieLossIdentity = half the Tweedie deviance, identity link
    "tweedie": SkLoss(
        lambda inp: _sk("HalfTweedieLossIdentity", power=inp.params["power"])(inp),
        2.0,
        lambda n: 2.0 / n,
        note="x2 (half deviance)",
    ),
    # HalfBinomialLoss = log(1 + exp(raw)) - y raw: the binary log loss itself
    "binary_cross_entropy_with_logits": SkLoss(_sk("HalfBinomialLoss")),
    # HalfMultinomialLoss = logsumexp(raw) - raw_y: cross-entropy itself (labels as floats)
    "cross_entropy": SkLoss(
        lambda inp: _sk("HalfMultinomialLoss", n_classes=inp.pred.shape[1])(inp),
        y=lambda inp: inp.target.astype(inp.pred.dtype),
    ),
}

# Losses whose speed is bounded by memory traffic: the report gives % of roof.
BANDWIDTH_BOUND = {
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "hinge",
    "squared_hinge",
    "dice",
    "iou",
    "tversky",
    "brier",
    "quantile",
    "rmse",
}


def _fmt_dim(d: int) -> str:
    """10000000 -> "1e7", 2000 -> "2e3", 256 -> "256", 32000 -> "32000"."""
    k = len(str(d)) - 1
    if d >= 1000 and d % 10**k == 0:
        return f"{d // 10**k}e{k}"
    return str(d)


@dataclass
class Row:
    """One line of the table: a loss on inputs of one shape."""

    loss: str
    shape: tuple
    label: str = ""  # default: the loss and the shape, e.g. "cross_entropy 1e5 x 1000"
    scalable: bool = True  # --quick divides the leading dimension by 10
    issue3: bool = False  # one of the issue-3 table rows
    peers: tuple = ("numpy", "torch", "jax", "sklearn", "sklearn_loss")

    def label_for(self, shape: tuple) -> str:
        if self.label:
            return self.label
        if self.loss == "ctc":  # (N, T, C, L), see _ctc
            n, t, c, L = shape
            return f"ctc T = {t}, N = {n}, C = {c}, L = {min(L, t // 3)}"
        if len(shape) == 1:
            return f"{self.loss}, n = {_fmt_dim(shape[0])}"
        if self.loss.endswith("_loss") and len(shape) == 2 and shape[1] == 4:
            return f"{self.loss}, {_fmt_dim(shape[0])} boxes"
        return f"{self.loss} {_fmt_dim(shape[0])} x " + " x ".join(str(d) for d in shape[1:])

    def shape_for(self, quick: bool) -> tuple:
        if not (quick and self.scalable):
            return self.shape
        return (max(1, round(self.shape[0] / 10)),) + tuple(self.shape[1:])


_N = 10_000_000  # the issue-3 element-wise size
_M = 1_000_000  # other element-wise losses

# Losses whose value+grad cells take the gradient of every differentiable
# input (the inputs given as arrays: pred, target and the named ones), as a
# training step does; other several-input losses (gaussian_nll) time the
# first input's gradient.
ALL_GRADS = frozenset(
    {
        "margin_ranking",
        "triplet_margin",
        "triplet_margin_with_distance",
        "cosine_embedding",
        "contrastive",
    }
)

ROWS: list[Row] = [
    Row("mse", (_N,), issue3=True),
    Row("huber", (_N,), issue3=True),
    Row("binary_cross_entropy_with_logits", (_N,), issue3=True),
    Row("cross_entropy", (1_000_000, 10), issue3=True),
    Row("cross_entropy", (100_000, 1000), issue3=True),
    Row("cross_entropy", (2_000, 32_000), issue3=True),
    Row("hinge", (_N,), issue3=True),
    Row("dice", (16, 4, 256, 256), issue3=True),
    Row(
        "mse",
        (10,),
        "mse, one call on 10 elements",
        scalable=False,
        issue3=True,
        peers=("numpy", "torch", "jax"),
    ),
    # the rest of the catalogue
    Row("mae", (_N,)),
    Row("smooth_l1", (_N,)),
    Row("pseudo_huber", (_M,)),
    Row("squared_hinge", (_N,)),
    Row("iou", (16, 4, 256, 256)),
    Row("tversky", (16, 4, 256, 256)),
    Row("generalized_dice", (16, 4, 256, 256)),
    Row("binary_cross_entropy", (_M,)),
    Row("sigmoid_focal", (_M,)),
    Row("brier", (_M,)),
    Row("log_cosh", (_M,)),
    Row("quantile", (_M,)),
    Row("rmse", (_M,)),
    Row("mape", (_M,)),
    Row("msle", (_M,)),
    Row("poisson_nll", (_M,)),
    Row("gaussian_nll", (_M,)),
    Row("tweedie", (_M,)),
    Row("softmax_focal", (100_000, 10)),
    Row("multiclass_hinge", (100_000, 10)),
    Row("kl_div", (100_000, 10)),
    Row("categorical_hinge", (100_000, 10)),
    Row("box_iou_loss", (100_000, 4)),
    Row("giou_loss", (100_000, 4)),
    Row("diou_loss", (100_000, 4)),
    Row("ciou_loss", (100_000, 4)),
    # the rest of PyTorch's losses (issue 22)
    Row("nll", (100_000, 10)),
    Row("soft_margin", (_M,)),
    Row("hinge_embedding", (_M,)),
    Row("multilabel_soft_margin", (100_000, 10)),
    Row("multilabel_margin", (100_000, 10)),
    # several differentiable inputs: value+grad is every input's gradient
    # (ALL_GRADS), on both sides
    Row("margin_ranking", (_M,), peers=("numpy", "torch")),
    Row("triplet_margin", (100_000, 128), peers=("numpy", "torch")),
    Row("triplet_margin_with_distance", (100_000, 128), peers=("numpy", "torch")),
    Row("cosine_embedding", (100_000, 128), peers=("numpy", "torch")),
    Row("contrastive", (100_000, 128), peers=("numpy", "torch")),
    # issue 22's CTC row: T = 200, N = 64, C = 32, target length 40
    Row("ctc", (64, 200, 32, 40), peers=("numpy", "torch")),
    # ranking: 1e4 lists of 64 items; the peers hold (1e4, 64, 64) pair
    # arrays (NumPy's reference too: left out)
    Row("pairwise_logistic", (10_000, 64), peers=("torch", "jax")),
    Row("pairwise_hinge", (10_000, 64), peers=("torch", "jax")),
    Row("listnet", (10_000, 64), peers=("torch", "jax")),
    Row("approx_ndcg", (10_000, 64), peers=("torch", "jax")),
    Row("lambda_rank", (10_000, 64), peers=("torch", "jax")),
    # pairwise: value_and_grad is w.r.t. both embeddings here (fastloss's
    # wrt=all and autograd on both leaves), see peers.build_impls
    Row("ntxent", (8192, 256), peers=("torch", "pml")),
    Row("clip", (8192, 512), peers=("torch",)),
]

# The scaling study: loss -> (params, shape for n elements).
SCALING: dict[str, Callable[[int], tuple]] = {
    "mse": lambda n: (n,),
    "huber": lambda n: (n,),
    "binary_cross_entropy_with_logits": lambda n: (n,),
    "cross_entropy": lambda n: (max(1, n // 10), 10),
}
