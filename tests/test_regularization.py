"""The auxiliary and regularization losses against PyTorch autograd (and
scikit-learn's elastic-net penalty)."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")
F = torch.nn.functional
DTYPES = [np.float32, np.float64]


def _t(x):
    return torch.tensor(x, requires_grad=True)


def _tol(dtype):
    return 2e-5 if dtype == np.float32 else 1e-12


@pytest.mark.parametrize("dtype", DTYPES)
def test_penalties_equal_torch_over_a_list_of_parameters(dtype):
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(30, 4)).astype(dtype), rng.normal(size=7).astype(dtype)]
    ws[0][0, 0] = 0.0  # sign(0) = 0
    ts = [_t(w) for w in ws]
    for name, formula in (
        ("l1_penalty", lambda ps: sum(p.abs().sum() for p in ps)),
        ("l2_penalty", lambda ps: sum(p.pow(2).sum() for p in ps) / 2),
        (
            "elastic_net",
            lambda ps: (
                0.3 * sum(p.abs().sum() for p in ps) + 0.7 * sum(p.pow(2).sum() for p in ps) / 2
            ),
        ),
    ):
        params = {"l1_ratio": 0.3} if name == "elastic_net" else {}
        v, gs = fl.get(name).value_and_grad(ws, **params)
        for t in ts:
            t.grad = None
        tv = formula(ts)
        tv.backward()
        np.testing.assert_allclose(v, tv.item(), rtol=_tol(dtype))
        for g, t in zip(gs, ts):
            np.testing.assert_allclose(g, t.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))
        # one array: the same as a list of one
        assert fl.get(name)(ws[0], **params) == fl.get(name)([ws[0]], **params)
        # mean: over all the weights
        n = sum(w.size for w in ws)
        assert fl.get(name)(ws, reduction="mean", **params) == pytest.approx(v / n, rel=1e-12)


def test_elastic_net_is_sklearns_penalty():
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 4)), rng.normal(size=50)
    m = sk.ElasticNet(alpha=0.2, l1_ratio=0.4).fit(X, y)
    w = m.coef_
    obj = np.sum((y - m.predict(X)) ** 2) / (2 * len(y)) + 0.2 * fl.elastic_net(w, l1_ratio=0.4)
    # scikit-learn's objective, written out from its documentation
    ref = np.sum((y - X @ w - m.intercept_) ** 2) / (2 * len(y)) + 0.2 * (
        0.4 * np.abs(w).sum() + 0.5 * 0.6 * (w**2).sum()
    )
    assert obj == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_and_router_z_loss_equal_torch(dtype):
    rng = np.random.default_rng(2)
    z = rng.normal(scale=3, size=(64, 9)).astype(dtype)
    for name, formula in (
        ("entropy", lambda t: -(F.softmax(t, -1) * F.log_softmax(t, -1)).sum(-1).mean()),
        ("router_z_loss", lambda t: torch.logsumexp(t, -1).pow(2).mean()),
    ):
        v, g = fl.get(name).value_and_grad(z)
        t = _t(z)
        tv = formula(t)
        tv.backward()
        np.testing.assert_allclose(v, tv.item(), rtol=_tol(dtype))
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_router_z_loss_of_an_infinite_row_is_torchs_inf(dtype):
    # torch.logsumexp is +inf with a +inf logit and -inf with only -inf
    # ones: the squared lse is inf there, not inf - inf's NaN
    z = np.array([[np.inf, 0.0, 1.0], [-np.inf, -np.inf, -np.inf], [0.5, -np.inf, 2.0]], dtype)
    ours = fl.router_z_loss(z, reduction="none")
    ref = torch.logsumexp(torch.tensor(z), -1).pow(2).numpy()
    np.testing.assert_allclose(ours, ref, rtol=_tol(dtype))
    assert fl.router_z_loss(z) == np.inf
    g = fl.router_z_loss.grad(z[2:])
    t = _t(z[2:])
    torch.logsumexp(t, -1).pow(2).mean().backward()
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_center_equals_torch(dtype):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 6)).astype(dtype)
    y = rng.integers(0, 5, size=40)
    c = rng.normal(size=(5, 6)).astype(dtype)
    v, (gx, gc) = fl.center.value_and_grad(x, y, c)
    tx, tc = _t(x), _t(c)
    tv = 0.5 * (tx - tc[torch.tensor(y)]).pow(2).sum(1).mean()
    tv.backward()
    np.testing.assert_allclose(v, tv.item(), rtol=_tol(dtype))
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))
    np.testing.assert_allclose(gc, tc.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))
    with pytest.raises(ValueError, match="labels: label 5 at sample 2"):
        fl.center(x, np.where(np.arange(40) == 2, 5, y), c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 20), (20, 8)])
def test_orthogonality_equals_torch(shape, dtype):
    rng = np.random.default_rng(4)
    W = rng.normal(scale=0.3, size=shape).astype(dtype)
    v, g = fl.orthogonality.value_and_grad(W)
    t = _t(W)
    r, c = shape
    M = t @ t.T - torch.eye(r, dtype=t.dtype) if r <= c else t.T @ t - torch.eye(c, dtype=t.dtype)
    tv = (M**2).sum()
    tv.backward()
    np.testing.assert_allclose(v, tv.item(), rtol=_tol(dtype))
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=_tol(dtype) * 10, atol=_tol(dtype))
    # one value per call: a scalar weight multiplies "sum", cancels in "mean"
    assert fl.orthogonality(W, sample_weight=2.0, reduction="sum") == pytest.approx(2 * v)
    assert fl.orthogonality(W, sample_weight=2.0) == pytest.approx(v)
    assert fl.orthogonality(W, reduction="none").shape == ()


def _ortho_ref(W):
    """The float64 formula on the exact widened inputs (NumPy's BLAS)."""
    W = np.asarray(W, dtype=np.float64)
    r, c = W.shape
    M = W @ W.T - np.eye(r) if r <= c else W.T @ W - np.eye(c)
    g = 4 * (M @ W if r <= c else W @ M)
    return float(np.sum(M * M)), g


# Shapes across the Gram engine's panels (16 vectors) and register tiles
# (8, 2 or 1 rows by ISA level): one vector, a partial panel, a panel and one,
# several panels with a ragged last one, wide and tall, square.
ORTHO_SHAPES = [(1, 7), (7, 1), (16, 16), (17, 40), (40, 17), (37, 301), (301, 37), (70, 70)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ORTHO_SHAPES)
def test_orthogonality_blocked_equals_the_float64_formula(shape, dtype):
    rng = np.random.default_rng(7)
    W = (rng.normal(size=shape) / np.sqrt(max(shape))).astype(dtype)
    rv, rg = _ortho_ref(W)
    v, g = fl.orthogonality.value_and_grad(W)
    # float64 sums of exactly widened inputs in both: the order alone differs
    assert v == pytest.approx(rv, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(
        g,
        rg.astype(dtype),
        rtol=1e-12 if dtype == np.float64 else 1e-6,
        atol=1e-14 if dtype == np.float64 else 1e-7,
    )
    assert g.dtype == dtype
    assert fl.orthogonality(W) == v  # the value's bits in both verbs
    np.testing.assert_array_equal(fl.orthogonality.grad(W), g)
    # a strided (transposed) view gives the bits of its contiguous copy
    Wt = np.ascontiguousarray(W.T).T
    assert fl.orthogonality(Wt) == v


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37, 301), (301, 37), (130, 130)])
def test_orthogonality_bits_do_not_depend_on_threads_or_isa(shape, dtype):
    from fastloss import _core

    rng = np.random.default_rng(8)
    W = (rng.normal(size=shape) / np.sqrt(max(shape))).astype(dtype)
    fl.set_num_threads(1)
    v1, g1 = fl.orthogonality.value_and_grad(W)
    for n in (2, 3, 7):
        fl.set_num_threads(n)
        v, g = fl.orthogonality.value_and_grad(W)
        assert v == v1, n
        np.testing.assert_array_equal(g, g1, err_msg=str(n))
    chosen = _core.isa()
    try:
        for level in _core.supported_isas():
            _core.set_isa(level)
            v, g = fl.orthogonality.value_and_grad(W)
            assert v == v1, level
            np.testing.assert_array_equal(g, g1, err_msg=level)
    finally:
        _core.set_isa(chosen)


