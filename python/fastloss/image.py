"""Image losses: SSIM and MS-SSIM on ``(N, C, H, W)`` arrays, and the
perceptual loss on lists of feature maps.

SSIM and MS-SSIM compare ``pred`` with ``target`` through a Gaussian window of
``win_size`` taps (``sigma``), on the valid region of the blur (no
padding), one loss per image (its channels averaged): ``reduction="none"``
has shape ``(N,)`` and ``sample_weight`` one weight per image. Only
``pred`` is differentiable.

``perceptual`` takes the feature maps a network (a VGG the user provides)
produced for the prediction and the target, one per layer, and runs the
``mse`` (or ``mae``) kernel on each pair: its inputs and gradients are
lists of arrays.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

from fastloss._arrays import _F64, as_float, check_no_overlap, check_same_shape, prepare_out
from fastloss._catalogue import declare
from fastloss._loss import GRAD, GRAD_HESS, IMAGE, REGRESSION, VALUE, ElementwiseLoss, Loss
from fastloss._params import reduction_code
from fastloss._tensors import Plan, TensorLoss, as_reals, check_rows
from fastloss.regression import mae as _mae
from fastloss.regression import mse as _mse

__all__ = ["ssim", "ms_ssim", "perceptual"]


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
        # pytorch_msssim asserts the same, for any number of levels (the
        # window then fits the 5th level, the last one the kernel computes)
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

    One level per weight, ``L = len(weights)`` (5 by default; 1 to 5, as
    pytorch_msssim takes ``len(weights)`` levels): level 0 is the image, each next one
    ``avg_pool2d(kernel 2, stride 2, padding=size % 2)`` of the previous
    (padded zeros counted). With ``cs_l`` the mean contrast-structure term
    and ``SSIM_{L-1}`` the mean SSIM of the last level (see :data:`ssim`), per
    image and channel::

        MS-SSIM = prod_{l<L-1} relu(cs_l)^w_l * relu(SSIM_{L-1})^w_{L-1}

    and the loss of an image is ``1 - mean over channels of MS-SSIM``.

    Parameters
    ----------
    pred, target : array_like, shape (N, C, H, W)
        ``min(H, W) > (win_size - 1) * 16``, as pytorch_msssim asserts
        (whatever the number of levels, as there).
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"none"``: one loss per image, shape ``(N,)``.
    sample_weight : array_like of shape (N,), optional, keyword-only
    data_range, win_size, sigma, k1, k2 : keyword-only
        As for :data:`ssim`.
    weights : 1 to 5 floats >= 0, keyword-only,
        default (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
        One per level: ``weights=(0.5, 0.5)`` is a two-level MS-SSIM, one
        weight ``w`` is ``relu(SSIM)^w`` of the image (pytorch_msssim's
        ``ms_ssim(..., weights=[w])``).

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


# -- perceptual: a weighted sum of per-layer kernels ---------------------------


def _layer_weights(name, v):
    """Check: None, or a sequence of finite reals >= 0 (one per layer; the
    count is checked against the feature lists by the loss)."""
    if v is None:
        return None
    if isinstance(v, (str, bytes)) or isinstance(v, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a sequence of real numbers (one per layer), got {v!r}")
    arr = as_float(v, name, _F64)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one weight per layer), got shape {tuple(arr.shape)}"
        )
    bad = ~(np.isfinite(arr) & (arr >= 0.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite and >= 0, got {arr[i].item()!r} at index {i}")
    return tuple(float(x) for x in arr)


class _Perceptual(Loss):
    """``perceptual``: lists of feature maps, one element-wise kernel per layer.

    No formula here: each layer runs ``mse`` (p=2), ``mae`` (p=1) or, for
    any other power, the regression kernel ``abs_power`` (``|r|^p``, the
    catalogue's kernel id of this loss) through the verbs of an
    :class:`~fastloss._loss.ElementwiseLoss`, and the layer results are
    combined by ``layer_weights`` (the result shaping the penalties do for a
    list of arrays). ``_run`` is this loss's whole run path; the
    registry-wide property tests, written for array inputs, skip it
    (``list_inputs``) and tests/test_perceptual.py covers what they would.
    """

    list_inputs = True

    def __init__(self, name, *, kernel_id, **kw):
        super().__init__(name, **kw)
        self._kernel = REGRESSION
        self._id = kernel_id
        # the |r|^p kernel on one layer, as an element-wise loss of its own
        # (not in the registry): perceptual's p in its first float slot
        self._power = ElementwiseLoss(
            name,
            kernel=REGRESSION,
            kernel_id=kernel_id,
            pack=_pack_power,
            family=kw["family"],
            params=tuple(q for q in kw["params"] if q.name == "p"),
            inputs=kw["inputs"],
        )

    def layer_kernel(self, p):
        """The loss whose verbs run one layer for power ``p``: mse, mae or
        the |r|^p kernel (fastloss.jax composes its layers from it too)."""
        return _mse if p == 2 else _mae if p == 1 else self._power

    def not_accumulable(self) -> str | None:
        return "its inputs are lists of feature maps, not rows of (pred, target)"

    @staticmethod
    def _weights(p, n):
        """``layer_weights`` for ``n`` layers: 1.0 each when None, else checked
        (finite reals >= 0) to hold one weight per layer (fastloss.jax's
        perceptual calls it too)."""
        w = _layer_weights("layer_weights", p["layer_weights"])
        if w is None:
            return (1.0,) * n
        if len(w) != n:
            raise ValueError(
                f"layer_weights: expected {n} weights (one per layer of pred_features), "
                f"got {len(w)}"
            )
        return w

    def _run(self, op, inputs, reduction, sample_weight, out, wrt, params, blocks=False):
        if blocks:
            raise TypeError(f"{self.name}: has no reduction blocks (lists of feature maps)")
        if reduction not in ("mean", "sum", "none"):
            reduction_code(reduction)  # raises, naming reduction
        if sample_weight is not None:
            raise TypeError(
                "sample_weight: not supported by perceptual (weigh layers with layer_weights)"
            )
        if op == GRAD_HESS:  # pragma: no cover (has_hess is False: grad_hess refuses first)
            raise TypeError(f"{self.name} has no Hessian")
        if len(inputs) != self._nin:
            inputs = self._inputs_from(inputs, dict(params))
            params = {k: v for k, v in params.items() if k not in self.inputs}
        p = self.resolve_params(params)
        if wrt is not None:
            self._select(wrt)  # refuses names other than pred_features
        fs, gs = self._layers(inputs)
        n = len(fs)
        w = self._weights(p, n)
        outs = [None] * n
        if op != VALUE:
            outs = self._outs(out, fs, gs)
        kernel = self.layer_kernel(p["p"])
        kp = {} if kernel is not self._power else {"p": p["p"]}
        values, grads = [], []
        for f, g, wl, o in zip(fs, gs, w, outs):
            if op == VALUE:
                v = kernel(f, g, reduction=reduction, **kp)
            else:
                v, d = kernel.value_and_grad(f, g, reduction=reduction, out=o, **kp)
                if wl != 1.0:
                    np.multiply(d, wl, out=d)
                grads.append(d)
            if reduction == "none":
                if wl != 1.0:
                    np.multiply(v, wl, out=v)
            else:
                v = wl * v  # float64, as the kernels accumulate
            values.append(v)
        if reduction == "none":
            value = values
        else:
            # in layer order, in float64: the same bits for any thread count,
            # as each layer's value is
            value = 0.0
            for v in values:
                value += v
        if op == VALUE:
            return value
        if wrt is not None and not isinstance(wrt, str):
            grads = (grads,)
        return grads if op == GRAD else (value, grads)

    def _layers(self, inputs):
        """The feature lists as float arrays, pair by pair (each pair in the
        dtype of its pred_features array), checked."""
        pf, tf = inputs
        for x, nm in ((pf, "pred_features"), (tf, "target_features")):
            if not isinstance(x, (list, tuple)):
                raise TypeError(
                    f"{nm}: expected a list (or tuple) of feature maps, one per layer, "
                    f"got {type(x).__name__}"
                )
        if not pf:
            raise ValueError("pred_features: expected at least one feature map, got an empty list")
        if len(tf) != len(pf):
            raise ValueError(
                f"target_features: expected {len(pf)} feature maps (as many as "
                f"pred_features), got {len(tf)}"
            )
        fs, gs = [], []
        for i, (f, g) in enumerate(zip(pf, tf)):
            f = as_float(f, f"pred_features[{i}]")
            g = as_float(g, f"target_features[{i}]", f.dtype)
            check_same_shape(f, g, f"pred_features[{i}]", f"target_features[{i}]")
            fs.append(f)
            gs.append(g)
        return fs, gs

    def _outs(self, out, fs, gs):
        """The caller's gradient buffers, one per layer, checked (shape,
        dtype, no overlap with any input or each other); None where fresh
        ones are to be made."""
        if out is None:
            return [None] * len(fs)
        if not isinstance(out, (list, tuple)) or len(out) != len(fs):
            raise TypeError(
                f"out: expected a list of {len(fs)} arrays, one per layer of pred_features"
            )
        outs = [
            prepare_out(o, f.shape, f.dtype, f"out[{i}]") for i, (o, f) in enumerate(zip(out, fs))
        ]
        ins = {}
        for i, (f, g) in enumerate(zip(fs, gs)):
            ins[f"pred_features[{i}]"] = f
            ins[f"target_features[{i}]"] = g
        check_no_overlap({f"out[{i}]": o for i, o in enumerate(outs)}, ins)
        return outs


def _pack_power(p, pred, target, *_):
    """The |r|^p kernel's float slots: the power, the rest 0."""
    return (float(p["p"]), 0.0, 0.0, 0.0), None, target


