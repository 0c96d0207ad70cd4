"""Turning what the user passed into arrays the kernels can read.

Conversion (float32/float64, C-contiguous and aligned, at most one copy),
integer labels
checked on the values the user passed, per-sample weights broadcast by
NumPy's rules (never guessed), fresh outputs from the buffer cache, the
caller's ``out=`` buffers checked -- including that none overlaps an input
or another output. Nothing here knows a loss.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastloss import _core

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)
_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


def kernel_ready(x: np.ndarray) -> bool:
    """C-contiguous and aligned: what a kernel reads. An unaligned array
    (``np.frombuffer`` at an odd offset, a field of a packed record) is
    C-contiguous all the same, but a kernel's ``const double*`` load of it
    is undefined behaviour in C++ (x86 reads it; a strict-alignment CPU
    faults; UBSan reports it), so it is copied, as NumPy's ufuncs do."""
    f = x.flags  # one flags object: two lookups on it cost less than two objects
    return f.carray or (f.c_contiguous and f.aligned)


def as_contiguous(x: np.ndarray, dtype: Any = None) -> np.ndarray:
    """``x`` (of ``dtype`` if given) C-contiguous and aligned: itself when it
    is already, else one copy (``np.ascontiguousarray`` keeps an unaligned
    array as it is)."""
    if (dtype is None or x.dtype == dtype) and kernel_ready(x):
        return x
    return np.array(x, dtype=dtype, order="C")


def _to_ndarray(x: Any, name: str) -> np.ndarray:
    """Any array-like (``__array__``, ``__dlpack__`` on the CPU, sequences)."""
    if isinstance(x, np.ndarray):
        if isinstance(x, np.ma.MaskedArray):
            # a mask silently dropped would score the masked values
            raise TypeError(
                f"{name}: masked arrays are not supported (their mask would be "
                "ignored); pass x.compressed() or x.filled(value)"
            )
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
        if "bfloat16" in str(getattr(x, "dtype", "")).lower():
            raise TypeError(
                f"{name}: bfloat16 is not supported; convert to float32 first (tensor.float())"
            ) from None
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
    if "bfloat16" in str(dt):
        raise TypeError(f"{name}: bfloat16 is not supported; convert to float32 first")
    raise TypeError(f"{name}: expected real numbers, got an array of dtype {dt}")


def as_float(
    x: Any, name: str, dtype: np.dtype | None = None, keep_broadcast: bool = False
) -> np.ndarray:
    """``x`` as a C-contiguous, aligned float32/float64 array (``dtype`` if given).

    Converts at most once; an array that is already right is returned as is
    (checked first: the hot path of a call on a few elements). With
    ``keep_broadcast``, a zero-stride view (``np.broadcast_to``) stays a view
    of its converted values: kernels that read inputs as patterns
    (:func:`broadcast_pattern`) never materialize it.
    """
    if type(x) is np.ndarray:
        dt = x.dtype
        # flags.carray (C-contiguous, aligned, writeable: the usual array)
        # costs what flags.c_contiguous did; kernel_ready's call ~100 ns more
        if (
            (dt is _F32 or dt is _F64)
            and (dtype is None or dtype is dt)
            and (x.flags.carray or kernel_ready(x))
        ):
            return x
    else:
        x = _to_ndarray(x, name)
    dt = x.dtype
    if dtype is None:
        dtype = _float_dtype_for(dt, name)
    elif dt != dtype:
        _float_dtype_for(dt, name)  # refuses complex, strings, objects
    if keep_broadcast and not x.flags.c_contiguous:
        base = _broadcast_base(x)
        if base is not None:
            return np.broadcast_to(as_float(base, name, dtype), x.shape)
    if dt != dtype:
        # float64 values beyond float32's range become +-inf, as any cast
        # makes them (and the result shows them): without NumPy's warning
        with np.errstate(over="ignore"):
            x = x.astype(dtype)
    return as_contiguous(x)


def as_labels(x: Any, name: str = "target") -> np.ndarray:
    """Integer class labels as a C-contiguous, aligned int64 array.

    The values are checked as the user passed them, before any cast: an
    unsigned label above 2**63 - 1 or a float label that is not a whole
    number within int64's range is refused (a cast would wrap it, possibly
    onto ``ignore_index``). Whole-valued floats are accepted.
    """
    if type(x) is np.ndarray and x.dtype is _I64 and (x.flags.carray or kernel_ready(x)):
        return x  # the usual case, at once (flags.carray: see as_float)
    if type(x) is not np.ndarray:
        x = _to_ndarray(x, name)
    kind = x.dtype.kind
    if kind == "u" and x.dtype.itemsize == 8 and x.size and int(x.max()) > 2**63 - 1:
        bad = int(x.max())
        raise ValueError(f"{name}: label {bad} is out of range (labels are int64)")
    if kind == "f":
        if x.size:
            finite = np.isfinite(x)
            if not bool(np.all(finite)):
                where = int(np.flatnonzero(~finite.ravel())[0])
                raise ValueError(
                    f"{name}: labels must be finite whole numbers, got "
                    f"{x.flat[where].item()!r} at flat index {where}"
                )
            whole = x == np.round(x)
            if not bool(np.all(whole)):
                raise TypeError(
                    f"{name}: expected integer class labels, got dtype {x.dtype} "
                    "with non-integer values"
                )
            # in float64: float16 cannot hold 2**63 (the comparison would
            # overflow with a RuntimeWarning)
            big = np.abs(x.astype(np.float64, copy=False)) >= 2.0**63
            if bool(np.any(big)):
                where = int(np.flatnonzero(big.ravel())[0])
                raise ValueError(
                    f"{name}: label {x.flat[where].item()!r} at flat index "
                    f"{where} is out of range (labels are int64)"
                )
    elif kind not in "iub":
        raise TypeError(f"{name}: expected integer class labels, got dtype {x.dtype}")
    return as_contiguous(x, _I64)


