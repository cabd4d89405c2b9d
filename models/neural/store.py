"""The LSTM model store: versioned artifacts on disk, the current version in Redis.

Each version is a directory ``<models_dir>/<version>/`` holding ``weights.pt`` (the state dict)
and ``meta.json``: the config, the training and gate metrics, the data window it was trained
on, the code version, the status (``candidate``, ``promoted``, ``rejected``) and the sha256 of
``weights.pt``. :meth:`ModelStore.load` refuses an artifact whose checksum or config does not
match (:class:`ArtifactError`), so a worker keeps its previous model instead.

The trainer saves a version every cycle (one every few minutes in the demo), so
:meth:`ModelStore.prune` keeps the current version, the last ``KEEP`` promotions (what
:meth:`ModelStore.rollback` goes back through) and the ``KEEP`` newest of the others, and
deletes the rest (a soak: nine versions in 35 minutes, never deleted).

Promotion writes ``CURRENT`` (the version) and appends to ``history.json`` in the store, and,
given a Redis client, sets the ``salescast:model:current`` hash, which workers read every 2 s
to hot-swap, and announces the version on ``salescast:models`` (its database's channel,
:mod:`contracts.pubsub`) for whoever listens. :meth:`ModelStore.rollback` re-promotes
the previous promoted version. Both check the store's index and the artifact first and then
change its files all at once (each written beside the old one, then renamed over it; a failed
rename puts back what it replaced), so a failure leaves the store as it was. A corrupt index
file (``CURRENT``, ``history.json``, a ``meta.json``) is an :class:`ArtifactError` naming it.

>>> import tempfile, torch
>>> from models.neural.lstm import GlobalLSTM, LSTMConfig
>>> store = ModelStore(tempfile.mkdtemp())
>>> v = store.save(GlobalLSTM(LSTMConfig(hidden=4)), {"mase": 0.7}, {"series": 3})
>>> store.load(v).config.hidden, store.meta(v)["status"]
(4, 'candidate')
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import IO, Any

import torch

from contracts.pubsub import db_of, in_db
from contracts.wire import MODEL_CURRENT, MODELS_CHANNEL
from models.bank_blend import VERSION_BYTES
from models.neural.lstm import FEATURES, GlobalLSTM, LSTMConfig
from models.neural.store_files import (
    ArtifactError,
    PinnedError,
    meta_text,
    read_json,
    read_text,
    replace_all,
    version_name,
)

__all__ = ["ModelStore", "ArtifactError", "PinnedError", "FORMAT", "KEEP"]

FORMAT = 1  # bumped when the artifact layout or the model's inputs change
KEEP = 10  # promotions kept to roll back through, and other versions kept (ModelStore.prune)
#: the names the trainer gives its versions (time-based): the only ones prune deletes
TRAINED = re.compile(r"v\d{8}-\d{6}-\d{3}")
HALF_WRITTEN_S = 3600  # a trainer's directory without meta.json this old is a killed save


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"salescast {version('salescast')}"
    except PackageNotFoundError:
        return "salescast (not installed)"


class ModelStore:
    """A directory of model versions (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def versions(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "meta.json").exists())

    def meta(self, version: str) -> dict[str, Any]:
        """``<version>/meta.json``: a JSON object whose ``metrics`` and ``window`` are objects."""
        path = self.root / version / "meta.json"
        if not path.exists():
            raise ArtifactError(f"model {version}: no {path}")
        meta = read_json(path)
        if not isinstance(meta, dict):
            raise ArtifactError(f"corrupt model store file {path}: not a JSON object")
        for key in ("metrics", "window"):
            if not isinstance(meta.get(key, {}), dict):
                raise ArtifactError(f"corrupt model store file {path}: {key} is not a JSON "
                                    "object")
        return meta

    def _write_meta(self, version: str, meta: dict[str, Any]) -> None:
        replace_all({self.root / version / "meta.json": meta_text(meta)})

    def save(self, model: GlobalLSTM, metrics: dict[str, Any], window: dict[str, Any],
             version: str | None = None) -> str:
        """Write a new candidate version; returns its name (sortable: time-based)."""
        version = version or time.strftime("v%Y%m%d-%H%M%S", time.gmtime()) + \
            f"-{int(time.time() * 1000) % 1000:03d}"
        d = self.root / version
        d.mkdir(parents=True, exist_ok=False)
        torch.save(model.state_dict(), d / "weights.pt")
        self._write_meta(version, {
            "version": version, "format": FORMAT, "features": FEATURES,
            "config": model.config.to_dict(), "metrics": metrics, "window": window,
            "code": code_version(), "created_at": time.time(), "status": "candidate",
            "sha256": _sha256(d / "weights.pt"),
        })
        return version

    def set_status(self, version: str, status: str, **extra: Any) -> None:
        meta = self.meta(version)
        meta.update(status=status, **extra)
        self._write_meta(version, meta)

    def load(self, version: str) -> GlobalLSTM:
        """The model of ``version``, verified; :class:`ArtifactError` if it cannot be trusted
        or served (a name over ``VERSION_BYTES``: a worker keeps it with every series, and a
        longer one stopped it at every start)."""
        if len(version.encode()) > VERSION_BYTES:
            raise ArtifactError(f"model {version[:40]}...: a version's name is at most "
                                f"{VERSION_BYTES} bytes (the workers keep it with every "
                                "series): rename its directory")
        meta = self.meta(version)
        if meta.get("format") != FORMAT or meta.get("features") != FEATURES:
            raise ArtifactError(f"model {version}: format {meta.get('format')} / features "
                                f"{meta.get('features')} is not {FORMAT} / {FEATURES}")
        weights = self.root / version / "weights.pt"
        if not weights.exists():
            raise ArtifactError(f"model {version}: weights.pt is missing")
        if _sha256(weights) != meta.get("sha256"):
            raise ArtifactError(f"model {version}: checksum mismatch (corrupt weights.pt)")
        try:
            model = GlobalLSTM(LSTMConfig.from_dict(meta["config"]))
            model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as exc:  # torch raises many kinds on a bad state dict
            raise ArtifactError(f"model {version}: cannot load weights ({exc})") from None
        model.eval()
        return model

    # -- the current version -----------------------------------------------------------
    def current(self) -> str | None:
        """The version ``CURRENT`` names (None: no file, or empty)."""
        path = self.root / "CURRENT"
        if not path.exists():
            return None
        name = read_text(path).strip()
        if name and not version_name(name):
            raise ArtifactError(f"corrupt model store file {path}: {name[:40]!r} is not a "
                                "version")
        return name or None

    def history(self) -> list[str]:
        """The promoted versions, oldest first (``history.json``; [] when there is none)."""
        path = self.root / "history.json"
        if not path.exists():
            return []
        hist = read_json(path)
        if not isinstance(hist, list) or not all(version_name(v) for v in hist):
            raise ArtifactError(f"corrupt model store file {path}: not a JSON list of versions")
        return hist

    def pinned(self) -> str | None:
        """The version a rollback pinned (``PINNED``): the trainer promotes nothing over it
        until a version is promoted by hand (None: not pinned)."""
        path = self.root / "PINNED"
        return (read_text(path).strip() or None) if path.exists() else None

    def promote(self, version: str, redis: Any | None = None, reason: str = "",
                unpin: bool = True) -> None:
        """Make ``version`` current (and announce it on Redis when given a client); a pin
        (:meth:`pinned`) goes with it, unless not ``unpin`` (the trainer): then a pinned store
        is a :class:`PinnedError` and changes nothing."""
        if not unpin and (pin := self.pinned()) is not None:
            raise PinnedError(pin)
        hist, meta = self.history(), self.meta(version)
        self.load(version)  # never point workers at an artifact that does not load
        now = time.time()
        self._make_current(version, {**meta, "status": "promoted", "promoted_at": now,
                                     "reason": reason},
                           hist if hist and hist[-1] == version else [*hist, version])
        (self.root / "PINNED").unlink(missing_ok=True)
        if redis is not None:
            self.announce(redis, version, now)

    def lock(self) -> IO[str]:
        """Hold the store for one trainer (an open file, locked until closed): another
        trainer on the same store is an :class:`ArtifactError` (two at once wrote each
        other's files and lost promotions)."""
        import fcntl

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            held = open(self.root / ".trainer.lock", "a+")  # noqa: SIM115 (held open)
        except OSError as exc:
            raise ArtifactError(f"cannot write the model store {self.root}: "
                                f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.seek(0)
            who = held.read().strip() or "?"
            held.close()
            raise ArtifactError(f"another trainer (pid {who}) is using the model store "
                                f"{self.root}: stop it first, or give this one another "
                                "SALESCAST_MODELS_DIR") from None
        held.truncate(0)
        held.write(str(os.getpid()))
        held.flush()
        return held

    def rollback(self, redis: Any | None = None) -> str:
        """Re-promote the version promoted before the current one; returns it."""
        hist = self.history()
        if len(hist) < 2:
            raise ArtifactError("nothing to roll back to (fewer than two promotions)")
        previous, current = hist[-2], hist[-1]
        meta_previous = self.meta(previous)  # (the one left may have been deleted by hand)
        gone = not (self.root / current / "meta.json").exists()
        others = {} if gone else {current: {**self.meta(current), "status": "rolled_back"}}
        try:
            self.load(previous)
        except ArtifactError as exc:
            raise ArtifactError(f"cannot roll back to {previous}, the store is unchanged: "
                                f"{exc}") from None
        now = time.time()
        self._make_current(previous, {**meta_previous, "status": "promoted",
                                      "promoted_at": now, "reason": "rollback"}, hist[:-1],
                           others, pin=True)
        if redis is not None:
            self.announce(redis, previous, now)
        return previous

    def _make_current(self, version: str, meta: dict[str, Any], hist: list[str],
                      others: dict[str, dict[str, Any]] | None = None,
                      pin: bool = False) -> None:
        """``version`` current with ``meta``, the history ``hist`` and the metas ``others``
        (and pinned, :meth:`pinned`): every file at once."""
        files = {self.root / v / "meta.json": meta_text(m) for v, m in (others or {}).items()}
        files.update({self.root / version / "meta.json": meta_text(meta),
                      self.root / "history.json": json.dumps(hist),
                      self.root / "CURRENT": version})
        if pin:  # what the trainer would promote next may be the very model rolled back
            files[self.root / "PINNED"] = version
        replace_all(files)

    def prune(self, keep: int = KEEP) -> list[str]:
        """Delete every version the trainer named (:data:`TRAINED`; a copy named by hand is
        kept) but the current one, the last ``keep`` promotions and the ``keep`` newest of the
        others, and the directories of saves killed over an hour ago; the history keeps its
        last ``keep``. The deleted, oldest first.

        >>> import tempfile
        >>> from models.neural.lstm import GlobalLSTM, LSTMConfig
        >>> store, model = ModelStore(tempfile.mkdtemp()), GlobalLSTM(LSTMConfig(hidden=2))
        >>> for i in range(6):
        ...     v = store.save(model, {}, {}, version=f"v20261207-12000{i}-000")
        ...     if i in (0, 2, 3):
        ...         store.promote(v)
        >>> _ = store.save(model, {}, {}, version="golden")  # a copy named by hand
        >>> [v[15] for v in store.prune(keep=1)], store.versions(), len(store.history())
        (['0', '1', '2', '4'], ['golden', 'v20261207-120003-000', 'v20261207-120005-000'], 1)
        """
        hist, current = self.history(), self.current()
        kept = set(hist[-keep:] if keep else []) | ({current} if current else set())
        others = [v for v in self.versions() if v not in kept and TRAINED.fullmatch(v)]
        doomed = others[:-keep] if keep else others
        old = time.time() - HALF_WRITTEN_S  # and what a trainer killed in its save left
        doomed += [p.name for p in sorted(self.root.iterdir()) if p.is_dir() and TRAINED.fullmatch(
            p.name) and not (p / "meta.json").exists() and p.stat().st_mtime < old]
        for left in self.root.glob(".*.new"):  # files a killed writer left beside the index
            if left.stat().st_mtime < old:
                left.unlink(missing_ok=True)
        if len(hist) > keep:
            replace_all({self.root / "history.json": json.dumps(hist[-keep:] if keep else [])})
        for version in doomed:
            shutil.rmtree(self.root / version, ignore_errors=True)
        return doomed

    def announce(self, redis: Any, version: str, promoted_at: float | None = None) -> None:
        meta = self.meta(version)
        info = {"version": version, "path": str((self.root / version).resolve()),
                "sha256": meta["sha256"], "promoted_at": promoted_at or time.time(),
                "mase": meta.get("metrics", {}).get("mase", "")}
        redis.hset(MODEL_CURRENT, mapping=info)
        redis.publish(in_db(MODELS_CHANNEL, db_of(redis)), json.dumps(info))
