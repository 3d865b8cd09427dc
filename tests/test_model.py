import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.checkpoint import ModelError, load_model, save_model
from asr.decode.greedy import greedy_decode, greedy_step
from asr.runtime.incremental import encode_chunk, initial_state
from asr.model import AcousticModel, ModelConfig
from asr.vocab import BLANK, VOCAB

CELLS = ["gru", "lstm", "rnn"]


def _model(cell: str, lookahead: int = 1, stride: int = 3) -> AcousticModel:
    torch.manual_seed(0)
    return AcousticModel(ModelConfig(cell=cell, hidden=48, layers=2, lookahead=lookahead, stride=stride)).eval()


@pytest.mark.parametrize("cell", CELLS)
def test_forward_shapes_and_state(cell):
    model = _model(cell)
    feats = torch.randn(2, 100, 80)
    log_probs, out_lens, state = model(feats, torch.tensor([100, 61]))
    assert log_probs.shape == (2, 33, len(VOCAB))
    assert out_lens.tolist() == [33, 20]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 33), atol=1e-5)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 2, 48)
    if cell == "lstm":
        assert state[1].shape == (2, 2, 48)


@pytest.mark.parametrize("cell", CELLS)
def test_padding_does_not_change_outputs_or_state(cell):
    model = _model(cell)
    a, b = torch.randn(1, 90, 80), torch.randn(1, 60, 80)
    batch = torch.zeros(2, 90, 80)
    batch[0], batch[1, :60] = a[0], b[0]
    with torch.no_grad():
        lp, lens, state = model(batch, torch.tensor([90, 60]))
        lp_b, _, state_b = model(b, torch.tensor([60]))
    assert torch.allclose(lp[1, :20], lp_b[0], atol=1e-5)
    hb = state_b[0] if cell == "lstm" else state_b
    h = state[0] if cell == "lstm" else state
    assert torch.allclose(h[:, 1], hb[:, 0], atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_state_carries_across_calls(cell):
    """Two calls with the state passed along equal one call (no lookahead, stride-aligned split)."""
    model = _model(cell, lookahead=0)
    feats = torch.randn(1, 120, 80)
    with torch.no_grad():
        whole, _, _ = model(feats, torch.tensor([120]))
        first, _, state = model(feats[:, :60], torch.tensor([60]))
        second, _, _ = model(feats[:, 60:], torch.tensor([60]), state)
    assert torch.allclose(torch.cat([first, second], 1), whole, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_save_and_load_give_identical_outputs(cell, tmp_path):
    model = _model(cell)
    model.normalizer.set_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    path = tmp_path / "m.pt"
    save_model(path, model, {"note": "test"})
    ckpt = torch.load(path, weights_only=True)  # plain dict, safe loading
    assert set(ckpt) >= {"config", "vocab", "normalization", "model"}
    loaded = load_model(path)
    assert loaded.config == model.config and loaded.meta == {"note": "test"}
    feats = torch.randn(1, 99, 80)
    with torch.no_grad():
        assert torch.equal(model(feats, torch.tensor([99]))[0], loaded(feats, torch.tensor([99]))[0])


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match="not a readable checkpoint"):
        load_model(bad)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a model checkpoint"):
        load_model(tmp_path / "other.pt")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        ModelConfig(cell="transformer")
    with pytest.raises(ValueError):
        ModelConfig(lookahead=3)


def test_greedy_decoding_collapses_repeats_and_chains_over_chunks():
    ids = [BLANK, 3, 3, BLANK, 3, 1, 4, 4, 1, BLANK]  # "bb c" with blank between the two b's
    log_probs = torch.full((len(ids), len(VOCAB)), -10.0)
    log_probs[torch.arange(len(ids)), torch.tensor(ids)] = 0.0
    assert greedy_decode(log_probs[None], torch.tensor([len(ids)])) == ["bb c"]
    text1, prev = greedy_step(log_probs[:2])
    text2, _ = greedy_step(log_probs[2:], prev)
    assert text1 + text2 == "bb c "


_WAVE = torch.randn(12_345, generator=torch.Generator().manual_seed(3)) * 0.1
_MODELS = {(cell, la): _model(cell, lookahead=la) for cell in CELLS for la in (0, 2)}


@settings(max_examples=12, deadline=None)
@given(cell=st.sampled_from(CELLS), lookahead=st.sampled_from([0, 2]),
       cuts=st.lists(st.integers(min_value=1, max_value=4000), min_size=0, max_size=25))
def test_incremental_encoder_equals_offline_for_any_chunking(cell, lookahead, cuts):
    model = _MODELS[(cell, lookahead)]
    with torch.no_grad():
        feats = model.logmel(_WAVE[None])
        offline, _, _ = model(feats, torch.tensor([feats.shape[1]]))
    state, outs, pos = initial_state(model), [], 0
    for n in cuts + [len(_WAVE)]:
        state, lp = encode_chunk(model, state, _WAVE[pos: pos + n])
        outs.append(lp)
        pos = min(pos + n, len(_WAVE))
    state, lp = encode_chunk(model, state, torch.zeros(0), final=True)
    streamed = torch.cat(outs + [lp])
    assert streamed.shape == offline[0].shape
    assert (streamed - offline[0]).abs().max() <= 1e-4


def _stream(model, wave, n):
    state, outs = initial_state(model), []
    for pos in range(0, len(wave), n):
        state, lp = encode_chunk(model, state, wave[pos: pos + n])
        outs.append(lp)
    state, lp = encode_chunk(model, state, torch.zeros(0), final=True)
    assert state.samples_seen == len(wave)
    return torch.cat(outs + [lp])


def test_kernel_follows_weights_changed_in_place():
    """encode_chunk's cached kernel (asr.runtime.kernel) is rebuilt when the model's parameters or buffers
    (the normaliser's statistics) change."""
    model = _model("gru")
    before = _stream(model, _WAVE, 1600)
    with torch.no_grad():
        model.head.bias[BLANK] += 5.0
        model.rnn.weight_hh_l0.mul_(0.5)
        model.normalizer.set_stats(model.normalizer.mean + 0.5, model.normalizer.std * 1.2)
        feats = model.logmel(_WAVE[None])
        offline, _, _ = model(feats, torch.tensor([feats.shape[1]]))
    after = _stream(model, _WAVE, 1600)
    assert (after - offline[0]).abs().max() <= 1e-4
    assert (after - before).abs().max() > 0.1


@pytest.mark.parametrize("cell,lookahead", [("gru", 0), ("gru", 2), ("lstm", 1)])
def test_int8_stream_equals_int8_offline_for_any_chunking(cell, lookahead):
    """int8 models stream through the compiled kernel (asr.runtime.int8_kernel), which quantizes activations
    frame by frame: every chunking gives the whole-file int8 numbers exactly, and they stay near the
    float model and near torch's own int8 modules (the int8 model's forward)."""
    from asr.runtime.quantize import quantize_model

    model = _model(cell, lookahead=lookahead)
    q = quantize_model(model)
    whole = _stream(q, _WAVE, len(_WAVE))
    for n in (1, 320, 480, 1600, 4321):
        assert torch.equal(_stream(q, _WAVE, n), whole)
    float_stream = _stream(model, _WAVE, len(_WAVE))
    assert (whole - float_stream).abs().max() <= 0.05
    with torch.no_grad():
        feats = q.logmel(_WAVE[None])
        module_int8 = q(feats, torch.tensor([feats.shape[1]]))[0][0]
    assert whole.shape == module_int8.shape and (whole - module_int8).abs().max() <= 0.05


def test_int8_kernel_tanh_and_sigmoid_match_libm():
    """The gates use a rational tanh (it vectorises); it must agree with the exact functions."""
    from asr.runtime.int8_kernel import _sigmoid, _tanh

    x = np.linspace(-30, 30, 20001, dtype=np.float32)
    assert max(abs(float(_tanh(v)) - math.tanh(float(v))) for v in x) < 1e-6
    assert max(abs(float(_sigmoid(v)) - 1 / (1 + math.exp(-float(v)))) for v in x) < 1e-6
