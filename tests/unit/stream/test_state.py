"""The worker's state store: dirty states flushed in the order of their last put, and the
unflushed states of revoked partitions dropped on a rebalance (a table stub, no Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from stream.state import StateStore, pack, unpack


class _Data(dict[bytes, bytes]):
    """What the state store uses of :class:`stream.table_store.Store`."""

    def __init__(self) -> None:
        super().__init__()
        self._key_partition: dict[bytes, int] = {}  # Faust's memory store keeps it

    def hold(self, partition: int, key: bytes, value: bytes) -> None:
        self[key] = value
        self._key_partition[key] = partition

    def keys_of(self, partition: int) -> list[bytes]:
        return [k for k, p in self._key_partition.items() if p == partition]


class _Table:
    def __init__(self) -> None:
        self.data = _Data()
        self.sent: list[tuple[int, bytes, Any]] = []
        self.futures: list[asyncio.Future[None]] = []

    def send_changelog(self, partition: int, key: bytes, value: bytes) -> asyncio.Future[None]:
        self.sent.append((partition, key, unpack(value)))
        fut = asyncio.get_event_loop().create_future()
        self.futures.append(fut)
        return fut


@pytest.fixture(autouse=True)
def _loop() -> Iterator[None]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def test_flush_follows_the_last_puts() -> None:
    table = _Table()
    store = StateStore(table)
    store.put(0, "p:0", "clock-1")
    store.put(0, "s:A", "a-1")
    store.put(0, "p:0", "clock-2")  # put again: moves after the series
    assert store.flush() == 2
    assert [(k, v) for _, k, v in table.sent] == [(b"s:A", "a-1"), (b"p:0", "clock-2")]
    assert store.get("s:A") == "a-1" and store.flush() == 0


def test_a_rebalance_drops_the_unflushed_states_of_revoked_partitions_only() -> None:
    """Their offsets were never committed: the new owner replays them, and a flush after
    the rebalance would overwrite the new owner's newer states in the changelog."""
    table = _Table()
    store = StateStore(table)
    store.put(1, "s:A", "a-1")
    store.put(2, "s:B", "b-1")
    store.flush()
    store.put(1, "s:A", "a-2")  # after the last commit
    store.put(2, "s:B", "b-2")
    store.forget({1})
    assert store.get("s:A") == "a-1"  # the flushed state: the replay starts from it
    assert store.flush() == 1
    assert table.sent[-1] == (2, b"s:B", "b-2")  # the kept partition's state is not lost


def test_only_owned_partitions_are_flushed() -> None:
    """Between the start of a rebalance (nothing owned) and :meth:`forget`, a commit must not
    write the revoked partitions' states into a changelog another worker now writes to."""
    from types import SimpleNamespace

    from faust.types import TP

    from stream.state import owned_partitions

    table = _Table()
    store = StateStore(table)
    store.put(1, "s:A", "a-1")
    store.put(2, "s:B", "b-1")
    ownership = SimpleNamespace(tps={TP("events", 2), TP("changelog", 2)})
    consumer = SimpleNamespace(app=SimpleNamespace(ownership=ownership))
    assert owned_partitions(consumer.app) == {2}
    store.on_commit_initiated(consumer)
    assert [(p, k) for p, k, _ in table.sent] == [(2, b"s:B")]
    ownership.tps = set()  # a rebalance started
    store.put(2, "s:B", "b-2")
    store.on_commit_initiated(consumer)
    assert len(table.sent) == 1
    store.forget({1, 2})
    assert store.flush() == 0
    assert owned_partitions(SimpleNamespace()) is None  # an app without ownership


def test_a_commit_waits_until_every_changelog_write_is_acked() -> None:
    """Faust's producer-buffer flush may return with writes still queued; the commit waits
    for the acks of everything flushed, and a write not acked in time is waited for again."""
    table = _Table()
    store = StateStore(table)
    loop = asyncio.get_event_loop()
    assert loop.run_until_complete(store.written(0.01))  # nothing sent: nothing to wait for
    store.put(0, "s:A", "a")
    store.put(1, "s:B", "b")
    store.flush()
    first, second = table.futures
    first.set_result(None)
    assert not loop.run_until_complete(store.written(0.01))  # s:B is not acked: no commit
    store.put(0, "s:C", "c")
    store.flush()
    loop.call_later(0.01, second.set_result, None)
    loop.call_later(0.02, table.futures[2].set_result, None)
    assert loop.run_until_complete(store.written(5))  # both waited for, old and new
    assert store.sent == []
    store.put(0, "s:D", "d")
    store.flush()
    table.futures[3].set_exception(RuntimeError("the changelog write failed"))
    with pytest.raises(RuntimeError, match="changelog write failed"):
        loop.run_until_complete(store.written(1))


def test_the_keys_of_a_partition_are_those_held_and_those_put_since() -> None:
    store = StateStore(_Table())
    store.put(0, "s:A", {"n": 1})
    store.put(1, "s:B", {"n": 1})
    store.flush()
    store.put(0, "s:A", {"n": 2})  # held and dirty: once
    store.put(0, "s:C", {"n": 1})
    assert sorted(store.keys_of(0)) == ["s:A", "s:C"] and store.keys_of(1) == ["s:B"]
    assert store.keys_of(2) == []
    store.flush()  # s:C is the table's now: still once
    store.put(0, "s:C", {"n": 2})
    store.put(1, "s:D", {"n": 1})
    assert sorted(store.keys_of(0)) == ["s:A", "s:C"] and sorted(store.keys_of(1)) == [
        "s:B", "s:D"]
    store.forget({1})  # s:D was never flushed: gone with its state
    assert store.keys_of(1) == ["s:B"] and sorted(store.keys_of(0)) == ["s:A", "s:C"]
    store.put(2, "p:2", {"n": 1})
    store.flush()
    assert store.any_key(1, "s:") == "s:B" and store.any_key(2, "s:") is None
    assert store.any_key(2, "p:") == "p:2" and store.any_key(3, "s:") is None


