"""The int8 runtime without torch: checkpoints read with zipfile and pickle, the model run by the
compiled int8 kernel (`asr.runtime.int8_kernel`), numpy for everything else.

`import torch` alone takes about 510 MB of resident memory here (its CUDA build maps cuBLAS, NVRTC
and more even on a CPU), more than a recognizer needs. `LiteModel` runs a GRU, LSTM or RNN checkpoint
in int8 with numpy and numba only:

- float32 checkpoints are quantized on load the way `asr.runtime.quantize` quantizes them (one symmetric
  scale per weight row, torch's observer arithmetic), int8 checkpoints (`asr export --format pt
  --quantize int8`) are used as stored;
- the front end, lookahead, recurrence and output layer are the int8 kernel's, the same code
  `asr.runtime.incremental` runs for torch's int8 modules, so the numbers are those of `asr export
  --quantize int8` plus the kernel (to float rounding in the folded front end);
- `encode_chunk` has the contract of `asr.runtime.incremental.encode_chunk` (state in, state and
  log-probs out; numpy arrays instead of tensors), so the streaming recognizer (stream/), `asr
  transcribe`, `asr stream` and `asr live` run it unchanged: `asr transcribe FILE` on the bundled
  model never imports torch.

A vanilla `rnn` (tanh) cell runs here too, its recurrent weights quantized by row on load like
the other cells'. torch has no dynamically quantized `nn.RNN`, so its int8 path (`asr.runtime.quantize`,
and the int8 files `asr export` writes) keeps that cell's weights in float32: for `rnn` models
this runtime is the more quantized of the two, and their outputs differ by that rounding.
"""
from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.config import INT8_SCHEME, ModelConfig
from asr.framing import feature_step
from asr.vocab import VOCAB

__all__ = ["LiteError", "LiteState", "LiteModel", "fold_normalizer", "read_checkpoint", "load_lite"]

_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "CharStorage": np.int8, "ByteStorage": np.uint8, "ShortStorage": np.int16, "IntStorage": np.int32,
             "LongStorage": np.int64, "BoolStorage": np.bool_}


class LiteError(Exception):
    """A file this runtime cannot run (not a checkpoint, or a layout or config it does not know)."""


@dataclass(frozen=True)
class _Storage:
    dtype: type


def _rebuild_tensor(storage, offset, size, stride, *_):
    """torch._utils._rebuild_tensor_v2 for numpy: a copy of the tensor's elements (bounds checked:
    as_strided itself would read past the storage of a malformed file)."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or min((*size, *stride, offset), default=0) < 0:
        raise ValueError("malformed tensor")
    if 0 not in size and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(storage):
        raise ValueError("tensor outside its storage")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, tuple(s * item for s in stride))
    return np.array(view)


class _Unpickler(pickle.Unpickler):
    """torch.save's data.pkl with storages read from the archive; anything but plain containers and
    tensors is refused (like torch.load(weights_only=True))."""

    def __init__(self, f, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(f)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _Storage(_STORAGES[name])
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        raise pickle.UnpicklingError(f"unsupported object {module}.{name}")

    def persistent_load(self, pid):
        kind, storage, key, _location, numel = pid
        if kind != "storage" or not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"unsupported storage {pid!r}")
        data = self.archive.read(f"{self.prefix}data/{key}")
        return np.frombuffer(data, dtype=storage.dtype, count=numel)


def read_checkpoint(path: str | Path) -> dict:
    """A torch.save'd checkpoint as plain Python with numpy arrays for tensors, without torch."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pkl = next((n for n in names if n.endswith("/data.pkl") and n.count("/") == 1), None)
            if pkl is None:
                raise LiteError(f"{path}: not a checkpoint (no data.pkl)")
            prefix = pkl[: -len("data.pkl")]
            if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder") != b"little":
                raise LiteError(f"{path}: big-endian checkpoint")
            with archive.open(pkl) as f:
                return _Unpickler(f, archive, prefix).load()
    except (zipfile.BadZipFile, OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, KeyError) as e:
        raise LiteError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None


