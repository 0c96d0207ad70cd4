"""NumPy reference of the fused linear cross-entropy: the logits in full.

The oracle makes what the kernel path never holds, the ``(N, C)`` logits
``hidden @ linear_weight.T + linear_bias`` in float64, takes the
cross-entropy reference on them, and applies the chain rule of the linear
layer to its gradient.
"""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss
from fastloss.reference.multiclass import _cross_entropy

__all__ = ["linear_cross_entropy"]


def _linear_cross_entropy(
    hidden,
    linear_weight,
    reduction,
    sample_weight,
    labels=None,
    linear_bias=None,
    class_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
):
    h = np.asarray(hidden, dtype=np.float64)
    W = np.asarray(linear_weight, dtype=np.float64)
    z = h @ W.T
    if linear_bias is not None:
        z = z + np.asarray(linear_bias, dtype=np.float64)
    v, gz, _ = _cross_entropy(
        z, np.asarray(labels), reduction, sample_weight, class_weight, ignore_index, label_smoothing
    )
    # "none": the gradients of the (weighted) per-row losses' sum
    g2 = gz.reshape(-1, W.shape[0])
    gh = (g2 @ W).reshape(h.shape)
    gw = g2.T @ h.reshape(-1, W.shape[1])
    gb = None if linear_bias is None else g2.sum(axis=0)
    return v, (gh, gw, gb), None


linear_cross_entropy = RefLoss(
    "linear_cross_entropy",
    _linear_cross_entropy,
    inputs=("labels", "linear_bias"),
    wrt=("hidden", "linear_weight", "linear_bias"),
)
