"""`asr compare`'s measure stage: what each trained model costs and achieves on this machine's CPU, one thread.

Per run: dev WER/CER with greedy decoding and with beam search + the bundled LM,
WER by utterance-length bucket, streaming real-time factor and per-chunk compute time through the streaming
recognizer (asr.cli.benchmarks.measure.bench_stream: wall clock and this thread's CPU time), and the checkpoint size.
"""
from __future__ import annotations

import time

import torch

from asr.cli.benchmarks.measure import bench_stream
from asr.cli.benchmarks.audio import bench_audio
from asr.checkpoint import load_model
from data.librispeech import read_subset

from train.evaluate import error_rates, evaluate

__all__ = ["LENGTH_EDGES", "wer_by_length", "beam_lm_rates", "measure_run", "measure_stage"]

LENGTH_EDGES = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 40.0)  # seconds
STREAM_RUNS = 3  # the streaming figures are medians of this many passes


def wer_by_length(hypotheses, durations: dict[str, float], edges=LENGTH_EDGES) -> list[dict]:
    """hypotheses: (id, reference, hypothesis) -> WER/CER per duration bucket [lo, hi) that has utterances."""
    buckets = []
    for lo, hi in zip(edges, edges[1:]):
        inside = [(ref, hyp) for uid, ref, hyp in hypotheses if lo <= durations[uid] < hi]
        if inside:
            wer, cer = error_rates([r for r, _ in inside], [h for _, h in inside])
            buckets.append({"lo": lo, "hi": hi, "utterances": len(inside), "wer": round(wer, 2), "cer": round(cer, 2)})
    return buckets


def beam_lm_rates(model, utterances) -> tuple[float, float] | None:
    """(WER, CER) on `utterances` with the beam search and the bundled LM (asr.decode.beam, the defaults of
    `asr eval --decoder beam`)."""
    from asr.decode.beam import BeamSearch, DecoderConfig

    result = evaluate(model, utterances, progress=False, beam=BeamSearch(DecoderConfig("beam")))
    return result.wer, result.cer


def measure_run(path, utterances, audio, chunk_ms: int) -> dict:
    model = load_model(path)
    t0 = time.perf_counter()
    result = evaluate(model, utterances, progress=False)
    durations = {u.id: u.duration for u in utterances}
    beam = beam_lm_rates(model, utterances)
    stream = bench_stream(model, audio, chunk_ms, STREAM_RUNS)
    return {
        "dev_wer": round(result.wer, 2), "dev_cer": round(result.cer, 2), "utterances": result.utterances,
        "offline_rtf": round(result.rtf, 5),
        "beam_lm_wer": None if beam is None else round(beam[0], 2),
        "beam_lm_cer": None if beam is None else round(beam[1], 2),
        "by_length": wer_by_length(result.hypotheses, durations),
        "stream": {"chunk_ms": chunk_ms, "audio_s": round(audio.seconds, 1), "runs": STREAM_RUNS,
                   **{k: stream[k]["median"] for k in ("rtf", "cpu_rtf", "p50_ms", "p95_ms", "cpu_p50_ms",
                                                       "cpu_p95_ms")}},
        "checkpoint_mb": round(path.stat().st_size / 2**20, 3), "seconds": round(time.perf_counter() - t0, 1),
    }


def measure_stage(cfg, runs, say=print) -> dict[str, dict]:
    """Every trained run, on the CPU with one thread (the streaming set-up of `asr stream`)."""
    from .records import describe_device

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        utterances, _ = read_subset(cfg.data, cfg.dev_subset, progress=False)
        audio = bench_audio(cfg.stream_seconds, cfg.data, cfg.dev_subset)
        device = describe_device("cpu")
        out = {}
        for run in runs:
            m = measure_run(cfg.out / "runs" / run.name / "best.pt", utterances, audio, cfg.chunk_ms)
            out[run.name] = {"device": device, **m}
            s = m["stream"]
            say(f"{run.name}: dev WER {m['dev_wer']:.2f}% CER {m['dev_cer']:.2f}%; streaming {cfg.chunk_ms} ms chunks "
                f"RTF {s['rtf']:.4f}, p50 {s['p50_ms']:.2f} ms, p95 {s['p95_ms']:.2f} ms; {m['checkpoint_mb']:.2f} MB")
    finally:
        torch.set_num_threads(threads)
    return out
