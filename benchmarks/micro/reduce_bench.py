"""Cost of fastloss's reductions themselves: unweighted, weighted mean and
weighted sum, in cache and from memory, for the fastloss on the path.

    PYTHONPATH=python python3 benchmarks/micro/reduce_bench.py [--rounds 150]

Each cell is the best (fastest) of ``--rounds`` batches, in microseconds: a
batch is enough calls for ~2e6 elements, so one disturbed batch does not
move the figure. Two kinds of rows:

* one thread, 1e5 float32 (L2-resident): what the kernel's loop costs --
  the per-element function, the float64 widening and the blocked sum;
* two threads, 1e7 float32 (from memory): what reading the inputs costs.

"wmean - wsum" is what a weighted mean costs over a weighted sum, the weight
sum in its denominator: since the value pass takes that sum on the way, it
is the extra additions, not a second read of the weights. To compare two
builds, run this script with each on PYTHONPATH in alternating processes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

CASES = ("mse", "huber", "mse_wmean", "mse_wsum", "mse_vg_out", "huber_vg_out")


def measure(n: int, rounds: int) -> dict[str, float]:
    import fastloss as fl

    rng = np.random.default_rng(0)
    p = rng.standard_normal(n).astype(np.float32)
    t = rng.standard_normal(n).astype(np.float32)
    w = rng.random(n, dtype=np.float32)
    g = np.empty_like(p)
    calls = {
        "mse": lambda: fl.mse(p, t),
        "huber": lambda: fl.huber(p, t),
        "mse_wmean": lambda: fl.mse(p, t, sample_weight=w),
        "mse_wsum": lambda: fl.mse(p, t, sample_weight=w, reduction="sum"),
        "mse_vg_out": lambda: fl.mse.value_and_grad(p, t, out=g),
        "huber_vg_out": lambda: fl.huber.value_and_grad(p, t, out=g),
    }
    k = max(1, int(2e6 // n))
    out = {}
    for name in CASES:
        f = calls[name]
        for _ in range(min(50, k * 5)):
            f()
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(k):
                f()
            best = min(best, (time.perf_counter() - t0) / k)
        out[name] = best * 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=150)
    ap.add_argument("--child", nargs=2, metavar=("N", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # one configuration, in a process whose thread count is set
        n, threads = int(float(args.child[0])), int(args.child[1])
        import fastloss as fl

        fl.set_num_threads(threads)
        r = measure(n, args.rounds)
        print(" ".join(f"{k}={v:.2f}" for k, v in r.items()))
        return
    import fastloss as fl

    level = os.environ.get("FASTLOSS_ISA", "auto")
    print(f"fastloss from {os.path.dirname(fl.__file__)}, FASTLOSS_ISA={level}")
    for n, threads in ((100_000, 1), (10_000_000, 2)):
        res = subprocess.run(
            [
                sys.executable,
                __file__,
                "--rounds",
                str(args.rounds),
                "--child",
                str(n),
                str(threads),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        r = {k: float(v) for k, v in (x.split("=") for x in res)}
        cells = "  ".join(f"{k} {r[k]:.1f}" for k in CASES)
        print(
            f"n={n:.0e} threads={threads} (us): {cells}  "
            f"wmean-wsum {r['mse_wmean'] - r['mse_wsum']:.1f}"
        )


if __name__ == "__main__":
    main()
