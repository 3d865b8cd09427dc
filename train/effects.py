"""Waveform effects for training augmentation: pure functions of a 16 kHz mono float32 wave (N,)
and the values drawn for them (WaveAugment in augment.py does the drawing, from the utterance's
generator). Every effect keeps the length and returns values in [-1, 1]."""
from __future__ import annotations

import math

import numpy as np
import soxr
import torch
import torchaudio.functional as AF

from asr.audio import SAMPLE_RATE

__all__ = ["COLORS", "pitch_shift", "phase_vocoder", "fft_convolve", "colored_noise", "mix_at_snr", "telephone",
           "apply_gain"]

# power spectral density ~ f ** -exponent: white flat, pink -3 dB/octave, brown -6 dB/octave
COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}
NOISE_FLOOR_HZ = 20.0  # below this the coloured spectrum is held flat (no huge sub-audio drift)
PV_FFT, PV_HOP = 512, 128  # phase vocoder of the pitch shift (32 ms / 8 ms at 16 kHz)
PHONE_RATE = 8000
PHONE_BAND = (300.0, 3400.0)


def _fit(x: torch.Tensor, n: int) -> torch.Tensor:
    """Trim or zero-pad to exactly n samples."""
    return x[:n] if len(x) >= n else torch.nn.functional.pad(x, (0, n - len(x)))


def _resample(x: torch.Tensor, rate_in: float, rate_out: float) -> torch.Tensor:
    """soxr at any (non-integer) ratio; torchaudio's resample builds a kernel of size ~ rate / gcd."""
    return torch.from_numpy(np.ascontiguousarray(soxr.resample(x.numpy(), rate_in, rate_out), dtype=np.float32))


def _fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (FFT sizes with large prime factors are several times slower)."""
    best, p5 = 1 << max(n - 1, 0).bit_length(), 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 * (1 << max(0, (-(-n // p35) - 1).bit_length()))  # times the smallest power of 2 reaching n
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Full linear convolution (len(x) + len(h) - 1), as torchaudio's fftconvolve, at a fast FFT size."""
    n = len(x) + len(h) - 1
    size = _fast_len(n)
    return torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(h, size), size)[:n]


def phase_vocoder(spec: torch.Tensor, rate: float, hop: int) -> torch.Tensor:
    """F x T complex STFT -> F x ceil(T / rate): torchaudio.functional.phase_vocoder's result at about
    half its cost (real-valued atan2/hypot/cos/sin on contiguous time-major tensors instead of
    complex angle/abs/polar)."""
    z = torch.view_as_real(spec.transpose(0, 1).contiguous())  # T x F x 2
    re, im = z[..., 0].contiguous(), z[..., 1].contiguous()
    ang = torch.nn.functional.pad(torch.atan2(im, re), (0, 0, 0, 2))  # T+2 x F
    mag = torch.nn.functional.pad(torch.hypot(re, im), (0, 0, 0, 2))
    t = torch.arange(0, spec.shape[1], rate)
    i0 = t.long()
    alpha = (t - i0)[:, None]  # T' x 1
    advance = torch.linspace(0, math.pi * hop, spec.shape[0], dtype=torch.float64)  # per hop, F
    wrapped = torch.remainder(advance, 2 * math.pi).float()  # same phases, small running sum
    advance = advance.float()
    dphi = ang.index_select(0, i0 + 1) - ang.index_select(0, i0) - advance
    dphi = dphi - 2 * math.pi * torch.round(dphi / (2 * math.pi)) + wrapped
    phase = torch.cat([ang[:1], dphi[:-1]], 0).cumsum(0)  # T' x F
    m0 = mag.index_select(0, i0)
    m = m0 + alpha * (mag.index_select(0, i0 + 1) - m0)
    return torch.complex(m * phase.cos(), m * phase.sin()).transpose(0, 1)


def pitch_shift(wave: torch.Tensor, semitones: float) -> torch.Tensor:
    """Pitch (and formants) moved by `semitones`, tempo kept: a phase-vocoder time stretch by the
    ratio, then resampling by its inverse (what torchaudio's pitch_shift does, with soxr, which
    handles any ratio at a fixed cost)."""
    n = len(wave)
    ratio = 2.0 ** (semitones / 12)
    if n < PV_FFT or ratio == 1.0:
        return wave
    window = torch.hann_window(PV_FFT)
    spec = torch.stft(wave, PV_FFT, PV_HOP, window=window, return_complex=True)  # F x T
    longer = torch.istft(phase_vocoder(spec, 1.0 / ratio, PV_HOP), PV_FFT, PV_HOP, window=window,
                         length=round(n * ratio))  # duration x ratio
    return _fit(_resample(longer, SAMPLE_RATE * ratio, SAMPLE_RATE), n).clamp(-1.0, 1.0)


def colored_noise(n: int, color: str, g: torch.Generator) -> torch.Tensor:
    """n samples of white, pink or brown Gaussian noise (white noise shaped in the frequency domain),
    unit RMS."""
    exponent = COLORS[color]
    size = _fast_len(n) if exponent else n  # shaped at a fast FFT size, then cut
    x = torch.randn(size, generator=g)
    if exponent and n > 1:
        spec = torch.fft.rfft(x)
        f = torch.fft.rfftfreq(size, 1.0 / SAMPLE_RATE).clamp_min(NOISE_FLOOR_HZ)
        spec = spec * f.pow(-exponent / 2)
        spec[0] = 0
        x = torch.fft.irfft(spec, size)[:n]
    return x / x.pow(2).mean().sqrt().clamp_min(1e-12)


def mix_at_snr(wave: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """wave + noise scaled so that mean(wave^2) / mean(scaled noise^2) is `snr_db`, clipped to [-1, 1].
    A silent wave or silent noise comes back unchanged."""
    p_speech, p_noise = wave.pow(2).mean(), noise.pow(2).mean()
    if len(wave) == 0 or p_speech <= 0 or p_noise <= 0:
        return wave
    return (wave + noise * torch.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))).clamp(-1.0, 1.0)


def telephone(wave: torch.Tensor, bandpass: bool = False, mu_law: bool = False) -> torch.Tensor:
    """Down to 8 kHz and back (nothing left above 4 kHz); optionally the 300-3400 Hz voice band and
    a mu-law (G.711, 8 bit) companding round trip at 8 kHz."""
    n = len(wave)
    if n == 0:
        return wave
    x = _resample(wave, SAMPLE_RATE, PHONE_RATE)
    if bandpass:
        x = AF.lowpass_biquad(AF.highpass_biquad(x, PHONE_RATE, PHONE_BAND[0]), PHONE_RATE, PHONE_BAND[1])
    if mu_law:
        x = AF.mu_law_decoding(AF.mu_law_encoding(x.clamp(-1.0, 1.0), 256), 256)
    return _fit(_resample(x, PHONE_RATE, SAMPLE_RATE), n).clamp(-1.0, 1.0)


def apply_gain(wave: torch.Tensor, db: float) -> torch.Tensor:
    return (wave * 10 ** (db / 20)).clamp(-1.0, 1.0)
