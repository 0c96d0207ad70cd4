"""Valid inputs for every registered loss: the property tests draw on these.

``CASES[name](rng, dtype, n)`` returns ``(pred, target, params)`` with about
``n`` samples (target None for a loss of one input; inputs beyond the
second go by name in params). A loss added to the registry without a case here fails
``test_every_loss_has_a_case``, so nothing escapes the property tests.
``PER_SAMPLE`` says how the per-sample losses relate to pred (for weights).
"""

from __future__ import annotations

import numpy as np

CASES = {}
# Losses whose first two inputs may have unrelated shapes (a GAN's real and
# fake batches): no shape mismatch to refuse.
INDEPENDENT_SHAPES = {"gan_discriminator", "hinge_gan_discriminator", "wasserstein_critic"}

# Losses whose inputs are lists of arrays (a loss with ``list_inputs = True``:
# perceptual's feature maps, one per layer). The registry-wide tests are
# written for array inputs (they slice, perturb, broadcast weights and size
# out= buffers by an array's shape), so tests/conftest.py skips these losses
# there with the reason below, and each has a test file of its own that covers
# the same properties. test_perceptual.py checks this list against the
# registry's ``list_inputs`` flags.
LIST_INPUTS = {
    "perceptual": (
        "list inputs (feature maps per layer): the registry-wide properties are "
        "tested in tests/test_perceptual.py"
    ),
}
# The test modules whose tests, parametrized by ``name`` over the catalogue,
# skip the LIST_INPUTS losses (tests/conftest.py).
ARRAY_ONLY_MODULES = {
    "test_properties",
    "test_bad_input",
    "test_errors",
    "test_buffers",
    "test_torch",
}


def array_input_losses(names):
    """``names`` less the LIST_INPUTS losses, for a registry-wide loop that
    is not parametrized (and so not skipped by tests/conftest.py)."""
    return [n for n in names if n not in LIST_INPUTS]


def case(*names):
    def deco(f):
        for n in names:
            CASES[n] = f
        return f

    return deco


def make(name, rng, dtype=np.float64, n=40):
    return CASES[name](rng, dtype, n)


def args(pred, target):
    """The positional inputs of a case: a loss of one input (``entropy``,
    ``gan_generator``) has a case whose target is None."""
    return (pred,) if target is None else (pred, target)


def grads(g):
    """A gradient result as a tuple, one array per differentiable input (a
    loss with one returns an array, several a tuple)."""
    return g if isinstance(g, tuple) else (g,)


def diff_inputs(name, pred, params, target=None):
    """``[(input name, array)]`` for every differentiable input of the loss:
    pred, target (where the second input is differentiable: margin_ranking's
    x2), and the extra inputs a case passes by name in ``params``."""
    import fastloss as fl

    loss = fl.get(name)
    out = []
    for k in loss.wrt:
        pos = loss.inputs.index(k)
        out.append((k, pred if pos == 0 else target if pos == 1 else params[k]))
    return out


# Each family keeps its cases in tests/cases_<family>.py; importing them here
# registers them.
def _load_family_cases():
    import glob
    import importlib
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "cases_*.py"))):
        importlib.import_module(os.path.splitext(os.path.basename(path))[0])


_load_family_cases()
