"""Tests of stream.bucketing: known sums, zero filling, lateness, watermark rules, pickling."""

from __future__ import annotations

import pickle
import random

import pytest

import stream.bucketing as bucketing
from stream.bucketing import (
    Accepted,
    ClosedBucket,
    PartitionClock,
    SeriesBuckets,
    TooFarAhead,
    TooLate,
    bucket_start,
)
from stream.records import SaleEvent

DAY = 86_400
T0 = 14_610 * DAY  # 2010-01-01T00:00:00Z


def ev(ts: float, qty: float = 1.0, price: float = 1.0, series: str = "A") -> SaleEvent:
    return SaleEvent(series, float(ts), float(qty), float(price))


def summary(buckets: list[ClosedBucket]) -> list[tuple[int, float, float, int, float]]:
    """(day offset from T0, qty, revenue, n_events, returns) per closed bucket."""
    return [((b.start - T0) // DAY, b.qty, b.revenue, b.n_events, b.returns) for b in buckets]


@pytest.fixture
def clock() -> PartitionClock:
    return PartitionClock()


@pytest.fixture
def shop() -> SeriesBuckets:
    return SeriesBuckets(width=DAY, lateness=3600, history=10)


def test_exports() -> None:
    for name in bucketing.__all__:
        assert hasattr(bucketing, name)


def test_bucket_start() -> None:
    assert bucket_start(T0, DAY) == T0
    assert bucket_start(T0 + DAY - 0.001, DAY) == T0
    assert bucket_start(T0 + DAY, DAY) == T0 + DAY
    assert bucket_start(125.5, 60) == 120
    assert bucket_start(-0.5, 60) == -60


def test_sums_per_bucket(shop: SeriesBuckets, clock: PartitionClock) -> None:
    for ts, qty, price in [(60, 2, 1.5), (120, 3, 2.0), (DAY - 1, -1, 2.0), (DAY + 5, 4, 0.5)]:
        assert isinstance(shop.add(ev(T0 + ts, qty, price), clock), Accepted)
    assert shop.close_due(T0 + 2 * DAY + 3600) == [
        ClosedBucket(T0, T0 + DAY, 4.0, 7.0, 3, 1.0),
        ClosedBucket(T0 + DAY, T0 + 2 * DAY, 4.0, 2.0, 1, 0.0),
    ]


def test_accepted_carries_running_totals(shop: SeriesBuckets, clock: PartitionClock) -> None:
    assert shop.add(ev(T0 + 10, 2, 3.0), clock) == Accepted(T0, 2.0, 6.0, 1)
    assert shop.add(ev(T0 + 20, -1, 3.0), clock) == Accepted(T0, 1.0, 3.0, 2)


def test_gaps_are_filled_with_zeros(shop: SeriesBuckets, clock: PartitionClock) -> None:
    shop.add(ev(T0 + 100, 5), clock)
    shop.add(ev(T0 + 4 * DAY + 100, 7), clock)
    assert summary(shop.close_due(clock.watermark)) == [  # day 3 is due at 4 d + 1 h
        (0, 5.0, 5.0, 1, 0.0),
        (1, 0.0, 0.0, 0, 0.0),
        (2, 0.0, 0.0, 0, 0.0),
    ]
    # The series goes silent; the partition moves on: zeros up to the watermark, then nothing.
    assert summary(shop.close_due(T0 + 7 * DAY + 3600)) == [
        (3, 0.0, 0.0, 0, 0.0),
        (4, 7.0, 7.0, 1, 0.0),
        (5, 0.0, 0.0, 0, 0.0),
        (6, 0.0, 0.0, 0, 0.0),
    ]
    assert shop.close_due(T0 + 7 * DAY + 3600) == []
    assert shop.closed_until == T0 + 7 * DAY and shop.open == {}


def test_long_gaps_keep_only_max_fill_zeros(shop: SeriesBuckets) -> None:
    clock = PartitionClock(max_future_seconds=100 * DAY)
    shop.add(ev(T0), clock)
    shop.add(ev(T0 + 50 * DAY), clock)
    closed = summary(shop.close_due(T0 + 51 * DAY + 3600, max_fill=3))
    assert closed == [
        (0, 1.0, 1.0, 1, 0.0),
        (47, 0, 0, 0, 0),
        (48, 0, 0, 0, 0),
        (49, 0, 0, 0, 0),
    ] + [(50, 1.0, 1.0, 1, 0.0)]


def test_lateness(shop: SeriesBuckets, clock: PartitionClock) -> None:
    shop.add(ev(T0 + 100, 1), clock)
    shop.add(ev(T0 + DAY + 1800, 2), clock)  # day 1, 00:30: day 0 is not due until 01:00
    assert shop.close_due(clock.watermark) == []
    assert shop.add(ev(T0 + DAY - 1, 3), clock) == Accepted(T0, 4.0, 4.0, 2)  # late, in time
    shop.add(ev(T0 + DAY + 3600, 1), clock)  # the watermark reaches 01:00 on day 1
    assert summary(shop.close_due(clock.watermark)) == [(0, 4.0, 4.0, 2, 0.0)]
    late = shop.add(ev(T0 + DAY - 1, 3), clock)
    assert late == TooLate(T0 + DAY - 1, T0, T0 + DAY + 3600)
    assert (
        late.reason
        == f"event time {T0 + DAY - 1} is in closed bucket {T0} (watermark {T0 + DAY + 3600})"
    )


def test_too_late_even_before_close_due(clock: PartitionClock) -> None:
    # The bucket is due by the watermark (another series moved it): too late for every series.
    a, b = SeriesBuckets(DAY, 3600), SeriesBuckets(DAY, 3600)
    a.add(ev(T0 + 3 * DAY, series="A"), clock)
    assert isinstance(b.add(ev(T0 + DAY, series="B"), clock), TooLate)
    assert isinstance(b.add(ev(T0 + 2 * DAY + 5, series="B"), clock), Accepted)


def test_too_late_after_a_larger_external_watermark(
    shop: SeriesBuckets, clock: PartitionClock
) -> None:
    shop.add(ev(T0), clock)
    shop.close_due(T0 + 5 * DAY)  # e.g. a sweep with another partition's watermark
    assert isinstance(shop.add(ev(T0 + 3 * DAY), clock), TooLate)
    assert shop.closed_until == T0 + 4 * DAY


def test_out_of_order_within_open_buckets(clock: PartitionClock) -> None:
    s = SeriesBuckets(width=3600, lateness=7200)
    for minutes in [130, 10, 70, 20, 125]:
        assert isinstance(s.add(ev(T0 + minutes * 60), clock), Accepted)
    assert [(b.start - T0, b.n_events) for b in s.close_due(T0 + 5 * 3600)] == [
        (0, 2),
        (3600, 1),
        (7200, 2),
    ]


def test_first_event_defines_watermark_and_too_far_ahead(shop: SeriesBuckets) -> None:
    clock = PartitionClock(max_future_seconds=7 * DAY)
    assert clock.watermark is None
    shop.add(ev(T0 + 50), clock)
    assert clock.watermark == T0 + 50
    far = shop.add(ev(T0 + 50 + 7 * DAY + 1), clock)
    assert far == TooFarAhead(T0 + 50 + 7 * DAY + 1, T0 + 50, 7 * DAY)
    assert far.reason.startswith("event time") and "604800 s ahead" in far.reason
    assert clock.watermark == T0 + 50  # a rejected event does not move it
    assert isinstance(shop.add(ev(T0 + 50 + 7 * DAY), clock), Accepted)  # exactly at the limit
    assert clock.watermark == T0 + 50 + 7 * DAY
    shop.add(ev(T0 + 7 * DAY), clock)  # an older event never moves it back
    assert clock.watermark == T0 + 50 + 7 * DAY


def test_series_starts_at_its_first_bucket(shop: SeriesBuckets, clock: PartitionClock) -> None:
    clock.watermark = T0 + 10 * DAY
    shop.add(ev(T0 + 10 * DAY + 5), clock)
    assert shop.close_due(T0 + 10 * DAY + 5) == []
    assert summary(shop.close_due(T0 + 12 * DAY + 3600)) == [(10, 1, 1, 1, 0), (11, 0, 0, 0, 0)]


def test_due_at_and_noop_close(shop: SeriesBuckets, clock: PartitionClock) -> None:
    assert shop.due_at == float("inf") and shop.close_due(T0) == [] and shop.close_due(None) == []
    shop.add(ev(T0 + 5 * DAY + 7), clock)
    assert shop.due_at == T0 + 6 * DAY + 3600
    assert shop.close_due(shop.due_at - 1) == []
    assert len(shop.close_due(shop.due_at)) == 1
    assert shop.due_at == T0 + 7 * DAY + 3600


def test_history_is_bounded(clock: PartitionClock) -> None:
    s = SeriesBuckets(width=DAY, lateness=0, history=3)
    for d in range(6):
        s.add(ev(T0 + d * DAY, qty=d), clock)
    s.close_due(clock.watermark)
    assert [b.qty for b in s.recent()] == [2.0, 3.0, 4.0]
    assert [b.qty for b in s.recent(2)] == [3.0, 4.0]
    assert SeriesBuckets(history=0).recent() == []


def test_each_bucket_closes_exactly_once_randomised() -> None:
    rng = random.Random(3)
    clock, s = PartitionClock(), SeriesBuckets(width=3600, lateness=1800)
    closed: list[ClosedBucket] = []
    t = float(T0)
    for _ in range(3000):
        t += rng.expovariate(1 / 200)
        s.add(ev(t - rng.uniform(0, 5000), qty=rng.randint(-1, 5)), clock)
        closed += s.close_due(clock.watermark)
    assert clock.watermark is not None
    closed += s.close_due(clock.watermark + 10 * 3600)
    starts = [b.start for b in closed]
    assert starts == list(range(starts[0], starts[-1] + 3600, 3600))  # contiguous, no repeats
    assert s.open == {}


def test_qty_conservation_randomised() -> None:
    rng = random.Random(4)
    clock, s = PartitionClock(), SeriesBuckets(width=600, lateness=300)
    accepted = 0.0
    closed: list[ClosedBucket] = []
    for i in range(2000):
        qty = float(rng.randint(-2, 9))
        if isinstance(s.add(ev(T0 + i * 7 - rng.uniform(0, 900), qty), clock), Accepted):
            accepted += qty
        closed += s.close_due(clock.watermark)
    assert clock.watermark is not None
    closed += s.close_due(clock.watermark + 10_000)
    assert sum(b.qty for b in closed) == pytest.approx(accepted)


def test_pickle_round_trip(shop: SeriesBuckets, clock: PartitionClock) -> None:
    shop.add(ev(T0 + 10, 2, 3.0), clock)
    shop.add(ev(T0 + 2 * DAY + 3700, 1), clock)
    shop.close_due(clock.watermark)
    shop.add(ev(T0 + 2 * DAY + 4000, 5), clock)
    shop2, clock2 = pickle.loads(pickle.dumps(shop)), pickle.loads(pickle.dumps(clock))
    assert repr(shop2) == repr(shop) and clock2.watermark == clock.watermark
    assert shop2.due_at == shop.due_at and list(shop2.history) == list(shop.history)
    for s, c in [(shop, clock), (shop2, clock2)]:
        assert s.add(ev(T0 + 3 * DAY, 4), c) == Accepted(T0 + 3 * DAY, 4.0, 4.0, 1)
    assert shop.close_due(T0 + 9 * DAY) == shop2.close_due(T0 + 9 * DAY)
    assert len(pickle.dumps(SeriesBuckets())) < 150


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0}, "width must be a positive integer of seconds, got 0"),
        ({"width": 1.5}, "width must be a positive integer of seconds, got 1.5"),
        ({"lateness": -1}, "lateness must be an integer >= 0, got -1"),
        ({"history": -1}, "history must be an integer >= 0, got -1"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeriesBuckets(**kwargs)  # type: ignore[arg-type]


def test_bad_clock() -> None:
    with pytest.raises(ValueError, match="max_future_seconds must be > 0, got 0"):
        PartitionClock(max_future_seconds=0)


def test_a_stream_that_moved_on_makes_the_watermark_jump() -> None:
    from stream.bucketing import JUMP_AFTER

    clock, s = PartitionClock(max_future_seconds=7 * DAY), SeriesBuckets(width=DAY, lateness=0)
    s.add(ev(T0), clock)
    later = [s.add(ev(T0 + 20 * DAY + i), clock) for i in range(JUMP_AFTER)]
    assert all(isinstance(r, TooFarAhead) for r in later[:-1])
    assert isinstance(later[-1], Accepted)  # the 100th in a row is believed
    assert clock.watermark == T0 + 20 * DAY + JUMP_AFTER - 1
    assert pickle.loads(pickle.dumps(clock)).ahead_streak == 0
