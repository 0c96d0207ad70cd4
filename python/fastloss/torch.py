"""fastloss as a PyTorch loss: functions and ``torch.nn`` drop-in modules.

``import fastloss.torch`` imports torch (``import fastloss`` never does).

Functions
    One per loss of :func:`fastloss.available`, same name, same inputs and
    keywords as the core (``fastloss.torch.cross_entropy(logits, labels,
    class_weight=..., ignore_index=..., label_smoothing=...)``, class axis
    last as in the core). They take CPU tensors of any strides (or anything
    array-like) and return a tensor (0-d for ``"mean"``/``"sum"``) that takes
    part in autograd.

Modules
    Named as ``torch.nn`` names them where PyTorch has the loss
    (:class:`CrossEntropyLoss`, :class:`MSELoss`, :class:`L1Loss`,
    :class:`HuberLoss`, :class:`SmoothL1Loss`, :class:`BCELoss`,
    :class:`BCEWithLogitsLoss`, :class:`PoissonNLLLoss`,
    :class:`GaussianNLLLoss`, :class:`KLDivLoss`, :class:`MultiMarginLoss`,
    :class:`NLLLoss`, :class:`SoftMarginLoss`, :class:`HingeEmbeddingLoss`,
    :class:`MultiLabelSoftMarginLoss`, :class:`MultiLabelMarginLoss`,
    :class:`LinearCrossEntropyLoss`),
    with PyTorch's constructor keywords and layouts (class axis 1,
    ``weight=`` as each torch class means it, ``KLDivLoss``'s
    ``"batchmean"``), so a training script changes one import; the others
    after the catalogue name (``DiceLoss``, ``GiouLoss``,
    ``SigmoidFocalLoss``, ...), taking the core's keywords.

Autograd
    When an input requires grad, the forward runs the loss's fused
    ``value_and_grad`` once, writing the gradient into a torch tensor, and
    the backward scales that gradient by ``grad_output`` (no second pass).
    For ``reduction="none"`` of a loss whose samples are independent
    (element-wise, row, slice, box, triplet, ranking-list losses, ``ctc``,
    whose samples lie along axis 1 of time-major logits) the saved gradient
    is the core's ``"none"`` gradient, each sample's own derivative in the
    input's shape, and the backward multiplies it by ``grad_output``
    (broadcast over the sample's elements): no second pass. Losses whose
    samples are coupled (``ntxent``, ``clip``, ``rmse``, a shared input such
    as ``center``'s centers, a ``var`` broadcast
    against ``gaussian_nll``'s pred) compute the value alone and the backward
    makes one gradient pass, ``loss.grad(..., reduction="sum",
    sample_weight=grad_output)``: the weights multiply each sample's loss,
    so the derivative of ``sum(w * l)`` is exactly the vector-Jacobian
    product. ``rmse``'s ``"none"`` shares depend on every element through
    the root, so their backward accepts only a uniform ``grad_output`` (as
    from ``.sum()``).

    Gradients flow to the loss's differentiable inputs (``loss.wrt``:
    ``gaussian_nll``'s ``pred`` and ``var``) and, as in
    ``torch.nn.functional``, to a floating target: the targets of the losses
    of ``pred - target`` (``mse``, ``mae``, ``huber``, ``smooth_l1``,
    ``log_cosh``, ``pseudo_huber``, ``quantile``, ``rmse``,
    ``gaussian_nll``), ``poisson_nll``, ``kl_div``,
    ``binary_cross_entropy(_with_logits)``, ``multilabel_soft_margin``,
    probability-target ``cross_entropy`` and ``margin_ranking``'s ``y`` are
    differentiable on request in the core (``loss.wrt_on_request``), whose
    kernels give their gradient in the same verb call as the others
    (``wrt=``; tested against torch's autograd); ``kl_div``'s is ``log t + 1
    - x``, ``-inf`` at ``t = 0`` where torch's is NaN. ``hinge_embedding``'s
    and ``cosine_embedding``'s targets get no gradient, as in torch (they
    only pick a branch). Other targets (and ``soft_margin``'s, which torch
    refuses too) and weights that require grad are refused, not silently
    given a zero gradient. Second derivatives raise (the backward is
    ``once_differentiable``).

Inputs
    CPU tensors only: a CUDA (or meta, ...) tensor is a ``ValueError``
    naming the argument. Tensors are read without copies (``.numpy()`` on
    the detached tensor shares its memory). float16 and bfloat16 inputs are
    computed in float32 (the core has no half-precision kernels: one copy,
    made by ``.float()`` inside the graph, so each gradient comes back in its
    input's dtype); the value has the dtype torch gives: the inputs' outside
    autocast, float32 under ``torch.autocast("cpu")`` (as torch's losses on
    its float32 list; ``gaussian_nll`` and ``multilabel_soft_margin``, which
    torch composes from other ops, keep the inputs' dtype there too).

Examples
--------
>>> import torch
>>> import fastloss.torch as flt
>>> pred = torch.tensor([0.5, 2.0], requires_grad=True)
>>> loss = flt.mse(pred, torch.tensor([0.0, 1.0]))
>>> loss.backward()
>>> round(loss.item(), 6), pred.grad.tolist()
(0.625, [0.5, 1.0])
>>> logits = torch.zeros(2, 3, requires_grad=True)
>>> round(flt.CrossEntropyLoss()(logits, torch.tensor([0, 2])).item(), 6)  # log 3
1.098612
>>> target = torch.tensor([0.0, 1.0], requires_grad=True)  # a target's gradient, as torch
>>> flt.mse(torch.tensor([0.5, 2.0]), target).backward()
>>> target.grad.tolist()
[-0.5, -1.0]
>>> half = torch.tensor([0.5, 2.0], dtype=torch.bfloat16, requires_grad=True)
>>> loss = flt.mse(half, torch.zeros(2, dtype=torch.bfloat16))  # computed in float32
>>> loss.backward()
>>> loss.dtype, half.grad.dtype
(torch.bfloat16, torch.bfloat16)
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

import fastloss as _fl
from fastloss._arrays import new_output, prepare_weight

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CosineEmbeddingLoss",
    "CTCLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "MarginRankingLoss",
    "MSELoss",
    "MultiMarginLoss",
    "PoissonNLLLoss",
    "MultiLabelSoftMarginLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "NLLLoss",
    "HingeEmbeddingLoss",
    "MultiLabelMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]

_REDUCTIONS = ("mean", "sum", "none")
_HALF = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------
# tensors in, tensors out


def _numpy(x, name):
    """A NumPy view of a CPU tensor (no copy); other objects as they are."""
    if not isinstance(x, torch.Tensor):
        return x
    if x.device.type != "cpu":
        raise ValueError(
            f"{name}: fastloss.torch runs on CPU tensors only, got a tensor on "
            f"device {x.device!s}; move it with .cpu()"
        )
    if x.layout != torch.strided:
        raise TypeError(f"{name}: expected a dense (strided) tensor, got layout {x.layout}")
    if x.dtype in _HALF:
        # no half-precision kernels: computed in float32 (one copy); _apply
        # converts a differentiable input through autograd instead
        return x.detach().float().numpy()
    if x.is_complex():
        raise TypeError(f"{name}: expected real numbers, got {x.dtype}")
    # resolve_neg/conj are no-ops (no copy) unless a lazy view bit is set
    return x.detach().resolve_neg().resolve_conj().numpy()


def _param(x, name):
    if isinstance(x, torch.Tensor) and x.requires_grad:
        raise ValueError(
            f"{name}: fastloss.torch gives no gradient for {name}; pass {name}.detach()"
        )
    return _numpy(x, name)


_NP_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _compute_dtype(pred):
    dt = getattr(pred, "dtype", None)
    if isinstance(dt, np.dtype) and dt in _NP_TO_TORCH:
        return dt
    return np.dtype(np.float64)


def _scalar(v, dt, result=None):
    # ``result``: the dtype torch gives for half inputs, made from the
    # float64 accumulation directly (one rounding)
    return torch.tensor(v, dtype=_NP_TO_TORCH[dt] if result is None else result)


# --------------------------------------------------------------------------
# gradients w.r.t. a target (torch.nn.functional gives them)
#
# The core differentiates with respect to ``loss.wrt`` and, when a call names
# them, ``loss.wrt_on_request``: the floating targets whose derivative torch
# gives (poisson_nll, kl_div, the binary cross-entropies,
# multilabel_soft_margin, probability-target cross_entropy, margin_ranking's
# y, and the target of every loss of ``pred - target``: mse, mae, huber, ...),
# computed by the C++ kernels and scaled by the reduction as pred's gradient;
# the adapter asks for them in the same verb call as the others (wrt=).
# _NO_GRAD: torch gives no gradient (the target only picks a branch), so the
# target gets none (its .grad stays None, as with torch). Any other target
# is refused, as torch refuses soft_margin_loss's ("not differentiable with
# respect to argument 'target'") and integer class indices.

_NO_GRAD = frozenset({("hinge_embedding", "target"), ("cosine_embedding", "y")})

# Loss families whose per-sample losses are independent of one another: the
# core's reduction="none" gradient holds each sample's own derivative
# (d l_i / d x_i, in the input's shape), so the backward of "none" scales it
# by grad_output (along the loss's sample_axis: axis 1 of ctc's time-major
# logits). The others (ntxent, clip, rmse, a shared parameter such as
# center's centers) keep a weighted gradient pass in backward.
_INDEPENDENT = frozenset(
    {
        "ElementwiseLoss",
        "RowLoss",
        "BoxLoss",
        "SliceLoss",
        "_Rows",
        "_ElementPairs",
        "_Lists",
        "_SoftmaxRows",
        "_GaussianNll",
        "_Ssim",
        "_MsSsim",
        "_Elbo",
        "_TdError",
        "_Fake",
        "_Ctc",
    }
)


def _sum_to(g, shape):
    """``g`` summed over the axes ``shape`` was broadcast along."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    return g.sum_to_size(shape) if len(shape) else g.sum()


