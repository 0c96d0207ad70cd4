"""NumPy reference implementations: the oracle the kernels are tested against.

Every loss in fastloss has a twin here with the same name, signature and
verbs (``__call__``, ``grad``, ``value_and_grad``, ``grad_hess``), written in
plain NumPy in float64 with the same stable formulas. It is slow on purpose:
clarity first.
"""

from __future__ import annotations

from fastloss.reference import boxes as _boxes
from fastloss.reference import classification as _classification
from fastloss.reference import control as _control
from fastloss.reference import embedding as _embedding
from fastloss.reference import generative as _generative
from fastloss.reference import image as _image
from fastloss.reference import multiclass as _multiclass
from fastloss.reference import overlap as _overlap
from fastloss.reference import regression as _regression
from fastloss.reference._base import RefLoss
from fastloss.reference.boxes import *  # noqa: F403
from fastloss.reference.classification import *  # noqa: F403
from fastloss.reference.control import *  # noqa: F403
from fastloss.reference.embedding import *  # noqa: F403
from fastloss.reference.generative import *  # noqa: F403
from fastloss.reference.image import *  # noqa: F403
from fastloss.reference.multiclass import *  # noqa: F403
from fastloss.reference.overlap import *  # noqa: F403
from fastloss.reference.regression import *  # noqa: F403

_REGISTRY = {
    name: getattr(mod, name)
    for mod in (
        _regression,
        _classification,
        _multiclass,
        _overlap,
        _boxes,
        _embedding,
        _generative,
        _control,
        _image,
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
