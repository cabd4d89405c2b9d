"""Changelog writes in record batches (a fake producer: the batches it got, and their acks)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.types import TP

from stream.changelog_send import BatchSender


class _Batch:
    def __init__(self, room: int) -> None:
        self.room, self.records = room, []

    def append(self, *, key: bytes, value: bytes, timestamp: float | None) -> object | None:
        if len(value) > 100 or len(self.records) == self.room:
            return None
        self.records.append(key)
        return object()


class _Producer:
    """Acks each batch at the next offsets of its partition, once ``release`` is set."""

    def __init__(self, room: int = 10) -> None:
        self.room, self.sent, self.ends = room, [], {}
        self.release = asyncio.Event()
        self.fail: int | None = None  # the partition whose batches fail

    def create_batch(self) -> _Batch:
        return _Batch(self.room)

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.sent.append((partition, list(batch.records)))
        fut = asyncio.get_running_loop().create_future()
        base = self.ends.get(partition, 0)
        self.ends[partition] = base + len(batch.records)

        async def ack() -> None:
            await self.release.wait()
            if partition == self.fail:
                fut.set_exception(RuntimeError("broker says no"))
            else:
                fut.set_result(type("Meta", (), {"offset": base})())

        asyncio.ensure_future(ack())
        return fut


def _sender(producer: _Producer) -> tuple[BatchSender, dict[TP, int]]:
    persisted: dict[TP, int] = {}
    return BatchSender(lambda: producer, lambda: "cl", persisted.__setitem__), persisted


def _records(partition: int, *keys: str) -> list[tuple[bytes, bytes]]:
    return [(f"{partition}:{k}".encode(), b"v") for k in keys]


def test_a_flush_is_one_batch_per_partition_and_the_store_learns_the_last_offsets() -> None:
    async def main() -> tuple[list, dict]:
        producer = _Producer()
        sender, persisted = _sender(producer)
        done = sender.send({0: _records(0, "a", "b", "c"), 3: _records(3, "x")})
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not done.done() and persisted == {}  # not acked yet
        producer.release.set()
        await done
        return producer.sent, persisted

    sent, persisted = asyncio.run(main())
    assert sent == [(0, [b"0:a", b"0:b", b"0:c"]), (3, [b"3:x"])]
    assert persisted == {TP("cl", 0): 2, TP("cl", 3): 0}


def test_a_full_batch_starts_another_and_a_record_too_large_for_any_is_an_error() -> None:
    async def main() -> tuple[list, dict]:
        producer = _Producer(room=2)
        producer.release.set()
        sender, persisted = _sender(producer)
        await sender.send({1: _records(1, *"abcde")})
        with pytest.raises(ValueError, match="does not fit"):
            sender.send({1: [(b"k", b"v" * 101)]})
        return producer.sent, persisted

    sent, persisted = asyncio.run(main())
    assert [len(r) for _, r in sent] == [2, 2, 1] and persisted == {TP("cl", 1): 4}


def test_a_flush_s_batches_go_after_those_of_the_flush_before() -> None:
    """The second flush's task may run first; its batches still wait for the first's."""
    async def main() -> list:
        producer = _Producer()
        sender, _ = _sender(producer)
        gate = asyncio.Event()
        send_batch = producer.send_batch

        async def slow_first(batch: _Batch, topic: str, *, partition: int) -> Any:
            if batch.records[0] == b"0:first":
                await gate.wait()
            return await send_batch(batch, topic, partition=partition)

        producer.send_batch = slow_first  # type: ignore[method-assign]
        first = sender.send({0: _records(0, "first")})
        second = sender.send({0: _records(0, "second")})
        for _ in range(5):
            await asyncio.sleep(0)
        assert producer.sent == []  # the second waits for the first to be submitted
        gate.set()
        producer.release.set()
        await asyncio.gather(first, second)
        return producer.sent

    assert asyncio.run(main()) == [(0, [b"0:first"]), (0, [b"0:second"])]


def test_a_failed_batch_fails_its_flush_and_persists_nothing() -> None:
    async def main() -> dict:
        producer = _Producer()
        producer.fail = 2
        producer.release.set()
        sender, persisted = _sender(producer)
        with pytest.raises(RuntimeError, match="broker says no"):
            await sender.send({0: _records(0, "a"), 2: _records(2, "b")})
        await sender.send({0: _records(0, "c")})  # the next flush goes on
        return persisted

    assert asyncio.run(main()) == {TP("cl", 0): 1}
