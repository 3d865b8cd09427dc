"""On-the-fly augmentation: speed perturbation, pitch shift, reverberation, additive noise (files,
synthetic white/pink/brown, babble of other utterances), telephone band and gain on the waveform
(in the data workers, one seeded generator per utterance so a resumed run sees the same audio),
and SpecAugment on the batch of features (in the training loop). The effects are in effects.py;
PRESETS maps `--augment NAME` to TrainConfig values."""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
import torchaudio
import torchaudio.functional as AF

from asr.audio import FRAMES_PER_SECOND, LOG_FLOOR, SAMPLE_RATE, AudioError, load_audio

from .effects import COLORS, apply_gain, colored_noise, fft_convolve, mix_at_snr, pitch_shift, telephone
from .levels import GAIN_DB

__all__ = ["SPEEDS", "AUDIO_SUFFIXES", "PRESETS", "WaveAugment", "babble_pool", "feature_gain", "feature_noise",
           "list_audio", "noise_bank", "random_eq", "spec_augment", "stretch_time", "trim_silence",
           "warp_mels"]

SPEEDS = (0.9, 1.0, 1.1)
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
# speed s: read the samples as if recorded at s * 16 kHz and resample back to 16 kHz (pitch and tempo change)
_RESAMPLE = {0.9: (9, 10), 1.1: (11, 10)}
PITCH_SEMITONES = 2.0  # pitch shift uniform in +-this
BABBLE_TALKERS = (3, 6)  # other utterances mixed into one babble
BABBLE_POOL = 100  # babble comes from this many training utterances (each worker caches them all)
BABBLE_MAX_SECONDS = 8.0  # of each cached babble source
PHONE_BANDPASS_PROB = PHONE_MU_LAW_PROB = 0.5  # within --telephone: 300-3400 Hz band, mu-law round trip

# `--augment NAME`: TrainConfig values (explicit options override them). "full": every utterance a
# different speaker/room/channel/level with moderate probabilities, SpecAugment on top;
# rir_prob and noise_prob act only with --rir-dir / --noise-dir.
PRESETS: dict[str, dict] = {
    "none": {},
    "full": {"speed_perturb": True, "pitch_shift": 0.3, "rir_prob": 0.3, "noise_prob": 0.2,
             "colored_noise": 0.2, "babble": 0.2, "telephone": 0.1, "gain": 0.5},
}


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


@lru_cache(maxsize=BABBLE_POOL)
def _load_babble(path: Path) -> torch.Tensor | None:
    x = _load_cached.__wrapped__(path)
    return None if x is None else x[: int(BABBLE_MAX_SECONDS * SAMPLE_RATE)].clone()


def babble_pool(paths: list[Path], seed: int, size: int = BABBLE_POOL) -> list[Path]:
    """A fixed random subset of the training audio to make babble from (bounded loading cost)."""
    pick = torch.randperm(len(paths), generator=torch.Generator().manual_seed(seed))[:size]
    return [paths[i] for i in sorted(pick.tolist())]


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(1, generator=g))


def _happens(p: float, g: torch.Generator) -> bool:
    """Draws from g only when the effect is on, so turning one on leaves the others' draws as before."""
    return p > 0 and float(torch.rand(1, generator=g)) < p


