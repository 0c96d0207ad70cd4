"""Regression losses: ``pred`` and ``target`` of the same shape.

Every loss here is element-wise: the per-sample loss array has pred's shape,
``sample_weight`` broadcasts against it, and ``reduction="mean"`` divides by
the number of elements (or by ``sum(sample_weight)``).
"""

from __future__ import annotations

import math

import numpy as np

from fastloss import _core
from fastloss._loss import (
    GRAD_HESS,
    NONE,
    SUM,
    VALUE,
    VALUE_GRAD,
    ElementwiseLoss,
    Loss,
    Param,
    as_float,
    aux_input,
    boolean,
    check_same_shape,
    choice,
    element_at,
    finish,
    min_ignoring_nan,
    new_output,
    prepare_out,
    prepare_weight,
    real,
    reduction_code,
)

__all__ = [
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "log_cosh",
    "quantile",
    "mape",
    "msle",
    "rmse",
    "poisson_nll",
    "gaussian_nll",
    "tweedie",
]

# fastloss::RegressionLoss
_MSE, _MAE, _HUBER, _SMOOTH_L1 = 0, 1, 2, 3
_LOG_COSH, _QUANTILE, _MAPE, _MSLE, _POISSON_NLL, _GAUSSIAN_NLL, _TWEEDIE = 4, 5, 6, 7, 8, 9, 10


def _pack_delta(p, pred, target):
    return (p["delta"], 0.0, 0.0, 0.0), None, target


def _pack_beta(p, pred, target):
    return (p["beta"], 0.0, 0.0, 0.0), None, target


_COMMON_ARGS = """
    Parameters
    ----------
    pred : array_like, any shape
        Predictions (float32 and float64 run natively; other reals are
        converted to float64 once).
    target : array_like, same shape as ``pred``
        Targets, converted to pred's dtype.
    reduction : {"mean", "sum", "none"}, keyword-only
        ``"mean"`` divides the (weighted) sum by the element count, or by
        ``sum(sample_weight)`` when weights are given.
    sample_weight : array_like, optional, keyword-only
        Per-element weights broadcast against ``pred`` (a shape that is a
        prefix of pred's weighs whole samples).
"""

mse = ElementwiseLoss(
    "mse",
    family="regression",
    kernel=_core.regression,
    kernel_id=_MSE,
    has_hess=True,
    peer="torch.nn.functional.mse_loss; sklearn.metrics.mean_squared_error",
    doc="""Mean squared error.

    The default regression loss: ``l = (pred - target)**2`` per element (no
    1/2 factor), gradient ``2 (pred - target)``, Hessian 2.
"""
    + _COMMON_ARGS
    + """
    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.mse_loss`` and
    ``sklearn.metrics.mean_squared_error`` (which averages the same terms).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.mse([1.0, 2.0], [1.0, 4.0])
    2.0
""",
)

mae = ElementwiseLoss(
    "mae",
    family="regression",
    kernel=_core.regression,
    kernel_id=_MAE,
    peer="torch.nn.functional.l1_loss; sklearn.metrics.mean_absolute_error",
    doc="""Mean absolute error.

    Robust to outliers: ``l = |pred - target|``. The gradient is
    ``sign(pred - target)``, 0 where pred equals target (as torch's autograd
    of ``abs`` gives).
"""
    + _COMMON_ARGS
    + """
    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.l1_loss`` and
    ``sklearn.metrics.mean_absolute_error``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.mae([1.0, 2.0], [1.0, 4.0])
    1.0
""",
)

huber = ElementwiseLoss(
    "huber",
    family="regression",
    kernel=_core.regression,
    kernel_id=_HUBER,
    params=(Param("delta", 1.0, real(0.0, lo_open=True)),),
    pack=_pack_delta,
    has_hess=True,
    peer="torch.nn.functional.huber_loss",
    doc="""Huber loss: quadratic near zero, linear beyond ``delta``.

    With ``r = pred - target``::

        l = 0.5 r**2                   if |r| < delta
            delta (|r| - 0.5 delta)    otherwise

    Gradient ``r`` inside, ``delta sign(r)`` outside; Hessian 1 inside and 0
    outside (exact except at ``|r| = delta``).
"""
    + _COMMON_ARGS
    + """    delta : float > 0, keyword-only, default 1.0
        Where the loss turns from quadratic to linear.

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.huber_loss`` (value and gradient).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.huber([0.5, 3.0], [0.0, 0.0], delta=1.0)
    1.3125
""",
)

