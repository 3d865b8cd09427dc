"""CPU cost of each waveform augmentation per second of audio, on one thread, next to the plain
load + log-mel a data worker does anyway (the figure augmentation must stay within ~2x of).

    python bench/augment_cost.py [--audio FILE ...] [--rir-dir DIR] [--runs 40]

Each effect is timed alone at probability 1 (its cost when it happens) on the given utterances
(default: the bundled 10 s sample) and a 3 s cut of the first, with fresh seeds each run; "full mixture"
is `--augment full` as training runs it (speed drawn from 0.9/1.0/1.1 like the sampler, the
preset's probabilities, RIRs and a noise file present), averaged over the runs. Babble sources
are copies of the audio, loaded once and then cached, as in a worker's steady state. CPU time of
this process (process_time), so other jobs on the machine do not inflate it.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from asr.audio import SAMPLE_RATE, load_audio
from asr.features import LogMel
from train.augment import PRESETS, SPEEDS, WaveAugment, list_audio

ROOT = Path(__file__).parent.parent


def scratch_files(tmp: Path, audio: list[Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """(babble sources, noise files, synthetic RIRs) in `tmp`."""
    rng = np.random.default_rng(0)
    babble = []
    for i in range(8):
        babble.append(tmp / f"babble{i}.flac")
        sf.write(babble[-1], load_audio(audio[i % len(audio)]), SAMPLE_RATE)
    noise = tmp / "noise.flac"
    sf.write(noise, (0.05 * rng.standard_normal(5 * SAMPLE_RATE)).astype(np.float32), SAMPLE_RATE)
    rirs = []
    for i, seconds in enumerate((0.3, 0.8)):
        n = int(seconds * SAMPLE_RATE)
        rir = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.15 * n))
        rir[0] = 3.0
        rirs.append(tmp / f"rir{i}.flac")
        sf.write(rirs[-1], (0.3 * rir / np.abs(rir).max()).astype(np.float32), SAMPLE_RATE)
    return babble, [noise], rirs


def cost(fn, waves: list[torch.Tensor], runs: int) -> float:
    """CPU ms per audio second of fn(i, seed) for every wave i, averaged over runs (a mean, not a
    median: an effect drawn in 30% of the calls costs 30% on average)."""
    seconds = sum(len(w) for w in waves) / SAMPLE_RATE
    fn(0, 10_000)  # warm-up (caches, FFT plans)
    t0 = time.process_time()
    for r in range(runs):
        for i in range(len(waves)):
            fn(i, r * len(waves) + i)
    return 1000 * (time.process_time() - t0) / (runs * seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--audio", nargs="+", type=Path, default=[ROOT / "asr" / "assets" / "sample.flac"])
    p.add_argument("--rir-dir", type=Path, help="impulse responses (default: two synthetic ones, 0.3 and 0.8 s)")
    p.add_argument("--runs", type=int, default=40)
    args = p.parse_args()
    torch.set_num_threads(1)

    logmel = LogMel()
    with tempfile.TemporaryDirectory() as tmp:
        short = Path(tmp) / "short.flac"  # a 3 s utterance too: per-call overheads count more there
        sf.write(short, load_audio(args.audio[0])[: 3 * SAMPLE_RATE], SAMPLE_RATE)
        files = [*args.audio, short]
        waves = [torch.from_numpy(load_audio(f)) for f in files]
        babble, noises, synthetic_rirs = scratch_files(Path(tmp), args.audio)
        rirs = list_audio(args.rir_dir) if args.rir_dir else synthetic_rirs

        def load_and_logmel(i, _seed):
            logmel(torch.from_numpy(load_audio(files[i]))[None])

        def timed(aug: WaveAugment, speeds=(1.0,)):
            return lambda i, seed: aug(waves[i], torch.Generator().manual_seed(seed), speeds[seed % len(speeds)],
                                       source=babble[0])

        full = PRESETS["full"]
        rows = [
            ("load + log-mel (reference)", load_and_logmel),
            ("log-mel only", lambda i, _s: logmel(waves[i][None])),
            ("speed 0.9/1.1", timed(WaveAugment(speed=True), (0.9, 1.1))),
            ("pitch shift", timed(WaveAugment(pitch=1.0))),
            ("reverberation (RIR)", timed(WaveAugment(rirs=rirs, rir_prob=1.0))),
            ("file noise", timed(WaveAugment(noises=noises, noise_prob=1.0))),
            ("coloured noise", timed(WaveAugment(colored=1.0))),
            ("babble (cached sources)", timed(WaveAugment(babble=1.0, babble_sources=babble))),
            ("telephone", timed(WaveAugment(telephone=1.0))),
            ("gain", timed(WaveAugment(gain=1.0))),
            ("full mixture (--augment full)", timed(WaveAugment(
                True, noises, rirs, noise_prob=full["noise_prob"], rir_prob=full["rir_prob"], pitch=full["pitch_shift"],
                colored=full["colored_noise"], babble=full["babble"], babble_sources=babble,
                telephone=full["telephone"], gain=full["gain"]), SPEEDS)),
        ]
        with torch.inference_mode():
            results = [(name, cost(fn, waves, args.runs)) for name, fn in rows]
    ref = results[0][1]
    seconds = sum(len(w) for w in waves) / SAMPLE_RATE
    print(f"one thread, {seconds:.1f} s of audio per run, mean of {args.runs} runs (seeds)")
    print(f"{'':32s} {'CPU ms per audio s':>18s} {'x load+log-mel':>15s}")
    for name, ms in results:
        print(f"{name:32s} {ms:18.2f} {ms / ref:15.2f}")


if __name__ == "__main__":
    main()
