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
