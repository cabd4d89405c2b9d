"""The worker's commit rules, applied by its Faust consumer (:class:`stream.transport.Consumer`).

Faust commits the acked offsets on a timer, on rebalance and on shutdown. Here a commit

* waits for the batch in flight (:class:`BatchGate`, :func:`ready_to_commit`): the state
  store flushes just before each commit, and must not flush half a batch; and does not happen
  once the producer is stopping;
* stops at a hole and never covers a partition the worker does not own (:func:`new_offset`,
  :class:`Ownership`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer

__all__ = ["BatchGate", "Ownership", "new_offset", "ready_to_commit"]


class BatchGate:
    """Commits wait for the batch in progress.

    Faust commits on a timer, on rebalance and on shutdown, and just before each commit the
    state store flushes the states changed since the last one. A batch that is half applied
    (its state changed, its dead letters not yet delivered) must not be flushed or committed:
    the worker's consumer (:mod:`stream.transport`) waits for it before every commit.
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


async def ready_to_commit(app: Any) -> bool:
    """Before a commit: the batch in flight ends first (:class:`BatchGate`); then ``False``
    when the producer is stopping (a shutdown): the state store's flush could no longer reach
    the changelog, so nothing is committed and a restart replays from the last commit."""
    gate = getattr(app, "batch_gate", None)
    if gate is not None:
        await gate.wait_idle()
    return not app.producer.should_stop


def new_offset(self: Any, tp: Any) -> int | None:
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
    return FaustConsumer._new_offset(self, tp)
