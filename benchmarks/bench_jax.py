#!/usr/bin/env python3
"""fastloss.jax against JAX's own jit formula: value_and_grad under jax.jit.

    python benchmarks/bench_jax.py [--threads 2] [--quick] [--several] [--json out.json]

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

``--several``: instead, the several-input losses of SEVERAL (their rows in
specs.ROWS), value_and_grad w.r.t. every differentiable input
(``argnums``: triplet_margin's anchor, positive and negative; ntxent's two
views; gaussian_nll's pred and var ...). ssim and ms_ssim have no JAX formula
in specs.EXPR, so no row here.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import measure  # noqa: E402
import specs  # noqa: E402

# Several-input losses with a formula in specs.EXPR (issue 20's JAX rows).
SEVERAL = ("triplet_margin", "ntxent", "contrastive", "gaussian_nll", "clip", "margin_ranking")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="rows / 10, 3 repeats")
    ap.add_argument("--several", action="store_true", help="the several-input rows")
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
    done = set()
    for row in specs.ROWS:
        if args.several:
            if row.loss not in SEVERAL or row.loss in done:
                continue
            done.add(row.loss)
        elif not row.issue3 or row.loss not in specs.EXPR:
            continue
        shape = row.shape_for(args.quick)
        inp = specs.MAKERS[row.loss](rng, np.float32, shape)
        loss = fl.get(row.loss)
        # the inputs by position: pred, target, then those the maker passes by
        # name; the rest of its params are parameters
        names = [loss.inputs[0], loss.inputs[1]] + [k for k in inp.params if k in loss.inputs]
        arrays = [inp.pred, inp.target] + [np.asarray(inp.params[k]) for k in names[2:]]
        prm = {k: v for k, v in inp.params.items() if k not in loss.inputs}
        dev = []
        for a in arrays:
            if a.dtype == np.int64:
                a = a.astype(np.int32)  # JAX without x64 has no int64
            dev.append(jax.device_put(a))
        argnums = tuple(i for i, k in enumerate(names) if k in loss.wrt)
        expr, ours = specs.EXPR[row.loss], getattr(flj, row.loss)

        def by_name(f, xs, extra, names=names):
            return f(*xs[:2], **dict(zip(names[2:], xs[2:])), **extra)

        theirs = jax.jit(
            jax.value_and_grad(
                lambda *xs, e=expr, k=prm: by_name(lambda *ys, **kw: e(JB, *ys, **kw), xs, k),
                argnums=argnums,
            )
        )
        mine = jax.jit(
            jax.value_and_grad(lambda *xs, f=ours, k=prm: by_name(f, xs, k), argnums=argnums)
        )

        def run(f, f_args):
            def call():
                v, g = f(*f_args)
                jax.block_until_ready(g)
                return float(v)

            return call

        label = row.label_for(shape)
        med, repeats = measure.compare_medians(
            label,
            {
                "jax": run(theirs, dev),
                "fastloss.jax": run(mine, dev),
                "core": lambda f=loss.value_and_grad, a=arrays, n=names, k=prm: float(
                    by_name(f, a, k, n)[0]
                ),
            },
            **kw,
        )
        tj, tf, tc = med["jax"], med["fastloss.jax"], med["core"]
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
                "repeats": repeats,
            }
        )
    measure.write_json(args.json, threads=args.threads, notes=notes, rows=results)


if __name__ == "__main__":
    main()
