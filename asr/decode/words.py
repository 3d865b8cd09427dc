"""Word timestamps and confidence from a CTC frame path (greedy or the beam's best), and the
subtitle cues built from them.

A path is one token per model frame. A character is *emitted* at the first frame of a run of the
same non-blank token and held while the run lasts. A word starts at the emission frame of its
first character and ends after the last frame of its last character's run; its confidence is the
mean posterior of its characters at their emission frames. Times are seconds from the start of the
stream.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.vocab import BLANK, VOCAB

__all__ = ["Emission", "emissions_from_path", "words_from_emissions", "utterance_confidence", "cues"]

SPACE = VOCAB.index(" ")


@dataclass(frozen=True)
class Emission:
    token: int
    start: int  # first frame of the token's run (stream frame index)
    end: int  # last frame of the run
    prob: float  # posterior of the token at its first frame


def emissions_from_path(path: list[int], log_probs, first_frame: int = 0) -> list[Emission]:
    """Emissions of a path over T frames (`log_probs` T x V) numbered from `first_frame`."""
    if not path:
        return []
    out: list[Emission] = []
    probs = np.exp(np.asarray(log_probs)[np.arange(len(path)), path]).tolist()  # a T x V array or tensor
    prev = BLANK
    for i, tok in enumerate(path):
        if tok != BLANK and tok == prev:
            e = out[-1]
            out[-1] = Emission(e.token, e.start, first_frame + i, e.prob)
        elif tok != BLANK:
            out.append(Emission(tok, first_frame + i, first_frame + i, probs[i]))
        prev = tok
    return out


def words_from_emissions(emissions: list[Emission], frame_seconds: float, spellings: list[str] | None = None,
                         delay_frames: float = 0.0) -> list[dict]:
    """[{word, start, end, confidence}] from emissions. Words are split at spaces, or, when
    `spellings` is given (a lexicon decoder's words), by the letters each word takes.
    `delay_frames`: the model's typical emission delay, subtracted from every time (never below 0)."""
    letters = [e for e in emissions if e.token != SPACE]
    groups: list[list[Emission]] = []
    if spellings is not None:
        i = 0
        for w in spellings:
            groups.append(letters[i: i + len(w)])
            i += len(w)
    else:
        current: list[Emission] = []
        for e in emissions:
            if e.token == SPACE:
                if current:
                    groups.append(current)
                current = []
            else:
                current.append(e)
        if current:
            groups.append(current)
    words = []
    for k, g in enumerate(groups):
        if not g:
            continue
        text = spellings[k].lower() if spellings is not None else "".join(VOCAB[e.token] for e in g)
        start = max(0.0, (g[0].start - delay_frames) * frame_seconds)
        end = max(start, (g[-1].end + 1 - delay_frames) * frame_seconds)
        words.append({"word": text, "start": round(start, 3), "end": round(end, 3),
                      "confidence": round(sum(e.prob for e in g) / len(g), 3)})
    return words


def utterance_confidence(words: list[dict]) -> float:
    """Mean word confidence, weighted by word length (0.0 for no words)."""
    n = sum(len(w["word"]) for w in words)
    return round(sum(w["confidence"] * len(w["word"]) for w in words) / n, 3) if n else 0.0


def cues(words: list[dict], max_seconds: float = 6.0, max_chars: int = 42, pause: float = 0.6) -> list[dict]:
    """Subtitle cues {start, end, text}: a new cue at a pause longer than `pause` seconds, or when the
    cue would grow past `max_seconds` or `max_chars` characters."""
    out: list[dict] = []
    cur: list[dict] = []
    for w in words:
        if cur:
            text = " ".join(x["word"] for x in cur) + " " + w["word"]
            if (w["start"] - cur[-1]["end"] > pause or w["end"] - cur[0]["start"] > max_seconds
                    or len(text) > max_chars):
                out.append(_cue(cur))
                cur = []
        cur.append(w)
    if cur:
        out.append(_cue(cur))
    return _no_overlap(out)


def _no_overlap(cues_: list[dict]) -> list[dict]:
    """A cue ends no later than the next one starts; a cue left without duration joins the next."""
    out: list[dict] = []
    for cue in reversed(cues_):
        if out and cue["end"] > out[0]["start"]:
            cue = {**cue, "end": out[0]["start"]}
            if cue["end"] <= cue["start"]:
                out[0] = {"start": cue["start"], "end": out[0]["end"], "text": cue["text"] + " " + out[0]["text"]}
                continue
        out.insert(0, cue)
    return out


def _cue(words: list[dict]) -> dict:
    return {"start": words[0]["start"], "end": max(words[-1]["end"], words[0]["start"] + 0.001),
            "text": " ".join(w["word"] for w in words)}
