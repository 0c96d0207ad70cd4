"""Bad input, exhaustively: one table of every loss against every class of bad input.

Rows (``ROWS``): one per loss of ``fastloss.available()``, saying how to make
valid inputs of it (its entry in ``tests/cases_*.py``) and what is special
about it (integer labels, a bounded domain for pred or target). A loss
without a row fails ``test_every_loss_has_a_row``: a new loss is covered by
adding one row.

Columns (``COLUMNS``): the classes of bad input of issue 24 -- mismatched
shapes, wrong ndim, 0-d and empty arrays, bool/int/complex/object/string/
float16 dtypes, NaN and +-inf in pred, target and weights, negative, zero and
all-zero weights, labels out of range or not integers, invalid parameters,
read-only/unaligned/Fortran/reversed/zero-stride inputs, and ``out=``
buffers of the wrong shape, dtype, layout or writability or aliasing an
input. Each column makes the bad input from a valid one and states its
expected outcome:

``Err(role)``
    a ValueError or TypeError whose message names the argument (the loss's
    own name for it: ``logits``, ``labels``, ``sample_weight``, ``out``,
    ``delta``, ...), from every verb that reads it;
``Ref()``
    the documented result: the same numbers as the NumPy reference
    (``fastloss.reference``) on the same input -- values (mean, sum, none)
    and gradients, NaN where the reference has NaN (README: "NaN in gives
    NaN out"; float16 computed in float32, integers and booleans in float64;
    any strides accepted);
``Limit()``
    at an infinite input, the limit: the reference at +-1e300 in its place
    (values beyond 1e250 read as inf) -- for the losses whose docstrings say
    their value at +-inf is its limit where the plain formula gives NaN.

A row overrides a column's default only with a reason (``Row.expect``);
where fastloss's outcome is wrong and the fix is not in the Python layer,
the override is a strict xfail naming the defect, so the table says so and
flips when it is fixed.

The integrations run through the same table where it is cheap:
``fastloss.Accumulator`` (the rows it accumulates), ``fastloss.torch``'s
functions (columns whose inputs are tensors) and the command line
(``fastloss eval`` through ``fastloss.cli.main``: every loss's invalid
parameters, NaN and non-numeric columns).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

import fastloss as fl
import fastloss.reference as R
from cases import CASES, LIST_INPUTS

ALL = fl.available()
N = 12  # samples per case: small, every column is a few calls


# ------------------------------------------------------------------ expectations


@dataclass(frozen=True)
class Err:
    """ValueError/TypeError naming ``role``: "pred", "target" (the loss's names
    for its first two inputs), "input" (any input's name), or a literal
    argument name ("sample_weight", "out", a parameter)."""

    role: str


@dataclass(frozen=True)
class Ref:
    """``nonfinite``: the input holds NaN or +-inf. Values still agree with
    the reference exactly (NaN where it has NaN); a gradient or Hessian
    element may be NaN on either side -- where an infinity meets a zero the
    reference's plain formula gives inf * 0 = NaN and a kernel may give the
    limit (huber's gradient at an infinite residual is +-delta), and a
    kernel may give a whole row NaN where its value is NaN -- but where both
    are numbers they agree."""

    nonfinite: bool = False
    # an absolute tolerance for gradients and Hessians, where the exact
    # gradient is 0 and both sides give rounding noise (a relative one
    # would compare noise with noise)
    atol: float = 0.0


@dataclass(frozen=True)
class Limit:
    pass


@dataclass(frozen=True)
class Known:
    """A wrong outcome that the Python layer cannot fix (a kernel's formula):
    a strict xfail, so it is listed in every run and flips when fixed."""

    reason: str
    then: Any = None  # the expectation that fails today (Ref() by default)


# ------------------------------------------------------------------ rows


@dataclass
class Row:
    """How a loss takes bad input.

    labels: "index" where the target is integer class labels (bad labels:
    out of range, negative, non-integer), else None. bad_pred / bad_target:
    a finite value outside the input's domain (None: every finite value is
    valid). expect: {column: expectation} overriding the column's default,
    each with its reason in a comment. label_at: where the label columns put
    their bad label (ctx -> flat index of the target; None: index 0), for a
    loss that does not read every entry of its target. accumulate: whether
    ``fastloss.Accumulator`` takes this loss (overlap losses only when their
    axis keeps the row axis).
    """

    labels: str | None = None
    bad_pred: float | None = None
    bad_target: float | None = None
    expect: dict = field(default_factory=dict)
    label_at: Callable | None = None
    accumulate: bool = True


# Losses whose value at +-inf logits is the limit (their docstrings: "at
# x = +-inf the value is its limit"), where the reference's plain formula
# gives inf - inf = NaN.
_LIMIT_AT_INF = {"inf_pred": Limit(), "ninf_pred": Limit()}

_ANY_SHAPES = {
    c: Ref() for c in ("shape_mismatch", "wrong_ndim_pred", "wrong_ndim_target", "zero_d")
}

ROWS: dict[str, Row] = {
    # regression
    "mse": Row(),
    "mae": Row(),
    "huber": Row(),
    "smooth_l1": Row(),
    "log_cosh": Row(),
    "quantile": Row(),
    "mape": Row(),
    # log1p needs values > -1
    "msle": Row(
        bad_pred=-2.0,
        bad_target=-2.0,
        expect={"ninf_pred": Err("pred"), "ninf_target": Err("target")},
    ),
    "rmse": Row(),
    "poisson_nll": Row(),
    "gaussian_nll": Row(accumulate=False),  # three inputs; the accumulator takes two
    "pseudo_huber": Row(),
    "tweedie": Row(
        bad_pred=-1.0,
        bad_target=-1.0,
        expect={
            "ninf_pred": Err("pred"),
            "ninf_target": Err("target"),
            "bool_pred": Err("pred"),  # False is a mean of 0: outside its domain (> 0)
            # mu = +inf: the limit (+inf at power 1.5), as the reference gives
            # it (fixed: the kernel's mu * mu^(1-p) was inf * 0 = NaN)
        },
    ),
    # binary classification
    "binary_cross_entropy": Row(
        bad_pred=1.5,
        bad_target=2.0,
        expect={
            "inf_pred": Err("pred"),
            "ninf_pred": Err("pred"),
            "inf_target": Err("target"),
            "ninf_target": Err("target"),
        },
    ),
    # pos_weight (3,) in its case: a per-column weight cannot broadcast to 0-d
    "binary_cross_entropy_with_logits": Row(expect={**_LIMIT_AT_INF, "zero_d": Err("pos_weight")}),
    # hinge labels are -1, 0 (read as -1) or 1
    "hinge": Row(
        bad_target=2.0, expect={"inf_target": Err("target"), "ninf_target": Err("target")}
    ),
    "squared_hinge": Row(
        bad_target=2.0, expect={"inf_target": Err("target"), "ninf_target": Err("target")}
    ),
    "sigmoid_focal": Row(expect=dict(_LIMIT_AT_INF)),
    # multiclass
    "cross_entropy": Row(labels="index"),
    "multiclass_hinge": Row(labels="index"),
    "softmax_focal": Row(labels="index", expect={"ninf_pred": Limit()}),
    "kl_div": Row(),
    "brier": Row(
        labels="index",
        bad_pred=1.5,
        # 0-d prob and target: the binary form (target 0), one sample
        expect={"inf_pred": Err("pred"), "ninf_pred": Err("pred"), "zero_d": Ref()},
    ),
    "categorical_hinge": Row(),
    # overlap: the default axis sums every axis but the first (rows)
    "dice": Row(),
    "iou": Row(),
    "tversky": Row(),
    "generalized_dice": Row(),
    # boxes
    "box_iou_loss": Row(),
    "giou_loss": Row(),
    "diou_loss": Row(),
    "ciou_loss": Row(),
    # embedding: element-wise, so one 0-d sample is a sample
    "margin_ranking": Row(expect={"zero_d": Ref()}),
    # generative: scores of any shape, real and fake batches of unrelated
    # shapes, each part its own mean (their docstrings)
    "gan_discriminator": Row(expect=dict(_ANY_SHAPES)),
    "gan_generator": Row(expect=dict(_ANY_SHAPES)),
    "hinge_gan_discriminator": Row(expect=dict(_ANY_SHAPES)),
    "hinge_gan_generator": Row(expect=dict(_ANY_SHAPES)),
    "wasserstein_critic": Row(expect=dict(_ANY_SHAPES)),
    "wasserstein_generator": Row(expect=dict(_ANY_SHAPES)),
    # one gradient per sample along the first axis: an added leading axis
    # makes one sample of the batch
    "gradient_penalty": Row(expect={"wrong_ndim_pred": Ref()}),
    "elbo": Row(),
    # control
    # element-wise over transitions: one 0-d transition is a transition
    "td_error": Row(expect={"zero_d": Ref()}),
    # residual, boundary and data arrays of sizes and shapes of their own
    # (its docstring): an added axis is another shape of the same terms
    "pinn": Row(expect={**_ANY_SHAPES, "extra_axes_input": Ref()}),
    # the rest of PyTorch's losses
    # a -inf log-probability is log 0; the loss reads the label's entry alone
    # (its docstring), so an infinity elsewhere in the row does not reach it
    "nll": Row(labels="index"),
    "soft_margin": Row(),
    "hinge_embedding": Row(),
    # its docstring: "finite at +-inf logits; a 0 * inf term counts 0"
    "multilabel_soft_margin": Row(expect=dict(_LIMIT_AT_INF)),
    # rows of class indices in [0, C), -1 ending a row's list (its docstring)
    "multilabel_margin": Row(labels="index"),
    # embedding rows (N, D)
    "triplet_margin": Row(),
    "triplet_margin_with_distance": Row(),
    "cosine_embedding": Row(),
    "contrastive": Row(),
    # sequence: logits (T, N, C), targets are labels (its docstring)
    "ctc": Row(
        labels="index",
        label_at=lambda c: _ctc_first_read_label(c),
        expect={
            # the mismatch lengthens T, the time axis: more steps of the same
            # sequences (input_lengths <= T still holds), not a wrong shape
            "shape_mismatch": Ref(),
            # slicing the first axis empties T and the length arrays, not N:
            # input_lengths no longer has one entry per sequence
            "empty": Err("input"),
        },
    ),
    # regularization
    # the penalties take weights of any shape (their docstrings: "a model's
    # parameters"), so another ndim or a 0-d array is just another tensor
    "l1_penalty": Row(expect=dict(_ANY_SHAPES)),
    "l2_penalty": Row(expect=dict(_ANY_SHAPES)),
    "elastic_net": Row(expect=dict(_ANY_SHAPES)),
    # logits (..., C): an added leading axis is more rows (its docstring)
    "entropy": Row(expect={"wrong_ndim_pred": Ref()}),
    # labels: class of each sample in [0, K) (its docstring); the table's bad
    # label n_classes is features' D = 4, also outside K = 3 of its case
    "center": Row(labels="index"),
    "orthogonality": Row(),
    # activations in [0, 1] (its docstring): +-inf are outside; no rows
    # leave the mean activation rho_hat undefined: an error naming them
    "kl_sparsity": Row(
        bad_pred=1.5,
        expect={"inf_pred": Err("pred"), "ninf_pred": Err("pred"), "empty": Err("pred")},
    ),
    # expert_index: expert numbers, (N,) or (N, k) (its docstring): the
    # added axis is top-1 routing written as (N, 1)
    "moe_load_balancing": Row(labels="index", expect={"wrong_ndim_target": Ref()}),
    # router_logits (..., E): an added leading axis is more tokens
    "router_z_loss": Row(expect={"wrong_ndim_pred": Ref()}),
    # ranking: (scores, labels, mask) lists
    "pairwise_logistic": Row(),
    "pairwise_hinge": Row(),
    # labels >= 0 (its docstring): -inf is a negative label, refused
    "listnet": Row(expect={"ninf_target": Err("labels")}),
    "approx_ndcg": Row(),
    "lambda_rank": Row(),
    # pairwise: embeddings (N, D), the whole batch one loss
    "ntxent": Row(),
    "clip": Row(
        expect={
            # the empty case empties every input, logit_scale (a scalar) too
            "empty": Err("logit_scale"),
            # every pair the same: each softmax uniform, the exact gradient 0;
            # both sides are rounding noise of size eps * logit_scale
            "zero_stride": Ref(atol=1e3 * np.finfo(np.float64).eps),
        }
    ),
    # robust: alpha and scale optional inputs, broadcast to pred's shape; an
    # element-wise loss, so a 0-d pred is one sample (as for regression). The
    # empty column cuts every input to length 0 along its first axis: the
    # case's per-dimension alpha (3,) becomes (0,), which does not broadcast
    # to pred's (0, 3) by NumPy's rule, and the error names alpha (an empty
    # pred with its (3,) alpha and scale: tests/test_robust.py).
    "barron": Row(expect={"zero_d": Ref(), "empty": Err("alpha")}),
    # linear: hidden (N, D), linear_weight (C, D), labels and linear_bias
    # beyond the table's two inputs
    "linear_cross_entropy": Row(
        expect={
            # slicing hidden and linear_weight leaves no class (C = 0) and
            # labels (an input beyond the table's two) its rows
            "empty": Err("input"),
            # every row of linear_weight the first: all logits of a row are
            # equal and the gradients are 0 but for rounding, on both sides
            # (compared to float64's rtol at unit scale)
            "zero_stride": Ref(atol=1e-10),
        }
    ),
    # clustering: (X, centers)
    "kmeans_inertia": Row(
        expect={
            # X (n, d) and centers (k, d) have row counts of their own: one
            # more row of X is a valid input, with the reference's numbers
            "shape_mismatch": Ref(),
            # no rows and no centers: refused, "centers: at least one center
            # is needed" (its docstring: k >= 1); no rows under one center is
            # tested in tests/test_clustering.py (NaN mean, 0 sum)
            "empty": Err("centers"),
        }
    ),
    # image: (N, C, H, W) images, one loss per image
    "ssim": Row(),
    "ms_ssim": Row(),
}


# ------------------------------------------------------------------ making inputs


class Ctx:
    """A loss's valid inputs: ``args`` (every positional input, in order) and
    ``params`` (its keywords), float64, and the per-sample loss shape."""

    def __init__(self, name: str, seed: int = 0):
        self.name = name
        self.loss = fl.get(name)
        self.ref = R.get(name)
        self.row = ROWS[name]
        self.rng = np.random.default_rng(seed)
        pred, target, params = CASES[name](self.rng, np.float64, N)
        params = dict(params)
        first = [pred] if target is None else [pred, target]  # one input: target None
        self.args = first + [params.pop(k) for k in self.loss.inputs[len(first) :]]
        self.params = params
        self.sample_shape = np.shape(self.loss(*self.args, reduction="none", **params))

    def weights(self):
        return self.rng.uniform(0.5, 2.0, size=self.sample_shape)

    @property
    def elementwise(self):
        return self.loss.family in ("regression", "classification")


@dataclass
class Case:
    """One bad call: the inputs, keywords and what it should give."""

    args: list
    params: dict
    expect: Any
    kw: dict = field(default_factory=dict)  # sample_weight, out, wrt
    verbs: tuple = ("value", "grad", "value_and_grad")
    label: str = ""


def _set(x, value, index=0):
    x = np.array(x, dtype=np.result_type(x, type(value)), copy=True)
    x.flat[index] = value
    return x


def _with(c: Ctx, i: int, x) -> list:
    args = list(c.args)
    args[i] = x
    return args


def _target_is_labels(c: Ctx) -> bool:
    return c.row.labels == "index"


def _numeric_target(c: Ctx, f) -> list | None:
    """The target changed by ``f``, where the target holds values (not labels)."""
    if _target_is_labels(c):
        return None
    return [Case(_with(c, 1, f(c.args[1])), c.params, Ref())]


# Each column: ctx -> list of Cases (empty where the class does not apply to
# the row: labels for a loss without labels, a domain for a loss with none).
COLUMNS: dict[str, Callable[[Ctx], list]] = {}


def column(name):
    def deco(f):
        COLUMNS[name] = f
        return f

    return deco


# -- shapes


@column("shape_mismatch")
def _shape_mismatch(c):
    if len(c.args) < 2:
        return []  # one input: nothing to mismatch
    p = c.args[0]
    return [Case(_with(c, 0, np.concatenate([p, p[:1]], axis=0)), c.params, Err("input"))]


@column("wrong_ndim_pred")
def _wrong_ndim_pred(c):
    return [Case(_with(c, 0, c.args[0][None]), c.params, Err("input"))]


@column("wrong_ndim_target")
def _wrong_ndim_target(c):
    if len(c.args) < 2:
        return []
    return [Case(_with(c, 1, c.args[1][..., None]), c.params, Err("input"))]


@column("zero_d")
def _zero_d(c):
    # one element of each input as a 0-d array; a label of 0 (valid for every
    # loss with labels) so that only the missing axes are wrong
    args = [np.asarray(a.flat[0]) for a in c.args]
    if _target_is_labels(c):
        args[1] = np.asarray(0)
    # element-wise losses take 0-d inputs (one sample); the others need axes
    return [Case(args, c.params, Ref() if c.elementwise else Err("pred"))]


@column("empty")
def _empty(c):
    return [Case([a[:0] for a in c.args], c.params, Ref())]


# -- dtypes


def _dtype_cases(c, i, role):
    x = c.args[i]
    labels = i == 1 and _target_is_labels(c)
    # ceil keeps a bounded domain's values in it (probabilities in (0, 1) -> 1,
    # means > 0 -> >= 1, boxes' x2 >= x1); labels are integers already
    as_int = x.astype(np.int32) if labels else np.ceil(x).astype(np.int32)
    as_bool = (x > 0) if labels else (x > np.median(x))
    return {
        "bool": [Case(_with(c, i, as_bool), c.params, Ref())],
        "int": [Case(_with(c, i, as_int), c.params, Ref())],
        "float16": [Case(_with(c, i, x.astype(np.float16)), c.params, Ref())],
        "complex": [Case(_with(c, i, x + 1j), c.params, Err(role))],
        "object": [Case(_with(c, i, x.astype(object)), c.params, Err(role))],
        "string": [Case(_with(c, i, x.astype(str)), c.params, Err(role))],
    }


for _dt in ("bool", "int", "float16", "complex", "object", "string"):
    COLUMNS[f"{_dt}_pred"] = lambda c, _dt=_dt: _dtype_cases(c, 0, "pred")[_dt]
    COLUMNS[f"{_dt}_target"] = lambda c, _dt=_dt: (
        _dtype_cases(c, 1, "target")[_dt] if len(c.args) > 1 else []
    )


# -- non-finite values


for _v, _vn in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "ninf")):
    COLUMNS[f"{_vn}_pred"] = lambda c, _v=_v: [
        Case(_with(c, 0, _set(c.args[0], _v)), c.params, Ref(nonfinite=True))
    ]
    COLUMNS[f"{_vn}_target"] = lambda c, _v=_v: (
        []
        if len(c.args) < 2  # a loss of one input
        else [Case(_with(c, 1, _set(c.args[1], _v)), c.params, Err("target"))]
        if _target_is_labels(c)
        else [Case(_with(c, 1, _set(c.args[1], _v)), c.params, Ref(nonfinite=True))]
    )


@column("out_of_domain_pred")
def _bad_pred(c):
    if c.row.bad_pred is None:
        return []
    return [Case(_with(c, 0, _set(c.args[0], c.row.bad_pred)), c.params, Err("pred"))]


@column("out_of_domain_target")
def _bad_target(c):
    if c.row.bad_target is None:
        return []
    return [Case(_with(c, 1, _set(c.args[1], c.row.bad_target)), c.params, Err("target"))]


# -- labels


def _label_at(c: Ctx) -> int:
    return 0 if c.row.label_at is None else c.row.label_at(c)


def _ctc_first_read_label(c: Ctx) -> int:
    # padded targets (N, S): sequence n reads targets[n, :target_lengths[n]]
    # only (the padding is not read, as in torch): the first sequence with a
    # label, its position 0
    tl = c.args[3]
    return int(np.flatnonzero(tl > 0)[0]) * c.args[1].shape[1]


@column("label_out_of_range")
def _label_range(c):
    if not _target_is_labels(c):
        return []
    n_classes = c.args[0].shape[-1]
    at = _label_at(c)
    return [
        Case(_with(c, 1, _set(c.args[1], bad, at)), c.params, Err("target"))
        for bad in (n_classes, -3, 2**40)
    ]


@column("label_not_integer")
def _label_float(c):
    if not _target_is_labels(c):
        return []
    at = _label_at(c)
    return [Case(_with(c, 1, _set(c.args[1].astype(float), 0.5, at)), c.params, Err("target"))]


# -- weights


def _w_case(c, w, expect):
    return Case(list(c.args), c.params, expect, kw={"sample_weight": w})


@column("weight_dtypes")
def _weight_dtypes(c):
    w = c.weights()
    return [
        _w_case(c, w > 1.0, Ref()),
        _w_case(c, np.ceil(w).astype(np.int64), Ref()),
        _w_case(c, w.astype(np.float16), Ref()),
        _w_case(c, w + 1j, Err("sample_weight")),
        _w_case(c, w.astype(object), Err("sample_weight")),
        _w_case(c, w.astype(str), Err("sample_weight")),
    ]


@column("weight_shape")
def _weight_shape(c):
    w = c.weights()
    return [_w_case(c, np.ones(tuple(s + 1 for s in w.shape) or (2,)), Err("sample_weight"))]


@column("weight_nonfinite")
def _weight_nonfinite(c):
    w = c.weights()
    return [_w_case(c, _set(w, v), Ref(nonfinite=True)) for v in (np.nan, np.inf)]


@column("weight_zero")
def _weight_zero(c):
    w = c.weights()
    # a zero weight drops a sample; all-zero weights make the weighted mean
    # 0/0 = NaN (the reference's number too)
    return [_w_case(c, _set(w, 0.0), Ref()), _w_case(c, np.zeros_like(w), Ref(nonfinite=True))]


@column("weight_negative")
def _weight_negative(c):
    w = c.weights()
    return [
        _w_case(
            c,
            _set(w, -1.0),
            # documented in the README's usage notes: weights are taken as
            # written, negative ones subtract (as scikit-learn's metrics and
            # PyTorch's weight= do)
            Ref(),
        )
    ]


# -- parameters


def _bad_values(name, default):
    """Values no parameter of this kind accepts."""
    if name == "axis":
        return ["a", 1.5, (99,), True]
    if isinstance(default, tuple):  # reals (pinn's weights; ms_ssim's: 1 to 5)
        return [
            "x",
            (),
            default + (1.0,),
            tuple(-1.0 for _ in default),
            (math.nan,) * len(default),
            None,
            (10**400,) * len(default),  # beyond float64: OverflowError in float()
        ]
    if name in ("class_weight", "pos_weight"):
        return ["x", np.array([-np.inf]), np.array([1 + 1j])]
    if isinstance(default, bool):
        return ["yes", 2, None]
    if isinstance(default, str):
        return ["bogus", 3, None]
    if isinstance(default, int):
        return [1.5, "x", None, 2**70]
    if isinstance(default, float):
        return [math.nan, math.inf, "x", True, None, 10**400]  # 10**400: beyond float64
    raise AssertionError(f"no bad values for parameter {name}={default!r}: add them")


# Parameters whose None is a documented value, not a bad one:
# linear_cross_entropy's ignore_index=None is PyTorch 2.13's default (-100)
_NONE_ACCEPTED = {("linear_cross_entropy", "ignore_index")}
# ... and whose inf is (triplet_margin's p = inf, the largest |u|, as torch's)
_INF_ACCEPTED = {("triplet_margin", "p")}


@column("bad_params")
def _bad_params(c):
    cases = [Case(list(c.args), {**c.params, "nonsense": 1.0}, Err("nonsense"))]
    for k, default in c.loss.params.items():
        for bad in _bad_values(k, default):
            if bad is None and (c.loss.name, k) in _NONE_ACCEPTED:
                continue
            if bad is math.inf and (c.loss.name, k) in _INF_ACCEPTED:
                continue
            cases.append(Case(list(c.args), {**c.params, k: bad}, Err(k), label=f"{k}={bad!r}"))
    return cases


@column("bad_reduction")
def _bad_reduction(c):
    return [
        Case(list(c.args), c.params, Err("reduction"), kw={"reduction": r})
        for r in ("avg", None, 2)
    ]


@column("extra_axes_input")
def _extra_axes(c):
    # a third input or an array parameter with more axes than pred: it would
    # broadcast the result to a shape pred does not have (torch refuses it)
    names = list(c.loss.inputs[2:]) + [k for k, v in c.params.items() if isinstance(v, np.ndarray)]
    cases = []
    for k in names:
        args, params = list(c.args), dict(c.params)
        if k in c.loss.inputs:
            i = c.loss.inputs.index(k)
            args[i] = args[i].reshape((1,) * (args[0].ndim + 1 - args[i].ndim) + args[i].shape)
        else:
            params[k] = params[k].reshape(
                (1,) * (args[0].ndim + 1 - params[k].ndim) + params[k].shape
            )
        cases.append(Case(args, params, Err(k), label=k))
    return cases


# -- layouts: documented to work (any strides, read-only memory)


@column("read_only")
def _read_only(c):
    args = [np.array(a) for a in c.args]
    for a in args:
        a.flags.writeable = False
    return [Case(args, c.params, Ref())]


def unaligned(a):
    """A copy of ``a`` at an odd address: C-contiguous, not aligned (a packed
    record's field, ``np.frombuffer`` at an offset). A 1-byte item (a bool
    mask) is aligned at every address: there is no unaligned layout of it to
    make, so it goes as it is; so does anything that is not an array."""
    if not isinstance(a, np.ndarray) or a.dtype.itemsize == 1:
        return a
    buf = np.zeros(a.nbytes + 1, np.uint8)
    u = buf[1:].view(a.dtype).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned and u.flags.c_contiguous
    return u


def _unaligned_call(c, w):
    """Every array of a valid call unaligned: the inputs (labels and lengths
    included), the array parameters (pos_weight, class_weight, ...) and the
    per-sample weights ``w``."""
    args = [unaligned(a) for a in c.args]
    assert any(not a.flags.aligned for a in args), "no input could be made unaligned"
    params = {k: unaligned(v) for k, v in c.params.items()}
    return args, params, {"sample_weight": unaligned(w)}


@column("unaligned")
def _unaligned(c):
    # copied to aligned memory before a kernel reads them (a misaligned
    # `const double*` load is undefined behaviour in C++): the reference's
    # numbers; bit-equality with aligned copies is test_unaligned_is_bit_equal
    args, params, kw = _unaligned_call(c, c.weights())
    return [Case(args, c.params, Ref()), Case(args, params, Ref(), kw=kw, label="all unaligned")]


@column("fortran")
def _fortran(c):
    return [Case([np.asfortranarray(a) for a in c.args], c.params, Ref())]


@column("reversed")
def _reversed(c):
    return [Case([a[::-1] for a in c.args], c.params, Ref())]


@column("zero_stride")
def _zero_stride(c):
    # every sample the first one: stride 0 along the first axis
    return [Case([np.broadcast_to(a[:1], a.shape) for a in c.args], c.params, Ref())]


# -- out= buffers


def _out_cases(c):
    p = c.args[0]
    kw = {"wrt": c.loss.wrt[0]} if len(c.loss.wrt) > 1 else {}
    ro = np.empty_like(p)
    ro.flags.writeable = False
    bad = {
        "shape": np.empty(p.shape + (1,), p.dtype),
        "dtype": np.empty(p.shape, np.float32),
        "fortran": np.empty(p.shape[::-1], p.dtype).T,
        "strided": np.empty(p.shape + (2,), p.dtype)[..., 0],
        # a kernel's stores to it would be misaligned (undefined behaviour)
        "unaligned": unaligned(np.empty(p.shape, p.dtype)),
        "read_only": ro,
        "alias_pred": np.ascontiguousarray(p),
        "list": p.tolist(),
    }
    cases = []
    for what, out in bad.items():
        args = list(c.args)
        if what == "alias_pred":
            args[0] = out  # out is pred itself
        cases.append(
            Case(
                args, c.params, Err("out"), kw={**kw, "out": out}, verbs=("grad", "value_and_grad")
            )
        )
    if c.loss.has_hess:
        g = np.empty_like(p)
        for pair, lab in (((g, g), "same buffer twice"), ((g, c.args[0]), "hess out is pred")):
            cases.append(
                Case(
                    list(c.args),
                    c.params,
                    Err("out"),
                    kw={"out": pair},
                    verbs=("grad_hess",),
                    label=lab,
                )
            )
    return cases


COLUMNS["out_buffers"] = _out_cases


# ------------------------------------------------------------------ checking


def _names(loss, role):
    if role == "pred":
        return (loss.inputs[0],)
    if role == "target":
        return (loss.inputs[1],)
    if role == "input":
        return loss.inputs
    return (role,)


def _call(loss, verb, args, params, kw):
    kw = dict(kw)
    if verb == "value":
        kw.pop("out", None)
        kw.pop("wrt", None)
        return loss(*args, **kw, **params)
    return getattr(loss, verb)(*args, **kw, **params)


def check_error(loss, case: Case, role: str):
    names = _names(loss, role)
    for verb in case.verbs:
        if verb == "grad_hess" and not loss.has_hess:
            continue
        with pytest.raises((ValueError, TypeError)) as info:
            _call(loss, verb, case.args, case.params, case.kw)
        msg = str(info.value)
        assert any(n in msg for n in names), (
            f"{loss.name}.{verb} {case.label}: the message does not name {' or '.join(names)}: "
            f"{type(info.value).__name__}: {msg}"
        )


def _rtol(dtype):
    return 1e-10 if dtype == np.float64 else 2e-5


def _close(actual, expected, dtype, what, either_nan=False, atol=0.0):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, what
    if either_nan:  # compare where both are numbers (see Ref)
        keep = ~(np.isnan(actual) | np.isnan(expected))
        actual, expected = actual[keep], expected[keep]
    rtol = _rtol(dtype)
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]))) if finite.any() else 1.0
    # NaN where the reference has NaN, the same infinities (equal_nan)
    atol = max(rtol * scale, atol)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def _quiet(f, *a, **k):
    """The reference, whose plain NumPy warns on NaN, inf and 0/0 (fastloss
    itself must not: the suite turns warnings into errors)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*a, **k)


def _as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


def check_ref(loss, ref, case: Case, limit=False, nonfinite=False, atol=0.0):
    """Every verb (values mean/sum/none, gradients, Hessians) against the
    reference on the same input; ``limit``: the reference at +-1e300 in place
    of +-inf, values beyond 1e250 read as inf."""
    rargs = case.args
    if limit:
        rargs = [
            np.where(np.isinf(a), np.sign(a) * 1e300, a) if a.dtype.kind == "f" else a
            for a in case.args
        ]

    def lim(x):
        if not limit:
            return x
        x = np.array(x, dtype=np.float64)
        x[np.abs(x) > 1e250] *= np.inf
        return x

    kw = dict(case.kw)
    dt = None
    for red in ("mean", "sum", "none"):
        v, g = loss.value_and_grad(*case.args, reduction=red, **kw, **case.params)
        rv, rg = _quiet(ref.value_and_grad, *rargs, reduction=red, **kw, **case.params)
        dt = np.asarray(_as_tuple(g)[0]).dtype
        if red != "none":
            assert isinstance(v, float), f"{loss.name}: {red} gave {type(v).__name__}"
        _close(v, lim(rv), dt, f"{loss.name} {red} value {case.label}")
        # the value alone is the fused call's value, bit for bit
        v1 = loss(*case.args, reduction=red, **kw, **case.params)
        np.testing.assert_array_equal(v1, v)
        for k, (gk, rgk) in enumerate(zip(_as_tuple(g), _as_tuple(rg))):
            if limit:  # the gradient at an infinite input is checked by the loss's own tests
                break
            _close(gk, rgk, dt, f"{loss.name} {red} grad[{k}] {case.label}", nonfinite, atol)
        if loss.has_hess and not limit:
            gh, hh = loss.grad_hess(*case.args, reduction=red, **kw, **case.params)
            rgh, rhh = _quiet(ref.grad_hess, *rargs, reduction=red, **kw, **case.params)
            _close(gh, rgh, dt, f"{loss.name} {red} grad_hess grad {case.label}", nonfinite, atol)
            _close(hh, rhh, dt, f"{loss.name} {red} grad_hess hess {case.label}", nonfinite, atol)
    # the compute dtype: float32 and float64 as they are, float16 in float32,
    # integers and booleans in float64 (README)
    want = np.float32 if case.args[0].dtype in (np.float16, np.float32) else np.float64
    assert dt == want, f"{loss.name}: gradient dtype {dt} for pred of dtype {case.args[0].dtype}"


def check(loss, ref, case: Case, expect):
    if isinstance(expect, Err):
        check_error(loss, case, expect.role)
    elif isinstance(expect, Ref):
        check_ref(loss, ref, case, nonfinite=expect.nonfinite, atol=expect.atol)
    elif isinstance(expect, Limit):
        check_ref(loss, ref, case, limit=True)
    else:
        raise AssertionError(f"unknown expectation {expect!r}")


def expectation(name, col, case):
    return ROWS[name].expect.get(col, case.expect)


# ------------------------------------------------------------------ the table


def test_every_loss_has_a_row():
    # the list-input losses have their own bad-input tests (cases.LIST_INPUTS)
    missing = sorted(set(ALL) - set(ROWS) - set(LIST_INPUTS))
    assert not missing, f"add a row to tests/test_bad_input.py ROWS for: {', '.join(missing)}"
    stale = sorted(set(ROWS) - set(ALL))
    assert not stale, f"rows for losses not in the catalogue: {', '.join(stale)}"
    for name, row in ROWS.items():
        unknown = set(row.expect) - set(COLUMNS)
        assert not unknown, f"{name}: overrides for unknown columns {unknown}"


def _each_cell(test):
    """``test(name, col)`` parametrized over every cell of the matrix: each
    loss of the catalogue by each column of COLUMNS."""
    return pytest.mark.parametrize("col", list(COLUMNS))(pytest.mark.parametrize("name", ALL)(test))


def _cell(name, col):
    """The loss's Ctx for one cell of the matrix, once its row is known to
    exist. A cell whose outcome nobody has judged yet (losses merged at the
    end of a session) is xfailed without running, listed in every run."""
    assert name in ROWS, f"no row for {name}: add one to ROWS"
    e = ROWS[name].expect.get(col)
    if isinstance(e, Known) and e.reason.startswith("untriaged"):
        pytest.xfail(f"{name} x {col}: {e.reason}")
    return Ctx(name)


@_each_cell
def test_bad_input(name, col):
    c = _cell(name, col)
    cases = COLUMNS[col](c)
    if not cases:
        return  # the class does not apply to this loss (no labels, no bounded domain)
    for case in cases:
        expect = expectation(name, col, case)
        if isinstance(expect, Known):
            with pytest.raises(AssertionError):
                check(c.loss, c.ref, case, expect.then or Ref())
            pytest.xfail(f"known defect: {expect.reason}")
        check(c.loss, c.ref, case, expect)


@pytest.mark.parametrize("name", ALL)
def test_unaligned_is_bit_equal(name):
    """Every array of a call unaligned (inputs, labels, lengths, array
    parameters, sample weights) gives the aligned call's numbers bit for bit,
    from every verb and reduction: the Python layer copies each one to
    aligned memory, and the binding refuses any that would reach a kernel
    unaligned (so a path that forgot it fails here with "must be aligned")."""
    c = Ctx(name)
    w = c.weights()
    args, params, kw = _unaligned_call(c, w)
    aligned_kw = {"sample_weight": w}
    verbs = ["value_and_grad"] + (["grad_hess"] if c.loss.has_hess else [])
    for red in ("mean", "sum", "none"):
        for weights in (False, True):
            k_u = kw if weights else {}
            k_a = aligned_kw if weights else {}
            want = c.loss(*c.args, reduction=red, **k_a, **c.params)
            got = c.loss(*args, reduction=red, **k_u, **params)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} {red} value")
            for verb in verbs:
                want = getattr(c.loss, verb)(*c.args, reduction=red, **k_a, **c.params)
                got = getattr(c.loss, verb)(*args, reduction=red, **k_u, **params)
                for i, (g, e) in enumerate(zip(got, want)):
                    for j, (gj, ej) in enumerate(zip(_as_tuple(g), _as_tuple(e))):
                        np.testing.assert_array_equal(
                            gj, ej, err_msg=f"{name} {red} {verb}[{i}][{j}] weights={weights}"
                        )