def _bcast(go, g, axis=0):
    """grad_output of a "none" result, shaped to multiply a gradient whose
    axes from ``axis`` on are the result's."""
    return go.reshape((1,) * axis + tuple(go.shape) + (1,) * (g.dim() - axis - go.dim()))


# Marks an input saved through ctx.save_for_backward (None is an input too:
# an optional one left out).
_SAVED = object()


class _Call:
    """One call: the loss, its reduction, weights and checked parameters."""

    __slots__ = (
        "loss",
        "reduction",
        "weight",
        "params",
        "grads",
        "tensors",
        "mode",
        "wrt",
        "core",
        "dt",
        "result",
        "axis",
    )

    def __init__(self, loss, reduction, weight, params, result=None):
        self.loss = loss
        self.reduction = reduction
        self.weight = weight
        self.params = params
        self.result = result

    def forward(self, ctx, inputs):
        L = self.loss
        names = L.inputs
        arrs = tuple(_numpy(x, n) for x, n in zip(inputs, names))
        need = [i for i in range(len(names)) if ctx.needs_input_grad[1 + i]]
        for i in need:
            if names[i] in L.wrt or names[i] in L.wrt_on_request:
                continue  # the core's gradient
            if (L.name, names[i]) not in _NO_GRAD:
                raise ValueError(
                    f"{names[i]}: fastloss.{L.name} is differentiable with respect to "
                    f"{', '.join(L.wrt + L.wrt_on_request)} only; pass {names[i]}.detach()"
                )
        red, w, p = self.reduction, self.weight, self.params
        dt = _compute_dtype(arrs[0])
        if not need:
            v = L(*arrs, reduction=red, sample_weight=w, **p)
            return torch.from_numpy(v) if red == "none" else _scalar(v, dt, self.result)
        # The core's gradients: the inputs in loss.wrt (or wrt_on_request)
        # that need one.
        self.core = [i for i in need if (L.name, names[i]) not in _NO_GRAD]
        self.dt = dt
        self.wrt = tuple(names[i] for i in self.core)
        # Inputs kept for a backward that must run a gradient pass (see
        # backward); saved through autograd so an in-place change is caught.
        ctx.save_for_backward(*(x for x in inputs if isinstance(x, torch.Tensor)))
        self.tensors = tuple(_SAVED if isinstance(x, torch.Tensor) else x for x in inputs)
        self.mode = "scale"
        if red == "none" and type(L).__name__ not in _INDEPENDENT:
            # Samples coupled to one another: the backward makes one
            # weighted gradient pass (see the module's docstring).
            self.mode = "vjp"
            self.grads = None
            return torch.from_numpy(L(*arrs, reduction=red, sample_weight=w, **p))
        v, grads = self._run(inputs, arrs, value=True)
        ax = self.axis = L.sample_axis(p)
        if red == "none" and not all(
            tuple(v.shape) == tuple(inputs[i].shape[ax : ax + v.ndim]) for i in grads
        ):
            # "none" per element of pred while an input (a broadcast var)
            # is summed over: not a per-sample gradient; a pass in backward.
            self.mode = "vjp"
            grads = None
        self.grads = grads
        return torch.from_numpy(v) if red == "none" else _scalar(v, dt, self.result)

    def _run(self, inputs, arrs, value):
        """The forward's gradients, {input index: tensor}, as the reduction
        scales them ("none": each sample's own, grad_output to come), and
        the value if asked: one call of the core's verb for every gradient
        it gives (wrt=)."""
        L, red, w, p = self.loss, self.reduction, self.weight, self.params
        grads = {}
        v = None
        if self.core:
            outs = self._new_grads(inputs)
            if value:
                v, _ = L.value_and_grad(
                    *arrs, reduction=red, sample_weight=w, **p, **self._out(outs)
                )
            else:
                L.grad(*arrs, reduction=red, sample_weight=w, **p, **self._out(outs))
            grads = dict(zip(self.core, outs))
        elif value:
            v = L(*arrs, reduction=red, sample_weight=w, **p)
        return v, grads

    def _new_grads(self, inputs):
        # Gradient tensors over fastloss's buffer cache (new_output), not
        # torch.empty: a training loop drops last step's .grad and takes a
        # new one each step, and the cache hands back that memory instead of
        # a fresh mapping faulted in page by page (mse 1e7 float32 forward +
        # backward on the loaded 2-core machine: 48 ms with torch.empty, 16 ms
        # with the cache, equal to the core's own value_and_grad).
        return [torch.from_numpy(new_output(tuple(inputs[i].shape), self.dt)) for i in self.core]

    def _inputs(self, ctx):
        saved = iter(ctx.saved_tensors)
        return tuple(next(saved) if x is _SAVED else x for x in self.tensors)

    def _out(self, grads):
        outs = tuple(g.numpy() for g in grads)
        if self.loss._multi or self.wrt != self.loss.wrt:
            # several gradients, or a target's on request: named (wrt=)
            return {"out": outs, "wrt": self.wrt}
        return {"out": outs[0]}

    def backward(self, ctx, go):
        L = self.loss
        grads = self.grads
        # The saved gradient goes to autograd with no reference kept here, so
        # AccumulateGrad can take it as .grad instead of copying it. A second
        # backward through the same graph (retain_graph=True, gradcheck)
        # finds none and runs the gradient pass again.
        self.grads = None
        if self.mode == "vjp":
            grads = self._vjp(ctx, go)
        else:
            inputs = self._inputs(ctx)
            if grads is None:
                arrs = tuple(_numpy(x, n) for x, n in zip(inputs, L.inputs))
                _, grads = self._run(inputs, arrs, value=False)
            if self.reduction == "none":
                # each sample's own gradient times its grad_output (a target
                # broadcast against pred summed back to its shape)
                grads = {
                    i: _sum_to(g * _bcast(go, g, self.axis), inputs[i].shape)
                    for i, g in grads.items()
                }
            elif go.item() != 1.0:  # the common .backward() on the loss: 1, no pass
                grads = {i: g * go for i, g in grads.items()}
        return tuple(grads.get(i) for i in range(len(L.inputs)))

    def _vjp(self, ctx, go):
        L = self.loss
        inputs = self._inputs(ctx)
        arrs = tuple(_numpy(x, n) for x, n in zip(inputs, L.inputs))
        g = _numpy(go, "grad_output")
        if go.dtype != _NP_TO_TORCH[self.dt]:
            g = g.astype(self.dt)
        scale = None
        if L.name == "rmse":
            # rmse's shares w r^2 / RMSE depend on every element: weighting them
            # changes the root. Only a uniform grad_output has a VJP the core
            # computes (c times the "sum" gradient).
            lo, hi = (g.min(), g.max()) if g.size else (0.0, 0.0)
            if lo != hi:
                raise ValueError(
                    "grad_output: rmse with reduction='none' returns shares that depend "
                    "on every element; fastloss.torch backpropagates only a uniform "
                    "grad_output through them (as from .sum()); use reduction='sum' or "
                    "fastloss.torch.mse for per-element errors"
                )
            scale = float(lo) if g.size else 0.0
            w = self.weight
        else:
            w = prepare_weight(g, g.shape, self.dt)
            if self.weight is not None:
                w = w * prepare_weight(self.weight, g.shape, self.dt)
        grads = {}
        if self.core:
            outs = self._new_grads(inputs)
            L.grad(*arrs, reduction="sum", sample_weight=w, **self.params, **self._out(outs))
            if scale is not None and scale != 1.0:
                outs = [x * scale for x in outs]
            grads = dict(zip(self.core, outs))
        return grads


