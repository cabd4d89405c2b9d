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
