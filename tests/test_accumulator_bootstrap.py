"""The accumulator's bucket bootstrap in C++ (fastloss/bootstrap.hpp): the
scatter against np.bincount over bootstrap_buckets, the fused terms pass
against Loss._blocks (bit for bit), and the accumulator's results and
intervals against the NumPy path it replaced; the intervals' coverage with
every row in a 16-row run."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastloss as fl
from fastloss import _accumulate, _core
from fastloss._accumulate import BOOTSTRAP_BUCKETS, bootstrap_buckets

# global first rows: 0, across a 2**16 window of the hash's low table, far out
FIRSTS = [0, 65530, 2**33 + 65000]


@pytest.mark.parametrize("first", FIRSTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("grouped", [False, True])
def test_bucket_add_is_bincount_over_the_hash(rng, first, dtype, grouped):
    n = 9000
    x = rng.normal(size=n).astype(dtype)
    G = 3 if grouped else 1
    g = rng.integers(0, G, size=n).astype(np.int64) if grouped else None
    key = bootstrap_buckets(first, n) + (0 if g is None else g * BOOTSTRAP_BUCKETS)
    out = np.zeros(G * BOOTSTRAP_BUCKETS)
    _core._bucket_add(out, x, first, g)
    # in row order, as bincount adds: the same bits
    assert np.array_equal(out, np.bincount(key, x.astype(np.float64), G * BOOTSTRAP_BUCKETS))
    cnt = np.zeros(G * BOOTSTRAP_BUCKETS)
    _core._bucket_add(cnt, None, first, g, constant=2.0, n=n)
    assert np.array_equal(cnt, 2.0 * np.bincount(key, minlength=G * BOOTSTRAP_BUCKETS))


def test_bucket_add_refuses_what_would_be_unsafe():
    with pytest.raises(ValueError, match="outside"):
        _core._bucket_add(np.zeros(BOOTSTRAP_BUCKETS), np.ones(3), 0, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="multiple of BOOTSTRAP_BUCKETS"):
        _core._bucket_add(np.zeros(10), np.ones(3), 0)
    with pytest.raises(ValueError, match="n: required"):
        _core._bucket_add(np.zeros(BOOTSTRAP_BUCKETS), None, 0)
    with pytest.raises(ValueError, match="per_row"):
        _core._terms_pass(np.ones(5), None, 2, 0, None, np.zeros(BOOTSTRAP_BUCKETS), None)


def _tree16(x):
    # bootstrap.hpp's tree16 of each row of x (n, 16): adjacent pairs, level
    # by level
    while x.shape[1] > 1:
        x = x[:, 0::2] + x[:, 1::2]
    return x[:, 0]


def _bucket_sums(first, values, start=0.0):
    # The C++ terms pass's bucket sums of one term a row, in NumPy: rows
    # below 2**20 one at a time in row order; from 2**20 on, a run of 16
    # rows whole in the chunk as one addition of its tree16, the rows of a
    # run cut by the chunk's ends one at a time (np.add.at adds in index
    # order: the same bits)
    n = len(values)
    b = bootstrap_buckets(first, n)
    r = first + np.arange(n)
    run0 = (r >> 4) << 4
    whole = (r >= 2**20) & (run0 >= first) & (run0 + 15 <= first + n - 1)
    heads = np.flatnonzero(whole & (r == run0))
    idx = heads[:, None] + np.arange(16)
    pos = np.concatenate([np.flatnonzero(~whole), heads])
    val = np.concatenate([values[~whole], _tree16(values[idx]) if heads.size else values[:0]])
    order = np.argsort(pos, kind="stable")
    out = np.full(BOOTSTRAP_BUCKETS, start)
    np.add.at(out, b[pos[order]], val[order])
    return out


def _losses():
    return [
        ("reg", fl.mse, {}),
        ("reg", fl.huber, {"delta": 0.5}),
        ("reg", fl.log_cosh, {}),
        ("prob", fl.binary_cross_entropy, {}),
        ("bin", fl.binary_cross_entropy_with_logits, {}),
    ]


@pytest.mark.parametrize("kind, loss, params", _losses(), ids=lambda c: getattr(c, "name", None))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("per_row", [1, 3])
def test_terms_pass_gives_the_blocks_bits(rng, kind, loss, params, dtype, weighted, per_row):
    for rows in (1, 7, 4096 // per_row + 1, 9000):
        shape = (rows,) if per_row == 1 else (rows, per_row)
        if kind == "prob":
            p = rng.uniform(0.01, 0.99, size=shape)
            t = (rng.uniform(size=shape) < p) * 1.0
        elif kind == "bin":
            p, t = rng.normal(size=shape), (rng.uniform(size=shape) < 0.5) * 1.0
        else:
            p, t = rng.normal(size=shape), rng.normal(size=shape)
        p, t = p.astype(dtype), t.astype(dtype)
        w = rng.uniform(0.1, 2.0, size=rows) if weighted else None
        kw = None if w is None else w.reshape((rows,) + (1,) * (p.ndim - 1))
        want = loss._blocks(p, t, sample_weight=kw, **params)
        v = loss(p, t, reduction="none", **params).reshape(-1)
        wk = None if w is None else w.astype(dtype)
        for first in FIRSTS:
            leaves = np.empty_like(want)
            num, den = np.zeros(BOOTSTRAP_BUCKETS), np.zeros(BOOTSTRAP_BUCKETS)
            _core._terms_pass(v, wk, per_row, first, leaves, num, den)
            # the mean pass's leaves, bit for bit
            assert np.array_equal(leaves, want), (rows, first)
            b = bootstrap_buckets(first, rows)
            wd = np.ones(rows) if wk is None else wk.astype(np.float64)
            terms = v.astype(np.float64).reshape(rows, per_row) * wd[:, None]
            ref_num = np.bincount(np.repeat(b, per_row), terms.reshape(-1), BOOTSTRAP_BUCKETS)
            ref_den = np.bincount(b, wd * per_row, BOOTSTRAP_BUCKETS)
            if per_row == 1:  # one term a row: the scatter's additions exactly
                assert np.array_equal(num, _bucket_sums(first, terms.reshape(-1)))
                ones = wd if wk is not None else None
                if ones is None:  # unweighted: the counts
                    assert np.array_equal(den, ref_den)
                else:
                    assert np.array_equal(den, _bucket_sums(first, wd))
                np.testing.assert_allclose(num, ref_num, rtol=1e-12, atol=1e-300)
            else:
                np.testing.assert_allclose(num, ref_num, rtol=1e-12, atol=1e-300)
                np.testing.assert_allclose(den, ref_den, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_terms_pass_over_whole_windows(rng, dtype, weighted):
    # chunks spanning whole 2**16-row windows of the hash (the unweighted
    # denominators then come from the low table's counts, not a pass over
    # the rows) and pieces of windows longer and shorter than half of one;
    # den starting at 0.5: the counts added one 1.0 at a time (np.add.at
    # adds in index order, as the scatter does)
    rows = 2 * 65536 + 40000
    v = rng.uniform(0, 2, size=rows).astype(dtype)
    wk = rng.uniform(0.5, 1.5, size=rows).astype(dtype) if weighted else None
    wd = np.ones(rows) if wk is None else wk.astype(np.float64)
    terms = v.astype(np.float64) * wd
    # rows, rows into runs (2**20 - 70000), runs cut at both ends, runs
    firsts = (0, 65536 - 5000, 65536 + 30000, 2**20 - 70000, 2**20 + 7, 2**33 + 65000)
    for first in firsts:
        b = bootstrap_buckets(first, rows)
        for start in (0.0, 0.5):
            num = np.full(BOOTSTRAP_BUCKETS, start)
            den = np.full(BOOTSTRAP_BUCKETS, start)
            _core._terms_pass(v, wk, 1, first, None, num, den)
            assert np.array_equal(num, _bucket_sums(first, terms, start)), (first, start)
            if wk is None:  # counts: 1.0 a row, in any grouping the same sums
                ref_den = np.full(BOOTSTRAP_BUCKETS, start)
                np.add.at(ref_den, b, wd)
            else:
                ref_den = _bucket_sums(first, wd, start)
            assert np.array_equal(den, ref_den), (first, start)


def test_counts_of_a_whole_window_of_runs(rng):
    # 2**20 rows from row 2**21: one whole window of runs (its counts are
    # the low table's times 16), then 100 rows of the next
    rows = 2**20 + 100
    v = rng.uniform(size=rows)
    num, den = np.zeros(BOOTSTRAP_BUCKETS), np.zeros(BOOTSTRAP_BUCKETS)
    _core._terms_pass(v, None, 1, 2**21, None, num, den)
    b = bootstrap_buckets(2**21, rows)
    assert np.array_equal(den, np.bincount(b, minlength=BOOTSTRAP_BUCKETS).astype(np.float64))
    assert np.array_equal(num, _bucket_sums(2**21, v))


def _feed(acc, p, t, w, g, cuts):
    for a, b in zip(cuts[:-1], cuts[1:]):
        acc.update(p[a:b], t[a:b], None if w is None else w[a:b], None if g is None else g[a:b])
    return acc


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("grouped", [False, True])
def test_intervals_are_the_numpy_paths(rng, monkeypatch, dtype, weighted, grouped):
    # The C++ scatter, fused pass and replicates against the NumPy path
    # (bincount over bootstrap_buckets, a "none" pass beside the mean pass,
    # a BLAS product with the Poisson weights) they replaced: the same
    # results bit for bit, the same intervals to float64 rounding (the
    # replicates are summed in another order); float32 weighted terms are
    # now the exact float64 products the mean adds (reduction="none"
    # rounded them to float32), so within float32 rounding there.
    n = 20000
    p = rng.uniform(0.01, 0.99, size=n).astype(dtype)
    t = ((rng.uniform(size=n) < p) * 1.0).astype(dtype)
    w = rng.uniform(0.5, 1.5, size=n) if weighted else None
    g = rng.integers(0, 4, size=n) if grouped else None
    logits = rng.normal(size=(n, 3))
    lab = rng.integers(0, 3, size=n)
    cuts = [0, 5000, 5001, 12288, n]

    def run():
        accs = [
            fl.Accumulator(["mse", "binary_cross_entropy", "rmse"], bootstrap=300, seed=5),
            fl.Accumulator(["cross_entropy"], bootstrap=300, seed=5),  # a row loss
        ]
        _feed(accs[0], p, t, w, g, cuts)
        _feed(accs[1], logits, lab, w, g, cuts)
        return [(a.result(), a.interval()) for a in accs]

    new = run()
    monkeypatch.setattr(_accumulate, "_SCATTER", False)
    old = run()
    rtol = 1e-6 if dtype == np.float32 and weighted else 1e-12
    for (r_new, i_new), (r_old, i_old) in zip(new, old):
        assert r_new == r_old
        flat = [(i_new, i_old)] if not grouped else [(i_new[k], i_old[k]) for k in i_old]
        assert [sorted(a) for a, _ in flat] == [sorted(b) for _, b in flat]
        for a, b in flat:
            for name in b:
                np.testing.assert_allclose(a[name], b[name], rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_bootstrap_keeps_the_one_shot_bits(rng, dtype, weighted, threads):
    # result() of a bootstrap accumulator comes from the fused pass's leaves:
    # block-aligned chunks still give the one-shot call's bits
    n = 5 * fl.BLOCK + 123
    p = rng.uniform(0.01, 0.99, size=(n, 2)).astype(dtype)
    t = ((rng.uniform(size=(n, 2)) < p) * 1.0).astype(dtype)
    w = rng.uniform(0.1, 2.0, size=n) if weighted else None
    kw = None if w is None else w[:, None]
    fl.set_num_threads(threads)
    try:
        want = {
            "mse": fl.mse(p, t, sample_weight=kw),
            "binary_cross_entropy": fl.binary_cross_entropy(p, t, sample_weight=kw),
        }
        for cuts in ([0, n], [0, fl.BLOCK, 3 * fl.BLOCK, n]):
            acc = fl.Accumulator(list(want), bootstrap=50, seed=1)
            assert _feed(acc, p, t, w, None, cuts).result() == want
    finally:
        fl.set_num_threads(0)


def test_poisson_weights_in_cpp_are_numpys(monkeypatch):
    from fastloss._accumulate import poisson_weights

    units = np.array([0, 1, 2, 1023, 2**40 + 3, 2**64 - 1], dtype=np.uint64)
    for seed in (0, 7, 2**70 + 1):
        got = poisson_weights(seed, 50, units)
        monkeypatch.setattr(_accumulate, "_SCATTER", False)
        want = poisson_weights(seed, 50, units)
        monkeypatch.setattr(_accumulate, "_SCATTER", True)
        assert got.shape == (50, len(units))
        assert np.array_equal(got, want)
    # a million draws: the C++ table of 256-index runs (the 16 comparisons
    # only in the few runs a step of the table falls in) against NumPy's
    # table of all 2**20 indices, the runs next to the steps included
    units = np.arange(20000, dtype=np.uint64) * np.uint64(2654435761)
    got = poisson_weights(11, 50, units)
    monkeypatch.setattr(_accumulate, "_SCATTER", False)
    want = poisson_weights(11, 50, units)
    monkeypatch.setattr(_accumulate, "_SCATTER", True)
    assert np.array_equal(got, want)
    assert set(np.unique(got)) >= {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    # Poisson(1): mean and variance 1
    w = poisson_weights(3, 1000, np.arange(1000))
    assert abs(w.mean() - 1) < 0.01 and abs(w.var() - 1) < 0.02


def test_replicates_in_cpp_are_the_weighted_sums():
    from fastloss._accumulate import _seed_mix, _tables, poisson_weights

    bounds = _tables()[1]
    rng = np.random.default_rng(4)
    used = np.sort(rng.choice(BOOTSTRAP_BUCKETS, size=700, replace=False)).astype(np.uint64)
    S = rng.normal(size=(6, used.size))
    got = _core._replicates(_seed_mix(9), 200, used, bounds, S)
    want = S @ poisson_weights(9, 200, used).T
    assert got.shape == (6, 200)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # the fixed order, bit for bit: lane j % 4 summed in order (cumsum's
    # last entry is the sequential sum), then (l0 + l1) + (l2 + l3); odd
    # row counts and unit counts not a multiple of 4 included
    for rows, u in ((6, 700), (3, 699), (1, 5), (2, 3)):
        units = used[:u]
        s = S[:rows, :u].copy()
        got = _core._replicates(_seed_mix(9), 200, units, bounds, s)
        prod = s[:, None, :] * poisson_weights(9, 200, units)[None, :, :]
        lanes = [np.cumsum(prod[:, :, k::4], axis=2)[:, :, -1] if u > k else 0.0 for k in range(4)]
        assert np.array_equal(got, (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))


def test_many_groups_take_the_matrix_product(rng, monkeypatch):
    # more than _FEW_ROWS sums: the weights drawn in C++, then one product a
    # loss, as the NumPy path does -- the same intervals bit for bit
    n, G = 6000, 40
    assert 2 * G > _accumulate._FEW_ROWS
    p, t = rng.normal(size=n), rng.normal(size=n)
    g = rng.integers(0, G, size=n)

    def run():
        acc = fl.Accumulator(["mse"], bootstrap=100, seed=2)
        return _feed(acc, p, t, None, g, [0, 2500, n]).interval()

    new = run()
    monkeypatch.setattr(_accumulate, "_SCATTER", False)
    assert new == run()


def test_the_bucket_count_is_the_kernels():
    assert _core.BOOTSTRAP_BUCKETS == BOOTSTRAP_BUCKETS == fl.BOOTSTRAP_BUCKETS


def test_coverage_with_every_row_in_a_run():
    # test_accumulator.py's coverage simulation with every row in a 16-row
    # run: data sets of 2**14 rows fed from global row 2**20 (1024 runs, so
    # the bucket bootstrap is close to a bootstrap of runs), e ~ N(0, 1): the
    # 95% interval of the mse must cover the model's value E[e**2] = 1 (not
    # the sample's) in 93-97% of them, and be as wide as the normal-theory
    # interval on average. 1000 data sets, not the 400: at 400 the
    # band is two binomial sd wide either side, so a correct interval would
    # fail one change of bits in twenty (the first 400 of these gave 374, the
    # normal-theory interval 371: the draws' luck). Measured: 941 of 1000
    # (normal theory 941; fed from row 0, a row a unit, 940), mean width
    # 0.997 of the normal-theory width. A run added to one bucket and its
    # count to another, or runs sharing buckets beyond chance, would miss.
    # benchmarks/bootstrap_coverage.py runs the check on data sets of 2**20
    # rows and more (the README gives its figures).
    rng = np.random.default_rng(2024)
    n, sets, hits, ratios = 2**14, 1000, 0, []
    for s in range(sets):
        e = rng.standard_normal(n)
        acc = fl.Accumulator("mse", bootstrap=1000, seed=s)
        lo, hi = acc.update(e, np.zeros(n), start=2**20).interval()["mse"]
        hits += lo <= 1.0 <= hi
        ratios.append((hi - lo) / (2 * 1.959964 * (e * e).std() / math.sqrt(n)))
    assert 0.93 <= hits / sets <= 0.97, hits
    assert 0.97 < np.mean(ratios) < 1.03


@pytest.mark.parametrize("unit", [None, 4])
@pytest.mark.parametrize("grouped", [False, True])
def test_calibration_only_with_bootstrap_has_no_intervals(rng, unit, grouped):
    # only calibration entries (not resampled): interval() has nothing to
    # give, and used to fail on np.concatenate of an empty list
    n = 3000
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(float)
    g = rng.choice(np.array(["a", "b"]), size=n) if grouped else None
    acc = fl.Accumulator(["ece", "mce"], bootstrap=50, bootstrap_unit=unit)
    acc.update(p, y, group=g)
    want = {"a": {}, "b": {}} if grouped else {}
    assert acc.interval() == want
    # beside a loss, the loss still gets its interval
    acc = fl.Accumulator(["ece", "mse"], bootstrap=50, bootstrap_unit=unit).update(p, y, group=g)
    iv = acc.interval()
    assert list(iv["a"] if grouped else iv) == ["mse"]
