"""Box losses: hand values, torchvision cross-checks, extreme and bad inputs.

torchvision is not installed here (no CPU build), so its loss functions are
transcribed below in plain torch and the comparison is against torch
autograd of that transcription.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R
from cases_boxes import random_boxes

NAMES = ["box_iou_loss", "giou_loss", "diou_loss", "ciou_loss"]
REDUCTIONS = ["mean", "sum", "none"]


# --------------------------------------------------------------------------
# torchvision, transcribed (only _log_api_usage_once calls dropped, and the
# reduction and the smallest enclosing box, which each function there
# repeats, written once as _reduce and _enclosing_box):
#   pytorch/vision torchvision/ops/giou_loss.py @ 90a8f703cd1f83e4cc90f943643a9f03e97cfc0f
#     (that revision inlines the intersection/union; torchvision main calls
#      _loss_inter_union, whose body is the same lines)
#   pytorch/vision torchvision/ops/diou_loss.py @ ae5c34625d15e766ef51eb7602ceebf901c3f55b
#   pytorch/vision torchvision/ops/ciou_loss.py @ 28fbd4bfabb8ad621abb833e9f5b23f7a8f8a817
#     (same body in the fork BakeLab/vision @ 58b743a1: _diou_iou_loss is
#      called WITHOUT eps, so its inner eps is the default 1e-7)
#   torchvision/ops/_utils.py `_loss_inter_union`, `_upcast_non_float` as
#     imported by diou_loss.py/ciou_loss.py above.


def _tv():
    torch = pytest.importorskip("torch")

    def _upcast_non_float(t):
        # Protects from numerical overflows in multiplications by upcasting to the equivalent higher type  # noqa: E501
        if t.dtype not in (torch.float32, torch.float64):
            return t.float()
        return t

    # written once here (each of torchvision's functions repeats them)
    def _reduce(loss, reduction):
        if reduction == "mean":
            loss = loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
        elif reduction == "sum":
            loss = loss.sum()
        return loss

    def _enclosing_box(boxes1, boxes2):
        x1, y1, x2, y2 = boxes1.unbind(dim=-1)
        x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
        return torch.min(x1, x1g), torch.min(y1, y1g), torch.max(x2, x2g), torch.max(y2, y2g)

    def _loss_inter_union(boxes1, boxes2):
        x1, y1, x2, y2 = boxes1.unbind(dim=-1)
        x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)

        # Intersection keypoints
        xkis1 = torch.max(x1, x1g)
        ykis1 = torch.max(y1, y1g)
        xkis2 = torch.min(x2, x2g)
        ykis2 = torch.min(y2, y2g)

        intsctk = torch.zeros_like(x1)
        mask = (ykis2 > ykis1) & (xkis2 > xkis1)
        intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
        unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk

        return intsctk, unionk

    def generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
        boxes1 = _upcast_non_float(boxes1)
        boxes2 = _upcast_non_float(boxes2)
        intsctk, unionk = _loss_inter_union(boxes1, boxes2)
        iouk = intsctk / (unionk + eps)

        xc1, yc1, xc2, yc2 = _enclosing_box(boxes1, boxes2)

        area_c = (xc2 - xc1) * (yc2 - yc1)
        miouk = iouk - ((area_c - unionk) / (area_c + eps))

        loss = 1 - miouk

        return _reduce(loss, reduction)

    def _diou_iou_loss(boxes1, boxes2, eps=1e-7):
        intsct, union = _loss_inter_union(boxes1, boxes2)
        iou = intsct / (union + eps)
        # smallest enclosing box
        x1, y1, x2, y2 = boxes1.unbind(dim=-1)
        x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
        xc1, yc1, xc2, yc2 = _enclosing_box(boxes1, boxes2)
        # The diagonal distance of the smallest enclosing box squared
        diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
        # centers of boxes
        x_p = (x2 + x1) / 2
        y_p = (y2 + y1) / 2
        x_g = (x1g + x2g) / 2
        y_g = (y1g + y2g) / 2
        # The distance between boxes' centers squared.
        centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
        # The distance IoU is the IoU penalized by a normalized
        # distance between boxes' centers squared.
        loss = 1 - iou + (centers_distance_squared / diagonal_distance_squared)
        return loss, iou

    def distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
        boxes1 = _upcast_non_float(boxes1)
        boxes2 = _upcast_non_float(boxes2)

        loss, _ = _diou_iou_loss(boxes1, boxes2, eps)

        return _reduce(loss, reduction)

    def complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
        boxes1 = _upcast_non_float(boxes1)
        boxes2 = _upcast_non_float(boxes2)

        diou_loss, iou = _diou_iou_loss(boxes1, boxes2)

        x1, y1, x2, y2 = boxes1.unbind(dim=-1)
        x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)

        # width and height of boxes
        w_pred = x2 - x1
        h_pred = y2 - y1
        w_gt = x2g - x1g
        h_gt = y2g - y1g
        v = (4 / (torch.pi**2)) * torch.pow(
            (torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred)), 2
        )  # noqa: E501
        with torch.no_grad():
            alpha = v / (1 - iou + v + eps)

        loss = diou_loss + alpha * v
        return _reduce(loss, reduction)

    # torchvision has no IoU loss: the IoU term of generalized_box_iou_loss.
    def box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
        boxes1 = _upcast_non_float(boxes1)
        boxes2 = _upcast_non_float(boxes2)
        intsctk, unionk = _loss_inter_union(boxes1, boxes2)
        loss = 1 - intsctk / (unionk + eps)
        return _reduce(loss, reduction)

    return torch, {
        "box_iou_loss": box_iou_loss,
        "giou_loss": generalized_box_iou_loss,
        "diou_loss": distance_box_iou_loss,
        "ciou_loss": complete_box_iou_loss,
    }


def torch_value_and_grad(name, pred, target, reduction, eps=1e-7, weight=None):
    """torchvision's value and torch autograd's d value / d pred."""
    torch, fns = _tv()
    p = torch.tensor(pred, requires_grad=True)
    t = torch.tensor(target)
    if weight is None:
        out = fns[name](p, t, reduction=reduction, eps=eps)
    else:  # torchvision has no weights: weigh its per-box losses
        w = torch.tensor(np.broadcast_to(weight, pred.shape[:-1]).copy())
        per = fns[name](p, t, reduction="none", eps=eps) * w
        out = {"none": per, "sum": per.sum(), "mean": per.sum() / w.sum()}[reduction]
    out.sum().backward()
    v = out.detach().numpy()
    return (float(v) if reduction != "none" else v), p.grad.numpy()


def mixed_boxes(rng, n=400):
    """Random pairs plus every special case: identical, nested, disjoint,
    shared edges (ties), touching, zero-width and zero-height boxes."""
    target = random_boxes(rng, n)
    pred = target + rng.normal(scale=1.5, size=(n, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 0.01)
    k = n // 10
    pred[:k] = target[:k]  # identical
    inner = target[k : 2 * k]  # nested: pred strictly inside its target
    wh = inner[:, 2:] - inner[:, :2]
    pred[k : 2 * k, :2] = inner[:, :2] + 0.25 * wh
    pred[k : 2 * k, 2:] = inner[:, 2:] - 0.25 * wh
    pred[2 * k : 3 * k] = target[2 * k : 3 * k] + 30.0  # disjoint, far apart
    pred[3 * k : 4 * k, 0] = target[3 * k : 4 * k, 0]  # shared left edge
    pred[3 * k : 4 * k, 3] = target[3 * k : 4 * k, 3]  # shared top edge
    # touching along an edge: zero intersection, mask false
    pred[4 * k : 5 * k, 0] = target[4 * k : 5 * k, 2]
    pred[4 * k : 5 * k, 2] = pred[4 * k : 5 * k, 0] + 1.0
    pred[5 * k : 6 * k, 2] = pred[5 * k : 6 * k, 0]  # zero-width pred
    target[6 * k : 7 * k, 3] = target[6 * k : 7 * k, 1]  # zero-height target
    target[7 * k : 8 * k, 2] = target[7 * k : 8 * k, 0]  # zero-width target
    pred[8 * k : 9 * k, 3] = pred[8 * k : 9 * k, 1]  # zero-height pred (CIoU: NaN grad)
    return pred, target


def generic_boxes(rng, n):
    """Overlapping pairs with no ties and no zero sizes (smooth points)."""
    target = random_boxes(rng, n, wmax=4.0) + np.array([0.0, 0.0, 0.5, 0.5])
    pred = target + rng.normal(scale=0.3, size=(n, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 0.2)
    return pred, target


def assert_matches(actual, expected, rtol, what=""):
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, what
    finite = np.isfinite(e)
    scale = float(np.max(np.abs(e[finite]))) if finite.any() else 1.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=what)


# --------------------------------------------------------------------------
# hand-computed values


def test_hand_values_half_overlap():
    # [0,0,2,2] vs [1,0,3,2]: inter 2, union 6, enclosing 3x2 = 6
    p, t = [[0.0, 0.0, 2.0, 2.0]], [[1.0, 0.0, 3.0, 2.0]]
    eps = 1e-7
    iou = 2 / (6 + eps)
    assert fl.box_iou_loss(p, t) == pytest.approx(1 - iou, rel=1e-14)
    assert fl.giou_loss(p, t) == pytest.approx(1 - (iou - 0 / (6 + eps)), rel=1e-14)
    # centres (1,1) and (2,1): dist^2 1; diagonal^2 9 + 4
    assert fl.diou_loss(p, t) == pytest.approx(1 - iou + 1 / (13 + eps), rel=1e-14)
    # same aspect ratio: v = 0, CIoU = DIoU
    assert fl.ciou_loss(p, t) == pytest.approx(1 - iou + 1 / (13 + eps), rel=1e-14)
    # d(1 - I/U)/dx1: x1 < x1g so I does not move, U falls by h=2: -I*2/U^2
    # d/dx2: x2 < x2g, I grows by ih=2 and U by 2 - 2 = 0: -2/U
    g = fl.box_iou_loss.grad(p, t, reduction="sum")
    # d/dy1: y1 == y1g is a tie, inter moves by half: (-0.5 * 6 + 2 * 1.5) / 36 = 0
    np.testing.assert_allclose(g, [[-4 / 36, 0.0, -2 / 6, 0.0]], rtol=1e-6, atol=1e-8)


def test_hand_values_disjoint():
    p, t = [[0.0, 0.0, 1.0, 1.0]], [[2.0, 0.0, 3.0, 1.0]]
    eps = 1e-7
    assert fl.box_iou_loss(p, t) == 1.0
    # no gradient through an empty intersection: exactly zero
    np.testing.assert_array_equal(fl.box_iou_loss.grad(p, t), [[0.0, 0.0, 0.0, 0.0]])
    # enclosing box 3x1, union 2
    assert fl.giou_loss(p, t) == pytest.approx(1 + 1 / (3 + eps), rel=1e-14)
    # centres 2 apart, diagonal^2 = 9 + 1
    assert fl.diou_loss(p, t) == pytest.approx(1 + 4 / (10 + eps), rel=1e-14)
    for name in ("giou_loss", "diou_loss", "ciou_loss"):
        g = fl.get(name).grad(p, t)
        assert np.all(np.isfinite(g)) and np.any(g != 0), name
        assert g[0, 0] + g[0, 2] < 0, name  # moving pred right lowers the loss


def test_hand_values_nested_and_aspect():
    # pred [0,0,4,4] contains target [1,1,2,2]
    p, t = [[0.0, 0.0, 4.0, 4.0]], [[1.0, 1.0, 2.0, 2.0]]
    eps = 1e-7
    iou = 1 / (16 + eps)
    assert fl.box_iou_loss(p, t) == pytest.approx(1 - iou, rel=1e-14)
    assert fl.giou_loss(p, t) == pytest.approx(1 - iou, rel=1e-14)  # enclosing = union
    assert fl.diou_loss(p, t) == pytest.approx(1 - iou + 0.5 / (32 + eps), rel=1e-14)
    # CIoU: pred 1x2 vs target 2x1 with the same lower-left corner
    p, t = [[0.0, 0.0, 1.0, 2.0]], [[0.0, 0.0, 2.0, 1.0]]
    iou = 1 / (3 + 1e-7)
    diou = 1 - iou + 0.5 / (8 + 1e-7)
    v = 4 / math.pi**2 * (math.atan(2.0) - math.atan(0.5)) ** 2
    for eps in (1e-7, 0.25):
        alpha = v / (1 - iou + v + eps)
        assert fl.ciou_loss(p, t, eps=eps) == pytest.approx(diou + alpha * v, rel=1e-14)


def test_identical_boxes_give_zero():
    rng = np.random.default_rng(0)
    b = random_boxes(rng, 50)
    b[:, 2:] += 1.0  # sizes >= 1: the eps-sized gradient stays < 1e-6
    for name in NAMES:
        v, g = fl.get(name).value_and_grad(b, b, reduction="none")
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        # 1 - A / (A + eps): only eps keeps it from 0
        np.testing.assert_allclose(v, 1 - area / (area + 1e-7), rtol=1e-9, atol=1e-15)
        assert np.max(np.abs(g)) < 1e-6, name


@pytest.mark.parametrize("name", NAMES)
def test_symmetric_in_pred_and_target(name):
    rng = np.random.default_rng(1)
    p, t = mixed_boxes(rng, 100)
    p, t = p[:50], t[:50]  # no degenerate boxes
    a = fl.get(name)(p, t, reduction="none")
    b = fl.get(name)(t, p, reduction="none")
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------
# torchvision (torch autograd of the transcription)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_torchvision(name, reduction, dtype):
    rng = np.random.default_rng(2)
    pred, target = mixed_boxes(rng)
    pred, target = pred.astype(dtype), target.astype(dtype)
    tv, tg = torch_value_and_grad(name, pred, target, reduction)
    v, g = fl.get(name).value_and_grad(pred, target, reduction=reduction)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    assert_matches(v, tv, rtol, f"{name} value")
    assert_matches(g, tg, rtol, f"{name} grad")
    assert g.dtype == np.dtype(dtype)
    # NaN exactly where torch has NaN (CIoU: zero-height pred)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(tg))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("eps", [1e-3, 0.5])
def test_matches_torchvision_eps(name, eps):
    """eps enters where torchvision puts it (CIoU: only alpha)."""
    rng = np.random.default_rng(3)
    pred, target = mixed_boxes(rng, 200)
    pred, target = pred * 0.1, target * 0.1  # small boxes: eps matters
    for reduction in REDUCTIONS:
        tv, tg = torch_value_and_grad(name, pred, target, reduction, eps=eps)
        v, g = fl.get(name).value_and_grad(pred, target, reduction=reduction, eps=eps)
        assert_matches(v, tv, 1e-12, f"{name} value")
        assert_matches(g, tg, 1e-12, f"{name} grad")


@pytest.mark.parametrize("name", NAMES)
def test_matches_torchvision_weighted_and_batched(name):
    rng = np.random.default_rng(4)
    pred, target = mixed_boxes(rng, 240)
    pred, target = pred.reshape(4, 60, 4), target.reshape(4, 60, 4)
    w = rng.uniform(0.1, 2.0, size=(4, 60))
    for reduction in REDUCTIONS:
        tv, tg = torch_value_and_grad(name, pred, target, reduction, weight=w)
        v, g = fl.get(name).value_and_grad(pred, target, reduction=reduction, sample_weight=w)
        assert_matches(v, tv, 1e-12, f"{name} value")
        assert_matches(g, tg, 1e-12, f"{name} grad")
    # a prefix-shaped weight weighs whole rows
    w4 = rng.uniform(0.1, 2.0, size=4)
    tv, tg = torch_value_and_grad(name, pred, target, "mean", weight=w4[:, None])
    v, g = fl.get(name).value_and_grad(pred, target, sample_weight=w4)
    assert_matches(v, tv, 1e-12)
    assert_matches(g, tg, 1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_boxes_match_torchvision(name):
    rng = np.random.default_rng(5)
    base = random_boxes(rng, 100)
    for scale in (1e-6, 1e-3, 1e4, 1e8):
        pred = base * scale
        target = (base + rng.normal(scale=0.5, size=base.shape)) * scale
        target[:, 2:] = np.maximum(target[:, 2:], target[:, :2] + 0.01 * scale)
        tv, tg = torch_value_and_grad(name, pred, target, "none")
        v, g = fl.get(name).value_and_grad(pred, target, reduction="none")
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g)), (name, scale)
        assert_matches(v, tv, 1e-12, f"{name} value at scale {scale}")
        assert_matches(g, tg, 1e-11, f"{name} grad at scale {scale}")


@pytest.mark.parametrize("name", NAMES)
def test_empty_input_like_torchvision(name):
    pred = np.zeros((0, 4))
    tv, _ = torch_value_and_grad(name, pred, pred, "mean")
    assert tv == 0.0
    v, g = fl.get(name).value_and_grad(pred, pred)
    assert v == 0.0 and g.shape == (0, 4)
    assert fl.get(name)(pred, pred, reduction="sum") == 0.0
    assert fl.get(name)(pred, pred, reduction="none").shape == (0,)


# --------------------------------------------------------------------------
# gradients without torch


def _central_differences(f, x, h=1e-6):
    """The gradient of the scalar ``f`` at ``x`` by central differences,
    one entry at a time."""
    fd = np.empty_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += h
        xm.flat[i] -= h
        fd.flat[i] = (f(xp) - f(xm)) / (2 * h)
    return fd


@pytest.mark.parametrize("name", ["box_iou_loss", "giou_loss", "diou_loss"])
def test_grad_matches_finite_differences(name):
    rng = np.random.default_rng(6)
    pred, target = generic_boxes(rng, 10)
    loss = fl.get(name)
    g = loss.grad(pred, target, reduction="sum")
    fd = _central_differences(lambda p: loss(p, target, reduction="sum"), pred)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_ciou_grad_holds_alpha_constant():
    """CIoU's gradient is that of diou + alpha0 * v with alpha0 frozen at pred."""
    rng = np.random.default_rng(7)
    pred, target = generic_boxes(rng, 10)
    eps = 0.05

    def v_of(p):
        w, h = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
        wg, hg = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1]
        return 4 / np.pi**2 * (np.arctan(wg / hg) - np.arctan(w / h)) ** 2

    iou0 = 1 - fl.box_iou_loss(pred, target, reduction="none")
    alpha0 = v_of(pred) / (1 - iou0 + v_of(pred) + eps)

    def surrogate(p):
        return float(np.sum(fl.diou_loss(p, target, reduction="none") + alpha0 * v_of(p)))

    g = fl.ciou_loss.grad(pred, target, reduction="sum", eps=eps)
    fd = _central_differences(surrogate, pred)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    # and it is not the derivative of the value itself (alpha moves with pred)
    vp = fl.ciou_loss(pred + np.eye(4)[0] * 1e-6, target, reduction="sum", eps=eps)
    vm = fl.ciou_loss(pred - np.eye(4)[0] * 1e-6, target, reduction="sum", eps=eps)
    assert abs((vp - vm) / 2e-6 - g[:, 0].sum()) > 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_kernel_matches_reference_on_special_boxes(name):
    rng = np.random.default_rng(8)
    pred, target = mixed_boxes(rng)
    for dtype in (np.float64, np.float32):
        p, t = pred.astype(dtype), target.astype(dtype)
        v, g = fl.get(name).value_and_grad(p, t, reduction="none")
        rv, rg = R.get(name).value_and_grad(p, t, reduction="none")
        rtol = 1e-12 if dtype == np.float64 else 2e-5
        assert_matches(v, rv, rtol, f"{name} value")
        assert_matches(g, rg, rtol, f"{name} grad")


