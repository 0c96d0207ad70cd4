"""Ranking losses: scores and relevance labels of lists of items.

Every loss here takes ``(scores, labels, mask=None)``: arrays of shape
``(..., list_size)`` (a 1-d array is one list; leading axes are lists), and
an optional boolean ``mask``, True where an item is valid (TF-Ranking's
``mask``, rax's ``where``). The per-sample loss is one value per list, of
shape ``scores.shape[:-1]``: ``sample_weight`` weighs lists and
``reduction="mean"`` averages over lists. Gradients are taken with respect
to the scores; labels and mask are not differentiable.

The kernels do O(list_size²) work per list without ever holding a
``(n_lists, list_size, list_size)`` array (``cpp/include/fastloss/ranking.hpp``).
The definitions are rax's (``rax/_src/losses.py``), each list taken alone
(``jax.vmap`` over lists) with rax's default ``reduce_fn=jnp.mean`` inside
the list; each docstring says where TF-Ranking differs.
"""

from __future__ import annotations

import numpy as np

from fastloss._arrays import check_same_shape
from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import RANKING
from fastloss._tensors import Plan, TensorLoss, as_reals

__all__ = ["pairwise_logistic", "pairwise_hinge", "listnet", "approx_ndcg", "lambda_rank"]


def _as_mask(mask, shape):
    """The mask as int64 (1 valid, 0 masked) of the scores' shape."""
    m = np.asarray(mask)
    if m.dtype.kind not in "biu":
        raise TypeError(f"mask: expected a boolean (or integer 0/1) array, got dtype {m.dtype}")
    if m.shape != shape:
        raise ValueError(f"mask: expected the scores' shape {shape}, got {m.shape}")
    # a new C-ordered, aligned int64 array whatever the input's layout (astype
    # keeps a Fortran or reversed one; ascontiguousarray an unaligned one)
    return np.array(m, dtype=np.int64, order="C")


class _Lists(TensorLoss):
    """Lists of scored items: inputs (scores, labels, mask=None), one loss
    per list, dims (n_lists, list_size)."""

    def __init__(self, name, *, temperature=False, **kw):
        super().__init__(name, **kw)
        self._temperature = temperature

    def _plan(self, inputs, p):
        scores, labels = as_reals(inputs[:2], self.inputs[:2])
        if scores.shape != labels.shape:
            check_same_shape(scores, labels, "scores", "labels")
        if scores.ndim == 0:
            raise ValueError("scores: expected an array of shape (..., list_size), got a scalar")
        mask = None if inputs[2] is None else _as_mask(inputs[2], scores.shape)
        shape = scores.shape
        size = shape[-1]
        n_lists = int(np.prod(shape[:-1], dtype=np.int64))
        params = (p["temperature"],) if self._temperature else ()
        plan = Plan((scores, labels, mask), (n_lists, size), params)
        return scores.dtype, shape[:-1], (shape,), (scores, labels, mask), plan


def _declare(name, doc, **kw):
    return _Lists(
        name,
        **metadata(name),
        kernel=RANKING,
        kernel_id=kernel_id(name),
        doc=doc,
        **kw,
    )


_COMMON = """
    Parameters
    ----------
    scores : array_like, shape (..., list_size)
        The model's scores; the gradient is taken with respect to them. A
        1-d array is one list.
    labels : array_like, shape (..., list_size)
        Relevance labels (graded: 0, 1, 2, ...; any reals).
    mask : array_like of bool, shape (..., list_size), optional
        True where an item is valid (rax's ``where``, TF-Ranking's ``mask``);
        masked items take part in nothing and get a zero gradient. Integers
        are read as booleans (nonzero: valid).
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        Over lists: ``"none"`` gives one value per list, shape
        ``scores.shape[:-1]``.
    sample_weight : array_like, optional, keyword-only
        Per-list weights, broadcast against ``scores.shape[:-1]``.
"""

