"""`asr compare`: GRU, LSTM and vanilla RNN trained and measured the same way, and a report.

Modules import in one direction, each only from those before it:

    config (CompareConfig, the stages) -> plan (the runs, matched parameter counts) -> records (results.json,
    log.csv, the device) -> run (the train stage) -> gradflow, measure, probe (the measuring stages) -> claims
    (what the numbers say) -> plots -> report -> pipeline (run_compare: the stages in order)

The package may import asr (core, decode, runtime, and asr.cli.benchmarks for the streaming measurement), data and
train; nothing in asr's core imports it.
"""
from .config import STAGES, CompareConfig
from .pipeline import run_compare

__all__ = ["STAGES", "CompareConfig", "run_compare"]
