"""Multiclass family: hand values, PyTorch / scikit-learn cross-checks,
extreme logits, and bad arguments (class axis last everywhere)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R

REDUCTIONS = ["mean", "sum", "none"]


def _torch():
    return pytest.importorskip("torch")


def _to_torch_layout(x):
    """(N, d..., C) -> torch's (N, C, d...)."""
    return np.moveaxis(x, -1, 1) if x.ndim > 2 else x


def _from_torch_layout(x):
    return np.moveaxis(x, 1, -1) if x.ndim > 2 else x


def torch_value_grad(fn, x, *args, **kw):
    """Value and gradient of torch's fn(input, *args, **kw) w.r.t. input.

    ``x`` has the class axis last; it is moved to torch's axis 1 and the
    gradient moved back. For reduction='none' the gradient is of the sum.
    """
    torch = _torch()
    xt = torch.tensor(_to_torch_layout(x), requires_grad=True)
    out = fn(xt, *args, **kw)
    out.sum().backward()
    return out.detach().numpy(), _from_torch_layout(xt.grad.numpy())


def close(a, b, rtol=1e-12, atol=1e-14):
    np.testing.assert_allclose(
        np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol
    )


# ==========================================================================
# cross_entropy


def test_cross_entropy_hand_values():
    assert fl.cross_entropy([[0.0, 0.0]], [1]) == pytest.approx(math.log(2), rel=1e-15)
    z = [2.0, 0.0, -1.0]
    lse = math.log(math.exp(2.0) + 1.0 + math.exp(-1.0))
    assert fl.cross_entropy([z], [0]) == pytest.approx(lse - 2.0, rel=1e-14)
    assert fl.cross_entropy([z], [2]) == pytest.approx(lse + 1.0, rel=1e-14)
    # gradient: softmax - onehot
    g = fl.cross_entropy.grad([z], [0], reduction="sum")
    p = np.exp(np.array(z) - lse)
    close(g[0], p - [1, 0, 0])
    # label smoothing 0.3 over 2 equal logits: (0.7 + 0.3/2 + 0.3/2) log 2
    assert fl.cross_entropy([[1.0, 1.0]], [0], label_smoothing=0.3) == pytest.approx(
        math.log(2), rel=1e-14
    )
    # class weights: weighted sum / sum of the weights of the labels
    v = fl.cross_entropy([[0.0, 0.0], [0.0, math.log(3.0)]], [0, 1], class_weight=[2.0, 0.5])
    expected = (2.0 * math.log(2) + 0.5 * math.log(4 / 3)) / 2.5
    assert v == pytest.approx(expected, rel=1e-14)


