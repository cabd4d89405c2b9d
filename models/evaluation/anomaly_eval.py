"""Precision and recall of the anomaly alerts, on synthetic series and on real ones with
injected anomalies, and the alert rate on the real data as it is.

Every panel runs through the worker's own stack, as :mod:`stream.processor` does, all series
at once: a :class:`~models.bank.ForecasterBank` row per series, its detector, the alert
lifecycle (:func:`models.anomaly.track`) and one :class:`~models.activity.ActivityMonitor`
over the panel (closure days are imputed and not scored, surge days raise no spikes). A series
starts at its first day (real data: its first sale).

Injections (``kind``, first day, how many days, direction):

* ``spike``: one day of more than twice the series' largest day of the previous 8 weeks
  (``max(y, max56) * U(2, 4) + 10``): more than anything it sold lately, whatever its regime;
* ``drop``: one day of no sales on a *busy* series: it sold on each of the previous four same
  weekdays, at least ``BUSY`` units each (a quiet series selling nothing is not news, and no
  test can tell it from its noise);
* ``level_shift``: demand times 0.3 or 2.5 from that day on, on a series that sold at least
  ``BUSY`` units a day on average over the previous 4 weeks;
* ``stockout``: 7 days of no sales on a busy series (real panels only).

Matching: an alert *opened* on the day of a spike or drop, in the right direction, detects it;
a level shift or stock-out is detected by an alert in its direction opened within
``SHIFT_WINDOW`` days (stock-out: 7) of its start. An alert that detects nothing is a false
alarm, counted under its kind (its last kind: a spike that became a level shift counts as a
level shift). Precision per kind = detections / (detections + false alarms of that kind);
recall = injections detected / injections. Alerts are counted once per id (a continuing
anomaly is one alert, however many buckets it lasts).

>>> r = evaluate_synthetic(n_series=40, n_days=120, seed=3)
>>> set(r.recall) == {"spike", "drop", "level_shift"}, 0.0 <= r.precision <= 1.0
(True, True)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.activity import ActivityMonitor
from models.anomaly import Expected, Finding, track
from models.bank import ForecasterBank
from models.bank_anomaly import KINDS, SEVERITIES, DetectorBank

__all__ = ["Injection", "EvalResult", "Scan", "make_synthetic", "inject_real", "scan_panel",
           "score_alerts", "evaluate_synthetic", "evaluate_real", "alert_rate", "busy_before"]

DAY = 86400
SHIFT_WINDOW = 14
STOCKOUT_DAYS = 7
BUSY = 10.0
WEEKLY = np.array([1.0, 0.95, 0.95, 1.05, 1.25, 1.4, 0.55])
EVAL_KINDS = ("spike", "drop", "level_shift")


@dataclass(frozen=True)
class Injection:
    series: int
    day: int
    kind: str
    up: bool


@dataclass
class EvalResult:
    """Alerts (distinct ids) against injections; see the module docstring."""

    n_series: int
    series_days: int
    alerts: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    false_by_kind: Counter[str] = field(default_factory=Counter)
    groups: int = 0  # shop-wide (group) alerts

    @property
    def true_alerts(self) -> int:
        return self.alerts - sum(self.false_by_kind.values())

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    def precision_of(self, kind: str) -> float:
        hits = self.detected[kind] + (self.detected["stockout"] if kind == "drop" else 0)
        total = hits + self.false_by_kind[kind]
        return hits / total if total else 1.0

    @property
    def recall(self) -> dict[str, float]:
        return {k: self.detected[k] / n if n else 1.0 for k, n in self.injected.items()}

    @property
    def overall_recall(self) -> float:
        total = sum(self.injected.values())
        return sum(self.detected.values()) / total if total else 1.0

    @property
    def per_1000(self) -> float:
        """Alerts per 1,000 series-days."""
        return 1000.0 * self.alerts / self.series_days if self.series_days else 0.0


@dataclass
class Scan:
    """What the stack raised on a panel: every opened alert and every group message."""

    opened: list[dict[str, Any]]  # the "open" message of each alert, with its last kind
    groups: list[dict[str, Any]]
    series_days: int


def make_synthetic(n_series: int, n_days: int, seed: int) -> tuple[np.ndarray, list[Injection]]:
    """Daily Poisson demand with a weekly pattern ``(n_series, n_days)`` and its injections:
    series ``s`` gets a spike, a drop, a level shift or nothing by ``s % 4``; drop series are
    busy (at least ``BUSY`` a day on their quietest weekday)."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(2.3, 0.6, n_series)  # ~10 a day, from ~3 to ~40
    busy = np.arange(n_series) % 4 == 1
    level[busy] = np.maximum(level[busy], BUSY / WEEKLY.min() + rng.exponential(5.0, busy.sum()))
    rate = level[:, None] * WEEKLY[np.arange(n_days) % 7][None, :]
    injections: list[Injection] = []
    spikes: list[tuple[int, int, float]] = []
    for s in range(n_series):
        kind = ("spike", "drop", "level_shift", None)[s % 4]
        if kind is None:
            continue
        day = int(rng.integers(60, n_days - SHIFT_WINDOW))
        up = True
        if kind == "level_shift":
            factor = float(rng.choice([0.3, 2.5]))
            rate[s, day:] *= factor
            up = factor > 1
        elif kind == "spike":
            spikes.append((s, day, float(rng.uniform(3.0, 6.0))))
        else:
            rate[s, day], up = 0.0, False
        injections.append(Injection(s, day, kind, up))
    values = rng.poisson(rate).astype(float)
    for s, day, factor in spikes:
        values[s, day] = np.ceil(values[s, day] * factor + 10)
    return values, injections