class WaveAugment:
    """wave (N,) float32 16 kHz, generator, speed -> augmented wave. The speed is chosen by the batch
    sampler (it must know the perturbed durations); everything else is drawn here, in this order:
    pitch shift, reverberation, file noise, coloured noise, babble, telephone band, gain. Each
    probability (and the files) at 0/empty turns that effect off."""

    def __init__(self, speed: bool = False, noises: list[Path] = (), rirs: list[Path] = (),
                 snr: tuple[float, float] = (5.0, 20.0), noise_prob: float = 0.5, rir_prob: float = 0.5, *,
                 pitch: float = 0.0, colored: float = 0.0, colored_snr: tuple[float, float] = (5.0, 30.0),
                 babble: float = 0.0, babble_sources: list[Path] = (), babble_snr: tuple[float, float] = (10.0, 30.0),
                 telephone: float = 0.0, gain: float = 0.0) -> None:
        self.speed, self.noises, self.rirs = speed, list(noises), list(rirs)
        self.snr, self.noise_prob, self.rir_prob = snr, noise_prob, rir_prob
        self.pitch, self.colored, self.colored_snr = pitch, colored, colored_snr
        self.babble_sources = list(babble_sources) if babble > 0 else []
        self.babble, self.babble_snr = (babble if self.babble_sources else 0.0), babble_snr
        self.telephone, self.gain = telephone, gain
        probs = {"noise_prob": noise_prob, "rir_prob": rir_prob, "pitch-shift": pitch, "colored-noise": colored,
                 "babble": babble, "telephone": telephone, "gain": gain}
        for name, p in probs.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"--{name} must be a probability in [0, 1], not {p}")

    @property
    def active(self) -> bool:
        return (self.speed or bool(self.noises) or bool(self.rirs)
                or any(p > 0 for p in (self.pitch, self.colored, self.babble, self.telephone, self.gain)))

    def __call__(self, wave: torch.Tensor, g: torch.Generator, speed: float = 1.0,
                 source: Path | None = None) -> torch.Tensor:
        """`source`: the utterance's own file, never used in its babble."""
        if self.speed and speed != 1.0:
            wave = AF.resample(wave, *_RESAMPLE[speed])
        if _happens(self.pitch, g):
            wave = pitch_shift(wave, _uniform(g, -PITCH_SEMITONES, PITCH_SEMITONES))
        if self.rirs and float(torch.rand(1, generator=g)) < self.rir_prob:
            wave = self._reverberate(wave, self.rirs[int(torch.randint(len(self.rirs), (1,), generator=g))])
        if self.noises and float(torch.rand(1, generator=g)) < self.noise_prob:
            wave = self._add_noise(wave, self.noises[int(torch.randint(len(self.noises), (1,), generator=g))], g)
        if _happens(self.colored, g):
            color = list(COLORS)[int(torch.randint(len(COLORS), (1,), generator=g))]
            wave = mix_at_snr(wave, colored_noise(len(wave), color, g), _uniform(g, *self.colored_snr))
        if _happens(self.babble, g):
            wave = mix_at_snr(wave, self._babble(len(wave), g, source), _uniform(g, *self.babble_snr))
        if _happens(self.telephone, g):
            wave = telephone(wave, bool(torch.rand(1, generator=g) < PHONE_BANDPASS_PROB),
                             bool(torch.rand(1, generator=g) < PHONE_MU_LAW_PROB))
        if _happens(self.gain, g):
            wave = apply_gain(wave, _uniform(g, *GAIN_DB))
        return wave

    def _babble(self, n: int, g: torch.Generator, source: Path | None) -> torch.Tensor:
        """3-6 other utterances, each at a random offset (looped when short) and at equal RMS, summed."""
        others = [p for p in self.babble_sources if p != source]
        talkers = int(torch.randint(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1, (1,), generator=g))
        mix = torch.zeros(n)
        for i in torch.randperm(len(others), generator=g)[:talkers].tolist():
            x = _load_babble(others[i])
            if x is None or n == 0:
                continue
            x = x.repeat(n // len(x) + 2)
            start = int(torch.randint(len(x) - n + 1, (1,), generator=g))
            x = x[start: start + n]
            rms = float(x.pow(2).mean().sqrt())
            if rms > 1e-4:  # a silent stretch is left out rather than amplified
                mix += x / rms
        return mix

    def _reverberate(self, wave: torch.Tensor, path: Path) -> torch.Tensor:
        rir = _load_cached(path)
        if rir is None or len(wave) == 0:
            return wave
        rir = rir / rir.norm().clamp_min(1e-8)
        peak = int(rir.abs().argmax())  # align the direct path with the original so CTC timing holds
        out = fft_convolve(wave, rir)[peak: peak + len(wave)]
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


FREQ_MASK_WIDTH = 15  # SpecAugment's defaults here: two frequency masks of up to this many mels ...
TIME_MASK_WIDTH = 40  # ... and two time masks of up to this many frames, each at most 20 % of the (padded) batch


def spec_augment(feats: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, feat_lens: torch.Tensor | None = None,
                 freq_width: int = FREQ_MASK_WIDTH, time_width: int = TIME_MASK_WIDTH,
                 time_masks_per_second: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """B x T x n_mels raw log-mel: two frequency masks (<= freq_width mels) and time masks of <= time_width
    frames, masked to the global mean.

    time_masks_per_second 0: two time masks per utterance, each at most 20 % of the padded length (the
    original policy). Above 0: adaptive SpecAugment (Park et al., 2020), round(rate x seconds) masks per
    utterance at uniform places inside its own length (feat_lens), so a 10 s utterance gets ten times the
    masks of a 1 s one instead of the same two."""
    x = ((feats - mean) / std).transpose(1, 2)  # B x n_mels x T
    freq = torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
    x = freq(freq(x))
    if time_masks_per_second <= 0:
        time = torchaudio.transforms.TimeMasking(time_width, iid_masks=True, p=0.2)
        x = time(time(x))
    else:
        x = x * ~_adaptive_time_mask(x.shape[0], x.shape[2], feat_lens, time_width, time_masks_per_second,
                                     generator).to(x.device).unsqueeze(1)
    return x.transpose(1, 2) * std + mean


def _adaptive_time_mask(b: int, t: int, feat_lens: torch.Tensor | None, width: int, per_second: float,
                        generator: torch.Generator | None) -> torch.Tensor:
    """B x T bool, True where masked: round(per_second x seconds) masks per utterance, each of a uniform
    width in [0, width] frames, starting uniformly where it fits inside the utterance's own length."""
    lens = torch.full((b,), t) if feat_lens is None else feat_lens.cpu().clamp(max=t)
    counts = torch.round(lens.double() * per_second / FRAMES_PER_SECOND).long()
    n = int(counts.max()) if b else 0
    if n == 0:
        return torch.zeros(b, t, dtype=torch.bool)
    widths = (torch.rand(b, n, generator=generator) * (width + 1)).long()  # B x n, 0..width
    room = (lens.unsqueeze(1) - widths).clamp(min=0) + 1  # start positions that keep the mask inside
    starts = (torch.rand(b, n, generator=generator) * room).long()
    live = torch.arange(n).unsqueeze(0) < counts.unsqueeze(1)  # B x n: the masks this utterance has
    pos = torch.arange(t).view(1, 1, t)
    inside = (pos >= starts.unsqueeze(2)) & (pos < (starts + widths).unsqueeze(2)) & live.unsqueeze(2)
    return inside.any(1)


def freq_warp(feats: torch.Tensor, max_warp: float) -> torch.Tensor:
    """B x T x n_mels raw log-mel: each utterance's mel axis stretched by a random factor in
    [1 - max_warp, 1 + max_warp] (linear interpolation), moving formants and harmonics the way
    another vocal tract would (VTLP-like, applied to the features so cached features can use it)."""
    alpha = 1 + (torch.rand(feats.shape[0], 1, device=feats.device) * 2 - 1) * max_warp  # B x 1
    return warp_mels(feats, alpha)


def warp_mels(feats: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """B x T x n_mels, B x 1 factors: bin i of utterance k takes the (linearly interpolated) value of its
    bin i x alpha[k] (the top bin where that is past the axis)."""
    b, t, f = feats.shape
    pos = (torch.arange(f, device=feats.device) * alpha).clamp(max=f - 1)  # B x F: source bin of each bin
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=f - 1)
    w = (pos - lo).unsqueeze(1)  # B x 1 x F
    take = lambda idx: feats.gather(2, idx.unsqueeze(1).expand(b, t, f))  # noqa: E731
    return take(lo) * (1 - w) + take(hi) * w


EQ_TILT_DB = 12.0  # spectral tilt: up to +-6 dB at the ends of the mel axis, 0 dB mid-band
EQ_BUMPS = 2  # this many peaks/notches per utterance ...
EQ_BUMP_DB = 6.0  # ... of up to +-this many dB ...
EQ_BUMP_WIDTH = (0.03, 0.15)  # ... with a Gaussian width of this fraction of the mel axis
_DB_TO_LOG_POWER = math.log(10.0) / 10.0


def random_eq(feats: torch.Tensor, prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """B x T x n_mels raw log-mel (natural log of power): with probability `prob`, each utterance
    through its own random equaliser, a smooth gain curve over the mel axis (a tilt of up to
    +-EQ_TILT_DB / 2 at the band edges plus EQ_BUMPS peaks or notches of up to +-EQ_BUMP_DB).
    A linear filter multiplies the power spectrum, so on log-mel features it is this additive curve:
    another microphone, room colouring or sound card. prob 0 returns the input."""
    if prob <= 0:
        return feats
    b, _, f = feats.shape
    kw = {"generator": generator, "device": feats.device}
    u = lambda *shape: torch.rand(*shape, **kw)  # noqa: E731
    m = torch.linspace(0.0, 1.0, f, device=feats.device)  # position on the mel axis
    curve = (u(b, 1) * 2 - 1) * EQ_TILT_DB * (m - 0.5)  # B x F, dB
    centres, widths = u(b, EQ_BUMPS, 1), EQ_BUMP_WIDTH[0] + u(b, EQ_BUMPS, 1) * (EQ_BUMP_WIDTH[1] - EQ_BUMP_WIDTH[0])
    gains = (u(b, EQ_BUMPS, 1) * 2 - 1) * EQ_BUMP_DB
    curve = curve + (gains * torch.exp(-0.5 * ((m - centres) / widths) ** 2)).sum(1)
    on = (u(b, 1) < prob).to(feats.dtype)
    return feats + (on * curve * _DB_TO_LOG_POWER).unsqueeze(1).to(feats.dtype)


def feature_gain(feats: torch.Tensor, prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """B x T x n_mels raw log-mel (natural log of power): with probability `prob`, each utterance
    louder or quieter by a gain uniform in GAIN_DB, as --gain does on the waveform, but on the
    features (so cached features can use it): a gain multiplies the power, so it adds a constant to
    the log-mel; nothing goes under the front end's floor. prob 0 returns the input."""
    if prob <= 0:
        return feats
    b = feats.shape[0]
    u = torch.rand(b, 2, generator=generator, device=feats.device)
    db = GAIN_DB[0] + u[:, 0] * (GAIN_DB[1] - GAIN_DB[0])
    shift = (db * (u[:, 1] < prob) * _DB_TO_LOG_POWER).to(feats.dtype)[:, None, None]
    return (feats + shift).clamp_min(math.log(LOG_FLOOR))


# --feature-noise: the noise sits this many dB under the utterance's mean power. Synthetic speech has digital
# silence (4.6-6.5 % of its frames wholly at the front end's floor, none of the real recordings'): the model learns to
# tell the voices apart by it, and a real word between digital zeros is misheard (docs/default-model.md, "Digital
# silence and joined words"). A floor of real noise 25-55 dB down fills those frames as a microphone's own noise
# does: on synth-mix2 it gives the real dev sets' quietest 0.1-10 % of values (LJ002, so762-dev: about -16 to -10).
FEATURE_NOISE_SNR_DB = (25.0, 55.0)


def noise_bank(files: list[Path]) -> torch.Tensor:
    """The log-mel frames (K x n_mels, natural log of power) of the noise recordings, end to end: the
    source of --feature-noise. Unreadable or too short files are an error: the user named them."""
    from asr.features import LogMel

    logmel, frames = LogMel(), []
    for path in files:
        try:
            wave = torch.from_numpy(load_audio(path))
        except AudioError as e:
            raise ValueError(f"--feature-noise-dir: {path}: {e}") from e
        f = logmel(wave[None])[0]
        if not len(f):
            raise ValueError(f"--feature-noise-dir: {path} is shorter than one frame")
        frames.append(f)
    if not frames:
        raise FileNotFoundError("--feature-noise needs noise recordings (--feature-noise-dir)")
    return torch.cat(frames)


def feature_noise(feats: torch.Tensor, feat_lens: torch.Tensor, prob: float, bank: torch.Tensor,
                  generator: torch.Generator | None = None, only: list[bool] | None = None) -> torch.Tensor:
    """B x T x n_mels raw log-mel: with probability `prob`, each utterance gets a stretch of the noise
    bank (noise_bank) added in the power domain, FEATURE_NOISE_SNR_DB under its mean power over its
    valid frames: what mixing the noise into the waveform gives, less the phase terms that average out,
    so cached features can use it. `only`: per utterance, whether it may get the noise (None: all);
    the draws are the same either way. prob 0 returns the input."""
    if prob <= 0:
        return feats
    b, t, _ = feats.shape
    u = torch.rand(b, 3, generator=generator)
    out = feats.clone()
    lo, hi = FEATURE_NOISE_SNR_DB
    for i in range(b):
        n = int(feat_lens[i])
        if u[i, 0] >= prob or n == 0 or (only is not None and not only[i]):
            continue
        start = int(u[i, 1] * len(bank))
        noise = bank[(start + torch.arange(t)) % len(bank)].to(feats.device, torch.float32)
        x = feats[i].float()
        level = torch.logsumexp(x[:n].flatten(), 0) - torch.logsumexp(noise[:n].flatten(), 0)
        shift = level - (lo + float(u[i, 2]) * (hi - lo)) * _DB_TO_LOG_POWER
        out[i] = torch.logaddexp(x, noise + shift).to(feats.dtype)
    return out


TRIM_KEEP_FRAMES = 5  # --trim-silence leaves 0 to this many frames (10 ms each) of leading silence
# silence: frames whose mean log-mel power is this far under the loudest frame. At 25 dB, LJ002's clips
# (speech within 10 ms of the start) lose at most 3 frames in 9 of 10; synth-mix2 loses ~23, so762 ~45
TRIM_SILENCE_DB = 25.0


def trim_silence(feats: torch.Tensor, feat_lens: torch.Tensor, prob: float,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """B x T x n_mels raw log-mel (natural log of power): with probability `prob`, each utterance's
    leading silence (frames more than TRIM_SILENCE_DB under its loudest frame) cut to a random
    0-TRIM_KEEP_FRAMES frames, so the model also hears speech that starts at the first frame, as in
    tightly cut clips (LJSpeech's speech starts within 10 ms; the synthetic training speech never
    before 130 ms). The end is kept: a weak final consonant is not told apart from silence here."""
    if prob <= 0:
        return feats, feat_lens
    out, lens = feats.clone(), feat_lens.clone()
    draw = lambda n: int(torch.randint(n + 1, (1,), generator=generator))  # noqa: E731
    threshold = TRIM_SILENCE_DB * _DB_TO_LOG_POWER
    for i, n in enumerate(feat_lens.tolist()):
        if float(torch.rand(1, generator=generator)) >= prob or n == 0:
            continue
        energy = feats[i, :n].mean(-1)  # T
        loud = (energy > energy.max() - threshold).nonzero().squeeze(1)
        start = max(0, int(loud[0]) - draw(TRIM_KEEP_FRAMES))
        out[i, : n - start] = feats[i, start:n]
        out[i, n - start:] = 0.0  # padding, as pad_sequence's (a unidirectional model never sees it)
        lens[i] = n - start
    return out, lens


def time_stretch(feats: torch.Tensor, feat_lens: torch.Tensor, max_stretch: float) -> tuple[torch.Tensor, torch.Tensor]:
    """B x T x n_mels: the whole batch resampled in time by one random factor in
    [1 - max_stretch, 1 + max_stretch] (a tempo change of the features; lengths scaled to match)."""
    beta = 1 + (float(torch.rand(())) * 2 - 1) * max_stretch
    out = stretch_time(feats, beta)
    t = out.shape[1]
    return out, (feat_lens.float() * t / feats.shape[1]).floor().long().clamp(max=t)


def stretch_time(feats: torch.Tensor, factor: float) -> torch.Tensor:
    """B x T x n_mels -> B x round(T * factor) x n_mels (at least 1 frame), linearly interpolated in time."""
    t = max(1, round(feats.shape[1] * factor))
    return F.interpolate(feats.transpose(1, 2), size=t, mode="linear", align_corners=False).transpose(1, 2)
