"""Embedding losses: two or three arrays compared sample by sample.

These losses take several differentiable inputs (``margin_ranking``'s ``x1``
and ``x2``, ``triplet_margin``'s anchor, positive and negative): ``grad``
returns a tuple of gradients in positional order and ``wrt=`` selects some
(see :class:`fastloss.Loss`). The representation losses (``triplet_margin``,
``triplet_margin_with_distance``, ``cosine_embedding``, ``contrastive``)
compare rows: embeddings ``(N, D)`` give one loss per row, ``(N,)``; one
unbatched embedding ``(D,)`` gives one loss, shape ``()``; ``(..., D)`` one
loss per leading index, shape ``(...)``, as torch takes them.

Shapes broadcast as torch broadcasts them: inputs of one number of
dimensions whose sizes are equal or 1 (``anchor (N, D)`` with ``positive (1,
D)``; ``margin_ranking``'s ``x2 (1,)``), and a per-row ``y`` of shape
``(1,)`` against ``N`` rows. The gradient of a broadcast input is summed
over the axes it was broadcast along (autograd's rule), so it has that
input's shape.
"""

from __future__ import annotations

import numpy as np

from fastloss._arrays import as_float, new_output, sum_to_shape
from fastloss._catalogue import declare
from fastloss._loss import EMBEDDING
from fastloss._tensors import Plan, TensorLoss, as_reals

__all__ = [
    "contrastive",
    "cosine_embedding",
    "margin_ranking",
    "triplet_margin",
    "triplet_margin_with_distance",
]


def _broadcast(arrays, names, what):
    """The arrays broadcast to one shape as torch broadcasts them (all of one
    number of axes, as torch's embedding losses require): ``(full arrays,
    full shape)``, each full array C-contiguous (the input itself where it
    has the full shape already)."""
    shapes = [a.shape for a in arrays]
    if all(sh == shapes[0] for sh in shapes[1:]):
        return arrays, shapes[0]
    for a, name in zip(arrays[1:], names[1:]):
        if a.ndim != arrays[0].ndim:
            raise ValueError(
                f"{names[0]} and {name} must have the same number of dimensions{what}, got "
                f"shapes {tuple(arrays[0].shape)} and {tuple(a.shape)}"
            )
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"{', '.join(names)}: shapes {', '.join(str(tuple(sh)) for sh in shapes)} do not "
            "broadcast to one shape"
        ) from None
    full = tuple(
        a if a.shape == shape else np.ascontiguousarray(np.broadcast_to(a, shape)) for a in arrays
    )
    return full, shape


class _Broadcast(TensorLoss):
    """A loss whose kernel reads its inputs at one full shape while the
    caller's may broadcast to it (torch's rule): the state is ``(Plan,
    kernel_shapes)``, ``kernel_shapes`` the shape the kernel writes each
    gradient slot in (None: the caller's buffer as it is). A gradient of an
    input that was broadcast is computed at the full shape and summed over
    the broadcast axes (autograd's rule); one of several leading axes is
    written through an ``(N, D)`` view of the caller's C-contiguous buffer."""

    def _launch(self, state, op, red, w, value_out, grads, hess, p):
        plan, kernel_shapes = state
        if grads is None or kernel_shapes is None:
            return super()._launch(plan, op, red, w, value_out, grads, hess, p)
        run, sums = [], []
        for g, (shape, flat) in zip(grads, kernel_shapes):
            if g is None:
                run.append(None)
            elif shape == g.shape:
                run.append(g.reshape(flat))
            else:
                full = new_output(shape, g.dtype)
                run.append(full.reshape(flat))
                sums.append((g, full))
        value = super()._launch(plan, op, red, w, value_out, tuple(run), hess, p)
        for g, full in sums:
            np.copyto(g, sum_to_shape(full, g.shape, g.dtype))
        return value


