"""The gateway protocol without sockets: every bad frame is an error frame, never a crash."""

from __future__ import annotations

import json
import random

import pytest

from gateway.fanout import Fanout, LatestQueue
from gateway.limits import RateLimit
from gateway.messages import ERROR_CODES
from gateway.protocol import (
    ListRequest,
    MoversRequest,
    Reply,
    Session,
    SnapshotRequest,
)


def _error(outputs: list) -> dict:
    assert len(outputs) == 1 and isinstance(outputs[0], Reply)
    frame = json.loads(outputs[0].text)
    assert frame["type"] == "error" and frame["code"] in ERROR_CODES and frame["message"]
    return frame


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_json"),
        (b"\xff\xfe", "bad_frame"),  # a binary frame, read as JSON before
        (b'{"type": "ping"}', "bad_frame"),
        ('{"type": "ping", "id": "a\\u001b[31m"}', "bad_frame"),  # echoed: no escapes
        ('{"type": "ping", "id": ' + "9" * 4000 + "}", "bad_frame"),
        ('{"type": "list", "pattern": "a\\u0000"}', "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ('{"type": 3}', "unknown_type"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "subscribe"}', "bad_frame"),
        ('{"type": "subscribe", "series": "A", "pattern": "B*"}', "bad_frame"),
        ('{"type": "subscribe", "series": ""}', "bad_frame"),
        ('{"type": "subscribe", "series": 7}', "bad_frame"),
        ('{"type": "subscribe", "series": "' + "x" * 201 + '"}', "bad_frame"),
        ('{"type": "subscribe", "series": "a\\u0000b"}', "bad_frame"),
        ('{"type": "subscribe", "series": "a\\u2028b"}', "bad_frame"),  # a line separator
        ('{"type": "ping", "id": true}', "bad_frame"),
        ('{"type": "ping", "id": {"a": 1}}', "bad_frame"),
        ('{"type": "list", "limit": 0}', "bad_frame"),
        ('{"type": "list", "limit": "10"}', "bad_frame"),
        ('{"type": "ping", "pad": "' + "x" * 5000 + '"}', "too_large"),
        # 4 KiB are bytes: 3000 two-byte characters are 6000 bytes
        ('{"type": "ping", "pad": "' + "\u00e9" * 3000 + '"}', "too_large"),
        # alert stream ids Redis cannot read would come back as `unavailable` (retry forever)
        ('{"type": "subscribe", "channel": "alerts", "since": "-"}', "bad_frame"),
        ('{"type": "subscribe", "channel": "alerts", "since": "1-2-3"}', "bad_frame"),
        ('{"type": "subscribe", "channel": "alerts", "since": "1-"}', "bad_frame"),
        ('{"type": "subscribe", "channel": "alerts", "since": "\u0661-0"}', "bad_frame"),
        ('{"type": "subscribe", "channel": "alerts", "since": "18446744073709551616-0"}',
         "bad_frame"),
    ],
)
def test_bad_frames_get_typed_error_frames(text: str | bytes, code: str) -> None:
    out = Session(max_frame=4096).receive(text)
    assert _error(out)["code"] == code
    # the server counts error codes from the reply itself, without parsing its text
    assert isinstance(out[0], Reply) and out[0].error == code


@pytest.mark.parametrize(
    ("text", "fid"),
    [
        ('{"type": "subscribe", "channel": "nope", "series": "A", "id": 5}', 5),
        ('{"type": "subscribe", "id": "s1"}', "s1"),
        ('{"type": "dance", "id": "d"}', "d"),
        ('{"type": "list", "limit": 0, "id": 7}', 7),
        ('{"type": "ack", "id": 9}', 9),  # not an alert id, still the frame's id
        ('{"type": "ack", "id": "a1", "note": "two\\nlines"}', "a1"),
        ('{"type": "ping", "id": true}', None),  # an id that is not one is not echoed
        ('{"type": "dance", "id": "' + "x" * 65 + '"}', None),
    ],
)
def test_error_replies_to_bad_frames_echo_their_id(text: str, fid: str | int | None) -> None:
    frame = _error(Session().receive(text))
    assert frame.get("id") == fid


def test_optional_fields_may_be_null() -> None:
    s = Session()
    out = s.receive('{"type": "subscribe", "channel": null, "series": "A", "pattern": null, '
                    '"since": null, "id": null}')
    assert out[1] == SnapshotRequest("A", None, "forecasts")
    assert s.receive('{"type": "list", "pattern": null, "limit": null}') == [
        ListRequest("*", 100, None)]
    assert s.receive('{"type": "movers", "limit": null}') == [MoversRequest(20, None)]


