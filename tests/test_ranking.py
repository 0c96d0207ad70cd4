"""Ranking losses against their peers.

The registry-wide property tests (tests/test_properties.py) already hold every
ranking loss to the NumPy reference, finite differences, threads, ISA levels
and layouts through tests/cases_ranking.py. Here: the peers. In CI, PyTorch
autograd of rax's formulas written out below (sorting for the exact ranks,
where the kernel and the reference count); where rax is installed, rax itself
(``jax.vmap`` over lists, float64). rax is not a test extra: it needs jaxlib
(349 MB installed) and rax 0.4's ``approx_t12n`` fails on jax 0.10 (it calls
the removed ``jax.util.wraps``), so the approx_ndcg check builds the same
function from ``rax.ndcg_metric`` and ``rax.utils.approx_ranks`` as
``approx_t12n`` does.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R

NAMES = ["pairwise_logistic", "pairwise_hinge", "listnet", "approx_ndcg", "lambda_rank"]


def _inputs(rng, n=30, size=9, masked=True):
    s = rng.normal(size=(n, size))
    y = rng.integers(0, 4, size=(n, size)).astype(np.float64)
    m = rng.random((n, size)) < 0.75 if masked else np.ones((n, size), bool)
    # a list without a pair (equal labels), an all-masked list
    y[1] = 2.0
    m[2] = False
    return s, y, m


def _params(name):
    return {"temperature": 0.6} if name == "approx_ndcg" else {}


# ---------------------------------------------------------------- PyTorch peer


def _torch_per_list(name, s, y, m, temperature=1.0):
    """Per-list losses of rax's definitions, in torch (differentiable in s)."""
    import torch

    eye = torch.eye(s.shape[-1], dtype=torch.bool)
    pm = m[:, :, None] & m[:, None, :]
    if name in ("pairwise_logistic", "pairwise_hinge", "lambda_rank"):
        d = s[:, :, None] - s[:, None, :]
        pair = (y[:, :, None] > y[:, None, :]) & pm
        if name == "pairwise_hinge":
            t = torch.relu(1.0 - d)
        else:
            t = torch.nn.functional.softplus(-d)
        if name == "lambda_rank":
            t = t * _torch_lambdaweights(s.detach(), y, m)
        t = torch.where(pair, t, torch.zeros_like(t))
        cnt = pair.sum(dim=(1, 2))
        return t.sum(dim=(1, 2)) / cnt.clamp(min=1)
    if name == "listnet":
        ym = torch.where(m, y, torch.zeros_like(y))
        tot = ym.sum(-1, keepdim=True)
        p = ym / torch.where(tot == 0, torch.ones_like(tot), tot)
        logp = torch.log_softmax(torch.where(m, s, torch.full_like(s, -torch.inf)), dim=-1)
        return -torch.where(m, p * logp, torch.zeros_like(p)).sum(-1)
    # approx_ndcg
    sig = torch.sigmoid((s[:, None, :] - s[:, :, None]) / temperature)
    rhat = 1.0 + torch.where(pm & ~eye, sig, torch.zeros_like(sig)).sum(-1)
    gain = torch.where(m, 2.0**y - 1.0, torch.zeros_like(y))
    dcg = torch.where(m, gain / torch.log2(1.0 + rhat), torch.zeros_like(y)).sum(-1)
    return -dcg / _torch_ideal(gain, m)


def _torch_ideal(gain, m):
    import torch

    srt = torch.sort(torch.where(m, gain, torch.full_like(gain, -torch.inf)), descending=True)
    g = torch.where(torch.isfinite(srt.values), srt.values, torch.zeros_like(gain))
    disc = 1.0 / torch.log2(torch.arange(gain.shape[-1], dtype=gain.dtype) + 2.0)
    ideal = (g * disc).sum(-1)
    return torch.where(ideal == 0, torch.ones_like(ideal), ideal)


