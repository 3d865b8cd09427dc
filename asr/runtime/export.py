"""Export the per-chunk network with explicit state inputs and outputs (TorchScript, ONNX).

The exported graph is one streaming step, in the manner of OpenVINO's DeepSpeech with its
`previous_state_c/h` inputs, so any runtime can stream it:

    inputs   features  1 x 3n x 80   raw log-mel frames (asr.features.LogMel), n >= 0 stacked frames
             pending   1 x P x H     embedded frames still waiting for their lookahead (P = 0 at the start,
                                     then always `lookahead`)
             tail      1 x K x H     zeros: K = lookahead at the end of the stream (flush), else K = 0
             h         L x 1 x H     recurrent state (zeros at the start)
             c         L x 1 x H     LSTM cell state (LSTM only)
    outputs  log_probs 1 x R x 29    R = P + n + K - lookahead frames of character log-probabilities
             pending_out, h_out[, c_out]

A call must produce at least one frame (R >= 1); `asr.runtime.backends.ExportedModel` buffers feature frames
until it can. The configuration (ModelConfig, vocabulary, meta) is stored in the file: ONNX
`metadata_props["asr"]`, TorchScript extra file "asr.json".
"""
from __future__ import annotations

import base64
import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from asr.audio import HOP_LENGTH, N_FFT, SAMPLE_RATE
from asr.features import LOG_FLOOR
from asr.model import AcousticModel
from asr.vocab import VOCAB

FORMATS = ("torchscript", "onnx", "pt")
METADATA_KEY = "asr"
EXPORT_VERSION = 1

__all__ = ["FORMATS", "METADATA_KEY", "StreamStep", "export_model", "export_metadata", "example_inputs"]


class StreamStep(nn.Module):
    """One streaming step of an AcousticModel (shares its modules) with the state as inputs/outputs."""

    def __init__(self, model: AcousticModel) -> None:
        super().__init__()
        c = model.config
        self.stride, self.look_frames, self.n_mels, self.is_lstm = c.stride, c.lookahead, c.n_mels, c.cell == "lstm"
        self.feature_floor = c.feature_floor
        self.normalizer, self.frontend, self.lookahead, self.rnn, self.head = (
            model.normalizer, model.frontend, model.lookahead, model.rnn, model.head)

    def front(self, features: torch.Tensor, pending: torch.Tensor, tail: torch.Tensor):
        if self.feature_floor is not None:  # AcousticModel.embed's floor, inside the graph
            features = features.clamp_min(self.feature_floor)
        x = self.normalizer(features).reshape(1, -1, self.n_mels * self.stride)  # 1 x n x 80s
        x = F.gelu(self.frontend(x))  # 1 x n x H
        z = torch.cat([pending, x, tail], dim=1)  # 1 x (P + n + K) x H
        if self.lookahead is None:
            return z, z[:, :0]
        y = z[:, : -self.look_frames] + self.lookahead(z.transpose(1, 2)).transpose(1, 2)  # 1 x R x H
        return y, z[:, -self.look_frames:]

    def forward(self, features: torch.Tensor, pending: torch.Tensor, tail: torch.Tensor, h: torch.Tensor,
                c: torch.Tensor | None = None):
        y, pending_out = self.front(features, pending, tail)
        if self.is_lstm:
            y, (h_out, c_out) = self.rnn(y, (h, c))
            return F.log_softmax(self.head(y), dim=-1), pending_out, h_out, c_out
        y, h_out = self.rnn(y, h)
        return F.log_softmax(self.head(y), dim=-1), pending_out, h_out


def example_inputs(model: AcousticModel, stacked: int = 4, pending: int | None = None) -> tuple[torch.Tensor, ...]:
    c = model.config
    p = c.lookahead if pending is None else pending
    state = [torch.zeros(c.layers, 1, c.hidden)] * (2 if c.cell == "lstm" else 1)
    return (torch.randn(1, stacked * c.stride, c.n_mels), torch.randn(1, p, c.hidden), torch.zeros(1, 0, c.hidden),
            *state)


def _encode_array(t: torch.Tensor) -> str:
    return base64.b64encode(t.detach().float().contiguous().numpy().astype("<f4").tobytes()).decode()


