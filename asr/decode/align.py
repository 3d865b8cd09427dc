"""Forced alignment: the word times of a known transcript on the model's CTC log-probs.

    words = forced_words(model, audio, "the quick brown fox")   # [{word, start, end, confidence}]

The transcript's characters (spaces included, as the model emits them) are aligned to the frames
with torchaudio's CTC forced alignment (Viterbi); frames are numbered as the recognizer numbers
them (asr.runtime.incremental, the whole audio as one chunk) and words are read from the aligned
characters by asr.decode.words, so the times mean what the recognizer's word times mean.
"""
from __future__ import annotations

import numpy as np
import torch

from asr.runtime.incremental import encode_chunk, initial_state
from asr.model import AcousticModel
from asr.vocab import BLANK, encode, normalize_text
from .words import emissions_from_path, words_from_emissions

__all__ = ["forced_words"]


def forced_words(model: AcousticModel, audio: np.ndarray | torch.Tensor, text: str,
                 delay_frames: float = 0.0) -> list[dict]:
    """Words of `text` (spelled with the vocabulary) timed on 16 kHz `audio`. Raises ValueError
    when the audio has too few frames for the transcript, KeyError for an unspellable character."""
    import torchaudio.functional as AF

    text = normalize_text(text)
    pcm = torch.as_tensor(audio, dtype=torch.float32)
    _, log_probs = encode_chunk(model, initial_state(model), pcm, final=True)  # T x V
    targets = encode(text)
    needed = len(targets) + sum(a == b for a, b in zip(targets, targets[1:]))  # a blank between repeats
    if not targets or log_probs.shape[0] < needed:
        raise ValueError(f"{log_probs.shape[0]} frames cannot hold the {len(targets)} characters of {text!r}")
    path, _ = AF.forced_align(log_probs[None].float(), torch.tensor([targets], dtype=torch.int32), blank=BLANK)
    emissions = emissions_from_path(path[0].tolist(), log_probs.float())
    return words_from_emissions(emissions, model.config.frame_seconds, delay_frames=delay_frames)
