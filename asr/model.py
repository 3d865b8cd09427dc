"""The acoustic model: log-mel frames -> per-frame character log-probabilities (CTC).

    features B x T x 80 (raw log-mel)
      (waveform -> features with `model.logmel`, torchaudio MelSpectrogram)
      -> the model's feature floor, if it has one (config.feature_floor)
      -> global mean/variance normalisation (statistics stored in the model)
      -> frame stacking (stride s): B x T/s x 80s -> Linear -> GELU          (subsampling front end)
      -> depthwise lookahead convolution over the next `lookahead` frames     (optional, exact in streaming)
      -> unidirectional GRU | LSTM | RNN(tanh) stack                          (one code path, `cell`)
      -> Linear -> log_softmax                                                B x T/s x |vocab|

`forward(features, feature_lens, state=None) -> (log_probs, out_lens, state)` mirrors nn.GRU: the
recurrent state goes in and comes out, nothing is kept on `self`. The pieces (`embed`, `look`,
`recur`) are public so a stream can run them chunk by chunk with the carried context.
"""
from __future__ import annotations

from typing import Union

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import ModelConfig
from .features import LogMel, Normalizer

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}  # the names: asr.config.CELL_NAMES

# h (layers x B x H) for gru/rnn, (h, c) for lstm
RNNState = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]

__all__ = ["CELLS", "ModelConfig", "AcousticModel", "RNNState", "count_parameters"]


class AcousticModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.logmel = LogMel()  # waveform -> features; parameter-free, kept here so features travel with the model
        self.normalizer = Normalizer(c.n_mels)
        self.frontend = nn.Linear(c.n_mels * c.stride, c.hidden)
        self.lookahead = nn.Conv1d(c.hidden, c.hidden, c.lookahead + 1, groups=c.hidden) if c.lookahead else None
        self.rnn = CELLS[c.cell](
            c.hidden, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0,
        )
        if c.cell == "lstm":  # forget-gate bias 1 (Jozefowicz et al., 2015): keep the state by default at the start
            with torch.no_grad():  # of training; PyTorch's default (about 0) makes the LSTM slow to start learning
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_ih"):
                        p[c.hidden: 2 * c.hidden].fill_(1.0)  # gate order: input, forget, cell, output
                    elif name.startswith("bias_hh"):
                        p[c.hidden: 2 * c.hidden].zero_()
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    # -- pieces, shared by offline forward and streaming --------------------------------------

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """B x T x n_mels (T a multiple of stride) -> B x T/stride x H."""
        b, t, d = features.shape
        if self.config.feature_floor is not None:  # the model's own floor, above the front end's
            features = features.clamp_min(self.config.feature_floor)
        x = self.normalizer(features).reshape(b, t // self.config.stride, d * self.config.stride)
        return F.gelu(self.frontend(x))

    def look(self, x_ext: torch.Tensor) -> torch.Tensor:
        """B x (T + lookahead) x H -> B x T x H: each frame plus a depthwise mix of its future frames."""
        if self.lookahead is None:
            return x_ext
        t = x_ext.shape[1] - self.config.lookahead
        # the depthwise convolution as lookahead+1 shifted multiply-adds: same sums, less per-call set-up than Conv1d
        w = self.lookahead.weight[:, 0]  # H x (lookahead + 1)
        y = x_ext[:, :t] + self.lookahead.bias
        for k in range(self.config.lookahead + 1):
            y = torch.addcmul(y, x_ext[:, k: k + t], w[:, k])
        return y

    def recur(
        self, x: torch.Tensor, lens: torch.Tensor | None = None, state: RNNState | None = None,
        return_state: bool = True,
    ) -> tuple[torch.Tensor, RNNState | None]:
        """B x T x H -> log-probs B x T x V and the state after each sequence's last valid frame.

        Padding sits after each sequence's end, so it never changes a causal RNN's valid outputs; only
        the returned state needs the (twice slower) packed path. return_state=False skips it.
        """
        x = self.dropout(x)
        if return_state and lens is not None and bool((lens < x.shape[1]).any()):
            packed = pack_padded_sequence(x, lens.cpu().clamp_min(1), batch_first=True, enforce_sorted=False)
            y, state = self.rnn(packed, state)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        else:
            y, state = self.rnn(x, state)
        return F.log_softmax(self.head(self.dropout(y)), dim=-1), state

    # -- offline --------------------------------------------------------------------------------

    def output_lengths(self, feature_lens: torch.Tensor) -> torch.Tensor:
        return feature_lens.div(self.config.stride, rounding_mode="floor")

    def forward(
        self, features: torch.Tensor, feature_lens: torch.Tensor, state: RNNState | None = None,
        return_state: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, RNNState | None]:
        """features B x T x n_mels, feature_lens B -> (log_probs B x T' x V, out_lens B, state).

        The utterance is complete: the lookahead of the last frames sees zeros, as a stream does when
        it is finished. return_state=False (training, evaluation) returns no usable state but runs
        twice as fast on padded batches.
        """
        s = self.config.stride
        t = features.shape[1] // s * s
        out_lens = self.output_lengths(feature_lens)
        x = self.embed(features[:, :t])  # B x T' x H
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < out_lens[:, None]
        x = x * mask[..., None]
        x = self.look(F.pad(x, (0, 0, 0, self.config.lookahead)))
        log_probs, state = self.recur(x, out_lens, state, return_state)
        return log_probs, out_lens, state if return_state else None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
