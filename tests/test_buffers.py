"""The output-buffer cache: fresh outputs of 1 MiB or more are NumPy arrays
whose memory a small cache of freed buffers serves (fastloss.set_buffer_cache).

What must hold: the arrays are ordinary NumPy arrays; a freed buffer is
reused by the next request of its size; stale contents never leak into a
result; the limits are kept; 0 turns it off; bad settings are refused."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastloss as fl
from cases import args, grads, make
from fastloss import _core

MIB = 2**20
BIG = 2**18  # float32 elements: 1 MiB, the smallest size the cache serves


try:  # NumPy 2, else 1.x
    from numpy._core.multiarray import get_handler_name as handler_name
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import get_handler_name as handler_name


_COUNTS = {}


def info():
    """buffer_cache_info(), its hit and miss counts since the test began."""
    d = fl.buffer_cache_info()
    return {**d, "hits": d["hits"] - _COUNTS["hits"], "misses": d["misses"] - _COUNTS["misses"]}


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts from an empty cache at the default limit."""
    fl.set_buffer_cache(0)
    fl.set_buffer_cache(None)
    _COUNTS.update(fl.buffer_cache_info())
    yield
    fl.set_buffer_cache(0)
    fl.set_buffer_cache(None)


def data(n=BIG, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def test_fresh_large_gradient_is_an_ordinary_numpy_array_from_the_cache():
    p, y = data()
    v, g = fl.mse.value_and_grad(p, y)
    assert type(g) is np.ndarray and g.dtype == np.float32 and g.shape == p.shape
    assert g.flags.owndata and g.base is None
    assert g.flags.c_contiguous and g.flags.writeable and g.flags.aligned
    assert g.ctypes.data % 64 == 0
    assert handler_name(g) == "fastloss_buffer_cache"
    want = np.empty_like(p)
    v2, _ = fl.mse.value_and_grad(p, y, out=want)
    assert v == v2
    np.testing.assert_array_equal(g, want)
    # an ordinary array in every other way: views, pickling, resizing
    assert np.array_equal(pickle.loads(pickle.dumps(g)), g)
    view = g[::2]
    del g
    gc.collect()
    np.testing.assert_array_equal(view, want[::2])  # the view keeps the buffer alive


def test_small_outputs_are_plain_numpy():
    p, y = data(BIG // 2 - 1)
    g = fl.mse.grad(p, y)
    assert handler_name(g) == "default_allocator"
    assert info()["misses"] == 0


def test_a_freed_buffer_serves_the_next_request_of_its_size():
    p, y = data(10**6)
    g = fl.huber.grad(p, y)
    addr = g.ctypes.data
    st0 = info()
    assert st0["live_buffers"] == 1 and st0["misses"] == 1
    del g
    st = info()
    assert st["cached_buffers"] == 1 and st["live_buffers"] == 0
    assert st["cached_bytes"] >= p.nbytes
    g = fl.huber.grad(p, y)
    assert g.ctypes.data == addr
    st = info()
    assert st["hits"] == 1 and st["misses"] == 1 and st["cached_buffers"] == 0
    # a training loop's pattern: the new gradient is made before the old one
    # is dropped, so the loop settles on two buffers and stops allocating
    for _ in range(5):
        g = fl.huber.grad(p, y)
    st = info()
    assert st["misses"] == 2 and st["hits"] == 5


def test_a_much_larger_cached_buffer_is_not_used_for_a_small_request():
    big = _core.empty((8 * MIB,), np.float32)  # 32 MiB
    del big
    assert info()["cached_buffers"] == 1
    p, y = data(2 * BIG)  # 2 MiB: the 32 MiB buffer would waste 30
    fl.mse.grad(p, y)
    st = info()
    assert st["hits"] == 0 and st["misses"] == 2


@pytest.mark.parametrize("name", fl.available())
def test_stale_buffer_contents_never_reach_a_result(name):
    """Fill the cache with NaN-filled buffers of every size the call will ask
    for, then check every output against a run with the cache off: a kernel
    that left any element unwritten would show the stale NaN."""
    loss = fl.get(name)
    rng = np.random.default_rng(7)
    pred, target, params = make(name, rng, np.float32, 2**17)
    if pred.nbytes < MIB:  # a few losses take several values per sample
        pred, target, params = make(
            name, np.random.default_rng(7), np.float32, 2**17 * MIB // pred.nbytes + 1
        )
    if pred.nbytes < MIB:  # a case capped in size (the pairwise losses' N x N work)
        pytest.skip(f"{name}'s test case stays below the buffer cache's 1 MiB")

    def run():
        out = {
            f"grad {k}": g
            for k, g in zip(loss.wrt, grads(loss.grad(*args(pred, target), **params)))
        }
        out["none"] = loss(*args(pred, target), reduction="none", **params)
        if loss.has_hess:
            out["hess"] = loss.grad_hess(*args(pred, target), reduction="none", **params)[1]
        return out

    fl.set_buffer_cache(0)
    want = run()
    fl.set_buffer_cache(None)
    sizes = {a.nbytes for a in want.values() if a.nbytes >= MIB}
    if not sizes:  # kmeans_inertia: the gradient has the centers' size
        pytest.skip(f"no output of {name} reaches the buffer cache's 1 MiB")
    poison = [_core.empty((s,), np.uint8) for s in sorted(sizes) for _ in range(3)]
    for b in poison:
        b.view(np.uint8)[:] = 0xFF  # NaN in float32 and float64
    del poison, b
    assert info()["cached_buffers"] == min(3 * len(sizes), 16)
    got = run()
    assert info()["hits"] > 0
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"{name}: {k}")


def test_the_limit_and_the_count_are_kept():
    fl.set_buffer_cache(10 * MIB)
    bufs = [_core.empty((4 * MIB,), np.uint8) for _ in range(4)]
    del bufs
    st = info()
    assert st["cached_bytes"] <= 10 * MIB and st["cached_buffers"] == 2
    # a buffer larger than the limit is never held
    big = _core.empty((11 * MIB,), np.uint8)
    del big
    assert info()["cached_bytes"] <= 10 * MIB
    # at most buffer_cache_max_buffers buffers, however small
    fl.set_buffer_cache(None)
    bufs = [_core.empty((MIB,), np.uint8) for _ in range(_core.buffer_cache_max_buffers + 5)]
    del bufs
    assert info()["cached_buffers"] == _core.buffer_cache_max_buffers
    # lowering the limit frees what no longer fits
    fl.set_buffer_cache(3 * MIB)
    st = info()
    assert st["cached_bytes"] <= 3 * MIB and st["max_bytes"] == 3 * MIB


def test_zero_turns_the_cache_off():
    p, y = data()
    g = fl.mse.grad(p, y)
    del g
    assert info()["cached_buffers"] == 1
    fl.set_buffer_cache(0)
    st = info()
    assert st["max_bytes"] == 0 and st["cached_buffers"] == st["cached_bytes"] == 0
    g = fl.mse.grad(p, y)
    assert handler_name(g) == "default_allocator"
    # an array made while the cache was on is still freed correctly after
    fl.set_buffer_cache(None)
    h = fl.mse.grad(p, y)
    fl.set_buffer_cache(0)
    del h
    assert info()["cached_buffers"] == 0
    assert info()["live_buffers"] == 0


def test_default_limit():
    assert info()["max_bytes"] == _core.default_buffer_cache()
    assert 0 < _core.default_buffer_cache() <= 2**30


def test_resize_and_zeroed_allocation_through_the_handler():
    a = _core.empty((2 * MIB,), np.uint8)
    a[:] = np.arange(a.size, dtype=np.uint8)
    a.resize((5 * MIB,), refcheck=False)  # realloc to a larger capacity: moves
    np.testing.assert_array_equal(a[: 2 * MIB], np.arange(2 * MIB, dtype=np.uint8))
    assert not a[2 * MIB :].any()  # NumPy zero-fills what resize adds
    a.resize((MIB,), refcheck=False)
    np.testing.assert_array_equal(a, np.arange(MIB, dtype=np.uint8))
    del a
    assert info()["live_buffers"] == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        fl.set_buffer_cache(-1)
    with pytest.raises(TypeError, match="max_bytes must be an int or None"):
        fl.set_buffer_cache(1.5)
    with pytest.raises(TypeError, match="max_bytes must be an int or None"):
        fl.set_buffer_cache(True)
    with pytest.raises(ValueError, match="max_bytes must be < 2"):
        fl.set_buffer_cache(2**64)


def _import_with(env_value):
    env = dict(os.environ, FASTLOSS_BUFFER_CACHE=env_value)
    code = "import fastloss as fl; print(fl.buffer_cache_info()['max_bytes'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    "text,want",
    [
        ("0", 0),
        ("12345", 12345),
        ("64M", 64 * MIB),
        ("2G", 2**31),
        ("512KiB", 512 * 1024),
        ("3mb", 3 * MIB),
    ],
)
def test_environment_variable_sets_the_limit(text, want):
    r = _import_with(text)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == want


