"""Run folder logs (rank 0 only): RUN_DIR/config.json, RUN_DIR/log.csv with one row per evaluation,
and TensorBoard event files in RUN_DIR/tb when the tensorboard package is installed."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

__all__ = ["COLUMNS", "RunLog", "write_config"]

COLUMNS = ["epoch", "step", "minutes", "train_loss", "dev_loss", "dev_wer", "dev_cer", "lr", "audio_s_per_s",
           "skipped", "dev_subset"]  # one row per dev subset at each evaluation


def write_config(out: Path, cfg) -> None:
    (out / "config.json").write_text(json.dumps(asdict(cfg), default=str, indent=2))


class RunLog:
    def __init__(self, out: Path, resume_epoch: int | None = None) -> None:
        """resume_epoch: keep the rows of the epochs before it (a resumed run redoes that epoch)."""
        self.path = out / "log.csv"
        rows = []
        if resume_epoch is not None and self.path.exists():
            with self.path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) < resume_epoch]
        with self.path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tb"))
        except ImportError:  # tensorboard is optional
            pass

    def row(self, values: dict) -> None:
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, COLUMNS, extrasaction="ignore").writerow(values)
        if self.tb is not None:
            for k in ("train_loss", "dev_loss", "dev_wer", "dev_cer", "lr", "audio_s_per_s"):
                if isinstance(values.get(k), (int, float)):
                    self.tb.add_scalar(k, values[k], values["step"])
            self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
