"""The worker's side of the LSTM: hot-swapped weights and batched inference.

:class:`LstmRunner` holds the current model version (none until the trainer promotes one).
:meth:`LstmRunner.provide` is the processor's ``path_provider``: once per batch, for every
series whose buckets closed, it builds the recent history from the series' state, runs one
batched forward pass and returns each series' median path; the processor hands them to its
bank (``ForecasterBank.set_lstm_paths``, the LSTM blend), which blends them with the online
ensemble (weights earned online). :meth:`LstmRunner.swap` loads a newly announced version
through the model store, which verifies it; a corrupt or incompatible artifact is refused
with a log line and the previous version stays in use. Inference errors are logged and
skipped: the LSTM can never stop the stream.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.grid import shift

if TYPE_CHECKING:
    from config import Settings
    from models.neural.lstm import GlobalLSTM
    from stream.processor import SeriesState

__all__ = ["LstmRunner", "runner_for"]

log = logging.getLogger("salescast.lstm")


class LstmRunner:
    """Current LSTM weights plus batched inference for the processor."""

    def __init__(self, width: int, utc_offset: int = 0) -> None:
        self.width, self.utc_offset = width, utc_offset
        self.model: GlobalLSTM | None = None
        self.version: str | None = None
        # (version, announced at) refused: a version announced again (`model promote`) is
        # tried again, once its files may have been mended
        self.refused: set[tuple[str, str]] = set()
        self.batches = 0
        self.series = 0
        self.seconds = 0.0

    def swap(self, info: dict[str, str]) -> bool:
        """Load the announced version (``path``, ``version``); ``True`` if now in use."""
        from models.neural.store import ArtifactError, ModelStore

        version, path = info.get("version"), info.get("path")
        announced = (str(version), str(info.get("promoted_at", "")))
        if not version or not path or version == self.version or announced in self.refused:
            return False
        try:
            store = ModelStore(Path(path).parent)
            self._check(store.meta(version))
            model = store.load(version)  # (verified: checksum, format, name) once it suits
        except ArtifactError as exc:
            self.refused.add(announced)
            log.error("refusing LSTM model %s, keeping %s: %s", version, self.version, exc)
            return False
        self.model, self.version = model, version
        log.warning("LSTM model %s loaded (hot swap)", version)
        return True

    def _check(self, meta: dict[str, Any]) -> None:
        """An :class:`ArtifactError` unless the model was trained on this worker's buckets:
        the same width, on the same clock (models of before 2026-12-07 do not say theirs)."""
        from models.neural.store import ArtifactError

        window = meta.get("window", {})
        width = window.get("bucket_seconds", self.width)
        if width != self.width:  # trained on another width's buckets (services kept up)
            raise ArtifactError(f"trained on buckets of {width} s, not {self.width} s")
        offset = window.get("utc_offset", self.utc_offset)
        if offset != self.utc_offset:  # its weekdays would be another clock's
            raise ArtifactError(f"trained on the clock of UTC offset {offset!r} s, not "
                                f"{self.utc_offset} s")

    def provide(self, states: list[SeriesState]) -> tuple[list[int], np.ndarray, str] | None:
        """The LSTM paths of the given series (one batched forward pass): which of them (those
        with at least 14 closed buckets), their median paths ``(n, L)`` and the version."""
        if self.model is None or self.version is None:
            return None
        from models.neural.lstm import History, predict

        todo = [i for i, st in enumerate(states)
                if st.origin is not None and len(st.history) >= 14]
        if not todo:
            return None
        started = time.perf_counter()
        try:
            hists = [History(shift(int(st.origin or 0), -len(st.history), self.width), self.width,
                             np.frombuffer(st.history, dtype=np.float64))
                     for st in (states[i] for i in todo)]
            q = predict(self.model, hists)
        except Exception as exc:  # never stop the stream for the LSTM
            log.error("LSTM inference failed for %d series: %s", len(todo), exc)
            return None
        paths = np.ascontiguousarray(q[:, :, q.shape[2] // 2], dtype=np.float64)
        self.batches += 1
        self.series += len(todo)
        self.seconds += time.perf_counter() - started
        return todo, paths, self.version


def runner_for(settings: Settings) -> LstmRunner | None:
    """The LSTM runner, unless disabled (SALESCAST_LSTM=0) or torch is not installed."""
    if not settings.lstm:
        return None
    try:
        import torch
    except ImportError:
        log.warning("torch is not installed: the worker runs without the LSTM")
        return None
    # one thread: the forward passes run on the event loop, beside the broker, Redis and a
    # trainer; with torch's default (a thread a core) a probe measured 779 ms for one
    # series' pass on a busy 2-core machine, 18 ms with one thread
    torch.set_num_threads(1)
    return LstmRunner(settings.bucket_seconds, settings.utc_offset)
