"""Read a topic's partitions from their start up to the end offsets they had when asked.

Two readers need this: the worker's bulk read of a changelog partition it holds nothing of
(:mod:`stream.changelog_read`) and ``salescast audit``, which reconciles the events and
dead-letter topics. Both assign the partitions to a plain confluent-kafka consumer (no group
membership, nothing committed) and stop at the high watermarks taken before reading, so that
what is produced meanwhile is left for later.

A partition is done when the consumer's position reaches its high watermark, not when a
message at ``high - 1`` arrives: a compacted log, or a transaction marker, may leave no record
there. End-of-partition events, when the consumer has them switched on, are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["read_to_end"]


def read_to_end(consumer: Any, topic: str, ends: dict[int, tuple[int, int]],
                on_message: Callable[[Any], None], *, deadline: float | None = None,
                stall: float | None = None, on_batch: Callable[[int], None] | None = None,
                batch: int = 10_000) -> None:
    """Hand ``on_message`` every message of ``topic`` at or after each partition's low
    watermark and below its high one (``ends``: ``partition -> (low, high)``), in offset
    order per partition; ``on_batch`` gets the number handed over after each poll.

    Raises :class:`TimeoutError` past ``deadline`` (a ``time.monotonic()`` value) or after
    ``stall`` seconds without a message, and ``confluent_kafka.KafkaException`` on an error
    message. The consumer is left unassigned.

    >>> class Msg:
    ...     def __init__(self, p, o): self.p, self.o = p, o
    ...     def partition(self): return self.p
    ...     def offset(self): return self.o
    ...     def error(self): return None
    >>> class Fake:  # partition 0 holds offsets 3 and 5 (compacted), its end is 6
    ...     def assign(self, tps): self.left = [Msg(0, 3), Msg(0, 5)]; self.pos = 3
    ...     def consume(self, num_messages, timeout):
    ...         out, self.left = self.left, []
    ...         self.pos = 6 if out else self.pos
    ...         return out
    ...     def position(self, tps): return [type("TP", (), {"partition": 0, "offset": self.pos})]
    ...     def unassign(self): pass
    >>> seen = []
    >>> read_to_end(Fake(), "t", {0: (3, 6), 1: (0, 0)}, lambda m: seen.append(m.offset()))
    >>> seen
    [3, 5]
    """
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    left = {p: high for p, (low, high) in ends.items() if high > low}
    if not left:
        return
    consumer.assign([TopicPartition(topic, p, ends[p][0]) for p in sorted(left)])
    last = time.monotonic()
    try:
        while left:
            now = time.monotonic()
            if deadline is not None and now > deadline:
                raise TimeoutError(f"{topic}: partitions {sorted(left)} not read in time")
            if stall is not None and now - last > stall:
                raise TimeoutError(f"reading {topic} stalled: no message for {stall:.0f} s")
            messages = consumer.consume(num_messages=batch, timeout=0.2)
            n = 0
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(err)
                high = left.get(msg.partition())
                if high is not None and msg.offset() < high:
                    on_message(msg)
                    n += 1
            if messages:
                last = time.monotonic()
            if on_batch is not None:
                on_batch(n)
            for tp in consumer.position([TopicPartition(topic, p) for p in left]):
                if tp.offset >= left[tp.partition]:
                    del left[tp.partition]
    finally:
        consumer.unassign()
