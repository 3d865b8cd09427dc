"""How much an output still "hears" the past: the gradient of one output w.r.t. the input features at each lag.

For each utterance, take the model's last output frame f and the log-probability of its best token
there, log p(best | x) (a trained model's is mostly the CTC blank after the last word: the decision
"nothing more was said" depends on everything before). Its gradient w.r.t. the input log-mel features,
as a norm over the features of each model frame j <= f, is |d log p / d x_j|; the lag is f - j model
frames, so lag t seconds is how much the output at the end still depends on what was heard t seconds
earlier. Vanishing gradients
show as a norm that falls exponentially with the lag. Curves are relative to the norm at lag 0
(the frame's own input) and averaged over utterances as a geometric mean (the mean of log10), so
one utterance cannot dominate. Computed in float64, so a gradient of 1e-40 is a number, not 0.
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

from asr.features import feature_lengths
from asr.model import AcousticModel

__all__ = ["FLOOR", "gradient_by_lag", "relative_at", "gradflow_stage"]

FLOOR = 1e-300  # an exactly-zero gradient is counted as this (log scale)


def gradient_by_lag(model: AcousticModel, waves: list[torch.Tensor], device: torch.device | str = "cpu") -> dict:
    """waves: 16 kHz float tensors -> {"lag_s", "relative_log10", "norm", "utterances"} per lag (model frames)."""
    model = model.to(device=device, dtype=torch.float64).eval()  # eval: no dropout; cuDNN is off below
    lens = torch.tensor([len(w) for w in waves])
    with torch.no_grad():
        feats = model.logmel(pad_sequence(waves, batch_first=True).to(device, torch.float64))  # B x T x n_mels
    feats.requires_grad_(True)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward needs training mode
        log_probs, out_lens, _ = model(feats, feature_lengths(lens).to(device), return_state=False)
        last = out_lens - 1  # B: each utterance's last output frame
        final = log_probs[torch.arange(len(waves), device=device), last]  # B x V
        final.gather(1, final.argmax(dim=-1, keepdim=True)).sum().backward()
    frames = log_probs.shape[1]
    grad = feats.grad[:, : frames * model.config.stride].reshape(len(waves), frames, -1).norm(dim=-1)  # B x T'
    grad = grad.cpu()
    max_lag = int(last.max()) + 1
    log_sum = torch.zeros(max_lag, dtype=torch.float64)
    norm_sum = torch.zeros(max_lag, dtype=torch.float64)
    count = torch.zeros(max_lag)
    for b, f in enumerate(last.tolist()):
        g = grad[b, : f + 1].flip(0)  # lag 0 .. f
        log_sum[: f + 1] += torch.log10(g.clamp_min(FLOOR) / g[0].clamp_min(FLOOR))
        norm_sum[: f + 1] += g
        count[: f + 1] += 1
    model.float()
    frame_s = model.config.frame_seconds
    return {"lag_s": [round(i * frame_s, 4) for i in range(max_lag)],
            "relative_log10": (log_sum / count).tolist(), "norm": (norm_sum / count).tolist(),
            "utterances": count.int().tolist()}


def relative_at(curve: dict, seconds: float) -> float | None:
    """log10 of the relative gradient norm at the lag nearest `seconds` (None: the utterances are shorter)."""
    lags = curve["lag_s"]
    if not lags or seconds > lags[-1]:
        return None
    i = min(range(len(lags)), key=lambda k: abs(lags[k] - seconds))
    return curve["relative_log10"][i]


def gradflow_stage(cfg, runs, say=print, utterances: int = 16) -> dict:
    """Trained (best.pt) and untrained (fresh initialisation, seed 0, the trained model's feature statistics)
    models of each cell, on the `utterances` longest dev utterances."""
    from asr.audio import load_audio
    from asr.checkpoint import load_model
    from data.librispeech import read_subset

    from .records import describe_device
    from train.distributed import pick_device

    device = pick_device(cfg.device)
    utts, _ = read_subset(cfg.data, cfg.dev_subset, progress=False)
    chosen = sorted(utts, key=lambda u: (-u.duration, u.id))[:utterances]
    waves = [torch.from_numpy(load_audio(u.path)) for u in chosen]
    out = {"device": describe_device(device), "utterances": len(waves),
           "seconds": [round(u.duration, 2) for u in chosen], "cells": {}}
    for run in runs:
        trained = load_model(cfg.out / "runs" / run.name / "best.pt")
        torch.manual_seed(0)
        fresh = AcousticModel(trained.config)
        fresh.normalizer.load_state_dict(trained.normalizer.state_dict())
        curves = {"run": run.name}
        for label, model in (("trained", trained), ("untrained", fresh)):
            curves[label] = gradient_by_lag(model, waves, device)
            at1 = relative_at(curves[label], 1.0)
            say(f"gradient flow {run.cell} {label}: relative norm at 1 s lag "
                f"{'n/a' if at1 is None else f'1e{at1:.1f}'}")
        out["cells"][run.cell] = curves
    return out
