"""The int8 runtime without torch (asr.runtime.lite): same numbers as torch's int8 path, exact streaming,
and `asr transcribe` on the bundled model never importing torch."""
import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from asr.checkpoint import ModelError, save_model
from asr.cli.main import OPTIONAL_MODULES
from asr.runtime.incremental import encode_chunk, initial_state
from asr.runtime.int8_kernel import quantize_rows
from asr.runtime.lite import LiteError, LiteModel, load_lite, read_checkpoint
from asr.model import AcousticModel, ModelConfig
from asr.runtime.quantize import quantize_model, save_quantized
from asr.runtime import load_for_inference
from stream.transcribe import transcribe_file

from .conftest import espeak

ASSETS = Path(__file__).parent.parent / "asr" / "assets"


def _model(cell: str, lookahead: int = 1, hidden: int = 48) -> AcousticModel:
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(cell=cell, hidden=hidden, layers=2, lookahead=lookahead)).eval()
    with torch.no_grad():  # non-trivial normaliser statistics, so folding them in is tested
        model.normalizer.set_stats(torch.randn(80), torch.rand(80) + 0.5)
    return model


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return espeak("the birch canoe slid on the smooth planks")


def _lite_streamed(model: LiteModel, wave: np.ndarray, seed: int = 0) -> np.ndarray:
    rng, state, outs, i = np.random.default_rng(seed), model.initial_state(), [], 0
    while i < len(wave):
        n = int(rng.integers(1, 4000))
        state, lp = model.encode_chunk(state, wave[i: i + n])
        outs.append(lp)
        i += n
    state, lp = model.encode_chunk(state, np.zeros(0, np.float32), final=True)
    return np.concatenate(outs + [lp])


def test_reads_checkpoints_as_torch_does(tmp_path):
    model = _model("lstm")
    save_model(tmp_path / "f.pt", model, meta={"note": "x", "delay": 1.5})
    save_quantized(tmp_path / "q.pt", quantize_model(model))
    for name in ("f.pt", "q.pt"):
        ours, theirs = read_checkpoint(tmp_path / name), torch.load(tmp_path / name, weights_only=True)

        def same(a, b):
            if isinstance(b, torch.Tensor):
                return isinstance(a, np.ndarray) and a.shape == tuple(b.shape) and np.array_equal(a, b.numpy())
            if isinstance(b, dict):
                return a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
            if isinstance(b, (list, tuple)):
                return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
            return a == b

        assert same(ours, theirs), name


def test_row_quantization_equals_torch():
    q = quantize_model(_model("gru"))
    for key, w in q.rnn._weight_bias()["weight"].items():
        values, scales = quantize_rows(dict(_model("gru").rnn.named_parameters())[key].detach().numpy())
        assert np.array_equal(values, w.int_repr().numpy()), key
        assert np.array_equal(scales, w.q_per_channel_scales().numpy().astype(np.float32)), key


@pytest.mark.parametrize("cell,lookahead", [("gru", 1), ("lstm", 2), ("gru", 0)])
def test_lite_equals_the_torch_int8_path_and_streams_exactly(tmp_path, speech, cell, lookahead):
    model = _model(cell, lookahead)
    save_model(tmp_path / "f.pt", model)
    q = quantize_model(model)
    save_quantized(tmp_path / "q.pt", q)
    _, reference = encode_chunk(q, initial_state(q), torch.from_numpy(speech), final=True)
    for name in ("f.pt", "q.pt"):  # quantized on load, or as stored
        lite = load_lite(tmp_path / name)
        _, whole = lite.encode_chunk(lite.initial_state(), speech, final=True)
        assert np.array_equal(whole, reference.numpy()), name
        for seed in range(3):
            assert np.array_equal(_lite_streamed(lite, speech, seed), whole)


@pytest.mark.parametrize("lookahead", [0, 1])
def test_lite_runs_the_vanilla_rnn_cell_close_to_float32_and_streams_exactly(tmp_path, speech, lookahead):
    model = _model("rnn", lookahead)
    save_model(tmp_path / "f.pt", model)
    save_quantized(tmp_path / "q.pt", quantize_model(model))  # torch keeps the rnn weights float32 in it
    _, reference = encode_chunk(model, initial_state(model), torch.from_numpy(speech), final=True)
    reference = reference.numpy()
    outs = []
    for name in ("f.pt", "q.pt"):
        lite = load_lite(tmp_path / name)
        _, whole = lite.encode_chunk(lite.initial_state(), speech, final=True)
        assert whole.shape == reference.shape
        for seed in range(2):
            assert np.array_equal(_lite_streamed(lite, speech, seed), whole)
        outs.append(whole)
    assert np.array_equal(outs[0], outs[1])  # the rnn weights are quantized on load from either file
    # int8 rounding only: probabilities within 0.01 of float32's, nearly always the same best label
    assert np.abs(np.exp(outs[0]) - np.exp(reference)).max() < 0.01
    assert (outs[0].argmax(1) == reference.argmax(1)).mean() > 0.9


