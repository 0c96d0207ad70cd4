"""Embedding losses: two or three arrays compared sample by sample.

These losses take several differentiable inputs (``margin_ranking``'s ``x1``
and ``x2``): ``grad`` returns a tuple of gradients in positional order and
``wrt=`` selects some (see :class:`fastloss.Loss`).
"""

from __future__ import annotations

from fastloss._arrays import check_same_shape
from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import EMBEDDING
from fastloss._tensors import Plan, TensorLoss, as_reals

__all__ = ["margin_ranking"]


class _ElementPairs(TensorLoss):
    """Inputs of one shape, one loss value per element."""

    def _plan(self, inputs, p):
        arrays = as_reals(inputs, self.inputs)
        for a, name in zip(arrays[1:], self.inputs[1:]):
            if a.shape != arrays[0].shape:
                check_same_shape(arrays[0], a, self.inputs[0], name)
        shape = arrays[0].shape
        plan = Plan(arrays, (arrays[0].size,), (p["margin"],))
        return arrays[0].dtype, shape, (shape,) * len(self.wrt), arrays, plan


margin_ranking = _ElementPairs(
    "margin_ranking",
    **metadata("margin_ranking"),
    kernel=EMBEDDING,
    kernel_id=kernel_id("margin_ranking"),
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
    x1, x2 : array_like, same shape
        The two scores; both are differentiable: ``grad`` returns
        ``(d/dx1, d/dx2)``, ``wrt="x1"`` one of them.
    y : array_like, same shape
        +1 or -1 (other values are used as they are, as in torch).
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
