"""Written text -> the words a speaker says, spelled in the vocabulary (a-z, apostrophe, space).

`spoken_form` is the one normaliser of the project: `asr import` runs every corpus transcript
through it, `asr lm build` every sentence. It follows the LibriSpeech conventions and those of
../shared/data/text (SOURCES.md there):

- numbers are spelled out: 42 -> forty two, 1,000 -> one thousand, 3.5 -> three point five,
  22nd -> twenty second, years 1100-1999 as years (1816 -> eighteen sixteen), $5 -> five dollars,
  10% -> ten percent;
- Mr. / Mrs. / Dr. / St. become mister / missus / doctor / saint, & becomes and;
- accents are dropped (café -> cafe), typographic apostrophes become ', an apostrophe is kept only
  inside a word (don't, john's), other punctuation and hyphens become word breaks.

A text with letters that cannot be spelled in a-z (another script) is unnormalisable: the result
is None, so a caller counts it instead of training on a transcript that lost words.

`sentence_split` is the stable train/dev split of sentences that `asr synth` speaks and `asr lm build
--drop-heldout` leaves out.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["spoken_form", "number_words", "ordinal_words", "sentence_split", "NORMALISED_LINE"]

DEV_PER_MILLE = 30  # sentences whose hash falls here are dev only (3 %)
# a sentence as ../shared/data/text writes it and `asr synth` speaks it: upper case A-Z and apostrophe, single spaces
NORMALISED_LINE = re.compile(r"[A-Z']+( [A-Z']+)*")

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "messrs": "messieurs"}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})

_NUMBER = re.compile(r"""
    (?P<cur>[$£€])?\s?
    (?P<int>\d{1,3}(?:,\d{3})+|\d+)
    (?:\.(?P<frac>\d+))?
    (?P<suffix>st|nd|rd|th|s|%)?
    (?![\w])
""", re.VERBOSE | re.IGNORECASE)


def number_words(n: int) -> str:
    """0 <= n < 10**15 in words: 1234 -> one thousand two hundred thirty four."""
    if n < 0 or n >= 10**15:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    for scale, name in _SCALES:
        if n >= scale:
            rest = n % scale
            return number_words(n // scale) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError("unreachable")


def ordinal_words(n: int) -> str:
    """1 -> first, 22 -> twenty second, 100 -> one hundredth."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL:
        words[-1] = _ORDINAL[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _year_words(n: int) -> str:
    """1100-1999 as spoken years: 1816 -> eighteen sixteen, 1900 -> nineteen hundred, 1905 -> nineteen oh five."""
    hi, lo = divmod(n, 100)
    if lo == 0:
        return number_words(hi) + " hundred"
    return number_words(hi) + " " + (("oh " + _ONES[lo]) if lo < 10 else number_words(lo))


def _digits_words(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


def _number(m: re.Match) -> str:
    cur, whole, frac, suffix = m["cur"], m["int"], m["frac"], (m["suffix"] or "").lower()
    if len(whole.replace(",", "")) > 15:
        return " " + _digits_words(whole.replace(",", "")) + " "
    n = int(whole.replace(",", ""))
    if suffix in ("st", "nd", "rd", "th") and frac is None:
        return f" {ordinal_words(n)} "
    if cur:
        one, many, sub_one, sub_many = _CURRENCY[cur]
        out = f"{number_words(n)} {one if n == 1 else many}"
        if frac is not None and int(frac[:2].ljust(2, "0")):
            cents = int(frac[:2].ljust(2, "0"))
            out += f" {number_words(cents)} {sub_one if cents == 1 else sub_many}"
        return f" {out} "
    if frac is not None:
        out = f"{number_words(n)} point {_digits_words(frac)}"
    elif "," not in whole and len(whole) == 4 and 1100 <= n <= 1999:
        out = _year_words(n)
    else:
        out = number_words(n)
    if suffix == "%":
        out += " percent"
    elif suffix == "s":  # the 1890s, 1960s -> eighteen nineties
        words = out.split()
        last = words[-1]
        words[-1] = last[:-1] + "ies" if last.endswith("y") else last + "s"
        out = " ".join(words)
    return f" {out} "


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def spoken_form(text: str) -> str | None:
    """The transcript as the vocabulary spells it, lowercase with single spaces ("" if it holds no
    words); None if it has letters or digits outside a-z and 0-9 after dropping accents."""
    s = _strip_accents(text.translate(_APOSTROPHES)).lower()
    s = s.replace("&", " and ").replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
    s = re.sub(r"\b(mr|mrs|dr|st|messrs)\b\.?", lambda m: " " + _ABBREVIATIONS[m[1]] + " ", s)
    s = _NUMBER.sub(_number, s)
    s = re.sub(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)", " ", s)  # "4x4", "b12": split, then spell the digits
    s = re.sub(r"\d+", lambda m: " " + number_words(int(m[0])) + " " if len(m[0]) <= 15 else _digits_words(m[0]), s)
    if any(unicodedata.category(c)[0] in "LN" and not ("a" <= c <= "z") for c in s):
        return None
    s = re.sub(r"[^a-z' ]", " ", s)
    s = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", s)  # apostrophes only inside words
    return " ".join(s.split())


def sentence_split(sentence: str) -> str:
    """"train" or "dev" for a sentence, from a stable hash of its normalised text."""
    digest = hashlib.sha1(" ".join(sentence.upper().split()).encode()).digest()
    return "dev" if int.from_bytes(digest[:4], "big") % 1000 < DEV_PER_MILLE else "train"
