"""Overlap (segmentation) losses: Dice, IoU, Tversky, generalized Dice.

``pred`` holds probabilities and ``target`` soft or binary masks in [0, 1],
both of shape ``(N, ...)``. A score is computed per *slice*: the elements
that share the indices of the axes not summed over. ``axis`` names the
summed axes (default: every axis but the first, one score per sample;
``axis=(2, 3)`` on ``(N, C, H, W)`` gives one per sample and class). The
per-sample loss array has the shape of the kept axes, ``sample_weight``
broadcasts against it and ``reduction`` reduces it. ``axis`` covering every
axis scores the whole batch as one slice (per-sample shape ``()``).

Every loss here is ``1 - N/D`` built from the sums ``I = sum(p*t)``,
``P = sum(p)``, ``T = sum(t)`` of a slice; the kernel computes them with the
deterministic blocked sum (bitwise identical for any thread count) and then
the gradient ``dL/dp = dL/dI * t + dL/dP`` in a second pass. Where ``D == 0``
(two empty masks with ``smooth=0``) the loss is 0 and its gradient 0.
Values outside [0, 1] are not checked: the formulas are applied as written.
"""

from __future__ import annotations

import math

import numpy as np

from fastloss._arrays import as_float, check_same_shape, new_output
from fastloss._catalogue import declare
from fastloss._loss import OVERLAP, Loss

__all__ = ["dice", "iou", "tversky", "generalized_dice"]


# --------------------------------------------------------------------------
# axes


def summed_axes(axis, ndim):
    """The sorted, non-negative axes summed over, checked against ``ndim``."""
    if axis is None:
        if ndim < 2:
            raise ValueError(
                f"axis=None sums over every axis but the first, which needs pred of at least "
                f"2 dimensions (N, ...); got {ndim}: pass axis explicitly"
            )
        return tuple(range(1, ndim))
    if len(axis) == 0:
        raise ValueError("axis must name at least one axis to sum over, got ()")
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for pred with {ndim} dimensions")
        a %= ndim
        if a in out:
            raise ValueError(f"axis contains a repeated axis: {tuple(axis)}")
        out.append(a)
    return tuple(sorted(out))


# --------------------------------------------------------------------------
# the Loss subclass


class SliceLoss(Loss):
    """A loss scored per slice from the sums of ``p*t``, ``p`` and ``t``.

    ``layout(shape, params) -> (summed, grouped)`` says which axes are
    summed and whether the last kept axis is combined into one per-sample
    loss (generalized Dice's classes) rather than scored slice by slice;
    ``pack(params)`` gives the kernel's three float slots.
    """

    def __init__(self, name, *, kernel_id, pack, layout, **kw):
        super().__init__(name, **kw)
        self._id = kernel_id
        self._pack = pack
        self._layout = layout
        self._plans: dict[tuple, tuple] = {}

    def _plan(self, inputs, p):
        pred = as_float(inputs[0], self.pred_name)
        dt = pred.dtype
        target = as_float(inputs[1], self.target_name, dt)
        shape = pred.shape
        if shape != target.shape:
            check_same_shape(pred, target, self.pred_name, self.target_name)
        perm, per_sample, S, K, group = self._layout_for(shape, p)
        reads = (pred, target)
        if perm is not None:  # summed axes last, one copy
            pred = np.ascontiguousarray(pred.transpose(perm))
            target = np.ascontiguousarray(target.transpose(perm))
        return dt, per_sample, (shape,), reads, (pred, target, perm, S, K, group)

    def _launch(self, state, op, red, w, value_out, grads, hess, p, blocks=None):
        pred, target, perm, S, K, group = state
        grad = kgrad = grads[0] if grads is not None else None
        if perm is not None and grad is not None:
            kgrad = new_output(pred.shape, pred.dtype, pred.nbytes)
        value = self._run_pair(
            OVERLAP,
            self._id,
            op,
            red,
            pred,
            target,
            w,
            value_out,
            kgrad,
            blocks,
            slices=S,
            slice_size=K,
            group=group,
            params=tuple(self._pack(p)),
        )
        if perm is not None and grad is not None:
            np.copyto(grad, kgrad.transpose(np.argsort(perm)))
        return value

    def _layout_for(self, shape, p):
        """``(perm, per_sample, S, K, group)`` for pred's shape and the
        parameters: the permutation that puts the summed axes last (None
        when they already are), the per-sample loss shape, the slice count
        and size, and the group size. A pure function of ``shape`` and
        ``axis``, remembered per pair (a training loop repeats them)."""
        key = (shape, p.get("axis"))
        plan = self._plans.get(key)
        if plan is None:
            summed, grouped = self._layout(shape, p)
            kept = tuple(i for i in range(len(shape)) if i not in summed)
            perm = kept + summed
            loss_shape = tuple(shape[i] for i in kept)
            plan = (
                perm if perm != tuple(range(len(shape))) else None,
                loss_shape[:-1] if grouped else loss_shape,
                math.prod(loss_shape),
                math.prod(shape[i] for i in summed),
                loss_shape[-1] if grouped else 1,
            )
            if len(self._plans) >= 64:
                self._plans.clear()
            self._plans[key] = plan
        return plan


