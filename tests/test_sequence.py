"""ctc against torch.nn.functional.ctc_loss (on log_softmax of the logits),
its reductions, impossible alignments, empty targets and batches, and the
checks of its inputs."""

from __future__ import annotations

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: (1e-12, 1e-13), np.float32: (2e-5, 2e-6)}


def _batch(rng, t=12, n=6, c=6, s=4, dtype=np.float64, repeats=True):
    x = (2.0 * rng.normal(size=(t, n, c))).astype(dtype)
    il = rng.integers(t // 2, t + 1, size=n)
    tl = rng.integers(0, s + 1, size=n)
    tl[0] = 0  # an empty target
    tg = rng.integers(1, c, size=(n, s))
    if repeats:
        tg[:, 1] = tg[:, 0]  # a repeated label: a blank must come between
    return x, tg, il, tl


def _torch(x, tg, il, tl, reduction, zero_infinity=False, blank=0):
    xt = torch.tensor(x, requires_grad=True)
    v = F.ctc_loss(
        F.log_softmax(xt, -1),
        torch.tensor(tg),
        torch.tensor(il),
        torch.tensor(tl),
        blank=blank,
        reduction=reduction,
        zero_infinity=zero_infinity,
    )
    v.sum().backward()
    return v.detach().numpy(), xt.grad.numpy()


def _close(a, b, dtype):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * max(1.0, np.max(np.abs(b))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated", "batch_first"])
def test_matches_torch(dtype, reduction, layout):
    rng = np.random.default_rng(1)
    x, tg, il, tl = _batch(rng, dtype=dtype)
    tv, tgr = _torch(x, tg, il, tl, reduction)
    assert np.isfinite(tv).all() and np.isfinite(tgr).all()
    targets = tg
    if layout == "concatenated":
        targets = np.concatenate([tg[i, : tl[i]] for i in range(len(tl))])
    if layout == "batch_first":
        v, g = fl.ctc.value_and_grad(
            x.transpose(1, 0, 2), targets, il, tl, reduction=reduction, batch_first=True
        )
        g = g.transpose(1, 0, 2)
    else:
        v, g = fl.ctc.value_and_grad(x, targets, il, tl, reduction=reduction)
    assert g.dtype == dtype and g.shape == x.shape
    _close(v, tv, dtype)
    _close(g, tgr, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("lengths", ["ints", "0-d", "tuples"])
def test_unbatched_sequence_matches_torch(dtype, reduction, lengths):
    # torch's unbatched form: logits (T, C), targets (S,), lengths scalars
    rng = np.random.default_rng(2)
    x, tg, il, tl = _batch(rng, n=1, dtype=dtype)
    x, tg, il, tl = x[:, 0], tg[0, :3], int(il[0]), 3
    xt = torch.tensor(x, requires_grad=True)
    t0 = (torch.tensor(il), torch.tensor(tl))  # torch takes no Python int
    tlen = {"ints": t0, "0-d": t0, "tuples": ((il,), (tl,))}
    tv = F.ctc_loss(F.log_softmax(xt, -1), torch.tensor(tg), *tlen[lengths], reduction=reduction)
    tv.backward()
    ours = {"ints": (il, tl), "0-d": (np.array(il), np.array(tl)), "tuples": ((il,), (tl,))}
    v, g = fl.ctc.value_and_grad(x, tg, *ours[lengths], reduction=reduction)
    assert np.shape(v) == tuple(tv.shape) == ()
    assert g.shape == x.shape and g.dtype == dtype
    _close(v, tv.detach().numpy(), dtype)
    _close(g, xt.grad.numpy(), dtype)
    # batch_first is the same one sequence; out= gets the (T, C) gradient
    vb, gb = fl.ctc.value_and_grad(x, tg, il, tl, reduction=reduction, batch_first=True)
    np.testing.assert_array_equal(vb, v)
    np.testing.assert_array_equal(gb, g)
    out = np.empty_like(x)
    assert fl.ctc.grad(x, tg, il, tl, reduction=reduction, out=out) is out
    np.testing.assert_array_equal(out, g)
    # a weight of the one sequence scales it, as in a batch of one
    v2 = fl.ctc(x, tg, il, tl, reduction="sum", sample_weight=2.5)
    v1 = fl.ctc(x[:, None], tg[None], [il], [tl], reduction="sum", sample_weight=[2.5])
    assert v2 == v1


def test_long_sequences_and_peaked_logits_match_torch():
    # T = 200, L = 40 and logits scaled up to 60 (probabilities far below
    # float32's smallest normal, where a linear-space recursion underflows):
    # the log-space sums stay finite. float64 equals torch's float64; in
    # float32 the posteriors exp(alpha + beta + nll) lose digits as nll grows
    # (1e4 here: an ulp of 1e-3), as torch's float32 does: ours must be as
    # close to the float64 result as torch's float32 is (measured: within
    # 1.3x on the worst sequence, either way)
    rng = np.random.default_rng(2)
    t, n, c, s = 200, 4, 12, 40
    x = (rng.normal(size=(t, n, c)) * np.array([1.0, 5.0, 30.0, 60.0])[:, None]).astype(np.float32)
    tg = rng.integers(1, c, size=(n, s))
    il, tl = np.full(n, t), np.full(n, s)
    x64 = x.astype(np.float64)
    tv, tgr = _torch(x64, tg, il, tl, "none")
    v, g = fl.ctc.value_and_grad(x64, tg, il, tl, reduction="none")
    np.testing.assert_allclose(v, tv, rtol=1e-12)
    np.testing.assert_allclose(g, tgr, atol=1e-10)
    tv32, tgr32 = _torch(x, tg, il, tl, "none")
    v32, g32 = fl.ctc.value_and_grad(x, tg, il, tl, reduction="none")
    assert np.isfinite(v32).all()
    assert np.all(np.abs(v32 - tv) <= 2 * np.abs(tv32 - tv) + 1e-6 * tv)
    for k in range(n):
        ours, theirs = np.abs(g32[:, k] - tgr[:, k]).max(), np.abs(tgr32[:, k] - tgr[:, k]).max()
        assert ours <= 2 * theirs + 1e-5, k


def test_mean_divides_by_target_lengths_then_averages():
    rng = np.random.default_rng(3)
    x, tg, il, tl = _batch(rng)
    per = fl.ctc(x, tg, il, tl, reduction="none")
    assert fl.ctc(x, tg, il, tl) == pytest.approx(np.mean(per / np.maximum(tl, 1)), rel=1e-13)
    # weights: sum(w l / max(L, 1)) / sum(w), "sum" sum(w l), "none" w l
    w = rng.uniform(0.5, 2.0, size=len(tl))
    m = fl.ctc(x, tg, il, tl, sample_weight=w)
    assert m == pytest.approx(np.sum(w * per / np.maximum(tl, 1)) / np.sum(w), rel=1e-13)
    assert fl.ctc(x, tg, il, tl, reduction="sum", sample_weight=w) == pytest.approx(
        np.sum(w * per), rel=1e-13
    )
    np.testing.assert_allclose(
        fl.ctc(x, tg, il, tl, reduction="none", sample_weight=w), w * per, rtol=1e-15
    )


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_impossible_alignments(zero_infinity):
    # sequence 1: 3 labels with a repeat need 4 steps, it has 3; sequence 2:
    # no steps at all and one label
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 4, 4))
    tg = np.array([[1, 2, 0], [1, 1, 2], [3, 0, 0], [2, 0, 0]])
    il, tl = np.array([5, 3, 0, 0]), np.array([2, 3, 1, 0])
    v, g = fl.ctc.value_and_grad(x, tg, il, tl, reduction="none", zero_infinity=zero_infinity)
    tv, tgr = _torch(x, tg, il, tl, "none", zero_infinity)
    assert np.isinf(tv[1]) != zero_infinity
    np.testing.assert_allclose(v, tv, rtol=1e-13)
    assert v[3] == 0.0  # no steps, no labels: probability 1
    assert not np.isnan(g).any()
    np.testing.assert_array_equal(g[:, 1:3], 0.0)  # torch: NaN without zero_infinity
    np.testing.assert_allclose(g[:, [0, 3]], tgr[:, [0, 3]], atol=1e-13)
    # a scalar reduction: inf, or finite with zero_infinity; never NaN
    m, gm = fl.ctc.value_and_grad(x, tg, il, tl, zero_infinity=zero_infinity)
    assert np.isinf(m) != zero_infinity
    assert not np.isnan(gm).any()


def test_steps_after_the_input_length_get_no_gradient_and_are_not_read():
    rng = np.random.default_rng(5)
    x, tg, il, tl = _batch(rng)
    il[1] = 7
    x2 = x.copy()
    x2[7:, 1] = np.nan
    v, g = fl.ctc.value_and_grad(x2, tg, il, tl)
    assert v == fl.ctc(x, tg, il, tl)
    np.testing.assert_array_equal(g[7:, 1], 0.0)


def test_blank_elsewhere():
    rng = np.random.default_rng(6)
    x, tg, il, tl = _batch(rng)
    tg = tg - 1  # labels in [0, C - 1): the last class is the blank
    c = x.shape[2]
    tv, tgr = _torch(x, tg, il, tl, "mean", blank=c - 1)
    v, g = fl.ctc.value_and_grad(x, tg, il, tl, blank=c - 1)
    _close(v, tv, np.float64)
    _close(g, tgr, np.float64)


def test_empty_batch():
    x = np.zeros((5, 0, 3))
    e = np.zeros(0, dtype=np.int64)
    assert np.isnan(fl.ctc(x, np.zeros((0, 2), dtype=np.int64), e, e))
    assert fl.ctc(x, e, e, e, reduction="sum") == 0.0
    assert fl.ctc(x, e, e, e, reduction="none").shape == (0,)
    assert fl.ctc.grad(x, e, e, e, reduction="sum").shape == (5, 0, 3)


def test_bad_inputs_are_refused_naming_the_argument():
    x = np.zeros((4, 2, 3))
    tg = np.array([[1, 2], [2, 0]])
    il, tl = np.array([4, 4]), np.array([2, 1])
    with pytest.raises(ValueError, match="blank: 3 is not a class"):
        fl.ctc(x, tg, il, tl, blank=3)
    with pytest.raises(ValueError, match="targets: label 3 of sequence 1"):
        fl.ctc(x, np.array([[1, 2], [3, 0]]), il, tl)
    with pytest.raises(ValueError, match="targets: label 0 of sequence 0 .*blank=0"):
        fl.ctc(x, np.array([[0, 2], [2, 0]]), il, tl)
    with pytest.raises(ValueError, match="targets: label -1"):
        fl.ctc(x, np.array([[1, -1], [2, 0]]), il, tl)
    with pytest.raises(ValueError, match=r"input_lengths: 5 at sequence 1 is outside \[0, 4\]"):
        fl.ctc(x, tg, np.array([4, 5]), tl)
    with pytest.raises(ValueError, match="input_lengths: -1"):
        fl.ctc(x, tg, np.array([-1, 4]), tl)
    with pytest.raises(ValueError, match=r"target_lengths: 3 at sequence 0 is outside \[0, 2\]"):
        fl.ctc(x, tg, il, np.array([3, 1]))
    with pytest.raises(ValueError, match="target_lengths: their sum 3 differs"):
        fl.ctc(x, np.array([1, 2]), il, tl)
    with pytest.raises(ValueError, match=r"input_lengths: expected shape \(2,\)"):
        fl.ctc(x, tg, np.array([4]), tl)
    with pytest.raises(ValueError, match="logits: expected a 3-d array"):
        fl.ctc(np.zeros((4, 3, 2, 1)), tg, il, tl)
    with pytest.raises(ValueError, match=r"targets: one sequence's logits \(T, C\)"):
        fl.ctc(np.zeros((4, 3)), tg, 4, 2)
    with pytest.raises(ValueError, match="input_lengths: one sequence's logits"):
        fl.ctc(np.zeros((4, 3)), np.array([1, 2]), il, 2)
    with pytest.raises(ValueError, match="target_lengths: one sequence's logits"):
        fl.ctc(np.zeros((4, 3)), np.array([1, 2]), 4, np.array([[2]]))
    with pytest.raises(ValueError, match="target_lengths: their sum 1 differs"):
        fl.ctc(np.zeros((4, 3)), np.array([1, 2]), 4, 1)  # torch: "Expected ... size 1"
    with pytest.raises(ValueError, match="targets: padded targets need one row per sequence"):
        fl.ctc(x, np.ones((3, 2), dtype=np.int64), il, tl)
    with pytest.raises(TypeError, match="targets: expected integer class labels"):
        fl.ctc(x, tg + 0.5, il, tl)
    with pytest.raises(TypeError, match="zero_infinity"):
        fl.ctc(x, tg, il, tl, zero_infinity="yes")


def test_the_kernel_checks_its_own_inputs():
    # the binding called directly, bypassing the Python checks
    from fastloss import _core
    from fastloss._loss import SEQUENCE

    x = np.zeros((4, 2, 3))
    tg = np.array([[1, 2], [2, 0]])
    il, tl = np.array([4, 4]), np.array([2, 1])
    good = (2, 4, 3, 2, 0, 0, 0, 0)

    def run(dims=good, il=il, tl=tl, tg=tg):
        return _core.run(SEQUENCE, 0, 0, 1, x, inputs=(tg, il, tl), dims=dims, samples=2)

    assert run() == fl.ctc(x, tg, il, tl, reduction="sum")
    with pytest.raises(ValueError, match="input_lengths"):
        run(il=np.array([4, 9]))
    with pytest.raises(ValueError, match="target_lengths"):
        run(tl=np.array([2, 3]))
    with pytest.raises(ValueError, match="blank"):
        run(dims=(2, 4, 3, 2, 0, 3, 0, 0))
    with pytest.raises(ValueError, match="targets: expected 2 elements, got 4"):
        run(dims=(2, 4, 3, 2, 1, 0, 0, 0))  # concatenated: sum(target_lengths) labels
    with pytest.raises(ValueError, match="logits: expected 30 elements"):
        run(dims=(2, 5, 3, 2, 0, 0, 0, 0))


def test_thread_count_and_schedule_do_not_change_a_bit():
    rng = np.random.default_rng(7)
    x, tg, il, tl = _batch(rng, t=30, n=50, c=7, s=10, dtype=np.float32)
    before = fl.get_num_threads()
    try:
        out = []
        for k in (1, 2, 3):
            fl.set_num_threads(k)
            out.append(fl.ctc.value_and_grad(x, tg, il, tl))
    finally:
        fl.set_num_threads(before)
    for v, g in out[1:]:
        assert v == out[0][0]
        np.testing.assert_array_equal(g, out[0][1])


def test_accumulator_refuses_ctc():
    with pytest.raises(ValueError, match="ctc cannot be accumulated"):
        fl.Accumulator(["ctc"])


def test_torch_function_and_module():
    import fastloss.torch as flt

    rng = np.random.default_rng(8)
    x, tg, il, tl = _batch(rng)
    for red in ("mean", "sum", "none"):
        tv, tgr = _torch(x, tg, il, tl, red)
        xt = torch.tensor(x, requires_grad=True)
        v = flt.ctc(xt, torch.tensor(tg), torch.tensor(il), torch.tensor(tl), reduction=red)
        v.sum().backward()
        _close(v.detach().numpy(), tv, np.float64)
        _close(xt.grad.numpy(), tgr, np.float64)
        # the nn.CTCLoss drop-in, on log-probabilities as torch's takes them
        lp = F.log_softmax(torch.tensor(x, requires_grad=True), -1)
        lp.retain_grad()
        ours = flt.CTCLoss(reduction=red)(lp, torch.tensor(tg), torch.tensor(il), torch.tensor(tl))
        ours.sum().backward()
        lp2 = F.log_softmax(torch.tensor(x), -1).requires_grad_(True)
        theirs = torch.nn.CTCLoss(reduction=red)(
            lp2, torch.tensor(tg), torch.tensor(il), torch.tensor(tl)
        )
        theirs.sum().backward()
        _close(ours.detach().numpy(), theirs.detach().numpy(), np.float64)
        _close(lp.grad.numpy(), lp2.grad.numpy(), np.float64)
    # unbatched (T, C) input, as torch's CTCLoss takes it
    lp = F.log_softmax(torch.tensor(x[:, 2]), -1)
    t2 = torch.tensor(tg[2, : tl[2]])
    a = flt.CTCLoss(reduction="sum")(lp, t2, int(il[2]), int(tl[2]))
    b = torch.nn.CTCLoss(reduction="sum")(lp, t2, torch.tensor(il[2]), torch.tensor(tl[2]))
    assert a.item() == pytest.approx(b.item(), rel=1e-12)


@pytest.mark.parametrize("layout", ["padded", "concatenated", "tuple_lengths", "unbatched"])
@pytest.mark.parametrize("blank", [0, 2, 4])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("red", ["mean", "sum", "none"])
def test_ctc_module_edge_cases_match_torch(layout, blank, zero_infinity, red):
    # The peer probe's cases as a compact test: blank anywhere, target length
    # 0 in the batch ("mean" divides by max(length, 1), as torch), shorter
    # inputs, concatenated targets, lengths as tuples, unbatched (T, C); an
    # impossible alignment where zero_infinity makes torch's gradient finite
    import fastloss.torch as flt

    rng = np.random.default_rng(blank + 10 * zero_infinity)
    T, N, C = 7, 4, 5
    il = np.array([7, 5, 6, 2])
    tl = np.array([3, 0, 2, 2 if zero_infinity else 1])  # 2 labels in 2 frames: inf if repeated
    labels = [c for c in range(C) if c != blank]
    tg = rng.choice(labels, size=(N, 3))
    tg[3, :2] = labels[0]  # a repeat: needs a blank between, so impossible in 2 frames
    lp = F.log_softmax(torch.tensor(rng.normal(size=(T, N, C)) * 2), -1)
    targets, ilt, tlt = torch.tensor(tg), torch.tensor(il), torch.tensor(tl)
    if layout == "concatenated":
        targets = torch.tensor(np.concatenate([tg[i, : tl[i]] for i in range(N)]))
    if layout == "tuple_lengths":
        ilt, tlt = tuple(int(v) for v in il), tuple(int(v) for v in tl)
    if layout == "unbatched":
        lp, targets = lp[:, 0], targets[0, : tl[0]]
        ilt, tlt = torch.tensor(il[0]), torch.tensor(tl[0])
    kw = {"blank": blank, "reduction": red, "zero_infinity": zero_infinity}
    a = lp.detach().clone().requires_grad_(True)
    b = lp.detach().clone().requires_grad_(True)
    ours = flt.CTCLoss(**kw)(a, targets, ilt, tlt)
    theirs = torch.nn.CTCLoss(**kw)(b, targets, ilt, tlt)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    go = torch.rand(ours.shape, dtype=ours.dtype, generator=torch.Generator().manual_seed(0))
    ours.backward(go)
    theirs.backward(go)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
