"""Write a synthetic speech corpus in the LibriSpeech layout.

    out/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt:04d>.flac
    out/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    out/LibriSpeech/<subset>/SPEAKERS.txt

Audio is 16 kHz mono 16-bit FLAC, trimmed to 0.1-0.3 s of silence at each end and
peak-normalised to a random -1..-12 dBFS. The voices are described in data/voices.py.

Each engine gets hours / len(engines) of audio. Each engine has its own stream of
jobs (sentence, voice, prosody), drawn from random.Random(f"{seed}:{engine}") and
from its own share of the shuffled sentences, and takes the results of that stream
in order until its share of hours is reached; so the same seed, text and `workers`
give the same corpus. Piper's job k always runs on worker k % workers, whose
onnxruntime noise generator is seeded; a different `workers` gives other piper audio.
When an engine has used all of its sentences it starts them again (other voices).
Speaker <s> has chapters s*1000, s*1000+1, ... of 50 utterances each: ids are unique
within a subset, not across subsets made with different seeds.
"""

from __future__ import annotations

import gzip
import multiprocessing as mp
import queue
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from tqdm import tqdm

from asr.text import NORMALISED_LINE, sentence_split

from .librispeech import subset_path
from .voices import DEFAULT_ENGINES, SynthError, Voice, available_voices, draw_params, load_piper, render

__all__ = ["SynthConfig", "SynthSummary", "SynthError", "Voice", "available_voices",
           "sentence_split", "synthesize_corpus"]

SAMPLE_RATE = 16000
UTTS_PER_CHAPTER = 50
GAIN_DB = (-12.0, -1.0)     # peak level
PAD_S = (0.1, 0.3)          # silence kept at each end
MIN_SECONDS = 0.5           # shorter output counts as a failure
MAX_FAILS_IN_A_ROW = 20     # then the engine is broken: stop
IN_FLIGHT = 4               # jobs queued per worker


@dataclass(frozen=True)
class SynthConfig:
    text: Path              # sentences, one per line; may be .gz
    out: Path               # corpus root; files go under out/LibriSpeech/<subset>/
    subset: str             # e.g. "synth-train", "synth-dev"
    hours: float            # target total audio duration
    engines: tuple[str, ...] = DEFAULT_ENGINES  # data.voices.ENGINES has every one
    split: str = "train"    # "train" | "dev" (held-out voices and sentences only) | "all"
    seed: int = 0
    workers: int = 2
    # subsets of the same corpus root whose sentences are not spoken again: a test set beside a dev
    # set (both from the held-out sentences) shares no sentence with it
    exclude_subsets: tuple[str, ...] = ()


@dataclass(frozen=True)
class SynthSummary:
    path: Path                                   # out/LibriSpeech/<subset>
    utterances: int
    seconds: float
    engine_seconds: dict[str, float]
    failures: int
    failure_reasons: dict[str, int] = field(default_factory=dict)  # "engine: reason" -> count
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class _Job:
    index: int              # position in its engine's stream
    voice: Voice
    text: str               # uppercase transcript
    params: dict
    gain_db: float
    pads: tuple[float, float]


def _read_sentences(path: Path, split: str) -> list[str]:
    if not Path(path).is_file():
        raise SynthError(f"text file not found: {path}")
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
        lines = (" ".join(line.upper().split()) for line in f)
        sentences = sorted({s for s in lines if NORMALISED_LINE.fullmatch(s)})
    return [s for s in sentences if split == "all" or sentence_split(s) == split]


def _postprocess(audio: np.ndarray, sr: int, job: _Job) -> np.ndarray | None:
    """Resample to 16 kHz, trim silence to the job's padding, set the peak level -> int16."""
    if sr != SAMPLE_RATE:
        audio = soxr.resample(audio, sr, SAMPLE_RATE)
    hop = SAMPLE_RATE // 100
    frames = len(audio) // hop
    if frames == 0:
        return None
    rms = np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-40 / 20))
    if rms.max() < 1e-5 or len(loud) == 0:
        return None
    start, end, n = loud[0] * hop, (loud[-1] + 1) * hop, len(audio)
    before, after = (int(p * SAMPLE_RATE) for p in job.pads)
    audio = audio[max(0, start - before): end + after]
    audio = np.pad(audio, (max(0, before - start), max(0, end + after - n)))
    audio = audio * (10 ** (job.gain_db / 20) / np.abs(audio).max())
    return np.round(audio * 32767).astype(np.int16)


