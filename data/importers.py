"""`asr import`: corpora in the layouts their sources publish -> the LibriSpeech layout the trainer reads.

    ROOT/LibriSpeech/NAME/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac   16 kHz mono 16-bit
    ROOT/LibriSpeech/NAME/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt     UPPERCASE transcripts
    ROOT/LibriSpeech/NAME/SPEAKERS.txt   numeric id | sex | subset | minutes | the source's speaker name
    ROOT/LibriSpeech/NAME/ids.tsv        new utterance id, the source's id, the source's speaker

Layouts read (one `read_*` function each, returning `Entry`s and the counts of what was skipped):
- kaldi: a data directory (`text`, `wav.scp`, `utt2spk`; `spk2gender` and `segments` optional),
  wav.scp paths relative to the directory's parent or to `audio_root`; piped commands are not run.
- ljspeech: `metadata.csv` (`id|text|normalised text`) and `wavs/<id>.*` in any format soundfile reads.
- fsdd: `recordings/<digit>_<speaker>_<n>.wav` (the Free Spoken Digit Dataset).
- commands: `<word>/<speaker>_nohash_<n>.*` (Speech Commands).

Every transcript goes through asr.text.spoken_form. Missing or unreadable audio, empty or
unnormalisable text and duplicate ids are skipped and counted, never raised. Speaker ids are the
source's own when every name is a number, else the names' sorted order from 1, so a rerun on the
same source gives the same ids; with `dev_speakers` N, the N speakers first in a stable hash order go
to NAME-dev and never appear in NAME. A rerun keeps the audio files already converted (each is
written to a temporary name and renamed, so one that exists is whole), removes those no longer
planned and rewrites the transcripts: the result is the same as a first run's.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, load_audio
from asr.text import number_words, spoken_form

from .librispeech import subset_path

__all__ = ["CorpusImportError", "Entry", "ImportConfig", "ImportSummary", "LAYOUTS", "read_kaldi", "read_ljspeech",
           "read_fsdd", "read_commands", "write_corpus"]

IDS_NAME = "ids.tsv"
SPEAKERS_NAME = "SPEAKERS.txt"
MIN_SECONDS = 0.05


class CorpusImportError(Exception):
    """A source that cannot be imported at all (not one bad entry); the message is one line for the user."""


@dataclass(frozen=True)
class Entry:
    """One utterance as the source has it."""
    source_id: str
    speaker: str
    text: str  # as written in the source
    audio: Path
    segment: tuple[float, float] | None = None  # start, end seconds inside `audio` (Kaldi segments)
    sex: str = "-"  # "m", "f" or "-" (unknown)
    chapter: int = 0


@dataclass(frozen=True)
class ImportConfig:
    out: Path  # corpus root; files go to out/LibriSpeech/<subset>[-dev]/
    subset: str
    dev_speakers: int = 0
    workers: int = 2
    progress: bool | None = None  # None: a bar on a terminal


@dataclass
class ImportSummary:
    subsets: dict[str, tuple[int, float, int]] = field(default_factory=dict)  # name -> utterances, seconds, speakers
    skipped: Counter = field(default_factory=Counter)
    converted: int = 0  # audio files written by this run (the others were already there)

    def lines(self) -> list[str]:
        out = [f"{name}: {n} utterances, {sec / 3600:.2f} h, {spk} speaker{'' if spk == 1 else 's'}"
               for name, (n, sec, spk) in self.subsets.items()]
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        out.append(f"skipped: {skipped}; {self.converted} audio files converted by this run")
        return out


# --- readers ---------------------------------------------------------------------------------------

def _kaldi_table(path: Path, skipped: Counter, what: str) -> dict[str, str]:
    """`key rest-of-line` per line; a repeated key is counted as a duplicate id and the first kept."""
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        key, *value = re.split(r"\s+", line.strip(), maxsplit=1)
        value = value[0] if value else ""
        if key in table:
            skipped[f"duplicate id in {what}"] += 1
            continue
        table[key] = value
    return table


def read_kaldi(dirs: list[Path], audio_root: Path | None = None) -> tuple[list[Entry], Counter]:
    skipped: Counter = Counter()
    entries: list[Entry] = []
    seen: set[str] = set()
    piped = 0
    for d in map(Path, dirs):
        for name in ("text", "wav.scp", "utt2spk"):
            if not (d / name).is_file():
                raise CorpusImportError(f"{d}: not a Kaldi data directory (no {name})")
        texts = _kaldi_table(d / "text", skipped, "text")
        wavs = _kaldi_table(d / "wav.scp", skipped, "wav.scp")
        spk = _kaldi_table(d / "utt2spk", skipped, "utt2spk")
        sexes = _kaldi_table(d / "spk2gender", skipped, "spk2gender") if (d / "spk2gender").is_file() else {}
        segments = {}
        if (d / "segments").is_file():
            for utt, value in _kaldi_table(d / "segments", skipped, "segments").items():
                parts = value.split()
                try:
                    segments[utt] = (parts[0], float(parts[1]), float(parts[2]))
                except (IndexError, ValueError):
                    segments[utt] = None
        base = Path(audio_root) if audio_root is not None else d.resolve().parent
        for utt in sorted(texts):
            if utt in seen:
                skipped["duplicate id"] += 1
                continue
            seen.add(utt)
            rec, segment = utt, None
            if segments:
                if segments.get(utt) is None:
                    skipped["no entry in segments" if utt not in segments else "malformed segments line"] += 1
                    continue
                rec, start, end = segments[utt]
                segment = (start, end)
            location = wavs.get(rec)
            if location is None:
                skipped["missing audio"] += 1
                continue
            if location.endswith("|"):
                piped += 1
                continue
            if utt not in spk:
                skipped["no speaker in utt2spk"] += 1
                continue
            path = Path(location)
            sex = sexes.get(spk[utt], "-").lower()[:1]
            entries.append(Entry(utt, spk[utt], texts[utt], path if path.is_absolute() else base / path, segment,
                                 sex if sex in ("m", "f") else "-"))
    if piped:
        skipped["piped command in wav.scp (not run: convert those recordings to files first)"] += piped
    return entries, skipped


def _audio_files(folder: Path) -> dict[str, Path]:
    """stem -> file for every file in `folder` (the first by name when several share a stem)."""
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()) if folder.is_dir() else ():
        if p.is_file() and not p.name.startswith("."):
            out.setdefault(p.stem, p)
    return out


def read_ljspeech(root: Path) -> tuple[list[Entry], Counter]:
    root = Path(root)
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise CorpusImportError(f"{root}: not an LJSpeech folder (no metadata.csv)")
    audio = _audio_files(root / "wavs")
    skipped: Counter = Counter()
    entries, seen = [], set()
    for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        utt = fields[0].strip()
        if len(fields) < 2 or not utt:
            skipped["malformed metadata line"] += 1
            continue
        if utt in seen:
            skipped["duplicate id"] += 1
            continue
        seen.add(utt)
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        if utt not in audio:
            skipped["missing audio"] += 1
            continue
        m = re.match(r"([A-Za-z]+)(\d*)", utt)
        speaker = m[1] if m and m[1] else root.name
        chapter = int(m[2]) if m and m[2] else 0
        entries.append(Entry(utt, speaker, text, audio[utt], chapter=chapter))
    return entries, skipped


def read_fsdd(root: Path) -> tuple[list[Entry], Counter]:
    root = Path(root)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    if not files:
        raise CorpusImportError(f"{root}: no recordings/<digit>_<speaker>_<n>.wav files")
    skipped: Counter = Counter()
    entries, seen = [], set()
    for p in files:
        m = re.fullmatch(r"(\d)_([A-Za-z0-9]+)_(\d+)", p.stem)
        if m is None:
            skipped["file name not <digit>_<speaker>_<n>"] += 1
            continue
        if p.stem in seen:
            skipped["duplicate id"] += 1
            continue
        seen.add(p.stem)
        entries.append(Entry(p.stem, m[2], number_words(int(m[1])), p))
    return entries, skipped


def read_commands(root: Path) -> tuple[list[Entry], Counter]:
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))) \
        if root.is_dir() else []
    if not folders:
        raise CorpusImportError(f"{root}: no <word>/<speaker>_nohash_<n> folders")
    skipped: Counter = Counter()
    entries = []
    for folder in folders:
        for p in sorted(folder.iterdir()):
            m = re.fullmatch(r"([0-9a-f]+)_nohash_(\d+)", p.stem)
            if not p.is_file() or m is None:
                skipped["file name not <speaker>_nohash_<n>"] += 1
                continue
            entries.append(Entry(f"{folder.name}/{p.stem}", m[1], folder.name.replace("_", " "), p))
    return entries, skipped


LAYOUTS = {"kaldi": read_kaldi, "ljspeech": read_ljspeech, "fsdd": read_fsdd, "commands": read_commands}


# --- writing ---------------------------------------------------------------------------------------

def speaker_ids(names) -> dict[str, int]:
    """The source's own numbers when every name is one (and they are distinct), else sorted order from 1."""
    names = sorted(set(names))
    if names and all(n.isdigit() for n in names) and len({int(n) for n in names}) == len(names):
        return {n: int(n) for n in names}
    return {n: i for i, n in enumerate(names, 1)}


