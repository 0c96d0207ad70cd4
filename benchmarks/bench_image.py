"""ssim against scikit-image's structural_similarity (value only: skimage has
no gradient), on the same float32 images, fastloss on ``--threads`` threads
(skimage's scipy filters run on one). The autograd peer, pytorch_msssim, is
in bench_several.py. Medians of interleaved rounds; the ratio is skimage's
median over fastloss's (above 1: fastloss is faster).

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

    res = measure_interleaved(
        {
            "skimage value": (sk, None),
            "fastloss value": (lambda: fl.ssim(x, y), None),
            "fastloss value+grad": (lambda: fl.ssim.value_and_grad(x, y)[0], None),
        },
        repeats=a.repeats,
    )
    for r in res.values():
        if isinstance(r, Exception):
            raise r
    med = {k: r[0]["median_s"] for k, r in res.items()}
    sv, fv = res["skimage value"][1], res["fastloss value"][1]
    print("; ".join(notes))
    print(
        f"ssim {shape}: skimage value {med['skimage value'] * 1e3:.1f} ms, fastloss value "
        f"{med['fastloss value'] * 1e3:.1f} ms (ratio "
        f"{med['skimage value'] / med['fastloss value']:.2f}), fastloss value+grad "
        f"{med['fastloss value+grad'] * 1e3:.1f} ms; values agree: "
        f"{abs(sv - fv) <= 1e-5 * max(1.0, abs(sv))}"
    )


if __name__ == "__main__":
    main()
