"""Real data end to end: Online Retail II -> Kafka -> worker -> Redis -> WebSocket client."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from gateway.server import Gateway

pytestmark = pytest.mark.integration

SLICE = 30_000  # about ten trading days of invoice lines
SERIES = "85123A"  # the best-selling SKU


def _settled(pipeline):
    """A check that is true once the series' stored versions were the same 2 s apart."""
    seen: list[tuple[float, tuple]] = []

    def check() -> bool:
        snap = pipeline.snapshot(SERIES) or {}
        now = (snap.get("version"), snap.get("forecast_version"))
        if not seen or seen[-1][1] != now:
            seen[:] = [(time.monotonic(), now)]
            return False
        return time.monotonic() - seen[0][0] >= 2.0

    return check


def test_real_data_reaches_a_websocket_subscriber(pipeline, retail_csv: Path) -> None:
    from sources.online_retail import iter_events
    from stream.replay import replay

    events = list(iter_events(retail_csv, limit=SLICE))
    first, second = events[: SLICE * 2 // 3], events[SLICE * 2 // 3 :]
    s = pipeline.settings
    summary = replay(first, s.kafka, s.events_topic, speed=None, total=len(first),
                     progress=False)
    assert summary.sent == len(first)
    pipeline.start_worker()
    pipeline.wait_for(lambda: ((pipeline.snapshot(SERIES) or {}).get("forecast") is not None),
                      120, f"a forecast of {SERIES} in Redis")
    snap = pipeline.snapshot(SERIES)
    assert snap is not None
    expected = sum(1 for e in first if e.series == SERIES)
    pipeline.wait_for(lambda: pipeline.snapshot(SERIES)["events"] == expected, 60,
                      "every event of the first slice")
    # the watermark's closes may still be on their way (the sweep is chunked): wait until the
    # series' stored state stops changing, so that the resume below has nothing to miss
    pipeline.wait_for(_settled(pipeline), 60, f"{SERIES}'s state to settle")

    async def scenario() -> tuple[list[dict], list[dict]]:
        gw = Gateway(s.redis, "127.0.0.1", 0)
        await gw.start()
        try:
            async with connect(gw.url) as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello" and hello["protocol"] == 1
                await ws.send(json.dumps({"type": "subscribe", "series": SERIES, "id": "a"}))
                ack = json.loads(await ws.recv())
                assert ack == {"type": "subscribed", "channel": "forecasts", "series": SERIES,
                               "id": "a"}
                snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
                # the live event counts come on the actuals channel; the snapshot's data
                # carries the live version (its frame's version is the last forecast write's)
                await ws.send(json.dumps({"type": "subscribe", "channel": "actuals",
                                          "series": SERIES,
                                          "since": snapshot["data"]["version"]}))
                ack = json.loads(await ws.recv())
                assert ack["type"] == "subscribed" and ack["channel"] == "actuals"
                # now more of the stream arrives: live updates follow
                await asyncio.to_thread(replay, second, s.kafka, s.events_topic, None,
                                        len(second), False)
                updates: list[dict] = []
                while not updates or updates[-1]["data"]["events"] < expected + sum(
                        1 for e in second if e.series == SERIES):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    # resumed at the snapshot's version: no second snapshot of the same state
                    assert frame["type"] == "update", frame
                    updates.append(frame)
                return [snapshot], updates
        finally:
            await gw.stop()

    snapshots, updates = asyncio.run(scenario())
    snapshot = snapshots[0]
    assert snapshot["type"] == "snapshot"
    data = snapshot["data"]
    assert data["series"] == SERIES and data["events"] == expected
    fc = data["forecast"]
    assert len(fc["yhat"]) == s.horizon and all(v >= 0 for v in fc["yhat"])
    assert all(lo <= y <= hi for lo, y, hi in zip(fc["lo"], fc["yhat"], fc["hi"], strict=True))
    assert data["actuals"], "closed daily buckets are in the snapshot"
    assert {u["type"] for u in updates} == {"update"}
    assert {u["channel"] for u in updates} <= {"actuals", "forecasts"}
    for channel in ("actuals", "forecasts"):
        versions = [u["version"] for u in updates if u["channel"] == channel]
        assert versions == sorted(versions)
        assert all(v > data["version"] for v in versions)
