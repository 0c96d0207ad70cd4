"""fastloss.jax: every covered loss under jit and grad against its formula
written in plain JAX (its gradient from JAX's autodiff), in float32 and
float64, for each reduction, with and without sample weights; vmap; errors;
and a few SGD steps of small models giving pure JAX's loss curve."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

import fastloss as fl  # noqa: E402
import fastloss.jax as flj  # noqa: E402

# jax.enable_x64 (jax >= 0.7); jax.experimental.enable_x64 before it
_x64 = getattr(jax, "enable_x64", None)
if _x64 is None:  # pragma: no cover
    from jax.experimental import enable_x64 as _x64

DTYPES = ("float32", "float64")
# float32: the kernel and XLA round differently (the kernel accumulates
# reductions in float64, XLA in float32); float64: both near exact.
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


# -- the formulas, in plain JAX ------------------------------------------------
# Each returns the per-sample loss; the gradient is JAX's autodiff of it.


def _pm1(y):
    return jnp.where(y > 0, 1.0, -1.0)


def _huber(p, y, delta=1.0):
    a = jnp.abs(p - y)
    return jnp.where(a < delta, 0.5 * (p - y) ** 2, delta * (a - 0.5 * delta))


def _smooth_l1(p, y, beta=1.0):
    a = jnp.abs(p - y)
    return jnp.where(a < beta, 0.5 * (p - y) ** 2 / beta, a - 0.5 * beta)


def _tweedie(mu, y, power=1.5, link="identity"):
    if link == "log":
        mu = jnp.exp(mu)
    q = power
    return 2 * (
        y ** (2 - q) / ((1 - q) * (2 - q)) - y * mu ** (1 - q) / (1 - q) + mu ** (2 - q) / (2 - q)
    )


def _bce(p, y):
    lp = jnp.maximum(jnp.log(p), -100.0)
    lq = jnp.maximum(jnp.log(1 - p), -100.0)
    return -(y * lp + (1 - y) * lq)


def _bce_logits(x, y, pos_weight=None):
    w = 1.0 if pos_weight is None else jnp.asarray(pos_weight, x.dtype)
    return -(w * y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x))


def _sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    p = jax.nn.sigmoid(x)
    ce = _bce_logits(x, y)
    q = y * (1 - p) + (1 - y) * p
    a = alpha * y + (1 - alpha) * (1 - y)
    return a * ce * q**gamma


ELEMENTWISE = {
    "mse": lambda p, y: (p - y) ** 2,
    "mae": lambda p, y: jnp.abs(p - y),
    "huber": _huber,
    "smooth_l1": _smooth_l1,
    "log_cosh": lambda p, y: jnp.log(jnp.cosh(p - y)),
    "quantile": lambda p, y, quantile=0.5: jnp.maximum(
        quantile * (y - p), (quantile - 1) * (y - p)
    ),
    "mape": lambda p, y: jnp.abs(p - y) / jnp.maximum(jnp.abs(y), np.finfo(np.float64).eps),
    "msle": lambda p, y: (jnp.log1p(p) - jnp.log1p(y)) ** 2,
    "poisson_nll": lambda p, y: jnp.exp(p) - y * p,
    "pseudo_huber": lambda p, y, delta=1.0: delta**2 * (jnp.sqrt(1 + ((p - y) / delta) ** 2) - 1),
    "tweedie": _tweedie,
    "binary_cross_entropy": _bce,
    "binary_cross_entropy_with_logits": _bce_logits,
    "hinge": lambda s, y, margin=1.0: jnp.maximum(margin - _pm1(y) * s, 0.0),
    "squared_hinge": lambda s, y, margin=1.0: jnp.maximum(margin - _pm1(y) * s, 0.0) ** 2,
    "sigmoid_focal": _sigmoid_focal,
}


def _onehot(y, c, dt):
    return jax.nn.one_hot(y, c, dtype=dt)


def _cross_entropy(z, t, class_weight=None, ignore_index=-100, label_smoothing=0.0):
    """(per-sample loss, the mean's per-sample denominator)"""
    c = z.shape[-1]
    cw = jnp.ones(c, z.dtype) if class_weight is None else jnp.asarray(class_weight, z.dtype)
    eps = label_smoothing
    logp = jax.nn.log_softmax(z)
    if jnp.issubdtype(t.dtype, jnp.floating):
        q = cw * (t * (1 - eps) + eps / c)
        return -jnp.sum(q * logp, axis=-1), jnp.ones(z.shape[:-1], z.dtype)
    keep = t != ignore_index
    ys = jnp.where(keep, t, 0)
    q = (1 - eps) * cw[ys][..., None] * _onehot(ys, c, z.dtype) + (eps / c) * cw
    q = q * keep[..., None]
    return -jnp.sum(q * logp, axis=-1), cw[ys] * keep


def _softmax_focal(z, y, gamma=2.0, class_weight=None):
    c = z.shape[-1]
    cw = jnp.ones(c, z.dtype) if class_weight is None else jnp.asarray(class_weight, z.dtype)
    lpy = jnp.take_along_axis(jax.nn.log_softmax(z), y[..., None], axis=-1)[..., 0]
    return -cw[y] * (1 - jnp.exp(lpy)) ** gamma * lpy, cw[y]


def _multiclass_hinge(s, y, margin=1.0, variant="crammer_singer"):
    c = s.shape[-1]
    oh = _onehot(y, c, s.dtype)
    sy = jnp.sum(s * oh, axis=-1, keepdims=True)
    if variant == "weston_watkins":
        return jnp.sum(jnp.maximum(margin - sy + s, 0.0) * (1 - oh), axis=-1) / c, None
    others = jnp.where(oh > 0, -jnp.inf, s)
    return jnp.maximum(margin + jnp.max(others, axis=-1) - sy[..., 0], 0.0), None


def _kl_div(lp, t, log_target=False):
    if log_target:
        return jnp.sum(jnp.exp(t) * (t - lp), axis=-1), None
    return jnp.sum(t * (jnp.log(t) - lp), axis=-1), None


def _brier(p, t):
    if t.shape == p.shape:
        return (p - t) ** 2, None
    return jnp.sum((p - _onehot(t, p.shape[-1], p.dtype)) ** 2, axis=-1), None


def _categorical_hinge(s, t):
    return jnp.maximum(jnp.max((1 - t) * s, axis=-1) - jnp.sum(t * s, axis=-1) + 1, 0.0), None


ROWS = {
    "cross_entropy": _cross_entropy,
    "softmax_focal": _softmax_focal,
    "multiclass_hinge": _multiclass_hinge,
    "kl_div": _kl_div,
    "brier": _brier,
    "categorical_hinge": _categorical_hinge,
}


def _sums(p, t, axis):
    axes = tuple(range(1, p.ndim)) if axis is None else axis
    return jnp.sum(p * t, axes), jnp.sum(p, axes), jnp.sum(t, axes)


def _dice(p, t, smooth=1e-5, axis=None):
    i, sp, st = _sums(p, t, axis)
    return 1 - (2 * i + smooth) / (sp + st + smooth), None


def _iou_overlap(p, t, smooth=1e-5, axis=None):
    i, sp, st = _sums(p, t, axis)
    return 1 - (i + smooth) / (sp + st - i + smooth), None


def _tversky(p, t, alpha=0.5, beta=0.5, smooth=1e-5, axis=None):
    i, sp, st = _sums(p, t, axis)
    return 1 - (i + smooth) / (i + alpha * (sp - i) + beta * (st - i) + smooth), None


def _generalized_dice(p, t, smooth=1e-5):
    axes = tuple(range(2, p.ndim))
    i, sp, st = jnp.sum(p * t, axes), jnp.sum(p, axes), jnp.sum(t, axes)
    w = 1 / st**2  # the test's targets have no empty class
    return 1 - (2 * jnp.sum(w * i, 1) + smooth) / (jnp.sum(w * (sp + st), 1) + smooth), None


def _box_parts(p, t, eps):
    x1, y1, x2, y2 = (p[..., k] for k in range(4))
    a1, b1, a2, b2 = (t[..., k] for k in range(4))
    iw = jnp.minimum(x2, a2) - jnp.maximum(x1, a1)
    ih = jnp.minimum(y2, b2) - jnp.maximum(y1, b1)
    inter = jnp.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
    iou = inter / (union + eps)
    cw = jnp.maximum(x2, a2) - jnp.minimum(x1, a1)
    ch = jnp.maximum(y2, b2) - jnp.minimum(y1, b1)
    return iou, union, cw, ch


def _box_iou(p, t, eps=1e-7):
    return 1 - _box_parts(p, t, eps)[0], None


def _giou(p, t, eps=1e-7):
    iou, union, cw, ch = _box_parts(p, t, eps)
    return 1 - (iou - (cw * ch - union) / (cw * ch + eps)), None


def _diou_parts(p, t, eps):
    iou, _, cw, ch = _box_parts(p, t, eps)
    dx = (p[..., 0] + p[..., 2] - t[..., 0] - t[..., 2]) / 2
    dy = (p[..., 1] + p[..., 3] - t[..., 1] - t[..., 3]) / 2
    return 1 - iou + (dx**2 + dy**2) / (cw**2 + ch**2 + eps), iou


def _diou(p, t, eps=1e-7):
    return _diou_parts(p, t, eps)[0], None


def _ciou(p, t, eps=1e-7):
    d, iou = _diou_parts(p, t, 1e-7)
    w, h = p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    wt, ht = t[..., 2] - t[..., 0], t[..., 3] - t[..., 1]
    v = 4 / math.pi**2 * (jnp.arctan(wt / ht) - jnp.arctan(w / h)) ** 2
    # torchvision's (and fastloss's) alpha is a constant of the gradient
    alpha = jax.lax.stop_gradient(v / (1 - iou + v + eps))
    return d + alpha * v, None


SAMPLES = {
    "dice": _dice,
    "iou": _iou_overlap,
    "tversky": _tversky,
    "generalized_dice": _generalized_dice,
    "box_iou_loss": _box_iou,
    "giou_loss": _giou,
    "diou_loss": _diou,
    "ciou_loss": _ciou,
}


# -- inputs in each loss's domain, and the cases ------------------------------


def _inputs(name, rng):
    n = rng.normal
    if name in ("msle",):
        return rng.uniform(0, 3, (7, 5)), rng.uniform(0, 3, (7, 5))
    if name == "poisson_nll":
        return n(size=(7, 5)), rng.poisson(2.0, (7, 5)).astype(float)
    if name == "tweedie":
        return rng.uniform(0.5, 3, (7, 5)), rng.uniform(0.1, 3, (7, 5))
    if name == "binary_cross_entropy":
        return rng.uniform(0.05, 0.95, (7, 5)), rng.uniform(0, 1, (7, 5))
    if name == "mape":
        return n(size=(7, 5)), rng.uniform(0.5, 2, (7, 5)) * rng.choice([-1, 1], (7, 5))
    if name in ("hinge", "squared_hinge", "sigmoid_focal", "binary_cross_entropy_with_logits"):
        return 2 * n(size=(7, 5)), rng.integers(0, 2, (7, 5)).astype(float)
    if name in ELEMENTWISE:
        return 2 * n(size=(7, 5)), 2 * n(size=(7, 5))
    if name in ("cross_entropy", "softmax_focal", "multiclass_hinge"):
        return 2 * n(size=(6, 2, 4)), rng.integers(0, 4, (6, 2))
    if name == "kl_div":
        z, t = n(size=(6, 4)), n(size=(6, 4))
        return np.asarray(jax.nn.log_softmax(z)), np.asarray(jax.nn.softmax(t))
    if name == "brier":
        return np.asarray(jax.nn.softmax(n(size=(6, 4)))), rng.integers(0, 4, 6)
    if name == "categorical_hinge":
        return n(size=(6, 4)), np.eye(4)[rng.integers(0, 4, 6)]
    if name in ("dice", "iou", "tversky", "generalized_dice"):
        t = (rng.uniform(size=(3, 2, 10)) < 0.5).astype(float)
        t[..., 0] = 1.0  # no empty class (generalized Dice's weights 1/T^2)
        return rng.uniform(0.05, 0.95, (3, 2, 10)), t
    # boxes: overlapping, no ties
    lo = rng.uniform(0, 1, (8, 2))
    p = np.concatenate([lo, lo + rng.uniform(1, 2, (8, 2))], 1)
    return p, p + rng.uniform(-0.4, 0.4, (8, 4))


# (name, params): defaults, and where a parameter changes the code path
CASES = [(n, {}) for n in flj.covered() if n in ELEMENTWISE or n in ROWS or n in SAMPLES] + [
    ("huber", {"delta": 0.5}),
    ("quantile", {"quantile": 0.9}),
    ("tweedie", {"power": 1.5, "link": "log"}),
    ("binary_cross_entropy_with_logits", {"pos_weight": 2.0}),
    ("binary_cross_entropy_with_logits", {"pos_weight": np.array([1.0, 2.0, 3.0, 0.5, 1.5])}),
    ("sigmoid_focal", {"alpha": 0.5, "gamma": 1.5}),
    ("hinge", {"margin": 0.5}),
    (
        "cross_entropy",
        {"class_weight": np.array([1.0, 2.0, 0.5, 1.5]), "label_smoothing": 0.1, "ignore_index": 2},
    ),
    ("cross_entropy", {"probabilities": True, "label_smoothing": 0.2}),
    ("softmax_focal", {"gamma": 1.0, "class_weight": np.array([1.0, 2.0, 0.5, 1.5])}),
    ("multiclass_hinge", {"variant": "weston_watkins", "margin": 0.5}),
    ("kl_div", {"log_target": True}),
    ("brier", {"binary": True}),
    ("dice", {"axis": (0, 2)}),
    ("tversky", {"alpha": 0.3, "beta": 0.7}),
]


def _formula(name, params):
    """(per-sample loss fn, has a special mean denominator) for the case."""
    if name in ELEMENTWISE:
        f = ELEMENTWISE[name]
        return lambda p, t: (f(p, t, **params), None)
    if name in ROWS:
        return lambda p, t: ROWS[name](p, t, **params)
    return lambda p, t: SAMPLES[name](p, t, **params)


def _case_inputs(name, params, rng):
    params = dict(params)
    pred, target = _inputs(name, rng)
    if params.pop("probabilities", False):
        target = np.asarray(jax.nn.softmax(rng.normal(size=pred.shape)))
    if params.pop("binary", False):
        pred, target = rng.uniform(0, 1, (7, 5)), rng.integers(0, 2, (7, 5)).astype(float)
    if name == "kl_div" and params.get("log_target"):
        target = np.log(target)
    return pred, target, params


def _reduce(l, norm, w, reduction):
    w = jnp.ones_like(l) if w is None else w
    if reduction == "none":
        return w * l
    total = jnp.sum(w * l)
    if reduction == "sum":
        return total
    return total / jnp.sum(w * (1.0 if norm is None else norm))


def _case_id(c):
    name, params = c
    return name + ("" if not params else "-" + "-".join(sorted(params)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_jit_and_grad_match_the_jax_formula(case, dtype):
    name, params = case
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    pred, target, params = _case_inputs(name, params, rng)
    fn = getattr(flj, name)
    formula = _formula(name, params)
    tol = TOL[dtype]
    with _x64(dtype == "float64"):
        p = jnp.asarray(pred, dtype)
        t = (
            jnp.asarray(target, dtype)
            if np.asarray(target).dtype.kind == "f"
            else jnp.asarray(target)
        )
        shape = formula(p, t)[0].shape
        w = jnp.asarray(rng.uniform(0.5, 2.0, shape), dtype)
        ct_none = jnp.asarray(rng.normal(size=shape), dtype)
        combos = [(wt, red) for wt in (False, True) for red in ("none", "sum", "mean")]

        def every(p, w, ct_none):
            # value and vector-Jacobian product, ours and the formula's, for
            # every combination, in one compiled function (one compile per case)
            out = {}
            for wt, red in combos:
                ww = w if wt else None
                ct = ct_none if red == "none" else jnp.asarray(1.7, dtype)

                def ours(p, ww=ww, red=red):
                    return fn(p, t, reduction=red, sample_weight=ww, **params)

                def theirs(p, ww=ww, red=red):
                    return _reduce(*formula(p, t), ww, red)

                (v, f), (tv, tf) = jax.vjp(ours, p), jax.vjp(theirs, p)
                out[f"{red}, {'weighted' if wt else 'unweighted'}"] = (
                    v,
                    f(ct)[0],
                    tv,
                    tf(ct)[0],
                )
            return out

        for what, (v, g, tv, tg) in jax.jit(every)(p, w, ct_none).items():
            assert v.dtype == p.dtype and g.dtype == p.dtype
            assert v.shape == (shape if what.startswith("none") else ())
            assert g.shape == p.shape
            np.testing.assert_allclose(v, tv, **tol, err_msg=f"value, {what}")
            np.testing.assert_allclose(g, tg, **tol, err_msg=f"grad, {what}")


def test_every_catalogue_loss_is_covered():
    assert flj.covered() == list(fl.available())


def test_same_signature_as_the_core():
    import inspect

    for name in flj.covered():
        assert inspect.signature(getattr(flj, name)) == inspect.signature(fl.get(name))


def test_results_equal_the_core_bitwise():
    # the same kernels: the same bits as fastloss on NumPy arrays
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 7)).astype(np.float32)
    y = rng.integers(0, 7, 50)
    v, g = jax.jit(jax.value_and_grad(flj.cross_entropy))(jnp.asarray(z), jnp.asarray(y))
    cv, cg = fl.cross_entropy.value_and_grad(z, y)
    assert float(v) == np.float32(cv)
    np.testing.assert_array_equal(np.asarray(g), cg)


def test_int32_and_int64_labels():
    rng = np.random.default_rng(1)
    z = jnp.asarray(rng.normal(size=(9, 3)), jnp.float32)
    y = rng.integers(0, 3, 9)
    a = flj.cross_entropy(z, jnp.asarray(y, jnp.int32))
    with _x64(True):
        b = flj.cross_entropy(z, jnp.asarray(y, jnp.int64))
    assert float(a) == float(b)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["huber", "cross_entropy", "dice", "giou_loss"])
