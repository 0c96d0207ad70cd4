"""The Loss class and the argument checking every loss shares.

A :class:`Loss` is one loss function with four verbs -- ``loss(pred, target)``
for the value, :meth:`Loss.grad`, :meth:`Loss.value_and_grad` (one fused pass)
and :meth:`Loss.grad_hess` -- and the same keywords everywhere: ``reduction``,
``sample_weight``, ``out`` and the loss's own parameters. This module turns
what the user passed into arrays the kernels can read (float32/float64,
C-contiguous, weights broadcast), checks everything that is cheap to check,
and leaves the arithmetic to ``fastloss._core``. Family modules subclass
:class:`Loss` only to say how their arrays are shaped and which kernel runs.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fastloss import _core

__all__ = ["Loss", "Param", "VALUE", "GRAD", "VALUE_GRAD", "GRAD_HESS"]

# Operation codes shared with the kernels (fastloss::Op).
VALUE, GRAD, VALUE_GRAD, GRAD_HESS = 0, 1, 2, 3
# Reduction codes shared with the kernels (fastloss::Reduction).
_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}
NONE, SUM, MEAN = 0, 1, 2

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_NO_SLOTS = (0.0, 0.0, 0.0, 0.0)


# --------------------------------------------------------------------------
# arrays


def _to_ndarray(x: Any, name: str) -> np.ndarray:
    """Any array-like (``__array__``, ``__dlpack__`` on the CPU, sequences)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__dlpack__") and not isinstance(x, (list, tuple)):
        try:
            return np.from_dlpack(x)
        except (BufferError, TypeError, RuntimeError, ValueError) as exc:
            if not hasattr(x, "__array__"):
                raise TypeError(f"{name}: cannot read this object as a CPU array ({exc})") from None
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{name}: expected an array of real numbers ({exc})") from None


def _float_dtype_for(dt: np.dtype, name: str) -> np.dtype:
    """The native dtype an input of dtype ``dt`` is computed in."""
    if dt == _F32 or dt == _F64:
        return dt
    kind = dt.kind
    if kind == "f":
        return _F32 if dt.itemsize < 4 else _F64
    if kind in "biu":
        return _F64
    raise TypeError(f"{name}: expected real numbers, got an array of dtype {dt}")


def as_float(x: Any, name: str, dtype: np.dtype | None = None) -> np.ndarray:
    """``x`` as a C-contiguous float32/float64 array (``dtype`` if given).

    Converts at most once; an array that is already right is returned as is
    (checked first: the hot path of a call on a few elements).
    """
    if type(x) is np.ndarray:
        dt = x.dtype
        if (dt is _F32 or dt is _F64) and (dtype is None or dtype is dt) and x.flags.c_contiguous:
            return x
    else:
        x = _to_ndarray(x, name)
    dt = x.dtype
    if dtype is None:
        dtype = _float_dtype_for(dt, name)
    elif dt != dtype:
        _float_dtype_for(dt, name)  # refuses complex, strings, objects
    if dt != dtype:
        x = x.astype(dtype)
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    return x


def as_labels(x: Any, name: str = "target") -> np.ndarray:
    """Integer class labels as a C-contiguous int64 array."""
    if type(x) is np.ndarray and x.dtype is _I64 and x.flags.c_contiguous:
        return x  # the usual case, at once
    if type(x) is not np.ndarray:
        x = _to_ndarray(x, name)
    if x.dtype.kind not in "iub":
        if x.dtype.kind == "f" and x.size and bool(np.all(np.isfinite(x))) and bool(
            np.all(x == np.round(x))
        ):
            pass  # whole-valued floats are accepted as labels
        else:
            raise TypeError(f"{name}: expected integer class labels, got dtype {x.dtype}")
    if x.dtype != np.int64 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=np.int64)
    return x


def broadcast_full(x: np.ndarray, like: np.ndarray, name: str, whose: str) -> np.ndarray:
    """``x`` broadcast to ``like``'s shape and dtype in a new C-contiguous
    array (one copy; ``whose`` words the error: "pred's")."""
    full = np.empty(like.shape, like.dtype)
    try:
        np.copyto(full, x)
    except ValueError:
        raise ValueError(f"{name}: shape {tuple(x.shape)} does not broadcast to {whose} shape "
                         f"{tuple(like.shape)}") from None
    return full


