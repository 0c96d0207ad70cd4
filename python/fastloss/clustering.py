"""Clustering: the k-means inertia of data under given centers.

``kmeans_inertia`` assigns each row of ``X`` to its nearest center and
returns the squared distances' reduction (by default their sum,
scikit-learn's ``inertia_``), differentiable w.r.t. the centers (what a
gradient-based or mini-batch k-means step uses). Its
:meth:`~_KmeansInertia.labels` method returns the assignment itself, as
scikit-learn's ``KMeans.predict`` does (with the inertia in the same pass
if asked), so the value verbs keep the one return type of every loss.
"""

from __future__ import annotations

import numpy as np

from fastloss._arrays import as_float, check_no_overlap, prepare_out, prepare_weight
from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import CLUSTERING, SUM, VALUE
from fastloss._tensors import Plan, SumByDefault, check_rows

__all__ = ["kmeans_inertia"]

_INT64 = np.dtype(np.int64)


def _check_return_labels(return_labels):
    if not isinstance(return_labels, (bool, np.bool_)):
        raise TypeError(f"return_labels: expected a bool, got {type(return_labels).__name__}")


class _KmeansInertia(SumByDefault):
    # reduction defaults to "sum": scikit-learn's inertia_, the objective's
    # own definition (SumByDefault, as the penalties). return_labels is a
    # keyword of the NumPy verbs only, not of the signature the framework
    # adapters copy (they have no integer output and refuse it).

    def __call__(self, *inputs, reduction="sum", sample_weight=None, return_labels=False, **params):
        """The value; with ``return_labels=True`` (the issue's spelling of
        scikit-learn's ``labels_``), ``(value, labels)``: the value as
        without it, the labels from :meth:`labels` (a second pass)."""
        _check_return_labels(return_labels)
        value = super().__call__(
            *inputs, reduction=reduction, sample_weight=sample_weight, **params
        )
        if not return_labels:
            return value
        return value, self.labels(*inputs[:2])

    def value_and_grad(
        self,
        *inputs,
        reduction="sum",
        sample_weight=None,
        out=None,
        wrt=None,
        return_labels=False,
        **params,
    ):
        """``(value, grad)`` in one pass; with ``return_labels=True``,
        ``(value, grad, labels)``: the labels from :meth:`labels` (a second
        pass), the assignment the gradient was taken under."""
        _check_return_labels(return_labels)
        vg = super().value_and_grad(
            *inputs, reduction=reduction, sample_weight=sample_weight, out=out, wrt=wrt, **params
        )
        if not return_labels:
            return vg
        return (*vg, self.labels(*inputs[:2]))

    def grad(self, *inputs, reduction="sum", sample_weight=None, out=None, wrt=None, **params):
        if "return_labels" in params:
            raise TypeError(
                "return_labels: the gradient verb returns the gradient only; use "
                "value_and_grad(..., return_labels=True) or kmeans_inertia.labels"
            )
        return super().grad(
            *inputs, reduction=reduction, sample_weight=sample_weight, out=out, wrt=wrt, **params
        )

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
        plan = Plan((X, C), (n, d, C.shape[0]), ())
        return X.dtype, (n,), (C.shape,), (X, C), plan

    def labels(self, X, centers, *, return_inertia=False, sample_weight=None, out=None):
        """The nearest center of each row of ``X`` (scikit-learn's
        ``KMeans.predict``, its ``labels_`` on the centers it fitted).

        Parameters
        ----------
        X : array_like, (n, d)
        centers : array_like, (k, d), k >= 1
        return_inertia : bool, keyword-only, default False
            Also return the inertia, ``sum_i w_i ||x_i - c_label_i||^2``
            (``kmeans_inertia(X, centers)``, scikit-learn's
            ``inertia_``), computed in the same pass.
        sample_weight : array_like (n,), optional, keyword-only
            Per-row weights of the inertia (the labels do not depend on them).
        out : ndarray, int64 (n,), C-contiguous, optional, keyword-only
            Written with the labels and returned.

        Returns
        -------
        labels : ndarray, int64 (n,)
            ``argmin_k ||c_k||^2 - 2 x_i . c_k``, the lowest ``k`` among
            equals (scikit-learn's rule); a row with a NaN distance gets the
            first center whose distance is NaN.
        inertia : float
            With ``return_inertia``: ``(labels, inertia)``, the order of
            scikit-learn's ``_labels_inertia``.

        Examples
        --------
        >>> import fastloss as fl
        >>> X = [[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]]
        >>> C = [[0.0, 0.0], [10.0, 9.0]]
        >>> fl.kmeans_inertia.labels(X, C)
        array([0, 0, 1])
        >>> fl.kmeans_inertia.labels(X, C, return_inertia=True)
        (array([0, 0, 1]), 2.0)
        """
        if not isinstance(return_inertia, (bool, np.bool_)):
            raise TypeError(f"return_inertia: expected a bool, got {type(return_inertia).__name__}")
        dt, sample_shape, _, reads, plan = self._plan((X, centers), {})
        n = plan.dims[0]
        labels = prepare_out(out, (n,), _INT64)
        if out is not None:
            check_no_overlap({"out": labels}, dict(zip(self.inputs, reads)))
        w = None
        if sample_weight is not None:
            w = prepare_weight(sample_weight, sample_shape, dt)
            if out is not None:
                check_no_overlap({"out": labels}, {"sample_weight": w})
        plan = plan._replace(out_ints=(labels,))
        inertia = self._launch(plan, VALUE, SUM, w, None, None, None, {})
        return (labels, inertia) if return_inertia else labels


