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
from fastloss.reference.boxes import *  # noqa: F403
from fastloss.reference.classification import *  # noqa: F403
from fastloss.reference.clustering import *  # noqa: F403
from fastloss.reference.control import *  # noqa: F403
from fastloss.reference.embedding import *  # noqa: F403
from fastloss.reference.generative import *  # noqa: F403
from fastloss.reference.image import *  # noqa: F403
from fastloss.reference.linear import *  # noqa: F403
from fastloss.reference.multiclass import *  # noqa: F403
from fastloss.reference.overlap import *  # noqa: F403
from fastloss.reference.pairwise import *  # noqa: F403
from fastloss.reference.ranking import *  # noqa: F403
from fastloss.reference.regression import *  # noqa: F403
from fastloss.reference.regularization import *  # noqa: F403
from fastloss.reference.robust import *  # noqa: F403
from fastloss.reference.sequence import *  # noqa: F403

# One reference module per family module of fastloss (fastloss._FAMILIES),
# of the same name: the registry follows the catalogue's families. The star
# imports above export the twins statically (for IDEs and type checkers);
# test_catalogue checks they cover the registry.
_REGISTRY = {
    name: getattr(mod, name)
    for mod in (
        importlib.import_module(f"fastloss.reference.{fam.__name__.rsplit('.', 1)[1]}")
        for fam in _fastloss._FAMILIES
    )
    for name in mod.__all__
}


def get(name: str) -> RefLoss:
    """The reference twin of fastloss.get(name)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"no reference for {name!r}") from None


__all__ = ["RefLoss", "get", *sorted(_REGISTRY)]
