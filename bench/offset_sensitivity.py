"""How much the transcript of the same speech moves with where the stream starts and with the level: every clip
of a subset with 0-2000 ms of leading silence and with gains of -6..+6 dB, through `asr transcribe`'s path.

A microphone stream starts at an arbitrary point before the speech, so the 10 ms feature frames (and the model's
30 ms frames) fall at another phase of the waveform than in the file; this measures what that alone does.
WER against the references, and against the transcript of the unchanged file (how many words change).

    python bench/offset_sensitivity.py --data corpora/all --subset librivox [--model M] [--json J]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.runtime import encode, initial_encoder_state, load_for_inference
from asr.decode.greedy import greedy_decode
from data.librispeech import read_subset
from train.evaluate import error_rates

OFFSETS_MS = (0, 1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100, 250, 500, 1000, 2000)
GAINS_DB = (-6, -3, 0, 3, 6)


def _text(model, x: np.ndarray) -> str:
    """Greedy text of one utterance through the streaming step (as `asr transcribe`, without endpointing)."""
    import torch

    _, lp = encode(model, initial_encoder_state(model), x, final=True)
    lp = torch.as_tensor(np.asarray(lp))[None]
    return " ".join(greedy_decode(lp, torch.tensor([lp.shape[1]]))[0].split())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model")
    p.add_argument("--precision", default="int8")
    p.add_argument("--json")
    args = p.parse_args()
    model = load_for_inference(args.model, args.precision)
    utts, _ = read_subset(args.data, args.subset)
    refs = [u.text for u in utts]
    audio = [load_audio(u.path) for u in utts]
    base = [_text(model, x) for x in audio]
    rows = []
    for kind, values in (("offset_ms", OFFSETS_MS), ("gain_db", GAINS_DB)):
        for v in values:
            if kind == "offset_ms":
                hyps = [_text(model, np.concatenate([np.zeros(round(v * SAMPLE_RATE / 1000), np.float32), x]))
                        for x in audio]
            else:
                hyps = [_text(model, np.clip(x * 10 ** (v / 20), -1, 1).astype(np.float32)) for x in audio]
            wer, cer = error_rates(refs, hyps)
            moved = error_rates(base, hyps)[0]
            rows.append({kind: v, "wer": round(wer, 2), "cer": round(cer, 2), "wer_vs_unchanged": round(moved, 2)})
            print(f"{kind} {v:>5}: WER {wer:6.2f}  CER {cer:6.2f}  words changed against the unchanged file "
                  f"{moved:6.2f}%")
    offsets = [r["wer"] for r in rows if "offset_ms" in r]
    print(f"{args.subset}, {len(utts)} utterances: WER over the start offsets {min(offsets):.2f}-{max(offsets):.2f} "
          f"(mean {np.mean(offsets):.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"subset": args.subset, "model": args.model or "bundled",
                                               "precision": args.precision, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
