"""One readable training loop: CTC loss, AdamW with warm-up and cosine decay, gradient clipping,
SpecAugment, mixed precision on CUDA, DistributedDataParallel under torchrun, a guard against
non-finite losses, dev loss/WER/CER each epoch, atomic resumable checkpoints.

Files in the run folder: config.json, log.csv (and tb/ with TensorBoard), best.pt and last.pt
(inference checkpoints, asr.checkpoint), train_state.pt (everything --resume needs; saved every
--checkpoint-every steps and at each epoch end). Only rank 0 writes.
"""
from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from asr.checkpoint import load_model, save_model
from asr.model import AcousticModel, ModelConfig, count_parameters

from . import distributed
from .augment import (FREQ_MASK_WIDTH, TIME_MASK_WIDTH, feature_gain, feature_noise, freq_warp, list_audio, noise_bank,
                      random_eq, spec_augment, time_stretch, trim_silence)
from .config import MASKS_WITHOUT_SPEC_AUGMENT, TrainConfig, TrainResult
from .dataset import SKIP_REASONS, Batch, feature_stats
from .evaluate import dev_loss_and_hyps, error_rates
from .inputs import amp_dtype, dev_loader, format_counts, format_mixture, prepare_inputs, train_loader
from .runlog import RunLog, write_config
from .schedule import LRSchedule
from .state import STATE_NAME, STATE_VERSION, StateError, atomic_save, load_state, rng_state, set_rng_state
from .widen import start_model

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "train"]

# the sampler position is only meaningful for the same data, batching and seed
RESUME_MUST_MATCH = ("train_subsets", "train_weights", "batch_seconds", "max_duration", "sortagrad", "seed")
SAVED_DEFAULTS = {"train_weights": []}  # for runs saved before the option existed
COUNTED = (*SKIP_REASONS, "non-finite loss")


class TrainingError(Exception):
    """A run that cannot go on (e.g. the loss stays non-finite); the message is one line for the user."""


def _loss(net, model: AcousticModel, b: Batch, cfg: TrainConfig, d, amp, mean, std,
          bank: torch.Tensor | None = None) -> tuple[torch.Tensor, float]:
    """(loss to back-propagate, summed CTC loss of this process's utterances); bank: --feature-noise's frames."""
    if not len(b):  # all of this process's share was unusable: a zero-loss pass keeps DDP in step
        n = 2 * cfg.model.stride
        log_probs, _, _ = net(torch.zeros(1, n, cfg.model.n_mels, device=d.device), torch.tensor([n], device=d.device),
                              return_state=False)
        return log_probs.float().sum() * 0.0, 0.0
    feats, feat_lens = b.feats.to(d.device, non_blocking=True), b.feat_lens.to(d.device)
    if cfg.trim_silence:  # its own generator, seeded by the batch: the other draws stay as without it
        key = (cfg.seed, int(b.feat_lens.sum()), int(b.target_lens.sum()))
        g = torch.Generator().manual_seed(hash(key) & 0x7FFFFFFF)
        feats, feat_lens = trim_silence(feats, feat_lens, cfg.trim_silence, g)
    if cfg.time_stretch:
        feats, feat_lens = time_stretch(feats, feat_lens, cfg.time_stretch)
    if cfg.freq_warp:
        feats = freq_warp(feats, cfg.freq_warp)
    if cfg.eq:
        feats = random_eq(feats, cfg.eq)
    if cfg.feature_gain:
        feats = feature_gain(feats, cfg.feature_gain)
    if cfg.feature_noise:  # after the gain: the noise floor also fills what a quieter gain pushed to the floor
        only = [s in cfg.feature_noise_subsets for s in b.subsets] if cfg.feature_noise_subsets else None
        feats = feature_noise(feats, feat_lens, cfg.feature_noise, bank, only=only)
    if cfg.spec_augment:
        feats = spec_augment(feats, mean, std, feat_lens, cfg.freq_mask, cfg.time_mask, cfg.time_masks)
    with torch.autocast(d.device.type, dtype=amp, enabled=amp is not None):
        log_probs, out_lens, _ = net(feats, feat_lens, return_state=False)
    total = F.ctc_loss(log_probs.float().transpose(0, 1), b.targets.to(d.device), out_lens,
                       b.target_lens.to(d.device), reduction="sum", zero_infinity=True)
    # DDP averages gradients over processes: scale so the step is the mean over the global batch
    return total * d.world_size / max(b.global_size, 1), float(total.detach())


