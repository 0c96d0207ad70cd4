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
holds (see ``measure_roof``). Bandwidth-bound losses get "percent of roof"
counting bytes read (value) and bytes read + gradient bytes written
(value+grad).

Scaling: time per element of fastloss value+grad (``out=``) from 1e3 to 1e8
elements on 1 and 2 threads, plotted log-log when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import io
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext, redirect_stdout

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import specs  # noqa: E402

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

ROOF_MIN_BYTES = 32 * 2**20  # percent of roof (and fresh − out=) from this many bytes up
ROW_FAULTS = "_row_faults"  # the fresh-gradient page faults' name among a cell's timings
ROW_ROOF = "_row_roof"  # the per-row roof's name among a cell's timings
PEERS = ("numpy", "torch", "jax", "sklearn", "sklearn_loss")
PEER_TITLES = {
    "fastloss": "fastloss",
    "fastloss_nocache": "fastloss cache off",
    "fastloss_out": "fastloss out=",
    "numpy": "NumPy ref",
    "torch": "PyTorch",
    "jax": "JAX jit",
    "sklearn": "sklearn metric",
    "sklearn_loss": "sklearn _loss",
}


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
        notes.append(f"process pinned to CPUs {cpus[:threads]} (sched_setaffinity) before "
                     "importing the peers")
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
        notes.append("JAX: XLA_FLAGS=--xla_cpu_multi_thread_eigen=false")
    else:
        notes.append(f"JAX: XLA's CPU pool uses the schedulable CPUs ({min(threads, len(cpus))})")
    notes.append(f"fastloss.set_num_threads({threads})")
    notes.append(f"torch.set_num_threads({threads})")
    notes.append(f"scikit-learn _loss: n_threads={threads}; metrics run NumPy code")
    notes.append(f"NumPy/BLAS: threadpoolctl.threadpool_limits({threads}, 'blas') "
                 "(NumPy ufuncs are single-threaded)")
    return notes


# --------------------------------------------------------------------------
# timing


def measure_interleaved(cases, *, repeats=7, budget_s=6.0, small_target_s=0.2,
                        max_samples=2000):
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
        out[name] = ({"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
                      "repeats": n, "reduced": n < repeats}, first)
    return out


