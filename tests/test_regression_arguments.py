"""The regression losses' public signatures: keyword-only parameters and
their defaults, Hessians, and the errors for mismatched shapes and unknown
keywords."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl


@pytest.mark.parametrize(
    "name,params",
    [
        ("log_cosh", {}),
        ("quantile", {"quantile": 0.3}),
        ("mape", {}),
        ("msle", {}),
        ("rmse", {}),
        ("poisson_nll", {}),
        ("gaussian_nll", {"var": 1.0}),
        ("tweedie", {"power": 0}),
    ],
)
def test_mismatched_shapes_and_unknown_keywords(name, params):
    loss = fl.get(name)
    with pytest.raises(ValueError, match="same shape"):
        loss([1.0, 2.0], [1.0], **params)
    with pytest.raises(TypeError, match="unexpected keyword"):
        loss([1.0], [1.0], bogus=1, **params)


def test_signatures_are_the_public_api():
    import inspect

    def kw(loss):
        return {
            k: v.default
            for k, v in inspect.signature(loss).parameters.items()
            if v.kind is inspect.Parameter.KEYWORD_ONLY
        }

    assert kw(fl.quantile)["quantile"] == 0.5
    assert kw(fl.poisson_nll) == {
        "reduction": "mean",
        "sample_weight": None,
        "log_input": True,
        "full": False,
        "eps": 1e-8,
    }
    assert kw(fl.gaussian_nll) == {
        "reduction": "mean",
        "sample_weight": None,
        "full": False,
        "eps": 1e-6,
    }
    assert fl.gaussian_nll.inputs == ("pred", "target", "var")
    assert fl.gaussian_nll.wrt == ("pred", "var")
    assert kw(fl.tweedie) == {
        "reduction": "mean",
        "sample_weight": None,
        "power": 1.5,
        "link": "identity",
    }
    for n in ("log_cosh", "mape", "msle", "rmse"):
        assert kw(fl.get(n)) == {"reduction": "mean", "sample_weight": None}
    assert [
        n for n in ("log_cosh", "quantile", "poisson_nll", "tweedie") if not fl.get(n).has_hess
    ] == []


def test_real_parameters_beyond_float64_are_a_value_error():
    # float(10**400) raises OverflowError: the check names the parameter
    p, y = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match="delta must be finite, got an int of 1329 bits"):
        fl.huber(p, y, delta=10**400)
    with pytest.raises(ValueError, match="quantile must be finite"):
        fl.quantile(p, y, quantile=-(10**400))
    with pytest.raises(ValueError, match="label_smoothing must be finite"):
        fl.cross_entropy(np.zeros((3, 2)), [0, 1, 1], label_smoothing=10**400)
    with pytest.raises(ValueError, match=r"weights\[0\] must be finite"):
        fl.pinn(p, weights=(10**400, 1.0, 1.0))