class _ElementPairs(_Broadcast):
    """Inputs broadcasting to one shape, one loss value per element (torch's
    margin_ranking_loss: inputs of one number of dimensions)."""

    def _plan(self, inputs, p):
        given = as_reals(inputs, self.inputs)
        arrays, shape = _broadcast(given, self.inputs, "")
        n = int(np.prod(shape, dtype=np.int64))
        plan = Plan(arrays, (n,), (p["margin"],))
        grad_shapes = tuple(given[self.inputs.index(nm)].shape for nm in self._grad_names)
        kernel = None
        if any(sh != shape for sh in grad_shapes):
            kernel = ((shape, shape),) * len(grad_shapes)
        return arrays[0].dtype, shape, grad_shapes, given, (plan, kernel)


margin_ranking = declare(
    _ElementPairs,
    "margin_ranking",
    kernel=EMBEDDING,
    peer="torch.nn.functional.margin_ranking_loss",
    doc="""Margin ranking loss of two scores and a preferred order.

    Per element::

        loss = max(0, -y * (x1 - x2) + margin)

    ``y = 1`` says ``x1`` should rank above ``x2``, ``y = -1`` the reverse.
    Equal to ``torch.nn.functional.margin_ranking_loss``, value and
    autograd gradient (at the kink, ``-y*(x1-x2) + margin == 0``, the
    gradient is the one-sided ``-y``/``y``, as torch's ``clamp_min`` passes
    it). One departure: a NaN input gives a NaN gradient (torch's is 0), as
    NaN propagates everywhere in fastloss.

    Parameters
    ----------
    x1, x2 : array_like, shapes of one number of dimensions that broadcast
        (as torch's; ``y`` too)
        The two scores; both are differentiable: ``grad`` returns
        ``(d/dx1, d/dx2)``, ``wrt="x1"`` one of them.
    y : array_like, broadcasting with ``x1`` and ``x2``
        +1 or -1 (other values are used as they are, as in torch).
        Differentiable on request, as torch's autograd takes it:
        ``wrt="y"`` gives ``-(x1 - x2)`` where ``-y*(x1-x2) + margin >= 0``,
        0 elsewhere (``grad`` without ``wrt`` returns ``(d/dx1, d/dx2)``).
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        Per-element weights broadcast against ``x1``'s shape.
    margin : float, keyword-only, default 0.0

    Returns
    -------
    float, or an array of x1's shape for ``reduction="none"``.

    Examples
    --------
    >>> import fastloss as fl
    >>> round(fl.margin_ranking([1.0, 0.2], [0.5, 0.4], [1.0, 1.0], margin=0.1), 6)
    0.15
    >>> fl.margin_ranking.grad([1.0, 0.2], [0.5, 0.4], [1.0, 1.0], margin=0.1, wrt="x1")
    array([ 0. , -0.5])
""",
)


