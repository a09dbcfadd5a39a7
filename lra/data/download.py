"""Resumable, checksum-verified HTTP downloads (standard library only) and the public source archives.

A transfer streams into ``<name>.part``; after an interruption (a dropped connection, a killed process) the next
attempt asks for the rest with an HTTP ``Range`` request and appends, or starts over when the server ignores the
range. Only a file with the expected size and digest is renamed to its final name; a mismatch deletes the
partial file and raises ``ChecksumError``.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lra.data.errors import ChecksumError, DataError, DataFormatError
from lra.data.hashing import file_digest
from lra.data.progress import bar
from lra.io import atomic_write_text

CHUNK = 1 << 16
RETRIES = 5
RETRY_WAIT_S = 2.0  # doubled after each failed attempt
TIMEOUT_S = 60.0
USER_AGENT = "lra-harness-data/1"


@dataclass(frozen=True)
class Remote:
    """A public archive: where it lives and what it must hash to (None where nothing is published)."""

    filename: str
    url: str
    size: int | None
    sha256: str | None
    md5: str | None = None
    extract_to: str = ""  # sub-folder of raw/ that receives its members


# Checksums: aclImdb and cifar-10-binary from tensorflow/datasets url_checksums; cifar-10-python sha256 from
# torchvision's prototype datasets and Keras, md5s from the CIFAR page. Google publishes no checksum for
# lra_release.gz (8.23 GB gzipped tar): its sha256 is recorded on first download and checked by `verify`.
REMOTES = {
    "aclImdb": Remote(
        "aclImdb_v1.tar.gz",
        "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        84_125_825,
        "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    ),
    "cifar-10-python": Remote(
        "cifar-10-python.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        170_498_071,
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        "c58f30108f718f92721af3b95e74349a",
    ),
    "cifar-10-binary": Remote(
        "cifar-10-binary.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        170_052_171,
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
        "c32a1d4ab5d03f1284b67883e8d87530",
    ),
    "lra_release": Remote(
        "lra_release.gz",
        "https://storage.googleapis.com/long-range-arena/lra_release.gz",
        None,
        None,
        extract_to="lra_release",
    ),
}


def remote_for(filename: str) -> Remote | None:
    """The known archive called ``filename``, if any."""
    return next((r for r in REMOTES.values() if r.filename == filename), None)


def sidecar(path: Path) -> Path:
    """``<file>.sha256``: the digest recorded for a download that has no published checksum."""
    return path.with_name(path.name + ".sha256")


def read_sidecar(path: Path) -> str | None:
    """The sha256 recorded in ``<path>.sha256`` (``<hex digest>  <name>``), or None when there is none."""
    record = sidecar(path)
    if not record.is_file():
        return None
    first = record.read_text(encoding="ascii", errors="replace").split("\n", 1)[0].split()
    digest = first[0].lower() if first else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise DataFormatError(record, 1, f"not a '<sha256>  {path.name}' line; delete it to record the digest again")
    return digest


def verify_file(path: Path, *, size: int | None, sha256: str | None, md5: str | None = None) -> str:
    """Check ``path`` against the expected size and digests; return its sha256."""
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{path}: size {actual_size} bytes, expected {size}")
    digest = file_digest(path)
    if sha256 is not None and digest != sha256.lower():
        raise ChecksumError(f"{path}: sha256 {digest}, expected {sha256.lower()}")
    if md5 is not None and (actual := file_digest(path, "md5")) != md5.lower():
        raise ChecksumError(f"{path}: md5 {actual}, expected {md5.lower()}")
    return digest


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def _transfer(url: str, part: Path) -> None:
    """One attempt: continue ``part`` from its current size (or restart) until the server's end of data."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # the range starts at the end: nothing left to fetch
            return
        raise
    with resp:
        if offset and resp.status != 206:
            offset = 0  # the server ignored the range: start over
        elif offset and not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise DataError(f"{url}: server answered range {offset}- with {resp.headers.get('Content-Range')!r}")
        length = resp.headers.get("Content-Length")
        expected = offset + int(length) if length is not None else None
        received = offset
        with (
            open(part, "ab" if offset else "wb") as f,
            bar(total=expected, initial=offset, desc=f"download {part.name[:-5]}", unit="B", unit_scale=True) as p,
        ):
            try:
                while chunk := resp.read(CHUNK):
                    f.write(chunk)
                    received += len(chunk)
                    p.update(len(chunk))
            except http.client.IncompleteRead as e:
                f.write(e.partial)  # keep every byte that arrived: the next attempt resumes after it
                raise
        if expected is not None and received < expected:
            raise http.client.IncompleteRead(b"", expected - received)


def download(
    url: str, dest: Path, *, size: int | None = None, sha256: str | None = None, md5: str | None = None
) -> str:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``), verify it, and return its sha256.

    An existing ``dest`` that verifies is kept. Without a published ``sha256`` the digest of the first complete
    download is written to ``<dest>.sha256`` and later runs check against it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    recorded = read_sidecar(dest) if sha256 is None else None
    if dest.exists():
        try:
            digest = verify_file(dest, size=size, sha256=sha256 or recorded, md5=md5)
        except ChecksumError as e:
            raise ChecksumError(f"{e}; delete it to download it again") from e
        return _record(dest, digest, sha256 or recorded)
    part = dest.with_name(dest.name + ".part")
    wait = RETRY_WAIT_S
    for attempt in range(1, RETRIES + 1):
        try:
            _transfer(url, part)
            break
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == RETRIES:
                raise DataError(f"{url}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
            if attempt == RETRIES:
                raise DataError(f"{url}: transfer failed after {RETRIES} attempts ({e}); run again to resume") from e
        time.sleep(wait)
        wait *= 2
    try:
        digest = verify_file(part, size=size, sha256=sha256 or recorded, md5=md5)
    except ChecksumError as e:
        part.unlink()
        raise ChecksumError(f"{url}: {e}; the download was deleted, run again to fetch it afresh") from e
    os.replace(part, dest)
    return _record(dest, digest, sha256 or recorded)


def _record(dest: Path, digest: str, expected: str | None) -> str:
    """Write ``<dest>.sha256`` (atomically: a crash never leaves a partial digest) when the file has no published
    or recorded digest yet; return ``digest``."""
    if expected is None:
        atomic_write_text(sidecar(dest), f"{digest}  {dest.name}\n")
    return digest


def sha256_hex(value: str) -> str:
    """Validate a user-supplied sha256 hex digest."""
    value = value.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise DataError(f"not a sha256 hex digest: {value!r}")
    return value
