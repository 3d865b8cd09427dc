"""The int8 model's streaming step in compiled code (numba): front end to log-probs in one call.

torch's dynamically quantized GRU/LSTM (`asr.runtime.quantize`) spends most of a 20-40 ms chunk outside its
arithmetic: a dozen module and operator calls per 30 ms frame, each several times slower in the
stream than in a loop of its own. This kernel does the whole chunk in one numba function, and is
what `asr.runtime.incremental.encode_chunk` (so `asr transcribe`, `stream`, `live` and `eval`) runs for an
int8 GRU or LSTM model:

- front end (float32, the normaliser folded in, as `asr.runtime.kernel`), GELU, lookahead;
- each recurrent layer: its input frames quantized to int8 one frame at a time (symmetric, scale
  max|x| / 127), the stored int8 weights with their per-row scales, int32 sums; the input
  projections of all the chunk's frames in one pass over the weights (each weight row is read
  once per chunk), the recurrent projection frame by frame;
- output layer (its int8 weights dequantized: 29 rows) and log-softmax.

Each frame's numbers depend on that frame's values only, never on how the audio was cut, so int8
streaming output equals int8 offline output exactly, for any chunking. (torch's int8 modules
quantize a whole call's input with one scale; they remain the int8 model's `forward`, which
TorchScript export scripts.) The kernel also runs a vanilla `rnn` (tanh) cell, for `asr.runtime.lite`:
torch has no dynamically quantized `nn.RNN`, so torch's int8 path (`asr.runtime.quantize`) keeps that
cell in float32, while `asr.runtime.lite` quantizes its weights by row like the other cells'.

The first call in a process compiles the functions (a few seconds) unless numba's cache (beside
this file, `__pycache__`) holds them.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from asr.audio import HOP_LENGTH, LOG_FLOOR

__all__ = ["Int8Kernel", "int8_weights", "quantize_rows"]

_GRU, _LSTM, _RNN = 0, 1, 2
_CELLS = {"gru": _GRU, "lstm": _LSTM, "rnn": _RNN}


@njit(fastmath=True, cache=True)
def _quantize_rows(x, xq, scales):
    """T x K float32 -> T x K int16 holding int8 values, and each row's scale (symmetric, max|x| / 127)."""
    for t in range(x.shape[0]):
        m = np.float32(0.0)
        for j in range(x.shape[1]):
            a = abs(x[t, j])
            if a > m:
                m = a
        if m == 0.0:
            scales[t] = 0.0
            for j in range(x.shape[1]):
                xq[t, j] = 0
            continue
        s = m / np.float32(127.0)
        inv = np.float32(1.0) / s
        scales[t] = s
        for j in range(x.shape[1]):
            xq[t, j] = np.int16(np.rint(x[t, j] * inv))


@njit(fastmath=True, cache=True)
def _matmul_int8(w, w_scales, xq, x_scales, bias, out, sums):
    """out[t] = (w @ xq[t]) * w_scales * x_scales[t] + bias, w int8 N x K: each weight row read once."""
    n, k = w.shape
    for i in range(n):
        for t in range(xq.shape[0]):
            acc = np.int32(0)
            for j in range(k):
                acc += np.int16(w[i, j]) * xq[t, j]
            sums[t, i] = acc
    for t in range(xq.shape[0]):
        for i in range(n):
            out[t, i] = np.float32(sums[t, i]) * (w_scales[i] * x_scales[t]) + bias[i]


