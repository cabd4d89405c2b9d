"""The Faust agent: thin glue around :class:`stream.processor.Processor`.

Per batch (``stream.take_events``): group the messages by partition, let the pure processor
apply them to the per-series state, then write

1. each touched state into the :class:`~stream.state.StateStore` (pickled into the
   changelog-backed table once per commit, never once per event),
2. the rejected records to the dead-letter topic,
3. anomaly alerts to the alerts topic, and with the snapshots, top movers and alerts to
   Redis (idempotent: versioned snapshots, alerts deduplicated by their stable id),

and only then let Faust ack the batch (at-least-once: a crash replays it, and the processor
skips what a series has already applied, so nothing is counted twice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import faust

from salescast.config import Settings
from stream.app import create_app
from stream.lstm_runner import LstmRunner
from stream.metrics import WorkerStats
from stream.processor import Message, Processor
from stream.sink import RedisSink
from stream.state import StateStore

__all__ = ["build_worker"]

log = logging.getLogger("salescast.worker")

MAX_BATCH = 4096
BATCH_WAIT = 0.05


def build_worker(
    settings: Settings,
    processor_factory: Callable[[], Processor] | None = None,
) -> tuple[faust.App, WorkerStats]:
    """Create the Faust app with its topics, state table, agent and ops timer."""
    app = create_app(settings.worker_id, settings.kafka, partitions=settings.partitions,
                     datadir=str(settings.home / "faust" / settings.worker_id))
    events = app.topic(
        settings.events_topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    deadletter = app.topic(
        settings.deadletter_topic, key_serializer="raw", value_serializer="raw"
    )
    alerts_topic = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")
    table = app.Table(
        "series-state",
        default=None,
        partitions=settings.partitions,
        key_type=bytes,
        value_type=bytes,
    )
    runner = _lstm_runner(settings)
    processor = (processor_factory or (
        lambda: Processor.from_settings(settings, runner.provide if runner else None)))()
    buckets_topic = app.topic(settings.buckets_topic, key_serializer="raw",
                              value_serializer="raw")
    store = StateStore(table)
    app.sensors.add(store)
    stats = WorkerStats()
    sinks: dict[str, RedisSink] = {}

    def sink() -> RedisSink:
        if "redis" not in sinks:
            sinks["redis"] = RedisSink(settings.redis)
        return sinks["redis"]

    @app.agent(events, name="process-sales")
    async def process(stream: Any) -> None:
        async for batch in stream.take_events(MAX_BATCH, within=BATCH_WAIT):
            started, wall = time.perf_counter(), time.time()
            by_partition: dict[int, list[Message]] = defaultdict(list)
            for event in batch:
                m = event.message
                by_partition[m.partition].append(
                    Message(m.offset, (m.timestamp or 0.0), m.value or b"")
                )
            writes = []
            closed: list[list[Any]] = []
            alerts: list[dict[str, Any]] = []
            movers: dict[str, dict[str, float]] = {}
            taken = 0
            for partition, messages in by_partition.items():
                out = processor.process(partition, messages, store.get)
                for key, value in out.states.items():
                    store.put(partition, key, value)
                for dead in out.dead:
                    await deadletter.send(value=dead.to_json())
                    stats.deadletters[dead.stage] += 1
                writes.extend(out.writes)
                alerts.extend(out.alerts)
                movers.update(out.movers)
                closed.extend([sid, b.start, b.end, b.qty] for sid, b in out.buckets)
                stats.accepted += out.accepted
                stats.duplicates += out.duplicates
                taken += out.accepted + out.duplicates + len(out.dead)
            if closed:  # the trainer's input: one message per batch
                await buckets_topic.send(value=json.dumps({"buckets": closed}).encode())
            for alert in alerts:  # consumers dedupe by id (a replay re-sends the same ids)
                await alerts_topic.send(key=alert["id"].encode(), value=json.dumps(alert).encode())
            if writes:
                await sink().write(writes)
            if alerts:
                stats.alerts += await sink().write_alerts(alerts)
            await sink().write_movers(movers)
            now = time.time()
            stats.record_batch(
                len(batch), taken, [now - m.timestamp for ms in by_partition.values() for m in ms
                             if m.timestamp], time.perf_counter() - started, wall,
            )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_cache(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        store.forget()

    @app.timer(1.0)
    async def publish_ops() -> None:
        figures = stats.snapshot()
        if runner is not None:
            figures.update(lstm_version=runner.version or "", lstm_batches=runner.batches,
                           lstm_series=runner.series, lstm_seconds=round(runner.seconds, 3))
        await sink().write_ops(figures)

    if runner is not None:
        @app.timer(2.0)
        async def follow_models() -> None:
            """Hot swap: load the current LSTM version when the trainer promotes a new one."""
            info = await sink().model_current()
            if info and info.get("version") != runner.version:
                await asyncio.to_thread(runner.swap, info)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_sink(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        if "redis" in sinks:
            await sinks.pop("redis").close()

    return app, stats


def _lstm_runner(settings: Settings) -> LstmRunner | None:
    """The LSTM runner, unless disabled (SALESCAST_LSTM=0) or torch is not installed."""
    if not settings.lstm:
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        log.warning("torch is not installed: the worker runs without the LSTM")
        return None
    return LstmRunner(settings.bucket_seconds)