class _LossFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, call, *inputs):
        ctx.call = call
        return call.forward(ctx, inputs)

    @staticmethod
    def backward(ctx, go):
        grads = _backward_once(ctx, go)
        if torch.is_grad_enabled():
            # create_graph=True: the gradients have no graph of their own, so
            # differentiating them must fail loudly, not give zeros. Each is
            # tied to the inputs it came from by a node whose backward raises.
            anchors = [x for x in ctx.saved_tensors if x.requires_grad]
            grads = tuple(None if g is None else _Twice.apply(g, *anchors) for g in grads)
        return grads


class _Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g, *anchors):
        return g.view_as(g)

    @staticmethod
    def backward(ctx, *_):
        raise RuntimeError(_TWICE)


_TWICE = (
    "fastloss.torch: second derivatives (double backward) are not available; the "
    "backward runs the fused gradient kernel once"
)


@once_differentiable
def _backward_once(ctx, go):
    return (None,) + ctx.call.backward(ctx, go)


# --------------------------------------------------------------------------
# torch.func (grad, vjp, jacrev, vmap): functorch runs an autograd.Function
# only in the setup_context form, whose forward sees no ctx and so cannot know
# which inputs need a gradient. Under a transform the value is computed
# alone, and the backward runs _FuncGrad: one fused pass of the same _Call
# (the core's value_and_grad) for the inputs that need one, scaled by
# grad_output as _Call.backward scales it. Its forward unwraps the transform's
# tensors, as a NumPy-backed Function must (torch's "Extending torch.func
# with autograd.Function"); vmap runs one call per batch member.


class _PlainCtx:
    """What _Call.forward and backward use of an autograd ctx."""

    def __init__(self, need):
        self.needs_input_grad = (False, *need)
        self.saved_tensors = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors


def _per_member(fn, info, in_dims, fixed, batched):
    """``fn(*fixed, *inputs)`` once per batch member of ``batched`` (sliced
    along ``in_dims``), the results stacked along axis 0."""
    outs = []
    for b in range(info.batch_size):
        xs = [x if d is None else x.select(d, b) for x, d in zip(batched, in_dims)]
        outs.append(fn(*fixed, *xs))
    if isinstance(outs[0], tuple):
        return tuple(torch.stack(o) for o in zip(*outs)), (0,) * len(outs[0])
    return torch.stack(outs), 0


class _FuncLoss(torch.autograd.Function):
    @staticmethod
    def forward(call, *inputs):
        return call.forward(_PlainCtx((False,) * len(inputs)), inputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.call = inputs[0]
        xs = inputs[1:]
        ctx.save_for_backward(*(x for x in xs if isinstance(x, torch.Tensor)))
        ctx.plain = tuple(_SAVED if isinstance(x, torch.Tensor) else x for x in xs)

    @staticmethod
    def backward(ctx, go):
        saved = iter(ctx.saved_tensors)
        xs = tuple(next(saved) if x is _SAVED else x for x in ctx.plain)
        need = tuple(ctx.needs_input_grad[1:])
        if not any(need):
            return (None,) * (1 + len(xs))
        it = iter(_FuncGrad.apply(ctx.call, need, go, *xs))
        return (None,) + tuple(next(it) if n else None for n in need)

    @staticmethod
    def vmap(info, in_dims, call, *inputs):
        return _per_member(_FuncLoss.apply, info, in_dims[1:], (call,), inputs)


class _FuncGrad(torch.autograd.Function):
    @staticmethod
    def forward(call, need, go, *inputs):
        ctx = _PlainCtx(need)
        call.forward(ctx, inputs)
        grads = call.backward(ctx, go)
        return tuple(g for g, n in zip(grads, need) if n)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, *_):
        raise RuntimeError(_TWICE)

    @staticmethod
    def vmap(info, in_dims, call, need, go, *inputs):
        return _per_member(_FuncGrad.apply, info, in_dims[2:], (call, need), (go, *inputs))


def _autograd_function():
    """The autograd.Function to run a loss with: _FuncLoss inside a torch.func
    transform, _LossFunction (the fused forward) otherwise."""
    return _FuncLoss if torch._C._functorch.maybe_current_level() is not None else _LossFunction


