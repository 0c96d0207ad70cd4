"""Bad input gets a clear ValueError/TypeError naming what is wrong: for every loss."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
from cases import make

ALL = fl.available()


@pytest.fixture
def case(request, rng):
    return make(request.param, rng)


@pytest.mark.parametrize("name", ALL)
def test_unknown_reduction(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    for bad in ("avg", "batchmean", None, 1, ["mean"]):
        with pytest.raises(ValueError, match="reduction must be"):
            loss(pred, target, reduction=bad, **params)


@pytest.mark.parametrize("name", ALL)
def test_unknown_keyword(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nonsense'"):
        loss(pred, target, nonsense=1.0, **params)


@pytest.mark.parametrize("name", ALL)
def test_mismatched_shapes(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    bigger = np.concatenate([pred, pred], axis=0)
    with pytest.raises(ValueError, match=r"shape"):
        loss(bigger, target, **params)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([1 + 2j, 3j]), object()])
def test_non_numeric_pred(name, bad, rng):
    loss = fl.get(name)
    _, target, params = make(name, rng)
    with pytest.raises(TypeError, match=loss.pred_name):
        loss(bad, target, **params)


@pytest.mark.parametrize("name", ALL)
def test_non_numeric_target(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    bad = np.full(np.shape(target), "x")
    with pytest.raises(TypeError, match=loss.target_name):
        loss(pred, bad, **params)


@pytest.mark.parametrize("name", ALL)
def test_wrong_weight_shape(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    shape = np.shape(loss(pred, target, reduction="none", **params))
    w = np.ones(tuple(s + 1 for s in shape) or (3,))
    with pytest.raises(ValueError, match="sample_weight"):
        loss(pred, target, sample_weight=w, **params)
    with pytest.raises(TypeError, match="sample_weight"):
        loss(pred, target, sample_weight=np.full(shape, "w"), **params)


@pytest.mark.parametrize("name", ALL)
def test_bad_out_buffers(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    if len(loss.wrt) > 1:  # one array for out: name the one input it is for
        params["wrt"] = loss.wrt[0]
    with pytest.raises(ValueError, match="out: expected shape"):
        loss.grad(pred, target, out=np.empty(pred.size + 1, pred.dtype), **params)
    with pytest.raises(TypeError, match="out: expected dtype"):
        loss.grad(pred, target, out=np.empty(pred.shape, np.float32), **params)
    with pytest.raises(TypeError, match="out: expected a NumPy array"):
        loss.grad(pred, target, out=[0.0] * pred.size, **params)
    ro = np.empty_like(pred)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        loss.value_and_grad(pred, target, out=ro, **params)
    nc = np.empty(pred.shape + (2,), pred.dtype)[..., 0]
    with pytest.raises(ValueError, match="C-contiguous"):
        loss.grad(pred, target, out=nc, **params)


@pytest.mark.parametrize("name", [n for n in ALL if not fl.get(n).has_hess])
def test_grad_hess_refused_without_hessian(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    with pytest.raises(TypeError, match="no Hessian"):
        loss.grad_hess(pred, target, **params)


@pytest.mark.parametrize("name", [n for n in ALL if fl.get(n).has_hess])
def test_grad_hess_out_must_be_a_pair(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    with pytest.raises(TypeError, match="pair"):
        loss.grad_hess(pred, target, out=np.empty_like(pred), **params)


@pytest.mark.parametrize("name", [n for n in ALL if fl.get(n).params])
def test_parameter_of_wrong_type(name, rng):
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    for k, default in loss.params.items():
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            with pytest.raises(TypeError, match=k):
                loss(pred, target, **{**params, k: "1.0"})


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
        _core.regression(0, 0, 2, p, np.zeros(9), None, None, None, None, None, 0, 0, 0, 0)
    with pytest.raises(TypeError, match="target: dtype"):
        _core.regression(0, 0, 2, p, np.zeros(10, np.float32), None, None, None, None, None,
                         0, 0, 0, 0)
    with pytest.raises(ValueError, match="out_grad is required"):
        _core.regression(0, 1, 2, p, p, None, None, None, None, None, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="no Hessian"):
        _core.regression(1, 3, 0, p, p, None, None, None, np.empty(10), np.empty(10), 0, 0, 0, 0)


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
        fl.mse._kernel(fl.mse._id, 0, 2, p, [0.0, 1.0, 2.0], None, None, None, None, None,
                       0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("name", ALL)
def test_out_overlapping_an_input_is_refused(name, rng):
    # A kernel writes its gradient while it still reads its inputs: an out=
    # buffer over an input's memory (the same array, or shifted by one
    # element) would give wrong numbers silently. Refused, naming out.
    loss = fl.get(name)
    pred, target, params = make(name, rng)
    kw = {"wrt": loss.wrt[0]} if len(loss.wrt) > 1 else {}
    pred = np.ascontiguousarray(pred)
    want = loss.value_and_grad(pred, target, **params, **kw)
    arrays = {loss.pred_name: pred}
    if isinstance(target, np.ndarray) and target.dtype == pred.dtype and (
            target.shape == pred.shape):
        arrays[loss.target_name] = np.ascontiguousarray(target)
    for k, v in params.items():
        if isinstance(v, np.ndarray) and v.dtype == pred.dtype and v.shape == pred.shape:
            arrays[k] = np.ascontiguousarray(v)
    for which, x in arrays.items():
        for shift in (0, 1):  # the same memory, and shifted one element over it
            buf = np.concatenate([x.ravel(), x.ravel()[:1]])
            xin = buf[:-1].reshape(x.shape)  # the input, the values of x
            out = buf[shift:shift + x.size].reshape(x.shape)
            call = {loss.pred_name: pred, loss.target_name: target, **params}
            call[which] = xin
            p, t = call.pop(loss.pred_name), call.pop(loss.target_name)
            with pytest.raises(ValueError, match="out"):
                loss.value_and_grad(p, t, out=out, **call, **kw)
    # the inputs were left as they were
    assert loss.value_and_grad(pred, target, **params, **kw)[0] == want[0]
    w = np.ones(np.shape(loss(pred, target, reduction="none", **params)), pred.dtype)
    if w.shape == pred.shape:
        with pytest.raises(ValueError, match="out"):
            loss.grad(pred, target, sample_weight=w, out=w, **params, **kw)
    if loss.has_hess:
        b = np.empty_like(pred)
        with pytest.raises(ValueError, match="overlap"):
            loss.grad_hess(pred, target, out=(b, b), **params)
