"""Ranking losses: scores and relevance labels of lists of items.

Every loss here takes ``(scores, labels, mask=None)``: arrays of shape
``(..., list_size)`` (a 1-d array is one list; leading axes are lists), and
an optional boolean ``mask``, True where an item is valid (TF-Ranking's
``mask``, rax's ``where``). Gradients are taken with respect to the scores;
labels and mask are not differentiable.

The definitions and the reduction are rax's (google/rax 0.4,
``rax/_src/losses.py``, ``t12n.py``, ``metrics.py``, ``utils.py``), the
batch given to rax as it is (no ``jax.vmap``): ``reduction="mean"`` is rax's
default ``reduce_fn=jnp.mean`` over the whole batch, so a pairwise loss is
the mean over every valid pair of every list (a list with more pairs weighs
more), a listwise loss (listnet, approx_ndcg) the mean over the lists that
have a valid item; 0 where there is no valid pair or list (rax's
``safe_reduce``). ``reduction="none"`` gives one value per list (a pairwise
loss: the sum over its pairs) and ``"sum"`` their sum (rax's
``reduce_fn=jnp.sum``). ``sample_weight`` is per list: it multiplies the
list's loss and its count in the mean's denominator (rax's ``weights`` is
per item and not offered).

The kernels do O(list_size²) work per list without ever holding a
``(n_lists, list_size, list_size)`` array (``cpp/include/fastloss/ranking.hpp``):
the pairwise losses and approx_ndcg take lists of up to 256 items 16 at a
time, one per vector lane.
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

    # rax's mean divides by the valid pairs (or lists with a valid item),
    # not by the number of lists (the kernel entry, run_lists)
    _mean_over_samples = False

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


_PARAMS = """
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
        rax's ``reduce_fn`` over the whole batch: ``"mean"`` (``jnp.mean``)
        divides the sum of the losses by the number of {count} (0 if there
        is none, as rax's ``safe_reduce``; NaN for no list at all, as every
        mean of nothing here); ``"sum"`` (``jnp.sum``); ``"none"`` one value
        per list, shape ``scores.shape[:-1]``{per_list}.
    sample_weight : array_like, optional, keyword-only
        Per-list weights, broadcast against ``scores.shape[:-1]``: a list's
        weight multiplies its loss and its count in the mean's denominator
        (``sum(w * loss) / sum(w * count)``).
"""

_RETURNS = """
    Returns
    -------
    float, or an array of shape ``scores.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
