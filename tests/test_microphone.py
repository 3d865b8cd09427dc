"""A real microphone path: PulseAudio with a pipe source as the default input, `asr live` recording
it through sounddevice/PortAudio/ALSA, compared with `asr transcribe` of the same audio."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from .conftest import espeak

SENTENCE = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def pulse_mic(tmp_path):
    """A private PulseAudio server whose default source reads s16le 16 kHz mono from a pipe."""
    if shutil.which("pulseaudio") is None:
        pytest.skip("PulseAudio cannot be started: pulseaudio is not installed (apt-get install pulseaudio)")
    runtime = tmp_path / "pulse"
    runtime.mkdir()
    pipe, socket = runtime / "mic.pipe", runtime / "native"
    env = {**os.environ, "PULSE_RUNTIME_PATH": str(runtime), "PULSE_SERVER": f"unix:{socket}",
           "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--use-pid-file=no", "--system=no",
         f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
         f"--load=module-pipe-source source_name=testmic file={pipe} format=s16le rate=16000 channels=1",
         "--load=module-always-sink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 10
    while not (socket.exists() and pipe.exists()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.skip(f"PulseAudio cannot be started: {proc.stderr.read()[-300:] if proc.stderr else ''}")
        time.sleep(0.1)
    subprocess.run(["pactl", "set-default-source", "testmic"], env=env, check=False, capture_output=True)
    yield pipe, env
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait_for_recorder(env, proc, timeout: float = 60.0) -> None:
    """Until the recognizer's input stream is connected to the pipe source (before that, audio
    written into the pipe is read by PulseAudio and dropped)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        outputs = subprocess.run(["pactl", "list", "short", "source-outputs"], env=env, capture_output=True, text=True)
        if outputs.stdout.strip():
            time.sleep(0.3)
            return
        time.sleep(0.1)
    raise AssertionError("asr live never started recording")


def _feed(pipe, pcm16: np.ndarray, stop: threading.Event) -> None:
    """Write the utterance in real time, then silence until told to stop (a pipe source only
    produces audio while someone writes)."""
    silence = np.zeros(1600, np.int16).tobytes()
    with open(pipe, "wb", buffering=0) as f:
        for i in range(0, len(pcm16), 1600):
            f.write(pcm16[i: i + 1600].tobytes())
            f.flush()
            time.sleep(0.1)
        while not stop.is_set():
            f.write(silence)
            f.flush()
            time.sleep(0.1)


def _live_session(env, pipe, pcm16: np.ndarray, args: list[str], interrupt_after: float | None = None):
    """Run `asr live --format jsonl ARGS`, speak `pcm16` into the microphone once it records (then
    silence); with `interrupt_after`, press Ctrl-C that many seconds after speaking starts.
    Returns (exit status, events, stderr)."""
    import signal

    # SIGINT back to its default in the child: a shell starts background jobs (`make test &`) with SIGINT
    # ignored, Python then installs no KeyboardInterrupt handler, and the Ctrl-C below would never arrive
    live = subprocess.Popen([sys.executable, "-m", "asr", "live", "--format", "jsonl", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(pipe, pcm16, stop), daemon=True)
    _wait_for_recorder(env, live)
    feeder.start()
    try:
        if interrupt_after is not None:
            time.sleep(interrupt_after)
            live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=120)
    finally:
        stop.set()
        feeder.join(timeout=5)
    return live.returncode, [json.loads(line) for line in out.splitlines()], err


def test_live_microphone_finals_equal_transcribe(pulse_mic, tmp_path):
    """What `asr live` printed equals `asr transcribe` of the audio it heard, and that audio holds the
    utterance written into the microphone sample for sample (only the start offset is arbitrary)."""
    pipe, env = pulse_mic
    speech = (espeak(SENTENCE) * 32767).astype(np.int16)
    pcm16 = np.concatenate([np.zeros(8000, np.int16), speech, np.zeros(24000, np.int16)])
    heard = tmp_path / "heard.wav"
    duration = len(pcm16) / 16000 + 1.0

    status, events, err = _live_session(env, pipe, pcm16, ["--duration", str(duration), "--chunk-ms", "100",
                                                           "--save-audio", str(heard)])
    assert status == 0, err
    assert "recorded from" in err
    assert any(e["type"] == "partial" for e in events)
    finals = " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])

    recorded = np.round(sf.read(heard, dtype="float32")[0] * 32768).astype(np.int32)
    nz = np.flatnonzero(recorded)
    assert len(nz), "nothing but silence came through the microphone"
    first = int(np.flatnonzero(speech)[0])
    got = recorded[nz[0] - first: nz[0] - first + len(speech)]
    assert np.array_equal(got, speech.astype(np.int32)), "the microphone path altered the samples"

    ref = subprocess.run([sys.executable, "-m", "asr", "transcribe", str(heard)], capture_output=True, text=True,
                         timeout=120)
    assert ref.returncode == 0, ref.stderr
    assert ref.stdout.strip(), "the bundled model heard nothing"
    assert finals == ref.stdout.strip()


def test_no_input_device_is_one_line_exit_2(tmp_path, random_model_path):
    """No sound server reachable: PortAudio lists no input device."""
    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/nothing-here"}
    for cmd in (["live", "--duration", "1", "--model", str(random_model_path)], ["devices"]):
        r = subprocess.run([sys.executable, "-m", "asr", *cmd], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert r.stderr.strip().splitlines() == ["asr: error: no audio input device found" +
                                                 (" (asr devices lists them)" if cmd[0] == "live" else "")]


def test_missing_portaudio_is_a_clear_error(monkeypatch):
    import builtins

    from stream.microphone import LiveError, list_input_devices

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(LiveError, match="apt-get install libportaudio2"):
        list_input_devices()


def test_ctrl_c_stops_cleanly_and_flushes_the_last_final(pulse_mic):
    pipe, env = pulse_mic
    speech = (espeak(SENTENCE) * 32767).astype(np.int16)
    # Ctrl-C right after the utterance, before the endpoint
    status, events, err = _live_session(env, pipe, speech, [], interrupt_after=len(speech) / 16000 + 0.3)
    assert status == 0, err
    assert "Traceback" not in err and "recorded from" in err
    assert events and events[-1]["type"] == "final" and events[-1]["text"]
