"""fastloss.torch against torch.nn.functional, autograd's gradcheck and a
small training run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import fastloss as fl  # noqa: E402
import fastloss.torch as flt  # noqa: E402
from cases import LIST_INPUTS, array_input_losses, make  # noqa: E402

REDUCTIONS = ("mean", "sum", "none")


def _t(a, requires_grad=False):
    x = torch.from_numpy(np.ascontiguousarray(a))
    return x.requires_grad_(requires_grad) if x.is_floating_point() else x


def _compare(ours, theirs, inputs, red, rtol, atol, seed=0):
    """Forward, and backward with a random grad_output for "none"."""
    a, b = ours(*inputs), theirs(*inputs)
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    diff = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    g = torch.Generator().manual_seed(seed)
    go = torch.randn(a.shape, generator=g, dtype=a.dtype) if red == "none" else None
    ga = torch.autograd.grad(a, diff, go)
    gb = torch.autograd.grad(b, diff, go)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


def _compare_alike(ours, theirs, inputs, red, **kw):
    """:func:`_compare` in float64 of ``ours`` and ``theirs`` called alike:
    ``fn(*inputs, reduction=red, **kw)``."""
    _compare(
        lambda *a: ours(*a, reduction=red, **kw),
        lambda *a: theirs(*a, reduction=red, **kw),
        inputs,
        red,
        1e-12,
        1e-13,
    )


def _pair(rng, shape, dtype, lo=-2.0, hi=2.0):
    x = _t(rng.uniform(lo, hi, shape).astype(dtype), True)
    y = _t(rng.uniform(lo, hi, shape).astype(dtype))
    return x, y


TOL = {np.float32: (2e-5, 1e-6), np.float64: (1e-10, 1e-12)}


# --- modules and functions against torch.nn.functional ---------------------


def _case(name, module, fn, inputs, reduction, **kw):
    """One row of :func:`_peer_cases`: the adapter's ``module`` and torch's
    ``fn`` built with the same ``reduction`` and keywords."""
    return (
        name,
        module(reduction=reduction, **kw),
        lambda *a: fn(*a, reduction=reduction, **kw),
        inputs,
    )


def _peer_cases(rng, dt):
    """(name, ours, theirs, inputs) for every loss torch has, per reduction."""
    out = []
    # weights made once, shared by the modules and torch's functions
    w = _t(rng.uniform(0.2, 2, (4,)).astype(dt))
    pw = _t(rng.uniform(0.5, 3, (4,)).astype(dt))
    cw = _t(rng.uniform(0.3, 2, 5).astype(dt))
    for red in REDUCTIONS:
        x, y = _pair(rng, (7, 5), dt)
        counts = _t(rng.poisson(2.0, (7, 5)).astype(dt))
        out += [
            _case("mse", flt.MSELoss, F.mse_loss, (x, y), red),
            _case("l1", flt.L1Loss, F.l1_loss, (x, y), red),
            _case("huber", flt.HuberLoss, F.huber_loss, (x, y), red, delta=0.7),
            _case("smooth_l1", flt.SmoothL1Loss, F.smooth_l1_loss, (x, y), red, beta=1.3),
            # torch runs l1_loss at beta=0; so does the adapter (mae)
            _case("smooth_l1_beta0", flt.SmoothL1Loss, F.smooth_l1_loss, (x, y), red, beta=0.0),
            _case("poisson", flt.PoissonNLLLoss, F.poisson_nll_loss, (x, counts), red),
            _case(
                "poisson_full",
                flt.PoissonNLLLoss,
                F.poisson_nll_loss,
                (
                    _t(rng.uniform(0.1, 3, (7, 5)).astype(dt), True),
                    _t(rng.poisson(2.0, (7, 5)).astype(dt)),
                ),
                red,
                log_input=False,
                full=True,
            ),
        ]
        p = _t(rng.uniform(0.05, 0.95, (6, 4)).astype(dt), True)
        t = _t(rng.uniform(0, 1, (6, 4)).astype(dt))
        z = _t(rng.normal(0, 2, (6, 4)).astype(dt), True)
        out += [
            _case("bce", flt.BCELoss, F.binary_cross_entropy, (p, t), red),
            _case("bce_w", flt.BCELoss, F.binary_cross_entropy, (p, t), red, weight=w),
            _case(
                "bce_logits",
                flt.BCEWithLogitsLoss,
                F.binary_cross_entropy_with_logits,
                (z, t),
                red,
                weight=w,
                pos_weight=pw,
            ),
        ]
        logits = _t(rng.normal(0, 2, (8, 5)).astype(dt), True)
        labels = _t(rng.integers(0, 5, 8))
        labels[2] = -100
        ce = (flt.CrossEntropyLoss, F.cross_entropy)
        out.append(_case("ce", *ce, (logits, labels), red, weight=cw, label_smoothing=0.1))
        # class axis 1 of N-d input, non-contiguous both sides
        lnd = _t(rng.normal(0, 2, (3, 4, 5, 2)).astype(dt), True)
        tnd = _t(rng.integers(0, 4, (3, 5, 2)))
        out.append(_case("ce_nd", *ce, (lnd, tnd), red))
        probs = torch.softmax(_t(rng.normal(0, 1, (3, 4, 5)).astype(dt)), dim=1)
        lp3 = _t(rng.normal(0, 2, (3, 4, 5)).astype(dt), True)
        out.append(_case("ce_probs", *ce, (lp3, probs), red))
        if red != "none":
            l1 = _t(rng.normal(0, 2, 5).astype(dt), True)
            out.append(_case("ce_unbatched", *ce, (l1, torch.tensor(3)), red))
        mm = (flt.MultiMarginLoss, F.multi_margin_loss)
        out += [
            _case(
                "multi_margin", *mm, (logits, _t(rng.integers(0, 5, 8))), red, margin=0.8, weight=cw
            ),
            _case(
                "multi_margin_p2",
                *mm,
                (logits, _t(rng.integers(0, 5, 8))),
                red,
                p=2,
                margin=0.8,
                weight=cw,
            ),
            _case(
                "multi_margin_unbatched",
                *mm,
                (_t(rng.normal(0, 1, 5).astype(dt), True), torch.tensor(1)),
                red,
            ),
        ]
        lp = torch.log_softmax(_t(rng.normal(0, 1, (6, 4)).astype(dt)), 1).requires_grad_()
        tq = torch.softmax(_t(rng.normal(0, 1, (6, 4)).astype(dt)), 1)
        kl = (flt.KLDivLoss, F.kl_div)
        for kred in (red, "batchmean") if red == "mean" else (red,):
            for log_target in (False, True):
                tt = tq.log() if log_target else tq
                out.append(
                    _case(f"kl_{kred}_{log_target}", *kl, (lp, tt), kred, log_target=log_target)
                )
                # torch's kl_div is element-wise: 1-D and 0-d inputs too
                for shape in ((5,), ()):
                    lp1 = _t(np.log(rng.uniform(0.05, 1, shape)).astype(dt), True)
                    t1 = _t(rng.uniform(0.05, 1, shape).astype(dt))
                    out.append(
                        _case(
                            f"kl_{kred}_{log_target}_{len(shape)}d",
                            *kl,
                            (lp1, t1.log() if log_target else t1),
                            kred,
                            log_target=log_target,
                        )
                    )
        ypm = _t(np.where(rng.uniform(size=(6, 4)) > 0.5, 1.0, -1.0).astype(dt))
        y01 = _t((rng.uniform(size=(6, 4)) > 0.5).astype(dt))
        out += [
            _case("soft_margin", flt.SoftMarginLoss, F.soft_margin_loss, (z, ypm), red),
            _case(
                "multilabel_soft_margin",
                flt.MultiLabelSoftMarginLoss,
                F.multilabel_soft_margin_loss,
                (z, y01),
                red,
                weight=w,
            ),
        ]
        mu = _t(rng.normal(0, 1, (6, 3)).astype(dt), True)
        var = _t(rng.uniform(0.1, 2, (6, 3)).astype(dt), True)
        var1 = _t(rng.uniform(0.1, 2, (6, 1)).astype(dt), True)
        tg = _t(rng.normal(0, 1, (6, 3)).astype(dt))
        tg1 = _t(rng.normal(0, 1, (6, 1)).astype(dt))
        gnll = (flt.GaussianNLLLoss, F.gaussian_nll_loss)
        out += [
            _case("gnll", *gnll, (mu, tg, var), red, full=True),
            _case("gnll_var_bcast", *gnll, (mu, tg, var1), red),
            _case("gnll_target_bcast", *gnll, (mu, tg1, var), red),
        ]
        out += _rest_of_torch_cases(rng, dt, red, cw)
    return out


def _rest_of_torch_cases(rng, dt, red, cw):
    """The torch.nn losses of issue 22's "rest of PyTorch's losses"."""
    lp = torch.log_softmax(_t(rng.normal(0, 2, (8, 5)).astype(dt)), 1).requires_grad_()
    lab = rng.integers(0, 5, 8)
    lab[[1, 5]] = -100  # ignored samples
    lab_ig = _t(np.where(lab == -100, 2, lab))  # ignore_index=2 on these
    lpnd = torch.log_softmax(_t(rng.normal(0, 1, (3, 5, 4)).astype(dt)), 1).requires_grad_()
    tnd = _t(rng.integers(0, 5, (3, 4)))
    dist = _t(rng.uniform(0, 2, (6, 4)).astype(dt), True)
    ypm = _t(np.where(rng.uniform(size=(6, 4)) > 0.5, 1.0, -1.0).astype(dt))
    sc = _t(rng.normal(0, 1, (7, 5)).astype(dt), True)
    mlt = np.full((7, 5), -1, dtype=np.int64)
    for i in range(7):
        k = int(rng.integers(1, 5))
        mlt[i, :k] = rng.permutation(5)[:k]
    mlt[2, 3] = mlt[2, 0]  # a repeated index counts twice, as in ATen
    mlt[3, 4] = 4 if mlt[3, 0] != 4 else 0  # read only up to the first -1
    mlt = _t(mlt)
    z = _t(rng.normal(0, 2, (6, 5)).astype(dt), True)
    y01 = _t((rng.uniform(size=(6, 5)) > 0.5).astype(dt))
    real_targets = _t(rng.uniform(-2, 2, (6, 4)).astype(dt))
    nll = (flt.NLLLoss, F.nll_loss)
    mlm = (flt.MultiLabelMarginLoss, F.multilabel_margin_loss)
    mlsm = (flt.MultiLabelSoftMarginLoss, F.multilabel_soft_margin_loss)
    soft = (flt.SoftMarginLoss, F.soft_margin_loss)
    hinge = (flt.HingeEmbeddingLoss, F.hinge_embedding_loss)
    out = [
        _case("nll", *nll, (lp, _t(lab)), red, weight=cw),
        _case("nll_ignore", *nll, (lp, lab_ig), red, ignore_index=2),
        _case("nll_nd", *nll, (lpnd, tnd), red, weight=cw),
        _case("hinge_embedding", *hinge, (dist, ypm), red, margin=1.3),
        _case("soft_margin_real_targets", *soft, (dist, real_targets), red),
        _case("multilabel_soft_margin_c5", *mlsm, (z, y01), red, weight=cw),
        _case("multilabel_margin", *mlm, (sc, mlt), red),
    ]
    if red != "none":
        lp0 = lp[0].detach().requires_grad_()
        out.append(_case("nll_unbatched", *nll, (lp0, torch.tensor(3)), red))
    sc0, z0 = sc[0].detach().requires_grad_(), z[0].detach().requires_grad_()
    out += [
        _case("multilabel_margin_unbatched", *mlm, (sc0, mlt[0]), red),
        _case("multilabel_soft_margin_unbatched", *mlsm, (z0, y01[0]), red),
    ]
    return out


