"""Test inputs of the clustering losses (see tests/cases.py)."""

from __future__ import annotations

from cases import INDEPENDENT_SHAPES, case

INDEPENDENT_SHAPES.add("kmeans_inertia")  # X (n, d) and centers (k, d)


@case("kmeans_inertia")
def _kmeans_inertia(rng, dtype, n):
    X = rng.normal(size=(n, 3)).astype(dtype)
    # centers apart, so no row sits near a tie (the assignment is piecewise
    # constant: finite differences must not cross it)
    centers = (rng.normal(size=(4, 3)) * 2.0).astype(dtype)
    return X, centers, {}