def _axis_layout(shape, p):
    return summed_axes(p["axis"], len(shape)), False


def _class_layout(shape, p):
    if len(shape) < 2:
        raise ValueError(
            f"pred must have shape (N, C, ...) with a class axis, got {len(shape)} dimension(s)"
        )
    if shape[1] == 0:
        raise ValueError("pred must have at least one class (pred.shape[1] > 0)")
    return tuple(range(2, len(shape))), True


_COMMON = """
    Parameters
    ----------
    pred : array_like, shape (N, ...)
        Predicted probabilities (float32 and float64 run natively; other
        reals are converted to float64 once).
    target : array_like, same shape as ``pred``
        Target masks in [0, 1] (binary or soft), converted to pred's dtype.
    reduction : {"mean", "sum", "none"}, keyword-only
        How the per-sample losses are reduced; ``"mean"`` divides by their
        count, or by ``sum(sample_weight)`` when weights are given.
    sample_weight : array_like, optional, keyword-only
        Weights broadcast against the per-sample losses (a shape that is a
        prefix of theirs weighs whole samples).
"""

_SMOOTH_DOC = """    smooth : float >= 0, keyword-only, default 1e-5
        Added to numerator and denominator.
"""

_AXIS_DOC = """    axis : None, int or tuple of ints, keyword-only, default None
        Axes summed over; negative values count from the end; duplicates or
        out-of-range axes raise ValueError. None means every axis but the
        first (which needs ``pred.ndim >= 2``); ``()`` is refused (nothing
        to sum); all axes give a single score for the whole batch
        (per-sample shape ``()``). Other axes are kept: the per-sample
        losses have their shape.
"""


def _pack_smooth(p):
    # the kernel's three float slots: dice, iou and generalized Dice use one
    return (p["smooth"], 0.0, 0.0)


_RETURNS = """
    Returns
    -------
    float, or for ``reduction="none"`` an ndarray of pred's dtype with the
    shape of the kept axes. ``grad`` returns d(value)/d(pred), pred's shape.
"""

dice = declare(
    SliceLoss,
    "dice",
    pack=_pack_smooth,
    layout=_axis_layout,
    peer="monai.losses.DiceLoss(smooth_nr=smooth, smooth_dr=smooth, squared_pred=False)",
    doc="""Soft Dice loss (Milletari et al. 2016, V-Net).

    For segmentation with class imbalance: the loss depends on the overlap
    of prediction and target relative to their sizes, not on the count of
    background pixels. Per slice (the elements sharing the kept axes)::

        l = 1 - (2 sum(p*t) + smooth) / (sum(p) + sum(t) + smooth)

    ``smooth`` is added to numerator and denominator alike, so two empty
    masks score 0. With ``smooth=0`` an all-zero slice (denominator 0) is
    given loss 0 and gradient 0 instead of 0/0. The gradient is
    ``dl/dp = -(2 t D - N) / D**2`` with N, D the numerator and denominator.
"""
    + _COMMON
    + _SMOOTH_DOC
    + _AXIS_DOC
    + _RETURNS
    + """
    Matches MONAI's ``DiceLoss(sigmoid=False, softmax=False,
    squared_pred=False, smooth_nr=smooth, smooth_dr=smooth)`` on (N, C, ...)
    inputs with ``axis=tuple(range(2, ndim))`` (MONAI's mean averages over
    samples and classes, as ``reduction="mean"`` does here).

    Examples
    --------
    >>> import fastloss as fl
    >>> pred = [[1.0, 1.0, 0.0, 0.0]]
    >>> target = [[1.0, 1.0, 1.0, 0.0]]
    >>> fl.dice(pred, target, smooth=0.0)  # 1 - 2*2 / (2 + 3)
    0.19999999999999996
""",
)

