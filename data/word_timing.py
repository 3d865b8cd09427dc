"""Speech with the synthesizer's own word timing: espeak-ng through its C library (ctypes).

    speech = espeak_words("the quick brown fox", voice="en-us+m5", rate=160, pitch=50)
    speech.audio   # 16 kHz mono float32
    speech.words   # (("the", 0.0), ("quick", 0.153), ...): word, onset in seconds (or None)

The command-line espeak-ng writes audio only; the library also reports where each word starts.
espeak-ng is run in AUDIO_OUTPUT_SYNCHRONOUS mode: espeak_Synth returns when the text is spoken,
and the callback has received every block of samples (22050 Hz int16) with its events. A WORD
event gives the word's place in the text (1-based character position and length) and its onset in
the output (audio_position, milliseconds from the start of this text). The types and the layout of
espeak_EVENT follow espeak-ng's src/include/espeak-ng/speak_lib.h (API revision 12).

The text is spoken as the espeak-ng command speaks it (a voice file name, else a language, with an
optional +variant; a sentence pause at the end): the first text of a process gives the command's
samples exactly. The library keeps some state from one text to the next (later texts can differ by
a few milliseconds of duration), so the output depends on what the process spoke before; the same
sequence of calls gives the same output. The state is global, so calls are serialised by a lock.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

__all__ = ["LIBRARY", "WordTimingError", "TimedSpeech", "espeak_words"]

LIBRARY = "libespeak-ng.so.1"
SAMPLE_RATE = 16000

# speak_lib.h
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # without it, espeak_Initialize ends the process when its data is missing
EVENT_LIST_TERMINATED, EVENT_WORD = 0, 1
POS_CHARACTER = 1
CHARS_UTF8, ENDPAUSE = 1, 0x1000
RATE, PITCH = 1, 3
EE_OK = 0


class WordTimingError(Exception):
    """Word-timed speech cannot be made; the message is one line and says why."""


@dataclass(frozen=True)
class TimedSpeech:
    audio: np.ndarray  # 16 kHz mono float32
    words: tuple[tuple[str, float | None], ...]  # (word, onset in seconds or None), one per word


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Voice(ctypes.Structure):  # espeak_VOICE
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


class _Event(ctypes.Structure):  # espeak_EVENT
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Espeak:
    """The loaded library, initialised once, with the callback that collects one text's output."""

    def __init__(self, name: str) -> None:
        try:
            lib = ctypes.CDLL(name)
        except OSError as e:
            raise WordTimingError(f"cannot load {name} ({e}); install espeak-ng: sudo apt-get install "
                                  "libespeak-ng1") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        self.rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_DONT_EXIT)
        if self.rate <= 0:
            raise WordTimingError(f"{name}: espeak_Initialize failed (no espeak-ng-data?)")
        data = ctypes.c_char_p()
        lib.espeak_Info(ctypes.byref(data))
        self.data = Path(data.value.decode()) if data.value else None
        self.lib, self.lock = lib, threading.Lock()
        self.samples: list[np.ndarray] = []
        self.events: list[tuple[int, int, int]] = []  # (text_position, length, audio_position ms)
        self.callback = _CALLBACK(self._collect)  # kept referenced: the library holds only the pointer
        lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav, n, events) -> int:
        if wav and n > 0:
            self.samples.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == EVENT_WORD:
                self.events.append((e.text_position, e.length, e.audio_position))
            i += 1
        return 0  # continue

    def set_voice(self, voice: str) -> None:
        variant = voice.partition("+")[2]
        # espeak-ng accepts an unknown variant silently (and speaks without it): check the file
        if variant and self.data is not None and not (self.data / "voices" / "!v" / variant).is_file():
            raise WordTimingError(f"espeak-ng voice variant not found: {variant!r} (in {voice!r})")
        # as the espeak-ng command does for -v: a voice file name ("en-us"), else a language ("en-gb")
        if (self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK
                and self.lib.espeak_SetVoiceByProperties(ctypes.byref(_Voice(languages=voice.encode()))) != EE_OK):
            raise WordTimingError(f"espeak-ng voice not found: {voice!r} (see espeak-ng --voices)")

    def synth(self, text: str) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        self.samples, self.events = [], []
        data = text.encode("utf-8") + b"\0"
        status = self.lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, CHARS_UTF8 | ENDPAUSE, None, None)
        if status != EE_OK:
            raise WordTimingError(f"espeak_Synth failed with status {status}")
        audio = np.concatenate(self.samples) if self.samples else np.zeros(0, np.int16)
        return audio, self.events


_loaded: dict[str, _Espeak] = {}
_load_lock = threading.Lock()


def _espeak(library: str) -> _Espeak:
    with _load_lock:
        if library not in _loaded:
            _loaded[library] = _Espeak(library)
        return _loaded[library]


def espeak_words(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                 library: str = LIBRARY) -> TimedSpeech:
    """`text` spoken by espeak-ng `voice` ("en-gb", "en-us+m5", ...) at `rate` words per minute
    (80-450) and `pitch` (0-100), with the onset of every word (None for a word that espeak-ng joins
    to the one before, as in "in the"). The text is lowercased (espeak-ng spells out words in
    capitals). Raises WordTimingError when the library or the voice is missing."""
    text = " ".join(text.lower().split())
    engine = _espeak(library)
    with engine.lock:
        engine.set_voice(voice)
        engine.lib.espeak_SetParameter(RATE, int(rate), 0)
        engine.lib.espeak_SetParameter(PITCH, int(pitch), 0)
        samples, events = engine.synth(text)
    audio = samples.astype(np.float32) / 32768.0
    audio = soxr.resample(audio, engine.rate, SAMPLE_RATE).astype(np.float32) if len(audio) else audio
    return TimedSpeech(audio, _word_onsets(text, events))


def _word_onsets(text: str, events: list[tuple[int, int, int]]) -> tuple[tuple[str, float | None], ...]:
    """One (word, onset) per space-separated word of `text`, from WORD events.

    An event's length is not the word's (it stops at an apostrophe: "don't" has length 3), so a
    word is found by the character its event points at. espeak-ng also sends a WORD event at
    position 0 at the end of some texts, which belongs to no word: it is dropped. Some word pairs
    are spoken as one word with one event ("in the"): the second word's onset is None."""
    spans, pos = [], 0
    for word in text.split(" ") if text else []:
        spans.append((pos, pos + len(word)))
        pos += len(word) + 1
    onsets: dict[int, float] = {}
    for position, _, ms in events:
        k = next((i for i, (a, b) in enumerate(spans) if a <= position - 1 < b), None)
        if k is not None and all(k > j for j in onsets):
            onsets[k] = ms / 1000.0
    return tuple((text[a:b], onsets.get(i)) for i, (a, b) in enumerate(spans))
