"""The fuzz harness (tests/fuzz/fuzz_losses.py) on a CI budget.

Each input is one call of a loss with drawn shapes, dtypes, values,
strides, parameters, weights and out= buffers; it must raise a
ValueError/TypeError with a message or agree with the NumPy reference (the
harness's docstring has the rules). Two drivers of the same generator:

- 2000 inputs from NumPy's generator (input i of seed S is ``python
  tests/fuzz/fuzz_losses.py --seed S --replay i``), a few seconds;
- 150 inputs from hypothesis, which shrinks a failing input to a small one
  (its draws cost about 1 ms each, 20 ms an input: a small budget here).

The large runs are the script's: ``python tests/fuzz/fuzz_losses.py --n
100000``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import fuzz_losses as F

OUTCOMES = ("ok", "ValueError", "TypeError", "known defect", "ill-conditioned")


def test_fuzz_2000_inputs(capsys):
    rc = F.main(["--n", "2000", "--seed", "7000000"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "2000 inputs (seed 7000000)" in out


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_fuzz_hypothesis(data):
    inp = F.generate(F.HypothesisDraw(data))
    assert F.run_one(inp) in OUTCOMES, inp.describe()


def test_fuzz_tolerance_catches_an_injected_error(capsys):
    # the tolerance (with its rounding-noise floor) still sees a 1e-6
    # relative error: every float64 result that the inputs make larger than
    # the floor must then disagree (float32's tolerance is 2e-5: not there)
    rc = F.main(["--n", "400", "--seed", "7000000", "--inject", "1e-6", "--show", "0"])
    out = capsys.readouterr().out
    assert rc == 1, out
    line = next(s for s in out.splitlines() if s.strip().startswith("float64:"))
    agree, disagree = (int(w) for w in line.split() if w.isdigit())
    assert disagree > 2 * agree, out


def test_a_one_minus_similarity_value_is_held_to_its_terms():
    # seed 987654321, input 11737: a float32 MS-SSIM loss of 4.6e-5, 2.7e-4
    # off relatively (pytorch_msssim's float32 ms_ssim is 2.5e-4 off on the
    # same images): 1e-8 absolute, a difference of terms of size 1. Agrees
    # under the tolerance of those terms; the terms' size follows the
    # reduction and the weights
    inp = F.generate(F.NumpyDraw(987654321 + 11737))
    assert inp.name == "ms_ssim" and F.run_one(inp) == "ok", inp.describe()
    import dataclasses

    import numpy as np

    x = np.zeros((3, 1, 16, 16))
    base = dataclasses.replace(inp, args=[x, x], kw={"reduction": "none"})
    args = base.args
    assert F._value_terms(base, args) == 1.0
    assert F._value_terms(dataclasses.replace(base, kw={"reduction": "sum"}), args) == 3.0
    assert F._value_terms(dataclasses.replace(base, kw={"reduction": "mean"}), args) == 1.0
    w = np.array([1.0, -3.0, 4.0])
    kw = {"reduction": "sum", "sample_weight": w}
    assert F._value_terms(dataclasses.replace(base, kw=kw), args) == 8.0
    kw = {"reduction": "mean", "sample_weight": w}
    assert F._value_terms(dataclasses.replace(base, kw=kw), args) == 4.0