def test_vmap_equals_a_loop(name, reduction):
    rng = np.random.default_rng(2)
    pred, target = _inputs(name, rng)
    t = jnp.asarray(target, jnp.float32) if np.asarray(target).dtype.kind == "f" else target
    batch = jnp.asarray(np.stack([pred, 0.9 * pred, 1.1 * pred]), jnp.float32)
    fn = getattr(flj, name)

    def one(p):
        return fn(p, t, reduction=reduction)

    got = jax.jit(jax.vmap(one))(batch)
    want = jnp.stack([one(b) for b in batch])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    gg = jax.vmap(jax.grad(lambda p: jnp.sum(one(p))))(batch)
    gw = jnp.stack([jax.grad(lambda p: jnp.sum(one(p)))(b) for b in batch])
    np.testing.assert_allclose(gg, gw, rtol=1e-6, atol=1e-7)


def _target_grad_cases(rng):
    """(name, pred, target, params, the pure-JAX per-sample formula or None)"""
    x = rng.normal(size=(6, 4))
    pr = rng.uniform(0.05, 0.95, (6, 4))
    t = rng.uniform(0.05, 1, (6, 4))
    tp = t / t.sum(-1, keepdims=True)
    return [
        ("poisson_nll", x, t, {}, ELEMENTWISE["poisson_nll"]),
        ("binary_cross_entropy", pr, t, {}, ELEMENTWISE["binary_cross_entropy"]),
        (
            "binary_cross_entropy_with_logits",
            x,
            t,
            {"pos_weight": np.array([1.0, 2.0, 3.0, 0.5])},
            ELEMENTWISE["binary_cross_entropy_with_logits"],
        ),
        ("kl_div", np.log(pr / pr.sum(-1, keepdims=True)), tp, {}, lambda a, b: _kl_div(a, b)[0]),
        (
            "cross_entropy",
            x,
            tp,
            {"label_smoothing": 0.1, "class_weight": np.array([1.0, 0.5, 2.0, 1.5])},
            lambda a, b, **k: _cross_entropy(a, b, **k)[0],
        ),
        ("multilabel_soft_margin", x, t, {}, None),
        # losses of pred - target: the kernel on the swapped arrays
        ("mse", x, t, {}, ELEMENTWISE["mse"]),
        ("huber", x, t, {"delta": 0.6}, None),
        ("quantile", x, t, {"quantile": 0.3}, None),
        ("rmse", x, t, {}, None),
    ]


