"""Test inputs for the boxes family (see cases.py): ``n`` boxes, valid
(x2 > x1, y2 > y1), a mix of overlapping, nested and disjoint pairs."""

from __future__ import annotations

import numpy as np

from cases import case


def random_boxes(rng, n, lo=-10.0, hi=10.0, wmax=6.0):
    xy = rng.uniform(lo, hi, size=(n, 2))
    wh = rng.uniform(0.05, wmax, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


@case("box_iou_loss", "giou_loss", "diou_loss", "ciou_loss")
def _boxes(rng, dtype, n):
    target = random_boxes(rng, n)
    # pred near its target (mostly overlapping), a quarter drawn anywhere
    jitter = rng.normal(scale=1.0, size=(n, 4))
    pred = target + jitter
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 0.05)
    far = rng.random(n) < 0.25
    pred[far] = random_boxes(rng, int(far.sum()))
    return pred.astype(dtype), target.astype(dtype), {"eps": 1e-7}
