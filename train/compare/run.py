"""The train stage of `asr compare`: every run of the plan in OUT/runs/<cell>-<p|h>-s<seed>/, with the same data,
features, schedule and budget; a finished run (best.pt and done.json) is skipped, an interrupted one resumed.
Imports nothing that needs a speech synthesiser, so it runs on a bare GPU machine."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from .config import CompareConfig
from .plan import Run, macs_per_audio_second, parameter_count
from .records import DONE, describe_device, median_throughput, read_log, save_results

__all__ = ["plan_entry", "check_folder", "train_stage"]

def plan_entry(run: Run) -> dict:
    return {"cell": run.cell, "group": run.group, "seed": run.seed, "hidden": run.model.hidden,
            "layers": run.model.layers, "params": parameter_count(run.model),
            "macs_per_audio_s": macs_per_audio_second(run.model)}


def _train_config(cfg: CompareConfig, run: Run, folder: Path):
    from train.config import TrainConfig
    from train.state import STATE_NAME

    budget = cfg.budget_minutes
    epochs = cfg.epochs if cfg.epochs is not None else (100_000 if budget else 10)
    return TrainConfig(
        data=cfg.data, train_subsets=cfg.train_subsets, dev_subset=cfg.dev_subset, out=folder, model=run.model,
        epochs=epochs, max_minutes=budget, eval_every_minutes=budget / cfg.evals_per_run if budget else None,
        batch_seconds=cfg.batch_seconds, lr=cfg.lr, warmup_steps=cfg.warmup_steps, device=cfg.device,
        threads=cfg.threads, seed=run.seed, resume=(folder / STATE_NAME).exists(),
    )


def _shared_cache(cfg: CompareConfig, say) -> dict | None:
    """Features of the whole (small) corpus computed once, so no run spends its budget on the first epoch's I/O."""
    from data.librispeech import read_subsets

    from train.dataset import SpeechDataset, fill_cache
    from train.inputs import AUTO_CACHE_HOURS

    utts, _ = read_subsets(cfg.data, [*cfg.train_subsets, cfg.dev_subset], progress=False)
    if sum(u.duration for u in utts) > AUTO_CACHE_HOURS * 3600:
        return None  # the runs stream from disk, each the same way
    t0 = time.time()
    dataset = SpeechDataset(utts, cfg.stride, cache_features=True)
    fill_cache(dataset, workers=min(8, max(0, (os.cpu_count() or 1) - 1)))
    say(f"features of {len(utts)} utterances computed once for all runs in {time.time() - t0:.0f} s")
    return dataset.cache


def check_folder(folder: Path, run: Run) -> None:
    saved = folder / "config.json"
    if saved.exists() and json.loads(saved.read_text()).get("model") != asdict(run.model):
        raise ValueError(f"{folder} holds a run of another model configuration (other --params or --layers "
                         "than when it was trained?); use the same options, or another --out")


def train_stage(cfg: CompareConfig, runs: list[Run], results: dict, say=print) -> list[str]:
    """Train the runs not finished yet; returns the names of those trained now."""
    from train.distributed import pick_device
    from train.loop import train

    todo = [r for r in runs if not ((cfg.out / "runs" / r.name / "best.pt").exists()
                                    and (cfg.out / "runs" / r.name / DONE).exists())]
    for r in runs:
        if r not in todo:
            say(f"{r.name}: already trained, skipped")
    cache = _shared_cache(cfg, say) if todo else None
    for run in todo:
        folder = cfg.out / "runs" / run.name
        tc = _train_config(cfg, run, folder)
        say(f"== {run.name}: {run.cell} {run.model.layers}x{run.model.hidden}, "
            f"{parameter_count(run.model):,} parameters")
        result = train(tc, cache)
        done = {"device": describe_device(pick_device(cfg.device)), "minutes": round(result.minutes, 3),
                "epochs": result.epochs, "steps": result.steps, "best_dev_wer": result.best_dev_wer,
                "best_dev_cer": result.best_dev_cer, "train_hours": result.train_hours,
                "audio_s_per_s": median_throughput(read_log(folder)),
                "budget_minutes": cfg.budget_minutes, "max_epochs": tc.epochs}
        (folder / DONE).write_text(json.dumps(done, indent=1) + "\n")
        results["runs"][run.name]["train"] = done
        save_results(cfg.out, results)
    return [r.name for r in todo]
