"""Where the quietest log-mel values of each subset lie: digital silence, and the real noise floor.

    python -m bench.feature_floor --data corpora/all --subsets so762,commands,synth-mix2,lj002,so762-dev

For a seeded sample of each subset's utterances: the share of exactly-zero samples, the share of
frames with every mel bin at the front end's floor (asr.audio.LOG_FLOOR: digital silence), and
quantiles of all log-mel values. Synthetic speech has digital silence between and around its words; the real
recordings have none. docs/default-model.md ("Digital silence and joined words") has the figures.
"""
from __future__ import annotations

import argparse
import math
import random

import torch

from asr.audio import LOG_FLOOR, load_audio
from asr.features import LogMel
from data.librispeech import read_subset

QUANTILES = (0.001, 0.01, 0.05, 0.1, 0.5)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="corpus root")
    p.add_argument("--subsets", required=True, help="comma-separated subsets")
    p.add_argument("--utterances", type=int, default=60, help="sampled per subset (default 60)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    logmel, floor = LogMel(), math.log(LOG_FLOOR)
    print("| subset | zero samples | frames wholly at the floor | log-mel quantiles "
          + "/".join(f"{q:g}" for q in QUANTILES) + " |\n|---|---|---|---|")
    for sub in args.subsets.split(","):
        utts, _ = read_subset(args.data, sub, progress=False)
        random.Random(args.seed).shuffle(utts)
        zeros = total = 0
        frames = []
        for u in utts[: args.utterances]:
            wave = torch.from_numpy(load_audio(u.path))
            zeros, total = zeros + int((wave == 0).sum()), total + len(wave)
            frames.append(logmel(wave[None])[0])
        f = torch.cat(frames)
        q = torch.quantile(f.flatten()[::7], torch.tensor(QUANTILES))  # a thinned sample: quantile's size limit
        at_floor = (f <= floor + 1e-3).all(1).float().mean()
        print(f"| {sub} | {100 * zeros / total:.1f} % | {100 * at_floor:.1f} % | "
              + " / ".join(f"{x:.1f}" for x in q.tolist()) + " |")


if __name__ == "__main__":
    main()
