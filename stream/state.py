"""The worker's state store: live objects in memory, pickled into a changelog-backed table
once per commit rather than once per batch.

Faust acks a batch once the agent has handled it, and commits acked offsets on a timer. Just
before every commit, :meth:`StateStore.on_commit_initiated` (a Faust sensor hook) writes each
state changed since the last commit to the table's changelog; Faust then flushes the producer
and only after that commits the offsets. So a committed offset always has its state in the
changelog (no loss), and a crash before the commit replays the batches, which the processor
skips per series by offset (no double count). Packing a series state costs ~20-60 us: doing
it once per commit instead of once per batch is what keeps the hot path cheap.

The changelog holds each state packed (:func:`pack`): its pickle, lz4-compressed. A series'
pickle is ~15 KB, mostly its model row, and packs into ~2-5 KB; unpacked, the changelog a
worker wrote and the store it keeps in memory were ten times larger, and the broker's writes
of it (~14 MB/s at 2,000 events/s over 2,000 series) held up its fetches. A series' model
row (12 KB daily, 23 KB hourly) is packed apart and reused while it has not changed (a row
changes when a bucket closes, a state is flushed after every batch that touched it): on one
idle core, 200 series of 30 days, packing a state took ~61 us (exporting the row ~32,
compressing it ~15), ~19 us when its row block was reused.

>>> unpack(pack({"qty": [0.0] * 1000}))["qty"][:2], len(pack([0.0] * 1000)) < 100
([0.0, 0.0], True)
"""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Callable
from typing import Any

import cramjam
import faust

from models import grid
from stream.changelog_send import BatchSender
from stream.errors import SettingsChanged
from stream.series_state import SeriesState

__all__ = ["StateStore", "owned_partitions", "pack", "unpack"]

FLUSH_STEP = 0.02  # seconds of pickling between two hand-backs of the event loop
PACKED = b"L4"  # the prefix of a packed state (a pickle of protocol 2 or more starts b"\x80")
ROW_PACKED = b"L5"  # the prefix of a series state packed with its model row apart


def pack(state: Any, previous: bytes | None = None) -> bytes:
    """A state's changelog bytes: its pickle as an lz4 block, after :data:`PACKED`.

    A :class:`~stream.series_state.SeriesState` packs its model row on its own
    (:data:`ROW_PACKED`: the row's lz4 block, then its other fields'), and takes the row's
    block from ``previous`` (the bytes it packed last) when the row has not changed since:
    most flushes find a series' row as it was (it changes when a bucket closes), and
    exporting and compressing it was ~3/4 of packing the state."""
    if not isinstance(state, SeriesState):
        return PACKED + _lz4(pickle.dumps(state, protocol=5))
    row = _row_part(previous) if state.packed_row is not None and previous else None
    if row is None or hash(row) != state.packed_row:
        model = state.model_bytes()
        row = _lz4(model) if model else b""
    body = _lz4(pickle.dumps(state.fields(), protocol=5))
    state.packed_row = hash(row)
    return ROW_PACKED + len(row).to_bytes(4, "little") + row + body


def unpack(raw: bytes) -> Any:
    """The state of changelog bytes: packed, or a bare pickle (written before packing)."""
    row = _row_part(raw)
    if row is not None:
        fields = pickle.loads(bytes(cramjam.lz4.decompress_block(raw[6 + len(row):])))
        return SeriesState.from_fields(
            fields, bytes(cramjam.lz4.decompress_block(row)) if row else b"")
    if raw[:2] == PACKED:
        return pickle.loads(bytes(cramjam.lz4.decompress_block(raw[2:])))
    return pickle.loads(raw)


def _lz4(data: bytes) -> bytes:
    return bytes(cramjam.lz4.compress_block(data))


def _row_part(raw: bytes) -> bytes | None:
    """The model row's block of :data:`ROW_PACKED` bytes (``None`` for other bytes)."""
    if raw[:2] != ROW_PACKED:
        return None
    return raw[6:6 + int.from_bytes(raw[2:6], "little")]


