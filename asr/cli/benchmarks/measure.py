"""`asr bench`: speed and memory of our models side by side with PocketSphinx, on the same audio.

For each model: load time; streaming real-time factor and per-chunk compute p50/p95/p99 through
the streaming recognizer (`stream.step`, decoding and endpointing included) at several chunk
sizes on one thread; offline (`asr transcribe`'s path) RTF on one and on all threads; the peak RSS
of an `asr transcribe` process on the audio; WER on the audio. Then the same audio through
PocketSphinx's streaming decoder (`Decoder.process_raw` in chunks). Every timing is the median of
`runs` runs with min and max, by wall-clock time and by CPU time of the measuring thread (which
does not count time taken by other processes on a shared machine); the results are a JSON-ready dict.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from asr.audio import SAMPLE_RATE
from .audio import BenchAudio, bench_audio

__all__ = ["BenchConfig", "run_bench", "format_report", "spread", "process_peak"]


@dataclass(frozen=True)
class BenchConfig:
    models: tuple[str | None, ...] = (None,)  # None: the bundled model
    precisions: tuple[str, ...] = ("int8",)  # each model at each (asr.runtime); exports run as exported
    chunks_ms: tuple[int, ...] = (20, 40, 100, 200)
    runs: int = 3
    seconds: float = 90.0  # audio length
    data: str | None = None  # LibriSpeech-layout corpus instead of the synthetic audio
    subset: str | None = None
    pocketsphinx: bool = True
    peers_chunk_ms: int = 100  # chunk size for PocketSphinx fed as one utterance
    pocketsphinx_vad: bool = True  # split utterances with its VAD endpointer (its live set-up, and its fastest)
    all_threads: int = os.cpu_count() or 1
    rss: bool = True  # measure the peak RSS of an `asr transcribe` process


def spread(values) -> dict:
    v = np.asarray(list(values), dtype=float)
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def _wer(ref: str, hyp: str) -> float:
    import jiwer

    return round(100 * jiwer.wer(ref, hyp), 2) if ref else 0.0


class _Runs:
    """Per-run figures of chunked passes, by wall-clock time and by this thread's CPU time (the CPU
    figures do not count time when other processes had the core), summarised as spreads."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, wall: list[float], cpu: list[float], seconds: float) -> None:
        for prefix, times in (("", wall), ("cpu_", cpu)):
            ms = np.asarray(times) * 1000
            self.values.setdefault(f"{prefix}rtf", []).append(ms.sum() / 1000 / seconds)
            for q in (50, 95, 99):
                self.values.setdefault(f"{prefix}p{q}_ms", []).append(float(np.percentile(ms, q)))

    def summary(self) -> dict:
        return {k: spread(v) for k, v in self.values.items()}


def bench_stream(model, audio: BenchAudio, chunk_ms: int, runs: int) -> dict:
    """Streaming through the recognizer on the current thread setting: RTF and per-chunk times."""
    from stream.recognizer import finish, initial_stream_state, step

    chunk = SAMPLE_RATE * chunk_ms // 1000
    pieces = [audio.samples[i: i + chunk] for i in range(0, len(audio.samples), chunk)]
    stats, text = _Runs(), ""
    for _ in range(runs):
        state, finals, wall, cpu = initial_stream_state(model), [], [], []
        for pcm in [*pieces, None]:
            t0, c0 = time.perf_counter(), time.thread_time()
            state, events = step(model, state, pcm) if pcm is not None else finish(model, state)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            finals += [e["text"] for e in events if e["type"] == "final"]
        stats.add(wall, cpu, audio.seconds)
        text = " ".join(t for t in finals if t)
    return {"chunk_ms": chunk_ms, "chunks": len(pieces), **stats.summary(), "wer": _wer(audio.text, text)}


def bench_offline(model, wav: Path, seconds: float, runs: int) -> dict:
    from stream.transcribe import transcribe_file

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        transcribe_file(model, wav)
        times.append(time.perf_counter() - t0)
    return {"rtf": spread(np.array(times) / seconds)}


