"""Replay real Online Retail II events into the real local Kafka and read them back."""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from config import Settings
from contracts.events import SaleEvent

pytestmark = pytest.mark.integration

N = 2000


@pytest.fixture(scope="module")
def events(retail_csv: Path) -> list[SaleEvent]:
    from sources.online_retail import iter_events

    return list(iter_events(retail_csv, limit=N))


@pytest.fixture
def topic(services: Settings) -> Iterator[tuple[str, int]]:
    """A fresh topic with 3 partitions, deleted afterwards."""
    name, partitions = f"test.replay.{uuid.uuid4().hex[:8]}", 3
    admin = AdminClient({"bootstrap.servers": services.kafka})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(30)
    yield name, partitions
    admin.delete_topics([name])


def _read(
    bootstrap: str, topic: str, partitions: int, count: int
) -> list[tuple[int, bytes | None, bytes]]:
    """(partition, key, value) of ``count`` messages, read with assign (no group join)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-replay-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.queue.backoff.ms": 100,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: list[tuple[int, bytes | None, bytes]] = []
    deadline = time.monotonic() + 90  # a loaded 2-core CI machine can be slow to fetch
    try:
        while time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                partition, value = msg.partition(), msg.value()
                assert partition is not None and value is not None
                out.append((partition, msg.key(), value))
            if len(out) >= count:
                break
    finally:
        consumer.close()
    return out


def test_real_events_round_trip_in_order_per_key(
    services: Settings, topic: tuple[str, int], events: list[SaleEvent]
) -> None:
    from stream.replay import replay

    name, partitions = topic
    assert len(events) == N
    summary = replay(events, services.kafka, name, total=N, progress=False)
    assert (summary.sent, summary.failed, summary.messages) == (N, 0, N)
    assert not summary.interrupted and summary.rate > 0

    got = _read(services.kafka, name, partitions, N)
    assert len(got) == N
    by_key: dict[str, list[SaleEvent]] = defaultdict(list)
    partition_of: dict[str, set[int]] = defaultdict(set)
    for partition, key, value in got:
        event = SaleEvent(**json.loads(value))
        assert key == event.series.encode()
        by_key[event.series].append(event)
        partition_of[event.series].add(partition)
    expected: dict[str, list[SaleEvent]] = defaultdict(list)
    for e in events:
        expected[e.series].append(e)
    assert by_key == expected  # same events, in the same order for every key
    assert all(len(p) == 1 for p in partition_of.values())


def test_envelopes_and_pacing(
    services: Settings, topic: tuple[str, int], events: list[SaleEvent]
) -> None:
    from stream.partitioning import partition_for
    from stream.replay import replay

    name, partitions = topic
    summary = replay(events, services.kafka, name, progress=False, envelope=300)
    assert (summary.sent, summary.failed) == (N, 0)
    got = _read(services.kafka, name, partitions, summary.messages)
    assert len(got) == summary.messages <= N // 300 + partitions
    by_series: dict[str, list[SaleEvent]] = defaultdict(list)
    for partition, key, value in got:  # every envelope on its events' partition
        chunk = [SaleEvent(**d) for d in json.loads(value)["events"]]
        assert 0 < len(chunk) <= 300
        assert {partition_for(e.series, partitions) for e in chunk} == {partition}
        series = {e.series for e in chunk}
        assert key == (series.pop().encode() if len(series) == 1 else None)
        for e in chunk:
            by_series[e.series].append(e)
    want: dict[str, list[SaleEvent]] = defaultdict(list)
    for e in events:
        want[e.series].append(e)
    assert by_series == want  # nothing lost, each series in order

    part = events[:400]
    span = part[-1].ts - part[0].ts
    assert span > 0
    paced = replay(part, services.kafka, name, speed=span / 1.5, progress=False)
    assert paced.sent == 400 and paced.failed == 0
    assert 1.4 <= paced.seconds <= 6.0


def test_failed_deliveries_are_counted(services: Settings, topic: tuple[str, int]) -> None:
    from stream.replay import replay

    huge = SaleEvent("BIG", 1.0, 1, 1.0, id="x" * 2_000_000)  # over the broker's message limit
    ok = [SaleEvent("OK", 2.0 + i, 1, 1.0) for i in range(10)]
    summary = replay(
        [huge, *ok],
        services.kafka,
        topic[0],
        progress=False,
        config={"message.max.bytes": 5_000_000, "compression.type": "none"},
    )
    assert (summary.sent, summary.failed, summary.delivered) == (11, 1, 10)


def test_ctrl_c_flushes_and_reports(
    services: Settings, topic: tuple[str, int], events: list[SaleEvent], capsys
) -> None:
    from stream.replay import replay

    def interrupted() -> Iterator[SaleEvent]:
        yield from events[:100]
        raise KeyboardInterrupt

    summary = replay(interrupted(), services.kafka, topic[0], total=N, progress=True)
    assert summary.interrupted and (summary.sent, summary.failed) == (100, 0)
    assert "replay interrupted: 100 events" in capsys.readouterr().out
    assert len(_read(services.kafka, topic[0], topic[1], 100)) == 100


def test_the_users_own_file_is_replayed_in_time_order(
    services: Settings, topic: tuple[str, int], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``salescast replay --file``: a CSV of the user's, in time order, ids from its lines."""
    from typer.testing import CliRunner

    from salescast.cli import app

    name, partitions = topic
    path = tmp_path / "my.csv"
    path.write_text("sku,date,qty,price\nA,2024-01-03,2,1.5\nB,2024-01-01,1,\n"
                    "A,2024-01-02,NA,1\nA,2024-01-01T12:00:00Z,4,2\n")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", services.kafka)
    monkeypatch.setenv("REDIS_URL", services.redis)
    monkeypatch.setenv("SALESCAST_EVENTS_TOPIC", name)
    monkeypatch.setenv("SALESCAST_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["replay", "--file", str(path), "--max"])
    assert result.exit_code == 0, result.output
    assert "3 events from" in result.output
    got = [json.loads(v) for _, _, v in _read(services.kafka, name, partitions, 3)]
    by_series = {s: [(e["ts"], e["qty"], e["price"], e["id"]) for e in got if e["series"] == s]
                 for s in ("A", "B")}
    assert by_series == {"A": [(1704110400.0, 4.0, 2.0, "my.csv:5"),
                               (1704240000.0, 2.0, 1.5, "my.csv:2")],
                         "B": [(1704067200.0, 1.0, 0.0, "my.csv:3")]}