@pytest.mark.parametrize("shape", [(20, 45), (45, 20)])
def test_orthogonality_propagates_nan_and_inf(shape):
    rng = np.random.default_rng(9)
    W = rng.normal(size=shape)
    W[3, 5] = np.nan
    v, g = fl.orthogonality.value_and_grad(W)
    assert np.isnan(v)
    # the NaN reaches every entry the formula reaches (all of them here)
    assert np.isnan(g).all()
    # an inf reaches the Gram's row and column as +-inf (no inf - inf there:
    # the other entries are finite), so the value is +inf, not NaN
    W[3, 5] = np.inf
    assert fl.orthogonality(W) == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_sparsity_equals_torch(dtype):
    rng = np.random.default_rng(5)
    a = rng.uniform(0.01, 0.4, size=(50, 12)).astype(dtype)
    v, g = fl.kl_sparsity.value_and_grad(a, rho=0.05)
    t = _t(a)
    q = t.mean(0)
    tv = (0.05 * torch.log(0.05 / q) + 0.95 * torch.log(0.95 / (1 - q))).sum()
    tv.backward()
    np.testing.assert_allclose(v, tv.item(), rtol=_tol(dtype))
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))
    with pytest.raises(ValueError, match=r"activations: must lie in \[0, 1\]"):
        fl.kl_sparsity(a + 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kl_sparsity_column_sums_keep_row_order_on_any_thread_count(dtype):
    # the column sums run in tiles of 64 units, a tile to a thread, four rows
    # at a time: 203 x 150 gives three tiles (the last short) and a row
    # remainder; each unit's mean must still be the sum in row order (the
    # gradient's factor shows it bit for bit), on 1, 2 and 7 threads
    rng = np.random.default_rng(8)
    a = rng.uniform(0.01, 0.3, size=(203, 150)).astype(dtype)
    q = np.cumsum(a.astype(np.float64), axis=0)[-1] / 203  # sequential, unlike sum
    rho = 0.05
    # the kernel's operations in its order ("sum": the scale is 1)
    want_g = ((-rho / q + (1.0 - rho) / (1.0 - q)) / 203).astype(dtype)
    want_v = (rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q))).sum()
    results = []
    for threads in (1, 2, 7):
        fl.set_num_threads(threads)
        v, g = fl.kl_sparsity.value_and_grad(a, rho=0.05)
        np.testing.assert_array_equal(g, np.broadcast_to(want_g, a.shape))
        results.append((v, g.tobytes()))
    # each unit's KL is rounded to the dtype before the sum
    np.testing.assert_allclose(results[0][0], want_v, rtol=_tol(dtype))
    assert results[1] == results[0] and results[2] == results[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 2])
