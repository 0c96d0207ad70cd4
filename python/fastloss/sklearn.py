"""fastloss losses as scikit-learn scorers.

``scorer(name, **params)`` returns a scorer for ``cross_val_score``,
``GridSearchCV`` and the rest: ``scorer(estimator, X, y, sample_weight=None)``
gives the negated (weighted) mean loss, so greater is better as in
``neg_log_loss``. The estimator's response is picked per loss:

* ``predict`` for regression losses (``mse`` equals ``neg_mean_squared_error``,
  ``mae`` ``neg_mean_absolute_error``, ``rmse``
  ``neg_root_mean_squared_error``, for several outputs too: the mean of
  the outputs' RMSEs, as scikit-learn's ``multioutput="uniform_average"``; ``poisson_nll`` is given
  ``log_input=False`` unless you pass it, since ``predict`` is a mean);
* ``predict_proba`` for probability losses (``binary_cross_entropy`` on the
  positive class equals ``neg_log_loss``, ``brier`` ``neg_brier_score``) and
  for ``cross_entropy`` / ``softmax_focal`` (its log, as logits: softmax of
  log p is p, so ``cross_entropy`` also equals ``neg_log_loss``); for
  ``binary_cross_entropy`` and ``cross_entropy`` the probabilities are first
  clipped to ``[eps, 1 - eps]`` (``eps`` of their dtype), as ``log_loss``
  clips them, so a classifier predicting exactly 0 or 1 scores what
  ``neg_log_loss`` gives (not -inf, nor PyTorch's -100 log clamp);
* ``decision_function`` for margin and logit losses (hinge, squared_hinge,
  multiclass_hinge, categorical_hinge, binary_cross_entropy_with_logits,
  sigmoid_focal), falling back to the logit of ``predict_proba`` for the
  logit losses.

Class labels are mapped to 0..K-1 through ``estimator.classes_`` (strings,
codes that are not 0..K-1, booleans; a column ``(n, 1)`` of labels is
raveled, as scikit-learn's metrics ravel it), so the classes are the
estimator's, not those found in ``y``: a ``y`` missing some of them (a
fold with one class) is scored, where ``neg_log_loss`` and
``neg_brier_score`` raise (they take the classes from ``y``), and
``scorer("brier")`` on binary string labels scores the probability of
``classes_[1]``, where ``neg_brier_score`` raises for want of a
``pos_label``. For a binary classifier the probability losses read the
positive column, ``[1 - p, p]``, as scikit-learn's scorers do. With
three or more classes ``cross_entropy`` takes the log of the clipped
probabilities as logits, whose softmax renormalizes them: where clipping
(or a float32 ``predict_proba``) leaves a row's sum off 1 by ``d``, its
loss differs from ``log_loss``'s by about ``d`` (2.2e-16 per row for a
decision tree's pure leaves in float64, up to 1e-7 in float32). For
regression, a single output as ``(n,)`` on one side and ``(n, 1)`` on the
other is one output, as in scikit-learn's metrics.

The score is the negated loss, so greater is always better, but it is
not always <= 0: a loss that can be negative scores above 0.
``poisson_nll`` is PyTorch's Poisson negative log-likelihood (``pred -
y log pred`` with ``log_input=False``, without the ``log(y!)`` term unless
``full=True``), not the deviance: a ``PoissonRegressor`` on the diabetes
data scores +619.06 with it. The scorer that equals scikit-learn's
``neg_mean_poisson_deviance`` is ``scorer("tweedie", power=1.0)`` (-25.83
there, the same to the last digits; ``power=2.0`` is
``neg_mean_gamma_deviance``).

Metadata routing: with ``sklearn.set_config(enable_metadata_routing=True)``
a scorer asks for ``sample_weight`` as scikit-learn's built-in scorers do,
``scorer("mse").set_score_request(sample_weight=True)``, and then
``cross_val_score(..., params={"sample_weight": w})`` weighs the scores;
passed but not requested, scikit-learn refuses it
(``UnsetMetadataPassedError``), as for its own scorers. Without routing,
``sample_weight`` is the call's keyword as before.

Examples
--------
>>> from sklearn.datasets import load_diabetes
>>> from sklearn.linear_model import Ridge
>>> from sklearn.model_selection import cross_val_score
>>> import fastloss.sklearn as fls
>>> X, y = load_diabetes(return_X_y=True)
>>> a = cross_val_score(Ridge(), X, y, cv=3, scoring=fls.scorer("mse"))
>>> b = cross_val_score(Ridge(), X, y, cv=3, scoring="neg_mean_squared_error")
>>> bool(abs(a - b).max() < 1e-9 * abs(b).max())
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["scorer"]

_PROBA = {"binary_cross_entropy", "brier", "cross_entropy", "softmax_focal"}
_LOG_PROBA = {"cross_entropy", "softmax_focal"}
# the losses that equal neg_log_loss, whose probabilities are clipped as log_loss clips them
_CLIPPED = {"binary_cross_entropy", "cross_entropy"}
_LOGIT = {"binary_cross_entropy_with_logits", "sigmoid_focal"}
_MARGIN = {"hinge", "squared_hinge", "multiclass_hinge", "categorical_hinge"}


class Scorer:
    """``scorer(estimator, X, y, sample_weight=None) -> -mean loss``."""

    def __init__(self, name, params):
        import fastloss

        if not isinstance(name, str):
            raise TypeError(f"name must be a loss name (str), got {type(name).__name__}")
        self.loss = fastloss.get(name)
        if len(self.loss.inputs) != 2:
            raise ValueError(
                f"{name} takes {', '.join(self.loss.inputs)}: a scorer needs a "
                "loss of (prediction, target)"
            )
        if (
            self.loss.family not in ("regression", "classification", "multiclass")
            or name == "kl_div"
        ):
            raise ValueError(
                f"{name}: no scorer (a scorer compares an estimator's predictions "
                "with y; use the loss directly)"
            )
        params = dict(params)
        if name == "poisson_nll":
            params.setdefault("log_input", False)  # predict() gives the mean, not its log
        self.loss.resolve_params(params)
        self.name, self.params = name, params
        self.classifier = self.loss.family != "regression"

    def _response(self, est, X):
        n = self.name
        if n in _PROBA:
            p = est.predict_proba(X)
            if n in _LOG_PROBA and np.ndim(p) == 2 and np.shape(p)[1] == 2:
                # a binary classifier: scikit-learn's scorers take the
                # positive column and score [1 - p, p] (neg_log_loss); a
                # predict_proba whose rows miss 1 by rounding (GaussianNB's)
                # gave log losses 2e-6 apart through the two columns
                p = np.asarray(p)
                p = np.stack([1 - p[:, 1], p[:, 1]], axis=1)
            if n in _CLIPPED:
                # log_loss clips the probabilities to [eps, 1 - eps] (eps of
                # their dtype) before its logs: without it a classifier that
                # predicts 0 or 1 (a decision tree's pure leaves) scored
                # -inf (cross_entropy) or the -100 log clamp (bce), not
                # neg_log_loss's value
                p = np.asarray(p)
                eps = np.finfo(p.dtype if p.dtype.kind == "f" else np.float64).eps
                p = np.clip(p, eps, 1 - eps)
            if n in _LOG_PROBA:
                with np.errstate(divide="ignore"):
                    return np.log(p)
            return p[:, 1] if p.shape[1] == 2 and n in ("binary_cross_entropy", "brier") else p
        if n in _MARGIN or n in _LOGIT:
            if hasattr(est, "decision_function"):
                return est.decision_function(X)
            if n in _LOGIT:
                p = est.predict_proba(X)[:, 1]
                with np.errstate(divide="ignore"):
                    return np.log(p) - np.log1p(-p)
            raise TypeError(f"{n}: the estimator has no decision_function")
        return est.predict(X)

    def __call__(self, estimator, X, y, sample_weight=None):
        pred = self._response(estimator, X)
        y = np.asarray(y)
        if not self.classifier and np.ndim(pred) != y.ndim:
            # one output as (n,) on one side and (n, 1) on the other (a
            # regressor fitted on a column y, or y given as a column):
            # scikit-learn's regression metrics take both as (n, 1)
            pred = np.asarray(pred)
            if pred.ndim == 2 and pred.shape[1] == 1 and y.ndim == 1:
                pred = pred[:, 0]
            elif y.ndim == 2 and y.shape[1] == 1 and pred.ndim == 1:
                y = y[:, 0]
        if self.classifier:
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]  # a column of labels, raveled as scikit-learn's metrics do
            classes = np.asarray(estimator.classes_)
            idx = np.searchsorted(classes, y)
            idx = np.clip(idx, 0, len(classes) - 1)
            if not np.array_equal(classes[idx], y):
                raise ValueError(f"y: labels not among the estimator's classes_ {classes}")
            y = idx if np.asarray(pred).ndim == 2 else idx.astype(np.asarray(pred).dtype)
        if self.name == "rmse" and np.ndim(pred) == 2 and np.shape(pred) == y.shape:
            # several outputs: neg_root_mean_squared_error averages the
            # outputs' RMSEs (multioutput="uniform_average"), not the root
            # of the mean over all of them (49.43 against 48.73 measured)
            pred = np.asarray(pred)
            per_output = [
                self.loss(pred[:, j], y[:, j], sample_weight=sample_weight, **self.params)
                for j in range(pred.shape[1])
            ]
            return -float(np.mean(per_output))
        return -self.loss(pred, y, sample_weight=sample_weight, **self.params)

    def __repr__(self):
        kw = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"fastloss.sklearn.scorer({self.name!r}{kw})"

    # -- metadata routing (scikit-learn's protocol, as its _BaseScorer) ------

    def _routing_repr(self):
        return repr(self)

    def set_score_request(self, *, sample_weight=None):
        """Whether ``sample_weight`` is routed to the scorer when metadata
        routing is enabled (``True``, ``False``, ``None``: an error if passed,
        the default, or an alias), as scikit-learn's scorers' method.
        Returns the scorer."""
        import sklearn
        from sklearn.utils.metadata_routing import MetadataRequest

        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request: only available when metadata routing is enabled "
                "(sklearn.set_config(enable_metadata_routing=True))"
            )
        request = MetadataRequest(owner=self)
        request.score.add_request(param="sample_weight", alias=sample_weight)
        self._metadata_request = request
        return self

    def get_metadata_routing(self):
        """The scorer's metadata request: ``sample_weight`` for ``score``,
        unset (an error if passed) until :meth:`set_score_request`."""
        from sklearn.utils.metadata_routing import MetadataRequest

        request = getattr(self, "_metadata_request", None)
        if request is None:
            request = MetadataRequest(owner=self)
            request.score.add_request(param="sample_weight", alias=None)
        return request


def scorer(name, **params):
    """A scikit-learn scorer: the negated mean of loss ``name`` (greater is better).

    Parameters
    ----------
    name : str
        A loss of ``fastloss.available()`` comparing a prediction with y
        (regression, classification and multiclass families).
    **params
        The loss's parameters.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.metrics import get_scorer
    >>> import fastloss.sklearn as fls
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=5000).fit(X / X.max(0), y)
    >>> a = fls.scorer("binary_cross_entropy")(clf, X / X.max(0), y)
    >>> b = get_scorer("neg_log_loss")(clf, X / X.max(0), y)
    >>> bool(abs(a - b) < 1e-9)
    True
    """
    return Scorer(name, params)
