"""`asr serve` (stream.server) on loopback: concurrent streams get exactly `asr transcribe`'s text, garbage gets
an error event without hurting the next client, limits hold, and the official openai client works."""
from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest
import soundfile as sf

from asr.audio import SAMPLE_RATE
from asr.runtime import load_for_inference
from stream.server import ServeConfig, make_app
from stream.transcribe import transcribe_file

from .conftest import espeak

aiohttp = pytest.importorskip("aiohttp")
import aiohttp.web  # noqa: E402 (after the skip)

TEXTS = ["the quick brown fox jumps over the lazy dog", "she sells sea shells by the sea shore",
         "a watched pot never boils", "all that glitters is not gold"]


@pytest.fixture(scope="module")
def model():
    return load_for_inference()


@pytest.fixture(scope="module")
def clips(tmp_path_factory, model):
    """(path, int16 samples, transcribe's text) of four different utterances."""
    d = tmp_path_factory.mktemp("serve")
    out = []
    for i, (text, voice) in enumerate(zip(TEXTS, ("en-us", "en-gb", "en-us+f3", "en-gb-scotland"))):
        x = np.concatenate([np.zeros(3200, np.float32), espeak(text, voice), np.zeros(8000, np.float32)])
        path = d / f"clip{i}.wav"
        sf.write(path, x, SAMPLE_RATE, subtype="PCM_16")
        pcm, _ = sf.read(path, dtype="int16")
        out.append((path, pcm, transcribe_file(model, path).text))
    return out


class Server:
    """make_app on a free loopback port, in a thread with its own event loop."""

    def __init__(self, model, **options) -> None:
        self.cfg = ServeConfig(port=0, **options)
        self.app = make_app(model, self.cfg)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.runner = aiohttp.web.AppRunner(self.app, access_log=None)
            self.loop.run_until_complete(self.runner.setup())
            site = aiohttp.web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = self.runner.addresses[0][1]
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(30)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture
def server(model):
    servers = []

    def start(**options):
        servers.append(Server(model, **options))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


async def _stream(url: str, frames: list[bytes], config: dict | None = None, eof: bool = True) -> list[dict]:
    """Send the frames (bytes, or str for text frames), then eof; all events received until the server closes."""
    events = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "/ws") as ws:
            if config is not None:
                await ws.send_str(json.dumps({"config": config}))
            for f in frames:
                if isinstance(f, str):
                    await ws.send_str(f)
                else:
                    await ws.send_bytes(f)
                await asyncio.sleep(0)
            if eof:
                await ws.send_str(json.dumps({"eof": 1}))
            async for msg in ws:
                events.append(json.loads(msg.data))
            events.append({"closed": ws.close_code})
    return events


def _frames(pcm: np.ndarray, seed: int, most: int = 4000) -> list[bytes]:
    """The samples as frames of 1 to `most` samples each."""
    rng, data, out, i = np.random.default_rng(seed), pcm.astype("<i2").tobytes(), [], 0
    while i < len(data):
        n = 2 * int(rng.integers(1, most + 1))
        out.append(data[i: i + n])
        i += n
    return out


def _finals(events: list[dict]) -> str:
    return " ".join(e["text"] for e in events if e.get("type") == "final" and e["text"])


def test_four_concurrent_streams_get_exactly_their_transcripts(server, clips):
    s = server()

    async def all_four():
        return await asyncio.gather(*(_stream(s.url, _frames(pcm, seed), {"sample_rate": SAMPLE_RATE})
                                      for seed, (_, pcm, _) in enumerate(clips)))

    results = asyncio.run(all_four())
    for events, (path, _, text) in zip(results, clips):
        assert text and _finals(events) == text, path
        assert events[-2] == {"type": "eof"} and events[-1] == {"closed": 1000}
        finals = [e for e in events if e.get("type") == "final" and e["text"]]
        assert all({"start", "end", "words", "confidence"} <= set(e) for e in finals)
    health = json.loads(asyncio.run(_get(s.url + "/health"))[1])
    assert health["sessions"] == 0 and health["streams_served"] == 4 and health["precision"] == "int8"
    assert health["chunks"] == sum(len(_frames(pcm, seed)) for seed, (_, pcm, _) in enumerate(clips))
    assert 0 < health["chunk_latency_ms"]["p50"] <= health["chunk_latency_ms"]["p99"] and 0 < health["rtf"] < 1
    assert abs(health["audio_seconds"] - sum(len(pcm) for _, pcm, _ in clips) / SAMPLE_RATE) < 1e-3


def test_another_sample_rate_is_resampled(server, clips):
    import soxr

    from train.evaluate import error_rates

    s = server()
    _, pcm, text = clips[0]
    x = soxr.resample(pcm.astype(np.float32) / 32768, SAMPLE_RATE, 44100)
    events = asyncio.run(_stream(s.url, _frames((x * 32767).astype(np.int16), 1), {"sample_rate": 44100}))
    assert error_rates([text], [_finals(events)])[0] <= 25.0


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            return r.status, await r.text()


