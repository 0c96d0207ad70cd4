"""Fuzz every loss through the public API against the NumPy reference.

Each input is one call: a loss of the catalogue, a verb (value, grad,
value_and_grad, grad_hess; ``out=`` buffers sometimes), a reduction, and
inputs made from the loss's valid test case (``tests/cases_*.py``) and then
mutated -- shapes (other sizes, extra or missing axes, 0-d, empty),
dtypes (float16/32/64, integers, booleans, complex, objects), values
(NaN, +-inf, 0, -0, huge and tiny numbers, signs flipped, labels out of
range), strides (every other element, reversed, Fortran order, zero-stride
broadcasts, unaligned memory), parameters (defaults, other valid values,
invalid ones of every kind), weights (valid, zero, negative, NaN, of the
wrong shape).

The outcome of each call must be one of:

- a ValueError or TypeError with a message (bad input refused), or
- a result that agrees with ``fastloss.reference`` on the same input, to
  the tolerance of tests/test_properties.py (1e-10 relative in float64,
  2e-5 in float32, both relative to the largest finite reference value;
  gradients and Hessians also within a rounding-noise floor of 2 eps of
  the dtype at the inputs' scale, max(1, max |x|), times the reduction's
  weight of one sample -- where the exact result is 0 both sides return
  rounding noise, see ``_noise_floor``; values of ssim and ms_ssim, 1
  minus a similarity, within the relative tolerance of their unit terms,
  see ``ONE_MINUS_SIMILARITY``):
  values exactly where NaN (NaN where the reference has NaN); gradients
  and Hessians where both are numbers when an input holds NaN, +-inf or a
  value whose square overflows, or the weights sum to 0 (the reference's
  plain formula gives inf * 0 = NaN where a kernel gives the limit or keeps
  a finite intermediate; see tests/test_bad_input.py, ``Ref``); at +-inf
  or overflowing inputs values too may be NaN on either side (inf - inf:
  ``cross_entropy`` of logits [1, inf, 0] with label 2 is NaN, as in
  PyTorch, where the reference gives the limit +inf); reference values
  beyond float32's range read as +-inf for a float32 kernel; at +-inf logits the
  losses documented to give the limit are compared with the reference at
  +-1e300.

Anything else fails: another exception, a warning (warnings are errors
here, as in the suite), a result that disagrees, a result where the
reference itself refuses the input, an ``out=`` buffer not written.

Two drivers share the generator: ``python tests/fuzz/fuzz_losses.py --n
100000 [--seed S] [--losses a,b]`` draws from NumPy's generator (input
``i`` is reproducible with ``--replay i`` and the same ``--losses``) and
prints the counts (``--inject 1e-6`` multiplies every result by 1 + 1e-6
first: the float64 comparisons must then fail); tests/test_fuzz.py
draws the same structure from hypothesis (≈2000 inputs in CI, shrunk on
failure).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))  # tests/: the shared cases

import fastloss as fl  # noqa: E402
import fastloss.reference as R  # noqa: E402
from cases import CASES, array_input_losses  # noqa: E402
from fastloss.reference._base import weights_like  # noqa: E402

# The harness draws arrays; the losses that take lists of them (LIST_INPUTS,
# with the reason) are fuzzed by their own tests.
ALL = array_input_losses(fl.available())
# Losses whose value at +-inf is documented as the limit (their docstrings),
# where the reference's plain formula gives NaN.
LIMIT_AT_INF = {
    "binary_cross_entropy_with_logits",
    "sigmoid_focal",
    "softmax_focal",
    "multilabel_soft_margin",  # "finite at +-inf logits; a 0 * inf term counts 0"
}
# Losses whose per-sample value is 1 minus a similarity of size <= 1 (SSIM,
# MS-SSIM): a difference of numbers of size 1, so its rounding error is a
# few eps of 1 whatever the loss's size, and near 0 (pred ~ target) a
# tolerance relative to the loss asks for digits no implementation in that
# dtype has: at a float32 MS-SSIM loss of 2.3e-5 (seed 987654321, input
# 11737) fastloss is 2.7e-4 off relatively and pytorch_msssim's float32
# ms_ssim 2.5e-4 (both 1e-8 absolute, ~50 eps of 1). Their values get an
# absolute tolerance of the dtype's relative tolerance times the size of
# those terms (_value_terms), as every result is held relative to the
# magnitude it is computed from.
ONE_MINUS_SIMILARITY = {"ssim", "ms_ssim"}


def known(inp) -> str:
    """A known kernel defect this input meets (counted apart, not as a new
    failure), or "". Each is reported; fixing it is C++ work."""
    p = inp.args[0]
    if not isinstance(p, np.ndarray) or p.dtype.kind not in "fiub":
        return ""
    if inp.name == "barron" and _compute_dtype(p) == np.float32 and len(inp.args) == 4:
        # z = ((pred - target) / scale)**2 overflows float32 (a scale of 1e-30
        # against a residual of 4: seed 0, input 30571): the value is the
        # limit, the alpha and scale gradients NaN where the float64
        # reference has numbers
        with np.errstate(all="ignore"):
            a = [None if v is None else np.asarray(v, dtype=np.float32) for v in inp.args]
            r = (a[0] - a[1]) / (np.float32(1) if a[3] is None else a[3])
            if np.any(np.isfinite(r) & np.isinf(r * r)):
                return "barron float32: (x / scale)**2 overflows, NaN alpha/scale gradients"
    if inp.name == "tweedie" and _compute_dtype(p) == np.float32:
        # the deviance's terms (each about y**(2-p), mu**(2-p)) are computed
        # apart in float32: an absolute error up to 2.2e-6 (measured), so the
        # relative error grows without bound as mu nears y (the deviance -> 0)
        return "tweedie float32: terms computed apart, absolute error ~2e-6 near mu = y"
    if inp.name == "elbo" and _compute_dtype(p) == np.float32:
        # the logvar gradient 0.5 * beta * (exp(logvar) - 1) loses its digits
        # near logvar = 0 in float32 (as torch's does; expm1 would keep them)
        return "elbo float32: exp(logvar) - 1 cancels near logvar = 0"
    if inp.name == "triplet_margin" and _compute_dtype(p) == np.float32:
        # d(a, p) - d(a, n) of two float32 distances: an absolute error of
        # ~6e-8 d, beyond the tolerance (2e-5 of a loss ~ margin) for d above
        # ~300, met once entries pass 1e2 (seed 0, input 59016: a row at
        # 1e15, the loss 0 for 0.93)
        with np.errstate(all="ignore"):
            big = [np.abs(a[np.isfinite(a)]) for a in inp.args[:3] if isinstance(a, np.ndarray)]
        if any(b.size and float(np.max(b)) > 1e2 for b in big):
            return "triplet_margin float32: the difference of two large distances cancels"
        # the same at p < 1: (sum |u|^p)^(1/p) reaches D^(1/p) max|u| (4^435 at
        # p = 0.0023, beyond float32's range: inf - inf = NaN, as torch's
        # float32 norm gives), though every entry is small
        pn = float(inp.params.get("p", 2.0))
        if 0 < pn < 1 and any(b.size for b in big):
            with np.errstate(all="ignore"):
                d = float(inp.args[0].shape[-1] if inp.args[0].ndim else 1) ** (1.0 / pn) * max(
                    float(np.max(b)) for b in big if b.size
                )
            if not d <= 1e2:
                return "triplet_margin float32, p < 1: the distances grow as D^(1/p) and cancel"
    if inp.name == "softmax_focal" and inp.verb == "grad_hess" and _compute_dtype(p) == np.float64:
        # a probability in the subnormal range (log p in (-745.2, -708.4))
        # gives the row's Hessian NaN (tests/test_bad_input.py's xfail)
        with np.errstate(all="ignore"):
            q = p.astype(np.float64).reshape(-1, p.shape[-1]) if p.ndim else p.reshape(1, 1)
            m = np.max(q, axis=-1, keepdims=True)
            lp = q - m - np.log(np.sum(np.exp(q - m), axis=-1, keepdims=True))
        if np.any((lp < -708.3) & (lp > -745.2)):
            return "softmax_focal float64 Hessian NaN where a probability is subnormal"
    return ""


# ------------------------------------------------------------------ drawing


class NumpyDraw:
    """Choices from a NumPy generator (the script's driver)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def integer(self, lo: int, hi: int) -> int:  # inclusive
        return int(self.rng.integers(lo, hi + 1))

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


class HypothesisDraw:
    """The same choices from hypothesis's ``data()`` (shrinkable)."""

    def __init__(self, data):
        from hypothesis import strategies as st

        self.data, self.st = data, st

    def integer(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))

    def choice(self, seq):
        return seq[self.data.draw(self.st.integers(0, len(seq) - 1))]

    def chance(self, p):
        # integers shrink towards 0: towards "no" for every chance
        return self.data.draw(self.st.integers(0, 999)) >= 1000 - int(p * 1000)


