"""How close are the recognizer's word start times to the truth? The truth is espeak-ng's own word
timing (data/word_timing.py) on held-out sentences spoken by held-out espeak-ng voices.

    python -m bench.timestamps --sentences 60 --json runs/timestamps.json

Every sentence is spoken by every held-out English espeak-ng voice (data/voices.py), with the
voice's random rate and pitch (data.voices.draw_params; the corpus's prosody range is left out: the
library has no relative range), 0.1-0.3 s of silence at each end and a random peak level, as in
the synthetic corpus. Three timings are measured against the synthesizer's word onsets:

- greedy, beam: `transcribe_file` (the streaming recognizer) with greedy decoding and with the
  beam search; a hypothesis word counts when a word-level alignment (difflib) pairs it with the
  same reference word (exact matches only);
- forced: forced alignment of the reference transcript on the model's log-probs (asr.decode.align,
  torchaudio.functional.forced_align), word starts read the same way (asr.decode.words), all words.

Words espeak-ng speaks joined to the one before ("in the") have no onset of their own and are
left out. Statistics: fraction of |error| <= 100 ms, median and p90 of |error|, mean and median
signed error (predicted - true: > 0 is late). A constant emission delay (StreamConfig.delay_frames)
is estimated on the even-numbered sentences (their median signed error, to a quarter frame) and
evaluated on the odd-numbered ones, with and without it. The JSON report also has the statistics
per voice variant and the fraction within 100 ms for a range of delays.
"""
from __future__ import annotations

import argparse
import difflib
import gzip
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.decode.align import forced_words
from asr.audio import SAMPLE_RATE
from asr.decode.beam import BeamSearch, DecoderConfig
from asr.checkpoint import DEFAULT_MODEL, load_model, save_model
from stream.transcribe import transcribe_file
from data.synth import sentence_split
from data.voices import available_voices, draw_params
from data.word_timing import espeak_words
from stream.recognizer import StreamConfig

TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "sentences.txt.gz"  # ../shared
TOLERANCE = 0.100  # seconds
METHODS = ("greedy", "beam", "forced")
DELAY_GRID = np.arange(0, 8.01, 0.25)  # frames