def measure(fn, setup=None, **kw):
    """``measure_interleaved`` for one implementation: ``(stats, first result)``."""
    res = measure_interleaved({"fn": (fn, setup)}, **kw)["fn"]
    if isinstance(res, Exception):
        raise res
    return res


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
        subprocess.run([cxx, "-O3", "-fopenmp", "-shared", "-fPIC",
                        os.path.join(HERE, "roof_probe.cpp"), "-o", lib],
                       check=True, capture_output=True)
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
    fn.three.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                         ctypes.c_int]
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
        return sum(pool.map(lambda b: float(np.dot(x[b[0]:b[1]], x[b[0]:b[1]])), bounds))

    def mul_out():
        list(pool.map(lambda b: np.multiply(x[b[0]:b[1]], 2.0, out=y[b[0]:b[1]]), bounds))

    def mul_fresh():
        list(pool.map(lambda b: np.multiply(x[b[0]:b[1]], 2.0), bounds))

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
        reads["jax.jit(jnp.sum)"] = measure(lambda: float(jsum(xj).block_until_ready()),
                                            repeats=repeats)[0]
        del xj
    compute = None
    if probe is not None and threads > 1:
        # what a second thread adds to a compute-bound loop (1.0: nothing)
        one = measure(lambda: probe.compute(1, 20000), repeats=repeats)[0]["median_s"]
        many = measure(lambda: probe.compute(threads, 20000), repeats=repeats)[0]["median_s"]
        compute = {"threads": threads, "speedup": threads * one / many}
    if probe is not None:
        h = n // 2
        xa, xb = x[:h], x[h:2 * h]
        reads[f"roof_probe.cpp, one array, {threads} OpenMP threads"] = measure(
            lambda: probe(x.ctypes.data, None, n, threads), repeats=repeats)[0]
        reads[f"roof_probe.cpp, two arrays, {threads} OpenMP threads"] = measure(
            lambda: probe(xa.ctypes.data, xb.ctypes.data, h, threads), repeats=repeats)[0]
    writes = {
        f"np.multiply(x, 2, out=y) on {threads} threads": measure(mul_out, repeats=repeats)[0],
        f"np.multiply(x, 2) fresh output on {threads} threads": measure(mul_fresh,
                                                                       repeats=repeats)[0],
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
# peers


def import_peers(dtype, want):
    mods = {}
    try:
        from threadpoolctl import threadpool_limits

        mods["threadpool_limits"] = threadpool_limits
    except ImportError:
        pass
    if "torch" in want:
        try:
            import torch

            mods["torch"] = torch
        except ImportError:
            pass
    if "jax" in want:
        try:
            import jax

            if dtype == np.float64:
                jax.config.update("jax_enable_x64", True)
            import jax.numpy  # noqa: F401

            mods["jax"] = jax
        except ImportError:
            pass
    if "sklearn" in want or "sklearn_loss" in want:
        try:
            import sklearn
            import sklearn._loss.loss  # noqa: F401
            import sklearn.metrics

            mods["sklearn"] = sklearn
        except ImportError:
            pass
    return mods


class Impl:
    """One implementation of one verb: ``fn(*setup())`` -> value or (value, grad).

    ``vfactor``/``gfactor`` map its result onto fastloss's for the check.
    """

    def __init__(self, fn, setup=None, vfactor=1.0, gfactor=1.0, check=True):
        self.fn, self.setup = fn, setup
        self.vfactor, self.gfactor, self.check = vfactor, gfactor, check


def build_impls(row_loss, inp, peers, mods, threads, ctx):
    """{verb: {name: Impl}} for one row; verbs are "value" and "value_and_grad"."""
    import fastloss

    L = fastloss.get(row_loss)
    p, t, prm = inp.pred, inp.target, inp.params
    buf = np.empty_like(p)
    value = {"fastloss": Impl(lambda: L(p, t, **prm))}
    def fresh():
        return L.value_and_grad(p, t, **prm)

    vg = {"fastloss": Impl(fresh)}
    if p.nbytes >= fastloss._core.buffer_cache_min_bytes:
        # A fresh gradient this large comes from the buffer cache, so in a
        # loop (as timed here) its memory is the previous call's: the
        # default. "cache off" times the same call with the cache off, each
        # gradient a new buffer faulted in page by page, as on a first call.
        # Each setup (untimed) sets the state its own calls need.
        limit = ctx.setdefault("buffer_cache", fastloss.buffer_cache_info()["max_bytes"])

        def cache_on():
            fastloss.set_buffer_cache(limit)
            return ()

        def cache_off():
            fastloss.set_buffer_cache(0)
            return ()

        vg["fastloss"] = Impl(fresh, setup=cache_on)
        vg["fastloss_nocache"] = Impl(fresh, setup=cache_off)
    vg["fastloss_out"] = Impl(lambda: L.value_and_grad(p, t, out=buf, **prm))
    if "numpy" in peers:
        try:
            import fastloss.reference

            R = fastloss.reference.get(row_loss)
        except (ImportError, ValueError, AttributeError):
            R = None
        if R is not None:
            value["numpy"] = Impl(lambda: R(p, t, **prm))
            vg["numpy"] = Impl(lambda: R.value_and_grad(p, t, **prm))
    if "torch" in peers and "torch" in mods:
        torch = mods["torch"]
        F = torch.nn.functional
        TP = torch.from_numpy(p)
        TT = torch.from_numpy(t)
        tprm = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in prm.items()}
        # (default arguments bind now: the JAX branch below reuses the names)
        if row_loss in specs.TORCH_LIB:
            def tf(a, b, lib=specs.TORCH_LIB[row_loss], F=F, tprm=tprm):
                return lib(F, a, b, **tprm)
        elif row_loss in specs.EXPR:
            if "torch_ops" not in ctx:
                ctx["torch_ops"] = specs.Torch()

            def tf(a, b, expr=specs.EXPR[row_loss], B=ctx["torch_ops"], tprm=tprm):
                return expr(B, a, b, **tprm)
        else:
            tf = None
        if tf is not None:
            def t_value():
                with torch.no_grad():
                    return tf(TP, TT).item()

            def t_leaf():
                return (torch.from_numpy(p).requires_grad_(True),)

            def t_vg(leaf):
                loss = tf(leaf, TT)
                loss.backward()
                return loss.item(), leaf.grad

            value["torch"] = Impl(t_value)
            vg["torch"] = Impl(t_vg, setup=t_leaf)
    if "jax" in peers and "jax" in mods and row_loss in specs.EXPR:
        jax = mods["jax"]
        if "jax_ops" not in ctx:
            ctx["jax_ops"] = specs.Jax()
        JB = ctx["jax_ops"]
        jexpr = specs.EXPR[row_loss]
        tj = t
        if t.dtype == np.int64 and not jax.config.jax_enable_x64:
            tj = t.astype(np.int32)
        PJ, TJ = jax.device_put(p), jax.device_put(tj)
        keys = [k for k, v in prm.items() if isinstance(v, np.ndarray)]
        scal = {k: v for k, v in prm.items() if k not in keys}
        AJ = [jax.device_put(prm[k]) for k in keys]

        def jf(a, b, *arrs):
            return jexpr(JB, a, b, **scal, **dict(zip(keys, arrs)))

        jv = jax.jit(jf)
        jvg = jax.jit(jax.value_and_grad(jf))

        def j_value():
            return float(jv(PJ, TJ, *AJ).block_until_ready())

        def j_vg():
            v, g = jvg(PJ, TJ, *AJ)
            g.block_until_ready()
            return float(v), g

        value["jax"] = Impl(j_value)
        vg["jax"] = Impl(j_vg)
    if "sklearn" in peers and "sklearn" in mods and row_loss in specs.SK_METRIC:
        import sklearn.metrics as skm

        metric = specs.SK_METRIC[row_loss]
        value["sklearn"] = Impl(lambda: float(metric(skm, p, t, **prm)))
    if "sklearn_loss" in peers and "sklearn" in mods and row_loss in specs.SK_LOSS:
        sk = specs.SK_LOSS[row_loss]
        obj = sk.make(inp)
        y = sk.y(inp)
        gf = sk.gfactor(len(y))

        def s_value():
            return float(obj(y, p, n_threads=threads))  # np.average of the per-sample losses

        def s_vg():
            loss, grad = obj.loss_gradient(y, p, n_threads=threads)
            return float(loss.mean()), grad

        value["sklearn_loss"] = Impl(s_value, vfactor=sk.vfactor)
        vg["sklearn_loss"] = Impl(s_vg, vfactor=sk.vfactor, gfactor=gf)
    return {"value": value, "value_and_grad": vg}


