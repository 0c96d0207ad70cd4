"""Robust regression: Barron's general and adaptive robust loss.

``barron`` differentiates ``pred`` and, when they are given and asked for
(``wrt=``), its shape ``alpha`` and scale ``scale``: what makes the loss
adaptive (Barron 2019, section 3).
"""

from __future__ import annotations

import numpy as np

from fastloss._arrays import as_float, check_same_shape, new_output, sum_to_shape
from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import ROBUST
from fastloss._tensors import Plan, TensorLoss

__all__ = ["barron"]


def _shape_param(x, name, dt, pred):
    """alpha or scale: None (the default 1.0, not differentiated) or an array
    that broadcasts to pred's shape (one value, per dimension, per element)."""
    if x is None:
        return None
    a = as_float(x, name, dt)
    try:
        shape = np.broadcast_shapes(a.shape, pred.shape)
    except ValueError:
        shape = None
    if shape != pred.shape:
        raise ValueError(
            f"{name}: shape {tuple(a.shape)} does not broadcast to pred's {tuple(pred.shape)}"
        )
    return a


def _kernel_form(a, pred, full):
    """What the kernel reads: one value, or one per element of pred (a copy
    where ``a`` was broadcast)."""
    if a.size == 1 and not full:
        return a.reshape(1)
    if a.shape == pred.shape:
        return a
    return np.ascontiguousarray(np.broadcast_to(a, pred.shape))


class _Barron(TensorLoss):
    def _plan(self, inputs, p):
        pred = as_float(inputs[0], "pred")
        dt = pred.dtype
        target = as_float(inputs[1], "target", dt)
        if target.shape != pred.shape:
            check_same_shape(pred, target, "pred", "target")
        alpha = _shape_param(inputs[2], "alpha", dt, pred)
        scale = _shape_param(inputs[3], "scale", dt, pred)
        if scale is not None and scale.size and np.any(scale <= 0):
            raise ValueError("scale must be > 0")
        one = np.ones(1, dt)
        al = one if alpha is None else _kernel_form(alpha, pred, False)
        sc = one if scale is None else _kernel_form(scale, pred, False)
        plan = Plan((pred, target, al, sc), (pred.size, al.size, sc.size), ())
        shapes = (
            pred.shape,
            None if alpha is None else alpha.shape,
            None if scale is None else scale.shape,
        )
        state = (plan, alpha, scale)
        return dt, pred.shape, shapes, (pred, target, alpha, scale), state

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        plan, alpha, scale = state
        if grads is None:
            return super()._launch(plan, op, red, w, value_out, grads, hess, p)
        pred = plan.arrays[0]
        arrays = list(plan.arrays)
        kgrads = list(grads)
        back = []  # (full gradient, user's buffer, input's shape)
        # a gradient w.r.t. alpha or scale is per element in the kernel:
        # where the input was broadcast, a full buffer summed back (autograd's rule)
        for slot, pos, a in ((1, 2, alpha), (2, 3, scale)):
            g = grads[slot]
            if g is None or a.shape == pred.shape:
                continue
            if arrays[pos].size != pred.size:  # one value: _plan kept it as one
                arrays[pos] = _kernel_form(a, pred, True)
            full = new_output(pred.shape, pred.dtype)
            kgrads[slot] = full
            back.append((full, g, a.shape))
        if back:
            dims = (pred.size, arrays[2].size, arrays[3].size)
            plan = Plan(tuple(arrays), dims, ())
        v = super()._launch(plan, op, red, w, value_out, tuple(kgrads), hess, p)
        for full, g, shape in back:
            np.copyto(g, sum_to_shape(full, shape, pred.dtype))
        return v