# torch's kl_div warns that its element-wise "mean" will change meaning; the
# test compares against that "mean" on purpose.
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_modules_match_torch_functional(dt):
    rng = np.random.default_rng(1)
    rtol, atol = TOL[dt]
    cases = _peer_cases(rng, dt)
    assert len(cases) > 40
    for k, (name, ours, theirs, inputs) in enumerate(cases):
        red = ours.reduction
        try:
            _compare(ours, theirs, inputs, "none" if red == "none" else red, rtol, atol, k)
        except AssertionError as exc:
            raise AssertionError(f"{name} reduction={red}: {exc}") from None


def test_functions_match_torch_functional():
    """The catalogue-named functions (core layout) on the same losses."""
    rng = np.random.default_rng(2)
    for red in REDUCTIONS:
        x, y = _pair(rng, (9, 4), np.float64)
        _compare_alike(flt.huber, F.huber_loss, (x, y), red, delta=0.5)
        z = _t(rng.normal(0, 2, (9, 4)), True)
        t = _t((rng.uniform(0, 1, (9, 4)) > 0.5).astype(np.float64))
        _compare_alike(
            flt.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, (z, t), red
        )
        labels = _t(rng.integers(0, 4, 9))
        _compare_alike(flt.cross_entropy, F.cross_entropy, (z, labels), red, label_smoothing=0.2)
        v = _t(rng.uniform(0.5, 2, (9, 4)), True)
        _compare_alike(flt.gaussian_nll, F.gaussian_nll_loss, (x, y, v), red)


def test_finite_at_infinite_logits_where_torch_is_not():
    # Deliberate difference (README): fastloss's BCE-with-logits is finite at
    # +-inf logits; torch gives NaN there.
    z = torch.tensor([float("inf"), -float("inf"), 0.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    v = flt.binary_cross_entropy_with_logits(z, t, reduction="sum")
    assert torch.isfinite(v)
    assert torch.isnan(F.binary_cross_entropy_with_logits(z, t, reduction="sum"))
    v.backward()
    assert torch.isfinite(z.grad).all()


# --- gradcheck for every loss of the catalogue ------------------------------


def _gradcheck_inputs(name, rng):
    pred, target, params = make(name, rng, np.float64, 8)
    L = fl.get(name)
    inputs = ([pred] if target is None else [pred, target]) + [params.pop(n) for n in L.inputs[2:]]
    tensors = []
    for n, a in zip(L.inputs, inputs):
        x = _t(np.asarray(a))
        if n in L.wrt:
            x.requires_grad_(True)
        tensors.append(x)
    return tensors, params


CATALOGUE = [n for n in fl.available() if n != "ciou_loss"]


@pytest.mark.parametrize("name", CATALOGUE)
@pytest.mark.parametrize("red", REDUCTIONS)
def test_gradcheck(name, red):
    # ciou_loss is left out: its gradient treats alpha as a constant, as
    # torchvision's does, so it is deliberately not the exact derivative.
    rng = np.random.default_rng(3)
    tensors, params = _gradcheck_inputs(name, rng)
    fn = getattr(flt, name)
    if name == "rmse" and red == "none":
        # gradcheck feeds one-hot grad_outputs: non-uniform, which rmse's
        # "none" shares refuse (see test_rmse_none_backward).
        return
    assert torch.autograd.gradcheck(
        lambda *xs: fn(*xs, reduction=red, **params), tuple(tensors), eps=1e-6, atol=1e-6, rtol=1e-5
    )


def test_rmse_none_backward():
    x = torch.tensor([3.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 4.0, 1.0], dtype=torch.float64)
    flt.rmse(x, y, reduction="none").sum().backward()
    np.testing.assert_allclose(
        x.grad.numpy(), fl.rmse.grad(x.detach().numpy(), y.numpy(), reduction="sum")
    )
    s = flt.rmse(x, y, reduction="none")
    with pytest.raises(ValueError, match="grad_output: rmse"):
        s.backward(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))


# --- layout, no copies, errors ----------------------------------------------


def test_non_contiguous_inputs():
    rng = np.random.default_rng(4)
    base = _t(rng.normal(0, 1, (10, 8)), True)
    x, y = base.t()[::2, ::2], _t(rng.normal(0, 1, (4, 5)))  # transposed, strided
    assert not x.is_contiguous()
    for red in REDUCTIONS:
        _compare_alike(flt.mse, F.mse_loss, (x, y), red)
        logits = base.t()[::2]  # (4, 10), class axis strided
        labels = _t(rng.integers(0, 10, 4))
        _compare_alike(flt.cross_entropy, F.cross_entropy, (logits, labels), red)


def test_gradient_is_written_by_the_kernel_not_copied():
    # The forward's gradient tensor (the kernel's out=) becomes x.grad as it
    # is: autograd takes it without a copy, and no second pass runs.
    x = torch.randn(100_000, requires_grad=True)
    y = torch.randn(100_000)
    v = flt.mse(x, y)
    saved = v.grad_fn.call.grads[0]
    ptr = saved.data_ptr()
    del saved
    v.backward()
    assert x.grad.data_ptr() == ptr
    np.testing.assert_allclose(
        x.grad.numpy(), fl.mse.grad(x.detach().numpy(), y.numpy()), rtol=1e-6
    )


def test_gradient_for_the_inputs_that_require_it():
    rng = np.random.default_rng(6)
    mu, t = _t(rng.normal(0, 1, (5, 3))), _t(rng.normal(0, 1, (5, 3)))
    var = _t(rng.uniform(0.5, 2, (5, 3)), True)
    for red in REDUCTIONS:
        _compare_alike(flt.gaussian_nll, F.gaussian_nll_loss, (mu, t, var), red)


def test_none_backward_with_sample_weight():
    # Row losses' "none" backward scales the forward's per-row gradient
    # (weighted by the caller's sample_weight) by grad_output.
    rng = np.random.default_rng(7)
    z = _t(rng.normal(0, 2, (6, 4)), True)
    labels = _t(rng.integers(0, 4, 6))
    w = _t(rng.uniform(0.5, 2, 6))
    _compare(
        lambda a, b: flt.cross_entropy(a, b, reduction="none", sample_weight=w),
        lambda a, b: F.cross_entropy(a, b, reduction="none") * w,
        (z, labels),
        "none",
        1e-12,
        1e-13,
    )


def _counting(monkeypatch):
    """Counts the core's kernel runs (every verb goes through Loss._run)."""
    from fastloss._loss import Loss

    calls = []
    run = Loss._run

    def counted(self, *a, **k):
        calls.append(self.name)
        return run(self, *a, **k)

    monkeypatch.setattr(Loss, "_run", counted)
    return calls


def test_none_backward_makes_no_second_pass(monkeypatch):
    # Independent samples: the forward saves each sample's own gradient (the
    # core's "none" gradient) and the backward scales it by grad_output; it
    # used to run a second, weighted gradient pass in backward.
    rng = np.random.default_rng(31)
    logits = _t(rng.normal(size=(6, 5)), True)
    labels = _t(rng.integers(0, 5, 6))
    lnd = _t(rng.normal(size=(3, 5, 4)), True)
    tnd = _t(rng.integers(0, 5, (3, 4)))
    lp = torch.log_softmax(_t(rng.normal(size=(6, 5))), 1).requires_grad_()
    a, p, n = (_t(rng.normal(size=(6, 4)), True) for _ in range(3))
    boxes = np.sort(rng.uniform(0, 4, (6, 2, 2)), axis=1).reshape(6, 4)[:, [0, 2, 1, 3]]
    b1 = _t(boxes, True)
    b2 = _t(boxes + rng.uniform(0, 0.5, (6, 4)))
    cw = _t(rng.uniform(0.5, 2, 5))
    cases = [
        (
            flt.CrossEntropyLoss(reduction="none", weight=cw, label_smoothing=0.1),
            lambda x, y: F.cross_entropy(x, y, reduction="none", weight=cw, label_smoothing=0.1),
            (logits, labels),
        ),
        (
            flt.CrossEntropyLoss(reduction="none"),
            lambda x, y: F.cross_entropy(x, y, reduction="none"),
            (lnd, tnd),
        ),
        (
            flt.NLLLoss(reduction="none"),
            lambda x, y: F.nll_loss(x, y, reduction="none"),
            (lp, labels),
        ),
        (
            flt.MultiMarginLoss(p=2, reduction="none", weight=cw),
            lambda x, y: F.multi_margin_loss(x, y, p=2, weight=cw, reduction="none"),
            (logits, labels),
        ),
        (
            flt.TripletMarginLoss(reduction="none"),
            lambda x, y, z: F.triplet_margin_loss(x, y, z, reduction="none"),
            (a, p, n),
        ),
        (
            flt.KLDivLoss(reduction="none"),
            lambda x, y: F.kl_div(x, y, reduction="none"),
            (lp, torch.softmax(logits.detach(), 1)),
        ),
    ]
    # ctc: time-major (samples on axis 1, a second pass before) and batch-first
    T, N, C = 9, 4, 5
    ctc_x = _t(rng.normal(size=(T, N, C)), True)
    ctc_in = (_t(rng.integers(1, C, (N, 3))), _t(np.full(N, T)), _t(np.array([3, 2, 3, 1])))
    for bf in (False, True):
        x = ctc_x if not bf else _t(ctc_x.detach().transpose(0, 1).numpy().copy(), True)

        def theirs(x, y, il, tl, bf=bf):
            lp = torch.log_softmax(x.transpose(0, 1) if bf else x, -1)
            return F.ctc_loss(lp, y, il, tl, reduction="none")

        cases.append(
            (
                lambda x, y, il, tl, bf=bf: flt.ctc(x, y, il, tl, reduction="none", batch_first=bf),
                theirs,
                (x, *ctc_in),
            )
        )
    for k, (ours, theirs, inputs) in enumerate(cases):
        calls = _counting(monkeypatch)
        v = ours(*inputs)
        assert len(calls) == 1, calls
        go = torch.randn(v.shape, generator=torch.Generator().manual_seed(k), dtype=v.dtype)
        diff = [x for x in inputs if x.requires_grad]
        ga = torch.autograd.grad(v, diff, go)
        assert len(calls) == 1, f"backward ran the kernel again: {calls}"
        gb = torch.autograd.grad(theirs(*inputs), diff, go)
        torch.testing.assert_close(v, theirs(*inputs), rtol=1e-12, atol=1e-13)
        for x, y in zip(ga, gb):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-13)
    # boxes: against the core's own weighted pass (no torch peer here)
    calls = _counting(monkeypatch)
    v = flt.box_iou_loss(b1, b2, reduction="none")
    go = _t(rng.uniform(0.5, 2, 6))
    (g,) = torch.autograd.grad(v, [b1], go)
    assert len(calls) == 1
    ref = fl.box_iou_loss.grad(boxes, b2.numpy(), reduction="sum", sample_weight=go.numpy())
    np.testing.assert_allclose(g.numpy(), ref, rtol=1e-12, atol=1e-14)


