"""Measurement for bench.py: the thread control set before the peers load,
timing in interleaved rounds, the memory roof (``roof_probe.cpp``), one row's
cells with the peers' agreement, the ratios and percent of roof, and the
scaling study.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np

import specs
from peers import agree, build_impls

HERE = os.path.dirname(os.path.abspath(__file__))

ROOF_MIN_BYTES = 32 * 2**20  # percent of roof (and fresh − out=) from this many bytes up
ROW_FAULTS = "_row_faults"  # the fresh-gradient page faults' name among a cell's timings
ROW_ROOF = "_row_roof"  # the per-row roof's name among a cell's timings


def side_parser(doc: str, *, repeats: int = 7) -> argparse.ArgumentParser:
    """The options every side benchmark (bench_clustering, bench_linear,
    bench_several) takes, --threads (2), --repeats and --json (for
    :func:`write_json`), described by the first paragraph of ``doc``; the
    caller adds its own."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--json", default="")
    return ap


def print_table(notes: list[str], header: str, row: str, rows: list[dict]) -> None:
    """A side benchmark's report on stdout: its ``notes`` on one line, the
    table's ``header``, then ``row.format(**r)`` for each record ``r`` of
    ``rows`` (the records :func:`write_json` writes)."""
    print("; ".join(notes))
    print(header)
    for r in rows:
        print(row.format(**r))


def write_json(path: str | None, **record) -> None:
    """A side benchmark's ``--json PATH``: ``record`` (threads, notes, rows,
    ...) written as indented JSON; nothing where no path was given."""
    if path:
        with open(path, "w") as f:
            json.dump(record, f, indent=1)


# --------------------------------------------------------------------------
# threads: set before the peers are imported


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def control_threads(threads: int) -> list[str]:
    """Make every library use ``threads`` threads; say how it was done."""
    notes = []
    cpus = usable_cpus()
    if threads < len(cpus) and hasattr(os, "sched_setaffinity"):
        # Pin the process (its threads created from now on inherit the mask):
        # the only control that bounds XLA's CPU thread pool, which sizes
        # itself from the schedulable CPUs.
        os.sched_setaffinity(0, cpus[:threads])
        notes.append(
            f"process pinned to CPUs {cpus[:threads]} (sched_setaffinity) before "
            "importing the peers"
        )
    if threads == 1:
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        ).strip()
        notes.append("JAX: XLA_FLAGS=--xla_cpu_multi_thread_eigen=false")
    else:
        notes.append(f"JAX: XLA's CPU pool uses the schedulable CPUs ({min(threads, len(cpus))})")
    notes.append(f"fastloss.set_num_threads({threads})")
    notes.append(f"torch.set_num_threads({threads})")
    notes.append(f"scikit-learn _loss: n_threads={threads}; metrics run NumPy code")
    notes.append(
        f"NumPy/BLAS: threadpoolctl.threadpool_limits({threads}, 'blas') "
        "(NumPy ufuncs are single-threaded)"
    )
    return notes


# --------------------------------------------------------------------------
# timing


