"""Which partition a series lives on: the Java client's murmur2 partitioner, named once.

Every producer of salescast (the replay command, the worker when it re-routes an event, the
tests) and every reader that checks placement (the worker, ``salescast audit``) use this
function, so single events, envelopes and re-routed events of one series always meet on one
partition. It is the partitioner of Kafka's Java client and of aiokafka (Faust's producer;
:func:`murmur2` is the same hash, here so that the pure processor imports no Kafka client);
confluent-kafka matches it with ``partitioner=murmur2_random`` (:data:`PRODUCER_PARTITIONER`).
librdkafka's own default (``consistent_random``, CRC32) does *not* match: name it explicitly.

>>> partition_for("85123A", 8) == partition_for("85123A", 8)
True
>>> sorted({partition_for(f"S{i}", 4) for i in range(100)})
[0, 1, 2, 3]
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["partition_for", "murmur2", "PRODUCER_PARTITIONER"]

#: confluent-kafka's name for the same partitioner (keys hashed with murmur2, like Java's)
PRODUCER_PARTITIONER = "murmur2_random"


def murmur2(data: bytes) -> int:
    """MurmurHash2 of ``data`` as Kafka's Java client computes it (``Utils.murmur2``).

    >>> murmur2(b"21"), murmur2(b"")
    (3321034988, 275646681)
    """
    length = len(data)
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rest = length & ~3, length % 4
    if rest >= 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(series: str, partitions: int) -> int:
    """The partition of ``series`` on a topic with ``partitions`` partitions.

    >>> partition_for("A", 1)
    0
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    return _partition(series, partitions)


@lru_cache(maxsize=1 << 17)
def _partition(series: str, partitions: int) -> int:
    # cached: the worker asks once per event, and murmur2 in Python costs ~5-10 us a key
    return (murmur2(series.encode()) & 0x7FFFFFFF) % partitions