def test_conversions_give_aligned_arrays():
    """Each conversion of fastloss._arrays copies an unaligned array (which
    np.ascontiguousarray keeps as it is) and keeps an aligned one."""
    from fastloss import _arrays as A

    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    ux = unaligned(x)
    assert A.as_float(x, "pred") is x
    for got in (
        A.as_float(ux, "pred"),
        A.as_float(ux, "pred", np.dtype(np.float32)),
        A.as_float(unaligned(x.astype(np.float32)), "pred", np.dtype(np.float64)),
        A.as_labels(unaligned(np.arange(5))),
        A.as_labels(unaligned(np.arange(5, dtype=np.int32))),
        A.as_contiguous(ux),
        A.aux_input(ux, x, "alpha", "pred's"),
        A.prepare_weight(ux, x.shape, x.dtype),
        A.prepare_weight(unaligned(np.ones(3)), x.shape, x.dtype),
        A.prepare_weight(unaligned(np.ones(4)), x.shape, x.dtype, pattern=True)[0],
        A.broadcast_pattern(np.broadcast_to(unaligned(np.ones(4)), (3, 4)))[0],
    ):
        assert got.flags.aligned and got.flags.c_contiguous
    np.testing.assert_array_equal(A.as_float(ux, "pred"), x)
    lab = np.arange(5)
    assert A.as_labels(lab) is lab


