"""What the test-time probes share: their arguments (corpus, subsets, one list of values, model) and set-up."""
from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from asr.checkpoint import load_model
from asr.model import AcousticModel


def probe_setup(doc: str, option: str, default: str, help: str, argv: list[str] | None,
                extra: Callable[[argparse.ArgumentParser], None] | None = None
                ) -> tuple[argparse.Namespace, AcousticModel, list[float]]:
    """Parse --data, --subsets, `option` (comma-separated numbers), --model and what `extra` adds to the
    parser; one thread; the model in eval mode and the option's values as floats."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--subsets", required=True, help="comma-separated")
    p.add_argument(option, default=default, help=f"{help} (default {default})")
    p.add_argument("--model", help="checkpoint (default: the bundled model)")
    if extra:
        extra(p)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    values = [float(x) for x in getattr(args, option.lstrip("-").replace("-", "_")).split(",")]
    return args, load_model(args.model).eval(), values
