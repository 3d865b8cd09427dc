"""The `asr` command: the parser, wired from the command families (asr.cli's docstring lists them).
Each handler builds a config and calls one library function. Errors the user can fix are one line
on stderr, never a traceback."""
from __future__ import annotations

import argparse
import os
import sys

from . import bench, corpora, lm, recognise, training
from .common import fail

__all__ = ["main", "entry", "build_parser"]

EXAMPLES = """examples:
  asr transcribe talk.wav notes.flac            transcribe files with the bundled model
  asr live                                      transcribe the default microphone
  asr stream talk.wav --format jsonl --stats    a file as a simulated microphone
  asr serve                                     browser microphone page, WebSocket and OpenAI-style API on :2700
  asr eval --data corpora/synth --subset synth-dev
  asr synth --text sentences.txt.gz --out corpora/synth --subset synth-train --hours 5
  asr train --data corpora/synth --train synth-train --dev synth-dev --cell gru --out runs/gru
  asr bench --json runs/bench.json              speed and memory side by side with PocketSphinx
  asr export --format onnx --out model.onnx     the streaming step for other runtimes
  asr transcribe talk.wav --decoder beam --format srt     beam search with the bundled LM, subtitles
  asr lm build --text my-sentences.txt --order 3 --prune 1e-6 --out my.arpa.gz
"""



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="asr", description="Streaming RNN-CTC speech recognizer: transcribe, evaluate, synthesise data, train.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (recognise.add_transcribe, recognise.add_stream, recognise.add_live, recognise.add_devices,
                recognise.add_serve,
                training.add_eval, corpora.add_synth, corpora.add_import, corpora.add_join, training.add_train,
                corpora.add_rirs, corpora.add_download, lm.add_lm, bench.add_bench, bench.add_export, training.add_compare):
        add(sub)  # in the order `asr --help` lists them
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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command line as given (asr train --resume tells given options from defaults)
    try:
        return args.func(args)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in OPTIONAL_MODULES:
            raise
        return fail(f"this needs {e.name.split('.')[0]}, which the runtime-only install leaves out "
                     "(it runs transcribe, stream and live in int8): pip install 'asr-rnn-ctc[all]'", 2)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # e.g. `asr transcribe ... | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
