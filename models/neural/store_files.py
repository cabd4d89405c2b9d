"""The model store's files: read as text or JSON, and replaced all at once.

Every error is an :class:`ArtifactError` naming the file. :func:`replace_all` gives several
files their new text or none of them (each written beside it, synced, then renamed over it; a
failed rename puts back what it replaced); the files written beside carry the writer's process
id, so two processes writing one store never take each other's.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> replace_all({root / "CURRENT": "v1", root / "history.json": '["v1"]'})
>>> read_text(root / "CURRENT"), read_json(root / "history.json")
('v1', ['v1'])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["ArtifactError", "PinnedError", "read_text", "read_json", "version_name", "meta_text",
           "replace_all"]


class ArtifactError(Exception):
    """An artifact is missing, corrupt (checksum) or incompatible (format, features)."""


class PinnedError(ArtifactError):
    """The store is pinned to ``version`` by a rollback: the trainer promotes nothing."""

    def __init__(self, version: str) -> None:
        super().__init__(f"pinned to {version} by a rollback")
        self.version = version


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"corrupt model store file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise ArtifactError(f"unreadable model store file {path}: {exc.strerror or exc}"
                            ) from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except ValueError as exc:
        raise ArtifactError(f"corrupt model store file {path}: not JSON ({exc})") from None


def version_name(name: object) -> bool:
    """Whether ``name`` can be a version: a directory right under the store."""
    return (isinstance(name, str) and name not in ("", ".", "..")
            and not any(c in name for c in "/\\\0"))


def meta_text(meta: dict[str, Any]) -> str:
    return json.dumps(meta, indent=2, sort_keys=True)


def replace_all(files: dict[Path, str]) -> None:
    """Give every file of ``files`` its new text, or (on an error) none of them: each is
    written beside it first, then renamed over it (:func:`os.replace`, atomic); a failed
    rename puts back the files already replaced."""
    old = {path: path.read_bytes() if path.exists() else None for path in files}
    temporary = {path: path.with_name(f".{path.name}.{os.getpid()}.new") for path in files}
    replaced: list[Path] = []
    try:
        for path, text in files.items():
            _write_synced(temporary[path], text.encode())
        for path in files:
            os.replace(temporary[path], path)
            replaced.append(path)
    except OSError as exc:
        for path in reversed(replaced):
            before = old[path]
            if before is None:
                path.unlink(missing_ok=True)
            else:
                _write_synced(temporary[path], before)
                os.replace(temporary[path], path)
        raise ArtifactError(f"cannot write the model store ({exc.filename or ''}: "
                            f"{exc.strerror or exc}): it is unchanged") from None
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
