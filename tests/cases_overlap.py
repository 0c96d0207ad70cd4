"""Test inputs for the overlap family (see cases.py).

Probabilities in (0.01, 0.99), binary masks with about 30% foreground. The
cases differ in ``axis`` so the property tests cover the default (one score
per sample), trailing axes (per sample and class, no copy) and non-trailing
axes (moved last by one copy).
"""

from __future__ import annotations

from cases import case


def _masks(rng, dtype, shape):
    pred = rng.uniform(0.01, 0.99, size=shape).astype(dtype)
    target = (rng.random(shape) < 0.3).astype(dtype)
    return pred, target


@case("dice")
def _dice(rng, dtype, n):
    pred, target = _masks(rng, dtype, (max(2, n // 64), 2, 4, 8))
    return pred, target, {"smooth": 1e-3}


@case("iou")
def _iou(rng, dtype, n):
    pred, target = _masks(rng, dtype, (max(2, n // 64), 2, 4, 8))
    return pred, target, {"axis": (2, 3)}


@case("tversky")
def _tversky(rng, dtype, n):
    pred, target = _masks(rng, dtype, (max(2, n // 64), 2, 4, 8))
    return pred, target, {"alpha": 0.3, "beta": 0.7, "smooth": 0.5, "axis": (1, -1)}


@case("generalized_dice")
def _generalized_dice(rng, dtype, n):
    pred, target = _masks(rng, dtype, (max(2, n // 48), 3, 16))
    return pred, target, {}
