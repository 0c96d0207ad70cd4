"""Every example in the public docstrings runs, as a doctest.

doctest's module finder looks at functions and classes only; a loss is a
``Loss`` object whose docstring is set per instance, so the losses of
``fastloss.available()`` are collected one by one from their ``__doc__``.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

import fastloss as fl

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# the package, its public functions and the Loss class with its verbs
MODULES = [
    "fastloss",
    "fastloss._config",
    "fastloss._loss",
    "fastloss.boxes",
    "fastloss.classification",
    "fastloss.multiclass",
    "fastloss.overlap",
    "fastloss.regression",
    "fastloss.cli",
]
try:  # the PyTorch adapter's examples, where torch is installed
    import torch  # noqa: F401
except ImportError:
    pass
else:
    MODULES.append("fastloss.torch")
try:  # the JAX adapter's examples, where jax is installed
    import jax  # noqa: F401
except ImportError:
    pass
else:
    MODULES.append("fastloss.jax")


def _collect() -> dict[str, doctest.DocTest]:
    finder = doctest.DocTestFinder()
    found = []
    for name in fl.available():
        found += finder.find(fl.get(name), f"fastloss.{name}", module=False, globs={})
    for modname in MODULES:
        found += finder.find(importlib.import_module(modname))
    tests: dict[str, doctest.DocTest] = {}
    for t in found:
        if t.examples:
            tests.setdefault(t.name, t)
    return tests


TESTS = _collect()


@pytest.mark.parametrize("name", fl.available())
def test_every_loss_has_an_example(name):
    assert f"fastloss.{name}" in TESTS, f"{name}'s docstring has no Examples doctest"


@pytest.mark.parametrize("name", sorted(TESTS))
def test_docstring_examples_run(name):
    test = TESTS[name]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    result = runner.run(test, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)
