"""Character vocabulary for CTC: blank, space, a-z, apostrophe.

Transcripts are normalised the LibriSpeech way (files hold UPPERCASE A-Z, apostrophe and single
spaces); the recognizer works in and prints lowercase.
"""
from __future__ import annotations

import re

BLANK = 0
VOCAB: tuple[str, ...] = ("<blank>", " ", *"abcdefghijklmnopqrstuvwxyz", "'")
_INDEX = {c: i for i, c in enumerate(VOCAB) if i != BLANK}

__all__ = ["BLANK", "VOCAB", "normalize_text", "encode", "decode_ids", "invalid_chars"]


def normalize_text(text: str) -> str:
    """Lowercase, collapse whitespace; characters are otherwise kept (check with invalid_chars)."""
    return re.sub(r"\s+", " ", text.strip().lower())


def invalid_chars(text: str) -> set[str]:
    """Characters of a normalised transcript that the vocabulary cannot spell."""
    return {c for c in text if c not in _INDEX}


def encode(text: str) -> list[int]:
    """Normalised text -> token ids. Raises KeyError on a character outside the vocabulary."""
    return [_INDEX[c] for c in text]


def decode_ids(ids) -> str:
    return "".join(VOCAB[i] for i in ids if i != BLANK)
