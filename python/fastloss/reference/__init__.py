"""NumPy reference implementations: the oracle the kernels are tested against.

Every loss in fastloss has a twin here with the same name, signature and
verbs (``__call__``, ``grad``, ``value_and_grad``, ``grad_hess``), written in
plain NumPy in float64 with the same stable formulas. It is slow on purpose:
clarity first.
"""

from __future__ import annotations

import importlib

import fastloss as _fastloss
from fastloss.reference._base import RefLoss

# One reference module per family module of fastloss (fastloss._FAMILIES),
# of the same name: the registry follows the catalogue's families, and every
# twin is exported (a new family needs no line here).
_REGISTRY = {
    name: getattr(mod, name)
    for mod in (
        importlib.import_module(f"fastloss.reference.{fam.__name__.rsplit('.', 1)[1]}")
        for fam in _fastloss._FAMILIES
    )
    for name in mod.__all__
}
globals().update(_REGISTRY)


def get(name: str) -> RefLoss:
    """The reference twin of fastloss.get(name)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no reference for {name!r}") from None


__all__ = ["RefLoss", "get", *sorted(_REGISTRY)]
