"""Pack a LibriSpeech-layout subset into Ogg/Opus at a low bit rate, layout and transcripts kept,
to move a corpus where transfer size is limited (e.g. to a rented GPU machine). The reader
(data.librispeech) takes .opus/.ogg files like .flac.

    python -m data.pack --data corpora/synth --subset synth-train --out corpora/packed [--level 0.97]

--level is libsndfile's Opus compression level (0: largest .. 1: smallest); 0.97 gave about
14 kbps on 16 kHz speech here. Opus is lossy: measure what it costs (`asr eval` on a packed dev set).
"""
from __future__ import annotations

import argparse
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from .librispeech import subset_path

__all__ = ["pack_subset"]


def _pack_one(job: tuple[Path, Path, float]) -> int:
    src, dst, level = job
    audio, sr = sf.read(src, dtype="float32")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(dst, "w", samplerate=sr, channels=1, format="OGG", subtype="OPUS",
                      compression_level=level) as f:
        f.write(audio)
    return dst.stat().st_size


def pack_subset(data: Path, subset: str, out: Path, level: float = 0.97, workers: int = 2,
                limit_hours: float | None = None) -> dict:
    """Opus copy of data/LibriSpeech/subset in out/LibriSpeech/subset (at most `limit_hours`, whole chapters)."""
    src, dst = subset_path(data, subset), subset_path(out, subset)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such subset")
    jobs, seconds = [], 0.0
    for chapter in sorted(p for p in src.glob("*/*") if p.is_dir()):
        if limit_hours is not None and seconds >= limit_hours * 3600:
            break
        for trans in chapter.glob("*.trans.txt"):
            (dst / chapter.relative_to(src)).mkdir(parents=True, exist_ok=True)
            shutil.copy(trans, dst / trans.relative_to(src))
        for f in sorted(chapter.glob("*.flac")):
            seconds += sf.info(f).duration
            jobs.append((f, (dst / f.relative_to(src)).with_suffix(".opus"), level))
    with ProcessPoolExecutor(workers) as pool:
        sizes = list(tqdm(pool.map(_pack_one, jobs, chunksize=32), total=len(jobs), desc=f"pack {subset}"))
    return {"files": len(jobs), "hours": seconds / 3600, "bytes": sum(sizes),
            "kbps": sum(sizes) * 8 / max(seconds, 1e-9) / 1000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--level", type=float, default=0.97)
    p.add_argument("--hours", type=float, help="pack at most this many hours (whole chapters, in order)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    s = pack_subset(Path(args.data), args.subset, Path(args.out), args.level, args.workers, args.hours)
    print(f"{s['files']} files, {s['hours']:.2f} h, {s['bytes'] / 2**20:.1f} MiB, {s['kbps']:.1f} kbps")


if __name__ == "__main__":
    main()
