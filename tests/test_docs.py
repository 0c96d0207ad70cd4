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


def test_setup_commands_reuse_one_build():
    # Both set-up commands build without isolation, so the second reuses the
    # first's build directory (see pyproject.toml, build-dir); that needs the
    # build requirements installed first, and the README names exactly those
    # of [build-system] requires.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    names = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] for r in requires}
    blocks = re.findall(r"```bash\n(.*?)\n```", README.read_text(), re.S)
    for cmd in blocks[:2]:
        steps = [s.strip() for s in cmd.split("&&")]
        build = [s for s in steps if "--no-build-isolation" in s]
        assert len(build) == 1, cmd
        before = steps[: steps.index(build[0])]
        installed = {w for s in before if s.startswith("pip install") for w in s.split()[2:]}
        assert names <= installed, (names - installed, cmd)
