"""fastloss.dask on a real distributed cluster (2 worker processes, 1 thread
each): the same numbers as the in-memory Accumulator, a worker killed
mid-computation, threads inside tasks, bad input."""

from __future__ import annotations

import doctest
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import fastloss as fl

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
import dask.array as da  # noqa: E402

import fastloss.dask as fd  # noqa: E402

LOSSES = ["mse", "rmse", fl.huber.with_params(delta=0.5), "mae"]


@pytest.fixture(scope="module")
def client():
    # worker processes import fastloss from where this process did (a
    # source checkout run with PYTHONPATH=python, or site-packages)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fl.__file__)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "PYTHONPATH",
            os.pathsep.join(
                [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            ),
        )
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster) as c,
        ):
            yield c


def _data(rng, n=30_000):
    return (
        rng.normal(size=n),
        rng.normal(size=n),
        rng.uniform(0.5, 2.0, size=n),
        rng.choice(np.array(["north", "south", "west"]), size=n),
    )


def _close(got, want):
    assert got.keys() == want.keys()
    for k in want:
        if isinstance(want[k], dict):
            _close(got[k], want[k])
        else:
            assert got[k] == pytest.approx(want[k], rel=1e-12), k


def test_arrays_match_the_in_memory_accumulator(client, rng):
    p, t, w, g = _data(rng)
    acc = fl.Accumulator(LOSSES, bootstrap=64, seed=3).update(p, t, w, g)
    for chunks in (7_000, (1, 4096, 20_000, 5_903)):
        res = fd.evaluate(
            da.from_array(p, chunks=chunks),
            da.from_array(t, chunks=5000),
            LOSSES,
            sample_weight=w,
            group=da.from_array(g, chunks=9999),
            bootstrap=64,
            seed=3,
            split_every=3,
        )
        assert isinstance(res, dict)  # what result() returns, the intervals beside
        iv = res.intervals
        _close(res, acc.result())
        for grp in iv:
            for name, (lo, hi) in iv[grp].items():
                want = acc.interval()[grp][name]
                assert (lo, hi) == pytest.approx(want, rel=1e-12), (chunks, grp, name)
    # ungrouped, unweighted, on the client's default (distributed) scheduler
    r = fd.evaluate(da.from_array(p, chunks=4000), da.from_array(t, chunks=4000), LOSSES)
    assert r.intervals is None and pickle.loads(pickle.dumps(r)) == r
    _close(r, fl.Accumulator(LOSSES).update(p, t).result())
    assert r["mse"] == pytest.approx(fl.mse(p, t), rel=1e-12)


def test_dataframe_columns(client, rng):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    p, t, w, g = _data(rng)
    df = dd.from_pandas(pd.DataFrame({"p": p, "t": t, "w": w, "g": g}), npartitions=6)
    acc = fl.Accumulator(LOSSES, bootstrap=32).update(p, t, w, g)
    res = fd.evaluate(df["p"], df["t"], LOSSES, df["w"], df["g"], bootstrap=32)
    iv = res.intervals
    _close(res, acc.result())
    for grp in iv:
        for name in iv[grp]:
            assert iv[grp][name] == pytest.approx(acc.interval()[grp][name], rel=1e-12)
    # a frame as pred stacks its columns: class probabilities for ece
    probs = rng.dirichlet(np.ones(3), size=len(p))
    y = rng.integers(0, 3, size=len(p))
    pf = dd.from_pandas(
        pd.DataFrame({"a": probs[:, 0], "b": probs[:, 1], "c": probs[:, 2], "y": y}), npartitions=4
    )
    got = fd.accumulate(pf[["a", "b", "c"]], pf["y"], ["ece", "mce"])
    _close(got.result(), fl.Accumulator(["ece", "mce"]).update(probs, y).result())
    assert got.rows == len(p)


def test_block_aligned_partitions_give_the_one_shot_bits(client, rng):
    # partitions of 2 * BLOCK rows (the last one shorter): the result is the
    # one-shot call's, bit for bit, whichever worker ran which partition
    n = 7 * fl.BLOCK + 123
    p, t, w, _ = _data(rng, n)
    cols = [da.from_array(x, chunks=2 * fl.BLOCK) for x in (p, t, w)]
    got = fd.evaluate(cols[0], cols[1], LOSSES, sample_weight=cols[2])
    assert got == {
        "mse": fl.mse(p, t, sample_weight=w),
        "rmse": fl.rmse(p, t, sample_weight=w),
        "huber": fl.huber(p, t, delta=0.5, sample_weight=w),
        "mae": fl.mae(p, t, sample_weight=w),
    }


