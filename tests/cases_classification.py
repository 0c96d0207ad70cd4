"""Test inputs for the binary classification family (see cases.py)."""

from __future__ import annotations

import numpy as np

from cases import case


def _labels01(rng, dtype, shape):
    return rng.integers(0, 2, size=shape).astype(dtype)


@case("binary_cross_entropy")
def _bce(rng, dtype, n):
    prob = rng.uniform(0.02, 0.98, size=(n, 3)).astype(dtype)
    return prob, _labels01(rng, dtype, (n, 3)), {}


@case("binary_cross_entropy_with_logits")
def _bce_logits(rng, dtype, n):
    # pos_weight per column: exercises the per-element aux path
    logits = (rng.normal(size=(n, 3)) * 3).astype(dtype)
    return logits, _labels01(rng, dtype, (n, 3)), {"pos_weight": np.array([0.5, 1.0, 3.0])}


@case("hinge", "squared_hinge")
def _hinge(rng, dtype, n):
    score = (rng.normal(size=(n, 2)) * 2).astype(dtype)
    target = np.where(rng.integers(0, 2, size=(n, 2)) == 1, 1.0, -1.0).astype(dtype)
    return score, target, {"margin": 0.8}


@case("sigmoid_focal")
def _focal(rng, dtype, n):
    logits = (rng.normal(size=(n, 3)) * 3).astype(dtype)
    return logits, _labels01(rng, dtype, (n, 3)), {"alpha": 0.3, "gamma": 1.5}


@case("soft_margin")
def _soft_margin(rng, dtype, n):
    score = (rng.normal(size=(n, 2)) * 3).astype(dtype)
    target = np.where(rng.integers(0, 2, size=(n, 2)) == 1, 1.0, -1.0).astype(dtype)
    return score, target, {}


@case("hinge_embedding")
def _hinge_embedding(rng, dtype, n):
    # distances, half of them inside the margin
    x = rng.uniform(0.0, 2.0, size=(n, 2)).astype(dtype)
    target = np.where(rng.integers(0, 2, size=(n, 2)) == 1, 1.0, -1.0).astype(dtype)
    return x, target, {"margin": 1.2}
