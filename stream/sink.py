"""The Redis sink: idempotent, versioned writes of series snapshots plus a pub/sub update.

A write carries a version (the source offset that produced the state). A Lua script applies
it only when it is newer than the stored one, so redelivered events after a worker restart
(at-least-once) neither roll a snapshot back nor publish a duplicate update.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from stream.keys import INDEX_KEY, UPDATES_CHANNEL, WORKER_OPS_KEY, series_key

__all__ = ["SeriesWrite", "RedisSink"]

# KEYS[1] series hash, KEYS[2] index; ARGV: version, snapshot, score, series, channel, update
_WRITE_LUA = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
local v = tonumber(ARGV[1])
if v <= cur then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""


@dataclass(frozen=True)
class SeriesWrite:
    """One series' new state: the full snapshot and the (smaller) update to publish."""

    series: str
    version: int
    event_ts: float
    snapshot: dict[str, Any]
    update: dict[str, Any]


class RedisSink:
    """Writes a batch of series states to Redis in one pipelined round trip."""

    def __init__(self, url: str) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self._script = self.redis.register_script(_WRITE_LUA)

    async def write(self, writes: Iterable[SeriesWrite]) -> int:
        """Apply the writes; returns how many were newer than what Redis held."""
        pipe = self.redis.pipeline(transaction=False)
        n = 0
        for w in writes:
            n += 1
            await self._script(
                keys=[series_key(w.series), INDEX_KEY],
                args=[
                    w.version,
                    json.dumps(w.snapshot, separators=(",", ":")),
                    w.event_ts,
                    w.series,
                    UPDATES_CHANNEL,
                    json.dumps(w.update, separators=(",", ":")),
                ],
                client=pipe,
            )
        if not n:
            return 0
        results = await pipe.execute()
        return sum(int(r) for r in results)

    async def write_ops(self, figures: dict[str, float | int | str]) -> None:
        mapping: dict[Any, Any] = dict(figures)
        await self.redis.hset(WORKER_OPS_KEY, mapping=mapping)

    async def close(self) -> None:
        await self.redis.aclose()
