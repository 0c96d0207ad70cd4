"""kmeans_inertia against scikit-learn's KMeans and its own _labels_inertia."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastloss as fl

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def _blobs(rng, n, d, k, dtype):
    centers = rng.normal(scale=5.0, size=(k, d))
    X = centers[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))
    return X.astype(dtype)


def _blobs_and_centers(seed, n, d, k, dtype):
    """Blobs from a fresh generator, and their first k rows as the centers."""
    X = _blobs(np.random.default_rng(seed), n, d, k, dtype)
    return X, X[:k].copy()


def _fitted(seed, n, d, k, dtype, weighted):
    """Blobs, weights (or None) and scikit-learn's KMeans fitted on them."""
    rng = np.random.default_rng(seed)
    X = _blobs(rng, n, d, k, dtype)
    w = rng.uniform(0.5, 2.0, size=len(X)).astype(dtype) if weighted else None
    km = sklearn_cluster.KMeans(n_clusters=k, n_init=1, random_state=seed % 2).fit(
        X, sample_weight=w
    )
    return X, w, km


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_kmeans_inertia_and_labels(dtype, weighted):
    X, w, km = _fitted(0, 2000, 5, 6, dtype, weighted)
    C = km.cluster_centers_
    labels, v = fl.kmeans_inertia.labels(X, C, sample_weight=w, return_inertia=True)
    np.testing.assert_array_equal(labels, km.labels_)
    assert fl.kmeans_inertia(X, C, reduction="sum", sample_weight=w) == v
    np.testing.assert_array_equal(fl.kmeans_inertia.labels(X, C), labels)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(v, km.inertia_, rtol=tol)
    # its own assignment of these centers, the private function it fits with
    from sklearn.cluster._kmeans import _labels_inertia_threadpool_limit

    sw = np.ones(len(X), dtype) if w is None else w
    sl, si = _labels_inertia_threadpool_limit(X, sw, C, n_threads=1)
    np.testing.assert_array_equal(labels, sl)
    np.testing.assert_allclose(v, si, rtol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_default_call_gives_kmeans_inertia_and_labels(dtype, weighted):
    # the sentence: KMeans(...).fit(X), then this on its
    # cluster_centers_ with no reduction given, is its inertia_ and labels_
    X, w, km = _fitted(11, 3000, 4, 5, dtype, weighted)
    C = km.cluster_centers_
    v, labels = fl.kmeans_inertia(X, C, sample_weight=w, return_labels=True)
    np.testing.assert_allclose(v, km.inertia_, rtol=1e-4 if dtype == np.float32 else 1e-10)
    np.testing.assert_array_equal(labels, km.labels_)
    assert fl.kmeans_inertia(X, C, sample_weight=w) == v
    assert fl.kmeans_inertia.default_reduction == "sum"
    import inspect

    assert inspect.signature(fl.kmeans_inertia).parameters["reduction"].default == "sum"
    # value_and_grad and grad default to the sum too: the Lloyd step's
    # gradient, 2 sum_{i in k} w_i (c_k - x_i), against NumPy on sklearn's labels
    sw = np.ones(len(X)) if w is None else w.astype(np.float64)
    Xd, Cd = X.astype(np.float64), C.astype(np.float64)
    expected = np.stack(
        [
            2 * (sw[km.labels_ == k].sum() * Cd[k] - (sw[:, None] * Xd)[km.labels_ == k].sum(0))
            for k in range(5)
        ]
    )
    v2, g = fl.kmeans_inertia.value_and_grad(X, C, sample_weight=w)
    assert v2 == v
    scale = np.abs(expected).max()
    np.testing.assert_allclose(g, expected, atol=(1e-4 if dtype == np.float32 else 1e-10) * scale)
    np.testing.assert_array_equal(fl.kmeans_inertia.grad(X, C, sample_weight=w), g)


def test_value_and_grad_returns_labels_when_asked():
    X, C = _blobs_and_centers(8, 500, 3, 4, np.float64)
    v, g = fl.kmeans_inertia.value_and_grad(X, C, reduction="mean")
    v3, g3, labels = fl.kmeans_inertia.value_and_grad(X, C, reduction="mean", return_labels=True)
    assert v3 == v
    np.testing.assert_array_equal(g3, g)
    np.testing.assert_array_equal(labels, fl.kmeans_inertia.labels(X, C))
    out = np.empty_like(C)
    v4, g4, _ = fl.kmeans_inertia.value_and_grad(X, C, out=out, return_labels=True)
    assert g4 is out
    with pytest.raises(TypeError, match="return_labels: expected a bool"):
        fl.kmeans_inertia.value_and_grad(X, C, return_labels=1)
    with pytest.raises(TypeError, match="return_labels: the gradient verb"):
        fl.kmeans_inertia.grad(X, C, return_labels=True)
    with pytest.raises(TypeError, match="unexpected keyword"):
        fl.kmeans_inertia.value_and_grad(X, C, bogus=1)


def test_ties_go_to_the_lowest_index_and_reductions():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    C = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])  # row 0: centers 0 and 1 tie
    v = fl.kmeans_inertia(X, C, reduction="none")
    labels = fl.kmeans_inertia.labels(X, C)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 2, 0]
    np.testing.assert_array_equal(v, [2.0, 0.0, 1.0])
    assert fl.kmeans_inertia(X, C) == pytest.approx(3.0)  # the default: the sum
    assert fl.kmeans_inertia(X, C, reduction="mean") == pytest.approx(1.0)  # inertia / n
    w = np.array([1.0, 1.0, 2.0])
    assert fl.kmeans_inertia(X, C, reduction="mean", sample_weight=w) == pytest.approx(4.0 / 4.0)
    assert fl.kmeans_inertia(X, C, sample_weight=w) == pytest.approx(4.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_center_gradient_is_the_lloyd_step(dtype):
    # -g / (2 * count_k) with reduction="sum" moves each center to its
    # cluster's mean: one Lloyd iteration, as KMeans computes it
    X, C = _blobs_and_centers(3, 5000, 4, 5, dtype)
    labels = fl.kmeans_inertia.labels(X, C)
    g = fl.kmeans_inertia.grad(X, C, reduction="sum")
    counts = np.bincount(labels, minlength=5).astype(np.float64)
    step = C - g / (2 * counts[:, None])
    means = np.stack([X[labels == k].mean(axis=0, dtype=np.float64) for k in range(5)])
    np.testing.assert_allclose(step, means, rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_bits_do_not_depend_on_threads():
    X, C = _blobs_and_centers(4, 30000, 8, 16, np.float32)
    out = []
    try:
        for t in (1, 2, 3):
            fl.set_num_threads(t)
            out.append(fl.kmeans_inertia.value_and_grad(X, C, reduction="sum"))
    finally:
        fl.set_num_threads(None)
    for v, g in out[1:]:
        assert v == out[0][0]
        np.testing.assert_array_equal(g, out[0][1])


def test_bad_inputs_and_empty():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="centers: 3 features"):
        fl.kmeans_inertia(X, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="centers: at least one"):
        fl.kmeans_inertia(X, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="X: expected a 2-d"):
        fl.kmeans_inertia(np.zeros(3), np.zeros((1, 3)))
    e = np.zeros((0, 2))
    assert np.isnan(fl.kmeans_inertia(e, np.ones((1, 2)), reduction="mean"))
    assert fl.kmeans_inertia(e, np.ones((1, 2))) == 0.0  # the sum, the default
    np.testing.assert_array_equal(fl.kmeans_inertia.grad(e, np.ones((1, 2))), [[0.0, 0.0]])


def test_through_fastloss_torch():
    torch = pytest.importorskip("torch")
    import fastloss.torch as flt

    rng = np.random.default_rng(5)
    X = torch.tensor(rng.normal(size=(100, 3)))
    C = torch.tensor(rng.normal(size=(4, 3)) * 2, requires_grad=True)
    v = flt.kmeans_inertia(X, C)  # the sum by default, as the NumPy verbs
    v.backward()
    C2 = C.detach().clone().requires_grad_()
    t = torch.cdist(X, C2).pow(2).min(dim=1).values.sum()
    t.backward()
    assert v.item() == pytest.approx(t.item(), rel=1e-12)
    torch.testing.assert_close(C.grad, C2.grad)


def test_labels_follow_scikit_learn_where_direct_distances_differ():
    # ||c||^2 - 2 x.c at 1e16 has an ulp of 2: the centers' scores round to
    # a tie that the direct distances (1 and 0.5625) do not have. The labels
    # are scikit-learn's (its formula: _update_chunk_dense), the loss the
    # direct distance to the center chosen.
    from sklearn.cluster._kmeans import _labels_inertia_threadpool_limit

    X = np.array([[1e8], [0.0]])
    C = np.array([[1e8 - 1.0], [1e8 + 0.75]])
    direct = np.argmin(((X[:, None, :] - C[None]) ** 2).sum(axis=2), axis=1)
    sl, si = _labels_inertia_threadpool_limit(X, np.ones(2), C, n_threads=1)
    assert direct[0] != sl[0]  # the case is a real disagreement of the two forms
    labels, v = fl.kmeans_inertia.labels(X, C, return_inertia=True)
    np.testing.assert_array_equal(labels, sl)
    assert v == pytest.approx(si, rel=1e-15)
    np.testing.assert_array_equal(
        fl.kmeans_inertia(X, C, reduction="none"), ((X - C[labels]) ** 2).sum(axis=1)
    )


def test_nan_wins_the_assignment():
    X = np.array([[0.0, 0.0], [5.0, 5.0], [np.nan, 0.0]])
    C = np.array([[0.0, 0.0], [5.0, 5.0]])
    assert fl.kmeans_inertia.labels(X, C).tolist() == [0, 1, 0]
    v = fl.kmeans_inertia(X, C, reduction="none")
    assert v[:2].tolist() == [0.0, 0.0] and np.isnan(v[2])
    # a NaN center reaches every row: its distance is NaN for all of them
    C3 = np.array([[0.0, 0.0], [5.0, 5.0], [np.nan, 1.0]])
    assert fl.kmeans_inertia.labels(X, C3).tolist() == [2, 2, 0]
    assert np.isnan(fl.kmeans_inertia(X, C3, reduction="none")).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_labels_out_and_its_checks(dtype):
    X, C = _blobs_and_centers(6, 1000, 3, 5, dtype)
    ref = fl.kmeans_inertia.labels(X, C)
    out = np.full(1000, -1, np.int64)
    assert fl.kmeans_inertia.labels(X, C, out=out) is out
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(TypeError, match="out: expected dtype int64"):
        fl.kmeans_inertia.labels(X, C, out=np.zeros(1000, np.int32))
    with pytest.raises(ValueError, match=r"out: expected shape \(1000,\)"):
        fl.kmeans_inertia.labels(X, C, out=np.zeros(999, np.int64))
    ro = np.zeros(1000, np.int64)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out: is read-only"):
        fl.kmeans_inertia.labels(X, C, out=ro)
    with pytest.raises(ValueError, match="out: must be C-contiguous"):
        fl.kmeans_inertia.labels(X, C, out=np.zeros(2000, np.int64)[::2])
    Xv = np.zeros((1000, 8))
    with pytest.raises(ValueError, match="out"):  # out inside X's memory
        fl.kmeans_inertia.labels(Xv, np.zeros((2, 8)), out=Xv.view(np.int64).reshape(-1)[:1000])
    with pytest.raises(TypeError, match="return_inertia: expected a bool"):
        fl.kmeans_inertia.labels(X, C, return_inertia=1)
    # the value verb's return_labels: (value, labels), the value unchanged
    v, lab = fl.kmeans_inertia(X, C, reduction="sum", return_labels=True)
    assert v == fl.kmeans_inertia(X, C, reduction="sum")
    np.testing.assert_array_equal(lab, ref)
    with pytest.raises(TypeError, match="return_labels: expected a bool"):
        fl.kmeans_inertia(X, C, return_labels="yes")


def test_the_binding_checks_integer_outputs():
    from fastloss import _core
    from fastloss._catalogue import kernel_id
    from fastloss._loss import CLUSTERING

    X = np.zeros((4, 2))
    C = np.ones((3, 2))
    kid = kernel_id("kmeans_inertia")
    run = _core.run

    def call(out_ints, family=CLUSTERING, id_=kid):
        return run(family, id_, 0, 1, X, inputs=(C,), dims=(4, 2, 3), samples=4, out_ints=out_ints)

    lab = np.full(4, -1, np.int64)
    assert call((lab,)) == 8.0 and lab.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="labels: expected 4 elements, got 5"):
        call((np.zeros(5, np.int64),))
    with pytest.raises(TypeError, match=r"out_ints\[0\]: expected an int64 array"):
        call((np.zeros(4, np.int32),))
    ro = np.zeros(4, np.int64)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out_ints\[0\]: array is read-only"):
        call((ro,))
    with pytest.raises(ValueError, match="at most 1 integer output"):
        call((None, np.zeros(4, np.int64)))
    with pytest.raises(ValueError, match="too many arrays"):
        call((None, None, None))
    with pytest.raises(ValueError, match="for the several-input families"):
        run(0, 0, 0, 1, np.zeros(3), target=np.zeros(3), out_ints=(lab,))
    # a loss without integer outputs refuses them
    L = fl.entropy
    plan = L._plan((np.zeros((4, 3)),), L.resolve_params({}))[4]
    with pytest.raises(ValueError, match="this loss has no integer outputs"):
        run(
            L._kernel,
            L._id,
            0,
            1,
            plan.arrays[0],
            inputs=plan.arrays[1:],
            dims=plan.dims,
            params=plan.params,
            samples=L._samples(plan),
            out_ints=(lab,),
        )


