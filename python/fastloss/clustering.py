"""Clustering: the k-means inertia of data under given centers.

``kmeans_inertia`` assigns each row of ``X`` to its nearest center and
returns the squared distances' reduction, differentiable w.r.t. the
centers (what a gradient-based or mini-batch k-means step uses).
"""

from __future__ import annotations

import threading

import numpy as np

from fastloss._arrays import as_float
from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import CLUSTERING
from fastloss._tensors import Plan, TensorLoss, check_rows

__all__ = ["kmeans_inertia"]


class _KmeansInertia(TensorLoss):
    # The labels of the call in progress (return_labels=True): the kernel
    # writes them during the run and the value verbs return them with the
    # value; per thread, so concurrent calls do not share them.
    _labels = threading.local()

    def _plan(self, inputs, p):
        X = as_float(inputs[0], "X")
        check_rows(X, "X")
        C = as_float(inputs[1], "centers", X.dtype)
        check_rows(C, "centers")
        n, d = X.shape
        if C.shape[1] != d:
            raise ValueError(
                f"centers: {C.shape[1]} features per center, X has {d} (shapes "
                f"{tuple(C.shape)} and {tuple(X.shape)})"
            )
        if C.shape[0] < 1:
            raise ValueError("centers: at least one center is needed")
        labels = np.empty(n, np.int64) if p["return_labels"] else None
        self._labels.value = labels
        plan = Plan((X, C, labels), (n, d, C.shape[0]), ())
        return X.dtype, (n,), (C.shape,), (X, C), plan

    def _with_labels(self, v):
        labels = getattr(self._labels, "value", None)
        self._labels.value = None
        return v if labels is None else (v, labels)

    def __call__(self, *inputs, **kw):
        return self._with_labels(super().__call__(*inputs, **kw))

    def value_and_grad(self, *inputs, **kw):
        v, g = super().value_and_grad(*inputs, **kw)
        return self._with_labels(v), g

    def grad(self, *inputs, **kw):
        g = super().grad(*inputs, **kw)
        self._labels.value = None
        return g


kmeans_inertia = _KmeansInertia(
    "kmeans_inertia",
    **metadata("kmeans_inertia"),
    kernel=CLUSTERING,
    kernel_id=kernel_id("kmeans_inertia"),
    peer="scikit-learn: KMeans(...).fit(X).inertia_ and labels_ "
    "(reduction='sum' under its cluster_centers_)",
    doc="""The k-means objective: squared distance to the nearest center.

    Per row ``x_i`` of ``X``::

        label_i = argmin_k ||x_i - c_k||^2      (the lowest k among equals)
        l_i     = ||x_i - c_label_i||^2

    and the loss is their reduction: ``reduction="sum"`` is scikit-learn's
    ``inertia_`` (``sum_i w_i l_i``), the default ``"mean"`` the library's
    contract, ``sum_i w_i l_i / sum_i w_i`` (the inertia per sample), and
    ``"none"`` the ``l_i``. The gradient w.r.t. the centers is
    ``2 sum_{i: label_i = k} w_i (c_k - x_i)`` (divided as the value is),
    with the assignment held fixed (it is piecewise constant); ``X`` is not
    differentiable. Distances are computed directly (no ``||x||^2 - 2 x.c +
    ||c||^2`` cancellation), rows in parallel; the result has the same bits
    on any number of threads.

    Parameters
    ----------
    X : array_like, (n, d)
    centers : array_like, (k, d), k >= 1
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like (n,), optional, keyword-only
        Per-row weights, as ``KMeans.fit(sample_weight=)``.
    return_labels : bool, keyword-only, default False
        The value verbs (call, ``value_and_grad``) return ``(value,
        labels)`` in place of the value, ``labels`` int64 ``(n,)``.

    Returns
    -------
    float, or ``(n,)`` distances; ``(value, labels)`` with
    ``return_labels``. ``grad`` has the centers' shape.

    Examples
    --------
    >>> import fastloss as fl
    >>> X = [[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]]
    >>> C = [[0.0, 0.0], [10.0, 9.0]]
    >>> fl.kmeans_inertia(X, C, reduction="sum", return_labels=True)
    (2.0, array([0, 0, 1]))
    >>> fl.kmeans_inertia.grad(X, C, reduction="sum")
    array([[-2.,  0.],
           [ 0., -2.]])
""",
)
