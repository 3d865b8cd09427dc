"""The README's performance table from `asr bench --json` results (one or more files).

    python bench/markdown_table.py runs/bench.json [runs/bench-exports.json]

One row per model and one for PocketSphinx: streaming RTF per chunk size (median; in parentheses by the
measuring thread's CPU time, which does not count time other processes took the core), per-chunk compute
p50/p95/p99 at 40 ms, offline RTF on 1 and all threads, load time, file size, peak RSS of an
`asr transcribe` process, and WER on the benchmark audio.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _m(s: dict | None, digits: int = 3) -> str:
    return "–" if s is None else f"{s['median']:.{digits}f}"


def rows(results: dict) -> list[str]:
    out = []
    for m in results["models"]:
        stream = {s["chunk_ms"]: s for s in m["streaming"]}
        at40 = stream.get(40)
        offline = m["offline"]
        many = max(offline, key=int)
        proc = m.get("transcribe_process", {})
        name = f"{Path(m['path']).name} ({m['runtime']}, {m['precision']})"
        out.append("| " + " | ".join([
            name, *[f"{_m(stream[c]['rtf'], 4)} ({_m(stream[c]['cpu_rtf'], 4)})" if c in stream else "–"
                    for c in (20, 40, 100, 200)],
            f"{_m(at40['p50_ms'], 2)} / {_m(at40['p95_ms'], 2)} / {_m(at40['p99_ms'], 2)}" if at40 else "–",
            _m(offline["1"]["rtf"], 4), _m(offline[many]["rtf"], 4) if many != "1" else "–",
            _m(m["load_s"], 2), f"{m['size_mb']:.1f}", f"{proc['peak_rss_mb']:.0f}" if "peak_rss_mb" in proc else "–",
            f"{m['streaming'][0]['wer']:.1f}" if m["streaming"] else "–"]) + " |")
    ps = results.get("pocketsphinx")
    if ps and "rtf" in ps:
        out.append("| " + " | ".join([
            ps["name"], "", "", f"{_m(ps['rtf'], 4)} ({_m(ps['cpu_rtf'], 4)}), {ps['chunk_ms']} ms chunks", "",
            f"{_m(ps['p50_ms'], 2)} / {_m(ps['p95_ms'], 2)} / {_m(ps['p99_ms'], 2)} (per {ps['chunk_ms']} ms)",
            "", "", _m(ps["load_s"], 2), "", "", f"{ps['wer']:.1f}"]) + " |")
    return out


def main() -> None:
    files = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    if not files:
        raise SystemExit(__doc__)
    print("| model | RTF 20 ms | RTF 40 ms | RTF 100 ms | RTF 200 ms | chunk ms p50 / p95 / p99 (40 ms) | "
          "offline RTF 1 thread | offline RTF all threads | load s | MB | peak RSS MB | WER % |")
    print("|---" * 12 + "|")
    for r in files:
        for line in rows(r):
            print(line)
    a = files[0]["audio"]
    print(f"\nAudio: {a['seconds']:.0f} s ({a['source']}); medians of {files[0]['runs']} runs; {files[0]['cpu']}.")


if __name__ == "__main__":
    main()