smooth_l1 = ElementwiseLoss(
    "smooth_l1",
    family="regression",
    kernel=_core.regression,
    kernel_id=_SMOOTH_L1,
    params=(Param("beta", 1.0, real(0.0, lo_open=True)),),
    pack=_pack_beta,
    peer="torch.nn.functional.smooth_l1_loss",
    doc="""Smooth L1 loss: Huber divided by ``beta``.

    With ``r = pred - target``::

        l = 0.5 r**2 / beta      if |r| < beta
            |r| - 0.5 beta       otherwise

    Gradient ``r / beta`` inside, ``sign(r)`` outside.
"""
    + _COMMON_ARGS
    + """    beta : float > 0, keyword-only, default 1.0
        Width of the quadratic zone. (PyTorch accepts ``beta=0`` as plain L1;
        here use :data:`fastloss.mae` for that.)

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.smooth_l1_loss`` (value and gradient).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.smooth_l1([0.5, 3.0], [0.0, 0.0], beta=1.0)
    1.3125
""",
)


# --------------------------------------------------------------------------
# log_cosh, quantile, mape, msle


log_cosh = ElementwiseLoss(
    "log_cosh",
    family="regression",
    kernel=_core.regression,
    kernel_id=_LOG_COSH,
    has_hess=True,
    peer="keras.losses.LogCosh (tf.keras.losses.log_cosh)",
    doc="""Log-cosh loss: quadratic near zero, linear far away, smooth everywhere.

    A twice-differentiable alternative to Huber (no ``delta`` to choose):
    ``log(cosh(r)) ~ r**2 / 2`` for small ``r = pred - target`` and
    ``~ |r| - log(2)`` for large ``|r|``. Computed without overflow for any
    residual (``|r| = 1e4`` included) as::

        l = |r| + log1p(exp(-2 |r|)) - log(2)      (|r| >= 1)
        l = -0.5 * log1p(-tanh(|r|)**2)             (|r| < 1, no cancellation)

    Gradient ``tanh(r)``; Hessian ``1 - tanh(r)**2``, computed as
    ``4 u / (1 + u)**2`` with ``u = exp(-2 |r|)`` so it stays accurate (and
    positive) where ``tanh(r)`` rounds to 1.
"""
    + _COMMON_ARGS
    + """
    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches Keras ``LogCosh`` (``mean(log(cosh(pred - target)))``; Keras
    averages over the last axis first, which gives the same mean here).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.log_cosh([0.0, 1.0], [0.0, 0.0]), 12)
    0.216890415242
""",
)


def _pack_quantile(p, pred, target):
    return (p["quantile"], 0.0, 0.0, 0.0), None, target


quantile = ElementwiseLoss(
    "quantile",
    family="regression",
    kernel=_core.regression,
    kernel_id=_QUANTILE,
    params=(Param("quantile", 0.5, real(0.0, 1.0, lo_open=True, hi_open=True)),),
    pack=_pack_quantile,
    has_hess=True,
    hess_exact=True,
    peer="sklearn.metrics.mean_pinball_loss (alpha=quantile)",
    doc="""Pinball (quantile) loss: fits the ``quantile``-th conditional quantile.

    For quantile regression and prediction intervals; ``quantile=0.5`` is half
    the absolute error. With ``q = quantile`` and ``d = target - pred``::

        l = q d            if d >= 0
            (q - 1) d      otherwise

    Gradient ``-q`` where ``target >= pred`` (the kink included, as
    scikit-learn's ``PinballLoss``), ``1 - q`` elsewhere. The Hessian is 0
    (exact everywhere but at the kink, where it does not exist); boosting
    libraries that need a positive Hessian substitute their own.
"""
    + _COMMON_ARGS
    + """    quantile : float in (0, 1), keyword-only, default 0.5
        The quantile ``q`` (scikit-learn's ``alpha``; 0 and 1 are refused).

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``sklearn.metrics.mean_pinball_loss(target, pred, alpha=quantile,
    sample_weight=w)`` for 1-D inputs (for 2-D inputs scikit-learn averages
    per-column means; with equal column weights that is the same number).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.quantile([1.0, 3.0], [2.0, 2.0], quantile=0.9)
    0.5
""",
)