# --------------------------------------------------------------------------
# degenerate, NaN


def test_degenerate_boxes():
    # zero-area boxes: IoU 0, finite values and gradients -- except CIoU's
    # aspect ratio w/h of a point box (0/0: NaN, as in torch)
    pred = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    target = np.array([[0.0, 0.0, 1.0, 1.0], [0.5, 0.2, 0.5, 0.8], [1.0, 1.0, 2.0, 2.0]])
    eps = 1e-7
    # box 0: pred is the left edge of target; union 1, enclosing 1x1, centres 0.5 apart
    # box 1: target is a vertical segment inside pred; union 1, centres (0.5, 0.5) both
    # box 2: a point at the corner of target; union 1, enclosing 2x2, centres (0,0), (1.5,1.5)
    expected = {
        "box_iou_loss": [1.0, 1.0, 1.0],
        "giou_loss": [1.0, 1.0, 1 + 3 / (4 + eps)],
        "diou_loss": [1 + 0.25 / (2 + eps), 1.0, 1 + 4.5 / (8 + eps)],
        # v = 4/pi^2 (atan(1) - atan(0))^2 = 1/4, alpha = v / (1 + v + eps);
        # box 1: v = 4/pi^2 (atan(0) - atan(1))^2 = 1/4 too
        "ciou_loss": [
            1 + 0.25 / (2 + 1e-7) + 0.25**2 / (1.25 + eps),
            1.0 + 0.25**2 / (1.25 + eps),
            np.nan,
        ],
    }
    for name, exp in expected.items():
        v, g = fl.get(name).value_and_grad(pred, target, reduction="none")
        np.testing.assert_allclose(v, exp, rtol=1e-14, equal_nan=True, err_msg=name)
        rows = slice(0, 2) if name == "ciou_loss" else slice(0, 3)
        assert np.all(np.isfinite(g[rows])), name
    assert np.all(np.isnan(fl.ciou_loss.grad(pred, target)[2]))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("col", [0, 1, 2, 3])
