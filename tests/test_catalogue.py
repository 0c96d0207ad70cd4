"""The C++ catalogue (``_core.catalogue()``) is what the Python losses declare.

Every registered loss's metadata must equal its C++ entry, every kernel id of
every family enum must be used by the table, and the checks and domain
messages the Python layer generates from the table must behave as the data
says.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
import pytest

import fastloss as fl
from fastloss import _catalogue, _core
from fastloss import regression as _regression

CAT = _core.catalogue()
NAMES = sorted(CAT)


# Losses whose kernel belongs to another family than the loss's module:
# perceptual (image) runs the regression kernels per layer of its lists of
# feature maps, its own id being regression's abs_power (|r|^p).
RUNS_ON = {"perceptual": "regression"}


def test_the_table_and_the_registry_list_the_same_losses():
    assert sorted(fl.available()) == NAMES
    assert len(NAMES) >= 33
    for name, family in RUNS_ON.items():
        assert fl.get(name)._kernel == _core.families()[family]


def test_every_kernel_family_has_one_code_from_cpp():
    # _core.families() is the C++ list the enum is made from; every family of
    # the table has a code there (linear_cross_entropy runs multiclass's), the
    # codes are distinct, and _loss's names are those codes
    from fastloss import _loss

    fams = _core.families()
    assert len(set(fams.values())) == len(fams)
    assert {e["family"] for e in CAT.values()} - set(fams) == {"linear"}
    for name, code in fams.items():
        assert getattr(_loss, name.upper()) == code


@pytest.mark.parametrize("name", NAMES)
def test_loss_metadata_equals_its_catalogue_entry(name):
    loss, e = fl.get(name), CAT[name]
    assert e["name"] == name
    assert loss.family == e["family"]
    assert loss.inputs == tuple(i["name"] for i in e["inputs"])
    assert loss.wrt == tuple(
        i["name"] for i in e["inputs"] if i["differentiable"] and not i["on_request"]
    )
    assert loss.wrt_on_request == tuple(i["name"] for i in e["inputs"] if i["on_request"])
    assert (loss.has_hess, loss.hess_exact, loss.grad_exact) == (
        e["has_hess"],
        e["hess_exact"],
        e["grad_exact"],
    )
    # parameter names, order, defaults and their types
    assert list(loss.params) == [p["name"] for p in e["params"]]
    for p in e["params"]:
        d = loss.params[p["name"]]
        assert d == p["default"] and type(d) is type(p["default"]), p["name"]
    if name != "rmse":  # rmse runs the mse kernel from Python (it has no _id)
        assert loss._id == e["kernel_id"]


def test_rmse_runs_the_mse_kernel():
    assert CAT["rmse"]["kernel_id"] == CAT["mse"]["kernel_id"] == _regression._MSE


def test_every_loss_is_exported_statically():
    # fastloss/__init__.py and fastloss/reference/__init__.py write their
    # star imports out (so IDEs and type checkers see fl.huber) while the
    # registry derives the families from the C++ catalogue: a family whose
    # import line is missing fails here, not in a user's editor.
    import ast
    import pathlib

    import fastloss.reference as ref

    for mod, registry in ((fl, fl._REGISTRY), (ref, ref._REGISTRY)):
        tree = ast.parse(pathlib.Path(mod.__file__).read_text())
        starred = {
            n.module.rsplit(".", 1)[1]
            for n in tree.body
            if isinstance(n, ast.ImportFrom) and n.names[0].name == "*"
        }
        assert starred == {e["family"] for e in CAT.values()}, mod.__name__
        for name, loss in registry.items():
            assert name in mod.__all__ and getattr(mod, name) is loss, name


def test_every_kernel_id_of_every_family_is_used_once():
    # The family enums number their kernels 0..n-1: the ids the table uses
    # (each loss's kernel and the kernels of its gradients) must be exactly
    # that range, each id naming one loss (rmse shares mse's kernel).
    ids = defaultdict(list)
    for name, e in CAT.items():
        family = RUNS_ON.get(name, e["family"])
        if name != "rmse":
            ids[family].append(e["kernel_id"])
        for i in e["inputs"]:
            assert i["differentiable"] == (i["grad_kernel"] is not None)
            assert i["differentiable"] or not i["on_request"]
            if i["differentiable"] and i["grad_kernel"] != e["kernel_id"]:
                ids[family].append(i["grad_kernel"])
    # every family the table names is a module of the registry
    assert {e["family"] for e in CAT.values()} == {
        m.__name__.rsplit(".", 1)[1] for m in fl._FAMILIES
    }
    for family, used in ids.items():
        assert sorted(used) == list(range(len(used))), family
    # gaussian_nll's var gradient is the kernel regression.py dispatches it to
    assert _catalogue.grad_kernel("gaussian_nll", "var") == _regression._GAUSSIAN_NLL_VAR
    assert _regression._GAUSSIAN_NLL_VAR != _regression._GAUSSIAN_NLL


def test_every_parameter_of_the_table_is_a_parameter_of_its_loss():
    for name, e in CAT.items():
        declared = fl.get(name)._params
        for p in e["params"]:
            assert p["name"] in declared
            assert (declared[p["name"]].check is None) == (p["kind"] == "optional_array")


def _params():
    for name in NAMES:
        for p in CAT[name]["params"]:
            yield pytest.param(name, p, id=f"{name}.{p['name']}")


@pytest.mark.parametrize("name, spec", list(_params()))
def test_generated_checks_follow_the_table(name, spec):
    loss, k = fl.get(name), spec["name"]

    def refused(v, exc=ValueError):
        with pytest.raises(exc, match=k):
            loss.resolve_params({k: v})

    assert loss.resolve_params({k: spec["default"]})[k] == spec["default"]
    kind = spec["kind"]
    if kind == "real":
        refused(math.nan)
        refused("1.0", TypeError)
        for end, side, op in ((spec["lo"], -1, ">"), (spec["hi"], 1, "<")):
            if end is None:
                continue
            value, is_open = end
            if math.isinf(value):  # an infinite end closed there admits it (triplet's p)
                assert not is_open
                assert loss.resolve_params({k: value})[k] == value
                refused(-value)
                continue
            outside = value + side * 0.25
            with pytest.raises(ValueError, match=f"{k} must be {op}{'' if is_open else '='} "):
                loss.resolve_params({k: outside})
            if is_open:
                refused(value)
            else:
                assert loss.resolve_params({k: value})[k] == value
        if spec["excluded"] is not None:
            a, b, why = spec["excluded"]
            with pytest.raises(ValueError, match=re.escape(f"({why})")):
                loss.resolve_params({k: (a + b) / 2})
            for v in (a, b):
                assert loss.resolve_params({k: v})[k] == v
    elif kind == "choice":
        assert spec["default"] == spec["choices"][0]
        for c in spec["choices"]:
            assert loss.resolve_params({k: c})[k] == c
        refused("no such choice")
    elif kind == "bool":
        assert loss.resolve_params({k: True})[k] is True
        refused(1, TypeError)
    elif kind == "int":
        assert loss.resolve_params({k: 7})[k] == 7
        refused(1.5, TypeError)
    elif kind == "real_or_array":
        lo = spec["lo"][0]
        np.testing.assert_array_equal(loss.resolve_params({k: [lo, lo + 1]})[k], [lo, lo + 1])
        refused(lo - 1)
        with pytest.raises(ValueError, match="at index 1"):
            loss.resolve_params({k: np.array([lo, lo - 1])})
    elif kind == "axes":
        assert loss.resolve_params({k: [1, 2]})[k] == (1, 2)
        refused(1.5, TypeError)
    elif kind == "reals":
        n = len(spec["default"])
        assert loss.resolve_params({k: [2.0] * n})[k] == (2.0,) * n
        refused([1.0] * (n + 1))
        refused("1" * n, TypeError)
        if spec["lo"] is not None:
            with pytest.raises(ValueError, match=re.escape(f"{k}[0]")):
                loss.resolve_params({k: [spec["lo"][0] - 1] + [2.0] * (n - 1)})
    else:
        assert kind == "optional_array" and spec["default"] is None


def _kernel_domains():
    for name in NAMES:
        for d in CAT[name]["domains"]:
            if d["checked_by_kernel"] and d["kind"] != "rule":
                yield pytest.param(name, d, id=f"{name}.{d['input']}")


def _admitted(name, input_name):
    """A value every simple domain of ``input_name`` admits."""
    doms = [d for d in CAT[name]["domains"] if d["input"] == input_name and d["kind"] != "rule"]
    for v in (0.0, 0.5, 1.0, -1.0):
        if all(_catalogue.admits(d, v) for d in doms):
            return v
    raise AssertionError(f"{name}.{input_name}: no simple value is admitted")


@pytest.mark.parametrize("name, d", list(_kernel_domains()))
def test_a_value_outside_a_domain_gets_the_generated_message(name, d):
    loss = fl.get(name)
    if d["kind"] == "values":
        bad = 0.5
    elif d["lo"] is not None:
        bad = d["lo"][0] - (0.0 if d["lo"][1] else 1.0)
    else:
        bad = d["hi"][0] + (0.0 if d["hi"][1] else 1.0)
    assert not _catalogue.admits(d, bad) and _catalogue.admits(d, math.nan)
    n = 5
    args = []
    for i in loss.inputs:
        x = np.full(n, _admitted(name, i))
        if i == d["input"]:
            x[3] = bad
        args.append(x)
    expected = _catalogue.domain_message(name, d, 3, bad)
    with pytest.raises(ValueError) as info:
        loss(*args)
    assert str(info.value) == expected
    # and NaN passes the check: it propagates
    args[loss.inputs.index(d["input"])][3] = math.nan
    assert math.isnan(loss(*args))


def test_the_domain_wording():
    msle = {d["input"]: d for d in CAT["msle"]["domains"]}["pred"]
    assert _catalogue.domain_message("msle", msle, 2, -3.0) == (
        "msle: every value of pred must be > -1 (log1p of a value <= -1 is undefined), "
        "got -3.0 at index 2"
    )
    (hinge,) = CAT["hinge"]["domains"]
    assert _catalogue.domain_message("hinge", hinge, (0, 1), 2.0) == (
        "target: hinge labels must be -1, 0 or 1 (0 is read as -1), got 2.0 at index (0, 1)"
    )


def test_unknown_names_are_refused():
    with pytest.raises(KeyError, match="not in the C\\+\\+ catalogue"):
        _catalogue.entry("no_such_loss")
    with pytest.raises(KeyError, match="not a differentiable input"):
        _catalogue.grad_kernel("mape", "target")


def test_the_stubs_declare_every_name_of_core():
    import ast
    from pathlib import Path

    stub = Path(_core.__file__).with_name("_core.pyi")
    if not stub.exists():  # an installed copy without the source tree's stubs
        stub = Path(fl.__file__).with_name("_core.pyi")
    assert stub.exists() and stub.with_name("py.typed").exists()
    declared = set()
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            declared.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
    public = {n for n in dir(_core) if not n.startswith("__")} | {"__version__"}
    assert public <= declared, sorted(public - declared)
    # every function the stubs declare exists (the helper aliases and
    # TypedDicts are typing-only)
    for n in declared - public:
        assert n.startswith("_") or n.startswith("Catalogue"), n
