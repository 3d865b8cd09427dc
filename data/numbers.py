"""Number-rich sentences for `asr synth`: years, sums of money, counts, dates, times, measures and digit strings,
spelled as they are said, each joined to a sentence of the book text or framed on its own.

The book text of ../shared/data/text spells few numbers: 0.8 % of its words are number words, against 12 % of
LJSpeech's chapter LJ002, and read speech, dictation and commands are full of them. A model that has rarely
heard "eighteen thirteen" or "two hundred and forty pounds" spells them badly. This writes a text file that
`asr synth --text` speaks like any other:

    python -m data.numbers --text ../shared/data/text/sentences.txt.gz --out corpora/text/numbers.txt.gz
    asr synth --text corpora/text/numbers.txt.gz --out corpora/synth --subset synth-num --hours 2 \\
        --voices all --split train --seed 8

Each number is drawn at random (seeded) and spelled by `asr.text`, the project's one normaliser, with the
spoken variants people use ("one hundred and ten", "twelve hundred", "two thousand and five", "oh" for zero in
digit strings). Book sentences are taken from the same split (`asr.text.sentence_split`) as the line that
holds them would fall in, so `asr synth --split dev` speaks only held-out book text.
"""
from __future__ import annotations

import argparse
import gzip
import random
from pathlib import Path

from asr.text import NORMALISED_LINE, number_words, ordinal_words, sentence_split, spoken_form

__all__ = ["number_sentences", "number_phrases", "number_phrase"]

MONTHS = ("january february march april may june july august september october november december").split()
COUNTED = ("men women children people persons prisoners debtors soldiers houses rooms cells windows doors books "
           "pages letters ships horses sheep cows trees acres miles yards feet inches pounds ounces tons gallons "
           "years months weeks days hours minutes seconds guests members votes copies tickets boxes steps").split()
MEASURES = ("feet inches yards miles metres kilometres pounds ounces tons kilograms acres degrees percent years "
            "months weeks days hours minutes seconds").split()


