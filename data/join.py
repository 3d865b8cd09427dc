"""`asr join`: one speaker's single-word clips joined into multi-word utterances.

The Speech Commands test set (`asr import commands`) is the only native speech with hundreds of
speakers here, but one word per clip. Version 14 hears 82 % of those words alone and 33 % of them
three to six in a row by the same speaker (docs/default-model.md, "Digital silence and joined
words"): in a sentence its own guess of the next word wins over the sound. Joined clips, in random order, give it real
voices in running context that no sentence model can predict.

Each speaker's clips are shuffled (seeded), cut to their speech with librosa's trim (`top_db` under
the clip's peak) and joined into utterances of `words` words, with 0.03-0.25 s between words and
0.1-0.3 s before the first and after the last. The gaps hold, by `gap`:

- "floor": white noise at the clip's own noise floor (the RMS of its quietest tenth of 10 ms frames,
  at least FLOOR_MIN_RMS), so the background goes on under the joins as it would in one recording;
- "noise": white noise at `noise_level` RMS;
- "zero": digital silence, as a synthesiser writes (a probe: the model mishears words between zeros).

The subset is rewritten on a rerun: its folder holds JOINED.txt, the recipe; a folder without it is
never touched.
"""
from __future__ import annotations

import random
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioError, load_audio

from .librispeech import read_subset, subset_dir, subset_path

__all__ = ["GAPS", "JoinConfig", "JoinError", "JoinSummary", "join_subset"]

GAPS = ("floor", "noise", "zero")
FIRST_GAP_S = (0.1, 0.3)  # before the first word and after the last
WORD_GAP_S = (0.03, 0.25)  # between words
FLOOR_MIN_RMS = 3e-4  # about -70 dBFS: a clip padded with digital zeros still gets a floor
FRAME = 160  # 10 ms at 16 kHz
MARKER = "JOINED.txt"


class JoinError(Exception):
    """Nothing can be joined, or the output would overwrite a subset `asr join` did not make."""


@dataclass(frozen=True)
class JoinConfig:
    data: Path  # corpus root holding `subset`
    subset: str  # single-word clips (LibriSpeech layout, ids SPEAKER-CHAPTER-N)
    out: Path  # corpus root to write `name` under
    name: str
    words: tuple[int, int] = (3, 6)
    gap: str = "floor"
    noise_level: float = 1e-3
    top_db: float = 40.0
    seed: int = 0
    progress: bool | None = None


@dataclass
class JoinSummary:
    path: Path
    utterances: int
    seconds: float
    speakers: int
    skipped: Counter

    def line(self) -> str:
        left = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return (f"{self.path}: {self.utterances} utterances, {self.seconds / 3600:.2f} h, {self.speakers} speakers"
                + (f"; left out: {left}" if left else ""))


def _floor_rms(wave: np.ndarray) -> float:
    n = len(wave) // FRAME
    if n == 0:
        return FLOOR_MIN_RMS
    rms = np.sqrt((wave[: n * FRAME].reshape(n, FRAME).astype(np.float64) ** 2).mean(1))
    return max(float(np.quantile(rms, 0.1)), FLOOR_MIN_RMS)


def _prepare_folder(folder: Path) -> None:
    if folder.exists():
        if not (folder / MARKER).is_file():
            raise JoinError(f"{folder} exists and was not made by asr join (no {MARKER}): choose another --name")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def join_subset(cfg: JoinConfig) -> JoinSummary:
    lo, hi = cfg.words
    if not 1 <= lo <= hi:
        raise JoinError(f"words per utterance must be A-B with 1 <= A <= B, not {lo}-{hi}")
    if cfg.gap not in GAPS:
        raise JoinError(f"gap must be one of {', '.join(GAPS)}, not {cfg.gap!r}")
    try:
        source = subset_dir(cfg.data, cfg.subset)
    except FileNotFoundError as e:
        raise JoinError(str(e)) from e
    utts, report = read_subset(cfg.data, cfg.subset, progress=False)
    if not utts:
        raise JoinError(f"{source} has no usable utterances")
    by_speaker: dict[str, list] = {}
    for u in utts:
        by_speaker.setdefault(u.id.split("-")[0], []).append(u)
    folder = subset_path(cfg.out, cfg.name)
    if source.resolve() == folder.resolve():
        raise JoinError("the joined subset would replace its own source: choose another --name")
    _prepare_folder(folder)
    rng, noise_rng = random.Random(cfg.seed), np.random.default_rng(cfg.seed)
    skipped: Counter = Counter({f"{why} (in {cfg.subset})": n for why, n in report.skipped.items()})
    made, seconds, speakers = 0, 0.0, 0

    def gap(span: tuple[float, float], rms: float) -> np.ndarray:
        n = int(SAMPLE_RATE * rng.uniform(*span))
        if cfg.gap == "zero":
            return np.zeros(n, np.float32)
        return (noise_rng.standard_normal(n) * rms).astype(np.float32)

    for speaker, clips in tqdm(sorted(by_speaker.items()), desc=f"join {cfg.name}", unit="speaker",
                               disable=cfg.progress is False):
        clips = clips[:]
        rng.shuffle(clips)
        groups, i = [], 0
        while len(clips) - i >= lo:
            k = min(rng.randint(lo, hi), len(clips) - i)
            groups.append(clips[i: i + k])
            i += k
        skipped["clips left over, too few for one more utterance"] += len(clips) - i
        lines = []
        for g, group in enumerate(groups):
            pieces, words, floors = [], [], []
            for u in group:
                try:
                    wave = load_audio(u.path)
                except AudioError:  # readable header, unreadable samples
                    skipped["unreadable clips"] += 1
                    continue
                speech, _ = librosa.effects.trim(wave, top_db=cfg.top_db, frame_length=400, hop_length=FRAME)
                pieces.append(speech)
                words.append(u.text)
                floors.append(_floor_rms(wave) if cfg.gap == "floor" else cfg.noise_level)
            if len(words) < lo:
                skipped["utterances short of words after unreadable clips"] += 1
                continue
            parts = [gap(FIRST_GAP_S, floors[0])]
            for j, speech in enumerate(pieces):
                parts.append(speech)
                parts.append(gap(FIRST_GAP_S if j == len(pieces) - 1 else WORD_GAP_S, floors[j]))
            audio = np.concatenate(parts)
            uid = f"{speaker}-0-{g:04d}"
            (folder / speaker / "0").mkdir(parents=True, exist_ok=True)
            sf.write(folder / speaker / "0" / f"{uid}.flac", audio, SAMPLE_RATE)
            lines.append(f"{uid} {' '.join(words).upper()}")
            made += 1
            seconds += len(audio) / SAMPLE_RATE
        if lines:
            speakers += 1
            (folder / speaker / "0" / f"{speaker}-0.trans.txt").write_text("".join(x + "\n" for x in lines))
    skipped = Counter({k: v for k, v in skipped.items() if v})
    (folder / MARKER).write_text(
        f"asr join: {cfg.subset} under {cfg.data}, {lo}-{hi} words per utterance, gap {cfg.gap}"
        + (f" ({cfg.noise_level:g} RMS)" if cfg.gap == "noise" else "")
        + f", trim {cfg.top_db:g} dB, seed {cfg.seed}\n")
    if not made:
        raise JoinError(f"no speaker of {cfg.subset} has {lo} usable clips: nothing joined")
    return JoinSummary(folder, made, seconds, speakers, skipped)