def test_series_named_in_any_script_can_be_subscribed() -> None:
    # the names the worker accepts (contracts.events.is_text): emoji sequences, no-break spaces
    for name in ("\U0001f469\u200d\U0001f4bb", "United\u00a0Kingdom", "\u0645\u06cc\u200c"):
        out = Session().receive(json.dumps({"type": "subscribe", "series": name}))
        assert out[1] == SnapshotRequest(name, None, "forecasts")


def test_a_subscription_refused_at_the_limit_delivers_nothing() -> None:
    s = Session(max_subscriptions=1)
    s.receive('{"type": "subscribe", "series": "A"}')
    for frame in ({"channel": "ops"}, {"channel": "actuals", "series": "A"}):
        text = json.dumps({"type": "subscribe", **frame})
        assert _error(s.receive(text))["code"] == "too_many_subscriptions"
    assert not s.wants("ops") and not s.wants("actuals", "A")
    assert s.resync_requests() == [SnapshotRequest("A", None, "forecasts")]


def test_replies_that_are_not_errors_carry_no_error_code() -> None:
    s = Session()
    out = s.receive('{"type": "subscribe", "series": "A"}') + s.receive('{"type": "ping"}')
    replies = [o for o in out if isinstance(o, Reply)]
    assert len(replies) == 2 and all(r.error is None for r in replies)


def test_subscribe_acknowledges_and_requests_a_snapshot() -> None:
    s = Session()
    out = s.receive('{"type": "subscribe", "pattern": "851*", "id": "x"}')
    assert json.loads(out[0].text) == {"type": "subscribed", "channel": "forecasts",
                                       "pattern": "851*", "id": "x"}
    assert out[1] == SnapshotRequest(None, "851*") and out[1].id == "x"  # for an error reply
    assert s.wants("forecasts", "85123A") and not s.wants("forecasts", "22423")
    assert not s.wants("actuals", "85123A")
    s.receive('{"type": "unsubscribe", "pattern": "851*"}')
    assert not s.wants("forecasts", "85123A")


def test_subscription_limit_is_an_error_frame_and_keeps_the_rest() -> None:
    s = Session(max_subscriptions=2)
    s.receive('{"type": "subscribe", "series": "A"}')
    s.receive('{"type": "subscribe", "series": "B"}')
    frame = _error(s.receive('{"type": "subscribe", "series": "C"}'))
    assert frame["code"] == "too_many_subscriptions"
    assert s.wants("forecasts", "A") and s.wants("forecasts", "B")
    assert not s.wants("forecasts", "C")
    again = s.receive('{"type": "subscribe", "series": "A"}')  # re-subscribe is fine, and
    assert [json.loads(o.text)["type"] for o in again] == ["subscribed"]  # no 2nd snapshot
    assert len(s.receive('{"type": "subscribe", "series": "A", "since": 4}')) == 2  # resume
    s.snapshot_failed(SnapshotRequest("A", None))  # Redis was down: "unavailable; retry"
    assert len(s.receive('{"type": "subscribe", "series": "A"}')) == 2  # the retry gets one
    assert len(s.receive('{"type": "subscribe", "series": "A"}')) == 1  # and only that one


def test_ping_and_list() -> None:
    s = Session()
    assert json.loads(s.receive('{"type": "ping", "id": 5}')[0].text) == {"type": "pong", "id": 5}
    listed = s.receive('{"type": "list", "pattern": "2*", "limit": 3}')
    assert listed == [ListRequest("2*", 3, None)]


def test_fuzzed_frames_never_raise() -> None:
    rng = random.Random(0)
    pieces = ['{"type":', '"subscribe"', '"series":', '"A"', "}", "[", "]", ",", "null", "1e999",
              '"pattern"', '"*"', '"id"', "true", "\\", '"', "{"]
    s = Session(max_frame=256, max_subscriptions=3, rate=RateLimit(rate=1e9, burst=1e9))
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for out in s.receive(text):
            assert isinstance(out, Reply | SnapshotRequest | ListRequest | MoversRequest)


def test_slow_client_queue_keeps_latest_per_series_and_flags_overflow() -> None:
    fan: Fanout[str] = Fanout(lambda client, channel, series: True, max_pending=2)
    fan.add("fast")
    slow = fan.add("slow")
    assert fan.publish("forecasts", "A", "a1", "A") == ([], [])
    assert fan.publish("forecasts", "A", "a2", "A") == ([], [])
    assert fan.publish("forecasts", "B", "b1", "B") == ([], [])
    assert slow.drain() == ["a2", "b1"] and slow.replaced == 1
    fan.publish("forecasts", "A", "x", "A")
    fan.publish("forecasts", "B", "x", "B")
    assert fan.publish("forecasts", "C", "x", "C") == ([], ["fast", "slow"])  # too far behind


