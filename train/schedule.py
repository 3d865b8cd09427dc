"""Learning rate: linear warm-up, then cosine decay to 5% of the peak over the run's budget (steps,
or wall-clock minutes when --max-minutes is the tighter one). Its state is the elapsed time of
earlier sessions, so a resumed run continues the same curve."""
from __future__ import annotations

import math
import time

__all__ = ["LRSchedule"]


class LRSchedule:
    def __init__(self, peak: float, warmup_steps: int, total_steps: int, max_minutes: float | None = None) -> None:
        self.peak, self.warmup_steps, self.total_steps, self.max_minutes = peak, warmup_steps, total_steps, max_minutes
        self.earlier_minutes = 0.0  # training time of sessions before a resume
        self._start = time.time()

    def minutes(self) -> float:
        return self.earlier_minutes + (time.time() - self._start) / 60

    def exclude(self, seconds: float) -> None:
        """Do not count `seconds` just spent (e.g. evaluating) as training time."""
        self._start += seconds

    def progress(self, step: int) -> float:
        frac = step / max(1, self.total_steps)
        if self.max_minutes:
            frac = max(frac, self.minutes() / self.max_minutes)
        return min(1.0, frac)

    def lr(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.peak * (step + 1) / self.warmup_steps
        return self.peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * self.progress(step))))

    def state_dict(self) -> dict:
        return {"minutes": self.minutes()}

    def load_state_dict(self, state: dict) -> None:
        self.earlier_minutes = float(state["minutes"])
        self._start = time.time()
