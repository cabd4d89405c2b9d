"""Tests of stream.bucketing: known sums, zero filling, lateness, watermark rules, pickling."""

from __future__ import annotations

import calendar
import pickle
import random

import pytest

import stream.bucketing as bucketing
from contracts.events import SaleEvent
from models.grid import MONTH, QUARTER
from stream.bucketing import (
    Accepted,
    ClosedBucket,
    DuplicateId,
    PartitionClock,
    SeriesBuckets,
    TooFarAhead,
    TooLate,
    bucket_start,
)

DAY = 86_400
T0 = 14_610 * DAY  # 2010-01-01T00:00:00Z


def ev(ts: float, qty: float = 1.0, price: float = 1.0, series: str = "A") -> SaleEvent:
    return SaleEvent(series, float(ts), float(qty), float(price))


def summary(buckets: list[ClosedBucket]) -> list[tuple[int, float, float, int, float]]:
    """(day offset from T0, qty, revenue, n_events, returns) per closed bucket."""
    return [((b.start - T0) // DAY, b.qty, b.revenue, b.n_events, b.returns) for b in buckets]


def feed(s: SeriesBuckets, e: SaleEvent, clock: PartitionClock) -> object:
    """What the processor does per single-event message: judge, then move the clock."""
    result = s.add(e, clock)
    clock.observe(e.series, e.ts, bounded=True)  # replay mode: events ahead are refused
    clock.advance()
    return result


@pytest.fixture
def clock() -> PartitionClock:
    return PartitionClock(min_series=1)


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
        assert isinstance(feed(shop, ev(T0 + ts, qty, price), clock), Accepted)
    assert shop.close_due(T0 + 2 * DAY + 3600) == [
        ClosedBucket(T0, T0 + DAY, 4.0, 7.0, 3, 1.0),
        ClosedBucket(T0 + DAY, T0 + 2 * DAY, 4.0, 2.0, 1, 0.0),
    ]


def test_accepted_carries_running_totals(shop: SeriesBuckets, clock: PartitionClock) -> None:
    assert feed(shop, ev(T0 + 10, 2, 3.0), clock) == Accepted(T0, 2.0, 6.0, 1)
    assert feed(shop, ev(T0 + 20, -1, 3.0), clock) == Accepted(T0, 1.0, 3.0, 2)


def test_gaps_are_filled_with_zeros(shop: SeriesBuckets, clock: PartitionClock) -> None:
    feed(shop, ev(T0 + 100, 5), clock)
    feed(shop, ev(T0 + 4 * DAY + 100, 7), clock)
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
    clock = PartitionClock(max_future_seconds=100 * DAY, min_series=1)
    feed(shop, ev(T0), clock)
    feed(shop, ev(T0 + 50 * DAY), clock)
    closed = summary(shop.close_due(T0 + 51 * DAY + 3600, max_fill=3))
    assert closed == [
        (0, 1.0, 1.0, 1, 0.0),
        (47, 0, 0, 0, 0),
        (48, 0, 0, 0, 0),
        (49, 0, 0, 0, 0),
    ] + [(50, 1.0, 1.0, 1, 0.0)]


def test_max_fill_bounds_the_zeros_of_one_close_in_all(shop: SeriesBuckets) -> None:
    """Sales years apart in one close (a back-filled history): every sale closes, and only
    the newest ``max_fill`` empty buckets between them, not every gap's own ``max_fill``."""
    clock = PartitionClock(max_future_seconds=10_000 * DAY, min_series=1)
    for day in range(0, 1000, 100):  # ten sales, 99 empty days between each
        feed(shop, ev(T0 + day * DAY), clock)
    closed = summary(shop.close_due(T0 + 1001 * DAY + 3600, max_fill=150))
    assert [c[0] for c in closed if c[3]] == list(range(0, 1000, 100))
    zeros = [c[0] for c in closed if not c[3]]
    assert len(zeros) == 150
    assert zeros == [*range(850, 900), *range(901, 1000), 1000]  # the newest gaps
    assert shop.closed_until == T0 + 1001 * DAY


def test_lateness(shop: SeriesBuckets, clock: PartitionClock) -> None:
    feed(shop, ev(T0 + 100, 1), clock)
    feed(shop, ev(T0 + DAY + 1800, 2), clock)  # day 1, 00:30: day 0 is not due until 01:00
    assert shop.close_due(clock.watermark) == []
    assert feed(shop, ev(T0 + DAY - 1, 3), clock) == Accepted(T0, 4.0, 4.0, 2)  # late, in time
    feed(shop, ev(T0 + DAY + 3600, 1), clock)  # the watermark reaches 01:00 on day 1
    assert summary(shop.close_due(clock.watermark)) == [(0, 4.0, 4.0, 2, 0.0)]
    late = feed(shop, ev(T0 + DAY - 1, 3), clock)
    assert late == TooLate(T0 + DAY - 1, T0, T0 + DAY + 3600)
    assert (
        late.reason
        == f"event time {T0 + DAY - 1} is in closed bucket {T0} (watermark {T0 + DAY + 3600})"
    )


def test_too_late_even_before_close_due(clock: PartitionClock) -> None:
    # The bucket is due by the watermark (another series moved it): too late for every series.
    a, b = SeriesBuckets(DAY, 3600), SeriesBuckets(DAY, 3600)
    feed(a, ev(T0 + 3 * DAY, series="A"), clock)
    assert isinstance(feed(b, ev(T0 + DAY, series="B"), clock), TooLate)
    assert isinstance(feed(b, ev(T0 + 2 * DAY + 5, series="B"), clock), Accepted)


def test_too_late_after_a_larger_external_watermark(
    shop: SeriesBuckets, clock: PartitionClock
) -> None:
    feed(shop, ev(T0), clock)
    shop.close_due(T0 + 5 * DAY)  # e.g. a sweep with another partition's watermark
    assert isinstance(feed(shop, ev(T0 + 3 * DAY), clock), TooLate)
    assert shop.closed_until == T0 + 4 * DAY


def test_out_of_order_within_open_buckets(clock: PartitionClock) -> None:
    s = SeriesBuckets(width=3600, lateness=7200)
    for minutes in [130, 10, 70, 20, 125]:
        assert isinstance(feed(s, ev(T0 + minutes * 60), clock), Accepted)
    assert [(b.start - T0, b.n_events) for b in s.close_due(T0 + 5 * 3600)] == [
        (0, 2),
        (3600, 1),
        (7200, 2),
    ]


def test_first_event_defines_watermark_and_too_far_ahead(shop: SeriesBuckets) -> None:
    clock = PartitionClock(max_future_seconds=7 * DAY, min_series=1)
    assert clock.watermark is None
    feed(shop, ev(T0 + 50), clock)
    assert clock.watermark == T0 + 50
    far = shop.add(ev(T0 + 50 + 7 * DAY + 1), clock)
    assert far == TooFarAhead(T0 + 50 + 7 * DAY + 1, T0 + 50, 7 * DAY)
    assert far.reason.startswith("event time") and "604800 s ahead" in far.reason
    assert clock.watermark == T0 + 50  # judging an event never moves the clock
    assert isinstance(feed(shop, ev(T0 + 50 + 7 * DAY), clock), Accepted)  # exactly the limit
    assert clock.watermark == T0 + 50 + 7 * DAY
    feed(shop, ev(T0 + 7 * DAY), clock)  # an older event never moves it back
    assert clock.watermark == T0 + 50 + 7 * DAY


def test_history_is_bounded(clock: PartitionClock) -> None:
    s = SeriesBuckets(width=DAY, lateness=0, history=3)
    for d in range(6):
        feed(s, ev(T0 + d * DAY, qty=d), clock)
    s.close_due(clock.watermark)
    assert [b.qty for b in s.recent()] == [2.0, 3.0, 4.0]
    assert [b.qty for b in s.recent(2)] == [3.0, 4.0]
    assert SeriesBuckets(history=0).recent() == []


def test_each_bucket_closes_exactly_once_randomised() -> None:
    rng = random.Random(3)
    clock, s = PartitionClock(min_series=1), SeriesBuckets(width=3600, lateness=1800)
    closed: list[ClosedBucket] = []
    t = float(T0)
    for _ in range(3000):
        t += rng.expovariate(1 / 200)
        feed(s, ev(t - rng.uniform(0, 5000), qty=rng.randint(-1, 5)), clock)
        closed += s.close_due(clock.watermark)
    assert clock.watermark is not None
    closed += s.close_due(clock.watermark + 10 * 3600)
    starts = [b.start for b in closed]
    assert starts == list(range(starts[0], starts[-1] + 3600, 3600))  # contiguous, no repeats
    assert s.open == {}


def test_qty_conservation_randomised() -> None:
    rng = random.Random(4)
    clock, s = PartitionClock(min_series=1), SeriesBuckets(width=600, lateness=300)
    accepted = 0.0
    closed: list[ClosedBucket] = []
    for i in range(2000):
        qty = float(rng.randint(-2, 9))
        if isinstance(feed(s, ev(T0 + i * 7 - rng.uniform(0, 900), qty), clock), Accepted):
            accepted += qty
        closed += s.close_due(clock.watermark)
    assert clock.watermark is not None
    closed += s.close_due(clock.watermark + 10_000)
    assert sum(b.qty for b in closed) == pytest.approx(accepted)


def test_pickle_round_trip(shop: SeriesBuckets, clock: PartitionClock) -> None:
    feed(shop, ev(T0 + 10, 2, 3.0), clock)
    feed(shop, ev(T0 + 2 * DAY + 3700, 1), clock)
    shop.close_due(clock.watermark)
    feed(shop, ev(T0 + 2 * DAY + 4000, 5), clock)
    shop2, clock2 = pickle.loads(pickle.dumps(shop)), pickle.loads(pickle.dumps(clock))
    assert repr(shop2) == repr(shop) and clock2.watermark == clock.watermark
    assert shop2.due_at == shop.due_at and list(shop2.history) == list(shop.history)
    for s, c in [(shop, clock), (shop2, clock2)]:
        assert feed(s, ev(T0 + 3 * DAY, 4), c) == Accepted(T0 + 3 * DAY, 4.0, 4.0, 1)
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


def test_one_series_cannot_move_the_clock_for_everyone() -> None:
    """The issue's hijack: five events of one series, each 29 days after the previous one."""
    clock = PartitionClock(max_future_seconds=30 * DAY)
    shops = {sid: SeriesBuckets(width=DAY, lateness=3600) for sid in "ABCDE"}
    for sid in "ABCDE":
        feed(shops[sid], ev(T0 + 3600, series=sid), clock)
    assert clock.watermark == T0 + 3600
    for k in range(1, 6):
        feed(shops["E"], ev(T0 + 3600 + k * 29 * DAY, series="E"), clock)
    assert clock.watermark == T0 + 3600  # E alone moved nothing
    for sid in "ABCD":  # the other series carry on, on time
        assert isinstance(feed(shops[sid], ev(T0 + 2 * 3600, series=sid), clock), Accepted)


def test_far_future_events_of_a_few_series_are_rejected_and_move_nothing() -> None:
    clock = PartitionClock(max_future_seconds=7 * DAY)
    shops = {f"S{i}": SeriesBuckets(width=DAY, lateness=3600) for i in range(10)}
    for sid, s in shops.items():
        feed(s, ev(T0, series=sid), clock)
    far = T0 + 90 * 365 * DAY
    results = [feed(shops["S0"], ev(far + i, series="S0"), clock) for i in range(100)]
    results += [feed(shops["S1"], ev(far + i, series="S1"), clock) for i in range(100)]
    assert all(isinstance(r, TooFarAhead) for r in results)
    assert clock.watermark == T0
    assert isinstance(feed(shops["S2"], ev(T0 + 60, series="S2"), clock), Accepted)


def test_a_stream_that_moved_on_moves_the_clock_once_most_series_agree() -> None:
    clock = PartitionClock(max_future_seconds=7 * DAY)
    shops = {f"S{i}": SeriesBuckets(width=DAY, lateness=0) for i in range(9)}
    for sid, s in shops.items():
        feed(s, ev(T0, series=sid), clock)
    later = T0 + 20 * DAY  # the shop reopened after a long closure
    results = [feed(shops[f"S{i}"], ev(later, series=f"S{i}"), clock) for i in range(9)]
    assert all(isinstance(r, TooFarAhead) for r in results[:5])  # before a majority agrees
    assert clock.watermark == later
    assert all(isinstance(r, Accepted) for r in results[5:])


def test_clock_pickles_with_its_window() -> None:
    clock = PartitionClock()
    for i in range(5):
        clock.observe(f"S{i}", T0 + i)
    clock.advance()
    back = pickle.loads(pickle.dumps(clock))
    assert back.watermark == clock.watermark == T0 + 2 and back.recent == clock.recent


def test_duplicate_ids_count_once_per_open_bucket(
    shop: SeriesBuckets, clock: PartitionClock
) -> None:
    e = SaleEvent("A", T0 + 60, 2.0, 1.0, id="inv-1:0")
    assert isinstance(feed(shop, e, clock), Accepted)
    dup = feed(shop, e, clock)
    assert (
        isinstance(dup, DuplicateId)
        and dup.reason == f"id 'inv-1:0' was already counted in bucket {T0}"
    )
    assert shop.open[T0].n_events == 1
    assert isinstance(feed(shop, SaleEvent("A", T0 + 61, 1.0, 1.0, id="inv-1:1"), clock), Accepted)
    assert pickle.loads(pickle.dumps(shop)).open[T0].ids == {"inv-1:0", "inv-1:1"}


# calendar months and quarters (models/grid.py)


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, *([0] * (6 - len(fields)))))


