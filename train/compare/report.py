"""`asr compare`'s report: a Markdown file and its PNG plots, from OUT/results.json and the runs' log.csv only.

Every sentence about the article's claims is computed from the numbers (train.compare.claims); nothing
here states a conclusion of its own. A stage that has not run leaves its section saying so.
"""
from __future__ import annotations

import re
from pathlib import Path

from asr.decode.lm import DEFAULT_BEAM_SIZE, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT

from . import plots
from .claims import claims, fmt_range, matched_runs, same_hidden_runs, throughput

__all__ = ["write_report"]

CELLS = ("gru", "lstm", "rnn")


def _dev_rates(run: dict) -> tuple[float | None, float | None, bool]:
    """(WER, CER, measured): the measure stage's greedy figures, else the training log's best."""
    if "measure" in run:
        return run["measure"]["dev_wer"], run["measure"]["dev_cer"], True
    train = run.get("train")
    return (train["best_dev_wer"], train["best_dev_cer"], False) if train else (None, None, False)


def _row(label: str, runs: list[tuple[str, dict]]) -> str:
    first = runs[0][1]
    rates = [_dev_rates(r) for _, r in runs]
    wer = fmt_range([w for w, _, _ in rates if w is not None])
    cer = fmt_range([c for _, c, _ in rates if c is not None])
    mark = "" if all(m for _, _, m in rates) or wer == "–" else " †"
    m = [r["measure"] for _, r in runs if "measure" in r]
    beam = fmt_range([x["beam_lm_wer"] for x in m if x.get("beam_lm_wer") is not None])
    rtf = fmt_range([x["stream"]["cpu_rtf"] for x in m], 4)
    lat = f"{fmt_range([x['stream']['cpu_p50_ms'] for x in m])} / {fmt_range([x['stream']['cpu_p95_ms'] for x in m])}"
    size = fmt_range([x["checkpoint_mb"] for x in m])
    speed = fmt_range([v for v in (throughput(r) for _, r in runs) if v is not None], 0)
    return (f"| {label} | {len(runs)} | {first['hidden']} | {first['params']:,} "
            f"| {first['macs_per_audio_s'] / 1e6:.1f} "
            f"| {speed} | {wer}{mark} | {cer}{mark} | {beam} | {rtf} | {lat if m else '–'} | {size} |")


