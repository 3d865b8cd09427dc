"""Probe: does averaging the posteriors of mel-warped views of each clip help (test-time augmentation)?
With --axis time: is the model short of frames (or of speed) on a set, i.e. does slowing its clips down help?

    python -m bench.warp_views --data corpora/all --subsets lj002,so762-dev --factors 0.92,1,1.08
    python -m bench.warp_views --data corpora/all --subsets lj002,so762-dev --axis time --factors 0.9,1,1.1,1.2

Each view stretches the clip's mel axis by a fixed factor, as `asr train --freq-warp` does at random in
training (train.augment.warp_mels); the model runs each view, float32, and every combination of two or
more views is decoded greedily from the mean of its per-frame log-probabilities ("log") and from the log
of the mean of its probabilities ("prob"). A gain would buy accuracy with two or three times the
computation; docs/default-model.md ("Not kept ... stronger SpecAugment (run U)") has the result (none).

--axis time resamples each clip's features in time by the factor instead (train.augment.stretch_time, as
`asr train --time-stretch` does at random in training; a factor above 1 slows the clip down and gives the model more
output frames per character). Those views differ in length, so each is decoded alone. docs/default-model.md
("A high learning rate (run V)") has the result.
"""
from __future__ import annotations

import itertools
import math

import torch
from torch.nn.utils.rnn import pad_sequence

from asr.audio import load_audio
from asr.decode.greedy import greedy_decode
from asr.features import feature_lengths
from bench.probe import probe_setup
from data.librispeech import read_subset
from train.augment import stretch_time, warp_mels
from train.evaluate import error_rates


def combine(views: list[torch.Tensor], how: str) -> torch.Tensor:
    stacked = torch.stack(views)
    return stacked.mean(0) if how == "log" else torch.logsumexp(stacked, 0) - math.log(len(views))


def greedy(log_probs: list[torch.Tensor]) -> list[str]:
    return greedy_decode(pad_sequence(log_probs, batch_first=True), torch.tensor([len(x) for x in log_probs]))


def main(argv: list[str] | None = None) -> None:
    def axis(p):
        p.add_argument("--axis", choices=("mel", "time"), default="mel",
                       help="warp the mel axis (default) or stretch the time axis")

    args, model, factors = probe_setup(__doc__, "--factors", "0.92,1,1.08", "comma-separated factors", argv, axis)
    with torch.inference_mode():
        for sub in args.subsets.split(","):
            utts, _ = read_subset(args.data, sub, progress=False)
            refs = [u.text for u in utts]
            views = {a: [] for a in factors}  # factor -> per-clip T x V log-probs
            for u in utts:
                wave = torch.from_numpy(load_audio(u.path))[None]
                n_feats = int(feature_lengths(torch.tensor([wave.shape[1]]))[0])
                feats = model.logmel(wave)[:, :n_feats]
                for a in factors:  # factor 1 leaves the features exactly as they are on either axis
                    view = warp_mels(feats, torch.tensor([[a]])) if args.axis == "mel" else stretch_time(feats, a)
                    lp, n, _ = model(view, torch.tensor([view.shape[1]]), return_state=False)
                    views[a].append(lp[0, : int(n[0])])
            for a in factors:
                print(f"{sub}  view {a:g}  WER %.2f  CER %.2f" % error_rates(refs, greedy(views[a])), flush=True)
            for r in range(2, len(factors) + 1 if args.axis == "mel" else 2):
                for combo in itertools.combinations(factors, r):
                    for how in ("log", "prob"):
                        hyps = greedy([combine([views[a][i] for a in combo], how) for i in range(len(utts))])
                        name = "+".join(f"{a:g}" for a in combo)
                        print(f"{sub}  {how} mean of {name}  WER %.2f  CER %.2f" % error_rates(refs, hyps), flush=True)


if __name__ == "__main__":
    main()
