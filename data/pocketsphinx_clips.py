"""Real human speech for checks: the LibriVox clips of Debian's `pocketsphinx-testdata`
(Sense and Sensibility, chapter 1; 5 clips, 25 s) or its spoken card names ("ten of clubs"; 5
short command-like clips) copied into a LibriSpeech-layout subset so that `asr eval` can score them:

    python -m data.pocketsphinx_clips --out corpora/real                 # then
    asr eval --data corpora/real --subset librivox
    python -m data.pocketsphinx_clips --out corpora/real --set cards     # subset "cards"
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import soundfile as sf

from asr.audio import load_audio

from .librispeech import subset_path

DATA = Path("/usr/share/pocketsphinx/test/data")
SOURCE = DATA / "librivox"
SPEAKER, CHAPTER = 9000, 1

__all__ = ["SOURCE", "make_subset"]


def make_subset(out: Path, subset: str = "librivox", source: Path = SOURCE) -> Path:
    """Write <out>/LibriSpeech/<subset>/9000/1/*.flac + trans.txt; returns the chapter folder."""
    trans = next((t for t in [source / "transcription", *sorted(source.glob("*.transcription"))] if t.is_file()),
                 source / "transcription")
    if not trans.is_file():
        raise FileNotFoundError(f"{trans} not found; install it with: sudo apt-get install pocketsphinx-testdata")
    chapter = subset_path(out, subset) / str(SPEAKER) / str(CHAPTER)
    chapter.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, line in enumerate(trans.read_text().splitlines()):
        m = re.match(r"<s>(.*)</s>\s*\((.+)\)", line.strip())
        if not m:
            continue
        text, name = m.group(1).strip().upper(), m.group(2)
        utt = f"{SPEAKER}-{CHAPTER}-{i:04d}"
        sf.write(chapter / f"{utt}.flac", load_audio(source / f"{name}.wav"), 16000)
        lines.append(f"{utt} {text}")
    (chapter / f"{SPEAKER}-{CHAPTER}.trans.txt").write_text("\n".join(lines) + "\n")
    return chapter


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="corpus root")
    p.add_argument("--set", choices=["librivox", "cards"], default="librivox", help="which clips (default librivox)")
    p.add_argument("--subset", help="subset name (default: the --set name)")
    args = p.parse_args()
    print(make_subset(Path(args.out), args.subset or args.set, DATA / args.set))


if __name__ == "__main__":
    main()