def test_moe_load_balancing_equals_hf_transformers(k, dtype):
    rng = np.random.default_rng(6)
    n, e = 64, 8
    probs = F.softmax(torch.tensor(rng.normal(size=(n, e))), -1).numpy().astype(dtype)
    idx = np.argsort(-probs, axis=1)[:, :k]
    v, g = fl.moe_load_balancing.value_and_grad(probs, idx if k > 1 else idx[:, 0])
    # transformers' load_balancing_loss_func, for one layer and no padding
    t = _t(probs)
    expert_mask = F.one_hot(torch.tensor(idx), e).to(t.dtype)  # (n, k, e)
    tokens_per_expert = expert_mask.mean(0)
    router_prob_per_expert = t.mean(0)
    tv = (tokens_per_expert * router_prob_per_expert.unsqueeze(0)).sum() * e
    tv.backward()
    np.testing.assert_allclose(v, tv.item(), rtol=_tol(dtype))
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=_tol(dtype), atol=_tol(dtype))
    with pytest.raises(ValueError, match="expert_index"):
        fl.moe_load_balancing(probs, np.full(n, e))


@pytest.mark.parametrize("name", ["l1_penalty", "l2_penalty", "elastic_net"])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_fastloss_torch_penalty_of_a_list_backpropagates(name, reduction):
    """fastloss.torch's penalty of a list of parameter tensors takes part in
    autograd (each tensor gets its own gradient), equal to torch's formula."""
    import fastloss.torch as flt

    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    ratio = 0.3
    formulas = {
        "l1_penalty": lambda t: t.abs(),
        "l2_penalty": lambda t: 0.5 * t * t,
        "elastic_net": lambda t: ratio * t.abs() + (1 - ratio) * 0.5 * t * t,
    }
    kw = {"l1_ratio": ratio} if name == "elastic_net" else {}
    ours = [_t(x) for x in xs]
    theirs = [_t(x) for x in xs]
    v = getattr(flt, name)(ours, reduction=reduction, **kw)
    per = [formulas[name](t) for t in theirs]
    if reduction == "none":
        assert isinstance(v, list) and len(v) == 2
        for a, b in zip(v, per):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-14)
        sum(((i + 1.0) * a).sum() for i, a in enumerate(v)).backward()
        sum(((i + 1.0) * b).sum() for i, b in enumerate(per)).backward()
    else:
        tv = sum(b.sum() for b in per)
        if reduction == "mean":
            tv = tv / sum(x.size for x in xs)
        assert v.requires_grad
        np.testing.assert_allclose(v.item(), tv.item(), rtol=1e-14)
        (3.0 * v).backward()
        (3.0 * tv).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-14, atol=1e-15)
