"""What the gateway reads from Redis: series states, the series index, alerts, ops, movers;
and the one thing it writes, alert acknowledgements (:meth:`Store.write_ack`).

:class:`Store` turns a client's :class:`~gateway.protocol.SnapshotRequest` into the frames to
send (:meth:`Store.snapshot_frames`). After a Redis outage the gateway sends every client
fresh snapshots at once; a :meth:`Store.shared` view reads each key once for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis

from contracts.pubsub import db_of, in_db
from contracts.wire import (
    ALERT_FIELD,
    ALERTS_ACKS,
    ALERTS_CHANNEL,
    ALERTS_KEPT,
    ALERTS_STATE,
    ALERTS_STREAM,
    FORECAST_FIELD,
    INDEX_KEY,
    LIVE_FIELD,
    LIVE_FIELDS,
    MOVERS_INFO,
    MOVERS_KEY,
    OPS_LATEST,
    WORKER_TTL_S,
    WORKERS_INDEX,
    decode_alert,
    merge_snapshot,
    mover_item,
    ops_frame,
    series_hash,
    server_frame,
    snapshot_version,
    worker_ops_key,
)
from gateway.acks import AckWrite, ack_of
from gateway.auth import OPEN, Claims, matches
from gateway.protocol import Session, SnapshotRequest

__all__ = ["Store", "MAX_PATTERN_SNAPSHOTS", "ALERTS_SNAPSHOT"]

MAX_PATTERN_SNAPSHOTS = 200
MAX_SCANNED = 20_000  #: series a pattern is matched against, the most recently updated
SCAN_BATCH = 1000  #: members of a sorted set read at a time while scanning it
ALERTS_SNAPSHOT = 50
ALERTS_PAGE = 500  #: alerts read at a time going back for a scoped snapshot
MAX_ALERTS_SCANNED = 20_000  #: the most a scoped alerts snapshot reads (the stream keeps ~10k)
T = TypeVar("T")

# KEYS[1] acks hash, KEYS[2] alerts stream; ARGV: alert id, ack record, alert JSON, channel,
# max stream length. The alert JSON published carries its stream id as "sid", as the sink's.
_ACK_LUA = f"""
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local sid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', '{ALERT_FIELD}', ARGV[3])
local body = string.sub(ARGV[3], 1, -2) .. ',"sid":"' .. sid .. '"}}'
redis.call('PUBLISH', ARGV[4], body)
return sid
"""


class Store:
    """Reads of the gateway's Redis (``cache``: share each read between callers)."""

    def __init__(self, redis: aioredis.Redis, cache: dict[Any, asyncio.Future[Any]] | None = None
                 ) -> None:
        self.redis = redis
        self._cache = cache
        self._ack_script: Any = None

    async def worker_clocks(self, now: float) -> set[int]:
        """The clocks (``utc_offset``) the live workers publish with their figures."""
        names = await self.redis.zrangebyscore(WORKERS_INDEX, now - WORKER_TTL_S, "+inf")
        pipe = self.redis.pipeline(transaction=False)
        for name in names:  # (the gateway's client decodes its replies: str)
            pipe.hget(worker_ops_key(str(name)), "utc_offset")
        return {int(float(v)) for v in await pipe.execute() if v is not None}

    def shared(self) -> Store:
        """A view whose reads are made once and shared (for a burst of snapshots)."""
        return Store(self.redis, {})

    async def _once(self, key: Any, read: Callable[[], Awaitable[T]]) -> T:
        if self._cache is None:
            return await read()
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = asyncio.ensure_future(read())
        result: T = await asyncio.shield(found)
        return result

    async def ops_latest(self) -> str | None:
        async def read() -> str | None:
            value = await self.redis.get(OPS_LATEST)
            return None if value is None else str(value)
        return await self._once(("ops",), read)

    async def series_parts(self, name: str) -> tuple[Any, Any]:
        async def read() -> tuple[Any, Any]:
            live, part = await self.redis.hmget(series_hash(name), [LIVE_FIELD, FORECAST_FIELD])
            return live, part
        return await self._once(("series", name), read)

    async def _scan(self, key: str, limit: int, keep: Callable[[str], bool],
                    withscores: bool = False) -> list[Any]:
        """The first ``limit`` members of sorted set ``key`` (highest score first; with
        ``withscores``, ``(member, score)`` pairs) that ``keep`` takes, among its
        :data:`MAX_SCANNED` first: a filter that takes nothing must not make one small frame
        read the whole set."""
        found: list[Any] = []
        start = 0
        while len(found) < limit and start < MAX_SCANNED:
            got = await self.redis.zrevrange(key, start, start + SCAN_BATCH - 1,
                                             withscores=withscores)
            found.extend(m for m in got if keep(str(m[0] if withscores else m)))
            if len(got) < SCAN_BATCH:
                break
            start += SCAN_BATCH
        return found[:limit]

    async def match(self, pattern: str, limit: int, claims: Claims = OPEN) -> list[str]:
        """Series ids matching ``pattern`` that ``claims`` (a token's) may read, most recently
        updated first (:meth:`_scan`). The scope is applied while scanning: applied to the
        first matches after, it left a scoped token's ``list "*"`` empty where its own series
        were further down."""
        async def read() -> list[str]:
            return [str(n) for n in await self._scan(
                INDEX_KEY, limit, lambda n: matches(n, pattern) and claims.allows_series(n))]
        return await self._once(("match", pattern, limit, claims), read)

    async def alert_rows(self, since: str | None) -> list[Any]:
        """Alerts after stream id ``since`` (at most 1000), or the latest ones, oldest first."""
        async def read() -> list[Any]:
            if since is not None:
                return list(await self.redis.xrange(ALERTS_STREAM, f"({since}", "+",
                                                    count=1000) or [])
            return list(reversed(await self.redis.xrevrange(ALERTS_STREAM, "+", "-",
                                                            count=ALERTS_SNAPSHOT) or []))
        return await self._once(("alerts", since), read)

    async def acks(self, since: str | None, ids: list[str]) -> dict[str, Any]:
        """The acknowledgements of the alerts ``ids`` (those of :meth:`alert_rows` ``since``)."""
        async def read() -> dict[str, Any]:
            if not ids:
                return {}
            records = await self.redis.hmget(ALERTS_ACKS, ids)
            return {i: a for i, r in zip(ids, records, strict=True) if (a := ack_of(r))}
        return await self._once(("acks", since), read)

    async def alerts(self, session: Session, out: SnapshotRequest) -> list[dict[str, Any]]:
        """Recent alerts for an alerts subscription that the session may read (the
        :data:`ALERTS_SNAPSHOT` latest of them, or all after ``since``); every entry of an
        acknowledged alert carries its latest ``ack``."""
        since = out.since if isinstance(out.since, str) else None
        rows = await self.alert_rows(since)
        decoded = _decoded(rows)
        alerts = _theirs(decoded, session, out)
        oldest, scanned = (rows[0][0] if rows else None), len(rows)
        # a series' or a scope's alerts may be few among the stream's latest (acks of other
        # series add entries too): read further back for them, as far as MAX_ALERTS_SCANNED
        while (since is None and oldest is not None and len(alerts) < ALERTS_SNAPSHOT
               and scanned < MAX_ALERTS_SCANNED):
            page = list(reversed(await self.redis.xrevrange(
                ALERTS_STREAM, f"({oldest}", "-", count=ALERTS_PAGE) or []))
            oldest, scanned = (page[0][0] if page else None), scanned + len(page)
            alerts = _theirs(_decoded(page), session, out) + alerts
        alerts = alerts[-ALERTS_SNAPSHOT:] if since is None else alerts
        if alerts:  # (the acks of the shared rows are read once for every session)
            shared = sorted({str(a.get("id")) for a in decoded})
            acks = await self.acks(since, shared)
            if older := sorted({str(a.get("id")) for a in alerts} - set(shared)):
                records = await self.redis.hmget(ALERTS_ACKS, older)
                acks |= {i: a for i, r in zip(older, records, strict=True) if (a := ack_of(r))}
            for alert in alerts:
                if (ack := acks.get(str(alert.get("id")))) is not None:
                    alert["ack"] = ack
        return alerts

    async def alert_state(self, alert_id: str) -> str | None:
        """The latest JSON of alert ``alert_id`` (``None``: no such alert)."""
        value = await self.redis.hget(ALERTS_STATE, alert_id)
        return None if value is None else str(value)

    async def write_ack(self, alert_id: str, write: AckWrite) -> str:
        """Record an acknowledgement, add the ``acknowledged`` alert to the alerts stream and
        publish it, at once; returns its stream id."""
        if self._ack_script is None:
            self._ack_script = self.redis.register_script(_ACK_LUA)
        sid = await self._ack_script(keys=[ALERTS_ACKS, ALERTS_STREAM], args=[
            alert_id, write.record, write.message, in_db(ALERTS_CHANNEL, db_of(self.redis)),
            ALERTS_KEPT])
        return str(sid)

    async def snapshot_frames(self, session: Session, out: SnapshotRequest
                              ) -> AsyncIterator[str]:
        """The snapshot frames answering ``out`` for ``session``."""
        if out.channel == "ops":
            latest = await self.ops_latest()
            if latest:
                yield ops_frame("snapshot", latest)
            return
        if out.channel == "alerts":
            yield server_frame("snapshot", channel="alerts", data=await self.alerts(session, out))
            return
        names = [out.series] if out.series else await self.match(
            out.pattern or "*", MAX_PATTERN_SNAPSHOTS, session.claims or OPEN)
        for name in names:
            if not session.wants(out.channel, name):
                continue
            live, part = await self.series_parts(name)
            data = merge_snapshot(live, part)
            if data is None:
                continue
            if out.channel == "actuals":  # what its updates carry: the live fields
                data = {k: data[k] for k in LIVE_FIELDS if k in data}
            version = snapshot_version(out.channel, data)
            if isinstance(out.since, int) and out.series and version == out.since:
                continue  # resumed: the client already has this version (one it has not
                # seen, older after a broker and Redis started afresh, comes as a snapshot)
            yield server_frame("snapshot", channel=out.channel, series=name, version=version,
                               data=data)

    async def movers(self, session: Session, limit: int) -> list[dict[str, Any]]:
        """The top movers the session may read: its scope applied while scanning the sorted
        set (:meth:`_scan`), not to its first ``limit * 4`` entries."""
        raw = [] if session.claims is None else await self._scan(
            MOVERS_KEY, limit, session.claims.allows_series, withscores=True)
        rows = [(str(s), float(sc)) for s, sc in raw]
        infos = await self.redis.hmget(MOVERS_INFO, [s for s, _ in rows]) if rows else []
        return [mover_item(series, score, info)
                for (series, score), info in zip(rows, infos, strict=True)]


def _decoded(rows: list[Any]) -> list[dict[str, Any]]:
    """The readable alerts of stream entries ``rows``, in order."""
    return [a for a in (decode_alert(f, sid) for sid, f in rows) if a is not None]


def _theirs(alerts: list[dict[str, Any]], session: Session, out: SnapshotRequest
            ) -> list[dict[str, Any]]:
    """The ``alerts`` that ``out`` asks for (its series or pattern) and ``session`` may
    read, in order."""
    mine = []
    for alert in alerts:
        series = str(alert.get("series", ""))
        if out.series is not None and series != out.series:
            continue
        if out.pattern is not None and not matches(series, out.pattern):
            continue
        if session.claims is None or not session.claims.allows_alert(series):
            continue
        mine.append(alert)
    return mine
