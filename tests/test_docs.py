"""The README stays true: its catalogue lists every loss, with the right grad_hess column,
and its two set-up commands are the ones CI runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import fastloss as fl

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.is_file(), reason="README.md not beside the tests")


def catalogue_rows() -> dict[str, list[str]]:
    rows = {}
    for line in README.read_text().splitlines():
        m = re.match(r"\| `([a-z_0-9]+)[(`]", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in line.strip("|").split("|")]
    return rows


def test_catalogue_lists_every_loss_once():
    assert sorted(catalogue_rows()) == fl.available()


@pytest.mark.parametrize("name", fl.available())
def test_catalogue_row_is_true(name):
    cells = catalogue_rows()[name]
    loss = fl.get(name)
    assert cells[1] == loss.family
    assert cells[2].startswith("yes") == loss.has_hess
    shown = dict(re.findall(r"(\w+)=([^,)]+)", cells[0]))
    assert set(shown) == set(loss.params), name
    for k, v in loss.params.items():
        if shown[k] != "...":
            assert ast.literal_eval(shown[k]) == v, (name, k)


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)
    test_cmd = blocks[1].strip()
    assert "pytest" in test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()