def test_none_backward_of_coupled_losses_keeps_its_pass(monkeypatch):
    # ntxent's per-sample losses share the batch's similarities: its "none"
    # backward is one weighted gradient pass (checked by gradcheck too)
    rng = np.random.default_rng(32)
    z1, z2 = _t(rng.normal(size=(4, 3)), True), _t(rng.normal(size=(4, 3)), True)
    calls = _counting(monkeypatch)
    v = flt.ntxent(z1, z2, reduction="none")
    v.backward(_t(rng.uniform(0.5, 2, v.shape)))
    assert calls == ["ntxent", "ntxent"]


def test_cuda_and_meta_tensors_are_refused():
    with pytest.raises(ValueError, match="pred: fastloss.torch runs on CPU tensors only.*meta"):
        flt.mse(torch.empty(3, device="meta"), torch.zeros(3))
    with pytest.raises(ValueError, match="target: .*CPU"):
        flt.mse(torch.zeros(3), torch.empty(3, device="meta"))


def _half_cases(rng):
    """(name, module, torch function, inputs in float32, which are float)."""

    def r(*shape, lo=-2.0, hi=2.0):
        return torch.from_numpy(rng.uniform(lo, hi, shape).astype(np.float32))

    pm = torch.from_numpy(np.where(rng.uniform(size=(6, 4)) > 0.5, 1.0, -1.0).astype(np.float32))
    lab = torch.from_numpy(rng.integers(0, 4, 6))
    probs = torch.softmax(r(6, 4), 1)
    lq = torch.log_softmax(r(6, 4), 1)
    mlsm = flt.MultiLabelSoftMarginLoss, F.multilabel_soft_margin_loss
    we = r(6, 4, lo=0.5, hi=2)
    return [
        ("mse", flt.MSELoss(), F.mse_loss, (r(6, 4), r(6, 4))),
        ("l1", flt.L1Loss(), F.l1_loss, (r(6, 4), r(6, 4))),
        (
            "huber",
            flt.HuberLoss(delta=0.7),
            lambda a, b: F.huber_loss(a, b, delta=0.7),
            (r(6, 4), r(6, 4)),
        ),
        ("smooth_l1", flt.SmoothL1Loss(), F.smooth_l1_loss, (r(6, 4), r(6, 4))),
        ("ce", flt.CrossEntropyLoss(), F.cross_entropy, (r(6, 4), lab)),
        (
            "ce_none",
            flt.CrossEntropyLoss(reduction="none"),
            lambda a, b: F.cross_entropy(a, b, reduction="none"),
            (r(6, 4), lab),
        ),
        ("ce_probs", flt.CrossEntropyLoss(), F.cross_entropy, (r(6, 4), probs)),
        ("nll", flt.NLLLoss(), F.nll_loss, (lq, lab)),
        (
            "bce",
            flt.BCELoss(),
            F.binary_cross_entropy,
            (r(6, 4, lo=0.05, hi=0.95), r(6, 4, lo=0, hi=1)),
        ),
        (
            "bce_logits",
            flt.BCEWithLogitsLoss(),
            F.binary_cross_entropy_with_logits,
            (r(6, 4), r(6, 4, lo=0, hi=1)),
        ),
        (
            "kl",
            flt.KLDivLoss(reduction="batchmean"),
            lambda a, b: F.kl_div(a, b, reduction="batchmean"),
            (lq, probs),
        ),
        ("poisson", flt.PoissonNLLLoss(), F.poisson_nll_loss, (r(6, 4), r(6, 4, lo=0, hi=3))),
        (
            "gnll",
            flt.GaussianNLLLoss(),
            F.gaussian_nll_loss,
            (r(6, 4), r(6, 4), r(6, 4, lo=0.3, hi=2)),
        ),
        ("mlsm", mlsm[0](), mlsm[1], (r(6, 4), r(6, 4, lo=0, hi=1))),
        # float32 weights: torch's result is float32 (its composite promotes)
        (
            "mlsm_cw",
            mlsm[0](weight=we[0]),
            lambda a, b: mlsm[1](a, b, weight=we[0]),
            (r(6, 4), r(6, 4, lo=0, hi=1)),
        ),
        (
            "mlsm_w",
            mlsm[0](weight=we),
            lambda a, b: mlsm[1](a, b, weight=we),
            (r(6, 4), r(6, 4, lo=0, hi=1)),
        ),
        ("hinge_emb", flt.HingeEmbeddingLoss(), F.hinge_embedding_loss, (r(6, 4), pm)),
        ("margin_ranking", flt.MarginRankingLoss(), F.margin_ranking_loss, (r(6), r(6), pm[:, 0])),
        ("triplet", flt.TripletMarginLoss(), F.triplet_margin_loss, (r(6, 4), r(6, 4), r(6, 4))),
    ]


