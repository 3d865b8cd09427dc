"""Real human speech, ours against PocketSphinx in the same run: WER/CER on a LibriSpeech-layout
subset (e.g. the LibriVox clips of Debian's pocketsphinx-testdata) for our model with greedy and
beam + LM decoding and for PocketSphinx with its bundled en-us model (whole-utterance decoding).

    python -m data.pocketsphinx_clips --out corpora/real
    python bench/real_speech.py --data corpora/real --subset librivox [--model M ...] [--json runs/real_speech.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, load_audio
from asr.beam import BeamSearch, DecoderConfig
from asr.checkpoint import load_model
from asr.transcribe import transcribe_file
from data.librispeech import read_subset
from train.evaluate import error_rates


def pocketsphinx_text(decoder, audio: np.ndarray) -> str:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return " ".join((hyp.hypstr if hyp else "").lower().split())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model", action="append", help="checkpoint(s) (default: the bundled model)")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    utts, _ = read_subset(args.data, args.subset)
    refs = [u.text for u in utts]
    seconds = sum(u.duration for u in utts)
    rows = []
    beam = BeamSearch(DecoderConfig("beam"))
    for m in args.model or [None]:
        model = load_model(m)
        for name, search in (("greedy", None), ("beam+LM", beam)):
            t0 = time.perf_counter()
            hyps = [transcribe_file(model, u.path, beam=search).text for u in utts]
            wer, cer = error_rates(refs, hyps)
            rows.append({"system": f"asr {m or 'bundled'} {name}", "wer": wer, "cer": cer,
                         "rtf": (time.perf_counter() - t0) / seconds, "hyps": hyps})
    import pocketsphinx

    decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    t0 = time.perf_counter()
    hyps = [pocketsphinx_text(decoder, load_audio(u.path)) for u in utts]
    wer, cer = error_rates(refs, hyps)
    rows.append({"system": "pocketsphinx en-us (bundled model)", "wer": wer, "cer": cer,
                 "rtf": (time.perf_counter() - t0) / seconds, "hyps": hyps})
    print(f"{args.subset}: {len(utts)} utterances, {seconds:.1f} s of audio, one thread")
    for r in rows:
        print(f"{r['system']:60s} WER {r['wer']:6.2f}  CER {r['cer']:6.2f}  RTF {r['rtf']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"subset": args.subset, "refs": refs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
