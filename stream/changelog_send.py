"""Changelog writes in record batches: each partition's flushed states in one produce request.

Faust sends a table's changelog one message at a time: each write becomes a future message
in its producer buffer, which a task hands to aiokafka's ``send`` in turn. With ~1,000
states flushed at each commit (every second at 2,000 events/s over 2,000 series) that queue
kept the event loop busy for 100-250 ms after every commit, and the agent got one message at
a time meanwhile. :class:`BatchSender` instead appends a flush's states to one aiokafka
record batch per partition (a new one when a batch is full, at the producer's
``max_batch_size``) and submits the batches with ``send_batch``.

What Faust did on each acked write is done per batch: the store learns the offset of the
partition's last record (``persisted``: the offset its data reaches, which the next
recovery starts from, :mod:`stream.table_store`). The sends of one flush are submitted in
one task, after the task of the flush before it has submitted its own, so that a partition's
records reach the changelog in the order they were flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from faust.types import TP

__all__ = ["BatchSender"]


class BatchSender:
    """Sends flushed states to ``topic`` through ``producer()`` (an ``AIOKafkaProducer``,
    asked at each send: Faust starts it after the table), telling ``persisted`` the offset
    of each partition's last delivered record."""

    def __init__(self, producer: Callable[[], Any], topic: Callable[[], str],
                 persisted: Callable[[TP, int], None]) -> None:
        self.producer, self.topic, self.persisted = producer, topic, persisted
        self._last: asyncio.Future[None] | None = None  # the previous flush's sends

    @classmethod
    def for_table(cls, app: Any, table: Any) -> BatchSender:
        """The sender of a Faust ``table``'s changelog, through ``app``'s producer."""
        return cls(lambda: app.producer._ensure_producer(),
                   table.changelog_topic.get_topic_name, table.data.set_persisted_offset)

    def send(self, records: dict[int, list[tuple[bytes, bytes]]]) -> asyncio.Future[None]:
        """Queue ``records`` (partition -> ``(key, value)`` in flush order); the future is
        done once every one is acked, and raises the error of a send that failed."""
        producer = self.producer()
        batches: list[tuple[int, Any, int]] = []  # (partition, batch, records in it)
        for partition, items in records.items():
            batch, n = producer.create_batch(), 0
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    batches.append((partition, batch, n))
                    batch, n = producer.create_batch(), 0
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"a changelog record of {len(value)} bytes does "
                                         "not fit in a producer batch")
                n += 1
            if n:
                batches.append((partition, batch, n))
        self._last = asyncio.ensure_future(self._submit(self._last, producer, batches))
        return self._last

    async def _submit(self, before: asyncio.Future[None] | None, producer: Any,
                      batches: list[tuple[int, Any, int]]) -> None:
        if before is not None:  # its records first (its error is its own waiter's)
            with contextlib.suppress(Exception):
                await asyncio.shield(before)
        topic = self.topic()
        delivered = []
        for partition, batch, n in batches:
            fut = await producer.send_batch(batch, topic, partition=partition)
            delivered.append(fut)
            fut.add_done_callback(lambda f, p=partition, n=n: self._acked(f, topic, p, n))
        await asyncio.gather(*delivered)

    def _acked(self, fut: asyncio.Future[Any], topic: str, partition: int, n: int) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.persisted(TP(topic, partition), fut.result().offset + n - 1)