def test_block_aligned_frame_partitions_give_the_one_shot_bits(rng):
    # DataFrame columns: partition lengths are counted so every partition
    # starts at its global row; with every start 0 (no bootstrap) the tree
    # fell back to float64 totals (4 seeds of 10 off in the last bit)
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    n = 16 * fl.BLOCK
    for seed in range(6):
        r = np.random.default_rng(seed)
        p = r.normal(size=n) * r.uniform(0, 100, n)
        t = r.normal(size=n)
        df = dd.from_pandas(pd.DataFrame({"p": p, "t": t}), npartitions=8)
        assert df.map_partitions(len).compute(scheduler="sync").tolist() == [2 * fl.BLOCK] * 8
        got = fd.evaluate(df["p"], df["t"], ["mse", "mae"], scheduler="sync")
        assert got == {"mse": fl.mse(p, t), "mae": fl.mae(p, t)}, seed


def test_a_worker_killed_mid_computation(client, tmp_path, rng):
    marker = str(tmp_path / "killed")
    n_blocks, size = 12, 5000

    def block(block_id=None):
        # the data of a block is a function of its index, so a rerun on
        # another worker reads the same rows
        i = block_id[0]
        if i == 7 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), 9)  # this worker process dies; its nanny restarts it
        r = np.random.default_rng(1000 + i)
        return np.stack([r.normal(size=size), r.normal(size=size)], axis=1)

    def columns():
        x = da.map_blocks(block, chunks=((size,) * n_blocks, (2,)), dtype=np.float64)
        return x[:, 0], x[:, 1]

    open(marker, "w").close()  # no kill: the reference run on the cluster
    calm = fd.evaluate(*columns(), LOSSES, bootstrap=16)
    os.remove(marker)
    killed = fd.evaluate(*columns(), LOSSES, bootstrap=16)
    assert os.path.exists(marker), "the task that kills its worker did not run"
    assert killed == calm and killed.intervals == calm.intervals  # the same bits
    local = [np.random.default_rng(1000 + i) for i in range(n_blocks)]
    pt = np.concatenate(
        [np.stack([r.normal(size=size), r.normal(size=size)], axis=1) for r in local]
    )
    acc = fl.Accumulator(LOSSES, bootstrap=16).update(pt[:, 0], pt[:, 1])
    _close(killed, acc.result())


def test_tasks_run_fastloss_single_threaded_and_restore(monkeypatch):
    fl.set_num_threads(2)
    with fd._task_threads(1):
        with fd._task_threads(1):  # a second task on another thread of the worker
            assert fl.get_num_threads() == 1
        assert fl.get_num_threads() == 1  # the first task still runs
    assert fl.get_num_threads() == 2
    with fd._task_threads(None):
        assert fl.get_num_threads() == 2
    seen = []
    update = fl.Accumulator.update

    def probe(self, *a, **k):
        seen.append(fl.get_num_threads())
        return update(self, *a, **k)

    monkeypatch.setattr(fl.Accumulator, "update", probe)
    p = da.from_array(np.arange(10.0), chunks=5)
    fd.evaluate(p, np.zeros(10), "mse", scheduler="sync")
    fd.evaluate(p, np.zeros(10), "mse", scheduler="sync", threads=2)
    fd.evaluate(p, np.zeros(10), "mse", scheduler="sync", threads=None)
    assert seen == [1, 1, 2, 2, 2, 2]
    assert fl.get_num_threads() == 2


