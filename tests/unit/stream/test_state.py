"""The worker's state store: dirty states flushed in the order of their last put, and the
unflushed states of revoked partitions dropped on a rebalance (a table stub, no Kafka)."""

from __future__ import annotations

import pickle
from typing import Any

from stream.state import StateStore


class _Data(dict[bytes, bytes]):
    """What the state store uses of :class:`stream.table_store.Store`."""

    def hold(self, partition: int, key: bytes, value: bytes) -> None:
        self[key] = value


class _Table:
    def __init__(self) -> None:
        self.data = _Data()
        self.sent: list[tuple[int, bytes, Any]] = []

    def send_changelog(self, partition: int, key: bytes, value: bytes) -> None:
        self.sent.append((partition, key, pickle.loads(value)))


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
