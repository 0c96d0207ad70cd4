"""fastloss.torch on PyTorch's own test inputs.

The samples PyTorch's test suite feeds its loss functions (the OpInfo
``sample_inputs`` of ``torch.testing._internal.common_methods_invocations``)
and its loss modules (the ModuleInfo ``module_inputs_func`` of
``common_modules``): each runs through the ``fastloss.torch`` module of the
same ``torch.nn`` name, constructed from the sample's keywords, and must give
torch's value and torch's gradient for every input that requires one, in
float64 and float32. This is issue 20's measure ("everything PyTorch's
functional accepts, fastloss.torch accepts"); a sample torch itself refuses
is not counted.

One documented rule departs: NaN in, NaN out. Where an input element is NaN
fastloss's gradient there is NaN (torch's kl_div gives ``-target`` at a NaN
input); those elements are left out of the gradient comparison, and only
those.

``torch.testing._internal`` needs ``expecttest`` (in the ``test`` extra);
without it these tests skip.
"""

from __future__ import annotations

import inspect
import warnings

import pytest

torch = pytest.importorskip("torch")
try:
    from torch.testing._internal.common_methods_invocations import op_db
    from torch.testing._internal.common_modules import module_db
except Exception as exc:  # pragma: no cover - torch's private test package
    pytest.skip(f"torch.testing._internal: {exc}", allow_module_level=True)

import fastloss.torch as flt  # noqa: E402

# torch.nn.functional's losses and the module of each
MODULES = {
    "cross_entropy": "CrossEntropyLoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "soft_margin_loss": "SoftMarginLoss",
    "margin_ranking_loss": "MarginRankingLoss",
    "multi_margin_loss": "MultiMarginLoss",
    "multilabel_margin_loss": "MultiLabelMarginLoss",
    "multilabel_soft_margin_loss": "MultiLabelSoftMarginLoss",
    "triplet_margin_loss": "TripletMarginLoss",
    "triplet_margin_with_distance_loss": "TripletMarginWithDistanceLoss",
    "binary_cross_entropy": "BCELoss",
    "smooth_l1_loss": "SmoothL1Loss",
    "l1_loss": "L1Loss",
    "mse_loss": "MSELoss",
    "ctc_loss": "CTCLoss",
    "cosine_embedding_loss": "CosineEmbeddingLoss",
    "nll_loss": "NLLLoss",
    "gaussian_nll_loss": "GaussianNLLLoss",
    "hinge_embedding_loss": "HingeEmbeddingLoss",
    "huber_loss": "HuberLoss",
    "poisson_nll_loss": "PoissonNLLLoss",
    "kl_div": "KLDivLoss",
}
OPS = [o for o in op_db if o.name.replace("nn.functional.", "") in MODULES]
LOSS_MODULES = [m for m in module_db if m.module_cls.__name__.endswith("Loss")]
DTYPES = [torch.float64, torch.float32]


def _tol(dt):
    # float32: CTC's log-space recursions over 50 steps round differently
    # from torch's (1 element of 2250 off by 1.9e-5 in one sample)
    return {"rtol": 1e-6, "atol": 1e-8} if dt == torch.float64 else {"rtol": 2e-4, "atol": 5e-5}


def _agree(got, want, args, dt, what):
    """Value, then the gradient of every input that requires one (a random
    cotangent), equal to torch's."""
    assert got.shape == want.shape, what
    torch.testing.assert_close(
        got.detach().to(want.dtype), want.detach(), equal_nan=True, **_tol(dt), msg=what
    )
    ins = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    if not ins or not want.requires_grad:
        return
    go = torch.rand_like(want)
    gw = torch.autograd.grad(want, ins, go, allow_unused=True)
    gg = torch.autograd.grad(got, ins, go.to(got.dtype), allow_unused=True)
    for x, a, b in zip(ins, gg, gw):
        if a is None and b is None:
            continue
        a = torch.zeros_like(x) if a is None else a.to(x.dtype)
        b = torch.zeros_like(x) if b is None else b
        nan_in = torch.zeros_like(x, dtype=torch.bool)
        for other in args:  # NaN in, NaN out (see the module's docstring)
            if isinstance(other, torch.Tensor) and other.shape == x.shape:
                nan_in |= torch.isnan(other.detach())
        keep = ~nan_in
        torch.testing.assert_close(
            a[keep], b[keep], equal_nan=True, **_tol(dt), msg=lambda m: f"{what} grad: {m}"
        )


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.name.replace("nn.functional.", ""))
def test_opinfo_samples_equal_torch(op):
    name = MODULES[op.name.replace("nn.functional.", "")]
    ours_cls, torch_cls = getattr(flt, name), getattr(torch.nn, name)
    init = inspect.signature(torch_cls.__init__).parameters
    n_fwd = len(inspect.signature(torch_cls.forward).parameters) - 1
    torch.manual_seed(0)  # the samples are random tensors
    count = 0
    for dt in DTYPES:
        for k, s in enumerate(op.sample_inputs("cpu", dt, requires_grad=True)):
            args, kw = [s.input, *s.args], dict(s.kwargs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    want = op.op(*args, **kw)
                except Exception:  # torch refuses it: not counted
                    continue
                ctor = {a: v for a, v in kw.items() if a in init}
                fwd = {a: v for a, v in kw.items() if a not in init}
                assert len(args) == n_fwd, f"{name} sample {k}: {len(args)} positional inputs"
                got = ours_cls(**ctor)(*args, **fwd)
            _agree(got, want, args, dt, f"{name} {dt} sample {k} {kw}")
            count += 1
    assert count > 0


@pytest.mark.parametrize("info", LOSS_MODULES, ids=lambda m: m.module_cls.__name__)
def test_moduleinfo_samples_equal_torch(info):
    name = info.module_cls.__name__
    ours_cls = getattr(flt, name, None)
    assert ours_cls is not None, f"fastloss.torch has no {name}"
    torch.manual_seed(0)  # the samples are random tensors
    count = 0
    for dt in DTYPES:
        samples = info.module_inputs_func(
            info, device="cpu", dtype=dt, requires_grad=True, training=True
        )
        for k, s in enumerate(samples):
            ca, fa = s.constructor_input, s.forward_input
            if fa is None:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    theirs = info.module_cls(*ca.args, **ca.kwargs)
                    want = theirs(*fa.args, **fa.kwargs)
                except Exception:  # torch refuses it: not counted
                    continue
                ours = ours_cls(*ca.args, **ca.kwargs)
                # a module with parameters (LinearCrossEntropyLoss's linear
                # layer) takes torch's initial values
                params = {n: p.detach().clone() for n, p in theirs.named_parameters()}
                if params:
                    ours.load_state_dict(params, strict=False)
                got = ours(*fa.args, **fa.kwargs)
            _agree(got, want, fa.args, dt, f"{name} {dt} sample {k} {ca.kwargs}")
            count += 1
    assert count > 0
