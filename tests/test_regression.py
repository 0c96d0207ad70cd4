"""mse, mae, huber, smooth_l1: hand values, peers, extremes."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

REDUCTIONS = ["mean", "sum", "none"]


def test_hand_computed_values():
    p = np.array([0.5, 3.0, -2.0])
    y = np.array([0.0, 0.0, 0.0])
    # r = 0.5, 3, -2
    assert fl.mse(p, y) == pytest.approx((0.25 + 9 + 4) / 3, rel=1e-15)
    assert fl.mae(p, y, reduction="sum") == 5.5
    # huber delta=1: 0.125, 1*(3-0.5)=2.5, 1*(2-0.5)=1.5
    assert fl.huber(p, y) == pytest.approx((0.125 + 2.5 + 1.5) / 3, rel=1e-15)
    # delta=2.5: 0.125, 2.5*(3-1.25)=4.375, 0.5*4=2
    np.testing.assert_allclose(
        fl.huber(p, y, delta=2.5, reduction="none"), [0.125, 4.375, 2.0], rtol=1e-15
    )
    # smooth_l1 beta=2: 0.5*0.25/2=0.0625, 3-1=2, 2-1=1
    np.testing.assert_allclose(
        fl.smooth_l1(p, y, beta=2.0, reduction="none"), [0.0625, 2.0, 1.0], rtol=1e-15
    )
    np.testing.assert_allclose(fl.huber.grad(p, y, reduction="sum"), [0.5, 1.0, -1.0])
    np.testing.assert_allclose(
        fl.mae.grad(p, np.array([0.5, 0.0, 0.0]), reduction="sum"), [0.0, 1.0, -1.0]
    )
    g, h = fl.mse.grad_hess(p, y, reduction="none")
    np.testing.assert_allclose(g, 2 * p)
    np.testing.assert_allclose(h, [2.0, 2.0, 2.0])
    g, h = fl.huber.grad_hess(p, y, reduction="mean")
    np.testing.assert_allclose(h, [1 / 3, 0.0, 0.0])


def test_weighted_mean_is_sum_w_l_over_sum_w():
    p = np.array([1.0, 2.0, 3.0])
    y = np.zeros(3)
    w = np.array([1.0, 0.0, 3.0])
    assert fl.mse(p, y, sample_weight=w) == pytest.approx((1 + 27) / 4, rel=1e-15)
    np.testing.assert_allclose(fl.mse.grad(p, y, sample_weight=w), [2 / 4, 0, 18 / 4])


def test_per_sample_weights_broadcast_over_outputs():
    rng = np.random.default_rng(0)
    p, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    w = rng.uniform(size=5)
    a = fl.mse(p, y, sample_weight=w)
    b = fl.mse(p, y, sample_weight=np.repeat(w[:, None], 3, axis=1))
    assert a == pytest.approx(b, rel=1e-14)


def test_empty_input():
    e = np.zeros(0)
    assert np.isnan(fl.mse(e, e))
    assert fl.mse(e, e, reduction="sum") == 0.0
    assert fl.mse.grad(e, e).shape == (0,)


def test_zero_dim_input():
    assert fl.mse(np.float64(3.0), np.float64(1.0)) == 4.0
    assert fl.mse.grad(3.0, 1.0).shape == ()


def test_huge_and_infinite_residuals():
    p = np.array([1e300, -1e300, np.inf, 1e4], dtype=np.float64)
    y = np.zeros(4)
    v = fl.huber(p, y, reduction="none")
    assert np.all(np.isfinite(v[:2])) and v[2] == np.inf
    g = fl.huber.grad(p, y, reduction="none")
    np.testing.assert_array_equal(g, [1.0, -1.0, 1.0, 1.0])
    assert fl.mae.grad(p, y, reduction="none")[2] == 1.0
    assert fl.mse(np.float32([1e20]), np.float32([0.0])) == np.inf  # float32 overflow of r*r


def test_accepts_lists_scalars_and_dlpack():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32)
    assert fl.mse(t, t + 1) == 1.0
    assert fl.mse([1, 2, 3], [1, 2, 5]) == pytest.approx(4 / 3)


# ---------------------------------------------------------------- peers

TORCH_FN = {
    "mse": lambda F, p, y, r, kw: F.mse_loss(p, y, reduction=r),
    "mae": lambda F, p, y, r, kw: F.l1_loss(p, y, reduction=r),
    "huber": lambda F, p, y, r, kw: F.huber_loss(p, y, reduction=r, delta=kw["delta"]),
    "smooth_l1": lambda F, p, y, r, kw: F.smooth_l1_loss(p, y, reduction=r, beta=kw["beta"]),
}


@pytest.mark.parametrize("name", list(TORCH_FN))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch(name, reduction, dtype):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(1)
    p = (rng.normal(size=(64, 7)) * 3).astype(dtype)
    y = rng.normal(size=(64, 7)).astype(dtype)
    p[0, :3] = y[0, :3]  # exact zero residuals: the subgradient convention
    kw = {"huber": {"delta": 0.8}, "smooth_l1": {"beta": 1.7}}.get(name, {})
    tp = torch.tensor(p, requires_grad=True)
    tv = TORCH_FN[name](F, tp, torch.tensor(y), reduction, kw)
    tv.backward(torch.ones_like(tv))
    v, g = fl.get(name).value_and_grad(p, y, reduction=reduction, **kw)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(v, tv.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(g, tp.grad.numpy(), rtol=tol, atol=tol * 1e-2)


@pytest.mark.parametrize(
    "name, metric", [("mse", "mean_squared_error"), ("mae", "mean_absolute_error")]
)
def test_matches_sklearn_metrics(name, metric):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(2)
    p, y, w = rng.normal(size=300), rng.normal(size=300), rng.uniform(size=300)
    assert fl.get(name)(p, y) == pytest.approx(getattr(metrics, metric)(y, p), rel=1e-12)
    assert fl.get(name)(p, y, sample_weight=w) == pytest.approx(
        getattr(metrics, metric)(y, p, sample_weight=w), rel=1e-12
    )
    # multi-output: sklearn's uniform average of columns equals the global mean
    P, Y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    assert fl.get(name)(P, Y) == pytest.approx(getattr(metrics, metric)(Y, P), rel=1e-12)
