"""Downloads against a real HTTP server on 127.0.0.1: verification, resume, interruption, checksum mismatch."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from lra import io as io_module
from lra.data import ChecksumError, DataError, DataFormatError, load_split, prepare
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


def test_an_interrupted_archive_download_resumes_then_prepares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = make_lra_release_tar(tmp_path / "lra_release.gz", tmp_path / "work").read_bytes()
    data = tmp_path / "data"
    half, quarter = len(archive) // 2, len(archive) // 4
    monkeypatch.setattr(dl, "RETRY_WAIT_S", 0.0)
    with serve({"/lra_release.gz": archive}) as s:
        command = ["download", "retrieval", "--url", f"{s.url}/lra_release.gz", "--data-dir", str(data), "--quiet"]
        # Run 1 is cut half-way and gives up at once, as a killed process would: the bytes received are kept.
        monkeypatch.setattr(dl, "RETRIES", 1)
        s.cut_after = half
        assert main(command) == 1
        assert "run again to resume" in capsys.readouterr().err
        assert (data / "downloads/lra_release.gz.part").read_bytes() == archive[:half]
        assert not (data / "downloads/lra_release.gz").exists() and not (data / "raw").exists()
        # Run 2 resumes from there, is cut again a quarter later and resumes within the run.
        monkeypatch.setattr(dl, "RETRIES", 5)
        s.cut_after = quarter
        assert main(command) == 0
        assert s.requests == [
            ("/lra_release.gz", None),
            ("/lra_release.gz", f"bytes={half}-"),
            ("/lra_release.gz", f"bytes={half + quarter}-"),
        ]
    assert (data / "downloads/lra_release.gz").read_bytes() == archive
    assert dl.read_sidecar(data / "downloads/lra_release.gz") == hashlib.sha256(archive).hexdigest()
    assert main(["prepare", "retrieval", "--data-dir", str(data), "--quiet"]) == 0
    expected = prepare("retrieval", tmp_path / "expected", source=tmp_path / "work" / "lra_release")
    got = load_split("retrieval", "train", data).directory
    for split in ("train", "val", "test"):
        for name in ("inputs", "lengths", "labels"):
            assert (got / f"{split}.{name}.npy").read_bytes() == (expected / f"{split}.{name}.npy").read_bytes()


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


def test_the_recorded_checksum_is_written_atomically(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_fails(fd: int) -> None:
        raise OSError(28, "No space left on device")

    dest = tmp_path / "blob.bin"
    with monkeypatch.context() as m, pytest.raises(OSError, match="No space left"):
        m.setattr(io_module.os, "fsync", disk_fails)
        dl.download(f"{server.url}/files/blob.bin", dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]  # no partial digest, no temporary file
    assert dl.download(f"{server.url}/files/blob.bin", dest) == DIGEST
    assert dl.sidecar(dest).read_text() == f"{DIGEST}  blob.bin\n"


def test_a_damaged_recorded_checksum_names_its_file(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "downloads" / "blob.bin"
    dl.download(f"{server.url}/files/blob.bin", dest)
    dl.sidecar(dest).write_text(DIGEST[:20])  # cut short
    with pytest.raises(DataFormatError, match=r"blob\.bin\.sha256:1: not a '<sha256>  blob\.bin' line"):
        dl.download(f"{server.url}/files/blob.bin", dest)
    assert main(["verify", "--data-dir", str(tmp_path)]) == 1
    assert "FAILED" in capsys.readouterr().out


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
