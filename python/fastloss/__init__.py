"""fastloss: fast, numerically stable, reproducible loss functions.

Every loss is a :class:`fastloss.Loss`::

    import fastloss as fl
    fl.huber(pred, target, delta=1.0)                   # value (a float)
    fl.huber.grad(pred, target, delta=1.0)              # d value / d pred
    fl.huber.value_and_grad(pred, target, delta=1.0)    # both, one pass
    fl.huber.grad_hess(pred, target, reduction="none")  # for boosting

``fastloss.available()`` lists the catalogue, ``fastloss.get(name)`` returns
a loss by name, ``fastloss.reference`` holds the NumPy oracle of each loss.
"""

from __future__ import annotations

import importlib

from fastloss import _core
from fastloss._accumulate import BLOCK, BOOTSTRAP_BUCKETS, Accumulator
from fastloss._config import (
    buffer_cache_info,
    get_num_threads,
    set_buffer_cache,
    set_num_threads,
    show_config,
)
from fastloss._loss import Loss

__version__ = _core.__version__

# The family modules are derived from the C++ catalogue (every loss names its
# family, and the family's module is fastloss.<family>), so a new family needs
# no line here: each module's __all__ lists its losses, exported below.
_FAMILIES = tuple(
    importlib.import_module(f"fastloss.{family}")
    for family in dict.fromkeys(e["family"] for e in _core.catalogue().values())
)
_REGISTRY: dict[str, Loss] = {name: getattr(mod, name) for mod in _FAMILIES for name in mod.__all__}
globals().update(_REGISTRY)


def available() -> list[str]:
    """Names of every loss in the catalogue, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Loss:
    """The loss called ``name`` (as listed by :func:`available`)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        import difflib

        key = str(name).strip().lower().replace("-", "_")
        near = [key] if key in _REGISTRY else difflib.get_close_matches(key, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise ValueError(f"unknown loss {name!r}{hint} (see fastloss.available())") from None


def __getattr__(name: str):
    # fastloss.reference (the NumPy oracle) is imported on first use only.
    if name == "reference":
        import importlib

        return importlib.import_module("fastloss.reference")
    raise AttributeError(f"module 'fastloss' has no attribute {name!r}")


__all__ = [
    "Accumulator",
    "BLOCK",
    "BOOTSTRAP_BUCKETS",
    "Loss",
    "available",
    "buffer_cache_info",
    "get",
    "get_num_threads",
    "set_buffer_cache",
    "set_num_threads",
    "show_config",
    *sorted(_REGISTRY),
]
