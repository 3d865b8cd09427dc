"""Word n-gram language models: built from text with kaldingram (Kneser-Ney, entropy pruning,
ARPA out), checked, and turned into the character lexicon the beam search needs.

The default LM (asr/assets/lm/default-3gram.arpa.gz) is a pruned 3-gram over the public-domain
book sentences the synthetic corpora are read from, minus the sentences held out for their dev
sets; docs/language-model.md has its recipe and the order/pruning measurements.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asr.text import sentence_split, spoken_form
from asr.vocab import invalid_chars, normalize_text

__all__ = ["DEFAULT_BEAM_SIZE", "DEFAULT_BEAM_THRESHOLD", "DEFAULT_BLANK_PENALTY", "DEFAULT_LM", "DEFAULT_LM_WEIGHT",
           "LmError", "LmVocabulary", "build_lm", "lm_vocabulary", "resolve_lm", "write_lexicon"]

DEFAULT_LM = Path(__file__).parent.parent / "assets" / "lm" / "default-3gram.arpa.gz"
# The beam search's defaults, chosen at beam 256 on the two real dev sets (docs/language-model.md, "Blank penalty"):
# with the blank's log-probability lowered by 1.5, LM weight 2 is 4.7 WER points better than weight 1 without it on
# LJ002 and 5.3 on held-out speechocean762 speakers (run W's step 1781), 4.7 and 6.3 for version 9.
# (Without the penalty, weight 1 had been the better one on the real dev sets since version 6.)
DEFAULT_LM_WEIGHT = 2.0
DEFAULT_BLANK_PENALTY = 1.5
# The beam search's default width (hypotheses kept per frame). Measured on version 9 (docs/language-model.md, "Beam
# width on real speech"): 256 instead of 64 is 1.4 WER points better on LJ002, 0.7 on held-out speechocean762
# speakers and 2.8 on the LibriVox clips, at about 2.5x the search time; streaming at 100 ms stays far inside its
# RTF goal.
DEFAULT_BEAM_SIZE = 256
# Hypotheses more than this (natural log) below the best of their frame are dropped, whatever the beam width: a
# lower value is faster and loses words whose LM reward comes late. Measured on version 11 (docs/language-model.md,
# "Beam threshold"): 15 instead of flashlight's 25 gives the same WER (within 0.06) on every dev set, in about 30 %
# less search time; 10 costs 0.16-0.33 points, 5 about 5.
DEFAULT_BEAM_THRESHOLD = 15.0
SPECIAL = {"<s>", "</s>", "<unk>"}


class LmError(Exception):
    """An LM that cannot be used (missing, malformed, nothing spellable); the message is one line."""


def _open_text(path: Path, mode: str = "rt"):
    return gzip.open(path, mode, encoding="utf-8") if path.suffix == ".gz" else open(path, mode, encoding="utf-8")


def resolve_lm(spec: str | Path | None) -> Path | None:
    """'default' -> the bundled LM, 'none'/None -> no LM, else an existing file."""
    if spec is None or str(spec) == "none":
        return None
    path = DEFAULT_LM if str(spec) == "default" else Path(spec)
    if not path.is_file():
        raise LmError(f"{path}: language model not found")
    return path


@dataclass(frozen=True)
class LmVocabulary:
    words: tuple[str, ...]  # spellable words, as written in the LM (LibriSpeech style: uppercase)
    skipped: int  # unigrams our vocabulary cannot spell
    order: int


def lm_vocabulary(path: Path) -> LmVocabulary:
    """The unigrams of an ARPA file (plain or .gz), checked for the ARPA layout."""
    try:
        with _open_text(path) as fh:
            lines = iter(fh)
            header = next((ln.strip() for ln in lines if ln.strip()), "")
            if header != "\\data\\":
                raise LmError(f"{path}: not an ARPA language model (first line {header[:30]!r}, expected \\data\\)")
            order = 0
            for ln in lines:
                ln = ln.strip()
                if ln.startswith("ngram "):
                    order = max(order, int(ln.split()[1].split("=")[0]))
                elif ln == "\\1-grams:":
                    break
            else:
                raise LmError(f"{path}: malformed ARPA file (no \\1-grams: section)")
            words, skipped = [], 0
            for ln in lines:
                if ln.startswith("\\"):
                    break
                parts = ln.split()
                if len(parts) < 2 or parts[1] in SPECIAL:
                    continue
                word = parts[1]
                if invalid_chars(normalize_text(word)):
                    skipped += 1
                else:
                    words.append(word)
    except (OSError, EOFError, UnicodeDecodeError, ValueError, IndexError) as e:
        raise LmError(f"{path}: cannot read language model ({type(e).__name__}: {e})") from None
    if not words:
        raise LmError(f"{path}: none of the LM's words can be spelled with a-z and apostrophe")
    return LmVocabulary(tuple(words), skipped, order)


def write_lexicon(words, path: Path) -> None:
    """One line per word: the word, then its letters and the word separator '|' (flashlight format)."""
    with open(path, "w", encoding="utf-8") as fh:
        for w in words:
            fh.write(f"{w}\t{' '.join(normalize_text(w))} |\n")


def _normalised_corpus(text: Path, out, drop_heldout: bool) -> tuple[int, int]:
    """Write the sentences in their spoken form (asr.text.spoken_form, uppercase) to `out`; returns (kept, skipped)."""
    kept = skipped = 0
    with _open_text(text) as fh:
        for line in fh:
            if not line.strip():
                continue
            s = spoken_form(line)
            if not s:  # another script (None), or nothing left to say ("")
                skipped += 1
                continue
            if drop_heldout and sentence_split(s) != "train":
                skipped += 1
                continue
            out.write(s.upper() + "\n")
            kept += 1
    return kept, skipped


def build_lm(text: Path, out: Path, order: int = 3, prune: float | None = None,
             drop_heldout: bool = False) -> dict:
    """Train a Kneser-Ney `order`-gram on `text` (one sentence per line, plain or .gz), entropy-prune
    it with threshold `prune`, write ARPA to `out` (gzip when it ends in .gz). Lines with characters
    outside a-z/apostrophe/space are skipped and counted; with `drop_heldout` so are the sentences
    data.synth holds out for synthetic dev sets. Returns a summary dict."""
    from kaldingram import prune as kg_prune
    from kaldingram import train as kg_train

    if not 1 <= order <= 5:
        raise LmError(f"order must be 1-5, not {order}")
    if not Path(text).is_file():
        raise LmError(f"{text}: text file not found")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        corpus, arpa = Path(tmp) / "corpus.txt", Path(tmp) / "lm.arpa"
        with open(corpus, "w", encoding="utf-8") as fh:
            kept, skipped = _normalised_corpus(Path(text), fh, drop_heldout)
        if kept == 0:
            raise LmError(f"{text}: no usable sentences ({skipped} skipped)")
        kg_train.main(["--ngram-order", str(order), "--text", str(corpus), "--lm", str(arpa)])
        if prune:
            pruned = Path(tmp) / "pruned.arpa"
            kg_prune.main(["--threshold", str(prune), "--lm", str(arpa), "--write-lm", str(pruned), "--verbose", "3"])
            arpa = pruned
        final = Path(tmp) / ("lm.arpa.gz" if out.suffix == ".gz" else "final.arpa")
        if out.suffix == ".gz":
            with open(arpa, "rb") as src, gzip.open(final, "wb", compresslevel=9) as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        else:
            final = arpa
        os.replace(final, out)
    vocab = lm_vocabulary(out)
    return {"lm": str(out), "order": order, "prune": prune, "sentences": kept, "skipped_sentences": skipped,
            "words": len(vocab.words), "bytes": out.stat().st_size}