@pytest.mark.parametrize("red", ["mean", "sum", "none"])
def test_target_gradients_where_the_core_has_their_kernel(red):
    # a floating target's gradient (torch gives it; the core computes it by
    # its own kernel, loss.wrt_on_request): jax.grad reaches it under jit,
    # equal to the core's wrt=(pred, target) and to JAX's autodiff of the
    # pure-JAX formula; before, a TypeError
    rng = np.random.default_rng(18)
    with _x64(True):
        for name, a, b, prm, formula in _target_grad_cases(rng):
            if name == "rmse" and red == "none":
                continue  # shares of the root: "none" is not a weighted "sum" (below)
            L, f = fl.get(name), getattr(flj, name)
            v = L(a, b, reduction="none", **prm)
            c = np.arange(1.0, 1.0 + v.size).reshape(v.shape)  # "none"'s cotangent

            def ours(x, y, f=f, prm=prm, c=c):
                r = f(x, y, reduction=red, **prm)
                return jnp.sum(r * c) if red == "none" else r

            ga, gb = jax.jit(jax.grad(ours, argnums=(0, 1)))(jnp.asarray(a), jnp.asarray(b))
            gt = jax.grad(ours, argnums=1)(jnp.asarray(a), jnp.asarray(b))  # the target alone
            kw = {"sample_weight": c, "reduction": "sum"} if red == "none" else {"reduction": red}
            ca, cb = L.grad(a, b, wrt=(L.pred_name, L.target_name), **kw, **prm)
            np.testing.assert_allclose(ga, ca, rtol=1e-12, atol=1e-14, err_msg=name)
            np.testing.assert_allclose(gb, cb, rtol=1e-12, atol=1e-14, err_msg=name)
            np.testing.assert_allclose(gt, cb, rtol=1e-12, atol=1e-14, err_msg=name)
            if formula is None:
                continue

            def theirs(x, y, formula=formula, prm=prm, c=c):
                per = formula(x, y, **prm)
                if red == "none":
                    return jnp.sum(per * c)
                return jnp.sum(per) if red == "sum" else jnp.mean(per)

            if name == "kl_div" and red == "mean":
                continue  # the core's mean is over elements (torch's), the formula's per row
            fa, fb = jax.grad(theirs, argnums=(0, 1))(jnp.asarray(a), jnp.asarray(b))
            np.testing.assert_allclose(gb, fb, rtol=1e-10, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(ga, fa, rtol=1e-10, atol=1e-12, err_msg=name)


def test_gaussian_nll_gradients_of_pred_target_and_var():
    # all three inputs differentiable under jit, a broadcast target and var
    # summed back by JAX; equal to the core's wrt=(pred, target, var) and to
    # JAX's autodiff of the formula
    rng = np.random.default_rng(19)
    with _x64(True):
        x, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
        var = rng.uniform(0.5, 2.0, (5, 3))
        for red in ("mean", "sum"):
            f = jax.jit(
                jax.grad(lambda a, b, v, r=red: flj.gaussian_nll(a, b, v, reduction=r), (0, 1, 2))
            )
            got = f(jnp.asarray(x), jnp.asarray(t), jnp.asarray(var))
            core = fl.gaussian_nll.grad(x, t, var, reduction=red, wrt=("pred", "target", "var"))

            def formula(a, b, v, r=red):
                per = 0.5 * (jnp.log(v) + (a - b) ** 2 / v)
                return jnp.sum(per) if r == "sum" else jnp.mean(per)

            want = jax.grad(formula, (0, 1, 2))(jnp.asarray(x), jnp.asarray(t), jnp.asarray(var))
            for g, c, w, nm in zip(got, core, want, ("pred", "target", "var")):
                np.testing.assert_allclose(g, c, rtol=1e-12, err_msg=f"{nm} {red}")
                np.testing.assert_allclose(g, w, rtol=1e-10, err_msg=f"{nm} {red}")
        # a target of one column broadcast in JAX: its gradient summed back
        tb = t[:, :1]
        g = jax.grad(lambda b: flj.gaussian_nll(jnp.asarray(x), jnp.broadcast_to(b, x.shape), var))(
            jnp.asarray(tb)
        )
        full = fl.gaussian_nll.grad(x, np.broadcast_to(tb, x.shape), var, wrt="target")
        np.testing.assert_allclose(g, full.sum(1, keepdims=True), rtol=1e-12)


def test_errors():
    p = jnp.ones((4, 3))
    with pytest.raises(TypeError, match="gradient w.r.t. its target"):
        jax.grad(lambda t: flj.mape(p, t))(p)
    with pytest.raises(TypeError, match="gradient w.r.t. sample_weight"):
        jax.grad(lambda w: flj.mse(p, p, sample_weight=w))(jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="reduction"):
        flj.mse(p, p, reduction="avg")
    with pytest.raises(ValueError, match="delta"):
        flj.huber(p, p, delta=-1.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        flj.huber(p, p, beta=1.0)
    with pytest.raises(ValueError, match="same shape"):
        flj.mse(p, jnp.ones((4, 2)))
    with pytest.raises(TypeError, match="integer array"):
        flj.softmax_focal(p, jnp.zeros(4))
    with pytest.raises(Exception, match="label 7 at sample 1 is out of range"):
        jax.block_until_ready(flj.cross_entropy(p, jnp.asarray([0, 7, 1, 2])))
    # multilabel_margin under jit, where only the kernel checks: an index
    # below -1 is refused as torch refuses it (it ended the list silently),
    # and the message names the index itself, not the row's first label
    f = jax.jit(flj.multilabel_margin)
    for bad, msg in (
        (-7, "class index -7 in sample 0"),
        (10**6, "class index 1000000 in sample 0"),
    ):
        lab = jnp.asarray([[1, bad, 2], [0, -1, 0], [2, 1, -1], [0, 1, 2]])
        with pytest.raises(Exception, match=msg):
            jax.block_until_ready(f(p, lab))


def test_threads_from_fastloss():
    rng = np.random.default_rng(3)
    p = jnp.asarray(rng.normal(size=300_000), jnp.float32)
    t = jnp.zeros_like(p)
    f = jax.jit(jax.value_and_grad(flj.log_cosh))
    old = fl.get_num_threads()
    try:
        fl.set_num_threads(1)
        v1, g1 = f(p, t)
        fl.set_num_threads(2)
        v2, g2 = f(p, t)
    finally:
        fl.set_num_threads(old)
    assert float(v1) == float(v2)  # the blocked reduction: same bits
    np.testing.assert_array_equal(np.asarray(g1), np.asarray(g2))


# -- every loss, every differentiable input -------------------------------------
# The registry's cases (tests/cases_*.py) in float64: under jit, the value of
# every reduction, weighted and not, and the gradient w.r.t. every
# differentiable input equal the core's on the same arrays (the same kernels);
# "none"'s vector-Jacobian product equals the core's gradient of the
# cotangent-weighted sum. Then, where benchmarks/specs.py has the loss's
# formula in JAX, value and gradients against JAX's autodiff of it; and for
# every loss, JAX's own finite-difference check of the reverse mode.

import os  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import specs  # noqa: E402
from cases import args as _case_args  # noqa: E402
from cases import grads as _as_tuple  # noqa: E402
from cases import make  # noqa: E402

# list-input losses (perceptual) have their own test below
ALL = [n for n in fl.available() if not fl.get(n).list_inputs]


def _registry_case(name, dtype=np.float64, n=12):
    """(loss, inputs in positional order, parameters, positions of the
    differentiable inputs given) from the registry's case."""
    loss = fl.get(name)
    pred, target, params = make(name, np.random.default_rng(zlib.crc32(name.encode())), dtype, n)
    inputs = list(_case_args(pred, target))
    inputs += [params.get(k) for k in loss.inputs[len(inputs) :]]
    while (
        len(inputs) > 1
        and inputs[-1] is None
        and loss.inputs[len(inputs) - 1] in (loss.optional_inputs)
    ):
        inputs.pop()
    prm = {k: v for k, v in params.items() if k not in loss.inputs}
    wrt = [loss.inputs.index(k) for k in loss.wrt]
    wrt = tuple(k for k in wrt if k < len(inputs) and inputs[k] is not None)
    return loss, inputs, prm, wrt


def _core_grads(loss, inputs, wrt, **kw):
    g = _as_tuple(loss.grad(*inputs, **kw))
    return [g[loss.wrt.index(loss.inputs[k])] for k in wrt]


@pytest.mark.parametrize("name", ALL)
def test_every_loss_equals_the_core(name):
    loss, inputs, prm, wrt = _registry_case(name)
    fn = getattr(flj, name)
    combos = [(red, wt) for red in ("none", "sum", "mean") for wt in (False, True)]
    with _x64(True):
        jin = [None if x is None else jnp.asarray(x) for x in inputs]
        shape = np.shape(loss(*inputs, reduction="none", **prm))
        rng = np.random.default_rng(7)
        w = rng.uniform(0.5, 2.0, shape)
        ct = rng.normal(size=shape)

        def every(jw, *xs):
            # value and gradients of every combination in one compiled
            # function (one compile per loss)
            out = {}
            for red, wt in combos:

                def f(*xs, red=red, wt=wt):
                    return fn(*xs, reduction=red, sample_weight=jw if wt else None, **prm)

                def scalar(*ys, f=f, red=red):
                    full = list(xs)
                    for k, y in zip(wrt, ys):
                        full[k] = y
                    v = f(*full)
                    return jnp.sum(v * ct) if red == "none" else v

                out[red, wt] = (
                    f(*xs),
                    jax.grad(scalar, argnums=tuple(range(len(wrt))))(*[xs[k] for k in wrt]),
                )
            return out

        got = jax.jit(every)(jnp.asarray(w), *jin)
        for (red, wt), (v, g) in got.items():
            ww = w if wt else None
            what = f"{red}, {'weighted' if wt else 'unweighted'}"
            want = loss(*inputs, reduction=red, sample_weight=ww, **prm)
            np.testing.assert_allclose(v, want, rtol=1e-12, atol=1e-14, err_msg=what)
            if red == "none":
                if name == "rmse":
                    continue  # its shares are not a weighted sum: check_grads below
                cw = ct if ww is None else ct * ww
                cg = _core_grads(loss, inputs, wrt, reduction="sum", sample_weight=cw, **prm)
            else:
                cg = _core_grads(loss, inputs, wrt, reduction=red, sample_weight=ww, **prm)
            for k, a, b in zip(wrt, g, cg):
                assert a.shape == np.shape(inputs[k])
                np.testing.assert_allclose(
                    a, b, rtol=1e-9, atol=1e-12, err_msg=f"grad {loss.inputs[k]}, {what}"
                )


# Losses whose specs.EXPR formula is not fastloss's default definition (or
# not at the maker's inputs): left to the core comparison and check_grads.
_EXPR_DIFFERS = {}
FORMULA = [
    n
    for n in ALL
    if n in specs.EXPR and n in specs.MAKERS and n not in set(ELEMENTWISE) | set(ROWS)
]


def _small(name):
    shape = next(r.shape for r in specs.ROWS if r.loss == name)
    if name == "ctc":
        return shape
    return (min(shape[0], 12),) + tuple(min(d, 6) if d != 4 else d for d in shape[1:])


@pytest.mark.parametrize("name", FORMULA)
def test_formula_in_jax(name):
    # value (mean) and the gradient w.r.t. every differentiable input against
    # JAX's autodiff of the formula in benchmarks/specs.py
    loss = fl.get(name)
    with _x64(True):
        inp = specs.MAKERS[name](np.random.default_rng(11), np.float64, _small(name))
        names = list(loss.inputs[:2]) + [k for k in inp.params if k in loss.inputs]
        arrays = [inp.pred, inp.target] + [inp.params[k] for k in names[2:]]
        prm = {k: v for k, v in inp.params.items() if k not in loss.inputs}
        jarr = [jnp.asarray(a) for a in arrays]
        wrt = tuple(i for i, k in enumerate(names) if k in loss.wrt)
        B = specs.Jax()

        def theirs(*xs):
            kw = dict(zip(names[2:], xs[2:]))
            return specs.EXPR[name](B, xs[0], xs[1], **kw, **prm)

        def ours(*xs):
            kw = dict(zip(names[2:], xs[2:]))
            return getattr(flj, name)(xs[0], xs[1], **kw, **prm)

        v, g = jax.jit(jax.value_and_grad(ours, argnums=wrt))(*jarr)
        tv, tg = jax.jit(jax.value_and_grad(theirs, argnums=wrt))(*jarr)
        np.testing.assert_allclose(v, tv, rtol=1e-9, atol=1e-12)
        for k, a, b in zip(wrt, g, tg):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10, err_msg=names[k])


# Losses whose gradient is not the finite differences of the value by
# design, or whose cases sit where a central difference crosses a kink.
_NO_FD = {
    "ciou_loss": "alpha is a constant of the gradient (torchvision's)",
}


@pytest.mark.parametrize("name", ALL)
def test_check_grads(name):
    # JAX's own check: reverse mode against central finite differences of the
    # value, float64, for each reduction, over every differentiable input
    if name in _NO_FD:
        pytest.skip(_NO_FD[name])
    from jax.test_util import check_grads

    loss, inputs, prm, wrt = _registry_case(name, n=6)
    with _x64(True):
        jin = [None if x is None else jnp.asarray(x) for x in inputs]
        for red in ("none", "mean"):

            def f(*xs, red=red):
                full = list(jin)
                for k, x in zip(wrt, xs):
                    full[k] = x
                return getattr(flj, name)(*full, reduction=red, **prm)

            check_grads(f, [jin[k] for k in wrt], order=1, modes=["rev"], eps=1e-6)


def test_perceptual_lists_of_feature_maps():
    # lists in, a list of gradients out (one per layer), equal to the core's
    rng = np.random.default_rng(15)
    fs = [rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(2, 5, 2, 2))]
    gs = [rng.normal(size=f.shape) for f in fs]
    with _x64(True):
        jf, jg = [jnp.asarray(f) for f in fs], [jnp.asarray(g) for g in gs]
        for prm in ({}, {"p": 1, "layer_weights": (1.0, 0.25)}, {"p": 1.5}):
            for red in ("mean", "sum"):
                v, g = jax.jit(
                    jax.value_and_grad(
                        lambda f, red=red, prm=prm: flj.perceptual(f, jg, reduction=red, **prm)
                    )
                )(jf)
                cv, cg = fl.perceptual.value_and_grad(fs, gs, reduction=red, **prm)
                np.testing.assert_allclose(v, cv, rtol=1e-12)
                assert len(g) == 2
                for a, b in zip(g, cg):
                    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
            none = flj.perceptual(jf, jg, reduction="none", **prm)
            for a, b in zip(none, fl.perceptual(fs, gs, reduction="none", **prm)):
                np.testing.assert_allclose(a, b, rtol=1e-12)
    with pytest.raises(TypeError, match="pred_features"):
        flj.perceptual(jnp.ones(3), [jnp.ones(3)])
    with pytest.raises(ValueError, match="layer_weights"):
        flj.perceptual([jnp.ones(3)], [jnp.ones(3)], layer_weights=(1.0, 2.0))


