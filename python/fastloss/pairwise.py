"""Pairwise losses: losses over the similarity matrix of two sets of
embeddings (NT-Xent, CLIP).

The kernels compute the matrix in tiles and never hold it (the tile engine
``cpp/include/fastloss/pairwise_tiles.hpp``, or for scales above 30 the
general tile driver ``common/tiles.hpp``): ``ntxent`` and ``clip`` on
16384 x 256 float32 embeddings allocate a few tens of MB beyond their inputs
and gradients, where the N x N matrix alone would be 1 GiB. The embeddings
are normalized (cosine similarity) inside the kernel and the gradient is
chained through that normalization. Both inputs are differentiable (and
``clip``'s ``logit_scale``): ``grad`` returns a tuple, ``wrt=`` selects.
Both drivers keep each anchor's positive term apart from its negatives'
sum ``r`` (the loss as ``log1p(r)``, the positive's ``1 - p`` as ``r /
sigma``), so a loss near 0 keeps its relative digits at any scale.
"""

from __future__ import annotations

from fastloss._catalogue import kernel_id, metadata
from fastloss._loss import PAIRWISE
from fastloss._tensors import Plan, TensorLoss, as_reals, check_rows

__all__ = ["ntxent", "clip"]

# CLIP's initial temperature 0.07 (Radford et al. 2021), as a scale
_CLIP_SCALE = 1 / 0.07


def _pair(arrays, names):
    a, b = arrays[:2]
    check_rows(a, names[0])
    check_rows(b, names[1])
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (N, D), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a.shape


class _Pairwise(TensorLoss):
    def not_accumulable(self) -> str | None:
        # ntxent's negatives and clip's columns are the whole batch
        return (
            "each row's loss depends on every other row of the batch, so chunks do not "
            "sum to the whole"
        )


class _NTXent(_Pairwise):
    def _plan(self, inputs, p):
        arrays = as_reals(inputs, self.inputs)
        n, d = _pair(arrays, self.inputs)
        plan = Plan(arrays, (n, d), (p["temperature"],))
        return arrays[0].dtype, (2 * n,), (arrays[0].shape,) * 2, arrays, plan

    def _samples(self, state):
        return 2 * int(state.dims[0])  # one anchor per view


class _Clip(_Pairwise):
    def _inputs_from(self, inputs, params):
        # logit_scale is an input (it has a gradient) with a default
        if len(inputs) == 2 and "logit_scale" not in params:
            return (inputs[0], inputs[1], _CLIP_SCALE)
        return super()._inputs_from(inputs, params)

    def _plan(self, inputs, p):
        arrays = as_reals(inputs, self.inputs)
        n, d = _pair(arrays, self.inputs)
        s = arrays[2]
        # a scalar: 0-d (torch's and open_clip's logit_scale) or one element
        # on one axis; more axes are refused, as torch's formula would
        # broadcast the logits to them
        if s.size != 1 or s.ndim > 1:
            raise ValueError(
                f"logit_scale: expected a scalar (a 0-d or 1-element 1-d array), got shape "
                f"{tuple(s.shape)}"
            )
        plan = Plan(arrays, (n, d), ())
        shapes = (arrays[0].shape, arrays[1].shape, s.shape)
        return arrays[0].dtype, (n,), shapes, arrays, plan


