"""Chunk-by-chunk computation of the acoustic model, equal to the offline forward pass (to float rounding).

Everything that crosses a chunk boundary is in `EncoderState` (immutable): audio samples not yet
forming a feature frame, feature frames not yet forming a stacked model frame, embedded frames
waiting for their lookahead, and the recurrent state. Offline transcription of long files uses the
same step with large chunks, so memory stays bounded; the streaming recognizer (stream/) builds
decoding and endpointing on top of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from asr.framing import feature_step
from .kernel import kernel_for
from asr.model import AcousticModel, RNNState

__all__ = ["EncoderState", "initial_state", "encode_chunk"]


@dataclass(frozen=True)
class EncoderState:
    samples: torch.Tensor  # samples not yet turned into feature frames (those of the next output frame at most)
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
    if not isinstance(model, AcousticModel):  # an exported network (asr.runtime.backends.ExportedModel) streams itself
        return model.encode_chunk(state, pcm, final)
    c, kernel = model.config, kernel_for(model)
    new = pcm.numpy() if isinstance(pcm, torch.Tensor) else np.asarray(pcm, dtype=np.float32)
    frames, buf, rest = feature_step(state.samples.numpy(), state.frames.numpy(), new, state.pending.shape[1],
                                     c.stride, c.lookahead, final, kernel.logmel_frames)
    if frames is None:  # no output frame due yet: only the samples are kept
        return EncoderState(torch.from_numpy(buf), state.frames, state.pending, state.rnn,
                            state.samples_seen + len(new), state.frames_out), torch.zeros(0, c.vocab_size)
    # the int8 GRU/LSTM kernel (asr.runtime.int8_kernel) or the float one (asr.runtime.kernel): the same step
    runner = kernel.int8 if kernel.int8 is not None else kernel
    log_probs, pending, rnn = runner.run(frames, state.pending, state.rnn, final)
    new_state = EncoderState(
        samples=torch.from_numpy(buf), frames=torch.from_numpy(rest), pending=pending, rnn=rnn,
        samples_seen=state.samples_seen + len(new), frames_out=state.frames_out + log_probs.shape[0],
    )
    return new_state, log_probs
