"""Test inputs of the embedding losses (see tests/cases.py)."""

from __future__ import annotations

from cases import case


@case("margin_ranking")
def _margin_ranking(rng, dtype, n):
    # (n, 2): any shape is element-wise here, and a last axis of 2 lets the
    # strided tests take every second element
    x1 = rng.normal(size=(n, 2)).astype(dtype)
    x2 = rng.normal(size=(n, 2)).astype(dtype)
    y = rng.choice([-1.0, 1.0], size=(n, 2)).astype(dtype)
    return x1, x2, {"y": y, "margin": 0.2}


# The row losses: (n, 4) embeddings, one loss per row.
def _rows(rng, dtype, n, k=3):
    return [rng.normal(size=(n, 4)).astype(dtype) for _ in range(k)]


@case("triplet_margin")
def _triplet_margin(rng, dtype, n):
    # swap on: both negative distances and their gradients are exercised
    a, p, neg = _rows(rng, dtype, n)
    return a, p, {"negative": neg, "margin": 0.5, "swap": True}


@case("triplet_margin_with_distance")
def _triplet_margin_with_distance(rng, dtype, n):
    # the euclidean distance is triplet_margin's p = 2 kernel; cosine is its own
    a, p, neg = _rows(rng, dtype, n)
    return a, p, {"negative": neg, "distance": "cosine", "margin": 0.3, "swap": True}


@case("cosine_embedding")
def _cosine_embedding(rng, dtype, n):
    x1, x2 = _rows(rng, dtype, n, 2)
    y = rng.choice([-1.0, 1.0], size=n).astype(dtype)
    return x1, x2, {"y": y, "margin": 0.1}


@case("contrastive")
def _contrastive(rng, dtype, n):
    # margin 3 against distances of about 2.8: both sides of the hinge
    x1, x2 = _rows(rng, dtype, n, 2)
    same = rng.choice([0.0, 1.0], size=n).astype(dtype)
    return x1, x2, {"same": same, "margin": 3.0}
