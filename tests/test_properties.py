"""Properties every registered loss must have (sklearn test_loss.py style).

Parametrized over ``fastloss.available()``: a loss is tested here the moment
it is registered (and ``test_every_loss_has_a_case`` makes sure it can be).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fastloss as fl
import fastloss.reference as R
from cases import CASES, args, diff_inputs, grads, make
from fastloss._loss import ElementwiseLoss, prepare_weight

ALL = fl.available()
HESS = [n for n in ALL if fl.get(n).has_hess]
DTYPES = [np.float32, np.float64]
REDUCTIONS = ["mean", "sum", "none"]


def rtol_for(dtype):
    return 1e-10 if np.dtype(dtype) == np.float64 else 2e-5


def assert_close(actual, expected, dtype, what=""):
    # a reduced value is a Python float; reduction="none" of a loss with one
    # value per call is a 0-d array (the reference returns an array then)
    if np.isscalar(expected) or (np.ndim(expected) == 0 and not isinstance(expected, np.ndarray)):
        assert isinstance(actual, float), f"{what}: expected a Python float, got {type(actual)}"
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    rtol = rtol_for(dtype)
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]))) if finite.any() else 1.0
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=rtol * scale + 1e-300, err_msg=what
    )


def in_dtype(params, dtype):
    """The scalar parameters as a kernel of ``dtype`` uses them: a float32
    kernel computes with float32(margin), float32(delta)... (as PyTorch does
    with a Python float), so the float64 reference gets the same values; else
    a score within float32 rounding of the margin is a cancellation the
    reference would resolve differently."""
    return {k: (float(dtype(v)) if isinstance(v, float) else v) for k, v in params.items()}


def weights_for(loss, pred, target, params, rng):
    shape = np.shape(loss(*args(pred, target), reduction="none", **params))
    return rng.uniform(0.1, 2.0, size=shape).astype(pred.dtype)


def test_every_loss_has_a_case_and_reference():
    assert ALL, "empty catalogue"
    for n in ALL:
        assert n in CASES, f"no test case for {n}: add one to tests/cases.py"
        assert R.get(n) is not None
        assert fl.get(n).__doc__ and len(fl.get(n).__doc__) > 200, f"{n}: missing docstring"
        assert fl.get(n).peer, f"{n}: no peer named"


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_reference(name, dtype, reduction, weighted, rng):
    loss, ref = fl.get(name), R.get(name)
    pred, target, params = make(name, rng, dtype)
    w = weights_for(loss, pred, target, params, rng) if weighted else None
    v, g = loss.value_and_grad(*args(pred, target), reduction=reduction, sample_weight=w, **params)
    rv, rg = ref.value_and_grad(
        *args(pred, target), reduction=reduction, sample_weight=w, **in_dtype(params, dtype)
    )
    assert_close(v, rv, dtype, f"{name} value")
    for (k, x), gk, rgk in zip(diff_inputs(name, pred, params, target), grads(g), grads(rg)):
        assert_close(gk, rgk, dtype, f"{name} grad w.r.t. {k}")
        assert gk.dtype == np.dtype(dtype) and gk.shape == np.shape(x)
    if reduction == "none":
        assert v.dtype == np.dtype(dtype)
    if loss.has_hess:
        gh, hh = loss.grad_hess(*args(pred, target), reduction=reduction, sample_weight=w, **params)
        rgh, rhh = ref.grad_hess(
            *args(pred, target), reduction=reduction, sample_weight=w, **in_dtype(params, dtype)
        )
        assert_close(gh, rgh, dtype, f"{name} grad_hess grad")
        assert_close(hh, rhh, dtype, f"{name} grad_hess hess")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.one_of(st.integers(1, 50), st.integers(1000, 6000)),
    dtype=st.sampled_from(DTYPES),
    reduction=st.sampled_from(REDUCTIONS),
    weighted=st.booleans(),
    strided=st.booleans(),
)
# hinge: a float32 score 3e-5 below the margin 0.8 (see in_dtype)
@example(seed=39916801, n=1, dtype=np.float32, reduction="mean", weighted=False, strided=False)
@pytest.mark.parametrize("name", ALL)
def test_random_inputs_hypothesis(name, seed, n, dtype, reduction, weighted, strided):
    rng = np.random.default_rng(seed)
    loss, ref = fl.get(name), R.get(name)
    pred, target, params = make(name, rng, dtype, n)
    w = weights_for(loss, pred, target, params, rng) if weighted else None
    if strided:  # same values, non-contiguous memory
        pred = np.repeat(pred, 2, axis=-1)[..., ::2]
        assert not pred.flags.c_contiguous
    v, g = loss.value_and_grad(*args(pred, target), reduction=reduction, sample_weight=w, **params)
    rv, rg = ref.value_and_grad(
        *args(pred, target), reduction=reduction, sample_weight=w, **in_dtype(params, dtype)
    )
    assert_close(v, rv, dtype, f"{name} value")
    for k, gk, rgk in zip(fl.get(name).wrt, grads(g), grads(rg)):
        assert_close(gk, rgk, dtype, f"{name} grad w.r.t. {k}")


EXACT_GRAD = [n for n in ALL if fl.get(n).grad_exact]


@pytest.mark.parametrize("name", EXACT_GRAD)
def test_reference_grad_matches_finite_differences(name):
    rng = np.random.default_rng(7)
    ref = R.get(name)
    pred, target, params = make(name, rng, np.float64, 6)
    g = grads(ref.grad(*args(pred, target), reduction="sum", **params))
    for j, (k, x) in enumerate(diff_inputs(name, pred, params, target)):
        x = np.asarray(x, dtype=np.float64)
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        fd = np.empty_like(x)
        for i in range(x.size):

            def f(d, i=i, j=j, k=k, x=x):
                xi = x.copy()
                xi.flat[i] += d
                pos = fl.get(name).inputs.index(k)
                if pos == 0:
                    return ref(*args(xi, target), reduction="sum", **params)
                if pos == 1:
                    return ref(*args(pred, xi), reduction="sum", **params)
                return ref(*args(pred, target), reduction="sum", **{**params, k: xi})

            hi = h.flat[i]
            fd.flat[i] = (-f(2 * hi) + 8 * f(hi) - 8 * f(-hi) + f(-2 * hi)) / (12 * hi)
        np.testing.assert_allclose(
            g[j],
            fd,
            rtol=1e-6,
            atol=1e-7 * max(1.0, np.max(np.abs(fd))),
            err_msg=f"{name} w.r.t. {k}",
        )


@pytest.mark.parametrize("name", HESS)
def test_reference_hess_matches_finite_differences(name):
    rng = np.random.default_rng(8)
    ref = R.get(name)
    pred, target, params = make(name, rng, np.float64, 6)
    _, hess = ref.grad_hess(*args(pred, target), reduction="none", **params)
    step = 1e-5 * np.maximum(1.0, np.abs(pred))
    # one element at a time: a row loss's gradient at k depends on the whole
    # row, and the Hessian returned is the diagonal d g_k / d pred_k
    fd = np.empty_like(pred)
    for i in range(pred.size):
        e = np.zeros_like(pred)
        e.flat[i] = step.flat[i]
        gp = grads(ref.grad(*args(pred + e, target), reduction="none", **params))[0]
        gm = grads(ref.grad(*args(pred - e, target), reduction="none", **params))[0]
        fd.flat[i] = (gp.flat[i] - gm.flat[i]) / (2 * step.flat[i])
    if fl.get(name).hess_exact:
        np.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-6)
    else:  # an approximation must at least be positive where the loss is convex
        assert np.all(hess >= 0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_equals_separate(name, reduction, weighted, rng):
    # A weighted mean's value alone takes the weight sum in its own pass;
    # value_and_grad and grad sum the weights first. Same bits, over several
    # reduction blocks (9000 samples).
    loss = fl.get(name)
    pred, target, params = make(name, rng, n=9000 if weighted else 40)
    if weighted:
        shape = np.shape(loss(*args(pred, target), reduction="none", **params))
        params["sample_weight"] = rng.uniform(0.1, 3.0, size=shape).astype(pred.dtype)
    v, g = loss.value_and_grad(*args(pred, target), reduction=reduction, **params)
    np.testing.assert_array_equal(v, loss(*args(pred, target), reduction=reduction, **params))
    sep = grads(loss.grad(*args(pred, target), reduction=reduction, **params))
    for gk, sk in zip(grads(g), sep):
        np.testing.assert_array_equal(gk, sk)
    for i, k in enumerate(loss.wrt):  # each input alone, through wrt=
        one = loss.grad(*args(pred, target), reduction=reduction, wrt=k, **params)
        np.testing.assert_array_equal(one, grads(g)[i])
    if loss.has_hess:
        gh, _ = loss.grad_hess(*args(pred, target), reduction=reduction, **params)
        np.testing.assert_allclose(gh, grads(g)[0], rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ALL)
def test_out_is_written_in_place(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    xs = [np.asarray(x) for _, x in diff_inputs(name, pred, params, target)]
    outs = tuple(np.full(x.shape, np.nan, pred.dtype) for x in xs)
    out = outs if loss._multi else outs[0]
    g = loss.grad(*args(pred, target), out=out, **params)
    assert g is out or all(a is b for a, b in zip(g, out))
    for gk, ok, ek in zip(grads(g), outs, grads(loss.grad(*args(pred, target), **params))):
        assert np.shares_memory(gk, ok)
        np.testing.assert_array_equal(ok, ek)
    outs2 = tuple(np.full_like(o, np.nan) for o in outs)
    v, g2 = loss.value_and_grad(
        *args(pred, target), out=outs2 if loss._multi else outs2[0], **params
    )
    assert all(a is b for a, b in zip(grads(g2), outs2))
    if loss.has_hess:
        bufs = (np.empty_like(pred), np.empty_like(pred))
        gh = loss.grad_hess(*args(pred, target), out=bufs, **params)
        assert gh[0] is bufs[0] and gh[1] is bufs[1]


@pytest.mark.parametrize("name", ALL)
def test_unit_weights_equal_unweighted(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    ones = np.ones(np.shape(loss(*args(pred, target), reduction="none", **params)))
    for red in REDUCTIONS:
        a = loss.value_and_grad(*args(pred, target), reduction=red, **params)
        b = loss.value_and_grad(*args(pred, target), reduction=red, sample_weight=ones, **params)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-14)
        for ga, gb in zip(grads(a[1]), grads(b[1])):
            np.testing.assert_allclose(ga, gb, rtol=1e-14)


@pytest.mark.parametrize("name", ALL)
def test_sum_is_mean_times_count(name, rng):
    loss = fl.get(name)
    if not loss._mean_over_samples:
        pytest.skip(
            f"{name}'s mean does not divide by the number of samples (its own tests check it)"
        )
    pred, target, params = make(name, rng)
    n = np.size(loss(*args(pred, target), reduction="none", **params))
    s = loss(*args(pred, target), reduction="sum", **params)
    m = loss(*args(pred, target), reduction="mean", **params)
    assert s == pytest.approx(m * n, rel=1e-12)
    gs = loss.grad(*args(pred, target), reduction="sum", **params)
    gm = loss.grad(*args(pred, target), reduction="mean", **params)
    for a, b in zip(grads(gs), grads(gm)):
        np.testing.assert_allclose(a, b * n, rtol=1e-12)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_a_bit(name, dtype):
    loss = fl.get(name)
    rng = np.random.default_rng(3)
    pred, target, params = make(name, rng, dtype, 60000)
    results = []
    for t in (1, 2, 7):
        fl.set_num_threads(t)
        v, g = loss.value_and_grad(*args(pred, target), **params)
        vn = loss(*args(pred, target), reduction="none", **params)
        results.append((v, g, vn))
    for v, g, vn in results[1:]:
        assert v == results[0][0]
        for a, b in zip(grads(g), grads(results[0][1])):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(vn, results[0][2])


@pytest.mark.parametrize("name", ALL)
def test_nan_propagates(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    pred = pred.copy()
    pred.flat[0] = np.nan
    assert np.isnan(loss(*args(pred, target), **params))
    assert np.isnan(loss(*args(pred, target), reduction="none", **params)).any()
    assert np.isnan(grads(loss.grad(*args(pred, target), **params))[0].flat[0])


@pytest.mark.parametrize("name", ALL)
def test_non_contiguous_and_readonly_inputs(name, rng, tmp_path):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    expected = loss.value_and_grad(*args(pred, target), **params)
    # every second element of a twice-as-wide array: the same values with a
    # stride of two elements on the last axis (and larger ones above it)
    big = np.repeat(pred, 2, axis=-1)[..., ::2]
    assert np.array_equal(big, pred) and not np.shares_memory(big, pred)
    assert big.strides[-1] == 2 * pred.itemsize and not big.flags.c_contiguous
    v, g = loss.value_and_grad(*args(big, target), **params)
    assert v == expected[0]
    for gk, ek in zip(grads(g), grads(expected[1])):
        np.testing.assert_array_equal(gk, ek)
    # Fortran order and reversed views hold the same values
    pf = np.asfortranarray(pred)
    v, g = loss.value_and_grad(*args(pf, target), **params)
    assert v == expected[0]
    np.testing.assert_array_equal(grads(g)[0], grads(expected[1])[0])
    # a reversed view of a reversed copy: the target's values, negative strides
    if target is not None:
        tr = np.flip(np.flip(target, 0).copy(), 0)
        assert np.array_equal(tr, target) and not tr.flags.c_contiguous
        v, g = loss.value_and_grad(pred, tr, **params)
        assert v == expected[0]
        np.testing.assert_array_equal(grads(g)[0], grads(expected[1])[0])
    ro = pred.copy()
    ro.flags.writeable = False
    assert loss(*args(ro, target), **params) == expected[0]
    mm = np.lib.format.open_memmap(
        tmp_path / "p.npy", mode="w+", dtype=pred.dtype, shape=pred.shape
    )
    mm[...] = pred
    mm.flush()
    mr = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert loss(*args(mr, target), **params) == expected[0]
    del mm, mr


def _with_input(loss, pred, target, params, k, x):
    """The call's positional inputs and keywords with input ``k`` set to x."""
    pos = loss.inputs.index(k)
    if pos == 0:
        pred = x
    elif pos == 1:
        target = x
    else:
        params = {**params, k: x}
    return args(pred, target), params


