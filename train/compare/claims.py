"""The article's claims, each confronted with `asr compare`'s numbers; every sentence is computed.

"Within the seed spread" means the ranges (min-max over seeds) of two cells overlap, so the measurement
does not separate them; a difference is named only when it is larger than that.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from .records import read_log
from .gradflow import relative_at

__all__ = ["fmt_range", "matched_runs", "same_hidden_runs", "throughput", "claims"]

CELLS = ("gru", "lstm", "rnn")
GOOD_ACCURACY = 0.5  # a gap counts as bridged at >= 50% held-out accuracy (4x chance with 8 keywords)


def fmt_range(values: list[float], digits: int = 2) -> str:
    """Mean, and +- half the min-max range when the values differ: '61.20 +-0.45'."""
    if not values:
        return "–"
    mean, half = statistics.fmean(values), (max(values) - min(values)) / 2
    return f"{mean:.{digits}f}" + (f" ±{half:.{digits}f}" if len(values) > 1 and half > 0 else "")


def matched_runs(results: dict, cell: str) -> list[tuple[str, dict]]:
    return [(n, r) for n, r in results["runs"].items() if r["cell"] == cell and r["group"] == "matched"]


def same_hidden_runs(results: dict) -> dict[str, tuple[str, dict]]:
    return {cell: (name, results["runs"][name]) for cell, name in results["same_hidden"]["runs"].items()}


def throughput(run: dict) -> float | None:
    """Training audio seconds per second (train stage: median over epochs, evaluation excluded)."""
    return (run.get("train") or {}).get("audio_s_per_s")


def _values(results: dict, cell: str, get) -> list[float]:
    out = []
    for _, run in matched_runs(results, cell):
        try:
            v = get(run)
        except (KeyError, TypeError):
            v = None
        if v is not None:
            out.append(v)
    return out


def _versus(a: str, av: list[float], b: str, bv: list[float], what: str, digits: int = 2) -> str:
    """'X: A 1.2 vs B 1.0, A higher by 20%', or '..., within the seed spread', from per-seed values."""
    if not av or not bv:
        return f"{what}: not measured for both {a} and {b}"
    ma, mb = statistics.fmean(av), statistics.fmean(bv)
    text = f"{what}: {a} {fmt_range(av, digits)} vs {b} {fmt_range(bv, digits)}"
    if max(av) >= min(bv) and max(bv) >= min(av):
        return f"{text}, within the seed spread"
    return f"{text}: {a} {'lower' if ma < mb else 'higher'} by {abs(ma - mb) / max(abs(mb), 1e-12):.0%}"


def _wer(run: dict) -> float | None:
    return run["measure"]["dev_wer"] if "measure" in run else (run.get("train") or {}).get("best_dev_wer")


def _first_minutes_at(rows: list[dict], wer: float) -> float | None:
    return next((r["minutes"] for r in rows if r["dev_wer"] <= wer), None)


def _train_claims(results: dict, logs: dict[str, list[dict]]) -> list[str]:
    dev = next((r["train"]["device"] for r in results["runs"].values() if "train" in r), None)
    if dev is None:
        return ["- **GRUs are faster to train**: not measured yet (the train stage has not run)."]
    speed = {c: _values(results, c, throughput) for c in CELLS}
    wer = {c: _values(results, c, _wer) for c in CELLS}
    lines = [f"- **\"GRUs are generally faster to train than LSTMs\"** (training on {dev['name']}):",
             f"  - {_versus('GRU', speed['gru'], 'LSTM', speed['lstm'], 'training audio s/s at matched parameters', 0)}"
             f"; RNN {fmt_range(speed['rnn'], 0)}."]
    same = same_hidden_runs(results)
    s_gru, s_lstm = throughput(same["gru"][1]), throughput(same["lstm"][1])
    if s_gru and s_lstm:
        lines.append(f"  - At the same hidden size ({results['same_hidden']['hidden']}): GRU {s_gru:.0f} vs LSTM "
                     f"{s_lstm:.0f} audio s/s: the GRU was {'faster' if s_gru > s_lstm else 'slower'} by "
                     f"{abs(s_gru / s_lstm - 1):.0%}.")
    lines.append(f"  - {_versus('GRU', wer['gru'], 'LSTM', wer['lstm'], 'dev WER % after the same budget')}; "
                 f"RNN {fmt_range(wer['rnn'])}.")
    finals = [statistics.fmean(v) for v in wer.values() if v]
    if len(finals) == 3:  # wall time to the WER that every cell reached on average
        target = max(finals)
        times = {c: [t for n, _ in matched_runs(results, c)
                     if (t := _first_minutes_at(logs[n], target)) is not None]
                 for c in CELLS}
        lines.append(f"  - Wall minutes until dev WER <= {target:.1f}% (the worst cell's final mean): " + ", ".join(
            f"{c.upper()} {fmt_range(times[c])}" for c in CELLS) + ".")
    return lines


def _param_claims(results: dict) -> list[str]:
    same = same_hidden_runs(results)
    p = {c: same[c][1]["params"] for c in CELLS}
    wer = {c: _values(results, c, _wer) for c in CELLS}
    return [f"- **\"GRUs require fewer parameters than LSTMs\"**: at the same hidden size "
            f"({results['same_hidden']['hidden']}) the GRU has {p['gru']:,} parameters, the LSTM {p['lstm']:,} "
            f"({p['gru'] / p['lstm']:.0%}; the recurrent layers are exactly 3/4) and the RNN {p['rnn']:,}. Whether "
            f"the GRU needs fewer to reach the same accuracy: at matched parameters, "
            f"{_versus('GRU', wer['gru'], 'LSTM', wer['lstm'], 'dev WER %')}."]


def _realtime_claims(results: dict) -> list[str]:
    rtf = {c: _values(results, c, lambda r: r["measure"]["stream"]["cpu_rtf"]) for c in CELLS}
    p95 = {c: _values(results, c, lambda r: r["measure"]["stream"]["cpu_p95_ms"]) for c in CELLS}
    if not all(rtf.values()):
        return ["- **GRUs suit real-time recognition**: not measured yet (the measure stage has not run)."]
    dev = next(r["measure"]["device"] for r in results["runs"].values() if "measure" in r)
    fastest = min(CELLS, key=lambda c: statistics.fmean(rtf[c]))
    return [f"- **\"GRUs are suitable for real-time speech recognition\"** (streaming, one thread of {dev['name']}): "
            f"every cell is real-time by a wide margin (CPU-time RTF GRU {fmt_range(rtf['gru'], 4)}, LSTM "
            f"{fmt_range(rtf['lstm'], 4)}, RNN {fmt_range(rtf['rnn'], 4)}; p95 per-chunk time GRU "
            f"{fmt_range(p95['gru'])} ms, LSTM {fmt_range(p95['lstm'])} ms, RNN {fmt_range(p95['rnn'])} ms). "
            f"Fastest at matched parameters: {fastest.upper()}; "
            f"{_versus('GRU', rtf['gru'], 'LSTM', rtf['lstm'], 'CPU-time RTF', 4)}."]


def _gradient_claims(results: dict) -> list[str]:
    flow = results.get("gradflow")
    if not flow:
        return ["- **Vanishing gradients**: not measured yet (the gradflow stage has not run)."]
    out = []
    for label in ("untrained", "trained"):
        at = {c: {s: relative_at(flow["cells"][c][label], s) for s in (0.5, 1.0, 2.0)} for c in flow["cells"]}
        parts = [f"{c.upper()} " + " / ".join("n/a" if v is None else f"1e{v:.1f}" for v in at[c].values())
                 for c in at]
        out.append(f"{label}: " + ", ".join(parts))
    one = {c: relative_at(flow["cells"][c]["trained"], 1.0) for c in flow["cells"]}
    verdict = "no measured lag reaches 1 s"
    if all(v is not None for v in one.values()) and set(one) == set(CELLS):
        gap = max(one["gru"], one["lstm"]) - one["rnn"]
        if gap >= 1:
            meaning = "consistent with the claim"
        elif gap > 0:
            meaning = "a difference of less than one order of magnitude"
        else:
            meaning = "the claim is not borne out by this measure"
        verdict = (f"1 s back, the trained RNN's gradient is {abs(gap):.1f} orders of magnitude "
                   f"{'below' if gap > 0 else 'above'} the better gated cell's: {meaning}")
    return [f"- **\"Vanilla RNNs suffer from vanishing gradients\"**: gradient norm at 0.5 / 1 / 2 s lag relative to "
            f"lag 0: {'; '.join(out)}. So {verdict}."]


def _memory_claims(results: dict) -> list[str]:
    probe = results.get("probe")
    lines = []
    if probe:
        bridged = {c: max([r["gap_s"] for r in probe["cells"][c]["results"] if r["accuracy"] >= GOOD_ACCURACY],
                          default=None) for c in CELLS}
        long_gaps = sorted({r["gap_s"] for r in probe["cells"]["gru"]["results"]})[-2:]  # the two longest
        mean_long = {c: statistics.fmean([r["accuracy"] for r in probe["cells"][c]["results"]
                                          if r["gap_s"] in long_gaps]) for c in CELLS}
        text = ", ".join(f"{c.upper()} {'none' if g is None else f'{g:g} s'}" for c, g in bridged.items())
        best = max(CELLS, key=lambda c: mean_long[c])
        if mean_long[best] <= 1.5 * probe["chance"]:
            verdict = "No cell recalls the keyword above chance level at the longest gaps here."
        else:
            verdict = f"Best at the longest gaps: {best.upper()}" + ("." if best == "lstm" else ", not the LSTM.")
        unfit = [c for c in CELLS if max(r["train_accuracy"] for r in probe["cells"][c]["results"]) < 0.6]
        if unfit:  # a cell that cannot even fit its training clips has a learning-speed problem, not a memory one
            verdict += (" But " + " and ".join(c.upper() for c in unfit) + (" does" if len(unfit) == 1 else " do")
                        + " not fit even the training clips at the shortest gap (best training accuracy "
                        + ", ".join(f"{c.upper()} {100 * max(r['train_accuracy'] for r in probe['cells'][c]['results']):.0f}%"
                                    for c in unfit)
                        + f" after {probe['cells'][unfit[0]]['results'][0]['steps']} steps): that measures how fast "
                        "the cell learns, not how long it can remember.")
        lines.append(f"- **\"Vanilla RNNs fail on long-range dependencies; LSTMs excel at long-term memory\"**: "
                     f"keyword recall (below): longest gap recalled with >= {GOOD_ACCURACY:.0%} held-out accuracy: "
                     f"{text}; mean accuracy at the {' and '.join(f'{g:g}' for g in long_gaps)} s gaps: "
                     + ", ".join(f"{c.upper()} {100 * v:.0f}%" for c, v in mean_long.items())
                     + f" (chance {100 * probe['chance']:.0f}%). {verdict}")
    buckets = {c: [r["measure"]["by_length"] for _, r in matched_runs(results, c)
                   if r.get("measure", {}).get("by_length")] for c in CELLS}
    if all(buckets.values()) and len(buckets["gru"][0]) >= 2:
        rise = {c: statistics.fmean(b[-1]["wer"] - b[0]["wer"] for b in bs) for c, bs in buckets.items()}
        b = buckets["gru"][0]
        lines.append(f"- **Long utterances**: dev WER in the longest ({b[-1]['lo']:g}-{b[-1]['hi']:g} s) minus the "
                     f"shortest ({b[0]['lo']:g}-{b[0]['hi']:g} s) bucket: "
                     + ", ".join(f"{c.upper()} {v:+.1f}" for c, v in rise.items())
                     + " points (a cell that loses the thread on long utterances shows the largest rise).")
    return lines or ["- **Long-range dependencies**: not measured yet (the probe and measure stages have not run)."]


def _maturity(results: dict) -> list[str]:
    """How far training got: conclusions about accuracy mean little while every cell is still near 100% WER."""
    best = [min(v) for c in CELLS if (v := _values(results, c, _wer))]
    if not best or min(best) < 50:
        return []
    return [f"- **Read with care**: after this budget the best run is still at {min(best):.1f}% dev WER, so every "
            "cell is early in training; the accuracy comparisons below are about how fast each cell starts to "
            "learn, not about what it reaches. A longer `--budget-minutes` (or `--epochs`) answers the latter."]


def claims(results: dict, out: Path) -> list[str]:
    logs = {name: read_log(Path(out) / "runs" / name) for name in results["runs"]}  # for time-to-WER
    return [*_maturity(results), *_param_claims(results), *_train_claims(results, logs), *_realtime_claims(results),
            *_gradient_claims(results), *_memory_claims(results)]
