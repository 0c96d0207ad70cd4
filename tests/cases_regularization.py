"""Test inputs of the auxiliary and regularization losses (see tests/cases.py)."""

from __future__ import annotations

from cases import case


@case("l1_penalty", "l2_penalty")
def _w(rng, dtype, n):
    return rng.normal(size=(n, 2)).astype(dtype), None, {}


@case("elastic_net")
def _elastic(rng, dtype, n):
    return rng.normal(size=(n, 2)).astype(dtype), None, {"l1_ratio": 0.3}


@case("entropy", "router_z_loss")
def _logits(rng, dtype, n):
    return rng.normal(scale=2.0, size=(n, 5)).astype(dtype), None, {}


@case("center")
def _center(rng, dtype, n):
    x = rng.normal(size=(n, 4)).astype(dtype)
    labels = rng.integers(0, 3, size=n)
    centers = rng.normal(size=(3, 4)).astype(dtype)
    return x, labels, {"centers": centers}


@case("orthogonality")
def _orthogonality(rng, dtype, n):
    # wide for n small, tall for n large: both Gram forms
    return rng.normal(scale=0.5, size=(max(2, n // 50), 5)).astype(dtype), None, {}


@case("kl_sparsity")
def _kl_sparsity(rng, dtype, n):
    return rng.uniform(0.01, 0.3, size=(n, 6)).astype(dtype), None, {"rho": 0.1}


@case("moe_load_balancing")
def _moe(rng, dtype, n):
    logits = rng.normal(size=(n, 4))
    p = (np_softmax(logits)).astype(dtype)
    return p, rng.integers(0, 4, size=n), {}


def np_softmax(z):
    import numpy as np

    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
