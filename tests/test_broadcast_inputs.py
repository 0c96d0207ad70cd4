"""Broadcast (zero-stride) predictions and targets: read as patterns, as
weights are, never materialized -- the same bits as the materialized arrays,
and reductions over more than 2**31 elements with exact results."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastloss as fl

BIG = 2**31 + 7  # = 5 * 429496731: a row of 5 tiles it


@pytest.mark.parametrize("loss", [fl.mse, fl.huber, fl.binary_cross_entropy_with_logits, fl.rmse])
@pytest.mark.parametrize("which", ["pred", "target", "both"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_broadcast_views_give_the_materialized_bits(rng, loss, which, dtype):
    shape = (3000, 7)
    full_p = rng.normal(size=shape).astype(dtype)
    full_t = (rng.uniform(size=shape) > 0.5).astype(dtype)
    views = {
        "pred": (np.broadcast_to(full_p[:1], shape), full_t),  # a row, repeated
        "target": (full_p, np.broadcast_to(full_t[:, :1], shape)),  # a value per row
        "both": (np.broadcast_to(dtype(0.3), shape), np.broadcast_to(full_t[0], shape)),
    }
    p, t = views[which]
    pc, tc = np.ascontiguousarray(p), np.ascontiguousarray(t)
    w = rng.uniform(0.5, 2.0, size=shape[0])[:, None]
    for red in ("mean", "sum", "none"):
        got, want = loss(p, t, reduction=red), loss(pc, tc, reduction=red)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            loss(p, t, reduction=red, sample_weight=w), loss(pc, tc, reduction=red, sample_weight=w)
        )
    v, g = loss.value_and_grad(p, t)
    v2, g2 = loss.value_and_grad(pc, tc)
    assert v == v2
    np.testing.assert_array_equal(g, g2)
    if loss.has_hess:
        for a, b in zip(loss.grad_hess(p, t), loss.grad_hess(pc, tc)):
            np.testing.assert_array_equal(a, b)


def test_converted_broadcast_views_stay_views():
    # an integer view and a float32 view: converted on their values only
    n = 10**6
    p = np.broadcast_to(np.int64(3), (n,))
    t = np.broadcast_to(np.float32(1.0), (n,))
    assert fl.mse(p, t) == 4.0
    assert fl.mae(p, t, reduction="sum") == 2.0 * n


@pytest.mark.parametrize(
    "make, want",
    [
        # mse of constants c1, c2: (c1 - c2)**2, exactly (every partial sum
        # is a multiple of 0.25 far below 2**53)
        (lambda: (np.broadcast_to(0.75, (BIG,)), np.broadcast_to(0.25, (BIG,))), 0.25),
        # a row of 5 against a scalar: mean of (0.5 i - 0.5)**2, i < 5 = 0.75
        (
            lambda: (
                np.broadcast_to(0.5 * np.arange(5.0), (BIG // 5, 5)),
                np.broadcast_to(np.float64(0.5), (BIG // 5, 5)),
            ),
            0.75,
        ),
        # the same with the row as the target, in float32
        (
            lambda: (
                np.broadcast_to(np.float32(0.5), (BIG // 5, 5)),
                np.broadcast_to(0.5 * np.arange(5, dtype=np.float32), (BIG // 5, 5)),
            ),
            0.75,
        ),
    ],
    ids=["scalars", "row-pred", "row-target-f32"],
)
def test_more_than_2_31_elements(make, want):
    # 64-bit indexing end to end; nothing of the inputs' size is allocated
    # (the views hold a few values). Value only: a gradient would be 8+ GB.
    p, t = make()
    assert p.size == BIG and p.strides.count(0) >= 1
    tracemalloc.start()  # NumPy reports its array memory to tracemalloc
    try:
        assert fl.mse(p, t) == want
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # the kernel's block partials (4 MiB); a copy: 8 GiB+


def test_more_than_2_31_elements_with_a_broadcast_weight_view():
    # a weight passed as a full-shape zero-stride view (np.broadcast_to of a
    # scalar, or of a row) is read as its pattern, as a scalar weight is:
    # before, it was copied to the full shape (16 GB at 2**31 + 7)
    p = np.broadcast_to(0.75, (BIG // 5, 5))
    t = np.broadcast_to(0.25, (BIG // 5, 5))
    for w, want in (
        (np.broadcast_to(2.0, (BIG // 5, 5)), 0.25),
        # weights 1..5 along the row: mean of squared 0.5 weighted = 0.25
        (np.broadcast_to(np.arange(1.0, 6.0), (BIG // 5, 5)), 0.25),
    ):
        tracemalloc.start()
        try:
            assert fl.mse(p, t, sample_weight=w) == want
            assert fl.mse(p, t, sample_weight=w, reduction="sum") == want * np.sum(w[0]) * (
                BIG // 5
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 << 20
