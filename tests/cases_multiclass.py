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


@case("nll")
def _nll(rng, dtype, n):
    # (N, 2, C) log-probabilities, a spatial axis as cross_entropy's case
    c = 4
    m = max(1, n // 4)
    z = rng.normal(size=(m, 2, c)) * 2
    log_probs = (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(dtype)
    return log_probs, rng.integers(0, c, size=(m, 2)), {}


@case("multilabel_soft_margin")
def _multilabel_soft_margin(rng, dtype, n):
    c = 5
    logits = (rng.normal(size=(_rows(n, c), c)) * 3).astype(dtype)
    target = rng.integers(0, 2, size=logits.shape).astype(dtype)
    return logits, target, {"class_weight": np.array([0.5, 1.0, 2.0, 1.0, 0.25])}


@case("multilabel_margin")
def _multilabel_margin(rng, dtype, n):
    # each row lists 1..C-1 target classes, then -1; some rows hold indices
    # after the -1 (not read, as PyTorch) and one row fills its whole width
    c = 5
    r = _rows(n, c)
    scores = (rng.normal(size=(r, c)) * 2).astype(dtype)
    target = np.full((r, c), -1, dtype=np.int64)
    for i in range(r):
        k = int(rng.integers(1, c))
        target[i, :k] = rng.permutation(c)[:k]
        if k + 1 < c and i % 3 == 0:
            target[i, k + 1] = int(rng.integers(0, c))
    target[0] = rng.permutation(c)
    return scores, target, {}