def _pattern(x: np.ndarray, shape: tuple, n: int):
    """``(x, period, repeat)`` when broadcasting ``x`` (C-contiguous) to
    ``shape`` (``n`` elements) repeats one block of x's values -- a scalar, a
    vector along the trailing axes ((C,) against (N, C)), one value per
    leading index ((N, 1) against (N, C)) -- so that element k reads
    ``x[(k // repeat) % period]``; else None."""
    xs = x.shape
    if not n or len(xs) > len(shape):
        return None
    if x.size == 1:
        return x, 1, n  # a scalar
    if xs == shape[len(shape) - len(xs):]:
        return x, x.size, 1  # the trailing axes' block, repeated
    xs = (1,) * (len(shape) - len(xs)) + xs
    block = [d for d, k in enumerate(xs) if k != 1]
    i, j = block[0], block[-1] + 1
    if xs[i:j] == shape[i:j]:  # one block, 1 on either side of it
        return x, math.prod(shape[i:j]), math.prod(shape[j:])
    return None


def aux_input(x: np.ndarray, like: np.ndarray, name: str, whose: str):
    """A per-element parameter ``x`` broadcast to ``like`` for a kernel's aux slot.

    Where NumPy's broadcast repeats one block of x's values (see
    ``_pattern``) the result is the pattern ``(values, period, repeat)`` and
    nothing of the inputs' size is allocated. Any other broadcast is
    materialized (``broadcast_full``).
    """
    shape = like.shape
    if x.dtype != like.dtype or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=like.dtype)
    if x.shape == shape:
        return x
    return _pattern(x, shape, like.size) or broadcast_full(x, like, name, whose)


# Up to this many values, a check in Python (``tolist`` and a loop) costs less
# than one NumPy reduction (~1 us each on a few values).
_SMALL = 16


def min_ignoring_nan(x: np.ndarray) -> float:
    """Smallest non-NaN value of ``x`` (+inf for an empty or all-NaN array).

    ``x.min()`` is one vectorized pass; only when it meets a NaN is the array
    looked at again without its NaNs (NaN inputs give NaN results, not errors).
    """
    if x.size <= _SMALL:
        vals = [v for v in x.ravel().tolist() if v == v]
        return min(vals) if vals else math.inf
    m = float(x.min())
    if m != m:
        rest = x[~np.isnan(x)]
        m = float(np.min(rest)) if rest.size else math.inf
    return m


def all_finite_nonneg(x: np.ndarray) -> bool:
    """True when every value of ``x`` is finite and >= 0 (NaN is not)."""
    if x.size <= _SMALL:
        return all(0.0 <= v < math.inf for v in x.ravel().tolist())
    # two reductions (a NaN fails the first)
    return bool(x.min() >= 0 and x.max() < np.inf)


def element_at(x: np.ndarray, index: int):
    """``(position, value)`` of flat ``index`` of x, the position as a tuple for n-D
    and the value as a Python number (messages read ``-1.0``, not ``np.float64(-1.0)``)."""
    where = np.unravel_index(index, x.shape) if x.ndim > 1 else index
    if isinstance(where, tuple):
        where = tuple(int(i) for i in where)
    return where, x.flat[index].item()


def prepare_weight(w: Any, shape: tuple, dtype: np.dtype, name: str = "sample_weight",
                   pattern: bool = False):
    """Weights broadcast to the per-sample loss shape ``shape``, or None.

    A weight array whose shape is a prefix of ``shape`` weighs whole samples
    (scikit-learn's ``(n_samples,)`` against ``(n_samples, n_outputs)``);
    otherwise NumPy broadcasting rules apply. With ``pattern`` (kernels that
    read weights as an aux pattern: the element-wise ones) a broadcast that
    repeats one block of weights comes back as ``(values, period, repeat)``
    (see ``_pattern``) instead of an array of ``shape``.
    """
    if w is None:
        return None
    w = as_float(w, name, dtype)
    if w.shape == shape:
        return w
    if 0 < w.ndim < len(shape) and w.shape == shape[: w.ndim]:
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    try:
        full = np.broadcast_to(w, shape)
    except ValueError:
        raise ValueError(
            f"{name}: shape {tuple(w.shape)} does not broadcast to the per-sample "
            f"loss shape {tuple(shape)}"
        ) from None
    if pattern:
        got = _pattern(w, shape, full.size)
        if got is not None:
            return got
    return np.ascontiguousarray(full)


_CACHED_FROM = _core.buffer_cache_min_bytes


def new_output(shape: tuple, dtype: np.dtype, nbytes: int | None = None) -> np.ndarray:
    """A fresh, uninitialized C-contiguous output: a NumPy array, whose memory
    comes from fastloss's buffer cache when it is 1 MiB or more (see
    ``fastloss.set_buffer_cache``). ``nbytes``, where the caller knows it,
    saves computing it."""
    if nbytes is None:
        nbytes = math.prod(shape) * dtype.itemsize
    return _core.empty(shape, dtype) if nbytes >= _CACHED_FROM else np.empty(shape, dtype)


