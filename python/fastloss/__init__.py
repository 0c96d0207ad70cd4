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
from fastloss.boxes import *  # noqa: F403
from fastloss.classification import *  # noqa: F403
from fastloss.clustering import *  # noqa: F403
from fastloss.control import *  # noqa: F403
from fastloss.embedding import *  # noqa: F403
from fastloss.generative import *  # noqa: F403
from fastloss.image import *  # noqa: F403
from fastloss.linear import *  # noqa: F403
from fastloss.multiclass import *  # noqa: F403
from fastloss.overlap import *  # noqa: F403
from fastloss.pairwise import *  # noqa: F403
from fastloss.ranking import *  # noqa: F403
from fastloss.regression import *  # noqa: F403
from fastloss.regularization import *  # noqa: F403
from fastloss.robust import *  # noqa: F403
from fastloss.sequence import *  # noqa: F403

__version__ = _core.__version__

# The family modules are derived from the C++ catalogue (every loss names its
# family, and the family's module is fastloss.<family>). The star imports
# above are the same names written out on purpose: they let IDEs, type
# checkers and readers see fl.huber statically (a registry filled in with
# globals() would hide every loss from them). test_catalogue checks that the
# two agree, so a new family's missing import line fails a test.
_FAMILIES = tuple(
    importlib.import_module(f"fastloss.{family}")
    for family in dict.fromkeys(e["family"] for e in _core.catalogue().values())
)
_REGISTRY: dict[str, Loss] = {name: getattr(mod, name) for mod in _FAMILIES for name in mod.__all__}


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
