"""ssim against its peers on the same float32 images: scikit-image's
structural_similarity (value only: skimage has no gradient), kornia's
``kornia.metrics.ssim`` (``padding="valid"``, ``eps=0.0``: the same SSIM,
see tests/test_image.py) and pytorch_msssim's ``ssim``, value and value+grad
through torch's autograd; each peer when installed. fastloss and torch on
``--threads`` threads (skimage's scipy filters run on one). Medians of
interleaved rounds, all in one run; a ratio is the peer's median over
fastloss's for the same verb (above 1: fastloss is faster). ms_ssim has
no kornia row: kornia's ``MS_SSIMLoss`` is another loss (SSIM at several
Gaussian widths at full resolution plus an L1 term, Zhao et al.), not the
dyadic pyramid of ``pytorch_msssim.ms_ssim``.

    python benchmarks/bench_image.py --threads 2 [--shape 16,3,256,256]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure import control_threads, measure_interleaved  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shape", default="16,3,256,256")
    a = ap.parse_args(argv)
    notes = control_threads(a.threads)
    from skimage.metrics import structural_similarity

    import fastloss as fl

    fl.set_num_threads(a.threads)
    shape = tuple(int(s) for s in a.shape.split(","))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=shape).astype(np.float32)
    y = np.clip(x + 0.1 * rng.normal(size=shape), 0, 1).astype(np.float32)

    def sk():
        per = [
            structural_similarity(
                x[n],
                y[n],
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
                channel_axis=0,
            )
            for n in range(shape[0])
        ]
        return 1.0 - float(np.mean(per))

    cases = {
        "fastloss value": (lambda: fl.ssim(x, y), None),
        "fastloss value+grad": (lambda: fl.ssim.value_and_grad(x, y)[0], None),
        "skimage value": (sk, None),
    }
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(a.threads)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        peers = {}
        try:
            import kornia

            peers["kornia"] = lambda p, t: kornia.metrics.ssim(
                p, t, 11, max_val=1.0, eps=0.0, padding="valid"
            ).mean()
        except ImportError:
            notes.append("kornia not installed")
        try:
            import pytorch_msssim as pm

            peers["pytorch_msssim"] = lambda p, t: pm.ssim(p, t, data_range=1.0)
        except ImportError:
            notes.append("pytorch_msssim not installed")
        for peer, f in peers.items():

            def value(f=f):
                with torch.no_grad():
                    return 1.0 - f(tx, ty).item()

            def value_grad(f=f):
                p = tx.detach().requires_grad_(True)
                v = 1.0 - f(p, ty)
                v.backward()
                return v.item()

            cases[f"{peer} value"] = (value, None)
            cases[f"{peer} value+grad"] = (value_grad, None)
    res = measure_interleaved(cases, repeats=a.repeats)
    for r in res.values():
        if isinstance(r, Exception):
            raise r
    med = {k: r[0]["median_s"] for k, r in res.items()}
    fv = res["fastloss value"][1]
    print("; ".join(notes))
    print(f"ssim {shape} float32, medians (ratio: the peer's time over fastloss's, same verb)")
    for k in cases:
        verb = k.split(" ", 1)[1]
        ours = med[f"fastloss {verb}"]
        v = res[k][1]
        print(
            f"  {k:28s} {med[k] * 1e3:9.1f} ms  ratio {med[k] / ours:6.2f}  "
            f"value {v:.7f} (agrees: {abs(v - fv) <= 1e-5 * max(1.0, abs(fv))})"
        )


if __name__ == "__main__":
    main()