"""

_PAIRS = dict(count="valid pairs of the batch", per_list=", the sum over the list's pairs")
_LISTS = dict(count="lists with a valid item", per_list="")


def _doc(summary, counts, examples, params=""):
    """A docstring: the summary, the shared parameters (``counts``: the
    mean's denominator), the loss's own ``params``, Returns and examples."""
    shared = _PARAMS.replace("{count}", counts["count"]).replace("{per_list}", counts["per_list"])
    return summary + shared + params + _RETURNS + examples


pairwise_logistic = _declare(
    "pairwise_logistic",
    peer="rax.pairwise_logistic_loss",
    doc=_doc(
        """Pairwise logistic ranking loss (RankNet).

    Over the valid pairs -- items ``i``, ``j`` of one list, both valid, with
    ``labels[i] > labels[j]`` -- the loss::

        log(1 + exp(-(s_i - s_j)))

    (Burges et al. 2005): ``rax.pairwise_logistic_loss(scores, labels,
    where=mask)`` (rax 0.4, ``rax/_src/losses.py``), value and gradient,
    the mean over all the batch's valid pairs. TF-Ranking's
    ``PairwiseLogisticLoss`` is the same pair loss; its default reduction
    weighs pairs by list weights and divides by their sum. Work is
    O(list_size²) per list; no pair array is held.
""",
        _PAIRS,
        """    >>> round(fl.pairwise_logistic([2.0, 1.0, 3.0], [1.0, 0.0, 0.0]), 6)
    0.813262
    >>> fl.pairwise_logistic.grad([2.0, 1.0, 3.0], [1.0, 0.0, 0.0]).round(6)
    array([-0.5     ,  0.134471,  0.365529])
""",
    ),
)

pairwise_hinge = _declare(
    "pairwise_hinge",
    peer="rax.pairwise_hinge_loss",
    doc=_doc(
        """Pairwise hinge ranking loss.

    Over the valid pairs (``labels[i] > labels[j]`` in one list, both
    valid) the loss::

        max(0, 1 - (s_i - s_j))

    ``rax.pairwise_hinge_loss(scores, labels, where=mask)`` (rax 0.4), value
    and gradient, the mean over all the batch's valid pairs; at the kink
    (``s_i - s_j == 1``) the gradient is 0, as jax's ``relu`` gives it.
    Departure: a NaN score gives a NaN gradient (NaN propagates everywhere
    in fastloss). TF-Ranking's ``PairwiseHingeLoss`` is the same pair loss.
""",
        _PAIRS,
        """    >>> fl.pairwise_hinge([2.0, 1.0, 3.0], [1.0, 0.0, 0.0])
    1.0
    >>> fl.pairwise_hinge.grad([2.0, 1.0, 3.0], [1.0, 0.0, 0.0])
    array([-0.5,  0. ,  0.5])
""",
    ),
)

listnet = _declare(
    "listnet",
    peer="rax.softmax_loss with labels normalized by their sum (TF-Ranking SoftmaxLoss)",
    doc=_doc(
        """ListNet: softmax cross-entropy of a list (Cao et al. 2007, top-one).

    Per list, with ``p = labels / sum(labels)`` over the valid items::

        loss = -sum_i p_i * log(softmax(s)_i)     (softmax over valid items)

    and 0 for a list whose valid labels sum to 0 (no relevant item). Labels
    must be >= 0 (a negative label is a ValueError, found in the kernel's
    pass). The gradient is ``softmax(s) - p`` on valid items.

    This is ``rax.softmax_loss(scores, labels, where=mask, label_fn=f)``
    (rax 0.4) with ``f`` dividing the valid labels by their sum where it is
    positive (a list without a relevant item keeps its zero labels, so its
    loss is 0, as rax's default ``softmax_loss`` gives it), value and
    gradient, the mean over the lists with a valid item (rax's
    ``where=jnp.any(where, -1)``). Departures: rax's default ``label_fn``
    does not normalize (its loss is ``sum(labels)`` times this one), and
    ``rax.utils.normalize_probabilities`` makes an all-zero list uniform (a
    nonzero loss); TF-Ranking's ``SoftmaxLoss`` weighs each list by its
    label sum and averages over the lists of a positive one.
""",
        _LISTS,
        """    >>> round(fl.listnet([2.0, 1.0, 3.0], [1.0, 0.0, 1.0]), 6)
    0.907606
    >>> fl.listnet.grad([2.0, 1.0, 3.0], [1.0, 0.0, 1.0]).round(6)
    array([-0.255272,  0.090031,  0.165241])
""",
    ),
)

approx_ndcg = _declare(
    "approx_ndcg",
    temperature=True,
    peer="rax.approx_t12n(rax.ndcg_metric, temperature)",
    doc=_doc(
        """ApproxNDCG: minus the NDCG of smoothed ranks (Qin, Liu & Li 2010).

    Per list, over its valid items, with gains ``G = 2**labels - 1`` and the
    discount ``D(r) = 1 / log2(1 + r)``::

        rhat_i = 1 + sum_{j != i} sigmoid((s_j - s_i) / temperature)
        loss   = -sum_i G_i * D(rhat_i) / IDCG

    where ``IDCG`` is the DCG of the valid gains sorted in decreasing order
    with the exact ranks 1, 2, ... (an IDCG of 0 is read as 1, so a list
    without a relevant item has loss 0). This is rax's
    ``approx_t12n(ndcg_metric, temperature=temperature)(scores, labels,
    where=mask)`` (rax 0.4, ``rax/_src/t12n.py``, ``utils.approx_ranks``),
    value and gradient, the mean over the lists with a valid item (rax's
    ``where=jnp.any(where, -1)``); each list's loss lies in [-1, 0].
    TF-Ranking's ``ApproxNDCGLoss`` is the same formula with ``alpha = 1 /
    temperature`` (its default ``alpha=10`` is ``temperature=0.1``) but
    weighs lists and treats negative labels as padding.
""",
        _LISTS,
        """    >>> round(fl.approx_ndcg([-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]), 6)
    -0.63093
    >>> fl.approx_ndcg.grad([-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]).round(6)
    array([ 0.037638,  0.037638, -0.075276])
""",
        params="""    temperature : float > 0, keyword-only, default 1.0
        The sigmoid's temperature: smaller is closer to the exact ranks.
""",
    ),
)

lambda_rank = _declare(
    "lambda_rank",
    peer="rax.pairwise_logistic_loss(lambdaweight_fn=partial(rax.dcg_lambdaweight, "
    "normalize=True))",
    doc=_doc(
        """LambdaRank: the pairwise logistic loss weighted by |ΔNDCG|.

    Over the valid pairs (``labels[i] > labels[j]`` in one list, both
    valid) the loss::

        lambda_ij * log(1 + exp(-(s_i - s_j)))
        lambda_ij = |G_i - G_j| / IDCG * |D(r_i) - D(r_j)| * list_size

    with ``G = 2**labels - 1``, ``D(r) = 1 / log2(1 + r)``, ``r`` the exact
    1-based rank by score among the list's valid items (descending, ties in
    item order), ``IDCG`` the ideal DCG (0 read as 1) (Burges et al. 2006).
    ``lambda_ij`` is a constant for the gradient, as in every LambdaRank
    implementation.

    This is ``rax.pairwise_logistic_loss(scores, labels, where=mask,
    lambdaweight_fn=functools.partial(rax.dcg_lambdaweight,
    normalize=True))`` (rax 0.4, ``rax/_src/lambdaweights.py``), value and
    gradient, the mean over all the batch's valid pairs; the factor
    ``list_size`` (the full size, masked items included) is rax's.
    Departure: no ``topn`` cutoff. TF-Ranking's ``PairwiseLogisticLoss``
    with ``NDCGLambdaWeight`` uses the same |ΔNDCG| without the
    ``list_size`` factor.
""",
        _PAIRS,
        """    >>> round(fl.lambda_rank([2.0, 1.0, 3.0], [1.0, 0.0, 0.0]), 6)
    0.788552

    Two lists, the second's last item masked; one value per list (the sum
    over its pairs), and the mean over the batch's three valid pairs:

    >>> scores = [[2.0, 1.0, 3.0], [0.0, 1.0, 2.0]]
    >>> labels = [[1.0, 0.0, 0.0], [2.0, 0.0, 1.0]]
    >>> mask = [[True, True, True], [True, True, False]]
    >>> fl.lambda_rank(scores, labels, mask, reduction="none").round(6)
    array([1.577103, 1.454057])
    >>> round(fl.lambda_rank(scores, labels, mask), 6)
    1.010387
""",
    ),
)
