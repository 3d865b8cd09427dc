"""One readable training loop: CTC loss, AdamW with warm-up and cosine decay, gradient clipping,
SpecAugment, length-bucketed batches (shortest first in epoch 1), dev WER each epoch, best
checkpoint kept. The loss is computed here, not in the model."""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchaudio
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from asr.checkpoint import save_model
from asr.model import AcousticModel, ModelConfig, count_parameters
from data.librispeech import read_subsets

from .dataset import feature_stats, load_features, make_batches
from .evaluate import dev_loss_and_hyps, error_rates

__all__ = ["TrainConfig", "TrainResult", "train"]


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    train_subsets: tuple[str, ...]
    dev_subset: str
    out: Path
    model: ModelConfig = ModelConfig()
    epochs: int = 20
    max_minutes: float | None = None  # stop (after the current epoch's evaluation) past this budget
    batch_seconds: float = 200.0  # padded audio per batch
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 300
    clip_norm: float = 5.0
    spec_augment: bool = True
    seed: int = 0
    threads: int | None = None


@dataclass(frozen=True)
class TrainResult:
    best_checkpoint: Path
    best_dev_wer: float
    best_dev_cer: float
    epochs: int
    steps: int
    minutes: float
    train_hours: float
    parameters: int


def _spec_augment(feats: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Two frequency masks (<= 15 mels) and two time masks (<= 40 frames), masked to the global mean."""
    x = ((feats - mean) / std).transpose(1, 2)  # B x n_mels x T
    for mask in (torchaudio.transforms.FrequencyMasking(15, iid_masks=True),
                 torchaudio.transforms.TimeMasking(40, iid_masks=True, p=0.2)):
        x = mask(mask(x))
    return x.transpose(1, 2) * std + mean


def _lr_at(step: int, progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% of the peak as `progress` (0..1) runs out."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _progress(step: int, total_steps: int, start: float, cfg: TrainConfig) -> float:
    """Fraction of the budget used: steps, or wall-clock time when --max-minutes is the tighter one."""
    frac = step / max(1, total_steps)
    if cfg.max_minutes:
        frac = max(frac, (time.time() - start) / 60 / cfg.max_minutes)
    return frac


def train(cfg: TrainConfig) -> TrainResult:
    start = time.time()
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    (cfg.out / "config.json").write_text(json.dumps(asdict(cfg), default=str, indent=2))

    train_utts, reports = read_subsets(cfg.data, list(cfg.train_subsets))
    dev_utts, dev_reports = read_subsets(cfg.data, [cfg.dev_subset])
    for rep in reports + dev_reports:
        print(rep.summary())
    if not train_utts or not dev_utts:
        raise ValueError("no usable training or dev utterances (see the summaries above)")
    train_set = load_features(train_utts, cfg.model.stride, "train features")
    dev_set = load_features(dev_utts, cfg.model.stride, "dev features")
    for name, s in (("train", train_set), ("dev", dev_set)):
        if s.skipped:
            print(f"{name}: skipped while loading: " + ", ".join(f"{n} {r}" for r, n in s.skipped.items()))

    model = AcousticModel(cfg.model)
    mean, std = feature_stats(train_set.examples)
    model.normalizer.set_stats(mean, std)
    mean, std = model.normalizer.mean, model.normalizer.std
    params = count_parameters(model)
    print(f"model: {cfg.model.cell} {cfg.model.layers}x{cfg.model.hidden}, {params:,} parameters; "
          f"train {train_set.seconds / 3600:.2f} h, dev {dev_set.seconds / 3600:.2f} h")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    steps_per_epoch = len(make_batches(train_set.examples, cfg.batch_seconds, shuffle=False))
    total_steps = steps_per_epoch * cfg.epochs
    dev_batches = make_batches(dev_set.examples, cfg.batch_seconds, shuffle=False)

    log_path = cfg.out / "log.csv"
    with log_path.open("w", newline="") as fh:
        csv.writer(fh).writerow(["epoch", "step", "minutes", "train_loss", "dev_loss", "dev_wer", "dev_cer", "lr"])
    best = (math.inf, math.inf)
    step, epoch = 0, 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        batches = make_batches(train_set.examples, cfg.batch_seconds, shuffle=epoch > 1, generator=g)
        bar = tqdm(batches, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", dynamic_ncols=True, mininterval=1.0)
        loss_sum, utt_sum, audio_sum, t0 = 0.0, 0, 0.0, time.time()
        for idx in bar:
            ex = [train_set.examples[i] for i in idx]
            feats = pad_sequence([e.feats.float() for e in ex], batch_first=True)
            lens = torch.tensor([e.feats.shape[0] for e in ex])
            if cfg.spec_augment:
                feats = _spec_augment(feats, mean, std)
            targets = torch.cat([e.tokens for e in ex])
            tlens = torch.tensor([len(e.tokens) for e in ex])
            log_probs, out_lens, _ = model(feats, lens, return_state=False)
            loss = F.ctc_loss(log_probs.transpose(0, 1), targets, out_lens, tlens, reduction="sum", zero_infinity=True)
            loss = loss / len(ex)
            if not torch.isfinite(loss):
                continue
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, _progress(step, total_steps, start, cfg), cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            opt.step()
            step += 1
            loss_sum += loss.item() * len(ex)
            utt_sum += len(ex)
            audio_sum += sum(e.seconds for e in ex)
            bar.set_postfix(loss=f"{loss_sum / utt_sum:.2f}", lr=f"{opt.param_groups[0]['lr']:.1e}",
                            audio_s_per_s=f"{audio_sum / (time.time() - t0):.0f}")
        dev_loss, refs, hyps = dev_loss_and_hyps(model, dev_set.examples, dev_batches)
        wer, cer = error_rates(refs, hyps)
        minutes = (time.time() - start) / 60
        print(f"epoch {epoch}: train loss {loss_sum / max(utt_sum, 1):.2f}, dev loss {dev_loss:.2f}, "
              f"dev WER {wer:.2f}% CER {cer:.2f}% ({minutes:.1f} min)")
        with log_path.open("a", newline="") as fh:
            csv.writer(fh).writerow([epoch, step, f"{minutes:.2f}", f"{loss_sum / max(utt_sum, 1):.4f}",
                                     f"{dev_loss:.4f}", f"{wer:.2f}", f"{cer:.2f}", opt.param_groups[0]["lr"]])
        meta = {"epoch": epoch, "step": step, "dev_subset": cfg.dev_subset, "dev_wer": wer, "dev_cer": cer,
                "train_subsets": list(cfg.train_subsets), "train_hours": round(train_set.seconds / 3600, 3)}
        save_model(cfg.out / "last.pt", model, meta)
        if (wer, cer) < best:
            best = (wer, cer)
            save_model(cfg.out / "best.pt", model, meta)
        if cfg.max_minutes is not None and minutes >= cfg.max_minutes:
            print(f"stopping: time budget of {cfg.max_minutes} min reached")
            break
    return TrainResult(cfg.out / "best.pt", best[0], best[1], epoch, step, (time.time() - start) / 60,
                       train_set.seconds / 3600, params)

