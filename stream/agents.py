"""The Faust agent: thin glue around :class:`stream.processor.Processor`.

Per batch (:func:`stream.batching.take_batches`): group the messages by partition, let the
processor apply them a slice at a time (stream.slicing; between batches, a chunk of the eager
close of stream.sweep), build each changed series' write once (stream.writes), then

1. send the dead letters, re-routed events and alerts to Kafka (no state is flushed before
   they are delivered: :class:`~stream.deliveries.Deliveries`),
2. mark each touched state for the StateStore (packed into the changelog once per commit),
3. write snapshots, top movers and alerts to Redis (idempotent: versioned, deduplicated).

Exactly-once effects from at-least-once delivery rest on three rules:

* a batch runs as one task that commits wait for (``BatchGate`` in :mod:`stream.app`): the
  state is never flushed, and no offset committed, in the middle of a batch, even when Faust
  cancels the agent for a rebalance or a shutdown;
* a failure while applying a batch (a bug, Kafka refusing a send) stops the process at once
  (exit code 70; a state made with other settings: a refusal, 2) before anything of the
  batch is committed; a restart replays it, and each series skips what it applied;
* Redis is a cache of the state: when it is down, batches go on without it, and when it is
  back (empty, or from its append-only file) every series is republished (RedisSink).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any, cast

import faust
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from config import Settings
from stream import writes as batch_writes
from stream.aggregate_rows import LEDGER_KEY
from stream.aggregates import ROOT
from stream.app import STATE_TABLE, create_app
from stream.batching import BatchRule, Rounds, take_batches
from stream.changelog_send import BatchSender
from stream.commits import BatchGate, Ownership
from stream.continuity import OffsetContinuity
from stream.errors import fail_stop
from stream.group import RebalanceSensor
from stream.lstm_runner import runner_for
from stream.membership import Membership, default_worker_name
from stream.offsets import TopicOffsets, events_partitions
from stream.partition_watch import watcher
from stream.processor import BatchOutput, Message, Processor, SeriesState
from stream.sink import RedisSink, SinkCloser
from stream.slicing import Slicer
from stream.state import StateStore
from stream.stats import WorkerStats
from stream.sweep import Sweeper

__all__ = ["build_worker"]

log = logging.getLogger("salescast.worker")

BATCHES = BatchRule(max_events=4096, within=0.05)  # closed early once caught up
BUCKETS_PER_MESSAGE = 4000  # of the buckets topic: ~60 bytes each, far below 1 MB a message
STALL_S = 5.0  # a partition with unread offsets that applies none this long is sought back
SWEEP_EVERY = 0.2  # seconds between looks for a sweep to start (it goes on while it has work)


def build_worker(
    settings: Settings,
    processor_factory: Callable[[], Processor] | None = None,
) -> tuple[faust.App, WorkerStats]:
    """Create the Faust app with its topics, state table, agent and ops timer."""
    app = create_app(settings.worker_id, settings.kafka, partitions=settings.partitions,
                     standby_replicas=settings.standby_replicas,
                     datadir=str(settings.home / "faust" / settings.worker_id))
    events = app.topic(settings.events_topic, key_type=bytes, value_type=bytes,
                       key_serializer="raw", value_serializer="raw",
                       partitions=settings.partitions)
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    deadletter, alerts_topic = (app.topic(settings.deadletter_topic, **raw),
                                app.topic(settings.alerts_topic, **raw))
    table = app.Table(STATE_TABLE, default=None, partitions=settings.partitions,
                      key_type=bytes, value_type=bytes)
    runner = runner_for(settings)
    processor = (processor_factory or (
        lambda: Processor.from_settings(settings, runner.provide if runner else None,
                                        partitions=events_partitions(settings))))()
    buckets_topic = app.topic(settings.buckets_topic, **raw)
    store = StateStore(table, BatchSender.for_table(app, table), settings.bucket_seconds)
    app.sensors.add(store)
    app.state_store = store  # type: ignore[attr-defined]  # its consumer's commits wait on it
    membership = Membership(default_worker_name(), settings.worker_id, settings.events_topic)
    app.sensors.add(RebalanceSensor(membership))
    stats = WorkerStats(utc_offset=settings.utc_offset)
    sink = RedisSink(settings.redis, membership.name)
    app.sensors.add(SinkCloser(sink))
    gate: BatchGate = app.batch_gate  # type: ignore[attr-defined]
    app.deliveries.on_failure = fail_stop  # type: ignore[attr-defined]  # a send that failed
    ownership: Ownership = app.ownership  # type: ignore[attr-defined]
    continuity = OffsetContinuity()
    offsets = TopicOffsets(app, settings.events_topic, settings.kafka)
    progressed: dict[int, float] = {}  # partition -> monotonic time it last applied a message
    checked: set[int] = set()  # partitions whose states were checked against the settings
    sweeper, slicer = Sweeper(processor), Slicer()
    sweeping: list[asyncio.Task[None]] = []  # the last sweep task started

    async def apply(batch: list[Any]) -> None:
        """One batch, start to end (see the module docstring for why it is one task)."""
        started, wall = time.perf_counter(), time.time()
        epoch = ownership.epoch  # a rebalance before the batch ends: it applied nothing
        by_partition: dict[int, list[Message]] = defaultdict(list)
        taken: dict[int, list[Any]] = defaultdict(list)  # Faust's messages, in the same order
        for event in batch:
            m = event.message
            if m.tp not in ownership.tps or app.should_stop:  # before a rebalance, or a stop:
                ownership.skip(m)  # it comes again (a send after the producer stopped fails)
                continue
            stamp = m.timestamp if (m.timestamp or 0) > 0 else time.time()  # none: the worker's
            by_partition[m.partition].append(Message(m.offset, stamp, m.value or b""))
            taken[m.partition].append(m)
        now = time.monotonic()
        for partition, messages in list(by_partition.items()):
            committed = await offsets.committed(partition)
            ownership.started_at(offsets.tp(partition), committed)
            take, seek_to = continuity.admit(
                partition, [m.offset for m in messages], committed,
                functools.partial(offsets.known_gap, partition))
            if take:
                progressed[partition] = now
            del messages[take:]  # after a hole: they come again after the seek back
            for m in taken[partition][take:]:
                ownership.skip(m)
            if seek_to is not None:  # a message before these never reached the agent
                await offsets.seek_back(partition, seek_to,
                                        f"offset {seek_to} was fetched but never delivered")
        outs: list[tuple[int, BatchOutput]] = []
        for partition, messages in by_partition.items():
            sliced = await slicer.apply(processor.apply, partition, messages, store.get)
            await batch_writes.build(processor, partition, sliced)  # a write a series
            outs.extend((partition, out) for out in sliced)
        n_taken = await emit(outs)
        await batch_writes.release(outs)  # freed a piece at a time, not all at once at the end
        if ownership.epoch != epoch:  # revoked meanwhile: its states are dropped, not flushed
            for ms in taken.values():
                for m in ms:
                    ownership.skip(m)
        now = time.time()
        stats.record_batch(
            len(batch), n_taken, [now - m.timestamp for ms in by_partition.values() for m in ms
                                if m.timestamp], time.perf_counter() - started, wall)

    async def emit(outs: list[tuple[int, BatchOutput]]) -> int:
        """Send what ``outs`` send, put their states, then write Redis; the events taken."""
        pending = []  # sends that must be delivered before this batch's state may be flushed
        closed: list[list[Any]] = []
        for _, out in outs:
            for dead in out.dead:
                pending.append(await deadletter.send(key=dead.key, value=dead.to_json()))
                stats.deadletters[dead.code] += 1
            for series, value in out.reroute:
                pending.append(await events.send(key=series.encode(), value=value))
            for report in out.reports:  # a partition's sums for the aggregates: to total's
                pending.append(await events.send(key=ROOT.encode(), value=report))
            for alert in out.alerts:  # consumers dedupe by id (a replay re-sends the same ids)
                pending.append(await alerts_topic.send(key=alert["id"].encode(),
                                                       value=json.dumps(alert).encode()))
            closed.extend([sid, b.start, b.end, b.qty] for sid, b in out.buckets)
        for i in range(0, len(closed), BUCKETS_PER_MESSAGE):  # the trainer's input (a replay
            pending.append(await buckets_topic.send(  # may send it again)
                value=json.dumps({"buckets": closed[i:i + BUCKETS_PER_MESSAGE]}).encode()))
        app.deliveries.add(pending)  # type: ignore[attr-defined]  # waited for by the flushes
        n_taken = 0
        for partition, out in outs:
            for key, value in out.states.items():
                store.put(partition, key, value)
            stats.accepted += out.accepted
            stats.duplicates += out.duplicates
            stats.rerouted += len(out.reroute)
            n_taken += out.accepted + out.duplicates + len(out.dead) + len(out.reroute)
        await _to_redis(outs)
        return n_taken

    async def _to_redis(outs: list[tuple[int, BatchOutput]]) -> None:
        if sink.down:  # the republish once Redis is back will carry this batch
            return
        try:
            writes = [w for _, out in outs for w in out.writes]
            alerts = [a for _, out in outs for a in out.alerts]
            movers = {k: v for _, out in outs for k, v in out.movers.items()}
            if writes:
                await sink.write(writes)
            if alerts:
                stats.alerts += await sink.write_alerts(alerts)
            await sink.write_movers(movers)
        except (RedisError, OSError) as exc:
            sink.mark_stale(exc)

    async def guarded(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - fail-stop on anything
            fail_stop(exc)

    def owned() -> set[int]:  # the events topic's partitions this worker owns
        return {tp.partition for tp in ownership.tps if tp.topic == settings.events_topic}

    @app.timer(SWEEP_EVERY)
    async def start_sweep() -> None:  # behind the batch in flight: under load, a chunk a tick
        if all(t.done() for t in sweeping) and not app.rebalancing and any(
                sweeper.has_work(p, store.get) for p in owned()):
            sweeping[:] = [gate.run(guarded(sweeper.run(
                lambda: gate.latest() and not app.rebalancing, owned, store.get, store.keys_of,
                emit)))]

    app.task(stats.watch_loop)  # the ops figures loop_stall_ms and loop_stall_max_ms
    app.task(watcher(settings, found=lambda topic_id: setattr(processor, "topic_id", topic_id)))

    @app.agent(events, name="process-sales")
    async def process(stream: Any) -> None:
        async for batch in take_batches(stream, BATCHES, cast(Rounds, app.consumer)):
            # shielded: a cancelled agent (rebalance, shutdown) lets it finish; commits wait
            await asyncio.shield(gate.run(guarded(apply(list(batch)))))

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_cache(sender: Any, revoked: Any = (), *args: Any, signal: Any = None,
                           **kwargs: Any) -> None:
        await gate.wait_idle()  # the batch in flight puts its states first: dropped below
        store.forget({tp.partition for tp in revoked if tp.topic == settings.events_topic})
        processor.forget(store.pending())  # rows reload from the states' bytes
        sweeper.forget()
        continuity.forget()
        offsets.forget()
        progressed.clear()
        checked.clear()

    @app.timer(1.0)
    async def resume_stalled() -> None:
        if not app.rebalancing:  # partitions are paused while tables recover
            try:  # a state made with other settings: refused now, not at its next event
                for p in sorted(owned() - checked):
                    processor.check(p, store.get, store.any_key(p, "s:"))
                    checked.add(p)
                    await asyncio.sleep(0)
            except Exception as exc:  # noqa: BLE001 - as a batch would: exit 2, or 70
                fail_stop(exc)
            await offsets.resume_stalled(ownership, continuity, progressed, gate.idle, STALL_S)
            agg = processor.aggregation  # a new ledger's clock runs while no report comes
            led = store.get(LEDGER_KEY) if agg and agg.home in owned() else None
            if agg and led and led.wants_tick(time.time()):
                with contextlib.suppress(KafkaError, TimeoutError, ConnectionError):
                    await events.send(key=ROOT.encode(), value=agg.tick())  # (one lost: next)

    def states_of(partitions: set[int]) -> list[SeriesState]:
        return [st for p in sorted(partitions) for key in store.keys_of(p)
                if key.startswith("s:") and (st := store.get(key)) is not None]

    @app.timer(1.0)
    async def publish_ops() -> None:
        figures = {**stats.snapshot(), "reseeks": offsets.reseeks, "lost_messages": offsets.lost}
        figures.update(sweep_pending=sweeper.pending(), swept=sweeper.swept, sweeping=sum(
            sweeper.has_work(p, store.get) for p in owned()))  # partitions with a pass to do
        figures.update(membership.figures())
        figures.update(processor.aggregation.figures(membership.partitions)
                       if processor.aggregation else {})
        if runner is not None:
            figures.update(lstm_version=runner.version or "", lstm_batches=runner.batches,
                           lstm_series=runner.series, lstm_seconds=round(runner.seconds, 3))
        try:
            stats.republished += await sink.catch_up(membership.partitions, states_of, processor)
            figures.update(redis_stale=int(sink.stale), republished=stats.republished)
            ended = membership.pending()
            await sink.write_ops(membership.name, figures, [r.as_json() for r in ended])
            membership.published(len(ended))
        except (RedisError, OSError) as exc:
            sink.mark_stale(exc)

    if runner is not None:
        @app.timer(2.0)
        async def follow_models() -> None:
            """Hot swap: load the current LSTM version when the trainer promotes a new one."""
            try:
                info = await sink.model_current()
            except (RedisError, OSError):
                return  # publish_ops reports the outage
            if info and info.get("version") != runner.version:
                await asyncio.to_thread(runner.swap, info)

    return app, stats