def test_flush_steps_keep_each_clock_after_its_series_with_batches_in_between() -> None:
    """Steps of one state each, and between two steps a batch that changes a flushed series
    and the clock again: the clock still reaches the changelog after every series put before
    it, and partition 1's states (not owned here) stay dirty."""
    table = _Table()
    store = StateStore(table)
    for i in range(300):
        store.put(i % 2, f"s:{i}", list(range(2000)))
    store.put(0, "p:0", "clock")  # last: flushed after its series
    steps = 0
    while store.has_dirty({0}):
        asyncio.get_event_loop().run_until_complete(store.flush_step(lambda: {0}, step=0.0))
        steps += 1
        if steps == 10:  # a batch: a series flushed already, then its clock, again
            store.put(0, "s:0", "s0 again")
            store.put(0, "p:0", "clock again")
    sent = [(k, v) for _, k, v in table.sent]
    assert steps == len(sent) == 152 and sent[-2:] == [(b"s:0", "s0 again"),
                                                      (b"p:0", "clock again")]
    assert (b"p:0", "clock") not in sent  # the clock was put again before its turn came
    assert [p for p, _, _ in table.sent] == [0] * 152
    assert len(store.dirty) == 150 and not store.has_dirty({0}) and store.has_dirty(None)


def test_a_state_pickled_before_packing_still_loads_and_packed_ones_are_small() -> None:
    import pickle

    from stream.state import pack

    table = _Table()
    store = StateStore(table)
    table.data[b"s:old"] = pickle.dumps({"qty": 3.0}, protocol=5)  # an old changelog
    assert store.get("s:old") == {"qty": 3.0}
    state = {"row": bytes(14_000) + b"\x01", "history": [0.0] * 500}
    assert unpack(pack(state)) == state
    assert len(pack(state)) < len(pickle.dumps(state, protocol=5)) / 10


def test_with_a_sender_a_flush_hands_it_each_partition_s_states_in_order() -> None:
    class Sender:
        def __init__(self) -> None:
            self.got: list[dict[int, list[tuple[bytes, bytes]]]] = []

        def send(self, records: dict[int, list[tuple[bytes, bytes]]]) -> str:
            self.got.append(records)
            return "a future"

    table, sender = _Table(), Sender()
    store = StateStore(table, sender)  # type: ignore[arg-type]
    for key, partition in [("s:A", 0), ("s:B", 1), ("s:C", 0), ("p:0", 0)]:
        store.put(partition, key, key.lower())
    assert store.flush() == 4 and table.sent == [] and store.sent == ["a future"]
    (records,) = sender.got
    assert {p: [(k, unpack(v)) for k, v in rs] for p, rs in records.items()} == {
        0: [(b"s:A", "s:a"), (b"s:C", "s:c"), (b"p:0", "p:0")], 1: [(b"s:B", "s:b")]}
    assert store.get("p:0") == "p:0" and table.data[b"s:B"] == records[1][0][1]


def test_a_restored_series_of_another_bucket_width_stops_the_worker() -> None:
    """A weekly demo on services left up by a monthly one restored the monthly states and
    relabelled months as weeks, dead-lettering every event as too late, without a word."""
    from stream.bucketing import SeriesBuckets
    from stream.errors import SettingsChanged
    from stream.series_state import SeriesState

    class _Table:
        data = {b"s:A": pack(SeriesState("A", SeriesBuckets(2_629_800, 3600, 0)))}

    assert StateStore(_Table(), width=2_629_800).get("s:A").buckets.width == 2_629_800
    assert StateStore(_Table()).get("s:A") is not None  # no width given: not checked
    with pytest.raises(SettingsChanged, match=r"s:A was bucketed by 2629800 s and this worker "
                                              r"buckets by 604800 s"):
        StateStore(_Table(), width=604_800).get("s:A")


def test_a_restored_series_laid_on_another_clock_stops_the_worker() -> None:
    """SALESCAST_UTC_OFFSET moves every bucket start: a state of days from UTC midnight read
    by a worker of New York's days would close 19-hour buckets and mislabel all the rest."""
    from models import grid
    from stream.bucketing import SeriesBuckets
    from stream.errors import SettingsChanged
    from stream.series_state import SeriesState

    def table(ts: float, width: int = 86_400) -> object:
        buckets = SeriesBuckets(width, 3600, 0)
        buckets.open[grid.start(ts, width)] = None  # type: ignore[assignment]
        return type("T", (), {"data": {b"s:A": pack(SeriesState("A", buckets))}})()

    utc = table(1_720_000_000)
    try:
        grid.use_offset(-5 * 3600)
        new_york = table(1_720_000_000)
        assert StateStore(new_york, width=86_400).get("s:A") is not None
        with pytest.raises(SettingsChanged, match=r"s:A's buckets start at 1719964800 s, off "
                                                  r"this worker.s grid.*SALESCAST_UTC_OFFSET, now "
                                                  r"UTC-05:00"):
            StateStore(utc, width=86_400).get("s:A")
        hourly = table(1_720_000_000, 3600)
        grid.use_offset(-4 * 3600)  # hours stay on an hourly grid whatever the offset
        assert StateStore(hourly, width=3600).get("s:A") is not None
    finally:
        grid.use_offset(0)
    assert StateStore(utc, width=86_400).get("s:A") is not None
