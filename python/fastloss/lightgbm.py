"""fastloss losses as LightGBM custom objectives and metrics (LightGBM >= 4).

``objective(name, **params)`` returns a callable for
``lgb.train(params={"objective": obj})`` and for the scikit-learn wrappers
(``LGBMRegressor(objective=obj)``); ``metric(name, **params)`` an ``feval``
(``lgb.train``) or ``eval_metric`` (wrappers). Every number comes from the
loss's own ``grad_hess`` / ``grad`` / value with ``reduction="none"`` and the
Dataset's weights: this module holds no formula.

Conventions, where LightGBM's built-ins differ from fastloss's:

* **Squared error** is ½ r² in LightGBM (``regression``: grad r, hess 1),
  r² in fastloss: ``objective("mse")`` passes ½ of ``fl.mse.grad_hess``
  (``msle`` ½ too, as XGBoost's ``reg:squaredlogerror``; LightGBM has no
  built-in for it).
* **Piecewise-linear losses** (mae, quantile, hinge, multiclass_hinge,
  categorical_hinge, hinge_embedding, multilabel_margin; and nll and kl_div,
  linear in their log-probabilities) have Hessian 0; the objective passes the constant 1.0
  (times the weight) instead, as LightGBM's ``l1`` and ``quantile`` do;
  those built-ins also refit leaves to residual quantiles, which a custom
  objective cannot.
* **Linear pieces** (huber beyond ``delta``, smooth_l1 beyond ``beta``,
  mape everywhere): the exact Hessian is 0 there while the gradient is not;
  the objective passes the constant 1.0 (times the weight) on those rows,
  as the built-in ``huber`` does (its Hessian is 1 everywhere), which
  ``objective("huber", delta=a)`` then reproduces exactly (LightGBM's
  ``alpha=a``). With the exact 0, a leaf of such rows took a step
  ``-G / ~0``: margins 63 away from the built-in's after 3 rounds on
  diabetes.
* **Softmax** (``cross_entropy`` on ``(n, K)`` margins, LightGBM 4 passes
  them as an ``(n, K)`` array): fastloss passes the exact p(1-p);
  ``multiclass`` passes K/(K-1)·p(1-p). ``objective("cross_entropy",
  hessian_scale=K / (K - 1))`` grows the built-in's trees exactly (measured
  on digits: raw scores equal after 20 rounds); with the exact Hessian and
  ``learning_rate`` times (K-1)/K the leaf values are the same but ties
  between equal-gain splits break differently (digits' many pure splits), and
  the test log-loss measured 3.8% above the built-in's after 20 rounds.
* **Poisson** (``poisson_nll``): LightGBM's ``poisson`` multiplies its
  Hessian by exp(``poisson_max_delta_step``) (0.7); fastloss passes
  exp(margin). **Tweedie**: ``tweedie`` with ``link="log"`` matches
  LightGBM's ``tweedie``, which differentiates half the deviance: the
  objective passes ½ of fastloss's ``grad_hess``, as for squared error.
* **Starting margin**: a custom objective starts from 0 (no
  ``boost_from_average``); pass ``init_score`` to the Dataset to start
  elsewhere (e.g. the label mean for squared error). To compare with a
  built-in, give it ``boost_from_average=False`` (``multiclass`` too:
  it starts from the classes' log frequencies otherwise).
* **Predictions and built-in metrics** with a custom objective are raw
  scores, by LightGBM's rule for a callable objective: ``LGBMClassifier(
  objective=fll.objective(...)).predict_proba`` returns the margins
  (``(n,)`` for two classes, ``(n, K)`` for several; LightGBM warns), so
  apply the sigmoid or softmax yourself; and a built-in metric
  (``binary_logloss``, ``multi_logloss``) is computed on those raw scores
  as if they were probabilities: evaluate with ``metric(name)`` on the
  margins instead (``metric("cross_entropy")`` gave 0.84 after one round
  on iris where ``multi_logloss`` reported 1.93 for the same model).

Threads: as in :mod:`fastloss.xgboost`, the objective and metric run
fastloss single-threaded by default while LightGBM calls them (``threads=1``;
``None`` leaves ``fastloss.set_num_threads``'s setting).

Examples
--------
>>> import numpy as np, lightgbm as lgb
>>> import fastloss.lightgbm as fll
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(float)
>>> d = lgb.Dataset(X, label=y)
>>> params = {"objective": fll.objective("binary_cross_entropy_with_logits"),
...           "metric": "None", "verbose": -1}
>>> bst = lgb.train(params, d, num_boost_round=5,
...                 feval=fll.metric("binary_cross_entropy_with_logits"))
>>> float(np.mean((bst.predict(X, raw_score=True) > 0) == (y > 0)))
1.0
"""

