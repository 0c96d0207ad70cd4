"""Targets differentiable on request (``Loss.wrt_on_request``).

The floating targets whose derivative PyTorch's autograd gives are
differentiated by the C++ kernels when a call names them (``wrt=``). Held
to finite differences of the NumPy reference's value (float64, every
reduction, sample weights, class weights and pos_weight) and to torch's
autograd; the default result keeps its form and its bits; the gradients
have the same bits on every thread count and ISA level.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R
from fastloss import _core

REDUCTIONS = ["mean", "sum", "none"]

ON_REQUEST = {
    "poisson_nll": ("target",),
    "kl_div": ("target",),
    "binary_cross_entropy": ("target",),
    "binary_cross_entropy_with_logits": ("target",),
    "multilabel_soft_margin": ("target",),
    "cross_entropy": ("target",),
    "margin_ranking": ("y",),
    # losses of pred - target: the kernel on the swapped arrays (quantile,
    # not symmetric, by a target kernel of its own)
    **{
        n: ("target",)
        for n in (
            "mse",
            "mae",
            "huber",
            "smooth_l1",
            "log_cosh",
            "pseudo_huber",
            "quantile",
            "rmse",
            "gaussian_nll",
        )
    },
}

# (name, params) of the losses of pred - target, and their torch formula on
# (pred, target[, var]) tensors, per element
DIFFERENCE = [
    ("mse", {}),
    ("mae", {}),
    ("huber", {"delta": 0.7}),
    ("smooth_l1", {"beta": 0.5}),
    ("log_cosh", {}),
    ("pseudo_huber", {"delta": 0.8}),
    ("quantile", {"quantile": 0.3}),
    ("rmse", {}),
    ("gaussian_nll", {"full": True}),
]


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _away_from_one(rng, shape, lo, hi):
    # poisson's Stirling term switches on at t = 1: keep finite differences
    # off that step
    t = rng.uniform(lo, hi, shape)
    return np.where(np.abs(t - 1.0) < 0.05, t + 0.1, t)


def cases(rng, n=5, c=4):
    """(label, name, inputs, params): float64 inputs, the differentiable
    target among them, every parameter that changes its gradient."""
    out = []
    x = rng.normal(0, 1, (n, c))
    for log_input in (True, False):
        for full in (False, True):
            pred = x if log_input else rng.uniform(0.1, 3, (n, c))
            t = _away_from_one(rng, (n, c), 0.2, 4)
            out.append(
                (
                    f"poisson log_input={log_input} full={full}",
                    "poisson_nll",
                    (pred, t),
                    {"log_input": log_input, "full": full},
                )
            )
    out.append(
        (
            "bce",
            "binary_cross_entropy",
            (rng.uniform(0.05, 0.95, (n, c)), rng.uniform(0, 1, (n, c))),
            {},
        )
    )
    for pw in (None, 2.5, rng.uniform(0.5, 3, c)):
        out.append(
            (
                f"bce_logits pos_weight={'array' if isinstance(pw, np.ndarray) else pw}",
                "binary_cross_entropy_with_logits",
                (rng.normal(0, 2, (n, c)), rng.uniform(0, 1, (n, c))),
                {"pos_weight": pw},
            )
        )
    lq = np.log(_softmax(rng.normal(0, 1, (n, c))))
    tq = _softmax(rng.normal(0, 1, (n, c)))
    out.append(("kl_div", "kl_div", (lq, tq), {}))
    out.append(("kl_div log_target", "kl_div", (lq, np.log(tq)), {"log_target": True}))
    for cw in (None, rng.uniform(0.3, 2, c)):
        out.append(
            (
                f"multilabel_soft_margin class_weight={cw is not None}",
                "multilabel_soft_margin",
                (rng.normal(0, 2, (n, c)), rng.uniform(0, 1, (n, c))),
                {"class_weight": cw},
            )
        )
        for ls in (0.0, 0.2):
            out.append(
                (
                    f"cross_entropy class_weight={cw is not None} label_smoothing={ls}",
                    "cross_entropy",
                    (rng.normal(0, 2, (n, c)), _softmax(rng.normal(0, 1, (n, c)))),
                    {"class_weight": cw, "label_smoothing": ls},
                )
            )
    # margin_ranking: scores off the kink -y (x1 - x2) + margin = 0
    x1, x2 = rng.normal(0, 1, 3 * n), rng.normal(0, 1, 3 * n)
    y = np.where(rng.uniform(size=3 * n) > 0.5, 1.0, -1.0)
    z = -y * (x1 - x2) + 0.3
    x1 = np.where(np.abs(z) < 0.05, x1 + 0.2, x1)
    out.append(("margin_ranking", "margin_ranking", (x1, x2, y), {"margin": 0.3}))
    for name, params in DIFFERENCE:
        # residuals off the kinks (0, +-delta, +-beta)
        r = rng.choice([-1.0, 1.0], (n, c)) * rng.uniform(0.1, 2.0, (n, c))
        r = np.where(np.abs(np.abs(r) - 0.6) < 0.15, r * 1.5, r)
        p = rng.normal(0, 1, (n, c))
        ins = (p, p - r)
        if name == "gaussian_nll":
            ins = ins + (rng.uniform(0.5, 2.0, (n, c)),)
        out.append((name, name, ins, params))
    return out


def _sample_shape(name, inputs):
    return inputs[0].shape[:-1] if fl.get(name).family == "multiclass" else inputs[0].shape


def _weights(rng, name, inputs, weighted):
    return rng.uniform(0.2, 2.0, _sample_shape(name, inputs)) if weighted else None


def _target_index(name):
    loss = fl.get(name)
    return loss.inputs.index(loss.wrt_on_request[0])


def test_the_catalogue_marks_the_targets_differentiable_on_request():
    got = {n: fl.get(n).wrt_on_request for n in fl.available() if fl.get(n).wrt_on_request}
    assert got == ON_REQUEST
    for name, names in ON_REQUEST.items():
        loss = fl.get(name)
        assert not set(names) & set(loss.wrt)  # not in the default
        assert loss.inputs[0] in loss.wrt


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_target_gradient_matches_finite_differences_of_the_reference(reduction, weighted):
    rng = np.random.default_rng(101)
    for label, name, inputs, params in cases(rng):
        loss, ref = fl.get(name), R.get(name)
        k = _target_index(name)
        w = _weights(rng, name, inputs, weighted)
        g = loss.grad(*inputs, reduction=reduction, sample_weight=w, wrt=loss.inputs[k], **params)
        assert isinstance(g, np.ndarray) and g.shape == inputs[k].shape, label
        # "none": each sample's own derivative, which for independent samples
        # is the derivative of the (weighted) sum
        fd_red = "sum" if reduction == "none" else reduction
        value = functools.partial(ref, reduction=fd_red, sample_weight=w, **params)
        fd = _finite_differences(value, inputs, k)
        np.testing.assert_allclose(
            g,
            fd,
            rtol=1e-6,
            atol=1e-7 * max(1.0, float(np.max(np.abs(fd)))),
            err_msg=f"{label} reduction={reduction} weighted={weighted}",
        )


def _finite_differences(f, inputs, k):
    """d f(*inputs) / d inputs[k], element by element (fourth-order central
    differences)."""
    x = inputs[k]
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    fd = np.empty_like(x)
    for i in range(x.size):
        vals = []
        for d in (2 * h.flat[i], h.flat[i], -h.flat[i], -2 * h.flat[i]):
            xi = x.copy()
            xi.flat[i] += d
            vals.append(f(*inputs[:k], xi, *inputs[k + 1 :]))
        fd.flat[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h.flat[i])
    return fd


def _torch_loss(torch, name, ins, params, reduction, w):
    """torch.nn.functional's loss on tensors ``ins``, reduced as the core
    reduces (sample weights multiply the per-sample losses; a weighted mean
    divides by their sum)."""
    F = torch.nn.functional
    p = dict(params)
    if name == "poisson_nll":
        per = F.poisson_nll_loss(*ins, reduction="none", **p)
    elif name == "binary_cross_entropy":
        per = F.binary_cross_entropy(*ins, reduction="none")
    elif name == "binary_cross_entropy_with_logits":
        pw = p["pos_weight"]
        pw = None if pw is None else torch.as_tensor(pw, dtype=torch.float64)
        per = F.binary_cross_entropy_with_logits(*ins, pos_weight=pw, reduction="none")
    elif name == "kl_div":
        per = F.kl_div(*ins, reduction="none", log_target=p.get("log_target", False)).sum(-1)
    elif name == "multilabel_soft_margin":
        cw = p["class_weight"]
        cw = None if cw is None else torch.as_tensor(cw)
        per = F.multilabel_soft_margin_loss(*ins, weight=cw, reduction="none")
    elif name == "cross_entropy":
        cw = p["class_weight"]
        cw = None if cw is None else torch.as_tensor(cw)
        per = F.cross_entropy(
            *ins, weight=cw, label_smoothing=p["label_smoothing"], reduction="none"
        )
    elif name == "margin_ranking":
        per = F.margin_ranking_loss(*ins, margin=p["margin"], reduction="none")
    else:
        per = _torch_difference(torch, name, ins, p)
    wt = torch.ones_like(per) if w is None else torch.as_tensor(w)
    if name == "rmse":
        # the root of the weighted mean; "sum" is the weights' sum times it
        root = torch.sqrt((per * wt).sum() / wt.sum())
        return root if reduction == "mean" else wt.sum() * root
    if reduction == "none":
        return per * wt
    if reduction == "sum":
        return (per * wt).sum()
    return (per * wt).sum() / wt.sum()


def _torch_difference(torch, name, ins, p):
    """The per-element loss of a loss of pred - target, written in torch."""
    F = torch.nn.functional
    x, t = ins[0], ins[1]
    if name in ("mse", "rmse"):
        return F.mse_loss(x, t, reduction="none")
    if name == "mae":
        return F.l1_loss(x, t, reduction="none")
    if name == "huber":
        return F.huber_loss(x, t, delta=p["delta"], reduction="none")
    if name == "smooth_l1":
        return F.smooth_l1_loss(x, t, beta=p["beta"], reduction="none")
    if name == "log_cosh":
        return torch.log(torch.cosh(x - t))
    if name == "pseudo_huber":
        d = p["delta"]
        return d * d * (torch.sqrt(1 + ((x - t) / d) ** 2) - 1)
    if name == "quantile":
        q, e = p["quantile"], t - x
        return torch.maximum(q * e, (q - 1) * e)
    assert name == "gaussian_nll"
    return F.gaussian_nll_loss(x, t, ins[2], full=p["full"], reduction="none")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pred_and_target_gradients_equal_torch_autograd(reduction, weighted):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(102)
    for label, name, inputs, params in cases(rng, n=6, c=5):
        if name == "rmse" and reduction == "none":
            continue  # shares of the root, not per-element losses (test_regression)
        loss = fl.get(name)
        k = _target_index(name)
        w = _weights(rng, name, inputs, weighted)
        names = (loss.inputs[0], loss.inputs[k])
        v, (gp, gt) = loss.value_and_grad(
            *inputs, reduction=reduction, sample_weight=w, wrt=names, **params
        )
        ts = [torch.tensor(a, requires_grad=True) for a in inputs]
        out = _torch_loss(torch, name, ts, params, reduction, w)
        go = torch.ones_like(out)
        if reduction == "none":
            go = torch.as_tensor(rng.normal(size=out.shape))
            gp, gt = gp * _bcast(go.numpy(), gp), gt * _bcast(go.numpy(), gt)
        tp, tt = torch.autograd.grad(out, (ts[0], ts[k]), go)
        what = f"{label} reduction={reduction} weighted={weighted}"
        np.testing.assert_allclose(np.asarray(v), out.detach().numpy(), rtol=1e-10, err_msg=what)
        np.testing.assert_allclose(gp, tp.numpy(), rtol=1e-10, atol=1e-12, err_msg=what)
        np.testing.assert_allclose(gt, tt.numpy(), rtol=1e-10, atol=1e-12, err_msg=what)


def test_bce_target_gradient_is_torchs_where_a_log_is_clamped():
    # The value clamps each log at -100 (as torch's); the target's gradient
    # is torch's autograd, log(1 - p) - log p unclamped (as the gradient
    # w.r.t. p is torch's, not the clamped value's derivative): +-inf at
    # p = 0 or 1, 115.13 at p = 1e-50 (not 100)
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1.0, 1e-50, 1 - 1e-16, 0.25])
    t = np.array([0.3, 0.3, 0.3, 0.7, 0.3])
    w = np.array([1.0, 2.0, 0.5, 1.5, 3.0])
    for red in REDUCTIONS:
        g = fl.binary_cross_entropy.grad(p, t, reduction=red, sample_weight=w, wrt="target")
        tt = torch.tensor(t, requires_grad=True)
        per = torch.nn.functional.binary_cross_entropy(
            torch.tensor(p), tt, weight=torch.tensor(w), reduction="none"
        )
        out = {"none": per.sum(), "sum": per.sum(), "mean": per.sum() / w.sum()}[red]
        (expect,) = torch.autograd.grad(out, tt)
        np.testing.assert_allclose(g, expect.numpy(), rtol=1e-14, err_msg=red)
        assert g[0] == np.inf and g[1] == -np.inf


def _bcast(go, g):
    return go.reshape(go.shape + (1,) * (g.ndim - go.ndim))


def test_kl_div_target_gradient_at_zero_is_minus_inf():
    # log t + 1 - x at t = 0 is -inf (documented in fastloss.torch; torch's
    # autograd of xlogy gives NaN there); a NaN target gives NaN
    lq = np.log(np.full((1, 3), 1 / 3))
    g = fl.kl_div.grad(lq, np.array([[0.0, 0.5, np.nan]]), reduction="sum", wrt="target")
    assert g[0, 0] == -np.inf and np.isfinite(g[0, 1]) and np.isnan(g[0, 2])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_the_default_result_keeps_its_form_and_bits(reduction):
    # Single-input losses keep returning one array: the target's gradient
    # only when named, and pred's bits are the same whichever way it is asked
    rng = np.random.default_rng(103)
    for label, name, inputs, params in cases(rng, n=300, c=7):
        loss = fl.get(name)
        k = _target_index(name)
        w = _weights(rng, name, inputs, True)
        kw = {"reduction": reduction, "sample_weight": w, **params}
        g = loss.grad(*inputs, **kw)
        v, vg = loss.value_and_grad(*inputs, **kw)
        both = loss.grad(*inputs, wrt=(loss.inputs[0], loss.inputs[k]), **kw)
        vb, (gb, tb) = loss.value_and_grad(*inputs, wrt=(loss.inputs[0], loss.inputs[k]), **kw)
        alone = loss.grad(*inputs, wrt=loss.inputs[k], **kw)
        if len(loss.wrt) > 1:  # several default inputs: a tuple, as always
            assert isinstance(g, tuple) and len(g) == len(loss.wrt), label
            g, vg = g[0], vg[0]
        else:
            assert isinstance(g, np.ndarray) and isinstance(vg, np.ndarray), label
        assert isinstance(alone, np.ndarray) and alone.shape == inputs[k].shape, label
        for a in (vg, both[0], gb):
            np.testing.assert_array_equal(a, g, err_msg=label)
        for a in (both[1], tb):
            np.testing.assert_array_equal(a, alone, err_msg=label)
        np.testing.assert_array_equal(vb, v, err_msg=label)
        np.testing.assert_array_equal(np.asarray(v), np.asarray(loss(*inputs, **kw)))
        # a 1-tuple for a tuple of one name; positional order whatever the
        # order the names are given in
        (one,) = loss.grad(*inputs, wrt=(loss.inputs[k],), **kw)
        np.testing.assert_array_equal(one, alone)
        rev = loss.grad(*inputs, wrt=(loss.inputs[k], loss.inputs[0]), **kw)
        np.testing.assert_array_equal(rev[0], g)
        np.testing.assert_array_equal(rev[1], alone)


def test_out_takes_a_matching_tuple():
    rng = np.random.default_rng(104)
    x, t = rng.normal(size=(5, 3)), rng.uniform(0.2, 3, (5, 3))
    gp, gt = np.empty_like(x), np.empty_like(x)
    res = fl.poisson_nll.grad(x, t, wrt=("pred", "target"), out=(gp, gt))
    assert res[0] is gp and res[1] is gt
    np.testing.assert_array_equal(gp, fl.poisson_nll.grad(x, t))
    np.testing.assert_allclose(gt, -x / x.size, rtol=1e-15)  # d/dt of mean(e^x - t x)
    one = np.empty_like(x)
    assert fl.poisson_nll.grad(x, t, wrt="target", out=one) is one
    np.testing.assert_array_equal(one, gt)
    v, (a, b) = fl.poisson_nll.value_and_grad(x, t, wrt=("pred", "target"), out=(gp, gt))
    assert a is gp and b is gt and v == fl.poisson_nll(x, t)
    with pytest.raises(TypeError, match=r"out: expected a tuple of 2 arrays.*\(pred, target\)"):
        fl.poisson_nll.grad(x, t, wrt=("pred", "target"), out=gp)
    with pytest.raises(ValueError, match="out"):
        fl.poisson_nll.grad(x, t, wrt="target", out=t)  # overlaps an input


def test_errors_name_the_input():
    rng = np.random.default_rng(105)
    z = rng.normal(size=(4, 3))
    labels = np.array([0, 2, 1, 1])
    with pytest.raises(ValueError, match=r"wrt: 'target' holds integer labels.*no gradient"):
        fl.cross_entropy.grad(z, labels, wrt="target")
    with pytest.raises(ValueError, match=r"wrt: 'target' holds integer labels"):
        fl.cross_entropy.value_and_grad(z, labels, wrt=("logits", "target"))
    # labels of a loss without a differentiable target: not differentiable
    with pytest.raises(ValueError, match=r"'labels' is not a differentiable input of nll"):
        fl.nll.grad(z, labels, wrt="labels")
    with pytest.raises(
        ValueError,
        match=r"'weights' is not a differentiable input of poisson_nll "
        r"\(its differentiable inputs: pred; on request: target\)",
    ):
        fl.poisson_nll.grad(z, z, wrt="weights")
    with pytest.raises(ValueError, match="'target' is named twice"):
        fl.poisson_nll.grad(z, z, wrt=("target", "target"))
    # the target kernel checks the domain as pred's does, same message
    p = rng.uniform(0.1, 0.9, (4, 3))
    bad = p.copy()
    bad[1, 2] = 1.5
    with pytest.raises(ValueError) as plain:
        fl.binary_cross_entropy.grad(p, bad)
    with pytest.raises(ValueError) as on_target:
        fl.binary_cross_entropy.grad(p, bad, wrt="target")
    assert str(plain.value) == str(on_target.value) and "(1, 2)" in str(plain.value)


def _big_cases(rng, dtype):
    # several reduction blocks (BLOCK elements or rows)
    for label, name, inputs, params in cases(rng, n=3000, c=7):
        yield label, name, tuple(a.astype(dtype) for a in inputs), params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_count_and_isa_level_do_not_change_a_bit(dtype):
    rng = np.random.default_rng(106)
    chosen, threads = _core.isa(), fl.get_num_threads()
    try:
        for label, name, inputs, params in _big_cases(rng, dtype):
            loss = fl.get(name)
            k = _target_index(name)
            w = _weights(rng, name, inputs, True).astype(dtype)
            names = (loss.inputs[0], loss.inputs[k])
            for red in REDUCTIONS:
                first = None
                for level in _core.supported_isas():
                    _core.set_isa(level)
                    for t in (1, 2, 7):
                        fl.set_num_threads(t)
                        g = loss.grad(*inputs, reduction=red, sample_weight=w, wrt=names, **params)
                        got = g[1].tobytes()
                        assert g[1].dtype == np.dtype(dtype), label
                        if first is None:
                            first = got
                        assert got == first, f"{label} {red}: {level}, {t} threads"
    finally:
        _core.set_isa(chosen)
        fl.set_num_threads(threads)


def test_strided_inputs_give_the_same_bits():
    rng = np.random.default_rng(107)
    for label, name, inputs, params in cases(rng, n=50, c=6):
        loss = fl.get(name)
        k = _target_index(name)
        names = (loss.inputs[0], loss.inputs[k])
        expected = loss.grad(*inputs, wrt=names, **params)
        strided = tuple(np.repeat(a, 2, axis=-1)[..., ::2] for a in inputs)
        got = loss.grad(*strided, wrt=names, **params)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b, err_msg=label)


def test_float32_follows_float64():
    rng = np.random.default_rng(108)
    for label, name, inputs, params in cases(rng):
        loss = fl.get(name)
        k = _target_index(name)
        g64 = loss.grad(*inputs, wrt=loss.inputs[k], **params)
        g32 = loss.grad(*(a.astype(np.float32) for a in inputs), wrt=loss.inputs[k], **params)
        assert g32.dtype == np.float32
        np.testing.assert_allclose(
            g32, g64, rtol=2e-5, atol=2e-6 * np.max(np.abs(g64)), err_msg=label
        )
