"""Streaming: exact equality with offline for any chunking, endpointing, events, bad input."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.model import AcousticModel, ModelConfig
from stream.transcribe import transcribe_file
from asr.vocab import BLANK, VOCAB
from stream import Recognizer, StreamConfig, finish, initial_stream_state, step, to_float_pcm
from stream.recognizer import _decode

from .conftest import espeak

CELLS = ["gru", "lstm", "rnn"]
_SPEECH = np.concatenate([espeak("hello there"), np.zeros(16000, np.float32), espeak("good morning")])


def _model(cell):
    torch.manual_seed(1)
    return AcousticModel(ModelConfig(cell=cell, hidden=40, layers=2, lookahead=2)).eval()


_MODELS = {c: _model(c) for c in CELLS}


def _stream(model, pcm, sizes, cfg=StreamConfig()):
    state, events, pos = initial_stream_state(model), [], 0
    for n in sizes:
        state, ev = step(model, state, pcm[pos: pos + n], cfg)
        events += ev
        pos += n
    state, ev = step(model, state, pcm[pos:], cfg)
    events += ev
    state, ev = finish(model, state, cfg)
    return events + ev


def _offline_text(model, pcm, tmp_path):
    import soundfile as sf

    path = tmp_path / "x.wav"
    sf.write(path, pcm, 16000, subtype="FLOAT")
    return transcribe_file(model, path, block_seconds=0.7).text


@settings(max_examples=15, deadline=None)
@given(cell=st.sampled_from(CELLS), sizes=st.lists(st.integers(1, 9000), max_size=20))
def test_finals_equal_offline_transcript_for_any_chunking(cell, sizes, tmp_path_factory):
    model = _MODELS[cell]
    events = _stream(model, _SPEECH, sizes)
    finals = [e["text"] for e in events if e["type"] == "final"]
    expected = _offline_text(model, _SPEECH, tmp_path_factory.mktemp("o"))
    assert " ".join(f for f in finals if f) == expected
    for e in events:
        keys = {"type", "text", "start", "end", "latency_ms"} | ({"words", "confidence"} if e["type"] == "final" else set())
        assert set(e) == keys and e["type"] in ("partial", "final")
        assert 0 <= e["start"] <= e["end"] and e["latency_ms"] >= 0
        if e["type"] == "final":  # the words spell the text, in order, with times inside the stream
            assert " ".join(w["word"] for w in e["words"]) == e["text"]
            assert all(0 <= w["start"] <= w["end"] and 0 <= w["confidence"] <= 1 for w in e["words"])
            assert all(a["end"] <= b["start"] for a, b in zip(e["words"], e["words"][1:]))


def test_one_sample_chunks_equal_whole(tmp_path):
    model = _MODELS["lstm"]
    pcm = _SPEECH[:6000]
    a = _stream(model, pcm, [1] * 6000)
    b = _stream(model, pcm, [])
    assert [e["text"] for e in a if e["type"] == "final"] == [e["text"] for e in b if e["type"] == "final"]


def _frames(tokens: str) -> torch.Tensor:
    """Log-probs whose best token per frame spells `tokens` ('_' blank)."""
    ids = [BLANK if c == "_" else VOCAB.index(c) for c in tokens]
    lp = torch.full((len(ids), len(VOCAB)), -9.0)
    lp[torch.arange(len(ids)), torch.tensor(ids)] = 0.0
    return lp


def test_endpoint_after_trailing_silence_and_text_starts_fresh():
    state = initial_stream_state(_MODELS["gru"])
    cfg = StreamConfig(trailing_silence=0.3)  # 10 frames of 30 ms
    state, finals, _ = _decode(state, _frames("__hi_" + "_" * 12 + "yo__"), cfg, 0.03)
    assert [f["text"] for f in finals] == ["hi"]
    assert finals[0]["start"] == pytest.approx(0.06) and finals[0]["end"] == pytest.approx(0.12)
    assert state.text == "yo" and state.start_frame == 17


def test_long_utterance_is_cut_at_a_word_boundary():
    state = initial_stream_state(_MODELS["gru"])
    cfg = StreamConfig(trailing_silence=5.0, max_utterance=0.3)  # 10 frames
    state, finals, _ = _decode(state, _frames("abcdefghijklmn opq rs tuvwxyzabcd ef"), cfg, 0.03)
    # cut at the first space once 10 frames have passed since the utterance began
    assert [f["text"] for f in finals] == ["abcdefghijklmn", "opq rs tuvwxyzabcd"]
    assert state.text == "ef"


def test_pcm_conversions_and_sanitising():
    x, carry, stats = to_float_pcm(np.array([0, 16384, -32768], dtype=np.int16).tobytes()[:5])
    assert x.tolist() == [0.0, 0.5] and len(carry) == 1
    y, carry, _ = to_float_pcm(b"\x80", carry)
    assert y.tolist() == [-1.0] and carry == b""
    z, _, stats = to_float_pcm(np.array([np.nan, np.inf, 2.0, -0.5], dtype=np.float32))
    assert z.tolist() == [0.0, 0.0, 1.0, -0.5] and stats.nonfinite == 2 and stats.clipped == 1
    with pytest.raises(TypeError):
        to_float_pcm("not audio")
    with pytest.raises(TypeError):
        to_float_pcm(np.zeros(3, dtype=np.int64))


def test_recognizer_survives_bad_chunks_and_keeps_its_text():
    model = _MODELS["gru"]
    rec = Recognizer(model)
    pcm16 = (np.clip(_SPEECH, -1, 1) * 32767).astype(np.int16)
    raw = pcm16.tobytes()
    events = rec.feed_audio(raw[:7777])  # odd byte length
    events += rec.feed_audio(b"")  # empty chunk
    before = rec.state
    with pytest.raises(TypeError):
        rec.feed_audio(["not", "audio"])
    assert rec.state is before  # a rejected chunk leaves the state as it was
    events += rec.feed_audio(raw[7777:])
    events += rec.finish()
    ref = _stream(model, pcm16.astype(np.float32) / 32768.0, [])
    assert [e["text"] for e in events if e["type"] == "final"] == [e["text"] for e in ref if e["type"] == "final"]
    assert rec.state.encoder.samples_seen == 0  # finish resets for a new stream


def test_asr_stream_cli_jsonl_and_stats(tmp_path, random_model_path):
    import json
    import subprocess
    import sys

    import soundfile as sf

    wav = tmp_path / "s.wav"
    sf.write(wav, _SPEECH, 16000)
    r = subprocess.run([sys.executable, "-m", "asr", "stream", str(wav), "--model", str(random_model_path),
                        "--format", "jsonl", "--chunk-ms", "40", "--stats"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events and events[-1]["type"] == "final"
    assert "real-time factor" in r.stderr and "p95" in r.stderr and "peak RSS" in r.stderr
    r = subprocess.run([sys.executable, "-m", "asr", "transcribe", str(wav), "--model", str(random_model_path)],
                       capture_output=True, text=True, timeout=120)
    assert " ".join(e["text"] for e in events if e["type"] == "final" and e["text"]) == r.stdout.strip()
    missing = subprocess.run([sys.executable, "-m", "asr", "stream", str(tmp_path / "nope.wav"), "--model",
                              str(random_model_path)], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr


def test_event_printer_text_mode_shows_finals_on_their_own_lines():
    import io

    from stream.display import EventPrinter

    out = io.StringIO()
    printer = EventPrinter("text", out)
    printer([{"type": "partial", "text": "hel", "start": 0, "end": 1, "latency_ms": 1}])
    printer([{"type": "final", "text": "hello", "start": 0, "end": 1, "latency_ms": 1}])
    printer.close()
    assert out.getvalue() == "hello\n"  # not a terminal: partials are not drawn