def dev_sentences(path: Path, n: int, seed: int) -> list[str]:
    """`n` held-out sentences (data.synth.sentence_split == "dev"), drawn with `seed`."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as f:
        lines = {" ".join(line.upper().split()) for line in f}
    dev = sorted(s for s in lines if re.fullmatch(r"[A-Z']+( [A-Z']+)*", s) and sentence_split(s) == "dev")
    return random.Random(seed).sample(dev, min(n, len(dev)))


def matched_errors(ref: list[tuple[str, float | None]], hyp: list[dict]) -> list[tuple[float, float]]:
    """(true onset, predicted start) of hypothesis words aligned to the same reference word."""
    matcher = difflib.SequenceMatcher(None, [w for w, _ in ref], [h["word"] for h in hyp], autojunk=False)
    pairs = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            onset = ref[block.a + k][1]
            if onset is not None:
                pairs.append((onset, hyp[block.b + k]["start"]))
    return pairs


def stats(pairs: list[tuple[float, float]], delay_s: float = 0.0) -> dict:
    if not pairs:
        return {"words": 0}
    true = np.array([t for t, _ in pairs])
    pred = np.maximum(0.0, np.array([p for _, p in pairs]) - delay_s)  # as asr.decode.words applies a delay
    err = pred - true
    return {"words": len(pairs), "within_100ms": round(float(np.mean(np.abs(err) <= TOLERANCE + 1e-9)), 4),
            "median_abs_ms": round(1000 * float(np.median(np.abs(err))), 1),
            "p90_abs_ms": round(1000 * float(np.percentile(np.abs(err), 90)), 1),
            "mean_signed_ms": round(1000 * float(np.mean(err)), 1),
            "median_signed_ms": round(1000 * float(np.median(err)), 1)}


def best_delay(pairs: list[tuple[float, float]], frame_s: float) -> float:
    """The constant delay (frames, to a quarter frame) that minimises the mean |error|: the median
    signed error. (The fraction within 100 ms is flat over a frame or more around it, so its argmax
    says little.)"""
    return max(0.0, round(4 * float(np.median([p - t for t, p in pairs])) / frame_s) / 4)


def delay_sweep(pairs: list[tuple[float, float]], frame_s: float) -> dict[str, float]:
    """Fraction within the tolerance for each delay of DELAY_GRID (frames)."""
    return {f"{d:g}": stats(pairs, d * frame_s)["within_100ms"] for d in DELAY_GRID}


def utterance(voice, sentence: str, rng: random.Random) -> tuple[np.ndarray, list[tuple[str, float | None]]]:
    """16 kHz audio padded and levelled like the synthetic corpus, and the shifted word onsets."""
    params = draw_params(voice, rng)
    speech = espeak_words(sentence, voice.name, rate=params["rate"], pitch=params["pitch"])
    before, after = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
    loud = np.flatnonzero(np.abs(speech.audio) > 1e-3)
    audio = speech.audio[: loud[-1] + 1 if len(loud) else 0]  # without the sentence pause at the end
    audio = np.pad(audio, (round(before * SAMPLE_RATE), round(after * SAMPLE_RATE)))
    audio = audio * (10 ** (rng.uniform(-12, -1) / 20) / max(1e-6, float(np.abs(audio).max())))
    onsets = [(w, None if t is None else t + round(before * SAMPLE_RATE) / SAMPLE_RATE) for w, t in speech.words]
    return audio.astype(np.float32), onsets


RAW = StreamConfig(delay_frames=0.0)  # raw frame times: the delay is what this script measures


def run(args) -> dict:
    torch.set_num_threads(1)
    model = load_model(args.model or DEFAULT_MODEL)
    frame_s = model.config.frame_seconds
    beam = BeamSearch(DecoderConfig("beam", beam_size=args.beam_size))
    voices = [v for v in available_voices(["espeak"]) if v.heldout]
    if args.voices:
        voices = voices[: args.voices]
    sentences = dev_sentences(Path(args.text), args.sentences, args.seed)
    pairs = {m: {0: [], 1: []} for m in METHODS}  # method -> half -> [(true, predicted)]
    by_variant: dict[str, dict[str, list]] = {m: {} for m in METHODS}  # method -> voice variant -> pairs
    counts = {"words": 0, "words_with_onset": 0, "utterances": 0, "forced_failed": 0,
              "hyp_words": {"greedy": 0, "beam": 0}}
    rng = random.Random(args.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "utt.wav"
        for i, sentence in enumerate(sentences):
            for voice in voices:
                audio, ref = utterance(voice, sentence, rng)
                sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
                audio, _ = sf.read(wav, dtype="float32")  # what the recognizer reads
                counts["utterances"] += 1
                counts["words"] += len(ref)
                counts["words_with_onset"] += sum(t is not None for _, t in ref)
                for name, search in (("greedy", None), ("beam", beam)):
                    hyp = transcribe_file(model, wav, beam=search, config=RAW).words
                    counts["hyp_words"][name] += len(hyp)
                    matched = matched_errors(ref, hyp)
                    pairs[name][i % 2] += matched
                    by_variant[name].setdefault(voice.name.split("+")[1], []).extend(matched)
                try:
                    forced = forced_words(model, audio, sentence)
                except ValueError:  # fewer frames than the transcript needs
                    counts["forced_failed"] += 1
                    continue
                assert [w["word"] for w in forced] == [w for w, _ in ref]
                matched = [(t, w["start"]) for (_, t), w in zip(ref, forced) if t is not None]
                pairs["forced"][i % 2] += matched
                by_variant["forced"].setdefault(voice.name.split("+")[1], []).extend(matched)
            if args.progress:
                print(f"... {i + 1}/{len(sentences)} sentences, {time.time() - t0:.0f} s", file=sys.stderr)
    results = {}
    for m in METHODS:
        both = pairs[m][0] + pairs[m][1]
        d = best_delay(pairs[m][0], frame_s)
        results[m] = {"best_delay_frames_all": best_delay(both, frame_s), "all": stats(both),
                      "matched_fraction": round(len(both) / counts["words_with_onset"], 4),
                      "best_delay_frames": d, "best_delay_ms": round(d * frame_s * 1000, 1),
                      "held_out_half": stats(pairs[m][1]), "held_out_half_with_delay": stats(pairs[m][1], d * frame_s),
                      "all_with_delay": stats(both, d * frame_s),
                      "by_variant": {v: stats(ps) for v, ps in by_variant[m].items()},
                      "by_variant_with_delay": {v: stats(ps, d * frame_s) for v, ps in by_variant[m].items()},
                      "within_100ms_by_delay_frames_even_half": delay_sweep(pairs[m][0], frame_s)}
    return {"sentences": len(sentences), "voices": [v.name for v in voices], "seed": args.seed,
            "frame_seconds": frame_s, "tolerance_s": TOLERANCE, "counts": counts, "results": results,
            "seconds": round(time.time() - t0, 1)}


def table(report: dict) -> str:
    c = report["counts"]
    lines = [f"{report['sentences']} sentences x {len(report['voices'])} voices = {c['utterances']} utterances, "
             f"{c['words']} words ({c['words_with_onset']} with their own espeak-ng onset); "
             f"frames of {report['frame_seconds'] * 1000:.0f} ms",
             f"{'method':8} {'words set':24} {'delay':>9} {'words':>6} {'<=100ms':>8} {'med|e|':>7} "
             f"{'p90|e|':>7} {'mean e':>7} {'med e':>7}"]
    for m, r in report["results"].items():
        d = f"{r['best_delay_frames']:g} fr"
        for label, key, delay in (("all", "all", "0"), ("odd sentences", "held_out_half", "0"),
                                  ("odd sentences", "held_out_half_with_delay", d)):
            s = r[key]
            lines.append(f"{m:8} {label:24} {delay:>9} {s['words']:6d} {100 * s['within_100ms']:7.1f}% "
                         f"{s['median_abs_ms']:7.0f} {s['p90_abs_ms']:7.0f} {s['mean_signed_ms']:7.0f} "
                         f"{s['median_signed_ms']:7.0f}")
    lines.append("errors in ms, predicted - espeak-ng (> 0: late); delay estimated on the even sentences; "
                 "greedy/beam: exactly matched words only")
    return "\n".join(lines)


def measured_delay_meta(meta: dict, delay: float, sentences: int) -> dict:
    """The model's metadata with this measured delay; it replaces any inherited or averaged one and its note."""
    return {**meta, "emission_delay_frames": delay,
            "emission_delay_from": f"measured by bench.timestamps (forced alignment, {sentences} sentences)"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sentences", type=int, default=60, help="held-out sentences (default 60)")
    p.add_argument("--voices", type=int, help="only the first N held-out espeak-ng voices (default: all)")
    p.add_argument("--text", default=str(TEXT), help="sentence file (default: the shared corpus text)")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    p.add_argument("--beam-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--write-delay", metavar="OUT.pt",
                   help="save a copy of the model with the forced-alignment delay (estimated on all sentences) "
                        "in its metadata (emission_delay_frames), which the recognizer then applies by default")
    args = p.parse_args(argv)
    report = run(args)
    print(table(report))
    if args.write_delay:
        model = load_model(args.model or DEFAULT_MODEL)
        delay = report["results"]["forced"]["best_delay_frames_all"]
        save_model(args.write_delay, model, meta=measured_delay_meta(model.meta, delay, args.sentences))
        print(f"{args.write_delay}: emission_delay_frames = {delay}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
