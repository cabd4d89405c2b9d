"""The partitioner: the same murmur2 as Kafka's Java client and aiokafka (Faust's producer)."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from stream.partitioning import murmur2, partition_for


def test_murmur2_is_aiokafkas_on_every_length_and_byte() -> None:
    rng = random.Random(7)
    samples = [bytes(rng.randrange(256) for _ in range(n)) for n in range(64) for _ in range(50)]
    samples += [s.encode() for s in ("85123A", "22423", "üñí", "x" * 300)]
    for data in samples:
        assert murmur2(data) == aiokafka_murmur2(data), data


def test_partitions_match_aiokafkas_default_partitioner() -> None:
    for i in range(2000):
        series = f"S{i}"
        for n in (1, 4, 7, 32):
            assert partition_for(series, n) == (aiokafka_murmur2(series.encode()) & 0x7FFFFFFF) % n
