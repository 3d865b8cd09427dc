"""Shared fixtures: speech made with espeak-ng on the fly (no network, deterministic), tiny models."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from asr.audio import SAMPLE_RATE
from asr.checkpoint import save_model
from asr.model import AcousticModel, ModelConfig

SENTENCES = [
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "SHE SELLS SEA SHELLS BY THE SEA SHORE",
    "A WATCHED POT NEVER BOILS",
    "ALL THAT GLITTERS IS NOT GOLD",
    "THE EARLY BIRD CATCHES THE WORM",
    "BETTER LATE THAN NEVER",
    "TIME AND TIDE WAIT FOR NO MAN",
    "FORTUNE FAVOURS THE BOLD",
]


def espeak(text: str, voice: str = "en-us", rate: int = 160) -> np.ndarray:
    """16 kHz mono float32 speech of `text`."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make setup installs it)")
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", f.name, text.lower()], check=True)
        x, sr = sf.read(f.name, dtype="float32")
    return soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)


def write_corpus(root: Path, subset: str, sentences: list[str], voices=("en-us", "en-gb")) -> Path:
    """A LibriSpeech-layout subset: one speaker per voice, one chapter each."""
    base = root / "LibriSpeech" / subset
    for spk, voice in enumerate(voices, start=100):
        chapter = base / str(spk) / "1"
        chapter.mkdir(parents=True)
        lines = []
        for i, text in enumerate(sentences):
            utt = f"{spk}-1-{i:04d}"
            sf.write(chapter / f"{utt}.flac", espeak(text, voice), SAMPLE_RATE)
            lines.append(f"{utt} {text}")
        (chapter / f"{spk}-1.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root, "tiny-train", SENTENCES)
    write_corpus(root, "tiny-dev", SENTENCES[:2], voices=("en-us",))
    return root


@pytest.fixture(scope="session")
def random_model_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random.pt"
    save_model(path, AcousticModel(ModelConfig(hidden=32, layers=1)).eval())
    return path
