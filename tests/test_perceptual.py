"""fastloss.perceptual: lists of feature maps, one mse (p=2), mae (p=1) or
|r|^p (any other p > 0) kernel per layer, the layers weighted and added.

The registry-wide tests skip it (its inputs are lists: tests/cases.py
LIST_INPUTS); this file covers what they would -- the NumPy reference,
finite differences of every layer's gradient, fused vs separate verbs,
``out=``, thread counts and ISA levels to the bit, layouts and dtypes, NaN,
bad input -- and holds it against PyTorch's formula with autograd, and
``fastloss.torch.perceptual`` against the same.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R
from cases import LIST_INPUTS, make

P = fl.perceptual
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def rtol_for(dtype):
    return 1e-10 if np.dtype(dtype) == np.float64 else 2e-5


def close_lists(a, b, dtype, what):
    assert isinstance(a, list) and len(a) == len(b), what
    for i, (x, y) in enumerate(zip(a, b)):
        scale = float(np.max(np.abs(y))) if np.size(y) else 1.0
        rtol = rtol_for(dtype)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, err_msg=f"{what}[{i}]")


def case(dtype=np.float64, n=40, seed=0):
    f, g, params = make("perceptual", np.random.default_rng(seed), dtype, n)
    return f, g, params


# ---------------------------------------------------------------- the registry


def test_list_input_losses_are_the_listed_ones():
    flagged = {n for n in fl.available() if fl.get(n).list_inputs}
    assert flagged == set(LIST_INPUTS) == {"perceptual"}


def test_metadata():
    assert "perceptual" in fl.available() and fl.get("perceptual") is P
    assert P.family == "image"
    assert P.inputs == ("pred_features", "target_features")
    assert P.wrt == ("pred_features",)
    assert dict(P.params) == {"layer_weights": None, "p": 2.0}
    assert not P.has_hess and not P.accumulable
    assert pickle.loads(pickle.dumps(P)) is P
    assert R.get("perceptual") is R.perceptual


# ------------------------------------------------------------ values, gradients


def test_hand_computed():
    f = [np.array([1.0, 2.0]), np.array([[0.0, 3.0]])]
    g = [np.array([1.0, 0.0]), np.array([[1.0, 1.0]])]
    assert P(f, g) == 4.5  # (0 + 4) / 2 + (1 + 4) / 2
    assert P(f, g, reduction="sum") == 9.0
    assert P(f, g, p=1, layer_weights=[1.0, 0.5]) == 1.75  # 2/2 + 0.5 * 3/2
    v = P(f, g, reduction="none", layer_weights=(2.0, 3.0))
    np.testing.assert_array_equal(v[0], [0.0, 8.0])
    np.testing.assert_array_equal(v[1], [[3.0, 12.0]])
    gr = P.grad(f, g, p=1, reduction="sum", layer_weights=[1.0, 0.5])
    np.testing.assert_array_equal(gr[0], [0.0, 1.0])  # sign 0 at f == g, as torch's abs
    np.testing.assert_array_equal(gr[1], [[-0.5, 0.5]])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2, 0.5, 1.5, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_reference(dtype, reduction, p, weighted):
    f, g, params = case(dtype)
    params = dict(params, p=p) if weighted else {"p": p}
    v, gr = P.value_and_grad(f, g, reduction=reduction, **params)
    rv, rg = R.perceptual.value_and_grad(f, g, reduction=reduction, **params)
    if reduction == "none":
        close_lists(v, rv, dtype, "value")
        assert [x.dtype for x in v] == [np.dtype(dtype)] * len(f)
    else:
        assert isinstance(v, float)
        np.testing.assert_allclose(v, rv, rtol=rtol_for(dtype))
    close_lists(gr, rg, dtype, "grad")
    assert [x.shape for x in gr] == [x.shape for x in f]
    assert [x.dtype for x in gr] == [np.dtype(dtype)] * len(f)


@pytest.mark.parametrize("p", [1, 2, 0.5, 1.5, 3])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_every_layer_gradient_matches_finite_differences(p, reduction):
    # of the reference's value (the reference's gradient is its formula's);
    # fastloss's gradient is held to the reference's above and here directly
    f, g, params = case(np.float64, n=20, seed=3)
    params = dict(params, p=p)
    ref_g = R.perceptual.grad(f, g, reduction=reduction, **params)
    got_g = P.grad(f, g, reduction=reduction, **params)
    for layer, x in enumerate(f):
        fd = np.empty_like(x)
        for i in range(x.size):
            h = 1e-6 * max(1.0, abs(x.flat[i]))
            up = [a.copy() for a in f]
            dn = [a.copy() for a in f]
            up[layer].flat[i] += h
            dn[layer].flat[i] -= h
            fd.flat[i] = (
                R.perceptual(up, g, reduction=reduction, **params)
                - R.perceptual(dn, g, reduction=reduction, **params)
            ) / (2 * h)
        np.testing.assert_allclose(ref_g[layer], fd, rtol=1e-6, atol=1e-8, err_msg=str(layer))
        np.testing.assert_allclose(got_g[layer], fd, rtol=1e-6, atol=1e-8, err_msg=str(layer))


@pytest.mark.parametrize("p, kernel", [(1, fl.mae), (2, fl.mse)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_each_layer_is_its_kernel_bit_for_bit(p, kernel, reduction):
    f, g, _ = case(np.float32)
    v, gr = P.value_and_grad(f, g, reduction=reduction, p=p)
    total = 0.0
    for i, (a, b) in enumerate(zip(f, g)):
        kv, kg = kernel.value_and_grad(a, b, reduction=reduction)
        np.testing.assert_array_equal(gr[i], kg)
        if reduction == "none":
            np.testing.assert_array_equal(v[i], kv)
        else:
            total += kv
    if reduction != "none":
        assert v == total


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2, 0.5, 1.5, 3])
def test_fused_equals_separate(reduction, p):
    f, g, params = case(np.float32)
    v, gr = P.value_and_grad(f, g, reduction=reduction, p=p, **{"layer_weights": [0.3, 2.0, 1.0]})
    v2 = P(f, g, reduction=reduction, p=p, layer_weights=[0.3, 2.0, 1.0])
    g2 = P.grad(f, g, reduction=reduction, p=p, layer_weights=[0.3, 2.0, 1.0])
    if reduction == "none":
        for a, b in zip(v, v2):
            np.testing.assert_array_equal(a, b)
    else:
        assert v == v2
    for a, b in zip(gr, g2):
        np.testing.assert_array_equal(a, b)


def test_sum_is_mean_times_count_per_layer():
    f, g, params = case()
    w = params["layer_weights"]
    gs, gm = P.grad(f, g, reduction="sum", **params), P.grad(f, g, **params)
    for a, b, x in zip(gs, gm, f):
        np.testing.assert_allclose(a, b * x.size, rtol=1e-12)
    # the mean weighs each layer's own mean: sum / size per layer
    s = sum(wl * fl.mse(a, b, reduction="sum") / a.size for wl, a, b in zip(w, f, g))
    np.testing.assert_allclose(P(f, g, **params), s, rtol=1e-12)


def test_unit_weights_equal_no_weights_and_weights_scale():
    f, g, _ = case()
    assert P(f, g, layer_weights=[1.0, 1.0, 1.0]) == P(f, g)
    g1 = P.grad(f, g)
    g2 = P.grad(f, g, layer_weights=np.array([2.0, 0.0, 1.0]))
    np.testing.assert_array_equal(g2[0], 2.0 * g1[0])
    np.testing.assert_array_equal(g2[1], np.zeros_like(g1[1]))
    np.testing.assert_array_equal(g2[2], g1[2])


def test_one_layer_is_mse():
    x, y = np.linspace(0, 1, 11), np.linspace(1, 0, 11)
    assert P([x], [y]) == fl.mse(x, y)
    assert P((x,), (y,), p=1) == fl.mae(x, y)


# ------------------------------------------------------------ outputs, memory


def test_out_is_written_in_place():
    f, g, params = case()
    expected = P.grad(f, g, **params)
    out = [np.full_like(x, np.nan) for x in f]
    got = P.grad(f, g, out=out, **params)
    assert all(a is b for a, b in zip(got, out))
    for a, b in zip(out, expected):
        np.testing.assert_array_equal(a, b)
    out2 = tuple(np.empty_like(x) for x in f)
    v, got2 = P.value_and_grad(f, g, out=out2, **params)
    assert v == P(f, g, **params)
    assert all(np.shares_memory(a, b) for a, b in zip(got2, out2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2, 1.5])
def test_thread_count_does_not_change_a_bit(dtype, p):
    # layers above the kernels' serial threshold, so 2 and 7 threads split them
    f, g, params = case(dtype, n=60000, seed=5)
    params = dict(params, p=p)
    assert f[0].size > 100_000
    results = []
    for t in (1, 2, 7):
        fl.set_num_threads(t)
        results.append((P.value_and_grad(f, g, **params), P(f, g, reduction="none", **params)))
    for (v, gr), vn in results[1:]:
        (v0, g0), vn0 = results[0]
        assert v == v0
        for a, b in zip(gr + vn, g0 + vn0):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("p", [2, 0.5, 3])
def test_every_isa_level_gives_the_same_bits(p):
    from fastloss import _core

    f, g, params = case(np.float32, n=5000, seed=11)
    params = dict(params, p=p)
    chosen, results = _core.isa(), {}
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            results[level] = P.value_and_grad(f, g, **params)
    finally:
        _core.set_isa(chosen)
    v0, g0 = results["baseline"]
    for level, (v, gr) in results.items():
        assert v == v0, level
        for a, b in zip(gr, g0):
            np.testing.assert_array_equal(a, b, err_msg=level)


def test_layouts_dtypes_and_array_likes():
    f, g, params = case()
    v, gr = P.value_and_grad(f, g, **params)
    # strided and read-only copies of the same values, as tuples
    strided = tuple(np.repeat(x, 2, axis=-1)[..., ::2] for x in f)
    assert not strided[0].flags.c_contiguous
    ro = [x.copy() for x in g]
    for x in ro:
        x.flags.writeable = False
    v2, g2 = P.value_and_grad(strided, tuple(ro), **params)
    assert v2 == v
    for a, b in zip(g2, gr):
        np.testing.assert_array_equal(a, b)
    # nested lists of Python numbers read as float64
    assert P([x.tolist() for x in f], [x.tolist() for x in g], **params) == v


def test_each_layer_in_its_own_dtype():
    f, g, params = case()
    f32 = [f[0].astype(np.float32), f[1], f[2].astype(np.float32)]
    gr = P.grad(f32, g, **params)  # float64 targets converted to each pred's dtype
    assert [x.dtype for x in gr] == [np.float32, np.float64, np.float32]
    ints = [np.arange(6).reshape(2, 3)]
    assert P.grad(ints, [np.zeros((2, 3))])[0].dtype == np.float64


def test_nan_propagates():
    f, g, params = case()
    f = [x.copy() for x in f]
    f[1].flat[0] = np.nan
    assert np.isnan(P(f, g, **params))
    assert np.isnan(P(f, g, reduction="none", **params)[1].flat[0])
    gr = P.grad(f, g, **params)
    assert np.isnan(gr[1].flat[0]) and np.isfinite(gr[0]).all()


def test_an_empty_layer_gives_nan_as_its_mean_does():
    v = P([np.zeros(0), np.ones(2)], [np.zeros(0), np.zeros(2)])
    assert np.isnan(v)
    assert P([np.zeros(0), np.ones(2)], [np.zeros(0), np.zeros(2)], reduction="sum") == 2.0


# ------------------------------------------------------------------ bad input


def bad(exc, match, *args, verbs=("value", "grad", "value_and_grad"), **kw):
    for verb in verbs:
        fn = P if verb == "value" else getattr(P, verb)
        with pytest.raises(exc, match=match):
            fn(*args, **kw)


def test_bad_inputs_are_refused_naming_the_argument():
    f, g, _ = case()
    bad(TypeError, "pred_features: expected a list", f[0], g[0])
    bad(TypeError, "target_features: expected a list", f, g[0])
    bad(TypeError, "pred_features: expected a list", {"a": f[0]}, g)
    bad(ValueError, "pred_features: expected at least one", [], [])
    bad(ValueError, "target_features: expected 3 feature maps", f, g[:2])
    bad(ValueError, "target_features: expected 3 feature maps", f[:2] + [f[2]], g + [g[0]])
    bad(
        ValueError,
        r"pred_features\[1\] and target_features\[1\] must have the same shape",
        f,
        [g[0], g[1][:, :, :1], g[2]],
    )
    bad(TypeError, r"pred_features\[2\]", f[:2] + [np.array(["a", "b"])], g)
    bad(TypeError, r"target_features\[0\]", f, [g[0].astype(complex)] + g[1:])
    bad(TypeError, "missing required input", f)


@pytest.mark.parametrize(
    "weights, exc, match",
    [
        ([1.0, 2.0], ValueError, "layer_weights: expected 3 weights"),
        ([1.0, 2.0, 3.0, 4.0], ValueError, "layer_weights: expected 3 weights"),
        ([1.0, -0.5, 1.0], ValueError, "layer_weights must be finite and >= 0, got -0.5"),
        ([1.0, np.nan, 1.0], ValueError, "layer_weights must be finite and >= 0, got nan"),
        ([np.inf, 1.0, 1.0], ValueError, "layer_weights must be finite and >= 0, got inf"),
        (np.ones((3, 1)), ValueError, "layer_weights must be one-dimensional"),
        (2.0, TypeError, "layer_weights must be a sequence"),
        ("abc", TypeError, "layer_weights must be a sequence"),
        (["a", "b", "c"], TypeError, "layer_weights"),
    ],
)
def test_bad_layer_weights(weights, exc, match):
    f, g, _ = case()
    bad(exc, match, f, g, layer_weights=weights)


@pytest.mark.parametrize(
    "p, exc",
    [
        (0, ValueError),
        (-2, ValueError),
        (float("inf"), ValueError),
        (float("nan"), ValueError),
        (True, TypeError),
        ("2", TypeError),
        (None, TypeError),
    ],
)
def test_bad_p(p, exc):
    f, g, _ = case()
    bad(exc, "p must", f, g, p=p)


def test_p_as_a_float_or_numpy_number():
    f, g, _ = case()
    assert P(f, g, p=2.0) == P(f, g, p=np.int64(2)) == P(f, g)
    assert P(f, g, p=1.0) == P(f, g, p=1)


def test_other_bad_keywords():
    f, g, _ = case()
    bad(TypeError, "sample_weight: not supported", f, g, sample_weight=np.ones(3))
    bad(ValueError, "reduction must be", f, g, reduction="max")
    bad(TypeError, "unexpected keyword argument 'q'", f, g, q=2)
    with pytest.raises(ValueError, match="wrt: 'target_features' is not a differentiable"):
        P.grad(f, g, wrt="target_features")
    assert isinstance(P.grad(f, g, wrt="pred_features"), list)
    (gr,) = P.grad(f, g, wrt=("pred_features",))
    assert isinstance(gr, list) and len(gr) == 3
    with pytest.raises(TypeError, match="perceptual has no Hessian"):
        P.grad_hess(f, g)
    with pytest.raises(TypeError, match="has no reduction blocks"):
        P._blocks(f, g)
    with pytest.raises(ValueError, match="perceptual cannot be accumulated"):
        fl.Accumulator(P)


def test_bad_out_buffers():
    f, g, _ = case()
    outs = [np.empty_like(x) for x in f]
    bad(TypeError, "out: expected a list of 3 arrays", f, g, out=outs[:2], verbs=("grad",))
    bad(TypeError, "out: expected a list of 3 arrays", f, g, out=outs[0], verbs=("grad",))
    bad(
        ValueError,
        r"out\[1\]: expected shape",
        f,
        g,
        out=[outs[0], outs[0], outs[2]],
        verbs=("grad", "value_and_grad"),
    )
    wrong = [outs[0], outs[1].astype(np.float32), outs[2]]
    bad(TypeError, r"out\[1\]: expected dtype", f, g, out=wrong, verbs=("grad",))
    ro = [x.copy() for x in outs]
    ro[2].flags.writeable = False
    bad(ValueError, r"out\[2\]: is read-only", f, g, out=ro, verbs=("grad",))
    bad(
        ValueError,
        r"out\[0\] overlaps the input 'pred_features\[0\]'",
        f,
        g,
        out=[f[0], outs[1], outs[2]],
        verbs=("grad",),
    )
    bad(
        ValueError,
        r"out\[2\] overlaps the input 'target_features\[2\]'",
        f,
        g,
        out=[outs[0], outs[1], g[2]],
        verbs=("value_and_grad",),
    )


# ------------------------------------------------------------------ PyTorch

try:
    import torch
except ImportError:  # the peer (a test extra); the NumPy tests above run without it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def torch_formula(fs, gs, w, p, reduction):
    terms = [wl * (a - b).abs().pow(p) for wl, a, b in zip(w, fs, gs)]
    if reduction == "none":
        return terms
    red = (lambda t: t.mean()) if reduction == "mean" else (lambda t: t.sum())
    return sum(red(t) for t in terms)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("p", [1, 2, 0.5, 1.5, 3])
def test_matches_torch_autograd(dtype, reduction, p):
    f, g, params = case(dtype, seed=9)
    w = params["layer_weights"]
    tf = [torch.tensor(x, requires_grad=True) for x in f]
    tv = torch_formula(tf, [torch.tensor(x) for x in g], w, p, reduction)
    tv.backward()
    v, gr = P.value_and_grad(f, g, reduction=reduction, p=p, **params)
    np.testing.assert_allclose(v, tv.item(), rtol=rtol_for(dtype))
    close_lists(gr, [t.grad.numpy() for t in tf], dtype, "grad vs torch")


@needs_torch
@pytest.mark.parametrize("p", [1, 2, 0.5, 1.5, 3])
def test_none_matches_torch(p):
    f, g, params = case()
    w = params["layer_weights"]
    terms = torch_formula([torch.tensor(x) for x in f], [torch.tensor(x) for x in g], w, p, "none")
    close_lists(
        P(f, g, reduction="none", p=p, **params), [t.numpy() for t in terms], np.float64, "none"
    )


@needs_torch
def test_fastloss_torch_backpropagates_through_a_network():
    import fastloss.torch as flt

    torch.manual_seed(0)
    net = torch.nn.ModuleList(
        [
            torch.nn.Conv2d(3, 4, 3, dtype=torch.float64),
            torch.nn.Conv2d(4, 6, 3, dtype=torch.float64),
        ]
    )

    def features(x):
        out = []
        for layer in net:
            x = torch.relu(layer(x))
            out.append(x)
        return out

    x = torch.randn(2, 3, 10, 10, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    w = [1.0, 0.5]
    for p in (1, 2):
        with torch.no_grad():
            target = features(y)
        loss = flt.perceptual(features(x), target, layer_weights=w, p=p)
        grads = torch.autograd.grad(loss, [x, *net.parameters()])
        ref = torch_formula(features(x), target, w, p, "mean")
        ref_grads = torch.autograd.grad(ref, [x, *net.parameters()])
        np.testing.assert_allclose(loss.item(), ref.item(), rtol=1e-12)
        for a, b in zip(grads, ref_grads):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fastloss_torch_gradcheck(reduction):
    import fastloss.torch as flt

    f, g, params = case(np.float64, n=8, seed=2)
    tf = tuple(torch.tensor(x, requires_grad=True) for x in f)
    tg = [torch.tensor(x) for x in g]

    def fn(*xs):
        out = flt.perceptual(list(xs), tg, reduction=reduction, **params)
        return tuple(out) if reduction == "none" else out

    assert torch.autograd.gradcheck(fn, tf, eps=1e-6, atol=1e-6, rtol=1e-5)


@needs_torch
def test_fastloss_torch_module_and_refusals():
    import fastloss.torch as flt

    f, g, params = case()
    tf = [torch.tensor(x, requires_grad=True) for x in f]
    tg = [torch.tensor(x) for x in g]
    m = flt.PerceptualLoss(**params)
    v = m(tf, tg)
    assert v.item() == P(f, g, **params)
    # a second backward through the same graph recomputes the gradients
    v.backward(retain_graph=True)
    first = [t.grad.clone() for t in tf]
    v.backward()
    for t, a in zip(tf, first):
        np.testing.assert_allclose(t.grad.numpy(), 2 * a.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"target_features\[0\]: .* pass"):
        flt.perceptual(tf, [t.requires_grad_(True) for t in tg])
    with pytest.raises(TypeError, match="pred_features: expected a list"):
        flt.perceptual(tf[0], tg[0])
    with pytest.raises(TypeError, match="sample_weight"):
        flt.perceptual(tf, tg, sample_weight=torch.ones(3))
    with pytest.raises(ValueError, match="p must be > 0"):
        flt.PerceptualLoss(p=-3)


def test_other_powers_run_the_abs_power_kernel():
    # p not in {1, 2}: the C++ |r|^p kernel (catalogue id of perceptual);
    # hand-computed values, 0 gradient where f == g for every p (torch: NaN
    # for p < 1, the documented departure), inf for an infinite difference
    f, g = [np.array([1.0, 3.0, 2.0, 4.0])], [np.array([0.0, 1.0, 2.0, 8.0])]
    # |r|^p = exp(p log|r|): a few ulp from the exact power (4**3: 2 ulp)
    assert fl.perceptual(f, g, p=3, reduction="sum") == pytest.approx(73.0, rel=1e-14)
    (gr,) = fl.perceptual.grad(f, g, p=3, reduction="sum")
    np.testing.assert_allclose(gr, [3.0, 12.0, 0.0, -48.0], rtol=1e-14)
    for p in (0.5, 1.5):
        v, (d,) = fl.perceptual.value_and_grad(f, g, p=p, reduction="none")
        np.testing.assert_allclose(v[0], [1.0, 2.0**p, 0.0, 4.0**p], rtol=1e-14)
        assert d[2] == 0.0 and np.isfinite(d).all()
    big = [np.array([np.inf, -np.inf, np.nan])]
    v, (d,) = fl.perceptual.value_and_grad(big, [np.zeros(3)], p=1.5, reduction="none")
    assert v[0][0] == v[0][1] == np.inf and np.isnan(v[0][2])
    assert d[0] == np.inf and d[1] == -np.inf and np.isnan(d[2])
    assert fl.perceptual(f, g, p=2.0) == fl.mse(f[0], g[0])
    assert fl.perceptual(f, g, p=np.int64(1)) == fl.mae(f[0], g[0])
    assert "NaN for ``p < 1``" in fl.perceptual.__doc__
