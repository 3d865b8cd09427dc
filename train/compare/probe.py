"""A controlled long-range dependency on speech: name the keyword heard G seconds ago.

Each example: 0-0.25 s of faint white noise (-50 dBFS), one of K spoken keywords (espeak-ng, training
voices of all accents, random rate and pitch), then G seconds of the same faint noise. A classifier made
of the recognizer's own front end and recurrent cell (asr.model.AcousticModel with K outputs, one layer,
no lookahead) is trained to name the keyword at every frame after the word has ended, and scored on
held-out clips at the LAST frame: the word must be remembered across G seconds of noise. One classifier
per cell and gap, at matched parameter counts, the same clips, noise, seed and number of steps; chance
is 1/K.

Why every frame after the word, not only the last one: with the loss at the last frame alone, no cell
learned even a 0.5 s gap in this budget (hundreds of steps): the gradient has to cross the whole gap at
initialisation, where it has vanished for all three cells (see train.compare.gradflow's untrained curves). With
the loss on every later frame, what is learned from short-range gradients is whether the state can HOLD
the word: a gate that keeps the state (GRU update gate, LSTM forget gate) or, for the vanilla RNN,
dynamics that must learn to preserve it through repeated tanh steps.

Features are computed once: each clip with its own faint noise, and a long stretch of noise from which
the lead and the gap of every example are cut at random offsets, anew for every batch: otherwise a
classifier learns the training examples by their noise at the last frames (100% on training, chance on
held-out clips) instead of remembering the word.
"""
from __future__ import annotations

import random
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from asr.audio import FRAMES_PER_SECOND, SAMPLE_RATE
from asr.features import LogMel
from asr.model import AcousticModel, ModelConfig, count_parameters

from .plan import solve_hidden

__all__ = ["WORDS", "NOISE_LEVEL", "ProbeConfig", "synthesize_clips", "Examples", "train_classifier",
           "run_probe", "probe_stage"]

WORDS = ("yes", "no", "up", "down", "left", "right", "stop", "go")
NOISE_DBFS = -50.0
NOISE_LEVEL = 10 ** (NOISE_DBFS / 20)  # standard deviation of the white noise around and after the keyword
NOISE_POOL_SECONDS = 60.0
MAX_LEAD_FRAMES = 25  # 0.25 s


@dataclass(frozen=True)
class ProbeConfig:
    gaps: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds of noise between the keyword and the answer
    words: tuple[str, ...] = WORDS
    clips_per_word: int = 40  # 3/4 for training, 1/4 held out
    params: int = 40_000  # parameter budget of each classifier (hidden size solved per cell)
    epochs: int = 30
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0

    def scaled(self, scale: float) -> "ProbeConfig":
        """Fewer clips and epochs (at least 4 clips per word, 2 epochs): scale 1 is the default size."""
        return replace(self, clips_per_word=max(4, round(self.clips_per_word * scale)),
                       epochs=max(2, round(self.epochs * scale)))


def synthesize_clips(cfg: ProbeConfig) -> list[tuple[int, np.ndarray]]:
    """(word index, 16 kHz float32 samples) for clips_per_word renders of each word: espeak-ng training voices
    of all accents and timbres, random rate/pitch/range, deterministic for the seed."""
    import soxr

    from data.voices import available_voices, draw_params, render

    voices = [v for v in available_voices(("espeak",)) if not v.heldout]
    rng = random.Random(cfg.seed)
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(cfg.clips_per_word):
            for k, word in enumerate(cfg.words):
                voice = rng.choice(voices)
                audio, sr = render(voice, word, draw_params(voice, rng), Path(tmp))
                clips.append((k, soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)))
    return clips


