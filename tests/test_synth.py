"""data/synth.py: a tiny corpus from each engine has the LibriSpeech layout, keeps
held-out voices and sentences out of training, and is the same for the same seed."""

import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data.synth import SynthConfig, SynthError, available_voices, sentence_split, synthesize_corpus

WORDS = ("THE OLD MAN SAW A SMALL DOG NEAR RIVER AND SHE SAID IT WAS COLD "
         "BUT WE WENT HOME AFTER DARK WITH HIS FRIEND WHO DIDN'T KNOW WHY").split()
HOURS = 0.012  # 0.004 h = about 3 utterances per engine


def _voices():
    try:
        return available_voices(("espeak", "flite", "piper"))
    except SynthError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    rng = random.Random(0)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(4, 9))) for _ in range(800)]
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _make(text, root, split, subset, seed=0):
    _voices()
    cfg = SynthConfig(text=text, out=root, subset=subset, hours=HOURS, split=split, seed=seed, workers=2)
    return synthesize_corpus(cfg, progress=False)


@pytest.fixture(scope="module")
def corpora(text, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return {name: _make(text, root, split, f"synth-{name}")
            for name, split in (("train", "train"), ("dev", "dev"), ("train2", "train"))}


def _transcripts(subset: Path) -> dict[str, str]:
    lines = {}
    for trans in subset.glob("*/*/*.trans.txt"):
        for line in trans.read_text().splitlines():
            utt, words = line.split(" ", 1)
            lines[utt] = words
    return lines


def test_layout_and_audio(corpora):
    summary = corpora["train"]
    subset = summary.path
    flacs = sorted(subset.glob("*/*/*.flac"))
    assert len(flacs) == summary.utterances > 0
    assert summary.seconds >= HOURS * 3600 and set(summary.engine_seconds) == {"espeak", "flite", "piper"}
    trans = _transcripts(subset)
    assert sorted(trans) == [f.stem for f in flacs]
    for flac in flacs:
        speaker, chapter = flac.parent.parent.name, flac.parent.name
        assert speaker.isdigit() and chapter.isdigit()
        assert re.fullmatch(rf"{speaker}-{chapter}-\d{{4}}", flac.stem)
        assert (flac.parent / f"{speaker}-{chapter}.trans.txt").is_file()
        info = sf.info(flac)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16")
        assert info.duration > 0.5
    assert all(re.fullmatch(r"[A-Z']+( [A-Z']+)*", words) for words in trans.values())
    listed = {ln.split("|")[0].strip() for ln in (subset / "SPEAKERS.txt").read_text().splitlines()
              if not ln.startswith(";")}
    assert listed == {p.name for p in subset.iterdir() if p.is_dir()}


def test_heldout_voices_and_sentences_only_in_dev(corpora):
    heldout = {v.speaker_id: v.heldout for v in _voices()}
    train, dev = corpora["train"].path, corpora["dev"].path
    train_ids = {int(p.name) for p in train.iterdir() if p.is_dir()}
    dev_ids = {int(p.name) for p in dev.iterdir() if p.is_dir()}
    assert not any(heldout[s] for s in train_ids) and all(heldout[s] for s in dev_ids)
    assert set(corpora["dev"].engine_seconds) == {"espeak", "flite", "piper"}
    train_text, dev_text = set(_transcripts(train).values()), set(_transcripts(dev).values())
    assert {sentence_split(s) for s in train_text} == {"train"}
    assert {sentence_split(s) for s in dev_text} == {"dev"}


def test_same_seed_same_corpus(corpora):
    a, b = corpora["train"].path, corpora["train2"].path
    assert _transcripts(a) == _transcripts(b)
    for flac in a.glob("*/*/*.flac"):  # piper too: its noise generator is seeded per worker
        assert flac.read_bytes() == (b / flac.relative_to(a)).read_bytes()


def test_voices_have_stable_distinct_ids():
    voices = _voices()
    assert len({v.speaker_id for v in voices}) == len(voices)
    for engine in ("espeak", "flite", "piper"):
        mine = [v for v in voices if v.engine == engine]
        assert any(v.heldout for v in mine) and not all(v.heldout for v in mine)
    assert {v.name: v.speaker_id for v in voices}["slt"] == 2004


def test_sentence_split_is_stable_and_small():
    rng = random.Random(1)
    sentences = [" ".join(rng.choices(WORDS, k=8)) for _ in range(5000)]
    dev = [s for s in sentences if sentence_split(s) == "dev"]
    assert 0.015 < len(dev) / len(sentences) < 0.05
    assert all(sentence_split(f"  {s.lower()} ") == "dev" for s in dev)


def test_postprocess_trims_pads_and_levels():
    from data.synth import _Job, _postprocess

    sr = 22050
    t = np.arange(sr) / sr
    audio = np.concatenate([np.zeros(sr), 0.3 * np.sin(2 * np.pi * 200 * t), np.zeros(sr // 20)])
    job = _Job(0, _voices()[0], "A B", {}, -6.0, (0.2, 0.1))
    out = _postprocess(audio.astype(np.float32), sr, job)
    assert out.dtype == np.int16
    assert abs(len(out) / 16000 - 1.3) < 0.03  # 0.2 s + 1 s tone + 0.1 s (0.05 s real, 0.05 s added)
    assert abs(20 * np.log10(np.abs(out).max() / 32767) + 6.0) < 0.1
    assert _postprocess(np.zeros(sr, np.float32), sr, job) is None


def test_errors_are_synth_errors(text, tmp_path):
    with pytest.raises(SynthError, match="not found"):
        synthesize_corpus(SynthConfig(tmp_path / "missing.txt", tmp_path, "x", 0.01), progress=False)
    with pytest.raises(SynthError, match="unknown engine"):
        synthesize_corpus(SynthConfig(text, tmp_path, "x", 0.01, engines=("festival",)), progress=False)
    (tmp_path / "LibriSpeech" / "x").mkdir(parents=True)
    (tmp_path / "LibriSpeech" / "x" / "old.flac").write_bytes(b"")
    with pytest.raises(SynthError, match="delete it first"):
        synthesize_corpus(SynthConfig(text, tmp_path, "x", 0.01), progress=False)


def test_a_test_set_shares_no_sentence_with_the_dev_set(corpora, text):
    dev = corpora["dev"].path
    test = _make_excluding(text, dev.parent.parent, "synth-test", ("synth-dev",))
    dev_text, test_text = set(_transcripts(dev).values()), set(_transcripts(test.path).values())
    assert test_text and not dev_text & test_text
    assert {sentence_split(s) for s in test_text} == {"dev"}
    with pytest.raises(SynthError, match="no transcripts"):
        _make_excluding(text, dev.parent.parent, "synth-x", ("no-such-subset",))


def _make_excluding(text, root, subset, exclude):
    cfg = SynthConfig(text=text, out=root, subset=subset, hours=HOURS, split="dev", seed=5, workers=2,
                      exclude_subsets=exclude)
    return synthesize_corpus(cfg, progress=False)


def test_rhvoice_and_pico_speak_with_their_licensed_voices_only(text, tmp_path):
    """`make voices` installs them (CI runs it); each engine renders varied rate and pitch, holds one voice out."""
    from data.voices import LICENCES, RHVOICE_VOICES

    try:
        voices = available_voices(("rhvoice", "pico"))
    except SynthError as e:
        pytest.skip(f"{e}")
    assert {v.name for v in voices if v.engine == "rhvoice"} <= set(RHVOICE_VOICES) == {"alan", "bdl", "clb", "slt"}
    assert not {"evgeniy-eng", "lyubov"} & {v.name for v in voices}  # CC BY-NC-ND: never used
    assert {"rhvoice", "pico"} <= set(LICENCES)
    for engine in ("rhvoice", "pico"):
        mine = [v for v in voices if v.engine == engine]
        assert sum(v.heldout for v in mine) == 1 and len(mine) >= 2
    train = synthesize_corpus(SynthConfig(text=text, out=tmp_path, subset="t", hours=0.006, split="train",
                                          engines=("rhvoice", "pico"), seed=0, workers=1), progress=False)
    dev = synthesize_corpus(SynthConfig(text=text, out=tmp_path, subset="d", hours=0.004, split="dev",
                                        engines=("rhvoice", "pico"), seed=0, workers=1), progress=False)
    assert train.failures == 0 and set(train.engine_seconds) == {"rhvoice", "pico"}
    held = {v.speaker_id for v in voices if v.heldout}
    train_speakers = {int(p.name) for p in train.path.iterdir() if p.is_dir()}
    dev_speakers = {int(p.name) for p in dev.path.iterdir() if p.is_dir()}
    assert train_speakers and not train_speakers & held and dev_speakers <= held
    durations = [sf.info(str(f)).duration / len(words.split())
                 for f, words in ((next(train.path.glob(f"*/*/{u}.flac")), w)
                                  for u, w in _transcripts(train.path).items())]
    assert len(durations) >= 4 and max(durations) > 1.1 * min(durations)  # the rate varies
