"""Checkpoint averaging (train.average)."""
import pytest
import torch

from asr.checkpoint import load_model, save_model
from asr.model import AcousticModel, ModelConfig
from train.average import average_models, main


def _model(seed: int, hidden: int = 32) -> AcousticModel:
    torch.manual_seed(seed)
    return AcousticModel(ModelConfig(hidden=hidden, layers=2)).eval()


def test_average_is_the_weighted_mean_of_parameters_and_keeps_buffers():
    a, b = _model(0), _model(1)
    b.normalizer.load_state_dict(a.normalizer.state_dict())
    mean = average_models([a, b], [1.0, 3.0])
    for (name, p), pa, pb in zip(mean.named_parameters(), a.parameters(), b.parameters()):
        assert torch.allclose(p, 0.25 * pa + 0.75 * pb, atol=1e-6), name
    assert torch.equal(mean.normalizer.mean, a.normalizer.mean)
    same = average_models([a, a])
    assert all(torch.allclose(p, q) for p, q in zip(same.parameters(), a.parameters()))


def test_average_takes_runs_trained_with_another_dropout():
    a = _model(0)
    torch.manual_seed(1)
    b = AcousticModel(ModelConfig(hidden=32, layers=2, dropout=0.05)).eval()  # fine-tuned with --dropout 0.05
    b.normalizer.load_state_dict(a.normalizer.state_dict())
    mean = average_models([a, b])
    assert mean.config == a.config  # the first model's dropout
    for p, pa, pb in zip(mean.parameters(), a.parameters(), b.parameters()):
        assert torch.allclose(p, 0.5 * (pa + pb), atol=1e-6)


def test_average_refuses_models_that_do_not_share_a_start(tmp_path):
    a, b = _model(0), _model(1, hidden=48)
    with pytest.raises(ValueError, match="configurations differ"):
        average_models([a, b])
    c = _model(2)
    c.normalizer.set_stats(c.normalizer.mean + 1.0, c.normalizer.std)
    with pytest.raises(ValueError, match="normalisation"):
        average_models([a, c])
    save_model(tmp_path / "a.pt", a)
    save_model(tmp_path / "c.pt", c)
    assert main([str(tmp_path / "a.pt"), str(tmp_path / "c.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()


def test_cli_writes_a_loadable_checkpoint(tmp_path):
    a, b = _model(0), _model(1)
    b.normalizer.load_state_dict(a.normalizer.state_dict())
    save_model(tmp_path / "a.pt", a)
    save_model(tmp_path / "b.pt", b)
    assert main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--out", str(tmp_path / "m.pt")]) == 0
    m = load_model(tmp_path / "m.pt")
    assert m.meta["weights"] == [1.0, 1.0]
    assert torch.allclose(m.head.weight, (a.head.weight + b.head.weight) / 2)


def test_cli_carries_the_mean_emission_delay_only_when_every_input_has_one(tmp_path, capsys):
    a, b = _model(0), _model(1)
    b.normalizer.load_state_dict(a.normalizer.state_dict())
    save_model(tmp_path / "a.pt", a, {"emission_delay_frames": 3.0})
    save_model(tmp_path / "b.pt", b, {"emission_delay_frames": 4.0})
    save_model(tmp_path / "plain.pt", b)
    out = ["--out", str(tmp_path / "m.pt")]
    assert main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--weights", "1,3", *out]) == 0
    assert load_model(tmp_path / "m.pt").meta["emission_delay_frames"] == 3.75
    assert "word times" not in capsys.readouterr().err
    assert main([str(tmp_path / "a.pt"), str(tmp_path / "plain.pt"), "--out", str(tmp_path / "n.pt")]) == 0
    assert "emission_delay_frames" not in load_model(tmp_path / "n.pt").meta
    err = capsys.readouterr().err
    assert "1 of 2 checkpoints have no emission delay" in err and "bench.timestamps" in err
