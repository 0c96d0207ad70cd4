"""td_error and pinn against PyTorch autograd on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["huber", "mse"])
def test_td_error_equals_dqn_in_torch(loss, dtype):
    rng = np.random.default_rng(0)
    n = 1000
    q = rng.normal(scale=2.0, size=n).astype(dtype)
    q[:3] = [0.0, 1.0, -1.0]  # the Huber kinks: |delta| == 1 with r = next_q = 0
    r = rng.normal(size=n).astype(dtype)
    nq = rng.normal(scale=2.0, size=n).astype(dtype)
    d = (rng.uniform(size=n) < 0.2).astype(dtype)
    r[:3] = 0.0
    nq[:3] = 0.0
    v, g = fl.td_error.value_and_grad(q, r, nq, d, gamma=0.97, loss=loss)
    tq = torch.tensor(q, requires_grad=True)
    with torch.no_grad():
        target = torch.tensor(r) + 0.97 * (1 - torch.tensor(d)) * torch.tensor(nq)
    tv = F.smooth_l1_loss(tq, target) if loss == "huber" else F.mse_loss(tq, target)
    tv.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(v, tv.item(), rtol=tol)
    np.testing.assert_allclose(g, tq.grad.numpy(), rtol=tol, atol=tol * 1e-3)


def test_td_error_takes_bool_dones_and_no_gradient_to_the_target():
    q, r, nq = np.array([1.0, 2.0]), np.array([0.5, 0.5]), np.array([1.0, 1.0])
    a = fl.td_error(q, r, nq, np.array([True, False]), gamma=0.5)
    b = fl.td_error(q, r, nq, np.array([1.0, 0.0]), gamma=0.5)
    assert a == b
    assert fl.td_error.wrt == ("q",)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pinn_equals_the_weighted_sum_of_means(dtype):
    rng = np.random.default_rng(1)
    res = rng.normal(size=(300, 2)).astype(dtype)
    bnd = rng.normal(size=40).astype(dtype)
    obs = rng.normal(size=(7, 3)).astype(dtype)
    w = (1.0, 10.0, 0.3)
    v, (gr, gb, go) = fl.pinn.value_and_grad(res, bnd, obs, weights=w)
    tr, tb, to = (torch.tensor(x, requires_grad=True) for x in (res, bnd, obs))
    tv = w[0] * tr.pow(2).mean() + w[1] * tb.pow(2).mean() + w[2] * to.pow(2).mean()
    tv.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(v, tv.item(), rtol=tol)
    for g, t in zip((gr, gb, go), (tr, tb, to)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol * 1e-3)


def test_pinn_parts_are_optional():
    res = np.array([1.0, -1.0])
    assert fl.pinn(res) == 1.0
    v, (g_r, g_b, g_d) = fl.pinn.value_and_grad(res, data=np.array([2.0]))
    assert v == 5.0 and g_b is None and g_d.tolist() == [4.0]
    np.testing.assert_array_equal(g_r, [1.0, -1.0])
    assert fl.pinn.grad(res, wrt="boundary") is None
    with pytest.raises(ValueError, match="boundary was not given"):
        fl.pinn.grad(res, wrt="boundary", out=np.empty(1))
    with pytest.raises(ValueError, match="weights"):
        fl.pinn(res, weights=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        fl.pinn(res, weights=(1.0, -2.0, 1.0))
    with pytest.raises(TypeError, match="residual"):
        fl.pinn(None)


def test_through_fastloss_torch_with_a_part_left_out():
    import fastloss.torch as flt

    r = torch.randn(10, dtype=torch.float64, requires_grad=True)
    d = torch.randn(3, dtype=torch.float64, requires_grad=True)
    v = flt.pinn(r, data=d, weights=(1.0, 5.0, 2.0))
    v.backward()
    r2, d2 = r.detach().clone().requires_grad_(), d.detach().clone().requires_grad_()
    t = r2.pow(2).mean() + 2.0 * d2.pow(2).mean()
    t.backward()
    assert v.item() == pytest.approx(t.item(), rel=1e-14)
    torch.testing.assert_close(r.grad, r2.grad)
    torch.testing.assert_close(d.grad, d2.grad)
