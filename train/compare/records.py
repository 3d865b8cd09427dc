"""What every stage of `asr compare` reads and writes: OUT/results.json, a run's log.csv, the device a figure
was measured on."""
from __future__ import annotations

import csv
import json
import os
import platform
import statistics
from pathlib import Path

import torch

__all__ = ["RESULTS", "DONE", "describe_device", "read_log", "median_throughput", "load_results", "save_results"]

RESULTS = "results.json"
DONE = "done.json"  # written into a run folder when its training finished


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


def save_results(out: Path, results: dict) -> None:
    path = Path(out) / RESULTS
    tmp = path.with_name(f".{RESULTS}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp, path)