def prepare_out(out: Any, shape: tuple, dtype: np.dtype, name: str = "out") -> np.ndarray:
    """A fresh output (see new_output), or the caller's buffer after checks."""
    if out is None:
        return new_output(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: expected a NumPy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(out.shape)}")
    if out.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name}: is read-only")
    return out


def check_same_shape(pred: np.ndarray, target: np.ndarray, pname="pred", tname="target"):
    if pred.shape != target.shape:
        raise ValueError(
            f"{pname} and {tname} must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )


def reduction_code(reduction: Any) -> int:
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(
            f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        ) from None


# --------------------------------------------------------------------------
# parameters


class Param:
    """A loss parameter: its default and the check its value must pass.

    ``check`` takes the value and returns the value to use (converted) or
    raises; the helpers below build the usual ones.
    """

    __slots__ = ("name", "default", "check")

    def __init__(self, name: str, default: Any, check: Callable[[str, Any], Any] | None = None):
        self.name = name
        self.default = default
        self.check = check


def real(lo: float | None = None, hi: float | None = None, *, lo_open=False, hi_open=False):
    """Check: a finite real number in [lo, hi] (open ends where asked)."""

    def check(name: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
        v = float(v)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            op = ">" if lo_open else ">="
            raise ValueError(f"{name} must be {op} {lo}, got {v}")
        if hi is not None and (v > hi or (hi_open and v == hi)):
            op = "<" if hi_open else "<="
            raise ValueError(f"{name} must be {op} {hi}, got {v}")
        return v

    return check


def integer():
    def check(name: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
        return int(v)

    return check


def choice(*options: str):
    def check(name: str, v: Any) -> str:
        if v not in options:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {v!r}")
        return v

    return check


def boolean():
    def check(name: str, v: Any) -> bool:
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {v!r}")
        return bool(v)

    return check


# --------------------------------------------------------------------------
# the Loss class


class Loss:
    """A loss function with its gradient (and Hessian where it has one).

    Call it for the value: ``loss(pred, target, reduction="mean",
    sample_weight=None, **params)``; ``reduction`` is ``"mean"``, ``"sum"``
    or ``"none"``. A scalar reduction returns a Python float accumulated in
    float64; ``"none"`` returns the per-sample losses in pred's dtype.

    Metadata: ``name``, ``family``, ``has_hess``, ``hess_exact``,
    ``grad_exact`` (False only where a peer's gradient treats part of the
    value as a constant, as torchvision's complete-IoU loss does), ``peer``
    (the library whose behaviour it matches), ``params`` (defaults).
    Subclasses implement ``_run``; everything else is shared.
    """

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
        self.pred_name = pred_name
        self.target_name = target_name
        self.__doc__ = doc
        self.__name__ = name
        self.__qualname__ = name
        self.__signature__ = self._signature()

    # -- the four verbs -----------------------------------------------------

    def __call__(self, pred, target, /, *, reduction="mean", sample_weight=None, **params):
        return self._run(VALUE, pred, target, reduction, sample_weight, None, params)

    def grad(self, pred, target, /, *, reduction="mean", sample_weight=None, out=None, **params):
        """d(value)/d(pred) for the same arguments, shaped like ``pred``.

        ``out``: a C-contiguous array of pred's shape and dtype to write into.
        """
        return self._run(GRAD, pred, target, reduction, sample_weight, out, params)

    def value_and_grad(
        self, pred, target, /, *, reduction="mean", sample_weight=None, out=None, **params
    ):
        """``(value, grad)`` computed in one pass over memory."""
        return self._run(VALUE_GRAD, pred, target, reduction, sample_weight, out, params)

    def grad_hess(
        self, pred, target, /, *, reduction="mean", sample_weight=None, out=None, **params
    ):
        """Element-wise gradient and diagonal Hessian, ``(grad, hess)``.

        Scaled like ``grad`` (``reduction="none"`` gives the per-element
        derivatives boosting libraries want). ``out``: a pair of arrays.
        """
        if not self.has_hess:
            raise TypeError(f"{self.name} has no Hessian: grad_hess is not available")
        if out is not None and (not isinstance(out, tuple) or len(out) != 2):
            raise TypeError("out: expected a pair (grad_out, hess_out)")
        return self._run(GRAD_HESS, pred, target, reduction, sample_weight, out, params)

    # -- shared machinery ---------------------------------------------------

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
            out[k] = p.check(k, v) if (p.check is not None and v is not None) else v
        return out

    def _run(self, op, pred, target, reduction, sample_weight, out, params):  # pragma: no cover
        raise NotImplementedError

    def _signature(self) -> inspect.Signature:
        P = inspect.Parameter
        ps = [
            P(self.pred_name, P.POSITIONAL_ONLY),
            P(self.target_name, P.POSITIONAL_ONLY),
            P("reduction", P.KEYWORD_ONLY, default="mean"),
            P("sample_weight", P.KEYWORD_ONLY, default=None),
        ]
        ps += [P(k, P.KEYWORD_ONLY, default=v) for k, v in self.params.items()]
        return inspect.Signature(ps)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<fastloss.{self.name}({ps})>"

    def __reduce__(self):
        # Losses are singletons in the registry: pickle by name.
        from fastloss import get

        return (get, (self.name,))


def finish(op: int, red: int, value: Any, value_out, grad, hess):
    """Shape a kernel's result into the verb's return value."""
    if op == VALUE:
        return value_out if red == NONE else value
    if op == GRAD:
        return grad
    if op == VALUE_GRAD:
        return (value_out if red == NONE else value), grad
    return grad, hess


class ElementwiseLoss(Loss):
    """A loss whose per-sample loss is per element: pred and target of one shape.

    ``kernel`` is the family's compiled entry point, ``kernel_id`` this loss's
    number in it, and ``pack(params, pred, target)`` turns the checked
    parameters into the kernel's four float slots and optional per-element
    auxiliary array (and may transform the target). Losses whose kernel checks
    its input domain give ``explain(pred, target, index, params)``: the
    message for the invalid element the kernel found at flat ``index``.
    """

    def __init__(self, name, *, kernel, kernel_id, pack=None, explain=None, **kw):
        super().__init__(name, **kw)
        self._kernel = kernel
        self._id = kernel_id
        self._pack = pack
        self._explain = explain

    def _run(self, op, pred, target, reduction, sample_weight, out, params):
        red = _REDUCTIONS.get(reduction) if type(reduction) is str else None
        if red is None:
            red = reduction_code(reduction)  # raises
        # Hot path: float32/float64 arrays of one dtype go straight to the
        # kernel, whose binding checks contiguity (and every size) itself;
        # anything else -- or a non-contiguous array the binding refuses --
        # goes through as_float, which converts.
        dt = pred.dtype if type(pred) is np.ndarray else None
        fast = (
            (dt is _F32 or dt is _F64)
            and type(target) is np.ndarray
            and target.dtype is dt
        )
        if not fast:
            pred = as_float(pred, self.pred_name)
            dt = pred.dtype
            target = as_float(target, self.target_name, dt)
        shape = pred.shape
        if shape != target.shape:
            check_same_shape(pred, target, self.pred_name, self.target_name)
        p = None if params else self._resolved_defaults  # checked once, then cached
        if p is None:
            p = self.resolve_params(params)
        slots, aux = _NO_SLOTS, None
        if self._pack is not None:
            slots, aux, target = self._pack(p, pred, target)
        w = None
        if sample_weight is not None:
            w = prepare_weight(sample_weight, shape, dt, pattern=True)
        value_out = (new_output(shape, dt, pred.nbytes)
                     if (red == NONE and op in (VALUE, VALUE_GRAD)) else None)
        grad = hess = None
        if op == GRAD_HESS:
            g_out, h_out = out if out is not None else (None, None)
            grad = prepare_out(g_out, shape, dt, "out[0]")
            hess = prepare_out(h_out, shape, dt, "out[1]")
        elif op != VALUE:
            if out is not None:
                grad = prepare_out(out, shape, dt)
            elif pred.nbytes < _CACHED_FROM:  # new_output, inlined: the small-call path
                grad = np.empty(shape, dt)
            else:
                grad = _core.empty(shape, dt)
        try:
            value = self._kernel(
                self._id, op, red, pred, target, w, aux, value_out, grad, hess, *slots
            )
        except _core.InvalidElement as exc:
            i = exc.args[0]
            if self._explain is not None:
                raise ValueError(self._explain(pred, target, i, p)) from None
            raise ValueError(f"{self.name}: input outside the loss's domain at flat index {i}"
                             ) from None
        except ValueError:
            if fast and not (pred.flags.c_contiguous and target.flags.c_contiguous):
                return self._run(op, np.ascontiguousarray(pred), np.ascontiguousarray(target),
                                 reduction, sample_weight, out, params)
            raise
        if op == VALUE:
            return value_out if red == NONE else value
        if op == VALUE_GRAD:
            return (value_out if red == NONE else value), grad
        return finish(op, red, value, value_out, grad, hess)
