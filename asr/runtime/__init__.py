"""Running a model: every inference path, and the one dispatch over them.

    incremental   the torch encoder over chunks (float32 and torch int8), with an explicit state
    kernel        the float32 step kernel that incremental uses on the CPU
    lite          the torch-free int8 runtime: a checkpoint read without torch, run by int8_kernel
    int8_kernel   the numba kernel: int8 GRU/LSTM/RNN layers and the log-mel front end
    quantize      int8 checkpoints: quantizing, saving and loading them
    export        TorchScript and ONNX exports of the streaming step
    backends      loading any model file (checkpoint or export) for torch or ONNX Runtime
    onnx_stream   streaming an ONNX export without this package's model code
    native        quieting native libraries' stderr

This module is the dispatch: loading a model to run, by precision, the one entry point of `asr
transcribe`, `stream`, `live`, `eval` and `bench`. The room imports the core only; never decode,
stream, train or data.

precision "int8" (the commands' default): a checkpoint, float32 or int8, runs in the int8 runtime
without torch (`asr.runtime.lite`); one that runtime cannot read goes to torch's loaders, quantized by torch
(`asr.runtime.quantize`) when it is a float32 model. "float32": the file as it is, through torch.
TorchScript and ONNX exports run as exported either way. Torch is imported only when the model
needs it.
"""
from __future__ import annotations

from pathlib import Path

from asr.config import DEFAULT_MODEL
from .lite import LiteModel

__all__ = ["PRECISIONS", "load_for_inference", "initial_encoder_state", "encode"]

PRECISIONS = ("int8", "float32")


def load_for_inference(path: str | Path | None = None, precision: str = "int8", threads: int | None = None):
    """The model at `path` (default: the bundled model) ready to run; raises asr.checkpoint.ModelError
    for a missing or unusable file. `threads`: ONNX Runtime's intra-op threads (asr.runtime.backends)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    file = Path(path) if path is not None else DEFAULT_MODEL
    if precision == "int8" and file.is_file() and file.suffix != ".onnx":
        from .lite import LiteError, load_lite

        try:
            return load_lite(file)
        except LiteError:
            pass  # an export or a bad file: torch's loaders take it (and name the error)
    from .backends import load_any_model

    model = load_any_model(file, threads=threads)  # a checkpoint (float32 or int8), or a TorchScript/ONNX export
    if precision == "int8" and getattr(model, "quantization", None) is None and hasattr(model, "rnn"):
        from .quantize import quantize_model

        model = quantize_model(model)
    return model


def initial_encoder_state(model):
    """The encoder carry of a new stream: asr.runtime.lite's numpy state for its models, asr.runtime.incremental's
    (torch) for the others; torch is imported only for those."""
    if isinstance(model, LiteModel):
        return model.initial_state()
    from .incremental import initial_state

    return initial_state(model)


def encode(model, state, samples, final: bool = False):
    """Feed 16 kHz float samples (N,) to any loaded model: (new state, T x V log-probs of the finished
    frames), numpy for asr.runtime.lite models, torch for the others. final=True ends the utterance."""
    if isinstance(model, LiteModel):
        return model.encode_chunk(state, samples, final)
    from .incremental import encode_chunk

    return encode_chunk(model, state, samples, final=final)
