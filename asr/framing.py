"""What crosses chunk boundaries before the network: samples not yet making a feature frame, and
feature frames not yet making a stacked model frame. Shared by `asr.runtime.incremental` (torch models)
and `asr.runtime.lite` (the int8 runtime without torch); numpy only."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .audio import HOP_LENGTH, N_FFT, num_frames

__all__ = ["FEATURE_BLOCK", "logmel_in_blocks", "feature_step"]

FEATURE_BLOCK = 256  # feature frames per FFT call


def logmel_in_blocks(samples: np.ndarray, logmel: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """All log-mel frames of `samples` (len >= N_FFT) by `logmel(samples, n)` (the first n frames),
    in pieces of FEATURE_BLOCK frames so that a long block (offline files) keeps the FFT's
    temporaries small."""
    n = num_frames(len(samples))
    step = FEATURE_BLOCK * HOP_LENGTH
    pieces = [samples[i: i + step + N_FFT - HOP_LENGTH] for i in range(0, n * HOP_LENGTH, step)]
    return np.concatenate([logmel(p, num_frames(len(p))) for p in pieces])


def feature_step(samples: np.ndarray, frames: np.ndarray, new: np.ndarray, pending: int, stride: int,
                 lookahead: int, final: bool, logmel: Callable[[np.ndarray, int], np.ndarray]):
    """Carried samples and feature frames plus `new` samples -> (stacked-ready feature frames m x
    n_mels (m a multiple of stride) or None, samples to carry, frames to carry). None: no output
    frame is due yet (`pending` embedded frames wait for their lookahead): the samples are kept
    and their features computed when one is, so a 20 ms chunk costs an append."""
    buf = np.concatenate([samples, new.astype(np.float32, copy=False)])
    n = num_frames(len(buf))
    if not final and pending + (frames.shape[0] + n) // stride <= lookahead:
        return None, buf, frames
    if n:
        feats = logmel_in_blocks(buf[: (n - 1) * HOP_LENGTH + N_FFT], logmel)
        buf = buf[n * HOP_LENGTH:]
        frames = np.concatenate([frames, feats]) if len(frames) else feats
    m = frames.shape[0] // stride * stride
    return frames[:m], buf.copy(), frames[m:].copy()
