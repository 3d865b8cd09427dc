"""Training and measuring models: `asr train`, `asr eval`, `asr compare`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from train.levels import GAIN_RANGE

from .common import (beam_or_exit, decoding_options, fail, load_model_or_exit, positive_int, precision_option,
                     set_threads)

__all__ = ["add_eval", "add_train", "add_compare"]

# what a resumed run may change, option (argparse dest) -> TrainConfig field; everything else is the run's config.json
RESUMABLE = {"epochs": "epochs", "max_minutes": "max_minutes", "workers": "workers", "device": "device", "amp": "amp",
             "threads": "threads", "checkpoint_every": "checkpoint_every", "eval_every": "eval_every_minutes",
             "keep_checkpoints": "keep_checkpoints"}
RESUME_OPTIONS = ", ".join("--" + name.replace("_", "-") for name in RESUMABLE)
_UNSET = object()


def given_options(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """The dests of the options given on argv, in the parser's order, even where a value equals its
    default (`--seed 0`): argparse fills in a default only where the namespace lacks the attribute,
    so what it overwrote in a namespace of placeholders was given."""
    dests = {a.dest: _UNSET for a in parser._actions if a.dest != argparse.SUPPRESS}
    probe = parser.parse_args(argv, namespace=argparse.Namespace(**dests))
    return [dest for dest in dests if getattr(probe, dest) is not _UNSET]


def cmd_eval(args) -> int:
    from data.librispeech import read_subset
    from train.errors import error_report
    from train.evaluate import evaluate

    model = load_model_or_exit(args.model, args.precision)
    set_threads(args.threads)
    try:
        utterances, report = read_subset(args.data, args.subset)
    except FileNotFoundError as e:
        return fail(str(e), 2)
    print(report.summary(), file=sys.stderr)
    if not utterances:
        return fail(f"no usable utterances in {args.subset}", 1)
    beam = beam_or_exit(args)
    result = evaluate(model, utterances, progress=args.format == "text" and sys.stderr.isatty(), beam=beam)
    report = None
    if args.report is not None:
        seconds = {u.id: u.duration for u in utterances}
        report = error_report([r for _, r, _ in result.hypotheses], [h for _, _, h in result.hypotheses], args.report,
                              durations=[seconds[i] for i, _, _ in result.hypotheses])
    if args.format == "json":
        extra = {"report": report.as_dict()} if report else {}
        print(json.dumps({**result.as_dict(), "subset": args.subset, "decoder": "beam" if beam else "greedy", **extra}))
    else:
        print(f"{args.subset} ({'beam' if beam else 'greedy'}): WER {result.wer:.2f}%  CER {result.cer:.2f}%  "
              f"({result.utterances} utterances, {result.audio_seconds / 60:.1f} min of audio, RTF {result.rtf:.4f})")
        if args.show_errors:
            for utt_id, ref, hyp in result.hypotheses:
                if ref != hyp:
                    print(f"{utt_id}\n  REF: {ref}\n  HYP: {hyp}")
        for line in report.lines() if report else ():
            print(line)
    return 0


def cmd_train(args) -> int:
    from train.augment import PRESETS
    from train.config import MASKS_WITHOUT_SPEC_AUGMENT, config_from_json
    from train.inputs import parse_mixture
    from train.loop import TrainConfig, TrainingError, train
    from train.state import StateError

    from asr.checkpoint import load_model
    from asr.config import ModelError
    from asr.model import ModelConfig

    # options that may change when a run is resumed; None means "as saved" (or the default)
    tunable = {field: getattr(args, name) for name, field in RESUMABLE.items()}
    try:
        if args.resume:
            saved = Path(args.resume) / "config.json"
            if not saved.is_file():
                return fail(f"{args.resume}: not a run folder (no config.json)", 2)
            fixed = [name for name in given_options(args.parser, args.argv[1:]) if name not in {*RESUMABLE, "resume"}]
            if fixed:
                return fail(f"{', '.join('--' + n.replace('_', '-') for n in fixed)}: a resumed run keeps the "
                            f"configuration saved in {saved}; only {RESUME_OPTIONS} may change (to change the rest, "
                            f"start a new run with --init {args.resume}/best.pt)", 2)
            cfg = config_from_json(saved, out=Path(args.resume), resume=True, **tunable)
        else:
            missing = [f"--{k}" for k in ("data", "train", "dev", "out") if getattr(args, k) is None]
            if missing:
                return fail(f"the following arguments are required: {', '.join(missing)} (or --resume RUN_DIR)", 2)
            init_cfg = load_model(args.init).config if args.init else None
            hidden = args.hidden or (init_cfg.hidden if init_cfg else 320)
            floor = args.feature_floor
            if floor is None and init_cfg is not None:  # a fine-tune keeps its start's floor
                floor = init_cfg.feature_floor
            model_cfg = ModelConfig(cell=args.cell, hidden=hidden, layers=args.layers, stride=args.stride,
                                    lookahead=args.lookahead, dropout=args.dropout, feature_floor=floor)
            defaults = TrainConfig(data=Path(), train_subsets=(), dev_subset="", out=Path())
            cache = {"auto": None, "on": True, "off": False}[args.feature_cache]
            explicit = {"pitch_shift": args.pitch_shift, "colored_noise": args.colored_noise, "babble": args.babble,
                        "telephone": args.telephone, "gain": args.gain, "speed_perturb": args.speed_perturb or None}
            augment = {**PRESETS[args.augment], **{k: v for k, v in explicit.items() if v is not None}}
            train_subsets, train_weights = parse_mixture(args.train)
            dev_subsets = [x for x in args.dev.split(",") if x]
            if not dev_subsets:
                return fail("--dev names no subset", 2)
            masks = {"freq_mask": args.freq_mask, "time_mask": args.time_mask, "time_masks": args.time_masks}
            if args.no_spec_augment and any(v is not None for v in masks.values()):
                return fail(MASKS_WITHOUT_SPEC_AUGMENT, 2)
            cfg = TrainConfig(
                data=Path(args.data), train_subsets=train_subsets, train_weights=train_weights,
                dev_subset=dev_subsets[0], more_dev_subsets=tuple(dev_subsets[1:]),
                out=Path(args.out), model=model_cfg, batch_seconds=args.batch_seconds, max_duration=args.max_duration,
                sortagrad=not args.no_sortagrad, cache_features=cache, lr=args.lr,
                warmup_steps=args.warmup_steps, spec_augment=not args.no_spec_augment, augment=args.augment, **augment,
                noise_dir=Path(args.noise_dir) if args.noise_dir else None,
                rir_dir=Path(args.rir_dir) if args.rir_dir else None, trace_batches=args.trace_batches, seed=args.seed,
                freq_warp=args.freq_warp, time_stretch=args.time_stretch, eq=args.eq,
                trim_silence=args.trim_silence, feature_gain=args.feature_gain, feature_noise=args.feature_noise,
                feature_noise_dir=Path(args.feature_noise_dir) if args.feature_noise_dir else None,
                feature_noise_subsets=tuple(x for x in (args.feature_noise_subsets or "").split(",") if x),
                init=Path(args.init) if args.init else None,
                **{k: getattr(defaults, k) if v is None else v for k, v in {**masks, **tunable}.items()},
            )
        result = train(cfg)
    except (FileNotFoundError, ValueError, StateError, ModelError) as e:
        return fail(str(e), 2)
    except TrainingError as e:
        return fail(str(e), 1)
    if result.best_checkpoint.exists():
        print(f"best dev WER {result.best_dev_wer:.2f}% CER {result.best_dev_cer:.2f}% after {result.epochs} epochs, "
              f"{result.minutes:.1f} min; model: {result.best_checkpoint}")
    return 0


def cmd_compare(args) -> int:
    from train.compare import STAGES, CompareConfig, run_compare
    from train.loop import TrainingError

    try:
        cfg = CompareConfig(
            data=Path(args.data), train_subsets=tuple(args.train.split(",")), dev_subset=args.dev, out=Path(args.out),
            params=args.params, layers=args.layers, seeds=args.seeds, budget_minutes=args.budget_minutes,
            epochs=args.epochs, batch_seconds=args.batch_seconds, lr=args.lr, warmup_steps=args.warmup_steps,
            device=args.device, threads=args.threads, report=Path(args.report),
            stages=tuple(args.stages.split(",")) if args.stages else STAGES,
            stream_seconds=args.stream_seconds, probe_gaps=tuple(float(x) for x in args.probe_gaps.split(",") if x),
            probe_scale=args.probe_scale,
        )
        run_compare(cfg)
    except (FileNotFoundError, ValueError) as e:
        return fail(str(e), 2)
    except TrainingError as e:
        return fail(str(e), 1)
    return 0


def add_eval(sub) -> None:
    e = sub.add_parser("eval", help="WER/CER of a model on a LibriSpeech-layout subset",
                       description="Greedy-decode a subset and report WER and CER in percent, utterances, audio "
                                   "seconds and real-time factor.")
    e.add_argument("--data", required=True, help="corpus root (holding LibriSpeech/<subset>)")
    e.add_argument("--subset", required=True)
    e.add_argument("--model", help="checkpoint (.pt, float32 or int8) or a TorchScript/ONNX export (asr export); "
                   "default: the bundled model")
    e.add_argument("--format", choices=["text", "json"], default="text",
                   help="json prints one object with wer, cer, utterances, audio_seconds, rtf")
    e.add_argument("--show-errors", action="store_true", help="print reference and hypothesis of each error")
    e.add_argument("--report", type=positive_int, nargs="?", const=10, metavar="N",
                   help="also count the word errors: substitutions, deletions and insertions, the N reference "
                        "words most often missed (with how often each was said) and the N most frequent "
                        "substitutions, deletions and insertions, and the WER of clips of 0-3 s, 3-6 s, 6-9 s and 9 s "
                        "or more (default N: 10; in --format json as \"report\")")
    e.add_argument("--threads", type=int, help="torch CPU threads")
    decoding_options(e)
    precision_option(e)
    e.set_defaults(func=cmd_eval)


def add_train(sub) -> None:
    r = sub.add_parser("train", help="train a CTC model (gru, lstm or rnn) on LibriSpeech-layout subsets",
                       description="Train with CTC loss; dev WER each epoch; RUN_DIR/best.pt is the best model. "
                                   "Several GPUs or nodes: torchrun --nproc_per_node N -m asr train ... "
                                   "(see docs/librispeech.md).")
    r.add_argument("--data", help="corpus root (holding LibriSpeech/<subset>)")
    r.add_argument("--train", metavar="SUBSET[:WEIGHT],...",
                   help="training subsets, comma-separated: every utterance once an epoch; with weights "
                        "(so762:3,synth-train:1) each subset's share of an epoch's audio, a small subset repeated "
                        "to reach its share (the subset with the most audio per weight is taken once)")
    r.add_argument("--dev", metavar="SUBSET,...",
                   help="dev subsets, comma-separated: each gets its own log.csv rows; best.pt is chosen on the first")
    r.add_argument("--out", help="run folder (checkpoints, log.csv, config.json, train_state.pt)")
    r.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a stopped or killed run from RUN_DIR/train_state.pt with its saved configuration "
                        f"(only {RESUME_OPTIONS} may change; any other option is refused)")
    r.add_argument("--cell", choices=["gru", "lstm", "rnn"], default="gru")
    r.add_argument("--hidden", type=int,
                   help="units per recurrent layer (default 320, or the --init model's width; a larger width than "
                        "--init's widens it with its outputs unchanged)")
    r.add_argument("--layers", type=int, default=3)
    r.add_argument("--stride", type=int, default=3, help="feature frames stacked per model frame (2-4)")
    r.add_argument("--lookahead", type=int, default=1, help="future model frames each output sees (0-2)")
    r.add_argument("--dropout", type=float, default=0.1)
    r.add_argument("--epochs", type=int, help="default 20")
    r.add_argument("--max-minutes", type=float, help="wall-clock budget; the LR schedule follows it")
    r.add_argument("--batch-seconds", type=float, default=200.0,
                   help="padded audio seconds per optimiser step, summed over all processes (default 200)")
    r.add_argument("--max-duration", type=float, help="skip (and count) utterances longer than this many seconds")
    r.add_argument("--no-sortagrad", action="store_true", help="shuffle epoch 1 too (default: shortest first)")
    r.add_argument("--workers", type=int,
                   help="data loading processes (default: 0 on the CPU, i.e. in the training process; up to 8 per GPU)")
    r.add_argument("--feature-cache", choices=["auto", "on", "off"], default="auto",
                   help="keep log-mel features in memory after the first epoch (auto: for <= 10 h of training audio; "
                        "never with waveform augmentation)")
    r.add_argument("--lr", type=float, default=2e-3)
    r.add_argument("--warmup-steps", type=int, default=300)
    r.add_argument("--no-spec-augment", action="store_true", help="no SpecAugment (frequency and time masks)")
    r.add_argument("--freq-mask", type=int, metavar="MELS",
                   help="SpecAugment: two frequency masks per utterance of up to this many of the 80 mels (default 15)")
    r.add_argument("--time-mask", type=int, metavar="FRAMES",
                   help="SpecAugment: time masks of up to this many 10 ms frames each (default 40)")
    r.add_argument("--time-masks", type=float, metavar="PER_SECOND",
                   help="SpecAugment: this many time masks per second of each utterance, placed inside its own "
                        "length (adaptive SpecAugment; e.g. 0.5 gives a 10 s utterance 5 masks); default 0: two "
                        "per utterance, as before")
    r.add_argument("--freq-warp", type=float, default=0.0,
                   help="stretch each utterance's mel axis by a random factor within +-this fraction (e.g. 0.1)")
    r.add_argument("--time-stretch", type=float, default=0.0,
                   help="resample each batch's features in time by a random factor within +-this fraction (e.g. 0.1)")
    r.add_argument("--trim-silence", type=float, default=0.0, metavar="P",
                   help="probability per utterance of cutting its leading silence (on the features) to 0-50 ms, "
                        "so the model learns speech that starts at the first frame, as in tightly cut clips "
                        "(default 0)")
    r.add_argument("--eq", type=float, default=0.0, metavar="P",
                   help="probability per utterance of a random equaliser on the features: a spectral tilt of up to "
                        "+-6 dB at the band edges and two peaks or notches of up to +-6 dB (another "
                        "microphone or sound card)")
    r.add_argument("--feature-gain", type=float, default=0.0, metavar="P",
                   help=f"probability per utterance of a gain of {GAIN_RANGE} on the features (a quieter or louder "
                        "recording; unlike --gain it keeps the feature cache)")
    r.add_argument("--feature-noise", type=float, default=0.0, metavar="P",
                   help="probability per utterance of a floor of real noise 25-55 dB under the speech, added to the "
                        "features from the recordings under --feature-noise-dir: it fills the digital silence of "
                        "synthetic speech, which no microphone gives; it keeps the feature cache (default 0)")
    r.add_argument("--feature-noise-dir", metavar="DIR",
                   help="noise recordings for --feature-noise (e.g. ../shared/data/speech/noise)")
    r.add_argument("--feature-noise-subsets", metavar="A,B,...",
                   help="only these training subsets get --feature-noise (e.g. the synthetic ones, whose silence is "
                        "digital; default: all)")
    r.add_argument("--feature-floor", type=float, metavar="LOG",
                   help="the model's own floor on its log-mel features (natural log of mel power, e.g. -14; the front "
                        "end's is -17.0), applied in training and by every runtime: digital zeros then look like a "
                        "quiet room (default: --init's floor, else none)")
    r.add_argument("--init", help="start from this checkpoint's weights and statistics, with a new schedule; a "
                                  "narrower checkpoint of the same cell, layers, stride and lookahead is widened to "
                                  "--hidden (new units start with zero outgoing weights, so the outputs are the same)")
    r.add_argument("--speed-perturb", action="store_true", help="random speed 0.9/1.0/1.1 per utterance")
    r.add_argument("--noise-dir", help="mix in noise from the audio files under this folder (random SNR 5-20 dB)")
    r.add_argument("--rir-dir", help="convolve with room impulse responses from the audio files under this folder")
    r.add_argument("--augment", choices=["none", "full"], default="none",
                   help="full: speed perturbation, pitch shift, reverberation (with --rir-dir), file noise (with "
                        "--noise-dir), white/pink/brown noise, babble, telephone band and gain changes, each with "
                        "its own probability (the options below override them; config.json records the values)")
    for flag, what in (("--pitch-shift", "a pitch shift within +-2 semitones, tempo kept"),
                       ("--colored-noise", "white/pink/brown noise at 5-30 dB SNR"),
                       ("--babble", "babble of 3-6 other training utterances at 10-30 dB SNR"),
                       ("--telephone", "an 8 kHz telephone channel (300-3400 Hz band, mu-law, each half the time)"),
                       ("--gain", f"a gain change of {GAIN_RANGE}")):
        r.add_argument(flag, type=float, metavar="P", help=f"probability of {what} per utterance")
    r.add_argument("--device", help="auto (default: CUDA when present), cpu, cuda or cuda:N")
    r.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"],
                   help="mixed precision on CUDA (default auto: bf16 where supported, else fp16)")
    r.add_argument("--checkpoint-every", type=int, help="steps between resumable checkpoints (default 1000)")
    r.add_argument("--eval-every", type=float, metavar="MINUTES",
                   help="also evaluate on the dev subset (log.csv row, best.pt, last.pt) every this many minutes of "
                        "training, for long epochs; evaluation time is not counted in the budget")
    r.add_argument("--keep-checkpoints", action=argparse.BooleanOptionalAction,
                   help="keep the model of every evaluation as RUN_DIR/step-<N>.pt (inputs for python -m "
                        "train.average); --no-keep-checkpoints turns it off on --resume (default: off)")
    r.add_argument("--trace-batches", action="store_true",
                   help="write every batch's utterance ids to RUN_DIR/batches.rank<R>.tsv")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, help="torch CPU threads")
    r.set_defaults(func=cmd_train, parser=r)  # --resume asks it which options were given (given_options)


def add_compare(sub) -> None:
    c = sub.add_parser("compare", help="train and measure GRU, LSTM and vanilla RNN the same way; write a report",
                       description="Train gru, lstm and rnn at matched parameter counts (and at the same hidden "
                                   "size) with the same data, schedule and budget, measure them (dev WER/CER, WER by "
                                   "length, streaming RTF and latency, gradient flow, keyword recall after a gap) "
                                   "and write a Markdown report with plots. Finished runs are skipped on a rerun.")
    c.add_argument("--data", required=True, help="corpus root (holding LibriSpeech/<subset>)")
    c.add_argument("--train", required=True, help="training subsets, comma-separated")
    c.add_argument("--dev", required=True, help="dev subset")
    c.add_argument("--out", required=True, help="folder for runs/, results.json")
    c.add_argument("--params", type=int, default=1_000_000, help="parameter budget of the matched runs (default 1M)")
    c.add_argument("--layers", type=int, default=3)
    c.add_argument("--seeds", type=int, default=2, help="seeds of the matched runs (default 2)")
    budget = c.add_mutually_exclusive_group()
    budget.add_argument("--budget-minutes", type=float,
                        help="minutes of training per run (dev evaluations not counted)")
    budget.add_argument("--epochs", type=int, help="epochs per run (default 10 when no budget is given)")
    c.add_argument("--batch-seconds", type=float, default=200.0)
    c.add_argument("--lr", type=float, default=2e-3)
    c.add_argument("--warmup-steps", type=int, default=100)
    c.add_argument("--device", default="auto", help="training and gradient flow: auto, cpu, cuda or cuda:N")
    c.add_argument("--threads", type=int, help="torch CPU threads for training, gradient flow and the probe")
    c.add_argument("--stages", help="comma-separated, default all: train,gradflow,measure,probe,report")
    c.add_argument("--report", default="docs/comparison.md", help="the Markdown report; PNGs go next to it")
    c.add_argument("--stream-seconds", type=float, default=60.0, help="dev audio streamed per model (default 60)")
    c.add_argument("--probe-gaps", default="0.5,1,2,4,8", help="keyword probe gaps in seconds")
    c.add_argument("--probe-scale", type=float, default=1.0,
                   help="fraction of the keyword probe's clips and epochs (default 1: about 4 CPU minutes)")
    c.set_defaults(func=cmd_compare)