def fold_normalizer(weight, bias, mean, std, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The front end's linear layer with the normaliser folded in: W (x - mean) / std + b = W' x + b'
    for x the `stride` stacked frames. b' is summed in float64 and rounded once, so both kernels
    (`asr.runtime.kernel` for torch models, this runtime) get the same float32 bias."""
    std = np.tile(np.asarray(std, np.float32), stride)
    mean = np.tile(np.asarray(mean, np.float64), stride)
    front_w = np.asarray(weight, np.float32) / std
    front_b = (np.asarray(bias, np.float64) - front_w.astype(np.float64) @ mean).astype(np.float32)
    return front_w, front_b


@dataclass(frozen=True)
class LiteState:
    """`asr.runtime.incremental.EncoderState` with numpy arrays."""
    samples: np.ndarray  # samples not yet turned into feature frames
    frames: np.ndarray  # F x n_mels feature frames not yet stacked
    pending: np.ndarray  # P x H embedded frames waiting for their lookahead
    h: np.ndarray | None = None  # layers x H (None: zeros)
    c: np.ndarray | None = None  # LSTM cell state
    samples_seen: int = 0
    frames_out: int = 0


class LiteModel:
    """An int8 GRU/LSTM/RNN model run without torch (see the module's docstring)."""

    quantization = INT8_SCHEME
    runtime = "asr.runtime.lite"  # as asr.runtime.backends.ExportedModel names its runtime

    def __init__(self, ckpt: dict) -> None:
        from .int8_kernel import Int8Kernel, quantize_rows

        if list(ckpt.get("vocab", [])) != list(VOCAB):
            raise LiteError("vocabulary differs from this version's vocabulary")
        known = {f.name for f in fields(ModelConfig)}
        try:
            c = self.config = ModelConfig(**{k: v for k, v in ckpt["config"].items() if k in known})
        except (KeyError, TypeError, ValueError) as e:
            raise LiteError(f"unusable config: {e}") from None
        self.meta = dict(ckpt.get("meta", {}))
        state = ckpt["model"]
        q = ckpt.get("quantization")
        if q is not None and q.get("scheme") != INT8_SCHEME:
            raise LiteError(f"unknown quantization {q.get('scheme')!r}")

        def int8(key: str) -> tuple[np.ndarray, np.ndarray]:
            if q is None or key not in q["int8"]:  # a float32 file, or a weight torch keeps in float (rnn cell)
                return quantize_rows(state[key])
            values, scales = q["int8"][key], q["scales"][key]
            scales = np.full(len(values), scales) if np.ndim(scales) == 0 else scales
            return values, np.asarray(scales, np.float32)

        weights: dict[str, list] = {k: [] for k in ("w_ih", "s_ih", "b_ih", "w_hh", "s_hh", "b_hh")}
        for layer in range(c.layers):
            for kind in ("ih", "hh"):
                values, scales = int8(f"rnn.weight_{kind}_l{layer}")
                weights[f"w_{kind}"].append(values)
                weights[f"s_{kind}"].append(scales)
                weights[f"b_{kind}"].append(np.asarray(state[f"rnn.bias_{kind}_l{layer}"], np.float32))
        stacked = {k: np.ascontiguousarray(np.stack(v)) for k, v in weights.items()}
        head_values, head_scales = int8("head.weight")
        front_w, front_b = fold_normalizer(state["frontend.weight"], state["frontend.bias"], state["normalizer.mean"],
                                           state["normalizer.std"], c.stride)
        look_w = state["lookahead.weight"][:, 0].T if c.lookahead else None
        look_b = state["lookahead.bias"] if c.lookahead else None
        self.kernel = Int8Kernel(c, stacked, front_w, front_b, look_w, look_b,
                                 head_values.astype(np.float32) * head_scales[:, None], state["head.bias"],
                                 state["logmel.mel.spectrogram.window"], state["logmel.mel.mel_scale.fb"])
        # the compiled code is loaded (or compiled) on its first call: here, not in a live stream's first
        # chunk (about 0.5 s from numba's cache)
        self.encode_chunk(self.initial_state(), np.zeros(SAMPLE_RATE // 10, np.float32), final=True)

    def eval(self) -> "LiteModel":
        return self

    def initial_state(self) -> LiteState:
        c = self.config
        return LiteState(np.zeros(0, np.float32), np.zeros((0, c.n_mels), np.float32),
                         np.zeros((0, c.hidden), np.float32))

    def encode_chunk(self, state: LiteState, pcm, final: bool = False) -> tuple[LiteState, np.ndarray]:
        """As `asr.runtime.incremental.encode_chunk`: 16 kHz float samples (N,) -> (state, log-probs T x V)."""
        c = self.config
        new = np.asarray(pcm, dtype=np.float32)
        frames, buf, rest = feature_step(state.samples, state.frames, new, state.pending.shape[0], c.stride,
                                         c.lookahead, final, self.kernel.logmel)
        seen = state.samples_seen + len(new)
        if frames is None:
            return (LiteState(buf, state.frames, state.pending, state.h, state.c, seen, state.frames_out),
                    np.zeros((0, c.vocab_size), np.float32))
        log_probs, pending, h, cell = self.kernel.step(frames, state.pending, state.h, state.c, final)
        return LiteState(buf, rest, pending, h, cell if c.cell == "lstm" else None, seen,
                         state.frames_out + len(log_probs)), log_probs


def load_lite(path: str | Path) -> LiteModel:
    """A checkpoint (float32 or int8) as a LiteModel; LiteError if this runtime cannot run it."""
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise LiteError(f"{path}: not a model checkpoint")
    try:
        return LiteModel(ckpt)
    except LiteError as e:
        raise LiteError(f"{path}: {e}") from None
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise LiteError(f"{path}: checkpoint does not match its config ({type(e).__name__}: {e})") from None
