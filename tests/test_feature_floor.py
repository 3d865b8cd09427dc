"""A floor stored with the model (ModelConfig.feature_floor): every runtime applies it, exactly as the
PyTorch model does, and training, averaging and resuming carry it."""
import json
import math
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from asr.audio import LOG_FLOOR
from asr.checkpoint import load_model, save_model
from asr.model import AcousticModel, ModelConfig
from asr.runtime.backends import load_any_model
from asr.runtime.export import export_model
from asr.runtime.incremental import encode_chunk, initial_state
from asr.runtime.lite import load_lite
from asr.runtime.quantize import quantize_model

from .conftest import espeak

FLOOR = -12.0  # high enough that this test voice's quiet frames are clamped too, not only the zeros


def _model(floor: float | None = FLOOR, cell: str = "gru") -> AcousticModel:
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(cell=cell, hidden=48, layers=2, feature_floor=floor)).eval()
    with torch.no_grad():
        model.normalizer.set_stats(torch.randn(80) - 8, torch.rand(80) + 0.5)
    return model


@pytest.fixture(scope="module")
def padded() -> np.ndarray:
    """Speech between stretches of digital silence, as a synthetic voice or an edited file has them."""
    zeros = np.zeros(8000, np.float32)
    return np.concatenate([zeros, espeak("the birch canoe slid on the smooth planks"), zeros])


def _offline(model, wave: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        feats = model.logmel(torch.from_numpy(wave)[None])
        return model(feats, torch.tensor([feats.shape[1]]))[0][0]


def _streamed(model, wave: np.ndarray, seed: int = 0) -> torch.Tensor:
    rng, state, outs, i = np.random.default_rng(seed), initial_state(model), [], 0
    while i < len(wave):
        n = int(rng.integers(1, 4000))
        state, lp = encode_chunk(model, state, torch.from_numpy(wave[i: i + n]))
        outs.append(torch.as_tensor(lp))
        i += n
    state, lp = encode_chunk(model, state, torch.zeros(0), final=True)
    return torch.cat(outs + [torch.as_tensor(lp)])


def test_config_default_validation_and_old_checkpoints(tmp_path):
    assert ModelConfig().feature_floor is None  # the front end's floor only, as before version 16
    for bad in (-40.0, 1.0):
        with pytest.raises(ValueError, match="feature floor"):
            ModelConfig(feature_floor=bad)
    save_model(tmp_path / "m.pt", _model())
    assert load_model(tmp_path / "m.pt").config.feature_floor == FLOOR
    ckpt = torch.load(tmp_path / "m.pt", weights_only=False)
    del ckpt["config"]["feature_floor"]  # a checkpoint written before the field existed
    torch.save(ckpt, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").config.feature_floor is None
    assert load_lite(tmp_path / "old.pt").config.feature_floor is None


def test_the_model_clamps_its_features_and_the_floor_changes_what_silence_gives(padded):
    floored, plain = _model(), _model(None)
    plain.load_state_dict(floored.state_dict())
    with torch.inference_mode():
        feats = floored.logmel(torch.from_numpy(padded)[None])
        assert float(feats.min()) == pytest.approx(math.log(LOG_FLOOR), abs=1e-4)  # the front end's floor
        lens = torch.tensor([feats.shape[1]])
        by_hand = plain(feats.clamp_min(FLOOR), lens)[0]
        assert torch.equal(floored(feats, lens)[0], by_hand)
        assert not torch.allclose(plain(feats, lens)[0], by_hand, atol=1e-3)  # the floor is not a no-op here


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_every_runtime_applies_the_floor_and_streams_exactly(tmp_path, padded, cell):
    model = _model(cell=cell)
    ref = _offline(model, padded)
    assert (_streamed(model, padded) - ref).abs().max() <= 1e-4  # float32 step kernel
    q = quantize_model(model)
    assert q.config.feature_floor == FLOOR
    _, int8_ref = encode_chunk(q, initial_state(q), torch.from_numpy(padded), final=True)
    save_model(tmp_path / "f.pt", model)
    lite = load_lite(tmp_path / "f.pt")  # the torch-free int8 runtime: the same numbers as torch's int8 path
    _, whole = lite.encode_chunk(lite.initial_state(), padded, final=True)
    assert np.array_equal(whole, int8_ref.numpy())
    # the compiled int8 kernel against torch's own int8 modules, which floor in AcousticModel.embed
    assert np.abs(whole - _offline(q, padded).numpy()).max() <= 0.05
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".ts")):  # the floor is inside the exported graph
        exported = load_any_model(export_model(model, tmp_path / f"m{suffix}", fmt))
        assert exported.config.feature_floor == FLOOR
        assert (_streamed(exported, padded) - ref).abs().max() <= 1e-4, fmt
    from asr.runtime.onnx_stream import OnnxStreamer

    streamer = OnnxStreamer(str(tmp_path / "m.onnx"))
    got = np.concatenate([streamer.accept(padded[:7000]), streamer.accept(padded[7000:]), streamer.finish()])
    assert np.abs(got - ref.numpy()).max() <= 1e-4


