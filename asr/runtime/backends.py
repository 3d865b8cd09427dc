"""Running exported models (asr.runtime.export) and loading any model file by what it is.

`load_any_model(path)` returns something the whole project can run: an `AcousticModel` for a
checkpoint (float32 or int8), or an `ExportedModel` for a TorchScript or ONNX export. An
`ExportedModel` has the `config` and `logmel` of an AcousticModel and streams itself:
`asr.runtime.incremental.encode_chunk` hands it the chunk, so the streaming recognizer, `asr transcribe`,
`asr stream` and `asr live` use it unchanged, and its offline `__call__` serves `asr eval`.
"""
from __future__ import annotations

import json
import warnings
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from asr.audio import HOP_LENGTH, N_FFT
from asr.checkpoint import DEFAULT_MODEL, ModelError, load_model, model_from_dict
from .export import METADATA_KEY
from asr.features import LogMel, num_frames
from .incremental import EncoderState
from asr.model import ModelConfig
from .native import quiet_native_stderr
from asr.vocab import VOCAB

__all__ = ["ExportedModel", "load_any_model", "model_kind"]


def model_kind(path: Path) -> str:
    """"onnx", "torchscript" or "checkpoint" (float32 or int8), from the file's content."""
    if path.suffix == ".onnx":
        return "onnx"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        with open(path, "rb") as f:  # an ONNX ModelProto starts with field 1 (ir_version, a varint): 0x08
            return "onnx" if f.read(1) == b"\x08" else "checkpoint"
    return "torchscript" if any(n.endswith("/extra/asr.json") or "/code/" in n for n in names) else "checkpoint"


class ExportedModel:
    """An exported streaming step run by TorchScript or ONNX Runtime, with the streaming interface."""

    def __init__(self, runner, runtime: str, meta: dict) -> None:
        """runner: a TorchScript module or an onnxruntime.InferenceSession (see `load_any_model`)."""
        if list(meta.get("vocab", [])) != list(VOCAB):
            raise ModelError("vocabulary differs from this version's vocabulary")
        known = {f.name for f in fields(ModelConfig)}
        self.config = ModelConfig(**{k: v for k, v in meta["config"].items() if k in known})
        self.meta, self.runtime, self.quantization = meta.get("meta", {}), runtime, meta.get("quantization")
        self.logmel = LogMel()
        self._lstm = self.config.cell == "lstm"
        c = self.config
        self._no_tail = torch.zeros(1, 0, c.hidden)
        self._flush_tail = torch.zeros(1, c.lookahead, c.hidden)
        self._module = runner if runtime == "torchscript" else None
        self._session = runner if runtime == "onnx" else None

    def eval(self) -> "ExportedModel":
        return self

    def _run(self, features: torch.Tensor, pending: torch.Tensor, tail: torch.Tensor, rnn):
        """features F x 80 -> (log_probs R x V, pending 1 x L x H, rnn state)."""
        c = self.config
        if rnn is None:
            zeros = torch.zeros(c.layers, 1, c.hidden)
            rnn = (zeros, zeros) if self._lstm else zeros
        state = list(rnn) if self._lstm else [rnn]
        if self.runtime == "torchscript":
            out = self._module(features[None], pending, tail, *state)
        else:
            names = ["features", "pending", "tail", "h", "c"]
            feed = {n: t.numpy() for n, t in zip(names, [features[None], pending, tail, *state])}
            out = [torch.from_numpy(np.asarray(o)) for o in self._session.run(None, feed)]
        new_rnn = (out[2], out[3]) if self._lstm else out[2]
        return out[0][0], out[1], new_rnn

    @torch.inference_mode()
    def encode_chunk(self, state: EncoderState, pcm: torch.Tensor, final: bool = False):
        """Same contract as asr.runtime.incremental.encode_chunk (which delegates here)."""
        c = self.config
        pcm = torch.as_tensor(pcm).float()  # numpy from the streaming recognizer
        buf = torch.cat([state.samples, pcm])
        n = num_frames(buf.numel())
        frames = state.frames
        if n:
            frames = torch.cat([frames, self.logmel(buf[None, : (n - 1) * HOP_LENGTH + N_FFT])[0]])
            buf = buf[n * HOP_LENGTH:]
        m = frames.shape[0] // c.stride * c.stride
        tail = self._flush_tail if final else self._no_tail
        ready = state.pending.shape[1] + m // c.stride + tail.shape[1] - c.lookahead
        pending, rnn = state.pending, state.rnn
        if ready > 0:
            log_probs, pending, rnn = self._run(frames[:m], state.pending, tail, state.rnn)
            frames = frames[m:]
        else:  # not enough frames for one output yet: keep them as features
            ready, log_probs = 0, torch.zeros(0, c.vocab_size)
        if final:
            pending = pending[:, :0]
        new = EncoderState(samples=buf.clone(), frames=frames.clone(), pending=pending.clone(), rnn=rnn,
                           samples_seen=state.samples_seen + pcm.numel(), frames_out=state.frames_out + ready)
        return new, log_probs

    @torch.inference_mode()
    def __call__(self, features: torch.Tensor, feature_lens: torch.Tensor, state=None, return_state: bool = True):
        """Offline, like AcousticModel.forward (one utterance at a time); the state is not returned."""
        c = self.config
        out_lens = feature_lens.div(c.stride, rounding_mode="floor")
        t_max = int(out_lens.max()) if len(out_lens) else 0
        out = torch.full((features.shape[0], t_max, c.vocab_size), float("-inf"))
        empty = torch.zeros(1, 0, c.hidden)
        for i, t in enumerate(out_lens.tolist()):
            if t:
                log_probs, _, _ = self._run(features[i, : t * c.stride], empty, self._flush_tail, None)
                out[i, :t] = log_probs
        return out, out_lens, None


def _open_torchscript(path: Path) -> tuple[object, str]:
    extra = {"asr.json": ""}
    with quiet_native_stderr():  # int8 TorchScript loading warns from C++ (deprecation)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
    return module, extra["asr.json"]


def _open_onnx(path: Path, threads: int | None) -> tuple[object, str]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.disable_quant_qdq", "1")  # fold int8-stored GRU weights once
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session, session.get_modelmeta().custom_metadata_map.get(METADATA_KEY, "")


def load_any_model(path: str | Path | None = None, threads: int | None = None):
    """A checkpoint (float32 or int8), a TorchScript export or an ONNX export, by content. `threads`:
    ONNX Runtime's intra-op threads (default: torch's setting); TorchScript follows torch's setting."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    kind = model_kind(path)
    if kind == "checkpoint":
        return _load_checkpoint(path)
    try:
        runner, meta = _open_torchscript(path) if kind == "torchscript" else _open_onnx(path, threads)
    except Exception as e:  # onnxruntime and torch.jit raise many types for a corrupt file
        raise ModelError(f"{path}: not a readable {kind} model ({type(e).__name__})") from None
    if not meta:
        raise ModelError(f"{path}: a {kind} file without this project's metadata (see asr export)")
    try:
        return ExportedModel(runner, kind, json.loads(meta))
    except (ModelError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path}: unusable {kind} metadata: {e}") from None


def _load_checkpoint(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            return load_model(path)  # raises its one-line error
    from .quantize import model_from_quantized_dict

    quantized = isinstance(ckpt, dict) and "quantization" in ckpt
    try:
        model = model_from_quantized_dict(ckpt) if quantized else model_from_dict(ckpt)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from None
    model.meta = ckpt.get("meta", {})
    return model
