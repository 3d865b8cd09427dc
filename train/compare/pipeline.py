"""`asr compare`'s stages run in order (run_compare): GRU, LSTM and vanilla RNN trained and measured the same way,
and a report.

Stages (each can run alone, on another machine, and again):

- train: every run of the plan (train.compare.plan) in OUT/runs/<cell>-<p|h>-s<seed>/ with the same data,
  features, schedule and budget; a finished run (best.pt and done.json) is skipped, an interrupted one resumed.
  Imports nothing that needs a speech synthesiser, so it runs on a bare GPU machine.
- gradflow: gradient norm of the last output w.r.t. the input at each lag, trained and untrained (train.compare.gradflow).
- measure: on this machine's CPU, one thread: dev WER/CER (greedy and beam + LM), WER by utterance length, streaming RTF
  and per-chunk latency, checkpoint size (train.compare.measure).
- probe: keyword recall after a gap of faint noise, a classifier per cell and gap (train.compare.probe; espeak-ng).
- report: the Markdown report and its plots from OUT/results.json and the runs' log.csv (train.compare.report).

Every figure in OUT/results.json says on which device it was measured.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict

import torch

from .config import CompareConfig, command_line
from .plan import plan_runs
from .records import DONE, describe_device, load_results, save_results
from .run import check_folder, plan_entry, train_stage

__all__ = ["run_compare"]


def run_compare(cfg: CompareConfig, say=print) -> dict:
    """Run the chosen stages; returns the results (also in OUT/results.json)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    runs, same_hidden = plan_runs(cfg.params, cfg.seeds, cfg.base_model)
    cfg.out.mkdir(parents=True, exist_ok=True)
    for run in runs:
        check_folder(cfg.out / "runs" / run.name, run)
    results = load_results(cfg.out)
    results["config"] = json.loads(json.dumps(asdict(cfg), default=str))
    results.setdefault("invocations", []).append(
        {"command": command_line(cfg), "stages": list(cfg.stages), "date": time.strftime("%Y-%m-%d %H:%M"),
         "machine": describe_device("cpu")["name"], "cuda": torch.cuda.get_device_name() if torch.cuda.is_available()
         else None})
    old = results.get("runs", {})
    results["runs"] = {r.name: {**old.get(r.name, {}), **plan_entry(r)} for r in runs}
    for r in runs:  # training records of runs finished earlier (also when results.json was lost)
        done = cfg.out / "runs" / r.name / DONE
        if done.exists():
            results["runs"][r.name]["train"] = json.loads(done.read_text())
    results["same_hidden"] = {"hidden": runs[0].model.hidden, "runs": same_hidden}
    save_results(cfg.out, results)
    if "train" in cfg.stages:
        train_stage(cfg, runs, results, say)
    trained = [r for r in runs if (cfg.out / "runs" / r.name / DONE).exists()]  # finished: measured alike
    if "gradflow" in cfg.stages:
        from .gradflow import gradflow_stage

        results["gradflow"] = gradflow_stage(cfg, [r for r in trained if r.group == "matched" and r.seed == 0], say)
    if "measure" in cfg.stages:
        from .measure import measure_stage

        for name, measured in measure_stage(cfg, trained, say).items():
            results["runs"][name]["measure"] = measured
    if "probe" in cfg.stages:
        from .probe import probe_stage

        results["probe"] = probe_stage(cfg, say)
    save_results(cfg.out, results)
    if "report" in cfg.stages:
        from .report import write_report

        path = write_report(results, cfg.out, cfg.report)
        say(f"report: {path}")
    return results
