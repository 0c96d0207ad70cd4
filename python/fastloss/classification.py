"""Binary classification losses: one prediction per target, element-wise.

``pred`` is a probability (:data:`binary_cross_entropy`), a logit
(:data:`binary_cross_entropy_with_logits`, :data:`sigmoid_focal`) or a raw
score (:data:`hinge`, :data:`squared_hinge`); ``target`` has pred's shape.
The per-sample loss array has pred's shape, ``sample_weight`` broadcasts
against it and ``reduction="mean"`` divides by the element count (or by
``sum(sample_weight)``).

Checks that need a pass over the data (probabilities in [0, 1], hinge labels
in {-1, 0, +1}) run in the kernel's own pass (the functors' ``invalid``),
which reports the first bad index; the domains are data in the C++
catalogue and ``fastloss._catalogue.explain`` words the error. NaN is never
an error: it propagates to the value and the gradient.
"""

from __future__ import annotations

from fastloss._arrays import aux_input
from fastloss._catalogue import declare
from fastloss._loss import CLASSIFICATION, ElementwiseLoss

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "hinge",
    "squared_hinge",
    "sigmoid_focal",
    "soft_margin",
    "hinge_embedding",
]


# --------------------------------------------------------------------------
# checks and packing


def _pack_bce_logits(p, pred, target, *_):
    pw = p["pos_weight"]
    if pw is None:
        return (1.0, 0.0, 0.0, 0.0), None, target
    if isinstance(pw, float):
        return (pw, 0.0, 0.0, 0.0), None, target
    return (0.0, 0.0, 0.0, 0.0), aux_input(pw, pred, "pos_weight", "the logits'"), target


_COMMON_ARGS = """
    reduction : {"mean", "sum", "none"}, keyword-only
        ``"mean"`` divides the (weighted) sum by the element count, or by
        ``sum(sample_weight)`` when weights are given.
    sample_weight : array_like, optional, keyword-only
        Per-element weights broadcast against pred (a shape that is a prefix
        of pred's weighs whole samples). PyTorch's per-element ``weight``
        multiplies the same terms, but its ``"mean"`` divides by the element
        count, not by ``sum(weight)``; weighted ``"sum"`` and ``"none"``
        agree with it.
"""

_RETURNS = """
    Returns
    -------
    float, or ndarray of pred's shape and dtype for ``reduction="none"``.
    ``grad`` returns d(value)/d(pred), an ndarray of pred's shape and dtype.
"""

# --------------------------------------------------------------------------
# the losses


binary_cross_entropy = declare(
    ElementwiseLoss,
    "binary_cross_entropy",
    kernel=CLASSIFICATION,
    peer="torch.nn.functional.binary_cross_entropy",
    doc="""Binary cross-entropy of probabilities.

    For a model that outputs probabilities (after a sigmoid). Prefer
    :data:`binary_cross_entropy_with_logits` when the logits are at hand: it
    is more accurate and never saturates. Each log is clamped at -100 as
    PyTorch does, so ``prob`` exactly 0 or 1 gives a finite loss::

        l = -(y max(log p, -100) + (1 - y) max(log(1 - p), -100))

    The gradient is PyTorch's: ``(p - y) / max(p (1 - p), eps)`` with
    ``eps = float32(1e-12)`` (about 9.99999996e-13); at p = 0 or 1 it is
    0 where the label agrees and about -+1e12 where it disagrees. (It is
    not the derivative of the clamped value where a clamp is active.)
    The target is differentiable on request (``wrt="target"``), as in
    PyTorch: ``log(1 - p) - log(p)``, unclamped likewise (+-inf at p = 0
    or 1).

    Parameters
    ----------
    prob : array_like, any shape
        Probabilities in [0, 1] (float32 and float64 run natively; other
        reals are converted to float64 once). NaN propagates.
    target : array_like, same shape as ``prob``
        Targets in [0, 1] (soft labels allowed), converted to prob's dtype.
"""
    + _COMMON_ARGS
    + _RETURNS
    + """
    Raises
    ------
    ValueError
        If a probability or a target lies outside [0, 1] (as PyTorch does).

    Matches ``torch.nn.functional.binary_cross_entropy`` (value and
    autograd gradient) and ``sklearn.metrics.log_loss`` away from 0 and 1.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.binary_cross_entropy([0.5, 0.0], [1.0, 1.0], reduction="sum"), 6)
    100.693147
""",
)

