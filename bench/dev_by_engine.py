"""WER/CER of several models on a synthetic dev subset, overall and per synthesizer.

`asr synth` gives every voice its own speaker id whose first digit names the engine (1 espeak-ng,
2 flite, 3 piper), so one decoding pass of the subset gives the per-engine rows too. Greedy by
default; --decoder beam adds beam search with the bundled language model.

    python bench/dev_by_engine.py --data corpora/synth --subset synth-dev \
        --model asr/assets/default.pt --model runs/x/best.pt [--decoder beam] [--json runs/dev_by_engine.json]
"""
from __future__ import annotations

import argparse
import json

import torch

from asr.decode.beam import BeamSearch, DecoderConfig
from asr.checkpoint import load_model
from data.librispeech import read_subset
from train.evaluate import error_rates, evaluate

ENGINES = {"1": "espeak-ng", "2": "flite", "3": "piper", "4": "rhvoice", "5": "pico"}


def by_engine(hypotheses) -> dict[str, dict]:
    """(id, reference, hypothesis) triples -> {engine: {wer, cer, utterances}}."""
    groups: dict[str, list] = {}
    for utt_id, ref, hyp in hypotheses:
        groups.setdefault(ENGINES.get(utt_id[:1], "other"), []).append((ref, hyp))
    out = {}
    for engine, pairs in sorted(groups.items()):
        wer, cer = error_rates([r for r, _ in pairs], [h for _, h in pairs])
        out[engine] = {"wer": round(wer, 2), "cer": round(cer, 2), "utterances": len(pairs)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model", action="append", required=True)
    p.add_argument("--decoder", choices=["greedy", "beam"], default="greedy")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    utterances, _ = read_subset(args.data, args.subset)
    beam = BeamSearch(DecoderConfig(decoder="beam")) if args.decoder == "beam" else None
    results = []
    for path in args.model:
        r = evaluate(load_model(path), utterances, progress=False, beam=beam)
        row = {"model": path, "decoder": args.decoder, **r.as_dict(), "engines": by_engine(r.hypotheses)}
        results.append(row)
        engines = "  ".join(f"{e} {v['wer']:.2f}/{v['cer']:.2f}" for e, v in row["engines"].items())
        print(f"{path} ({args.decoder}): WER {r.wer:.2f} CER {r.cer:.2f} ({r.utterances} utts)  by engine "
              f"WER/CER: {engines}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