iou = declare(
    SliceLoss,
    "iou",
    pack=_pack_smooth,
    layout=_axis_layout,
    peer="segmentation_models_pytorch.losses.JaccardLoss (soft_jaccard_score)",
    doc="""Soft IoU (Jaccard) loss.

    Like Dice, an overlap loss for imbalanced segmentation; IoU penalises a
    partial overlap more than Dice does. Per slice, with ``I = sum(p*t)``::

        l = 1 - (I + smooth) / (sum(p) + sum(t) - I + smooth)

    Two empty masks score 0; with ``smooth=0`` an all-zero slice
    (denominator 0) is given loss 0 and gradient 0. The gradient is
    ``dl/dp = -(t D - N (1 - t)) / D**2``.
"""
    + _COMMON
    + _SMOOTH_DOC
    + _AXIS_DOC
    + _RETURNS
    + """
    Matches ``soft_jaccard_score`` of segmentation_models_pytorch (its
    ``JaccardLoss`` with ``from_logits=False``), and MONAI's
    ``DiceLoss(jaccard=True)`` with ``smooth_nr = smooth_dr = 2*smooth``
    (MONAI writes the same ratio as ``(2I + s) / (2(P + T - I) + s)``).

    Examples
    --------
    >>> import fastloss as fl
    >>> pred = [[1.0, 1.0, 0.0, 0.0]]
    >>> target = [[1.0, 0.0, 1.0, 0.0]]
    >>> round(fl.iou(pred, target, smooth=0.0), 12)  # 1 - 1 / (2 + 2 - 1)
    0.666666666667
""",
)

tversky = declare(
    SliceLoss,
    "tversky",
    pack=lambda p: (p["alpha"], p["beta"], p["smooth"]),
    layout=_axis_layout,
    peer="monai.losses.TverskyLoss(smooth_nr=smooth, smooth_dr=smooth)",
    doc="""Tversky loss (Salehi et al. 2017): Dice with weighted false positives and negatives.

    When false negatives cost more than false positives (small lesions),
    raise ``beta`` above ``alpha``. Per slice, with ``TP = sum(p*t)``,
    ``FP = sum(p*(1-t))``, ``FN = sum((1-p)*t)``::

        l = 1 - (TP + smooth) / (TP + alpha FP + beta FN + smooth)

    At ``alpha = beta = 0.5`` this is ``dice`` with ``2*smooth`` (so exactly
    dice when ``smooth=0``); ``alpha = beta = 1`` gives ``iou``. Where the
    denominator is 0 the loss is 0 and its gradient 0.
"""
    + _COMMON
    + """    alpha : float >= 0, keyword-only, default 0.5
        Weight of the false positives.
    beta : float >= 0, keyword-only, default 0.5
        Weight of the false negatives.
"""
    + _SMOOTH_DOC
    + _AXIS_DOC
    + _RETURNS
    + """
    Matches MONAI's ``TverskyLoss(alpha, beta, smooth_nr=smooth,
    smooth_dr=smooth)`` on (N, C, ...) inputs with
    ``axis=tuple(range(2, ndim))``.

    Examples
    --------
    >>> import fastloss as fl
    >>> pred = [[1.0, 1.0, 0.0, 0.0]]
    >>> target = [[1.0, 0.0, 1.0, 1.0]]
    >>> fl.tversky(pred, target, alpha=0.0, beta=1.0, smooth=0.0)  # 1 - 1 / (1 + 2)
    0.6666666666666667
""",
)

generalized_dice = declare(
    SliceLoss,
    "generalized_dice",
    pack=_pack_smooth,
    layout=_class_layout,
    peer="monai.losses.GeneralizedDiceLoss(w_type='square', smooth_nr=smooth, smooth_dr=smooth)",
    doc="""Generalized Dice loss (Sudre et al. 2017), one loss per sample.

    For multi-class segmentation where classes differ greatly in size: each
    class is weighted by the inverse square of its target volume, so small
    structures count as much as large ones. On (N, C, ...) inputs, per
    sample, with sums over the spatial axes (2, 3, ...)::

        I_c = sum(p_c * t_c),  P_c = sum(p_c),  T_c = sum(t_c),  w_c = 1 / T_c**2
        l = 1 - (2 sum_c w_c I_c + smooth) / (sum_c w_c (P_c + T_c) + smooth)

    A class absent from the target (``T_c = 0``, or so small that ``w_c``
    overflows float64) gets the largest finite weight of its sample; if
    every class is absent all weights are 0 and the loss is 0 (with
    gradient 0) -- MONAI's rule, so the result is never inf or NaN for
    inputs in [0, 1]. The weights depend on the target only and are
    constants for the gradient. Sums and weights are computed in float64
    whatever the input dtype. ``(N, C)`` inputs are one voxel per class.
"""
    + _COMMON.replace("shape (N, ...)", "shape (N, C, ...)")
    + _SMOOTH_DOC
    + """
    Returns
    -------
    float, or for ``reduction="none"`` an ndarray of shape (N,) in pred's
    dtype. ``grad`` returns d(value)/d(pred), pred's shape.

    Matches MONAI's ``GeneralizedDiceLoss(w_type="square", sigmoid=False,
    softmax=False, smooth_nr=smooth, smooth_dr=smooth)`` (``batch=False``).

    Examples
    --------
    >>> import fastloss as fl
    >>> pred = [[[1.0, 0.0], [0.0, 1.0]]]    # N=1, C=2, 2 voxels
    >>> target = [[[1.0, 0.0], [0.0, 1.0]]]
    >>> fl.generalized_dice(pred, target)
    0.0
""",
)