# ------------------------------------------------------------------ generating


@dataclass
class Input:
    name: str
    verb: str
    args: list
    params: dict
    kw: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    labels: bool = False  # the target holds integer class labels

    def describe(self) -> str:
        arrs = ", ".join(
            f"{type(a).__name__}{getattr(a, 'shape', '')}:{getattr(a, 'dtype', '')}"
            + ("" if not isinstance(a, np.ndarray) or a.flags.c_contiguous else "(strided)")
            for a in self.args
        )
        kw = {
            k: (f"array{v.shape}" if isinstance(v, np.ndarray) else v) for k, v in self.kw.items()
        }
        ps = {
            k: (f"array{v.shape}" if isinstance(v, np.ndarray) else v)
            for k, v in self.params.items()
        }
        return f"{self.name}.{self.verb}({arrs}; {ps}; {kw}) [{'; '.join(self.notes)}]"


_SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-300, 5e-324, 1e30, -1e30]
_SPECIALS32 = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e15, -1e15, 1e-30, 1e-45]


def _values(d, rng, x, notes):
    """Special values at a few positions, or the whole array scaled."""
    if x.size == 0 or x.dtype.kind not in "fc":
        return x
    x = np.array(x, copy=True)
    specials = _SPECIALS if x.dtype == np.float64 else _SPECIALS32
    if d.chance(0.3):
        k = d.integer(1, 3)
        for _ in range(k):
            v = d.choice(specials)
            x.flat[int(rng.integers(x.size))] = v
        notes.append("specials")
    if d.chance(0.15):
        s = 10.0 ** d.integer(-6, 6 if x.dtype == np.float64 else 3)
        x *= s
        notes.append(f"scaled {s:g}")
    if d.chance(0.05):
        x = -x
        notes.append("negated")
    return x


