"""Ranking losses against their peers.

The registry-wide property tests (tests/test_properties.py) already hold every
ranking loss to the NumPy reference, finite differences, threads, ISA levels
and layouts through tests/cases_ranking.py. Here: the peers. In CI, PyTorch
autograd of rax's formulas written out below (sorting for the exact ranks,
where the kernel and the reference count) with rax's reduction (the batch's
valid pairs, or lists with a valid item, as the mean's denominator); where
rax is installed (a test extra), rax itself on the whole batch (float64, its
default ``reduce_fn=jnp.mean``, and ``jnp.sum``). rax 0.4's ``approx_t12n``
fails on jax 0.10 (it calls the removed ``jax.util.wraps``), so the approx_ndcg
check builds the same function from ``rax.ndcg_metric`` and ``rax.utils.approx_ranks`` as
``approx_t12n`` does.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

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
    """Per-list losses of rax's definitions (a pairwise loss: the sum over
    the list's pairs) and each list's count in rax's mean (its valid pairs,
    or 1 for a list with a valid item), in torch (differentiable in s)."""
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
        return t.sum(dim=(1, 2)), pair.sum(dim=(1, 2)).to(s.dtype)
    if name == "listnet":
        ym = torch.where(m, y, torch.zeros_like(y))
        tot = ym.sum(-1, keepdim=True)
        p = ym / torch.where(tot == 0, torch.ones_like(tot), tot)
        logp = torch.log_softmax(torch.where(m, s, torch.full_like(s, -torch.inf)), dim=-1)
        return -torch.where(m, p * logp, torch.zeros_like(p)).sum(-1), m.any(-1).to(s.dtype)
    # approx_ndcg
    sig = torch.sigmoid((s[:, None, :] - s[:, :, None]) / temperature)
    rhat = 1.0 + torch.where(pm & ~eye, sig, torch.zeros_like(sig)).sum(-1)
    gain = torch.where(m, 2.0**y - 1.0, torch.zeros_like(y))
    dcg = torch.where(m, gain / torch.log2(1.0 + rhat), torch.zeros_like(y)).sum(-1)
    return -dcg / _torch_ideal(gain, m), m.any(-1).to(s.dtype)


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
    w = rng.uniform(0.5, 2.0, size=len(s))
    loss = fl.get(name)
    for red in ("none", "sum", "mean"):
        st = torch.tensor(s, requires_grad=True)
        per, cnt = _torch_per_list(name, st, torch.tensor(y), torch.tensor(m), **kw)
        tw = torch.tensor(w)
        # rax's mean: sum(w l) / sum(w count) over the batch
        out = {
            "none": per * tw,
            "sum": (per * tw).sum(),
            "mean": (per * tw).sum() / (cnt * tw).sum(),
        }
        out[red].sum().backward()
        v, g = loss.value_and_grad(s, y, m, reduction=red, sample_weight=w, **kw)
        np.testing.assert_allclose(v, out[red].detach().numpy(), rtol=1e-12, atol=1e-14)
        if red != "none":
            np.testing.assert_allclose(g, st.grad.numpy(), rtol=1e-10, atol=1e-14)


# -------------------------------------------------------------------- rax peer


def _rax_fns(reduce_fn):
    import jax
    import jax.numpy as jnp
    import rax

    r = {"reduce_fn": reduce_fn}

    def approx_ndcg(s, y, where, temperature=1.0):
        # rax.approx_t12n(rax.ndcg_metric, temperature) written out (see the
        # module docstring): its rank_fn is approx_ranks with this step_fn
        ranks = functools.partial(
            rax.utils.approx_ranks, step_fn=lambda x: jax.nn.sigmoid(x / temperature)
        )
        return -rax.ndcg_metric(s, y, where=where, rank_fn=ranks, **r)

    def by_sum(a, where):
        # listnet's label_fn: labels over their (valid) sum where positive; a
        # list without a relevant item keeps its zeros (loss 0)
        tot = jnp.sum(jnp.where(where, a, 0.0), axis=-1, keepdims=True)
        return a / jnp.where(tot > 0, tot, 1.0)

    lw = functools.partial(rax.dcg_lambdaweight, normalize=True)
    return {
        "pairwise_logistic": lambda s, y, w: rax.pairwise_logistic_loss(s, y, where=w, **r),
        "pairwise_hinge": lambda s, y, w: rax.pairwise_hinge_loss(s, y, where=w, **r),
        "lambda_rank": lambda s, y, w: rax.pairwise_logistic_loss(
            s, y, where=w, lambdaweight_fn=lw, **r
        ),
        "listnet": lambda s, y, w: rax.softmax_loss(s, y, where=w, label_fn=by_sum, **r),
        "approx_ndcg": lambda s, y, w: approx_ndcg(s, y, w, temperature=0.6),
    }


@pytest.mark.parametrize("name", NAMES)
def test_matches_rax(name, rng):
    # rax on the whole batch, as it is: its default reduce_fn=jnp.mean (the
    # batch's valid pairs, or lists with a valid item), jnp.sum, and None
    # (pair losses, or per-list values, summed here per list)
    pytest.importorskip("rax")
    import jax
    import jax.numpy as jnp

    x64 = getattr(jax, "enable_x64", None)  # jax >= 0.8; before, in jax.experimental
    if x64 is None:
        x64 = jax.experimental.enable_x64
    s, y, m = _inputs(rng)
    # a list without a relevant item (listnet: 0, counted in its mean)
    y[3] = 0.0
    loss = fl.get(name)
    kw = _params(name)
    with x64():
        S, Y, M = jnp.asarray(s), jnp.asarray(y), jnp.asarray(m)
        for red, fn in (("mean", jnp.mean), ("sum", jnp.sum), ("none", None)):
            f = _rax_fns(fn)[name]
            if red == "none":
                # per pair (flattened, 0 where not a valid pair) or per list
                per = np.asarray(f(S, Y, M)).reshape(len(s), -1).sum(-1)
                np.testing.assert_allclose(
                    loss(s, y, m, reduction="none", **kw), per, rtol=1e-12, atol=1e-14
                )
                continue
            val = float(f(S, Y, M))
            grad = np.asarray(jax.grad(f)(S, Y, M))
            v, g = loss.value_and_grad(s, y, m, reduction=red, **kw)
            assert v == pytest.approx(val, rel=1e-12, abs=1e-14)
            np.testing.assert_allclose(g, grad, rtol=1e-10, atol=1e-14)


def test_mean_counts_pairs_and_lists_as_rax():
    # two lists, 1 and 3 valid pairs: the pairwise mean weighs pairs, not lists
    s = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    y = np.array([[1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    m = np.array([[True, True, False], [True, True, True]])
    per = fl.pairwise_logistic(s, y, m, reduction="none")
    assert fl.pairwise_logistic(s, y, m) == pytest.approx(per.sum() / 4, rel=1e-15)
    w = np.array([3.0, 0.5])
    assert fl.pairwise_logistic(s, y, m, sample_weight=w) == pytest.approx(
        (per * w).sum() / (3 * 1 + 0.5 * 3), rel=1e-15
    )
    # listwise: lists with a valid item; an all-masked list is not counted
    m2 = m.copy()
    m2[0] = False
    per = fl.listnet(s, y, m2, reduction="none")
    assert per[0] == 0.0
    assert fl.listnet(s, y, m2) == per[1]
    assert fl.approx_ndcg(s, y, m2) == fl.approx_ndcg(s[1], y[1])
    # no valid pair in the batch: 0 and a zero gradient (rax's safe_reduce)
    same = np.ones((2, 3))
    for name in ("pairwise_logistic", "pairwise_hinge", "lambda_rank"):
        v, g = fl.get(name).value_and_grad(s, same)
        assert v == 0.0 and not g.any()
    # weights of zero over valid pairs: 0 / 0
    assert np.isnan(fl.pairwise_logistic(s, y, m, sample_weight=[0.0, 0.0]))


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
    one = loss(s[0, 0], y[0, 0], reduction="sum", **kw)  # a 1-d array is one list
    assert one == flat[0]
    assert np.shape(loss(s[0, 0], y[0, 0], reduction="none", **kw)) == ()
    # per-list weights broadcast against the lists' shape
    w = rng.uniform(0.5, 2, size=(2, 3))
    a = loss(s, y, sample_weight=w, reduction="sum", **kw)
    assert a == pytest.approx(float(np.sum(v * w)), rel=1e-12)


@pytest.mark.parametrize("size", [100, 256, 257, 600])
@pytest.mark.parametrize("name", NAMES)
def test_long_lists_match_the_reference(name, size, rng):
    # up to 256 items lists go lane-wise (kLaneMax), approx_ndcg keeping its
    # slopes up to 181 (float32) or 128 (float64) items; longer ones row by
    # row; 600 items: row sums longer than one chunk (kChunk = 256), and
    # approx_ndcg's lists too long to keep their pair terms (kStore = 512)
    s, y, m = _inputs(rng, n=3, size=size)
    kw = _params(name)
    v, g = fl.get(name).value_and_grad(s, y, m, reduction="none", **kw)
    rv, rg = R.get(name).value_and_grad(s, y, reduction="none", mask=m, **kw)
    np.testing.assert_allclose(v, rv, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(g, rg, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_a_lists_bits_do_not_depend_on_the_other_lists(name, rng):
    # the lane-wise kernels take 16 lists at a time, one per vector lane:
    # a list's value and gradient must not depend on which lists share its
    # group (nor the thread count or ISA level: tests/test_properties.py)
    s, y, m = _inputs(rng, n=40, size=9)
    loss = fl.get(name)
    kw = _params(name)
    v = loss(s, y, m, reduction="none", **kw)
    g = loss.grad(s, y, m, reduction="sum", **kw)
    for lo, hi in [(5, 6), (3, 20), (17, 40), (0, 16)]:
        part = (s[lo:hi], y[lo:hi], m[lo:hi])
        np.testing.assert_array_equal(loss(*part, reduction="none", **kw), v[lo:hi])
        np.testing.assert_array_equal(loss.grad(*part, reduction="sum", **kw), g[lo:hi])


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
    # lists of no item: no pair, no relevant item: 0 each, and a mean over
    # no valid pair or list: 0 (rax's safe_reduce)
    e = np.zeros((3, 0))
    np.testing.assert_array_equal(loss(e, e, reduction="none", **kw), np.zeros(3))
    assert loss(e, e, **kw) == 0.0
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


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "case", ["length_1", "tied_scores", "real_labels", "all_zero_labels", "no_mask"]
)
def test_edge_cases_match_rax(name, case):
    # The peer probe's edge cases as a compact test (2400 probe cases agreed):
    # lists of one item, tied scores (lambda_rank's ranks: item order), real
    # and negative labels, lists whose labels are all 0, no mask; float64,
    # rax on the batch with its mean and sum
    pytest.importorskip("rax")
    import jax
    import jax.numpy as jnp

    x64 = getattr(jax, "enable_x64", None)  # as in test_matches_rax
    if x64 is None:
        x64 = jax.experimental.enable_x64
    rng = np.random.default_rng(NAMES.index(name))
    size = 1 if case == "length_1" else 6
    s = rng.normal(size=(4, size))
    y = rng.integers(0, 3, size=(4, size)).astype(np.float64)
    m = rng.random((4, size)) < 0.8
    if case == "tied_scores":
        s = np.round(s)
    if case == "real_labels" and name != "listnet":  # listnet takes labels >= 0
        y = rng.normal(size=(4, size))
    if case == "all_zero_labels":
        y[:2] = 0.0
    if case == "no_mask":
        m = None
    loss = fl.get(name)
    kw = _params(name)
    with x64():
        S, Y = jnp.asarray(s), jnp.asarray(y)
        # no mask for fastloss; rax's where=None equals all-True, which the
        # listnet helper's label_fn needs
        M = jnp.ones(s.shape, bool) if m is None else jnp.asarray(m)
        for red, fn in (("mean", jnp.mean), ("sum", jnp.sum)):
            f = _rax_fns(fn)[name]
            v, g = loss.value_and_grad(s, y, m, reduction=red, **kw)
            assert v == pytest.approx(float(f(S, Y, M)), rel=1e-12, abs=1e-14)
            np.testing.assert_allclose(g, np.asarray(jax.grad(f)(S, Y, M)), rtol=1e-10, atol=1e-14)


# --- memory: no (n_lists, list_size, list_size) array ----------------------------

_MEMORY_PROBE = """
import resource, sys, numpy as np, fastloss as fl
name, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
s = rng.standard_normal((n, size))
y = rng.integers(0, 5, size=(n, size)).astype(np.float64)
m = rng.random((n, size)) < 0.9
out = np.ones_like(s)  # the gradient buffer, touched
fl.set_num_threads(2)
loss = fl.get(name)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
loss.value_and_grad(s, y, m, out=out)
loss(s, y)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024)  # MiB: ru_maxrss is in KiB on Linux
"""


@pytest.mark.parametrize("name", NAMES)
def test_memory_has_no_pair_array(name):
    # The issue: O(list_size^2) work per list but no (n_lists, L, L) array.
    # 2000 lists of 300 float64 items: a pair array would take 1.34 GiB
    # (2000 * 300 * 300 * 8 bytes), the inputs 4.6 MiB each. The peak RSS of
    # a fresh process, its inputs and gradient buffer written first, rises
    # by 5.1-6.6 MiB over a masked value_and_grad and a value (measured:
    # the mask's conversion and per-thread scratch); 32 MiB is 2.3% of the
    # pair array
    env = dict(os.environ, PYTHONPATH=str(Path(fl.__file__).parent.parent))
    r = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, name, "2000", "300"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rise = float(r.stdout)
    assert rise <= 32, f"{name}: peak RSS rose by {rise:.1f} MiB"