def _clock_at(ts: float) -> PartitionClock:
    clock = PartitionClock()
    for s in "ABC":
        clock.observe(s, ts)
    clock.advance()
    return clock


def test_months_close_as_whole_calendar_months_with_zeros_between() -> None:
    b = SeriesBuckets(width=MONTH, lateness=3600, history=10)
    clock = PartitionClock()
    assert b.add(SaleEvent("A", utc(2024, 1, 31, 23, 59), 2, 1.0), clock).bucket == utc(2024, 1, 1)
    assert b.add(SaleEvent("A", utc(2024, 3, 1), 5, 1.0), clock).bucket == utc(2024, 3, 1)
    assert b.due_at == utc(2024, 2, 1) + 3600  # January's end plus the lateness
    assert b.close_due(utc(2024, 2, 1) + 3599) == []
    clock = _clock_at(utc(2024, 4, 1) + 3600)
    out = b.close_due(clock.watermark)
    assert [(c.start, c.end, c.qty) for c in out] == [
        (utc(2024, 1, 1), utc(2024, 2, 1), 2.0),
        (utc(2024, 2, 1), utc(2024, 3, 1), 0.0),  # February: 29 days, no sale
        (utc(2024, 3, 1), utc(2024, 4, 1), 5.0),
    ]
    assert b.closed_until == utc(2024, 4, 1)
    late = b.add(SaleEvent("A", utc(2024, 3, 31), 1, 1.0), clock)
    assert isinstance(late, TooLate)
    again = pickle.loads(pickle.dumps(b))
    assert (again.width, again.due_at) == (MONTH, utc(2024, 5, 1) + 3600)


