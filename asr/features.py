"""Log-mel features (torchaudio) and the global mean/variance normaliser that lives inside the model.

Frames are computed with center=False: frame i covers samples [i*HOP, i*HOP + N_FFT), so a stream
can carry the leftover samples to the next chunk and produce exactly the frames of the whole file.
"""
from __future__ import annotations

import torch
import torchaudio
from torch import nn

from .audio import HOP_LENGTH, LOG_FLOOR, N_FFT, N_MELS, SAMPLE_RATE, num_frames

__all__ = ["LOG_FLOOR", "LogMel", "Normalizer", "num_frames", "feature_lengths"]


def feature_lengths(sample_lens: torch.Tensor) -> torch.Tensor:
    return torch.where(sample_lens < N_FFT, 0, 1 + (sample_lens - N_FFT).div(HOP_LENGTH, rounding_mode="floor"))


class LogMel(nn.Module):
    """Waveform B x N (16 kHz, float) -> log-mel B x T x N_MELS."""

    def __init__(self) -> None:
        super().__init__()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=N_FFT, win_length=N_FFT, hop_length=HOP_LENGTH,
            n_mels=N_MELS, center=False, power=2.0,
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.shape[-1] < N_FFT:
            return wave.new_zeros(*wave.shape[:-1], 0, N_MELS)
        # what self.mel(wave) computes (stft, center=False, |X|^2, mel matrix), in five tensor operations with
        # torchaudio's window and filterbank: on a streaming chunk its wrappers cost more than the arithmetic
        frames = wave.unfold(-1, N_FFT, HOP_LENGTH) * self.mel.spectrogram.window  # B x T x N_FFT
        power = torch.view_as_real(torch.fft.rfft(frames)).square().sum(-1)  # B x T x (N_FFT/2 + 1)
        return torch.log((power @ self.mel.mel_scale.fb).clamp_min(LOG_FLOOR))  # B x T x N_MELS


class Normalizer(nn.Module):
    """(x - mean) / std with global statistics computed on the training set (never per utterance)."""

    def __init__(self, dim: int = N_MELS) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-5))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std
