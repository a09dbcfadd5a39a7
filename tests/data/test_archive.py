"""Safe, selective extraction of tar and zip archives."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lra.data import DataFormatError, UnsafeArchiveError
from lra.data.archive import extract


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _zip(path: Path, members: list[tuple[str, bytes]], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def test_only_the_requested_roots_are_extracted(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "lra_release.gz",
        [
            ("lra_release/lra_release/tsv_data/a.tsv", b"a"),
            ("lra_release/lra_release/listops-1000/basic_train.tsv", b"b"),
            ("lra_release/lra_release/pathfinder32/curv_baseline/imgs/0/sample_0.png", b"c"),
            ("lra_release/lra_release/pathfinder32/curv_contour_length_14/metadata/0.npy", b"d"),
        ],
    )
    dest = tmp_path / "raw"
    found = extract(archive, dest, ["tsv_data", "pathfinder32/curv_contour_length_14", "missing"])
    assert found == ["tsv_data", "pathfinder32/curv_contour_length_14"]
    assert _files(dest) == ["pathfinder32/curv_contour_length_14/metadata/0.npy", "tsv_data/a.tsv"]
    assert (dest / "tsv_data" / "a.tsv").read_bytes() == b"a"


def test_links_inside_the_target_are_kept(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "a.tar.gz",
        [
            ("top/data/real.txt", b"x"),
            _link("top/data/alias.txt", "real.txt"),
            _link("top/data/copy.txt", "top/data/real.txt", tarfile.LNKTYPE),
        ],
    )
    extract(archive, tmp_path / "out", ["data"])
    assert (tmp_path / "out/data/alias.txt").is_symlink() and (tmp_path / "out/data/alias.txt").read_bytes() == b"x"
    assert (tmp_path / "out/data/copy.txt").read_bytes() == b"x"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("/etc/evil", b"x")], "is an absolute path"),
        ([("data/../../evil", b"x")], "contains '..'"),
        ([("data/ok", b"x"), ("../evil", b"x")], "contains '..'"),
        ([_link("data/passwd", "/etc/passwd")], "points to the absolute path"),
        ([_link("data/up", "../../outside")], "leads outside"),
        ([_link("data/up", "../x"), ("data/x", b"1")], None),  # inside the archive: allowed
        ([_link("data/hard", "../../etc/passwd", tarfile.LNKTYPE)], "contains '..'"),
        ([_link("data/dev", "", tarfile.CHRTYPE)], "is a device, FIFO or socket"),
        ([_link("data/fifo", "", tarfile.FIFOTYPE)], "is a device, FIFO or socket"),
    ],
)
def test_tar_refuses_escapes(tmp_path: Path, members: list, message: str | None) -> None:
    archive = _tar(tmp_path / "a.tar.gz", members)
    dest = tmp_path / "out"
    if message is None:
        extract(archive, dest, ["data"])
        return
    with pytest.raises(UnsafeArchiveError, match=message):
        extract(archive, dest, ["data"])
    assert _files(dest) == [] and not (tmp_path / "evil").exists()


def test_a_link_cannot_redirect_a_later_member(tmp_path: Path) -> None:
    # Each link looks harmless on paper ("data/x/../../z" is "z"), but data/x -> .. makes data/x/l resolve two
    # levels above the target: the check follows the links already written.
    archive = _tar(tmp_path / "a.tar.gz", [_link("data/x", ".."), _link("data/x/l", "../../escaped")])
    with pytest.raises(UnsafeArchiveError, match="leads outside the target"):
        extract(archive, tmp_path / "out", ["data"])
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(
    ("members", "links", "message"),
    [
        ([("../evil", b"x")], {}, "contains '..'"),
        ([("/abs/evil", b"x")], {}, "is an absolute path"),
        ([("C:/evil", b"x")], {}, "is an absolute path"),
        ([("data\\..\\..\\evil", b"x")], {}, "contains '..'"),
        ([], {"data/link": "../../../etc"}, "leads outside"),
    ],
)
def test_zip_refuses_escapes(tmp_path: Path, members: list, links: dict, message: str) -> None:
    archive = _zip(tmp_path / "a.zip", members, links)
    with pytest.raises(UnsafeArchiveError, match=message):
        extract(archive, tmp_path / "out", ["data"])
    assert _files(tmp_path / "out") == []


def test_zip_extracts_selected_members(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", [("x/data/a.txt", b"a"), ("x/other/b.txt", b"b")])
    assert extract(archive, tmp_path / "out", ["data"]) == ["data"]
    assert _files(tmp_path / "out") == ["data/a.txt"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 2],  # cut in the middle
        lambda raw: raw[:-5],  # only the gzip trailer (CRC, length) is cut: tarfile alone would not notice
        lambda raw: raw[: len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0x55]) + raw[len(raw) // 2 + 1 :],  # one byte
    ],
)
def test_corrupt_archive_leaves_nothing(tmp_path: Path, damage) -> None:
    rng = np.random.default_rng(0)
    archive = _tar(tmp_path / "a.tar.gz", [(f"data/{i}.bin", rng.bytes(5000)) for i in range(20)])
    archive.write_bytes(damage(archive.read_bytes()))
    with pytest.raises(DataFormatError, match=r"a\.tar\.gz: corrupt or truncated archive"):
        extract(archive, tmp_path / "out", ["data"])
    assert list((tmp_path / "out").iterdir()) == []
