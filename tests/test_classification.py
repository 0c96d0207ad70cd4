"""Binary classification family: hand values, PyTorch / torchvision /
scikit-learn cross-checks, extreme inputs, NaN, bad arguments.

The registry-wide properties (reference agreement, threads, ISAs, out=, ...)
live in test_properties.py and run on these losses too.

Weights: fastloss's ``sample_weight`` and PyTorch's per-element ``weight``
multiply the same terms, but PyTorch's ``"mean"`` divides by the element
count while fastloss's divides by ``sum(sample_weight)``. So weighted
``"sum"`` and ``"none"`` are compared with ``weight=`` directly, and the
weighted mean as ``torch sum / sum(w)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R

BCE = fl.binary_cross_entropy
BCEL = fl.binary_cross_entropy_with_logits
EPS32 = float(np.float32(1e-12))  # ATen's EPSILON is a float constant
DTYPES = [np.float64, np.float32]
REDUCTIONS = ["none", "sum", "mean"]
# the losses the shared NaN, shape and registry tests below run over
FIVE = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "hinge",
    "squared_hinge",
    "sigmoid_focal",
]


def tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-13} if dtype == np.float64 else {"rtol": 2e-6, "atol": 2e-7}


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# --------------------------------------------------------------------------
# hand-computed values


def test_bce_hand_values():
    p = np.array([0.5, 0.25, 0.8, 0.9])
    y = np.array([1.0, 0.0, 0.3, 1.0])
    expected = [
        math.log(2.0),
        -math.log(0.75),
        -(0.3 * math.log(0.8) + 0.7 * math.log(0.2)),
        -math.log(0.9),
    ]
    np.testing.assert_allclose(BCE(p, y, reduction="none"), expected, rtol=1e-14)
    g = BCE.grad(p, y, reduction="none")
    np.testing.assert_allclose(g, [-2.0, 1 / 0.75, 0.5 / 0.16, -1 / 0.9], rtol=1e-14)
    assert BCE(p, y) == pytest.approx(sum(expected) / 4, rel=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_at_exact_zero_and_one(dtype):
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype)
    y = np.array([0.0, 1.0, 1.0, 0.0], dtype)
    v, g = BCE.value_and_grad(p, y, reduction="none")
    np.testing.assert_array_equal(v, [0.0, 0.0, 100.0, 100.0])  # logs clamped at -100
    eps = dtype(EPS32)
    np.testing.assert_array_equal(g, np.array([0.0, 0.0, -1 / eps, 1 / eps], dtype))
    assert BCE(p, y, reduction="sum") == 200.0


def _probability_sweep(dtype, n):
    """n probabilities in [0, 1] stressing log and log1p(-p): 0, 1, subnormals,
    the smallest normals, tiny values, values next to 1 and 1/2, NaN, and a
    log-uniform and a uniform spread."""
    info = np.finfo(dtype)
    special = [
        0.0,
        1.0,
        info.smallest_subnormal,
        info.smallest_normal,
        info.tiny * 3,
        float(info.eps),
        float(info.epsneg),
        1 - float(info.epsneg),
        1 - float(info.eps),
        0.5,
        np.nextafter(dtype(0.5), dtype(1)),
        np.nextafter(dtype(0.5), dtype(0)),
        np.nextafter(dtype(1), dtype(0)),
        np.nan,
        1e-30,
        1 - 1e-7,
        2 / 3,
        4 / 3 - 1,
    ]
    rng = np.random.default_rng(7)
    logu = 10.0 ** rng.uniform(np.log10(float(info.smallest_subnormal)), 0, n // 2)
    p = np.concatenate(
        [np.array(special, dtype), logu.astype(dtype), rng.uniform(0, 1, n).astype(dtype)]
    )[:n]
    return np.clip(p, 0, 1).astype(dtype)


def _same_bits(a, b):
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and a[~nan].tobytes() == b[~nan].tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_binary_targets_take_one_log_with_the_same_bits(dtype):
    # A chunk of 256 elements whose targets are all 0 or 1 takes the log of
    # the one probability its target names (one log instead of two); one
    # target of 0.5 per chunk sends the rest down the general path. Both must
    # give the same bits everywhere else, value and gradient.
    n = 256 * 40
    p = _probability_sweep(dtype, n)
    y = (np.random.default_rng(3).random(n) < 0.5).astype(dtype)
    y[: n // 2][np.arange(n // 2) % 3 == 0] = 1.0  # the special values with y = 1 and 0
    general = y.copy()
    general[::256] = 0.5
    keep = np.arange(n) % 256 != 0
    for fn in (
        lambda t: BCE(p, t, reduction="none"),
        lambda t: BCE.value_and_grad(p, t, reduction="none")[0],
        lambda t: BCE.value_and_grad(p, t, reduction="none")[1],
    ):
        assert _same_bits(fn(y)[keep], fn(general)[keep])
    np.testing.assert_allclose(
        BCE(p, y, reduction="none"),
        R.binary_cross_entropy(p.astype(np.float64), y.astype(np.float64), reduction="none"),
        **tol(dtype),
    )


def test_bce_with_logits_hand_values():
    x = np.array([0.0, 0.0, 2.0, -1.0])
    y = np.array([1.0, 0.0, 1.0, 0.25])
    expected = [
        math.log(2.0),
        math.log(2.0),
        math.log1p(math.exp(-2.0)),
        0.25 * math.log1p(math.e) + 0.75 * math.log1p(math.exp(-1.0)),
    ]
    v, g = BCEL.value_and_grad(x, y, reduction="none")
    np.testing.assert_allclose(v, expected, rtol=1e-14)
    np.testing.assert_allclose(g, [sigmoid(t) - u for t, u in zip(x, y)], rtol=1e-14)
    g2, h = BCEL.grad_hess(x, y, reduction="none")
    np.testing.assert_allclose(g2, g, rtol=1e-15)
    np.testing.assert_allclose(h, [sigmoid(t) * (1 - sigmoid(t)) for t in x], rtol=1e-14)


def test_bce_with_logits_pos_weight_hand_values():
    x = np.array([-1.0, 0.0, 0.5])
    y = np.array([1.0, 0.0, 0.5])
    w = 3.0
    expected = [
        w * math.log1p(math.e),
        math.log(2.0),
        w * 0.5 * math.log1p(math.exp(-0.5)) + 0.5 * math.log1p(math.exp(0.5)),
    ]
    v, g = BCEL.value_and_grad(x, y, reduction="none", pos_weight=w)
    np.testing.assert_allclose(v, expected, rtol=1e-14)
    s = [sigmoid(t) for t in x]
    grad = [(1 - u) * si - w * u * (1 - si) for u, si in zip(y, s)]
    np.testing.assert_allclose(g, grad, rtol=1e-14)
    _, h = BCEL.grad_hess(x, y, reduction="none", pos_weight=w)
    np.testing.assert_allclose(
        h, [(w * u + 1 - u) * si * (1 - si) for u, si in zip(y, s)], rtol=1e-14
    )


def test_hinge_hand_values_and_kink():
    s = np.array([2.0, 0.5, -0.5, 1.0, -1.0, 0.0])
    y = np.array([1.0, 1.0, 1.0, 1.0, 0.0, -1.0])  # 0 is read as -1
    v, g = fl.hinge.value_and_grad(s, y, reduction="none")
    np.testing.assert_array_equal(v, [0.0, 0.5, 1.5, 0.0, 0.0, 1.0])
    # kink at y*s == margin (elements 3 and 4): subgradient -y, as torch clamp
    np.testing.assert_array_equal(g, [0.0, -1.0, -1.0, -1.0, 1.0, 1.0])
    v2 = fl.hinge(s, y, reduction="none", margin=0.25)
    np.testing.assert_array_equal(v2, [0.0, 0.0, 0.75, 0.0, 0.0, 0.25])
    assert fl.hinge(s, y, margin=0.0, reduction="sum") == 0.5  # perceptron: only -0.5 counts


def test_squared_hinge_hand_values():
    s = np.array([2.0, 0.5, -0.5, 1.0, 0.25])
    y = np.array([1.0, 1.0, 0.0, 1.0, -1.0])
    v, g = fl.squared_hinge.value_and_grad(s, y, reduction="none")
    np.testing.assert_array_equal(v, [0.0, 0.25, 0.25, 0.0, 1.5625])
    np.testing.assert_array_equal(g, [0.0, -1.0, 1.0, 0.0, 2.5])


def test_sigmoid_focal_hand_values():
    # x = 0: p = 1/2, ce = log 2, (1 - p_t)^gamma = 2^-gamma
    v = fl.sigmoid_focal([0.0, 0.0], [1.0, 0.0], reduction="none")
    np.testing.assert_allclose(
        v, [0.25 * 0.25 * math.log(2), 0.75 * 0.25 * math.log(2)], rtol=1e-14
    )
    x, a, gam = 1.5, 0.4, 3.0
    p = sigmoid(x)
    # y = 0: ce = softplus(x), 1 - p_t = p
    expected = (1 - a) * math.log1p(math.exp(x)) * p**gam
    assert fl.sigmoid_focal([x], [0.0], alpha=a, gamma=gam) == pytest.approx(expected, rel=1e-14)
    # d/dx: (1-a) [p p^g + g log1p(e^x) p^(g-1) p (1-p)]
    dg = (1 - a) * (p * p**gam + gam * math.log1p(math.exp(x)) * p**gam * (1 - p))
    assert fl.sigmoid_focal.grad([x], [0.0], alpha=a, gamma=gam)[0] == pytest.approx(dg, rel=1e-13)
    # alpha < 0 disables the weighting, gamma = 0 gives plain BCE with logits
    xs, ys = np.array([-2.0, 0.3, 4.0]), np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(
        fl.sigmoid_focal(xs, ys, alpha=-1, gamma=0.0, reduction="none"),
        BCEL(xs, ys, reduction="none"),
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        fl.sigmoid_focal.grad(xs, ys, alpha=-0.5, gamma=0.0, reduction="none"),
        BCEL.grad(xs, ys, reduction="none"),
        rtol=1e-15,
    )


# --------------------------------------------------------------------------
# pos_weight forms


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "pw_shape",
    [(), (1,), (25,), (1, 25), (40, 25), (3, 1, 1), (3, 1, 25), (3, 40, 1), (40, 1), (1, 1, 1)],
)
def test_pos_weight_broadcasts_as_the_materialized_array(pw_shape, dtype, rng):
    # Broadcasts that repeat one block of values (a scalar, trailing axes,
    # leading axes) reach the kernel as a pattern, the others (here (3, 1,
    # 25)) materialized: every form gives the bits of the full array, across
    # chunks of 256 elements (3000 here) and on 2 threads.
    x = (rng.normal(size=(3, 40, 25)) * 3).astype(dtype)
    y = (rng.random(x.shape) < 0.5).astype(dtype)
    pw = rng.uniform(0.1, 3.0, size=pw_shape)
    full = np.ascontiguousarray(np.broadcast_to(pw, x.shape))
    for threads in (1, 2):
        fl.set_num_threads(threads)
        a = BCEL.value_and_grad(x, y, reduction="none", pos_weight=pw)
        b = BCEL.value_and_grad(x, y, reduction="none", pos_weight=full)
        assert a[0].tobytes() == b[0].tobytes() and a[1].tobytes() == b[1].tobytes()
        assert BCEL(x, y, pos_weight=pw) == BCEL(x, y, pos_weight=full)


def test_pos_weight_scalar_array_and_broadcast_agree(rng):
    x = rng.normal(size=(7, 3)) * 3
    y = rng.integers(0, 2, size=(7, 3)).astype(float)
    col = np.array([0.5, 2.0, 3.0])
    full = np.broadcast_to(col, x.shape).copy()
    a = BCEL.value_and_grad(x, y, reduction="none", pos_weight=col)
    b = BCEL.value_and_grad(x, y, reduction="none", pos_weight=full)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    s1 = BCEL.value_and_grad(x, y, pos_weight=2.0)
    s2 = BCEL.value_and_grad(x, y, pos_weight=np.full(x.shape, 2.0))
    s3 = BCEL.value_and_grad(x, y, pos_weight=np.float32(2.0))
    s4 = BCEL.value_and_grad(x, y, pos_weight=np.array(2.0))
    for s in (s2, s3, s4):
        assert s[0] == s1[0]
        np.testing.assert_array_equal(s[1], s1[1])
    n1 = BCEL.value_and_grad(x, y, pos_weight=None)
    n2 = BCEL.value_and_grad(x, y, pos_weight=1)
    assert n1[0] == n2[0]
    np.testing.assert_array_equal(n1[1], n2[1])
    # a (N, 1) pos_weight broadcasts along the columns too
    rowcol = np.array([[1.5]] * 7)
    np.testing.assert_array_equal(
        BCEL(x, y, reduction="none", pos_weight=rowcol),
        BCEL(x, y, reduction="none", pos_weight=1.5),
    )


# --------------------------------------------------------------------------
# PyTorch cross-checks (value and autograd gradient)


def _torch_check(fl_loss, torch_fn, pred, target, dtype, reduction, w=None, **params):
    """Compare value and gradient against torch_fn(pred_t, target_t, weight_t, reduction).

    PyTorch runs in float64 on the same (possibly float32) inputs: its own
    float32 forms are less accurate than ours in places (e.g. BCE with
    logits as (1 - y) x - logsigmoid(x) cancels for large x), so float32 is
    held to float32 rounding of the exact result.
    """
    torch = pytest.importorskip("torch")
    f64 = np.float64
    pt = torch.tensor(pred.astype(f64), requires_grad=True)
    tt = torch.tensor(target.astype(f64))
    wt = None if w is None else torch.tensor(w.astype(f64))
    if w is not None and reduction == "mean":
        # fastloss's weighted mean divides by sum(w); torch's by the count
        out = torch_fn(pt, tt, wt, "sum") / wt.sum()
    else:
        out = torch_fn(pt, tt, wt, reduction)
    (out.sum() if reduction == "none" else out).backward()
    v, g = fl_loss.value_and_grad(pred, target, reduction=reduction, sample_weight=w, **params)
    t = tol(dtype)
    if reduction == "none":
        assert v.dtype == dtype
        np.testing.assert_allclose(v, out.detach().numpy(), **t)
    else:
        assert isinstance(v, float)
        assert v == pytest.approx(out.item(), rel=t["rtol"] * 10, abs=t["atol"])
    assert g.dtype == dtype
    np.testing.assert_allclose(g, pt.grad.numpy(), **t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_matches_torch(dtype, reduction, weighted, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p = rng.uniform(0.0, 1.0, size=(40, 3)).astype(dtype)
    p.flat[:4] = [0.0, 1.0, 0.0, 1.0]  # exact ends: clamped logs, eps-floored gradient
    y = rng.integers(0, 2, size=(40, 3)).astype(dtype)
    y.flat[:4] = [0.0, 1.0, 1.0, 0.0]
    y[-1] = rng.uniform(0, 1, size=3).astype(dtype)  # soft targets too
    w = rng.uniform(0.1, 2.0, size=(40, 3)).astype(dtype) if weighted else None

    def fn(pt, tt, wt, red):
        return F.binary_cross_entropy(pt, tt, weight=wt, reduction=red)

    _torch_check(BCE, fn, p, y, dtype, reduction, w)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pw", ["none", "scalar", "column", "full"])
def test_bce_with_logits_matches_torch(dtype, reduction, weighted, pw, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = (rng.normal(size=(30, 4)) * 4).astype(dtype)
    x.flat[:4] = [1e4, -1e4, 1e4, -1e4]  # torch is still finite at +-1e4
    y = rng.integers(0, 2, size=(30, 4)).astype(dtype)
    y.flat[:4] = [1.0, 0.0, 0.0, 1.0]
    y[-1] = rng.uniform(0, 1, size=4).astype(dtype)
    w = rng.uniform(0.1, 2.0, size=(30, 4)).astype(dtype) if weighted else None
    pos = {
        "none": None,
        "scalar": 2.5,
        "column": rng.uniform(0.2, 4.0, size=4),
        "full": rng.uniform(0.2, 4.0, size=(30, 4)),
    }[pw]

    def fn(pt, tt, wt, red):
        # pos_weight in pred's dtype, as fastloss converts it
        pwt = None if pos is None else torch.as_tensor(np.asarray(pos, dtype).astype(np.float64))
        return F.binary_cross_entropy_with_logits(pt, tt, weight=wt, reduction=red, pos_weight=pwt)

    _torch_check(BCEL, fn, x, y, dtype, reduction, w, pos_weight=pos)


@pytest.mark.parametrize("pw", [None, 3.0])
def test_bce_with_logits_hessian_matches_torch(pw, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.normal(size=50) * 3
    y = rng.uniform(0, 1, size=50)
    xt = torch.tensor(x, requires_grad=True)
    pwt = None if pw is None else torch.tensor(pw, dtype=torch.float64)
    loss = F.binary_cross_entropy_with_logits(xt, torch.tensor(y), pos_weight=pwt, reduction="sum")
    (g,) = torch.autograd.grad(loss, xt, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), xt)  # element-wise: the Hessian is diagonal
    fg, fh = BCEL.grad_hess(x, y, reduction="none", pos_weight=pw)
    np.testing.assert_allclose(fg, g.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fh, h.numpy(), rtol=1e-12, atol=1e-15)
    # scaled like grad under mean and with sample weights
    sw = rng.uniform(0.5, 2.0, size=50)
    mg, mh = BCEL.grad_hess(x, y, reduction="mean", sample_weight=sw, pos_weight=pw)
    np.testing.assert_allclose(mh, fh * sw / sw.sum(), rtol=1e-13)
    np.testing.assert_allclose(mg, fg * sw / sw.sum(), rtol=1e-13)


def test_torch_mean_with_weight_divides_by_count(rng):
    """The documented difference: torch's weighted mean is sum(w l) / n."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.normal(size=20)
    y = rng.integers(0, 2, size=20).astype(float)
    w = rng.uniform(0.1, 3.0, size=20)
    t = F.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(y), weight=torch.tensor(w)
    ).item()
    assert BCEL(x, y, sample_weight=w, reduction="sum") / 20 == pytest.approx(t, rel=1e-13)
    assert BCEL(x, y, sample_weight=w) == pytest.approx(t * 20 / w.sum(), rel=1e-13)


