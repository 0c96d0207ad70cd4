"""The ``fastloss`` command: score prediction files from the shell.

    fastloss list                                  the catalogue
    fastloss config                                ISA level, threads, build
    fastloss score LOSS[,LOSS...] PRED TARGET      one line per loss
        [--weight W] [--reduction mean|sum|none] [--output OUT.npy]
        [--param NAME=VALUE ...] [--threads N] [--json]

``PRED``, ``TARGET`` and ``W`` are ``.npy`` files (memory-mapped, so files
larger than memory stream through the page cache), ``.npz`` files (the first
array, or ``file.npz:key``) or text files (``.csv``, ``.tsv``, ``.txt``:
``numpy.loadtxt``). A ``--param`` value is read as a Python literal
(``delta=0.5``, ``axis=(2,3)``, ``log_input=False``), as an array when it
names a file (``class_weight=@w.npy``), else as a string
(``variant=weston_watkins``). Errors go to stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
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
        print(json.dumps([
            {"loss": n, "family": f.family, "grad_hess": f.has_hess, "peer": f.peer,
             "params": {k: v for k, v in f.params.items()}}
            for n, f in rows
        ], default=repr, indent=1))
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


def _cmd_score(args) -> int:
    names = [n.strip() for n in args.loss.split(",") if n.strip()]
    if not names:
        raise CliError("LOSS: give at least one loss name")
    if args.output and (args.reduction != "none" or len(names) != 1):
        raise CliError("--output needs --reduction none and exactly one loss")
    losses = [fastloss.get(n) for n in names]
    pred, target = load_array(args.pred), load_array(args.target)
    weight = load_array(args.weight) if args.weight else None
    params = dict(parse_param(p) for p in args.param)
    if args.threads is not None:
        fastloss.set_num_threads(args.threads)
    unused = set(params).difference(*(f.params for f in losses))
    if unused:
        raise CliError(f"--param {sorted(unused)[0]}: no loss given takes it")
    results = []
    for loss in losses:
        mine = {k: v for k, v in params.items() if k in loss.params}
        t0 = time.perf_counter()
        value = loss(pred, target, reduction=args.reduction, sample_weight=weight, **mine)
        seconds = time.perf_counter() - t0
        results.append((loss.name, value, seconds))
    if args.output:
        np.save(args.output, results[0][1])
    if args.json:
        print(json.dumps([
            {"loss": n, "reduction": args.reduction,
             "value": (None if args.output else np.asarray(v).tolist()) if args.reduction == "none"
             else v, "output": args.output, "n": int(np.asarray(pred).size), "seconds": s}
            for n, v, s in results
        ]))
    else:
        for n, v, _ in results:
            if args.output:
                print(f"{n}\t{args.output}")
            elif args.reduction == "none":
                print(n, np.array2string(np.asarray(v), threshold=20), sep="\t")
            else:
                print(f"{n}\t{v!r}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="fastloss", description="Score prediction files with fastloss losses.")
    ap.add_argument("--version", action="version", version=f"fastloss {fastloss.__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the losses")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_list)
    p = sub.add_parser("config", help="show the ISA level, threads and build")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_config)
    p = sub.add_parser("score", help="compute losses of a prediction file against a target file")
    p.add_argument("loss", help="loss name, or several separated by commas")
    p.add_argument("pred", help="predictions: .npy, .npz[:key], .csv, .tsv or .txt")
    p.add_argument("target", help="targets, same formats")
    p.add_argument("--weight", help="sample weights file")
    p.add_argument("--reduction", default="mean", choices=("mean", "sum", "none"))
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a loss parameter; repeat for several")
    p.add_argument("--output", help="with --reduction none: save the per-sample losses here")
    p.add_argument("--threads", type=int, help="threads to use (default: all cores)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_score)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CliError, ValueError, TypeError) as exc:
        print(f"fastloss {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
