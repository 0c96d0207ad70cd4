"""Smoke tests of the benchmark script (structure and peer agreement, never timings).

Not part of the default test run (``testpaths = tests``); run with

    PYTHONPATH=python python3 -m pytest -q -p no:cacheprovider benchmarks/test_bench.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402
import specs  # noqa: E402

fastloss = pytest.importorskip("fastloss")


def _small(shape):
    """A shape of a few thousand elements with the row's trailing layout."""
    if len(shape) == 1:
        return (min(shape[0], 3000),)
    if len(shape) == 2:
        return (min(shape[0], 300), min(shape[1], 50))
    return (2,) + tuple(min(d, 16) for d in shape[1:])


def test_every_loss_has_a_benchmark_row():
    for row in specs.ROWS:
        assert row.loss in specs.MAKERS
    for name in specs.MAKERS:
        # a formula for JAX and PyTorch, or PyTorch's own function (ctc: a
        # dynamic program, torch's ctc_loss only)
        assert name in specs.EXPR or name in specs.TORCH_LIB, f"{name}: no formula for the peers"
    # the other scripts' rows: several-input losses (bench_several.py, with
    # torch's autograd as the peer), clustering and the fused linear layer
    import bench_clustering
    import bench_linear

    torch = pytest.importorskip("torch")
    import bench_several

    rows = set(specs.MAKERS) | set(bench_several._cases(torch))
    rows |= set(bench_clustering.LOSSES) | set(bench_linear.LOSSES)
    missing = sorted(set(fastloss.available()) - rows)
    assert not missing, f"losses with no benchmark row: {missing}"


def test_inputs_are_valid_for_fastloss():
    rng = np.random.default_rng(0)
    for name in sorted(set(fastloss.available()) & set(specs.MAKERS)):
        for dtype in (np.float32, np.float64):
            row = next(r for r in specs.ROWS if r.loss == name)
            inp = specs.MAKERS[name](rng, dtype, _small(row.shape))
            assert inp.pred.dtype == dtype
            value, grad = fastloss.get(name).value_and_grad(inp.pred, inp.target, **inp.params)
            grad = grad[0] if isinstance(grad, tuple) else grad  # several inputs: the first
            assert np.isfinite(value), name
            grad = grad[0] if isinstance(grad, tuple) else grad  # gaussian_nll: (pred, var)
            assert grad.shape == inp.pred.shape and np.all(np.isfinite(grad)), name


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_quick_run_writes_json_report_and_peers_agree(tmp_path, monkeypatch, dtype):
    rows = [
        dataclasses.replace(r, shape=_small(r.shape) if r.scalable else r.shape) for r in specs.ROWS
    ]
    monkeypatch.setattr(specs, "ROWS", rows)
    out_json, report = tmp_path / "b.json", tmp_path / "BENCHMARKS.md"
    # all usable CPUs: fewer would pin this (test) process to them
    threads = len(bench.usable_cpus())
    data = bench.main(
        [
            "--quick",
            "--threads",
            str(threads),
            "--dtype",
            dtype,
            "--repeats",
            "3",
            "--budget",
            "0.2",
            "--scaling-max",
            "3000",
            "--json",
            str(out_json),
            "--report",
            str(report),
        ]
    )
    saved = json.loads(out_json.read_text())
    assert saved["machine"]["versions"]["numpy"] == np.__version__
    assert saved["machine"]["threads"] == threads and saved["machine"]["dtype"] == dtype
    assert saved["roof"]["read_GBps"] > 0
    have = set(fastloss.available())
    assert {r["loss"] for r in saved["results"]} == {r.loss for r in rows if r.loss in have}
    for row in data["results"]:
        for verb, res in row["verbs"].items():
            assert res["fastloss"]["median_s"] > 0
            assert res["fastloss"]["repeats"] >= 3
            for name, cell in res.items():
                assert "error" not in cell, (row["label"], verb, name, cell)
                assert cell.get("agree", True), (row["label"], verb, name, cell)
        assert "value_and_grad" in row["summary"]
    assert "fastloss_out" in data["results"][0]["verbs"]["value_and_grad"]
    text = report.read_text()
    assert "| work | verb | fastloss |" in text and "Memory roof" in text
    assert saved["scaling"]["losses"], "no scaling curve"
    for curves in saved["scaling"]["losses"].values():
        assert "1" in curves
        assert all(p["ns_per_element"] > 0 for pts in curves.values() for p in pts)
    for loss, sp in saved["scaling"].get("compute_speedup", {}).items():
        assert len(sp) == len(saved["scaling"]["sizes"]) and all(v > 0 for v in sp), loss


def test_roof_probe_sums_one_two_and_three_arrays():
    probe = bench.load_roof_probe()
    if probe is None:
        pytest.skip("no C++ compiler with OpenMP")
    x = np.random.default_rng(0).random(100_003, dtype=np.float32)
    want = float(x.astype(np.float64).sum())
    for threads in (1, 2, 3):
        assert probe(x.ctypes.data, None, x.size, threads) == pytest.approx(want, rel=1e-5)
        h = x.size // 2
        two = probe(x[:h].ctypes.data, x[h : 2 * h].ctypes.data, h, threads)
        assert two == pytest.approx(float(x[: 2 * h].astype(np.float64).sum()), rel=1e-5)
        t = x.size // 3
        three = probe.three(
            x[:t].ctypes.data, x[t : 2 * t].ctypes.data, x[2 * t : 3 * t].ctypes.data, t, threads
        )
        assert three == pytest.approx(float(x[: 3 * t].astype(np.float64).sum()), rel=1e-5)


def test_cap_reexecutes_with_every_switch(tmp_path):
    from fastloss import _core

    if "avx2" not in _core.supported_isas():
        pytest.skip("no AVX2 on this CPU")
    import subprocess

    out = tmp_path / "r.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run(
        [
            sys.executable,
            bench.__file__,
            "--quick",
            "--cap",
            "avx2",
            "--peers",
            "numpy",
            "--losses",
            "mse",
            "--no-roof",
            "--no-scaling",
            "--json",
            str(out),
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    m = json.loads(out.read_text())["machine"]
    assert m["cap"] == "avx2"
    for k, v in bench.CAPS["avx2"].items():
        assert v in m["cap_env"][k], k
    assert m["isa_used"]["fastloss"] == "avx2"
    assert "X86_V4" not in m["isa_used"]["numpy"]