def test_unaligned_list_inputs_are_bit_equal():
    """perceptual's lists of feature maps (skipped by the table: cases.LIST_INPUTS)."""
    f, g, params = CASES["perceptual"](np.random.default_rng(0), np.float64, N)
    uf, ug = [unaligned(a) for a in f], [unaligned(a) for a in g]
    for red in ("mean", "sum", "none"):
        want_v, want_g = fl.perceptual.value_and_grad(f, g, reduction=red, **params)
        got_v, got_g = fl.perceptual.value_and_grad(uf, ug, reduction=red, **params)
        # "none" gives a list (one loss array per layer), as the gradient is
        pairs = [(got_v, want_v)] if red != "none" else list(zip(got_v, want_v))
        for a, b in pairs + list(zip(got_g, want_g)):
            np.testing.assert_array_equal(a, b, err_msg=f"perceptual {red}")


# ------------------------------------------------------------------ integrations
#
# The same cases through fastloss.Accumulator and fastloss.torch: an error
# where the core raises one (the message naming the argument, by the loss's
# name for it or the integration's own: pred / target), the core's numbers
# where it gives numbers. Skipped per case where the integration has no such
# argument: the accumulator's weights are one per row (not per sample) and
# it takes no out= or reduction; torch takes no out= and no non-numeric
# arrays (no tensor holds strings or objects).


