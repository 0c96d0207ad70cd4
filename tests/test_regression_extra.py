"""Family tests for the regression losses of issue 4: log_cosh, quantile, mape,
msle, rmse, poisson_nll, gaussian_nll, tweedie.

The registry-wide properties (reference, finite differences, threads, ISAs,
weights, out=) run in test_properties.py on the default case of each loss;
here: hand-computed values, the named peers (scikit-learn, PyTorch), every
parameter combination against the reference and finite differences, extreme
inputs and bad arguments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R
from cases import grads

F64 = np.float64


def torch_or_skip():
    return pytest.importorskip("torch")


def sk_metrics():
    return pytest.importorskip("sklearn.metrics")


def fd_grad(ref, pred, target, params, h=1e-6):
    """Fourth-order central differences of ref's summed value."""
    fd = np.empty_like(pred)
    for i in range(pred.size):
        hi = h * max(1.0, abs(pred.flat[i]))

        def f(d, i=i):
            p = pred.copy()
            p.flat[i] += d
            return ref(p, target, reduction="sum", **params)

        fd.flat[i] = (-f(2 * hi) + 8 * f(hi) - 8 * f(-hi) + f(-2 * hi)) / (12 * hi)
    return fd


def check_against_reference_and_fd(name, pred, target, params, hess=True):
    loss, ref = fl.get(name), R.get(name)
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 2e-5)):
        p, t = pred.astype(dtype), target.astype(dtype)
        for red in ("mean", "sum", "none"):
            v, g = loss.value_and_grad(p, t, reduction=red, **params)
            rv, rg = ref.value_and_grad(p, t, reduction=red, **params)
            scale = max(1.0, float(np.max(np.abs(rv))))
            np.testing.assert_allclose(v, rv, rtol=rtol, atol=rtol * scale)
            for gk, rgk in zip(grads(g), grads(rg)):  # every differentiable input
                gscale = max(1.0, float(np.max(np.abs(rgk))))
                np.testing.assert_allclose(gk, rgk, rtol=rtol, atol=rtol * gscale)
            rg = grads(rg)[0]
            gscale = max(1.0, float(np.max(np.abs(rg))))
            if hess and loss.has_hess:
                gh, hh = loss.grad_hess(p, t, reduction=red, **params)
                rgh, rhh = ref.grad_hess(p, t, reduction=red, **params)
                np.testing.assert_allclose(gh, rgh, rtol=rtol, atol=rtol * gscale)
                hscale = max(1.0, float(np.max(np.abs(rhh))))
                np.testing.assert_allclose(hh, rhh, rtol=rtol, atol=rtol * hscale)
    # the reference's gradient (and Hessian) against finite differences
    g = grads(ref.grad(pred, target, reduction="sum", **params))[0]
    fd = fd_grad(ref, pred, target, params)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.max(np.abs(fd))))
    if hess and loss.has_hess:
        _, h = ref.grad_hess(pred, target, reduction="none", **params)
        step = 1e-6 * np.maximum(1.0, np.abs(pred))
        gp = ref.grad(pred + step, target, reduction="none", **params)
        gm = ref.grad(pred - step, target, reduction="none", **params)
        np.testing.assert_allclose(h, (gp - gm) / (2 * step), rtol=1e-5, atol=1e-6)


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
    g, h = fl.quantile.grad_hess([1.0, 3.0, 2.0], [2.0, 2.0, 2.0], quantile=0.9,
                                 reduction="none")
    np.testing.assert_allclose(g, [-0.9, 0.1, -0.9], rtol=1e-15)  # -q at the kink, as sklearn
    np.testing.assert_array_equal(h, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("q", [0.05, 0.5, 0.8, 0.99])
def test_quantile_matches_sklearn(q, rng):
    M = sk_metrics()
    y, p = rng.normal(size=300), rng.normal(size=300)
    w = rng.uniform(0.1, 3.0, size=300)
    assert fl.quantile(p, y, quantile=q) == pytest.approx(
        M.mean_pinball_loss(y, p, alpha=q), rel=1e-13)
    assert fl.quantile(p, y, quantile=q, sample_weight=w) == pytest.approx(
        M.mean_pinball_loss(y, p, alpha=q, sample_weight=w), rel=1e-13)
    y2, p2 = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert fl.quantile(p2, y2, quantile=q) == pytest.approx(
        M.mean_pinball_loss(y2, p2, alpha=q), rel=1e-13)


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
    assert fl.mape(p, y) == pytest.approx(M.mean_absolute_percentage_error(y, p), rel=1e-12)
    assert fl.mape(p, y, sample_weight=w) == pytest.approx(
        M.mean_absolute_percentage_error(y, p, sample_weight=w), rel=1e-12)


# --------------------------------------------------------------------- msle


def test_msle_matches_sklearn_including_negative_values(rng):
    M = sk_metrics()
    y = rng.uniform(-0.99, 10.0, size=300)
    p = rng.uniform(-0.99, 10.0, size=300)
    w = rng.uniform(0.1, 2.0, size=300)
    assert fl.msle(p, y) == pytest.approx(M.mean_squared_log_error(y, p), rel=1e-12)
    assert fl.msle(p, y, sample_weight=w) == pytest.approx(
        M.mean_squared_log_error(y, p, sample_weight=w), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_msle_is_accurate_where_pred_and_target_are_close(rng, dtype):
    # A trained model's predictions sit close to their targets: there
    # log1p(p) - log1p(y) cancels, and taking it as a difference of two logs
    # leaves mostly their rounding errors (1e9 ulp in float32). fastloss's
    # d keeps a few ulp, so d^2 and the gradient 2 d / (1 + p) keep float
    # precision element by element against a float64 (float32 inputs) or
    # long double (float64 inputs) reference of the same inputs.
    y = rng.uniform(-0.9, 50.0, size=4000).astype(dtype)
    p = np.concatenate([y[:1000] * (1 + rng.normal(0, 1e-4, 1000)).astype(dtype),
                        np.nextafter(y[1000:2000], dtype(100)),
                        y[2000:] + rng.normal(0, 1e-3, 2000).astype(dtype)]).astype(dtype)
    keep = (p > -1) & (p != y)
    p, y = p[keep], y[keep]
    ref_t = np.float64 if dtype == np.float32 else np.longdouble
    pl, yl = p.astype(ref_t), y.astype(ref_t)
    d = np.log1p((pl - yl) / (1 + yl))  # no cancellation: |ratio| is small here
    rtol = 2e-6 if dtype == np.float32 else 4e-15
    np.testing.assert_allclose(fl.msle(p, y, reduction="none").astype(ref_t), d * d, rtol=rtol)
    np.testing.assert_allclose(fl.msle.grad(p, y, reduction="none").astype(ref_t),
                               2 * d / (1 + pl), rtol=rtol)


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
    assert fl.rmse(p, y) == pytest.approx(M.root_mean_squared_error(y, p), rel=1e-13)
    assert fl.rmse(p, y, sample_weight=w) == pytest.approx(
        M.root_mean_squared_error(y, p, sample_weight=w), rel=1e-13)


def test_rmse_2d_is_the_global_mean_not_sklearns_column_average(rng):
    M = sk_metrics()
    y = rng.normal(size=(200, 2))
    p = y + rng.normal(size=(200, 2)) * np.array([0.1, 5.0])  # very different columns
    w = rng.uniform(0.1, 2.0, size=200)
    ours = fl.rmse(p, y, sample_weight=w)
    flat = M.root_mean_squared_error(
        y.ravel(), p.ravel(), sample_weight=np.repeat(w, 2))
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
    np.testing.assert_allclose(fl.rmse.grad(p, y, sample_weight=w, reduction="sum"),
                               W * g_mean, rtol=1e-12)
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
    np.testing.assert_allclose(out, [3.0 / (2 * math.sqrt(12.5)), -4.0 / (2 * math.sqrt(12.5))],
                               rtol=1e-15)


# --------------------------------------------------------------------- poisson_nll


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_poisson_nll_matches_torch(log_input, full, reduction, rng):
    torch = torch_or_skip()
    F = torch.nn.functional
    y = rng.poisson(3.0, size=(40, 3)).astype(F64)
    y[0, :3] = [0.0, 1.0, 2.0]  # around the Stirling mask (target > 1)
    p = rng.normal(size=(40, 3)) if log_input else rng.uniform(0.0, 5.0, size=(40, 3))
    p[1, 0] = 0.0 if not log_input else p[1, 0]  # log(0 + eps)
    pt = torch.tensor(p, requires_grad=True)
    val = F.poisson_nll_loss(pt, torch.tensor(y), log_input=log_input, full=full,
                             reduction=reduction)
    val.sum().backward()
    v, g = fl.poisson_nll.value_and_grad(p, y, log_input=log_input, full=full,
                                         reduction=reduction)
    np.testing.assert_allclose(v, val.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_hessian_matches_torch_second_derivative(log_input, rng):
    torch = torch_or_skip()
    y = rng.poisson(3.0, size=50).astype(F64)
    p = rng.normal(size=50) if log_input else rng.uniform(0.1, 5.0, size=50)
    pt = torch.tensor(p, requires_grad=True)
    val = torch.nn.functional.poisson_nll_loss(pt, torch.tensor(y), log_input=log_input,
                                               reduction="sum")
    (g1,) = torch.autograd.grad(val, pt, create_graph=True)
    (h1,) = torch.autograd.grad(g1.sum(), pt)  # diagonal: the loss is element-wise
    g, h = fl.poisson_nll.grad_hess(p, y, log_input=log_input, reduction="sum")
    np.testing.assert_allclose(g, g1.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, h1.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("params", [
    {"log_input": True, "full": False},
    {"log_input": False, "full": True, "eps": 1e-3},
    {"log_input": False, "full": False},
])
def test_poisson_nll_every_mode_against_reference(params):
    rng = np.random.default_rng(5)
    y = rng.poisson(2.0, size=(4, 3)).astype(F64)
    p = rng.normal(size=(4, 3)) if params["log_input"] else rng.uniform(0.2, 4.0, size=(4, 3))
    check_against_reference_and_fd("poisson_nll", p, y, params)


def test_poisson_nll_bad_arguments():
    with pytest.raises(TypeError, match="log_input"):
        fl.poisson_nll([1.0], [2.0], log_input=1)
    with pytest.raises(TypeError, match="full"):
        fl.poisson_nll([1.0], [2.0], full="yes")
    with pytest.raises(ValueError, match="eps"):
        fl.poisson_nll([1.0], [2.0], eps=-1e-3)


def test_poisson_nll_large_log_rate_overflows_like_torch():
    v = fl.poisson_nll([800.0], [1.0])
    assert v == math.inf


# --------------------------------------------------------------------- gaussian_nll


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("var_shape", ["same", "row", "row1", "scalar"])
def test_gaussian_nll_matches_torch(full, reduction, var_shape, rng):
    torch = torch_or_skip()
    p, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    var = {"same": rng.uniform(0.1, 2.0, size=(20, 3)),
           "row": rng.uniform(0.1, 2.0, size=20),  # torch unsqueezes: one var per row
           "row1": rng.uniform(0.1, 2.0, size=(20, 1)),
           "scalar": 0.7}[var_shape]
    var = np.asarray(var)
    if var.ndim:
        var.flat[0] = 1e-9  # below eps: clamped
    pt = torch.tensor(p, requires_grad=True)
    # torch takes a scalar var as a Python float (no gradient for it)
    tv = 0.7 if var_shape == "scalar" else torch.tensor(var, requires_grad=True)
    val = torch.nn.functional.gaussian_nll_loss(pt, torch.tensor(y), tv, full=full,
                                                reduction=reduction)
    val.sum().backward()
    v, (g, gv) = fl.gaussian_nll.value_and_grad(p, y, var, full=full, reduction=reduction)
    np.testing.assert_allclose(v, val.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12, atol=1e-15)
    # var is differentiable as in torch, its gradient of var's own shape
    assert gv.shape == var.shape
    if var_shape != "scalar":
        np.testing.assert_allclose(gv, tv.grad.numpy(), rtol=1e-10, atol=1e-13)
    # the old keyword spelling still reads var
    np.testing.assert_array_equal(fl.gaussian_nll.grad(p, y, var=var, full=full,
                                                       reduction=reduction, wrt="var"), gv)


def test_gaussian_nll_hand_value_and_eps():
    # 0.5 (log 4 + 4/4) + 0.5 log(2 pi)
    v = fl.gaussian_nll([2.0], [0.0], var=[4.0], full=True)
    assert v == pytest.approx(0.5 * (math.log(4) + 1) + 0.5 * math.log(2 * math.pi), rel=1e-15)
    # var 0 clamped at eps = 0.1
    v, (g, gv) = fl.gaussian_nll.value_and_grad([1.0], [0.0], [0.0], eps=0.1)
    assert v == pytest.approx(0.5 * (math.log(0.1) + 10.0), rel=1e-14)
    np.testing.assert_allclose(g, [10.0], rtol=1e-14)
    # d/dvar at the clamp: 0.5 (1/0.1 - 1/0.01), passed through as torch does
    np.testing.assert_allclose(gv, [0.5 * (10.0 - 100.0)], rtol=1e-14)


def test_gaussian_nll_every_mode_against_reference():
    rng = np.random.default_rng(9)
    p, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    check_against_reference_and_fd("gaussian_nll", p, y,
                                   {"var": rng.uniform(0.5, 2.0, size=4), "full": True})


@pytest.mark.parametrize("var_shape", [(), (1,), (300,), (300, 1), (1, 7), (300, 7), (1, 1)])
def test_gaussian_nll_var_forms_give_the_bits_of_the_full_array(var_shape, rng):
    # scalar, one per row (with or without its trailing 1, as torch), one per
    # column: patterns the kernel reads in place; the same bits as var
    # materialized at pred's shape, over several chunks and 2 threads
    pred = rng.normal(size=(300, 7)).astype(np.float32)
    target = rng.normal(size=(300, 7)).astype(np.float32)
    var = rng.uniform(0.1, 2.0, size=var_shape).astype(np.float32)
    full = np.ascontiguousarray(np.broadcast_to(var[..., None] if var_shape == (300,) else var,
                                                pred.shape))
    for threads in (1, 2):
        fl.set_num_threads(threads)
        a = fl.gaussian_nll.value_and_grad(pred, target, var, reduction="none")
        b = fl.gaussian_nll.value_and_grad(pred, target, full, reduction="none")
        assert a[0].tobytes() == b[0].tobytes() and a[1][0].tobytes() == b[1][0].tobytes()
        # var's gradient: the full one summed over the axes var was broadcast along
        vs = var[..., None] if var_shape == (300,) else var
        axes = tuple(i for i, k in enumerate((1,) * (2 - vs.ndim) + vs.shape) if k == 1)
        want = np.sum(b[1][1], axis=axes, dtype=np.float64, keepdims=True).reshape(var.shape)
        np.testing.assert_array_equal(a[1][1], want.astype(np.float32))


def test_gaussian_nll_bad_var():
    with pytest.raises(TypeError, match="var"):
        fl.gaussian_nll([1.0], [2.0])
    with pytest.raises(ValueError, match="var has negative"):
        fl.gaussian_nll([1.0, 2.0], [2.0, 2.0], var=[1.0, -0.5])
    with pytest.raises(ValueError, match="var: shape"):
        fl.gaussian_nll(np.zeros((4, 3)), np.zeros((4, 3)), var=np.ones(5))
    with pytest.raises(TypeError, match="var"):
        fl.gaussian_nll([1.0], [2.0], var=["a"])
    with pytest.raises(ValueError, match="eps"):
        fl.gaussian_nll([1.0], [2.0], var=[1.0], eps=0.0)


def test_gaussian_nll_nan_var_propagates():
    assert math.isnan(fl.gaussian_nll([1.0, 2.0], [0.0, 0.0], var=[np.nan, 1.0]))


# --------------------------------------------------------------------- tweedie


POWERS = [-0.5, 0.0, 1.0, 1.2, 1.5, 2.0, 3.0]


def tweedie_data(rng, power, n=300):
    mu = rng.uniform(0.2, 4.0, size=n)
    y = rng.gamma(1.0, 2.0, size=n)
    if power < 2 and power != 0:
        y[::5] = 0.0  # zeros are in the domain for p < 2
    if power <= 0:
        y[1::7] = -rng.uniform(0.1, 2.0, size=y[1::7].size)
    return mu, y


@pytest.mark.parametrize("power", POWERS)
def test_tweedie_matches_sklearn_deviance(power, rng):
    M = sk_metrics()
    mu, y = tweedie_data(rng, power)
    w = rng.uniform(0.1, 2.0, size=mu.size)
    assert fl.tweedie(mu, y, power=power) == pytest.approx(
        M.mean_tweedie_deviance(y, mu, power=power), rel=1e-11)
    assert fl.tweedie(mu, y, power=power, sample_weight=w) == pytest.approx(
        M.mean_tweedie_deviance(y, mu, power=power, sample_weight=w), rel=1e-11)
    # log link: same deviance at mu = exp(raw)
    assert fl.tweedie(np.log(mu), y, power=power, link="log") == pytest.approx(
        M.mean_tweedie_deviance(y, mu, power=power), rel=1e-11)


@pytest.mark.parametrize("power", POWERS)
def test_tweedie_derivatives_are_twice_sklearns_half_tweedie(power, rng):
    pytest.importorskip("sklearn")
    from sklearn._loss.loss import HalfTweedieLoss, HalfTweedieLossIdentity

    mu, y = tweedie_data(rng, power, n=100)
    raw = np.log(mu)
    g, h = fl.tweedie.grad_hess(raw, y, power=power, link="log", reduction="none")
    sg, sh = HalfTweedieLoss(power=power).gradient_hessian(y, raw)
    np.testing.assert_allclose(g, 2 * sg, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, 2 * sh, rtol=1e-12, atol=1e-14)
    g, h = fl.tweedie.grad_hess(mu, y, power=power, reduction="none")
    sg, sh = HalfTweedieLossIdentity(power=power).gradient_hessian(y, mu)
    np.testing.assert_allclose(g, 2 * sg, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h, 2 * sh, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("power", POWERS)
@pytest.mark.parametrize("link", ["identity", "log"])
def test_tweedie_every_power_and_link_against_reference(power, link):
    rng = np.random.default_rng(13)
    mu, y = tweedie_data(rng, power, n=12)
    pred = np.log(mu) if link == "log" else mu
    check_against_reference_and_fd("tweedie", pred.reshape(4, 3), y.reshape(4, 3),
                                   {"power": power, "link": link})


def test_tweedie_hand_values():
    # Poisson: 2 (1 log(1/2) - 1 + 2) = 2 (1 - log 2); Gamma: 2 (log 2 + 1/2 - 1)
    assert fl.tweedie([2.0], [1.0], power=1) == pytest.approx(2 * (1 - math.log(2)), rel=1e-15)
    assert fl.tweedie([2.0], [1.0], power=2) == pytest.approx(2 * (math.log(2) - 0.5), rel=1e-14)
    assert fl.tweedie([2.0], [0.0], power=1) == pytest.approx(4.0, rel=1e-15)  # 0 log 0 = 0
    assert fl.tweedie([-1.0], [2.0], power=0) == pytest.approx(9.0, rel=1e-15)
    # log link Poisson gradient 2 (e^s - y), Hessian 2 e^s
    g, h = fl.tweedie.grad_hess([0.0], [3.0], power=1, link="log", reduction="none")
    np.testing.assert_allclose([g[0], h[0]], [-4.0, 2.0], rtol=1e-15)


def test_tweedie_log_link_accepts_negative_raw_scores():
    v = fl.tweedie([-3.0, 2.0], [0.0, 1.0], power=1.5, link="log")
    assert math.isfinite(v)


@pytest.mark.parametrize("power", [0.01, 0.5, 0.99])
def test_tweedie_power_between_0_and_1_is_refused(power):
    with pytest.raises(ValueError, match="power"):
        fl.tweedie([1.0], [1.0], power=power)


@pytest.mark.parametrize("power,pred,target,what", [
    (1.5, [1.0, 2.0], [1.0, -0.1], "target"),
    (1.0, [1.0, 2.0], [-1.0, 0.0], "target"),
    (2.0, [1.0, 2.0], [1.0, 0.0], "target"),
    (3.0, [1.0, 2.0], [1.0, -2.0], "target"),
    (1.5, [1.0, 0.0], [1.0, 1.0], "pred"),
    (2.0, [1.0, -1.0], [1.0, 1.0], "pred"),
    (-0.5, [0.0, 1.0], [1.0, 1.0], "pred"),
])
def test_tweedie_domain_is_sklearns(power, pred, target, what):
    M = sk_metrics()
    with pytest.raises(ValueError, match=what):
        fl.tweedie(pred, target, power=power)
    with pytest.raises(ValueError):  # sklearn refuses the same inputs
        M.mean_tweedie_deviance(target, pred, power=power)


@pytest.mark.parametrize("threads", [1, 2])
def test_tweedie_domain_is_checked_in_the_kernel_pass(threads):
    # the first element outside the domain is named, on any thread count; a
    # NaN is not outside it (it gives NaN)
    fl.set_num_threads(threads)
    pred = np.full(50000, 1.5)
    target = np.full(50000, 2.0)
    target[[30000, 41000]] = [-1.0, 0.0]
    with pytest.raises(ValueError, match=r"target must be > 0 for power >= 2; got -1.0 at index "
                                         r"30000"):
        fl.tweedie(pred, target, power=3.0)
    with pytest.raises(ValueError, match=r"target must be >= 0 .* got -1.0 at index 30000"):
        fl.tweedie.value_and_grad(pred, target, power=1.5)
    target[30000] = 1.0
    pred[[7, 40000]] = [np.nan, -3.0]
    with pytest.raises(ValueError, match=r"pred must be > 0 .* got -3.0 at index 40000"):
        fl.tweedie.grad(pred, target, power=1.5)
    assert np.isnan(fl.tweedie(pred[:100], target[:100], power=1.5))
    fl.tweedie(pred, target, power=0)  # normal: any reals


def test_tweedie_domain_edges_that_are_allowed():
    assert math.isfinite(fl.tweedie([1.0, 2.0], [0.0, 0.0], power=1.5))  # y = 0, 1 <= p < 2
    assert math.isfinite(fl.tweedie([-1.0, 2.0], [-5.0, 0.0], power=0))  # normal: any reals
    assert math.isfinite(fl.tweedie([1.0, 2.0], [-5.0, 0.0], power=-1))  # p < 0: any target
    assert math.isfinite(fl.tweedie([-5.0], [1.0], power=3, link="log"))


def test_tweedie_bad_parameters():
    with pytest.raises(ValueError, match="link"):
        fl.tweedie([1.0], [1.0], link="logit")
    with pytest.raises(TypeError, match="power"):
        fl.tweedie([1.0], [1.0], power="1.5")
    with pytest.raises(ValueError, match="power"):
        fl.tweedie([1.0], [1.0], power=math.inf)


# --------------------------------------------------------------------- shared


@pytest.mark.parametrize("name,params", [
    ("log_cosh", {}), ("quantile", {"quantile": 0.3}), ("mape", {}), ("msle", {}),
    ("rmse", {}), ("poisson_nll", {}), ("gaussian_nll", {"var": 1.0}),
    ("tweedie", {"power": 0})])
def test_mismatched_shapes_and_unknown_keywords(name, params):
    loss = fl.get(name)
    with pytest.raises(ValueError, match="same shape"):
        loss([1.0, 2.0], [1.0], **params)
    with pytest.raises(TypeError, match="unexpected keyword"):
        loss([1.0], [1.0], bogus=1, **params)


def test_signatures_are_the_public_api():
    import inspect

    def kw(loss):
        return {k: v.default for k, v in inspect.signature(loss).parameters.items()
                if v.kind is inspect.Parameter.KEYWORD_ONLY}

    assert kw(fl.quantile)["quantile"] == 0.5
    assert kw(fl.poisson_nll) == {"reduction": "mean", "sample_weight": None,
                                  "log_input": True, "full": False, "eps": 1e-8}
    assert kw(fl.gaussian_nll) == {"reduction": "mean", "sample_weight": None,
                                   "full": False, "eps": 1e-6}
    assert fl.gaussian_nll.inputs == ("pred", "target", "var")
    assert fl.gaussian_nll.wrt == ("pred", "var")
    assert kw(fl.tweedie) == {"reduction": "mean", "sample_weight": None,
                              "power": 1.5, "link": "identity"}
    for n in ("log_cosh", "mape", "msle", "rmse"):
        assert kw(fl.get(n)) == {"reduction": "mean", "sample_weight": None}
    assert [n for n in ("log_cosh", "quantile", "poisson_nll", "tweedie")
            if not fl.get(n).has_hess] == []


@pytest.mark.parametrize("name,params,kind", [
    ("log_cosh", {}, "wide"),
    ("poisson_nll", {"log_input": False, "full": True}, "rate"),
    ("poisson_nll", {"log_input": True, "full": False}, "wide"),
    *[("tweedie", {"power": pw, "link": "log"}, "wide") for pw in POWERS],
    *[("tweedie", {"power": pw}, "rate") for pw in POWERS],
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_mode_gives_the_same_bits_on_every_isa(name, params, kind, dtype):
    from fastloss import _core

    rng = np.random.default_rng(17)
    n = 5000
    pred = rng.normal(size=n) * 20 if kind == "wide" else rng.uniform(0.05, 30.0, size=n)
    power = params.get("power", 1.0)
    target = rng.gamma(1.0, 3.0, size=n) + (power >= 2)
    pred, target = pred.astype(dtype), target.astype(dtype)
    loss = fl.get(name)
    chosen = _core.isa()
    results = {}
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            v, g = loss.value_and_grad(pred, target, **params)
            results[level] = (v, g, loss(pred, target, reduction="none", **params),
                              loss.grad_hess(pred, target, **params)[1])
    finally:
        _core.set_isa(chosen)
    base = results["baseline"]
    for level, r in results.items():
        for a, b in zip(r, base):  # NaN (an overflowed float32 mean) equals NaN here
            np.testing.assert_array_equal(a, b, err_msg=level)


@pytest.mark.parametrize("size", [3, 16, 17, 1000])  # checked in Python up to 16 values
def test_gaussian_nll_var_check_at_every_size(size):
    x = np.zeros(size)
    var = np.ones(size)
    var[size // 2] = -0.5
    with pytest.raises(ValueError, match="var has negative"):
        fl.gaussian_nll(x, x, var=var)
    var[size // 2] = np.nan  # NaN is not an error: it propagates
    v = fl.gaussian_nll(x, x, var=var, reduction="none")
    assert np.isnan(v[size // 2]) and np.isfinite(np.delete(v, size // 2)).all()
    var[:] = np.nan
    assert np.isnan(fl.gaussian_nll(x, x, var=var))