def _as_numpy(g):
    if isinstance(g, np.ndarray):
        return g
    if hasattr(g, "detach"):
        return g.detach().numpy()
    return np.asarray(g)


def agree(ref, got, impl, dtype):
    """Does ``got`` (a peer's first result) match fastloss's ``ref``?"""
    tol = 2e-3 if dtype == np.float32 else 1e-7
    rv, gv = (ref if isinstance(ref, tuple) else (ref, None))
    pv, pg = (got if isinstance(got, tuple) else (got, None))
    pv = float(pv) * impl.vfactor
    info = {"value": pv}
    ok = math.isclose(pv, float(rv), rel_tol=tol, abs_tol=tol * 1e-3) or (
        math.isnan(pv) and math.isnan(float(rv)))
    if gv is not None and pg is not None:
        a = np.asarray(gv).reshape(-1)[:65536].astype(np.float64)
        b = _as_numpy(pg).reshape(-1)[:65536].astype(np.float64) * impl.gfactor
        if a.shape != b.shape:
            ok = False
            info["grad_max_abs_diff"] = None
        else:
            scale = float(np.max(np.abs(a))) if a.size else 0.0
            diff = float(np.max(np.abs(a - b))) if a.size else 0.0
            info["grad_max_abs_diff"] = diff
            ok = ok and diff <= tol * max(scale, 1e-30)
    info["agree"] = bool(ok)
    return info


