"""Bucket widths other than a day through the real worker: calendar months (every actual and
forecast in Redis dated by the first of its month) and hours (the weekly second season);
the audit finds every event."""

from __future__ import annotations

import calendar
import json
import random
import time

import pytest

from contracts.events import SaleEvent
from models.grid import MONTH, shift

pytestmark = pytest.mark.integration

START = calendar.timegm((2021, 1, 1, 0, 0, 0))
MONTHS = 30
SERIES = [f"M{i}" for i in range(12)]


def _first_of_month(t: float) -> bool:
    return time.gmtime(t)[2:6] == (1, 0, 0, 0)


def _run(pipeline, events: list[SaleEvent]) -> None:
    """Produce ``events`` in time order, start a worker, wait until every series counted all
    its events, and require the audit to reconcile (every event counted once)."""
    events.sort(key=lambda e: e.ts)
    pipeline.produce([(e.series.encode(), e.to_json()) for e in events])
    pipeline.start_worker()
    per_series: dict[str, int] = {}
    for e in events:
        per_series[e.series] = per_series.get(e.series, 0) + 1
    pipeline.wait_for(lambda: all((pipeline.snapshot(sid) or {}).get("events") == n
                                  for sid, n in per_series.items()), 120, "every event")
    assert pipeline.reconciled()


def test_monthly_buckets_end_to_end(pipeline) -> None:
    pipeline.settings = pipeline.settings.model_copy(update={"bucket_seconds": MONTH})
    rng = random.Random(7)
    truth: dict[tuple[str, int], float] = {}
    events = []
    for m in range(MONTHS):
        first = shift(START, m, MONTH)
        days = (shift(first, 1, MONTH) - first) // 86400
        for _ in range(60):
            sid = rng.choice(SERIES)
            q = rng.randint(1, 4) + (6 if m % 12 == 10 else 0)  # a yearly peak in November
            truth[sid, first] = truth.get((sid, first), 0.0) + q
            events.append(SaleEvent(sid, first + rng.randrange(days * 86400), q, 1.5))
    _run(pipeline, events)

    open_month = shift(START, MONTHS - 1, MONTH)  # the last month is still open
    for sid in SERIES:
        snap = pipeline.snapshot(sid)
        assert snap is not None and snap["bucket_seconds"] == MONTH
        actuals = snap["actuals"]
        assert actuals and all(_first_of_month(t) for t, _ in actuals)
        for t, v in actuals:
            assert v == truth.get((sid, t), 0.0), (sid, time.gmtime(t)[:2])
        assert actuals[-1][0] == shift(open_month, -1, MONTH)
        ts = snap["forecast"]["t"]
        assert ts[0] == open_month and ts == [shift(ts[0], i, MONTH) for i in range(len(ts))]
        assert snap["open"]["t"] == open_month


def test_hourly_buckets_end_to_end_with_the_weekly_season(pipeline) -> None:
    pipeline.settings = pipeline.settings.model_copy(update={"bucket_seconds": 3600})
    monday = calendar.timegm((2021, 1, 4, 0, 0, 0))
    rng = random.Random(11)
    truth: dict[tuple[str, int], float] = {}
    events = []
    for hour in range(5 * 168):  # five weeks: shop hours 9-17, no sales on Saturdays
        if 9 <= hour % 24 < 17 and (hour // 24) % 7 != 5:
            for sid in SERIES[:6]:
                q = rng.randint(1, 3) + (3 if (hour // 24) % 7 == 0 else 0)  # busy Mondays
                start = monday + hour * 3600
                truth[sid, start] = truth.get((sid, start), 0.0) + q
                events.append(SaleEvent(sid, start + rng.randrange(3600), q, 1.5))
    _run(pipeline, events)
    for sid in SERIES[:6]:
        snap = pipeline.snapshot(sid)
        assert snap is not None and snap["bucket_seconds"] == 3600
        actuals = snap["actuals"]
        assert len(actuals) > 100 and all(t % 3600 == 0 for t, _ in actuals)
        for t, v in actuals:
            assert v == truth.get((sid, t), 0.0), (sid, time.gmtime(t)[:4])
        f = snap["forecast"]
        assert f["t"] == [f["t"][0] + 3600 * i for i in range(len(f["t"]))]
        assert "seasonal_median_168" in f["model"]["members"]


def test_days_on_the_shop_s_clock_end_to_end(pipeline) -> None:
    """SALESCAST_UTC_OFFSET=+09:00 (Tokyo): a day is the shop's, from 15:00 UTC the day before;
    a sale at 08:00 in Tokyo (23:00 UTC the day before) counts on its own day."""
    offset = 9 * 3600
    pipeline.settings = pipeline.settings.model_copy(update={"utc_offset": offset})
    first = calendar.timegm((2021, 3, 1, 0, 0, 0)) - offset  # 1 March, 00:00 in Tokyo
    rng = random.Random(5)
    truth: dict[tuple[str, int], float] = {}
    events = []
    for day in range(21):
        start = first + day * 86400
        for sid in SERIES[:5]:
            for hour in (8, 20):  # 23:00 and 11:00 UTC: two UTC days, one shop day
                q = rng.randint(1, 5)
                truth[sid, start] = truth.get((sid, start), 0.0) + q
                events.append(SaleEvent(sid, start + hour * 3600 + rng.randrange(600), q, 2.0))
    _run(pipeline, events)
    for sid in SERIES[:5]:
        snap = pipeline.snapshot(sid)
        assert snap is not None
        actuals = snap["actuals"]
        assert len(actuals) >= 19 and all((t + offset) % 86400 == 0 for t, _ in actuals)
        for t, v in actuals:
            assert v == truth[sid, t], (sid, time.gmtime(t + offset)[:3])
        assert snap["forecast"]["t"][0] == snap["open"]["t"] == first + 20 * 86400

    # a gateway given no clock of its own tells its clients the workers' (their ops figures)
    import asyncio

    from gateway.server import Gateway

    async def told() -> int:
        gw = Gateway.from_settings(pipeline.settings.model_copy(update={"utc_offset": 0}))
        gw.own_clock = False  # (as a gateway started without SALESCAST_UTC_OFFSET)
        try:
            await gw.follow_clock()
            return int(json.loads(gw._new_session().hello("s"))["utc_offset"])
        finally:
            await gw.redis.aclose()

    pipeline.wait_for(lambda: pipeline.ops().get("utc_offset") == str(offset), 30, "its clock")
    assert asyncio.run(told()) == offset

    # the same state under another clock: a refusal in one line, exit status 2, nothing
    # written (a day apart, where every bucket starts where it did: tests/unit test_processor),
    # at start, with no event to apply (it came only at the partition's next event before)
    assert pipeline.stop_worker(pipeline.workers[-1]) == 0
    pipeline.settings = pipeline.settings.model_copy(update={"utc_offset": -3 * 3600})
    before = pipeline.snapshot(SERIES[0])
    refused = pipeline.start_worker()
    assert refused.wait(120) == 2
    log = "\n".join(pipeline.log_tail(50))
    assert "the worker refuses to run: " in log and "SALESCAST_UTC_OFFSET" in log, log
    assert "Traceback" not in log and pipeline.snapshot(SERIES[0]) == before