HALF_TOL = {torch.bfloat16: (2e-2, 2e-2), torch.float16: (3e-3, 3e-3)}


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("dt", [torch.bfloat16, torch.float16])
def test_half_precision_inputs(dt, autocast):
    # float16/bfloat16 were refused (TypeError); now computed in float32
    # with the value in the dtype torch returns and gradients in the inputs'
    rng = np.random.default_rng(41)
    rtol, atol = HALF_TOL[dt]
    for name, ours, theirs, inputs32 in _half_cases(rng):
        xa, xb = (
            tuple(x.to(dt).requires_grad_() if x.is_floating_point() else x for x in inputs32)
            for _ in range(2)
        )
        with torch.autocast("cpu", dtype=dt, enabled=autocast):
            a, b = ours(*xa), theirs(*xb)
        assert a.dtype == b.dtype, (name, a.dtype, b.dtype)
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=name)
        go = torch.ones_like(a)
        da = [x for x in xa if x.requires_grad]
        db = [x for x in xb if x.requires_grad]
        ga = torch.autograd.grad(a, da, go, allow_unused=True)
        gb = torch.autograd.grad(b, db, go, allow_unused=True)
        for x, y in zip(ga, gb):
            assert (x is None) == (y is None), name
            if x is None:  # hinge_embedding's target: no gradient, as torch
                continue
            assert x.dtype == y.dtype == dt, name
            torch.testing.assert_close(x, y, rtol=rtol, atol=atol, msg=name)


def test_half_precision_is_computed_in_float32():
    # the value is the float32 computation rounded once (torch's bfloat16
    # kernels round along the way): equal to the float32 call's, cast
    rng = np.random.default_rng(42)
    x = torch.from_numpy(rng.normal(size=(50, 7)).astype(np.float32)).to(torch.bfloat16)
    y = torch.from_numpy(rng.integers(0, 7, 50))
    v = flt.cross_entropy(x, y)
    assert v.dtype == torch.bfloat16
    assert v == flt.cross_entropy(x.float(), y).to(torch.bfloat16)
    w = torch.ones(7, dtype=torch.float16)  # a half class_weight too
    torch.testing.assert_close(
        flt.cross_entropy(x.float(), y, class_weight=w), v.float(), rtol=8e-3, atol=0
    )


def test_double_backward_is_refused():
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(
        flt.mse(x, torch.zeros(5, dtype=torch.float64)), x, create_graph=True
    )
    with pytest.raises(RuntimeError, match="second derivatives"):
        g.sum().backward()


def test_second_backward_through_one_graph():
    # retain_graph=True: the saved gradient went to the first backward; the
    # second runs the gradient pass again and gets the same result.
    x = torch.randn(5, requires_grad=True)
    v = flt.mse(x, torch.zeros(5))
    v.backward(retain_graph=True)
    g1 = x.grad.clone()
    v.backward()
    torch.testing.assert_close(x.grad, 2 * g1)


def test_target_requiring_grad_is_refused_where_torch_has_no_such_loss():
    # torch.nn losses give the target's gradient (test_target_gradients_*);
    # a catalogue loss with no target gradient refuses rather than give none
    x = torch.rand(2, 5, requires_grad=True)
    with pytest.raises(
        ValueError, match="target: fastloss.mape is differentiable with respect to pred only"
    ):
        flt.mape(x, torch.rand(2, 5, requires_grad=True))
    # torch refuses soft_margin_loss's target too ("not differentiable with
    # respect to argument 'target'")
    y = torch.ones(2, 5, requires_grad=True)
    with pytest.raises(RuntimeError, match="target"):
        F.soft_margin_loss(x, y)
    with pytest.raises(ValueError, match="target: fastloss.soft_margin is differentiable"):
        flt.SoftMarginLoss()(x, y)


# --- gradients w.r.t. targets (torch gives them) ------------------------------


def _grads_alike(ours, theirs, inputs, red, rtol=1e-10, atol=1e-12, seed=0):
    """Forward and backward of both on the same inputs, every input that
    requires grad (targets included); an input torch gives no gradient
    (None) gets none from ours either."""
    a, b = ours(*inputs), theirs(*inputs)
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    diff = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    g = torch.Generator().manual_seed(seed)
    go = torch.randn(a.shape, generator=g, dtype=a.dtype) if red == "none" else None
    ga = torch.autograd.grad(a, diff, go, allow_unused=True)
    gb = torch.autograd.grad(b, diff, go, allow_unused=True)
    for k, (x, y) in enumerate(zip(ga, gb)):
        assert (x is None) == (y is None), f"input {k}: {x} against torch's {y}"
        if x is not None:
            torch.testing.assert_close(x, y, rtol=rtol, atol=atol)


def _target_cases(rng, red):
    """(name, ours, theirs, inputs): float64, targets requiring grad."""

    def r(*shape, lo=-2.0, hi=2.0, grad=True):
        return _t(rng.uniform(lo, hi, shape), grad)

    def pm(*shape, grad=True):
        return _t(np.where(rng.uniform(size=shape) > 0.5, 1.0, -1.0), grad)

    w = _t(rng.uniform(0.2, 2, (4,)))
    pw = _t(rng.uniform(0.5, 3, (4,)))
    cw = _t(rng.uniform(0.3, 2, (5,)))
    x, y = r(7, 4), r(7, 4)
    prob = _t(torch.softmax(_t(rng.normal(0, 1, (3, 5, 2))), 1).numpy(), True)
    lq = torch.log_softmax(_t(rng.normal(0, 1, (6, 4))), 1).requires_grad_()
    tq = _t(torch.softmax(_t(rng.normal(0, 1, (6, 4))), 1).numpy(), True)
    kl = (flt.KLDivLoss, F.kl_div)
    bcel = (flt.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits)
    mlsm = (flt.MultiLabelSoftMarginLoss, F.multilabel_soft_margin_loss)
    out = [
        _case("mse", flt.MSELoss, F.mse_loss, (x, y), red),
        # only the target requires grad: pred gets none
        _case("mse_target_only", flt.MSELoss, F.mse_loss, (x.detach(), y), red),
        _case("l1", flt.L1Loss, F.l1_loss, (x, y), red),
        _case("huber", flt.HuberLoss, F.huber_loss, (x, y), red, delta=0.7),
        _case("smooth_l1", flt.SmoothL1Loss, F.smooth_l1_loss, (x, y), red, beta=1.3),
        _case("smooth_l1_0", flt.SmoothL1Loss, F.smooth_l1_loss, (x, y), red, beta=0.0),
        _case("poisson", flt.PoissonNLLLoss, F.poisson_nll_loss, (x, r(7, 4, lo=0, hi=4)), red),
        _case(
            "poisson_full",
            flt.PoissonNLLLoss,
            F.poisson_nll_loss,
            (r(7, 4, lo=0.1, hi=3), r(7, 4, lo=0.2, hi=4)),  # t on both sides of 1
            red,
            log_input=False,
            full=True,
        ),
        _case(
            "gnll",
            flt.GaussianNLLLoss,
            F.gaussian_nll_loss,
            (x, y, r(7, 4, lo=0.2, hi=2)),
            red,
        ),
        _case(
            "gnll_target_bcast",
            flt.GaussianNLLLoss,
            F.gaussian_nll_loss,
            (x, r(7, 1), r(7, 1, lo=0.2, hi=2)),
            red,
            full=True,
        ),
        _case(
            "bce",
            flt.BCELoss,
            F.binary_cross_entropy,
            (r(6, 4, lo=0.05, hi=0.95), r(6, 4, lo=0, hi=1)),
            red,
            weight=w,
        ),
        _case("bce_logits", *bcel, (r(6, 4), r(6, 4, lo=0, hi=1)), red, weight=w, pos_weight=pw),
        _case("bce_logits_plain", *bcel, (r(6, 4), r(6, 4, lo=0, hi=1)), red),
        _case("mlsm", *mlsm, (r(6, 5), r(6, 5, lo=0, hi=1)), red, weight=cw),
        _case("mlsm_unbatched", *mlsm, (r(5), r(5, lo=0, hi=1)), red),
        _case(
            "ce_probs",
            flt.CrossEntropyLoss,
            F.cross_entropy,
            (r(3, 5, 2), prob),
            red,
            weight=cw,
            label_smoothing=0.15,
        ),
        _case(
            "ce_probs_2d",
            flt.CrossEntropyLoss,
            F.cross_entropy,
            (r(4, 5), _t(torch.softmax(_t(rng.normal(size=(4, 5))), 1).numpy(), True)),
            red,
        ),
        _case(
            "margin_ranking",
            flt.MarginRankingLoss,
            F.margin_ranking_loss,
            (r(8), r(8), pm(8)),
            red,
            margin=0.3,
        ),
        # torch gives the target no gradient in these (it only picks a branch)
        _case(
            "hinge_embedding",
            flt.HingeEmbeddingLoss,
            F.hinge_embedding_loss,
            (r(6, 4), pm(6, 4)),
            red,
            margin=1.3,
        ),
        _case(
            "cosine_embedding",
            flt.CosineEmbeddingLoss,
            F.cosine_embedding_loss,
            (r(6, 4), r(6, 4), pm(6)),
            red,
            margin=0.2,
        ),
    ]
    for kred in (red, "batchmean") if red == "mean" else (red,):
        for log_target in (False, True):
            t = _t(tq.detach().log().numpy(), True) if log_target else tq
            out.append(_case(f"kl_{kred}_{log_target}", *kl, (lq, t), kred, log_target=log_target))
    return out


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")
@pytest.mark.parametrize("red", REDUCTIONS)
def test_target_gradients_match_torch(red):
    # torch.nn.functional differentiates w.r.t. a floating target; they were
    # refused ("target: fastloss.mse is differentiable with respect to pred only")
    rng = np.random.default_rng(21)
    for k, (name, ours, theirs, inputs) in enumerate(_target_cases(rng, red)):
        try:
            _grads_alike(ours, theirs, inputs, red, seed=k)
        except AssertionError as exc:
            raise AssertionError(f"{name} reduction={red}: {exc}") from None