def _dtype(d, x, notes, labels=False):
    kinds = ["same"] * 12 + ["f32", "f64", "f16", "int", "bool", "complex", "object", "u8"]
    k = d.choice(kinds)
    if k == "same":
        return x
    notes.append(k)
    with np.errstate(all="ignore"):
        if k == "f32":
            return x.astype(np.float32)
        if k == "f64":
            return x.astype(np.float64)
        if k == "f16":
            return x.astype(np.float16)
        if k == "int":
            return np.nan_to_num(np.round(x)).clip(-(2**31), 2**31 - 1).astype(np.int64)
        if k == "u8":
            return np.nan_to_num(x).clip(0, 255).astype(np.uint8)
        if k == "bool":
            return x > (0 if labels else np.median(x) if x.size else 0)
        if k == "complex":
            return x + 0.5j
        return x.astype(object)


def _layout(d, rng, x, notes):
    """Same values, other memory: strided, reversed, Fortran, zero-stride, unaligned."""
    if not isinstance(x, np.ndarray) or x.ndim == 0 or x.dtype == object:
        return x
    k = d.choice(["c"] * 6 + ["step", "reversed", "fortran", "broadcast", "unaligned", "ro"])
    if k == "c":
        return x
    notes.append(k)
    if k == "step":
        big = np.repeat(x, 2, axis=-1)
        return big[..., ::2]
    if k == "reversed":
        return np.ascontiguousarray(x[::-1])[::-1]
    if k == "fortran":
        return np.asfortranarray(x)
    if k == "broadcast":
        return np.broadcast_to(x[:1], x.shape)
    if k == "unaligned":
        buf = np.zeros(x.nbytes + 1, np.uint8)
        u = buf[1:].view(x.dtype).reshape(x.shape)
        u[...] = x
        return u
    y = np.array(x)
    y.flags.writeable = False
    return y


def _shape(d, rng, args, notes):
    """Shapes changed: one input resized, an axis added or removed, 0-d, empty."""
    k = d.choice(["same"] * 10 + ["resize", "add_axis", "drop_axis", "zero_d", "empty", "flat"])
    if k == "same":
        return args
    notes.append(k)
    args = list(args)
    i = d.integer(0, len(args) - 1)
    x = args[i]
    if k == "resize" and x.ndim:
        n = d.integer(0, 2 * x.shape[0] + 1)
        idx = rng.integers(0, max(1, x.shape[0]), size=n)
        args[i] = x[idx] if x.shape[0] else np.zeros((n,) + x.shape[1:], x.dtype)
    elif k == "add_axis":
        args[i] = x[None] if d.chance(0.5) else x[..., None]
    elif k == "drop_axis" and x.ndim:
        args[i] = x[0]
    elif k == "zero_d":
        args = [np.asarray(a.flat[0]) if a.size else np.asarray(0.0) for a in args]
    elif k == "empty":
        args = [a[:0] if a.ndim else a for a in args]
    elif k == "flat":
        args[i] = x.ravel()
    return args


def _param_value(d, rng, name, default, current, notes):
    k = d.choice(["keep"] * 6 + ["default", "valid", "invalid"])
    if k == "keep":
        return current
    if k == "default":
        return default
    notes.append(f"{k} {name}")
    if k == "valid":
        if name == "axis":
            return d.choice([None, -1, 1, (1,), (-1, 1)])
        if name in ("class_weight", "pos_weight"):
            return None if d.chance(0.3) else rng.uniform(0, 3, size=d.integer(1, 5))
        if isinstance(default, bool):
            return d.chance(0.5)
        if isinstance(default, str):
            return d.choice(
                {"variant": ["crammer_singer", "weston_watkins"], "link": ["identity", "log"]}.get(
                    name, [default]
                )
            )
        if isinstance(default, int):
            return d.integer(-200, 10)
        if name in ("quantile", "alpha", "beta", "label_smoothing"):
            return float(rng.uniform(0, 1))
        if name == "power":
            return d.choice([0.0, 1.0, 1.2, 1.5, 2.0, 3.0, -1.0])
        return float(10.0 ** rng.uniform(-6, 2))
    return d.choice(
        [
            math.nan,
            math.inf,
            -1.0,
            -1e-300,
            0.0,
            2.0,
            1e300,
            "x",
            True,
            None,
            (1, 2),
            2**70,
            np.array([np.nan]),
            np.zeros((2, 2)),
        ]
    )