mape = ElementwiseLoss(
    "mape",
    family="regression",
    kernel=_core.regression,
    kernel_id=_MAPE,
    peer="sklearn.metrics.mean_absolute_percentage_error",
    doc="""Mean absolute percentage error, as a fraction (not multiplied by 100).

    A scale-free error for targets far from zero::

        l = |pred - target| / max(|target|, eps)

    with ``eps = np.finfo(np.float64).eps = 2**-52 ~ 2.22e-16`` for float32 and
    float64 alike, as scikit-learn uses (so a zero target gives a huge, finite
    loss rather than inf). Gradient ``sign(pred - target) / max(|target|, eps)``,
    0 where pred equals target.
"""
    + _COMMON_ARGS
    + """
    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``sklearn.metrics.mean_absolute_percentage_error`` (1-D inputs,
    or 2-D with the default uniform average over columns).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.mape([110.0, 45.0], [100.0, 50.0])
    0.1
""",
)


def _explain_msle(pred, target, i, p):
    # the kernel checks pred and target > -1 in its pass; this words the message
    for x, name in ((pred, "pred"), (target, "target")):
        where, v = element_at(x, i)
        if v <= -1:
            return (f"msle: every value of {name} must be > -1 (log1p of a value <= -1 is "
                    f"undefined); got {v!r} at index {where}")
    raise AssertionError("the kernel reported a valid element")  # pragma: no cover


msle = ElementwiseLoss(
    "msle",
    family="regression",
    kernel=_core.regression,
    kernel_id=_MSLE,
    explain=_explain_msle,
    peer="sklearn.metrics.mean_squared_log_error",
    doc="""Mean squared logarithmic error.

    For positive targets spanning orders of magnitude, where relative errors
    matter (counts, prices)::

        l = (log1p(pred) - log1p(target))**2

    Gradient ``2 (log1p(pred) - log1p(target)) / (1 + pred)``. A value ``<= -1``
    in ``pred`` or ``target`` raises ``ValueError`` (checked in the kernel's
    own pass) -- the same rule as scikit-learn 1.9, which also accepts values
    in (-1, 0). NaN is not an error: it propagates.

    The difference ``d = log1p(pred) - log1p(target)`` is computed as one
    logarithm of the ratio ``(1 + pred) / (1 + target)``, to a few ulp
    wherever ``pred`` and ``target`` are close; a difference of two
    ``log1p`` (scikit-learn, PyTorch, JAX) loses digits there.
"""
    + _COMMON_ARGS
    + """
    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Raises
    ------
    ValueError
        If ``pred`` or ``target`` holds a value ``<= -1``.

    Matches ``sklearn.metrics.mean_squared_log_error``.

    Examples
    --------
    >>> import math
    >>> import fastloss as fl
    >>> fl.msle([math.e - 1.0], [0.0])
    1.0
""",
)


# --------------------------------------------------------------------------
# rmse: the square root of a mean, not element-wise


class _RootMeanSquare(Loss):
    """sqrt of the (weighted) mean of squared errors, on the mse kernel.

    The kernel pass gives ``S = sum(w r**2)`` (and the element-wise ``2 w r``
    where a gradient is asked, or ``w r**2`` for ``reduction="none"``); the
    chain rule of the square root is one scaling of those buffers in place.
    """

    def _run(self, op, pred, target, reduction, sample_weight, out, params):
        red = reduction_code(reduction)
        if op == GRAD_HESS:  # pragma: no cover - has_hess is False
            raise TypeError(f"{self.name} has no Hessian")
        pred = as_float(pred, self.pred_name)
        dt = pred.dtype
        target = as_float(target, self.target_name, dt)
        if pred.shape != target.shape:
            check_same_shape(pred, target, self.pred_name, self.target_name)
        self.resolve_params(params)  # no parameters: refuses unknown keywords
        shape = pred.shape
        w = prepare_weight(sample_weight, shape, dt) if sample_weight is not None else None
        grad = prepare_out(out, shape, dt) if op != VALUE else None
        kop = VALUE if op == VALUE else VALUE_GRAD
        sq = None
        if red == NONE:
            sq = new_output(shape, dt, pred.nbytes)
            _core.regression(_MSE, kop, NONE, pred, target, w, None, sq, grad, None,
                             0.0, 0.0, 0.0, 0.0)
            total = float(np.sum(sq, dtype=np.float64))
        else:
            total = _core.regression(_MSE, kop, SUM, pred, target, w, None, None, grad, None,
                                     0.0, 0.0, 0.0, 0.0)
        wsum = float(pred.size) if w is None else float(np.sum(w, dtype=np.float64))
        m = total / wsum if wsum != 0 else math.nan
        root = math.sqrt(m) if m >= 0 else math.nan  # NaN stays NaN
        # d sqrt(m) = dm / (2 sqrt(m)); at m = 0 every r (with w > 0) is 0 and
        # the gradient is taken as 0 (the subgradient of |r|), never 0/0.
        inv = 0.0 if root == 0 else 1.0 / root
        if grad is not None:
            scale = 0.5 * inv / wsum if red not in (NONE, SUM) else 0.5 * inv
            np.multiply(grad, scale, out=grad)
        if red == NONE:
            np.multiply(sq, inv, out=sq)
            value = None
        elif red == SUM:
            value = wsum * root
        else:
            value = root
        return finish(op, red, value, sq, grad, None)


