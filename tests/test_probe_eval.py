"""fastloss.Accumulator, fastloss.dask and ``fastloss eval`` against pandas
and DuckDB computing the same losses on the same data: grouped results
(string and integer groups), weights (zeros among them), empty chunks and
partitions, missing values (probes of issue 21 on cases the other tests do
not cover)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 5003
    p = rng.uniform(0.01, 0.99, n)
    df = pd.DataFrame(
        {
            "p": p,
            "y": (rng.uniform(size=n) < p).astype(float),
            "w": np.where(np.arange(n) % 17 == 0, 0.0, rng.uniform(0, 2, n)),
            "gi": rng.integers(-2, 5, n),
            "gs": np.array(["a", "b", "ç", "", "a b"])[rng.integers(0, 5, n)],
            "reg": rng.normal(size=n) * 3,
        }
    )
    df["t"] = df.reg + rng.normal(size=n)
    r = df.reg - df.t
    # the losses written out in pandas (the peer), weighted by w
    df["se"] = r**2
    df["hub"] = np.where(r.abs() <= 0.5, 0.5 * r**2, 0.5 * (r.abs() - 0.25))
    df["ll"] = -(df.y * np.log(df.p) + (1 - df.y) * np.log(1 - df.p))
    return df


def _pandas_means(df, by, cols):
    g = df.assign(**{c: df.w * df[c] for c in cols}).groupby(by)
    sums = g[cols + ["w"]].sum()
    return {k: {c: row[c] / row.w for c in cols} for k, row in sums.iterrows()}


def test_accumulator_groups_equal_pandas(frame):
    df = frame
    acc = fl.Accumulator(["mse", fl.huber.with_params(delta=0.5), "rmse"])
    bounds = [0, 0, 100, 100, 2048, 3000, 3000, len(df)]  # empty chunks too
    for i, j in zip(bounds[:-1], bounds[1:]):
        acc.update(df.reg[i:j], df.t[i:j], sample_weight=df.w[i:j], group=df.gs[i:j].to_numpy())
    got = acc.result()
    ref = _pandas_means(df, "gs", ["se", "hub"])
    assert sorted(got) == sorted(ref)  # "" and "a b" are groups of their own
    for k, row in ref.items():
        assert got[k]["mse"] == pytest.approx(row["se"], rel=1e-12)
        assert got[k]["huber"] == pytest.approx(row["hub"], rel=1e-12)
        assert got[k]["rmse"] == pytest.approx(np.sqrt(row["se"]), rel=1e-12)


def test_accumulator_integer_groups_equal_duckdb(frame):
    duckdb = pytest.importorskip("duckdb")
    df = frame  # noqa: F841 (read by DuckDB's replacement scan)
    acc = fl.Accumulator("binary_cross_entropy")
    for i in range(0, len(frame), 999):
        s = slice(i, i + 999)
        acc.update(frame.p[s], frame.y[s], sample_weight=frame.w[s], group=frame.gi[s].to_numpy())
    got = acc.result()
    ref = duckdb.sql("select gi, sum(w * ll) / sum(w) as v from df group by gi").fetchall()
    assert sorted(got) == sorted(k for k, _ in ref)
    assert all(type(k) is int for k in got)
    for k, v in ref:
        assert got[k]["binary_cross_entropy"] == pytest.approx(v, rel=1e-12)


def test_dask_groups_and_empty_partitions(frame):
    pytest.importorskip("dask.dataframe")
    import dask.dataframe as dd

    import fastloss.dask as fld

    ddf = dd.from_pandas(frame, npartitions=7)
    got = fld.evaluate(ddf.reg, ddf.t, ["mse"], sample_weight=ddf.w, group=ddf.gs)
    for k, row in _pandas_means(frame, "gs", ["se"]).items():
        assert got[k]["mse"] == pytest.approx(row["se"], rel=1e-12)
    kept = ddf[ddf.gi != 1]  # group 1 gone, some partitions thinner
    got = fld.evaluate(kept.p, kept.y, ["binary_cross_entropy"], group=kept.gi)
    ref = frame[frame.gi != 1].groupby("gi").ll.mean()
    assert sorted(got) == sorted(ref.index)
    for k, v in ref.items():
        assert got[k]["binary_cross_entropy"] == pytest.approx(v, rel=1e-12)


def _eval(*args):
    # the fastloss under test (the installed one in CI, the tree's with
    # PYTHONPATH=python), not the source tree, which has no built _core
    env = {**os.environ, "PYTHONPATH": str(Path(fl.__file__).parent.parent)}
    cmd = [sys.executable, "-m", "fastloss", "eval", *map(str, args), "--format", "json"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_cli_groups_equal_pandas(frame, tmp_path, suffix):
    path = tmp_path / f"x.{suffix}"
    cols = frame[["reg", "t", "w", "gs", "gi"]]
    cols.to_parquet(path) if suffix == "parquet" else cols.to_csv(path, index=False)
    r = _eval(path, "--pred", "reg", "--target", "t", "--loss", "mse", "--weight", "w",
              "--group-by", "gi")  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["results"]
    ref = _pandas_means(frame, "gi", ["se"])
    assert sorted(got) == sorted(str(k) for k in ref)
    for k, row in ref.items():
        assert got[str(k)]["mse"] == pytest.approx(row["se"], rel=1e-12)


@pytest.mark.parametrize(
    "column,values",
    [("p", [0.5, None, 1.0]), ("g", ["a", None, "b"])],
    ids=["null prediction", "null group"],
)
def test_cli_refuses_missing_values(tmp_path, column, values):
    # before: a null prediction scored NaN with exit 0, a null group became
    # the group "None" (merged with a real "None"; pandas drops it)
    data = {"p": [0.5, 0.2, 1.0], "t": [0.0, 1.0, 1.0], "g": ["a", "None", "b"]}
    data[column] = values
    path = tmp_path / "null.parquet"
    pq.write_table(pa.table(data), path)
    r = _eval(path, "--pred", "p", "--target", "t", "--loss", "mse", "--group-by", "g")
    assert r.returncode == 2
    assert r.stdout == ""
    assert f"column {column!r} has missing rows" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    if column == "g":
        return  # a CSV's empty string field is the group "" (Arrow's CSV reader)
    # the same in a CSV: an empty numeric field is a missing value
    csv = tmp_path / "null.csv"
    pd.DataFrame(data).to_csv(csv, index=False)
    r = _eval(csv, "--pred", "p", "--target", "t", "--loss", "mse", "--group-by", "g")
    assert r.returncode == 2 and "has missing rows" in r.stderr


def test_object_group_codes():
    # pandas' strings reach NumPy as an object array of str (Series.to_numpy()):
    # before, np.unique's codes were str objects and .item() failed
    p, t = np.arange(4.0), np.zeros(4)
    a = fl.Accumulator("mae")
    a.update(p, t, group=np.array(["a", "b", "a", "c"], object))
    b = fl.Accumulator("mae")
    b.update(p, t, group=np.array(["a", "b", "a", "c"]))
    assert a.result() == b.result() == {"a": {"mae": 1.0}, "b": {"mae": 1.0}, "c": {"mae": 3.0}}
    for bad in (["a", None, "a", "c"], ["a", 1, "a", "c"], [1.5, 1, 2, 3]):
        with pytest.raises(TypeError, match="group: expected"):
            fl.Accumulator("mae").update(p, t, group=np.array(bad, object))


def test_grouped_with_no_rows_has_no_groups():
    # before: {"mse": nan}, the ungrouped shape, when every chunk was empty
    # (a Dask frame filtered down to nothing)
    import pickle

    a = fl.Accumulator("mse")
    a.update(np.zeros(0), np.zeros(0), group=np.zeros(0, np.int64))
    assert a.result() == {}
    assert pickle.loads(pickle.dumps(a)).result() == {}
    b = fl.Accumulator("mse")
    b.merge(a)
    assert b.result() == {}
    c = fl.Accumulator("mse")
    c.update(np.zeros(0), np.zeros(0))
    assert np.isnan(c.result()["mse"])  # ungrouped: NaN, as before