ntxent = _NTXent(
    "ntxent",
    **metadata("ntxent"),
    kernel=PAIRWISE,
    kernel_id=kernel_id("ntxent"),
    peer="pytorch_metric_learning.losses.NTXentLoss",
    doc="""NT-Xent, SimCLR's normalized temperature-scaled cross-entropy.

    The 2N views ``Z = [z1; z2]`` are normalized to unit length
    (``u = z / max(||z||, 1e-12)``, as ``torch.nn.functional.normalize``)
    and compared by cosine similarity ``S = U U^T / temperature``. Each
    view ``a`` is an anchor whose positive is its pair ``p(a)`` (row ``i``
    of ``z1`` and row ``i`` of ``z2``) and whose negatives are the other
    ``2N - 2`` views; per anchor::

        loss_a = -log( exp(S[a, p(a)]) / sum_{k != a} exp(S[a, k]) )

    and the mean over the 2N anchors. Equal to pytorch-metric-learning's
    ``NTXentLoss(temperature)`` applied to ``torch.cat([z1, z2])`` with
    labels ``torch.cat([arange(N), arange(N)])`` (its default cosine
    similarity and mean reducer), value and autograd gradient. Departures:
    it adds the smallest normal float inside its ``log`` (1.2e-38 in
    float32), which fastloss does not; with no rows (N = 0) its loss is 0,
    fastloss's mean of no anchors is NaN (``"sum"`` gives 0).

    The similarity matrix is computed in tiles and never held (memory
    grows with N x D, not N**2); being symmetric, only its tiles on and
    above the diagonal are computed, and the gradient recomputes them.

    Parameters
    ----------
    z1, z2 : array_like, shape (N, D)
        The two views' embeddings, both differentiable: ``grad`` returns
        ``(d/dz1, d/dz2)``, ``wrt="z1"`` one of them.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"none"`` gives the 2N per-anchor losses: z1's rows', then z2's.
    sample_weight : array_like, shape (2N,), optional, keyword-only
        Per-anchor weights (the anchors in the order of ``"none"``); the
        weighted mean is ``sum(w * loss) / sum(w)``.
    temperature : float > 0, keyword-only, default 0.5

    Returns
    -------
    float, or an array of shape (2N,) for ``reduction="none"``.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> z1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> z2 = np.array([[2.0, 0.1], [0.1, 2.0]])
    >>> round(fl.ntxent(z1, z2, temperature=0.5), 6)
    0.26274
    >>> g1, g2 = fl.ntxent.grad(z1, z2)
    >>> g1.shape, g2.shape
    ((2, 2), (2, 2))
""",
)

clip = _Clip(
    "clip",
    **metadata("clip"),
    kernel=PAIRWISE,
    kernel_id=kernel_id("clip"),
    peer="open_clip.ClipLoss (the cross-entropy formula in torch)",
    doc="""CLIP's symmetric contrastive loss (InfoNCE over image-text pairs).

    The embeddings are normalized to unit length
    (``u = x / max(||x||, 1e-12)``, as ``torch.nn.functional.normalize``)
    and ``S = logit_scale * U V^T`` (image rows, text columns); pair ``i``
    is the positive of row ``i`` and of column ``i``. The loss is the mean
    of the cross-entropy over the rows and over the columns (Radford et al.
    2021; open_clip's ``ClipLoss``)::

        loss = (cross_entropy(S, arange(N)) + cross_entropy(S.T, arange(N))) / 2

    equal to that torch formula on normalized embeddings, value and
    autograd gradient. open_clip normalizes in the model, before the loss;
    here the normalization is part of the loss and its gradient.

    ``logit_scale`` is the (already exponentiated) scale CLIP learns, so it
    is a third, optional, input rather than a parameter: it has a gradient
    (``wrt="logit_scale"`` gives a 0-d array). Without it the scale is
    ``1/0.07``, CLIP's initial temperature.

    The similarity matrix is computed in tiles and never held; the gradient
    recomputes each tile once and takes both embeddings' gradients from it.

    Parameters
    ----------
    image_emb, text_emb : array_like, shape (N, D)
        Matching image and text embeddings, both differentiable.
    logit_scale : float, 0-d or shape-(1,) array, optional, default 1/0.07
        Positional (third) or keyword; differentiable.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"none"`` gives the N per-pair losses ``(row_i + column_i) / 2``,
        whose mean is the loss.
    sample_weight : array_like, shape (N,), optional, keyword-only
        Per-pair weights on those per-pair losses (the weighted mean is
        ``sum(w * loss) / sum(w)``); a weight scales pair ``i``'s row and
        column cross-entropies together.

    Returns
    -------
    float, or an array of shape (N,) for ``reduction="none"``.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> img = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> txt = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> round(fl.clip(img, txt, 10.0), 6)
    0.000392
    >>> g_img, g_txt, g_scale = fl.clip.grad(img, txt, 10.0)
    >>> round(float(g_scale), 6)  # a larger scale would lower the loss
    -0.0003
    >>> fl.clip.grad(img, txt, wrt="logit_scale").shape
    ()
""",
)
