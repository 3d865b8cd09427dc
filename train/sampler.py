"""Batches by total audio duration, bucketed by length, for one process or many.

Every process builds the same global batches for an epoch (from the seed and the epoch number):
utterances sorted by duration (with a little per-epoch jitter after epoch 1, so batches mix),
cut into batches of at most `batch_seconds` of padded audio, shortest first in epoch 1
(SortaGrad) and shuffled otherwise. Process `rank` of `world_size` takes every world_size-th
utterance of each global batch, so the processes see disjoint data and one optimiser step
covers the same utterances as a single process with the same --batch-seconds.

Each item is (index, seed, global_batch_size, speed): the seed drives the augmentation of that
utterance, so a resumed run (which skips the first `start` batches) sees the same audio. With
speed perturbation, each utterance's speed is drawn per epoch before batching and the batches
are built from the perturbed durations, so one batch holds utterances of similar perturbed
length (little padding) and --batch-seconds stays exact.
"""
from __future__ import annotations

import torch
from torch.utils.data import Sampler

__all__ = ["BucketBatchSampler", "global_batches"]


def global_batches(durations: list[float], batch_seconds: float, epoch: int, seed: int,
                   sortagrad: bool = True) -> list[list[int]]:
    """Index lists with max(duration) * len <= batch_seconds (or a single utterance)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    d = torch.tensor(durations, dtype=torch.float64)
    first = sortagrad and epoch == 1
    key = d if first else d * (1 + 0.1 * (torch.rand(len(d), generator=g, dtype=torch.float64) - 0.5))
    order = torch.argsort(key, stable=True).tolist()
    batches, cur, longest = [], [], 0.0
    for i in order:
        t = durations[i]
        if cur and max(longest, t) * (len(cur) + 1) > batch_seconds:
            batches.append(cur)
            cur, longest = [], 0.0
        cur.append(i)
        longest = max(longest, t)
    if cur:
        batches.append(cur)
    if not first:
        perm = torch.randperm(len(batches), generator=g).tolist()
        batches = [batches[p] for p in perm]
    return batches


class BucketBatchSampler(Sampler):
    def __init__(self, durations: list[float], batch_seconds: float, seed: int = 0, sortagrad: bool = True,
                 rank: int = 0, world_size: int = 1, speeds: tuple[float, ...] = (1.0,)) -> None:
        self.durations, self.batch_seconds, self.seed, self.sortagrad = list(durations), batch_seconds, seed, sortagrad
        self.rank, self.world_size, self.speeds = rank, world_size, tuple(speeds)
        self.set_epoch(1)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Epochs count from 1; `start` batches of the epoch are skipped (resuming mid-epoch)."""
        self.epoch, self.start = epoch, start
        g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        self._seeds = torch.randint(2**31 - 1, (len(self.durations),), generator=g).tolist()
        self._speeds = [1.0] * len(self.durations)
        if self.speeds != (1.0,):
            pick = torch.randint(len(self.speeds), (len(self.durations),), generator=g).tolist()
            self._speeds = [self.speeds[p] for p in pick]
        durations = [d / s for d, s in zip(self.durations, self._speeds)]
        self._batches = global_batches(durations, self.batch_seconds, epoch, self.seed, self.sortagrad)

    def __len__(self) -> int:
        return max(0, len(self._batches) - self.start)

    def __iter__(self):
        for batch in self._batches[self.start:]:
            yield [(i, self._seeds[i], len(batch), self._speeds[i]) for i in batch[self.rank::self.world_size]]
