#!/usr/bin/env python3
"""GFLOP/s of orthogonality's products against torch's GEMM.

    PYTHONPATH=python python benchmarks/micro/ortho_gflops.py 256 1024 [THREADS]

Times fastloss's orthogonality (value, value+grad) on a float32 (r, c) W
and torch's ``W @ W.T`` and ``(W @ W.T - I) @ W`` in float32 and float64,
THREADS (default 2) each, best of 7. fastloss sums in float64 (W widened exactly)
without FMA, so torch's float64 GEMM is the like-for-like ceiling and its
float32 one the speed the benchmark row compares against. GFLOP/s count
the products each runs: torch the full Gram (2 m^2 K) and the gradient's
product (2 m^2 K more); fastloss the Gram's panels on and above the
diagonal (cpp/include/fastloss/regularization.hpp, reg::gram: panels of 16)
and the same gradient product.
"""

import os
import sys

import numpy as np
import torch

import fastloss as fl

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from measure import best  # noqa: E402  (benchmarks/measure.py)


def main(r, c, threads=2):
    torch.set_num_threads(threads)
    fl.set_num_threads(threads)
    m, k = min(r, c), max(r, c)
    W = (np.random.default_rng(0).standard_normal((r, c)) / np.sqrt(k)).astype(np.float32)
    full = 2.0 * m * m * k
    # the upper block triangle: panel q's rows up to its last column
    p = 16
    tri = sum(2.0 * min((q + 1) * p, m) * min(p, m - q * p) * k for q in range(-(-m // p)))
    print(f"W {r} x {c}: Gram {m} x {m}, K = {k}, {threads} thread(s)")
    for dt in (torch.float32, torch.float64):
        tw = torch.from_numpy(W).to(dt)
        if r > c:
            tw = tw.T.contiguous()
        eye = torch.eye(m, dtype=dt)
        t1 = best(lambda tw=tw: tw @ tw.T)
        t2 = best(lambda tw=tw, eye=eye: (tw @ tw.T - eye) @ tw)
        print(
            f"  torch {str(dt)[6:]}: Gram {t1 * 1e3:.3f} ms ({full / t1 / 1e9:.0f} GFLOP/s), "
            f"Gram + product {t2 * 1e3:.3f} ms ({2 * full / t2 / 1e9:.0f} GFLOP/s)"
        )
    tv = best(lambda: fl.orthogonality(W))
    tvg = best(lambda: fl.orthogonality.value_and_grad(W))
    print(
        f"  fastloss: value {tv * 1e3:.3f} ms ({tri / tv / 1e9:.0f} GFLOP/s over its "
        f"{tri / 1e6:.0f} MFLOP), value+grad {tvg * 1e3:.3f} ms "
        f"({(tri + full) / tvg / 1e9:.0f} GFLOP/s over {(tri + full) / 1e6:.0f} MFLOP)"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