def _torch_lambdaweights(s, y, m):
    """rax.dcg_lambdaweight(normalize=True): ranks by a stable sort on
    (masked last, score descending), as rax.utils.ranks."""
    import torch

    by_score = torch.argsort(-s, dim=-1, stable=True)
    valid_first = torch.argsort((~m).gather(-1, by_score).to(torch.int8), dim=-1, stable=True)
    order = by_score.gather(-1, valid_first)
    ranks = torch.argsort(order, dim=-1) + 1
    gain = torch.where(m, 2.0**y - 1.0, torch.zeros_like(y))
    gain = gain / _torch_ideal(gain, m)[:, None]
    disc = 1.0 / torch.log2(1.0 + ranks.to(s.dtype))
    return (
        (gain[:, :, None] - gain[:, None, :]).abs()
        * (disc[:, :, None] - disc[:, None, :]).abs()
        * s.shape[-1]
    )


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_matches_torch_autograd_of_rax_formulas(name, masked, rng):
    torch = pytest.importorskip("torch")
    s, y, m = _inputs(rng, masked=masked)
    kw = _params(name)
    st = torch.tensor(s, requires_grad=True)
    per = _torch_per_list(name, st, torch.tensor(y), torch.tensor(m), **kw)
    w = rng.uniform(0.5, 2.0, size=len(s))
    (per * torch.tensor(w)).sum().backward()
    loss = fl.get(name)
    v = loss(s, y, m, reduction="none", **kw)
    np.testing.assert_allclose(v, per.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = loss.grad(s, y, m, reduction="sum", sample_weight=w, **kw)
    np.testing.assert_allclose(g, st.grad.numpy(), rtol=1e-10, atol=1e-14)
    # mean over lists, weighted: sum(w l) / sum(w)
    mean = loss(s, y, m, sample_weight=w, **kw)
    assert mean == pytest.approx(float((per.detach().numpy() * w).sum() / w.sum()), rel=1e-12)


# -------------------------------------------------------------------- rax peer


def _rax_fns():
    import jax
    import jax.numpy as jnp
    import rax

    def approx_ndcg(s, y, where, temperature=1.0):
        # rax.approx_t12n(rax.ndcg_metric, temperature) written out (see the
        # module docstring): its rank_fn is approx_ranks with this step_fn
        step = functools.partial(jax.nn.sigmoid)
        ranks = functools.partial(rax.utils.approx_ranks, step_fn=lambda x: step(x / temperature))
        return -rax.ndcg_metric(s, y, where=where, rank_fn=ranks)

    lw = functools.partial(rax.dcg_lambdaweight, normalize=True)
    return {
        "pairwise_logistic": lambda s, y, w: rax.pairwise_logistic_loss(s, y, where=w),
        "pairwise_hinge": lambda s, y, w: rax.pairwise_hinge_loss(s, y, where=w),
        "lambda_rank": lambda s, y, w: rax.pairwise_logistic_loss(
            s, y, where=w, lambdaweight_fn=lw
        ),
        "listnet": lambda s, y, w: rax.softmax_loss(s, y / jnp.sum(jnp.where(w, y, 0.0)), where=w),
        "approx_ndcg": lambda s, y, w: approx_ndcg(s, y, w, temperature=0.6),
    }


@pytest.mark.parametrize("name", NAMES)
def test_matches_rax(name, rng):
    pytest.importorskip("rax")
    import jax
    import jax.numpy as jnp

    x64 = getattr(jax, "enable_x64", None)  # jax >= 0.8; before, in jax.experimental
    if x64 is None:
        x64 = jax.experimental.enable_x64
    s, y, m = _inputs(rng)
    with x64():
        f = _rax_fns()[name]
        S, Y, M = jnp.asarray(s), jnp.asarray(y), jnp.asarray(m)
        per = np.asarray(jax.vmap(f)(S, Y, M))
        grad = np.asarray(jax.vmap(jax.grad(f))(S, Y, M))
    v, g = fl.get(name).value_and_grad(s, y, m, reduction="none", **_params(name))
    ok = np.ones(len(s), bool)
    if name == "listnet":
        # rax's normalization makes a list without a relevant item uniform
        # (a nonzero loss); listnet gives it 0 (TF-Ranking's SoftmaxLoss)
        ok = np.where(m, y, 0).sum(-1) > 0
        assert not ok.all() and np.all(v[~ok] == 0)
    assert per.dtype == np.float64
    np.testing.assert_allclose(v[ok], per[ok], rtol=1e-12, atol=1e-14)
    # "none" gradients: the gradient of each list's loss (weights of 1)
    gn = fl.get(name).grad(s, y, m, reduction="sum", **_params(name))
    np.testing.assert_allclose(gn[ok], grad[ok], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g.shape, s.shape)


# ------------------------------------------------------------- hand computed


def test_hand_computed_values():
    s, y = [2.0, 1.0, 3.0], [1.0, 0.0, 0.0]
    # pairs (0, 1): d = 1, (0, 2): d = -1
    assert fl.pairwise_logistic(s, y) == pytest.approx(
        (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(1.0))) / 2, rel=1e-14
    )
    sig = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(
        fl.pairwise_logistic.grad(s, y), [-0.5, (1 - sig) / 2, sig / 2], rtol=1e-14
    )
    assert fl.pairwise_hinge(s, y) == pytest.approx((0.0 + 2.0) / 2, rel=1e-15)
    # listnet: p = (1/2, 0, 1/2)
    lse = np.log(np.exp(2.0) + np.exp(1.0) + np.exp(3.0))
    assert fl.listnet(s, [1.0, 0.0, 1.0]) == pytest.approx(lse - 2.5, rel=1e-14)
    # approx_ndcg of a list whose one relevant item (gain 1) ranks second:
    # rhat = 1 + sigmoid(1) + sigmoid(-0)... computed by the formula
    sc = np.array([-1.0, 1.0, 0.0])
    rhat2 = 1 + 1 / (1 + np.exp(1.0)) + 1 / (1 + np.exp(-1.0))
    assert fl.approx_ndcg(sc, [0.0, 0.0, 1.0]) == pytest.approx(-1 / np.log2(1 + rhat2), rel=1e-14)
    # a masked item changes nothing but its own absence
    a = fl.pairwise_logistic([2.0, 1.0, 3.0, 9.0], [1.0, 0.0, 0.0, 5.0], [1, 1, 1, 0])
    assert a == fl.pairwise_logistic(s, y)


