"""The Loss class: one contract, one run path for every shape of loss.

A :class:`Loss` declares its positional inputs in order (``inputs``) and
which of them are differentiable (``wrt``), and offers four verbs --
``loss(*inputs)`` for the value, :meth:`Loss.grad`,
:meth:`Loss.value_and_grad` (one fused pass) and :meth:`Loss.grad_hess` --
with the same keywords everywhere: ``reduction``, ``sample_weight``,
``out``, ``wrt`` and the loss's own parameters.

``Loss._run`` is the only run path. It resolves the reduction and the
parameters, asks the loss's shape hook to plan the work (``_plan``: convert
and check the inputs, say the per-sample loss shape and each gradient's
shape), prepares the weights and every output (fresh ones from the buffer
cache, or the caller's ``out=`` after checks, overlap included), runs the
kernel through the second hook (``_launch``) and shapes the result. A shape
of loss (element-wise, row, slice, box) is a subclass with those two hooks;
a loss of a known shape is a declaration.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastloss import _catalogue, _core
from fastloss._arrays import (
    _F32,
    _F64,
    as_contiguous,
    as_float,
    broadcast_pattern,
    check_no_overlap,
    check_same_shape,
    kernel_ready,
    new_output,
    prepare_out,
    prepare_weight,
)
from fastloss._params import Param, reduction_code

__all__ = ["Loss", "ConfiguredLoss", "ElementwiseLoss", "VALUE", "GRAD", "VALUE_GRAD", "GRAD_HESS"]

# Kernel families of fastloss._core.run, their codes read from the C++ list
# (FASTLOSS_FAMILIES in cpp/bindings/kernel_call.hpp) by name. From EMBEDDING
# on, the several-input families (fastloss._tensors.TensorLoss).
_FAMILY = _core.families()
REGRESSION = _FAMILY["regression"]
CLASSIFICATION = _FAMILY["classification"]
MULTICLASS = _FAMILY["multiclass"]
OVERLAP = _FAMILY["overlap"]
BOXES = _FAMILY["boxes"]
EMBEDDING = _FAMILY["embedding"]
PAIRWISE = _FAMILY["pairwise"]
SEQUENCE = _FAMILY["sequence"]
RANKING = _FAMILY["ranking"]
IMAGE = _FAMILY["image"]
GENERATIVE = _FAMILY["generative"]
REGULARIZATION = _FAMILY["regularization"]
CLUSTERING = _FAMILY["clustering"]
CONTROL = _FAMILY["control"]
ROBUST = _FAMILY["robust"]

# Operation codes shared with the kernels (fastloss::Op).
VALUE, GRAD, VALUE_GRAD, GRAD_HESS = 0, 1, 2, 3
# Reduction codes shared with the kernels (fastloss::Reduction).
_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}
NONE, SUM, MEAN = 0, 1, 2
_NO_SLOTS = (0.0, 0.0, 0.0, 0.0)
_CACHED_FROM = _core.buffer_cache_min_bytes
_run = _core.run
_prod = math.prod


class Loss:
    """A loss function with its gradient (and Hessian where it has one).

    Call it for the value: ``loss(pred, target, reduction="mean",
    sample_weight=None, **params)``; ``reduction`` is ``"mean"``, ``"sum"``
    or ``"none"``. A scalar reduction returns a Python float accumulated in
    float64; ``"none"`` returns the per-sample losses in pred's dtype.

    Several differentiable inputs: a loss that declares more than one
    (``gaussian_nll``'s ``pred`` and ``var``) returns a tuple of gradients in
    the order of its positional inputs; ``wrt=("var",)`` computes only some
    (``wrt="var"`` returns that one array), ``out=`` takes a matching tuple.

    Inputs differentiable on request (``wrt_on_request``): a floating target
    whose derivative PyTorch's autograd gives (``poisson_nll``, ``kl_div``,
    ``binary_cross_entropy(_with_logits)``, ``multilabel_soft_margin``,
    probability-target ``cross_entropy``, ``margin_ranking``'s ``y``) is not
    in ``wrt``, so ``grad`` keeps returning what it returns without it; a
    call that names it computes its gradient, scaled as the others by the
    reduction and weights: ``fl.poisson_nll.grad(x, t, wrt="target")`` (one
    array), ``wrt=("pred", "target")`` (a tuple, ``out=`` a matching tuple).

    Metadata: ``name``, ``family``, ``inputs`` (positional input names),
    ``wrt`` (the differentiable ones), ``wrt_on_request`` (those
    differentiable when named by ``wrt=`` only), ``has_hess``, ``hess_exact``,
    ``grad_exact`` (False only where a peer's gradient treats part of the
    value as a constant, as torchvision's complete-IoU loss does), ``peer``
    (the library whose behaviour it matches), ``params`` (defaults),
    ``list_inputs`` (True where the inputs are lists of arrays and the
    gradient a list: ``perceptual``).
    Subclasses implement ``_plan`` and ``_launch``; everything else is shared.
    """

    # Weights read as a broadcast pattern by the kernel (element-wise) or
    # materialized to the per-sample shape (the others).
    _weight_pattern = False
    # "mean" is the sum over the per-sample losses divided by their count (or
    # the weights' sum); False for a loss of parts, each its own mean
    # (gan_discriminator: mean over real + mean over fake).
    _mean_over_samples = True
    # The reduction the verbs use when none is given (a penalty, a sum by
    # definition, says "sum"; its subclass's verbs carry that default).
    default_reduction = "mean"

    def not_accumulable(self) -> str | None:
        """Why fastloss.Accumulator cannot stream this loss (its refusal's
        words), or None where it can: (pred, target) rows whose reduction
        decomposes into sums."""
        if len(self.inputs) != 2:
            return (
                f"it takes {len(self.inputs)} inputs ({', '.join(self.inputs)}); "
                "an Accumulator feeds pred and target"
            )
        return None

    @property
    def accumulable(self) -> bool:
        return self.not_accumulable() is None

    def sample_axis(self, params: Mapping[str, Any]) -> int:
        """The axis of the first input along which its samples (the entries
        of a ``reduction="none"`` result) lie: 0, the leading axis, except
        where the loss's layout says otherwise (ctc's time-major logits)."""
        return 0

    # Whether its inputs are lists of arrays (perceptual's feature maps, one
    # per layer) rather than arrays: its verbs then take and return lists.
    list_inputs = False

    @property
    def accepts_lists(self) -> bool:
        """Whether its first input may be a list of arrays: wherever
        ``list_inputs`` is, and where a subclass says so (the penalties'
        model parameters)."""
        return self.list_inputs

    def __init__(
        self,
        name: str,
        *,
        family: str,
        params: tuple[Param, ...] = (),
        has_hess: bool = False,
        hess_exact: bool = True,
        grad_exact: bool = True,
        peer: str = "",
        doc: str = "",
        pred_name: str = "pred",
        target_name: str = "target",
        inputs: tuple[str, ...] | None = None,
        wrt: tuple[str, ...] | None = None,
        wrt_on_request: tuple[str, ...] = (),
        optional_inputs: tuple[str, ...] = (),
    ):
        self.name = name
        self.family = family
        self.has_hess = has_hess
        self.hess_exact = hess_exact
        self.grad_exact = grad_exact
        self.peer = peer
        self._params = {p.name: p for p in params}
        self.params: Mapping[str, Any] = {p.name: p.default for p in params}
        self._resolved_defaults: dict[str, Any] | None = None
        self._resolved_cache: dict[tuple, dict[str, Any]] = {}
        self.inputs: tuple[str, ...] = inputs or (pred_name, target_name)
        self.wrt: tuple[str, ...] = wrt or (self.inputs[0],)
        self.pred_name = self.inputs[0]
        self.target_name = self.inputs[1] if len(self.inputs) > 1 else ""
        self._nin = len(self.inputs)
        # inputs that may be left out (None), the last ones
        self.optional_inputs: tuple[str, ...] = tuple(optional_inputs)
        self._multi = len(self.wrt) > 1
        self._all_wrt = tuple(range(len(self.wrt)))
        # differentiable when named by wrt= only (a floating target): not in
        # wrt, so the default result keeps its form. Gradient slots (grad
        # shapes, the buffers handed to _launch) are wrt's, then these.
        self.wrt_on_request: tuple[str, ...] = tuple(wrt_on_request)
        self._grad_names = self.wrt + self.wrt_on_request
        self._nslots = len(self._grad_names)
        self.__doc__ = doc
        self.__name__ = name
        self.__qualname__ = name
        self.__signature__ = self._signature()

    # -- the four verbs -----------------------------------------------------

    def __call__(self, *inputs, reduction="mean", sample_weight=None, **params):
        return self._run(VALUE, inputs, reduction, sample_weight, None, None, params)

    def grad(self, *inputs, reduction="mean", sample_weight=None, out=None, wrt=None, **params):
        """d(value)/d(input) for the same arguments, shaped like that input.

        One array for a loss with one differentiable input; a tuple in
        positional order for several (``wrt`` selects: a name gives one
        array, a tuple of names a tuple). ``out``: a C-contiguous array of
        the input's shape and dtype (a matching tuple for several) to write
        into; it may not overlap any input.
        """
        return self._run(GRAD, inputs, reduction, sample_weight, out, wrt, params)

    def value_and_grad(
        self, *inputs, reduction="mean", sample_weight=None, out=None, wrt=None, **params
    ):
        """``(value, grad)`` computed in one pass over memory (``grad`` as
        :meth:`grad` returns it)."""
        return self._run(VALUE_GRAD, inputs, reduction, sample_weight, out, wrt, params)

    def grad_hess(self, *inputs, reduction="mean", sample_weight=None, out=None, **params):
        """Element-wise gradient and diagonal Hessian w.r.t. the first input,
        ``(grad, hess)``.

        Scaled like ``grad`` (``reduction="none"`` gives the per-element
        derivatives boosting libraries want). ``out``: a pair of arrays.
        """
        if not self.has_hess:
            raise TypeError(f"{self.name} has no Hessian: grad_hess is not available")
        if out is not None and (not isinstance(out, tuple) or len(out) != 2):
            raise TypeError("out: expected a pair (grad_out, hess_out)")
        return self._run(GRAD_HESS, inputs, reduction, sample_weight, out, None, params)

    def _blocks(self, *inputs, sample_weight=None, **params):
        """The leaves of the mean's reduction tree, for a caller that
        continues it (:class:`fastloss.Accumulator`).

        Returns a float64 array of shape ``(ceil(terms / BLOCK), 2)``: per
        block of :data:`fastloss.BLOCK` reduction terms (per-sample losses
        in the kernel's order: elements, rows or slices), the (weighted)
        losses' sum and the mean's denominator there (the weights' sum, or
        the count). :func:`fastloss._accumulate.tree_sum` of each column
        gives the bits of the loss's own ``"mean"`` numerator and
        denominator.
        """
        return self._run(VALUE, inputs, "mean", sample_weight, None, None, params, True)

    # -- the run path -------------------------------------------------------

    def _run(self, op, inputs, reduction, sample_weight, out, wrt, params, blocks=False):
        red = _REDUCTIONS.get(reduction) if type(reduction) is str else None
        if red is None:
            red = reduction_code(reduction)  # raises
        if len(inputs) != self._nin:
            inputs = self._inputs_from(inputs, params)
        p = None if params else self._resolved_defaults  # checked once, then cached
        if p is None:
            p = self.resolve_params(params)
        dt, sample_shape, grad_shapes, reads, state = self._plan(inputs, p)
        w = None
        if sample_weight is not None:
            w = prepare_weight(sample_weight, sample_shape, dt, pattern=self._weight_pattern)
        value_out = None
        if red == NONE and (op == VALUE or op == VALUE_GRAD):
            value_out = new_output(sample_shape, dt)
        grads = hess = None
        sel = self._all_wrt
        if op != VALUE:
            if out is None and wrt is None and not self._multi and op != GRAD_HESS:
                shape = grad_shapes[0]  # the common call: new_output, inlined
                grads = (
                    np.empty(shape, dt)
                    if _prod(shape) * dt.itemsize < _CACHED_FROM
                    else _core.empty(shape, dt),
                )
            else:
                if wrt is not None:
                    sel = self._select(wrt)
                grads, hess = self._outputs(op, sel, grad_shapes, dt, out, wrt)
                if out is not None:
                    self._check_overlap(grads, hess, reads, w, p)
        if blocks:
            leaves = np.empty((-(-_prod(sample_shape) // _core.BLOCK), 2))
            self._launch(state, op, red, w, value_out, grads, hess, p, blocks=leaves)
            return leaves
        value = self._launch(state, op, red, w, value_out, grads, hess, p)
        if op == VALUE:
            return value_out if red == NONE else value
        if not self._multi and wrt is None:
            g = grads[0]
        elif op == GRAD_HESS:
            return grads[0], hess
        elif isinstance(wrt, str):
            g = grads[sel[0]]
        else:
            g = tuple(grads[i] for i in sel)
        if op == GRAD:
            return g
        if op == GRAD_HESS:
            return g, hess
        return (value_out if red == NONE else value), g

    def _outputs(self, op, sel, shapes, dt, out, wrt):
        """Gradient buffers, one slot per differentiable input (None where
        not asked), and the Hessian buffer."""
        if op == GRAD_HESS:
            g_out, h_out = out if out is not None else (None, None)
            return (
                (prepare_out(g_out, shapes[0], dt, "out[0]"),) + (None,) * (len(shapes) - 1),
                prepare_out(h_out, shapes[0], dt, "out[1]"),
            )
        if (
            len(sel) == 1
            and (not self._multi or wrt is None or isinstance(wrt, str))
            and (out is None or not isinstance(out, tuple))
        ):
            i = sel[0]
            shape = shapes[i]
            if shape is None:  # an optional input left out: no gradient
                g = self._absent_out(out, i, "out")
            elif out is not None:
                g = prepare_out(out, shape, dt)
            else:
                g = new_output(shape, dt)
            if len(shapes) == 1:
                return (g,), None
            grads = [None] * len(shapes)
            grads[i] = g
            return tuple(grads), None
        outs = out if out is not None else (None,) * len(sel)
        if not isinstance(outs, (tuple, list)) or len(outs) != len(sel):
            names = ", ".join(self._grad_names[i] for i in sel)
            raise TypeError(
                f"out: expected a tuple of {len(sel)} arrays, one for each of ({names})"
            )
        grads = [None] * len(shapes)
        for k, i in enumerate(sel):
            name = f"out[{k}]" if len(sel) > 1 else "out"
            if shapes[i] is None:
                grads[i] = self._absent_out(outs[k], i, name)
            else:
                grads[i] = prepare_out(outs[k], shapes[i], dt, name)
        return tuple(grads), None

    def _absent_out(self, out, i, name):
        """The gradient of an optional input that was left out: None (an
        ``out=`` buffer for it is refused)."""
        if out is not None:
            raise ValueError(f"{name}: {self._grad_names[i]} was not given, so it has no gradient")
        return None

    def _check_overlap(self, grads, hess, reads, w, p):
        given = [g for g in grads if g is not None]
        outs = {"out" if len(given) == 1 else f"out[{k}]": g for k, g in enumerate(given)}
        if hess is not None:
            outs = {"out[0]": grads[0], "out[1]": hess}
        ins = dict(zip(self.inputs, reads))
        if w is not None:
            ins["sample_weight"] = w
        for k, v in p.items():  # array parameters (class_weight, pos_weight)
            if isinstance(v, np.ndarray):
                ins[k] = v
        check_no_overlap(outs, ins)

    def _select(self, wrt) -> tuple[int, ...]:
        names = (wrt,) if isinstance(wrt, str) else wrt
        try:
            names = tuple(names)
        except TypeError:
            raise TypeError(
                f"wrt: expected an input name or a tuple of names, got {wrt!r}"
            ) from None
        sel = []
        for nm in names:
            if nm not in self._grad_names:
                extra = ""
                if self.wrt_on_request:
                    extra = f"; on request: {', '.join(self.wrt_on_request)}"
                raise ValueError(
                    f"wrt: {nm!r} is not a differentiable input of {self.name} "
                    f"(its differentiable inputs: {', '.join(self.wrt)}{extra})"
                )
            i = self._grad_names.index(nm)
            if i in sel:
                raise ValueError(f"wrt: {nm!r} is named twice")
            sel.append(i)
        if not sel:
            raise ValueError("wrt: name at least one input")
        # the gradients in the order of the positional inputs
        return tuple(sorted(sel, key=lambda i: self.inputs.index(self._grad_names[i])))

    def _inputs_from(self, inputs, params):
        """Inputs beyond the ones given positionally may come as keywords
        (``gaussian_nll(pred, target, var=v)``, as torch accepts them)."""
        got = list(inputs)
        for name in self.inputs[len(got) :]:
            if name in params:
                got.append(params.pop(name))
            elif name in self.optional_inputs:
                got.append(None)
            else:
                break
        if len(got) != self._nin:
            names = ", ".join(self.inputs)
            missing = ", ".join(self.inputs[len(got) :])
            if len(got) < self._nin:
                raise TypeError(
                    f"{self.name}() missing required input(s): {missing} (its inputs: {names})"
                )
            raise TypeError(
                f"{self.name}() takes {self._nin} positional inputs ({names}), got {len(got)}"
            )
        return tuple(got)

    # -- the shape hooks ----------------------------------------------------

    def _plan(self, inputs, p):  # pragma: no cover
        """Convert and check the inputs. Returns ``(dtype, sample_shape,
        grad_shapes, reads, state)``: the compute dtype, the per-sample loss
        shape (weights broadcast against it), one gradient shape per
        differentiable input (``wrt``, then ``wrt_on_request``), the arrays
        the kernel reads (one per input, in order, None where an input is not
        an array; for the overlap check)
        and whatever ``_launch`` needs."""
        raise NotImplementedError

    def _pred_pass(self, state, op, red, w, value_out, g_pred, p):
        """The pass over pred of a call that also asks for a target's
        gradient (``wrt_on_request``; the target's pass follows): the value
        and pred's gradient as asked, None when neither is."""
        if g_pred is None and op == GRAD:
            return None
        kop = op if g_pred is not None else VALUE
        kg = (g_pred,) if g_pred is not None else None
        return self._launch(state, kop, red, w, value_out, kg, None, p)

    def _launch(
        self, state, op, red, w, value_out, grads, hess, p, blocks=None
    ):  # pragma: no cover
        """Run the kernel into the prepared outputs; return the reduced
        value (a float) or None. ``blocks``: the ``out_blocks`` array of
        :meth:`_blocks` (a mean's value), or None."""
        raise NotImplementedError

    @staticmethod
    def _run_pair(family, kid, op, red, pred, target, w, value_out, grad, blocks, **extra):
        """``_core.run`` for a (pred, target) kernel with one gradient output,
        by keyword: the arguments every such ``_launch`` passes, and
        ``extra``, the family's own (``params``, ``slices``, ``out_hess``...)."""
        return _core.run(
            family,
            kid,
            op,
            red,
            pred,
            target=target,
            sample_weight=w,
            out_value=value_out,
            out_grad=grad,
            out_blocks=blocks,
            **extra,
        )

    # -- parameters ---------------------------------------------------------

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, unknown names refused, every value checked.

        Checked results are reused for repeated scalar keywords (the hot path
        of a training loop); callers must not modify the returned dict.
        """
        if not given:
            d = self._resolved_defaults
            if d is None:
                d = self._resolved_defaults = self._resolve(given)
            return d
        # Scalar keywords repeat from call to call: remember their checked form.
        for v in given.values():
            if type(v) is np.ndarray:  # an array is checked every time
                return self._resolve(given)
        try:
            key = (*given.items(), *map(type, given.values()))
            hit = self._resolved_cache.get(key)
        except TypeError:  # another unhashable value (a list)
            return self._resolve(given)
        if hit is None:
            hit = self._resolve(given)
            if len(self._resolved_cache) >= 64:
                self._resolved_cache.clear()
            self._resolved_cache[key] = hit
        return hit

    def _resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        for k in given:
            if k not in self._params:
                known = ", ".join(self._params) or "none"
                raise TypeError(
                    f"{self.name}() got an unexpected keyword argument {k!r} "
                    f"(its parameters: {known})"
                )
        out = {}
        for k, p in self._params.items():
            v = given.get(k, p.default)
            if v is None:
                if p.default is not None:
                    raise TypeError(f"{k} must not be None (default: {p.default!r})")
            elif p.check is not None:
                v = p.check(k, v)
            out[k] = v
        return out

    def _signature(self) -> inspect.Signature:
        P = inspect.Parameter
        ps = [
            P(n, P.POSITIONAL_ONLY, default=None)
            if n in self.optional_inputs
            else P(n, P.POSITIONAL_ONLY)
            for n in self.inputs
        ]
        ps += [
            P("reduction", P.KEYWORD_ONLY, default="mean"),
            P("sample_weight", P.KEYWORD_ONLY, default=None),
        ]
        ps += [P(k, P.KEYWORD_ONLY, default=v) for k, v in self.params.items()]
        return inspect.Signature(ps)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<fastloss.{self.name}({ps})>"

    def with_params(self, **params) -> ConfiguredLoss:
        """This loss with parameters fixed, for :class:`fastloss.Accumulator`
        (``fl.huber.with_params(delta=0.5)``); the values are checked now."""
        self.resolve_params(params)
        return ConfiguredLoss(self, params)

    def __reduce__(self):
        # Losses are singletons in the registry: pickle by name.
        from fastloss import get

        return (get, (self.name,))


class ConfiguredLoss:
    """A loss and fixed parameters (made by :meth:`Loss.with_params`);
    calling it calls the loss with them."""

    __slots__ = ("loss", "params")

    def __init__(self, loss: Loss, params: Mapping[str, Any]):
        self.loss = loss
        self.params = dict(params)

    def __call__(self, *inputs, **kw):
        return self.loss(*inputs, **{**self.params, **kw})

    def __eq__(self, other):
        return (
            isinstance(other, ConfiguredLoss)
            and other.loss is self.loss
            and other.params == self.params
        )

    __hash__ = None  # type: ignore[assignment]  # parameters may be arrays

    def __reduce__(self):
        return (ConfiguredLoss, (self.loss, self.params))

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<fastloss.{self.loss.name}.with_params({ps})>"


class ElementwiseLoss(Loss):
    """A loss whose per-sample loss is per element: pred and target of one shape.

    ``kernel`` is the kernel family (REGRESSION or CLASSIFICATION: the code
    ``fastloss._core.run`` takes), ``kernel_id`` this loss's number in it,
    and ``pack(params, pred, target)`` turns the checked
    parameters into the kernel's four float slots and optional per-element
    auxiliary array (and may transform the target). Losses whose kernel checks
    its input domain give ``explain(pred, target, index, params)``: the
    message for the invalid element the kernel found at flat ``index``; by
    default the catalogue's (:func:`fastloss._catalogue.explain`, None where
    the kernel checks no simple domain).

    A target differentiable on request (``wrt_on_request``) has a kernel of
    its own (the catalogue's ``grad_kernel``), run with the two arrays'
    roles swapped (the element-wise driver differentiates its first array):
    a second pass after pred's where both are asked.
    """

    _weight_pattern = True

    def __init__(self, name, *, kernel, kernel_id, pack=None, explain=None, **kw):
        super().__init__(name, **kw)
        self._kernel = kernel
        self._id = kernel_id
        self._pack = pack if pack is not None else _catalogue.scalar_pack(name)
        self._explain = explain if explain is not None else _catalogue.explain(name)
        self._target_id = (
            _catalogue.grad_kernel(name, self.target_name) if self.wrt_on_request else None
        )

    def _plan(self, inputs, p):
        pred, target = inputs[0], inputs[1]
        # Hot path: float32/float64 arrays of one dtype go as they are; the
        # binding checks contiguity itself, and _launch makes contiguous
        # copies of the rare strided array it refuses.
        dt = pred.dtype if type(pred) is np.ndarray else None
        if not ((dt is _F32 or dt is _F64) and type(target) is np.ndarray and target.dtype is dt):
            # a broadcast (zero-stride) input stays a view: _launch reads it
            # as a pattern
            pred = as_float(pred, self.pred_name, keep_broadcast=True)
            dt = pred.dtype
            target = as_float(target, self.target_name, dt, keep_broadcast=True)
        shape = pred.shape
        if shape != target.shape:
            check_same_shape(pred, target, self.pred_name, self.target_name)
        slots, aux = _NO_SLOTS, None
        if self._pack is not None:
            slots, aux, target = self._pack(p, pred, target, *inputs[2:])
        state = (pred, target, aux, slots)
        return dt, shape, (shape,) * self._nslots, (pred, target, aux), state

    def _launch(self, state, op, red, w, value_out, grads, hess, p, blocks=None):
        # the target's gradient asked (wrt_on_request): a pass of its own
        if grads is not None and len(grads) > 1 and grads[1] is not None:
            return self._launch_with_target(state, op, red, w, value_out, grads, p)
        pred, target, aux, slots = state[:4]
        try:
            if len(state) > 4 or blocks is not None:
                # inputs as patterns (broadcast views), or the block leaves
                kp, kt = state[4] if len(state) > 4 else (pred, target)
                return _run(
                    self._kernel,
                    self._id,
                    op,
                    red,
                    kp,
                    kt,
                    sample_weight=w,
                    aux=aux,
                    out_value=value_out,
                    out_grad=grads[0] if grads is not None else None,
                    out_hess=hess,
                    params=slots,
                    out_blocks=blocks,
                    size=pred.size,
                )
            # by position (the hot path; see cpp/bindings/run.cpp): target,
            # labels, sample_weight, aux, class_weight, out_value, out_grad,
            # out_hess, classes, slices, slice_size, group, ignore_index, params
            return _run(
                self._kernel,
                self._id,
                op,
                red,
                pred,
                target,
                None,
                w,
                aux,
                None,
                value_out,
                grads[0] if grads is not None else None,
                hess,
                0,
                0,
                0,
                1,
                -100,
                slots,
            )
        except _core.InvalidElement as exc:  # a ValueError: caught first
            raise ValueError(self._invalid_message(pred, target, exc.args[0], p)) from None
        except ValueError:
            if len(state) > 4 or (kernel_ready(pred) and kernel_ready(target)):
                raise
            # a strided or unaligned input, refused by the binding: a
            # broadcast view is read as its pattern (2**31 elements of a
            # scalar cost nothing), anything else copied once
            state = (pred, target, aux, slots, (_feed(pred), _feed(target)))
            return self._launch(state, op, red, w, value_out, grads, hess, p, blocks)

    def _invalid_message(self, pred, target, i, p) -> str:
        """The message for the element at flat index ``i`` the kernel found
        outside the loss's domain."""
        if self._explain is not None:
            return self._explain(pred, target, i, p)
        return f"{self.name}: input outside the loss's domain at flat index {i}"

    def _launch_with_target(self, state, op, red, w, value_out, grads, p):
        """pred's pass (value and gradient, as asked), then the target's
        gradient by its own kernel on the swapped arrays."""
        g_pred, g_target = grads
        value = self._pred_pass(state, op, red, w, value_out, g_pred, p)
        if g_target is not None:
            pred, target, aux, slots = state[:4]
            kp, kt = state[4] if len(state) > 4 else (_feed(pred), _feed(target))
            try:
                _run(
                    self._kernel,
                    self._target_id,
                    GRAD,
                    red,
                    kt,
                    kp,
                    sample_weight=w,
                    aux=aux,
                    out_grad=g_target,
                    params=slots,
                    size=pred.size,
                )
            except _core.InvalidElement as exc:
                raise ValueError(self._invalid_message(pred, target, exc.args[0], p)) from None
        return value


def _feed(x: np.ndarray):
    """An input as the kernel reads it: itself (C-contiguous and aligned),
    the pattern of a broadcast view, or a contiguous, aligned copy."""
    if kernel_ready(x):
        return x
    pat = broadcast_pattern(x)
    return pat if pat is not None else as_contiguous(x)
