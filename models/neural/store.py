"""The LSTM model store: versioned artifacts on disk, the current version in Redis.

Each version is a directory ``<models_dir>/<version>/`` holding ``weights.pt`` (the state dict)
and ``meta.json``: the config, the training and gate metrics, the data window it was trained
on, the code version, the status (``candidate``, ``promoted``, ``rejected``) and the sha256 of
``weights.pt``. :meth:`ModelStore.load` refuses an artifact whose checksum or config does not
match (:class:`ArtifactError`), so a worker keeps its previous model instead.

Promotion writes ``CURRENT`` (the version) and appends to ``history.json`` in the store, and,
given a Redis client, sets the ``salescast:model:current`` hash and publishes the version on
``salescast:models``, which workers follow to hot-swap. :meth:`ModelStore.rollback` re-promotes
the previous promoted version.

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
import time
from pathlib import Path
from typing import Any

import torch

from contracts.wire import MODEL_CURRENT, MODELS_CHANNEL
from models.neural.lstm import FEATURES, GlobalLSTM, LSTMConfig

__all__ = ["ModelStore", "ArtifactError", "FORMAT"]

FORMAT = 1  # bumped when the artifact layout or the model's inputs change


class ArtifactError(Exception):
    """An artifact is missing, corrupt (checksum) or incompatible (format, features)."""


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
        path = self.root / version / "meta.json"
        try:
            meta: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"model {version}: unreadable meta.json ({exc})") from None
        return meta

    def _write_meta(self, version: str, meta: dict[str, Any]) -> None:
        tmp = self.root / version / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
        tmp.replace(self.root / version / "meta.json")

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
        """The model of ``version``, verified; :class:`ArtifactError` if it cannot be trusted."""
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
        path = self.root / "CURRENT"
        return path.read_text().strip() or None if path.exists() else None

    def history(self) -> list[str]:
        path = self.root / "history.json"
        return list(json.loads(path.read_text())) if path.exists() else []

    def promote(self, version: str, redis: Any | None = None, reason: str = "") -> None:
        """Make ``version`` current (and announce it on Redis when given a client)."""
        self.load(version)  # never point workers at an artifact that does not load
        now = time.time()
        self.set_status(version, "promoted", promoted_at=now, reason=reason)
        (self.root / "CURRENT").write_text(version)
        hist = self.history()
        if not hist or hist[-1] != version:
            hist.append(version)
        (self.root / "history.json").write_text(json.dumps(hist))
        if redis is not None:
            self.announce(redis, version, now)

    def announce(self, redis: Any, version: str, promoted_at: float | None = None) -> None:
        meta = self.meta(version)
        info = {"version": version, "path": str((self.root / version).resolve()),
                "sha256": meta["sha256"], "promoted_at": promoted_at or time.time(),
                "mase": meta.get("metrics", {}).get("mase", "")}
        redis.hset(MODEL_CURRENT, mapping=info)
        redis.publish(MODELS_CHANNEL, json.dumps(info))

    def rollback(self, redis: Any | None = None) -> str:
        """Re-promote the version promoted before the current one; returns it."""
        hist = self.history()
        if len(hist) < 2:
            raise ArtifactError("nothing to roll back to (fewer than two promotions)")
        previous = hist[-2]
        self.set_status(hist[-1], "rolled_back")
        (self.root / "history.json").write_text(json.dumps(hist[:-1]))
        self.promote(previous, redis, reason="rollback")
        return previous
