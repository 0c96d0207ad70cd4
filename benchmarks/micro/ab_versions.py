"""Same-window A/B of two fastloss builds on a few representative calls.

    python benchmarks/micro/ab_versions.py OLD_PYTHONPATH NEW_PYTHONPATH [ROUNDS]

Each round runs the cases in a fresh process under the old then the new
``PYTHONPATH`` (2 threads, float32, medians of repeated calls; ``out=`` for
value+grad), and the report gives each case's median over the rounds and the
new/old ratio. Used for issue 19's "no loss slower than before": build the
old commit in a worktree (``scripts/dev-build.sh`` there) and point the first
argument at its ``python/``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

CASES = r"""
import json, time, numpy as np, fastloss as fl
fl.set_num_threads(2)
rng = np.random.default_rng(0); f32 = np.float32; N = 10_000_000
p, t = rng.normal(size=N).astype(f32), rng.normal(size=N).astype(f32)
y01 = (rng.random(N) < 0.5).astype(f32)
z = rng.normal(size=(1_000_000, 10)).astype(f32); lab = rng.integers(0, 10, 1_000_000)
dp = rng.random((16, 4, 256, 256)).astype(f32); dt = (rng.random(dp.shape) < 0.5).astype(f32)
b = np.abs(rng.normal(size=(100_000, 4))).astype(f32); b[:, 2:] += b[:, :2] + 1; bt = b + 0.1
p10, t10 = p[:10].copy(), t[:10].copy()
g, gz, gd, gb = np.empty_like(p), np.empty_like(z), np.empty_like(dp), np.empty_like(b)
cases = {
    "mse 1e7 value": lambda: fl.mse(p, t),
    "mse 1e7 vg out": lambda: fl.mse.value_and_grad(p, t, out=g),
    "huber 1e7 vg out": lambda: fl.huber.value_and_grad(p, t, out=g),
    "bce_logits 1e7 vg out": lambda: fl.binary_cross_entropy_with_logits.value_and_grad(
        p, y01, out=g),
    "ce 1e6x10 value": lambda: fl.cross_entropy(z, lab),
    "ce 1e6x10 vg out": lambda: fl.cross_entropy.value_and_grad(z, lab, out=gz),
    "dice vg out": lambda: fl.dice.value_and_grad(dp, dt, out=gd),
    "giou 1e5 vg out": lambda: fl.giou_loss.value_and_grad(b, bt, out=gb),
    "mse 10 value": lambda: fl.mse(p10, t10),
    "mse 10 vg": lambda: fl.mse.value_and_grad(p10, t10),
}
out = {}
for k, f in cases.items():
    f()
    ts = []
    for _ in range(2000 if " 10 " in k else 15):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    out[k] = float(np.median(ts))
print(json.dumps(out))
"""


def run(path: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", CASES],
        env={"PYTHONPATH": path, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    rounds = int(argv[3]) if len(argv) > 3 else 3
    res: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(rounds):
        res["old"].append(run(argv[1]))
        res["new"].append(run(argv[2]))
    print(f"{'case':24s} {'old us':>10s} {'new us':>10s} {'new/old':>8s}")
    for case in res["old"][0]:
        o = statistics.median(r[case] for r in res["old"])
        n = statistics.median(r[case] for r in res["new"])
        print(f"{case:24s} {o * 1e6:10.1f} {n * 1e6:10.1f} {n / o:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