def _summary_table(results: dict) -> list[str]:
    lines = ["| cell | runs | hidden | parameters | MMAC / audio s | train audio s/s | dev WER % | dev CER % "
             "| beam+LM WER % | stream RTF | chunk p50 / p95 ms | checkpoint MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cell in CELLS:
        lines.append(_row(f"**{cell}** matched", matched_runs(results, cell)))
    for cell, run in same_hidden_runs(results).items():
        if run[1]["group"] == "same-hidden":
            lines.append(_row(f"{cell} same hidden", [run]))
    return lines


def _devices(results: dict) -> list[str]:
    seen = {}
    for run in results["runs"].values():
        for stage in ("train", "measure"):
            if stage in run:
                d = run[stage]["device"]
                seen.setdefault(stage, f"{d['name']} ({d['device']}, {d['threads']} thread(s), torch {d['torch']})")
    for stage in ("gradflow", "probe"):
        if stage in results:
            d = results[stage]["device"]
            seen[stage] = f"{d['name']} ({d['device']}, {d['threads']} thread(s), torch {d['torch']})"
    return [f"  - {stage}: {text}" for stage, text in seen.items()]


def _probe_table(results: dict) -> list[str]:
    probe = results.get("probe")
    if not probe:
        return ["The probe stage has not run."]
    gaps = [r["gap_s"] for r in probe["cells"]["gru"]["results"]]
    lines = ["| gap s | " + " | ".join(f"{c} (h={probe['cells'][c]['hidden']}, {probe['cells'][c]['params']:,} p.)"
                                      for c in CELLS) + " |", "|---" * 4 + "|"]
    for i, gap in enumerate(gaps):
        lines.append(f"| {gap:g} | " + " | ".join(f"{100 * probe['cells'][c]['results'][i]['accuracy']:.1f}%"
                                                 for c in CELLS) + " |")
    cfg = probe["config"]
    lines += ["", f"{len(cfg['words'])} keywords ({', '.join(cfg['words'])}), {probe['train_clips']} training and "
                  f"{probe['test_clips']} held-out clips, {cfg['epochs']} epochs of batches of {cfg['batch_size']} "
                  f"({probe['cells']['gru']['results'][0]['steps']} steps) per classifier, lr {cfg['lr']}, seed "
                  f"{cfg['seed']}, noise {probe['noise_dbfs']:g} dBFS; chance {100 * probe['chance']:.1f}%. One seed: "
                  "differences of a few points between neighbouring gaps are noise."]
    return lines


def _rerun(results: dict) -> list[str]:
    cfg = results["config"]
    last = re.sub(r" --stages \S+", "", results["invocations"][-1]["command"])  # all stages
    libri = last.replace(f"--data {cfg['data']}", "--data /path/to/LibriSpeech-root")
    libri = libri.replace(f"--train {','.join(cfg['train_subsets'])}", "--train train-clean-100")
    libri = libri.replace(f"--dev {cfg['dev_subset']}", "--dev dev-clean")
    return ["```sh", last, "```", "",
            "On LibriSpeech (the folder that holds `LibriSpeech/`; `asr download` fetches it), the same comparison "
            "with the same options:", "", "```sh", libri, "```", "",
            "In stages, e.g. training and gradient flow on a GPU machine (no speech synthesiser needed there), then "
            "the CPU measurements, the probe and the report where the report should be measured: add "
            "`--stages train,gradflow` there, copy OUT back, then `--stages measure,probe,report`. Finished runs are "
            "skipped, interrupted ones resumed."]


def write_report(results: dict, out: Path, report: Path) -> Path:
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    stem = report.stem
    figures = [
        ("Learning curves", plots.learning_curves(results, Path(out), report.parent / f"{stem}_learning_curves.png")),
        ("Gradient norm vs lag", plots.gradient_flow(results, report.parent / f"{stem}_gradient_flow.png")),
        ("WER vs utterance length", plots.wer_by_length(results, report.parent / f"{stem}_wer_by_length.png")),
        ("Streaming RTF and per-chunk latency", plots.streaming_bars(results, report.parent / f"{stem}_streaming.png")),
        ("Keyword recall vs gap", plots.probe_accuracy(results, report.parent / f"{stem}_probe.png")),
    ]
    cfg = results["config"]
    budget = (f"{cfg['budget_minutes']:g} wall-clock minutes per run (dev evaluations included, "
              f"{cfg['evals_per_run']} of them spread over the budget)" if cfg["budget_minutes"]
              else f"{cfg['epochs'] or 10} epochs per run")
    lines = [
        "# GRU vs LSTM vs vanilla RNN, measured", "",
        f"Generated by `asr compare` from `{Path(out) / 'results.json'}` and the runs' `log.csv`; rerun its report "
        "stage rather than editing this file. Every statement below is computed from those numbers.", "",
        "## Set-up", "",
        f"- Data: `{cfg['data']}`, training {', '.join(cfg['train_subsets'])}"
        f"{_hours(results)}, dev {cfg['dev_subset']}.",
        f"- Every run: {cfg['layers']} layer(s), stride {cfg['stride']} ({10 * cfg['stride']} ms frames), lookahead "
        f"{cfg['lookahead']}, "
        f"dropout {cfg['dropout']}, CTC over characters, AdamW lr {cfg['lr']} ({cfg['warmup_steps']} warm-up steps, "
        f"cosine decay over the budget), {cfg['batch_seconds']:g} s of audio per batch, SpecAugment, the same data "
        f"order for the same seed; budget: {budget}. Initialisation: PyTorch's defaults, except the LSTM's "
        "forget-gate bias, set to 1 as is usual (asr.model).",
        f"- Matched runs: hidden size solved per cell for {cfg['params']:,} parameters (within 5%), seeds "
        f"0-{cfg['seeds'] - 1}. Same-hidden runs: every cell at the GRU's matched hidden size "
        f"({results['same_hidden']['hidden']}), seed 0 only (the GRU's is its matched seed-0 run).",
        "- Devices (each figure was measured on the device of its stage):", *_devices(results), "",
        "## Summary", "", *_summary_table(results), "",
        "± is half the min-max range over seeds.",
        "",
        f"- MMAC / audio s: million multiply-accumulates of the network per second of audio (every weight once per "
        f"{10 * cfg['stride']} ms frame; log-mel front end excluded, identical for all).",
        "- Train audio s/s: median over epochs of audio seconds trained per second, evaluation time excluded, on the "
        "training device.",
        "- Dev WER/CER: greedy decoding of best.pt over the whole dev set (measure stage; † = the training log's "
        "best, the measure stage has not run). Beam+LM: the same with `--decoder beam` (beam "
        f"{DEFAULT_BEAM_SIZE}, the bundled 3-gram LM, weight {DEFAULT_LM_WEIGHT:g}, blank penalty "
        f"{DEFAULT_BLANK_PENALTY:g}; "
        "`train.compare.measure.beam_lm_rates`).",
        f"- Streaming: the recognizer (`stream.step`) fed {cfg['chunk_ms']} ms chunks of {cfg['stream_seconds']:g} s "
        "of dev speech on one CPU thread, medians of 3 passes, by the CPU time of the measuring thread (on a shared "
        "machine the wall clock also counts other processes; both are in results.json).",
        "",
        "## How the long-range measurements work", "",
        "- Gradient flow: for the longest dev utterances, the gradient of the log-probability of the best token at "
        "the last output frame w.r.t. the input log-mel features; its norm at each earlier frame, relative to the norm "
        "at the last frame (lag 0), as a geometric mean over utterances, in float64. A curve that falls fast means "
        "the output no longer \"hears\" the past, and training cannot teach it to. Trained: best.pt of the matched "
        "seed-0 run; untrained: a fresh initialisation (seed 0) with the same feature statistics.",
        "- Keyword recall: 0-0.25 s of faint white noise, one of 8 keywords (espeak-ng, many voices), then a gap of "
        "the same noise; a one-layer classifier made of the recognizer's front end and cell, matched in parameters, "
        "is trained to name the keyword at every frame after the word and scored at the last frame, on held-out "
        "clips (`train.compare.probe` explains why not only at the last frame: with that, no cell learned even 0.5 s "
        "in this budget).",
        "",
        "## What the measurements say about the article's claims", "", *claims(results, Path(out)), "",
        "## Keyword recall after a gap (controlled long-range task)", "", *_probe_table(results), "",
        "## Plots", "",
    ]
    for title, path in figures:
        lines += [f"### {title}", "", f"![{title}]({path.name})" if path else "(stage not run yet)", ""]
    lines += ["## How this report was made", "", "Invocations that produced `results.json`:", ""]
    latest = {i["command"]: i for i in results["invocations"]}  # each distinct command once, its latest date
    lines += [f"- {i['date']} on {i['machine']}{' + ' + i['cuda'] if i.get('cuda') else ''}: stages "
              f"{','.join(i['stages'])}: `{i['command']}`" for i in latest.values()]
    lines += ["", "To run it again (all stages):", "", *_rerun(results), ""]
    report.write_text("\n".join(lines))
    return report


def _hours(results: dict) -> str:
    hours = [r["train"]["train_hours"] for r in results["runs"].values() if "train" in r]
    return f" ({hours[0]:.2f} h usable)" if hours else ""