def _apply(L, inputs, reduction, sample_weight, params):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    if len(inputs) != len(L.inputs):
        # The core's rule: inputs after the given ones may come by keyword,
        # optional ones default (clip's logit_scale to 1/0.07; a rule of its
        # own once written here refused flt.clip(img, txt), found by a probe
        # against the torch formula).
        inputs = L._inputs_from(tuple(inputs), params)
    p = {k: _param(v, k) for k, v in params.items()}
    p = L.resolve_params(p)
    w = _param(sample_weight, "sample_weight")
    if L.accepts_lists and isinstance(inputs[0], (list, tuple)):
        if w is not None:
            raise TypeError("sample_weight: not supported with a list of tensors")
        return _apply_lists(L, inputs, reduction, p)
    dtype = _half_result(L.name, inputs)
    fn = _autograd_function()
    if dtype is None:
        return fn.apply(_Call(L, reduction, w, p), *inputs)
    out = fn.apply(_Call(L, reduction, w, p, dtype), *(_float(x) for x in inputs))
    return out if out.dtype == dtype else out.to(dtype)


# torch's losses that CPU autocast leaves out of its float32 list (Python
# compositions of other ops): under autocast they return the inputs' dtype.
_AUTOCAST_KEEPS = frozenset({"gaussian_nll", "multilabel_soft_margin"})


def _half_result(name, inputs):
    """The dtype torch returns for a loss with float16/bfloat16 inputs (None
    if there are none): float32 under CPU autocast (torch runs its losses in
    float32 there, but for _AUTOCAST_KEEPS), else the inputs' promoted
    floating dtype."""
    floats = [x.dtype for x in inputs if isinstance(x, torch.Tensor) and x.dtype.is_floating_point]
    if not any(dt in _HALF for dt in floats):
        return None
    if _autocast_cpu() and name not in _AUTOCAST_KEEPS:
        return torch.float32
    dt = floats[0]
    for d in floats[1:]:
        dt = torch.promote_types(dt, d)
    return dt


def _autocast_cpu():
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_cpu_enabled()


def _float(x):
    """A float16/bfloat16 tensor as float32: one copy, through autograd, so
    its gradient comes back in its own dtype."""
    return x.float() if isinstance(x, torch.Tensor) and x.dtype in _HALF else x


def _function(name):
    L = _fl.get(name)

    def fn(*inputs, reduction=L.default_reduction, sample_weight=None, **params):
        return _apply(L, inputs, reduction, sample_weight, params)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    fn.__signature__ = L.__signature__
    fn.__doc__ = (
        f"fastloss.{name} on tensors, differentiable through autograd.\n\n"
        f"Same inputs and keywords as :data:`fastloss.{name}`; returns a tensor "
        f"(0-d for 'mean'/'sum').\nSee :mod:`fastloss.torch` for the autograd "
        f"rules.\n"
    )
    return fn


for _name in _fl.available():
    globals()[_name] = _function(_name)
    __all__.append(_name)


# --------------------------------------------------------------------------
# Lists of tensors in (perceptual's feature maps, the penalties' parameters),
# one gradient per tensor out


class _ListFunction(torch.autograd.Function):
    """Inputs ``(L, n, reduction, params, *first, *second)``: ``first`` the
    ``n`` tensors of the differentiable list input, ``second`` the tensors of
    a second list (perceptual's targets) if any. The forward runs
    ``L.value_and_grad`` once and keeps each tensor's gradient; the backward
    scales them by ``grad_output`` (one per tensor for ``"none"``)."""

    @staticmethod
    def forward(ctx, L, n, reduction, params, *tensors):
        names = [f"{L.inputs[0]}[{i}]" for i in range(n)]
        if len(tensors) > n:
            names += [f"{L.inputs[1]}[{i}]" for i in range(len(tensors) - n)]
        for i in range(n, len(tensors)):
            if ctx.needs_input_grad[4 + i]:
                raise ValueError(
                    f"{names[i]}: fastloss.{L.name} is differentiable with respect to "
                    f"{L.inputs[0]} only; pass {names[i]}.detach()"
                )
        arrs = [_numpy(x, nm) for x, nm in zip(tensors, names)]
        lists = (arrs[:n], arrs[n:]) if len(arrs) > n else (arrs,)
        dt = _compute_dtype(arrs[0]) if arrs else np.dtype(np.float64)
        ctx.grads = None
        if not any(ctx.needs_input_grad[4 : 4 + n]):
            v = L(*lists, reduction=reduction, **params)
        else:
            ctx.L, ctx.n, ctx.reduction, ctx.params = L, n, reduction, params
            ctx.lists = lists  # kept for a second backward (retain_graph), which recomputes
            v, grads = L.value_and_grad(*lists, reduction=reduction, **params)
            ctx.grads = [torch.from_numpy(g) for g in grads]
        if reduction == "none":
            return tuple(torch.from_numpy(np.asarray(x)) for x in v)
        return _scalar(v, dt)

    @staticmethod
    @once_differentiable
    def backward(ctx, *gos):
        grads, ctx.grads = ctx.grads, None  # handed to autograd, not kept
        if grads is None:
            grads = [
                torch.from_numpy(g)
                for g in ctx.L.grad(*ctx.lists, reduction=ctx.reduction, **ctx.params)
            ]
        if ctx.reduction == "none":
            grads = [g * go for g, go in zip(grads, gos)]
        elif gos[0].item() != 1.0:  # the common .backward() on the loss: 1, no pass
            grads = [g * gos[0] for g in grads]
        n = ctx.n
        out = [g if ctx.needs_input_grad[4 + i] else None for i, g in enumerate(grads)]
        return (None,) * 4 + tuple(out) + (None,) * (len(ctx.needs_input_grad) - 4 - n)


def _apply_lists(L, lists, reduction, params):
    """A loss whose list inputs are lists of tensors: flattened into
    ``_ListFunction``'s arguments, its result a list for ``"none"``."""
    for x, nm in zip(lists, L.inputs):
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"{nm}: expected a list (or tuple) of tensors, got {type(x).__name__}")
    flat = [t for x in lists for t in x]
    dtype = _half_result(L.name, flat)
    if dtype is not None:
        flat = [_float(t) for t in flat]
    out = _ListFunction.apply(L, len(lists[0]), reduction, params, *flat)
    if dtype is not None:
        out = tuple(x.to(dtype) for x in out) if reduction == "none" else out.to(dtype)
    return list(out) if reduction == "none" else out


