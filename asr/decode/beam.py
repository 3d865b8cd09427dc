"""CTC beam search with a word n-gram LM and hot-words, on torchaudio's flashlight decoder.

    search = BeamSearch(DecoderConfig(decoder="beam", lm="default"))
    words, path = search.decode(log_probs)                      # one utterance, T x V
    search.begin(); search.step(lp1); search.step(lp2); search.partial_path(); words, path = search.end()

The lexicon is every word of the LM that a-z and apostrophe can spell (others are skipped and
counted), plus the hot-words. Hot-words get `boost` added to their log score (in the units of the
acoustic log-probabilities) every time the search ends a word that is one of them; a hot-word the LM
does not know is scored like the LM's rarest word before the boost. Without an LM the search is a
lexicon-free prefix beam search over characters.

A BeamSearch holds the state of one stream (flashlight's decoder is not copyable): streams that
run at the same time need one each.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .lm import (DEFAULT_BEAM_SIZE, DEFAULT_BEAM_THRESHOLD, DEFAULT_BLANK_PENALTY, DEFAULT_LM_WEIGHT, LmError,
                 lm_vocabulary, resolve_lm, write_lexicon)
from asr.runtime.native import quiet_native_stderr
from asr.vocab import BLANK, VOCAB, invalid_chars, normalize_text

__all__ = ["DecoderConfig", "BeamSearch", "load_hotwords", "HotwordError"]

TOKENS = ["<blank>", "|", *VOCAB[2:]]  # our vocabulary in flashlight's terms: '|' is the word separator
DEFAULT_BOOST = 4.0


class HotwordError(ValueError):
    """A hot-words file that cannot be used; one line for the user."""


@dataclass(frozen=True)
class DecoderConfig:
    decoder: str = "greedy"  # greedy | beam
    beam_size: int = DEFAULT_BEAM_SIZE
    beam_threshold: float = DEFAULT_BEAM_THRESHOLD  # drop hypotheses this far (log) below the best
    lm: str | None = "default"  # 'default' (bundled), 'none'/None, or an ARPA path (plain or .gz)
    lm_weight: float = DEFAULT_LM_WEIGHT
    word_score: float = 0.0
    blank_penalty: float = DEFAULT_BLANK_PENALTY  # subtracted from the blank's log-probability of every frame
    hotwords: tuple[tuple[str, float], ...] = ()  # (word, boost)


def load_hotwords(path: str | Path, default_boost: float = DEFAULT_BOOST) -> tuple[tuple[str, float], ...]:
    """Lines 'word or phrase [boost]'; each word of a phrase gets the boost. Words that cannot be
    spelled are skipped; a file with no usable word is an error."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise HotwordError(f"{path}: cannot read hot-words ({type(e).__name__})") from None
    boosts: dict[str, float] = {}
    skipped = 0
    for line in lines:
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        boost = default_boost
        if len(parts) > 1:
            try:
                boost = float(parts[-1])
                parts = parts[:-1]
            except ValueError:
                pass
        for w in parts:
            w = normalize_text(w)
            if invalid_chars(w):
                skipped += 1
            else:
                boosts[w] = max(boost, boosts.get(w, boost))
    if not boosts:
        raise HotwordError(f"{path}: no usable hot-words ({skipped} could not be spelled with a-z and ')")
    return tuple(boosts.items())


def _boosted_lm(kenlm, word_dict, boosts: dict[str, float], oov: set[str], lm_weight: float, floor: float):
    from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState

    ids = {word_dict.get_index(w.upper()): b / max(lm_weight, 1e-6) for w, b in boosts.items()}
    oov_ids = {word_dict.get_index(w.upper()) for w in oov}

    class BoostedLM(CTCDecoderLM):
        """KenLM with a bonus for hot-words; states are the KenLM states keyed by history."""

        def __init__(self) -> None:
            CTCDecoderLM.__init__(self)
            self.states: dict = {}

        def start(self, start_with_nothing: bool):
            self.states = {}
            state = CTCDecoderLMState()
            self.states[state] = kenlm.start(start_with_nothing)
            return state

        def score(self, state, usr_token_idx: int):
            child = state.child(usr_token_idx)
            kstate, s = kenlm.score(self.states[state], usr_token_idx)
            if usr_token_idx in oov_ids:
                s = floor
            self.states.setdefault(child, kstate)
            return child, s + ids.get(usr_token_idx, 0.0)

        def finish(self, state):
            child = state.child(-1)
            kstate, s = kenlm.finish(self.states[state])
            self.states.setdefault(child, kstate)
            return child, s

    return BoostedLM()


