"""The benchmark's audio: a few minutes of speech with known text, from a fresh clone.

The bundled sample plus Harvard sentences spoken by espeak-ng in several accents and rates (or,
with `data`/`subset`, utterances of a LibriSpeech-layout corpus), joined with 0.5 s of silence
until `seconds` of audio are reached. Deterministic.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio

ASSETS = Path(__file__).parents[2] / "assets"
GAP_SECONDS = 0.5

# IEEE "Harvard" sentences (1969), public domain
SENTENCES = [
    "the birch canoe slid on the smooth planks", "glue the sheet to the dark blue background",
    "it's easy to tell the depth of a well", "these days a chicken leg is a rare dish",
    "rice is often served in round bowls", "the juice of lemons makes fine punch",
    "the box was thrown beside the parked truck", "the hogs were fed chopped corn and garbage",
    "four hours of steady work faced us", "a large size in stockings is hard to sell",
    "the boy was there when the sun rose", "a rod is used to catch pink salmon",
    "the source of the huge river is the clear spring", "kick the ball straight and follow through",
    "help the woman get back to her feet", "a pot of tea helps to pass the evening",
    "smoky fires lack flame and heat", "the soft cushion broke the man's fall",
    "the salt breeze came across from the sea", "the girl at the booth sold fifty bonds",
    "the small pup gnawed a hole in the sock", "the fish twisted and turned on the bent hook",
    "press the pants and sew a button on the vest", "the swan dive was far short of perfect",
    "the beauty of the view stunned the young boy", "two blue fish swam in the tank",
    "her purse was full of useless trash", "the colt reared and threw the tall rider",
    "it snowed rained and hailed the same morning", "read verse out loud for pleasure",
]
VOICES = [("en-us", 160), ("en-gb", 150), ("en-us+m3", 175), ("en-gb-scotland", 140), ("en-us+f2", 165),
          ("en-029", 155)]

__all__ = ["BenchAudio", "bench_audio"]


@dataclass(frozen=True)
class BenchAudio:
    samples: np.ndarray  # 16 kHz float32
    text: str  # the reference, lowercase words
    pieces: int
    source: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _espeak(text: str, voice: str, rate: int, folder: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    wav = folder / "s.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(wav), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    x, sr = sf.read(str(wav), dtype="float32")
    return soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)


def _synthetic_pieces():
    """(samples, text) forever: the bundled sample first, then espeak-ng sentences."""
    yield load_audio(ASSETS / "sample.flac"), (ASSETS / "sample.txt").read_text()
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (needed for the benchmark audio; or pass --data/--subset)")
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        while True:
            voice, rate = VOICES[i % len(VOICES)]
            text = SENTENCES[i % len(SENTENCES)]
            yield _espeak(text, voice, rate + 10 * (i // len(SENTENCES)), Path(tmp)), text
            i += 1


def _corpus_pieces(data: Path, subset: str):
    from data.librispeech import read_subset

    utts, _ = read_subset(data, subset)
    if not utts:
        raise RuntimeError(f"no usable utterances in {subset}")
    while True:
        for u in sorted(utts, key=lambda u: u.id):
            yield load_audio(u.path), u.text


def bench_audio(seconds: float = 90.0, data: str | Path | None = None, subset: str | None = None) -> BenchAudio:
    pieces = _corpus_pieces(Path(data), subset) if data else _synthetic_pieces()
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    parts, texts, total = [], [], 0
    for samples, text in pieces:
        parts += [samples, gap]
        texts.append(" ".join(text.lower().split()))
        total += len(samples) + len(gap)
        if total >= seconds * SAMPLE_RATE:
            break
    pieces.close()  # removes the synthesiser's temporary folder
    source = f"{subset} of {data}" if data else "bundled sample + espeak-ng Harvard sentences"
    return BenchAudio(np.concatenate(parts), " ".join(texts), len(texts), source)
