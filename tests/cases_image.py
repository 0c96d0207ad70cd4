"""Test inputs of the image losses (see tests/cases.py): (N, C, H, W) images,
one sample per image."""

from __future__ import annotations

from cases import case


def _pair(rng, dtype, shape, scale=1.0, noise=0.2):
    x = rng.uniform(0.0, scale, size=shape)
    y = x + rng.normal(scale=noise * scale, size=shape)
    return x.astype(dtype), y.astype(dtype)


@case("ssim")
def _ssim(rng, dtype, n):
    # H != W and a window other than the default, so a swapped axis shows
    x, y = _pair(rng, dtype, (max(2, n // 128), 2, 11, 13), 2.0)
    return x, y, {"data_range": 2.0, "win_size": 7, "sigma": 1.2}


@case("ms_ssim")
def _ms_ssim(rng, dtype, n):
    # the smallest images ms_ssim takes with win_size 3: a side > 2 * 16;
    # odd sides exercise the pooling's padding
    # noise 0.4: every level's cs stays > 0.4, away from relu's kink, and
    # the loss (~0.37) is not so small that float32's 1 - MS-SSIM cancels;
    # two images at least (a reversed view along N must not be contiguous)
    x, y = _pair(rng, dtype, (2 + n // 1000, 1 if n < 10 else 2, 34, 37), noise=0.4)
    return x, y, {"win_size": 3, "sigma": 1.0}


@case("perceptual")
def _perceptual(rng, dtype, n):
    # three layers of a small network's feature maps, shrinking as a VGG's
    # do (the last a different rank); lists, not arrays: the registry-wide
    # tests skip this case (cases.LIST_INPUTS), tests/test_perceptual.py uses it
    shapes = [(max(1, n // 20), 4, 6, 5), (max(1, n // 20), 8, 3, 2), (max(1, n // 20), 7)]
    f = [rng.normal(size=s).astype(dtype) for s in shapes]
    g = [(x + rng.normal(scale=0.5, size=x.shape)).astype(dtype) for x in f]
    return f, g, {"layer_weights": [1.0, 0.5, 2.0]}
