"""The `asr` command. Only this module sees argparse: each handler builds a config and calls one
library function. Errors the user can fix are one line on stderr, never a traceback."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]

EXAMPLES = """examples:
  asr transcribe talk.wav notes.flac            transcribe files with the bundled model
  asr live                                      transcribe the default microphone
  asr stream talk.wav --format jsonl --stats    a file as a simulated microphone
  asr eval --data corpora/synth --subset synth-dev
  asr synth --text sentences.txt.gz --out corpora/synth --subset synth-train --hours 5
  asr train --data corpora/synth --train synth-train --dev synth-dev --cell gru --out runs/gru
"""


def _fail(message: str, status: int) -> int:
    print(f"asr: error: {message}", file=sys.stderr)
    return status


def _load_model_or_exit(path: str | None):
    from .checkpoint import ModelError, load_model

    try:
        return load_model(path)
    except ModelError as e:
        print(f"asr: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def cmd_transcribe(args) -> int:
    from .audio import AudioError
    from .transcribe import transcribe_file

    _set_threads(args.threads)
    model = _load_model_or_exit(args.model)
    failed = 0
    for path in args.files:
        try:
            result = transcribe_file(model, path)
        except AudioError as e:
            print(f"asr: error: {e}", file=sys.stderr)
            failed += 1
            continue
        if args.format == "json":
            print(json.dumps(result.as_dict()), flush=True)
        elif len(args.files) > 1:
            print(f"{path}: {result.text}", flush=True)
        else:
            print(result.text, flush=True)
    return 1 if failed else 0


def _stream_config(args):
    from stream.recognizer import StreamConfig

    return StreamConfig(trailing_silence=args.trailing_silence, max_utterance=args.max_utterance)


def cmd_stream(args) -> int:
    from stream.display import EventPrinter
    from stream.file_stream import stream_file

    from .audio import AudioError

    _set_threads(args.threads)
    model = _load_model_or_exit(args.model)
    printer = EventPrinter(args.format)
    try:
        stats = stream_file(model, args.file, printer, chunk_ms=args.chunk_ms, realtime=args.realtime,
                            config=_stream_config(args))
    except AudioError as e:
        printer.close()
        return _fail(str(e), 1)
    printer.close()
    if args.stats:
        print(stats.summary(), file=sys.stderr)
    return 0


def cmd_live(args) -> int:
    from stream.display import EventPrinter
    from stream.microphone import LiveConfig, LiveError, run_live

    _set_threads(args.threads)
    model = _load_model_or_exit(args.model)
    device = int(args.device) if args.device is not None and args.device.isdigit() else args.device
    cfg = LiveConfig(device=device, chunk_ms=args.chunk_ms, duration=args.duration, stream=_stream_config(args))
    printer = EventPrinter(args.format)
    try:
        stats = run_live(model, cfg, printer)
    except LiveError as e:
        return _fail(str(e), 2)
    finally:
        printer.close()
    note = f"{stats.seconds:.1f} s recorded from {stats.device!r} at {stats.samplerate} Hz"
    if stats.overflows:
        note += f"; {stats.overflows} input overflows (audio was lost; try a larger --chunk-ms)"
    print(note, file=sys.stderr)
    return 0


def cmd_devices(args) -> int:
    from stream.microphone import LiveError, list_input_devices

    try:
        devices = list_input_devices()
    except LiveError as e:
        return _fail(str(e), 2)
    if not devices:
        return _fail("no audio input device found", 2)
    for d in devices:
        mark = "*" if d["default"] else " "
        print(f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['samplerate']} Hz)")
    return 0


def cmd_eval(args) -> int:
    from data.librispeech import read_subset
    from train.evaluate import evaluate

    _set_threads(args.threads)
    model = _load_model_or_exit(args.model)
    try:
        utterances, report = read_subset(args.data, args.subset)
    except FileNotFoundError as e:
        return _fail(str(e), 2)
    print(report.summary(), file=sys.stderr)
    if not utterances:
        return _fail(f"no usable utterances in {args.subset}", 1)
    result = evaluate(model, utterances, progress=args.format == "text" and sys.stderr.isatty())
    if args.format == "json":
        print(json.dumps({**result.as_dict(), "subset": args.subset}))
    else:
        print(f"{args.subset}: WER {result.wer:.2f}%  CER {result.cer:.2f}%  "
              f"({result.utterances} utterances, {result.audio_seconds / 60:.1f} min of audio, RTF {result.rtf:.4f})")
        if args.show_errors:
            for utt_id, ref, hyp in result.hypotheses:
                if ref != hyp:
                    print(f"{utt_id}\n  REF: {ref}\n  HYP: {hyp}")
    return 0


def cmd_train(args) -> int:
    from train.loop import TrainConfig, train

    from .model import ModelConfig

    try:
        model_cfg = ModelConfig(cell=args.cell, hidden=args.hidden, layers=args.layers, stride=args.stride,
                                lookahead=args.lookahead, dropout=args.dropout)
    except ValueError as e:
        return _fail(str(e), 2)
    cfg = TrainConfig(
        data=Path(args.data), train_subsets=tuple(args.train.split(",")), dev_subset=args.dev, out=Path(args.out),
        model=model_cfg, epochs=args.epochs, max_minutes=args.max_minutes, batch_seconds=args.batch_seconds,
        lr=args.lr, spec_augment=not args.no_spec_augment, seed=args.seed, threads=args.threads,
    )
    try:
        result = train(cfg)
    except (FileNotFoundError, ValueError) as e:
        return _fail(str(e), 2)
    print(f"best dev WER {result.best_dev_wer:.2f}% CER {result.best_dev_cer:.2f}% after {result.epochs} epochs, "
          f"{result.minutes:.1f} min; model: {result.best_checkpoint}")
    return 0


def cmd_synth(args) -> int:
    from data.synth import SynthConfig, SynthError, synthesize_corpus

    cfg = SynthConfig(text=Path(args.text), out=Path(args.out), subset=args.subset, hours=args.hours,
                      engines=tuple(args.voices.split(",")), split=args.split, seed=args.seed, workers=args.workers)
    try:
        summary = synthesize_corpus(cfg)
    except SynthError as e:
        return _fail(str(e), 2)
    per_engine = ", ".join(f"{k} {v / 3600:.2f} h" for k, v in summary.engine_seconds.items())
    print(f"{summary.path}: {summary.utterances} utterances, {summary.seconds / 3600:.2f} h ({per_engine}) "
          f"in {summary.wall_seconds / 60:.1f} min; {summary.failures} sentences failed")
    for reason, n in sorted(summary.failure_reasons.items()):
        print(f"  {n} x {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asr", description="Streaming RNN-CTC speech recognizer: transcribe, evaluate, synthesise data, train.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("transcribe", help="transcribe audio files (wav/flac/ogg/mp3, any rate and channels)",
                       description="Transcribe audio files. Long files are read in blocks, so memory stays bounded. "
                                   "Exit status: 0 all files transcribed, 1 some file failed, 2 unusable model.")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument("--model", help="checkpoint (.pt); default: the bundled model")
    t.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: the transcript (prefixed by the path with several files); json: one object per file "
                        "per line with file, text, duration")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    t.set_defaults(func=cmd_transcribe)

    def streaming_options(q):
        q.add_argument("--model", help="checkpoint (.pt); default: the bundled model")
        q.add_argument("--chunk-ms", type=int, default=100, help="audio per chunk in milliseconds (default 100)")
        q.add_argument("--format", choices=["text", "jsonl"], default="text",
                       help="text: partial updated in place on a terminal, finals on their own lines; "
                            "jsonl: every event as {type, text, start, end, latency_ms}")
        q.add_argument("--trailing-silence", type=float, default=0.8,
                       help="seconds of silence that end an utterance (default 0.8)")
        q.add_argument("--max-utterance", type=float, default=20.0,
                       help="cut longer utterances at the next word boundary (default 20 s)")
        q.add_argument("--threads", type=int, help="torch CPU threads")

    m = sub.add_parser("stream", help="stream a file through the live recognizer (a simulated microphone)",
                       description="Feed a file chunk by chunk to the streaming recognizer and print partial and "
                                   "final results as they happen.")
    m.add_argument("file", metavar="FILE")
    streaming_options(m)
    m.add_argument("--realtime", action="store_true", help="pace the chunks in real time, like a microphone")
    m.add_argument("--stats", action="store_true",
                   help="print per-chunk compute time p50/p95, real-time factor and peak memory to stderr")
    m.set_defaults(func=cmd_stream)

    v = sub.add_parser("live", help="live transcription from a microphone",
                       description="Transcribe the microphone live. Ctrl-C (or --duration) stops and prints the "
                                   "last final. Exit status 2 when there is no PortAudio or no input device.")
    v.add_argument("--device", help="input device name (substring) or index; see `asr devices`")
    v.add_argument("--duration", type=float, help="stop after this many seconds of audio")
    streaming_options(v)
    v.set_defaults(func=cmd_live)

    d = sub.add_parser("devices", help="list audio input devices")
    d.set_defaults(func=cmd_devices)

    e = sub.add_parser("eval", help="WER/CER of a model on a LibriSpeech-layout subset",
                       description="Greedy-decode a subset and report WER and CER in percent, utterances, audio "
                                   "seconds and real-time factor.")
    e.add_argument("--data", required=True, help="corpus root (holding LibriSpeech/<subset>)")
    e.add_argument("--subset", required=True)
    e.add_argument("--model", help="checkpoint (.pt); default: the bundled model")
    e.add_argument("--format", choices=["text", "json"], default="text",
                   help="json prints one object with wer, cer, utterances, audio_seconds, rtf")
    e.add_argument("--show-errors", action="store_true", help="print reference and hypothesis of each error")
    e.add_argument("--threads", type=int, help="torch CPU threads")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("synth", help="make a synthetic corpus in LibriSpeech layout (espeak-ng, flite, piper)",
                       description="Speak sentences with espeak-ng, flite and piper into a LibriSpeech-layout "
                                   "corpus of 16 kHz FLAC files; each voice is its own speaker id.")
    s.add_argument("--text", required=True, help="sentences, one per line (.txt or .txt.gz)")
    s.add_argument("--out", required=True, help="corpus root; files go to OUT/LibriSpeech/SUBSET")
    s.add_argument("--subset", required=True, help="subset name, e.g. synth-train")
    s.add_argument("--hours", type=float, required=True, help="hours of audio to make")
    s.add_argument("--voices", default="espeak,flite,piper", help="engines to use (default: all three)")
    s.add_argument("--split", choices=["train", "dev", "all"], default="train",
                   help="train: training voices and sentences; dev: only the held-out voices and sentences")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.set_defaults(func=cmd_synth)

    r = sub.add_parser("train", help="train a CTC model (gru, lstm or rnn) on LibriSpeech-layout subsets",
                       description="Train with CTC loss; dev WER each epoch; RUN_DIR/best.pt is the best model.")
    r.add_argument("--data", required=True, help="corpus root (holding LibriSpeech/<subset>)")
    r.add_argument("--train", required=True, help="training subsets, comma-separated")
    r.add_argument("--dev", required=True, help="dev subset")
    r.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, config.json)")
    r.add_argument("--cell", choices=["gru", "lstm", "rnn"], default="gru")
    r.add_argument("--hidden", type=int, default=320)
    r.add_argument("--layers", type=int, default=3)
    r.add_argument("--stride", type=int, default=3, help="feature frames stacked per model frame (2-4)")
    r.add_argument("--lookahead", type=int, default=1, help="future model frames each output sees (0-2)")
    r.add_argument("--dropout", type=float, default=0.1)
    r.add_argument("--epochs", type=int, default=20)
    r.add_argument("--max-minutes", type=float, help="wall-clock budget; the LR schedule follows it")
    r.add_argument("--batch-seconds", type=float, default=200.0, help="padded audio seconds per batch")
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--no-spec-augment", action="store_true")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, help="torch CPU threads")
    r.set_defaults(func=cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
