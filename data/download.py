"""Fetch LibriSpeech subsets from OpenSLR: resumable download, MD5 check, extraction, skip when done.

    fetch_subset("train-clean-100", "corpora/librispeech")
      -> corpora/librispeech/LibriSpeech/train-clean-100/<speaker>/<chapter>/...

A download goes to `<root>/<subset>.tar.gz.part` and continues from there after an interruption
(HTTP Range request; `file://` URLs seek). The archive is checked against the published MD5
before anything is extracted; a mismatch deletes the archive and raises DownloadError. A
subset is complete when `<root>/LibriSpeech/<subset>/.complete` holds the archive's MD5; then
nothing is fetched again.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .librispeech import subset_path

__all__ = ["OPENSLR_URL", "MIRRORS", "LIBRISPEECH_MD5", "DownloadError", "FetchResult", "fetch_subset"]

OPENSLR_URL = "https://www.openslr.org/resources/12"
MIRRORS = (OPENSLR_URL, "https://us.openslr.org/resources/12", "https://openslr.elda.org/resources/12")

# Published MD5 sums of the OpenSLR resource 12 archives, from
# https://www.openslr.org/resources/12/md5sum.txt. That file could not be fetched from the machine
# this was written on; the seven values were taken from public download scripts and dataset
# loaders of several independent projects, which all quote them identically.
LIBRISPEECH_MD5 = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}

_CHUNK = 1 << 20


class DownloadError(Exception):
    """A subset that could not be fetched or verified; the message is one line for the user."""


@dataclass(frozen=True)
class FetchResult:
    subset: str
    path: Path  # <root>/LibriSpeech/<subset>
    downloaded_bytes: int  # fetched by this call (0 when skipped or fully resumed)
    skipped: bool  # already complete, nothing done


def _md5(path: Path, progress: bool) -> str:
    h = hashlib.md5()
    with path.open("rb") as fh, tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"md5 {path.name}",
                                     disable=not progress, dynamic_ncols=True) as bar:
        while block := fh.read(_CHUNK):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def _open(url: str, offset: int, timeout: float):
    """(stream, total size or None, resumed) for reading `url` from byte `offset`."""
    parts = urllib.parse.urlparse(url)
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
        if not path.is_file():
            raise DownloadError(f"{url}: no such file")
        fh = path.open("rb")
        size = path.stat().st_size
        fh.seek(min(offset, size))
        return fh, size, offset > 0
    headers = {"User-Agent": "asr-download/1"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # range past the end: the partial file is already whole (or too long)
            return None, offset, True
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: {getattr(e, 'reason', e)}") from None
    length = resp.headers.get("Content-Length")
    if resp.status == 206:
        total = offset + int(length) if length else None
        return resp, total, True
    return resp, int(length) if length else None, False  # 200: the server ignored the range, start again


def _download(url: str, part: Path, progress: bool, timeout: float) -> int:
    """Append the rest of `url` to `part`; returns the bytes fetched now."""
    offset = part.stat().st_size if part.exists() else 0
    stream, total, resumed = _open(url, offset, timeout)
    if stream is None:
        return 0
    if not resumed:
        offset = 0
    fetched = 0
    with stream, part.open("ab" if resumed else "wb") as out, tqdm(
        total=total, initial=offset, unit="B", unit_scale=True, desc=part.name.removesuffix(".part"),
        disable=not progress, dynamic_ncols=True,
    ) as bar:
        try:
            while block := stream.read(_CHUNK):
                out.write(block)
                fetched += len(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as e:
            raise DownloadError(f"{url}: connection lost after {offset + fetched} bytes ({type(e).__name__}); "
                                f"run the same command again to resume") from None
    if total is not None and offset + fetched < total:
        raise DownloadError(f"{url}: connection closed after {offset + fetched} of {total} bytes; "
                            f"run the same command again to resume")
    return fetched


def _extract(archive: Path, root: Path, subset: str, progress: bool) -> Path:
    """Extract into <root>; the archive's members are LibriSpeech/<subset>/... and a few top-level files."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in tqdm(members, desc=f"extract {subset}", unit="file", disable=not progress,
                               dynamic_ncols=True, mininterval=1.0):
                tar.extract(member, root, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DownloadError(f"{archive}: cannot extract ({e})") from None
    target = subset_path(root, subset)
    if not target.is_dir():
        raise DownloadError(f"{archive}: holds no LibriSpeech/{subset}/ folder")
    return target


def fetch_subset(
    subset: str, root: str | Path, base_url: str = OPENSLR_URL, md5s: dict[str, str] | None = None,
    progress: bool = True, keep_archive: bool = False, timeout: float = 60.0,
) -> FetchResult:
    """Download, verify and extract one subset into <root>/LibriSpeech/<subset>; skip it when complete."""
    md5s = LIBRISPEECH_MD5 if md5s is None else md5s
    if subset not in md5s:
        raise DownloadError(f"unknown subset {subset!r}; known: {', '.join(sorted(md5s))}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = subset_path(root, subset)
    marker = target / ".complete"
    if marker.is_file() and marker.read_text().strip() == md5s[subset]:
        return FetchResult(subset, target, 0, True)

    archive = root / f"{subset}.tar.gz"
    part = root / f"{subset}.tar.gz.part"
    fetched = 0
    if not archive.exists():
        fetched = _download(f"{base_url.rstrip('/')}/{subset}.tar.gz", part, progress, timeout)
        os.replace(part, archive)
    digest = _md5(archive, progress)
    if digest != md5s[subset]:
        archive.unlink()
        raise DownloadError(f"{subset}.tar.gz: MD5 {digest} differs from the published {md5s[subset]}; "
                            f"the corrupt download was deleted, run the command again to fetch it anew")
    if target.exists():  # an earlier extraction was interrupted
        shutil.rmtree(target)
    _extract(archive, root, subset, progress)
    marker.write_text(md5s[subset] + "\n")
    if not keep_archive:
        archive.unlink()
    return FetchResult(subset, target, fetched, False)
