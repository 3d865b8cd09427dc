"""`asr import`: Kaldi, LJSpeech, FSDD and Speech Commands layouts made here, broken entries included,
converted to the LibriSpeech layout that data.librispeech reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.text import number_words, ordinal_words, spoken_form
from data.importers import dev_speaker_names, speaker_ids
from data.librispeech import read_subset


def tone(seconds: float, sr: int, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("written, spoken", [
    ("Mr. Smith paid $5.50 in 1816!", "mister smith paid five dollars fifty cents in eighteen sixteen"),
    ("It was 10% of 1,000,000 people in the 1890s.", "it was ten percent of one million people in the eighteen nineties"),
    ("the 22nd and 101st; 3.14", "the twenty second and one hundred first three point one four"),
    ("Don\u2019t \"quote\" 'em, boys' caf\u00e9", "don't quote em boys cafe"),
    ("WE CALL IT BEAR", "we call it bear"),
    ("Jean-Paul & co.", "jean paul and co"),
    ("in 1905 and 2024", "in nineteen oh five and two thousand twenty four"),
    ("  ...  ", ""),
])
def test_spoken_form_spells_numbers_and_drops_punctuation(written, spoken):
    assert spoken_form(written) == spoken


def test_spoken_form_refuses_other_scripts_and_numbers_read_right():
    assert spoken_form("\u4f60\u597d world") is None
    assert number_words(0) == "zero" and number_words(115) == "one hundred fifteen"
    assert number_words(2_000_013) == "two million thirteen"
    assert [ordinal_words(n) for n in (1, 2, 3, 12, 20, 100)] == [
        "first", "second", "third", "twelfth", "twentieth", "one hundredth"]


def test_speaker_ids_are_the_sources_numbers_or_a_stable_order():
    assert speaker_ids(["0007", "0012"]) == {"0007": 7, "0012": 12}
    assert speaker_ids(["lucas", "george", "nicolas"]) == {"george": 1, "lucas": 2, "nicolas": 3}
    assert speaker_ids(["1", "01"]) == {"01": 1, "1": 2}  # the numbers collide: sorted order instead
    assert dev_speaker_names(["a", "b", "c", "d"], 2) == dev_speaker_names(["d", "c", "b", "a"], 2)


def _kaldi_fixture(root: Path) -> Path:
    """speechocean762's layout: DIR/{text,wav.scp,utt2spk,spk2gender}, audio paths relative to DIR's parent."""
    d = root / "train"
    d.mkdir(parents=True)
    (root / "WAVE").mkdir()
    texts, scp, u2s = [], [], []
    for spk in ("0001", "0002", "0003"):
        for i in range(3):
            utt = f"{spk}{i:04d}"
            sf.write(root / "WAVE" / f"{utt}.ogg", tone(0.6 + 0.1 * i, 16000), 16000, format="OGG", subtype="OPUS")
            texts.append(f"{utt}\tWE CALL IT {i + 1}")
            scp.append(f"{utt} WAVE/{utt}.ogg")
            u2s.append(f"{utt} {spk}")
    (root / "WAVE" / "bad.wav").write_bytes(b"RIFF....not audio")
    texts += ["0001xmissing THE AUDIO IS MISSING", "0001xempty ", "0001xbad UNREADABLE", "0001xpipe PIPED",
              "0001xchinese \u4f60\u597d", "00010000\tA DUPLICATE ID"]
    scp += ["0001xmissing WAVE/nowhere.wav", "0001xempty WAVE/00010000.ogg", "0001xbad WAVE/bad.wav",
            "0001xpipe sox WAVE/x.wav -t wav - |", "0001xchinese WAVE/00010001.ogg"]
    u2s += [f"0001x{k} 0001" for k in ("missing", "empty", "bad", "pipe", "chinese")]
    (d / "text").write_text("\n".join(texts) + "\n")
    (d / "wav.scp").write_text("\n".join(scp) + "\n")
    (d / "utt2spk").write_text("\n".join(u2s) + "\n")
    (d / "spk2gender").write_text("0001 m\n0002 f\n")
    return d


def test_kaldi_import_counts_broken_entries_splits_dev_speakers_and_is_idempotent(tmp_path, capsys):
    src = _kaldi_fixture(tmp_path / "so")
    args = ["import", "kaldi", str(src), "--out", str(tmp_path / "out"), "--subset", "so", "--dev-speakers", "1",
            "--workers", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for reason in ("1 missing audio", "1 empty text", "1 unreadable audio", "1 duplicate id in text",
                   "1 piped command in wav.scp", "1 text not spelled in a-z"):
        assert reason in out, out
    train, rep = read_subset(tmp_path / "out", "so", cache=False)
    dev, _ = read_subset(tmp_path / "out", "so-dev", cache=False)
    assert len(train) == 6 and len(dev) == 3 and not rep.skipped
    assert {u.id.split("-")[0] for u in train}.isdisjoint({u.id.split("-")[0] for u in dev})  # whole speakers
    assert {u.text for u in train + dev} == {"we call it one", "we call it two", "we call it three"}
    info = sf.info(str(train[0].path))
    assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
    base = tmp_path / "out" / "LibriSpeech"
    speakers = (base / "so" / "SPEAKERS.txt").read_text() + (base / "so-dev" / "SPEAKERS.txt").read_text()
    assert "| 0002" in speakers and "| F |" in speakers
    ids = (base / "so" / "ids.tsv").read_text().splitlines()[1:] + (base / "so-dev" / "ids.tsv").read_text().splitlines()[1:]
    assert sorted(line.split("\t")[1] for line in ids) == sorted(f"{s}{i:04d}" for s in ("0001", "0002", "0003")
                                                                 for i in range(3))
    snapshot = {p: p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}
    assert main(args) == 0  # a rerun: the same files, nothing converted again
    assert "0 audio files converted" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()} == snapshot


def test_kaldi_import_refuses_what_is_not_a_data_directory_and_too_many_dev_speakers(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["import", "kaldi", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--subset", "x"]) == 2
    assert "not a Kaldi data directory (no text)" in capsys.readouterr().err
    src = _kaldi_fixture(tmp_path / "so")
    assert main(["import", "kaldi", str(src), "--out", str(tmp_path / "o"), "--subset", "x", "--dev-speakers", "3"]) == 2
    assert "--dev-speakers must be 0 to 2" in capsys.readouterr().err


def test_kaldi_import_with_segments_and_an_audio_root(tmp_path):
    d, audio = tmp_path / "data", tmp_path / "audio"
    d.mkdir(), audio.mkdir()
    sf.write(audio / "rec.wav", tone(2.0, 8000), 8000)
    (d / "wav.scp").write_text("rec rec.wav\n")
    (d / "segments").write_text("u1 rec 0.0 0.8\nu2 rec 1.0 1.9\nu3 rec 5.0 6.0\nu4 rec x y\n")
    (d / "text").write_text("u1 ONE\nu2 TWO\nu3 OUTSIDE\nu4 MALFORMED\n")
    (d / "utt2spk").write_text("u1 s\nu2 s\nu3 s\nu4 s\n")
    assert main(["import", "kaldi", str(d), "--audio-root", str(audio), "--out", str(tmp_path / "o"),
                 "--subset", "seg", "--workers", "1"]) == 0
    utts, _ = read_subset(tmp_path / "o", "seg", cache=False)
    assert [u.text for u in utts] == ["one", "two"]
    assert [round(u.duration, 2) for u in utts] == [0.8, 0.9]


def test_ljspeech_import_takes_the_normalised_column_and_any_audio_format(tmp_path, capsys):
    src = tmp_path / "LJSpeech-1.1"
    (src / "wavs").mkdir(parents=True)
    sf.write(src / "wavs" / "LJ001-0001.wav", tone(1.0, 22050), 22050)
    sf.write(src / "wavs" / "LJ001-0002.flac", tone(1.2, 22050), 22050)
    (src / "wavs" / "LJ001-0003.wav").write_bytes(b"")
    (src / "metadata.csv").write_text(
        "LJ001-0001|Printing, in 1816, differs|Printing, in eighteen sixteen, differs\n"
        "LJ001-0002|Mr. Smith's 2nd book|\n"
        "LJ001-0003|an empty file|an empty file\n"
        "LJ001-0004|no audio at all|no audio at all\n"
        "LJ001-0001|a duplicate|a duplicate\n"
        "garbage line without fields\n")
    assert main(["import", "ljspeech", str(src), "--out", str(tmp_path / "o"), "--subset", "lj", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 duplicate id" in out and "1 missing audio" in out and "1 unreadable audio" in out
    assert "1 malformed metadata line" in out
    utts, _ = read_subset(tmp_path / "o", "lj", cache=False)
    assert [u.text for u in utts] == ["printing in eighteen sixteen differs", "mister smith's second book"]
    assert all(sf.info(str(u.path)).samplerate == 16000 for u in utts)


def test_fsdd_and_speech_commands_imports(tmp_path, capsys):
    rec = tmp_path / "fsdd" / "recordings"
    rec.mkdir(parents=True)
    for name in ("7_george_0", "7_george_1", "0_lucas_3"):
        sf.write(rec / f"{name}.wav", tone(0.5, 8000), 8000)
    (rec / "README.txt").write_text("not a recording")
    assert main(["import", "fsdd", str(tmp_path / "fsdd"), "--out", str(tmp_path / "o"), "--subset", "fsdd",
                 "--workers", "1"]) == 0
    assert "1 file name not <digit>_<speaker>_<n>" in capsys.readouterr().out
    utts, _ = read_subset(tmp_path / "o", "fsdd", cache=False)
    assert sorted(u.text for u in utts) == ["seven", "seven", "zero"]

    sc = tmp_path / "sc"
    for word, spk in (("yes", "0a1b2c3d"), ("left", "0a1b2c3d"), ("left", "ffee0011")):
        (sc / word).mkdir(parents=True, exist_ok=True)
        sf.write(sc / word / f"{spk}_nohash_0.wav", tone(1.0, 16000), 16000)
    (sc / "_background_noise_").mkdir()
    sf.write(sc / "_background_noise_" / "noise.wav", tone(1.0, 16000), 16000)
    assert main(["import", "commands", str(sc), "--out", str(tmp_path / "o"), "--subset", "sc", "--workers", "1"]) == 0
    utts, _ = read_subset(tmp_path / "o", "sc", cache=False)
    assert sorted(u.text for u in utts) == ["left", "left", "yes"]
    assert len({u.id.split("-")[0] for u in utts}) == 2