@njit(fastmath=True, cache=True, inline="always")
def _tanh(x):
    """tanh as a rational function on [-7.9, 7.9] (Eigen's float tanh; error < 3e-7): plain arithmetic,
    so the gate loops vectorise (a call to libm's tanh or exp per value would not)."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@njit(fastmath=True, cache=True, inline="always")
def _sigmoid(x):
    return np.float32(0.5) + np.float32(0.5) * _tanh(np.float32(0.5) * x)


@njit(fastmath=True, cache=True)
def _layer(cell, x, h, c, w_ih, s_ih, b_ih, w_hh, s_hh, b_hh, y):
    """One recurrent layer over T frames: x T x H -> y T x H; h (and c, LSTM) updated in place."""
    t_count, hidden = x.shape
    gates = w_ih.shape[0]
    xq = np.empty(x.shape, np.int16)
    xs = np.empty(t_count, np.float32)
    gi = np.empty((t_count, gates), np.float32)
    sums = np.empty((t_count, gates), np.int32)
    _quantize_rows(x, xq, xs)
    _matmul_int8(w_ih, s_ih, xq, xs, b_ih, gi, sums)
    hq = np.empty((1, hidden), np.int16)
    hs = np.empty(1, np.float32)
    gh = np.empty((1, gates), np.float32)
    hsum = np.empty((1, gates), np.int32)
    h2 = h.reshape(1, hidden)
    for t in range(t_count):
        _quantize_rows(h2, hq, hs)
        _matmul_int8(w_hh, s_hh, hq, hs, b_hh, gh, hsum)
        if cell == _GRU:  # gate rows r, z, n (PyTorch's order)
            for i in range(hidden):
                r = _sigmoid(gi[t, i] + gh[0, i])
                z = _sigmoid(gi[t, hidden + i] + gh[0, hidden + i])
                n = _tanh(gi[t, 2 * hidden + i] + r * gh[0, 2 * hidden + i])
                h[i] = (np.float32(1.0) - z) * n + z * h[i]
        elif cell == _RNN:  # h = tanh(W_ih x + b_ih + W_hh h + b_hh)
            for i in range(hidden):
                h[i] = _tanh(gi[t, i] + gh[0, i])
        else:  # LSTM: i, f, g, o
            for i in range(hidden):
                ig = _sigmoid(gi[t, i] + gh[0, i])
                fg = _sigmoid(gi[t, hidden + i] + gh[0, hidden + i])
                gg = _tanh(gi[t, 2 * hidden + i] + gh[0, 2 * hidden + i])
                og = _sigmoid(gi[t, 3 * hidden + i] + gh[0, 3 * hidden + i])
                c[i] = fg * c[i] + ig * gg
                h[i] = og * _tanh(c[i])
        for i in range(hidden):
            y[t, i] = h[i]


@njit(fastmath=True, cache=True, nogil=True)  # streams in other threads run meanwhile (asr serve)
def _run(cell, feats, pending, final, lookahead, h_in, c_in, front_w, front_b, look_w, look_b,
         w_ih, s_ih, b_ih, w_hh, s_hh, b_hh, head_w, head_b):
    """Stacked feature frames m x D (+ the P pending embedded frames) -> (log-probs R x V, embedded
    frames still waiting for their lookahead, h, c). h_in, c_in: layers x H (read only)."""
    h = h_in.copy()
    c = c_in.copy()
    m, d = feats.shape
    hidden = front_b.shape[0]
    p = pending.shape[0]
    total = p + m + (lookahead if final else 0)
    z = np.zeros((total, hidden), np.float32)
    z[:p] = pending
    for t in range(m):  # front end + GELU (exact, erf)
        for i in range(hidden):
            acc = np.float32(0.0)
            for j in range(d):
                acc += front_w[i, j] * feats[t, j]
            v = acc + front_b[i]
            z[p + t, i] = np.float32(0.5) * v * (np.float32(1.0) + math.erf(v * np.float32(0.7071067811865476)))
    ready = max(0, total - lookahead)
    x = np.empty((ready, hidden), np.float32)
    for t in range(ready):  # lookahead: frame + bias + depthwise mix of it and its next frames
        for i in range(hidden):
            v = z[t, i]
            if look_w.shape[0]:
                v += look_b[i]
                for k in range(look_w.shape[0]):
                    v += look_w[k, i] * z[t + k, i]
            x[t, i] = v
    y = np.empty((ready, hidden), np.float32)
    for layer in range(h.shape[0]):
        _layer(cell, x, h[layer], c[layer], w_ih[layer], s_ih[layer], b_ih[layer],
               w_hh[layer], s_hh[layer], b_hh[layer], y)
        x, y = y, x
    vocab = head_b.shape[0]
    out = np.empty((ready, vocab), np.float32)
    for t in range(ready):
        top = np.float32(-3.0e38)
        for v in range(vocab):
            acc = head_b[v]
            for i in range(hidden):
                acc += head_w[v, i] * x[t, i]
            out[t, v] = acc
            if acc > top:
                top = acc
        total_exp = np.float32(0.0)
        for v in range(vocab):
            total_exp += math.exp(out[t, v] - top)
        lse = top + math.log(total_exp)
        for v in range(vocab):
            out[t, v] -= lse
    rest = z[ready:] if not final else z[:0]
    return out, rest.copy(), h, c


@njit(fastmath=True, cache=True, nogil=True)  # streams in other threads run meanwhile (asr serve)
def _windowed_frames(samples, n, hop, window):
    """n frames of len(window) samples, `hop` apart, each multiplied by the window."""
    size = window.shape[0]
    out = np.empty((n, size), np.float32)
    for t in range(n):
        for j in range(size):
            out[t, j] = samples[t * hop + j] * window[j]
    return out


@njit(fastmath=True, cache=True, nogil=True)  # streams in other threads run meanwhile (asr serve)
def _log_mel(spec, filterbank, floor):
    """Complex spectra T x (N_FFT/2 + 1) -> log(max(|X|^2 @ filterbank, floor)), T x n_mels."""
    frames, bins = spec.shape
    mels = filterbank.shape[1]
    out = np.zeros((frames, mels), np.float32)
    for t in range(frames):
        for b in range(bins):
            v = spec[t, b]
            power = np.float32(v.real * v.real + v.imag * v.imag)
            for m in range(mels):
                out[t, m] += power * filterbank[b, m]
        for m in range(mels):
            out[t, m] = math.log(max(out[t, m], floor))
    return out


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 N x K -> (int8 values, float32 scale per row): what torch's per-channel symmetric weight
    observer and quantizer give (`asr.runtime.quantize`): scale max|row| / 127.5, values rint(w / scale)."""
    w = np.asarray(w, np.float32)
    scales = np.maximum(np.abs(w).max(axis=1) / np.float32(127.5), np.finfo(np.float32).eps).astype(np.float32)
    values = np.clip(np.rint(w * (np.float32(1.0) / scales)[:, None]), -128, 127).astype(np.int8)
    return values, scales


