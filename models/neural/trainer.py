"""The LSTM trainer: closed-bucket history in, a gated, stored, announced model out.

:class:`BucketHistory` rebuilds each series' recent closed buckets from the messages the
workers publish on the buckets topic (``{"buckets": [[series, start, end, qty], ...]}``).
:func:`train_and_gate` trains a candidate on them, scores it and the current model on the same
held-out windows, and applies the evaluation gate (:func:`gate`): promote only when the
candidate beats seasonal naive, a forecast of 0 *and* the current LSTM; otherwise store it as
``rejected`` with its metrics. The Kafka reading loop is in :mod:`salescast.cli_model`
(``salescast trainer``).

>>> gate({"mase": 0.8, "snaive_mase": 1.0}, None)
(True, 'beats seasonal naive (0.800 < 1.000); no current model')
>>> gate({"mase": 0.8, "snaive_mase": 1.0}, {"mase": 0.7})
(False, 'does not beat the current model (0.800 >= 0.700)')
>>> gate({"mase": 1.2, "snaive_mase": 1.0}, None)
(False, 'does not beat seasonal naive (1.200 >= 1.000)')
>>> gate({"mase": float("nan"), "snaive_mase": float("nan")}, None)
(False, 'its scores are not numbers (MASE nan, naive nan)')
>>> gate({"mase": 0.76, "snaive_mase": 0.97, "zero_mase": 0.75}, None)
(False, 'does not beat a forecast of 0 (0.760 >= 0.750)')

A forecast of 0 is the second baseline: on thousands of intermittent SKUs it beats seasonal
naive, and a probe's trainer promoted, as "beating seasonal naive", models whose median paths
were 0.4-3.6% of their busy series' level (the blend then halved every forecast).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from contracts.events import MAX_TS
from contracts.wire import MODEL_CURRENT
from models.grid import shift, steps, utc_offset
from models.neural.lstm import History, LSTMConfig, evaluate, train
from models.neural.store import ArtifactError, ModelStore, PinnedError
from models.seasons import season_for

__all__ = ["BucketHistory", "gate", "min_history", "train_and_gate", "reannounce", "Outcome"]

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
            except (ValueError, IndexError, TypeError, OverflowError):
                continue
            if not (math.isfinite(qty) and abs(start) < MAX_TS):
                continue  # a NaN made every score NaN, and a gate of NaN promoted anything
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
            last = starts[-1]
            # the last ``keep`` buckets at most (one stray start years ahead made an array of
            # gigabytes, and the trainer died at every start)
            first = max(starts[0], shift(last, 1 - self.keep, self.width))
            n = steps(first, last, self.width) + 1
            if n < min_len:
                continue
            values = np.zeros(n)
            for s in starts:
                if s >= first:
                    values[steps(first, s, self.width)] = per[s]
            out[series] = History(first, self.width, values)
        return out


def gate(candidate: Mapping[str, Any], current: Mapping[str, Any] | None) -> tuple[bool, str]:
    """The evaluation gate on the same held-out windows (see the module docstring)."""
    mase, naive = float(candidate["mase"]), float(candidate["snaive_mase"])
    if not (math.isfinite(mase) and math.isfinite(naive)):
        return False, f"its scores are not numbers (MASE {mase}, naive {naive})"
    if mase >= naive:
        return False, f"does not beat seasonal naive ({mase:.3f} >= {naive:.3f})"
    zero = float(candidate.get("zero_mase", math.nan))  # (nan: scored before it was kept)
    if math.isfinite(zero) and mase >= zero:
        return False, f"does not beat a forecast of 0 ({mase:.3f} >= {zero:.3f})"
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


def min_history(cfg: LSTMConfig, width: int) -> int:
    """The buckets a series needs to be trained on (a window and two horizons) and scored
    against seasonal naive (:func:`~models.neural.lstm.evaluate`: two seasons of buckets
    ``width`` seconds wide, and a horizon): what the trainer waits for.

    >>> min_history(LSTMConfig(window=56, horizon=14), 86400), min_history(
    ...     LSTMConfig(window=56, horizon=13), 7 * 86400)
    (84, 117)
    """
    return max(cfg.window + 2 * cfg.horizon, cfg.horizon + 2 * season_for(width))


def train_and_gate(hist: Mapping[str, History], store: ModelStore, redis: Any | None,
                   cfg: LSTMConfig | None = None, budget_s: float = 120.0,
                   progress: bool = False) -> Outcome:
    """Train a candidate on ``hist``, gate it against the current model, store the outcome.
    Seasonal naive is the buckets' own (7 days, 24 hours, 12 months...); the current model is
    scored on the same windows when it was trained on the same buckets and clock for as many
    steps ahead, else the gate goes by seasonal naive alone. A store pinned by a rollback
    gets no promotion. A Redis that does not answer when a version is promoted is a warning:
    the trainer announces the store's current version again at its next cycle
    (:func:`reannounce`)."""
    cfg = cfg or LSTMConfig()
    width = next(iter(hist.values())).width
    season = season_for(width)
    model, report = train(hist, cfg, budget_s=budget_s, progress=progress)
    window = {"series": len(hist), "first_bucket": min(h.start for h in hist.values()),
              "last_bucket": max(h.start + (len(h.values) - 1) * h.width for h in hist.values()),
              "bucket_seconds": width, "utc_offset": utc_offset()}  # a worker of another refuses it
    ev: dict[str, Any]
    try:
        ev = evaluate(model, hist, season).to_dict()
    except ValueError as exc:  # no series holds two seasons and a horizon
        ev = {"mase": math.nan, "snaive_mase": math.nan, "coverage": math.nan,
              "error": f"{exc} (two seasons of {season} and {cfg.horizon} buckets)"}
    current_metrics, current = None, store.current()
    if current is not None:
        try:
            if (unlike := _unlike(store.meta(current), window, cfg.horizon)) is not None:
                log.warning("current model %s was trained %s: gating on naive only", current,
                            unlike)
            else:
                current_metrics = evaluate(store.load(current), hist, season).to_dict()
        except (ArtifactError, ValueError) as exc:
            log.warning("current model %s cannot be scored (%s): gating on naive only",
                        current, exc)
    promoted, reason = (False, str(ev["error"])) if "error" in ev else gate(ev, current_metrics)
    if promoted and (pin := store.pinned()) is not None:
        promoted, reason = False, _pinned(reason, pin)
    metrics = {**ev, "current": current, "current_metrics": current_metrics,
               "train_windows": report.train_windows, "epochs": report.epochs,
               "train_seconds": round(report.seconds, 2), "best_val_loss": report.best_val_loss,
               "stopped": report.stopped, "gate": reason, "season": season}
    version = store.save(model, metrics, window)
    if promoted:
        try:
            store.promote(version, None, reason=reason, unpin=False)
        except PinnedError as exc:  # a rollback by hand since the check above
            promoted, reason = False, _pinned(reason, exc.version)
    if promoted:
        reannounce(store, redis)
    else:
        store.set_status(version, "rejected", reason=reason)
    store.prune()
    return Outcome(version, promoted, reason, metrics)


def _pinned(reason: str, version: str) -> str:
    return (f"{reason}, but a rollback pinned {version} (`salescast model promote` a version "
            "to unpin)")


def _unlike(meta: Mapping[str, Any], window: Mapping[str, Any], horizon: int) -> str | None:
    """How the model of ``meta`` was trained unlike a candidate of ``window`` and ``horizon``
    (its scores are then of other windows: not comparable); None: alike."""
    was, config = meta.get("window", {}), meta.get("config", {})
    if was.get("bucket_seconds") != window["bucket_seconds"]:
        return f"on buckets of {was.get('bucket_seconds')} s"
    if was.get("utc_offset", window["utc_offset"]) != window["utc_offset"]:
        return f"on the clock UTC{was.get('utc_offset'):+d} s"
    if isinstance(config, dict) and config.get("horizon") != horizon:
        return f"for {config.get('horizon')} buckets ahead, not {horizon}"
    return None


_UNLIKE_SAID: set[str] = set()  # versions whose buckets differ, said once


def reannounce(store: ModelStore, redis: Any | None, width: int | None = None) -> str | None:
    """Announce the store's current version on Redis when Redis names another or none (a
    promotion Redis missed, a Redis restarted empty); the version announced, else None. A
    Redis that does not answer is a warning: the next call tries again. A version trained on
    buckets other than ``width`` seconds is not announced (its workers would refuse it: a
    probe's hourly trainer announced the daily model of a store both shared), with a warning."""
    from redis.exceptions import RedisError

    if redis is None or store.current() is None:
        return None
    try:
        said = redis.hget(MODEL_CURRENT, "version")
        said = said.decode() if isinstance(said, bytes) else said
        current = store.current()  # (after Redis was read: a promotion by hand meanwhile)
        if current is None or said == current:
            return None
        was = store.meta(current).get("window", {}).get("bucket_seconds")
        if width is not None and was is not None and was != width:
            if current not in _UNLIKE_SAID:
                _UNLIKE_SAID.add(current)
                log.warning("the store's current model %s was trained on buckets of %s s, not "
                            "%d s: not announced (give each bucket width its own "
                            "SALESCAST_MODELS_DIR)", current, was, width)
            return None
        store.announce(redis, current, store.meta(current).get("promoted_at"))
    except (RedisError, OSError) as exc:
        log.warning("Redis does not answer (%s): the workers are not told of the current "
                    "model yet", exc)
        return None
    except ArtifactError as exc:  # its directory deleted by hand: `model list` says so
        log.warning("the current model cannot be announced: %s", exc)
        return None
    log.warning("announced model %s to the workers (Redis named %s)", current, said or "none")
    return current
