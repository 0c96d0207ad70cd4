import os
import sys

# Under pytest-xdist (`pytest -n auto`, the README's test command) each
# worker is a process with its own OpenMP pool, so the pools share the cores:
# a thread that spins at a barrier (the runtime's default wait) takes the
# core from another worker's thread. Passive waiting sleeps instead. It is
# set before anything loads an OpenMP runtime (fastloss's, torch's), which
# read it once; it changes no result, only how idle threads wait.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))  # the shared `cases` module

import fastloss as fl  # noqa: E402
from cases import ARRAY_ONLY_MODULES, LIST_INPUTS  # noqa: E402


def pytest_collection_modifyitems(config, items):
    # The registry-wide tests of ARRAY_ONLY_MODULES skip the losses whose
    # inputs are lists of arrays, each with its listed reason (tests/cases.py).
    for item in items:
        cs = getattr(item, "callspec", None)
        name = cs.params.get("name") if cs is not None else None
        mod = getattr(item, "module", None)
        if name in LIST_INPUTS and mod is not None:
            if mod.__name__.rsplit(".", 1)[-1] in ARRAY_ONLY_MODULES:
                item.add_marker(pytest.mark.skip(reason=f"{name}: {LIST_INPUTS[name]}"))


def pytest_report_header(config):
    from fastloss import _config

    cfg = _config.config()
    try:
        import torch

        torch_v = torch.__version__
    except ImportError:
        torch_v = "not installed"
    try:
        import sklearn

        sk_v = sklearn.__version__
    except ImportError:
        sk_v = "not installed"
    return [
        f"fastloss {cfg['version']} from {os.path.dirname(fl.__file__)}",
        f"ISA {cfg['isa']} (compiled {', '.join(cfg['isa_compiled'])}; "
        f"CPU supports {', '.join(cfg['isa_supported'])}); threads {cfg['threads']}; "
        f"OpenMP {cfg['openmp']}",
        f"numpy {np.__version__}; torch {torch_v}; scikit-learn {sk_v}",
    ]


@pytest.fixture(autouse=True)
def _restore_threads():
    before = fl.get_num_threads()
    yield
    fl.set_num_threads(None)
    assert fl.get_num_threads() == before


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
