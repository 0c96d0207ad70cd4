"""The per-sample driver (cpp/include/fastloss/common/persample.hpp).

Through the box losses, which run on it: every output bit-identical for 1, 2
and 7 threads, and the scalar reductions exactly the library's blocked sum of
the per-box losses. On its own, through tests/native/persample_main.cpp: a
synthetic loss of very uneven per-sample cost with per-thread scratch and a
cost hint (the shape CTC and SSIM will have), same bits for 1, 2 and 7
threads, and a failure inside the parallel region rethrown after it naming
the lowest failing sample.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

import fastloss as fl
from cases_boxes import random_boxes

NAMES = ["box_iou_loss", "giou_loss", "diou_loss", "ciou_loss"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Several reduction blocks (4096) and many tasks (256 boxes), a ragged end.
N = 3 * 4096 + 1000 + 7


def _outputs(loss, p, t, w):
    out = {}
    for red in ("mean", "sum", "none"):
        out[f"value {red}"] = loss(p, t, reduction=red)
        out[f"weighted {red}"] = loss(p, t, reduction=red, sample_weight=w)
    out["grad"] = loss.grad(p, t)
    out["grad sum"] = loss.grad(p, t, reduction="sum")
    out["weighted grad"] = loss.grad(p, t, sample_weight=w)
    v, g = loss.value_and_grad(p, t)
    out["value_and_grad"] = (v, g)
    v, g = loss.value_and_grad(p, t, reduction="none", sample_weight=w)
    out["weighted value_and_grad none"] = (v, g)
    return out


def _bits(x):
    if isinstance(x, tuple):
        return tuple(_bits(v) for v in x)
    return np.asarray(x).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_box_outputs_same_bits_for_1_2_7_threads(name, dtype):
    rng = np.random.default_rng(19)
    p = random_boxes(rng, N).astype(dtype)
    t = random_boxes(rng, N).astype(dtype)
    w = rng.uniform(0.0, 2.0, N).astype(dtype)
    loss = fl.get(name)
    ref = None
    for threads in (1, 2, 7):
        fl.set_num_threads(threads)
        got = {k: _bits(v) for k, v in _outputs(loss, p, t, w).items()}
        if ref is None:
            ref = got
        for k in ref:
            assert got[k] == ref[k], f"{name} {k} differs on {threads} threads"


def _blocked_sum(terms):
    """reduce.hpp's tree in NumPy: per block of 4096 terms, term j to lane
    j % 16 in index order, lanes combined by the fixed tree; block totals
    pairwise in index order."""

    def tree8(a):
        return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))

    def pairwise(x):
        if len(x) == 0:
            return 0.0
        if len(x) == 1:
            return x[0]
        h = len(x) // 2
        return pairwise(x[:h]) + pairwise(x[h:])

    blocks = []
    for lo in range(0, len(terms), 4096):
        blk = terms[lo : lo + 4096]
        lanes = np.zeros(16)
        full = len(blk) // 16 * 16
        for row in blk[:full].reshape(-1, 16):  # sequential along each lane
            lanes += row
        lanes[: len(blk) - full] += blk[full:]
        blocks.append(tree8(lanes[:8]) + tree8(lanes[8:]))
    return pairwise([np.float64(b) for b in blocks])


@pytest.mark.parametrize("name", NAMES)
def test_box_reduction_is_blocked_sum_of_per_box_losses(name):
    rng = np.random.default_rng(7)
    p = random_boxes(rng, N)
    t = random_boxes(rng, N)
    w = rng.uniform(0.0, 2.0, N)
    loss = fl.get(name)
    fl.set_num_threads(2)
    for red in ("sum", "mean"):
        for sw in (None, w):
            # in float64 the "none" output w*l is the reduction's term itself
            terms = loss(p, t, reduction="none", sample_weight=sw)
            total = _blocked_sum(terms)
            want = total / (N if sw is None else _blocked_sum(sw)) if red == "mean" else total
            got = loss(p, t, reduction=red, sample_weight=sw)
            assert np.float64(got).tobytes() == np.float64(want).tobytes(), (red, sw is None)
    # float32: the terms are the float32 losses widened exactly
    p32, t32 = p.astype(np.float32), t.astype(np.float32)
    terms = loss(p32, t32, reduction="none").astype(np.float64)
    assert loss(p32, t32, reduction="sum") == _blocked_sum(terms)


# ---------------------------------------------------------------- native
@pytest.fixture(scope="module")
def driver_exe(tmp_path_factory):
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = str(tmp_path_factory.mktemp("persample") / "persample_main")
    src = os.path.join(ROOT, "tests", "native", "persample_main.cpp")
    buffers = os.path.join(ROOT, "cpp", "src", "buffers.cpp")  # the driver's terms
    inc = os.path.join(ROOT, "cpp", "include")
    cmd = [cxx, "-std=c++17", "-O2", "-fopenmp", "-ffp-contract=off", "-I", inc, src, buffers]
    cmd += ["-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build the native driver test with OpenMP: {r.stderr[-500:]}")
    return exe


def _run(exe, *args):
    r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=True)
    return r.stdout, r.stderr


def test_driver_uneven_samples_same_bits_for_1_2_7_threads(driver_exe):
    ref, _ = _run(driver_exe, 1)
    lines = dict(line.rsplit(" ", 1) for line in ref.splitlines() if line.count(" ") >= 1)
    # the scalar sum is exactly the blocked sum of the "none" output
    assert lines["sum"] == lines["blocked_sum(none)"]
    for threads in (2, 7):
        out, err = _run(driver_exe, threads)
        assert out == ref, f"{threads} threads"
        # the region really opened: more than one thread ran samples
        assert int(err.split()[-1]) > 1, err


def test_driver_failure_rethrown_after_region_names_lowest_sample(driver_exe):
    for threads in (1, 2, 7):
        out, _ = _run(driver_exe, threads, 4000, 17, 3000)
        assert out.strip() == "error: bad sample 17", (threads, out)
