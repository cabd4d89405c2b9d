"""The worker table's store knows which changelog offset its data reaches, so a rebalance
reads back only what it has not seen, and forgets what it no longer holds (no Kafka)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from faust.types import TP

from stream.app import create_app
from stream.changelog_read import Loaded
from stream.table_store import Store

CHANGELOG = "t-store-series-state-changelog"


def _store(tmp_path: Path) -> Store:
    app = create_app("t-store", "127.0.0.1:9", datadir=str(tmp_path / "faust"))
    table = app.Table("series-state", default=None, partitions=4, key_type=bytes,
                      value_type=bytes)
    store = table.data
    assert type(store) is Store
    return store


def _event(partition: int, offset: int, key: bytes, value: bytes | None) -> SimpleNamespace:
    tp = TP(CHANGELOG, partition)
    message = SimpleNamespace(tp=tp, partition=partition, offset=offset, value=value)
    return SimpleNamespace(key=key, value=value, message=message)


def test_a_recovery_and_the_worker_s_own_writes_move_the_persisted_offset(
        tmp_path: Path) -> None:
    store = _store(tmp_path)
    tp = TP(CHANGELOG, 1)
    assert store.persisted_offset(tp) is None  # nothing held: read from the start
    store.apply_changelog_batch([_event(1, 7, b"s:A", b"a"), _event(1, 9, b"s:B", b"b")],
                                lambda k: k, lambda v: v)
    assert store.persisted_offset(tp) == 9 and store.data[b"s:B"] == b"b"
    store.hold(1, b"s:A", b"a2")
    store.set_persisted_offset(tp, 12)  # the ack of the changelog write
    store.set_persisted_offset(tp, 11)  # never backwards
    assert store.persisted_offset(tp) == 12 and store.data[b"s:A"] == b"a2"


def test_what_is_neither_owned_nor_on_standby_is_dropped_with_its_offset(
        tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.apply_changelog_batch([_event(p, 5, f"s:{p}".encode(), b"x") for p in range(3)],
                                lambda k: k, lambda v: v)
    store.hold(2, b"s:own-2", b"y")
    asyncio.run(store.on_recovery_completed({TP(CHANGELOG, 0)}, {TP(CHANGELOG, 1)}))
    assert sorted(store.data) == [b"s:0", b"s:1"]
    assert store.persisted_offset(TP(CHANGELOG, 0)) == 5
    assert store.persisted_offset(TP(CHANGELOG, 1)) == 5  # a standby: promoted, reads the tail
    assert store.persisted_offset(TP(CHANGELOG, 2)) is None  # back later: from the start


def test_an_assigned_partition_held_nowhere_is_read_in_bulk_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    store.apply_changelog_batch([_event(0, 3, b"s:kept", b"k")], lambda k: k, lambda v: v)
    asked: list[tuple[str, list[int]]] = []

    def read(bootstrap: str, topic: str, partitions: list[int], timeout: float) -> dict:
        asked.append((topic, partitions))
        return {1: Loaded({b"s:A": b"a", b"s:gone": None}, 41), 2: Loaded({}, None)}

    monkeypatch.setattr("stream.table_store.read_partitions", read)
    actives = {TP(CHANGELOG, p) for p in (0, 1, 2)} | {TP("other-changelog", 3)}
    monkeypatch.setattr(store.app.assignor, "assigned_actives", lambda: actives)
    store.hold(1, b"s:gone", b"stale")
    asyncio.run(store.on_rebalance(set(), set(), set()))
    assert asked == [(CHANGELOG, [1, 2])]  # partition 0 is held already: Faust reads its tail
    assert store.data[b"s:A"] == b"a" and b"s:gone" not in store.data
    assert store.data[b"s:kept"] == b"k"
    assert store.persisted_offset(TP(CHANGELOG, 1)) == 41  # Faust's recovery starts there
    assert store.persisted_offset(TP(CHANGELOG, 2)) is None  # empty: nothing to skip


def test_a_failed_bulk_read_leaves_the_partition_to_faust_s_recovery(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)

    def read(bootstrap: str, topic: str, partitions: list[int], timeout: float) -> dict:
        raise TimeoutError("not read within 60 s")

    monkeypatch.setattr("stream.table_store.read_partitions", read)
    monkeypatch.setattr(store.app.assignor, "assigned_actives", lambda: {TP(CHANGELOG, 1)})
    asyncio.run(store.on_rebalance(set(), set(), set()))
    assert store.persisted_offset(TP(CHANGELOG, 1)) is None and not store.data


def test_the_keys_of_a_partition_follow_every_change_of_the_store(tmp_path: Path) -> None:
    """keys_of reads a per-partition index, kept by every way keys come and go: a recovery's
    batches (deletions too), the worker's own writes, a bulk read and the end of a
    recovery. It equals the scan of every key it replaced."""
    store = _store(tmp_path)

    def scan(p: int) -> list[bytes]:
        return sorted(k for k, q in store._key_partition.items() if q == p)

    def check() -> None:
        for p in range(4):
            assert sorted(store.keys_of(p)) == scan(p), p

    store.apply_changelog_batch([_event(p % 3, p, f"s:{p}".encode(), b"x") for p in range(9)],
                                lambda k: k, lambda v: v)
    check()
    store.apply_changelog_batch([_event(0, 20, b"s:0", None)], lambda k: k, lambda v: v)
    store.hold(3, b"s:new", b"y")
    store.take(TP(CHANGELOG, 2), Loaded({b"s:2": None, b"s:bulk": b"z"}, 30))
    check()
    assert b"s:0" not in store.keys_of(0) and b"s:new" in store.keys_of(3)
    asyncio.run(store.on_recovery_completed({TP(CHANGELOG, 0)}, {TP(CHANGELOG, 2)}))
    check()
    assert store.keys_of(1) == [] and store.keys_of(3) == []