@pytest.mark.parametrize("red", REDUCTIONS)
def test_target_gradients_with_sample_weight(red):
    # the closed forms weigh each sample as the core's reduction does
    rng = np.random.default_rng(22)
    x = _t(rng.uniform(0.1, 3, (6, 4)), True)
    t = _t(rng.uniform(0.2, 4, (6, 4)), True)
    sw = _t(rng.uniform(0.5, 2, (6, 1)))

    def theirs(a, b):
        per = F.poisson_nll_loss(a, b, log_input=False, full=True, reduction="none") * sw
        return {"none": per, "sum": per.sum(), "mean": per.sum() / sw.expand(6, 4).sum()}[red]

    _grads_alike(
        lambda a, b: flt.poisson_nll(
            a, b, log_input=False, full=True, reduction=red, sample_weight=sw
        ),
        theirs,
        (x, t),
        red,
    )
    z = _t(rng.normal(size=(6, 5)), True)
    p = _t(torch.softmax(_t(rng.normal(size=(6, 5))), 1).numpy(), True)
    rw = _t(rng.uniform(0.5, 2, 6))

    def ce(a, b):
        per = F.cross_entropy(a, b, reduction="none", label_smoothing=0.1) * rw
        return {"none": per, "sum": per.sum(), "mean": per.sum() / rw.sum()}[red]

    _grads_alike(
        lambda a, b: flt.cross_entropy(a, b, reduction=red, sample_weight=rw, label_smoothing=0.1),
        ce,
        (z, p),
        red,
    )


@pytest.mark.parametrize("red", REDUCTIONS)
def test_bce_weight_broadcasts_as_torch(red):
    # torch broadcasts BCE's weight against the input (trailing axes
    # aligned); the adapter passed it as fastloss's sample_weight, which
    # refused a (C,) weight on (C, C) input and took an (N,) weight on
    # (N, C) as per-row where torch raises
    rng = np.random.default_rng(51)
    for shape, wshape in [((5, 5), (5,)), ((6, 4), (4,)), ((6, 4), (6, 1)), ((2, 3, 4), (3, 1))]:
        p = _t(rng.uniform(0.05, 0.95, shape), True)
        z = _t(rng.normal(size=shape), True)
        t = _t(rng.uniform(0, 1, shape), True)
        w = _t(rng.uniform(0.2, 2, wshape))
        _grads_alike(
            flt.BCELoss(weight=w, reduction=red),
            lambda a, b, w=w: F.binary_cross_entropy(a, b, weight=w, reduction=red),
            (p, t),
            red,
        )
        _grads_alike(
            flt.BCEWithLogitsLoss(weight=w, reduction=red),
            lambda a, b, w=w: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction=red),
            (z, t),
            red,
        )
    p, t = torch.rand(6, 4, dtype=torch.float64), torch.rand(6, 4, dtype=torch.float64)
    w = torch.rand(6, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy(p, t, weight=w)
    with pytest.raises(RuntimeError):
        F.binary_cross_entropy_with_logits(p, t, weight=w)
    for cls in (flt.BCELoss, flt.BCEWithLogitsLoss):
        with pytest.raises(ValueError, match=r"weight: shape \(6,\) does not broadcast"):
            cls(weight=w, reduction=red)(p, t)


@pytest.mark.parametrize("red", REDUCTIONS)
def test_multilabel_soft_margin_weight_per_element(red):
    # torch broadcasts the weight against the (N, C) losses: an (N, C) or
    # (N, 1) weight was refused ("class_weight must have shape (C,)")
    rng = np.random.default_rng(52)
    z = _t(rng.normal(size=(6, 4)), True)
    y = _t((rng.uniform(size=(6, 4)) > 0.5).astype(np.float64), True)
    for wshape in [(6, 4), (6, 1), (1, 4), (1,), ()]:
        w = torch.tensor(rng.uniform(0.2, 2, wshape))
        _grads_alike(
            flt.MultiLabelSoftMarginLoss(weight=w, reduction=red),
            lambda a, b, w=w: F.multilabel_soft_margin_loss(a, b, weight=w, reduction=red),
            (z, y),
            red,
        )


TARGET_GRADCHECK = [
    ("mse", {}),
    ("mae", {}),
    ("huber", {"delta": 0.5}),
    ("smooth_l1", {"beta": 0.7}),
    ("log_cosh", {}),
    ("pseudo_huber", {}),
    ("quantile", {"quantile": 0.3}),
    ("rmse", {}),
    ("poisson_nll", {"log_input": False, "full": True}),
    ("kl_div", {}),
    ("kl_div", {"log_target": True}),
    ("binary_cross_entropy", {}),
    ("binary_cross_entropy_with_logits", {"pos_weight": np.array([0.5, 2.0, 1.5])}),
    ("multilabel_soft_margin", {"class_weight": np.array([0.5, 2.0, 1.5])}),
    ("cross_entropy", {"class_weight": np.array([0.5, 2.0, 1.5]), "label_smoothing": 0.2}),
    ("gaussian_nll", {"full": True}),
    ("margin_ranking", {"margin": 0.2}),
]


@pytest.mark.parametrize(
    "name,params", TARGET_GRADCHECK, ids=[f"{n}{i}" for i, (n, _) in enumerate(TARGET_GRADCHECK)]
)
@pytest.mark.parametrize("red", REDUCTIONS)
def test_target_gradcheck(name, params, red):
    if name == "rmse" and red == "none":
        return  # non-uniform grad_outputs refused (test_rmse_none_backward)
    rng = np.random.default_rng(23)
    shape = (5, 3)
    if name in ("kl_div", "cross_entropy"):
        pred = np.log(rng.dirichlet(np.ones(3), 5)) if name == "kl_div" else rng.normal(size=shape)
        t = rng.dirichlet(np.ones(3), 5)
        if params.get("log_target"):
            t = np.log(t)
    elif name == "binary_cross_entropy":
        pred, t = rng.uniform(0.1, 0.9, shape), rng.uniform(0, 1, shape)
    elif name == "poisson_nll":
        pred, t = rng.uniform(0.2, 3, shape), rng.uniform(0.3, 4, shape)
    else:
        # away from the kinks (|pred - target| not near 0, beta, delta)
        pred = rng.normal(size=shape)
        t = pred + rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 0.3, shape)
        if name in ("binary_cross_entropy_with_logits", "multilabel_soft_margin"):
            t = rng.uniform(0, 1, shape)
    inputs = [_t(pred, True), _t(t, True)]
    if name == "gaussian_nll":
        inputs.append(_t(rng.uniform(0.5, 2, shape), True))
    if name == "margin_ranking":
        inputs.append(_t(rng.uniform(-1, 1, shape), True))
    fn = getattr(flt, name)
    assert torch.autograd.gradcheck(
        lambda *xs: fn(*xs, reduction=red, **params), tuple(inputs), eps=1e-6, atol=1e-6, rtol=1e-5
    )


def test_no_grad_runs_the_value_alone():
    x = torch.randn(5, requires_grad=True)
    with torch.no_grad():
        v = flt.mse(x, torch.zeros(5))
    assert not v.requires_grad
    assert v.dtype == torch.float32 and v.dim() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        flt.mse(torch.zeros(2), torch.zeros(2), reduction="batchmean")
    with pytest.raises(ValueError, match="reduction"):
        flt.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="p: only 1 and 2"):
        flt.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="target: class index 7"):
        flt.MultiLabelMarginLoss()(torch.zeros(2, 3), torch.tensor([[0, -1, 1], [7, -1, 0]]))
    with pytest.raises(TypeError, match="unexpected keyword argument 'delt'"):
        flt.huber(torch.zeros(2), torch.zeros(2), delt=1.0)
    with pytest.raises(ValueError, match="delta"):
        flt.HuberLoss(delta=-1.0)(torch.zeros(2), torch.zeros(2))


def test_catalogue_modules():
    rng = np.random.default_rng(5)
    # perceptual's module takes lists of tensors: tests/test_perceptual.py
    for name in array_input_losses(fl.available()):
        if name in flt._TORCH_NAMED:
            continue
        cls = getattr(flt, flt._camel(name))
        tensors, params = _gradcheck_inputs(name, rng)
        v = cls(**params)(*tensors)
        ref = getattr(fl, name)(*[t.detach().numpy() for t in tensors], **params)
        np.testing.assert_allclose(v.item(), ref, rtol=1e-12)


def test_import_fastloss_does_not_import_torch():
    code = "import sys, fastloss; fastloss.mse([1.0], [0.0]); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- a small model trained both ways ----------------------------------------


