"""Test inputs of the robust regression losses (see tests/cases.py)."""

from __future__ import annotations

import numpy as np

from cases import case


@case("barron")
def _barron(rng, dtype, n):
    pred = rng.normal(scale=2.0, size=(n, 3)).astype(dtype)
    target = rng.normal(size=(n, 3)).astype(dtype)
    # one shape per dimension (the reference's adaptive loss), away from the
    # limits at 0 and 2; one scale per dimension too, > 0
    alpha = np.array([-1.5, 0.5, 3.0], dtype=dtype)
    scale = rng.uniform(0.5, 2.0, size=(3,)).astype(dtype)
    return pred, target, {"alpha": alpha, "scale": scale}