barron = _Barron(
    "barron",
    **metadata("barron"),
    kernel=ROBUST,
    kernel_id=kernel_id("barron"),
    peer="the reference's robust_loss_pytorch.general.lossfun(pred - target, alpha, scale) "
    "(Barron 2019), with torch autograd",
    doc="""Barron's general and adaptive robust loss (CVPR 2019).

    With ``x = pred - target``, ``z = (x / scale)**2`` and ``b = |alpha - 2|``::

        loss = (b / alpha) * ((z / b + 1) ** (alpha / 2) - 1)

    and its limits: ``z / 2`` at ``alpha = 2`` (L2), ``log(z / 2 + 1)`` at
    0 (Cauchy), ``1 - exp(-z / 2)`` at ``-inf`` (Welsch) and ``exp(z / 2) -
    1`` at ``+inf``; ``alpha = 1`` is the pseudo-Huber / Charbonnier loss
    ``sqrt(z + 1) - 1`` and ``-2`` Geman-McClure. The general case is
    computed as ``(b / alpha) * expm1(alpha / 2 * log1p(z / b))``, exact as
    ``alpha`` nears 0, and within the dtype's epsilon of 0 and of 2 the
    limits are taken exactly.

    ``alpha`` and ``scale`` are inputs: one value, or arrays that broadcast
    to pred's shape (one per dimension, as the reference's adaptive loss
    learns them, or one per element). Given, they are differentiable
    (``wrt="alpha"``, ``wrt=("pred", "alpha", "scale")``): their
    gradients are summed over the axes they were broadcast along. Left out,
    they are 1.0 and have no gradient (None).

    Parameters
    ----------
    pred, target : array_like, one shape
    alpha : array_like or None, default None (1.0)
        The shape: any real, including ``-inf`` and ``inf``.
    scale : array_like or None, default None (1.0)
        The width of the quadratic bowl, > 0.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        One weight per element.

    Returns
    -------
    float, or an array of pred's shape. ``grad`` returns ``(d/d pred, d/d
    alpha, d/d scale)``, None for alpha or scale left out.

    Notes
    -----
    Peer: ``general.lossfun(x, alpha, scale)`` of the paper's code
    (google-research ``robust_loss_pytorch``), equal to it (value and
    autograd gradients) wherever ``alpha`` is finite and not within
    float32's epsilon of 0 or 2. At ``alpha = -inf`` the values are equal;
    at ``+inf`` only while ``z / 2 <= 87.5`` (``|x / scale|`` up to about
    13.23): the reference clamps its ``expm1`` argument at 87.5 and returns
    ``expm1(87.5) = 1.0e38`` for every larger residual (61% low at
    ``|x / scale| = 13.3``), where this returns ``expm1(z / 2)`` to a few
    ulp (``inf`` beyond the dtype's range). At ``+-inf`` the reference's
    autograd gradients are NaN (``torch.where`` differentiates its
    unselected general case, 0 * inf); here they are the derivatives of the
    limits (Welsch's, ``exp(z / 2) - 1``'s). Near 0 and
    2 the reference clamps ``|alpha|`` and ``|alpha - 2|`` to
    float32's epsilon (off by up to 16%), where this takes the limits. The
    derivative w.r.t. alpha is its limit ``L**2/4 - L/2 + z / (4 (1 + z/2))``
    (``L = log1p(z / 2)``) near 0, and 0 near 2 (where the one-sided
    derivatives diverge like ``log|alpha - 2|``) and at ``+-inf``.

    Accuracy (float64, against 50- and 60-digit arithmetic): the value
    within a few ulp, as its ``exp``/``log1p`` are. The alpha derivative to
    about 1e-12 relative for ``|alpha - 2| >= 1e-4``, also where its closed
    form's terms cancel (small ``z / |alpha - 2|``: a series there); nearer
    2 its relative error grows like ``eps / |alpha - 2|`` (measured at ``z``
    = 0.25, 1 and 4: 5e-11 to 4e-10 at ``2 +- 1e-6``, 3e-10 to 3e-9 at
    ``2 +- 1e-7``, 1e-6 to 4e-6 at ``2 +- 1e-10``, 2e-3 to 3e-3 at ``2 +-
    1e-13``; within eps of 2 it is the limit's 0, see above), and with
    ``alpha`` within about 1e-2 of 2 and ``z`` small it is also ``~12 eps /
    z`` (1e-11 at ``alpha = 2.0056, x = 0.033``). A float32 ``(x /
    scale)**2`` that overflows gives the value's limit and NaN gradients
    w.r.t. alpha and scale.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.barron([3.0], [0.0], alpha=1.0), 12)  # sqrt(9 + 1) - 1
    2.162277660168
    >>> round(fl.barron([3.0], [0.0], alpha=0.0), 12)  # log(9 / 2 + 1)
    1.704748092238
    >>> fl.barron([2.0], [0.0], 2.0, 2.0)  # 0.5 (2 / 2)^2
    0.5
""",
)