class _Rows(_Broadcast):
    """Embeddings as rows ``(N, D)`` (or one row ``(D,)``) compared row by
    row, one loss per row: the first ``n_rows`` inputs are embeddings of one
    shape, any others hold one real value per row (``y``, ``same``).
    ``params_of(p)`` gives the kernel's real parameters."""

    def __init__(self, name, *, n_rows, params_of, positive_margin=False, **kw):
        super().__init__(name, **kw)
        self._n_rows = n_rows
        self._params_of = params_of
        # torch refuses margin <= 0 (triplet_margin_loss: "margin must be
        # greater than 0"); the catalogue's bound is closed at 0 for some
        self._positive_margin = positive_margin

    def resolve_params(self, given):
        p = super().resolve_params(given)
        if self._positive_margin and p["margin"] <= 0.0:
            raise ValueError(f"margin must be > 0.0, got {p['margin']}")
        return p

    def _plan(self, inputs, p):
        k = self._n_rows
        names = self.inputs
        given = as_reals(inputs[:k], names[:k])
        if given[0].ndim < 1:
            raise ValueError(
                f"{names[0]}: expected embeddings of shape (N, D), (D,) or (..., D), got a scalar"
            )
        rows, shape = _broadcast(given, names[:k], " (torch's rule)")
        x = rows[0]
        sample_shape = shape[:-1]
        n = int(np.prod(sample_shape, dtype=np.int64))
        flat = (n, shape[-1])
        others, read = [], list(given)
        for y, name in zip(inputs[k:], names[k:]):
            a = as_float(y, name, x.dtype)
            read.append(a)
            if a.shape != sample_shape:
                try:
                    if a.ndim != len(sample_shape):
                        raise ValueError
                    a = np.ascontiguousarray(np.broadcast_to(a, sample_shape))
                except ValueError:
                    raise ValueError(
                        f"{name}: expected one value per row of {names[0]}, shape "
                        f"{tuple(sample_shape)}, got shape {tuple(a.shape)}"
                    ) from None
            others.append(a.reshape(n))
        big = p.get("p", 0.0)
        if x.dtype == np.float32 and float(np.finfo(np.float32).max) < big < np.inf:
            # float32(p) would be inf, the infinite norm, which is asked for
            # by name (p=inf), not by a finite p
            raise ValueError(
                f"p must be finite in float32 (the inputs' dtype), got {p['p']!r}; "
                "pass float64 inputs for a larger p"
            )
        arrays = tuple(a.reshape(flat) for a in rows) + tuple(others)
        plan = Plan(arrays, flat, self._params_of(p))
        grad_shapes = tuple(given[names.index(nm)].shape for nm in self.wrt)
        kernel = None
        if len(shape) != 2 or any(sh != shape for sh in grad_shapes):
            kernel = ((shape, flat),) * len(grad_shapes)
        return x.dtype, sample_shape, grad_shapes, tuple(read), (plan, kernel)


_ROWS_RETURNS = """    Returns
    -------
    float, or an array of shape (N,) (``()`` for one row, ``(...)`` for
    ``(..., D)``: the broadcast inputs' shape without its last axis) for
    ``reduction="none"``.
"""


# cosine_embedding's and contrastive's embeddings
_PAIR_PARAMS = """    Parameters
    ----------
    x1, x2 : array_like, shape (N, D), (D,) or (..., D), broadcasting
        Embeddings; both are differentiable: ``grad`` returns
        ``(d/dx1, d/dx2)``.
"""


def _rows_loss(name, n_rows, params_of, peer, doc, **kw):
    return declare(
        _Rows, name, kernel=EMBEDDING, n_rows=n_rows, params_of=params_of, peer=peer, doc=doc, **kw
    )


