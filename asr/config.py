"""The acoustic model's configuration, without torch (asr.runtime.lite runs models without importing it)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .audio import FRAMES_PER_SECOND, HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE
from .vocab import VOCAB

CELL_NAMES = ("gru", "lstm", "rnn")
DEFAULT_MODEL = Path(__file__).parent / "assets" / "default.pt"  # the bundled model
INT8_SCHEME = "int8-dynamic"  # int8 models and checkpoints (asr.runtime.quantize, asr.runtime.lite)

__all__ = ["CELL_NAMES", "DEFAULT_MODEL", "INT8_SCHEME", "ModelConfig", "ModelError"]


class ModelError(Exception):
    """A model file that cannot be used; the message is one line for the user (asr.checkpoint re-exports it)."""


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "gru"
    hidden: int = 320
    layers: int = 3
    stride: int = 3  # feature frames stacked into one model frame (30 ms)
    lookahead: int = 1  # future model frames seen by each output (0-2)
    dropout: float = 0.1
    n_mels: int = N_MELS
    vocab_size: int = len(VOCAB)
    # a floor on the log-mel features (natural log of mel power) above the front end's own (asr.audio.LOG_FLOOR,
    # log -17.0), applied by every runtime before the normaliser; None: the front end's floor only (models before
    # version 16). A model trained on digital silence filled with noise hears digital zeros as something else;
    # a higher floor makes zeros look like quiet (docs/default-model.md, "A floor stored with the model")
    feature_floor: float | None = None

    def __post_init__(self) -> None:
        if self.cell not in CELL_NAMES:
            raise ValueError(f"cell must be one of {sorted(CELL_NAMES)}, not {self.cell!r}")
        if not 0 <= self.lookahead <= 2:
            raise ValueError("lookahead must be 0, 1 or 2 model frames")
        if not 2 <= self.stride <= 4:
            raise ValueError("stride must be 2, 3 or 4")
        if self.feature_floor is not None and not -30.0 <= self.feature_floor <= 0.0:
            raise ValueError(f"feature floor must be between -30 and 0 (a natural log of mel power), "
                             f"not {self.feature_floor}")

    @property
    def frame_seconds(self) -> float:
        return self.stride / FRAMES_PER_SECOND

    @property
    def algorithmic_latency_ms(self) -> float:
        """Audio that must arrive after a sound before its output frame can be computed."""
        window_ms = 1000 * (N_FFT - HOP_LENGTH) / SAMPLE_RATE
        return window_ms + 1000 * self.frame_seconds * (1 + self.lookahead)
