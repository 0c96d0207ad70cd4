#!/usr/bin/env python3
"""ntxent or clip against the torch formula, in one process: value and
value+grad (autograd), best of K calls each, and the ratios.

    PYTHONPATH=python python benchmarks/micro/pairwise_vs_torch.py ntxent 8192 256 1
    TH=1 PYTHONPATH=/other/build python benchmarks/micro/pairwise_vs_torch.py clip 2048 512 3

Run it alternately with two builds (PYTHONPATH) to compare them in the same
window on a shared machine: each line's ratio is against torch timed in
the same process. The torch formulas are benchmarks/specs.py's
(_torch_ntxent, _torch_clip). TH sets the threads of both (default 2).
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

import fastloss as fl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pairwise_gflops import best  # noqa: E402  (its best of k calls)

name, n, d, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
TH = int(os.environ.get("TH", "2"))
torch.set_num_threads(TH)
fl.set_num_threads(TH)
rng = np.random.default_rng(0)
a = rng.standard_normal((n, d), dtype=np.float32)
b = (a + 0.7 * rng.standard_normal((n, d), dtype=np.float32)).astype(np.float32)


def tnt(z1, z2, t=0.5):
    m = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = (z @ z.T) / t
    s = s.masked_fill(torch.eye(2 * m, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(s, torch.cat([torch.arange(m, 2 * m), torch.arange(m)]))


def tclip(x, y, ls=1 / 0.07):
    u, v = F.normalize(x, dim=1), F.normalize(y, dim=1)
    lab = torch.arange(x.shape[0])
    return (F.cross_entropy(ls * u @ v.T, lab) + F.cross_entropy(ls * v @ u.T, lab)) / 2


L = fl.get(name)
T = tnt if name == "ntxent" else tclip
L(a, b)
fv = best(lambda: L(a, b), k)
fvg = best(lambda: L.value_and_grad(a, b), k)
ta, tb = torch.from_numpy(a), torch.from_numpy(b)


def tvg():
    x = ta.clone().requires_grad_()
    y = tb.clone().requires_grad_()
    l = T(x, y)
    l.backward()
    return l.item()


with torch.no_grad():
    tv = best(lambda: T(ta, tb).item(), k)
ttvg = best(tvg, k)
print(
    f"{fl.__file__} {name} {n}x{d}: fl value {fv:.3f}s vg {fvg:.3f}s | "
    f"torch value {tv:.3f}s vg {ttvg:.3f}s | ratio value {tv / fv:.2f} vg {ttvg / fvg:.2f}",
    flush=True,
)
