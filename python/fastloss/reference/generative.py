"""NumPy references of the generative-model losses (float64, plain formulas)."""

from __future__ import annotations

import numpy as np

from fastloss import generative as _family
from fastloss.reference._base import RefLoss, reduce_weighted, weights_like


def _rest(x):
    """Elements per sample: reshape(n, -1) cannot infer it when n is 0."""
    return int(np.prod(x.shape[1:], dtype=np.int64))


# the twins of fastloss.generative's losses, name for name
__all__ = list(_family.__all__)


def _softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _keep_nan(x, d):
    return np.where(np.isnan(x), x, d)


# point rules: x -> (loss, derivative)
def _log_real(x):
    return _softplus(-x), -_sigmoid(-x)


def _log_fake(x):
    return _softplus(x), _sigmoid(x)


def _log_saturating(x):
    return -_softplus(x), -_sigmoid(x)


def _hinge_real(x):
    z = 1.0 - x
    return np.where(z < 0, 0.0, z), _keep_nan(x, np.where(z > 0, -1.0, 0.0))


def _hinge_fake(x):
    z = 1.0 + x
    return np.where(z < 0, 0.0, z), _keep_nan(x, np.where(z > 0, 1.0, 0.0))


def _negate(x):
    return -x, _keep_nan(x, np.full_like(x, -1.0))


def _identity(x):
    return x, _keep_nan(x, np.ones_like(x))


def _parts(rule_real, rule_fake):
    def fn(real, fake, reduction, sample_weight, **params):
        real = np.asarray(real, dtype=np.float64)
        fake = np.asarray(fake, dtype=np.float64)
        n = real.size
        w = weights_like(sample_weight, (n + fake.size,))
        with np.errstate(all="ignore"):
            lr, dr = rule_real(real.ravel())
            lf, df = rule_fake(fake.ravel())
            vr, gr = reduce_weighted(lr, dr, None if w is None else w[:n], reduction)
            vf, gf = reduce_weighted(lf, df, None if w is None else w[n:], reduction)
        v = np.concatenate([vr, vf]) if reduction == "none" else vr + vf
        return v, (gr.reshape(real.shape), gf.reshape(fake.shape)), None

    return fn


def _one(rule):
    def fn(fake, reduction, sample_weight, non_saturating=True):
        x = np.asarray(fake, dtype=np.float64)
        r = rule if non_saturating else _log_saturating
        with np.errstate(all="ignore"):
            l, d = r(x)
            return (*reduce_weighted(l, d, weights_like(sample_weight, x.shape), reduction), None)

    return fn


def _gradient_penalty(grads, reduction, sample_weight, target_norm=1.0):
    g = np.asarray(grads, dtype=np.float64)
    n = g.shape[0]
    flat = g.reshape(n, _rest(g))
    with np.errstate(all="ignore"):
        norm = np.sqrt(np.sum(flat * flat, axis=1))
        dev = norm - target_norm
        c = np.where(norm > 0, 2 * dev / norm, np.where(norm == 0, 0.0, norm))
        w = weights_like(sample_weight, (n,))
        v, c = reduce_weighted(dev * dev, c, w, reduction)
    return v, (c[:, None] * flat).reshape(g.shape), None


def _elbo(recon, x, reduction, sample_weight, mu, logvar, recon_loss="bce_with_logits", beta=1.0):
    r = np.asarray(recon, dtype=np.float64)
    y = np.asarray(x, dtype=np.float64)
    m = np.asarray(mu, dtype=np.float64)
    lv = np.asarray(logvar, dtype=np.float64)
    n = r.shape[0]
    with np.errstate(all="ignore"):
        if recon_loss == "mse":
            rec_terms, g_r = (r - y) ** 2, 2 * (r - y)
        else:
            a = np.where(y == 0, 0.0, y * _softplus(-r))
            b = np.where(y == 1, 0.0, (1 - y) * _softplus(r))
            rec_terms, g_r = a + b, _sigmoid(r) - y
        rec = rec_terms.reshape(n, _rest(rec_terms)).sum(axis=1)
        kl = -0.5 * (1 + lv - m * m - np.exp(lv))
        kl = kl.reshape(n, _rest(kl)).sum(axis=1)
        w = weights_like(sample_weight, (n,))
        v, s = reduce_weighted(rec + beta * kl, np.ones(n), w, reduction)
    s_r = s.reshape((n,) + (1,) * (r.ndim - 1))
    s_m = s.reshape((n,) + (1,) * (m.ndim - 1))
    return v, (s_r * g_r, s_m * beta * m, s_m * beta * 0.5 * (np.exp(lv) - 1)), None


gan_discriminator = RefLoss("gan_discriminator", _parts(_log_real, _log_fake), wrt=("real", "fake"))
hinge_gan_discriminator = RefLoss(
    "hinge_gan_discriminator", _parts(_hinge_real, _hinge_fake), wrt=("real", "fake")
)
wasserstein_critic = RefLoss("wasserstein_critic", _parts(_negate, _identity), wrt=("real", "fake"))
gan_generator = RefLoss("gan_generator", _one(_log_real), one_input=True)
hinge_gan_generator = RefLoss("hinge_gan_generator", _one(_negate), one_input=True)
wasserstein_generator = RefLoss("wasserstein_generator", _one(_negate), one_input=True)
gradient_penalty = RefLoss("gradient_penalty", _gradient_penalty, one_input=True)
elbo = RefLoss("elbo", _elbo, inputs=("mu", "logvar"), wrt=("recon", "mu", "logvar"))
