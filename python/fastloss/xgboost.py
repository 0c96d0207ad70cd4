"""fastloss losses as XGBoost custom objectives and metrics.

``objective(name, **params)`` returns a callable for ``xgb.train(obj=...)``
and for the scikit-learn wrappers (``XGBRegressor(objective=...)``);
``metric(name, **params)`` a ``custom_metric`` (``xgb.train``) or
``eval_metric`` (wrappers). Every number comes from the loss's own
``grad_hess`` / ``grad`` / value with ``reduction="none"`` and the booster's
sample weights: this module holds no formula.

Conventions, where XGBoost's built-ins differ from fastloss's:

* **Squared error** is ½ r² in XGBoost (``reg:squarederror``: grad r,
  hess 1) and r² in fastloss: ``objective("mse")`` passes ½ of
  ``fl.mse.grad_hess`` so that ``lambda``, ``gamma`` and
  ``min_child_weight`` mean what they mean for the built-in, which it then
  matches. ``metric("mse")`` reports fastloss's mse (mean r²).
* **Squared log error** is ½ (log1p(p) - log1p(y))² in XGBoost
  (``reg:squaredlogerror``), fastloss's ``msle`` the mean of the square:
  ``objective("msle")`` passes ½ of its ``grad_hess`` too, which then grows
  the built-in's trees. The built-in raises its Hessian to at least 1e-6;
  fastloss passes the exact one, negative where
  ``log1p(p) - log1p(y) > 1`` (the focal losses' can be negative too): keep
  predictions near the targets' scale (``base_score``).
* **Piecewise-linear losses** (mae, quantile, hinge, multiclass_hinge,
  categorical_hinge, hinge_embedding, multilabel_margin; and nll and kl_div,
  linear in their log-probabilities) have Hessian 0; the objective passes the constant
  1.0 (times the sample weight) instead, as ``reg:absoluteerror`` and
  ``reg:quantileerror`` do. Those built-ins also refit every leaf to a
  quantile of its residuals, which a custom objective cannot: each step is
  then at most ``eta * max(q, 1 - q)`` in the target's units, so scale the
  target and set ``lambda=0`` (measured on diabetes, standardized, q=0.8,
  30 rounds, eta 0.3: pinball 0.2314 against the built-in's 0.2305).
* **Linear pieces** (huber beyond ``delta``, smooth_l1 beyond ``beta``,
  mape everywhere): the exact Hessian is 0 there while the gradient is not;
  the objective passes the same constant 1.0 (times the weight) on those
  rows, since a leaf of them would otherwise take a Newton step
  ``-G / (0 + lambda)`` (huber then matches LightGBM's built-in ``huber``).
* **Softmax** (``cross_entropy`` on ``(n, K)`` margins): fastloss passes the
  exact diagonal Hessian p(1-p); ``multi:softprob`` passes 2p(1-p), i.e.
  steps half as long.
* **Poisson** (``poisson_nll``, log input): ``count:poisson`` multiplies its
  Hessian by exp(``max_delta_step``) (0.7 by default); the custom objective
  passes the exact exp(margin), so its steps are exp(0.7) ~ 2x as long;
  ``eta * exp(-max_delta_step)`` gives the built-in's steps (measured on
  diabetes, 30 rounds: deviance 22.83 against the built-in's 23.02, where
  the same eta gave 24.27).
* **Tweedie** (``tweedie`` with ``link="log"``) matches ``reg:tweedie``:
  that is half the deviance (grad ``mu**(2-p) - y mu**(1-p)``), fastloss's
  ``tweedie`` the deviance, so ``objective("tweedie")`` passes ½ of its
  ``grad_hess``, as for mse (unscaled, the trees would match only at
  ``lambda=0``). ``metric("tweedie")`` reports the mean deviance.
* **Starting margin**: a custom objective boosts from ``base_score`` taken
  as a raw margin, 0.5 unless set (XGBoost >= 2 estimates it, e.g. the
  label mean, only for built-in objectives). Pass ``base_score`` explicitly:
  0 for logistic and softmax margins, the label mean (or the log of it for
  a log link) for regression. ``XGBClassifier`` is the exception: it
  runs a custom objective under ``binary:logistic`` (``multi:softprob``
  for several classes), whose ``base_score`` is a probability for two
  classes: leave its default (0.5, margin 0); ``base_score=0`` there
  starts every row at margin -13.8 and the model barely moves (measured:
  accuracy 0.36 on breast_cancer after 3 rounds).
* Losses that have no Hessian and are not piecewise linear raise a
  ValueError naming the loss; a loss that gains one (``has_hess``) is taken
  up without change here.

Threads
-------
XGBoost's wheel carries its own OpenMP runtime. Its threads spin for a while
after each parallel region, and a fastloss parallel region started right
then competes with them for the cores: measured on a 2-core machine, the
objective's own call took many times as long inside ``xgb.train`` as
outside (``benchmarks/bench_boosting.py``). So by default the objective and
metric run fastloss single-threaded while XGBoost calls them (``threads=1``);
pass ``threads=n`` for another count or ``threads=None`` to leave fastloss's
setting (``fl.set_num_threads``) as it is.

The objective reads the DMatrix's labels and weights without copying them
(XGBoost's ``get_label()`` copies on every call). What remains between a
call inside ``xgb.train`` and the same call repeated outside is the CPU's
caches: inside, each call comes after a round of tree building, and
labels, margins and outputs are fetched from memory again. Measured on
2e5 rows (``benchmarks/bench_boosting.py``, 2 shared cores, load 8-10):
0.52 ms inside against 0.26 ms for back-to-back calls outside, 0.58 ms
outside after 64 MiB written between calls, and 0.72 ms outside with only
a pause between calls as long as the booster's (no booster at all); the
NumPy objective shows the same (0.92 inside, 0.64 back to back, 1.22
spaced).

Examples
--------
>>> import numpy as np, xgboost as xgb
>>> import fastloss.xgboost as flx
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(float)
>>> d = xgb.DMatrix(X, label=y)
>>> bst = xgb.train({"base_score": 0.0, "disable_default_eval_metric": True}, d,
...                 num_boost_round=5,
...                 obj=flx.objective("binary_cross_entropy_with_logits"),
...                 custom_metric=flx.metric("binary_cross_entropy_with_logits"),
...                 evals=[(d, "train")], verbose_eval=False)
>>> margin = bst.predict(d, output_margin=True)
>>> float(np.mean((margin > 0) == (y > 0)))
1.0
"""