def run_row(row, shape, dtype, rng, args, mods, ctx):
    inp = specs.MAKERS[row.loss](rng, dtype, shape)
    impls = build_impls(row.loss, inp, [p for p in row.peers if p in args.peers], mods,
                        args.threads, ctx)
    out = {
        "loss": row.loss,
        "label": row.label_for(shape),
        "shape": list(shape),
        "params": {k: (v if not isinstance(v, np.ndarray) else f"array{v.shape}")
                   for k, v in inp.params.items()},
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
        row_roof["value_and_grad"] = lambda: probe.three(pa, ta, third.ctypes.data, n4,
                                                         args.threads)
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
        timed = measure_interleaved(cases, repeats=args.repeats, budget_s=args.budget,
                                    small_target_s=args.small_target)
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
    sizes = [10**k for k in range(3, 8)] if args.quick else [
        int(round(10 ** (k / 2), -(k // 2))) for k in range(6, 17)]  # 1e3, 3e3, 1e4, ...
    sizes = [s for s in sizes if s <= args.scaling_max] or [args.scaling_max]
    out = {"sizes": sizes, "threads": thread_counts, "verb": "value_and_grad (out=)",
           "losses": {}, "compute_speedup": {}}
    top = max(thread_counts)
    probe_cases = {}
    if probe is not None and top > 1:
        probe_cases = {"probe 1": (lambda: probe.compute(1, 1000), None),
                       f"probe {top}": (lambda: probe.compute(top, 1000), None)}

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
            prm = {k: (v[:rows] if isinstance(v, np.ndarray) else v)
                   for k, v in big.params.items()}
            cases = {str(th): (lambda p=p, t=t, g=g, prm=prm, L=L:
                               L.value_and_grad(p, t, out=g, **prm), threads(th))
                     for th in thread_counts}
            res = measure_interleaved({**cases, **probe_cases}, repeats=args.repeats,
                                      budget_s=args.budget, small_target_s=args.small_target)
            for th in thread_counts:
                stats, _ = res[str(th)]
                curves[str(th)].append({"n": int(p.size), "median_s": stats["median_s"],
                                        "ns_per_element": stats["median_s"] / p.size * 1e9,
                                        "repeats": stats["repeats"]})
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


def plot_scaling(scaling, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = ["-", "--", ":", "-."]
    colors = {}
    for loss, curves in scaling["losses"].items():
        for i, (th, pts) in enumerate(sorted(curves.items(), key=lambda kv: int(kv[0]))):
            line, = ax.plot([q["n"] for q in pts], [q["ns_per_element"] for q in pts],
                            styles[i % len(styles)], marker="o", ms=3,
                            color=colors.get(loss),
                            label=f"{loss}, {th} thread{'s' if th != '1' else ''}")
            colors[loss] = line.get_color()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("elements (pred.size)")
    ax.set_ylabel("ns per element (median)")
    ax.set_title("fastloss value_and_grad (out=), time per element")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------
# machine, report


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
                    flags = " ".join(f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f",
                                                 "avx512bw", "avx512vl") if f in fl)
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
    versions = {"python": sys.version.split()[0], "numpy": np.__version__,
                "fastloss": getattr(fastloss, "__version__", "?")}
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


def fmt_time(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms" if s < 0.01 else f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def cell(res, name):
    v = res.get(name)
    if v is None:
        return "—"
    if "error" in v:
        return "error"
    txt = fmt_time(v["median_s"])
    if v.get("reduced"):
        txt += "†"
    if "ratio" in v:
        txt += f" ({v['ratio']:.2g}×)" if v["ratio"] < 10 else f" ({v['ratio']:.0f}×)"
    if v.get("agree") is False:
        txt += " ≠"
    return txt


def table_rows(results):
    cols = ["fastloss", "fastloss_nocache", "fastloss_out", *PEERS]
    head = ["work", "verb", *[PEER_TITLES[c] for c in cols], "fastest peer", "× fastest peer",
            "% roof", "new buffer − out= (faults)"]
    lines = []
    for r in results:
        for verb, res in r["verbs"].items():
            s = r["summary"][verb]
            fp = (f"{PEER_TITLES[s['fastest_peer']]} {fmt_time(s['fastest_peer_s'])}"
                  if "fastest_peer" in s else "—")
            sp = "—"
            if "speedup" in s:
                sp = f"{s['speedup']:.2f}×"
                if "speedup_nocache" in s:
                    sp += f" / {s['speedup_nocache']:.2f}× cache off"
                if "speedup_out" in s:
                    sp += f" / {s['speedup_out']:.2f}× out="
            roof = "—"
            if r["bandwidth_bound"] and "roof_pct" in s:
                roof = f"{s['roof_pct']:.0f}%"
                if "roof_pct_nocache" in s:
                    roof += f" / {s['roof_pct_nocache']:.0f}% cache off"
                if "fresh_roof_pct" in s:
                    roof += f" ({s['fresh_roof_pct']:.0f}% of fresh)"
                if "roof_pct_out" in s:
                    roof += f" / {s['roof_pct_out']:.0f}% out="
            fresh = "—"
            if "faults_s" in s:
                fresh = f"{fmt_time(s['fresh_extra_s'])} ({fmt_time(s['faults_s'])})"
            vname = "value" if verb == "value" else "value+grad"
            lines.append([r["label"], vname, *[cell(res, c) for c in cols], fp, sp, roof, fresh])
    return head, lines


def print_table(results, roof):
    head, lines = table_rows(results)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for ln in lines:
        print("  ".join(str(x).ljust(w) for x, w in zip(ln, widths)))
    if roof:
        print(f"\nstreaming-read roof: {roof['read_GBps']:.1f} GB/s ({roof['read_by']}); "
              f"read+write into a buffer in use {roof['read_write_out_GBps']:.1f} GB/s, "
              f"into fresh outputs {roof['read_write_fresh_GBps']:.1f} GB/s")
    print("(x): peer median / fastloss median (fresh output, buffer cache on); † fewer repeats; "
          "≠ peer disagrees")


def write_report(path, data, plot_path):
    m = data["machine"]
    roof = data.get("roof")
    head, lines = table_rows(data["results"])
    out = io.StringIO()
    w = out.write
    w("# fastloss benchmarks\n\n")
    w(f"Produced by `{m['command']}` on {m['date']}.\n\n")
    w(f"{m['threads']} threads, {m['dtype']}, median of >= {data['repeats']} calls after "
      "warm-up, all implementations in one process on the same inputs. "
      "Each peer cell: median (peer median / fastloss median, so > 1 means fastloss is "
      "faster). \"fastloss\": value+grad returning a fresh gradient, the default way; "
      "from 1 MiB up its memory comes from fastloss's buffer cache "
      "(`fastloss.set_buffer_cache`), so in a loop such as this one each call reuses the "
      "buffer the previous call's gradient freed. \"cache off\": the same call with the "
      "cache off, each gradient a new NumPy buffer faulted in page by page (what a first "
      "call pays). \"out=\": the gradient written into a buffer the caller passes. "
      "\"× fastest peer\": the fastest peer's median over fastloss's, in that order. "
      "\"% roof\": bytes read (value) or bytes "
      "read + gradient bytes written (value+grad) per second, as a share of the streaming-read "
      "roof (bandwidth-bound losses with at least 32 MiB of input only): the roof of the row's "
      "own bytes, read alongside by `roof_probe.cpp` in the same rounds as the "
      "implementations where the probe compiled (the bandwidth drifts over a run) -- its "
      "inputs for the value; its inputs and a third array of the gradient's size for "
      "value+grad, so the probe's working set is the cell's -- else the "
      "roof below; \"of fresh\": "
      "the cache-off figure as a share of the fresh-output read+write roof (the page "
      "faults of a new buffer included). \"new buffer − out=\": how much longer value+grad "
      "takes with the cache off than with `out=`, and in brackets what "
      "faulting in a new buffer of the gradient's size alone takes (`np.empty`, then "
      "`roof_probe.cpp` writing one byte per 4 KiB page on the same threads, timed in the "
      "same rounds; gradients of at least 32 MiB). "
      "† fewer repeats (slow call, budget); "
      "≠ the peer's result disagrees with fastloss's (not counted as fastest); "
      "— not installed or no such peer.\n\n")
    w("| " + " | ".join(head) + " |\n")
    w("|" + "---|" * len(head) + "\n")
    for ln in lines:
        w("| " + " | ".join(str(x) for x in ln) + " |\n")
    if data.get("skipped"):
        w(f"\nNot in this fastloss (skipped): {', '.join(data['skipped'])}.\n")
    if roof:
        w("\n## Memory roof (same run)\n\n")
        w(f"Streaming read: **{roof['read_GBps']:.1f} GB/s** (best of the reductions below, "
          f"each over a {roof['bytes'] / 2**20:.0f} MiB float32 array).\n\n")
        w("| measurement | GB/s | median |\n|---|---|---|\n")
        for k, v in {**roof["read_candidates"], **roof["read_write"]}.items():
            w(f"| {k} | {v['GBps']:.1f} | {fmt_time(v['median_s'])} |\n")
        cs = roof.get("compute_scaling")
        if cs:
            w(f"\nCompute scaling: a compute-bound loop (`roof_compute` in `roof_probe.cpp`, "
              f"L1-resident) runs {cs['speedup']:.2f}× as fast on {cs['threads']} threads as on "
              "one; below 2 the threads share a core's execution units (hyperthreads, or "
              "vCPUs on one core), which bounds what the second thread can add to a "
              "compute-bound loss.\n")
    sc = data.get("scaling")
    if sc and sc["losses"]:
        w("\n## Scaling\n\n")
        w(f"fastloss {sc['verb']}, ns per element (median).\n\n")
        if plot_path:
            rel = os.path.relpath(plot_path, os.path.dirname(os.path.abspath(path)))
            w(f"![time per element]({rel})\n\n")
        ths = [str(t) for t in sc["threads"]]
        w("| loss | threads | " + " | ".join(specs._fmt_dim(n) for n in sc["sizes"]) + " |\n")
        w("|---|---|" + "---|" * len(sc["sizes"]) + "\n")
        top = ths[-1]
        for loss, curves in sc["losses"].items():
            for th in ths:
                pts = curves.get(th, [])
                w(f"| {loss} | {th} | " + " | ".join(f"{q['ns_per_element']:.3g}" for q in pts)
                  + " |\n")
            if len(ths) > 1:
                sp = [a["median_s"] / b["median_s"]
                      for a, b in zip(curves.get(ths[0], []), curves.get(top, []))]
                w(f"| {loss} | speedup {top}/{ths[0]} | " + " | ".join(f"{v:.2f}" for v in sp)
                  + " |\n")
            cs = sc.get("compute_speedup", {}).get(loss)
            if cs:
                w(f"| {loss} | compute probe {top}/1 | " + " | ".join(f"{v:.2f}" for v in cs)
                  + " |\n")
        if sc.get("compute_speedup"):
            w(f"\nThe thread counts at each size are timed in the same rounds; \"compute "
              f"probe\" is `roof_compute` (L1-resident, compute-bound) on {top} threads against "
              "one, timed in those rounds too: what a second thread could add just then. "
              "Where it reads near 1, the host was running both vCPUs on one core.\n")
    w("\n## Peers\n\n")
    w("- NumPy ref: `fastloss.reference`, the float64 NumPy oracle (value and gradient "
      "always computed together).\n"
      "- PyTorch: `torch.nn.functional` where it has the loss, else the formula in torch "
      "ops; value under `torch.no_grad()`, value+grad by autograd on a fresh "
      "`requires_grad` leaf (created outside the timed region), `.item()` and `.grad`.\n"
      "- JAX: the formula in `jax.numpy`, `jax.jit` of the loss and of "
      "`jax.value_and_grad`; compile excluded, `block_until_ready` included.\n"
      "- sklearn metric: `sklearn.metrics` (value only). sklearn _loss: "
      "`sklearn._loss.loss` classes with `n_threads`; value = `loss(...)` (np.average of "
      "the per-sample losses), value+grad = `loss_gradient` + mean. Constant factors "
      "(not applied in the timings, used in the check): "
      + "; ".join(f"{k}: {v.note or 'x1'}, gradient not divided by n"
                  for k, v in specs.SK_LOSS.items()) + ".\n")
    w("\n## Machine\n\n")
    w(f"- CPU: {m['cpu']} ({m['cores']} logical CPUs, {m['usable_cpus']} usable; "
      f"{m['cpu_flags']}); memory {m['memory_GiB']} GiB; {m['platform']}\n")
    w("- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "\n")
    w("- Thread control: " + "; ".join(m["thread_control"]) + "\n")
    if m.get("cap"):
        w(f"- Capped at {m['cap']} (`--cap {m['cap']}`): "
          + ", ".join(f"{k}={v}" for k, v in m["cap_env"].items()) + "\n")
    if m.get("isa_used"):
        w("- Vector level in use: " + "; ".join(f"{k}: {v}" for k, v in m["isa_used"].items())
          + "\n")
    w("\n")
    w("```\n" + m["fastloss_show_config"] + "\n```\n")
    with open(path, "w") as f:
        f.write(out.getvalue())


# --------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="1/10 sizes, 3 repeats, scaling up to 1e7: a smoke test")
    ap.add_argument("--losses", default="", help="comma-separated loss names (default: all)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated peers among {','.join(PEERS)} (default: all)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every implementation (default: min(2, usable CPUs))")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed calls per cell (default 7; --quick 3)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per cell before repeats are cut (default 4; --quick 2)")
    ap.add_argument("--cap", choices=sorted(CAPS), default=None,
                    help="cap fastloss and every peer at this ISA level (their own "
                         "switches: FASTLOSS_ISA, XLA_FLAGS=--xla_cpu_max_isa, "
                         "ATEN_CPU_CAPABILITY, NPY_DISABLE_CPU_FEATURES, OPENBLAS_CORETYPE)")
    ap.add_argument("--no-roof", action="store_true", help="skip the roof measurement")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling study")
    ap.add_argument("--scaling-max", type=float, default=None,
                    help="largest scaling size (default 1e8; --quick 1e7)")
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
    scaling_threads = sorted({1, min(2, len(usable_cpus())), args.threads} & set(
        range(1, len(usable_cpus()) + 1)))

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

    data = {"machine": machine_info(args, mods, notes), "repeats": args.repeats,
            "skipped": skipped, "peers_installed": sorted(
                k for k in ("torch", "jax", "sklearn") if k in mods)}
    print(data["machine"]["fastloss_show_config"])
    print(f"threads {args.threads}, {args.dtype}, peers installed: "
          f"{', '.join(data['peers_installed']) or 'none'}")
    if skipped:
        print(f"not in this fastloss yet (skipped): {', '.join(skipped)}")
    t_start = time.perf_counter()
    rng = np.random.default_rng(1234)
    with ctx_limits:
        roof = None
        probe = None if args.no_roof and args.no_scaling else load_roof_probe()
        if not args.no_roof:
            roof = measure_roof(args.threads, (64 if args.quick else 256) * 2**20,
                                args.repeats, mods, probe)
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
            print(f"  {r['label']:<40} done in {time.perf_counter() - t0:5.1f} s"
                  f"  (fastloss value+grad {fmt_time(fl)})", flush=True)
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
