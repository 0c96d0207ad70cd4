"""Test inputs of the generative-model losses (see tests/cases.py)."""

from __future__ import annotations

from cases import case


def _scores(rng, dtype, n):
    # (n, 2): a last axis of 2 lets the strided tests take every second element
    return rng.normal(scale=2.0, size=(n, 2)).astype(dtype)


@case("gan_discriminator", "hinge_gan_discriminator", "wasserstein_critic")
def _real_fake(rng, dtype, n):
    # batches of different sizes: each part is its own mean
    return _scores(rng, dtype, n), _scores(rng, dtype, n + 3), {}


@case("gan_generator", "hinge_gan_generator", "wasserstein_generator")
def _fake(rng, dtype, n):
    return _scores(rng, dtype, n), None, {}


@case("gradient_penalty")
def _gradient_penalty(rng, dtype, n):
    return rng.normal(size=(n, 3, 2)).astype(dtype), None, {"target_norm": 1.0}


@case("elbo")
def _elbo(rng, dtype, n):
    recon = rng.normal(size=(n, 4, 2)).astype(dtype)  # logits
    x = rng.uniform(size=(n, 4, 2)).astype(dtype)
    mu = rng.normal(size=(n, 2)).astype(dtype)
    logvar = rng.normal(scale=0.5, size=(n, 2)).astype(dtype)
    return recon, x, {"mu": mu, "logvar": logvar, "beta": 0.7}
