"""Test inputs of the pairwise losses (see tests/cases.py)."""

from __future__ import annotations

import numpy as np

from cases import case


def _rows(n):
    # N x N work per call: about n/4 rows, at most 256 (the thread test's
    # 60000 gives 4 row tiles of CLIP and 8 of NT-Xent's 2N views, enough
    # for several threads); D = 7 exercises the microkernel's tails
    return min(max(n // 4, 2), 256), 7


@case("ntxent")
def _ntxent(rng, dtype, n):
    N, D = _rows(n)
    z1 = rng.normal(size=(N, D)).astype(dtype)
    z2 = (z1 + 0.5 * rng.normal(size=(N, D))).astype(dtype)
    return z1, z2, {"temperature": 0.3}


@case("clip")
def _clip(rng, dtype, n):
    N, D = _rows(n)
    img = rng.normal(size=(N, D)).astype(dtype)
    txt = (img + rng.normal(size=(N, D))).astype(dtype)
    # a 1-element array: the property tests hold 0-d results to be Python
    # floats (values); a 0-d logit_scale's 0-d gradient is tested in
    # tests/test_pairwise.py
    return img, txt, {"logit_scale": np.asarray([3.5], dtype)}