@pytest.mark.parametrize("text", ["-1", "1.5G", "12x", "G", "99999999999999999999"])
def test_malformed_environment_variable_warns_naming_it_and_keeps_the_default(text):
    r = _import_with(text)
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning" in r.stderr and f"FASTLOSS_BUFFER_CACHE={text}" in r.stderr
    assert int(r.stdout) == fl._core.default_buffer_cache()


def test_threads_allocating_and_freeing_at_once():
    p, y = data(BIG * 2)
    want = fl.mse.grad(p, y).copy()  # (the copy is NumPy's own)
    errors = []

    def work():
        try:
            for _ in range(40):
                g = fl.mse.grad(p, y)
                if not np.array_equal(g, want):
                    errors.append("wrong gradient")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    st = info()
    assert st["live_buffers"] == 0 and st["cached_buffers"] <= 4 * 2 + 1
    assert st["hits"] + st["misses"] == 4 * 40 + 1


def test_a_long_loop_keeps_memory_bounded():
    """Many fresh gradients of changing sizes: the cache never holds more
    than its limit and every buffer handed out is accounted for."""
    fl.set_buffer_cache(64 * MIB)
    rng = np.random.default_rng(3)
    pp, yy = data(8 * BIG, seed=1)
    for _ in range(200):
        n = int(rng.integers(BIG, 8 * BIG))
        g = fl.mse.grad(pp[:n], yy[:n])
        assert g.shape == (n,)
    del g
    st = info()
    assert st["live_buffers"] == 0 and st["cached_bytes"] <= 64 * MIB
    assert st["hits"] + st["misses"] == 200


def test_show_config_reports_the_cache():
    import io

    buf = io.StringIO()
    fl.show_config(file=buf)
    assert "buffer cache     : up to" in buf.getvalue()
    fl.set_buffer_cache(0)
    buf = io.StringIO()
    fl.show_config(file=buf)
    assert "buffer cache     : off" in buf.getvalue()
