"""The worker's state store: live objects in memory, pickled into a changelog-backed table
once per commit rather than once per batch.

Faust acks a batch once the agent has handled it, and commits acked offsets on a timer. Just
before every commit, :meth:`StateStore.on_commit_initiated` (a Faust sensor hook) writes each
state changed since the last commit to the table's changelog; Faust then flushes the producer
and only after that commits the offsets. So a committed offset always has its state in the
changelog (no loss), and a crash before the commit replays the batches, which the processor
skips per series by offset (no double count). Pickling a series state costs ~100 us: doing it
once per commit instead of once per batch is what keeps the hot path cheap.
"""

from __future__ import annotations

import asyncio
import pickle
import time
from typing import Any

import faust

__all__ = ["StateStore", "owned_partitions"]

FLUSH_STEP = 0.02  # seconds of pickling between two hand-backs of the event loop


class StateStore(faust.Sensor):
    """Reads and writes per-key state for the processor; flushes dirty keys on commit."""

    def __init__(self, table: Any) -> None:
        super().__init__()
        self.table = table
        self.cache: dict[str, Any] = {}
        self.dirty: dict[str, tuple[int, Any]] = {}  # key -> (changelog partition, state)
        self.flushed = 0
        self.sent: list[asyncio.Future[Any]] = []  # changelog writes not yet known acked

    def get(self, key: str) -> Any:
        state = self.cache.get(key)
        if state is None:
            raw = self.table.data.get(key.encode())
            if raw is not None:
                state = self.cache[key] = pickle.loads(raw)
        return state

    def put(self, partition: int, key: str, state: Any) -> None:
        """Mark ``state`` for the next flush. Flushes follow the order of the last puts (a key
        put again moves to the end): the processor puts a partition's clock after its series,
        so a crash in the middle of a flush leaves the clock behind the series, never ahead."""
        self.cache[key] = state
        self.dirty.pop(key, None)
        self.dirty[key] = (partition, state)

    def flush(self, owned: set[int] | None = None) -> int:
        """Send the dirty states to the changelog (buffered; Faust flushes before commit);
        with ``owned``, only those of these partitions.

        A rebalance revokes every partition at once, and the commit timer can run before the
        revoked partitions' dirty states are dropped (:meth:`forget`): flushed then, they
        would land in a changelog partition that another worker already restored and writes
        to, and overwrite its newer states for whoever restores the partition next. So the
        worker flushes only the partitions it owns (:func:`owned_partitions`); the rest stay
        dirty until :meth:`forget` drops them.
        """
        return self._flush(owned, None)[0]

    async def flush_in_steps(self, owned: set[int] | None = None,
                             step: float = FLUSH_STEP) -> int:
        """:meth:`flush`, handing the event loop back every ``step`` seconds (Kafka's
        heartbeats, Redis, the gateway's clients), so that thousands of dirty states do not
        hold it up for one long flush. Run it where nothing else changes the states: the
        worker's consumer runs it as a task of the batch gate just before each commit
        (:func:`stream.commits.ready_to_commit`); the flush of the commit itself then finds
        little or nothing left."""
        flushed, done = self._flush(owned, time.perf_counter() + step)
        while not done:
            await asyncio.sleep(0)
            n, done = self._flush(owned, time.perf_counter() + step)
            flushed += n
        return flushed

    def _flush(self, owned: set[int] | None, deadline: float | None) -> tuple[int, bool]:
        """Flush dirty states (of ``owned``) until ``deadline``; how many, and whether
        that was all of them."""
        flushed = 0
        for key, (partition, state) in list(self.dirty.items()):
            if owned is not None and partition not in owned:
                continue
            if deadline is not None and flushed and time.perf_counter() > deadline:
                self.flushed += flushed
                return flushed, False
            raw_key, raw_value = key.encode(), pickle.dumps(state, protocol=5)
            self.table.data.hold(partition, raw_key, raw_value)
            self.sent.append(self.table.send_changelog(partition, raw_key, raw_value))
            del self.dirty[key]
            flushed += 1
        self.flushed += flushed
        return flushed, True

    async def written(self, timeout: float) -> bool:
        """Wait until every changelog write sent so far is acked; ``False`` when some are not
        within ``timeout`` seconds (the next call waits for them again). A failed write
        raises its error.

        Faust flushes its producer before it commits offsets, but its producer buffer's flush
        gives up as soon as one message waits 0.1 s to be handed to the client
        (``ProducerBuffer.flush_atmost``): under load a commit reached Kafka before the states
        it covered, and a kill -9 then lost them. The worker's consumer waits here instead,
        just before it commits (:func:`stream.commits.changelog_written`).
        """
        sent, self.sent = self.sent, []
        if not sent:
            return True
        done, waiting = await asyncio.wait(sent, timeout=timeout)
        for fut in done:
            fut.result()  # a write that failed: its error
        if waiting:
            self.sent = [f for f in sent if f in waiting] + self.sent
            return False
        return True

    def keys(self) -> list[str]:
        """Every key this worker holds (restored from the changelog or written since)."""
        return list(dict.fromkeys([k.decode() for k in self.table.data] +
                                  list(self.dirty)))

    def keys_of(self, partition: int) -> list[str]:
        """The keys this worker holds of changelog partition ``partition`` (the table's store
        knows each key's partition: :meth:`stream.table_store.Store.keys_of`)."""
        held = [k.decode() for k in self.table.data.keys_of(partition)]
        return list(dict.fromkeys(held + [k for k, (p, _) in self.dirty.items()
                                          if p == partition]))

    def forget(self, revoked: set[int]) -> None:
        """On a rebalance: drop the deserialised cache, and the unflushed states of the
        ``revoked`` partitions.

        Those states come from batches whose offsets were never committed (Faust drops the
        acks of revoked partitions): their new owner replays the batches from the committed
        offset. Flushed later, they would land in the changelog after the new owner's newer
        states and overwrite them for whoever restores the partition next. The states of the
        partitions kept stay dirty until the next flush.
        """
        self.cache.clear()
        for key in [k for k, (p, _) in self.dirty.items() if p in revoked]:
            del self.dirty[key]

    # -- faust.Sensor -------------------------------------------------------------------
    def on_commit_initiated(self, consumer: Any) -> Any:
        self.flush(owned_partitions(consumer.app))
        return None


def owned_partitions(app: Any) -> set[int] | None:
    """The partitions the worker owns now (``None``: an app without
    :class:`stream.commits.Ownership`, which owns whatever it is assigned)."""
    ownership = getattr(app, "ownership", None)
    return None if ownership is None else {tp.partition for tp in ownership.tps}
