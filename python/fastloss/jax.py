"""fastloss as JAX functions: the kernels as a typed XLA FFI custom call.

``import fastloss.jax`` imports jax (``import fastloss`` never does) and
registers fastloss's XLA FFI handler (compiled into ``fastloss._core``,
``cpp/bindings/xla.cpp``) for the CPU platform.

Functions
    One per loss of :func:`fastloss.available`, same name, same inputs and
    keywords as the core (``fastloss.jax.huber(pred, target, delta=1.0,
    reduction="mean")``, class axis last as in the core), taking and
    returning ``jax.Array``: a 0-d array of pred's dtype for ``"mean"`` and
    ``"sum"`` (accumulated in float64 by the kernel, then rounded), the
    per-sample losses for ``"none"``. They work under ``jax.jit``,
    ``jax.grad``, ``jax.value_and_grad`` and ``jax.vmap``.

    Covered: the element-wise losses (regression and classification, but
    ``gaussian_nll`` and ``rmse``), the row losses (``cross_entropy`` with
    integer labels or class probabilities, ``softmax_focal``, ``kl_div``,
    ``multiclass_hinge``, ``categorical_hinge``, ``brier``), the overlap
    losses and the box losses. The others raise NotImplementedError naming
    themselves.

How it runs
    A loss call is one ``jax.ffi.ffi_call`` into the same kernel entry point
    ``fastloss._core.run`` reaches: XLA hands its buffers to the kernel, no
    copy and no Python callback (a ``jax.pure_callback`` that does nothing
    already costs more than JAX's own loss on large inputs). The loss is a
    ``jax.custom_vjp``: when a gradient is asked, the forward is one fused
    value-and-gradient call and the backward scales the saved gradient by
    the cotangent (no second pass); without one (a plain ``jit`` of the
    loss) it computes the value alone. The kernels use their own OpenMP
    threads (:func:`fastloss.set_num_threads`), read on every call.

    Under ``jax.vmap`` a ``"mean"``/``"sum"`` call runs once per batch
    member (``vmap_method="sequential"``): the kernel reduces everything it
    is given, so a batch in one call would be reduced into one number. A
    ``"none"`` call of an element-wise, row or box loss runs once on the
    whole batch (``"broadcast_all"``): each of its outputs depends on its
    own element, row or box only, so a leading batch axis is just more of
    them.

Limits
    Gradients flow to the loss's first input (``pred``, the logits, ...)
    only: differentiating w.r.t. a target or ``sample_weight`` raises
    TypeError rather than return a silent zero. Parameters
    (``delta``, ``class_weight``, ``pos_weight``, ...) are static: Python
    numbers or concrete arrays, not traced values (each value compiles its
    own call). Integer labels are int32 or int64 (int32 labels are widened
    into a scratch copy, one int64 per row). Data-dependent argument checks
    the core makes in Python (``brier``'s probabilities in [0, 1], float
    labels being whole numbers) cannot run on traced values and are
    skipped; the kernels' own checks (labels in range, inputs in a loss's
    domain) fail the call with XLA's runtime error. CPU only.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> import fastloss.jax as flj
>>> pred, target = jnp.array([0.5, 2.0, -1.0]), jnp.array([0.0, 0.0, 0.0])
>>> value, grad = jax.jit(jax.value_and_grad(flj.huber))(pred, target)
>>> round(float(value), 6), [round(float(g), 6) for g in grad]
(0.708333, [0.166667, 0.333333, -0.333333])
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import fastloss as _fl
from fastloss import _core
from fastloss._loss import (
    BOXES,
    MULTICLASS,
    NONE,
    OVERLAP,
    REGRESSION,
    VALUE,
    VALUE_GRAD,
    ElementwiseLoss,
    Loss,
)
from fastloss._params import reduction_code
from fastloss.boxes import BoxLoss
from fastloss.multiclass import RowLoss
from fastloss.overlap import SliceLoss
from fastloss.regression import _MSE

_NAMES = list(_fl.available())
__all__ = [*_NAMES, "covered"]

_TARGET = "fastloss_loss"
for _name, _capsule in _core.xla_handlers().items():
    jax.ffi.register_ffi_target(_name, _capsule, platform="cpu")

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_NO_CLASS_WEIGHT = np.zeros(0, np.float64)


def _stand_in(shape, dtype) -> np.ndarray:
    """A NumPy array of ``shape`` and ``dtype`` holding no data (one zero,
    broadcast): what a loss's own planning step (``Loss._plan``) reads at
    trace time -- shapes, dtypes, parameters -- in place of a traced array."""
    return np.broadcast_to(np.zeros((), dtype), shape)


class _Call:
    """One planned kernel call: everything static about it (hashable by
    value, so ``jax.custom_vjp`` takes it as a non-differentiable argument)."""

    def __init__(
        self, name, family, kid, red, sample_shape, grad_shape, dtype, attrs, perm, broadcast
    ):
        self.name = name
        self.family = family
        self.id = kid
        self.red = red
        self.sample_shape = tuple(sample_shape)
        self.grad_shape = tuple(grad_shape)  # the kernel's pred (after perm)
        self.dtype = dtype
        self.attrs = attrs
        self.perm = perm
        self.broadcast = broadcast

    def _key(self):
        attrs = tuple(
            (k, tuple(v.tolist()) if isinstance(v, np.ndarray) else int(v))
            for k, v in sorted(self.attrs.items())
        )
        return (
            self.name,
            self.red,
            self.sample_shape,
            self.grad_shape,
            str(self.dtype),
            attrs,
            self.perm,
            self.broadcast,
        )

    # equal plans compare equal: JAX caches what it traced for one of them
    # (an eager call plans anew each time)
    def __eq__(self, other):
        return isinstance(other, _Call) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def run(self, op, operands):
        """``[value]`` for VALUE, ``[value, grad]`` for VALUE_GRAD."""
        value_shape = () if self.red != NONE else self.sample_shape
        results = [jax.ShapeDtypeStruct(value_shape, self.dtype)]
        if op == VALUE_GRAD:
            results.append(jax.ShapeDtypeStruct(self.grad_shape, self.dtype))
        # see the module docstring: one call per batch member where the
        # kernel reduces, one call on the whole batch where it does not
        method = "broadcast_all" if self.broadcast else "sequential"
        call = jax.ffi.ffi_call(_TARGET, results, vmap_method=method)
        return call(*operands, op=np.int64(op), **self.attrs)


def _attrs(
    family,
    kid,
    red,
    *,
    has_target=0,
    has_labels=0,
    has_weight=0,
    aux=None,
    classes=0,
    slices=0,
    slice_size=0,
    group=1,
    ignore_index=-100,
    params=(),
    class_weight=None,
):
    i = np.int64
    aux_period, aux_repeat = 0, 1
    if isinstance(aux, tuple):
        _, aux_period, aux_repeat = aux
    return {
        "family": i(family),
        "id": i(kid),
        "reduction": i(red),
        "has_target": i(has_target),
        "has_labels": i(has_labels),
        "has_weight": i(has_weight),
        "has_aux": i(aux is not None),
        "classes": i(classes),
        "slices": i(slices),
        "slice_size": i(slice_size),
        "group": i(group),
        "ignore_index": i(ignore_index),
        "weight_period": i(0),
        "weight_repeat": i(1),
        "aux_period": i(aux_period),
        "aux_repeat": i(aux_repeat),
        "params": np.asarray(params, np.float64),
        "class_weight": _NO_CLASS_WEIGHT if class_weight is None else class_weight,
    }


def _float_dtype(x) -> np.dtype:
    dt = np.dtype(x.dtype)
    if dt == _F32 or dt == _F64:
        return dt
    # other reals are converted once, to JAX's default float (float32, or
    # float64 in x64 mode), as the core converts them to float64
    return np.dtype(jnp.result_type(float))


class _JaxLoss:
    """``fastloss.jax.<name>``: the core loss ``loss`` on ``jax.Array``s."""

    def __init__(self, loss: Loss):
        self.loss = loss
        self.__name__ = self.__qualname__ = loss.name
        self.__signature__ = loss.__signature__
        self.__doc__ = (
            f"``fastloss.{loss.name}`` on jax.Arrays, under jit / grad / vmap "
            f"(see :mod:`fastloss.jax`).\n\n{loss.__doc__ or ''}"
        )

    def __repr__(self):
        return f"<fastloss.jax.{self.loss.name}>"

    def __call__(self, *inputs, reduction="mean", sample_weight=None, **params):
        loss = self.loss
        red = reduction_code(reduction)
        if len(inputs) != len(loss.inputs):
            inputs = loss._inputs_from(inputs, params)
        p = loss.resolve_params(params)
        pred = jnp.asarray(inputs[0])
        target = jnp.asarray(inputs[1])
        if not jnp.issubdtype(pred.dtype, jnp.floating) and not jnp.issubdtype(
            pred.dtype, jnp.integer
        ):
            raise TypeError(f"{loss.pred_name}: expected a real array, got dtype {pred.dtype}")
        dt = _float_dtype(pred)
        spec, tgt, labels, aux = self._plan(loss, pred, target, dt, red, p)
        kpred = pred.astype(dt)
        w = None
        if sample_weight is not None:
            w = _weights(sample_weight, spec.sample_shape, dt, loss.name)
        value = _apply(spec, kpred, tgt, labels, w, aux)
        return value

    def _plan(self, loss, pred, target, dt, red, p):
        """The loss's own planning step run on stand-ins (shapes, dtypes and
        parameters only): the same checks and the same packing as the core,
        at trace time."""
        sp = _stand_in(pred.shape, dt)
        if isinstance(loss, ElementwiseLoss):
            st = _stand_in(target.shape, dt if _is_real(target) else target.dtype)
            _, shape, _, _, (_, t, aux, slots) = loss._plan((sp, st), p)
            if t is not st:
                raise NotImplementedError(f"fastloss.jax.{loss.name}: its target is transformed")
            if isinstance(aux, tuple):
                aux_op = jnp.asarray(aux[0], dt)
            else:
                aux_op = None if aux is None else jnp.asarray(aux, dt)
            attrs = _attrs(loss._kernel, loss._id, red, has_target=1, aux=aux, params=slots)
            broadcast = red == NONE and not isinstance(aux, tuple)
            spec = _Call(
                loss.name, loss._kernel, loss._id, red, shape, shape, dt, attrs, None, broadcast
            )
            return spec, target.astype(dt), None, aux_op
        if isinstance(loss, RowLoss):
            tdt = target.dtype if jnp.issubdtype(target.dtype, jnp.integer) else dt
            st = _stand_in(target.shape, np.int64 if jnp.issubdtype(tdt, jnp.integer) else tdt)
            job = loss._plan((sp, st), p)[4][1]
            shape, classes, t, labels, cw, ignore_index, p0, p1, p2 = job
            if classes is None:  # binary brier: the regression kernel's mse
                attrs = _attrs(REGRESSION, _MSE, red, has_target=1)
                spec = _Call(
                    loss.name, REGRESSION, _MSE, red, shape, shape, dt, attrs, None, red == NONE
                )
                return spec, target.astype(dt), None, None
            lab = None
            if labels is not None:
                if not jnp.issubdtype(target.dtype, jnp.integer):
                    raise TypeError(
                        f"fastloss.jax.{loss.name}: {loss.target_name}: labels must be an "
                        f"integer array under JAX, got dtype {target.dtype}"
                    )
                lab = target if target.dtype in (jnp.int32, jnp.int64) else target.astype(jnp.int32)
            attrs = _attrs(
                MULTICLASS,
                loss._id,
                red,
                has_target=int(t is not None),
                has_labels=int(labels is not None),
                classes=classes,
                ignore_index=ignore_index,
                params=(p0, p1, p2),
                class_weight=cw,
            )
            spec = _Call(
                loss.name,
                MULTICLASS,
                loss._id,
                red,
                shape,
                pred.shape,
                dt,
                attrs,
                None,
                red == NONE,
            )
            return spec, (target.astype(dt) if t is not None else None), lab, None
        if isinstance(loss, BoxLoss):
            st = _stand_in(target.shape, dt)
            _, shape, _, _, _ = loss._plan((sp, st), p)
            attrs = _attrs(BOXES, loss._id, red, has_target=1, params=(p["eps"],))
            spec = _Call(
                loss.name, BOXES, loss._id, red, shape, pred.shape, dt, attrs, None, red == NONE
            )
            return spec, target.astype(dt), None, None
        if isinstance(loss, SliceLoss):
            if pred.shape != target.shape:
                loss._plan((sp, _stand_in(target.shape, dt)), p)  # the core's shape error
            # what SliceLoss._plan computes, without its transposed copies
            # (the traced arrays are transposed by XLA, in _apply)
            perm, shape, S, K, group = loss._layout_for(pred.shape, p)
            kshape = pred.shape if perm is None else tuple(pred.shape[i] for i in perm)
            attrs = _attrs(
                OVERLAP,
                loss._id,
                red,
                has_target=1,
                slices=S,
                slice_size=K,
                group=group,
                params=tuple(loss._pack(p)),
            )
            spec = _Call(loss.name, OVERLAP, loss._id, red, shape, kshape, dt, attrs, perm, False)
            return spec, target.astype(dt), None, None
        raise NotImplementedError(f"fastloss.jax.{loss.name} is not available")


def _is_real(x) -> bool:
    return bool(jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer))


def _weights(w, shape, dt, name):
    """sample_weight broadcast to the per-sample loss shape by the core's
    rule (NumPy's broadcasting, or scikit-learn's per-sample prefix; a shape
    both readings accept differently is refused), checked on a stand-in."""
    from fastloss._arrays import prepare_weight

    w = jnp.asarray(w, dt)
    if w.shape == shape:
        return w
    prepare_weight(np.zeros(w.shape, dt), shape, dt)  # raises the core's errors
    nd = len(shape)
    if 0 < w.ndim < nd and w.shape == shape[: w.ndim]:
        w = w.reshape(w.shape + (1,) * (nd - w.ndim))
    return jnp.broadcast_to(w, shape)


# -- the custom_vjp ---------------------------------------------------------


def _operands(pred, target, labels, w, aux):
    ops = [pred]
    for x in (target, labels, w, aux):
        if x is not None:
            ops.append(x)
    return ops


def _with_weight(spec, w):
    if w is None:
        return spec
    s = _Call.__new__(_Call)
    s.__dict__.update(spec.__dict__)
    s.attrs = {**spec.attrs, "has_weight": np.int64(1)}
    return s


def _apply(spec, pred, target, labels, w, aux):
    spec = _with_weight(spec, w)
    if spec.perm is not None:  # overlap: the summed axes last, as the core does
        pred = jnp.transpose(pred, spec.perm)
        target = jnp.transpose(target, spec.perm)
    return _loss_vjp(spec, pred, target, labels, w, aux)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _loss_vjp(spec, pred, target, labels, w, aux):
    # no gradient asked: the value alone
    return spec.run(VALUE, _operands(pred, target, labels, w, aux))[0]


def _fwd(spec, pred, target, labels, w, aux):
    for arg, what in ((target, "its target"), (w, "sample_weight"), (aux, "aux")):
        if arg is not None and arg.perturbed:
            raise TypeError(
                f"fastloss.jax.{spec.name}: the gradient w.r.t. {what} is not computed (only "
                f"w.r.t. the first input); wrap it in jax.lax.stop_gradient"
            )
    value, grad = spec.run(
        VALUE_GRAD,
        _operands(pred.value, *(None if a is None else a.value for a in (target, labels, w, aux))),
    )
    return value, grad


def _bwd(spec, grad, ct):
    if spec.red != NONE:
        g = ct * grad
    else:
        # per-sample cotangents over the gradient's extra trailing axes (a
        # row's classes, a box's 4 numbers, a slice's summed elements)
        extra = len(spec.grad_shape) - len(spec.sample_shape)
        g = ct.reshape(ct.shape + (1,) * extra) * grad
    return g, None, None, None, None


_loss_vjp.defvjp(_fwd, _bwd, symbolic_zeros=True)


class _NotCovered:
    """A catalogue loss ``fastloss.jax`` does not run: calling it says so."""

    def __init__(self, loss: Loss, why: str):
        self.loss = loss
        self.__name__ = self.__qualname__ = loss.name
        self.__doc__ = f"Not available in fastloss.jax: {why}."
        self._why = why

    def __repr__(self):
        return f"<fastloss.jax.{self.loss.name} (not available)>"

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(
            f"fastloss.jax.{self.loss.name} is not available: {self._why} "
            f"(fastloss.{self.loss.name} runs on NumPy arrays)"
        )


_COVERED = (ElementwiseLoss, RowLoss, BoxLoss, SliceLoss)
# Losses of those shapes added after fastloss.jax was written, not yet held
# against a JAX formula in tests/test_jax.py (multilabel_margin's labels are
# rows of class indices, which the XLA handler does not take).
_NOT_YET = ("nll", "soft_margin", "hinge_embedding", "multilabel_soft_margin", "multilabel_margin")


def _adapt(loss: Loss):
    if len(loss.wrt) > 1:
        return _NotCovered(loss, f"it has several differentiable inputs ({', '.join(loss.wrt)})")
    if loss.name in _NOT_YET:
        return _NotCovered(loss, "not yet tested against JAX here")
    if type(loss) not in _COVERED:
        # a loss with its own run path (rmse's root over the whole sum)
        return _NotCovered(loss, "its run path is not the kernel call fastloss.jax makes")
    return _JaxLoss(loss)


for _name in _NAMES:
    globals()[_name] = _adapt(_fl.get(_name))


def covered() -> list[str]:
    """The losses fastloss.jax runs (the others raise NotImplementedError).

    >>> import fastloss.jax as flj
    >>> "cross_entropy" in flj.covered(), "gaussian_nll" in flj.covered()
    (True, False)
    """
    return [n for n in _NAMES if isinstance(globals()[n], _JaxLoss)]
