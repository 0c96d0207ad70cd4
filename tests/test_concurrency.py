"""Concurrency and processes: threads, fork/spawn/forkserver, threadpoolctl, leaks.

- Eight Python threads calling eight different losses at once on arrays of
  1e6 elements or more give the serial results bit for bit (the kernels
  release the GIL, so the calls really overlap, and each sizes its own
  parallel region).
- A child made by ``fork`` after the parent ran a parallel kernel does not
  hang (GNU OpenMP's pool does not survive a fork: fastloss's atfork hook
  makes the child run serially) and computes the parent's bits; ``spawn``
  and ``forkserver`` children too. Every wait has a timeout: a hang fails.
- threadpoolctl finds the OpenMP runtime ``_core`` loaded and limits it.
- Memory stays flat over many calls of every verb (value, grad,
  value_and_grad, grad_hess, out=, reduction="none"), buffer cache
  included: the resident set size after a warm-up and after the loop.
  ``FASTLOSS_LEAK_CALLS`` sets the calls per verb of the main loop (default
  5e4, a few seconds; the issue's 1e6 is ``FASTLOSS_LEAK_CALLS=1000000``).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import threading

import numpy as np
import pytest

import fastloss as fl
from cases import make
from fastloss._config import _temporary_threads

BIG = 1_000_000  # elements per input in the thread and process tests
TIMEOUT = 120  # seconds any child or thread may take before it counts as a hang


def _big_inputs(name, seed=0):
    """The loss's test case scaled to >= BIG elements (rows of the case)."""
    rng = np.random.default_rng(seed)
    pred, target, params = make(name, rng, np.float64, 40)
    reps = -(-BIG // pred.size)  # rows repeated: >= BIG elements, same domain
    tile = lambda x: np.concatenate([x] * reps, axis=0)  # noqa: E731
    extra = {k: tile(v) if k in fl.get(name).inputs else v for k, v in params.items()}
    return tile(pred), tile(target), extra


# One loss per family and shape of work: element-wise (regression,
# classification, three inputs), rows, slices, boxes.
EIGHT = [
    "mse",
    "log_cosh",
    "gaussian_nll",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "kl_div",
    "dice",
    "giou_loss",
]


def _compute(name, seed=0):
    pred, target, params = _big_inputs(name, seed)
    loss = fl.get(name)
    v, g = loss.value_and_grad(pred, target, **params)
    none = loss(pred, target, reduction="none", **params)
    gs = g if isinstance(g, tuple) else (g,)
    return v, [np.array(x) for x in gs], np.array(none)


def _same(a, b, what):
    va, ga, na = a
    vb, gb, nb = b
    assert va == vb or (va != va and vb != vb), f"{what}: value {va!r} != {vb!r}"
    for x, y in zip(ga, gb):
        np.testing.assert_array_equal(x, y, err_msg=f"{what}: gradient")
    np.testing.assert_array_equal(na, nb, err_msg=f"{what}: reduction='none'")


# ------------------------------------------------------------------ threads


def test_eight_threads_give_the_serial_results():
    serial = {name: _compute(name) for name in EIGHT}
    results, errors = {}, []
    start = threading.Barrier(len(EIGHT))

    def work(name):
        try:
            start.wait(TIMEOUT)  # all eight enter their kernels together
            for _ in range(3):
                got = _compute(name)
                _same(got, serial[name], name)
            results[name] = got
        except BaseException as exc:  # reported by the main thread
            errors.append((name, exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in EIGHT]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    assert sorted(results) == sorted(EIGHT)


def test_threads_with_their_own_thread_counts():
    # set_num_threads is process-wide and read on every call: threads that
    # change it while others run still get the same bits
    serial = _compute("mse")
    errors = []

    def work(n):
        try:
            for _ in range(3):
                fl.set_num_threads(n)
                _same(_compute("mse"), serial, f"mse with {n} threads")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2, 3, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    fl.set_num_threads(None)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors


# ------------------------------------------------------------------ processes


def _child_compute(name):
    """Run in the child: the results and whether it runs serially."""
    from fastloss import _config

    return _compute(name), _config.config()["forked_child_serial"], fl.get_num_threads()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_children_do_not_hang_and_agree(method, monkeypatch):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    # A spawn or forkserver child unpickles _child_compute by importing this
    # module under the name pytest gave it ("tests.test_concurrency", from the
    # rootdir), with the parent's sys.path. Run from the source root, the
    # current directory on sys.path makes that importable; run from elsewhere
    # (scripts/wheel-check.sh, cibuildwheel: `pytest /path/to/tests` in a
    # temporary directory) it is not, unless the root is on sys.path.
    monkeypatch.syspath_prepend(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fl.set_num_threads(2)
    parent = {name: _compute(name) for name in ("mse", "cross_entropy", "giou_loss")}
    # the parent has run parallel regions (2 threads, 1e6 elements): the
    # case in which a forked GNU OpenMP child hangs in its first region
    ctx = mp.get_context(method)
    with ctx.Pool(1) as pool:
        for name, want in parent.items():
            got, serial, threads = pool.apply_async(_child_compute, (name,)).get(TIMEOUT)
            _same(got, want, f"{method} child, {name}")
            if method == "fork":
                assert serial and threads == 1, "a forked child runs serially"
            else:
                assert not serial
    fl.set_num_threads(None)


# ------------------------------------------------------------------ threadpoolctl


def _loaded_openmp():
    """The OpenMP runtimes mapped into this process (from /proc/self/maps)."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "/" in line}
    return {os.path.realpath(p) for p in paths if "libgomp" in p or "libomp" in p}


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="Linux only")
def test_small_calls_run_serially_while_workers_start_late():
    # common/contention.hpp: a parallel region whose workers started late
    # (another runtime's threads holding the cores, as inside xgb.train)
    # makes the next small calls run on one thread, then one call probes
    # again. The bookkeeping, driven through the test hook (the real delay
    # depends on the machine's load); the results never depend on it.
    c = fl._core.contention
    p = np.random.default_rng(0).normal(size=200_000)
    t = np.zeros_like(p)
    want = fl.mse.value_and_grad(p, t)
    with _temporary_threads(2):
        s = c(set_late_ns=5_000_000)  # 5 ms: the cores are taken
        assert s["late_ns"] == 5_000_000 and s["skip"] == s["backoff"] > 0
        for k in range(1, 4):
            v, g = fl.mse.value_and_grad(p, t)  # serial: one call of the budget
            assert v == want[0] and np.array_equal(g, want[1])
            assert c()["skip"] == s["skip"] - k and c()["late_ns"] == 5_000_000
        c(set_late_ns=5_000_000)  # doubles the budget
        assert c()["backoff"] == min(2 * s["backoff"], 1024)
        # with no budget left, the next small call goes parallel and measures
        while c()["skip"] > 0:
            fl.mse(p, t)
        fl.mse(p, t)
        assert c()["late_ns"] != 5_000_000
        # a call too large for the delay to matter goes parallel whatever
        big = np.zeros(1 << 23)
        c(set_late_ns=400_000)  # 4 x 0.4 ms against ~2 ms of serial work (4 units/ns)
        fl.mse(big, big)
        assert c()["late_ns"] != 400_000
        c(set_late_ns=0)  # an idle machine: no budget, the first backoff
        assert c()["skip"] == 0 and c()["backoff"] == 16
    with _temporary_threads(1):  # one thread: nothing to decide, nothing counted
        c(set_late_ns=5_000_000)
        before = c()["skip"]
        fl.mse(p, t)
        assert c()["skip"] == before
    c(set_late_ns=0)


def test_threadpoolctl_sees_and_limits_the_pool():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastloss import _core

    if not _core.have_openmp:
        pytest.skip("built without OpenMP")
    x = np.random.default_rng(0).random(BIG)
    fl.mse(x, x)  # the pool exists
    omp = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
    seen = {os.path.realpath(i["filepath"]) for i in omp}
    assert seen & _loaded_openmp(), (seen, _loaded_openmp())
    before = fl.get_num_threads()
    with threadpoolctl.threadpool_limits(1):
        assert fl.get_num_threads() == 1
        v1 = fl.mse(x, x + 1.0)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert fl.get_num_threads() == 1
    assert fl.get_num_threads() == before
    assert fl.mse(x, x + 1.0) == v1  # same bits whatever the count


# ------------------------------------------------------------------ memory


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _verbs(loss, pred, target, params):
    """One closure per verb, each called many times (inputs beyond the
    first two go by name in params; a loss of one input has target None)."""
    a = (pred,) if target is None else (pred, target)
    kw = {"wrt": loss.wrt[0]} if len(loss.wrt) > 1 else {}
    # the first differentiable input's gradient shape (kmeans_inertia's is
    # the centers', not pred's)
    g = loss.grad(*a, **kw, **params)
    # a list-input loss (perceptual) takes a list of out= buffers, one per layer
    g = [np.empty_like(x) for x in g] if isinstance(g, list) else np.empty_like(g)
    verbs = {
        "value": lambda: loss(*a, **params),
        "grad": lambda: loss.grad(*a, **params),
        "value_and_grad": lambda: loss.value_and_grad(*a, **params),
        "out=": lambda: loss.value_and_grad(*a, out=g, **kw, **params),
        "none": lambda: loss(*a, reduction="none", **params),
    }
    if loss.has_hess:
        verbs["grad_hess"] = lambda: loss.grad_hess(*a, **params)
        h = np.empty_like(pred)
        verbs["grad_hess out="] = lambda: loss.grad_hess(*a, out=(g, h), **params)
    return verbs


def _growth(verbs, calls):
    for f in verbs.values():  # warm-up: caches, the allocator's arenas
        for _ in range(min(calls, 2000)):
            f()
    gc.collect()
    before = _rss()
    for f in verbs.values():
        for _ in range(calls):
            f()
    gc.collect()
    return _rss() - before


LEAK_CALLS = int(os.environ.get("FASTLOSS_LEAK_CALLS", 50_000))


def _calls_note(n):
    return f"{n} calls of each verb on mse, {n // 100} on every other loss (KiB)"


# Bytes of growth allowed: the allocator's noise. A leak of one 64-byte
# object per call would be 3.2 MB at 5e4 calls of one verb, 7 verbs: 22 MB.
LIMIT = 5 << 20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_memory_flat_over_many_calls():
    rng = np.random.default_rng(0)
    growth = {}
    # the main loop: LEAK_CALLS calls of every verb on the cheapest loss
    pred, target, params = make("mse", rng, np.float64, 8)
    growth["mse"] = _growth(_verbs(fl.mse, pred, target, params), LEAK_CALLS)
    # every other loss, every verb, fewer calls
    for name in fl.available():
        if name != "mse":
            pred, target, params = make(name, rng, np.float64, 8)
            loss = fl.get(name)
            growth[name] = _growth(_verbs(loss, pred, target, params), LEAK_CALLS // 100)
    # the figures, for `pytest -s` (the note quotes them)
    print(f"\nRSS growth over {_calls_note(LEAK_CALLS)}:", {k: v >> 10 for k, v in growth.items()})
    over = {k: v for k, v in growth.items() if v > LIMIT}
    # A leak grows with the calls: a loss over the limit runs its calls again
    # and must grow again. A one-off step (a thread's new malloc arena on a
    # loaded machine: approx_ndcg once grew 6.1 MB in a full parallel suite
    # run and 0 KiB over 500, 5000 and 20000 calls alone) does not repeat.
    for name in list(over):
        pred, target, params = make(name, rng, np.float64, 8)
        calls = LEAK_CALLS if name == "mse" else LEAK_CALLS // 100
        again = _growth(_verbs(fl.get(name), pred, target, params), calls)
        if again <= LIMIT:
            del over[name]
    assert not over, f"RSS growth over {LIMIT >> 20} MB, twice: {over}"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_memory_flat_with_the_buffer_cache():
    # outputs of 1 MiB and more come from the buffer cache: a loop that takes
    # a fresh gradient each step and drops the last one reuses its memory
    rng = np.random.default_rng(0)
    n = 1 << 17  # 1 MiB of float64 per output: the cache's smallest size
    pred, target = rng.normal(size=n), rng.normal(size=n)
    verbs = {
        "grad": lambda: fl.mse.grad(pred, target),
        "value_and_grad": lambda: fl.mse.value_and_grad(pred, target),
        "grad_hess": lambda: fl.huber.grad_hess(pred, target),
        "none": lambda: fl.mse(pred, target, reduction="none"),
    }
    grew = _growth(verbs, 100)
    assert grew < LIMIT, f"RSS grew {grew / 2**20:.1f} MB over 400 calls with 1 MiB outputs"
    assert fl.buffer_cache_info()["cached_buffers"] <= 16
