"""Training throughput in audio seconds per second, through the real training loop.

Takes about --minutes of audio (whole chapters) of a LibriSpeech-layout training subset and a few
dev utterances, links them into a scratch corpus, and trains a model (--cell, --hidden, --layers;
default ModelConfig's) for two epochs per mode; the figure is epoch 2's (so the in-memory feature
cache is warm), measured by the loop over its training steps only (no evaluation, no start-up).

    python bench/train_throughput.py --data corpora/synth --train synth-train --dev synth-dev \\
        --minutes 10 --modes memory,fly,fly-w1,speed-w1 --threads 2 --json runs/train_throughput.json

Modes: memory (log-mel cached in memory), fly (decode + log-mel in the training process), fly-wN
(N DataLoader workers), speed-wN (speed perturbation 0.9/1.0/1.1, N workers). On CUDA add
--device cuda; --amp picks the mixed precision.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from asr.config import CELL_NAMES
from asr.model import ModelConfig
from data.librispeech import read_subset, subset_dir
from train.config import TrainConfig
from train.loop import train


def link_chapters(src: Path, dst: Path, seconds: float) -> None:
    """Symlink whole chapters of subset folder `src` into `dst` until about `seconds` of audio."""
    utts, _ = read_subset(src.parent.parent if src.parent.name == "LibriSpeech" else src.parent, src.name)
    per_chapter: dict[tuple[str, str], float] = {}
    for u in utts:
        key = (u.path.parent.parent.name, u.path.parent.name)
        per_chapter[key] = per_chapter.get(key, 0.0) + u.duration
    total = 0.0
    for (spk, chapter), secs in sorted(per_chapter.items()):
        (dst / spk).mkdir(parents=True, exist_ok=True)
        os.symlink((src / spk / chapter).resolve(), dst / spk / chapter)
        total += secs
        if total >= seconds:
            break


def mode_config(mode: str) -> dict:
    workers = int(mode.split("-w")[1]) if "-w" in mode else 0
    if mode == "memory":
        return {"cache_features": True}
    if mode.startswith("fly"):
        return {"workers": workers, "cache_features": False}
    if mode.startswith("speed"):
        return {"workers": workers, "speed_perturb": True}
    raise SystemExit(f"unknown mode {mode!r}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--minutes", type=float, default=10.0, help="training audio per epoch")
    p.add_argument("--modes", default="memory,fly,fly-w1,speed-w1")
    p.add_argument("--batch-seconds", type=float, default=200.0)
    p.add_argument("--cell", default=ModelConfig.cell, choices=CELL_NAMES)
    p.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    p.add_argument("--layers", type=int, default=ModelConfig.layers)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", default="auto")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "LibriSpeech"
        link_chapters(subset_dir(args.data, args.train), corpus / "bench-train", 60 * args.minutes)
        link_chapters(subset_dir(args.data, args.dev), corpus / "bench-dev", 20.0)
        for mode in args.modes.split(","):
            out = Path(tmp) / f"run-{mode}"
            cfg = TrainConfig(data=Path(tmp), train_subsets=("bench-train",), dev_subset="bench-dev", out=out,
                              model=ModelConfig(cell=args.cell, hidden=args.hidden, layers=args.layers), epochs=2,
                              batch_seconds=args.batch_seconds, threads=args.threads,
                              device=args.device, amp=args.amp, stats_utterances=200, checkpoint_every=10**9,
                              **mode_config(mode))
            start = time.time()
            result = train(cfg)
            with (out / "log.csv").open() as fh:
                rate = float(list(csv.DictReader(fh))[-1]["audio_s_per_s"])
            results.append({"mode": mode, "audio_s_per_s": rate, "train_hours": round(result.train_hours, 3),
                            "wall_s": round(time.time() - start, 1), "threads": args.threads,
                            "device": args.device, "parameters": result.parameters,
                            "model": f"{args.cell} {args.layers}x{args.hidden}"})
            print(json.dumps(results[-1]), flush=True)
    print(f"{'mode':10s} {'audio s/s':>10s}")
    for r in results:
        print(f"{r['mode']:10s} {r['audio_s_per_s']:10.1f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