def _row_scales(key: str, w) -> np.ndarray:
    """One float32 scale per output row (int8 files with one scale per matrix repeat it)."""
    from .quantize import weight_scales

    scales = weight_scales(key, w)
    if isinstance(scales, float):
        return np.full(w.shape[0], scales, np.float32)
    return scales.numpy().astype(np.float32)


def int8_weights(rnn, layers: int) -> dict[str, np.ndarray] | None:
    """The int8 GRU/LSTM module's weights (int8 values, per-row scales, float biases) stacked by
    layer; None for a module this kernel does not run."""
    import torch
    from torch.ao.nn.quantized import dynamic as nnqd

    if not isinstance(rnn, (nnqd.GRU, nnqd.LSTM)):
        return None
    wb = rnn._weight_bias()
    weights, biases = wb["weight"], wb["bias"]
    out: dict[str, list] = {k: [] for k in ("w_ih", "s_ih", "b_ih", "w_hh", "s_hh", "b_hh")}
    for layer in range(layers):
        for kind in ("ih", "hh"):
            w = weights[f"weight_{kind}_l{layer}"]
            if w.dtype != torch.qint8:
                return None
            out[f"w_{kind}"].append(w.int_repr().numpy())
            out[f"s_{kind}"].append(_row_scales(f"weight_{kind}_l{layer}", w))
            out[f"b_{kind}"].append(biases[f"bias_{kind}_l{layer}"].detach().numpy().astype(np.float32))
    return {k: np.ascontiguousarray(np.stack(v)) for k, v in out.items()}


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