from __future__ import annotations

import ctypes
import json

import numpy as np

from fastloss._boosting import INSIDE_THREADS, Metric, Objective

__all__ = ["objective", "metric"]


def _require():
    try:
        import xgboost  # noqa: F401
    except ImportError:
        raise ImportError("fastloss.xgboost needs xgboost: pip install fastloss[xgboost]") from None


class _View:
    """Holds an array interface (and the DMatrix it points into) for NumPy."""

    __slots__ = ("__array_interface__", "owner")


def _info_ref():
    """XGBoost's C entry point that describes a DMatrix field without a copy
    (XGBoost >= 3), or None."""
    try:
        from xgboost import core

        return core._LIB.XGDMatrixGetInfoRef
    except (ImportError, AttributeError):
        return None


def _info(dmatrix, field):
    """The DMatrix's ``field`` ("label" or "weight") as a read-only NumPy
    view of XGBoost's own storage, for the length of one call.

    ``DMatrix.get_label()`` copies the labels into a new array on every
    call, from memory the cache no longer holds by the time XGBoost calls
    the objective: on 2e5 rows reading without the copy took the call inside
    ``xgb.train`` from 0.75 to 0.52 ms (benchmarks/bench_boosting.py, rows
    "threads=1" and "get_label() copies", on a loaded 2-core machine). A
    view costs no copy. It is taken afresh on every call rather than cached: XGBoost keeps
    the same buffer when labels are replaced by ones of the same length
    (``set_label``), so no key would tell that the contents changed. The
    view never outlives the call (only the fresh gradients are returned).
    Where the C entry point is missing (older XGBoost) or the data are not
    in host memory, ``get_label()`` / ``get_weight()`` as before.
    """
    ref = _info_ref()
    handle = getattr(dmatrix, "handle", None)
    if ref is not None and handle is not None:
        s = ctypes.c_char_p()
        if ref(handle, field.encode(), ctypes.byref(s)) == 0 and s.value is not None:
            iface = json.loads(s.value)
            if "stream" not in iface:  # host memory (a CUDA interface has a stream)
                shape = tuple(iface["shape"])
                if not shape or 0 in shape:  # no weights: XGBoost says so with size 0
                    return np.empty(shape, np.dtype(iface["typestr"]))
                iface["shape"] = shape
                iface["data"] = tuple(iface["data"])
                if iface.get("strides") is not None:
                    iface["strides"] = tuple(iface["strides"])
                v = _View()
                v.__array_interface__ = iface
                v.owner = dmatrix  # the DMatrix outlives the view
                return np.asarray(v)
    return dmatrix.get_label() if field == "label" else dmatrix.get_weight()


