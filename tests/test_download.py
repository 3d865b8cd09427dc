"""`asr download` machinery against a LibriSpeech-layout tarball served from the test itself:
file:// URLs and a loopback HTTP server with Range support (no network)."""
import hashlib
import io
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf

from data.download import LIBRISPEECH_MD5, DownloadError, fetch_subset
from data.librispeech import read_subset

SUBSET = "mini-clean"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> bytes:
    """A .tar.gz laid out like the official ones: LibriSpeech/<subset>/<spk>/<chapter>/... plus top-level files."""
    src = tmp_path_factory.mktemp("src") / "LibriSpeech"
    chapter = src / SUBSET / "19" / "198"
    chapter.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        sf.write(chapter / f"19-198-{i:04d}.flac", 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
    words = ["ZERO", "ONE", "TWO"]
    (chapter / "19-198.trans.txt").write_text("".join(f"19-198-{i:04d} HELLO {w}\n" for i, w in enumerate(words)))
    (src / "README.TXT").write_text("a test corpus\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname="LibriSpeech")
    return buf.getvalue()


class Server:
    """Serves one payload at /<subset>.tar.gz, honouring Range (unless told not to); records requests."""

    def __init__(self, payload: bytes, ranges: bool = True, cut_after: int | None = None) -> None:
        self.payload, self.ranges, self.requests, self.bytes_sent = payload, ranges, [], 0
        self.cut_after = cut_after  # drop the connection after this many bytes of the first response
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.headers.get("Range"))
                if self.path != f"/{SUBSET}.tar.gz":
                    self.send_error(404)
                    return
                start, rng = 0, self.headers.get("Range")
                if rng and outer.ranges:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(outer.payload):
                        self.send_error(416)
                        return
                body = outer.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut_after is not None:
                    body, outer.cut_after = body[: outer.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)
                outer.bytes_sent += len(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def md5(data: bytes) -> dict:
    return {SUBSET: hashlib.md5(data).hexdigest()}


def test_file_url_extracts_verifies_and_skips_when_complete(archive, tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    (src / f"{SUBSET}.tar.gz").write_bytes(archive)
    root = tmp_path / "corpus"
    r = fetch_subset(SUBSET, root, base_url=src.as_uri(), md5s=md5(archive), progress=False)
    assert not r.skipped and r.downloaded_bytes == len(archive) and r.path == root / "LibriSpeech" / SUBSET
    utts, report = read_subset(root, SUBSET)
    assert [u.text for u in utts] == ["hello zero", "hello one", "hello two"]
    assert not (root / f"{SUBSET}.tar.gz").exists()  # archive removed after extraction
    (src / f"{SUBSET}.tar.gz").unlink()  # a second call must not even look at the source
    again = fetch_subset(SUBSET, root, base_url=src.as_uri(), md5s=md5(archive), progress=False)
    assert again.skipped and again.downloaded_bytes == 0


def test_http_download_resumes_a_partial_file(archive, tmp_path):
    server = Server(archive)
    try:
        root = tmp_path / "corpus"
        root.mkdir()
        half = len(archive) // 2
        (root / f"{SUBSET}.tar.gz.part").write_bytes(archive[:half])  # an interrupted earlier download
        r = fetch_subset(SUBSET, root, base_url=server.url, md5s=md5(archive), progress=False)
    finally:
        server.close()
    assert server.requests == [f"bytes={half}-"] and server.bytes_sent == len(archive) - half
    assert r.downloaded_bytes == len(archive) - half
    assert len(read_subset(root, SUBSET)[0]) == 3


def test_dropped_connection_keeps_the_partial_file_and_the_next_run_resumes(archive, tmp_path):
    cut = len(archive) // 3
    server = Server(archive, cut_after=cut)
    root = tmp_path / "corpus"
    try:
        with pytest.raises(DownloadError, match="run the same command again to resume"):
            fetch_subset(SUBSET, root, base_url=server.url, md5s=md5(archive), progress=False)
        assert (root / f"{SUBSET}.tar.gz.part").stat().st_size == cut
        fetch_subset(SUBSET, root, base_url=server.url, md5s=md5(archive), progress=False)
    finally:
        server.close()
    assert server.requests == [None, f"bytes={cut}-"] and server.bytes_sent == len(archive)
    assert len(read_subset(root, SUBSET)[0]) == 3


def test_server_ignoring_range_restarts_from_zero(archive, tmp_path):
    server = Server(archive, ranges=False)
    try:
        root = tmp_path / "corpus"
        root.mkdir()
        (root / f"{SUBSET}.tar.gz.part").write_bytes(b"stale bytes from somewhere else")
        fetch_subset(SUBSET, root, base_url=server.url, md5s=md5(archive), progress=False)
    finally:
        server.close()
    assert server.bytes_sent == len(archive)
    assert len(read_subset(root, SUBSET)[0]) == 3


def test_corrupted_download_is_detected_deleted_and_not_extracted(archive, tmp_path):
    corrupt = bytearray(archive)
    corrupt[len(corrupt) // 2] ^= 0xFF
    server = Server(bytes(corrupt))
    try:
        root = tmp_path / "corpus"
        with pytest.raises(DownloadError, match="MD5 .* differs from the published"):
            fetch_subset(SUBSET, root, base_url=server.url, md5s=md5(archive), progress=False)
    finally:
        server.close()
    assert not (root / "LibriSpeech").exists()
    assert not list(root.glob(f"{SUBSET}.tar.gz*"))  # the next run starts afresh


def test_missing_file_and_unknown_subset_are_clear_errors(tmp_path):
    with pytest.raises(DownloadError, match="no such file"):
        fetch_subset(SUBSET, tmp_path, base_url=tmp_path.as_uri(), md5s={SUBSET: "0" * 32}, progress=False)
    with pytest.raises(DownloadError, match="unknown subset"):
        fetch_subset("train-clean-101", tmp_path, progress=False)
    r = subprocess.run([sys.executable, "-m", "asr", "download", "--subset", "dev-clean,nope", "--root", tmp_path],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown subset nope" in r.stderr and "Traceback" not in r.stderr


def test_published_checksums_cover_the_seven_subsets():
    assert set(LIBRISPEECH_MD5) == {"dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100",
                                    "train-clean-360", "train-other-500"}
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in LIBRISPEECH_MD5.values())