def test_equidistant_points_give_scikit_learns_inertia():
    # Found by the peer probe: at a point equidistant from two centers,
    # scikit-learn's label depends on its BLAS's rounding of x.c (the
    # docstring says so), so the label is only one of the two; the inertia
    # is scikit-learn's either way
    KMeans = pytest.importorskip("sklearn.cluster").KMeans
    rng = np.random.default_rng(22)
    X = rng.normal(size=(40, 3))
    km = KMeans(n_clusters=3, n_init=1, random_state=0).fit(X)
    C = km.cluster_centers_
    Y = np.repeat((C[:1] + C[1:2]) / 2, 5, axis=0) + rng.normal(size=(5, 3)) * 1e-17
    labels = fl.kmeans_inertia.labels(Y, C)
    assert set(labels.tolist()) <= {0, 1}
    assert fl.kmeans_inertia(Y, C, reduction="sum") == pytest.approx(-km.score(Y), rel=1e-12)


def test_a_degenerate_fit_gives_predict_and_score_not_stale_labels():
    # duplicate points and more clusters than distinct points: scikit-learn
    # warns, and its labels_ (and inertia_) need not be the assignment to
    # its own cluster_centers_; kmeans_inertia gives that assignment, as
    # predict and score do (the documented departure)
    X = np.array([[0, 0], [0, 0], [1, 1], [1, 1], [2, 2], [0, 2], [2, 0], [1, 0.0]])
    w = np.array([0.5, 0.3, 0.2, 0.9, 0.1, 0.4, 0.7, 0.6])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = sklearn_cluster.KMeans(n_clusters=8, n_init=1, random_state=0).fit(X, sample_weight=w)
        v, labels = fl.kmeans_inertia(X, km.cluster_centers_, sample_weight=w, return_labels=True)
        np.testing.assert_array_equal(labels, km.predict(X))
        assert v == pytest.approx(-km.score(X, sample_weight=w), abs=1e-12)
    # the value is the inertia of those labels, never more than scikit-learn's
    assert v <= km.inertia_ + 1e-12
