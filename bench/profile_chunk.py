"""Where a streaming chunk's time goes: the stages of `stream.step` timed separately, one thread.

Replays the benchmark audio in chunks and times, per chunk: input conversion (to_float_pcm), log-mel
features, front end (normalise, stack, linear, GELU), lookahead, recurrent stack + head, the rest of
encode_chunk (concatenation, state), and greedy decoding with endpointing, as `asr.runtime.incremental`
and `asr.runtime.kernel` compute them (a chunk that completes no model frame only buffers its samples). Prints the mean
microseconds per chunk of each stage and the total as a real-time factor.

--lite profiles the torch-free int8 runtime (`asr.runtime.lite`, what the commands run by default) instead:
input conversion, log-mel, the compiled int8 step (front end to log-probs), the rest of its
encode_chunk (framing, state) and decoding.

    python bench/profile_chunk.py --chunk-ms 40 --seconds 30 [--model PATH] [--int8 | --lite]
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch

from asr.audio import HOP_LENGTH, N_FFT, SAMPLE_RATE
from asr.runtime.backends import load_any_model
from asr.cli.benchmarks.audio import bench_audio
from asr.config import DEFAULT_MODEL
from asr.features import num_frames
from asr.runtime.incremental import EncoderState, initial_state
from asr.runtime.kernel import kernel_for
from stream.pcm import to_float_pcm
from stream.recognizer import StreamConfig, StreamState, _decode


def profile(model, samples, chunk_ms: int) -> dict[str, float]:
    c, chunk = model.config, SAMPLE_RATE * chunk_ms // 1000
    kernel = kernel_for(model)
    t = defaultdict(float)
    st = StreamState(encoder=initial_state(model))
    enc = st.encoder
    clock = time.perf_counter
    with torch.inference_mode():
        for i in range(0, len(samples), chunk):
            t0 = clock()
            pcm, _, _ = to_float_pcm(samples[i: i + chunk])
            t1 = clock()
            buf = np.concatenate([enc.samples.numpy(), pcm])
            n = num_frames(len(buf))
            frames = enc.frames.numpy()
            if enc.pending.shape[1] + (frames.shape[0] + n) // c.stride <= c.lookahead:  # no frame due yet
                enc = replace(enc, samples=torch.from_numpy(buf), samples_seen=enc.samples_seen + len(pcm))
                t["buffer only"] += clock() - t0
                continue
            if n:
                feats = kernel.logmel(buf[: (n - 1) * HOP_LENGTH + N_FFT])
                buf = buf[n * HOP_LENGTH:]
                frames = np.concatenate([frames, feats])
            t2 = clock()
            m = frames.shape[0] // c.stride * c.stride
            if kernel.int8 is not None:  # int8 GRU/LSTM: front end to log-probs in one compiled call
                log_probs, pending, rnn = kernel.int8.run(frames[:m], enc.pending, enc.rnn, False)
                t5 = clock()
                enc = EncoderState(samples=torch.from_numpy(buf.copy()), frames=torch.from_numpy(frames[m:].copy()),
                                   pending=pending, rnn=rnn, samples_seen=enc.samples_seen + len(pcm),
                                   frames_out=enc.frames_out + log_probs.shape[0])
                t6 = clock()
                st, _, _ = _decode(st, log_probs, StreamConfig(), c.frame_seconds)
                t7 = clock()
                for k, a, b in [("pcm", t0, t1), ("logmel", t1, t2), ("int8 kernel", t2, t5), ("state", t5, t6),
                                ("decode", t6, t7)]:
                    t[k] += b - a
                continue
            z = torch.cat([enc.pending, kernel.embed(frames[:m])], dim=1) if m else enc.pending
            ready = max(0, z.shape[1] - c.lookahead)
            t3 = clock()
            rnn, log_probs = enc.rnn, z.new_zeros(0, c.vocab_size)
            if ready:
                y = kernel.look(z[:, : ready + c.lookahead])
                t4 = clock()
                log_probs, rnn = kernel.recur(y, rnn)
            else:
                t4 = clock()
            t5 = clock()
            enc = EncoderState(samples=torch.from_numpy(buf.copy()), frames=torch.from_numpy(frames[m:].copy()),
                               pending=z[:, ready:].clone(), rnn=rnn, samples_seen=enc.samples_seen + len(pcm),
                               frames_out=enc.frames_out + ready)
            t6 = clock()
            st, _, _ = _decode(st, log_probs, StreamConfig(), c.frame_seconds)
            t7 = clock()
            for k, a, b in [("pcm", t0, t1), ("logmel", t1, t2), ("frontend", t2, t3), ("lookahead", t3, t4),
                            ("rnn+head", t4, t5), ("state", t5, t6), ("decode", t6, t7)]:
                t[k] += b - a
    return t


def profile_lite(model, samples, chunk_ms: int) -> dict[str, float]:
    """`profile` for an asr.runtime.lite model: its kernel's log-mel and step timed inside encode_chunk."""
    chunk, clock, t = SAMPLE_RATE * chunk_ms // 1000, time.perf_counter, defaultdict(float)
    kernel, inner = model.kernel, {"logmel": 0.0, "int8 kernel": 0.0}

    def timed(name, fn):
        def call(*args):
            t0 = clock()
            try:
                return fn(*args)
            finally:
                inner[name] += clock() - t0
        return call

    kernel.logmel, kernel.step = timed("logmel", kernel.logmel), timed("int8 kernel", kernel.step)
    try:
        st = StreamState(encoder=model.initial_state())
        for i in range(0, len(samples), chunk):
            t0 = clock()
            pcm, _, _ = to_float_pcm(samples[i: i + chunk])
            t1 = clock()
            encoder, log_probs = model.encode_chunk(st.encoder, pcm)
            t2 = clock()
            st, _, _ = _decode(replace(st, encoder=encoder), log_probs, StreamConfig(), model.config.frame_seconds)
            t3 = clock()
            t["pcm"] += t1 - t0
            t["framing+state"] += t2 - t1
            t["decode"] += t3 - t2
    finally:
        del kernel.logmel, kernel.step  # the class's methods again
    t["framing+state"] -= sum(inner.values())
    return {**inner, **t}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model")
    p.add_argument("--chunk-ms", type=int, default=40)
    p.add_argument("--seconds", type=float, default=30.0)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--int8", action="store_true", help="quantize the model first (asr.runtime.quantize)")
    how.add_argument("--lite", action="store_true", help="the torch-free int8 runtime (asr.runtime.lite)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.lite:
        from asr.runtime.lite import load_lite

        model, run = load_lite(args.model or DEFAULT_MODEL), profile_lite
    else:
        model, run = load_any_model(args.model, threads=1), profile
    if args.int8:
        from asr.runtime.quantize import quantize_model

        model = quantize_model(model)
    audio = bench_audio(args.seconds)
    run(model, audio.samples[: SAMPLE_RATE * 3], args.chunk_ms)  # warm-up
    t = run(model, audio.samples, args.chunk_ms)
    chunks = -(-len(audio.samples) // (SAMPLE_RATE * args.chunk_ms // 1000))
    for k, v in t.items():
        print(f"{k:14s} {1e6 * v / chunks:8.1f} us/chunk  {100 * v / sum(t.values()):5.1f} %")
    print(f"{'total':14s} {1e6 * sum(t.values()) / chunks:8.1f} us/chunk  RTF {sum(t.values()) / audio.seconds:.4f} "
          f"({args.chunk_ms} ms chunks, {audio.seconds:.0f} s)")


if __name__ == "__main__":
    main()