def _train_state(model, opt, sched, scaler, step, epoch, pos, best, sums, skipped, cfg) -> dict:
    return {
        "version": STATE_VERSION, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "scaler": scaler.state_dict(),
        "step": step, "epoch": epoch, "batch_in_epoch": pos, "best": list(best), "sums": list(sums),
        "skipped": dict(skipped), "rng": rng_state(), "config": json.loads(json.dumps(asdict(cfg), default=str)),
    }


def _check_resumable(state: dict, cfg: TrainConfig) -> None:
    now = json.loads(json.dumps(asdict(cfg), default=str))
    for key in RESUME_MUST_MATCH:
        saved = state["config"].get(key, SAVED_DEFAULTS.get(key))
        if saved != now.get(key):
            raise StateError(f"cannot resume: --{key.replace('_', '-')} was {saved!r}, now {now.get(key)!r}")
    # a run saved before a model field existed had that field's default (ModelConfig.feature_floor: None)
    defaults = json.loads(json.dumps(asdict(ModelConfig())))
    if {**defaults, **(state["config"].get("model") or {})} != now.get("model"):
        raise StateError("cannot resume: the model configuration differs from the saved run's")


def inherited_meta(init: AcousticModel, path) -> dict:
    """What the checkpoints of a run keep from its --init model: the emission delay that model was measured
    with (bench/timestamps.py), marked as inherited. Fine-tuning keeps the architecture and moves the delay
    little (docs/default-model.md, "Word times"), and an inherited delay is far closer than none, which makes
    every word time late by the whole delay."""
    delay = init.meta.get("emission_delay_frames")
    if delay is None:
        return {}
    return {"emission_delay_frames": float(delay), "emission_delay_from": f"inherited from --init {path}"}


def train(cfg: TrainConfig, feature_cache: dict | None = None) -> TrainResult:
    """feature_cache: log-mel features (audio path -> float16) shared between runs in one process (train.compare)."""
    d = distributed.setup(cfg.device)
    try:
        result = _train(cfg, d, feature_cache)
    except BaseException:
        distributed.cleanup(d)
        raise
    distributed.cleanup(d, sync=True)
    return result


