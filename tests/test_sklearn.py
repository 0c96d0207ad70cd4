"""fastloss.sklearn.scorer against scikit-learn's own scorers."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.metrics import get_scorer  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastloss.sklearn as fls  # noqa: E402


def _fit(kind):
    if kind == "reg":
        X, y = load_diabetes(return_X_y=True)
        return LinearRegression().fit(X, y), X, y
    X, y = (load_breast_cancer if kind == "bin" else load_digits)(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return LogisticRegression(max_iter=2000).fit(X, y), X, y


@pytest.mark.parametrize(
    "name, builtin, kind",
    [
        ("mse", "neg_mean_squared_error", "reg"),
        ("mae", "neg_mean_absolute_error", "reg"),
        ("rmse", "neg_root_mean_squared_error", "reg"),
        ("binary_cross_entropy", "neg_log_loss", "bin"),
        ("cross_entropy", "neg_log_loss", "bin"),
        ("cross_entropy", "neg_log_loss", "multi"),
        ("brier", "neg_brier_score", "bin"),
        ("brier", "neg_brier_score", "multi"),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_builtin(name, builtin, kind, weighted):
    est, X, y = _fit(kind)
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(y)) if weighted else None
    ours = fls.scorer(name)(est, X, y, sample_weight=w)
    theirs = get_scorer(builtin)(est, X, y, sample_weight=w)
    assert ours == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize(
    "name, kind",
    [("binary_cross_entropy", "bin"), ("cross_entropy", "bin"), ("cross_entropy", "multi")],
)
def test_log_loss_of_probabilities_zero_and_one(name, kind):
    # A decision tree predicts probabilities of exactly 0 and 1; log_loss
    # clips them to [eps, 1 - eps] and so does the scorer (it scored -inf
    # for cross_entropy, or the -100 log clamp for bce; found by the probe)
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    X, y = (load_breast_cancer if kind == "bin" else load_digits)(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    tree = DecisionTreeClassifier(random_state=0).fit(Xtr, ytr)
    p = tree.predict_proba(Xte)
    assert ((p == 0) | (p == 1)).all() and (tree.predict(Xte) != yte).any()
    w = np.random.default_rng(0).uniform(0.1, 2, len(yte))
    for sw in (None, w):
        ours = fls.scorer(name)(tree, Xte, yte, sample_weight=sw)
        theirs = get_scorer("neg_log_loss")(tree, Xte, yte, sample_weight=sw)
        assert np.isfinite(ours)
        assert ours == pytest.approx(theirs, rel=1e-12)


def test_string_labels_and_decision_function():
    est, X, y = _fit("bin")
    ys = np.where(y == 1, "pos", "neg")
    est2 = LogisticRegression(max_iter=2000).fit(X, ys)
    assert fls.scorer("hinge")(est2, X, ys) == pytest.approx(fls.scorer("hinge")(est, X, y))
    d = est.decision_function(X)
    want = -np.mean(np.logaddexp(0, -np.where(y == 1, d, -d)))
    assert fls.scorer("binary_cross_entropy_with_logits")(est, X, y) == pytest.approx(want)


def test_cross_val_and_grid_search():
    X, y = load_diabetes(return_X_y=True)
    a = cross_val_score(LinearRegression(), X, y, cv=3, scoring=fls.scorer("mse"))
    b = cross_val_score(LinearRegression(), X, y, cv=3, scoring="neg_mean_squared_error")
    np.testing.assert_allclose(a, b, rtol=1e-9)
    _, Xc, yc = _fit("bin")
    gs = GridSearchCV(
        LogisticRegression(max_iter=2000),
        {"C": [0.01, 1.0]},
        cv=3,
        scoring=fls.scorer("cross_entropy"),
    ).fit(Xc, yc)
    ref = GridSearchCV(
        LogisticRegression(max_iter=2000), {"C": [0.01, 1.0]}, cv=3, scoring="neg_log_loss"
    ).fit(Xc, yc)
    assert gs.best_params_ == ref.best_params_
    np.testing.assert_allclose(
        gs.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], rtol=1e-9
    )


def test_errors():
    with pytest.raises(ValueError, match="unknown loss"):
        fls.scorer("nope")
    with pytest.raises(ValueError, match="iou"):
        fls.scorer("iou")
    with pytest.raises(ValueError, match="gaussian_nll"):
        fls.scorer("gaussian_nll")
    est, X, y = _fit("bin")
    with pytest.raises(ValueError, match="y: labels"):
        fls.scorer("binary_cross_entropy")(est, X, y + 5)


def test_doctests():
    m = importlib.import_module("fastloss.sklearn")
    res = doctest.testmod(m, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0


def test_metadata_routing_as_the_builtin_scorers():
    import sklearn
    from sklearn.linear_model import Ridge
    from sklearn.utils.metadata_routing import get_routing_for_object

    X, y = load_diabetes(return_X_y=True)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    with pytest.raises(RuntimeError, match="metadata routing is enabled"):
        fls.scorer("mse").set_score_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        est = Ridge().set_fit_request(sample_weight=False)
        builtin = get_scorer("neg_mean_squared_error").set_score_request(sample_weight=True)
        ours = fls.scorer("mse").set_score_request(sample_weight=True)
        b = cross_val_score(est, X, y, cv=3, scoring=builtin, params={"sample_weight": w})
        a = cross_val_score(est, X, y, cv=3, scoring=ours, params={"sample_weight": w})
        np.testing.assert_allclose(a, b, rtol=1e-12)
        unweighted = cross_val_score(est, X, y, cv=3, scoring="neg_mean_squared_error")
        assert np.abs(a - unweighted).max() > 1.0  # the weights were used
        # not requested: the scorer gets no weights (here routed to fit
        # alone, as for the built-in scorer)
        fitted = Ridge().set_fit_request(sample_weight=True)
        ours = fls.scorer("mse").set_score_request(sample_weight=False)
        builtin_off = get_scorer("neg_mean_squared_error").set_score_request(sample_weight=False)
        a = cross_val_score(fitted, X, y, cv=3, scoring=ours, params={"sample_weight": w})
        b = cross_val_score(fitted, X, y, cv=3, scoring=builtin_off, params={"sample_weight": w})
        np.testing.assert_allclose(a, b, rtol=1e-12)
        # unset: refused, as the built-in scorer refuses it
        errors = []
        for scoring in (get_scorer("neg_mean_squared_error"), fls.scorer("mse")):
            with pytest.raises(Exception) as info:
                cross_val_score(est, X, y, cv=3, scoring=scoring, params={"sample_weight": w})
            errors.append(type(info.value))
        assert errors[0] is errors[1] and errors[0].__name__ == "UnsetMetadataPassedError"
        assert get_routing_for_object(ours).score.requests == {"sample_weight": False}
        # GridSearchCV routes the same way
        ours = fls.scorer("mse").set_score_request(sample_weight=True)
        gs = GridSearchCV(est, {"alpha": [0.1, 1.0]}, cv=3, scoring=ours)
        gs.fit(X, y, sample_weight=w)
        gb = GridSearchCV(est, {"alpha": [0.1, 1.0]}, cv=3, scoring=builtin)
        gb.fit(X, y, sample_weight=w)
        np.testing.assert_allclose(
            gs.cv_results_["mean_test_score"], gb.cv_results_["mean_test_score"], rtol=1e-12
        )


def test_poisson_scorers_and_greater_is_better():
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import PoissonRegressor

    torch = pytest.importorskip("torch")
    X, y = load_diabetes(return_X_y=True)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    m = PoissonRegressor(max_iter=1000).fit(X, y)
    # the deviance scorers are tweedie's powers 1 and 2
    for power, builtin in ((1.0, "neg_mean_poisson_deviance"), (2.0, "neg_mean_gamma_deviance")):
        for sw in (None, w):
            a = fls.scorer("tweedie", power=power)(m, X, y, sample_weight=sw)
            b = get_scorer(builtin)(m, X, y, sample_weight=sw)
            assert a == pytest.approx(b, rel=1e-12)
    # poisson_nll is PyTorch's NLL (log_input=False: predict gives the mean),
    # not the deviance: positive here, as -mean(mu - y log mu) is
    mu = m.predict(X)
    nll = torch.nn.functional.poisson_nll_loss(
        torch.tensor(mu), torch.tensor(y), log_input=False, reduction="mean"
    )
    s = fls.scorer("poisson_nll")(m, X, y)
    assert s == pytest.approx(-nll.item(), rel=1e-12) and s > 600
    # greater is better for both: the fitted model beats the mean
    dummy = DummyRegressor().fit(X, y)
    for name, kw in (("poisson_nll", {}), ("tweedie", {"power": 1.0})):
        sc = fls.scorer(name, **kw)
        assert sc(m, X, y) > sc(dummy, X, y)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_log_loss_reads_the_positive_column(weighted):
    # GaussianNB's predict_proba rows miss 1 by rounding: neg_log_loss scores
    # [1 - p, p] of the positive column, and so does cross_entropy's scorer
    # (the two columns gave -0.5370465705 against -0.5370488953)
    from sklearn.naive_bayes import GaussianNB

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for labels in (y, np.where(y == 1, "benign", "malignant")):
        est = GaussianNB().fit(X, labels)
        w = np.random.default_rng(0).uniform(0.1, 3, len(y)) if weighted else None
        theirs = get_scorer("neg_log_loss")(est, X, labels, sample_weight=w)
        for name in ("cross_entropy", "binary_cross_entropy"):
            assert fls.scorer(name)(est, X, labels, sample_weight=w) == pytest.approx(
                theirs, rel=1e-13
            )


@pytest.mark.parametrize(
    "name, builtin",
    [
        ("mse", "neg_mean_squared_error"),
        ("mae", "neg_mean_absolute_error"),
        ("rmse", "neg_root_mean_squared_error"),
    ],
)
def test_regression_column_y_is_one_output(name, builtin):
    # a regressor fitted on y of shape (n, 1), or scored against it: one
    # output, as scikit-learn's metrics read it (was a shape error)
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    for est in (
        Ridge().fit(X, y),
        Ridge().fit(X, y[:, None]),
        LinearRegression().fit(X, y[:, None]),
    ):
        for yy in (y, y[:, None]):
            assert fls.scorer(name)(est, X, yy) == pytest.approx(
                get_scorer(builtin)(est, X, yy), rel=1e-12
            )


def test_classifier_column_labels_and_classes_not_in_y():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    labels = np.array([3, 7, 11])[y]
    est = LogisticRegression(max_iter=3000).fit(X, labels)
    # a column of labels: raveled, as scikit-learn's metrics ravel it
    assert fls.scorer("cross_entropy")(est, X, labels[:, None]) == pytest.approx(
        get_scorer("neg_log_loss")(est, X, labels), rel=1e-13
    )
    # a fold without class 3: scored over the estimator's classes_ (neg_log_loss
    # raises, taking the classes from y); equal to log_loss given labels=
    from sklearn.metrics import log_loss

    sel = labels != 3
    ours = fls.scorer("cross_entropy")(est, X[sel], labels[sel])
    theirs = -log_loss(labels[sel], est.predict_proba(X[sel]), labels=est.classes_)
    assert ours == pytest.approx(theirs, rel=1e-13)
