"""Beam search with a word LM: LM building, LM correction, hot-words, streaming == offline, bad input."""
import gzip
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from asr.decode.beam import BeamSearch, DecoderConfig, HotwordError, load_hotwords
from asr.checkpoint import DEFAULT_MODEL, load_model
from asr.decode.greedy import decode_path, greedy_decode
from asr.decode.lm import DEFAULT_LM, LmError, build_lm, lm_vocabulary
from asr.vocab import BLANK, VOCAB
from data.synth import sentence_split
from stream import finish, initial_stream_state, step

from .conftest import espeak

TEXT = ["THE CAT SAT ON THE MAT", "THE DOG SAT ON THE LOG", "A CAT AND A DOG SAT", "THE CAT SAW THE DOG",
        "ΚΑΛΗ ΜΕΡΑ ΣΑΣ"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    (d / "text.txt").write_text("\n".join(TEXT) + "\n")
    summary = build_lm(d / "text.txt", d / "tiny.arpa.gz", order=3)
    return d / "tiny.arpa.gz", summary


def _frames(spelling: str, second: dict[int, str] | None = None) -> torch.Tensor:
    """Log-probs whose best token per frame spells `spelling` ('_' blank, ' ' space); at the frames in
    `second` a second-best letter is nearly as likely."""
    ids = [BLANK if c == "_" else VOCAB.index(c) for c in spelling]
    lp = torch.full((len(ids), len(VOCAB)), -12.0)
    lp[torch.arange(len(ids)), torch.tensor(ids)] = -0.1
    for t, c in (second or {}).items():
        lp[t, VOCAB.index(c)] = -0.6
    return lp.log_softmax(-1)


def test_build_lm_counts_skips_and_drops_heldout_sentences(tiny_lm, tmp_path):
    path, summary = tiny_lm
    assert summary["sentences"] == 4 and summary["skipped_sentences"] == 1  # the line in another script
    vocab = lm_vocabulary(path)
    assert vocab.order == 3 and {"CAT", "DOG", "MAT", "LOG"} <= set(vocab.words)
    with gzip.open(path, "rt") as fh:
        assert fh.readline().strip() == "\\data\\"
    # a sentence that data.synth keeps for dev sets is dropped with --drop-heldout
    dev = next(f"THE {w} IS HERE" for w in ("CAT", "DOG", "SUN", "MOON", "BIRD", "TREE", "ROAD", "FISH", "LAMP",
                                            "BOOK", "DOOR", "WALL", "HILL", "SHIP", "RAIN", "WIND", "STAR")
               if sentence_split(f"THE {w} IS HERE") == "dev")
    (tmp_path / "t.txt").write_text(dev + "\nTHE CAT SAT\n")
    s = build_lm(tmp_path / "t.txt", tmp_path / "x.arpa", order=2, drop_heldout=True)
    assert s["sentences"] == 1 and s["skipped_sentences"] == 1
    # written text is spoken as asr import speaks it (asr.text.spoken_form): numbers, accents, punctuation
    (tmp_path / "w.txt").write_text("Mr. Smith's café had 22 cats.\n")
    build_lm(tmp_path / "w.txt", tmp_path / "w.arpa", order=2)
    assert {"MISTER", "SMITH'S", "CAFE", "TWENTY", "TWO", "CATS"} <= set(lm_vocabulary(tmp_path / "w.arpa").words)


def test_lm_corrects_a_misspelling_greedy_makes(tiny_lm):
    # greedy reads "the cst" (frame 9 has 'a' as a close second); the LM knows only "cat"
    lp = _frames("_the_ _c_s_t__", second={9: "a"})
    assert greedy_decode(lp[None], torch.tensor([len(lp)])) == ["the cst"]
    words, path = BeamSearch(DecoderConfig("beam", lm=str(tiny_lm[0]))).decode(lp)
    assert words == ["the", "cat"] and len(path) == len(lp) and decode_path(path).split() == ["the", "cat"]


def test_hotwords_bring_in_a_word_the_lm_does_not_know(tiny_lm, tmp_path):
    lp = _frames("_the_ _z_e_b_r_a__")
    plain = BeamSearch(DecoderConfig("beam", lm=str(tiny_lm[0]))).decode(lp)[0]
    assert "zebra" not in plain
    (tmp_path / "hot.txt").write_text("zebra 6\n# comment\nthe great ZÉBRA 2\n")
    hot = load_hotwords(tmp_path / "hot.txt")
    assert dict(hot) == {"zebra": 6.0, "the": 2.0, "great": 2.0}  # the unspellable word is skipped
    assert BeamSearch(DecoderConfig("beam", lm=str(tiny_lm[0]), hotwords=hot)).decode(lp)[0] == ["the", "zebra"]


def test_bad_lm_and_hotword_files_give_clear_errors(tmp_path):
    with pytest.raises(LmError, match="not found"):
        BeamSearch(DecoderConfig("beam", lm=str(tmp_path / "missing.arpa")))
    (tmp_path / "junk.arpa").write_text("hello\n")
    with pytest.raises(LmError, match="not an ARPA"):
        BeamSearch(DecoderConfig("beam", lm=str(tmp_path / "junk.arpa")))
    (tmp_path / "accents.arpa").write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\tÉTÉ\n-1.0\tNAÏVE\n\n\\end\\\n")
    with pytest.raises(LmError, match="none of the LM's words"):
        BeamSearch(DecoderConfig("beam", lm=str(tmp_path / "accents.arpa")))
    (tmp_path / "truncated.arpa").write_text("\\data\\\nngram 1=3\nngram 2=5\n\n\\1-grams:\n-1.0\tCAT\t-0.3\n")
    with pytest.raises(LmError):
        BeamSearch(DecoderConfig("beam", lm=str(tmp_path / "truncated.arpa")))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(HotwordError, match="no usable hot-words"):
        load_hotwords(tmp_path / "empty.txt")
    with pytest.raises(HotwordError, match="cannot read"):
        load_hotwords(tmp_path / "nope.txt")


@pytest.fixture(scope="module")
def speech():
    return np.concatenate([espeak("the little grated window"), np.zeros(24000, np.float32),
                           espeak("and the door", voice="en-gb")])


def _stream(model, beam, pcm, size):
    state, finals = initial_stream_state(model, beam), []
    for i in range(0, len(pcm), size):
        state, ev = step(model, state, pcm[i:i + size])
        finals += [e for e in ev if e["type"] == "final"]
    state, ev = finish(model, state)
    return state, finals + [e for e in ev if e["type"] == "final"]


@pytest.mark.parametrize("blank_penalty", [0.0, 1.5])
def test_streaming_beam_equals_one_chunk_and_offline_decode(speech, blank_penalty):
    torch.set_num_threads(1)
    model = load_model(DEFAULT_MODEL)
    beam = BeamSearch(DecoderConfig("beam", lm="default", blank_penalty=blank_penalty))
    _, whole = _stream(model, beam, speech, len(speech))
    assert len(whole) == 2  # the 1.5 s pause is an endpoint
    for size in (480, 1600, 7777):
        _, finals = _stream(model, beam, speech, size)
        assert [f["text"] for f in finals] == [f["text"] for f in whole]
        assert [f["words"] for f in finals] == [f["words"] for f in whole]
    # one utterance: the streamed beam final is the offline beam search over all its frames
    first = speech[:len(espeak("the little grated window"))]
    _, finals = _stream(model, beam, first, 1600)
    with torch.inference_mode():
        feats = model.logmel(torch.from_numpy(first)[None])
        lp, lens, _ = model(feats, torch.tensor([feats.shape[1]]), return_state=False)
    words, _ = beam.decode(lp[0, : int(lens[0])])
    assert [f["text"] for f in finals] == [" ".join(words)]


def test_a_beam_stream_cannot_be_stepped_from_a_stale_state(speech):
    model = load_model(DEFAULT_MODEL)
    beam = BeamSearch(DecoderConfig("beam", lm="none"))  # lexicon-free: characters only
    state = initial_stream_state(model, beam)
    later, _ = step(model, state, speech[:8000])
    with pytest.raises(RuntimeError, match="stale"):
        step(model, state, speech[:8000])
    step(model, later, speech[8000:16000])


def test_cli_beam_eval_and_transcribe(tiny_corpus, tmp_path):
    run = [sys.executable, "-m", "asr"]
    out = subprocess.run(run + ["eval", "--data", str(tiny_corpus), "--subset", "tiny-dev", "--decoder", "beam",
                                "--format", "json"], capture_output=True, text=True, check=True)
    assert '"decoder": "beam"' in out.stdout
    bad = subprocess.run(run + ["transcribe", str(tiny_corpus), "--lm", str(tmp_path / "none.arpa")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "language model not found" in bad.stderr and "Traceback" not in bad.stderr
    wav = tmp_path / "a.wav"
    sf.write(wav, espeak("the cat sat on the mat"), 16000)
    (tmp_path / "hot.txt").write_text("mat\n")
    out = subprocess.run(run + ["transcribe", str(wav), "--hotwords", str(tmp_path / "hot.txt")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() and "Loading the LM" not in out.stderr  # KenLM's chatter is silenced


def test_default_lm_is_bundled_and_spellable():
    vocab = lm_vocabulary(DEFAULT_LM)
    assert vocab.order == 3 and len(vocab.words) > 20000 and vocab.skipped == 0


def test_every_command_has_the_search_defaults_of_decoder_config():
    """Beam width, LM weight and blank penalty of transcribe/stream/live/eval and of serve are DecoderConfig's."""
    from asr.cli.main import build_parser

    parser = build_parser()
    required = {"transcribe": ["x.wav"], "stream": ["x.wav"], "live": [], "eval": ["--data", "d", "--subset", "s"],
                "serve": []}
    defaults = DecoderConfig()
    for command, args in required.items():
        parsed = parser.parse_args([command, *args])
        assert (parsed.beam_size, parsed.beam_threshold, parsed.lm_weight, parsed.blank_penalty) == \
            (defaults.beam_size, defaults.beam_threshold, defaults.lm_weight, defaults.blank_penalty), command


def test_beam_threshold_reaches_the_search_and_a_tight_one_drops_the_lm_word(tiny_lm):
    """--beam-threshold: the search keeps only hypotheses this close to the best; "cat" starts 0.5 behind
    acoustically (the 'a' frame), so a threshold of 0.3 prunes it before the LM can reward it."""
    from asr.cli.common import beam_config
    from asr.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["transcribe", "x.wav", "--decoder", "beam", "--lm", str(tiny_lm[0]),
                              "--beam-threshold", "0.3"])
    config = beam_config(args)
    assert config.beam_threshold == 0.3
    lp = _frames("_the_ _c_s_t__", second={9: "a"})
    assert BeamSearch(config).decode(lp)[0] == ["the"]
    assert BeamSearch(DecoderConfig("beam", lm=str(tiny_lm[0]))).decode(lp)[0] == ["the", "cat"]
    for bad in ("0", "-1", "inf", "x"):
        with pytest.raises(SystemExit):
            parser.parse_args(["transcribe", "x.wav", "--beam-threshold", bad])


def test_blank_penalty_lowers_the_blank_and_makes_the_search_emit_more_letters():
    lp = torch.full((40, len(VOCAB)), -20.0)
    lp[:, BLANK] = -0.05
    lp[::4, VOCAB.index("a")] = -3.2  # a letter the blank outweighs on every fourth frame
    lp = lp.log_softmax(-1)
    letters = {}
    for penalty in (0.0, 4.0):
        search = BeamSearch(DecoderConfig("beam", lm="none", blank_penalty=penalty))
        shifted = search._penalise_blank(lp)
        assert torch.allclose(shifted.exp().sum(-1), torch.ones(40))
        a = VOCAB.index("a")
        assert torch.allclose(shifted[:, BLANK] - shifted[:, a], lp[:, BLANK] - lp[:, a] - penalty)
        _, path = search.decode(lp)
        letters[penalty] = sum(t != BLANK for t in path)
    assert letters[0.0] == 0 and letters[4.0] == 10
