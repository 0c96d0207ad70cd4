#!/usr/bin/env python3
"""GFLOP/s of the pairwise kernels' products against torch's GEMM.

    PYTHONPATH=python python benchmarks/micro/pairwise_gflops.py 2048 256

Times fastloss's clip and ntxent, value and value+grad, and torch's
``a @ b.T`` on the same (N, D) float32 shapes, 2 threads each, best of 3
after a warm-up call, and counts the products each runs (the shifted engine,
cpp/include/fastloss/pairwise_tiles.hpp, blocks of 128): clip's value one
N x N x D product (row and column sums from the same tile), its value+grad
three (the forward, then per tile the recomputed products and both
gradients' from one coefficient tile); ntxent's value the blocks on and
above the diagonal of its symmetric (2N)^2 matrix, its value+grad three
products per such block (two on the diagonal). The microkernel keeps
products and sums apart (no FMA: the same bits at every ISA level), so its
ceiling is half a fused GEMM's.
"""

import os
import sys

import numpy as np
import torch

import fastloss as fl

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from measure import best  # noqa: E402  (benchmarks/measure.py)


def ntxent_macs(n, d, kb=128):
    # the tiles the symmetric engine computes: pairs of blocks I < J and I = J
    m = 2 * n
    nb = -(-m // kb)
    sizes = [min(kb, m - i * kb) for i in range(nb)]
    fwd = sum(sizes[i] * sizes[j] for i in range(nb) for j in range(i, nb)) * d
    diag = sum(s * s for s in sizes) * d
    return fwd, 3 * fwd - diag  # value; value+grad adds 2 per tile, 1 on the diagonal


def main(n, d):
    torch.set_num_threads(2)
    fl.set_num_threads(2)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = rng.standard_normal((n, d), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    t_mm = best(lambda: ta @ tb.T, k=3)
    mm = 2.0 * n * n * d
    print(f"N={n} D={d}: torch matmul {t_mm:.3f}s ({mm / t_mm / 1e9:.1f} GFLOP/s)")
    fl.clip(a, b)
    t_v = best(lambda: fl.clip(a, b), k=3)
    t_vg = best(lambda: fl.clip.value_and_grad(a, b), k=3)
    print(
        f"  clip value {t_v:.3f}s ({mm / t_v / 1e9:.1f} GFLOP/s over its 1 product), "
        f"value+grad {t_vg:.3f}s ({3 * mm / t_vg / 1e9:.1f} GFLOP/s over its 3)"
    )
    fv, fvg = (2.0 * x for x in ntxent_macs(n, d))
    t_v = best(lambda: fl.ntxent(a, b), k=3)
    t_vg = best(lambda: fl.ntxent.value_and_grad(a, b), k=3)
    print(
        f"  ntxent value {t_v:.3f}s ({fv / t_v / 1e9:.1f} GFLOP/s over {fv / 1e9:.1f} GFLOP), "
        f"value+grad {t_vg:.3f}s ({fvg / t_vg / 1e9:.1f} GFLOP/s over {fvg / 1e9:.1f} GFLOP)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