def _torch_hinge(squared, margin):
    torch = pytest.importorskip("torch")

    def fn(st, tt, wt, red):
        ypm = torch.where(tt > 0, 1.0, -1.0).to(st.dtype)
        l = torch.clamp(margin - ypm * st, min=0)
        if squared:
            l = l**2
        if wt is not None:
            l = l * wt
        return {"none": l, "sum": l.sum(), "mean": l.mean()}[red]

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("labels", ["pm1", "01"])
def test_hinge_matches_torch_autograd(dtype, reduction, weighted, name, labels, rng):
    margin = 0.75
    s = (rng.normal(size=(25, 2)) * 2).astype(dtype)
    y01 = rng.integers(0, 2, size=(25, 2))
    ypm = np.where(y01 == 1, 1.0, -1.0)
    s.flat[:2] = margin * ypm.flat[:2]  # exactly at the kink
    y = (y01 if labels == "01" else ypm).astype(dtype)
    w = rng.uniform(0.1, 2.0, size=(25, 2)).astype(dtype) if weighted else None
    _torch_check(
        fl.get(name),
        _torch_hinge(name == "squared_hinge", margin),
        s,
        y,
        dtype,
        reduction,
        w,
        margin=margin,
    )


@pytest.mark.parametrize("labels", [(-1, 1), (0, 1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_hinge_mean_matches_sklearn(labels, weighted, rng):
    metrics = pytest.importorskip("sklearn.metrics")
    s = rng.normal(size=200) * 1.5
    y = np.asarray(labels)[rng.integers(0, 2, size=200)]
    w = rng.uniform(0.1, 3.0, size=200) if weighted else None
    expected = metrics.hinge_loss(y, s, sample_weight=w)
    assert fl.hinge(s, y, sample_weight=w) == pytest.approx(expected, rel=1e-13)


def _torchvision_sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, transcribed (torchvision is not installed)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    if reduction == "mean":
        loss = loss.mean()
    elif reduction == "sum":
        loss = loss.sum()
    return loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "alpha,gamma",
    [(0.25, 2.0), (-1.0, 2.0), (0.6, 0.0), (0.25, 0.5), (0.9, 3.7), (0.0, 1.0), (1.0, 2.0)],
)
def test_sigmoid_focal_matches_torchvision(dtype, reduction, weighted, alpha, gamma, rng):
    x = (rng.normal(size=(30, 3)) * 3).astype(dtype)
    x.flat[:4] = [30.0, -30.0, 30.0, -30.0]
    y = rng.integers(0, 2, size=(30, 3)).astype(dtype)
    y.flat[:4] = [1.0, 0.0, 0.0, 1.0]
    y[-1] = rng.uniform(0, 1, size=3).astype(dtype)  # soft targets follow the same formula
    w = rng.uniform(0.1, 2.0, size=(30, 3)).astype(dtype) if weighted else None

    def fn(xt, tt, wt, red):
        l = _torchvision_sigmoid_focal_loss(xt, tt, alpha, gamma, "none")
        if wt is not None:
            l = l * wt
        return {"none": l, "sum": l.sum(), "mean": l.mean()}[red]

    _torch_check(fl.sigmoid_focal, fn, x, y, dtype, reduction, w, alpha=alpha, gamma=gamma)


# --------------------------------------------------------------------------
# extreme logits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pw", [None, 2.0])
def test_bce_with_logits_infinite_and_huge_logits(dtype, pw):
    inf = np.inf
    x = np.array([1e4, -1e4, inf, -inf, inf, -inf, 1e4, -1e4, inf, -inf], dtype)
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.5], dtype)
    w = 1.0 if pw is None else pw
    v, g = BCEL.value_and_grad(x, y, reduction="none", pos_weight=pw)
    np.testing.assert_array_equal(v, [0, 0, 0, 0, inf, inf, 1e4, w * 1e4, inf, inf])
    np.testing.assert_array_equal(g, [0, 0, 0, 0, 1, -w, 1, -w, 0.5, -0.5 * w])
    gh, h = BCEL.grad_hess(x, y, reduction="none", pos_weight=pw)
    np.testing.assert_array_equal(gh, g)
    np.testing.assert_array_equal(h, np.zeros(10))
    assert BCEL(x[:4], y[:4], pos_weight=pw) == 0.0
    assert BCEL(x, y, pos_weight=pw) == inf


