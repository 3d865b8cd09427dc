"""Reader for the LibriSpeech layout, for the real corpus and for corpora made by `asr synth`:

    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

Entries that cannot be used (missing or unreadable audio, audio without transcript, empty
transcripts, characters outside the vocabulary, zero-length audio) are skipped and counted by
reason; the caller reports the counts. Nothing here raises for one bad entry.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from asr.vocab import invalid_chars, normalize_text

__all__ = ["Utterance", "SubsetReport", "subset_dir", "read_subset", "read_subsets"]


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    text: str  # normalised, lowercase
    duration: float  # seconds
    subset: str


@dataclass
class SubsetReport:
    subset: str
    kept: int = 0
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return f"{self.subset}: {self.kept} utterances, {self.seconds / 3600:.2f} h; skipped: {skipped}"


def subset_dir(root: str | Path, subset: str) -> Path:
    """`root` may be the folder holding LibriSpeech/ or LibriSpeech/ itself."""
    root = Path(root)
    for base in (root / "LibriSpeech", root):
        if (base / subset).is_dir():
            return base / subset
    raise FileNotFoundError(f"no subset {subset!r} under {root} (expected {root}/LibriSpeech/{subset}/)")


def _read_transcripts(trans: Path, report: SubsetReport) -> dict[str, str]:
    out = {}
    try:
        lines = trans.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        report.skipped["unreadable transcript file"] += 1
        return out
    for line in lines:
        if not line.strip():
            continue
        utt_id, _, text = line.strip().partition(" ")
        out[utt_id] = normalize_text(text)
    return out


def read_subset(root: str | Path, subset: str) -> tuple[list[Utterance], SubsetReport]:
    """All usable utterances of one subset, sorted by id, and the report of what was skipped."""
    base = subset_dir(root, subset)
    report = SubsetReport(subset)
    transcripts: dict[str, str] = {}
    for trans in sorted(base.glob("*/*/*.trans.txt")):
        transcripts.update(_read_transcripts(trans, report))
    audio = {p.stem: p for p in base.glob("*/*/*.flac")}
    utterances = []
    for utt_id in sorted(set(audio) | set(transcripts)):
        text, path = transcripts.get(utt_id), audio.get(utt_id)
        if path is None:
            report.skipped["missing audio"] += 1
        elif text is None:
            report.skipped["missing transcript"] += 1
        elif not text:
            report.skipped["empty transcript"] += 1
        elif invalid_chars(text):
            report.skipped["characters outside the vocabulary"] += 1
        else:
            try:
                info = sf.info(str(path))
            except (sf.LibsndfileError, RuntimeError, OSError):
                report.skipped["unreadable audio"] += 1
                continue
            if info.frames == 0:
                report.skipped["zero-length audio"] += 1
                continue
            duration = info.frames / info.samplerate
            utterances.append(Utterance(utt_id, path, text, duration, subset))
            report.kept += 1
            report.seconds += duration
    return utterances, report


def read_subsets(root: str | Path, subsets: list[str]) -> tuple[list[Utterance], list[SubsetReport]]:
    utterances, reports = [], []
    for name in subsets:
        utts, rep = read_subset(root, name)
        utterances += utts
        reports.append(rep)
    return utterances, reports
