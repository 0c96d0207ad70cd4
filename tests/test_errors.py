"""Bad input gets a clear ValueError/TypeError naming what is wrong: for every loss."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastloss as fl
from cases import INDEPENDENT_SHAPES, args, diff_inputs, make

ALL = fl.available()


def _setup(name, rng):
    """The loss called ``name`` and its test inputs: (loss, pred, target, params)."""
    return (fl.get(name), *make(name, rng))


@pytest.mark.parametrize("name", ALL)
def test_unknown_reduction(name, rng):
    loss, pred, target, params = _setup(name, rng)
    for bad in ("avg", "batchmean", None, 1, ["mean"]):
        with pytest.raises(ValueError, match="reduction must be"):
            loss(*args(pred, target), reduction=bad, **params)


@pytest.mark.parametrize("name", ALL)
def test_unknown_keyword(name, rng):
    loss, pred, target, params = _setup(name, rng)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nonsense'"):
        loss(*args(pred, target), nonsense=1.0, **params)


@pytest.mark.parametrize("name", ALL)
def test_mismatched_shapes(name, rng):
    loss, pred, target, params = _setup(name, rng)
    if target is None or name in INDEPENDENT_SHAPES:
        pytest.skip(f"{name}: no second input whose shape is tied to the first's")
    # ctc's logits are (T, N, C): a longer T is valid, more sequences are not
    bigger = np.concatenate([pred, pred], axis=1 if name == "ctc" else 0)
    with pytest.raises(ValueError, match=r"shape"):
        loss(bigger, target, **params)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([1 + 2j, 3j]), object()])
def test_non_numeric_pred(name, bad, rng):
    loss, _, target, params = _setup(name, rng)
    with pytest.raises(TypeError, match=loss.pred_name):
        loss(bad, target, **params)


@pytest.mark.parametrize("name", ALL)
def test_non_numeric_target(name, rng):
    loss, pred, target, params = _setup(name, rng)
    if target is None:
        pytest.skip(f"{name} has one input (test_non_numeric_pred covers it)")
    bad = np.full(np.shape(target), "x")
    with pytest.raises(TypeError, match=loss.target_name):
        loss(pred, bad, **params)


@pytest.mark.parametrize("name", ALL)
def test_wrong_weight_shape(name, rng):
    loss, pred, target, params = _setup(name, rng)
    shape = np.shape(loss(*args(pred, target), reduction="none", **params))
    w = np.ones(tuple(s + 1 for s in shape) or (3,))
    with pytest.raises(ValueError, match="sample_weight"):
        loss(*args(pred, target), sample_weight=w, **params)
    with pytest.raises(TypeError, match="sample_weight"):
        loss(*args(pred, target), sample_weight=np.full(shape, "w"), **params)


@pytest.mark.parametrize("name", ALL)
def test_bad_out_buffers(name, rng):
    loss, pred, target, params = _setup(name, rng)
    # the first differentiable input (pred, or kmeans_inertia's centers)
    x = diff_inputs(name, pred, params, target)[0][1]
    if len(loss.wrt) > 1:  # one array for out: name the one input it is for
        params["wrt"] = loss.wrt[0]
    with pytest.raises(ValueError, match="out: expected shape"):
        loss.grad(*args(pred, target), out=np.empty(x.size + 1, x.dtype), **params)
    with pytest.raises(TypeError, match="out: expected dtype"):
        loss.grad(*args(pred, target), out=np.empty(x.shape, np.float32), **params)
    with pytest.raises(TypeError, match="out: expected a NumPy array"):
        loss.grad(*args(pred, target), out=[0.0] * x.size, **params)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        loss.value_and_grad(*args(pred, target), out=ro, **params)
    nc = np.empty(x.shape + (2,), x.dtype)[..., 0]
    with pytest.raises(ValueError, match="C-contiguous"):
        loss.grad(*args(pred, target), out=nc, **params)


@pytest.mark.parametrize("name", [n for n in ALL if not fl.get(n).has_hess])
def test_grad_hess_refused_without_hessian(name, rng):
    loss, pred, target, params = _setup(name, rng)
    with pytest.raises(TypeError, match="no Hessian"):
        loss.grad_hess(*args(pred, target), **params)


@pytest.mark.parametrize("name", [n for n in ALL if fl.get(n).has_hess])
def test_grad_hess_out_must_be_a_pair(name, rng):
    loss, pred, target, params = _setup(name, rng)
    with pytest.raises(TypeError, match="pair"):
        loss.grad_hess(*args(pred, target), out=np.empty_like(pred), **params)


@pytest.mark.parametrize("name", [n for n in ALL if fl.get(n).params])
def test_parameter_of_wrong_type(name, rng):
    loss, pred, target, params = _setup(name, rng)
    for k, default in loss.params.items():
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            with pytest.raises(TypeError, match=k):
                loss(*args(pred, target), **{**params, k: "1.0"})


def test_get_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss 'msee'.*mse"):
        fl.get("msee")


def test_positional_keywords_refused(rng):
    pred, target, _ = make("huber", rng)
    with pytest.raises(TypeError):
        fl.huber(pred, target, "mean")  # reduction is keyword-only


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_huber_delta_must_be_positive(bad, rng):
    pred, target, _ = make("huber", rng)
    with pytest.raises(ValueError, match="delta"):
        fl.huber(pred, target, delta=bad)


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
def test_smooth_l1_beta_must_be_positive(bad, rng):
    pred, target, _ = make("smooth_l1", rng)
    with pytest.raises(ValueError, match="beta"):
        fl.smooth_l1(pred, target, beta=bad)


def test_set_num_threads_rejects_bad_values():
    with pytest.raises(TypeError, match="n must be"):
        fl.set_num_threads(1.5)
    with pytest.raises(ValueError, match="n must be >= 0"):
        fl.set_num_threads(-2)


def test_core_rejects_unsafe_arrays_directly():
    # The C++ layer checks its own preconditions: wrong sizes or dtypes passed
    # straight to the binding raise instead of reading out of bounds.
    from fastloss import _core

    p = np.zeros(10)
    with pytest.raises(ValueError, match="target: expected 10 elements"):
        _core.run(0, 0, 0, 2, p, target=np.zeros(9))
    with pytest.raises(TypeError, match="target: dtype"):
        _core.run(0, 0, 0, 2, p, target=np.zeros(10, np.float32))
    with pytest.raises(ValueError, match="out_grad is required"):
        _core.run(0, 0, 1, 2, p, target=p)
    with pytest.raises(ValueError, match="no Hessian"):  # gaussian_nll's var kernel
        _core.run(0, 12, 3, 0, p, target=p, aux=p, out_grad=np.empty(10), out_hess=np.empty(10))
    with pytest.raises(ValueError, match="out_hess is required"):
        _core.run(0, 0, 3, 0, p, target=p, out_grad=np.empty(10))
    with pytest.raises(ValueError, match="unknown kernel family"):
        _core.run(99, 0, 0, 2, p, target=p)  # codes up to 15 are assigned
    with pytest.raises(TypeError, match="incompatible"):  # a name that is not one
        _core.run(0, 0, 0, 2, p, targte=p)


def test_checked_parameters_are_not_confused_across_calls():
    """The hot path reuses checked keywords: equal-comparing values of other types must
    still be checked on their own (1 == 1.0 == True)."""
    p, t = np.zeros(4), np.ones(4)
    assert fl.huber(p, t, delta=1) == fl.huber(p, t, delta=1.0)
    with pytest.raises(TypeError, match="delta must be a real number"):
        fl.huber(p, t, delta=True)
    assert fl.huber(p, t, delta=0.5) != fl.huber(p, t, delta=2.0)
    with pytest.raises(ValueError, match="delta must be > 0"):
        fl.huber(p, t, delta=-0.5)
    for _ in range(100):  # more distinct keywords than the cache holds
        fl.huber(p, t, delta=float(np.random.default_rng().uniform(0.1, 9)))
    assert fl.huber(p, t, delta=0.5) == fl.reference.huber(p, t, delta=0.5)


def test_bindings_refuse_non_arrays_where_arrays_go():
    p = np.zeros(3)
    with pytest.raises(TypeError, match="target: expected a NumPy array"):
        fl._core.run(0, fl.mse._id, 0, 2, p, target=[0.0, 1.0, 2.0])


@pytest.mark.parametrize("name", ALL)
def test_out_overlapping_an_input_is_refused(name, rng):
    # A kernel writes its gradient while it still reads its inputs: an out=
    # buffer over an input's memory (the same array, or shifted by one
    # element) would give wrong numbers silently. Refused, naming out.
    loss, pred, target, params = _setup(name, rng)
    kw = {"wrt": loss.wrt[0]} if len(loss.wrt) > 1 else {}
    pred = np.ascontiguousarray(pred)
    want = loss.value_and_grad(*args(pred, target), **params, **kw)
    arrays = {loss.pred_name: pred}
    if (
        isinstance(target, np.ndarray)
        and target.dtype == pred.dtype
        and (target.shape == pred.shape)
    ):
        arrays[loss.target_name] = np.ascontiguousarray(target)
    for k, v in params.items():
        if isinstance(v, np.ndarray) and v.dtype == pred.dtype and v.shape == pred.shape:
            arrays[k] = np.ascontiguousarray(v)
    for which, x in arrays.items():
        for shift in (0, 1):  # the same memory, and shifted one element over it
            buf = np.concatenate([x.ravel(), x.ravel()[:1]])
            xin = buf[:-1].reshape(x.shape)  # the input, the values of x
            out = buf[shift : shift + x.size].reshape(x.shape)
            call = {loss.pred_name: pred, **params}
            if target is not None:
                call[loss.target_name] = target
            call[which] = xin
            pos = [call.pop(n) for n in loss.inputs[: 1 if target is None else 2]]
            with pytest.raises(ValueError, match="out"):
                loss.value_and_grad(*pos, out=out, **call, **kw)
    # the inputs were left as they were
    assert loss.value_and_grad(*args(pred, target), **params, **kw)[0] == want[0]
    w = np.ones(np.shape(loss(*args(pred, target), reduction="none", **params)), pred.dtype)
    if w.shape == pred.shape:
        with pytest.raises(ValueError, match="out"):
            loss.grad(*args(pred, target), sample_weight=w, out=w, **params, **kw)
    if loss.has_hess:
        b = np.empty_like(pred)
        with pytest.raises(ValueError, match="overlap"):
            loss.grad_hess(*args(pred, target), out=(b, b), **params)


def _array_param_cases(rng):
    """(loss, positional inputs, array parameter name, its value) for every
    loss that takes an array-valued parameter the kernel reads."""
    z = rng.normal(size=(40, 3))
    lab = rng.integers(0, 3, 40)
    cw = np.array([0.5, 2.0, 1.5])
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    y = (rng.random((40, 3)) > 0.5).astype(float)
    h, wt = rng.normal(size=(40, 4)), rng.normal(size=(3, 4))
    return [
        (fl.cross_entropy, (z, lab), "class_weight", cw),
        (fl.nll, (logp, lab), "class_weight", cw),
        (fl.softmax_focal, (z, lab), "class_weight", cw),
        (fl.multilabel_soft_margin, (z, y), "class_weight", cw),
        (fl.binary_cross_entropy_with_logits, (z, y), "pos_weight", cw),
        (fl.linear_cross_entropy, (h, wt, lab), "class_weight", cw),
    ]


def test_out_overlapping_an_array_parameter_is_refused(rng):
    # class_weight / pos_weight are read by the kernel while it writes the
    # gradient: out= over their memory would change the weights mid-call.
    cases = _array_param_cases(rng)
    with_array = {
        (L.name, k)
        for L in map(fl.get, ALL)
        for k, p in L._params.items()
        if k in ("class_weight", "pos_weight")
    }
    assert {(L.name, k) for L, _, k, _ in cases} == with_array  # a new one: add a row
    for loss, pos, k, v in cases:
        wrt = loss.wrt[0]
        want = loss.value_and_grad(*pos, **{k: v}, wrt=wrt)
        buf = np.zeros(pos[0].shape)
        buf.flat[: v.size] = v
        with pytest.raises(ValueError, match=f"out overlaps the input '{k}'"):
            loss.value_and_grad(*pos, out=buf, **{k: buf.ravel()[: v.size]}, wrt=wrt)
        # a separate buffer computes the same result as a fresh one
        out = np.empty(pos[0].shape)
        v2, g2 = loss.value_and_grad(*pos, out=out, **{k: v.copy()}, wrt=wrt)
        assert g2 is out and v2 == want[0] and np.array_equal(want[1], g2)


# ---------------------------------------------------------------- issue 19's defects


def test_weights_that_could_mean_rows_or_columns_are_refused():
    # (C,) weights on (N, C) per-sample losses: NumPy broadcasting (columns)
    # when N != C, but scikit-learn's per-sample reading (rows) would apply
    # when N == C. The same weights must not change meaning with the batch
    # size: the ambiguous case is refused, both unambiguous forms work.
    rng = np.random.default_rng(0)
    for n, c in ((3, 4), (4, 4)):
        p, t = rng.normal(size=(n, c)), rng.normal(size=(n, c))
        cols = rng.uniform(0.5, 2.0, size=c)
        want_cols = np.sum((p - t) ** 2 * cols) / np.sum(np.broadcast_to(cols, (n, c)))
        if n == c:
            with pytest.raises(ValueError, match="sample_weight.*reshape it to"):
                fl.mse(p, t, sample_weight=cols)
        else:
            assert fl.mse(p, t, sample_weight=cols) == pytest.approx(want_cols, rel=1e-12)
        assert fl.mse(p, t, sample_weight=cols[None, :]) == pytest.approx(want_cols, rel=1e-12)
        rows = rng.uniform(0.5, 2.0, size=n)
        want_rows = np.sum((p - t) ** 2 * rows[:, None]) / (c * np.sum(rows))
        assert fl.mse(p, t, sample_weight=rows[:, None]) == pytest.approx(want_rows, rel=1e-12)
        if n != c:  # (N,) against (N, C), N != C: only the per-sample reading applies
            assert fl.mse(p, t, sample_weight=rows) == pytest.approx(want_rows, rel=1e-12)


@pytest.mark.parametrize("name", ["cross_entropy", "multiclass_hinge", "softmax_focal", "brier"])
def test_labels_are_checked_as_passed_not_after_a_cast(name):
    loss = fl.get(name)
    z = np.zeros((2, 3))
    # 2**64 - 100 as uint64 would wrap to -100 (cross_entropy's ignore_index)
    with pytest.raises(ValueError, match=f"{loss.target_name}: label 18446744073709551516"):
        loss(z, np.array([0, 2**64 - 100], dtype=np.uint64))
    with pytest.raises(ValueError, match="out of range"):
        loss(z, np.array([0.0, 1e20]))
    with pytest.raises(ValueError, match="finite"):
        loss(z, np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="integer class labels"):
        loss(z, np.array([0.0, 0.5]))
    # a label out of range names the loss's own argument (labels, not target)
    with pytest.raises(ValueError, match=f"^{loss.target_name}: label 7 at sample 1"):
        loss(z, np.array([0, 7]))
    # empty float labels are labels (no rows)
    assert loss(np.zeros((0, 3)), np.zeros(0), reduction="sum") == 0.0


def test_rmse_zero_and_empty_weights():
    p, t = np.array([1.0, 2.0]), np.array([0.0, 0.0])
    w0 = np.zeros(2)
    assert np.isnan(fl.rmse(p, t, sample_weight=w0))
    assert np.isnan(fl.reference.rmse(p, t, sample_weight=w0))
    v, g = fl.rmse.value_and_grad(p, t, sample_weight=w0)  # no ZeroDivisionError
    assert np.isnan(v) and np.isnan(g).all()
    assert np.isnan(fl.rmse.grad(p, t, sample_weight=w0)).all()
    e = np.zeros(0)
    assert fl.rmse(e, e, reduction="sum") == 0.0 == fl.mse(e, e, reduction="sum")
    assert fl.reference.rmse(e, e, reduction="sum") == 0.0
    assert np.isnan(fl.rmse(e, e))
    v, g = fl.rmse.value_and_grad(e, e)
    assert np.isnan(v) and g.shape == (0,)


def test_brier_checks_probabilities_and_targets():
    with pytest.raises(ValueError, match="target: binary targets must lie in"):
        fl.brier([0.2, 0.9], [-1.0, 1.0])
    with pytest.raises(ValueError, match="prob: probabilities must lie in"):
        fl.brier([1.2, 0.9], [0.0, 1.0])
    with pytest.raises(ValueError, match="probabilities must lie in"):
        fl.brier([[0.5, -0.5], [0.5, 0.5]], [0, 1])
    # scikit-learn's value on what it accepts
    assert fl.brier([0.2, 0.9], [0.0, 1.0]) == pytest.approx(0.025, rel=1e-12)
    assert np.isnan(fl.brier([np.nan, 0.9], [0.0, 1.0]))  # NaN propagates, no error


@pytest.mark.parametrize(
    "name,param",
    [
        ("huber", "delta"),
        ("smooth_l1", "beta"),
        ("quantile", "quantile"),
        ("tweedie", "link"),
        ("tweedie", "power"),
        ("multiclass_hinge", "variant"),
        ("kl_div", "log_target"),
        ("cross_entropy", "ignore_index"),
        ("pseudo_huber", "delta"),
        ("poisson_nll", "log_input"),
    ],
)
def test_none_is_not_a_silent_default(name, param, rng):
    loss, pred, target, params = _setup(name, rng)
    params[param] = None
    with pytest.raises(TypeError, match=f"{param} must not be None"):
        loss(*args(pred, target), **params)


def test_integer_parameters_must_fit_in_64_bits(rng):
    pred, target, params = make("cross_entropy", rng)
    with pytest.raises(ValueError, match="ignore_index must fit in a signed 64-bit integer"):
        fl.cross_entropy(pred, target, ignore_index=2**70)


def test_set_num_threads_refuses_what_would_kill_the_process():
    from fastloss._config import MAX_THREADS

    for n in (100000, 2**40):
        with pytest.raises(ValueError, match=f"n must be <= {MAX_THREADS}"):
            fl.set_num_threads(n)
    fl.set_num_threads(None)


def test_omp_num_threads_beyond_the_cap_is_capped():
    # OMP_NUM_THREADS=100000 reached the kernels uncapped (7326 OS threads in
    # one mse call on 2 cores): the count a call uses has set_num_threads' cap
    import os
    import subprocess
    import sys

    from fastloss._config import MAX_THREADS

    code = "import fastloss as fl; print(fl.get_num_threads(), fl.mse([1.0, 2.0], [0.0, 0.0]))"
    env = {**os.environ, "OMP_NUM_THREADS": "100000"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(MAX_THREADS), "2.5"]


def test_masked_arrays_are_refused_not_unmasked():
    p = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match="pred: masked arrays are not supported"):
        fl.mse(p, [0.0, 0.0])
    with pytest.raises(TypeError, match="target: masked"):
        fl.mse([0.0, 0.0], p)


def test_get_suggests_across_case():
    with pytest.raises(ValueError, match="did you mean mse"):
        fl.get("MSE")
    with pytest.raises(ValueError, match="did you mean cross_entropy"):
        fl.get("Cross-Entropy")


def test_bfloat16_tensors_get_a_clear_error():
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="pred: bfloat16 is not supported"):
        fl.mse(x, np.zeros(3))


def test_python_checked_domains_come_from_the_catalogue():
    # brier's and gaussian_nll's domains are declared in C++ (checked in
    # Python, before the kernel): one wording, domain_message's
    doms = {(d["input"], d["noun"]) for d in fl._core.catalogue()["brier"]["domains"]}
    assert doms == {("prob", "probabilities"), ("target", "binary targets")}
    cases = [
        (lambda: fl.brier([0.2, 1.5], [0.0, 1.0]), "probabilities must lie in [0, 1], got 1.5"),
        (lambda: fl.brier([0.2, np.inf], [0.0, 1.0]), "got inf at index 1"),
        (lambda: fl.brier([0.2, 0.9], [-1.0, 1.0]), "target: binary targets must lie in"),
        (lambda: fl.gaussian_nll([0.0], [0.0], [-2.0]), "var: variances must be >= 0, got -2.0"),
    ]
    for call, msg in cases:
        with pytest.raises(ValueError, match=re.escape(msg)):
            call()
    # NaN propagates (not an error), all-NaN included
    assert np.isnan(fl.brier([np.nan, np.nan], [0.0, 1.0]))
    assert np.isnan(fl.gaussian_nll([0.0, 0.0], [0.0, 0.0], [np.nan, np.nan]))
