"""Overlap family: dice, iou, tversky, generalized_dice.

Hand-computed values, PyTorch autograd cross-checks of the formulas as MONAI
and segmentation_models_pytorch write them, axis handling, empty masks, NaN,
thread determinism on a few huge slices, and every bad argument.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R

OVERLAP = ["dice", "iou", "tversky", "generalized_dice"]
PER_SLICE = ["dice", "iou", "tversky"]
REDUCTIONS = ["mean", "sum", "none"]


def masks(rng, shape, fg=0.3):
    pred = rng.uniform(0.01, 0.99, size=shape)
    target = (rng.random(shape) < fg).astype(np.float64)
    return pred, target


# --------------------------------------------------------------------------
# hand-computed values


def test_dice_hand_value_and_grad():
    pred = np.array([[1.0, 1.0, 0.0, 0.0]])
    target = np.array([[1.0, 1.0, 1.0, 0.0]])
    # I = 2, P = 2, T = 3: l = 1 - 4/5; dl/dp = -(2 t D - N) / D^2 = -(10 t - 4) / 25
    v, g = fl.dice.value_and_grad(pred, target, smooth=0.0)
    assert v == pytest.approx(0.2, rel=1e-14)
    np.testing.assert_allclose(g, [[-6 / 25, -6 / 25, -6 / 25, 4 / 25]], rtol=1e-14)
    # smooth = 1: 1 - 5/6
    assert fl.dice(pred, target, smooth=1.0) == pytest.approx(1 / 6, rel=1e-14)


def test_iou_hand_value_and_grad():
    pred = np.array([[1.0, 1.0, 0.0, 0.0]])
    target = np.array([[1.0, 0.0, 1.0, 0.0]])
    # I = 1, union = 2 + 2 - 1 = 3: l = 2/3; dl/dp = -(t D - N (1 - t)) / D^2
    v, g = fl.iou.value_and_grad(pred, target, smooth=0.0)
    assert v == pytest.approx(2 / 3, rel=1e-14)
    np.testing.assert_allclose(g, [[-1 / 3, 1 / 9, -1 / 3, 1 / 9]], rtol=1e-14)


def test_tversky_hand_value():
    pred = np.array([[1.0, 1.0, 0.0, 0.0]])
    target = np.array([[1.0, 0.0, 1.0, 1.0]])
    # TP = 1, FP = 1, FN = 2
    assert fl.tversky(pred, target, alpha=0.0, beta=1.0, smooth=0.0) == pytest.approx(2 / 3)
    assert fl.tversky(pred, target, alpha=1.0, beta=0.0, smooth=0.0) == pytest.approx(1 / 2)
    assert fl.tversky(pred, target, alpha=0.3, beta=0.7, smooth=0.0) == pytest.approx(
        1 - 1 / (1 + 0.3 + 1.4), rel=1e-14
    )


def test_generalized_dice_hand_value_and_grad():
    # one sample, two classes, four voxels
    target = np.array([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]])  # T = 2, 1: w = 1/4, 1
    pred = np.array([[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]])  # I = 1, 1; P = 1, 2
    # N = 2 (1/4 + 1) = 2.5; D = 1/4 (1 + 2) + 1 (2 + 1) = 3.75
    v, g = fl.generalized_dice.value_and_grad(pred, target, smooth=0.0)
    assert v == pytest.approx(1 - 2.5 / 3.75, rel=1e-14)
    # dl/dp_ck = -(2 w_c t D - N w_c) / D^2
    w = np.array([0.25, 1.0])[None, :, None]
    expected = -(2 * w * target * 3.75 - 2.5 * w) / 3.75**2
    np.testing.assert_allclose(g, expected, rtol=1e-14)


def test_generalized_dice_absent_class_takes_the_largest_weight():
    target = np.array([[[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]])  # class 1 absent
    pred = np.array([[[1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]]])
    # w = [1/4, 1/4 (the largest finite weight)]; N = 2 * 1/4 * 1 = 0.5;
    # D = 1/4 (1 + 2) + 1/4 (0.5 + 0) = 0.875
    v, g = fl.generalized_dice.value_and_grad(pred, target, smooth=0.0)
    assert v == pytest.approx(1 - 0.5 / 0.875, rel=1e-14)
    assert np.all(np.isfinite(g))
    # a weight that overflows float64 (T_c = 1e-200) counts as absent too
    t2 = target.copy()
    t2[0, 1, 3] = 1e-200
    assert fl.generalized_dice(pred, t2, smooth=0.0) == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("smooth", [1e-5, 0.0])
def test_generalized_dice_every_class_absent_is_zero(smooth):
    rng = np.random.default_rng(0)
    pred = rng.uniform(size=(3, 4, 10))
    target = np.zeros_like(pred)
    v, g = fl.generalized_dice.value_and_grad(pred, target, reduction="none", smooth=smooth)
    np.testing.assert_array_equal(v, np.zeros(3))
    np.testing.assert_array_equal(g, np.zeros_like(pred))


def test_tversky_special_cases_are_dice_and_iou(rng):
    pred, target = masks(rng, (5, 3, 7))
    for s in (0.0, 1e-5, 0.3):
        for red in REDUCTIONS:
            tv = fl.tversky.value_and_grad(
                pred, target, reduction=red, alpha=0.5, beta=0.5, smooth=s
            )
            # (I + s) / ((P + T)/2 + s) = (2I + 2s) / (P + T + 2s)
            dc = fl.dice.value_and_grad(pred, target, reduction=red, smooth=2 * s)
            np.testing.assert_allclose(tv[0], dc[0], rtol=1e-13)
            np.testing.assert_allclose(tv[1], dc[1], rtol=1e-12, atol=1e-16)
            io = fl.iou.value_and_grad(pred, target, reduction=red, smooth=s)
            t1 = fl.tversky.value_and_grad(
                pred, target, reduction=red, alpha=1.0, beta=1.0, smooth=s
            )
            np.testing.assert_allclose(t1[0], io[0], rtol=1e-13)
            np.testing.assert_allclose(t1[1], io[1], rtol=1e-12, atol=1e-16)
    # and exactly dice at smooth = 0
    assert fl.tversky(pred, target, smooth=0.0) == pytest.approx(
        fl.dice(pred, target, smooth=0.0), rel=1e-14
    )


# --------------------------------------------------------------------------
# PyTorch autograd: the formulas as MONAI / smp write them


def _torch_loss(name, p, t, axis, params):
    import torch

    s = params.get("smooth", 1e-5)
    if name == "generalized_dice":  # MONAI GeneralizedDiceLoss, w_type="square", batch=False
        reduce_axis = list(range(2, p.dim()))
        intersection = torch.sum(t * p, reduce_axis)
        ground_o = torch.sum(t, reduce_axis)
        pred_o = torch.sum(p, reduce_axis)
        denominator = ground_o + pred_o
        w = torch.reciprocal(ground_o * ground_o)
        infs = torch.isinf(w)
        w = torch.where(infs, torch.zeros_like(w), w)
        w = w + infs * torch.max(w, dim=1, keepdim=True)[0]
        numer = 2.0 * (intersection * w).sum(1) + s
        denom = (denominator * w).sum(1) + s
        return 1.0 - numer / denom
    dims = (
        list(range(1, p.dim()))
        if axis is None
        else [a % p.dim() for a in ((axis,) if isinstance(axis, int) else axis)]
    )
    tp = torch.sum(p * t, dims)
    if name == "dice":  # MONAI DiceLoss
        return 1.0 - (2.0 * tp + s) / (torch.sum(t, dims) + torch.sum(p, dims) + s)
    if name == "iou":  # smp soft_jaccard_score
        cardinality = torch.sum(p + t, dims)
        return 1.0 - (tp + s) / (cardinality - tp + s)
    # MONAI TverskyLoss
    fp = torch.sum(p * (1 - t), dims)
    fn = torch.sum((1 - p) * t, dims)
    a, b = params.get("alpha", 0.5), params.get("beta", 0.5)
    return 1.0 - (tp + s) / (tp + a * fp + b * fn + s)


AXES = [None, 1, (2, 3), (1, 3), (-1,), (0, 2), (0, 1, 2, 3)]
NAME_AXIS = [(n, a) for n in PER_SLICE for a in AXES] + [("generalized_dice", None)]


@pytest.mark.parametrize(("name", "axis"), NAME_AXIS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_torch_autograd(name, axis, reduction, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(repr((name, axis, reduction, weighted)).encode()))
    pred, target = masks(rng, (3, 4, 5, 6))
    params = {"smooth": 0.01}
    if name == "tversky":
        params.update(alpha=0.2, beta=0.9)
    if axis is not None:
        params["axis"] = axis
    loss_shape = np.shape(fl.get(name)(pred, target, reduction="none", **params))
    w = rng.uniform(0.5, 2.0, size=loss_shape) if weighted else None

    p = torch.tensor(pred, requires_grad=True)
    t = torch.tensor(target)
    l = _torch_loss(name, p, t, axis, params)
    assert tuple(l.shape) == loss_shape
    if w is not None:
        l = l * torch.tensor(w)
    if reduction == "none":
        value, objective = l, l.sum()
    elif reduction == "sum":
        value = objective = l.sum()
    else:
        value = objective = l.sum() / (float(w.sum()) if w is not None else l.numel())
    objective.backward()

    v, g = fl.get(name).value_and_grad(pred, target, reduction=reduction, sample_weight=w, **params)
    np.testing.assert_allclose(v, value.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-10, atol=1e-15)
    if reduction != "none":
        assert isinstance(v, float)
    # float32 runs natively and agrees to float32 precision
    v32, g32 = fl.get(name).value_and_grad(
        pred.astype(np.float32),
        target.astype(np.float32),
        reduction=reduction,
        sample_weight=w,
        **params,
    )
    assert g32.dtype == np.float32
    np.testing.assert_allclose(v32, value.detach().numpy(), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(g32, p.grad.numpy(), rtol=2e-4, atol=1e-6)


def test_dice_matches_monai_dice_loss_mean_over_samples_and_classes(rng):
    torch = pytest.importorskip("torch")
    pred, target = masks(rng, (2, 3, 8, 8))
    p = torch.tensor(pred, requires_grad=True)
    f = _torch_loss("dice", p, torch.tensor(target), (2, 3), {"smooth": 1e-5}).mean()
    f.backward()
    v, g = fl.dice.value_and_grad(pred, target, axis=(2, 3))
    assert v == pytest.approx(float(f.detach()), rel=1e-12)
    np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-10)


# --------------------------------------------------------------------------
# axes, shapes, weights, out=


def test_axis_spellings_agree(rng):
    pred, target = masks(rng, (2, 3, 4, 5))
    a = fl.dice(pred, target, reduction="none", axis=(2, 3))
    np.testing.assert_array_equal(a, fl.dice(pred, target, reduction="none", axis=(-1, -2)))
    np.testing.assert_array_equal(a, fl.dice(pred, target, reduction="none", axis=[3, 2]))
    np.testing.assert_array_equal(
        fl.dice(pred, target, reduction="none"),
        fl.dice(pred, target, reduction="none", axis=(1, 2, 3)),
    )
    assert fl.dice(pred, target, reduction="none", axis=np.int64(1)).shape == (2, 4, 5)


def test_all_axes_is_one_score_for_the_batch(rng):
    pred, target = masks(rng, (3, 4, 5))
    v = fl.iou(pred, target, reduction="none", axis=(0, 1, 2))
    assert isinstance(v, np.ndarray) and v.shape == ()
    I, U = np.sum(pred * target), np.sum(pred) + np.sum(target) - np.sum(pred * target)
    assert float(v) == pytest.approx(1 - (I + 1e-5) / (U + 1e-5), rel=1e-12)
    assert fl.iou(pred, target, axis=(0, 1, 2)) == pytest.approx(float(v), rel=1e-15)


def test_one_dimensional_input_needs_an_explicit_axis():
    pred, target = np.array([0.2, 0.9, 0.4]), np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="axis"):
        fl.dice(pred, target)
    v = fl.dice(pred, target, axis=0, smooth=0.0)
    assert v == pytest.approx(1 - 2 * 1.3 / (1.5 + 2), rel=1e-14)


def test_non_trailing_axes_and_out_buffer(rng):
    pred, target = masks(rng, (3, 4, 5, 6))
    params = {"axis": (0, 2), "alpha": 0.3, "beta": 0.6}
    out = np.full_like(pred, np.nan)
    g = fl.tversky.grad(pred, target, out=out, **params)
    assert g is out
    np.testing.assert_allclose(out, R.tversky.grad(pred, target, **params), rtol=1e-12)
    v, g2 = fl.tversky.value_and_grad(
        pred, target, out=np.empty_like(pred), reduction="none", **params
    )
    assert v.shape == (4, 6)
    np.testing.assert_allclose(v, R.tversky(pred, target, reduction="none", **params), rtol=1e-12)
    np.testing.assert_allclose(
        g2, R.tversky.grad(pred, target, reduction="none", **params), rtol=1e-12
    )


def test_sample_weight_prefix_weighs_whole_samples(rng):
    pred, target = masks(rng, (3, 2, 4, 4))
    w = np.array([1.0, 0.0, 3.0])
    a = fl.dice(pred, target, axis=(2, 3), sample_weight=w)
    per = fl.dice(pred, target, axis=(2, 3), reduction="none")
    assert a == pytest.approx(np.sum(per * w[:, None]) / (2 * np.sum(w)), rel=1e-12)
    gd = fl.generalized_dice(pred, target, sample_weight=w, reduction="sum")
    gper = fl.generalized_dice(pred, target, reduction="none")
    assert gper.shape == (3,)
    assert gd == pytest.approx(float(np.sum(gper * w)), rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight"):
        fl.dice(pred, target, sample_weight=np.ones(4))


def test_generalized_dice_single_class_and_two_dimensional_input(rng):
    pred, target = masks(rng, (4, 1, 9))
    assert fl.generalized_dice(pred, target, reduction="none").shape == (4,)
    # one class: w cancels up to smooth, so it is dice with smooth / w
    T = target.sum(axis=(1, 2))
    for n in range(4):
        if T[n] > 0:
            assert fl.generalized_dice(pred[n : n + 1], target[n : n + 1], smooth=0.0) == (
                pytest.approx(fl.dice(pred[n : n + 1], target[n : n + 1], smooth=0.0), rel=1e-12)
            )
    p2, t2 = masks(rng, (5, 3))  # (N, C): one voxel per class
    np.testing.assert_allclose(
        fl.generalized_dice(p2, t2, reduction="none"),
        R.generalized_dice(p2, t2, reduction="none"),
        rtol=1e-12,
    )


def test_zero_samples_and_empty_slices():
    empty = np.zeros((0, 3, 4))
    assert fl.dice(empty, empty, reduction="none").shape == (0,)
    assert np.isnan(fl.dice(empty, empty))  # mean of nothing
    assert fl.dice(empty, empty, reduction="sum") == 0.0
    # K = 0: empty slices score 0
    z = np.zeros((3, 0))
    np.testing.assert_array_equal(fl.iou(z, z, reduction="none"), np.zeros(3))


# --------------------------------------------------------------------------
# empty masks, NaN


@pytest.mark.parametrize("name", OVERLAP)
@pytest.mark.parametrize("smooth", [1e-5, 0.0])
def test_all_zero_pred_and_target_give_zero_and_finite_grad(name, smooth):
    z = np.zeros((2, 3, 4, 4))
    for dt in (np.float32, np.float64):
        v, g = fl.get(name).value_and_grad(z.astype(dt), z.astype(dt), smooth=smooth)
        assert v == 0.0
        assert np.all(np.isfinite(g))
        vn = fl.get(name)(z.astype(dt), z.astype(dt), reduction="none", smooth=smooth)
        np.testing.assert_array_equal(vn, 0.0)


@pytest.mark.parametrize("name", PER_SLICE)
def test_one_empty_mask_is_a_full_miss(name, rng):
    pred = rng.uniform(0.2, 0.9, size=(2, 50))
    zero = np.zeros_like(pred)
    # empty target: I = 0, so l = 1 - s / (c P + s), close to 1
    for a, b in ((pred, zero), (zero, pred)):
        v, g = fl.get(name).value_and_grad(a, b, reduction="none")
        assert np.all(v > 0.999) and np.all(v <= 1.0)
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("name", OVERLAP)
def test_nan_stays_in_its_sample(name, rng):
    pred, target = masks(rng, (3, 2, 10))
    pred[1, 0, 4] = np.nan
    v = fl.get(name)(pred, target, reduction="none")
    assert np.isnan(v[1]) and np.all(np.isfinite(v[[0, 2]]))
    g = fl.get(name).grad(pred, target)
    assert np.isnan(g[1, 0]).all()
    assert np.all(np.isfinite(g[[0, 2]]))
    assert np.isnan(fl.get(name)(pred, target))
    t = target.copy()
    t[2, 1, 0] = np.nan
    assert np.isnan(fl.get(name)(pred, t, reduction="none")[2])


# --------------------------------------------------------------------------
# determinism on a few huge slices (many blocks per slice)


def _slices(name, dtype, seed, samples, groups, size):
    """Masks of `samples` slices of `size` (generalized_dice: `groups` class
    slices of size / groups per sample)."""
    shape = (samples, groups, size // groups) if name == "generalized_dice" else (samples, size)
    pred, target = masks(np.random.default_rng(seed), shape)
    return pred.astype(dtype), target.astype(dtype)


def _assert_matches_reference(name, pred, target, v, g):
    rv, rg = R.get(name).value_and_grad(pred, target, reduction="none")
    rtol = 1e-11 if pred.dtype == np.float64 else 2e-5
    np.testing.assert_allclose(v, rv, rtol=rtol)
    np.testing.assert_allclose(g, rg, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", OVERLAP)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_slices_thread_count_does_not_change_a_bit(name, dtype):
    pred, target = _slices(name, dtype, 5, 2, 1, 150_001)
    results = []
    for t in (1, 2, 7):
        fl.set_num_threads(t)
        results.append(fl.get(name).value_and_grad(pred, target, reduction="none"))
    for v, g in results[1:]:
        np.testing.assert_array_equal(v, results[0][0])
        np.testing.assert_array_equal(g, results[0][1])
    _assert_matches_reference(name, pred, target, *results[0])


@pytest.mark.parametrize("name", OVERLAP)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_pass_and_three_pass_drivers_give_the_same_bits(name, dtype):
    # Groups of at most 4 MiB (kFuseBytes) run sums, score and gradient in one pass when
    # there are at least 4 tasks a thread (1 and 2 threads here); with 7
    # threads the 8 groups are too few and the three-pass driver runs, as it
    # does for a value alone.
    pred, target = _slices(name, dtype, 8, 8, 2, 20_002)
    loss = fl.get(name)
    results = []
    for t in (1, 2, 7):
        fl.set_num_threads(t)
        for red in ("none", "mean"):
            results.append(loss.value_and_grad(pred, target, reduction=red))
            results.append((loss(pred, target, reduction=red), results[-1][1]))
    for i, (v, g) in enumerate(results):  # each against 1 thread's value_and_grad
        np.testing.assert_array_equal(v, results[i % 4 // 2 * 2][0])
        np.testing.assert_array_equal(g, results[i % 4 // 2 * 2][1])
    _assert_matches_reference(name, pred, target, *results[0])


# --------------------------------------------------------------------------
# bad arguments


@pytest.mark.parametrize("name", OVERLAP)
def test_bad_inputs_raise(name):
    loss = fl.get(name)
    p = np.full((2, 3, 4), 0.5)
    cases = [  # (error, its words, the call)
        (ValueError, "same shape", lambda: loss(p, p[:, :2])),
        (ValueError, "smooth", lambda: loss(p, p, smooth=-1e-3)),
        (ValueError, "smooth", lambda: loss(p, p, smooth=float("inf"))),
        (TypeError, "smooth", lambda: loss(p, p, smooth="small")),
        (ValueError, "reduction", lambda: loss(p, p, reduction="avg")),
        (TypeError, "grad_hess", lambda: loss.grad_hess(p, p)),
        (TypeError, "unexpected keyword", lambda: loss(p, p, gamma=2.0)),
        (ValueError, "out", lambda: loss.grad(p, p, out=np.empty((2, 3)))),
        (ValueError, None, lambda: loss(np.float64(0.5), np.float64(0.5))),  # 0-d
    ]
    for error, words, call in cases:
        with pytest.raises(error, match=words):
            call()


@pytest.mark.parametrize("name", PER_SLICE)
def test_bad_axis_raises(name):
    loss = fl.get(name)
    p = np.full((2, 3, 4), 0.5)
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        loss(p, p, axis=3)
    with pytest.raises(ValueError, match="axis -4 is out of range"):
        loss(p, p, axis=(1, -4))
    with pytest.raises(ValueError, match="axis contains a repeated axis"):
        loss(p, p, axis=(1, -2))
    with pytest.raises(ValueError, match="axis must name at least one axis"):
        loss(p, p, axis=())
    with pytest.raises(TypeError, match="axis"):
        loss(p, p, axis=1.0)
    with pytest.raises(TypeError, match="axis"):
        loss(p, p, axis=True)
    with pytest.raises(TypeError, match="axis"):
        loss(p, p, axis="1")
    with pytest.raises(ValueError, match="axis"):
        loss(np.float64(0.5), np.float64(0.5))
    with pytest.raises(ValueError, match="axis 0 is out of range"):
        loss(np.float64(0.5), np.float64(0.5), axis=0)


def test_tversky_bad_alpha_beta():
    p = np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        fl.tversky(p, p, alpha=-0.1)
    with pytest.raises(ValueError, match="beta"):
        fl.tversky(p, p, beta=float("nan"))


def test_generalized_dice_needs_a_class_axis():
    with pytest.raises(ValueError, match="pred must have shape"):
        fl.generalized_dice(np.full(4, 0.5), np.full(4, 0.5))
    with pytest.raises(ValueError, match="at least one class"):
        fl.generalized_dice(np.zeros((2, 0, 3)), np.zeros((2, 0, 3)))
    with pytest.raises(TypeError, match="axis"):
        fl.generalized_dice(np.full((2, 2, 3), 0.5), np.full((2, 2, 3), 0.5), axis=1)


def test_kernel_refuses_a_bad_layout():
    from fastloss import _core

    p = np.full(6, 0.5)
    with pytest.raises(ValueError, match="elements"):
        _core.run(3, 0, 0, 2, p, target=p, slices=2, slice_size=4, group=1)
    with pytest.raises(ValueError, match="layout"):
        _core.run(3, 3, 0, 2, p, target=p, slices=3, slice_size=2, group=2)
    with pytest.raises(ValueError, match="group"):
        _core.run(3, 0, 0, 2, p, target=p, slices=2, slice_size=3, group=2)


@pytest.mark.parametrize("name", PER_SLICE)
def test_remembered_layouts_follow_shape_and_axis(name):
    # A loss remembers its layout per (shape, axis): alternating shapes and
    # axes on one loss object must each get their own, as a fresh call would.
    loss, ref = fl.get(name), R.get(name)
    rng = np.random.default_rng(7)
    calls = []
    for shape in [(2, 3, 4, 5), (3, 2, 4, 5), (2, 3, 4, 5)]:
        pred, target = masks(rng, shape)
        for axis in [None, (2, 3), (1, -1), (0,), None]:
            calls.append((pred, target, axis))
    for _ in range(2):  # the second round hits the remembered layouts
        for pred, target, axis in calls:
            v, g = loss.value_and_grad(pred, target, reduction="none", axis=axis)
            rv, rg = ref.value_and_grad(pred, target, reduction="none", axis=axis)
            assert v.shape == rv.shape
            np.testing.assert_allclose(v, rv, rtol=1e-11)
            np.testing.assert_allclose(g, rg, rtol=1e-11, atol=1e-12)
