"""Streaming recognition: a pure step function over an immutable state, and a Recognizer object."""
from .pcm import PcmStats, to_float_pcm
from .recognizer import Recognizer, StreamConfig, StreamState, finish, initial_stream_state, step

__all__ = ["PcmStats", "Recognizer", "StreamConfig", "StreamState", "finish", "initial_stream_state", "step",
           "to_float_pcm"]
