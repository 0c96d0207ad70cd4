"""Image losses on ``(N, C, H, W)`` arrays: SSIM and MS-SSIM.

Both compare ``pred`` with ``target`` through a Gaussian window of
``win_size`` taps (``sigma``), on the valid region of the blur (no
padding), one loss per image (its channels averaged): ``reduction="none"``
has shape ``(N,)`` and ``sample_weight`` one weight per image. Only
``pred`` is differentiable.
"""

from __future__ import annotations

import operator

from fastloss._arrays import check_same_shape
from fastloss._catalogue import declare
from fastloss._loss import IMAGE
from fastloss._tensors import Plan, TensorLoss, as_reals, check_rows

__all__ = ["ssim", "ms_ssim"]


def _win_size(p):
    try:
        ws = operator.index(p["win_size"])
    except TypeError:
        raise TypeError(f"win_size must be an int, got {p['win_size']!r}") from None
    if ws < 1 or ws % 2 == 0:
        raise ValueError(f"win_size must be odd and >= 1, got {ws}")
    return ws


class _Ssim(TensorLoss):
    _levels = 1

    def _plan(self, inputs, p):
        pred, target = as_reals(inputs, self.inputs)
        check_rows(pred, "pred", 4)
        check_same_shape(pred, target)
        ws = _win_size(p)
        N, C, H, W = pred.shape
        self._check_size(H, W, ws)
        params = (p["k1"] * p["data_range"], p["k2"] * p["data_range"], p["sigma"])
        params += self._extra(p)
        plan = Plan((pred, target), (N, C, H, W, ws), params)
        return pred.dtype, (N,), (pred.shape,), (pred, target), plan

    def _check_size(self, H, W, ws):
        if H < ws or W < ws:
            raise ValueError(
                f"pred: images of {H} x {W} are smaller than the window (win_size={ws})"
            )

    def _extra(self, p):
        return ()


class _MsSsim(_Ssim):
    def _check_size(self, H, W, ws):
        # pytorch_msssim asserts the same: the window must fit the 5th level
        if min(H, W) <= (ws - 1) * 2**4:
            raise ValueError(
                f"pred: images of {H} x {W} are too small for ms_ssim's 4 downsamplings "
                f"with win_size={ws}: the smaller side must exceed {(ws - 1) * 2**4}"
            )

    def _extra(self, p):
        return tuple(p["weights"])


def _declare(cls, name, peer, doc):
    return declare(cls, name, kernel=IMAGE, peer=peer, doc=doc)


ssim = _declare(
    _Ssim,
    "ssim",
    "pytorch_msssim.ssim(pred, target, data_range, win_size=, win_sigma=, K=(k1, k2)); "
    "skimage.metrics.structural_similarity(gaussian_weights=True, "
    "use_sample_covariance=False, channel_axis=0) per image",
    """The structural dissimilarity ``1 - SSIM`` (Wang et al. 2004).

    For each image and channel, with the Gaussian window ``g`` (``win_size``
    taps, ``exp(-k^2 / (2 sigma^2))`` normalized over them) applied
    separably on the valid region only::

        mx = g*x, my = g*y, sxx = g*(x x) - mx^2, syy = g*(y y) - my^2,
        sxy = g*(x y) - mx my,  C1 = (k1 data_range)^2, C2 = (k2 data_range)^2
        SSIM = mean over the valid region of
               (2 mx my + C1) (2 sxy + C2) / ((mx^2 + my^2 + C1) (sxx + syy + C2))

    and the loss of an image is ``1 - mean over channels of SSIM``.

    Parameters
    ----------
    pred, target : array_like, shape (N, C, H, W)
        H and W at least ``win_size``.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"none"``: one loss per image, shape ``(N,)``.
    sample_weight : array_like of shape (N,), optional, keyword-only
    data_range : float > 0, keyword-only, default 1.0
    win_size : odd int, keyword-only, default 11
    sigma : float > 0, keyword-only, default 1.5
    k1, k2 : float >= 0, keyword-only, default 0.01 and 0.03

    Returns
    -------
    float, or an array of shape (N,). ``grad`` (w.r.t. ``pred``) has
    pred's shape.

    Notes
    -----
    Equal to ``1 - pytorch_msssim.ssim(pred, target, data_range=...,
    win_size=..., win_sigma=sigma, K=(k1, k2))`` (its ``size_average=False``
    per image) up to rounding: pytorch_msssim builds its window in float32.
    Equal to ``1 - skimage.metrics.structural_similarity(pred[n],
    target[n], gaussian_weights=True, sigma=sigma,
    use_sample_covariance=False, data_range=..., channel_axis=0)`` when
    ``win_size == 2 * int(3.5 * sigma + 0.5) + 1`` (11 for sigma 1.5):
    skimage's filter always has that many taps (scipy's gaussian_filter
    truncated at 3.5 sigma) and uses ``win_size`` only to crop the border,
    so with another ``win_size`` (7 with sigma 1.5) it blurs with a wider
    window than pytorch_msssim and fastloss. Departure: images smaller
    than the window are refused (pytorch_msssim warns and skips the blur
    along that axis).

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> x = np.linspace(0.0, 1.0, 2 * 1 * 16 * 16).reshape(2, 1, 16, 16)
    >>> fl.ssim(x, x)
    0.0
    >>> fl.ssim(x, 1.0 - x, reduction="none").shape
    (2,)
""",
)

ms_ssim = _declare(
    _MsSsim,
    "ms_ssim",
    "pytorch_msssim.ms_ssim(pred, target, data_range, win_size=, win_sigma=, weights=, K=)",
    """The multi-scale structural dissimilarity ``1 - MS-SSIM`` (Wang,
    Simoncelli & Bovik 2003), as pytorch_msssim computes it.

    Five levels: level 0 is the image, each next one
    ``avg_pool2d(kernel 2, stride 2, padding=size % 2)`` of the previous
    (padded zeros counted). With ``cs_l`` the mean contrast-structure term
    and ``SSIM_4`` the mean SSIM of the last level (see :data:`ssim`), per
    image and channel::

        MS-SSIM = prod_{l<4} relu(cs_l)^w_l * relu(SSIM_4)^w_4

    and the loss of an image is ``1 - mean over channels of MS-SSIM``.

    Parameters
    ----------
    pred, target : array_like, shape (N, C, H, W)
        ``min(H, W) > (win_size - 1) * 16``, as pytorch_msssim asserts.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"none"``: one loss per image, shape ``(N,)``.
    sample_weight : array_like of shape (N,), optional, keyword-only
    data_range, win_size, sigma, k1, k2 : keyword-only
        As for :data:`ssim`.
    weights : 5 floats >= 0, keyword-only,
        default (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    Returns
    -------
    float, or an array of shape (N,). ``grad`` (w.r.t. ``pred``) has
    pred's shape; where a level's term is clipped by relu its gradient is
    0, as torch's.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> x = np.linspace(0.0, 1.0, 1 * 1 * 168 * 168).reshape(1, 1, 168, 168)
    >>> fl.ms_ssim(x, x)
    0.0
""",
)
