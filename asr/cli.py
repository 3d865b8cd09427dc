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
    print(summary)
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
