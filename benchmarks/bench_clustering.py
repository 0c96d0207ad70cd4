"""kmeans_inertia against scikit-learn's own assignment step, in one run.

scikit-learn's KMeans assigns rows and sums the inertia with the private
``sklearn.cluster._kmeans._labels_inertia_threadpool_limit(X, sample_weight,
centers, n_threads)`` (BLAS distances in chunks, Cython argmin); fastloss
with ``kmeans_inertia(X, centers, reduction="sum", return_labels=True)``,
the same outputs (value+grad adds the gradient w.r.t. the centers, which
scikit-learn has no function for: its ratio is against the same peer
call). Float32 ``1e6 x 32`` rows, 64 centers, ``--threads`` threads on
both. Medians of interleaved rounds (measure.measure_interleaved); the
ratio is scikit-learn's median over fastloss's (above 1: fastloss faster).
Labels and inertia are checked to agree before the row is trusted.

    python benchmarks/bench_clustering.py --threads 2 [--n 1000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure import control_threads, measure_interleaved  # noqa: E402


def run(n, d, k, threads, repeats):
    notes = control_threads(threads)
    from sklearn.cluster._kmeans import _labels_inertia_threadpool_limit

    import fastloss as fl

    fl.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    C = X[rng.choice(n, size=k, replace=False)].copy()
    w = np.ones(n, np.float32)
    L = fl.kmeans_inertia
    res = measure_interleaved(
        {
            "fastloss value": (lambda: L(X, C, reduction="sum", return_labels=True), None),
            "fastloss value+grad": (
                lambda: L.value_and_grad(X, C, reduction="sum", return_labels=True),
                None,
            ),
            "sklearn": (lambda: _labels_inertia_threadpool_limit(X, w, C, threads), None),
        },
        repeats=repeats,
    )
    for r in res.values():
        if isinstance(r, Exception):
            raise r
    (fv, fl_labels), (sl, si) = res["fastloss value"][1], res["sklearn"][1]
    agree = bool(np.array_equal(fl_labels, sl)) and abs(fv - si) <= 1e-4 * abs(si)
    med = {k: r[0]["median_s"] for k, r in res.items()}
    row = {
        "loss": "kmeans_inertia",
        "shapes": [[n, d], [k, d]],
        "fastloss_value_ms": med["fastloss value"] * 1e3,
        "fastloss_vg_ms": med["fastloss value+grad"] * 1e3,
        "sklearn_ms": med["sklearn"] * 1e3,
        "value_ratio": med["sklearn"] / med["fastloss value"],
        "vg_ratio": med["sklearn"] / med["fastloss value+grad"],
        "agree": agree,
    }
    return notes, row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    notes, r = run(a.n, a.d, a.k, a.threads, a.repeats)
    print("; ".join(notes))
    print(
        f"{'loss':16} {'value ms':>9} {'v+g ms':>9} {'sklearn':>9} {'ratio':>6} {'v+g':>6}  agree"
    )
    print(
        f"{r['loss']:16} {r['fastloss_value_ms']:9.2f} {r['fastloss_vg_ms']:9.2f} "
        f"{r['sklearn_ms']:9.2f} {r['value_ratio']:6.2f} {r['vg_ratio']:6.2f}  {r['agree']}"
    )
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "notes": notes, "row": r}, f, indent=1)


if __name__ == "__main__":
    main()
