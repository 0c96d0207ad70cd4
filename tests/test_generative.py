"""The generative-model losses against PyTorch autograd on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(x):
    return torch.tensor(x, requires_grad=True)


def _check(v, grads, tv, tensors, dtype):
    tol = 1e-5 if dtype == np.float32 else 1e-12
    tv.backward()
    np.testing.assert_allclose(v, tv.item(), rtol=tol, atol=tol)
    for g, t in zip(grads, tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)


PEERS_TWO = {
    "gan_discriminator": lambda r, f: (
        F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
        + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
    ),
    "hinge_gan_discriminator": lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
    "wasserstein_critic": lambda r, f: f.mean() - r.mean(),
}
PEERS_ONE = {
    ("gan_generator", True): lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),
    ("gan_generator", False): lambda f: -F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
    ("hinge_gan_generator", True): lambda f: -f.mean(),
    ("wasserstein_generator", True): lambda f: -f.mean(),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(PEERS_TWO))
def test_two_part_losses_equal_torch(name, dtype):
    rng = np.random.default_rng(0)
    real = rng.normal(scale=3, size=(64, 1)).astype(dtype)
    fake = rng.normal(scale=3, size=37).astype(dtype)  # another size and shape
    v, (gr, gf) = fl.get(name).value_and_grad(real, fake)
    tr, tf = _t(real), _t(fake)
    _check(v, (gr, gf), PEERS_TWO[name](tr, tf), (tr, tf), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,ns", sorted(PEERS_ONE))
def test_generator_losses_equal_torch(name, ns, dtype):
    rng = np.random.default_rng(1)
    fake = rng.normal(scale=3, size=(50, 2)).astype(dtype)
    params = {} if name != "gan_generator" else {"non_saturating": ns}
    v, g = fl.get(name).value_and_grad(fake, **params)
    tf = _t(fake)
    _check(v, (g,), PEERS_ONE[(name, ns)](tf), (tf,), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturating_generator_stays_finite_where_log_one_minus_sigmoid_is_not(dtype):
    # the documented departure: torch's log(1 - sigmoid(fake)) is -inf (its
    # gradient NaN) once the sigmoid rounds to 1; -softplus(fake) is not
    fake = np.array([40.0, 20.0, -3.0, 0.5], dtype=dtype)
    v, g = fl.gan_generator.value_and_grad(fake, non_saturating=False)
    tf = _t(fake)
    naive = torch.log(1 - torch.sigmoid(tf)).mean()
    assert naive.item() == -np.inf
    tf2 = _t(fake)
    _check(v, (g,), -F.softplus(tf2).mean(), (tf2,), dtype)
    assert np.isfinite(v) and np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_penalty_equals_wgan_gp(dtype):
    rng = np.random.default_rng(2)
    g = rng.normal(scale=0.6, size=(40, 3, 4, 4)).astype(dtype)
    g[3] = 0.0  # the norm's derivative at 0 is 0, as torch's
    v, d = fl.gradient_penalty.value_and_grad(g, target_norm=1.0)
    tg = _t(g)
    tv = ((tg.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
    _check(v, (d,), tv, (tg,), dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    "name", ["wasserstein_critic", "wasserstein_generator", "hinge_gan_generator"]
)
def test_linear_parts_sum_their_inputs_with_the_terms_bits(name, reduction, threads):
    # an unweighted value of a linear part (-x, x) is sign * the inputs'
    # blocked sum; value_and_grad and a weighted call (weights of 1) sum the
    # terms -x_i: the same bits, over several reduction blocks
    rng = np.random.default_rng(5)
    ins = [
        rng.normal(scale=2.0, size=n) for n in ((30001, 20011) if "critic" in name else (50001,))
    ]
    loss = fl.get(name)
    fl.set_num_threads(threads)
    v = loss(*ins, reduction=reduction)
    assert v == loss.value_and_grad(*ins, reduction=reduction)[0]
    ones = np.ones(sum(x.size for x in ins))
    assert v == loss(*ins, reduction=reduction, sample_weight=ones)
    # a zero sum is +0 either way (the terms' lanes start at +0)
    zeros = [np.zeros(3) for _ in ins]
    assert np.copysign(1.0, loss(*zeros, reduction="sum")) == 1.0


def _row_sum_tree(sq):
    """row_sum's tree (rowwise.hpp) over each row of float64 terms: term k
    into lane k % 8, each lane summed in index order, then
    ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))."""
    n, k = sq.shape
    pad = np.zeros((n, -(-k // 8) * 8))  # + 0.0 leaves a lane's bits as they are
    pad[:, :k] = sq
    lanes = np.cumsum(pad.reshape(n, -1, 8), axis=1)[:, -1, :]  # sequential, unlike sum
    a = (lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])
    return a + ((lanes[:, 4] + lanes[:, 5]) + (lanes[:, 6] + lanes[:, 7]))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n,k", [(9, 3), (5, 8), (7, 13), (6, 256), (9, 257), (21, 3079)])
def test_gradient_penalty_sums_rows_by_row_sums_tree(n, k, threads):
    # the kernel sums several rows side by side (sumsq_rows): each row's sum
    # of squares must keep row_sum's tree, whatever n % 4 and k % 8 (the
    # tail lanes) and k > 256 (row_sum's chunks); float64 inputs, so another
    # order would show in the last bits
    rng = np.random.default_rng(k)
    g = rng.normal(scale=0.7, size=(n, k))
    fl.set_num_threads(threads)
    got = fl.gradient_penalty(g, target_norm=1.5, reduction="none")
    dev = np.sqrt(_row_sum_tree(g * g)) - 1.5
    np.testing.assert_array_equal(got, dev * dev)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("recon_loss", ["bce_with_logits", "mse"])
def test_elbo_equals_the_vae_loss(recon_loss, dtype):
    rng = np.random.default_rng(3)
    n = 33
    recon = rng.normal(size=(n, 1, 6, 6)).astype(dtype)
    x = rng.uniform(size=(n, 1, 6, 6)).astype(dtype)
    mu = rng.normal(size=(n, 5)).astype(dtype)
    logvar = rng.normal(scale=0.5, size=(n, 5)).astype(dtype)
    v, (gr, gm, gl) = fl.elbo.value_and_grad(recon, x, mu, logvar, recon_loss=recon_loss, beta=4.0)
    tr, tm, tl = _t(recon), _t(mu), _t(logvar)
    tx = torch.tensor(x)
    if recon_loss == "mse":
        rec = F.mse_loss(tr, tx, reduction="sum")
    else:
        rec = F.binary_cross_entropy_with_logits(tr, tx, reduction="sum")
    kl = -0.5 * torch.sum(1 + tl - tm.pow(2) - tl.exp())
    _check(v, (gr, gm, gl), (rec + 4.0 * kl) / n, (tr, tm, tl), dtype)


def test_two_part_none_concatenates_and_weights_weigh_each_part():
    real, fake = np.array([0.5, -1.0]), np.array([2.0, 0.0, 1.0])
    per = fl.wasserstein_critic(real, fake, reduction="none")
    np.testing.assert_array_equal(per, [-0.5, 1.0, 2.0, 0.0, 1.0])
    # mean: each part's mean; sum: the sum of all
    assert fl.wasserstein_critic(real, fake) == np.mean(per[:2]) + np.mean(per[2:])
    assert fl.wasserstein_critic(real, fake, reduction="sum") == np.sum(per)
    w = np.array([1.0, 3.0, 1.0, 1.0, 2.0])
    # each part's weighted mean over its own weights
    expect = (2.0 + 0.0 + 2.0) / 4.0 + (-0.5 + 3.0) / 4.0
    assert fl.wasserstein_critic(real, fake, sample_weight=w) == pytest.approx(expect)
    with pytest.raises(ValueError, match="sample_weight"):
        fl.wasserstein_critic(real, fake, sample_weight=np.ones(2))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="logvar"):
        fl.elbo(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x: expected"):
        fl.elbo(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="grads"):
        fl.gradient_penalty(1.0)
    with pytest.raises(ValueError, match="recon_loss"):
        fl.elbo(
            np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 2)), recon_loss="l1"
        )
    with pytest.raises(TypeError, match="fake"):
        fl.wasserstein_critic([1.0], ["a"])


def test_the_accumulator_refuses_them():
    for name in ("gan_discriminator", "elbo", "gradient_penalty"):
        with pytest.raises(ValueError, match=f"{name} cannot be accumulated"):
            fl.Accumulator([name])
