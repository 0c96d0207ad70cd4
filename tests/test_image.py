"""ssim and ms_ssim against pytorch_msssim (values, autograd gradients) and
scikit-image's structural_similarity (values), on several sizes, windows
and both float dtypes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")


@pytest.fixture(params=[np.float32, np.float64])
def dtype(request):
    return request.param


def _images(seed, shape, dtype):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=shape)
    y = np.clip(x + rng.normal(scale=0.15, size=shape), 0.0, 1.0)
    return x.astype(dtype), y.astype(dtype)


def _tol(dtype):
    return (2e-5, 1e-6) if dtype == np.float32 else (1e-9, 1e-12)


def _assert_matches(v, per, g, tv, tper, tgrad, dtype, grad_slack):
    """fastloss's mean loss ``v``, per-image losses ``per`` and gradient ``g``
    against pytorch_msssim's mean similarity ``tv``, per-image ``tper`` and
    autograd gradient of ``1 - tv``; the gradient's tolerance is relative to
    its largest entry, ``grad_slack`` times the value's."""
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(v, 1 - tv.item(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(per, 1 - tper.detach().numpy(), rtol=rtol, atol=atol)
    gt = tgrad.numpy()
    np.testing.assert_allclose(g, gt, rtol=0, atol=atol + grad_slack * rtol * np.abs(gt).max())


def _ours(loss, x, y, **kw):
    """fastloss's mean loss, its gradient and the per-image losses."""
    v, g = loss.value_and_grad(x, y, **kw)
    return v, g, loss(x, y, reduction="none", **kw)


def _skimage_ssim(x, y, win_size, sigma):
    """skimage's SSIM of each image of a batch (N, C, H, W), Gaussian
    weights and population covariances as pytorch_msssim and fastloss."""
    metrics = pytest.importorskip("skimage.metrics")
    kw = dict(gaussian_weights=True, sigma=sigma, use_sample_covariance=False, data_range=1.0)
    return np.array(
        [
            metrics.structural_similarity(x[n], y[n], win_size=win_size, channel_axis=0, **kw)
            for n in range(x.shape[0])
        ]
    )


def _win(win_size, sigma, channels, dtype):
    """pytorch_msssim's window, built in the images' dtype: its own is float32
    even for float64 images (~1e-8 off), so float64 comparisons pass it."""
    if dtype == np.float32:
        return None
    x = np.arange(win_size) - win_size // 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g = torch.tensor(g / g.sum()).reshape(1, 1, 1, win_size)
    return g.repeat(channels, 1, 1, 1)


@pytest.mark.parametrize(
    "shape,win_size,sigma",
    [((2, 3, 32, 32), 11, 1.5), ((3, 1, 20, 27), 7, 1.5), ((1, 2, 64, 41), 7, 1.0)],
)
def test_ssim_equals_pytorch_msssim_value_and_gradient(shape, win_size, sigma, dtype):
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _images(0, shape, dtype)
    v, g, per = _ours(fl.ssim, x, y, win_size=win_size, sigma=sigma, data_range=1.0)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y)
    win = _win(win_size, sigma, shape[1], dtype)
    kw = dict(data_range=1.0, win_size=win_size, win_sigma=sigma, win=win)
    tv = pm.ssim(tx, ty, size_average=True, **kw)
    (1 - tv).backward()
    tper = pm.ssim(tx, ty, size_average=False, **kw)
    _assert_matches(v, per, g, tv, tper, tx.grad, dtype, grad_slack=1)
    assert per.shape == (shape[0],) and g.dtype == dtype


@pytest.mark.parametrize(
    "shape,win_size,sigma",
    # skimage's filter has 2 * int(3.5 sigma + 0.5) + 1 taps whatever
    # win_size is: these pairs are the ones where the windows agree
    [((2, 3, 32, 30), 11, 1.5), ((2, 1, 19, 23), 7, 0.9)],
)
def test_ssim_equals_skimage(shape, win_size, sigma, dtype):
    x, y = _images(1, shape, dtype)
    per = fl.ssim(x, y, win_size=win_size, sigma=sigma, data_range=1.0, reduction="none")
    sk = _skimage_ssim(x, y, win_size, sigma)
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(per, 1 - sk, rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "shape,win_size,data_range",
    # kornia's window has sigma 1.5 whatever its size: sigma stays at 1.5
    [((2, 3, 32, 32), 11, 1.0), ((3, 1, 20, 27), 7, 1.0), ((1, 2, 41, 64), 11, 2.0)],
)
def test_ssim_equals_kornia_value_and_gradient(shape, win_size, data_range, dtype):
    # kornia.metrics.ssim returns the SSIM map; fastloss's ssim is 1 - its
    # mean with padding="valid" (the region no zero padding reaches, as
    # pytorch_msssim and skimage's crop) and eps=0.0 (kornia adds eps=1e-12
    # to the denominator by default). kornia's ssim_loss is (1 - map) / 2,
    # clamped: half of fastloss's.
    kornia = pytest.importorskip("kornia")
    x, y = _images(6, shape, dtype)
    x, y = x * data_range, y * data_range
    v, g, per = _ours(fl.ssim, x, y, win_size=win_size, data_range=data_range)
    tx = torch.tensor(x, requires_grad=True)
    smap = kornia.metrics.ssim(
        tx, torch.tensor(y), win_size, max_val=float(data_range), eps=0.0, padding="valid"
    )
    tv = smap.mean()
    (1 - tv).backward()
    tper = smap.mean(dim=(1, 2, 3))
    _assert_matches(v, per, g, tv, tper, tx.grad, dtype, grad_slack=1)
    loss = kornia.losses.ssim_loss(
        torch.tensor(x),
        torch.tensor(y),
        win_size,
        max_val=float(data_range),
        eps=0.0,
        padding="valid",
    )
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(2 * loss.item(), v, rtol=rtol, atol=atol)


def test_ssim_departs_from_skimage_where_its_window_is_wider():
    # documented: skimage blurs with 11 taps at sigma 1.5 even for win_size=7
    x, y = _images(2, (1, 1, 24, 24), np.float64)
    ours = 1 - fl.ssim(x, y, win_size=7, sigma=1.5)
    sk = _skimage_ssim(x, y, 7, 1.5)[0]
    assert abs(ours - sk) > 1e-5


@pytest.mark.parametrize("shape,win_size", [((2, 3, 176, 161), 11), ((1, 2, 100, 111), 7)])
def test_ms_ssim_equals_pytorch_msssim_value_and_gradient(shape, win_size, dtype):
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _images(3, shape, dtype)
    v, g, per = _ours(fl.ms_ssim, x, y, win_size=win_size)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y)
    kw = dict(data_range=1.0, win_size=win_size, win=_win(win_size, 1.5, shape[1], dtype))
    tv = pm.ms_ssim(tx, ty, **kw)
    (1 - tv).backward()
    tper = pm.ms_ssim(tx, ty, size_average=False, **kw)
    _assert_matches(v, per, g, tv, tper, tx.grad, dtype, grad_slack=10)


