"""What the XGBoost and LightGBM adapters share: a loss turned into per-element
(gradient, Hessian) pairs and into an evaluation metric.

No formula lives here: every number comes from a ``Loss`` verb
(``grad_hess`` or ``grad`` with ``reduction="none"``, the loss itself for a
metric). The adapters add only the boosting conventions: the ½ of squared
error, a constant Hessian for piecewise-linear losses, labels as class
indices, the booster's sample weights, and the thread count.
"""

from __future__ import annotations

import numpy as np

from fastloss._config import _temporary_threads

# Losses whose second derivative is 0 almost everywhere (piecewise linear in
# the prediction). A Newton step with Hessian 0 is undefined, so the
# adapters pass this positive constant instead (times the sample weight), as
# XGBoost's reg:absoluteerror / reg:quantileerror and LightGBM's l1 /
# quantile objectives do. Those built-ins then refit each leaf to a
# (weighted) quantile of its residuals; a custom objective cannot, so its
# leaves are Newton steps -grad_sum / (count + lambda).
# nll and kl_div are linear in their log-probabilities (Hessian 0 everywhere).
# Losses with a Hessian that is 0 on a linear piece only (huber, smooth_l1,
# mape) get the same constant there: see _linear_pieces.
PIECEWISE_LINEAR = frozenset(
    {
        "mae",
        "quantile",
        "hinge",
        "multiclass_hinge",
        "categorical_hinge",
        "hinge_embedding",
        "multilabel_margin",
        "nll",
        "kl_div",
    }
)
CONSTANT_HESSIAN = 1.0
# The losses whose exact Hessian is 0 on a linear piece only (see
# _linear_pieces); no other loss pays for the search.
LINEAR_PIECES = frozenset({"huber", "smooth_l1", "mape"})


def _linear_pieces(g, h, w):
    """The constant Hessian where a loss is linear in the prediction on a
    piece of its domain (huber and smooth_l1 beyond delta / beta, mape
    everywhere): there the exact Hessian is 0 while the gradient is not.

    Passed as is, a leaf whose rows all lie there has a Hessian sum near 0
    and a Newton step -G / (H + lambda) that blows up: measured with
    LightGBM (lambda 0) on diabetes, 3 rounds of huber(delta=0.5) gave
    margins 63 away from the built-in ``huber``'s (targets 0.25-3.5). The
    constant (times the weight, in place) is what LightGBM's ``huber``
    passes there (its Hessian is 1 everywhere), so that objective is then
    reproduced exactly. A Hessian of 0 with a gradient of 0 (a row that
    contributes nothing) is left as it is.
    """
    mask = (h == 0) & (g != 0)
    if not mask.any():
        return
    if w is None:
        h[mask] = CONSTANT_HESSIAN
    else:
        w = w.astype(h.dtype, copy=False).reshape(w.shape + (1,) * (h.ndim - w.ndim))
        h[mask] = CONSTANT_HESSIAN * np.broadcast_to(w, h.shape)[mask]


# Scale of (grad, hess) to follow the boosting libraries' own conventions:
# their squared error is ½ r² (grad r, hess 1), fastloss's mse is r²; their
# tweedie differentiates half the deviance, fastloss's tweedie is the
# deviance (unscaled, the trees matched only at lambda = 0: 3 rounds at
# XGBoost's default lambda = 1 gave margins up to 0.59 apart).
# msle likewise: XGBoost's reg:squaredlogerror is ½ (log1p(p) - log1p(y))²
# (unscaled, 3 rounds on diabetes gave margins 0.18 apart; scaled, equal).
SCALE = {"mse": 0.5, "tweedie": 0.5, "msle": 0.5}

# The default thread count of fastloss inside a booster's callback: the
# booster parallelizes its own work, and two OpenMP pools on the same cores
# make each other's threads wait (see fastloss.xgboost, "Threads").
INSIDE_THREADS = 1


def _check_threads(threads):
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be an int or None, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    return threads