@pytest.mark.parametrize("name", ["l1_penalty", "l2_penalty", "elastic_net"])
def test_penalty_of_a_list_of_arrays(name):
    rng = np.random.default_rng(16)
    ws = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    with _x64(True):
        jw = [jnp.asarray(w) for w in ws]
        fn, core = getattr(flj, name), fl.get(name)
        for red in ("sum", "mean"):
            v, g = jax.jit(jax.value_and_grad(lambda w, red=red: fn(w, reduction=red)))(jw)
            cv, cg = core.value_and_grad(ws, reduction=red)
            np.testing.assert_allclose(v, cv, rtol=1e-12)
            for a, b in zip(g, cg):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
        for a, b in zip(fn(jw, reduction="none"), core(ws, reduction="none")):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_several_inputs_under_vmap_and_errors():
    rng = np.random.default_rng(12)
    a, p, n = (jnp.asarray(rng.normal(size=(3, 5, 4)), jnp.float32) for _ in range(3))

    def one(a, p, n):
        return flj.triplet_margin(a, p, n)

    got = jax.vmap(jax.value_and_grad(one, argnums=(0, 1, 2)))(a, p, n)
    for b in range(3):
        v, g = jax.value_and_grad(one, argnums=(0, 1, 2))(a[b], p[b], n[b])
        np.testing.assert_allclose(got[0][b], v, rtol=1e-6)
        for x, y in zip(got[1], g):
            np.testing.assert_allclose(x[b], y, rtol=1e-6, atol=1e-7)
    z = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 4, 6))
    c = jnp.asarray(rng.normal(size=(4, 4)), jnp.float32)
    with pytest.raises(TypeError, match="gradient w.r.t. sample_weight"):
        jax.grad(lambda w: flj.center(z, y, c, sample_weight=w))(jnp.ones(6))
    with pytest.raises(TypeError, match="not differentiable"):
        # contrastive's `same` is an input without a gradient
        jax.grad(lambda s: flj.contrastive(z, z + 1, s), allow_int=True)(jnp.ones(6))
    with pytest.raises(ValueError, match="shape"):
        flj.triplet_margin(a[0], p[0], n[0, :3])