def generate(d, names=ALL) -> Input:
    name = d.choice(names)
    loss = fl.get(name)
    seed = d.integer(0, 2**32 - 1)
    rng = np.random.default_rng(seed)
    dtype = d.choice([np.float32, np.float64])
    n = d.choice([1, 2, 3, 5, 8, 17, 40, d.integer(1, 300)])
    pred, target, params = CASES[name](rng, dtype, n)
    params = dict(params)
    first = [pred] if target is None else [pred, target]  # a loss of one input
    args = first + [params.pop(k) for k in loss.inputs[len(first) :]]
    notes = [f"seed {seed}", np.dtype(dtype).name, f"n {n}"]
    args = _shape(d, rng, args, notes)
    labels = target is not None and isinstance(target, np.ndarray) and target.dtype.kind in "iu"
    for i in range(len(args)):
        if d.chance(0.5):
            args[i] = _values(d, rng, args[i], notes)
        if labels and i == 1 and d.chance(0.1):
            t = np.array(args[1], copy=True)
            if t.size:
                t.flat[int(rng.integers(t.size))] = d.choice([-1, -100, 99, 2**40])
                notes.append("label out of range")
            args[1] = t
        if d.chance(0.25):
            args[i] = _dtype(d, args[i], notes, labels=labels and i == 1)
        if d.chance(0.3):
            args[i] = _layout(d, rng, args[i], notes)
    for k, default in loss.params.items():
        params[k] = _param_value(d, rng, k, default, params.get(k, default), notes)
    params = {k: v for k, v in params.items() if not (v is None and loss.params[k] is None)}
    verbs = ["value", "grad", "value_and_grad"] + (["grad_hess"] if loss.has_hess else [])
    verb = d.choice(verbs)
    kw: dict[str, Any] = {"reduction": d.choice(["mean", "sum", "none", "mean", "sum", "bogus"])}
    if d.chance(0.3):
        kw["sample_weight"] = _weights(d, rng, loss, args, params, notes)
    if verb != "value" and d.chance(0.25):
        kw["out"] = _out(d, loss, verb, args, notes)
        if len(loss.wrt) > 1 and verb != "grad_hess":
            kw["wrt"] = loss.wrt[0]
    return Input(name, verb, args, params, kw, notes, labels)


def _sample_shape(loss, args, params):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.shape(loss(*args, reduction="none", **params))
    except Exception:
        return np.shape(args[0])


def _weights(d, rng, loss, args, params, notes):
    shape = _sample_shape(loss, args, params)
    k = d.choice(["valid"] * 4 + ["zero", "all_zero", "negative", "nan", "shape", "scalar"])
    notes.append(f"weights {k}")
    w = rng.uniform(0.1, 3.0, size=shape)
    if k == "zero" and w.size:
        w.flat[0] = 0.0
    elif k == "all_zero":
        w[...] = 0.0
    elif k == "negative" and w.size:
        w.flat[0] = -1.0
    elif k == "nan" and w.size:
        w.flat[0] = np.nan
    elif k == "shape":
        w = rng.uniform(size=tuple(s + 1 for s in shape) or (2,))
    elif k == "scalar":
        w = np.asarray(2.0)
    return w


def _out(d, loss, verb, args, notes):
    p = args[0] if isinstance(args[0], np.ndarray) else np.asarray(0.0)
    dt = np.float32 if p.dtype in (np.float16, np.float32) else np.float64
    k = d.choice(["good"] * 5 + ["shape", "dtype", "strided", "alias", "readonly"])
    notes.append(f"out {k}")
    if k == "good":
        g = np.full(p.shape, 12345.0, dt)
    elif k == "shape":
        g = np.empty(p.shape + (2,), dt)
    elif k == "dtype":
        g = np.empty(p.shape, np.float32 if dt == np.float64 else np.float64)
    elif k == "strided":
        g = np.empty(p.shape + (2,), dt)[..., 0]
    elif k == "alias":
        g = p
    else:
        g = np.empty(p.shape, dt)
        g.flags.writeable = False
    if verb == "grad_hess":
        return (g, np.full(p.shape, 12345.0, dt) if k != "alias" else g)
    return g


# ------------------------------------------------------------------ checking


class Disagreement(AssertionError):
    pass


