"""Read table changelog partitions in bulk, up to their current end.

Faust restores a table partition from its changelog one message at a time through its
stream machinery (a few asyncio tasks and queue hops per message): about 1 ms a message on
this 2-core machine, so a worker taking over a partition of 25k series waited ~30 s. The
worker's table store (:mod:`stream.table_store`) instead reads a changelog partition it holds
nothing of with one plain confluent-kafka consumer (no group, nothing committed), in a thread,
when the partition is assigned; Faust's own recovery then starts at the offset after what was
read and finds nothing, or only what was written since, to read.

Only the last value of each key is kept (``None``: a deletion), as replaying the changelog in
offset order would leave it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from stream.topic_read import read_to_end

__all__ = ["Loaded", "read_partitions"]


@dataclass(slots=True)
class Loaded:
    """One changelog partition read from its start: the last value of every key, and the
    offset of the last record it had when the read began (``None``: it had none)."""

    values: dict[bytes, bytes | None]
    last_offset: int | None


def read_partitions(bootstrap: str, topic: str, partitions: list[int],
                    timeout: float = 60.0) -> dict[int, Loaded]:
    """Every record of ``topic``'s ``partitions`` up to their end offsets as of now, latest
    value per key. Blocking (run it in a thread). Raises :class:`TimeoutError` when it cannot
    read them within ``timeout`` seconds, ``confluent_kafka.KafkaException`` on a Kafka error.
    """
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    no_leader_yet = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                     KafkaError.UNKNOWN_TOPIC_OR_PART}

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "salescast-changelog-reader",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        "queued.max.messages.kbytes": 256 * 1024,
    })
    deadline = time.monotonic() + timeout
    try:
        ends: dict[int, tuple[int, int]] = {}
        for p in partitions:
            while True:  # a changelog just created may have no leader yet: retry until then
                try:
                    ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                             timeout=timeout)
                    break
                except KafkaException as exc:
                    err = exc.args[0]
                    if not isinstance(err, KafkaError) or time.monotonic() > deadline \
                            or not (err.retriable() or err.code() in no_leader_yet):
                        raise
                    time.sleep(0.2)
        out = {p: Loaded({}, None) for p in partitions}

        def keep(msg: Any) -> None:
            if (key := msg.key()) is not None:
                out[msg.partition()].values[key] = msg.value()

        read_to_end(consumer, topic, ends, keep, deadline=deadline)
        for p, (low, high) in ends.items():
            if high > low:
                out[p].last_offset = high - 1
        return out
    finally:
        consumer.close()