def test_bce_with_logits_where_torch_gives_nan():
    torch = pytest.importorskip("torch")
    x = np.array([np.inf, -np.inf])
    y = np.array([1.0, 0.0])
    t = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(y), reduction="none"
    )
    assert torch.isnan(t).any()  # pytorch/pytorch#49844; if this changes, revisit the docs
    np.testing.assert_array_equal(BCEL(x, y, reduction="none"), [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.3])
def test_sigmoid_focal_infinite_and_huge_logits(dtype, gamma):
    inf = np.inf
    x = np.array([1e4, -1e4, inf, -inf, inf, -inf, 1e4, -1e4, inf], dtype)
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.5], dtype)
    v, g = fl.sigmoid_focal.value_and_grad(x, y, reduction="none", alpha=-1, gamma=gamma)
    # agreeing labels cost 0; disagreeing ones cost |x| (1 - p_t = 1)
    np.testing.assert_array_equal(v, [0, 0, 0, 0, inf, inf, 1e4, 1e4, inf])
    # where 1 - p_t -> 1 the gradient tends to that of BCE (+-1); soft y at
    # +inf: (1 - y) (1 - y)^gamma
    np.testing.assert_allclose(g, [0, 0, 0, 0, 1, -1, 1, -1, 0.5 * 0.5**gamma], rtol=1e-6)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_against_reference_float32_and_64(dtype, rng):
    # large but finite: the reference's textbook forms are accurate here
    x = np.concatenate([rng.uniform(-80, 80, 200), [-60.0, 60.0]]).astype(dtype)
    y = rng.integers(0, 2, size=x.size).astype(dtype)
    for name, params in [
        ("binary_cross_entropy_with_logits", {"pos_weight": 1.7}),
        ("sigmoid_focal", {"gamma": 2.0}),
    ]:
        v, g = fl.get(name).value_and_grad(x, y, reduction="none", **params)
        rv, rg = R.get(name).value_and_grad(x, y, reduction="none", **params)
        rt = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(v, rv, rtol=rt, atol=1e-30)
        np.testing.assert_allclose(g, rg, rtol=rt, atol=1e-30)


