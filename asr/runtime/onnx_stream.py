"""Streaming an exported ONNX model with numpy and ONNX Runtime only: no torch in the process.

What another runtime has to do with an `asr export --format onnx` file, in ~100 lines: log-mel
frames with the window and filterbank stored in the file's metadata (samples carried between
chunks, each frame computed once), the exported step with its explicit state (`pending`, `h`[, `c`]),
and greedy CTC decoding. Without torch the process needs a fraction of the memory (see
docs/performance.md).

    python -m asr.runtime.onnx_stream model.onnx talk.wav [--chunk-ms 100]
"""
from __future__ import annotations

import argparse
import base64
import json
import resource
import sys
import time

import numpy as np

from asr.audio import HOP_LENGTH, N_FFT, SAMPLE_RATE, iter_audio
from asr.vocab import BLANK, VOCAB

LOG_FLOOR = 1e-10  # exports made before the floor was written into them

__all__ = ["OnnxStreamer", "decode_array"]


def decode_array(text: str, shape: list[int]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(shape)


class OnnxStreamer:
    """One stream over an exported model: `accept(samples)` -> log-probs of the finished frames."""

    def __init__(self, path: str, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = threads, 1, 3
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map["asr"])
        c = self.config = meta["config"]
        self.window = decode_array(meta["logmel"]["window"], [N_FFT])
        self.mel_fb = decode_array(meta["logmel"]["mel_fb"], meta["logmel"]["mel_fb_shape"])
        self.log_floor = np.float32(meta["logmel"].get("log_floor", LOG_FLOOR))  # the exporting version's
        self.lstm = c["cell"] == "lstm"
        self.no_tail = np.zeros((1, 0, c["hidden"]), np.float32)
        self.reset()

    def reset(self) -> None:
        c = self.config
        self.samples = np.zeros(0, np.float32)  # not yet forming a feature frame
        self.frames = np.zeros((0, c["n_mels"]), np.float32)  # not yet a whole model frame (or too few to run)
        self.pending = np.zeros((1, 0, c["hidden"]), np.float32)
        zeros = np.zeros((c["layers"], 1, c["hidden"]), np.float32)
        self.state = [zeros, zeros] if self.lstm else [zeros]
        self.prev, self.text = BLANK, ""

    def logmel(self, samples: np.ndarray) -> np.ndarray:
        """N samples -> F x n_mels log-mel frames (center=False), as asr.features.LogMel."""
        n = 0 if len(samples) < N_FFT else 1 + (len(samples) - N_FFT) // HOP_LENGTH
        if n == 0:
            return np.zeros((0, self.mel_fb.shape[1]), np.float32)
        idx = np.arange(N_FFT)[None, :] + HOP_LENGTH * np.arange(n)[:, None]
        spec = np.fft.rfft(samples[idx] * self.window, axis=-1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        return np.log(np.maximum(power @ self.mel_fb, self.log_floor))

    def accept(self, samples: np.ndarray, final: bool = False) -> np.ndarray:
        c = self.config
        buf = np.concatenate([self.samples, samples.astype(np.float32)])
        feats = self.logmel(buf)
        self.samples = buf[len(feats) * HOP_LENGTH:]
        self.frames = np.concatenate([self.frames, feats])
        m = len(self.frames) // c["stride"] * c["stride"]
        tail = np.zeros((1, c["lookahead"] if final else 0, c["hidden"]), np.float32)
        if self.pending.shape[1] + m // c["stride"] + tail.shape[1] - c["lookahead"] <= 0:
            return np.zeros((0, c["vocab_size"]), np.float32)
        names = ["features", "pending", "tail", "h", "c"]
        feed = dict(zip(names, [self.frames[None, :m], self.pending, tail, *self.state]))
        log_probs, self.pending, *self.state = self.session.run(None, feed)
        self.frames = self.frames[m:]
        for tok in log_probs[0].argmax(-1).tolist():  # greedy CTC
            if tok != self.prev and tok != BLANK:
                self.text += VOCAB[tok]
            self.prev = tok
        return log_probs[0]

    def finish(self) -> np.ndarray:
        return self.accept(np.zeros(0, np.float32), final=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("file")
    p.add_argument("--chunk-ms", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    streamer = OnnxStreamer(args.model, args.threads)
    chunk, seconds, compute = SAMPLE_RATE * args.chunk_ms // 1000, 0.0, 0.0
    for block in iter_audio(args.file, block_seconds=10.0):
        for i in range(0, len(block), chunk):
            t0 = time.perf_counter()
            streamer.accept(block[i: i + chunk])
            compute += time.perf_counter() - t0
        seconds += len(block) / SAMPLE_RATE
    streamer.finish()
    print(" ".join(streamer.text.split()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.1f} s of audio, RTF {compute / max(seconds, 1e-9):.4f}, peak RSS {peak:.0f} MB",
          file=sys.stderr)


if __name__ == "__main__":
    main()