def measure_interleaved(cases, *, repeats=7, budget_s=6.0, small_target_s=0.2, max_samples=2000):
    """Median wall times of several implementations of one cell, taken in rounds.

    ``cases`` maps a name to ``(fn, setup)``; each sample is ``fn(*setup())``
    with the setup untimed. Warm-up: one call each (two when it is fast; the
    first compiles JAX code), which also sets how many samples each gets:
    ``repeats``, more for fast calls (up to ``small_target_s`` of calls),
    fewer for slow ones (at least 3) so that a cell stays within
    ``budget_s``. The samples are then taken in rounds (as many as the
    fewest samples any implementation gets): in each, every implementation
    makes one untimed call and then its share of timed calls, back to back.
    So a disturbance -- another library's worker threads still spinning
    after its last call, the kernel compacting memory, a neighbour's load --
    falls on every implementation alike rather than on whichever is timed
    first, and the untimed call absorbs what the previous implementation
    left behind (a fast call still runs from warm caches, as in a loop).
    Returns ``{name: (stats, first result)}``, or ``{name: exc}`` for an
    implementation that raised.
    """
    out, plan = {}, {}
    for name, (fn, setup) in cases.items():
        try:
            args = setup() if setup else ()
            t0 = time.perf_counter()
            first = fn(*args)
            est = time.perf_counter() - t0
            del args
            if est < 0.5:
                args = setup() if setup else ()
                t0 = time.perf_counter()
                fn(*args)
                est = time.perf_counter() - t0
                del args
        except Exception as exc:  # a peer that cannot run this input
            out[name] = exc
            continue
        n = repeats
        if est * repeats < small_target_s:
            n = max(repeats, min(max_samples, int(small_target_s / max(est, 1e-7))))
        elif est * repeats > budget_s:
            n = max(3, int(budget_s / est))
        plan[name] = (fn, setup, n, first)
    times = {name: [] for name in plan}
    rounds = min((p[2] for p in plan.values()), default=0)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for name, (fn, setup, n, _) in plan.items():
                args = setup() if setup else ()
                fn(*args)  # untimed
                del args
                # this round's share of the n samples
                for _ in range(n * (r + 1) // rounds - n * r // rounds):
                    args = setup() if setup else ()
                    t0 = time.perf_counter()
                    fn(*args)
                    times[name].append(time.perf_counter() - t0)
                    del args
    finally:
        if gc_was:
            gc.enable()
    for name, (_, _, n, first) in plan.items():
        ts = times[name]
        out[name] = (
            {
                "median_s": statistics.median(ts),
                "min_s": min(ts),
                "max_s": max(ts),
                "repeats": n,
                "reduced": n < repeats,
            },
            first,
        )
    return out


def best(fn, k=7):
    """The fastest of ``k`` timed calls of ``fn`` after one untimed warm-up
    call, in seconds: the micro studies' floor (benchmarks/micro), not the
    interleaved medians the report compares."""
    fn()
    ts = []
    for _ in range(k):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def measure(fn, setup=None, **kw):
    """``measure_interleaved`` for one implementation: ``(stats, first result)``."""
    res = measure_interleaved({"fn": (fn, setup)}, **kw)["fn"]
    if isinstance(res, Exception):
        raise res
    return res


def compare_medians(label, fns, *, rtol=1e-4, **kw):
    """``measure_interleaved`` over implementations of one value (``{name:
    fn}``, each returning a float): their median seconds by name and the
    repeats, after checking every value against the first's (a benchmark of
    different numbers is no comparison)."""
    res = measure_interleaved({k: (f, None) for k, f in fns.items()}, **kw)
    for r in res.values():
        if isinstance(r, Exception):
            raise r
    names = list(fns)
    first = res[names[0]][1]
    for k in names[1:]:
        if not np.isclose(first, res[k][1], rtol=rtol):
            raise SystemExit(f"{label}: values differ: {names[0]} {first}, {k} {res[k][1]}")
    return {k: res[k][0]["median_s"] for k in names}, res[names[0]][0]["repeats"]


# --------------------------------------------------------------------------
# the roof


def load_roof_probe():
    """``roof_probe.cpp`` compiled and loaded (``roof_stream_sum``), or None.

    The compiler is ``$CXX`` or ``c++``; no architecture flag: a streaming
    read needs no wide vectors to saturate memory."""
    import ctypes
    import shutil
    import subprocess
    import tempfile

    cxx = shutil.which(os.environ.get("CXX", "c++"))
    if cxx is None:
        return None
    tmp = tempfile.mkdtemp(prefix="fastloss-roof-")
    lib = os.path.join(tmp, "roof_probe.so")
    try:
        subprocess.run(
            [
                cxx,
                "-O3",
                "-fopenmp",
                "-shared",
                "-fPIC",
                os.path.join(HERE, "roof_probe.cpp"),
                "-o",
                lib,
            ],
            check=True,
            capture_output=True,
        )
        dll = ctypes.CDLL(lib)
    except (OSError, subprocess.CalledProcessError):
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fn = dll.roof_stream_sum
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    fn.compute = dll.roof_compute
    fn.compute.restype = ctypes.c_double
    fn.compute.argtypes = [ctypes.c_int, ctypes.c_int64]
    fn.three = dll.roof_stream_sum3
    fn.three.restype = ctypes.c_double
    fn.three.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int64,
        ctypes.c_int,
    ]
    fn.touch = dll.roof_touch
    fn.touch.restype = None
    fn.touch.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int]
    return fn