def export_metadata(model: AcousticModel, fmt: str, quantize: str | None) -> dict:
    """Everything a runtime needs besides the graph: the configuration, the vocabulary, and the log-mel
    window and filterbank (float32, base64) so features can be computed without torchaudio."""
    fb = model.logmel.mel.mel_scale.fb  # (N_FFT/2 + 1) x n_mels
    return {"export_version": EXPORT_VERSION, "format": fmt, "quantization": quantize, "config": asdict(model.config),
            "vocab": list(VOCAB), "meta": dict(getattr(model, "meta", {}) or {}),
            "logmel": {"window": _encode_array(model.logmel.mel.spectrogram.window), "mel_fb": _encode_array(fb),
                       "mel_fb_shape": list(fb.shape), "hop_length": HOP_LENGTH, "n_fft": N_FFT,
                       "sample_rate": SAMPLE_RATE, "log_floor": LOG_FLOOR}}


def _names(model: AcousticModel) -> tuple[list[str], list[str]]:
    lstm = model.config.cell == "lstm"
    return (["features", "pending", "tail", "h"] + (["c"] if lstm else []),
            ["log_probs", "pending_out", "h_out"] + (["c_out"] if lstm else []))


def _export_torchscript(model: AcousticModel, path: Path, meta: dict) -> None:
    step = StreamStep(model).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream; it works in the pinned torch
        traced = torch.jit.trace(step, example_inputs(model), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"asr.json": json.dumps(meta)})


def _export_onnx(model: AcousticModel, path: Path, meta: dict) -> None:
    import onnx

    step = StreamStep(model).eval()
    inputs, outputs = _names(model)
    dynamic = {"features": {1: "feature_frames"}, "pending": {1: "pending_frames"}, "tail": {1: "tail_frames"},
               "log_probs": {1: "frames"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(step, example_inputs(model), str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(proto, str(path))


def _int8_recurrent_weights(path: Path) -> None:
    """GRU/RNN weights stored as int8 + one scale per output row behind DequantizeLinear (ONNX Runtime has no int8 GRU/RNN
    kernel). ExportedModel lets ONNX Runtime fold them into float weights when the session starts, so
    the file is small and the compute is float32."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(path))
    graph = proto.graph
    initializers = {i.name: i for i in graph.initializer}
    dequantize = []
    for node in graph.node:
        if node.op_type not in ("GRU", "RNN"):
            continue
        for name in node.input[1:3]:  # W (input weights), R (recurrent weights)
            if name not in initializers:
                continue
            w = numpy_helper.to_array(initializers[name])  # directions x gates*hidden x inputs
            scale = np.maximum(np.abs(w).max(axis=(0, 2)), 1e-12).astype(np.float32) / 127  # one per output row
            q = np.clip(np.round(w / scale[None, :, None]), -127, 127).astype(np.int8)
            graph.initializer.remove(initializers.pop(name))
            graph.initializer.extend([numpy_helper.from_array(q, f"{name}_int8"),
                                      numpy_helper.from_array(scale, f"{name}_scale")])
            dequantize.append(helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale"], [name],
                                               name=f"{name}_dequantize", axis=1))
    nodes = dequantize + list(graph.node)  # before their users: the graph stays topologically sorted
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(proto, str(path))


def _quantize_onnx(path: Path) -> None:
    """ONNX Runtime's dynamic int8 quantization (MatMul, Conv, LSTM), then int8 storage of GRU/RNN weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name(path.name + ".float.onnx")
    path.replace(tmp)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs a pre-processing hint on the root logger
    try:
        # 7-bit weights: ONNX Runtime's u8 x s8 products saturate on x86 CPUs without VNNI (AVX2 only), which
        # moved the log-probabilities of a test model by 0.24 on such a CPU (AMD EPYC); with 7 bits, by 0.01
        quantize_dynamic(str(tmp), str(path), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
    _int8_recurrent_weights(path)


def export_model(model: AcousticModel, path: str | Path, fmt: str, quantize: str | None = None) -> Path:
    """Write `model` as `fmt` ("torchscript", "onnx", or "pt": a checkpoint), optionally int8."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if quantize not in (None, "int8"):
        raise ValueError("quantize must be int8 or nothing")
    from .quantize import is_quantized, quantize_model, save_quantized

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = export_metadata(model, fmt, quantize)
    if fmt == "pt":
        if quantize:
            save_quantized(path, model if is_quantized(model) else quantize_model(model), meta["meta"])
        else:
            from asr.checkpoint import save_model

            save_model(path, model, meta["meta"])
    elif fmt == "torchscript":
        _export_torchscript(quantize_model(model) if quantize and not is_quantized(model) else model, path, meta)
    else:
        if is_quantized(model):
            raise ValueError("export the float model to ONNX; --quantize int8 quantizes it with ONNX Runtime")
        _export_onnx(model, path, meta)
        if quantize:
            _quantize_onnx(path)
    return path
