"""fastloss.xgboost / fastloss.lightgbm against the libraries' built-in
objectives with the same meaning: a few rounds on the same data, with and
without sample weights and a starting margin, give the same margins.

Probes of issue 20 on cases tests/test_boosting.py does not cover (the
built-ins' own gradients: pseudo-Huber, Tweedie, Poisson, gamma, LightGBM's
huber, the scikit-learn wrappers' base_score convention)."""

import numpy as np
import pytest

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
datasets = pytest.importorskip("sklearn.datasets")

import fastloss.lightgbm as fll  # noqa: E402
import fastloss.xgboost as flx  # noqa: E402

ROUNDS = 3


@pytest.fixture(scope="module")
def diabetes():
    X, y = datasets.load_diabetes(return_X_y=True)
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    return X, y / 100.0, w  # targets 0.25-3.5: some residuals beyond delta, some within


@pytest.fixture(scope="module")
def cancer():
    X, y = datasets.load_breast_cancer(return_X_y=True)
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    return X, y.astype(float), w


def _xgb_margins(X, y, w, params, obj=None):
    d = xgb.DMatrix(X, label=y, weight=w)
    p = {"tree_method": "hist", "max_depth": 3, "eta": 0.3, "nthread": 1, **params}
    return xgb.train(p, d, ROUNDS, obj=obj).predict(d, output_margin=True)


# (built-in, its parameters, fastloss loss, its parameters, link): the
# built-in's base_score is the label mean (a probability for logistic), the
# custom objective's the same start as a raw margin
XGB = [
    ("reg:pseudohubererror", {"huber_slope": 0.8}, "pseudo_huber", {"delta": 0.8}, "identity"),
    (
        "reg:tweedie",
        {"tweedie_variance_power": 1.4},
        "tweedie",
        {"power": 1.4, "link": "log"},
        "log",
    ),
    ("count:poisson", {"max_delta_step": 0.0}, "poisson_nll", {}, "log"),
    ("reg:gamma", {}, "tweedie", {"power": 2.0, "link": "log"}, "log"),
    # ½ of fastloss's msle (its Hessian positive on these margins: no clamp)
    ("reg:squaredlogerror", {}, "msle", {}, "identity"),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", XGB, ids=[c[0] for c in XGB])
def test_xgboost_objective_equals_the_builtin(diabetes, case, weighted):
    builtin, bp, name, kw, link = case
    X, y, w = diabetes
    if builtin == "count:poisson":
        y = np.round(y)
    w = w if weighted else None
    base = float(np.mean(y))
    margin0 = np.log(base) if link == "log" else base
    ref = _xgb_margins(X, y, w, {"objective": builtin, "base_score": base, **bp})
    got = _xgb_margins(X, y, w, {"base_score": margin0}, obj=flx.objective(name, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_xgbclassifier_binary_base_score_is_a_probability(cancer):
    # XGBClassifier runs a custom binary objective under binary:logistic,
    # whose base_score is a probability: the default (0.5) is margin 0, and
    # base_score=0 would start every row at margin -13.8 (the docstring says
    # so). With the default, the built-in's probabilities to float32 rounding.
    X, y, w = cancer
    kw = {"n_estimators": ROUNDS, "max_depth": 3, "n_jobs": 1}
    ref = xgb.XGBClassifier(base_score=0.5, **kw).fit(X, y, sample_weight=w)
    obj = flx.objective("binary_cross_entropy_with_logits")
    got = xgb.XGBClassifier(objective=obj, **kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(got.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def _lgb_margins(X, y, w, params, init=None):
    d = lgb.Dataset(X, label=y, weight=w, init_score=init, params={"verbose": -1})
    p = {
        "max_depth": 3,
        "num_leaves": 8,
        "learning_rate": 0.3,
        "num_threads": 1,
        "verbose": -1,
        "min_data_in_leaf": 5,
        "deterministic": True,
        "force_col_wise": True,
        **params,
    }
    raw = lgb.train(p, d, ROUNDS).predict(X, raw_score=True)
    return raw if init is None else raw + init


LGB = [
    ("huber", {"alpha": 0.5}, "huber", {"delta": 0.5}, "identity"),
    ("tweedie", {"tweedie_variance_power": 1.4}, "tweedie", {"power": 1.4, "link": "log"}, "log"),
    ("gamma", {}, "tweedie", {"power": 2.0, "link": "log"}, "log"),
]


@pytest.mark.parametrize("start", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", LGB, ids=[c[0] for c in LGB])
def test_lightgbm_objective_equals_the_builtin(diabetes, case, weighted, start):
    builtin, bp, name, kw, link = case
    X, y, w = diabetes
    w = w if weighted else None
    init = None
    if start:
        init = np.full(len(y), np.log(y.mean()) if link == "log" else y.mean())
    ref = _lgb_margins(X, y, w, {"objective": builtin, "boost_from_average": False, **bp}, init)
    got = _lgb_margins(X, y, w, {"objective": fll.objective(name, **kw)}, init)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize(
    "name,kw", [("huber", {"delta": 0.5}), ("smooth_l1", {"beta": 0.5}), ("mape", {})]
)
def test_linear_pieces_get_the_constant_hessian(name, kw):
    # the exact Hessian is 0 where these losses are linear in the prediction
    # while the gradient is not: a leaf of such rows made a Newton step of
    # -G / ~0 (LightGBM's huber above blew up to margins 63 away before)
    rng = np.random.default_rng(2)
    margin, label = rng.normal(size=200) * 3, rng.uniform(0.5, 2.0, 200)
    w = rng.uniform(0.0, 2.0, 200)
    w[:10] = 0.0
    g, h = flx.objective(name, **kw)(label, margin, sample_weight=w)
    assert (h[g != 0] > 0).all()
    linear = (np.abs(margin - label) > kw.get("delta", kw.get("beta", 0.0))) & (w > 0)
    assert linear.sum() > 50
    np.testing.assert_array_equal(h[linear], w[linear])  # the constant 1.0 times the weight
    np.testing.assert_array_equal(h[w == 0], 0.0)


def test_xgbregressor_eval_metric(diabetes):
    # the wrappers name a callable eval_metric's results by its __name__
    # (AttributeError before); weighted evaluation sets as the built-in
    X, y, w = diabetes
    kw = {"n_estimators": ROUNDS, "max_depth": 2, "n_jobs": 1}
    fit = {"eval_set": [(X, y)], "sample_weight_eval_set": [w], "verbose": False}
    got = xgb.XGBRegressor(eval_metric=flx.metric("mae"), **kw).fit(X, y, sample_weight=w, **fit)
    ref = xgb.XGBRegressor(eval_metric="mae", **kw).fit(X, y, sample_weight=w, **fit)
    np.testing.assert_allclose(
        got.evals_result()["validation_0"]["mae"],
        ref.evals_result()["validation_0"]["mae"],
        rtol=1e-5,  # XGBoost rounds a custom metric's value to 6 digits
    )