rmse = _RootMeanSquare(
    "rmse",
    family="regression",
    peer="sklearn.metrics.root_mean_squared_error",
    doc="""Root mean squared error: ``sqrt(mean((pred - target)**2))``.

    The error in the target's own units. It is not an element-wise loss (the
    square root is taken after the mean), so it runs the mse kernel once --
    one pass over memory for the value, or for value and gradient together --
    and applies the chain rule to the result (one in-place scaling of the
    gradient buffer). With ``r = pred - target``, weights
    ``w`` (1 when not given) and ``W = sum(w)``::

        RMSE = sqrt(m),  m = sum(w r**2) / W
        d RMSE / d pred_i = w_i r_i / (W RMSE)

    When ``m = 0`` (every residual of positive weight is 0) the gradient is 0,
    not NaN (0 is a subgradient of the square root of a sum of squares there).

    Reductions (scikit-learn has only the mean):

    * ``"mean"``: ``RMSE`` itself.
    * ``"sum"``: ``W * RMSE``, so that ``sum == mean * W`` as for every other
      loss; its gradient is ``W`` times the mean's.
    * ``"none"``: each element's share ``w_i r_i**2 / RMSE``. The shares add up
      to the ``"sum"`` value and their weighted mean is the RMSE; the gradient
      returned with ``"none"`` is the gradient of that sum (as for element-wise
      losses, where the ``"none"`` gradient is the ``"sum"`` gradient). They
      are *not* the per-element errors ``|r_i|``: use :data:`fastloss.mae`
      with ``reduction="none"`` for those. Zero shares when ``RMSE = 0``.

    Multi-dimensional input: fastloss takes one global mean over every element
    (``sqrt`` of the mean of all squares, weights broadcast as for mse).
    scikit-learn's default for 2-D input (``multioutput="uniform_average"``)
    averages the per-column RMSEs instead, which differs unless every column
    has the same RMSE; fastloss equals scikit-learn on the flattened arrays.
"""
    + _COMMON_ARGS
    + """
    Returns
    -------
    float, or ndarray of pred's shape (the shares) for ``reduction="none"``.

    Matches ``sklearn.metrics.root_mean_squared_error`` for 1-D inputs (with
    or without ``sample_weight``). Has no Hessian.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.rmse([3.0, 0.0], [0.0, 4.0])
    3.5355339059327378
    >>> fl.rmse.grad([3.0, 0.0], [0.0, 4.0]).tolist()
    [0.4242640687119285, -0.565685424949238]
""",
)


# --------------------------------------------------------------------------
# likelihoods: poisson_nll, gaussian_nll, tweedie


def _pack_poisson(p, pred, target):
    return (float(p["log_input"]), float(p["full"]), p["eps"], 0.0), None, target