def _train(cfg: TrainConfig, d: distributed.Dist, feature_cache: dict | None) -> TrainResult:
    say = print if d.main else (lambda *a, **k: None)
    for name, p in (("eq", cfg.eq), ("trim-silence", cfg.trim_silence), ("feature-gain", cfg.feature_gain),
                    ("feature-noise", cfg.feature_noise)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"--{name} must be a probability in [0, 1], not {p}")
    if not (0 <= cfg.freq_mask <= cfg.model.n_mels and cfg.time_mask >= 0 and cfg.time_masks >= 0):
        raise ValueError(f"--freq-mask must be in [0, {cfg.model.n_mels}], --time-mask and --time-masks at least 0")
    if not cfg.spec_augment and (cfg.freq_mask, cfg.time_mask, cfg.time_masks) != (FREQ_MASK_WIDTH, TIME_MASK_WIDTH, 0):
        raise ValueError(MASKS_WITHOUT_SPEC_AUGMENT)
    if cfg.feature_noise and cfg.feature_noise_dir is None:
        raise ValueError("--feature-noise needs --feature-noise-dir (a folder of noise recordings)")
    if unknown := sorted(set(cfg.feature_noise_subsets) - set(cfg.train_subsets)):
        raise ValueError(f"--feature-noise-subsets names {', '.join(unknown)}, not a training subset")
    bank = noise_bank(list_audio(cfg.feature_noise_dir)) if cfg.feature_noise else None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    elif d.distributed and d.device.type == "cpu":  # share the cores between the processes of this node
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", d.world_size))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_node))
    torch.manual_seed(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    if d.main:
        for stale in cfg.out.glob(f".{STATE_NAME}.*.tmp"):  # left by a run killed mid-save
            stale.unlink(missing_ok=True)
    state = load_state(cfg.out / STATE_NAME) if cfg.resume else None
    if state is not None:
        _check_resumable(state, cfg)
    amp = amp_dtype(cfg, d.device, say)
    start, inherited = None, {}
    if state is None and cfg.init is not None:  # weights and statistics of an earlier model (widened if narrower),
        init = load_model(cfg.init)  # checked before the data is read
        start = start_model(init, cfg.model, cfg.seed)
        grown = f", widened from {init.config.hidden} to {cfg.model.hidden} units (same outputs)"
        say(f"initialised from {cfg.init}{grown if init.config.hidden != cfg.model.hidden else ''}")
        inherited = inherited_meta(init, cfg.init)
    elif cfg.init is not None:  # resumed: --init's delay, or the run's own checkpoint's if --init has moved
        source = next((f for f in (Path(cfg.init), cfg.out / "last.pt") if f.is_file()), None)
        inherited = inherited_meta(load_model(source), cfg.init) if source is not None else {}
    inputs = prepare_inputs(cfg, d, say, feature_cache)

    model = start if start is not None else AcousticModel(cfg.model)
    if state is not None:
        model.load_state_dict(state["model"])
    elif cfg.init is None and d.main:
        model.normalizer.set_stats(*feature_stats(inputs.train_set, cfg.stats_utterances, inputs.workers, cfg.seed,
                                                  cfg.model.feature_floor))
    model.to(d.device)
    net = model
    if d.distributed:  # rank 0's statistics, then (inside DDP) its weights, go to every process
        distributed.broadcast_(d, [model.normalizer.mean, model.normalizer.std])
        net = DistributedDataParallel(model, device_ids=[d.device] if d.device.type == "cuda" else None,
                                      broadcast_buffers=False)
    torch.manual_seed(cfg.seed + 1000 * d.rank)  # dropout and SpecAugment masks differ between processes
    mean, std = model.normalizer.mean, model.normalizer.std
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = LRSchedule(cfg.lr, cfg.warmup_steps, len(inputs.sampler) * cfg.epochs, cfg.max_minutes)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
    step, first_epoch, pos, best = 0, 1, 0, (math.inf, math.inf)
    sums, skipped = [0.0, 0.0, 0.0], Counter()  # loss, utterances, audio seconds of the epoch so far
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, first_epoch, pos, best = state["step"], state["epoch"], state["batch_in_epoch"], tuple(state["best"])
        if d.main:
            sums, skipped = list(state["sums"]), Counter(state["skipped"])
            set_rng_state(state["rng"])
        else:
            torch.manual_seed(cfg.seed + 1000 * d.rank + step)
        say(f"resuming {cfg.out} at epoch {first_epoch}, batch {pos}, step {step}")
    params = count_parameters(model)
    say(f"model: {cfg.model.cell} {cfg.model.layers}x{cfg.model.hidden}, {params:,} parameters; "
        f"train {inputs.train_seconds / 3600:.2f} h; device {d.device}"
        f"{f' x {d.world_size} processes' if d.distributed else ''}; mixed precision {amp or 'off'}")
    log = RunLog(cfg.out, first_epoch if state is not None else None) if d.main else None
    if d.main:
        write_config(cfg.out, cfg)
    trace = (cfg.out / f"batches.rank{d.rank}.tsv").open("a") if cfg.trace_batches else None

    def save_state(epoch: int, position: int) -> None:
        global_sums = distributed.all_sum(d, sums)  # every process calls this, rank 0 writes
        if d.main:
            atomic_save(_train_state(model, opt, sched, scaler, step, epoch, position, best, global_sums,
                                     skipped, cfg), cfg.out / STATE_NAME)

    def evaluate_and_save(label: str, epoch: int, train_loss: float, audio_rate: float, skips: dict) -> None:
        """Dev loss/WER/CER, a log row, last.pt and best.pt (rank 0)."""
        nonlocal best
        if not d.main:
            return
        minutes = sched.minutes()  # of training, at this evaluation
        scores = {}
        for name in inputs.dev_sets:  # the first chooses the model; each gets its own log.csv row
            dev_loss, refs, hyps = dev_loss_and_hyps(model, dev_loader(inputs, cfg.batch_seconds, d.device, name),
                                                     d.device, amp)
            scores[name] = (dev_loss, *error_rates(refs, hyps))
            log.row({"epoch": epoch, "step": step, "minutes": f"{minutes:.2f}", "train_loss": round(train_loss, 4),
                     "dev_loss": round(dev_loss, 4), "dev_wer": round(scores[name][1], 2),
                     "dev_cer": round(scores[name][2], 2), "lr": lr, "audio_s_per_s": round(audio_rate, 1),
                     "skipped": sum(skips.values()), "dev_subset": name})
        dev_loss, wer, cer = scores[cfg.dev_subset]
        meta = {"epoch": epoch, "step": step, "dev_subset": cfg.dev_subset, "dev_wer": wer, "dev_cer": cer,
                "train_subsets": list(cfg.train_subsets), "train_hours": round(inputs.train_seconds / 3600, 3)}
        if cfg.train_weights:
            meta["train_weights"] = list(cfg.train_weights)
        if len(scores) > 1:
            meta["dev"] = {name: {"wer": round(w, 2), "cer": round(c, 2)} for name, (_, w, c) in scores.items()}
        meta.update(inherited)
        save_model(cfg.out / "last.pt", model, meta)
        if cfg.keep_checkpoints:
            save_model(cfg.out / f"step-{step}.pt", model, meta)
        if (wer, cer) < best:
            best = (wer, cer)
            save_model(cfg.out / "best.pt", model, meta)
        others = "".join(f"; {name} WER {w:.2f}% CER {c:.2f}%" for name, (_, w, c) in scores.items()
                         if name != cfg.dev_subset)
        say(f"{label}: train loss {train_loss:.2f}, dev loss {dev_loss:.2f}, dev WER {wer:.2f}% CER {cer:.2f}%"
            f"{others}, {audio_rate:.0f} audio s/s ({minutes:.1f} min); skipped: {format_counts(skips)} "
            f"(left out before training: {format_counts(inputs.index_skipped)})")

    def not_training(since: float) -> float:
        """With frequent evaluations, time spent evaluating is not training time (the budget, log.csv's minutes);
        returns when the next evaluation is due (at the latest, when the budget is spent)."""
        distributed.barrier(d)  # the other processes have waited for rank 0's evaluation
        sched.exclude(time.time() - since)
        return min(sched.minutes() + cfg.eval_every_minutes, cfg.max_minutes or math.inf)

    bad_in_a_row, epoch, stop, lr, evaluated_at = 0, first_epoch, False, sched.lr(step), -1
    next_eval = not_training(time.time()) if cfg.eval_every_minutes else None
    for epoch in range(first_epoch, cfg.epochs + 1):
        loader = train_loader(inputs, epoch, pos, d.device, cfg.seed)
        if len(cfg.train_subsets) > 1:
            say(f"epoch {epoch} audio by subset: {format_mixture(cfg.train_subsets, inputs.sampler.shares())}")
        net.train()
        bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", total=pos + len(loader), initial=pos,
                   disable=not d.main, dynamic_ncols=True, mininterval=1.0)
        t0, seconds_now = time.time(), 0.0
        for b in bar:
            skipped.update(b.skipped)
            lr = sched.lr(step)
            for group in opt.param_groups:
                group["lr"] = lr
            loss, total = _loss(net, model, b, cfg, d, amp, mean, std, bank)
            finite = math.isfinite(float(loss.detach()))
            if d.distributed:
                finite = distributed.all_sum(d, [0.0 if finite else 1.0])[0] == 0
            pos += 1
            if not finite:  # skip the batch everywhere; stop if it keeps happening
                skipped["non-finite loss"] += len(b)
                bad_in_a_row += 1
                if bad_in_a_row >= cfg.max_bad_steps:
                    raise TrainingError(f"the loss was NaN or infinite in {bad_in_a_row} batches in a row "
                                        f"(step {step}); lower --lr or check the data")
                continue
            bad_in_a_row = 0
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
            scaler.step(opt)
            scaler.update()
            step += 1
            sums = [sums[0] + total, sums[1] + len(b), sums[2] + b.seconds]
            seconds_now += b.seconds
            if trace is not None:
                trace.write(f"{epoch}\t{step}\t{','.join(b.ids)}\n")
            bar.set_postfix(loss=f"{sums[0] / max(sums[1], 1):.2f}", lr=f"{lr:.1e}",
                            audio_s_per_s=f"{seconds_now * d.world_size / (time.time() - t0):.0f}")
            if step % cfg.checkpoint_every == 0:
                save_state(epoch, pos)
            if next_eval is not None and distributed.broadcast_flag(d, sched.minutes() >= next_eval):
                e0 = time.time()
                loss_sum, utts = distributed.all_sum(d, sums[:2])
                evaluate_and_save(f"epoch {epoch}, step {step}", epoch, loss_sum / max(utts, 1),
                                  seconds_now * d.world_size / max(e0 - t0, 1e-9), skipped)
                next_eval = not_training(e0)
                t0 += time.time() - e0
                evaluated_at = step
                net.train()
                stop = distributed.broadcast_flag(d, cfg.max_minutes is not None and sched.minutes() >= cfg.max_minutes)
                if stop:
                    break
        bar.close()
        if stop:  # the budget ran out at an evaluation inside the epoch
            save_state(epoch, pos)
            say(f"stopping: time budget of {cfg.max_minutes} min reached")
            break
        train_time = time.time() - t0
        loss_sum, utts, _, *counts, seconds_all = distributed.all_sum(
            d, [*sums, *(skipped[r] for r in COUNTED), seconds_now])
        epoch_skipped = dict(zip(COUNTED, map(int, counts)))
        audio_rate = seconds_all / max(train_time, 1e-9)
        e0 = time.time()
        if evaluated_at != step:  # not just evaluated inside the epoch
            evaluate_and_save(f"epoch {epoch}", epoch, loss_sum / max(utts, 1), audio_rate, epoch_skipped)
        if next_eval is not None:
            next_eval = not_training(e0)
        stop = distributed.broadcast_flag(d, cfg.max_minutes is not None and sched.minutes() >= cfg.max_minutes)
        pos, sums, skipped = 0, [0.0, 0.0, 0.0], Counter()
        save_state(epoch + 1, 0)
        if stop:
            say(f"stopping: time budget of {cfg.max_minutes} min reached")
            break
    if trace is not None:
        trace.close()
    if log is not None:
        log.close()
    if not inherited:
        say(f"word times: {cfg.out}'s checkpoints carry no emission delay, so word times are about 100 ms late "
            f"until it is measured: python -m bench.timestamps --model {cfg.out / 'best.pt'} --write-delay OUT.pt")
    best = tuple(distributed.all_sum(d, list(best) if d.main else [0.0, 0.0]))
    return TrainResult(cfg.out / "best.pt", best[0], best[1], min(epoch, cfg.epochs), step, sched.minutes(),
                       inputs.train_seconds / 3600, params)