def _ce_inputs(rng, shape, ignore):
    c = shape[-1]
    x = rng.normal(size=shape) * 2
    y = rng.integers(0, c, size=shape[:-1])
    if ignore == "default":
        y.flat[::3] = -100
    elif ignore == "in_range":
        pass  # ignore_index=1 below: the label 1 is ignored
    return x, y


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5), (2, 3, 2, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted_classes", [False, True])
@pytest.mark.parametrize("ignore", ["none", "default", "in_range"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15, 1.0])
def test_cross_entropy_labels_matches_torch(
    shape, reduction, weighted_classes, ignore, label_smoothing, rng
):
    torch = _torch()
    F = torch.nn.functional
    x, y = _ce_inputs(rng, shape, ignore)
    ignore_index = 1 if ignore == "in_range" else -100
    cw = rng.uniform(0.2, 3.0, size=shape[-1]) if weighted_classes else None
    tv, tg = torch_value_grad(
        F.cross_entropy,
        x,
        torch.tensor(y),
        weight=None if cw is None else torch.tensor(cw),
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    v, g = fl.cross_entropy.value_and_grad(
        x,
        y,
        reduction=reduction,
        class_weight=cw,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    close(v, tv)
    close(g, tg)
    assert g.shape == x.shape
    if reduction == "none":
        assert v.shape == shape[:-1]


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted_classes", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_probabilities_match_torch(
    shape, reduction, weighted_classes, label_smoothing, rng
):
    torch = _torch()
    F = torch.nn.functional
    x = rng.normal(size=shape) * 2
    t = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    cw = rng.uniform(0.2, 3.0, size=shape[-1]) if weighted_classes else None
    tv, tg = torch_value_grad(
        F.cross_entropy,
        x,
        torch.tensor(_to_torch_layout(t)),
        weight=None if cw is None else torch.tensor(cw),
        label_smoothing=label_smoothing,
        reduction=reduction,
    )
    v, g = fl.cross_entropy.value_and_grad(
        x, t, reduction=reduction, class_weight=cw, label_smoothing=label_smoothing
    )
    close(v, tv)
    close(g, tg)


@pytest.mark.parametrize("weighted_classes", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_sample_weight_composes(weighted_classes, label_smoothing, rng):
    """mean = sum(w * l) / sum(w * cw_y) over non-ignored samples."""
    torch = _torch()
    F = torch.nn.functional
    x = rng.normal(size=(9, 4))
    y = rng.integers(0, 4, size=9)
    y[[2, 5]] = -100
    w = rng.uniform(0.1, 2.0, size=9)
    cw = rng.uniform(0.5, 2.0, size=4) if weighted_classes else np.ones(4)
    xt = torch.tensor(x, requires_grad=True)
    per = F.cross_entropy(
        xt,
        torch.tensor(y),
        weight=torch.tensor(cw),
        reduction="none",
        label_smoothing=label_smoothing,
    )
    keep = y != -100
    denom = float(np.sum(w[keep] * cw[np.where(keep, y, 0)][keep]))
    ref = (per * torch.tensor(w)).sum() / denom
    ref.backward()
    v, g = fl.cross_entropy.value_and_grad(
        x,
        y,
        sample_weight=w,
        class_weight=cw if weighted_classes else None,
        label_smoothing=label_smoothing,
    )
    close(v, ref.item())
    close(g, xt.grad.numpy())
    # "sum" and "none" simply multiply by w
    close(
        fl.cross_entropy(
            x,
            y,
            reduction="none",
            sample_weight=w,
            class_weight=cw,
            label_smoothing=label_smoothing,
        ),
        per.detach().numpy() * w,
    )


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    v, g = fl.cross_entropy.value_and_grad([[1.0, 2.0], [0.0, 0.0]], [-100, -100])
    assert math.isnan(v)
    assert fl.cross_entropy([[1.0, 2.0]], [-100], reduction="sum") == 0.0


def test_cross_entropy_float32_matches_torch(rng):
    torch = _torch()
    x = (rng.normal(size=(50, 7)) * 3).astype(np.float32)
    y = rng.integers(0, 7, size=50)
    tv, tg = torch_value_grad(
        torch.nn.functional.cross_entropy, x, torch.tensor(y), label_smoothing=0.1
    )
    v, g = fl.cross_entropy.value_and_grad(x, y, label_smoothing=0.1)
    assert g.dtype == np.float32
    close(v, tv, rtol=1e-5)
    close(g, tg, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_extreme_logits(dtype, label_smoothing):
    torch = _torch()
    x = np.array(
        [[1e5, -1e5, 0.0], [-1e5, 1e5, 3.0], [1e5, 1e5, -1e5], [-1e5, -1e5, -1e5]], dtype=dtype
    )
    y = np.array([0, 0, 1, 2])
    tv, tg = torch_value_grad(
        torch.nn.functional.cross_entropy,
        x,
        torch.tensor(y),
        reduction="none",
        label_smoothing=label_smoothing,
    )
    v, g = fl.cross_entropy.value_and_grad(x, y, reduction="none", label_smoothing=label_smoothing)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    close(v, tv, rtol=1e-6)
    close(g, tg, rtol=1e-6, atol=1e-7)
    # by hand: row 1 loses 2e5, row 2 is log 2 (without smoothing)
    if label_smoothing == 0.0:
        assert v[1] == pytest.approx(2e5, rel=1e-7)
        assert v[2] == pytest.approx(math.log(2), rel=1e-6)


def test_cross_entropy_minus_inf_logits():
    """A -inf logit is a class with probability 0: dropping it changes nothing."""
    x = np.array([[0.5, -np.inf, 1.0, -0.2], [-np.inf, 2.0, -np.inf, 0.0]])
    y = np.array([2, 3])
    v, g = fl.cross_entropy.value_and_grad(x, y, reduction="none")
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    close(v[0], fl.cross_entropy(x[:1, [0, 2, 3]], [1], reduction="none")[0])
    close(v[1], fl.cross_entropy(x[1:, [1, 3]], [1], reduction="none")[0])
    assert g[0, 1] == 0.0 and g[1, 0] == 0.0 and g[1, 2] == 0.0
    torch = _torch()
    tv, tg = torch_value_grad(
        torch.nn.functional.cross_entropy, x, torch.tensor(y), reduction="none"
    )
    close(v, tv)
    close(g, tg)
    # probability targets: zero probability on the -inf class contributes 0
    # (torch gives NaN there: -inf * 0)
    t = np.array([[0.2, 0.0, 0.5, 0.3], [0.0, 0.6, 0.0, 0.4]])
    vp, gp = fl.cross_entropy.value_and_grad(x, t, reduction="none")
    assert np.all(np.isfinite(vp)) and np.all(np.isfinite(gp))
    close(vp[1], fl.cross_entropy(x[1:, [1, 3]], t[1:, [1, 3]], reduction="none")[0])


def test_cross_entropy_nan_propagates_to_its_row_only():
    x = np.array([[np.nan, 0.0, 1.0], [0.0, 1.0, 2.0]])
    v, g = fl.cross_entropy.value_and_grad(x, [1, 2], reduction="none")
    assert np.isnan(v[0]) and np.all(np.isnan(g[0]))
    assert np.isfinite(v[1]) and np.all(np.isfinite(g[1]))


def test_cross_entropy_bad_labels_name_the_label(rng):
    x = rng.normal(size=(6, 4))
    with pytest.raises(ValueError, match=r"label 4 at sample 3 .*\[0, 4\)"):
        fl.cross_entropy(x, [0, 1, 2, 4, 0, 1])
    with pytest.raises(ValueError, match=r"label -1 "):
        fl.cross_entropy.grad(x, [0, 1, -1, 3, 0, 1])
    with pytest.raises(ValueError, match=r"label 7 "):
        fl.cross_entropy(x, [0, 1, 7, 3, 0, 1], reduction="none")
    with pytest.raises(ValueError, match=r"label 9 "):  # also when the mean needs no pre-pass
        fl.cross_entropy.value_and_grad(x, [0, 1, 9, 3, 0, 1], reduction="sum")


def test_cross_entropy_bad_label_found_on_many_threads(rng):
    x = rng.normal(size=(60000, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=60000)
    y[40000] = 5
    y[123] = 3
    for t in (1, 4):
        fl.set_num_threads(t)
        with pytest.raises(ValueError, match=r"label 3 at sample 123 "):
            fl.cross_entropy.value_and_grad(x, y)


@pytest.mark.parametrize(
    "name, ignore_index",
    [("cross_entropy", -100), ("cross_entropy", 2), ("cross_entropy", 7), ("softmax_focal", None)],
)
def test_mean_denominator_counts_the_rows_that_count(name, ignore_index, rng):
    # Without class weights the mean's denominator is a count of the rows
    # whose label is in range and not ignore_index (taken in integers over
    # blocks of rows): the same as the sum over those rows / their number,
    # on any thread count; a bad label after ignored ones is still named.
    loss = getattr(fl, name)
    kw = {} if ignore_index is None else {"ignore_index": ignore_index}
    x = rng.normal(size=(20000, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=20000)
    if ignore_index is not None:
        y[::7] = ignore_index
    keep = (y != ignore_index) & (y >= 0) & (y < 5)
    total = loss(x, y, reduction="sum", **kw)
    for t in (1, 2, 4):
        fl.set_num_threads(t)
        assert loss(x, y, **kw) == pytest.approx(total / keep.sum(), rel=1e-12)
    y[9000] = 5
    with pytest.raises(ValueError, match=r"label 5 at sample 9000 "):
        loss(x, y, **kw)


def test_cross_entropy_bad_shapes_and_arguments(rng):
    x = rng.normal(size=(5, 3))
    y = np.array([0, 1, 2, 0, 1])
    # (C,) scores are one sample (torch's unbatched input): its label is 0-d
    with pytest.raises(ValueError, match=r"target: integer labels must have shape.*= \(\)"):
        fl.cross_entropy(np.zeros(3), [0])
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4,\)"):
        fl.cross_entropy(x, y[:4])
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(5, 2\)"):
        fl.cross_entropy(x, np.full((5, 2), 0.5))
    with pytest.raises(ValueError, match=r"floating point"):
        fl.cross_entropy(x, np.zeros((5, 3), dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"class_weight must have shape \(C,\) = \(3,\), got \(2,\)"
    ):
        fl.cross_entropy(x, y, class_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="label_smoothing"):
        fl.cross_entropy(x, y, label_smoothing=1.5)
    with pytest.raises(TypeError, match="ignore_index"):
        fl.cross_entropy(x, y, ignore_index=1.5)
    with pytest.raises(ValueError, match="ignore_index"):
        fl.cross_entropy(x, np.full((5, 3), 1 / 3), ignore_index=0)
    with pytest.raises(TypeError, match="target"):
        fl.cross_entropy(x, [0.5, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="sample_weight"):
        fl.cross_entropy(x, y, sample_weight=np.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        fl.cross_entropy(x, y, reduction="batchmean")
    with pytest.raises(TypeError, match="unexpected keyword argument 'weight'"):
        fl.cross_entropy(x, y, weight=[1, 1, 1])
    with pytest.raises(ValueError, match=r"out: expected shape \(5, 3\)"):
        fl.cross_entropy.grad(x, y, out=np.empty((5,)))
    with pytest.raises(ValueError, match=r"out\[1\]: expected shape \(5, 3\)"):
        fl.softmax_focal.grad_hess(x, y, out=(np.empty((5, 3)), np.empty((5,))))


# ==========================================================================
# multiclass_hinge


def test_multiclass_hinge_hand_values():
    s = [[2.0, 1.5, 0.0], [0.0, 3.0, 1.0]]
    # CS: row 0: 1 + 1.5 - 2 = 0.5; row 1 (y=2): 1 + 3 - 1 = 3
    close(fl.multiclass_hinge(s, [0, 2], reduction="none"), [0.5, 3.0])
    g = fl.multiclass_hinge.grad(s, [0, 2], reduction="sum")
    close(g, [[-1, 1, 0], [0, 1, -1]])
    # WW: row 0: (max(0, 1-2+1.5) + max(0, 1-2+0)) / 3 = 0.5/3
    #     row 1: (max(0, 1-1+0) + max(0, 1-1+3)) / 3 = 3/3
    close(
        fl.multiclass_hinge(s, [0, 2], reduction="none", variant="weston_watkins"), [0.5 / 3, 1.0]
    )
    close(
        fl.multiclass_hinge.grad(s, [0, 2], reduction="sum", variant="weston_watkins"),
        [[-1 / 3, 1 / 3, 0], [0, 1 / 3, -1 / 3]],
    )
    # margin satisfied: zero loss and gradient
    assert fl.multiclass_hinge([[5.0, 1.0, 0.0]], [0]) == 0.0
    assert not fl.multiclass_hinge.grad([[5.0, 1.0, 0.0]], [0]).any()


@pytest.mark.parametrize("weighted", [False, True])
def test_crammer_singer_matches_sklearn(weighted, rng):
    metrics = pytest.importorskip("sklearn.metrics")
    s = rng.normal(size=(40, 5)) * 2
    y = rng.integers(0, 5, size=40)
    w = rng.uniform(0.1, 2.0, size=40) if weighted else None
    expected = metrics.hinge_loss(y, s, labels=np.arange(5), sample_weight=w)
    close(fl.multiclass_hinge(s, y, sample_weight=w), expected)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.3, 2.5])
def test_crammer_singer_gradient_matches_torch_autograd(reduction, margin, rng):
    torch = _torch()
    s = rng.normal(size=(30, 6))
    y = rng.integers(0, 6, size=30)

    def cs(st, yt):  # the Crammer-Singer formula, written with torch ops
        sy = st.gather(1, yt[:, None])[:, 0]
        others = st.masked_fill(torch.nn.functional.one_hot(yt, 6).bool(), -float("inf"))
        per = torch.clamp(margin + others.max(dim=1).values - sy, min=0)
        return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]

    tv, tg = torch_value_grad(cs, s, torch.tensor(y))
    v, g = fl.multiclass_hinge.value_and_grad(s, y, margin=margin, reduction=reduction)
    close(v, tv)
    close(g, tg)


@pytest.mark.parametrize("shape", [(25, 4), (4, 3, 5)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("power", [1, 2])
def test_weston_watkins_matches_torch_multi_margin(shape, reduction, margin, dtype, power, rng):
    torch = _torch()
    c = shape[-1]
    s = (rng.normal(size=shape) * 1.5).astype(dtype)
    y = rng.integers(0, c, size=shape[:-1])
    # torch's multi_margin_loss takes (N, C): flatten the sample axes
    tv, tg = torch_value_grad(
        torch.nn.functional.multi_margin_loss,
        s.reshape(-1, c),
        torch.tensor(y.reshape(-1)),
        p=power,
        margin=margin,
        reduction=reduction,
    )
    v, g = fl.multiclass_hinge.value_and_grad(
        s, y, margin=margin, reduction=reduction, variant="weston_watkins", p=power
    )
    tol = 1e-12 if dtype == np.float64 else 1e-5
    close(v, tv.reshape(np.shape(v)), rtol=tol, atol=tol)
    close(g, tg.reshape(shape), rtol=tol, atol=tol)


def test_weston_watkins_sample_weight(rng):
    torch = _torch()
    s = rng.normal(size=(12, 4))
    y = rng.integers(0, 4, size=12)
    w = rng.uniform(0.1, 2.0, size=12)
    xt = torch.tensor(s, requires_grad=True)
    per = torch.nn.functional.multi_margin_loss(xt, torch.tensor(y), reduction="none")
    ref = (per * torch.tensor(w)).sum() / w.sum()
    ref.backward()
    v, g = fl.multiclass_hinge.value_and_grad(s, y, sample_weight=w, variant="weston_watkins")
    close(v, ref.item())
    close(g, xt.grad.numpy())


@pytest.mark.parametrize("variant", ["crammer_singer", "weston_watkins"])
def test_multiclass_hinge_extreme_and_nan(variant):
    s = np.array([[1e5, -1e5, 0.0], [-1e5, 1e5, 0.0], [np.nan, 0.0, 1.0]])
    v, g = fl.multiclass_hinge.value_and_grad(s, [0, 0, 1], reduction="none", variant=variant)
    assert v[0] == 0.0 and not g[0].any()
    expected = 2e5 + 1 if variant == "crammer_singer" else (2e5 + 1 + 1e5 + 1) / 3
    assert v[1] == pytest.approx(expected, rel=1e-14)
    assert np.isnan(v[2]) and np.all(np.isnan(g[2]))


def test_multiclass_hinge_bad_arguments(rng):
    s = rng.normal(size=(4, 3))
    with pytest.raises(ValueError, match=r"label 3 at sample 1 .*\[0, 3\)"):
        fl.multiclass_hinge(s, [0, 3, 1, 2])
    with pytest.raises(ValueError, match=r"label -100 "):  # no ignore_index here
        fl.multiclass_hinge(s, [0, -100, 1, 2])
    with pytest.raises(ValueError, match="at least 2 class"):
        fl.multiclass_hinge(np.zeros((4, 1)), [0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"at least 1 dimension \(C,\)"):
        fl.multiclass_hinge(np.zeros(()), 0)
    # (C,) scores are one sample, as a batch of one
    assert fl.multiclass_hinge(np.arange(3.0), 0) == fl.multiclass_hinge([np.arange(3.0)], [0])
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(3,\)"):
        fl.multiclass_hinge(s, [0, 1, 2])
    with pytest.raises(ValueError, match="variant"):
        fl.multiclass_hinge(s, [0, 1, 1, 2], variant="one_vs_rest")
    with pytest.raises(ValueError, match="margin"):
        fl.multiclass_hinge(s, [0, 1, 1, 2], margin=float("nan"))
    with pytest.raises(TypeError, match="labels"):
        fl.multiclass_hinge(s, [0.5, 1, 1, 2])


# ==========================================================================
# softmax_focal


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted_classes", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_at_gamma_zero_is_cross_entropy(reduction, weighted_classes, weighted, rng):
    x = rng.normal(size=(3, 7, 5)) * 2
    y = rng.integers(0, 5, size=(3, 7))
    cw = rng.uniform(0.2, 3.0, size=5) if weighted_classes else None
    w = rng.uniform(0.1, 2.0, size=(3, 7)) if weighted else None
    v, g = fl.softmax_focal.value_and_grad(
        x, y, gamma=0.0, class_weight=cw, sample_weight=w, reduction=reduction
    )
    cv, cg = fl.cross_entropy.value_and_grad(
        x, y, class_weight=cw, sample_weight=w, reduction=reduction
    )
    close(v, cv, rtol=1e-13)
    close(g, cg, rtol=1e-13, atol=1e-16)


def test_focal_hand_value():
    # p_y = 1/2: (1/2)^2 log 2
    assert fl.softmax_focal([[0.0, 0.0]], [1]) == pytest.approx(0.25 * math.log(2), rel=1e-15)
    # p_y = 3/4, gamma = 1: (1/4) log(4/3)
    v = fl.softmax_focal([[math.log(3.0), 0.0]], [0], gamma=1.0)
    assert v == pytest.approx(0.25 * math.log(4 / 3), rel=1e-14)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted_classes", [False, True])
def test_focal_matches_torch_autograd(gamma, reduction, weighted_classes, rng):
    torch = _torch()
    x = rng.normal(size=(20, 4)) * 2
    y = rng.integers(0, 4, size=20)
    cw = rng.uniform(0.2, 3.0, size=4) if weighted_classes else np.ones(4)

    def focal(xt, yt):  # -cw_y (1 - p_y)^gamma log p_y, mean over sum(cw_y)
        logp = torch.log_softmax(xt, dim=1).gather(1, yt[:, None])[:, 0]
        cwy = torch.tensor(cw)[yt]
        per = -cwy * (1 - logp.exp()) ** gamma * logp
        return {"mean": per.sum() / cwy.sum(), "sum": per.sum(), "none": per}[reduction]

    tv, tg = torch_value_grad(focal, x, torch.tensor(y))
    v, g = fl.softmax_focal.value_and_grad(
        x, y, gamma=gamma, reduction=reduction, class_weight=cw if weighted_classes else None
    )
    close(v, tv, rtol=1e-11)
    close(g, tg, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_extreme_logits(dtype, gamma):
    x = np.array([[1e5, -1e5, 0.0], [-1e5, 1e5, 0.0], [0.0, -np.inf, 1.0]], dtype=dtype)
    v, g = fl.softmax_focal.value_and_grad(x, [0, 0, 2], gamma=gamma, reduction="none")
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    assert v[0] == 0.0 and not g[0].any()  # p_y = 1 exactly
    assert v[1] == pytest.approx(2e5, rel=1e-6)  # (1 - 0)^gamma * 2e5
    close(v[2], fl.softmax_focal(x[2:, [0, 2]], [1], gamma=gamma, reduction="none")[0], rtol=1e-6)


def test_focal_bad_arguments(rng):
    x = rng.normal(size=(4, 3))
    with pytest.raises(ValueError, match="gamma"):
        fl.softmax_focal(x, [0, 1, 2, 0], gamma=-1.0)
    with pytest.raises(ValueError, match=r"label 3 at sample 0"):
        fl.softmax_focal(x, [3, 1, 2, 0])
    with pytest.raises(ValueError, match=r"class_weight must have shape"):
        fl.softmax_focal(x, [0, 1, 2, 0], class_weight=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(4, 3\)"):
        fl.softmax_focal(x, np.zeros((4, 3), dtype=int))


# ==========================================================================
# kl_div


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kl_div_matches_torch(log_target, dtype, rng):
    torch = _torch()
    F = torch.nn.functional
    lp = np.log(rng.dirichlet(np.ones(6), size=15)).astype(dtype)
    t = rng.dirichlet(np.ones(6), size=15)
    if not log_target:
        t[3, 2] = 0.0  # a zero target entry: xlogy gives 0 (torch too)
    t = (np.log(t) if log_target else t).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    tt = torch.tensor(t)
    for ours, theirs in [("mean", "batchmean"), ("sum", "sum")]:
        tv, tg = torch_value_grad(F.kl_div, lp, tt, reduction=theirs, log_target=log_target)
        v, g = fl.kl_div.value_and_grad(lp, t, reduction=ours, log_target=log_target)
        close(v, tv, rtol=tol, atol=tol)
        close(g, tg, rtol=tol, atol=tol)
    # "none": torch's element-wise terms summed over the class axis
    tv, tg = torch_value_grad(F.kl_div, lp, tt, reduction="none", log_target=log_target)
    v, g = fl.kl_div.value_and_grad(lp, t, reduction="none", log_target=log_target)
    close(v, tv.sum(axis=-1), rtol=tol, atol=tol)
    close(g, tg, rtol=tol, atol=tol)


def test_kl_div_hand_values_and_zero_targets():
    # KL([1, 0] || [1/2, 1/2]) = log 2; KL(p || p) = 0
    assert fl.kl_div(np.log([[0.5, 0.5]]), [[1.0, 0.0]]) == pytest.approx(math.log(2), rel=1e-15)
    p = np.array([[0.2, 0.3, 0.5]])
    assert abs(fl.kl_div(np.log(p), p)) < 1e-16
    # a zero target entry with log_pred = -inf contributes 0 (torch: NaN)
    v, g = fl.kl_div.value_and_grad(np.array([[0.0, -np.inf]]), [[1.0, 0.0]])
    assert v == 0.0 and np.all(np.isfinite(g))
    vl = fl.kl_div(np.array([[0.0, -np.inf]]), [[0.0, -np.inf]], log_target=True)
    assert vl == 0.0


def test_kl_div_mean_over_samples_with_extra_axes(rng):
    torch = _torch()
    lp = np.log(rng.dirichlet(np.ones(3), size=(4, 5)))
    t = rng.dirichlet(np.ones(3), size=(4, 5))
    s = torch.nn.functional.kl_div(torch.tensor(lp), torch.tensor(t), reduction="sum").item()
    close(fl.kl_div(lp, t), s / 20)
    w = rng.uniform(0.1, 2.0, size=(4, 5))
    close(
        fl.kl_div(lp, t, sample_weight=w),
        np.sum(w * fl.kl_div(lp, t, reduction="none")) / np.sum(w),
    )


def test_kl_div_bad_arguments():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 2\)"):
        fl.kl_div(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="log_target"):
        fl.kl_div(np.zeros((2, 3)), np.zeros((2, 3)), log_target=1)
    with pytest.raises(ValueError, match="log_pred must have at least 2 dimensions"):
        fl.kl_div(np.zeros(3), np.zeros(3))


# ==========================================================================
# brier


@pytest.mark.parametrize("weighted", [False, True])
def test_brier_binary_matches_sklearn(weighted, rng):
    metrics = pytest.importorskip("sklearn.metrics")
    p = rng.uniform(size=50)
    y = rng.integers(0, 2, size=50)
    w = rng.uniform(0.1, 2.0, size=50) if weighted else None
    close(fl.brier(p, y, sample_weight=w), metrics.brier_score_loss(y, p, sample_weight=w))
    g = fl.brier.grad(p, y, sample_weight=w)
    ww = np.ones(50) if w is None else w
    close(g, 2 * (p - y) * ww / ww.sum())


@pytest.mark.parametrize("weighted", [False, True])
def test_brier_multiclass_matches_sklearn(weighted, rng):
    """sklearn 1.9 (scale_by_half='auto'): multiclass = mean of the squared
    distance to the one-hot label, summed over classes, not halved."""
    metrics = pytest.importorskip("sklearn.metrics")
    p = rng.dirichlet(np.ones(4), size=30)
    y = rng.integers(0, 4, size=30)
    w = rng.uniform(0.1, 2.0, size=30) if weighted else None
    expected = metrics.brier_score_loss(y, p, labels=np.arange(4), sample_weight=w)
    close(fl.brier(p, y, sample_weight=w), expected)


def test_brier_hand_values():
    close(fl.brier([0.1, 0.9, 0.8, 0.3], [0, 1, 1, 0]), (0.01 + 0.01 + 0.04 + 0.09) / 4)
    close(fl.brier([[0.7, 0.2, 0.1]], [0]), 0.09 + 0.04 + 0.01)
    close(fl.brier.grad([[0.7, 0.2, 0.1]], [0], reduction="sum"), [[-0.6, 0.4, 0.2]])


def test_brier_bad_arguments():
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2,\)"):
        fl.brier(np.full((3, 2), 0.5), [0, 1])
    with pytest.raises(ValueError, match=r"label 2 at sample 1"):
        fl.brier(np.full((3, 2), 0.5), [0, 2, 1])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        fl.brier([0.1, 0.2, 0.3], [0, 1])


# ==========================================================================
# categorical_hinge


def test_categorical_hinge_hand_values():
    # Keras' docstring example: rows 1.2 and 1.6, mean 1.4
    v = fl.categorical_hinge([[0.6, 0.4], [0.4, 0.6]], [[0.0, 1.0], [0.0, 0.0]], reduction="none")
    close(v, [1.2, 1.6])
    assert fl.categorical_hinge([[0.3, 0.6, 0.1]], [[0, 1, 0]]) == pytest.approx(0.7, rel=1e-15)
    close(fl.categorical_hinge.grad([[0.3, 0.6, 0.1]], [[0, 1, 0]]), [[1.0, -1.0, 0.0]])
    assert fl.categorical_hinge([[0.0, 5.0]], [[0, 1]]) == 0.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True])
def test_categorical_hinge_matches_keras_formula(reduction, soft, rng):
    """Keras' categorical_hinge, written with torch ops (keras is not a test
    dependency): pos = sum(t s), neg = max((1 - t) s), max(0, neg - pos + 1)."""
    torch = _torch()
    s = rng.normal(size=(25, 5))
    if soft:
        t = rng.dirichlet(np.ones(5), size=25)
    else:
        t = np.eye(5)[rng.integers(0, 5, size=25)]

    def keras(st, tt):
        pos = (tt * st).sum(-1)
        neg = ((1 - tt) * st).max(-1).values
        per = torch.clamp(neg - pos + 1, min=0)
        return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]

    tv, tg = torch_value_grad(keras, s, torch.tensor(t))
    v, g = fl.categorical_hinge.value_and_grad(s, t, reduction=reduction)
    close(v, tv)
    close(g, tg)


def test_categorical_hinge_extreme_and_nan():
    v, g = fl.categorical_hinge.value_and_grad(
        [[1e5, -1e5], [-1e5, 1e5], [np.nan, 0.0]], [[1, 0], [1, 0], [0, 1]], reduction="none"
    )
    assert v[0] == 0.0 and v[1] == pytest.approx(2e5 + 1, rel=1e-15)
    assert np.isnan(v[2]) and np.all(np.isnan(g[2]))


def _tied_scores(rng, rows, c, dtype):
    """Scores for the block-path tests: rounded (tied maxima), a NaN in row
    5, rows of +0 and -0 (6, 7) and of -1 (8)."""
    x = rng.normal(size=(rows, c)).round(1).astype(dtype)
    x[5, 0] = np.nan
    x[6] = 0.0
    x[7, :] = -0.0
    x[8] = -1.0
    return x


def _check_block_vs_row(loss, args, wide_args, kw_pairs, c, dtype, nan_row=False):
    """value_and_grad of the narrow rows (block path) against the rows padded
    to 40 classes (row path), for each (kw, wide kw) on 1 and 2 threads:
    gradients and per-row values bit for bit; a reduced value sums blocks of
    rows whose size depends on C, so it agrees to rounding (the Crammer-Singer
    case used to assert it exactly, on NaNs only: its finite reduced values
    differ by an ulp or two). The value alone gives value_and_grad's bits.
    A reduced value must be finite, or NaN on both paths where the caller
    says the input holds a NaN row (nan_row): NaN equals NaN to the asserts
    below, so the caller compares the reduced values again without that
    row."""
    for kw, wkw in kw_pairs:
        for threads in (1, 2):
            fl.set_num_threads(threads)
            v, g = loss.value_and_grad(*args, **kw)
            vw, gw = loss.value_and_grad(*wide_args, **wkw)
            np.testing.assert_array_equal(g, gw[:, :c])
            if kw.get("reduction") != "none":
                assert np.isnan(v) == np.isnan(vw) == nan_row, (kw, v, vw)
            if kw.get("reduction") == "none":
                np.testing.assert_array_equal(v, vw)
            else:
                np.testing.assert_allclose(v, vw, rtol=1e-6 if dtype == np.float32 else 1e-14)
            np.testing.assert_array_equal(loss(*args, **kw), v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [2, 3, 10, 32])
def test_categorical_hinge_block_path_gives_the_bits_of_the_row_path(c, dtype, rng):
    # Rows of C <= 32 classes run the block path (flat products, then short
    # row sums and maxima, a flat gradient). Padding one-hot rows to 40
    # classes with score 0 and target 0 sends them through the row path with
    # the same loss and gradient: the padded terms are zeros, and (1 - t) z is
    # already 0 at the label, so neither the sum, the max nor its first
    # arg-max changes. (The reduced values are sums over blocks of rows
    # whose size depends on C, so they are compared per row.)
    rows = 3000
    x = _tied_scores(rng, rows, c, dtype)  # row 8: neg = 0 at the label only
    t = np.eye(c, dtype=dtype)[rng.integers(0, c, size=rows)]
    wide_x = np.zeros((rows, 40), dtype=dtype)
    wide_t = np.zeros((rows, 40), dtype=dtype)
    wide_x[:, :c], wide_t[:, :c] = x, t
    w = rng.uniform(0.5, 2.0, size=rows)
    on = fl.categorical_hinge(x, t, reduction="none") > 0
    assert on.any() and (~on).any()  # both branches of the gradient
    kws = ({}, {"sample_weight": w}, {"reduction": "none"}, {"reduction": "sum"})
    _check_block_vs_row(
        fl.categorical_hinge,
        (x, t),
        (wide_x, wide_t),
        [(kw, kw) for kw in kws],
        c,
        dtype,
        nan_row=True,
    )
    assert np.isnan(fl.categorical_hinge(x, t, reduction="none")[5])
    # Row 5's NaN makes every reduced value above NaN: the reduced values
    # again without it, where they are finite.
    keep = np.arange(rows) != 5
    kws = ({}, {"sample_weight": w[keep]}, {"reduction": "sum"})
    assert all(np.isfinite(fl.categorical_hinge(x[keep], t[keep], **kw)) for kw in kws)
    _check_block_vs_row(
        fl.categorical_hinge,
        (x[keep], t[keep]),
        (wide_x[keep], wide_t[keep]),
        [(kw, kw) for kw in kws],
        c,
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 1.5])
@pytest.mark.parametrize("c", [2, 10, 32])
def test_focal_block_path_gives_the_bits_of_the_row_path(c, gamma, dtype, rng):
    # Rows of C <= 32 run the block path; -inf columns (exp gives 0, added to
    # the sums' lanes as zeros) send the same rows through the row path. The
    # mean's sum runs over blocks of rows whose size depends on C: per-row
    # values are compared bit for bit, the mean to rounding.
    rows = 2000
    x = (rng.normal(size=(rows, c)) * 3).astype(dtype)
    x[3, 0] = 40.0  # p_y ~ 1 or ~ 0
    y = rng.integers(0, c, size=rows)
    wide = np.full((rows, 40), -np.inf, dtype=dtype)
    wide[:, :c] = x
    cw = rng.uniform(0.5, 2.0, size=c)
    wide_cw = np.concatenate([cw, np.ones(40 - c)])
    pairs = []
    for reduction in ("mean", "none"):
        base = {"gamma": gamma, "reduction": reduction}
        pairs += [(base, base), ({**base, "class_weight": cw}, {**base, "class_weight": wide_cw})]
    _check_block_vs_row(fl.softmax_focal, (x, y), (wide, y), pairs, c, dtype)


def test_categorical_hinge_bad_arguments():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2,\)"):
        fl.categorical_hinge(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="scores must have at least 2 dimensions"):
        fl.categorical_hinge([0.5, 0.1], [1, 0])


# ==========================================================================
# the row driver: wide rows (C > kChunk, C > kBlock), threads and ISA levels


@pytest.mark.parametrize("c", [3, 300, 5000])
def test_row_driver_is_bit_identical_across_threads_and_isas(c, rng):
    from fastloss import _core

    rows = max(4, 120000 // c)
    x = (rng.normal(size=(rows, c)) * 4).astype(np.float32)
    y = rng.integers(0, c, size=rows)
    y[::7] = -100
    cw = rng.uniform(0.5, 2.0, size=c)
    kw = dict(class_weight=cw, label_smoothing=0.1)
    chosen = _core.isa()
    results = []
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            for t in (1, 3):
                fl.set_num_threads(t)
                results.append(
                    (
                        fl.cross_entropy.value_and_grad(x, y, **kw),
                        fl.softmax_focal(x, np.where(y < 0, 0, y), class_weight=cw),
                        fl.multiclass_hinge(x, np.where(y < 0, 0, y), variant="weston_watkins"),
                    )
                )
    finally:
        _core.set_isa(chosen)
    (v0, g0), f0, h0 = results[0]
    for (v, g), f, h in results[1:]:
        assert v == v0 and f == f0 and h == h0
        np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [2, 3, 10, 32])
def test_crammer_singer_block_path_gives_the_bits_of_the_row_path(c, dtype, rng):
    # Rows of C <= 32 classes run the block path (a flat copy with the label
    # entries masked, contiguous row maxima); padding them with -inf columns
    # to 40 classes sends the same rows through the row path with the same
    # loss and gradient.
    rows = 3000
    x = _tied_scores(rng, rows, c, dtype)
    y = rng.integers(0, c, size=rows)
    wide = np.full((rows, 40), -np.inf, dtype=dtype)
    wide[:, :c] = x
    w = rng.uniform(0.5, 2.0, size=rows)
    kws = ({}, {"margin": 0.0}, {"sample_weight": w}, {"reduction": "none"})
    _check_block_vs_row(
        fl.multiclass_hinge, (x, y), (wide, y), [(kw, kw) for kw in kws], c, dtype, nan_row=True
    )
    assert np.isnan(fl.multiclass_hinge(x, y, reduction="none")[5])
    # Row 5's NaN makes the three reduced values above NaN: the same values
    # again without it, where they are finite.
    keep = np.arange(rows) != 5
    kws = ({}, {"margin": 0.0}, {"sample_weight": w[keep]}, {"reduction": "sum"})
    _check_block_vs_row(
        fl.multiclass_hinge,
        (x[keep], y[keep]),
        (wide[keep], y[keep]),
        [(kw, kw) for kw in kws],
        c,
        dtype,
    )


@pytest.mark.parametrize("c", [300, 5000])
def test_wide_rows_match_torch(c, rng):
    torch = _torch()
    x = rng.normal(size=(6, c)) * 3
    y = rng.integers(0, c, size=6)
    cw = rng.uniform(0.5, 2.0, size=c)
    tv, tg = torch_value_grad(
        torch.nn.functional.cross_entropy,
        x,
        torch.tensor(y),
        weight=torch.tensor(cw),
        label_smoothing=0.2,
    )
    v, g = fl.cross_entropy.value_and_grad(x, y, class_weight=cw, label_smoothing=0.2)
    close(v, tv)
    close(g, tg, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 31, 32, 33, 63, 64, 100])
def test_cross_entropy_every_row_length_matches_the_reference(c, dtype, rng):
    # The short-row helpers take a different path by row length: the row
    # maximum in whole 32-byte vectors from 8 floats / 4 doubles (the last
    # one overlapping, a loop beyond two), four lanes or a scalar loop below;
    # the gradient's scale in overlapping groups of four from C = 4, scalar
    # below; the block path up to C = 32, rows one by one above. Each
    # length against the float64 reference, with class weights and label
    # smoothing (both terms of the gradient's scale), a NaN row, a row
    # whose maximum sits in its last entry (inside the overlap only when
    # C is not a multiple of the vector) and one whose maximum is a zero.
    rows = 257
    x = (rng.normal(size=(rows, c)) * 3).astype(dtype)
    x[4, -1] = 30.0
    x[5, 0] = 30.0
    x[6] = -np.abs(x[6])
    x[6, c // 2] = -0.0
    x[7, 0] = np.nan
    y = rng.integers(0, c, size=rows)
    cw = rng.uniform(0.5, 2.0, size=c)
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for kw in (
        {"reduction": "none"},
        {"reduction": "none", "class_weight": cw, "label_smoothing": 0.1},
    ):
        v, g = fl.cross_entropy.value_and_grad(x, y, **kw)
        rv, rg = R.cross_entropy.value_and_grad(x, y, **kw)
        assert np.isnan(v[7]) and np.all(np.isnan(g[7]))
        keep = np.arange(rows) != 7
        np.testing.assert_allclose(v[keep], rv[keep], **tol)
        np.testing.assert_allclose(g[keep], rg[keep], **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_hessian_is_the_softmax_diagonal(dtype, rng):
    # d^2 l / dz_k^2 = s p_k (1 - p_k): labels with class weights and label
    # smoothing (s = (1 - eps) cw_y + eps/C sum cw), probabilities (s = sum q),
    # an ignored row (0), against the reference and torch's autograd
    z = rng.normal(size=(7, 5)).astype(dtype) * 2
    y = rng.integers(0, 5, size=7)
    y[3] = -100
    cw = rng.uniform(0.5, 2.0, size=5)
    params = {"class_weight": cw, "label_smoothing": 0.1}
    for red in ("none", "sum", "mean"):
        g, h = fl.cross_entropy.grad_hess(z, y, reduction=red, **params)
        rg, rh = fl.reference.cross_entropy.grad_hess(z, y, reduction=red, **params)
        np.testing.assert_allclose(h, rh, rtol=2e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_array_equal(g, fl.cross_entropy.grad(z, y, reduction=red, **params))
        assert np.all(h[3] == 0)
    t = rng.dirichlet(np.ones(5), size=7).astype(dtype)
    _, h = fl.cross_entropy.grad_hess(z, t, reduction="sum")
    _, rh = fl.reference.cross_entropy.grad_hess(z, t, reduction="sum")
    np.testing.assert_allclose(h, rh, rtol=2e-5 if dtype == np.float32 else 1e-12)
    torch = pytest.importorskip("torch")
    zt = torch.tensor(z.astype(np.float64))
    diag = [
        torch.autograd.functional.hessian(
            lambda r, i=i: torch.nn.functional.cross_entropy(
                r[None],
                torch.tensor([int(y[i])]),
                weight=torch.tensor(cw),
                label_smoothing=0.1,
                reduction="sum",
            ),
            zt[i],
        )
        .diagonal()
        .numpy()
        for i in range(7)
        if y[i] != -100
    ]
    _, h = fl.cross_entropy.grad_hess(z.astype(np.float64), y, reduction="sum", **params)
    np.testing.assert_allclose(h[y != -100], np.array(diag), rtol=1e-10, atol=1e-14)


def _fd_diag_hess(loss, z, y, **params):
    """d g_k / d z_k by central differences of the kernel's own gradient."""
    fd = np.empty_like(z)
    for i in range(z.size):
        h = 1e-6 * max(1.0, abs(z.flat[i]))
        e = np.zeros_like(z)
        e.flat[i] = h
        gp = loss.grad(z + e, y, reduction="sum", **params)
        gm = loss.grad(z - e, y, reduction="sum", **params)
        fd.flat[i] = (gp.flat[i] - gm.flat[i]) / (2 * h)
    return fd


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_softmax_focal_hessian_matches_finite_differences(gamma):
    rng = np.random.default_rng(11)
    z = rng.normal(0, 2, (6, 4))
    y = rng.integers(0, 4, 6)
    cw = np.array([0.5, 1.0, 2.0, 1.5])
    g, h = fl.softmax_focal.grad_hess(z, y, reduction="sum", gamma=gamma, class_weight=cw)
    np.testing.assert_array_equal(
        g, fl.softmax_focal.grad(z, y, reduction="sum", gamma=gamma, class_weight=cw)
    )
    fd = _fd_diag_hess(fl.softmax_focal, z, y, gamma=gamma, class_weight=cw)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-8)
    # gamma 0 is cross_entropy's Hessian
    if gamma == 0.0:
        _, hce = fl.cross_entropy.grad_hess(z, y, reduction="sum", class_weight=cw)
        np.testing.assert_allclose(h, hce, rtol=1e-13, atol=1e-15)


def test_multilabel_soft_margin_hessian_matches_finite_differences():
    rng = np.random.default_rng(12)
    z = rng.normal(0, 2, (5, 3))
    t = (rng.uniform(size=(5, 3)) > 0.5).astype(np.float64)
    cw = np.array([0.5, 1.0, 2.0])
    _, h = fl.multilabel_soft_margin.grad_hess(z, t, reduction="sum", class_weight=cw)
    fd = _fd_diag_hess(fl.multilabel_soft_margin, z, t, class_weight=cw)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["nll", "kl_div", "multiclass_hinge", "categorical_hinge"])
def test_linear_row_losses_have_hessian_zero(name):
    from cases import make

    pred, target, params = make(name, np.random.default_rng(13), np.float64, 12)
    g, h = fl.get(name).grad_hess(pred, target, **params)
    np.testing.assert_array_equal(g, fl.get(name).grad(pred, target, **params))
    assert np.all(h == 0)


def test_brier_hessian_is_two():
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    _, h = fl.brier.grad_hess(p, [2, 0], reduction="sum")
    np.testing.assert_array_equal(h, np.full((2, 3), 2.0))
    _, h = fl.brier.grad_hess(p, [2, 0])  # the mean divides by the 2 samples
    np.testing.assert_array_equal(h, np.full((2, 3), 1.0))


def test_nll_matches_cross_entropy_of_log_softmax():
    rng = np.random.default_rng(14)
    z = rng.normal(0, 2, (4, 3, 5))
    lp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    y = rng.integers(0, 5, (4, 3))
    y[0, 1] = -100
    cw = rng.uniform(0.2, 2.0, 5)
    for red in ("mean", "sum", "none"):
        np.testing.assert_allclose(
            fl.nll(lp, y, class_weight=cw, reduction=red),
            fl.cross_entropy(z, y, class_weight=cw, reduction=red),
            rtol=1e-12,
        )


def test_multilabel_margin_bad_targets():
    s = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"target: class index 3 at flat index 4 is out of range"):
        fl.multilabel_margin(s, [[0, -1, 2], [1, 3, -1]])
    with pytest.raises(ValueError, match=r"class index -2"):
        fl.multilabel_margin(s, [[0, -2, 2], [1, 0, -1]])
    with pytest.raises(ValueError, match="shape"):
        fl.multilabel_margin(s, [[0, -1], [1, -1]])
    # entries after the first -1 are not read (torch's rule), but must be in range
    a = fl.multilabel_margin(s + np.arange(3), [[0, -1, 2], [1, -1, -1]], reduction="none")
    b = fl.multilabel_margin(s + np.arange(3), [[0, -1, -1], [1, -1, 0]], reduction="none")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("variant", ["crammer_singer", "weston_watkins"])
@pytest.mark.parametrize("power", [1, 2])
def test_multiclass_hinge_power_against_reference_and_differences(variant, power, rng):
    """p=2 (squared violations) and p=1 against the NumPy reference, the
    gradient against central differences of the value and the Hessian's
    diagonal against central differences of the gradient, away from the kinks."""
    from fastloss import reference

    s = rng.normal(size=(30, 4)) * 2
    y = rng.integers(0, 4, size=30)
    w = rng.uniform(0.5, 2.0, size=30)
    kw = dict(variant=variant, p=power, margin=0.7, sample_weight=w)
    v = fl.multiclass_hinge(s, y, reduction="sum", **kw)
    g, h = fl.multiclass_hinge.grad_hess(s, y, reduction="sum", **kw)
    ref = reference.get("multiclass_hinge")
    rv = ref(s, y, reduction="sum", **kw)
    rg, rh = ref.grad_hess(s, y, reduction="sum", **kw)
    close(v, rv, rtol=1e-13)
    close(g, rg, rtol=1e-13, atol=1e-15)
    close(h, rh, rtol=1e-13, atol=1e-15)
    eps = 1e-6
    for i, k in [(i, k) for i in range(0, 30, 7) for k in range(4)]:
        sp, sm = s.copy(), s.copy()
        sp[i, k] += eps
        sm[i, k] -= eps
        fd = (
            fl.multiclass_hinge(sp, y, reduction="sum", **kw)
            - fl.multiclass_hinge(sm, y, reduction="sum", **kw)
        ) / (2 * eps)
        assert g[i, k] == pytest.approx(fd, rel=1e-6, abs=1e-8)
        gp = fl.multiclass_hinge.grad(sp, y, reduction="sum", **kw)[i, k]
        gm = fl.multiclass_hinge.grad(sm, y, reduction="sum", **kw)[i, k]
        assert h[i, k] == pytest.approx((gp - gm) / (2 * eps), rel=1e-6, abs=1e-8)
    if power == 2:
        assert np.any(h != 0)


def test_multiclass_hinge_power_is_checked():
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        fl.multiclass_hinge([[1.0, 0.0]], [0], p=3)
    with pytest.raises(TypeError, match="p"):
        fl.multiclass_hinge([[1.0, 0.0]], [0], p=2.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "name",
    [
        "nll",
        "multilabel_soft_margin",
        "multilabel_margin",
        "cross_entropy",
        "cross_entropy_probs",
        "multiclass_hinge",
    ],
)
def test_unbatched_scores_match_torch(name, reduction, dtype):
    # torch takes one sample's (C,) scores (its "unbatched" input, a 0-d
    # label for nll) and returns a 0-d loss for every reduction
    torch = _torch()
    F = torch.nn.functional
    rng = np.random.default_rng(15)
    z = rng.normal(0, 2, 6).astype(dtype)
    cw = rng.uniform(0.2, 2.0, 6)
    if name == "nll":
        x = (z - np.log(np.exp(z.astype(np.float64)).sum())).astype(dtype)
        y, kw, tkw = (
            np.array(4),
            {"class_weight": cw},
            {"weight": torch.from_numpy(cw.astype(dtype))},
        )
        peer = F.nll_loss
    elif name == "multilabel_soft_margin":
        x, y = z, (rng.uniform(size=6) > 0.5).astype(dtype)
        kw, tkw = {"class_weight": cw}, {"weight": torch.from_numpy(cw.astype(dtype))}
        peer = F.multilabel_soft_margin_loss
    elif name == "cross_entropy":
        x, y = z, np.array(4)
        kw = {"class_weight": cw, "label_smoothing": 0.1}
        tkw = {"weight": torch.from_numpy(cw.astype(dtype)), "label_smoothing": 0.1}
        peer = F.cross_entropy
    elif name == "cross_entropy_probs":  # a probability target of the scores' shape
        y = rng.dirichlet(np.ones(6)).astype(dtype)
        x, kw, tkw, peer = z, {"label_smoothing": 0.1}, {"label_smoothing": 0.1}, F.cross_entropy
        name = "cross_entropy"
    elif name == "multiclass_hinge":  # torch's multi_margin_loss
        x, y, peer = z, np.array(2), F.multi_margin_loss
        kw, tkw = {"variant": "weston_watkins", "p": 2}, {"p": 2}
    else:
        x, y, kw, tkw = z, np.array([3, 0, 5, -1, 1, 2]), {}, {}
        peer = F.multilabel_margin_loss
    xt = torch.tensor(x, requires_grad=True)
    tv = peer(xt, torch.tensor(y), reduction=reduction, **tkw)
    tv.backward()
    L = fl.get(name)
    v, g = L.value_and_grad(x, y, reduction=reduction, **kw)
    assert np.shape(v) == tuple(tv.shape) == ()
    assert g.shape == x.shape and g.dtype == dtype
    tol = 2e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(v, tv.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=tol, atol=tol)
    # the same as a batch of one, reshaped back
    vb, gb = L.value_and_grad(x[None], y[None], reduction=reduction, **kw)
    np.testing.assert_array_equal(np.reshape(vb, ()), v)
    np.testing.assert_array_equal(gb[0], g)
    out = np.empty_like(x)
    assert L.grad(x, y, reduction=reduction, out=out, **kw) is out
    np.testing.assert_array_equal(out, g)


def test_unbatched_is_only_where_torch_has_it():
    with pytest.raises(ValueError, match=r"log_probs must have at least 1 dimension \(C,\)"):
        fl.nll(np.array(0.5), np.array(0))
    with pytest.raises(ValueError, match="labels: integer labels must have shape"):
        fl.nll(np.zeros(3), np.array([0]))
    with pytest.raises(ValueError, match=r"logits must have at least 1 dimension \(C,\)"):
        fl.cross_entropy(np.array(0.5), np.array(0))
