"""Turning whatever an application hands us into clean 16 kHz float32 samples.

Accepted: bytes/bytearray/memoryview of little-endian int16 (an odd trailing byte is carried to
the next chunk, so a byte stream may be split anywhere), numpy int16 (scaled by 1/32768), numpy
float32/float64 and torch float tensors (taken as [-1, 1]). NaN and infinite samples become 0 and
are counted; samples outside [-1, 1] are clipped and counted. Multi-channel arrays (T x C) are
averaged. Anything else raises TypeError before any state changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PcmStats", "CLEAN", "to_float_pcm"]


@dataclass(frozen=True)
class PcmStats:
    nonfinite: int = 0  # NaN/inf samples replaced by 0
    clipped: int = 0  # samples outside [-1, 1] clipped

    def __add__(self, other: "PcmStats") -> "PcmStats":
        if other is CLEAN:  # the usual chunk: no new object
            return self
        return PcmStats(self.nonfinite + other.nonfinite, self.clipped + other.clipped)


CLEAN = PcmStats()  # nothing sanitised


def to_float_pcm(data, carry: bytes = b"") -> tuple[np.ndarray, bytes, PcmStats]:
    """-> (float32 numpy samples (N,), bytes to carry to the next chunk, what was sanitised)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = carry + bytes(data)
        usable = len(raw) - len(raw) % 2
        x = np.frombuffer(raw[:usable], dtype="<i2").astype(np.float32) / 32768.0
        return x, raw[usable:], CLEAN
    if carry:
        raise TypeError("int16 bytes with an odd length were fed before; continue with bytes")
    if type(data).__module__ == "torch" and type(data).__name__ == "Tensor":  # without importing torch
        data = data.detach().cpu().numpy()
    if not isinstance(data, np.ndarray):
        raise TypeError(f"audio must be bytes, a numpy array or a torch tensor, not {type(data).__name__}")
    if data.ndim == 2:
        data = data.mean(axis=1) if data.dtype.kind == "f" else data.astype(np.float32).mean(axis=1)
    if data.ndim != 1:
        raise TypeError(f"audio must be 1-D (samples) or 2-D (samples x channels), not {data.ndim}-D")
    if data.dtype == np.int16:
        return data.astype(np.float32) / 32768.0, b"", CLEAN
    if data.dtype.kind != "f":
        raise TypeError(f"audio samples must be int16 or float, not {data.dtype}")
    x = data.astype(np.float32, copy=True)
    if not len(x) or np.abs(x).max() <= 1.0:  # the usual case in one pass (NaN fails the comparison)
        return x, b"", CLEAN
    bad = ~np.isfinite(x)
    nonfinite = int(bad.sum())
    if nonfinite:
        x[bad] = 0.0
    over = np.abs(x) > 1.0
    clipped = int(over.sum())
    if clipped:
        np.clip(x, -1.0, 1.0, out=x)
    return x, b"", PcmStats(nonfinite, clipped)
