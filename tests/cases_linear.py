"""Test inputs of the fused linear cross-entropy (see tests/cases.py)."""

from __future__ import annotations

from cases import INDEPENDENT_SHAPES, case

INDEPENDENT_SHAPES.add("linear_cross_entropy")  # hidden (N, D) and linear_weight (C, D)


@case("linear_cross_entropy")
def _linear_cross_entropy(rng, dtype, n):
    # hidden (N, D), linear_weight (C, D) and bias (C,): small D and C, so the
    # property tests' sizes (up to 60000 rows) stay quick; several chunks only
    # come with large C (tests/test_linear.py)
    d, c = 3, 5
    m = max(1, n // 2)
    hidden = rng.normal(size=(m, d)).astype(dtype)
    weight = rng.normal(size=(c, d)).astype(dtype)
    bias = rng.normal(size=(c,)).astype(dtype)
    labels = rng.integers(0, c, size=m)
    return hidden, weight, {"labels": labels, "linear_bias": bias, "label_smoothing": 0.1}
