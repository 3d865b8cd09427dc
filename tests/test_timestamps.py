"""Word timing: espeak-ng's own word onsets (data/word_timing.py) are sane, the bundled model's word
start times land near them, and `asr transcribe --format json` gives consistent words."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.decode.align import forced_words
from asr.audio import SAMPLE_RATE
from asr.checkpoint import DEFAULT_MODEL, load_model
from asr.cli import main
from bench.timestamps import measured_delay_meta
from data.word_timing import WordTimingError, espeak_words
from stream.recognizer import StreamConfig, finish, initial_stream_state, step

from .conftest import SENTENCES

# The bundled model's emission delay as bench/timestamps.py measured it on 60 held-out sentences x
# 24 held-out espeak-ng voices (not these): word starts are 85-88 ms late (median); subtracting 2.75
# frames of 30 ms (greedy; 3 for beam and forced alignment) puts 99.5 % of words within 100 ms.
DELAY_FRAMES = 2.75
PAD_S = 0.2


@pytest.fixture(scope="module", autouse=True)
def _needs_libespeak():
    try:
        espeak_words("a")
    except WordTimingError as e:
        pytest.skip(str(e))


def energy_onset(audio: np.ndarray) -> float:
    """Start (s) of the first 10 ms frame above 5 % of the loudest frame's RMS."""
    hop = SAMPLE_RATE // 100
    rms = np.sqrt((audio[: len(audio) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1))
    return float(np.flatnonzero(rms > 0.05 * rms.max())[0] * hop / SAMPLE_RATE)


@pytest.mark.parametrize("voice", ["en-us", "en-gb-x-rp+m5"])
def test_espeak_gives_one_onset_per_word_in_order_inside_the_audio(voice):
    for sentence in SENTENCES:
        speech = espeak_words(sentence, voice, rate=160)
        assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1
        seconds = len(speech.audio) / SAMPLE_RATE
        assert [w for w, _ in speech.words] == sentence.lower().split()
        onsets = [t for _, t in speech.words]
        assert None not in onsets  # every word of these sentences has its own WORD event
        assert all(b - a >= 0.03 for a, b in zip(onsets, onsets[1:]))  # increasing, a word lasts a while
        assert 0 <= onsets[0] and onsets[-1] < seconds - 0.2  # the last word is spoken after its onset
        # the first word starts with the sound (up to 100 ms before it: a /t/ begins with silence)
        assert 0 <= energy_onset(speech.audio) - onsets[0] <= 0.1


def test_words_espeak_speaks_as_one_have_no_onset_of_their_own():
    speech = espeak_words("A DIGGER IN THE RED COALS", "en-us")
    assert [w for w, _ in speech.words] == ["a", "digger", "in", "the", "red", "coals"]
    timed = [t for _, t in speech.words if t is not None]
    assert speech.words[0][1] is not None and len(timed) >= 5 and timed == sorted(timed)


def test_apostrophes_and_a_missing_voice_or_library(tmp_path):
    speech = espeak_words("don't stop it's o'clock", "en-gb")
    assert [w for w, _ in speech.words] == ["don't", "stop", "it's", "o'clock"]
    assert all(t is not None for _, t in speech.words)
    for voice in ("xx-nope", "en-us+nope"):
        with pytest.raises(WordTimingError, match="not found"):
            espeak_words("hello", voice)
    with pytest.raises(WordTimingError, match="cannot load"):
        espeak_words("hello", library=str(tmp_path / "libespeak-ng.so.1"))


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_model(DEFAULT_MODEL)


def test_the_bundled_model_carries_its_measured_emission_delay(model):
    """The recognizer subtracts meta["emission_delay_frames"] from word times; a model saved without it (a
    checkpoint average, for one) times every word about 100 ms late. `python -m bench.timestamps --write-delay`."""
    assert 1.0 <= model.meta.get("emission_delay_frames", 0.0) <= 6.0, model.meta
    assert model.meta.get("emission_delay_from", "").startswith("measured"), model.meta


def test_a_measured_delay_replaces_an_averaged_one_and_its_note():
    meta = {"averaged_from": ["a.pt", "b.pt"], "emission_delay_frames": 3.5,
            "emission_delay_from": "weighted mean of the averaged checkpoints' delays"}
    out = measured_delay_meta(meta, 3.75, 30)
    assert out["emission_delay_frames"] == 3.75 and out["averaged_from"] == ["a.pt", "b.pt"]
    assert out["emission_delay_from"].startswith("measured") and "30 sentences" in out["emission_delay_from"]
    assert meta["emission_delay_frames"] == 3.5  # the input is left as it was


@pytest.fixture(scope="module")
def timed_speech():
    """(sentence, 16 kHz audio with PAD_S of silence before and after, the true word onsets)."""
    out = []
    for voice in ("en-us", "en-gb"):
        for sentence in SENTENCES[:3]:
            speech = espeak_words(sentence, voice, rate=160)
            pad = np.zeros(round(PAD_S * SAMPLE_RATE), np.float32)
            out.append((sentence, np.concatenate([pad, speech.audio, pad]),
                        [(w, t + PAD_S) for w, t in speech.words]))
    return out


def test_forced_alignment_word_starts_are_near_the_synthesizer_onsets(model, timed_speech):
    """The model emits late, never early (it is causal with one 30 ms frame of lookahead), and by
    about the same delay for every word: with the measured constant, >= 90 % within 100 ms."""
    raw, delayed = [], []
    for sentence, audio, truth in timed_speech:
        words = forced_words(model, audio, sentence)
        assert [w["word"] for w in words] == [w for w, _ in truth]
        raw += [w["start"] - t for w, (_, t) in zip(words, truth)]
        words = forced_words(model, audio, sentence, delay_frames=DELAY_FRAMES)
        delayed += [w["start"] - t for w, (_, t) in zip(words, truth)]
    raw, delayed = np.array(raw), np.array(delayed)
    assert len(raw) == 44
    assert np.all(raw > -0.02) and np.all(raw < 0.25) and 0.03 < np.median(raw) < 0.15
    assert np.mean(np.abs(delayed) <= 0.1) >= 0.9
    assert np.allclose(delayed, raw - DELAY_FRAMES * model.config.frame_seconds, atol=0.0011)


def test_streamed_greedy_word_starts_are_near_the_synthesizer_onsets(model, timed_speech):
    """The recognizer's own words (greedy, StreamConfig.delay_frames), where a hypothesis word is
    aligned to the same reference word."""
    import difflib

    cfg = StreamConfig(delay_frames=DELAY_FRAMES)
    errors = []
    for _, audio, truth in timed_speech:
        state, events = step(model, initial_stream_state(model), torch.from_numpy(audio), cfg)
        state, last = finish(model, state, cfg)
        words = [w for e in events + last if e["type"] == "final" for w in e["words"]]
        ref, hyp = [w for w, _ in truth], [w["word"] for w in words]
        for block in difflib.SequenceMatcher(None, ref, hyp, autojunk=False).get_matching_blocks():
            errors += [words[block.b + k]["start"] - truth[block.a + k][1] for k in range(block.size)]
    errors = np.array(errors)
    assert len(errors) >= 12  # of 44 words: the espeak-ng default voices are not among the training voices
    assert np.mean(np.abs(errors) <= 0.1) >= 0.9


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_json_words_spell_the_text_in_order_with_sane_times(timed_speech, tmp_path, capsys, decoder):
    gap = np.zeros(SAMPLE_RATE, np.float32)  # a pause: two finals, two segments
    sf.write(tmp_path / "two.wav", np.concatenate([timed_speech[0][1], gap, timed_speech[4][1]]), SAMPLE_RATE)
    assert main(["transcribe", "--format", "json", "--decoder", decoder, str(tmp_path / "two.wav")]) == 0
    out = json.loads(capsys.readouterr().out)
    words = out["words"]
    assert len(out["segments"]) == 2 and len(words) >= 8
    assert " ".join(w["word"] for w in words) == out["text"]
    assert all(set(w) == {"word", "start", "end", "confidence"} for w in words)
    assert all(0 <= w["start"] <= w["end"] <= out["duration"] for w in words)
    assert all(a["end"] <= b["start"] for a, b in zip(words, words[1:]))
    assert all(0 <= w["confidence"] <= 1 for w in words) and 0 < out["confidence"] <= 1
    second = [w for w in words if w["start"] >= timed_speech[0][1].size / SAMPLE_RATE + 0.5]
    assert second and " ".join(w["word"] for w in second) == out["segments"][1]["text"]
