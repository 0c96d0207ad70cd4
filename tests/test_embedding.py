"""The representation losses against PyTorch autograd (their peer), and their
argument checks; the registry-wide properties (reference, finite
differences, threads, ISA levels, out=, wrt=) run in test_properties.py on
the cases of tests/cases_embedding.py."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: (2e-5, 1e-6), np.float64: (1e-10, 1e-12)}
REDUCTIONS = ["mean", "sum", "none"]


def _peer(fn, arrays, n_diff, reduction, **kw):
    """torch's value and the gradients of its inputs 0 .. n_diff-1 (a
    "none" result is summed with random weights first, so every row's
    gradient counts)."""
    ts = [torch.tensor(a, requires_grad=i < n_diff) for i, a in enumerate(arrays)]
    v = fn(*ts, reduction=reduction, **kw)
    if reduction == "none":
        upstream = torch.linspace(0.5, 1.5, max(v.numel(), 1), dtype=v.dtype)[: v.numel()]
        (v * upstream.reshape(v.shape)).sum().backward()
        up = upstream.reshape(v.shape).numpy()
    else:
        v.backward()
        up = None
    return v.detach().numpy(), tuple(t.grad.numpy() for t in ts[:n_diff]), up


def _compare(
    loss, peer_fn, arrays, n_diff, reduction, dt, params=None, peer_kw=None, value_scale=1.0
):
    # value_scale: the size of the terms a loss is the difference of (its
    # value's rounding is relative to them, not to the difference)
    rtol, atol = TOL[dt]
    pv, pg, up = _peer(peer_fn, arrays, n_diff, reduction, **(peer_kw or {}))
    params = params or {}
    v = loss(*arrays, reduction=reduction, **params)
    np.testing.assert_allclose(v, pv, rtol=rtol, atol=atol * value_scale)
    if up is not None:
        # the gradient of sum(upstream * loss): the weighted sum's gradient
        g = loss.grad(*arrays, reduction="sum", sample_weight=up, **params)
    else:
        g = loss.grad(*arrays, reduction=reduction, **params)
    g = g if isinstance(g, tuple) else (g,)
    assert len(g) == n_diff
    for k, (a, b) in enumerate(zip(g, pg)):
        scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=f"input {k}")


def _rows(rng, dt, n, d, k):
    return [rng.normal(size=(n, d)).astype(dt) for _ in range(k)]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [0.5, 1.0, 1.5, 2.0, 3.0, np.inf])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_matches_torch(dt, reduction, p, swap):
    rng = np.random.default_rng(1)
    arrays = _rows(rng, dt, 57, 33, 3)
    kw = {"margin": 0.7, "p": p, "swap": swap}
    # p < 1: each distance is (sum |u|^p)^(1/p), hundreds here, and each is
    # rounded to the dtype before the difference is taken (as torch does),
    # so a float32 loss near 0 carries an ulp of the distances (6e-5 at 500)
    scale = 1e3 if p < 1 and dt == np.float32 else 1.0
    _compare(fl.triplet_margin, F.triplet_margin_loss, arrays, 3, reduction, dt, kw, kw, scale)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_with_distance_matches_torch(dt, reduction, distance, swap):
    rng = np.random.default_rng(2)
    arrays = _rows(rng, dt, 41, 20, 3)
    fn = (
        F.pairwise_distance
        if distance == "euclidean"
        else (lambda x, y: 1.0 - F.cosine_similarity(x, y, dim=-1))
    )
    _compare(
        fl.triplet_margin_with_distance,
        F.triplet_margin_with_distance_loss,
        arrays,
        3,
        reduction,
        dt,
        {"distance": distance, "margin": 0.4, "swap": swap},
        {"distance_function": fn, "margin": 0.4, "swap": swap},
    )


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.2, -0.3])
def test_cosine_embedding_matches_torch(dt, reduction, margin):
    rng = np.random.default_rng(3)
    x1, x2 = _rows(rng, dt, 64, 17, 2)
    y = rng.choice([-1.0, 1.0], size=64).astype(dt)
    _compare(
        fl.cosine_embedding,
        F.cosine_embedding_loss,
        [x1, x2, y],
        2,
        reduction,
        dt,
        {"margin": margin},
        {"margin": margin},
    )


def _torch_contrastive(x1, x2, same, reduction="mean", margin=1.0):
    d = torch.sqrt(((x1 - x2) ** 2).sum(-1))
    loss = same * d**2 / 2 + (1 - same) * torch.clamp_min(margin - d, 0) ** 2 / 2
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_contrastive_matches_torch_autograd_of_the_formula(dt, reduction):
    rng = np.random.default_rng(4)
    x1, x2 = _rows(rng, dt, 80, 9, 2)
    same = rng.choice([0.0, 1.0], size=80).astype(dt)
    _compare(
        fl.contrastive,
        _torch_contrastive,
        [x1, x2, same],
        2,
        reduction,
        dt,
        {"margin": 4.0},
        {"margin": 4.0},
    )


def test_contrastive_gradient_at_zero_distance_is_the_similar_term():
    # d = 0: the hinge term has no derivative; its share is 0 (torch gives NaN)
    x = np.array([[1.0, 2.0], [1.0, 2.0]])
    g1, g2 = fl.contrastive.grad(x, x.copy(), [0.0, 1.0], reduction="none")
    assert np.all(g1 == 0) and np.all(g2 == 0)
    assert fl.contrastive(x, x.copy(), [0.0, 1.0], margin=2.0, reduction="none").tolist() == [
        2.0,
        0.0,
    ]


def test_unbatched_rows_match_torch():
    rng = np.random.default_rng(5)
    a, p, n = (rng.normal(size=7) for _ in range(3))
    _compare(fl.triplet_margin, F.triplet_margin_loss, [a, p, n], 3, "mean", np.float64)
    v = fl.triplet_margin(a, p, n, reduction="none")
    assert isinstance(v, np.ndarray) and v.shape == ()
    _compare(
        fl.cosine_embedding,
        F.cosine_embedding_loss,
        [a, p, np.array(-1.0)],
        2,
        "mean",
        np.float64,
    )
    g = fl.contrastive.grad(a, p, 1.0)
    assert g[0].shape == (7,) and np.allclose(g[0], a - p)


def test_empty_batches_match_torch():
    # no rows: mean is NaN and sum 0, as torch (0/0 and an empty sum)
    e = np.zeros((0, 3))
    for loss, extra in [
        (fl.triplet_margin, e),
        (fl.triplet_margin_with_distance, e),
        (fl.cosine_embedding, np.zeros(0)),
        (fl.contrastive, np.zeros(0)),
    ]:
        assert np.isnan(loss(e, e, extra))
        assert loss(e, e, extra, reduction="sum") == 0.0
        assert loss(e, e, extra, reduction="none").shape == (0,)
        assert all(g.shape == (0, 3) for g in loss.grad(e, e, extra))
    assert np.isnan(float(F.triplet_margin_loss(*(torch.zeros(0, 3),) * 3)))
    # D = 0: every distance is 0 (norm of nothing), as torch
    z = np.zeros((2, 0))
    assert fl.triplet_margin(z, z, z, margin=0.5) == 0.5
    assert float(F.triplet_margin_loss(*(torch.zeros(2, 0),) * 3, margin=0.5)) == 0.5


def test_kink_passes_the_gradient_as_torch():
    # cos - margin == 0 exactly for y = -1: torch's clamp_min passes it
    x1, x2 = np.array([[3.0, 4.0]]), np.array([[1.0, 0.0]])
    margin = 3.0 / np.sqrt((25 + 1e-12) * (1 + 1e-12))
    _compare(
        fl.cosine_embedding,
        F.cosine_embedding_loss,
        [x1, x2, np.array([-1.0])],
        2,
        "mean",
        np.float64,
        {"margin": margin},
        {"margin": margin},
    )
    assert np.any(fl.cosine_embedding.grad(x1, x2, [-1.0], margin=margin)[0] != 0)


def test_swap_tie_splits_the_gradient_as_torch():
    # d(a, n) == d(p, n): torch's minimum gives each half the gradient
    a, p, n = np.array([[0.0, 0.0]]), np.array([[0.0, 2.0]]), np.array([[1.0, 1.0]])
    kw = {"swap": True, "eps": 0.0, "margin": 3.0}
    _compare(fl.triplet_margin, F.triplet_margin_loss, [a, p, n], 3, "mean", np.float64, kw, kw)


def test_nan_propagates_into_value_and_every_gradient():
    rng = np.random.default_rng(6)
    a, p, n = _rows(rng, np.float64, 4, 3, 3)
    a[1, 0] = np.nan
    v, g = fl.triplet_margin.value_and_grad(a, p, n, reduction="none")
    assert np.isnan(v[1]) and not np.isnan(v[[0, 2, 3]]).any()
    for gk in g:
        assert np.isnan(gk[1]).all() and not np.isnan(gk[[0, 2, 3]]).any()


def test_other_y_values_give_zero_loss_as_torch():
    rng = np.random.default_rng(7)
    x1, x2 = _rows(rng, np.float64, 5, 4, 2)
    y = np.array([1.0, -1.0, 0.0, 2.0, 0.5])
    _compare(fl.cosine_embedding, F.cosine_embedding_loss, [x1, x2, y], 2, "none", np.float64)


def test_reference_agrees_on_other_p_and_shapes():
    rng = np.random.default_rng(8)
    a, p, n = _rows(rng, np.float64, 30, 6, 3)
    for kw in ({"p": 1.0}, {"p": 2.5, "swap": True}, {"eps": 0.0, "margin": 2.0}):
        v, g = fl.triplet_margin.value_and_grad(a, p, n, **kw)
        rv, rg = R.triplet_margin.value_and_grad(a, p, n, **kw)
        assert v == pytest.approx(rv, rel=1e-12)
        for x, y in zip(g, rg):
            np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-14)


def test_bad_arguments_are_refused_by_name():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="negative"):
        fl.triplet_margin(x, x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="anchor"):
        fl.triplet_margin(np.zeros(()), np.zeros(()), np.zeros(()))
    with pytest.raises(ValueError, match="number of dimensions"):  # as torch refuses it
        fl.triplet_margin(x, x, np.zeros(2))
    for p in (0.0, -1.0):  # no distance (torch's p = 0 has no gradient)
        with pytest.raises(ValueError, match="p"):
            fl.triplet_margin(x, x, x, p=p)
    with pytest.raises(ValueError, match="margin"):
        fl.triplet_margin_with_distance(x, x, x, margin=0.0)
    a = np.random.default_rng(0).normal(size=(3, 2))
    for m in (0.0, -0.5, -1e-300):  # torch refuses margin <= 0 in both triplet losses
        with pytest.raises(ValueError, match="margin must be greater than 0"):
            F.triplet_margin_loss(*(torch.tensor(a),) * 3, margin=m)
        for L in (fl.triplet_margin, fl.triplet_margin_with_distance):
            for verb in (L, L.grad, L.value_and_grad, L.with_params):
                with pytest.raises(ValueError, match="margin must be > 0"):
                    verb(a, a, a, margin=m) if verb != L.with_params else verb(margin=m)
    assert fl.triplet_margin(a, a, a, margin=1e-300, eps=0.0) == 1e-300  # torch: the same
    assert float(F.triplet_margin_loss(*(torch.tensor(a),) * 3, margin=1e-300, eps=0)) == 1e-300
    with pytest.raises(ValueError, match="distance"):
        fl.triplet_margin_with_distance(x, x, x, distance="manhattan")
    with pytest.raises(ValueError, match="y"):
        fl.cosine_embedding(x, x, np.ones(4))
    with pytest.raises(ValueError, match="same"):
        fl.contrastive(x, x, np.ones((3, 1)))
    with pytest.raises(ValueError, match="margin"):
        fl.contrastive(x, x, np.ones(3), margin=-1.0)
    with pytest.raises(TypeError, match="grad_hess|Hessian"):
        fl.contrastive.grad_hess(x, x, np.ones(3))


@pytest.mark.parametrize("p", [2.0, 1.0, 0.25, 0.0, -0.0, -1.0, np.nan, np.inf, -np.inf])
def test_the_triplet_kernel_holds_p_to_the_catalogues_domain(p):
    # The kernel entry called directly (as a binding's user would, past the
    # Python checks) reads p's domain from the catalogue: it refuses exactly
    # the p the Python layer refuses, and agrees with it elsewhere.
    from fastloss import _core
    from fastloss._loss import EMBEDDING

    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(3, 4)) for _ in range(3))
    try:
        want = fl.triplet_margin(a, b, c, p=p, reduction="sum")
    except ValueError:
        want = None
    params = (1.0, p, 1e-6, 0.0)  # margin, p, eps, swap
    dims = (3, 4)  # N, D

    def kernel():  # op 0 (value), reduction 1 (sum)
        kid = fl.triplet_margin._id
        return _core.run(
            EMBEDDING, kid, 0, 1, a, inputs=(b, c), dims=dims, samples=3, params=params
        )

    if want is None:
        with pytest.raises(ValueError, match="p: outside its domain in the catalogue"):
            kernel()
    else:
        assert kernel() == want


def test_accumulator_refuses_them_with_a_clear_error():
    for name in ("triplet_margin", "cosine_embedding", "contrastive"):
        with pytest.raises(ValueError, match="cannot be accumulated"):
            fl.Accumulator(name)


@pytest.mark.parametrize(
    "name", ["triplet_margin", "triplet_margin_with_distance", "cosine_embedding", "contrastive"]
)
def test_fastloss_torch_passes_every_gradient(name):
    import fastloss.torch as flt

    rng = np.random.default_rng(9)
    x = [torch.tensor(rng.normal(size=(6, 5)), requires_grad=True) for _ in range(3)]
    if name in ("cosine_embedding", "contrastive"):
        third = torch.tensor(
            rng.choice([1.0, -1.0] if name == "cosine_embedding" else [0.0, 1.0], 6)
        )
        inputs = (x[0], x[1], third)
        diff = x[:2]
    else:
        inputs = tuple(x)
        diff = x
    fn = getattr(flt, name)
    assert torch.autograd.gradcheck(
        lambda *d: fn(*d, *inputs[len(diff) :], reduction="sum"), tuple(diff)
    )
    v = fn(*inputs)
    v.backward()
    g = getattr(fl, name).grad(*[t.detach().numpy() for t in inputs])
    for t, gk in zip(diff, g):
        np.testing.assert_allclose(t.grad.numpy(), gk, rtol=1e-12)


def test_torch_nn_drop_ins_match_torch_modules():
    import fastloss.torch as flt

    rng = np.random.default_rng(10)
    x = [rng.normal(size=(8, 6)) for _ in range(3)]
    y = torch.tensor(rng.choice([-1.0, 1.0], 8))
    pairs = [
        (
            flt.TripletMarginLoss(0.5, 1.0, swap=True),
            torch.nn.TripletMarginLoss(0.5, 1.0, swap=True),
            3,
        ),
        (
            flt.TripletMarginWithDistanceLoss(margin=0.3, reduction="sum"),
            torch.nn.TripletMarginWithDistanceLoss(margin=0.3, reduction="sum"),
            3,
        ),
        (
            flt.TripletMarginWithDistanceLoss(F.pairwise_distance, swap=True),
            torch.nn.TripletMarginWithDistanceLoss(
                distance_function=F.pairwise_distance, swap=True
            ),
            3,
        ),
        (
            flt.CosineEmbeddingLoss(0.1, reduction="none"),
            torch.nn.CosineEmbeddingLoss(0.1, reduction="none"),
            2,
        ),
        (flt.MarginRankingLoss(0.2), torch.nn.MarginRankingLoss(0.2), 2),
    ]
    for ours, theirs, k in pairs:
        ins = [torch.tensor(a, requires_grad=True) for a in x[:k]]
        ins_t = [torch.tensor(a, requires_grad=True) for a in x[:k]]
        if k == 2:
            extra = (y if not isinstance(ours, flt.MarginRankingLoss) else None,)
            if extra[0] is None:  # margin ranking: scores, one per element
                ins = [torch.tensor(a[:, 0], requires_grad=True) for a in x[:2]]
                ins_t = [torch.tensor(a[:, 0], requires_grad=True) for a in x[:2]]
                extra = (y,)
        else:
            extra = ()
        a, b = ours(*ins, *extra), theirs(*ins_t, *extra)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-15)
        a.sum().backward()
        b.sum().backward()
        for u, v in zip(ins, ins_t):
            np.testing.assert_allclose(u.grad.numpy(), v.grad.numpy(), rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="distance_function"):
        flt.TripletMarginWithDistanceLoss(lambda u, v: (u - v).abs().sum(-1))
    with pytest.raises(ValueError, match="p"):
        flt.TripletMarginLoss(p=0.0)


def test_triplet_margin_p_beyond_float32_range_is_refused():
    # float32 inputs run with float32(p): 1e300 would be the infinite norm,
    # which is asked for as p=inf (found by tests/fuzz/fuzz_losses.py, seed 0,
    # input 31377); float64 inputs keep it
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="p must be finite in float32"):
        fl.triplet_margin(x, x, x, p=1e300)
    with pytest.raises(ValueError, match="p must be finite in float32"):
        fl.triplet_margin.grad(x, x, x, p=1e39)
    # both distances are ||(eps, eps, eps)||_p = eps 3^(1/p) = eps (they were
    # 0: eps**p underflowed, see test_triplet_margin_large_p), and the loss
    # is (margin + d) - d in the inputs' dtype, as torch computes it
    d = np.float32(1e-6)
    assert fl.triplet_margin(x, x, x, p=1e30) == (np.float32(1.0) + d) - d
    assert fl.triplet_margin(x.astype(np.float64), x, x, p=1e300) == (1.0 + 1e-6) - 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1.0, 10.0, 1e-30])
def test_triplet_margin_large_p(scale, dtype):
    # distances 0.5 and 0.9 (times scale) along one axis: any p-norm gives
    # them, so the loss is max(0, 0.5 s - 0.9 s + 1) and the gradient of
    # each distance is the unit vector along that axis. Fixed: |u|**p was
    # summed unscaled (as torch does), so at a large p every |u| < 1
    # underflowed (distance 0) and every |u| > 1 overflowed (inf - inf =
    # NaN); where that sum leaves [2^-960, DBL_MAX] the kernel takes
    # max|u| * ||u / max|u|||_p, elsewhere torch's bits.
    a = np.zeros((1, 2), dtype)
    p = (np.array([[0.5, 0.0]]) * scale).astype(dtype)
    n = (np.array([[0.9, 0.0]]) * scale).astype(dtype)
    want = (0.5 - 0.9) * scale + scale  # margin = scale: the clamp passes
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    for degree in (50.0, 1e3, 1e4, 1e6):
        kw = dict(p=degree, eps=0.0, margin=scale)
        v, (ga, gp, gn) = fl.triplet_margin.value_and_grad(a, p, n, **kw)
        assert v == pytest.approx(want, rel=rtol), degree
        np.testing.assert_allclose(ga, [[0.0, 0.0]], atol=rtol)  # -u_p/d_p + u_n/d_n
        np.testing.assert_allclose(gp, [[1.0, 0.0]], rtol=rtol)
        np.testing.assert_allclose(gn, [[-1.0, 0.0]], rtol=rtol)
        rv, _ = R.triplet_margin.value_and_grad(a, p, n, **kw)
        assert rv == pytest.approx(want, rel=rtol), degree


def test_triplet_margin_large_p_several_axes():
    # ||u||_p of u = (3, 4, -4) at p = 1e3 (3^1000 = 1.3e477 is beyond
    # float64), against 50-digit mpmath: 4 * 2^(1/1000), and its gradient
    # sign(u) (|u| / d)^(p-1). negative = anchor: d_neg = 0, the clamp passes.
    mp = pytest.importorskip("mpmath")
    u = [3.0, 4.0, -4.0]
    deg = 1000.0
    with mp.workdps(50):
        d = mp.fsum(abs(mp.mpf(x)) ** deg for x in u) ** (1 / mp.mpf(deg))
        want_g = [float(mp.sign(x) * (abs(mp.mpf(x)) / d) ** (deg - 1)) for x in u]
        d = float(d)
    a = np.array([u])
    z = np.zeros((1, 3))
    for f in (fl.triplet_margin, R.triplet_margin):
        v, (ga, gp, gn) = f.value_and_grad(a, z, a, p=deg, eps=0.0, margin=1.0)
        assert v == pytest.approx(1.0 + d, rel=1e-14)
        np.testing.assert_allclose(ga, [want_g], rtol=1e-12)
        np.testing.assert_allclose(gp, -np.array([want_g]), rtol=1e-12)
        np.testing.assert_allclose(gn, 0.0, atol=0)


# Shapes torch broadcasts (its losses require one number of dimensions and
# broadcast within it; a per-row y broadcasts against the rows): the loss of
# the broadcast inputs, each gradient summed back to its input's shape.
_BROADCAST_CASES = [
    ("triplet_margin", F.triplet_margin_loss, [(4, 3), (1, 3), (4, 3)], None, {"swap": True}),
    ("triplet_margin", F.triplet_margin_loss, [(4, 3), (4, 1), (1, 3)], None, {"p": 1.0}),
    ("triplet_margin", F.triplet_margin_loss, [(2, 3, 4)] * 3, None, {"p": 3.0}),
    ("triplet_margin", F.triplet_margin_loss, [(2, 1, 4), (1, 3, 4), (2, 3, 4)], None, {}),
    (
        "triplet_margin_with_distance",
        F.triplet_margin_with_distance_loss,
        [(5, 2), (1, 2), (5, 2)],
        None,
        {},
    ),
    (
        "triplet_margin_with_distance",
        F.triplet_margin_with_distance_loss,
        [(2, 3, 4)] * 3,
        None,
        {"swap": True},
    ),
    ("cosine_embedding", F.cosine_embedding_loss, [(4, 3), (1, 3)], (4,), {"margin": 0.2}),
    ("cosine_embedding", F.cosine_embedding_loss, [(4, 3), (4, 3)], (1,), {}),
    ("cosine_embedding", F.cosine_embedding_loss, [(1, 3), (4, 3)], (1,), {"margin": -0.3}),
    ("margin_ranking", F.margin_ranking_loss, [(4,), (1,)], (4,), {"margin": 0.1}),
    ("margin_ranking", F.margin_ranking_loss, [(4,), (4,)], (1,), {}),
    ("margin_ranking", F.margin_ranking_loss, [(3, 1), (1, 4)], (3, 4), {"margin": -0.2}),
]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", range(len(_BROADCAST_CASES)))
def test_broadcast_shapes_match_torch(case, reduction, dt):
    import fastloss.torch as flt

    name, peer, shapes, y_shape, kw = _BROADCAST_CASES[case]
    rng = np.random.default_rng(case)
    arrays = [rng.normal(size=s).astype(dt) for s in shapes]
    if y_shape is not None:
        arrays.append(rng.choice([-1.0, 1.0], size=y_shape).astype(dt))
    loss = getattr(fl, name)
    _compare(loss, peer, arrays, len(shapes), reduction, dt, kw, kw)
    # the reference broadcasts the same way
    rv, rg = getattr(R, name).value_and_grad(*arrays, reduction=reduction, **kw)
    v, g = loss.value_and_grad(*arrays, reduction=reduction, **kw)
    rtol = TOL[dt][0] * 10
    np.testing.assert_allclose(v, rv, rtol=rtol, atol=1e-6)
    for a, b in zip(g, rg):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)
    # fastloss.torch: function and autograd through it
    pv, pg, up = _peer(peer, arrays, len(shapes), reduction, **kw)
    ts = [torch.tensor(a, requires_grad=i < len(shapes)) for i, a in enumerate(arrays)]
    out = getattr(flt, name)(*ts, reduction=reduction, **kw)
    (out * torch.tensor(up) if up is not None else out).sum().backward()
    rtol, atol = TOL[dt]
    np.testing.assert_allclose(out.detach().numpy(), pv, rtol=rtol, atol=atol)
    for t, b in zip(ts, pg):
        assert t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.numpy(), b, rtol=rtol, atol=atol * 10)


def test_shapes_torch_refuses_are_refused():
    x = np.zeros((4, 3))
    for bad in (np.zeros(3), np.zeros((2, 3)), np.zeros((1, 4, 3))):
        with pytest.raises(ValueError):
            fl.triplet_margin(x, bad, x)
        with pytest.raises((RuntimeError, ValueError)):
            F.triplet_margin_loss(*(torch.tensor(a) for a in (x, bad, x)))
    with pytest.raises(ValueError, match="y"):
        fl.cosine_embedding(x, x, np.ones(()))  # torch: a 2-d input takes a 1-d target
    with pytest.raises(ValueError):
        fl.margin_ranking(np.zeros(4), np.zeros(4), np.ones(()))
    with pytest.raises(RuntimeError):
        F.margin_ranking_loss(torch.zeros(4), torch.zeros(4), torch.ones(()))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_triplet_margin_p_inf_ties_and_zero_rows_match_torch(dt, eps):
    # p = inf (torch takes it; fastloss refused it as not finite): the largest
    # |u|, its gradient shared among the entries that reach it (torch's norm
    # backward), 0 for a zero difference
    a = np.array([[1.0, -1.0, 0.5], [0.0, 0.0, 0.0], [2.0, 0.0, -2.0], [1.0, 2.0, 3.0]], dt)
    p = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 2.0, 3.0]], dt)
    n = np.array([[3.0, 0.0, 0.0], [1.0, -1.0, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 9.0]], dt)
    for swap in (False, True):
        kw = {"p": np.inf, "eps": eps, "swap": swap, "margin": 2.5}
        for red in REDUCTIONS:
            _compare(fl.triplet_margin, F.triplet_margin_loss, [a, p, n], 3, red, dt, kw, kw)
    rv, rg = R.triplet_margin.value_and_grad(a, p, n, p=np.inf, eps=0.0)
    v, g = fl.triplet_margin.value_and_grad(a, p, n, p=np.inf, eps=0.0)
    assert v == pytest.approx(rv, rel=1e-6)
    for x, y in zip(g, rg):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    with pytest.raises(ValueError, match="p"):
        fl.triplet_margin(a, p, n, p=-np.inf)