def broadcast_full(x: np.ndarray, like: np.ndarray, name: str, whose: str) -> np.ndarray:
    """``x`` broadcast to ``like``'s shape and dtype in a new C-contiguous
    array (one copy; ``whose`` words the error: "pred's")."""
    full = np.empty(like.shape, like.dtype)
    try:
        # copyto would also drop leading axes of length 1 ((1, N) into (N,)):
        # an input with more axes than pred's does not broadcast to it (the
        # result would need those axes), as NumPy's broadcast_to says
        if x.ndim > like.ndim:
            raise ValueError
        np.copyto(full, x)
    except ValueError:
        raise ValueError(
            f"{name}: shape {tuple(x.shape)} does not broadcast to {whose} shape "
            f"{tuple(like.shape)}"
        ) from None
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
    if xs == shape[len(shape) - len(xs) :]:
        return x, x.size, 1  # the trailing axes' block, repeated
    xs = (1,) * (len(shape) - len(xs)) + xs
    block = [d for d, k in enumerate(xs) if k != 1]
    i, j = block[0], block[-1] + 1
    if xs[i:j] == shape[i:j]:  # one block, 1 on either side of it
        return x, math.prod(shape[i:j]), math.prod(shape[j:])
    return None


def _broadcast_base(x: np.ndarray) -> np.ndarray | None:
    """The values behind a view with zero strides (``np.broadcast_to``): x
    with each zero-stride axis cut to length 1; None when x has none."""
    if x.size <= 1:
        return None
    cut = tuple(
        slice(0, 1) if (st == 0 and d > 1) else slice(None) for st, d in zip(x.strides, x.shape)
    )
    if all(c == slice(None) for c in cut):
        return None
    return x[cut]


def broadcast_pattern(x: np.ndarray):
    """A zero-stride view read as its values: ``(values, period, repeat)``
    (see ``_pattern``; element k of x is ``values[(k // repeat) % period]``)
    where its zero strides repeat one block of values, else None. A view of
    2**31 elements of a scalar or a row then costs nothing of its size."""
    base = _broadcast_base(x)
    if base is None:
        return None
    return _pattern(as_contiguous(base), x.shape, x.size)


def aux_input(x: np.ndarray, like: np.ndarray, name: str, whose: str):
    """A per-element parameter ``x`` broadcast to ``like`` for a kernel's aux slot.

    Where NumPy's broadcast repeats one block of x's values (see
    ``_pattern``) the result is the pattern ``(values, period, repeat)`` and
    nothing of the inputs' size is allocated. Any other broadcast is
    materialized (``broadcast_full``).
    """
    shape = like.shape
    x = as_contiguous(x, like.dtype)
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
    if x.ndim > 1:
        return tuple(int(i) for i in np.unravel_index(index, x.shape)), x.flat[index].item()
    return index, x.flat[index].item()


