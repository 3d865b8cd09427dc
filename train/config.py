"""What a training run is told (TrainConfig, saved as RUN_DIR/config.json) and what it reports (TrainResult)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asr.model import ModelConfig

__all__ = ["TrainConfig", "TrainResult", "config_from_json", "MASKS_WITHOUT_SPEC_AUGMENT"]

# the refusal of mask options that would do nothing: the CLI says it for any given, train() for non-defaults
MASKS_WITHOUT_SPEC_AUGMENT = ("--freq-mask, --time-mask and --time-masks shape SpecAugment: drop them or "
                              "--no-spec-augment")


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    train_subsets: tuple[str, ...]
    dev_subset: str  # the model (best.pt) is chosen on this one
    out: Path
    # each training subset's share of an epoch's audio (train.sampler); () = every utterance once an epoch
    train_weights: tuple[float, ...] = ()
    more_dev_subsets: tuple[str, ...] = ()  # also evaluated (their own log.csv rows), not used to choose
    model: ModelConfig = ModelConfig()
    epochs: int = 20
    max_minutes: float | None = None  # stop (after the current epoch's evaluation) past this budget
    # also evaluate (log.csv row, best.pt/last.pt) every this many minutes of training; evaluation time is then not
    # counted in the minutes (log.csv, max_minutes, LR schedule), and with max_minutes the run stops at the first
    # evaluation past the budget instead of at the end of the epoch
    eval_every_minutes: float | None = None
    keep_checkpoints: bool = False  # also keep each evaluated model as RUN_DIR/step-<N>.pt (for train.average)
    # data
    batch_seconds: float = 200.0  # padded audio per (global) batch, summed over all processes
    max_duration: float | None = None  # skip (and count) longer utterances
    sortagrad: bool = True  # shortest batches first in epoch 1 (Deep Speech 2)
    workers: int | None = None  # DataLoader worker processes; None: 0 on the CPU, up to 8 per GPU
    cache_features: bool | None = None  # log-mel kept in memory; None: when <= 10 h and no waveform augmentation
    stats_utterances: int = 2000  # utterances sampled for the global mean/variance
    # augmentation
    spec_augment: bool = True
    freq_mask: int = 15  # SpecAugment: two frequency masks of up to this many mels
    time_mask: int = 40  # SpecAugment: time masks of up to this many frames (10 ms each)
    time_masks: float = 0.0  # time masks per second of audio (adaptive); 0: two per utterance
    freq_warp: float = 0.0  # random stretch of each utterance's mel axis by up to this fraction (speaker variety)
    time_stretch: float = 0.0  # random tempo change of each batch's features by up to this fraction
    eq: float = 0.0  # probability of a random equaliser (tilt, peaks, notches) on each utterance's features
    feature_gain: float = 0.0  # probability of a gain in levels.GAIN_DB on each utterance's features
    feature_noise: float = 0.0  # probability of a floor of real noise on each utterance's features (augment.py)
    feature_noise_dir: Path | None = None  # the noise recordings --feature-noise draws from
    feature_noise_subsets: tuple[str, ...] = ()  # the training subsets it applies to; empty: all
    trim_silence: float = 0.0  # probability of cutting an utterance's leading silence to 0-50 ms
    speed_perturb: bool = False  # 0.9 / 1.0 / 1.1
    noise_dir: Path | None = None  # audio files mixed in at random SNR
    noise_snr: tuple[float, float] = (5.0, 20.0)
    noise_prob: float = 0.5
    rir_dir: Path | None = None  # room impulse responses convolved in
    rir_prob: float = 0.5
    augment: str = "none"  # the preset the options came from (train.augment.PRESETS), for the record
    pitch_shift: float = 0.0  # probability of a pitch shift within +-2 semitones (tempo kept)
    colored_noise: float = 0.0  # probability of white/pink/brown noise at colored_snr
    colored_snr: tuple[float, float] = (5.0, 30.0)
    babble: float = 0.0  # probability of babble from 3-6 other training utterances at babble_snr
    babble_snr: tuple[float, float] = (10.0, 30.0)
    telephone: float = 0.0  # probability of an 8 kHz telephone channel (band-pass, mu-law each half the time)
    gain: float = 0.0  # probability of a gain change in levels.GAIN_DB (clipped)
    # optimisation
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 300
    clip_norm: float = 5.0
    max_bad_steps: int = 20  # consecutive non-finite losses before the run stops
    # hardware
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 where supported, else fp16 on CUDA; off on CPU) | bf16 | fp16 | off
    threads: int | None = None
    # checkpoints and logs
    checkpoint_every: int = 1000  # steps between RUN_DIR/train_state.pt saves (and at each epoch end)
    resume: bool = False  # continue from RUN_DIR/train_state.pt
    init: Path | None = None  # start from this checkpoint's weights and statistics (a new schedule)
    trace_batches: bool = False  # write the utterance ids of every batch to RUN_DIR/batches.rank<R>.tsv
    seed: int = 0


@dataclass(frozen=True)
class TrainResult:
    best_checkpoint: Path
    best_dev_wer: float
    best_dev_cer: float
    epochs: int
    steps: int
    minutes: float
    train_hours: float
    parameters: int


def config_from_json(path: Path, **overrides) -> TrainConfig:
    """The TrainConfig saved in RUN_DIR/config.json, with `overrides` (None values ignored) applied."""
    import json
    from dataclasses import fields

    raw = json.loads(Path(path).read_text())
    raw["model"] = ModelConfig(**raw["model"])
    for key in ("data", "out", "noise_dir", "feature_noise_dir", "rir_dir", "init"):
        raw[key] = Path(raw[key]) if raw.get(key) is not None else None
    for key in ("train_subsets", "train_weights", "more_dev_subsets", "feature_noise_subsets"):
        if key in raw:
            raw[key] = tuple(raw[key])
    for key in ("noise_snr", "colored_snr", "babble_snr"):
        if key in raw:
            raw[key] = tuple(raw[key])
    known = {f.name for f in fields(TrainConfig)}
    raw = {k: v for k, v in raw.items() if k in known}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**raw)
