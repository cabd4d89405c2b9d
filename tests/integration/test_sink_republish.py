"""When a worker republishes to Redis, on a real ``redis-server`` of the test's own.

Found by a fault probe (two workers, the audit as the oracle):

* after ``FLUSHDB``, the first worker to republish set the one shared marker, and the other
  saw it and never republished its partitions (1,340 series missing for good);
* a flush during a republish was hidden by the marker set at its end;
* a worker that took over the partitions of one stopped during a Redis outage never
  republished them: what that worker wrote while Redis was down was lost.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from infra.redis_server import RedisProcess
from stream.sink import RedisSink

pytestmark = pytest.mark.integration


class _Processor:
    """What a republish asks of the processor, for states that are plain names."""

    def __init__(self, on_forecasts: Any = None) -> None:
        self.on_forecasts = on_forecasts

    def forecasts_of(self, chunk: list[Any]) -> None:
        if self.on_forecasts is not None:
            self.on_forecasts()


def _state() -> Any:
    """A state with nothing written yet: the republish looks at it and writes nothing."""
    return SimpleNamespace(written=-1, positions={}, alerts=[], mover=None, reconciled=None)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_each_worker_sees_a_flush_and_republishes(local_redis: RedisProcess) -> None:
    asked: dict[str, list[set[int]]] = {"a": [], "b": []}

    async def go() -> list[int]:
        sinks = {w: RedisSink(local_redis.url, w) for w in asked}
        try:
            def of(w: str) -> Any:
                return lambda parts: asked[w].append(set(parts)) or []
            for w, sink in sinks.items():  # both start: a full republish each
                await sink.catch_up({0, 1} if w == "a" else {2, 3}, of(w), _Processor())
            assert not any(s.stale for s in sinks.values())
            redis.Redis.from_url(local_redis.url).flushdb()
            for w, sink in sinks.items():
                await sink.catch_up({0, 1} if w == "a" else {2, 3}, of(w), _Processor())
            return [len(v) for v in asked.values()]
        finally:
            for sink in sinks.values():
                await sink.redis.aclose()

    assert _run(go()) == [2, 2]  # b republished after the flush too, not only a
    assert asked["b"] == [{2, 3}, {2, 3}]


def test_a_flush_during_a_republish_leaves_the_sink_stale(local_redis: RedisProcess) -> None:
    flush = redis.Redis.from_url(local_redis.url).flushdb

    async def go() -> tuple[bool, bool]:
        sink = RedisSink(local_redis.url, "w")
        try:
            await sink.catch_up({0}, lambda parts: [_state()], _Processor(flush))
            during = sink.stale
            await sink.catch_up({0}, lambda parts: [_state()], _Processor())
            return during, sink.stale
        finally:
            await sink.redis.aclose()

    assert _run(go()) == (True, False)  # once more at the next tick, then done


def test_partitions_taken_over_are_republished(local_redis: RedisProcess) -> None:
    asked: list[set[int]] = []

    async def go() -> None:
        sink = RedisSink(local_redis.url, "w")
        try:
            for held in ({0, 1}, {0, 1}, {0, 1, 4, 5}, {4, 5}):
                await sink.catch_up(held, lambda parts: asked.append(set(parts)) or [],
                                    _Processor())
        finally:
            await sink.redis.aclose()

    _run(go())
    assert asked == [{0, 1}, {4, 5}]  # the start; then only what it took over


def _write(series: str, version: int) -> Any:
    from contracts.wire import SeriesWrite

    live = {"series": series, "version": version}
    return SeriesWrite(series, version, 1.0e9, live, None, dict(live, kind="live"))


def _user_url(url: str, user: str) -> str:
    return url.replace("redis://", f"redis://{user}:pw@", 1)


def test_a_user_without_the_channels_rights_writes_nothing_and_says_why(
        local_redis: RedisProcess) -> None:
    """A probe's ACL user made without '&*' (Redis 7 gives no channel by default): the script
    wrote the hash, then its PUBLISH failed; every retry found the version written, so no
    update ever reached a client, and the audit said reconciled. The script checks the right
    to publish first now: the write fails whole (an alert's too), the sink's line says what
    was refused, and once the user may publish the same write goes through."""
    from contracts.wire import ALERTS_SEEN, ALERTS_STREAM, UPDATES_CHANNEL, series_hash
    from stream.sink import error_text

    admin = redis.Redis.from_url(local_redis.url)
    admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all")
    sub = admin.pubsub()
    sub.subscribe(UPDATES_CHANNEL)
    sub.get_message(timeout=1)

    async def go() -> tuple[str, bytes | None, int]:
        sink = RedisSink(_user_url(local_redis.url, "app"), "w")
        try:
            try:
                await sink.write([_write("S1", 5)])
                why = ""
            except Exception as exc:  # noqa: BLE001 - the agent marks the sink stale with it
                why = error_text(exc)
            before = admin.hget(series_hash("S1"), "v")
            alert = {"id": "S1:1:spike", "event_id": "S1:1:spike:open", "kind": "spike",
                     "since": 1, "series": "S1", "state": "open"}
            refused = ""
            try:
                await sink.write_alerts([alert])
            except Exception as exc:  # noqa: BLE001
                refused = error_text(exc)
            assert "may not publish to salescast:alerts" in refused, refused
            assert not admin.exists(ALERTS_SEEN) and not admin.exists(ALERTS_STREAM)
            admin.execute_command("ACL", "SETUSER", "app", "&*")
            return why, before, await sink.write([_write("S1", 5)])
        finally:
            await sink.redis.aclose()

    why, before, written = _run(go())
    assert why == f"NoPermissionError: this user may not publish to {UPDATES_CHANNEL}", why
    assert before is None  # nothing half written
    assert written == 1 and admin.hget(series_hash("S1"), "v") == b"5"
    message = sub.get_message(timeout=2)
    assert message is not None and b'"S1"' in message["data"]


def test_a_user_without_info_still_republishes_and_eviction_is_named(
        local_redis: RedisProcess, caplog: pytest.LogCaptureFixture) -> None:
    """'+@all -@dangerous' (a common ACL recipe) takes INFO away: the worker's health check
    failed, and it never wrote Redis. And a Redis that evicts keys at its limit is named."""
    admin = redis.Redis.from_url(local_redis.url)
    admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all",
                          "-@dangerous")
    admin.config_set("maxmemory", "512mb")
    admin.config_set("maxmemory-policy", "allkeys-lru")

    async def go() -> tuple[bool, bool]:
        limited = RedisSink(_user_url(local_redis.url, "app"), "w")
        full = RedisSink(local_redis.url, "w2")
        try:
            return await limited.needs_republish(), await full.needs_republish()
        finally:
            await limited.redis.aclose()
            await full.redis.aclose()

    with caplog.at_level("WARNING", logger="salescast.worker"):
        assert _run(go()) == (True, True)
    text = caplog.text
    assert "redis refuses INFO (NoPermissionError" in text and "+info" in text
    assert "maxmemory-policy allkeys-lru" in text


def test_a_worker_whose_redis_refuses_its_password_does_not_start(
        local_redis: RedisProcess) -> None:
    """A probe's wrong password: the worker logged an outage and went on without Redis for
    good, while the gateway and the audit refused the same URL at once. Now it refuses too;
    a Redis that does not answer is still an outage it starts through."""
    from config import load_settings
    from infra.kafka import free_port
    from salescast.cliutil import UserError, check_redis_user

    redis.Redis.from_url(local_redis.url).config_set("requirepass", "s3cret")
    port = local_redis.url.rsplit(":", 1)[1].split("/")[0]
    for url, refused in ((f"redis://:wrong@127.0.0.1:{port}/0", True),
                         (f"redis://127.0.0.1:{port}/0", True),  # none given
                         (f"redis://:s3cret@127.0.0.1:{port}/0", False),
                         (f"redis://127.0.0.1:{free_port()}/0", False)):  # down: an outage
        settings = load_settings({"REDIS_URL": url})
        if refused:
            with pytest.raises(UserError, match="refuses the worker's credentials"):
                check_redis_user(settings)
        else:
            check_redis_user(settings)


def test_two_databases_of_one_server_hear_only_their_own_updates(
        local_redis: RedisProcess) -> None:
    """Pub/sub is the whole server's: a gateway on database 2 pushed what a worker on
    database 1 wrote (two deployments on one Redis saw each other's series)."""
    from contracts.wire import UPDATES_CHANNEL
    from gateway.feed import RedisFeed

    base = local_redis.url.rsplit("/", 1)[0]  # redis://127.0.0.1:port
    heard: list[tuple[str, str]] = []

    async def go() -> None:
        one, two = RedisSink(f"{base}/1", "one"), RedisSink(f"{base}/2", "two")
        feed = RedisFeed(f"{base}/2", (UPDATES_CHANNEL,), lambda c, d: heard.append((c, d)))
        await feed.start()
        try:
            await one.write([_write("A", 1)])
            await two.write([_write("B", 1)])
            for _ in range(100):
                if heard:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # room for a stray message to come
        finally:
            await feed.stop()
            for sink in (one, two):
                await sink.redis.aclose()

    _run(go())
    assert [(c, json.loads(d)["series"]) for c, d in heard] == [(UPDATES_CHANNEL, "B")]
