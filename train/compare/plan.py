"""What `asr compare` trains: the runs of each cell at matched parameter counts and at the same hidden
size, the hidden size that matches a parameter budget, and the arithmetic cost of a model.

All of it is computed from a ModelConfig alone (no weights, no device), so the plan is the same on
the GPU machine that trains and on the CPU that measures afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from asr.audio import FRAMES_PER_SECOND
from asr.model import CELLS, ModelConfig

__all__ = ["GATES", "MATCH_TOLERANCE", "Run", "parameter_count", "macs_per_frame", "macs_per_audio_second",
           "solve_hidden", "plan_runs"]

GATES = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per recurrent layer: tanh; reset/update/new; i/f/g/o
MATCH_TOLERANCE = 0.05  # matched runs are within 5% of the parameter budget
assert set(GATES) == set(CELLS)


def parameter_count(c: ModelConfig) -> int:
    """Exactly asr.model.count_parameters(AcousticModel(c)), from the configuration alone."""
    h, inp = c.hidden, c.n_mels * c.stride
    frontend = inp * h + h
    lookahead = h * (c.lookahead + 1) + h if c.lookahead else 0
    # nn.GRU/LSTM/RNN: weight_ih (G*h x in), weight_hh (G*h x h) and two biases of G*h per layer
    recurrent = c.layers * GATES[c.cell] * h * (h + h + 2)  # every layer's input is h wide
    head = h * c.vocab_size + c.vocab_size
    return frontend + lookahead + recurrent + head


def macs_per_frame(c: ModelConfig) -> int:
    """Multiply-accumulates of one model frame: every weight (not bias) is used once per frame.

    Front-end projection, depthwise lookahead, the recurrent input and hidden matrices of every layer,
    output layer. Not counted: the log-mel front end (identical for all cells), biases, element-wise gate
    arithmetic and non-linearities (a few per hidden unit, against hundreds of MACs per unit)."""
    h = c.hidden
    return (c.n_mels * c.stride * h + (h * (c.lookahead + 1) if c.lookahead else 0)
            + c.layers * GATES[c.cell] * h * (h + h) + h * c.vocab_size)


def macs_per_audio_second(c: ModelConfig) -> float:
    """MACs for one second of audio: per-frame MACs x model frames per second (100 feature frames / stride)."""
    return macs_per_frame(c) * FRAMES_PER_SECOND / c.stride


def solve_hidden(cell: str, params: int, base: ModelConfig = ModelConfig()) -> int:
    """The hidden size whose parameter count (same layers, stride, lookahead, vocabulary) is nearest `params`.

    Raises ValueError when even the nearest one is more than MATCH_TOLERANCE away (a budget too small)."""
    best, best_err = 1, float("inf")
    hidden = 1
    while True:
        n = parameter_count(replace(base, cell=cell, hidden=hidden))
        err = abs(n - params)
        if err < best_err:
            best, best_err = hidden, err
        if n > params:  # the count grows with the hidden size: nothing nearer beyond this one
            break
        hidden += 1
    if best_err > MATCH_TOLERANCE * params:
        raise ValueError(f"no hidden size gives {cell} within {MATCH_TOLERANCE:.0%} of {params:,} parameters "
                         f"(nearest: {parameter_count(replace(base, cell=cell, hidden=best)):,})")
    return best


@dataclass(frozen=True)
class Run:
    name: str  # <cell>-<p|h>-s<seed>: p = matched parameters, h = the GRU's hidden size
    cell: str
    group: str  # "matched" | "same-hidden"
    seed: int
    model: ModelConfig


def plan_runs(params: int, seeds: int, base: ModelConfig = ModelConfig()) -> tuple[list[Run], dict[str, str]]:
    """Matched runs (every cell, `seeds` seeds) and same-hidden runs (seed 0, at the GRU's matched hidden size),
    ordered so the cells alternate; and, per cell, the run that stands for it at the same hidden size (the GRU's
    same-hidden run is its matched seed-0 run, not trained twice)."""
    if seeds < 1:
        raise ValueError("--seeds must be at least 1")
    hidden = {cell: solve_hidden(cell, params, base) for cell in GATES}
    runs = [Run(f"{cell}-p-s{seed}", cell, "matched", seed, replace(base, cell=cell, hidden=hidden[cell]))
            for seed in range(seeds) for cell in ("gru", "lstm", "rnn")]
    same = {"gru": "gru-p-s0"}
    for cell in ("lstm", "rnn"):
        if hidden[cell] == hidden["gru"]:  # cannot happen with different gate counts, but would not need a run
            same[cell] = f"{cell}-p-s0"
            continue
        runs.append(Run(f"{cell}-h-s0", cell, "same-hidden", 0, replace(base, cell=cell, hidden=hidden["gru"])))
        same[cell] = f"{cell}-h-s0"
    return runs, same
