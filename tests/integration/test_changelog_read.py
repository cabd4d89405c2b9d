"""``stream.changelog_read`` against a real broker: the last value of every key of the
partitions asked for, up to the end they had when the read began, and the offset reached."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from config import Settings
from stream.changelog_read import read_partitions

pytestmark = pytest.mark.integration


def test_read_partitions_keeps_the_last_value_of_every_key(services: Settings,
                                                            unique_topics) -> None:
    topic = unique_topics("series-state-changelog")
    admin = AdminClient({"bootstrap.servers": services.kafka})
    for f in admin.create_topics([NewTopic(topic, 3, 1,
                                           config={"cleanup.policy": "compact"})]).values():
        f.result(30)
    producer = Producer({"bootstrap.servers": services.kafka})
    big = bytes(range(256)) * 64  # 16 KiB: several fetches' worth in all
    for i in range(600):
        producer.produce(topic, big + str(i).encode(), f"s:{i % 200}".encode(), partition=0)
    producer.produce(topic, None, b"s:7", partition=0)  # a deletion
    producer.produce(topic, b"one", b"s:x", partition=1)
    assert producer.flush(30) == 0

    loaded = read_partitions(services.kafka, topic, [0, 1, 2], timeout=30)

    assert sorted(loaded) == [0, 1, 2]
    p0 = loaded[0]
    assert p0.last_offset == 600 and len(p0.values) == 200
    assert p0.values[b"s:7"] is None
    assert p0.values[b"s:8"] == big + b"408"  # written at i = 8, 208, 408
    assert loaded[1].values == {b"s:x": b"one"} and loaded[1].last_offset == 0
    assert loaded[2].values == {} and loaded[2].last_offset is None
