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
from dataclasses import dataclass, replace

import torch

from asr.audio import SAMPLE_RATE
from asr.incremental import EncoderState, encode_chunk, initial_state
from asr.model import AcousticModel
from asr.vocab import BLANK, VOCAB

from .pcm import PcmStats, to_float_pcm

SPACE = VOCAB.index(" ")

__all__ = ["StreamConfig", "StreamState", "initial_stream_state", "step", "finish", "Recognizer"]


@dataclass(frozen=True)
class StreamConfig:
    trailing_silence: float = 0.8  # seconds of silent frames after speech that end an utterance
    max_utterance: float = 20.0  # longer utterances are cut at the next word boundary ...
    cut_gap: float = 0.25  # ... or the next run of this many seconds of silent frames


@dataclass(frozen=True)
class StreamState:
    encoder: EncoderState
    prev_token: int = BLANK  # greedy decoder carry: best token of the last frame
    text: str = ""  # current utterance, raw (spaces as decoded)
    start_frame: int = -1  # first frame of the current utterance's text (-1: none yet)
    last_char_frame: int = -1  # last frame that emitted a letter or apostrophe
    frames: int = 0  # model frames decoded so far
    byte_carry: bytes = b""  # odd byte of an int16 byte stream
    sanitised: PcmStats = PcmStats()


def initial_stream_state(model: AcousticModel) -> StreamState:
    return StreamState(encoder=initial_state(model))


def _event(kind: str, text: str, start: float, end: float) -> dict:
    return {"type": kind, "text": " ".join(text.split()), "start": round(start, 3), "end": round(end, 3)}


def _final(text: str, start_frame: int, last_char_frame: int, frame_s: float) -> dict:
    return _event("final", text, start_frame * frame_s, (last_char_frame + 1) * frame_s)


def _decode(state: StreamState, log_probs: torch.Tensor, cfg: StreamConfig, frame_s: float):
    """Greedy decoding with endpointing over new frames; returns (state, finals)."""
    finals = []
    text, prev, start, last, frame = state.text, state.prev_token, state.start_frame, state.last_char_frame, state.frames
    silence_frames = round(cfg.trailing_silence / frame_s)
    max_frames = round(cfg.max_utterance / frame_s)
    gap_frames = max(1, round(cfg.cut_gap / frame_s))
    for tok in log_probs.argmax(dim=-1).tolist():
        if tok != prev and tok != BLANK:
            if tok != SPACE and start < 0:
                start = frame
            text += VOCAB[tok]
        if tok != BLANK and tok != SPACE:
            last = frame  # a held letter is speech too, even though it is not emitted again
        prev = tok
        has_text = start >= 0
        ended = has_text and frame - last >= silence_frames
        too_long = has_text and frame - start >= max_frames and (tok == SPACE or frame - last >= gap_frames)
        if ended or too_long:
            finals.append(_final(text, start, last, frame_s))
            text, start, last = "", -1, -1
        frame += 1
    return replace(state, text=text, prev_token=prev, start_frame=start, last_char_frame=last, frames=frame), finals


def step(model: AcousticModel, state: StreamState, pcm, cfg: StreamConfig = StreamConfig(),
         final: bool = False) -> tuple[StreamState, list[dict]]:
    """Feed one chunk; return the new state and the events it caused. A chunk that cannot be
    converted raises TypeError and leaves `state` as it was (it is immutable)."""
    t0 = time.perf_counter()
    samples, carry, stats = to_float_pcm(pcm, state.byte_carry)
    encoder, log_probs = encode_chunk(model, state.encoder, samples, final=final)
    frame_s = model.config.frame_seconds
    before = state.text
    state = replace(state, encoder=encoder, byte_carry=carry, sanitised=state.sanitised + stats)
    state, events = _decode(state, log_probs, cfg, frame_s)
    if final and state.start_frame >= 0:
        events.append(_final(state.text, state.start_frame, state.last_char_frame, frame_s))
        state = replace(state, text="", start_frame=-1, last_char_frame=-1)
    elif state.text.strip() and (events or state.text != before):
        events.append(_event("partial", state.text, state.start_frame * frame_s, state.frames * frame_s))
    latency = round((time.perf_counter() - t0) * 1000, 2)
    for e in events:
        e["latency_ms"] = latency
    return state, events


def finish(model: AcousticModel, state: StreamState, cfg: StreamConfig = StreamConfig()):
    """End of stream: the last frames are computed (zero lookahead) and the last final emitted."""
    return step(model, state, torch.zeros(0), cfg, final=True)


class Recognizer:
    """Application object around `step`, in the shape of DeepSpeech's stream API and Vosk's results.

        rec = Recognizer(model)
        for chunk in microphone: events = rec.feed_audio(chunk); print(rec.partial)
        events = rec.finish()
    """

    def __init__(self, model: AcousticModel, config: StreamConfig = StreamConfig()) -> None:
        self.model, self.config = model, config
        self.state = initial_stream_state(model)

    def feed_audio(self, pcm) -> list[dict]:
        self.state, events = step(self.model, self.state, pcm, self.config)
        return events

    feedAudioContent = feed_audio  # DeepSpeech's name

    @property
    def partial(self) -> str:
        """Text of the current (not yet final) utterance; Vosk's PartialResult, DeepSpeech's intermediateDecode."""
        return " ".join(self.state.text.split())

    def intermediateDecode(self) -> str:
        return self.partial

    def finish(self) -> list[dict]:
        """Flush; the recognizer is ready for a new stream afterwards (reset)."""
        self.state, events = finish(self.model, self.state, self.config)
        self.reset()
        return events

    finishStream = finish

    def reset(self) -> None:
        self.state = initial_stream_state(self.model)

    @property
    def seconds(self) -> float:
        return self.state.encoder.samples_seen / SAMPLE_RATE
