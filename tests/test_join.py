"""`asr join`: one speaker's one-word clips joined into utterances of A-B words, each clip used once,
trimmed to its speech, gaps of the clip's own noise floor (or zeros, or set noise); speakers short of
words and unreadable clips counted; deterministic reruns; never overwrites a folder it did not make."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.audio import SAMPLE_RATE
from asr.cli import main
from data.join import FIRST_GAP_S, JoinConfig, JoinError, join_subset
from data.librispeech import read_subset

WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off"]
FLOOR_RMS = 0.003


def clip(seed: int) -> np.ndarray:
    """1 s: a noise floor of FLOOR_RMS with a 0.4 s tone burst (the "word") in the middle."""
    rng = np.random.default_rng(seed)
    wave = rng.standard_normal(SAMPLE_RATE) * FLOOR_RMS
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    wave[4800: 4800 + len(t)] += 0.3 * np.sin(2 * np.pi * (200 + 40 * seed) * t)
    return wave.astype(np.float32)


@pytest.fixture
def words_corpus(tmp_path) -> Path:
    """Speaker 1: 8 clips (one unreadable); speaker 2: 2 clips, fewer than any 3-word utterance."""
    root = tmp_path / "corpus"
    for spk, n in ((1, 8), (2, 2)):
        chapter = root / "LibriSpeech" / "words" / str(spk) / "0"
        chapter.mkdir(parents=True)
        lines = []
        for i in range(n):
            uid = f"{spk}-0-{i:04d}"
            if spk == 1 and i == 7:
                (chapter / f"{uid}.flac").write_bytes(b"broken")
            else:
                sf.write(chapter / f"{uid}.flac", clip(spk * 10 + i), SAMPLE_RATE)
            lines.append(f"{uid} {WORDS[i].upper()}")
        (chapter / f"{spk}-0.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def _joined(root: Path, name: str):
    utts, report = read_subset(root, name, cache=False, progress=False)
    return utts, report


def test_join_uses_each_clip_once_in_utterances_of_the_asked_length(words_corpus):
    summary = join_subset(JoinConfig(data=words_corpus, subset="words", out=words_corpus, name="joined",
                                     words=(3, 4), top_db=25.0, progress=False))  # the floor is 37 dB down
    utts, report = _joined(words_corpus, "joined")
    assert summary.utterances == len(utts) >= 1 and summary.speakers == 1 and not report.skipped
    said = [w for u in utts for w in u.text.split()]
    assert all(3 <= len(u.text.split()) <= 4 for u in utts)
    assert len(said) == len(set(said)) and set(said) <= set(WORDS[:7])  # each readable clip once at most
    assert all(u.id.startswith("1-0-") for u in utts)  # speaker 2 has too few words
    left_out = summary.skipped  # speaker 2's two clips, and what is left of speaker 1's after whole utterances
    assert left_out["clips left over, too few for one more utterance"] >= 2 and left_out["unreadable clips"] <= 1
    for u in utts:
        wave, sr = sf.read(u.path, dtype="float32")
        assert sr == SAMPLE_RATE
        n = len(u.text.split())
        # each word is its 0.4 s burst (plus a little of the floor the trim keeps) and the gaps are short
        assert 0.4 * n < len(wave) / SAMPLE_RATE < 0.6 * n + 2 * FIRST_GAP_S[1] + 0.25 * (n - 1)
        lead = wave[: int(FIRST_GAP_S[0] * SAMPLE_RATE)]
        assert 0.5 * FLOOR_RMS < np.sqrt((lead ** 2).mean()) < 2 * FLOOR_RMS  # the clip's own floor, not zeros
    assert (words_corpus / "LibriSpeech" / "joined" / "JOINED.txt").read_text().startswith("asr join: words")


def test_join_counts_the_sources_unreadable_clips_and_joins_the_rest(words_corpus):
    summary = join_subset(JoinConfig(data=words_corpus, subset="words", out=words_corpus, name="joined",
                                     words=(7, 7), progress=False))
    assert summary.skipped["unreadable audio (in words)"] == 1
    utts = _joined(words_corpus, "joined")[0]
    assert summary.utterances == len(utts) == 1 and sorted(utts[0].text.split()) == sorted(WORDS[:7])
    assert summary.line().startswith(str(words_corpus / "LibriSpeech" / "joined") + ": 1 utterances")


def test_join_zero_gaps_are_digital_silence_and_a_rerun_is_identical(words_corpus, tmp_path):
    cfg = JoinConfig(data=words_corpus, subset="words", out=tmp_path / "out", name="z", words=(3, 3), gap="zero",
                     progress=False)
    join_subset(cfg)
    first = {u.id: (u.text, sf.read(u.path)[0]) for u in _joined(tmp_path / "out", "z")[0]}
    lead = next(iter(first.values()))[1][: int(FIRST_GAP_S[0] * SAMPLE_RATE)]
    assert not lead.any()
    join_subset(cfg)  # rewritten, the same
    again = {u.id: (u.text, sf.read(u.path)[0]) for u in _joined(tmp_path / "out", "z")[0]}
    assert first.keys() == again.keys()
    assert all(first[k][0] == again[k][0] and np.array_equal(first[k][1], again[k][1]) for k in first)


def test_join_refuses_what_it_should_not_do(words_corpus, capsys):
    with pytest.raises(JoinError, match="its own source"):
        join_subset(JoinConfig(data=words_corpus, subset="words", out=words_corpus, name="words", progress=False))
    (words_corpus / "LibriSpeech" / "other" / "mine.txt").parent.mkdir()
    (words_corpus / "LibriSpeech" / "other" / "mine.txt").write_text("a user's file")
    with pytest.raises(JoinError, match="not made by asr join"):
        join_subset(JoinConfig(data=words_corpus, subset="words", out=words_corpus, name="other", progress=False))
    assert (words_corpus / "LibriSpeech" / "other" / "mine.txt").is_file()
    with pytest.raises(JoinError, match="1 <= A <= B"):
        join_subset(JoinConfig(data=words_corpus, subset="words", out=words_corpus, name="j", words=(4, 2)))
    with pytest.raises(JoinError, match="no subset"):
        join_subset(JoinConfig(data=words_corpus, subset="nope", out=words_corpus, name="j"))
    with pytest.raises(JoinError, match="nothing joined"):
        join_subset(JoinConfig(data=words_corpus, subset="words", out=words_corpus, name="j", words=(9, 9),
                               progress=False))
    assert main(["join", "--data", str(words_corpus), "--subset", "words", "--words", "three"]) == 2
    assert "--words wants A-B" in capsys.readouterr().err
    assert main(["join", "--data", str(words_corpus), "--subset", "words", "--words", "2-3"]) == 0
    out = capsys.readouterr().out
    assert "words-joined" in out and "utterances" in out
    assert _joined(words_corpus, "words-joined")[0]