# --------------------------------------------------------------------------
# NaN


@pytest.mark.parametrize(
    "name,pred,target",
    [
        ("binary_cross_entropy", [0.3, np.nan, 0.6], [1.0, 1.0, 0.0]),
        ("binary_cross_entropy_with_logits", [0.3, np.nan, 0.6], [1.0, 0.0, 0.0]),
        ("hinge", [0.3, np.nan, 0.6], [1.0, -1.0, 0.0]),
        ("squared_hinge", [0.3, np.nan, 0.6], [1.0, 1.0, 0.0]),
        ("sigmoid_focal", [0.3, np.nan, 0.6], [1.0, 0.0, 0.0]),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_in_pred_propagates(name, pred, target, dtype):
    loss = fl.get(name)
    p, t = np.array(pred, dtype), np.array(target, dtype)
    v, g = loss.value_and_grad(p, t, reduction="none")
    assert np.isnan(v[1]) and np.isnan(g[1])
    assert np.all(np.isfinite(v[[0, 2]])) and np.all(np.isfinite(g[[0, 2]]))
    assert math.isnan(loss(p, t)) and math.isnan(loss(p, t, reduction="sum"))
    if loss.has_hess:
        gh, h = loss.grad_hess(p, t, reduction="none")
        assert np.isnan(gh[1]) and np.isnan(h[1])


@pytest.mark.parametrize("name", FIVE)
def test_nan_in_target_propagates(name):
    loss = fl.get(name)
    v, g = loss.value_and_grad([0.4, 0.4], [np.nan, 1.0], reduction="none")
    assert np.isnan(v[0]) and np.isnan(g[0]) and np.isfinite(v[1]) and np.isfinite(g[1])


def test_nan_pos_weight_is_refused():
    with pytest.raises(ValueError, match="pos_weight"):
        BCEL([0.0, 1.0], [1.0, 0.0], pos_weight=np.array([1.0, np.nan]))


# --------------------------------------------------------------------------
# bad arguments


@pytest.mark.parametrize("bad", [-0.1, 1.1, -np.inf, np.inf])
def test_bce_probability_out_of_range(bad):
    with pytest.raises(ValueError, match=r"prob: .*\[0, 1\]"):
        BCE([0.5, bad], [1.0, 0.0])
    with pytest.raises(ValueError, match="prob"):
        BCE.grad(np.array([[0.5], [bad]], np.float32), [[1.0], [0.0]])


def test_bce_target_out_of_range():
    with pytest.raises(ValueError, match=r"target: .*\[0, 1\]"):
        BCE([0.5, 0.5], [1.0, 1.5])


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize("bad", [2.0, 0.5, -3.0, np.inf])
def test_hinge_target_outside_minus_one_zero_one(name, bad):
    with pytest.raises(ValueError, match="target"):
        fl.get(name)([0.5, 0.5], [1.0, bad])


@pytest.mark.parametrize("name", ["hinge", "squared_hinge"])
@pytest.mark.parametrize(
    "margin,exc",
    [
        (-0.5, ValueError),
        (np.inf, ValueError),
        (np.nan, ValueError),
        ("1", TypeError),
        (None, TypeError),
    ],
)
def test_hinge_bad_margin(name, margin, exc):
    with pytest.raises(exc, match="margin"):
        fl.get(name)([0.5], [1.0], margin=margin)


@pytest.mark.parametrize(
    "pw,exc",
    [
        (np.ones(4), ValueError),  # (4,) does not broadcast to (2, 3)
        (np.ones((3, 3)), ValueError),  # would enlarge the shape
        (-1.0, ValueError),
        (np.array([1.0, -2.0, 1.0]), ValueError),
        (np.inf, ValueError),
        ("2", TypeError),
        (True, TypeError),
    ],
)
def test_bad_pos_weight(pw, exc):
    x = np.zeros((2, 3))
    with pytest.raises(exc, match="pos_weight"):
        BCEL(x, x, pos_weight=pw)


@pytest.mark.parametrize(
    "params,exc",
    [
        ({"gamma": -0.5}, ValueError),
        ({"gamma": np.inf}, ValueError),
        ({"gamma": np.nan}, ValueError),
        ({"alpha": 1.5}, ValueError),
        ({"alpha": np.nan}, ValueError),
        ({"alpha": None}, TypeError),
        ({"gamma": None}, TypeError),
        ({"gamma": "2"}, TypeError),
    ],
)
def test_sigmoid_focal_bad_params(params, exc):
    name = next(iter(params))
    with pytest.raises(exc, match=name):
        fl.sigmoid_focal([0.0], [1.0], **params)


@pytest.mark.parametrize("name", FIVE)
def test_mismatched_shapes_and_unknown_params(name):
    loss = fl.get(name)
    with pytest.raises(ValueError, match="same shape"):
        loss([0.5, 0.5, 0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="same shape"):
        loss.grad(np.full((2, 3), 0.5), np.ones((3, 2)))
    with pytest.raises(TypeError, match="weight"):
        loss([0.5], [1.0], weight=[1.0])  # fastloss spells it sample_weight
    with pytest.raises(ValueError, match="reduction"):
        loss([0.5], [1.0], reduction="avg")


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
def test_sigmoid_focal_hessian_finite_at_extreme_logits(gamma):
    # the Hessian is taken in a form with no negative power of 1 - p_t, so it
    # stays finite where that factor underflows or the logit is infinite
    x = np.array([np.inf, -np.inf, 1e4, -1e4, 40.0, -40.0, 0.0] * 2)
    y = np.repeat([0.0, 1.0], 7)
    g, h = fl.sigmoid_focal.grad_hess(x, y, reduction="none", gamma=gamma)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    # at 0 (p = 1/2) the Hessian is the reference's
    _, rh = fl.reference.sigmoid_focal.grad_hess(x[6:7], y[6:7], reduction="none", gamma=gamma)
    np.testing.assert_allclose(h[6], rh[0], rtol=1e-12)


def test_metadata_and_signatures():
    import inspect

    assert BCEL.has_hess and BCEL.hess_exact
    assert list(inspect.signature(BCE).parameters)[:2] == ["prob", "target"]
    assert list(inspect.signature(BCEL).parameters)[-1] == "pos_weight"
    assert fl.sigmoid_focal.params == {"alpha": 0.25, "gamma": 2.0}
    assert fl.hinge.params == {"margin": 1.0} == fl.squared_hinge.params
    for name in FIVE:
        assert name in fl.available()
        assert fl.get(name).family == "classification"


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_domain_errors_name_the_first_bad_element_on_any_thread_count(threads, dtype):
    """The kernels check domains in their own pass; the lowest bad index is reported
    whatever the schedule, on arrays big enough to run on several threads."""
    n = 1 << 20
    s = np.zeros(n, dtype)
    y = np.ones(n, dtype)
    y[n - 5] = 0.5
    y[700_001] = 2.0
    p = np.full(n, 0.5, dtype)
    p[900_000] = 1.5
    y_lab = y.copy()
    y_lab[700_001] = 1.0
    z = np.zeros((2, 4), dtype)
    cases = [  # (call, the error's words)
        (lambda: fl.hinge.value_and_grad(s, y), r"got 2.0 at index 700001"),
        (
            lambda: fl.binary_cross_entropy(p, y),
            r"target: targets must lie in \[0, 1\], got 2.0 at index 700001",
        ),
        (lambda: fl.squared_hinge.grad(s, y_lab), r"hinge labels .* at index 1048571"),
        (
            lambda: fl.binary_cross_entropy.grad(p, np.clip(y_lab, 0, 1)),
            r"prob: probabilities must lie in \[0, 1\], got 1.5 at index 900000",
        ),
        (lambda: fl.hinge(z, np.array([[1, -1, 0, 1], [1, 1, 1, 7]], dtype)), r"at index \(1, 3\)"),
    ]
    fl.set_num_threads(threads)
    try:
        for call, words in cases:
            with pytest.raises(ValueError, match=words):
                call()
    finally:
        fl.set_num_threads(None)


@pytest.mark.parametrize("size", [3, 16, 17, 1000])  # checked in Python up to 16 values
@pytest.mark.parametrize("bad", [-1.0, np.inf, np.nan])
def test_bad_pos_weight_entry_is_named_at_every_size(size, bad):
    x = np.zeros((2, size))
    pw = np.ones(size)
    pw[size // 2] = bad
    with pytest.raises(
        ValueError,
        match=rf"pos_weight must be finite and >= 0, got .* index "
        rf"{size // 2}",
    ):
        BCEL(x, x, pos_weight=pw)
    pw[size // 2] = 0.0  # zero is allowed
    assert np.isfinite(BCEL(x, x, pos_weight=pw))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_sigmoid_focal_hessian_matches_finite_differences(gamma, alpha):
    # the kernel's Hessian against central differences of the kernel's own
    # gradient, float64, soft targets included
    rng = np.random.default_rng(21)
    x = rng.normal(0, 3, 40)
    y = np.concatenate([rng.integers(0, 2, 30).astype(np.float64), rng.uniform(0, 1, 10)])
    g, h = fl.sigmoid_focal.grad_hess(x, y, reduction="none", alpha=alpha, gamma=gamma)
    np.testing.assert_array_equal(
        g, fl.sigmoid_focal.grad(x, y, reduction="none", alpha=alpha, gamma=gamma)
    )
    step = 1e-6 * np.maximum(1.0, np.abs(x))
    gp = fl.sigmoid_focal.grad(x + step, y, reduction="none", alpha=alpha, gamma=gamma)
    gm = fl.sigmoid_focal.grad(x - step, y, reduction="none", alpha=alpha, gamma=gamma)
    np.testing.assert_allclose(h, (gp - gm) / (2 * step), rtol=1e-5, atol=1e-8)


def test_soft_margin_and_hinge_embedding_hessians():
    x = np.array([-3.0, -0.5, 0.25, 2.0, 5.0])
    y = np.array([1.0, -1.0, 1.0, -1.0, 0.5])
    _, h = fl.soft_margin.grad_hess(x, y, reduction="none")
    step = 1e-6
    fd = (
        fl.soft_margin.grad(x + step, y, reduction="none")
        - fl.soft_margin.grad(x - step, y, reduction="none")
    ) / (2 * step)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-10)
    # finite where torch's log1p(exp(-y x)) overflows
    v = fl.soft_margin(
        np.array([-1e4, 1e4], np.float32), np.array([1.0, -1.0], np.float32), reduction="none"
    )
    np.testing.assert_allclose(v, [1e4, 1e4])
    _, h = fl.hinge_embedding.grad_hess(x, np.sign(y), reduction="none")
    assert np.all(h == 0)
