"""Greedy WER/CER of a model on utterances (jiwer), with the real-time factor of the whole pass."""
from __future__ import annotations

import time
from dataclasses import dataclass

import jiwer
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence
from tqdm import tqdm

from asr.audio import AudioError, load_audio
from asr.decode.beam import BeamSearch
from asr.decode.greedy import decode_path, greedy_decode
from asr.features import feature_lengths
from asr.runtime import encode, initial_encoder_state
from asr.model import AcousticModel
from asr.runtime.quantize import is_quantized
from data.librispeech import Utterance

__all__ = ["EvalResult", "error_rates", "evaluate", "dev_loss_and_hyps"]


@dataclass(frozen=True)
class EvalResult:
    wer: float  # percent
    cer: float  # percent
    utterances: int
    audio_seconds: float
    rtf: float
    skipped: int
    hypotheses: tuple[tuple[str, str, str], ...] = ()  # (id, reference, hypothesis)

    def as_dict(self) -> dict:
        return {
            "wer": round(self.wer, 2), "cer": round(self.cer, 2), "utterances": self.utterances,
            "audio_seconds": round(self.audio_seconds, 2), "rtf": round(self.rtf, 4), "skipped": self.skipped,
        }


def error_rates(refs: list[str], hyps: list[str]) -> tuple[float, float]:
    """Corpus-level WER and CER in percent (empty hypotheses count as deletions)."""
    if not refs:
        return 0.0, 0.0
    return 100 * jiwer.wer(refs, hyps), 100 * jiwer.cer(refs, hyps)


@torch.inference_mode()
def evaluate(
    model: AcousticModel, utterances: list[Utterance], batch_seconds: float = 120.0, progress: bool = True,
    beam: BeamSearch | None = None,
) -> EvalResult:
    """Decode every utterance (audio read, features, model and the search all timed for the RTF);
    greedy, or each utterance whole through `beam`."""
    model.eval()
    order = sorted(utterances, key=lambda u: u.duration)
    refs, hyps, ids, seconds, skipped = [], [], [], 0.0, 0
    start = time.perf_counter()
    bar = tqdm(total=len(order), desc="eval", unit="utt", disable=not progress, dynamic_ncols=True)
    i = 0
    while i < len(order):
        batch = [order[i]]
        while i + len(batch) < len(order) and order[i + len(batch)].duration * (len(batch) + 1) <= batch_seconds:
            batch.append(order[i + len(batch)])
        i += len(batch)
        waves, kept = [], []
        for utt in batch:
            try:
                waves.append(torch.from_numpy(load_audio(utt.path)))
                kept.append(utt)
            except AudioError:
                skipped += 1
        bar.update(len(batch))
        if not kept:
            continue
        lens = torch.tensor([len(w) for w in waves])
        if is_quantized(model):  # int8: the compiled kernel, as `asr transcribe` and the streams run it
            outs = [_encode_whole(model, w) for w in waves]
            out_lens = torch.tensor([len(o) for o in outs])
            log_probs = pad_sequence(outs, batch_first=True)
        else:
            feats = model.logmel(pad_sequence(waves, batch_first=True))
            log_probs, out_lens, _ = model(feats, feature_lengths(lens), return_state=False)
        if beam is None:
            hyps += greedy_decode(log_probs, out_lens)
        else:
            hyps += [_beam_text(beam, lp[: int(n)]) for lp, n in zip(log_probs, out_lens)]
        refs += [u.text for u in kept]
        ids += [u.id for u in kept]
        seconds += float(lens.sum()) / 16000
    bar.close()
    elapsed = time.perf_counter() - start
    wer, cer = error_rates(refs, hyps)
    return EvalResult(wer, cer, len(refs), seconds, elapsed / max(seconds, 1e-9), skipped, tuple(zip(ids, refs, hyps)))


def _encode_whole(model, wave: torch.Tensor) -> torch.Tensor:
    """One utterance through the streaming step (int8: the compiled kernel), T x V log-probs."""
    return torch.as_tensor(encode(model, initial_encoder_state(model), wave, final=True)[1])


def _beam_text(beam: BeamSearch, log_probs: torch.Tensor) -> str:
    words, path = beam.decode(log_probs)
    if words is None:  # lexicon-free: the text is the path's characters
        return " ".join(decode_path(path).split())
    return " ".join(words)


@torch.inference_mode()
def dev_loss_and_hyps(model: AcousticModel, batches, device: torch.device | str = "cpu",
                      amp_dtype: torch.dtype | None = None) -> tuple[float, list[str], list[str]]:
    """Mean CTC loss per utterance and greedy hypotheses over `batches` (train.dataset.Batch)."""
    model.eval()
    total, n, refs, hyps = 0.0, 0, [], []
    for b in batches:
        if not len(b):
            continue
        with torch.autocast(torch.device(device).type, dtype=amp_dtype, enabled=amp_dtype is not None):
            log_probs, out_lens, _ = model(b.feats.to(device), b.feat_lens.to(device), return_state=False)
        log_probs = log_probs.float()
        loss = F.ctc_loss(log_probs.transpose(0, 1), b.targets.to(device), out_lens, b.target_lens.to(device),
                          reduction="sum", zero_infinity=True)
        total += float(loss)
        n += len(b)
        hyps += greedy_decode(log_probs.cpu(), out_lens.cpu())
        refs += b.texts
    return total / max(n, 1), refs, hyps