def _acc_applies(c, case):
    return (
        c.row.accumulate
        and getattr(c.loss, "accumulable", True)
        and not ({"out", "reduction", "sample_weight", "wrt"} & set(case.kw))
    )


def check_accumulator(c, case, expect):
    loss = c.loss
    names = (*_names(loss, expect.role), "pred", "target") if isinstance(expect, Err) else ()
    if isinstance(expect, Err):
        with pytest.raises((ValueError, TypeError)) as info:
            acc = fl.Accumulator([loss.with_params(**case.params)])
            acc.update(*case.args)
        msg = str(info.value)
        assert any(n in msg for n in names), f"Accumulator({loss.name}): {msg}"
        return
    if case.args[0].ndim == 0:  # rows are the first axis: a 0-d input has none
        with pytest.raises(ValueError, match="first \\(row\\) axis"):
            fl.Accumulator([loss.with_params(**case.params)]).update(*case.args)
        return
    acc = fl.Accumulator([loss.with_params(**case.params)])
    acc.update(*case.args)
    got = acc.result()[loss.name]
    want = loss(*case.args, **case.params)
    if len(case.args[0]) == 0:
        assert math.isnan(got), f"Accumulator({loss.name}) over no rows: {got}"
        return
    np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"Accumulator({loss.name})")