triplet_margin = _rows_loss(
    "triplet_margin",
    3,
    lambda p: (p["margin"], p["p"], p["eps"], 1.0 if p["swap"] else 0.0),
    "torch.nn.functional.triplet_margin_loss",
    """Triplet margin loss (Schroff et al. 2015, FaceNet) with p-norm distances.

    Per row::

        d(x, y) = ||x - y + eps||_p          (torch's pairwise_distance)
        d_neg   = d(anchor, negative)
                  (swap=True: min(d(anchor, negative), d(positive, negative)))
        loss    = max(0, margin + d(anchor, positive) - d_neg)

    Equal to ``torch.nn.functional.triplet_margin_loss``, value and autograd
    gradient w.r.t. all three inputs: at the kink (``loss`` argument exactly
    0) the gradient passes, as torch's ``clamp_min`` passes it; a zero
    distance has gradient 0 (autograd's norm backward masks it); with
    ``swap``, a tie between the two negative distances splits the gradient
    in halves (autograd's ``minimum``). Sums over a row are taken in
    float64 whatever the inputs' dtype; each distance is then rounded to
    it, as torch returns it.

    ``p = inf`` is the largest ``|u|``, its gradient ``sign(u)`` shared
    equally among the entries where ``|u|`` is largest (torch's norm
    backward).

    Departures: ``p`` must be > 0 (torch also takes p <= 0, which is no
    distance: p = 0 counts the nonzero entries and has no gradient); 0 < p
    < 1 is torch's
    ``(sum |u|**p)**(1/p)``, not a norm, as in torch. A NaN gives a NaN
    gradient (torch's clamp gives 0 where its argument is NaN), as NaN
    propagates everywhere in fastloss.
    Where torch's sum of ``|u|**p`` under- or overflows (a large ``p``:
    every ``|u| < 1`` gives 0 at ``p = 1e4``, every ``|u| > 1`` inf, so
    torch's distance is 0 or its loss NaN) the norm is taken scaled, ``m *
    ||u / m||_p`` with ``m = max|u|``, and so is its gradient; elsewhere
    the bits are torch's formula's.

    Parameters
    ----------
    anchor, positive, negative : array_like, shape (N, D), (D,) or (..., D)
        Embeddings, one per row (one number of dimensions, broadcasting, as
        torch requires); all three are differentiable: ``grad``
        returns ``(d/danchor, d/dpositive, d/dnegative)``, ``wrt=`` some.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        One weight per row (broadcast against shape (N,)).
    margin : float > 0, keyword-only, default 1.0
        As torch, which refuses ``margin <= 0`` (``ValueError``).
    p : float > 0 or inf, keyword-only, default 2.0
        The norm's degree (p = 1, 2 and inf have their own loops); a finite
        p within float32's range for float32 inputs.
    eps : float >= 0, keyword-only, default 1e-6
        Added to the difference before the norm, as torch does.
    swap : bool, keyword-only, default False
        The distance swap of Balntas et al. (2016).

"""
    + _ROWS_RETURNS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> a, p, n = [[0.0, 0.0]], [[3.0, 4.0]], [[1.0, 0.0]]
    >>> round(fl.triplet_margin(a, p, n, eps=0.0), 6)
    5.0
    >>> ga, gp, gn = fl.triplet_margin.grad(a, p, n, eps=0.0)
    >>> ga
    array([[ 0.4, -0.8]])
""",
    positive_margin=True,
)

triplet_margin_with_distance = _rows_loss(
    "triplet_margin_with_distance",
    3,
    lambda p: (
        p["margin"],
        0.0 if p["distance"] == "euclidean" else 1.0,
        1.0 if p["swap"] else 0.0,
    ),
    "torch.nn.functional.triplet_margin_with_distance_loss",
    """Triplet margin loss with a named distance.

    Per row::

        loss = max(0, margin + d(anchor, positive) - d_neg)

    with ``d_neg`` as in :data:`triplet_margin` (``swap``) and ``d``:

    * ``distance="euclidean"``: ``||x - y + 1e-6||_2``, torch's
      ``pairwise_distance`` with its defaults (the default
      ``distance_function`` of torch's loss);
    * ``distance="cosine"``: ``1 - cosine_similarity(x, y)``, with
      ``cosine_similarity(x, y) = x.y / (max(|x|, 1e-8) max(|y|, 1e-8))``
      as ``torch.nn.functional.cosine_similarity`` (whose clamp of the norms
      runs under ``no_grad``, so the gradient flows through the unclamped
      norm; a zero row gets no gradient through its norm), over the last
      axis (torch's ``cosine_similarity`` defaults to ``dim=1``, the last
      axis of ``(N, D)`` rows but not of ``(..., D)`` with more axes: pass
      ``dim=-1`` to compare).

    Equal to ``torch.nn.functional.triplet_margin_with_distance_loss`` with
    ``distance_function=pairwise_distance`` or
    ``lambda x, y: 1 - cosine_similarity(x, y)``: value and autograd
    gradients w.r.t. all three inputs (kink and ties as in
    :data:`triplet_margin`). Sums over a row in float64. A named distance
    instead of a Python function: the kernel computes it. ``margin`` must be
    > 0, as torch requires. Departure: a NaN gives a NaN gradient.

    Parameters
    ----------
    anchor, positive, negative : array_like, shape (N, D), (D,) or (..., D)
        (one number of dimensions, broadcasting, as torch requires)
        Embeddings; all three are differentiable.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        One weight per row.
    distance : {"euclidean", "cosine"}, keyword-only, default "euclidean"
    margin : float > 0, keyword-only, default 1.0
    swap : bool, keyword-only, default False

"""
    + _ROWS_RETURNS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> a, p, n = [[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]
    >>> round(fl.triplet_margin_with_distance(a, p, n, distance="cosine"), 6)
    1.707107
    >>> fl.triplet_margin_with_distance.grad(a, p, n, distance="cosine", wrt="positive")
    array([[-1.,  0.]])
""",
)

cosine_embedding = _rows_loss(
    "cosine_embedding",
    2,
    lambda p: (p["margin"],),
    "torch.nn.functional.cosine_embedding_loss",
    """Cosine embedding loss: pull pairs together or push them apart by angle.

    Per row::

        cos  = x1.x2 / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12))
        loss = 1 - cos                  where y == 1
               max(0, cos - margin)     where y == -1
               0                        for any other y

    Equal to ``torch.nn.functional.cosine_embedding_loss`` (its
    ``EPSILON = 1e-12`` on the squared norms, aten/src/ATen/native/Loss.cpp),
    value and autograd gradient w.r.t. ``x1`` and ``x2`` (at the kink
    ``cos == margin`` the gradient passes, as ``clamp_min``'s). The sums
    and ``cos`` are computed in float64 whatever the inputs' dtype.
    Departure: a NaN gives a NaN gradient (torch's clamp gives 0). In float64
    torch's ``EPSILON`` reaches the sums rounded to float32
    (9.99999996e-13): where a norm is 0, its gradient (about ``1 /
    sqrt(1e-12 |x2|^2)``) differs from fastloss's, which adds 1e-12
    exactly, by 2e-9 relative.

"""
    + _PAIR_PARAMS
    + """    y : array_like, shape (N,) (``()`` for one row; ``(1,)`` broadcasts)
        1 for a similar pair, -1 for a dissimilar one.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        One weight per row.
    margin : float, keyword-only, default 0.0

"""
    + _ROWS_RETURNS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> x1, x2 = [[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]
    >>> fl.cosine_embedding(x1, x2, [1, -1], reduction="none")
    array([0.29289322, 0.70710678])
""",
)

contrastive = _rows_loss(
    "contrastive",
    2,
    lambda p: (p["margin"],),
    "torch autograd of the formula (no library function)",
    """Contrastive loss of Hadsell, Chopra & LeCun (2006).

    Per row, with the Euclidean distance ``d = ||x1 - x2||_2`` (no eps)::

        loss = same * d**2 / 2 + (1 - same) * max(0, margin - d)**2 / 2

    Similar pairs (``same = 1``) are pulled together, dissimilar ones
    (``same = 0``) pushed at least ``margin`` apart. The gradient w.r.t.
    ``x1`` is ``(same - (1 - same) max(0, margin - d) / d) (x1 - x2)`` and
    minus that w.r.t. ``x2``; at ``d = 0`` the hinge term has no derivative
    and its share is taken as 0 (autograd of the formula gives NaN there).
    The peer is PyTorch autograd of this formula (tests/test_embedding.py);
    pytorch-metric-learning's ``ContrastiveLoss`` is another loss (all pairs
    of a batch, unsquared margins). The squared distance is summed in
    float64.

"""
    + _PAIR_PARAMS
    + """    same : array_like, shape (N,) (``()`` for one row; ``(1,)`` broadcasts)
        1 (or True) for a similar pair, 0 (False) for a dissimilar one;
        other reals are used as they are in the formula.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
    sample_weight : array_like, optional, keyword-only
        One weight per row.
    margin : float >= 0, keyword-only, default 1.0

"""
    + _ROWS_RETURNS
    + """
    Examples
    --------
    >>> import fastloss as fl
    >>> x1, x2 = [[0.0, 0.0], [0.0, 0.0]], [[0.6, 0.8], [0.3, 0.4]]
    >>> fl.contrastive(x1, x2, [True, False], reduction="none")
    array([0.5  , 0.125])
    >>> g1, g2 = fl.contrastive.grad(x1, x2, [1, 0], reduction="sum")
    >>> g1
    array([[-0.6, -0.8],
           [ 0.3,  0.4]])
""",
)
