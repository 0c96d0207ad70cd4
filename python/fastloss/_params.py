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

_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}
_INT64 = (-(2**63), 2**63 - 1)


def reduction_code(reduction: Any) -> int:
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(
            f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        ) from None


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
    """Check: an integer within int64's range (what the kernels take)."""

    def check(name: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
        v = int(v)
        if not _INT64[0] <= v <= _INT64[1]:
            raise ValueError(f"{name} must fit in 64 bits, got {v}")
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


