"""Downloads against a real HTTP server on 127.0.0.1: verification, resume, interruption, checksum mismatch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lra.data import ChecksumError, DataError
from lra.data import download as dl
from lra.data.cli import main
from tests.data.fixtures import make_aclimdb, make_lra_release_tar, tar_folder
from tests.data.http_server import FileServer, serve

PAYLOAD = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    monkeypatch.setattr(dl, "RETRY_WAIT_S", 0.0)
    with serve({"/files/blob.bin": PAYLOAD}) as s:
        yield s


def test_download_verifies_and_is_kept(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    assert dl.download(f"{server.url}/files/blob.bin", dest, size=len(PAYLOAD), sha256=DIGEST) == DIGEST
    assert dest.read_bytes() == PAYLOAD and not dest.with_name("blob.bin.part").exists()
    dl.download(f"{server.url}/files/blob.bin", dest, sha256=DIGEST)
    assert len(server.requests) == 1  # the verified file is reused


def test_resumes_a_partial_file(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(PAYLOAD[:100_000])
    dl.download(f"{server.url}/files/blob.bin", dest, sha256=DIGEST)
    assert server.requests == [("/files/blob.bin", "bytes=100000-")]
    assert dest.read_bytes() == PAYLOAD


def test_an_interrupted_transfer_resumes_where_it_stopped(server: FileServer, tmp_path: Path) -> None:
    server.cut_after = 70_000
    dest = tmp_path / "blob.bin"
    dl.download(f"{server.url}/files/blob.bin", dest, sha256=DIGEST)
    assert server.requests == [("/files/blob.bin", None), ("/files/blob.bin", "bytes=70000-")]
    assert dest.read_bytes() == PAYLOAD


def test_a_server_that_ignores_ranges_restarts_the_file(server: FileServer, tmp_path: Path) -> None:
    server.ignore_range = True
    dest = tmp_path / "blob.bin"
    dest.with_name("blob.bin.part").write_bytes(b"stale bytes")
    dl.download(f"{server.url}/files/blob.bin", dest, sha256=DIGEST)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    with pytest.raises(ChecksumError, match=rf"sha256 {DIGEST}, expected {'0' * 64}; the download was deleted"):
        dl.download(f"{server.url}/files/blob.bin", dest, sha256="0" * 64)
    assert not dest.exists() and not dest.with_name("blob.bin.part").exists()
    with pytest.raises(ChecksumError, match=r"size 300000 bytes, expected 299999"):
        dl.download(f"{server.url}/files/blob.bin", dest, size=299_999)


def test_unpublished_checksum_is_recorded_then_enforced(server: FileServer, tmp_path: Path) -> None:
    dest = tmp_path / "blob.bin"
    dl.download(f"{server.url}/files/blob.bin", dest)
    assert dl.sidecar(dest).read_text().split()[0] == DIGEST
    dest.write_bytes(PAYLOAD[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match="sha256"):
        dl.download(f"{server.url}/files/blob.bin", dest)


def test_missing_file_is_a_clear_error(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"/files/nope\.bin: HTTP 404"):
        dl.download(f"{server.url}/files/nope.bin", tmp_path / "nope.bin")


def test_download_command_extracts_only_what_the_task_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_lra_release_tar(tmp_path / "lra_release.gz", tmp_path / "work")
    data = tmp_path / "data"
    with serve({"/long-range-arena/lra_release.gz": archive.read_bytes()}) as s:
        url = f"{s.url}/long-range-arena/lra_release.gz"
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert main(["download", "retrieval", "--url", url, "--sha256", digest, "--data-dir", str(data)]) == 0
        assert (data / "raw/lra_release/tsv_data/new_aan_pairs.train.tsv").is_file()
        assert not (data / "raw/lra_release/listops-1000").exists()
        assert main(["download", "listops", "--url", url, "--data-dir", str(data)]) == 0  # reuses the file
        assert len(s.requests) == 1
    assert (data / "raw/lra_release/listops-1000/basic_train.tsv").is_file()
    assert main(["prepare", "retrieval", "--data-dir", str(data)]) == 0
    assert main(["prepare", "listops", "--origin", "files", "--data-dir", str(data)]) == 0


def test_published_checksums_are_enforced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = tar_folder(make_aclimdb(tmp_path / "src"), tmp_path / "aclImdb_v1.tar.gz")
    with serve({"/aclImdb_v1.tar.gz": fake.read_bytes()}) as s:
        assert main(["download", "text", "--url", f"{s.url}/aclImdb_v1.tar.gz", "--data-dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "expected 84125825" in err
    assert not (tmp_path / "d" / "downloads" / "aclImdb_v1.tar.gz").exists()