def _train(loss_fn, target, head=None, epochs=5):
    """SGD on a small MLP, ``loss_fn(head(model(x)), target(batch))``; the
    curve of the loss per step."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    X = torch.randn(256, 10, generator=g)
    y = (X[:, 0] * 2 + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    targets = {
        "labels": y,
        "onehot": F.one_hot(y, 3).float(),
        "values": torch.stack([X[:, 0] - X[:, 1], X[:, 2] * 0.5, X[:, 3].abs()], 1),
        "probs": torch.softmax(2 * X[:, :3], 1),
    }
    T = targets[target]
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    curve = []
    for _ in range(epochs):
        for i in range(0, 256, 64):
            opt.zero_grad()
            out = model(X[i : i + 64])
            loss = loss_fn(out if head is None else head(out), T[i : i + 64])
            loss.backward()
            opt.step()
            curve.append(loss.item())
    return curve


def _log_softmax(x):
    return torch.log_softmax(x, 1)


TRAINING = {
    "CrossEntropyLoss": ({}, "labels", None),
    "MSELoss": ({}, "values", None),
    "HuberLoss": ({"delta": 0.5}, "values", None),
    "BCEWithLogitsLoss": ({"pos_weight": torch.tensor([1.0, 2.0, 0.5])}, "onehot", None),
    "NLLLoss": ({"weight": torch.tensor([1.0, 0.5, 2.0])}, "labels", _log_softmax),
    "KLDivLoss": ({"reduction": "batchmean"}, "probs", _log_softmax),
    "MultiMarginLoss": ({"margin": 0.5}, "labels", None),
}


@pytest.mark.parametrize("name", list(TRAINING))
def test_training_curve_matches_torch(name):
    kw, target, head = TRAINING[name]
    ours = _train(getattr(flt, name)(**kw), target, head)
    theirs = _train(getattr(torch.nn, name)(**kw), target, head)
    assert ours[-1] < ours[0] * 0.9  # it learns
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)


# --- found by a randomized probe against the peers (issue 20/22/23 cases) ---


@pytest.mark.parametrize("red", REDUCTIONS)
def test_clip_without_logit_scale(red):
    # flt.clip(img, txt) takes CLIP's default scale 1/0.07 as the core does
    # (it was refused: the adapter had a rule of its own for optional inputs)
    rng = np.random.default_rng(11)
    img = _t(rng.normal(size=(6, 4)), True)
    txt = _t(rng.normal(size=(6, 4)), True)

    def formula(a, b, s=1 / 0.07):
        u, v = F.normalize(a, dim=1), F.normalize(b, dim=1)
        S = s * u @ v.T
        n = torch.arange(S.shape[0])
        per = F.cross_entropy(S, n, reduction="none") + F.cross_entropy(S.T, n, reduction="none")
        per = per / 2
        return per if red == "none" else getattr(per, red)()

    _compare(lambda a, b: flt.clip(a, b, reduction=red), formula, (img, txt), red, 1e-10, 1e-12)
    _compare(lambda a, b: flt.ClipLoss(reduction=red)(a, b), formula, (img, txt), red, 1e-10, 1e-12)
    s = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    _compare(
        lambda a, b, c: flt.clip(a, b, logit_scale=c, reduction=red),
        formula,
        (img, txt, s),
        red,
        1e-10,
        1e-12,
    )


@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_modules_take_leading_axes(red, swap):
    # torch's triplet losses take (..., D): pairwise_distance reduces the
    # last axis only (they were refused for more than two axes)
    rng = np.random.default_rng(12)
    a, p, n = (_t(rng.normal(size=(2, 3, 4)), True) for _ in range(3))
    _compare(
        flt.TripletMarginLoss(margin=0.5, p=1.5, swap=swap, reduction=red),
        lambda x, y, z: F.triplet_margin_loss(x, y, z, margin=0.5, p=1.5, swap=swap, reduction=red),
        (a, p, n),
        red,
        1e-10,
        1e-12,
    )
    _compare(
        flt.TripletMarginWithDistanceLoss(swap=swap, reduction=red),
        lambda x, y, z: F.triplet_margin_with_distance_loss(x, y, z, swap=swap, reduction=red),
        (a, p, n),
        red,
        1e-10,
        1e-12,
    )


@pytest.mark.parametrize("red", REDUCTIONS)
def test_multi_margin_one_class(red):
    # torch gives 0 on one class (no class besides the target); the core's
    # multiclass_hinge needs two, so the module answers (it was refused)
    rng = np.random.default_rng(13)
    w = _t(np.array([2.0]))
    for x, y in [
        (_t(rng.normal(size=(3, 1)), True), _t(np.zeros(3, dtype=np.int64))),
        (_t(rng.normal(size=1), True), torch.tensor(0)),
    ]:
        _compare(
            flt.MultiMarginLoss(p=2, weight=w, reduction=red),
            lambda a, b: F.multi_margin_loss(a, b, p=2, weight=w, reduction=red),
            (x, y),
            red,
            1e-12,
            1e-12,
        )
    with pytest.raises(ValueError, match="target"):
        flt.MultiMarginLoss()(torch.zeros(2, 1), torch.tensor([0, 1]))


@pytest.mark.parametrize("red", REDUCTIONS)
def test_multi_margin_unbatched_shapes(red):
    # a 0-d input is one class (torch gives 0; it was a bare IndexError) and
    # an unbatched "none" result has the target's shape, () or (1,) (a (1,)
    # target gave ())
    rng = np.random.default_rng(61)
    x1 = _t(rng.normal(size=5), True)
    for x, y in [
        (_t(np.array(0.7), True), torch.tensor(0)),
        (_t(np.array(0.7), True), torch.tensor([0])),
        (x1, torch.tensor([3])),
        (x1, torch.tensor(3)),
    ]:
        for p in (1, 2):
            ours = flt.MultiMarginLoss(p=p, reduction=red)(x, y)
            theirs = F.multi_margin_loss(x, y, p=p, reduction=red)
            assert ours.shape == theirs.shape
            _grads_alike(
                flt.MultiMarginLoss(p=p, reduction=red),
                lambda a, b, p=p: F.multi_margin_loss(a, b, p=p, reduction=red),
                (x, y),
                red,
            )
    with pytest.raises(ValueError, match=r"target: an unbatched input"):
        flt.MultiMarginLoss()(x1, torch.tensor([1, 2]))


def test_kl_div_log_target_minus_inf_is_zero_where_torch_is_nan():
    # Documented departure (kl_div's docstring): a log-target of -inf (t = 0)
    # counts 0, as t = 0 does without log_target; torch's value is NaN there
    # (its gradient, 0, is the same)
    lp = torch.log(torch.tensor([[0.3, 0.7]], dtype=torch.float64)).requires_grad_()
    t = torch.tensor([[-float("inf"), 0.0]], dtype=torch.float64)
    ours = flt.KLDivLoss(reduction="sum", log_target=True)(lp, t)
    assert torch.isnan(F.kl_div(lp, t, reduction="sum", log_target=True))
    torch.testing.assert_close(ours, -lp[0, 1].detach())
    ours.backward()
    assert lp.grad.tolist() == [[0.0, -1.0]]


def test_cosine_embedding_zero_norm_epsilon():
    # Documented departure (cosine_embedding's docstring): torch's float64
    # kernel adds its EPSILON rounded to float32, fastloss 1e-12 exactly; the
    # gradient at a zero vector shows it (about 1 / sqrt(1e-12 |x2|^2))
    x1 = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    x2 = torch.ones(1, 1, dtype=torch.float64)
    y = torch.tensor([1.0], dtype=torch.float64)
    flt.cosine_embedding(x1, x2, y, reduction="sum").backward()
    ours = x1.grad.item()
    x1.grad = None
    F.cosine_embedding_loss(x1, x2, y, reduction="sum").backward()
    theirs = x1.grad.item()
    assert ours == pytest.approx(-1 / np.sqrt(1e-12 * (1 + 1e-12)), rel=1e-14)
    eps32 = float(np.float32(1e-12))
    assert theirs == pytest.approx(-1 / np.sqrt(eps32 * (1 + eps32)), rel=1e-14)


# -- torch.func -------------------------------------------------------------


def _func_cases(rng):
    """(name, ours, theirs, inputs, argnums): torch.nn.functional's peer."""
    x, t = _t(rng.normal(size=(6, 4))), _t(rng.normal(size=(6, 4)))
    z, y = _t(rng.normal(size=(6, 5))), _t(rng.integers(0, 5, 6))
    a, p, n = (_t(rng.normal(size=(6, 3))) for _ in range(3))
    v = _t(rng.uniform(0.5, 2, (6, 4)))
    return [
        ("mse", flt.mse, F.mse_loss, (x, t), 0),
        (
            "huber",
            lambda a, b: flt.huber(a, b, delta=0.5),
            lambda a, b: F.huber_loss(a, b, delta=0.5),
            (x, t),
            0,
        ),
        ("cross_entropy", flt.cross_entropy, F.cross_entropy, (z, y), 0),
        (
            "bce_with_logits",
            flt.binary_cross_entropy_with_logits,
            F.binary_cross_entropy_with_logits,
            (x, t.sigmoid()),
            (0, 1),
        ),
        ("poisson_nll", flt.poisson_nll, F.poisson_nll_loss, (x, t.abs()), (0, 1)),
        ("gaussian_nll", flt.gaussian_nll, F.gaussian_nll_loss, (x, t, v), (0, 2)),
        ("triplet_margin", flt.triplet_margin, F.triplet_margin_loss, (a, p, n), (0, 1, 2)),
    ]


