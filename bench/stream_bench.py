"""Streaming endurance and speed benchmark.

Streams N minutes of speech (utterances of a LibriSpeech-layout subset, cycled, with 1 s of silence
between them, generated lazily so the audio itself does not grow memory) through ONE recognizer on
one thread and reports, per chunk size: real-time factor, per-chunk compute p50/p95; and for the
long run: peak RSS, RSS growth, and the per-chunk time of the first vs the last 5 minutes (drift).

    python bench/stream_bench.py --data corpora/synth --subset synth-dev --minutes 60 --json runs/stream_bench.json
    python bench/stream_bench.py --data corpora/synth --subset synth-dev --decoder beam --minutes 10 --speed-minutes 2
    python bench/stream_bench.py --data corpora/synth --subset synth-dev --precision float32   # torch, float32

With --decoder beam the finals and partials come from the beam search with the bundled LM (asr.decode.beam).
"""
from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.cli.common import beam_config, search_options
from asr.runtime import PRECISIONS, load_for_inference
from data.librispeech import read_subset
from stream import Recognizer


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def speech_chunks(waves: list[np.ndarray], chunk: int, seconds: float):
    """Chunks of `chunk` samples from the utterances cycled (1 s silence between), `seconds` in all."""
    silence = np.zeros(SAMPLE_RATE, np.float32)
    total, buf = int(seconds * SAMPLE_RATE), np.zeros(0, np.float32)
    sent = 0
    for w in itertools.cycle(waves):
        buf = np.concatenate([buf, w, silence])
        while len(buf) >= chunk:
            if sent >= total:
                return
            yield buf[:chunk]
            buf = buf[chunk:]
            sent += chunk


def run(model, waves, chunk_ms: int, seconds: float, beam=None) -> dict:
    rec = Recognizer(model, beam=beam)
    chunk = SAMPLE_RATE * chunk_ms // 1000
    times, rss, finals = [], [], 0
    rss0 = rss_mb()
    for i, pcm in enumerate(speech_chunks(waves, chunk, seconds)):
        t0 = time.perf_counter()
        events = rec.feed_audio(pcm)
        times.append(time.perf_counter() - t0)
        finals += sum(e["type"] == "final" for e in events)
        if i % max(1, 10_000 // chunk_ms) == 0:
            rss.append(rss_mb())
    rec.finish()
    ms = np.array(times) * 1000
    per5 = int(300_000 / chunk_ms)  # chunks in 5 minutes
    out = {
        "chunk_ms": chunk_ms, "audio_seconds": len(times) * chunk_ms / 1000,
        "rtf": float(np.sum(times)) / (len(times) * chunk_ms / 1000),
        "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "finals": finals,
        "rss_start_mb": rss0, "rss_end_mb": rss[-1], "rss_growth_mb": rss[-1] - rss[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if len(times) >= 2 * per5:
        out["first5_mean_ms"] = float(ms[:per5].mean())
        out["last5_mean_ms"] = float(ms[-per5:].mean())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model", help="default: the bundled model")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the endurance run (100 ms chunks)")
    p.add_argument("--speed-minutes", type=float, default=5.0, help="audio per chunk size for the RTF table")
    p.add_argument("--chunks", default="20,40,100,200")
    p.add_argument("--decoder", choices=["greedy", "beam"], default="greedy")
    search_options(p)  # --beam-size, --beam-threshold, --lm-weight, ...: the decoding commands' defaults
    p.add_argument("--lm", default="default", help="LM for --decoder beam (default: the bundled one)")
    p.add_argument("--precision", choices=PRECISIONS, default="int8",
                   help="as asr stream (default int8: the runtime without torch, so the RSS figures have no torch)")
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args()
    beam = None
    if args.decoder == "beam":  # torch and torchaudio's decoder
        from asr.decode.beam import BeamSearch

        beam = BeamSearch(beam_config(args))
    model = load_for_inference(args.model, args.precision)
    if sys.modules.get("torch") is not None:
        import torch

        torch.set_num_threads(1)
    utts, _ = read_subset(args.data, args.subset)
    waves = [load_audio(u.path) for u in utts[:200]]
    results = {"model": args.model or "bundled", "precision": args.precision, "threads": 1, "speed": [],
               "endurance": None, "decoder": args.decoder, "beam_size": beam.cfg.beam_size if beam else None,
               "lm": args.lm if beam else None}
    for c in [int(x) for x in args.chunks.split(",")]:
        r = run(model, waves, c, args.speed_minutes * 60, beam)
        results["speed"].append(r)
        print(f"chunk {c:4d} ms: RTF {r['rtf']:.4f}  p50 {r['p50_ms']:.2f} ms  p95 {r['p95_ms']:.2f} ms", flush=True)
    r = run(model, waves, 100, args.minutes * 60, beam)
    results["endurance"] = r
    print(f"endurance {r['audio_seconds'] / 60:.0f} min at 100 ms: RTF {r['rtf']:.4f}, p50 {r['p50_ms']:.2f} ms, "
          f"p95 {r['p95_ms']:.2f} ms, {r['finals']} finals, peak RSS {r['peak_rss_mb']:.0f} MB, "
          f"RSS growth {r['rss_growth_mb']:+.1f} MB, mean chunk time first 5 min {r.get('first5_mean_ms', 0):.2f} ms "
          f"vs last 5 min {r.get('last5_mean_ms', 0):.2f} ms")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
