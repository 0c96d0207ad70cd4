#!/usr/bin/env python3
"""fastloss.jax against JAX's own jit formula: value_and_grad under jax.jit.

    python benchmarks/bench_jax.py [--threads 2] [--quick] [--json out.json]

Rows: the issue-3 rows of benchmarks/specs.py (float32), inputs from its
MAKERS and JAX's formula from its EXPR (the same code the main table's "jax"
column times). Each sample is one call of ``jax.jit(jax.value_and_grad(f))``
on arrays already on the device, with ``block_until_ready`` on the gradient,
for ``f`` = the JAX formula and ``f`` = ``fastloss.jax.<loss>`` (one XLA FFI
call into the kernels). The fastloss core on NumPy arrays
(``loss.value_and_grad``) is timed alongside, to show what the FFI path
costs over the kernels. Interleaved rounds (``measure.measure_interleaved``)
so a neighbour's load falls on all alike; medians, and the ratio
JAX / fastloss.jax (> 1: fastloss.jax is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import measure  # noqa: E402
import specs  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="rows / 10, 3 repeats")
    ap.add_argument("--json", help="write the medians here")
    args = ap.parse_args(argv)

    notes = measure.control_threads(args.threads)  # before jax is imported
    import jax
    import numpy as np

    import fastloss as fl
    import fastloss.jax as flj

    fl.set_num_threads(args.threads)
    kw = {"repeats": 3, "budget_s": 3.0} if args.quick else {"repeats": 9, "budget_s": 8.0}
    rng = np.random.default_rng(0)
    JB = specs.Jax()
    print(
        f"jax {jax.__version__}, fastloss {fl.__version__}, {args.threads} threads, float32; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; " + "; ".join(notes)
    )
    print(f"{'case':<40}{'JAX ms':>9}{'fastloss.jax ms':>17}{'core ms':>10}{'ratio':>8}")
    results = []
    for row in specs.ROWS:
        if not row.issue3 or row.loss not in specs.EXPR:
            continue
        shape = row.shape_for(args.quick)
        inp = specs.MAKERS[row.loss](rng, np.float32, shape)
        p, t, prm = inp.pred, inp.target, inp.params
        if t.dtype == np.int64:
            t = t.astype(np.int32)  # JAX without x64 has no int64
        P, T = jax.device_put(p), jax.device_put(t)
        expr, ours = specs.EXPR[row.loss], getattr(flj, row.loss)
        theirs = jax.jit(jax.value_and_grad(lambda a, b, e=expr, k=prm: e(JB, a, b, **k)))
        mine = jax.jit(jax.value_and_grad(lambda a, b, f=ours, k=prm: f(a, b, **k)))
        core = fl.get(row.loss).value_and_grad

        def run(f, f_args):
            def call():
                v, g = f(*f_args)
                g.block_until_ready()
                return float(v)

            return call

        res = measure.measure_interleaved(
            {
                "jax": (run(theirs, (P, T)), None),
                "fastloss.jax": (run(mine, (P, T)), None),
                "core": (lambda f=core, a=p, b=inp.target, k=prm: float(f(a, b, **k)[0]), None),
            },
            **kw,
        )
        for r in res.values():
            if isinstance(r, Exception):
                raise r
        label = row.label_for(shape)
        vj, vf = res["jax"][1], res["fastloss.jax"][1]
        if not np.isclose(vj, vf, rtol=1e-4):
            raise SystemExit(f"{label}: values differ: JAX {vj}, fastloss.jax {vf}")
        tj, tf, tc = (res[k][0]["median_s"] for k in ("jax", "fastloss.jax", "core"))
        print(
            f"{label:<40}{tj * 1e3:>9.3f}{tf * 1e3:>17.3f}{tc * 1e3:>10.3f}{tj / tf:>7.2f}x",
            flush=True,
        )
        results.append(
            {
                "case": label,
                "jax_ms": tj * 1e3,
                "fastloss_jax_ms": tf * 1e3,
                "fastloss_core_ms": tc * 1e3,
                "ratio": tj / tf,
                "repeats": res["jax"][0]["repeats"],
            }
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "notes": notes, "rows": results}, fh, indent=1)


if __name__ == "__main__":
    main()