def measure_roof(threads, nbytes, repeats, mods, probe=None):
    """Streaming-read bandwidth, best of several fastloss-independent reductions.

    All read one float32 array of ``nbytes`` (>= 64 MiB, far beyond the
    caches) once per call:

    * ``np.dot(x, x)``: BLAS sdot (the same address twice: one stream),
      BLAS limited to ``threads`` threads by threadpoolctl;
    * the same split in ``threads`` chunks, one Python thread each (NumPy
      releases the GIL), BLAS at one thread: parallel whatever the BLAS;
    * ``torch.sum`` (``threads`` intra-op threads) and ``jax.jit(jnp.sum)``
      where installed;
    * ``roof_probe.cpp`` (``probe``, from ``load_roof_probe()``; None where
      no C++ compiler with OpenMP is found): ``threads`` OpenMP threads
      summing one array, and two arrays of
      half the size read alongside (as a loss reads pred and target), with
      32 independent accumulators. The peers' reductions are not built to
      saturate memory: without it a loss could read faster than the "roof".

    The roof is the fastest (bytes / median time). Also measured, for
    reference: read + write into a buffer in use (``np.multiply(x, 2,
    out=y)`` in chunks) and into freshly allocated outputs.
    """
    n = nbytes // 4
    x = np.random.default_rng(0).random(n, dtype=np.float32)
    y = np.empty_like(x)
    y.fill(0)
    chunks = np.array_split(np.arange(n), threads)
    bounds = [(int(c[0]), int(c[-1]) + 1) for c in chunks if len(c)]
    pool = ThreadPoolExecutor(threads)
    limits = mods.get("threadpool_limits")

    def blas(k):
        return limits(limits=k, user_api="blas") if limits else nullcontext()

    def dot_threads():
        return sum(pool.map(lambda b: float(np.dot(x[b[0] : b[1]], x[b[0] : b[1]])), bounds))

    def mul_out():
        list(pool.map(lambda b: np.multiply(x[b[0] : b[1]], 2.0, out=y[b[0] : b[1]]), bounds))

    def mul_fresh():
        list(pool.map(lambda b: np.multiply(x[b[0] : b[1]], 2.0), bounds))

    reads = {}
    with blas(threads):
        reads["np.dot(x, x), BLAS"] = measure(lambda: np.dot(x, x), repeats=repeats)[0]
    with blas(1):
        reads[f"np.dot on {threads} Python threads"] = measure(dot_threads, repeats=repeats)[0]
    if "torch" in mods:
        xt = mods["torch"].from_numpy(x)
        reads["torch.sum"] = measure(lambda: xt.sum().item(), repeats=repeats)[0]
        del xt
    if "jax" in mods:
        jax, jnp = mods["jax"], mods["jax"].numpy
        xj = jax.device_put(x)
        jsum = jax.jit(jnp.sum)
        reads["jax.jit(jnp.sum)"] = measure(
            lambda: float(jsum(xj).block_until_ready()), repeats=repeats
        )[0]
        del xj
    compute = None
    if probe is not None and threads > 1:
        # what a second thread adds to a compute-bound loop (1.0: nothing)
        one = measure(lambda: probe.compute(1, 20000), repeats=repeats)[0]["median_s"]
        many = measure(lambda: probe.compute(threads, 20000), repeats=repeats)[0]["median_s"]
        compute = {"threads": threads, "speedup": threads * one / many}
    if probe is not None:
        h = n // 2
        xa, xb = x[:h], x[h : 2 * h]
        reads[f"roof_probe.cpp, one array, {threads} OpenMP threads"] = measure(
            lambda: probe(x.ctypes.data, None, n, threads), repeats=repeats
        )[0]
        reads[f"roof_probe.cpp, two arrays, {threads} OpenMP threads"] = measure(
            lambda: probe(xa.ctypes.data, xb.ctypes.data, h, threads), repeats=repeats
        )[0]
    writes = {
        f"np.multiply(x, 2, out=y) on {threads} threads": measure(mul_out, repeats=repeats)[0],
        f"np.multiply(x, 2) fresh output on {threads} threads": measure(mul_fresh, repeats=repeats)[
            0
        ],
    }
    pool.shutdown()
    for v in reads.values():
        v["GBps"] = x.nbytes / v["median_s"] / 1e9
    for v in writes.values():
        v["GBps"] = 2 * x.nbytes / v["median_s"] / 1e9
    best = max(reads, key=lambda k: reads[k]["GBps"])
    rw = list(writes)
    return {
        "bytes": x.nbytes,
        "read_GBps": reads[best]["GBps"],
        "read_by": best,
        "read_candidates": reads,
        "read_write_out_GBps": writes[rw[0]]["GBps"],
        "read_write_fresh_GBps": writes[rw[1]]["GBps"],
        "read_write": writes,
        "compute_scaling": compute,
    }


