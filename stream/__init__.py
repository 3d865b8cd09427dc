"""Streaming recognition: a pure step function over an immutable state, and the sources that feed it.

    recognizer    StreamState, step/finish, endpointing, the Recognizer object for applications
    pcm           any PCM (bytes, int16, float) -> float32
    transcribe    a file as a stream in blocks: `asr transcribe`'s offline path
    file_stream   a file paced like a microphone: `asr stream`
    microphone    the microphone (sounddevice, imported only when opened): `asr live`
    display       the terminal output of partials and finals

Imports asr (core, decode, runtime); never train or data.
"""
from .pcm import PcmStats, to_float_pcm
from .recognizer import Recognizer, StreamConfig, StreamState, finish, initial_stream_state, step

__all__ = ["PcmStats", "Recognizer", "StreamConfig", "StreamState", "finish", "initial_stream_state", "step",
           "to_float_pcm"]