def test_torch_func_grad_vmap_and_jacrev():
    # functorch runs the setup_context form (_FuncLoss): torch.func.grad
    # (several argnums, a target's gradient too), vmap of the loss, vmap of
    # grad (per-sample gradients) and jacrev of "none", against the same
    # transforms of torch.nn.functional; before, torch refused the Function
    rng = np.random.default_rng(41)
    func = torch.func
    for name, ours, theirs, inputs, argnums in _func_cases(rng):
        ga = func.grad(ours, argnums=argnums)(*inputs)
        gb = func.grad(theirs, argnums=argnums)(*inputs)
        for u, w in zip(
            ga if isinstance(ga, tuple) else (ga,), gb if isinstance(gb, tuple) else (gb,)
        ):
            torch.testing.assert_close(u, w, rtol=1e-12, atol=1e-13, msg=name)
        va, ga2 = func.grad_and_value(ours)(*inputs)[::-1]
        torch.testing.assert_close(va, theirs(*inputs), rtol=1e-12, atol=1e-13, msg=name)
        torch.testing.assert_close(
            ga2, gb[0] if isinstance(gb, tuple) else gb, rtol=1e-12, atol=1e-13
        )

        # per-sample gradients: each row's loss differentiated alone
        def one(f):
            return lambda *xs: f(*(x[None] for x in xs))

        pa = func.vmap(func.grad(one(ours)))(*inputs)
        # row by row for torch (its gaussian_nll_loss checks var's values,
        # which vmap cannot)
        pb = torch.stack([func.grad(theirs)(*(x[i : i + 1] for x in inputs))[0] for i in range(6)])
        torch.testing.assert_close(pa, pb, rtol=1e-12, atol=1e-13, msg=name)
    x, t = _t(rng.normal(size=(3, 4))), _t(rng.normal(size=(3, 4)))
    ja = func.jacrev(lambda a: flt.smooth_l1(a, t, reduction="none"))(x)
    jb = func.jacrev(lambda a: F.smooth_l1_loss(a, t, reduction="none"))(x)
    torch.testing.assert_close(ja, jb, rtol=1e-12, atol=1e-13)
    batch = _t(rng.normal(size=(5, 3, 4)))
    torch.testing.assert_close(
        func.vmap(lambda a: flt.mse(a, t))(batch), torch.stack([F.mse_loss(b, t) for b in batch])
    )


def test_torch_func_second_derivatives_are_refused():
    x, t = _t(np.linspace(-1, 1, 6)), _t(np.zeros(6))
    with pytest.raises(RuntimeError, match="second derivatives"):
        torch.func.jacrev(torch.func.grad(lambda a: flt.mse(a, t)))(x)
    # outside a transform the fused path (_LossFunction) is the one that runs
    xr = x.clone().requires_grad_()
    assert type(flt.mse(xr, t).grad_fn).__name__ == "_LossFunctionBackward"
    assert torch.func.grad(lambda a: flt.mse(a, t))(x).shape == x.shape


@pytest.mark.parametrize("name", fl.available())
@pytest.mark.parametrize("red", REDUCTIONS)
def test_torch_func_grad_equals_autograd_for_every_loss(name, red):
    # every array-input loss of the catalogue: torch.func.grad (the
    # setup_context path, _FuncLoss) w.r.t. all its differentiable inputs
    # equals autograd's (the fused _LossFunction path); "none" through a
    # non-uniform cotangent
    if name in LIST_INPUTS:
        pytest.skip("list inputs: not under torch.func (README)")
    if name == "rmse" and red == "none":
        pytest.skip("rmse's 'none' shares take only a uniform grad_output")
    rng = np.random.default_rng(5)
    tensors, params = _gradcheck_inputs(name, rng)
    fn, L = getattr(flt, name), fl.get(name)
    wrt = [L.inputs.index(w) for w in L.wrt]
    plain = [x.detach() for x in tensors]

    def f(*diff):
        full = list(plain)
        for i, v in zip(wrt, diff):
            full[i] = v
        r = fn(*full, reduction=red, **params)
        if red != "none":
            return r
        return (r * torch.arange(1, 1 + r.numel(), dtype=r.dtype).reshape(r.shape)).sum()

    got = torch.func.grad(f, argnums=tuple(range(len(wrt))))(*[plain[i] for i in wrt])
    leaves = [plain[i].clone().requires_grad_() for i in wrt]
    want = torch.autograd.grad(f(*leaves), leaves)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, equal_nan=True)


# torch.nn's constructor signatures, positional arguments and the deprecated
# size_average/reduce included
_NN_SIGNATURE_CASES = [
    ("MSELoss", (None, None, "sum"), {}),
    ("L1Loss", (None, None, "none"), {}),
    ("SmoothL1Loss", (None, None, "sum", 0.3), {}),
    ("HuberLoss", ("sum", 0.3), {}),
    ("SoftMarginLoss", (None, None, "sum"), {}),
    ("MultiLabelMarginLoss", (None, None, "sum"), {}),
    ("KLDivLoss", (None, None, "sum", True), {}),
    ("PoissonNLLLoss", (False, True, None, 1e-4, None, "sum"), {}),
    ("BCELoss", (None, None, None, "sum"), {}),
    (
        "BCEWithLogitsLoss",
        (None, None, None, "sum", torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)),
        {},
    ),
    (
        "CrossEntropyLoss",
        (torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), None, 2, None, "sum", 0.1),
        {},
    ),
    ("NLLLoss", (torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), None, 1, None, "none"), {}),
    ("MultiMarginLoss", (2, 0.5, None, None, None, "sum"), {}),
    (
        "MultiLabelSoftMarginLoss",
        (torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), None, None, "sum"),
        {},
    ),
    ("HingeEmbeddingLoss", (0.5, None, None, "sum"), {}),
    ("CosineEmbeddingLoss", (0.2, None, None, "sum"), {}),
    ("MarginRankingLoss", (0.1, None, None, "sum"), {}),
    ("TripletMarginLoss", (0.5, 1.5, 1e-6, True, None, None, "sum"), {}),
    ("CTCLoss", (0, "sum", True), {}),
]


_KL_MEAN = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")

# torch's own signatures without size_average/reduce
_NO_LEGACY = {"HuberLoss", "CTCLoss"}


def _nn_inputs(name, gen):
    def r(*s):
        return torch.randn(*s, generator=gen, dtype=torch.float64)

    def signs(*s):
        return torch.randint(0, 2, s, generator=gen).double() * 2 - 1

    labels = torch.randint(0, 3, (4,), generator=gen)
    if name in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"):
        return [r(4, 3), r(4, 3)]
    if name in ("SoftMarginLoss", "HingeEmbeddingLoss"):
        return [r(4, 3), signs(4, 3)]
    if name == "MultiLabelMarginLoss":
        return [r(4, 3), torch.tensor([[0, 2, -1], [1, -1, -1], [2, 1, 0], [0, -1, -1]])]
    if name == "KLDivLoss":
        return [r(4, 3).log_softmax(-1), r(4, 3).softmax(-1)]
    if name == "PoissonNLLLoss":
        return [r(4, 3).exp(), torch.randint(0, 4, (4, 3), generator=gen).double()]
    if name == "BCELoss":
        return [torch.rand(4, 3, generator=gen, dtype=torch.float64), signs(4, 3).clamp(0)]
    if name in ("BCEWithLogitsLoss", "MultiLabelSoftMarginLoss"):
        return [r(4, 3), signs(4, 3).clamp(0)]
    if name in ("CrossEntropyLoss", "MultiMarginLoss"):
        return [r(4, 3), labels]
    if name == "NLLLoss":
        return [r(4, 3).log_softmax(-1), labels]
    if name == "CosineEmbeddingLoss":
        return [r(4, 3), r(4, 3), signs(4)]
    if name == "MarginRankingLoss":
        return [r(4), r(4), signs(4)]
    if name == "TripletMarginLoss":
        return [r(4, 3), r(4, 3), r(4, 3)]
    assert name == "CTCLoss"
    lp = r(6, 2, 5).log_softmax(-1)
    return [lp, torch.tensor([[1, 2, 3], [2, 2, 4]]), torch.tensor([6, 5]), torch.tensor([3, 2])]


def _nn_compare(name, args, kwargs, seed=0):
    out = []
    for mod in (torch.nn, flt):
        inputs = _nn_inputs(name, torch.Generator().manual_seed(seed))
        diff = inputs[:2] if name in ("CosineEmbeddingLoss", "MarginRankingLoss") else inputs[:1]
        if name == "TripletMarginLoss":
            diff = inputs
        for x in diff:
            x.requires_grad_(x.is_floating_point())
        m = getattr(mod, name)(*args, **kwargs)
        v = m(*inputs)
        go = torch.linspace(0.5, 1.5, v.numel(), dtype=v.dtype).reshape(v.shape)
        gs = torch.autograd.grad(v, [x for x in diff if x.requires_grad], go)
        out.append((m.reduction, v.detach(), gs))
    (ra, va, ga), (rb, vb, gb) = out
    assert ra == rb
    torch.testing.assert_close(vb, va, rtol=1e-10, atol=1e-12)
    for x, y in zip(gb, ga):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


@_KL_MEAN
@pytest.mark.parametrize(("name", "args", "kwargs"), _NN_SIGNATURE_CASES)
def test_nn_positional_constructor_arguments_as_torch(name, args, kwargs):
    _nn_compare(name, args, kwargs)


@_KL_MEAN
@pytest.mark.parametrize("name", [c[0] for c in _NN_SIGNATURE_CASES if c[0] not in _NO_LEGACY])
@pytest.mark.parametrize(
    ("size_average", "reduce"), [(False, None), (None, False), (True, True), (False, True)]
)
def test_nn_legacy_size_average_and_reduce(name, size_average, reduce):
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        _nn_compare(name, (), {"size_average": size_average, "reduce": reduce})


