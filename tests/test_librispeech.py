import soundfile as sf

from asr.audio import SAMPLE_RATE
from data.librispeech import read_subset, read_subsets

from .conftest import espeak


def test_reader_skips_and_counts_broken_entries(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "mini" / "19" / "198"
    chapter.mkdir(parents=True)
    good = espeak("hello world")
    sf.write(chapter / "19-198-0000.flac", good, SAMPLE_RATE)
    sf.write(chapter / "19-198-0001.flac", good, SAMPLE_RATE)  # unknown characters in transcript
    (chapter / "19-198-0002.flac").write_bytes(b"garbage, not flac")  # unreadable audio
    sf.write(chapter / "19-198-0003.flac", good, SAMPLE_RATE)  # no transcript line
    sf.write(chapter / "19-198-0004.flac", good[:0], SAMPLE_RATE)  # zero-length: libsndfile cannot even open it
    sf.write(chapter / "19-198-0005.flac", good, SAMPLE_RATE)  # empty transcript
    (chapter / "19-198.trans.txt").write_text(
        "19-198-0000 HELLO WORLD\n19-198-0001 HELLO WÖRLD 42\n19-198-0002 GARBAGE\n"
        "19-198-0004 NOTHING\n19-198-0005\n19-198-0009 MISSING AUDIO\n"
    )
    utts, report = read_subset(tmp_path, "mini")
    assert [u.id for u in utts] == ["19-198-0000"]
    assert utts[0].text == "hello world" and abs(utts[0].duration - len(good) / SAMPLE_RATE) < 1e-6
    assert report.skipped == {
        "characters outside the vocabulary": 1, "unreadable audio": 2, "missing transcript": 1,
        "empty transcript": 1, "missing audio": 1,
    }
    assert "1 utterances" in report.summary() and "1 missing audio" in report.summary()


def test_reader_reads_several_subsets_and_accepts_either_root(tiny_corpus):
    utts, reports = read_subsets(tiny_corpus, ["tiny-train", "tiny-dev"])
    assert [r.kept for r in reports] == [16, 2]
    assert {u.subset for u in utts} == {"tiny-train", "tiny-dev"}
    same, _ = read_subset(tiny_corpus / "LibriSpeech", "tiny-dev")
    assert [u.id for u in same] == [u.id for u in utts if u.subset == "tiny-dev"]


def test_missing_subset_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="no subset 'nope'"):
        read_subset(tmp_path, "nope")
