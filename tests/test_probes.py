"""bench.feature_floor, bench.utterance_mean and bench.warp_views: the probes behind docs/default-model.md's
"Digital silence and joined words" and run U's section run on a corpus and report what they say they do."""
import math
import re

from asr.audio import LOG_FLOOR

from bench import feature_floor, utterance_mean, warp_views


def _run_probe(probe, args: list[str], corpus, model, capsys):
    """`probe` on tiny-dev with `args`: its output lines, and the model's plain greedy result on tiny-dev."""
    from asr.checkpoint import load_model
    from data.librispeech import read_subset
    from train.evaluate import evaluate

    probe.main(["--data", str(corpus), "--subsets", "tiny-dev", *args, "--model", str(model)])
    lines = capsys.readouterr().out.splitlines()
    utts, _ = read_subset(corpus, "tiny-dev", progress=False)
    return lines, evaluate(load_model(model), utts, progress=False)


def test_feature_floor_sees_the_digital_silence_of_synthetic_speech(tiny_corpus, capsys):
    feature_floor.main(["--data", str(tiny_corpus), "--subsets", "tiny-train,tiny-dev", "--utterances", "4"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert [r.split(" | ")[0] for r in rows] == ["| tiny-train", "| tiny-dev"]
    for row in rows:
        zeros, at_floor = (float(x) for x in re.findall(r"([\d.]+) %", row)[:2])
        assert zeros > 0 and at_floor > 0  # espeak-ng writes exact zeros around its words
        quantiles = [float(x) for x in row.split(" | ")[3].rstrip(" |").split(" / ")]
        assert quantiles == sorted(quantiles) and quantiles[0] <= round(math.log(LOG_FLOOR), 1)  # printed to 0.1


def test_utterance_mean_at_alpha_zero_is_the_plain_greedy_wer(tiny_corpus, random_model_path, capsys):
    lines, plain = _run_probe(utterance_mean, ["--alphas", "0,1"], tiny_corpus, random_model_path, capsys)
    assert [line.split(": WER")[0] for line in lines] == ["tiny-dev: alpha 0", "tiny-dev: alpha 1"]
    assert f"WER {plain.wer:.2f} CER {plain.cer:.2f}" in lines[0]


def test_warp_views_view_1_is_the_plain_greedy_wer_and_a_view_averaged_with_itself_changes_nothing(
        tiny_corpus, random_model_path, capsys):
    import torch

    from train.augment import warp_mels

    lines, plain = _run_probe(warp_views, ["--factors", "1,0.9"], tiny_corpus, random_model_path, capsys)
    assert [line.split("  WER")[0] for line in lines] == [
        "tiny-dev  view 1", "tiny-dev  view 0.9", "tiny-dev  log mean of 1+0.9", "tiny-dev  prob mean of 1+0.9"]
    assert f"WER {plain.wer:.2f}  CER {plain.cer:.2f}" in lines[0]
    x = torch.randn(5, 29).log_softmax(-1)
    for how in ("log", "prob"):
        assert torch.allclose(warp_views.combine([x, x], how), x, atol=1e-6)
    feats = torch.randn(2, 7, 80)
    assert torch.equal(warp_mels(feats, torch.ones(2, 1)), feats)


def test_warp_views_on_the_time_axis_decodes_each_stretched_view_alone(tiny_corpus, random_model_path, capsys):
    import torch

    from train.augment import stretch_time

    lines, plain = _run_probe(warp_views, ["--axis", "time", "--factors", "1,1.2"], tiny_corpus, random_model_path,
                              capsys)
    assert [line.split("  WER")[0] for line in lines] == ["tiny-dev  view 1", "tiny-dev  view 1.2"]
    assert f"WER {plain.wer:.2f}  CER {plain.cer:.2f}" in lines[0]
    feats = torch.randn(2, 100, 80)
    assert torch.equal(stretch_time(feats, 1.0), feats)
    slow = stretch_time(feats, 1.2)
    assert slow.shape == (2, 120, 80) and torch.allclose(slow[:, 0], feats[:, 0])
