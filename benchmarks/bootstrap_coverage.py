"""Coverage of ``fastloss.Accumulator``'s bootstrap intervals by simulation.

    PYTHONPATH=python nice -n 19 python benchmarks/bootstrap_coverage.py
        [--datasets 400] [--rows 1310720] [--start 0] [--chunk 100000]
        [--bootstrap 1000] [--level 0.95] [--losses mse,binary_cross_entropy]
        [--seed 0] [--json FILE]

Each of ``--datasets`` data sets is ``--rows`` independent rows drawn from a
model whose loss is known exactly (the *model's* expected loss, not the
sample's):

* ``mse``: ``pred = e``, ``target = 0`` with ``e ~ N(0, 1)``: the expected
  loss is ``E[e**2] = 1``;
* ``binary_cross_entropy`` (log loss): ``p ~ Uniform(0.05, 0.95)``, the label
  ``y ~ Bernoulli(p)``: the expected loss is the mean binary entropy over
  ``p``, ``2 / 0.9 * [q**2 / 4 - q**2 / 2 * log q]`` from 0.05 to 0.95 =
  0.5431142972...

A data set is fed to one ``Accumulator(loss, bootstrap=B, seed=s)`` (``s``
the data set's number) in chunks of ``--chunk`` rows whose global rows start
at ``--start`` (``update(..., start=row)``), and the interval of level
``--level`` covers the true value or not. The bucket bootstrap's unit
depends on the global row (``fastloss/bootstrap.hpp``): below ``2**20`` a
row hashes to its bucket alone, from ``2**20`` on a run of 16 consecutive
rows shares one. So ``--start 0 --rows 1310720`` (the default) is a stream
of ``2**20 + 2**18`` rows as a user would feed it (a fifth of its rows in
runs), and ``--start 1048576`` puts every row of every data set in a run:
the regime of streams of 1e8 rows and more, where nearly all rows are. All
data sets share one bucket layout (the hash of the global rows), as two
real data sets of the same size and start do; the draws and the seed
differ.

Printed per loss: the coverage (count of data sets covered / data sets),
the Wilson 95% band of the coverage for that count (the band a true
coverage of 95% must fall in for the result to be consistent with it), the
misses below and above the truth, the normal-theory interval's coverage on
the same data sets (``mean +- z * sd / sqrt(n)``, ``sd`` of the loss's
``reduction="none"`` terms: a paired reference that tells a bootstrap
defect from the luck of the draws), the mean ratio of the bootstrap
interval's width to the normal-theory width, and the wall and CPU time.
Data sets are generated one at a time (memory: a few arrays of ``--rows``
floats) and fastloss runs on one thread.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
import time

import numpy as np

import fastloss as fl

# the expected log loss of y ~ Bernoulli(p), p ~ Uniform(A, B), A + B = 1:
# E[-p log p - (1 - p) log(1 - p)] = 2 / (B - A) * int_A^B -q log q dq
_A, _B = 0.05, 0.95


def _f(q):
    return q * q / 4 - q * q / 2 * math.log(q)


TRUTH = {"mse": 1.0, "binary_cross_entropy": 2 * (_f(_B) - _f(_A)) / (_B - _A)}


def _data(name, rng, n):
    if name == "mse":
        return rng.standard_normal(n), np.zeros(n)
    p = rng.uniform(_A, _B, size=n)
    return p, (rng.uniform(size=n) < p) * 1.0


def _z(level):
    # the normal quantile of (1 + level) / 2 by bisection on erf (no scipy)
    lo, hi, target = 0.0, 10.0, level
    for _ in range(100):
        mid = (lo + hi) / 2
        if math.erf(mid / math.sqrt(2)) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wilson(k, n, z=1.959964):
    """The Wilson score interval of a binomial proportion ``k / n``."""
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def simulate(name, datasets, rows, start, chunk, B, level, seed, progress=None):
    """Run the simulation for one loss; returns a dict of its figures."""
    loss = fl.get(name)
    truth = TRUTH[name]
    z = _z(level)
    hits = below = above = normal_hits = 0
    ratios = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for s in range(datasets):
        # one generator per data set: any data set can be rerun alone
        rng = np.random.default_rng([seed, s, 0 if name == "mse" else 1])
        pred, target = _data(name, rng, rows)
        acc = fl.Accumulator(name, bootstrap=B, seed=s)
        for a in range(0, rows, chunk):
            acc.update(pred[a : a + chunk], target[a : a + chunk], start=start + a)
        lo, hi = acc.interval(level)[name]
        hits += lo <= truth <= hi
        below += hi < truth
        above += lo > truth
        terms = loss(pred, target, reduction="none")
        mean, half = float(terms.mean()), z * float(terms.std()) / math.sqrt(rows)
        normal_hits += mean - half <= truth <= mean + half
        ratios.append((hi - lo) / (2 * half))
        if progress and (s + 1) % progress == 0:
            print(f"  {name}: {s + 1} data sets, {hits} covered", file=sys.stderr, flush=True)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    band = wilson(hits, datasets)
    return {
        "loss": name,
        "truth": truth,
        "datasets": datasets,
        "covered": hits,
        "coverage": hits / datasets,
        "wilson95": band,
        "misses_below": below,
        "misses_above": above,
        "normal_covered": normal_hits,
        "width_ratio_mean": float(np.mean(ratios)),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " See the module docstring.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--datasets", type=int, default=400, help="simulated data sets per loss")
    ap.add_argument("--rows", type=int, default=2**20 + 2**18, help="rows per data set")
    ap.add_argument(
        "--start",
        type=int,
        default=0,
        help="global row of each data set's first row (from 2**20 = 1048576 on, "
        "runs of 16 rows share a bootstrap bucket)",
    )
    ap.add_argument("--chunk", type=int, default=100_000, help="rows per update()")
    ap.add_argument("--bootstrap", type=int, default=1000, help="replicates B")
    ap.add_argument("--level", type=float, default=0.95, help="interval level")
    ap.add_argument(
        "--losses",
        default="mse,binary_cross_entropy",
        help="comma-separated: " + ", ".join(TRUTH),
    )
    ap.add_argument("--seed", type=int, default=0, help="the data's seed")
    ap.add_argument("--progress", type=int, default=50, help="report every N data sets (0: off)")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args(argv)
    names = [x.strip() for x in a.losses.split(",") if x.strip()]
    for x in names:
        if x not in TRUTH:
            ap.error(f"--losses: {x!r} has no known true value here (one of {', '.join(TRUTH)})")
    if a.datasets < 1 or a.rows < 1 or a.chunk < 1 or a.start < 0:
        ap.error("--datasets, --rows and --chunk must be >= 1 and --start >= 0")
    if not 0 < a.level < 1:
        ap.error("--level must be in (0, 1)")
    fl.set_num_threads(1)
    first_run = max(a.start, 2**20)
    in_runs = max(0, a.start + a.rows - first_run) / a.rows
    print(
        f"{a.datasets} data sets x {a.rows} rows from global row {a.start} "
        f"({100 * in_runs:.1f}% of rows in 16-row runs), B = {a.bootstrap}, "
        f"level {a.level}, chunks of {a.chunk}"
    )
    out = []
    for x in names:
        r = simulate(
            x, a.datasets, a.rows, a.start, a.chunk, a.bootstrap, a.level, a.seed, a.progress
        )
        out.append(r)
        lo, hi = r["wilson95"]
        print(
            f"{x}: covered {r['covered']}/{r['datasets']} = {100 * r['coverage']:.2f}% "
            f"(Wilson 95% band {100 * lo:.1f}-{100 * hi:.1f}%; misses below {r['misses_below']}, "
            f"above {r['misses_above']}); normal theory {r['normal_covered']}/{r['datasets']}; "
            f"width / normal width {r['width_ratio_mean']:.4f}; "
            f"wall {r['wall_s']:.0f} s, CPU {r['cpu_s']:.0f} s"
        )
    if a.json:
        meta = {
            "argv": sys.argv,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": platform.platform(),
            "fraction_in_runs": in_runs,
        }
        meta.update({k: getattr(a, k) for k in ("datasets", "rows", "start", "chunk")})
        meta.update({"bootstrap": a.bootstrap, "level": a.level, "seed": a.seed})
        with open(a.json, "w") as f:
            json.dump({"config": meta, "results": out}, f, indent=1)


if __name__ == "__main__":
    main()
