"""Training data in memory: log-mel features (float16) and token targets, with skip counts.

Features are computed once per run with the model's own LogMel; audio that fails to decode is
skipped and counted, never fatal.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from asr.audio import AudioError, load_audio
from asr.features import LogMel
from asr.vocab import encode
from data.librispeech import Utterance

__all__ = ["Example", "FeatureSet", "load_features", "feature_stats", "make_batches"]


@dataclass(frozen=True)
class Example:
    id: str
    feats: torch.Tensor  # T x n_mels, float16
    tokens: torch.Tensor  # U, int32
    text: str
    seconds: float


@dataclass
class FeatureSet:
    examples: list[Example]
    skipped: Counter = field(default_factory=Counter)

    @property
    def seconds(self) -> float:
        return sum(e.seconds for e in self.examples)


def load_features(utterances: list[Utterance], stride: int, desc: str = "features") -> FeatureSet:
    """Decode audio, compute log-mel; skip what cannot be used for CTC at this stride."""
    logmel = LogMel()
    out = FeatureSet([])
    with torch.inference_mode():
        for utt in tqdm(utterances, desc=desc, unit="utt", dynamic_ncols=True, mininterval=1.0):
            try:
                wave = load_audio(utt.path)
            except AudioError:
                out.skipped["unreadable audio"] += 1
                continue
            feats = logmel(torch.from_numpy(wave)[None])[0]
            if feats.shape[0] < stride:
                out.skipped["zero-length audio"] += 1
                continue
            tokens = torch.tensor(encode(utt.text), dtype=torch.int32)
            repeats = int((tokens[1:] == tokens[:-1]).sum())
            if len(tokens) + repeats > feats.shape[0] // stride:
                out.skipped["transcript too long for the audio"] += 1
                continue
            out.examples.append(Example(utt.id, feats.half(), tokens, utt.text, len(wave) / 16000))
    return out


def feature_stats(examples: list[Example], max_frames: int = 2_000_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Global per-mel mean and std over (a sample of) the training frames."""
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(examples), generator=g).tolist()
    total, total_sq, n = 0.0, 0.0, 0
    for i in order:
        f = examples[i].feats.double()
        total = total + f.sum(0)
        total_sq = total_sq + (f * f).sum(0)
        n += f.shape[0]
        if n >= max_frames:
            break
    mean = total / n
    std = (total_sq / n - mean * mean).clamp_min(1e-10).sqrt()
    return mean.float(), std.float()


def make_batches(
    examples: list[Example], batch_seconds: float, shuffle: bool, generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Indices grouped by length (so padding is small) into batches of at most `batch_seconds` of
    padded audio. shuffle=False gives shortest first (SortaGrad); otherwise batch order is random."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].feats.shape[0])
    batches, cur, longest = [], [], 0
    for i in order:
        t = examples[i].seconds
        if cur and max(longest, t) * (len(cur) + 1) > batch_seconds:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, t)
    if cur:
        batches.append(cur)
    if shuffle:
        perm = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[p] for p in perm]
    return batches