# ---------------------------------------------------------------- shapes, edges


@pytest.mark.parametrize("name", NAMES)
def test_shapes_one_list_and_leading_axes(name, rng):
    loss = fl.get(name)
    kw = _params(name)
    s = rng.normal(size=(2, 3, 6))
    y = rng.integers(0, 3, size=(2, 3, 6)).astype(float)
    flat = loss(s.reshape(6, 6), y.reshape(6, 6), reduction="none", **kw)
    v = loss(s, y, reduction="none", **kw)
    assert v.shape == (2, 3)
    np.testing.assert_array_equal(v.ravel(), flat)
    g = loss.grad(s, y, **kw)
    assert g.shape == s.shape
    one = loss(s[0, 0], y[0, 0], **kw)  # a 1-d array is one list
    assert one == flat[0]
    assert np.shape(loss(s[0, 0], y[0, 0], reduction="none", **kw)) == ()
    # per-list weights broadcast against the lists' shape
    w = rng.uniform(0.5, 2, size=(2, 3))
    a = loss(s, y, sample_weight=w, reduction="sum", **kw)
    assert a == pytest.approx(float(np.sum(v * w)), rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_long_lists_match_the_reference(name, rng):
    # 600 items: row sums longer than one chunk (kChunk = 256), and
    # approx_ndcg's lists too long to keep their pair terms (kStore = 512)
    s, y, m = _inputs(rng, n=3, size=600)
    kw = _params(name)
    v, g = fl.get(name).value_and_grad(s, y, m, reduction="none", **kw)
    rv, rg = R.get(name).value_and_grad(s, y, reduction="none", mask=m, **kw)
    np.testing.assert_allclose(v, rv, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g, rg, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_empty_inputs(name):
    loss = fl.get(name)
    kw = _params(name)
    none = np.zeros((0, 5))
    # no list: the mean of nothing is NaN (as torch's and jax's mean), the sum 0
    assert np.isnan(loss(none, none, **kw))
    assert loss(none, none, reduction="sum", **kw) == 0.0
    assert loss(none, none, reduction="none", **kw).shape == (0,)
    assert loss.grad(none, none, **kw).shape == (0, 5)
    # lists of no item: no pair, no relevant item: 0 each
    e = np.zeros((3, 0))
    np.testing.assert_array_equal(loss(e, e, reduction="none", **kw), np.zeros(3))
    assert loss.grad(e, e, **kw).shape == (3, 0)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_refused_by_name(name):
    loss = fl.get(name)
    kw = _params(name)
    s, y = np.zeros((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError, match="labels"):
        loss(s, np.ones((2, 4)), **kw)
    with pytest.raises(ValueError, match="mask"):
        loss(s, y, np.ones((2, 4), bool), **kw)
    with pytest.raises(TypeError, match="mask"):
        loss(s, y, np.ones((2, 3)), **kw)
    with pytest.raises(ValueError, match="scores"):
        loss(1.0, 1.0, **kw)
    with pytest.raises(TypeError, match="labels"):
        loss(s, **kw)
    with pytest.raises(ValueError, match="labels"):
        loss.grad(s, y, wrt="labels", **kw)


def test_listnet_refuses_negative_labels_and_approx_ndcg_a_bad_temperature():
    with pytest.raises(ValueError, match="labels >= 0"):
        fl.listnet([[1.0, 2.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, -1.0]])
    # a negative label on a masked item is not read
    assert fl.listnet([1.0, 2.0], [1.0, -1.0], [True, False]) == 0.0
    with pytest.raises(ValueError, match="temperature"):
        fl.approx_ndcg([1.0, 2.0], [1.0, 0.0], temperature=0.0)


def test_mask_as_integers_and_keyword():
    s, y = [0.5, 1.5, -1.0], [2.0, 0.0, 1.0]
    a = fl.lambda_rank(s, y, [True, False, True])
    assert fl.lambda_rank(s, y, np.array([1, 0, 1])) == a
    assert fl.lambda_rank(s, y, mask=[True, False, True]) == a
    assert fl.lambda_rank(s, y, None) == fl.lambda_rank(s, y)


def test_accumulator_refuses_ranking_losses():
    with pytest.raises(ValueError, match="cannot be accumulated"):
        fl.Accumulator([fl.pairwise_logistic])


# ---------------------------------------------------------------- fastloss.torch


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("masked", [True, False])
def test_fastloss_torch_passes_the_scores_gradient(name, masked, rng):
    torch = pytest.importorskip("torch")
    import fastloss.torch as flt

    s, y, m = _inputs(rng, n=8, size=5)
    kw = _params(name)
    args = (torch.tensor(y), torch.tensor(m)) if masked else (torch.tensor(y),)
    np_args = (y, m) if masked else (y,)
    for red in ("mean", "none"):
        st = torch.tensor(s, requires_grad=True)
        out = getattr(flt, name)(st, *args, reduction=red, **kw)
        out.sum().backward()
        expected = fl.get(name).grad(s, *np_args, reduction="sum" if red == "none" else red, **kw)
        np.testing.assert_allclose(st.grad.numpy(), expected, rtol=1e-12)