class BeamSearch:
    def __init__(self, cfg: DecoderConfig) -> None:
        from torchaudio.models.decoder import ctc_decoder

        self.cfg = cfg
        self.lm_path = resolve_lm(cfg.lm)
        self.skipped_words = 0
        self.frames = self.stream_frames = 0  # frames of the current utterance / of the stream
        common = dict(tokens=TOKENS, beam_size=cfg.beam_size, beam_threshold=cfg.beam_threshold,
                      lm_weight=cfg.lm_weight, blank_token="<blank>", sil_token="|", unk_word="<unk>")
        if self.lm_path is None:
            self.spells_words = False
            self.decoder = ctc_decoder(lexicon=None, lm=None, **common)
            return
        self.spells_words = True
        vocab = lm_vocabulary(self.lm_path)
        self.skipped_words = vocab.skipped
        boosts = dict(cfg.hotwords)
        known = {w.lower() for w in vocab.words}
        oov = {w for w in boosts if w not in known}
        with tempfile.TemporaryDirectory() as tmp:
            lexicon = Path(tmp) / "lexicon.txt"
            write_lexicon([*vocab.words, *(w.upper() for w in sorted(oov))], lexicon)
            try:
                with quiet_native_stderr():
                    self.decoder = self._build(lexicon, boosts, oov, vocab.words, common)
            except RuntimeError as e:  # KenLM's parse errors arrive as RuntimeError
                raise LmError(f"{self.lm_path}: cannot load language model ({str(e).splitlines()[0][:120]})") from None

    def _build(self, lexicon: Path, boosts: dict, oov: set, words, common: dict):
        from torchaudio.models.decoder import ctc_decoder

        lm = str(self.lm_path)
        if boosts:
            from flashlight.lib.text.decoder.kenlm import KenLM
            from flashlight.lib.text.dictionary import create_word_dict, load_words

            word_dict = create_word_dict(load_words(str(lexicon)))
            kenlm = KenLM(lm, word_dict)
            floor = self._unigram_floor(kenlm, word_dict, words)
            lm = _boosted_lm(kenlm, word_dict, boosts, oov, self.cfg.lm_weight, floor)
        return ctc_decoder(lexicon=str(lexicon), lm=lm, word_score=self.cfg.word_score, **common)

    @staticmethod
    def _unigram_floor(kenlm, word_dict, words, sample: int = 2000) -> float:
        start = kenlm.start(False)
        step = max(1, len(words) // sample)
        return min(kenlm.score(start, word_dict.get_index(w))[1] for w in words[::step])

    # --- one utterance at once -------------------------------------------------------------
    def decode(self, log_probs: torch.Tensor) -> tuple[list[str] | None, list[int]]:
        """T x V log-probs -> (words or None for lexicon-free, frame path of T tokens)."""
        self.begin()
        self.step(log_probs)
        return self.end()

    # --- streaming ---------------------------------------------------------------------------
    def begin(self, new_stream: bool = False) -> None:
        """Start a new utterance (and with `new_stream`, a new stream: the frame count restarts)."""
        self.decoder.decode_begin()
        self.frames = 0
        if new_stream:
            self.stream_frames = 0

    def step(self, log_probs) -> None:
        """Feed T x V log-probs (a tensor, or a numpy array from asr.runtime.lite)."""
        if log_probs.shape[0]:
            self.decoder.decode_step(self._penalise_blank(torch.as_tensor(log_probs).float()).contiguous())
            self.frames += log_probs.shape[0]
            self.stream_frames += log_probs.shape[0]

    def _penalise_blank(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Each frame's log-probs with the blank's lowered by `blank_penalty`, renormalised: the search then
        emits more letters (a frame-by-frame map, so streaming stays equal to the whole utterance)."""
        if not self.cfg.blank_penalty:
            return log_probs
        shifted = log_probs.clone()
        shifted[:, BLANK] -= self.cfg.blank_penalty
        return shifted.log_softmax(-1)

    def _best(self):
        results = self.decoder.decoder.get_all_final_hypothesis()
        return results[0] if results else None

    def partial_path(self) -> list[int]:
        """The best hypothesis's frame path so far (its last word may be unfinished)."""
        best = self._best()
        return [] if best is None else list(best.tokens)[1: self.frames + 1]

    def end(self) -> tuple[list[str] | None, list[int]]:
        self.decoder.decode_end()
        best = self._best()
        if best is None:
            return ([] if self.spells_words else None), [BLANK] * self.frames
        path = list(best.tokens)[1: self.frames + 1]
        words = None
        if self.spells_words:
            words = [self.decoder.word_dict.get_entry(x).lower() for x in best.words if x >= 0]
        return words, path