def _tensor(torch, x):
    return torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x


def _torch_applies(c, case):
    if "out" in case.kw:
        return False
    arrays = [*case.args, case.kw.get("sample_weight")]
    return all(not isinstance(a, np.ndarray) or a.dtype.kind in "biufc" for a in arrays)


def check_torch(c, case, expect):
    torch = pytest.importorskip("torch")
    import fastloss.torch as flt

    loss = c.loss
    fn = getattr(flt, loss.name)
    kw = {k: _tensor(torch, v) for k, v in case.kw.items()}
    args = [_tensor(torch, a) for a in case.args]
    named = dict(zip(loss.inputs, case.args), sample_weight=case.kw.get("sample_weight"))
    half = [k for k, a in named.items() if isinstance(a, np.ndarray) and a.dtype == np.float16]
    if isinstance(expect, Err):
        with pytest.raises((ValueError, TypeError)) as info:
            fn(*args, **kw, **case.params)
        names = (*_names(loss, expect.role), "pred", "target", "input")
        msg = str(info.value)
        assert any(n in msg for n in names), f"fastloss.torch.{loss.name}: {msg}"
        return
    want_v = loss(*case.args, **case.kw, **case.params)
    got = fn(*args, **kw, **case.params)
    if half:
        # computed in float32 as the core computes float16, the value in the
        # dtype torch gives (the inputs' promoted floating dtype)
        floats = [a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()]
        want_dt = floats[0]
        for d in floats[1:]:
            want_dt = torch.promote_types(want_dt, d)
        assert got.dtype == want_dt, (got.dtype, want_dt)
        want_v = torch.as_tensor(np.asarray(want_v)).to(want_dt).numpy()
    np.testing.assert_array_equal(got.numpy(), np.asarray(want_v))
    # the first differentiable input (pred, or kmeans_inertia's centers: the
    # adapter refuses a gradient asked of an input that has none)
    i = loss.inputs.index(loss.wrt[0])
    p = args[i]
    if p.dtype in (torch.float32, torch.float64) and not isinstance(expect, Limit):
        p = p.clone().requires_grad_(True)
        fn(*args[:i], p, *args[i + 1 :], **kw, **case.params).sum().backward()
        want_g = _as_tuple(loss.grad(*case.args, **case.kw, **case.params))[0]
        np.testing.assert_array_equal(p.grad.numpy(), want_g)


