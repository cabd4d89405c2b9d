"""Fan-out of updates to many clients with bounded, latest-value-wins queues.

Backpressure: each client has a :class:`LatestQueue` keyed by series. When a client reads
slower than updates arrive, a newer update of a series *replaces* the pending one (the
dashboard only needs the latest state), so memory per client is bounded by the number of
distinct series pending. A client with more than ``max_pending`` distinct series pending is
too far behind: :meth:`LatestQueue.put` returns ``False`` and the server closes it with a
reason. A slow client never slows the others: publishing never awaits a client.

>>> q = LatestQueue(max_pending=2)
>>> q.put("A", "a1"), q.put("B", "b1"), q.put("A", "a2")
(True, True, True)
>>> q.drain()
['a2', 'b1']
>>> q.put("A", "a"), q.put("B", "b"), q.put("C", "c")
(True, True, False)
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["LatestQueue", "Fanout"]

C = TypeVar("C")


class LatestQueue:
    """A per-client queue holding at most one pending frame per series."""

    def __init__(self, max_pending: int = 1000) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.max_pending = max_pending
        self._pending: OrderedDict[str, str] = OrderedDict()
        self._ready = asyncio.Event()
        self.replaced = 0
        self.busy = False  # the writer is sending a drained batch

    @property
    def idle(self) -> bool:
        """Nothing pending and nothing being sent: a new frame may be written directly."""
        return not self._pending and not self.busy

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, series: str, frame: str) -> bool:
        """Queue ``frame`` for ``series``; ``False`` if the client is too far behind."""
        if series in self._pending:
            self._pending[series] = frame
            self.replaced += 1
        elif len(self._pending) >= self.max_pending:
            return False
        else:
            self._pending[series] = frame
        self._ready.set()
        return True

    def drain(self) -> list[str]:
        """Take every pending frame, oldest series first."""
        frames = list(self._pending.values())
        self._pending.clear()
        self._ready.clear()
        return frames

    async def get_batch(self) -> list[str]:
        """Wait until something is pending, then take it all."""
        while not self._pending:
            await self._ready.wait()
        return self.drain()


class Fanout(Generic[C]):
    """Routes each update to every registered client that wants it (by channel and series).

    Fast path: a client whose queue is idle and whose socket can take more (``writable``) gets
    the frame written at once, with every such client, by the caller (one encoding for all;
    no task switch per client). The others get it queued, latest value wins.
    """

    def __init__(self, wants: Callable[[C, str, str | None], bool],
                 max_pending: int = 1000,
                 writable: Callable[[C], bool] = lambda client: False) -> None:
        self._wants = wants
        self._writable = writable
        self.max_pending = max_pending
        self.clients: dict[C, LatestQueue] = {}

    def add(self, client: C) -> LatestQueue:
        queue = LatestQueue(self.max_pending)
        self.clients[client] = queue
        return queue

    def remove(self, client: C) -> None:
        self.clients.pop(client, None)

    def publish(self, channel: str, series: str | None, frame: str,
                slot: str) -> tuple[list[C], list[C]]:
        """Route ``frame`` to the clients that want ``series`` on ``channel``: returns the
        clients to write it to now, and the clients too far behind (to close). The rest have
        it queued, replacing their pending frame of the same ``slot``."""
        direct: list[C] = []
        behind: list[C] = []
        for client, queue in self.clients.items():
            if not self._wants(client, channel, series):
                continue
            if queue.idle and self._writable(client):
                direct.append(client)
            elif not queue.put(slot, frame):
                behind.append(client)
        return direct, behind
