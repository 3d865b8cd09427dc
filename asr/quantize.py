"""int8 dynamic quantization of the recurrent and linear layers, and int8 checkpoints.

`quantize_model(model)` applies torch's dynamic quantization to the GRU/LSTM stack and the output
layer (weights int8 per tensor, activations quantized on the fly), so every code path (offline
`forward`, `encode_chunk`, the streaming recognizer) runs unchanged on the result. A vanilla `rnn`
cell has no dynamically quantized version: it stays float32, only the output layer is quantized.

An int8 checkpoint is the usual plain dict (config, vocab, normalisation, float weights of the
layers left in float32, meta) plus "quantization": for each quantized weight its int8 values and
scale, loadable with torch.load(weights_only=True). Loading rebuilds the float model, quantizes it
and then sets the stored int8 weights exactly, so a reloaded model gives identical outputs.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .checkpoint import FORMAT_VERSION, ModelError, atomic_save, model_from_dict
from .model import AcousticModel
from .vocab import VOCAB

SCHEME = "int8-dynamic"
# The recurrent stack (nearly all the weights) and the output layer. The front end's linear layer stays
# float32: its input is the normalised log-mel, and quantizing it cost dev WER for no measurable speed
# (default model, synth-dev WER 63.88 float32; all linear + GRU 64.58; GRU + head 64.14; GRU only 64.23).
QUANTIZED_MODULES = {"rnn", "head"}

__all__ = ["SCHEME", "quantize_model", "is_quantized", "quantized_checkpoint_dict", "save_quantized",
           "model_from_quantized_dict"]


def quantize_model(model: AcousticModel) -> AcousticModel:
    """A copy of `model` (eval mode) with int8 dynamically quantized linear and GRU/LSTM layers."""
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization warns it is deprecated; stable in the pinned torch
        warnings.simplefilter("ignore")
        q = quantize_dynamic(copy.deepcopy(model).eval(), QUANTIZED_MODULES, dtype=torch.qint8, inplace=True)
    q.quantization = SCHEME
    return q


def is_quantized(model: nn.Module) -> bool:
    return getattr(model, "quantization", None) == SCHEME


def _quantized_modules(model: nn.Module):
    """(name, module) of the dynamically quantized submodules."""
    from torch.ao.nn.quantized import dynamic as nnqd

    for name, mod in model.named_modules():
        if isinstance(mod, (nnqd.Linear, nnqd.GRU, nnqd.LSTM)):
            yield name, mod


def _weights_and_biases(mod) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
    """Quantized weights and float biases of one dynamic module, by their float-module names."""
    from torch.ao.nn.quantized import dynamic as nnqd

    if isinstance(mod, nnqd.Linear):
        return {"weight": mod.weight()}, {"bias": mod.bias()}
    wb = mod._weight_bias()
    return dict(wb["weight"]), dict(wb["bias"])


def quantized_checkpoint_dict(model: AcousticModel, meta: dict | None = None) -> dict:
    """The plain-dict checkpoint of a `quantize_model` result (int8 values + scales, float rest)."""
    if not is_quantized(model):
        raise ValueError("model is not quantized; use asr.checkpoint.checkpoint_dict")
    quantized = dict(_quantized_modules(model))
    int8, scales, float_state = {}, {}, {}
    for name, mod in quantized.items():
        weights, biases = _weights_and_biases(mod)
        for w_name, w in weights.items():
            key = f"{name}.{w_name}"
            if w.qscheme() not in (torch.per_tensor_affine, torch.per_tensor_symmetric) or w.q_zero_point() != 0:
                raise ValueError(f"{key}: unexpected quantization scheme {w.qscheme()}")
            int8[key], scales[key] = w.int_repr().clone(), float(w.q_scale())
        float_state.update({f"{name}.{b_name}": b.detach().clone() for b_name, b in biases.items() if b is not None})
    for name, mod in model.named_modules():  # everything else stays float32 (normaliser, lookahead, features)
        if name in quantized:
            continue
        for k, v in [*mod.named_parameters(recurse=False), *mod.named_buffers(recurse=False)]:
            float_state[f"{name}.{k}" if name else k] = v.detach().clone()
    return {
        "format_version": FORMAT_VERSION,
        "config": asdict(model.config),
        "vocab": list(VOCAB),
        "normalization": {"mean": model.normalizer.mean.tolist(), "std": model.normalizer.std.tolist()},
        "model": float_state,
        "quantization": {"scheme": SCHEME, "int8": int8, "scales": scales},
        "meta": dict(meta or {}),
    }


def save_quantized(path: str | Path, model: AcousticModel, meta: dict | None = None) -> None:
    atomic_save(quantized_checkpoint_dict(model, meta), path)


def model_from_quantized_dict(ckpt: dict) -> AcousticModel:
    """Rebuild an int8 model from `quantized_checkpoint_dict` output; raises ModelError if unusable."""
    q = ckpt.get("quantization") if isinstance(ckpt, dict) else None
    if not isinstance(q, dict) or q.get("scheme") != SCHEME:
        raise ModelError(f"not an {SCHEME} checkpoint")
    try:
        int8, scales = q["int8"], q["scales"]
        state = dict(ckpt["model"])
        for key, values in int8.items():  # dequantized weights make the float model whole ...
            state[key] = values.float() * scales[key]
        model = model_from_dict({**ckpt, "model": state})
        model = quantize_model(model)
        with warnings.catch_warnings():  # ... and the stored int8 values set exactly (re-quantizing may round differently)
            warnings.simplefilter("ignore")
            for name, mod in _quantized_modules(model):
                weights, biases = _weights_and_biases(mod)
                exact = {w: torch._make_per_tensor_quantized_tensor(int8[f"{name}.{w}"], scales[f"{name}.{w}"], 0)
                         for w in weights}
                bias = {b: state.get(f"{name}.{b}") for b in biases}
                if len(exact) == 1 and "weight" in exact:
                    mod.set_weight_bias(exact["weight"], bias["bias"])
                else:
                    mod.set_weight_bias({**exact, **bias})
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ModelError(f"int8 checkpoint does not match the model: {str(e).splitlines()[0]}") from None
    return model.eval()
