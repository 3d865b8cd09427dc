"""Reader for the LibriSpeech layout, for the real corpus and for corpora made by `asr synth`:

    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac   (or .wav/.opus/.ogg)
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt

Entries that cannot be used (missing or unreadable audio, audio without transcript, empty
transcripts, characters outside the vocabulary, zero-length audio) are skipped and counted by
reason; the caller reports the counts. Nothing here raises for one bad entry.

Reading a subset's headers takes minutes for the 960 h corpus, so the result (the manifest: id,
path, duration, transcript per utterance, and the skip counts) is cached in
`<subset>/.asr-manifest.json` and reused while the folder's files (names, sizes, modification
times) are unchanged; any change rebuilds it. A read-only corpus is simply not cached.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from asr.vocab import invalid_chars, normalize_text

__all__ = ["MANIFEST_NAME", "Utterance", "SubsetReport", "subset_dir", "subset_path", "read_subset", "read_subsets"]

MANIFEST_NAME = ".asr-manifest.json"
AUDIO_SUFFIXES = {".flac", ".wav", ".opus", ".ogg"}  # LibriSpeech is FLAC; data.pack writes Opus
MANIFEST_VERSION = 1


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


def subset_path(root: str | Path, subset: str) -> Path:
    """Where subset `subset` of the corpus at `root` lives in the LibriSpeech layout (the folder the
    writers make: `asr import`, `asr synth`, `asr join`, the downloader); it need not exist yet."""
    return Path(root) / "LibriSpeech" / subset


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


def _fingerprint(base: Path, files: list[Path]) -> str:
    h = hashlib.sha1()
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(base)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _scan(base: Path, subset: str, trans_files: list[Path], audio_files: list[Path], progress: bool | None,
          ) -> tuple[list[Utterance], SubsetReport]:
    report = SubsetReport(subset)
    transcripts: dict[str, str] = {}
    for trans in trans_files:
        transcripts.update(_read_transcripts(trans, report))
    audio = {p.stem: p for p in audio_files}
    utterances = []
    ids = sorted(set(audio) | set(transcripts))
    for utt_id in tqdm(ids, desc=f"manifest {subset}", unit="utt", disable=None if progress is None else not progress,
                       dynamic_ncols=True, mininterval=1.0):
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


def _load_manifest(
    path: Path, base: Path, subset: str, fingerprint: str,
) -> tuple[list[Utterance], SubsetReport] | None:
    try:
        m = json.loads(path.read_text())
        if m.get("version") != MANIFEST_VERSION or m.get("fingerprint") != fingerprint:
            return None
        utts = [Utterance(i, base / rel, text, dur, subset) for i, rel, dur, text in m["utterances"]]
        report = SubsetReport(subset, len(utts), sum(u.duration for u in utts), Counter(m["skipped"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or from another version: rebuild
    return utts, report


def _save_manifest(path: Path, base: Path, fingerprint: str, utts: list[Utterance], report: SubsetReport) -> None:
    m = {"version": MANIFEST_VERSION, "fingerprint": fingerprint, "skipped": dict(report.skipped),
         "utterances": [[u.id, str(u.path.relative_to(base)), u.duration, u.text] for u in utts]}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(m))
        os.replace(tmp, path)
    except OSError:  # read-only corpus: no cache
        tmp.unlink(missing_ok=True)


def read_subset(
    root: str | Path, subset: str, cache: bool = True, progress: bool | None = None,
) -> tuple[list[Utterance], SubsetReport]:
    """All usable utterances of one subset, sorted by id, and the report of what was skipped.

    The manifest is cached (see the module docstring); progress=None shows a bar on a terminal.
    """
    base = subset_dir(root, subset)
    trans_files = sorted(base.glob("*/*/*.trans.txt"))
    audio_files = sorted(f for f in base.glob("*/*/*.*") if f.suffix in AUDIO_SUFFIXES)
    fingerprint = _fingerprint(base, trans_files + audio_files)
    manifest = base / MANIFEST_NAME
    if cache and (hit := _load_manifest(manifest, base, subset, fingerprint)) is not None:
        return hit
    utts, report = _scan(base, subset, trans_files, audio_files, progress)
    if cache:
        _save_manifest(manifest, base, fingerprint, utts, report)
    return utts, report


def read_subsets(
    root: str | Path, subsets: list[str], cache: bool = True, progress: bool | None = None,
) -> tuple[list[Utterance], list[SubsetReport]]:
    utterances, reports = [], []
    for name in subsets:
        utts, rep = read_subset(root, name, cache, progress)
        utterances += utts
        reports.append(rep)
    return utterances, reports