perceptual = declare(
    _Perceptual,
    "perceptual",
    peer="torch: sum(w_l * (f_l - g_l).abs().pow(p).mean() for each layer l) with autograd",
    doc="""The perceptual (feature-matching) loss over feature maps of a network.

    ::

        loss = sum over layers l of  w_l * mean(|f_l - g_l|^p)

    with ``f_l``, ``g_l`` the l-th feature maps your network produced for
    the prediction and the target (a VGG's ReLU outputs, as Johnson et al.
    2016 use them), ``w_l = 1`` by default and the sum not normalized by
    ``sum(w_l)``. fastloss ships no network and no weights: run yours, then
    pass its lists of activations (the README shows it with a torchvision
    VGG). The gradient is w.r.t. ``pred_features``: a list of arrays, one
    per layer, ``w_l * d mean(|f_l - g_l|^p) / d f_l``; backpropagate each
    through your network.

    Each layer runs an element-wise kernel: ``mse`` for p=2 and ``mae`` for
    p=1 (so a layer's value and gradient are the bits of ``fl.mse``/``fl.mae``
    on it, times ``w_l``, for any thread count), and for any other power
    ``p > 0`` the kernel of ``|r|^p`` (value ``exp(p log|r|)``, gradient
    ``p |r|^(p-1) sign(r)``, in C++ as every kernel; within a few ulp of the
    exact power, where torch's ``pow`` rounds once); the layer values are
    added in layer order in float64.

    Departure from torch at ``f == g``: the gradient there is 0 for every
    ``p``. torch's autograd of ``(f - g).abs().pow(p)`` gives 0 too for
    ``p >= 1`` but NaN for ``p < 1`` (``inf * 0``: the slope is infinite),
    where fastloss keeps mae's subgradient 0.

    Parameters
    ----------
    pred_features : list or tuple of array_like
        One feature map per layer, of any shapes (layer l's shape is its own).
        Each pair is computed in its pred_features array's dtype (float32 or
        float64; other reals converted).
    target_features : list or tuple of array_like
        As many maps, each of the shape of its pred_features map.
    reduction : {"mean", "sum", "none"}, keyword-only, default "mean"
        ``"mean"``: each layer's mean, weighted and added, as above;
        ``"sum"``: ``sum_l w_l * sum(|f_l - g_l|^p)``; ``"none"``: a list of
        arrays, ``w_l * |f_l - g_l|^p`` per element of each layer.
    sample_weight : None, keyword-only
        Not supported (a TypeError): layers are weighed by ``layer_weights``.
    layer_weights : sequence of floats >= 0, optional, keyword-only
        One weight per layer; default all 1.
    p : float > 0, keyword-only, default 2
        The power: 2 for squared errors (``mse``), 1 for absolute ones
        (``mae``, the L1 feature loss), any other positive power through the
        ``|r|^p`` kernel.

    Returns
    -------
    float (a list of arrays for ``"none"``). ``grad``: a list of arrays,
    one per layer, each of its pred_features map's shape and dtype; ``out=``
    takes such a list of C-contiguous buffers.

    Notes
    -----
    Equal to ``sum(w * (f - g).abs().pow(p).mean() for w, f, g in ...)``
    in PyTorch, and its autograd gradients (tests/test_perceptual.py).
    ``fastloss.torch.perceptual`` takes lists of tensors and passes each
    layer's gradient on to its network.

    References
    ----------
    Johnson, Alahi & Fei-Fei, "Perceptual losses for real-time style transfer
    and super-resolution", ECCV 2016.

    Examples
    --------
    >>> import numpy as np, fastloss as fl
    >>> f = [np.array([1.0, 2.0]), np.array([[0.0, 3.0]])]
    >>> g = [np.array([1.0, 0.0]), np.array([[1.0, 1.0]])]
    >>> fl.perceptual(f, g)  # (0 + 4) / 2 + (1 + 4) / 2
    4.5
    >>> fl.perceptual(f, g, layer_weights=[1.0, 0.5], p=1)  # 2 / 2 + 0.5 * 3 / 2
    1.75
    >>> fl.perceptual.grad(f, g)
    [array([0., 2.]), array([[-1.,  2.]])]
    >>> round(fl.perceptual(f, g, p=3), 12)  # (0 + 8) / 2 + (1 + 8) / 2
    8.5
""",
)