def perceptual(
    pred_features, target_features, *, reduction="mean", sample_weight=None, layer_weights=None, p=2
):
    """fastloss.perceptual on lists of tensors, differentiable through autograd.

    Same inputs and keywords as :data:`fastloss.perceptual`: lists (or
    tuples) of feature-map tensors, one per layer. Returns a tensor (0-d
    for 'mean'/'sum'; a list of tensors, one per layer, for 'none'); the
    backward hands each layer's gradient to the tensor it came from, so it
    flows on through the network that produced it. Only ``pred_features``
    are differentiable (detach the targets' features).

    >>> import torch
    >>> import fastloss.torch as flt
    >>> f = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([[0.0, 3.0]])]
    >>> g = [torch.tensor([1.0, 0.0]), torch.tensor([[1.0, 1.0]])]
    >>> loss = flt.perceptual(f, g)
    >>> loss.backward()
    >>> loss.item(), f[0].grad.tolist()
    (4.5, [0.0, 2.0])
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    if sample_weight is not None:
        raise TypeError(
            "sample_weight: not supported by perceptual (weigh layers with layer_weights)"
        )
    params = _fl.perceptual.resolve_params(
        {"layer_weights": _param(layer_weights, "layer_weights"), "p": p}
    )
    return _apply_lists(_fl.perceptual, (pred_features, target_features), reduction, params)


perceptual.__signature__ = _fl.perceptual.__signature__  # type: ignore[attr-defined]


# --------------------------------------------------------------------------
# nn.Module drop-ins


def _legacy_reduction(size_average, reduce, reduction, stacklevel):
    """torch's ``_Loss`` rule: the deprecated ``size_average``/``reduce``,
    when either is given, decide the reduction (and warn, as torch warns);
    ``"elementwise_mean"`` is torch's deprecated spelling of ``"mean"``."""
    if size_average is not None or reduce is not None:
        reduction = torch.nn._reduction.legacy_get_string(size_average, reduce, emit_warning=False)
        warnings.warn(
            "size_average and reduce args will be deprecated, please use "
            f"reduction='{reduction}' instead.",
            stacklevel=stacklevel,
        )
    elif reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            stacklevel=stacklevel,
        )
        reduction = "mean"
    return reduction


class _Base(torch.nn.Module):
    """Constructor arguments in torch's order, ``size_average``/``reduce``
    included (torch's deprecated spelling of the reduction, still taken
    with its warning)."""

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        # the caller's line: a subclass's own __init__ is one frame more
        level = 3 if type(self).__init__ is _Base.__init__ else 4
        reduction = _legacy_reduction(size_average, reduce, reduction, level)
        if reduction not in self._reductions:
            allowed = ", ".join(repr(r) for r in self._reductions)
            raise ValueError(f"reduction: expected one of {allowed}, got {reduction!r}")
        self.reduction = reduction

    _reductions: tuple[str, ...] = _REDUCTIONS

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def _weighted_mean(fn, n, reduction, weight, *inputs, **params):
    """torch's element-wise ``weight=``: the mean divides by the element count,
    not by the weight sum (fastloss's ``sample_weight`` mean)."""
    if weight is not None and reduction == "mean":
        return fn(*inputs, reduction="sum", sample_weight=weight, **params) / n
    return fn(*inputs, reduction=reduction, sample_weight=weight, **params)


def _element_weight(weight, input):
    """torch's per-element ``weight=`` (BCELoss, BCEWithLogitsLoss):
    broadcast against the input by torch's rules, as a stride-0 view (the
    core reads its repeating block as a pattern, no copy); a weight that
    does not broadcast is refused, as torch refuses it."""
    if weight is None:
        return None
    shape = tuple(input.shape)
    try:
        return torch.broadcast_to(weight, shape)
    except RuntimeError:
        raise ValueError(
            f"weight: shape {tuple(weight.shape)} does not broadcast against the input's "
            f"shape {shape} (torch broadcasts weight against the input, trailing axes aligned)"
        ) from None


def _torch_broadcast(*tensors, warn=False, promote=False, to_first=False):
    """torch's element-wise losses broadcast their inputs against each other
    (``MSELoss``, ``L1Loss``, ``HuberLoss`` and ``SmoothL1Loss`` with torch's
    warning); fastloss's kernels take one shape, so the tensors are expanded
    here, as stride-0 views inside the graph (autograd sums a gradient back
    over the broadcast axes). ``promote``: floating tensors of different
    dtypes are cast to their promoted dtype, as those torch losses compute
    in it. ``to_first``: the others expand to the first's shape, not the
    first to theirs (``soft_margin_loss``, whose output has the input's
    shape). Shapes that do not broadcast are left to the core's error."""
    ts = [t for t in tensors if isinstance(t, torch.Tensor)]
    if len(ts) != len(tensors):
        return tensors
    if promote:
        fl = [t.dtype for t in ts if t.is_floating_point()]
        if len(set(fl)) > 1:
            dt = fl[0]
            for d in fl[1:]:
                dt = torch.promote_types(dt, d)
            tensors = tuple(t.to(dt) if t.is_floating_point() else t for t in tensors)
    if len({tuple(t.shape) for t in tensors}) > 1:
        try:
            if to_first:
                expanded = (tensors[0], *(t.expand_as(tensors[0]) for t in tensors[1:]))
            else:
                expanded = torch.broadcast_tensors(*tensors)
        except RuntimeError:
            return tensors
        if warn:
            warnings.warn(
                f"Using a target size ({tensors[1].size()}) that is different to the input "
                f"size ({tensors[0].size()}). This will likely lead to incorrect results due "
                "to broadcasting. Please ensure they have the same size.",
                stacklevel=3,
            )
        tensors = tuple(expanded)
    return tensors


class _Elementwise(_Base):
    _fn: Any = None
    _keys: tuple[str, ...] = ()
    # torch's mse/l1/huber/smooth_l1 warn on a target of another shape; its
    # mse/l1/smooth_l1/poisson_nll compute in the promoted dtype (huber in
    # the input's)
    _warn = True
    _promote = True

    def forward(self, input, target):
        input, target = _torch_broadcast(input, target, warn=self._warn, promote=self._promote)
        p = {k: getattr(self, k) for k in self._keys}
        return type(self)._fn(input, target, reduction=self.reduction, **p)


class MSELoss(_Elementwise):
    """``torch.nn.MSELoss`` on fastloss's ``mse`` kernel."""

    _fn = staticmethod(globals()["mse"])


class L1Loss(_Elementwise):
    """``torch.nn.L1Loss`` on fastloss's ``mae`` kernel."""

    _fn = staticmethod(globals()["mae"])


class HuberLoss(_Elementwise):
    """``torch.nn.HuberLoss(reduction, delta)`` on fastloss's ``huber``."""

    _fn = staticmethod(globals()["huber"])
    _keys = ("delta",)
    _promote = False

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta


class SmoothL1Loss(_Elementwise):
    """``torch.nn.SmoothL1Loss(reduction, beta)`` on fastloss's ``smooth_l1``;
    ``beta=0`` runs fastloss's ``mae``, as torch's ``smooth_l1_loss`` runs
    ``l1_loss`` there (fastloss's ``smooth_l1`` itself takes ``beta > 0``)."""

    _fn = staticmethod(globals()["smooth_l1"])
    _keys = ("beta",)

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        if (
            isinstance(self.beta, (int, float))
            and not isinstance(self.beta, bool)
            and self.beta == 0
        ):
            input, target = _torch_broadcast(input, target, warn=True, promote=True)
            return globals()["mae"](input, target, reduction=self.reduction)
        return super().forward(input, target)


class PoissonNLLLoss(_Elementwise):
    """``torch.nn.PoissonNLLLoss(log_input, full, eps, reduction)`` on
    fastloss's ``poisson_nll`` (the deprecated ``size_average``/``reduce`` are
    not taken)."""

    _fn = staticmethod(globals()["poisson_nll"])
    _keys = ("log_input", "full", "eps")
    _warn = False

    def __init__(
        self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"
    ):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps


class BCELoss(_Base):
    """``torch.nn.BCELoss(weight, reduction)``: ``weight`` per element,
    broadcast against the input by torch's rules (trailing axes aligned: a
    ``(C,)`` weight weighs columns of ``(N, C)``, an ``(N,)`` one is refused
    unless ``N == C``, as torch refuses it), the mean divided by the element
    count as torch does."""

    _fn = staticmethod(globals()["binary_cross_entropy"])

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        w = _element_weight(self.weight, input)
        return _weighted_mean(type(self)._fn, input.numel(), self.reduction, w, input, target)


