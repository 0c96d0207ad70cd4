"""The several-input shape of loss: inputs that are arrays of shapes of their own.

The families added after the element-wise, row, slice and box losses --
embeddings, pairwise similarities, sequences, ranked lists, images,
generative models, regularizers, clustering, RL and physics -- take k
positional inputs of different shapes, several of them differentiable
(``triplet_margin(anchor, positive, negative)``). They share one launch:
:class:`TensorLoss` passes the converted inputs, one gradient buffer per
differentiable input, the family's integer sizes (``dims``) and real
parameters to ``fastloss._core.run``, whose kernel entry checks the sizes
against the dims (``cpp/include/fastloss/api/tensors.hpp``); a kernel that
assigns integers (``kmeans_inertia``'s labels) writes them to the plan's
integer outputs.

A loss of this shape implements only ``_plan``, returning a :class:`Plan`
as its state. The run path of :class:`~fastloss.Loss` does the rest
(weights over the per-sample loss shape, every output, ``wrt``, ``out=``).
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np

from fastloss import _core
from fastloss._arrays import as_float
from fastloss._loss import GRAD, VALUE, VALUE_GRAD, Loss

__all__ = ["Plan", "SumByDefault", "TensorLoss", "as_reals"]

_run = _core.run


class Plan(NamedTuple):
    """What a several-input kernel reads: every input in positional order
    (converted: reals in the call's dtype, integers as int64; None for an
    absent optional one), the family's sizes and the real parameters; and
    what it writes besides the value and gradients: its integer outputs
    (int64 arrays, None where not asked), in the kernel's order."""

    arrays: tuple
    dims: tuple
    params: tuple
    out_ints: tuple = ()


def as_reals(inputs, names, dtype=None):
    """Several real inputs converted to one dtype: the first's (float32 or
    float64; other reals are converted once) unless ``dtype`` is given."""
    out = []
    for x, name in zip(inputs, names):
        a = as_float(x, name, dtype)
        if dtype is None:
            dtype = a.dtype
        out.append(a)
    return tuple(out)


class TensorLoss(Loss):
    """A loss over several arrays of their own shapes (families from
    ``EMBEDDING`` on).

    ``kernel`` is the family code of ``fastloss._core.run``, ``kernel_id``
    the loss's number in it. Subclasses implement ``_plan(inputs, p)``
    returning ``(dtype, sample_shape, grad_shapes, reads, Plan)``; the
    gradients are computed by the one kernel for every differentiable
    input asked (``wrt``), in the same pass as the value.
    """

    def not_accumulable(self) -> str | None:
        # Their inputs are not (pred, target) rows an Accumulator can stream;
        # a family whose are opts in by overriding this.
        return (
            f"its inputs ({', '.join(self.inputs)}) are not rows of (pred, target) "
            "whose reduction is a sum over rows"
        )

    def __init__(self, name, *, kernel, kernel_id, **kw):
        super().__init__(name, **kw)
        self._kernel = kernel
        self._id = kernel_id
        # position of each gradient slot's input (wrt, then wrt_on_request)
        # among all the inputs
        self._wrt_pos = tuple(self.inputs.index(n) for n in self._grad_names)

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        arrays, dims, params, out_ints = state
        out_grads: tuple = ()
        if grads is not None:
            slots = [None] * len(arrays)
            for pos, g in zip(self._wrt_pos, grads):
                slots[pos] = g
            out_grads = tuple(slots)
            if all(g is None for g in slots):  # only absent inputs' gradients asked
                if op == GRAD:
                    return None
                op, out_grads = VALUE, ()
        n = value_out.size if value_out is not None else self._samples(state)
        # out_ints only where there are some: each keyword costs the binding a
        # lookup, and every other loss of the shape goes through here
        extra = {"out_ints": out_ints} if out_ints else {}
        return _run(
            self._kernel,
            self._id,
            op,
            red,
            arrays[0],
            sample_weight=w,
            out_value=value_out,
            params=params,
            inputs=arrays[1:],
            out_grads=out_grads,
            dims=dims,
            samples=n,
            **extra,
        )

    def _samples(self, state) -> int:
        """The per-sample loss's size; by default the first dim."""
        return int(state.dims[0])


class SumByDefault(TensorLoss):
    """A loss that is a sum by definition (the penalties' norms, the
    k-means inertia): ``reduction`` defaults to "sum" in its verbs and its
    signature, and ``default_reduction`` tells the adapters."""

    default_reduction = "sum"

    def __call__(self, *inputs, reduction="sum", sample_weight=None, **params):
        return self._run(VALUE, inputs, reduction, sample_weight, None, None, params)

    def grad(self, *inputs, reduction="sum", sample_weight=None, out=None, wrt=None, **params):
        return self._run(GRAD, inputs, reduction, sample_weight, out, wrt, params)

    def value_and_grad(
        self, *inputs, reduction="sum", sample_weight=None, out=None, wrt=None, **params
    ):
        return self._run(VALUE_GRAD, inputs, reduction, sample_weight, out, wrt, params)

    def _signature(self):
        sig = super()._signature()
        ps = [
            p.replace(default="sum") if p.name == "reduction" else p
            for p in sig.parameters.values()
        ]
        return inspect.Signature(ps)


def check_rows(x: np.ndarray, name: str, ndim: int = 2) -> None:
    """Refuse an input of the wrong number of axes, naming it."""
    if x.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {tuple(x.shape)}")
