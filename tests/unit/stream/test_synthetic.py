"""Synthetic generators: deterministic, time-ordered, and their ground truth is exact."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

import pytest

from contracts.events import SaleEvent
from stream.synthetic import DEFAULT_START, bench_events, synthetic_dataset


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(n_series=40, n_days=70, seed=3)


def test_deterministic_per_seed() -> None:
    a, b = synthetic_dataset(6, 21, seed=5).events, synthetic_dataset(6, 21, seed=5).events
    assert a == b and a != synthetic_dataset(6, 21, seed=6).events


def test_time_order_and_range(data) -> None:
    ts = [e.ts for e in data.events]
    assert ts == sorted(ts)
    assert ts[0] >= DEFAULT_START and ts[-1] < DEFAULT_START + 70 * 86400
    assert len({e.id for e in data.events}) == len(data.events)
    assert {e.series for e in data.events} <= set(data.series)


def test_daily_totals_are_exact(data) -> None:
    got: dict[str, list[float]] = defaultdict(lambda: [0] * data.n_days)
    for e in data.events:
        got[e.series][data.day_of(e.ts)] += e.qty
    for s in data.series:
        assert got[s] == data.daily[s]


def test_anomalies_stand_out(data) -> None:
    assert len(data.anomalies) == 4 and all(d >= 7 for _, d in data.anomalies)
    for series, day in data.anomalies:
        biggest = max(e.qty for e in data.events if e.series == series and data.day_of(e.ts) == day)
        typical = statistics.median(abs(v) for v in data.daily[series])
        assert biggest >= max(20, 5 * typical)
    assert synthetic_dataset(5, 30, seed=1, anomalies=0).anomalies == []


def test_intermittent_series_are_mostly_zero(data) -> None:
    assert data.intermittent
    for s in data.intermittent:
        assert sum(v == 0 for v in data.daily[s]) / data.n_days > 0.5
    regular = [s for s in data.series if s not in data.intermittent]
    assert all(sum(v == 0 for v in data.daily[s]) / data.n_days < 0.2 for s in regular)


def test_weekly_pattern(data) -> None:
    by_weekday = [0.0] * 7  # DEFAULT_START is a Monday
    for s in data.series:
        for d, v in enumerate(data.daily[s]):
            by_weekday[d % 7] += v
    assert by_weekday[5] > 1.5 * by_weekday[6]  # Saturday vs Sunday


def test_promotions_and_level_shifts(data) -> None:
    assert data.promotions and data.level_shifts
    for series, first, days in data.promotions:
        prices = {
            e.price
            for e in data.events
            if e.series == series and first <= data.day_of(e.ts) < first + days
        }
        normal = {e.price for e in data.events if e.series == series and data.day_of(e.ts) < 7}
        if prices and normal:
            assert max(prices) < min(normal)
    assert all(f in (0.5, 2.0) for _, _, f in data.level_shifts)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synthetic_dataset(0, 10, seed=1)
    with pytest.raises(ValueError):
        list(bench_events(10, 0, seed=1))


def test_bench_events_are_wire_format() -> None:
    raw = list(bench_events(5000, 50, seed=2, chunk=777))
    assert raw == list(bench_events(5000, 50, seed=2, chunk=777))
    assert raw != list(bench_events(5000, 50, seed=3, chunk=777))
    events = [SaleEvent(**json.loads(r)) for r in raw]
    assert [e.to_json() for e in events] == raw
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert len({e.series for e in events}) > 25 and all(e.qty >= 1 for e in events)