def test_transcripts_agree_with_torch_int8(tmp_path, speech):
    import soundfile as sf

    model = _model("gru", hidden=64)
    save_model(tmp_path / "f.pt", model)
    sf.write(tmp_path / "s.wav", speech, 16000)
    lite = transcribe_file(load_lite(tmp_path / "f.pt"), tmp_path / "s.wav")
    torch_int8 = transcribe_file(quantize_model(model), tmp_path / "s.wav")
    assert lite.text == torch_int8.text and lite.duration == torch_int8.duration
    assert lite.words == torch_int8.words


def test_runtime_precision_choices(tmp_path, random_model_path):
    assert isinstance(load_for_inference(random_model_path, "int8"), LiteModel)
    assert isinstance(load_for_inference(random_model_path, "float32"), AcousticModel)
    torch.manual_seed(0)
    save_model(tmp_path / "rnn.pt", AcousticModel(ModelConfig(cell="rnn", hidden=32, layers=1)))
    assert isinstance(load_for_inference(tmp_path / "rnn.pt", "int8"), LiteModel)
    with pytest.raises(ModelError):
        load_for_inference(tmp_path / "missing.pt", "int8")


def test_refuses_what_it_cannot_read(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(LiteError):
        read_checkpoint(tmp_path / "junk.pt")
    with zipfile.ZipFile(tmp_path / "evil.pt", "w") as z:  # a pickle that would call os.system
        z.writestr("archive/data.pkl", pickle.dumps(subprocess.Popen))
    with pytest.raises(LiteError):
        read_checkpoint(tmp_path / "evil.pt")

    class Marker:  # a storage of 4 floats, and a tensor claiming a million elements of it
        pass

    class Tensor:
        def __reduce__(self):
            return torch._utils._rebuild_tensor_v2, (Marker(), 0, (1_000_000,), (1,), False, {})

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if isinstance(obj, Marker) else None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": Tensor()})
    with zipfile.ZipFile(tmp_path / "overrun.pt", "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(LiteError):
        read_checkpoint(tmp_path / "overrun.pt")


def test_cli_transcribe_runs_without_torch_and_float32_with_it(tmp_path):
    code = ("import sys; from asr.cli import main; sys.argv = ['asr'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print(json.dumps({'torch': 'torch' in sys.modules}), file=sys.stderr)")
    code = "import json\n" + code
    sample = str(ASSETS / "sample.flac")
    runs = {}
    for precision in ("int8", "float32"):
        r = subprocess.run([sys.executable, "-c", code, "transcribe", sample, "--precision", precision,
                            "--format", "json"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        runs[precision] = (json.loads(r.stdout.splitlines()[0]), json.loads(r.stderr.splitlines()[-1]))
    assert runs["int8"][1] == {"torch": False} and runs["float32"][1] == {"torch": True}
    int8_words = runs["int8"][0]["text"].split()
    float_words = runs["float32"][0]["text"].split()
    assert len(int8_words) > 10 and abs(len(int8_words) - len(float_words)) <= 2


_BLOCKED = sorted(OPTIONAL_MODULES)  # what the runtime-only install leaves out


def _cli_without_extras(*argv: str) -> subprocess.CompletedProcess:
    """`asr ARGV` with the `all` extra's modules unimportable, as in the runtime-only install."""
    code = (f"import sys\nfor m in {_BLOCKED!r}:\n    sys.modules[m] = None\n"
            "from asr.cli import main\nraise SystemExit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)


def test_runtime_only_install_transcribes_and_streams(tmp_path):
    sample = str(ASSETS / "sample.flac")
    r = _cli_without_extras("transcribe", sample, "--format", "srt")
    assert r.returncode == 0, r.stderr
    assert "-->" in r.stdout
    r = _cli_without_extras("stream", sample, "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    assert any(json.loads(line)["type"] == "final" for line in r.stdout.splitlines())


@pytest.mark.parametrize("argv", [("transcribe", "{sample}", "--precision", "float32"),
                                  ("transcribe", "{sample}", "--decoder", "beam"),
                                  ("eval", "--data", "{tmp}", "--subset", "x")])
def test_runtime_only_install_names_what_is_missing(tmp_path, argv):
    r = _cli_without_extras(*(a.format(sample=ASSETS / "sample.flac", tmp=tmp_path) for a in argv))
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()  # one line, no traceback
    assert "pip install 'asr-rnn-ctc[all]'" in line
