"""scripts/bits.py record on saved inputs, as scripts/cross-check.sh runs it:
the aarch64 side must compute on the bytes the x86-64 side drew (NumPy's
float64 exp/log in tests/cases.py round differently there), so a record made
with ``--load-inputs`` has to use the file's inputs, not inputs drawn again.
One small loss and one size keep it quick; the cross-check runs them all."""

from __future__ import annotations

import importlib.util
import json
import os
import pickle

import pytest

import fastloss

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "bits.py"
)


@pytest.fixture
def bits(monkeypatch):
    spec = importlib.util.spec_from_file_location("fastloss_bits_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # record() walks fastloss.available(): one loss, one size
    monkeypatch.setattr(fastloss, "available", lambda: ["mse"])
    monkeypatch.setattr(mod, "SIZES", (5,))
    return mod


def test_record_on_saved_inputs_uses_their_bytes(bits, tmp_path):
    path = str(tmp_path / "inputs.pkl")
    drawn = bits.record(save_inputs=path)
    with open(path, "rb") as f:
        saved = pickle.load(f)
    assert set(saved) == {"mse/float32/5", "mse/float64/5"}
    assert bits.record(load_inputs=path) == drawn

    # the file's float64 pred changed: the loading record sees it, in the
    # input hash and in the results, and nowhere else
    pred, target, params = saved["mse/float64/5"]
    pred = pred.copy()
    pred.flat[0] += 1.0
    saved["mse/float64/5"] = (pred, target, params)
    with open(path, "wb") as f:
        pickle.dump(saved, f)
    loaded = bits.record(load_inputs=path)
    changed = {k for k in drawn if loaded[k] != drawn[k]}
    assert "mse/float64/5/inputs" in changed
    assert "mse/float64/5/value/none" in changed
    assert all(k.startswith("mse/float64/5/") for k in changed)


def test_record_refuses_a_file_without_a_case(bits, tmp_path):
    path = str(tmp_path / "inputs.pkl")
    bits.record(save_inputs=path)
    with open(path, "rb") as f:
        saved = pickle.load(f)
    del saved["mse/float32/5"]
    with open(path, "wb") as f:
        pickle.dump(saved, f)
    with pytest.raises(SystemExit, match="mse/float32/5"):
        bits.record(load_inputs=path)


def test_diff_names_input_differences(bits, tmp_path, capsys):
    a = {"mse/float64/5/inputs": "x", "mse/float64/5/value/mean": "1"}
    b = {"mse/float64/5/inputs": "y", "mse/float64/5/value/mean": "1"}
    pa, pb = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    for p, d in ((pa, a), (pb, b)):
        with open(p, "w") as f:
            json.dump(d, f)
    assert bits._diff(pa, pa) == 0
    assert bits._diff(pa, pb) == 1
    out = capsys.readouterr().out
    assert "DIFFERS mse/float64/5/inputs" in out
    assert "1 same, 1 differ (1 of them input hashes)" in out


def test_inputs_lists_the_cases_drawn_otherwise(bits, tmp_path):
    rec = bits.record()
    path = str(tmp_path / "rec.json")
    with open(path, "w") as f:
        json.dump(rec, f)
    assert bits.input_differences(path) == []
    rec["mse/float32/5/inputs"] = "0" * 16
    with open(path, "w") as f:
        json.dump(rec, f)
    assert bits.input_differences(path) == ["mse/float32/5"]
