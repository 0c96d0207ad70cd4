"""Regression losses: ``pred`` and ``target`` of the same shape.

Every loss here is element-wise: the per-sample loss array has pred's shape,
``sample_weight`` broadcasts against it, and ``reduction="mean"`` divides by
the number of elements (or by ``sum(sample_weight)``).
"""

from __future__ import annotations

import math

import numpy as np

from fastloss import _core
from fastloss._arrays import (
    as_contiguous,
    as_float,
    aux_input,
    broadcast_full,
    element_at,
    new_output,
    sum_to_shape,
)
from fastloss._catalogue import check_domain, declare, grad_kernel, kernel_id, metadata
from fastloss._loss import (
    GRAD,
    NONE,
    REGRESSION,
    SUM,
    VALUE,
    VALUE_GRAD,
    ElementwiseLoss,
    Loss,
    _feed,
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
    "pseudo_huber",
]

# kernel ids that run paths call by hand (rmse, the binary Brier score and
# fastloss.jax run the mse kernel; gaussian_nll its two), from the C++
# catalogue; every declaration takes its own through declare
_MSE = kernel_id("mse")
_GAUSSIAN_NLL = kernel_id("gaussian_nll")
_GAUSSIAN_NLL_VAR = grad_kernel("gaussian_nll", "var")


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