from __future__ import annotations

from fastloss._boosting import INSIDE_THREADS, Metric, Objective

__all__ = ["objective", "metric"]


def _require():
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        raise ImportError(
            "fastloss.lightgbm needs lightgbm: pip install fastloss[lightgbm]"
        ) from None


class LGBObjective(Objective):
    """Callable both ways: ``(preds, train_data)`` for ``lgb.train`` and
    ``(y_true, y_pred, weight)`` for the scikit-learn wrappers."""

    def __call__(self, a, b, weight=None):
        if hasattr(b, "get_label"):  # lgb.train: (preds, Dataset)
            return self.grad_hess(a, b.get_label(), b.get_weight())
        return self.grad_hess(b, a, weight)


class LGBMetric(Metric):
    """Callable both ways: ``(preds, eval_data)`` for ``lgb.train(feval=...)``
    and ``(y_true, y_pred, weight)`` for the wrappers' ``eval_metric``; both
    give ``(name, value, is_higher_better=False)``."""

    def __call__(self, a, b, weight=None):
        if hasattr(b, "get_label"):
            return self.name, self.value(a, b.get_label(), b.get_weight()), False
        return self.name, self.value(b, a, weight), False


def objective(name, *, threads=INSIDE_THREADS, hessian_scale=1.0, **params):
    """The loss ``name`` as a LightGBM custom objective.

    Parameters
    ----------
    name : str
        A loss of ``fastloss.available()`` taking ``(prediction, label)``
        with a Hessian (``has_hess``) or piecewise linear.
    threads : int or None, keyword-only
        fastloss's thread count while LightGBM calls the objective (default
        1); ``None`` leaves ``fastloss.set_num_threads``'s setting.
    hessian_scale : float > 0, keyword-only, default 1.0
        Multiplies the Hessian passed to LightGBM (the exact one by
        default): ``hessian_scale=K / (K - 1)`` on ``cross_entropy``
        reproduces ``multiclass``'s K/(K-1)·p(1-p) exactly (the same trees).
    **params
        The loss's parameters.

    Returns
    -------
    callable
        ``obj(preds, train_data) -> (grad, hess)``, also
        ``obj(y_true, y_pred, weight)``; ``(n, K)`` margins give ``(n, K)``
        gradients. The Dataset's weights multiply grad and hess.

    Examples
    --------
    >>> import numpy as np, fastloss.lightgbm as fll
    >>> fll.objective("mse")(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    (array([0.5, 0. ]), array([1., 1.]))
    """
    _require()
    return LGBObjective(name, params, threads, hessian_scale)


def metric(name, *, threads=INSIDE_THREADS, **params):
    """The loss ``name`` as a LightGBM ``feval``: ``(name, mean loss, False)``.

    The mean is weighted (``sum(w l) / sum(w)``) where the Dataset carries
    weights; with a custom objective LightGBM passes raw margins.

    Examples
    --------
    >>> import numpy as np, fastloss.lightgbm as fll
    >>> fll.metric("mae")(np.array([1.0, 2.0]), np.array([1.5, 2.0]), None)
    ('mae', 0.25, False)
    """
    _require()
    return LGBMetric(name, params, threads)
