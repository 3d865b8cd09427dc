"""`asr compare`: the plan (hidden sizes at matched parameters, MACs), the loop's in-epoch evaluations, and a
smoke run of every stage on a tiny corpus: report, plots, matched parameter counts, resumability."""
import csv
import json
import time
from dataclasses import replace

import pytest
import torch

from asr.cli import main
from asr.model import AcousticModel, ModelConfig, count_parameters
from train.compare.plan import (MATCH_TOLERANCE, macs_per_audio_second, macs_per_frame, parameter_count, plan_runs,
                                solve_hidden)
from train.config import TrainConfig
from train.loop import train

from .conftest import espeak

CELLS = ("gru", "lstm", "rnn")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers,lookahead,stride", [(1, 0, 2), (3, 1, 3), (2, 2, 4)])
def test_parameter_count_formula_is_exact(cell, layers, lookahead, stride):
    for hidden in (7, 64):
        c = ModelConfig(cell=cell, hidden=hidden, layers=layers, lookahead=lookahead, stride=stride)
        assert parameter_count(c) == count_parameters(AcousticModel(c))


@pytest.mark.parametrize("params", [20_000, 300_000, 1_000_000, 3_000_000])
def test_solved_hidden_sizes_match_the_budget_and_are_the_nearest(params):
    base = ModelConfig(layers=3)
    for cell in CELLS:
        h = solve_hidden(cell, params, base)
        got = count_parameters(AcousticModel(replace(base, cell=cell, hidden=h)))
        assert abs(got - params) <= MATCH_TOLERANCE * params, (cell, h, got)
        for other in (h - 1, h + 1):
            assert abs(parameter_count(replace(base, cell=cell, hidden=other)) - params) >= abs(got - params)
    with pytest.raises(ValueError, match="within 5%"):
        solve_hidden("lstm", 100, base)  # smaller than any model


def test_plan_trains_the_gru_once_and_shares_its_hidden_size():
    runs, same = plan_runs(1_000_000, 2)
    names = [r.name for r in runs]
    assert names == ["gru-p-s0", "lstm-p-s0", "rnn-p-s0", "gru-p-s1", "lstm-p-s1", "rnn-p-s1", "lstm-h-s0", "rnn-h-s0"]
    by_name = {r.name: r for r in runs}
    assert same == {"gru": "gru-p-s0", "lstm": "lstm-h-s0", "rnn": "rnn-h-s0"}
    assert {by_name[n].model.hidden for n in same.values()} == {by_name["gru-p-s0"].model.hidden}
    assert by_name["lstm-p-s0"].model.hidden < by_name["gru-p-s0"].model.hidden < by_name["rnn-p-s0"].model.hidden


@pytest.mark.parametrize("cell", CELLS)
def test_macs_per_audio_second_counts_every_weight_once_per_frame(cell):
    c = ModelConfig(cell=cell, hidden=24, layers=2, lookahead=2, stride=4)
    model = AcousticModel(c)
    # hook-free count from the parameter shapes: each weight matrix (not a bias) is one multiply-add per frame
    weights = sum(p.numel() for name, p in model.named_parameters() if not name.split(".")[-1].startswith("bias"))
    assert macs_per_frame(c) == weights
    assert macs_per_audio_second(c) == pytest.approx(weights * 100 / 4)
    # and the frame count it assumes is the model's: 1 s of features gives 100 / stride output frames
    log_probs, _, _ = model(torch.zeros(1, 100, c.n_mels), torch.tensor([100]))
    assert log_probs.shape[1] == 100 // 4


def test_in_epoch_evaluation_stops_the_run_at_the_budget(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, train_subsets=("tiny-train",), dev_subset="tiny-dev", out=tmp_path / "run",
                      model=ModelConfig(hidden=16, layers=1), epochs=3, batch_seconds=4, threads=1, device="cpu",
                      max_minutes=1e-6, eval_every_minutes=1e-6)
    result = train(cfg)
    with (tmp_path / "run" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["epoch"] == "1" and rows[0]["step"] == "1"  # stopped at the first step
    assert result.steps == 1 and (tmp_path / "run" / "best.pt").exists()


def test_asr_compare_smoke(tiny_corpus, tmp_path, capsys):
    espeak("x")  # the probe needs espeak-ng; skips without it
    threads = torch.get_num_threads()
    out, report = tmp_path / "cmp", tmp_path / "report" / "comparison.md"
    args = ["compare", "--data", str(tiny_corpus), "--train", "tiny-train", "--dev", "tiny-dev", "--out", str(out),
            "--params", "20000", "--layers", "1", "--epochs", "1", "--batch-seconds", "8", "--threads", "1",
            "--device", "cpu", "--stream-seconds", "3", "--probe-gaps", "0.5,1", "--probe-scale", "0.05",
            "--report", str(report)]
    t0 = time.time()
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)
    elapsed = time.time() - t0
    assert elapsed < 120, elapsed

    results = json.loads((out / "results.json").read_text())
    runs = results["runs"]
    assert set(runs) == {f"{c}-p-s{s}" for c in CELLS for s in (0, 1)} | {"lstm-h-s0", "rnn-h-s0"}
    for name, run in runs.items():
        assert {"params", "hidden", "macs_per_audio_s", "train", "measure"} <= set(run), name
        assert run["measure"]["device"]["device"] == "cpu" and run["measure"]["stream"]["rtf"] > 0
        assert 0 <= run["measure"]["beam_lm_wer"] and 0 <= run["measure"]["beam_lm_cer"]  # beam + bundled LM
        assert run["train"]["audio_s_per_s"] > 0
        saved = torch.load(out / "runs" / name / "best.pt", weights_only=True)
        model_params = count_parameters(AcousticModel(ModelConfig(**saved["config"])))
        assert model_params == run["params"]
        if run["group"] == "matched":
            assert abs(model_params - 20_000) <= 0.05 * 20_000, name
    hidden = results["same_hidden"]["hidden"]
    assert {runs[n]["hidden"] for n in results["same_hidden"]["runs"].values()} == {hidden}
    assert runs["gru-p-s0"]["hidden"] == hidden
    assert set(results["gradflow"]["cells"]) == set(CELLS) == set(results["probe"]["cells"])
    for cell in CELLS:
        curve = results["gradflow"]["cells"][cell]["untrained"]
        assert curve["relative_log10"][0] == 0.0 and len(curve["lag_s"]) == len(curve["utterances"]) > 1
        assert [r["gap_s"] for r in results["probe"]["cells"][cell]["results"]] == [0.5, 1.0]

    text = report.read_text()
    pngs = ["learning_curves", "gradient_flow", "wer_by_length", "streaming", "probe"]
    for name in pngs:
        png = report.parent / f"comparison_{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and f"]({png.name})" in text
    assert "## What the measurements say about the article's claims" in text
    assert "asr compare --data" in text and "--data /path/to/LibriSpeech-root --train train-clean-100" in text
    for row in ("**gru** matched", "**lstm** matched", "**rnn** matched", "lstm same hidden", "rnn same hidden"):
        assert row in text

    # a rerun skips the finished runs and rebuilds the report from results.json
    before = {n: (out / "runs" / n / "best.pt").stat().st_mtime_ns for n in runs}
    capsys.readouterr()
    assert main(args + ["--stages", "train,report"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("already trained, skipped") == len(runs)
    assert before == {n: (out / "runs" / n / "best.pt").stat().st_mtime_ns for n in runs}
    assert json.loads((out / "results.json").read_text())["runs"]["rnn-h-s0"]["measure"] == runs["rnn-h-s0"]["measure"]