mse = declare(
    ElementwiseLoss,
    "mse",
    kernel=REGRESSION,
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

mae = declare(
    ElementwiseLoss,
    "mae",
    kernel=REGRESSION,
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

huber = declare(
    ElementwiseLoss,
    "huber",
    kernel=REGRESSION,
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

smooth_l1 = declare(
    ElementwiseLoss,
    "smooth_l1",
    kernel=REGRESSION,
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


pseudo_huber = declare(
    ElementwiseLoss,
    "pseudo_huber",
    kernel=REGRESSION,
    peer="xgboost reg:pseudohubererror (huber_slope=delta)",
    doc="""Pseudo-Huber (Charbonnier) loss: a smooth Huber, twice differentiable.

    Quadratic near zero and linear far away like :data:`huber`, with no kink,
    so its Hessian is positive everywhere (what boosting wants). With
    ``r = pred - target``::

        l = delta**2 * (sqrt(1 + (r / delta)**2) - 1)

    gradient ``r / sqrt(1 + (r/delta)**2)`` and Hessian
    ``(1 + (r/delta)**2)**-1.5``. Computed without cancellation for small
    ``r`` and without overflow for large ``r`` (``r = inf`` gives ``inf``,
    gradient ``delta``, Hessian 0).
"""
    + _COMMON_ARGS
    + """    delta : float > 0, keyword-only, default 1.0
        Scale of the transition (XGBoost's ``huber_slope``).

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches XGBoost's ``reg:pseudohubererror`` objective (its gradient and
    Hessian with ``huber_slope=delta``) and its ``mphe`` metric (the value).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.pseudo_huber([0.0, 3.0], [0.0, -1.0], delta=3.0, reduction="sum")
    6.0
    >>> fl.pseudo_huber.grad_hess([4.0], [0.0], delta=3.0, reduction="none")
    (array([2.4]), array([0.216]))
""",
)


# --------------------------------------------------------------------------
# log_cosh, quantile, mape, msle


log_cosh = declare(
    ElementwiseLoss,
    "log_cosh",
    kernel=REGRESSION,
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


quantile = declare(
    ElementwiseLoss,
    "quantile",
    kernel=REGRESSION,
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

mape = declare(
    ElementwiseLoss,
    "mape",
    kernel=REGRESSION,
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


msle = declare(
    ElementwiseLoss,
    "msle",
    kernel=REGRESSION,
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
    The target's gradient (on request) is the same pass on the swapped arrays
    (``r`` negated, ``S`` and the shares the same).
    """

    _pack = None
    _plan = ElementwiseLoss._plan

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        pred, target = state[0], state[1]
        # broadcast views read as patterns (see ElementwiseLoss._launch)
        kp, kt = _feed(pred), _feed(target)
        g_pred, g_target = (*(grads or ()), None, None)[:2]
        grad = g_pred
        if g_target is not None:
            if g_pred is None:  # the target's alone: the one pass, swapped
                kp, kt, grad = kt, kp, g_target
            else:  # both: the target's by a second pass
                self._run_pair(
                    REGRESSION, _MSE, GRAD, SUM, kt, kp, w, None, g_target, None, size=pred.size
                )
        kop = VALUE if op == VALUE else VALUE_GRAD
        if red == NONE:
            if value_out is None:  # the shares are needed for the total
                value_out = new_output(pred.shape, pred.dtype, pred.nbytes)
            self._run_pair(
                REGRESSION, _MSE, kop, NONE, kp, kt, w, value_out, grad, None, size=pred.size
            )
            total = float(np.sum(value_out, dtype=np.float64))
        else:
            total = self._run_pair(
                REGRESSION, _MSE, kop, SUM, kp, kt, w, None, grad, None, size=pred.size
            )
        wsum = float(pred.size) if w is None else _weight_sum(w, pred)
        if wsum == 0:
            # no data (or no weight): the mean is 0/0, as the reference's; a
            # sum over nothing is 0 as for every other loss
            root = inv = math.nan
            if pred.size == 0:
                inv = 0.0
        else:
            m = total / wsum
            root = math.sqrt(m) if m >= 0 else math.nan  # NaN stays NaN
            # d sqrt(m) = dm / (2 sqrt(m)); at m = 0 every r (with w > 0) is 0
            # and the gradient is taken as 0 (the subgradient of |r|), not 0/0.
            inv = 0.0 if root == 0 else 1.0 / root
        if grad is not None:
            scale = 0.5 * inv / wsum if (red == 2 and wsum != 0) else 0.5 * inv
            if scale == 0.0 and not math.isfinite(total):
                # an infinite residual makes root inf and the scale 0: inf * 0
                # is NaN, as the reference's, without NumPy's warning
                with np.errstate(invalid="ignore"):
                    np.multiply(grad, scale, out=grad)
            else:
                np.multiply(grad, scale, out=grad)
            if g_pred is not None and g_target is not None:
                with np.errstate(invalid="ignore"):  # as pred's (see above)
                    np.multiply(g_target, scale, out=g_target)
        if red == NONE:
            with np.errstate(invalid="ignore"):  # inf * 0 (see above); not the hot path
                np.multiply(value_out, inv, out=value_out)
            return None
        if red == SUM:
            return 0.0 if pred.size == 0 else wsum * root
        return root


def _weight_sum(w, pred) -> float:
    """``sum(w)`` over pred's elements by the kernels' blocked tree: the mse
    kernel's sum of ``(0 - 1)**2 * w`` over broadcast patterns, whose terms
    are the weights exactly. Its bits are those of the denominator mse's
    weighted mean divides by, so rmse's value is the root of mse's mean bit
    for bit (and of fastloss.Accumulator's; NumPy's sum has another tree)."""
    n = pred.size
    if n == 0:
        return 0.0
    zero, one = np.zeros(1, pred.dtype), np.ones(1, pred.dtype)
    total = _core.run(
        REGRESSION, _MSE, VALUE, SUM, (zero, 1, n), target=(one, 1, n), sample_weight=w, size=n
    )
    assert total is not None  # a reduced value was asked
    return total


rmse = _RootMeanSquare(
    "rmse",
    **metadata("rmse"),
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


poisson_nll = declare(
    ElementwiseLoss,
    "poisson_nll",
    kernel=REGRESSION,
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


def _var_shape(var: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """var as it broadcasts against pred: torch's rule that a var one
    dimension short holds one variance per row (it unsqueezes the last axis).
    Any other var with fewer dimensions than pred (but at least one) is
    refused unless it holds one value: NumPy would broadcast it over the
    last axes, so a ``(C,)`` var would mean one variance per column for
    N != C and one per row for N == C. A var of one value, or one with
    pred's number of dimensions, broadcasts."""
    shape = pred.shape
    if var.shape == shape or var.size == 1:
        return var
    if var.ndim >= 1 and var.shape == shape[:-1]:
        return var[..., None]
    if var.ndim < len(shape):
        rows, cols = shape[:-1] + (1,), (1,) * (len(shape) - 1) + shape[-1:]
        raise ValueError(
            f"var: shape {var.shape} against pred's {shape}: a var with fewer "
            f"dimensions holds one variance per row, shape {shape[:-1]} (as "
            f"torch.nn.functional.gaussian_nll_loss reads it); give shape {rows} "
            f"for one per row or {cols} for one per column"
        )
    return var


class _GaussianNll(ElementwiseLoss):
    """gaussian_nll: ``var`` is a third, differentiable input.

    The pred gradient (and the value) come from the GaussianNll kernel with
    var as its auxiliary pattern; the var gradient from the GaussianNllVar
    kernel, which differentiates its first array (var, broadcast to pred's
    shape) with pred as its auxiliary input, summed back to var's shape where
    var was broadcast (autograd's rule). The target's gradient, on request,
    is the GaussianNll kernel's on the swapped arrays (the loss is a function
    of ``pred - target``, symmetric in the two)."""

    def _plan(self, inputs, p):
        dt, shape, _, reads, (pred, target, aux, slots) = super()._plan(inputs, p)
        # two kernel calls read them: contiguous and aligned once here, not
        # retried per call (np.ascontiguousarray keeps an unaligned array)
        pred, target = as_contiguous(pred), as_contiguous(target)
        var = as_float(inputs[2], "var", dt)
        check_domain("gaussian_nll", "var", var)  # before broadcasting: each value once
        v = _var_shape(var, pred)
        aux = aux_input(v, pred, "var", "pred's")
        state = (pred, target, aux, slots, v, var.shape)
        return dt, shape, (shape, var.shape, shape), (pred, target, var), state

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        pred, target, aux, slots, v, var_shape = state
        g_pred, g_var, g_target = (*(grads or ()), None, None, None)[:3]
        value = None
        if op == VALUE or g_pred is not None or op == VALUE_GRAD:
            kop = op if (g_pred is not None or op == VALUE) else VALUE
            value = self._run_pair(
                REGRESSION,
                _GAUSSIAN_NLL,
                kop,
                red,
                pred,
                target,
                w,
                value_out,
                g_pred,
                None,
                aux=aux,
                out_hess=hess,
                params=slots,
            )
        if g_var is not None:
            full = v if v.shape == pred.shape else broadcast_full(v, pred, "var", "pred's")
            # var's own shape: straight into g_var; broadcast: the full
            # gradient, then summed over the broadcast axes
            same = full.shape == var_shape
            g = g_var if same else new_output(pred.shape, pred.dtype, pred.nbytes)
            self._run_pair(
                REGRESSION,
                _GAUSSIAN_NLL_VAR,
                GRAD,
                red,
                full,
                target,
                w,
                None,
                g,
                None,
                aux=pred,
                params=slots,
            )
            if not same:
                np.copyto(g_var, sum_to_shape(g, v.shape, pred.dtype).reshape(var_shape))
        if g_target is not None:
            self._run_pair(
                REGRESSION,
                _GAUSSIAN_NLL,
                GRAD,
                red,
                target,
                pred,
                w,
                None,
                g_target,
                None,
                aux=aux,
                params=slots,
            )
        return value


gaussian_nll = declare(
    _GaussianNll,
    "gaussian_nll",
    kernel=REGRESSION,
    peer="torch.nn.functional.gaussian_nll_loss",
    doc="""Gaussian negative log likelihood with a predicted variance.

    For regression that predicts a mean (``pred``) and a variance (``var``),
    e.g. heteroscedastic models. With ``v = max(var, eps)``::

        l = 0.5 * (log(v) + (pred - target)**2 / v)   [+ 0.5 log(2 pi) if full]

    The clamp at ``eps`` is taken as PyTorch does (on a copy of ``var``, under
    ``no_grad``); a NaN in ``var`` stays NaN. Both ``pred`` and ``var`` are
    differentiable inputs, as in PyTorch::

        d l / d pred = (pred - target) / v
        d l / d var  = 0.5 (1 / v - (pred - target)**2 / v**2)

    (the clamp passes the gradient unchanged, as autograd does through
    PyTorch's no_grad clamp). ``grad`` returns ``(d_pred, d_var)``, the
    second of var's shape (summed over the axes var was broadcast along);
    ``wrt="pred"`` or ``wrt="var"`` computes one of them.
"""
    + _COMMON_ARGS
    + """    var : array_like, third positional input (or keyword ``var=``)
        Variances, broadcast to pred's shape: same shape (heteroscedastic), a
        single value, pred's shape without its last axis (one variance per
        row, as PyTorch unsqueezes it), or any shape with pred's number of
        dimensions that broadcasts (``(1, C)``: one per column; PyTorch allows
        one mismatched axis). Other shorter shapes are refused: a ``(C,)`` var
        against ``(N, C)`` would mean per column for N != C but per row for
        N == C (PyTorch refuses it too). Negative entries raise
        ``ValueError`` (as in PyTorch).
    full : bool, keyword-only, default False
        Add the constant ``0.5 log(2 pi) = 0.9189385332046727``.
    eps : float > 0, keyword-only, default 1e-6
        Lower clamp of ``var``.

    Returns
    -------
    float, or ndarray of pred's shape for ``reduction="none"``.

    Matches ``torch.nn.functional.gaussian_nll_loss(input, target, var)``
    (value and the autograd gradients with respect to input and var).
    PyTorch is stricter about ``var``'s shape (at most one mismatched
    dimension).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.gaussian_nll([1.0, 2.0], [1.0, 0.0], [1.0, 4.0])
    0.5965735902799727
    >>> g_pred, g_var = fl.gaussian_nll.grad([1.0, 2.0], [1.0, 0.0], [1.0, 4.0])
    >>> g_pred.tolist(), g_var.tolist()
    ([0.0, 0.25], [0.25, 0.0])
""",
)


_LINKS = {"identity": 0.0, "log": 1.0}


def _pack_tweedie(p, pred, target, *_):
    return (p["power"], _LINKS[p["link"]], 0.0, 0.0), None, target


def _explain_tweedie(pred, target, i, p):
    """The message for the first element outside the domain (the kernel's check)."""
    power = p["power"]
    what = f"tweedie(power={power:g})"
    where, y = element_at(target, i)
    if power >= 2 and y <= 0:
        return (
            f"{what}: every value of target must be > 0 for power >= 2; got {y!r} at index {where}"
        )
    if power >= 1 and y < 0:
        return (
            f"{what}: every value of target must be >= 0 for 1 <= power < 2; got {y!r} "
            f"at index {where}"
        )
    where, s = element_at(pred, i)
    return (
        f"{what}: every value of pred must be > 0 (pred is the mean with link='identity'; "
        f"use link='log' for raw scores); got {s!r} at index {where}"
    )


tweedie = declare(
    ElementwiseLoss,
    "tweedie",
    kernel=REGRESSION,
    pack=_pack_tweedie,
    explain=_explain_tweedie,
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
    ``mu``); the log link's is positive for ``1 <= p <= 2``. At ``mu = +inf``
    (identity link) each is its limit: the deviance +inf (``p <= 2``) or
    ``2 y**(2-p) / ((1-p)(2-p))`` (``p > 2``), the gradient 0 (``p > 1``)
    or 2 (``p = 1``), the Hessian 0 (``p > 0``); +inf where they diverge.

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
