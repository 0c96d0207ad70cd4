"""The ``fastloss`` command line: every subcommand, every file format, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastloss as fl
from fastloss import reference as ref
from fastloss.cli import load_array, main


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_list_and_config(capsys):
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == fl.available()
    rc, out, _ = run(capsys, "list", "--json")
    rows = {r["loss"]: r for r in json.loads(out)}
    assert rows["huber"]["grad_hess"] is True and rows["dice"]["grad_hess"] is False
    rc, out, _ = run(capsys, "config", "--json")
    assert rc == 0 and json.loads(out)["isa"] == fl._core.isa()
    rc, out, _ = run(capsys, "config")
    assert "ISA level" in out


pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


@pytest.fixture
def table(tmp_path, rng):
    n = 5000
    cols = {
        "p": rng.normal(size=n),
        "t": rng.normal(size=n),
        "w": rng.uniform(0.5, 2, size=n),
        "g": rng.choice(np.array(["a", "b"]), size=n),
        "label": rng.integers(0, 3, size=n),
        "logits": rng.normal(size=(n, 3)),
    }
    t = pa.table(
        {
            **{k: v for k, v in cols.items() if k != "logits"},
            "logits": pa.FixedSizeListArray.from_arrays(cols["logits"].ravel(), 3),
            "l0": cols["logits"][:, 0],
            "l1": cols["logits"][:, 1],
            "l2": cols["logits"][:, 2],
        }
    )
    pq.write_table(t, tmp_path / "d.parquet", row_group_size=1000)
    with pa.ipc.new_file(str(tmp_path / "d.arrow"), t.schema) as wr:
        wr.write_table(t, max_chunksize=700)
    pa_csv.write_csv(t.drop_columns(["logits"]), tmp_path / "d.csv")
    np.savez(tmp_path / "d.npz", **{k: v for k, v in cols.items() if k != "g"})
    np.save(tmp_path / "d.npy", np.column_stack([cols["p"], cols["t"]]))
    return tmp_path, cols


def test_eval_every_format_matches_the_one_shot_call(table, capsys):
    d, c = table
    want = fl.huber(c["p"], c["t"], delta=0.5, sample_weight=c["w"])
    for f, extra in [("d.parquet", []), ("d.arrow", []), ("d.csv", []), ("d.npz", [])]:
        rc, out, err = run(
            capsys,
            "eval",
            d / f,
            *"--pred p --target t --weight w --loss huber:delta=0.5 --format json".split(),
            *["--batch-rows", 777, *extra],
        )
        assert rc == 0, (f, err)
        obj = json.loads(out)
        assert obj["rows"] == 5000 and obj["seconds"] >= 0
        assert obj["results"]["huber"] == pytest.approx(want, rel=1e-12), f
    rc, out, err = run(
        capsys,
        "eval",
        d / "d.npy",
        *"--columns p,t --pred p --target t --loss mse --format csv".split(),
    )
    assert rc == 0, err
    assert out.splitlines()[0] == "loss,value"
    assert float(out.splitlines()[1].split(",")[1]) == pytest.approx(
        fl.mse(c["p"], c["t"]), rel=1e-12
    )


def test_eval_list_and_stacked_columns_groups_and_bootstrap(table, capsys):
    d, c = table
    want = fl.cross_entropy(c["logits"], c["label"])
    for pred in ("logits", "l0,l1,l2"):
        rc, out, err = run(
            capsys,
            "eval",
            d / "d.parquet",
            "--pred",
            pred,
            "--target",
            "label",
            "--loss",
            "cross_entropy",
            "--loss",
            "multiclass_hinge",
            "--format",
            "json",
        )
        assert rc == 0, err
        assert json.loads(out)["results"]["cross_entropy"] == pytest.approx(want, rel=1e-12)
    rc, out, err = run(
        capsys,
        "eval",
        d / "d.parquet",
        d / "d.parquet",
        *"--pred p --target t --loss mse --group-by g --bootstrap 100 --format json".split(),
    )
    assert rc == 0, err
    obj = json.loads(out)
    assert obj["rows"] == 10000 and sorted(obj["results"]) == ["a", "b"]
    m = c["g"] == "a"
    assert obj["results"]["a"]["mse"] == pytest.approx(fl.mse(c["p"][m], c["t"][m]), rel=1e-12)
    lo, hi = obj["intervals"]["a"]["mse"]
    assert lo < obj["results"]["a"]["mse"] < hi
    rc, out, err = run(
        capsys,
        "eval",
        d / "d.parquet",
        *"--pred p --target t --loss mse --loss mse: --group-by g".split(),
    )
    assert rc == 2 and "given twice" in err


def test_eval_calibration_only_with_bootstrap(tmp_path, capsys, rng):
    # ece / mce are not resampled: --bootstrap with only them used to exit 2
    # ("need at least one array to concatenate")
    n = 2000
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(float)
    g = rng.choice(np.array(["a", "b"]), size=n)
    pq.write_table(pa.table({"p": p, "y": y, "g": g}), tmp_path / "c.parquet")
    for extra in ([], ["--loss", "mce", "--group-by", "g"]):
        rc, out, err = run(
            capsys,
            "eval",
            tmp_path / "c.parquet",
            *"--pred p --target y --loss ece --bootstrap 100 --format json".split(),
            *extra,
        )
        assert rc == 0, err
        obj = json.loads(out)
        want = fl.Accumulator(["ece", "mce"] if extra else ["ece"])
        want = want.update(p, y, group=g if extra else None).result()
        assert obj["results"] == want


def test_eval_rebatches_to_blocks_for_the_one_shot_bits(tmp_path, capsys):
    # row groups / record batches of 30,000 rows (not multiples of BLOCK):
    # the stream is re-cut at block boundaries, so the result is the one-shot
    # call's bit for bit (it differed in the last bit)
    n = 200_000
    r = np.random.default_rng(5)
    p, t = r.normal(size=n) * r.uniform(0, 100, n), r.normal(size=n)
    w = r.uniform(0.5, 2, size=n)
    tab = pa.table({"p": p, "t": t, "w": w})
    pq.write_table(tab, tmp_path / "r.parquet", row_group_size=30_000)
    with pa.ipc.new_file(str(tmp_path / "r.arrow"), tab.schema) as wr:
        wr.write_table(tab, max_chunksize=30_000)
    for f in ("r.parquet", "r.arrow"):
        rc, out, err = run(
            capsys,
            "eval",
            tmp_path / f,
            *"--pred p --target t --loss mse --loss mae --format json".split(),
        )
        assert rc == 0, err
        assert json.loads(out)["results"] == {"mse": fl.mse(p, t), "mae": fl.mae(p, t)}, f
        rc, out, err = run(
            capsys,
            "eval",
            tmp_path / f,
            *"--pred p --target t --weight w --loss mse --format json --batch-rows 7777".split(),
        )
        assert rc == 0, err
        assert json.loads(out)["results"] == {"mse": fl.mse(p, t, sample_weight=w)}, f


def test_eval_json_is_json_with_nan(tmp_path, capsys):
    t = pa.table({"p": [1.0, 2.0], "t": [1.0, 2.0], "w": [0.0, 0.0]})
    pq.write_table(t, tmp_path / "z.parquet")
    rc, out, err = run(
        capsys,
        "eval",
        tmp_path / "z.parquet",
        *"--pred p --target t --weight w --loss mse --format json".split(),
    )
    assert rc == 0, err
    assert "NaN" not in out and json.loads(out)["results"]["mse"] is None


def test_eval_example_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "calib.png"
    rc, out, err = run(capsys, "eval", "--example", "--plot", png, "--format", "json")
    assert rc == 0, err
    obj = json.loads(out)
    assert set(obj["results"]) == {"regression", "binary", "multiclass", "regression by segment"}
    assert set(obj["results"]["regression by segment"]) == {"north", "south", "west"}
    assert 0 < obj["results"]["binary"]["ece"] < 0.2
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["d.parquet", "--pred", "nope", "--target", "t", "--loss", "mse"], "no column 'nope'"),
        (["missing.parquet", "--pred", "p", "--target", "t", "--loss", "mse"], "no such file"),
        (["bad.parquet", "--pred", "p", "--target", "t", "--loss", "mse"], "cannot read it"),
        (["d.parquet", "--pred", "g", "--target", "t", "--loss", "mse"], "not numbers"),
        (["d.parquet", "--pred", "p", "--target", "t", "--loss", "msee"], "did you mean mse"),
        (
            ["d.parquet", "--pred", "p", "--target", "t", "--loss", "huber:delta=-1"],
            "delta must be > 0",
        ),
        (
            ["d.parquet", "--pred", "p", "--target", "t", "--loss", "huber:nope=1"],
            "unexpected keyword argument 'nope'",
        ),
        (["empty.csv", "--pred", "p", "--target", "t", "--loss", "mse"], "empty"),
        (["header.csv", "--pred", "p", "--target", "t", "--loss", "mse"], "no rows"),
        (["nohead.csv", "--pred", "p", "--target", "t", "--loss", "mse"], "--columns"),
        (
            "d.parquet --pred p --target t --loss mse --output nodir/o.json".split(),
            "does not exist",
        ),
        (
            ["d.parquet", "--pred", "p", "--target", "t", "--loss", "mse", "--plot", "nodir/o.png"],
            "does not exist",
        ),
        (["d.npy", "--pred", "p", "--target", "t", "--loss", "mse"], "--columns"),
        (["d.bin", "--pred", "p", "--target", "t", "--loss", "mse"], "unknown file type"),
        (["d.parquet", "--target", "t", "--loss", "mse"], "--pred"),
        (["d.parquet", "--pred", "p", "--target", "t"], "--loss"),
        (
            ["d.parquet", "--pred", "p", "--target", "t", "--loss", "gaussian_nll"],
            "cannot be accumulated",
        ),
    ],
)
def test_eval_bad_input_is_one_line_on_stderr(table, capsys, monkeypatch, argv, message):
    d = table[0]
    (d / "bad.parquet").write_bytes(b"not parquet at all")
    (d / "d.bin").write_bytes(b"\0" * 8)
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("p,t\n")
    (d / "nohead.csv").write_text("0.1,1\n0.7,0\n")
    monkeypatch.chdir(d)
    rc, out, err = run(capsys, "eval", *argv)
    assert rc == 2
    assert out == ""
    assert message in err and err.count("\n") == 1, err


def test_headerless_csv_with_named_columns(tmp_path, capsys):
    (tmp_path / "nohead.csv").write_text("0.1,1\n0.7,0\n")
    rc, out, err = run(
        capsys,
        "eval",
        tmp_path / "nohead.csv",
        *"--columns prob,label --pred prob --target label --loss brier --format json".split(),
    )
    assert rc == 0, err
    assert json.loads(out)["results"]["brier"] == pytest.approx(
        ref.brier(np.array([0.1, 0.7]), np.array([1.0, 0.0])), rel=1e-12
    )


def test_unreadable_npy(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    with pytest.raises(Exception, match="cannot read it"):
        load_array(str(tmp_path / "bad.npy"))


def _eval_peak_mib(path) -> float:
    """Peak RSS (MiB) of `fastloss eval path --pred p --target t --loss mse`
    in a child process (ru_maxrss of the children of a probe process)."""
    env = dict(os.environ, PYTHONPATH=str(Path(fl.__file__).parent.parent))
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    r = subprocess.run(
        [
            *(sys.executable, "-c", probe, sys.executable, "-m", "fastloss", "eval"),
            str(path),
            *"--pred p --target t --loss mse".split(),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return int(r.stdout) / 1024  # MiB (ru_maxrss is in KiB on Linux)


def test_runs_as_a_program_and_streams_in_flat_memory(tmp_path):
    # 8 MB and 48 MB of float64 columns in Parquet: reading the big file
    # whole would raise the command's peak RSS by 40 MB or more; streamed in
    # record batches it may rise by at most half the big file's size
    # (measured: 113 MB peak at 1e6 rows, 109 MB at 3e6 on a quiet machine;
    # 14-18 MB apart between these two files on a loaded one, where
    # pyarrow's memory pool keeps more buffers; a fixed ~35 MB above a
    # one-row file is pyarrow's row-group buffers and pool, not the file).
    rng = np.random.default_rng(0)
    for name, n in (("small", 500_000), ("big", 3_000_000)):
        with pq.ParquetWriter(
            tmp_path / f"{name}.parquet",
            pa.schema([("p", pa.float64()), ("t", pa.float64())]),
            compression="none",
        ) as wr:
            for off in range(0, n, 250_000):
                m = min(250_000, n - off)
                wr.write_table(pa.table({"p": rng.normal(size=m), "t": rng.normal(size=m)}))
    big = tmp_path / "big.parquet"
    peaks = {name: _eval_peak_mib(tmp_path / f"{name}.parquet") for name in ("small", "big")}
    assert big.stat().st_size > 45e6
    assert peaks["big"] - peaks["small"] < 24, peaks


def test_npz_streams_stored_and_deflated_members_as_parquet_reads_them(tmp_path, rng, capsys):
    # .npz members are read batch by batch from the zip (np.savez: stored,
    # np.savez_compressed: deflated), a 2-D member by rows, a big-endian one
    # as it is, a Fortran-ordered one whole: every batch size scores what the
    # Parquet reader scores from the same rows, bit for bit (both are re-cut
    # at BLOCK), and what the one-shot call scores on each group
    n = 5000
    c = {
        "w": rng.uniform(0.5, 2, size=n),
        "g": rng.choice(np.array(["a", "b"]), size=n),
        "label": rng.integers(0, 3, size=n),
        "logits": rng.normal(size=(n, 3)),
    }
    pq.write_table(
        pa.table(
            {
                **{k: v for k, v in c.items() if k != "logits"},
                "logits": pa.FixedSizeListArray.from_arrays(c["logits"].ravel(), 3),
            }
        ),
        tmp_path / "d.parquet",
        row_group_size=1000,
    )
    np.savez(tmp_path / "d.npz", **c)
    np.savez_compressed(tmp_path / "dc.npz", **c)
    np.savez(
        tmp_path / "odd.npz",
        **{**c, "w": c["w"].astype(">f8"), "logits": np.asfortranarray(c["logits"])},
    )
    args = "--pred logits --target label --weight w --group-by g --loss cross_entropy"
    results = {}
    for f in ("d.parquet", "d.npz", "dc.npz", "odd.npz"):
        for rows in (1, 777, 4096, 65536):
            rc, out, err = run(
                capsys,
                "eval",
                tmp_path / f,
                *args.split(),
                "--format",
                "json",
                "--batch-rows",
                rows,
            )
            assert rc == 0, (f, err)
            results[f, rows] = json.loads(out)["results"]
    want = results["d.parquet", 65536]
    assert all(r == want for r in results.values()), results
    for g in ("a", "b"):
        m = c["g"] == g
        one_shot = fl.cross_entropy(c["logits"][m], c["label"][m], sample_weight=c["w"][m])
        assert want[g]["cross_entropy"] == pytest.approx(one_shot, rel=1e-12)


def test_npz_bad_archives_exit_2_naming_the_file(tmp_path, capsys):
    import zipfile

    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as z:
        z.writestr("p.npy", b"not an npy header")
        z.writestr("t.npy", b"not an npy header")
    np.savez_compressed(tmp_path / "cut.npz", p=np.arange(1e5), t=np.arange(1e5))
    data = bytearray((tmp_path / "cut.npz").read_bytes())
    data[len(data) // 4 : len(data) // 4 + 64] = bytes(64)  # damage the deflate stream
    (tmp_path / "cut.npz").write_bytes(bytes(data))
    for f, msg in (
        ("junk.npz", "cannot read it as .npz"),
        ("raw.npz", "member 'p.npy' is not an .npy array"),
        ("cut.npz", "cannot read it as .npz"),
    ):
        rc, _, err = run(capsys, "eval", tmp_path / f, *"--pred p --target t --loss mse".split())
        assert rc == 2 and f in err and msg in err, (f, err)


def test_csv_streams_in_flat_memory(tmp_path):
    # 8 MB and 79 MB of CSV: pyarrow's streaming reader keeps up to 32
    # blocks in flight, so the 4 MiB blocks used before held most of the big
    # file at once (measured: peak RSS 135 -> 219 MiB between these files);
    # with 256 KiB blocks 135 -> 139 MiB
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(0)
    for name, n in (("small", 200_000), ("big", 2_000_000)):
        t = pa.table({"p": rng.normal(size=n), "t": rng.normal(size=n)})
        pcsv.write_csv(t, tmp_path / f"{name}.csv")
    assert (tmp_path / "big.csv").stat().st_size > 75e6
    peaks = {name: _eval_peak_mib(tmp_path / f"{name}.csv") for name in ("small", "big")}
    assert peaks["big"] - peaks["small"] < 24, peaks


def test_csv_rows_wider_than_a_block(tmp_path, capsys):
    # a row must fit in one of the reader's blocks: rows of ~390 KB (70,000
    # columns) get blocks sized from the first lines, not the default 256 KiB
    k, n = 70_000, 3
    rng = np.random.default_rng(1)
    data = rng.integers(0, 9, size=(n, k)).astype(np.float64)
    header = ",".join(["p", "t"] + [f"c{i}" for i in range(k - 2)])
    body = "\n".join(",".join(f"{v:.1f}" for v in row) for row in data)
    (tmp_path / "wide.csv").write_text(header + "\n" + body + "\n")
    assert len(body.split("\n")[0]) > 1 << 18
    rc, out, err = run(
        capsys,
        "eval",
        tmp_path / "wide.csv",
        *"--pred p --target t --loss mse".split(),
        "--format",
        "json",
    )
    assert rc == 0, err
    want = fl.mse(data[:, 0], data[:, 1])
    assert json.loads(out)["results"]["mse"] == pytest.approx(want, rel=1e-15)


def test_npz_streams_in_flat_memory(tmp_path):
    # 8 MB and 64 MB of float64 columns in .npz, stored and deflated (the
    # big one 64 MB unpacked): loaded whole, as np.load did here before, the
    # big files raised the command's peak RSS by their size (measured: 40.8
    # -> 95.1 MiB stored, 40.8 -> 94.3 MiB deflated); read batch by batch
    # 35.4 -> 35.7 MiB stored, 36.3 -> 38.0 MiB deflated.
    rng = np.random.default_rng(0)
    for name, n in (("small", 500_000), ("big", 4_000_000)):
        np.savez(tmp_path / f"{name}.npz", p=rng.normal(size=n), t=rng.normal(size=n))
        q = rng.integers(0, 4, size=n).astype(np.float64)  # deflates fast
        np.savez_compressed(tmp_path / f"{name}_c.npz", p=q, t=q[::-1].copy())
    names = ("small", "big", "small_c", "big_c")
    peaks = {name: _eval_peak_mib(tmp_path / f"{name}.npz") for name in names}
    assert (tmp_path / "big.npz").stat().st_size > 60e6
    assert peaks["big"] - peaks["small"] < 24, peaks
    assert peaks["big_c"] - peaks["small_c"] < 24, peaks


def test_evaluate_stream_recuts_any_batches_at_blocks(rng):
    from fastloss._evaluate import evaluate_stream

    B = fl.BLOCK
    n = 10 * B + 77
    p, t = rng.normal(size=n) * rng.uniform(0, 100, n), rng.normal(size=n)
    w = rng.uniform(size=n)
    for trial in range(20):
        cuts = np.sort(rng.choice(np.arange(1, n), size=rng.integers(0, 40), replace=False))
        bounds = [0, *cuts.tolist(), n]
        batches = [
            ("x", {"p": p[a:b], "t": t[a:b], "w": w[a:b]}, b - a)
            for a, b in zip(bounds, bounds[1:])
        ]
        batches.insert(1, ("x", {"p": p[:0], "t": t[:0], "w": w[:0]}, 0))  # an empty batch
        acc = evaluate_stream(iter(batches), ["p"], "t", ["mse", "mae"], weight="w")
        assert acc.rows == n
        assert acc.result() == {
            "mse": fl.mse(p, t, sample_weight=w),
            "mae": fl.mae(p, t, sample_weight=w),
        }, trial
        # a stream that starts off a block boundary (a Dask part): rounding
        acc = evaluate_stream(iter(batches), ["p"], "t", ["mse"], first_row=3 * B + 5)
        assert acc.result()["mse"] == pytest.approx(fl.mse(p, t), rel=1e-12)


def test_eval_plot_follows_the_loss_family(tmp_path, capsys, monkeypatch, rng):
    # --loss binary_cross_entropy --plot drew a regression residual histogram
    pytest.importorskip("matplotlib")
    from fastloss import _evaluate

    n = 3000
    logit = rng.normal(size=n) * 2
    prob = 1 / (1 + np.exp(-logit))
    y = (rng.uniform(size=n) < prob).astype(float)
    logits3 = rng.normal(size=(n, 3))
    lab = rng.integers(0, 3, size=n)
    tab = {"prob": prob, "logit": logit, "y": y, "lab": lab, "yhat": prob * 0.9}
    tab["logits3"] = pa.FixedSizeListArray.from_arrays(logits3.ravel(), 3)
    pq.write_table(pa.table(tab), tmp_path / "c.parquet")
    drawn = []
    real = _evaluate.plot_panels

    def spy(*a):
        panels = real(*a)
        drawn.append(panels)
        return panels

    monkeypatch.setattr(_evaluate, "plot_panels", spy)
    png = tmp_path / "p.png"

    def panels(*argv):
        drawn.clear()
        rc, out, err = run(capsys, "eval", tmp_path / "c.parquet", *argv, "--plot", png)
        assert rc == 0, err
        return drawn[0]

    expit = 1 / (1 + np.exp(-logit))
    softmax = np.exp(logits3) / np.exp(logits3).sum(1, keepdims=True)
    for argv, probs, target in [
        ("--pred prob --target y --loss binary_cross_entropy", prob, y),
        ("--pred logit --target y --loss binary_cross_entropy_with_logits", expit, y),
        ("--pred logits3 --target lab --loss cross_entropy", softmax, lab),
    ]:
        (kind, _, acc, name), *rest = panels(*argv.split())
        assert kind == "calib" and rest == [], argv
        got = acc.calibration(name)
        want = fl.Accumulator("ece").update(probs, target).calibration("ece")
        np.testing.assert_array_equal(got["weight"], want["weight"])
        np.testing.assert_allclose(got["confidence"], want["confidence"], rtol=1e-12)
    kinds = [p[0] for p in panels(*"--pred yhat --target y --loss mse".split())]
    assert kinds == ["resid"]
    kinds = [p[0] for p in panels(*"--pred yhat --target y --loss mse --loss ece".split())]
    assert kinds == ["calib", "resid"]
    # nothing to draw: refused before any row is read
    monkeypatch.setattr(_evaluate, "iter_batches", lambda *a: pytest.fail("read the data"))
    for argv in ("--loss dice --pred prob --target y", "--loss hinge --pred logit --target y"):
        rc, out, err = run(capsys, "eval", tmp_path / "c.parquet", *argv.split(), "--plot", png)
        assert rc == 2 and "--plot: nothing to draw" in err, err


def test_eval_odd_but_valid_files(tmp_path, capsys, rng):
    # quoted headers with spaces, group values with commas and quotes, a
    # UTF-8 BOM, CRLF line ends, a decimal Parquet column (read as numbers,
    # as pandas and DuckDB read it; was "holds object, not numbers")
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = 500
    p = rng.uniform(size=n).round(6)
    y = (rng.uniform(size=n) < p).astype(float)
    w = rng.uniform(0.1, 2, n)
    g = np.array(["x", "y, z", 'q"u'])[rng.integers(0, 3, n)]
    df = pd.DataFrame({"my pred": p, "label col": y, "w": w, "grp": g})
    df.to_csv(tmp_path / "quoted.csv", index=False, quoting=1)
    df.to_csv(tmp_path / "bom.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
    pq.write_table(
        pa.table(
            {
                "my pred": pa.array(p).cast(pa.decimal128(10, 6)),
                "label col": y,
                "w": w,
                "grp": pa.array(g).dictionary_encode(),
            }
        ),
        tmp_path / "dec.parquet",
    )
    for f in ("quoted.csv", "bom.csv", "dec.parquet"):
        rc, out, err = run(
            capsys,
            "eval",
            tmp_path / f,
            "--pred",
            "my pred",
            "--target",
            "label col",
            "--loss",
            "brier",
            "--weight",
            "w",
            "--group-by",
            "grp",
            "--format",
            "json",
        )
        assert rc == 0, (f, err)
        res = json.loads(out)["results"]
        assert sorted(res) == sorted(set(g))
        for k in set(g):
            m = g == k
            assert res[k]["brier"] == pytest.approx(
                ref.brier(p[m], y[m], sample_weight=w[m]), rel=1e-12
            ), (f, k)


def test_eval_duplicate_and_missing_columns_say_why(tmp_path, capsys):
    (tmp_path / "dupe.csv").write_text("p,p,y\n0.5,0.1,1\n0.2,0.3,0\n")
    (tmp_path / "nan.csv").write_text("p,y\n0.5,1\nNaN,0\n")
    for f, message in [
        ("dupe.csv", "column 'p' appears 2 times"),
        ("nan.csv", "marker such as NA"),
    ]:
        rc, out, err = run(
            capsys, "eval", tmp_path / f, "--pred", "p", "--target", "y", "--loss", "brier"
        )
        assert rc == 2 and out == ""
        assert f in err and message in err and err.count("\n") == 1, err
