"""Malformed events of many kinds reach the dead-letter topic with reasons; good ones flow."""

from __future__ import annotations

import time

import pytest

from contracts.events import SaleEvent
from stream.records import DeadLetter

pytestmark = pytest.mark.integration

T = 1_300_000_000.0

BAD: dict[str, bytes] = {
    "not utf-8": b"\xff\xfe\x00garbage",
    "malformed json": b'{"series": "A", "ts": ',
    "not an object": b"[1, 2, 3]",
    "missing field": b'{"series": "A", "ts": 1300000000, "price": 1}',
    "wrong type": b'{"series": "A", "ts": 1300000000, "qty": "abc", "price": 1}',
    "bool as number": b'{"series": "A", "ts": 1300000000, "qty": true, "price": 1}',
    "nan": b'{"series": "A", "ts": 1300000000, "qty": NaN, "price": 1}',
    "infinity": b'{"series": "A", "ts": 1300000000, "qty": 1, "price": Infinity}',
    "absurd quantity": b'{"series": "A", "ts": 1300000000, "qty": 1e12, "price": 1}',
    "negative price": b'{"series": "A", "ts": 1300000000, "qty": 1, "price": -3}',
    "empty series": b'{"series": "", "ts": 1300000000, "qty": 1, "price": 1}',
    "ts out of range": b'{"series": "A", "ts": 99, "qty": 1, "price": 1}',
    "far ahead": SaleEvent("GOOD", T + 90 * 86400, 1, 1.0).to_json(),
    "too late": SaleEvent("GOOD", T - 5 * 86400, 1, 1.0).to_json(),
    "bad envelope": b'{"events": 5}',
}


def test_every_bad_record_is_dead_lettered_with_its_reason(pipeline) -> None:
    from confluent_kafka import Consumer

    # replay mode: "far ahead" is judged against the watermark (2011 data is not in the future)
    pipeline.settings = pipeline.settings.model_copy(update={"event_time": "replay"})
    from stream.partitioning import partition_for

    good = [SaleEvent("GOOD", T + i * 600, 2, 1.0).to_json() for i in range(20)]
    # two more series on GOOD's partition: a replay-mode clock starts with three series
    n = pipeline.settings.partitions
    home = partition_for("GOOD", n)
    peers = [sid for sid in (f"PEER{i}" for i in range(200)) if partition_for(sid, n) == home][:2]
    records = [(b"GOOD", good[0])] + [(p.encode(), SaleEvent(p, T, 1, 1.0).to_json())
                                      for p in peers]
    records += [(b"GOOD", v) for v in BAD.values()]
    records += [(b"GOOD", v) for v in good[1:]]
    pipeline.produce(records)
    pipeline.start_worker()
    pipeline.wait_for(lambda: (pipeline.snapshot("GOOD") or {}).get("events") == 20, 90,
                      "the good events to reach Redis")

    consumer = Consumer({"bootstrap.servers": pipeline.settings.kafka, "group.id": "dlq-test",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([pipeline.settings.deadletter_topic])
    dead: list[DeadLetter] = []
    deadline = time.monotonic() + 60
    while len(dead) < len(BAD) and time.monotonic() < deadline:
        for msg in consumer.consume(100, timeout=1.0):
            if not msg.error():
                dead.append(DeadLetter.from_json(msg.value()))
    consumer.close()

    assert sorted(d.raw for d in dead) == sorted(BAD.values())
    for d in dead:
        assert d.reason and not d.reason[0].isupper()
        assert d.topic == pipeline.settings.events_topic and d.offset >= 1
    stages = {d.raw: d.stage for d in dead}
    assert stages[BAD["too late"]] == stages[BAD["far ahead"]] == "bucketing"
    assert stages[BAD["nan"]] == "validation"
    reasons = {d.raw: d.reason for d in dead}
    assert "qty" in reasons[BAD["wrong type"]]
