"""Would a larger beam-search vocabulary help? The bundled LM's 29,269 words are every word of its
book sentences, so some common words of other texts cannot be output at all (LJ002: 3.3 % of its
words). This adds words to an ARPA LM as unigrams at one log10 probability (no other n-grams, the
rest unchanged) and decodes a dev subset with each, from one set of model log-probs (one thread):

    python -m bench.lm_vocab --data corpora/all --subset lj002 --words cmudict.dict --logps=-6,-7,-8 --oracle

--words: a word list, one word first on each line (a pronouncing dictionary such as CMUdict's
cmudict.dict works as it is: variants "word(2)" and words our vocabulary cannot spell are dropped).
--oracle also decodes with every word of the subset's own transcripts added: the most any larger
vocabulary could give this model on this subset.
"""
from __future__ import annotations

import argparse
import gzip
import re
import tempfile
import time
from pathlib import Path

import torch

from asr.checkpoint import load_model
from asr.decode.beam import BeamSearch, DecoderConfig
from asr.decode.lm import DEFAULT_LM, DEFAULT_LM_WEIGHT, lm_vocabulary
from asr.vocab import invalid_chars, normalize_text
from bench.lm_sweep import dev_log_probs
from data.librispeech import read_subset
from train.evaluate import error_rates


def read_words(path: Path) -> set[str]:
    """Spellable words of a word list (first field of each line; "(N)" variant marks dropped), uppercase."""
    words = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if not parts or parts[0].startswith(";;;"):
                continue
            word = normalize_text(re.sub(r"\(\d+\)$", "", parts[0]))
            if word and " " not in word and not invalid_chars(word):
                words.add(word.upper())
    return words


def add_unigrams(lm: Path, new: list[str], logp: float, out: Path) -> None:
    """`lm` with `new` (words it lacks) added as unigrams at log10 probability `logp`."""
    opener = gzip.open if lm.suffix == ".gz" else open
    with opener(lm, "rt", encoding="utf-8") as src, gzip.open(out, "wt", encoding="utf-8") as dst:
        section = None
        for line in src:
            if line.startswith("ngram 1="):
                line = f"ngram 1={int(line.split('=')[1]) + len(new)}\n"
            elif line.startswith("\\"):
                section = line.strip()
            elif section == "\\1-grams:" and not line.strip():  # end of the unigrams: the new ones go here
                dst.writelines(f"{logp:.4f}\t{w}\t0\n" for w in new)
                section = None
            dst.write(line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model", help="default: the bundled model")
    p.add_argument("--lm", default=str(DEFAULT_LM), help="the LM to add words to (default: the bundled one)")
    p.add_argument("--words", help="word list to add (e.g. CMUdict's cmudict.dict)")
    p.add_argument("--logps", default="-7", help="log10 probabilities of the added words, comma-separated")
    p.add_argument("--oracle", action="store_true", help="also add every word of the subset's transcripts")
    p.add_argument("--beam", type=int, default=64)
    p.add_argument("--lm-weight", type=float, default=DEFAULT_LM_WEIGHT)
    args = p.parse_args()
    torch.set_num_threads(1)
    utts, _ = read_subset(args.data, args.subset)
    lps = dev_log_probs(load_model(args.model).eval(), utts)
    refs = [u.text for u in utts]
    lm = Path(args.lm)
    have = set(lm_vocabulary(lm).words)
    ref_words = {w.upper() for r in refs for w in r.split()}
    oov = sum(w.upper() not in have for r in refs for w in r.split()) / sum(len(r.split()) for r in refs)
    print(f"{args.subset}: {len(utts)} utterances; {100 * oov:.2f} % of its words are not in {lm.name} "
          f"({len(have):,} words)")
    lists = [(Path(args.words).name, read_words(Path(args.words)))] if args.words else []
    lists += [("oracle (transcript)", ref_words)] if args.oracle else []
    with tempfile.TemporaryDirectory() as tmp:
        lms = [(lm.name, lm)]
        for name, words in lists:
            new = sorted(words - have)  # the LM's vocabulary is read once, not once per LM made
            for logp in (float(x) for x in args.logps.split(",")):
                out = Path(tmp) / f"{name}{logp}.arpa.gz"
                add_unigrams(lm, new, logp, out)
                lms.append((f"+ {len(new):,} words of {name} at {logp:g}", out))
        for name, path in lms:
            t0 = time.perf_counter()
            search = BeamSearch(DecoderConfig("beam", beam_size=args.beam, lm=str(path), lm_weight=args.lm_weight))
            wer, cer = error_rates(refs, [" ".join(search.decode(lp)[0]) for lp in lps])
            print(f"{name:48s} WER {wer:.2f} CER {cer:.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
