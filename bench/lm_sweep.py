"""Which LM order and pruning, which beam size and LM weight: WER/CER and decoding time of the beam
search over a dev subset, for LMs built here with `asr lm build` (kaldingram).

    python bench/lm_sweep.py --data corpora/synth --subset synth-dev --text ../shared/data/text/sentences.txt.gz \\
        --lms 2:0,3:0,3:1e-7,3:1e-6,3:1e-5,4:0,4:1e-6 --beams 64 --json runs/lm_sweep.json
    python bench/lm_sweep.py ... --lms 3:1e-6 --beams 16,32,64,128 --weights 1.5,2,2.5 --word-scores=-1,0,1
    python bench/lm_sweep.py ... --lms 3:1e-6 --beams 256 --weights 1,1.6,2 --blank-penalties 0,1,1.5
    python bench/lm_sweep.py ... --lms 3:1e-6 --beams 256 --weights 2 --blank-penalties 1.5 --thresholds 5,10,15,25

The model's log-probs are computed once; LMs are built once into --workdir (the held-out
sentences of the synthetic dev sets are dropped, as for the bundled LM). One thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from asr.audio import load_audio
from asr.decode.beam import BeamSearch, DecoderConfig
from asr.decode.lm import DEFAULT_BEAM_THRESHOLD
from asr.checkpoint import load_model
from asr.decode.greedy import greedy_decode
from data.librispeech import read_subset
from train.evaluate import error_rates


@torch.inference_mode()
def dev_log_probs(model, utts) -> list[torch.Tensor]:
    out = []
    for u in utts:
        feats = model.logmel(torch.from_numpy(load_audio(u.path))[None])
        lp, lens, _ = model(feats, torch.tensor([feats.shape[1]]), return_state=False)
        out.append(lp[0, : int(lens[0])].clone())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--text", required=True, help="LM training sentences")
    p.add_argument("--model", help="default: the bundled model")
    p.add_argument("--lms", default="3:1e-6", help="ORDER:PRUNE,... (PRUNE 0: unpruned)")
    p.add_argument("--beams", default="64")
    p.add_argument("--weights", default="2.0")
    p.add_argument("--word-scores", default="0", help="word insertion scores, comma-separated")
    p.add_argument("--blank-penalties", default="0",
                   help="subtracted from the blank's log-probability before the search (then renormalised), "
                        "comma-separated: positive values make the search emit more letters")
    p.add_argument("--thresholds", default=f"{DEFAULT_BEAM_THRESHOLD:g}",
                   help="beam thresholds (natural log below the frame's best), comma-separated "
                        f"(default {DEFAULT_BEAM_THRESHOLD:g}, the search default)")
    p.add_argument("--workdir", default="runs/lm")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    from asr.decode.lm import build_lm

    model = load_model(args.model).eval()
    utts, _ = read_subset(args.data, args.subset)
    lps = dev_log_probs(model, utts)
    refs = [u.text for u in utts]
    seconds = sum(u.duration for u in utts)
    wer, cer = error_rates(refs, [greedy_decode(lp[None], torch.tensor([len(lp)]))[0] for lp in lps])
    rows = [{"lm": "greedy", "wer": wer, "cer": cer}]
    print(f"greedy: WER {wer:.2f} CER {cer:.2f} ({len(utts)} utterances, {seconds / 60:.1f} min)", flush=True)
    for spec in args.lms.split(","):
        order, prune = int(spec.split(":")[0]), float(spec.split(":")[1])
        path = Path(args.workdir) / f"{order}gram-{spec.split(':')[1]}.arpa.gz"
        if not path.exists():
            build_lm(Path(args.text), path, order=order, prune=prune or None, drop_heldout=True)
        for beam in (int(b) for b in args.beams.split(",")):
            grid = [(float(w), float(s), float(b), float(t)) for w in args.weights.split(",")
                    for s in args.word_scores.split(",") for b in args.blank_penalties.split(",")
                    for t in args.thresholds.split(",")]
            for weight, score, penalty, threshold in grid:
                t0 = time.perf_counter()
                search = BeamSearch(DecoderConfig("beam", beam_size=beam, beam_threshold=threshold, lm=str(path),
                                                  lm_weight=weight, word_score=score, blank_penalty=penalty))
                load = time.perf_counter() - t0
                t0 = time.perf_counter()
                hyps = [" ".join(search.decode(lp)[0]) for lp in lps]
                took = time.perf_counter() - t0
                wer, cer = error_rates(refs, hyps)
                row = {"lm": path.name, "order": order, "prune": prune, "mb": path.stat().st_size / 1e6,
                       "beam": beam, "beam_threshold": threshold, "lm_weight": weight, "word_score": score,
                       "blank_penalty": penalty, "wer": wer, "cer": cer, "load_s": load,
                       "search_rtf": took / seconds}
                rows.append(row)
                print(f"{path.name:22s} {row['mb']:5.1f} MB  beam {beam:4d}  threshold {threshold:g}  "
                      f"weight {weight:.1f}  word score {score:+.1f}  blank penalty {penalty:.1f}: "
                      f"WER {wer:.2f} CER {cer:.2f}  search RTF {row['search_rtf']:.4f}  load {load:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
