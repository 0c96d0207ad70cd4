"""``fastloss eval`` on a Parquet file against DuckDB, polars and pandas +
scikit-learn, and the same evaluation on Dask with 2 workers.

    PYTHONPATH=python python benchmarks/bench_eval.py [--rows 10000000] [--repeat 3]
        [--file /tmp/fastloss_eval.parquet] [--report BENCHMARKS.md]

The file has columns ``p`` (a predicted probability), ``t`` (a 0/1 label),
``w`` (a weight) and ``g`` (a group code, 0-9), in row groups of 1M rows;
it is written once and reused while its row count matches. Two jobs, each
computing two numbers per engine:

* plain: the mean squared error ``avg((p - t)^2)`` and the log loss
  (``binary_cross_entropy``; peers clip ``p`` to [1e-15, 1 - 1e-15], which
  these probabilities never reach, so every engine gets the same values);
* weighted by group: both, weighted by ``w``, one pair per value of ``g``.

Every engine reads the file itself (nothing is cached between runs but the
OS page cache, warmed by one untimed read first): ``fastloss eval`` through
its command-line entry point (in this process, output discarded; kernels on
all cores), DuckDB SQL over ``read_parquet``, polars ``scan_parquet``, pandas
``read_parquet`` + ``sklearn.metrics`` (plain only), ``fastloss eval
--workers 2`` (a new LocalCluster each run, as a user would type it) and
``--scheduler`` to a LocalCluster of 2 workers x 1 thread started once
(the same work without the start-up). Times are medians of ``--repeat``
runs; values are checked to agree (relative 1e-9) before anything is
reported. The issue asks for 1e8 rows; the default is 1e7 for a shared
2-core machine. ``--report`` replaces (or appends) the section
"Evaluation (fastloss eval)" of that Markdown file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HEADING = "## Evaluation (fastloss eval)"
EPS = 1e-15


def make_file(path: Path, rows: int, seed: int = 7) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    rng = np.random.default_rng(seed)
    schema = pa.schema(
        [("p", pa.float64()), ("t", pa.float64()), ("w", pa.float64()), ("g", pa.int32())]
    )
    step = 1 << 20
    with pq.ParquetWriter(path, schema) as wr:
        for off in range(0, rows, step):
            n = min(step, rows - off)
            logit = rng.normal(size=n) * 1.5
            t = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
            p = np.clip(1 / (1 + np.exp(-1.2 * logit)), 1e-6, 1 - 1e-6)
            wr.write_table(
                pa.table(
                    {
                        "p": p,
                        "t": t,
                        "w": rng.uniform(0.5, 1.5, size=n),
                        "g": rng.integers(0, 10, size=n, dtype=np.int32),
                    },
                    schema=schema,
                ),
                row_group_size=step,
            )


# -- the engines: each returns {"mse": x, "log_loss": y} (plain) or
#    {group: {...}} (weighted by group) ------------------------------------------


def fastloss_eval(path, grouped, extra=()):
    from fastloss.cli import main

    argv = [
        "eval",
        str(path),
        "--pred",
        "p",
        "--target",
        "t",
        "--loss",
        "mse",
        "--loss",
        "binary_cross_entropy",
        "--format",
        "json",
        *extra,
    ]
    if grouped:
        argv += ["--weight", "w", "--group-by", "g"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    if rc != 0:
        raise RuntimeError(f"fastloss eval failed: {argv}")
    res = json.loads(buf.getvalue())["results"]

    def one(r):
        return {"mse": r["mse"], "log_loss": r["binary_cross_entropy"]}

    return {int(g): one(r) for g, r in res.items()} if grouped else one(res)


def duckdb_sql(path, grouped):
    import duckdb

    ll = f"-(t * ln(greatest(p, {EPS})) + (1 - t) * ln(greatest(1 - p, {EPS})))"
    con = duckdb.connect()
    if grouped:
        rows = con.execute(
            f"SELECT g, sum(w * (p - t) * (p - t)) / sum(w), sum(w * {ll}) / sum(w) "
            f"FROM read_parquet('{path}') GROUP BY g"
        ).fetchall()
        return {int(g): {"mse": a, "log_loss": b} for g, a, b in rows}
    a, b = con.execute(
        f"SELECT avg((p - t) * (p - t)), avg({ll}) FROM read_parquet('{path}')"
    ).fetchone()
    return {"mse": a, "log_loss": b}


def polars_lazy(path, grouped):
    import polars as pl

    p, t, w = pl.col("p"), pl.col("t"), pl.col("w")
    pc = p.clip(EPS, 1 - EPS)
    ll = -(t * pc.log() + (1 - t) * (1 - pc).log())
    se = (p - t) ** 2
    lf = pl.scan_parquet(path)
    if grouped:
        df = (
            lf.group_by("g")
            .agg(mse=(w * se).sum() / w.sum(), log_loss=(w * ll).sum() / w.sum())
            .collect()
        )
        return {
            int(r["g"]): {"mse": r["mse"], "log_loss": r["log_loss"]}
            for r in df.iter_rows(named=True)
        }
    df = lf.select(mse=se.mean(), log_loss=ll.mean()).collect()
    return {"mse": df["mse"][0], "log_loss": df["log_loss"][0]}


def pandas_sklearn(path, grouped):
    import pandas as pd
    from sklearn.metrics import log_loss, mean_squared_error

    if grouped:
        return None
    df = pd.read_parquet(path, columns=["p", "t"])
    return {
        "mse": float(mean_squared_error(df["t"], df["p"])),
        "log_loss": float(log_loss(df["t"], df["p"], labels=[0.0, 1.0])),
    }


def check(name, got, want):
    def flat(r):
        return (
            {(g, k): v for g, d in r.items() for k, v in d.items()}
            if isinstance(next(iter(r.values())), dict)
            else r
        )

    g, w = flat(got), flat(want)
    assert g.keys() == w.keys(), (name, sorted(g), sorted(w))
    for k in w:
        if not abs(g[k] - w[k]) <= 1e-9 * abs(w[k]):
            raise AssertionError(f"{name}: {k} = {g[k]!r}, fastloss says {w[k]!r}")


def timed(fn, repeat):
    ts, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts, out


# -- the report ------------------------------------------------------------------


def machine():
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return model, os.cpu_count(), usable


def versions():
    import importlib.metadata as md

    out = [f"python {platform.python_version()}"]
    for name in (
        "fastloss",
        "numpy",
        "pyarrow",
        "duckdb",
        "polars",
        "pandas",
        "scikit-learn",
        "dask",
        "distributed",
    ):
        try:
            mod = __import__(name) if name != "scikit-learn" else __import__("sklearn")
            v = getattr(mod, "__version__", None) or md.version(name)
        except Exception:  # not installed, or no version to show
            v = "not installed"
        out.append(f"{name} {v}")
    return ", ".join(out)


def section(args, results, load, fsize, fl_threads):
    model, cpus, usable = machine()
    base = {job: results["fastloss eval"][job] for job in ("plain", "grouped")}
    lines = [
        HEADING,
        "",
        f"`PYTHONPATH=python python benchmarks/bench_eval.py --rows {args.rows} "
        f"--repeat {args.repeat}`: {args.rows:,} rows ({fsize / 2**20:.0f} MiB of Parquet, "
        "row groups of 1,048,576 rows; columns p, t, w, g). Median seconds of "
        f"{args.repeat} runs, each reading the file (page cache warm); the ratio is the "
        "engine's time over `fastloss eval`'s (above 1: fastloss is faster). "
        "plain: mse and log loss; weighted by group: both weighted by w, per value of g "
        "(10 groups). Every engine's numbers agree with fastloss's to 1e-9 (checked).",
        "",
        f"The issue asks for 1e8 rows; this run used {args.rows:,} on a shared machine: "
        f"load average {load[0]:.1f} before and {load[1]:.1f} after the run on "
        f"{usable} usable CPUs (other agents' builds and tests), so the times are noisy "
        "and every engine is slowed; ratios from the same run are the figures to read.",
        "",
        "| engine | plain (s) | ratio | weighted by group (s) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        cells = [name]
        for job in ("plain", "grouped"):
            t = r.get(job)
            cells += ["—", "—"] if t is None else [f"{t:.3f}", f"{t / base[job]:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "fastloss eval ran with its defaults: kernels on 1 thread (the reading takes "
        "nearly all the time; see `--threads` in the README), pyarrow decoding with its "
        f"own threads ({fl_threads} cores seen); `--workers 2` starts a "
        "LocalCluster of 2 processes x 1 thread on each run (what a user typing it "
        "waits for); `--scheduler` sends the same tasks to such a cluster started "
        "once. DuckDB and polars use their own thread pools (all cores); pandas reads "
        "with pyarrow's, scikit-learn's metrics run in NumPy.",
        "",
        f"- CPU: {model} ({cpus} logical CPUs, {usable} usable); {platform.platform()}",
        f"- Versions: {versions()}",
        "",
    ]
    return "\n".join(lines)


def write_report(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else ""
    if HEADING in old:
        head, _, rest = old.partition(HEADING)
        nxt = rest.find("\n## ")
        new = head + text + (rest[nxt + 1 :] if nxt >= 0 else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", default="/tmp/fastloss_eval.parquet")
    ap.add_argument("--report", help="replace or append the section in this Markdown file")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask runs")
    args = ap.parse_args(argv)

    import fastloss

    path = Path(args.file)
    t0 = time.perf_counter()
    make_file(path, args.rows)
    print(
        f"file {path}: {args.rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB "
        f"(ready in {time.perf_counter() - t0:.1f} s)",
        file=sys.stderr,
    )
    with open(path, "rb") as fh:  # warm the page cache, untimed
        while fh.read(1 << 24):
            pass
    load0 = os.getloadavg()[0]

    engines = {
        "fastloss eval": lambda g: fastloss_eval(path, g),
        "DuckDB SQL": lambda g: duckdb_sql(path, g),
        "polars": lambda g: polars_lazy(path, g),
        "pandas + scikit-learn": lambda g: pandas_sklearn(path, g),
    }
    cluster = client = None
    if not args.no_dask:
        import distributed

        engines["fastloss eval --workers 2"] = lambda g: fastloss_eval(path, g, ["--workers", "2"])
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = distributed.Client(cluster, set_as_default=False)
        addr = client.scheduler.address
        engines["fastloss eval --scheduler (2 workers, started)"] = lambda g: fastloss_eval(
            path, g, ["--scheduler", addr]
        )
    results: dict[str, dict] = {}
    want: dict[str, dict] = {}
    try:
        for name, fn in engines.items():
            results[name] = {}
            for job in ("plain", "grouped"):
                if fn(job == "grouped") is None:  # also the untimed first run
                    continue
                med, ts, out = timed(lambda fn=fn, job=job: fn(job == "grouped"), args.repeat)
                if name == "fastloss eval":
                    want[job] = out
                else:
                    check(name, out, want[job])
                results[name][job] = med
                print(
                    f"{name:48s} {job:8s} median {med:7.3f} s  "
                    f"({', '.join(f'{t:.3f}' for t in ts)})",
                    file=sys.stderr,
                )
    finally:
        if client is not None:
            client.close()
            cluster.close()
    load1 = os.getloadavg()[0]
    text = section(args, results, (load0, load1), path.stat().st_size, fastloss.get_num_threads())
    print(text)
    if args.report:
        write_report(Path(args.report), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
