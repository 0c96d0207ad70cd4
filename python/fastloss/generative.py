"""Losses of generative models: GAN, hinge GAN, Wasserstein GAN (with its
gradient penalty) and the VAE's ELBO.

The adversarial losses take the discriminator's (critic's) raw outputs:
logits for the GAN losses, unbounded scores for the hinge and Wasserstein
ones. The two-part losses (``real``, ``fake``) are the mean over the real
samples plus the mean over the fake ones (``"sum"``: the two sums), as the
papers and every implementation write them, so the two batches may differ
in size; their ``reduction="none"`` returns the per-sample losses of the
real samples followed by those of the fake ones (shape ``(real.size +
fake.size,)``), and ``sample_weight`` weighs that concatenation (each part's
weighted mean is taken over its own weights). Every input is
differentiable: ``grad`` returns ``(d/d real, d/d fake)``.
"""

from __future__ import annotations

from fastloss._arrays import as_float
from fastloss._catalogue import declare
from fastloss._loss import GENERATIVE
from fastloss._tensors import Plan, TensorLoss, as_reals

__all__ = [
    "gan_discriminator",
    "gan_generator",
    "hinge_gan_discriminator",
    "hinge_gan_generator",
    "wasserstein_critic",
    "wasserstein_generator",
    "gradient_penalty",
    "elbo",
]


def _declare(cls, name, peer, doc):
    return declare(cls, name, kernel=GENERATIVE, peer=peer, doc=doc)


class _RealFake(TensorLoss):
    """(real, fake) of any shapes: one loss per output, each part its mean."""

    _mean_over_samples = False

    def _plan(self, inputs, p):
        real, fake = as_reals(inputs, self.inputs)
        plan = Plan((real, fake), (real.size, fake.size), ())
        return real.dtype, (real.size + fake.size,), (real.shape, fake.shape), (real, fake), plan

    def _samples(self, state):
        return int(state.dims[0] + state.dims[1])


class _Fake(TensorLoss):
    """(fake,) of any shape: one loss per output."""

    def _plan(self, inputs, p):
        fake = as_float(inputs[0], self.inputs[0])
        ns = 1.0 if p.get("non_saturating", True) else 0.0
        plan = Plan((fake,), (fake.size,), (ns,))
        return fake.dtype, fake.shape, (fake.shape,), (fake,), plan


class _GradientPenalty(TensorLoss):
    def _plan(self, inputs, p):
        g = as_float(inputs[0], "grads")
        if g.ndim < 1:
            raise ValueError("grads: expected per-sample gradients of shape (N, ...), got a scalar")
        n = g.shape[0]
        k = g.size // n if n else 0
        plan = Plan((g,), (n, k), (float(p["target_norm"]),))
        return g.dtype, (n,), (g.shape,), (g,), plan


class _Elbo(TensorLoss):
    def _plan(self, inputs, p):
        recon, x, mu, logvar = as_reals(inputs, self.inputs)
        if recon.ndim < 1 or mu.ndim < 1:
            raise ValueError("recon and mu: expected batches, shape (N, ...)")
        if x.shape != recon.shape:
            raise ValueError(
                f"x: expected recon's shape {tuple(recon.shape)}, got {tuple(x.shape)}"
            )
        if logvar.shape != mu.shape:
            raise ValueError(
                f"logvar: expected mu's shape {tuple(mu.shape)}, got {tuple(logvar.shape)}"
            )
        n = recon.shape[0]
        if mu.shape[0] != n:
            raise ValueError(
                f"mu: expected {n} samples (recon's first axis), got shape {tuple(mu.shape)}"
            )
        per = recon.size // n if n else 0
        z = mu.size // n if n else 0
        mse = 1.0 if p["recon_loss"] == "mse" else 0.0
        plan = Plan((recon, x, mu, logvar), (n, per, z), (mse, float(p["beta"])))
        shapes = (recon.shape, mu.shape, logvar.shape)
        return recon.dtype, (n,), shapes, (recon, x, mu, logvar), plan


