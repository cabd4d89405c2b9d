"""Shop-wide closures on the real Kafka + Redis: each Christmas of Online Retail II is one group
alert, and its reopening raises no wall of per-series spikes.

* The worker's Redis sink merges the partitions' messages of one shop-wide event into one
  alert (a real ``redis-server`` of the test's own): one id, ``open`` once, ``resolved`` when
  every partition has resolved, ``series_affected`` summed; a message sent twice (a replay
  after a restart) is published once.
* The weeks around Christmas 2009/2010 and 2010/2011 of the real data, replayed through a
  worker on a 2-partition topic: the closure from Dec 24 to the reopening is one group alert
  (one id over both partitions, resolved on the reopening day), and the series alerts opened
  on the reopening day are at most 5% of the SKUs that sold that day (17 of 495 measured for
  2010-01-04), not one per SKU.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from contracts.wire import ALERTS_ACKS, ALERTS_STATE, ALERTS_STREAM
from infra.redis_server import RedisProcess
from models.anomaly import group_message
from stream.sink import RedisSink

pytestmark = pytest.mark.integration

DAY = 86400


def _day(y: int, m: int, d: int) -> int:
    return int(dt.datetime(y, m, d, tzinfo=dt.UTC).timestamp())


def _alerts(r: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(f[b"a"]) for _, f in r.xrange(ALERTS_STREAM)]


def test_the_sink_merges_the_partitions_of_a_closure(local_redis: RedisProcess) -> None:
    since = _day(2010, 12, 24)

    def msg(p: int, day: int, state: str, affected: int) -> dict[str, Any]:
        return group_message("closure", since, since + day * DAY, since + (day + 1) * DAY,
                             state, affected, p + 1, float(affected) + p + 1.5, p)

    batches = [[msg(0, 0, "open", 300), msg(1, 0, "open", 200)],
               [msg(0, 1, "updated", 310), msg(0, 1, "updated", 310)],  # sent twice
               [msg(0, 2, "resolved", 310)], [msg(1, 2, "resolved", 205)]]

    async def write() -> None:
        sink = RedisSink(local_redis.url)
        try:
            for batch in batches:
                await sink.write_alerts(batch)
        finally:
            await sink.redis.aclose()

    asyncio.run(write())
    r = redis.Redis.from_url(local_redis.url)
    got = _alerts(r)
    assert {a["id"] for a in got} == {batches[0][0]["id"]}
    assert [a["state"] for a in got] == ["open", "updated", "updated", "updated", "resolved"]
    assert [a["series_affected"] for a in got] == [300, 500, 510, 510, 515]
    # active and usual are summed over the same partitions (a probe saw "1373 series
    # affected (59 selling, usually 156)": one partition's counts beside the sum)
    assert [a["active"] for a in got] == [1, 3, 3, 3, 3]
    assert [a["usual"] for a in got] == [301.5, 504.0, 514.0, 514.0, 519.0]
    assert all(a["partitions"] == (1 if i == 0 else 2) and "partition" not in a
               for i, a in enumerate(got))
    latest = json.loads(r.hget(ALERTS_STATE, got[0]["id"]) or b"{}")
    assert latest["state"] == "resolved" and latest["series_affected"] == 515

    # an alert acknowledged through the gateway keeps its ack in its later messages
    r.hset(ALERTS_ACKS, got[0]["id"], json.dumps({"id": got[0]["id"], "by": "op", "at": 1}))
    batches[:] = [[msg(0, 3, "open", 1)]]
    asyncio.run(write())
    assert _alerts(r)[-1]["ack"]["by"] == "op"


@pytest.mark.parametrize(("first", "reopening", "last"), [
    ((2009, 12, 1), (2010, 1, 4), (2010, 1, 7)),
    ((2010, 11, 24), (2011, 1, 4), (2011, 1, 7)),
], ids=["christmas-2009", "christmas-2010"])
def test_christmas_is_one_group_alert(pipeline: Any, retail_csv: Path, first: tuple[int, ...],
                                      reopening: tuple[int, ...], last: tuple[int, ...]) -> None:
    from sources.online_retail import iter_events
    from stream.replay import replay

    t0, t1, reopen = _day(*first), _day(*last), _day(*reopening)
    events = [e for e in iter_events(retail_csv) if t0 <= e.ts < t1]
    pipeline.repartition(2)
    s = pipeline.settings
    summary = replay(events, s.kafka, s.events_topic, speed=None, total=len(events),
                     progress=False, envelope=100)
    assert summary.sent == len(events)
    pipeline.start_worker()

    def closures() -> list[dict[str, Any]]:
        return [a for a in _alerts(pipeline.redis)
                if a["scope"] == "group" and reopen - 14 * DAY <= a["since"] < reopen]

    # both partitions report it, in their own time: the merged alert is resolved once both did
    pipeline.wait_for(lambda: any(a["state"] == "resolved" and a["bucket"] == reopen
                                  and a["partitions"] == 2 for a in closures()), 300,
                      "the reopening's resolved closure, from both partitions")
    group = closures()
    assert len({a["id"] for a in group}) == 1, group
    assert group[0]["state"] == "open" and group[0]["kind"] == "closure"
    assert group[0]["since"] in (_day(2009, 12, 24), _day(2010, 12, 24))
    assert group[-1]["partitions"] == 2 and group[-1]["series_affected"] > 500
    # the day after the reopening is scored once the worker is past it: few series alerts
    pipeline.wait_for(lambda: pipeline.redis.xlen(ALERTS_STREAM) > 0 and max(
        a["bucket"] for a in _alerts(pipeline.redis)) >= reopen, 60, "the reopening scored")
    opened = [a for a in _alerts(pipeline.redis)
              if a["scope"] == "series" and a["state"] == "open" and a["since"] == reopen]
    sold = len({e.series for e in events if reopen <= e.ts < reopen + DAY})
    assert len(opened) <= max(10, sold // 20), (len(opened), sold)  # at most 5%, not a wall


def test_the_latest_message_of_only_the_newest_resolved_alerts_is_kept(
        local_redis: RedisProcess) -> None:
    """The latest JSON of every alert ever raised was kept (a soak: 183 more per 100k
    events); an open alert is always kept, a resolved one until newer resolved ones pass the
    count, with its acknowledgement."""
    from contracts.wire import ALERTS_RESOLVED

    def alert(aid: str, n: int, state: str) -> dict[str, Any]:
        return {"id": aid, "event_id": f"{aid}:{n}", "series": aid, "kind": "spike",
                "since": n, "state": state}

    r = redis.Redis.from_url(local_redis.url)
    r.hset(ALERTS_ACKS, "a0", json.dumps({"id": "a0", "by": "op", "at": 1}))

    async def write() -> None:
        sink = RedisSink(local_redis.url)
        sink.resolved_kept = 3
        try:
            await sink.write_alerts([alert("open", 0, "open")])
            for i in range(6):
                await sink.write_alerts([alert(f"a{i}", 1, "open")])
                await sink.write_alerts([alert(f"a{i}", 2, "resolved")])
            await sink.write_alerts([alert("a5", 3, "updated")])  # back: not resolved now
        finally:
            await sink.redis.aclose()

    asyncio.run(write())
    assert sorted(k.decode() for k in r.hkeys(ALERTS_STATE)) == ["a3", "a4", "a5", "open"]
    assert [m.decode() for m in r.zrange(ALERTS_RESOLVED, 0, -1)] == ["a3", "a4"]
    assert not r.hexists(ALERTS_ACKS, "a0")  # its ack went with it
    assert len(_alerts(r)) == 14  # the stream keeps every message (it is capped on its own)