class Examples:
    """Log-mel features of the clips (each with its own faint noise) and of a long stretch of noise; batches
    of examples with a lead and a gap cut from the noise at random offsets."""

    def __init__(self, clips: list[tuple[int, np.ndarray]], seed: int) -> None:
        g = np.random.default_rng(seed)
        logmel = LogMel()

        def feats(samples: np.ndarray) -> torch.Tensor:
            noisy = samples + g.standard_normal(len(samples)).astype(np.float32) * NOISE_LEVEL
            with torch.no_grad():
                return logmel(torch.from_numpy(np.clip(noisy, -1, 1))[None])[0]  # T x n_mels

        self.labels = torch.tensor([k for k, _ in clips])
        self.clips = [feats(c) for _, c in clips]
        self.noise = feats(np.zeros(int(NOISE_POOL_SECONDS * SAMPLE_RATE), np.float32))

    def __len__(self) -> int:
        return len(self.clips)

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        frames = torch.cat(self.clips)
        return frames.mean(0), frames.std(0)

    def _noise(self, n: int, g: torch.Generator) -> torch.Tensor:
        start = int(torch.randint(0, len(self.noise) - n + 1, (1,), generator=g))
        return self.noise[start: start + n]

    def batch(self, idx: torch.Tensor, gap: float, stride: int, g: torch.Generator):
        """-> features B x T x n_mels, feature lengths B, labels B, first model frame after the word B."""
        parts, ends = [], []
        for i in idx.tolist():
            lead = self._noise(int(torch.randint(0, MAX_LEAD_FRAMES + 1, (1,), generator=g)), g)
            parts.append(torch.cat([lead, self.clips[i], self._noise(round(gap * FRAMES_PER_SECOND), g)]))
            ends.append(-(-(len(lead) + len(self.clips[i])) // stride))
        lens = torch.tensor([len(p) for p in parts])
        return pad_sequence(parts, batch_first=True), lens, self.labels[idx], torch.tensor(ends)


def train_classifier(cell: str, hidden: int, train: Examples, test: Examples, gap: float, cfg: ProbeConfig) -> dict:
    """One classifier for one gap; returns held-out and training accuracy (last frame), parameters, time."""
    torch.manual_seed(cfg.seed)
    model = AcousticModel(ModelConfig(cell=cell, hidden=hidden, layers=1, lookahead=0, dropout=0.0,
                                      vocab_size=len(cfg.words)))
    model.normalizer.set_stats(*train.stats())  # the same statistics for every gap and cell
    stride = model.config.stride
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    t0, steps = time.perf_counter(), 0
    model.train()
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(train), generator=g).split(cfg.batch_size):
            feats, lens, labels, ends = train.batch(idx, gap, stride, g)
            log_probs, out_lens, _ = model(feats, lens, return_state=False)  # B x T' x K
            t = torch.arange(log_probs.shape[1])[None, :]
            after = (t >= ends[:, None]) & (t < out_lens[:, None])  # B x T': frames after the word
            nll = -log_probs.gather(2, labels[:, None, None].expand(-1, log_probs.shape[1], 1))[..., 0]
            loss = (nll * after).sum() / after.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            steps += 1
    seconds = time.perf_counter() - t0
    return {"accuracy": _accuracy(model, test, gap, cfg.seed + 1), "train_accuracy": _accuracy(model, train, gap, 2),
            "final_loss": round(float(loss.detach()), 4), "steps": steps, "seconds": round(seconds, 1),
            "params": count_parameters(model)}


@torch.no_grad()
def _accuracy(model: AcousticModel, examples: Examples, gap: float, seed: int) -> float:
    model.eval()
    g = torch.Generator().manual_seed(seed)
    feats, lens, labels, _ = examples.batch(torch.arange(len(examples)), gap, model.config.stride, g)
    log_probs, out_lens, _ = model(feats, lens, return_state=False)
    last = log_probs[torch.arange(len(lens)), out_lens - 1]  # B x K: the answer after the whole gap
    return round(float((last.argmax(-1) == labels).float().mean()), 4)


def run_probe(cfg: ProbeConfig, say=print) -> dict:
    clips = synthesize_clips(cfg)
    order = random.Random(cfg.seed + 1).sample(range(len(clips)), len(clips))
    n_test = max(len(cfg.words), len(clips) // 4)
    test = Examples([clips[i] for i in order[:n_test]], cfg.seed + 1)
    train = Examples([clips[i] for i in order[n_test:]], cfg.seed + 2)
    base = ModelConfig(layers=1, lookahead=0, vocab_size=len(cfg.words))
    hidden = {cell: solve_hidden(cell, cfg.params, base) for cell in ("gru", "lstm", "rnn")}
    out = {"config": asdict(cfg), "train_clips": len(train), "test_clips": len(test), "chance": 1 / len(cfg.words),
           "noise_dbfs": NOISE_DBFS, "supervision": "every frame after the word; scored at the last frame",
           "cells": {cell: {"hidden": h, "results": []} for cell, h in hidden.items()}}
    for gap in cfg.gaps:
        for cell, h in hidden.items():
            r = train_classifier(cell, h, train, test, gap, cfg)
            out["cells"][cell]["params"] = r["params"]
            out["cells"][cell]["results"].append({"gap_s": gap, **r})
            say(f"keyword probe: gap {gap:g} s, {cell} (hidden {h}): accuracy {r['accuracy']:.1%} "
                f"(train {r['train_accuracy']:.1%}), {r['steps']} steps, {r['seconds']:.0f} s")
    return out


def probe_stage(cfg, say=print) -> dict:
    """The probe at the compare configuration's gaps, scale and parameter budget, on the CPU, one thread
    unless --threads says otherwise."""
    from .records import describe_device

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or 1)
    try:
        probe = ProbeConfig(gaps=tuple(cfg.probe_gaps), params=cfg.probe_params).scaled(cfg.probe_scale)
        return {"device": describe_device("cpu"), **run_probe(probe, say)}
    finally:
        torch.set_num_threads(threads)
