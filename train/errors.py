"""Where the word errors are (`asr eval --report`): substitutions, deletions and insertions counted
from jiwer's word alignment, the reference words most often missed with how often each was said, and
the most frequent confusions, as in sclite's detail report (the counts add up to the WER's numerator),
and, given each clip's duration, the WER by clip length (does recognition wear off over a long clip?)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import jiwer

__all__ = ["LENGTH_BINS", "ErrorReport", "error_report"]

LENGTH_BINS = (3.0, 6.0, 9.0)  # seconds: clips shorter than 3 s, 3-6 s, 6-9 s and 9 s or longer


@dataclass(frozen=True)
class ErrorReport:
    reference_words: int
    correct: int
    substitutions: int
    deletions: int
    insertions: int
    missed: tuple[tuple[str, int, int], ...]  # (word, times missed, times said), most missed first
    substituted: tuple[tuple[str, str, int], ...]  # (reference word, hypothesis word, count)
    deleted: tuple[tuple[str, int], ...]
    inserted: tuple[tuple[str, int], ...]
    by_length: tuple[tuple[float, float | None, int, float], ...] = ()  # (from s, to s or None, clips, WER %)

    def as_dict(self) -> dict:
        return {
            "reference_words": self.reference_words, "correct": self.correct, "substitutions": self.substitutions,
            "deletions": self.deletions, "insertions": self.insertions,
            "missed": [{"word": w, "missed": m, "said": n} for w, m, n in self.missed],
            "substituted": [{"reference": r, "hypothesis": h, "count": c} for r, h, c in self.substituted],
            "deleted": [{"word": w, "count": c} for w, c in self.deleted],
            "inserted": [{"word": w, "count": c} for w, c in self.inserted],
            "by_length": [{"from_seconds": a, "to_seconds": b, "utterances": n, "wer": round(w, 2)}
                          for a, b, n, w in self.by_length],
        }

    def lines(self) -> list[str]:
        """The report as lines of text: totals, then one line per list (counts in parentheses)."""
        n = max(self.reference_words, 1)
        out = [f"{self.reference_words} reference words: {self.correct} correct ({100 * self.correct / n:.1f}%), "
               f"{self.substitutions} substituted, {self.deletions} deleted; {self.insertions} inserted"]
        if self.missed:
            out.append("most missed (missed/said): " + ", ".join(f"{w} {m}/{s}" for w, m, s in self.missed))
        if self.substituted:
            out.append("substitutions: " + ", ".join(f"{r}->{h} ({c})" for r, h, c in self.substituted))
        if self.deleted:
            out.append("deletions: " + ", ".join(f"{w} ({c})" for w, c in self.deleted))
        if self.inserted:
            out.append("insertions: " + ", ".join(f"{w} ({c})" for w, c in self.inserted))
        if self.by_length:
            out.append("WER by clip length: " + ", ".join(
                f"{f'{a:g}-{b:g} s' if b is not None else f'{a:g} s or more'} {w:.2f}% ({n} clip{'s' * (n != 1)})"
                for a, b, n, w in self.by_length))
        return out


def error_report(refs: list[str], hyps: list[str], top: int = 10,
                 durations: list[float] | None = None) -> ErrorReport:
    """Word-level error counts of hypotheses against references; each list keeps its `top` entries
    (ties in first-seen order). An empty reference adds its hypothesis's words as insertions, as in the WER.
    With `durations` (seconds, one per clip), also the WER of the clips in each of LENGTH_BINS' ranges."""
    if durations is not None and len(durations) != len(refs):
        raise ValueError(f"{len(durations)} durations for {len(refs)} clips")
    said, missed, subs, dels, ins = Counter(), Counter(), Counter(), Counter(), Counter()
    per_clip = []  # (reference words, word errors) of each clip
    if refs:
        out = jiwer.process_words(list(refs), list(hyps))
        for ref, hyp, chunks in zip(out.references, out.hypotheses, out.alignments):
            said.update(ref)
            errors = 0
            for c in chunks:
                ref_words, hyp_words = ref[c.ref_start_idx:c.ref_end_idx], hyp[c.hyp_start_idx:c.hyp_end_idx]
                if c.type == "substitute":
                    subs.update(zip(ref_words, hyp_words))
                    missed.update(ref_words)
                elif c.type == "delete":
                    dels.update(ref_words)
                    missed.update(ref_words)
                elif c.type == "insert":
                    ins.update(hyp_words)
                if c.type != "equal":
                    errors += max(len(ref_words), len(hyp_words))
            per_clip.append((len(ref), errors))
    n_subs, n_dels = sum(subs.values()), sum(dels.values())
    return ErrorReport(
        reference_words=sum(said.values()), correct=sum(said.values()) - n_subs - n_dels,
        substitutions=n_subs, deletions=n_dels, insertions=sum(ins.values()),
        missed=tuple((w, m, said[w]) for w, m in missed.most_common(top)),
        substituted=tuple((r, h, c) for (r, h), c in subs.most_common(top)),
        deleted=tuple(dels.most_common(top)), inserted=tuple(ins.most_common(top)),
        by_length=_by_length(per_clip, durations) if durations is not None else (),
    )


def _by_length(per_clip: list[tuple[int, int]], durations: list[float]):
    """Each LENGTH_BINS range's clips, their word errors over their reference words (over 1 when they have
    none, as jiwer's WER does)."""
    edges = (0.0, *LENGTH_BINS, None)
    rows = []
    for a, b in zip(edges, edges[1:]):
        pick = [clip for clip, d in zip(per_clip, durations) if d >= a and (b is None or d < b)]
        if pick:
            words, errors = map(sum, zip(*pick))
            rows.append((a, b, len(pick), 100 * errors / max(words, 1)))
    return tuple(rows)