# --inject REL: every number fastloss returns is multiplied by 1 + REL before
# the comparison (arrays in place, so out= keeps its identity): the check
# that the tolerance still catches an error of that size.
INJECT = 0.0


def _inject(x):
    if isinstance(x, tuple):
        return tuple(_inject(v) for v in x)
    if isinstance(x, float):
        return x * (1.0 + INJECT)
    if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.flags.writeable:
        np.multiply(x, x.dtype.type(1.0 + INJECT), out=x)
    return x


def _call(f, inp, verb):
    kw = dict(inp.kw)
    if verb == "value":
        kw.pop("out", None)
        kw.pop("wrt", None)
        return f(*inp.args, **kw, **inp.params)
    return getattr(f, verb)(*inp.args, **kw, **inp.params)


def _tol(dt):
    return 1e-10 if dt == np.float64 else 2e-5


def _zero_weight_sum(inp) -> bool:
    w = inp.kw.get("sample_weight")
    return isinstance(w, np.ndarray) and w.dtype.kind in "fiub" and np.any(w == 0)


# The rounding-noise floor, in units of the compute dtype's epsilon at the
# inputs' scale (see _noise_floor).
NOISE_EPS = 2.0


def _noise_floor(inp, args, dt) -> float:
    """An absolute tolerance for the rounding noise of a result that is 0 or
    nearly so: ``NOISE_EPS * eps(dt) * S * r``.

    Where the exact result is 0 (the gradient of a uniform row's entropy,
    of MS-SSIM at pred == target) or far below the terms it is computed
    from (the dominant class's entropy gradient, -p (z - sum p z), a
    difference of numbers of the logits' size), the kernel and the
    reference each return their own rounding error -- -0.0 against
    -2.2e-17 -- and a tolerance relative to the largest reference value
    (noise itself) compares noise with noise. A sum of terms of size S
    rounds to within a few eps * S, whatever the formula: S is the largest
    finite |x| of the real inputs as computed (not labels), and at least 1,
    the size of the formulas' own constants (1 - p, log C, a margin); r is
    the reduction's factor on one sample's term: max|w| / |sum w| for
    "mean" (1/N unweighted, N per-sample losses), max|w| (1) for "sum" and
    "none". It is an absolute floor only: above a few eps * S * r a result
    is held to the relative tolerance (a 1e-6 relative error is caught in
    float64 wherever |result| > 2 eps S r / 1e-6, about 4.4e-10 S r; see
    ``--inject``).
    """
    s = 1.0
    for i, a in enumerate(args):
        if i == 1 and inp.labels:
            continue
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size:
            with np.errstate(all="ignore"):
                x = np.abs(a.astype(np.float64))
            x = x[np.isfinite(x)]
            if x.size:
                s = max(s, float(np.max(x)))
    red = inp.kw.get("reduction", "mean")
    w = inp.kw.get("sample_weight")
    r = 1.0
    if isinstance(w, np.ndarray) and w.dtype.kind in "fiub" and w.size:
        with np.errstate(all="ignore"):
            wf = np.abs(w.astype(np.float64))
        r = float(np.max(wf)) if np.all(np.isfinite(wf)) else 1.0
        if red == "mean":
            tot = abs(float(np.sum(w.astype(np.float64))))
            r = r / tot if tot > 0 and np.isfinite(tot) else 1.0
    elif red == "mean":
        try:
            n = np.size(_per_sample(inp, args))
        except Exception:
            n = 1
        r = 1.0 / max(n, 1)
    return NOISE_EPS * float(np.finfo(dt).eps) * s * r


def _per_sample(inp, args):
    """The reference's per-sample values (reduction "none") of the input."""
    kw = {k: v for k, v in inp.kw.items() if k not in ("out", "wrt")}
    return _reference(dataclasses.replace(inp, verb="value", kw={**kw, "reduction": "none"}), args)[
        0
    ]


def _value_terms(inp, args) -> float:
    """The size of the unit terms a 1 - similarity value is computed from,
    as the reduction weighs them (ONE_MINUS_SIMILARITY): per sample 1 times
    its weight; max|w| for "none", sum|w| for "sum", sum|w| / |sum w| for
    "mean" (1, N and 1 unweighted). 0 where it cannot be told (the
    weights' sum is 0 or not finite): no extra tolerance then."""
    try:
        none = _per_sample(inp, args)
        w = inp.kw.get("sample_weight")
        shape = np.shape(none)
        with np.errstate(all="ignore"):
            wa = np.ones(shape) if w is None else weights_like(w, shape).astype(np.float64)
        if not np.all(np.isfinite(wa)) or not wa.size:
            return 0.0
    except Exception:
        return 0.0
    red = inp.kw.get("reduction", "mean")
    if red == "none":
        return float(np.max(np.abs(wa)))
    if red == "sum":
        return float(np.sum(np.abs(wa)))
    tot = abs(float(np.sum(wa)))
    return float(np.sum(np.abs(wa))) / tot if tot > 0 else 0.0


