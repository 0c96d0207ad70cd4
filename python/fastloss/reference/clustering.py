"""NumPy reference of the k-means inertia (float64, all distances at once)."""

from __future__ import annotations

import numpy as np

from fastloss.reference._base import RefLoss, weights_like

__all__ = ["kmeans_inertia"]


def _kmeans_inertia(X, centers, reduction, sample_weight):
    X = np.asarray(X, dtype=np.float64)
    C = np.asarray(centers, dtype=np.float64)
    with np.errstate(all="ignore"):
        # the assignment as scikit-learn computes it, ||c||^2 - 2 x.c; the
        # first minimum (np.argmin: a NaN before any number, the first NaN)
        score = (C * C).sum(axis=1)[None, :] - 2.0 * (X @ C.T)
        labels = np.argmin(score, axis=1)
        l = ((X - C[labels]) ** 2).sum(axis=1)
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