@_each_cell
def test_bad_input_integrations(name, col):
    c = _cell(name, col)
    for case in COLUMNS[col](c):
        expect = expectation(name, col, case)
        if isinstance(expect, Known):
            continue  # xfailed in test_bad_input
        if _acc_applies(c, case):
            check_accumulator(c, case, expect)
        if _torch_applies(c, case):
            check_torch(c, case, expect)


def _cli(tmp_path, capsys, arrays, *extra):
    from fastloss.cli import main

    path = tmp_path / "t.npz"
    np.savez(path, **arrays)
    rc = main(["eval", str(path), "--pred", "p", "--target", "t", "--format", "json", *extra])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", ALL)
def test_bad_input_cli(name, tmp_path, capsys):
    """``fastloss eval`` (through its Python entry) on each loss: its valid
    case scores as the core does; every invalid parameter, a non-numeric
    column and columns of different lengths exit 2 with one line naming
    what is wrong; NaN in pred scores as null (JSON has no NaN)."""
    c = Ctx(name)
    if not (c.row.accumulate and getattr(c.loss, "accumulable", True)):
        return  # the command line runs on accumulators
    p, t = c.args
    arrays = {"p": p, "t": t}
    spec = name + "".join(
        f",{k}={v!r}" if i else f":{k}={v!r}"
        for i, (k, v) in enumerate(
            (k, v) for k, v in c.params.items() if not isinstance(v, np.ndarray)
        )
    )
    array_params = {k: v for k, v in c.params.items() if isinstance(v, np.ndarray)}
    if array_params:  # an array parameter is a file on the command line
        for k, v in array_params.items():
            np.save(tmp_path / f"{k}.npy", v)
            spec += ("," if ":" in spec else ":") + f"{k}=@{tmp_path / k}.npy"
    rc, out, err = _cli(tmp_path, capsys, arrays, "--loss", spec)
    assert rc == 0, err
    got = json.loads(out)["results"][name]
    np.testing.assert_allclose(got, c.loss(p, t, **c.params), rtol=1e-12)

    rc, out, err = _cli(tmp_path, capsys, {"p": _set(p, np.nan), "t": t}, "--loss", spec)
    assert rc == 0 and json.loads(out)["results"][name] is None, (rc, out, err)

    for k, default in c.loss.params.items():
        for bad in _bad_values(k, default):
            if isinstance(bad, np.ndarray) or bad is None:
                continue  # arrays come from files; None is not a command-line value
            text = "nan" if isinstance(bad, float) and math.isnan(bad) else repr(bad)
            rc, out, err = _cli(tmp_path, capsys, arrays, "--loss", f"{name}:{k}={text}")
            assert rc == 2 and k in err and err.count("\n") == 1, (k, bad, rc, err)

    rc, out, err = _cli(tmp_path, capsys, {"p": p, "t": t.astype(str)}, "--loss", spec)
    assert rc == 2 and "'t'" in err, err
    rc, out, err = _cli(tmp_path, capsys, {"p": p, "t": t[:-1]}, "--loss", spec)
    assert rc == 2 and "different lengths" in err, err