class StateStore(faust.Sensor):
    """Reads and writes per-key state for the processor; flushes dirty keys on commit."""

    def __init__(self, table: Any, sender: BatchSender | None = None,
                 width: int | None = None) -> None:
        """``sender`` sends each flush's states in record batches (the worker's); without
        it, each state goes through the table's ``send_changelog``, one message at a time.
        ``width``: the worker's bucket width, which a restored series state must have."""
        super().__init__()
        self.table, self.sender, self.width = table, sender, width
        self.cache: dict[str, Any] = {}
        self.dirty: dict[str, tuple[int, Any]] = {}  # key -> (changelog partition, state)
        #: per partition, the keys of its dirty states (:meth:`keys_of`)
        self.dirty_of: dict[int, dict[str, None]] = {}
        self.flushed = 0
        self.step_size = 0  # states the last flush step packed
        self.sent: list[asyncio.Future[Any]] = []  # changelog writes not yet known acked

    def get(self, key: str) -> Any:
        state = self.cache.get(key)
        if state is None:
            raw = self.table.data.get(key.encode())
            if raw is not None:
                state = self.cache[key] = self._checked(key, unpack(raw))
        return state

    def _checked(self, key: str, state: Any) -> Any:
        """``state``, unless it is a series bucketed with another width than the worker's (a
        demo of a weekly file, run on services left up by a monthly one, relabelled months as
        weeks and dead-lettered every event as too late, without a word: a probe's finding),
        or on another clock (SALESCAST_UTC_OFFSET: its buckets start off the worker's grid)."""
        buckets = getattr(state, "buckets", None)
        width = getattr(buckets, "width", None)
        if self.width is None or width is None:
            return state
        if width == self.width:
            first = buckets.closed_until  # type: ignore[union-attr]
            if first is None:
                first = min(buckets.open, default=None)  # type: ignore[union-attr]
            if first is None or grid.start(first, width) == first:
                return state
            what = (f"{key}'s buckets start at {first} s, off this worker's grid: they were "
                    f"laid on another clock (SALESCAST_UTC_OFFSET, now "
                    f"{grid.offset_text(grid.utc_offset())})")
        else:
            what = (f"{key} was bucketed by {width} s and this worker buckets by {self.width} "
                    "s (SALESCAST_BUCKET_SECONDS)")
        raise SettingsChanged(
            f"{what}: set it back, or start a new topic set and SALESCAST_WORKER_ID with an "
            "empty Redis (`salescast services down` then `up`, for the local ones)")

    def put(self, partition: int, key: str, state: Any) -> None:
        """Mark ``state`` for the next flush. Flushes follow the order of the last puts (a key
        put again moves to the end): the processor puts a partition's clock after its series,
        so a crash in the middle of a flush leaves the clock behind the series, never ahead."""
        self.cache[key] = state
        self.dirty.pop(key, None)
        self.dirty[key] = (partition, state)
        self.dirty_of.setdefault(partition, {})[key] = None

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
        return self._flush(owned, None)

    def has_dirty(self, owned: set[int] | None = None) -> bool:
        """Whether a state (of ``owned``) waits for a flush."""
        return any(owned is None or p in owned for p, _ in self.dirty.values())

    async def flush_step(self, owned: Callable[[], set[int] | None],
                         step: float = FLUSH_STEP) -> None:
        """One step of a flush: about ``step`` seconds of :meth:`flush` (at least one state),
        of the partitions ``owned()`` says this worker owns as the step starts. The worker's
        consumer runs steps until nothing is left, each as a task of the batch gate
        (:func:`stream.commits.ready_to_commit`), so that a batch waits for one step, not for
        thousands of states; the batches in between put their states at the end, each
        partition's clock after its series, so the order of the flush holds across steps."""
        self.step_size = self._flush(owned(), time.perf_counter() + step)

    def few_dirty(self) -> bool:
        """Whether the states left dirty (of any partition) take about one flush step at
        most, as the last step went."""
        return len(self.dirty) <= self.step_size

    def _flush(self, owned: set[int] | None, deadline: float | None) -> int:
        """Flush dirty states (of ``owned``) until ``deadline`` (at least one); how many."""
        flushed = 0
        records: dict[int, list[tuple[bytes, bytes]]] = {}
        # flushed keys leave ``dirty`` after the loop: copying the dict to delete them as it
        # went cost every step ~7.5 ms with 100k states dirty (a day close)
        done: list[str] = []
        for key, (partition, state) in self.dirty.items():
            if owned is not None and partition not in owned:
                continue
            if deadline is not None and flushed and time.perf_counter() > deadline:
                break
            raw_key = key.encode()
            raw_value = pack(state, self.table.data.get(raw_key))
            self.table.data.hold(partition, raw_key, raw_value)
            if self.sender is None:
                self.sent.append(self.table.send_changelog(partition, raw_key, raw_value))
            else:
                records.setdefault(partition, []).append((raw_key, raw_value))
            done.append(key)
            flushed += 1
        for key in done:
            self.dirty_of[self.dirty.pop(key)[0]].pop(key, None)
        if records:
            self.sent.append(self.sender.send(records))  # type: ignore[union-attr]
        self.flushed += flushed
        return flushed

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

    def pending(self) -> list[Any]:
        """The states waiting for a flush."""
        return [state for _, state in self.dirty.values()]

    def keys(self) -> list[str]:
        """Every key this worker holds (restored from the changelog or written since)."""
        return list(dict.fromkeys([k.decode() for k in self.table.data] +
                                  list(self.dirty)))

    def keys_of(self, partition: int) -> list[str]:
        """The keys this worker holds of changelog partition ``partition``: the table's (its
        store knows each key's partition: :meth:`stream.table_store.Store.keys_of`), and those
        of its dirty states (:attr:`dirty_of`: they were found among every dirty state, 85-180
        ms of the event loop at each sweep pass with 100k states dirty at a day close)."""
        held = [k.decode() for k in self.table.data.keys_of(partition)]
        return list(dict.fromkeys(held + list(self.dirty_of.get(partition, ()))))

    def any_key(self, partition: int, prefix: str) -> str | None:
        """A key of changelog partition ``partition`` starting with ``prefix`` that the table
        holds (None: none), found without decoding them all (as :meth:`keys_of` does)."""
        raw = prefix.encode()
        return next((key.decode() for key in self.table.data.keys_of(partition)
                     if key.startswith(raw)), None)

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
        for p in revoked:
            for key in self.dirty_of.pop(p, {}):
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
