"""Average the weights of several checkpoints of one model (checkpoint averaging, "model soup").

Runs fine-tuned from the same starting model stay in one basin of the loss, so the mean of their
weights is a model too, often better than each of them. All inputs must share the configuration
(dropout aside: it only acts in training; the feature floor aside: it holds no weights) and the
normalisation statistics (runs started with `asr train --init` from one checkpoint do, whatever their
--dropout).

    python -m train.average --out runs/soup.pt runs/a/best.pt runs/b/best.pt [--weights 1,1] [--feature-floor -14]

One checkpoint "averaged" with --feature-floor is that model with a new floor.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

from asr.checkpoint import ModelError, load_model, save_model
from asr.model import AcousticModel

__all__ = ["average_models"]


def average_models(models: list[AcousticModel], weights: list[float] | None = None,
                   feature_floor: float | None = None) -> AcousticModel:
    """A new model whose parameters are the weighted mean of `models`' (the first one's buffers).

    The models' feature floors may differ (it holds no weights): the mean takes `feature_floor` when it is
    given, else the first model's."""
    if not models:
        raise ValueError("nothing to average")
    weights = [1.0] * len(models) if weights is None else list(weights)
    if len(weights) != len(models) or min(weights) < 0 or sum(weights) <= 0:
        raise ValueError("one non-negative weight per model, not all zero")
    first = models[0]
    for m in models[1:]:  # dropout only acts in training, and the floor holds no weights
        if replace(m.config, dropout=first.config.dropout, feature_floor=first.config.feature_floor) != first.config:
            raise ValueError(f"configurations differ: {m.config} vs {first.config}")
        if not (torch.equal(m.normalizer.mean, first.normalizer.mean) and torch.equal(m.normalizer.std, first.normalizer.std)):
            raise ValueError("normalisation statistics differ: average only runs started from one checkpoint")
    total = sum(weights)
    floor = first.config.feature_floor if feature_floor is None else feature_floor
    out = AcousticModel(replace(first.config, feature_floor=floor))
    states = [m.state_dict() for m in models]
    state = dict(states[0])
    with torch.no_grad():
        for name, _ in first.named_parameters():
            state[name] = sum(w / total * s[name] for w, s in zip(weights, states))
    out.load_state_dict(state)
    return out.eval()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="model checkpoints (float32, same configuration)")
    p.add_argument("--out", required=True, help="where to write the averaged checkpoint")
    p.add_argument("--weights", help="comma-separated weight per checkpoint (default: equal)")
    p.add_argument("--feature-floor", type=float, metavar="LOG",
                   help="the mean's floor on its log-mel features (natural log of mel power, e.g. -14; "
                        "asr train --feature-floor); default: the first checkpoint's")
    args = p.parse_args(argv)
    try:
        models = [load_model(path) for path in args.checkpoints]
        weights = [float(w) for w in args.weights.split(",")] if args.weights else None
        model = average_models(models, weights, args.feature_floor)
    except (ModelError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    weights = weights or [1.0] * len(models)
    meta = {"averaged_from": [str(Path(p)) for p in args.checkpoints], "weights": weights}
    delays = [m.meta.get("emission_delay_frames") for m in models]
    if None not in delays:  # word times: the mean of the inputs' delays (measured or inherited)
        meta["emission_delay_frames"] = round(sum(w * x for w, x in zip(weights, delays)) / sum(weights), 3)
        meta["emission_delay_from"] = "weighted mean of the averaged checkpoints' delays"
    save_model(args.out, model, meta)
    floor = model.config.feature_floor
    print(f"{args.out}: mean of {len(models)} checkpoint{'s' * (len(models) > 1)}"
          + (f", feature floor {floor:g}" if floor is not None else ""))
    if None in delays:
        missing = sum(x is None for x in delays)
        print(f"word times: {missing} of {len(delays)} checkpoints have no emission delay, so the average carries none"
              f" and its word times are about 100 ms late until it is measured: "
              f"python -m bench.timestamps --model {args.out} --write-delay OUT.pt", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