def _compare(actual, expected, dt, what, mode, noise=None):
    """``mode``: "strict" (NaN where the reference has NaN), "either_nan"
    (compared where both are not NaN), "finite" (where both are finite).
    ``noise``: a callable giving the rounding-noise floor (_noise_floor),
    asked only where the relative tolerance alone fails."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise Disagreement(f"{what}: shape {a.shape} != reference {e.shape}")
    if mode == "ref_nan":
        keep = ~np.isnan(e)
        a, e = a[keep], e[keep]
    elif mode != "strict":
        keep = ~(np.isnan(a) | np.isnan(e))
        if mode == "finite":
            keep &= np.isfinite(a) & np.isfinite(e)
        a, e = a[keep], e[keep]
    rtol = _tol(dt)
    fin = np.isfinite(e)
    scale = float(np.max(np.abs(e[fin]))) if fin.any() else 1.0
    # plus 1e10 x the dtype's smallest normal number (2e-298 in float64,
    # 1e-28 in float32): results of tiny (subnormal-scale) inputs, whose
    # relative precision is gone, are not disagreements
    floor = 1e10 * float(np.finfo(dt).tiny)
    try:
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale + floor, err_msg=what)
    except AssertionError as exc:
        if noise is None:
            raise Disagreement(str(exc)) from None
        try:
            atol = rtol * scale + floor + noise()
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)
        except AssertionError as exc2:
            raise Disagreement(str(exc2)) from None


def _in_range(e, dt):
    """The reference's float64 numbers as the compute dtype holds them:
    beyond float32's range a float32 kernel gives +-inf."""
    e = np.array(e, dtype=np.float64)
    if dt == np.float32:
        e[np.abs(e) > float(np.finfo(np.float32).max)] *= np.inf
    return e


def _compute_dtype(pred) -> np.dtype:
    """float32 for float16/float32 pred, float64 for the rest (README)."""
    dt = np.asarray(pred).dtype if not isinstance(pred, np.ndarray) else pred.dtype
    return np.dtype(np.float32 if dt in (np.float16, np.float32) else np.float64)


def _extreme(inp, dt) -> str:
    """How far outside ordinary numbers an input goes, in the compute dtype:

    "huge": an input holds +-inf or a value beyond 1/eps (where x + 1 == x,
    so any formula's cancellations decide the result), or a parameter
    beyond the dtype's range (a float32 kernel computes with float32(v));
    "nan": an input holds NaN; "" otherwise."""
    kind = ""
    big = 1.0 / float(np.finfo(dt).eps)
    for x in [*inp.args, inp.kw.get("sample_weight")]:
        if isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.size:
            with np.errstate(invalid="ignore", over="ignore"):
                a = np.abs(x.astype(np.float64))
            if np.any(a[~np.isnan(a)] > big):
                return "huge"
            if np.isnan(a).any():
                kind = "nan"
    for v in inp.params.values():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > big:
            return "huge"
    return kind