poisson_nll = ElementwiseLoss(
    "poisson_nll",
    family="regression",
    kernel=_core.regression,
    kernel_id=_POISSON_NLL,
    params=(
        Param("log_input", True, boolean()),
        Param("full", False, boolean()),
        Param("eps", 1e-8, real(0.0)),
    ),
    pack=_pack_poisson,
    has_hess=True,
    peer="torch.nn.functional.poisson_nll_loss",
    doc="""Poisson negative log likelihood, for count targets.

    ``pred`` is the log of the Poisson rate (``log_input=True``, the default
    and the stable choice) or the rate itself::

        log_input=True:   l = exp(pred) - target * pred
        log_input=False:  l = pred - target * log(pred + eps)

    The constant ``log(target!)`` is dropped unless ``full=True``, which adds
    Stirling's approximation ``target log(target) - target + 0.5 log(2 pi
    target)`` where ``target > 1`` (0 elsewhere, as PyTorch masks it); it
    does not depend on ``pred``. Gradient ``exp(pred) - target`` (log input)
    or ``1 - target / (pred + eps)``; Hessian ``exp(pred)`` or
    ``target / (pred + eps)**2``. With ``log_input=False`` a ``pred + eps <= 0``
    gives inf/NaN, as in PyTorch (no check).
"""
    + _COMMON_ARGS
    + """    log_input : bool, keyword-only, default True
        Whether ``pred`` is the log-rate (else the rate).
    full : bool, keyword-only, default False
        Add the Stirling term.
    eps : float >= 0, keyword-only, default 1e-8
        Added to ``pred`` inside the log when ``log_input=False``.

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.poisson_nll_loss`` (value and autograd
    gradient, every combination of ``log_input`` and ``full``).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.poisson_nll([0.0, 0.0], [1.0, 3.0])
    1.0
""",
)


def _prepare_var(var, pred: np.ndarray) -> np.ndarray:
    if var is None:
        raise TypeError("gaussian_nll() missing required keyword argument 'var'")
    v = as_float(var, "var", pred.dtype)
    if min_ignoring_nan(v) < 0:  # checked before broadcasting: each value once
        raise ValueError("var has negative entries (a variance must be >= 0)")
    shape = pred.shape
    if v.shape != shape and v.ndim >= 1 and v.shape == shape[:-1]:
        v = v[..., None]  # torch: var one dimension short -> one var per row
    return aux_input(v, pred, "var", "pred's")


def _pack_gaussian(p, pred, target):
    aux = _prepare_var(p["var"], pred)
    return (p["eps"], float(p["full"]), 0.0, 0.0), aux, target


gaussian_nll = ElementwiseLoss(
    "gaussian_nll",
    family="regression",
    kernel=_core.regression,
    kernel_id=_GAUSSIAN_NLL,
    params=(
        Param("var", None),
        Param("full", False, boolean()),
        Param("eps", 1e-6, real(0.0, lo_open=True)),
    ),
    pack=_pack_gaussian,
    peer="torch.nn.functional.gaussian_nll_loss",
    doc="""Gaussian negative log likelihood with a predicted variance.

    For regression that predicts a mean (``pred``) and a variance (``var``),
    e.g. heteroscedastic models. With ``v = max(var, eps)``::

        l = 0.5 * (log(v) + (pred - target)**2 / v)   [+ 0.5 log(2 pi) if full]

    The clamp at ``eps`` is taken as PyTorch does (on a copy of ``var``, under
    ``no_grad``); a NaN in ``var`` stays NaN. The gradient is with respect to
    ``pred`` only: ``(pred - target) / v`` (``var`` is a parameter here; its
    own derivative is not returned).
"""
    + _COMMON_ARGS
    + """    var : array_like, required keyword
        Variances, broadcast to pred's shape: same shape (heteroscedastic), a
        scalar, any NumPy-broadcastable shape, or pred's shape without its last
        axis (one variance per row, as PyTorch unsqueezes it). Negative entries
        raise ``ValueError`` (as in PyTorch).
    full : bool, keyword-only, default False
        Add the constant ``0.5 log(2 pi) = 0.9189385332046727``.
    eps : float > 0, keyword-only, default 1e-6
        Lower clamp of ``var``.

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.gaussian_nll_loss`` (value and the autograd
    gradient with respect to the input). PyTorch is stricter about ``var``'s
    shape (at most one mismatched dimension).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.gaussian_nll([1.0, 2.0], [1.0, 0.0], var=[1.0, 4.0])
    0.5965735902799727
""",
)


def _check_power(name, v):
    v = real()(name, v)
    if 0.0 < v < 1.0:
        raise ValueError(f"{name} must be <= 0 or >= 1 (no Tweedie distribution has a power "
                         f"in (0, 1)), got {v}")
    return v


