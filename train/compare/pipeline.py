"""`asr compare`: GRU, LSTM and vanilla RNN trained and measured the same way, and a report.

Stages (each can run alone, on another machine, and again):

- train: every run of the plan (train.compare_plan) in OUT/runs/<cell>-<p|h>-s<seed>/ with the same data,
  features, schedule and budget; a finished run (best.pt and done.json) is skipped, an interrupted one resumed.
  Imports nothing that needs a speech synthesiser, so it runs on a bare GPU machine.
- gradflow: gradient norm of the last output w.r.t. the input at each lag, trained and untrained (train.grad_flow).
- measure: on this machine's CPU, one thread: dev WER/CER (greedy and beam + LM), WER by utterance length, streaming RTF
  and per-chunk latency, checkpoint size (train.compare_measure).
- probe: keyword recall after a gap of faint noise, a classifier per cell and gap (train.keyword_probe; espeak-ng).
- report: the Markdown report and its plots from OUT/results.json and the runs' log.csv (train.compare_report).

Every figure in OUT/results.json says on which device it was measured.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from asr.model import ModelConfig

from .compare_plan import Run, macs_per_audio_second, parameter_count, plan_runs

__all__ = ["STAGES", "CompareConfig", "run_compare", "describe_device", "load_results", "command_line", "read_log",
           "median_throughput"]

STAGES = ("train", "gradflow", "measure", "probe", "report")
RESULTS = "results.json"
DONE = "done.json"  # written into a run folder when its training finished


@dataclass(frozen=True)
class CompareConfig:
    data: Path
    train_subsets: tuple[str, ...]
    dev_subset: str
    out: Path
    params: int = 1_000_000  # parameter budget of the matched runs
    layers: int = 3
    stride: int = 3
    lookahead: int = 1
    dropout: float = 0.1
    seeds: int = 2  # seeds of the matched runs; the same-hidden runs use seed 0
    budget_minutes: float | None = None  # minutes of training per run (dev evaluations not counted) ...
    epochs: int | None = None  # ... or epochs per run; neither: 10 epochs
    evals_per_run: int = 10  # dev evaluations spread over a wall-clock budget (the learning curves)
    batch_seconds: float = 200.0
    lr: float = 2e-3
    warmup_steps: int = 100
    device: str = "auto"  # training and gradient flow; measure and probe always use the CPU
    threads: int | None = None  # torch threads for training and gradient flow on the CPU
    stages: tuple[str, ...] = STAGES
    report: Path = Path("docs/comparison.md")  # PNGs go next to it
    chunk_ms: int = 100  # streaming measurement
    stream_seconds: float = 60.0  # audio streamed per run
    probe_gaps: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds of faint noise after the keyword
    probe_scale: float = 1.0  # fraction of the probe's default clips and epochs (tiny for tests)
    probe_params: int = 40_000  # parameter budget of each probe classifier

    def __post_init__(self) -> None:
        unknown = set(self.stages) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
        if self.budget_minutes is not None and self.epochs is not None:
            raise ValueError("give --budget-minutes or --epochs, not both")

    @property
    def base_model(self) -> ModelConfig:
        return ModelConfig(layers=self.layers, stride=self.stride, lookahead=self.lookahead, dropout=self.dropout)


def command_line(cfg: CompareConfig) -> str:
    """The `asr compare` command for this configuration (options at their defaults left out)."""
    default = CompareConfig(data=cfg.data, train_subsets=cfg.train_subsets, dev_subset=cfg.dev_subset, out=cfg.out)
    parts = ["asr compare", f"--data {cfg.data}", f"--train {','.join(cfg.train_subsets)}", f"--dev {cfg.dev_subset}"]
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in ("data", "train_subsets", "dev_subset", "out") or value == getattr(default, f.name):
            continue
        if isinstance(value, tuple):
            value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
        parts.append(f"--{f.name.replace('_', '-')} {value}")
    return " ".join(parts + [f"--out {cfg.out}"])


def describe_device(device: torch.device | str) -> dict:
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                        if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
    return {"device": device.type, "name": name, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__}


def read_log(run_dir: Path) -> list[dict]:
    """A run's log.csv as numbers (one row per dev evaluation, on the dev subset that chose the model: the first)."""
    path = Path(run_dir) / "log.csv"
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    first = rows[0].get("dev_subset") if rows else None
    return [{k: float(v) for k, v in row.items() if v not in ("", None) and k != "dev_subset"}
            for row in rows if row.get("dev_subset") == first]


