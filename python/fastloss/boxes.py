"""Bounding-box regression losses: IoU, GIoU, DIoU and CIoU.

``pred`` and ``target`` hold boxes as rows of four numbers ``(x1, y1, x2,
y2)`` with ``x1 <= x2`` and ``y1 <= y2``: shape ``(N, 4)`` or any ``(..., 4)``.
The per-sample loss has one value per box, shape ``pred.shape[:-1]``;
``sample_weight`` broadcasts against that shape and the gradient has pred's
shape. Values and gradients are those of torchvision's losses (``torchvision.
ops.generalized_box_iou_loss`` and friends) under torch autograd, including
its tie rule (at ``pred.x1 == target.x1`` torch.max sends half the gradient
to each side) and CIoU's ``alpha`` computed without gradient.

One difference of defaults: torchvision's ``reduction`` defaults to
``"none"``, fastloss's to ``"mean"``, as for every fastloss loss.
"""

from __future__ import annotations

from fastloss._arrays import as_float, check_same_shape
from fastloss._catalogue import declare
from fastloss._loss import BOXES, Loss

__all__ = ["box_iou_loss", "giou_loss", "diou_loss", "ciou_loss"]


class BoxLoss(Loss):
    """A loss over boxes: rows of 4 numbers, one loss value per box."""

    def __init__(self, name, *, kernel_id, **kw):
        super().__init__(name, **kw)
        self._id = kernel_id

    def _plan(self, inputs, p):
        pred = as_float(inputs[0], self.pred_name)
        dt = pred.dtype
        target = as_float(inputs[1], self.target_name, dt)
        if pred.ndim == 0 or pred.shape[-1] != 4:
            raise ValueError(
                f"{self.pred_name}: expected boxes (x1, y1, x2, y2) along the last axis, "
                f"shape (..., 4); got shape {tuple(pred.shape)}"
            )
        if pred.shape != target.shape:
            check_same_shape(pred, target, self.pred_name, self.target_name)
        return dt, pred.shape[:-1], (pred.shape,), (pred, target), (pred, target)

    def _launch(self, state, op, red, w, value_out, grads, hess, p, blocks=None):
        pred, target = state
        grad = grads[0] if grads is not None else None
        return self._run_pair(
            BOXES, self._id, op, red, pred, target, w, value_out, grad, blocks, params=(p["eps"],)
        )


_COMMON_ARGS = """
    Parameters
    ----------
    pred : array_like, shape (N, 4) or (..., 4)
        Predicted boxes ``(x1, y1, x2, y2)``, ``x1 <= x2`` and ``y1 <= y2``
        (not checked, as in torchvision). The gradient is taken against
        ``pred``. float32 and float64 run natively; other reals are
        converted once.
    target : array_like, same shape as ``pred``
        Ground-truth boxes, converted to pred's dtype.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"mean"`` divides the (weighted) sum by the number of boxes, or by
        ``sum(sample_weight)``; the mean of zero boxes is 0.0 as in
        torchvision. Note: torchvision's default is ``"none"``.
    sample_weight : array_like, optional, keyword-only
        Per-box weights broadcast against ``pred.shape[:-1]``.
"""

_RETURNS = """
    Returns
    -------
    float, or ndarray of shape ``pred.shape[:-1]`` and pred's dtype for
    ``reduction="none"``. ``grad`` returns an array of pred's shape.
"""

_TERMS = """
    With pred box ``(x1, y1, x2, y2)`` and target ``(x1g, y1g, x2g, y2g)``::

        inter = (min(x2, x2g) - max(x1, x1g)) * (min(y2, y2g) - max(y1, y1g))
                if both factors are > 0, else 0
        union = (x2 - x1)(y2 - y1) + (x2g - x1g)(y2g - y1g) - inter
        iou   = inter / (union + eps)
"""

box_iou_loss = declare(
    BoxLoss,
    "box_iou_loss",
    peer="torchvision.ops._utils._loss_inter_union (the IoU term of generalized_box_iou_loss)",
    doc="""IoU loss of axis-aligned boxes: ``1 - IoU``.

    The plain overlap loss for box regression. It is flat (zero gradient)
    when pred and target do not overlap; prefer :data:`giou_loss`,
    :data:`diou_loss` or :data:`ciou_loss` when boxes may start disjoint.
"""
    + _TERMS
    + """
        loss  = 1 - iou

    The gradient is torch autograd's: no gradient flows through ``inter``
    where it is 0 (disjoint boxes), and at a tie (``x1 == x1g``...) the
    max/min sends half the gradient to pred.
"""
    + _COMMON_ARGS
    + """    eps : float > 0, keyword-only, default 1e-7
        Added to the union in the IoU's denominator.
"""
    + _RETURNS
    + """
    torchvision has no separate IoU loss; this matches ``1 - inter / (union
    + eps)`` computed from torchvision's ``_loss_inter_union``, value and
    autograd gradient.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.box_iou_loss([[0.0, 0.0, 2.0, 2.0]], [[1.0, 0.0, 3.0, 2.0]]), 6)
    0.666667
""",
)

