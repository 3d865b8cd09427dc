"""`asr bench`: the audio it assembles, the structure of its results and report (never the timings)."""
import json

import numpy as np
import pytest

from asr.cli.benchmarks.measure import BenchConfig, format_report, run_bench, spread
from asr.cli.benchmarks.audio import bench_audio
from asr.cli import main

from .conftest import espeak


def test_spread():
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}


def test_bench_audio_is_deterministic_speech_with_its_text():
    espeak("x")  # skips without espeak-ng
    a, b = bench_audio(14.0), bench_audio(14.0)
    assert a.seconds >= 14.0 and a.pieces >= 2
    assert np.array_equal(a.samples, b.samples) and a.text == b.text
    assert a.text.startswith("it stood between the little grated window")
    assert "birch canoe" in a.text
    assert a.samples.dtype == np.float32 and np.abs(a.samples).max() <= 1.0


def test_bench_audio_from_a_corpus(tiny_corpus):
    a = bench_audio(5.0, tiny_corpus, "tiny-dev")
    assert a.seconds >= 5.0 and "quick brown fox" in a.text and "tiny-dev" in a.source


def test_run_bench_results_and_report(random_model_path, tmp_path):
    espeak("x")
    pytest.importorskip("pocketsphinx")
    cfg = BenchConfig(models=(str(random_model_path),), precisions=("int8", "float32"), chunks_ms=(40, 100), runs=2,
                      seconds=3.0, rss=True)
    r = run_bench(cfg)
    json.dumps(r)  # JSON-ready
    assert r["audio"]["seconds"] >= 3.0 and r["runs"] == 2
    lite, m = r["models"]  # each model at each precision: the int8 runtime without torch, then torch float32
    assert lite["runtime"] == "asr.runtime.lite" and lite["precision"] == "int8" and lite["streaming"][0]["rtf"]["n"] == 2
    assert 0 < lite["transcribe_process"]["peak_rss_mb"] < m["transcribe_process"]["peak_rss_mb"]
    assert m["runtime"] == "pytorch" and m["precision"] == "float32" and m["load_s"]["n"] == 2
    assert [s["chunk_ms"] for s in m["streaming"]] == [40, 100]
    for s in m["streaming"]:
        assert s["rtf"]["min"] <= s["rtf"]["median"] <= s["rtf"]["max"] and s["rtf"]["n"] == 2
        assert s["p50_ms"]["median"] <= s["p99_ms"]["median"]
        assert 0 < s["cpu_rtf"]["median"] and s["cpu_p50_ms"]["median"] <= s["cpu_p99_ms"]["median"]
        assert 0 <= s["wer"]
    assert set(m["offline"]) >= {"1"}
    assert m["transcribe_process"]["peak_rss_mb"] > 0
    ps = r["pocketsphinx"]
    assert ps["rtf"]["n"] == 2 and ps["cpu_rtf"]["n"] == 2 and set(m["cpu_speedup_vs_pocketsphinx"]) == {"40", "100"}
    assert ps["rtf"]["n"] == 2 and ps["wer"] < 100 and set(m["speedup_vs_pocketsphinx"]) == {"40", "100"}
    text = format_report(r)
    assert "40 ms chunks" in text and "PocketSphinx" in text and "speed-up" in text


def test_cli_bench_json_without_peers(random_model_path, tmp_path, capsys):
    espeak("x")
    out = tmp_path / "bench.json"
    status = main(["bench", "--model", str(random_model_path), "--seconds", "2", "--runs", "1", "--chunks", "200",
                   "--no-pocketsphinx", "--no-rss", "--format", "json", "--json", str(out)])
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert "pocketsphinx" not in printed and printed["models"][0]["streaming"][0]["chunk_ms"] == 200


def test_cli_bench_rejects_a_bad_model(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(SystemExit) as e:
        main(["bench", "--model", str(tmp_path / "bad.pt"), "--no-pocketsphinx"])
    assert e.value.code == 2 and "bad.pt" in capsys.readouterr().err


def test_profile_chunk_times_the_lite_runtime_stages_and_restores_its_kernel(random_model_path):
    import runpy
    from pathlib import Path

    from asr.runtime.lite import load_lite

    profile_lite = runpy.run_path(str(Path(__file__).parent.parent / "bench" / "profile_chunk.py"))["profile_lite"]
    model = load_lite(random_model_path)
    samples = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    times = profile_lite(model, samples, 40)
    assert set(times) == {"logmel", "int8 kernel", "pcm", "framing+state", "decode"}
    assert times["int8 kernel"] > 0 and times["logmel"] > 0 and sum(times.values()) > 0
    assert "step" not in vars(model.kernel) and "logmel" not in vars(model.kernel)  # the wrappers are gone
    _, whole = model.encode_chunk(model.initial_state(), samples, final=True)
    assert whole.shape[1] == model.config.vocab_size
