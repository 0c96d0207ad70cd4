#!/usr/bin/env python3
"""fastloss.torch against torch.nn.functional + autograd: loss forward+backward
and one training step of a small MLP.

    python benchmarks/bench_torch.py [--threads 2] [--quick] [--json out.json]

Rows (issue 3's, float32): mse 1e7, huber 1e7,
binary_cross_entropy_with_logits 1e7, cross_entropy 1e6 x 10. Each sample is
``x.grad = None; loss = f(x, y); loss.backward()`` on a ``requires_grad``
leaf made outside the timed region, the same for both sides. The two sides
are timed in interleaved rounds (``measure.measure_interleaved``), so a
neighbour's load falls on both alike; medians are reported, with the ratio
torch / fastloss.torch (> 1: fastloss.torch is faster).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import measure  # noqa: E402

ROWS = [
    ("mse", (10_000_000,), "mse_loss", {}),
    ("huber", (10_000_000,), "huber_loss", {}),
    ("binary_cross_entropy_with_logits", (10_000_000,), "binary_cross_entropy_with_logits", {}),
    ("cross_entropy", (1_000_000, 10), "cross_entropy", {}),
    ("cross_entropy", (4096, 10), "cross_entropy", {}),  # the MLP step's loss alone
]


def _inputs(name, shape, rng, torch):
    x = torch.from_numpy(rng.standard_normal(shape, dtype="float32")).requires_grad_()
    if name == "cross_entropy":
        y = torch.from_numpy(rng.integers(0, shape[1], shape[0]))
    elif name == "binary_cross_entropy_with_logits":
        y = torch.from_numpy((rng.random(shape) > 0.5).astype("float32"))
    else:
        y = torch.from_numpy(rng.standard_normal(shape, dtype="float32"))
    return x, y


def _step(fn, x, y):
    def run():
        x.grad = None
        loss = fn(x, y)
        loss.backward()
        return loss.item()

    return run


def _mlp_step(torch, loss_fn, X, Y):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def run():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        return loss.item()

    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="3 repeats, smaller budget")
    ap.add_argument("--json", help="write the medians here")
    ap.add_argument(
        "--passive",
        action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE (set before torch loads OpenMP): idle "
        "OpenMP threads sleep instead of spinning, which on a loaded machine "
        "changes both sides' times (see benchmarks/README.md)",
    )
    args = ap.parse_args(argv)
    if args.passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

    notes = measure.control_threads(args.threads)  # before torch is imported
    import numpy as np
    import torch

    import fastloss as fl
    import fastloss.torch as flt

    torch.set_num_threads(args.threads)
    fl.set_num_threads(args.threads)
    F = torch.nn.functional
    kw = {"repeats": 3, "budget_s": 3.0} if args.quick else {"repeats": 9, "budget_s": 8.0}
    rng = np.random.default_rng(0)
    results = []
    print(
        f"torch {torch.__version__}, fastloss {fl.__version__}, {args.threads} threads, "
        f"float32, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; " + "; ".join(notes)
    )
    print(f"{'case':<44}{'torch ms':>10}{'fastloss ms':>13}{'ratio':>8}")
    cases = []
    for name, shape, tname, params in ROWS:
        x, y = _inputs(name, shape, rng, torch)
        theirs, ours = getattr(F, tname), getattr(flt, name)
        cases.append(
            (
                f"{name} {'x'.join(map(str, shape))} fwd+bwd",
                _step(lambda a, b, f=theirs, p=params: f(a, b, **p), x, y),
                _step(lambda a, b, f=ours, p=params: f(a, b, **p), x, y),
            )
        )
    X = torch.from_numpy(rng.standard_normal((4096, 128), dtype="float32"))
    Y = torch.from_numpy(rng.integers(0, 10, 4096))
    cases.append(
        (
            "MLP 128-256-256-10 SGD step, batch 4096",
            _mlp_step(torch, torch.nn.CrossEntropyLoss(), X, Y),
            _mlp_step(torch, flt.CrossEntropyLoss(), X, Y),
        )
    )
    for label, torch_fn, fl_fn in cases:
        med, repeats = measure.compare_medians(
            label, {"torch": torch_fn, "fastloss.torch": fl_fn}, **kw
        )
        t, f = med["torch"], med["fastloss.torch"]
        print(f"{label:<44}{t * 1e3:>10.2f}{f * 1e3:>13.2f}{t / f:>7.2f}x", flush=True)
        results.append(
            {
                "case": label,
                "torch_ms": t * 1e3,
                "fastloss_torch_ms": f * 1e3,
                "ratio": t / f,
                "repeats": repeats,
            }
        )
    measure.write_json(
        args.json,
        threads=args.threads,
        notes=notes,
        rows=results,
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
    )


if __name__ == "__main__":
    main()
