"""Audio input: constants of the front end, whole-file loading and bounded-memory block reading.

Everything the recognizer sees is 16 kHz mono float32 in [-1, 1]. Files of any sample rate
and channel count are downmixed (mean of channels) and resampled with soxr.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms window
HOP_LENGTH = 160  # 10 ms hop
N_MELS = 80
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_LENGTH
# floor of the mel power before the log: log 4e-8 = -17.0, under the quietest values of real recordings (about
# -16 at their 0.1 % quantile) and over digital silence, which without it sits at log 1e-10 = -23, a value that no
# microphone gives and that synthetic speech has between its words. With the old floor, version 14 misheard
# 69 % of single words set between digital zeros; with this one, 30 % (docs/default-model.md, "Digital silence
# and joined words"). Everything above -17 is as before: models trained with 1e-10 keep their figures.
LOG_FLOOR = 4e-8

__all__ = [
    "SAMPLE_RATE", "N_FFT", "HOP_LENGTH", "N_MELS", "FRAMES_PER_SECOND", "LOG_FLOOR", "num_frames",
    "AudioError", "load_audio", "iter_audio", "audio_duration",
]


def num_frames(num_samples: int) -> int:
    """Feature frames that `num_samples` samples give with center=False."""
    return 0 if num_samples < N_FFT else 1 + (num_samples - N_FFT) // HOP_LENGTH


class AudioError(Exception):
    """A file that cannot be read as audio; the message is one line for the user."""


def _open_soundfile(path: Path):
    import soundfile as sf

    try:
        return sf.SoundFile(str(path))
    except sf.LibsndfileError:
        return None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")


def _to_mono(block: np.ndarray) -> np.ndarray:
    # block: T x C (soundfile always_2d) -> T
    return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]


def _sanitise(x: np.ndarray, path: Path) -> np.ndarray:
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    return np.clip(x, -1.0, 1.0, out=x)


def _load_with_librosa(path: Path) -> np.ndarray:
    """Fallback for formats libsndfile cannot read (e.g. some MP3/M4A): decoded whole via audioread/ffmpeg."""
    import warnings

    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, _ = librosa.load(str(path), sr=SAMPLE_RATE, mono=True, dtype=np.float32)
    except Exception:  # librosa raises many unrelated types for undecodable input
        raise AudioError(f"{path}: not a readable audio file (unknown or unsupported format)") from None
    return x


def iter_audio(path: str | Path, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 blocks of about `block_seconds` each; memory stays bounded.

    Raises AudioError (possibly after some blocks were yielded, e.g. for a truncated FLAC).
    """
    import soundfile as sf

    path = Path(path)
    _check_file(path)
    f = _open_soundfile(path)
    if f is None:
        yield _sanitise(_load_with_librosa(path), path)
        return
    with f:
        resampler = None
        if f.samplerate != SAMPLE_RATE:
            import soxr  # only when resampling: 16 kHz corpora load without it (e.g. on a bare GPU machine)

            resampler = soxr.ResampleStream(f.samplerate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        block_frames = max(1, int(block_seconds * f.samplerate))
        while True:
            try:
                block = f.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                raise AudioError(f"{path}: corrupt or truncated audio ({e})") from None
            last = len(block) < block_frames
            mono = _to_mono(block)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield _sanitise(np.ascontiguousarray(mono, dtype=np.float32), path)
            if last:
                return


def load_audio(path: str | Path) -> np.ndarray:
    """Whole file as 16 kHz mono float32 (T,). Raises AudioError with a one-line reason."""
    blocks = list(iter_audio(path))
    if not blocks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(blocks)


def audio_duration(path: str | Path) -> float:
    """Duration in seconds from the header when possible (no decoding)."""
    path = Path(path)
    _check_file(path)
    f = _open_soundfile(path)
    if f is None:
        return len(_load_with_librosa(path)) / SAMPLE_RATE
    with f:
        return f.frames / f.samplerate