def test_quarters_fill_a_long_gap_with_at_most_max_fill_zeros() -> None:
    b = SeriesBuckets(width=QUARTER, lateness=0, history=0)
    b.add(SaleEvent("A", utc(2020, 2, 3), 1, 1.0), PartitionClock())
    out = b.close_due(utc(2023, 1, 1), max_fill=4)
    assert [c.start for c in out] == [utc(2020, 1, 1), utc(2022, 1, 1), utc(2022, 4, 1),
                                      utc(2022, 7, 1), utc(2022, 10, 1)]


def test_a_series_that_stopped_selling_does_not_hold_the_clock_of_a_small_partition() -> None:
    """A probe: two series on a partition, one sold once; the lower median of two is the
    older time, so the clock stayed at that sale for good, and with it the other series'
    buckets (four months of stale forecasts) and the aggregates."""
    from stream.clock import CLOCK_IDLE_EVENTS

    clock = PartitionClock(min_series=1)
    for day in range(60):
        clock.observe("A", T0 + day * DAY)
        if day == 5:
            clock.observe("B", T0 + day * DAY)  # its only sale
        clock.advance()
        if day == 5 + CLOCK_IDLE_EVENTS - 1:
            assert clock.watermark == T0 + 5 * DAY  # B still votes
    assert clock.watermark == T0 + 59 * DAY
    clock.observe("B", T0 + 59 * DAY - 3600)  # B again: it votes again, the clock waits
    clock.observe("A", T0 + 60 * DAY)
    assert clock.advance() == T0 + 59 * DAY


