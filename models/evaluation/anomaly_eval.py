"""Precision and recall of the anomaly alerts on synthetic series with known injections.

Each series is daily Poisson demand with a weekly pattern; a fixed-seed share of them gets one
injected ``spike`` (a day of several times the usual demand), ``drop`` (a day of no sales on a
busy series) or ``level_shift`` (demand times 0.3 or 2.5 from one day on). Every series runs
through the worker's own model (:func:`models.factory.default_model`) and
:class:`~models.anomaly.AnomalyDetector`, exactly as :mod:`stream.processor` does: score the
day against the forecast made the day before, then learn it.

Matching: an alert on the day of a spike or drop detects it if it has the same kind; a level
shift is detected by any alert within ``SHIFT_WINDOW`` days from its start. An alert that
detects nothing is a false alarm. Precision = alerts that detect something / all alerts;
recall = injections detected / injections.

>>> r = evaluate(n_series=40, n_days=120, seed=3)
>>> 0.0 <= r.precision <= 1.0 and set(r.recall) == {"spike", "drop", "level_shift"}
True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from models.anomaly import AnomalyDetector, Expected
from models.factory import default_model

__all__ = ["Injection", "EvalResult", "make_series", "scan", "evaluate"]

SHIFT_WINDOW = 14
WEEKLY = np.array([1.0, 0.95, 0.95, 1.05, 1.25, 1.4, 0.55])


@dataclass(frozen=True)
class Injection:
    series: int
    day: int
    kind: str


@dataclass
class EvalResult:
    n_series: int
    n_days: int
    alerts: int
    true_alerts: int
    injected: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    false_by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> dict[str, float]:
        return {k: self.detected[k] / n if n else 1.0 for k, n in self.injected.items()}

    @property
    def overall_recall(self) -> float:
        total = sum(self.injected.values())
        return sum(self.detected.values()) / total if total else 1.0


def make_series(n_series: int, n_days: int, seed: int) -> tuple[np.ndarray, list[Injection]]:
    """Daily values ``(n_series, n_days)`` and the injections; every third series is clean."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(2.3, 0.6, n_series)  # ~10 a day, from ~3 to ~40
    rate = level[:, None] * WEEKLY[np.arange(n_days) % 7][None, :]
    injections: list[Injection] = []
    spikes: list[tuple[int, int, float]] = []
    for s in range(n_series):
        kind = ("spike", "drop", "level_shift", None)[s % 4]
        if kind is None:
            continue
        day = int(rng.integers(60, n_days - SHIFT_WINDOW))
        if kind == "level_shift":
            rate[s, day:] *= float(rng.choice([0.3, 2.5]))
        elif kind == "spike":
            spikes.append((s, day, float(rng.uniform(3.0, 6.0))))
        else:
            rate[s, day] = 0.0
        injections.append(Injection(s, day, kind))
    values = rng.poisson(rate).astype(float)
    for s, day, factor in spikes:
        values[s, day] = np.ceil(values[s, day] * factor + 10)
    return values, injections


def scan(values: list[float], horizon: int = 14) -> list[tuple[int, str]]:
    """The (day, kind) alerts the worker would raise on one series of daily values."""
    model, det = default_model(horizon), AnomalyDetector()
    alerts: list[tuple[int, str]] = []
    for day, y in enumerate(values):
        if model.n_seen:
            f = model.forecast()
            e = Expected(f.yhat[0], f.lo[0], f.hi[0], f.lo95[0], f.hi95[0])
            s = det.observe(y, e, model.n_seen)
            if s is not None:
                alerts.append((day, s.kind))
        model.learn_one(y)
    return alerts


def evaluate(n_series: int = 400, n_days: int = 180, seed: int = 0) -> EvalResult:
    """Run every series through the model and detector and match alerts to injections."""
    values, injections = make_series(n_series, n_days, seed)
    by_series: dict[int, Injection] = {i.series: i for i in injections}
    result = EvalResult(n_series, n_days, 0, 0)
    result.injected.update(i.kind for i in injections)
    for s in range(n_series):
        inj = by_series.get(s)
        hit = False
        for day, kind in scan(values[s].tolist()):
            result.alerts += 1
            if inj is None:
                result.false_by_kind[kind] += 1
                continue
            if inj.kind == "level_shift":
                ok = inj.day <= day < inj.day + SHIFT_WINDOW
            else:
                ok = day == inj.day and kind == inj.kind
            if ok:
                result.true_alerts += 1
                hit = True
            else:
                result.false_by_kind[kind] += 1
        if inj is not None and hit:
            result.detected[inj.kind] += 1
    return result
