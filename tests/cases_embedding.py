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
