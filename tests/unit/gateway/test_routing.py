"""Routing of Redis messages to channels, the feed's health and backoff, and the catch-up
after a Redis outage, without sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from contracts.wire import ALERTS_CHANNEL, OPS_CHANNEL, UPDATES_CHANNEL, series_hash
from gateway.fanout import Fanout
from gateway.feed import Backoff, Health
from gateway.protocol import Session, SnapshotRequest
from gateway.routing import route
from gateway.server import Gateway
from gateway.store import Store


def _live(series: str, version: int) -> str:
    return json.dumps({"series": series, "version": version, "events": version,
                       "event_ts": 1.0e9 + version, "open": {"t": 0, "qty": 1.0, "events": 1},
                       "kind": "live", "at": 1.0})


def _close(series: str, version: int) -> str:
    body = json.loads(_live(series, version))
    body.update(kind="forecast", bucket_seconds=86400, forecast={"yhat": [1.0]},
                actuals=[[0, 2.0]])
    return json.dumps(body)


def test_a_bucket_close_reaches_actuals_subscribers_with_its_live_part() -> None:
    forecasts, actuals = route(UPDATES_CHANNEL, _close("A", 7))
    assert (forecasts.channel, actuals.channel) == ("forecasts", "actuals")
    full = json.loads(forecasts.frame)
    assert full["data"]["forecast"] == {"yhat": [1.0]} and full["version"] == 7
    frame = json.loads(actuals.frame)
    assert frame == {"type": "update", "channel": "actuals", "series": "A", "version": 7,
                     "data": {"series": "A", "version": 7, "events": 7,
                              "event_ts": 1.0e9 + 7, "open": {"t": 0, "qty": 1.0, "events": 1},
                              "bucket_seconds": 86400, "at": 1.0, "kind": "live"}}
    assert actuals.slot != forecasts.slot


def test_live_alert_and_ops_messages() -> None:
    (live,) = route(UPDATES_CHANNEL, _live("A", 3))
    assert live.channel == "actuals" and json.loads(live.frame)["data"]["version"] == 3
    (alert,) = route(ALERTS_CHANNEL, json.dumps({"id": "x1", "series": "A", "sid": "5-0"}))
    assert alert.channel == "alerts" and json.loads(alert.frame)["sid"] == "5-0"
    (ops,) = route(OPS_CHANNEL, '{"t": 1}')
    assert ops.channel == "ops" and ops.series is None
    for source, data in [(UPDATES_CHANNEL, "[1]"), (UPDATES_CHANNEL, "{}"),
                         (UPDATES_CHANNEL, "nope"), ("elsewhere", "{}")]:
        with pytest.raises((ValueError, KeyError, TypeError)):
            route(source, data)


def test_an_actuals_only_subscriber_sees_every_version() -> None:
    """Issue 10 item 7: versions written by bucket closes went to forecasts only, so an
    actuals subscriber that resumed could stay behind the stored version forever."""
    sessions = {"actuals": Session(), "forecasts": Session(), "resumed": Session()}
    sessions["actuals"].receive('{"type": "subscribe", "channel": "actuals", "pattern": "*"}')
    sessions["forecasts"].receive('{"type": "subscribe", "channel": "forecasts", '
                                  '"series": "A"}')
    sessions["resumed"].receive('{"type": "subscribe", "channel": "actuals", "series": "A", '
                                '"since": 2}')
    fanout: Fanout[str] = Fanout(lambda c, ch, s: sessions[c].wants(ch, s))
    queues = {name: fanout.add(name) for name in sessions}
    seen: dict[str, list[int]] = {name: [] for name in sessions}
    messages = [_live("A", 1), _live("A", 2), _close("A", 3), _live("A", 4), _close("A", 5)]
    for data in messages:
        for r in route(UPDATES_CHANNEL, data):
            direct, behind = fanout.publish(r.channel, r.series, r.frame, r.slot)
            assert not direct and not behind
        for name, queue in queues.items():
            seen[name] += [json.loads(f)["version"] for f in queue.drain()]
    assert seen["actuals"] == [1, 2, 3, 4, 5]
    assert seen["resumed"] == [1, 2, 3, 4, 5]
    assert seen["forecasts"] == [3, 5]


class _Conn:
    transport = None  # never writable: every frame is queued


def test_gateway_route_feeds_queues_metrics_and_the_alert_resume_point() -> None:
    gw = Gateway("redis://127.0.0.1:1/0", "127.0.0.1", 0)
    conn = _Conn()
    session = Session()
    session.receive('{"type": "subscribe", "channel": "actuals", "series": "A"}')
    gw.sessions[conn] = session  # type: ignore[index]
    queue = gw.clients.fanout.add(conn)  # type: ignore[arg-type]
    gw.delivery.deliver(UPDATES_CHANNEL, _close("A", 9))
    gw.delivery.deliver(ALERTS_CHANNEL, json.dumps({"id": "x1", "series": "A", "sid": "7-0"}))
    gw.delivery.deliver(OPS_CHANNEL, '{"t": 5.0}')
    assert [json.loads(f)["version"] for f in queue.drain()] == [9]
    assert gw.delivery.last_alert_sid == "7-0" and gw.metrics.ops == {"t": 5.0}
    assert gw.metrics.routed.labels("actuals")._value.get() == 1
    gw.delivery.lost()
    gw.delivery.deliver(ALERTS_CHANNEL, json.dumps({"id": "x2", "series": "A", "sid": "8-0"}))
    assert gw.delivery.alerts_since == "7-0"  # catch-up resumes after the last alert before the gap


def test_resync_requests_cover_every_subscription() -> None:
    s = Session()
    for frame in ('{"type": "subscribe", "channel": "forecasts", "series": "A", "since": 4}',
                  '{"type": "subscribe", "channel": "actuals", "series": "A"}',
                  '{"type": "subscribe", "channel": "actuals", "pattern": "B*"}',
                  '{"type": "subscribe", "channel": "alerts", "series": "A"}'):
        s.receive(frame)
    assert s.resync_requests("9-0") == [
        SnapshotRequest("A", None, "forecasts", None),  # no resume point: always a snapshot
        SnapshotRequest("A", None, "actuals", None),
        SnapshotRequest(None, "B*", "actuals", None),
        SnapshotRequest("A", None, "alerts", "9-0"),
    ]
    assert s.resync_requests(None)[-1] == SnapshotRequest("A", None, "alerts", None)
    assert Session(secret="k").resync_requests() == []  # not authenticated: nothing


class _FakeRedis:
    """Just the reads of a series snapshot, counting them."""

    def __init__(self) -> None:
        self.reads = 0

    async def hmget(self, key: str, fields: list[str]) -> list[Any]:
        self.reads += 1
        await asyncio.sleep(0)
        name = key.removeprefix(series_hash(""))
        return [json.dumps({"series": name, "version": 12}), None]


def test_catch_up_snapshots_read_each_series_once() -> None:
    fake = _FakeRedis()
    store = Store(fake).shared()  # type: ignore[arg-type]
    sessions = [Session() for _ in range(50)]
    for s in sessions:
        s.receive('{"type": "subscribe", "channel": "actuals", "series": "A"}')

    async def frames(session: Session) -> list[dict]:
        return [json.loads(f) for r in session.resync_requests()
                async for f in store.snapshot_frames(session, r)]

    async def main() -> list[list[dict]]:
        return list(await asyncio.gather(*(frames(s) for s in sessions)))

    results = asyncio.run(main())
    assert fake.reads == 1
    assert all(r == [{"type": "snapshot", "channel": "actuals", "series": "A", "version": 12,
                      "data": {"series": "A", "version": 12}}] for r in results)


def test_a_resume_gets_the_snapshot_unless_it_has_that_very_version() -> None:
    """``since`` ahead of the stored version (the broker and Redis were started afresh, and
    versions are Kafka offsets) is not a version the client has: it gets the snapshot."""
    store = Store(_FakeRedis())  # type: ignore[arg-type]

    async def versions(since: int) -> list[int]:
        s = Session()
        s.receive('{"type": "subscribe", "channel": "actuals", "series": "A"}')
        return [json.loads(f)["version"] async for f in store.snapshot_frames(
            s, SnapshotRequest("A", None, "actuals", since))]

    assert [asyncio.run(versions(v)) for v in (11, 12, 40_000)] == [[12], [], [12]]


def test_health_goes_down_once_and_up_again() -> None:
    t = [100.0]
    h = Health(clock=lambda: t[0])
    assert h.report()[0] == 503 and h.report()[1]["reason"] == "not subscribed yet"
    h.listener(True)
    assert h.report() == (200, {"status": "ok", "redis": "up"})
    t[0] = 200.0
    h.listener(False, "ConnectionError: refused")
    t[0] = 203.0
    h.ping(False, "later failure")  # the first reason and time stay
    status, body = h.report()
    assert status == 503 and body["reason"] == "ConnectionError: refused"
    assert body["down_for_s"] == 3.0 and body["redis"] == "down since 1970-01-01T00:03:20Z"
    h.listener(True)  # resubscribed: a confirmed subscription is an answer
    assert h.ok and h.report()[0] == 200
    h.ping(False)
    assert h.report()[0] == 503


def test_backoff_is_bounded() -> None:
    b = Backoff(0.1, 2.0)
    delays = [b.next() for _ in range(20)]
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6] and max(delays) == 2.0
    assert sum(delays) < 40


def test_an_update_is_not_written_to_a_socket_already_lost(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A client gone without a close (a reset): its transport is closing until websockets
    hears of it, and asyncio logged "socket.send() raised exception." for each write (1,145
    lines in a soak's gateway log)."""
    from types import SimpleNamespace

    import gateway.delivery as delivery

    sent: list[list[Any]] = []
    monkeypatch.setattr(delivery, "broadcast", lambda conns, frame: sent.append(list(conns)))
    gone = SimpleNamespace(transport=SimpleNamespace(is_closing=lambda: True))
    here = SimpleNamespace(transport=SimpleNamespace(is_closing=lambda: False))
    fanout = SimpleNamespace(publish=lambda *a: ([gone, here], []))
    clients = SimpleNamespace(fanout=fanout, drop_behind=lambda behind: None)
    metrics = SimpleNamespace(routed=SimpleNamespace(labels=lambda c: SimpleNamespace(
        inc=lambda: None)), sent=SimpleNamespace(inc=lambda n: None),
        observe_push=lambda s: None)
    d = delivery.Delivery(clients, None, metrics)  # type: ignore[arg-type]
    d.deliver(UPDATES_CHANNEL, _close("A", 9))
    assert sent and all(conns == [here] for conns in sent)
