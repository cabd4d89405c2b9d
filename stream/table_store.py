"""The worker table's store: Faust's in-memory store, plus the changelog offset it holds.

Faust restores a table partition from its changelog at every rebalance, starting at the
offset its store says it holds (``persisted_offset``). Faust's in-memory store says none, so
every rebalance (a worker joining, leaving or dying) made every worker read back the whole
changelog of every partition it kept, and a standby replica promoted to owner did the same:
with 25k series a partition (~14 KB a state), a worker that only kept its partitions took
~34 s to serve them again.

:class:`Store` remembers, per changelog partition, the last offset its data includes: from the
changelog batches a recovery applies, and from the acks of the changelog writes this worker
sends (Faust calls ``set_persisted_offset`` on each, as for its RocksDB store). A partition it
keeps, or a standby it is promoted on, is then read from there: only what it has not seen.
A partition it is assigned as active and holds nothing of is read in bulk as it is assigned
(:mod:`stream.changelog_read`: one plain consumer in a thread, ~25x faster than Faust's
per-message recovery), so Faust's recovery starts at its end; if that read fails, Faust's
recovery reads the partition as before. When a recovery ends, the data and offsets of the
partitions it neither owns nor stands by for are dropped (Faust's in-memory store drops the
data; without the offset, a partition that comes back is read from the start, as it must be).

:class:`Table` is the Faust table class whose store this is (``faust.App(Table=...)``).

>>> from faust.types import TP
>>> tp = TP("t-series-state-changelog", 3)
>>> offsets = Offsets()
>>> offsets.seen(tp, 41); offsets.seen(tp, 40)
>>> offsets.get(tp)
41
>>> offsets.keep({0}); offsets.get(tp) is None
True
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import faust
from faust.stores import memory
from faust.types import TP, EventT, StoreT

from config.addresses import host_port
from stream.changelog_read import Loaded, read_partitions

__all__ = ["KeyPartitions", "Offsets", "Store", "Table"]

log = logging.getLogger(__name__)

#: how long the bulk read of newly assigned partitions may take before Faust's recovery
#: reads them instead
BULK_READ_TIMEOUT = 60.0


class Offsets:
    """Per changelog partition, the highest offset whose record the store holds."""

    def __init__(self) -> None:
        self._last: dict[Any, int] = {}

    def seen(self, tp: Any, offset: int) -> None:
        if offset > self._last.get(tp, -1):
            self._last[tp] = offset

    def get(self, tp: Any) -> int | None:
        return self._last.get(tp)

    def keep(self, partitions: set[int]) -> None:
        """Forget every partition but ``partitions``."""
        self._last = {tp: o for tp, o in self._last.items() if tp.partition in partitions}


class KeyPartitions(dict[Any, int]):
    """Faust's ``_key_partition`` (key -> changelog partition) that also keeps each
    partition's keys, for :meth:`Store.keys_of`: the scan of every key (100k at a day close)
    held the event loop 50-140 ms each time a sweep began a partition's pass.

    >>> kp = KeyPartitions()
    >>> kp[b"a"] = 0; kp[b"b"] = 1; kp[b"a"] = 1
    >>> sorted(kp.of(1)), kp.of(0), kp.pop(b"b"), kp.of(1)
    ([b'a', b'b'], [], 1, [b'a'])
    >>> del kp[b"a"]; kp.pop(b"x", None), kp.of(1)
    (None, [])
    >>> import copy, pickle
    >>> kp.update({b"c": 2}); kp.setdefault(b"d", 2); sorted(kp.of(2))
    2
    [b'c', b'd']
    >>> pickle.loads(pickle.dumps(kp)).of(2) == copy.copy(kp).of(2) == kp.of(2)
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self._of: dict[int, dict[Any, None]] = {}

    def __setitem__(self, key: Any, partition: int) -> None:
        old = super().get(key)
        if old is not None and old != partition:
            self._of[old].pop(key, None)
        super().__setitem__(key, partition)
        self._of.setdefault(partition, {})[key] = None

    def __delitem__(self, key: Any) -> None:
        self._of.get(super().__getitem__(key), {}).pop(key, None)
        super().__delitem__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            partition = super().pop(key)
            self._of.get(partition, {}).pop(key, None)
            return partition
        if default:
            return default[0]
        raise KeyError(key)

    def clear(self) -> None:
        super().clear()
        self._of.clear()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, partition in dict(*args, **kwargs).items():
            self[key] = partition

    def popitem(self) -> tuple[Any, int]:
        key, partition = super().popitem()
        self._of.get(partition, {}).pop(key, None)
        return key, partition

    def __reduce__(self) -> Any:  # a copy or a pickle rebuilds the index
        return _rebuilt, (dict(self),)

    def of(self, partition: int) -> list[Any]:
        """The keys of ``partition``."""
        return list(self._of.get(partition, ()))


