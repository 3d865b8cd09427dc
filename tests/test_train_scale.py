"""Training as it runs at scale: killed with SIGKILL and resumed (identical to an uninterrupted run),
checkpoints that survive SIGKILL mid-save, two processes with torchrun/gloo matching one process."""
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import train.loop as loop
from asr.checkpoint import load_model
from asr.cli import main
from asr.model import ModelConfig
from train.config import TrainConfig, config_from_json
from train.loop import TrainingError, train
from train.state import STATE_NAME, load_state

ROOT = Path(__file__).parent.parent

# runs the CLI, killing itself with SIGKILL at the given optimiser step (in the gradient clipping)
KILLER = """
import os, signal, sys
import torch
kill_at, calls, real = int(sys.argv[1]), [0], torch.nn.utils.clip_grad_norm_
def clip(*a, **k):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
torch.nn.utils.clip_grad_norm_ = clip
from asr.cli import main
sys.exit(main(sys.argv[2:]))
"""

SAVER = """
import os, sys, time, torch
from train.state import atomic_save
hang_at = int(sys.argv[2])  # > 0: this save stops between writing the temporary file and the rename
real_replace = os.replace
def replace(src, dst):
    if state["step"] == hang_at:
        open(sys.argv[1] + ".hanging", "w").close()
        time.sleep(600)
    real_replace(src, dst)
os.replace = replace
state = {"version": 1, "weights": torch.randn(3_000_000)}
step = 0
while True:
    step += 1
    state["step"] = step
    atomic_save(state, sys.argv[1])
"""


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def rows(run: Path) -> list[dict]:
    with (run / "log.csv").open() as fh:
        return list(csv.DictReader(fh))


def weights(run: Path) -> dict:
    return load_model(run / "last.pt").state_dict()


def tiny_args(corpus: Path, out: Path, *extra) -> list[str]:
    return ["train", "--data", str(corpus), "--train", "tiny-train", "--dev", "tiny-dev", "--out", str(out),
            "--hidden", "32", "--layers", "2", "--epochs", "2", "--batch-seconds", "6", "--lr", "1e-2",
            "--warmup-steps", "4", "--threads", "1", "--device", "cpu", *extra]


def test_killed_run_resumes_exactly_where_it_stopped(tiny_corpus, tmp_path, one_thread):
    killed = tmp_path / "killed"
    args = tiny_args(tiny_corpus, killed, "--checkpoint-every", "4", "--speed-perturb")  # dropout, SpecAugment on
    r = subprocess.run([sys.executable, "-c", KILLER, "14", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    state = load_state(killed / STATE_NAME)
    assert state["step"] == 12 and state["epoch"] == 2 and state["batch_in_epoch"] > 0  # mid-epoch 2 (9 steps/epoch)
    assert len(rows(killed)) == 1  # epoch 1 was logged before the kill

    cfg = config_from_json(killed / "config.json")
    whole = train(config_from_json(killed / "config.json", out=tmp_path / "whole"))
    resumed = train(config_from_json(killed / "config.json", resume=True))
    assert resumed.steps == whole.steps and resumed.epochs == whole.epochs == cfg.epochs
    a, b = weights(tmp_path / "whole"), weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    assert [r["train_loss"] for r in rows(killed)] == [r["train_loss"] for r in rows(tmp_path / "whole")]
    assert [r["dev_wer"] for r in rows(killed)] == [r["dev_wer"] for r in rows(tmp_path / "whole")]


def test_sigkill_during_saves_never_leaves_an_unreadable_checkpoint(tmp_path):
    path = tmp_path / STATE_NAME
    interrupted_saves, last = 0, 0
    hanging = Path(str(path) + ".hanging")
    for i in range(5):
        hang_at = 3 if i == 0 else 0  # the first kill surely lands mid-save; the others at random moments
        p = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(hang_at)], cwd=ROOT)
        deadline = time.time() + 60
        if hang_at:
            while time.time() < deadline and not hanging.exists():
                time.sleep(0.02)
            hanging.unlink()
        else:
            while time.time() < deadline and (not path.exists() or torch.load(path, weights_only=True)["step"] < 2):
                time.sleep(0.02)
            time.sleep(0.05 + 0.07 * i)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        interrupted_saves += bool(list(tmp_path.glob(f".{STATE_NAME}.*.tmp")))
        state = load_state(path)  # the latest complete save, never a torn file
        assert state["step"] >= 2 and state["weights"].shape == (3_000_000,)
        last = state["step"]
    assert interrupted_saves >= 1 and last >= 2  # at least one kill landed in the middle of a save