# --------------------------------------------------------------------------
# one row: its cells timed, checked and summarized


def run_row(row, shape, dtype, rng, args, mods, ctx):
    inp = specs.MAKERS[row.loss](rng, dtype, shape)
    impls = build_impls(
        row.loss, inp, [p for p in row.peers if p in args.peers], mods, args.threads, ctx
    )
    out = {
        "loss": row.loss,
        "label": row.label_for(shape),
        "shape": list(shape),
        "params": {
            k: (v if not isinstance(v, np.ndarray) else f"array{v.shape}")
            for k, v in inp.params.items()
        },
        "issue3": row.issue3,
        # % of roof only where the inputs are too big to be served from cache
        "bandwidth_bound": row.loss in specs.BANDWIDTH_BOUND and inp.bytes_read >= ROOF_MIN_BYTES,
        "bytes_read": inp.bytes_read,
        "bytes_grad": inp.bytes_written_grad,
        "verbs": {},
    }
    probe = ctx.get("roof_probe")
    row_roof = {}
    if out["bandwidth_bound"] and probe is not None and inp.pred.nbytes == inp.target.nbytes:
        # The streaming-read roof of this row's own bytes, timed in the same
        # rounds as the implementations (the machine's bandwidth drifts over
        # a run): for the value, its inputs (pred and target read alongside
        # by roof_probe.cpp); for value+grad, those and a third array of the
        # gradient's size, as many bytes as the cell moves in a working set
        # as large as its own (see roof_stream_sum3).
        n4, pa, ta = inp.pred.nbytes // 4, inp.pred.ctypes.data, inp.target.ctypes.data
        third = np.ones_like(inp.pred)
        row_roof["value"] = lambda: probe(pa, ta, n4, args.threads)
        row_roof["value_and_grad"] = lambda: probe.three(
            pa, ta, third.ctypes.data, n4, args.threads
        )
    faults = None
    if probe is not None and inp.bytes_written_grad >= ROOF_MIN_BYTES:
        # What a fresh gradient costs beyond one in use: a buffer of its size
        # allocated by NumPy (as fastloss allocates it) and its pages faulted
        # in by `threads` threads, timed in the same rounds as value+grad.
        gshape, gdtype = inp.pred.shape, inp.pred.dtype

        def faults():
            g = np.empty(gshape, gdtype)
            probe.touch(g.ctypes.data, g.nbytes, args.threads)

    for verb, table in impls.items():
        cases = {name: (impl.fn, impl.setup) for name, impl in table.items()}
        if verb in row_roof:
            cases[ROW_ROOF] = (row_roof[verb], None)
        if faults is not None and verb == "value_and_grad":
            cases[ROW_FAULTS] = (faults, None)
        timed = measure_interleaved(
            cases, repeats=args.repeats, budget_s=args.budget, small_target_s=args.small_target
        )
        if verb in row_roof and not isinstance(timed.get(ROW_ROOF), Exception):
            st = timed.pop(ROW_ROOF)[0]
            streams = 3 if verb == "value_and_grad" else 2
            st["GBps"] = streams * inp.pred.nbytes / st["median_s"] / 1e9
            out.setdefault("row_roof", {})[verb] = st
        got = timed.pop(ROW_FAULTS, None)
        if isinstance(got, tuple):
            out["fresh_faults"] = got[0]
        res = {}
        ref = timed["fastloss"][1] if isinstance(timed.get("fastloss"), tuple) else None
        for name, impl in table.items():
            got = timed[name]
            if isinstance(got, Exception):
                res[name] = {"error": f"{type(got).__name__}: {got}"[:300]}
                continue
            stats, first = got
            if name != "fastloss" and ref is not None and impl.check:
                stats.update(agree(ref, first, impl, dtype))
            res[name] = stats
        del timed, ref
        out["verbs"][verb] = res
    del impls, inp
    gc.collect()
    return out


