"""The acoustic model's inference step for one stream, without module calls.

A 20 ms chunk holds two feature frames and at most one model frame: its arithmetic is a few hundred
microseconds, and calling it through `nn.GRU`, torchaudio's transforms and a dozen small tensor
operations cost as much again. `StepKernel` holds the model's weights in the forms the
lowest-overhead calls take (the recurrent and output weights shared with the model, the front end's
folded with the normaliser), and computes the same numbers:

- log-mel: numpy's real FFT of the window's frames, torchaudio's window and mel filterbank;
- front end and lookahead: the model's own formulas on the new frames only;
- recurrence, float32: `torch._VF.gru|lstm|rnn_tanh` with the module's flat weights, what `nn.GRU`
  itself calls (so its outputs equal the module's bit for bit);
- int8 GRU/LSTM (`asr.runtime.quantize`): front end to log-probs in one compiled call, `asr.runtime.int8_kernel`
  (activations quantized frame by frame, so chunking never changes the output).

Features differ from the torch path by float rounding only (about 1e-6). `asr.runtime.incremental.encode_chunk`
uses the kernel for every AcousticModel (it computes eval-mode outputs: no dropout), so streaming and
offline transcription run the same code; `kernel_for` rebuilds it when the model's parameters or
buffers (normaliser statistics, window, filterbank) change in place.
"""
from __future__ import annotations

import weakref

import numpy as np
import torch
import torch.nn.functional as F

from asr.audio import HOP_LENGTH, LOG_FLOOR, N_FFT, N_MELS
from asr.framing import logmel_in_blocks
from .lite import fold_normalizer
from asr.model import AcousticModel, RNNState

__all__ = ["StepKernel", "kernel_for"]

_RECURRENCES = {"gru": torch._VF.gru, "lstm": torch._VF.lstm, "rnn": torch._VF.rnn_tanh}


