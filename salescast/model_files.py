"""The LSTM model store's files (:mod:`models.neural.store`) as ``salescast model`` reads and
changes them: a corrupt file is a one-line :class:`UserError` that names it, and a rollback
changes the store all at once or not at all.

The store's index is ``CURRENT`` (the current version), ``history.json`` (the promoted
versions, oldest first) and each version's ``meta.json``. :func:`rollback` reads and checks all
of them, and loads the version it goes back to, before it writes anything; it then writes each
new file beside the old one and renames them over the old ones, putting back what it renamed
if a rename fails.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from salescast.cliutil import UserError

__all__ = ["read_current", "read_history", "read_meta", "replace_all", "rollback"]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"corrupt model store file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"unreadable model store file {path}: {exc.strerror or exc}") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(_text(path))
    except ValueError as exc:
        raise UserError(f"corrupt model store file {path}: not JSON ({exc})") from None


def _version_name(name: object) -> bool:
    """Whether ``name`` can be a version: a directory right under the store."""
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name \
        and "\\" not in name and "\0" not in name


def read_current(root: Path) -> str | None:
    """The version ``CURRENT`` names (None: no file, or empty)."""
    path = root / "CURRENT"
    if not path.exists():
        return None
    name = _text(path).strip()
    if name and not _version_name(name):
        raise UserError(f"corrupt model store file {path}: {name[:40]!r} is not a version")
    return name or None


def read_history(root: Path) -> list[str]:
    """The promoted versions, oldest first (``history.json``; [] when there is none)."""
    path = root / "history.json"
    if not path.exists():
        return []
    history = _json(path)
    if not isinstance(history, list) or not all(_version_name(v) for v in history):
        raise UserError(f"corrupt model store file {path}: not a JSON list of versions")
    return history


def read_meta(root: Path, version: str) -> dict[str, Any]:
    """``<version>/meta.json``: a JSON object whose ``metrics`` and ``window`` are objects."""
    path = root / version / "meta.json"
    if not path.exists():
        raise UserError(f"model {version}: no {path}")
    meta = _json(path)
    if not isinstance(meta, dict):
        raise UserError(f"corrupt model store file {path}: not a JSON object")
    for key in ("metrics", "window"):
        if not isinstance(meta.get(key, {}), dict):
            raise UserError(f"corrupt model store file {path}: {key} is not a JSON object")
    return meta


def _meta_text(meta: dict[str, Any]) -> str:
    return json.dumps(meta, indent=2, sort_keys=True)  # as models.neural.store writes it


def rollback(store: Any, connect: Callable[[], Any | None] = lambda: None) -> str:
    """Re-promote the version promoted before the current one (``store``: a
    :class:`~models.neural.store.ModelStore`), as ``ModelStore.rollback`` does, but all at
    once; announce it on the Redis client ``connect()`` returns once the store is checked
    (None: no Redis). Returns the version."""
    from models.neural.store import ArtifactError

    root = Path(store.root)
    history = read_history(root)
    if len(history) < 2:
        raise UserError("nothing to roll back to (fewer than two promotions)")
    current, previous = history[-1], history[-2]
    meta_current, meta_previous = read_meta(root, current), read_meta(root, previous)
    try:
        store.load(previous)  # never point workers at an artifact that does not load
    except ArtifactError as exc:
        raise UserError(f"cannot roll back to {previous}, the store is unchanged: {exc}"
                        ) from None
    redis, now = connect(), time.time()
    replace_all({
        root / current / "meta.json": _meta_text({**meta_current, "status": "rolled_back"}),
        root / previous / "meta.json": _meta_text({**meta_previous, "status": "promoted",
                                                   "promoted_at": now, "reason": "rollback"}),
        root / "history.json": json.dumps(history[:-1]),
        root / "CURRENT": previous,
    })
    if redis is not None:
        announce(store, redis, previous, now)
    return previous


def announce(store: Any, redis: Any, version: str, promoted_at: float | None = None) -> None:
    """Tell the workers (``store.announce``); a Redis that does not answer is one line."""
    from redis.exceptions import RedisError

    try:
        store.announce(redis, version, promoted_at)
    except RedisError as exc:
        raise UserError(f"{version} is current in {store.root}, but Redis does not answer "
                        f"({exc}): the workers are not notified") from None


def replace_all(files: dict[Path, str]) -> None:
    """Give every file of ``files`` its new text, or (on an error) none of them: each is
    written to a temporary file beside it first, then renamed over it (:func:`os.replace`,
    atomic); a failed rename puts back the files already replaced."""
    old = {path: path.read_bytes() if path.exists() else None for path in files}
    temporary = {path: path.with_name(f".{path.name}.new") for path in files}
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
        where = exc.filename or ""
        raise UserError(f"cannot write the model store ({where}: {exc.strerror or exc}): "
                        "it is unchanged") from None
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
