"""Likelihood and deviance losses: poisson_nll, gaussian_nll, tweedie.

The registry-wide properties run in test_properties.py on the default case of
each loss; here: the peers (PyTorch, scikit-learn's deviances), every
parameter combination (links, log_input / full, var forms, powers) against
the reference and finite differences, the input domains and where they are
checked, and the bits of every mode at every ISA level.
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
        gp = grads(ref.grad(pred + step, target, reduction="none", **params))[0]
        gm = grads(ref.grad(pred - step, target, reduction="none", **params))[0]
        np.testing.assert_allclose(h, (gp - gm) / (2 * step), rtol=1e-5, atol=1e-6)


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
    val = F.poisson_nll_loss(
        pt, torch.tensor(y), log_input=log_input, full=full, reduction=reduction
    )
    val.sum().backward()
    v, g = fl.poisson_nll.value_and_grad(p, y, log_input=log_input, full=full, reduction=reduction)
    np.testing.assert_allclose(v, val.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_hessian_matches_torch_second_derivative(log_input, rng):
    torch = torch_or_skip()
    y = rng.poisson(3.0, size=50).astype(F64)
    p = rng.normal(size=50) if log_input else rng.uniform(0.1, 5.0, size=50)
    pt = torch.tensor(p, requires_grad=True)
    val = torch.nn.functional.poisson_nll_loss(
        pt, torch.tensor(y), log_input=log_input, reduction="sum"
    )
    (g1,) = torch.autograd.grad(val, pt, create_graph=True)
    (h1,) = torch.autograd.grad(g1.sum(), pt)  # diagonal: the loss is element-wise
    g, h = fl.poisson_nll.grad_hess(p, y, log_input=log_input, reduction="sum")
    np.testing.assert_allclose(g, g1.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h, h1.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "params",
    [
        {"log_input": True, "full": False},
        {"log_input": False, "full": True, "eps": 1e-3},
        {"log_input": False, "full": False},
    ],
)
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
    var = {
        "same": rng.uniform(0.1, 2.0, size=(20, 3)),
        "row": rng.uniform(0.1, 2.0, size=20),  # torch unsqueezes: one var per row
        "row1": rng.uniform(0.1, 2.0, size=(20, 1)),
        "scalar": 0.7,
    }[var_shape]
    var = np.asarray(var)
    if var.ndim:
        var.flat[0] = 1e-9  # below eps: clamped
    pt = torch.tensor(p, requires_grad=True)
    # torch takes a scalar var as a Python float (no gradient for it)
    tv = 0.7 if var_shape == "scalar" else torch.tensor(var, requires_grad=True)
    val = torch.nn.functional.gaussian_nll_loss(
        pt, torch.tensor(y), tv, full=full, reduction=reduction
    )
    val.sum().backward()
    v, (g, gv) = fl.gaussian_nll.value_and_grad(p, y, var, full=full, reduction=reduction)
    np.testing.assert_allclose(v, val.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(g, pt.grad.numpy(), rtol=1e-12, atol=1e-15)
    # var is differentiable as in torch, its gradient of var's own shape
    assert gv.shape == var.shape
    if var_shape != "scalar":
        np.testing.assert_allclose(gv, tv.grad.numpy(), rtol=1e-10, atol=1e-13)
    # the old keyword spelling still reads var
    np.testing.assert_array_equal(
        fl.gaussian_nll.grad(p, y, var=var, full=full, reduction=reduction, wrt="var"), gv
    )


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
    check_against_reference_and_fd(
        "gaussian_nll", p, y, {"var": rng.uniform(0.5, 2.0, size=4), "full": True}
    )


@pytest.mark.parametrize("var_shape", [(), (1,), (300,), (300, 1), (1, 7), (300, 7), (1, 1)])
def test_gaussian_nll_var_forms_give_the_bits_of_the_full_array(var_shape, rng):
    # scalar, one per row (with or without its trailing 1, as torch), one per
    # column: patterns the kernel reads in place; the same bits as var
    # materialized at pred's shape, over several chunks and 2 threads
    pred = rng.normal(size=(300, 7)).astype(np.float32)
    target = rng.normal(size=(300, 7)).astype(np.float32)
    var = rng.uniform(0.1, 2.0, size=var_shape).astype(np.float32)
    full = np.ascontiguousarray(
        np.broadcast_to(var[..., None] if var_shape == (300,) else var, pred.shape)
    )
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
    with pytest.raises(ValueError, match=r"var: variances must be >= 0, got -0.5 at index"):
        fl.gaussian_nll([1.0, 2.0], [2.0, 2.0], var=[1.0, -0.5])
    with pytest.raises(ValueError, match="var: shape"):
        fl.gaussian_nll(np.zeros((4, 3)), np.zeros((4, 3)), var=np.ones(5))
    with pytest.raises(TypeError, match="var"):
        fl.gaussian_nll([1.0], [2.0], var=["a"])
    with pytest.raises(ValueError, match="eps"):
        fl.gaussian_nll([1.0], [2.0], var=[1.0], eps=0.0)


def test_gaussian_nll_var_one_dimension_short_means_rows_whatever_the_batch(rng):
    # torch reads a var of shape pred.shape[:-1] as one variance per row; a
    # (C,) var against (N, C) must not switch to one per column when N != C
    # (NumPy's broadcasting): refused, naming both unambiguous shapes
    var = np.array([0.5, 1.0, 4.0])
    p3, t3 = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    assert fl.gaussian_nll(p3, t3, var) == fl.gaussian_nll(p3, t3, var[:, None])
    for n in (2, 4):
        p, t = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
        with pytest.raises(ValueError, match=r"var: shape \(3,\).*\(1, 3\) for one per column"):
            fl.gaussian_nll(p, t, var)
        assert np.isfinite(fl.gaussian_nll(p, t, var[None, :]))
    # one value, in any shape, means the same everywhere
    p, t = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert fl.gaussian_nll(p, t, np.array([2.0])) == fl.gaussian_nll(p, t, np.full((4, 3), 2.0))


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
        M.mean_tweedie_deviance(y, mu, power=power), rel=1e-11
    )
    assert fl.tweedie(mu, y, power=power, sample_weight=w) == pytest.approx(
        M.mean_tweedie_deviance(y, mu, power=power, sample_weight=w), rel=1e-11
    )
    # log link: same deviance at mu = exp(raw)
    assert fl.tweedie(np.log(mu), y, power=power, link="log") == pytest.approx(
        M.mean_tweedie_deviance(y, mu, power=power), rel=1e-11
    )


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
    check_against_reference_and_fd(
        "tweedie", pred.reshape(4, 3), y.reshape(4, 3), {"power": power, "link": link}
    )


def test_tweedie_hand_values():
    # Poisson: 2 (1 log(1/2) - 1 + 2) = 2 (1 - log 2); Gamma: 2 (log 2 + 1/2 - 1)
    assert fl.tweedie([2.0], [1.0], power=1) == pytest.approx(2 * (1 - math.log(2)), rel=1e-15)
    assert fl.tweedie([2.0], [1.0], power=2) == pytest.approx(2 * (math.log(2) - 0.5), rel=1e-14)
    assert fl.tweedie([2.0], [0.0], power=1) == pytest.approx(4.0, rel=1e-15)  # 0 log 0 = 0
    assert fl.tweedie([-1.0], [2.0], power=0) == pytest.approx(9.0, rel=1e-15)
    # log link Poisson gradient 2 (e^s - y), Hessian 2 e^s
    g, h = fl.tweedie.grad_hess([0.0], [3.0], power=1, link="log", reduction="none")
    np.testing.assert_allclose([g[0], h[0]], [-4.0, 2.0], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tweedie_power_0_identity_is_mse_bit_for_bit(dtype):
    # the normal deviance (y - mu)^2 is mse's (p - y)^2: the kernel runs mse
    # for it, so every verb must give mse's exact bits
    rng = np.random.default_rng(5)
    p = rng.normal(scale=3.0, size=(70_001,)).astype(dtype)
    y = rng.normal(scale=3.0, size=p.shape).astype(dtype)
    w = rng.random(p.shape).astype(dtype)
    for kw in ({}, {"sample_weight": w}):
        for red in ("mean", "sum", "none"):
            a = fl.tweedie(p, y, power=0, reduction=red, **kw)
            b = fl.mse(p, y, reduction=red, **kw)
            np.testing.assert_array_equal(a, b)
        va, ga = fl.tweedie.value_and_grad(p, y, power=0, **kw)
        vb, gb = fl.mse.value_and_grad(p, y, **kw)
        np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(ga, gb)
        gha = fl.tweedie.grad_hess(p, y, power=0, reduction="none", **kw)
        ghb = fl.mse.grad_hess(p, y, reduction="none", **kw)
        np.testing.assert_array_equal(gha, ghb)
    assert np.isfinite(fl.tweedie(p, y, power=0))
    # a NaN prediction: NaN at its place only, in the loss and the gradient
    p[7] = np.nan
    v = fl.tweedie(p, y, power=0, reduction="none")
    g = fl.tweedie.grad(p, y, power=0, reduction="none")
    assert np.isnan(v[7]) and np.isnan(g[7])
    assert np.isfinite(np.delete(v, 7)).all() and np.isfinite(np.delete(g, 7)).all()


def test_tweedie_log_link_accepts_negative_raw_scores():
    v = fl.tweedie([-3.0, 2.0], [0.0, 1.0], power=1.5, link="log")
    assert math.isfinite(v)


@pytest.mark.parametrize("power", [0.01, 0.5, 0.99])
def test_tweedie_power_between_0_and_1_is_refused(power):
    with pytest.raises(ValueError, match="power"):
        fl.tweedie([1.0], [1.0], power=power)


@pytest.mark.parametrize(
    "power,pred,target,what",
    [
        (1.5, [1.0, 2.0], [1.0, -0.1], "target"),
        (1.0, [1.0, 2.0], [-1.0, 0.0], "target"),
        (2.0, [1.0, 2.0], [1.0, 0.0], "target"),
        (3.0, [1.0, 2.0], [1.0, -2.0], "target"),
        (1.5, [1.0, 0.0], [1.0, 1.0], "pred"),
        (2.0, [1.0, -1.0], [1.0, 1.0], "pred"),
        (-0.5, [0.0, 1.0], [1.0, 1.0], "pred"),
    ],
)
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
    with pytest.raises(
        ValueError,
        match=r"target must be > 0 for power >= 2; got -1.0 at index "
        r"30000",
    ):
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


# -------------------------------------------------- every mode at every ISA level


@pytest.mark.parametrize(
    "name,params,kind",
    [
        ("log_cosh", {}, "wide"),
        ("poisson_nll", {"log_input": False, "full": True}, "rate"),
        ("poisson_nll", {"log_input": True, "full": False}, "wide"),
        *[("tweedie", {"power": pw, "link": "log"}, "wide") for pw in POWERS],
        *[("tweedie", {"power": pw}, "rate") for pw in POWERS],
    ],
)
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
            results[level] = (
                v,
                g,
                loss(pred, target, reduction="none", **params),
                loss.grad_hess(pred, target, **params)[1],
            )
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
    with pytest.raises(ValueError, match=r"var: variances must be >= 0, got -0.5 at index"):
        fl.gaussian_nll(x, x, var=var)
    var[size // 2] = np.nan  # NaN is not an error: it propagates
    v = fl.gaussian_nll(x, x, var=var, reduction="none")
    assert np.isnan(v[size // 2]) and np.isfinite(np.delete(v, size // 2)).all()
    var[:] = np.nan
    assert np.isnan(fl.gaussian_nll(x, x, var=var))