def test_gaussian_nll_var_gradient_sums_over_broadcast_axes():
    # var one axis short (one variance per row, torch's rule) and var of one
    # value: its gradient is var's shape, the sum over the broadcast axes
    rng = np.random.default_rng(13)
    p, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    with _x64(True):
        for var in (rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, (1, 3)), np.array(0.7)):
            g = jax.grad(flj.gaussian_nll, argnums=2)(
                jnp.asarray(p), jnp.asarray(t), jnp.asarray(var)
            )
            assert g.shape == var.shape
            np.testing.assert_allclose(
                g, fl.gaussian_nll.grad(p, t, var, wrt="var"), rtol=1e-12, atol=1e-14
            )


def test_gaussian_nll_negative_var_is_refused_under_jit():
    # under jit no value is seen while tracing: the kernel checks var >= 0
    # (torch: "var has negative entry/entries") and names it; before, a
    # negative var was clamped to eps and gave a finite, wrong loss
    p, t = jnp.zeros(4), jnp.ones(4)
    var = jnp.asarray([1.0, 0.5, -2.0, 1.0])
    with pytest.raises(ValueError, match="var"):
        fl.gaussian_nll(np.zeros(4), np.ones(4), np.asarray(var))  # the NumPy path's check
    f = jax.jit(flj.gaussian_nll)
    for call in (f, jax.jit(jax.grad(flj.gaussian_nll, argnums=(0, 2)))):
        with pytest.raises(Exception, match=r"var must be >= 0 .*got -2.0+ at flat index 2"):
            jax.block_until_ready(call(p, t, var))
    # one variance per row, broadcast by XLA: the element is var's value
    with pytest.raises(Exception, match=r"got -1.0+ at flat index 3"):
        jax.block_until_ready(f(jnp.zeros((2, 3)), jnp.ones((2, 3)), jnp.asarray([1.0, -1.0])))
    # NaN passes (it propagates), 0 is a valid variance (clamped to eps)
    assert np.isnan(f(p, t, jnp.asarray([1.0, np.nan, 1.0, 1.0])))
    assert np.isfinite(f(p, t, jnp.asarray([1.0, 0.0, 1.0, 1.0])))


