"""The Faust application: configuration, and the Kafka transport of :mod:`stream.transport`.

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

from stream.transport import Transport

__all__ = ["create_app", "BatchGate"]


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
    """
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
    partitions: int = 4,
    datadir: str | None = None,
    session_timeout: float = 10.0,
    commit_interval: float = 1.0,
) -> faust.App:
    """A Faust app tuned for a small-message, high-rate stream.

    ``producer_linger`` batches changelog writes (0 sends one tiny request per write) and a
    large ``stream_buffer_maxsize`` lets ``take_events`` fill big batches. Its consumers come
    from :class:`stream.transport.Transport` (a 100 ms broker fetch wait, not Faust's 1.5 s).
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
        table_standby_replicas=0,
        stream_wait_empty=False,
    )
    app.transport = Transport(app.conf.broker_consumer, app)
    app.batch_gate = BatchGate()  # type: ignore[attr-defined]
    return app