# A small launcher: a child forked from a big process (this one holds torch) would report the parent's
# size in ru_maxrss, which Linux carries across fork and exec; forked from the launcher it starts small.
_LAUNCHER = """import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(f"\\nmaxrss_kb {usage.ru_maxrss} status {os.waitstatus_to_exitcode(status)}", file=sys.stderr)
"""


def process_peak(cmd: list[str]) -> dict:
    """Peak RSS (MB, the command's own ru_maxrss) and wall time of a command run to completion."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _LAUNCHER, *cmd], stdout=subprocess.DEVNULL, stderr=err, check=False)
        wall = time.perf_counter() - t0
        err.seek(0)
        message = err.read().decode(errors="replace").strip()
    last = message.splitlines()[-1].split() if message else []
    if len(last) != 4 or last[0] != "maxrss_kb" or last[3] != "0":
        lines = [line for line in message.splitlines()[:-1] if line.strip()]
        return {"error": lines[-1] if lines else "failed"}
    return {"peak_rss_mb": round(int(last[1]) / 1024, 1), "wall_s": round(wall, 2)}


def peak_rss_transcribe(model_path: str | None, wav: Path, precision: str = "int8") -> dict:
    """A separate `asr transcribe --threads 1 --precision P` process on the audio."""
    return process_peak([sys.executable, "-m", "asr", "transcribe", str(wav), "--threads", "1",
                         "--precision", precision] + (["--model", str(model_path)] if model_path else []))


def peak_rss_onnx_streamer(model_path: str, wav: Path) -> dict:
    """A separate torch-free `python -m asr.runtime.onnx_stream` process (100 ms chunks, one thread)."""
    return process_peak([sys.executable, "-m", "asr.runtime.onnx_stream", str(model_path), str(wav)])


def _load(path: str | None, threads: int, precision: str):
    from asr.runtime import load_for_inference

    return load_for_inference(path, precision, threads=threads)


def _describe(model, path: str | None) -> dict:
    from asr.checkpoint import DEFAULT_MODEL

    file = Path(path) if path else DEFAULT_MODEL
    runtime = getattr(model, "runtime", "pytorch")
    quant = getattr(model, "quantization", None)
    return {"path": str(file), "runtime": runtime, "precision": "int8" if quant else "float32",
            "size_mb": round(file.stat().st_size / 2**20, 2), "config": asdict(model.config)}


def bench_model(path: str | None, audio: BenchAudio, wav: Path, cfg: BenchConfig,
                progress: Callable[[str], None], precision: str = "int8") -> dict:
    threads_before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        loads = []
        for _ in range(cfg.runs):
            t0 = time.perf_counter()
            model = _load(path, 1, precision)
            loads.append(time.perf_counter() - t0)
        out = {**_describe(model, path), "load_s": spread(loads), "streaming": []}
        for c in cfg.chunks_ms:
            progress(f"{out['path']}: streaming, {c} ms chunks")
            out["streaming"].append(bench_stream(model, audio, c, cfg.runs))
        progress(f"{out['path']}: offline")
        out["offline"] = {"1": bench_offline(model, wav, audio.seconds, cfg.runs)}
        if cfg.all_threads > 1:
            torch.set_num_threads(cfg.all_threads)
            many = _load(path, cfg.all_threads, precision) if getattr(model, "runtime", "") == "onnx" else model
            out["offline"][str(cfg.all_threads)] = bench_offline(many, wav, audio.seconds, cfg.runs)
        if cfg.rss:
            progress(f"{out['path']}: peak RSS of asr transcribe")
            out["transcribe_process"] = peak_rss_transcribe(path, wav, precision)
            if out["runtime"] == "onnx":
                out["onnx_stream_process"] = peak_rss_onnx_streamer(path, wav)
    finally:
        torch.set_num_threads(threads_before)
    return out


def _pocketsphinx_run(pocketsphinx, pcm: bytes, chunk_bytes: int, segment: bool):
    """One pass: (load seconds, per-chunk wall seconds, per-chunk CPU seconds, text). segment=True splits utterances with
    PocketSphinx's own VAD endpointer in 30 ms frames, as its live example does; otherwise the
    audio is one utterance fed in `chunk_bytes` chunks."""
    t0 = time.perf_counter()
    decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    endpointer = pocketsphinx.Endpointer(vad_mode=3) if segment else None
    load = time.perf_counter() - t0
    times, cpu, texts, open_utt = [], [], [], False

    def feed(speech: bytes | None, end: bool) -> None:
        nonlocal open_utt
        if speech is not None:
            if not open_utt:
                decoder.start_utt()
                open_utt = True
            decoder.process_raw(speech, False, False)
        if end and open_utt:
            decoder.end_utt()
            open_utt = False
            hyp = decoder.hyp()
            texts.append(hyp.hypstr if hyp is not None else "")

    step = endpointer.frame_bytes if endpointer else chunk_bytes
    last = b""
    for i in range(0, len(pcm), step):
        t1, c1 = time.perf_counter(), time.thread_time()
        chunk = pcm[i: i + step]
        if endpointer is None:
            feed(chunk, False)
        elif len(chunk) == step:
            speech = endpointer.process(chunk)
            feed(speech, not endpointer.in_speech)
        else:
            last = chunk
        times.append(time.perf_counter() - t1)
        cpu.append(time.thread_time() - c1)
    t1, c1 = time.perf_counter(), time.thread_time()
    feed(endpointer.end_stream(last) if endpointer else None, True)
    times.append(time.perf_counter() - t1)
    cpu.append(time.thread_time() - c1)
    return load, times, cpu, " ".join(t for t in texts if t)


def bench_pocketsphinx(audio: BenchAudio, chunk_ms: int, runs: int, segment: bool = False) -> dict:
    """PocketSphinx (its bundled en-us model, default settings) streaming the same audio."""
    try:
        import pocketsphinx
    except ImportError:
        return {"error": "pocketsphinx is not installed (pip install pocketsphinx)"}
    pcm = (np.clip(audio.samples, -1, 1) * 32767).astype("<i2").tobytes()
    loads, stats, text = [], _Runs(), ""
    for _ in range(runs):
        load, times, cpu, text = _pocketsphinx_run(pocketsphinx, pcm, 2 * SAMPLE_RATE * chunk_ms // 1000, segment)
        loads.append(load)
        stats.add(times, cpu, audio.seconds)
    from importlib.metadata import version

    return {"name": f"PocketSphinx {version('pocketsphinx')} (en-us)", "segmented": segment,
            "chunk_ms": 30 if segment else chunk_ms, "load_s": spread(loads), **stats.summary(),
            "wer": _wer(audio.text, text.lower())}


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda s: None) -> dict:
    import soundfile as sf

    t_start = time.perf_counter()
    progress("making the audio")
    audio = bench_audio(cfg.seconds, cfg.data, cfg.subset)
    results = {"audio": {"seconds": round(audio.seconds, 2), "pieces": audio.pieces, "source": audio.source},
               "runs": cfg.runs, "cpu": _cpu_name(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
               "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "bench.wav"
        sf.write(str(wav), audio.samples, SAMPLE_RATE, subtype="PCM_16")
        for path in cfg.models:
            for precision in cfg.precisions:
                results["models"].append(bench_model(path, audio, wav, cfg, progress, precision))
    if cfg.pocketsphinx:
        progress("PocketSphinx")
        ps = bench_pocketsphinx(audio, cfg.peers_chunk_ms, cfg.runs, cfg.pocketsphinx_vad)
        results["pocketsphinx"] = ps
        if "rtf" in ps:
            for m in results["models"]:
                for key, rtf in (("speedup_vs_pocketsphinx", "rtf"), ("cpu_speedup_vs_pocketsphinx", "cpu_rtf")):
                    m[key] = {str(s["chunk_ms"]): round(ps[rtf]["median"] / s[rtf]["median"], 1)
                              for s in m["streaming"]}
    results["wall_s"] = round(time.perf_counter() - t_start, 1)
    return results


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _fmt(s: dict, digits: int = 4) -> str:
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def format_report(r: dict) -> str:
    a = r["audio"]
    lines = [f"audio: {a['seconds']:.1f} s, {a['pieces']} pieces ({a['source']}); {r['cpu']}, {r['cpu_count']} cores",
             f"every figure: median [min-max] of {r['runs']} runs"]
    for m in r["models"]:
        lines += ["", f"{m['path']}: {m['runtime']} {m['precision']}, {m['size_mb']:.2f} MB, "
                      f"{m['config']['cell']} {m['config']['layers']}x{m['config']['hidden']}; "
                      f"load {_fmt(m['load_s'], 3)} s",
                  f"  {'streaming, 1 thread':<20}{'RTF':<26}{'CPU RTF':<26}{'p50 ms':<20}{'p95 ms':<20}"
                  f"{'p99 ms':<20}{'CPU p99 ms':<20}WER %"]
        for s in m["streaming"]:
            lines.append(f"  {str(s['chunk_ms']) + ' ms chunks':<20}{_fmt(s['rtf']):<26}{_fmt(s['cpu_rtf']):<26}"
                         f"{_fmt(s['p50_ms'], 2):<20}{_fmt(s['p95_ms'], 2):<20}{_fmt(s['p99_ms'], 2):<20}"
                         f"{_fmt(s['cpu_p99_ms'], 2):<20}{s['wer']:.2f}")
        for threads, o in m["offline"].items():
            lines.append(f"  offline (asr transcribe's path), {threads} thread{'s' if threads != '1' else ''}: "
                         f"RTF {_fmt(o['rtf'])}")
        for key, what in (("transcribe_process", "asr transcribe --threads 1"),
                          ("onnx_stream_process", "python -m asr.runtime.onnx_stream (no torch)")):
            proc = m.get(key)
            if proc:
                lines.append(f"  {what} process: peak RSS {proc['peak_rss_mb']:.0f} MB, wall {proc['wall_s']:.2f} s"
                             if "peak_rss_mb" in proc else f"  {what} process failed: {proc['error']}")
    ps = r.get("pocketsphinx")
    if ps:
        lines.append("")
        if "error" in ps:
            lines.append(f"PocketSphinx: {ps['error']}")
        else:
            how = "utterances split by its VAD endpointer" if ps["segmented"] else "one utterance"
            lines += [f"{ps['name']}: process_raw in {ps['chunk_ms']} ms chunks, {how}, 1 thread",
                      f"  RTF {_fmt(ps['rtf'])}, CPU RTF {_fmt(ps['cpu_rtf'])}, p50 {_fmt(ps['p50_ms'], 2)} ms, "
                      f"p95 {_fmt(ps['p95_ms'], 2)} ms, p99 {_fmt(ps['p99_ms'], 2)} ms, WER {ps['wer']:.2f} %, "
                      f"load {_fmt(ps['load_s'], 3)} s"]
            for m in r["models"]:
                for key, what in (("speedup_vs_pocketsphinx", "RTF"), ("cpu_speedup_vs_pocketsphinx", "CPU RTF")):
                    ratio = ", ".join(f"{c} ms: {x:.1f}x" for c, x in m.get(key, {}).items())
                    name = f"{m['path']} ({m['runtime']} {m['precision']})"
                    lines.append(f"speed-up of {name} over PocketSphinx ({what} ratio): {ratio}")
    lines.append(f"\nbenchmark wall time {r['wall_s']:.0f} s")
    return "\n".join(lines)
