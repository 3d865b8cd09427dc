"""int8 dynamic quantization of the recurrent and linear layers, and int8 checkpoints.

`quantize_model(model)` applies torch's dynamic quantization to the GRU/LSTM stack and the output
layer (weights int8 with one scale per output row, activations quantized on the fly), so every code path (offline
`forward`, `encode_chunk`, the streaming recognizer) runs unchanged on the result. A vanilla `rnn`
cell has no dynamically quantized version: it stays float32, only the output layer is quantized
(`asr.runtime.lite`, the commands' int8 runtime, quantizes its weights too).

An int8 checkpoint is the usual plain dict (config, vocab, normalisation, float weights of the
layers left in float32, meta) plus "quantization": for each quantized weight its int8 values and
its scales (a tensor, one per output row; a float in files written before per-row scales, still
loadable), loadable with torch.load(weights_only=True). Loading rebuilds the float model, quantizes it
and then sets the stored int8 weights exactly, so a reloaded model gives identical outputs.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from asr.checkpoint import FORMAT_VERSION, ModelError, atomic_save, model_from_dict
from asr.config import INT8_SCHEME
from asr.model import AcousticModel
from asr.vocab import VOCAB

SCHEME = INT8_SCHEME
# The recurrent stack (nearly all the weights) and the output layer. The front end's linear layer stays
# float32: its input is the normalised log-mel, and quantizing it cost dev WER for no measurable speed
# (default model, synth-dev WER 63.88 float32; all linear + GRU 64.58; GRU + head 64.14; GRU only 64.23).
QUANTIZED_MODULES = {"rnn", "head"}
# One scale per output row (per channel) rather than one per weight matrix: a GRU's matrix stacks its three
# gates, whose ranges differ. Default model v2, synth-dev: mean KL(float || int8) per frame 0.00555 -> 0.00523,
# greedy WER change +0.58 -> +0.36; streaming RTF unchanged (docs/performance.md, bench/int8_error.py).

__all__ = ["SCHEME", "quantize_model", "is_quantized", "weight_scales", "quantized_checkpoint_dict", "save_quantized",
           "model_from_quantized_dict"]


def quantize_model(model: AcousticModel) -> AcousticModel:
    """A copy of `model` (eval mode) with int8 dynamically quantized linear and GRU/LSTM layers."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization warns it is deprecated; stable in the pinned torch
        warnings.simplefilter("ignore")
        q = quantize_dynamic(copy.deepcopy(model).eval(), dict.fromkeys(QUANTIZED_MODULES, per_channel_dynamic_qconfig),
                             dtype=torch.qint8, inplace=True)
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


def weight_scales(key: str, w: torch.Tensor) -> torch.Tensor | float:
    """The scales of a symmetric int8 weight: one per output row (a tensor) or one per matrix (a float)."""
    if w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        if w.q_per_channel_axis() == 0 and not w.q_per_channel_zero_points().any():
            return w.q_per_channel_scales().clone()  # float64, as torch keeps them: reloads exactly
    elif w.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric) and w.q_zero_point() == 0:
        return float(w.q_scale())
    raise ValueError(f"{key}: unexpected quantization scheme {w.qscheme()}")


def _int8_tensor(values: torch.Tensor, scales: torch.Tensor | float) -> torch.Tensor:
    """The quantized weight `weight_scales` describes (zero points 0)."""
    if isinstance(scales, torch.Tensor):
        _check_rows(values, scales)
        zeros = torch.zeros(len(scales), dtype=torch.long)
        return torch._make_per_channel_quantized_tensor(values, scales.double(), zeros, 0)
    return torch._make_per_tensor_quantized_tensor(values, float(scales), 0)


def _check_rows(values: torch.Tensor, scales: torch.Tensor) -> None:
    if scales.shape != values.shape[:1]:
        raise ValueError(f"{tuple(scales.shape)} scales for a {tuple(values.shape)} weight")


def _dequantized(values: torch.Tensor, scales: torch.Tensor | float) -> torch.Tensor:
    if isinstance(scales, torch.Tensor):
        _check_rows(values, scales)
    return values.float() * (scales[:, None] if isinstance(scales, torch.Tensor) else scales)


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
            int8[key], scales[key] = w.int_repr().clone(), weight_scales(key, w)
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
            state[key] = _dequantized(values, scales[key])
        model = model_from_dict({**ckpt, "model": state})
        model = quantize_model(model)
        with warnings.catch_warnings():  # ... and the stored int8 values set exactly (re-quantizing may round differently)
            warnings.simplefilter("ignore")
            for name, mod in _quantized_modules(model):
                weights, biases = _weights_and_biases(mod)
                exact = {w: _int8_tensor(int8[f"{name}.{w}"], scales[f"{name}.{w}"]) for w in weights}
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
