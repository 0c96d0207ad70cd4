"""Several-input losses against PyTorch autograd, side by side in one run.

For each loss of the families with several inputs (embedding, generative,
...): fastloss's value and fused value+gradient (every differentiable
input) against the same formula in torch with autograd (forward, and
forward + backward), on the same float32 inputs, on ``--threads`` threads
(torch too). Medians of interleaved rounds (measure.measure_interleaved);
the ratio is torch's median over fastloss's (above 1: fastloss is faster).
The values are checked to agree before a row is trusted.

    python benchmarks/bench_several.py --threads 2 [--only elbo,gan_generator] [--json out.json]

A family adds its rows to ``CASES``: a maker of NumPy inputs and keywords,
and the torch formula.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from measure import control_threads, measure_interleaved, print_table, side_parser, write_json  # noqa: E402


def _scores(rng, *shape):
    return rng.normal(scale=2.0, size=shape).astype(np.float32)


def _barron_lossfun(torch, x, alpha, scale):
    """``general.lossfun`` of Barron's robust_loss_pytorch (google-research,
    Apache 2.0), transcribed (not on PyPI); as in tests/test_robust.py."""
    z = (x / scale) ** 2
    eps = torch.tensor(np.finfo(np.float32).eps).to(x)
    beta = torch.max(eps, torch.abs(alpha - 2.0))
    alpha_safe = torch.where(
        alpha >= 0, torch.ones_like(alpha), -torch.ones_like(alpha)
    ) * torch.max(eps, torch.abs(alpha))
    otherwise = (beta / alpha_safe) * (torch.pow(z / beta + 1.0, 0.5 * alpha) - 1.0)
    return torch.where(
        alpha == -float("inf"),
        -torch.expm1(-0.5 * z),
        torch.where(
            alpha == 0,
            torch.log(torch.clamp(0.5 * z + 1.0, max=33e37)),
            torch.where(
                alpha == 2,
                0.5 * z,
                torch.where(
                    alpha == float("inf"), torch.expm1(torch.clamp(0.5 * z, max=87.5)), otherwise
                ),
            ),
        ),
    )


def _cases(torch):
    F = torch.nn.functional
    N = 1_000_000  # discriminator outputs per part
    cases = {
        # name: (maker rng -> (inputs, params), torch formula, differentiable positions)
        "margin_ranking": (
            lambda rng: (
                (_scores(rng, N), _scores(rng, N), np.sign(_scores(rng, N))),
                {"margin": 0.1},
            ),
            lambda a, b, y, margin: F.margin_ranking_loss(a, b, y, margin=margin),
            (0, 1),
        ),
        # embeddings: 1e5 rows of 128 (the triplet size)
        "triplet_margin": (
            lambda rng: (tuple(_scores(rng, 100_000, 128) for _ in range(3)), {}),
            lambda a, p, n: F.triplet_margin_loss(a, p, n),
            (0, 1, 2),
        ),
        "triplet_margin_with_distance": (
            lambda rng: (
                tuple(_scores(rng, 100_000, 128) for _ in range(3)),
                {"distance": "cosine"},
            ),
            lambda a, p, n, distance: F.triplet_margin_with_distance_loss(
                a, p, n, distance_function=lambda x, y: 1.0 - F.cosine_similarity(x, y)
            ),
            (0, 1, 2),
        ),
        "cosine_embedding": (
            lambda rng: (
                (
                    _scores(rng, 100_000, 128),
                    _scores(rng, 100_000, 128),
                    np.sign(_scores(rng, 100_000)),
                ),
                {"margin": 0.1},
            ),
            lambda x1, x2, y, margin: F.cosine_embedding_loss(x1, x2, y, margin=margin),
            (0, 1),
        ),
        "contrastive": (
            lambda rng: (
                (
                    _scores(rng, 100_000, 128),
                    _scores(rng, 100_000, 128),
                    (rng.uniform(size=100_000) < 0.5).astype(np.float32),
                ),
                # about the typical distance (2 sqrt(2 * 128) for scale-2 rows)
                {"margin": 32.0},
            ),
            lambda x1, x2, s, margin: (
                s * ((x1 - x2) ** 2).sum(-1) / 2
                + (1 - s) * F.relu(margin - ((x1 - x2) ** 2).sum(-1).sqrt()) ** 2 / 2
            ).mean(),
            (0, 1),
        ),
        "gan_discriminator": (
            lambda rng: ((_scores(rng, N), _scores(rng, N)), {}),
            lambda r, f: (
                F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
            ),
            (0, 1),
        ),
        "gan_generator": (
            lambda rng: ((_scores(rng, N),), {}),
            lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)),
            (0,),
        ),
        "hinge_gan_discriminator": (
            lambda rng: ((_scores(rng, N), _scores(rng, N)), {}),
            lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
            (0, 1),
        ),
        "hinge_gan_generator": (
            lambda rng: ((_scores(rng, N),), {}),
            lambda f: -f.mean(),
            (0,),
        ),
        "wasserstein_critic": (
            lambda rng: ((_scores(rng, N), _scores(rng, N)), {}),
            lambda r, f: f.mean() - r.mean(),
            (0, 1),
        ),
        "wasserstein_generator": (
            lambda rng: ((_scores(rng, N),), {}),
            lambda f: -f.mean(),
            (0,),
        ),
        "gradient_penalty": (
            lambda rng: ((_scores(rng, 256, 3, 32, 32),), {}),
            lambda g: ((g.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean(),
            (0,),
        ),
        "l1_penalty": (
            lambda rng: ((_scores(rng, N),), {}),
            lambda w: w.abs().sum(),
            (0,),
        ),
        "l2_penalty": (
            lambda rng: ((_scores(rng, N),), {}),
            lambda w: w.pow(2).sum() / 2,
            (0,),
        ),
        "elastic_net": (
            lambda rng: ((_scores(rng, N),), {"l1_ratio": 0.5}),
            lambda w, l1_ratio: l1_ratio * w.abs().sum() + (1 - l1_ratio) * w.pow(2).sum() / 2,
            (0,),
        ),
        "entropy": (
            lambda rng: ((_scores(rng, 65536, 32),), {}),
            lambda z: -(F.softmax(z, -1) * F.log_softmax(z, -1)).sum(-1).mean(),
            (0,),
        ),
        "router_z_loss": (
            lambda rng: ((_scores(rng, 65536, 32),), {}),
            lambda z: torch.logsumexp(z, -1).pow(2).mean(),
            (0,),
        ),
        "center": (
            lambda rng: (
                (_scores(rng, 65536, 64), rng.integers(0, 100, 65536), _scores(rng, 100, 64)),
                {},
            ),
            lambda x, y, c: 0.5 * (x - c[y]).pow(2).sum(1).mean(),
            (0, 2),
        ),
        "orthogonality": (
            lambda rng: ((_scores(rng, 256, 1024) * 0.05,), {}),
            lambda W: ((W @ W.T - torch.eye(W.shape[0])) ** 2).sum(),
            (0,),
        ),
        "kl_sparsity": (
            lambda rng: ((rng.uniform(0.01, 0.3, size=(4096, 256)).astype(np.float32),), {}),
            lambda a: (
                0.05 * torch.log(0.05 / a.mean(0)) + 0.95 * torch.log(0.95 / (1 - a.mean(0)))
            ).sum(),
            (0,),
        ),
        "moe_load_balancing": (
            lambda rng: (
                (
                    rng.dirichlet(np.ones(8), size=65536).astype(np.float32),
                    rng.integers(0, 8, 65536),
                ),
                {},
            ),
            lambda p, i: (F.one_hot(i, 8).to(p.dtype).mean(0) * p.mean(0)).sum() * 8,
            (0,),
        ),
        "td_error": (
            lambda rng: (
                (
                    _scores(rng, N),
                    _scores(rng, N),
                    _scores(rng, N),
                    (rng.uniform(size=N) < 0.1).astype(np.float32),
                ),
                {"gamma": 0.99},
            ),
            lambda q, r, nq, d, gamma: F.smooth_l1_loss(q, (r + gamma * (1 - d) * nq).detach()),
            (0,),
        ),
        "pinn": (
            lambda rng: (
                (_scores(rng, N), _scores(rng, N // 10), _scores(rng, N // 100)),
                {"weights": (1.0, 10.0, 1.0)},
            ),
            lambda r, b, d, weights: (
                weights[0] * r.pow(2).mean()
                + weights[1] * b.pow(2).mean()
                + weights[2] * d.pow(2).mean()
            ),
            (0, 1, 2),
        ),
        "barron": (
            # the reference's adaptive use: one alpha and scale per dimension
            lambda rng: (
                (
                    _scores(rng, N // 8, 8),
                    _scores(rng, N // 8, 8),
                    np.linspace(-1.5, 3.0, 8).astype(np.float32),
                    np.linspace(0.5, 2.0, 8).astype(np.float32),
                ),
                {},
            ),
            lambda p, t, a, c: _barron_lossfun(torch, p - t, a, c).mean(),
            (0, 2, 3),
        ),
        "elbo": (
            lambda rng: (
                (
                    _scores(rng, 256, 784),
                    rng.uniform(size=(256, 784)).astype(np.float32),
                    _scores(rng, 256, 32),
                    _scores(rng, 256, 32) * 0.2,
                ),
                {},
            ),
            lambda r, x, mu, lv: (
                (
                    F.binary_cross_entropy_with_logits(r, x, reduction="sum")
                    - 0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp())
                )
                / r.shape[0]
            ),
            (0, 2, 3),
        ),
        # issue 22's row: T = 200, N = 64, C = 32, target length 40, torch's
        # ctc_loss on the log_softmax of the logits (its "mean")
        "ctc": (
            lambda rng: (
                (
                    _scores(rng, 200, 64, 32),
                    rng.integers(1, 32, size=(64, 40)),
                    np.full(64, 200),
                    np.full(64, 40),
                ),
                {},
            ),
            lambda x, y, il, tl: F.ctc_loss(F.log_softmax(x, -1), y, il, tl),
            (0,),
        ),
        # VGG16's relu1_2, relu2_2, relu3_3 and relu4_3 of 4 images of
        # 128 x 128 (7.9e6 activations a side), as a perceptual loss reads
        # them; torch's formula with F.mse_loss per layer (faster than
        # (f - g).abs().pow(2).mean(), the same value)
        "perceptual": (
            lambda rng: (
                tuple(
                    [
                        np.maximum(_scores(rng, 4, c, 128 >> k, 128 >> k), 0.0)
                        for k, c in enumerate((64, 128, 256, 512))
                    ]
                    for _ in range(2)
                ),
                {"layer_weights": (1.0, 0.5, 0.25, 0.125)},
            ),
            lambda fs, gs, layer_weights: sum(
                w * F.mse_loss(f, g) for w, f, g in zip(layer_weights, fs, gs)
            ),
            (0,),
        ),
    }
    # the same feature maps with a power other than 1 and 2 (the |r|^p
    # kernel); torch's formula as the issue writes it
    make, _, diff = cases["perceptual"]

    def power_case(rng, make=make):
        inputs, params = make(rng)
        return inputs, {**params, "p": 1.5}

    cases["perceptual p=1.5"] = (
        power_case,
        lambda fs, gs, layer_weights, p: sum(
            w * (f - g).abs().pow(p).mean() for w, f, g in zip(layer_weights, fs, gs)
        ),
        diff,
    )
    try:
        import pytorch_msssim as pm
    except ImportError:  # the image rows need their peer (pip install pytorch-msssim)
        return cases

    def images(rng, shape=(16, 3, 256, 256)):
        x = rng.uniform(size=shape).astype(np.float32)
        y = np.clip(x + 0.1 * rng.normal(size=shape), 0, 1).astype(np.float32)
        return (x, y), {"data_range": 1.0}

    # pytorch_msssim's data_range defaults to 255: pass it
    cases["ssim"] = (
        images,
        lambda x, y, data_range: 1 - pm.ssim(x, y, data_range=data_range),
        (0,),
    )
    cases["ms_ssim"] = (
        lambda rng: images(rng, (16, 3, 256, 256)),
        lambda x, y, data_range: 1 - pm.ms_ssim(x, y, data_range=data_range),
        (0,),
    )
    return cases


def run(names, threads, repeats):
    notes = control_threads(threads)
    import torch

    import fastloss as fl

    torch.set_num_threads(threads)
    fl.set_num_threads(threads)
    cases = _cases(torch)
    rows = []
    for name in names or sorted(cases):
        make, formula, diff = cases[name]
        rng = np.random.default_rng(0)
        inputs, params = make(rng)
        loss = fl.get(name.split()[0])  # "perceptual p=1.5": a variant's row
        # an input that is a list of arrays (perceptual's feature maps) is a
        # list of tensors for torch
        ts = [
            [torch.from_numpy(a) for a in x] if isinstance(x, list) else torch.from_numpy(x)
            for x in inputs
        ]

        def t_value(ts=ts, formula=formula, params=params):
            with torch.no_grad():
                return float(formula(*ts, **params))

        def t_value_grad(ts=ts, formula=formula, params=params, diff=diff):
            leaves = [
                [a.detach().requires_grad_(i in diff) for a in t]
                if isinstance(t, list)
                else t.detach().requires_grad_(i in diff)
                for i, t in enumerate(ts)
            ]
            v = formula(*leaves, **params)
            v.backward()
            return float(v.detach())

        res = measure_interleaved(
            {
                "fastloss value": (lambda L=loss, x=inputs, p=params: L(*x, **p), None),
                "torch value": (t_value, None),
                "fastloss value+grad": (
                    lambda L=loss, x=inputs, p=params: L.value_and_grad(*x, **p)[0],
                    None,
                ),
                "torch value+grad": (t_value_grad, None),
            },
            repeats=repeats,
        )
        for r in res.values():
            if isinstance(r, Exception):
                raise r
        fv, tv = res["fastloss value"][1], res["torch value"][1]
        agree = abs(fv - tv) <= 1e-4 * max(1.0, abs(tv))
        med = {k: r[0]["median_s"] for k, r in res.items()}
        rows.append(
            {
                "loss": name,
                "shapes": [
                    [list(a.shape) for a in x] if isinstance(x, list) else list(x.shape)
                    for x in inputs
                ],
                "fastloss_value_ms": med["fastloss value"] * 1e3,
                "torch_value_ms": med["torch value"] * 1e3,
                "value_ratio": med["torch value"] / med["fastloss value"],
                "fastloss_vg_ms": med["fastloss value+grad"] * 1e3,
                "torch_vg_ms": med["torch value+grad"] * 1e3,
                "vg_ratio": med["torch value+grad"] / med["fastloss value+grad"],
                "values_agree": agree,
            }
        )
    return notes, rows


def main(argv=None):
    ap = side_parser(__doc__)
    ap.add_argument("--only", default="", help="comma-separated loss names")
    a = ap.parse_args(argv)
    names = [n for n in a.only.split(",") if n]
    notes, rows = run(names, a.threads, a.repeats)
    print_table(
        notes,
        f"{'loss':26} {'value ms':>9} {'torch':>9} {'ratio':>6}  {'v+g ms':>9} {'torch':>9} "
        f"{'ratio':>6}  agree",
        "{loss:26} {fastloss_value_ms:9.3f} {torch_value_ms:9.3f} {value_ratio:6.2f}  "
        "{fastloss_vg_ms:9.3f} {torch_vg_ms:9.3f} {vg_ratio:6.2f}  {values_agree}",
        rows,
    )
    write_json(a.json, threads=a.threads, notes=notes, rows=rows)


if __name__ == "__main__":
    main()
