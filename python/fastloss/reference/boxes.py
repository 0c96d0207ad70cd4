"""Reference box losses (see fastloss.boxes for the formulas).

A NumPy float64 transcription of torchvision's ``_loss_inter_union``,
``generalized_box_iou_loss``, ``distance_box_iou_loss`` and
``complete_box_iou_loss``. The gradient is the chain rule written out in
reverse, step by step, as torch's autograd runs it: ``d max(a, b) / d a`` is
1 where ``a > b``, 1/2 at a tie and 0 below; the intersection only carries a
gradient where torchvision's mask selects it; CIoU's ``alpha`` is a constant.
"""

from __future__ import annotations

import math

import numpy as np

from fastloss import boxes as _family
from fastloss.reference._base import RefLoss, weights_like

# the twins of fastloss.boxes's losses, name for name
__all__ = list(_family.__all__)


def _d_max(a, b):
    """torch.maximum's derivative in its first argument."""
    return np.where(a == b, 0.5, np.where(a < b, 0.0, 1.0))


def _d_min(a, b):
    return np.where(a == b, 0.5, np.where(a > b, 0.0, 1.0))


def _columns(boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


class _Grad:
    """d loss / d (x1, y1, x2, y2) of pred, accumulated term by term."""

    def __init__(self, shape):
        self.x1, self.y1, self.x2, self.y2 = (np.zeros(shape) for _ in range(4))

    def stack(self):
        return np.stack([self.x1, self.y1, self.x2, self.y2], axis=-1)


def _iou(p, t, eps, grad=None, d_iou=None, d_union=None):
    """IoU (and intersection/union); with ``grad``, adds the backward pass of
    a loss whose partial derivatives are ``d_iou`` and ``d_union``."""
    x1, y1, x2, y2 = _columns(p)
    x1g, y1g, x2g, y2g = _columns(t)
    xk1, yk1 = np.maximum(x1, x1g), np.maximum(y1, y1g)
    xk2, yk2 = np.minimum(x2, x2g), np.minimum(y2, y2g)
    mask = (yk2 > yk1) & (xk2 > xk1)
    inter = np.where(mask, (xk2 - xk1) * (yk2 - yk1), 0.0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    if grad is not None:
        # iou = inter / (union + eps)
        g_inter = d_iou / (union + eps)
        g_union = d_union - d_iou * inter / (union + eps) ** 2
        # union = area_pred + area_target - inter
        g_inter = g_inter - g_union
        grad.x1 += -g_union * (y2 - y1)
        grad.x2 += g_union * (y2 - y1)
        grad.y1 += -g_union * (x2 - x1)
        grad.y2 += g_union * (x2 - x1)
        # inter = (xk2 - xk1) (yk2 - yk1) on the mask, a constant 0 elsewhere
        g_inter = np.where(mask, g_inter, 0.0)
        grad.x1 += -g_inter * (yk2 - yk1) * _d_max(x1, x1g)
        grad.x2 += g_inter * (yk2 - yk1) * _d_min(x2, x2g)
        grad.y1 += -g_inter * (xk2 - xk1) * _d_max(y1, y1g)
        grad.y2 += g_inter * (xk2 - xk1) * _d_min(y2, y2g)
    return iou, inter, union


def _enclosing(p, t):
    x1, y1, x2, y2 = _columns(p)
    x1g, y1g, x2g, y2g = _columns(t)
    return np.maximum(x2, x2g) - np.minimum(x1, x1g), np.maximum(y2, y2g) - np.minimum(y1, y1g)


def _enclosing_backward(p, t, g_w, g_h, grad):
    x1, y1, x2, y2 = _columns(p)
    x1g, y1g, x2g, y2g = _columns(t)
    grad.x1 += -g_w * _d_min(x1, x1g)
    grad.x2 += g_w * _d_max(x2, x2g)
    grad.y1 += -g_h * _d_min(y1, y1g)
    grad.y2 += g_h * _d_max(y2, y2g)


def _box_iou(p, t, eps):
    grad = _Grad(p.shape[:-1])
    iou, _, _ = _iou(p, t, eps, grad, d_iou=-1.0, d_union=0.0)
    return 1.0 - iou, grad.stack()


def _giou(p, t, eps):
    grad = _Grad(p.shape[:-1])
    iou, _, union = _iou(p, t, eps)
    cw, ch = _enclosing(p, t)
    area_c = cw * ch
    loss = 1.0 - (iou - (area_c - union) / (area_c + eps))
    # d loss / d area_c of (area_c - union) / (area_c + eps)
    g_area = 1.0 / (area_c + eps) - (area_c - union) / (area_c + eps) ** 2
    _enclosing_backward(p, t, g_area * ch, g_area * cw, grad)
    _iou(p, t, eps, grad, d_iou=-1.0, d_union=-1.0 / (area_c + eps))
    return loss, grad.stack()


def _diou_parts(p, t, eps, grad):
    """torchvision _diou_iou_loss: (loss, iou), adding its gradient to grad."""
    x1, y1, x2, y2 = _columns(p)
    x1g, y1g, x2g, y2g = _columns(t)
    iou, _, _ = _iou(p, t, eps, grad, d_iou=-1.0, d_union=0.0)
    cw, ch = _enclosing(p, t)
    diag2 = cw**2 + ch**2 + eps
    dx = (x2 + x1) / 2 - (x1g + x2g) / 2
    dy = (y2 + y1) / 2 - (y1g + y2g) / 2
    dist2 = dx**2 + dy**2
    loss = 1.0 - iou + dist2 / diag2
    g_diag2 = -dist2 / diag2**2
    _enclosing_backward(p, t, g_diag2 * 2 * cw, g_diag2 * 2 * ch, grad)
    # d (dist2 / diag2) / d x1 = (1 / diag2) * 2 dx * 1/2
    grad.x1 += dx / diag2
    grad.x2 += dx / diag2
    grad.y1 += dy / diag2
    grad.y2 += dy / diag2
    return loss, iou


def _diou(p, t, eps):
    grad = _Grad(p.shape[:-1])
    loss, _ = _diou_parts(p, t, eps, grad)
    return loss, grad.stack()


def _ciou(p, t, eps):
    grad = _Grad(p.shape[:-1])
    # torchvision calls _diou_iou_loss(boxes1, boxes2) without eps: 1e-7 there
    diou, iou = _diou_parts(p, t, 1e-7, grad)
    x1, y1, x2, y2 = _columns(p)
    x1g, y1g, x2g, y2g = _columns(t)
    w, h = x2 - x1, y2 - y1
    delta = np.arctan((x2g - x1g) / (y2g - y1g)) - np.arctan(w / h)
    v = 4 / np.pi**2 * delta**2
    alpha = v / (1 - iou + v + eps)  # no gradient through alpha
    loss = diou + alpha * v
    # d (alpha v) / d atan(w/h) = -alpha * 4/pi^2 * 2 delta, and
    # d atan(w/h) / dw = h / (w^2 + h^2), d / dh = -w / (w^2 + h^2): torch's
    # chain through w/h, 1 / (1 + (w/h)^2) / h, written without w/h, whose
    # square overflows for a thin box. Scaled by s = max(|w|, |h|) so that
    # w^2 + h^2 does not overflow either. h = 0 gives NaN, as in torch
    # (atan(w/h) jumps there).
    g_at = -alpha * 4 / np.pi**2 * 2 * delta
    s = np.maximum(np.abs(w), np.abs(h))
    ws, hs = w / s, h / s
    r2 = (ws * ws + hs * hs) * s
    g_w = np.where(h == 0, np.nan, g_at * hs / r2)
    g_h = np.where(h == 0, np.nan, -g_at * ws / r2)
    grad.x1 += -g_w
    grad.x2 += g_w
    grad.y1 += -g_h
    grad.y2 += g_h
    return loss, grad.stack()


def _boxwise(per_box):
    """A reference fn from ``per_box(p, t, eps) -> (loss, grad)`` on (..., 4)."""

    def fn(pred, target, reduction, sample_weight, eps=1e-7):
        p = np.asarray(pred, dtype=np.float64)
        t = np.asarray(target, dtype=np.float64)
        with np.errstate(all="ignore"):
            loss, grad = per_box(p, t, eps)
            w = weights_like(sample_weight, loss.shape)
            if w is not None:
                loss, grad = loss * w, grad * w[..., None]
            if reduction == "none":
                return loss, grad, None
            total = float(np.sum(loss))
            if reduction == "sum":
                return total, grad, None
            if loss.size == 0:  # torchvision: 0.0 * loss.sum()
                return 0.0, grad, None
            denom = float(np.sum(w)) if w is not None else float(loss.size)
            if denom == 0:  # all-zero weights: the weighted mean is 0/0
                return math.nan, grad * math.nan, None
            return total / denom, grad / denom, None

    return fn


box_iou_loss = RefLoss("box_iou_loss", _boxwise(_box_iou))
giou_loss = RefLoss("giou_loss", _boxwise(_giou))
diou_loss = RefLoss("diou_loss", _boxwise(_diou))
ciou_loss = RefLoss("ciou_loss", _boxwise(_ciou))