def _rebuilt(items: dict[Any, int]) -> KeyPartitions:
    kp = KeyPartitions()
    kp.update(items)
    return kp


class Store(memory.Store):
    """Faust's in-memory store that knows which changelog offset its data reaches."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.offsets = Offsets()
        self._keys = KeyPartitions()
        self._key_partition = self._keys  # (Faust's own bookkeeping goes through it)

    def hold(self, partition: int, key: bytes, value: bytes) -> None:
        """Set ``key`` as a write of changelog partition ``partition`` (dropped with it)."""
        self.data[key] = value
        self._key_partition[key] = partition

    def keys_of(self, partition: int) -> list[bytes]:
        """The keys it holds of changelog partition ``partition``."""
        return self._keys.of(partition)

    def take(self, tp: TP, loaded: Loaded) -> None:
        """Apply a partition read in bulk: its keys' last values, and the offset it reached."""
        for key, value in loaded.values.items():
            if value is None:
                self.data.pop(key, None)
                self._key_partition.pop(key, None)
            else:
                self.hold(tp.partition, key, value)
        if loaded.last_offset is not None:
            self.offsets.seen(tp, loaded.last_offset)

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP],
                           generation_id: int = 0) -> None:
        """Read the active partitions this store holds nothing of in bulk, before Faust's
        recovery looks at :meth:`persisted_offset`."""
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        topic = self.table.changelog_topic.get_topic_name()
        empty = sorted(tp.partition for tp in self.app.assignor.assigned_actives()
                       if tp.topic == topic and self.offsets.get(tp) is None)
        if not empty:
            return
        bootstrap = ",".join(host_port(u.host or "localhost", u.port or 9092)
                             for u in self.app.conf.broker)
        started = time.monotonic()
        try:
            loaded = await asyncio.get_running_loop().run_in_executor(
                None, read_partitions, bootstrap, topic, empty, BULK_READ_TIMEOUT)
        except Exception as exc:  # Faust's own recovery reads them instead
            log.warning("bulk read of %s partitions %s failed (%s); Faust's recovery reads "
                        "them", topic, empty, exc)
            return
        for p, part in loaded.items():
            self.take(TP(topic, p), part)
        log.info("read %d keys of %s partitions %s in bulk in %.2f s",
                 sum(len(part.values) for part in loaded.values()), topic, empty,
                 time.monotonic() - started)

    def apply_changelog_batch(self, batch: Iterable[EventT], to_key: Callable[[Any], Any],
                              to_value: Callable[[Any], Any]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        for event in events:
            self.offsets.seen(event.message.tp, event.message.offset)

    def persisted_offset(self, tp: TP) -> int | None:
        return self.offsets.get(tp)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.offsets.seen(tp, offset)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        held = {tp.partition for tp in active_tps | standby_tps}
        for key in [k for k, p in self._key_partition.items() if p not in held]:
            self.data.pop(key, None)
            del self._key_partition[key]
        self.offsets.keep(held)


class Table(faust.Table):
    """Faust's table, stored in :class:`Store`."""

    def _new_store(self) -> StoreT:
        return Store(
            "memory://",
            self.app,
            self,
            table_name=self.name,
            key_type=self.key_type,
            key_serializer=self.key_serializer,
            value_serializer=self.value_serializer,
            value_type=self.value_type,
            loop=self.loop,
            options=self.options,
        )
