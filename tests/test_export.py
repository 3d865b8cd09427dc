"""Exported models (TorchScript, ONNX) and int8 quantization: same outputs as the PyTorch paths."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.audio import HOP_LENGTH, LOG_FLOOR, N_FFT, SAMPLE_RATE
from asr.runtime.backends import ExportedModel, load_any_model, model_kind
from asr.checkpoint import ModelError, save_model
from asr.runtime.export import export_model
from asr.runtime.incremental import encode_chunk, initial_state
from asr.model import AcousticModel, ModelConfig
from asr.runtime.quantize import is_quantized, quantize_model
from stream.transcribe import transcribe_file

from .conftest import espeak

ASSETS = Path(__file__).parent.parent / "asr" / "assets"

CELLS = ["gru", "lstm", "rnn"]
SUFFIX = {"torchscript": ".ts", "onnx": ".onnx"}


def _model(cell: str, lookahead: int = 1, hidden: int = 48) -> AcousticModel:
    torch.manual_seed(0)
    return AcousticModel(ModelConfig(cell=cell, hidden=hidden, layers=2, lookahead=lookahead)).eval()


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    return torch.from_numpy(espeak("the birch canoe slid on the smooth planks"))


def _offline(model, wave):
    with torch.inference_mode():
        feats = model.logmel(wave[None])
        return model(feats, torch.tensor([feats.shape[1]]))[0][0]


def _streamed(model, wave, seed=0):
    rng, state, outs, i = np.random.default_rng(seed), initial_state(model), [], 0
    while i < len(wave):
        n = int(rng.integers(1, 4000))
        state, lp = encode_chunk(model, state, wave[i: i + n])
        outs.append(lp)
        i += n
    state, lp = encode_chunk(model, state, torch.zeros(0), final=True)
    return torch.cat(outs + [lp])


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("cell,lookahead", [("gru", 1), ("lstm", 2), ("rnn", 0)])
def test_exported_step_streams_exactly_like_pytorch(tmp_path, speech, fmt, cell, lookahead):
    """Random chunkings through the exported step give the PyTorch offline log-probs."""
    model = _model(cell, lookahead)
    path = export_model(model, tmp_path / f"m{SUFFIX[fmt]}", fmt)
    exported = load_any_model(path)
    assert isinstance(exported, ExportedModel) and exported.runtime == fmt
    assert exported.config == model.config
    ref = _offline(model, speech)
    got = _streamed(exported, speech)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() <= 1e-4
    offline, _, _ = exported(model.logmel(speech[None]), torch.tensor([ref.shape[0] * 3]))
    assert (offline[0] - ref).abs().max() <= 1e-4


def test_onnx_state_interface_in_a_plain_onnxruntime_loop(tmp_path, speech):
    """The ONNX graph alone (features, pending, tail, h -> log_probs, pending_out, h_out) streams exactly."""
    import onnxruntime as ort

    model = _model("gru", lookahead=1)
    path = export_model(model, tmp_path / "m.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["features", "pending", "tail", "h"]
    feats = model.logmel(speech[None])[0].numpy()  # T x 80, computed whole here; the step is what streams
    h, pending, outs = np.zeros((2, 1, 48), np.float32), np.zeros((1, 0, 48), np.float32), []
    no_tail = np.zeros((1, 0, 48), np.float32)
    usable = feats.shape[0] // 3 * 3
    for start in range(0, usable, 6):  # 2 model frames (60 ms) per call
        lp, pending, h = session.run(None, {"features": feats[None, start: min(start + 6, usable)],
                                            "pending": pending, "tail": no_tail, "h": h})
        outs.append(lp[0])
    lp, _, _ = session.run(None, {"features": feats[None, :0], "pending": pending,
                                  "tail": np.zeros((1, 1, 48), np.float32), "h": h})
    outs.append(lp[0])
    assert np.abs(np.concatenate(outs) - _offline(model, speech).numpy()).max() <= 1e-4


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_torch_free_onnx_streamer_gives_the_pytorch_log_probs(tmp_path, speech, cell):
    from asr.runtime.onnx_stream import OnnxStreamer

    model = _model(cell, lookahead=1)
    streamer = OnnxStreamer(str(export_model(model, tmp_path / "m.onnx", "onnx")))
    wave, rng, outs, i = speech.numpy(), np.random.default_rng(1), [], 0
    while i < len(wave):
        n = int(rng.integers(1, 3000))
        outs.append(streamer.accept(wave[i: i + n]))
        i += n
    outs.append(streamer.finish())
    assert np.abs(np.concatenate(outs) - _offline(model, speech).numpy()).max() <= 1e-4
    silence = np.zeros(N_FFT + 9 * HOP_LENGTH, np.float32)  # digital silence: the exported floor, not the old one
    assert np.allclose(streamer.logmel(silence), np.log(np.float32(LOG_FLOOR)))


def test_onnx_streamer_runs_without_torch(tmp_path, random_model_path):
    export_model(load_any_model(random_model_path), tmp_path / "m.onnx", "onnx")
    code = ("import sys, runpy; sys.argv = ['x', sys.argv[1], sys.argv[2]]; "
            "runpy.run_module('asr.runtime.onnx_stream', run_name='__main__'); assert 'torch' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx"), str(ASSETS / "sample.flac")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "RTF" in r.stderr


def test_transcribe_with_exported_models_gives_the_same_text(tmp_path, speech):
    model = _model("gru", hidden=64)
    wav = tmp_path / "s.wav"
    sf.write(wav, speech.numpy(), SAMPLE_RATE)
    ref = transcribe_file(model, wav).text
    for fmt in ("torchscript", "onnx"):
        exported = load_any_model(export_model(model, tmp_path / f"m{SUFFIX[fmt]}", fmt))
        assert transcribe_file(exported, wav).text == ref


def test_int8_checkpoint_is_small_reloads_exactly_and_stays_close(tmp_path, speech):
    model = _model("gru", hidden=256)
    save_model(tmp_path / "f.pt", model)
    path = export_model(model, tmp_path / "q.pt", "pt", "int8")
    assert path.stat().st_size <= (tmp_path / "f.pt").stat().st_size / 3
    q = quantize_model(model)
    reloaded = load_any_model(path)
    assert is_quantized(q) and is_quantized(reloaded)
    assert torch.equal(_offline(q, speech), _offline(reloaded, speech))  # int8 values stored exactly
    assert (_offline(q, speech) - _offline(model, speech)).abs().max() < 0.1
    # streaming runs unchanged; activations are quantized per call, so chunked output is close, not equal
    assert (_streamed(reloaded, speech) - _offline(reloaded, speech)).abs().max() < 0.1


def test_int8_scales_are_per_row_and_per_matrix_files_still_load(tmp_path, speech):
    """Each output row of a quantized weight has its own scale (a GRU matrix stacks three gates of
    different ranges); int8 files from before, one scale per matrix, still load and run."""
    from asr.runtime.quantize import model_from_quantized_dict, quantized_checkpoint_dict

    model = _model("gru", hidden=64)
    ckpt = quantized_checkpoint_dict(quantize_model(model))
    q = ckpt["quantization"]
    for key, values in q["int8"].items():
        scales = q["scales"][key]
        assert isinstance(scales, torch.Tensor) and scales.shape == values.shape[:1]
        assert scales.unique().numel() > 1
    old = {**q, "int8": {}, "scales": {}}  # the same weights quantized one scale per matrix
    for key, values in q["int8"].items():
        w = values.float() * q["scales"][key][:, None]
        scale = float(w.abs().max()) / 127
        old["int8"][key], old["scales"][key] = torch.round(w / scale).to(torch.int8), scale
    torch.save({**ckpt, "quantization": old}, tmp_path / "old.pt")
    reloaded = model_from_quantized_dict(torch.load(tmp_path / "old.pt", weights_only=True))
    assert is_quantized(reloaded)
    assert (_offline(reloaded, speech) - _offline(model, speech)).abs().max() < 0.1
    assert (_streamed(reloaded, speech) - _offline(model, speech)).abs().max() < 0.1  # the compiled int8 kernel
    bad = {**q, "scales": {k: v[:-1] for k, v in q["scales"].items()}}
    with pytest.raises(ModelError, match="scales"):
        model_from_quantized_dict({**ckpt, "quantization": bad})


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_int8_exports_are_a_third_of_float(tmp_path, fmt):
    """At the bundled model's size (the issue's goal); per-row scales and the float front end weigh
    relatively more in smaller models."""
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden=384, layers=3)).eval()
    suffix = SUFFIX[fmt]
    small = export_model(model, tmp_path / f"q{suffix}", fmt, "int8").stat().st_size
    assert small <= export_model(model, tmp_path / f"f{suffix}", fmt).stat().st_size / 3


@pytest.mark.parametrize("cell", CELLS)
def test_int8_exports_run_every_cell(tmp_path, speech, cell):
    model = _model(cell)
    ref = _offline(model, speech)
    for fmt, suffix in (("pt", ".pt"), ("torchscript", ".ts"), ("onnx", ".onnx")):
        m = load_any_model(export_model(model, tmp_path / f"q{suffix}", fmt, "int8"))
        got = _streamed(m, speech)
        assert got.shape == ref.shape and (got - ref).abs().max() < 0.2


def test_model_kind_and_bad_files(tmp_path):
    model = _model("gru")
    save_model(tmp_path / "f.pt", model)
    export_model(model, tmp_path / "m.ts", "torchscript")
    export_model(model, tmp_path / "m.onnx", "onnx")
    (tmp_path / "m.onnx").rename(tmp_path / "renamed.bin")
    assert model_kind(tmp_path / "f.pt") == "checkpoint"
    assert model_kind(tmp_path / "m.ts") == "torchscript"
    assert model_kind(tmp_path / "renamed.bin") == "onnx"
    assert isinstance(load_any_model(tmp_path / "renamed.bin"), ExportedModel)
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ModelError, match="bad.onnx"):
        load_any_model(tmp_path / "bad.onnx")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "other.ts"))
    with pytest.raises(ModelError, match="without this project's metadata"):
        load_any_model(tmp_path / "other.ts")
    with pytest.raises(ModelError, match="no such model"):
        load_any_model(tmp_path / "missing.onnx")


def test_cli_export_then_transcribe(tmp_path, random_model_path):
    wav = tmp_path / "s.wav"
    sf.write(wav, espeak("a watched pot never boils"), SAMPLE_RATE)

    def asr(*args):
        return subprocess.run([sys.executable, "-m", "asr", *map(str, args)], capture_output=True, text=True,
                              timeout=120)

    r = asr("export", "--model", random_model_path, "--format", "onnx", "--quantize", "int8",
            "--out", tmp_path / "q.onnx")
    assert r.returncode == 0, r.stderr
    assert "q.onnx: onnx int8" in r.stdout
    r = asr("transcribe", wav, "--model", tmp_path / "q.onnx", "--format", "json", "--threads", "1")
    assert r.returncode == 0, r.stderr
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x01not a model")
    r = asr("transcribe", wav, "--model", tmp_path / "broken.onnx")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "broken.onnx" in r.stderr
