"""`asr serve`: the streaming recognizer over HTTP and WebSocket (aiohttp), one more source of audio.

    GET  /                          the browser microphone page (stream/static/, no build step, nothing from a CDN)
    GET  /health                    {"status", "model", "precision", "decoder", "sessions", "max_sessions"}
    WS   /ws                        a stream: an optional text frame {"config": {"sample_rate": N, "decoder":
                                    "greedy"|"beam", "hotwords": [...]}}, binary frames of int16 little-endian
                                    mono PCM, then {"eof": 1}; the server sends the events of `asr live
                                    --format jsonl`, after eof the last final and {"type": "eof"}, and closes
    POST /v1/audio/transcriptions   OpenAI's transcription API: multipart `file`, `response_format` json (default),
                                    text, srt, vtt or verbose_json; `model` is accepted and ignored

Each connection owns one Recognizer (its own StreamState); there is no shared mutable state but the
count of open sessions. Recognition runs in a thread pool, one chunk of a connection at a time, so a
slow stream never stalls the event loop or the others. Every limit is an option with a safe default
(ServeConfig). Bad input gets {"type": "error", "message"} (WebSocket) or a 4xx JSON error (HTTP),
never a traceback, and the connection that sent it is closed where going on makes no sense; the
server keeps serving the others.
"""
from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, AudioError

from .pcm import to_float_pcm
from .recognizer import Recognizer, StreamConfig
from .transcribe import transcribe_file

__all__ = ["ServeConfig", "make_app", "serve", "MIN_RATE", "MAX_RATE"]

STATIC = Path(__file__).parent / "static"
MIN_RATE, MAX_RATE = 8000, 192000  # sample rates a client may declare
ENGLISH = {"en", "eng", "english", "en-us", "en-gb"}
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
# WebSocket close codes (RFC 6455): 1003 unsupported data, 1008 policy violation, 1009 too big, 1011 server error,
# 1013 try again later
BAD_DATA, POLICY, TOO_BIG, SERVER_ERROR, TRY_LATER = 1003, 1008, 1009, 1011, 1013


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"  # loopback: other machines must be allowed explicitly (--host 0.0.0.0)
    port: int = 2700
    max_sessions: int = 8  # open WebSocket streams; more are refused with HTTP 503
    max_frame_bytes: int = 1 << 20  # one binary frame: 32 s of 16 kHz int16
    idle_timeout: float = 30.0  # seconds without a frame before a stream is closed
    max_upload_bytes: int = 200 << 20  # POST /v1/audio/transcriptions
    threads: int = 4  # recognition threads
    stream: StreamConfig = field(default_factory=StreamConfig)
    model_name: str = "bundled"
    precision: str = "int8"
    decoder: str = "greedy"  # the default of each stream: greedy | beam
    save_audio: Path | None = None  # a folder: each stream's 16 kHz audio, as the recognizer heard it, as WAV


class ProtocolError(Exception):
    """A client's mistake: sent to it as an error event, then the connection is closed with `code`."""

    def __init__(self, message: str, code: int = POLICY) -> None:
        super().__init__(message)
        self.code = code


