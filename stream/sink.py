"""The Redis sink: idempotent, versioned writes of series snapshots plus a pub/sub update.

A write carries a version (the source offset that produced the state). A Lua script applies
it only when it is newer than the stored one, so redelivered events after a worker restart
(at-least-once) neither roll a snapshot back nor publish a duplicate update.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from faust.sensors.base import Sensor
from redis.exceptions import NoPermissionError, NoScriptError, RedisError

from contracts.pubsub import db_of, in_db
from contracts.wire import (
    FORECAST_FIELD,
    INDEX_KEY,
    LIVE_FIELD,
    LOST_KEY,
    MODEL_CURRENT,
    MOVERS_INFO,
    MOVERS_KEY,
    REBALANCES_KEPT,
    REBALANCES_KEY,
    UPDATES_CHANNEL,
    VERSION_FIELD,
    WORKER_TTL_S,
    WORKERS_INDEX,
    SeriesWrite,
    dumpb,
    dumps,
    series_hash,
    worker_epoch_key,
    worker_ops_key,
)
from stream.alert_sink import ALERT_LUA, ALERTS_RESOLVED_KEPT, CAN_PUBLISH, write_alerts
from stream.outage import Outage

__all__ = ["RedisSink", "SinkCloser"]

log = logging.getLogger("salescast.worker")

MARKER_TTL_S = 86_400  # a stopped worker's marker (worker_epoch_key) goes; a live one renews it
REPUBLISH_CHUNK = 250  # states a republish forecasts and writes between two yields (~40 ms)
WRITE_CHUNK = 250  #: series writes in one Redis pipeline (the event loop runs between them)

# KEYS[1] series hash, KEYS[2] index
# ARGV: version, live JSON, score, series, channel, update JSON, forecast part JSON or ''
# A script that fails half way keeps what it wrote. A Redis user without the channel's rights
# (an ACL user made without '&*': Redis 7 gives none by default) had its hashes written and
# no update ever sent, and every retry found its version written (a probe's clients got none
# for good, and the audit said reconciled): the right to publish is checked first
# (CAN_PUBLISH, Redis 7's acl_check_cmd). PUBLISH stays last: at maxmemory it is not refused
# as the writes are, and first it would announce writes that then fail.
_WRITE_LUA = f"""
local cur = tonumber(redis.call('HGET', KEYS[1], '{VERSION_FIELD}') or '-1')
local v = tonumber(ARGV[1])
if v <= cur then return 0 end
{CAN_PUBLISH.format(channel=5)}
redis.call('HSET', KEYS[1], '{VERSION_FIELD}', ARGV[1], '{LIVE_FIELD}', ARGV[2])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], '{FORECAST_FIELD}', ARGV[7]) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""


