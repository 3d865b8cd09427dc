"""Chunk-by-chunk computation of the acoustic model, exactly equal to the offline forward pass.

Everything that crosses a chunk boundary is in `EncoderState` (immutable): audio samples not yet
forming a feature frame, feature frames not yet forming a stacked model frame, embedded frames
waiting for their lookahead, and the recurrent state. Offline transcription of long files uses the
same step with large chunks, so memory stays bounded; the streaming recognizer (stream/) builds
decoding and endpointing on top of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .audio import HOP_LENGTH, N_FFT
from .features import num_frames
from .model import AcousticModel, RNNState

__all__ = ["EncoderState", "initial_state", "encode_chunk"]


@dataclass(frozen=True)
class EncoderState:
    samples: torch.Tensor  # N (< N_FFT + HOP) samples not yet consumed by a feature frame
    frames: torch.Tensor  # F x n_mels (F < stride) feature frames not yet stacked
    pending: torch.Tensor  # 1 x P x H (P <= lookahead) embedded frames waiting for future context
    rnn: RNNState | None = None
    samples_seen: int = 0  # total samples fed so far
    frames_out: int = 0  # model frames emitted so far


def initial_state(model: AcousticModel) -> EncoderState:
    c = model.config
    return EncoderState(
        samples=torch.zeros(0), frames=torch.zeros(0, c.n_mels), pending=torch.zeros(1, 0, c.hidden),
    )


@torch.inference_mode()
def encode_chunk(
    model: AcousticModel, state: EncoderState, pcm: torch.Tensor, final: bool = False,
) -> tuple[EncoderState, torch.Tensor]:
    """Feed 16 kHz float samples (N,); return the new state and log-probs (T x V) of finished frames.

    With final=True the utterance ends: the last frames see zero lookahead, as offline does.
    """
    if not isinstance(model, AcousticModel):  # an exported network (asr.backends.ExportedModel) streams itself
        return model.encode_chunk(state, pcm, final)
    c = model.config
    buf = torch.cat([state.samples, pcm.float()])
    n = num_frames(buf.numel())
    if n:
        feats = model.logmel(buf[None, : (n - 1) * HOP_LENGTH + N_FFT])[0]  # n x n_mels
        buf = buf[n * HOP_LENGTH:]
        frames = torch.cat([state.frames, feats])
    else:
        frames = state.frames
    m = frames.shape[0] // c.stride * c.stride
    x = model.embed(frames[None, :m]) if m else state.pending[:, :0]
    z = torch.cat([state.pending, x], dim=1)  # 1 x (P + new) x H
    if final:
        z = F.pad(z, (0, 0, 0, c.lookahead))
    ready = max(0, z.shape[1] - c.lookahead)
    rnn = state.rnn
    if ready:
        log_probs, rnn = model.recur(model.look(z[:, : ready + c.lookahead]), state=rnn)
        log_probs = log_probs[0]
    else:
        log_probs = z.new_zeros(0, c.vocab_size)
    new = EncoderState(
        samples=buf.clone(), frames=frames[m:].clone(), pending=z[:, ready:][:, : 0 if final else None].clone(),
        rnn=rnn, samples_seen=state.samples_seen + pcm.numel(), frames_out=state.frames_out + ready,
    )
    return new, log_probs