pairwise_logistic = _declare(
    "pairwise_logistic",
    peer="rax.pairwise_logistic_loss (per list: jax.vmap)",
    doc="""Pairwise logistic ranking loss (RankNet).

    Per list, the mean over its valid pairs -- items ``i``, ``j`` both valid
    with ``labels[i] > labels[j]`` -- of::

        log(1 + exp(-(s_i - s_j)))

    and 0 for a list without a valid pair (Burges et al. 2005). This is
    ``rax.pairwise_logistic_loss(scores, labels, where=mask)`` (rax 0.4,
    ``rax/_src/losses.py``) applied to each list alone (``jax.vmap``), with
    rax's default ``reduce_fn=jnp.mean`` over the list's pairs; value and
    gradient. Departure: rax on a batch without ``vmap`` averages over all
    the batch's pairs at once, which equals the mean over lists here only
    when every list has the same number of pairs; TF-Ranking's
    ``PairwiseLogisticLoss`` (default reduction) is that batch-wide mean
    too. Work is O(list_size²) per list; no pair array is held.
"""
    + _COMMON
    + """
    Returns
    -------
    float, or an array of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.pairwise_logistic([2.0, 1.0, 3.0], [1.0, 0.0, 0.0]), 6)
    0.813262
    >>> fl.pairwise_logistic.grad([2.0, 1.0, 3.0], [1.0, 0.0, 0.0]).round(6)
    array([-0.5     ,  0.134471,  0.365529])
""",
)

pairwise_hinge = _declare(
    "pairwise_hinge",
    peer="rax.pairwise_hinge_loss (per list: jax.vmap)",
    doc="""Pairwise hinge ranking loss.

    Per list, the mean over its valid pairs (``labels[i] > labels[j]``, both
    valid) of::

        max(0, 1 - (s_i - s_j))

    and 0 for a list without a valid pair. This is
    ``rax.pairwise_hinge_loss(scores, labels, where=mask)`` (rax 0.4) on each
    list alone (``jax.vmap``, default ``reduce_fn=jnp.mean``), value and
    gradient; at the kink (``s_i - s_j == 1``) the gradient is 0, as jax's
    ``relu`` gives it. Departures: a NaN score gives a NaN gradient (NaN
    propagates everywhere in fastloss); rax on an un-vmapped batch averages
    over the batch's pairs (as TF-Ranking's ``PairwiseHingeLoss``), equal
    to the mean over lists only when lists have equally many pairs.
"""
    + _COMMON
    + """
    Returns
    -------
    float, or an array of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> fl.pairwise_hinge([2.0, 1.0, 3.0], [1.0, 0.0, 0.0])
    1.0
    >>> fl.pairwise_hinge.grad([2.0, 1.0, 3.0], [1.0, 0.0, 0.0])
    array([-0.5,  0. ,  0.5])
""",
)

listnet = _declare(
    "listnet",
    peer="rax.softmax_loss with labels normalized by their sum (TF-Ranking SoftmaxLoss)",
    doc="""ListNet: softmax cross-entropy of a list (Cao et al. 2007, top-one).

    Per list, with ``p = labels / sum(labels)`` over the valid items::

        loss = -sum_i p_i * log(softmax(s)_i)     (softmax over valid items)

    and 0 for a list whose valid labels sum to 0 (no relevant item), as
    TF-Ranking's ``SoftmaxLoss`` gives it no weight. Labels must be >= 0 (a
    negative label is a ValueError, found in the kernel's pass). The
    gradient is ``softmax(s) - p`` on valid items.

    Equal to ``rax.softmax_loss(scores, labels / labels.sum(), where=mask)``
    (rax 0.4: its ``label_fn`` normalizing the labels, each list alone) on
    lists with a positive label sum. Departures: rax's default
    ``softmax_loss`` does not normalize (it is ``sum(labels)`` times this
    loss), and its ``normalize_probabilities`` makes an all-zero list
    uniform (a nonzero loss) where this gives 0; TF-Ranking's
    ``SoftmaxLoss`` weighs each list by its label sum, which makes its
    per-list value ``sum(labels)`` times this one, as rax's default.
"""
    + _COMMON
    + """
    Returns
    -------
    float, or an array of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.listnet([2.0, 1.0, 3.0], [1.0, 0.0, 1.0]), 6)
    0.907606
    >>> fl.listnet.grad([2.0, 1.0, 3.0], [1.0, 0.0, 1.0]).round(6)
    array([-0.255272,  0.090031,  0.165241])
""",
)