@pytest.mark.parametrize("name", ALL)
def test_every_differentiable_input_strided_and_nan(name, rng):
    # the strided-view and NaN properties over every differentiable input,
    # not only the first: a strided copy gives the same bits (value and every
    # gradient), a NaN in it gives a NaN value
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    expected = loss.value_and_grad(*args(pred, target), **params)
    tried = 0
    for k, x in diff_inputs(name, pred, params, target):
        if not isinstance(x, np.ndarray) or x.ndim == 0 or x.size == 0:
            continue
        tried += 1
        big = np.repeat(x, 2, axis=-1)[..., ::2]
        assert np.array_equal(big, x, equal_nan=True)
        assert x.shape[-1] == 1 or not big.flags.c_contiguous
        a, kw = _with_input(loss, pred, target, params, k, big)
        v, g = loss.value_and_grad(*a, **kw)
        assert v == expected[0], k
        for gk, ek in zip(grads(g), grads(expected[1])):
            np.testing.assert_array_equal(gk, ek, err_msg=k)
        bad = x.astype(np.float64 if x.dtype.kind != "f" else x.dtype, copy=True)
        bad.flat[0] = np.nan
        a, kw = _with_input(loss, pred, target, params, k, bad)
        assert np.isnan(loss(*a, **kw)), k
    assert tried >= 1