def _as_computed(inp, args, dt):
    """The inputs as fastloss computes them: real arrays (not labels) and
    weights converted once to the compute dtype (a float64 target of a
    float32 pred is rounded to float32 first)."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray) and a.dtype.kind in "fiub" and not (i == 1 and inp.labels):
            with np.errstate(over="ignore"):
                a = a.astype(dt)
        out.append(a)
    return out


def _reference(inp, args):
    ref = R.get(inp.name)
    kw = {k: v for k, v in inp.kw.items() if k != "out"}
    # a float32 kernel computes with float32(delta), float32(margin), ... (as
    # tests/test_properties.py's in_dtype says): the reference gets the same
    dt = _compute_dtype(inp.args[0])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # (a tiny value that float32 rounds to 0 keeps its sign's meaning:
        # the kernel decides alpha < 0 on the value passed)
        params = {
            k: (float(dt.type(v)) if isinstance(v, float) and (dt.type(v) != 0 or v == 0) else v)
            for k, v in inp.params.items()
        }
        if inp.verb == "grad_hess":
            return ref.grad_hess(*args, **kw, **params)
        return ref.value_and_grad(*args, **kw, **params)


def _reference_value(inp, args):
    try:
        return _reference(dataclasses.replace(inp, verb="value"), args)[0]
    except Exception:
        return np.nan


def check(inp: Input) -> str:
    """Run one input; return its outcome ("ok", "ValueError", "TypeError")
    or raise: Disagreement, or whatever else the call raised."""
    loss = fl.get(inp.name)
    try:
        got = _call(loss, inp, inp.verb)
    except (ValueError, TypeError) as exc:
        if not str(exc).strip():
            raise Disagreement(f"{type(exc).__name__} without a message") from None
        return type(exc).__name__
    if INJECT:
        got = _inject(got)
    # fastloss accepted it: the reference must agree
    args = inp.args
    limit = False
    if inp.name in LIMIT_AT_INF and any(
        isinstance(a, np.ndarray) and a.dtype.kind == "f" and np.isinf(a).any() for a in args[:1]
    ):
        limit = True
        p = args[0].astype(np.float64)
        args = [np.where(np.isinf(p), np.sign(p) * 1e300, p), *args[1:]]
    dt = _compute_dtype(inp.args[0])
    extreme = _extreme(inp, dt)
    try:
        rv = _reference(inp, _as_computed(inp, args, dt))
    except Exception as exc:
        raise Disagreement(
            f"fastloss accepted what the reference refuses: {type(exc).__name__}: {exc}"
        ) from None
    if inp.verb == "grad_hess":
        v, grads, rv_, rgrads = None, got, None, rv
        # the value's NaN-ness for the gradient rule (a NaN mean: 0/0)
        if inp.kw.get("reduction") in ("mean", "sum"):
            rv_ = _in_range(_reference_value(inp, _as_computed(inp, args, dt)), dt)
    else:
        v, g = (got, None) if inp.verb == "value" else (None, got) if inp.verb == "grad" else got
        rv_, rg = rv
        grads = () if g is None else g if isinstance(g, tuple) else (g,)
        if isinstance(rg, tuple) and "wrt" in inp.kw:
            rg = (rg[0],)
        rgrads = rg if isinstance(rg, tuple) else (rg,)
    if v is not None:
        if inp.kw.get("reduction") in ("mean", "sum") and not isinstance(v, float):
            raise Disagreement(f"a scalar reduction gave {type(v).__name__}, not float")
        if limit:
            rv_ = np.array(rv_, dtype=np.float64)
            rv_[np.abs(rv_) > 1e250] *= np.inf
        rv_ = _in_range(rv_, dt)
        # the reference's own result overflowed: an intermediate inf
        overflow = not extreme and not np.all(np.isfinite(rv_))
        # values: NaN exactly where the reference has NaN; at huge inputs or
        # an overflow, compared where both are finite
        mode = "finite" if extreme == "huge" or overflow else "strict"
        terms = None
        if inp.name in ONE_MINUS_SIMILARITY:  # conditioned by terms of size 1

            def terms():
                return _tol(dt) * _value_terms(inp, _as_computed(inp, args, dt))

        _compare(v, rv_, dt, f"{inp.name} value", mode, terms)
    # the value is NaN (0/0, NaN in) or overflowed: gradient elements may be
    # NaN on either side
    reduced_nan = rv_ is not None and np.any(np.isnan(rv_))
    computed = _as_computed(inp, args, dt)
    noise_memo = []

    def noise():  # the rounding-noise floor of gradients and Hessians, once
        if not noise_memo:
            noise_memo.append(_noise_floor(inp, computed, dt))
        return noise_memo[0]

    # the reference's value overflowed: its chain-rule intermediates did too
    # (tweedie's mu ** -p underflows to 0 at mu = exp(552)): values only
    ref_overflow = rv_ is not None and np.any(np.isinf(rv_)) and not extreme
    for k, (a, e) in enumerate(zip(grads, rgrads)):
        if np.asarray(a).dtype != dt:
            raise Disagreement(f"{inp.name} {inp.verb}[{k}]: dtype {a.dtype}, expected {dt}")
        if limit or extreme == "huge" or ref_overflow:
            continue  # values only: cancellations decide gradients there
        e = _in_range(e, dt)
        nan_ok = extreme == "nan" or reduced_nan or _zero_weight_sum(inp)
        if not np.all(np.isfinite(e[~np.isnan(e)])):
            nan_ok = True  # the reference's gradient overflowed
        mode = "either_nan" if nan_ok else "strict"
        if mode == "strict" and np.isnan(e).any():
            # the reference's gradient is NaN at finite inputs and a finite
            # value: its formula met inf * 0 (sigmoid_focal's (1 - p)**(gamma
            # - 1) at p = 1 for gamma < 1); fastloss may give the limit there,
            # but not NaN where the reference has a number
            mode = "ref_nan"
        _compare(a, e, dt, f"{inp.name} {inp.verb}[{k}]", mode, noise)
    out = inp.kw.get("out")
    if out is not None:
        outs = out if isinstance(out, tuple) else (out,)
        res = grads
        for o, r in zip(outs, res):
            if r is not o:
                raise Disagreement("out= given, but the result is another array")
    return "ok"


def _perturbed(inp, args, dt, rng):
    """The inputs with every real value moved by one unit in the last place
    of the compute dtype, up or down at random (labels left alone); with
    ``rng`` None, every value up (towards +inf)."""
    eps = float(np.finfo(dt).eps)
    out = []
    for a in _as_computed(inp, args, dt):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size:
            with np.errstate(all="ignore"):
                s = np.sign(a) if rng is None else rng.choice([-1.0, 1.0], size=a.shape)
                a = (a * (1 + eps * s)).astype(a.dtype)
        out.append(a)
    return out


def ill_conditioned(inp) -> bool:
    """Whether the reference's own result moves beyond the tolerance when the
    inputs move by one ulp: then no implementation in that dtype can be held
    to the tolerance (a tversky denominator near 0, +-1e300 cancelling in a
    sum), and a disagreement says nothing about fastloss."""
    dt = _compute_dtype(inp.args[0])
    base = _reference(inp, _as_computed(inp, inp.args, dt))
    rng = np.random.default_rng(0)
    # first every value up: x and -x cancelling in a sum move apart (random
    # signs move them together half the time: seed 0's first draws did for
    # hinge_gan_generator's sum of [1e30, -1e30, 2.7]); then random signs
    for r in (None, rng, rng):
        try:
            moved = _reference(inp, _perturbed(inp, inp.args, dt, r))
        except Exception:  # the reference refuses the moved input: no verdict
            return False
        for x, y in zip(_flat(base), _flat(moved)):
            try:
                _compare(y, _in_range(x, dt), dt, "", "either_nan")
            except Disagreement:
                return True
    return False


def _flat(r):
    out = []
    for x in r if isinstance(r, tuple) else (r,):
        out.extend(_flat(x) if isinstance(x, tuple) else [x])
    return out


def run_one(inp: Input) -> str:
    try:
        return check(inp)
    except Disagreement:
        if known(inp):
            return "known defect"
        if ill_conditioned(inp):
            return "ill-conditioned"
        raise


# ------------------------------------------------------------------ the script


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000, help="inputs to run")
    ap.add_argument("--seed", type=int, default=0, help="input i draws from seed + i")
    ap.add_argument("--replay", type=int, help="run input i alone and print it")
    ap.add_argument("--show", type=int, default=20, help="failures to print")
    ap.add_argument(
        "--losses", default="", help="comma-separated names: draw only these (replay with the same)"
    )
    ap.add_argument(
        "--inject",
        type=float,
        default=0.0,
        help="multiply every result by 1 + REL before comparing: the tolerance must catch it",
    )
    args = ap.parse_args(argv)
    global INJECT
    INJECT = args.inject
    names = [n for n in args.losses.split(",") if n] or ALL
    unknown = sorted(set(names) - set(ALL))
    if unknown:
        ap.error(f"--losses: not in the catalogue: {', '.join(unknown)}")
    warnings.simplefilter("error")  # a warning is a failure, as in the suite
    if args.replay is not None:
        inp = generate(NumpyDraw(args.seed + args.replay), names)
        print(inp.describe())
        try:
            print(check(inp))
        except Disagreement as exc:
            print(str(exc).strip())
            if known(inp):
                print(f"known defect: {known(inp)}")
            elif ill_conditioned(inp):
                print("ill-conditioned (the reference moves beyond the tolerance at one ulp)")
            else:
                print("DISAGREES")
                return 1
        return 0
    counts: collections.Counter = collections.Counter()
    per_loss: collections.Counter = collections.Counter()
    by_dtype: collections.Counter = collections.Counter()
    failures = []
    t0 = time.perf_counter()
    for i in range(args.n):
        inp = generate(NumpyDraw(args.seed + i), names)
        per_loss[inp.name] += 1
        dtn = _compute_dtype(inp.args[0]).name if inp.args else "?"
        try:
            outcome = run_one(inp)
            counts[outcome] += 1
            by_dtype[(dtn, outcome)] += 1
        except Disagreement as exc:
            counts["DISAGREES"] += 1
            by_dtype[(dtn, "DISAGREES")] += 1
            failures.append((i, inp.describe(), str(exc).strip().splitlines()[:6]))
        except Exception as exc:  # anything else: a crash of the contract
            counts[f"CRASH {type(exc).__name__}"] += 1
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            failures.append((i, inp.describe(), [tb]))
        if (i + 1) % 10000 == 0:
            print(f"  {i + 1} inputs, {time.perf_counter() - t0:.0f} s: {dict(counts)}", flush=True)
    dt = time.perf_counter() - t0
    print(f"{args.n} inputs (seed {args.seed}) in {dt:.1f} s over {len(per_loss)} losses")
    for k, v in sorted(counts.items()):
        print(f"  {k:24s} {v}")
    for dtn in ("float32", "float64"):
        agree, dis = by_dtype[(dtn, "ok")], by_dtype[(dtn, "DISAGREES")]
        print(f"  {dtn}: {agree} agree, {dis} disagree")
    if INJECT:
        print(f"  (every result multiplied by 1 + {INJECT:g} before the comparison)")
    for i, desc, msg in failures[: args.show]:
        print(f"--- input {i} (--replay {i}): {desc}")
        for line in msg:
            print(f"    {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