def error_text(exc: BaseException) -> str:
    """What a failed Redis call says, for a log line: its type and message (redis-py's
    ``repr`` of an error names only its kind, ``server:ResponseError``, not the command or
    the channel refused).

    >>> from redis.exceptions import NoPermissionError
    >>> error_text(NoPermissionError("this user has no permissions to run the 'info' command"))
    "NoPermissionError: this user has no permissions to run the 'info' command"
    """
    text = " ".join(str(exc).split())
    text = text.split(" of pipeline caused error: ", 1)[-1][:300]  # (the command: noise)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisSink:
    """Writes a batch of series states to Redis in one pipelined round trip."""

    def __init__(self, url: str, worker: str = "worker") -> None:
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=2.0,
                                             socket_timeout=10.0)
        self._script = self.redis.register_script(_WRITE_LUA)
        self._alert = self.redis.register_script(ALERT_LUA)
        self.channel = in_db(UPDATES_CHANNEL, db_of(self.redis))  # its updates' pub/sub
        # True until a full republish has written everything the worker holds (a new worker
        # republishes what it restored; a failure or a restarted Redis sets it again)
        self.stale = True
        self.run_id: str | None = None
        self.outage = Outage()  # down: from a failed call until Redis answers (batches skip it)
        self.failures = 0  # failed calls so far (a republish is complete only without one)
        self.held: set[int] = set()  # the partitions held at the last catch_up
        self.marker = worker_epoch_key(worker)  # gone (new, flushed, empty Redis): republish
        self.resolved_kept = ALERTS_RESOLVED_KEPT

    def mark_stale(self, exc: BaseException) -> None:
        """A Redis call failed: stop writing until it answers again, then republish."""
        self.failures += 1
        self.outage.failed(error_text(exc), time.time())
        self.stale = True

    @property
    def down(self) -> bool:
        return self.outage.down

    async def catch_up(self, held: Iterable[int], states_of: Callable[[set[int]], list[Any]],
                       processor: Any) -> int:
        """The ops tick's republish (how many series): all the worker holds when
        :meth:`needs_republish`, else the partitions ``held`` now and not at the last tick (a
        holder stopped in a Redis outage never republished its writes)."""
        now = set(held)
        new, self.held = now - self.held, now
        if await self.needs_republish():
            return await self.republish(states_of(now), processor)
        return await self.republish(states_of(new), processor) if new else 0

    async def needs_republish(self) -> bool:
        """True when Redis is back after a failure, or is another server than before (a
        restart: its run id changed), or lost the worker's epoch marker (flushed); not asked
        while Redis refuses writes and the wait is not over (:class:`~stream.outage.Outage`)."""
        if not self.outage.may_retry(time.time()):
            return False
        try:
            run_id = str((await self.redis.info("server")).get("run_id", ""))
        except NoPermissionError as exc:  # a user without INFO (ACL '+@all -@dangerous'):
            if self.run_id is None:  # a restart is known by the lost marker alone
                log.warning("redis refuses INFO (%s): a restart of redis that keeps its data "
                            "is not noticed (grant the worker's user +info)", error_text(exc))
            run_id = ""
        marker = await self.redis.expire(self.marker, MARKER_TTL_S)  # 0: there is none
        self.outage.answered(time.time())
        if run_id != self.run_id or not marker:
            self.stale = True
        if run_id and run_id != self.run_id:  # another server: does it evict keys?
            await self._warn_eviction()
        self.run_id = run_id
        return self.stale

    async def _warn_eviction(self) -> None:
        """A warning when Redis evicts keys at its memory limit (a ``maxmemory-policy`` other
        than ``noeviction``): a probe's ``allkeys-lru`` removed 33 series hashes, the index
        kept listing them and nothing noticed. With ``noeviction`` writes fail at the limit,
        and the worker republishes once they go through again."""
        try:
            memory = await self.redis.info("memory")
        except RedisError:  # (a user allowed INFO server only): nothing said
            return
        policy = str(memory.get("maxmemory_policy", "noeviction"))
        if int(memory.get("maxmemory", 0) or 0) > 0 and policy != "noeviction":
            log.warning("redis evicts keys at its memory limit (maxmemory-policy %s): "
                        "forecasts and alerts can vanish without a word; set it to "
                        "noeviction", policy)

    async def republish(self, states: list[Any], processor: Any) -> int:
        """Write every series' snapshot, its recent alerts and its top-movers entry again.

        Idempotent like every write here: a snapshot older than what Redis holds is ignored,
        alerts are deduplicated by id. Returns how many series were written. When another call
        failed meanwhile (a batch that then skipped Redis, after its series were written here),
        the sink stays stale, so that the next ops tick republishes again.
        """
        failures = self.failures
        await self.redis.set(self.marker, str(time.time()), ex=MARKER_TTL_S)  # a flush from
        n = 0  # here on removes it, and the check at the end sees that
        alerts: list[dict[str, Any]] = []
        for i in range(0, len(states), REPUBLISH_CHUNK):
            writes, movers = [], {}
            chunk = states[i : i + REPUBLISH_CHUNK]
            processor.forecasts_of(chunk)  # together: one at a time took ~0.9 ms a state
            for st in chunk:
                # its last write's version: a close at another series' message (the sweep,
                # a capped close) is newer than its own last event
                version = max([st.written, *st.positions.values()])
                if version < 0:
                    continue
                writes.append(processor.series_write(st, version, True))
                alerts.extend(st.alerts)
                if st.mover is not None and st.reconciled is None:  # SKUs only, no aggregate
                    movers[st.series] = st.mover
            await self.write(writes)
            await self.write_movers(movers)
            n += len(writes)
        alerts.sort(key=lambda a: (a.get("detected_at", 0), a.get("bucket", 0)))
        for i in range(0, len(alerts), REPUBLISH_CHUNK):
            await self.write_alerts(alerts[i : i + REPUBLISH_CHUNK])
        flushed = not await self.redis.exists(self.marker)  # meanwhile: once more
        self.stale = self.failures != failures or flushed
        if not self.stale:
            self.outage.wrote(time.time())
        log.info("republished %d series and %d alerts to redis%s", n, len(alerts),
                 " (a call failed or redis was flushed meanwhile: once more at the next tick)"
                 if self.stale else "")
        return n

    async def write(self, writes: Iterable[SeriesWrite]) -> int:
        """Apply the writes, :data:`WRITE_CHUNK` to a pipeline; returns how many were newer
        than what Redis held. (Encoding a write's JSON takes ~40 us, on the event loop: in one
        pipeline, the 4,096 writes of a big batch held it up for ~170 ms. Packing the
        commands, ~10 us more a write, runs inline below redis-py's 1,000-command threshold.)"""
        todo, newer = list(writes), 0
        for i in range(0, len(todo), WRITE_CHUNK):
            chunk = todo[i : i + WRITE_CHUNK]
            try:
                newer += await self._write_chunk(chunk)
            except NoScriptError:  # a Redis restarted empty, or flushed: load it, once more
                await self.redis.script_load(_WRITE_LUA)
                newer += await self._write_chunk(chunk)
        return newer

    async def _write_chunk(self, writes: list[SeriesWrite]) -> int:
        """One pipeline of plain EVALSHAs. (Calling the script object per write cost ~3% of
        the worker's main thread, in redis-py's isinstance checks; a pipeline that knows the
        script asks Redis whether it has it first, a second round trip per batch. A write
        Redis refused for want of the script did nothing, and a write applied twice is
        ignored the second time: its version is not newer.)"""
        pipe = self.redis.pipeline(transaction=False)
        sha = self._script.sha
        now = round(time.time(), 4)  # "at": when written, for the gateway's push latency
        for w in writes:
            pipe.evalsha(sha, 2, series_hash(w.series), INDEX_KEY, w.version,
                         dumpb(w.live), w.event_ts, w.series, self.channel,
                         dumpb({**w.update, "at": now}),
                         b"" if w.forecast is None else dumpb(w.forecast))
        return sum(int(r) for r in await pipe.execute())

    async def write_alerts(self, alerts: list[dict[str, Any]]) -> int:
        """Add new alerts to the capped stream and publish them; returns how many were new
        (:func:`stream.alert_sink.write_alerts`)."""
        return await write_alerts(self.redis, self._alert, alerts, self.resolved_kept)

    async def write_movers(self, movers: dict[str, dict[str, float]]) -> None:
        """The top-movers sorted set (score: distance from the forecast) and its details."""
        items = list(movers.items())
        for i in range(0, len(items), WRITE_CHUNK):  # the event loop runs between chunks
            chunk = items[i : i + WRITE_CHUNK]
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(MOVERS_KEY, {sid: m["score"] for sid, m in chunk})
            pipe.hset(MOVERS_INFO, mapping={sid: dumps(m) for sid, m in chunk})
            await pipe.execute()

    async def model_current(self) -> dict[str, str]:
        """The current LSTM version's description (empty when none was promoted)."""
        raw: dict[Any, Any] = await self.redis.hgetall(MODEL_CURRENT)
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def write_ops(self, name: str, figures: dict[str, float | int | str],
                        rebalances: Iterable[str] = ()) -> None:
        """One worker's figures (expiring), its entry in the workers index, new rebalances,
        and the messages it found deleted before it read them (kept)."""
        key = worker_ops_key(name)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=dict(figures))  # type: ignore[arg-type]
        pipe.expire(key, WORKER_TTL_S)
        pipe.zadd(WORKERS_INDEX, {name: time.time()})
        if lost := figures.get("lost_messages"):  # retention was faster: kept for the audit
            pipe.hset(LOST_KEY, name, lost)
        if items := list(rebalances):  # each to the head, in order, as one LPUSH each did
            pipe.lpush(REBALANCES_KEY, *items)
        pipe.ltrim(REBALANCES_KEY, 0, REBALANCES_KEPT - 1)
        await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


class SinkCloser(Sensor):
    """Closes the sink when the worker stops, after its agent and its consumer: Faust stops
    its sensors last, so neither the last batch's writes (the batch a shutdown lets finish)
    nor what the final commit covers are cut off (closed earlier, those writes failed and
    their states were committed all the same: Redis kept them stale)."""

    def __init__(self, sink: RedisSink, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sink = sink

    async def on_stop(self) -> None:
        await self.sink.close()
