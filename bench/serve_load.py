"""`asr serve` under load: N concurrent WebSocket clients, each streaming a different file at real-time pace
(100 ms frames), against a server started as its own process on loopback.

Reported per N: the server's per-chunk latency p50/p95/p99 (a frame's arrival to its events sent: queue wait and
compute, from /health), its real-time factor (compute / audio), its peak RSS, and whether every client's finals
equal `asr transcribe` of its file. With --soak MINUTES, N clients stream files back to back for that long and
the server's RSS is sampled every 10 s (a flat line: no leak).

    python bench/serve_load.py --data corpora/all --subset lj002 --clients 1,8,32 --seconds 60
    python bench/serve_load.py --data corpora/all --subset lj002 --clients 8 --soak 30 --json runs/soak.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.runtime import load_for_inference
from data.librispeech import read_subset
from stream.transcribe import transcribe_file

FRAME = SAMPLE_RATE // 10  # 100 ms


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def _client(url: str, pcm: np.ndarray, realtime: bool) -> str:
    """Stream one file at real-time pace; its finals joined."""
    finals = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "/ws", max_msg_size=0) as ws:
            async def read():
                async for msg in ws:
                    e = json.loads(msg.data)
                    if e["type"] == "final" and e["text"]:
                        finals.append(e["text"])
            reader = asyncio.create_task(read())
            start = time.perf_counter()
            for k, i in enumerate(range(0, len(pcm), FRAME)):
                await ws.send_bytes(pcm[i: i + FRAME].tobytes())
                if realtime:
                    await asyncio.sleep(max(0.0, start + (k + 1) * 0.1 - time.perf_counter()))
            await ws.send_str('{"eof": 1}')
            await reader
    return " ".join(finals)


async def _health(url: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/health") as r:
            return await r.json()


def _start_server(port: int, max_sessions: int, model: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "asr", "serve", "--port", str(port), "--max-sessions", str(max_sessions)]
    if model:
        cmd += ["--model", model]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start: {proc.stderr.read()[-500:]}")


async def _round(url: str, clips, n: int) -> dict:
    t0 = time.perf_counter()
    picks = [clips[i % len(clips)] for i in range(n)]
    got = await asyncio.gather(*(_client(url, pcm, True) for pcm, _ in picks))
    exact = sum(g == ref for g, (_, ref) in zip(got, picks))
    return {"clients": n, "wall_s": round(time.perf_counter() - t0, 1), "exact": exact}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model")
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--seconds", type=float, default=30.0, help="audio per client (files joined with 0.5 s gaps)")
    p.add_argument("--soak", type=float, help="minutes of back-to-back streaming with the first --clients value")
    p.add_argument("--json")
    args = p.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    utts, _ = read_subset(args.data, args.subset)
    model = load_for_inference(args.model)
    # one clip per client: consecutive utterances joined to --seconds, so each client streams different audio
    clips, cur, gap = [], [], np.zeros(SAMPLE_RATE // 2, np.float32)
    for u in utts:
        cur += [load_audio(u.path), gap]
        if sum(len(c) for c in cur) >= args.seconds * SAMPLE_RATE:
            clips.append(np.concatenate(cur))
            cur = []
        if len(clips) >= max(counts):
            break
    import soundfile as sf

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"serve_load_{os.getpid()}.wav"
    pcms = []
    for x in clips:  # the clients send int16: the reference is asr transcribe of the same int16 samples
        pcm = np.round(np.clip(x, -1, 1) * 32767).astype("<i2")
        sf.write(tmp, pcm, SAMPLE_RATE, subtype="PCM_16")
        pcms.append((pcm, transcribe_file(model, tmp).text))
    tmp.unlink(missing_ok=True)
    print(f"{len(pcms)} clips of {args.seconds:.0f} s from {args.subset}; the server on one process, loopback")
    results = {"rounds": [], "soak": None, "cpu": os.cpu_count()}
    for n in ([counts[0]] if args.soak else counts):
        port = _free_port()
        proc = _start_server(port, max(n, 8), args.model)
        url = f"http://127.0.0.1:{port}"
        try:
            if args.soak:
                results["soak"] = asyncio.run(_soak(url, proc.pid, pcms, n, args.soak))
            else:
                r = asyncio.run(_round(url, pcms, n))
                h = asyncio.run(_health(url))
                r.update({"latency_ms": h["chunk_latency_ms"], "rtf": h["rtf"], "chunks": h["chunks"],
                          "rss_mb": round(_rss_mb(proc.pid)[1], 1)})
                results["rounds"].append(r)
                print(f"{n:3d} clients: chunk latency p50 {r['latency_ms']['p50']:.2f} ms, p95 "
                      f"{r['latency_ms']['p95']:.2f}, p99 {r['latency_ms']['p99']:.2f}; RTF {r['rtf']:.4f}; peak RSS "
                      f"{r['rss_mb']:.0f} MB; finals equal to asr transcribe: {r['exact']}/{n}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


async def _soak(url: str, pid: int, pcms, n: int, minutes: float) -> dict:
    end = time.time() + minutes * 60
    samples, streams, exact = [], 0, 0

    async def worker(k: int) -> None:
        nonlocal streams, exact
        i = k
        while time.time() < end:
            pcm, ref = pcms[i % len(pcms)]
            same = await _client(url, pcm, True) == ref  # not `exact += await ...`: that reads exact before
            exact += same                                 # the await, and loses the other clients' counts
            streams += 1
            i += n

    async def sampler() -> None:
        t0 = time.time()
        while time.time() < end:
            samples.append((round(time.time() - t0), round(_rss_mb(pid)[0], 1)))
            await asyncio.sleep(10)

    await asyncio.gather(sampler(), *(worker(k) for k in range(n)))
    h = await _health(url)
    rss = [r for _, r in samples]
    out = {"clients": n, "minutes": minutes, "streams": streams, "exact": exact, "rss_mb_first": rss[0],
           "rss_mb_after_1_min": rss[min(6, len(rss) - 1)], "rss_mb_last": rss[-1], "rss_mb_max": max(rss),
           "latency_ms": h["chunk_latency_ms"], "rtf": h["rtf"], "rss_samples": samples}
    print(f"soak, {n} clients, {minutes:g} min: {streams} streams, {exact} with finals equal to asr transcribe; "
          f"RSS {rss[0]:.0f} MB at start, {out['rss_mb_after_1_min']:.0f} after 1 min, {rss[-1]:.0f} at the end "
          f"(max {max(rss):.0f}); chunk latency p50 {h['chunk_latency_ms']['p50']:.2f} ms, p99 "
          f"{h['chunk_latency_ms']['p99']:.2f}; RTF {h['rtf']:.4f}")
    return out


if __name__ == "__main__":
    main()
