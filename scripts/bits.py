#!/usr/bin/env python3
"""Record, or compare against a record, the exact bits every loss returns.

    PYTHONPATH=python:tests python scripts/bits.py save /tmp/bits-before.json
    PYTHONPATH=python:tests python scripts/bits.py check /tmp/bits-before.json
    PYTHONPATH=python:tests python scripts/bits.py record /tmp/bits-x86.json
    python scripts/bits.py diff /tmp/bits-x86.json /tmp/bits-arm64.json
    ... bits.py record /tmp/bits-x86.json --save-inputs /tmp/bits-inputs.pkl
    ... bits.py record /tmp/bits-arm64.json --load-inputs /tmp/bits-inputs.pkl
    ... bits.py inputs /tmp/bits-x86.json   (which cases draw other inputs here)

For every loss in the registry, both dtypes, three sizes (a few elements, a
few thousand, enough for several reduction blocks and both threads) and every
ISA level this CPU runs (each in a subprocess with FASTLOSS_ISA set), it
hashes the value (mean, sum, none), the gradient, value_and_grad, grad_hess
where the loss has one, and a weighted value and gradient. ``check`` prints
every entry whose bits changed (or that is new / gone) and exits 1 if any
changed. The inputs come from tests/cases.py, so a refactor that must keep
the bits (issue 19's "same bits as before") is checked over the registry's
own cases.

``record`` writes the entries of the one level this process runs (the
level FASTLOSS_ISA names, else the detected one) without starting
subprocesses, so it runs under an emulator that cannot start another
emulated process (qemu-aarch64 for scripts/cross-check.sh); ``diff``
compares two such records, entry by entry, and exits 1 unless they hold the
same entries with the same bits.

A record also holds, per case, a hash of its inputs (``.../inputs``), so a
diff tells inputs that differ from kernels that differ. tests/cases.py draws
some inputs with NumPy's float64 exp/log, which NumPy's x86-64 and aarch64
builds round differently; ``--save-inputs FILE`` writes the inputs one side
drew (a pickle of NumPy arrays and Python scalars) and ``--load-inputs FILE``
computes on exactly those bytes instead of drawing, so the other side's
kernels see the same bits. ``inputs RECORD`` draws the inputs here without
running a kernel and lists the cases whose input hash differs from the
record's: on aarch64 (NumPy 2.4.6), 8 of 450 float64 cases against an
x86-64 record.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys

import numpy as np

SIZES = (5, 3000, 70000)


def _h(x) -> str:
    # a tuple of results, or a list of arrays (a loss that takes a list of
    # inputs, e.g. the penalties, returns a gradient per input)
    if isinstance(x, (tuple, list)):
        return "|".join(_h(v) for v in x)
    # NaN is hashed as "NaN" whatever its sign and payload bits: IEEE 754
    # gives a NaN's sign no meaning, and the same formula may yield +NaN or
    # -NaN depending on which operand carried it (a shared value / gradient /
    # Hessian body reorders operations), so only *that* it is NaN is compared
    if isinstance(x, float):
        return "NaN" if np.isnan(x) else repr(np.float64(x).view(np.uint64).item())
    a = np.ascontiguousarray(x)
    if a.dtype.kind == "f" and np.isnan(a).any():
        a = np.where(np.isnan(a), np.array(np.nan, a.dtype), a)
    return f"{a.dtype}{a.shape}:" + hashlib.sha256(a.tobytes()).hexdigest()[:16]


def _h_inputs(pred, target, params) -> str:
    """One hash over a case's inputs: the arrays' bytes, the scalars' bits,
    the parameters by name."""
    parts = [_h(pred), "None" if target is None else _h(target)]
    for k in sorted(params):
        v = params[k]
        if isinstance(v, (np.ndarray, float, tuple, list)):
            parts.append(f"{k}={_h(v)}")
        else:
            parts.append(f"{k}={v!r}")
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:16]


def _call(verb, loss, pred, target, params, **kw):
    """Extra inputs (gaussian_nll's var) stay in ``params``: fastloss takes an
    input by keyword too, so the old and the new signature read the same call."""
    f = loss if verb == "value" else getattr(loss, verb)
    return f(*((pred,) if target is None else (pred, target)), **kw, **params)


def record(save_inputs: str | None = None, load_inputs: str | None = None) -> dict[str, str]:
    """The entries of this process's level. ``save_inputs``: also write every
    case's inputs to that file; ``load_inputs``: take them from such a file
    instead of drawing them (every case must be there)."""
    import fastloss as fl
    from cases import make

    loaded = None
    if load_inputs is not None:
        with open(load_inputs, "rb") as f:
            loaded = pickle.load(f)
    saved = {}
    out = {}
    for name in fl.available():
        loss = fl.get(name)
        for dt in (np.float32, np.float64):
            for n in SIZES:
                key = f"{name}/{np.dtype(dt).name}/{n}"
                if loaded is not None:
                    if key not in loaded:
                        raise SystemExit(f"{load_inputs} has no inputs for {key}")
                    pred, target, params = loaded[key]
                else:
                    rng = np.random.default_rng(1234 + n)
                    pred, target, params = make(name, rng, dt, n)
                if save_inputs is not None:
                    saved[key] = (pred, target, params)
                out[f"{key}/inputs"] = _h_inputs(pred, target, params)

                def run(verb, loss=loss, pred=pred, target=target, params=params, **kw):
                    # a loss with several differentiable inputs: the first
                    # input's gradient under the key it always had, the others
                    # are recorded by grad(wrt=...) below
                    p = dict(params)
                    if len(getattr(loss, "wrt", ())) > 1 and verb != "value":
                        if verb != "grad_hess":
                            kw["wrt"] = loss.wrt[0]
                    res = _call(verb, loss, pred, target, p, **kw)
                    return tuple(res) if isinstance(res, tuple) else res

                for red in ("mean", "sum", "none"):
                    out[f"{key}/value/{red}"] = _h(run("value", reduction=red))
                out[f"{key}/grad/mean"] = _h(run("grad"))
                out[f"{key}/vg/sum"] = _h(run("value_and_grad", reduction="sum"))
                out[f"{key}/vg/none"] = _h(run("value_and_grad", reduction="none"))
                if loss.has_hess:
                    out[f"{key}/gh/none"] = _h(run("grad_hess", reduction="none"))
                    out[f"{key}/gh/mean"] = _h(run("grad_hess"))
                for k in getattr(loss, "wrt", ())[1:]:
                    out[f"{key}/grad-{k}/mean"] = _h(run("grad", wrt=k))
                    out[f"{key}/vg-{k}/none"] = _h(run("value_and_grad", wrt=k, reduction="none"))
                none = run("value", reduction="none")
                if isinstance(none, list):
                    continue  # a list input's per-element losses: no one weight shape
                shape = np.shape(none)
                w = np.random.default_rng(7).uniform(0.1, 2.0, size=shape).astype(dt)
                out[f"{key}/wvg/mean"] = _h(run("value_and_grad", sample_weight=w))
    if save_inputs is not None:
        with open(save_inputs, "wb") as f:
            pickle.dump(saved, f, protocol=4)
    return out


def input_differences(path: str) -> list[str]:
    """The cases whose inputs, drawn here, hash otherwise than in the record."""
    import fastloss as fl
    from cases import make

    with open(path) as f:
        rec = json.load(f)
    keys = []
    for name in fl.available():
        for dt in (np.float32, np.float64):
            for n in SIZES:
                key = f"{name}/{np.dtype(dt).name}/{n}"
                pred, target, params = make(name, np.random.default_rng(1234 + n), dt, n)
                if _h_inputs(pred, target, params) != rec.get(f"{key}/inputs"):
                    keys.append(key)
    return keys


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "inputs":
        keys = input_differences(argv[2])
        for k in keys:
            print("OTHER INPUTS", k)
        print(f"{len(keys)} cases draw other input bytes here than in {argv[2]}")
        return 1 if keys else 0
    if len(argv) == 5 and argv[1] == "record" and argv[3] in ("--save-inputs", "--load-inputs"):
        save = argv[3] == "--save-inputs"
        bits = record(**{"save_inputs" if save else "load_inputs": argv[4]})
        json.dump(bits, open(argv[2], "w"), indent=0, sort_keys=True)
        how = "saved to" if save else "loaded from"
        print(f"recorded {len(bits)} entries ({len(_losses())} losses), inputs {how} {argv[4]}")
        return 0
    if len(argv) == 3 and argv[1] in ("_one", "record"):
        bits = record()
        json.dump(bits, open(argv[2], "w"), indent=0, sort_keys=True)
        if argv[1] == "record":
            print(f"recorded {len(bits)} entries ({len(_losses())} losses)")
        return 0
    if len(argv) == 4 and argv[1] == "diff":
        return _diff(argv[2], argv[3])
    if len(argv) != 3 or argv[1] not in ("save", "check"):
        print(__doc__)
        return 2
    levels = _levels()
    allbits: dict[str, str] = {}
    for isa in levels:
        tmp = f"{argv[2]}.{isa}.tmp"
        env = dict(os.environ, FASTLOSS_ISA=isa)
        subprocess.run([sys.executable, __file__, "_one", tmp], env=env, check=True)
        for k, v in json.load(open(tmp)).items():
            allbits[f"{isa}/{k}"] = v
        os.remove(tmp)
    if argv[1] == "save":
        json.dump(allbits, open(argv[2], "w"), indent=0, sort_keys=True)
        print(f"saved {len(allbits)} entries over {', '.join(levels)}")
        return 0
    before = json.load(open(argv[2]))
    changed = [k for k in before if k in allbits and before[k] != allbits[k]]
    gone = [k for k in before if k not in allbits]
    new = [k for k in allbits if k not in before]
    for k in changed:
        print("CHANGED", k)
    for k in gone:
        print("GONE   ", k)
    print(
        f"{len(before) - len(changed) - len(gone)} same, {len(changed)} changed, "
        f"{len(gone)} gone, {len(new)} new (levels: {', '.join(levels)})"
    )
    return 1 if changed else 0


def _losses() -> list[str]:
    import fastloss as fl

    return list(fl.available())


def _diff(path_a: str, path_b: str) -> int:
    with open(path_a) as fa, open(path_b) as fb:
        a, b = json.load(fa), json.load(fb)
    changed = sorted(k for k in a if k in b and a[k] != b[k])
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    for k in changed:
        print("DIFFERS", k)
    for k in only_a:
        print(f"ONLY IN {path_a}:", k)
    for k in only_b:
        print(f"ONLY IN {path_b}:", k)
    losses = sorted({k.split("/")[0] for k in a})
    inputs = sum(k.endswith("/inputs") for k in changed)
    print(
        f"{len(a) - len(changed) - len(only_a)} same, {len(changed)} differ "
        f"({inputs} of them input hashes), "
        f"{len(only_a)} only in {path_a}, {len(only_b)} only in {path_b} "
        f"({len(losses)} losses)"
    )
    return 1 if changed or only_a or only_b else 0


def _levels() -> list[str]:
    from fastloss import _core

    return [lv for lv in _core.compiled_isas() if lv in _core.supported_isas()]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