_LINKS = {"identity": 0.0, "log": 1.0}


def _pack_tweedie(p, pred, target):
    return (p["power"], _LINKS[p["link"]], 0.0, 0.0), None, target


def _explain_tweedie(pred, target, i, p):
    """The message for the first element outside the domain (the kernel's check)."""
    power = p["power"]
    what = f"tweedie(power={power:g})"
    where, y = element_at(target, i)
    if power >= 2 and y <= 0:
        return (f"{what}: every value of target must be > 0 for power >= 2; got {y!r} "
                f"at index {where}")
    if power >= 1 and y < 0:
        return (f"{what}: every value of target must be >= 0 for 1 <= power < 2; got {y!r} "
                f"at index {where}")
    where, s = element_at(pred, i)
    return (f"{what}: every value of pred must be > 0 (pred is the mean with link='identity'; "
            f"use link='log' for raw scores); got {s!r} at index {where}")


tweedie = ElementwiseLoss(
    "tweedie",
    family="regression",
    kernel=_core.regression,
    kernel_id=_TWEEDIE,
    params=(
        Param("power", 1.5, _check_power),
        Param("link", "identity", choice("identity", "log")),
    ),
    pack=_pack_tweedie,
    explain=_explain_tweedie,
    has_hess=True,
    peer="sklearn.metrics.mean_tweedie_deviance; sklearn._loss.loss.HalfTweedieLoss (link='log')",
    doc="""Tweedie deviance: normal, Poisson, compound Poisson-gamma, gamma, ...

    For non-negative skewed targets (insurance claims, rainfall, counts),
    with ``p = power`` and ``mu`` the predicted mean::

        p = 0:    (y - mu)**2
        p = 1:    2 (y log(y / mu) - y + mu)          (y log(y / mu) = 0 at y = 0)
        p = 2:    2 (log(mu / y) + y / mu - 1)
        else:     2 (max(y, 0)**(2-p) / ((1-p)(2-p)) - y mu**(1-p) / (1-p)
                     + mu**(2-p) / (2-p))

    (the unit deviance, with scikit-learn's factor 2). With
    ``link="identity"`` ``pred`` is ``mu``; with ``link="log"`` ``pred`` is a
    raw score ``s`` and ``mu = exp(s)``, what boosting libraries fit. The
    gradient and Hessian are with respect to ``pred``::

        identity:  2 mu**-p (mu - y),          2 mu**(-p-1) (p y + (1-p) mu)
        log:       2 (mu**(2-p) - y mu**(1-p)), 2 ((2-p) mu**(2-p) - (1-p) y mu**(1-p))

    The log-link derivatives are exactly twice scikit-learn's
    ``HalfTweedieLoss`` (which is half the deviance, less terms in ``y`` only)
    and twice LightGBM's ``tweedie`` objective. The identity-link Hessian is
    negative where ``mu > p y / (p - 1)`` (the deviance is not convex in
    ``mu``); the log link's is positive for ``1 <= p <= 2``.

    Domain, as scikit-learn checks it (``ValueError`` naming the argument):
    ``power`` in (0, 1) is refused; ``target >= 0`` for ``1 <= p < 2`` and
    ``target > 0`` for ``p >= 2``; ``pred > 0`` for ``p != 0`` with the
    identity link (any real with the log link). ``p < 0`` accepts any target.
"""
    + _COMMON_ARGS
    + """    power : float, keyword-only, default 1.5
        Tweedie power ``p``: <= 0 or >= 1.
    link : {"identity", "log"}, keyword-only, default "identity"
        How ``pred`` maps to the mean.

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``sklearn.metrics.mean_tweedie_deviance(target, mu, power=p,
    sample_weight=w)`` (1-D; scikit-learn refuses 2-D input) for the value,
    and 2 x ``sklearn._loss.loss.HalfTweedieLoss(power=p).gradient_hessian``
    for the log-link derivatives.

    Examples
    --------
    >>> import fastloss as fl
    >>> abs(fl.tweedie([1.0, 2.0], [1.0, 2.0], power=1.5)) < 1e-15  # 0 up to rounding
    True
    >>> fl.tweedie([2.0], [1.0], power=1.0)
    0.6137056388801092
""",
)
