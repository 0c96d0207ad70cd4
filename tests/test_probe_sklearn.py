"""fastloss.sklearn scorers against scikit-learn's metrics on cases
tests/test_sklearn.py does not cover: several outputs, string labels,
weights, margin losses, model selection (probes of issue 20)."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.metrics import get_scorer, hinge_loss  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402

import fastloss.sklearn as fls  # noqa: E402


@pytest.fixture(scope="module")
def two_outputs():
    X, y = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    Y = np.c_[y, 0.5 * y + 30.0 * rng.normal(size=len(y))]
    return Ridge().fit(X, Y), X, Y, rng.uniform(0.1, 3.0, len(y))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "name,builtin",
    [
        ("rmse", "neg_root_mean_squared_error"),  # the mean of the outputs' RMSEs
        ("mse", "neg_mean_squared_error"),
        ("mae", "neg_mean_absolute_error"),
        ("mape", "neg_mean_absolute_percentage_error"),
    ],
)
def test_several_outputs(two_outputs, name, builtin, weighted):
    model, X, Y, w = two_outputs
    w = w if weighted else None
    got = fls.scorer(name)(model, X, Y, sample_weight=w)
    assert got == pytest.approx(get_scorer(builtin)(model, X, Y, sample_weight=w), rel=1e-12)


@pytest.fixture(scope="module")
def iris_strings():
    X, y = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[y]
    w = np.random.default_rng(1).uniform(0.1, 3.0, len(y))
    return LogisticRegression(max_iter=2000).fit(X, y), X, y, w


@pytest.mark.parametrize("weighted", [False, True])
def test_string_labels(iris_strings, weighted):
    model, X, y, w = iris_strings
    w = w if weighted else None
    for name, builtin in [("cross_entropy", "neg_log_loss"), ("brier", "neg_brier_score")]:
        got = fls.scorer(name)(model, X, y, sample_weight=w)
        assert got == pytest.approx(get_scorer(builtin)(model, X, y, sample_weight=w), rel=1e-10)
    # Crammer-Singer, as sklearn's hinge_loss on decision_function
    ref = -hinge_loss(y, model.decision_function(X), labels=model.classes_, sample_weight=w)
    got = fls.scorer("multiclass_hinge")(model, X, y, sample_weight=w)
    assert got == pytest.approx(ref, rel=1e-10)


def test_grid_search_ranks_as_the_builtin(two_outputs):
    _, X, Y, _ = two_outputs
    cv = KFold(4, shuffle=True, random_state=0)
    grid = {"alpha": [0.01, 1.0, 100.0]}
    a = GridSearchCV(Ridge(), grid, scoring=fls.scorer("rmse"), cv=cv).fit(X, Y)
    b = GridSearchCV(Ridge(), grid, scoring="neg_root_mean_squared_error", cv=cv).fit(X, Y)
    np.testing.assert_allclose(
        a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"], rtol=1e-12
    )
    assert a.best_params_ == b.best_params_
