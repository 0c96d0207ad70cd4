"""The ``fastloss`` command: score prediction files from the shell.

    fastloss list                                  the catalogue
    fastloss config                                ISA level, threads, build
    fastloss eval DATA... --pred COL --target COL --loss NAME[:k=v,...]
                                                   score tables (see fastloss._evaluate)
    fastloss eval --example [--plot calib.png]     every feature on generated data

``fastloss eval`` replaces the former ``fastloss score`` (removed: it paired
columns of two files by position, so a headerless file was scored against
itself without a word). A parameter value is read as a Python literal
(``delta=0.5``, ``axis=(2,3)``, ``log_input=False``), as an array when it
names a file (``class_weight=@w.npy``), else as a string
(``variant=weston_watkins``). Errors go to stderr in one line with exit
status 2.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import fastloss
from fastloss._config import config

__all__ = ["main", "load_array"]

_TEXT = {".csv": ",", ".tsv": "\t", ".txt": None}


class CliError(Exception):
    """A user error the command reports in one line."""


def load_array(spec: str) -> np.ndarray:
    """The array a command-line file argument names (see the module doc)."""
    path, key = spec.rsplit(":", 1) if ".npz:" in spec else (spec, "")
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{spec}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, mmap_mode="r", allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                names = list(z.files)
                if not names:
                    raise CliError(f"{spec}: the archive holds no array")
                if key and key not in names:
                    raise CliError(f"{spec}: no array {key!r} (it has {', '.join(names)})")
                return z[key or names[0]]
        if suffix in _TEXT:
            return np.loadtxt(p, delimiter=_TEXT[suffix], ndmin=1)
    except CliError:
        raise
    except (OSError, ValueError) as exc:
        raise CliError(f"{spec}: cannot read it ({exc})") from None
    raise CliError(f"{spec}: unknown file type {suffix!r} (use .npy, .npz, .csv, .tsv or .txt)")


def parse_param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` into a keyword argument (see the module doc)."""
    name, eq, raw = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier():
        raise CliError(f"--param {text!r}: expected NAME=VALUE")
    raw = raw.strip()
    if raw.startswith("@"):
        return name, load_array(raw[1:])
    try:
        return name, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return name, raw


def _cmd_list(args) -> int:
    rows = [(n, fastloss.get(n)) for n in fastloss.available()]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "loss": n,
                        "family": f.family,
                        "grad_hess": f.has_hess,
                        "peer": f.peer,
                        "params": {k: v for k, v in f.params.items()},
                    }
                    for n, f in rows
                ],
                default=repr,
                indent=1,
            )
        )
        return 0
    w = max(len(n) for n, _ in rows)
    for n, f in rows:
        ps = ", ".join(f"{k}={v!r}" for k, v in f.params.items())
        hess = "grad_hess" if f.has_hess else ""
        print(f"{n:<{w}}  {f.family:<14} {hess:<9}  {ps}")
    return 0


def _cmd_config(args) -> int:
    if args.json:
        print(json.dumps(config(), indent=1))
    else:
        fastloss.show_config()
    return 0


def _cmd_eval(args) -> int:
    from fastloss._evaluate import run_eval

    return run_eval(args)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="fastloss", description="Score prediction files with fastloss losses."
    )
    ap.add_argument("--version", action="version", version=f"fastloss {fastloss.__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the losses")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_list)
    p = sub.add_parser("config", help="show the ISA level, threads and build")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_config)
    p = sub.add_parser(
        "eval",
        help="score prediction tables (Parquet, Arrow, CSV, .npy, .npz)",
        description="Stream DATA files in record batches and accumulate losses "
        "(fastloss.Accumulator). `fastloss eval --example` shows every feature "
        "on a generated data set.",
    )
    from fastloss._evaluate import add_eval_arguments

    add_eval_arguments(p)
    p.set_defaults(run=_cmd_eval)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CliError, ValueError, TypeError, OSError, KeyError) as exc:
        msg = " ".join(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).split())
        print(f"fastloss {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
