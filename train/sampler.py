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

A weighted mixture (`groups`, `weights`: each utterance's subset and each subset's weight) sets each
subset's share of an epoch's audio: the subset with the most audio per unit of weight is taken once,
and every other one is repeated (whole copies, then a seeded random part of one more) until its
audio is weight / sum(weights) of the epoch's. Each repeat of an utterance gets its own seed, so it
is augmented differently.
"""
from __future__ import annotations

import torch
from torch.utils.data import Sampler

__all__ = ["BucketBatchSampler", "global_batches", "mixture"]


def mixture(durations: list[float], groups: list[int], weights: tuple[float, ...], epoch: int, seed: int,
            ) -> list[int]:
    """The utterance indices of one epoch of the weighted mixture, repeats included (unordered)."""
    n_groups = len(weights)
    members: list[list[int]] = [[] for _ in range(n_groups)]
    for i, grp in enumerate(groups):
        members[grp].append(i)
    seconds = [sum(durations[i] for i in m) for m in members]
    unit = max(s / w for s, w in zip(seconds, weights) if w > 0 and s > 0)
    g = torch.Generator().manual_seed(seed * 104_729 + epoch)
    out: list[int] = []
    for m, s, w in zip(members, seconds, weights):
        if not m or w <= 0:
            continue
        target = w * unit
        copies = int(target / s + 1e-9)
        out += m * copies
        rest = target - copies * s
        for p in torch.randperm(len(m), generator=g).tolist():
            if rest <= 1e-6:
                break
            out.append(m[p])
            rest -= durations[m[p]]
    return out


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
                 rank: int = 0, world_size: int = 1, speeds: tuple[float, ...] = (1.0,),
                 groups: list[int] | None = None, weights: tuple[float, ...] = ()) -> None:
        """groups, weights: a weighted mixture (module docstring); without weights every utterance once an epoch."""
        self.durations, self.batch_seconds, self.seed, self.sortagrad = list(durations), batch_seconds, seed, sortagrad
        self.rank, self.world_size, self.speeds = rank, world_size, tuple(speeds)
        self.groups, self.weights = list(groups or [0] * len(self.durations)), tuple(weights)
        if self.weights and (len(self.weights) <= max(self.groups, default=0) or min(self.weights) < 0
                             or not any(w > 0 for w in self.weights)):
            raise ValueError(f"mixture weights {self.weights} do not fit the subsets")
        self.set_epoch(1)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Epochs count from 1; `start` batches of the epoch are skipped (resuming mid-epoch)."""
        self.epoch, self.start = epoch, start
        if self.weights:
            self._items = mixture(self.durations, self.groups, self.weights, epoch, self.seed)
        else:
            self._items = list(range(len(self.durations)))
        g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        n = len(self._items)
        self._seeds = torch.randint(2**31 - 1, (n,), generator=g).tolist()
        self._speeds = [1.0] * n
        if self.speeds != (1.0,):
            pick = torch.randint(len(self.speeds), (n,), generator=g).tolist()
            self._speeds = [self.speeds[p] for p in pick]
        durations = [self.durations[i] / s for i, s in zip(self._items, self._speeds)]
        self._batches = global_batches(durations, self.batch_seconds, epoch, self.seed, self.sortagrad)

    def shares(self) -> list[tuple[float, int]]:
        """Per subset (group): (seconds of audio in this epoch, utterances in this epoch), repeats counted."""
        out = [[0.0, 0] for _ in range(max(self.groups, default=0) + 1)]
        for i in self._items:
            out[self.groups[i]][0] += self.durations[i]
            out[self.groups[i]][1] += 1
        return [(s, n) for s, n in out]

    def __len__(self) -> int:
        return max(0, len(self._batches) - self.start)

    def __iter__(self):
        items, seeds, speeds = self._items, self._seeds, self._speeds
        for batch in self._batches[self.start:]:
            yield [(items[k], seeds[k], len(batch), speeds[k]) for k in batch[self.rank::self.world_size]]