_PARTS = """
    Parameters
    ----------
    real : array_like, any shape
        The discriminator's outputs on real samples.
    fake : array_like, any shape
        Its outputs on generated samples (converted to real's dtype).
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"mean"``: mean over real plus mean over fake; ``"sum"``: the sums;
        ``"none"``: the per-sample losses, real then fake, flattened.
    sample_weight : array_like of shape ``(real.size + fake.size,)``, optional

    Returns
    -------
    float, or an array of ``real.size + fake.size`` losses. ``grad``
    returns ``(d/d real, d/d fake)`` of the inputs' shapes.
"""

_ONE = """
    Parameters
    ----------
    fake : array_like, any shape
        The discriminator's (critic's) outputs on generated samples.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        Broadcast against ``fake``'s shape.
"""

gan_discriminator = _declare(
    _RealFake,
    "gan_discriminator",
    "torch: binary_cross_entropy_with_logits(real, ones) + "
    "binary_cross_entropy_with_logits(fake, zeros)",
    """The GAN discriminator's loss on logits (Goodfellow et al. 2014).

    ::

        loss = mean(softplus(-real)) + mean(softplus(fake))
             = -mean(log sigmoid(real)) - mean(log(1 - sigmoid(fake)))

    Equal to ``F.binary_cross_entropy_with_logits(real, ones) +
    F.binary_cross_entropy_with_logits(fake, zeros)`` in torch, value and
    gradients; finite for every finite logit.
"""
    + _PARTS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.gan_discriminator([0.0], [0.0]), 6)  # 2 log 2
    1.386294
""",
)

gan_generator = _declare(
    _Fake,
    "gan_generator",
    "torch: binary_cross_entropy_with_logits(fake, ones) (non-saturating)",
    """The GAN generator's loss on the discriminator's logits of fakes.

    ::

        non_saturating=True:   loss = mean(softplus(-fake)) = -mean(log sigmoid(fake))
        non_saturating=False:  loss = -mean(softplus(fake)) = mean(log(1 - sigmoid(fake)))

    The non-saturating form (Goodfellow et al. 2014, section 3) is what GANs
    train with: ``F.binary_cross_entropy_with_logits(fake, ones)``. The
    original minimax form saturates when the discriminator wins.

    Departure (the saturating form): it is computed as ``-softplus(fake)``,
    finite with a gradient ``-sigmoid(fake)`` for every finite logit, where
    torch's ``torch.log(1 - torch.sigmoid(fake))`` is ``-inf`` once the
    sigmoid rounds to 1 (``fake`` above about 36.7 in float64, 16.6 in
    float32) and its gradient there NaN. At infinite logits both forms
    take their limits (``inf``/``-inf``, gradient 0 or -1), where torch
    gives NaN for some (``binary_cross_entropy_with_logits(inf, 1)``).
"""
    + _ONE
    + """    non_saturating : bool, keyword-only, default True

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.gan_generator([0.0, 0.0]), 6)  # log 2
    0.693147
""",
)

hinge_gan_discriminator = _declare(
    _RealFake,
    "hinge_gan_discriminator",
    "torch: relu(1 - real).mean() + relu(1 + fake).mean() (SAGAN, BigGAN)",
    """The hinge loss of a GAN discriminator (Lim & Ye 2017; SAGAN, BigGAN).

    ::

        loss = mean(max(0, 1 - real)) + mean(max(0, 1 + fake))

    Equal to ``F.relu(1 - real).mean() + F.relu(1 + fake).mean()`` in torch,
    value and gradients (0 at the kinks, as relu's).
"""
    + _PARTS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> fl.hinge_gan_discriminator([2.0, 0.5], [-2.0, 0.0])
    0.75
""",
)

