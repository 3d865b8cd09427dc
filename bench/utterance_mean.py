"""Probe: does taking each utterance's own mean off its features (at test time only) help?

    python -m bench.utterance_mean --data corpora/all --subsets lj002,so762-dev --alphas 0,0.5,1

The model normalises with global statistics (asr.features.Normalizer). This shifts each utterance's
log-mel by alpha x (its mean per mel bin - the global mean) before the model, float32, greedy: alpha 1
is per-utterance mean normalisation, 0 the model as it is. A large gain would mean a channel mismatch
that a causal running mean could remove; docs/default-model.md ("Digital silence and joined words")
has the result (none).
"""
from __future__ import annotations

import torch

from asr.audio import load_audio
from asr.decode.greedy import greedy_decode
from bench.probe import probe_setup
from data.librispeech import read_subset
from train.evaluate import error_rates


def main(argv: list[str] | None = None) -> None:
    args, model, alphas = probe_setup(__doc__, "--alphas", "0,0.5,1", "comma-separated shares of the shift", argv)
    with torch.inference_mode():
        for sub in args.subsets.split(","):
            utts, _ = read_subset(args.data, sub, progress=False)
            feats = [model.logmel(torch.from_numpy(load_audio(u.path))[None]) for u in utts]
            for a in alphas:
                hyps = []
                for f in feats:
                    x = f - a * (f[0].mean(0) - model.normalizer.mean)
                    log_probs, lens, _ = model(x, torch.tensor([x.shape[1]]), return_state=False)
                    hyps += greedy_decode(log_probs, lens)
                wer, cer = error_rates([u.text for u in utts], hyps)
                print(f"{sub}: alpha {a:g}: WER {wer:.2f} CER {cer:.2f}", flush=True)


if __name__ == "__main__":
    main()