approx_ndcg = _declare(
    "approx_ndcg",
    temperature=True,
    peer="rax.approx_t12n(rax.ndcg_metric, temperature) (per list: jax.vmap)",
    doc="""ApproxNDCG: minus the NDCG of smoothed ranks (Qin, Liu & Li 2010).

    Per list, over its valid items, with gains ``G = 2**labels - 1`` and the
    discount ``D(r) = 1 / log2(1 + r)``::

        rhat_i = 1 + sum_{j != i} sigmoid((s_j - s_i) / temperature)
        loss   = -sum_i G_i * D(rhat_i) / IDCG

    where ``IDCG`` is the DCG of the valid gains sorted in decreasing order
    with the exact ranks 1, 2, ... (an IDCG of 0 is read as 1, so a list
    without a relevant item has loss 0). This is rax's
    ``approx_t12n(ndcg_metric, temperature=temperature)`` (rax 0.4,
    ``rax/_src/t12n.py``, ``utils.approx_ranks``) on each list alone, value
    and gradient; the loss lies in [-1, 0]. Departures: rax's mean over a
    batch leaves out lists without a valid item, the mean here counts them
    (as 0); TF-Ranking's ``ApproxNDCGLoss`` is the same formula with
    ``alpha = 1 / temperature`` (its default ``alpha=10`` is
    ``temperature=0.1``) but weighs lists and treats negative labels as
    padding.
"""
    + _COMMON
    + """    temperature : float > 0, keyword-only, default 1.0
        The sigmoid's temperature: smaller is closer to the exact ranks.

    Returns
    -------
    float, or an array of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.approx_ndcg([-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]), 6)
    -0.63093
    >>> fl.approx_ndcg.grad([-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]).round(6)
    array([ 0.037638,  0.037638, -0.075276])
""",
)

lambda_rank = _declare(
    "lambda_rank",
    peer="rax.pairwise_logistic_loss(lambdaweight_fn=partial(rax.dcg_lambdaweight, "
    "normalize=True)) (per list: jax.vmap)",
    doc="""LambdaRank: the pairwise logistic loss weighted by |ΔNDCG|.

    Per list, the mean over its valid pairs (``labels[i] > labels[j]``, both
    valid) of::

        lambda_ij * log(1 + exp(-(s_i - s_j)))
        lambda_ij = |G_i - G_j| / IDCG * |D(r_i) - D(r_j)| * list_size

    with ``G = 2**labels - 1``, ``D(r) = 1 / log2(1 + r)``, ``r`` the exact
    1-based rank by score among the valid items (descending, ties in item
    order), ``IDCG`` the ideal DCG (0 read as 1); 0 for a list without a
    valid pair (Burges et al. 2006). ``lambda_ij`` is a constant for the
    gradient, as in every LambdaRank implementation.

    This is ``rax.pairwise_logistic_loss(scores, labels, where=mask,
    lambdaweight_fn=functools.partial(rax.dcg_lambdaweight,
    normalize=True))`` (rax 0.4, ``rax/_src/lambdaweights.py``) on each list
    alone (``jax.vmap``, default ``reduce_fn=jnp.mean``), value and
    gradient; the factor ``list_size`` (the full size, masked items
    included) is rax's. Departures: no ``topn`` cutoff; rax on an
    un-vmapped batch averages over all its pairs. TF-Ranking's
    ``PairwiseLogisticLoss`` with ``NDCGLambdaWeight`` uses the same |ΔNDCG|
    without the ``list_size`` factor and its batch-wide reduction.
"""
    + _COMMON
    + """
    Returns
    -------
    float, or an array of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.lambda_rank([2.0, 1.0, 3.0], [1.0, 0.0, 0.0]), 6)
    0.788552

    Two lists, the second's last item masked; one loss per list:

    >>> scores = [[2.0, 1.0, 3.0], [0.0, 1.0, 2.0]]
    >>> labels = [[1.0, 0.0, 0.0], [2.0, 0.0, 1.0]]
    >>> mask = [[True, True, True], [True, True, False]]
    >>> fl.lambda_rank(scores, labels, mask, reduction="none").round(6)
    array([0.788552, 1.454057])
""",
)
