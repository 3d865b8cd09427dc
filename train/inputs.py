"""What the training loop consumes: the usable utterances (manifests read, over-long and
unalignable ones skipped and counted), the datasets, the loaders, the mixed-precision type."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from asr.audio import SAMPLE_RATE
from asr.features import num_frames
from asr.vocab import encode
from data.librispeech import Utterance, read_subsets

from .augment import SPEEDS, WaveAugment, babble_pool, list_audio
from .config import TrainConfig
from .dataset import SpeechDataset, collate, ctc_frames_needed
from . import distributed
from .distributed import Dist
from .sampler import BucketBatchSampler, global_batches

AUTO_CACHE_HOURS = 10.0  # log-mel in float16: about 58 MB per hour of audio

__all__ = ["Inputs", "prepare_inputs", "train_loader", "dev_loader", "amp_dtype", "format_counts", "format_mixture",
           "parse_mixture"]


def format_counts(counts: dict) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()) if n) or "none"


def parse_mixture(spec: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """"a:3,b:2,c" -> (("a", "b", "c"), (3.0, 2.0, 1.0)); a plain "a,b" -> (("a", "b"), ()) (each utterance once)."""
    names, weights = [], []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, colon, weight = part.partition(":")
        try:
            w = float(weight) if colon else 1.0
        except ValueError:
            raise ValueError(f"--train: {part!r} is not SUBSET or SUBSET:WEIGHT") from None
        if not name or not w > 0 or w == float("inf"):
            raise ValueError(f"--train: {part!r} needs a subset name and a weight > 0")
        names.append(name)
        weights.append(w)
    if not names:
        raise ValueError("--train names no subset")
    if len(set(names)) != len(names):
        raise ValueError(f"--train names a subset twice: {spec}")
    return tuple(names), tuple(weights) if ":" in spec else ()


def format_mixture(names: tuple[str, ...], shares: list[tuple[float, int]]) -> str:
    total = sum(s for s, _ in shares) or 1.0
    return ", ".join(f"{name} {s / 3600:.2f} h ({100 * s / total:.0f}%)" for name, (s, _) in zip(names, shares))


@dataclass
class Inputs:
    train_set: SpeechDataset
    dev_set: SpeechDataset  # the first dev subset's, which chooses the model
    sampler: BucketBatchSampler
    workers: int
    index_skipped: Counter  # utterances left out before training, by reason
    train_seconds: float
    dev_sets: dict[str, SpeechDataset] | None = None  # every dev subset, the first first


def select(utterances: list[Utterance], cfg: TrainConfig) -> tuple[list[Utterance], Counter]:
    """Leave out (and count) what --max-duration excludes and transcripts CTC cannot align."""
    kept, skipped = [], Counter()
    for u in utterances:
        if cfg.max_duration is not None and u.duration > cfg.max_duration:
            skipped["longer than --max-duration"] += 1
        elif ctc_frames_needed(encode(u.text)) > num_frames(round(u.duration * SAMPLE_RATE)) // cfg.model.stride:
            skipped["transcript too long for the audio"] += 1
        else:
            kept.append(u)
    return kept, skipped


def prepare_inputs(cfg: TrainConfig, d: Dist, say, feature_cache: dict | None = None) -> Inputs:
    """feature_cache: an in-memory feature cache shared with other runs (used only when features are cached)."""
    progress = None if d.main else False

    dev_names = [cfg.dev_subset, *(s for s in cfg.more_dev_subsets if s != cfg.dev_subset)]
    if cfg.train_weights and len(cfg.train_weights) != len(cfg.train_subsets):
        raise ValueError(f"{len(cfg.train_weights)} weights for {len(cfg.train_subsets)} training subsets")
    if overlap := set(dev_names) & set(cfg.train_subsets):
        raise ValueError(f"{', '.join(sorted(overlap))}: a subset cannot be both trained on and a dev set")

    def read():
        return (read_subsets(cfg.data, list(cfg.train_subsets), progress=progress),
                read_subsets(cfg.data, dev_names, progress=progress))

    # the first process of each node builds the manifests (reads every header); the others then use the cache
    first = read() if d.local_rank == 0 else None
    distributed.barrier(d)
    (train_utts, reports), (dev_utts, dev_reports) = first or read()
    for rep in reports + dev_reports:
        say(rep.summary())
    for rep in dev_reports:
        if not rep.kept:
            raise ValueError(f"dev subset {rep.subset} has no usable utterances")
    train_utts, skipped = select(train_utts, cfg)
    for rep in reports:
        skipped.update(rep.skipped)
    if skipped:
        say(f"train: left out before training: {format_counts(skipped)}")
    if not train_utts or not dev_utts:
        raise ValueError("no usable training or dev utterances (see the summaries above)")
    augment = WaveAugment(cfg.speed_perturb, list_audio(cfg.noise_dir), list_audio(cfg.rir_dir), cfg.noise_snr,
                          cfg.noise_prob, cfg.rir_prob, pitch=cfg.pitch_shift, colored=cfg.colored_noise,
                          colored_snr=cfg.colored_snr, babble=cfg.babble, babble_snr=cfg.babble_snr,
                          babble_sources=babble_pool([u.path for u in train_utts], cfg.seed) if cfg.babble else [],
                          telephone=cfg.telephone, gain=cfg.gain)
    train_seconds = sum(u.duration for u in train_utts)
    cache = not augment.active and (cfg.cache_features or (cfg.cache_features is None
                                                          and train_seconds <= AUTO_CACHE_HOURS * 3600))
    if cfg.cache_features and augment.active:
        say("note: --feature-cache on ignored (waveform augmentation changes the features every epoch)")
    workers = cfg.workers
    if workers is None:  # on a GPU, loading must keep up; on the CPU it competes with training for cores
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", d.world_size))
        workers = min(8, max(1, (os.cpu_count() or 1) // per_node - 1)) if d.device.type == "cuda" else 0
    if cache:
        workers = 0  # the cache lives in this process
    groups = [cfg.train_subsets.index(u.subset) for u in train_utts]
    used = set(groups)
    if cfg.train_weights and (empty := [s for i, s in enumerate(cfg.train_subsets) if i not in used]):
        raise ValueError(f"training subset {', '.join(empty)} has no usable utterances, so it cannot get its share")
    sampler = BucketBatchSampler([u.duration for u in train_utts], cfg.batch_seconds, cfg.seed, cfg.sortagrad,
                                 d.rank, d.world_size, SPEEDS if cfg.speed_perturb else (1.0,), groups,
                                 cfg.train_weights)
    dev_cache = cfg.cache_features is not False and workers == 0
    dev_sets = {name: SpeechDataset([u for u in dev_utts if u.subset == name], cfg.model.stride,
                                    cache_features=dev_cache, cache=feature_cache) for name in dev_names}
    return Inputs(
        SpeechDataset(train_utts, cfg.model.stride, augment, cache_features=cache, cache=feature_cache),
        dev_sets[cfg.dev_subset], sampler, workers, skipped, train_seconds, dev_sets,
    )


def _loader(dataset, batch_sampler, workers: int, device: torch.device, seed: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate, num_workers=workers,
                      pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
                      generator=torch.Generator().manual_seed(seed))  # never draw from the global RNG


def train_loader(inputs: Inputs, epoch: int, start: int, device: torch.device, seed: int) -> DataLoader:
    inputs.sampler.set_epoch(epoch, start)
    return _loader(inputs.train_set, inputs.sampler, inputs.workers, device, seed * 1000 + epoch)


def dev_loader(inputs: Inputs, batch_seconds: float, device: torch.device, name: str | None = None) -> DataLoader:
    """The first dev subset's batches, or those of dev subset `name`."""
    dataset = inputs.dev_set if name is None else inputs.dev_sets[name]
    batches = global_batches([u.duration for u in dataset.utterances], batch_seconds, 1, 0)
    return _loader(dataset, batches, inputs.workers, device, 0)


def amp_dtype(cfg: TrainConfig, device: torch.device, say) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16 (with a gradient scaler); none on the CPU."""
    if cfg.amp not in ("auto", "bf16", "fp16", "off"):
        raise ValueError(f"--amp must be auto, bf16, fp16 or off, not {cfg.amp!r}")
    if cfg.amp == "off":
        return None
    if device.type != "cuda":
        if cfg.amp != "auto":
            say(f"note: --amp {cfg.amp} ignored on the CPU")
        return None
    if cfg.amp == "auto":
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False) and _bf16_rnn_works(device, cfg.model.cell)
        return torch.bfloat16 if bf16 else torch.float16
    return torch.bfloat16 if cfg.amp == "bf16" else torch.float16


def _bf16_rnn_works(device: torch.device, cell: str) -> bool:
    """cuDNN runs RNNs in bf16 only in recent versions (9.13+); try a tiny one, forward and backward."""
    from asr.model import CELLS

    try:
        rnn = CELLS[cell](8, 8, batch_first=True).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y, _ = rnn(torch.randn(2, 3, 8, device=device))
        y.float().sum().backward()
        return True
    except RuntimeError:
        return False
