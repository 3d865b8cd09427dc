"""Language models: `asr lm build`."""
from __future__ import annotations

import sys
from pathlib import Path

from .common import fail

__all__ = ["add_lm"]


def cmd_lm_build(args) -> int:
    from asr.decode.lm import LmError, build_lm

    try:
        summary = build_lm(Path(args.text), Path(args.out), order=args.order, prune=args.prune,
                           drop_heldout=args.drop_heldout)
    except LmError as e:
        return fail(str(e), 2)
    print(f"{summary['lm']}: {summary['order']}-gram, {summary['words']} words from {summary['sentences']} sentences "
          f"({summary['skipped_sentences']} skipped), {summary['bytes'] / 1e6:.1f} MB", file=sys.stderr)
    return 0


def add_lm(sub) -> None:
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