@pytest.mark.parametrize("name", ALL)
def test_dtype_is_kept_and_other_reals_converted(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng, np.float32)
    assert all(g.dtype == np.float32 for g in grads(loss.grad(*args(pred, target), **params)))
    v = loss(*args(pred, target), **params)
    assert isinstance(v, float)
    p16 = pred.astype(np.float16)  # computed in float32 (README: float16 gives float32)
    assert grads(loss.grad(*args(p16, target), **params))[0].dtype == np.float32
    assert loss(*args(pred.tolist(), target), **params) == pytest.approx(v, rel=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_pickle_and_metadata(name):
    loss = fl.get(name)
    assert pickle.loads(pickle.dumps(loss)) is loss
    assert loss.name == name and repr(loss).startswith("<fastloss.")
    assert isinstance(loss.params, dict) or hasattr(loss.params, "items")


@pytest.mark.parametrize("name", ALL)
def test_every_isa_level_gives_the_same_bits(name):
    from fastloss import _core

    loss = fl.get(name)
    rng = np.random.default_rng(11)
    pred, target, params = make(name, rng, np.float32, 5000)
    p64 = pred.astype(np.float64)
    t64 = target if target is None or target.dtype.kind != "f" else target.astype(np.float64)
    w = weights_for(loss, p64, t64, params, rng)
    chosen = _core.isa()
    results = {}
    # every reduction, weights and the Hessian at every level (CI runs the
    # suite once, at the best level: this is where the others are checked)
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            r = [
                loss.value_and_grad(*args(pred, target), **params),
                loss.value_and_grad(*args(p64, t64), **params),
                loss.value_and_grad(*args(p64, t64), reduction="none", **params),
                loss.value_and_grad(*args(p64, t64), reduction="sum", sample_weight=w, **params),
            ]
            if loss.has_hess:
                r.append(loss.grad_hess(*args(pred, target), reduction="none", **params))
            results[level] = r
    finally:
        _core.set_isa(chosen)
    base = results["baseline"]
    for level, r in results.items():
        for (v, g), (bv, bg) in zip(r, base):
            for a, b in zip([v, *grads(g)], [bv, *grads(bg)]):
                a, b = np.asarray(a), np.asarray(b)
                assert a.dtype == b.dtype and a.shape == b.shape, level
                assert a.tobytes() == b.tobytes(), level


ELEMENTWISE = [n for n in ALL if isinstance(fl.get(n), ElementwiseLoss)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_broadcast_sample_weights_give_the_bits_of_the_full_array(name, dtype):
    # Weights that repeat one block along the per-sample shape (a scalar,
    # whole samples, trailing axes, one middle axis) reach element-wise
    # kernels as a pattern, expanded per chunk, and the mean's weight sum is
    # taken over the pattern; (A, 1, C) is materialized. Each form must give
    # the bits of the materialized array: every verb and reduction, on 1 and
    # 2 threads, over several reduction blocks (18000 elements).
    rng = np.random.default_rng(11)
    pred, target, params = make(name, rng, dtype, 6000)
    shape = (600, 10, pred.shape[1])
    pred, target = pred.reshape(shape), target.reshape(shape)
    params = {
        k: v.reshape(shape) if getattr(v, "shape", None) == (6000, shape[2]) else v
        for k, v in params.items()
    }
    loss = fl.get(name)
    forms = [
        (),
        (1,),
        (600,),
        (600, 10),
        (shape[2],),
        (10, shape[2]),
        (1, 10, 1),
        (600, 1, shape[2]),
    ]
    for threads in (1, 2):
        fl.set_num_threads(threads)
        for form in forms:
            w = rng.uniform(0.2, 2.0, size=form).astype(dtype)
            if 0 < len(form) < 3 and form == shape[: len(form)]:  # weighs whole samples
                wb = w.reshape(form + (1,) * (3 - len(form)))
            else:
                wb = w
            full = np.ascontiguousarray(np.broadcast_to(wb, shape))
            as_pattern = isinstance(prepare_weight(w, shape, w.dtype, pattern=True), tuple)
            assert as_pattern == (form != (600, 1, shape[2])), form
            for red in REDUCTIONS:
                a = loss.value_and_grad(
                    *args(pred, target), reduction=red, sample_weight=w, **params
                )
                b = loss.value_and_grad(
                    *args(pred, target), reduction=red, sample_weight=full, **params
                )
                what = f"{name} weights {form} {red} on {threads} threads"
                assert np.asarray(a[0]).tobytes() == np.asarray(b[0]).tobytes(), what
                for ga, gb in zip(grads(a[1]), grads(b[1])):
                    assert ga.tobytes() == gb.tobytes(), what
                v = loss(*args(pred, target), reduction=red, sample_weight=w, **params)
                assert np.asarray(v).tobytes() == np.asarray(a[0]).tobytes(), what
                if loss.has_hess:
                    a = loss.grad_hess(
                        *args(pred, target), reduction=red, sample_weight=w, **params
                    )
                    b = loss.grad_hess(
                        *args(pred, target), reduction=red, sample_weight=full, **params
                    )
                    assert a[0].tobytes() == b[0].tobytes(), what
                    assert a[1].tobytes() == b[1].tobytes(), what


@pytest.mark.parametrize(
    "family, kernel_id, arg, only_here",
    [
        (0, 0, "sample_weight", [(None, 3, 4)]),  # mse's weights
        (1, 1, "aux", []),  # binary_cross_entropy_with_logits's pos_weight
    ],
    ids=["sample_weight", "aux"],
)
def test_pattern_arguments_are_checked_by_the_binding(family, kernel_id, arg, only_here):
    """A (values, period, repeat) pattern argument of the binding, weights or an
    auxiliary input, is checked there whatever the caller."""
    from fastloss import _core

    x = np.zeros(12)
    g = np.empty(12)
    for bad in (
        (np.ones(3), 0, 1),
        (np.ones(5), 5, 1),
        (np.ones(3), 3, 5),
        (np.ones(2), 3, 1),
        (np.ones(3),),
        *only_here,
    ):
        with pytest.raises(ValueError, match=arg):
            _core.run(family, kernel_id, 1, 1, x, target=x, out_grad=g, **{arg: bad})
