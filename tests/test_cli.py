"""The `asr` command end to end, as a user runs it (subprocess, exit status, stdout/stderr)."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import soxr

from asr.audio import SAMPLE_RATE, load_audio

from .conftest import espeak

SENTENCE = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG"


def run_asr(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "asr", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    speech = espeak(SENTENCE)
    sf.write(d / "good.flac", speech, SAMPLE_RATE)
    (d / "empty.wav").write_bytes(b"")
    (d / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    blob = (d / "good.flac").read_bytes()
    (d / "truncated.flac").write_bytes(blob[: len(blob) // 2])
    sf.write(d / "silent.wav", np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    at8k = soxr.resample(speech, SAMPLE_RATE, 8000)
    sf.write(d / "stereo8k.wav", np.stack([at8k, 0.5 * at8k], axis=1), 8000)
    sf.write(d / "speech.ogg", speech, SAMPLE_RATE, format="OGG", subtype="VORBIS")
    sf.write(d / "speech.mp3", speech, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III")
    sf.write(d / "speech44k.wav", soxr.resample(speech, SAMPLE_RATE, 44100), 44100)
    return d


def test_load_audio_any_format_rate_and_channels(files):
    ref = load_audio(files / "good.flac")
    for name in ["speech.ogg", "speech.mp3", "speech44k.wav", "stereo8k.wav"]:
        x = load_audio(files / name)
        assert x.dtype == np.float32 and x.ndim == 1
        assert abs(len(x) - len(ref)) < 0.1 * SAMPLE_RATE, name  # mp3 adds encoder padding


def test_bad_files_are_one_line_errors_and_good_files_still_transcribed(files, random_model_path):
    names = ["missing.wav", "empty.wav", "notes.wav", "truncated.flac", "good.flac", "silent.wav", "stereo8k.wav"]
    r = run_asr("transcribe", "--model", random_model_path, "--format", "json", *[files / n for n in names])
    assert r.returncode == 1
    errors = r.stderr.strip().splitlines()
    assert len(errors) == 4 and "Traceback" not in r.stderr
    for bad, line in zip(["missing.wav", "empty.wav", "notes.wav", "truncated.flac"], errors):
        assert line.startswith("asr: error: ") and bad in line
    assert "no such file" in errors[0] and "empty file" in errors[1] and "truncated" in errors[3]
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [res["file"].rsplit("/", 1)[1] for res in results] == ["good.flac", "silent.wav", "stereo8k.wav"]
    assert all({"file", "text", "duration"} <= set(res) for res in results)
    assert results[1]["duration"] == pytest.approx(1.0, abs=0.01)


def test_all_good_files_exit_zero_and_text_format(files, random_model_path):
    r = run_asr("transcribe", "--model", random_model_path, files / "good.flac", files / "silent.wav")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(files / "good.flac") + ":")


def test_bad_model_paths_exit_two(files, tmp_path):
    r = run_asr("transcribe", "--model", tmp_path / "nope.pt", files / "good.flac")
    assert r.returncode == 2 and "no such model file" in r.stderr and "Traceback" not in r.stderr
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04garbage" * 100)
    r = run_asr("transcribe", "--model", corrupt, files / "good.flac")
    assert r.returncode == 2 and "not a readable checkpoint" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_eval_json_keys(tiny_corpus, random_model_path):
    r = run_asr("eval", "--data", tiny_corpus, "--subset", "tiny-dev", "--model", random_model_path,
                "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"wer", "cer", "utterances", "audio_seconds", "rtf"} <= set(out)
    assert out["utterances"] == 2 and out["audio_seconds"] > 1


def test_eval_report_adds_up_to_the_wer(tiny_corpus, random_model_path):
    r = run_asr("eval", "--data", tiny_corpus, "--subset", "tiny-dev", "--model", random_model_path,
                "--format", "json", "--report", "3")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rep = out["report"]
    assert rep["correct"] + rep["substitutions"] + rep["deletions"] == rep["reference_words"] > 0
    errors = rep["substitutions"] + rep["deletions"] + rep["insertions"]
    assert 100 * errors / rep["reference_words"] == pytest.approx(out["wer"], abs=0.01)
    assert len(rep["missed"]) <= 3 and all(m["missed"] <= m["said"] for m in rep["missed"])
    assert sum(b["utterances"] for b in rep["by_length"]) == out["utterances"]  # every clip in one length bin
    bad = run_asr("eval", "--data", tiny_corpus, "--subset", "tiny-dev", "--report", "0")
    assert bad.returncode == 2 and "must be 1 or more" in bad.stderr


def test_eval_missing_subset_is_one_line(tmp_path, random_model_path):
    r = run_asr("eval", "--data", tmp_path, "--subset", "nope", "--model", random_model_path)
    assert r.returncode == 2 and "no subset 'nope'" in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def bundled_transcript(files) -> str:
    r = run_asr("transcribe", files / "good.flac")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_bundled_model_transcribes_synthesized_speech(bundled_transcript):
    """The default model gets most characters of a sentence in espeak-ng's plain en-us voice right."""
    import jiwer

    assert jiwer.cer(SENTENCE.lower(), bundled_transcript) <= 0.35, bundled_transcript


def test_bundled_model_recovers_most_words(bundled_transcript):
    """... and most of its words (espeak-ng's plain en-us voice, not one of the training variants)."""
    import jiwer

    assert jiwer.wer(SENTENCE.lower(), bundled_transcript) <= 0.5, bundled_transcript


def test_help_lists_every_subcommand():
    r = run_asr("--help")
    assert r.returncode == 0
    for cmd in ["transcribe", "eval", "synth", "train"]:
        assert cmd in r.stdout


def test_train_help_quotes_the_augmenters_gain_range():
    """The gain range in `asr train --help` is the one the augmenters draw from, not a copy that can drift."""
    from train.augment import GAIN_DB

    r = run_asr("train", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())  # argparse wraps lines
    quoted = f"{GAIN_DB[0]:+g}..{GAIN_DB[1]:+g} dB"
    assert f"gain of {quoted} on the features" in text  # --feature-gain
    assert f"gain change of {quoted} per utterance" in text  # --gain
