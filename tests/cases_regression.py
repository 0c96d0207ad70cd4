"""Test inputs for the regression family (see cases.py)."""

from __future__ import annotations

import numpy as np  # noqa: F401

from cases import case


@case("mse", "mae")
def _regression(rng, dtype, n):
    pred = (rng.normal(size=(n, 3)) * 2).astype(dtype)
    target = rng.normal(size=(n, 3)).astype(dtype)
    return pred, target, {}


@case("huber")
def _huber(rng, dtype, n):
    pred, target, _ = _regression(rng, dtype, n)
    return pred, target, {"delta": 0.7}


@case("smooth_l1")
def _smooth_l1(rng, dtype, n):
    pred, target, _ = _regression(rng, dtype, n)
    return pred, target, {"beta": 1.3}


@case("log_cosh", "rmse")
def _residuals(rng, dtype, n):
    return _regression(rng, dtype, n)


@case("quantile")
def _quantile(rng, dtype, n):
    pred, target, _ = _regression(rng, dtype, n)
    return pred, target, {"quantile": 0.8}


@case("mape")
def _mape(rng, dtype, n):
    target = rng.uniform(0.2, 3.0, size=(n, 3)) * rng.choice([-1.0, 1.0], size=(n, 3))
    pred = target + rng.normal(size=(n, 3))
    return pred.astype(dtype), target.astype(dtype), {}


@case("msle")
def _msle(rng, dtype, n):
    pred = rng.uniform(-0.9, 5.0, size=(n, 3)).astype(dtype)
    target = rng.uniform(-0.9, 5.0, size=(n, 3)).astype(dtype)
    return pred, target, {}


@case("poisson_nll")
def _poisson_nll(rng, dtype, n):
    pred = rng.normal(size=(n, 3)).astype(dtype)  # log-rate
    target = rng.poisson(2.0, size=(n, 3)).astype(dtype)
    return pred, target, {"full": True}


@case("gaussian_nll")
def _gaussian_nll(rng, dtype, n):
    pred, target, _ = _regression(rng, dtype, n)
    var = rng.uniform(0.1, 2.0, size=(n, 3)).astype(dtype)
    return pred, target, {"var": var}


@case("tweedie")
def _tweedie(rng, dtype, n):
    pred = rng.uniform(0.3, 4.0, size=(n, 3)).astype(dtype)  # the mean
    target = rng.gamma(1.0, 2.0, size=(n, 3)) * (rng.uniform(size=(n, 3)) < 0.7)
    return pred, target.astype(dtype), {"power": 1.5}


@case("pseudo_huber")
def _pseudo_huber(rng, dtype, n):
    pred, target, _ = _regression(rng, dtype, n)
    return pred, target, {"delta": 0.8}
