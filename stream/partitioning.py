"""Which partition a series lives on: the Java client's murmur2 partitioner, named once.

Every producer of salescast (the replay command, the worker when it re-routes an event, the
tests) and every reader that checks placement (the worker, ``salescast audit``) use this
function, so single events, envelopes and re-routed events of one series always meet on one
partition. It is the partitioner of Kafka's Java client and of aiokafka (Faust's producer);
confluent-kafka matches it with ``partitioner=murmur2_random`` (:data:`PRODUCER_PARTITIONER`).
librdkafka's own default (``consistent_random``, CRC32) does *not* match: name it explicitly.

>>> partition_for("85123A", 8) == partition_for("85123A", 8)
True
>>> sorted({partition_for(f"S{i}", 4) for i in range(100)})
[0, 1, 2, 3]
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2

__all__ = ["partition_for", "PRODUCER_PARTITIONER"]

#: confluent-kafka's name for the same partitioner (keys hashed with murmur2, like Java's)
PRODUCER_PARTITIONER = "murmur2_random"


def partition_for(series: str, partitions: int) -> int:
    """The partition of ``series`` on a topic with ``partitions`` partitions.

    >>> partition_for("A", 1)
    0
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return (murmur2(series.encode()) & 0x7FFFFFFF) % partitions
