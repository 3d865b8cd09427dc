"""`asr stream FILE`: a file played as if it were a microphone, chunk by chunk, through the
streaming recognizer, optionally paced in real time, with per-chunk compute statistics."""
from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from asr.audio import SAMPLE_RATE, iter_audio

from .recognizer import Recognizer, StreamConfig

if TYPE_CHECKING:
    from asr.model import AcousticModel

__all__ = ["StreamStats", "chunks_of", "stream_file"]


@dataclass(frozen=True)
class StreamStats:
    chunks: int
    audio_seconds: float
    compute_seconds: float
    p50_ms: float
    p95_ms: float
    peak_rss_mb: float

    @property
    def rtf(self) -> float:
        return self.compute_seconds / max(self.audio_seconds, 1e-9)

    def summary(self) -> str:
        return (f"{self.chunks} chunks, {self.audio_seconds:.1f} s of audio; per-chunk compute p50 {self.p50_ms:.2f} ms, "
                f"p95 {self.p95_ms:.2f} ms; real-time factor {self.rtf:.4f}; peak RSS {self.peak_rss_mb:.0f} MB")


def chunks_of(path: str | Path, chunk_samples: int) -> Iterator[np.ndarray]:
    """Fixed-size chunks of a file's 16 kHz audio (the last one may be shorter)."""
    rest = np.zeros(0, dtype=np.float32)
    for block in iter_audio(path, block_seconds=10.0):
        rest = np.concatenate([rest, block])
        n = len(rest) // chunk_samples * chunk_samples
        for i in range(0, n, chunk_samples):
            yield rest[i: i + chunk_samples]
        rest = rest[n:]
    if len(rest):
        yield rest


def stream_file(model: AcousticModel, path: str | Path, on_events: Callable[[list[dict]], None],
                chunk_ms: int = 100, realtime: bool = False, config: StreamConfig = StreamConfig(),
                beam=None) -> StreamStats:
    """Feed the file in `chunk_ms` chunks; every chunk's events go to `on_events` as they happen.
    `beam`: an asr.decode.beam.BeamSearch (default: greedy decoding)."""
    rec = Recognizer(model, config, beam)
    chunk = max(1, SAMPLE_RATE * chunk_ms // 1000)
    times, audio, start = [], 0.0, time.perf_counter()
    for pcm in chunks_of(path, chunk):
        if realtime:
            delay = start + audio - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        t0 = time.perf_counter()
        events = rec.feed_audio(pcm)
        times.append(time.perf_counter() - t0)
        audio += len(pcm) / SAMPLE_RATE
        on_events(events)
    t0 = time.perf_counter()
    on_events(rec.finish())
    times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return StreamStats(len(times), audio, float(np.sum(times)), float(np.percentile(ms, 50)),
                       float(np.percentile(ms, 95)), peak)