def _worker(wid: int, seed: int, jobs: mp.Queue, results: mp.Queue) -> None:
    piper = None
    with tempfile.TemporaryDirectory(prefix=f"synth{wid}-") as tmp:
        for job in iter(jobs.get, None):
            try:
                if job.voice.engine == "piper" and piper is None:
                    piper = load_piper(seed * 1000 + wid)
                audio = _postprocess(*render(job.voice, job.text, job.params, Path(tmp), piper), job)
                if audio is None or len(audio) < MIN_SECONDS * SAMPLE_RATE:
                    raise ValueError("empty or too short output")
                results.put((job.voice.engine, job.index, audio, ""))
            except Exception as e:  # one sentence failing is never fatal
                reason = f"{type(e).__name__}: {e}".splitlines()[0][:100]
                results.put((job.voice.engine, job.index, None, reason))


class _Streams:
    """Each engine's deterministic job stream."""

    def __init__(self, cfg: SynthConfig, voices: list[Voice], sentences: list[str]):
        random.Random(cfg.seed).shuffle(sentences)
        n = len(cfg.engines)
        self.sentences = {e: sentences[i::n] for i, e in enumerate(cfg.engines)}
        self.voices = {e: [v for v in voices if v.engine == e] for e in cfg.engines}
        self.rngs = {e: random.Random(f"{cfg.seed}:{e}") for e in cfg.engines}
        self.count = Counter()

    def next(self, engine: str) -> _Job:
        rng, k = self.rngs[engine], self.count[engine]
        self.count[engine] += 1
        share = self.sentences[engine]
        voice = rng.choice(self.voices[engine])
        return _Job(k, voice, share[k % len(share)], draw_params(voice, rng),
                    rng.uniform(*GAIN_DB), (rng.uniform(*PAD_S), rng.uniform(*PAD_S)))


def _check(cfg: SynthConfig) -> tuple[Path, list[Voice], list[str]]:
    if cfg.split not in ("train", "dev", "all"):
        raise SynthError(f"split must be train, dev or all, not {cfg.split!r}")
    if not cfg.engines or len(set(cfg.engines)) != len(cfg.engines) or cfg.hours <= 0 or cfg.workers < 1:
        raise SynthError("need distinct engines, hours > 0 and workers >= 1")
    subset = subset_path(cfg.out, cfg.subset)
    if subset.exists() and any(subset.iterdir()):
        raise SynthError(f"{subset} already has files; delete it first")
    voices = [v for v in available_voices(cfg.engines)
              if cfg.split == "all" or v.heldout == (cfg.split == "dev")]
    missing = [e for e in cfg.engines if not any(v.engine == e for v in voices)]
    if missing:
        raise SynthError(f"no installed {cfg.split} voices for {', '.join(missing)}")
    sentences = _read_sentences(cfg.text, cfg.split)
    if cfg.exclude_subsets:
        spoken = _subset_sentences(cfg.out, cfg.exclude_subsets)
        sentences = [s for s in sentences if s not in spoken]
    if len(sentences) < len(cfg.engines):
        raise SynthError(f"{cfg.text}: too few usable {cfg.split} sentences ({len(sentences)})")
    return subset, voices, sentences


def _subset_sentences(root: Path, subsets: tuple[str, ...]) -> set[str]:
    """The transcripts of existing subsets of the corpus at `root`, normalised as sentences are here."""
    from .librispeech import read_subset

    spoken: set[str] = set()
    for name in subsets:
        try:
            utterances, _ = read_subset(root, name, progress=False)
        except FileNotFoundError:
            utterances = []
        if not utterances:
            raise SynthError(f"--exclude-subset {name}: no transcripts under {Path(root) / 'LibriSpeech' / name}")
        spoken |= {" ".join(u.text.upper().split()) for u in utterances}
    return spoken


