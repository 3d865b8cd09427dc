"""The streaming recognizer: a pure step function over an immutable state, and a thin object for
applications.

    state = initial_stream_state(model)
    state, events = step(model, state, pcm)        # any chunk size, bytes/int16/float
    state, events = finish(model, state)           # flush lookahead and the last final

Events are dicts: {"type": "partial"|"final", "text", "start", "end", "latency_ms"}; times in
seconds from the start of the stream, latency_ms the compute time of the chunk that produced it.

Endpointing works on the decoded frames: a model frame is "silent" when its best token is the CTC
blank or a space. After `trailing_silence` seconds of silent frames following some text, the
utterance is final. An utterance longer than `max_utterance` seconds is cut at the next word
boundary (a decoded space) or short pause (`cut_gap`). The recurrent state is never reset at an endpoint, so the finals of a stream, joined with
spaces, are exactly the offline transcript, whatever the chunking.
"""
from __future__ import annotations

import time
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.decode.greedy import decode_path
from asr.runtime import encode, initial_encoder_state
from asr.vocab import BLANK, VOCAB
from asr.decode.words import Emission, emissions_from_path, utterance_confidence, words_from_emissions

from .pcm import PcmStats, to_float_pcm

if TYPE_CHECKING:  # torch is imported only for models that need it (asr.runtime.lite runs without)
    from asr.decode.beam import BeamSearch
    from asr.runtime.incremental import EncoderState
    from asr.runtime.lite import LiteState
    from asr.model import AcousticModel

SPACE = VOCAB.index(" ")

__all__ = ["StreamConfig", "StreamState", "initial_stream_state", "step", "finish", "Recognizer"]


@dataclass(frozen=True)
class StreamConfig:
    trailing_silence: float = 0.8  # seconds of silent frames after speech that end an utterance
    max_utterance: float = 20.0  # longer utterances are cut at the next word boundary ...
    cut_gap: float = 0.25  # ... or the next run of this many seconds of silent frames
    # emission delay (model frames) subtracted from word and utterance times; None: the model's own,
    # measured by bench/timestamps.py and stored in its checkpoint (meta "emission_delay_frames")
    delay_frames: float | None = None


def emission_delay(model, cfg: StreamConfig) -> float:
    if cfg.delay_frames is not None:
        return cfg.delay_frames
    return float(getattr(model, "meta", {}).get("emission_delay_frames", 0.0))


@dataclass(frozen=True)
class StreamState:
    encoder: EncoderState | LiteState
    prev_token: int = BLANK  # greedy carry: best token of the last frame
    text: str = ""  # current utterance, raw (spaces as decoded)
    emissions: tuple[Emission, ...] = ()  # greedy characters of `text`, with frames and posteriors
    start_frame: int = -1  # first frame of the current utterance's text (-1: none yet)
    last_char_frame: int = -1  # last frame that emitted a letter or apostrophe
    frames: int = 0  # model frames decoded so far
    byte_carry: bytes = b""  # odd byte of an int16 byte stream
    sanitised: PcmStats = PcmStats()
    # beam search (asr.decode.beam): the search object is mutable and belongs to this stream alone; the
    # state keeps the log-probs of the current utterance (for word posteriors) and where it began
    beam: BeamSearch | None = field(default=None, compare=False)
    segment_start: int = 0
    segment_log_probs: tuple = field(default=(), compare=False)  # T x V tensors or arrays


def initial_stream_state(model: AcousticModel, beam: BeamSearch | None = None) -> StreamState:
    """A new stream; with `beam` (reused across streams, one stream at a time) finals and partials
    come from the beam search, otherwise from greedy decoding."""
    if beam is not None:
        beam.begin(new_stream=True)
    return StreamState(encoder=initial_encoder_state(model), beam=beam)


def _event(kind: str, text: str, start: float, end: float) -> dict:
    return {"type": kind, "text": " ".join(text.split()), "start": round(start, 3), "end": round(end, 3)}


def _final(text: str, start_frame: int, last_char_frame: int, frame_s: float, words: list[dict],
           delay: float = 0.0) -> dict:
    start = max(0.0, (start_frame - delay) * frame_s)
    event = _event("final", text, start, max(start, (last_char_frame + 1 - delay) * frame_s))
    event["words"] = words
    event["confidence"] = utterance_confidence(words)
    return event


