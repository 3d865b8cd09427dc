"""Greedy CTC decoding: best token per frame, repeats collapsed, blanks removed."""
from __future__ import annotations

import numpy as np

from asr.vocab import BLANK, VOCAB

__all__ = ["decode_path", "greedy_decode", "greedy_step"]


def greedy_step(log_probs, prev: int = BLANK) -> tuple[str, int]:
    """Decode T x V frames (a tensor or a numpy array) that follow a frame whose best token was
    `prev`; returns (text, last token).

    Chained over chunks it gives exactly the text of decoding all frames at once.
    """
    if log_probs.shape[0] == 0:
        return "", prev
    best = np.asarray(log_probs).argmax(axis=-1).tolist()
    return decode_path(best, prev), best[-1]


def greedy_decode(log_probs, lens) -> list[str]:
    """B x T x V log-probs with valid lengths B -> one transcript per utterance."""
    return [" ".join(greedy_step(lp[: int(n)])[0].split()) for lp, n in zip(log_probs, lens)]


def decode_path(path: list[int], prev: int = BLANK) -> str:
    """A frame path (one token per frame) following a frame whose token was `prev` -> its text:
    repeats collapsed, blanks removed."""
    chars = []
    for tok in path:
        if tok != prev and tok != BLANK:
            chars.append(VOCAB[tok])
        prev = tok
    return "".join(chars)
