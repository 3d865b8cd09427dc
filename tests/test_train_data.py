"""The training data pipeline: cached manifests, duration-bucketed batches over processes, skip
reasons for bad input, waveform augmentation."""
import math
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import torch

import data.librispeech as librispeech
from asr.audio import SAMPLE_RATE
from data.librispeech import MANIFEST_NAME, Utterance, read_subset
from train.augment import WaveAugment
from train.dataset import SpeechDataset, collate
from train.sampler import BucketBatchSampler, global_batches


def noise_flac(path, seconds, seed=0):
    rng = np.random.default_rng(seed)
    sf.write(path, 0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32), SAMPLE_RATE)


@pytest.fixture
def mini(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "mini" / "19" / "198"
    chapter.mkdir(parents=True)
    for i in range(3):
        noise_flac(chapter / f"19-198-{i:04d}.flac", 1 + i)
    (chapter / "19-198.trans.txt").write_text("19-198-0000 A\n19-198-0001 B C\n19-198-0002 D E F\n")
    return tmp_path


def test_manifest_is_cached_and_rebuilt_when_the_folder_changes(mini, monkeypatch):
    first, report = read_subset(mini, "mini")
    assert (mini / "LibriSpeech" / "mini" / MANIFEST_NAME).is_file()
    calls = Counter()
    real_info = librispeech.sf.info

    def counting_info(path):
        calls["info"] += 1
        return real_info(path)

    monkeypatch.setattr(librispeech.sf, "info", counting_info)
    again, report2 = read_subset(mini, "mini")
    assert calls["info"] == 0  # served from the manifest
    assert again == first and report2.kept == 3 and report2.seconds == pytest.approx(report.seconds)
    chapter = mini / "LibriSpeech" / "mini" / "19" / "198"
    noise_flac(chapter / "19-198-0003.flac", 2)  # a new file, and a changed transcript file
    (chapter / "19-198.trans.txt").write_text("19-198-0000 A\n19-198-0001 B C\n19-198-0002 D E F\n19-198-0003 G\n")
    rebuilt, report3 = read_subset(mini, "mini")
    assert calls["info"] == 4 and [u.text for u in rebuilt] == ["a", "b c", "d e f", "g"]
    (mini / "LibriSpeech" / "mini" / MANIFEST_NAME).write_text("{not json")  # a damaged cache is rebuilt
    assert read_subset(mini, "mini")[0] == rebuilt


def test_batches_are_bounded_bucketed_sortagrad_then_shuffled():
    rng = np.random.default_rng(0)
    durations = rng.uniform(1, 16, 500).tolist()
    first = global_batches(durations, 60, epoch=1, seed=0)
    assert sorted(i for b in first for i in b) == list(range(500))
    assert all(max(durations[i] for i in b) * len(b) <= 60 or len(b) == 1 for b in first)
    longest = [max(durations[i] for i in b) for b in first]
    assert longest == sorted(longest)  # SortaGrad: shortest first in epoch 1
    second, third = global_batches(durations, 60, 2, 0), global_batches(durations, 60, 3, 0)
    assert [max(durations[i] for i in b) for b in second] != sorted(max(durations[i] for i in b) for b in second)
    assert second != third and second == global_batches(durations, 60, 2, 0)  # shuffled, but reproducibly


def test_processes_see_disjoint_shares_of_the_same_global_batches():
    durations = np.random.default_rng(1).uniform(1, 16, 300).tolist()
    single = BucketBatchSampler(durations, 80, seed=3)
    ranks = [BucketBatchSampler(durations, 80, seed=3, rank=r, world_size=2) for r in range(2)]
    for s in [single, *ranks]:
        s.set_epoch(2)
    for whole, part0, part1 in zip(single, *ranks, strict=True):
        ids0, ids1 = {i for i, *_ in part0}, {i for i, *_ in part1}
        assert not ids0 & ids1 and ids0 | ids1 == {i for i, *_ in whole}
        assert {n for _, _, n, _ in part0 + part1} == {len(whole)}  # the loss normaliser is the global size
        assert set(whole) >= set(part0 + part1)  # same augmentation seeds and speeds
    resumed = BucketBatchSampler(durations, 80, seed=3)
    resumed.set_epoch(2, start=5)
    assert list(resumed) == list(single)[5:]


def test_speed_perturbation_is_drawn_before_batching_so_batches_stay_bounded():
    durations = np.random.default_rng(2).uniform(1, 16, 400).tolist()
    sampler = BucketBatchSampler(durations, 60, seed=0, speeds=(0.9, 1.0, 1.1))
    sampler.set_epoch(2)
    batches = list(sampler)
    speeds = [s for b in batches for *_, s in b]
    assert set(speeds) == {0.9, 1.0, 1.1} and len(speeds) == 400
    for b in batches:  # perturbed durations respect --batch-seconds and are alike within a batch
        perturbed = [durations[i] / s for i, _, _, s in b]
        assert max(perturbed) * len(b) <= 60 or len(b) == 1


def test_bad_utterances_are_skipped_with_their_reason(tmp_path):
    good, short = tmp_path / "good.flac", tmp_path / "short.flac"
    noise_flac(good, 1.0)
    noise_flac(short, 0.01)
    truncated = tmp_path / "truncated.flac"
    blob = good.read_bytes()
    truncated.write_bytes(blob[: len(blob) // 3])
    (tmp_path / "garbage.flac").write_bytes(b"not audio at all" * 10)
    utts = [
        Utterance("good", good, "hello", 1.0, "x"),
        Utterance("truncated", truncated, "hello", 1.0, "x"),
        Utterance("garbage", tmp_path / "garbage.flac", "hello", 1.0, "x"),
        Utterance("gone", tmp_path / "deleted.flac", "hello", 1.0, "x"),
        Utterance("short", short, "hi", 0.01, "x"),
        Utterance("long text", good, "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 2, 1.0, "x"),
    ]
    batch = collate([SpeechDataset(utts, stride=3)[(i, 0, len(utts), 1.0)] for i in range(len(utts))])
    assert batch.ids == ["good"] and batch.subsets == ["x"] and batch.global_size == 6 and batch.feats.shape[0] == 1
    assert batch.skipped == {"unreadable audio": 3, "zero-length audio": 1, "transcript too long for the audio": 1}
    empty = collate([SpeechDataset(utts[1:2], stride=3)[0]])
    assert len(empty) == 0 and empty.skipped == {"unreadable audio": 1}


def test_waveform_augmentation_is_seeded_and_keeps_its_promises(tmp_path):
    wave = torch.from_numpy(0.1 * np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32))
    lengths = [len(WaveAugment(speed=True)(wave, torch.Generator(), s)) for s in (0.9, 1.0, 1.1)]
    assert lengths == [math.ceil(SAMPLE_RATE / 0.9), SAMPLE_RATE, math.ceil(SAMPLE_RATE / 1.1)]
    noise_flac(tmp_path / "noise.wav", 0.3, seed=5)
    rir = np.zeros(800, dtype=np.float32)
    rir[100], rir[400] = 1.0, 0.3
    sf.write(tmp_path / "rir.wav", rir, SAMPLE_RATE)
    aug = WaveAugment(noises=[tmp_path / "noise.wav"], rirs=[tmp_path / "rir.wav"], snr=(10, 10),
                      noise_prob=1.0, rir_prob=0.0)
    noisy = aug(wave, torch.Generator().manual_seed(1))
    assert torch.equal(noisy, aug(wave, torch.Generator().manual_seed(1)))  # same seed, same audio
    snr = 10 * torch.log10(wave.pow(2).mean() / (noisy - wave).pow(2).mean())
    assert len(noisy) == len(wave) and float(snr) == pytest.approx(10, abs=0.3)
    reverb = WaveAugment(rirs=[tmp_path / "rir.wav"], rir_prob=1.0)(wave, torch.Generator().manual_seed(0))
    assert len(reverb) == len(wave) and float(reverb.abs().max()) == pytest.approx(float(wave.abs().max()))
    # the direct path stays aligned: the echo 300 samples later is the only change
    expected = wave + 0.3 * torch.nn.functional.pad(wave, (300, 0))[: len(wave)]
    assert torch.corrcoef(torch.stack([reverb, expected]))[0, 1] > 0.999


def test_run_log_keeps_earlier_epochs_on_resume_and_feeds_tensorboard_when_installed(tmp_path, monkeypatch):
    import sys
    import types

    from train.runlog import RunLog

    scalars = []
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = lambda logdir: types.SimpleNamespace(
        add_scalar=lambda k, v, step: scalars.append((k, v, step)), flush=lambda: None, close=lambda: None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    log = RunLog(tmp_path)
    for epoch in (1, 2, 3):
        log.row({"epoch": epoch, "step": 10 * epoch, "train_loss": 5.0 - epoch, "dev_wer": 50.0})
    log.close()
    assert ("train_loss", 2.0, 30) in scalars and ("dev_wer", 50.0, 10) in scalars
    RunLog(tmp_path, resume_epoch=3).close()  # a run resumed inside epoch 3 redoes it
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,minutes,train_loss,dev_loss,dev_wer,dev_cer,lr")
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2"]


def test_a_weighted_mixture_gives_each_subset_its_share_repeating_the_small_one():
    from train.sampler import BucketBatchSampler

    durations = [2.0] * 50 + [1.0] * 10  # subset 0: 100 s; subset 1: 10 s
    groups = [0] * 50 + [1] * 10
    s = BucketBatchSampler(durations, 12.0, seed=3, groups=groups, weights=(1.0, 1.0))
    (big, n_big), (small, n_small) = s.shares()
    assert (big, n_big) == (100.0, 50) and small == 100.0 and n_small == 100  # the small one ten times
    s = BucketBatchSampler(durations, 12.0, seed=3, groups=groups, weights=(2.0, 0.5))
    (big, _), (small, n_small) = s.shares()
    assert big == 100.0 and small == 25.0 and n_small == 25  # twice whole, then a random half
    epoch2 = BucketBatchSampler(durations, 12.0, seed=3, groups=groups, weights=(2.0, 0.5))
    epoch2.set_epoch(2)
    again = BucketBatchSampler(durations, 12.0, seed=3, groups=groups, weights=(2.0, 0.5))
    again.set_epoch(2)
    assert list(epoch2) == list(again)  # seeded: a resumed run sees the same epoch
    items = [item for batch in epoch2 for item in batch]
    repeats = [item for item in items if item[0] == 55]
    assert len(repeats) in (2, 3) and len({seed for _, seed, _, _ in repeats}) == len(repeats)  # augmented apart
    assert all(max(durations[i] for i, *_ in b) * len(b) <= 12.0 for b in epoch2)
    # without weights: every utterance once, as before
    plain = BucketBatchSampler(durations, 12.0, seed=3, groups=groups)
    assert sorted(i for b in plain for i, *_ in b) == list(range(60))


def test_mixture_and_dev_lists_parse_and_refuse_nonsense():
    import pytest

    from train.inputs import parse_mixture

    assert parse_mixture("a,b") == (("a", "b"), ())
    assert parse_mixture("so762:3,lj:2,synth") == (("so762", "lj", "synth"), (3.0, 2.0, 1.0))
    for bad in ("a:x", "a:0", "a:-1", "a,a", ":3", ""):
        with pytest.raises(ValueError):
            parse_mixture(bad)


def test_training_on_a_mixture_logs_every_dev_subset_and_resumes_only_with_the_same_weights(tiny_corpus, tmp_path,
                                                                                           capsys):
    import csv

    from asr.cli import main
    from asr.checkpoint import load_model

    run = tmp_path / "run"
    base = ["train", "--data", str(tiny_corpus), "--dev", "tiny-dev,tiny-dev2", "--hidden", "32", "--layers", "1",
            "--batch-seconds", "8", "--out", str(run)]
    import shutil
    shutil.copytree(tiny_corpus / "LibriSpeech" / "tiny-dev", tiny_corpus / "LibriSpeech" / "tiny-dev2",
                    dirs_exist_ok=True)
    shutil.copytree(tiny_corpus / "LibriSpeech" / "tiny-dev", tiny_corpus / "LibriSpeech" / "tiny-small",
                    dirs_exist_ok=True)
    assert main([*base, "--train", "tiny-train:1,tiny-small:1", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    import re
    shares = re.search(r"epoch 1 audio by subset: tiny-train 0\.\d+ h \((\d+)%\), tiny-small 0\.\d+ h \((\d+)%\)", out)
    assert shares and all(45 <= int(p) <= 55 for p in shares.groups()), out
    with (run / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["epoch"], r["dev_subset"]) for r in rows] == [
        ("1", "tiny-dev"), ("1", "tiny-dev2"), ("2", "tiny-dev"), ("2", "tiny-dev2")]
    assert rows[0]["dev_wer"] == rows[1]["dev_wer"]  # the same audio under two names
    meta = load_model(run / "best.pt").meta
    assert meta["dev_subset"] == "tiny-dev" and set(meta["dev"]) == {"tiny-dev", "tiny-dev2"}
    assert meta["train_weights"] == [1.0, 1.0]
    import json
    saved = json.loads((run / "config.json").read_text())
    assert saved["train_weights"] == [1.0, 1.0] and saved["more_dev_subsets"] == ["tiny-dev2"]
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 0  # resumable with its saved mixture
    with (run / "log.csv").open() as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "1", "2", "2", "3", "3"]
    assert main([*base, "--train", "tiny-train:1,tiny-dev:1"]) == 2
    assert "both trained on and a dev set" in capsys.readouterr().err