def test_idle_writable_clients_get_frames_directly_and_busy_ones_queue() -> None:
    writable = {"a": True, "b": False}
    fan: Fanout[str] = Fanout(lambda c, ch, s: ch == "forecasts", max_pending=5,
                              writable=lambda c: writable[c])
    qa, qb = fan.add("a"), fan.add("b")
    assert fan.publish("forecasts", "A", "f1", "A") == (["a"], [])
    assert fan.publish("actuals", "A", "x", "A") == ([], [])  # nobody wants it
    qa.busy = True  # a's writer is mid-batch: keep order, queue
    assert fan.publish("forecasts", "A", "f2", "A") == ([], [])
    assert qa.drain() == ["f2"]
    assert qb.drain() == ["f2"] and qb.replaced == 1  # f1 was still pending: replaced
    with pytest.raises(ValueError):
        LatestQueue(0)


def test_pattern_snapshots_are_rate_limited_single_series_are_not() -> None:
    """Subscribing and unsubscribing ``*`` 18 times a second sent up to 200 snapshots each
    time: 49 MB out for 8.5 KB in, one client, within the frame rate."""

    t = [0.0]
    s = Session(rate=RateLimit(rate=1000, burst=1000),
                snapshots=RateLimit(rate=0.5, burst=10, clock=lambda: t[0]))
    sub = '{"type": "subscribe", "pattern": "*", "id": %d}'
    unsub = '{"type": "unsubscribe", "pattern": "*"}'
    codes = []
    for i in range(12):
        out = s.receive(sub % i)
        codes.append(json.loads(out[0].text).get("code", "ok"))
        s.receive(unsub)
    assert codes == ["ok"] * 10 + ["rate_limited"] * 2
    assert len(s.receive('{"type": "subscribe", "series": "A"}')) == 2  # a series: a snapshot
    t[0] = 2.0  # one more pattern snapshot every 2 s
    assert isinstance(s.receive(sub % 99)[1], SnapshotRequest)


def test_hello_tells_the_shop_s_clock_from_the_settings() -> None:
    """Bucket times are epoch seconds; a client needs the shop's clock (SALESCAST_UTC_OFFSET)
    to show a New York day as the 4th of July, not as 05:00 UTC on it."""
    from config import load_settings
    from gateway.server import Gateway

    assert json.loads(Session().hello("s")) == {"type": "hello", "protocol": 1, "server": "s",
                                                "auth": "none", "utc_offset": 0}
    gw = Gateway.from_settings(load_settings({"REDIS_URL": "redis://127.0.0.1:1",
                                              "SALESCAST_UTC_OFFSET": "-05:00"}))
    assert json.loads(gw._new_session().hello("s"))["utc_offset"] == -18_000


def test_a_gateway_without_a_clock_of_its_own_tells_the_workers(
        caplog: pytest.LogCaptureFixture) -> None:
    """A probe started the gateway without SALESCAST_UTC_OFFSET beside a Tokyo shop's
    workers: its hello said UTC, and `salescast watch` dated each open day a day early. The
    workers publish their clock; a gateway given none tells theirs, one given another warns."""
    import asyncio
    import logging
    from types import SimpleNamespace

    from config import load_settings
    from gateway.server import Gateway

    async def tokyo(now: float) -> set[int]:
        return {32_400}

    follows = Gateway.from_settings(load_settings({"REDIS_URL": "redis://127.0.0.1:1"}))
    follows.store = SimpleNamespace(worker_clocks=tokyo)  # type: ignore[assignment]
    asyncio.run(follows.follow_clock())
    assert json.loads(follows._new_session().hello("s"))["utc_offset"] == 32_400
    own = Gateway.from_settings(load_settings({"REDIS_URL": "redis://127.0.0.1:1",
                                               "SALESCAST_UTC_OFFSET": "0"}))
    own.store = SimpleNamespace(worker_clocks=tokyo)  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="salescast.gateway"):
        asyncio.run(own.follow_clock())
        asyncio.run(own.follow_clock())  # said once
    assert json.loads(own._new_session().hello("s"))["utc_offset"] == 0
    assert [r.getMessage()[:76] for r in caplog.records] == [
        "the workers lay their buckets on UTC+09:00 but this gateway's SALESCAST_UTC_"]