giou_loss = declare(
    BoxLoss,
    "giou_loss",
    peer="torchvision.ops.generalized_box_iou_loss",
    doc="""Generalized IoU loss (Rezatofighi et al., 2019).

    IoU loss plus a penalty for the empty part of the smallest enclosing
    box, so disjoint boxes still get a gradient pulling them together.
"""
    + _TERMS
    + """        area_c = (max(x2, x2g) - min(x1, x1g)) * (max(y2, y2g) - min(y1, y1g))
        loss   = 1 - (iou - (area_c - union) / (area_c + eps))

    Values lie in [0, 2]; identical boxes give 0 (up to eps).
"""
    + _COMMON_ARGS
    + """    eps : float > 0, keyword-only, default 1e-7
        Added to the union and to the enclosing area in the denominators.
"""
    + _RETURNS
    + """
    Matches ``torchvision.ops.generalized_box_iou_loss`` (value and autograd
    gradient; torchvision's default reduction is ``"none"``).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.giou_loss([[0.0, 0.0, 1.0, 1.0]], [[2.0, 0.0, 3.0, 1.0]]), 6)
    1.333333
""",
)

diou_loss = declare(
    BoxLoss,
    "diou_loss",
    peer="torchvision.ops.distance_box_iou_loss",
    doc="""Distance IoU loss (Zheng et al., 2020).

    IoU loss plus the squared distance between the box centres, normalised
    by the squared diagonal of the smallest enclosing box: converges faster
    than GIoU when boxes are far apart or nested.
"""
    + _TERMS
    + """        diag2 = (max(x2, x2g) - min(x1, x1g))**2 + (max(y2, y2g) - min(y1, y1g))**2 + eps
        dist2 = ((x1 + x2)/2 - (x1g + x2g)/2)**2 + ((y1 + y2)/2 - (y1g + y2g)/2)**2
        loss  = 1 - iou + dist2 / diag2
"""
    + _COMMON_ARGS
    + """    eps : float > 0, keyword-only, default 1e-7
        Added to the union (IoU denominator) and to the squared diagonal.
"""
    + _RETURNS
    + """
    Matches ``torchvision.ops.distance_box_iou_loss`` (value and autograd
    gradient; torchvision's default reduction is ``"none"``).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.diou_loss([[0.0, 0.0, 1.0, 1.0]], [[2.0, 0.0, 3.0, 1.0]]), 6)
    1.4
""",
)

ciou_loss = declare(
    BoxLoss,
    "ciou_loss",
    peer="torchvision.ops.complete_box_iou_loss",
    doc="""Complete IoU loss (Zheng et al., 2020).

    DIoU loss plus an aspect-ratio consistency term: the loss of choice for
    box regression in many detectors (YOLO family).
"""
    + _TERMS.replace("(union + eps)", "(union + 1e-7)")
    + """        diou  = 1 - iou + dist2 / diag2      (DIoU with eps fixed at 1e-7)
        v     = 4 / pi**2 * (atan((x2g - x1g) / (y2g - y1g)) - atan((x2 - x1) / (y2 - y1)))**2
        alpha = v / (1 - iou + v + eps)       (a constant for the gradient)
        loss  = diou + alpha * v

    As in torchvision, ``alpha`` is computed without gradient
    (``torch.no_grad``), so ``grad`` is the gradient torch's autograd gives,
    not the exact derivative of the value; and the inner DIoU/IoU uses the
    fixed eps ``1e-7`` (torchvision does not pass ``eps`` on), ``eps`` only
    entering ``alpha``. A zero-height pred box makes the aspect ratio
    infinite and the gradient NaN, as in torch. A box thinner than 2^20 : 1
    takes the aspect term's derivatives in ``h / w`` (the same values),
    where torch's ``(w / h)**2`` overflows -- float32 below ``h ~ 1e-19 w``
    -- and its gradient is NaN.
"""
    + _COMMON_ARGS
    + """    eps : float > 0, keyword-only, default 1e-7
        Added to alpha's denominator.
"""
    + _RETURNS
    + """
    Matches ``torchvision.ops.complete_box_iou_loss`` (value and autograd
    gradient; torchvision's default reduction is ``"none"``).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.ciou_loss([[0.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 1.0, 1.0]]), 6)
    0.0
""",
)
