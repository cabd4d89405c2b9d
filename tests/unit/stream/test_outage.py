"""Redis gone against Redis refusing writes: how often the worker tries again and logs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import stream.sink
from stream.outage import MAX_BACKOFF_S, Outage
from stream.sink import RedisSink


def test_a_redis_that_is_gone_is_asked_again_at_every_tick() -> None:
    o = Outage()
    o.failed("ConnectionError", now=0.0)
    assert o.down and all(o.may_retry(now=t) for t in (0.5, 1.0, 30.0))
    o.failed("ConnectionError", now=31.0)  # the health check fails too: still the same outage
    assert o.since == 0.0 and o.answered(now=40.0) == "redis answers again after 40.0 s"
    assert not o.down and o.wrote(now=40.1) is None  # a plain outage: nothing more to say


def test_a_failure_long_after_redis_answered_is_a_new_outage_not_a_refusal() -> None:
    o = Outage()
    o.failed("ConnectionError", now=0.0)
    o.answered(now=1.0)
    assert o.failed("ConnectionError", now=100.0) is not None  # logged as a new outage
    assert o.backoff == 0.0 and o.may_retry(now=100.5)


class _Refusing:
    """A Redis at maxmemory: the health check answers, every write fails."""

    async def info(self, section: str) -> dict[str, str]:
        return {"run_id": "r1"}

    async def expire(self, key: str, ttl: int) -> int:
        return 1

    async def set(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("OOM command not allowed when used memory > 'maxmemory'")


def test_a_redis_that_refuses_writes_is_tried_less_and_less_often_and_logged_once_a_minute(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """One ops tick a second for ten minutes: the republish used to run (and log "back" and
    "unavailable") every second."""
    clock = [0.0]
    monkeypatch.setattr(stream.sink.time, "time", lambda: clock[0])
    sink = RedisSink("redis://127.0.0.1:1/0")  # never connected
    sink.redis = _Refusing()  # type: ignore[assignment]
    tries = 0

    async def tick() -> None:
        nonlocal tries
        try:
            if await sink.needs_republish():
                tries += 1
                await sink.republish([], None)
        except RuntimeError as exc:
            sink.mark_stale(exc)

    caplog.set_level(logging.WARNING, logger="salescast.worker")
    sink.mark_stale(RuntimeError("OOM"))  # a batch's write failed first
    for second in range(600):
        clock[0] = float(second)
        asyncio.run(tick())
    assert sink.down and sink.stale
    assert sink.outage.backoff == MAX_BACKOFF_S
    assert 8 <= tries <= 16  # waits of 2, 4, ..., 60 s, then every 60 s
    lines = [r.getMessage() for r in caplog.records]
    assert 8 <= len(lines) <= 16, lines  # the first outage, then about once a minute
    assert "still refuses writes" in lines[-1]


def test_writes_that_go_through_end_the_refusal_and_say_so(
        caplog: pytest.LogCaptureFixture) -> None:
    o = Outage()
    o.failed("OOM", now=0.0)
    o.answered(now=1.0)
    o.failed("OOM", now=1.1)
    assert not o.may_retry(now=2.0) and o.may_retry(now=3.1)
    o.answered(now=3.1)
    caplog.set_level(logging.WARNING, logger="salescast.worker")
    assert o.wrote(now=3.2) == "redis takes writes again after 3.2 s (1 failed try)"
    assert o.backoff == 0.0 and caplog.records[-1].getMessage().startswith("redis takes")
    o.failed("ConnectionError", now=500.0)  # a later outage starts afresh
    assert o.may_retry(now=500.5)
