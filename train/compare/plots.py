"""The plots of `asr compare`'s report (matplotlib, PNG), drawn from results.json and the runs' log.csv only.

Each function writes one figure and returns its path, or None when the stage behind it has not run.
Colours: one per cell; line styles: matched runs solid (seed 0) / dotted (other seeds), same-hidden dashed.
"""
from __future__ import annotations

from pathlib import Path

from .records import read_log

__all__ = ["CELL_COLORS", "learning_curves", "gradient_flow", "wer_by_length", "streaming_bars",
           "probe_accuracy"]

CELL_COLORS = {"gru": "tab:blue", "lstm": "tab:orange", "rnn": "tab:green"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _style(run: dict) -> dict:
    dashes = "--" if run["group"] == "same-hidden" else ("-" if run["seed"] == 0 else ":")
    return {"color": CELL_COLORS[run["cell"]], "linestyle": dashes}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def learning_curves(results: dict, out: Path, path: Path) -> Path | None:
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    panels = [("step", "dev_wer", "dev WER % vs optimiser steps"), ("minutes", "dev_wer", "dev WER % vs wall minutes"),
              ("step", "dev_loss", "dev CTC loss vs steps"), ("minutes", "dev_cer", "dev CER % vs wall minutes")]
    drawn = False
    for name, run in results["runs"].items():
        rows = read_log(out / "runs" / name)
        if not rows:
            continue
        drawn = True
        label = f"{name} (h={run['hidden']}, {run['params'] / 1e6:.2f} M)"
        for ax, (x, y, _) in zip(axes.flat, panels):
            ax.plot([r[x] for r in rows], [r[y] for r in rows], marker=".", label=label, **_style(run))
    if not drawn:
        plt.close(fig)
        return None
    for ax, (x, y, title) in zip(axes.flat, panels):
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def gradient_flow(results: dict, path: Path) -> Path | None:
    flow = results.get("gradflow")
    if not flow or not flow.get("cells"):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    need = max(2, flow["utterances"] // 4)  # lags that at least a quarter of the utterances reach
    for cell, curves in flow["cells"].items():
        for label, style in (("trained", "-"), ("untrained", "--")):
            c = curves[label]
            keep = [i for i, n in enumerate(c["utterances"]) if n >= need]
            ax.plot([c["lag_s"][i] for i in keep], [10 ** c["relative_log10"][i] for i in keep], style,
                    color=CELL_COLORS[cell], label=f"{cell} {label} ({curves['run']})")
    ax.set_yscale("log")
    ax.set_xlabel("lag: seconds between the input frame and the output")
    ax.set_ylabel("|d log p(best token) / d input| relative to lag 0\n(geometric mean over utterances)")
    ax.set_title(f"Gradient flow back in time ({flow['utterances']} longest dev utterances)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)


def wer_by_length(results: dict, path: Path) -> Path | None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 5))
    drawn = False
    for name, run in results["runs"].items():
        buckets = run.get("measure", {}).get("by_length")
        if not buckets:
            continue
        drawn = True
        ax.plot([(b["lo"] + b["hi"]) / 2 for b in buckets], [b["wer"] for b in buckets], marker="o",
                label=name, **_style(run))
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("utterance length, seconds (bucket centre)")
    ax.set_ylabel("dev WER %")
    ax.set_title("Dev WER by utterance length (greedy)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def streaming_bars(results: dict, path: Path) -> Path | None:
    measured = [(name, run) for name, run in results["runs"].items() if "measure" in run]
    if not measured:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    names = [n for n, _ in measured]
    colors = [CELL_COLORS[r["cell"]] for _, r in measured]
    xs = range(len(measured))
    left.bar(xs, [r["measure"]["stream"]["cpu_rtf"] for _, r in measured], color=colors)
    left.set_title(f"streaming RTF, {measured[0][1]['measure']['stream']['chunk_ms']} ms chunks, 1 thread (CPU time)")
    width = 0.4
    right.bar([x - width / 2 for x in xs], [r["measure"]["stream"]["cpu_p50_ms"] for _, r in measured], width,
              color=colors, label="p50")
    right.bar([x + width / 2 for x in xs], [r["measure"]["stream"]["cpu_p95_ms"] for _, r in measured], width,
              color=colors, alpha=0.5, label="p95")
    right.set_title("per-chunk compute time (CPU), ms: p50 solid, p95 light")
    for ax in (left, right):
        ax.set_xticks(list(xs), names, rotation=45, ha="right", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def probe_accuracy(results: dict, path: Path) -> Path | None:
    probe = results.get("probe")
    if not probe:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for cell, c in probe["cells"].items():
        ax.plot([r["gap_s"] for r in c["results"]], [100 * r["accuracy"] for r in c["results"]], marker="o",
                color=CELL_COLORS[cell], label=f"{cell} (hidden {c['hidden']}, {c.get('params', 0):,} params)")
    ax.axhline(100 * probe["chance"], color="grey", linestyle=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("gap between the keyword and the answer, seconds")
    ax.set_ylabel("held-out accuracy %")
    ax.set_ylim(0, 102)
    ax.set_title("Keyword recall after a gap of faint noise")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, path)
