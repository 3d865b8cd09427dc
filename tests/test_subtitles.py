"""Subtitles: what `asr transcribe --format srt|vtt` writes is read back by real parsers (PyPI `srt`
and `webvtt-py`), and asr.decode.words.cues keeps its splitting rules on any word list."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import srt
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from asr.audio import SAMPLE_RATE
from asr.cli import main
from asr.decode.subtitles import to_srt, to_vtt
from asr.decode.words import cues

from .conftest import espeak

PAUSE_S = 1.5  # between the two sentences of a file: longer than the endpointer's 0.8 s and cues' 0.6 s


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Two files of two sentences each, with a long pause in the middle."""
    d = tmp_path_factory.mktemp("subtitles")
    gap = np.zeros(round(PAUSE_S * SAMPLE_RATE), np.float32)
    for name, (a, b) in {"one": ("THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG", "A WATCHED POT NEVER BOILS"),
                         "two": ("SHE SELLS SEA SHELLS BY THE SEA SHORE", "BETTER LATE THAN NEVER")}.items():
        sf.write(d / f"{name}.wav", np.concatenate([espeak(a), gap, espeak(b)]), SAMPLE_RATE)
    return d


def asr(capsys, *args) -> str:
    """`asr ARGS` in this process (the model loads in a fraction of a second; a new python takes seconds)."""
    assert main([str(a) for a in args]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def transcripts(speech):
    """file stem -> the JSON transcript (text and words)."""
    out = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--format", "json",
                          speech / "one.wav", speech / "two.wav"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines()]
    return {r["file"].rsplit("/", 1)[1].split(".")[0]: r for r in results}


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    return [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(text, ignore_errors=False)]


def vtt_cues(text: str) -> list[tuple[float, float, str]]:
    return [(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.text)
            for c in webvtt.from_string(text)]


def check_cues(parsed: list[tuple[float, float, str]], transcript: dict) -> None:
    assert len(parsed) >= 2  # at least one cue per sentence: the pause splits them
    for start, end, _ in parsed:
        assert 0 <= start < end <= transcript["duration"] + 0.001
    assert all(a[1] <= b[0] for a, b in zip(parsed, parsed[1:]))  # in order, never overlapping
    assert " ".join(text for _, _, text in parsed) == transcript["text"]
    pause = [w for a, w in zip(transcript["words"], transcript["words"][1:]) if w["start"] - a["end"] > 1.0]
    assert pause and any(start == pytest.approx(pause[0]["start"], abs=0.0011) for start, _, _ in parsed)


def test_srt_output_parses(speech, transcripts, capsys):
    check_cues(srt_cues(asr(capsys, "transcribe", "--format", "srt", speech / "one.wav")), transcripts["one"])


def test_vtt_output_parses(speech, transcripts, capsys):
    check_cues(vtt_cues(asr(capsys, "transcribe", "--format", "vtt", speech / "one.wav")), transcripts["one"])


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_output_dir_gets_one_subtitle_file_per_input(speech, transcripts, capsys, tmp_path, fmt):
    assert asr(capsys, "transcribe", "--format", fmt, "--output-dir", tmp_path, speech / "one.wav",
               speech / "two.wav") == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"one.{fmt}", f"two.{fmt}"]
    for stem in ("one", "two"):
        text = (tmp_path / f"{stem}.{fmt}").read_text(encoding="utf-8")
        check_cues(srt_cues(text) if fmt == "srt" else vtt_cues(text), transcripts[stem])


def test_subtitles_of_several_files_need_an_output_dir(speech):
    r = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--format", "srt", speech / "one.wav",
                        speech / "two.wav"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("asr: error: ") and "--output-dir" in r.stderr and "Traceback" not in r.stderr


# durations from 1 ms: the recognizer's words last at least a frame (a word of zero length, which only
# a delay_frames clamped at 0 s can make, gives a 1 ms cue that may overlap the next one)
words_lists = st.lists(st.tuples(st.text("abcdefghijklmnopqrstuvwxyz'", min_size=1, max_size=14),
                                 st.floats(0.0, 2.0), st.floats(0.001, 1.5)), max_size=60)


def timed(spec) -> list[dict]:
    """Words from (text, gap before, duration), in order, as asr.decode.words gives them (ms resolution)."""
    words, t = [], 0.0
    for text, gap, dur in spec:
        start = round(t + gap, 3)
        t = round(start + dur, 3)
        words.append({"word": text, "start": start, "end": t, "confidence": 1.0})
    return words


@settings(max_examples=200, deadline=None)
@given(spec=words_lists)
def test_cues_split_at_pauses_and_at_the_length_limits(spec):
    words = timed(spec)
    out = cues(words, max_seconds=6.0, max_chars=42, pause=0.6)
    assert " ".join(c["text"] for c in out) == " ".join(w["word"] for w in words)  # every word, in order, once
    i = 0
    for k, c in enumerate(out):
        group = words[i: i + len(c["text"].split(" "))]
        i += len(group)
        assert c["start"] == group[0]["start"] and c["end"] >= group[-1]["end"] and c["end"] > c["start"]
        if len(group) > 1:  # a cue longer than the limits is a single word
            assert len(c["text"]) <= 42 and group[-1]["end"] - group[0]["start"] <= 6.0
        assert all(b["start"] - a["end"] <= 0.6 for a, b in zip(group, group[1:]))  # no pause inside a cue
        if k + 1 < len(out):  # a cue ends only when its next word would break a rule
            nxt = words[i]
            assert (nxt["start"] - group[-1]["end"] > 0.6 or nxt["end"] - group[0]["start"] > 6.0
                    or len(c["text"]) + 1 + len(nxt["word"]) > 42)
            assert c["end"] <= out[k + 1]["start"]


@settings(max_examples=50, deadline=None)
@given(spec=words_lists)
def test_srt_and_vtt_of_any_cues_parse(spec):
    out = cues(timed(spec))
    for parsed in (srt_cues(to_srt(out)), vtt_cues(to_vtt(out))):
        assert [text for _, _, text in parsed] == [c["text"] for c in out]
        assert [(s, e) for s, e, _ in parsed] == [(pytest.approx(c["start"], abs=5e-4),
                                                 pytest.approx(c["end"], abs=5e-4)) for c in out]


def test_cues_of_a_long_run_of_words():
    """30 s of speech without pauses: cues of at most 6 s and 42 characters, split nowhere else."""
    words = [{"word": w, "start": round(0.4 * i, 3), "end": round(0.4 * i + 0.35, 3), "confidence": 1.0}
             for i, w in enumerate(("alpha bravo charlie delta echo foxtrot golf hotel " * 10).split()[:75])]
    out = cues(words)
    assert len(out) > 1
    assert all(len(c["text"]) <= 42 and c["end"] - c["start"] <= 6.0 for c in out)
    assert all(len(a["text"]) + 1 + len(b["text"].split()[0]) > 42 or b["start"] + 0.35 - a["start"] > 6.0
               for a, b in zip(out, out[1:]))