def synthesize_corpus(cfg: SynthConfig, progress: bool = True) -> SynthSummary:
    """Write about cfg.hours of audio to out/LibriSpeech/<subset>; see the module doc."""
    subset, voices, sentences = _check(cfg)
    started = time.monotonic()
    streams = _Streams(cfg, voices, sentences)
    target = cfg.hours * 3600 / len(cfg.engines)
    seconds = {e: 0.0 for e in cfg.engines}
    waiting = {e: {} for e in cfg.engines}      # index -> result, until its turn
    taken = Counter()                           # engine -> next index to take
    fails, fails_in_a_row, per_speaker, speaker_seconds = Counter(), Counter(), Counter(), Counter()
    ctx = mp.get_context("spawn")
    inboxes = [ctx.Queue() for _ in range(cfg.workers)]
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(w, cfg.seed, inboxes[w], results), daemon=True)
             for w in range(cfg.workers)]
    in_flight, jobs = Counter(), {}
    bar = tqdm(total=round(cfg.hours, 4), unit="h", disable=not progress, desc=cfg.subset,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.3f}/{total:.3f} h [{elapsed}<{remaining}]")
    subset.mkdir(parents=True, exist_ok=True)
    for p in procs:
        p.start()
    try:
        turn, pending = 0, None
        while any(seconds[e] < target for e in cfg.engines):
            if pending is None:  # round-robin over the engines still short of their share
                live = [e for e in cfg.engines if seconds[e] < target]
                pending = streams.next(live[turn % len(live)])
                turn += 1
            w = pending.index % cfg.workers
            if in_flight[w] < IN_FLIGHT:
                inboxes[w].put(pending)
                in_flight[w] += 1
                jobs[pending.voice.engine, pending.index] = pending
                pending = None
                continue
            engine, index, audio, reason = _receive(results, procs)
            in_flight[index % cfg.workers] -= 1
            waiting[engine][index] = (jobs.pop((engine, index)), audio, reason)
            while taken[engine] in waiting[engine] and seconds[engine] < target:
                job, audio, reason = waiting[engine].pop(taken[engine])
                taken[engine] += 1
                if audio is None:
                    fails[f"{engine}: {reason}"] += 1
                    fails_in_a_row[engine] += 1
                    if fails_in_a_row[engine] >= MAX_FAILS_IN_A_ROW:
                        raise SynthError(f"{engine} failed {MAX_FAILS_IN_A_ROW} sentences in a row, "
                                         f"last: {reason}")
                    continue
                fails_in_a_row[engine] = 0
                _write(subset, job, audio, per_speaker[job.voice.speaker_id])
                per_speaker[job.voice.speaker_id] += 1
                speaker_seconds[job.voice.speaker_id] += len(audio) / SAMPLE_RATE
                seconds[engine] += len(audio) / SAMPLE_RATE
                bar.update(min(len(audio) / SAMPLE_RATE / 3600, bar.total - bar.n))
    finally:
        bar.close()
        for inbox in inboxes:
            inbox.put(None)
        for p in procs:
            p.join(timeout=2)
            if p.is_alive():
                p.terminate()
    _write_speakers(subset, voices, speaker_seconds, cfg)
    return SynthSummary(subset, sum(per_speaker.values()), sum(seconds.values()), seconds,
                        sum(fails.values()), dict(fails), time.monotonic() - started)


def _receive(results: mp.Queue, procs: list) -> tuple:
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if not p.is_alive()]
            if dead:
                raise SynthError(f"a synthesis worker died (exit code {dead[0].exitcode})") from None


def _write(subset: Path, job: _Job, audio: np.ndarray, n: int) -> None:
    """Write the speaker's n-th utterance and its transcript line."""
    speaker = job.voice.speaker_id
    chapter = speaker * 1000 + n // UTTS_PER_CHAPTER
    folder = subset / str(speaker) / str(chapter)
    folder.mkdir(parents=True, exist_ok=True)
    utt = f"{speaker}-{chapter}-{n % UTTS_PER_CHAPTER:04d}"
    sf.write(folder / f"{utt}.flac", audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    with open(folder / f"{speaker}-{chapter}.trans.txt", "a", encoding="utf-8") as f:
        f.write(f"{utt} {job.text}\n")


def _write_speakers(subset: Path, voices: list[Voice], seconds: Counter, cfg: SynthConfig) -> None:
    minutes = {v.speaker_id: seconds[v.speaker_id] / 60 for v in voices if seconds[v.speaker_id]}
    lines = [f"; synthetic speakers of {cfg.subset} (data/synth.py, split={cfg.split}, seed={cfg.seed})",
             "; ID | ENGINE | VOICE | SEX | HELDOUT | MINUTES | SETTINGS"]
    lines += [f"{v.speaker_id:<5}| {v.engine:<6} | {v.name:<22} | {v.sex} | {'yes' if v.heldout else 'no'} "
              f"| {minutes[v.speaker_id]:7.2f} | {v.settings()}" for v in voices if v.speaker_id in minutes]
    (subset / "SPEAKERS.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