def _short(expect, loss):
    if isinstance(expect, Err):
        return "E:" + "|".join(_names(loss, expect.role))
    if isinstance(expect, Ref):
        return "ref~" if expect.nonfinite else "ref"
    if isinstance(expect, Limit):
        return "limit"
    return "KNOWN: " + expect.reason


def table():
    """``{(loss, column): [expected outcome per case]}`` and the case count."""
    out = {}
    for name in ALL:
        if fl.get(name).list_inputs:  # no row: tests/test_perceptual.py covers it
            continue
        c = Ctx(name)
        for col, f in COLUMNS.items():
            out[name, col] = [_short(expectation(name, col, k), c.loss) for k in f(c)]
    return out


if __name__ == "__main__":  # python tests/test_bad_input.py: the table, for the note
    import collections
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    t = table()
    kinds = collections.Counter(k.split(":")[0] for v in t.values() for k in v)
    for (name, col), v in t.items():
        if v:
            print(f"{name:34s} {col:22s} {', '.join(dict.fromkeys(v))}")
    n = sum(len(v) for v in t.values())
    pairs = sum(1 for v in t.values() if v)
    rows = len({name for name, _ in t})
    print(f"{rows} losses x {len(COLUMNS)} columns: {pairs} applicable pairs, {n} cases")
    print("by expected outcome:", dict(kinds))


@pytest.mark.parametrize("name", ALL)
def test_float64_beyond_float32_range_is_converted_quietly(name):
    # a float64 target (and weights) of a float32 pred is converted once to
    # float32 (README); a value beyond float32's range becomes inf, as the
    # cast makes it, without NumPy's overflow warning (an error here)
    c = Ctx(name)
    if _target_is_labels(c) or len(c.args) < 2:
        return
    # the real inputs in float32 (a ranking mask stays boolean)
    args = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in c.args]
    args[1] = _set(c.args[1], 1e300)  # float64
    w = _set(c.weights(), 1e300)
    with np.errstate(over="ignore"):  # the cast fastloss makes, done here
        converted = [args[0], args[1].astype(np.float32), *args[2:]]
        w32 = w.astype(np.float32)
    try:
        want = c.loss(*converted, reduction="none", sample_weight=w32, **c.params)
    except ValueError as exc:  # outside the target's domain: the same error
        with pytest.raises(ValueError, match=str(exc).split(":")[0]):
            c.loss(*args, reduction="none", sample_weight=w, **c.params)
        return
    got = c.loss(*args, reduction="none", sample_weight=w, **c.params)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ kernel defects
#
# Found by the fuzz harness (tests/fuzz/fuzz_losses.py) and the table, in the
# kernels (C++); each was a strict xfail until its fix, and is a regression
# test now.


@pytest.mark.parametrize(
    "dtype,r,rtol",
    # fixed: float32 |r| in [47.09, 51.99] was off by up to 1.4e-2, float64
    # |r| in [361.81, 372.56] by up to 1.8e-3 (the log of a subnormal); tanh(r)
    # is 1 in the dtype there
    [(np.float32, [47.5, 49.873222, 51.5], 1e-6), (np.float64, [362.0, 366.0, 372.0], 1e-12)],
)
def test_log_cosh_gradient_where_exp_is_subnormal(dtype, r, rtol):
    r = np.array(r, dtype)
    g = fl.log_cosh.grad(r, np.zeros_like(r), reduction="none")
    np.testing.assert_allclose(g, 1.0, rtol=rtol)


def test_ciou_float32_gradient_of_a_thin_box():
    # fixed: float32 (w / h)**2 overflowed for h < ~1e-19 |w| and the
    # gradient was inf * 0 = NaN; a box thinner than 2^20 : 1 takes the
    # aspect term's derivatives in h / w (tests/test_boxes.py: more shapes)
    t = np.array([[0.5, -5.1, 0.94, -1.35]], np.float32)
    p = np.array([[-2.0, 0.0, -1.8, 1e-20]], np.float32)
    g = fl.ciou_loss.grad(p, t)
    want = fl.ciou_loss.grad(p.astype(np.float64), t.astype(np.float64))
    np.testing.assert_allclose(g, want, rtol=1e-5)


def test_gradient_penalty_float32_subnormal_sample():
    # x = (2e-39, 0): in float32 x*x underflows and 2 / norm overflows; the
    # kernel keeps the sum of squares and the factor in float64 (fixed: it
    # gave -inf and NaN)
    x = np.array([[2e-39, 0.0], [1.0, 2.0]], np.float32)
    g = fl.gradient_penalty.grad(x, target_norm=1.0)
    assert np.all(np.isfinite(g)), g


def test_pseudo_huber_huge_delta():
    # delta**2 * (sqrt(1 + (r/delta)**2) - 1) = r**2 / (sqrt(1 + (r/delta)**2) + 1)
    # has no overflow (fixed: the kernel's delta**2 form gave NaN once it was inf)
    p, t = np.array([1.0, 2.0], np.float32), np.zeros(2, np.float32)
    v = fl.pseudo_huber(p, t, delta=2.0**70, reduction="none")
    np.testing.assert_allclose(v, [0.5, 2.0], rtol=1e-6)


def test_entropy_float32_gradient_of_a_nearly_uniform_row():
    # found by the fuzz harness (seed 0, input 19168: logits scaled 1e-6);
    # fixed: the kernel's -p (log p + H) cancelled (the float32 exps of the
    # log-sum-exp), -p (z_k - sum_j p_j z_j) keeps the digits
    z = (np.random.default_rng(1).normal(size=(8, 5)) * 1e-6).astype(np.float32)
    g = fl.entropy.grad(z)
    want = fl.entropy.grad(z.astype(np.float64))
    np.testing.assert_allclose(g, want, rtol=1e-4, atol=0)


