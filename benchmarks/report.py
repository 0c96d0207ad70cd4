"""The report of bench.py: the results table (terminal and Markdown), the
Markdown report (BENCHMARKS.md) and the scaling plot.
"""

from __future__ import annotations

import io
import os

import specs
from peers import PEERS

PEER_TITLES = {
    "fastloss": "fastloss",
    "fastloss_nocache": "fastloss cache off",
    "fastloss_out": "fastloss out=",
    "numpy": "NumPy ref",
    "torch": "PyTorch",
    "jax": "JAX jit",
    "sklearn": "sklearn metric",
    "sklearn_loss": "sklearn _loss",
    "pml": "pytorch-metric-learning",
}


def plot_scaling(scaling, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    styles = ["-", "--", ":", "-."]
    colors = {}
    for loss, curves in scaling["losses"].items():
        for i, (th, pts) in enumerate(sorted(curves.items(), key=lambda kv: int(kv[0]))):
            (line,) = ax.plot(
                [q["n"] for q in pts],
                [q["ns_per_element"] for q in pts],
                styles[i % len(styles)],
                marker="o",
                ms=3,
                color=colors.get(loss),
                label=f"{loss}, {th} thread{'s' if th != '1' else ''}",
            )
            colors[loss] = line.get_color()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("elements (pred.size)")
    ax.set_ylabel("ns per element (median)")
    ax.set_title("fastloss value_and_grad (out=), time per element")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def fmt_time(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms" if s < 0.01 else f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def cell(res, name):
    v = res.get(name)
    if v is None:
        return "—"
    if "error" in v:
        return "error"
    txt = fmt_time(v["median_s"])
    if v.get("reduced"):
        txt += "†"
    if "ratio" in v:
        txt += f" ({v['ratio']:.2g}×)" if v["ratio"] < 10 else f" ({v['ratio']:.0f}×)"
    if v.get("agree") is False:
        txt += " ≠"
    return txt


def table_rows(results):
    cols = ["fastloss", "fastloss_nocache", "fastloss_out", *PEERS]
    head = [
        "work",
        "verb",
        *[PEER_TITLES[c] for c in cols],
        "fastest peer",
        "× fastest peer",
        "% roof",
        "new buffer − out= (faults)",
    ]
    lines = []
    for r in results:
        for verb, res in r["verbs"].items():
            s = r["summary"][verb]
            fp = (
                f"{PEER_TITLES[s['fastest_peer']]} {fmt_time(s['fastest_peer_s'])}"
                if "fastest_peer" in s
                else "—"
            )
            sp = "—"
            if "speedup" in s:
                sp = f"{s['speedup']:.2f}×"
                if "speedup_nocache" in s:
                    sp += f" / {s['speedup_nocache']:.2f}× cache off"
                if "speedup_out" in s:
                    sp += f" / {s['speedup_out']:.2f}× out="
            roof = "—"
            if r["bandwidth_bound"] and "roof_pct" in s:
                roof = f"{s['roof_pct']:.0f}%"
                if "roof_pct_nocache" in s:
                    roof += f" / {s['roof_pct_nocache']:.0f}% cache off"
                if "fresh_roof_pct" in s:
                    roof += f" ({s['fresh_roof_pct']:.0f}% of fresh)"
                if "roof_pct_out" in s:
                    roof += f" / {s['roof_pct_out']:.0f}% out="
            fresh = "—"
            if "faults_s" in s:
                fresh = f"{fmt_time(s['fresh_extra_s'])} ({fmt_time(s['faults_s'])})"
            vname = "value" if verb == "value" else "value+grad"
            lines.append([r["label"], vname, *[cell(res, c) for c in cols], fp, sp, roof, fresh])
    return head, lines


def print_table(results, roof):
    head, lines = table_rows(results)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for ln in lines:
        print("  ".join(str(x).ljust(w) for x, w in zip(ln, widths)))
    if roof:
        print(
            f"\nstreaming-read roof: {roof['read_GBps']:.1f} GB/s ({roof['read_by']}); "
            f"read+write into a buffer in use {roof['read_write_out_GBps']:.1f} GB/s, "
            f"into fresh outputs {roof['read_write_fresh_GBps']:.1f} GB/s"
        )
    print(
        "(x): peer median / fastloss median (fresh output, buffer cache on); † fewer repeats; "
        "≠ peer disagrees"
    )


def write_report(path, data, plot_path):
    m = data["machine"]
    roof = data.get("roof")
    head, lines = table_rows(data["results"])
    out = io.StringIO()
    w = out.write
    w("# fastloss benchmarks\n\n")
    w(f"Produced by `{m['command']}` on {m['date']}.\n\n")
    w(
        f"{m['threads']} threads, {m['dtype']}, median of >= {data['repeats']} calls after "
        "warm-up, all implementations in one process on the same inputs. "
        "Each peer cell: median (peer median / fastloss median, so > 1 means fastloss is "
        'faster). "fastloss": value+grad returning a fresh gradient, the default way; '
        "from 1 MiB up its memory comes from fastloss's buffer cache "
        "(`fastloss.set_buffer_cache`), so in a loop such as this one each call reuses the "
        'buffer the previous call\'s gradient freed. "cache off": the same call with the '
        "cache off, each gradient a new NumPy buffer faulted in page by page (what a first "
        'call pays). "out=": the gradient written into a buffer the caller passes. '
        "\"× fastest peer\": the fastest peer's median over fastloss's, in that order. "
        '"% roof": bytes read (value) or bytes '
        "read + gradient bytes written (value+grad) per second, as a share of the streaming-read "
        "roof (bandwidth-bound losses with at least 32 MiB of input only): the roof of the row's "
        "own bytes, read alongside by `roof_probe.cpp` in the same rounds as the "
        "implementations where the probe compiled (the bandwidth drifts over a run) -- its "
        "inputs for the value; its inputs and a third array of the gradient's size for "
        "value+grad, so the probe's working set is the cell's -- else the "
        'roof below; "of fresh": '
        "the cache-off figure as a share of the fresh-output read+write roof (the page "
        'faults of a new buffer included). "new buffer − out=": how much longer value+grad '
        "takes with the cache off than with `out=`, and in brackets what "
        "faulting in a new buffer of the gradient's size alone takes (`np.empty`, then "
        "`roof_probe.cpp` writing one byte per 4 KiB page on the same threads, timed in the "
        "same rounds; gradients of at least 32 MiB). "
        "† fewer repeats (slow call, budget); "
        "≠ the peer's result disagrees with fastloss's (not counted as fastest); "
        "— not installed or no such peer.\n\n"
    )
    w("| " + " | ".join(head) + " |\n")
    w("|" + "---|" * len(head) + "\n")
    for ln in lines:
        w("| " + " | ".join(str(x) for x in ln) + " |\n")
    if data.get("skipped"):
        w(f"\nNot in this fastloss (skipped): {', '.join(data['skipped'])}.\n")
    if roof:
        w("\n## Memory roof (same run)\n\n")
        w(
            f"Streaming read: **{roof['read_GBps']:.1f} GB/s** (best of the reductions below, "
            f"each over a {roof['bytes'] / 2**20:.0f} MiB float32 array).\n\n"
        )
        w("| measurement | GB/s | median |\n|---|---|---|\n")
        for k, v in {**roof["read_candidates"], **roof["read_write"]}.items():
            w(f"| {k} | {v['GBps']:.1f} | {fmt_time(v['median_s'])} |\n")
        cs = roof.get("compute_scaling")
        if cs:
            w(
                f"\nCompute scaling: a compute-bound loop (`roof_compute` in `roof_probe.cpp`, "
                f"L1-resident) runs {cs['speedup']:.2f}× as fast on {cs['threads']} threads as on "
                "one; below 2 the threads share a core's execution units (hyperthreads, or "
                "vCPUs on one core), which bounds what the second thread can add to a "
                "compute-bound loss.\n"
            )
    sc = data.get("scaling")
    if sc and sc["losses"]:
        w("\n## Scaling\n\n")
        w(f"fastloss {sc['verb']}, ns per element (median).\n\n")
        if plot_path:
            rel = os.path.relpath(plot_path, os.path.dirname(os.path.abspath(path)))
            w(f"![time per element]({rel})\n\n")
        ths = [str(t) for t in sc["threads"]]
        w("| loss | threads | " + " | ".join(specs._fmt_dim(n) for n in sc["sizes"]) + " |\n")
        w("|---|---|" + "---|" * len(sc["sizes"]) + "\n")
        top = ths[-1]
        for loss, curves in sc["losses"].items():
            for th in ths:
                pts = curves.get(th, [])
                w(
                    f"| {loss} | {th} | "
                    + " | ".join(f"{q['ns_per_element']:.3g}" for q in pts)
                    + " |\n"
                )
            if len(ths) > 1:
                sp = [
                    a["median_s"] / b["median_s"]
                    for a, b in zip(curves.get(ths[0], []), curves.get(top, []))
                ]
                w(
                    f"| {loss} | speedup {top}/{ths[0]} | "
                    + " | ".join(f"{v:.2f}" for v in sp)
                    + " |\n"
                )
            cs = sc.get("compute_speedup", {}).get(loss)
            if cs:
                w(
                    f"| {loss} | compute probe {top}/1 | "
                    + " | ".join(f"{v:.2f}" for v in cs)
                    + " |\n"
                )
        if sc.get("compute_speedup"):
            w(
                f'\nThe thread counts at each size are timed in the same rounds; "compute '
                f'probe" is `roof_compute` (L1-resident, compute-bound) on {top} threads against '
                "one, timed in those rounds too: what a second thread could add just then. "
                "Where it reads near 1, the host was running both vCPUs on one core.\n"
            )
    w("\n## Peers\n\n")
    w(
        "- NumPy ref: `fastloss.reference`, the float64 NumPy oracle (value and gradient "
        "always computed together).\n"
        "- PyTorch: `torch.nn.functional` where it has the loss, else the formula in torch "
        "ops; value under `torch.no_grad()`, value+grad by autograd on a fresh "
        "`requires_grad` leaf (created outside the timed region), `.item()` and `.grad`.\n"
        "- JAX: the formula in `jax.numpy`, `jax.jit` of the loss and of "
        "`jax.value_and_grad`; compile excluded, `block_until_ready` included.\n"
        "- sklearn metric: `sklearn.metrics` (value only). sklearn _loss: "
        "`sklearn._loss.loss` classes with `n_threads`; value = `loss(...)` (np.average of "
        "the per-sample losses), value+grad = `loss_gradient` + mean. Constant factors "
        "(not applied in the timings, used in the check): "
        + "; ".join(
            f"{k}: {v.note or 'x1'}, gradient not divided by n" for k, v in specs.SK_LOSS.items()
        )
        + ".\n"
    )
    w("\n## Machine\n\n")
    w(
        f"- CPU: {m['cpu']} ({m['cores']} logical CPUs, {m['usable_cpus']} usable; "
        f"{m['cpu_flags']}); memory {m['memory_GiB']} GiB; {m['platform']}\n"
    )
    w("- Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + "\n")
    w("- Thread control: " + "; ".join(m["thread_control"]) + "\n")
    if m.get("cap"):
        w(
            f"- Capped at {m['cap']} (`--cap {m['cap']}`): "
            + ", ".join(f"{k}={v}" for k, v in m["cap_env"].items())
            + "\n"
        )
    if m.get("isa_used"):
        w(
            "- Vector level in use: "
            + "; ".join(f"{k}: {v}" for k, v in m["isa_used"].items())
            + "\n"
        )
    w("\n")
    w("```\n" + m["fastloss_show_config"] + "\n```\n")
    with open(path, "w") as f:
        f.write(out.getvalue())