def _loss_of(name, params):
    import fastloss

    if not isinstance(name, str):
        raise TypeError(f"name must be a loss name (str), got {type(name).__name__}")
    loss = fastloss.get(name)  # ValueError naming the unknown loss
    if len(loss.inputs) != 2 or len(loss.wrt) != 1:
        raise ValueError(
            f"{name} takes {', '.join(loss.inputs)}: a boosting objective or "
            "metric needs a loss of (prediction, label)"
        )
    loss.resolve_params(dict(params))  # unknown or bad parameters fail here, not in training
    return loss


def _labels(loss, margin, label):
    """The booster's float labels as the loss wants them: class indices
    (int64) where margins carry a class axis the labels lack."""
    label = np.asarray(label)
    if margin.ndim == label.ndim + 1 and loss.family == "multiclass":
        idx = label.astype(np.int64)
        if not np.array_equal(idx, label):
            raise ValueError(
                f"label: {loss.name} on (n, K) margins needs class indices "
                "0..K-1 as labels, got non-integer values"
            )
        return idx
    return label


def _weights(weight):
    if weight is None:
        return None
    weight = np.asarray(weight)
    return weight if weight.size else None  # XGBoost: an empty array means none


class Objective:
    """A loss as a boosting objective: ``grad_hess(margin, label, weight)``."""

    def __init__(self, name, params, threads, hessian_scale=1.0):
        self.loss = _loss_of(name, params)
        self.name = name
        self.params = dict(params)
        self.threads = _check_threads(threads)
        self.piecewise = name in PIECEWISE_LINEAR
        if not self.piecewise and not self.loss.has_hess:
            raise ValueError(
                f"{name} has no Hessian (fastloss.{name}.has_hess is False), "
                "so it cannot be a boosting objective"
            )
        self.scale = SCALE.get(name, 1.0)
        self.linear_pieces = name in LINEAR_PIECES
        # A constant the booster's convention multiplies its Hessian by
        # (LightGBM's multiclass K/(K-1), XGBoost's softmax 2): a setting the
        # user chooses to reproduce a built-in, not part of the loss.
        hs = float(hessian_scale)
        if not (hs > 0.0 and hs < float("inf")):
            raise ValueError(f"hessian_scale must be a finite number > 0, got {hessian_scale!r}")
        self.hessian_scale = hs

    def grad_hess(self, margin, label, weight=None):
        margin = np.asarray(margin)
        label = _labels(self.loss, margin, label)
        w = _weights(weight)
        with _temporary_threads(self.threads):
            if self.piecewise:
                g = self.loss.grad(margin, label, reduction="none", sample_weight=w, **self.params)
                h = np.empty_like(g)
                if w is None:
                    h.fill(CONSTANT_HESSIAN)
                else:  # per sample, repeated along the class axis if any
                    w = w.astype(g.dtype, copy=False)
                    h[...] = CONSTANT_HESSIAN * w.reshape(w.shape + (1,) * (g.ndim - w.ndim))
            else:
                g, h = self.loss.grad_hess(
                    margin, label, reduction="none", sample_weight=w, **self.params
                )
                if self.linear_pieces:
                    _linear_pieces(g, h, w)
        if self.scale != 1.0:
            g *= self.scale
            h *= self.scale
        if self.hessian_scale != 1.0:
            h *= self.hessian_scale
        return g, h

    def __repr__(self):
        kw = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__module__}.objective({self.name!r}{kw})"


class Metric:
    """A loss as an evaluation metric: the (weighted) mean loss."""

    def __init__(self, name, params, threads):
        self.loss = _loss_of(name, params)
        self.name = name
        # XGBoost's scikit-learn wrappers name a callable eval_metric's
        # results by its __name__ (AttributeError without one)
        self.__name__ = name
        self.params = dict(params)
        self.threads = _check_threads(threads)

    def value(self, margin, label, weight=None):
        margin = np.asarray(margin)
        label = _labels(self.loss, margin, label)
        with _temporary_threads(self.threads):
            return self.loss(margin, label, sample_weight=_weights(weight), **self.params)

    def __repr__(self):
        kw = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__module__}.metric({self.name!r}{kw})"
