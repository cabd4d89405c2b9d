"""The LSTM trainer: closed-bucket history in, a gated, stored, announced model out.

:class:`BucketHistory` rebuilds each series' recent closed buckets from the messages the
workers publish on the buckets topic (``{"buckets": [[series, start, end, qty], ...]}``).
:func:`train_and_gate` trains a candidate on them, scores it and the current model on the same
held-out windows, and applies the evaluation gate (:func:`gate`): promote only when the
candidate beats seasonal naive *and* the current LSTM; otherwise store it as ``rejected`` with
its metrics. The Kafka reading loop is in :mod:`salescast.cli_model` (``salescast trainer``).

>>> gate({"mase": 0.8, "snaive_mase": 1.0}, None)
(True, 'beats seasonal naive (0.800 < 1.000); no current model')
>>> gate({"mase": 0.8, "snaive_mase": 1.0}, {"mase": 0.7})
(False, 'does not beat the current model (0.800 >= 0.700)')
>>> gate({"mase": 1.2, "snaive_mase": 1.0}, None)
(False, 'does not beat seasonal naive (1.200 >= 1.000)')
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.grid import shift, steps
from models.neural.lstm import History, LSTMConfig, evaluate, train
from models.neural.store import ArtifactError, ModelStore

__all__ = ["BucketHistory", "gate", "train_and_gate", "Outcome"]

log = logging.getLogger("salescast.trainer")


class BucketHistory:
    """The last ``keep`` closed buckets of every series, from buckets-topic messages.

    >>> h = BucketHistory(width=10, keep=3)
    >>> h.add_message(b'{"buckets": [["A", 0, 10, 1.0], ["A", 20, 30, 3.0], ["A", 10, 20, 2.0]]}')
    3
    >>> h.histories(min_len=2)["A"].values.tolist()
    [1.0, 2.0, 3.0]
    """

    def __init__(self, width: int = 86400, keep: int = 400) -> None:
        self.width, self.keep = width, keep
        self.series: dict[str, dict[int, float]] = {}
        self.buckets = 0  # buckets added, ever

    def add_message(self, value: bytes | str | None) -> int:
        """Add one message's buckets (bad messages are skipped: the trainer must not die)."""
        try:
            rows = json.loads(value or b"")["buckets"]
        except (ValueError, KeyError, TypeError):
            return 0
        return self.add(rows)

    def add(self, rows: Iterable[Any]) -> int:
        n = 0
        for row in rows:
            try:
                series, start, qty = str(row[0]), int(row[1]), float(row[3])
            except (ValueError, IndexError, TypeError):
                continue
            per = self.series.setdefault(series, {})
            per[start] = qty
            if len(per) > self.keep * 2:  # trim the oldest now and then
                for old in sorted(per)[: len(per) - self.keep]:
                    del per[old]
            n += 1
        self.buckets += n
        return n

    def histories(self, min_len: int) -> dict[str, History]:
        """Consecutive histories (missing buckets are 0) of at least ``min_len`` buckets."""
        out = {}
        for series, per in self.series.items():
            starts = sorted(per)[-self.keep :]
            first, last = starts[0], starts[-1]
            n = steps(first, last, self.width) + 1
            if n < min_len:
                continue
            values = np.zeros(n)
            for s in starts:
                values[steps(first, s, self.width)] = per[s]
            if n > self.keep:
                values, first = values[-self.keep :], shift(last, 1 - self.keep, self.width)
            out[series] = History(first, self.width, values)
        return out


def gate(candidate: Mapping[str, Any], current: Mapping[str, Any] | None) -> tuple[bool, str]:
    """The evaluation gate on the same held-out windows (see the module docstring)."""
    mase, naive = float(candidate["mase"]), float(candidate["snaive_mase"])
    if mase >= naive:
        return False, f"does not beat seasonal naive ({mase:.3f} >= {naive:.3f})"
    cur = None if current is None else float(current["mase"])
    if cur is not None and mase >= cur:
        return False, f"does not beat the current model ({mase:.3f} >= {cur:.3f})"
    tail = ("no current model" if cur is None
            else f"beats the current model ({mase:.3f} < {cur:.3f})")
    return True, f"beats seasonal naive ({mase:.3f} < {naive:.3f}); {tail}"


@dataclass
class Outcome:
    version: str
    promoted: bool
    reason: str
    metrics: dict[str, Any]


def train_and_gate(hist: Mapping[str, History], store: ModelStore, redis: Any | None,
                   cfg: LSTMConfig | None = None, budget_s: float = 120.0,
                   progress: bool = False) -> Outcome:
    """Train a candidate on ``hist``, gate it against the current model, store the outcome."""
    cfg = cfg or LSTMConfig()
    model, report = train(hist, cfg, budget_s=budget_s, progress=progress)
    ev = evaluate(model, hist).to_dict()
    current_metrics = None
    current = store.current()
    if current is not None:
        try:
            current_metrics = evaluate(store.load(current), hist).to_dict()
        except (ArtifactError, ValueError) as exc:
            log.warning("current model %s cannot be scored (%s): gating on naive only",
                        current, exc)
    promoted, reason = gate(ev, current_metrics)
    starts = [h.start for h in hist.values()]
    ends = [h.start + (len(h.values) - 1) * h.width for h in hist.values()]
    metrics = {**ev, "current": current, "current_metrics": current_metrics,
               "train_windows": report.train_windows, "epochs": report.epochs,
               "train_seconds": round(report.seconds, 2), "best_val_loss": report.best_val_loss,
               "stopped": report.stopped, "gate": reason}
    window = {"series": len(hist), "first_bucket": min(starts), "last_bucket": max(ends),
              "bucket_seconds": next(iter(hist.values())).width}  # a worker of another refuses it
    version = store.save(model, metrics, window)
    if promoted:
        store.promote(version, redis, reason=reason)
    else:
        store.set_status(version, "rejected", reason=reason)
    store.prune()
    return Outcome(version, promoted, reason, metrics)