def test_ms_ssim_weights_and_relu_clipping_match_pytorch_msssim():
    pm = pytest.importorskip("pytorch_msssim")
    rng = np.random.default_rng(4)
    # channel 0 anti-correlated: its cs < 0 at the first levels, clipped by
    # relu (value 0, no gradient); channel 1 correlated, nothing clipped
    x = rng.uniform(size=(2, 2, 70, 70))
    y = x + 0.3 * rng.normal(size=x.shape)
    y[:, 0] = 1.0 - x[:, 0] + 0.05 * rng.normal(size=x[:, 0].shape)
    w = (0.1, 0.2, 0.3, 0.2, 0.2)
    v, g = fl.ms_ssim.value_and_grad(x, y, win_size=3, weights=w)
    tx = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pytorch_msssim may warn on its weights tensor
        tv = pm.ms_ssim(
            tx,
            torch.tensor(y),
            data_range=1.0,
            win_size=3,
            weights=list(w),
            win=_win(3, 1.5, 2, np.float64),
        )
    (1 - tv).backward()
    np.testing.assert_allclose(v, 1 - tv.item(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g, tx.grad.numpy(), atol=1e-12)
    assert not g[:, 0].any() and g[:, 1].any()


@pytest.mark.parametrize(
    "weights", [(1.0,), (0.7,), (0.4, 0.6), (0.2, 0.3, 0.5), (0.1, 0.2, 0.3, 0.4), (0.0, 1.0)]
)
def test_ms_ssim_takes_one_level_per_weight_as_pytorch_msssim(weights, dtype):
    # pytorch_msssim runs len(weights) levels (its size assertion is the
    # 5-level one whatever their number); one weight w is relu(SSIM)^w
    pm = pytest.importorskip("pytorch_msssim")
    x, y = _images(5, (2, 2, 49, 54), dtype)
    kw = dict(win_size=3, weights=weights)
    v, g, per = _ours(fl.ms_ssim, x, y, **kw)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y)
    tkw = dict(data_range=1.0, win_size=3, weights=list(weights), win=_win(3, 1.5, 2, dtype))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tv = pm.ms_ssim(tx, ty, **tkw)
        (1 - tv).backward()
        tper = pm.ms_ssim(tx, ty, size_average=False, **tkw)
    _assert_matches(v, per, g, tv, tper, tx.grad, dtype, grad_slack=10)
    if len(weights) == 1:  # per channel relu(SSIM)^w, averaged over channels
        ssim = [
            1.0 - fl.ssim(x[:, c : c + 1], y[:, c : c + 1], reduction="none", win_size=3)
            for c in range(2)
        ]
        ref = np.mean([np.maximum(s, 0) ** weights[0] for s in ssim], axis=0)
        np.testing.assert_allclose(1.0 - per, ref, rtol=_tol(dtype)[0])


