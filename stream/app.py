"""The Faust application: configuration only (of the project it imports only config's defaults).

At-least-once processing (Faust's exactly-once mode has open duplicate/crash bugs): every
sink is idempotent instead. The web server Faust starts by default on 0.0.0.0:6066 is off.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import faust
from faust.transport.consumer import Consumer as _Consumer
from faust.transport.drivers import aiokafka as _aiokafka_driver

from config import DEFAULT_PARTITIONS

__all__ = ["create_app", "BatchGate", "Ownership", "FETCH_MAX_WAIT_MS"]

#: Faust hard-codes ``fetch_max_wait_ms=1500`` for its consumer; measured here, that alone made
#: the event-to-Redis latency p50 ~790 ms at 500 events/s (41 ms with 100: README, Benchmarks).
FETCH_MAX_WAIT_MS = 100
_create_worker_consumer = _aiokafka_driver.AIOKafkaConsumerThread._create_worker_consumer


def _low_latency_consumer(self: object, transport: object) -> object:
    consumer = _create_worker_consumer(self, transport)  # type: ignore[arg-type]
    consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts its fetcher
    return consumer


_aiokafka_driver.AIOKafkaConsumerThread._create_worker_consumer = (  # type: ignore[method-assign]
    _low_latency_consumer
)


class BatchGate:
    """Commits wait for the batch in progress.

    Faust commits on a timer, on rebalance and on shutdown, and just before each commit the
    state store flushes the states changed since the last one. A batch that is half applied
    (its state changed, its dead letters not yet delivered) must not be flushed or committed:
    :func:`create_app` makes every commit ``await gate.wait_idle()`` first.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def run(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run one batch as a task that commits wait for."""
        self._task = asyncio.ensure_future(coro)
        return self._task

    def idle(self) -> bool:
        """No batch is in progress."""
        return self._task is None or self._task.done()

    async def wait_idle(self) -> None:
        if self._task is not None and not self.idle():
            await asyncio.wait([self._task])


class Ownership:
    """The topic partitions whose offsets this worker may commit.

    None from the start of a rebalance (Faust's eager protocol revokes every partition first;
    the rebalance sensor of :mod:`stream.group` calls :meth:`revoke_all` synchronously, before
    any late ack) until its end (:meth:`assign`, once the streams are sought back to their
    committed offsets). The agent applies only messages of owned partitions.
    """

    def __init__(self) -> None:
        self.tps: set[Any] = set()

    def revoke_all(self) -> None:
        self.tps = set()

    def assign(self, consumer: Any, tps: Any) -> None:
        """Own ``tps`` from now on; acks Faust kept for them from before are dropped (a
        batch that ran during the rebalance applied nothing: its messages come again)."""
        self.tps = set(tps)
        for tp in self.tps:
            consumer._acked.pop(tp, None)
            consumer._acked_index.pop(tp, None)


_force_commit = _Consumer.force_commit


async def _gated_force_commit(self: Any, *args: Any, **kwargs: Any) -> bool:
    gate = getattr(self.app, "batch_gate", None)
    if gate is not None:
        await gate.wait_idle()
    return bool(await _force_commit(self, *args, **kwargs))


_Consumer.force_commit = _gated_force_commit  # type: ignore[method-assign]

_new_offset = _Consumer._new_offset


def _contiguous_new_offset(self: Any, tp: Any) -> int | None:
    """Never commit past an offset that was fetched but not acked.

    Faust commits the first run of consecutive acked offsets, and its check that the run starts
    at the committed offset is off by one (a single lost message right at the committed offset
    is committed over) and skipped when nothing was committed yet. A message its stream dropped
    is then lost for good; here the commit waits at the hole instead, until
    :mod:`stream.continuity` has the agent seek back and apply it.

    And never commit a partition this worker does not own (:class:`Ownership`): Faust keeps
    the acks of a batch that finished after its partition was revoked and commits them, past
    what the partition's new owner restored from the changelog.
    """
    ownership = getattr(self.app, "ownership", None)
    if ownership is not None and tp not in ownership.tps:  # acks of a late batch
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)
        return None
    acked = self._acked.get(tp)
    committed = self._committed_offset.get(tp)
    if acked and committed is not None and not self._gap.get(tp) and min(acked) > committed:
        return None
    return _new_offset(self, tp)


_Consumer._new_offset = _contiguous_new_offset  # type: ignore[method-assign]


def create_app(
    app_id: str,
    bootstrap: str,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    standby_replicas: int = 0,
    datadir: str | None = None,
    session_timeout: float = 10.0,
    commit_interval: float = 1.0,
) -> faust.App:
    """A Faust app tuned for a small-message, high-rate stream.

    ``producer_linger`` batches changelog writes (0 sends one tiny request per write) and a
    large ``stream_buffer_maxsize`` lets ``take_events`` fill big batches.
    ``partitions`` is the partition count of the topics Faust creates (its table changelogs);
    ``standby_replicas`` (``SALESCAST_STANDBY_REPLICAS``) is Faust's
    ``table_standby_replicas``: each other worker of the group keeps that many warm copies of a
    table partition, so a failover reads the changelog's tail only, not all of it.
    """
    datadir = datadir or f"{tempfile.gettempdir()}/salescast-faust/{app_id}"
    Path(datadir).parent.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        topic_partitions=partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        web_enabled=False,
        web_host="127.0.0.1",
        producer_linger=0.05,
        producer_max_batch_size=1_048_576,
        stream_buffer_maxsize=16_384,
        broker_max_poll_records=4_096,
        broker_commit_interval=commit_interval,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(3.0, session_timeout / 3),
        broker_rebalance_timeout=session_timeout,
        table_standby_replicas=standby_replicas,
        stream_wait_empty=False,
    )
    app.batch_gate = BatchGate()  # type: ignore[attr-defined]
    app.ownership = Ownership()  # type: ignore[attr-defined]
    return app