def cardinal(n: int, rng: random.Random) -> str:
    """n in words, with the spoken variants: "and" after hundred or thousand (British and everyday speech), and
    hundreds for 1100-9900 ("twelve hundred")."""
    if 1100 <= n < 10000 and n % 100 == 0 and n % 1000 and rng.random() < 0.5:
        return number_words(n // 100) + " hundred"
    words = number_words(n)
    if rng.random() < 0.35 and n % 100 and n > 100:
        scale = "hundred" if " hundred " in words else "thousand"
        head, _, tail = words.rpartition(f" {scale} ")
        if head and tail and len(tail.split()) <= 2:
            return f"{head} {scale} and {tail}"
    return words


def count(rng: random.Random) -> int:
    """Mostly small numbers, some large: 1-20 (40 %), 21-999 (40 %), 1000-999999 (20 %)."""
    r = rng.random()
    if r < 0.4:
        return rng.randint(1, 20)
    if r < 0.8:
        return rng.randint(21, 999)
    return rng.choice([rng.randint(1000, 9999), rng.randint(10000, 999999), rng.randrange(1000, 100000, 100)])


def year(rng: random.Random) -> str:
    y = rng.choice([rng.randint(1100, 1999), rng.randint(1700, 1999), rng.randint(1900, 2099)])
    if y < 2000:
        return spoken_form(str(y))
    if y < 2010 or rng.random() < 0.4:
        joint = " and " if rng.random() < 0.5 else " "
        return "two thousand" + ("" if y == 2000 else joint + number_words(y - 2000))
    return "twenty " + number_words(y - 2000)


def money(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        n = count(rng)
        return f"{cardinal(n, rng)} {'pound' if n == 1 else 'pounds'}"
    if kind == 1:
        parts = [f"{cardinal(rng.randint(1, 500), rng)} pounds", f"{number_words(rng.randint(1, 19))} shillings"]
        if rng.random() < 0.6:
            parts.append(f"{number_words(rng.randint(1, 11))} pence")
        return " and ".join([" ".join(parts[:-1]), parts[-1]]) if rng.random() < 0.5 else " ".join(parts)
    if kind == 2:
        n, c = count(rng), rng.randint(1, 99)
        dollars, cents = ("dollar" if n == 1 else "dollars"), ("cent" if c == 1 else "cents")
        return f"{cardinal(n, rng)} {dollars} and {number_words(c)} {cents}"
    return spoken_form(f"${count(rng)}") if rng.random() < 0.5 else spoken_form(f"{rng.randint(1, 99)}%")


def date(rng: random.Random) -> str:
    month, day = rng.choice(MONTHS), ordinal_words(rng.randint(1, 31))
    form = rng.choice([f"the {day} of {month}", f"{month} the {day}", f"{month} {day}", f"the {day} {month}"])
    return form + (f" {year(rng)}" if rng.random() < 0.4 else "")


def clock(rng: random.Random) -> str:
    h, m = rng.randint(1, 12), rng.choice([0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, rng.randint(1, 59)])
    forms = [f"{number_words(h)} o'clock", f"half past {number_words(h)}", f"a quarter to {number_words(h)}",
             f"{number_words(h)} {('oh ' + number_words(m)) if 0 < m < 10 else number_words(m) if m else 'hundred'}"]
    return rng.choice(forms)


def digits(rng: random.Random) -> str:
    seq = [rng.randint(0, 9) for _ in range(rng.randint(3, 10))]
    zero = "oh" if rng.random() < 0.5 else "zero"
    return " ".join(zero if d == 0 else number_words(d) for d in seq)


def decimals(rng: random.Random) -> str:
    return " ".join(number_words(rng.randint(0, 9)) for _ in range(rng.randint(1, 2)))


def number_phrase(rng: random.Random) -> str:
    """One phrase that holds a number, in words (lower case)."""
    n = count(rng)
    kinds = [
        lambda: f"in {year(rng)}",
        lambda: f"on {date(rng)}",
        lambda: f"for {money(rng)}",
        lambda: f"at {clock(rng)}",
        lambda: f"{cardinal(n, rng)} {rng.choice(COUNTED)}",
        lambda: f"about {cardinal(n, rng)} {rng.choice(MEASURES)}",
        lambda: f"the {ordinal_words(rng.randint(1, 120))} {rng.choice(['time', 'day', 'floor', 'chapter', 'year'])}",
        lambda: f"between {cardinal(n, rng)} and {cardinal(n + count(rng), rng)}",
        lambda: f"number {digits(rng)}",
        lambda: f"{number_words(rng.randint(0, 99))} point {decimals(rng)}",
    ]
    return rng.choice(kinds)()


FRAMES = [
    "there were {c} {w} and {c2} {w2}", "the total rose to {c}", "it cost {m}", "the sum was {m}",
    "he paid {m} for it", "the number had risen to {c} by {y}", "it was built in {y}", "she was born on {d}",
    "the train leaves at {t}", "call {g}", "the room was {c} feet by {c2}", "they came {p}",
    "from {y} to {y2}", "we met {p} and again {p2}", "{c} out of {c2} were {a}",
]
ADJECTIVES = "empty full free sick absent present new old".split()


def framed(rng: random.Random) -> str:
    n = count(rng)
    return rng.choice(FRAMES).format(
        c=cardinal(n, rng), c2=cardinal(count(rng), rng), w=rng.choice(COUNTED), w2=rng.choice(COUNTED),
        m=money(rng), y=year(rng), y2=year(rng), d=date(rng), t=clock(rng), g=digits(rng), p=number_phrase(rng),
        p2=number_phrase(rng), a=rng.choice(ADJECTIVES))


def number_sentences(sentences: list[str], count_: int, seed: int = 0) -> list[str]:
    """`count_` distinct upper-case lines: a number phrase before or after a book sentence of the line's own
    split (two thirds), or a framed number sentence (one third)."""
    rng = random.Random(seed)
    by_split = {s: [x for x in sentences if sentence_split(x) == s] for s in ("train", "dev")}
    out: dict[str, None] = {}
    tries = 0
    while len(out) < count_ and tries < count_ * 20:
        tries += 1
        if rng.random() < 1 / 3 or not sentences:
            line = framed(rng)
        else:
            phrase = number_phrase(rng)
            # a line keeps its book sentence only when both fall in the same split (the line's split is known
            # only once it is written), so dev lines never speak training text, nor train lines held-out text
            pool = by_split["train"] if rng.random() < 0.97 else by_split["dev"]
            if not pool:
                continue
            base = rng.choice(pool).lower()
            line = f"{phrase} {base}" if rng.random() < 0.5 else f"{base} {phrase}"
            if sentence_split(line) != sentence_split(base):  # it folds case itself
                continue
        line = " ".join(line.upper().split())
        if NORMALISED_LINE.fullmatch(line):
            out[line] = None
    return list(out)


def number_phrases(count_: int, seed: int = 0) -> list[str]:
    """`count_` distinct upper-case number phrases on their own, framed or not (for a language model's text)."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    for _ in range(count_ * 20):
        if len(out) == count_:
            break
        out[" ".join((framed(rng) if rng.random() < 0.5 else number_phrase(rng)).upper().split())] = None
    return list(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", help="book sentences, one per line (plain or .gz), normalised (needed without --phrases)")
    p.add_argument("--out", required=True, help="the number sentences (.txt or .txt.gz)")
    p.add_argument("--count", type=int, default=40000, help="lines to write (default 40000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--phrases", action="store_true",
                   help="write the number phrases and framed sentences alone, without book sentences (text for "
                        "`asr lm build`, added to the book text)")
    args = p.parse_args(argv)
    if not args.phrases and not args.text:
        p.error("--text is needed (the book sentences the numbers are set in), unless --phrases")
    if args.phrases:
        lines = number_phrases(args.count, args.seed)
    else:  # the book sentences in file order, each once as written
        with (gzip.open if args.text.endswith(".gz") else open)(args.text, "rt", encoding="utf-8") as f:
            sentences = [s for s in (" ".join(line.upper().split()) for line in f) if NORMALISED_LINE.fullmatch(s)]
        lines = number_sentences(sentences, args.count, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open if out.suffix == ".gz" else open)(out, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    dev = sum(sentence_split(s) == "dev" for s in lines)
    print(f"{out}: {len(lines)} sentences ({dev} in the dev split)")


if __name__ == "__main__":
    main()