def inject_real(series: Sequence[Sequence[float]], seed: int,
                first: int = 120) -> tuple[list[list[float]], list[Injection]]:
    """Real daily series with one injection each (``s % 5``: spike, drop, level shift,
    stock-out, none) on a random day from ``first`` on where the series qualifies (see the
    module docstring); a series where no day qualifies gets none."""
    rng = np.random.default_rng(seed)
    out: list[list[float]] = []
    injections: list[Injection] = []
    for s, ys in enumerate(series):
        y = np.asarray(ys, dtype=np.float64).copy()
        kind = ("spike", "drop", "level_shift", "stockout", None)[s % 5]
        days = [d for d in range(first, len(y) - SHIFT_WINDOW) if _qualifies(y, d, kind)]
        if kind is not None and days:
            d = int(rng.choice(days))
            up = True
            if kind == "spike":
                y[d] = np.ceil(max(y[d], y[d - 56 : d].max()) * rng.uniform(2.0, 4.0) + 10)
            elif kind == "drop":
                y[d], up = 0.0, False
            elif kind == "stockout":
                y[d : d + STOCKOUT_DAYS], up = 0.0, False
            else:
                factor = float(rng.choice([0.3, 2.5]))
                y[d:] = np.round(y[d:] * factor)
                up = factor > 1
            injections.append(Injection(s, d, kind, up))
        out.append(y.tolist())
    return out, injections


def busy_before(y: np.ndarray, d: int, kind: str) -> bool:
    """Whether day ``d`` of ``y`` follows a busy spell: ``BUSY`` or more on each of the four
    same weekdays before (drop, stockout), or a day on average over 28 days (level_shift)."""
    if kind == "level_shift":
        return bool(y[d - 28 : d].mean() >= BUSY)
    weekdays = y[d - 28 : d : 7]
    return bool(len(weekdays) == 4 and weekdays.min() >= BUSY)


def _qualifies(y: np.ndarray, d: int, kind: str | None) -> bool:
    if kind in ("drop", "stockout"):
        return busy_before(y, d, kind) and bool(y[d] > 0)
    return kind == "spike" or (kind == "level_shift" and busy_before(y, d, kind))


