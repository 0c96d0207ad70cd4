"""kmeans_inertia against scikit-learn's own assignment step, in one run.

scikit-learn's KMeans assigns rows and sums the inertia with the private
``sklearn.cluster._kmeans._labels_inertia_threadpool_limit(X, sample_weight,
centers, n_threads)`` (BLAS distances in chunks, Cython argmin, then the
inertia in a second pass); fastloss with
``kmeans_inertia.labels(X, centers, return_inertia=True)``, the same
outputs ("labels" column). The value (``kmeans_inertia(X, centers,
reduction="sum")``, the labels not returned) and value+grad (adds the
gradient w.r.t. the centers, which scikit-learn has no function for) are
against the same peer call. Float32 ``1e6 x 32`` rows (``--dtype
float64`` too), 64 centers, ``--threads`` threads on both. Medians of
interleaved rounds (measure.measure_interleaved); a ratio is
scikit-learn's median over fastloss's (above 1: fastloss faster). Labels
and inertia are checked to agree before the row is trusted (a label may
differ only at a near-tie of two centers; the count is reported).

    python benchmarks/bench_clustering.py --threads 2 [--n 1000000] [--json out.json]
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure import control_threads, measure_interleaved, print_table, side_parser, write_json  # noqa: E402

# the losses this script's rows time (benchmarks/test_bench.py checks that
# every loss has a row somewhere)
LOSSES = ("kmeans_inertia",)


def run(n, d, k, threads, repeats, dtype="float32"):
    notes = control_threads(threads)
    from sklearn.cluster._kmeans import _labels_inertia_threadpool_limit

    import fastloss as fl

    fl.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(dtype)
    C = X[rng.choice(n, size=k, replace=False)].copy()
    w = np.ones(n, dtype)
    L = fl.kmeans_inertia
    res = measure_interleaved(
        {
            "fastloss labels": (lambda: L.labels(X, C, return_inertia=True), None),
            "fastloss value": (lambda: L(X, C, reduction="sum"), None),
            "fastloss value+grad": (lambda: L.value_and_grad(X, C, reduction="sum"), None),
            "sklearn": (lambda: _labels_inertia_threadpool_limit(X, w, C, threads), None),
        },
        repeats=repeats,
    )
    for r in res.values():
        if isinstance(r, Exception):
            raise r
    (fl_labels, fv), (sl, si) = res["fastloss labels"][1], res["sklearn"][1]
    # Both assign by ||c||^2 - 2 x.c in the input's precision, summed in
    # different orders (scikit-learn's BLAS uses FMA): a label may differ
    # where two centers are within that rounding of each other, and only there.
    differ = np.flatnonzero(fl_labels != sl)
    Xd = X[differ].astype(np.float64)
    Cd = C.astype(np.float64)
    gap = np.abs(((Xd - Cd[fl_labels[differ]]) ** 2).sum(1) - ((Xd - Cd[sl[differ]]) ** 2).sum(1))
    scale = (Xd**2).sum(1) + (Cd[sl[differ]] ** 2).sum(1)
    eps = np.finfo(dtype).eps
    near_ties = bool(np.all(gap <= 64 * eps * scale))
    agree = near_ties and abs(fv - si) <= 1e-4 * abs(si) and res["fastloss value"][1] == fv
    med = {k: r[0]["median_s"] for k, r in res.items()}
    row = {
        "loss": "kmeans_inertia",
        "dtype": dtype,
        "shapes": [[n, d], [k, d]],
        "fastloss_labels_ms": med["fastloss labels"] * 1e3,
        "fastloss_value_ms": med["fastloss value"] * 1e3,
        "fastloss_vg_ms": med["fastloss value+grad"] * 1e3,
        "sklearn_ms": med["sklearn"] * 1e3,
        "labels_ratio": med["sklearn"] / med["fastloss labels"],
        "value_ratio": med["sklearn"] / med["fastloss value"],
        "vg_ratio": med["sklearn"] / med["fastloss value+grad"],
        "labels_differ": int(differ.size),  # each a near-tie (checked)
        "agree": agree,
    }
    return notes, row


def main(argv=None):
    ap = side_parser(__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    a = ap.parse_args(argv)
    notes, r = run(a.n, a.d, a.k, a.threads, a.repeats, a.dtype)
    print_table(
        notes,
        f"{'loss':16} {'dtype':8} {'labels ms':>9} {'value ms':>9} {'v+g ms':>9} "
        f"{'sklearn':>9} {'labels':>6} {'value':>6} {'v+g':>6}  agree (labels differing)",
        "{loss:16} {dtype:8} {fastloss_labels_ms:9.2f} {fastloss_value_ms:9.2f} "
        "{fastloss_vg_ms:9.2f} {sklearn_ms:9.2f} {labels_ratio:6.2f} {value_ratio:6.2f} "
        "{vg_ratio:6.2f}  {agree} ({labels_differ})",
        [r],
    )
    write_json(a.json, threads=a.threads, notes=notes, row=r)


if __name__ == "__main__":
    main()