def _focal_grad_hess_mp(z, y, gamma):
    """softmax_focal's gradient and diagonal Hessian in 60-digit mpmath (the
    formulas of fastloss.reference.multiclass: g_k = A (p_k - [k = y]),
    H_kk = A p_k (1 - p_k) - A'(p_y) p_y (p_k - [k = y])^2, A(p) = u^g -
    g p u^(g-1) log p, u = 1 - p_y)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(60):
        e = [mp.exp(mp.mpf(v)) for v in z]
        se = mp.fsum(e)
        p = [v / se for v in e]
        u = mp.fsum(p[k] for k in range(len(z)) if k != y)
        py, g = p[y], mp.mpf(gamma)
        L = -mp.log1p(u / py)  # log p_y = -log(1 + u / p_y): no cancellation
        up = lambda k: u**k if gamma else (1 if k == 0 else 0)  # noqa: E731
        A = up(g) - g * py * up(g - 1) * L
        dA = -2 * g * up(g - 1) - g * up(g - 1) * L + g * (g - 1) * py * up(g - 2) * L
        # 1 - p_k and p_k - [k = y] as sums of the others' p: 1 - 1e-300 is 1
        # in 60 digits
        q = [mp.fsum(p[j] for j in range(len(z)) if j != k) for k in range(len(z))]
        d = [-u if k == y else p[k] for k in range(len(z))]
        grad = [float(A * d[k]) for k in range(len(z))]
        hess = [float(A * p[k] * q[k] - dA * py * d[k] ** 2) for k in range(len(z))]
        return grad, hess


@pytest.mark.parametrize("gamma", [0.0, 0.01, 0.5, 2.0, 3.7])
@pytest.mark.parametrize("gap", [700.0, 720.0, 740.0, 750.0])
def test_softmax_focal_hessian_of_a_subnormal_probability(gap, gamma):
    # found by the fuzz harness (seed 0, input 58442: logits scaled 1000);
    # fixed: where the other classes' exps sum to a subnormal u (a logit
    # 708-745 below the label's) the kernel's 1 / u overflowed and the row
    # was NaN; so did u^(gamma-1) for gamma < 0.013 (gamma = 0 included),
    # in the Hessian and, for 0 < gamma < 1, the gradient. Against mpmath
    # (the subnormal exps carry a few ulps of 5e-324). At gamma = 0.01 to
    # 2%: the kernel's log p_y = -log(1 + u) rounds to 0 where u < eps (as
    # torch's log_softmax does), which moves A by gamma u^gamma; for the
    # other gammas those terms underflow.
    z = [0.0, -gap, -3000.0]
    g, h = fl.softmax_focal.grad_hess(np.array([z]), [0], gamma=gamma, reduction="sum")
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h)), (g, h)
    want_g, want_h = _focal_grad_hess_mp(z, 0, gamma)
    rtol = 0.02 if gamma == 0.01 else 1e-12
    np.testing.assert_allclose(h[0], want_h, rtol=rtol, atol=1e-321)
    # the label's entry A (p_y - 1) is computed as A / sum(e) - A (torch's
    # softmax - onehot likewise): 0 here, within eps |A| of -A u
    np.testing.assert_allclose(g[0, 1:], want_g[1:], rtol=rtol, atol=1e-321)
    assert abs(g[0, 0] - want_g[0]) <= 2.3e-16, (g, want_g)
    g1 = fl.softmax_focal.grad(np.array([z]), [0], gamma=gamma, reduction="sum")
    np.testing.assert_array_equal(g1, g)  # the gradient alone: the same bits


@pytest.mark.parametrize("gamma", [1.0715936660657005e-06, 0.5, 2.0])
@pytest.mark.parametrize("x,y", [(-661.88104, 0.0), (661.88104, 1.0), (-30.0, 0.0), (2.0, 1.0)])
def test_sigmoid_focal_hessian_far_in_the_tail(x, y, gamma):
    # found by the fuzz harness (seed 0, input 92591): the reference's
    # gamma (gamma - 1) ce q^(gamma-2) q'^2 overflowed (q = 1 - p_t = 1e-287)
    # and gave -inf where the Hessian is +2.5e-288; the kernel was right. Both
    # against 60-digit mpmath (second derivative of the loss in x).
    mp = pytest.importorskip("mpmath")
    alpha = 0.3
    with mp.workdps(60):
        a = mp.mpf(alpha) if y == 1 else 1 - mp.mpf(alpha)
        g = mp.mpf(gamma)

        def loss(t):
            s = t if y == 1 else -t  # p_t = sigmoid(s); 1 - p_t = sigmoid(-s), no cancellation
            return a * (1 / (1 + mp.exp(s))) ** g * mp.log1p(mp.exp(-s))

        want_g = float(mp.diff(loss, mp.mpf(x), 1))
        want_h = float(mp.diff(loss, mp.mpf(x), 2))
    z, t = np.array([x]), np.array([y])
    for f in (fl.sigmoid_focal, R.sigmoid_focal):
        gk, hk = f.grad_hess(z, t, alpha=alpha, gamma=gamma, reduction="sum")
        np.testing.assert_allclose(gk, [want_g], rtol=1e-9, atol=1e-300, err_msg=str(f))
        np.testing.assert_allclose(hk, [want_h], rtol=1e-9, atol=1e-300, err_msg=str(f))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("power", [-1.0, 1.0, 1.2, 1.5, 2.0, 3.0])
def test_tweedie_at_an_infinite_mean(power, dtype):
    # fixed: the identity link at mu = +inf gave NaN (inf * 0 in mu * mu^(1-p)
    # and mu^-p (mu - y), inf - inf in y log(y / mu) + mu) where each is its
    # limit: the deviance +inf for p <= 2 and 2 y^(2-p) / ((1-p)(2-p)) for
    # p > 2; d/dmu 0 for p > 1, 2 at p = 1, +inf for p < 1; d2/dmu2 0 for
    # p > 0, +inf for p < 0. The finite means beside it are unchanged.
    y = np.array([0.5, 2.0, 3.0], dtype)
    mu = np.array([np.inf, np.inf, 1.7], dtype)
    v, g = fl.tweedie.value_and_grad(mu, y, power=power, reduction="none")
    _, h = fl.tweedie.grad_hess(mu, y, power=power, reduction="none")
    if power > 2:
        want_v = 2 * y[:2].astype(np.float64) ** (2 - power) / ((1 - power) * (2 - power))
    else:
        want_v = [np.inf, np.inf]
    want_g = 0.0 if power > 1 else 2.0 if power == 1 else np.inf
    want_h = 0.0 if power > 0 else np.inf
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(v[:2], want_v, rtol=rtol)
    np.testing.assert_array_equal(g[:2], [want_g] * 2)
    np.testing.assert_array_equal(h[:2], [want_h] * 2)
    rv, rg = R.tweedie.value_and_grad(mu, y, power=power, reduction="none")
    # (float32's deviance has an absolute error up to ~2e-6: its terms are
    # computed apart, tests/fuzz/fuzz_losses.py's known())
    np.testing.assert_allclose(v, rv, rtol=rtol, atol=0 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(g, rg, rtol=rtol)
    # a NaN or infinite target at mu = +inf has no limit: NaN
    vn = fl.tweedie(
        np.array([np.inf, np.inf], dtype),
        np.array([np.nan, np.inf], dtype),
        power=power,
        reduction="none",
    )
    assert np.all(np.isnan(vn)), vn
