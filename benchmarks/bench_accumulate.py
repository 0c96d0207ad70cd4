"""The bootstrap's cost: ``fastloss.Accumulator`` in memory, plain against
``bootstrap=B`` (default 1000) on the same chunks.

    PYTHONPATH=python nice -n 10 python benchmarks/bench_accumulate.py
        [--rows 10000000] [--chunk 65536] [--repeat 5] [--threads 1]
        [--bootstrap 1000] [--grouped] [--peers] [--only LABEL] [--json FILE] [--eval]

Data: ``p`` uniform in [0.01, 0.99], ``t`` a 0/1 label drawn with
probability ``p``, ``w`` uniform in [0.5, 1.5], ``g`` a code in 0..9 (seed
0), in float64 and as float32 copies. Configurations: the losses ``mse``,
``binary_cross_entropy`` (log loss) and both in one accumulator, each in
float64 and float32, unweighted and weighted by ``w`` (``--grouped``: also
both losses weighted and grouped by ``g``). One run feeds all rows in chunks
of ``--chunk`` rows (``update``), then reads ``result()`` and, with the
bootstrap, ``interval()``: the whole cost, no file reading. Runs are
interleaved (each round runs every configuration plain and with the
bootstrap, the order alternating from round to round, so a change of the
machine's load falls on both) and the table gives medians over ``--repeat``
rounds and the ratio bootstrap / plain, of the wall clock and of the
process's CPU time (``time.process_time``: with one thread, the work
itself; on a loaded machine the wall clock also holds the time other
processes ran). The plain and bootstrap results are
checked to be the same floats before anything is printed (the bootstrap
must not change ``result()``).

``--peers``: then pandas / NumPy on the same in-memory float64 arrays for
mse and log loss, plain (``np.average``), weighted (``np.average`` with
``weights=w``: ``sum(w * loss) / sum(w)``) and grouped (pandas ``groupby``
of the weighted terms per group), against the Accumulator plain and with the
bootstrap, interleaved rounds, values checked to agree (relative 1e-9).

``--eval``: instead, ``fastloss eval`` end to end on ``bench_eval.py``'s
Parquet file of ``--rows`` rows (written once to
``/tmp/fastloss_eval_ROWS.parquet``; mse and log loss), plain against
``--bootstrap 1000``, interleaved, medians of ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def make_data(rows: int):
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, rows)
    t = (rng.uniform(size=rows) < p) * 1.0
    w = rng.uniform(0.5, 1.5, rows)
    g = rng.integers(0, 10, rows).astype(np.int32)
    f32 = tuple(a.astype(np.float32) for a in (p, t, w))
    return {"float64": (p, t, w), "float32": f32}, g


def configs(grouped: bool):
    out = []
    for losses in (["mse"], ["binary_cross_entropy"], ["mse", "binary_cross_entropy"]):
        for dtype in ("float64", "float32"):
            for weighted in (False, True):
                out.append((tuple(losses), dtype, weighted, False))
    if grouped:
        for dtype in ("float64", "float32"):
            out.append((("mse", "binary_cross_entropy"), dtype, True, True))
    return out


def label(cfg) -> str:
    losses, dtype, weighted, grouped = cfg
    name = "+".join("log_loss" if x == "binary_cross_entropy" else x for x in losses)
    extra = ", grouped" if grouped else (", weighted" if weighted else "")
    return f"{name} {dtype}{extra}"


def run(fl, cfg, data, g, chunk, bootstrap):
    losses, dtype, weighted, grouped = cfg
    p, t, w = data[dtype]
    kw = {"bootstrap": bootstrap} if bootstrap else {}
    acc = fl.Accumulator(list(losses), **kw)
    n = p.shape[0]
    for a in range(0, n, chunk):
        b = a + chunk
        acc.update(p[a:b], t[a:b], w[a:b] if weighted else None, g[a:b] if grouped else None)
    res = acc.result()
    if bootstrap:
        acc.interval()
    return res


EPS = 1e-15


def pandas_job(df, weighted: bool, grouped: bool):
    """mse and log loss of the in-memory DataFrame ``df`` (columns p, t, w,
    g) as a pandas / NumPy user computes them: weighted, ``sum(w * loss) /
    sum(w)`` (NumPy's ``np.average``); grouped, pandas' ``groupby`` of the
    weighted terms. The DataFrame is built before the clock starts (the
    accumulator is fed the same arrays)."""
    import numpy as np

    p, t = df["p"].to_numpy(), df["t"].to_numpy()
    pc = np.clip(p, EPS, 1 - EPS)
    se = (p - t) ** 2
    ll = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
    if grouped:
        import pandas as pd

        w = df["w"].to_numpy()
        s = pd.DataFrame({"g": df["g"], "w": w, "wse": w * se, "wll": w * ll}).groupby("g").sum()
        return {
            int(g): {
                "mse": float(r["wse"] / r["w"]),
                "binary_cross_entropy": float(r["wll"] / r["w"]),
            }
            for g, r in s.iterrows()
        }
    w = df["w"].to_numpy() if weighted else None
    return {
        "mse": float(np.average(se, weights=w)),
        "binary_cross_entropy": float(np.average(ll, weights=w)),
    }


def peers(fl, data, g, chunk, repeat, bootstrap):
    """pandas / NumPy against the Accumulator on the float64 mse + log loss
    configurations (plain, weighted, grouped), interleaved rounds."""
    import pandas as pd

    p, t, w = data["float64"]
    df = pd.DataFrame({"p": p, "t": t, "w": w, "g": g})
    cfgs = [
        (("mse", "binary_cross_entropy"), "float64", False, False),
        (("mse", "binary_cross_entropy"), "float64", True, False),
        (("mse", "binary_cross_entropy"), "float64", True, True),
    ]
    ts = {(c, m): [] for c in cfgs for m in ("fastloss", "bootstrap", "pandas")}
    for r in range(repeat):
        for c in cfgs:
            modes = ("fastloss", "bootstrap", "pandas")
            for m in modes if r % 2 == 0 else modes[::-1]:
                t0 = time.perf_counter()
                if m == "pandas":
                    out = pandas_job(df, c[2], c[3])
                else:
                    out = run(fl, c, data, g, chunk, bootstrap if m == "bootstrap" else 0)
                ts[(c, m)].append(time.perf_counter() - t0)
                if m == "fastloss":
                    want = out
            got = pandas_job(df, c[2], c[3])
            flat = (
                (lambda d: d)
                if not c[3]
                else (lambda d: {(k, n): v for k, x in d.items() for n, v in x.items()})
            )
            a, b = flat(got), flat(want)
            assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-9 * abs(b[k]) for k in b), (
                label(c),
                a,
                b,
            )
    print()
    print(f"pandas / NumPy in memory (the same arrays; medians of {repeat} interleaved rounds)")
    print(
        f"{'configuration':40s} {'fastloss (s)':>12s} {'bootstrap (s)':>14s} {'pandas (s)':>11s}"
        f" {'pandas / fastloss':>18s} {'pandas / bootstrap':>19s}"
    )
    for c in cfgs:
        f, b, pd_ = (statistics.median(ts[(c, m)]) for m in ("fastloss", "bootstrap", "pandas"))
        print(f"{label(c):40s} {f:12.3f} {b:14.3f} {pd_:11.3f} {pd_ / f:18.2f} {pd_ / b:19.2f}")


def eval_file(fl, rows: int, repeat: int):
    from pathlib import Path

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_eval

    path = Path(f"/tmp/fastloss_eval_{rows}.parquet")
    bench_eval.make_file(path, rows)
    bench_eval.fastloss_eval(path, "plain")  # the page cache warmed
    ts = {"plain": [], "bootstrap": []}
    for r in range(repeat):
        for job in ("plain", "bootstrap") if r % 2 == 0 else ("bootstrap", "plain"):
            t0 = time.perf_counter()
            bench_eval.fastloss_eval(path, job)
            ts[job].append(time.perf_counter() - t0)
    a, b = statistics.median(ts["plain"]), statistics.median(ts["bootstrap"])
    print(
        f"fastloss eval, {rows:.3g} rows of Parquet, mse and log loss: plain {a:.3f} s, "
        f"--bootstrap 1000 {b:.3f} s, ratio {b / a:.2f} (medians of {repeat}; "
        f"plain {[round(x, 3) for x in ts['plain']]}, "
        f"bootstrap {[round(x, 3) for x in ts['bootstrap']]}); load {os.getloadavg()[0]:.2f}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--chunk", type=int, default=65536)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--grouped", action="store_true")
    ap.add_argument("--json", default=None, help="also write the timings here")
    ap.add_argument("--eval", action="store_true", help="time fastloss eval on a file instead")
    ap.add_argument(
        "--peers", action="store_true", help="also pandas / NumPy: plain, weighted, grouped"
    )
    ap.add_argument(
        "--only",
        action="append",
        default=None,
        help="run only the configurations whose label is this (repeatable), e.g. 'mse float64'",
    )
    args = ap.parse_args(argv)
    import fastloss as fl

    if args.eval:
        return eval_file(fl, int(args.rows), args.repeat)

    fl.set_num_threads(args.threads)
    rows = int(args.rows)
    data, g = make_data(rows)
    cfgs = configs(args.grouped)
    if args.only:
        cfgs = [c for c in cfgs if label(c) in args.only]
        if not cfgs:
            sys.exit(f"--only: no configuration is labelled {args.only}")
    times = {(c, m): [] for c in cfgs for m in ("plain", "bootstrap")}
    cpu = {(c, m): [] for c in cfgs for m in ("plain", "bootstrap")}
    load0 = os.getloadavg()
    for r in range(args.repeat):
        for c in cfgs:
            modes = ("plain", "bootstrap") if r % 2 == 0 else ("bootstrap", "plain")
            res = {}
            for m in modes:
                t0, c0 = time.perf_counter(), time.process_time()
                res[m] = run(fl, c, data, g, args.chunk, args.bootstrap if m == "bootstrap" else 0)
                times[(c, m)].append(time.perf_counter() - t0)
                cpu[(c, m)].append(time.process_time() - c0)
            if res["plain"] != res["bootstrap"]:
                sys.exit(f"{label(c)}: the bootstrap changed result(): {res}")
    load1 = os.getloadavg()
    isa = fl._core.isa() if hasattr(fl._core, "isa") else "?"
    print(
        f"Accumulator in memory: {rows:.3g} rows in chunks of {args.chunk}, "
        f"{args.threads} thread(s), bootstrap={args.bootstrap}, ISA {isa}, "
        f"medians of {args.repeat} interleaved rounds"
    )
    print(
        f"{'configuration':40s} {'plain (s)':>10s} {'bootstrap (s)':>14s} {'ratio':>6s}"
        f" {'CPU ratio':>10s}"
    )
    out = []
    for c in cfgs:
        a = statistics.median(times[(c, "plain")])
        b = statistics.median(times[(c, "bootstrap")])
        # process CPU time (one thread: the work itself), less sensitive to
        # the other processes of a loaded machine than the wall clock
        ca = statistics.median(cpu[(c, "plain")])
        cb = statistics.median(cpu[(c, "bootstrap")])
        print(f"{label(c):40s} {a:10.3f} {b:14.3f} {b / a:6.2f} {cb / ca:10.2f}")
        out.append(
            {
                "configuration": label(c),
                "plain_s": times[(c, "plain")],
                "bootstrap_s": times[(c, "bootstrap")],
                "plain_cpu_s": cpu[(c, "plain")],
                "bootstrap_cpu_s": cpu[(c, "bootstrap")],
                "ratio": b / a,
                "cpu_ratio": cb / ca,
            }
        )
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    if args.peers:
        peers(fl, data, g, args.chunk, args.repeat, args.bootstrap)
        print(f"load average after the peers {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "chunk": args.chunk, "results": out}, f, indent=1)


if __name__ == "__main__":
    main()