kmeans_inertia = _KmeansInertia(
    "kmeans_inertia",
    **metadata("kmeans_inertia"),
    kernel=CLUSTERING,
    kernel_id=kernel_id("kmeans_inertia"),
    peer="scikit-learn: KMeans(...).fit(X).inertia_ and labels_ "
    "(the default call, reduction='sum', on its cluster_centers_)",
    doc="""The k-means objective: squared distance to the nearest center.

    Per row ``x_i`` of ``X``::

        label_i = argmin_k ||c_k||^2 - 2 x_i . c_k   (the lowest k among equals)
        l_i     = ||x_i - c_label_i||^2

    and the loss is their reduction: the default ``reduction="sum"`` is
    scikit-learn's ``inertia_`` (``sum_i w_i l_i``: the objective is a sum
    by definition, so, as for the penalties, ``"sum"`` is the default here
    and not the library's usual ``"mean"``), ``"mean"`` is
    ``sum_i w_i l_i / sum_i w_i`` (the inertia per sample), and ``"none"``
    the ``l_i``. ``KMeans(...).fit(X)`` then ``kmeans_inertia(X,
    km.cluster_centers_, return_labels=True)`` gives its ``inertia_`` and
    ``labels_``, and ``km.predict(X)`` and ``-km.score(X)`` (near ties
    aside, see below).
    Departure: a fit that found fewer distinct clusters than
    ``n_clusters`` (scikit-learn warns so; duplicate points, more clusters
    than distinct points) may end with ``labels_`` that are not the
    nearest centers of its own ``cluster_centers_`` (and an ``inertia_`` of
    those labels, larger); this gives the assignment to the centers
    passed, as ``predict`` and ``score`` do. The gradient w.r.t. the centers is
    ``2 sum_{i: label_i = k} w_i (c_k - x_i)`` (divided as the value is),
    with the assignment held fixed (it is piecewise constant); ``X`` is not
    differentiable. The assignment is scikit-learn's: ``argmin_k ||c_k||^2 -
    2 x_i . c_k`` (a blocked, register-tiled computation, rows in parallel),
    so where two centers are within that form's rounding of each other the
    label follows that form, not the direct distance. With one feature its
    rounding is scikit-learn's, and so is the label; with more,
    scikit-learn's BLAS sums ``x_i . c_k`` in its own order (with FMA where
    the CPU has it), so at a near tie (a point equidistant from two
    centers, or within a few ulp of it) its label may be the other center
    (5 of 40 such probes), the inertia then differing by that rounding
    only. The loss ``l_i`` is the
    distance computed directly, without cancellation, as scikit-learn's
    inertia. A NaN distance wins (the first center whose distance is NaN),
    so NaN in ``X`` or in a center gives NaN (scikit-learn refuses NaN
    input). The result has the same bits on any number of threads and
    every ISA level. :meth:`labels` returns the assignment.

    Parameters
    ----------
    X : array_like, (n, d)
    centers : array_like, (k, d), k >= 1
    reduction : {"sum", "mean", "none"}, keyword-only, default "sum"
    sample_weight : array_like (n,), optional, keyword-only
        Per-row weights, as ``KMeans.fit(sample_weight=)``.
    return_labels : bool, keyword-only, default False
        The value verbs only (NumPy): the call returns ``(value, labels)``,
        ``value_and_grad`` ``(value, grad, labels)``, the labels computed
        by :meth:`labels` in a second pass; ``grad`` refuses it
        (``TypeError``), and so do ``fastloss.torch`` and ``fastloss.jax``
        (no integer output there: call :meth:`labels` on the arrays).

    Returns
    -------
    float, or ``(n,)`` distances. ``grad`` has the centers' shape. The
    labels: ``return_labels=True``, or :meth:`labels`
    (``kmeans_inertia.labels(X, centers, return_inertia=True)`` gives
    labels and inertia in one pass).

    Examples
    --------
    >>> import fastloss as fl
    >>> X = [[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]]
    >>> C = [[0.0, 0.0], [10.0, 9.0]]
    >>> fl.kmeans_inertia(X, C)
    2.0
    >>> fl.kmeans_inertia(X, C, reduction="mean")
    0.6666666666666666
    >>> fl.kmeans_inertia.labels(X, C)
    array([0, 0, 1])
    >>> fl.kmeans_inertia(X, C, return_labels=True)
    (2.0, array([0, 0, 1]))
    >>> fl.kmeans_inertia.grad(X, C)
    array([[-2.,  0.],
           [ 0., -2.]])
    >>> v, g, labels = fl.kmeans_inertia.value_and_grad(X, C, return_labels=True)
    >>> labels
    array([0, 0, 1])
""",
)