def test_nan_propagates_to_its_box_only(name, col):
    rng = np.random.default_rng(9)
    pred, target = mixed_boxes(rng, 40)
    pred[:, 2:] += 0.1  # no zero-size pred boxes
    clean_v, clean_g = fl.get(name).value_and_grad(pred, target, reduction="none")
    pred[3, col] = np.nan
    v, g = fl.get(name).value_and_grad(pred, target, reduction="none")
    assert np.isnan(v[3]) and np.isnan(g[3, col])
    keep = np.arange(40) != 3
    np.testing.assert_array_equal(v[keep], clean_v[keep])
    np.testing.assert_array_equal(g[keep], clean_g[keep])
    assert math.isnan(fl.get(name)(pred, target))
    t = target.copy()
    t[5, col] = np.nan
    assert np.isnan(fl.get(name)(pred[keep], t[keep], reduction="none")[4])


# --------------------------------------------------------------------------
# the vectorized atan


def test_atan_matches_numpy():
    from fastloss import _core

    rng = np.random.default_rng(10)
    x = np.concatenate(
        [
            rng.standard_normal(200000) * 10.0 ** rng.uniform(-30, 30, 200000),
            np.linspace(-6, 6, 100001),
            [0.66, 0.6600000000000001, 2.414213562373095, 2.4142135623730954, 0.41421356, 1.0],
            [1e300, -1e300, 5e-324, 1e-200],
        ]
    )
    for dtype, max_ulp in ((np.float64, 1.0), (np.float32, 3.0)):
        with np.errstate(over="ignore"):
            xx = x.astype(dtype)
        out = np.empty_like(xx)
        _core._boxes_atan(xx, out)
        # libm's atan (glibc: correctly rounded in practice), not np.arctan:
        # NumPy 1.26's AVX-512 arctan is itself off by an ulp at x = 0.1250931849345077
        exact = np.frompyfunc(math.atan, 1, 1)(xx.astype(np.float64)).astype(np.float64)
        ulp = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
        err = np.abs(out.astype(np.float64) - exact) / ulp
        assert err.max() <= max_ulp, (dtype, xx[np.argmax(err)], err.max())
        assert np.all(np.abs(out) <= np.float64(dtype(np.pi / 2)))
        special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)
        o = np.empty_like(special)
        _core._boxes_atan(special, o)
        assert o[0] == 0 and not np.signbit(o[0]) and o[1] == 0 and np.signbit(o[1])
        assert o[2] == dtype(np.pi / 2) and o[3] == -dtype(np.pi / 2) and np.isnan(o[4])


