"""The catalogue of losses, read from C++ (``_core.catalogue()``).

C++ (``cpp/include/fastloss/api/catalogue.hpp``) is the one source of truth
for what a loss is: its kernel id, positional inputs and which are
differentiable (by default, or on request only: ``wrt_on_request``), its
parameters (kind, default, bounds, choices), whether it
has a Hessian, and its input domains. The family modules declare each loss
with :func:`declare` (its :func:`metadata` and :func:`kernel_id`) instead of
repeating them; this module turns the data into
:class:`~fastloss._params.Param` checks and words the domain messages in one
place (:func:`domain_message`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from fastloss import _core
from fastloss._arrays import element_at, min_ignoring_nan
from fastloss._params import Param, axes, boolean, choice, integer, real, real_or_array, reals

__all__ = [
    "entry",
    "kernel_id",
    "grad_kernel",
    "metadata",
    "declare",
    "make_param",
    "explain",
    "check_domain",
    "domain_message",
]

if TYPE_CHECKING:
    from fastloss._core import CatalogueEntry

_TABLE: dict[str, CatalogueEntry] = _core.catalogue()

L = TypeVar("L")


def entry(name: str) -> CatalogueEntry:
    """The C++ catalogue's record of ``name`` (plain data; do not modify)."""
    try:
        return _TABLE[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the C++ catalogue") from None


def kernel_id(name: str) -> int:
    """The id ``name`` is dispatched on in its family's kernel."""
    return entry(name)["kernel_id"]


def grad_kernel(name: str, input_name: str) -> int:
    """The kernel id that computes the gradient with respect to ``input_name``."""
    for spec in entry(name)["inputs"]:
        k = spec["grad_kernel"]
        if spec["name"] == input_name and k is not None:
            return k
    raise KeyError(f"{name}: {input_name!r} is not a differentiable input")


def _check_for(spec: Mapping[str, Any]) -> Callable[[str, Any], Any] | None:
    kind = spec["kind"]
    lo, hi = spec["lo"], spec["hi"]
    if kind == "real":
        return real(
            None if lo is None else lo[0],
            None if hi is None else hi[0],
            lo_open=lo is not None and lo[1],
            hi_open=hi is not None and hi[1],
            excluded=spec["excluded"],
        )
    if kind == "int":
        return integer()
    if kind == "bool":
        return boolean()
    if kind == "choice":
        return choice(*spec["choices"])
    if kind == "real_or_array":
        if hi is not None or (lo is not None and lo[1]):
            raise NotImplementedError(f"{spec['name']}: real_or_array takes a closed lower bound")
        return real_or_array(None if lo is None else lo[0])
    if kind == "axes":
        return axes()
    if kind == "optional_array":
        return None  # None or an array: the loss checks it against its inputs
    if kind == "reals":
        return reals(len(spec["default"]), None if lo is None else lo[0], spec.get("min_len"))
    raise NotImplementedError(f"parameter kind {kind!r}")  # pragma: no cover


def make_param(spec: Mapping[str, Any]) -> Param:
    """A :class:`Param` from the catalogue's record of one parameter."""
    return Param(spec["name"], spec["default"], _check_for(spec))


def metadata(name: str) -> dict[str, Any]:
    """The keyword arguments of :class:`~fastloss.Loss` that the catalogue
    decides: ``family``, ``inputs``, ``wrt``, ``wrt_on_request``, ``optional_inputs``,
    ``params``, ``has_hess``, ``hess_exact`` and ``grad_exact``."""
    e = entry(name)
    return {
        "family": e["family"],
        "inputs": tuple(i["name"] for i in e["inputs"]),
        "wrt": tuple(i["name"] for i in e["inputs"] if i["differentiable"] and not i["on_request"]),
        "wrt_on_request": tuple(i["name"] for i in e["inputs"] if i["on_request"]),
        "optional_inputs": tuple(i["name"] for i in e["inputs"] if i["optional"]),
        "params": tuple(make_param(p) for p in e["params"]),
        "has_hess": e["has_hess"],
        "hess_exact": e["hess_exact"],
        "grad_exact": e["grad_exact"],
    }


def declare(cls: Callable[..., L], name: str, **kw: Any) -> L:
    """The catalogue's loss ``name`` as a ``cls`` (a :class:`~fastloss.Loss`
    subclass): its :func:`metadata` and :func:`kernel_id` come from the
    catalogue, ``kw`` gives the rest (kernel family, packing, peer, doc), so
    a family module writes a loss's name once."""
    return cls(name, **metadata(name), kernel_id=kernel_id(name), **kw)


def _num(x: float) -> str:
    return f"{x:g}"


def _condition(d: Mapping[str, Any]) -> str:
    """What a value must satisfy, in words: ``be > -1``, ``lie in [0, 1]``,
    ``be -1, 0 or 1``."""
    if d["kind"] == "values":
        vs = [_num(v) for v in d["values"]]
        return "be " + (", ".join(vs[:-1]) + " or " + vs[-1] if len(vs) > 1 else vs[0])
    lo, hi = d["lo"], d["hi"]
    if lo is not None and hi is not None:
        return f"lie in {'(' if lo[1] else '['}{_num(lo[0])}, {_num(hi[0])}{')' if hi[1] else ']'}"
    if lo is not None:
        return f"be {'>' if lo[1] else '>='} {_num(lo[0])}"
    return f"be {'<' if hi[1] else '<='} {_num(hi[0])}"


def admits(d: Mapping[str, Any], v: float) -> bool:
    """Whether ``v`` lies in the (interval or values) domain ``d``; NaN does
    (it propagates, it is not an error)."""
    if v != v:
        return True
    if d["kind"] == "values":
        return v in d["values"]
    lo, hi = d["lo"], d["hi"]
    if lo is not None and (v < lo[0] or (lo[1] and v == lo[0])):
        return False
    return not (hi is not None and (v > hi[0] or (hi[1] and v == hi[0])))


def domain_message(loss: str, d: Mapping[str, Any], where: Any, value: Any) -> str:
    """The one wording of a value outside a simple domain, e.g.
    ``prob: probabilities must lie in [0, 1], got 1.5 at index 3``."""
    subject = f"{d['input']}: {d['noun']}" if d["noun"] else f"{loss}: every value of {d['input']}"
    reason = f" ({d['reason']})" if d["reason"] else ""
    return f"{subject} must {_condition(d)}{reason}, got {value!r} at index {where}"


_SCALAR_KINDS = ("real", "bool", "int")


def scalar_pack(name: str) -> Callable[..., Any] | None:
    """The ``pack`` of an element-wise loss whose parameters are all scalars:
    the kernel's four float slots hold them in the catalogue's order (the
    kernels read ``params[i]`` as the catalogue's i-th parameter; a bool as
    0 or 1), the rest 0. None for a loss without parameters or with others
    (arrays, choices): it packs its own."""
    params = entry(name)["params"]
    if not params or any(q["kind"] not in _SCALAR_KINDS for q in params):
        return None
    names = tuple(q["name"] for q in params)
    pad = (0.0,) * (4 - len(names))
    if len(names) == 1:  # most of them: no loop on the hot path
        (only,) = names

        def pack_one(p, pred, target, *_):
            return (float(p[only]), *pad), None, target

        return pack_one

    def pack(p, pred, target, *_):
        return (*[float(p[k]) for k in names], *pad), None, target

    return pack


def check_domain(name: str, input_name: str, x: Any) -> None:
    """Check the array ``x`` of ``input_name`` against the interval domain
    the catalogue declares for it with ``checked_by_kernel`` false (the
    Python layer checks these before the kernel runs): one min and one max
    pass ignoring NaN (NaN propagates); the first bad element is worded by
    :func:`domain_message`."""
    for d in entry(name)["domains"]:
        if d["input"] != input_name or d["checked_by_kernel"] or d["kind"] != "interval":
            continue
        if x.size == 0:
            return
        lo, hi = min_ignoring_nan(x), -min_ignoring_nan(-x)  # +inf, -inf: all NaN
        if lo > hi or (admits(d, lo) and admits(d, hi)):
            continue
        bad = np.zeros(x.shape, bool)  # NaN compares false: never bad
        if d["lo"] is not None:
            bad |= (x <= d["lo"][0]) if d["lo"][1] else (x < d["lo"][0])
        if d["hi"] is not None:
            bad |= (x >= d["hi"][0]) if d["hi"][1] else (x > d["hi"][0])
        where, v = element_at(x, int(np.argmax(bad.ravel())))
        raise ValueError(domain_message(name, d, where, v))


def explain(name: str) -> Callable[..., str] | None:
    """The ``explain(pred, target, index, params)`` hook of an element-wise
    loss whose kernel checks simple domains: the message for the first of
    them that the element at flat ``index`` breaks. None where the loss has
    no such domain (rules such as tweedie's are worded by the loss)."""
    e = entry(name)
    names = [i["name"] for i in e["inputs"]]
    doms = [d for d in e["domains"] if d["checked_by_kernel"] and d["kind"] != "rule"]
    if not doms:
        return None

    def explain_element(pred, target, i, p):
        arrays = {names[0]: pred, names[1]: target}
        for d in doms:
            where, v = element_at(arrays[d["input"]], i)
            if not admits(d, v):
                return domain_message(name, d, where, v)
        raise AssertionError("the kernel reported a valid element")  # pragma: no cover

    return explain_element