def dev_speaker_names(names, n: int) -> set[str]:
    """`n` whole speakers for the dev subset: the first in the order of a hash of their names."""
    return set(sorted(set(names), key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:n])


@dataclass(frozen=True)
class _Job:
    src: Path
    segment: tuple[float, float] | None
    dst: Path


def _convert(job: _Job) -> tuple[Path, float | str]:
    """(dst, seconds) once dst holds the audio, or (dst, why it cannot)."""
    if job.dst.exists():
        try:
            info = sf.info(str(job.dst))
            return job.dst, info.frames / info.samplerate
        except (sf.LibsndfileError, RuntimeError):
            job.dst.unlink()
    try:
        x = load_audio(job.src)
    except AudioError as e:
        return job.dst, "missing audio" if "no such file" in str(e) else "unreadable audio"
    if job.segment is not None:
        start, end = (round(t * SAMPLE_RATE) for t in job.segment)
        if start < 0 or end <= start or start >= len(x):
            return job.dst, "segment outside its recording"
        x = x[start:end]
    if len(x) < MIN_SECONDS * SAMPLE_RATE or not np.any(x):
        return job.dst, "empty or silent audio"
    job.dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = job.dst.with_name(f".{job.dst.stem}.{os.getpid()}.tmp")
    sf.write(str(tmp), x, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    os.replace(tmp, job.dst)
    return job.dst, len(x) / SAMPLE_RATE


def write_corpus(entries: list[Entry], cfg: ImportConfig, skipped: Counter | None = None) -> ImportSummary:
    summary = ImportSummary(skipped=Counter(skipped or {}))
    usable = []
    for e in entries:
        text = spoken_form(e.text)
        if text is None:
            summary.skipped["text not spelled in a-z (another script)"] += 1
        elif not text:
            summary.skipped["empty text"] += 1
        else:
            usable.append((e, text))
    speakers = sorted({e.speaker for e, _ in usable})
    if not usable:
        raise CorpusImportError("nothing to import: " + (", ".join(f"{n} {r}" for r, n in sorted(summary.skipped.items()))
                                                    or "the source holds no utterances"))
    if cfg.dev_speakers < 0 or (cfg.dev_speakers and cfg.dev_speakers >= len(speakers)):
        raise CorpusImportError(f"--dev-speakers must be 0 to {len(speakers) - 1} (the source has {len(speakers)} "
                           f"speakers), not {cfg.dev_speakers}")
    ids = speaker_ids(speakers)
    dev = dev_speaker_names(speakers, cfg.dev_speakers)
    names = {False: cfg.subset, True: f"{cfg.subset}-dev"} if dev else {False: cfg.subset}

    by_speaker: dict[str, list[tuple[Entry, str]]] = defaultdict(list)
    for e, text in usable:
        by_speaker[e.speaker].append((e, text))
    plan: dict[str, list[tuple[str, Entry, str, Path]]] = {name: [] for name in names.values()}
    for speaker, items in sorted(by_speaker.items()):
        name = names[speaker in dev]
        counters: Counter = Counter()
        for e, text in sorted(items, key=lambda it: (it[0].chapter, it[0].source_id)):
            sid = ids[speaker]
            counters[e.chapter] += 1
            utt = f"{sid}-{e.chapter}-{counters[e.chapter]:04d}"
            dst = subset_path(cfg.out, name) / str(sid) / str(e.chapter) / f"{utt}.flac"
            plan[name].append((utt, e, text, dst))

    jobs = [_Job(e.audio, e.segment, dst) for items in plan.values() for _, e, _, dst in items]
    before = sum(j.dst.exists() for j in jobs)
    results: dict[Path, float | str] = {}
    bar = tqdm(total=len(jobs), desc=f"import {cfg.subset}", unit="utt", dynamic_ncols=True, mininterval=0.5,
               disable=None if cfg.progress is None else not cfg.progress)
    if cfg.workers > 1 and len(jobs) > 1:
        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for dst, r in pool.imap_unordered(_convert, jobs, chunksize=8):
                results[dst] = r
                bar.update()
    else:
        for job in jobs:
            dst, r = _convert(job)
            results[dst] = r
            bar.update()
    bar.close()
    summary.converted = sum(isinstance(r, float) for r in results.values()) - before

    for flag, name in names.items():
        root = subset_path(cfg.out, name)
        kept = [(utt, e, text, dst, results[dst]) for utt, e, text, dst in plan[name]]
        for *_, r in kept:
            if isinstance(r, str):
                summary.skipped[r] += 1
        kept = [k for k in kept if isinstance(k[4], float)]
        _write_subset(root, name, kept, ids)
        summary.subsets[name] = (len(kept), sum(k[4] for k in kept), len({k[1].speaker for k in kept}))
    return summary


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_subset(root: Path, name: str, kept: list, ids: dict[str, int]) -> None:
    """Transcripts, SPEAKERS.txt and ids.tsv for the kept utterances; files of earlier runs not kept are removed."""
    root.mkdir(parents=True, exist_ok=True)
    transcripts: dict[Path, list[str]] = defaultdict(list)
    minutes: Counter = Counter()
    sexes: dict[str, str] = {}
    for utt, e, text, dst, seconds in kept:
        transcripts[dst.parent / f"{dst.parent.parent.name}-{dst.parent.name}.trans.txt"].append(
            f"{utt} {text.upper()}")
        minutes[e.speaker] += seconds / 60
        sexes[e.speaker] = e.sex
    wanted = {dst for *_, dst, _ in kept} | set(transcripts)
    for p in root.glob("*/*/*"):
        if p.is_file() and p not in wanted:
            p.unlink()
    for d in sorted(root.glob("*/*"), reverse=True):  # folders emptied by the removal
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    for d in root.glob("*"):
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    for path, lines in transcripts.items():
        _atomic_text(path, "\n".join(sorted(lines)) + "\n")
    rows = [f"{ids[s]:<6}| {sexes[s].upper() if sexes[s] != '-' else '-'} | {name:<16}| {minutes[s]:6.2f} | {s}"
            for s in sorted(minutes, key=lambda s: ids[s])]
    _atomic_text(root / SPEAKERS_NAME, ";ID   |SEX| SUBSET          |MINUTES| NAME (the source's speaker)\n"
                 + "".join(r + "\n" for r in rows))
    _atomic_text(root / IDS_NAME, "id\tsource_id\tsource_speaker\n"
                 + "".join(f"{utt}\t{e.source_id}\t{e.speaker}\n" for utt, e, *_ in sorted(kept, key=lambda k: k[0])))