def test_bad_input(rng):
    p = da.from_array(rng.normal(size=100), chunks=30)
    with pytest.raises(TypeError, match="pred: expected a dask array"):
        fd.evaluate(np.zeros(100), np.zeros(100), "mse")
    with pytest.raises(ValueError, match="target: expected 100 rows"):
        fd.evaluate(p, np.zeros(99), "mse", scheduler="sync")
    with pytest.raises(ValueError, match="unknown sizes"):
        fd.evaluate(p[p > 0], p[p > 0], "mse", scheduler="sync")
    with pytest.raises(ValueError, match="split_every"):
        fd.evaluate(p, p, "mse", split_every=1)
    with pytest.raises(ValueError, match="threads"):
        fd.evaluate(p, p, "mse", threads=0)
    with pytest.raises(ValueError, match="delta"):
        fd.evaluate(p, p, fl.huber.with_params(delta=-1.0))
    with pytest.raises(ValueError, match="cannot be accumulated"):
        fd.evaluate(p, p, "gaussian_nll", scheduler="sync")
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    a = dd.from_pandas(pd.DataFrame({"p": np.zeros(100)}), npartitions=3)
    b = dd.from_pandas(pd.DataFrame({"t": np.zeros(100)}), npartitions=4)
    with pytest.raises(ValueError, match="target: 4 partitions, pred has 3"):
        fd.evaluate(a["p"], b["t"], "mse", scheduler="sync")
    with pytest.raises(TypeError, match="target: pred is a dask DataFrame column"):
        fd.evaluate(a["p"], np.zeros(100), "mse", scheduler="sync")


def test_importing_fastloss_does_not_import_dask():
    code = "import sys, fastloss; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


def test_docstring_examples():
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(fd) if t.examples]
    assert tests
    for t in tests:
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        out = []
        assert runner.run(t, out=out.append).failed == 0, "".join(out)


# -- fastloss eval --workers / --scheduler ---------------------------------------


@pytest.fixture
def parquet(tmp_path, rng, monkeypatch):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    import fastloss._evaluate as ev

    monkeypatch.setattr(ev, "DASK_PART_ROWS", 6000)  # several tasks for a small file
    p, t, w, g = _data(rng, 25_000)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"p": p, "t": t, "w": w, "g": g}), path, row_group_size=2500)
    return path


def _cli(capsys, *argv):
    from fastloss.cli import main

    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _same_json(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _same_json(a[k], b[k])
        else:
            assert a[k] == pytest.approx(b[k], rel=1e-12), k


def test_cli_on_dask_gives_the_local_results(parquet, capsys, client):
    import json

    argv = [
        "eval",
        parquet,
        *"--pred p --target t --weight w --group-by g --loss mse --loss huber:delta=0.5".split(),
        *"--loss rmse --bootstrap 40 --format json --batch-rows 1000".split(),
    ]
    rc, out, err = _cli(capsys, *argv)
    assert rc == 0, err
    local = json.loads(out)
    for extra in (["--workers", "2"], ["--scheduler", client.scheduler.address]):
        rc, out, err = _cli(capsys, *argv, *extra)
        assert rc == 0 and err == "", (extra, err)
        got = json.loads(out)
        assert got["rows"] == local["rows"] == 25_000
        _same_json(got["results"], local["results"])
        _same_json(got["intervals"], local["intervals"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--example", "--workers", "2"], "--example runs here"),
    ],
)
def test_cli_on_dask_bad_options(parquet, capsys, argv, message):
    data = [] if "--example" in argv else [parquet, "--pred", "p", "--target", "t", "--loss", "mse"]
    rc, out, err = _cli(capsys, "eval", *data, *argv)
    assert rc == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_cli_on_dask_refuses_other_formats(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("p,t\n1,2\n")
    rc, _, err = _cli(
        capsys, "eval", tmp_path / "d.csv", *"--pred p --target t --loss mse --workers 1".split()
    )
    assert rc == 2 and "read Parquet files" in err


def test_cli_threads_option(parquet, capsys):
    fl.set_num_threads(2)
    seen = []
    update = fl.Accumulator.update

    def probe(self, *a, **k):
        seen.append(fl.get_num_threads())
        return update(self, *a, **k)

    argv = ["eval", parquet, "--pred", "p", "--target", "t", "--loss", "mse"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fl.Accumulator, "update", probe)
        assert _cli(capsys, *argv)[0] == 0
        assert set(seen) == {1} and fl.get_num_threads() == 2  # 1 while it ran, then restored
        seen.clear()
        assert _cli(capsys, *argv, "--threads", "2")[0] == 0
        assert set(seen) == {2}
    rc, _, err = _cli(capsys, *argv, "--threads", "-1")
    assert rc == 2 and "--threads must be in [0" in err
