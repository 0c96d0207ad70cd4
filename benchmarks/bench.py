#!/usr/bin/env python3
"""Side-by-side benchmark: fastloss against NumPy, PyTorch, JAX and scikit-learn.

    python benchmarks/bench.py [--quick] [--losses a,b] [--threads 2]
        [--dtype float32|float64] [--json out.json] [--report BENCHMARKS.md]
        [--plot scaling.png] [--no-scaling]

One process, one run, the same inputs, dtype and thread count for every
implementation. For each row of ``specs.ROWS`` whose loss exists in the
imported fastloss it times the value and the value+gradient of

* fastloss (value+grad both with a freshly allocated gradient and with
  ``out=`` a buffer already in use),
* the NumPy reference ``fastloss.reference.get(name)`` (float64 inside),
* PyTorch (value under ``torch.no_grad()``; value+grad by autograd on a
  ``requires_grad`` leaf: ``loss.backward()`` then ``.grad``; the leaf is
  created outside the timed region),
* JAX (``jax.jit`` of the loss and of ``jax.value_and_grad`` of it;
  compilation happens in the warm-up, outside the timings;
  ``block_until_ready`` inside them),
* scikit-learn: a metric (value) and an ``sklearn._loss`` loss with
  ``n_threads`` (value and ``loss_gradient``) where one corresponds,

each peer only where installed. Every timing is the median of >= 7 calls
after warm-up (3 with ``--quick``); a call longer than the per-cell budget
gets fewer repeats (at least 3), which the report marks. Before its timing
is trusted, each peer's value (and a slice of its gradient) is compared with
fastloss's; a peer that disagrees is marked and never counted as the
fastest.

The roof: the streaming-read bandwidth measured in the same run, the best of
several fastloss-independent reductions over a 256 MiB array that no cache
holds (see ``measure.measure_roof``). Bandwidth-bound losses get "percent of roof"
counting bytes read (value) and bytes read + gradient bytes written
(value+grad).

Scaling: time per element of fastloss value+grad (``out=``) from 1e3 to 1e8
elements on 1 and 2 threads, plotted log-log when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import sys
import time
from contextlib import nullcontext, redirect_stdout

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# The work is in three modules beside this one: measure (timing, the roof,
# rows and scaling), peers (the implementations compared) and report
# (tables, Markdown, plot); this one is the command line.
import specs  # noqa: E402
from measure import (  # noqa: E402
    control_threads,
    load_roof_probe,
    measure_roof,
    run_row,
    run_scaling,
    summarize,
    usable_cpus,
)
from peers import PEERS, import_peers  # noqa: E402
from report import fmt_time, plot_scaling, print_table, write_report  # noqa: E402

# --cap LEVEL: the environment that makes every implementation use at most
# that instruction-set level, to stand in for a machine without the wider
# units (the peers' own switches; set before any of them is imported, so the
# script re-executes itself with them).
CAPS = {
    "avx2": {
        "FASTLOSS_ISA": "avx2",
        "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Haswell",
    },
}
CAP_MARK = "FASTLOSS_BENCH_CAP"


# --------------------------------------------------------------------------
# machine


def isa_used(mods):
    """The vector level each implementation says it uses, where it says."""
    out = {}
    try:
        from fastloss import _core

        out["fastloss"] = _core.isa()
    except Exception:
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

        on = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
        out["numpy"] = "dispatch targets enabled: " + (", ".join(on) or "none (baseline)")
    except Exception:
        pass
    if "torch" in mods:
        try:
            out["torch"] = mods["torch"].backends.cpu.get_cpu_capability()
        except Exception:
            pass
    if "jax" in mods:
        out["jax"] = os.environ.get("XLA_FLAGS", "") or "default (host ISA)"
    return out


def machine_info(args, mods, notes):
    import fastloss

    cpu = ""
    flags = ""
    ident = {}  # cpu family and model: a hypervisor may mask the model name
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not cpu:
                    cpu = line.split(":", 1)[1].strip()
                key, _, val = line.partition(":")
                key = key.strip()
                if key in ("cpu family", "model") and key not in ident:
                    ident[key] = val.strip()
                if line.startswith("flags") and not flags:
                    fl = set(line.split(":", 1)[1].split())
                    flags = " ".join(
                        f
                        for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl")
                        if f in fl
                    )
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    if ident:
        cpu += " (" + ", ".join(f"{k} {v}" for k, v in ident.items()) + ")"
    caches = {}
    for idx in range(6):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{idx}/"
        try:
            with open(base + "level") as f1, open(base + "type") as f2, open(base + "size") as f3:
                caches[f"L{f1.read().strip()} {f2.read().strip()}"] = f3.read().strip()
        except OSError:
            break
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "fastloss": getattr(fastloss, "__version__", "?"),
    }
    for name in ("torch", "jax", "sklearn"):
        if name in mods:
            versions[name] = mods[name].__version__
    if "jax" in mods:
        try:
            import jaxlib

            versions["jaxlib"] = jaxlib.__version__
        except ImportError:
            pass
    cfg = None
    try:
        from fastloss._config import config

        cfg = config()
    except Exception:  # older or newer layout: the printed form is still recorded
        pass
    text = io.StringIO()
    try:
        with redirect_stdout(text):
            fastloss.show_config()
    except Exception as exc:
        text.write(f"show_config failed: {exc}")
    return {
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        "cpu": cpu,
        "cpu_flags": flags,
        "caches": caches,
        "cores": os.cpu_count(),
        "usable_cpus": len(usable_cpus()),
        "memory_GiB": mem,
        "platform": platform.platform(),
        "versions": versions,
        "fastloss_config": cfg,
        "fastloss_show_config": text.getvalue().rstrip(),
        "cap": args.cap,
        "cap_env": {k: os.environ.get(k) for k in CAPS.get(args.cap, {})},
        "isa_used": isa_used(mods),
        "threads": args.threads,
        "dtype": args.dtype,
        "quick": args.quick,
        "thread_control": notes,
    }


# --------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="1/10 sizes, 3 repeats, scaling up to 1e7: a smoke test",
    )
    ap.add_argument("--losses", default="", help="comma-separated loss names (default: all)")
    ap.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated peers among {','.join(PEERS)} (default: all)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every implementation (default: min(2, usable CPUs))",
    )
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument(
        "--repeats", type=int, default=None, help="timed calls per cell (default 7; --quick 3)"
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds per cell before repeats are cut (default 4; --quick 2)",
    )
    ap.add_argument(
        "--cap",
        choices=sorted(CAPS),
        default=None,
        help="cap fastloss and every peer at this ISA level (their own "
        "switches: FASTLOSS_ISA, XLA_FLAGS=--xla_cpu_max_isa, "
        "ATEN_CPU_CAPABILITY, NPY_DISABLE_CPU_FEATURES, OPENBLAS_CORETYPE)",
    )
    ap.add_argument("--no-roof", action="store_true", help="skip the roof measurement")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    ap.add_argument(
        "--scaling-max",
        type=float,
        default=None,
        help="largest scaling size (default 1e8; --quick 1e7)",
    )
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--report", help="write a Markdown report (BENCHMARKS.md) here")
    ap.add_argument("--plot", help="write the scaling plot (PNG) here (needs matplotlib)")
    args = ap.parse_args(argv)
    args.losses = [s.strip() for s in args.losses.split(",") if s.strip()]
    args.peers = [s.strip() for s in args.peers.split(",") if s.strip()]
    bad = [p for p in args.peers if p not in PEERS]
    if bad:
        ap.error(f"unknown peer(s) {bad}; choose among {PEERS}")
    if args.threads is None:
        args.threads = min(2, len(usable_cpus()))
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.budget is None:
        args.budget = 2.0 if args.quick else 4.0
    args.small_target = 0.05 if args.quick else 0.1
    if args.scaling_max is None:
        args.scaling_max = 1e7 if args.quick else 1e8
    args.scaling_max = int(args.scaling_max)
    if args.report and not args.plot and not args.no_scaling:
        args.plot = os.path.join(os.path.dirname(os.path.abspath(args.report)), "scaling.png")
    for path in (args.json, args.report, args.plot):  # outputs may go to a new folder
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return args


def apply_cap(cap):
    """Re-execute this script with the environment of ``CAPS[cap]``."""
    if os.environ.get(CAP_MARK) == cap:
        return
    env = dict(os.environ, **CAPS[cap])
    if os.environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = os.environ["XLA_FLAGS"] + " " + CAPS[cap]["XLA_FLAGS"]
    env[CAP_MARK] = cap
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]], env)


def main(argv=None):
    args = parse_args(argv)
    if args.cap and argv is None:
        apply_cap(args.cap)
    dtype = np.dtype(args.dtype).type
    notes = control_threads(args.threads)
    scaling_threads = sorted(
        {1, min(2, len(usable_cpus())), args.threads} & set(range(1, len(usable_cpus()) + 1))
    )

    import fastloss

    fastloss.set_num_threads(args.threads)
    mods = import_peers(dtype, args.peers)
    if "torch" in mods:
        mods["torch"].set_num_threads(args.threads)
    limits = mods.get("threadpool_limits")
    ctx_limits = limits(limits=args.threads, user_api="blas") if limits else nullcontext()

    have = set(fastloss.available())
    unknown = [x for x in args.losses if x not in specs.MAKERS]
    if unknown:
        sys.exit(f"unknown loss(es) {unknown}; the benchmark knows {sorted(specs.MAKERS)}")
    rows = [r for r in specs.ROWS if not args.losses or r.loss in args.losses]
    skipped = sorted({r.loss for r in rows if r.loss not in have})
    rows = [r for r in rows if r.loss in have]

    data = {
        "machine": machine_info(args, mods, notes),
        "repeats": args.repeats,
        "skipped": skipped,
        "peers_installed": sorted(k for k in ("torch", "jax", "sklearn", "pml") if k in mods),
    }
    print(data["machine"]["fastloss_show_config"])
    print(
        f"threads {args.threads}, {args.dtype}, peers installed: "
        f"{', '.join(data['peers_installed']) or 'none'}"
    )
    if skipped:
        print(f"not in this fastloss yet (skipped): {', '.join(skipped)}")
    t_start = time.perf_counter()
    rng = np.random.default_rng(1234)
    with ctx_limits:
        roof = None
        probe = None if args.no_roof and args.no_scaling else load_roof_probe()
        if not args.no_roof:
            roof = measure_roof(
                args.threads, (64 if args.quick else 256) * 2**20, args.repeats, mods, probe
            )
            print(f"roof: {roof['read_GBps']:.1f} GB/s streaming read ({roof['read_by']})")
        data["roof"] = roof
        results = []
        ctx = {"roof_probe": None if args.no_roof else probe}
        for row in rows:
            shape = row.shape_for(args.quick)
            t0 = time.perf_counter()
            r = run_row(row, shape, dtype, rng, args, mods, ctx)
            summarize(r, roof)
            results.append(r)
            fl = r["verbs"]["value_and_grad"].get("fastloss", {}).get("median_s")
            print(
                f"  {r['label']:<40} done in {time.perf_counter() - t0:5.1f} s"
                f"  (fastloss value+grad {fmt_time(fl)})",
                flush=True,
            )
        data["results"] = results
        if not args.no_scaling:
            t0 = time.perf_counter()
            data["scaling"] = run_scaling(args, dtype, scaling_threads, rng, probe)
            print(f"  scaling done in {time.perf_counter() - t0:5.1f} s", flush=True)
    data["elapsed_s"] = time.perf_counter() - t_start
    if hasattr(os, "getloadavg"):
        data["machine"]["load_average_end"] = list(os.getloadavg())
    print_table(results, roof)
    plot_path = None
    if args.plot and data.get("scaling") and data["scaling"]["losses"]:
        if plot_scaling(data["scaling"], args.plot):
            plot_path = args.plot
            print(f"plot: {args.plot}")
        else:
            print("matplotlib is not installed: no plot")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1, default=str)
        print(f"json: {args.json}")
    if args.report:
        write_report(args.report, data, plot_path)
        print(f"report: {args.report}")
    print(f"total {data['elapsed_s']:.0f} s")
    return data


if __name__ == "__main__":
    main()
