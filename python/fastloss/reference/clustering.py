"""NumPy reference of the k-means inertia (float64, all distances at once)."""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss, weights_like

__all__ = ["kmeans_inertia"]


def _kmeans_inertia(X, centers, reduction, sample_weight, return_labels=False):
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    with np.errstate(all="ignore"):
        dist = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
        labels = np.argmin(dist, axis=1)  # the first minimum, as scikit-learn
        l = dist[np.arange(len(X)), labels]
        w = weights_like(sample_weight, l.shape)
        gs = np.ones_like(l) if w is None else np.array(w, dtype=np.float64)
        if reduction == "none":
            v = l * gs
        else:
            v = float(np.sum(l * gs))
            if reduction == "mean":
                denom = float(np.sum(gs))
                v = v / denom if denom else float("nan")
                gs = gs / denom
        g = np.zeros_like(C)
        for k in range(len(C)):
            sel = labels == k
            g[k] = 2 * (C[k] * gs[sel].sum() - (gs[sel, None] * X[sel]).sum(axis=0))
    return v, g, None


kmeans_inertia = RefLoss("kmeans_inertia", _kmeans_inertia, wrt=("centers",))