def test_nn_legacy_warning_points_at_the_caller():
    with pytest.warns(UserWarning) as rec:
        flt.MSELoss(size_average=False)
        flt.CrossEntropyLoss(reduce=False)
        m = flt.L1Loss(reduction="elementwise_mean")
    assert [w.filename for w in rec] == [__file__] * 3
    assert m.reduction == "mean"


@_KL_MEAN
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("MSELoss", [(5, 4), (4,)]),
        ("L1Loss", [(5, 4), (1, 4)]),
        ("HuberLoss", [(5, 4), (5, 1)]),
        ("SmoothL1Loss", [(5, 1), (5, 4)]),
        ("PoissonNLLLoss", [(5, 4), (4,)]),
        ("KLDivLoss", [(5, 4), (4,)]),
        ("SoftMarginLoss", [(5, 4), (4,)]),
        ("HingeEmbeddingLoss", [(5, 4), (4,)]),
        ("GaussianNLLLoss", [(5, 4), (5, 1), (5, 4)]),
        ("CosineEmbeddingLoss", [(5, 4), (1, 4), (5,)]),
        ("MarginRankingLoss", [(5,), (1,), (5,)]),
        ("MarginRankingLoss", [(5,), (5,), (1,)]),
        ("TripletMarginLoss", [(5, 4), (1, 4), (5, 4)]),
        ("TripletMarginWithDistanceLoss", [(1, 4), (5, 4), (5, 4)]),
    ],
)
def test_nn_inputs_broadcast_as_torch(name, shapes, red):
    """torch's element-wise and embedding losses broadcast their inputs
    (a stride-0 view here; autograd sums the gradient back)."""
    import warnings

    signs = {"SoftMarginLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss", "MarginRankingLoss"}
    out = []
    for mod in (torch.nn, flt):
        g = torch.Generator().manual_seed(1)
        xs = [torch.randn(*s, generator=g, dtype=torch.float64) for s in shapes]
        if name in signs:
            xs[-1] = xs[-1].sign()
        if name == "PoissonNLLLoss":
            xs[1] = xs[1].abs().round()
        if name == "KLDivLoss":
            xs[1] = xs[1].softmax(-1)
        if name == "GaussianNLLLoss":
            xs[2] = xs[2].abs() + 0.1
        diff = xs if name not in signs else xs[:-1]
        for x in diff:
            x.requires_grad_()
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            v = getattr(mod, name)(reduction=red)(*xs)
        go = torch.linspace(0.5, 1.5, v.numel(), dtype=v.dtype).reshape(v.shape)
        out.append((v.detach(), torch.autograd.grad(v, diff, go), [str(w.message) for w in rec]))
    (va, ga, wa), (vb, gb, wb) = out
    torch.testing.assert_close(vb, va, rtol=1e-10, atol=1e-12)
    for x, y in zip(gb, ga):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    size_warning = [w for w in wa if "target size" in w]
    assert [w for w in wb if "target size" in w] == size_warning


@_KL_MEAN
@pytest.mark.parametrize(
    "name", ["MSELoss", "L1Loss", "SmoothL1Loss", "PoissonNLLLoss", "KLDivLoss"]
)
def test_nn_mixed_float_dtypes_promote_as_torch(name):
    x = torch.rand(5, 4, dtype=torch.float32, requires_grad=True)
    t = torch.rand(5, 4, dtype=torch.float64)
    a = getattr(torch.nn, name)()(x, t)
    b = getattr(flt, name)()(x, t)
    assert b.dtype == a.dtype == torch.float64
    torch.testing.assert_close(b, a)
    torch.testing.assert_close(torch.autograd.grad(b, x)[0], torch.autograd.grad(a, x)[0])


def test_triplet_with_distance_takes_pairwise_distance_module():
    g = torch.Generator().manual_seed(2)
    a, p, n = (torch.randn(5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    theirs = torch.nn.TripletMarginWithDistanceLoss(distance_function=torch.nn.PairwiseDistance())
    ours = flt.TripletMarginWithDistanceLoss(distance_function=torch.nn.PairwiseDistance())
    torch.testing.assert_close(ours(a, p, n), theirs(a, p, n))
    assert isinstance(
        flt.TripletMarginWithDistanceLoss().distance_function, torch.nn.PairwiseDistance
    )
    with pytest.raises(ValueError, match="distance_function"):
        flt.TripletMarginWithDistanceLoss(distance_function=torch.nn.PairwiseDistance(p=1))


@pytest.mark.parametrize("red", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "x_shape, t_shape",
    [((4,), ()), ((4,), (1,)), ((1, 4), (3, 4)), ((3, 4), (1, 4)), ((3, 1), (1, 4))],
)
def test_element_modules_broadcast_input_and_target_as_torch(x_shape, t_shape, red):
    # torch's soft_margin, hinge_embedding and multilabel_soft_margin losses
    # broadcast input against target (the core takes one shape): the
    # modules expand both, and autograd sums a broadcast input's gradient
    rng = np.random.default_rng(len(x_shape) + 3 * len(t_shape))
    x = rng.normal(size=x_shape)
    pm = rng.choice([-1.0, 1.0], size=t_shape)
    binary = (pm > 0).astype(np.float64)
    pairs = [
        (flt.SoftMarginLoss(reduction=red), torch.nn.SoftMarginLoss(reduction=red), pm),
        (
            flt.HingeEmbeddingLoss(0.5, reduction=red),
            torch.nn.HingeEmbeddingLoss(0.5, reduction=red),
            pm,
        ),
    ]
    if len(x_shape) == 2:
        pairs.append(
            (
                flt.MultiLabelSoftMarginLoss(reduction=red),
                torch.nn.MultiLabelSoftMarginLoss(reduction=red),
                binary,
            )
        )
    for ours, theirs, t in pairs:
        a = torch.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        try:
            vb = theirs(b, torch.tensor(t))
        except RuntimeError:  # soft_margin: the target broadcasts to the input only
            with pytest.raises(ValueError, match="same shape"):  # the core's, named
                ours(a, torch.tensor(t))
            continue
        va = ours(a, torch.tensor(t))
        assert va.shape == vb.shape, type(ours).__name__
        np.testing.assert_allclose(va.detach().numpy(), vb.detach().numpy(), rtol=1e-12)
        up = torch.linspace(0.5, 1.5, max(vb.numel(), 1), dtype=vb.dtype)[: vb.numel()]
        (va * up.reshape(va.shape)).sum().backward()
        (vb * up.reshape(vb.shape)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.skipif(
    not hasattr(torch.nn, "LinearCrossEntropyLoss"), reason="torch.nn.LinearCrossEntropyLoss"
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("out_features", [(), (3,), (2, 3)], ids=["k0", "k1", "k2"])
@pytest.mark.parametrize("target", ["labels", "probabilities", "unbatched"])
@pytest.mark.parametrize(
    "kw",
    [
        {"bias": True},
        {"bias": True, "weight": True, "label_smoothing": 0.2, "ignore_index": 1},
        {"bias": False, "weight": True, "label_smoothing": 0.1},
    ],
    ids=["bias", "all", "weight_no_bias"],
)
def test_linear_cross_entropy_module_k_dim_and_probabilities(reduction, out_features, target, kw):
    """flt.LinearCrossEntropyLoss against torch's: out_features (the flat
    Linear read as (C, *out_features, D)), labels or class probabilities,
    values and gradients w.r.t. the input, the weight and the bias
    (float64, rtol 1e-10)."""
    if target == "unbatched" and out_features:
        pytest.skip("torch needs a batch with out_features")
    g = torch.Generator().manual_seed(7)
    n, d, c = 6, 4, 5
    kw = dict(kw)
    if kw.pop("weight", False):
        kw["weight"] = torch.rand(c, generator=g, dtype=torch.float64) + 0.5
    if target == "probabilities":
        kw.pop("ignore_index", None)  # torch refuses an ignore_index with probabilities
    ours = flt.LinearCrossEntropyLoss(
        d, c, out_features=out_features, reduction=reduction, dtype=torch.float64, **kw
    )
    theirs = torch.nn.LinearCrossEntropyLoss(
        d, c, out_features=out_features, reduction=reduction, dtype=torch.float64, **kw
    )
    theirs.linear.load_state_dict(ours.linear.state_dict())
    batch = () if target == "unbatched" else (n,)
    x = torch.randn(*batch, d, generator=g, dtype=torch.float64)
    if target == "probabilities":
        y = torch.rand(*batch, c, *out_features, generator=g, dtype=torch.float64).softmax(1)
    else:
        y = torch.randint(0, c, (*batch, *out_features), generator=g)
        if "ignore_index" in kw:
            y.view(-1)[::3] = kw["ignore_index"]
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    a, e = ours(x1, y), theirs(x2, y)
    assert a.shape == e.shape
    # NaN where every item is ignored (a mean of nothing), as torch's
    torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12, equal_nan=True)
    go = torch.rand(e.shape, generator=g, dtype=torch.float64)
    a.backward(go)
    e.backward(go)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)
    for p, q in zip(ours.linear.parameters(), theirs.linear.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-10, atol=1e-12)
    assert f"out_features={tuple(out_features)}" in repr(ours)
