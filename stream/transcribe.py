"""Offline transcription of files of any length in bounded memory: blocks of audio go through the
streaming recognizer (stream/), so a file's transcript is by construction the joined finals of a
live stream of the same audio, and a one-hour file never sits in memory whole."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from asr.audio import SAMPLE_RATE, iter_audio
from asr.decode.words import utterance_confidence

if TYPE_CHECKING:  # not imported at run time: an asr.runtime.lite model transcribes without torch
    from asr.decode.beam import BeamSearch
    from asr.model import AcousticModel

__all__ = ["Transcript", "transcribe_file"]


@dataclass(frozen=True)
class Transcript:
    file: str
    text: str
    duration: float  # seconds of audio
    segments: tuple[dict, ...] = field(default=(), repr=False)  # the finals: text, start, end, words, confidence

    @property
    def words(self) -> list[dict]:
        """[{word, start, end, confidence}] over the whole file."""
        return [w for s in self.segments for w in s["words"]]

    def as_dict(self) -> dict:
        return {"file": self.file, "text": self.text, "duration": round(self.duration, 3),
                "confidence": utterance_confidence(self.words), "words": self.words,
                "segments": [{k: s[k] for k in ("text", "start", "end", "confidence")} for s in self.segments]}


def transcribe_file(model: AcousticModel, path: str | Path, block_seconds: float = 30.0,
                    beam: BeamSearch | None = None, config=None) -> Transcript:
    """Transcript of one file, greedy or with `beam` (config: a stream.StreamConfig, for endpointing
    and the emission delay). Raises asr.audio.AudioError for unreadable input."""
    from .recognizer import StreamConfig, finish, initial_stream_state, step

    config = config or StreamConfig()
    state, finals = initial_stream_state(model, beam), []
    for block in iter_audio(path, block_seconds):
        state, events = step(model, state, block, config)
        finals += [e for e in events if e["type"] == "final"]
    state, events = finish(model, state, config)
    finals += [e for e in events if e["type"] == "final"]
    text = " ".join(e["text"] for e in finals if e["text"])
    return Transcript(str(path), text, state.encoder.samples_seen / SAMPLE_RATE, tuple(finals))