binary_cross_entropy_with_logits = declare(
    ElementwiseLoss,
    "binary_cross_entropy_with_logits",
    kernel=CLASSIFICATION,
    pack=_pack_bce_logits,
    peer="torch.nn.functional.binary_cross_entropy_with_logits",
    doc="""Binary cross-entropy on logits (sigmoid + BCE, fused and stable).

    The standard loss for binary and multi-label classification. With
    ``x`` the logit, ``y`` the target, ``w = pos_weight`` (1 when None) and
    ``softplus(t) = log(1 + e^t)`` (computed as
    ``max(t, 0) + log1p(e^-|t|)``)::

        l = w y softplus(-x) + (1 - y) softplus(x)
          = -(w y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))

    Gradient ``(1 - y) sigmoid(x) - w y sigmoid(-x)``; Hessian (exact)
    ``(w y + 1 - y) sigmoid(x) sigmoid(-x)``, ``sigmoid(x)(1 - sigmoid(x))``
    without pos_weight. Finite for every finite logit (+-1e4 included); at
    ``x = +-inf`` the value is its limit (0 where the label agrees, +inf
    where it disagrees) and the gradient stays finite, where PyTorch returns
    NaN (pytorch/pytorch#49844).

    Parameters
    ----------
    logits : array_like, any shape
        Raw scores (float32 and float64 run natively).
    target : array_like, same shape as ``logits``
        Targets, usually in {0, 1}; soft targets in [0, 1] are allowed (not
        checked, as in PyTorch).
"""
    + _COMMON_ARGS
    + """    pos_weight : float or array_like, optional, keyword-only
        Weight of the positive term, finite and >= 0: a scalar, or an array
        that broadcasts (NumPy rules, as in PyTorch) to logits' shape, e.g.
        shape ``(C,)`` against logits ``(N, C)``. None means 1.
"""
    + _RETURNS
    + """
    Matches ``torch.nn.functional.binary_cross_entropy_with_logits`` (value
    and autograd gradient, with ``pos_weight``) wherever PyTorch is finite.
    PyTorch does not check pos_weight; here a negative or non-finite one
    raises ValueError, as does a pos_weight that would enlarge logits' shape.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.binary_cross_entropy_with_logits([0.0, 0.0], [1.0, 0.0]), 6)
    0.693147
    >>> fl.binary_cross_entropy_with_logits([float("inf")], [1.0])
    0.0
""",
)

_HINGE_TARGET = """
    Parameters
    ----------
    score : array_like, any shape
        Raw decision values (float32 and float64 run natively).
    target : array_like, same shape as ``score``
        Labels in {-1, +1}; {0, 1} labels are read as {-1, +1} (0 -> -1),
        as scikit-learn and Keras do. Any other value raises ValueError
        (NaN propagates).
"""

hinge = declare(
    ElementwiseLoss,
    "hinge",
    kernel=CLASSIFICATION,
    peer="sklearn.metrics.hinge_loss",
    doc="""Hinge loss of a binary classifier's raw score (linear SVM loss).

    For margin classifiers: no loss once a sample is beyond the margin,
    linear inside it. With ``y`` the label mapped to -1/+1::

        l = max(0, margin - y s)

    Gradient ``-y`` where ``margin - y s >= 0`` and 0 elsewhere: at the kink
    (``y s == margin``) the subgradient is ``-y``, as PyTorch's autograd of
    ``clamp(margin - y * s, min=0)`` gives.
"""
    + _HINGE_TARGET
    + _COMMON_ARGS
    + """    margin : float >= 0, keyword-only, default 1.0
        Finite; 0 gives the perceptron loss. A negative margin raises
        ValueError.
"""
    + _RETURNS
    + """
    The ``"mean"`` equals ``sklearn.metrics.hinge_loss`` for binary labels,
    with or without ``sample_weight``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.hinge([2.0, 0.5, -0.5], [1, 1, 1], reduction="none").tolist()
    [0.0, 0.5, 1.5]
""",
)

squared_hinge = declare(
    ElementwiseLoss,
    "squared_hinge",
    kernel=CLASSIFICATION,
    peer="keras.losses.squared_hinge; torch (max(0, margin - y*s)**2 with autograd)",
    doc="""Squared hinge loss (L2-SVM loss), differentiable everywhere.

    With ``y`` the label mapped to -1/+1::

        l = max(0, margin - y s)**2

    Gradient ``-2 y max(0, margin - y s)`` (0 at the kink).
"""
    + _HINGE_TARGET
    + _COMMON_ARGS
    + """    margin : float >= 0, keyword-only, default 1.0
        Finite; a negative margin raises ValueError.
"""
    + _RETURNS
    + """
    Matches ``keras.losses.squared_hinge`` per element (Keras averages over
    the last axis first; the overall mean is the same) and PyTorch autograd
    of ``clamp(margin - y * s, min=0) ** 2``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.squared_hinge([2.0, 0.5, -0.5], [1, 1, 0], reduction="none").tolist()
    [0.0, 0.25, 0.25]
""",
)

