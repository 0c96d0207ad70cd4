"""Multiclass losses: scores of shape ``(..., C)``, the class axis last.

Every loss here reads one row of ``C`` scores per sample: the per-sample loss
has shape ``pred.shape[:-1]``, ``sample_weight`` broadcasts against that
shape, and the gradient has pred's shape. Targets are integer labels of shape
``pred.shape[:-1]`` or, where a loss takes them, dense targets (class
probabilities, one-hot rows) of pred's shape. ``reduction="mean"`` divides by
the number of samples, or by ``sum(sample_weight)``; ``cross_entropy`` and
``softmax_focal`` with labels divide by ``sum(sample_weight * class_weight[y])``
over the non-ignored samples, as PyTorch does.

The kernels (cpp/include/fastloss/multiclass.hpp) run one generic row-wise
driver (common/rowwise.hpp): results are bitwise identical for any thread
count and every ISA level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastloss import _core
from fastloss._arrays import _to_ndarray, as_float, as_labels
from fastloss._catalogue import check_domain, declare, grad_kernel
from fastloss._loss import GRAD, MULTICLASS, REGRESSION, Loss
from fastloss.regression import _MSE  # the binary Brier score is the mse kernel

__all__ = [
    "cross_entropy",
    "multiclass_hinge",
    "softmax_focal",
    "kl_div",
    "brier",
    "categorical_hinge",
    "nll",
    "multilabel_soft_margin",
    "multilabel_margin",
]


def _job(
    classes,
    sample_shape,
    target=None,
    labels=None,
    class_weight=None,
    ignore_index=-100,
    p0=0.0,
    p1=0.0,
    p2=0.0,
):
    """What a loss's prepare step hands to the kernel, as a plain tuple
    ``(sample_shape, classes, target, labels, class_weight, ignore_index, p0,
    p1, p2)`` (a dataclass cost a third of a microsecond of a call on ten elements):

    - ``target``: dense target, pred's dtype and shape, or None;
    - ``labels``: int64, one per sample, or None;
    - ``class_weight``: float64 of shape ``(classes,)``, or None;
    - ``classes`` None: one value per element (binary brier), computed by the
      regression kernel ``_MSE`` on ``(pred, target)``.
    """
    return (sample_shape, classes, target, labels, class_weight, ignore_index, p0, p1, p2)


class RowLoss(Loss):
    """A loss computed per row of ``C`` contiguous scores (class axis last).

    ``prepare(loss, pred, target, params)`` checks the shapes, picks labels
    or dense targets, packs the parameters and returns ``_job(...)``; the
    rest (weights, outputs, the kernel call) is shared.

    A dense target differentiable on request (``wrt_on_request``) has a
    kernel of its own (the catalogue's ``grad_kernel``) that writes the
    target's gradient, scaled as the scores' is: a second pass after the
    scores' where both are asked. Integer labels have none.
    """

    def __init__(self, name, *, kernel_id, prepare, unbatched=False, **kw):
        super().__init__(name, **kw)
        self._id = kernel_id
        self._prepare = prepare
        self._target_id = grad_kernel(name, self.target_name) if self.wrt_on_request else None
        # whether one sample's (C,) scores (torch's unbatched input) are taken
        # as a batch of one: the kernel reads a (C,) row as it reads (1, C),
        # the per-sample shape is then ()
        self._unbatched = unbatched

    def _plan(self, inputs, p):
        pred = as_float(inputs[0], self.pred_name)
        job = self._prepare(self, pred, inputs[1], p)
        reads = (pred, job[2] if job[2] is not None else job[3])
        return pred.dtype, job[0], (pred.shape,) * self._nslots, reads, (pred, job)

    def _launch(self, state, op, red, w, value_out, grads, hess, p, blocks=None):
        # the target's gradient asked (wrt_on_request): a pass of its own
        if grads is not None and len(grads) > 1 and grads[1] is not None:
            return self._launch_with_target(state, op, red, w, value_out, grads, p)
        pred, (_, classes, target, labels, cw, ignore_index, p0, p1, p2) = state
        grad = grads[0] if grads is not None else None
        if classes is None:
            return self._run_pair(
                REGRESSION, _MSE, op, red, pred, target, w, value_out, grad, blocks, out_hess=hess
            )
        try:
            # by position, as the hot path passes them (see cpp/bindings/run.cpp)
            return _core.run(
                MULTICLASS,
                self._id,
                op,
                red,
                pred,
                target,
                labels,
                w,
                None,
                cw,
                value_out,
                grad,
                hess,
                classes,
                0,
                0,
                1,
                ignore_index,
                (p0, p1, p2),
                blocks,
            )
        except _core.InvalidElement as exc:  # the kernel found a label out of range
            i = exc.args[0]
            msg = (
                f"{self.target_name}: label {int(labels.flat[i])} at sample {i} is out of "
                f"range: labels must be in [0, {classes})"
            )
            if "ignore_index" in p:
                msg += f" or equal ignore_index={ignore_index}"
            raise ValueError(msg) from None

    def _launch_with_target(self, state, op, red, w, value_out, grads, p):
        """The scores' pass (value and gradient, as asked), then the dense
        target's gradient by its own kernel."""
        g_pred, g_target = grads
        pred, (_, classes, target, labels, cw, ignore_index, p0, p1, p2) = state
        if g_target is not None and target is None:
            raise ValueError(
                f"wrt: {self.target_name!r} holds integer labels, which have no gradient; "
                f"{self.name} differentiates a floating target of "
                f"{self.pred_name}'s shape (class probabilities)"
            )
        value = self._pred_pass(state, op, red, w, value_out, g_pred, p)
        if g_target is not None:
            _core.run(
                MULTICLASS,
                self._target_id,
                GRAD,
                red,
                pred,
                target,
                None,
                w,
                None,
                cw,
                None,
                g_target,
                None,
                classes,
                0,
                0,
                1,
                ignore_index,
                (p0, p1, p2),
                None,
            )
        return value


# --------------------------------------------------------------------------
# shape and argument checks


def _classes(loss: RowLoss, pred: np.ndarray, min_classes: int = 1) -> int:
    shape = pred.shape
    if (len(shape) >= 2 or (len(shape) == 1 and loss._unbatched)) and shape[-1] >= min_classes:
        return shape[-1]
    if pred.ndim < (1 if loss._unbatched else 2):
        least = "1 dimension (C,) or (N, C)" if loss._unbatched else "2 dimensions (N, C)"
        raise ValueError(
            f"{loss.pred_name} must have at least {least}, the class axis last; "
            f"got shape {tuple(pred.shape)}"
        )
    raise ValueError(
        f"{loss.pred_name} must have at least {min_classes} class(es) on its last axis, "
        f"got shape {tuple(pred.shape)}"
    )


def _labels(loss: RowLoss, pred: np.ndarray, t: np.ndarray) -> np.ndarray:
    if t.shape != pred.shape[:-1]:
        raise ValueError(
            f"{loss.target_name}: integer labels must have shape {loss.pred_name}.shape[:-1] = "
            f"{tuple(pred.shape[:-1])}; got {loss.pred_name} shape {tuple(pred.shape)} and "
            f"{loss.target_name} shape {tuple(t.shape)}"
        )
    return as_labels(t, loss.target_name)


def _dense(loss: RowLoss, pred: np.ndarray, t: np.ndarray) -> np.ndarray:
    if t.shape != pred.shape:
        raise ValueError(
            f"{loss.pred_name} and {loss.target_name} must have the same shape, got "
            f"{tuple(pred.shape)} and {tuple(t.shape)}"
        )
    return as_float(t, loss.target_name, pred.dtype)


def _class_weight(cw: Any, c: int) -> np.ndarray | None:
    """A ``class_weight`` parameter as a contiguous float64 ``(C,)`` array
    (None stays None); the row losses and linear_cross_entropy read it."""
    if cw is None:
        return None
    cw = np.ascontiguousarray(as_float(cw, "class_weight", np.dtype(np.float64)))
    if cw.shape != (c,):
        raise ValueError(f"class_weight must have shape (C,) = ({c},), got {tuple(cw.shape)}")
    return cw


def _labels_job(loss, pred, target, class_weight=None, min_classes=1, **kw):
    """The job of a loss on integer labels of shape ``pred.shape[:-1]``:
    classes and labels checked, ``class_weight`` (the raw parameter) converted."""
    c = _classes(loss, pred, min_classes)
    labels = _labels(loss, pred, _to_ndarray(target, loss.target_name))
    cw = _class_weight(class_weight, c)
    return _job(c, pred.shape[:-1], labels=labels, class_weight=cw, **kw)


def _dense_job(loss, pred, target, class_weight=None, **kw):
    """The job of a loss on a dense target of pred's shape (one value per
    class), ``class_weight`` (the raw parameter) converted."""
    c = _classes(loss, pred)
    t = _dense(loss, pred, _to_ndarray(target, loss.target_name))
    return _job(c, pred.shape[:-1], target=t, class_weight=_class_weight(class_weight, c), **kw)


def probability_target(t, logits_shape, label_shape, name, ignore_index, dtype):
    """A target of the logits' shape holds class probabilities, as torch
    tells the two kinds apart: returned as floats of ``dtype``; None where
    ``t`` is labels (any other shape). A non-floating one is refused, and so
    is ``ignore_index >= 0`` with probabilities (torch's rule). cross_entropy
    and linear_cross_entropy read their targets by it."""
    if t.shape != tuple(logits_shape):
        return None
    if t.dtype.kind != "f":
        raise ValueError(
            f"{name}: a target of the logits' shape {tuple(logits_shape)} holds class "
            f"probabilities and must be floating point, got dtype {t.dtype}; integer labels "
            f"must have shape {tuple(label_shape)}"
        )
    if ignore_index >= 0:
        raise ValueError(
            "ignore_index is not supported with class-probability targets "
            f"(got ignore_index={ignore_index})"
        )
    return as_float(t, name, dtype)


def _prep_cross_entropy(loss, pred, target, p):
    c = _classes(loss, pred)
    t = _to_ndarray(target, loss.target_name)
    cw = _class_weight(p["class_weight"], c)
    eps = p["label_smoothing"]
    probs = probability_target(
        t, pred.shape, pred.shape[:-1], loss.target_name, p["ignore_index"], pred.dtype
    )
    if probs is not None:
        return _job(c, pred.shape[:-1], probs, None, cw, p0=eps)
    return _job(c, pred.shape[:-1], None, _labels(loss, pred, t), cw, p["ignore_index"], eps)


def _prep_hinge(loss, pred, target, p):
    ww = 1.0 if p["variant"] == "weston_watkins" else 0.0
    # p is checked before the inputs, as the declared parameters are
    if p["p"] not in (1, 2):
        raise ValueError(f"p must be 1 or 2 (as torch's multi_margin_loss), got {p['p']!r}")
    return _labels_job(
        loss, pred, target, min_classes=2, p0=p["margin"], p1=ww, p2=float(p["p"] == 2)
    )


def _prep_focal(loss, pred, target, p):
    return _labels_job(loss, pred, target, p["class_weight"], p0=p["gamma"])


def _prep_kl(loss, pred, target, p):
    return _dense_job(loss, pred, target, p0=1.0 if p["log_target"] else 0.0)


def _prep_brier(loss, pred, target, p):
    t = _to_ndarray(target, loss.target_name)
    check_domain("brier", loss.pred_name, pred)  # as scikit-learn checks them
    if t.shape == pred.shape:  # binary: (p - t)^2 per element, the mse kernel
        t = as_float(t, loss.target_name, pred.dtype)
        check_domain("brier", loss.target_name, t)
        return _job(None, pred.shape, target=t)
    if pred.ndim >= 2 and t.shape == pred.shape[:-1]:
        return _job(_classes(loss, pred), pred.shape[:-1], labels=_labels(loss, pred, t))
    raise ValueError(
        f"{loss.target_name}: expected binary targets of {loss.pred_name}'s shape, or integer "
        f"labels of shape {loss.pred_name}.shape[:-1]; got {loss.pred_name} shape "
        f"{tuple(pred.shape)} and {loss.target_name} shape {tuple(t.shape)}"
    )


def _prep_categorical_hinge(loss, pred, target, p):
    return _dense_job(loss, pred, target)


def _prep_nll(loss, pred, target, p):
    return _labels_job(loss, pred, target, p["class_weight"], ignore_index=p["ignore_index"])


def _prep_multilabel_soft_margin(loss, pred, target, p):
    return _dense_job(loss, pred, target, p["class_weight"])


def _prep_multilabel_margin(loss, pred, target, p):
    c = _classes(loss, pred)
    t = _to_ndarray(target, loss.target_name)
    if t.shape != pred.shape:
        raise ValueError(
            f"{loss.target_name}: rows of class indices must have {loss.pred_name}'s shape "
            f"{tuple(pred.shape)}, got {tuple(t.shape)}"
        )
    t = as_labels(t, loss.target_name)
    if t.size:
        lo, hi = int(t.min()), int(t.max())
        if lo < -1 or hi >= c:
            bad = lo if lo < -1 else hi
            i = int(np.flatnonzero(t.ravel() == bad)[0])
            raise ValueError(
                f"{loss.target_name}: class index {bad} at flat index {i} is out of range: "
                f"indices must be in [0, {c}), or -1 to end a row's list"
            )
    return _job(c, pred.shape[:-1], labels=t)


_REDUCTION_DOC = """    reduction : {"mean", "sum", "none"}, keyword-only
        ``"mean"`` divides the (weighted) sum of the per-sample losses by the
        number of samples, or by ``sum(sample_weight)``; ``"none"`` returns
        the per-sample losses, shape ``pred.shape[:-1]``.
    sample_weight : array_like, optional, keyword-only
        Per-sample weights broadcast against ``pred.shape[:-1]``; they
        multiply each sample's loss and enter the mean's denominator.
"""


# --------------------------------------------------------------------------
# the losses

cross_entropy = declare(
    RowLoss,
    "cross_entropy",
    prepare=_prep_cross_entropy,
    unbatched=True,
    peer="torch.nn.functional.cross_entropy (class axis moved last)",
    doc="""Softmax cross-entropy of logits against labels or class probabilities.

    The standard multiclass classification loss. The class axis is the LAST
    axis of ``logits`` (PyTorch's ``(N, C, d1, ...)`` input corresponds to
    ``movedim(1, -1)`` here). With ``lse = log sum_k exp(z_k)`` (computed
    with the row maximum subtracted), ``eps = label_smoothing``, class weights
    ``cw`` (all 1 when not given) and ``C`` classes, the per-sample loss is

    * integer labels ``y``::

          l = (1 - eps) cw_y (lse - z_y) + (eps / C) sum_k cw_k (lse - z_k)

      and 0 where ``y == ignore_index``;
    * class probabilities ``t`` (a float target of the logits' shape), with
      ``q_k = cw_k (t_k (1 - eps) + eps / C)``::

          l = sum_k q_k (lse - z_k)

      a term whose ``q_k`` is 0 counts 0 (so a ``-inf`` logit with zero
      target probability contributes nothing, where PyTorch gives NaN).

    The gradient is ``sum_k q_k * softmax(z) - q`` (for labels ``q_k =
    (1 - eps) cw_y [k = y] + (eps / C) cw_k``), computed in the same pass.

    Normalization of ``reduction="mean"`` (PyTorch's): with labels, the
    weighted sum divided by ``sum_i w_i cw_{y_i}`` over the non-ignored
    samples (``w`` = ``sample_weight``, 1 when not given) -- so without
    class weights, by the (weighted) count of non-ignored samples, and with
    label smoothing the smoothing term is divided by that same sum. With
    class probabilities, by ``sum_i w_i`` (the sample count), as PyTorch
    divides by N. If every sample is ignored the mean is NaN (0/0), as in
    PyTorch.

    Parameters
    ----------
    logits : array_like, shape (..., C)
        Unnormalized scores, class axis last. float32 and float64 run natively.
        A 1-D ``(C,)`` array is one sample, as torch's unbatched input (its
        label 0-D, the ``"none"`` result 0-D).
    target : array_like
        Integer class labels of shape ``logits.shape[:-1]`` (whole-valued
        floats are accepted), or class probabilities: a floating-point array of
        the logits' shape. Labels outside ``[0, C)`` other than
        ``ignore_index`` raise ValueError.
"""
    + _REDUCTION_DOC
    + """    class_weight : array_like, shape (C,), optional, keyword-only
        Per-class weights (PyTorch's ``weight``), applied as above.
    ignore_index : int, keyword-only, default -100
        Label whose samples count 0 and leave the mean's denominator. Must be
        negative with probability targets (as in PyTorch).
    label_smoothing : float in [0, 1], keyword-only, default 0.0
        Mixes the target with the uniform distribution over the C classes.

    Returns
    -------
    float, or ndarray of shape ``logits.shape[:-1]`` for ``reduction="none"``.
    ``grad`` returns an array of the logits' shape.

    Matches ``torch.nn.functional.cross_entropy`` (value and gradient, every
    combination of ``weight``, ``ignore_index``, ``label_smoothing`` and
    reduction, labels or probabilities) with the class axis moved last.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.cross_entropy([[0.0, 0.0]], [1]), 6)
    0.693147
    >>> round(fl.cross_entropy([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], [0, 1]), 6)
    0.360645
""",
)

multiclass_hinge = declare(
    RowLoss,
    "multiclass_hinge",
    prepare=_prep_hinge,
    unbatched=True,
    peer="sklearn.metrics.hinge_loss (crammer_singer); "
    "torch.nn.functional.multi_margin_loss (weston_watkins)",
    doc="""Multiclass hinge loss of raw scores against integer labels.

    For linear multiclass SVMs and margin-based training. With scores ``s``
    (class axis last), label ``y`` and ``C`` classes:

    * ``variant="crammer_singer"`` (Crammer & Singer 2001)::

          l = max(0, margin + max_{j != y} s_j - s_y)

      subgradient ``+1`` at the (first) arg-max ``j``, ``-1`` at ``y``, 0
      where ``l == 0``.
    * ``variant="weston_watkins"`` (Weston & Watkins 1999)::

          l = sum_{j != y} max(0, margin - s_y + s_j) / C

      gradient ``1/C`` for each active ``j`` and ``-(number active)/C`` at
      ``y``.

    With ``p=2`` each violation is squared (torch's ``multi_margin_loss``
    with ``p=2``; for ``crammer_singer`` the squared hinge
    ``max(0, margin + max_{j != y} s_j - s_y)**2``), gradient ``2 d / C``
    per active ``j`` (``+-2 d`` for ``crammer_singer``).

    A row holding a NaN gives a NaN loss and a NaN gradient row. With
    ``p=1`` both variants are piecewise linear: ``grad_hess`` gives Hessian 0
    (boosting adapters pass a positive constant instead); with ``p=2`` it
    gives the Hessian's diagonal, ``2/C`` at each active class and
    ``2 * count / C`` at the label (``2`` at both for ``crammer_singer``).

    Parameters
    ----------
    scores : array_like, shape (..., C), C >= 2 (a 1-D ``(C,)`` array: one sample)
        Decision function values, class axis last.
    labels : array_like of int, shape ``scores.shape[:-1]``
        Class labels in ``[0, C)``; others raise ValueError naming the label.
"""
    + _REDUCTION_DOC
    + """    margin : float, keyword-only, default 1.0
        Required gap between the true class's score and the others.
    variant : {"crammer_singer", "weston_watkins"}, keyword-only
        Which multiclass extension of the hinge.
    p : {1, 2}, keyword-only, default 1
        The power of each margin violation (torch's ``p``).

    Returns
    -------
    float, or ndarray of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Matches ``sklearn.metrics.hinge_loss(labels, scores, labels=range(C))``
    for ``crammer_singer`` with ``margin=1`` (including ``sample_weight``),
    and ``torch.nn.functional.multi_margin_loss(scores, labels, p=1,
    margin=margin)`` for ``weston_watkins`` (value and gradient), with
    ``p=p`` for either power.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.multiclass_hinge([[2.0, 1.5, 0.0]], [0])
    0.5
    >>> fl.multiclass_hinge([[2.0, 1.5, 0.0]], [0], variant="weston_watkins")
    0.16666666666666666
    >>> fl.multiclass_hinge([[2.0, 1.5, 0.0]], [0], variant="weston_watkins", p=2)
    0.08333333333333333
""",
)

softmax_focal = declare(
    RowLoss,
    "softmax_focal",
    prepare=_prep_focal,
    peer="fastloss.cross_entropy at gamma=0; focal loss of Lin et al. 2017 "
    "(softmax form, as kornia.losses.focal_loss with alpha=1)",
    doc="""Softmax focal loss: cross-entropy down-weighting well-classified samples.

    For class-imbalanced multiclass problems (Lin et al., "Focal Loss for
    Dense Object Detection", 2017). With ``p = softmax(logits)`` over the
    last axis, label ``y`` and class weights ``cw`` (1 when not given)::

        l = -cw_y (1 - p_y)**gamma * log p_y

    ``log p_y = z_y - lse`` is computed stably and ``1 - p_y`` as
    ``sum_{j != y} p_j`` (no cancellation when ``p_y`` is near 1). The
    gradient is ``cw_y A (p_k - [k = y])`` with
    ``A = (1 - p_y)**gamma - gamma p_y (1 - p_y)**(gamma - 1) log p_y``.
    ``reduction="mean"`` divides by ``sum_i w_i cw_{y_i}`` like
    ``cross_entropy``, so ``gamma=0`` gives exactly ``cross_entropy``.

    ``grad_hess`` gives the exact diagonal of the Hessian, in the pass of the
    gradient: with ``A`` as above, ``u = 1 - p_y``, ``L = log p_y`` and
    ``r_k = p_k / u`` (``k != y``; ``r_y = 1``)::

        H_kk = cw_y (A p_k (1 - p_k) - P r_k**2),
        P = gamma p_y u**gamma ((gamma - 1) p_y L - u (2 + L))

    (``cross_entropy``'s ``cw_y p_k (1 - p_k)`` at ``gamma=0``).

    Parameters
    ----------
    logits : array_like, shape (..., C), at least 2-D
        Unnormalized scores, class axis last.
    labels : array_like of int, shape ``logits.shape[:-1]``
        Class labels in ``[0, C)``.
"""
    + _REDUCTION_DOC
    + """    gamma : float >= 0, keyword-only, default 2.0
        Focusing parameter; 0 is cross-entropy.
    class_weight : array_like, shape (C,), optional, keyword-only
        Per-class weights (the ``alpha`` of the paper, one per class).

    Returns
    -------
    float, or ndarray of shape ``logits.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.softmax_focal([[0.0, 0.0]], [1], gamma=2.0), 6)
    0.173287
""",
)

kl_div = declare(
    RowLoss,
    "kl_div",
    prepare=_prep_kl,
    peer="torch.nn.functional.kl_div (reduction='batchmean' for 'mean')",
    doc="""Kullback-Leibler divergence KL(target || pred) from log-probabilities.

    For distillation and distribution matching. ``log_pred`` holds log
    probabilities (e.g. a log-softmax output), the distribution is the LAST
    axis; per sample::

        l = sum_k t_k (log t_k - log_pred_k)

    where a term with ``t_k = 0`` counts 0 (xlogy, as PyTorch; unlike
    PyTorch also when ``log_pred_k = -inf``). With ``log_target=True`` the
    target holds ``log t``, and a target of ``-inf`` (``t = 0``) likewise
    counts 0 (PyTorch's ``exp(t) * (t - log_pred)`` gives a NaN value there;
    its gradient, 0, is fastloss's). The gradient with respect to ``log_pred`` is
    ``-t`` (NaN where ``log_pred`` is NaN). The loss is linear in
    ``log_pred``, so its Hessian (``grad_hess``) is 0; boosting adapters pass
    a positive constant instead.

    ``reduction="mean"`` averages over samples (rows): for 2-D input that is
    PyTorch's ``reduction="batchmean"`` (sum / N); ``"sum"`` is PyTorch's
    ``"sum"``. (PyTorch's element-wise ``"mean"`` also divides by C and is
    not offered.)

    Parameters
    ----------
    log_pred : array_like, shape (..., C), at least 2-D
        Log-probabilities of the predicted distribution.
    target : array_like, same shape as ``log_pred``
        Target probabilities (or their logs with ``log_target=True``).
"""
    + _REDUCTION_DOC
    + """    log_target : bool, keyword-only, default False
        Whether ``target`` holds log-probabilities.

    Returns
    -------
    float, or ndarray of shape ``log_pred.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> round(fl.kl_div(np.log([[0.5, 0.5]]), [[1.0, 0.0]]), 6)
    0.693147
""",
)

brier = declare(
    RowLoss,
    "brier",
    prepare=_prep_brier,
    peer="sklearn.metrics.brier_score_loss",
    doc="""Brier score: squared distance between predicted probabilities and outcomes.

    A proper scoring rule for calibrated probabilities.

    * Binary: ``prob`` and ``target`` of the same shape (e.g. ``(N,)``),
      target in {0, 1} (any real in [0, 1] is accepted); per element
      ``l = (prob - target)**2``.
    * Multiclass: ``prob`` of shape ``(..., C)`` (class axis last) and
      integer labels of shape ``prob.shape[:-1]``; per sample
      ``l = sum_k (prob_k - [k = y])**2`` -- summed over classes, NOT divided
      by C (range [0, 2]), which is what scikit-learn 1.9's
      ``brier_score_loss`` returns for multiclass input (its default
      ``scale_by_half="auto"`` halves only the binary case, which is then
      the single-column formula above).

    Gradient ``2 (prob - onehot)``, Hessian 2 per entry (``grad_hess``).
    No clipping of ``prob`` is done.

    Parameters
    ----------
    prob : array_like
        Predicted probabilities: any shape (binary) or (..., C) (multiclass).
    target : array_like
        Binary outcomes of prob's shape, or integer labels of shape
        ``prob.shape[:-1]`` in ``[0, C)``.
"""
    + _REDUCTION_DOC
    + """
    Returns
    -------
    float, or ndarray of the per-sample shape for ``reduction="none"``.

    Matches ``sklearn.metrics.brier_score_loss`` (binary, with
    ``sample_weight``; multiclass with ``labels=range(C)``).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.brier([0.1, 0.9, 0.8, 0.3], [0, 1, 1, 0]), 6)
    0.0375
    >>> round(fl.brier([[0.7, 0.2, 0.1]], [0]), 6)
    0.14
""",
)

categorical_hinge = declare(
    RowLoss,
    "categorical_hinge",
    prepare=_prep_categorical_hinge,
    peer="keras.losses.CategoricalHinge",
    doc="""Keras' categorical hinge loss with one-hot (or probability) targets.

    With scores ``s`` and target rows ``t`` (class axis last), as in Keras'
    ``categorical_hinge``::

        pos = sum_k t_k s_k
        neg = max_k (1 - t_k) s_k
        l   = max(0, neg - pos + 1)

    Gradient where ``l > 0``: ``-t_k`` plus ``1 - t_k*`` at the (first)
    arg-max ``k*`` of ``(1 - t) s``; 0 where ``l == 0``. A NaN anywhere in a
    row gives a NaN loss and gradient row. Piecewise linear: Hessian 0
    (``grad_hess``).

    Parameters
    ----------
    scores : array_like, shape (..., C), at least 2-D
        Raw scores, class axis last.
    target : array_like, same shape as ``scores``
        One-hot (or probability) target rows.
"""
    + _REDUCTION_DOC
    + """
    Returns
    -------
    float, or ndarray of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Matches ``keras.losses.categorical_hinge`` (reduction ``"mean"`` equals
    Keras' default ``sum_over_batch_size`` without sample weights; with
    weights fastloss divides by ``sum(sample_weight)``, Keras by the batch
    size).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.categorical_hinge([[0.3, 0.6, 0.1]], [[0.0, 1.0, 0.0]]), 6)
    0.7
""",
)

nll = declare(
    RowLoss,
    "nll",
    prepare=_prep_nll,
    unbatched=True,
    peer="torch.nn.functional.nll_loss (class axis moved last)",
    doc="""Negative log-likelihood of log-probabilities against integer labels.

    The loss after a ``log_softmax`` (``cross_entropy`` is the two fused).
    The class axis is the LAST axis of ``log_probs`` (PyTorch's
    ``(N, C, d1, ...)`` input corresponds to ``movedim(1, -1)`` here). With
    class weights ``cw`` (all 1 when not given), per sample::

        l = -cw_y log_probs_y

    and 0 where ``y == ignore_index``. The gradient is ``-cw_y`` at the label
    and 0 elsewhere; the loss is linear in ``log_probs``, so its Hessian
    (``grad_hess``) is 0.

    ``reduction="mean"`` divides by ``sum_i w_i cw_{y_i}`` over the
    non-ignored samples (``w`` = ``sample_weight``, 1 when not given), as
    PyTorch divides by the sum of the target classes' weights; if every
    sample is ignored the mean is NaN (0/0), as in PyTorch. A row holding a
    NaN gives a NaN loss and gradient row (PyTorch reads the label's entry
    alone and loses a NaN elsewhere in the row).

    Parameters
    ----------
    log_probs : array_like, shape (..., C)
        Log-probabilities, class axis last. float32 and float64 run natively.
        A 1-D ``(C,)`` array is one sample, as torch's unbatched input (the
        labels then 0-D, the ``"none"`` result 0-D).
    labels : array_like of int, shape ``log_probs.shape[:-1]``
        Class labels in ``[0, C)`` or ``ignore_index``; others raise
        ValueError naming the label.
"""
    + _REDUCTION_DOC
    + """    class_weight : array_like, shape (C,), optional, keyword-only
        Per-class weights (PyTorch's ``weight``).
    ignore_index : int, keyword-only, default -100
        Label whose samples count 0 and leave the mean's denominator.

    Returns
    -------
    float, or ndarray of shape ``log_probs.shape[:-1]`` for ``reduction="none"``.

    Matches ``torch.nn.functional.nll_loss`` (value and gradient, with
    ``weight``, ``ignore_index`` and every reduction) with the class axis
    moved last.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> round(fl.nll(np.log([[0.2, 0.8], [0.5, 0.5]]), [1, 0]), 6)
    0.458145
""",
)

multilabel_soft_margin = declare(
    RowLoss,
    "multilabel_soft_margin",
    prepare=_prep_multilabel_soft_margin,
    unbatched=True,
    peer="torch.nn.functional.multilabel_soft_margin_loss",
    doc="""Multi-label soft-margin loss: per sample, the mean over classes of BCE with logits.

    For multi-label classification (each class present or not). With
    logits ``z`` and 0/1 targets ``t`` (class axis last) and class weights
    ``cw`` (1 when not given), per sample::

        l = sum_k cw_k (t_k softplus(-z_k) + (1 - t_k) softplus(z_k)) / C

    with the stable softplus of ``binary_cross_entropy_with_logits`` (finite
    at +-inf logits; a ``0 * inf`` term counts 0). Gradient
    ``cw_k (sigmoid(z_k) - t_k) / C``; exact diagonal Hessian
    ``cw_k sigmoid(z_k) sigmoid(-z_k) / C`` (``grad_hess``).

    Parameters
    ----------
    logits : array_like, shape (..., C)
        Raw scores, class axis last; a 1-D ``(C,)`` array is one sample, as
        torch's unbatched input (the ``"none"`` result 0-D).
    target : array_like, same shape as ``logits``
        Targets, 0 or 1 (soft targets in [0, 1] follow the same formula).
"""
    + _REDUCTION_DOC
    + """    class_weight : array_like, shape (C,), optional, keyword-only
        Per-class weights (PyTorch's ``weight``).

    Returns
    -------
    float, or ndarray of shape ``logits.shape[:-1]`` for ``reduction="none"``.

    Matches ``torch.nn.functional.multilabel_soft_margin_loss`` (value and
    gradient, with ``weight`` and every reduction).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.multilabel_soft_margin([[0.0, 0.0]], [[1.0, 0.0]]), 6)
    0.693147
""",
)

multilabel_margin = declare(
    RowLoss,
    "multilabel_margin",
    prepare=_prep_multilabel_margin,
    unbatched=True,
    peer="torch.nn.functional.multilabel_margin_loss",
    doc="""Multi-label margin loss: every target class above every other class by 1.

    ``target`` holds, per sample, the indices of its target classes,
    padded with -1 as PyTorch takes them: a row's list ends at its first -1
    (the entries after it are not read). With ``J`` that list and ``S`` the
    set of its classes, per sample (``C`` classes)::

        l = sum_{j in J} sum_{i not in S} max(0, 1 - (s_j - s_i)) / C

    Gradient ``+1/C`` at ``i`` and ``-1/C`` at ``j`` for each pair whose term
    is positive (none at the kink, as PyTorch). Piecewise linear: Hessian 0
    (``grad_hess``). A row holding a NaN gives a NaN loss and gradient row.

    Parameters
    ----------
    scores : array_like, shape (..., C)
        Raw scores, class axis last; a 1-D ``(C,)`` array is one sample, as
        torch's unbatched input (the ``"none"`` result 0-D).
    target : array_like of int, same shape as ``scores``
        Class indices in ``[0, C)``, each row's list ended by -1 (or filling
        the row); a value outside ``[-1, C)`` raises ValueError.
"""
    + _REDUCTION_DOC
    + """
    Returns
    -------
    float, or ndarray of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Matches ``torch.nn.functional.multilabel_margin_loss`` (value and
    gradient, every reduction).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.multilabel_margin([[0.1, 0.2, 0.4, 0.8]], [[3, 0, -1, 1]]), 6)
    0.85
""",
)
