"""What `asr compare` is told: CompareConfig (its fields are the command's options) and the stages."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from asr.model import ModelConfig

__all__ = ["STAGES", "CompareConfig", "command_line"]

STAGES = ("train", "gradflow", "measure", "probe", "report")


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
