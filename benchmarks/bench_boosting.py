"""XGBoost and LightGBM with a fastloss objective: the objective's own call
inside xgb.train / lgb.train against the same call outside, and against the
same objective written in NumPy.

    PYTHONPATH=python python benchmarks/bench_boosting.py [--rows 200000] [--rounds 50]
        [--flush-mb 64] [--parts] [--no-lightgbm] [--nthread N]

Inside/outside: every call the booster makes is timed around the objective
itself (not the tree building); the margins it was given are kept, and after
training the same objective is called on the same margins, outside any
booster, and timed the same way, twice:

* warm: call after call, so the labels, margins and outputs of the last
  call are still in the CPU's caches;
* cold: before each call (untimed) a buffer of ``--flush-mb`` MiB is
  written, as the booster's tree building overwrites the caches between
  two objective calls inside (200,000 x 20 features: its binned matrix
  alone is 4 MB, the L2 cache of this machine's cores 2 MiB each);
* spaced: before each call the script sleeps as long as the booster spent
  between two calls inside (the median interval): no booster, no flush,
  only the time in which the machine's other work runs on the cores.

The ratios inside / warm, inside / cold and inside / spaced are what issue
20 bounds (<= 1.5): the warm ratio is the strict one, the other two say how
much of it is the caches. Rows: the NumPy objective; the adapter's default (fastloss
single-threaded inside the callback); ``threads=None`` (fastloss keeps its
own thread count), which is what a plain callback does; and for XGBoost the
adapter as it was before it read the labels without a copy
(``dtrain.get_label()`` / ``get_weight()``, which copy on every call).

``--parts`` splits each call of the default XGBoost objective into its
parts, inside, warm and cold (medians over the calls, ms): reading label and
weight (``fastloss.xgboost._info``), setting and restoring the thread count,
the ``grad_hess`` verb (argument checks, output allocation and the kernel);
"rest" is the call's remainder (shaping, scale).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_logistic_xgb(predt, dtrain):
    y = dtrain.get_label()
    p = 1.0 / (1.0 + np.exp(-predt))
    return p - y, p * (1.0 - p)


def numpy_logistic_lgb(preds, data):
    y = data.get_label()
    p = 1.0 / (1.0 + np.exp(-preds))
    return p - y, p * (1.0 - p)


def timed(obj, log, keep=None, starts=None):
    def inner(predt, data):
        t = time.perf_counter()
        r = obj(predt, data)
        log.append(time.perf_counter() - t)
        if starts is not None:
            starts.append(t)
        if keep is not None:  # after the timing: a copy first would warm the margins
            keep.append((predt.copy(), data))
        return r

    return inner


class Parts:
    """Times the parts of ``XGBObjective.__call__`` by wrapping what it calls
    (the module's ``_info``, ``_temporary_threads`` and the loss's
    ``grad_hess``), so the code measured is the adapter's own."""

    KEYS = ("labels", "threads", "grad_hess", "rest", "total")

    def __init__(self, obj):
        import fastloss._boosting as fb
        import fastloss.xgboost as flx

        self.obj, self.fb, self.flx = obj, fb, flx
        self.cur = None
        self.log = []

    def _wrap(self, fn, key):
        def w(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.cur[key] += time.perf_counter() - t

        return w

    def __enter__(self):
        parts = self
        base = self.fb._temporary_threads

        class Threads(base):
            __slots__ = ()

            def __enter__(self):
                t = time.perf_counter()
                base.__enter__(self)
                parts.cur["threads"] += time.perf_counter() - t

            def __exit__(self, *exc):
                t = time.perf_counter()
                base.__exit__(self, *exc)
                parts.cur["threads"] += time.perf_counter() - t
                return False

        self.saved = (self.flx._info, self.fb._temporary_threads, self.obj.loss)
        loss = self.obj.loss

        class Proxy:
            def __getattr__(_, name):
                return getattr(loss, name)

        proxy = Proxy()
        proxy.grad_hess = self._wrap(loss.grad_hess, "grad_hess")
        self.flx._info = self._wrap(self.flx._info, "labels")
        self.fb._temporary_threads = Threads
        self.obj.loss = proxy
        return self

    def __exit__(self, *exc):
        self.flx._info, self.fb._temporary_threads, self.obj.loss = self.saved
        return False

    def __call__(self, predt, dtrain):
        self.cur = dict.fromkeys(self.KEYS, 0.0)
        t = time.perf_counter()
        r = self.obj(predt, dtrain)
        self.cur["total"] = time.perf_counter() - t
        self.cur["rest"] = self.cur["total"] - sum(
            self.cur[k] for k in ("labels", "threads", "grad_hess")
        )
        self.log.append(self.cur)
        return r

    def medians(self):
        return {k: 1e3 * float(np.median([c[k] for c in self.log])) for k in self.KEYS}


def outside(obj, kept, flush=None, pause=0.0):
    """Times ``obj`` on the kept (margin, data) pairs; with ``flush``, writes
    that buffer (untimed) before each call; with ``pause``, sleeps that long
    (seconds) before each call."""
    log = []
    f = timed(obj, log)
    for m, data in kept:
        if flush is not None:
            flush += 1.0
        if pause:
            time.sleep(pause)
        f(m, data)
    return log


def three(obj, kept, flush, starts):
    """Outside warm, cold, and spaced as inside (the median interval between
    the booster's calls), for one objective."""
    pause = float(np.median(np.diff(starts))) if len(starts) > 1 else 0.0
    return outside(obj, kept), outside(obj, kept, flush), outside(obj, kept, pause=pause), pause


def report(label, total, inside, warm, cold, spaced, pause):
    mi, mw, mc, ms = (np.median(x) * 1e3 for x in (inside, warm, cold, spaced))
    print(
        f"{label:40s} train {total:6.2f} s | call: inside {mi:6.3f} ms, outside warm "
        f"{mw:6.3f}, cold {mc:6.3f}, spaced {ms:6.3f} ms | ratio warm {mi / mw:5.2f}, "
        f"cold {mi / mc:5.2f}, spaced {mi / ms:5.2f} ({pause * 1e3:.0f} ms apart)"
    )


def main(argv=None):
    import fastloss as fl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--flush-mb", type=int, default=64, help="buffer written before a cold call")
    ap.add_argument("--parts", action="store_true", help="split the default objective's calls")
    ap.add_argument("--no-lightgbm", action="store_true")
    ap.add_argument(
        "--nthread", type=int, default=0, help="the boosters' threads (default: their own)"
    )
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=args.rows) > 0).astype(np.float32)
    flush = np.zeros((args.flush_mb << 20) // 8)
    print(
        f"{args.rows} rows, {args.features} features, {args.rounds} rounds; "
        f"fastloss threads {fl.get_num_threads()}; "
        f"cold: {args.flush_mb} MiB written before each call"
    )
    name = "binary_cross_entropy_with_logits"

    import xgboost as xgb

    import fastloss.xgboost as flx

    d = xgb.DMatrix(X, label=y)
    params = {"max_depth": 6, "eta": 0.3, "base_score": 0.0, "tree_method": "hist"}
    if args.nthread:
        params["nthread"] = args.nthread
    default = flx.objective(name)

    def copying(predt, dtrain):  # the adapter before: XGBoost's copying getters
        return default.grad_hess(predt, dtrain.get_label(), dtrain.get_weight())

    print(f"XGBoost {xgb.__version__}")
    rows = [
        ("numpy objective", numpy_logistic_xgb),
        ("fastloss, threads=1 (default)", default),
        ("fastloss, threads=1, get_label() copies", copying),
        ("fastloss, threads=None", flx.objective(name, threads=None)),
    ]
    for label, obj in rows:
        inside, kept, starts = [], [], []
        t = time.perf_counter()
        xgb.train(params, d, args.rounds, obj=timed(obj, inside, kept, starts))
        total = time.perf_counter() - t
        report(label, total, inside, *three(obj, kept, flush, starts))

    if args.parts:
        obj = flx.objective(name)
        parts_in, kept = Parts(obj), []
        with parts_in:
            xgb.train(params, d, args.rounds, obj=timed(parts_in, [], kept))
        parts_warm, parts_cold = Parts(obj), Parts(obj)
        with parts_warm:
            outside(parts_warm, kept)
        with parts_cold:
            outside(parts_cold, kept, flush)
        print("parts of the default objective's call (medians, ms):")
        print(f"  {'':8s}" + "".join(f"{k:>11s}" for k in Parts.KEYS))
        for label, p in (("inside", parts_in), ("warm", parts_warm), ("cold", parts_cold)):
            print(f"  {label:8s}" + "".join(f"{v:11.3f}" for v in p.medians().values()))

    if args.no_lightgbm:
        return
    try:
        import lightgbm as lgb
    except ImportError:
        print("LightGBM not installed: no LightGBM rows")
        return
    import fastloss.lightgbm as fll

    ds = lgb.Dataset(X, label=y, free_raw_data=False)
    lparams = {"max_depth": 6, "num_leaves": 63, "learning_rate": 0.3, "verbose": -1}
    if args.nthread:
        lparams["num_threads"] = args.nthread
    print(f"LightGBM {lgb.__version__}")
    rows = [
        ("numpy objective", numpy_logistic_lgb),
        ("fastloss, threads=1 (default)", fll.objective(name)),
        ("fastloss, threads=None", fll.objective(name, threads=None)),
    ]
    for label, obj in rows:
        inside, kept, starts = [], [], []
        t = time.perf_counter()
        lgb.train(
            dict(lparams, objective=timed(obj, inside, kept, starts)),
            ds,
            num_boost_round=args.rounds,
        )
        total = time.perf_counter() - t
        report(label, total, inside, *three(obj, kept, flush, starts))


if __name__ == "__main__":
    main()