def test_two_processes_with_gloo_see_disjoint_data_and_match_one_process(tiny_corpus, tmp_path, one_thread):
    ddp = tmp_path / "ddp"
    args = tiny_args(tiny_corpus, ddp, "--dropout", "0", "--no-spec-augment", "--trace-batches")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "asr", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    single = tmp_path / "single"
    train(config_from_json(ddp / "config.json", out=single))

    def trace(path):
        return [(int(e), int(s), set(filter(None, ids.split(",")))) for e, s, ids in
                (line.rstrip("\n").split("\t") for line in path.read_text().splitlines())]

    rank0, rank1, one = (trace(p) for p in (ddp / "batches.rank0.tsv", ddp / "batches.rank1.tsv",
                                              single / "batches.rank0.tsv"))
    assert len(rank0) == len(rank1) == len(one) > 8
    for (e0, s0, ids0), (e1, s1, ids1), (e, s, ids) in zip(rank0, rank1, one):
        assert (e0, s0) == (e1, s1) == (e, s)
        assert not ids0 & ids1 and ids0 | ids1 == ids  # disjoint shares of the same global batch
    a, b = weights(ddp), weights(single)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-4, worst  # 2e-6 measured after 18 steps
    for x, y in zip(rows(ddp), rows(single), strict=True):
        assert float(x["train_loss"]) == pytest.approx(float(y["train_loss"]), rel=1e-4)


def test_bad_audio_and_nan_losses_are_counted_and_a_persistent_nan_stops_the_run(
        tiny_corpus, tmp_path, monkeypatch, capsys, one_thread):
    shutil.copytree(tiny_corpus / "LibriSpeech", tmp_path / "corpus" / "LibriSpeech")
    victim = sorted((tmp_path / "corpus" / "LibriSpeech" / "tiny-train").glob("*/*/*.flac"))[3]
    blob = victim.read_bytes()
    victim.write_bytes(blob[: len(blob) // 2])  # the header still reads; decoding fails mid-file
    calls, real_ctc = [0], F.ctc_loss

    def sometimes_nan(*args, **kwargs):
        calls[0] += 1
        loss = real_ctc(*args, **kwargs)
        return loss * float("nan") if calls[0] == 2 else loss

    monkeypatch.setattr(loop.F, "ctc_loss", sometimes_nan)
    cfg = TrainConfig(data=tmp_path / "corpus", train_subsets=("tiny-train",), dev_subset="tiny-dev",
                      out=tmp_path / "run", model=ModelConfig(hidden=32, layers=1), epochs=1, batch_seconds=6,
                      threads=1, device="cpu")
    result = train(cfg)
    out = capsys.readouterr().out
    summary = re.search(r"epoch 1: .*skipped: (\d+) non-finite loss, 1 unreadable audio", out)
    assert result.epochs == 1 and summary, out
    (row,) = rows(tmp_path / "run")
    assert int(row["skipped"]) == int(summary.group(1)) + 1

    monkeypatch.setattr(loop.F, "ctc_loss", lambda *a, **k: real_ctc(*a, **k) * float("nan"))
    with pytest.raises(TrainingError, match="NaN or infinite in 3 batches in a row"):
        train(TrainConfig(**{**cfg.__dict__, "out": tmp_path / "nan", "max_bad_steps": 3}))


def test_resume_without_a_run_folder_is_one_line(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{}")  # a run's options are refused before its config is read
    assert main(["train", "--resume", str(tmp_path), "--lr", "1e-4", "--no-spec-augment", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "--lr, --no-spec-augment: a resumed run keeps the configuration saved in" in err
    assert "only --epochs, --max-minutes" in err and f"--init {tmp_path}/best.pt" in err
    # an option is refused even at its default value, and its abbreviation is caught too
    assert main(["train", "--resume", str(tmp_path), "--seed", "0", "--cell", "gru"]) == 2
    assert "--cell, --seed: a resumed run keeps" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--hid", "320"]) == 2
    assert "--hidden: a resumed run keeps" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path)]) == 2
    assert "required: --train, --dev, --out" in capsys.readouterr().err
    assert main(tiny_args(tmp_path, tmp_path / "run", "--eq", "1.5")) == 2
    assert "--eq must be a probability in [0, 1], not 1.5" in capsys.readouterr().err


def test_eval_every_evaluates_inside_epochs_and_keep_checkpoints_keeps_each_model(tiny_corpus, tmp_path, one_thread):
    run = tmp_path / "run"
    assert main(tiny_args(tiny_corpus, run, "--eval-every", "0.0005", "--keep-checkpoints", "--eq", "0.5")) == 0
    assert config_from_json(run / "config.json").eq == 0.5
    logged = rows(run)
    assert len(logged) > 2  # more evaluations than the two epoch ends
    steps = [int(r["step"]) for r in logged]
    assert steps == sorted(set(steps))
    kept = sorted(int(p.stem.split("-")[1]) for p in run.glob("step-*.pt"))
    assert kept == steps
    last = load_model(run / f"step-{steps[-1]}.pt").state_dict()
    assert all(torch.equal(last[k], v) for k, v in weights(run).items())
    assert load_model(run / f"step-{steps[0]}.pt").meta["step"] == steps[0]
    # a resumed run may stop keeping them
    assert main(["train", "--resume", str(run), "--epochs", "3", "--no-keep-checkpoints"]) == 0
    assert len(rows(run)) > len(logged)
    assert sorted(int(p.stem.split("-")[1]) for p in run.glob("step-*.pt")) == kept
    assert not config_from_json(run / "config.json").keep_checkpoints