def summarize(row, roof):
    """Add the fastest peer, the ratios and percent of roof to a row."""
    for verb, res in row["verbs"].items():
        fl = res.get("fastloss", {}).get("median_s")
        fln = res.get("fastloss_nocache", {}).get("median_s")
        flo = res.get("fastloss_out", {}).get("median_s")
        peers = {k: v for k, v in res.items() if not k.startswith("fastloss") and "median_s" in v}
        for v in peers.values():
            if fl:
                v["ratio"] = v["median_s"] / fl
        trusted = {k: v for k, v in peers.items() if v.get("agree", True)}
        summary = {}
        if trusted:
            best = min(trusted, key=lambda k: trusted[k]["median_s"])
            summary["fastest_peer"] = best
            summary["fastest_peer_s"] = trusted[best]["median_s"]
            if fl:
                summary["speedup"] = trusted[best]["median_s"] / fl
            if fln:
                summary["speedup_nocache"] = trusted[best]["median_s"] / fln
            if flo:
                summary["speedup_out"] = trusted[best]["median_s"] / flo
        nbytes = row["bytes_read"] + (row["bytes_grad"] if verb == "value_and_grad" else 0)
        # the row's own roof (timed in the same rounds) where there is one
        rr = row.get("row_roof", {}).get(verb)
        read_gbps = rr["GBps"] if rr else (roof["read_GBps"] if roof else None)
        if rr:
            summary["roof_GBps"] = read_gbps
        if fl and read_gbps:
            summary["roof_pct"] = 100 * nbytes / fl / 1e9 / read_gbps
        if flo and read_gbps:
            summary["roof_pct_out"] = 100 * nbytes / flo / 1e9 / read_gbps
        if fln and read_gbps:
            summary["roof_pct_nocache"] = 100 * nbytes / fln / 1e9 / read_gbps
        # a gradient in a new buffer: with the cache off (fresh without it
        # where the cache does not apply)
        fnew = fln or fl
        if verb == "value_and_grad" and fnew and flo and row.get("fresh_faults"):
            # what the new buffer cost beyond out=, and what faulting in a
            # buffer of its size alone costs (same rounds)
            summary["fresh_extra_s"] = fnew - flo
            summary["faults_s"] = row["fresh_faults"]["median_s"]
        if fnew and roof and verb == "value_and_grad" and roof.get("read_write_fresh_GBps"):
            # against what a new output costs here (page faults): the
            # fresh-output read+write roof of the same run
            summary["fresh_roof_pct"] = 100 * nbytes / fnew / 1e9 / roof["read_write_fresh_GBps"]
        row.setdefault("summary", {})[verb] = summary


