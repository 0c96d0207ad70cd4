"""NumPy references of the embedding losses (float64, plain formulas)."""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss, elementwise

__all__ = ["margin_ranking"]


def _margin_ranking(x1, x2, y, margin=0.0):
    y = np.asarray(y, dtype=np.float64)
    z = -y * (x1 - x2) + margin
    g = np.where(z >= 0, -y, 0.0)  # torch's clamp_min passes the gradient at 0
    g = np.where(np.isnan(z), z, g)  # NaN propagates (torch: 0)
    return np.maximum(z, 0.0), (g, -g), None


margin_ranking = RefLoss(
    "margin_ranking", elementwise(_margin_ranking), inputs=("y",), wrt=("x1", "x2")
)
