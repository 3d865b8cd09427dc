"""Training data loaded on the fly: decode the audio, augment the waveform, log-mel, check for CTC.

A `SpeechDataset` item is read from disk when asked for (in DataLoader workers), so memory does
not grow with the corpus. An utterance that cannot be used (unreadable or truncated audio,
zero-length audio, a transcript longer than the CTC alignment allows) comes back as its skip
reason; `collate` drops it and counts the reason in the batch, so a bad file hours into a run
is a count in the epoch summary, never a crash. For a small corpus without waveform
augmentation, `cache_features=True` keeps the log-mel (float16) in memory after the first epoch.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from asr.audio import FRAMES_PER_SECOND, AudioError, load_audio
from asr.features import LogMel
from asr.vocab import encode
from data.librispeech import Utterance

from .augment import WaveAugment

__all__ = ["SKIP_REASONS", "Example", "Batch", "SpeechDataset", "collate", "ctc_frames_needed", "feature_stats",
           "fill_cache"]

SKIP_REASONS = ("unreadable audio", "zero-length audio", "transcript too long for the audio")


def ctc_frames_needed(tokens: list[int]) -> int:
    """Output frames CTC needs for this label sequence: one per label, plus a blank between repeats."""
    return len(tokens) + sum(a == b for a, b in zip(tokens, tokens[1:]))


@dataclass(frozen=True)
class Example:
    id: str
    feats: torch.Tensor  # T x n_mels, float32
    tokens: torch.Tensor  # U, int32
    text: str
    seconds: float  # of the (augmented) audio
    subset: str = ""


@dataclass
class Batch:
    feats: torch.Tensor  # B x T x n_mels
    feat_lens: torch.Tensor  # B
    targets: torch.Tensor  # sum(U), int32
    target_lens: torch.Tensor  # B
    ids: list[str]
    texts: list[str]
    seconds: float
    global_size: int  # utterances in the whole step's batch, over all processes (loss normaliser)
    skipped: Counter = field(default_factory=Counter)
    subsets: list[str] = field(default_factory=list)  # each utterance's training subset

    def __len__(self) -> int:
        return len(self.ids)


class SpeechDataset(Dataset):
    """Index with an int, or with (index, seed, global_batch_size, speed) from BucketBatchSampler."""

    def __init__(self, utterances: list[Utterance], stride: int, augment: WaveAugment | None = None,
                 cache_features: bool = False, cache: dict[str, torch.Tensor] | None = None) -> None:
        """cache: a feature cache (audio path -> float16 log-mel) to share with other datasets and runs."""
        self.utterances = utterances
        self.stride = stride
        self.augment = augment if augment is not None and augment.active else None
        use_cache = cache_features and self.augment is None
        self.cache: dict[str, torch.Tensor] | None = (cache if cache is not None else {}) if use_cache else None
        self.logmel = LogMel()

    def __len__(self) -> int:
        return len(self.utterances)

    def features(self, idx: int, seed: int = 0, speed: float = 1.0) -> torch.Tensor | str:
        """Log-mel T x n_mels of utterance `idx` (augmented with `seed` at `speed`), or why it is unusable."""
        key = str(self.utterances[idx].path)
        if self.cache is not None and key in self.cache:
            return self.cache[key].float()
        try:
            wave = torch.from_numpy(load_audio(self.utterances[idx].path))
        except AudioError:
            return "unreadable audio"
        if self.augment is not None:
            wave = self.augment(wave, torch.Generator().manual_seed(seed), speed, self.utterances[idx].path)
        with torch.inference_mode():
            feats = self.logmel(wave[None])[0].clone()
        if self.cache is not None:  # every epoch (the first too) sees the same float16-rounded features
            self.cache[key] = feats.half()
            return self.cache[key].float()
        return feats

    def __getitem__(self, key) -> tuple[Example | str, int]:
        idx, seed, global_size, speed = key if isinstance(key, tuple) else (key, 0, 1, 1.0)
        utt = self.utterances[idx]
        feats = self.features(idx, seed, speed)
        if isinstance(feats, str):
            return feats, global_size
        if feats.shape[0] < self.stride:
            return "zero-length audio", global_size
        tokens = encode(utt.text)
        if ctc_frames_needed(tokens) > feats.shape[0] // self.stride:
            return "transcript too long for the audio", global_size
        seconds = feats.shape[0] / FRAMES_PER_SECOND
        ex = Example(utt.id, feats, torch.tensor(tokens, dtype=torch.int32), utt.text, seconds, utt.subset)
        return ex, global_size


def collate(items: list[tuple[Example | str, int]]) -> Batch:
    """Pad the usable examples into a batch; count the skip reasons of the others."""
    examples = [ex for ex, _ in items if not isinstance(ex, str)]
    skipped = Counter(ex for ex, _ in items if isinstance(ex, str))
    global_size = items[0][1] if items else 0
    n_mels = examples[0].feats.shape[1] if examples else 0
    return Batch(
        feats=pad_sequence([e.feats for e in examples], batch_first=True) if examples else torch.zeros(0, 0, n_mels),
        feat_lens=torch.tensor([e.feats.shape[0] for e in examples], dtype=torch.long),
        targets=torch.cat([e.tokens for e in examples]) if examples else torch.zeros(0, dtype=torch.int32),
        target_lens=torch.tensor([len(e.tokens) for e in examples], dtype=torch.long),
        ids=[e.id for e in examples], texts=[e.text for e in examples],
        seconds=sum(e.seconds for e in examples), global_size=global_size, skipped=skipped,
        subsets=[e.subset for e in examples],
    )


def _identity(item):
    return item


def fill_cache(dataset: SpeechDataset, workers: int = 0) -> int:
    """Compute (in `workers` processes) the features of every utterance not yet in the dataset's cache;
    returns how many were added. Runs that share the cache then start with all features in memory."""
    if dataset.cache is None:
        return 0
    todo = [i for i, u in enumerate(dataset.utterances) if str(u.path) not in dataset.cache]
    loader = DataLoader(dataset, batch_size=None, sampler=todo, num_workers=workers, collate_fn=_identity)
    added = 0
    for i, (ex, _) in zip(todo, loader):
        if not isinstance(ex, str):  # exact: the features a worker returns were already rounded to float16
            dataset.cache[str(dataset.utterances[i].path)] = ex.feats.half()
            added += 1
    return added


def feature_stats(dataset: SpeechDataset, max_utterances: int = 2000, workers: int = 0,
                  seed: int = 0, floor: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Global per-mel mean and std over a random sample of training utterances (no augmentation), of the
    features as the model sees them: clamped at its `floor` (ModelConfig.feature_floor) when it has one."""
    g = torch.Generator().manual_seed(seed)
    sample = torch.randperm(len(dataset), generator=g)[:max_utterances].tolist()
    augment, dataset.augment = dataset.augment, None
    try:
        loader = DataLoader(dataset, batch_size=None, sampler=sample, num_workers=workers,
                            collate_fn=_identity)
        total, total_sq, n = 0.0, 0.0, 0
        for ex, _ in loader:
            if isinstance(ex, str):
                continue
            f = ex.feats.double() if floor is None else ex.feats.double().clamp_min(floor)
            total = total + f.sum(0)
            total_sq = total_sq + (f * f).sum(0)
            n += f.shape[0]
    finally:
        dataset.augment = augment
    if n == 0:
        raise ValueError("no readable training audio to compute feature statistics from")
    mean = total / n
    std = (total_sq / n - mean * mean).clamp_min(1e-10).sqrt()
    return mean.float(), std.float()
