"""XGBoost with a fastloss objective: against the same objective in NumPy, and
the objective's own call inside xgb.train against the same call outside.

    PYTHONPATH=python python benchmarks/bench_boosting.py [--rows 200000] [--rounds 50]

Inside/outside: every call the booster makes is timed around the objective
itself (not the tree building); the margins it was given are kept, and after
training the same objective is called on the same margins, outside any
booster, and timed the same way. The ratio of the medians is what issue 20
bounds (<= 1.5). Run once with the adapter's default (fastloss
single-threaded inside the callback) and once with ``threads=None`` (fastloss
keeps its own thread count), which is what a plain callback does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_logistic(predt, dtrain):
    y = dtrain.get_label()
    p = 1.0 / (1.0 + np.exp(-predt))
    return p - y, p * (1.0 - p)


def timed(obj, log, keep=None):
    def inner(predt, dtrain):
        t = time.perf_counter()
        r = obj(predt, dtrain)
        log.append(time.perf_counter() - t)
        if keep is not None:
            keep.append(predt.copy())
        return r

    return inner


def main(argv=None):
    import xgboost as xgb

    import fastloss as fl
    import fastloss.xgboost as flx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--features", type=int, default=20)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=args.rows) > 0).astype(np.float32)
    d = xgb.DMatrix(X, label=y)
    params = {"max_depth": 6, "eta": 0.3, "base_score": 0.0, "tree_method": "hist"}
    print(
        f"{args.rows} rows, {args.features} features, {args.rounds} rounds; "
        f"fastloss threads {fl.get_num_threads()}"
    )
    name = "binary_cross_entropy_with_logits"
    rows = [
        ("numpy objective", numpy_logistic),
        ("fastloss, threads=1 (default)", flx.objective(name)),
        ("fastloss, threads=None", flx.objective(name, threads=None)),
    ]
    for label, obj in rows:
        inside, margins = [], []
        t = time.perf_counter()
        xgb.train(params, d, args.rounds, obj=timed(obj, inside, margins))
        total = time.perf_counter() - t
        outside = []
        f = timed(obj, outside)
        for m in margins:
            f(m, d)
        mi, mo = np.median(inside) * 1e3, np.median(outside) * 1e3
        print(
            f"{label:32s} train {total:7.2f} s | objective call: inside {mi:7.3f} ms, "
            f"outside {mo:7.3f} ms, ratio {mi / mo:5.2f}"
        )


if __name__ == "__main__":
    main()
