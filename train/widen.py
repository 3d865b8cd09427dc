"""Start a wider model from a narrower one without changing what it computes (Net2Net-style growth,
Chen et al., 2016, with zero outgoing weights instead of copied units).

`asr train --init SMALL.pt --hidden H` with H above SMALL's width: every weight of SMALL keeps its
place; the new hidden units get the usual random incoming weights, and every weight *out of* a new
unit (into the old units, the next layer and the output layer) starts at zero. The old units then
see exactly their old inputs, so the wider model's log-probabilities equal SMALL's to the last
bit, while the new units already carry activity, so the first optimiser step gives their outgoing
weights a gradient and training grows them from there.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from asr.model import AcousticModel, ModelConfig

__all__ = ["start_model", "widen"]


def start_model(init: AcousticModel, config: ModelConfig, seed: int) -> AcousticModel:
    """A model of `config` starting from `init`: the same weights, or `init` widened to config.hidden.

    Raises ValueError (one line) when `init` differs in anything but the width and dropout, or is wider.
    """
    old = init.config
    same_shape = replace(old, hidden=config.hidden, dropout=config.dropout)
    if same_shape != config:
        diff = ", ".join(f"{k} {getattr(old, k)} (run: {getattr(config, k)})" for k in old.__dataclass_fields__
                         if k not in ("hidden", "dropout") and getattr(old, k) != getattr(config, k))
        raise ValueError(f"--init model differs from the run's model in {diff}; only --hidden may grow")
    if config.hidden < old.hidden:
        raise ValueError(f"--init model is {old.hidden} wide; --hidden {config.hidden} would narrow it "
                         f"(use --hidden {old.hidden}, or a larger width to widen it)")
    if config.hidden == old.hidden:
        model = AcousticModel(config)
        model.load_state_dict(init.state_dict())
        return model
    return widen(init, config, seed)


def widen(small: AcousticModel, config: ModelConfig, seed: int) -> AcousticModel:
    """`small` grown to config.hidden units per layer; same outputs (see the module docstring)."""
    h, wide_h = small.config.hidden, config.hidden
    torch.manual_seed(seed)  # the new units' random incoming weights
    big = AcousticModel(config)
    with torch.no_grad():
        big.normalizer.load_state_dict(small.normalizer.state_dict())
        _copy_rows(big.frontend.weight, small.frontend.weight)  # H' x (n_mels * stride): new rows stay random
        _copy_rows(big.frontend.bias, small.frontend.bias)
        if big.lookahead is not None:  # depthwise: one filter per unit
            _copy_rows(big.lookahead.weight, small.lookahead.weight)
            _copy_rows(big.lookahead.bias, small.lookahead.bias)
        small_rnn = dict(small.rnn.named_parameters())
        for name, p in big.rnn.named_parameters():
            q = small_rnn[name]
            for g in range(q.shape[0] // h):  # each gate block (1 rnn, 3 gru, 4 lstm): old units' rows at its top
                rows, old_rows = slice(g * wide_h, g * wide_h + h), slice(g * h, (g + 1) * h)
                if p.dim() == 2:  # weight_ih / weight_hh: gates*H' x H'; every input is a hidden unit
                    p[rows, :h] = q[old_rows]
                    p[rows, h:] = 0.0  # old units do not hear the new ones
                else:
                    p[rows] = q[old_rows]
        big.head.weight.zero_()  # V x H': the output hears only the old units at first
        big.head.weight[:, :h] = small.head.weight
        big.head.bias.copy_(small.head.bias)
    return big


def _copy_rows(dst: torch.Tensor, src: torch.Tensor) -> None:
    dst[: src.shape[0]] = src
