"""Showing recognition events: on a terminal the partial hypothesis updates in place and each final
gets its own line; `jsonl` prints every event as one JSON object per line, flushed at once."""
from __future__ import annotations

import json
import sys
from typing import TextIO

__all__ = ["EventPrinter"]


class EventPrinter:
    def __init__(self, fmt: str = "text", out: TextIO | None = None) -> None:
        self.fmt = fmt
        self.out = out or sys.stdout
        self.live_line = self.fmt == "text" and self.out.isatty()
        self.shown = ""  # partial text currently on the terminal line

    def __call__(self, events: list[dict]) -> None:
        for e in events:
            if self.fmt == "jsonl":
                self.out.write(json.dumps(e) + "\n")
            elif e["type"] == "final":
                self._clear()
                if e["text"]:
                    self.out.write(e["text"] + "\n")
            elif self.live_line:
                self._clear()
                self.out.write(e["text"])
                self.shown = e["text"]
        self.out.flush()

    def _clear(self) -> None:
        if self.shown:
            self.out.write("\r\033[K")
            self.shown = ""

    def close(self) -> None:
        self._clear()
        self.out.flush()
