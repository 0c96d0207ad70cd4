"""linear_cross_entropy against PyTorch's own, in one run.

fastloss's ``linear_cross_entropy(hidden, W, labels, b)`` (chunks of rows:
NumPy's BLAS for the three matrix products, the cross_entropy kernel for
each chunk's value and gradient) against
``torch.nn.functional.linear_cross_entropy`` (PyTorch 2.13) on its
reference path (``options=None``: the whole ``(N, C)`` logits, autograd)
and its chunked path (``options=LinearCrossEntropyOptions()``). Value+grad
is fastloss's ``value_and_grad`` against torch's forward + ``backward()``
(gradients w.r.t. hidden, weight and bias in both); value alone against
torch's forward under ``no_grad``. Float32, ``--threads`` threads for every
library (fastloss, NumPy's BLAS through threadpoolctl, torch). Medians of
interleaved rounds (measure.measure_interleaved); a ratio is the fastest
torch path's median over fastloss's (above 1: fastloss faster). The values
are checked to agree before the row is trusted.

    python benchmarks/bench_linear.py --threads 2 [--n 2048 --d 512 --c 32768] [--no-chunked]
        [--json out.json]
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure import control_threads, measure_interleaved, side_parser, write_json  # noqa: E402

# the losses this script's rows time (benchmarks/test_bench.py checks that
# every loss has a row somewhere)
LOSSES = ("linear_cross_entropy",)


def run(n, d, c, threads, repeats, chunked=True, blas_threads=None):
    notes = control_threads(threads)
    import torch
    from threadpoolctl import threadpool_limits

    import fastloss as fl

    fl.set_num_threads(threads)
    torch.set_num_threads(threads)
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    h = rng.standard_normal((n, d), dtype=np.float32)
    W = rng.standard_normal((c, d), dtype=np.float32) / np.float32(np.sqrt(d))
    b = rng.standard_normal(c, dtype=np.float32)
    y = rng.integers(0, c, size=n)
    L = fl.linear_cross_entropy
    th, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (h, W, b))
    ty = torch.from_numpy(y)

    def torch_vg(options):
        def f():
            for x in (th, tw, tb):
                x.grad = None
            out = F.linear_cross_entropy(th, tw, ty, linear_bias=tb, options=options)
            out.backward()
            return out.item()

        return f

    def torch_value(options):
        def f():
            with torch.no_grad():
                return F.linear_cross_entropy(th, tw, ty, linear_bias=tb, options=options).item()

        return f

    blas = threads if blas_threads is None else blas_threads

    def ours(f):
        # fastloss's products on NumPy's BLAS with `blas` threads
        def g():
            with threadpool_limits(blas, user_api="blas"):
                return f()

        return g

    cases = {
        "fastloss value": (ours(lambda: L(h, W, y, b)), None),
        "fastloss value+grad": (ours(lambda: L.value_and_grad(h, W, y, b)[0]), None),
        "torch value": (torch_value(None), None),
        "torch value+grad": (torch_vg(None), None),
    }
    if chunked:
        opts = torch.nn.LinearCrossEntropyOptions()
        cases["torch chunked value"] = (torch_value(opts), None)
        cases["torch chunked value+grad"] = (torch_vg(opts), None)
    with threadpool_limits(threads, user_api="blas"):
        res = measure_interleaved(cases, repeats=repeats, budget_s=60.0)
    if blas != threads:
        notes.append(f"fastloss's NumPy BLAS: {blas} thread(s) (--blas-threads)")
    for r in res.values():
        if isinstance(r, Exception):
            raise r
    values = [r[1] for r in res.values()]
    agree = all(abs(v - values[0]) <= 1e-4 * abs(values[0]) for v in values)
    med = {k: r[0]["median_s"] for k, r in res.items()}
    tv = min(v for k, v in med.items() if k.startswith("torch") and not k.endswith("grad"))
    tvg = min(v for k, v in med.items() if k.startswith("torch") and k.endswith("grad"))
    row = {
        "loss": "linear_cross_entropy",
        "shapes": [[n, d], [c, d]],
        **{k.replace(" ", "_").replace("+", "_") + "_ms": v * 1e3 for k, v in med.items()},
        "value_ratio": tv / med["fastloss value"],
        "vg_ratio": tvg / med["fastloss value+grad"],
        "agree": agree,
    }
    return notes, row


def main(argv=None):
    ap = side_parser(__doc__, repeats=5)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--d", type=int, default=512)
    ap.add_argument("--c", type=int, default=32768)
    ap.add_argument(
        "--no-chunked",
        action="store_true",
        help="leave out torch's chunked path (on CPU it ran 30-70x slower than its reference path)",
    )
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="threads of NumPy's BLAS for fastloss's products (default: --threads)",
    )
    a = ap.parse_args(argv)
    notes, r = run(a.n, a.d, a.c, a.threads, a.repeats, not a.no_chunked, a.blas_threads)
    print("; ".join(notes))
    for k, v in r.items():
        if k.endswith("_ms"):
            print(f"{k[:-3]:28} {v:10.1f} ms")
    print(
        f"ratio (fastest torch / fastloss): value {r['value_ratio']:.2f}, value+grad "
        f"{r['vg_ratio']:.2f}; values agree: {r['agree']}"
    )
    write_json(a.json, threads=a.threads, notes=notes, row=r)


if __name__ == "__main__":
    main()