class Session:
    """One stream: a Recognizer and, for another sample rate, a streaming resampler to 16 kHz."""

    count = 0  # streams started in this process: names the --save-audio files

    def __init__(self, model, cfg: ServeConfig, beam_for) -> None:
        self.model, self.cfg, self.beam_for = model, cfg, beam_for
        self.rate, self.resampler, self.recognizer, self.beam = SAMPLE_RATE, None, None, None
        self.decoder, self.hotwords, self.saved = cfg.decoder, (), None

    def configure(self, conf) -> None:
        """The client's config frame; the caller lets it come only before any audio."""
        if not isinstance(conf, dict):
            raise ProtocolError('"config" must be an object, e.g. {"config": {"sample_rate": 16000}}')
        unknown = set(conf) - {"sample_rate", "decoder", "hotwords"}
        if unknown:
            raise ProtocolError(f"unknown config key(s): {', '.join(sorted(unknown))}")
        rate = conf.get("sample_rate", SAMPLE_RATE)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != int(rate) \
                or not MIN_RATE <= rate <= MAX_RATE:
            raise ProtocolError(f"sample_rate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, "
                                f"not {rate!r}", BAD_DATA)
        self.rate = int(rate)
        self.decoder = conf.get("decoder", self.cfg.decoder)
        if self.decoder not in ("greedy", "beam"):
            raise ProtocolError(f'decoder must be "greedy" or "beam", not {self.decoder!r}')
        hotwords = conf.get("hotwords") or ()
        if not isinstance(hotwords, (list, tuple)) or not all(isinstance(w, str) for w in hotwords):
            raise ProtocolError("hotwords must be a list of words")
        self.hotwords = tuple(hotwords)
        if self.hotwords and self.decoder != "beam":
            raise ProtocolError('hotwords need "decoder": "beam"')
        self._start()  # an unusable decoder is an error now, not at the first audio

    def _start(self) -> None:
        if self.recognizer is not None:
            return
        self.beam = self.beam_for(self.decoder, self.hotwords)
        self.recognizer = Recognizer(self.model, self.cfg.stream, self.beam)
        if self.rate != SAMPLE_RATE:
            import soxr

            self.resampler = soxr.ResampleStream(self.rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        if self.cfg.save_audio is not None:
            import soundfile as sf

            Session.count += 1
            self.cfg.save_audio.mkdir(parents=True, exist_ok=True)
            name = f"stream-{time.strftime('%Y%m%d-%H%M%S')}-{Session.count:04d}.wav"
            self.saved = sf.SoundFile(str(self.cfg.save_audio / name), "w", SAMPLE_RATE, 1, "FLOAT")  # exact

    def _hear(self, pcm) -> list[dict]:
        if self.saved is not None:
            self.saved.write(np.frombuffer(pcm, "<i2") if isinstance(pcm, bytes) else pcm)
        return self.recognizer.feed_audio(pcm)

    def feed(self, pcm: bytes) -> list[dict]:
        """Runs in the thread pool."""
        self._start()
        if self.resampler is None:
            return self._hear(pcm)
        return self._hear(self.resampler.resample_chunk(to_float_pcm(pcm)[0]))  # even byte counts: no carry

    def end(self) -> list[dict]:
        self._start()
        events = []
        if self.resampler is not None:
            events += self._hear(self.resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        self.close()
        return events + self.recognizer.finish()

    def close(self) -> None:
        if self.saved is not None:
            self.saved.close()
            self.saved = None


def _error(message: str) -> dict:
    return {"type": "error", "message": message}


def _json_error(web, status: int, message: str, kind: str = "invalid_request_error"):
    """OpenAI's error shape: {"error": {"message", "type", "code"}}."""
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


class _Beams:
    """Beam searches are mutable and belong to one stream at a time: a free list of them, built on first use
    (loading the LM takes a moment); a stream with hot-words gets its own."""

    def __init__(self, make) -> None:
        self.make, self.free = make, []

    def get(self, decoder: str, hotwords: tuple[str, ...]):
        if decoder != "beam":
            return None
        if hotwords:
            return self.make(hotwords)
        return self.free.pop() if self.free else self.make(())

    def put(self, beam, hotwords: tuple[str, ...]) -> None:
        if beam is not None and not hotwords:
            self.free.append(beam)


def make_app(model, cfg: ServeConfig = ServeConfig(), make_beam=None):
    """The aiohttp application. make_beam(hotwords) -> a BeamSearch (None: beam decoding is refused); one is built
    here, so its errors (an unusable LM) are raised by make_app."""
    from aiohttp import WSMsgType, web

    pool = ThreadPoolExecutor(max_workers=cfg.threads, thread_name_prefix="asr-serve")
    beams = _Beams(make_beam) if make_beam is not None else None
    if beams is not None:  # the first one now: an unusable LM fails at start-up, and the first stream need not wait
        beams.put(make_beam(()), ())
    # counters for /health: chunk latency is from a frame's arrival to its events sent (queue wait + compute)
    state = {"sessions": 0, "served": 0, "latency_ms": deque(maxlen=20000), "audio_s": 0.0, "compute_s": 0.0}

    def beam_for(decoder: str, hotwords):
        if decoder == "beam" and beams is None:
            raise ProtocolError("this server has no beam search (start it with --decoder beam)")
        return beams.get(decoder, hotwords) if beams is not None else None

    async def run(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    async def index(request):
        return web.FileResponse(STATIC / "index.html")

    async def health(request):
        lat = np.array(state["latency_ms"]) if state["latency_ms"] else np.zeros(1)
        return web.json_response({
            "status": "ok", "model": cfg.model_name, "precision": cfg.precision, "decoder": cfg.decoder,
            "sessions": state["sessions"], "max_sessions": cfg.max_sessions, "streams_served": state["served"],
            "chunk_latency_ms": {q: round(float(np.percentile(lat, v)), 3) for q, v in
                                 (("p50", 50), ("p95", 95), ("p99", 99))},
            "chunks": len(state["latency_ms"]), "audio_seconds": round(state["audio_s"], 3),
            "rtf": round(state["compute_s"] / max(state["audio_s"], 1e-9), 5)})

    async def websocket(request):
        if state["sessions"] >= cfg.max_sessions:
            return _json_error(web, 503, f"the server is busy: {cfg.max_sessions} streams open; try again later",
                               "server_busy")
        # aiohttp closes with 1009 on its own beyond this; up to it, a frame over the limit gets an error event
        ws = web.WebSocketResponse(max_msg_size=4 * cfg.max_frame_bytes + 1024)
        await ws.prepare(request)
        state["sessions"] += 1
        session = Session(model, cfg, beam_for)

        async def send(events) -> None:
            for e in events:
                await ws.send_str(json.dumps(e))

        try:
            await _stream(ws, session, send, run, WSMsgType)
        except ProtocolError as e:
            if not ws.closed:
                await ws.send_str(json.dumps(_error(str(e))))
                await ws.close(code=e.code, message=str(e)[:120].encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass  # the client vanished
        except Exception as e:  # noqa: BLE001 - one bad stream must not take the server down
            print(f"asr serve: stream failed: {type(e).__name__}: {e}", file=sys.stderr)
            if not ws.closed:
                await ws.send_str(json.dumps(_error("internal error while recognising; the stream was closed")))
                await ws.close(code=SERVER_ERROR)
        finally:
            session.close()
            state["sessions"] -= 1
            state["served"] += 1
            if beams is not None:
                beams.put(session.beam, session.hotwords)
        return ws

    async def _stream(ws, session: Session, send, run, WSMsgType) -> None:
        first = True
        while True:
            try:
                msg = await ws.receive(timeout=cfg.idle_timeout)
            except asyncio.TimeoutError:
                raise ProtocolError(f"no frame for {cfg.idle_timeout:g} s: the stream was closed") from None
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return  # the client left without eof
            if msg.type == WSMsgType.ERROR:
                raise ProtocolError(f"bad frame: {ws.exception()}", TOO_BIG)
            if msg.type == WSMsgType.BINARY:
                if len(msg.data) > cfg.max_frame_bytes:
                    raise ProtocolError(f"frame of {len(msg.data)} bytes is over --max-frame-bytes "
                                        f"{cfg.max_frame_bytes}", TOO_BIG)
                if len(msg.data) % 2:
                    raise ProtocolError(f"frame of {len(msg.data)} bytes: int16 PCM needs an even count", BAD_DATA)
                first = False
                t0 = time.perf_counter()
                events, compute = await run(_timed, session.feed, msg.data)
                await send(events)
                state["latency_ms"].append((time.perf_counter() - t0) * 1000)
                state["compute_s"] += compute
                state["audio_s"] += len(msg.data) / 2 / session.rate
                continue
            if msg.type != WSMsgType.TEXT:
                raise ProtocolError(f"unexpected frame type {msg.type.name}", BAD_DATA)
            try:
                data = json.loads(msg.data)
            except ValueError:
                raise ProtocolError('text frames must be JSON: {"config": {...}} or {"eof": 1}', BAD_DATA) from None
            if isinstance(data, dict) and "config" in data and len(data) == 1:
                if not first:
                    raise ProtocolError("the config frame must come first")
                await run(session.configure, data["config"])  # a beam search with hot-words takes a moment
                first = False
            elif isinstance(data, dict) and "eof" in data and len(data) == 1:
                await send(await run(session.end))
                await send([{"type": "eof"}])
                await ws.close()
                return
            else:
                raise ProtocolError('unknown text frame: expected {"config": {...}} or {"eof": 1}')

    async def transcriptions(request):
        if not request.content_type.startswith("multipart/"):
            return _json_error(web, 400, "send multipart/form-data with the audio as the 'file' field")
        fields, audio = {}, None
        try:
            reader = await request.multipart()
            async for part in reader:
                if part.name == "file":
                    audio = tempfile.NamedTemporaryFile(suffix=Path(part.filename or "audio").suffix[:10] or ".bin",
                                                        delete=False)
                    size = 0
                    while chunk := await part.read_chunk(1 << 16):
                        size += len(chunk)
                        if size > cfg.max_upload_bytes:
                            audio.close()
                            Path(audio.name).unlink(missing_ok=True)
                            return _json_error(web, 413, f"upload over {cfg.max_upload_bytes} bytes")
                        audio.write(chunk)
                    audio.close()
                elif part.name:
                    fields[part.name] = (await part.text())[:1000]
        except ValueError as e:
            return _json_error(web, 400, f"unreadable multipart body: {e}")
        if audio is None:
            return _json_error(web, 400, "no 'file' field with the audio")
        path = Path(audio.name)
        try:
            fmt = fields.get("response_format", "json")
            if fmt not in RESPONSE_FORMATS:
                return _json_error(web, 400, f"response_format must be one of {', '.join(RESPONSE_FORMATS)}")
            language = fields.get("language", "en").strip().lower()
            if language and language not in ENGLISH:
                return _json_error(web, 400, f"language {fields['language']!r} is not supported: this model "
                                             "recognises English only")
            if path.stat().st_size == 0:
                return _json_error(web, 400, "the uploaded file is empty")
            t0 = time.perf_counter()
            try:
                result = await run(_transcribe, model, path, beam_for, fields.get("decoder", cfg.decoder), cfg)
            except AudioError:
                return _json_error(web, 400, "the uploaded file is not audio this server can read "
                                             "(wav, flac, ogg, opus, mp3)")
            except ProtocolError as e:
                return _json_error(web, 400, str(e))
            return _format(web, result, fmt, time.perf_counter() - t0)
        finally:
            path.unlink(missing_ok=True)

    async def on_shutdown(app):
        pool.shutdown(wait=False, cancel_futures=True)

    app = web.Application(client_max_size=cfg.max_upload_bytes + (1 << 20))
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/health", health)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
    app.on_shutdown.append(on_shutdown)
    return app


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _transcribe(model, path: Path, beam_for, decoder: str, cfg: ServeConfig):
    if decoder not in ("greedy", "beam"):
        raise ProtocolError(f'decoder must be "greedy" or "beam", not {decoder!r}')
    beam = beam_for(decoder, ())
    return transcribe_file(model, path, beam=beam, config=cfg.stream)


def _format(web, result, fmt: str, seconds: float):
    from asr.decode.subtitles import to_srt, to_vtt
    from asr.decode.words import cues

    if fmt == "json":
        return web.json_response({"text": result.text})
    if fmt == "text":
        return web.Response(text=result.text + "\n", content_type="text/plain")
    if fmt in ("srt", "vtt"):
        body = (to_srt if fmt == "srt" else to_vtt)(cues(result.words))
        return web.Response(text=body, content_type="application/x-subrip" if fmt == "srt" else "text/vtt")
    segments = [{"id": i, "start": s["start"], "end": s["end"], "text": s["text"], "confidence": s["confidence"]}
                for i, s in enumerate(result.segments)]
    words = [{"word": w["word"], "start": w["start"], "end": w["end"], "confidence": w["confidence"]}
             for w in result.words]
    return web.json_response({"task": "transcribe", "language": "english", "duration": round(result.duration, 3),
                              "text": result.text, "segments": segments, "words": words,
                              "processing_seconds": round(seconds, 3)})


def serve(model, cfg: ServeConfig = ServeConfig(), make_beam=None, print_=print) -> None:
    """Run until interrupted."""
    from aiohttp import web

    app = make_app(model, cfg, make_beam)  # before the banner: an unusable LM is the one line printed
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print_(f"asr serve: warning: listening on {cfg.host}, not loopback: anyone who can reach this machine "
               "can send audio to it (there is no authentication)", file=sys.stderr)
    print_(f"asr serve: http://{cfg.host}:{cfg.port}/ (microphone page), ws://{cfg.host}:{cfg.port}/ws, "
           f"POST /v1/audio/transcriptions; model {cfg.model_name} ({cfg.precision}, {cfg.decoder}); Ctrl-C stops",
           file=sys.stderr)
    web.run_app(app, host=cfg.host, port=cfg.port, print=None,
                handle_signals=True, access_log=None)
