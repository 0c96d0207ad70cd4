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


@pytest.fixture
def files(tmp_path, rng):
    p = rng.normal(size=(200, 3))
    t = rng.normal(size=(200, 3))
    w = rng.uniform(0.5, 2.0, size=200)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    np.save(tmp_path / "w.npy", w)
    np.savetxt(tmp_path / "p.csv", p, delimiter=",")
    np.savetxt(tmp_path / "t.tsv", t, delimiter="\t")
    np.savez(tmp_path / "both.npz", pred=p, target=t)
    return tmp_path, p, t, w


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_score_matches_the_reference_for_each_format(files, capsys):
    d, p, t, _ = files
    want = ref.huber(p, t, delta=0.5)
    for pa, ta in [("p.npy", "t.npy"), ("p.csv", "t.tsv"), ("both.npz:pred", "both.npz:target")]:
        rc, out, err = run(capsys, "score", "huber", d / pa, d / ta, "--param", "delta=0.5")
        assert rc == 0, err
        name, value = out.split()
        assert name == "huber"
        assert float(value) == pytest.approx(want, rel=1e-12)


def test_score_several_losses_with_weights_as_json(files, capsys):
    d, p, t, w = files
    rc, out, err = run(capsys, "score", "mse,mae", d / "p.npy", d / "t.npy",
                       "--weight", d / "w.npy", "--reduction", "sum", "--json", "--threads", 1)
    assert rc == 0, err
    rows = json.loads(out)
    assert [r["loss"] for r in rows] == ["mse", "mae"]
    assert rows[0]["value"] == pytest.approx(ref.mse(p, t, reduction="sum", sample_weight=w))
    assert rows[1]["value"] == pytest.approx(ref.mae(p, t, reduction="sum", sample_weight=w))
    assert rows[0]["n"] == p.size
    fl.set_num_threads(None)


def test_score_none_writes_the_per_sample_losses(files, capsys, tmp_path):
    d, p, t, _ = files
    out_path = tmp_path / "per.npy"
    rc, out, err = run(capsys, "score", "mse", d / "p.npy", d / "t.npy",
                       "--reduction", "none", "--output", out_path)
    assert rc == 0, err
    np.testing.assert_allclose(np.load(out_path), ref.mse(p, t, reduction="none"), rtol=1e-15)


def test_array_and_tuple_params(tmp_path, rng, capsys):
    logits = rng.normal(size=(50, 4))
    labels = rng.integers(0, 4, size=50)
    cw = np.array([1.0, 2.0, 0.5, 1.5])
    np.save(tmp_path / "z.npy", logits)
    np.save(tmp_path / "y.npy", labels)
    np.save(tmp_path / "cw.npy", cw)
    rc, out, err = run(capsys, "score", "cross_entropy", tmp_path / "z.npy", tmp_path / "y.npy",
                       "--param", f"class_weight=@{tmp_path / 'cw.npy'}",
                       "--param", "label_smoothing=0.1")
    assert rc == 0, err
    want = ref.cross_entropy(logits, labels, class_weight=cw, label_smoothing=0.1)
    assert float(out.split()[1]) == pytest.approx(want, rel=1e-12)
    p = rng.uniform(size=(2, 3, 4, 4))
    t = (rng.uniform(size=p.shape) > 0.5).astype(float)
    np.save(tmp_path / "sp.npy", p)
    np.save(tmp_path / "st.npy", t)
    rc, out, err = run(capsys, "score", "dice", tmp_path / "sp.npy", tmp_path / "st.npy",
                       "--param", "axis=(2,3)", "--param", "smooth=0")
    assert rc == 0, err
    assert float(out.split()[1]) == pytest.approx(ref.dice(p, t, axis=(2, 3), smooth=0.0))


def test_list_and_config(capsys):
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == fl.available()
    rc, out, _ = run(capsys, "list", "--json")
    rows = {r["loss"]: r for r in json.loads(out)}
    assert rows["huber"]["grad_hess"] is True and rows["mae"]["grad_hess"] is False
    rc, out, _ = run(capsys, "config", "--json")
    assert rc == 0 and json.loads(out)["isa"] == fl._core.isa()
    rc, out, _ = run(capsys, "config")
    assert "ISA level" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["score", "msee", "p.npy", "t.npy"], "did you mean mse"),
        (["score", "mse", "missing.npy", "t.npy"], "no such file"),
        (["score", "mse", "p.npy", "w.npy"], "same shape"),
        (["score", "huber", "p.npy", "t.npy", "--param", "delta=-1"], "delta must be > 0"),
        (["score", "huber", "p.npy", "t.npy", "--param", "nope=1"], "no loss given takes it"),
        (["score", "huber", "p.npy", "t.npy", "--param", "delta"], "expected NAME=VALUE"),
        (["score", "mse", "p.npy", "t.npy", "--output", "o.npy"], "--output needs"),
        (["score", "mse", "p.npy", "both.npz:nothere"], "no array 'nothere'"),
        (["score", "mse", "p.npy", "t.bin"], "unknown file type"),
        (["score", ",", "p.npy", "t.npy"], "at least one loss"),
    ],
)
def test_bad_input_is_one_line_on_stderr(files, capsys, monkeypatch, argv, message):
    d = files[0]
    (d / "t.bin").write_bytes(b"\0" * 8)
    monkeypatch.chdir(d)
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert out == ""
    assert message in err and err.count("\n") == 1


def test_unreadable_file(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    with pytest.raises(Exception, match="cannot read it"):
        load_array(str(tmp_path / "bad.npy"))


def test_runs_as_a_program(files):
    d, p, t, _ = files
    env = dict(os.environ, PYTHONPATH=str(Path(fl.__file__).parent.parent))
    r = subprocess.run(
        [sys.executable, "-m", "fastloss", "score", "mae", str(d / "p.npy"), str(d / "t.npy")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split()[1]) == pytest.approx(ref.mae(p, t), rel=1e-12)
