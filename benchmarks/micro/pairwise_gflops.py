#!/usr/bin/env python3
"""GFLOP/s of the pairwise tile microkernel against torch's GEMM.

    PYTHONPATH=python python benchmarks/micro/pairwise_gflops.py 2048 256

Times fastloss's clip value (one sweep of N*N*D multiply-adds: the row and
column log-sum-exps from the same products) and value+grad (5 of them: the
forward, then per side the recomputed products and the gradient's), and
torch's ``a @ b.T`` on the same (N, D) float32 shapes, 2 threads each, best
of 3. The microkernel keeps products and sums apart (no FMA: the same bits
at every ISA level), so its ceiling is half a fused GEMM's.
"""

import sys
import time

import numpy as np
import torch

import fastloss as fl


def best(f, k=3):
    ts = []
    for _ in range(k):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main(n, d):
    torch.set_num_threads(2)
    fl.set_num_threads(2)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = rng.standard_normal((n, d), dtype=np.float32)
    fl.clip(a, b)
    t_v = best(lambda: fl.clip(a, b))
    t_vg = best(lambda: fl.clip.value_and_grad(a, b))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    t_mm = best(lambda: ta @ tb.T)
    mm = 2.0 * n * n * d
    print(
        f"N={n} D={d}: fastloss clip value {t_v:.3f}s ({mm / t_v / 1e9:.1f} GFLOP/s "
        f"over its 1 product), value+grad {t_vg:.3f}s ({5 * mm / t_vg / 1e9:.1f} GFLOP/s "
        f"over its 5); torch matmul {t_mm:.3f}s ({mm / t_mm / 1e9:.1f} GFLOP/s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