def test_training_loop_triplet():
    # an embedding trained with triplet_margin, against the formula in JAX
    rng = np.random.default_rng(14)
    x = jnp.asarray(rng.normal(size=(3, 64, 6)), jnp.float32)
    w0 = jnp.asarray(0.3 * rng.normal(size=(6, 4)), jnp.float32)
    B = specs.Jax()

    def ours(w):
        return flj.triplet_margin(x[0] @ w, x[1] @ w, x[2] @ w)

    def theirs(w):
        return specs.EXPR["triplet_margin"](B, x[0] @ w, x[1] @ w, negative=x[2] @ w)

    c1, w1 = _sgd(ours, w0, steps=8, lr=0.2)
    c2, w2 = _sgd(theirs, w0, steps=8, lr=0.2)
    assert c1[-1] < c1[0]
    np.testing.assert_allclose(c1, c2, rtol=1e-5)
    np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-6)


# -- training: the same loss curve as pure JAX --------------------------------


def _sgd(loss_fn, w, steps=8, lr=0.1):
    step = jax.jit(jax.value_and_grad(loss_fn))
    curve = []
    for _ in range(steps):
        v, g = step(w)
        curve.append(float(v))
        w = w - lr * g
    return np.array(curve), w


def test_training_loop_regression():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.normal(size=(256, 8)), jnp.float32)
    y = x @ jnp.asarray(rng.normal(size=8), jnp.float32) + 0.1 * jnp.asarray(
        rng.normal(size=256), jnp.float32
    )
    w0 = jnp.zeros(8, jnp.float32)
    ours, w1 = _sgd(lambda w: flj.huber(x @ w, y, delta=0.5), w0, steps=10, lr=1.0)
    theirs, w2 = _sgd(lambda w: jnp.mean(_huber(x @ w, y, 0.5)), w0, steps=10, lr=1.0)
    assert ours[-1] < 0.1 * ours[0]  # it learns
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-6)


def test_training_loop_softmax_classifier():
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(300, 5)), jnp.float32)
    y = jnp.argmax(x @ jnp.asarray(rng.normal(size=(5, 3)), jnp.float32), axis=1)
    w0 = jnp.zeros((5, 3), jnp.float32)
    ours, _ = _sgd(lambda w: flj.cross_entropy(x @ w, y, label_smoothing=0.05), w0, lr=0.5)
    theirs, _ = _sgd(
        lambda w: jnp.mean(_cross_entropy(x @ w, y, label_smoothing=0.05)[0]), w0, lr=0.5
    )
    assert ours[-1] < 0.7 * ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_import_fastloss_does_not_import_jax():
    import subprocess
    import sys

    code = "import sys, fastloss; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