def test_average_sets_or_keeps_the_floor(tmp_path, capsys):
    from train.average import average_models, main

    a, b = _model(), _model(None)
    assert average_models([a, b]).config.feature_floor == FLOOR  # the floor holds no weights: the first's
    assert average_models([b, a], feature_floor=-14.0).config.feature_floor == -14.0
    save_model(tmp_path / "a.pt", b)
    assert main([str(tmp_path / "a.pt"), "--out", str(tmp_path / "f.pt"), "--feature-floor", "-13.5"]) == 0
    assert "feature floor -13.5" in capsys.readouterr().out
    floored = load_model(tmp_path / "f.pt")
    assert floored.config.feature_floor == -13.5
    assert all(torch.equal(p, q) for p, q in zip(floored.parameters(), b.parameters()))  # only the floor is new
    assert main([str(tmp_path / "a.pt"), "--out", str(tmp_path / "g.pt"), "--feature-floor", "-99"]) == 2
    assert "feature floor must be between" in capsys.readouterr().err


def test_training_records_the_floor_inherits_it_and_resumes_runs_saved_without_it(tiny_corpus, tmp_path):
    from asr.cli import main
    from train.config import TrainConfig
    from train.loop import _check_resumable
    from train.state import StateError

    base = ["train", "--data", str(tiny_corpus), "--train", "tiny-train", "--dev", "tiny-dev", "--hidden", "32",
            "--layers", "1", "--batch-seconds", "8", "--epochs", "1"]
    assert main([*base, "--feature-floor", "-14", "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["model"]["feature_floor"] == -14.0
    assert load_model(tmp_path / "a" / "best.pt").config.feature_floor == -14.0
    assert main([*base, "--init", str(tmp_path / "a" / "best.pt"), "--out", str(tmp_path / "b")]) == 0
    assert load_model(tmp_path / "b" / "best.pt").config.feature_floor == -14.0  # from --init

    cfg = TrainConfig(data=tmp_path, train_subsets=("t",), dev_subset="d", out=tmp_path)
    saved = json.loads(json.dumps(asdict(cfg), default=str))
    del saved["model"]["feature_floor"]  # a run started before the field existed
    _check_resumable({"config": saved}, cfg)
    with pytest.raises(StateError, match="model configuration"):
        _check_resumable({"config": saved}, replace(cfg, model=replace(cfg.model, feature_floor=-14.0)))


def test_a_new_models_statistics_are_of_the_floored_features(tmp_path, padded):
    import soundfile as sf

    from data.librispeech import Utterance
    from train.dataset import SpeechDataset, feature_stats

    sf.write(tmp_path / "a.flac", padded, 16000)
    data = SpeechDataset([Utterance("a", tmp_path / "a.flac", "the birch canoe", len(padded) / 16000, "x")], stride=3)
    feats = data[0][0].feats.double()
    mean, std = feature_stats(data, floor=FLOOR)
    assert torch.allclose(mean, feats.clamp_min(FLOOR).mean(0).float(), atol=1e-4)
    assert torch.allclose(std, feats.clamp_min(FLOOR).std(0, unbiased=False).float(), atol=1e-3)
    assert not torch.allclose(feature_stats(data)[0], mean, atol=1e-2)  # unfloored: the zeros pull it down