class XGBObjective(Objective):
    """Callable both ways: ``(predt, dtrain)`` for ``xgb.train`` and
    ``(y_true, y_pred, sample_weight=None)`` for the scikit-learn wrappers."""

    def __call__(self, a, b, sample_weight=None):
        if hasattr(b, "get_label"):  # xgb.train: (predt, DMatrix)
            return self.grad_hess(a, _info(b, "label"), _info(b, "weight"))
        return self.grad_hess(b, a, sample_weight)  # wrappers: (y_true, y_pred)


class XGBMetric(Metric):
    """Callable both ways: ``(predt, dmatrix) -> (name, value)`` for
    ``xgb.train(custom_metric=...)`` and ``(y_true, y_pred, sample_weight=None)
    -> value`` for the wrappers' ``eval_metric``."""

    def __call__(self, a, b, sample_weight=None):
        if hasattr(b, "get_label"):
            return self.name, self.value(a, _info(b, "label"), _info(b, "weight"))
        return self.value(b, a, sample_weight)


def objective(name, *, threads=INSIDE_THREADS, hessian_scale=1.0, **params):
    """The loss ``name`` as an XGBoost custom objective.

    Parameters
    ----------
    name : str
        A loss of ``fastloss.available()`` taking ``(prediction, label)``
        with a Hessian (``has_hess``) or piecewise linear (see the module
        docstring for the constant Hessian passed then).
    threads : int or None, keyword-only
        fastloss's thread count while XGBoost calls the objective (default 1:
        XGBoost already parallelizes; see "Threads" in the module docstring).
        ``None`` leaves ``fastloss.set_num_threads``'s setting.
    hessian_scale : float > 0, keyword-only, default 1.0
        Multiplies the Hessian passed to XGBoost (the exact one by default):
        ``hessian_scale=2.0`` on ``cross_entropy`` reproduces ``multi:softprob``'s
        2p(1-p).
    **params
        The loss's parameters (``pos_weight=``, ``quantile=``, ``power=``,
        ``link="log"``, ...).

    Returns
    -------
    callable
        ``obj(predt, dtrain) -> (grad, hess)`` for ``xgb.train(obj=...)``,
        also ``obj(y_true, y_pred, sample_weight=None)`` for
        ``XGBRegressor(objective=...)``. Margins of shape ``(n, K)`` (multiclass,
        labels 0..K-1) give ``(n, K)`` gradients. The DMatrix's weights
        multiply grad and hess, as XGBoost's built-ins do.

    Examples
    --------
    >>> import numpy as np, fastloss.xgboost as flx
    >>> obj = flx.objective("mse")
    >>> obj(np.array([1.0, 2.0]), np.array([1.5, 2.0]))  # sklearn order: y_true, y_pred
    (array([0.5, 0. ]), array([1., 1.]))
    """
    _require()
    return XGBObjective(name, params, threads, hessian_scale)


def metric(name, *, threads=INSIDE_THREADS, **params):
    """The loss ``name`` as an XGBoost evaluation metric (lower is better).

    Evaluates the loss on what XGBoost passes: raw margins when the booster
    uses a custom objective (so logit losses see logits), the transformed
    prediction with a built-in objective. The value is the mean loss, the
    weighted mean ``sum(w l) / sum(w)`` where the DMatrix carries weights.

    Examples
    --------
    >>> import numpy as np, fastloss.xgboost as flx
    >>> flx.metric("mae")(np.array([1.0, 2.0]), np.array([1.5, 2.0]))
    0.25
    """
    _require()
    return XGBMetric(name, params, threads)
