"""On-the-fly augmentation: speed perturbation, additive noise and reverberation on the waveform
(in the data workers, one seeded generator per utterance so a resumed run sees the same audio),
and SpecAugment on the batch of features (in the training loop)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
import torchaudio
import torchaudio.functional as AF

from asr.audio import AudioError, load_audio

__all__ = ["SPEEDS", "AUDIO_SUFFIXES", "WaveAugment", "list_audio", "spec_augment"]

SPEEDS = (0.9, 1.0, 1.1)
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
# speed s: read the samples as if recorded at s * 16 kHz and resample back to 16 kHz (pitch and tempo change)
_RESAMPLE = {0.9: (9, 10), 1.1: (11, 10)}


def list_audio(folder: Path | None) -> list[Path]:
    """Audio files under `folder`, recursively, sorted (empty for None). An empty folder is an error."""
    if folder is None:
        return []
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no audio files (wav/flac/ogg/mp3) under {folder}")
    return files


@lru_cache(maxsize=64)
def _load_cached(path: Path) -> torch.Tensor | None:
    try:
        x = torch.from_numpy(load_audio(path))
    except AudioError:
        return None
    return x if len(x) else None


class WaveAugment:
    """wave (N,) float32 16 kHz, generator, speed -> augmented wave. The speed is chosen by the batch
    sampler (it must know the perturbed durations); noise and reverberation are drawn here."""

    def __init__(self, speed: bool = False, noises: list[Path] = (), rirs: list[Path] = (),
                 snr: tuple[float, float] = (5.0, 20.0), noise_prob: float = 0.5, rir_prob: float = 0.5) -> None:
        self.speed, self.noises, self.rirs = speed, list(noises), list(rirs)
        self.snr, self.noise_prob, self.rir_prob = snr, noise_prob, rir_prob

    @property
    def active(self) -> bool:
        return self.speed or bool(self.noises) or bool(self.rirs)

    def __call__(self, wave: torch.Tensor, g: torch.Generator, speed: float = 1.0) -> torch.Tensor:
        if self.speed and speed != 1.0:
            wave = AF.resample(wave, *_RESAMPLE[speed])
        if self.rirs and float(torch.rand(1, generator=g)) < self.rir_prob:
            wave = self._reverberate(wave, self.rirs[int(torch.randint(len(self.rirs), (1,), generator=g))])
        if self.noises and float(torch.rand(1, generator=g)) < self.noise_prob:
            wave = self._add_noise(wave, self.noises[int(torch.randint(len(self.noises), (1,), generator=g))], g)
        return wave

    def _reverberate(self, wave: torch.Tensor, path: Path) -> torch.Tensor:
        rir = _load_cached(path)
        if rir is None or len(wave) == 0:
            return wave
        rir = rir / rir.norm().clamp_min(1e-8)
        peak = int(rir.abs().argmax())  # align the direct path with the original so CTC timing holds
        out = AF.fftconvolve(wave, rir)[peak: peak + len(wave)]
        return out * (wave.abs().max() / out.abs().max().clamp_min(1e-8))

    def _add_noise(self, wave: torch.Tensor, path: Path, g: torch.Generator) -> torch.Tensor:
        noise = _load_cached(path)
        if noise is None or len(wave) == 0:
            return wave
        if len(noise) < len(wave):
            noise = noise.repeat(len(wave) // len(noise) + 1)
        start = int(torch.randint(len(noise) - len(wave) + 1, (1,), generator=g))
        noise = noise[start: start + len(wave)]
        snr = self.snr[0] + (self.snr[1] - self.snr[0]) * float(torch.rand(1, generator=g))
        p_speech, p_noise = wave.pow(2).mean(), noise.pow(2).mean().clamp_min(1e-10)
        out = wave + noise * torch.sqrt(p_speech / (p_noise * 10 ** (snr / 10)))
        return out.clamp(-1.0, 1.0)


_FREQ_MASK = torchaudio.transforms.FrequencyMasking(15, iid_masks=True)
_TIME_MASK = torchaudio.transforms.TimeMasking(40, iid_masks=True, p=0.2)


def spec_augment(feats: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """B x T x n_mels raw log-mel: two frequency masks (<= 15 mels) and two time masks (<= 40 frames,
    at most 20% of the utterance), masked to the global mean."""
    x = ((feats - mean) / std).transpose(1, 2)  # B x n_mels x T
    for mask in (_FREQ_MASK, _TIME_MASK):
        x = mask(mask(x))
    return x.transpose(1, 2) * std + mean


def freq_warp(feats: torch.Tensor, max_warp: float) -> torch.Tensor:
    """B x T x n_mels raw log-mel: each utterance's mel axis stretched by a random factor in
    [1 - max_warp, 1 + max_warp] (linear interpolation), moving formants and harmonics the way
    another vocal tract would (VTLP-like, applied to the features so cached features can use it)."""
    b, t, f = feats.shape
    alpha = 1 + (torch.rand(b, 1, device=feats.device) * 2 - 1) * max_warp  # B x 1
    pos = (torch.arange(f, device=feats.device) * alpha).clamp(max=f - 1)  # B x F: source bin of each bin
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=f - 1)
    w = (pos - lo).unsqueeze(1)  # B x 1 x F
    take = lambda idx: feats.gather(2, idx.unsqueeze(1).expand(b, t, f))  # noqa: E731
    return take(lo) * (1 - w) + take(hi) * w


def time_stretch(feats: torch.Tensor, feat_lens: torch.Tensor, max_stretch: float) -> tuple[torch.Tensor, torch.Tensor]:
    """B x T x n_mels: the whole batch resampled in time by one random factor in
    [1 - max_stretch, 1 + max_stretch] (a tempo change of the features; lengths scaled to match)."""
    beta = 1 + (float(torch.rand(())) * 2 - 1) * max_stretch
    t = max(1, round(feats.shape[1] * beta))
    out = F.interpolate(feats.transpose(1, 2), size=t, mode="linear", align_corners=False).transpose(1, 2)
    return out, (feat_lens.float() * t / feats.shape[1]).floor().long().clamp(max=t)