def _with(state: StreamState, **changes) -> StreamState:
    """`dataclasses.replace` for the per-chunk update, without its per-call field introspection
    (StreamState has no __post_init__ to run): 1.2 us instead of 5.8 us warm, more in a cold stream."""
    new = object.__new__(StreamState)
    new.__dict__.update(state.__dict__, **changes)
    return new


def _decode(state: StreamState, log_probs, cfg: StreamConfig, frame_s: float, delay: float = 0.0):
    """Greedy decoding with endpointing over new frames; returns (state, finals, end frames of the
    finals within this chunk)."""
    finals, cuts = [], []
    text, prev, start, last, frame = state.text, state.prev_token, state.start_frame, state.last_char_frame, state.frames
    emissions = list(state.emissions)
    silence_frames = round(cfg.trailing_silence / frame_s)
    max_frames = round(cfg.max_utterance / frame_s)
    gap_frames = max(1, round(cfg.cut_gap / frame_s))
    scores = np.asarray(log_probs)  # numpy's argmax on a few rows costs a tenth of a tensor max() call
    best = scores.argmax(axis=-1)
    best_lp = scores[np.arange(len(best)), best]
    for i, (tok, lp) in enumerate(zip(best.tolist(), best_lp.tolist())):
        if tok != prev and tok != BLANK:
            if tok != SPACE and start < 0:
                start = frame
            text += VOCAB[tok]
            emissions.append(Emission(tok, frame, frame, math.exp(lp)))
        elif tok == prev and tok != BLANK and emissions:
            e = emissions[-1]
            emissions[-1] = Emission(e.token, e.start, frame, e.prob)
        if tok != BLANK and tok != SPACE:
            last = frame  # a held letter is speech too, even though it is not emitted again
        prev = tok
        has_text = start >= 0
        ended = has_text and frame - last >= silence_frames
        too_long = has_text and frame - start >= max_frames and (tok == SPACE or frame - last >= gap_frames)
        if ended or too_long:
            finals.append(_final(text, start, last, frame_s,
                                 words_from_emissions(emissions, frame_s, delay_frames=delay), delay))
            cuts.append(i + 1)
            text, start, last, emissions = "", -1, -1, []
        frame += 1
    state = _with(state, text=text, prev_token=prev, start_frame=start, last_char_frame=last, frames=frame,
                    emissions=tuple(emissions))
    return state, finals, cuts


def _beam_segment_end(state: StreamState, greedy_final: dict, frame_s: float, delay: float) -> dict:
    """The final of the beam segment that just ended, over the span the greedy endpointer found."""
    words, path = state.beam.end()
    pieces = [np.asarray(p) for p in state.segment_log_probs]
    lp = np.concatenate(pieces) if pieces else np.zeros((0, len(VOCAB)), np.float32)
    timed = words_from_emissions(emissions_from_path(path, lp, state.segment_start), frame_s, spellings=words,
                                 delay_frames=delay)
    event = _event("final", " ".join(w["word"] for w in timed), greedy_final["start"], greedy_final["end"])
    event["words"], event["confidence"] = timed, utterance_confidence(timed)
    return event


def _beam_decode(state: StreamState, log_probs, finals: list[dict], cuts: list[int],
                 frame_s: float, delay: float, end_of_stream: bool):
    """Feed the chunk to the beam search, ending a beam segment at every endpoint the greedy pass found."""
    beam, done, pos = state.beam, [], 0
    for final, cut in zip(finals, cuts):
        piece = log_probs[pos:cut]
        beam.step(piece)
        state = replace(state, segment_log_probs=state.segment_log_probs + (piece,))
        done.append(_beam_segment_end(state, final, frame_s, delay))
        beam.begin()
        state = replace(state, segment_start=state.frames - (log_probs.shape[0] - cut), segment_log_probs=())
        pos = cut
    rest = log_probs[pos:]
    beam.step(rest)
    state = replace(state, segment_log_probs=state.segment_log_probs + (rest,))
    if end_of_stream:
        if state.start_frame >= 0:
            span = _final("", state.start_frame, state.last_char_frame, frame_s, [], delay)
            done.append(_beam_segment_end(state, span, frame_s, delay))
        else:
            beam.end()
        beam.begin()
        state = replace(state, segment_start=state.frames, segment_log_probs=(), text="", start_frame=-1,
                        last_char_frame=-1, emissions=())
    return state, done