def median_throughput(rows: list[dict]) -> float | None:
    """Median over epochs of the audio seconds trained per second (each epoch's last row: the rate over all of
    its training so far, evaluation time excluded)."""
    last = {int(r["epoch"]): r["audio_s_per_s"] for r in rows}
    return round(statistics.median(last.values()), 1) if last else None


def load_results(out: Path) -> dict:
    path = Path(out) / RESULTS
    return json.loads(path.read_text()) if path.exists() else {}


def _save_results(out: Path, results: dict) -> None:
    path = Path(out) / RESULTS
    tmp = path.with_name(f".{RESULTS}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)


def _plan_entry(run: Run) -> dict:
    return {"cell": run.cell, "group": run.group, "seed": run.seed, "hidden": run.model.hidden,
            "layers": run.model.layers, "params": parameter_count(run.model),
            "macs_per_audio_s": macs_per_audio_second(run.model)}


def _train_config(cfg: CompareConfig, run: Run, folder: Path):
    from .config import TrainConfig
    from .state import STATE_NAME

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

    from .dataset import SpeechDataset, fill_cache
    from .inputs import AUTO_CACHE_HOURS

    utts, _ = read_subsets(cfg.data, [*cfg.train_subsets, cfg.dev_subset], progress=False)
    if sum(u.duration for u in utts) > AUTO_CACHE_HOURS * 3600:
        return None  # the runs stream from disk, each the same way
    t0 = time.time()
    dataset = SpeechDataset(utts, cfg.stride, cache_features=True)
    fill_cache(dataset, workers=min(8, max(0, (os.cpu_count() or 1) - 1)))
    say(f"features of {len(utts)} utterances computed once for all runs in {time.time() - t0:.0f} s")
    return dataset.cache


def _check_folder(folder: Path, run: Run) -> None:
    saved = folder / "config.json"
    if saved.exists() and json.loads(saved.read_text()).get("model") != asdict(run.model):
        raise ValueError(f"{folder} holds a run of another model configuration (other --params or --layers "
                         "than when it was trained?); use the same options, or another --out")


def train_stage(cfg: CompareConfig, runs: list[Run], results: dict, say=print) -> list[str]:
    """Train the runs not finished yet; returns the names of those trained now."""
    from .distributed import pick_device
    from .loop import train

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
        _save_results(cfg.out, results)
    return [r.name for r in todo]


def run_compare(cfg: CompareConfig, say=print) -> dict:
    """Run the chosen stages; returns the results (also in OUT/results.json)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    runs, same_hidden = plan_runs(cfg.params, cfg.seeds, cfg.base_model)
    cfg.out.mkdir(parents=True, exist_ok=True)
    for run in runs:
        _check_folder(cfg.out / "runs" / run.name, run)
    results = load_results(cfg.out)
    results["config"] = json.loads(json.dumps(asdict(cfg), default=str))
    results.setdefault("invocations", []).append(
        {"command": command_line(cfg), "stages": list(cfg.stages), "date": time.strftime("%Y-%m-%d %H:%M"),
         "machine": describe_device("cpu")["name"], "cuda": torch.cuda.get_device_name() if torch.cuda.is_available()
         else None})
    old = results.get("runs", {})
    results["runs"] = {r.name: {**old.get(r.name, {}), **_plan_entry(r)} for r in runs}
    for r in runs:  # training records of runs finished earlier (also when results.json was lost)
        done = cfg.out / "runs" / r.name / DONE
        if done.exists():
            results["runs"][r.name]["train"] = json.loads(done.read_text())
    results["same_hidden"] = {"hidden": runs[0].model.hidden, "runs": same_hidden}
    _save_results(cfg.out, results)
    if "train" in cfg.stages:
        train_stage(cfg, runs, results, say)
    trained = [r for r in runs if (cfg.out / "runs" / r.name / DONE).exists()]  # finished: measured alike
    if "gradflow" in cfg.stages:
        from .grad_flow import gradflow_stage

        results["gradflow"] = gradflow_stage(cfg, [r for r in trained if r.group == "matched" and r.seed == 0], say)
    if "measure" in cfg.stages:
        from .compare_measure import measure_stage

        for name, measured in measure_stage(cfg, trained, say).items():
            results["runs"][name]["measure"] = measured
    if "probe" in cfg.stages:
        from .keyword_probe import probe_stage

        results["probe"] = probe_stage(cfg, say)
    _save_results(cfg.out, results)
    if "report" in cfg.stages:
        from .compare_report import write_report

        path = write_report(results, cfg.out, cfg.report)
        say(f"report: {path}")
    return results
