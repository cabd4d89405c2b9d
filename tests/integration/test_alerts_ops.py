"""Anomaly alerts and the ops monitor on the real Kafka + Redis.

* an injected spike gives one alert, published once to the Redis stream and channel, with the
  same id after a kill -9 restart and after a full replay by a fresh worker group;
* the ops monitor sees consumer lag grow while the worker is down and drain after a restart,
  in Redis and in the gateway's Prometheus /metrics.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import urllib.request
from typing import Any

import pytest

from contracts.events import SaleEvent
from contracts.wire import ALERTS_STREAM, OPS_LATEST
from gateway.server import Gateway

pytestmark = pytest.mark.integration

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
SERIES = "ALRT1"


def _history(series: str, days: int) -> list[SaleEvent]:
    return [SaleEvent(series, T0 + k * 3600, 1 + k % 5, 2.0) for k in range(24 * days)]


def _records(events: list[SaleEvent]) -> list[tuple[bytes, bytes]]:
    return [(e.series.encode(), e.to_json()) for e in events]


def _stream_alerts(pipeline: Any) -> list[dict]:
    return [json.loads(f[b"a"]) for _, f in pipeline.redis.xrange(ALERTS_STREAM)]


def _topic_alerts(pipeline: Any) -> list[dict]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": pipeline.settings.kafka, "group.id": "t-alerts-read",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "log_level": 0})
    c.subscribe([pipeline.settings.alerts_topic])
    out, idle = [], 0
    while idle < 6:
        msg = c.poll(0.5)
        if msg is None:
            idle += 1
            continue
        if not msg.error():
            out.append(json.loads(msg.value()))
            idle = 0
    c.close()
    return out


def test_a_spike_alerts_once_with_the_same_id_across_restarts(pipeline: Any) -> None:
    spike_day = 21
    events = _history(SERIES, spike_day)
    events += [SaleEvent(SERIES, T0 + spike_day * DAY + 12 * 3600, 500, 2.0),
               SaleEvent(SERIES, T0 + (spike_day + 1) * DAY + 3600, 1, 2.0)]
    pipeline.produce(_records(events))
    worker = pipeline.start_worker()
    pipeline.wait_for(lambda: len(_stream_alerts(pipeline)) >= 1, 90, "the spike's alert")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    # the aggregates (total, country:(none)) are this one series too, so they may alert on the
    # spike day as well (whether they check it depends on how the backlog's days close)
    first = _stream_alerts(pipeline)
    [alert] = [a for a in first if a["series"] == SERIES]
    assert alert["series"] == SERIES and alert["kind"] == "spike"
    assert alert["bucket"] == T0 + spike_day * DAY and alert["actual"] >= 500
    assert alert["severity"] == "critical" and alert["actual"] > alert["hi95"]

    # restart the same group, then replay everything with a fresh group (new state, same data)
    pipeline.start_worker()
    pipeline.produce(_records([SaleEvent(SERIES, T0 + (spike_day + 1) * DAY + 7200, 1, 2.0)]))
    pipeline.wait_for(lambda: (pipeline.snapshot(SERIES) or {}).get("events") == len(events) + 1,
                      90, "the restarted worker to catch up")
    fresh = pipeline.settings.model_copy(
        update={"worker_id": pipeline.settings.worker_id + "-replay"})
    pipeline.settings = fresh
    pipeline.start_worker()
    pipeline.wait_for(lambda: len({a["id"] for a in _topic_alerts(pipeline)}) >= 1
                      and len(_topic_alerts(pipeline)) >= 2, 90,
                      "the replaying worker to score the spike again")
    stream = _stream_alerts(pipeline)
    ids = [a["id"] for a in stream]
    seen = [(a["series"], a["kind"], a["bucket"], a["state"], a["id"]) for a in stream]
    assert len(ids) == len(set(ids)), seen  # Redis: each alert once
    assert [a["id"] for a in stream if a["series"] == SERIES] == [alert["id"]], seen
    assert {a["series"] for a in stream} <= {SERIES, "total", "country:(none)"}, seen
    on_topic = _topic_alerts(pipeline)  # the topic: the same id again, consumers dedupe
    assert {a["id"] for a in on_topic if a["series"] == SERIES} == {alert["id"]}
    assert {a["series"] for a in on_topic} <= {SERIES, "total", "country:(none)"}


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _lag(pipeline: Any) -> int | None:
    raw = pipeline.redis.get(OPS_LATEST)
    if raw is None:
        return None
    group = json.loads(raw)["groups"].get(pipeline.settings.worker_id)
    return None if group is None else int(group["lag"])


def test_lag_grows_while_the_worker_is_down_and_drains_after(pipeline: Any) -> None:
    pipeline.settings = pipeline.settings.model_copy(update={"lag_alert": 500})
    pipeline.produce(_records(_history("LAG1", 3)))
    worker = pipeline.start_worker()
    pipeline.start_monitor()
    pipeline.wait_for(lambda: _lag(pipeline) == 0, 90, "the worker to catch up (lag 0)")
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    pipeline.workers.remove(worker)  # stopped on purpose
    pipeline.produce(_records(_history("LAG2", 40)))  # 960 events while nobody consumes
    pipeline.wait_for(lambda: (_lag(pipeline) or 0) >= 960, 60, "lag to show the backlog")
    snap = json.loads(pipeline.redis.get(OPS_LATEST))
    assert snap["lag_alert"] is True and snap["lag_threshold"] == 500

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    gw = Gateway(pipeline.settings.redis, "127.0.0.1", 0)
    asyncio.run_coroutine_threadsafe(gw.start(), loop).result(30)
    try:
        url = f"http://127.0.0.1:{gw.port}/metrics"
        group = pipeline.settings.worker_id
        pipeline.wait_for(
            lambda: f'salescast_consumer_lag_total{{group="{group}"}} 96' in _metrics(url),
            30, "/metrics to show the lag")
        assert "salescast_lag_alert 1.0" in _metrics(url)
        pipeline.start_worker()
        pipeline.wait_for(lambda: _lag(pipeline) == 0, 180, "the lag to drain after a restart")
        pipeline.wait_for(
            lambda: f'salescast_consumer_lag_total{{group="{group}"}} 0.0' in _metrics(url),
            30, "/metrics to show the drained lag")
        assert "salescast_lag_alert 0.0" in _metrics(url)
    finally:
        asyncio.run_coroutine_threadsafe(gw.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