def _beam_partial(state: StreamState) -> str:
    return decode_path(state.beam.partial_path())


def step(model: AcousticModel, state: StreamState, pcm, cfg: StreamConfig = StreamConfig(),
         final: bool = False) -> tuple[StreamState, list[dict]]:
    """Feed one chunk; return the new state and the events it caused. A chunk that cannot be
    converted raises TypeError and leaves `state` as it was (it is immutable; with beam search,
    only the latest state of a stream can be stepped, since the search cannot branch)."""
    t0 = time.perf_counter()
    if state.beam is not None and state.beam.stream_frames != state.frames:
        raise RuntimeError("stale stream state: a beam-search stream can only go on from its latest state")
    samples, carry, stats = to_float_pcm(pcm, state.byte_carry)
    encoder, log_probs = encode(model, state.encoder, samples, final)
    state = _with(state, encoder=encoder, byte_carry=carry, sanitised=state.sanitised + stats)
    if not log_probs.shape[0] and not final:  # no new frame: nothing to decode (most 20 ms chunks)
        return state, []
    frame_s = model.config.frame_seconds
    before = state.text
    delay = emission_delay(model, cfg)
    state, events, cuts = _decode(state, log_probs, cfg, frame_s, delay)
    if state.beam is not None:
        state, events = _beam_decode(state, log_probs, events, cuts, frame_s, delay, final)
    else:
        if final and state.start_frame >= 0:
            events.append(_final(state.text, state.start_frame, state.last_char_frame, frame_s,
                                 words_from_emissions(list(state.emissions), frame_s, delay_frames=delay), delay))
            state = replace(state, text="", start_frame=-1, last_char_frame=-1, emissions=())
    if not final and state.text.strip() and (events or state.text != before):
        partial = _beam_partial(state) if state.beam is not None else state.text
        events.append(_event("partial", partial, state.start_frame * frame_s, state.frames * frame_s))
    latency = round((time.perf_counter() - t0) * 1000, 2)
    for e in events:
        e["latency_ms"] = latency
    return state, events


def finish(model: AcousticModel, state: StreamState, cfg: StreamConfig = StreamConfig()):
    """End of stream: the last frames are computed (zero lookahead) and the last final emitted."""
    return step(model, state, np.zeros(0, np.float32), cfg, final=True)


class Recognizer:
    """Application object around `step`, in the shape of DeepSpeech's stream API and Vosk's results.

        rec = Recognizer(model)
        for chunk in microphone: events = rec.feed_audio(chunk); print(rec.partial)
        events = rec.finish()
    """

    def __init__(self, model: AcousticModel, config: StreamConfig = StreamConfig(),
                 beam: BeamSearch | None = None) -> None:
        self.model, self.config, self.beam = model, config, beam
        self.state = initial_stream_state(model, beam)

    def feed_audio(self, pcm) -> list[dict]:
        self.state, events = step(self.model, self.state, pcm, self.config)
        return events

    feedAudioContent = feed_audio  # DeepSpeech's name

    @property
    def partial(self) -> str:
        """Text of the current (not yet final) utterance; Vosk's PartialResult, DeepSpeech's intermediateDecode."""
        text = _beam_partial(self.state) if self.beam is not None else self.state.text
        return " ".join(text.split())

    def intermediateDecode(self) -> str:
        return self.partial

    def finish(self) -> list[dict]:
        """Flush; the recognizer is ready for a new stream afterwards (reset)."""
        self.state, events = finish(self.model, self.state, self.config)
        self.reset()
        return events

    finishStream = finish

    def reset(self) -> None:
        self.state = initial_stream_state(self.model, self.beam)

    @property
    def seconds(self) -> float:
        return self.state.encoder.samples_seen / SAMPLE_RATE
