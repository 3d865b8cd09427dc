"""Training state for --resume: RUN_DIR/train_state.pt, a plain dict (model, optimizer, scheduler,
scaler, step, epoch, position in the epoch, RNG states, partial-epoch sums, best dev WER),
loadable with torch.load(weights_only=True).

Every save is atomic: written to a temporary file in the same folder, flushed to disk, then
renamed over the old one, so a run killed (even with SIGKILL) in the middle of a save leaves
the previous complete state behind, never a truncated file.
"""
from __future__ import annotations

import random
from pathlib import Path

import torch

from asr.checkpoint import atomic_save  # re-exported: training state uses the same atomic writer

__all__ = ["STATE_NAME", "StateError", "atomic_save", "load_state", "rng_state", "set_rng_state"]

STATE_NAME = "train_state.pt"
STATE_VERSION = 1


class StateError(Exception):
    """A training state that cannot be resumed from; the message is one line for the user."""


def load_state(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise StateError(f"{path}: no training state to resume from")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and unpickling errors all mean "not usable"
        raise StateError(f"{path}: not a readable training state ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise StateError(f"{path}: not a training state of this version")
    return state


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
