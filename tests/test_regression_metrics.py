"""Regression error metrics: log_cosh, quantile, mape, msle, rmse.

The registry-wide properties (reference, finite differences, threads, ISAs,
weights, out=) run in test_properties.py on the default case of each loss;
here: hand-computed values, the named peers (scikit-learn's metrics,
PyTorch), accuracy where the direct formula loses it, extreme inputs and
bad arguments.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import fastloss as fl

F64 = np.float64


def torch_or_skip():
    return pytest.importorskip("torch")


def sk_metrics():
    return pytest.importorskip("sklearn.metrics")


def assert_matches_sklearn(loss, metric, p, y, w, rel, **params):
    """``loss(p, y)`` equals scikit-learn's ``metric(y, p)`` (target first),
    unweighted and with ``sample_weight=w``."""
    assert loss(p, y, **params) == pytest.approx(metric(y, p), rel=rel)
    assert loss(p, y, sample_weight=w, **params) == pytest.approx(
        metric(y, p, sample_weight=w), rel=rel
    )


# --------------------------------------------------------------------- log_cosh


def test_log_cosh_hand_values():
    r = np.array([0.5, -2.0, 0.0, 30.0])
    expected = [math.log(math.cosh(x)) for x in r]
    v = fl.log_cosh(r, np.zeros(4), reduction="none")
    np.testing.assert_allclose(v, expected, rtol=1e-14, atol=0)
    g, h = fl.log_cosh.grad_hess(r, np.zeros(4), reduction="none")
    np.testing.assert_allclose(g, np.tanh(r), rtol=1e-14, atol=0)
    # sech^2, not 1 - tanh^2 (which cancels to 0 at r = 30; sech^2(30) ~ 3.5e-26)
    np.testing.assert_allclose(h, [1 / math.cosh(x) ** 2 for x in r], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_cosh_huge_residuals_do_not_overflow(dtype):
    r = np.array([1e4, -1e4, 400.0, -1e30], dtype=dtype)
    v = fl.log_cosh(r, np.zeros_like(r), reduction="none")
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(v, np.abs(r.astype(F64)) - math.log(2), rtol=1e-6)
    g, h = fl.log_cosh.grad_hess(r, np.zeros_like(r), reduction="none")
    np.testing.assert_array_equal(g, np.sign(r))
    assert np.all(h == 0) and np.all(np.isfinite(h))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 1e-6)])
def test_log_cosh_tiny_residuals_keep_relative_accuracy(dtype, rtol):
    # Taylor series: no cancellation to 0 (or to garbage) for tiny r
    r = np.array([1e-8, 3e-5, -1e-3, 1e-150 if dtype == np.float64 else 1e-15], dtype=dtype)
    rr = r.astype(F64)
    v = fl.log_cosh(r, np.zeros_like(r), reduction="none")
    np.testing.assert_allclose(v, rr**2 / 2 - rr**4 / 12 + rr**6 / 45, rtol=rtol)
    g, h = fl.log_cosh.grad_hess(r, np.zeros_like(r), reduction="none")
    np.testing.assert_allclose(g, rr - rr**3 / 3 + 2 * rr**5 / 15, rtol=rtol)
    np.testing.assert_allclose(h, 1 - rr**2 + 2 * rr**4 / 3, rtol=rtol)


def test_log_cosh_against_its_definition_and_torch():
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    p, y = rng.normal(size=200) * 3, rng.normal(size=200)
    pt = torch.tensor(p, requires_grad=True)
    val = torch.log(torch.cosh(pt - torch.tensor(y))).mean()
    val.backward()
    v, g = fl.log_cosh.value_and_grad(p, y)
    assert v == pytest.approx(val.item(), rel=1e-13)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12, atol=1e-16)


# --------------------------------------------------------------------- quantile


def test_quantile_hand_values_and_kink():
    # d = target - pred = (1, -1, 0): 0.9 * 1, 0.1 * 1, 0
    v = fl.quantile([1.0, 3.0, 2.0], [2.0, 2.0, 2.0], quantile=0.9, reduction="none")
    np.testing.assert_allclose(v, [0.9, 0.1, 0.0], rtol=1e-15)
    g, h = fl.quantile.grad_hess([1.0, 3.0, 2.0], [2.0, 2.0, 2.0], quantile=0.9, reduction="none")
    np.testing.assert_allclose(g, [-0.9, 0.1, -0.9], rtol=1e-15)  # -q at the kink, as sklearn
    np.testing.assert_array_equal(h, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("q", [0.05, 0.5, 0.8, 0.99])
def test_quantile_matches_sklearn(q, rng):
    M = sk_metrics()
    y, p = rng.normal(size=300), rng.normal(size=300)
    w = rng.uniform(0.1, 3.0, size=300)
    pinball = functools.partial(M.mean_pinball_loss, alpha=q)
    assert_matches_sklearn(fl.quantile, pinball, p, y, w, 1e-13, quantile=q)
    y2, p2 = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert fl.quantile(p2, y2, quantile=q) == pytest.approx(
        M.mean_pinball_loss(y2, p2, alpha=q), rel=1e-13
    )


def test_quantile_gradient_matches_sklearn_pinball_loss(rng):
    PinballLoss = pytest.importorskip("sklearn._loss.loss").PinballLoss

    y, p = rng.normal(size=100), rng.normal(size=100)
    g, h = fl.quantile.grad_hess(p, y, quantile=0.3, reduction="none")
    sg, _ = PinballLoss(quantile=0.3).gradient_hessian(y, p)
    np.testing.assert_allclose(g, sg, rtol=1e-15)
    np.testing.assert_array_equal(h, 0.0)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5, float("nan")])
def test_quantile_out_of_range(bad):
    with pytest.raises(ValueError, match="quantile"):
        fl.quantile([1.0], [2.0], quantile=bad)


def test_quantile_not_a_number():
    with pytest.raises(TypeError, match="quantile"):
        fl.quantile([1.0], [2.0], quantile="0.5")


# --------------------------------------------------------------------- mape


def test_mape_hand_values():
    v = fl.mape([110.0, 45.0, -3.0], [100.0, 50.0, -2.0], reduction="none")
    np.testing.assert_allclose(v, [0.1, 0.1, 0.5], rtol=1e-14)
    g = fl.mape.grad([110.0, 45.0, -2.0], [100.0, 50.0, -2.0], reduction="none")
    np.testing.assert_allclose(g, [0.01, -0.02, 0.0], rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mape_zero_target_uses_float64_eps(dtype):
    eps = np.finfo(np.float64).eps
    v = fl.mape(np.array([1e-10, 0.0], dtype), np.zeros(2, dtype), reduction="none")
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(v, [np.float64(np.array(1e-10, dtype)) / eps, 0.0], rtol=1e-6)


def test_mape_matches_sklearn(rng):
    M = sk_metrics()
    y = rng.normal(size=400)
    y[:3] = 0.0  # the eps floor
    p = y + rng.normal(size=400)
    w = rng.uniform(0.1, 2.0, size=400)
    assert_matches_sklearn(fl.mape, M.mean_absolute_percentage_error, p, y, w, 1e-12)


# --------------------------------------------------------------------- msle


def test_msle_matches_sklearn_including_negative_values(rng):
    M = sk_metrics()
    y = rng.uniform(-0.99, 10.0, size=300)
    p = rng.uniform(-0.99, 10.0, size=300)
    w = rng.uniform(0.1, 2.0, size=300)
    assert_matches_sklearn(fl.msle, M.mean_squared_log_error, p, y, w, 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_msle_is_accurate_where_pred_and_target_are_close(rng, dtype):
    # A trained model's predictions sit close to their targets: there
    # log1p(p) - log1p(y) cancels, and taking it as a difference of two logs
    # leaves mostly their rounding errors (1e9 ulp in float32). fastloss's
    # d keeps a few ulp, so d^2 and the gradient 2 d / (1 + p) keep float
    # precision element by element against a float64 (float32 inputs) or
    # long double (float64 inputs) reference of the same inputs.
    y = rng.uniform(-0.9, 50.0, size=4000).astype(dtype)
    p = np.concatenate(
        [
            y[:1000] * (1 + rng.normal(0, 1e-4, 1000)).astype(dtype),
            np.nextafter(y[1000:2000], dtype(100)),
            y[2000:] + rng.normal(0, 1e-3, 2000).astype(dtype),
        ]
    ).astype(dtype)
    keep = (p > -1) & (p != y)
    p, y = p[keep], y[keep]
    ref_t = np.float64 if dtype == np.float32 else np.longdouble
    pl, yl = p.astype(ref_t), y.astype(ref_t)
    d = np.log1p((pl - yl) / (1 + yl))  # no cancellation: |ratio| is small here
    rtol = 2e-6 if dtype == np.float32 else 4e-15
    np.testing.assert_allclose(fl.msle(p, y, reduction="none").astype(ref_t), d * d, rtol=rtol)
    np.testing.assert_allclose(
        fl.msle.grad(p, y, reduction="none").astype(ref_t), 2 * d / (1 + pl), rtol=rtol
    )


def test_msle_gradient_by_hand():
    # d/dp (log1p p - log1p y)^2 = 2 (log1p p - log1p y) / (1 + p)
    g = fl.msle.grad([math.e - 1.0, 0.0], [0.0, math.e**2 - 1.0], reduction="none")
    np.testing.assert_allclose(g, [2.0 / math.e, -4.0], rtol=1e-13)


@pytest.mark.parametrize("where", ["pred", "target"])
@pytest.mark.parametrize("bad", [-1.0, -3.0, -np.inf])
def test_msle_refuses_values_at_or_below_minus_one(where, bad):
    p, y = np.array([0.5, 1.0, 2.0]), np.array([0.5, 1.0, 2.0])
    (p if where == "pred" else y)[1] = bad
    with pytest.raises(ValueError, match=rf"msle: every value of {where} must be > -1"):
        fl.msle(p, y)
    with pytest.raises(ValueError, match=where):
        fl.msle.grad(p, y)


def test_msle_nan_propagates_and_a_hidden_bad_value_is_still_found():
    assert math.isnan(fl.msle([np.nan, 1.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="pred"):
        fl.msle([np.nan, -2.0], [1.0, 1.0])


# --------------------------------------------------------------------- rmse


def test_rmse_matches_sklearn_1d(rng):
    M = sk_metrics()
    y, p = rng.normal(size=500), rng.normal(size=500)
    w = rng.uniform(0.1, 2.0, size=500)
    assert_matches_sklearn(fl.rmse, M.root_mean_squared_error, p, y, w, 1e-13)


def test_rmse_2d_is_the_global_mean_not_sklearns_column_average(rng):
    M = sk_metrics()
    y = rng.normal(size=(200, 2))
    p = y + rng.normal(size=(200, 2)) * np.array([0.1, 5.0])  # very different columns
    w = rng.uniform(0.1, 2.0, size=200)
    ours = fl.rmse(p, y, sample_weight=w)
    flat = M.root_mean_squared_error(y.ravel(), p.ravel(), sample_weight=np.repeat(w, 2))
    assert ours == pytest.approx(flat, rel=1e-13)
    sk_default = M.root_mean_squared_error(y, p, sample_weight=w)  # mean of column RMSEs
    assert abs(ours - sk_default) > 0.1


def test_rmse_gradient_matches_torch_autograd(rng):
    torch = torch_or_skip()
    y, p = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    w = rng.uniform(0.1, 2.0, size=(30, 4))
    pt = torch.tensor(p, requires_grad=True)
    wt, yt = torch.tensor(w), torch.tensor(y)
    val = torch.sqrt((wt * (pt - yt) ** 2).sum() / wt.sum())
    val.backward()
    v, g = fl.rmse.value_and_grad(p, y, sample_weight=w)
    assert v == pytest.approx(val.item(), rel=1e-13)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12)


def test_rmse_reductions_are_one_consistent_object(rng):
    y, p = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    w = rng.uniform(0.1, 2.0, size=40)
    W = 3 * w.sum()
    mean = fl.rmse(p, y, sample_weight=w)
    total = fl.rmse(p, y, sample_weight=w, reduction="sum")
    shares = fl.rmse(p, y, sample_weight=w, reduction="none")
    assert total == pytest.approx(W * mean, rel=1e-13)
    assert shares.sum() == pytest.approx(total, rel=1e-12)
    # each share is w r^2 / RMSE
    np.testing.assert_allclose(shares, w[:, None] * (p - y) ** 2 / mean, rtol=1e-12)
    g_mean = fl.rmse.grad(p, y, sample_weight=w)
    g_none = fl.rmse.grad(p, y, sample_weight=w, reduction="none")
    np.testing.assert_allclose(
        fl.rmse.grad(p, y, sample_weight=w, reduction="sum"), W * g_mean, rtol=1e-12
    )
    np.testing.assert_allclose(g_none, W * g_mean, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rmse_zero_error_has_zero_gradient(reduction, dtype):
    p = np.array([[1.0, 2.0], [3.0, 4.0]], dtype)
    v, g = fl.rmse.value_and_grad(p, p.copy(), reduction=reduction)
    assert np.all(np.asarray(v) == 0)
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, np.zeros_like(p))
    # zero weights on the only nonzero residual: also RMSE 0
    t = p.copy()
    t[0, 0] += 1
    w = np.array([[0.0, 1.0], [1.0, 1.0]], dtype)
    v, g = fl.rmse.value_and_grad(p, t, sample_weight=w, reduction=reduction)
    assert np.all(np.asarray(v) == 0) and not np.any(np.isnan(g))


def test_rmse_extremes_and_empty():
    assert fl.rmse([1e200, 0.0], [0.0, 0.0]) == math.inf  # r^2 overflows, as in sklearn
    assert math.isnan(fl.rmse(np.zeros(0), np.zeros(0)))
    assert math.isnan(fl.rmse([np.nan, 1.0], [0.0, 0.0]))
    assert np.all(np.isnan(fl.rmse.grad([np.nan, 1.0], [0.0, 0.0])))


def test_rmse_bad_arguments():
    with pytest.raises(TypeError, match="delta"):
        fl.rmse([1.0], [2.0], delta=1.0)
    with pytest.raises(TypeError, match="Hessian"):
        fl.rmse.grad_hess([1.0], [2.0])
    with pytest.raises(ValueError, match="same shape"):
        fl.rmse([1.0, 2.0], [2.0])
    with pytest.raises(ValueError, match="reduction"):
        fl.rmse([1.0], [2.0], reduction="max")
    with pytest.raises(ValueError, match="sample_weight"):
        fl.rmse([1.0, 2.0], [2.0, 3.0], sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="out"):
        fl.rmse.grad([1.0, 2.0], [2.0, 3.0], out=np.empty(3))


def test_rmse_out_is_scaled_in_place():
    out = np.full(2, np.nan)
    g = fl.rmse.grad([3.0, 0.0], [0.0, 4.0], out=out)
    assert g is out
    # RMSE = sqrt(12.5); d/dp_i = r_i / (n RMSE)
    np.testing.assert_allclose(
        out, [3.0 / (2 * math.sqrt(12.5)), -4.0 / (2 * math.sqrt(12.5))], rtol=1e-15
    )
