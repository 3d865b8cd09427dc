"""What every command family shares: one-line errors, loading the model to run, the decoding and
precision options."""
from __future__ import annotations

import argparse
import sys

from asr.decode.lm import DEFAULT_BEAM_SIZE, DEFAULT_BEAM_THRESHOLD, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT

__all__ = ["fail", "load_model_or_exit", "set_threads", "beam_config", "beam_or_exit", "decoding_options",
           "search_options", "precision_option", "positive_int"]


def fail(message: str, status: int) -> int:
    print(f"asr: error: {message}", file=sys.stderr)
    return status


def load_model_or_exit(path: str | None, precision: str = "float32"):
    """The model to run (asr.runtime: int8 GRU/LSTM checkpoints without torch); exit 2 if unusable."""
    from asr.config import ModelError
    from asr.runtime import load_for_inference

    try:
        return load_for_inference(path, precision)
    except ModelError as e:
        print(f"asr: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def set_threads(n: int | None) -> None:
    """torch's CPU threads, where torch runs (the int8 runtime, asr.runtime.lite, is single-threaded)."""
    if n and sys.modules.get("torch") is not None:
        import torch

        torch.set_num_threads(n)


def beam_config(args, hotwords: tuple = ()):
    """The DecoderConfig of the beam search that the decoding options (decoding_options) describe."""
    from asr.decode.beam import DecoderConfig

    return DecoderConfig("beam", beam_size=args.beam_size, beam_threshold=args.beam_threshold,
                         lm=args.lm or "default", lm_weight=args.lm_weight, word_score=args.word_score,
                         blank_penalty=args.blank_penalty, hotwords=hotwords)


def beam_or_exit(args):
    """The beam search the decoding options ask for (None: greedy); unusable LM or hot-words exit 2."""
    beam = args.decoder == "beam" or (args.decoder is None and (args.lm is not None or args.hotwords))
    if not beam:
        return None
    from asr.decode.beam import BeamSearch, HotwordError, load_hotwords
    from asr.decode.lm import LmError

    try:
        search = BeamSearch(beam_config(args, load_hotwords(args.hotwords) if args.hotwords else ()))
    except (LmError, HotwordError) as e:
        print(f"asr: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    if search.skipped_words:
        print(f"asr: {search.skipped_words} LM words cannot be spelled with a-z and apostrophe: skipped",
              file=sys.stderr)
    return search



def _number(text: str, convert, noun: str, ok, rule: str):
    """argparse type body: `convert(text)` (else "not NOUN"), refused with "must be RULE" unless `ok(value)`."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    return _number(text, float, "a number", lambda v: 0 < v < float("inf"), "a number above 0")


def positive_int(text: str) -> int:
    """argparse type: a whole number above 0."""
    return _number(text, int, "a whole number", lambda v: v >= 1, "1 or more")


def search_options(g) -> None:
    """The beam search's settings (what beam_config reads besides --lm), on a parser or argument group: shared by
    the decoding options and `asr serve`, so every command has DecoderConfig's defaults."""
    g.add_argument("--beam-size", type=int, default=DEFAULT_BEAM_SIZE,
                   help=f"hypotheses kept per frame (default {DEFAULT_BEAM_SIZE}; wider is slower and a little more "
                        "accurate: 1024 is about 1 WER point better on real speech at 3x the search time)")
    g.add_argument("--beam-threshold", type=_positive_float, default=DEFAULT_BEAM_THRESHOLD, metavar="LOGP",
                   help=f"drop hypotheses more than this (natural log) below their frame's best, whatever the "
                        f"beam width (default {DEFAULT_BEAM_THRESHOLD:g}; lower is faster but loses words that the LM "
                        "favours only once they are spelled out)")
    g.add_argument("--lm-weight", type=float, default=DEFAULT_LM_WEIGHT,
                   help=f"LM weight (default {DEFAULT_LM_WEIGHT:g})")
    g.add_argument("--word-score", type=float, default=0.0, help="score added per word (default 0)")
    g.add_argument("--blank-penalty", type=float, default=DEFAULT_BLANK_PENALTY,
                   help=f"subtracted from the blank's log-probability before the search (default "
                        f"{DEFAULT_BLANK_PENALTY:g}; 0: the model's own; higher: more letters, fewer dropped "
                        "sounds)")


def decoding_options(q) -> None:
    g = q.add_argument_group("decoding", "greedy by default; --lm or --hotwords switch to beam search")
    g.add_argument("--decoder", choices=["greedy", "beam"],
                   help="greedy: best character per frame (fastest); beam: beam search with a word LM")
    g.add_argument("--lm", metavar="PATH|default|none",
                   help="ARPA word n-gram LM (plain or .gz; `asr lm build` makes one); default: the bundled 3-gram "
                        "(asr/assets/lm); none: lexicon-free beam search over characters")
    search_options(g)
    g.add_argument("--hotwords", metavar="FILE",
                   help="words or phrases to favour, one per line, optionally followed by a boost (default 4.0)")


def precision_option(q) -> None:
    from asr.runtime import PRECISIONS

    q.add_argument("--precision", choices=PRECISIONS, default="int8",
                   help="int8 (default): a GRU/LSTM checkpoint runs quantized (one scale per weight row) in the "
                        "compiled int8 runtime without torch: 2-3.5x faster streaming, ~180 MB instead of ~570 MB, "
                        "dev WER within 0.2 of float32; float32: the checkpoint's own weights through torch. "
                        "Exported models (TorchScript, ONNX) run as exported")


