"""The `asr` command: the only place that sees argparse.

    main.py        the parser, wired from the command families below; entry() and main()
    common.py      what every family shares: one-line errors, loading a model, the decoding options
    recognise.py   transcribe, stream, live, devices
    corpora.py     synth, import, join, download, rirs
    training.py    train, eval, compare
    lm.py          lm build
    bench.py       bench, export
    benchmarks/    what `asr bench` measures (also used by train.compare's streaming measurement)

Each family builds its own subparsers and imports its heavy dependencies (torch, stream, train, data)
inside the handlers, so `asr transcribe` starts without them. This is the one room of asr/ that may
import stream, train and data.
"""
from .main import entry, main

__all__ = ["entry", "main"]
