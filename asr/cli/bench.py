"""Speed and export: `asr bench`, `asr export`."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .common import fail, load_model_or_exit

__all__ = ["add_bench", "add_export"]


def cmd_bench(args) -> int:
    from asr.cli.benchmarks.measure import BenchConfig, format_report, run_bench

    if bool(args.data) != bool(args.subset):
        return fail("--data and --subset go together", 2)
    from asr.runtime import PRECISIONS

    precisions = tuple(p.strip() for p in args.precision.split(","))
    if not precisions or any(p not in PRECISIONS for p in precisions):
        return fail(f"--precision: int8, float32 or both comma-separated, not {args.precision!r}", 2)
    for m in args.model or []:
        load_model_or_exit(m)  # a bad model fails now, not after minutes of measuring
    cfg = BenchConfig(models=tuple(args.model or [None]), precisions=precisions,
                      chunks_ms=tuple(int(c) for c in args.chunks.split(",")), runs=args.runs,
                      seconds=args.seconds, data=args.data, subset=args.subset,
                      pocketsphinx=not args.no_pocketsphinx, pocketsphinx_vad=not args.pocketsphinx_one_utterance,
                      rss=not args.no_rss, all_threads=args.all_threads)
    progress = (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True)) if sys.stderr.isatty() else (lambda m: None)
    try:
        results = run_bench(cfg, progress)
    except (RuntimeError, FileNotFoundError) as e:
        return fail(str(e), 2)
    print(json.dumps(results, indent=2) if args.format == "json" else format_report(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def cmd_export(args) -> int:
    from asr.runtime.export import export_model

    model = load_model_or_exit(args.model)
    if not hasattr(model, "state_dict"):
        return fail("export needs a checkpoint (.pt), not an exported model", 2)
    try:
        path = export_model(model, args.out, args.format, args.quantize)
    except (ValueError, RuntimeError) as e:
        return fail(str(e), 2)
    print(f"{path}: {args.format}{' int8' if args.quantize else ''}, {path.stat().st_size / 2**20:.2f} MB")
    return 0


def add_bench(sub) -> None:
    b = sub.add_parser("bench", help="speed and memory side by side with PocketSphinx on the same audio",
                       description="Streaming RTF and per-chunk compute p50/p95/p99 (one thread) at several chunk "
                                   "sizes, offline RTF on one and all threads, load time, peak RSS of asr "
                                   "transcribe, WER; then PocketSphinx streaming the same audio. Medians of --runs "
                                   "runs with min-max. The audio: the bundled sample plus espeak-ng sentences.")
    b.add_argument("--model", action="append",
                   help="model file (checkpoint, int8 checkpoint, TorchScript or ONNX); repeat to compare; "
                        "default: the bundled model")
    b.add_argument("--precision", default="int8",
                   help="int8 (default, what asr transcribe/stream/live run), float32, or int8,float32 for both "
                        "(each model at each; see asr transcribe --help)")
    b.add_argument("--format", choices=["text", "json"], default="text")
    b.add_argument("--json", default="runs/bench.json",
                   help="also write the results as JSON to this file (default runs/bench.json; '' for none)")
    b.add_argument("--seconds", type=float, default=90.0, help="seconds of audio (default 90)")
    b.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    b.add_argument("--chunks", default="20,40,100,200", help="streaming chunk sizes in ms (default 20,40,100,200)")
    b.add_argument("--data", help="use utterances of this corpus root instead of synthetic audio (with --subset)")
    b.add_argument("--subset")
    b.add_argument("--no-pocketsphinx", action="store_true", help="skip the PocketSphinx comparison")
    b.add_argument("--pocketsphinx-one-utterance", action="store_true",
                   help="feed PocketSphinx the audio as one utterance in 100 ms chunks (default: utterances split "
                        "by its own VAD endpointer, as in its live example; faster for it)")
    b.add_argument("--no-rss", action="store_true", help="skip the separate asr transcribe process (peak RSS)")
    b.add_argument("--all-threads", type=int, default=os.cpu_count() or 1,
                   help="threads for the second offline measurement (default: all cores; 1 skips it)")
    b.set_defaults(func=cmd_bench)


def add_export(sub) -> None:
    x = sub.add_parser("export", help="export a model: TorchScript or ONNX streaming step, or an int8 checkpoint",
                       description="Write the per-chunk network with explicit state inputs/outputs (features, "
                                   "pending, tail, h[, c] -> log_probs, pending_out, h_out[, c_out]) as TorchScript "
                                   "or ONNX, or (--format pt) a checkpoint; --quantize int8 quantizes the linear and "
                                   "recurrent weights. asr transcribe/stream/live/eval --model accept the result.")
    x.add_argument("--model", help="checkpoint (.pt); default: the bundled model")
    x.add_argument("--format", choices=["torchscript", "onnx", "pt"], required=True)
    x.add_argument("--quantize", choices=["int8"], help="int8 dynamic quantization")
    x.add_argument("--out", required=True, help="output file (.onnx for ONNX)")
    x.set_defaults(func=cmd_export)