def test_a_clock_pickled_before_the_idle_rule_counts_its_series_as_just_seen() -> None:
    clock = PartitionClock(min_series=1)
    clock.__setstate__((30 * DAY, T0, 64, {"A": T0, "B": T0 + DAY}, 500, 3))
    assert clock.last == {"A": 500, "B": 500} and clock.advance() == T0
    assert pickle.loads(pickle.dumps(clock)).last == clock.last


def _reference_advance(clock: PartitionClock, watermark: float | None) -> float | None:
    """The clock's rule as the module docstring states it, computed from scratch: the lower
    median of the latest times of the window's series that sent one of the last
    CLOCK_IDLE_EVENTS counted events; never backwards."""
    from stream.clock import CLOCK_IDLE_EVENTS, CLOCK_WARMUP

    recent = clock.recent
    if not recent or (len(recent) < clock.min_series and clock.events < CLOCK_WARMUP):
        return watermark
    since = clock.events - CLOCK_IDLE_EVENTS
    times = sorted(t for s, t in recent.items() if clock.last.get(s, 0) > since)
    if not times:
        return watermark
    candidate = times[(len(times) - 1) // 2]
    return candidate if watermark is None or candidate > watermark else watermark


@pytest.mark.parametrize("seed", range(6))
def test_the_clock_follows_its_rule_through_evictions_refusals_and_pickles(seed: int) -> None:
    """advance() reads only the tail of the series in the order of their last events; any
    stream (series leaving the window, refused events that do not count, a pickle round trip
    in the middle, a pickle of the old order) gives the rule's watermark."""
    rng = random.Random(seed)
    clock = PartitionClock(max_future_seconds=20 * DAY, window=rng.choice([4, 16, 64]),
                           min_series=rng.choice([1, 3]))
    expected: float | None = None
    for i in range(3000):
        series = f"S{min(int(rng.expovariate(0.05)), 150)}"
        ts = T0 + i * 600 + rng.uniform(-3, 1) * DAY + (40 * DAY if rng.random() < 0.02 else 0)
        clock.observe(series, ts, bounded=rng.random() < 0.5)
        if rng.random() < 0.7:
            expected = _reference_advance(clock, expected)
            assert clock.advance() == expected
        if rng.random() < 0.01:
            clock = pickle.loads(pickle.dumps(clock))
        if rng.random() < 0.005:  # as a clock pickled before ``last`` kept its order
            state = clock.__getstate__()
            shuffled = list(state[6].items())  # type: ignore[attr-defined]
            rng.shuffle(shuffled)
            clock.__setstate__(state[:6] + (dict(shuffled),))
    assert expected is not None


def test_a_window_filled_by_refused_events_keeps_its_watermark() -> None:
    """Replay mode: one collector with a wrong clock sends events of 64+ distinct series more
    than max_future_seconds ahead. They are observed (and refused), and push every counted
    series out of the window: advance() then had no vote and raised IndexError, which fails
    the batch, stops the worker, and again on every restart."""
    clock = PartitionClock(max_future_seconds=30 * DAY)
    for i in range(100):
        clock.observe(f"A{i % 5}", T0 + i * 60)
        clock.advance()
    before = clock.watermark
    for i in range(70):
        clock.observe(f"F{i}", T0 + 100 * DAY, bounded=True)
        assert clock.advance() is not None
    assert clock.watermark is not None and before is not None
    assert before <= clock.watermark < T0 + DAY