def prepare_weight(
    w: Any, shape: tuple, dtype: np.dtype, name: str = "sample_weight", pattern: bool = False
):
    """Weights broadcast to the per-sample loss shape ``shape``, or None.

    NumPy's broadcasting rules (trailing axes aligned), plus scikit-learn's
    ``(n_samples,)`` against ``(n_samples, n_outputs)``: a weight array whose
    shape is a prefix of ``shape`` and does not broadcast by NumPy's rules
    weighs whole samples. A shape that both readings accept and that they
    read differently ((C,) weights against (C, C) losses: rows or columns?)
    is refused with a message saying how to write either -- never guessed,
    so the same weights cannot change meaning with the batch size. With
    ``pattern`` (kernels that read weights as an aux pattern: the
    element-wise ones) a broadcast that repeats one block of weights comes
    back as ``(values, period, repeat)`` (see ``_pattern``) instead of an
    array of ``shape``.
    """
    if w is None:
        return None
    # a zero-stride view (np.broadcast_to) of the full shape stays a view: a
    # pattern kernel reads its values without materializing it
    w = as_float(w, name, dtype, keep_broadcast=pattern)
    if w.shape == shape:
        if w.flags.c_contiguous:
            return w
        return broadcast_pattern(w) or as_contiguous(w)
    w = as_contiguous(w)
    nd = len(shape)
    prefix = 0 < w.ndim < nd and w.shape == shape[: w.ndim]
    try:
        full = np.broadcast_to(w, shape)
    except ValueError:
        full = None
    if prefix:
        rows = w.reshape(w.shape + (1,) * (nd - w.ndim))
        if full is not None and any(k != 1 for k in w.shape):
            lead = w.shape + (1,) * (nd - w.ndim)
            trail = (1,) * (nd - w.ndim) + w.shape
            raise ValueError(
                f"{name}: shape {tuple(w.shape)} against the per-sample loss shape "
                f"{tuple(shape)} could weigh the leading axes (scikit-learn's per-sample "
                f"weights) or the trailing ones (NumPy broadcasting); reshape it to {lead} "
                f"or {trail} to say which"
            )
        w = rows
        full = np.broadcast_to(w, shape)
    if full is None:
        raise ValueError(
            f"{name}: shape {tuple(w.shape)} does not broadcast to the per-sample "
            f"loss shape {tuple(shape)}"
        )
    if pattern:
        got = _pattern(w, shape, full.size)
        if got is not None:
            return got
    return as_contiguous(full)


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
    if not out.flags.aligned:
        # a kernel's stores to it would be misaligned (undefined behaviour
        # in C++); copying the results in afterwards would hide a second
        # buffer behind out=, so it is refused as a layout the kernels cannot write
        raise ValueError(
            f"{name}: must be aligned (its address is not a multiple of its "
            f"item size, {out.dtype.itemsize} bytes); pass an array from np.empty"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name}: is read-only")
    return out


def check_same_shape(pred: np.ndarray, target: np.ndarray, pname="pred", tname="target"):
    if pred.shape != target.shape:
        raise ValueError(
            f"{pname} and {tname} must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )


def _span(x) -> np.ndarray | None:
    """The array whose memory a kernel argument reads: an array, a weight
    pattern's values, or None."""
    if isinstance(x, tuple):
        x = x[0]
    return x if isinstance(x, np.ndarray) else None


def check_no_overlap(outs: dict, ins: dict) -> None:
    """Refuse ``out=`` buffers that overlap an input the kernel reads, or
    each other: a kernel writes its outputs while it still reads its inputs,
    so an overlap would give wrong numbers silently. ``outs`` and ``ins``
    map names (as the user knows them: ``out``, ``out[1]``, ``pred``,
    ``sample_weight``) to arrays. Every array here is C-contiguous, so the
    bounds test of ``np.may_share_memory`` is exact."""
    items = [(k, _span(v)) for k, v in outs.items()]
    items = [(k, v) for k, v in items if v is not None]
    for i, (k, o) in enumerate(items):
        for k2, o2 in items[i + 1 :]:
            if np.may_share_memory(o, o2):
                raise ValueError(f"{k} and {k2} overlap in memory: pass separate buffers")
        for name, x in ins.items():
            x = _span(x)
            if x is not None and np.may_share_memory(o, x):
                raise ValueError(
                    f"{k} overlaps the input {name!r} in memory; the kernel "
                    "would overwrite values it still reads: pass another buffer"
                )


def sum_to_shape(g: np.ndarray, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The gradient of an input that was broadcast to ``g``'s shape: ``g``
    summed (in float64) over the broadcast axes, back to ``shape``."""
    if g.shape == shape:
        return g
    nd = g.ndim
    padded = (1,) * (nd - len(shape)) + tuple(shape)
    axes = tuple(i for i in range(nd) if padded[i] == 1 and g.shape[i] != 1)
    lead = len(axes)
    s: Any
    if axes == tuple(range(lead)) and g.flags.c_contiguous and g.size:
        # broadcast along the leading axes only (one value per trailing
        # position: barron's per-dimension alpha): NumPy sums an (m, k)
        # array over axis 0 one row of k at a time (13.9 ms for 125000 x 8
        # float32 into float64, 0.37 ms as below), so the rows are summed
        # in groups: (m / B, B k) over axis 0, then the B partial rows
        s = _sum_rows(g.reshape(-1, int(np.prod(g.shape[lead:], dtype=np.int64))))
    else:
        s = np.sum(g, axis=axes, dtype=np.float64, keepdims=True) if axes else g
    return np.ascontiguousarray(s.reshape(shape), dtype=dtype)


def _sum_rows(g2: np.ndarray) -> np.ndarray:
    """The float64 sum of a C-contiguous (m, k) array over its rows."""
    m, k = g2.shape
    rows = max(1, 2048 // max(k, 1))  # rows per group: 2048 values a group
    q = m // rows
    s = np.zeros(k, dtype=np.float64)
    if q:
        part = np.add.reduce(g2[: q * rows].reshape(q, rows * k), axis=0, dtype=np.float64)
        s += part.reshape(rows, k).sum(axis=0)
    if q * rows < m:
        s += np.sum(g2[q * rows :], axis=0, dtype=np.float64)
    return s