def scan_panel(values: Sequence[Sequence[float]], first_days: Sequence[int] | None = None,
               starts: Sequence[int] | None = None, horizon: int = 14,
               detector: DetectorBank | None = None) -> Scan:
    """Run the worker's stack over a panel, day by day (see the module docstring).

    ``values[s]`` starts on day ``starts[s]`` of the panel (default 0) and runs to its end;
    ``first_days[s]``, the epoch day of its first value, dates it for the holiday factor.
    """
    n = len(values)
    starts = [0] * n if starts is None else list(starts)
    n_days = max((st + len(v) for st, v in zip(starts, values, strict=True)), default=0)
    grid = np.full((n, n_days), np.nan)
    for s, (st, v) in enumerate(zip(starts, values, strict=True)):
        grid[s, st : st + len(v)] = v
    bank = ForecasterBank(horizon)
    if detector is not None:  # other detector parameters (tuning)
        bank.detector = detector
    rows = bank.add_rows(n)
    if first_days is not None:
        bank.set_day(rows, list(first_days))
    monitor = ActivityMonitor(width=1, season=7)
    open_: list[dict[str, Any] | None] = [None] * n
    opened: dict[str, dict[str, Any]] = {}
    groups: list[dict[str, Any]] = []
    for t in range(n_days):
        live = np.nonzero(np.isfinite(grid[:, t]))[0]
        y = grid[live, t]
        for _ in range(int((y > 0).sum())):
            monitor.count(t, new_series=True)
        groups.extend(monitor.judge(t + 1))
        verdict = monitor.verdict(t)
        impute = np.full(len(live), verdict == "closure")
        checks = bank.close(rows[live], y, impute=impute)
        for j in np.nonzero(checks.checked)[0]:
            s = int(live[j])
            finding = None
            if checks.kind[j] and not (verdict == "surge" and checks.score[j] > 0):
                finding = Finding(str(KINDS[checks.kind[j]]), SEVERITIES[checks.severity[j]],
                                  float(checks.score[j]))
            if finding is None and open_[s] is None:
                continue
            e = Expected(float(checks.yhat[j]), float(checks.lo[j]), float(checks.hi[j]),
                         float(checks.lo95[j]), float(checks.hi95[j]))
            open_[s], msgs = track(open_[s], str(s), t, t + 1, float(y[j]), e, finding, "eval")
            for m in msgs:
                if m["state"] == "open":
                    opened[m["id"]] = dict(m, series=s)
                elif m["id"] in opened:
                    opened[m["id"]]["kind"] = m["kind"]
    series_days = int(np.isfinite(grid).sum())
    return Scan(list(opened.values()), groups, series_days)


def score_alerts(scan: Scan, injections: Sequence[Injection], n_series: int) -> EvalResult:
    """Match the opened alerts to the injections (module docstring)."""
    by_series = {i.series: i for i in injections}
    r = EvalResult(n_series, scan.series_days, alerts=len(scan.opened),
                   groups=len({g["id"] for g in scan.groups}))
    r.injected.update(i.kind for i in injections)
    hit: set[int] = set()
    for a in scan.opened:
        inj = by_series.get(a["series"])
        day, up = a["since"], a["score"] >= 0
        ok = False
        if inj is not None and up == inj.up:
            if inj.kind in ("spike", "drop"):
                ok = day == inj.day
            else:
                window = STOCKOUT_DAYS if inj.kind == "stockout" else SHIFT_WINDOW
                ok = inj.day <= day < inj.day + window
        if ok and inj is not None:
            if inj.series not in hit:
                hit.add(inj.series)
                r.detected[inj.kind] += 1
            else:
                r.alerts -= 1  # a second alert on a detected injection: neither true nor false
        else:
            r.false_by_kind[a["kind"]] += 1
    return r


def evaluate_synthetic(n_series: int = 400, n_days: int = 180, seed: int = 0) -> EvalResult:
    """The synthetic panel: precision and recall per kind."""
    values, injections = make_synthetic(n_series, n_days, seed)
    return score_alerts(scan_panel(values.tolist()), injections, n_series)


def evaluate_real(series: Mapping[str, Sequence[float]], codes: Sequence[str], last_day: int,
                  seed: int = 0) -> EvalResult:
    """Real series ``codes`` (daily, ending on epoch day ``last_day``) with injections."""
    chosen = [series[c] for c in codes]
    values, injections = inject_real(chosen, seed)
    n_days = max(len(v) for v in chosen)
    starts = [n_days - len(v) for v in chosen]
    firsts = [last_day - len(v) + 1 for v in chosen]
    on_grid = [Injection(i.series, i.day + starts[i.series], i.kind, i.up) for i in injections]
    return score_alerts(scan_panel(values, firsts, starts), on_grid, len(codes))


def alert_rate(series: Mapping[str, Sequence[float]], last_day: int) -> EvalResult:
    """Every real series as it is: the alerts it raises (all false by construction here:
    nothing was injected) per 1,000 series-days, and the group alerts."""
    codes = sorted(series)
    chosen = [series[c] for c in codes]
    n_days = max(len(v) for v in chosen)
    scan = scan_panel(chosen, [last_day - len(v) + 1 for v in chosen],
                      [n_days - len(v) for v in chosen])
    return score_alerts(scan, [], len(codes))
