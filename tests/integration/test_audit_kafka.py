"""``salescast audit`` against a real worker, Kafka and Redis: it reconciles, then it names a
series whose Redis count was tampered with."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from contracts.events import SaleEvent
from contracts.wire import series_hash
from stream.partitioning import partition_for

pytestmark = pytest.mark.integration

T = 1_300_000_000.0
SERIES = ("AUD1", "AUD2", "AUD3", "AUD4")


def _produce(pipeline, records: list[tuple[int, str | None, bytes]]) -> None:
    """(partition, key, value) records to the events topic, each on the partition given."""
    from confluent_kafka import Producer

    from stream.replay import producer_config

    producer = Producer(producer_config(pipeline.settings.kafka))
    for partition, key, value in records:
        producer.produce(pipeline.settings.events_topic, value, key, partition=partition)
    assert producer.flush(30) == 0


def _records(n: int) -> tuple[list[tuple[int, str | None, bytes]], dict[str, int]]:
    """Valid, invalid, too late, in the future and duplicate events; the expected counts."""
    home = {s: partition_for(s, n) for s in SERIES}
    records: list[tuple[int, str | None, bytes]] = []
    counts = dict.fromkeys(SERIES, 0)
    for i in range(12):  # two days of events per series
        for s in SERIES:
            records.append((home[s], s, SaleEvent(s, T + i * 4 * 3600, 2, 1.5, f"{s}:{i}")
                            .to_json()))
            counts[s] += 1
    s = SERIES[0]
    p = home[s]
    envelope = {"events": [json.loads(SaleEvent(s, T + 50 * 3600, 1, 1.0, f"{s}:e0").to_json()),
                           {"series": s, "qty": 1},  # invalid element
                           json.loads(SaleEvent(s, T + 51 * 3600, 1, 1.0, f"{s}:e2").to_json())]}
    counts[s] += 2
    records += [
        (p, s, json.dumps(envelope).encode()),
        (p, s, b'{"series": "AUD1", "ts": '),  # malformed json
        (p, None, b"\xff\xfe"),  # not utf-8
        (p, s, SaleEvent(s, T - 5 * 86400, 1, 1.0, f"{s}:late").to_json()),  # too late
        # a year after its message's timestamp (live event time, the default): in the future
        (p, s, SaleEvent(s, time.time() + 365 * 86400, 1, 1.0, f"{s}:ahead").to_json()),
    ]
    # an id seen before in the same (open) bucket: a duplicate_id skip
    dup = SERIES[1]
    records.append((home[dup], dup, SaleEvent(dup, T + 44 * 3600, 2, 1.5, f"{dup}:11").to_json()))
    return records, counts


def test_audit_reconciles_and_names_a_tampered_series(pipeline) -> None:
    s = pipeline.settings
    records, counts = _records(s.partitions)
    _produce(pipeline, records)
    pipeline.start_worker()
    last = SERIES[-1]
    pipeline.wait_for(lambda: (pipeline.snapshot(last) or {}).get("events") == counts[last],
                      120, f"the events of {last} in Redis")
    pipeline.wait_for(lambda: (pipeline.snapshot("total") or {}).get("events")
                      == sum(counts.values()), 60, "the aggregates' counts in Redis")

    report = pipeline.reconciled()  # the SKUs and the aggregates: total, country:(none)
    assert report["reconciled"] and report["series_checked"] == len(SERIES) + 2
    total = report["total"]
    assert total["messages"] == len(records)
    assert total["rejected"] == 3 and total["missing_dead_letters"] == 0
    assert total["dead_letters"]["invalid"] == 3
    assert total["dead_letters"]["too_late"] == 1
    assert total["dead_letters"]["in_future"] == 1
    assert total["dead_letters"]["duplicate_id"] == 1
    assert total["rerouted"] == 0

    # tamper with one count: the audit fails (exit 1) and names that series
    victim = SERIES[2]
    live = json.loads(pipeline.redis.hget(series_hash(victim), "o"))
    live["events"] += 1
    pipeline.redis.hset(series_hash(victim), "o", json.dumps(live))
    bad = pipeline.audit()
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert victim in bad.stdout and "NOT reconciled: 1 difference" in bad.stdout
    assert "Traceback" not in bad.stderr
    bad = pipeline.audit("--json")
    assert bad.returncode == 1
    diff = json.loads(bad.stdout)["differences"]["series"]
    assert diff == [{"series": victim, "expected": live["events"] - 1, "redis": live["events"]}]


def test_audit_follows_rerouted_events(pipeline) -> None:
    """An event produced to the wrong partition is re-routed by the worker and counted once
    (needs the worker's re-routing)."""
    s = pipeline.settings
    series = SERIES[0]
    home = partition_for(series, s.partitions)
    wrong = (home + 1) % s.partitions
    events = [SaleEvent(series, T + i * 3600, 1, 1.0, f"{series}:{i}").to_json()
              for i in range(6)]
    _produce(pipeline, [(home, series, v) for v in events[:3]]
             + [(wrong, series, events[3])] + [(home, series, v) for v in events[4:]])
    pipeline.start_worker()
    pipeline.wait_for(lambda: (pipeline.snapshot(series) or {}).get("events") == 6, 120,
                      f"the six events of {series} in Redis")
    report = pipeline.reconciled()
    assert report["partitions"][str(wrong)]["rerouted"] == 1
    assert report["total"]["rerouted_in"] == 1 and report["total"]["accepted"] == 6


def _delete_records(pipeline, partition: int, before: int) -> None:
    """Retention, at once: the partition's log starts at offset ``before``."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": pipeline.settings.kafka})
    tp = TopicPartition(pipeline.settings.events_topic, partition, before)
    for future in admin.delete_records([tp]).values():
        future.result(timeout=30)


def _ten_counted(pipeline, prefix: str) -> tuple[str, int, Callable[[int, int], list]]:
    """A series off the aggregates' reports' partition, its home, a maker of its events
    ``lo..hi-1`` (one an hour), and a worker that counted the first ten."""
    from stream.aggregates import ROOT

    n = pipeline.settings.partitions
    series = next(f"{prefix}{i}" for i in range(100)
                  if partition_for(f"{prefix}{i}", n) != partition_for(ROOT, n))
    home = partition_for(series, n)

    def events(lo: int, hi: int) -> list[tuple[int, str | None, bytes]]:
        return [(home, series, SaleEvent(series, T + i * 3600, 1, 1.0, f"{series}:{i}")
                 .to_json()) for i in range(lo, hi)]

    _produce(pipeline, events(0, 10))
    pipeline.start_worker()
    pipeline.wait_for(lambda: (pipeline.snapshot(series) or {}).get("events") == 10, 120,
                      "the first ten events in Redis")
    return series, home, events


def test_retention_of_counted_events_reconciles_and_of_unread_ones_is_told(pipeline) -> None:
    """A probe: a deployment older than its topic's retention never reconciled (the deleted
    events' counts looked like overcounts), and events retention deleted before a stopped
    worker group read them were lost without a warning. Now the first reconciles, checked as
    "at least", and the second is a warning in the worker's log and a difference."""
    s = pipeline.settings
    series, home, events = _ten_counted(pipeline, "RET")
    worker = pipeline.workers[-1]
    _delete_records(pipeline, home, 6)  # counted long ago, then deleted
    report = pipeline.reconciled()
    assert report["truncated"] == {str(home): 6} and report["unverifiable_series"] >= 1
    assert report["lost_by_retention"] == {}

    assert pipeline.stop_worker(worker) == 0
    _produce(pipeline, events(10, 20))  # offsets 10..19, unread
    _delete_records(pipeline, home, 15)  # 10..14 gone before the group read them
    again = pipeline.start_worker()
    pipeline.wait_for(lambda: (pipeline.snapshot(series) or {}).get("events") == 15, 120,
                      "the five events left in Redis")
    pipeline.wait_for(lambda: pipeline.ops(again).get("lost_messages") == "5", 30,
                      "the worker's count of lost messages")
    log = "\n".join(pipeline.log_tail(400))
    assert (f"partition {home} of {s.events_topic}: offsets 10..14 were deleted (retention) "
            "before this worker group read them: 5 messages lost; reading on from 15") in log
    done = pipeline.audit("--json")
    assert done.returncode == 1, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert list(result["lost_by_retention"].values()) == [5]
    assert result["differences"]["series_total"] == 0  # the rest is exact, or at least


def test_unread_events_retention_deletes_under_a_running_worker_are_told(pipeline) -> None:
    """A worker frozen (SIGSTOP) while retention deleted what it had not read: the Kafka
    client reset its position past the hole, and either the worker sought back into it over
    and over and never applied that partition again, or it took the jump as a gap in the log
    in silence (two probe runs). It reads on from the log's start, and says what was lost."""
    import os
    import signal

    series, home, events = _ten_counted(pipeline, "RUN")
    worker = pipeline.workers[-1]
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        _produce(pipeline, events(10, 20))
        _delete_records(pipeline, home, 15)
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    pipeline.wait_for(lambda: (pipeline.snapshot(series) or {}).get("events") == 15, 60,
                      "the five events left in Redis")
    pipeline.wait_for(lambda: pipeline.ops(worker).get("lost_messages") == "5", 30,
                      "the worker's count of lost messages")
    assert "offsets 10..14 were deleted (retention) before this worker group read them" in (
        "\n".join(pipeline.log_tail(400)))
