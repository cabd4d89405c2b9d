"""Small deterministic sale-event generators with known ground truth, for tests and benchmarks.

:func:`synthetic_dataset` draws daily demand per series with a weekly pattern, intermittent
series (mostly zero days), promotions (a few days of lifted demand at a discount), level shifts
(a permanent step from one day on) and anomalies (one huge order on one day), and returns the
events in time order with the truth: what was injected where, and the exact per-series per-day
quantity totals. :func:`bench_events` streams already-serialised wire-format events, fast.

Days count from ``start_ts``: day ``d`` is ``[start_ts + d*86400, start_ts + (d+1)*86400)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from contracts.events import SaleEvent

__all__ = ["SyntheticData", "bench_events", "synthetic_dataset"]

DAY = 86400
DEFAULT_START = 1704067200.0  #: 2024-01-01T00:00Z, a Monday
WEEKLY = np.array([1.0, 0.95, 0.95, 1.05, 1.25, 1.4, 0.55])  # Monday .. Sunday
RETURN_RATE = 0.02  #: share of events that are returns (negative quantity)


@dataclass(frozen=True)
class SyntheticData:
    """Events in time order plus what was injected into them."""

    events: list[SaleEvent]
    series: list[str]
    start_ts: float
    n_days: int
    daily: dict[str, list[int]]  #: series -> total qty of each day (returns subtracted)
    intermittent: list[str]  #: series with mostly zero days
    promotions: list[tuple[str, int, int]]  #: (series, first day, days)
    level_shifts: list[tuple[str, int, float]]  #: (series, day, factor from that day on)
    anomalies: list[tuple[str, int]]  #: (series, day) of one injected huge order

    def day_of(self, ts: float) -> int:
        """The day index of an event time."""
        return int((ts - self.start_ts) // DAY)


def synthetic_dataset(
    n_series: int,
    n_days: int,
    seed: int,
    start_ts: float = DEFAULT_START,
    events_per_day: float = 8.0,
    anomalies: int | None = None,
) -> SyntheticData:
    """Generate ``n_series`` series over ``n_days`` days, deterministic for a ``seed``.

    ``events_per_day`` is the mean number of sale lines per (regular) series per day;
    ``anomalies`` defaults to one per 10 series (at least one), never in the first 7 days.

    >>> data = synthetic_dataset(n_series=5, n_days=28, seed=1)
    >>> sum(data.daily["SKU0000"]) == sum(e.qty for e in data.events if e.series == "SKU0000")
    True
    >>> all(a.ts <= b.ts for a, b in zip(data.events, data.events[1:]))
    True
    >>> len(data.anomalies), data.anomalies == synthetic_dataset(5, 28, seed=1).anomalies
    (1, True)
    """
    if n_series < 1 or n_days < 1 or events_per_day <= 0:
        raise ValueError("n_series, n_days and events_per_day must be positive")
    rng = np.random.default_rng(seed)
    names = [f"SKU{i:04d}" for i in range(n_series)]
    days = np.arange(n_days)
    weekday = (int(start_ts // DAY) + 3 + days) % 7  # 1970-01-01 was a Thursday
    amplitude = rng.uniform(0.3, 1.0, n_series)
    rate = np.outer(amplitude, WEEKLY[weekday] - 1.0) + 1.0
    level = events_per_day * rng.lognormal(0.0, 0.5, n_series)
    intermittent = np.arange(n_series) % 5 == 4  # every fifth series: ~0.3 events a day
    level[intermittent] = 0.3
    rate *= level[:, None]
    price = np.round(rng.uniform(0.5, 20.0, n_series), 2)
    discount = np.ones((n_series, n_days))

    promotions: list[tuple[str, int, int]] = []
    shifts: list[tuple[str, int, float]] = []
    for s in range(n_series):
        if s % 3 == 0 and n_days >= 14:
            first, length = int(rng.integers(7, n_days - 3)), int(rng.integers(1, 4))
            rate[s, first : first + length] *= 4.0
            discount[s, first : first + length] = 0.8
            promotions.append((names[s], first, min(length, n_days - first)))
        if s % 4 == 1 and n_days >= 21:
            day, factor = int(rng.integers(14, n_days)), float(rng.choice([0.5, 2.0]))
            rate[s, day:] *= factor
            shifts.append((names[s], day, factor))

    counts = rng.poisson(rate)  # sale lines per series and day
    sidx = np.repeat(np.repeat(np.arange(n_series), n_days), counts.ravel())
    didx = np.repeat(np.tile(days, n_series), counts.ravel())
    qty = 1 + rng.poisson(1.0, sidx.size)
    qty[rng.random(sidx.size) < RETURN_RATE] *= -1

    n_anom = max(1, n_series // 10) if anomalies is None else anomalies
    picked: list[tuple[str, int]] = []
    if n_anom > 0 and n_days > 7:
        cells = rng.choice(
            n_series * (n_days - 7), size=min(n_anom, n_series * (n_days - 7)), replace=False
        )
        a_s, a_d = cells // (n_days - 7), cells % (n_days - 7) + 7
        a_q = np.maximum(20, 10 * np.ceil(rate[a_s, a_d] * 2)).astype(qty.dtype)
        sidx, didx = np.concatenate([sidx, a_s]), np.concatenate([didx, a_d])
        qty = np.concatenate([qty, a_q])
        picked = sorted((names[s], int(d)) for s, d in zip(a_s, a_d, strict=True))

    ts = start_ts + didx * DAY + rng.integers(0, DAY, sidx.size)
    order = np.lexsort((sidx, ts))
    sidx, didx, ts, qty = sidx[order], didx[order], ts[order], qty[order]
    unit = np.round(price[sidx] * discount[sidx, didx], 2)
    totals = np.zeros((n_series, n_days), dtype=np.int64)
    np.add.at(totals, (sidx, didx), qty)
    events = [
        SaleEvent(names[s], t, q, p, f"syn:{k}")
        for k, (s, t, q, p) in enumerate(
            zip(sidx.tolist(), ts.astype(float).tolist(), qty.tolist(), unit.tolist(), strict=True)
        )
    ]
    return SyntheticData(
        events=events,
        series=names,
        start_ts=float(start_ts),
        n_days=n_days,
        daily={names[s]: totals[s].tolist() for s in range(n_series)},
        intermittent=[names[s] for s in np.flatnonzero(intermittent)],
        promotions=promotions,
        level_shifts=shifts,
        anomalies=picked,
    )


BENCH_COUNTRIES = ("United Kingdom", "Germany", "France", "EIRE", "Netherlands")


def bench_events(n_events: int, n_series: int, seed: int, start_ts: float = DEFAULT_START,
                 seconds_per_event: float = 10.0, chunk: int = 65536) -> Iterator[bytes]:
    """Yield ``n_events`` serialised sale events (wire format, time order), deterministic for
    the same arguments.

    Series popularity follows a power law; event ``k`` happens at ``start_ts + k *
    seconds_per_event`` (a few seconds of work for a million events).

    >>> from contracts.events import SaleEvent
    >>> raw = next(bench_events(1, 10, seed=0))
    >>> import json; SaleEvent(**json.loads(raw)).to_json() == raw
    True
    """
    if n_series < 1 or n_events < 0:
        raise ValueError("n_series must be >= 1 and n_events >= 0")
    if not math.isfinite(start_ts + n_events * seconds_per_event):
        raise ValueError("start_ts + n_events * seconds_per_event must be finite")
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_series + 1) ** 0.8
    weights /= weights.sum()
    names = [f"SKU{i:04d}" for i in rng.permutation(n_series)]
    prices = np.round(rng.uniform(0.5, 20.0, n_series), 2).tolist()
    # each series sells in one country (the aggregates' children), most in the first
    countries = [BENCH_COUNTRIES[c] for c in rng.choice(
        len(BENCH_COUNTRIES), size=n_series, p=[0.6, 0.1, 0.1, 0.1, 0.1])]
    for lo in range(0, n_events, chunk):
        n = min(chunk, n_events - lo)
        sidx = rng.choice(n_series, size=n, p=weights).tolist()
        qty = (1 + rng.poisson(1.5, n)).tolist()
        for k, s, q in zip(range(lo, lo + n), sidx, qty, strict=True):
            ts = float(start_ts + k * seconds_per_event)
            yield (
                f'{{"series":"{names[s]}","ts":{ts!r},"qty":{q},'
                f'"price":{prices[s]!r},"id":"b:{k}","country":"{countries[s]}"}}'
            ).encode()