# --------------------------------------------------------------------------
# scaling


def run_scaling(args, dtype, thread_counts, rng, probe=None):
    """fastloss value+grad (``out=``) per element over the sizes, per thread count.

    At each size the thread counts are timed in the same rounds
    (``measure_interleaved``; the count is set in the untimed setup), so a
    change of the machine's state during the study -- on a shared host the
    second vCPU comes and goes -- falls on both columns alike instead of on
    whichever ran later. With ``probe`` (``load_roof_probe()``) and more than
    one thread count, the same rounds also time ``roof_compute`` (an
    L1-resident compute-bound loop, ~1 ms) on 1 and on the most threads:
    ``compute_speedup`` at that point is what a second thread could add to a
    compute-bound loss just then."""
    import fastloss

    have = set(fastloss.available())
    sizes = (
        [10**k for k in range(3, 8)]
        if args.quick
        else [int(round(10 ** (k / 2), -(k // 2))) for k in range(6, 17)]
    )  # 1e3, 3e3, 1e4, ...
    sizes = [s for s in sizes if s <= args.scaling_max] or [args.scaling_max]
    out = {
        "sizes": sizes,
        "threads": thread_counts,
        "verb": "value_and_grad (out=)",
        "losses": {},
        "compute_speedup": {},
    }
    top = max(thread_counts)
    probe_cases = {}
    if probe is not None and top > 1:
        probe_cases = {
            "probe 1": (lambda: probe.compute(1, 1000), None),
            f"probe {top}": (lambda: probe.compute(top, 1000), None),
        }

    def threads(th):
        def setup():
            fastloss.set_num_threads(th)
            return ()

        return setup

    for loss in specs.SCALING:
        if loss not in have or (args.losses and loss not in args.losses):
            continue
        L = fastloss.get(loss)
        big = specs.MAKERS[loss](rng, dtype, specs.SCALING[loss](sizes[-1]))
        buf = np.empty_like(big.pred)
        curves = {str(th): [] for th in thread_counts}
        probe_pts = []
        for n in sizes:
            rows = specs.SCALING[loss](n)[0]
            p, t, g = big.pred[:rows], big.target[:rows], buf[:rows]
            prm = {k: (v[:rows] if isinstance(v, np.ndarray) else v) for k, v in big.params.items()}
            cases = {
                str(th): (
                    lambda p=p, t=t, g=g, prm=prm, L=L: L.value_and_grad(p, t, out=g, **prm),
                    threads(th),
                )
                for th in thread_counts
            }
            res = measure_interleaved(
                {**cases, **probe_cases},
                repeats=args.repeats,
                budget_s=args.budget,
                small_target_s=args.small_target,
            )
            for th in thread_counts:
                stats, _ = res[str(th)]
                curves[str(th)].append(
                    {
                        "n": int(p.size),
                        "median_s": stats["median_s"],
                        "ns_per_element": stats["median_s"] / p.size * 1e9,
                        "repeats": stats["repeats"],
                    }
                )
            if probe_cases:
                one, many = (res[k][0]["median_s"] for k in probe_cases)
                probe_pts.append(top * one / many)
        fastloss.set_num_threads(args.threads)
        out["losses"][loss] = curves
        if probe_pts:
            out["compute_speedup"][loss] = probe_pts
        del big, buf
        gc.collect()
    return out
