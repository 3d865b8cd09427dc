import csv
import json

from asr.checkpoint import load_model
from asr.model import ModelConfig
from train.evaluate import evaluate
from train.loop import TrainConfig, train
from data.librispeech import read_subset


def test_tiny_training_run_halves_the_ctc_loss(tiny_corpus, tmp_path):
    cfg = TrainConfig(
        data=tiny_corpus, train_subsets=("tiny-train",), dev_subset="tiny-dev", out=tmp_path / "run",
        model=ModelConfig(hidden=96, layers=2, dropout=0.0), epochs=30, batch_seconds=6, lr=1e-2,
        warmup_steps=10, spec_augment=False, seed=0,
    )
    result = train(cfg)
    with (tmp_path / "run" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    losses = [float(r["train_loss"]) for r in rows]
    assert len(rows) == 30 and result.epochs == 30
    assert losses[-1] <= 0.5 * losses[0], losses
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 30
    model = load_model(result.best_checkpoint)
    assert model.meta["dev_wer"] == result.best_dev_wer
    # the normalisation statistics were computed from the training set, not left at 0/1
    assert float(model.normalizer.mean.abs().mean()) > 1.0
    utts, _ = read_subset(tiny_corpus, "tiny-dev")
    res = evaluate(model, utts, progress=False)
    assert res.utterances == 2 and res.audio_seconds > 1 and res.rtf > 0


def test_freq_warp_keeps_shape_and_identity_at_zero():
    import torch

    from train.augment import freq_warp

    torch.manual_seed(0)
    feats = torch.randn(3, 20, 80)
    assert torch.equal(freq_warp(feats, 0.0), feats)
    ramp = torch.arange(80.0).expand(3, 20, 80)
    warped = freq_warp(ramp, 0.1)
    assert warped.shape == ramp.shape
    assert (warped.diff(dim=-1) >= 0).all()  # a monotone spectrum stays monotone
    assert not torch.allclose(warped, ramp)


def test_random_eq_is_a_smooth_per_utterance_gain_curve():
    import torch

    from train.augment import EQ_BUMP_DB, EQ_TILT_DB, random_eq

    g = torch.Generator().manual_seed(0)
    feats = torch.randn(64, 30, 80, generator=g)
    assert torch.equal(random_eq(feats, 0.0), feats)
    added = random_eq(feats, 1.0, torch.Generator().manual_seed(1)) - feats
    # one curve per utterance, the same in every frame (a linear filter, not a time-varying one)
    assert torch.allclose(added, added[:, :1].expand_as(added), atol=1e-5)
    curves_db = added[:, 0] * 10 / torch.log(torch.tensor(10.0))
    assert curves_db.abs().max() <= EQ_TILT_DB / 2 + 2 * EQ_BUMP_DB + 1e-3
    assert curves_db.abs().amax(1).min() > 0.1  # every utterance changed at prob 1 ...
    assert len({round(float(c), 3) for c in curves_db[:, 40]}) == 64  # ... each differently
    assert curves_db.diff(dim=1).abs().max() < 3.0  # smooth: no step between neighbouring mel bins above 3 dB
    half = random_eq(feats, 0.5, torch.Generator().manual_seed(2)) - feats
    untouched = int((half.abs().amax((1, 2)) == 0).sum())
    assert 16 <= untouched <= 48


def test_time_stretch_scales_lengths_consistently():
    import torch

    from train.augment import time_stretch

    torch.manual_seed(1)
    feats = torch.randn(2, 100, 80)
    out, lens = time_stretch(feats, torch.tensor([100, 60]), 0.1)
    t = out.shape[1]
    assert 90 <= t <= 110 and t != 100
    assert lens.tolist() == [t, int(60 * t / 100)]