class Int8Kernel:
    """The compiled step for one int8 GRU/LSTM/RNN model, on numpy arrays only: built by
    `asr.runtime.kernel.StepKernel` from torch's int8 modules, or by `asr.runtime.lite` straight from a checkpoint.

    weights: `int8_weights`' dict; front_w, front_b: the front end with the normaliser folded in;
    look_w (lookahead + 1) x H and look_b, or None; head_w V x H (the dequantized int8 output layer)
    and head_b; window and filterbank: the log-mel's."""

    def __init__(self, config, weights: dict[str, np.ndarray], front_w, front_b, look_w, look_b, head_w, head_b,
                 window, filterbank) -> None:
        self.config = config
        self.cell = _CELLS[config.cell]
        self.weights = weights
        hidden = config.hidden
        self.front_w, self.front_b = _f32(front_w), _f32(front_b)
        self.look_w = _f32(look_w) if look_w is not None else np.zeros((0, hidden), np.float32)
        self.look_b = _f32(look_b) if look_b is not None else np.zeros(hidden, np.float32)
        self.head_w, self.head_b = _f32(head_w), _f32(head_b)
        self.zeros = np.zeros((config.layers, hidden), np.float32)
        self.window, self.filterbank = _f32(window), _f32(filterbank)

    def frames(self, samples: np.ndarray, n: int) -> np.ndarray:
        """The first n windowed analysis frames of `samples` (float32), ready for the FFT."""
        return _windowed_frames(samples, n, HOP_LENGTH, self.window)

    def mel(self, spec: np.ndarray) -> np.ndarray:
        """rfft output of the windowed frames -> log-mel frames (`asr.runtime.kernel.StepKernel.logmel`'s last step)."""
        feats = _log_mel(spec, self.filterbank, np.float32(LOG_FLOOR))
        if self.config.feature_floor is not None:  # the model's own floor, as AcousticModel.embed
            np.maximum(feats, np.float32(self.config.feature_floor), out=feats)
        return feats

    def logmel(self, samples: np.ndarray, n: int) -> np.ndarray:
        """The first n log-mel frames of float32 `samples` (center=False)."""
        return self.mel(np.fft.rfft(self.frames(samples, n)))

    def step(self, frames: np.ndarray, pending: np.ndarray, h: np.ndarray | None, c: np.ndarray | None,
             final: bool):
        """Feature frames m x n_mels (m a multiple of stride) after the P embedded frames `pending`
        (P x H) and the state h, c (layers x H; None: zeros) -> (log-probs R x V of the frames whose
        lookahead is complete, the embedded frames still waiting for it, h, c)."""
        cfg = self.config
        feats = np.ascontiguousarray(frames.reshape(-1, cfg.n_mels * cfg.stride))  # stacked: m / stride x D
        w = self.weights
        return _run(
            self.cell, feats, pending, final, cfg.lookahead, self.zeros if h is None else h,
            self.zeros if c is None else c, self.front_w, self.front_b, self.look_w, self.look_b,
            w["w_ih"], w["s_ih"], w["b_ih"], w["w_hh"], w["s_hh"], w["b_hh"], self.head_w, self.head_b,
        )

    def run(self, frames: np.ndarray, pending, state, final: bool):
        """`step` with torch's state types, as `asr.runtime.kernel.StepKernel.run`: feature frames m x n_mels,
        pending 1 x P x H, state h or (h, c) (layers x 1 x H) -> (log-probs R x V, pending, state)."""
        import torch

        cfg = self.config
        shape = (cfg.layers, cfg.hidden)
        if state is None:
            h = c = None
        elif self.cell == _LSTM:
            h, c = state[0].numpy().reshape(shape), state[1].numpy().reshape(shape)
        else:
            h, c = state.numpy().reshape(shape), None
        log_probs, rest, h, c = self.step(frames, pending.numpy()[0], h, c, final)
        h_t = torch.from_numpy(h.reshape(cfg.layers, 1, cfg.hidden))
        new_state = (h_t, torch.from_numpy(c.reshape(cfg.layers, 1, cfg.hidden))) if self.cell == _LSTM else h_t
        return torch.from_numpy(log_probs), torch.from_numpy(rest[None]), new_state