class StepKernel:
    def __init__(self, model: AcousticModel) -> None:
        c = self.config = model.config
        with torch.no_grad():
            self.window = model.logmel.mel.spectrogram.window.detach().numpy()
            self.filterbank = model.logmel.mel.mel_scale.fb.detach().numpy()  # (N_FFT/2 + 1) x n_mels
            # the normaliser folded into the front end's linear layer, as asr.runtime.lite folds it
            front, norm = model.frontend, model.normalizer
            front_w, front_b = fold_normalizer(front.weight.detach().numpy(), front.bias.detach().numpy(),
                                               norm.mean.numpy(), norm.std.numpy(), c.stride)
            self.front_w, self.front_b = torch.from_numpy(front_w), torch.from_numpy(front_b)
            self.look_w = model.lookahead.weight.detach()[:, 0].T if model.lookahead is not None else None
            self.look_b = model.lookahead.bias.detach() if model.lookahead is not None else None
        self.head, self.rnn = model.head, model.rnn
        float_rnn = isinstance(model.rnn, (torch.nn.GRU, torch.nn.LSTM, torch.nn.RNN))
        self.flat_weights = [w.detach() for w in model.rnn._flat_weights] if float_rnn else None
        self.int8 = None  # int8 GRU/LSTM: the whole chunk in one compiled call (asr.runtime.int8_kernel)
        if not float_rnn:
            from .int8_kernel import Int8Kernel, int8_weights

            weights = int8_weights(model.rnn, c.layers)
            if weights is not None:
                head_w, head_b = model.head.weight(), model.head.bias()  # a dynamically quantized Linear
                self.int8 = Int8Kernel(c, weights, self.front_w.numpy(), self.front_b.numpy(),
                                       None if self.look_w is None else self.look_w.numpy(),
                                       None if self.look_b is None else self.look_b.numpy(),
                                       head_w.dequantize().numpy(), head_b.detach().numpy(), self.window,
                                       self.filterbank)
        self.zero_state = torch.zeros(c.layers, 1, c.hidden)
        self._tensors = [*model.parameters(), *model.buffers()]
        self._versions = self.versions()

    def versions(self) -> list[int]:
        """In-place update counters of the model's parameters and buffers: the kernel is stale when they change."""
        return [t._version for t in self._tensors]

    # -- features -------------------------------------------------------------------------------

    def logmel(self, samples: np.ndarray) -> np.ndarray:
        """float32 samples (N >= N_FFT) -> log-mel frames T x n_mels (center=False), as `LogMel`."""
        return logmel_in_blocks(samples, self.logmel_frames)

    def logmel_frames(self, samples: np.ndarray, n: int) -> np.ndarray:
        """The first n log-mel frames of `samples` in one pass."""
        if self.int8 is not None:  # framing and everything after the FFT compiled (asr.runtime.int8_kernel)
            return self.int8.logmel(samples, n)
        stride = samples.strides[0]
        frames = np.lib.stride_tricks.as_strided(samples, (n, N_FFT), (HOP_LENGTH * stride, stride)) * self.window
        spec = np.fft.rfft(frames)
        power = np.square(spec.real) + np.square(spec.imag)
        feats = np.log(np.maximum(power @ self.filterbank, LOG_FLOOR, dtype=np.float32))
        if self.config.feature_floor is not None:  # the model's own floor, as AcousticModel.embed
            np.maximum(feats, np.float32(self.config.feature_floor), out=feats)
        return feats

    def embed(self, frames: np.ndarray) -> torch.Tensor:
        """Feature frames T x n_mels (T a multiple of stride) -> 1 x T/stride x H, as `AcousticModel.embed`."""
        x = torch.from_numpy(frames.reshape(1, -1, N_MELS * self.config.stride))
        return F.gelu(F.linear(x, self.front_w, self.front_b))

    def look(self, z: torch.Tensor) -> torch.Tensor:
        """1 x (T + lookahead) x H -> 1 x T x H, as `AcousticModel.look`."""
        if self.look_w is None:
            return z
        t = z.shape[1] - self.config.lookahead
        y = z[:, :t] + self.look_b
        for k in range(self.config.lookahead + 1):
            y = torch.addcmul(y, z[:, k: k + t], self.look_w[k])
        return y

    # -- the step -------------------------------------------------------------------------------

    def run(self, frames: np.ndarray, pending: torch.Tensor, state: RNNState | None, final: bool):
        """Feature frames m x n_mels (m a multiple of stride) after the P embedded frames `pending`
        (1 x P x H) -> (log-probs R x V of the frames whose lookahead is complete, the embedded frames
        still waiting for it, state). final=True: the last frames see zero lookahead, as offline."""
        c = self.config
        z = torch.cat([pending, self.embed(frames)], dim=1) if len(frames) else pending  # 1 x (P + new) x H
        if final:
            z = F.pad(z, (0, 0, 0, c.lookahead))
        ready = max(0, z.shape[1] - c.lookahead)
        if ready:
            log_probs, state = self.recur(self.look(z[:, : ready + c.lookahead]), state)
        else:
            log_probs = z.new_zeros(0, c.vocab_size)
        return log_probs, z[:, ready:][:, : 0 if final else None].clone(), state

    # -- recurrence and output ------------------------------------------------------------------

    def recur(self, x: torch.Tensor, state: RNNState | None) -> tuple[torch.Tensor, RNNState]:
        """1 x T x H -> (log-probs T x V, state), as `AcousticModel.recur` in eval mode."""
        c = self.config
        lstm = c.cell == "lstm"
        if state is None:
            state = (self.zero_state, self.zero_state) if lstm else self.zero_state
        if self.flat_weights is None:  # an int8 module the compiled kernel does not run: the module itself
            y, new_state = self.rnn(x, state)
        else:
            y, *new = _RECURRENCES[c.cell](x, state, self.flat_weights, True, c.layers, 0.0, False, False, True)
            new_state = tuple(new) if lstm else new[0]
        return F.log_softmax(self.head(y[0]), dim=-1), new_state


_KERNELS: "weakref.WeakKeyDictionary[AcousticModel, StepKernel]" = weakref.WeakKeyDictionary()


def kernel_for(model: AcousticModel) -> StepKernel:
    """The model's kernel, made on first use and again whenever the model's parameters or buffers
    were changed in place since (training, load_state_dict, set_stats) or its layers replaced."""
    kernel = _KERNELS.get(model)
    if (kernel is None or kernel.versions() != kernel._versions
            or kernel.head is not model.head or kernel.rnn is not model.rnn):
        kernel = _KERNELS[model] = StepKernel(model)
    return kernel
