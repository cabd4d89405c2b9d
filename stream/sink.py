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

__all__ = ["SeriesWrite", "RedisSink", "merge_snapshot"]

# KEYS[1] series hash, KEYS[2] index
# ARGV: version, live JSON, score, series, channel, update JSON, forecast part JSON or ''
_WRITE_LUA = """
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
local v = tonumber(ARGV[1])
if v <= cur then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'o', ARGV[2])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'f', ARGV[7]) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""


@dataclass(frozen=True)
class SeriesWrite:
    """One series' new state.

    ``live`` (version, counts, open bucket) changes with every event and is small;
    ``forecast`` (closed actuals, forecast, model) only when a bucket closed, else ``None``.
    A snapshot is the two merged; ``update`` is what subscribers get.
    """

    series: str
    version: int
    event_ts: float
    live: dict[str, Any]
    forecast: dict[str, Any] | None
    update: dict[str, Any]


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def merge_snapshot(live: str | bytes | None,
                   forecast: str | bytes | None) -> dict[str, Any] | None:
    """The snapshot of a series from its two stored parts.

    >>> merge_snapshot('{"series":"A","version":3}', '{"forecast":null,"actuals":[]}')
    {'forecast': None, 'actuals': [], 'series': 'A', 'version': 3}
    """
    if live is None:
        return None
    data: dict[str, Any] = {"forecast": None, "actuals": []}
    if forecast is not None:
        data.update(json.loads(forecast))
    data.update(json.loads(live))
    return data


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
                    _dumps(w.live),
                    w.event_ts,
                    w.series,
                    UPDATES_CHANNEL,
                    _dumps(w.update),
                    "" if w.forecast is None else _dumps(w.forecast),
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
