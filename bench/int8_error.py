"""How far int8 output is from float32 output, frame by frame: a steadier figure than a WER change.

For each dev utterance, the whole-file log-probs of the float32 model and of its int8 versions
(torch's int8 modules with one weight scale per matrix, torch's default, or one per output row,
`asr.runtime.quantize`'s scheme; and the compiled int8 kernel that streaming and transcription run,
`asr.runtime.int8_kernel`, activations quantized per frame): mean KL(float32 || int8) per output frame and
the share of frames whose most likely token differs.

    python bench/int8_error.py --data corpora/synth --subset synth-dev --model asr/assets/default.pt --utterances 150
"""
from __future__ import annotations

import argparse
import copy
import warnings

import torch

from asr.audio import load_audio
from asr.checkpoint import load_model
from asr.runtime.incremental import encode_chunk, initial_state
from asr.runtime.quantize import QUANTIZED_MODULES, quantize_model
from data.librispeech import read_subset


def per_matrix(model):
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model), QUANTIZED_MODULES, dtype=torch.qint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--utterances", type=int, default=150)
    args = p.parse_args()
    torch.set_num_threads(1)
    utterances, _ = read_subset(args.data, args.subset)
    model = load_model(args.model).eval()
    q, qm = quantize_model(model), per_matrix(model)
    variants = {  # (wave, feats, lens) -> log-probs 1 x T x V
        "modules, one scale per matrix": lambda wave, feats, lens: qm(feats, lens, return_state=False)[0],
        "modules, one scale per row": lambda wave, feats, lens: q(feats, lens, return_state=False)[0],
        "compiled kernel (what streams)": lambda wave, feats, lens: encode_chunk(q, initial_state(q), wave,
                                                                                 final=True)[1][None],
    }
    totals = {name: [0.0, 0, 0] for name in variants}  # KL sum, argmax disagreements, frames
    with torch.inference_mode():
        for u in utterances[: args.utterances]:
            wave = torch.from_numpy(load_audio(u.path))
            feats = model.logmel(wave[None])
            lens = torch.tensor([feats.shape[1]])
            ref = model(feats, lens, return_state=False)[0]
            for name, run in variants.items():
                lp = run(wave, feats, lens)
                t = totals[name]
                t[0] += float((ref.exp() * (ref - lp)).sum())
                t[1] += int((lp.argmax(-1) != ref.argmax(-1)).sum())
                t[2] += ref.shape[1]
    for name, (kl, differ, frames) in totals.items():
        print(f"int8, {name}: mean KL {kl / frames:.5f} per frame, most likely token differs on "
              f"{100 * differ / frames:.2f}% of {frames} frames")


if __name__ == "__main__":
    main()
