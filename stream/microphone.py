"""Live microphone input with sounddevice (imported only here, so nothing else needs PortAudio).

The audio callback only copies each block into a queue; the model runs in the calling thread.
Devices that cannot record at 16 kHz are recorded at their native rate and resampled (soxr).
"""
from __future__ import annotations

import queue
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from asr.audio import SAMPLE_RATE

from .recognizer import Recognizer, StreamConfig

if TYPE_CHECKING:
    from asr.model import AcousticModel

__all__ = ["LiveError", "LiveConfig", "LiveStats", "list_input_devices", "run_live"]


class LiveError(Exception):
    """No PortAudio, no input device, or a device that cannot be opened: one line for the user."""


@dataclass(frozen=True)
class LiveConfig:
    device: str | int | None = None  # name (substring) or index; None: the default input
    chunk_ms: int = 100
    duration: float | None = None  # seconds of audio, then stop
    save_audio: Path | None = None  # also write the 16 kHz audio the recognizer heard (float WAV)
    stream: StreamConfig = StreamConfig()


@dataclass(frozen=True)
class LiveStats:
    seconds: float
    overflows: int
    device: str
    samplerate: int


def _sounddevice():
    try:
        import sounddevice as sd
    except OSError as e:  # raised when the PortAudio library itself is missing
        raise LiveError(f"PortAudio is not available ({e}); install it: sudo apt-get install libportaudio2") from None
    except ImportError:
        raise LiveError("the sounddevice package is not installed: pip install sounddevice") from None
    return sd


def list_input_devices() -> list[dict]:
    """Input devices: index, name, channels, default sample rate, and which one is the default."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default = sd.default.device[0]
    except sd.PortAudioError as e:
        raise LiveError(f"cannot list audio devices: {e}") from None
    return [{"index": i, "name": d["name"], "channels": d["max_input_channels"],
             "samplerate": int(d["default_samplerate"]), "default": i == default}
            for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def _pick_device(sd, device) -> tuple[int, dict]:
    inputs = list_input_devices()
    if not inputs:
        raise LiveError("no audio input device found (asr devices lists them)")
    if device is None:
        chosen = next((d for d in inputs if d["default"]), inputs[0])
    elif isinstance(device, int) or str(device).isdigit():
        chosen = next((d for d in inputs if d["index"] == int(device)), None)
    else:
        chosen = next((d for d in inputs if str(device).lower() in d["name"].lower()), None)
    if chosen is None:
        raise LiveError(f"no input device {device!r} (asr devices lists them)")
    try:
        sd.check_input_settings(chosen["index"], channels=1, samplerate=SAMPLE_RATE, dtype="float32")
        rate = SAMPLE_RATE
    except Exception:
        rate = chosen["samplerate"]
    return rate, chosen


def run_live(model: AcousticModel, cfg: LiveConfig, on_events: Callable[[list[dict]], None], beam=None) -> LiveStats:
    """Record and recognise until `cfg.duration` seconds of audio or Ctrl-C; the last final is flushed."""
    import soxr

    sd = _sounddevice()
    rate, dev = _pick_device(sd, cfg.device)
    blocks: queue.Queue = queue.Queue()
    overflows = [0]

    def callback(indata, frames, time_info, status):  # audio thread: copy and return
        if status.input_overflow:
            overflows[0] += 1
        blocks.put(indata[:, 0].copy())

    resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32") if rate != SAMPLE_RATE else None
    rec = Recognizer(model, cfg.stream, beam)  # beam: an asr.decode.beam.BeamSearch, or None for greedy
    fed = 0
    limit = None if cfg.duration is None else int(cfg.duration * SAMPLE_RATE)
    try:
        stream = sd.InputStream(device=dev["index"], channels=1, samplerate=rate, dtype="float32",
                                blocksize=max(1, rate * cfg.chunk_ms // 1000), callback=callback)
    except Exception as e:
        raise LiveError(f"cannot open input device {dev['name']!r}: {e}") from None
    try:
        with ExitStack() as stack:
            stack.enter_context(stream)
            saved = None
            if cfg.save_audio is not None:
                import soundfile as sf

                saved = stack.enter_context(sf.SoundFile(cfg.save_audio, "w", SAMPLE_RATE, 1, subtype="FLOAT"))
            while limit is None or fed < limit:
                try:
                    block = blocks.get(timeout=0.5)
                except queue.Empty:
                    continue
                pcm = resampler.resample_chunk(block) if resampler is not None else block
                if limit is not None:
                    pcm = pcm[: limit - fed]
                fed += len(pcm)
                pcm = np.ascontiguousarray(pcm, dtype=np.float32)
                if saved is not None:
                    saved.write(pcm)
                on_events(rec.feed_audio(pcm))
    except KeyboardInterrupt:
        pass
    finally:
        on_events(rec.finish())
    return LiveStats(fed / SAMPLE_RATE, overflows[0], dev["name"], rate)