class BCEWithLogitsLoss(_Base):
    """``torch.nn.BCEWithLogitsLoss(weight, reduction, pos_weight)``: ``weight``
    per element, broadcast against the input as in :class:`BCELoss`,
    ``pos_weight`` per class (last axis)."""

    _fn = staticmethod(globals()["binary_cross_entropy_with_logits"])

    def __init__(
        self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return _weighted_mean(
            type(self)._fn,
            input.numel(),
            self.reduction,
            _element_weight(self.weight, input),
            input,
            target,
            pos_weight=self.pos_weight,
        )


def _class_last(x):
    return x.movedim(1, -1) if x.dim() > 2 else x


class CrossEntropyLoss(_Base):
    """``torch.nn.CrossEntropyLoss(weight, ignore_index, reduction,
    label_smoothing)``: input ``(N, C)``, ``(N, C, d1, ...)`` (class axis 1,
    moved last as a view) or unbatched ``(C,)``; target class indices or
    class probabilities as torch takes them. ``weight`` weighs classes."""

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index=-100,
        reduce=None,
        reduction="mean",
        label_smoothing=0.0,
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        unbatched = input.dim() == 1
        if unbatched:
            input, target = input.unsqueeze(0), target.unsqueeze(0)
        dense = target.shape == input.shape
        out = globals()["cross_entropy"](
            _class_last(input),
            _class_last(target) if dense else target,
            reduction=self.reduction,
            class_weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )
        return out.squeeze(0) if unbatched and self.reduction == "none" else out


class MultiMarginLoss(_Base):
    """``torch.nn.MultiMarginLoss(p, margin, weight, reduction)`` on
    fastloss's ``multiclass_hinge(variant="weston_watkins", p=p)``: input
    ``(N, C)`` or unbatched ``(C,)`` (a 0-d input is one class, as torch
    reads it), the unbatched ``"none"`` result shaped as the target (``()``
    or ``(1,)``); ``p`` 1 or 2 (torch's only values); ``weight`` weighs each
    sample's terms by its target class (torch's rule; the mean divides by
    N). One class (``C = 1``) gives 0, as in torch (no class other than the
    target)."""

    def __init__(
        self, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"
    ):
        super().__init__(size_average, reduce, reduction)
        if isinstance(p, bool) or p not in (1, 2):
            raise ValueError(f"p: only 1 and 2 are supported (as torch), got {p!r}")
        self.p, self.margin = p, margin
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        unbatched = input.dim() <= 1
        shape = None
        if unbatched:
            target = torch.as_tensor(target)
            if target.numel() != 1 or target.dim() > 1:
                raise ValueError(
                    "target: an unbatched input (C,) takes one class index, shape () or "
                    f"(1,), got shape {tuple(target.shape)}"
                )
            shape = tuple(target.shape)
            input, target = input.reshape(1, -1), target.reshape(1)
        out = self._batched(input, target)
        return out.reshape(shape) if unbatched and self.reduction == "none" else out

    def _batched(self, input, target):
        if input.shape[-1] == 1:
            return _one_class(input, target, self.reduction)
        w = None if self.weight is None else self.weight[target]
        return _weighted_mean(
            globals()["multiclass_hinge"],
            input.shape[0],
            self.reduction,
            w,
            input,
            target,
            margin=self.margin,
            variant="weston_watkins",
            p=self.p,
        )


def _one_class(input, target, reduction):
    """torch's multi_margin_loss on one class: every sample's sum over the
    classes other than its target is empty, so the loss is 0 (the core's
    multiclass_hinge needs two classes). The zeros are a sum over an empty
    slice of ``input``, so they stay in its graph (gradient 0)."""
    t = torch.as_tensor(target)
    if t.numel() and bool((t != 0).any()):
        raise ValueError("target: class indices must be in [0, 1) for one class")
    z = input[..., :0].sum(-1)
    return z if reduction == "none" else getattr(z, reduction)()


class KLDivLoss(_Base):
    """``torch.nn.KLDivLoss(reduction, log_target)``: ``"batchmean"`` divides
    the sum by ``input.size(0)``, ``"mean"`` by the element count, ``"none"``
    is element-wise (each element run as a row of one class through the
    core's row kernel)."""

    _reductions = ("mean", "batchmean", "sum", "none")

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        input, target = _torch_broadcast(input, target, promote=True)
        kl = globals()["kl_div"]
        red = self.reduction
        if red == "none":
            if input.dim() == 0:  # one element: a row of one class, then 0-d
                return kl(
                    input.reshape(1, 1),
                    target.reshape(1, 1),
                    reduction="none",
                    log_target=self.log_target,
                ).reshape(())
            return kl(
                input.unsqueeze(-1),
                target.unsqueeze(-1),
                reduction="none",
                log_target=self.log_target,
            )
        if input.dim() < 2:  # torch's kl_div is element-wise: any shape
            s = kl(
                input.reshape(-1, 1),
                target.reshape(-1, 1),
                reduction="sum",
                log_target=self.log_target,
            )
        else:
            s = kl(input, target, reduction="sum", log_target=self.log_target)
        if red == "sum":
            return s
        n = input.size(0) if red == "batchmean" and input.dim() > 0 else input.numel()
        return s / n


class GaussianNLLLoss(_Base):
    """``torch.nn.GaussianNLLLoss(full, eps, reduction)``, forward ``(input,
    target, var)``: ``var`` of input's shape, of one dimension fewer, with a
    last dimension of 1, or a float; ``target`` broadcasting against input as
    torch allows (expanded as a view)."""

    def __init__(self, full=False, eps=1e-6, reduction="mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        if isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor):
            input, target = _torch_broadcast(input, target, promote=True)
        if not isinstance(var, torch.Tensor):
            var = torch.full_like(input, float(var))
        if isinstance(target, torch.Tensor) and target.shape != input.shape:
            target = target.expand_as(input)
        return globals()["gaussian_nll"](
            input, target, var, reduction=self.reduction, full=self.full, eps=self.eps
        )


class SoftMarginLoss(_Base):
    """``torch.nn.SoftMarginLoss(reduction)``: ``log(1 + exp(-y x))`` on
    fastloss's ``soft_margin`` kernel (any shape; targets -1/+1, other reals
    following the same formula as in torch; the target broadcast to the
    input's shape, as torch's)."""

    def forward(self, input, target):
        input, target = _torch_broadcast(input, target, to_first=True)
        return globals()["soft_margin"](input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_Base):
    """``torch.nn.MultiLabelSoftMarginLoss(weight, reduction)`` on fastloss's
    ``multilabel_soft_margin`` kernel: input ``(N, C)`` (or ``(..., C)``) or
    unbatched ``(C,)``, ``weight`` per class. A ``weight`` that also varies
    along the rows (``(N, C)``, ``(N, 1)``: torch broadcasts it against the
    per-element losses) runs the element-wise
    ``binary_cross_entropy_with_logits`` kernel, which is that per-element
    loss, ``-(t log sigmoid(x) + (1 - t) log sigmoid(-x))``, weighted, each
    row's sum divided by C."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)

    def forward(self, input, target):
        w = self.weight
        c = input.shape[-1] if isinstance(input, torch.Tensor) and input.dim() else 1
        input, target = _torch_broadcast(input, target)
        # torch composes this loss of other ops: with half inputs its result
        # dtype promotes with the weight's too (bfloat16 input, float32
        # weight: float32), autocast or not
        dt = _half_result("multilabel_soft_margin", (input, target, w))
        if dt is not None:
            out = self._forward(_float(input), _float(target), w)
            out = out if out.dtype == dt else out.to(dt)
        else:
            out = self._forward(input, target, w)
        if input.dim() and input.shape[-1] != c:
            # an input of one class broadcast along the target's classes:
            # torch divides each row's sum by the input's own class count
            out = out * (input.shape[-1] / c)
        return out

    def _forward(self, input, target, w):
        if w is not None and input.dim() >= 1 and _by_row(w, input):
            return self._elementwise(input, target, _element_weight(w, input))
        unbatched = input.dim() == 1
        if unbatched:
            input, target = input.unsqueeze(0), target.unsqueeze(0)
        if w is not None:  # (C,), (1,), (), (1, C): one weight per class
            w = _element_weight(w.reshape(tuple(w.shape[-1:])), input[0])
        out = globals()["multilabel_soft_margin"](
            input, target, reduction=self.reduction, class_weight=w
        )
        return out.squeeze(0) if unbatched and self.reduction == "none" else out

    def _elementwise(self, input, target, w):
        bce = globals()["binary_cross_entropy_with_logits"]
        c = input.shape[-1]
        if self.reduction == "none":
            out = bce(input, target, reduction="none", sample_weight=w).sum(-1) / c
        else:
            s = bce(input, target, reduction="sum", sample_weight=w)
            out = s / c if self.reduction == "sum" else s / input.numel()
        return out


def _by_row(weight, input):
    """Whether a weight broadcast against ``input`` varies along an axis
    other than the last (so it is not one weight per class)."""
    lead = weight.shape[:-1] if weight.dim() else ()
    return any(k != 1 for k in lead) or weight.dim() > input.dim()


class NLLLoss(_Base):
    """``torch.nn.NLLLoss(weight, ignore_index, reduction)`` on fastloss's
    ``nll`` kernel: input ``(N, C)``, ``(N, C, d1, ...)`` (class axis 1,
    moved last as a view) or unbatched ``(C,)``; target class indices.
    ``weight`` weighs classes, and the mean divides by the target classes'
    weights, as torch does."""

    def __init__(
        self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"
    ):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        unbatched = input.dim() == 1
        if unbatched:
            input, target = input.unsqueeze(0), target.reshape(1)
        out = globals()["nll"](
            _class_last(input),
            target,
            reduction=self.reduction,
            class_weight=self.weight,
            ignore_index=self.ignore_index,
        )
        return out.squeeze(0) if unbatched and self.reduction == "none" else out


class HingeEmbeddingLoss(_Base):
    """``torch.nn.HingeEmbeddingLoss(margin, reduction)`` on fastloss's
    ``hinge_embedding`` kernel (any shape; input and target broadcast as
    torch's)."""

    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        input, target = _torch_broadcast(input, target)
        return globals()["hinge_embedding"](
            input, target, reduction=self.reduction, margin=self.margin
        )


class MultiLabelMarginLoss(_Base):
    """``torch.nn.MultiLabelMarginLoss(reduction)`` on fastloss's
    ``multilabel_margin`` kernel: input ``(N, C)``, unbatched ``(C,)`` or 0-d
    (one class, as torch reads it), target of the same shape holding class
    indices padded by -1."""

    def forward(self, input, target):
        # unbatched: (C,), or 0-d as torch reads it (one class)
        unbatched = input.dim() <= 1
        if unbatched:
            input, target = input.reshape(1, -1), target.reshape(1, -1)
        out = globals()["multilabel_margin"](input, target, reduction=self.reduction)
        return out.squeeze(0) if unbatched and self.reduction == "none" else out


class MarginRankingLoss(_Base):
    """``torch.nn.MarginRankingLoss(margin, reduction)``, forward ``(input1,
    input2, target)`` on fastloss's ``margin_ranking``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        # torch broadcasts the three (of one number of dimensions)
        if len({getattr(t, "ndim", None) for t in (input1, input2, target)}) == 1:
            input1, input2, target = _torch_broadcast(input1, input2, target, promote=True)
        return globals()["margin_ranking"](
            input1, input2, target, reduction=self.reduction, margin=self.margin
        )


class TripletMarginLoss(_Base):
    """``torch.nn.TripletMarginLoss(margin, p, eps, swap, reduction)``, forward
    ``(anchor, positive, negative)`` on fastloss's ``triplet_margin`` (p > 0 or inf):
    embeddings ``(N, D)``, ``(D,)`` or, as torch takes them, ``(..., D)``
    (one row per leading index; ``"none"`` has the leading shape), shapes
    broadcasting as torch's (the core's rules)."""

    def __init__(
        self,
        margin=1.0,
        p=2.0,
        eps=1e-6,
        swap=False,
        size_average=None,
        reduce=None,
        reduction="mean",
    ):
        super().__init__(size_average, reduce, reduction)
        _fl.triplet_margin.resolve_params({"margin": margin, "p": p, "eps": eps, "swap": swap})
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return globals()["triplet_margin"](
            anchor,
            positive,
            negative,
            reduction=self.reduction,
            margin=self.margin,
            p=self.p,
            eps=self.eps,
            swap=self.swap,
        )


def _is_default_pairwise(f):
    """``torch.nn.PairwiseDistance()`` as torch's default distance: p = 2,
    eps = 1e-6, no keepdim (the kernel's euclidean distance)."""
    return (
        isinstance(f, torch.nn.PairwiseDistance) and f.norm == 2 and f.eps == 1e-6 and not f.keepdim
    )


class TripletMarginWithDistanceLoss(_Base):
    """``torch.nn.TripletMarginWithDistanceLoss(distance_function, margin, swap,
    reduction)`` on fastloss's ``triplet_margin_with_distance``: the distance
    is computed by the kernel, so ``distance_function`` is ``None``,
    ``torch.nn.functional.pairwise_distance`` or ``torch.nn.PairwiseDistance()``
    with its defaults (the Euclidean distance; kept as ``distance_function``
    as torch keeps it),
    ``"euclidean"`` or ``"cosine"`` (``1 - cosine_similarity``); any other
    callable is refused. Embeddings ``(N, D)``, ``(D,)`` or ``(..., D)`` as
    in :class:`TripletMarginLoss`."""

    def __init__(self, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        if distance_function is None or distance_function is torch.nn.functional.pairwise_distance:
            distance = "euclidean"
        elif _is_default_pairwise(distance_function):
            distance = "euclidean"
        elif isinstance(distance_function, str):
            distance = distance_function
        else:
            raise ValueError(
                "distance_function: fastloss computes the distance in its kernel; give None, "
                "torch.nn.functional.pairwise_distance or torch.nn.PairwiseDistance() with its "
                "defaults (euclidean), 'euclidean' or 'cosine'"
            )
        _fl.triplet_margin_with_distance.resolve_params(
            {"distance": distance, "margin": margin, "swap": swap}
        )
        # torch's attribute: the callable, nn.PairwiseDistance() for None
        self.distance_function = (
            torch.nn.PairwiseDistance() if distance_function is None else distance_function
        )
        self.distance, self.margin, self.swap = distance, margin, swap

    def forward(self, anchor, positive, negative):
        return globals()["triplet_margin_with_distance"](
            anchor,
            positive,
            negative,
            reduction=self.reduction,
            distance=self.distance,
            margin=self.margin,
            swap=self.swap,
        )


class CosineEmbeddingLoss(_Base):
    """``torch.nn.CosineEmbeddingLoss(margin, reduction)``, forward ``(input1,
    input2, target)`` on fastloss's ``cosine_embedding``."""

    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        # torch broadcasts the two embeddings against each other
        if getattr(input1, "ndim", None) == getattr(input2, "ndim", None):
            input1, input2 = _torch_broadcast(input1, input2)
        return globals()["cosine_embedding"](
            input1, input2, target, reduction=self.reduction, margin=self.margin
        )


class CTCLoss(_Base):
    """``torch.nn.CTCLoss(blank, reduction, zero_infinity)`` on fastloss's
    ``ctc``: ``forward(log_probs, targets, input_lengths, target_lengths)``
    with torch's shapes, ``(T, N, C)`` or unbatched ``(T, C)`` (targets
    ``(S,)``, lengths scalars). ``ctc`` takes logits and applies log_softmax
    itself; on log-probabilities, which torch's CTCLoss expects, that
    changes nothing (log_softmax is idempotent), so the value is torch's, and
    so is the gradient w.r.t. ``log_probs`` (torch's is likewise
    ``exp(log_probs) - posterior``), except for a sample with no possible
    alignment: its loss is ``inf`` in both and its gradient 0 here, NaN in
    torch (unless ``zero_infinity``, where both give 0)."""

    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        _fl.ctc.resolve_params({"blank": blank, "zero_infinity": zero_infinity})
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        fn = globals()["ctc"]
        kw = {"reduction": self.reduction, "blank": self.blank, "zero_infinity": self.zero_infinity}
        if log_probs.dim() == 2:  # unbatched, as torch takes it
            v = fn(
                log_probs.unsqueeze(1),
                torch.as_tensor(targets).reshape(1, -1),
                torch.as_tensor(input_lengths).reshape(1),
                torch.as_tensor(target_lengths).reshape(1),
                **kw,
            )
            return v[0] if self.reduction == "none" else v
        return fn(log_probs, targets, input_lengths, target_lengths, **kw)

    def extra_repr(self):
        return (
            f"blank={self.blank}, reduction={self.reduction!r}, zero_infinity={self.zero_infinity}"
        )


class LinearCrossEntropyLoss(_Base):
    """``torch.nn.LinearCrossEntropyLoss(in_features, num_classes,
    out_features=(), bias=False, weight=None, reduction="mean",
    ignore_index=None, label_smoothing=0.0)`` on fastloss's
    ``linear_cross_entropy``: a module holding its ``torch.nn.Linear(
    in_features, num_classes * prod(out_features))`` as ``self.linear``,
    whose ``forward(input, target)`` is the cross-entropy of
    ``self.linear(input)`` without the logits in memory; gradients reach
    ``input``, ``self.linear.weight`` and ``self.linear.bias``. As torch's,
    the weight is read as ``(num_classes, *out_features, in_features)`` (the
    bias as ``(num_classes, *out_features)``): K-dimensional logits ``(N, C,
    d_1, ..., d_K)`` with labels ``(N, d_1, ..., d_K)``; a float target of
    the logits' shape holds class probabilities. ``weight``: per-class
    weights (a buffer, as torch registers it). fastloss always chunks, so
    torch's ``options`` (its chunking strategy) is accepted and unused."""

    def __init__(
        self,
        in_features,
        num_classes,
        *,
        out_features=(),
        bias=False,
        device=None,
        dtype=None,
        reduction="mean",
        weight=None,
        ignore_index=None,
        label_smoothing=0.0,
        options=None,
    ):
        super().__init__(reduction=reduction)
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise ValueError(f"weight: expected shape ({num_classes},), got {tuple(weight.shape)}")
        _fl.linear_cross_entropy.resolve_params(
            {
                "ignore_index": -100 if ignore_index is None else ignore_index,
                "label_smoothing": label_smoothing,
            }
        )
        self.register_buffer("weight", weight)
        self.num_classes = num_classes
        self.out_features = tuple(out_features)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.options = options
        self.linear = torch.nn.Linear(
            in_features,
            math.prod(self.out_features, start=num_classes),
            bias=bias,
            device=device,
            dtype=dtype,
        )

    def forward(self, input, target):
        # torch's reshapes (its forward's): the flat Linear's parameters as
        # the K-dimensional weight and bias; views, so gradients flow back
        shape = (self.num_classes, *self.out_features)
        bias = self.linear.bias
        return globals()["linear_cross_entropy"](
            input,
            self.linear.weight.reshape((*shape, self.linear.in_features)),
            target,
            None if bias is None else bias.reshape(shape),
            reduction=self.reduction,
            class_weight=self.weight,
            ignore_index=-100 if self.ignore_index is None else self.ignore_index,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self):
        return (
            f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
            f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
            f"reduction={self.reduction!r}, "
            f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}"
        )


def _camel(name):
    base = name[:-5] if name.endswith("_loss") else name
    return "".join(part.capitalize() for part in base.split("_")) + "Loss"


_TORCH_NAMED = {
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "poisson_nll",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "multiclass_hinge",
    "kl_div",
    "gaussian_nll",
    "nll",
    "soft_margin",
    "hinge_embedding",
    "multilabel_soft_margin",
    "multilabel_margin",
    "margin_ranking",
    "triplet_margin",
    "triplet_margin_with_distance",
    "cosine_embedding",
    "ctc",
    "linear_cross_entropy",
}


def _module(name):
    L = _fl.get(name)
    fn = globals()[name]

    def __init__(self, reduction=L.default_reduction, **params):
        _Base.__init__(self, reduction=reduction)
        L.resolve_params({k: v for k, v in params.items() if not isinstance(v, torch.Tensor)})
        self.params = params

    def forward(self, *inputs, sample_weight=None):
        return fn(*inputs, reduction=self.reduction, sample_weight=sample_weight, **self.params)

    def extra_repr(self):
        return ", ".join(
            [f"reduction={self.reduction!r}"] + [f"{k}={v!r}" for k, v in self.params.items()]
        )

    doc = (
        f"``fastloss.{name}`` as a module: ``{_camel(name)}(reduction="
        f"'{L.default_reduction}', "
        f"**params)`` with the core's parameters ({', '.join(L.params) or 'none'}); "
        f"``forward({', '.join(L.inputs)}, sample_weight=None)``."
    )
    return type(
        _camel(name),
        (_Base,),
        {
            "__init__": __init__,
            "forward": forward,
            "extra_repr": extra_repr,
            "__doc__": doc,
            "__module__": __name__,
        },
    )


# Catalogue-named modules for the losses torch.nn does not have: one module
# name per loss.
for _name in _fl.available():
    if _name not in _TORCH_NAMED:
        _cls = _module(_name)
        globals()[_cls.__name__] = _cls
        __all__.append(_cls.__name__)
del _name, _cls
