"""Peak memory and time of `asr transcribe` on long files: is memory bounded and time linear?

Writes FLAC files of the given lengths (the `asr bench` audio repeated, written block by block so
this script stays small too), runs `asr transcribe --threads 1` on each in a separate process and
reports its wall time, time per audio hour, and two peaks: the process's ru_maxrss (what
`/usr/bin/time` shows) and the peak while transcribing (VmHWM read just before exit). The `asr`
command exits hard after flushing (asr.cli.entry), as the child here does; with
ASR_BENCH_SLOW_EXIT=1 it exits normally, and libtorch's teardown then touches about 100 MB more.

    python bench/long_transcribe.py --minutes 10,60 --json runs/long_transcribe.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.audio import SAMPLE_RATE
from asr.cli.benchmarks.audio import bench_audio

# runs `asr transcribe` in-process and prints the peak RSS before the interpreter tears down
CHILD = """
import os, sys
from asr.cli import QUICK_EXIT, main
status = main(sys.argv[1:])
sys.stdout.flush()
hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
print(f'VmHWM_kB {hwm}', file=sys.stderr, flush=True)
if sys.argv[1] in QUICK_EXIT and not os.environ.get('ASR_BENCH_SLOW_EXIT'):
    os._exit(status)  # as the `asr` command does (asr.cli.entry)
sys.exit(status)
"""


def write_long_file(path: Path, minutes: float, piece: np.ndarray) -> None:
    total = int(minutes * 60 * SAMPLE_RATE)
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, subtype="PCM_16") as f:
        written = 0
        while written < total:
            block = piece[: total - written]
            f.write(block)
            written += len(block)


def transcribe_process(path: Path, model: str | None) -> dict:
    cmd = [sys.executable, "-c", CHILD, "transcribe", str(path), "--threads", "1", "--format", "json"]
    if model:
        cmd += ["--model", model]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"asr transcribe failed: {err.strip()}")
    hwm = int(err.split("VmHWM_kB")[1].split()[0]) / 1024
    result = json.loads(out)
    return {"audio_minutes": round(result["duration"] / 60, 2), "wall_s": round(wall, 1),
            "seconds_per_audio_hour": round(wall / (result["duration"] / 3600), 1),
            "peak_rss_mb_process": round(usage.ru_maxrss / 1024, 1), "peak_rss_mb_before_exit": round(hwm, 1),
            "words": len(result["text"].split())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", default="10,60", help="file lengths in minutes (default 10,60)")
    p.add_argument("--model", help="default: the bundled model")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    piece = bench_audio(120.0).samples
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in [float(m) for m in args.minutes.split(",")]:
            path = Path(tmp) / f"long{minutes:g}.flac"
            write_long_file(path, minutes, piece)
            r = transcribe_process(path, args.model)
            path.unlink()
            results.append(r)
            print(f"{r['audio_minutes']:.1f} min: wall {r['wall_s']:.1f} s ({r['seconds_per_audio_hour']:.0f} s per "
                  f"audio hour), peak RSS {r['peak_rss_mb_before_exit']:.0f} MB while transcribing, "
                  f"{r['peak_rss_mb_process']:.0f} MB for the whole process; {r['words']} words", flush=True)
    if len(results) >= 2:  # time linear in duration: the marginal cost per audio hour, start-up excluded
        a, b = results[0], results[-1]
        slope = (b["wall_s"] - a["wall_s"]) / ((b["audio_minutes"] - a["audio_minutes"]) / 60)
        print(f"marginal time {slope:.0f} s per audio hour between {a['audio_minutes']:.1f} and "
              f"{b['audio_minutes']:.1f} min (start-up {a['wall_s'] - slope * a['audio_minutes'] / 60:.1f} s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
