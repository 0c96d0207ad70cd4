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

    Every loss of the catalogue is covered, with a gradient for each of its
    differentiable inputs (``loss.wrt``: ``triplet_margin``'s anchor,
    positive and negative; ``gaussian_nll``'s pred and var; ``barron``'s
    pred, alpha and scale): ``jax.grad(f, argnums=...)`` reaches any of
    them. ``rmse`` is the square root of the mse kernel's weighted mean,
    composed in JAX (its gradient by the chain rule through that root over
    mse's fused gradient, 0 where every residual is 0, as in the core);
    ``perceptual`` takes lists of feature maps and runs each layer through
    ``mse``, ``mae`` or the ``|r|^p`` kernel as the core does (its gradient: a list, one per
    layer), and the penalties a list of arrays (a model's parameters) as
    the core does; ``linear_cross_entropy`` forms its logits with XLA's
    matrix product (held whole, unlike the core's chunks) and runs the
    cross_entropy kernel on them. ``kmeans_inertia.labels`` (an integer
    output beside the value) has no JAX counterpart: use
    ``fastloss.kmeans_inertia.labels`` on host arrays.

How it runs
    A loss call is one ``jax.ffi.ffi_call`` into the same kernel entry point
    ``fastloss._core.run`` reaches (``gaussian_nll``'s var gradient: a
    second one, as in the core): XLA hands its buffers to the kernel, no
    copy and no Python callback (a ``jax.pure_callback`` that does nothing
    already costs more than JAX's own loss on large inputs). The loss is a
    ``jax.custom_vjp``: when a gradient is asked, the forward is one fused
    value-and-gradient call for the inputs being differentiated and the
    backward scales the saved gradients by the cotangent (no second pass);
    without one (a plain ``jit`` of the loss) it computes the value alone.
    For ``reduction="none"`` of a several-input loss (whose per-sample
    losses may each depend on every input: ``ntxent``, ``clip``), the
    backward is one kernel call for the gradient of the cotangent-weighted
    sum, which is the vector-Jacobian product. The kernels use their own
    OpenMP threads (:func:`fastloss.set_num_threads`), read on every call.

    Under ``jax.vmap`` a ``"mean"``/``"sum"`` call runs once per batch
    member (``vmap_method="sequential"``): the kernel reduces everything it
    is given, so a batch in one call would be reduced into one number. A
    ``"none"`` call of an element-wise, row or box loss runs once on the
    whole batch (``"broadcast_all"``): each of its outputs depends on its
    own element, row or box only, so a leading batch axis is just more of
    them. Several-input losses run once per batch member.

Limits
    Gradients flow to the loss's differentiable inputs (``loss.wrt``) and
    to a floating target where the core has its kernel
    (``loss.wrt_on_request``: ``poisson_nll``, ``kl_div``, BCE,
    ``multilabel_soft_margin``, probability-target ``cross_entropy``,
    ``margin_ranking``'s ``y``, the losses of ``pred - target``: ``mse``,
    ``mae``, ``huber``, ``smooth_l1``, ``log_cosh``, ``pseudo_huber``,
    ``quantile``, ``rmse``, ``gaussian_nll``; a second kernel call in the
    forward, as the core's); differentiating w.r.t. another target, labels or
    ``sample_weight`` raises TypeError rather than return a silent zero;
    integer inputs
    (labels, lengths, masks) take no cotangent. Parameters
    (``delta``, ``class_weight``, ``pos_weight``, ...) are static: Python
    numbers or concrete arrays, not traced values (each value compiles its
    own call). Integer labels are int32 or int64 (int32 labels are widened
    into a scratch copy, one int64 per label; a bool mask as int32).
    Data-dependent argument checks the core makes in Python (``brier``'s
    probabilities in [0, 1], float labels being whole numbers, ``barron``'s
    ``scale`` positive, ``kl_sparsity``'s activations in [0, 1]) cannot run
    on traced values and are skipped; the kernels' own checks (labels in
    range, inputs in a loss's domain, ``gaussian_nll``'s ``var >= 0``) fail
    the call with XLA's runtime error. CPU only.

    First derivatives only, in reverse mode: ``jax.grad``, ``jax.vjp``,
    ``jax.jacrev`` (of ``"none"`` too). Forward mode (``jax.jvp``,
    ``jax.jacfwd``) raises JAX's TypeError for a ``custom_vjp``, and a
    second derivative (``jax.grad`` of a gradient, ``jax.hessian``) the
    ValueError that the FFI call ``fastloss_loss`` cannot be
    differentiated: never a wrong number. The diagonal second derivative
    is ``fastloss.<loss>.grad_hess`` on host arrays.

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
    GRAD,
    MULTICLASS,
    NONE,
    OVERLAP,
    REGRESSION,
    SUM,
    VALUE,
    VALUE_GRAD,
    ElementwiseLoss,
    Loss,
)
from fastloss._params import reduction_code
from fastloss._tensors import Plan as _Plan
from fastloss._tensors import TensorLoss
from fastloss.boxes import BoxLoss
from fastloss.multiclass import RowLoss
from fastloss.overlap import SliceLoss
from fastloss.regression import _GAUSSIAN_NLL, _GAUSSIAN_NLL_VAR, _MSE

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
    value, so ``jax.custom_vjp`` takes it as a non-differentiable argument).
    ``target_id``: the kernel of the target's gradient where the loss has
    one (``loss.wrt_on_request``), else None."""

    target_id = None

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

    def run(self, op, operands, grad_shapes=None, **attrs):
        """``[value]`` for VALUE, ``[value, *grads]`` for VALUE_GRAD,
        ``[*grads]`` for GRAD; ``grad_shapes`` (default: the one gradient,
        pred's) and ``attrs`` (overriding the planned ones) for the
        several-input calls."""
        results = []
        if op != GRAD:
            value_shape = () if self.red != NONE else self.sample_shape
            results.append(jax.ShapeDtypeStruct(value_shape, self.dtype))
        if op != VALUE:
            shapes = (self.grad_shape,) if grad_shapes is None else grad_shapes
            results += [jax.ShapeDtypeStruct(s, self.dtype) for s in shapes]
        # see the module docstring: one call per batch member where the
        # kernel reduces, one call on the whole batch where it does not
        method = "broadcast_all" if self.broadcast else "sequential"
        call = jax.ffi.ffi_call(_TARGET, results, vmap_method=method)
        return call(*operands, op=np.int64(op), **{**self.attrs, **attrs})


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
    n_inputs=0,
    present=0,
    dims=(),
    samples=0,
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
        # the several-input families (fastloss._tensors): input k is an
        # operand where bit k of `present` is set, its gradient a result
        # where bit k of `grads` is
        "n_inputs": i(n_inputs),
        "present": i(present),
        "grads": i(0),
        "dims": np.asarray(dims, np.int64),
        "samples": i(samples),
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

    def __call__(self, *inputs, reduction=None, sample_weight=None, **params):
        loss = self.loss
        red = reduction_code(loss.default_reduction if reduction is None else reduction)
        if len(inputs) != len(loss.inputs):
            inputs = loss._inputs_from(inputs, params)
        p = loss.resolve_params(params)
        if loss.accepts_lists and not loss.list_inputs and isinstance(inputs[0], (list, tuple)):
            return _penalty_list(
                functools.partial(self, **params), list(inputs[0]), red, sample_weight
            )
        # the registry's loss of that name (not a private one sharing it:
        # perceptual's |r|^p layer kernel)
        special = _SPECIAL.get(loss.name) if _fl.get(loss.name) is loss else None
        if special is not None:
            return special(loss, inputs, red, sample_weight, p)
        if isinstance(loss, TensorLoss):
            return _tensor_call(loss, inputs, red, sample_weight, p)
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
            spec.target_id = loss._target_id
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
            if t is not None:  # a dense target (class probabilities): its kernel
                spec.target_id = loss._target_id
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
    # a floating target is differentiated where the core has its kernel
    # (loss.wrt_on_request: poisson_nll, BCE, kl_div, ...), as torch does
    t_grad = target is not None and target.perturbed and spec.target_id is not None
    for arg, what in ((target, "its target"), (w, "sample_weight"), (aux, "aux")):
        if arg is not None and arg.perturbed and not (arg is target and t_grad):
            raise TypeError(
                f"fastloss.jax.{spec.name}: the gradient w.r.t. {what} is not computed (only "
                f"w.r.t. the first input); wrap it in jax.lax.stop_gradient"
            )
    p, t = pred.value, None if target is None else target.value
    rest = [None if a is None else a.value for a in (labels, w, aux)]
    grad = None
    if pred.perturbed or not t_grad:
        value, grad = spec.run(VALUE_GRAD, _operands(p, t, *rest))
    else:
        value = spec.run(VALUE, _operands(p, t, *rest))[0]
    g_target = None
    if t_grad:
        # the target's kernel (its own id), as the core's second pass: the
        # element-wise one differentiates its first array (so the target
        # goes first), the row one writes the target's gradient of (pred, target)
        ops = _operands(t, p, *rest) if spec.family != MULTICLASS else _operands(p, t, *rest)
        (g_target,) = spec.run(GRAD, ops, id=np.int64(spec.target_id))
    return value, (grad, g_target)


def _bwd(spec, res, ct):
    def scaled(grad):
        if grad is None:
            return None
        if spec.red != NONE:
            return ct * grad
        # per-sample cotangents over the gradient's extra trailing axes (a
        # row's classes, a box's 4 numbers, a slice's summed elements)
        extra = len(spec.grad_shape) - len(spec.sample_shape)
        return ct.reshape(ct.shape + (1,) * extra) * grad

    grad, g_target = res
    return scaled(grad), scaled(g_target), None, None, None


_loss_vjp.defvjp(_fwd, _bwd, symbolic_zeros=True)


# -- the several-input losses (fastloss._tensors.TensorLoss) ----------------
#
# The loss's own _plan runs on stand-ins (shapes, dtypes, parameters): it
# gives the dims, the per-sample shape, the parameters and which inputs are
# integer, and makes the core's shape and parameter checks. The kernel then
# reads the traced inputs themselves, in the plan's order. Stand-ins hold
# ones for real inputs and zeros for integer ones (inside every loss's
# domain: a variance, a scale, a probability of 1, label 0); the few whose
# plan reads values get theirs from _STAND_INS.


def _ctc_stand_ins(inputs, stand):
    # concatenated 1-d targets: their lengths must sum to their count
    if np.ndim(inputs[1]) == 1:
        tl = np.zeros(np.shape(inputs[3]), np.int64)
        if tl.size:
            tl[0] = np.size(inputs[1])
        stand[3] = tl
    return stand


_STAND_INS = {"ctc": _ctc_stand_ins}


def _barron_inputs(loss, inputs, dt):
    # alpha and scale broadcast to pred's shape here, by XLA (and summed back
    # by JAX's transpose of the broadcast): the kernel reads one value per
    # element, or a single value where one is left out
    pred = jnp.asarray(inputs[0])
    out = list(inputs)
    for k in (2, 3):
        if inputs[k] is not None:
            a = jnp.asarray(inputs[k], dt)
            try:
                out[k] = jnp.broadcast_to(a, pred.shape)
            except ValueError:
                raise ValueError(
                    f"{loss.inputs[k]}: shape {tuple(a.shape)} does not broadcast to pred's "
                    f"{tuple(pred.shape)}"
                ) from None
    return out


_PREPARE = {"barron": _barron_inputs}


class _TensorCall(_Call):
    """A planned several-input call: the _Call's fields, plus the inputs'
    shapes and which are differentiable."""

    def __init__(self, name, family, kid, red, sample_shape, dtype, attrs, shapes, wrt_pos):
        super().__init__(name, family, kid, red, sample_shape, (), dtype, attrs, None, False)
        self.shapes = tuple(shapes)  # per input, None where absent
        self.wrt_pos = tuple(wrt_pos)

    def _key(self):
        return (*super()._key(), self.shapes, self.wrt_pos)

    def grads(self, op, arrays, w, mask, red=None):
        """The kernel on ``arrays`` (None: absent), the gradients of the
        inputs in ``mask`` (bit k: input k), reduction ``red`` (default the
        planned one): ``[value]`` / ``[value, *grads]`` / ``[*grads]``."""
        spec = self
        if red is not None and red != self.red:
            spec = _TensorCall.__new__(_TensorCall)
            spec.__dict__.update(self.__dict__)
            spec.red = red
            spec.attrs = {**self.attrs, "reduction": np.int64(red)}
        ops = [a for a in arrays if a is not None]
        if w is not None:
            ops.append(w)
        shapes = [self.shapes[k] for k in range(len(arrays)) if (mask >> k) & 1]
        return spec.run(op, ops, shapes, grads=np.int64(mask), has_weight=np.int64(w is not None))


def _kernel_operand(x, planned, dt):
    """A traced input as the kernel reads it: a real one in the call's
    dtype, an integer one as int32 or int64 (bool as int32)."""
    x = jnp.asarray(x)
    if planned.dtype.kind == "f":
        return x if x.dtype == dt else x.astype(dt)
    if x.dtype in (jnp.int32, jnp.int64):
        return x
    # bool masks, other integers, and labels passed as floats (whole numbers
    # are not checked on traced values: a cast truncates)
    return x.astype(jnp.int32)


def _tensor_call(loss, inputs, red, sample_weight, p):
    prepare = _PREPARE.get(loss.name)
    first = jnp.asarray(inputs[0])
    if not (jnp.issubdtype(first.dtype, jnp.floating) or jnp.issubdtype(first.dtype, jnp.integer)):
        raise TypeError(f"{loss.pred_name}: expected a real array, got dtype {first.dtype}")
    dt = _float_dtype(first)
    if prepare is not None:
        inputs = prepare(loss, inputs, dt)
    stand = []
    for x in inputs:
        if x is None:
            stand.append(None)
            continue
        xd = np.dtype(jnp.asarray(x).dtype)
        if xd.kind == "f":
            stand.append(np.broadcast_to(np.ones((), dt), np.shape(x)))
        elif xd.kind == "b":
            stand.append(np.broadcast_to(np.zeros((), bool), np.shape(x)))
        else:
            stand.append(np.broadcast_to(np.zeros((), np.int64), np.shape(x)))
    if loss.name in _STAND_INS:
        stand = _STAND_INS[loss.name](inputs, stand)
    kdt, sample_shape, _, _, state = loss._plan(tuple(stand), p)
    plan = state if isinstance(state, _Plan) else state[0]  # barron: (plan, alpha, scale)
    if kdt != dt:
        dt = np.dtype(kdt)
    arrays, shapes = [], []
    for k, planned in enumerate(plan.arrays):
        if k >= len(inputs):
            arrays.append(None)
            shapes.append(None)
            continue
        if planned is None:
            arrays.append(None)
            shapes.append(None)
            continue
        x = inputs[k]
        if x is None:  # a default the plan filled in (barron's alpha = 1)
            arrays.append(jnp.asarray(planned))
            shapes.append(planned.shape)
            continue
        a = _kernel_operand(x, planned, dt)
        if a.size != planned.size:
            raise NotImplementedError(
                f"fastloss.jax.{loss.name}: input {loss.inputs[k]} is transformed by its plan"
            )
        arrays.append(a)
        shapes.append(a.shape)
    present = sum(1 << k for k, a in enumerate(arrays) if a is not None)
    attrs = _attrs(
        loss._kernel,
        loss._id,
        red,
        params=plan.params,
        n_inputs=len(arrays),
        present=present,
        dims=plan.dims,
        samples=loss._samples(plan),
    )
    spec = _TensorCall(
        loss.name, loss._kernel, loss._id, red, sample_shape, dt, attrs, shapes, loss._wrt_pos
    )
    w = None
    if sample_weight is not None:
        w = _weights(sample_weight, spec.sample_shape, dt, loss.name)
    return _tensor_vjp(spec, tuple(arrays), w)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _tensor_vjp(spec, arrays, w):
    return spec.grads(VALUE, arrays, w, 0)[0]


def _tensor_fwd(spec, arrays, w):
    if w is not None and w.perturbed:
        raise TypeError(
            f"fastloss.jax.{spec.name}: the gradient w.r.t. sample_weight is not computed; "
            "wrap it in jax.lax.stop_gradient"
        )
    mask = 0
    for k, a in enumerate(arrays):
        if a is None or not a.perturbed:
            continue
        if k not in spec.wrt_pos:
            raise TypeError(
                f"fastloss.jax.{spec.name}: input {k} is not differentiable (its "
                f"differentiable inputs are at positions {spec.wrt_pos}); wrap it in "
                "jax.lax.stop_gradient"
            )
        mask |= 1 << k
    values = tuple(None if a is None else a.value for a in arrays)
    wv = None if w is None else w.value
    if mask == 0 or spec.red == NONE:
        # "none": the backward pass is the gradient of the cotangent-weighted
        # sum (each per-sample loss may depend on every input: ntxent, clip),
        # one kernel call once the cotangent is known
        value = spec.grads(VALUE, values, wv, 0)[0]
        return value, (values if mask else None, wv, mask)
    value, *gs = spec.grads(VALUE_GRAD, values, wv, mask)
    it = iter(gs)
    grads = tuple(next(it) if (mask >> k) & 1 else None for k in range(len(arrays)))
    return value, (grads, None, 0)


def _tensor_bwd(spec, res, ct):
    first, wv, mask = res
    if first is None:
        return (None,) * len(spec.shapes), None
    if mask:  # reduction "none": d sum_i ct_i w_i l_i
        ww = ct if wv is None else ct * wv
        gs = iter(spec.grads(GRAD, first, ww, mask, red=SUM))
        grads = tuple(next(gs) if (mask >> k) & 1 else None for k in range(len(first)))
        return grads, None
    return tuple(None if g is None else ct * g for g in first), None


_tensor_vjp.defvjp(_tensor_fwd, _tensor_bwd, symbolic_zeros=True)


# -- gaussian_nll: var a differentiable input --------------------------------


def _gaussian_nll(loss, inputs, red, sample_weight, p):
    pred = jnp.asarray(inputs[0])
    dt = _float_dtype(pred)
    target, var = jnp.asarray(inputs[1]), jnp.asarray(inputs[2])
    sp = _stand_in(pred.shape, dt)
    st = _stand_in(target.shape, dt)
    sv = np.broadcast_to(np.ones((), dt), var.shape)  # in var's domain (>= 0)
    _, shape, _, _, state = loss._plan((sp, st, sv), p)
    slots, v = state[3], state[4]
    # torch's shape rule (var one axis short: one per row), then var
    # broadcast to pred's shape by XLA: JAX sums its gradient back
    full = jnp.broadcast_to(var.astype(dt).reshape(v.shape), shape)
    attrs = _attrs(REGRESSION, _GAUSSIAN_NLL, red, has_target=1, aux=full, params=slots)
    spec = _Call(loss.name, REGRESSION, _GAUSSIAN_NLL, red, shape, shape, dt, attrs, None, False)
    w = None
    if sample_weight is not None:
        w = _weights(sample_weight, shape, dt, loss.name)
    t = jnp.broadcast_to(target.astype(dt), shape)
    return _gnll_vjp(spec, jnp.broadcast_to(pred.astype(dt), shape), t, full, w)


def _gnll_ops(a, t, w, aux):
    return [a, t] + ([] if w is None else [w]) + [aux]


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _gnll_vjp(spec, pred, target, var, w):
    spec = _with_weight(spec, w)
    return spec.run(VALUE, _gnll_ops(pred, target, w, var))[0]


def _gnll_fwd(spec, pred, target, var, w):
    if w is not None and w.perturbed:
        raise TypeError(
            f"fastloss.jax.{spec.name}: the gradient w.r.t. sample_weight is not computed (only "
            "w.r.t. pred, target and var); wrap it in jax.lax.stop_gradient"
        )
    spec = _with_weight(spec, w)
    p, t, v = pred.value, target.value, var.value
    wv = None if w is None else w.value
    if pred.perturbed:
        value, g_pred = spec.run(VALUE_GRAD, _gnll_ops(p, t, wv, v))
    else:
        value, g_pred = spec.run(VALUE, _gnll_ops(p, t, wv, v))[0], None
    g_var = None
    if var.perturbed:
        # the GaussianNllVar kernel differentiates its first array (var) with
        # pred as its auxiliary input, as the core's second call does
        vspec = _Call.__new__(_Call)
        vspec.__dict__.update(spec.__dict__)
        vspec.attrs = {**spec.attrs, "id": np.int64(_GAUSSIAN_NLL_VAR)}
        (g_var,) = vspec.run(GRAD, _gnll_ops(v, t, wv, p))
    g_target = None
    if target.perturbed:
        # the loss is symmetric in pred and target: its kernel on the swapped
        # arrays (the catalogue's target kernel), as the core's
        (g_target,) = spec.run(GRAD, _gnll_ops(t, p, wv, v))
    return value, (g_pred, g_target, g_var)


def _gnll_bwd(spec, res, ct):
    return (*(None if g is None else ct * g for g in res), None)


_gnll_vjp.defvjp(_gnll_fwd, _gnll_bwd, symbolic_zeros=True)


# -- rmse: the root of mse's mean --------------------------------------------


def _rmse(loss, inputs, red, sample_weight, p):
    """rmse composed in JAX from the mse kernel (``fastloss.jax.mse``): its
    weighted sum ``S`` and the weights' sum ``W`` give ``sqrt(S / W)``; the
    gradient is JAX's chain rule through that square root over mse's fused
    gradient, taken as 0 where the mean is 0 (every residual 0), as the core
    takes it. ``"sum"`` is ``W * root`` and ``"none"`` each element's share
    ``w r**2 / root`` (they sum to it), as in the core."""
    pred, target = jnp.asarray(inputs[0]), jnp.asarray(inputs[1])
    dt = _float_dtype(pred)
    sp, st = _stand_in(pred.shape, dt), _stand_in(target.shape, dt)
    _, shape, _, _, _ = loss._plan((sp, st), p)  # the core's shape checks
    mse = globals()["mse"]
    w = None
    if sample_weight is not None:
        w = _weights(sample_weight, shape, dt, loss.name)
    total = mse(pred, target, reduction="sum", sample_weight=w)
    n = int(np.prod(shape, dtype=np.int64))
    wsum = jnp.asarray(n, dt) if w is None else jnp.sum(w)
    m = total / wsum
    pos = m > 0
    # the double where: no 0/0 in the gradient where m == 0
    root = jnp.where(pos, jnp.sqrt(jnp.where(pos, m, 1)), jnp.sqrt(m))
    inv = jnp.where(root > 0, 1 / jnp.where(root > 0, root, 1), 0)
    if red == NONE:
        return mse(pred, target, reduction="none", sample_weight=w) * inv
    if red == SUM:
        return root * wsum if n else jnp.zeros((), dt)
    return root


# -- perceptual: lists of feature maps ----------------------------------------


def _perceptual(loss, inputs, red, sample_weight, p):
    """perceptual composed in JAX as the core composes it: each layer through
    ``fastloss.jax.mse`` (p=2), ``mae`` (p=1) or the ``|r|^p`` kernel, its value times its
    ``layer_weights`` entry, the layers summed in order (in pred's dtype, where
    the core sums Python floats); ``"none"`` returns the list of per-element
    arrays. The gradient w.r.t. each layer of ``pred_features`` is the
    layer's fused one, scaled by JAX."""
    if sample_weight is not None:
        raise TypeError(
            "sample_weight: not supported by perceptual (weigh layers with layer_weights)"
        )

    def stand(xs):
        if not isinstance(xs, (list, tuple)):
            return xs  # the core's TypeError, naming the argument
        return [_stand_in(jnp.shape(x), _float_dtype(jnp.asarray(x))) for x in xs]

    pf, tf = inputs
    loss._layers((stand(pf), stand(tf)))  # the core's checks (count, shapes)
    w = loss._weights(p, len(pf))  # the core's default and count check
    core = loss.layer_kernel(p["p"])  # mse, mae or the |r|^p kernel's loss
    kernel = globals()[core.name] if core is not loss._power else _JaxLoss(core)
    kp = {} if core is not loss._power else {"p": p["p"]}
    reduction = {NONE: "none", SUM: "sum"}.get(red, "mean")
    values = []
    for f, g, wl in zip(pf, tf, w):
        f = jnp.asarray(f)
        v = kernel(f, jnp.asarray(g, _float_dtype(f)), reduction=reduction, **kp)
        values.append(v if wl == 1.0 else wl * v)
    if red == NONE:
        return values
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _penalty_list(fn, ws, red, sample_weight):
    """A penalty of a list of arrays (a model's parameters), as the core
    composes it: each array's kernel sum (``fn``, this module's penalty),
    added in order; ``"mean"`` divides by the number of weights in all of
    them; ``"none"`` returns the list of per-element arrays."""
    if sample_weight is not None:
        raise TypeError("sample_weight: not supported with a list of arrays")
    if red == NONE:
        return [fn(w, reduction="none") for w in ws]
    total = sum(int(np.prod(jnp.shape(w), dtype=np.int64)) for w in ws)
    values = [fn(w, reduction="sum") for w in ws]
    value = values[0] if values else jnp.zeros(())
    for v in values[1:]:
        value = value + v
    if red == SUM:
        return value
    return value / total if total else jnp.full((), np.nan, value.dtype)


def _linear_cross_entropy(loss, inputs, red, sample_weight, p):
    """linear_cross_entropy under JAX: the logits ``hidden @ linear_weight.T
    (+ linear_bias)`` by XLA's matrix product, then ``fastloss.jax.cross_entropy``
    (the core's kernel). Unlike the NumPy path, which never holds the (N, C)
    logits (chunks), XLA holds them here: JAX's autodiff of the product
    carries the kernel's logits gradient to hidden, weight and bias."""
    hidden, weight, labels = (jnp.asarray(x) for x in inputs[:3])
    bias = inputs[3] if len(inputs) > 3 else None
    logits = jnp.matmul(hidden, weight.T)
    if bias is not None:
        logits = logits + jnp.asarray(bias)
    reduction = {NONE: "none", SUM: "sum"}.get(red, "mean")
    return globals()["cross_entropy"](
        logits,
        labels,
        reduction=reduction,
        sample_weight=sample_weight,
        class_weight=p["class_weight"],
        ignore_index=p["ignore_index"],
        label_smoothing=p["label_smoothing"],
    )


_SPECIAL = {
    "gaussian_nll": _gaussian_nll,
    "rmse": _rmse,
    "perceptual": _perceptual,
    "linear_cross_entropy": _linear_cross_entropy,
}


def _adapt(loss: Loss):
    return _JaxLoss(loss)


for _name in _NAMES:
    globals()[_name] = _adapt(_fl.get(_name))


def covered() -> list[str]:
    """The losses fastloss.jax runs (the others raise NotImplementedError).

    >>> import fastloss.jax as flj
    >>> "cross_entropy" in flj.covered(), "gaussian_nll" in flj.covered()
    (True, True)
    """
    return [n for n in _NAMES if isinstance(globals()[n], _JaxLoss)]