@pytest.mark.parametrize("frames, config, message, code", [
    (["not json"], None, "text frames must be JSON", 1003),
    (['{"hello": 1}'], None, "unknown text frame", 1008),
    ([b"\x00" * 3], None, "even count", 1003),
    ([b"\x00" * 5000], None, "over --max-frame-bytes", 1009),
    ([], {"sample_rate": 0}, "sample_rate must be", 1003),
    ([], {"sample_rate": 10**9}, "sample_rate must be", 1003),
    ([], {"sample_rate": 16000, "colour": "blue"}, "unknown config key", 1008),
    ([], {"decoder": "beam"}, "no beam search", 1008),
    ([b"\x00\x00" * 100, '{"config": {"sample_rate": 8000}}'], None, "config frame must come first", 1008),
])
def test_garbage_gets_an_error_event_and_the_next_client_is_served(server, clips, frames, config, message, code):
    s = server(max_frame_bytes=4096)
    events = asyncio.run(_stream(s.url, frames, config, eof=False))
    errors = [e for e in events if e.get("type") == "error"]
    assert len(errors) == 1 and message in errors[0]["message"], events
    assert "Traceback" not in json.dumps(events) and events[-1] == {"closed": code}
    _, pcm, text = clips[1]
    assert _finals(asyncio.run(_stream(s.url, _frames(pcm, 3, most=2048)))) == text  # the server still serves


def test_limits_vanishing_clients_and_idle_streams(server, clips):
    s = server(max_sessions=1, idle_timeout=1.0)

    async def scenario():
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(s.url + "/ws")
            await ws.send_bytes(clips[0][1][:8000].tobytes())
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # over --max-sessions: HTTP 503
                await http.ws_connect(s.url + "/ws")
            assert refused.value.status == 503
            await ws.close()  # vanishes mid-stream, without eof
        for _ in range(50):
            if json.loads((await _get(s.url + "/health"))[1])["sessions"] == 0:
                break
            await asyncio.sleep(0.1)
        idle = await _stream(s.url, [clips[0][1][:1600].tobytes()], eof=False)  # then says nothing
        return idle

    idle = asyncio.run(scenario())
    assert any(e.get("type") == "error" and "no frame for 1 s" in e["message"] for e in idle)
    assert _finals(asyncio.run(_stream(s.url, _frames(clips[2][1], 0)))) == clips[2][2]


def test_openai_transcriptions_endpoint_with_the_official_client(server, clips, tmp_path):
    openai = pytest.importorskip("openai")
    s = server()
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="any key")
    path, _, text = clips[3]
    with open(path, "rb") as fh:
        assert client.audio.transcriptions.create(model="whisper-1", file=fh).text == text
    with open(path, "rb") as fh:
        assert client.audio.transcriptions.create(model="x", file=fh, response_format="text").strip() == text
    with open(path, "rb") as fh:
        verbose = client.audio.transcriptions.create(model="x", file=fh, response_format="verbose_json")
    assert verbose.text == text and verbose.duration > 1 and verbose.segments and verbose.words
    with open(path, "rb") as fh:
        srt = client.audio.transcriptions.create(model="x", file=fh, response_format="srt")
    assert "-->" in srt and srt.strip().startswith("1")
    with open(path, "rb") as fh:
        assert client.audio.transcriptions.create(model="x", file=fh, response_format="vtt").startswith("WEBVTT")
    with open(path, "rb") as fh, pytest.raises(openai.BadRequestError, match="English only"):
        client.audio.transcriptions.create(model="x", file=fh, language="fr")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not audio at all")
    for bad, why in (("empty.wav", "empty"), ("notes.txt", "not audio")):
        with open(tmp_path / bad, "rb") as fh, pytest.raises(openai.BadRequestError, match=why):
            client.audio.transcriptions.create(model="x", file=fh)


def test_serve_refuses_bad_options_and_a_taken_port_in_one_line(capsys):
    import socket

    from asr.cli import main

    assert main(["serve", "--max-sessions", "0"]) == 2
    assert "--max-sessions must be at least 1" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 127.0.0.1:" in err and "Traceback" not in err


def test_loopback_by_default_and_a_warning_for_any_other_address(monkeypatch, capsys, model):
    from stream import server

    hosts = []
    monkeypatch.setattr(aiohttp.web, "run_app", lambda app, host, port, **kw: hosts.append(host))
    server.serve(model, ServeConfig())
    assert hosts == ["127.0.0.1"] and "warning" not in capsys.readouterr().err
    server.serve(model, ServeConfig(host="0.0.0.0"))
    assert hosts[-1] == "0.0.0.0" and "warning: listening on 0.0.0.0, not loopback" in capsys.readouterr().err
