"""Offline transcription of files of any length in bounded memory: blocks of audio go through the
same incremental encoder a stream uses, so a one-hour file never sits in memory whole."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .audio import SAMPLE_RATE, iter_audio
from .decoding import greedy_step
from .incremental import encode_chunk, initial_state
from .model import AcousticModel
from .vocab import BLANK

__all__ = ["Transcript", "transcribe_file"]


@dataclass(frozen=True)
class Transcript:
    file: str
    text: str
    duration: float  # seconds of audio

    def as_dict(self) -> dict:
        return {"file": self.file, "text": self.text, "duration": round(self.duration, 3)}


def transcribe_file(model: AcousticModel, path: str | Path, block_seconds: float = 30.0) -> Transcript:
    """Greedy transcript of one file. Raises asr.audio.AudioError for unreadable input."""
    state = initial_state(model)
    prev, pieces = BLANK, []
    for block in iter_audio(path, block_seconds):
        state, log_probs = encode_chunk(model, state, torch.from_numpy(block))
        text, prev = greedy_step(log_probs, prev)
        pieces.append(text)
    state, log_probs = encode_chunk(model, state, torch.zeros(0), final=True)
    pieces.append(greedy_step(log_probs, prev)[0])
    return Transcript(str(path), " ".join("".join(pieces).split()), state.samples_seen / SAMPLE_RATE)