def test_ms_ssim_refuses_no_weights_and_more_than_five():
    x = np.zeros((1, 1, 40, 40))
    for w in ((), (0.2,) * 6):
        with pytest.raises(ValueError, match="weights must hold 1 to 5 real numbers"):
            fl.ms_ssim(x, x, win_size=3, weights=w)


def test_image_losses_refuse_bad_shapes_and_windows():
    x = np.zeros((1, 1, 16, 16))
    with pytest.raises(ValueError, match="win_size"):
        fl.ssim(x, x, win_size=4)
    with pytest.raises(ValueError, match="smaller than the window"):
        fl.ssim(x, x, win_size=17)
    with pytest.raises(ValueError, match="4-d"):
        fl.ssim(x[0], x[0])
    with pytest.raises(ValueError, match="same shape"):
        fl.ssim(x, x[..., :15])
    with pytest.raises(ValueError, match="too small for ms_ssim"):
        fl.ms_ssim(np.zeros((1, 1, 160, 200)), np.zeros((1, 1, 160, 200)))
    with pytest.raises(TypeError, match="win_size"):
        fl.ssim(x, x, win_size=7.5)


def test_empty_batch_gives_nan_mean_and_zero_sum():
    x = np.zeros((0, 3, 16, 16))
    assert np.isnan(fl.ssim(x, x))
    assert fl.ssim(x, x, reduction="sum") == 0.0
    assert fl.ssim(x, x, reduction="none").shape == (0,)


@pytest.mark.parametrize("name,side", [("ssim", 20), ("ms_ssim", 40)])
def test_image_losses_through_fastloss_torch(name, side):
    import fastloss.torch as flt

    x, y = _images(5, (2, 3, side, side), np.float64)
    tx = torch.tensor(x, requires_grad=True)
    v = getattr(flt, name)(tx, torch.tensor(y), win_size=3)
    v.backward()
    loss = fl.get(name)
    assert v.item() == loss(x, y, win_size=3)
    np.testing.assert_array_equal(tx.grad.numpy(), loss.grad(x, y, win_size=3))
