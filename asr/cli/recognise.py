"""Recognising speech: `asr transcribe`, `asr stream`, `asr live`, `asr devices`, `asr serve`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import (beam_config, beam_or_exit, decoding_options, fail, load_model_or_exit, precision_option,
                     search_options, set_threads)

__all__ = ["add_transcribe", "add_stream", "add_live", "add_devices", "add_serve"]


def _write_transcript(result, fmt: str, out_dir: str | None, several: bool) -> None:
    from asr.decode.subtitles import to_srt, to_vtt
    from asr.decode.words import cues

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
    from asr.audio import AudioError
    from stream.transcribe import transcribe_file

    if args.format in ("srt", "vtt") and len(args.files) > 1 and not args.output_dir:
        return fail(f"--format {args.format} with several files needs --output-dir (one subtitle file each)", 2)
    if args.output_dir:
        stems = [Path(f).stem for f in args.files]
        clash = sorted({s for s in stems if stems.count(s) > 1})
        if clash:
            return fail(f"--output-dir: several inputs are named {clash[0]!r}; their outputs would overwrite "
                         "each other (give them distinct names or separate runs)", 2)
    model = load_model_or_exit(args.model, args.precision)
    set_threads(args.threads or 1)
    beam = beam_or_exit(args)
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

    from asr.audio import AudioError

    model = load_model_or_exit(args.model, args.precision)
    set_threads(args.threads or 1)  # small per-chunk ops: waking a thread pool costs more than it saves
    beam = beam_or_exit(args)
    printer = EventPrinter(args.format)
    try:
        stats = stream_file(model, args.file, printer, chunk_ms=args.chunk_ms, realtime=args.realtime,
                            config=_stream_config(args), beam=beam)
    except AudioError as e:
        printer.close()
        return fail(str(e), 1)
    printer.close()
    if args.stats:
        print(stats.summary(), file=sys.stderr)
    return 0


def cmd_live(args) -> int:
    from stream.display import EventPrinter
    from stream.microphone import LiveConfig, LiveError, run_live

    model = load_model_or_exit(args.model, args.precision)
    set_threads(args.threads or 1)
    device = int(args.device) if args.device is not None and args.device.isdigit() else args.device
    cfg = LiveConfig(device=device, chunk_ms=args.chunk_ms, duration=args.duration, stream=_stream_config(args),
                     save_audio=Path(args.save_audio) if args.save_audio else None)
    beam = beam_or_exit(args)
    printer = EventPrinter(args.format)
    try:
        stats = run_live(model, cfg, printer, beam=beam)
    except LiveError as e:
        return fail(str(e), 2)
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
        return fail(str(e), 2)
    if not devices:
        return fail("no audio input device found", 2)
    for d in devices:
        mark = "*" if d["default"] else " "
        print(f"{mark} {d['index']:3d}  {d['name']}  ({d['channels']} ch, {d['samplerate']} Hz)")
    return 0


def cmd_serve(args) -> int:
    from stream.server import ServeConfig, serve

    for name in ("max_sessions", "max_frame_bytes", "port"):
        if getattr(args, name) < 1:
            return fail(f"--{name.replace('_', '-')} must be at least 1", 2)
    if args.idle_timeout <= 0:
        return fail("--idle-timeout must be positive", 2)
    model = load_model_or_exit(args.model, args.precision)
    set_threads(1)
    make_beam, beam_errors = None, ()
    if args.decoder == "beam" or args.lm is not None:  # torch and flashlight only then: greedy serves without
        from asr.decode.beam import DEFAULT_BOOST, BeamSearch, HotwordError
        from asr.decode.lm import LmError

        def make_beam(hotwords):
            return BeamSearch(beam_config(args, tuple((w, DEFAULT_BOOST) for w in hotwords)))

        beam_errors = (LmError, HotwordError)
    cfg = ServeConfig(host=args.host, port=args.port, max_sessions=args.max_sessions,
                      max_frame_bytes=args.max_frame_bytes, idle_timeout=args.idle_timeout,
                      stream=_stream_config(args), model_name=args.model or "bundled", precision=args.precision,
                      decoder=args.decoder or "greedy", threads=args.workers,
                      save_audio=Path(args.save_audio) if args.save_audio else None)
    try:
        serve(model, cfg, make_beam)  # builds the first beam search: an unusable LM fails here
    except beam_errors as e:
        return fail(str(e), 2)
    except OSError as e:  # the port is taken, or the address cannot be bound
        return fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}", 2)
    return 0


def streaming_options(q) -> None:
    """The options `asr stream` and `asr live` share."""
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


def add_transcribe(sub) -> None:
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


def add_stream(sub) -> None:
    m = sub.add_parser("stream", help="stream a file through the live recognizer (a simulated microphone)",
                       description="Feed a file chunk by chunk to the streaming recognizer and print partial and "
                                   "final results as they happen.")
    m.add_argument("file", metavar="FILE")
    streaming_options(m)
    m.add_argument("--realtime", action="store_true", help="pace the chunks in real time, like a microphone")
    m.add_argument("--stats", action="store_true",
                   help="print per-chunk compute time p50/p95, real-time factor and peak memory to stderr")
    m.set_defaults(func=cmd_stream)


def add_live(sub) -> None:
    v = sub.add_parser("live", help="live transcription from a microphone",
                       description="Transcribe the microphone live. Ctrl-C (or --duration) stops and prints the "
                                   "last final. Exit status 2 when there is no PortAudio or no input device.")
    v.add_argument("--device", help="input device name (substring) or index; see `asr devices`")
    v.add_argument("--duration", type=float, help="stop after this many seconds of audio")
    v.add_argument("--save-audio", metavar="WAV", help="also save the 16 kHz audio that was recognised")
    streaming_options(v)
    v.set_defaults(func=cmd_live)


def add_devices(sub) -> None:
    d = sub.add_parser("devices", help="list audio input devices")
    d.set_defaults(func=cmd_devices)


def add_serve(sub) -> None:
    sv = sub.add_parser("serve", help="a streaming server: browser microphone page, WebSocket, OpenAI-compatible "
                                      "transcription endpoint",
                        description="Serve the recognizer over HTTP: GET / is a page that transcribes the browser's "
                                    "microphone; WS /ws takes a stream ({\"config\": {\"sample_rate\": N}}, "
                                    "int16 LE PCM frames, {\"eof\": 1}) and sends the events of `asr live "
                                    "--format jsonl`; POST /v1/audio/transcriptions is OpenAI's transcription API "
                                    "(response_format json, text, srt, vtt, verbose_json); GET /health. Loopback "
                                    "only unless --host says otherwise.")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1; 0.0.0.0 serves every machine that can reach "
                         "this one, with a warning: there is no authentication)")
    sv.add_argument("--port", type=int, default=2700, help="default 2700")
    sv.add_argument("--model", help="checkpoint (.pt, float32 or int8) or a TorchScript/ONNX export; default: the "
                                    "bundled model")
    sv.add_argument("--max-sessions", type=int, default=8,
                    help="open WebSocket streams at once; more are refused with HTTP 503 (default 8)")
    sv.add_argument("--max-frame-bytes", type=int, default=1 << 20,
                    help="largest binary frame; a larger one gets an error event and its stream is closed "
                         "(default 1048576, 32 s of 16 kHz int16)")
    sv.add_argument("--idle-timeout", type=float, default=30.0,
                    help="seconds without a frame before a stream is closed (default 30)")
    sv.add_argument("--workers", type=int, default=4, help="recognition threads (default 4)")
    sv.add_argument("--save-audio", metavar="DIR",
                    help="also write each stream's 16 kHz audio, as the recognizer heard it, to DIR (float WAV)")
    sv.add_argument("--trailing-silence", type=float, default=0.8,
                    help="seconds of silence that end an utterance (default 0.8)")
    sv.add_argument("--max-utterance", type=float, default=20.0,
                    help="cut longer utterances at the next word boundary (default 20 s)")
    sv.add_argument("--decoder", choices=["greedy", "beam"],
                    help="each stream's default decoder (default greedy); a stream may ask for another in its "
                         "config frame, beam only when the server has a beam search (this option or --lm)")
    sv.add_argument("--lm", help="ARPA LM for beam search (default with --decoder beam: the bundled 3-gram)")
    search_options(sv)
    precision_option(sv)
    sv.set_defaults(func=cmd_serve)
