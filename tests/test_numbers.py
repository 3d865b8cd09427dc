"""data.numbers: number-rich lines that `asr synth` accepts, seeded, in the splits of their book sentences."""
from __future__ import annotations

import gzip
import random
import subprocess
import sys
from pathlib import Path

import pytest

from asr.text import NORMALISED_LINE as VALID, sentence_split, spoken_form
from data.numbers import cardinal, number_phrase, number_phrases, number_sentences, year

NUMBER_WORDS = set("zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                   "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                   "hundred thousand".upper().split())
BOOK = [f"THE {w} SAT BY THE {v} AND SAID NOTHING AT ALL" for w in ("CAT", "DOG", "MAN", "OLD WOMAN", "BOY")
        for v in ("FIRE", "DOOR", "WINDOW", "RIVER", "ROAD", "GATE", "WALL", "TREE")]


def test_lines_are_valid_distinct_seeded_and_full_of_numbers():
    lines = number_sentences(BOOK, 300, seed=3)
    assert len(lines) == len(set(lines)) == 300
    assert all(VALID.fullmatch(line) for line in lines)  # what asr synth reads: A-Z, apostrophe, single spaces
    assert lines == number_sentences(BOOK, 300, seed=3) and lines != number_sentences(BOOK, 300, seed=4)
    words = [w for line in lines for w in line.split()]
    assert sum(w in NUMBER_WORDS for w in words) / len(words) > 0.15
    assert sum(any(b in line for b in BOOK) for line in lines) > 100  # most lines carry a book sentence


def test_a_book_sentence_stays_in_its_split():
    for line in number_sentences(BOOK, 300, seed=0):
        for book in BOOK:
            if book in line:
                assert sentence_split(line) == sentence_split(book), line


def test_spelling_agrees_with_the_normaliser():
    rng = random.Random(0)
    assert spoken_form("1813") == "eighteen thirteen"
    assert all(year(rng).split()[0] in {"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                         "seventeen", "eighteen", "nineteen", "two", "twenty"} for _ in range(200))
    spoken = {cardinal(1200, random.Random(s)) for s in range(20)}
    assert spoken == {"one thousand two hundred", "twelve hundred"}
    assert {cardinal(140, random.Random(s)) for s in range(40)} == {"one hundred forty", "one hundred and forty"}
    assert all(spoken_form(p) == p for p in (number_phrase(random.Random(s)) for s in range(200)))


def test_command_line_writes_gzip(tmp_path: Path):
    text = tmp_path / "book.txt"
    text.write_text("\n".join(BOOK) + "\nnot valid: 12\n")
    out = tmp_path / "numbers.txt.gz"
    done = subprocess.run([sys.executable, "-m", "data.numbers", "--text", str(text), "--out", str(out),
                           "--count", "50", "--seed", "1"], capture_output=True, text=True, check=True)
    lines = gzip.open(out, "rt").read().split("\n")[:-1]
    assert len(lines) == 50 and f"{out}: 50 sentences" in done.stdout
    assert not any("VALID" in line or "12" in line for line in lines)


def test_phrases_for_the_lm_carry_no_book_text():
    phrases = number_phrases(200, seed=2)
    assert len(set(phrases)) == 200 and phrases == number_phrases(200, seed=2)
    assert all(VALID.fullmatch(p) and not any(b in p for b in BOOK) for p in phrases)
    spoken = NUMBER_WORDS | {"FIRST", "SECOND", "THIRD"}
    assert all(any(w in spoken or w.endswith("TH") for w in p.split()) for p in phrases)  # ordinals count


def test_cli_writes_phrases_without_a_book_text_and_says_when_it_needs_one(tmp_path, capsys):
    from data.numbers import main

    main(["--phrases", "--count", "30", "--out", str(tmp_path / "p.txt.gz")])
    with gzip.open(tmp_path / "p.txt.gz", "rt") as f:
        assert f.read().splitlines() == number_phrases(30)
    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "s.txt")])
    assert e.value.code == 2 and "--text is needed" in capsys.readouterr().err
