"""Loss parameters: each declared with its default and its check.

A parameter's value is always checked by its declaration, ``None``
included: ``None`` is accepted only where the declared default is ``None``
(an optional array such as ``class_weight``). Messages name the parameter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from fastloss._arrays import all_finite_nonneg, as_float, element_at

_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}
_INT64 = (-(2**63), 2**63 - 1)


def reduction_code(reduction: Any) -> int:
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}") from None


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


def real(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
    excluded: tuple[float, float, str] | None = None,
):
    """Check: a finite real number in [lo, hi] (open ends where asked), and
    outside the open interval ``excluded = (a, b, why)`` where one is given;
    an end closed at an infinity admits it (``triplet_margin``'s ``p``)."""
    inf_ends = {e for e, is_open in ((lo, lo_open), (hi, hi_open)) if e is not None and not is_open}
    inf_ends = {e for e in inf_ends if math.isinf(e)}

    def check(name: str, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
        try:
            v = float(v)
        except OverflowError:  # a Python int (or Fraction) beyond float64's range
            what = f"an int of {v.bit_length()} bits" if isinstance(v, int) else "a value"
            raise ValueError(f"{name} must be finite, got {what} beyond float64's range") from None
        if not math.isfinite(v) and v not in inf_ends:
            raise ValueError(f"{name} must be finite, got {v}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            op = ">" if lo_open else ">="
            raise ValueError(f"{name} must be {op} {lo}, got {v}")
        if hi is not None and (v > hi or (hi_open and v == hi)):
            op = "<" if hi_open else "<="
            raise ValueError(f"{name} must be {op} {hi}, got {v}")
        if excluded is not None and excluded[0] < v < excluded[1]:
            a, b, why = excluded
            raise ValueError(f"{name} must be <= {a:g} or >= {b:g} ({why}), got {v}")
        return v

    return check


def reals(n: int, lo: float | None = None, n_min: int | None = None):
    """Check: a sequence of ``n`` finite reals (``n_min`` to ``n`` where
    ``n_min`` is given), each >= lo; a tuple of floats."""
    scalar = real(lo)
    lo_n = n if n_min is None else n_min
    count = f"{n}" if lo_n == n else f"{lo_n} to {n}"

    def check(name: str, v: Any) -> tuple:
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
            raise TypeError(f"{name} must be a sequence of {count} real numbers, got {v!r}")
        if not lo_n <= len(v) <= n:
            raise ValueError(f"{name} must hold {count} real numbers, got {len(v)}")
        return tuple(scalar(f"{name}[{i}]", x) for i, x in enumerate(v))

    return check


def real_or_array(lo: float | None = None):
    """Check: a finite real >= lo, or an array of them (broadcast later by
    the loss). ``None`` never reaches a check (it means the default)."""
    scalar = real(lo)

    def check(name: str, v: Any) -> Any:
        if isinstance(v, bool):
            raise TypeError(f"{name} must be a real number or an array, got bool")
        if isinstance(v, (numbers.Real, np.floating, np.integer)):
            return scalar(name, v)
        arr = as_float(v, name)
        if arr.ndim == 0:
            return scalar(name, float(arr))
        # the fast test for the usual bound, a plain one otherwise; the index
        # of the first bad entry only on the error path
        if lo == 0.0:
            ok = all_finite_nonneg(arr)
        else:
            with np.errstate(invalid="ignore"):
                ok = bool(np.all(np.isfinite(arr) & (arr >= (-math.inf if lo is None else lo))))
        if not ok:
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(arr) & (arr >= (-math.inf if lo is None else lo)))
            where, x = element_at(arr, int(np.flatnonzero(bad)[0]))
            bound = "" if lo is None else f" and >= {lo:g}"
            raise ValueError(f"{name} must be finite{bound}, got {x!r} at index {where}")
        return arr

    return check


def axes():
    """Check: None, an int, or a tuple/list of ints (range checked later)."""

    def check(name: str, v: Any) -> tuple[int, ...] | None:
        if v is None:
            return None
        items = (v,) if isinstance(v, (numbers.Integral, np.integer)) else v
        if not isinstance(items, (tuple, list)) or any(
            isinstance(a, (bool, np.bool_)) or not isinstance(a, (numbers.Integral, np.integer))
            for a in items
        ):
            raise TypeError(f"{name} must be None, an int or a tuple of ints, got {v!r}")
        return tuple(int(a) for a in items)

    return check


def integer():
    """Check: an integer within int64's range (what the kernels take)."""

    def check(name: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
        v = int(v)
        if not _INT64[0] <= v <= _INT64[1]:
            raise ValueError(f"{name} must fit in a signed 64-bit integer (int64), got {v}")
        return v

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
