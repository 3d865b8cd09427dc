"""The word-error report of `asr eval --report`: its counts follow the alignment and add up to the WER."""
import jiwer
import pytest

from train.errors import error_report


def test_counts_and_lists_follow_the_alignment():
    refs = ["THE CAT SAT ON IT", "ONE HUNDRED AND TEN", "THE END", ""]
    hyps = ["THE HAT SAT IT", "NOW ONE HUNDRED AN TEN", "A END", "NOISE"]
    r = error_report(refs, hyps, top=2)
    assert (r.reference_words, r.substitutions, r.deletions, r.insertions) == (11, 3, 1, 2)
    assert r.correct == 7
    assert r.missed == (("CAT", 1, 1), ("ON", 1, 1))  # most missed first, ties in first-seen order
    assert r.substituted == (("CAT", "HAT", 1), ("AND", "AN", 1))
    assert r.deleted == (("ON", 1),) and r.inserted == (("NOW", 1), ("NOISE", 1))
    # the empty reference's words are insertions, as in the WER: the errors are its numerator
    wer = jiwer.wer(refs, hyps)
    assert (r.substitutions + r.deletions + r.insertions) / r.reference_words == pytest.approx(wer)


def test_text_and_json_forms():
    r = error_report(["A B C"], ["A X C D"], top=5)
    lines = r.lines()
    assert lines[0].startswith("3 reference words: 2 correct (66.7%), 1 substituted, 0 deleted; 1 inserted")
    assert "most missed (missed/said): B 1/1" in lines and "substitutions: B->X (1)" in lines
    assert "insertions: D (1)" in lines and not any(line.startswith("deletions") for line in lines)
    d = r.as_dict()
    assert d["substituted"] == [{"reference": "B", "hypothesis": "X", "count": 1}]
    assert d["missed"] == [{"word": "B", "missed": 1, "said": 1}]


def test_perfect_and_empty_input():
    r = error_report(["A B"], ["A B"])
    assert (r.correct, r.substitutions, r.deletions, r.insertions, r.missed) == (2, 0, 0, 0, ())
    assert r.lines() == ["2 reference words: 2 correct (100.0%), 0 substituted, 0 deleted; 0 inserted"]
    assert error_report([], []).reference_words == 0


def test_wer_by_clip_length():
    refs = ["A B", "C D", "E F G H", "I"]
    hyps = ["A B", "C X", "E F G", "J K"]
    r = error_report(refs, hyps, durations=[1.0, 2.9, 7.5, 12.0])
    assert [(a, b, n) for a, b, n, _ in r.by_length] == [(0.0, 3.0, 2), (6.0, 9.0, 1), (9.0, None, 1)]  # no 3-6 s clip
    assert [w for *_, w in r.by_length] == pytest.approx([25.0, 25.0, 200.0])
    assert r.lines()[-1] == "WER by clip length: 0-3 s 25.00% (2 clips), 6-9 s 25.00% (1 clip), 9 s or more 200.00% (1 clip)"
    assert r.as_dict()["by_length"][2] == {"from_seconds": 9.0, "to_seconds": None, "utterances": 1, "wer": 200.0}
    assert error_report(refs, hyps).by_length == ()  # no durations, no bins
    with pytest.raises(ValueError):
        error_report(refs, hyps, durations=[1.0])
