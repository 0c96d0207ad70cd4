"""Test inputs of the RL and physics losses (see tests/cases.py)."""

from __future__ import annotations

from cases import INDEPENDENT_SHAPES, case

INDEPENDENT_SHAPES.add("pinn")  # its residual arrays have sizes of their own


@case("td_error")
def _td_error(rng, dtype, n):
    q = rng.normal(scale=2.0, size=(n, 2)).astype(dtype)
    rewards = rng.normal(size=(n, 2)).astype(dtype)
    next_q = rng.normal(scale=2.0, size=(n, 2)).astype(dtype)
    dones = (rng.uniform(size=(n, 2)) < 0.2).astype(dtype)
    return q, rewards, {"next_q": next_q, "dones": dones, "gamma": 0.9}


@case("pinn")
def _pinn(rng, dtype, n):
    residual = rng.normal(size=(n, 2)).astype(dtype)
    boundary = rng.normal(size=(n // 2 + 1, 2)).astype(dtype)
    data = rng.normal(size=(n + 5,)).astype(dtype)
    return residual, boundary, {"data": data, "weights": (1.0, 10.0, 0.5)}
