"""kmeans_inertia against scikit-learn's KMeans and its own _labels_inertia."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

sklearn_cluster = pytest.importorskip("sklearn.cluster")


def _blobs(rng, n, d, k, dtype):
    centers = rng.normal(scale=5.0, size=(k, d))
    X = centers[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_kmeans_inertia_and_labels(dtype, weighted):
    rng = np.random.default_rng(0)
    X = _blobs(rng, 2000, 5, 6, dtype)
    w = rng.uniform(0.5, 2.0, size=len(X)).astype(dtype) if weighted else None
    km = sklearn_cluster.KMeans(n_clusters=6, n_init=1, random_state=0).fit(X, sample_weight=w)
    C = km.cluster_centers_
    v, labels = fl.kmeans_inertia(X, C, reduction="sum", sample_weight=w, return_labels=True)
    np.testing.assert_array_equal(labels, km.labels_)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(v, km.inertia_, rtol=tol)
    # its own assignment of these centers, the private function it fits with
    from sklearn.cluster._kmeans import _labels_inertia_threadpool_limit

    sw = np.ones(len(X), dtype) if w is None else w
    sl, si = _labels_inertia_threadpool_limit(X, sw, C, n_threads=1)
    np.testing.assert_array_equal(labels, sl)
    np.testing.assert_allclose(v, si, rtol=tol)


def test_ties_go_to_the_lowest_index_and_reductions():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    C = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])  # row 0: centers 0 and 1 tie
    v, labels = fl.kmeans_inertia(X, C, reduction="none", return_labels=True)
    assert labels.tolist() == [0, 2, 0]
    np.testing.assert_array_equal(v, [2.0, 0.0, 1.0])
    assert fl.kmeans_inertia(X, C) == pytest.approx(1.0)  # mean: inertia / n
    w = np.array([1.0, 1.0, 2.0])
    assert fl.kmeans_inertia(X, C, sample_weight=w) == pytest.approx(4.0 / 4.0)
    assert fl.kmeans_inertia(X, C, reduction="sum", sample_weight=w) == pytest.approx(4.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_center_gradient_is_the_lloyd_step(dtype):
    # -g / (2 * count_k) with reduction="sum" moves each center to its
    # cluster's mean: one Lloyd iteration, as KMeans computes it
    rng = np.random.default_rng(3)
    X = _blobs(rng, 5000, 4, 5, dtype)
    C = X[:5].copy()
    v, labels = fl.kmeans_inertia(X, C, reduction="sum", return_labels=True)
    g = fl.kmeans_inertia.grad(X, C, reduction="sum")
    counts = np.bincount(labels, minlength=5).astype(np.float64)
    step = C - g / (2 * counts[:, None])
    means = np.stack([X[labels == k].mean(axis=0, dtype=np.float64) for k in range(5)])
    np.testing.assert_allclose(step, means, rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_bits_do_not_depend_on_threads():
    rng = np.random.default_rng(4)
    X = _blobs(rng, 30000, 8, 16, np.float32)
    C = X[:16].copy()
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
    assert np.isnan(fl.kmeans_inertia(e, np.ones((1, 2))))
    assert fl.kmeans_inertia(e, np.ones((1, 2)), reduction="sum") == 0.0
    np.testing.assert_array_equal(fl.kmeans_inertia.grad(e, np.ones((1, 2))), [[0.0, 0.0]])


def test_through_fastloss_torch():
    torch = pytest.importorskip("torch")
    import fastloss.torch as flt

    rng = np.random.default_rng(5)
    X = torch.tensor(rng.normal(size=(100, 3)))
    C = torch.tensor(rng.normal(size=(4, 3)) * 2, requires_grad=True)
    v = flt.kmeans_inertia(X, C)
    v.backward()
    C2 = C.detach().clone().requires_grad_()
    t = torch.cdist(X, C2).pow(2).min(dim=1).values.mean()
    t.backward()
    assert v.item() == pytest.approx(t.item(), rel=1e-12)
    torch.testing.assert_close(C.grad, C2.grad)