sigmoid_focal = declare(
    ElementwiseLoss,
    "sigmoid_focal",
    kernel=CLASSIFICATION,
    peer="torchvision.ops.sigmoid_focal_loss",
    doc="""Sigmoid focal loss (RetinaNet) on logits.

    For dense detection and heavily imbalanced binary or multi-label
    problems: down-weights easy, well-classified elements. With ``x`` the
    logit, ``y`` the target, ``p = sigmoid(x)``::

        ce      = y softplus(-x) + (1 - y) softplus(x)    (BCE with logits)
        1 - p_t = y (1 - p) + (1 - y) p
        alpha_t = alpha y + (1 - alpha)(1 - y)             (1 if alpha < 0)
        l       = alpha_t ce (1 - p_t)**gamma

    with ``0**0 = 1``. ``1 - p_t`` is computed from ``sigmoid(-x)`` and
    ``sigmoid(x)`` directly, never as a difference, and the loss and its
    gradient are finite for logits of any size; at +-inf they take their
    limits (where torchvision's autograd gives NaN).

    ``grad_hess`` gives the exact second derivative, computed in the pass
    of the gradient: with ``s = p (1 - p)``, ``q = 1 - p_t``,
    ``r = s / q`` (in [0, 1]) and ``ce' = p - y``::

        l'' = alpha_t q**gamma (s + gamma r ((1 - 2y)(2 ce' + ce ((gamma - 1)(1 - 2y) r
                                                                 + 1 - 2p))))

    which never forms a negative power of ``q`` and is finite at any logit.

    Parameters
    ----------
    logits : array_like, any shape
        Raw scores (float32 and float64 run natively).
    target : array_like, same shape as ``logits``
        Targets, 0 or 1 (soft targets in [0, 1] follow the same formula).
"""
    + _COMMON_ARGS
    + """    alpha : float <= 1, keyword-only, default 0.25
        Weight of the positive class; any negative value disables the
        weighting (torchvision's ``alpha=-1``). Above 1 raises ValueError.
    gamma : float >= 0, keyword-only, default 2.0
        Focusing exponent; 0 gives ``alpha_t`` times BCE with logits.
"""
    + _RETURNS
    + """
    Matches ``torchvision.ops.sigmoid_focal_loss`` (value and autograd
    gradient). Its default reduction is ``"none"``; here, as for every
    fastloss loss, it is ``"mean"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.sigmoid_focal([0.0], [1.0], alpha=0.25, gamma=2.0), 6)
    0.043322
""",
)

soft_margin = declare(
    ElementwiseLoss,
    "soft_margin",
    kernel=CLASSIFICATION,
    peer="torch.nn.functional.soft_margin_loss",
    doc="""Soft-margin loss: the logistic loss of a score against a -1/+1 target.

    The smooth counterpart of the hinge (a logistic regression written with
    -1/+1 labels)::

        l = log(1 + exp(-y s))

    computed stably as ``max(-y s, 0) + log1p(exp(-|y s|))``, finite for every
    finite score (PyTorch's ``log1p(exp(-y s))`` overflows to ``inf`` past
    ``-y s`` of about 89 in float32). Gradient ``-y sigmoid(-y s)``; exact
    Hessian ``y**2 sigmoid(y s) sigmoid(-y s)`` (``grad_hess``).

    Parameters
    ----------
    score : array_like, any shape
        Raw scores (float32 and float64 run natively).
    target : array_like, same shape as ``score``
        Labels, -1 or +1 (any real follows the same formula, as in PyTorch).
"""
    + _COMMON_ARGS
    + _RETURNS
    + """
    Matches ``torch.nn.functional.soft_margin_loss`` (value and gradient).

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.soft_margin([0.0, 2.0], [1.0, -1.0]), 6)
    1.410038
""",
)

hinge_embedding = declare(
    ElementwiseLoss,
    "hinge_embedding",
    kernel=CLASSIFICATION,
    peer="torch.nn.functional.hinge_embedding_loss",
    doc="""Hinge embedding loss: similar pairs pulled together, dissimilar ones past a margin.

    ``x`` is usually a distance between two embeddings (e.g. an L1 or L2
    distance) and ``y`` says whether the pair is similar (1) or not (-1)::

        l = x                     where y == 1
        l = max(0, margin - x)    where y == -1

    (any other ``y`` gets both terms, as in PyTorch). Gradient 1 where
    ``y == 1``; -1 where ``y == -1`` and ``margin - x >= 0`` (the
    subgradient at the kink is autograd's), else 0. Piecewise linear: its
    Hessian is 0 (``grad_hess``; boosting adapters pass a positive constant
    instead).

    Parameters
    ----------
    x : array_like, any shape
        The inputs (distances), float32 or float64.
    target : array_like, same shape as ``x``
        1 (similar) or -1 (dissimilar).
"""
    + _COMMON_ARGS
    + """    margin : float, keyword-only, default 1.0
        The distance a dissimilar pair must exceed.
"""
    + _RETURNS
    + """
    Matches ``torch.nn.functional.hinge_embedding_loss`` (value and
    gradient).

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.hinge_embedding([0.3, 0.4, 1.5], [1, -1, -1], reduction="none").tolist()
    [0.3, 0.6, 0.0]
""",
)