# --------------------------------------------------------------------------
# shapes and bad input


@pytest.mark.parametrize("name", NAMES)
def test_shapes(name):
    loss = fl.get(name)
    rng = np.random.default_rng(11)
    p, t = random_boxes(rng, 6), random_boxes(rng, 6)
    v = loss(p[0], t[0], reduction="none")
    assert np.shape(v) == () and v == loss(p[:1], t[:1], reduction="none")[0]
    assert isinstance(loss(p[0], t[0]), float)
    assert loss.grad(p[0], t[0]).shape == (4,)
    pb, tb = p.reshape(2, 3, 4), t.reshape(2, 3, 4)
    vb, gb = loss.value_and_grad(pb, tb, reduction="none")
    assert vb.shape == (2, 3) and gb.shape == (2, 3, 4)
    v2, g2 = loss.value_and_grad(p, t, reduction="none")
    np.testing.assert_array_equal(vb.ravel(), v2)
    np.testing.assert_array_equal(gb.reshape(6, 4), g2)
    with pytest.raises(TypeError, match="no Hessian"):
        loss.grad_hess(p, t)


@pytest.mark.parametrize("name", NAMES)
def test_bad_inputs(name):
    loss = fl.get(name)
    rng = np.random.default_rng(12)
    p, t = random_boxes(rng, 5), random_boxes(rng, 5)
    with pytest.raises(ValueError, match=r"pred.*\(5, 3\)"):
        loss(p[:, :3], t[:, :3])
    with pytest.raises(ValueError, match=r"pred.*\(20,\)"):
        loss(p.ravel(), t.ravel())
    with pytest.raises(ValueError, match=r"pred.*\(\)"):
        loss(1.0, 1.0)
    with pytest.raises(ValueError, match=r"same shape.*\(5, 4\).*\(4, 4\)"):
        loss(p, t[:4])
    for bad in (0.0, -1e-7):
        with pytest.raises(ValueError, match="eps must be > 0"):
            loss(p, t, eps=bad)
    with pytest.raises(ValueError, match="eps must be finite"):
        loss(p, t, eps=float("nan"))
    with pytest.raises(TypeError, match="eps must be a real number"):
        loss(p, t, eps="1e-7")
    with pytest.raises(ValueError, match="reduction must be"):
        loss(p, t, reduction="avg")
    with pytest.raises(ValueError, match=r"sample_weight.*\(3,\)"):
        loss(p, t, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"out: expected shape \(5, 4\)"):
        loss.grad(p, t, out=np.empty(5))
    with pytest.raises(TypeError, match="unexpected keyword argument 'delta'"):
        loss(p, t, delta=1.0)


