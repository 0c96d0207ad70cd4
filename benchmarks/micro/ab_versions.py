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
pp, tp = np.exp(p), np.abs(t)
q = rng.random(z.shape).astype(f32); q /= q.sum(1, keepdims=True)
im = rng.random((8, 3, 128, 128)).astype(f32); it = rng.random(im.shape).astype(f32)
cl = rng.normal(size=(200, 64, 32)).astype(f32); ct = rng.integers(1, 32, (64, 40))
cil, ctl = np.full(64, 200), np.full(64, 40)
e1, e2 = rng.normal(size=(2, 2048, 128)).astype(f32)
rs = rng.normal(size=(10_000, 64)).astype(f32); rl = rng.integers(0, 5, rs.shape).astype(f32)
ea, ep, en = rng.normal(size=(3, 100_000, 128)).astype(f32)
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
    "log_cosh 1e7 vg out": lambda: fl.log_cosh.value_and_grad(p, t, out=g),
    "tweedie 1e7 vg out": lambda: fl.tweedie.value_and_grad(pp, tp, power=1.5, out=g),
    "poisson 1e7 vg out": lambda: fl.poisson_nll.value_and_grad(p, tp, out=g),
    "sigmoid_focal 1e7 vg": lambda: fl.sigmoid_focal.value_and_grad(p, y01, out=g),
    "kl_div 1e6x10 vg out": lambda: fl.kl_div.value_and_grad(z, q, out=gz),
    "softmax_focal vg out": lambda: fl.softmax_focal.value_and_grad(z, lab, out=gz),
    "ssim 8x3x128 vg": lambda: fl.ssim.value_and_grad(im, it),
    "ctc 200x64x32 vg": lambda: fl.ctc.value_and_grad(cl, ct, cil, ctl),
    "ntxent 2048x128 vg": lambda: fl.ntxent.value_and_grad(e1, e2),
    "pairwise_log 1e4x64 vg": lambda: fl.pairwise_logistic.value_and_grad(rs, rl),
    "triplet 1e5x128 vg": lambda: fl.triplet_margin.value_and_grad(ea, ep, en),
    "barron 1e7 vg": lambda: fl.barron.value_and_grad(p, t, alpha=0.5),
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
