"""Test inputs for the multiclass family (see cases.py).

Class axis last; about n..3n elements. No ignored labels and no class
weights here (the registry-wide "sum == mean * count" property holds only
when the mean divides by the sample count); tests/test_multiclass.py covers
those parameters.
"""

from __future__ import annotations

import numpy as np

from cases import case


def _rows(n, c):
    return max(1, (2 * n) // c)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@case("cross_entropy")
def _cross_entropy(rng, dtype, n):
    # (N, 2, C): a spatial axis, class axis last; labels (N, 2)
    c = 4
    m = max(1, n // 4)
    logits = (rng.normal(size=(m, 2, c)) * 3).astype(dtype)
    labels = rng.integers(0, c, size=(m, 2))
    return logits, labels, {"label_smoothing": 0.1}


@case("multiclass_hinge")
def _multiclass_hinge(rng, dtype, n):
    c = 5
    scores = (rng.normal(size=(_rows(n, c), c)) * 2).astype(dtype)
    labels = rng.integers(0, c, size=scores.shape[:-1])
    return scores, labels, {"margin": 1.0, "variant": "weston_watkins"}


@case("softmax_focal")
def _softmax_focal(rng, dtype, n):
    c = 3
    logits = (rng.normal(size=(_rows(n, c), c)) * 2).astype(dtype)
    labels = rng.integers(0, c, size=logits.shape[:-1])
    return logits, labels, {"gamma": 2.0}


@case("kl_div")
def _kl_div(rng, dtype, n):
    c = 4
    r = _rows(n, c)
    log_pred = np.log(_softmax(rng.normal(size=(r, c)))).astype(dtype)
    target = _softmax(rng.normal(size=(r, c)) * 2).astype(dtype)
    return log_pred, target, {}


@case("brier")
def _brier(rng, dtype, n):
    c = 3
    prob = _softmax(rng.normal(size=(_rows(n, c), c))).astype(dtype)
    labels = rng.integers(0, c, size=prob.shape[:-1])
    return prob, labels, {}


@case("categorical_hinge")
def _categorical_hinge(rng, dtype, n):
    c = 4
    scores = rng.normal(size=(_rows(n, c), c)).astype(dtype)
    labels = rng.integers(0, c, size=scores.shape[:-1])
    onehot = (labels[:, None] == np.arange(c)).astype(dtype)
    return scores, onehot, {}
