import math

import numpy as np
import torch

from asr.audio import HOP_LENGTH, LOG_FLOOR, N_FFT, N_MELS, SAMPLE_RATE
from asr.features import LogMel, Normalizer, feature_lengths, num_frames


def test_frame_count_matches_center_false():
    logmel = LogMel()
    for n in [0, 399, 400, 401, 559, 560, SAMPLE_RATE, SAMPLE_RATE + 77]:
        feats = logmel(torch.randn(1, n))
        assert feats.shape == (1, num_frames(n), N_MELS)
        assert int(feature_lengths(torch.tensor([n]))[0]) == num_frames(n)
    assert num_frames(N_FFT + 3 * HOP_LENGTH) == 4


def test_log_floor_keeps_silence_finite():
    feats = LogMel()(torch.zeros(1, SAMPLE_RATE))
    assert torch.isfinite(feats).all()
    assert float(feats.max()) == float(feats.min())  # all at the floor ...
    assert abs(float(feats.max()) - math.log(LOG_FLOOR)) < 1e-5 and -17.5 < math.log(LOG_FLOOR) < -16.5
    # ... which is under real recordings' quietest values (about -16 at their 0.1 % quantile): a quiet hiss
    # (white noise at -90 dBFS) stays over it in every band, so the floor changes digital silence only
    hiss = LogMel()(torch.randn(1, SAMPLE_RATE) * 3e-5)
    assert float(hiss.min()) > math.log(LOG_FLOOR)


def test_features_of_a_segment_equal_features_of_the_whole():
    """center=False frames depend only on their own samples: the basis of exact streaming."""
    logmel = LogMel()
    wave = torch.randn(1, 8000)
    whole = logmel(wave)
    part = logmel(wave[:, 10 * HOP_LENGTH: 10 * HOP_LENGTH + N_FFT + 5 * HOP_LENGTH])
    assert torch.allclose(whole[:, 10:16], part, atol=1e-4)


def test_normalizer_uses_global_statistics():
    feats = torch.randn(4, 50, N_MELS) * 3 + 7
    norm = Normalizer()
    flat = feats.reshape(-1, N_MELS)
    norm.set_stats(flat.mean(0), flat.std(0))
    out = norm(feats).reshape(-1, N_MELS)
    np.testing.assert_allclose(out.mean(0).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(0).numpy(), 1, atol=1e-2)
    # one utterance alone is not re-normalised: its statistics stay its own
    one = norm(feats[:1] + 1.0)
    assert float(one.mean()) > 0.2


def test_streaming_kernel_logmel_equals_logmel_module():
    """asr.runtime.kernel computes the log-mel with numpy (long inputs in pieces): the module's values."""
    from asr.runtime.kernel import StepKernel
    from asr.model import AcousticModel, ModelConfig

    model = AcousticModel(ModelConfig(hidden=16, layers=1))
    kernel = StepKernel(model)
    rng = np.random.default_rng(0)
    for n in [N_FFT, N_FFT + 255 * HOP_LENGTH, N_FFT + 256 * HOP_LENGTH, N_FFT + 256 * HOP_LENGTH + 159,
              SAMPLE_RATE * 7 + 77]:
        wave = (rng.standard_normal(n) * 0.1).astype(np.float32)
        ours = kernel.logmel(wave)
        ref = model.logmel(torch.from_numpy(wave)[None])[0].numpy()
        assert ours.shape == ref.shape == (num_frames(n), N_MELS)
        np.testing.assert_allclose(ours, ref, atol=1e-4)
