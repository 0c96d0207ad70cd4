"""ssim and ms_ssim against pytorch_msssim (values, autograd gradients) and
scikit-image's structural_similarity (values), on several sizes, windows
and both float dtypes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fastloss as fl

torch = pytest.importorskip("torch")


def _images(rng, shape, dtype):
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


def _win(win_size, sigma, channels, dtype):
    """pytorch_msssim's window, built in the images' dtype: its own is float32
    even for float64 images (~1e-8 off), so float64 comparisons pass it."""
    if dtype == np.float32:
        return None
    x = np.arange(win_size) - win_size // 2
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g = torch.tensor(g / g.sum()).reshape(1, 1, 1, win_size)
    return g.repeat(channels, 1, 1, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,win_size,sigma",
    [((2, 3, 32, 32), 11, 1.5), ((3, 1, 20, 27), 7, 1.5), ((1, 2, 64, 41), 7, 1.0)],
)
def test_ssim_equals_pytorch_msssim_value_and_gradient(shape, win_size, sigma, dtype):
    pm = pytest.importorskip("pytorch_msssim")
    rng = np.random.default_rng(0)
    x, y = _images(rng, shape, dtype)
    v, g = fl.ssim.value_and_grad(x, y, win_size=win_size, sigma=sigma, data_range=1.0)
    per = fl.ssim(x, y, win_size=win_size, sigma=sigma, reduction="none")
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y)
    win = _win(win_size, sigma, shape[1], dtype)
    kw = dict(data_range=1.0, win_size=win_size, win_sigma=sigma, win=win)
    tv = pm.ssim(tx, ty, size_average=True, **kw)
    (1 - tv).backward()
    tper = pm.ssim(tx, ty, size_average=False, **kw)
    _assert_matches(v, per, g, tv, tper, tx.grad, dtype, grad_slack=1)
    assert per.shape == (shape[0],) and g.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,win_size,sigma",
    # skimage's filter has 2 * int(3.5 sigma + 0.5) + 1 taps whatever
    # win_size is: these pairs are the ones where the windows agree
    [((2, 3, 32, 30), 11, 1.5), ((2, 1, 19, 23), 7, 0.9)],
)
def test_ssim_equals_skimage(shape, win_size, sigma, dtype):
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    x, y = _images(rng, shape, dtype)
    per = fl.ssim(x, y, win_size=win_size, sigma=sigma, data_range=1.0, reduction="none")
    sk = [
        metrics.structural_similarity(
            x[n],
            y[n],
            win_size=win_size,
            gaussian_weights=True,
            sigma=sigma,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=0,
        )
        for n in range(shape[0])
    ]
    rtol, atol = _tol(dtype)
    np.testing.assert_allclose(per, 1 - np.array(sk), rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
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
    rng = np.random.default_rng(6)
    x, y = _images(rng, shape, dtype)
    x, y = x * data_range, y * data_range
    kw = dict(win_size=win_size, data_range=data_range)
    v, g = fl.ssim.value_and_grad(x, y, **kw)
    per = fl.ssim(x, y, reduction="none", **kw)
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
    metrics = pytest.importorskip("skimage.metrics")
    x, y = _images(np.random.default_rng(2), (1, 1, 24, 24), np.float64)
    ours = 1 - fl.ssim(x, y, win_size=7, sigma=1.5)
    sk = metrics.structural_similarity(
        x[0],
        y[0],
        win_size=7,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=0,
    )
    assert abs(ours - sk) > 1e-5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,win_size", [((2, 3, 176, 161), 11), ((1, 2, 100, 111), 7)])
def test_ms_ssim_equals_pytorch_msssim_value_and_gradient(shape, win_size, dtype):
    pm = pytest.importorskip("pytorch_msssim")
    rng = np.random.default_rng(3)
    x, y = _images(rng, shape, dtype)
    v, g = fl.ms_ssim.value_and_grad(x, y, win_size=win_size)
    per = fl.ms_ssim(x, y, win_size=win_size, reduction="none")
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

    rng = np.random.default_rng(5)
    x, y = _images(rng, (2, 3, side, side), np.float64)
    tx = torch.tensor(x, requires_grad=True)
    v = getattr(flt, name)(tx, torch.tensor(y), win_size=3)
    v.backward()
    loss = fl.get(name)
    assert v.item() == loss(x, y, win_size=3)
    np.testing.assert_array_equal(tx.grad.numpy(), loss.grad(x, y, win_size=3))
