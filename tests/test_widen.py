"""`asr train --init SMALL.pt --hidden H`: a narrower model grown to H units computes exactly what it
computed before, for every cell, and then learns with its new units."""
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from asr.checkpoint import load_model, save_model
from asr.model import AcousticModel, ModelConfig
from train.widen import start_model

SMALL = ModelConfig(hidden=16, layers=2, lookahead=1, dropout=0.2)


def _small(cell: str) -> AcousticModel:
    torch.manual_seed(1)
    model = AcousticModel(replace(SMALL, cell=cell))
    with torch.no_grad():
        model.normalizer.set_stats(torch.randn(80), torch.rand(80) + 0.5)
        model.lookahead.weight.normal_()  # not the default init, so a copy in the wrong place would show
    return model.eval()


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_widened_model_gives_the_same_log_probs_and_then_learns(cell):
    small = _small(cell)
    big = start_model(small, replace(small.config, hidden=24), seed=3).eval()
    assert big.rnn.hidden_size == 24 and big.head.in_features == 24
    feats, lens = torch.randn(2, 93, 80) * 4, torch.tensor([93, 60])
    with torch.no_grad():
        a, a_lens, a_state = small(feats, lens)
        b, b_lens, b_state = big(feats, lens)
    assert torch.equal(a_lens, b_lens)
    for i, n in enumerate(a_lens.tolist()):
        torch.testing.assert_close(b[i, :n], a[i, :n], rtol=0, atol=1e-6)
    old_h = a_state[0] if cell == "lstm" else a_state
    new_h = b_state[0] if cell == "lstm" else b_state
    torch.testing.assert_close(new_h[..., :16], old_h, rtol=0, atol=1e-6)  # old units: same state
    assert new_h[..., 16:].abs().sum() > 0  # new units are active, so their outgoing weights get a gradient
    big.train()
    log_probs, _, _ = big(feats, lens, return_state=False)
    (-log_probs[:, :, 3].sum()).backward()  # any loss through the head
    assert big.head.weight.grad[:, 16:].abs().sum() > 0


def test_start_model_refuses_other_shapes_and_narrowing():
    small = _small("gru")
    same = start_model(small, replace(small.config, dropout=0.1), seed=0)  # dropout may change
    assert all(torch.equal(p, q) for p, q in zip(same.state_dict().values(), small.state_dict().values()))
    with pytest.raises(ValueError, match="would narrow"):
        start_model(small, replace(small.config, hidden=8), seed=0)
    with pytest.raises(ValueError, match=r"layers 2 \(run: 3\)"):
        start_model(small, replace(small.config, hidden=24, layers=3), seed=0)
    with pytest.raises(ValueError, match="cell gru"):
        start_model(small, replace(small.config, cell="lstm"), seed=0)


def test_train_init_widens_a_checkpoint_and_explains_a_mismatch(tiny_corpus, tmp_path):
    small = _small("gru")
    save_model(tmp_path / "small.pt", small, {"emission_delay_frames": 3.5})
    common = [sys.executable, "-m", "asr", "train", "--data", str(tiny_corpus), "--train", "tiny-train",
              "--dev", "tiny-dev", "--layers", "2", "--init", str(tmp_path / "small.pt"), "--epochs", "1",
              "--batch-seconds", "6", "--no-spec-augment"]
    run = subprocess.run([*common, "--hidden", "24", "--out", str(tmp_path / "wide")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "widened from 16 to 24 units (same outputs)" in run.stdout
    wide = load_model(tmp_path / "wide" / "last.pt")
    assert wide.config.hidden == 24
    # the measured emission delay (word times) of --init is carried, marked as inherited
    assert wide.meta["emission_delay_frames"] == 3.5 and "inherited" in wide.meta["emission_delay_from"]
    assert "carry no emission delay" not in run.stdout
    # resumed after the --init file is gone, the run keeps the delay its checkpoints carry
    (tmp_path / "small.pt").rename(tmp_path / "moved.pt")
    more = subprocess.run([sys.executable, "-m", "asr", "train", "--resume", str(tmp_path / "wide"), "--epochs", "2"],
                          capture_output=True, text=True, timeout=300)
    assert more.returncode == 0 and "resuming" in more.stdout, more.stderr
    assert load_model(tmp_path / "wide" / "last.pt").meta["emission_delay_frames"] == 3.5
    assert "carry no emission delay" not in more.stdout
    (tmp_path / "moved.pt").rename(tmp_path / "small.pt")
    bad = subprocess.run([*common, "--hidden", "8", "--out", str(tmp_path / "narrow")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "would narrow" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "narrow" / "last.pt").exists()
    # without --hidden the run takes --init's width (not the default 320, which would not fit); an --init with no
    # measured delay gives checkpoints with none, and the run says how to measure it
    save_model(tmp_path / "plain.pt", small)
    common[common.index(str(tmp_path / "small.pt"))] = str(tmp_path / "plain.pt")
    same = subprocess.run([*common, "--out", str(tmp_path / "same")], capture_output=True, text=True, timeout=300)
    assert same.returncode == 0 and f"initialised from {tmp_path / 'plain.pt'}\n" in same.stdout, same.stderr
    plain = load_model(tmp_path / "same" / "last.pt")
    assert plain.config.hidden == 16 and "emission_delay_frames" not in plain.meta
    assert "carry no emission delay" in same.stdout and "bench.timestamps" in same.stdout
