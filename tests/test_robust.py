"""barron against the paper's reference lossfun, in torch with autograd."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")


def reference_lossfun(x, alpha, scale):
    """``general.lossfun`` of Barron's robust_loss_pytorch (google-research,
    Apache 2.0; "A General and Adaptive Robust Loss Function", CVPR 2019),
    transcribed: the package is not on PyPI. Its float32-epsilon clamps of
    |alpha| and |alpha - 2| and the 33e37 / 87.5 clamps of log_safe /
    expm1_safe are kept."""
    squared_scaled_x = (x / scale) ** 2
    loss_two = 0.5 * squared_scaled_x
    loss_zero = torch.log(torch.clamp(0.5 * squared_scaled_x + 1.0, max=33e37))
    loss_neginf = -torch.expm1(-0.5 * squared_scaled_x)
    loss_posinf = torch.expm1(torch.clamp(0.5 * squared_scaled_x, max=87.5))
    machine_epsilon = torch.tensor(np.finfo(np.float32).eps).to(x)
    beta_safe = torch.max(machine_epsilon, torch.abs(alpha - 2.0))
    alpha_safe = torch.where(
        alpha >= 0, torch.ones_like(alpha), -torch.ones_like(alpha)
    ) * torch.max(machine_epsilon, torch.abs(alpha))
    loss_otherwise = (beta_safe / alpha_safe) * (
        torch.pow(squared_scaled_x / beta_safe + 1.0, 0.5 * alpha) - 1.0
    )
    return torch.where(
        alpha == -float("inf"),
        loss_neginf,
        torch.where(
            alpha == 0,
            loss_zero,
            torch.where(
                alpha == 2,
                loss_two,
                torch.where(alpha == float("inf"), loss_posinf, loss_otherwise),
            ),
        ),
    )


def _limit(x, alpha, scale):
    """The loss at alpha = -inf or +inf written directly: the reference's
    autograd gives NaN there (0 * inf through the unselected general case)."""
    z = (x / scale) ** 2
    return -torch.expm1(-0.5 * z) if alpha.item() < 0 else torch.expm1(0.5 * z)


def _torch_barron(pred, target, alpha, scale, reduction="mean"):
    tp, ta, ts = (torch.tensor(a, requires_grad=True) for a in (pred, alpha, scale))
    fn = reference_lossfun if np.all(np.isfinite(alpha)) else _limit
    lv = fn(tp - torch.tensor(target), ta, ts)
    v = lv.mean() if reduction == "mean" else lv.sum()
    v.backward()
    ga = ta.grad.numpy() if ta.grad is not None else np.zeros_like(alpha)  # unused: the limits
    return v.item(), tp.grad.numpy(), ga, ts.grad.numpy()


ALPHAS = [-np.inf, -10.0, -2.0, -0.5, 1e-3, 0.5, 1.0, 1.5, 1.999, 2.5, 4.0, np.inf]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_equals_the_reference_lossfun(alpha, dtype):
    rng = np.random.default_rng(0)
    pred = rng.normal(scale=2.0, size=(200, 4)).astype(dtype)
    target = rng.normal(size=(200, 4)).astype(dtype)
    if alpha == np.inf:  # exp(z/2): keep z moderate
        pred, target = pred / 4, target / 4
    a = np.array(alpha, dtype=dtype)
    s = np.array(1.3, dtype=dtype)
    v, (gp, ga, gs) = fl.barron.value_and_grad(pred, target, a, s)
    tv, tgp, tga, tgs = _torch_barron(pred, target, a, s)
    tol = 2e-5 if dtype == np.float32 else 1e-10
    if alpha == 1e-3 and dtype == np.float32:
        tol = 2e-3  # the reference's pow form loses digits as alpha nears 0
    np.testing.assert_allclose(v, tv, rtol=tol)
    np.testing.assert_allclose(gp, tgp, rtol=tol, atol=tol * 1e-3)
    np.testing.assert_allclose(gs, tgs, rtol=tol, atol=tol * 1e-3)
    if np.isfinite(alpha):
        np.testing.assert_allclose(ga, tga, rtol=tol * 10, atol=tol * 1e-3)
    else:  # the limits do not depend on alpha
        assert ga == 0
        np.testing.assert_allclose(
            v,
            reference_lossfun(torch.tensor(pred - target), torch.tensor(a), torch.tensor(s)).mean(),
            rtol=tol,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_dimension_alpha_and_scale_sum_back(dtype):
    rng = np.random.default_rng(1)
    pred = rng.normal(scale=2.0, size=(300, 3)).astype(dtype)
    target = rng.normal(size=(300, 3)).astype(dtype)
    alpha = np.array([-1.0, 0.7, 3.0], dtype=dtype)
    scale = np.array([0.5, 1.0, 2.0], dtype=dtype)
    v, (gp, ga, gs) = fl.barron.value_and_grad(pred, target, alpha, scale, reduction="sum")
    tv, tgp, tga, tgs = _torch_barron(pred, target, alpha, scale, reduction="sum")
    tol = 1e-5 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(v, tv, rtol=tol)
    for g, t in ((gp, tgp), (ga, tga), (gs, tgs)):
        assert g.shape == t.shape
        np.testing.assert_allclose(g, t, rtol=tol, atol=tol * 1e-2)
    # by keyword, and one gradient at a time
    ga2 = fl.barron.grad(pred, target, alpha=alpha, scale=scale, reduction="sum", wrt="alpha")
    np.testing.assert_allclose(ga2, ga, rtol=1e-12 if dtype == np.float64 else 1e-6)


def test_limits_at_zero_and_two_are_exact():
    x = np.array([0.0, 0.5, 3.0, -20.0])
    t = np.zeros_like(x)
    z = x * x
    l0 = fl.barron(x, t, 0.0, reduction="none")
    np.testing.assert_allclose(l0, np.log1p(z / 2), rtol=1e-15)
    l2 = fl.barron(x, t, 2.0, reduction="none")
    np.testing.assert_array_equal(l2, z / 2)
    # at exactly 0 and 2 the reference selects the same limits
    for a in (0.0, 2.0):
        ref = reference_lossfun(torch.tensor(x), torch.tensor(a), torch.tensor(1.0)).numpy()
        np.testing.assert_allclose(fl.barron(x, t, a, reduction="none"), ref, rtol=1e-15)
    # just off them, the general formula stays on the limit's curve, where
    # the reference's clamp of |alpha| to float32's epsilon is off
    for a, lim in ((1e-9, np.log1p(z / 2)), (2 - 1e-9, z / 2), (2 + 1e-9, z / 2)):
        got = fl.barron(x, t, a, reduction="none")
        np.testing.assert_allclose(got, lim, rtol=1e-7)
    ref = reference_lossfun(torch.tensor(x), torch.tensor(1e-9), torch.tensor(1.0)).numpy()
    assert abs(ref[3] / np.log1p(z[3] / 2) - 1) > 1e-3  # the clamp the issue names


def test_special_cases():
    x, t = np.array([0.3, -1.7, 4.0]), np.zeros(3)
    z = x * x
    np.testing.assert_allclose(fl.barron(x, t, 1.0, reduction="none"), np.sqrt(z + 1) - 1)
    np.testing.assert_allclose(fl.barron(x, t, -2.0, reduction="none"), 2 * z / (z + 4))
    np.testing.assert_allclose(
        fl.barron(x, t, -np.inf, reduction="none"), -np.expm1(-z / 2), rtol=1e-15
    )
    np.testing.assert_allclose(
        fl.barron(x, t, np.inf, reduction="none"), np.expm1(z / 2), rtol=1e-15
    )
    assert fl.barron(x, t) == fl.barron(x, t, 1.0, 1.0)  # the defaults


def test_alpha_and_scale_left_out_have_no_gradient():
    x, t = np.array([1.0, 2.0]), np.zeros(2)
    gp, ga, gs = fl.barron.grad(x, t, wrt=("pred", "alpha", "scale"))
    assert ga is None and gs is None
    np.testing.assert_allclose(gp, x / np.sqrt(x * x + 1) / 2)


def test_bad_inputs():
    x, t = np.ones((4, 3)), np.zeros((4, 3))
    with pytest.raises(ValueError, match="scale must be > 0"):
        fl.barron(x, t, 1.0, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="alpha: shape"):
        fl.barron(x, t, np.ones(4))
    with pytest.raises(ValueError, match="scale: shape"):
        fl.barron(x, t, 1.0, np.ones((2, 3)))


def test_empty_is_nan_mean_and_zero_sum():
    e = np.zeros((0, 3))
    assert np.isnan(fl.barron(e, e, 0.5))
    assert fl.barron(e, e, 0.5, reduction="sum") == 0.0


def test_through_fastloss_torch():
    import fastloss.torch as flt

    rng = np.random.default_rng(2)
    pred = torch.tensor(rng.normal(size=(50, 2)), requires_grad=True)
    target = torch.tensor(rng.normal(size=(50, 2)))
    alpha = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    v = flt.barron(pred, target, alpha, scale)
    v.backward()
    p2, a2, s2 = (u.detach().clone().requires_grad_() for u in (pred, alpha, scale))
    t = reference_lossfun(p2 - target, a2, s2).mean()
    t.backward()
    assert v.item() == pytest.approx(t.item(), rel=1e-13)
    for a, b in ((pred, p2), (alpha, a2), (scale, s2)):
        torch.testing.assert_close(a.grad, b.grad)