hinge_gan_generator = _declare(
    _Fake,
    "hinge_gan_generator",
    "torch: -fake.mean()",
    """The hinge GAN generator's loss: ``-mean(fake)``.
"""
    + _ONE
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> fl.hinge_gan_generator([1.0, 2.0])
    -1.5
""",
)

wasserstein_critic = _declare(
    _RealFake,
    "wasserstein_critic",
    "torch: fake.mean() - real.mean() (WGAN)",
    """The Wasserstein GAN critic's loss (Arjovsky et al. 2017).

    ::

        loss = mean(fake) - mean(real)

    Add :data:`gradient_penalty` (times lambda, usually 10) for WGAN-GP.
"""
    + _PARTS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> fl.wasserstein_critic([1.0, 3.0], [0.5])
    -1.5
""",
)

wasserstein_generator = _declare(
    _Fake,
    "wasserstein_generator",
    "torch: -fake.mean() (WGAN)",
    """The Wasserstein GAN generator's loss: ``-mean(fake)`` on critic scores.
"""
    + _ONE
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> fl.wasserstein_generator([1.0, 2.0])
    -1.5
""",
)

gradient_penalty = _declare(
    _GradientPenalty,
    "gradient_penalty",
    "torch: ((grads.flatten(1).norm(2, dim=1) - target_norm) ** 2).mean() (WGAN-GP)",
    """WGAN-GP's gradient penalty on per-sample gradients (Gulrajani et al. 2017).

    ::

        loss_i = (||g_i||_2 - target_norm)^2,  g_i = grads[i].ravel()

    ``grads`` are the gradients of the critic's output w.r.t. its
    interpolated inputs, computed by the user's framework; multiply the
    mean by lambda (10 in the paper). The gradient w.r.t. ``grads`` is
    ``2 (||g|| - t) g / ||g||``, and 0 at ``g = 0`` as torch's norm gives it.

    Parameters
    ----------
    grads : array_like, shape (N, ...)
        One gradient per sample along the first axis.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like of shape (N,), optional, keyword-only
    target_norm : float >= 0, keyword-only, default 1.0

    Returns
    -------
    float, or an array of shape (N,). ``grad`` has grads' shape.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.gradient_penalty([[3.0, 4.0], [0.0, 1.0]])  # ((5 - 1)^2 + 0) / 2
    8.0
""",
)

elbo = _declare(
    _Elbo,
    "elbo",
    "torch: the VAE loss of Kingma & Welling's example, "
    "F.binary_cross_entropy_with_logits(recon, x, reduction='sum') / N + beta * KL / N",
    """The negative evidence lower bound of a VAE (Kingma & Welling 2014; beta-VAE).

    Per sample ``i`` (its reconstruction summed over all its values, the KL
    over its latent dimensions)::

        rec_i = sum_p BCEWithLogits(recon_ip, x_ip)     (recon_loss="bce_with_logits")
              = sum_p (recon_ip - x_ip)^2               (recon_loss="mse": no 1/2)
        kl_i  = -1/2 sum_j (1 + logvar_ij - mu_ij^2 - exp(logvar_ij))
        loss_i = rec_i + beta * kl_i

    ``"mean"`` averages over the batch (the usual VAE loss divided by N).
    Gradients w.r.t. ``recon``, ``mu`` and ``logvar`` (``x`` is the data).

    Parameters
    ----------
    recon : array_like, shape (N, ...)
        Decoder outputs: logits for ``"bce_with_logits"``, values for ``"mse"``.
    x : array_like, recon's shape
        The data (in [0, 1] for the BCE form).
    mu, logvar : array_like, shape (N, ...)
        The encoder's Gaussian: mean and log-variance, one shape.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like of shape (N,), optional, keyword-only
    recon_loss : {"bce_with_logits", "mse"}, keyword-only
    beta : float >= 0, keyword-only, default 1.0

    Returns
    -------
    float, or an array of shape (N,). ``grad`` returns ``(d/d recon, d/d mu,
    d/d logvar)``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.elbo([[0.0, 0.0]], [[1.0, 0.0]], [[0.0]], [[0.0]], recon_loss="mse")
    1.0
""",
)