@pytest.mark.parametrize(
    "dtype,heights",
    [(np.float32, [1e-7, 1e-10, 1e-20, 1e-30, 1e-37]), (np.float64, [1e-10, 1e-160, 1e-300])],
)
def test_ciou_gradient_of_thin_boxes(dtype, heights):
    # CIoU's aspect term atan(w / h) of a box thinner than 2^20 : 1 (fixed:
    # (w / h)**2 overflowed -- float32 below h ~ 1e-19 w, float64 below
    # ~1e-154 w -- and the gradient was inf * 0 = NaN). The reference takes
    # the same derivatives, h / (w^2 + h^2) and -w / (w^2 + h^2), scaled.
    rows = []
    for h in heights:
        rows += [
            [-2.0, 0.0, -1.8, h],
            [0.6, 0.0, 0.9, h],
            [0.6, -h, 0.9, 0.0],
            [-1.8, 0.0, -2.0, h],
        ]
    p = np.array(rows, dtype)
    t = np.tile(np.array([[0.5, -1.0, 0.94, 1.0]], dtype), (len(rows), 1))
    v, g = fl.ciou_loss.value_and_grad(p, t, reduction="none")
    assert np.all(np.isfinite(g)), g
    rv, rg = R.ciou_loss.value_and_grad(
        p.astype(np.float64), t.astype(np.float64), reduction="none"
    )
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_matches(v, rv, rtol, "value")
    assert_matches(g, rg, rtol, "grad")
    # the boxes of ordinary shape keep torch's formula (see test_matches_torchvision);
    # a zero height stays torch's NaN (test_degenerate_boxes)
